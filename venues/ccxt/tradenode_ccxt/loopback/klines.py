"""``GET /api/v3/klines``: Binance's candlesticks, from a bars file or the capture's trades.

Where a symbol's history comes from (``MarketSetup.klines``):

* a **bars file** (``BarsFile``): a CSV with ``timestamp`` (ISO 8601, UTC when it names no
  zone), ``open``, ``high``, ``low``, ``close`` and ``volume`` columns — the algorithms plugin's
  bundled one-month 1-minute BTC file is one. Its rows are the base bars; an interval that is a
  whole number of them is their aggregate (first open, highest high, lowest low, last close,
  summed volume). A file does not say how many trades or which side took: those columns are 0,
  and the quote volume is volume x close per base bar. Gaps in the file stay gaps.
  ``end_yesterday`` moves the file by whole days so its last day is yesterday (UTC, when the
  history is first read): recorded history then sits just before a live node's today.
* else a **capture** (``CaptureFeed``): its recorded public trades, at their own trade times
  (Binance's ``T``), made into 1-minute klines exactly as Binance makes them (quote volume
  ``sum(price x qty)``, the trade count, the taker-buy volumes); a minute without trades inside
  the recorded span is a zero-volume kline at the last close, as Binance shows one. The whole
  capture is history, whatever the replay has reached.
* a static book: no history (``[]``).

Prices go through the market's price transform, like the book's. Intervals from ``1m`` to
``1d`` that are whole numbers of the base bars are served (``1s``, ``3d``, ``1w``, ``1M`` are
refused with Binance's -1120), aligned to UTC. ``startTime`` / ``endTime`` select open times
(both inclusive), ``limit`` (default 500, at most 1000) counts from ``startTime``, or back from
``endTime`` when only that is given, or back from the latest kline when neither is. Each row is
Binance's documented ``[open time, open, high, low, close, volume, close time, quote asset
volume, number of trades, taker buy base volume, taker buy quote volume, "0"]``.
"""

from __future__ import annotations

import bisect
import csv
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from tradenode_ccxt.loopback.amounts import fmt
from tradenode_ccxt.loopback.capture import RecordedTrade, read_trades
from tradenode_ccxt.loopback.errors import BinanceError, int_param, invalid_symbol, mandatory
from tradenode_ccxt.loopback.spec import PriceTransform, SymbolSpec

