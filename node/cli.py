"""``tradenode``: run a node, check a config, list plugins, read the journal, route what-ifs, demo.

Exit codes: 0 success, 1 a run that stopped on an error, 2 bad input (config, arguments, files).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from node.config import ConfigError, NodeConfig, load_config
from node.journal import Journal, JournalCorrupt
from node.messages import DataSourceFailed, Message, to_json
from node.node import NodeSetupError
from node.plugins import Plugins, load_plugins

PACKAGE_DIR = Path(__file__).resolve().parent


def demo_config_path() -> Path:
    """The embedded default config: inside the package when installed, else the repo's copy."""
    for candidate in (
        PACKAGE_DIR / "configs" / "demo.toml",
        PACKAGE_DIR.parent / "configs" / "demo.toml",
    ):
        if candidate.exists():
            return candidate
    raise FileNotFoundError("demo.toml is missing from this installation")


def _load(path: str) -> tuple[NodeConfig, Plugins]:
    plugins = load_plugins()
    for status in plugins.statuses:
        if not status.ok:
            print(f"warning: plugin {status.name} not loaded: {status.error}", file=sys.stderr)
    return load_config(path, plugins), plugins


def cmd_check(args: argparse.Namespace) -> int:
    config, _ = _load(args.config)
    print(
        f"{args.config}: ok — node {config.node.name!r}, {len(config.venues)} venue(s): "
        + ", ".join(f"{n} ({v.plugin})" for n, v in config.venues.items())
    )
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    plugins = load_plugins()
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


def cmd_journal(args: argparse.Namespace) -> int:
    config, _ = _load(args.config)
    path = Path(args.journal) if args.journal else config.journal_path
    if not path.exists():
        print(f"{path}: no journal yet (the node has not run)", file=sys.stderr)
        return 2
    journal = Journal(path)
    try:
        if args.output:
            with open(args.output, "wb") as out:
                _write_journal(journal, out)
        else:
            _write_journal(journal, sys.stdout.buffer)
    finally:
        journal.close()
    return 0


def _write_journal(journal: Journal, out) -> None:
    for entry in journal.entries():
        out.write(b'{"seq":%d,"message":' % entry.seq + to_json(entry.message) + b"}\n")


def cmd_operator(args: argparse.Namespace) -> int:
    """Journal an operator's command: a running node obeys it within a second, a stopped one
    when it next starts."""
    import time

    from node.commands import journal_command
    from node.messages import HaltTrading, ReduceOnly, ResumeTrading

    config, _ = _load(args.config)
    path = config.journal_path
    if not path.exists():
        print(f"{path}: no journal yet (the node has not run)", file=sys.stderr)
        return 2
    now = time.time_ns()
    if args.command == "halt":
        command = HaltTrading(reason=args.reason, cancel_open_orders=not args.keep_orders, ts=now)
    elif args.command == "reduce-only":
        command = ReduceOnly(reason=args.reason, ts=now)
    else:
        command = ResumeTrading(reason=args.reason, ts=now)
    seq = journal_command(path, command)
    print(
        f"{type(command).__name__} journaled for node {config.node.name!r} (seq {seq}): "
        "a running node obeys it within a second, a stopped one when it starts"
    )
    return 0


def _this_run(journal_path: Path, after_seq: int) -> list[Message]:
    """What one run journaled: the reports are derived from the journal, not kept in memory
    while a node runs (a live node would otherwise hold every message it ever saw)."""
    journal = Journal(journal_path)
    try:
        return [entry.message for entry in journal.entries(after_seq=after_seq)]
    finally:
        journal.close()


