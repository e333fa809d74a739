"""Which recorded book format a file is, and the books it ends with.

``tradenode route`` asks "where would this order go" against books read from a file; it does not
care whether the file is an order-graph book list, a Binance WebSocket capture or a Binance
diff-depth CSV. Each format is a ``BookFileReader`` (``ORDER_GRAPH``, ``BINANCE_STREAM``,
``BINANCE_DEPTH_CSV``) with ``matches(path)`` (by content: the first bytes, gunzipped if need be)
and ``load_books(path)``; a plugin registers them through ``tradenode_register_book_sources``.
For formats that replay updates, the book returned is the state after the whole file.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from node.book import L2Book
from node.messages import BookDeltas, BookSnapshot, MarketData
from tradenode_sim.sources.binance_csv import HEADER_LINE, read_binance_depth_csv
from tradenode_sim.sources.binance_stream import read_binance_stream, stream_symbol
from tradenode_sim.sources.errors import SourceError
from tradenode_sim.sources.order_graph import load_order_graph

DEFAULT_VENUE = "binance"
DEFAULT_SYMBOL = "BTC/USDT"
QUOTE_SUFFIXES = ("USDT", "USDC", "BUSD", "BTC", "ETH")
_HEAD = 4096


def unified_symbol(venue_symbol: str) -> str:
    """``BTCUSDT`` -> ``BTC/USDT`` for the quote currencies in ``QUOTE_SUFFIXES``; any other
    symbol (``BTCUSD_PERP``) is returned upper-cased as it is rather than guessed."""
    s = venue_symbol.upper()
    for quote in QUOTE_SUFFIXES:
        if s.endswith(quote) and len(s) > len(quote) and s[: -len(quote)].isalnum():
            return f"{s[: -len(quote)]}/{quote}"
    return s


def _head(path: Path) -> bytes:
    """The first bytes of the file's content, gunzipped when it is gzip; b"" if unreadable."""
    try:
        with path.open("rb") as f:
            head = f.read(_HEAD)
        if head[:2] == b"\x1f\x8b":
            with gzip.open(path, "rb") as g:
                head = g.read(_HEAD)
    except (OSError, EOFError, zlib.error):
        return b""
    return head


def _first_line(path: Path) -> bytes:
    return _head(path).split(b"\n", 1)[0].strip()


def final_book(messages: Iterable[MarketData], *, venue: str, symbol: str) -> BookSnapshot | None:
    """The book after applying every snapshot and delta in ``messages``; None if none came."""
    book = L2Book(venue, symbol)
    for msg in messages:
        if isinstance(msg, (BookSnapshot, BookDeltas)):
            book.apply(msg)
    return book.snapshot() if book.version else None


# --------------------------------------------------------------------------------------------
# The formats


@dataclass(frozen=True)
class BookFileReader:
    """One recorded-book file format: ``matches(path)`` and ``load_books(path)``."""

    name: str
    description: str
    _matches: Callable[[Path], bool]
    _load: Callable[[Path, str], list[BookSnapshot]]

    def matches(self, path: str | Path) -> bool:
        """Whether the file's content looks like this format (no full read)."""
        return self._matches(Path(path))

    def load_books(self, path: str | Path, *, venue: str = DEFAULT_VENUE) -> list[BookSnapshot]:
        """The books the file ends with, best level first. ``venue`` names the venue for formats
        that do not carry one (Binance captures); order-graph books name their own."""
        return self._load(Path(path), venue)


def _is_order_graph(path: Path) -> bool:
    head = _head(path).lstrip()
    return head.startswith(b"[") and b'"numerator"' in head and b'"denominator"' in head


def _load_order_graph(path: Path, venue: str) -> list[BookSnapshot]:
    return load_order_graph(path)


def _is_binance_stream(path: Path) -> bool:
    ts, _, rest = _first_line(path).partition(b" ")
    return ts.isdigit() and rest.startswith(b"{")


def _load_binance_stream(path: Path, venue: str) -> list[BookSnapshot]:
    found = stream_symbol(path)
    symbol = unified_symbol(found) if found else DEFAULT_SYMBOL
    book = final_book(
        read_binance_stream([path], venue=venue, symbol=symbol), venue=venue, symbol=symbol
    )
    if book is None:
        raise SourceError(
            path,
            None,
            "no depth snapshot in the capture (a file that continues an earlier one has none)",
        )
    return [book]


def _is_binance_depth_csv(path: Path) -> bool:
    return _first_line(path).lstrip(b"\xef\xbb\xbf").decode("utf-8", "replace") == HEADER_LINE


def _load_binance_depth_csv(path: Path, venue: str) -> list[BookSnapshot]:
    symbol = DEFAULT_SYMBOL
    lines = _head(path).split(b"\n")
    if len(lines) > 1 and lines[1].strip():
        symbol = unified_symbol(lines[1].split(b",", 1)[0].decode("utf-8", "replace").strip())
    msgs = read_binance_depth_csv([path], venue=venue, symbol=symbol)
    book = final_book(msgs, venue=venue, symbol=symbol)
    if book is None:
        raise SourceError(path, None, "no 'snap' rows: updates alone are not a book")
    return [book]


ORDER_GRAPH = BookFileReader(
    "order-graph",
    "JSON list of {venue, base, quote, bids, asks} with rational levels",
    _is_order_graph,
    _load_order_graph,
)
BINANCE_STREAM = BookFileReader(
    "binance-stream",
    "raw Binance WebSocket capture '<local_receive_ns> <json>' per line (gzip or text)",
    _is_binance_stream,
    _load_binance_stream,
)
BINANCE_DEPTH_CSV = BookFileReader(
    "binance-depth-csv",
    f"Binance diff-depth CSV with header {HEADER_LINE}",
    _is_binance_depth_csv,
    _load_binance_depth_csv,
)
READERS: tuple[BookFileReader, ...] = (ORDER_GRAPH, BINANCE_STREAM, BINANCE_DEPTH_CSV)


def detect(path: str | Path) -> BookFileReader:
    """The reader for the file's format; ``SourceError`` naming the file if none fits."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(path, None, "no such file")
    for reader in READERS:
        if reader.matches(path):
            return reader
    names = ", ".join(r.name for r in READERS)
    raise SourceError(path, None, f"unknown format: not any of {names}")


def load_books(path: str | Path, *, venue: str = DEFAULT_VENUE) -> list[BookSnapshot]:
    """The books a recorded file ends with, whatever its format (see ``READERS``)."""
    return detect(path).load_books(path, venue=venue)
