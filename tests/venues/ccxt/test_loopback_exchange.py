"""The loopback Binance-spot exchange, exercised only through the real ccxt client (REST and
ccxt.pro websockets), a raw websocket where the exact event sequence matters, and the server's
own admin records.

Books are either a static book chosen here (so every expected number is computed in the test)
or the recorded BTCUSDT capture, rebuilt independently in this file from the raw gzip lines.
Every await is bounded; a test that waits on something that never comes fails, it never hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import hmac
import json
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import ccxt
import pytest
from tradenode_ccxt.loopback import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    DEFAULT_CAPTURE,
    LoopbackExchange,
    LoopbackExchangeThread,
    MarketSetup,
    PriceTransform,
    StaticBook,
    binance_client,
)

D = Decimal
T = TypeVar("T")
SYMBOL = "BTC/USDT"
BIDS = [("60000", "1"), ("59990", "2"), ("59980", "5")]
ASKS = [("60010", "0.5"), ("60020", "1"), ("60030", "2")]
STATIC = MarketSetup(feed=StaticBook(bids=BIDS, asks=ASKS))


def run(coro: Awaitable[T], timeout: float = 60) -> T:
    """Run one test body, bounded as a whole."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


async def until(check: Callable[[], T], timeout: float = 5) -> T:
    """Poll until ``check()`` is truthy; fail (not hang) after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)
    return value


@contextlib.asynccontextmanager
async def session(
    markets: tuple[MarketSetup, ...] = (STATIC,), **kwargs: Any
) -> AsyncIterator[tuple[LoopbackExchange, Any]]:
    """A started exchange (step mode unless told) and a ccxt.pro client with markets loaded."""
    kwargs.setdefault("speed", None)
    async with LoopbackExchange(markets, **kwargs) as ex:
        client = binance_client(ex.url, timeout_ms=5000)
        try:
            await client.load_markets()
            yield ex, client
        finally:
            await client.close()


async def watch_loop(watch: Callable[[], Awaitable[Any]]) -> None:
    while True:
        await watch()


@contextlib.asynccontextmanager
async def watching(*watches: Callable[[], Awaitable[Any]]) -> AsyncIterator[None]:
    """Keep ``watch_*`` calls looping in the background meanwhile; re-raise what they raised.

    ccxt.pro resolves a watch only for an event that arrives while it waits, so tests read the
    client's caches (``client.orders``, ``client.myTrades``), which every event updates.
    """
    tasks = [asyncio.ensure_future(watch_loop(w)) for w in watches]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if not isinstance(result, asyncio.CancelledError):
                raise result


def balance(ex: LoopbackExchange, asset: str) -> tuple[Decimal, Decimal]:
    row = ex.admin.balances()[asset]
    return D(row["free"]), D(row["locked"])


# --- markets, book, balances --------------------------------------------------------------------


def test_load_markets_parses_binance_filters_and_fees() -> None:
    async def body() -> None:
        async with session(maker_fee_bps=2, taker_fee_bps=7) as (_, client):
            market = client.market(SYMBOL)
            assert market["spot"] and market["active"] and market["id"] == "BTCUSDT"
            assert market["precision"]["price"] == 0.01
            assert market["precision"]["amount"] == 0.00001
            assert market["limits"]["amount"]["min"] == 0.00001
            assert market["limits"]["cost"]["min"] == 5
            fees = await client.fetch_trading_fees()
            assert fees[SYMBOL]["maker"] == 0.0002 and fees[SYMBOL]["taker"] == 0.0007

    run(body())


def test_default_ccxt_options_also_load_markets() -> None:
    """Without the loopback options ccxt also asks sapi/fapi/dapi; the server answers them."""

    async def body() -> None:
        async with LoopbackExchange((STATIC,), speed=None) as ex:
            client = binance_client(
                ex.url,
                options={
                    "fetchCurrencies": True,
                    "fetchMargins": True,
                    "fetchMarkets": {"types": ["spot", "linear", "inverse"]},
                },
            )
            try:
                markets = await client.load_markets()
                assert list(markets) == [SYMBOL]
                assert set(client.currencies) >= {"BTC", "USDT"}
            finally:
                await client.close()

    run(body())


def test_order_book_and_balance() -> None:
    async def body() -> None:
        async with session() as (ex, client):
            book = await client.fetch_order_book(SYMBOL, 5)
            assert book["bids"] == [[float(p), float(q)] for p, q in BIDS]
            assert book["asks"] == [[float(p), float(q)] for p, q in ASKS]
            assert book["nonce"] == ex.admin.book()["lastUpdateId"]
            bal = await client.fetch_balance()
            assert bal["USDT"] == {"free": 100000.0, "used": 0.0, "total": 100000.0}
            assert bal["BTC"]["free"] == 2.0

    run(body())


def test_price_transform_shows_two_different_books() -> None:
    async def body() -> None:
        shifted = MarketSetup(feed=STATIC.feed, transform=PriceTransform(D(1), D(150)))
        async with session((STATIC,)) as (_, a), session((shifted,)) as (_, b):
            top_a = (await a.fetch_order_book(SYMBOL, 1))["asks"][0][0]
            top_b = (await b.fetch_order_book(SYMBOL, 1))["asks"][0][0]
            assert top_b - top_a == 150

    run(body())


def test_raw_market_streams_and_tickers() -> None:
    """Streams named in the URL path, Binance's raw payloads, and the REST ticker and time."""

    async def body() -> None:
        async with session() as (ex, client), aiohttp.ClientSession() as http:
            url = ex.url.replace("http", "ws") + "/stream/ws/btcusdt@trade/btcusdt@bookTicker"
            async with http.ws_connect(url) as ws:
                await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 7})
                reply = await ws.receive_json(timeout=5)
                assert reply == {"result": ["btcusdt@bookTicker", "btcusdt@trade"], "id": 7}
                ex.admin.market_trade("60001", "0.2", buyer_is_maker=False)
                trade = await ws.receive_json(timeout=5)
                assert (trade["e"], trade["p"], trade["q"], trade["m"]) == (
                    "trade",
                    "60001.00000000",
                    "0.20000000",
                    False,
                )
                ex.admin.apply_levels(bids=[("60005", "0.3")])
                ticker = await ws.receive_json(timeout=5)
                assert (ticker["b"], ticker["B"], ticker["a"]) == (
                    "60005.00000000",
                    "0.30000000",
                    "60010.00000000",
                )
                assert ticker["u"] == ex.admin.book()["lastUpdateId"]
            bid_ask = await client.fetch_bids_asks([SYMBOL])
            assert (bid_ask[SYMBOL]["bid"], bid_ask[SYMBOL]["ask"]) == (60005.0, 60010.0)
            assert abs(await client.fetch_time() - time.time() * 1000) < 60_000

    run(body())


