"""The admin API: the server's own records, the replay controls and the faults.

Tests (and crash tests that kill the node) compare the node against these records: every order
the server accepted (with how many times its client order id was submitted), every refused
submission, every fill, the balances. ``Admin`` is the Python API (call it on the server's event
loop; ``LoopbackExchangeThread.admin`` marshals calls there from any thread). The same calls are
served over HTTP, without auth and to loopback clients only: ``GET /_admin/<name>?arg=...`` for
the read-only ones, ``POST /_admin/<name>`` with a JSON object of keyword arguments for all.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from tradenode_ccxt.loopback.amounts import fmt
from tradenode_ccxt.loopback.appkey import EXCHANGE
from tradenode_ccxt.loopback.book import BUY, SELL
from tradenode_ccxt.loopback.capture import DepthDiff, MarketTrade
from tradenode_ccxt.loopback.errors import BinanceError
from tradenode_ccxt.loopback.faults import HttpFault

if TYPE_CHECKING:
    from tradenode_ccxt.loopback.server import LoopbackExchange

Number = Decimal | int | str
LevelsIn = Sequence[tuple[Number, Number]] | Sequence[list[Number]]


class Admin:
    def __init__(self, exchange: LoopbackExchange) -> None:
        self._ex = exchange

    def _symbol(self, symbol: str | None) -> str:
        if symbol is None:
            return next(iter(self._ex.engine.markets))
        self._ex.engine.market(symbol)
        return symbol

    # --- the records ---------------------------------------------------------------------------

    def orders(
        self, symbol: str | None = None, client_order_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Every accepted order (oldest first) with ``submissions`` and ``fills``."""
        engine = self._ex.engine
        markets = [engine.market(symbol)] if symbol else list(engine.markets.values())
        return [
            o.record(engine.submissions.get(o.client_order_id, 0))
            for m in markets
            for o in m.orders.values()
            if client_order_id is None or o.client_order_id == client_order_id
        ]

    def submissions(self, client_order_id: str) -> int:
        """How many ``POST /api/v3/order`` carried this client order id (refused ones too)."""
        return self._ex.engine.submissions.get(client_order_id, 0)

    def rejections(self) -> list[dict[str, Any]]:
        """Every refused order submission, with Binance's code and message."""
        return list(self._ex.engine.rejections)

    def trades(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """Every fill of our orders (``myTrades`` rows plus ``clientOrderId`` and ``side``)."""
        engine = self._ex.engine
        markets = [engine.market(symbol)] if symbol else list(engine.markets.values())
        return [f.record() for m in markets for f in m.fills]

    def klines_requests(self) -> list[dict[str, str]]:
        """The parameters of every ``GET /api/v3/klines`` served (refused ones too), oldest
        first."""
        return list(self._ex.klines.requests)

    def balances(self) -> dict[str, dict[str, str]]:
        return {
            r["asset"]: {"free": r["free"], "locked": r["locked"]}
            for r in self._ex.engine.account.rows()
        }

    def set_balances(self, balances: Mapping[str, Number]) -> None:
        """Set free balances (locked amounts stay); clients get ``outboundAccountPosition``."""
        for asset, amount in balances.items():
            self._ex.engine.account.set_free(asset, Decimal(str(amount)))
        self._ex.commit()

    def book(self, symbol: str | None = None, limit: int = 20) -> dict[str, Any]:
        """The shown book as ``GET /api/v3/depth`` would answer it."""
        book = self._ex.engine.market(self._symbol(symbol)).book
        return {
            "lastUpdateId": book.update_id,
            "bids": [[fmt(p), fmt(q)] for p, q in book.levels(BUY, limit)],
            "asks": [[fmt(p), fmt(q)] for p, q in book.levels(SELL, limit)],
        }

    def state(self) -> dict[str, Any]:
        """Everything at once: records, books' update ids, replay positions, armed faults."""
        ex = self._ex
        markets = {}
        for symbol, m in ex.engine.markets.items():
            replay = ex.replays.get(symbol)
            markets[symbol] = {
                "lastUpdateId": m.book.update_id,
                "replay": None
                if replay is None
                else {"diffs_applied": replay.diffs_applied, "done": replay.done},
            }
        return {
            "balances": self.balances(),
            "orders": self.orders(),
            "trades": self.trades(),
            "rejections": self.rejections(),
            "markets": markets,
            "faults": self.faults(),
        }

    # --- the market ----------------------------------------------------------------------------

    def step(self, n: int = 1, symbol: str | None = None) -> int:
        """Replay the next ``n`` recorded depth updates (and the trades before them)."""
        replay = self._ex.replays.get(self._symbol(symbol))
        if replay is None:
            raise ValueError(f"{self._symbol(symbol)} has a static book: nothing to step")
        return replay.step(n)

    def set_speed(self, speed: float | None) -> None:
        """Replay pace for every capture: recorded time x ``speed``; None is step mode."""
        for replay in self._ex.replays.values():
            replay.set_speed(speed)
        self._ex.speed = speed

    def apply_levels(
        self, symbol: str | None = None, bids: LevelsIn = (), asks: LevelsIn = ()
    ) -> None:
        """Change recorded levels (recorded prices, absolute quantities) as a diff would."""

        def levels(raw: LevelsIn) -> list[tuple[Decimal, Decimal]]:
            return [(Decimal(str(p)), Decimal(str(q))) for p, q in raw]

        diff = DepthDiff(0, 0, 0, levels(bids), levels(asks))
        self._ex.apply_event(self._symbol(symbol), diff)

    def market_trade(
        self, price: Number, qty: Number, buyer_is_maker: bool, symbol: str | None = None
    ) -> None:
        """A market trade (at a recorded price) as the recording would bring it."""
        trade = MarketTrade(0, 0, Decimal(str(price)), Decimal(str(qty)), buyer_is_maker)
        self._ex.apply_event(self._symbol(symbol), trade)

    # --- faults --------------------------------------------------------------------------------

    def fail_http(
        self,
        status: int = 429,
        count: int = 1,
        method: str | None = None,
        path: str | None = None,
        retry_after: int = 1,
        processed: bool = False,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status`` (429, 418 or 5xx)."""
        self._ex.faults.http.append(
            HttpFault("status", count, method, path, status, retry_after, processed=processed)
        )

    def delay_http(
        self,
        seconds: float,
        count: int = 1,
        method: str | None = None,
        path: str | None = None,
        processed: bool = True,
    ) -> None:
        """Hold the next ``count`` matching replies ``seconds`` (after processing by default)."""
        self._ex.faults.http.append(
            HttpFault("delay", count, method, path, seconds=seconds, processed=processed)
        )

    def drop_http(
        self, count: int = 1, method: str | None = "POST", path: str | None = "/api/v3/order"
    ) -> None:
        """Process the next ``count`` matching requests, then close the connection unanswered."""
        self._ex.faults.http.append(HttpFault("drop", count, method, path, processed=True))

    def duplicate_fills(self, count: int = 1) -> None:
        """Send each of the next ``count`` fill events (executionReport TRADE) twice."""
        self._ex.faults.duplicate_fills += count

    def swap_user_events(self, count: int = 1) -> None:
        """Send the next ``count`` pairs of order events in reverse order."""
        self._ex.faults.swap_user_events += count

    def stall_market(self) -> None:
        """Hold every market-stream message until ``resume_market``."""
        self._ex.market_hub.stall()

    def resume_market(self) -> None:
        self._ex.market_hub.resume()

    def gap(self, symbol: str | None = None, ids: int = 1) -> None:
        """Leave ``ids`` update ids out of the next depth diff (a lost message)."""
        self._ex.engine.market(self._symbol(symbol)).book.skip_update_ids(ids)

    def clear_faults(self) -> None:
        """Disarm every fault; held market messages and a held order event go out."""
        self._ex.faults.clear()
        self._ex.market_hub.resume()
        self._ex.user_hub.release_held()

    def faults(self) -> dict[str, Any]:
        return {**self._ex.faults.describe(), "market_stalled": self._ex.market_hub.stalled}


_READ_ONLY = (
    "orders",
    "submissions",
    "rejections",
    "trades",
    "klines_requests",
    "balances",
    "book",
    "state",
    "faults",
)
_CALLS = (
    *_READ_ONLY,
    "set_balances", "step", "set_speed", "apply_levels", "market_trade", "fail_http",
    "delay_http", "drop_http", "duplicate_fills", "swap_user_events", "stall_market",
    "resume_market", "gap", "clear_faults",
)  # fmt: skip


def _query_value(text: str) -> Any:
    return int(text) if text.lstrip("-").isdigit() else text


async def handle(request: web.Request) -> web.Response:
    """``/_admin/<name>``: one ``Admin`` call; loopback clients only."""
    remote = request.remote or ""
    try:
        loopback = ipaddress.ip_address(remote).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return web.json_response(
            {"error": "the admin API answers loopback clients only"}, status=403
        )
    name = request.match_info["name"]
    if name not in _CALLS or (request.method == "GET" and name not in _READ_ONLY):
        return web.json_response(
            {"error": f"no admin call {name!r} for {request.method}"}, status=404
        )
    if request.method == "GET":
        kwargs = {k: _query_value(v) for k, v in request.query.items()}
    else:
        kwargs = await request.json() if request.can_read_body else {}
    call: Callable[..., Any] = getattr(request.app[EXCHANGE].admin, name)
    try:
        result = call(**kwargs)
    except (TypeError, ValueError, KeyError, BinanceError) as exc:
        return web.json_response({"error": str(exc)}, status=400)
    return web.Response(text=json.dumps({"result": result}), content_type="application/json")
