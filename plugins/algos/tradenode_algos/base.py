"""What the algorithms share on top of the core's ``Executor``.

* Progress: a working parent publishes ``ParentOrderProgressed`` every second (and on every
  fill and decision), with what its schedule wanted by then (``scheduled_at``) and the mid, so a
  monitor and ``tradenode report`` can show schedule against actual and fills against the
  market from the journal alone.
* Prices: a passive price at the mid or an offset inside the spread, and the guard of an
  aggressive slice — a limit at most ``max_slippage_bps`` worse than a reference price, on the
  tick and never past the parent's limit (``route`` applies that one).
* Completion: ``complete_now`` takes what is left through the router within a guard and ends
  the parent, saying why when the guard left some of it unfilled. It is the aggressive
  completion algorithm and the final stage of the others.
* Timers: named timers that are canceled when the executor stops, so a finished parent does
  not keep a replay running.

Subclasses implement ``on_begin`` (and ``on_resume`` when a restart needs more than beginning
again), ``slice_done`` instead of ``on_slice_completed``, and ``on_algo_timer``.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

from node.algo import Executor, ExecutorServices
from node.legs import ceil_to, floor_to
from node.messages import (
    FILL_TYPES,
    FINAL_ORDER_EVENTS,
    CancelParentOrder,
    CompleteParentOrder,
    Message,
    SliceCompleted,
    SliceRouted,
    SubmitParentOrder,
    TimerFired,
    TradingStateChanged,
)

ZERO = Decimal(0)
NS = 1_000_000_000
_BPS = Decimal(10_000)
_PROGRESS = "algo.progress"


def to_ns(seconds: float) -> int:
    return round(seconds * NS)


def check_slippage(value: Decimal, name: str = "max_slippage_bps") -> None:
    if not (value.is_finite() and 0 <= value <= 10_000):
        raise ValueError(f"{name} must be in [0, 10000] bps, got {value}")


def check_positive_seconds(value: float, name: str) -> None:
    if not (value == value and 0 < value < float("inf")):
        raise ValueError(f"{name} must be a finite number of seconds > 0, got {value}")


#: what a completing parent still listens to: its slices, fills and order events, its timers
#: (progress), cancels, completion requests and the trading state
_WHILE_COMPLETING = frozenset(
    (
        *FILL_TYPES,
        SliceCompleted,
        SliceRouted,
        TimerFired,
        CancelParentOrder,
        CompleteParentOrder,
        TradingStateChanged,
    )
)


class AlgoExecutor(Executor):
    """Base of this plugin's algorithms; see the module docstring."""

    #: how often a working parent publishes its progress
    progress_every_ns: int = NS

    def __init__(self, order: SubmitParentOrder, params: Any, services: ExecutorServices) -> None:
        super().__init__(order, params, services)
        self._timers: dict[tuple[str, Any], int] = {}
        #: (reference price, bps, what the completion is for) while ``complete_now`` works
        self.completing: tuple[Decimal | None, Decimal, str] | None = None
        self.completion_limit: Decimal | None = None
        self.done_reason = ""

    # -- what the schedule wanted -----------------------------------------------------------------

    def scheduled_at(self, now: int) -> Decimal | None:
        """What the algorithm's schedule wanted filled by ``now`` (None: it has no schedule)."""
        return None

    def progress(self, scheduled: Decimal | None = None, state: str | None = None) -> None:
        if self.finished:
            return  # the manager's ParentOrderCompleted is the last word
        if scheduled is None:
            scheduled = self.scheduled_at(self.ctx.now())
        super().progress(scheduled, state)

    # -- quantities and prices ------------------------------------------------------------------

    def floor_lot(self, quantity: Decimal) -> Decimal:
        lot = self.lot_size()
        if not lot:
            return quantity
        return (quantity / lot).to_integral_value(ROUND_DOWN) * lot

    def guard_limit(self, reference: Decimal, bps: Decimal) -> Decimal:
        """The worst price an aggressive slice may pay: ``bps`` from ``reference``, on the tick
        (rounded toward the reference, so the guard is never loosened by rounding)."""
        tick = self.tick_size()
        if self.order.side == "buy":
            price = reference * (1 + bps / _BPS)
            return floor_to(price, tick) if tick else price
        price = reference * (1 - bps / _BPS)
        return ceil_to(price, tick) if tick else price

    def passive_price(self, offset_ticks: int | None = None) -> Decimal | None:
        """Where a passive slice rests: the mid (on the tick, on our side of it), or
        ``offset_ticks`` inside the spread from our side's best price; never crossing the
        other side's best price. None without a two-sided market."""
        bid, ask = self.best_prices()
        tick = self.tick_size()
        if bid is None or ask is None or not tick:
            return None
        buy = self.order.side == "buy"
        if offset_ticks is None:
            mid = (bid + ask) / 2
            price = floor_to(mid, tick) if buy else ceil_to(mid, tick)
        else:
            price = bid + offset_ticks * tick if buy else ask - offset_ticks * tick
        if buy and price >= ask:
            price = ask - tick
        elif not buy and price <= bid:
            price = bid + tick
        return price if price > 0 else None

    def take(self, quantity: Decimal, reference: Decimal, bps: Decimal) -> int | None:
        """Take ``quantity`` now through the router, no worse than ``bps`` from ``reference``."""
        return self.route(quantity, "take", self.guard_limit(reference, bps))

    def open_post_slices(self) -> list[int]:
        return [s.slice_id for s in self.open_slices() if s.urgency == "post"]

    # -- completion -----------------------------------------------------------------------------

    def complete_now(
        self, reference: Decimal | None, bps: Decimal, context: str, done_reason: str = ""
    ) -> None:
        """Take everything left within ``bps`` of ``reference`` and finish the parent (with
        ``done_reason`` when it is all filled).

        Open slices are canceled first. Without a reference price (no market) nothing is
        taken and the parent finishes saying so; when the guard leaves some unfilled, the
        parent finishes with the numbers of the guard that stopped it.
        """
        self.completing = (reference, bps, context)
        self.done_reason = done_reason
        if self.open_slices():
            for state in self.open_slices():
                self.cancel_slice(state.slice_id, context)
            self.progress()  # the record of the decision, with the mid it was guarded on
            return
        self._complete_step()

    def _complete_step(self) -> None:
        assert self.completing is not None
        reference, bps, context = self.completing
        if self.remaining <= 0:
            self.finish(self.done_reason)
            return
        if self.completion_limit is None:  # one sweep: its guard is the final word
            if reference is None:
                self.finish(f"{context}: no price to guard the completion (no market)")
                return
            if self.paused is not None:
                self.progress()  # halted: the sweep waits for trading to resume
                return
            self.completion_limit = self.guard_limit(reference, bps)
            if self.take(self.available, reference, bps) is not None:
                self.progress()
                return
        left = self.remaining
        self.finish(
            f"{context}: {left} left, not fillable within {bps} bps of {reference} "
            f"(limit {self.completion_limit})"
        )

    completes_on_demand = True

    def on_complete(self, command: CompleteParentOrder) -> None:
        """Complete on demand: the algorithm's schedule ends here; what rests is canceled and
        the rest taken within ``max_slippage_bps`` of the arrival mid (the mid now without one)."""
        if self.completing is not None:
            self.refuse_completion("the parent order is already completing")
            return
        why = f"completed on demand ({command.reason or 'no reason given'})"
        self.complete_now(self.arrival_mid or self.mid(), command.max_slippage_bps, why, why)

    def on_message(self, message: Message) -> None:
        if (
            self.completing is not None
            and message.__class__ not in _WHILE_COMPLETING
            and not isinstance(message, FINAL_ORDER_EVENTS)
        ):
            return  # completing: the algorithm's own market events no longer concern it
        super().on_message(message)

    def on_trading_state(self, state: str, reason: str) -> None:
        """A completion that waited for a halt to end sweeps now."""
        if (
            self.completing is not None
            and self.paused is None
            and self.completion_limit is None
            and not self.open_slices()
        ):
            self._complete_step()

    # -- plumbing -------------------------------------------------------------------------------

    def after(self, delay_ns: int, name: str, payload: Any = None, *, background: bool = False):
        """Call ``on_algo_timer(name, payload)`` in ``delay_ns`` (one pending per name and
        payload: arming it again replaces it)."""
        key = (name, payload)
        if key in self._timers:
            self.ctx.cancel_timer(self._timers.pop(key))
        self._timers[key] = self.ctx.schedule(
            max(0, delay_ns), name, payload, background=background
        )

    def on_start(self) -> None:
        super().on_start()
        if not self.finished:
            self.after(self.progress_every_ns, _PROGRESS, background=True)

    def on_timer(self, name: str, payload: Any) -> None:
        self._timers.pop((name, payload), None)
        if name == _PROGRESS:
            self.progress()
            self.after(self.progress_every_ns, _PROGRESS, background=True)
        elif self.completing is not None:
            return  # the algorithm's schedule ended with the completion
        else:
            self.on_algo_timer(name, payload)

    def on_algo_timer(self, name: str, payload: Any) -> None:
        """A timer armed with ``after`` came due."""

    def on_slice_completed(self, done: SliceCompleted) -> None:
        if self.canceling is not None:
            return  # the parent is being canceled: the base finishes it once nothing is open
        if self.completing is not None:
            if not self.open_slices():
                self._complete_step()
            return
        self.slice_done(done)

    def slice_done(self, done: SliceCompleted) -> None:
        """A slice completed (outside ``complete_now``)."""

    def finish(self, reason: str = "", status=None) -> None:
        super().finish(reason, status)
        if self.finished:
            self._cancel_timers()

    def on_stop(self) -> None:
        self._cancel_timers()

    def _cancel_timers(self) -> None:
        for timer_id in self._timers.values():
            self.ctx.cancel_timer(timer_id)
        self._timers.clear()
