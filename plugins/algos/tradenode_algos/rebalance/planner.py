"""Turn target holdings into the day's orders: what to sell, what to buy, what to leave alone.

Orders are the difference between target and current positions, rounded toward zero to each
instrument's lot so a trade never carries the position past its target. Small drifts (under a
threshold of NAV or of value) and orders under a minimum notional are skipped with the reason.
Sells come first: they free the cash the buys use. Buys must fit in the buying power left after
the sells, ``NAV × (leverage − cash_buffer)`` minus what is still held; when they don't, every
buy is cut by the same factor (keeping the portfolio's shape) and says so. Long positions only.
Everything is ``Decimal``; nothing here talks to a venue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, localcontext
from typing import Literal, TypeGuard

from tradenode_algos.rebalance.strategies import (
    PRECISION,
    StrategyContext,
    StrategySpec,
    target_quantities,
)

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Threshold:
    """The smallest drift worth trading, as a fraction of NAV or as an amount of money."""

    value: Decimal
    of_nav: bool

    @classmethod
    def nav_fraction(cls, value: Decimal) -> Threshold:
        """E.g. ``Decimal("0.005")``: leave alone what is within 0.5 % of NAV of its target."""
        return cls(value, of_nav=True)

    @classmethod
    def absolute(cls, value: Decimal) -> Threshold:
        """E.g. ``Decimal(500)``: leave alone what is within 500 (account currency)."""
        return cls(value, of_nav=False)

    def __post_init__(self) -> None:
        if not _finite(self.value) or self.value < 0:
            raise ValueError(f"threshold must be a Decimal >= 0, got {self.value!r}")

    def amount(self, nav: Decimal) -> Decimal:
        return self.value * nav if self.of_nav else self.value

    def describe(self, nav: Decimal) -> str:
        if self.of_nav:
            return f"{_fmt(self.amount(nav))} ({_fmt(self.value * 100)}% of NAV)"
        return _fmt(self.value)


@dataclass(frozen=True, slots=True)
class PlannedTrade:
    """One order of the plan: ``quantity`` > 0 whole lots, ``notional = quantity × price``."""

    symbol: str
    side: Literal["buy", "sell"]
    quantity: Decimal
    price: Decimal
    notional: Decimal
    reason: str


@dataclass(frozen=True, slots=True)
class SkippedItem:
    """An instrument off its target that gets no order, and why."""

    symbol: str
    reason: str


@dataclass(frozen=True, slots=True)
class RebalancePlan:
    """Trades in execution order (sells, then buys) and what was left alone.

    ``exposure_*`` are the market values held before and after the trades, and the most the
    buys were allowed to reach, ``NAV × (leverage − cash_buffer)``.
    """

    trades: tuple[PlannedTrade, ...]
    skipped: tuple[SkippedItem, ...]
    nav: Decimal
    exposure_before: Decimal
    exposure_after: Decimal
    exposure_limit: Decimal

    @property
    def sells(self) -> tuple[PlannedTrade, ...]:
        return tuple(t for t in self.trades if t.side == "sell")

    @property
    def buys(self) -> tuple[PlannedTrade, ...]:
        return tuple(t for t in self.trades if t.side == "buy")


def plan_rebalance(
    positions: Mapping[str, Decimal],
    targets: Mapping[str, Decimal],
    nav: Decimal,
    prices: Mapping[str, Decimal],
    lots: Mapping[str, Decimal],
    *,
    threshold: Threshold | None = None,
    leverage: Decimal = Decimal(1),
    min_notional: Decimal | Mapping[str, Decimal] = ZERO,
    cash_buffer: Decimal = ZERO,
) -> RebalancePlan:
    """Orders that move ``positions`` toward target ``weights`` (fractions of NAV × leverage).

    A symbol held but absent from ``targets`` has target 0 and is sold.
    """
    _check_positive("nav", nav)
    _check_positive("leverage", leverage)
    total = ZERO
    for symbol, weight in targets.items():
        if not _finite(weight) or weight < 0:
            raise ValueError(f"target weight of {symbol} must be a Decimal >= 0, got {weight!r}")
        total += weight
    if total > 1:
        raise ValueError(f"target weights sum to {total}, more than 1 (use leverage to scale)")
    with localcontext() as ctx:
        ctx.prec = PRECISION
        quantities = {s: w * nav * leverage / _price(prices, s) for s, w in targets.items()}
    return plan_trades(
        positions,
        quantities,
        nav,
        prices,
        lots,
        threshold=threshold,
        leverage=leverage,
        min_notional=min_notional,
        cash_buffer=cash_buffer,
    )


def plan_from_strategies(
    specs: Sequence[StrategySpec],
    *,
    on: date,
    positions: Mapping[str, Decimal],
    nav: Decimal,
    prices: Mapping[str, Decimal],
    lots: Mapping[str, Decimal],
    threshold: Threshold | None = None,
    leverage: Decimal = Decimal(1),
    min_notional: Decimal | Mapping[str, Decimal] = ZERO,
    cash_buffer: Decimal = ZERO,
) -> RebalancePlan:
    """The daily job: run the account's strategies on ``on`` and plan the orders they imply."""
    _check_positive("nav", nav)
    _check_positive("leverage", leverage)
    context = StrategyContext(date=on, prices=prices, positions=positions, nav=nav)
    wanted = target_quantities(specs, context, leverage=leverage)
    return plan_trades(
        positions,
        wanted,
        nav,
        prices,
        lots,
        threshold=threshold,
        leverage=leverage,
        min_notional=min_notional,
        cash_buffer=cash_buffer,
    )


