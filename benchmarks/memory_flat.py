"""Resident memory of a whole node replaying the same market ten times over in one process, and
of a live node on the loopback Binance exchange: does it stay flat after warm-up?

**Replay** (the default): the recorded Binance BTCUSDT spot capture (99,572 messages) through a
whole node built as ``tradenode run`` builds it (``load_config`` + ``Node``, replay runtime,
journal on disk), ``--rounds`` times (default 10) in ONE process, **a new node per round**: what a
user's repeated backtests do (a parameter sweep, a notebook cell run again), each backtest a node
of its own, the plugins loaded once. The config is the sim venue on the capture with ``preload =
true`` (the parsed capture is kept for the process, as a sweep would ask; ``--no-preload`` reads
it lazily each round, as a single ``tradenode run`` does) and a TWAP buying
2 BTC over the capture in 20 slices, each resting at the mid first: every round routes, rests,
fills on recorded trades, takes what is left, journals and values. ``--demo`` replays the
embedded demo config instead (four venues on static order-graph books, three orders).

Resident memory (``/proc/self/statm``) is sampled by a component subscribed to every published
message, every ``--every`` messages (default 10,000), and after each round once its node has
stopped and ``gc.collect()`` has run. The baseline beside the figures: the process after its
imports and the plugins, before any node, and round 3 (after warm-up: the capture parsed once,
every code path run). Growth after warm-up = after the last round minus after round 3, in MiB and
%, with the least-squares slope over rounds 3..N.

``--tracemalloc`` also traces Python allocations (about three times slower): the traced total
after each round, and the lines whose allocations grew most between round 3 and the last round.

**Live** (``--live-minutes M``): the loopback Binance exchange (``python -m
tradenode_ccxt.loopback``, a subprocess, the same capture at ``--live-speed``, default 1 = real
time) and a live node (ccxt venue over REST and websockets, control API on a free port, a TWAP
buying 0.5 BTC over the run in 30 s slices), sampled every ``--interval`` seconds. At speed 1 the
capture lasts 10.8 minutes; after that the exchange's market stands still: the node's book goes
stale, the router routes nothing more (``max_book_age_ms``), and the node runs on idle (the TWAP's
timers, the control API, its checks). The TWAP still reports its progress once a second, and the
control API keeps the last ``--events-kept`` events for a stream that resumes (``[node.control]
events_kept``, ~1 KB each): until that history is full, it grows.

    uv run python benchmarks/memory_flat.py [--rounds N] [--every N] [--demo | --no-preload]
        [--tracemalloc]
    uv run python benchmarks/memory_flat.py --live-minutes 60 [--interval 10] [--events-kept N]
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

from node.component import Component
from node.config import ControlSection, load_config
from node.messages import FILL_TYPES, Message
from node.node import Node
from node.plugins import load_plugins

ROOT = Path(__file__).resolve().parent.parent
CAPTURE = ROOT / "venues/sim/tradenode_sim/data/binance-stream/spot"
CAPTURE_FILES = (CAPTURE / "btcusdt_20240808.gz", CAPTURE / "btcusdt_20240809.gz")
DEMO = ROOT / "configs" / "demo.toml"  # what node.cli.common.demo_config_path() finds
_PAGE = os.sysconf("SC_PAGE_SIZE")
_MIB = 1 << 20

REPLAY_CONFIG = """
[node]
name = "memory-replay"
runtime = "replay"
valuation_currency = "USDT"

[risk]
max_daily_loss = "100000"

[risk.checks.duplicate_id]
[risk.checks.instrument]
[risk.checks.increments]
[risk.checks.min_notional]
[risk.checks.free_balance]

[venues.binance]
plugin = "sim"
source = "binance-stream"
files = [{files}]
preload = {preload}
taker_fee_bps = "10"
maker_fee_bps = "10"
balances = {{ USDT = "1000000", BTC = "10" }}
symbols."BTC/USDT" = {{ tick_size = "0.01", lot_size = "0.00001", min_notional = "5" }}

