"""The market-data websocket (``/v2/iex``): Alpaca's stock stream protocol, v2.

Every server frame is an array of messages keyed by ``T``. A client that opens the socket with
``Content-Type: application/msgpack`` (alpaca-py's ``StockDataStream`` does) gets MessagePack
binary frames with timestamps as MessagePack timestamps; any other client gets JSON text frames
with RFC 3339 timestamps. Quotes (``q``), trades (``t``) and minute bars (``b``) are produced;
subscriptions to the other channels are acknowledged but carry nothing. ``/v2/sip`` answers
``409 insufficient subscription`` after authentication, as it does for a free (IEX) plan.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgpack
from aiohttp import WSMsgType, web

from .engine import MarketTick
from .market import Bar, Print, Quote
from .sockets import Outbox, abort
from .wire import rfc3339

CHANNELS = (
    "trades",
    "quotes",
    "bars",
    "updatedBars",
    "dailyBars",
    "statuses",
    "lulds",
    "corrections",
    "cancelErrors",
)
# Corrections and cancel errors come with trade subscriptions; clients do not ask for them.
_FOLLOW_TRADES = ("corrections", "cancelErrors")
IEX = "V"
TAPE = {"NASDAQ": "C", "NYSE": "A", "ARCA": "B", "AMEX": "B", "BATS": "B"}


@dataclass(eq=False)
class _Connection:
    request: web.Request
    outbox: Outbox
    msgpack: bool
    authenticated: bool = False
    subscriptions: dict[str, set[str]] = field(
        default_factory=lambda: {channel: set() for channel in CHANNELS}
    )

    def encode(self, messages: list[dict[str, Any]]) -> str | bytes:
        if self.msgpack:
            return msgpack.packb(messages, datetime=False)
        return json.dumps(messages, separators=(",", ":"), default=_json_default)

    def send(self, messages: list[dict[str, Any]]) -> None:
        self.outbox.put(self.encode(messages))

    def wants(self, channel: str, symbol: str) -> bool:
        wanted = self.subscriptions[channel]
        return symbol in wanted or "*" in wanted


def _json_default(value: object) -> Any:
    if isinstance(value, msgpack.Timestamp):
        return rfc3339(value.to_unix_nano())
    raise TypeError(type(value))


def _stamp(t_ns: int) -> msgpack.Timestamp:
    return msgpack.Timestamp.from_unix_nano(t_ns)


def _price(value: Decimal) -> float:
    return float(value)


class MarketDataHub:
    def __init__(
        self, api_key: str, secret_key: str, max_connections: int, tapes: dict[str, str]
    ) -> None:
        self._api_key = api_key
        self._secret_key = secret_key
        self._max_connections = max_connections
        self._tapes = tapes
        self._connections: set[_Connection] = set()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        feed = request.match_info["feed"]
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        connection = _Connection(
            request, Outbox(ws), request.headers.get("Content-Type", "") == "application/msgpack"
        )
        self._connections.add(connection)
        connection.send([{"T": "success", "msg": "connected"}])
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                try:
                    binary = msg.type is WSMsgType.BINARY
                    message = msgpack.unpackb(msg.data) if binary else json.loads(msg.data)
                    action = message.get("action")
                except (ValueError, AttributeError, msgpack.ExtraData):
                    connection.send([{"T": "error", "code": 400, "msg": "invalid syntax"}])
                    continue
                if action == "auth":
                    if not await self._authenticate(connection, message, feed):
                        break
                elif not connection.authenticated:
                    connection.send([{"T": "error", "code": 401, "msg": "not authenticated"}])
                elif action in ("subscribe", "unsubscribe"):
                    self._subscribe(connection, message, add=action == "subscribe")
                else:
                    connection.send([{"T": "error", "code": 400, "msg": "invalid syntax"}])
        finally:
            self._connections.discard(connection)
            await connection.outbox.stop()
        return ws

    async def _authenticate(
        self, connection: _Connection, message: dict[str, Any], feed: str
    ) -> bool:
        ok = hmac.compare_digest(str(message.get("key", "")), self._api_key) and (
            hmac.compare_digest(str(message.get("secret", "")), self._secret_key)
        )
        if not ok:
            connection.send([{"T": "error", "code": 402, "msg": "auth failed"}])
            await connection.outbox.close(code=1008)
            return False
        if feed != "iex":
            connection.send([{"T": "error", "code": 409, "msg": "insufficient subscription"}])
            await connection.outbox.close(code=1008)
            return False
        in_use = sum(1 for c in self._connections if c.authenticated)
        if in_use >= self._max_connections:
            connection.send([{"T": "error", "code": 406, "msg": "connection limit exceeded"}])
            await connection.outbox.close(code=1008)
            return False
        connection.authenticated = True
        connection.send([{"T": "success", "msg": "authenticated"}])
        return True

    def _subscribe(self, connection: _Connection, message: dict[str, Any], *, add: bool) -> None:
        for channel in CHANNELS:
            symbols = message.get(channel) or []
            if isinstance(symbols, str):
                symbols = [symbols]
            targets = [channel, *(_FOLLOW_TRADES if channel == "trades" else ())]
            for target in targets:
                if add:
                    connection.subscriptions[target].update(symbols)
                else:
                    connection.subscriptions[target].difference_update(symbols)
        ack: dict[str, Any] = {"T": "subscription"}
        ack.update({c: sorted(connection.subscriptions[c]) for c in CHANNELS})
        connection.send([ack])

    def publish(self, tick: MarketTick) -> None:
        for connection in self._connections:
            if not connection.authenticated:
                continue
            messages = [
                *(self._quote(q) for q in tick.quotes if connection.wants("quotes", q.symbol)),
                *(self._trade(p) for p in tick.prints if connection.wants("trades", p.symbol)),
                *(self._bar(b) for b in tick.bars if connection.wants("bars", b.symbol)),
            ]
            if messages:
                connection.send(messages)

    def _quote(self, quote: Quote) -> dict[str, Any]:
        return {
            "T": "q",
            "S": quote.symbol,
            "bx": IEX,
            "bp": _price(quote.bid),
            "bs": quote.bid_size,
            "ax": IEX,
            "ap": _price(quote.ask),
            "as": quote.ask_size,
            "c": ["R"],
            "z": self._tapes[quote.symbol],
            "t": _stamp(quote.t_ns),
        }

    def _trade(self, trade: Print) -> dict[str, Any]:
        return {
            "T": "t",
            "S": trade.symbol,
            "i": trade.trade_id,
            "x": IEX,
            "p": _price(trade.price),
            "s": trade.size,
            "c": ["@"],
            "z": self._tapes[trade.symbol],
            "t": _stamp(trade.t_ns),
        }

    @staticmethod
    def _bar(bar: Bar) -> dict[str, Any]:
        return {
            "T": "b",
            "S": bar.symbol,
            "o": _price(bar.open),
            "h": _price(bar.high),
            "l": _price(bar.low),
            "c": _price(bar.close),
            "v": bar.volume,
            "t": _stamp(bar.t_ns),
            "n": bar.trade_count,
            "vw": _price(bar.vwap),
        }

    def drop(self) -> int:
        """Cut every market-data connection; returns how many were cut."""
        # Forget them now: a client that reconnects at once must not count against the limit.
        dropped, self._connections = self._connections, set()
        for connection in dropped:
            abort(connection.request)
        return len(dropped)

    async def close(self) -> None:
        """Cut every connection and stop its sender (server shutdown)."""
        outboxes = [c.outbox for c in self._connections]
        self.drop()
        for outbox in outboxes:
            await outbox.stop()
