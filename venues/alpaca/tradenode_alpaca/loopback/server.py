"""The loopback Alpaca server: trading REST API (``/v2/...``), the ``/stream`` trade-updates
websocket, the ``/v2/iex`` market-data websocket and an ``/_admin`` API, on one aiohttp port.

Point alpaca-py at it with ``TradingClient(key, secret, url_override=server.url)``,
``TradingStream(key, secret, url_override=server.stream_url)`` and
``StockDataStream(key, secret, url_override=server.data_stream_url)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from . import calendar
from .clock import SimClock
from .config import LoopbackConfig
from .data_stream import TAPE, MarketDataHub
from .engine import TradingEngine
from .errors import UNAUTHORIZED, AlpacaApiError, invalid, status_error
from .faults import FaultPlan, HttpFault
from .market import Quote
from .queries import AccountQueries
from .trade_stream import TradeUpdatesHub
from .wire import clock_json, num, order_json

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STREAM_PATHS = frozenset({"/stream", "/v2/iex", "/v2/sip"})
MIN_WAKEUP = 0.05


def _to_ns(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return int(moment.timestamp() * 1_000_000) * 1000


def _alpaca_response(error: AlpacaApiError) -> web.Response:
    return web.json_response(error.body(), status=error.status)


def _quote_json(quote: Quote) -> dict[str, Any]:
    return {
        "symbol": quote.symbol,
        "t": quote.t_ns,
        "bid": num(quote.bid),
        "bid_size": quote.bid_size,
        "ask": num(quote.ask),
        "ask_size": quote.ask_size,
    }


class AlpacaLoopback:
    """One simulated Alpaca paper account with its market, served on 127.0.0.1.

    Control methods (``step``, ``set_price``, ``inject_http_fault``, ...) are synchronous and
    must run on the server's event loop; ``ThreadedAlpacaLoopback`` offers them to other
    threads.
    """

    def __init__(self, config: LoopbackConfig | None = None) -> None:
        self.config = config or LoopbackConfig()
        start_ns = _to_ns(self.config.start)
        self.clock = SimClock(start_ns, realtime=self.config.realtime, speed=self.config.speed)
        self.engine = TradingEngine(self.config, start_ns)
        self.queries = AccountQueries(self.engine)
        self.faults = FaultPlan()
        self.trade_updates = TradeUpdatesHub(self.config.api_key, self.config.secret_key)
        self.market_data = MarketDataHub(
            self.config.api_key,
            self.config.secret_key,
            self.config.max_data_connections,
            {a.symbol: TAPE.get(a.exchange, "C") for a in self.config.assets},
        )
        self.engine.on_trade_update(self.trade_updates.publish)
        self.engine.on_market_tick(self.market_data.publish)
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None
        self._ticker: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        # No access log: request lines would only be noise next to the client's own logging.
        runner = web.AppRunner(self._app(), handle_signals=False, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._port = runner.addresses[0][1]
        self._runner = runner
        self._host = host
        if self.clock.realtime:
            self._ticker = asyncio.create_task(self._run_clock())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        await self.trade_updates.close()
        await self.market_data.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _run_clock(self) -> None:
        # At high speeds several ticks are processed per wake-up rather than waking per tick.
        interval = max(MIN_WAKEUP, self.config.quote_interval / self.clock.speed)
        while True:
            await asyncio.sleep(interval)
            self.sync()

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError("the server is not started")
        return f"http://{self._host}:{self._port}"

    @property
    def stream_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/stream"

    @property
    def data_stream_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/v2/iex"

    # -- control -------------------------------------------------------------------------

    def sync(self) -> None:
        """Bring the market up to the clock (real-time mode moves the clock by itself)."""
        self.engine.advance_to(self.clock.now_ns())

    def now(self) -> datetime:
        return calendar.to_datetime(self.engine.now_ns)

    def step(self, seconds: float) -> datetime:
        """Advance simulated time; every quote tick and session boundary on the way happens."""
        self.engine.advance_to(self.clock.advance(seconds))
        return self.now()

    def jump_to(self, moment: datetime) -> datetime:
        """Move to a later instant (session boundaries on the way still happen)."""
        self.engine.advance_to(self.clock.jump(_to_ns(moment)))
        return self.now()

    def set_price(self, symbol: str, mid: Decimal) -> Quote:
        return self.engine.set_price(symbol.upper(), mid)

    def quote(self, symbol: str) -> Quote:
        return self.engine.walks[symbol.upper()].quote

    def inject_http_fault(
        self,
        status: int,
        count: int = 1,
        *,
        method: str | None = None,
        path: str | None = None,
        after: bool = False,
    ) -> None:
        """Answer the next ``count`` REST requests matching ``method``/``path`` (a prefix) with
        ``status``; ``after=True`` handles them first and then loses the answer."""
        self.faults.add(HttpFault(status, count, method, path, after))

    def clear_faults(self) -> None:
        self.faults.clear()

    def reject_next_orders(self, count: int = 1) -> None:
        """The next ``count`` orders to reach the market get a ``rejected`` trade update."""
        self.engine.reject_next(count)

    def drop_streams(self, which: str = "all") -> int:
        """Cut websocket connections: ``trade_updates``, ``market_data`` or ``all``."""
        if which not in ("trade_updates", "market_data", "all"):
            raise ValueError("which must be trade_updates, market_data or all")
        dropped = 0
        if which in ("trade_updates", "all"):
            dropped += self.trade_updates.drop()
        if which in ("market_data", "all"):
            dropped += self.market_data.drop()
        return dropped

    def records(self) -> dict[str, Any]:
        return {
            **self.queries.records(),
            "now": calendar.to_datetime(self.engine.now_ns).isoformat(),
            "session": calendar.session_at(self.engine.now_ns),
            "trade_update_listeners": self.trade_updates.listeners,
        }

    # -- HTTP ----------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        e, q = self.engine, self.queries
        app.router.add_get("/stream", self.trade_updates.handle)
        app.router.add_get("/v2/{feed:(iex|sip)}", self.market_data.handle)
        views: list[tuple[str, Callable[[web.Request], Any]]] = [
            ("/v2/account", lambda r: q.account()),
            ("/v2/assets", lambda r: q.assets(dict(r.query))),
            ("/v2/assets/{symbol}", lambda r: q.asset(r.match_info["symbol"])),
            ("/v2/clock", lambda r: clock_json(e.now_ns)),
            ("/v2/calendar", lambda r: q.trading_calendar(dict(r.query))),
            ("/v2/orders", lambda r: q.list_orders(dict(r.query))),
            ("/v2/orders/{order_id}", lambda r: order_json(e.order(r.match_info["order_id"]))),
            ("/v2/positions", lambda r: q.positions()),
            ("/v2/positions/{symbol}", lambda r: q.position(r.match_info["symbol"])),
        ]
        for path, view in views:
            app.router.add_get(path, self._json_view(view))
        app.router.add_get("/v2/orders:by_client_order_id", self._order_by_client_id)
        app.router.add_get("/v2/account/activities", self._activities)
        app.router.add_get("/v2/account/activities/{activity_type}", self._activities)
        app.router.add_post("/v2/orders", self._submit)
        app.router.add_delete("/v2/orders", self._cancel_all)
        app.router.add_delete("/v2/orders/{order_id}", self._cancel)
        app.router.add_patch("/v2/orders/{order_id}", self._replace)
        app.router.add_get("/_admin/state", self._admin(lambda body: self.records()))
        app.router.add_get("/_admin/quotes", self._admin(self._admin_quotes))
        app.router.add_post("/_admin/step", self._admin(self._admin_step))
        app.router.add_post("/_admin/time", self._admin(self._admin_time))
        app.router.add_post("/_admin/price", self._admin(self._admin_price))
        app.router.add_post("/_admin/faults", self._admin(self._admin_fault))
        app.router.add_delete("/_admin/faults", self._admin(lambda body: self.clear_faults()))
        app.router.add_post("/_admin/drop", self._admin(self._admin_drop))
        app.router.add_post(
            "/_admin/reject", self._admin(lambda b: self.reject_next_orders(int(b.get("count", 1))))
        )
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path in STREAM_PATHS or path.startswith("/_admin"):
            return await handler(request)
        before = self.faults.take(request.method, path, after=False)
        if before is not None:
            return _alpaca_response(status_error(before))
        if not self._authorized(request):
            return web.json_response(
                {"code": UNAUTHORIZED, "message": "request is not authorized"}, status=401
            )
        self.sync()
        try:
            response = await handler(request)
        except AlpacaApiError as error:
            response = _alpaca_response(error)
        except web.HTTPException as error:
            # Unknown paths and methods: JSON like every other Alpaca error, not aiohttp's text.
            body = {"code": error.status * 100_000, "message": error.reason.lower()}
            response = web.json_response(body, status=error.status)
        after = self.faults.take(request.method, path, after=True)
        if after is not None:
            return _alpaca_response(status_error(after))
        return response

    def _authorized(self, request: web.Request) -> bool:
        key = request.headers.get("APCA-API-KEY-ID", "")
        secret = request.headers.get("APCA-API-SECRET-KEY", "")
        return hmac.compare_digest(key, self.config.api_key) and hmac.compare_digest(
            secret, self.config.secret_key
        )

    @staticmethod
    def _json_view(view: Callable[[web.Request], Any]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            return web.json_response(view(request))

        return handle

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise AlpacaApiError(400, 40010000, "request body format is invalid") from None
        if not isinstance(body, dict):
            raise AlpacaApiError(400, 40010000, "request body format is invalid")
        return body

    async def _submit(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.engine.submit(await self._body(request)))

    async def _replace(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        return web.json_response(self.engine.replace(request.match_info["order_id"], body))

    async def _cancel(self, request: web.Request) -> web.StreamResponse:
        self.engine.cancel(request.match_info["order_id"])
        return web.Response(status=204)

    async def _cancel_all(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.engine.cancel_all(), status=207)

    async def _order_by_client_id(self, request: web.Request) -> web.StreamResponse:
        client_order_id = request.query.get("client_order_id")
        if not client_order_id:
            raise invalid("client_order_id is required")
        return web.json_response(order_json(self.engine.order_by_client_id(client_order_id)))

    async def _activities(self, request: web.Request) -> web.StreamResponse:
        params = dict(request.query)
        kinds = request.match_info.get("activity_type") or params.get("activity_types", "FILL")
        if "FILL" not in {k.strip().upper() for k in kinds.split(",")}:
            return web.json_response([])
        return web.json_response(self.queries.fill_activities(params))

    # -- admin ---------------------------------------------------------------------------

    def _admin(self, action: Callable[[dict[str, Any]], Any]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            body: dict[str, Any] = {}
            if request.can_read_body:
                try:
                    body = await request.json()
                except ValueError:
                    return web.json_response({"error": "body must be JSON"}, status=400)
            try:
                result = action(body)
            except (KeyError, ValueError, TypeError, InvalidOperation) as error:
                return web.json_response({"error": str(error)}, status=400)
            except AlpacaApiError as error:
                return _alpaca_response(error)
            return web.json_response({"ok": True} if result is None else result)

        return handle

    def _admin_quotes(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        return [_quote_json(w.quote) for w in self.engine.walks.values()]

    def _admin_step(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"now": self.step(float(body["seconds"])).isoformat()}

    def _admin_time(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"now": self.jump_to(datetime.fromisoformat(body["time"])).isoformat()}

    def _admin_price(self, body: dict[str, Any]) -> dict[str, Any]:
        return _quote_json(self.set_price(str(body["symbol"]), Decimal(str(body["price"]))))

    def _admin_fault(self, body: dict[str, Any]) -> None:
        self.inject_http_fault(
            int(body["status"]),
            int(body.get("count", 1)),
            method=body.get("method"),
            path=body.get("path"),
            after=bool(body.get("after", False)),
        )

    def _admin_drop(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"dropped": self.drop_streams(str(body.get("stream", "all")))}
