"""The server's notion of now: wall time scaled from a start instant, or a clock that moves
only when told to, so a test decides exactly which data has been published."""

from __future__ import annotations

import time

NS = 1_000_000_000


class SimClock:
    """Simulated time in integer nanoseconds since the epoch (see ``PolygonLoopback``)."""

    def __init__(self, start_ns: int, *, realtime: bool, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.realtime = realtime
        self.speed = speed
        self._base_ns = start_ns
        self._anchor_ns = time.monotonic_ns()

    def now_ns(self) -> int:
        if not self.realtime:
            return self._base_ns
        return self._base_ns + int((time.monotonic_ns() - self._anchor_ns) * self.speed)

    def advance(self, seconds: float) -> int:
        if seconds < 0:
            raise ValueError("the clock does not move backwards")
        return self.jump(self.now_ns() + round(seconds * NS))

    def jump(self, t_ns: int) -> int:
        if t_ns < self.now_ns():
            raise ValueError("the clock does not move backwards")
        self._base_ns = t_ns
        self._anchor_ns = time.monotonic_ns()
        return t_ns