[[orders]]
parent_id = "memory-twap"
symbol = "BTC/USDT"
side = "buy"
quantity = "2"
algo = "twap"
after_ms = 1000
params = {{ duration_s = 600, slices = 20, max_slippage_bps = "50" }}
"""

LIVE_CONFIG = """
[node]
name = "memory-live"
runtime = "live"
valuation_currency = "USDT"

[node.control]
events_kept = {events_kept}

[router]
max_book_age_ms = 5000

[risk.checks.duplicate_id]
[risk.checks.instrument]
[risk.checks.increments]
[risk.checks.min_notional]
[risk.checks.free_balance]

[venues.loopback]
plugin = "ccxt"
exchange = "binance"
symbols = ["BTC/USDT"]
api_key_env = "MEMORY_BENCH_LOOPBACK_KEY"
secret_env = "MEMORY_BENCH_LOOPBACK_SECRET"
base_url = "{url}"
market_data = "websocket"
options = {{ fetchMarkets = {{ types = ["spot"] }}, fetchMargins = false, \
fetchCurrencies = false, recvWindow = 2000 }}

[[orders]]
parent_id = "memory-live-twap"
symbol = "BTC/USDT"
side = "buy"
quantity = "0.5"
algo = "twap"
after_ms = 2000
params = {{ duration_s = {duration}, slices = {slices}, max_slippage_bps = "50" }}
"""
#: what the loopback is started with and the node reads from its environment (test values of a
#: local exchange, not credentials of any real account)
_LOOPBACK_KEY, _LOOPBACK_SECRET = "memory-bench-key", "memory-bench-secret"


def rss_mib() -> float:
    """This process's resident memory now (``/proc/self/statm``, pages)."""
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * _PAGE / _MIB


def machine() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {one:.2f} {five:.2f} {fifteen:.2f}"


class MemoryProbe(Component):
    """Samples RSS every ``every`` published messages (it is subscribed to all of them)."""

    subscriptions = (Message,)

    def __init__(self, every: int, samples: list[tuple[int, float]]) -> None:
        super().__init__("memory-probe")
        self.every = every
        self.seen = 0
        self.fills = 0  # of our orders: proof that the round traded
        self.samples = samples  # (messages seen, RSS MiB)

    def on_message(self, message: Message) -> None:
        self.seen += 1
        if isinstance(message, FILL_TYPES):
            self.fills += 1
        if self.seen % self.every == 0:
            self.samples.append((self.seen, rss_mib()))


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    if len(points) < 2:
        return 0.0
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else 0.0


def top_growth(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, n: int = 12) -> None:
    stats = after.compare_to(before, "lineno")
    grew = [s for s in stats if s.size_diff > 0][:n]
    total = sum(s.size_diff for s in stats) / 1024
    print(f"  traced growth overall: {total:+,.0f} KiB; largest by line:")
    for stat in grew:
        frame = stat.traceback[0]
        where = frame.filename
        for root in (
            f"{ROOT}/",
            "site-packages/",
            f"python{sys.version_info[0]}.{sys.version_info[1]}/",
        ):
            if root in where:
                where = where.split(root, 1)[1]
                break
        print(
            f"    {stat.size_diff / 1024:+9,.1f} KiB {stat.count_diff:+7,d} blocks  "
            f"{where}:{frame.lineno}"
        )


# --- replay ------------------------------------------------------------------------------------


