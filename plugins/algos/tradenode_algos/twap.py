"""``twap``: the quantity over a duration in equal slices (optionally randomised).

Each slice rests passively, then catches up aggressively within a slippage guard; see
``tradenode_algos.scheduled`` for the engine it shares with VWAP.
"""

from __future__ import annotations

from tradenode_algos.scheduled import ScheduledExecutor, ScheduleParams


class TwapParams(ScheduleParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[orders.params]`` of a TWAP: see ``ScheduleParams``."""


class TwapExecutor(ScheduledExecutor):
    """Equal slices over ``duration_s``."""

    params: TwapParams

    def weights(self, start_ns: int, end_ns: int) -> list[float]:
        return [1.0] * self.params.slices