# --- orders -------------------------------------------------------------------------------------


def test_limit_order_rests_locks_and_is_found_and_canceled_by_client_id() -> None:
    async def body() -> None:
        async with session() as (ex, client):
            order = await client.create_order(
                SYMBOL, "limit", "buy", 0.1, 59000, {"clientOrderId": "rest-1"}
            )
            assert order["status"] == "open" and order["clientOrderId"] == "rest-1"
            assert balance(ex, "USDT") == (D("94100"), D("5900"))
            found = await client.fetch_order("", SYMBOL, {"origClientOrderId": "rest-1"})
            assert found["id"] == order["id"] and found["remaining"] == 0.1
            assert [o["id"] for o in await client.fetch_open_orders(SYMBOL)] == [order["id"]]
            book = await client.fetch_order_book(SYMBOL, 10)
            assert [59000.0, 0.1] in book["bids"]  # our own order is shown
            canceled = await client.cancel_order("", SYMBOL, {"origClientOrderId": "rest-1"})
            assert canceled["status"] == "canceled"
            assert balance(ex, "USDT") == (D("100000"), D("0"))
            again = await client.fetch_order(order["id"], SYMBOL)
            assert again["status"] == "canceled"
            with pytest.raises(ccxt.OrderNotFound):
                await client.cancel_order(order["id"], SYMBOL)
            assert await client.fetch_open_orders(SYMBOL) == []
            for price in (58000, 58100):
                await client.create_order(SYMBOL, "limit", "buy", 0.1, price)
            canceled_all = await client.cancel_all_orders(SYMBOL)
            assert sorted(o["price"] for o in canceled_all) == [58000.0, 58100.0]
            history = await client.fetch_orders(SYMBOL)
            assert [o["status"] for o in history] == ["canceled"] * 3
            [record] = ex.admin.orders(client_order_id="rest-1")
            assert record["status"] == "CANCELED" and record["submissions"] == 1

    run(body())


