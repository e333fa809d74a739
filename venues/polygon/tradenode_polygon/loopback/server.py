"""The loopback Polygon.io server: REST aggregates, ticker details, last trade/quote, and the
``/stocks`` websocket, plus an ``/_admin`` API, on one aiohttp port.

Point massive at it with ``RESTClient(api_key=key, base=server.url)`` and
``WebSocketClient(api_key=key, feed=server.host_port, market="stocks", secure=False)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from .aggregates import AggregateRequestError, aggregate, parse_bound, parse_limit, window_end
from .calendar import previous_trading_day, to_datetime
from .clock import SimClock
from .config import PolygonConfig
from .feed import LiveFeed
from .stocks_stream import StocksHub
from .tapes import TapeLibrary

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MS_NS = 1_000_000
PUBLISH_INTERVAL = 0.1
RATE_LIMITED = (
    "You've exceeded the maximum requests per minute, please wait or upgrade your "
    "subscription to continue. https://polygon.io/pricing"
)


def _to_ns(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return int(moment.timestamp() * 1_000_000) * 1000


class PolygonError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


class PolygonLoopback:
    """Generated U.S. stock data served like Polygon.io on 127.0.0.1.

    Control methods (``step``, ``jump_to``, ``inject_http_fault``, ``drop_streams``, ...) are
    synchronous or coroutines on the server's event loop; ``ThreadedPolygonLoopback`` offers
    them to other threads. ``step`` publishes every websocket event on the way; ``jump_to``
    moves on without publishing (like a client that was not connected).
    """

    def __init__(self, config: PolygonConfig | None = None) -> None:
        self.config = config or PolygonConfig()
        self.clock = SimClock(
            _to_ns(self.config.start), realtime=self.config.realtime, speed=self.config.speed
        )
        self.library = TapeLibrary(self.config)
        self.feed = LiveFeed(self.library)
        self.stocks = StocksHub(self.config.api_key, self.config.max_connections)
        self.published_ns = self.clock.now_ns()
        self.requests: list[str] = []
        self._faults: list[list[Any]] = []
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port: int | None = None
        self._publisher: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        # No access log: a key sent as ?apiKey= would land in it.
        runner = web.AppRunner(self._app(), handle_signals=False, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._host, self._port = host, runner.addresses[0][1]
        self._runner = runner
        if self.clock.realtime:
            self._publisher = asyncio.create_task(self._publish_forever())

    async def stop(self) -> None:
        if self._publisher is not None:
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher
        await self.stocks.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _publish_forever(self) -> None:
        while True:
            await asyncio.sleep(PUBLISH_INTERVAL)
            self.publish()

    @property
    def host_port(self) -> str:
        """What massive's ``WebSocketClient`` takes as ``feed`` (it builds ``ws://{feed}/{market}``)."""
        if self._port is None:
            raise RuntimeError("the server is not started")
        return f"{self._host}:{self._port}"

    @property
    def url(self) -> str:
        return f"http://{self.host_port}"

    @property
    def stocks_url(self) -> str:
        return f"ws://{self.host_port}/stocks"

    # -- control -------------------------------------------------------------------------

    def now(self) -> datetime:
        return to_datetime(self.clock.now_ns() // MS_NS)

    def publish(self) -> int:
        """Send the websocket events from the last publication up to now; returns how many."""
        now = self.clock.now_ns()
        if now <= self.published_ns:
            return 0
        tickers = self.stocks.tickers
        wanted = set(self.library.specs) if tickers is None else tickers
        events = self.feed.events(wanted, self.published_ns, now) if wanted else []
        self.published_ns = now
        self.stocks.publish(events)
        return len(events)

    def step(self, seconds: float) -> datetime:
        self.clock.advance(seconds)
        self.publish()
        return self.now()

    def jump_to(self, moment: datetime) -> datetime:
        self.published_ns = self.clock.jump(_to_ns(moment))
        return self.now()

    def inject_http_fault(self, status: int, count: int = 1, *, path: str | None = None) -> None:
        """Answer the next ``count`` REST requests (under ``path``, a prefix) with ``status``."""
        if not 400 <= status <= 599 or count < 1:
            raise ValueError("need an HTTP error status and a positive count")
        self._faults.append([status, count, path])

    def clear_faults(self) -> None:
        self._faults.clear()

    def drop_streams(self) -> int:
        """Cut every websocket without a close frame; massive reconnects and resubscribes."""
        return self.stocks.drop()

    async def close_streams(self, code: int = 1000) -> int:
        """Close every websocket cleanly; massive's ``connect()`` then returns."""
        return await self.stocks.close_all(code)

    def records(self) -> dict[str, Any]:
        """What the admin API reports: REST requests served (path and query, key removed),
        websocket subscriptions, and the simulated now."""
        return {
            "now": self.now().isoformat(),
            "requests": list(self.requests),
            "subscriptions": self.stocks.subscriptions,
        }

    # -- HTTP ----------------------------------------------------------------------------

    def _request_id(self) -> str:
        return f"loopback-{next(self._ids)}"

    def _error(self, status: int, message: str, key: str = "error") -> PolygonError:
        label = {404: "NOT_FOUND"}.get(status, "ERROR")
        return PolygonError(
            status, {"status": label, "request_id": self._request_id(), key: message}
        )

    def _take_fault(self, path: str) -> int | None:
        for fault in self._faults:
            status, remaining, prefix = fault
            if remaining > 0 and (prefix is None or path.startswith(prefix)):
                fault[1] -= 1
                return status
        return None

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get("/stocks", self.stocks.handle)
        app.router.add_get(
            "/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}", self._aggs
        )
        app.router.add_get("/v2/aggs/ticker/{ticker}/prev", self._previous_close)
        app.router.add_get("/v3/reference/tickers/{ticker}", self._ticker_details)
        app.router.add_get("/v2/last/trade/{ticker}", self._last_trade)
        app.router.add_get("/v2/last/nbbo/{ticker}", self._last_quote)
        app.router.add_get("/_admin/state", self._admin(lambda body: self.records()))
        app.router.add_post("/_admin/step", self._admin(self._admin_step))
        app.router.add_post("/_admin/time", self._admin(self._admin_time))
        app.router.add_post("/_admin/faults", self._admin(self._admin_fault))
        app.router.add_delete("/_admin/faults", self._admin(lambda body: self.clear_faults()))
        app.router.add_post("/_admin/drop", self._admin_drop)
        return app

    def _authorized(self, request: web.Request) -> bool | None:
        """``None`` when no key was sent at all."""
        header = request.headers.get("Authorization", "")
        key = request.query.get("apiKey") or header.removeprefix("Bearer ").strip()
        if not key:
            return None
        return hmac.compare_digest(key, self.config.api_key)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/stocks" or request.path.startswith("/_admin"):
            return await handler(request)
        query = urlencode([(k, v) for k, v in request.query.items() if k != "apiKey"])
        self.requests.append(request.path + (f"?{query}" if query else ""))
        try:
            status = self._take_fault(request.path)
            if status == 429:
                raise self._error(429, RATE_LIMITED)
            if status is not None:
                raise self._error(status, "Internal Server Error")
            authorized = self._authorized(request)
            if authorized is None:
                raise self._error(401, "API Key was not provided")
            if not authorized:
                raise self._error(401, "Unknown API Key")
            return await handler(request)
        except PolygonError as error:
            return web.json_response(error.body, status=error.status)
        except web.HTTPNotFound:
            return web.json_response(
                {"status": "NOT_FOUND", "request_id": self._request_id(), "message": "Not Found"},
                status=404,
            )

    async def _aggs(self, request: web.Request) -> web.StreamResponse:
        info, query = request.match_info, request.query
        ticker = info["ticker"].upper()
        try:
            multiplier = int(info["multiplier"])
            from_ms = parse_bound(info["from"], end=False)
            to_ms = parse_bound(info["to"], end=True)
            limit = parse_limit(query.get("limit"))
            windows, base = aggregate(
                self.library,
                ticker,
                multiplier,
                info["timespan"],
                from_ms,
                to_ms,
                self.clock.now_ns() // MS_NS,
            )
        except (AggregateRequestError, ValueError) as error:
            raise self._error(400, str(error)) from None
        sort = query.get("sort", "asc")
        if sort not in ("asc", "desc"):
            raise self._error(400, "sort must be asc or desc")
        if sort == "desc":
            windows.reverse()
        page = windows[:limit]
        adjusted = query.get("adjusted", "true").lower() != "false"
        body: dict[str, Any] = {
            "ticker": ticker,
            "queryCount": base,
            "resultsCount": len(page),
            "adjusted": adjusted,
        }
        if page:
            body["results"] = [w.as_json() for w in page]
        body.update(status="OK", request_id=self._request_id(), count=len(page))
        if len(windows) > limit:
            following = windows[limit].t_ms
            timespan = info["timespan"]
            if sort == "asc":
                from_ms = following
            else:
                to_ms = window_end(following, multiplier, timespan)
            params = urlencode({"adjusted": str(adjusted).lower(), "sort": sort, "limit": limit})
            body["next_url"] = (
                f"{self.url}/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/"
                f"{from_ms}/{to_ms}?{params}"
            )
        return web.json_response(body)

    async def _previous_close(self, request: web.Request) -> web.StreamResponse:
        ticker = request.match_info["ticker"].upper()
        day = previous_trading_day(self.now().date())
        tape = self.library.day(ticker, day)
        body: dict[str, Any] = {"ticker": ticker, "adjusted": True}
        if tape is None:
            body.update(queryCount=0, resultsCount=0)
        else:
            windows, base = aggregate(
                self.library, ticker, 1, "day", tape.bars[0].t_ms, tape.bars[-1].t_ms, 1 << 62
            )
            body.update(
                queryCount=base,
                resultsCount=1,
                results=[{"T": ticker, **windows[0].as_json()}],
            )
        body.update(status="OK", request_id=self._request_id(), count=body["resultsCount"])
        return web.json_response(body)

    async def _ticker_details(self, request: web.Request) -> web.StreamResponse:
        spec = self.library.specs.get(request.match_info["ticker"].upper())
        if spec is None:
            raise self._error(404, "Ticker not found.", key="message")
        results = {
            "ticker": spec.ticker,
            "name": spec.name,
            "market": "stocks",
            "locale": "us",
            "primary_exchange": spec.primary_exchange,
            "type": "CS",
            "active": True,
            "currency_name": "usd",
            "cik": spec.cik,
            "ticker_root": spec.ticker,
            "round_lot": 100,
        }
        return web.json_response(
            {"request_id": self._request_id(), "results": results, "status": "OK"}
        )

    def _last(self, request: web.Request) -> tuple[str, Any, Any]:
        ticker = request.match_info["ticker"].upper()
        found = self.feed.last_trade(ticker, self.clock.now_ns())
        if found is None:
            raise self._error(404, "Data not found.", key="message")
        return ticker, *found

    async def _last_trade(self, request: web.Request) -> web.StreamResponse:
        ticker, spec, trade = self._last(request)
        results = {
            "T": ticker,
            "i": trade.trade_id,
            "p": trade.price,
            "q": trade.sequence,
            "s": trade.size,
            "t": trade.t_ns,
            "x": spec.exchange_id,
            "y": trade.t_ns,
            "z": spec.tape,
        }
        return web.json_response(
            {"request_id": self._request_id(), "results": results, "status": "OK"}
        )

    async def _last_quote(self, request: web.Request) -> web.StreamResponse:
        ticker, spec, trade = self._last(request)
        results = {
            "T": ticker,
            "P": trade.ask,
            "S": trade.ask_size,
            "X": spec.exchange_id,
            "p": trade.bid,
            "s": trade.bid_size,
            "x": spec.exchange_id,
            "q": trade.sequence,
            "t": trade.t_ns,
            "y": trade.t_ns,
            "z": spec.tape,
        }
        return web.json_response(
            {"request_id": self._request_id(), "results": results, "status": "OK"}
        )

    # -- admin ---------------------------------------------------------------------------

    def _admin(self, action: Callable[[dict[str, Any]], Any]) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            body: dict[str, Any] = {}
            try:
                if request.can_read_body:
                    body = await request.json()
                result = action(body)
            except (KeyError, ValueError, TypeError) as error:
                return web.json_response({"error": str(error)}, status=400)
            return web.json_response({"ok": True} if result is None else result)

        return handle

    def _admin_step(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"now": self.step(float(body["seconds"])).isoformat()}

    def _admin_time(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"now": self.jump_to(datetime.fromisoformat(body["time"])).isoformat()}

    def _admin_fault(self, body: dict[str, Any]) -> None:
        self.inject_http_fault(
            int(body["status"]), int(body.get("count", 1)), path=body.get("path")
        )

    async def _admin_drop(self, request: web.Request) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else {}
        mode = body.get("mode", "abort")
        if mode == "abort":
            return web.json_response({"dropped": self.drop_streams()})
        if mode == "close":
            return web.json_response({"closed": await self.close_streams()})
        return web.json_response({"error": "mode must be abort or close"}, status=400)
