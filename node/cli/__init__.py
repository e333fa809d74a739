"""``tradenode``: the command line of a node.

Exit codes: 0 success, 1 a run that stopped on an error (or a refused request), 2 bad input
(config, arguments, files). Every command imports what it needs when it runs: ``tradenode
--help`` and ``check`` must answer in well under a second.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from node.cli import journal, operate, report, run, venues, what_if
from node.cli.errors import UserError

_GROUPS = (run, operate, venues, journal, what_if, report)


def build_parser(plugins: object | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tradenode",
        description="A multi-venue trading node: one process per trading account.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in _GROUPS:
        group.add_commands(sub)
    if plugins is not None:
        for registration in plugins.commands:  # type: ignore[attr-defined]
            command = registration.target
            p = sub.add_parser(registration.name, help=command.help, description=command.help)
            command.add_arguments(p)
            p.set_defaults(func=command.run)
    return parser


def _plugins() -> object | None:
    from node.plugins import load_plugins

    try:
        return load_plugins()
    except Exception:  # a broken environment still gets the core's commands
        return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser(_plugins()).parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from node.config import ConfigError
    from node.journal import JournalCorrupt, JournalUnavailable

    try:
        return args.func(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (``tradenode journal CONFIG | head``): not an error of ours.
        # Point stdout at devnull so the interpreter's final flush does not complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        one_line: tuple[type[Exception], ...] = (JournalCorrupt, JournalUnavailable, UserError)
        # ``NodeSetupError`` lives with the whole node (numpy and all): importing it up front
        # cost ``check`` half a second. Only a command that imported ``node.node`` can raise it.
        setup_error = getattr(sys.modules.get("node.node"), "NodeSetupError", None)
        if setup_error is not None:
            one_line += (setup_error,)
        if not isinstance(exc, one_line):
            raise
        print(f"tradenode: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    except KeyboardInterrupt:
        return 130
