"""Generated stock quotes, prints and minute bars: the market the loopback's orders trade against.

Each symbol's mid follows a geometric random walk drawn from its own seeded generator, so the
path depends only on the seed, the symbol and the sequence of tick instants. Quotes sit on
Alpaca's price grid (0.01 at or above $1, 0.0001 below) with a spread of one to three ticks and
round-lot sizes; a print (a trade by someone else) happens at the bid or ask on some ticks.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from decimal import Decimal

CENT = Decimal("0.01")
SUB_PENNY = Decimal("0.0001")
MINUTE_NS = 60 * 1_000_000_000


def tick_size(price: Decimal) -> Decimal:
    """Alpaca's minimum price increment for U.S. stocks at this price."""
    return CENT if price >= 1 else SUB_PENNY


@dataclass(frozen=True, slots=True)
class Quote:
    symbol: str
    t_ns: int
    bid: Decimal
    bid_size: int
    ask: Decimal
    ask_size: int


@dataclass(frozen=True, slots=True)
class Print:
    symbol: str
    t_ns: int
    price: Decimal
    size: int
    trade_id: int


@dataclass(frozen=True, slots=True)
class Bar:
    symbol: str
    t_ns: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int
    trade_count: int
    vwap: Decimal


@dataclass
class _BarBuilder:
    start_ns: int
    prints: list[Print] = field(default_factory=list)

    def bar(self, symbol: str) -> Bar:
        prices = [p.price for p in self.prints]
        volume = sum(p.size for p in self.prints)
        vwap = sum(p.price * p.size for p in self.prints) / volume
        return Bar(
            symbol,
            self.start_ns,
            prices[0],
            max(prices),
            min(prices),
            prices[-1],
            volume,
            len(prices),
            vwap.quantize(SUB_PENNY),
        )


class QuoteWalk:
    """One symbol's quote path and its minute bars."""

    def __init__(
        self, symbol: str, start_price: Decimal, *, seed: int, t_ns: int, volatility: float
    ) -> None:
        self.symbol = symbol
        self._rng = random.Random(f"{seed}:{symbol}")
        self._volatility = volatility
        self._mid = float(start_price)
        self._trade_id = 0
        self._bar: _BarBuilder | None = None
        self.quote = self._quote(t_ns)
        self.last_price = start_price

    def _draw(self, n: int) -> int:
        """1..n, uniformly (cheaper than ``randint`` on this hot path)."""
        return 1 + int(self._rng.random() * n)

    def _quote(self, t_ns: int) -> Quote:
        cents = self._mid >= 1
        tick, tick_f, lot = (CENT, 0.01, 100) if cents else (SUB_PENNY, 0.0001, 1000)
        spread = self._draw(3)
        bid_ticks = max(1, math.floor((self._mid - spread * tick_f / 2) / tick_f))
        return Quote(
            self.symbol,
            t_ns,
            tick * bid_ticks,
            self._draw(8) * lot,
            tick * (bid_ticks + spread),
            self._draw(8) * lot,
        )

    def step(self, t_ns: int, dt_seconds: float) -> tuple[Quote, Print | None, Bar | None]:
        """Move to ``t_ns``; return the new quote, a print if one happened, and the minute bar
        that this tick completed, if any."""
        shock = self._rng.gauss(0.0, 1.0) * self._volatility * math.sqrt(max(dt_seconds, 1e-9))
        self._mid *= math.exp(shock)
        self.quote = self._quote(t_ns)
        completed = self._roll_bar(t_ns)
        printed = None
        if self._rng.random() < 0.4:
            self._trade_id += 1
            price = self.quote.ask if self._rng.random() < 0.5 else self.quote.bid
            lot = 100 if tick_size(price) == CENT else 1000
            printed = Print(self.symbol, t_ns, price, self._draw(5) * lot, self._trade_id)
            self.last_price = price
            assert self._bar is not None
            self._bar.prints.append(printed)
        return self.quote, printed, completed

    def _roll_bar(self, t_ns: int) -> Bar | None:
        start = t_ns - t_ns % MINUTE_NS
        if self._bar is not None and self._bar.start_ns == start:
            return None
        finished, self._bar = self._bar, _BarBuilder(start)
        if finished is None or not finished.prints:
            return None
        return finished.bar(self.symbol)

    def pin(self, mid: Decimal, t_ns: int) -> Quote:
        """Move the mid to ``mid`` at once: lets a test put a price where an order must react."""
        self._mid = float(mid)
        self.quote = self._quote(t_ns)
        return self.quote

    def mark(self, price: Decimal) -> None:
        """Our own fills are trades too: they set the last price used to value positions."""
        self.last_price = price
