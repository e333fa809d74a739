"""Generated trading days: every trade of the regular session, and the minute bars they make.

One day of one ticker is a pure function of (seed, ticker, day), so REST aggregates, the
websocket's ``T``/``Q``/``AM`` events and the last-trade endpoint all tell the same story:
a minute bar's open, high, low, close, volume, VWAP and trade count are those of the trades the
websocket sends for that minute.

The day's open follows a daily geometric random walk from the ticker's start price at the
anchor day (overnight gaps included); within the day the log price is a Brownian bridge from
the open to the next day's reference price. Volume follows the U-shaped intraday profile of
U.S. stocks: heavy at the open, light at midday, heavier again into the close.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from functools import cached_property

from .calendar import MINUTE_MS, NS, SESSION_MINUTES, is_trading_day, open_ms, weekday_index
from .config import PolygonConfig, TickerSpec

CACHE_DAYS = 128
MAX_TRADES_PER_MINUTE = 10


@dataclass(frozen=True, slots=True)
class Trade:
    t_ns: int
    price: float
    size: int
    sequence: int
    # The quote in force just before the trade, which the trade hit or lifted.
    bid: float
    bid_size: int
    ask: float
    ask_size: int

    @property
    def trade_id(self) -> str:
        return str(self.sequence)


@dataclass(frozen=True, slots=True)
class MinuteBar:
    """One session minute. The trades are kept compactly (cents, sizes, offsets) and only
    become ``Trade`` objects when the websocket or the last-trade endpoint needs them."""

    t_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: int
    vwap: float
    transactions: int
    first_sequence: int
    cents: tuple[int, ...]
    sizes: tuple[int, ...]
    offsets_ns: tuple[int, ...]

    @property
    def end_ms(self) -> int:
        return self.t_ms + MINUTE_MS

    def trades(self) -> list[Trade]:
        """The minute's trades in time order, each with the quote it traded against: a spread
        of one to three cents, the trade at the ask or the bid (fixed by its sequence number,
        so the same trade always shows the same quote)."""
        start_ns = self.t_ms * 1_000_000
        trades = []
        for j, (cents, size, offset) in enumerate(
            zip(self.cents, self.sizes, self.offsets_ns, strict=True)
        ):
            sequence = self.first_sequence + j
            mix = (sequence * 2_654_435_761) % 4_294_967_296
            spread = 1 + mix % 3
            bid, ask = (cents - spread, cents) if mix & 8 else (cents, cents + spread)
            trades.append(
                Trade(
                    t_ns=start_ns + offset,
                    price=cents / 100,
                    size=size,
                    sequence=sequence,
                    bid=max(bid, 1) / 100,
                    bid_size=100 * (1 + (mix >> 4) % 8),
                    ask=ask / 100,
                    ask_size=100 * (1 + (mix >> 8) % 8),
                )
            )
        return trades


@dataclass(frozen=True)
class DayTape:
    ticker: str
    day: date
    bars: tuple[MinuteBar, ...]

    @cached_property
    def open(self) -> float:
        return self.bars[0].open


def _volume_profile() -> list[float]:
    """Relative volume of each session minute: a U with spikes at the open and the close."""
    weights = []
    for minute in range(SESSION_MINUTES):
        x = (minute + 0.5) / SESSION_MINUTES * 2 - 1
        open_spike = 2.5 * math.exp(-minute / 4)
        close_spike = 1.5 * math.exp(-(SESSION_MINUTES - 1 - minute) / 6)
        weights.append(1 + 2.2 * x * x + open_spike + close_spike)
    total = sum(weights)
    return [w / total for w in weights]


VOLUME_PROFILE = _volume_profile()


def _to_cents(log_price: float) -> int:
    return max(1, int(100 * math.exp(log_price) + 0.5))


class TapeLibrary:
    """Builds trading days on demand and keeps the recent ones."""

    def __init__(self, config: PolygonConfig) -> None:
        self._seed = config.seed
        self.specs = {t.ticker: t for t in config.tickers}
        self._anchor_index = weekday_index(config.anchor_day)
        self._cumulative: dict[str, dict[int, float]] = {t: {0: 0.0} for t in self.specs}
        self._cache: OrderedDict[tuple[str, date], DayTape] = OrderedDict()

    def day(self, ticker: str, day: date) -> DayTape | None:
        """The tape of ``ticker`` on ``day``, or ``None`` on a non-trading day or unknown ticker."""
        spec = self.specs.get(ticker)
        if spec is None or not is_trading_day(day):
            return None
        key = (ticker, day)
        tape = self._cache.get(key)
        if tape is None:
            tape = self._build(spec, day)
            self._cache[key] = tape
            if len(self._cache) > CACHE_DAYS:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return tape

    def _shock_sum(self, ticker: str, index: int) -> float:
        """Sum of the daily shocks between the anchor day and trading day ``index``."""
        sums = self._cumulative[ticker]
        if index not in sums:
            step = 1 if index > 0 else -1
            k = index
            while k not in sums:
                k -= step
            total = sums[k]
            while k != index:
                k += step
                # Day k's shock moves day k-1 to day k; walking back, undo day k+1's.
                shock_day = k if step > 0 else k + 1
                total += step * random.Random(f"{self._seed}:{ticker}:day:{shock_day}").gauss()
                sums[k] = total
        return sums[index]

    def reference_price(self, spec: TickerSpec, index: int) -> float:
        """The open the daily walk assigns to trading day ``index`` (relative to the anchor)."""
        drift = self._shock_sum(spec.ticker, index) * spec.daily_volatility
        return spec.start_price * math.exp(drift)

    def _build(self, spec: TickerSpec, day: date) -> DayTape:
        index = weekday_index(day) - self._anchor_index
        rng = random.Random(f"{self._seed}:{spec.ticker}:{day.isoformat()}")
        gauss, uniform, exponential = rng.gauss, rng.random, rng.expovariate
        sigma = spec.daily_volatility / math.sqrt(SESSION_MINUTES)
        gap = 0.002 * gauss() if index != 0 else 0.0
        log_open = math.log(self.reference_price(spec, index)) + gap
        log_close = math.log(self.reference_price(spec, index + 1))
        walk = [0.0]
        for _ in range(SESSION_MINUTES):
            walk.append(walk[-1] + gauss() * sigma)
        drift = (log_close - log_open - walk[-1]) / SESSION_MINUTES
        bridge = [log_open + walk[k] + drift * k for k in range(SESSION_MINUTES + 1)]
        day_volume = spec.daily_volume * math.exp(0.25 * gauss() - 0.03)
        start_ms = open_ms(day)
        bars = []
        sequence = 1
        for minute in range(SESSION_MINUTES):
            volume = max(100, int(day_volume * VOLUME_PROFILE[minute] * math.exp(0.3 * gauss())))
            count = min(MAX_TRADES_PER_MINUTE, max(2, volume // 10_000))
            fractions = sorted(uniform() for _ in range(count))
            weights = [exponential(1.0) for _ in range(count)]
            scale = volume / sum(weights)
            sizes = [max(1, int(w * scale)) for w in weights]
            sizes[sizes.index(max(sizes))] += volume - sum(sizes)
            base, step = bridge[minute], bridge[minute + 1] - bridge[minute]
            cents = [
                _to_cents(base + step * f + 0.5 * sigma * gauss() * math.sqrt(f * (1 - f)))
                for f in fractions
            ]
            notional = sum(c * z for c, z in zip(cents, sizes, strict=True))
            bars.append(
                MinuteBar(
                    t_ms=start_ms + minute * MINUTE_MS,
                    open=cents[0] / 100,
                    high=max(cents) / 100,
                    low=min(cents) / 100,
                    close=cents[-1] / 100,
                    volume=volume,
                    vwap=round(notional / volume / 100, 4),
                    transactions=count,
                    first_sequence=sequence,
                    cents=tuple(cents),
                    sizes=tuple(sizes),
                    offsets_ns=tuple(int(f * 60 * NS) for f in fractions),
                )
            )
            sequence += count
        return DayTape(spec.ticker, day, tuple(bars))
