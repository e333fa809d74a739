"""``GET /v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}``: minute bars
rolled up into the requested windows, sorted, and paged with ``next_url``.

``from``/``to`` are dates (``YYYY-MM-DD``, the whole New York day) or Unix milliseconds; a
window is returned when one of its minutes lies in that range and has closed by now. Windows
are aligned like Polygon's: minutes and hours on the clock, days at New York midnight, weeks at
Sunday midnight. ``limit`` caps the results per page (Polygon counts base aggregates; with
minute bars the two agree); when more remain, ``next_url`` repeats the request from the next
window on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from .calendar import MINUTE_MS, at_ms, day_of, trading_days, weekday_index
from .tapes import MinuteBar, TapeLibrary

TIMESPANS = ("minute", "hour", "day", "week")
DEFAULT_LIMIT = 5000
MAX_LIMIT = 50_000
HOUR_MS = 60 * MINUTE_MS


class AggregateRequestError(ValueError):
    """A malformed aggregates request (Polygon answers 400)."""


@dataclass(frozen=True)
class Window:
    t_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: int
    vwap: float
    transactions: int

    def as_json(self) -> dict[str, Any]:
        return {
            "v": self.volume,
            "vw": self.vwap,
            "o": self.open,
            "c": self.close,
            "h": self.high,
            "l": self.low,
            "t": self.t_ms,
            "n": self.transactions,
        }


def parse_bound(text: str, *, end: bool) -> int:
    """A range bound in Unix milliseconds; a date covers its whole New York day."""
    if text.isdigit():
        return int(text)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise AggregateRequestError(f"Could not parse the time parameter: '{text}'") from None
    return at_ms(day + timedelta(days=1)) - 1 if end else at_ms(day)


def _window_start(t_ms: int, multiplier: int, timespan: str) -> int:
    day = day_of(t_ms)
    midnight = at_ms(day)
    if timespan == "minute":
        size = multiplier * MINUTE_MS
        return midnight + (t_ms - midnight) // size * size
    if timespan == "hour":
        size = multiplier * HOUR_MS
        return midnight + (t_ms - midnight) // size * size
    if timespan == "day":
        # Groups of ``multiplier`` consecutive trading days.
        index = weekday_index(day)
        first = index - index % multiplier
        while weekday_index(day) > first:
            day -= timedelta(days=1)
        return at_ms(day)
    return at_ms(day - timedelta(days=(day.weekday() + 1) % 7))  # the week's Sunday


def _minutes(
    library: TapeLibrary, ticker: str, from_ms: int, to_ms: int, now_ms: int
) -> Iterator[MinuteBar]:
    for day in trading_days(day_of(from_ms), day_of(min(to_ms, now_ms))):
        tape = library.day(ticker, day)
        if tape is None:
            return
        for bar in tape.bars:
            if from_ms <= bar.t_ms <= to_ms and bar.end_ms <= now_ms:
                yield bar


def aggregate(
    library: TapeLibrary,
    ticker: str,
    multiplier: int,
    timespan: str,
    from_ms: int,
    to_ms: int,
    now_ms: int,
) -> tuple[list[Window], int]:
    """The windows in ascending time, and how many minute bars went into them."""
    if timespan not in TIMESPANS:
        raise AggregateRequestError(
            f"Unsupported timespan '{timespan}' (the loopback has {TIMESPANS})"
        )
    if multiplier < 1:
        raise AggregateRequestError("multiplier must be a positive integer")
    if timespan == "week" and multiplier != 1:
        raise AggregateRequestError("the loopback serves weeks with multiplier 1 only")
    groups: dict[int, list[MinuteBar]] = {}
    count = 0
    for bar in _minutes(library, ticker, from_ms, to_ms, now_ms):
        groups.setdefault(_window_start(bar.t_ms, multiplier, timespan), []).append(bar)
        count += 1
    windows = []
    for start, bars in groups.items():
        volume = sum(b.volume for b in bars)
        windows.append(
            Window(
                t_ms=start,
                open=bars[0].open,
                high=max(b.high for b in bars),
                low=min(b.low for b in bars),
                close=bars[-1].close,
                volume=volume,
                vwap=round(sum(b.vwap * b.volume for b in bars) / volume, 4),
                transactions=sum(b.transactions for b in bars),
            )
        )
    return windows, count


def window_end(t_ms: int, multiplier: int, timespan: str) -> int:
    """The last millisecond of the window starting at ``t_ms``."""
    if timespan == "minute":
        return t_ms + multiplier * MINUTE_MS - 1
    if timespan == "hour":
        return t_ms + multiplier * HOUR_MS - 1
    day = day_of(t_ms)
    if timespan == "day":
        days = list(_take_trading_days(day, multiplier))
        return at_ms(days[-1] + timedelta(days=1)) - 1
    return at_ms(day + timedelta(days=7)) - 1


def _take_trading_days(day: date, count: int) -> Iterator[date]:
    taken = 0
    while taken < count:
        if day.weekday() < 5:
            yield day
            taken += 1
        day += timedelta(days=1)


def parse_limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError:
        raise AggregateRequestError("limit must be an integer") from None
    if limit < 1:
        raise AggregateRequestError("limit must be positive")
    return min(limit, MAX_LIMIT)
