"""One venue's L2 order book, exact: ``Decimal`` prices and sizes, levels kept sorted.

There is one book per (venue, symbol) in a node (``node.market.MarketState``): the venue that
receives the data writes it, and the router, risk, the portfolio and executors read it. Writes
and multi-level reads take the book's lock, so a reader on another thread never sees a
half-applied update; the best bid and ask are also kept as one pair, set under the lock, which
``top`` returns without taking it.

Each side keeps a price → size dict (the levels: the truth) and its best price. Only the prices
near the best are kept sorted (``near``, a ``bisect`` list); the deeper ones (``far``, past
``edge``) are a set, sorted only when a read walks that deep or the near ones run out. On a
full-depth feed half the new prices arrive deep in the book, where a sorted insert into
thousands of prices was most of the cost of a replay; deep there is one set add.

The near list may also hold prices whose level has gone ("stale", kept in a set): an update of
an existing level is a dict write, a vanished level a dict delete and a set add, a level that
comes back at a stale price a set removal, and only a price the list has not got costs a
``bisect`` and a list insert. Levels come and go at the same prices all the time. Stale prices
are dropped once they outnumber the live ones. A read walks the near list from the best price,
skipping stale prices, then the far prices in order.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from decimal import Decimal

from node.messages import BookDeltas, BookLevel, BookSnapshot, Side

_ZERO = Decimal(0)


def precision_of(step: Decimal) -> int:
    """Decimal places of a tick or lot size (0.01 → 2)."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -int(exponent))


class BookSide:
    """One side's levels: ``sizes`` by price and ``best`` (the highest bid or the lowest ask);
    ``near``, ascending, holds every live price up to ``edge`` (and stale ones, in ``stale``),
    ``far`` the live prices past it (see the module docstring). Read the levels through
    ``L2Book``."""

    __slots__ = ("best", "bid", "edge", "far", "near", "sizes", "stale")

    #: near prices kept sorted at most; past that the deeper half moves to ``far``
    NEAR = 512

    def __init__(self, bid: bool) -> None:
        self.bid = bid
        self.sizes: dict[Decimal, Decimal] = {}
        self.best: Decimal | None = None
        self._reset()

    def _reset(self) -> None:
        self.near: list[Decimal] = []
        self.stale: set[Decimal] = set()
        self.far: set[Decimal] = set()
        #: the deepest price ``near`` covers; None: it covers everything (``far`` is empty)
        self.edge: Decimal | None = None

    def set(self, price: Decimal, size: Decimal) -> None:
        self.update((BookLevel(price, size),))

    def update(self, levels: Iterable[BookLevel]) -> None:
        """Absolute sizes for several levels (0 removes one). The hot path of a replay: a few
        dozen levels per depth message."""
        sizes, near, stale, far = self.sizes, self.near, self.stale, self.far
        best, bid, edge = self.best, self.bid, self.edge
        for level in levels:
            price, size = level.price, level.size
            if size:
                if price not in sizes:
                    if price in stale:
                        stale.remove(price)
                    elif edge is not None and (price < edge if bid else price > edge):
                        far.add(price)
                    else:
                        insort(near, price)
                    if best is None or (price > best if bid else price < best):
                        best = price
                sizes[price] = size
            elif sizes.pop(price, None) is not None:
                if price in far:
                    far.remove(price)
                else:
                    stale.add(price)
        if not sizes:
            self._reset()
            best = None
        else:
            if len(stale) > len(near) - len(stale) + 64:
                self.near = [p for p in near if p in sizes]
                stale.clear()
            if best not in sizes:
                best = self._next_best(best)  # type: ignore[arg-type]
        if len(self.near) > self.NEAR:
            self._split()
        self.best = best

    def _next_best(self, gone: Decimal) -> Decimal | None:
        """The best live price once ``gone`` (the best) went: the first live near price past
        it (``best`` is never worse than a live price; ``gone`` may still be in the list as a
        stale price, or dropped with the others)."""
        near, sizes = self.near, self.sizes
        if self.bid:
            for i in range(bisect_left(near, gone) - 1, -1, -1):
                if near[i] in sizes:
                    return near[i]
        else:
            for i in range(bisect_right(near, gone), len(near)):
                if near[i] in sizes:
                    return near[i]
        return self._refill()

    def _refill(self) -> Decimal | None:
        """No live price is left near: the best of the far ones become the near list."""
        far = self.far
        if not far:
            return None
        half = self.NEAR // 2
        moved = heapq.nlargest(half, far) if self.bid else heapq.nsmallest(half, far)
        far.difference_update(moved)
        moved.sort()
        self.near, self.stale = moved, set()
        self.edge = (moved[0] if self.bid else moved[-1]) if far else None
        return moved[-1] if self.bid else moved[0]

    def _split(self) -> None:
        """Keep the best half of the near list sorted; the deeper half's live prices go far."""
        near, sizes, stale, half = self.near, self.sizes, self.stale, self.NEAR // 2
        if self.bid:
            deep, self.near = near[:-half], near[-half:]
            self.edge = self.near[0]
        else:
            deep, self.near = near[half:], near[:half]
            self.edge = self.near[-1]
        for price in deep:
            if price in sizes:
                self.far.add(price)
            else:
                stale.discard(price)

    def replace(self, levels: Iterable[BookLevel]) -> None:
        """The whole side at once; levels at the same price are summed, never dropped."""
        sizes: dict[Decimal, Decimal] = {}
        for level in levels:
            if level.size:
                sizes[level.price] = sizes.get(level.price, _ZERO) + level.size
        self.sizes = sizes
        self._reset()
        self.near = prices = sorted(sizes)
        self.best = (prices[-1] if self.bid else prices[0]) if prices else None
        if len(prices) > self.NEAR:
            self._split()

    def walk(self) -> Iterator[tuple[Decimal, Decimal]]:
        """(price, size) of each level, best first."""
        sizes = self.sizes
        for price in reversed(self.near) if self.bid else self.near:
            size = sizes.get(price)
            if size is not None:
                yield price, size
        if self.far:
            for price in sorted(self.far, reverse=self.bid):
                yield price, sizes[price]


