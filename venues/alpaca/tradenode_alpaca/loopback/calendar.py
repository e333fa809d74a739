"""U.S. equity sessions in New York time: what Alpaca's clock reports and its order rules use.

Pre-market 04:00-09:30, regular 09:30-16:00, after-hours 16:00-20:00 ET, Monday to Friday.
Exchange holidays and early closes are not modelled: every weekday is a full trading day.
Times are integer nanoseconds since the Unix epoch throughout.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

ET = ZoneInfo("America/New_York")
NS = 1_000_000_000

PRE_OPEN = time(4, 0)
OPEN = time(9, 30)
CLOSE = time(16, 0)
POST_CLOSE = time(20, 0)


class Session(StrEnum):
    PRE_MARKET = "pre_market"
    REGULAR = "regular"
    AFTER_HOURS = "after_hours"
    CLOSED = "closed"


class Boundary(StrEnum):
    """The instants at which orders change eligibility: queued orders route, day orders expire."""

    PRE_OPEN = "pre_open"
    OPEN = "open"
    CLOSE = "close"
    POST_CLOSE = "post_close"


_BOUNDARY_TIMES = (
    (PRE_OPEN, Boundary.PRE_OPEN),
    (OPEN, Boundary.OPEN),
    (CLOSE, Boundary.CLOSE),
    (POST_CLOSE, Boundary.POST_CLOSE),
)


def to_datetime(t_ns: int) -> datetime:
    return datetime.fromtimestamp(t_ns // NS, tz=ET) + timedelta(microseconds=t_ns % NS // 1000)


def at(day: date, clock_time: time) -> int:
    """The instant ``clock_time`` New York time on ``day``."""
    return int(datetime.combine(day, clock_time, tzinfo=ET).timestamp()) * NS


def is_trading_day(day: date) -> bool:
    return day.weekday() < 5


def session_at(t_ns: int) -> Session:
    moment = to_datetime(t_ns)
    if not is_trading_day(moment.date()):
        return Session.CLOSED
    now = moment.time()
    if PRE_OPEN <= now < OPEN:
        return Session.PRE_MARKET
    if OPEN <= now < CLOSE:
        return Session.REGULAR
    if CLOSE <= now < POST_CLOSE:
        return Session.AFTER_HOURS
    return Session.CLOSED


def _trading_days_from(day: date) -> Iterator[date]:
    while True:
        if is_trading_day(day):
            yield day
        day += timedelta(days=1)


def next_open(t_ns: int) -> int:
    """The first regular-session open strictly after ``t_ns``."""
    for day in _trading_days_from(to_datetime(t_ns).date()):
        opening = at(day, OPEN)
        if opening > t_ns:
            return opening
    raise AssertionError("unreachable")


def next_close(t_ns: int) -> int:
    """The first regular-session close strictly after ``t_ns``."""
    for day in _trading_days_from(to_datetime(t_ns).date()):
        closing = at(day, CLOSE)
        if closing > t_ns:
            return closing
    raise AssertionError("unreachable")


def boundaries(after_ns: int, until_ns: int) -> Iterator[tuple[int, Boundary]]:
    """Session boundaries in ``(after_ns, until_ns]``, in time order."""
    day = to_datetime(after_ns).date()
    last = to_datetime(until_ns).date()
    while day <= last:
        if is_trading_day(day):
            for clock_time, boundary in _BOUNDARY_TIMES:
                instant = at(day, clock_time)
                if after_ns < instant <= until_ns:
                    yield instant, boundary
        day += timedelta(days=1)


def ticks(after_ns: int, until_ns: int, interval_ns: int) -> Iterator[int]:
    """Instants on the ``interval_ns`` grid in ``(after_ns, until_ns]`` that fall inside the
    extended session (04:00-20:00 ET on trading days): when quotes exist."""
    day = to_datetime(after_ns).date()
    last = to_datetime(until_ns).date()
    while day <= last:
        if is_trading_day(day):
            start = max(after_ns + 1, at(day, PRE_OPEN))
            end = min(until_ns, at(day, POST_CLOSE) - 1)
            first = -(-start // interval_ns) * interval_ns
            yield from range(first, end + 1, interval_ns)
        day += timedelta(days=1)


def count_ticks(after_ns: int, until_ns: int, interval_ns: int) -> int:
    day = to_datetime(after_ns).date()
    last = to_datetime(until_ns).date()
    total = 0
    while day <= last:
        if is_trading_day(day):
            start = max(after_ns + 1, at(day, PRE_OPEN))
            end = min(until_ns, at(day, POST_CLOSE) - 1)
            if end >= start:
                total += end // interval_ns - (start - 1) // interval_ns
        day += timedelta(days=1)
    return total
