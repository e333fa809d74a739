"""The loopback Polygon on its own event-loop thread, for synchronous code and tests.

massive's ``RESTClient`` is blocking and its ``WebSocketClient`` runs in the caller's loop, so
tests drive the server from another thread; every control method here hops onto the server's
loop and waits (bounded) for the answer.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

from .config import PolygonConfig
from .server import PolygonLoopback

T = TypeVar("T")
TIMEOUT = 10.0


class ThreadedPolygonLoopback:
    """Start with ``start()`` (or as a context manager); ``url`` and friends as on the server."""

    def __init__(self, config: PolygonConfig | None = None) -> None:
        self._config = config
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.server: PolygonLoopback | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> ThreadedPolygonLoopback:
        self._thread.start()

        async def boot() -> PolygonLoopback:
            server = PolygonLoopback(self._config)
            await server.start(host, port)
            return server

        self.server = self._await(boot())
        return self

    def stop(self) -> None:
        if self.server is not None:
            self._await(self.server.stop())
            self.server = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(TIMEOUT)
        self._loop.close()

    def __enter__(self) -> ThreadedPolygonLoopback:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _await(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(TIMEOUT)

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        async def run() -> T:
            return fn(*args, **kwargs)

        return self._await(run())

    @property
    def _server(self) -> PolygonLoopback:
        if self.server is None:
            raise RuntimeError("the server is not started")
        return self.server

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def host_port(self) -> str:
        return self._server.host_port

    def now(self) -> datetime:
        return self._call(self._server.now)

    def step(self, seconds: float) -> datetime:
        return self._call(self._server.step, seconds)

    def jump_to(self, moment: datetime) -> datetime:
        return self._call(self._server.jump_to, moment)

    def inject_http_fault(self, status: int, count: int = 1, *, path: str | None = None) -> None:
        self._call(self._server.inject_http_fault, status, count, path=path)

    def clear_faults(self) -> None:
        self._call(self._server.clear_faults)

    def drop_streams(self) -> int:
        return self._call(self._server.drop_streams)

    def close_streams(self, code: int = 1000) -> int:
        return self._await(self._server.close_streams(code))

    def records(self) -> dict[str, Any]:
        return self._call(self._server.records)
