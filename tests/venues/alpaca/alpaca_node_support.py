"""A whole node on the live runtime, assembled as ``tradenode run`` does it (``load_config`` +
``Node``) from a config written to a temporary directory, with a ``Recorder`` to read what it
published and its journal to read what it recorded. Every wait is bounded."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from waiting import wait_for as until

from node.component import Envelope
from node.config import load_config
from node.journal import Journal
from node.messages import (
    FILL_TYPES,
    Fill,
    MarketData,
    Message,
    SubmitOrder,
    SubmitParentOrder,
)
from node.node import Node
from node.plugins import Plugins
from node.runtime.recorder import Recorder

WAIT_S = 30.0  # a bound, not a speed claim
M = TypeVar("M", bound=Message)

HEADER = """
[node]
name = "alpaca-test"
runtime = "live"
[node.control]
enabled = false
[node.ready]
timeout_s = 60
[router]
# the loopbacks' clocks are manual: their books are as fresh as the test makes them
max_book_age_ms = 3600000
"""


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value) + '"'


def config_text(venues: dict[str, dict[str, Any]], extra: str = "") -> str:
    lines = [HEADER, extra]
    for name, settings in venues.items():
        lines.append(f"[venues.{name}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


class LiveNode:
    """One node in ``directory``; ``start`` again after ``stop`` restarts it on its journal."""

    def __init__(self, directory: Path, plugins: Plugins, text: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory, self.plugins = directory, plugins
        self.path = directory / "node.toml"
        self.path.write_text(text)
        self.journal_path = directory / "journal.sqlite"
        self.node: Node | None = None
        self.recorder = Recorder()

    def start(self) -> LiveNode:
        self.recorder = Recorder()
        self.node = Node(
            load_config(self.path, self.plugins),
            self.plugins,
            journal_path=self.journal_path,
            runtime_kind="live",
            extra=[self.recorder],
        )
        self.node.start()
        return self

    def stop(self) -> None:
        if self.node is not None:
            self.node.stop()
            self.node = None

    @property
    def market(self) -> Any:
        assert self.node is not None
        return self.node.market

    def submit(self, parent: SubmitParentOrder) -> None:
        assert self.node is not None
        self.node.submit(parent)

    def send_order(self, order: SubmitOrder) -> None:
        """A child order as the router sends it: through risk to its venue."""
        assert self.node is not None
        self.node.runtime.send("risk", order, "router")

    def of(self, kind: type[M], **fields: Any) -> list[M]:
        return [
            m  # type: ignore[misc]
            for m in self.recorder.of_type(kind)
            if all(getattr(m, k) == v for k, v in fields.items())
        ]

    def wait(self, kind: type[M], what: str = "", timeout: float = WAIT_S, **fields: Any) -> M:
        """The first published ``kind`` whose fields equal ``fields``; fails after ``timeout``."""
        found = self.recorder.wait_for(
            lambda m: isinstance(m, kind) and all(getattr(m, k) == v for k, v in fields.items()),
            timeout,
        )
        assert found, f"timed out waiting for {what or kind.__name__} {fields}\n{self.story()}"
        return self.of(kind, **fields)[0]

    def story(self, last: int = 40) -> str:
        """The latest messages but market data: what a failed wait shows."""
        told = [m for m in self.recorder.of_type(Message) if not isinstance(m, MarketData)]
        return "\n".join(repr(m)[:300] for m in told[-last:])

    def wait_count(self, kind: type[M], count: int, timeout: float = WAIT_S, **fields: Any) -> None:
        until(
            lambda: len(self.of(kind, **fields)) >= count,
            f"{count} {kind.__name__} {fields}",
            timeout,
        )

    def journal(self) -> list[Message]:
        """Every journaled message (read with a reader of its own: the node may be running)."""
        return [e.message for e in self.envelopes()]

    def envelopes(self) -> list[Envelope]:
        """Every journal row with its sender and destination."""
        journal = Journal(self.journal_path, codec=self.plugins.codec(), readonly=True)
        try:
            return list(journal.envelopes())
        finally:
            journal.close()


def fills_in(messages: Iterable[Message]) -> list[Fill]:
    return [m for m in messages if isinstance(m, FILL_TYPES)]
