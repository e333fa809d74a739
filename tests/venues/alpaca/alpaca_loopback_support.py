"""Helpers for the loopback Alpaca tests: credentials, bounded waiting, and a bounded way to
run alpaca-py's websocket streams.

alpaca-py's ``TradingStream.run()``/``StockDataStream.run()`` block in ``asyncio.run`` and
their ``stop()`` is only noticed after the stream's 5-second receive timeout. ``StreamRunner``
instead runs the stream's own ``_run_forever()`` coroutine as a task on a private event-loop
thread and stops it with ``stop_ws()`` plus a task cancel, which ends it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

KEY = "test-key"
SECRET = "test-secret"
TIMEOUT = 10.0


class StreamRunner:
    """One alpaca-py stream running on its own event-loop thread."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._task: asyncio.Task[None] | None = None

        async def start() -> None:
            self._task = asyncio.create_task(stream._run_forever())

        asyncio.run_coroutine_threadsafe(start(), self._loop).result(TIMEOUT)

    def close(self) -> None:
        async def stop() -> None:
            await self.stream.stop_ws()
            assert self._task is not None
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            await self.stream.close()

        try:
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(TIMEOUT)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(TIMEOUT)
            self._loop.close()
