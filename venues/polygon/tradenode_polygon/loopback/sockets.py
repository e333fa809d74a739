"""Websocket plumbing: ordered sending from synchronous code, and dropping a connection the
way a network failure would."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from aiohttp import web


@dataclass(frozen=True)
class _Close:
    code: int


class Outbox:
    """Frames for one websocket, sent in order by one task.

    The feed publishes synchronously; this queue lets it do so without awaiting, and keeps
    status messages and data in the order they were produced.
    """

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws
        self._queue: asyncio.Queue[str | bytes | _Close] = asyncio.Queue()
        self._task = asyncio.create_task(self._run())

    def put(self, frame: str | bytes) -> None:
        self._queue.put_nowait(frame)

    async def _run(self) -> None:
        while True:
            frame = await self._queue.get()
            if self._ws.closed:
                return
            try:
                if isinstance(frame, _Close):
                    await self._ws.close(code=frame.code)
                    return
                if isinstance(frame, bytes):
                    await self._ws.send_bytes(frame)
                else:
                    await self._ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return

    async def close(self, code: int) -> None:
        """Close with ``code`` once everything queued before has been sent."""
        self._queue.put_nowait(_Close(code))
        await asyncio.wait({self._task}, timeout=5)
        await self.stop()

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def abort(request: web.Request) -> None:
    """Cut the TCP connection without a close frame: the client sees an abnormal closure
    (1006), as when the network or the venue's gateway fails."""
    transport = request.transport
    if transport is not None:
        transport.abort()
