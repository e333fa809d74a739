"""Venues whose clients are asyncio-native (ccxt's async client, ib_async, alpaca-py streams).

Each such venue owns one event loop in one thread. Coroutines run there; their results come
back into the venue component's own turn through ``ctx.call_soon``, so the component's state is
only ever touched on its own thread and nothing internal is journaled. The component stays a
plain component: the same contract, supervision and journal as every other.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from node.runtime.base import describe_error
from node.venue import Venue

log = logging.getLogger("tradenode.venue")
T = TypeVar("T")


class EventLoopThread:
    """An asyncio event loop running in a daemon thread of its own."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = threading.Event()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        self.loop.run_forever()

    def start(self) -> None:
        self._thread.start()
        self._started.wait(5)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop; the future completes on the loop's thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel what still runs, then stop the loop and join its thread."""
        if not self._thread.is_alive():
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.submit(cancel_all()).result(timeout)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()


class AsyncVenue(Venue):
    """A venue with its own event loop; see the module docstring.

    Subclasses implement ``connect_async`` (connect, load instruments and balances, start
    streams; raise if the venue cannot be reached) and may override ``disconnect_async``. They
    run coroutines with ``run_async`` and long-lived stream loops with ``start_task``; a
    callback given to either runs on the component's own thread.
    """

    #: how long ``on_stop`` waits for ``disconnect_async``
    disconnect_timeout_s: float = 5.0

    def connect(self) -> None:
        self.loop = EventLoopThread(f"tradenode-{self.venue}")
        self.loop.start()
        self.run_async(
            self.connect_async(),
            then=lambda _: None,
            failed=lambda exc: self.disconnected(f"cannot connect: {describe_error(exc)}"),
        )

    async def connect_async(self) -> None:
        raise NotImplementedError

    async def disconnect_async(self) -> None:
        """Close clients and sockets (on the loop)."""

    def disconnect(self) -> None:
        loop = getattr(self, "loop", None)
        if loop is None:
            return
        with contextlib.suppress(Exception):
            loop.submit(self.disconnect_async()).result(self.disconnect_timeout_s)
        loop.stop()

    def run_async(
        self,
        awaitable: Awaitable[T],
        then: Callable[[T], None] | None = None,
        failed: Callable[[BaseException], None] | None = None,
    ) -> concurrent.futures.Future[T]:
        """Run ``awaitable`` on the venue's loop; ``then(result)`` or ``failed(exc)`` runs on the
        component's thread afterwards (a failure without ``failed`` is logged)."""

        async def wrap() -> T:
            return await awaitable

        future = self.loop.submit(wrap())
        ctx = self.ctx

        def done(f: concurrent.futures.Future[T]) -> None:
            if f.cancelled():
                return
            exc = f.exception()
            if exc is not None:
                if failed is not None:
                    ctx.call_soon(lambda: failed(exc))
                else:
                    log.error("venue %s: %s", self.venue, describe_error(exc))
            elif then is not None:
                result = f.result()
                ctx.call_soon(lambda: then(result))

        future.add_done_callback(done)
        return future

    def start_task(self, coro: Coroutine[Any, Any, None]) -> concurrent.futures.Future[None]:
        """A long-lived loop on the venue's thread (a stream); it hands what it receives back
        with ``self.post``. Its failure is logged and reported as a venue status."""

        def done(f: concurrent.futures.Future[None]) -> None:
            if f.cancelled():
                return
            exc = f.exception()
            if exc is not None:
                error = describe_error(exc)
                log.error("venue %s: stream failed: %s", self.venue, error)
                self.post(lambda: self.status("stream failed", error))

        future = self.loop.submit(coro)
        future.add_done_callback(done)
        return future

    def post(self, callback: Callable[[], None]) -> None:
        """From the loop (or any thread): run ``callback`` on the component's own turn."""
        self.ctx.call_soon(callback)
