"""Alpaca's market clock, kept between asks: which session it is now on Alpaca's clock.

``/v2/clock`` says whether the regular session is open and when it next opens and closes;
``/v2/calendar`` gives the day's extended-hours bounds (pre-market from 04:00, after-hours until
20:00 New York time, shorter on half days). Alpaca's time is projected from when the clock was
read, and the clock is read again when it is old or a session boundary has passed since: the
node's own clock is never compared with Alpaca's.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
Session = Literal["regular", "pre-market", "after-hours", "closed"]


def _hhmm(text: str) -> time:
    """``"09:30"`` or ``"0930"`` (Alpaca writes both in one calendar answer)."""
    digits = text.replace(":", "")
    return time(int(digits[:2]), int(digits[2:4]))


@dataclass(frozen=True)
class TradingDay:
    """One day of ``/v2/calendar``: extended session from ``early`` to ``late``, regular from
    ``open`` to ``close``."""

    early: datetime
    open: datetime
    close: datetime
    late: datetime

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> TradingDay:
        day = datetime.fromisoformat(str(row["date"])).date()

        def at(key: str, default: str) -> datetime:
            return datetime.combine(day, _hhmm(str(row.get(key) or default)), NEW_YORK)

        return cls(
            early=at("session_open", "0400"),
            open=at("open", "09:30"),
            close=at("close", "16:00"),
            late=at("session_close", "2000"),
        )


@dataclass(frozen=True)
class MarketClock:
    """What ``/v2/clock`` (and the day's calendar) said, and when it was read (monotonic s)."""

    now: datetime
    is_open: bool
    next_open: datetime
    next_close: datetime
    day: TradingDay | None
    read_at: float

    @classmethod
    def from_json(
        cls, clock: dict[str, Any], calendar: list[dict[str, Any]], read_at: float | None = None
    ) -> MarketClock:
        now = datetime.fromisoformat(str(clock["timestamp"]))
        today = now.astimezone(NEW_YORK).date().isoformat()
        rows = [r for r in calendar if str(r.get("date")) == today]
        return cls(
            now=now,
            is_open=bool(clock["is_open"]),
            next_open=datetime.fromisoformat(str(clock["next_open"])),
            next_close=datetime.fromisoformat(str(clock["next_close"])),
            day=TradingDay.from_json(rows[0]) if rows else None,
            read_at=_time.monotonic() if read_at is None else read_at,
        )

    def alpaca_now(self, monotonic: float | None = None) -> datetime:
        elapsed = (_time.monotonic() if monotonic is None else monotonic) - self.read_at
        return self.now + timedelta(seconds=max(0.0, elapsed))

    def stale(self, refresh_s: float, monotonic: float | None = None) -> bool:
        """Too old to trust, or a session boundary has passed since it was read."""
        mono = _time.monotonic() if monotonic is None else monotonic
        if mono - self.read_at >= refresh_s:
            return True
        now = self.alpaca_now(mono)
        boundaries = [self.next_open, self.next_close]
        if self.day is not None:
            boundaries += [self.day.early, self.day.open, self.day.close, self.day.late]
        return any(self.now < b <= now for b in boundaries)

    def session(self, monotonic: float | None = None) -> Session:
        if self.is_open:
            return "regular"
        now = self.alpaca_now(monotonic)
        day = self.day
        if day is not None and day.early <= now < day.open:
            return "pre-market"
        if day is not None and day.close <= now < day.late:
            return "after-hours"
        return "closed"

    def describe(self) -> str:
        """Alpaca's time and the next open, in New York time, for a refusal."""
        now = self.alpaca_now().astimezone(NEW_YORK)
        next_open = self.next_open.astimezone(NEW_YORK)
        return (
            f"Alpaca's clock says {now:%Y-%m-%d %H:%M} New York time, next open "
            f"{next_open:%Y-%m-%d %H:%M}"
        )
