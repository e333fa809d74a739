"""The aiohttp application: routes, HTTP fault injection and Binance's weight header."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from tradenode_ccxt.loopback import admin, ws
from tradenode_ccxt.loopback.appkey import EXCHANGE
from tradenode_ccxt.loopback.rest import RestApi

if TYPE_CHECKING:
    from tradenode_ccxt.loopback.server import LoopbackExchange

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(exchange: LoopbackExchange) -> web.Application:
    weight = _Weight()

    @web.middleware
    async def rest_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
        """Apply the next armed HTTP fault that matches this REST request."""
        if request.path.startswith("/_admin/") or request.headers.get("Upgrade"):
            return await handler(request)
        used = weight.add()
        fault = exchange.faults.take_http(request.method, request.path)
        if fault is None:
            response = await handler(request)
        elif fault.kind == "status":
            if fault.processed:
                await handler(request)
            content_type, body = fault.response_body()
            headers = {"Retry-After": str(fault.retry_after)} if fault.status in (418, 429) else {}
            response = web.Response(
                status=fault.status, text=body, content_type=content_type, headers=headers
            )
        elif fault.kind == "delay":
            if not fault.processed:
                await asyncio.sleep(fault.seconds)
            response = await handler(request)
            if fault.processed:
                await asyncio.sleep(fault.seconds)
        else:  # drop: the request takes effect, the client never hears of it
            await handler(request)
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)
        response.headers["X-MBX-USED-WEIGHT-1M"] = str(used)
        return response

    rest = RestApi(exchange)
    app = web.Application(middlewares=[rest_faults])
    app[EXCHANGE] = exchange
    app.router.add_route("GET", "/stream/ws", ws.market_streams)
    app.router.add_route("GET", "/stream/ws/{tail:.*}", ws.market_streams)
    app.router.add_route("GET", "/ws-api/v3", ws.ws_api)
    app.router.add_route("*", "/_admin/{name}", admin.handle)
    app.router.add_route("*", "/{path:(api|sapi|fapi|dapi)/.*}", rest.handle)
    return app


class _Weight:
    """Requests in the current minute, reported like Binance's ``X-MBX-USED-WEIGHT-1M``."""

    def __init__(self) -> None:
        self.minute = 0
        self.used = 0

    def add(self) -> int:
        minute = int(time.time() // 60)
        if minute != self.minute:
            self.minute, self.used = minute, 0
        self.used += 1
        return self.used