def cmd_run(args: argparse.Namespace) -> int:
    from node.node import Node
    from node.report import print_run_report

    config, plugins = _load(args.config)
    node = Node(config, plugins, runtime_kind=args.runtime)
    before = node.journal.last_seq
    node.start()
    if node.kind == "replay":
        node.runtime.run()
        node.stop("replay finished")
    else:
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        print(f"node {config.node.name} running (live); Ctrl-C stops it", file=sys.stderr)
        stop.wait()
        node.stop("signal")
    messages = _this_run(config.journal_path, before)
    print_run_report(messages, sys.stdout)
    broken = [m for m in messages if isinstance(m, DataSourceFailed)]
    for failed in broken:
        print(f"tradenode: data for {failed.address} failed: {failed.error}", file=sys.stderr)
    return 1 if broken else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from node.node import Node
    from node.report import print_demo_report

    config, plugins = _load(str(demo_config_path()))
    tmp = None
    if args.journal:
        journal_path = Path(args.journal)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="tradenode-demo-")
        journal_path = Path(tmp.name) / "demo.journal.sqlite"
    node = Node(config, plugins, journal_path=journal_path, runtime_kind="replay")
    before = node.journal.last_seq
    node.start()
    node.runtime.run()
    node.stop("demo finished")
    print_demo_report(config, _this_run(journal_path, before), sys.stdout)
    if tmp is not None:
        tmp.cleanup()
    else:
        print(f"\njournal: {journal_path}")
    return 0


def cmd_route(args: argparse.Namespace) -> int:
    from node.whatif import WhatIfError, format_route, route_books

    plugins = load_plugins()
    try:
        result = route_books(
            plugins.book_sources,
            args.book_files,
            side=args.side,
            quantity=args.quantity,
            symbol=args.symbol,
            fees=args.fee,
            balances=args.balance,
            mode=args.mode,
        )
    except WhatIfError as exc:
        print(f"tradenode route: {exc}", file=sys.stderr)
        return 2
    if args.json:
        import msgspec

        sys.stdout.buffer.write(msgspec.json.encode(result) + b"\n")
    else:
        print(format_route(result))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradenode",
        description="A multi-venue trading node: one process per trading account.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a node on CONFIG until SIGINT/SIGTERM (or replay's end)")
    p.add_argument("config", help="the node's TOML config (one file = one account)")
    p.add_argument("--runtime", choices=["live", "replay"], help="override [node] runtime")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check", help="validate CONFIG without starting anything (exit 2 if bad)")
    p.add_argument("config")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser(
        "plugins", help="list every plugin: name, kind, distribution, version, status"
    )
    p.set_defaults(func=cmd_plugins)

    p = sub.add_parser("journal", help="print the node's journal as JSON lines")
    p.add_argument("config")
    p.add_argument("--journal", help="read this journal file instead of the config's")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.set_defaults(func=cmd_journal)

    for name, text in (
        ("halt", "stop trading: refuse new orders and cancel open ones (kill switch)"),
        ("reduce-only", "accept only orders that reduce a position"),
        ("resume", "trade again after a halt or reduce-only (once you have reconciled)"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("config")
        p.add_argument("--reason", required=True, help="why (journaled with the command)")
        if name == "halt":
            p.add_argument("--keep-orders", action="store_true", help="do not cancel open orders")
        p.set_defaults(func=cmd_operator)

    p = sub.add_parser(
        "demo", help="run the embedded demo: simulated venues on real recorded books, no keys"
    )
    p.add_argument("--journal", help="keep the demo's journal at this path")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "route", help="what-if: where would an order go on these books, and what would it cost?"
    )
    p.add_argument("book_files", nargs="+", metavar="BOOK_FILE")
    p.add_argument("--side", choices=["buy", "sell"], required=True)
    p.add_argument("--quantity", required=True, help="base quantity, e.g. 25")
    p.add_argument("--symbol", help="which pair, when a file holds several (e.g. BTC/USD)")
    p.add_argument("--fee", action="append", default=[], metavar="VENUE=BPS", help="taker fee")
    p.add_argument(
        "--balance",
        action="append",
        default=[],
        metavar="VENUE=AMOUNT",
        help="free balance: quote currency for a buy, base for a sell",
    )
    p.add_argument("--mode", choices=["split", "best-venue"], default="split")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=cmd_route)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except (JournalCorrupt, NodeSetupError) as exc:
        print(f"tradenode: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (``tradenode journal CONFIG | head``): not an error of ours.
        # Point stdout at devnull so the interpreter's final flush does not complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
