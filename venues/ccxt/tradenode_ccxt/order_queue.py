"""The venue's order queue: at most ``orders_per_minute`` new orders (a token bucket of ``burst``),
first come first served, paused while the exchange says the venue is rate limited.

Orders wait here, never dropped; ``depth`` is how many wait, reported to ``on_depth`` whenever it
changes so the venue can show it. A 429/418 answer pauses the queue with an exponential backoff
(1 s doubling to 60 s, reset after an order goes through), on top of ccxt's own per-request
throttler, which spaces every REST call by the exchange's declared weights.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable

_FIRST_BACKOFF_S = 1.0
_MAX_BACKOFF_S = 60.0


class Withdrawn(Exception):
    """The order was taken out of the queue before it was sent."""


class OrderQueue:
    def __init__(
        self,
        per_minute: float,
        burst: int,
        on_depth: Callable[[int], None] = lambda depth: None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(burst)
        self.tokens = float(burst)
        self._clock = clock
        self._stamp = clock()
        self.paused_until = 0.0
        self._backoff = 0.0
        self._waiting: deque[tuple[str, asyncio.Future[None]]] = deque()
        self._on_depth = on_depth
        self._pump: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @property
    def depth(self) -> int:
        return len(self._waiting)

    def waiting(self, key: str) -> bool:
        return any(k == key for k, _ in self._waiting)

    async def slot(self, key: str, *, front: bool = False) -> None:
        """Wait for this order's turn; ``front`` puts it ahead (a resend keeps its place).

        Raises ``Withdrawn`` when the order is taken out with ``remove``."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if front:
            self._waiting.appendleft((key, future))
        else:
            self._waiting.append((key, future))
        self._on_depth(self.depth)
        self._kick()
        await future

    def remove(self, key: str) -> bool:
        """Take a waiting order out (canceled before it was sent)."""
        for item in list(self._waiting):
            if item[0] == key:
                self._waiting.remove(item)
                item[1].set_exception(Withdrawn(key))
                self._on_depth(self.depth)
                self._kick()
                return True
        return False

    def rate_limited(self) -> float:
        """The exchange refused for rate: pause (exponential backoff); returns the pause in s."""
        self._backoff = min(max(_FIRST_BACKOFF_S, self._backoff * 2), _MAX_BACKOFF_S)
        self.paused_until = max(self.paused_until, self._clock() + self._backoff)
        self._kick()
        return self._backoff

    def went_through(self) -> None:
        """An order was answered: the backoff starts from the beginning next time."""
        self._backoff = 0.0

    def close(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
        for _, future in self._waiting:
            future.cancel()
        self._waiting.clear()

    # -- the pump -------------------------------------------------------------------------------

    def _kick(self) -> None:
        self._changed.set()
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(self._run())

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def _run(self) -> None:
        while self._waiting:
            self._changed.clear()
            now = self._clock()
            self._refill(now)
            wait = max(self.paused_until - now, (1.0 - self.tokens) / self.rate, 0.0)
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), wait)
                continue
            _, future = self._waiting.popleft()
            if future.done():
                continue
            self.tokens -= 1.0
            future.set_result(None)
            self._on_depth(self.depth)