class L2Book:
    """Aggregated price levels of one instrument on one venue.

    ``version`` is bumped on every change (readers cache what they derive from a book by it);
    ``received_ns`` is when the venue last heard from the market about it (staleness), and a
    ``static`` book (a recorded snapshot with no stream behind it) never goes stale.
    """

    __slots__ = (
        "_top",
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
        self.bids = BookSide(bid=True)
        self.asks = BookSide(bid=False)
        self.lock = threading.Lock()
        #: (best bid, best ask) as of the last change, set under the lock: a reader gets the two
        #: prices of one moment without taking it (strategies read it on every update)
        self._top: tuple[Decimal | None, Decimal | None] = (None, None)
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
            self._top = (self.bids.best, self.asks.best)
            self.ts_last = message.ts
            self.sequence = message.sequence
            self.received_ns = message.ts if received_ns is None else received_ns
            self.version += 1

    def set_level(self, side: Side, price: Decimal, size: Decimal, ts: int) -> None:
        """Set a level's absolute size (0 removes it). ``side`` is the resting side: buy = bid."""
        with self.lock:
            (self.bids if side == "buy" else self.asks).set(price, size)
            self._top = (self.bids.best, self.asks.best)
            if ts > self.ts_last:
                self.ts_last = ts
            self.version += 1

    # -- reads ----------------------------------------------------------------------------------

    def best(self, side: Side) -> Decimal | None:
        """Best resting price on ``side`` (buy = best bid, sell = best ask)."""
        return self._top[0] if side == "buy" else self._top[1]

    @property
    def best_bid(self) -> Decimal | None:
        return self.best("buy")

    @property
    def best_ask(self) -> Decimal | None:
        return self.best("sell")

    def top(self) -> tuple[Decimal | None, Decimal | None]:
        """Best bid and best ask, read together."""
        return self._top

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
            for price, size in (self.asks if taker_side == "buy" else self.bids).walk():
                if limit is not None and (price > limit if taker_side == "buy" else price < limit):
                    break
                out.append(BookLevel(price, size))
                left -= size
                if left <= 0:
                    break
        return out

    def levels(self, side: Side, depth: int | None = None) -> list[BookLevel]:
        """The levels of one side, best first (``side`` buy = bids), at most ``depth``."""
        with self.lock:
            walk = (self.bids if side == "buy" else self.asks).walk()
            if depth is not None:
                walk = itertools.islice(walk, depth)
            return [BookLevel(p, s) for p, s in walk]

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
