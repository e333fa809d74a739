"""Strategies that say what the account should hold, named by import path and mixed by weight.

A strategy is any callable ``(StrategyContext) -> TargetWeights | TargetPositions``, named in a
config as ``"package.module:callable"``. Weights are fractions of NAV × leverage; positions are
quantities meant for an account of ``reference_nav`` (a model portfolio published for, say, a
100,000 account) and are scaled by ``NAV / reference_nav``. Several strategies share an account
by strategy weights (each steers that fraction of it). The planner only deals in long positions.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal, InvalidOperation, localcontext
from typing import Protocol, cast

#: Working precision: enough that scaling never shifts a target across a lot boundary.
PRECISION = 50


class StrategyError(ValueError):
    """A strategy cannot be loaded or gave an unusable answer; the message is one line."""


@dataclass(frozen=True, slots=True)
class StrategyContext:
    """What a strategy may look at: the day, prices, current positions, NAV and its params."""

    date: date
    prices: Mapping[str, Decimal]
    positions: Mapping[str, Decimal]
    nav: Decimal
    params: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TargetWeights:
    """Fractions of NAV × leverage per symbol, each >= 0, summing to at most 1."""

    weights: Mapping[str, Decimal]


@dataclass(frozen=True, slots=True)
class TargetPositions:
    """Quantities per symbol for an account worth ``reference_nav`` (on ``reference_date``)."""

    quantities: Mapping[str, Decimal]
    reference_nav: Decimal
    reference_date: date | None = None


class Strategy(Protocol):
    def __call__(self, context: StrategyContext, /) -> TargetWeights | TargetPositions: ...


@dataclass(frozen=True, slots=True)
class StrategySpec:
    """One strategy of an account: its import path, its share of the account, its params."""

    path: str
    weight: Decimal = Decimal(1)
    params: Mapping[str, object] = field(default_factory=dict)


def load_strategy(path: str) -> Strategy:
    """The callable named ``"package.module:attribute"``; ``StrategyError`` says what is wrong."""
    module_name, colon, attribute = path.partition(":")
    if not colon or not module_name or not attribute:
        raise StrategyError(f"strategy {path!r}: expected 'package.module:callable'")
    try:
        target: object = importlib.import_module(module_name)
    except Exception as exc:
        raise StrategyError(
            f"strategy {path!r}: cannot import {module_name}: {type(exc).__name__}: {exc}"
        ) from exc
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise StrategyError(f"strategy {path!r}: {module_name} has no attribute {attribute}")
        target = getattr(target, part)
    if not callable(target):
        raise StrategyError(f"strategy {path!r}: {attribute} is not callable")
    return cast(Strategy, target)


def target_quantities(
    specs: Sequence[StrategySpec], context: StrategyContext, *, leverage: Decimal = Decimal(1)
) -> dict[str, Decimal]:
    """Run every strategy and add up what they want, in quantities for this account.

    A weight ``w`` of a strategy weighted ``s`` asks for ``s·w·NAV·leverage / price`` units;
    a position ``p`` for ``reference_nav`` asks for ``s·p·NAV / reference_nav`` units (its
    leverage is already in ``p``). Strategy weights must be > 0 and sum to at most 1.
    """
    if not specs:
        raise StrategyError("no strategies to run")
    total_weight = Decimal(0)
    for spec in specs:
        if not _is_decimal(spec.weight) or not spec.weight > 0:
            raise StrategyError(f"strategy {spec.path!r}: weight must be a Decimal > 0")
        total_weight += spec.weight
    if total_weight > 1:
        raise StrategyError(f"strategy weights sum to {total_weight}, more than 1")
    wanted: dict[str, Decimal] = {}
    with localcontext() as ctx:
        ctx.prec = PRECISION
        for spec in specs:
            answer = _run(spec, context)
            if isinstance(answer, TargetWeights):
                scale = spec.weight * context.nav * leverage
                for symbol, weight in answer.weights.items():
                    price = _price(spec, context, symbol)
                    wanted[symbol] = wanted.get(symbol, Decimal(0)) + scale * weight / price
            else:
                scale = spec.weight * context.nav / answer.reference_nav
                for symbol, quantity in answer.quantities.items():
                    wanted[symbol] = wanted.get(symbol, Decimal(0)) + scale * quantity
    return wanted


def _run(spec: StrategySpec, context: StrategyContext) -> TargetWeights | TargetPositions:
    strategy = load_strategy(spec.path)
    try:
        answer = strategy(replace(context, params=spec.params))
    except StrategyError as exc:  # the strategy's own complaint, e.g. a missing param
        raise StrategyError(f"strategy {spec.path!r}: {exc}") from exc
    except Exception as exc:
        raise StrategyError(f"strategy {spec.path!r} failed: {type(exc).__name__}: {exc}") from exc
    if isinstance(answer, TargetWeights):
        _check_amounts(spec, answer.weights, "weight")
        total = sum(answer.weights.values(), Decimal(0))
        if total > 1:
            raise StrategyError(f"strategy {spec.path!r}: weights sum to {total}, more than 1")
    elif isinstance(answer, TargetPositions):
        _check_amounts(spec, answer.quantities, "quantity")
        if not _is_decimal(answer.reference_nav) or not answer.reference_nav > 0:
            raise StrategyError(
                f"strategy {spec.path!r}: reference_nav must be a Decimal > 0, "
                f"got {answer.reference_nav!r}"
            )
    else:
        raise StrategyError(
            f"strategy {spec.path!r} returned {type(answer).__name__}, "
            "expected TargetWeights or TargetPositions"
        )
    return answer


def _is_decimal(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


def _check_amounts(spec: StrategySpec, amounts: Mapping[str, Decimal], what: str) -> None:
    for symbol, amount in amounts.items():
        if not _is_decimal(amount) or amount < 0:
            raise StrategyError(
                f"strategy {spec.path!r}: {what} of {symbol} must be a Decimal >= 0 "
                f"(long only), got {amount!r}"
            )


def _price(spec: StrategySpec, context: StrategyContext, symbol: str) -> Decimal:
    price = context.prices.get(symbol)
    if price is None or not _is_decimal(price) or not price > 0:
        raise StrategyError(f"strategy {spec.path!r}: no usable price for {symbol}: {price!r}")
    return price


def param_decimal(name: str, value: object) -> Decimal:
    """A number from params (a config may give int, float or str) as an exact ``Decimal``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise StrategyError(f"param {name} must be a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise StrategyError(f"param {name} must be a number, got {value!r}") from None
    if not number.is_finite():
        raise StrategyError(f"param {name} must be finite, got {value!r}")
    return number


def _param(context: StrategyContext, name: str) -> object:
    if name not in context.params:
        raise StrategyError(f"missing param {name!r}")
    return context.params[name]


def _symbol_amounts(context: StrategyContext, name: str) -> dict[str, Decimal]:
    raw = _param(context, name)
    if not isinstance(raw, Mapping) or not raw:
        raise StrategyError(f"param {name} must be a non-empty table of symbol = number")
    return {str(s): param_decimal(f"{name}.{s}", v) for s, v in raw.items()}


def fixed_weights(context: StrategyContext) -> TargetWeights:
    """``params.weights = {symbol: weight}``: hold the same mix every day."""
    return TargetWeights(_symbol_amounts(context, "weights"))


def equal_weight(context: StrategyContext) -> TargetWeights:
    """``params.symbols = [...]``: split ``params.total`` (default 1) evenly between them."""
    symbols = _param(context, "symbols")
    if isinstance(symbols, str) or not isinstance(symbols, Sequence) or not symbols:
        raise StrategyError("param symbols must be a non-empty list of symbols")
    total = param_decimal("total", context.params.get("total", 1))
    with localcontext() as ctx:
        ctx.prec = PRECISION
        share = total / len(symbols)
    return TargetWeights({str(s): share for s in symbols})


def model_portfolio(context: StrategyContext) -> TargetPositions:
    """``params.positions = {symbol: quantity}`` for ``params.reference_nav``.

    Optional ``params.reference_date`` (ISO date) records when the model was published.
    """
    reference_nav = param_decimal("reference_nav", _param(context, "reference_nav"))
    published = context.params.get("reference_date")
    try:
        reference_date = date.fromisoformat(str(published)) if published is not None else None
    except ValueError:
        raise StrategyError(f"param reference_date is not an ISO date: {published!r}") from None
    return TargetPositions(_symbol_amounts(context, "positions"), reference_nav, reference_date)
