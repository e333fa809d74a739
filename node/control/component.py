"""The control API as a component of the node: it watches what the node publishes, serves it
over HTTP (and a dashboard), and hands what operators and strategies ask for to the components
that do it — through its own turn, so every request is journaled as sent by ``control``, with
where it came from in the message's ``source``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

from node.component import Component, Envelope
from node.control.state import WATCHED, ControlState
from node.messages import Message, TimerFired, ValueAccount

log = logging.getLogger("tradenode.control")

_NAV_TIMER = "control.nav"


#: an event as the hub hands it out: its id in this run (``<run>-<n>``) and the message
Numbered = tuple[str, Message]


class EventsGone(LookupError):
    """A client asked to resume after an event the hub no longer holds (or of another run)."""


class EventHub:
    """Fans the node's events out to the API's streaming clients (each an asyncio queue on the
    server's loop). A client that falls too far behind is dropped, never buffered forever.

    Every event gets an id, ``<run>-<n>`` (``run`` tells this node's runs apart), and the last
    ``keep`` are kept, so a client that reconnects with the last id it saw gets what it missed,
    in order, once; one that asks for events no longer kept (or from another run) is told so
    rather than given a stream with a hole in it.
    """

    def __init__(self, max_backlog: int = 10_000, keep: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._clients: dict[asyncio.Queue[Numbered | None], asyncio.AbstractEventLoop] = {}
        self.max_backlog = max_backlog
        self.run = f"{time.time_ns():x}"
        self._count = 0
        self._recent: deque[tuple[int, Message]] = deque(maxlen=keep)

    def subscribe(self, after: str | None = None) -> asyncio.Queue[Numbered | None]:
        """A queue of the events from now on; with ``after`` (an event id this hub gave), first
        the kept events after it. ``EventsGone`` when they are no longer all kept."""
        queue: asyncio.Queue[Numbered | None] = asyncio.Queue(self.max_backlog + len(self._recent))
        with self._lock:
            if after is not None:
                for n, message in self._after(after):
                    queue.put_nowait((f"{self.run}-{n}", message))
            self._clients[queue] = asyncio.get_running_loop()
        return queue

    def _after(self, event_id: str) -> list[tuple[int, Message]]:
        run, _, n = event_id.rpartition("-")
        if run != self.run or not n.isdigit():
            raise EventsGone(f"event {event_id!r} is not of this node's run: re-read the state")
        last = int(n)
        oldest = self._recent[0][0] if self._recent else self._count + 1
        if last + 1 < oldest or last > self._count:
            raise EventsGone(
                f"the events after {event_id!r} are no longer kept (the node keeps the last "
                f"{self._recent.maxlen}): re-read the state"
            )
        return [(i, m) for i, m in self._recent if i > last]

    def unsubscribe(self, queue: asyncio.Queue[Numbered | None]) -> None:
        with self._lock:
            self._clients.pop(queue, None)

    @property
    def listening(self) -> bool:
        return bool(self._clients)

    def publish(self, message: Message) -> None:
        with self._lock:
            self._count += 1
            self._recent.append((self._count, message))
            event = (f"{self.run}-{self._count}", message)
            clients = list(self._clients.items())
        for queue, loop in clients:
            with contextlib.suppress(RuntimeError):  # the loop closed: the server is stopping
                loop.call_soon_threadsafe(self._put, queue, event)

    def close(self) -> None:
        """End every stream (the server is stopping): each client is told, then forgotten."""
        with self._lock:
            clients, self._clients = list(self._clients.items()), {}
        for queue, loop in clients:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._end, queue)

    @staticmethod
    def _end(queue: asyncio.Queue[Numbered | None]) -> None:
        if queue.full():
            queue.get_nowait()
        queue.put_nowait(None)

    def _put(self, queue: asyncio.Queue[Numbered | None], event: Numbered) -> None:
        try:
            queue.put_nowait(event)
        except asyncio.QueueFull:
            self.unsubscribe(queue)
            with contextlib.suppress(asyncio.QueueFull):
                queue.get_nowait()
                queue.put_nowait(None)  # tells the stream to end: the client reconnects


class ControlComponent(Component):
    """Address ``control``. ``serve`` starts the HTTP server and returns a function that stops
    it; ``on_listening(url, error)`` is told the URL once it listens, or why it cannot."""

    subscriptions = WATCHED

    def __init__(
        self,
        state: ControlState,
        hub: EventHub,
        serve: Callable[[ControlComponent], tuple[str, Callable[[], None]]] | None,
        on_listening: Callable[[str | None, str | None], None] | None = None,
        nav_interval_s: float = 2.0,
        name: str = "control",
    ) -> None:
        super().__init__(name)
        self.state = state
        self.hub = hub
        self._serve = serve
        self._on_listening = on_listening
        self._stop_server: Callable[[], None] | None = None
        self.nav_interval_ns = int(nav_interval_s * 1e9)
        self.url: str | None = None
        self._from_checkpoint = False
        self._valuation_lock = threading.Lock()
        self._valuation_asked = -self.nav_interval_ns

    def checkpoint(self) -> bytes:
        return self.state.save()

    def restore_checkpoint(self, state: bytes) -> None:
        self.state.load(state)
        self._from_checkpoint = True

    def restore(self, history: Iterable[Envelope]) -> None:
        if not self._from_checkpoint:
            self.state.clear()  # a rebuilt component shares the view its predecessor filled
        for envelope in history:
            self.state.apply(envelope.message)

    def on_start(self) -> None:
        if self._serve is not None:
            try:
                self.url, self._stop_server = self._serve(self)
            except Exception as exc:
                if self._on_listening is not None:
                    self._on_listening(None, str(exc))
                raise
            log.info("control API listening on %s", self.url)
            if self._on_listening is not None:
                self._on_listening(self.url, None)
        self.ctx.schedule(self.nav_interval_ns, _NAV_TIMER, background=True)

    def on_message(self, message: Message) -> None:
        if message.__class__ is TimerFired:
            if self.hub.listening:  # a NAV line for whoever watches: valued now, not journaled
                self.value_account()
            self.ctx.schedule(self.nav_interval_ns, _NAV_TIMER, background=True)
            return
        self.state.apply(message)
        self.hub.publish(message)

    def command(self, address: str, message: Message) -> None:
        """From the HTTP server's thread: send ``message`` on this component's turn."""
        ctx = self.ctx
        ctx.call_soon(lambda: ctx.send(address, message))

    def value_account(self) -> bool:
        """Ask the portfolio for a valuation to show (any thread), at most one per NAV interval;
        True if asked (the answer, ``AccountValued``, reaches the state and the streams)."""
        now = time.monotonic_ns()
        with self._valuation_lock:
            if now - self._valuation_asked < self.nav_interval_ns:
                return False
            self._valuation_asked = now
        self.command("portfolio", ValueAccount(reply_to=self.name, ts=self.ctx.now()))
        return True

    def on_stop(self) -> None:
        self.hub.close()
        if self._stop_server is not None:
            self._stop_server()
            self._stop_server = None
