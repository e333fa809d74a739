"""What both runtimes share: the runtime protocol, who hears what, the journal write-ahead, and
supervision.

The runtimes differ only in how a message reaches a component (a pykka inbox or the replay
queue) and where time comes from (the wall clock or the simulated one).
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from node.component import Component, ComponentFactory, Envelope
from node.journal import Journal, JournalUnwritable
from node.messages import (
    Checkpointed,
    ComponentFailed,
    ComponentRestarted,
    HaltTrading,
    Message,
)

log = logging.getLogger("tradenode.runtime")

#: The destination recorded for a publish.
PUBLISHED = "*"


class Runtime(Protocol):
    """What the node asks of a runtime, whichever it is."""

    journal: Journal | None
    journal_failure: str | None

    def now(self) -> int: ...

    def add(self, component: Component, factory: ComponentFactory | None = None) -> None: ...

    def start(
        self, history: Iterable[Envelope], states: dict[str, bytes] | None = None
    ) -> None: ...

    def spawn(self, component: Component, factory: ComponentFactory | None = None) -> None: ...

    def stop_component(self, address: str) -> None: ...

    def send(self, address: str, message: Message, sender: str = "node") -> None: ...

    def publish(self, message: Message, sender: str = "node") -> None: ...

    def feed(
        self,
        address: str,
        messages: Iterable[Message],
        *,
        speed: float = 1.0,
        origin_ns: int | None = None,
    ) -> None: ...

    def run(self, stop: threading.Event | None = None) -> None: ...

    def stop(self) -> None: ...


class Subscriptions:
    """Maps a message class to the addresses subscribed to it or to one of its bases, and a
    parent order id to the component that works it (correlated delivery)."""

    def __init__(self) -> None:
        self._by_type: dict[type, list[str]] = {}
        self._resolved: dict[type, tuple[str, ...]] = {}
        self.correlated: dict[str, str] = {}
        self.observers: dict[type, list[str]] = {}

    def add(self, component: Component) -> None:
        for t in component.subscriptions:
            self._by_type.setdefault(t, []).append(component.name)
        for t in component.observes:
            self.observers.setdefault(t, []).append(component.name)
        if component.correlation is not None:
            self.correlated[component.correlation] = component.name
        self._resolved.clear()

    def remove(self, component: Component) -> None:
        for table in (self._by_type, self.observers):
            for addresses in table.values():
                while component.name in addresses:
                    addresses.remove(component.name)
        if self.correlated.get(component.correlation or "") == component.name:
            del self.correlated[component.correlation or ""]
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

    def recipients(self, message: Message, sender: str) -> tuple[str, ...]:
        """Everyone a published ``message`` goes to, each once (never back to the executor
        that published it about its own parent)."""
        addresses = self.of(message.__class__)
        if message.correlated:
            owner = self.correlated.get(message.parent_id)  # type: ignore[attr-defined]
            if owner is not None and owner != sender and owner not in addresses:
                return (*addresses, owner)
        return addresses


class RestartPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a failed component is brought back: bounded retries with exponential backoff."""

    max_restarts: int = 3
    backoff_ms: float = 100.0
    backoff_factor: float = 2.0

    def __post_init__(self) -> None:
        if self.max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0, got {self.max_restarts}")
        if not 0 <= self.backoff_ms < 3_600_000:
            raise ValueError(f"backoff_ms must be in [0, 3600000), got {self.backoff_ms}")
        if not 1 <= self.backoff_factor <= 10:
            raise ValueError(f"backoff_factor must be in [1, 10], got {self.backoff_factor}")

    def delay_ns(self, attempt: int) -> int:
        return int(self.backoff_ms * 1e6 * self.backoff_factor ** (attempt - 1))


@dataclass
class Hosted:
    """A component as a runtime holds it: its factory, failure count and parked messages."""

    component: Component
    factory: ComponentFactory | None
    failures: int = 0
    down: bool = False
    stopped: bool = False
    #: messages that arrived while it was down, each with its journal seq (0: not journaled)
    parked: list[tuple[Message, int]] = field(default_factory=list)
    failed_at_seq: int = 0  # the journal's last seq when it failed: its restore stops there


@dataclass(frozen=True)
class FailureDecision:
    restart_after_ns: int | None
    events: tuple[Message, ...]
    halt: HaltTrading | None


def describe_error(exc: BaseException) -> str:
    """``Type: message at file:line`` of where it was raised: enough to find it, no traceback."""
    frame = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    where = f" at {frame[0].filename}:{frame[0].lineno}" if frame else ""
    return f"{type(exc).__name__}: {exc}{where}"


def decide_on_failure(
    hosted: Hosted, exc: BaseException, policy: RestartPolicy, now: int
) -> FailureDecision:
    """What to do when a component raised: restart later, or give up and halt trading.

    A component with no factory cannot be rebuilt, so it is never restarted.
    """
    hosted.failures += 1
    hosted.down = True
    name = hosted.component.name
    error = describe_error(exc)
    restarting = hosted.factory is not None and hosted.failures <= policy.max_restarts
    log.error("component %s failed (attempt %d): %s", name, hosted.failures, error)
    failed = ComponentFailed(
        component=name, error=error, attempt=hosted.failures, restarting=restarting, ts=now
    )
    if restarting:
        return FailureDecision(policy.delay_ns(hosted.failures), (failed,), None)
    reason = f"component {name} failed {hosted.failures} time(s), last: {error}"
    return FailureDecision(None, (failed,), HaltTrading(reason=reason, ts=now))


