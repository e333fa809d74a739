"""One venue's L2 order book, exact: ``Decimal`` prices and sizes, levels kept sorted.

There is one book per (venue, symbol) in a node (``node.market.MarketState``): the venue that
receives the data writes it, and the router, risk, the portfolio and executors read it. Writes
and multi-level reads take the book's lock, so a reader on another thread never sees a half-applied
update. Each side keeps a price → size dict and a sorted list of its prices (``bisect``): an
update of an existing level is a dict write, a new or vanished level one ``bisect`` and a list
insert/delete, the best price an index, and a sweep walks the list from the top.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, insort
from collections.abc import Iterable
from decimal import Decimal

from node.messages import BookDeltas, BookLevel, BookSnapshot, Side

_ZERO = Decimal(0)


def precision_of(step: Decimal) -> int:
    """Decimal places of a tick or lot size (0.01 → 2)."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -int(exponent))


class BookSide:
    """One side's levels: ``sizes`` by price and ``prices`` ascending."""

    __slots__ = ("prices", "sizes")

    def __init__(self) -> None:
        self.sizes: dict[Decimal, Decimal] = {}
        self.prices: list[Decimal] = []

    def set(self, price: Decimal, size: Decimal) -> None:
        sizes = self.sizes
        if size:
            if price not in sizes:
                insort(self.prices, price)
            sizes[price] = size
        elif sizes.pop(price, None) is not None:
            prices = self.prices
            del prices[bisect_left(prices, price)]

    def update(self, levels: Iterable[BookLevel]) -> None:
        """Absolute sizes for several levels (``set`` for each, inlined: this is the hot path
        of a replay, a few dozen levels per depth message)."""
        sizes, prices = self.sizes, self.prices
        for level in levels:
            price, size = level.price, level.size
            if size:
                if price not in sizes:
                    insort(prices, price)
                sizes[price] = size
            elif price in sizes:
                del sizes[price]
                del prices[bisect_left(prices, price)]

    def replace(self, levels: Iterable[BookLevel]) -> None:
        """The whole side at once; levels at the same price are summed, never dropped."""
        sizes: dict[Decimal, Decimal] = {}
        for level in levels:
            if level.size:
                sizes[level.price] = sizes.get(level.price, _ZERO) + level.size
        self.sizes = sizes
        self.prices = sorted(sizes)


class L2Book:
    """Aggregated price levels of one instrument on one venue.

    ``version`` is bumped on every change (readers cache what they derive from a book by it);
    ``received_ns`` is when the venue last heard from the market about it (staleness), and a
    ``static`` book (a recorded snapshot with no stream behind it) never goes stale.
    """

    __slots__ = (
        "asks",
        "bids",
        "lock",
        "received_ns",
        "sequence",
        "static",
        "symbol",
        "ts_last",
        "venue",
        "version",
    )

    def __init__(self, venue: str, symbol: str) -> None:
        self.venue = venue
        self.symbol = symbol
        self.bids = BookSide()
        self.asks = BookSide()
        self.lock = threading.Lock()
        self.ts_last = 0
        self.received_ns = 0
        self.sequence = 0
        self.version = 0
        self.static = False

    # -- updates --------------------------------------------------------------------------------

    def apply(self, message: BookSnapshot | BookDeltas, received_ns: int | None = None) -> None:
        with self.lock:
            if message.__class__ is BookSnapshot:
                self.bids.replace(message.bids)
                self.asks.replace(message.asks)
            else:
                self.bids.update(message.bids)
                self.asks.update(message.asks)
            self.ts_last = message.ts
            self.sequence = message.sequence
            self.received_ns = message.ts if received_ns is None else received_ns
            self.version += 1

    def set_level(self, side: Side, price: Decimal, size: Decimal, ts: int) -> None:
        """Set a level's absolute size (0 removes it). ``side`` is the resting side: buy = bid."""
        with self.lock:
            (self.bids if side == "buy" else self.asks).set(price, size)
            if ts > self.ts_last:
                self.ts_last = ts
            self.version += 1

    # -- reads ----------------------------------------------------------------------------------

    def best(self, side: Side) -> Decimal | None:
        """Best resting price on ``side`` (buy = best bid, sell = best ask)."""
        with self.lock:
            if side == "buy":
                prices = self.bids.prices
                return prices[-1] if prices else None
            prices = self.asks.prices
            return prices[0] if prices else None

    @property
    def best_bid(self) -> Decimal | None:
        return self.best("buy")

    @property
    def best_ask(self) -> Decimal | None:
        return self.best("sell")

    def top(self) -> tuple[Decimal | None, Decimal | None]:
        """Best bid and best ask, read together."""
        with self.lock:
            bids, asks = self.bids.prices, self.asks.prices
            return (bids[-1] if bids else None, asks[0] if asks else None)

    def mid(self) -> Decimal | None:
        bid, ask = self.top()
        if bid is None or ask is None:
            return None
        return (bid + ask) / 2

    def size_at(self, side: Side, price: Decimal) -> Decimal:
        return (self.bids if side == "buy" else self.asks).sizes.get(price, _ZERO)

    def is_empty(self) -> bool:
        return not (self.bids.sizes or self.asks.sizes)

    def sweep(
        self, taker_side: Side, quantity: Decimal, limit: Decimal | None = None
    ) -> list[BookLevel]:
        """The resting levels a taker order of ``quantity`` would meet, best first, with their
        full sizes (the last one may be larger than what is left to fill), within ``limit``."""
        out: list[BookLevel] = []
        if quantity <= 0:
            return out
        left = quantity
        with self.lock:
            if taker_side == "buy":
                sizes, prices = self.asks.sizes, self.asks.prices
                walk: Iterable[Decimal] = prices
            else:
                sizes, prices = self.bids.sizes, self.bids.prices
                walk = reversed(prices)
            for price in walk:
                if limit is not None and (price > limit if taker_side == "buy" else price < limit):
                    break
                size = sizes[price]
                out.append(BookLevel(price, size))
                left -= size
                if left <= 0:
                    break
        return out

    def levels(self, side: Side, depth: int | None = None) -> list[BookLevel]:
        """The levels of one side, best first (``side`` buy = bids), at most ``depth``."""
        with self.lock:
            book_side = self.bids if side == "buy" else self.asks
            prices = book_side.prices[::-1] if side == "buy" else book_side.prices
            if depth is not None:
                prices = prices[:depth]
            return [BookLevel(p, book_side.sizes[p]) for p in prices]

    def snapshot(self) -> BookSnapshot:
        """The whole book as a message (best first on each side), as of its last update."""
        return BookSnapshot(
            venue=self.venue,
            symbol=self.symbol,
            bids=self.levels("buy"),
            asks=self.levels("sell"),
            sequence=self.sequence,
            ts=self.ts_last,
        )
