"""OHLCV history through ccxt's ``fetch_ohlcv``: the ccxt venue's answer to ``FetchBars``.

The bars come in the longest timeframe the exchange lists that divides the length asked for
(15-minute bars for 15-minute buckets on Binance; 5-minute ones where an exchange has no 15),
page by page: ``since`` moves one bar past the last bar received and ``limit`` is the exchange's
largest page as ccxt's ``features`` give it, until the range is covered or the exchange has
nothing more. Every page is a read retried on network errors like the session's others. Each
row becomes a ``Bar`` exactly: ccxt parses the exchange's decimal strings into floats and
``convert.dec`` turns each back into the string it was. A bar opening at or after ``until``,
before ``since``, or again (a page overlapping the last) is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from node.messages import Bar, FetchBars
from tradenode_ccxt.convert import MalformedReply, dec

if TYPE_CHECKING:
    from tradenode_ccxt.session import Session
    from tradenode_ccxt.venue import CcxtVenue

_MS = 1_000_000
_MINUTE_MS = 60_000


class NoBars(Exception):
    """The exchange cannot serve the bars asked for (the message says why)."""


def pick_timeframe(
    timeframes: Iterable[str], seconds_of: Callable[[str], int], minutes: int
) -> tuple[str, int] | None:
    """ccxt's name and the length in minutes of the longest timeframe dividing ``minutes``."""
    best: tuple[str, int] | None = None
    for name in timeframes:
        try:
            seconds = int(seconds_of(name))
        except Exception:  # a timeframe ccxt itself cannot parse is not one to ask for
            continue
        if seconds <= 0 or seconds % 60:
            continue
        length = seconds // 60
        if minutes % length == 0 and (best is None or length > best[1]):
            best = (name, length)
    return best


def page_limit(exchange: Any, symbol: str) -> int | None:
    """The most bars one ``fetch_ohlcv`` call returns for ``symbol``'s market type (ccxt's
    ``features``), or None when ccxt does not say (its own default then applies)."""
    market = exchange.market(symbol)
    section: dict[str, Any] = (getattr(exchange, "features", None) or {}).get(
        market.get("type")
    ) or {}
    if "fetchOHLCV" not in section:  # swaps and futures: by linear / inverse
        kind = "linear" if market.get("linear") else "inverse" if market.get("inverse") else ""
        section = section.get(kind) or {}
    limit = (section.get("fetchOHLCV") or {}).get("limit")
    return int(limit) if limit else None


def to_bar(venue: str, symbol: str, length_ns: int, row: Sequence[Any]) -> Bar:
    """One ccxt row ``[ms, open, high, low, close, volume]`` as an exact ``Bar`` (``ts``: the
    open time)."""
    if len(row) < 6 or any(value is None for value in row[:6]):
        raise MalformedReply(f"OHLCV row is not [ms, open, high, low, close, volume]: {row!r}")
    return Bar(
        venue=venue,
        symbol=symbol,
        interval_ns=length_ns,
        open=dec(row[1]),
        high=dec(row[2]),
        low=dec(row[3]),
        close=dec(row[4]),
        volume=dec(row[5]),
        ts=int(row[0]) * _MS,
    )


async def fetch_bars(session: Session, request: FetchBars) -> tuple[int, list[Bar]]:
    """The length served (minutes) and the bars opening in ``[since_ns, until_ns)``."""
    exchange = session.exchange
    if not exchange.has.get("fetchOHLCV"):
        raise NoBars(f"{exchange.id} has no OHLCV history in ccxt")
    timeframes = list(exchange.timeframes or ())
    picked = pick_timeframe(timeframes, exchange.parse_timeframe, request.timeframe_minutes)
    if picked is None:
        raise NoBars(
            f"{exchange.id} has no bars whose length divides {request.timeframe_minutes} "
            f"minutes (it has {', '.join(timeframes) or 'none'})"
        )
    name, minutes = picked
    step = minutes * _MINUTE_MS
    since = -(-request.since_ns // _MS)
    until = -(-request.until_ns // _MS)  # exclusive: a bar opening at ``until`` is not asked for
    limit = page_limit(exchange, request.symbol)
    bars: list[Bar] = []
    cursor, last = since, None
    for _ in range(max(1, (until - since) // step + 1)):  # each page moves on by a bar or more
        if cursor >= until:
            break
        rows = await session.retrying(
            f"fetch OHLCV {request.symbol} {name} since {_iso(cursor)}",
            exchange.fetch_ohlcv,
            request.symbol,
            name,
            cursor,
            limit,
        )
        fresh = [
            row
            for row in rows or ()
            if row and row[0] is not None and cursor <= int(row[0]) < until
        ]
        fresh = [row for row in fresh if last is None or int(row[0]) > last]
        if not fresh:
            break
        fresh.sort(key=lambda row: int(row[0]))
        bars.extend(to_bar(session.venue, request.symbol, step * _MS, row) for row in fresh)
        last = int(fresh[-1][0])
        cursor = last + step
    return minutes, bars


def serve(venue: CcxtVenue, request: FetchBars) -> None:
    """Answer ``request`` on the venue's loop; the answer goes out on the venue's own thread."""
    session = venue.session
    if session is None or session.exchange is None:
        venue.bars_fetched(request, error=f"venue {venue.venue} is not connected")
        return

    def done(result: tuple[int, list[Bar]]) -> None:
        minutes, bars = result
        venue.bars_fetched(request, bars, timeframe_minutes=minutes)

    def failed(exc: BaseException) -> None:
        why = str(exc) if isinstance(exc, NoBars) else session.describe(exc)
        venue.bars_fetched(request, error=f"venue {venue.venue} cannot serve bars: {why}")

    venue.run_async(fetch_bars(session, request), then=done, failed=failed)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")
