"""Operators' commands: written to a node's journal by another process, obeyed by the node.

``tradenode halt|reduce-only|resume CONFIG`` append the command to the journal marked as
external. A running live node polls for such rows and hands each to the component that obeys
it; a stopped node finds them on start, when risk rebuilds its state from the journal. The
journal is the one channel: what an operator asked is on record before it takes effect.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from node.journal import EXTERNAL, Journal
from node.messages import Command, HaltTrading, ReduceOnly, ResumeTrading
from node.runtime.live import LiveRuntime

log = logging.getLogger("tradenode.commands")

#: which component obeys each command an operator may journal
OBEYED_BY: dict[type[Command], str] = {
    HaltTrading: "risk",
    ReduceOnly: "risk",
    ResumeTrading: "risk",
}


def journal_command(journal_path: Path, command: Command) -> int:
    """Append an operator's command to a node's journal; returns its seq."""
    journal = Journal(journal_path)
    try:
        return journal.append(command, origin=EXTERNAL)
    finally:
        journal.close()


class CommandWatcher:
    """Polls the journal of a live node for operators' commands and delivers them."""

    def __init__(self, journal: Journal, runtime: LiveRuntime, interval_s: float = 0.2) -> None:
        self.journal = journal
        self.runtime = runtime
        self.interval_s = interval_s
        self._after = journal.last_seq  # older commands were applied by restore on start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tradenode-commands", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll()
            except Exception:  # a bad row is reported and the node keeps running
                log.exception("reading operators' commands from the journal failed")

    def poll(self) -> None:
        for entry in self.journal.external_since(self._after):
            self._after = entry.seq
            address = OBEYED_BY.get(type(entry.message))
            if address is None:
                log.warning(
                    "journal seq %d: %s is not a command an operator can give; ignored",
                    entry.seq,
                    type(entry.message).__name__,
                )
                continue
            log.info("operator: %s (seq %d) → %s", type(entry.message).__name__, entry.seq, address)
            self.runtime.deliver(address, entry.message, entry.seq)
