"""The ``/stream`` websocket: authorization, ``listen``, and ``trade_updates`` in JSON.

Like Alpaca's paper endpoint, every frame is a binary frame holding JSON (alpaca-py's
``TradingStream`` ``json.loads`` it either way). Both authentication forms are accepted:
``{"action": "authenticate", "data": {"key_id", "secret_key"}}`` (what alpaca-py sends) and
``{"action": "auth", "key", "secret"}``. Events that happen while a client is disconnected are
not replayed, as on Alpaca: a client that reconnects must look its orders up over REST.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from aiohttp import WSMsgType, web

from .sockets import Outbox, abort


def _frame(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


def _authorization(status: str, action: str) -> bytes:
    return _frame({"stream": "authorization", "data": {"status": status, "action": action}})


def _error(message: str) -> bytes:
    return _frame({"stream": "error", "data": {"error_message": message}})


class TradeUpdatesHub:
    def __init__(self, api_key: str, secret_key: str) -> None:
        self._api_key = api_key
        self._secret_key = secret_key
        # Keyed by the outbox (requests are mappings, hence unhashable); values cut the socket.
        self._listening: set[Outbox] = set()
        self._open: dict[Outbox, web.Request] = {}

    def _credentials_ok(self, message: dict[str, Any]) -> bool:
        data = message.get("data") or {}
        key = data.get("key_id", message.get("key", ""))
        secret = data.get("secret_key", message.get("secret", ""))
        return hmac.compare_digest(str(key), self._api_key) and hmac.compare_digest(
            str(secret), self._secret_key
        )

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        outbox = Outbox(ws)
        self._open[outbox] = request
        authorized = False
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                try:
                    message = json.loads(msg.data)
                    action = message.get("action")
                except (ValueError, AttributeError):
                    outbox.put(_error("invalid syntax"))
                    continue
                if action in ("authenticate", "auth"):
                    authorized = self._credentials_ok(message)
                    if not authorized:
                        outbox.put(_authorization("unauthorized", "authenticate"))
                        await outbox.close(code=1008)
                        break
                    outbox.put(_authorization("authorized", "authenticate"))
                elif action == "listen":
                    if not authorized:
                        outbox.put(_authorization("unauthorized", "listen"))
                        await outbox.close(code=1008)
                        break
                    streams = (message.get("data") or {}).get("streams") or []
                    accepted = [s for s in streams if s == "trade_updates"]
                    outbox.put(_frame({"stream": "listening", "data": {"streams": accepted}}))
                    if accepted:
                        self._listening.add(outbox)
                    else:
                        self._listening.discard(outbox)
                else:
                    outbox.put(_error("unknown action"))
        finally:
            self._listening.discard(outbox)
            self._open.pop(outbox, None)
            await outbox.stop()
        return ws

    def publish(self, message: dict[str, Any]) -> None:
        frame = _frame(message)
        for outbox in self._listening:
            outbox.put(frame)

    @property
    def listeners(self) -> int:
        return len(self._listening)

    def drop(self) -> int:
        """Cut every ``/stream`` connection; returns how many were cut."""
        dropped = list(self._open.values())
        self._listening.clear()
        self._open.clear()
        for request in dropped:
            abort(request)
        return len(dropped)

    async def close(self) -> None:
        """Cut every connection and stop its sender (server shutdown)."""
        outboxes = list(self._open)
        self.drop()
        for outbox in outboxes:
            await outbox.stop()