@dataclass(frozen=True, slots=True)
class _Order:
    symbol: str
    current: Decimal
    target: Decimal
    quantity: Decimal  # signed: > 0 buys; a whole number of lots
    price: Decimal
    lot: Decimal
    floor: Decimal  # minimum notional

    @property
    def notional(self) -> Decimal:
        return abs(self.quantity) * self.price

    def trade(self, note: str = "") -> PlannedTrade:
        side: Literal["buy", "sell"] = "buy" if self.quantity > 0 else "sell"
        reason = (
            f"{_fmt(self.current)} → {_fmt(self.current + self.quantity)} toward target "
            f"{_fmt(self.target)}{note}"
        )
        return PlannedTrade(
            self.symbol, side, abs(self.quantity), self.price, self.notional, reason
        )


def plan_trades(
    positions: Mapping[str, Decimal],
    target_quantities: Mapping[str, Decimal],
    nav: Decimal,
    prices: Mapping[str, Decimal],
    lots: Mapping[str, Decimal],
    *,
    threshold: Threshold | None = None,
    leverage: Decimal = Decimal(1),
    min_notional: Decimal | Mapping[str, Decimal] = ZERO,
    cash_buffer: Decimal = ZERO,
) -> RebalancePlan:
    """Orders that move ``positions`` toward target quantities; see the module doc.

    Every held symbol needs a price (to value the holdings), every symbol to trade a lot.
    """
    _check_positive("nav", nav)
    _check_positive("leverage", leverage)
    if not _finite(cash_buffer) or not ZERO <= cash_buffer < leverage:
        raise ValueError(f"cash_buffer must be a Decimal in [0, leverage), got {cash_buffer!r}")
    for name, book in (("position", positions), ("target quantity", target_quantities)):
        for symbol, amount in book.items():
            if not _finite(amount) or amount < 0:
                raise ValueError(
                    f"{name} of {symbol} must be a Decimal >= 0 (long only), got {amount!r}"
                )
    with localcontext() as ctx:
        ctx.prec = PRECISION
        smallest = threshold.amount(nav) if threshold is not None else ZERO
        exposure_before = sum((q * _price(prices, s) for s, q in positions.items() if q != 0), ZERO)
        orders: list[_Order] = []
        skipped: list[SkippedItem] = []
        for symbol in sorted(set(positions) | set(target_quantities)):
            current = positions.get(symbol, ZERO)
            target = target_quantities.get(symbol, ZERO)
            if current == target:
                continue
            price = _price(prices, symbol)
            drift = target - current
            if threshold is not None and abs(drift) * price < smallest:
                why = f"drift {_fmt(abs(drift) * price)} is under the threshold "
                skipped.append(SkippedItem(symbol, why + threshold.describe(nav)))
                continue
            lot = _lot(lots, symbol)
            order = _Order(
                symbol,
                current,
                target,
                _toward_zero(drift, lot),
                price,
                lot,
                _min_notional(min_notional, symbol),
            )
            if order.quantity == 0:
                why = f"drift {_fmt(drift)} is less than one lot ({_fmt(lot)})"
                skipped.append(SkippedItem(symbol, why))
            elif order.notional < order.floor:
                why = f"notional {_fmt(order.notional)} is under the minimum {_fmt(order.floor)}"
                skipped.append(SkippedItem(symbol, why))
            else:
                orders.append(order)
        sells = [o.trade() for o in orders if o.quantity < 0]
        buys = [o for o in orders if o.quantity > 0]
        after_sells = exposure_before - sum((t.notional for t in sells), ZERO)
        limit = nav * (leverage - cash_buffer)
        room = max(ZERO, limit - after_sells)
        wanted = sum((o.notional for o in buys), ZERO)
        if wanted <= room:
            trades = sells + [o.trade() for o in buys]
        else:
            trades = sells + _cut(buys, room, wanted, limit, skipped)
        exposure_after = after_sells + sum((t.notional for t in trades if t.side == "buy"), ZERO)
    return RebalancePlan(
        trades=tuple(trades),
        skipped=tuple(sorted(skipped, key=lambda item: item.symbol)),
        nav=nav,
        exposure_before=exposure_before,
        exposure_after=exposure_after,
        exposure_limit=limit,
    )


