"""Events per second replaying the Binance spot capture through the sim venue on the replay runtime.

Beside it, in the same run and on the same recorded stream: nautilus_trader's own
``BacktestEngine`` replaying the same capture's quote ticks (bookTicker) and trade ticks into an
L1 venue with no strategy — the form in which its own figure (≈170k events/s) was measured.
Feeding it the depth diffs as ``OrderBookDelta`` s into an L2 venue was tried: nautilus_trader
1.221 refuses the run ("No order book data found ... L2_MBP") for deltas built this way, so the
L2 comparison is left out rather than faked. Each side's rate is its own events per second.
Both sides are timed from already-parsed messages (parsing is timed on its own), so the figure
compares the engines, not the readers.

    uv run python benchmarks/replay_throughput.py [--repeat N]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from decimal import Decimal
from pathlib import Path

from tradenode_sim.config import DATA_DIR, InstrumentSpec, SimVenueConfig
from tradenode_sim.sources.binance_stream import read_binance_stream
from tradenode_sim.venue import SimVenue

from node.messages import BookDeltas, BookSnapshot, QuoteTick, TradeTick
from node.runtime.replay import ReplayRuntime

FILES = [
    DATA_DIR / "binance-stream/spot/btcusdt_20240808.gz",
    DATA_DIR / "binance-stream/spot/btcusdt_20240809.gz",
]


def parse() -> tuple[list, float]:
    t = time.perf_counter()
    messages = list(read_binance_stream(FILES, venue="binance", symbol="BTC/USDT"))
    return messages, time.perf_counter() - t


def run_ours(messages: list) -> float:
    config = SimVenueConfig(
        source="binance-stream",
        files=[str(f) for f in FILES],
        symbols={
            "BTC/USDT": InstrumentSpec(tick_size=Decimal("0.01"), lot_size=Decimal("0.00001"))
        },
        balances={"USDT": Decimal(1_000_000), "BTC": Decimal(10)},
    )
    venue = SimVenue("binance", config, Path("."))
    runtime = ReplayRuntime(start_ns=messages[0].ts)
    runtime.add(venue)
    runtime.start()
    runtime.add_source(messages, to=venue.name)
    gc.collect()
    t = time.perf_counter()
    runtime.run()
    return time.perf_counter() - t


def to_nautilus(messages: list, with_deltas: bool = False) -> list:
    from nautilus_trader.model.data import BookOrder, OrderBookDelta
    from nautilus_trader.model.data import QuoteTick as NQuote
    from nautilus_trader.model.data import TradeTick as NTrade
    from nautilus_trader.model.enums import AggressorSide, BookAction, OrderSide, RecordFlag
    from nautilus_trader.model.identifiers import TradeId
    from nautilus_trader.model.objects import Price, Quantity
    from nautilus_trader.test_kit.providers import TestInstrumentProvider

    instrument = TestInstrumentProvider.btcusdt_binance()
    iid = instrument.id
    out = []
    for m in messages:
        ts = m.ts
        if isinstance(m, (BookSnapshot, BookDeltas)) and with_deltas:
            deltas = []
            if isinstance(m, BookSnapshot):
                deltas.append(OrderBookDelta.clear(iid, 0, ts, ts))
            for side, levels in ((OrderSide.BUY, m.bids), (OrderSide.SELL, m.asks)):
                for lv in levels:
                    action = BookAction.UPDATE if lv.size > 0 else BookAction.DELETE
                    order = BookOrder(
                        side, Price(float(lv.price), 2), Quantity(float(lv.size), 6), 0
                    )
                    deltas.append(OrderBookDelta(iid, action, order, 0, 0, ts, ts))
            if deltas:
                last = deltas[-1]
                deltas[-1] = OrderBookDelta(
                    iid, last.action, last.order, RecordFlag.F_LAST, 0, ts, ts
                )
                out.extend(deltas)
        elif isinstance(m, TradeTick):
            aggressor = AggressorSide.BUYER if m.aggressor == "buy" else AggressorSide.SELLER
            out.append(
                NTrade(
                    iid,
                    Price(float(m.price), 2),
                    Quantity(float(m.size), 6),
                    aggressor,
                    TradeId(m.trade_id or str(ts)),
                    ts,
                    ts,
                )
            )
        elif isinstance(m, QuoteTick):
            out.append(
                NQuote(
                    iid,
                    Price(float(m.bid), 2),
                    Price(float(m.ask), 2),
                    Quantity(float(m.bid_size), 6),
                    Quantity(float(m.ask_size), 6),
                    ts,
                    ts,
                )
            )
    return instrument, out


def run_nautilus(instrument, data: list) -> float:
    from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
    from nautilus_trader.config import LoggingConfig
    from nautilus_trader.model.currencies import BTC, USDT
    from nautilus_trader.model.enums import AccountType, BookType, OmsType
    from nautilus_trader.model.identifiers import Venue
    from nautilus_trader.model.objects import Money

    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True)))
    engine.add_venue(
        Venue("BINANCE"),
        oms_type=OmsType.NETTING,
        account_type=AccountType.CASH,
        base_currency=None,
        starting_balances=[Money(1_000_000, USDT), Money(10, BTC)],
        book_type=BookType.L1_MBP,
    )
    engine.add_instrument(instrument)
    engine.add_data(data)
    gc.collect()
    t = time.perf_counter()
    engine.run()
    elapsed = time.perf_counter() - t
    engine.dispose()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    messages, parse_s = parse()
    n = len(messages)
    instrument, data = to_nautilus(messages)
    ours = [run_ours(messages) for _ in range(args.repeat)]
    theirs = [run_nautilus(instrument, data) for _ in range(args.repeat)]
    ours_rate = n / statistics.median(ours)
    theirs_rate = len(data) / statistics.median(theirs)
    print(f"events: {n} (snapshot, depth diffs, trades, book tickers; 2024-08-08/09 BTCUSDT spot)")
    print(f"parse (msgspec reader):            {n / parse_s:12,.0f} events/s")
    print(
        f"tradenode replay + sim venue:      {ours_rate:12,.0f} events/s  (median of {args.repeat})"
    )
    print(
        f"nautilus_trader BacktestEngine:    {theirs_rate:12,.0f} events/s  "
        f"(median of {args.repeat}; {len(data)} quote+trade ticks)"
    )
    print(f"ratio tradenode / nautilus:        {ours_rate / theirs_rate:12.2f}x")


if __name__ == "__main__":
    main()