def replay(args: argparse.Namespace) -> None:
    print(f"machine: {machine()} at the start; {sys.implementation.name} {sys.version.split()[0]}")
    if args.tracemalloc:
        tracemalloc.start(1)
    plugins = load_plugins()
    gc.collect()
    start_rss = rss_mib()
    workdir = Path(tempfile.mkdtemp(prefix="tradenode-memory-"))
    if args.demo:
        config_path = DEMO
        what = "the embedded demo config (configs/demo.toml)"
    else:
        config_path = workdir / "node.toml"
        files = ", ".join(f'"{p}"' for p in CAPTURE_FILES)
        config_path.write_text(
            REPLAY_CONFIG.format(files=files, preload=str(not args.no_preload).lower())
        )
        how = "read lazily each round" if args.no_preload else "preload"
        what = f"the sim venue on the Binance BTCUSDT capture ({how}) with a 2 BTC TWAP"
    print(
        f"{args.rounds} rounds in one process, a new node per round, on {what}; RSS every "
        f"{args.every:,} published messages and after each round (node stopped, gc.collect())"
    )
    print(f"baseline: {start_rss:.1f} MiB after imports and plugins, before any node\n")

    after: list[float] = []
    traced: list[float] = []
    snapshots: dict[int, tracemalloc.Snapshot] = {}
    print(
        "round  after MiB  peak MiB  messages  fills  cpu s  "
        f"RSS every {args.every:,} messages (MiB)"
    )
    try:
        for round_ in range(1, args.rounds + 1):
            samples: list[tuple[int, float]] = []
            probe = MemoryProbe(args.every, samples)
            journal = workdir / f"journal-{round_}.sqlite"
            cpu = time.process_time()
            node = Node(
                load_config(config_path, plugins),
                plugins,
                journal_path=journal,
                runtime_kind="replay",
                extra=[probe],
            )
            node.start()
            node.run()
            node.stop("memory benchmark round over")
            cpu = time.process_time() - cpu
            seen, fills = probe.seen, probe.fills
            del node, probe
            # Its journal, -wal, -shm and lock files. Not ``glob``: a new pattern each round
            # fills fnmatch's and pathlib's caches (256 patterns) and pins memory of its own.
            for name in os.listdir(workdir):
                if name.startswith(journal.name):
                    os.unlink(workdir / name)
            gc.collect()
            now = rss_mib()
            after.append(now)
            peak = max([now, *(rss for _, rss in samples)])
            curve = " ".join(f"{rss:.0f}" for _, rss in samples)
            print(
                f"{round_:5d}  {now:9.1f}  {peak:8.1f}  {seen:8,d}  {fills:5d}  {cpu:5.2f}  {curve}"
            )
            if args.tracemalloc:
                traced.append(tracemalloc.get_traced_memory()[0] / _MIB)
                if round_ in (3, args.rounds):
                    snapshots[round_] = tracemalloc.take_snapshot()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\nmachine: {machine()} at the end")
    if args.rounds >= 4:
        warm = after[2]
        last = after[-1]
        rate = slope([(float(i), after[i - 1]) for i in range(3, args.rounds + 1)])
        print(
            f"RSS after round 3 (warm): {warm:.1f} MiB; after round {args.rounds}: {last:.1f} MiB; "
            f"growth after warm-up {last - warm:+.2f} MiB ({(last - warm) / warm * 100:+.2f} %), "
            f"slope {rate:+.3f} MiB/round; round 1 took {after[0] - start_rss:+.1f} MiB over the "
            f"baseline (the parsed capture and first-use caches)"
        )
    if traced:
        print("tracemalloc, traced MiB after each round: " + " ".join(f"{t:.1f}" for t in traced))
    if 3 in snapshots and args.rounds in snapshots and args.rounds != 3:
        print(f"allocations that grew between round 3 and round {args.rounds}:")
        top_growth(snapshots[3], snapshots[args.rounds])


# --- live --------------------------------------------------------------------------------------


