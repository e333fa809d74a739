"""Commands that start a node: ``run``, ``demo``, and the ones that check before it: ``check``,
``plugins``."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from node.cli.common import demo_config_path, load, this_run
from node.cli.errors import UserError


def cmd_check(args: argparse.Namespace) -> int:
    config, _ = load(args.config)
    print(
        f"{args.config}: ok — node {config.node.name!r}, {len(config.venues)} venue(s): "
        + ", ".join(f"{n} ({v.plugin})" for n, v in config.venues.items())
        + f", {len(config.orders)} order(s)"
    )
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from node.plugins import load_plugins

    plugins = load_plugins()
    plugins.load_all()
    rows = [("NAME", "KIND", "DISTRIBUTION", "VERSION", "STATUS")]
    for s in plugins.statuses:
        rows.append(
            (
                s.name,
                ",".join(s.kinds) or "-",
                s.distribution,
                s.version,
                "ok" if s.ok else f"error: {s.error}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4])
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from node.messages import DataSourceFailed
    from node.node import Node
    from node.report import print_run_report

    config, plugins = load(args.config)
    node = Node(config, plugins, runtime_kind=args.runtime)
    before = node.journal.last_seq
    node.start()
    if node.kind == "live":
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: node.request_stop(""))
        where = f"; control API {node.control_url}" if node.control_url else ""
        print(f"node {config.node.name} running (live){where}; Ctrl-C stops it", file=sys.stderr)
    with replay_progress(node.runtime, sys.stderr):
        node.run()
    node.stop("replay finished" if node.kind == "replay" else "signal")
    messages = this_run(node.path, before, node.journal.codec)
    print_earlier_orders(node, args.config)
    print_run_report(messages, sys.stdout)
    outcome = node.outcome()
    broken = [m for m in messages if isinstance(m, DataSourceFailed)]
    for failed in broken:
        print(f"tradenode: data for {failed.address} failed: {failed.error}", file=sys.stderr)
    for problem in outcome.problems:
        print(f"tradenode: {problem}", file=sys.stderr)
    return 1 if broken or not outcome.ok else 0


@contextlib.contextmanager
def replay_progress(runtime: Any, stream: TextIO) -> Iterator[None]:
    """A progress bar on ``stream`` while a replay runs: simulated time, percent (when the end
    of the data is known up front) and messages/s. Nothing at all unless the runtime is the
    replay runtime and ``stream`` is a terminal: piped or captured output stays as it was."""
    from node.runtime.replay import ReplayProgress, ReplayRuntime

    isatty = getattr(stream, "isatty", None)
    if not isinstance(runtime, ReplayRuntime) or isatty is None or not isatty():
        yield
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("replay"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[sim]}"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=Console(file=stream),
    )
    task = progress.add_task("replay", total=None, sim="", rate="")
    began, before = time.monotonic(), runtime.delivered

    def report(p: ReplayProgress) -> None:
        elapsed = time.monotonic() - began
        rate = (p.delivered - before) / elapsed if elapsed > 0 else 0.0
        fraction = p.fraction
        progress.update(
            task,
            total=None if fraction is None else 100,
            completed=0 if fraction is None else 100 * fraction,
            sim=f"sim {simulated_time(p)}",
            rate=f"{rate:,.0f} msg/s",
        )

    with progress:
        runtime.set_progress(report)
        try:
            yield
        finally:
            runtime.set_progress(None)


def simulated_time(p: Any) -> str:
    """Where a replay's clock is: a date for recorded data, else the time since its start."""
    since = timedelta(seconds=max(0, p.now_ns - p.start_ns) // 10**9)
    if p.start_ns < _YEAR_2000_NS:  # data stamped from zero, not a wall-clock recording
        return f"+{since}"
    when = datetime.fromtimestamp(p.now_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{when} (+{since})"


_YEAR_2000_NS = 946_684_800 * 10**9


def print_earlier_orders(node: Any, config: str) -> None:
    """One line per config order this journal already holds: not submitted twice, not lost."""
    for parent_id in node.orders_from_earlier_runs:
        print(
            f"{parent_id}: submitted by an earlier run on this journal, not again "
            f"(`tradenode report {config} {parent_id}` shows it)\n"
        )


def _demo_journal(path: str | None) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
    """The demo's journal: ``--journal`` if given, else one in a temporary folder (returned too,
    so it lives as long as the caller holds it)."""
    if path:
        return Path(path), None
    tmp = tempfile.TemporaryDirectory(prefix="tradenode-demo-")
    return Path(tmp.name) / "demo.journal.sqlite", tmp


def cmd_demo(args: argparse.Namespace) -> int:
    from node.node import Node
    from node.report import print_demo_report

    if args.serve:
        return _serve_demo(args)
    config, plugins = load(str(demo_config_path()))
    journal_path, tmp = _demo_journal(args.journal)
    node = Node(config, plugins, journal_path=journal_path, runtime_kind="replay")
    before = node.journal.last_seq
    node.start()
    node.run()
    node.stop("demo finished")
    print_earlier_orders(node, f"--journal {journal_path} {demo_config_path()}")
    print_demo_report(config, this_run(journal_path, before, node.journal.codec), sys.stdout)
    if tmp is not None:
        tmp.cleanup()
    else:
        print(f"\njournal: {journal_path}")
    return 0


def serve_config(config: Any, plugins: Any, port: int, speed: float, duration_s: float) -> Any:
    """The demo as a service to watch: the live runtime, the control API on loopback ``port``,
    the recorded markets paced at ``speed`` (1 = real time), and its orders worked as TWAPs over
    ``duration_s`` (one slice every five seconds) when the ``twap`` algorithm is installed."""
    import msgspec

    from node.config import ControlSection

    node = msgspec.structs.replace(
        config.node, runtime="live", control=ControlSection(host="127.0.0.1", port=port)
    )
    venues = {
        name: msgspec.structs.replace(
            entry, settings=msgspec.structs.replace(entry.settings, replay_speed=speed)
        )
        if hasattr(entry.settings, "replay_speed")
        else entry
        for name, entry in config.venues.items()
    }
    orders = config.orders
    if "twap" in plugins.algos:
        slices = max(1, round(duration_s / 5))
        orders = [
            msgspec.structs.replace(
                spec,
                algo="twap",
                params={**spec.params, "duration_s": duration_s, "slices": slices},
            )
            for spec in orders
        ]
    return msgspec.structs.replace(config, node=node, venues=venues, orders=orders)


def _serve_demo(args: argparse.Namespace) -> int:
    import os
    import webbrowser

    from node.node import Node
    from node.report import print_balances, print_run_report

    if not (args.speed > 0 and args.duration > 0):
        raise UserError("--speed and --duration must be > 0")
    config, plugins = load(str(demo_config_path()))
    config = serve_config(config, plugins, args.port, args.speed, args.duration)
    journal_path, tmp = _demo_journal(args.journal)
    node = Node(config, plugins, journal_path=journal_path, runtime_kind="live")
    before = node.journal.last_seq
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: node.request_stop(""))
    node.start()
    url = f"{node.control_url}/"
    how = (
        f"its orders worked as TWAPs over {args.duration:g} s"
        if "twap" in plugins.algos
        else "the twap algorithm is not installed: its orders are routed at once"
    )
    print(f"tradenode demo: dashboard at {url} ({how}); Ctrl-C stops the node", flush=True)
    display = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if args.open and (display or sys.platform != "linux"):
        webbrowser.open(url)
    node.run()
    node.stop("demo stopped")
    messages = this_run(journal_path, before, node.journal.codec)
    print(
        f"\ntradenode demo — node {config.node.name!r}: {len(config.venues)} simulated venues "
        f"({', '.join(config.venues)}) on real recorded order books, live runtime\n"
        "\nstarting balances"
    )
    print_balances(messages, sys.stdout, first=True)
    print_run_report(messages, sys.stdout)
    if tmp is not None:
        tmp.cleanup()
    else:
        print(f"\njournal: {journal_path}")
    return 0


def add_commands(sub: Any) -> None:
    text = "run a node on CONFIG until SIGINT/SIGTERM (live) or the end of its data (replay)"
    p = sub.add_parser("run", help=text, description=text)
    p.add_argument("config", help="the node's TOML config (one file = one account)")
    p.add_argument("--runtime", choices=["live", "replay"], help="override [node] runtime")
    p.set_defaults(func=cmd_run)

    text = "validate CONFIG as run would, without starting anything (exit 2 if bad)"
    p = sub.add_parser("check", help=text, description=text)
    p.add_argument("config")
    p.set_defaults(func=cmd_check)

    text = "list every plugin: name, kind, distribution, version, status"
    p = sub.add_parser("plugins", help=text, description=text)
    p.set_defaults(func=cmd_plugins)

    text = (
        "run the embedded demo: simulated venues on real recorded books, no keys, no network. "
        "Its journal goes to a temporary folder that is removed afterwards, unless --journal "
        "says where to keep it."
    )
    p = sub.add_parser("demo", help=text.split(".")[0], description=text)
    p.add_argument("--journal", help="keep the demo's journal at this path")
    p.add_argument(
        "--serve",
        action="store_true",
        help="run it live with the dashboard and control API until Ctrl-C",
    )
    p.add_argument("--port", type=int, default=0, help="with --serve: the port (0: a free one)")
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="with --serve: pace of the recorded markets (1 = real time)",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=120.0,
        help="with --serve: seconds over which each demo order is worked (default 120)",
    )
    p.add_argument(
        "--no-open",
        dest="open",
        action="store_false",
        help="with --serve: do not open the dashboard in a browser",
    )
    p.set_defaults(func=cmd_demo)