def test_market_orders_fill_with_binance_fees() -> None:
    async def body() -> None:
        async with session() as (ex, client):
            buy = await client.create_order(
                SYMBOL, "market", "buy", 0.7, None, {"clientOrderId": "mkt-buy"}
            )
            cost = D("0.5") * 60010 + D("0.2") * 60020
            assert buy["status"] == "closed" and buy["filled"] == 0.7
            assert D(str(buy["cost"])) == cost
            assert [(t["price"], t["amount"]) for t in buy["trades"]] == [
                (60010.0, 0.5),
                (60020.0, 0.2),
            ]
            assert {t["fee"]["currency"] for t in buy["trades"]} == {"BTC"}  # fee in what we got
            assert balance(ex, "BTC") == (D("2.7") - D("0.0007"), D(0))
            assert balance(ex, "USDT") == (D(100000) - cost, D(0))
            # the taker consumed the shown liquidity
            book = await client.fetch_order_book(SYMBOL, 2)
            assert book["asks"][0] == [60020.0, 0.8]

            sell = await client.create_order(SYMBOL, "market", "sell", 0.3)
            proceeds = D("0.3") * 60000
            assert sell["trades"][0]["fee"] == {"currency": "USDT", "cost": float(proceeds / 1000)}
            assert balance(ex, "USDT")[0] == D(100000) - cost + proceeds * D("0.999")

            trades = await client.fetch_my_trades(SYMBOL)
            assert [t["takerOrMaker"] for t in trades] == ["taker"] * 3
            assert [t["id"] for t in trades] == ["1", "2", "3"]
            assert [
                t["id"] for t in await client.fetch_my_trades(SYMBOL, params={"fromId": 3})
            ] == ["3"]
            assert [r["id"] for r in ex.admin.trades()] == [1, 2, 3]

    run(body())


def test_ioc_fok_post_only_and_quote_quantity() -> None:
    async def body() -> None:
        async with session(balances={"USDT": "1000000"}) as (ex, client):
            ioc = await client.create_order(
                SYMBOL, "limit", "buy", 2, 60020, {"timeInForce": "IOC"}
            )
            assert (ioc["status"], ioc["filled"]) == ("expired", 1.5)
            fok = await client.create_order(
                SYMBOL, "limit", "buy", 5, 60030, {"timeInForce": "FOK"}
            )
            assert (fok["status"], fok["filled"]) == ("expired", 0.0)
            with pytest.raises(ccxt.OrderImmediatelyFillable):
                await client.create_order(SYMBOL, "limit", "buy", 0.1, 60030, {"postOnly": True})
            maker = await client.create_order(
                SYMBOL, "limit", "buy", 0.1, 60005, {"postOnly": True}
            )
            assert maker["status"] == "open" and maker["postOnly"]
            by_cost = await client.create_market_buy_order_with_cost(SYMBOL, 100)
            # 100 USDT at the best ask left (60030 after the IOC): whole 0.00001 steps only
            assert by_cost["filled"] == 0.00166 and by_cost["cost"] == pytest.approx(99.6498)
            assert ex.admin.orders()[-1]["origQuoteOrderQty"] == "100.00000000"

    run(body())


def test_self_trade_prevention_expires_our_resting_order() -> None:
    async def body() -> None:
        async with session() as (ex, client):
            met = await client.create_order(SYMBOL, "limit", "sell", 0.1, 60005)
            beyond = await client.create_order(SYMBOL, "limit", "sell", 0.1, 60025)
            taker = await client.create_order(SYMBOL, "limit", "buy", 0.1, 60030)
            assert taker["trades"][0]["price"] == 60010.0  # not our own 60005
            assert (await client.fetch_order(met["id"], SYMBOL))["status"] == "expired"
            assert (await client.fetch_order(beyond["id"], SYMBOL))["status"] == "open"
            assert ex.admin.orders()[0]["status"] == "EXPIRED_IN_MATCH"
            assert balance(ex, "BTC") == (D("2.1") - D("0.0001") - D("0.1"), D("0.1"))

    run(body())