def start_loopback(speed: float, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The loopback Binance exchange in a subprocess on a free port; (process, its URL)."""
    out = workdir / "loopback.out"
    with out.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tradenode_ccxt.loopback",
                "--port",
                "0",
                "--speed",
                str(speed),
                "--api-key",
                _LOOPBACK_KEY,
                "--api-secret",
                _LOOPBACK_SECRET,
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"listening on (http://\S+)", out.read_text(errors="replace"))
        if found:
            return process, found.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the loopback exchange did not start: {out.read_text(errors='replace')}")


def live(args: argparse.Namespace) -> None:
    print(f"machine: {machine()} at the start; {sys.implementation.name} {sys.version.split()[0]}")
    if args.tracemalloc:
        tracemalloc.start(1)
    workdir = Path(tempfile.mkdtemp(prefix="tradenode-memory-live-"))
    process, url = start_loopback(args.live_speed, workdir)
    os.environ["MEMORY_BENCH_LOOPBACK_KEY"] = _LOOPBACK_KEY
    os.environ["MEMORY_BENCH_LOOPBACK_SECRET"] = _LOOPBACK_SECRET
    seconds = args.live_minutes * 60
    try:
        plugins = load_plugins()
        config_path = workdir / "node.toml"
        config_path.write_text(
            LIVE_CONFIG.format(
                url=url,
                duration=max(60, seconds - 30),
                slices=max(1, seconds // 30),
                events_kept=args.events_kept,
            )
        )
        gc.collect()
        base = rss_mib()
        probe = MemoryProbe(1 << 62, [])  # counts only: messages published, our fills
        node = Node(
            load_config(config_path, plugins),
            plugins,
            journal_path=workdir / "journal.sqlite",
            runtime_kind="live",
            extra=[probe],
        )
        t0 = time.monotonic()
        node.start()
        runner = threading.Thread(target=node.run, name="memory-live-node", daemon=True)
        runner.start()
        print(
            f"live node on the loopback Binance exchange at {url} (speed {args.live_speed:g}), "
            f"{args.live_minutes:g} min, RSS every {args.interval:g} s"
        )
        print(f"baseline: {base:.1f} MiB after imports and plugins, before the node\n")
        print("  minute   RSS MiB  messages  fills" + ("  traced MiB" if args.tracemalloc else ""))
        samples: list[tuple[float, float]] = []
        warm_snapshot = None
        warm_at = min(seconds / 4, 300.0)
        next_print = 0.0
        while (elapsed := time.monotonic() - t0) < seconds and runner.is_alive():
            rss = rss_mib()
            samples.append((elapsed, rss))
            if args.tracemalloc and warm_snapshot is None and elapsed >= warm_at:
                warm_snapshot = tracemalloc.take_snapshot()
            if elapsed >= next_print:
                extra = ""
                if args.tracemalloc:
                    extra = f"  {tracemalloc.get_traced_memory()[0] / _MIB:10.1f}"
                counts = f"{probe.seen:8,d}  {probe.fills:5d}"
                print(f"  {elapsed / 60:6.1f}   {rss:7.1f}  {counts}{extra}", flush=True)
                next_print += args.print_every
            time.sleep(min(args.interval, max(0.0, seconds - elapsed)))
        end_snapshot = tracemalloc.take_snapshot() if args.tracemalloc else None
        node.request_stop("memory benchmark over")
        runner.join(timeout=60)
        node.stop("memory benchmark over")
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\nmachine: {machine()} at the end")
    warm = [(t, r) for t, r in samples if t >= warm_at]
    if len(warm) >= 2:
        first, last = warm[0][1], warm[-1][1]
        rate = slope([(t / 3600, r) for t, r in warm])
        print(
            f"RSS at {warm_at / 60:.1f} min (warm): {first:.1f} MiB; at the end: {last:.1f} MiB "
            f"(max {max(r for _, r in samples):.1f}); growth after warm-up {last - first:+.2f} MiB "
            f"({(last - first) / first * 100:+.2f} %), slope {rate:+.2f} MiB/hour"
        )
    if warm_snapshot is not None and end_snapshot is not None:
        print("allocations that grew between warm-up and the end:")
        top_growth(warm_snapshot, end_snapshot)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="replays of the capture (10)")
    parser.add_argument("--every", type=int, default=10_000, help="sample every N messages")
    parser.add_argument("--demo", action="store_true", help="replay the embedded demo config")
    parser.add_argument(
        "--no-preload", action="store_true", help="read the capture lazily in every round"
    )
    parser.add_argument("--tracemalloc", action="store_true", help="trace allocations (slow)")
    parser.add_argument("--live-minutes", type=float, help="run a live node this long instead")
    parser.add_argument("--live-speed", type=float, default=1.0, help="loopback pace (1)")
    parser.add_argument("--interval", type=float, default=10.0, help="live: sample every S s")
    parser.add_argument(
        "--events-kept",
        type=int,
        default=ControlSection().events_kept,
        help="live: [node.control] events_kept, the API's resume history (the node's default)",
    )
    parser.add_argument(
        "--print-every", type=float, default=60.0, help="live: print a sample every S s (60)"
    )
    args = parser.parse_args()
    if args.live_minutes:
        live(args)
    else:
        replay(args)


if __name__ == "__main__":
    main()
