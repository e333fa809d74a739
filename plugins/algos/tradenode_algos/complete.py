"""``complete``: aggressive completion — sweep what is left through the router, guarded.

The whole parent is taken at once (or after ``after_s``: at the end of a horizon), split across
venues by the router, no worse than ``max_slippage_bps`` from the parent's arrival mid. If the
books cannot fill it all within that guard, the parent stops there and says so, with the
numbers. The other algorithms end the same way (``AlgoExecutor.complete_now``).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import msgspec

from tradenode_algos.base import AlgoExecutor, check_slippage, to_ns

_GO = "complete.go"


class CompleteParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    max_slippage_bps: Decimal = Decimal(50)
    after_s: float = 0.0

    def __post_init__(self) -> None:
        check_slippage(self.max_slippage_bps)
        if not (math.isfinite(self.after_s) and self.after_s >= 0):
            raise ValueError(f"after_s must be a finite number of seconds >= 0, got {self.after_s}")


class CompleteExecutor(AlgoExecutor):
    """One guarded sweep of everything left; see the module docstring."""

    params: CompleteParams

    def on_begin(self) -> None:
        bps = self.params.max_slippage_bps
        if self.slices:  # a restart after the sweep was sent: its guard is the final word
            reference = self.arrival_mid
            self.completing = (reference, bps, "completion")
            self.completion_limit = self.guard_limit(reference, bps) if reference else None
            if not self.open_slices():
                self._complete_step()
            return
        due = self.started_ts + to_ns(self.params.after_s)
        if due > self.ctx.now():
            self.after(due - self.ctx.now(), _GO)
            self.progress()
        else:
            self._go()

    def on_algo_timer(self, name: str, payload: Any) -> None:
        if name == _GO:
            self._go()

    def _go(self) -> None:
        self.complete_now(self.arrival_mid, self.params.max_slippage_bps, "completion")