def test_refusals_map_to_ccxt_exceptions_and_are_recorded() -> None:
    def raw(**params: str) -> dict[str, str]:
        return {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", **params}

    async def body() -> None:
        async with session() as (ex, client):
            with pytest.raises(ccxt.InsufficientFunds):
                await client.create_order(SYMBOL, "limit", "buy", 10, 59000)
            with pytest.raises(ccxt.InvalidOrder, match="Filter failure: LOT_SIZE"):
                await client.private_post_order(raw(quantity="0.000015", price="59000"))
            with pytest.raises(ccxt.InvalidOrder, match="Filter failure: PRICE_FILTER"):
                await client.private_post_order(raw(quantity="0.1", price="59000.005"))
            with pytest.raises(ccxt.BadRequest, match="Filter failure: NOTIONAL"):
                await client.private_post_order(raw(quantity="0.00001", price="59000"))
            with pytest.raises(ccxt.BadRequest, match="Invalid timeInForce"):
                await client.private_post_order(
                    raw(quantity="0.1", price="59000", timeInForce="GTX", newClientOrderId="gtx")
                )
            with pytest.raises(ccxt.BadSymbol):
                await client.private_get_order({"symbol": "XXXUSDT", "orderId": 1})
            with pytest.raises(ccxt.OrderNotFound):
                await client.fetch_order("999", SYMBOL)
            with pytest.raises(ccxt.OrderNotFound):
                await client.cancel_order("999", SYMBOL)
            await client.create_order(SYMBOL, "limit", "buy", 0.1, 59000, {"clientOrderId": "dup"})
            with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
                await client.create_order(
                    SYMBOL, "limit", "buy", 0.1, 59000, {"clientOrderId": "dup"}
                )
            assert ex.admin.submissions("dup") == 2
            codes = [(r["code"], r["msg"]) for r in ex.admin.rejections()]
            assert codes == [
                (-2010, "Account has insufficient balance for requested action."),
                (-1013, "Filter failure: LOT_SIZE"),
                (-1013, "Filter failure: PRICE_FILTER"),
                (-1013, "Filter failure: NOTIONAL"),
                (-1115, "Invalid timeInForce."),
                (-2010, "Duplicate order sent."),
            ]
            assert ex.admin.submissions("gtx") == 1
            assert len(ex.admin.orders()) == 1

    run(body())


def test_signature_key_and_timestamp_are_checked() -> None:
    async def body() -> None:
        async with LoopbackExchange((STATIC,), speed=None) as ex:
            for key, secret in (("wrong-key", DEFAULT_API_SECRET), (DEFAULT_API_KEY, "wrong")):
                client = binance_client(ex.url, key, secret)
                try:
                    await client.load_markets()
                    with pytest.raises(ccxt.AuthenticationError):
                        await client.fetch_balance()
                finally:
                    await client.close()
            client = binance_client(ex.url)
            try:
                await client.load_markets()
                client.options["timeDifference"] = 120_000  # our clock two minutes behind
                with pytest.raises(ccxt.InvalidNonce, match="-1021"):
                    await client.fetch_balance()
            finally:
                await client.close()
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"{ex.url}/api/v3/account?timestamp=1") as resp,
            ):
                assert resp.status == 401
                assert await resp.json() == {"code": -2014, "msg": "API-key format invalid."}

    run(body())


# --- recorded market ----------------------------------------------------------------------------


