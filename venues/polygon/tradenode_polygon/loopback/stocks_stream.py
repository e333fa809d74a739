"""The ``/stocks`` websocket: Polygon's (massive's) stocks cluster protocol.

Every frame is a JSON array. The server greets with a ``connected`` status, answers
``{"action": "auth", "params": KEY}`` with ``auth_success`` or ``auth_failed`` (then closes),
and ``{"action": "subscribe", "params": "Q.AAPL,T.AAPL,AM.*"}`` with one ``success`` status per
channel. ``Q``, ``T`` and ``AM`` are served; other channels get an ``error`` status. Beyond
``max_connections`` authenticated sockets, the next one gets ``max_connections`` and is closed,
as Polygon does.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .sockets import Outbox, abort

CHANNELS = ("Q", "T", "AM")
FRAME_EVENTS = 1000
POLICY_VIOLATION = 1008


def _status(status: str, message: str) -> dict[str, str]:
    return {"ev": "status", "status": status, "message": message}


@dataclass(eq=False)
class _Connection:
    request: web.Request
    outbox: Outbox
    authenticated: bool = False
    subscriptions: set[tuple[str, str]] = field(default_factory=set)

    def send(self, messages: list[dict[str, Any]]) -> None:
        self.outbox.put(json.dumps(messages, separators=(",", ":")))

    def wants(self, event: dict[str, Any]) -> bool:
        channel = event["ev"]
        return bool({(channel, event["sym"]), (channel, "*")} & self.subscriptions)


class StocksHub:
    def __init__(self, api_key: str, max_connections: int) -> None:
        self._api_key = api_key
        self._max_connections = max_connections
        self._connections: set[_Connection] = set()

    @property
    def tickers(self) -> set[str] | None:
        """Tickers someone subscribed to (``None`` means all, via a ``*`` subscription)."""
        wanted: set[str] = set()
        for connection in self._connections:
            for _, symbol in connection.subscriptions:
                if symbol == "*":
                    return None
                wanted.add(symbol)
        return wanted

    @property
    def subscriptions(self) -> list[list[str]]:
        return [
            sorted(f"{c}.{s}" for c, s in connection.subscriptions)
            for connection in self._connections
            if connection.authenticated
        ]

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        connection = _Connection(request, Outbox(ws))
        self._connections.add(connection)
        connection.send([_status("connected", "Connected Successfully")])
        try:
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                try:
                    message = json.loads(msg.data)
                    action, params = message.get("action"), str(message.get("params", ""))
                except (ValueError, AttributeError):
                    connection.send([_status("error", "Could not parse message")])
                    continue
                if action == "auth":
                    if not await self._authenticate(connection, params):
                        break
                elif not connection.authenticated:
                    connection.send([_status("error", "not authorized")])
                elif action in ("subscribe", "unsubscribe"):
                    self._subscribe(connection, params, add=action == "subscribe")
                else:
                    connection.send([_status("error", f"unknown action: {action}")])
        finally:
            self._connections.discard(connection)
            await connection.outbox.stop()
        return ws

    async def _authenticate(self, connection: _Connection, key: str) -> bool:
        if not hmac.compare_digest(key, self._api_key):
            connection.send([_status("auth_failed", "authentication failed")])
            await connection.outbox.close(code=POLICY_VIOLATION)
            return False
        if sum(1 for c in self._connections if c.authenticated) >= self._max_connections:
            connection.send(
                [
                    _status(
                        "max_connections",
                        "Maximum number of websocket connections exceeded. You have reached the "
                        "connection limit for your account.",
                    )
                ]
            )
            await connection.outbox.close(code=POLICY_VIOLATION)
            return False
        connection.authenticated = True
        connection.send([_status("auth_success", "authenticated")])
        return True

    @staticmethod
    def _subscribe(connection: _Connection, params: str, *, add: bool) -> None:
        replies = []
        verb = "subscribed to" if add else "unsubscribed to"
        for topic in filter(None, (p.strip() for p in params.split(","))):
            channel, _, symbol = topic.partition(".")
            if channel not in CHANNELS or not symbol:
                replies.append(_status("error", f"unsupported subscription: {topic}"))
                continue
            key = (channel, symbol.upper() if symbol != "*" else "*")
            if add:
                connection.subscriptions.add(key)
            else:
                connection.subscriptions.discard(key)
            replies.append(_status("success", f"{verb}: {topic}"))
        if replies:
            connection.send(replies)

    def publish(self, events: list[dict[str, Any]]) -> None:
        for connection in self._connections:
            if not connection.authenticated:
                continue
            wanted = [e for e in events if connection.wants(e)]
            for start in range(0, len(wanted), FRAME_EVENTS):
                connection.send(wanted[start : start + FRAME_EVENTS])

    def drop(self) -> int:
        """Cut every connection without a close frame (massive reconnects)."""
        dropped, self._connections = self._connections, set()
        for connection in dropped:
            abort(connection.request)
        return len(dropped)

    async def close_all(self, code: int = 1000) -> int:
        """Close every connection cleanly with ``code`` (massive's ``connect`` then returns)."""
        closing, self._connections = self._connections, set()
        for connection in closing:
            await connection.outbox.close(code=code)
        return len(closing)

    async def shutdown(self) -> None:
        outboxes = [c.outbox for c in self._connections]
        self.drop()
        for outbox in outboxes:
            await outbox.stop()
