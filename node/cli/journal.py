"""``tradenode journal``: read a node's journal, or back it up while the node runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import IO, Any

from node.cli.common import load
from node.cli.errors import UserError


def _journal_path(args: argparse.Namespace, config_path: str) -> tuple[Path, Any]:
    config, plugins = load(config_path)
    path = Path(args.journal) if args.journal else config.journal_path
    if not path.exists():
        raise UserError(f"{path}: no journal yet (the node has not run)")
    return path, plugins


def cmd_journal(args: argparse.Namespace) -> int:
    from node.journal import Journal

    words = args.words
    if words[0] == "backup":
        if len(words) != 3:
            raise UserError("usage: tradenode journal backup CONFIG DEST")
        return _backup(args, words[1], Path(words[2]))
    if len(words) != 1:
        raise UserError(
            "usage: tradenode journal CONFIG [-o FILE]  (or: journal backup CONFIG DEST)"
        )
    path, plugins = _journal_path(args, words[0])
    journal = Journal(path, codec=plugins.codec(), readonly=True)
    try:
        if args.output:
            try:
                with open(args.output, "wb") as out:
                    _write(journal, out)
            except OSError as exc:
                raise UserError(f"-o {args.output}: {exc.strerror or exc}") from None
        else:
            _write(journal, sys.stdout.buffer)
    finally:
        journal.close()
    return 0


def _write(journal: Any, out: IO[bytes]) -> None:
    from node.codec import to_json

    for entry in journal.entries():
        out.write(b'{"seq":%d,"message":' % entry.seq + to_json(entry.message) + b"}\n")


def _backup(args: argparse.Namespace, config_path: str, destination: Path) -> int:
    from node.journal import Journal

    path, plugins = _journal_path(args, config_path)
    if destination.exists():
        raise UserError(f"{destination}: already exists; a backup never overwrites a file")
    if not destination.parent.is_dir():
        raise UserError(f"{destination.parent}: no such folder")
    journal = Journal(path, codec=plugins.codec(), readonly=True)
    try:
        rows = journal.backup(destination)
    finally:
        journal.close()
    print(f"backed up {rows} journal rows of {path} to {destination} (consistent as of now)")
    return 0


def add_commands(sub: Any) -> None:
    text = (
        "print a node's journal as JSON lines (journal CONFIG [-o FILE]), or copy it safely "
        "while the node runs (journal backup CONFIG DEST, SQLite's online backup)"
    )
    p = sub.add_parser("journal", help="print or back up a node's journal", description=text)
    p.add_argument("words", nargs="+", metavar="CONFIG | backup CONFIG DEST")
    p.add_argument("--journal", help="use this journal file instead of the config's")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.set_defaults(func=cmd_journal)
