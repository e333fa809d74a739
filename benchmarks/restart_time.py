"""Restart-to-trading time and peak memory against the journal's age (10 thousand, 1 million and
10 million rows).

Each journal is what a node that has traded for a long time leaves behind: ``N`` rows of order
traffic (parent orders, slices, child orders, acceptances, fills, balances, positions, reports —
real messages, encoded and checksummed as the node writes them, generated in bulk), then the rows
of a real run of the demo node (four simulated venues on the recorded books, two parent orders)
ending with the checkpoint that run took at its stop. A start reads that checkpoint and the rows
after it; the timing says whether anything before it is read at all.

Measured in a fresh process per journal: from constructing the node to ``NodeReady`` (every
venue connected, instruments, balances, books, reconciled) on the replay runtime, and the
process's peak resident memory (``VmHWM``) over that. For the smaller journals, the same start
with the checkpoints deleted shows what they save (the whole journal is then read, streamed).

    uv run python benchmarks/restart_time.py [--sizes 10000,1000000,10000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import zlib
from decimal import Decimal
from pathlib import Path

from node.codec import encode
from node.messages import (
    Balance,
    BalancesUpdated,
    ExecutionReport,
    Instrument,
    InstrumentsLoaded,
    OrderAccepted,
    OrderFilled,
    ParentOrderAccepted,
    ParentOrderCompleted,
    RouteLeg,
    RouteSlice,
    SliceCompleted,
    SliceRouted,
    SubmitOrder,
    SubmitParentOrder,
)

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "configs" / "demo.toml"
D = Decimal


def _lifecycle(i: int, ts: int) -> list[tuple[object, str, str]]:
    """One parent order's rows, as a node journals them: (message, sender, destination)."""
    pid = f"hist-{i}"
    cid = f"{pid}.1.1.1"
    side = "buy" if i % 2 else "sell"
    qty, price = D("0.01"), D("5075.5") + D(i % 100) / 10
    order = SubmitOrder(
        client_order_id=cid,
        venue="bitstamp",
        symbol="BTC/USD",
        side=side,
        quantity=qty,
        limit_price=price,
        time_in_force="ioc",
        parent_id=pid,
        ts=ts,
    )
    report = ExecutionReport(
        parent_id=pid,
        symbol="BTC/USD",
        side=side,
        algo="route",
        requested_quantity=qty,
        filled_quantity=qty,
        average_price=price,
        arrival_mid=price,
        shortfall_bps=D(0),
        fees=D("0.12"),
        fee_currency="USD",
        child_orders=1,
        venues=[],
        started_ts=ts,
        finished_ts=ts + 5,
    )
    return [
        (
            SubmitParentOrder(parent_id=pid, symbol="BTC/USD", side=side, quantity=qty, ts=ts),
            "control",
            "execution",
        ),
        (
            ParentOrderAccepted(
                parent_id=pid,
                symbol="BTC/USD",
                side=side,
                quantity=qty,
                algo="route",
                arrival_mid=price,
                ts=ts,
            ),
            "execution",
            "*",
        ),
        (
            RouteSlice(parent_id=pid, slice_id=1, symbol="BTC/USD", side=side, quantity=qty, ts=ts),
            f"exec.{pid}",
            "router",
        ),
        (
            SliceRouted(
                parent_id=pid,
                slice_id=1,
                attempt=1,
                mode="split",
                symbol="BTC/USD",
                side=side,
                quantity=qty,
                legs=[
                    RouteLeg(
                        venue="bitstamp",
                        client_order_id=cid,
                        quantity=qty,
                        limit_price=price,
                        expected_average_price=price,
                        expected_fee=D("0.12"),
                    )
                ],
                expected_average_price=price,
                expected_fees=D("0.12"),
                unroutable_quantity=D(0),
                ts=ts,
            ),
            "router",
            "*",
        ),
        (order, "router", "risk"),
        (order, "risk", "venue.bitstamp"),
        (
            OrderAccepted(
                client_order_id=cid,
                venue="bitstamp",
                venue_order_id=f"bitstamp-h{i}",
                parent_id=pid,
                ts=ts + 1,
            ),
            "venue.bitstamp",
            "*",
        ),
        (
            OrderFilled(
                client_order_id=cid,
                venue="bitstamp",
                venue_order_id=f"bitstamp-h{i}",
                trade_id=f"t{i}",
                symbol="BTC/USD",
                side=side,
                price=price,
                quantity=qty,
                fee=D("0.12"),
                fee_currency="USD",
                liquidity="taker",
                cumulative_quantity=qty,
                leaves_quantity=D(0),
                parent_id=pid,
                ts=ts + 2,
            ),
            "venue.bitstamp",
            "*",
        ),
        (
            BalancesUpdated(
                venue="bitstamp",
                balances={
                    "USD": Balance(total=D(250000), free=D(250000)),
                    "BTC": Balance(total=D(5), free=D(5)),
                },
                ts=ts + 2,
            ),
            "venue.bitstamp",
            "*",
        ),
        (
            SliceCompleted(
                parent_id=pid,
                slice_id=1,
                quantity=qty,
                filled_quantity=qty,
                status="filled",
                ts=ts + 3,
            ),
            "router",
            "*",
        ),
        (
            ParentOrderCompleted(parent_id=pid, status="filled", report=report, ts=ts + 5),
            "execution",
            "*",
        ),
    ]


