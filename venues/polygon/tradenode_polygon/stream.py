"""Polygon's stocks websocket through massive's ``WebSocketClient``, in a loop that says when it
is connected and when it is not.

massive reconnects by itself after an abnormal close but tells nobody, and returns without an
error after a clean close (code 1000). Here massive is told not to reconnect
(``max_reconnects=0``): every end of ``connect`` is seen, reported, and followed by a new
connection after a growing pause, which subscribes again. A refused key ends the loop. Frames
are read raw and parsed here with ``Decimal`` prices (massive's models hold floats); the
subscription acknowledgements say when the connection is usable.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from node.runtime.base import describe_error

log = logging.getLogger("tradenode.polygon")
MIN_PAUSE_S = 0.5
DATA_EVENTS = frozenset({"Q", "T", "AM"})


class PolygonStream:
    """Runs until cancelled (or the key is refused); see the module docstring."""

    def __init__(
        self,
        api_key: str,
        *,
        feed: str,
        secure: bool,
        topics: list[str],
        max_pause_s: float,
        on_events: Callable[[list[dict[str, Any]]], None],
        on_up: Callable[[], None],
        on_down: Callable[[str], None],
        on_refused: Callable[[str], None],
    ) -> None:
        self._api_key = api_key
        self.feed, self.secure, self.topics = feed, secure, list(topics)
        self.max_pause_s = max_pause_s
        self.on_events, self.on_up, self.on_down, self.on_refused = (
            on_events,
            on_up,
            on_down,
            on_refused,
        )
        self.connected = False
        self.problem = ""  # the last status Polygon sent that was not a success

    def __repr__(self) -> str:
        return f"PolygonStream({self.feed!r}, {len(self.topics)} topics)"

    async def run(self) -> None:
        from massive import WebSocketClient
        from massive.exceptions import AuthError

        pause = MIN_PAUSE_S
        while True:
            client = WebSocketClient(
                api_key=self._api_key,
                feed=self.feed,
                market="stocks",
                secure=self.secure,
                raw=True,
                subscriptions=self.topics,
                max_reconnects=0,
            )
            self.connected = False
            try:
                await client.connect(self._frame)
                reason = "Polygon closed the connection"
            except AuthError as exc:
                self.on_refused(f"Polygon refused the API key: {exc}")
                return
            except Exception as exc:
                reason = f"connection lost: {describe_error(exc)}"
            finally:
                if client.websocket is not None:
                    await _quietly(client.close())
            if self.problem:
                reason += f" ({self.problem})"
            if self.connected:
                pause = MIN_PAUSE_S
            self.connected = False
            self.on_down(reason)
            log.warning("polygon %s: %s; reconnecting in %.1f s", self.feed, reason, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, self.max_pause_s)

    async def _frame(self, raw: str | bytes) -> None:
        try:
            events = json.loads(raw, parse_float=Decimal)
        except ValueError:
            log.warning("polygon %s: a frame that is not JSON: %.80r", self.feed, raw)
            return
        if not isinstance(events, list):
            return
        data = []
        for event in events:
            kind = event.get("ev") if isinstance(event, dict) else None
            if kind in DATA_EVENTS:
                data.append(event)
            elif kind == "status":
                self._status(event)
        if data:
            self.on_events(data)

    def _status(self, event: dict[str, Any]) -> None:
        status, message = event.get("status"), str(event.get("message", ""))
        if status == "success":
            if not self.connected:
                self.connected, self.problem = True, ""
                self.on_up()
        elif status not in ("connected", "auth_success"):
            self.problem = f"{status}: {message}"
            log.warning("polygon %s: %s", self.feed, self.problem)


async def _quietly(closing: Any) -> None:
    try:
        await asyncio.wait_for(closing, 2)
    except Exception as exc:
        log.debug("closing the polygon socket: %s", describe_error(exc))
