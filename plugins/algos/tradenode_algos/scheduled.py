"""Scheduled execution, the engine of TWAP and VWAP: each slice rests passively, then catches
up aggressively.

Slice ``i`` of the schedule starts by resting what the schedule wants filled by its end, less
what is filled or working (so a slice that fell behind catches up), at the mid or an offset
inside the spread. After ``passive_fraction`` of its interval what did not fill is canceled and
what the schedule still wants by the slice's end is taken through the router, no worse than
``max_slippage_bps`` from the mid of that moment. A parent limit price is never crossed (the
router holds every child to it). The last slice's aggressive step ends the parent: filled, or
with what is left and the guard that stopped it.

Everything is derived from the parent's start time (journaled), the params and what is filled:
an executor rebuilt after a restart cancels what its predecessor left working and carries on
with the slice the clock is in.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import msgspec

from node.algo import ExecutorServices
from node.messages import SliceCompleted, SubmitParentOrder
from tradenode_algos.base import (
    AlgoExecutor,
    check_positive_seconds,
    check_slippage,
    to_ns,
)
from tradenode_algos.schedule import Schedule, build_schedule

_START = "slice.start"
_TAKE = "slice.take"


class ScheduleParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a parent is spread over time and how each slice trades.

    ``duration_s`` is split into ``slices``; each rests passively for ``passive_fraction`` of
    its interval (0: take at once; 1: rest until the next slice starts), at the mid, or
    ``passive_offset_ticks`` inside the spread from our side's best price, then takes what it
    still owes within ``max_slippage_bps`` of the mid. ``randomize`` (0..1) varies slice sizes
    and times, reproducibly from ``seed``.
    """

    duration_s: float
    slices: int
    passive_fraction: float = 0.8
    max_slippage_bps: Decimal = Decimal(50)
    randomize: float = 0.0
    seed: int = 0
    passive_offset_ticks: int | None = None

    def __post_init__(self) -> None:
        check_positive_seconds(self.duration_s, "duration_s")
        if not 1 <= self.slices <= 10_000:
            raise ValueError(f"slices must be in [1, 10000], got {self.slices}")
        if self.duration_s / self.slices < 0.001:
            raise ValueError(
                f"duration_s / slices must be at least 1 ms, got {self.duration_s / self.slices}"
            )
        if not (math.isfinite(self.passive_fraction) and 0 <= self.passive_fraction <= 1):
            raise ValueError(f"passive_fraction must be in [0, 1], got {self.passive_fraction}")
        check_slippage(self.max_slippage_bps)
        if not (math.isfinite(self.randomize) and 0 <= self.randomize <= 1):
            raise ValueError(f"randomize must be in [0, 1], got {self.randomize}")
        if self.passive_offset_ticks is not None and self.passive_offset_ticks < 0:
            raise ValueError(
                f"passive_offset_ticks must be >= 0 (ticks inside the spread), "
                f"got {self.passive_offset_ticks}"
            )


