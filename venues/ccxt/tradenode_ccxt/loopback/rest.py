"""The REST endpoints: Binance spot's ``/api/v3`` plus what ccxt asks of ``/sapi`` and the futures
``exchangeInfo`` (answered empty, so a ccxt client with default options can load its markets).

Parameters come from the query string (GET/DELETE) or the form body (POST); signed endpoints
check key, signature and timestamp first (``signing.Credentials.verify_rest``).
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from tradenode_ccxt.loopback.amounts import fmt, parse_param
from tradenode_ccxt.loopback.book import BUY, SELL
from tradenode_ccxt.loopback.clock import now_ms
from tradenode_ccxt.loopback.errors import BinanceError, int_param, mandatory
from tradenode_ccxt.loopback.matching import OrderRequest
from tradenode_ccxt.loopback.spec import ORDER_TYPES

if TYPE_CHECKING:
    from tradenode_ccxt.loopback.server import LoopbackExchange

Params = Mapping[str, str]
_CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
_ID_CHARS = string.ascii_letters + string.digits


def random_client_id() -> str:
    """Binance's own 22-character client order id, used when the client sends none."""
    return "".join(secrets.choice(_ID_CHARS) for _ in range(22))


def _required(params: Params, name: str) -> str:
    value = params.get(name)
    if not value:
        raise mandatory(name)
    return value


def _not_required(params: Params, name: str) -> None:
    if params.get(name):
        raise BinanceError(400, -1106, f"Parameter '{name}' sent when not required.")


def _limit(params: Params, default: int, most: int) -> int:
    limit = int_param(params, "limit")
    if limit is None:
        return default
    if not 1 <= limit <= most:
        raise BinanceError(
            400, -1100, f"Illegal characters found in parameter 'limit'; legal range is '1-{most}'."
        )
    return limit


@dataclass(frozen=True)
class Endpoint:
    handler: Callable[[Params], Any]
    signed: bool


