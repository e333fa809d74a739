"""What both runtimes share: who subscribes to what, the journal write-ahead, and supervision.

The runtimes differ only in how a message reaches a component (a pykka inbox or the replay
queue) and where time comes from (the wall clock or the simulated one).
"""

from __future__ import annotations

import itertools
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from node.component import Component
from node.journal import Journal
from node.messages import ComponentFailed, ComponentRestarted, HaltTrading, Message

log = logging.getLogger("tradenode.runtime")

ComponentFactory = Callable[[], Component]


class Subscriptions:
    """Maps a message class to the addresses subscribed to it or to one of its bases."""

    def __init__(self) -> None:
        self._by_type: dict[type, list[str]] = {}
        self._resolved: dict[type, tuple[str, ...]] = {}

    def add(self, address: str, types: tuple[type[Message], ...]) -> None:
        for t in types:
            self._by_type.setdefault(t, []).append(address)
        self._resolved.clear()

    def of(self, message_type: type) -> tuple[str, ...]:
        try:
            return self._resolved[message_type]
        except KeyError:
            found: list[str] = []
            for base in message_type.__mro__:
                for address in self._by_type.get(base, ()):
                    if address not in found:
                        found.append(address)
            resolved = self._resolved[message_type] = tuple(found)
            return resolved


class RestartPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a failed component is brought back: bounded retries with exponential backoff."""

    max_restarts: int = 3
    backoff_ms: float = 100.0
    backoff_factor: float = 2.0

    def delay_ns(self, attempt: int) -> int:
        return int(self.backoff_ms * 1e6 * self.backoff_factor ** (attempt - 1))


@dataclass
class Hosted:
    """A component as a runtime holds it: its factory, failure count and parked messages."""

    component: Component
    factory: ComponentFactory | None
    failures: int = 0
    down: bool = False
    #: messages that arrived while it was down, each with its journal seq (0: not journaled)
    parked: list[tuple[Message, int]] = field(default_factory=list)
    failed_at_seq: int = 0  # the journal's last seq when it failed: its restore stops there


@dataclass(frozen=True)
class FailureDecision:
    restart_after_ns: int | None
    events: tuple[Message, ...]
    halt: HaltTrading | None


def decide_on_failure(
    hosted: Hosted, exc: BaseException, policy: RestartPolicy, now: int
) -> FailureDecision:
    """What to do when a component raised: restart later, or give up and halt trading.

    A component with no factory cannot be rebuilt, so it is never restarted.
    """
    hosted.failures += 1
    hosted.down = True
    name = hosted.component.name
    frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {frame[0].filename}:{frame[0].lineno}" if frame else ""
    error = f"{type(exc).__name__}: {exc}{where}"
    restarting = hosted.factory is not None and hosted.failures <= policy.max_restarts
    log.error("component %s failed (attempt %d): %s", name, hosted.failures, error)
    failed = ComponentFailed(
        component=name, error=error, attempt=hosted.failures, restarting=restarting, ts=now
    )
    if restarting:
        return FailureDecision(policy.delay_ns(hosted.failures), (failed,), None)
    reason = f"component {name} failed {hosted.failures} time(s), last: {error}"
    return FailureDecision(None, (failed,), HaltTrading(reason=reason, ts=now))


def rebuild(hosted: Hosted, journal: Journal | None, now: int) -> ComponentRestarted:
    """Replace a failed component with a fresh one rebuilt from the journal.

    It is restored from what was journaled up to its failure, less the messages parked for it:
    those are delivered after the rebuild, so each is applied exactly once.
    """
    assert hosted.factory is not None
    hosted.component = hosted.factory()
    if journal is not None:
        upto = hosted.failed_at_seq
        pending = {seq for _, seq in hosted.parked if seq}
        entries = itertools.takewhile(lambda e: e.seq <= upto, journal.entries())
        hosted.component.restore(e.message for e in entries if e.seq not in pending)
    hosted.down = False
    return ComponentRestarted(component=hosted.component.name, attempt=hosted.failures, ts=now)
