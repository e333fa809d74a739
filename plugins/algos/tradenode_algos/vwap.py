"""``vwap``: slices in proportion to the market's usual intraday volume, with a participation cap.

The volume profile is the average share of a UTC day's volume per time-of-day bucket over the
last ``lookback_days`` complete days before the order (``volume_profile``), from a bars file
(``timestamp,volume`` CSV; ``bundled`` is the one-month 1-minute BTC file shipped with this
plugin). Each slice of the window gets the profile's volume in it; slices then trade as in
TWAP (``tradenode_algos.scheduled``).

``max_participation`` caps the catch-up: an aggressive step never brings the parent's fills
above that share of the volume traded on its venues (their recorded or live trades) since the
parent started. Passive slices are not capped: they trade only when the market comes to them.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from node.algo import ExecutorServices
from node.messages import Message, SubmitParentOrder, TradeTick
from tradenode_algos.scheduled import ScheduledExecutor, ScheduleParams

if TYPE_CHECKING:
    from tradenode_algos.volume_profile import VolumeProfile

BUNDLED = "bundled"


class VwapParams(ScheduleParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``ScheduleParams`` plus where the volume profile comes from and the participation cap.

    ``bars`` is a CSV path (absolute, or relative to the working directory) or ``bundled``.
    """

    bars: str = BUNDLED
    bucket_minutes: int = 15
    lookback_days: int = 20
    max_participation: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.bars != BUNDLED and not Path(self.bars).is_file():
            raise ValueError(f"bars: no such file {self.bars}")
        if self.bucket_minutes < 1 or 1440 % self.bucket_minutes:
            raise ValueError(
                f"bucket_minutes must divide a day (1440 minutes), got {self.bucket_minutes}"
            )
        if self.lookback_days < 1:
            raise ValueError(f"lookback_days must be >= 1, got {self.lookback_days}")
        cap = self.max_participation
        if cap is not None and not (math.isfinite(cap) and 0 < cap <= 1):
            raise ValueError(f"max_participation must be in (0, 1], got {cap}")


@lru_cache(maxsize=8)
def _profile(bars: str, bucket_minutes: int, lookback_days: int, before: str) -> VolumeProfile:
    """Profiles are cached: every VWAP of a day reads the same file to the same answer.
    (numpy is imported here, not when the plugin loads.)"""
    from tradenode_algos.volume_profile import BUNDLED_BARS, VolumeProfile, load_bars_csv

    path = BUNDLED_BARS if bars == BUNDLED else Path(bars)
    return VolumeProfile.from_bars(
        load_bars_csv(path),
        bucket_minutes=bucket_minutes,
        lookback_days=lookback_days,
        before=datetime.fromisoformat(before).date(),
    )


class VwapExecutor(ScheduledExecutor):
    """Slices weighted by the historical volume profile; catch-up capped by participation."""

    params: VwapParams
    subscriptions = (*ScheduledExecutor.subscriptions, TradeTick)

    def __init__(
        self, order: SubmitParentOrder, params: VwapParams, services: ExecutorServices
    ) -> None:
        super().__init__(order, params, services)
        self.market_volume = Decimal(0)

    def weights(self, start_ns: int, end_ns: int) -> list[float]:
        p = self.params
        day = datetime.fromtimestamp(start_ns / 1e9, UTC).date().isoformat()
        profile = _profile(p.bars, p.bucket_minutes, p.lookback_days, day)
        return [float(w) for w in profile.weights(start_ns, end_ns, p.slices)]

    def on_event(self, message: Message) -> None:
        if message.__class__ is not TradeTick:
            return
        trade: TradeTick = message  # type: ignore[assignment]
        if trade.symbol == self.order.symbol and (
            self.venues is None or trade.venue in self.venues
        ):
            self.market_volume += trade.size

    def cap(self, quantity: Decimal) -> Decimal:
        cap = self.params.max_participation
        if cap is None:
            return quantity
        allowed = self.floor_lot(self.market_volume * Decimal(repr(cap))) - self.filled
        return max(Decimal(0), min(quantity, allowed - self.working))

    def cap_reason(self) -> str:
        return (
            f"the participation cap {self.params.max_participation:g} of the "
            f"{self.market_volume} traded since the start allows no more"
        )
