"""The live side of the generated tapes: the websocket events between two instants, and the
last trade and quote at an instant.

Events use Polygon's stocks websocket keys: ``T`` (trade), ``Q`` (the quote just before it),
``AM`` (the minute aggregate, sent when its minute ends). Websocket timestamps are Unix
milliseconds; the REST last-trade/last-quote timestamps are nanoseconds, as on Polygon.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from .calendar import previous_trading_day, to_datetime, trading_days
from .config import TickerSpec
from .tapes import DayTape, MinuteBar, TapeLibrary, Trade

MS_NS = 1_000_000
LOOKBACK_DAYS = 10


def _trade_event(spec: TickerSpec, trade: Trade) -> dict[str, Any]:
    return {
        "ev": "T",
        "sym": spec.ticker,
        "x": spec.exchange_id,
        "i": trade.trade_id,
        "z": spec.tape,
        "p": trade.price,
        "s": trade.size,
        "t": trade.t_ns // MS_NS,
        "q": trade.sequence,
    }


def _quote_event(spec: TickerSpec, trade: Trade) -> dict[str, Any]:
    return {
        "ev": "Q",
        "sym": spec.ticker,
        "bx": spec.exchange_id,
        "bp": trade.bid,
        "bs": trade.bid_size,
        "ax": spec.exchange_id,
        "ap": trade.ask,
        "as": trade.ask_size,
        "t": trade.t_ns // MS_NS,
        "q": trade.sequence,
        "z": spec.tape,
    }


def _minute_event(spec: TickerSpec, tape: DayTape, index: int) -> dict[str, Any]:
    bar = tape.bars[index]
    session = tape.bars[: index + 1]
    day_volume = sum(b.volume for b in session)
    return {
        "ev": "AM",
        "sym": spec.ticker,
        "v": bar.volume,
        "av": day_volume,
        "op": tape.open,
        "vw": bar.vwap,
        "o": bar.open,
        "c": bar.close,
        "h": bar.high,
        "l": bar.low,
        "a": round(sum(b.vwap * b.volume for b in session) / day_volume, 4),
        "z": bar.volume // bar.transactions,
        "s": bar.t_ms,
        "e": bar.end_ms,
    }


class LiveFeed:
    def __init__(self, library: TapeLibrary) -> None:
        self._library = library

    def events(self, tickers: set[str], after_ns: int, until_ns: int) -> list[dict[str, Any]]:
        """Every ``Q``, ``T`` and ``AM`` of ``tickers`` in ``(after_ns, until_ns]``, in time
        order (a minute's ``AM`` after its last trade)."""
        keyed: list[tuple[int, int, dict[str, Any]]] = []
        first, last = to_datetime(after_ns // MS_NS).date(), to_datetime(until_ns // MS_NS).date()
        for ticker in sorted(tickers):
            spec = self._library.specs.get(ticker)
            if spec is None:
                continue
            for day in trading_days(first, last):
                tape = self._library.day(ticker, day)
                assert tape is not None
                for index, bar in enumerate(tape.bars):
                    if bar.end_ms * MS_NS <= after_ns or bar.t_ms * MS_NS > until_ns:
                        continue
                    for trade in bar.trades():
                        if after_ns < trade.t_ns <= until_ns:
                            keyed.append((trade.t_ns, 0, _quote_event(spec, trade)))
                            keyed.append((trade.t_ns, 1, _trade_event(spec, trade)))
                    if after_ns < bar.end_ms * MS_NS <= until_ns:
                        keyed.append((bar.end_ms * MS_NS, 2, _minute_event(spec, tape, index)))
        keyed.sort(key=lambda item: (item[0], item[1]))
        return [event for _, _, event in keyed]

    def last_trade(self, ticker: str, now_ns: int) -> tuple[TickerSpec, Trade] | None:
        """The latest trade at or before ``now_ns`` within the last few trading days."""
        spec = self._library.specs.get(ticker)
        if spec is None:
            return None
        day: date = to_datetime(now_ns // MS_NS).date()
        for _ in range(LOOKBACK_DAYS):
            tape = self._library.day(ticker, day)
            if tape is not None:
                found = _last_before(tape.bars, now_ns)
                if found is not None:
                    return spec, found
            day = previous_trading_day(day)
        return None


def _last_before(bars: tuple[MinuteBar, ...], now_ns: int) -> Trade | None:
    for bar in reversed(bars):
        if bar.t_ms * MS_NS > now_ns:
            continue
        earlier = [t for t in bar.trades() if t.t_ns <= now_ns]
        if earlier:
            return earlier[-1]
    return None
