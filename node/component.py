"""The component contract: a plain class that reacts to messages through a small context.

A component does not know whether it runs in a pykka thread (live) or in the replay loop
(simulated time); it only sends, publishes, schedules and reads the clock through ``Context``.
That is what lets one algorithm, router or venue run unchanged in a backtest and in production.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from node.messages import Message


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
        """Deliver ``message`` to every subscriber of its type; journaled first."""
        ...

    def schedule(self, delay_ns: int, name: str, payload: Any = None) -> int:
        """Deliver ``TimerFired(name, payload)`` to this component after ``delay_ns``.

        Returns a timer id for ``cancel_timer``.
        """
        ...

    def cancel_timer(self, timer_id: int) -> None: ...

    def address_exists(self, address: str) -> bool: ...


class Component:
    """Base of everything that runs on a runtime.

    Subclasses set ``subscriptions`` to the message classes they want from ``publish`` (a class
    also matches its subclasses) and override ``on_message``. ``restore`` rebuilds state from the
    journal after a restart or on node start, before any new message arrives.
    """

    subscriptions: tuple[type[Message], ...] = ()

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

    def restore(self, history: Iterable[Message]) -> None:
        """Rebuild state from journaled messages (oldest first). Default: nothing to rebuild."""

    def on_start(self) -> None:
        """Called once on the component's own thread, after ``restore``."""

    def on_message(self, message: Message) -> None:
        raise NotImplementedError

    def on_stop(self) -> None:
        """Called once when the node stops; release connections and files here."""