def reference_book(last_id: int) -> tuple[dict[D, D], dict[D, D], list[int]]:
    """The capture's book up to the diff ending at ``last_id``, rebuilt from the raw lines,
    and the ids of the trades recorded after the snapshot until then."""
    bids: dict[D, D] = {}
    asks: dict[D, D] = {}
    trades: list[int] = []
    snapshot: int | None = None
    held: list[dict[str, Any]] = []
    with gzip.open(DEFAULT_CAPTURE[0], "rt") as f:
        for line in f:
            msg = json.loads(line.split(" ", 1)[1])
            if msg.get("stream", "").endswith("@trade"):
                if snapshot is not None:
                    trades.append(msg["data"]["t"])
                continue
            if "lastUpdateId" in msg:
                snapshot = msg["lastUpdateId"]
                bids = {D(p): D(q) for p, q in msg["bids"]}
                asks = {D(p): D(q) for p, q in msg["asks"]}
                diffs = held
            elif msg["stream"].endswith("@depth@100ms"):
                if snapshot is None:
                    held.append(msg["data"])
                    continue
                diffs = [msg["data"]]
            else:
                continue
            for diff in diffs:
                if diff["u"] <= snapshot:
                    continue
                for levels, changes in ((bids, diff["b"]), (asks, diff["a"])):
                    for p, q in changes:
                        if D(q):
                            levels[D(p)] = D(q)
                        else:
                            levels.pop(D(p), None)
                if diff["u"] == last_id:
                    return bids, asks, trades
    raise AssertionError(f"no diff ends at {last_id}")


def top(levels: dict[D, D], n: int, reverse: bool) -> list[list[float]]:
    return [[float(p), float(levels[p])] for p in sorted(levels, reverse=reverse)[:n]]


def test_watch_order_book_and_trades_follow_the_replayed_capture() -> None:
    async def body() -> None:
        async with (
            session((MarketSetup(),)) as (ex, client),
            watching(lambda: client.watch_trades(SYMBOL)),
        ):
            book = await client.watch_order_book(SYMBOL)
            await until(lambda: ex.market_hub.subscribed("btcusdt@trade"))
            ex.admin.step(25)
            target = ex.admin.book()["lastUpdateId"]
            while book["nonce"] != target:
                book = await client.watch_order_book(SYMBOL)
            bids, asks, trades = reference_book(target)
            assert book["bids"][:10] == top(bids, 10, True)
            assert book["asks"][:10] == top(asks, 10, False)
            served = ex.admin.book(limit=10)
            assert [[float(p), float(q)] for p, q in served["asks"]] == top(asks, 10, False)
            seen = await until(
                lambda: len(client.trades.get(SYMBOL, [])) == len(trades) and client.trades[SYMBOL]
            )
            assert [int(t["id"]) for t in seen] == trades

    run(body())


def test_real_time_replay_moves_the_book() -> None:
    async def body() -> None:
        async with session((MarketSetup(),), speed=20.0) as (ex, client):
            first = (await client.watch_order_book(SYMBOL))["nonce"]
            book = await client.watch_order_book(SYMBOL)
            while book["nonce"] == first:
                book = await client.watch_order_book(SYMBOL)
            assert ex.admin.state()["markets"]["BTCUSDT"]["replay"]["diffs_applied"] >= 1

    run(body())


def test_resting_order_fills_from_recorded_trades_with_a_fifo_queue() -> None:
    async def body() -> None:
        async with session() as (ex, client):
            order = await client.create_order(SYMBOL, "limit", "buy", 0.5, 60000)
            assert ex.admin.orders()[0]["queueAhead"] == "1.00000000"  # the level's 1.0
            ex.admin.market_trade("60000", "0.6", buyer_is_maker=True)
            assert (await client.fetch_order(order["id"], SYMBOL))["filled"] == 0
            assert ex.admin.orders()[0]["queueAhead"] == "0.40000000"
            ex.admin.apply_levels(bids=[("60000", "0.3")])  # cancels ahead of us
            assert ex.admin.orders()[0]["queueAhead"] == "0.30000000"
            ex.admin.market_trade("60000", "0.5", buyer_is_maker=True)  # 0.3 ahead, 0.2 to us
            assert (await client.fetch_order(order["id"], SYMBOL))["filled"] == 0.2
            ex.admin.market_trade("60000", "1", buyer_is_maker=False)  # buyers: not our side
            ex.admin.market_trade("59990", "1", buyer_is_maker=True)  # through our price
            done = await client.fetch_order(order["id"], SYMBOL)
            assert (done["status"], done["filled"], done["average"]) == ("closed", 0.5, 60000.0)
            trades = await client.fetch_my_trades(SYMBOL)
            assert [(t["amount"], t["takerOrMaker"]) for t in trades] == [
                (0.2, "maker"),
                (0.3, "maker"),
            ]

    run(body())


