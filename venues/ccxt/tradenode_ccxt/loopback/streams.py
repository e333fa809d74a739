"""Who gets which websocket message: market-stream subscribers and user-data subscribers.

Publishing never awaits: each connection has an ``Outbox`` drained by its own task, so the
matching code can publish from plain functions and messages leave in the order published.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web

from tradenode_ccxt.loopback.faults import Faults


class Outbox:
    """One websocket's outgoing frames, in order; ``gap`` seconds are left between frames.

    A pause between frames matters to ccxt: an event that arrives while no ``watch_*`` call is
    waiting resolves nothing until the next event (see the package README).
    """

    def __init__(self, ws: web.WebSocketResponse, gap: float = 0.0) -> None:
        self.ws = ws
        self.gap = gap
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()

    def put(self, text: str) -> None:
        self._queue.put_nowait(text)

    def close(self) -> None:
        self._queue.put_nowait(None)

    async def run(self) -> None:
        while (text := await self._queue.get()) is not None:
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return  # the client went away; its handler cleans up
            if self.gap:
                await asyncio.sleep(self.gap)


class MarketHub:
    """Market-stream subscribers by stream name (``btcusdt@depth@100ms``, ``btcusdt@trade``...)."""

    def __init__(self) -> None:
        self._subscribers: dict[Outbox, set[str]] = {}
        self._held: list[tuple[str, str]] = []
        self.stalled = False

    def add(self, outbox: Outbox, streams: set[str]) -> None:
        self._subscribers[outbox] = set(streams)

    def remove(self, outbox: Outbox) -> None:
        self._subscribers.pop(outbox, None)

    def streams(self, outbox: Outbox) -> set[str]:
        return self._subscribers.setdefault(outbox, set())

    def subscribed(self, stream: str) -> bool:
        """Whether any connection listens to ``stream`` (lets a test wait for a SUBSCRIBE)."""
        return any(stream in streams for streams in self._subscribers.values())

    def publish(self, stream: str, payload: dict[str, Any]) -> None:
        text = json.dumps(payload)
        if self.stalled:
            self._held.append((stream, text))
            return
        self._deliver(stream, text)

    def _deliver(self, stream: str, text: str) -> None:
        for outbox, streams in self._subscribers.items():
            if stream in streams:
                outbox.put(text)

    def stall(self) -> None:
        """Fault: hold every market message (the connections stay open) until ``resume``."""
        self.stalled = True

    def resume(self) -> None:
        """End a stall: the held messages go out, in order, as a delayed network would."""
        self.stalled = False
        held, self._held = self._held, []
        for stream, text in held:
            self._deliver(stream, text)


class UserHub:
    """User-data-stream subscriptions on WebSocket API connections, and the user-data faults."""

    def __init__(self, faults: Faults) -> None:
        self._faults = faults
        self._subscriptions: dict[Outbox, list[int]] = {}
        self._issued: dict[Outbox, int] = {}
        self._held: dict[str, Any] | None = None

    def subscribe(self, outbox: Outbox) -> int:
        """A new subscription id on this connection (0, 1, ... as Binance numbers them)."""
        sid = self._issued.get(outbox, 0)
        self._issued[outbox] = sid + 1
        self._subscriptions.setdefault(outbox, []).append(sid)
        return sid

    def unsubscribe(self, outbox: Outbox, subscription_id: int | None) -> None:
        """End one subscription of a connection (all of them when ``subscription_id`` is None)."""
        ids = self._subscriptions.get(outbox, [])
        if subscription_id is None:
            ids.clear()
        elif subscription_id in ids:
            ids.remove(subscription_id)

    def remove(self, outbox: Outbox) -> None:
        self._subscriptions.pop(outbox, None)
        self._issued.pop(outbox, None)

    @property
    def subscribers(self) -> int:
        return sum(len(ids) for ids in self._subscriptions.values())

    def publish(self, event: dict[str, Any]) -> None:
        faults = self._faults
        copies = 1
        if event.get("x") == "TRADE" and faults.duplicate_fills > 0:
            faults.duplicate_fills -= 1
            copies = 2
        for _ in range(copies):
            self._in_order(event)

    def _in_order(self, event: dict[str, Any]) -> None:
        if event.get("e") != "executionReport":
            self._deliver(event)
        elif self._held is not None:
            held, self._held = self._held, None
            self._deliver(event)
            self._deliver(held)
        elif self._faults.swap_user_events > 0:
            self._faults.swap_user_events -= 1
            self._held = event
        else:
            self._deliver(event)

    def release_held(self) -> None:
        """Send an event held for a swap that no later order event came to complete."""
        if self._held is not None:
            held, self._held = self._held, None
            self._deliver(held)

    def _deliver(self, event: dict[str, Any]) -> None:
        for outbox, ids in self._subscriptions.items():
            for sid in ids:
                outbox.put(json.dumps({"subscriptionId": sid, "event": event}))


async def drain(outbox: Outbox, task: asyncio.Task[None]) -> None:
    """Stop an outbox's writer after what is queued has been sent (or the client left)."""
    outbox.close()
    with contextlib.suppress(asyncio.CancelledError, ConnectionError, TimeoutError):
        await asyncio.wait_for(task, 2.0)
