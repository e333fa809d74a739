"""How long the command line takes to start and how much memory it needs, beside a bare Python.

Every figure is a fresh process, run from this script with the interpreter it runs under (the
project's virtual environment under ``uv run``):

* **whole process** — ``tradenode --help``, ``tradenode check <demo config>``, ``tradenode route``
  (the README's example: the four order-graph books, a 25 BTC buy) and ``tradenode demo``:
  wall time from start to exit, the process's CPU time (user + system, which other work on a
  shared machine disturbs less than the wall clock) and its peak resident memory;
* **before its own work** — ``route`` and ``demo`` do real work after they start (reading the
  books and routing; building and running a node), and no flag makes a command stop where its
  work begins, so that moment is measured with ``python -c`` running exactly what the command
  runs before it: ``node.cli``'s imports, loading the plugins, parsing the arguments, and the
  command's own deferred imports (``route``: ``node.whatif``; ``demo``: ``node.node``,
  ``node.report`` and loading the demo config). ``--help`` and ``check`` are short enough that
  the whole process is the figure;
* **baseline** — ``python -c "import msgspec, pykka, pluggy, numpy"``: the interpreter and the
  libraries every node needs, the floor a command cannot go below (and ``python -c pass``).

Peak RSS is each child's own ``ru_maxrss`` from ``os.wait4`` (``resource.getrusage``'s
``RUSAGE_CHILDREN`` would give the largest over all children so far). A child started by
``subprocess`` may carry the RSS of this parent from before its ``exec`` into that figure, so
this script imports nothing heavy (it stays near 10 MiB, below any Python child).

Commands run in interleaved rounds (each round runs each command once, in an order rotated by
the round), medians of ``--runs`` (default 7). ``-X importtime`` of each start-up then names the
imports that cost the most (cumulative, top-level packages), which is where to look when a command
misses its goal (``--help`` and ``check`` ≤ 0.5 s whole process; ``route`` and ``demo`` ≤ 1.5 s
before their work).

    uv run python benchmarks/cli_start.py [--runs N] [--skip-demo]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO_CONFIG = ROOT / "configs" / "demo.toml"  # what node.cli.common.demo_config_path() finds
ORDER_GRAPH = ROOT / "venues/sim/tradenode_sim/data/order-graph/run1-1.json"
ROUTE_ARGS = [
    "route",
    str(ORDER_GRAPH),
    "--symbol",
    "BTC/USD",
    "--side",
    "buy",
    "--quantity",
    "25",
    "--fee",
    "bitfinex=20",
    "--fee",
    "bittrex=25",
    "--fee",
    "bitstamp=25",
    "--fee",
    "coinbase=30",
]

#: what ``tradenode route ...`` runs before ``route_books`` (node/cli/__init__.py main, then
#: node/cli/what_if.py cmd_route up to its first line of work)
_ROUTE_STARTUP = """
import sys
from node.cli import _plugins, build_parser
args = build_parser(_plugins()).parse_args(sys.argv[1:])
from node.plugins import load_plugins
from node.whatif import WhatIfError, format_route, route_books
plugins = load_plugins()
"""

#: what ``tradenode demo`` runs before it builds the node (main, then node/cli/run.py cmd_demo up
#: to ``Node(...)``)
_DEMO_STARTUP = """
import sys
from node.cli import _plugins, build_parser
args = build_parser(_plugins()).parse_args(sys.argv[1:])
from node.node import Node
from node.report import print_demo_report
from node.cli.common import demo_config_path, load
config, plugins = load(str(demo_config_path()))
"""


@dataclass
class Probe:
    name: str
    argv: list[str]
    goal_s: float | None = None
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def run(self, workdir: Path) -> None:
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        with tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            child = subprocess.Popen(
                self.argv, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=err
            )
            _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage
            wall = time.perf_counter() - start
            child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
            if child.returncode != 0:
                err.seek(0)
                text = err.read().decode(errors="replace").strip()
                self.failures.append(f"exit {child.returncode}: {text[-300:]}")
                return
        self.walls.append(wall)
        self.cpus.append(usage.ru_utime + usage.ru_stime)
        self.rss_kib.append(usage.ru_maxrss)

    def row(self, baseline: Probe | None) -> str:
        if not self.walls:
            return f"  {self.name:34s} FAILED: {self.failures[-1] if self.failures else '?'}"
        wall = statistics.median(self.walls)
        cpu = statistics.median(self.cpus)
        rss = statistics.median(self.rss_kib) / 1024
        text = (
            f"  {self.name:34s} {wall:6.3f} s wall (min {min(self.walls):5.3f})  "
            f"{cpu:6.3f} s cpu  {rss:6.1f} MiB"
        )
        if baseline is not None and baseline.walls:
            base = statistics.median(baseline.cpus)
            text += f"  {cpu / base:4.1f}x base cpu"
        if self.goal_s is not None:
            verdict = "meets" if wall <= self.goal_s else "MISSES"
            text += f"  [goal <= {self.goal_s:g} s: {verdict}]"
        return text


def _importtime(argv: list[str], workdir: Path, top: int = 6) -> list[tuple[str, float]]:
    """The top-level imports with the largest cumulative time (s) under ``-X importtime``."""
    out = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"),
        check=False,
    ).stderr
    found: list[tuple[str, float]] = []
    for line in out.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        if not cumulative.isdigit():
            continue  # the header
        raw = line.split("|")[-1]
        depth = (len(raw) - len(raw.lstrip(" ")) - 1) // 2
        if depth == 0:  # imported by the script itself, not by another module
            found.append((name, int(cumulative) / 1e6))
    found.sort(key=lambda item: -item[1])
    return found[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each command (default 7)")
    parser.add_argument("--skip-demo", action="store_true", help="leave out the whole demo run")
    args = parser.parse_args()

    python = sys.executable
    entry = Path(python).parent / "tradenode"
    tradenode = [str(entry)] if entry.exists() else [python, "-m", "node.cli"]
    cores = os.cpu_count()
    print(
        f"machine: {cores} cores, load average {os.getloadavg()[0]:.2f} "
        f"{os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} at the start; "
        f"{sys.implementation.name} {sys.version.split()[0]}; {args.runs} interleaved runs each"
    )

    base = Probe(
        "python -c 'import msgspec, pykka, pluggy, numpy'",
        [python, "-c", "import msgspec, pykka, pluggy, numpy"],
    )
    bare = Probe("python -c pass", [python, "-c", "pass"])
    whole = [
        Probe("tradenode --help", [*tradenode, "--help"], 0.5),
        Probe("tradenode check <demo config>", [*tradenode, "check", str(DEMO_CONFIG)], 0.5),
        Probe("tradenode route <README example>", [*tradenode, *ROUTE_ARGS]),
    ]
    if not args.skip_demo:
        whole.append(Probe("tradenode demo", [*tradenode, "demo"]))
    startup = [
        Probe("route, before its work", [python, "-c", _ROUTE_STARTUP, *ROUTE_ARGS], 1.5),
        Probe("demo, before its work", [python, "-c", _DEMO_STARTUP, "demo"], 1.5),
    ]
    probes = [bare, base, *whole, *startup]
    workdir = Path(tempfile.mkdtemp(prefix="tradenode-cli-start-"))
    try:
        for probe in probes:  # warm the file cache once, outside the figures
            probe.run(workdir)
            probe.walls.clear(), probe.cpus.clear(), probe.rss_kib.clear()
        for round_ in range(args.runs):
            shift = round_ % len(probes)
            for probe in probes[shift:] + probes[:shift]:
                probe.run(workdir)

        print("\nwhole process, median (peak RSS = the child's ru_maxrss):")
        for probe in (bare, base, *whole):
            print(probe.row(base if probe not in (bare, base) else None))
        print("\nbefore the command's own work (python -c running what it runs first):")
        for probe in startup:
            print(probe.row(base))
        print(
            "\n(goals are on the wall clock of an idle machine; on a loaded one compare the cpu "
            "column and its ratio to the baseline)"
        )

        print("\nlargest imports of each start-up (-X importtime, cumulative, one run):")
        for probe in (base, whole[0], whole[1], *startup):
            argv = probe.argv
            if argv[0] == str(entry):  # the console script: run the same through python -c
                argv = [python, "-c", "import sys; from node.cli import main; sys.exit(main())"]
                argv += probe.argv[1:]
            tops = _importtime(argv, workdir)
            listed = ", ".join(f"{name} {seconds:.3f}" for name, seconds in tops)
            print(f"  {probe.name}: {listed}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
