"""Faults a test arms at start or at run time, each applied to the next matching traffic.

HTTP: answer the next N requests (optionally only one method/path) with 429/418 and Binance's
body plus ``Retry-After``, or a 5xx (before the request is processed, or after it, when its
outcome is unknown to the client as Binance warns); delay a reply; or process the request and
then drop the connection (an accepted order the client never hears about). User data: send a
fill event twice, or two order events in swapped order (both done by ``streams.UserHub``).
Market streams stall (``streams.MarketHub.stall``) or skip update ids (``Book.skip_update_ids``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

HttpFaultKind = Literal["status", "delay", "drop"]

_RATE_LIMIT_MSG = (
    "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute. "
    "Please use WebSocket Streams for live updates to avoid polling the API."
)


@dataclass
class HttpFault:
    """One armed HTTP fault: for ``count`` requests matching ``method``/``path`` (None = any).

    ``status``: answer ``status`` (429, 418 or 5xx); ``processed`` says whether the request is
    carried out first. ``delay``: wait ``seconds`` (after processing when ``processed``, else
    before). ``drop``: process, then close the connection without an answer.
    """

    kind: HttpFaultKind
    count: int = 1
    method: str | None = None
    path: str | None = None
    status: int = 429
    retry_after: int = 1
    seconds: float = 0.0
    processed: bool = False

    def __post_init__(self) -> None:
        if self.kind == "status" and self.status not in (418, 429) and self.status < 500:
            raise ValueError("a status fault answers 418, 429 or a 5xx")
        if self.count < 1:
            raise ValueError("count must be at least 1")

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and (
            self.path is None or self.path == path
        )

    def response_body(self) -> tuple[str, str]:
        """(content type, body) as Binance or its gateway answers this status.

        A 5xx after processing says "execution status unknown" (-1007), as Binance does when
        its backend timed out; a 500 before processing is Binance's -1001 internal error; other
        5xx before processing come from the gateway as HTML.
        """
        if self.status == 429:
            return "application/json", json.dumps({"code": -1003, "msg": _RATE_LIMIT_MSG})
        if self.status == 418:
            until = int(time.time() * 1000) + self.retry_after * 1000
            msg = (
                f"Way too many requests; IP(127.0.0.1) banned until {until}. "
                "Please use WebSocket Streams for live updates to avoid bans."
            )
            return "application/json", json.dumps({"code": -1003, "msg": msg})
        if self.processed:
            msg = (
                "Timeout waiting for response from backend server. "
                "Send status unknown; execution status unknown."
            )
            return "application/json", json.dumps({"code": -1007, "msg": msg})
        if self.status == 500:
            msg = "Internal error; unable to process your request. Please try again."
            return "application/json", json.dumps({"code": -1001, "msg": msg})
        return "text/html", f"<html><body><h1>{self.status} Service Unavailable</h1></body></html>"

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items()}


class Faults:
    """Every armed fault; the server consults it on each request and each outgoing event."""

    def __init__(self) -> None:
        self.http: list[HttpFault] = []
        self.duplicate_fills = 0  # the next N TRADE executionReports are sent twice
        self.swap_user_events = 0  # the next N pairs of executionReports go out in reverse order

    def take_http(self, method: str, path: str) -> HttpFault | None:
        """The first armed fault matching this request, its count spent by one."""
        for fault in self.http:
            if fault.matches(method, path):
                fault.count -= 1
                if fault.count <= 0:
                    self.http.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        self.http.clear()
        self.duplicate_fills = 0
        self.swap_user_events = 0

    def describe(self) -> dict[str, Any]:
        return {
            "http": [f.describe() for f in self.http],
            "duplicate_fills": self.duplicate_fills,
            "swap_user_events": self.swap_user_events,
        }
