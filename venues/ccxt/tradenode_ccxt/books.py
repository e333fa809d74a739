"""ccxt's order book → the node's one book of that (venue, symbol).

ccxt (websocket or REST) hands over its whole book each time; the node's book takes only what
changed in the top ``depth`` levels (a dict compare of ccxt's floats, Decimals made only for the
levels that changed), so an update costs what changed, not the book's depth. The first update,
and the first after ``reset`` (a gap, a reconnect), replaces the book whole.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from node.book import L2Book
from node.messages import BookDeltas, BookLevel, BookSnapshot
from tradenode_ccxt.convert import ZERO as _ZERO
from tradenode_ccxt.convert import dec

#: prices recur near the top of a book; past this many the cache starts again (each entry, a
#: float and its Decimal, is ~150 bytes: a few MiB per symbol at most, on a live node that runs
#: for weeks while the price wanders)
_MAX_CACHED_PRICES = 20_000


class BookFeed:
    def __init__(self, book: L2Book, depth: int) -> None:
        self.book = book
        self.depth = depth
        self._bids: dict[Any, Any] | None = None
        self._asks: dict[Any, Any] = {}
        self._prices: dict[Any, Decimal] = {}  # prices recur: each made a Decimal once

    def reset(self) -> None:
        """The next update replaces the book (the stream lost its place)."""
        self._bids = None

    def update(self, ccxt_book: dict[str, Any], now_ns: int) -> BookSnapshot | None:
        """Apply ccxt's book; returns the snapshot when the book was replaced whole."""
        bids = _levels(ccxt_book["bids"], self.depth)
        asks = _levels(ccxt_book["asks"], self.depth)
        sequence = int(ccxt_book.get("nonce") or 0)
        if self._bids is None:
            snapshot = BookSnapshot(
                venue=self.book.venue,
                symbol=self.book.symbol,
                bids=[BookLevel(dec(p), dec(s)) for p, s in sorted(bids.items(), reverse=True)],
                asks=[BookLevel(dec(p), dec(s)) for p, s in sorted(asks.items())],
                sequence=sequence,
                ts=now_ns,
            )
            self.book.apply(snapshot, now_ns)
            self._bids, self._asks = bids, asks
            return snapshot
        if len(self._prices) > _MAX_CACHED_PRICES:
            self._prices.clear()
        deltas = BookDeltas(
            venue=self.book.venue,
            symbol=self.book.symbol,
            bids=self._changes(self._bids, bids),
            asks=self._changes(self._asks, asks),
            sequence=sequence,
            ts=now_ns,
        )
        self.book.apply(deltas, now_ns)
        self._bids, self._asks = bids, asks
        return None

    def _changes(self, old: dict[Any, Any], new: dict[Any, Any]) -> list[BookLevel]:
        """Levels whose size changed (absolute sizes), and removed levels with size 0."""
        get, prices = old.get, self._prices
        out = []
        for p, s in new.items():
            if get(p) != s:
                price = prices.get(p)
                if price is None:
                    price = prices[p] = dec(p)
                out.append(BookLevel(price, dec(s)))
        out.extend(BookLevel(prices.get(p) or dec(p), _ZERO) for p in old if p not in new)
        return out


def _levels(side: Any, depth: int) -> dict[Any, Any]:
    """ccxt's ``[[price, amount], …]`` as price → amount (an entry with a count or an order id
    after the amount keeps the first two)."""
    top = side[:depth]
    try:
        return dict(top)
    except (TypeError, ValueError):
        return {level[0]: level[1] for level in top}
