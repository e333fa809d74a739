"""ccxt's own recorded Binance responses (tests/venues/ccxt/data/ccxt-binance, MIT) replayed
through the real ccxt client, then through this plugin into the node's instruments, book,
balances, orders and fills, which must equal ccxt's recorded ``parsedResponse``.

As in ccxt's own offline tests, only the client's transport (``fetch``) is replaced: it answers
with the recorded ``httpResponse``; request building, signing and parsing run for real. The
``createOrder`` case trades SOL/USDT, which is not among the recorded markets, so order answers
are covered by ``fetchOrder`` here and by the loopback exchange elsewhere.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt_async
import pytest
from tradenode_ccxt import convert
from tradenode_ccxt.books import BookFeed
from tradenode_ccxt.tracker import Accepted, Filled, OrderTracker

from node.book import L2Book
from node.messages import SubmitOrder

DATA = Path(__file__).parent / "data" / "ccxt-binance"
RESPONSES = json.loads((DATA / "response_subset.json").read_text())["methods"]
MARKETS = json.loads((DATA / "markets_subset.json").read_text())
D = Decimal


def case(method: str, description: str) -> dict[str, Any]:
    return next(c for c in RESPONSES[method] if c["description"] == description)


def client() -> Any:
    """The real ccxt Binance client with the recorded markets (re-parsed from their ``info``,
    as ccxt's tests do) and keys, so private calls are signed."""
    exchange = ccxt_async.binance(
        {
            "apiKey": "recorded-key",
            "secret": "recorded-secret",
            "options": {"crossMarginPairsData": [], "isolatedMarginPairsData": []},
        }
    )
    markets = [exchange.parse_market(m["info"]) for k, m in MARKETS.items() if k != "_provenance"]
    exchange.set_markets(markets)
    return exchange


def replay(exchange: Any, recorded: dict[str, Any]) -> list[str]:
    """Answer every request with the recorded ``httpResponse``; returns the URLs asked."""
    asked: list[str] = []

    async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        asked.append(url)
        return recorded["httpResponse"]

    exchange.fetch = fetch
    return asked


def run(method: str, description: str, call: str) -> tuple[Any, dict[str, Any], list[str]]:
    recorded = case(method, description)

    async def go() -> Any:
        exchange = client()
        asked = replay(exchange, recorded)
        try:
            return await getattr(exchange, call)(*recorded["input"]), asked
        finally:
            await exchange.close()

    result, asked = asyncio.run(go())
    return result, recorded["parsedResponse"], asked


def test_instruments_from_the_recorded_markets():
    exchange = client()
    try:
        spot, problem = convert.instrument(
            "binance", exchange.market("BTC/USDT"), exchange.precisionMode
        )
        assert problem is None
        recorded = MARKETS["BTC/USDT"]  # its precision is in the old decimal-places form
        assert spot.tick_size == convert.step_of(recorded["precision"]["price"], 2) == D("0.01")
        assert spot.lot_size == convert.step_of(recorded["precision"]["amount"], 2) == D("0.00001")
        assert spot.min_quantity == D(str(recorded["limits"]["amount"]["min"]))
        assert spot.max_quantity == D(str(recorded["limits"]["amount"]["max"]))
        assert spot.min_notional == D(str(recorded["limits"]["cost"]["min"]))
        assert (spot.maker_fee, spot.taker_fee) == (D("0.001"), D("0.001"))
        assert (spot.base, spot.quote, spot.venue_symbol, spot.asset_class) == (
            "BTC",
            "USDT",
            "BTCUSDT",
            "spot",
        )
        perp, _ = convert.instrument(
            "binance", exchange.market("BTC/USDT:USDT"), exchange.precisionMode
        )
        assert (perp.asset_class, perp.settlement, perp.multiplier) == ("perpetual", "USDT", D(1))
        assert perp.is_derivative
    finally:
        asyncio.run(exchange.close())


@pytest.mark.parametrize("description", ["spot orderbook", "swap orderbook"])
def test_order_books_into_the_node_book(description):
    book, parsed, asked = run("fetchOrderBook", description, "fetch_order_book")
    assert "/depth" in asked[0]
    node_book = L2Book("binance", parsed["symbol"])
    snapshot = BookFeed(node_book, depth=100).update(book, now_ns=1)
    assert snapshot is not None and snapshot.sequence == parsed["nonce"]
    assert [(lv.price, lv.size) for lv in node_book.levels("buy")] == [
        (D(str(p)), D(str(q))) for p, q in parsed["bids"]
    ]
    assert [(lv.price, lv.size) for lv in node_book.levels("sell")] == [
        (D(str(p)), D(str(q))) for p, q in parsed["asks"]
    ]
    # the exchange's own strings, exactly
    raw = case("fetchOrderBook", description)["httpResponse"]
    assert node_book.best("buy") == D(raw["bids"][0][0])


@pytest.mark.parametrize("description", ["Spot balance", "Linear swap balance"])
def test_balances(description):
    balance, parsed, _ = run("fetchBalance", description, "fetch_balance")
    converted = convert.balances(balance, keep=set())
    held = {c for c, total in parsed["total"].items() if total}
    assert set(converted) == held
    for currency in held:
        assert converted[currency].total == D(str(parsed["total"][currency]))
        assert converted[currency].free == D(str(parsed["free"][currency]))
    assert convert.balances(balance, keep={"BTC"})["BTC"].total == D(
        str(parsed["total"].get("BTC", 0))
    )


def test_a_closed_order_is_accepted_and_its_missing_trades_are_a_gap():
    order, parsed, asked = run("fetchOrder", "Fetch spot closed order", "fetch_order")
    assert "/api/v3/order" in asked[0]
    cid = parsed["clientOrderId"]
    report = convert.order_report(order, cid)
    assert (report.venue_order_id, report.symbol, report.side) == (parsed["id"], "LTC/USDT", "sell")
    assert (report.quantity, report.filled_quantity) == (D("0.1"), D("0.1"))
    assert (report.status, report.limit_price) == ("filled", None)  # a market order
    assert report.average_price == D(str(parsed["average"]))

    tracker = OrderTracker("binance", {"LTC/USDT": "USDT"})
    tracker.add(
        SubmitOrder(
            client_order_id=cid,
            venue="binance",
            symbol="LTC/USDT",
            side="sell",
            quantity=D("0.1"),
            order_type="market",
        )
    )
    tracker.on_order(order)
    assert tracker.take_events() == [Accepted(cid, parsed["id"])]
    # closed and fully filled at the exchange, but no trade came with it: fetch its trades
    assert [t.client_order_id for t in tracker.gaps()] == [cid]


def test_my_trades_become_fills_once():
    trades, parsed, asked = run("fetchMyTrades", "Spot private trade", "fetch_my_trades")
    assert "/api/v3/myTrades" in asked[0]
    [trade], [expected] = trades, parsed
    report = convert.fill_report(trade, "c-1", "USDT")
    assert (report.trade_id, report.venue_order_id) == (expected["id"], expected["order"])
    assert (report.price, report.quantity) == (D("69.63"), D("0.2"))
    assert (report.fee, report.fee_currency) == (D("0.013926"), "USDT")
    assert (report.side, report.liquidity) == ("sell", "taker")
    assert report.ts == expected["timestamp"] * 1_000_000

    tracker = OrderTracker("binance", {"LTC/USDT": "USDT"})
    tracker.add(
        SubmitOrder(
            client_order_id="c-1",
            venue="binance",
            symbol="LTC/USDT",
            side="sell",
            quantity=D("0.5"),
            limit_price=D("69.6"),
        )
    )
    tracker.on_trade(trade, "c-1")
    tracker.on_trade(trade, "c-1")  # delivered twice: published once
    events = tracker.take_events()
    fills = [e for e in events if isinstance(e, Filled)]
    assert len(fills) == 1
    assert (fills[0].cumulative_quantity, fills[0].leaves_quantity) == (D("0.2"), D("0.3"))
    assert (fills[0].price, fills[0].fee) == (report.price, report.fee)