def _history(db: sqlite3.Connection, rows: int) -> None:
    """``rows`` rows of order traffic, inserted in bulk with the node's own encoding and CRC."""
    seq, i, ts = 1, 0, 1_500_000_000_000_000_000
    listed = InstrumentsLoaded(
        venue="bitstamp",
        instruments=[
            Instrument(
                symbol="BTC/USD",
                venue="bitstamp",
                venue_symbol="BTCUSD",
                base="BTC",
                quote="USD",
                tick_size=D("0.01"),
                lot_size=D("0.00000001"),
            )
        ],
        ts=ts,
    )
    payload = encode(listed)
    batch = [
        (
            1,
            ts,
            "InstrumentsLoaded",
            payload,
            zlib.crc32(payload),
            "node",
            "venue.bitstamp",
            "*",
            None,
        )
    ]
    while seq < rows:
        for message, sender, destination in _lifecycle(i, ts):
            if seq >= rows:
                break
            payload = encode(message)  # type: ignore[arg-type]
            seq += 1
            correlation = getattr(message, "parent_id", None)
            batch.append(
                (
                    seq,
                    message.ts,
                    type(message).__name__,
                    payload,  # type: ignore[attr-defined]
                    zlib.crc32(payload),
                    "node",
                    sender,
                    destination,
                    correlation,
                )
            )
        i, ts = i + 1, ts + 1_000_000
        if len(batch) >= 50_000:
            db.executemany("INSERT INTO journal VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
            batch.clear()
    db.executemany("INSERT INTO journal VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)


def make_journal(path: Path, rows: int, workdir: Path) -> None:
    """``rows`` of history, then a real demo run's rows and the checkpoint it took at its stop."""
    run = workdir / f"run-{rows}.sqlite"
    subprocess.run(
        [sys.executable, "-m", "node.cli", "demo", "--journal", str(run)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    from node.journal import Journal

    Journal(path).close()  # the schema, as the node makes it
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    with db:
        _history(db, rows)
        db.execute("ATTACH DATABASE ? AS run", (str(run),))
        db.execute(
            "INSERT INTO journal SELECT seq + ?, ts, type, payload, crc, origin, sender, "
            "destination, correlation FROM run.journal ORDER BY seq",
            (rows,),
        )
        db.execute(
            "INSERT INTO checkpoint SELECT id + ?, through_seq + ?, expected, complete "
            "FROM run.checkpoint",
            (rows, rows),
        )
        db.execute(
            "INSERT INTO checkpoint_part SELECT id + ?, component, payload, crc "
            "FROM run.checkpoint_part",
            (rows,),
        )
    db.execute("DETACH DATABASE run")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


_MEASURE = """
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from node.config import load_config
from node.messages import NodeReady
from node.node import Node
from node.plugins import load_plugins
from node.runtime.recorder import Recorder

plugins = load_plugins()
config = load_config(sys.argv[1], plugins)
recorder = Recorder(types=(NodeReady,))
t1 = time.perf_counter()
node = Node(config, plugins, journal_path=Path(sys.argv[2]), runtime_kind="replay",
            extra=[recorder])
node.start()
while not recorder.of_type(NodeReady):
    node.runtime.advance(10_000_000)
ready = time.perf_counter()
read = node.history
node.runtime.stop(); node._close_journal()
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"import_s": t1 - t0, "start_to_ready_s": ready - t1, "peak_rss_mib": hwm / 1024,
                  "read_after_seq": read.after_seq}))
"""


def measure(journal: Path) -> dict:
    work = journal.with_name(journal.stem + "-probe.sqlite")
    shutil.copy(journal, work)  # a start writes to its journal: measure on a copy
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(DEMO), str(work)],
        check=True,
        capture_output=True,
        text=True,
        timeout=3600,
    ).stdout
    work.unlink()
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,1000000,10000000")
    parser.add_argument("--keep", help="keep the generated journals in this folder")
    parser.add_argument(
        "--no-checkpoint-up-to",
        type=int,
        default=1_000_000,
        help="also start without checkpoints for journals up to this size (default 1000000)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="tradenode-restart-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print("journal rows | file MiB | start to ready s | peak RSS MiB | without checkpoints")
    base = None
    try:
        for rows in sizes:
            path = workdir / f"journal-{rows}.sqlite"
            if not path.exists():
                t = time.perf_counter()
                make_journal(path, rows, workdir)
                print(f"  (made {rows:,} rows in {time.perf_counter() - t:.0f} s)", flush=True)
            with_cp = measure(path)
            base = base or with_cp["start_to_ready_s"]
            without = ""
            if rows <= args.no_checkpoint_up_to:
                bare = workdir / f"bare-{rows}.sqlite"
                shutil.copy(path, bare)
                db = sqlite3.connect(bare)
                with db:
                    db.execute("DELETE FROM checkpoint_part")
                    db.execute("DELETE FROM checkpoint")
                db.close()
                w = measure(bare)
                bare.unlink()
                without = f"{w['start_to_ready_s']:.2f} s, {w['peak_rss_mib']:.0f} MiB"
            size = path.stat().st_size / 2**20
            print(
                f"{rows:>12,} | {size:8.0f} | {with_cp['start_to_ready_s']:16.3f} | "
                f"{with_cp['peak_rss_mib']:12.0f} | {without}  "
                f"({with_cp['start_to_ready_s'] / base:.2f}x the smallest)",
                flush=True,
            )
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
