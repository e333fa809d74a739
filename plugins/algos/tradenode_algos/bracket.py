"""``bracket``: a protective stop and a take-profit for an open position, managed by the node
for venues without native support; one cancels the other.

The parent closes the position: ``sell`` protects a long (stop below the market, take-profit
above), ``buy`` protects a short. The take-profit rests on the book as a passive slice at its
price for the whole quantity. The stop lives in the node: it triggers when the mid (checked
every ``check_interval_ms``) or a trade the parent's venues print reaches ``stop_price``; then
the take-profit is canceled and what is left is taken through the router, no worse than
``max_slippage_bps`` from the mid at the trigger. A take-profit that fills ends the parent and
the stop with it; one that filled in part leaves the stop for the rest.

A stop already reached when the parent starts triggers at once (a stop order behaves so).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import msgspec

from node.algo import ExecutorServices
from node.messages import Message, SliceCompleted, SubmitParentOrder, TradeTick
from tradenode_algos.base import AlgoExecutor, check_slippage

_CHECK = "bracket.check"


class BracketParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    stop_price: Decimal
    take_profit_price: Decimal
    max_slippage_bps: Decimal = Decimal(50)
    check_interval_ms: float = 100.0

    def __post_init__(self) -> None:
        for name in ("stop_price", "take_profit_price"):
            value = getattr(self, name)
            if not (value.is_finite() and value > 0):
                raise ValueError(f"{name} must be a finite price > 0, got {value}")
        check_slippage(self.max_slippage_bps)
        if not (math.isfinite(self.check_interval_ms) and self.check_interval_ms >= 1):
            raise ValueError(f"check_interval_ms must be >= 1, got {self.check_interval_ms}")


class BracketExecutor(AlgoExecutor):
    """Take-profit on the book, stop in the node; see the module docstring."""

    params: BracketParams
    subscriptions = (*AlgoExecutor.subscriptions, TradeTick)

    def __init__(
        self, order: SubmitParentOrder, params: BracketParams, services: ExecutorServices
    ) -> None:
        stop, take = params.stop_price, params.take_profit_price
        if order.side == "sell" and not stop < take:
            raise ValueError(
                f"a sell bracket protects a long: stop_price {stop} must be below "
                f"take_profit_price {take}"
            )
        if order.side == "buy" and not stop > take:
            raise ValueError(
                f"a buy bracket protects a short: stop_price {stop} must be above "
                f"take_profit_price {take}"
            )
        super().__init__(order, params, services)
        self.triggered: str | None = None

    def _reached(self, price: Decimal) -> bool:
        stop = self.params.stop_price
        return price <= stop if self.order.side == "sell" else price >= stop

    def on_begin(self) -> None:
        if any(s.urgency == "take" for s in self.slices.values()):
            # A restart after the stop had triggered: its sweep was the final word.
            self._trigger("the stop had triggered before a restart")
            return
        for slice_id in self.open_post_slices():  # after a restart: post it again, fresh
            self.cancel_slice(slice_id, "resuming after a restart")
        if not self._check_mid():
            if not self.open_slices():
                self._post_take_profit()
            self._arm()

    def _arm(self) -> None:
        self.after(int(self.params.check_interval_ms * 1_000_000), _CHECK, background=True)

    def _post_take_profit(self) -> None:
        if self.triggered is None and self.available > 0:
            self.route(self.available, "post", self.params.take_profit_price)
            self.progress()

    def _check_mid(self) -> bool:
        mid = self.mid()
        if mid is not None and self._reached(mid):
            self._trigger(f"mid {mid} reached the stop {self.params.stop_price}")
            return True
        return False

    def on_algo_timer(self, name: str, payload: Any) -> None:
        if name == _CHECK and self.triggered is None and not self._check_mid():
            self._arm()

    def on_event(self, message: Message) -> None:
        if message.__class__ is not TradeTick or self.triggered is not None:
            return
        trade: TradeTick = message  # type: ignore[assignment]
        if trade.symbol != self.order.symbol:
            return
        if self.venues is not None and trade.venue not in self.venues:
            return
        if self._reached(trade.price):
            self._trigger(f"a trade at {trade.price} reached the stop {self.params.stop_price}")

    def on_trading_state(self, state: str, reason: str) -> None:
        """A halt cancels the take-profit with every open order: post it again on resuming."""
        super().on_trading_state(state, reason)
        if state != "halted" and self.triggered is None and not self.open_slices():
            self._post_take_profit()

    def _trigger(self, why: str) -> None:
        self.triggered = why
        self.complete_now(self.mid(), self.params.max_slippage_bps, f"stop-loss: {why}", why)

    def slice_done(self, done: SliceCompleted) -> None:
        if self.remaining <= 0:
            self.finish(f"take-profit filled at {self.params.take_profit_price}")
        elif not self.open_slices() and done.status != "failed":
            self._post_take_profit()  # re-posted after a restart's cancel
        elif done.status == "failed":
            self.finish(f"the take-profit could not rest: {done.reason}", "failed")