def test_market_moving_through_a_resting_order_fills_it() -> None:
    async def body() -> None:
        async with session() as (ex, client):
            order = await client.create_order(SYMBOL, "limit", "sell", 0.4, 60015)
            ex.admin.apply_levels(bids=[("60016", "0.25")])  # a bid above our ask appears
            partly = await client.fetch_order(order["id"], SYMBOL)
            assert (partly["filled"], partly["status"]) == (0.25, "open")
            assert (await client.fetch_order_book(SYMBOL, 1))["bids"][0] == [60000.0, 1.0]

    run(body())


# --- user data stream ---------------------------------------------------------------------------


def test_watch_orders_and_my_trades_get_execution_reports() -> None:
    async def body() -> None:
        async with session(user_event_gap=0.005) as (ex, client):
            async with watching(
                lambda: client.watch_orders(SYMBOL), lambda: client.watch_my_trades(SYMBOL)
            ):
                await until(lambda: ex.user_hub.subscribers == 1)  # subscribed on the server
                order = await client.create_order(
                    SYMBOL, "limit", "buy", 0.1, 59995, {"clientOrderId": "ws-1"}
                )
                await until(lambda: client.orders and client.orders[-1]["status"] == "open")
                ex.admin.market_trade("59995", "0.04", buyer_is_maker=True)
                await until(lambda: client.myTrades and len(client.myTrades) == 1)
                ex.admin.apply_levels(asks=[("59990", "1")])  # the market comes down to us
                await until(lambda: client.orders[-1]["status"] == "closed")
            [last] = [o for o in client.orders if o["id"] == order["id"]]
            assert (last["clientOrderId"], last["filled"], last["price"]) == ("ws-1", 0.1, 59995.0)
            trades = [
                (t["amount"], t["takerOrMaker"], t["fee"]["currency"]) for t in client.myTrades
            ]
            assert trades == [(0.04, "maker", "BTC"), (0.06, "maker", "BTC")]
            held = float(balance(ex, "BTC")[0])  # 2 + 0.1 - 0.0001 fee, from both fills
            assert held == 2.0999
            # outboundAccountPosition follows the last executionReport
            await until(lambda: client.balance["spot"]["BTC"]["free"] == held)

    run(body())


