"""``LoopbackExchangeThread``: the server on its own event-loop thread.

The node under test runs its own threads and loops; this keeps the exchange independent of them.
``admin`` calls are carried to the server's loop and wait (bounded) for the answer.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, cast

from tradenode_ccxt.loopback.admin import Admin
from tradenode_ccxt.loopback.server import LoopbackExchange

_TIMEOUT = 30.0


class _OnLoop:
    """Stands in for ``Admin``: each call runs on the server's loop thread."""

    def __init__(self, target: Admin, loop: asyncio.AbstractEventLoop) -> None:
        self._target = target
        self._loop = loop

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._target, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            async def run() -> Any:
                return method(*args, **kwargs)

            return asyncio.run_coroutine_threadsafe(run(), self._loop).result(_TIMEOUT)

        return call


class LoopbackExchangeThread:
    """Runs a ``LoopbackExchange`` (same arguments) on a daemon thread until ``stop``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args
        self._kwargs = kwargs
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self.exchange: LoopbackExchange | None = None

    def start(self) -> LoopbackExchangeThread:
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="loopback-exchange", daemon=True
        )
        self._thread.start()

        async def start() -> LoopbackExchange:
            exchange = LoopbackExchange(*self._args, **self._kwargs)
            await exchange.start()
            return exchange

        try:
            self.exchange = asyncio.run_coroutine_threadsafe(start(), self._loop).result(_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.exchange is not None:
            asyncio.run_coroutine_threadsafe(self.exchange.stop(), self._loop).result(_TIMEOUT)
            self.exchange = None
        if self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(_TIMEOUT)
        self._loop.close()

    def _running(self) -> LoopbackExchange:
        if self.exchange is None:
            raise RuntimeError("the exchange is not started")
        return self.exchange

    @property
    def url(self) -> str:
        return self._running().url

    @property
    def admin(self) -> Admin:
        """The ``Admin`` API, callable from any thread."""
        return cast(Admin, _OnLoop(self._running().admin, self._loop))

    def __enter__(self) -> LoopbackExchangeThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