MINUTE_MS = 60_000
DAY_MS = 1440 * MINUTE_MS
ZERO = Decimal(0)
#: Binance's kline intervals that this server serves, in minutes
INTERVALS: Mapping[str, int] = {
    "1m": 1,
    "3m": 3,
    "5m": 5,
    "15m": 15,
    "30m": 30,
    "1h": 60,
    "2h": 120,
    "4h": 240,
    "6h": 360,
    "8h": 480,
    "12h": 720,
    "1d": 1440,
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class BarsFile:
    """A CSV of bars a symbol's klines are made of (see the module docstring)."""

    path: Path
    end_yesterday: bool = False


@dataclass(frozen=True, slots=True)
class Kline:
    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal = ZERO
    trades: int = 0
    taker_base: Decimal = ZERO
    taker_quote: Decimal = ZERO

    def row(self, length_ms: int) -> list[Any]:
        return [
            self.open_ms,
            fmt(self.open),
            fmt(self.high),
            fmt(self.low),
            fmt(self.close),
            fmt(self.volume),
            self.open_ms + length_ms - 1,
            fmt(self.quote_volume),
            self.trades,
            fmt(self.taker_base),
            fmt(self.taker_quote),
            "0",
        ]


def read_bars_file(path: Path, *, end_yesterday: bool = False) -> tuple[int, list[Kline]]:
    """The file's bars (their length in minutes, and the bars oldest first)."""
    bars: list[Kline] = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"timestamp", "open", "high", "low", "close", "volume"} - set(
            reader.fieldnames or ()
        )
        if missing:
            raise ValueError(f"{path}: no column {', '.join(sorted(missing))} in the header")
        for row in reader:
            try:
                stamp = datetime.fromisoformat(row["timestamp"])
                if stamp.tzinfo is None:
                    stamp = stamp.replace(tzinfo=UTC)
                o, h, low, c, v = (
                    Decimal(row[k]) for k in ("open", "high", "low", "close", "volume")
                )
            except (TypeError, ValueError, InvalidOperation) as exc:
                raise ValueError(f"{path}, line {reader.line_num}: {exc!r}") from None
            open_ms = (stamp - _EPOCH) // timedelta(milliseconds=1)
            bars.append(Kline(open_ms, o, h, low, c, v, quote_volume=v * c))
    if not bars:
        raise ValueError(f"{path}: no bars")
    bars.sort(key=lambda k: k.open_ms)
    gaps = {b.open_ms - a.open_ms for a, b in itertools.pairwise(bars)}
    if 0 in gaps:
        raise ValueError(f"{path}: two bars open at the same time")
    length_ms = min(gaps) if gaps else MINUTE_MS
    if length_ms % MINUTE_MS or DAY_MS % length_ms:
        raise ValueError(f"{path}: bars of {length_ms} ms are not whole minutes dividing a day")
    if end_yesterday:
        yesterday = (datetime.now(UTC) - _EPOCH) // timedelta(days=1) - 1
        shift = (yesterday - bars[-1].open_ms // DAY_MS) * DAY_MS
        bars = [_moved(k, shift) for k in bars]
    return length_ms // MINUTE_MS, bars


def _moved(k: Kline, shift_ms: int) -> Kline:
    return Kline(
        k.open_ms + shift_ms,
        k.open,
        k.high,
        k.low,
        k.close,
        k.volume,
        k.quote_volume,
        k.trades,
        k.taker_base,
        k.taker_quote,
    )


def minute_klines(trades: Iterable[RecordedTrade]) -> list[Kline]:
    """1-minute klines of recorded trades, as Binance makes them, with zero-volume minutes at
    the last close inside the span."""
    ordered = sorted(trades, key=lambda t: t.time_ms)  # stable: same-ms trades keep their order
    out: list[Kline] = []
    i = 0
    while i < len(ordered):
        minute = ordered[i].time_ms // MINUTE_MS * MINUTE_MS
        j = i
        while j < len(ordered) and ordered[j].time_ms < minute + MINUTE_MS:
            j += 1
        group = ordered[i:j]
        if out:
            last = out[-1]
            for empty in range(last.open_ms + MINUTE_MS, minute, MINUTE_MS):
                c = last.close
                out.append(Kline(empty, c, c, c, c, ZERO))
        prices = [t.price for t in group]
        taken = [t for t in group if not t.buyer_is_maker]  # the aggressor bought
        out.append(
            Kline(
                minute,
                prices[0],
                max(prices),
                min(prices),
                prices[-1],
                sum((t.qty for t in group), ZERO),
                sum((t.price * t.qty for t in group), ZERO),
                len(group),
                sum((t.qty for t in taken), ZERO),
                sum((t.price * t.qty for t in taken), ZERO),
            )
        )
        i = j
    return out


def aggregate(base: Sequence[Kline], minutes: int) -> list[Kline]:
    """Klines of ``minutes`` made of ``base`` klines (UTC-aligned groups)."""
    length = minutes * MINUTE_MS
    out: list[Kline] = []
    i = 0
    while i < len(base):
        start = base[i].open_ms // length * length
        j = i
        while j < len(base) and base[j].open_ms < start + length:
            j += 1
        group = base[i:j]
        traded = [k for k in group if k.volume] or group  # fillers do not set highs and lows
        out.append(
            Kline(
                start,
                group[0].open,
                max(k.high for k in traded),
                min(k.low for k in traded),
                group[-1].close,
                sum((k.volume for k in group), ZERO),
                sum((k.quote_volume for k in group), ZERO),
                sum(k.trades for k in group),
                sum((k.taker_base for k in group), ZERO),
                sum((k.taker_quote for k in group), ZERO),
            )
        )
        i = j
    return out


@dataclass
class _History:
    spec: SymbolSpec
    transform: PriceTransform
    source: BarsFile | tuple[Path, ...] | None
    base_minutes: int = 1
    base: list[Kline] | None = None
    by_interval: dict[int, tuple[list[int], list[Kline]]] = field(default_factory=dict)

    def load(self) -> None:
        if self.base is not None:
            return
        if isinstance(self.source, BarsFile):
            self.base_minutes, raw = read_bars_file(
                self.source.path, end_yesterday=self.source.end_yesterday
            )
        elif self.source is not None:
            raw = minute_klines(read_trades(self.source))
        else:
            raw = []
        self.base = [self._shown(k) for k in raw]

    def _shown(self, k: Kline) -> Kline:
        tick = self.spec.tick_size
        o, h, low, c = (self.transform.apply(p, tick) for p in (k.open, k.high, k.low, k.close))
        return Kline(
            k.open_ms,
            o,
            h,
            low,
            c,
            k.volume,
            k.quote_volume,
            k.trades,
            k.taker_base,
            k.taker_quote,
        )

    def klines(self, minutes: int) -> tuple[list[int], list[Kline]]:
        self.load()
        assert self.base is not None
        if minutes % self.base_minutes:
            raise BinanceError(400, -1120, "Invalid interval.")
        cached = self.by_interval.get(minutes)
        if cached is None:
            ks = self.base if minutes == self.base_minutes else aggregate(self.base, minutes)
            cached = ([k.open_ms for k in ks], ks)
            self.by_interval[minutes] = cached
        return cached


class KlineHistory:
    """Every listed symbol's kline history, read when first asked for."""

    def __init__(self, setups: Iterable[Any]) -> None:
        from tradenode_ccxt.loopback.feeds import CaptureFeed

        self._symbols: dict[str, _History] = {}
        for setup in setups:
            source: BarsFile | tuple[Path, ...] | None = None
            if setup.klines is not None:
                source = setup.klines
            elif isinstance(setup.feed, CaptureFeed):
                source = tuple(setup.feed.paths)
            self._symbols[setup.spec.symbol] = _History(setup.spec, setup.transform, source)
        #: every klines request served (its parameters), for tests
        self.requests: list[dict[str, str]] = []

    def serve(self, params: Mapping[str, str]) -> list[list[Any]]:
        self.requests.append(dict(params))
        symbol = params.get("symbol")
        if not symbol:
            raise mandatory("symbol")
        interval = params.get("interval")
        if not interval:
            raise mandatory("interval")
        history = self._symbols.get(symbol)
        if history is None:
            raise invalid_symbol()
        minutes = INTERVALS.get(interval)
        if minutes is None:
            raise BinanceError(400, -1120, "Invalid interval.")
        if params.get("timeZone") not in (None, "", "0", "+00:00", "00:00"):
            raise BinanceError(
                400, -1100, "Illegal characters found in parameter 'timeZone'; this server is UTC."
            )
        limit = int_param(params, "limit")
        if limit is None:
            limit = 500
        elif not 1 <= limit <= 1000:
            raise BinanceError(
                400,
                -1100,
                "Illegal characters found in parameter 'limit'; legal range is '1-1000'.",
            )
        start, end = int_param(params, "startTime"), int_param(params, "endTime")
        opens, ks = history.klines(minutes)  # the first request reads the history
        if start is not None:
            i = bisect.bisect_left(opens, start)
            j = bisect.bisect_right(opens, end) if end is not None else len(opens)
            chosen = ks[i : min(j, i + limit)]
        else:
            j = bisect.bisect_right(opens, end) if end is not None else len(opens)
            chosen = ks[max(0, j - limit) : j]
        length = minutes * MINUTE_MS
        return [k.row(length) for k in chosen]
