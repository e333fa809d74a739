"""Injected HTTP failures: the next N matching requests get an error status.

A fault applies either before the request is handled (the venue never saw it: a 429 from the
rate limiter, a 5xx from a gateway) or after (the venue acted, but the answer is lost: the
case that makes a client resubmit an order it already placed).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class HttpFault:
    status: int
    remaining: int
    method: str | None = None
    path_prefix: str | None = None
    after: bool = False

    def matches(self, method: str, path: str, after: bool) -> bool:
        return (
            self.remaining > 0
            and self.after == after
            and (self.method is None or self.method.upper() == method.upper())
            and (self.path_prefix is None or path.startswith(self.path_prefix))
        )


class FaultPlan:
    def __init__(self) -> None:
        self._faults: list[HttpFault] = []

    def add(self, fault: HttpFault) -> None:
        if not 400 <= fault.status <= 599:
            raise ValueError("fault status must be an HTTP error status")
        if fault.remaining <= 0:
            raise ValueError("fault count must be positive")
        self._faults.append(fault)

    def clear(self) -> None:
        self._faults.clear()

    def take(self, method: str, path: str, *, after: bool) -> int | None:
        """The status to answer this request with, consuming one use of the first match."""
        for fault in self._faults:
            if fault.matches(method, path, after):
                fault.remaining -= 1
                return fault.status
        return None