def _cut(
    buys: list[_Order], room: Decimal, wanted: Decimal, limit: Decimal, skipped: list[SkippedItem]
) -> list[PlannedTrade]:
    """Scale every buy by ``room / wanted``, rounding down, so the buys fit in ``room``."""
    with localcontext() as ctx:
        ctx.rounding = ROUND_DOWN  # neither the factor nor a cut size may round up
        factor = room / wanted
        note = (
            f"buys of {_fmt(wanted)} exceed the {_fmt(room)} left after sells under "
            f"NAV × (leverage − cash buffer) = {_fmt(limit)}, every buy scaled by {_fmt(factor)}"
        )
        trades: list[PlannedTrade] = []
        for order in buys:
            cut = replace(order, quantity=_toward_zero(order.quantity * factor, order.lot))
            why = f"; cut from {_fmt(order.quantity)}: {note}"
            if cut.quantity == 0:
                skipped.append(SkippedItem(order.symbol, "no buying power left" + why))
            elif cut.notional < cut.floor:
                floor = f"cut notional {_fmt(cut.notional)} is under the minimum {_fmt(cut.floor)}"
                skipped.append(SkippedItem(order.symbol, floor + why))
            else:
                trades.append(cut.trade(why))
    return trades


def _finite(value: object) -> TypeGuard[Decimal]:
    return isinstance(value, Decimal) and value.is_finite()


def _check_positive(name: str, value: object) -> None:
    if not _finite(value) or not value > 0:
        raise ValueError(f"{name} must be a Decimal > 0, got {value!r}")


def _price(prices: Mapping[str, Decimal], symbol: str) -> Decimal:
    price = prices.get(symbol)
    if not _finite(price) or not price > 0:
        raise ValueError(f"price of {symbol} must be a Decimal > 0, got {price!r}")
    return price


def _lot(lots: Mapping[str, Decimal], symbol: str) -> Decimal:
    lot = lots.get(symbol)
    if not _finite(lot) or not lot > 0:
        raise ValueError(f"lot of {symbol} must be a Decimal > 0, got {lot!r}")
    return lot


def _min_notional(min_notional: Decimal | Mapping[str, Decimal], symbol: str) -> Decimal:
    floor = min_notional.get(symbol, ZERO) if isinstance(min_notional, Mapping) else min_notional
    if not _finite(floor) or floor < 0:
        raise ValueError(f"min_notional of {symbol} must be a Decimal >= 0, got {floor!r}")
    return floor


def _toward_zero(quantity: Decimal, lot: Decimal) -> Decimal:
    """``quantity`` rounded toward zero to a whole number of lots (the division too)."""
    with localcontext() as ctx:
        ctx.rounding = ROUND_DOWN
        return (quantity / lot).to_integral_value() * lot


def _fmt(value: Decimal) -> str:
    """A Decimal for a reason string: fixed-point, at most 8 decimals, no trailing zeros."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -8:
        value = value.quantize(Decimal("1e-8"), rounding=ROUND_HALF_EVEN)
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
