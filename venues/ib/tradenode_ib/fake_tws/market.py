"""Order books and the price path that moves them.

Each instrument has a small L2 book (``depth_sizes`` levels a tick apart) around its quote. The
book is either fixed (every step only replenishes what fills took) or follows a deterministic
random walk: with a seed, the same sequence of steps gives the same quotes, sizes and trades on
every run, whatever the timing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal

from .universe import Instrument, Universe

D = Decimal


@dataclass(slots=True)
class Level:
    price: Decimal
    size: Decimal


@dataclass(slots=True)
class Book:
    """One instrument's book (best level first on each side) and its last trade."""

    instrument: Instrument
    bids: list[Level]
    asks: list[Level]
    close: Decimal
    last: Decimal | None = None
    last_size: Decimal = Decimal(0)
    volume: Decimal = Decimal(0)

    @property
    def bid(self) -> Level | None:
        return self.bids[0] if self.bids else None

    @property
    def ask(self) -> Level | None:
        return self.asks[0] if self.asks else None

    def mark(self) -> Decimal:
        """Mid of the top of book (the last trade or close when a side is empty)."""
        if self.bids and self.asks:
            return (self.bids[0].price + self.asks[0].price) / 2
        return self.last if self.last is not None else self.close

    def record_trade(self, price: Decimal, size: Decimal) -> None:
        self.last, self.last_size = price, size
        self.volume += size


@dataclass(frozen=True, slots=True)
class PriceModel:
    """``seed=None``: a fixed book. A seed: a random walk of ``step_ticks`` per step."""

    seed: int | None = None
    step_ticks: int = 1


@dataclass(slots=True)
class _Walk:
    rng: random.Random
    bid_ticks: int
    spread_ticks: int
    sizes: tuple[Decimal, ...] = field(default_factory=tuple)


class Market:
    """The books of a universe under one price model."""

    def __init__(self, universe: Universe, model: PriceModel) -> None:
        self._model = model
        self._walks: dict[int, _Walk] = {}
        self.books: dict[int, Book] = {}
        for instrument in universe:
            tick = instrument.min_tick
            bid_ticks = int(instrument.bid / tick)
            spread = max(1, int((instrument.ask - instrument.bid) / tick))
            rng = random.Random(f"{model.seed}:{instrument.con_id}")
            walk = _Walk(rng, bid_ticks, spread, instrument.depth_sizes)
            self._walks[instrument.con_id] = walk
            self.books[instrument.con_id] = Book(instrument, [], [], close=instrument.bid)
            self._rebuild(instrument.con_id)

    def book(self, con_id: int) -> Book:
        return self.books[con_id]

    def step(self) -> None:
        """Advance every book one step of the price path."""
        for con_id, walk in self._walks.items():
            if self._model.seed is not None:
                self._walk(con_id, walk)
            self._rebuild(con_id)

    def set_quote(self, con_id: int, bid: Decimal, ask: Decimal) -> None:
        """Move an instrument's top of book (a test or operator steering the price path)."""
        instrument = self.books[con_id].instrument
        tick = instrument.min_tick
        if not (instrument.on_tick(bid) and instrument.on_tick(ask)) or ask <= bid or bid <= 0:
            raise ValueError(f"bad quote {bid}/{ask} for {instrument.local_symbol} (tick {tick})")
        walk = self._walks[con_id]
        walk.bid_ticks = int(bid / tick)
        walk.spread_ticks = int((ask - bid) / tick)
        self._rebuild(con_id)

    def _walk(self, con_id: int, walk: _Walk) -> None:
        book = self.books[con_id]
        move = walk.rng.choice((-1, 0, 1)) * self._model.step_ticks
        previous = (book.bid, book.ask)
        walk.bid_ticks = max(1, walk.bid_ticks + move)
        walk.sizes = tuple(
            _round_to(size * D(walk.rng.randint(50, 150)) / 100, book.instrument.size_increment)
            for size in book.instrument.depth_sizes
        )
        if move and previous[0] and previous[1]:
            # the move prints a trade on the side it went through
            hit = previous[1] if move > 0 else previous[0]
            book.record_trade(
                hit.price, _round_to(walk.sizes[0] / 4, book.instrument.size_increment)
            )

    def _rebuild(self, con_id: int) -> None:
        walk = self._walks[con_id]
        book = self.books[con_id]
        tick = book.instrument.min_tick
        ask_ticks = walk.bid_ticks + walk.spread_ticks
        book.bids = [
            Level((walk.bid_ticks - i) * tick, size)
            for i, size in enumerate(walk.sizes)
            if walk.bid_ticks - i > 0
        ]
        book.asks = [Level((ask_ticks + i) * tick, size) for i, size in enumerate(walk.sizes)]


def _round_to(value: Decimal, increment: Decimal) -> Decimal:
    return max(increment, (value / increment).to_integral_value() * increment)
