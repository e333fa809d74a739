"""Commands that start a node: ``run``, ``demo``, and the ones that check before it: ``check``,
``plugins``."""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from node.cli.common import demo_config_path, load, this_run


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
    node.run()
    node.stop("replay finished" if node.kind == "replay" else "signal")
    messages = this_run(node.path, before, node.journal.codec)
    print_run_report(messages, sys.stdout)
    outcome = node.outcome()
    broken = [m for m in messages if isinstance(m, DataSourceFailed)]
    for failed in broken:
        print(f"tradenode: data for {failed.address} failed: {failed.error}", file=sys.stderr)
    for problem in outcome.problems:
        print(f"tradenode: {problem}", file=sys.stderr)
    return 1 if broken or not outcome.ok else 0


def cmd_demo(args: argparse.Namespace) -> int:
    from node.node import Node
    from node.report import print_demo_report

    config, plugins = load(str(demo_config_path()))
    tmp = None
    if args.journal:
        journal_path = Path(args.journal)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="tradenode-demo-")
        journal_path = Path(tmp.name) / "demo.journal.sqlite"
    node = Node(config, plugins, journal_path=journal_path, runtime_kind="replay")
    before = node.journal.last_seq
    node.start()
    node.run()
    node.stop("demo finished")
    print_demo_report(config, this_run(journal_path, before, node.journal.codec), sys.stdout)
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
    p.set_defaults(func=cmd_demo)
