"""The server's clock: wall time in milliseconds, as Binance stamps everything."""

from __future__ import annotations

import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000