async def raw_user_stream(url: str, http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    """A user-data subscription signed by hand, as Binance documents it."""
    ws = await http.ws_connect(url.replace("http", "ws") + "/ws-api/v3")
    params = {"apiKey": DEFAULT_API_KEY, "timestamp": int(time.time() * 1000)}
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
    params["signature"] = hmac.new(
        DEFAULT_API_SECRET.encode(), payload.encode(), hashlib.sha256
    ).hexdigest()
    await ws.send_json(
        {"id": "s", "method": "userDataStream.subscribe.signature", "params": params}
    )
    reply = await ws.receive_json(timeout=5)
    assert reply["status"] == 200 and reply["result"] == {"subscriptionId": 0}
    return ws


async def events(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[dict[str, Any]]:
    return [(await ws.receive_json(timeout=5))["event"] for _ in range(count)]


def test_fill_events_duplicated_and_swapped_on_request() -> None:
    async def body() -> None:
        async with session() as (ex, client), aiohttp.ClientSession() as http:
            ws = await raw_user_stream(ex.url, http)
            ex.admin.duplicate_fills(1)
            await client.create_order(SYMBOL, "market", "buy", 0.1)
            got = await events(ws, 4)
            assert [(e["e"], e.get("x")) for e in got] == [
                ("executionReport", "NEW"),
                ("executionReport", "TRADE"),
                ("executionReport", "TRADE"),
                ("outboundAccountPosition", None),
            ]
            assert got[1] == got[2] and got[1]["t"] == 1 and got[1]["n"] == "0.00010000"
            ex.admin.swap_user_events(1)
            await client.create_order(SYMBOL, "market", "buy", 0.1)
            got = await events(ws, 3)
            assert [(e["e"], e.get("X")) for e in got] == [
                ("executionReport", "FILLED"),
                ("executionReport", "NEW"),
                ("outboundAccountPosition", None),
            ]
            await ws.close()

    run(body())


def test_bad_user_stream_signature_is_refused() -> None:
    """The server answers -1022; ccxt 4.5.90 maps it to AuthenticationError, then trips over its
    own cleanup and raises KeyError('spot') from it, so the test looks along the chain."""

    async def body() -> None:
        async with LoopbackExchange((STATIC,), speed=None) as ex:
            client = binance_client(ex.url, DEFAULT_API_KEY, "not-the-secret")
            try:
                await client.load_markets()
                with pytest.raises(Exception) as raised:
                    await client.watch_orders(SYMBOL)
                chain: BaseException | None = raised.value
                while chain is not None and not isinstance(chain, ccxt.AuthenticationError):
                    chain = chain.__context__
                assert chain is not None and "-1022" in str(chain)
                assert ex.user_hub.subscribers == 0
            finally:
                await client.close()

    run(body())


# --- faults -------------------------------------------------------------------------------------


def test_http_status_faults_as_ccxt_sees_them() -> None:
    async def body() -> None:
        async with session() as (ex, client):
            expected = [
                (429, ccxt.DDoSProtection),
                (418, ccxt.DDoSProtection),
                (500, ccxt.OperationFailed),
                (502, ccxt.ExchangeNotAvailable),
                (503, ccxt.ExchangeNotAvailable),
            ]
            for status, error in expected:
                ex.admin.fail_http(status, path="/api/v3/account")
                with pytest.raises(error):
                    await client.fetch_balance()
            await client.fetch_balance()  # each fault fired once
            ex.admin.fail_http(429, count=2, path="/api/v3/order")
            assert (await client.fetch_order_book(SYMBOL))["bids"]  # other paths unaffected
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"{ex.url}/api/v3/order") as resp,
            ):
                assert resp.status == 429 and resp.headers["Retry-After"] == "1"
                assert (await resp.json())["code"] == -1003
            with pytest.raises(ccxt.DDoSProtection):
                await client.create_order(SYMBOL, "market", "buy", 0.1)
            assert ex.admin.orders() == []  # refused before processing
            ex.admin.fail_http(503, method="POST", path="/api/v3/order", processed=True)
            with pytest.raises(ccxt.RequestTimeout):  # Binance's -1007: outcome unknown
                await client.create_order(SYMBOL, "market", "buy", 0.1)
            assert [o["status"] for o in ex.admin.orders()] == ["FILLED"]

    run(body())


def test_faults_can_be_armed_before_start() -> None:
    async def body() -> None:
        ex = LoopbackExchange((STATIC,), speed=None)
        ex.admin.fail_http(418, path="/api/v3/exchangeInfo")
        async with ex:
            client = binance_client(ex.url)
            try:
                with pytest.raises(ccxt.DDoSProtection):
                    await client.load_markets()
                assert SYMBOL in await client.load_markets(reload=True)
            finally:
                await client.close()

    run(body())


def test_dropped_connection_after_the_order_was_accepted() -> None:
    async def body() -> None:
        async with session() as (ex, client):
            ex.admin.drop_http()
            with pytest.raises(ccxt.NetworkError):
                await client.create_order(
                    SYMBOL, "limit", "buy", 0.1, 59000, {"clientOrderId": "lost-1"}
                )
            [record] = ex.admin.orders(client_order_id="lost-1")
            assert record["status"] == "NEW" and record["submissions"] == 1
            found = await client.fetch_order("", SYMBOL, {"origClientOrderId": "lost-1"})
            assert found["status"] == "open"  # the client can reconcile by its own id
            with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
                await client.create_order(
                    SYMBOL, "limit", "buy", 0.1, 59000, {"clientOrderId": "lost-1"}
                )
            assert ex.admin.submissions("lost-1") == 2

    run(body())


def test_delayed_reply_times_out_while_the_order_exists() -> None:
    async def body() -> None:
        async with session() as (ex, client):
            client.timeout = 300
            ex.admin.delay_http(1.0, method="POST", path="/api/v3/order")
            with pytest.raises(ccxt.RequestTimeout):
                await client.create_order(SYMBOL, "market", "buy", 0.1)
            assert [o["status"] for o in ex.admin.orders()] == ["FILLED"]

    run(body())


