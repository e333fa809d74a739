"""A component that keeps what it receives: the demo's and the tests' window on a running node."""

from __future__ import annotations

import threading
from collections.abc import Callable

from node.component import Component
from node.messages import Message


class Recorder(Component):
    """Records every message of ``types`` that is published, and every message sent to it.

    Safe to read from another thread while a live runtime runs (``snapshot``).
    """

    def __init__(
        self, name: str = "recorder", types: tuple[type[Message], ...] = (Message,)
    ) -> None:
        super().__init__(name)
        self.subscriptions = types
        self.messages: list[Message] = []
        self._lock = threading.RLock()  # a wait_for predicate may read the recorder
        self._arrived = threading.Condition(self._lock)

    def on_message(self, message: Message) -> None:
        with self._lock:
            self.messages.append(message)
            self._arrived.notify_all()

    def of_type(self, *types: type[Message]) -> list[Message]:
        with self._lock:
            return [m for m in self.messages if isinstance(m, types)]

    def wait_for(self, predicate: Callable[[Message], bool], timeout: float) -> bool:
        """Block until a recorded message satisfies ``predicate`` (for live runs)."""
        with self._lock:
            return self._arrived.wait_for(
                lambda: any(predicate(m) for m in self.messages), timeout=timeout
            )
