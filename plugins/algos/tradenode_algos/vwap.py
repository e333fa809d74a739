"""``vwap``: slices in proportion to the market's usual intraday volume, with a participation cap.

The volume profile is the average share of a UTC day's volume per time-of-day bucket over the
last ``lookback_days`` complete days before the parent's start day (``volume_profile``: a
crypto market's whole days, a stock's sessions), from a bars file (``timestamp,volume`` CSV;
``bundled`` is the one-month 1-minute BTC file shipped with this plugin) or from a venue's OHLCV
history (``bars = "venue"``). Each slice of the window gets the profile's volume in it; slices
then trade as in TWAP (``tradenode_algos.scheduled``).

From a venue: the executor asks ``bars_venue`` (default: the first of the parent's venues whose
capabilities say it serves bars, else the parent's first venue) with ``FetchBars`` for
``bucket_minutes`` bars of enough calendar days before the start day to hold ``lookback_days``
trading days, and begins slicing only once the answer has built the profile. No answer within
``bars_timeout_s``, an error (the venue cannot serve bars, the request failed) or too little
history finishes the parent as failed, saying why, before any order is sent — unless
``fallback = "twap"``, which slices evenly instead and says so in its progress. The bars are
not journaled: a VWAP resumed after a restart fetches them again, and since they end before
the start day, it rebuilds the same profile and schedule.

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
from typing import TYPE_CHECKING, Any, Literal

from node.algo import ExecutorServices
from node.messages import BarsFetched, FetchBars, Message, SubmitParentOrder, TradeTick
from tradenode_algos.base import check_positive_seconds, to_ns
from tradenode_algos.scheduled import ScheduledExecutor, ScheduleParams

if TYPE_CHECKING:
    from tradenode_algos.volume_profile import VolumeProfile

BUNDLED = "bundled"
VENUE = "venue"
_BARS_TIMEOUT = "bars.timeout"
_DAY_NS = 86_400_000_000_000


def _is_file(name: str) -> bool:
    try:
        return Path(name).is_file()
    except OSError:  # a name too long for the file system names no file
        return False


class VwapParams(ScheduleParams, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``ScheduleParams`` plus where the volume profile comes from and the participation cap.

    ``bars`` is a CSV path (absolute, or relative to the working directory), ``bundled``, or
    ``venue``: the OHLCV history of ``bars_venue`` (see the module docstring), awaited at most
    ``bars_timeout_s``. ``fallback`` says what happens when no profile can be built: ``fail``
    the parent (nothing is sent), or slice evenly like ``twap``.
    """

    bars: str = BUNDLED
    bars_venue: str | None = None
    bars_timeout_s: float = 60.0
    fallback: Literal["fail", "twap"] = "fail"
    bucket_minutes: int = 15
    lookback_days: int = 20
    max_participation: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.bars not in (BUNDLED, VENUE) and not _is_file(self.bars):
            raise ValueError(f"bars: no such file {self.bars}")
        if self.bars_venue is not None and self.bars != VENUE:
            raise ValueError(f'bars_venue goes with bars = "venue", not bars = {self.bars!r}')
        if self.bars_venue == "":
            raise ValueError("bars_venue must name a venue")
        check_positive_seconds(self.bars_timeout_s, "bars_timeout_s")
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


def history_span(start_ns: int, lookback_days: int) -> tuple[int, int]:
    """The bars asked of a venue for a parent starting at ``start_ns``: from enough calendar days
    before its UTC start day to hold ``lookback_days`` trading days (five in seven, and five
    more for holidays and the partial days of the answer) up to that day's midnight."""
    until = start_ns // _DAY_NS * _DAY_NS
    days = math.ceil(lookback_days * 7 / 5) + 5
    return until - days * _DAY_NS, until