class RestApi:
    def __init__(self, exchange: LoopbackExchange) -> None:
        self.ex = exchange
        self.engine = exchange.engine
        self.routes: dict[tuple[str, str], Endpoint] = {
            ("GET", "/api/v3/ping"): Endpoint(lambda p: {}, False),
            ("GET", "/api/v3/time"): Endpoint(lambda p: {"serverTime": now_ms()}, False),
            ("GET", "/api/v3/exchangeInfo"): Endpoint(self.exchange_info, False),
            ("GET", "/api/v3/depth"): Endpoint(self.depth, False),
            ("GET", "/api/v3/ticker/bookTicker"): Endpoint(self.book_ticker, False),
            ("GET", "/api/v3/klines"): Endpoint(self.ex.klines.serve, False),
            ("GET", "/fapi/v1/exchangeInfo"): Endpoint(self.no_markets, False),
            ("GET", "/dapi/v1/exchangeInfo"): Endpoint(self.no_markets, False),
            ("GET", "/api/v3/account"): Endpoint(self.account, True),
            ("POST", "/api/v3/order"): Endpoint(self.new_order, True),
            ("GET", "/api/v3/order"): Endpoint(self.get_order, True),
            ("DELETE", "/api/v3/order"): Endpoint(self.cancel_order, True),
            ("GET", "/api/v3/openOrders"): Endpoint(self.open_orders, True),
            ("DELETE", "/api/v3/openOrders"): Endpoint(self.cancel_open_orders, True),
            ("GET", "/api/v3/allOrders"): Endpoint(self.all_orders, True),
            ("GET", "/api/v3/myTrades"): Endpoint(self.my_trades, True),
            ("GET", "/sapi/v1/asset/tradeFee"): Endpoint(self.trade_fee, True),
            ("GET", "/sapi/v1/capital/config/getall"): Endpoint(self.coins, True),
            ("GET", "/sapi/v1/margin/allPairs"): Endpoint(lambda p: [], True),
            ("GET", "/sapi/v1/margin/isolated/allPairs"): Endpoint(lambda p: [], True),
        }

    async def handle(self, request: web.Request) -> web.Response:
        endpoint = self.routes.get((request.method, request.path))
        if endpoint is None:
            return web.json_response({"code": -1000, "msg": "Unknown endpoint."}, status=404)
        query = request.rel_url.raw_query_string
        body = await request.text() if request.can_read_body else ""
        params = dict(parse_qsl(query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        try:
            if endpoint.signed:
                self.ex.credentials.verify_rest(
                    request.headers.get("X-MBX-APIKEY"), query, body, params, now_ms()
                )
            result = endpoint.handler(params)
        except BinanceError as exc:
            return web.json_response(exc.body(), status=exc.status)
        finally:
            self.ex.commit()
        return web.json_response(result)

    # --- public --------------------------------------------------------------------------------

    def exchange_info(self, params: Params) -> dict[str, Any]:
        specs = [m.spec for m in self.engine.markets.values()]
        wanted = params.get("symbol")
        if wanted:
            self.engine.market(wanted)
            specs = [s for s in specs if s.symbol == wanted]
        return {
            "timezone": "UTC",
            "serverTime": now_ms(),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 6000,
                },
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            ],
            "exchangeFilters": [],
            "symbols": [s.exchange_info() for s in specs],
        }

    def no_markets(self, params: Params) -> dict[str, Any]:
        return {"timezone": "UTC", "serverTime": now_ms(), "rateLimits": [], "symbols": []}

    def depth(self, params: Params) -> dict[str, Any]:
        book = self.engine.market(_required(params, "symbol")).book
        limit = _limit(params, 100, 5000)
        return {
            "lastUpdateId": book.update_id,
            "bids": [[fmt(p), fmt(q)] for p, q in book.levels(BUY, limit)],
            "asks": [[fmt(p), fmt(q)] for p, q in book.levels(SELL, limit)],
        }

    def book_ticker(self, params: Params) -> dict[str, Any] | list[dict[str, Any]]:
        def ticker(symbol: str) -> dict[str, Any]:
            book = self.engine.market(symbol).book
            bid, ask = book.best(BUY), book.best(SELL)
            return {
                "symbol": symbol,
                "bidPrice": fmt(bid[0]) if bid else "0.00000000",
                "bidQty": fmt(bid[1]) if bid else "0.00000000",
                "askPrice": fmt(ask[0]) if ask else "0.00000000",
                "askQty": fmt(ask[1]) if ask else "0.00000000",
            }

        symbol = params.get("symbol")
        return ticker(symbol) if symbol else [ticker(s) for s in self.engine.markets]

    # --- account -------------------------------------------------------------------------------

    def account(self, params: Params) -> dict[str, Any]:
        maker_bps = int(self.engine.maker_rate * 10000)
        taker_bps = int(self.engine.taker_rate * 10000)
        rows = self.engine.account.rows()
        if params.get("omitZeroBalances") == "true":
            rows = [r for r in rows if Decimal(r["free"]) or Decimal(r["locked"])]
        return {
            "makerCommission": maker_bps,
            "takerCommission": taker_bps,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": fmt(self.engine.maker_rate),
                "taker": fmt(self.engine.taker_rate),
                "buyer": fmt(Decimal(0)),
                "seller": fmt(Decimal(0)),
            },
            "canTrade": True,
            "canWithdraw": False,
            "canDeposit": False,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": now_ms(),
            "accountType": "SPOT",
            "balances": rows,
            "permissions": ["SPOT"],
            "uid": 1,
        }

    def trade_fee(self, params: Params) -> list[dict[str, str]]:
        wanted = params.get("symbol")
        symbols = [wanted] if wanted else list(self.engine.markets)
        for s in symbols:
            self.engine.market(s)
        return [
            {
                "symbol": s,
                "makerCommission": str(self.engine.maker_rate.normalize()),
                "takerCommission": str(self.engine.taker_rate.normalize()),
            }
            for s in symbols
        ]

    def coins(self, params: Params) -> list[dict[str, Any]]:
        account = self.engine.account
        return [
            {
                "coin": asset,
                "name": asset,
                "free": fmt(account.free[asset]),
                "locked": fmt(account.locked.get(asset, Decimal(0))),
                "trading": True,
                "isLegalMoney": False,
                "depositAllEnable": False,
                "withdrawAllEnable": False,
                "networkList": [],
            }
            for asset in sorted(account.free)
        ]

    # --- orders --------------------------------------------------------------------------------

    def new_order(self, params: Params) -> dict[str, Any]:
        client_id = params.get("newClientOrderId") or random_client_id()
        try:
            req, resp_type = self._order_request(params, client_id)
        except BinanceError as exc:  # malformed: refused before matching, recorded all the same
            self.engine.submitted(client_id)
            get = params.get
            self.engine.refused(get("symbol", ""), client_id, get("side", ""), get("type", ""), exc)
            raise
        order, fills = self.engine.place(req)
        return order.placed(resp_type, fills)

    def _order_request(self, params: Params, client_id: str) -> tuple[OrderRequest, str]:
        """The order parameters checked as Binance checks them, and the answer type asked for."""
        symbol = _required(params, "symbol")
        self.engine.market(symbol)
        side = _required(params, "side")
        if side not in (BUY, SELL):
            raise BinanceError(
                400,
                -1100,
                "Illegal characters found in parameter 'side'; legal range is 'BUY, SELL'.",
            )
        type_ = _required(params, "type")
        if type_ not in ORDER_TYPES:
            raise BinanceError(400, -1116, "Invalid orderType.")
        for unsupported in ("stopPrice", "trailingDelta", "icebergQty", "strategyId"):
            _not_required(params, unsupported)
        stp = params.get("selfTradePreventionMode")
        if stp and stp != "EXPIRE_MAKER":
            raise BinanceError(
                400,
                -1100,
                "Illegal characters found in parameter 'selfTradePreventionMode'; "
                "legal range is 'EXPIRE_MAKER'.",
            )
        if not _CLIENT_ID.match(client_id):
            raise BinanceError(
                400,
                -1100,
                "Illegal characters found in parameter 'newClientOrderId'; "
                "legal range is '^[\\.A-Z\\:/a-z0-9_-]{1,36}$'.",
            )
        resp_type = params.get("newOrderRespType") or "FULL"
        if resp_type not in ("ACK", "RESULT", "FULL"):
            raise BinanceError(400, -1100, "Invalid newOrderRespType.")
        qty_text, quote_text, price_text = (
            params.get("quantity"),
            params.get("quoteOrderQty"),
            params.get("price"),
        )
        if type_ == "MARKET":
            _not_required(params, "timeInForce")
            _not_required(params, "price")
            if not qty_text and not quote_text:
                raise BinanceError(
                    400,
                    -1102,
                    "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!",
                )
            if qty_text and quote_text:
                _not_required(params, "quoteOrderQty")
            tif = "GTC"
        else:
            _not_required(params, "quoteOrderQty")
            qty_text = _required(params, "quantity")
            price_text = _required(params, "price")
            if type_ == "LIMIT":
                tif = _required(params, "timeInForce")
                if tif not in ("GTC", "IOC", "FOK"):
                    raise BinanceError(400, -1115, "Invalid timeInForce.")
            else:
                _not_required(params, "timeInForce")
                tif = "GTC"
        req = OrderRequest(
            symbol=symbol,
            side=side,
            type=type_,
            client_order_id=client_id,
            time_in_force=tif,
            qty=parse_param("quantity", qty_text) if qty_text else None,
            quote_qty=parse_param("quoteOrderQty", quote_text) if quote_text else None,
            price=parse_param("price", price_text) if price_text else None,
        )
        return req, resp_type

    def _which(self, params: Params) -> tuple[str, int | None, str | None]:
        symbol = _required(params, "symbol")
        order_id = int_param(params, "orderId")
        client_id = params.get("origClientOrderId") or None
        if order_id is None and client_id is None:
            raise BinanceError(
                400, -1102,
                "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
            )  # fmt: skip
        return symbol, order_id, client_id

    def get_order(self, params: Params) -> dict[str, Any]:
        return self.engine.find(*self._which(params)).rest()

    def cancel_order(self, params: Params) -> dict[str, Any]:
        symbol, order_id, client_id = self._which(params)
        cancel_id = params.get("newClientOrderId") or random_client_id()
        order = self.engine.cancel(symbol, order_id, client_id, cancel_id)
        return order.canceled(cancel_id, now_ms())

    def open_orders(self, params: Params) -> list[dict[str, Any]]:
        return [o.rest() for o in self.engine.open_orders(params.get("symbol") or None)]

    def cancel_open_orders(self, params: Params) -> list[dict[str, Any]]:
        now = now_ms()
        ids: list[str] = []

        def cancel_id() -> str:
            ids.append(random_client_id())
            return ids[-1]

        orders = self.engine.cancel_all(_required(params, "symbol"), cancel_id)
        return [o.canceled(c, now) for o, c in zip(orders, ids, strict=True)]

    def all_orders(self, params: Params) -> list[dict[str, Any]]:
        orders = self.engine.all_orders(
            _required(params, "symbol"),
            from_id=int_param(params, "orderId"),
            start=int_param(params, "startTime"),
            end=int_param(params, "endTime"),
            limit=_limit(params, 500, 1000),
        )
        return [o.rest() for o in orders]

    def my_trades(self, params: Params) -> list[dict[str, Any]]:
        fills = self.engine.my_trades(
            _required(params, "symbol"),
            order_id=int_param(params, "orderId"),
            from_id=int_param(params, "fromId"),
            start=int_param(params, "startTime"),
            end=int_param(params, "endTime"),
            limit=_limit(params, 500, 1000),
        )
        return [f.my_trade() for f in fills]
