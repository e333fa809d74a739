"""The whole node replaying real L2 data beside nautilus_trader's engine on the same capture.

The Binance BTCUSDT spot capture (2024-08-08/09: REST snapshot, 100 ms depth diffs, trades, book
tickers; 99,572 messages) replayed

* through **tradenode's whole node**, built as ``tradenode run`` builds it from a config (sim venue
  + portfolio + risk + router + reconciler + execution manager, journal on disk), with a strategy
  component that reads the best bid and ask from the node's book on every update it is sent;
* through **the sim venue alone** on the replay runtime, with the same strategy;
* through **nautilus_trader 1.221's BacktestEngine** as L2 ``OrderBookDeltas`` + trades, with and
  without the book tickers as quote ticks, a strategy reading the book on every update
  (``benchmarks/nautilus_l2.py``).

Each side is timed from parsed messages (tradenode's sim venue with ``preload = true`` keeps the
parsed capture for the process; nautilus's inputs are built before ``engine.run()``), by the
process's CPU time (all its threads: nautilus does some of its work off the main thread; CPU time
is disturbed less than the wall clock by other work on a shared machine; both are printed), in
interleaved rounds, medians. Before any figure counts, each engine's final book must equal, level
for level, the reference built independently from the capture by Binance's update-id rule.

    uv run python benchmarks/replay_vs_nautilus.py [--rounds N]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from nautilus_l2 import (
    CAPTURE_FILES,
    book_differences,
    nautilus_inputs,
    read_capture,
    reference_book,
    run_nautilus,
)

from node.component import Component
from node.config import load_config
from node.market import MarketState
from node.messages import BookDeltas, BookSnapshot, QuoteTick, TradeTick
from node.node import Node
from node.plugins import load_plugins
from node.runtime.replay import ReplayRuntime
from node.venue import VenueSetup

CONFIG = """
[node]
name = "replay-bench"
runtime = "replay"
valuation_currency = "USDT"

[risk]
max_daily_loss = "100000"

[risk.checks.instrument]
[risk.checks.free_balance]

[venues.binance]
plugin = "sim"
source = "binance-stream"
files = [{files}]
preload = true
taker_fee_bps = "10"
balances = {{ USDT = "1000000", BTC = "10" }}
symbols."BTC/USDT" = {{ tick_size = "0.01", lot_size = "0.000001" }}
"""


class BookReader(Component):
    """Reads best bid and ask from the node's book on every market message it is sent."""

    subscriptions = (BookSnapshot, BookDeltas, TradeTick, QuoteTick)

    def __init__(self, market: MarketState) -> None:
        super().__init__("strategy")
        self.market = market
        self.seen = 0
        self.top: tuple[Decimal | None, Decimal | None] = (None, None)

    def on_message(self, message: object) -> None:
        self.seen += 1
        self.top = self.market.book("binance", "BTC/USDT").top()


def _book(market: MarketState) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
    book = market.book("binance", "BTC/USDT")
    return dict(book.bids.sizes), dict(book.asks.sizes)


def run_node(config_path: Path, plugins: object, workdir: Path) -> tuple[float, float, object]:
    """One whole node, as ``tradenode run`` builds it; (cpu s, wall s, final book)."""
    journal = workdir / f"journal-{time.monotonic_ns()}.sqlite"
    node = Node(load_config(config_path, plugins), plugins, journal_path=journal)
    reader = BookReader(node.market)
    node.extra.append(reader)
    node.start()
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    node.run()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    book = _book(node.market)
    node.stop()
    if reader.seen != 99_572:
        raise RuntimeError(f"the strategy saw {reader.seen} messages, not 99,572")
    return cpu, wall, book


def run_venue_alone(config_path: Path, plugins: object) -> tuple[float, float, object]:
    """The sim venue and the strategy alone on the replay runtime; (cpu s, wall s, final book)."""
    config = load_config(config_path, plugins)
    entry = config.venues["binance"]
    market = MarketState()
    venue = plugins.venues.get("sim").target(  # type: ignore[attr-defined]
        "binance", entry.settings, VenueSetup(config.directory, market)
    )
    runtime = ReplayRuntime(start_ns=venue.earliest_data_ns() or 0)
    reader = BookReader(market)
    runtime.add(reader)
    runtime.add(venue)
    runtime.start([])
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    runtime.run()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    runtime.stop()
    return cpu, wall, _book(market)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    args = parser.parse_args()

    capture = read_capture(CAPTURE_FILES)
    reference = reference_book(capture)
    inputs = nautilus_inputs(capture)
    plugins = load_plugins()
    with tempfile.TemporaryDirectory(prefix="tradenode-bench-") as tmp:
        workdir = Path(tmp)
        files = ", ".join(f'"{p}"' for p in CAPTURE_FILES)
        config_path = workdir / "node.toml"
        config_path.write_text(CONFIG.format(files=files))
        t = time.perf_counter()
        run_node(config_path, plugins, workdir)  # warm-up: parses the capture once (preload)
        print(f"tradenode parse (first run, preload): {time.perf_counter() - t:.2f} s wall")

        results: dict[str, list[tuple[float, float]]] = {}
        books: dict[str, object] = {}
        sides = {
            "tradenode whole node": lambda: run_node(config_path, plugins, workdir),
            "tradenode sim venue alone": lambda: run_venue_alone(config_path, plugins),
            "nautilus deltas+trades": lambda: run_nautilus(inputs, False, time.process_time),
            "nautilus deltas+trades+quotes": lambda: run_nautilus(inputs, True, time.process_time),
        }
        for _ in range(args.rounds):
            for name, run in sides.items():
                if name.startswith("nautilus"):
                    wall = time.perf_counter()
                    cpu, book = run()
                    wall = time.perf_counter() - wall
                else:
                    cpu, wall, book = run()
                results.setdefault(name, []).append((cpu, wall))
                books[name] = book
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end")
    for name, book in books.items():
        diffs = book_differences(reference, book)  # type: ignore[arg-type]
        verdict = "equal to the reference" if not diffs else f"DIFFERS: {diffs[:3]}"
        print(f"final book, {name}: {verdict}")
    print(f"\nseconds per capture (99,572 messages), median of {args.rounds} interleaved rounds")
    medians = {}
    for name, runs in results.items():
        cpu = statistics.median(r[0] for r in runs)
        wall = statistics.median(r[1] for r in runs)
        medians[name] = cpu
        print(f"  {name:32s} cpu {cpu:6.3f}   wall {wall:6.3f}")
    base = medians["nautilus deltas+trades+quotes"]
    l2 = medians["nautilus deltas+trades"]
    node, venue = medians["tradenode whole node"], medians["tradenode sim venue alone"]
    print(
        f"\nwhole node vs nautilus (deltas+trades+quotes): {base / node:.2f}x as fast "
        f"(goal >= 1.0x); vs nautilus deltas+trades: {l2 / node:.2f}x"
    )
    print(f"sim venue alone vs nautilus (deltas+trades+quotes): {base / venue:.2f}x (goal >= 2x)")


if __name__ == "__main__":
    main()
