"""This plugin's ``tradenode`` subcommands: ``quotes`` and ``rebalance``.

Each is a small object with ``help``, ``add_arguments`` and ``run``; nothing heavy is imported
until ``run`` (``tradenode --help`` loads every plugin).
"""

from __future__ import annotations

import argparse
import sys


class QuotesCommand:
    help = "optimal liquidation quotes (Guéant-Lehalle-Fernandez-Tapia 2012): table, JSON or plot"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from tradenode_algos.quotes_command import add_arguments

        add_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        from tradenode_algos.quotes_command import run

        return run(args)


class RebalanceCommand:
    help = "rebalance the account of CONFIG to its strategies' targets ([rebalance] section)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("config", help="the node's TOML config, with a [rebalance] section")
        parser.add_argument("--runtime", choices=["live", "replay"], help="override [node] runtime")

    def run(self, args: argparse.Namespace) -> int:
        from tradenode_algos.rebalance.run import rebalance

        return rebalance(args.config, args.runtime, sys.stdout)