def test_gap_in_update_ids_raises_checksum_error_then_resyncs() -> None:
    async def body() -> None:
        async with session((MarketSetup(),)) as (ex, client):
            await client.watch_order_book(SYMBOL)
            ex.admin.gap()
            ex.admin.step(2)
            with pytest.raises(ccxt.ChecksumError):
                for _ in range(5):
                    await client.watch_order_book(SYMBOL)
            book = await client.watch_order_book(SYMBOL)  # subscribes again, new snapshot
            ex.admin.step(1)
            target = ex.admin.book()["lastUpdateId"]
            while book["nonce"] != target:
                book = await client.watch_order_book(SYMBOL)
            bids, _, _ = reference_book(target)
            assert book["bids"][:5] == top(bids, 5, True)

    run(body())


def test_stalled_market_stream_delivers_nothing_until_resumed() -> None:
    async def body() -> None:
        async with session((MarketSetup(),)) as (ex, client):
            book = await client.watch_order_book(SYMBOL)
            before = book["nonce"]
            ex.admin.stall_market()
            ex.admin.step(3)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(client.watch_order_book(SYMBOL), 0.5)
            assert book["nonce"] == before
            ex.admin.resume_market()
            target = ex.admin.book()["lastUpdateId"]
            while book["nonce"] != target:
                book = await asyncio.wait_for(client.watch_order_book(SYMBOL), 5)

    run(body())


# --- hosting and records ------------------------------------------------------------------------


def test_thread_hosted_exchange_and_http_admin() -> None:
    with LoopbackExchangeThread((STATIC,), speed=None) as ex:

        async def trade() -> dict[str, Any]:
            client = binance_client(ex.url)
            try:
                return await client.create_order(SYMBOL, "market", "buy", 0.1)
            finally:
                await client.close()

        order = run(trade())
        assert ex.admin.orders()[0]["orderId"] == int(order["id"])
        with urllib.request.urlopen(f"{ex.url}/_admin/balances", timeout=5) as resp:
            balances = json.loads(resp.read())["result"]
        assert D(balances["BTC"]["free"]) == D("2.1") - D("0.0001")
        request = urllib.request.Request(
            f"{ex.url}/_admin/set_balances",
            data=json.dumps({"balances": {"USDT": "5"}}).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert resp.status == 200
        assert ex.admin.balances()["USDT"]["free"] == "5.00000000"


def test_state_file_keeps_orders_fills_and_balances_across_restarts(tmp_path: Path) -> None:
    state = tmp_path / "exchange.json"

    async def first() -> None:
        async with session(state_path=state) as (_, client):
            await client.create_order(SYMBOL, "market", "buy", 0.2, None, {"clientOrderId": "a"})
            await client.create_order(SYMBOL, "limit", "sell", 0.1, 60100, {"clientOrderId": "b"})

    async def second() -> None:
        async with session(state_path=state) as (ex, client):
            [open_order] = await client.fetch_open_orders(SYMBOL)
            assert open_order["clientOrderId"] == "b"
            assert [t["amount"] for t in await client.fetch_my_trades(SYMBOL)] == [0.2]
            assert balance(ex, "BTC") == (D("2.2") - D("0.0002") - D("0.1"), D("0.1"))
            assert [60100.0, 0.1] in (await client.fetch_order_book(SYMBOL, 5))["asks"]
            next_order = await client.create_order(SYMBOL, "market", "buy", 0.1)
            assert next_order["id"] == "3"

    run(first())
    run(second())


def test_command_line_arguments() -> None:
    from tradenode_ccxt.loopback.__main__ import parse_args

    args = parse_args(["--port", "0", "--speed", "0", "--balance", "usdt=5", "--fee-bps", "7"])
    assert (args.port, args.speed, args.balance, args.fee_bps) == (0, 0.0, [("USDT", D(5))], D(7))
    assert list(args.capture) == list(DEFAULT_CAPTURE)
    with pytest.raises(SystemExit):
        parse_args(["--balance", "USDT"])
