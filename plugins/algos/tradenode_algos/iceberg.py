"""``iceberg``: only a visible quantity rests on the book, replenished as it fills.

The visible slice rests at a fixed price (the parent's limit) or pegged to the mid (on our side
of it, ``offset_ticks`` further away). A pegged slice is re-posted when the pegged price has
moved ``reprice_ticks`` or more from where it rests (checked every ``check_interval_ms``). When
the visible slice has filled, the next one is posted. ``duration_s`` bounds the whole; at its
end what is left is canceled, or taken within ``max_slippage_bps`` of the mid when
``complete_at_end`` is set.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, Literal

import msgspec

from node.algo import ExecutorServices
from node.messages import SliceCompleted, SubmitParentOrder
from tradenode_algos.base import AlgoExecutor, check_positive_seconds, check_slippage, to_ns

_CHECK = "iceberg.check"
_END = "iceberg.end"
_MAX_FAILURES = 3


class IcebergParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    display_quantity: Decimal
    peg: Literal["fixed", "mid"] = "fixed"
    offset_ticks: int = 0
    reprice_ticks: int = 1
    check_interval_ms: float = 500.0
    duration_s: float | None = None
    complete_at_end: bool = False
    max_slippage_bps: Decimal = Decimal(50)

    def __post_init__(self) -> None:
        if not (self.display_quantity.is_finite() and self.display_quantity > 0):
            raise ValueError(f"display_quantity must be > 0, got {self.display_quantity}")
        if self.offset_ticks < 0:
            raise ValueError(f"offset_ticks must be >= 0, got {self.offset_ticks}")
        if self.reprice_ticks < 1:
            raise ValueError(f"reprice_ticks must be >= 1, got {self.reprice_ticks}")
        if not (math.isfinite(self.check_interval_ms) and self.check_interval_ms >= 1):
            raise ValueError(f"check_interval_ms must be >= 1, got {self.check_interval_ms}")
        if self.duration_s is not None:
            check_positive_seconds(self.duration_s, "duration_s")
        check_slippage(self.max_slippage_bps)


class IcebergExecutor(AlgoExecutor):
    """One visible slice at a time; see the module docstring."""

    params: IcebergParams

    def __init__(
        self, order: SubmitParentOrder, params: IcebergParams, services: ExecutorServices
    ) -> None:
        if params.peg == "fixed" and order.limit_price is None:
            raise ValueError("a fixed-price iceberg rests at the parent's limit price: give one")
        super().__init__(order, params, services)
        self.resting_price: Decimal | None = None
        self.ended = False
        self.failures = 0

    def target_price(self) -> Decimal | None:
        if self.params.peg == "fixed":
            return self.order.limit_price
        mid_price = self.passive_price(None)
        tick = self.tick_size()
        if mid_price is None or tick is None:
            return None
        step = self.params.offset_ticks * tick
        price = mid_price - step if self.order.side == "buy" else mid_price + step
        return self.within_limit(price) if price > 0 else None

    def on_begin(self) -> None:
        p = self.params
        if p.duration_s is not None:
            end = self.started_ts + to_ns(p.duration_s)
            self.after(end - self.ctx.now(), _END)
        if self.open_slices():  # after a restart: re-post from a clean slate
            for state in self.open_slices():
                self.cancel_slice(state.slice_id, "resuming after a restart")
        else:
            self._show()
        self._arm_check()

    def _arm_check(self) -> None:
        self.after(int(self.params.check_interval_ms * 1_000_000), _CHECK, background=True)

    def _show(self) -> None:
        """Post the next visible slice, if nothing is resting."""
        if self.ended or self.open_slices():
            return
        if self.remaining <= 0:
            self.finish("")
            return
        price = self.target_price()
        if price is None:
            return  # no market yet: the next check tries again
        quantity = min(self.params.display_quantity, self.available)
        if self.route(quantity, "post", price) is not None:
            self.resting_price = price
        self.progress()

    def on_algo_timer(self, name: str, payload: Any) -> None:
        if name == _END:
            self._end()
        elif name == _CHECK and not self.ended:
            self._arm_check()
            posts = self.open_post_slices()
            if not posts:
                self._show()
            elif self.params.peg == "mid":
                price = self.target_price()
                tick = self.tick_size() or Decimal(0)
                moved = (
                    price is not None
                    and self.resting_price is not None
                    and abs(price - self.resting_price) >= self.params.reprice_ticks * tick
                )
                if moved:
                    for slice_id in posts:
                        self.cancel_slice(slice_id, "the mid moved: re-pegging")

    def slice_done(self, done: SliceCompleted) -> None:
        if done.status == "failed":
            # Not again at once (it would fail the same way): the next check retries, and a
            # venue that keeps refusing ends the parent with its reason.
            self.failures += 1
            if self.failures >= _MAX_FAILURES:
                self.finish(f"{self.failures} visible slices failed in a row: {done.reason}")
            return
        self.failures = 0
        if not self.open_slices():
            self._show()

    def _end(self) -> None:
        self.ended = True
        p = self.params
        if p.complete_at_end:
            self.complete_now(self.mid(), p.max_slippage_bps, "at the end of duration_s")
        else:
            left = self.remaining
            self.finish(
                f"{left} left at the end of duration_s ({p.duration_s:g} s)" if left else ""
            )
