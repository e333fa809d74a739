"""The two websocket endpoints: market streams and the WebSocket API's user-data stream.

Market streams (``/stream/ws`` and ``/stream/ws/<anything>``, raw payloads like Binance's
``/ws``): ``{"method": "SUBSCRIBE", "params": [...], "id": n}`` is answered
``{"result": null, "id": n}``; a path tail that names streams (``btcusdt@trade/btcusdt@depth``)
subscribes at connect. WebSocket API (``/ws-api/v3``): ``userDataStream.subscribe.signature``
checks the signature and answers ``{"id", "status": 200, "result": {"subscriptionId"}}``; events
then arrive as ``{"subscriptionId", "event"}``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from tradenode_ccxt.loopback.appkey import EXCHANGE
from tradenode_ccxt.loopback.clock import now_ms
from tradenode_ccxt.loopback.errors import BinanceError
from tradenode_ccxt.loopback.streams import Outbox, drain

if TYPE_CHECKING:
    from tradenode_ccxt.loopback.server import LoopbackExchange


async def _serve(
    exchange: LoopbackExchange,
    request: web.Request,
    outbox_gap: float,
    on_open: Callable[[Outbox], None],
    on_text: Callable[[Outbox, dict[str, Any]], None],
) -> web.WebSocketResponse:
    """Run one websocket: its outbox writer, its messages, and cleanup when either side ends."""
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    exchange.sockets.add(ws)
    outbox = Outbox(ws, outbox_gap)
    writer = asyncio.create_task(outbox.run())
    on_open(outbox)
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                req = json.loads(msg.data)
                if not isinstance(req, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                outbox.put(json.dumps({"error": {"code": 3, "msg": f"Invalid JSON: {exc}"}}))
                continue
            on_text(outbox, req)
    finally:
        exchange.sockets.discard(ws)
        exchange.market_hub.remove(outbox)
        exchange.user_hub.remove(outbox)
        await drain(outbox, writer)
    return ws


async def market_streams(request: web.Request) -> web.WebSocketResponse:
    exchange = request.app[EXCHANGE]
    hub = exchange.market_hub
    tail = request.match_info.get("tail", "")
    initial = {s for s in tail.split("/") if "@" in s}

    def on_text(outbox: Outbox, req: dict[str, Any]) -> None:
        method, params, rid = req.get("method"), req.get("params") or [], req.get("id")
        streams = hub.streams(outbox)
        if method == "SUBSCRIBE" and isinstance(params, list):
            streams.update(str(p) for p in params)
            outbox.put(json.dumps({"result": None, "id": rid}))
        elif method == "UNSUBSCRIBE" and isinstance(params, list):
            streams.difference_update(str(p) for p in params)
            outbox.put(json.dumps({"result": None, "id": rid}))
        elif method == "LIST_SUBSCRIPTIONS":
            outbox.put(json.dumps({"result": sorted(streams), "id": rid}))
        else:
            error = {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}
            outbox.put(json.dumps({"error": error, "id": rid}))

    return await _serve(exchange, request, 0.0, lambda o: hub.add(o, initial), on_text)


async def ws_api(request: web.Request) -> web.WebSocketResponse:
    exchange = request.app[EXCHANGE]
    hub = exchange.user_hub

    def on_text(outbox: Outbox, req: dict[str, Any]) -> None:
        rid, method, params = req.get("id"), req.get("method"), req.get("params") or {}
        try:
            if not isinstance(params, dict):
                raise BinanceError(400, -1100, "Illegal parameters: 'params' must be an object.")
            if method == "userDataStream.subscribe.signature":
                exchange.credentials.verify_ws(params, now_ms())
                result: dict[str, Any] = {"subscriptionId": hub.subscribe(outbox)}
            elif method == "userDataStream.unsubscribe":
                sid = params.get("subscriptionId")
                hub.unsubscribe(outbox, int(sid) if sid is not None else None)
                result = {}
            elif method == "ping":
                result = {}
            elif method == "time":
                result = {"serverTime": now_ms()}
            else:
                raise BinanceError(400, -1102, f"Unsupported method {method!r}.")
        except BinanceError as exc:
            outbox.put(json.dumps({"id": rid, "status": exc.status, "error": exc.body()}))
            return
        outbox.put(json.dumps({"id": rid, "status": 200, "result": result, "rateLimits": []}))

    return await _serve(exchange, request, exchange.user_event_gap, lambda o: None, on_text)
