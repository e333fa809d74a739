"""``pov``: participate at a target share of the volume the market trades.

Every trade the parent's venues report (their recorded or live trade stream) adds to the
market volume seen since the parent started; the parent owes ``rate`` of it. When what it owes
and has neither filled nor working reaches ``min_slice`` (or is all that is left), it is taken
through the router in one slice of at most ``max_slice``, no worse than ``max_slippage_bps``
from the mid. One slice works at a time. ``duration_s`` bounds the whole: at its end what is
left is reported, or swept within the guard of the arrival mid when ``complete_at_end`` is set.

Market volume is what the venues print, which on a live venue includes the parent's own taking
fills: the share is of the market as reported. It is not journaled: after a restart the count
starts again from zero (the parent then participates less, never more).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import msgspec

from node.algo import ExecutorServices
from node.messages import Message, SliceCompleted, SubmitParentOrder, TradeTick
from tradenode_algos.base import (
    ZERO,
    AlgoExecutor,
    check_positive_seconds,
    check_slippage,
    to_ns,
)

_END = "pov.end"
_MAX_FAILURES = 3


class PovParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    rate: float
    min_slice: Decimal = ZERO
    max_slice: Decimal | None = None
    max_slippage_bps: Decimal = Decimal(50)
    duration_s: float | None = None
    complete_at_end: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and 0 < self.rate < 1):
            raise ValueError(f"rate must be in (0, 1), got {self.rate}")
        if not (self.min_slice.is_finite() and self.min_slice >= 0):
            raise ValueError(f"min_slice must be >= 0, got {self.min_slice}")
        if self.max_slice is not None and not (
            self.max_slice.is_finite() and self.max_slice > 0 and self.max_slice >= self.min_slice
        ):
            raise ValueError(
                f"max_slice must be > 0 and >= min_slice ({self.min_slice}), got {self.max_slice}"
            )
        check_slippage(self.max_slippage_bps)
        if self.duration_s is not None:
            check_positive_seconds(self.duration_s, "duration_s")


class PovExecutor(AlgoExecutor):
    """Takes its share of the traded volume as it trades; see the module docstring."""

    params: PovParams
    subscriptions = (*AlgoExecutor.subscriptions, TradeTick)

    def __init__(
        self, order: SubmitParentOrder, params: PovParams, services: ExecutorServices
    ) -> None:
        super().__init__(order, params, services)
        self.market_volume = ZERO
        self.failures = 0
        self.ended = False

    def scheduled_at(self, now: int) -> Decimal | None:
        """``rate`` of the volume traded since the start (floored to the lot)."""
        rate = Decimal(repr(self.params.rate))
        return min(self.order.quantity, self.floor_lot(self.market_volume * rate))

    def on_begin(self) -> None:
        if self.params.duration_s is not None:
            end = self.started_ts + to_ns(self.params.duration_s)
            self.after(end - self.ctx.now(), _END)
        self.progress()

    def on_event(self, message: Message) -> None:
        if message.__class__ is not TradeTick or self.ended:
            return
        trade: TradeTick = message  # type: ignore[assignment]
        if trade.symbol != self.order.symbol:
            return
        if self.venues is not None and trade.venue not in self.venues:
            return
        self.market_volume += trade.size
        self._participate()

    def _participate(self) -> None:
        if self.open_slices() or self.completing is not None:
            return
        owed = min(self.scheduled_at(self.ctx.now()) - self.filled, self.available)  # type: ignore[operator]
        if owed <= 0 or (owed < self.params.min_slice and owed < self.remaining):
            return
        mid = self.mid()
        if mid is None:
            return
        quantity = owed if self.params.max_slice is None else min(owed, self.params.max_slice)
        if self.take(quantity, mid, self.params.max_slippage_bps) is not None:
            self.progress()

    def slice_done(self, done: SliceCompleted) -> None:
        if self.remaining <= 0:
            self.finish("")
            return
        if done.status == "failed":
            self.failures += 1
            if self.failures >= _MAX_FAILURES:
                self.finish(f"{self.failures} slices failed in a row: {done.reason}")
            return  # the next trade tries again
        self.failures = 0

    def on_algo_timer(self, name: str, payload: Any) -> None:
        if name != _END:
            return
        self.ended = True
        p = self.params
        if p.complete_at_end:
            self.complete_now(self.arrival_mid, p.max_slippage_bps, "at the end of duration_s")
        else:
            left = self.remaining
            self.finish(
                f"{left} left at the end of duration_s ({p.duration_s:g} s)" if left else ""
            )
