"""U.S. regular trading sessions (09:30-16:00 New York time, Monday to Friday) for the
generated data. Exchange holidays and early closes are not modelled."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

ET = ZoneInfo("America/New_York")
NS = 1_000_000_000
MS = 1_000
MINUTE_MS = 60_000
SESSION_MINUTES = 390
OPEN = time(9, 30)
_EPOCH_MONDAY = date(1970, 1, 5)


def is_trading_day(day: date) -> bool:
    return day.weekday() < 5


def at_ms(day: date, clock_time: time = time(0)) -> int:
    """``clock_time`` New York time on ``day``, in Unix milliseconds."""
    return int(datetime.combine(day, clock_time, tzinfo=ET).timestamp()) * MS


def open_ms(day: date) -> int:
    return at_ms(day, OPEN)


def to_datetime(t_ms: int) -> datetime:
    return datetime.fromtimestamp(t_ms // MS, tz=ET) + timedelta(milliseconds=t_ms % MS)


def day_of(t_ms: int) -> date:
    return to_datetime(t_ms).date()


def weekday_index(day: date) -> int:
    """How many weekdays lie between a fixed Monday and ``day``: consecutive trading days get
    consecutive numbers."""
    weeks, rest = divmod((day - _EPOCH_MONDAY).days, 7)
    return weeks * 5 + min(rest, 5)


def trading_days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        if is_trading_day(day):
            yield day
        day += timedelta(days=1)


def previous_trading_day(day: date) -> date:
    day -= timedelta(days=1)
    while not is_trading_day(day):
        day -= timedelta(days=1)
    return day
