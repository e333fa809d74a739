"""``bracket``: a protective stop and a take-profit for an open position, managed by the node
for venues without native support; one cancels the other.

The parent closes the position: ``sell`` protects a long (stop below the market, take-profit
above), ``buy`` protects a short. The take-profit rests on the book as a passive slice at its
price for the whole quantity. The stop lives in the node: it triggers when the mid (checked
every ``check_interval_ms``) or a trade the parent's venues print reaches ``stop_price``; then
the take-profit is canceled and what is left is taken through the router, no worse than
``max_slippage_bps`` from the mid at the trigger. A take-profit that fills ends the parent and
the stop with it; one that filled in part leaves the stop for the rest.

A triggered stop works until the position is out: when a sweep leaves some of it (a thin or
gapped book), it sweeps again ``check_interval_ms`` later from the mid of that moment, each
retry's guard ``stop_widen_bps`` wider than the last, up to ``stop_max_slippage_bps`` (see
``BracketParams``), and never past the parent's limit price if it has one (there it holds, as
a stop-limit order does). Every sweep and every retry publishes a progress whose state says
where the stop stands. It ends filled, or canceled with the parent; while trading is halted
it waits and sweeps again at once on the resume; a remainder no venue can trade (less than a
lot, or under every venue's minimum) ends it, saying so.

A stop already reached when the parent starts triggers at once (a stop order behaves so), and
one that had triggered before a restart carries on sweeping.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import msgspec

from node.algo import ExecutorServices
from node.messages import (
    CompleteParentOrder,
    Message,
    SliceCompleted,
    SubmitParentOrder,
    TradeTick,
)
from tradenode_algos.base import AlgoExecutor, check_slippage

_CHECK = "bracket.check"
_RETRY = "bracket.stop_retry"
#: the widest guard when ``stop_max_slippage_bps`` is not given (or ``max_slippage_bps`` if wider)
DEFAULT_STOP_MAX_SLIPPAGE_BPS = Decimal(500)


class BracketParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The bracket's prices and the stop's guard.

    ``max_slippage_bps`` guards the stop's first sweep, from the mid at the trigger. A stop must
    get the position out, so when a sweep leaves some of it the stop retries every
    ``check_interval_ms`` from the mid of that moment (which follows a falling market) and the
    guard **widens** by ``stop_widen_bps`` on each retry — exiting at a worse price beats not
    exiting — up to ``stop_max_slippage_bps`` from that mid (default: 500 bps, or
    ``max_slippage_bps`` if wider). At the widest it keeps retrying at that width. The
    parent's limit price, if any, bounds every sweep: the operator's explicit worst price is
    never passed (the stop then holds there, like a stop-limit order). ``stop_widen_bps = 0``
    keeps every retry's guard at ``max_slippage_bps`` (only waiting for the book to refill).
    """

    stop_price: Decimal
    take_profit_price: Decimal
    max_slippage_bps: Decimal = Decimal(50)
    check_interval_ms: float = 100.0
    stop_widen_bps: Decimal = Decimal(10)
    stop_max_slippage_bps: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("stop_price", "take_profit_price"):
            value = getattr(self, name)
            if not (value.is_finite() and value > 0):
                raise ValueError(f"{name} must be a finite price > 0, got {value}")
        check_slippage(self.max_slippage_bps)
        check_slippage(self.stop_widen_bps, "stop_widen_bps")
        widest = self.stop_max_slippage_bps
        if widest is not None and not (
            widest.is_finite() and self.max_slippage_bps <= widest < 10_000
        ):
            raise ValueError(
                f"stop_max_slippage_bps must be >= max_slippage_bps "
                f"({self.max_slippage_bps}) and < 10000 bps, got {widest}"
            )
        if not (math.isfinite(self.check_interval_ms) and self.check_interval_ms >= 1):
            raise ValueError(f"check_interval_ms must be >= 1, got {self.check_interval_ms}")

    @property
    def widest_bps(self) -> Decimal:
        if self.stop_max_slippage_bps is not None:
            return self.stop_max_slippage_bps
        return max(self.max_slippage_bps, DEFAULT_STOP_MAX_SLIPPAGE_BPS)

    def stop_guard_bps(self, sweep: int) -> Decimal:
        """The guard of the stop's ``sweep``-th sweep (0: the first, at the trigger)."""
        return min(self.max_slippage_bps + sweep * self.stop_widen_bps, self.widest_bps)


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
        #: the stop's sweeps so far (each retry's guard widens with it)
        self.sweeps = 0

    def _reached(self, price: Decimal) -> bool:
        stop = self.params.stop_price
        return price <= stop if self.order.side == "sell" else price >= stop

    def on_begin(self) -> None:
        takes = sum(1 for s in self.slices.values() if s.urgency == "take")
        if takes:
            # A restart after the stop had triggered: it carries on, as wide as it had got.
            self.sweeps = takes
            self._trigger("the stop had triggered before a restart")
            return
        for slice_id in self.open_post_slices():  # after a restart: post it again, fresh
            self.cancel_slice(slice_id, "resuming after a restart")
        if not self._check_mid():
            if not self.open_slices():
                self._post_take_profit()
            self._arm()

    def _arm(self) -> None:
        self.after(self._interval_ns(), _CHECK, background=True)

    def _interval_ns(self) -> int:
        return int(self.params.check_interval_ms * 1_000_000)

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
        elif name == _RETRY and self.triggered is not None:
            self._sweep()

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
        """A halt cancels the take-profit with every open order: post it again on resuming;
        a triggered stop waits out the halt and sweeps at once on the resume."""
        super().on_trading_state(state, reason)
        if state == "halted" or self.open_slices() or self.completing is not None:
            return
        if self.triggered is None:
            self._post_take_profit()
        else:
            self._sweep()

    def on_complete(self, command: CompleteParentOrder) -> None:
        """Close the position now, guarded on the mid now (a bracket may have waited for hours
        since its arrival); once the stop has triggered it is already doing that, on its own
        widening guard, and a completion would only narrow it: refused."""
        if self.triggered is not None:
            self.refuse_completion(f"its stop-loss is taking the position out ({self.triggered})")
            return
        if self.completing is not None:
            self.refuse_completion("the parent order is already completing")
            return
        why = f"completed on demand ({command.reason or 'no reason given'})"
        self.complete_now(self.mid(), command.max_slippage_bps, why, why)

    # -- the stop -------------------------------------------------------------------------------

    def _trigger(self, why: str) -> None:
        self.triggered = why
        if self.open_slices():  # the take-profit (or a sweep a restart left): cancel it first
            self.cancel_open_slices(f"stop-loss: {why}")
            self.progress(state=f"stop-loss: {why}; canceling the take-profit")
            return
        self._sweep()

    def _sweep(self) -> None:
        """Take what is left within this sweep's guard from the mid now."""
        if self.finished or self.canceling is not None or self.open_slices():
            return
        if self.remaining <= 0:
            self.finish(self.triggered or "")
            return
        if self.paused is not None:
            self.progress()  # "paused: trading halted …": the resume sweeps again
            return
        untradable = self._untradable()
        if untradable:
            self.finish(f"stop-loss: {self.triggered}: {untradable}")
            return
        mid = self.mid()
        if mid is None:
            self.progress(state="stop-loss: no market to guard a sweep on; retrying")
            self.after(self._interval_ns(), _RETRY, background=True)
            return
        bps = self.params.stop_guard_bps(self.sweeps)
        guard = self.guard_limit(mid, bps)
        limit = self.within_limit(guard)
        quantity = self.available
        if self.take(quantity, mid, bps) is None:  # cannot happen after _untradable
            self.finish(f"stop-loss: {self.triggered}: {quantity} left could not be routed")
            return
        self.sweeps += 1
        held = f", held at the parent's limit {limit}" if limit != guard else ""
        self.progress(
            state=(
                f"stop-loss sweep {self.sweeps}: {quantity} within {bps} bps of mid {mid} "
                f"(limit {limit}{held})"
            )
        )

    def _untradable(self) -> str | None:
        """Why what is left can never be routed (then retrying is pointless), or None."""
        lot = self.lot_size()
        if lot and self.floor_lot(self.available) <= 0:
            return f"{self.remaining} left is less than a lot ({lot})"
        mid = self.mid()
        listing = [
            i
            for i in self.market.listing(self.order.symbol)
            if self.venues is None or i.venue in self.venues
        ]
        if mid is not None and listing:
            left = self.available
            if all(left < i.min_quantity or left * mid < i.min_notional for i in listing):
                return f"{left} left is under every venue's minimum quantity or notional"
        return None

    def _retry(self, done: SliceCompleted) -> None:
        """A sweep left some of the position: sweep again from the mid a moment later."""
        why = f"{done.status}: {done.reason}" if done.reason else done.status
        next_bps = self.params.stop_guard_bps(self.sweeps)
        self.progress(
            state=(
                f"stop-loss: {self.remaining} left after sweep {self.sweeps} ({why}); "
                f"retrying in {self.params.check_interval_ms:g} ms within {next_bps} bps "
                f"of the mid then"
            )
        )
        self.after(self._interval_ns(), _RETRY, background=True)

    def slice_done(self, done: SliceCompleted) -> None:
        if self.remaining <= 0:
            if self.triggered is not None:
                self.finish(self.triggered)
            else:
                self.finish(f"take-profit filled at {self.params.take_profit_price}")
        elif self.triggered is not None:
            if not self.open_slices():
                if self.slices[done.slice_id].urgency == "post" or done.status == "canceled":
                    self._sweep()  # the take-profit (or a stale sweep) is out of the way
                else:
                    self._retry(done)
        elif not self.open_slices() and done.status != "failed":
            self._post_take_profit()  # re-posted after a restart's cancel
        elif done.status == "failed":
            self.finish(f"the take-profit could not rest: {done.reason}", "failed")
