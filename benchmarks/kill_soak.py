"""Kill soak: the kill proof's scenario (``tests/node/kill_support.py``) with N kills.

Two loopback Binance exchange processes, the node as a third working a routed TWAP buy; the node
is killed with SIGKILL at seeded random moments (while it reconciles, at a slice's start or take,
or anywhere in trading) and started again on the same journal, N times; a last run finishes the
parent. Printed: kills, restarts, what the restarts' reconciliations recovered, duplicates and
lost fills (from the journal against the exchanges' own records, as the test audits them), and
the restart-to-trading time (process start → ``NodeReady`` journaled) per restart with its
median/p95/max, split into its phases, beside ``import ccxt.pro`` alone in a fresh interpreter
measured in the same run (the baseline: most of a restart is that import).

The processes run with a bytecode cache outside the tree (``kill_support.PYCACHE``), as a deployed
node would; ``--no-pycache`` runs them as this machine's environment runs Python
(PYTHONDONTWRITEBYTECODE=1: every process compiles its imports, ccxt's 40 MB included).

    uv run python benchmarks/kill_soak.py [--kills 100] [--seed S] [--duration S] [--keep DIR]
                                          [--no-pycache]

Exit status 1 when the audit finds any problem.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "node"))

from kill_support import (
    PYCACHE,
    KillScenario,
    Plan,
    audit,
    child_env,
    seed_from_env,
)

from node.messages import NodeReady, NodeStarted, VenueConnected
from node.plugins import load_plugins

#: seconds of TWAP schedule per planned kill (from source, with the bytecode cache): most kills
#: land while the parent is working
SECONDS_PER_KILL = 12.0
SECONDS_PER_KILL_CACHED = 5.0


def import_ccxt_pro_s(pycache: Path | None, repeat: int = 3) -> list[float]:
    """``import ccxt.pro`` timed in a fresh interpreter after the node's plugins are loaded (as
    ``tradenode run`` loads them first), from the bytecode cache or compiling from source."""
    code = (
        "from node.plugins import load_plugins; load_plugins(); import time; "
        "t = time.perf_counter(); import ccxt.pro; print(time.perf_counter() - t)"
    )
    return [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=child_env(pycache), check=True, timeout=120).stdout.split()[-1])
        for _ in range(repeat)
    ]  # fmt: skip


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def describe(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (
        f"median {statistics.median(values):5.2f}  p95 {percentile(values, 0.95):5.2f}  "
        f"max {max(values):5.2f}  (n={len(values)})"
    )


def phases(scenario: KillScenario) -> dict[str, list[float]]:
    """Each run's start split at its journal rows: process start → NodeStarted (interpreter,
    the node's imports, restore), → the last VenueConnected (ccxt import, markets, streams),
    → NodeReady (reconciliation, books)."""
    out: dict[str, list[float]] = {"start": [], "connect": [], "reconcile": []}
    entries = scenario.tail.entries
    for run in scenario.runs:
        last = run.last_seq or entries[-1].seq
        rows = [e.message for e in entries if run.first_seq < e.seq <= last]
        started = next((m.ts for m in rows if isinstance(m, NodeStarted)), None)
        ready = next((m.ts for m in rows if isinstance(m, NodeReady)), None)
        connected = [m.ts for m in rows if isinstance(m, VenueConnected)]
        if started is None or ready is None or not connected:
            continue
        last_connected = max((t for t in connected if t <= ready), default=started)
        out["start"].append((started - run.started_ns) / 1e9)
        out["connect"].append((last_connected - started) / 1e9)
        out["reconcile"].append((ready - last_connected) / 1e9)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kills", type=int, default=100)
    p.add_argument("--seed", type=int, default=None, help="default: TRADENODE_KILL_SEED or fixed")
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        help=f"TWAP duration in s (default {SECONDS_PER_KILL:g} s per kill, at least 75)",
    )
    p.add_argument("--keep", type=Path, help="keep the run's folder here (journal, logs)")
    p.add_argument(
        "--no-pycache",
        action="store_true",
        help="run the processes without a bytecode cache when PYTHONDONTWRITEBYTECODE is set "
        "(each then compiles its imports from source, ccxt's included)",
    )
    args = p.parse_args()
    seed = args.seed if args.seed is not None else seed_from_env()
    pycache = None if args.no_pycache else PYCACHE
    per_kill = SECONDS_PER_KILL if pycache is None else SECONDS_PER_KILL_CACHED
    duration = args.duration or max(75.0, args.kills * per_kill)
    plan = Plan(
        seed=seed, kills=args.kills, duration_s=duration, slices=max(15, round(duration / 5))
    )

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    import_ccxt_pro_s(PYCACHE, repeat=1)  # fills the cache if it is cold
    source = import_ccxt_pro_s(None)
    cached = import_ccxt_pro_s(PYCACHE)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        folder, tmp = args.keep, None
    else:
        tmp = tempfile.TemporaryDirectory(prefix="tradenode-kill-soak-")
        folder = Path(tmp.name)
    began = time.monotonic()
    try:
        with KillScenario(folder, plan, load_plugins().codec(), pycache=pycache) as scenario:
            scenario.run_all()
            result = audit(scenario, Decimal(plan.quantity))
            source += import_ccxt_pro_s(None)
            cached += import_ccxt_pro_s(PYCACHE)
            wall = time.monotonic() - began
            restarts = scenario.runs[1:]
            reached = [r.restart_to_ready_s for r in restarts if r.restart_to_ready_s is not None]
            split = phases(scenario)
    finally:
        if tmp is not None:
            tmp.cleanup()

    kills = len(scenario.runs) - 1
    print(
        f"\nkill soak, seed {seed}: {wall:.0f} s wall, load average {os.getloadavg()[0]:.1f} at end"
    )
    print(f"  kills                      {kills}")
    print(f"  restarts                   {len(restarts)} (reached trading: {len(reached)}; "
          f"the others were killed while reconciling)")  # fmt: skip
    anchors: dict[str, int] = {}
    for run in scenario.runs[:-1]:
        kind = run.anchor.split(" of slice")[0].removeprefix("the ")
        anchors[kind] = anchors.get(kind, 0) + 1
    print("  kill moments               " + ", ".join(f"{k} {n}" for k, n in anchors.items()))
    print(f"  parent                     {result.filled} of {plan.quantity} filled in "
          f"{result.fills} fills ({', '.join(f'{v} {q}' for v, q in result.by_venue.items())}); "
          f"{result.completions}")  # fmt: skip
    print(f"  child orders at exchanges  {result.orders_sent}")
    print("  recovered at restarts:")
    for what, count in sorted(result.recovered.items()):
        print(f"    {what:<40} {count}")
    print(f"  duplicates                 {result.duplicates}")
    print(f"  lost fills                 {result.lost_fills}")
    print(f"  journal fills not at venue {result.unknown_fills}")
    print("\nrestart-to-trading, s (process start → NodeReady journaled), per restart:")
    print(f"  total                      {describe(reached)}")
    print(f"  start → NodeStarted        {describe(split['start'])}")
    print(f"  → venues connected         {describe(split['connect'])}")
    print(f"  → NodeReady (reconciled)   {describe(split['reconcile'])}")
    mode = "compiled from source" if pycache is None else "from the bytecode cache"
    print(f"  (the node processes imported {mode})")
    print("import ccxt.pro alone after the node's plugins, s (fresh interpreters, same run):")
    print(f"  from the bytecode cache    {describe(cached)}")
    print(f"  compiled from source       {describe(source)}   (PYTHONDONTWRITEBYTECODE=1)")
    baseline = source if pycache is None else cached
    if reached and baseline:
        share = statistics.median(baseline) / statistics.median(reached)
        print(f"  that import / restart      {share:.0%} of the median restart-to-trading")
    if result.problems:
        print(f"\nAUDIT FAILED ({len(result.problems)} problems):")
        for problem in result.problems:
            print(f"  - {problem}")
        return 1
    print("\naudit: ok (parent filled once, no id sent twice, fills and balances equal)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
