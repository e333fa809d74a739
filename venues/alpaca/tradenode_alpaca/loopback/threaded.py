"""The loopback server on its own event-loop thread, for synchronous code and tests.

alpaca-py's ``TradingClient`` is blocking and its streams run their own loops, so tests drive
the server from another thread; every control method here hops onto the server's loop and
waits (bounded) for the answer.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from .config import LoopbackConfig
from .market import Quote
from .server import AlpacaLoopback

T = TypeVar("T")
TIMEOUT = 10.0


class ThreadedAlpacaLoopback:
    """Start with ``start()`` (or as a context manager); ``url`` and friends as on the server."""

    def __init__(self, config: LoopbackConfig | None = None) -> None:
        self._config = config
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.server: AlpacaLoopback | None = None

    def start(self, host: str = "127.0.0.1", port: int = 0) -> ThreadedAlpacaLoopback:
        self._thread.start()

        async def boot() -> AlpacaLoopback:
            server = AlpacaLoopback(self._config)
            await server.start(host, port)
            return server

        self.server = asyncio.run_coroutine_threadsafe(boot(), self._loop).result(TIMEOUT)
        return self

    def stop(self) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(TIMEOUT)
            self.server = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(TIMEOUT)
        self._loop.close()

    def __enter__(self) -> ThreadedAlpacaLoopback:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        async def run() -> T:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(TIMEOUT)

    @property
    def _server(self) -> AlpacaLoopback:
        if self.server is None:
            raise RuntimeError("the server is not started")
        return self.server

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def stream_url(self) -> str:
        return self._server.stream_url

    @property
    def data_stream_url(self) -> str:
        return self._server.data_stream_url

    def now(self) -> datetime:
        return self._call(self._server.now)

    def step(self, seconds: float) -> datetime:
        return self._call(self._server.step, seconds)

    def jump_to(self, moment: datetime) -> datetime:
        return self._call(self._server.jump_to, moment)

    def set_price(self, symbol: str, mid: Decimal) -> Quote:
        return self._call(self._server.set_price, symbol, mid)

    def quote(self, symbol: str) -> Quote:
        return self._call(self._server.quote, symbol)

    def inject_http_fault(
        self,
        status: int,
        count: int = 1,
        *,
        method: str | None = None,
        path: str | None = None,
        after: bool = False,
    ) -> None:
        self._call(
            self._server.inject_http_fault, status, count, method=method, path=path, after=after
        )

    def clear_faults(self) -> None:
        self._call(self._server.clear_faults)

    def reject_next_orders(self, count: int = 1) -> None:
        self._call(self._server.reject_next_orders, count)

    def drop_streams(self, which: str = "all") -> int:
        return self._call(self._server.drop_streams, which)

    def records(self) -> dict[str, Any]:
        return self._call(self._server.records)

    def listeners(self) -> int:
        """How many ``/stream`` clients currently listen to ``trade_updates``."""
        return self._call(lambda: self._server.trade_updates.listeners)
