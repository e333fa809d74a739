"""Helpers for the loopback Polygon tests: the key, bounded waiting, and a bounded way to run
massive's websocket client.

massive's ``WebSocketClient.connect(processor)`` is a coroutine that runs until the server
closes cleanly (or reconnects fail); ``SocketRunner`` runs it as a task on a private event-loop
thread and ends it by cancelling the task and closing the client's socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from massive import WebSocketClient

KEY = "test-key"
TIMEOUT = 10.0


class SocketRunner:
    """One massive ``WebSocketClient.connect`` running on its own event-loop thread; every
    parsed message list it delivers is appended to ``messages``."""

    def __init__(self, client: WebSocketClient) -> None:
        self.client = client
        self.messages: list[Any] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

        async def process(batch: list[Any]) -> None:
            self.messages.extend(batch)

        async def start() -> asyncio.Task[None]:
            return asyncio.create_task(client.connect(process))

        self._task = asyncio.run_coroutine_threadsafe(start(), self._loop).result(TIMEOUT)

    @property
    def finished(self) -> bool:
        return self._task.done()

    def outcome(self) -> BaseException | None:
        """The exception ``connect`` ended with (``None`` if it returned)."""
        assert self._task.done()
        return self._task.exception()

    def close(self) -> None:
        async def stop() -> None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            if self.client.websocket is not None:
                await self.client.close()

        try:
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(TIMEOUT)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(TIMEOUT)
            self._loop.close()
