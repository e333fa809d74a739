"""Implementation shortfall of the execution algorithms on the replayed real Binance capture.

Each algorithm works one parent order in a node of its own on the replay runtime: the simulated
venue replays the 2024-08-08/09 BTCUSDT spot capture (about 11 minutes: REST snapshot, depth
diffs and real trades; a resting order fills only on later recorded trades, behind the queue
shown at its price), with 10 bps taker and 2 bps maker fees. Beside each algorithm, in the same
benchmark run and from the same instant, an immediate sweep of the whole quantity (``route``).

Implementation shortfall is the average fill price against the arrival mid, in bps, positive =
worse (the node's own execution report); ``+fees`` adds the fees in bps of the notional. One
path of one market moves the price: a buy over minutes gains or loses whatever the market did
meanwhile, so every case is run as a buy and as a sell from the same instant, and the mean of
the two (the drift cancels to first order) is the algorithm's cost. Several start times and
order sizes; everything is deterministic (the same inputs give the same journal).

    uv run python benchmarks/algo_shortfall.py [--sizes 0.5 2 8] [--starts 0 150 300]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from node.config import load_config
from node.messages import ParentOrderCompleted, SubmitParentOrder
from node.node import Node
from node.plugins import load_plugins

NS = 1_000_000_000
DURATION_S = 300

CONFIG = """
[node]
name = "shortfall"
runtime = "replay"
valuation_currency = "USDT"

[venues.binance]
plugin = "sim"
source = "binance-stream"
files = [
    "sim:binance-stream/spot/btcusdt_20240808.gz",
    "sim:binance-stream/spot/btcusdt_20240809.gz",
]
taker_fee_bps = "10"
maker_fee_bps = "2"
execution_delay_ms = 5
balances = { USDT = "5000000", BTC = "100" }
symbols."BTC/USDT" = { tick_size = "0.01", lot_size = "0.00001", min_notional = "5" }
"""


def algorithms(size: Decimal) -> dict[str, tuple[str, dict]]:
    """name → (algorithm, params) for a parent of ``size`` BTC over DURATION_S."""
    lot = size / 10
    return {
        "sweep (route)": ("route", {}),
        "TWAP": ("twap", {"duration_s": DURATION_S, "slices": 10}),
        "VWAP": ("vwap", {"duration_s": DURATION_S, "slices": 10, "bucket_minutes": 5}),
        "POV 5%": (
            "pov",
            {
                "rate": 0.05,
                "min_slice": str(lot / 4),
                "max_slice": str(lot * 2),
                "duration_s": DURATION_S,
                "complete_at_end": True,
            },
        ),
        "Iceberg": (
            "iceberg",
            {
                "display_quantity": str(lot),
                "peg": "mid",
                "duration_s": DURATION_S,
                "complete_at_end": True,
            },
        ),
        "optimal quotes": (
            "optimal_quotes",
            {
                "sigma": 3.0,
                "A": 0.5,
                "k": 0.5,
                "gamma": 0.05,
                "b": 10.0,
                "duration_s": DURATION_S,
                "lot_quantity": str(lot),
                "steps": 100,
            },
        ),
    }


def run_one(
    plugins, folder: Path, start_s: int, side: str, size: Decimal, algo: str, params: dict
) -> ParentOrderCompleted:
    folder.mkdir(parents=True)
    path = folder / "node.toml"
    path.write_text(CONFIG)
    node = Node(
        load_config(path, plugins), plugins, journal_path=folder / "j.sqlite", runtime_kind="replay"
    )
    node.start()
    rt = node.runtime
    try:
        rt.run(until_ns=node.start_ns + (1 + start_s) * NS)
        node.submit(
            SubmitParentOrder(
                parent_id="p",
                symbol="BTC/USDT",
                side=side,
                quantity=size,
                algo=algo,
                params=params,
                ts=rt.clock,
            )
        )
        deadline = rt.clock + (DURATION_S + 60) * NS
        while rt.clock < deadline:
            rt.run(until_ns=rt.clock + 10 * NS)
            done = [
                e.message
                for e in node.journal.entries(correlation="p")
                if isinstance(e.message, ParentOrderCompleted)
            ]
            if done:
                return done[0]
        raise RuntimeError(f"{algo} {side} {size} from {start_s} s did not complete")
    finally:
        node.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["0.5", "2", "8"])
    parser.add_argument("--starts", nargs="+", type=int, default=[0, 150, 300])
    args = parser.parse_args()
    plugins = load_plugins()
    began = time.perf_counter()
    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="algo-shortfall-") as tmp:
        n = 0
        for size in map(Decimal, args.sizes):
            for start in args.starts:
                for name, (algo, params) in algorithms(size).items():
                    legs = []
                    for side in ("buy", "sell"):
                        n += 1
                        done = run_one(plugins, Path(tmp) / str(n), start, side, size, algo, params)
                        r = done.report
                        if r.filled_quantity != size:
                            print(
                                f"  note: {name} {side} {size} from {start} s: {done.status} "
                                f"{r.filled_quantity} ({done.reason})"
                            )
                        notional = r.average_price * r.filled_quantity if r.filled_quantity else 0
                        fee_bps = float(r.fees / notional * 10_000) if notional else 0.0
                        filled = float(r.filled_quantity / size)
                        legs.append((float(r.shortfall_bps or 0), fee_bps, filled))
                    buy, sell = legs
                    results.setdefault((str(size), name), []).append(
                        (
                            (buy[0] + sell[0]) / 2,
                            (buy[1] + sell[1]) / 2,
                            min(buy[2], sell[2]),
                            buy[0],
                            sell[0],
                        )
                    )
    print(
        f"{n} runs in {time.perf_counter() - began:,.0f} s; starts {args.starts} s into the "
        f"capture, {DURATION_S} s per algorithm"
    )
    print()
    print("| size BTC | algorithm | IS buy bps | IS sell bps | IS mean bps | +fees bps | filled |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for (size, name), rows in results.items():
        mean = statistics.fmean
        print(
            f"| {size} | {name} | {mean(r[3] for r in rows):.2f} | {mean(r[4] for r in rows):.2f} "
            f"| {mean(r[0] for r in rows):.2f} | {mean(r[0] + r[1] for r in rows):.2f} "
            f"| {min(r[2] for r in rows):.0%} |"
        )


if __name__ == "__main__":
    main()