def history_for(
    component: Component, journal: Journal | None, upto_seq: int | None = None
) -> Iterator[Envelope]:
    """The journal a component restores from: its parent's rows when it works one (an
    executor), else every row; up to ``upto_seq`` when given."""
    if journal is None:
        return iter(())
    return journal.envelopes(correlation=component.correlation, upto_seq=upto_seq)


def rebuild(hosted: Hosted, journal: Journal | None, now: int) -> ComponentRestarted:
    """Replace a failed component with a fresh one rebuilt from the journal.

    The failed one's ``on_stop`` runs first (it may hold sockets and threads). The new one is
    restored from what was journaled up to the failure, less the messages parked for it: those
    are delivered after the rebuild, so each is applied exactly once.
    """
    assert hosted.factory is not None
    old = hosted.component
    try:
        old.on_stop()
    except Exception as exc:  # a broken component may fail to stop too; it is replaced anyway
        log.warning("component %s: on_stop failed: %s", old.name, describe_error(exc))
    hosted.component = hosted.factory()
    pending = {seq for _, seq in hosted.parked if seq}
    history = history_for(hosted.component, journal, hosted.failed_at_seq)
    hosted.component.restore(e for e in history if e.seq not in pending)
    hosted.down = False
    return ComponentRestarted(component=hosted.component.name, attempt=hosted.failures, ts=now)


class RestoreFailed(RuntimeError):
    """A component could not rebuild its state from the journal: the node must not trade on it."""


def restore_component(
    component: Component, history: Iterable[Envelope], states: dict[str, bytes] | None
) -> None:
    """Load a component's checkpointed state (if it has one), then the journal rows after it;
    ``RestoreFailed`` naming the component and the problem when either fails."""
    state = (states or {}).get(component.name)
    try:
        if state:
            component.restore_checkpoint(state)
        component.restore(history)
    except Exception as exc:
        if exc.__class__.__name__ == "JournalCorrupt":
            raise
        raise RestoreFailed(
            f"{component.name} cannot rebuild its state from the journal: {describe_error(exc)}"
        ) from exc


def checkpoint_recipients(hosted: dict[str, Hosted]) -> list[str]:
    """Who takes part in a checkpoint: every component but executors (an executor restores
    from its own parent's rows, however old)."""
    return [name for name, h in hosted.items() if h.component.correlation is None]


def store_checkpoint_part(
    gate: JournalGate, component: Component, through_seq: int, now: int
) -> Checkpointed | None:
    """Store one component's part of the checkpoint at ``through_seq``; the ``Checkpointed``
    event to publish when that completed it. A component that cannot give its state leaves the
    checkpoint incomplete (the previous one stays the one a start uses)."""
    journal = gate.journal
    if journal is None or gate.failure is not None:
        return None
    try:
        payload = component.checkpoint() or b""
    except Exception as exc:
        log.error("component %s: checkpoint failed: %s", component.name, describe_error(exc))
        return None
    try:
        done = journal.write_checkpoint_part(through_seq, component.name, payload)
    except JournalUnwritable as exc:
        gate.fail(str(exc))
        return None
    return Checkpointed(through_seq=through_seq, ts=now) if done else None


class JournalGate:
    """Writes ahead to the journal; after the first failed write, nothing journaled moves.

    A message that cannot be recorded must not take effect (an order the journal does not hold
    could be sent twice after a restart), so once the journal fails every journaled send and
    publish is dropped, ``failure`` says why, and ``on_failure`` lets the node stop.
    """

    def __init__(self, journal: Journal | None, on_failure: Callable[[str], None]) -> None:
        self.journal = journal
        self.failure: str | None = None
        self._on_failure = on_failure
        self._lock = threading.Lock()

    def write(self, message: Message, sender: str, destination: str) -> int | None:
        """The seq written (0 for a message that is not journaled), or None: do not deliver."""
        journal = self.journal
        if journal is None or not message.journaled:
            return 0
        if self.failure is not None:
            return None
        try:
            return journal.append(message, sender=sender, destination=destination)
        except JournalUnwritable as exc:
            self.fail(str(exc))
            return None

    def fail(self, reason: str) -> None:
        """The journal cannot be written (``reason``): from now on nothing journaled moves."""
        with self._lock:
            first = self.failure is None
            if first:
                self.failure = reason
        if first:
            log.critical("journal write failed: %s; trading halted, nothing more is sent", reason)
            self._on_failure(reason)


def call_guarded(what: str, fn: Callable[[], Any]) -> None:
    try:
        fn()
    except Exception as exc:
        log.error("%s failed: %s", what, describe_error(exc))