class VwapExecutor(ScheduledExecutor):
    """Slices weighted by the historical volume profile; catch-up capped by participation."""

    params: VwapParams
    subscriptions = (*ScheduledExecutor.subscriptions, TradeTick)

    def __init__(
        self, order: SubmitParentOrder, params: VwapParams, services: ExecutorServices
    ) -> None:
        super().__init__(order, params, services)
        self.market_volume = Decimal(0)
        #: the venue asked for bars, while its answer is awaited
        self.fetching: str | None = None
        #: the profile built from a venue's bars
        self.profile: VolumeProfile | None = None
        #: why the slices are even (``fallback = "twap"``), when they are
        self.even: str | None = None

    # -- the profile from a venue ---------------------------------------------------------------

    def on_begin(self) -> None:
        if self.params.bars != VENUE or self.profile is not None or self.even is not None:
            super().on_begin()
            return
        venue, problem = self._bars_venue()
        if venue is None:
            self._no_profile(problem)
            return
        since, until = history_span(self.started_ts, self.params.lookback_days)
        request = FetchBars(
            venue=venue,
            symbol=self.order.symbol,
            timeframe_minutes=self.params.bucket_minutes,
            since_ns=since,
            until_ns=until,
            reply_to=self.name,
            ts=self.ctx.now(),
        )
        from node.venue import venue_address

        try:
            self.ctx.send(venue_address(venue), request)
        except KeyError:
            self._no_profile(f"venue {venue} is not running")
            return
        self.fetching = venue
        self.after(to_ns(self.params.bars_timeout_s), _BARS_TIMEOUT)
        self.progress(state=f"fetching {self.params.lookback_days} days of bars from {venue}")

    def _bars_venue(self) -> tuple[str | None, str]:
        """Who is asked for bars: ``bars_venue``, else the first of the parent's venues (all
        listing the symbol, by name) that says it serves bars, else the first of them."""
        known = self.market.venues
        named = self.params.bars_venue
        if named is not None:
            if named not in known:
                return None, f"no venue named {named!r} (known: {', '.join(sorted(known))})"
            return named, ""
        if self.venues is not None:
            candidates = list(self.venues)
        else:
            candidates = sorted({i.venue for i in self.market.listing(self.order.symbol)})
        serving = [v for v in candidates if v in known and known[v].capabilities.bars]
        if serving:
            return serving[0], ""
        if candidates:
            return candidates[0], ""
        return None, f"no venue lists {self.order.symbol} to ask for its bars"

    def _bars_fetched(self, answer: BarsFetched) -> None:
        if self.fetching is None or answer.venue != self.fetching:
            return  # not what this executor waits for (an answer after its timeout)
        venue, self.fetching = self.fetching, None
        self._disarm(_BARS_TIMEOUT)
        if answer.error:
            self._no_profile(answer.error)
            return
        p = self.params
        from tradenode_algos.volume_profile import VolumeProfile, bars_from_messages

        day = datetime.fromtimestamp(self.started_ts / 1e9, UTC).date()
        try:
            self.profile = VolumeProfile.from_bars(
                bars_from_messages(answer.bars),
                bucket_minutes=p.bucket_minutes,
                lookback_days=p.lookback_days,
                before=day,
            )
        except ValueError as exc:
            self._no_profile(f"{venue}'s {len(answer.bars)} bars: {exc}")
            return
        first, last = self.profile.days[0], self.profile.days[-1]
        self.progress(
            state=f"volume profile from {len(self.profile.days)} days of {venue}'s bars "
            f"({first.isoformat()} to {last.isoformat()})"
        )
        super().on_begin()

    def _no_profile(self, why: str) -> None:
        if self.params.fallback == "twap":
            self.even = why
            self.progress(state=f"no volume profile ({why}): slicing evenly, as TWAP")
            super().on_begin()
        else:
            self.finish(f"no volume profile: {why}", "failed")

    def _disarm(self, name: str, payload: Any = None) -> None:
        timer = self._timers.pop((name, payload), None)
        if timer is not None:
            self.ctx.cancel_timer(timer)

    def on_algo_timer(self, name: str, payload: Any) -> None:
        if name == _BARS_TIMEOUT:
            if self.fetching is not None:
                venue, self.fetching = self.fetching, None
                self._no_profile(
                    f"venue {venue} did not answer for bars within {self.params.bars_timeout_s:g} s"
                )
            return
        super().on_algo_timer(name, payload)

    # -- the schedule ---------------------------------------------------------------------------

    def weights(self, start_ns: int, end_ns: int) -> list[float]:
        p = self.params
        if self.even is not None:
            return [1.0] * p.slices
        try:
            if self.profile is not None:
                profile = self.profile
            else:
                day = datetime.fromtimestamp(start_ns / 1e9, UTC).date().isoformat()
                profile = _profile(p.bars, p.bucket_minutes, p.lookback_days, day)
            return [float(w) for w in profile.weights(start_ns, end_ns, p.slices)]
        except ValueError as exc:
            if p.fallback != "twap":
                raise
            self.even = str(exc)
            self.progress(state=f"no volume profile ({exc}): slicing evenly, as TWAP")
            return [1.0] * p.slices

    def on_event(self, message: Message) -> None:
        if message.__class__ is BarsFetched:
            self._bars_fetched(message)  # type: ignore[arg-type]
            return
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
