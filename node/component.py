"""The component contract: a plain class that reacts to messages through a small context.

A component does not know whether it runs in a pykka thread (live) or in the replay loop
(simulated time); it only sends, publishes, schedules, spawns and reads the clock through
``Context``. That is what lets one algorithm, router or venue run unchanged in a backtest and in
production.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import msgspec

from node.messages import Message

S = TypeVar("S")
_state_encoder = msgspec.msgpack.Encoder(decimal_format="string")


def encode_state(state: Any) -> bytes:
    """A component's state (Structs, dataclasses, Decimals …) as checkpoint bytes."""
    return _state_encoder.encode(state)


def decode_state(data: bytes, type_: type[S]) -> S:
    return msgspec.msgpack.decode(data, type=type_)


@dataclass(frozen=True, slots=True)
class Envelope:
    """A journaled message as restore hands it back: who sent it and to whom (``*`` for a
    publish), and the journal's sequence number."""

    seq: int
    sender: str
    destination: str
    message: Message


ComponentFactory = Callable[[], "Component"]


class Context(Protocol):
    """What a component may do to the world; given by the runtime that hosts it."""

    @property
    def name(self) -> str:
        """The component's address."""
        ...

    def now(self) -> int:
        """The runtime clock, integer nanoseconds since the epoch."""
        ...

    def send(self, address: str, message: Message) -> None:
        """Deliver ``message`` to one component; journaled first when it is journaled."""
        ...

    def publish(self, message: Message) -> None:
        """Deliver ``message`` to every subscriber of its type (and, when it is correlated, to
        the component whose ``correlation`` is its ``parent_id``); journaled first."""
        ...

    def schedule(
        self, delay_ns: int, name: str, payload: Any = None, *, background: bool = False
    ) -> int:
        """Deliver ``TimerFired(name, payload)`` to this component after ``delay_ns``.

        A ``background`` timer (a periodic check) does not keep a replay running on its own.
        Returns a timer id for ``cancel_timer``.
        """
        ...

    def cancel_timer(self, timer_id: int) -> None: ...

    def address_exists(self, address: str) -> bool: ...

    def spawn(self, component: Component, factory: ComponentFactory | None = None) -> None:
        """Host a new component now; it is restored from the journal and started."""
        ...

    def stop(self, address: str) -> None:
        """Stop a component: its ``on_stop`` runs, later messages to it are dropped."""
        ...

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on this component's own turn, soon. Safe from any thread: it is how
        a venue's event loop hands results back without journaling anything."""
        ...

    def feed(self, messages: Iterable[Message], *, speed: float = 1.0) -> None:
        """Deliver time-ordered ``messages`` to this component at their ``ts`` (replay: in
        simulated time; live: paced at ``speed`` × real time from now)."""
        ...


class Component:
    """Base of everything that runs on a runtime.

    Subclasses set ``subscriptions`` to the message classes they want from ``publish`` (a class
    also matches its subclasses) and override ``on_message``. A component whose
    ``correlation`` is a parent order id also receives every published correlated message of
    that parent, whatever its type. ``restore`` rebuilds state from the journal after a restart
    or on node start, before any new message arrives.
    """

    subscriptions: tuple[type[Message], ...] = ()
    #: message types this component also receives when they are *sent* to another component
    #: (a copy, after the addressee has it): how the reconciler learns of every order on its
    #: way to a venue without every sender telling it
    observes: tuple[type[Message], ...] = ()
    correlation: str | None = None

    def __init__(self, name: str) -> None:
        self.name = name
        self._ctx: Context | None = None

    @property
    def ctx(self) -> Context:
        if self._ctx is None:
            raise RuntimeError(f"component {self.name!r} used before it was started")
        return self._ctx

    def bind(self, ctx: Context) -> None:
        self._ctx = ctx

    def restore(self, history: Iterable[Envelope]) -> None:
        """Rebuild state from journaled messages (oldest first). Default: nothing to rebuild.

        After a checkpoint, ``history`` holds only the rows after it: a component that keeps
        state derived from the journal stores it with ``checkpoint`` and gets it back first."""

    def checkpoint(self) -> bytes | None:
        """The state to store in a checkpoint (see ``encode_state``), or None for none. Taken
        on the component's own turn when the checkpoint's marker reaches it, so it reflects every
        journaled message before the marker and none after (the runtime delivers journaled
        messages in journal order)."""
        return None

    def restore_checkpoint(self, state: bytes) -> None:
        """Load what ``checkpoint`` returned; ``restore`` then applies the rows after it."""

    def on_start(self) -> None:
        """Called once on the component's own thread, after ``restore``."""

    def on_message(self, message: Message) -> None:
        raise NotImplementedError

    def on_stop(self) -> None:
        """Called once when the component stops (node stop, ``ctx.stop``, or before a failed
        component is replaced); release connections, threads and files here."""
