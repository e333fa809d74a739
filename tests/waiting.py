"""Waiting on something a live node, a loopback server or a client thread does: poll until it
holds, and fail (never hang) after a bound — a bound for a loaded machine, not a speed claim."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

WAIT_S = 30.0


def wait_for(
    condition: Callable[[], Any],
    what: str,
    timeout: float = WAIT_S,
    step: Callable[[], Any] | None = None,
) -> Any:
    """Poll ``condition`` (calling ``step`` between polls) until it returns something truthy,
    and return that; ``AssertionError`` naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        if step is not None:
            step()
        time.sleep(0.02)