class ScheduledExecutor(AlgoExecutor):
    """Works a parent along a ``Schedule``; subclasses say how the slices are weighted."""

    params: ScheduleParams

    def __init__(
        self, order: SubmitParentOrder, params: ScheduleParams, services: ExecutorServices
    ) -> None:
        super().__init__(order, params, services)
        self.schedule: Schedule | None = None
        #: the slice whose aggressive step waits for its passive slice to be canceled
        self.taking: int | None = None
        #: the last slice's aggressive step was sent: the parent ends when it completes
        self.final = False
        #: a restart left slices open: they are canceled before the schedule carries on
        self.resyncing = False
        #: why the last step may leave some unfilled (the guard, the cap, no market)
        self.end_note = ""

    # -- what subclasses say --------------------------------------------------------------------

    def weights(self, start_ns: int, end_ns: int) -> list[float]:
        """Relative sizes of the slices."""
        raise NotImplementedError

    def cap(self, quantity: Decimal) -> Decimal:
        """What of ``quantity`` an aggressive step may take (a participation cap)."""
        return quantity

    def cap_reason(self) -> str:
        return ""

    # -- the schedule ---------------------------------------------------------------------------

    def scheduled_at(self, now: int) -> Decimal | None:
        if self.schedule is None:
            return None
        return self.schedule.scheduled_at(now, self.lot_size())

    def _build(self) -> Schedule:
        p = self.params
        start = self.started_ts
        end = start + to_ns(p.duration_s)
        return build_schedule(
            start,
            end - start,
            self.order.quantity,
            self.weights(start, end),
            lot=self.lot_size(),
            randomize=p.randomize,
            seed=p.seed,
        )

    def take_time(self, i: int) -> int:
        assert self.schedule is not None
        a, b = self.schedule.edges[i], self.schedule.edges[i + 1]
        return a + int((b - a) * self.params.passive_fraction)

    # -- starting -------------------------------------------------------------------------------

    def on_begin(self) -> None:
        try:
            self.schedule = self._build()
        except ValueError as exc:
            self.finish(f"cannot build the schedule: {exc}", "failed")
            return
        now = self.ctx.now()
        for i in range(self.schedule.slices):
            for name, due in ((_START, self.schedule.edges[i]), (_TAKE, self.take_time(i))):
                if due > now:
                    self.after(due - now, name, i)
        if self.open_slices():  # a restart: what the last executor left working goes first
            self.resyncing = True
            for state in self.open_slices():
                self.cancel_slice(state.slice_id, "resuming the schedule after a restart")
        else:
            self._act_now()

    def _act_now(self) -> None:
        """Do what the clock says: rest the current slice, or take what it owes."""
        assert self.schedule is not None
        now = self.ctx.now()
        i = self.schedule.slice_at(now)
        if i >= self.schedule.slices:
            self._take(self.schedule.slices - 1)
        elif now < self.take_time(i):
            self._post(i)
        else:
            self._take(i)

    # -- timers and slices ----------------------------------------------------------------------

    def on_algo_timer(self, name: str, payload: Any) -> None:
        if self.resyncing or self.schedule is None:
            return
        if name == _START:
            self._post(payload)
        elif name == _TAKE:
            self._take(payload)

    def _post(self, i: int) -> None:
        assert self.schedule is not None
        if self.final:
            return
        want = self.schedule.target(i) - self.filled - self.working
        price = self.passive_price(self.params.passive_offset_ticks)
        if want > 0 and price is not None:
            self.route(want, "post", price)
        self.progress()

    def _take(self, i: int) -> None:
        if self.final or self.taking == i:  # a rebuilt executor may hear a timer twice
            return
        self.taking = i
        posts = self.open_post_slices()
        if posts:
            for slice_id in posts:
                self.cancel_slice(slice_id, "passive time is up: the rest is taken")
            return
        self._take_now()

    def _take_now(self) -> None:
        assert self.schedule is not None and self.taking is not None
        i, self.taking = self.taking, None
        owed = self.schedule.target(i) - self.filled - self.working
        wanted = self.cap(owed)
        mid = self.mid()
        bps = self.params.max_slippage_bps
        routed = None
        if wanted > 0 and mid is not None:
            routed = self.take(wanted, mid, bps)
        if i >= self.schedule.slices - 1:
            self.final = True
            if self.paused is not None:
                self.end_note = self.paused
            elif owed > 0 and mid is None:
                self.end_note = "no market to take it from"
            elif wanted < owed:
                self.end_note = self.cap_reason()
            else:
                limit = self.guard_limit(mid, bps) if mid is not None else None
                self.end_note = f"not fillable within {bps} bps of the mid {mid} (limit {limit})"
            if routed is None and not self.open_slices():
                self._end()
        self.progress()

    def slice_done(self, done: SliceCompleted) -> None:
        if self.final and done.status == "failed":
            self.end_note += f"; {done.reason}"
        if self.open_slices():
            return
        if self.resyncing:
            self.resyncing = False
            self._act_now()
        elif self.taking is not None:
            self._take_now()
        elif self.final or self.remaining <= 0:
            self._end()

    def _end(self) -> None:
        left = self.remaining
        if left <= 0:
            self.finish("")
        else:
            self.finish(f"{left} left at the end of the schedule: {self.end_note}")
