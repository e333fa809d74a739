"""Full-depth multi-exchange books from runeksvendsen/order-graph (``run1-1.json``).

The file is a JSON list of ``{venue, base, quote, bids, asks}`` with each level's price and
quantity as exact rationals ``{numerator, denominator}``. It has no timestamps: every book is one
snapshot at time 0.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from pathlib import Path

import msgspec

from node.messages import BookLevel, BookSnapshot
from tradenode_sim.sources.errors import SourceError


class _Rational(msgspec.Struct):
    numerator: int
    denominator: int


class _Level(msgspec.Struct):
    price: _Rational
    qty: _Rational


class _Book(msgspec.Struct):
    venue: str
    base: str
    quote: str
    bids: list[_Level]
    asks: list[_Level]


def _exact(r: _Rational, path: Path, what: str) -> Decimal:
    """A rational as an exact Decimal; refuses a non-terminating one instead of rounding."""
    d = r.denominator
    if d <= 0:
        raise SourceError(path, None, f"{what}: denominator {d} is not positive")
    twos = fives = 0
    while d % 2 == 0:
        d //= 2
        twos += 1
    while d % 5 == 0:
        d //= 5
        fives += 1
    if d != 1:
        raise SourceError(path, None, f"{what}: {r.numerator}/{r.denominator} has no exact decimal")
    scale = max(twos, fives)
    return Decimal(r.numerator * (10**scale // r.denominator)).scaleb(-scale)


class _Header(msgspec.Struct):
    venue: str
    base: str
    quote: str


def order_graph_books(path: str | Path) -> frozenset[tuple[str, str]]:
    """The (venue, ``BASE/QUOTE``) books the file holds, without reading their levels (what
    ``tradenode check`` asks of it, once per file however many venues read it)."""
    path = Path(path)
    stat = path.stat()
    return _books(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=16)
def _books(path: Path, mtime_ns: int, size: int) -> frozenset[tuple[str, str]]:
    try:
        books = msgspec.json.decode(path.read_bytes(), type=list[_Header])
    except msgspec.DecodeError as exc:
        raise SourceError(path, None, f"not an order-graph book file: {exc}") from None
    return frozenset((b.venue, f"{b.base}/{b.quote}") for b in books)


def load_order_graph(path: str | Path) -> list[BookSnapshot]:
    """Every book in the file, as snapshots at ts 0 with symbol ``BASE/QUOTE``, best level first."""
    path = Path(path)
    try:
        books = msgspec.json.decode(path.read_bytes(), type=list[_Book])
    except msgspec.DecodeError as exc:
        raise SourceError(path, None, f"not an order-graph book file: {exc}") from None
    snapshots = []
    for book in books:
        symbol = f"{book.base}/{book.quote}"
        where = f"{book.venue} {symbol}"
        bids = [
            BookLevel(_exact(lv.price, path, where), _exact(lv.qty, path, where))
            for lv in book.bids
        ]
        asks = [
            BookLevel(_exact(lv.price, path, where), _exact(lv.qty, path, where))
            for lv in book.asks
        ]
        bids.sort(key=lambda lv: lv.price, reverse=True)
        asks.sort(key=lambda lv: lv.price)
        snapshots.append(BookSnapshot(venue=book.venue, symbol=symbol, bids=bids, asks=asks, ts=0))
    return snapshots
