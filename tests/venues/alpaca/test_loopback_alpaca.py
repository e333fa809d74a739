"""The loopback Alpaca through the real alpaca-py ``TradingClient``: what it answers, what it
refuses and why, how orders execute against its quotes, and what its records show.

Expected numbers come from the quotes the test pins (``set_price`` returns the quote the orders
then meet) and from the fills the server reports, never from the server's own arithmetic.
"""

from __future__ import annotations

import asyncio
import json
import queue
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, QueryOrderStatus, TimeInForce
from alpaca.trading.models import Order, Position, TradeActivity
from alpaca.trading.requests import (
    GetOrdersRequest,
    LimitOrderRequest,
    MarketOrderRequest,
    ReplaceOrderRequest,
    StopLimitOrderRequest,
    StopOrderRequest,
)
from alpaca_loopback_support import KEY, SECRET
from tradenode_alpaca.loopback import AlpacaLoopback, LoopbackConfig, ThreadedAlpacaLoopback
from waiting import wait_for

D = Decimal
ET = ZoneInfo("America/New_York")
BUY, SELL = OrderSide.BUY, OrderSide.SELL
DAY, GTC = TimeInForce.DAY, TimeInForce.GTC
Venue = ThreadedAlpacaLoopback


def et(day: int, hour: int, minute: int = 0, month: int = 6) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=ET)


def market(symbol: str, qty: float, side: OrderSide = BUY, **kw: Any) -> MarketOrderRequest:
    return MarketOrderRequest(symbol=symbol, qty=qty, side=side, time_in_force=DAY, **kw)


def limit(symbol: str, qty: float, price: float, side: OrderSide = BUY, **kw: Any) -> Any:
    kw.setdefault("time_in_force", DAY)
    return LimitOrderRequest(symbol=symbol, qty=qty, side=side, limit_price=price, **kw)


def refused(call: Callable[[], Any]) -> APIError:
    with pytest.raises(APIError) as caught:
        call()
    return caught.value


def fills(client: TradingClient, **params: Any) -> list[dict[str, Any]]:
    """The raw FILL activities (alpaca-py has no trading-API method for them)."""
    return client.get("/account/activities/FILL", {"direction": "asc", **params})


def reload(client: TradingClient, order: Order) -> Order:
    return client.get_order_by_id(order.id)


def step_until(venue: Venue, client: TradingClient, order: Order, status: OrderStatus) -> Order:
    for _ in range(600):
        current = reload(client, order)
        if current.status == status:
            return current
        venue.step(1)
    raise AssertionError(f"order never reached {status}")


# -- account, assets, clock -----------------------------------------------------------------


def test_account_assets_and_clock_parse_into_alpaca_models(client: TradingClient) -> None:
    account = client.get_account()
    assert (account.status, account.currency, account.cash, account.equity) == (
        "ACTIVE",
        "USD",
        "100000",
        "100000",
    )
    assert account.buying_power == "100000"
    assert account.pattern_day_trader is False
    assert account.shorting_enabled is False

    assets = {a.symbol: a for a in client.get_all_assets()}
    assert set(assets) == {"AAPL", "TSLA", "NVDA", "ZVZZT"}
    aapl, test_issue = assets["AAPL"], client.get_asset("ZVZZT")
    assert (aapl.asset_class, aapl.exchange, aapl.tradable) == ("us_equity", "NASDAQ", True)
    assert (aapl.fractionable, aapl.shortable, aapl.easy_to_borrow) == (True, True, True)
    assert aapl.price_increment == 0.01
    assert (test_issue.fractionable, test_issue.shortable) == (False, False)
    assert test_issue.price_increment == 0.0001  # it trades below $1
    assert test_issue.min_order_size == 1
    assert client.get_asset(str(aapl.id)).symbol == "AAPL"
    missing = refused(lambda: client.get_asset("NOPE"))
    assert (missing.status_code, missing.code) == (404, 40410000)
    no_route = refused(lambda: client.get("/watchlists"))
    assert (no_route.status_code, no_route.code) == (404, 40400000)

    clock = client.get_clock()
    assert clock.is_open is True
    assert clock.timestamp == et(3, 10)
    assert (clock.next_open, clock.next_close) == (et(4, 9, 30), et(3, 16))
    days = client.get("/calendar", {"start": "2024-06-07", "end": "2024-06-10"})
    assert [d["date"] for d in days] == ["2024-06-07", "2024-06-10"]


@pytest.mark.parametrize(
    ("start", "is_open", "next_open", "next_close"),
    [
        (et(3, 8), False, et(3, 9, 30), et(3, 16)),  # Monday pre-market
        (et(3, 17), False, et(4, 9, 30), et(4, 16)),  # Monday after hours
        (et(7, 16, 30), False, et(10, 9, 30), et(10, 16)),  # Friday evening
        (et(8, 12), False, et(10, 9, 30), et(10, 16)),  # Saturday
    ],
)
def test_clock_follows_the_configured_session(
    make_venue: Callable[..., Venue],
    start: datetime,
    is_open: bool,
    next_open: datetime,
    next_close: datetime,
) -> None:
    venue = make_venue(start=start)
    clock = TradingClient(KEY, SECRET, url_override=venue.url).get_clock()
    assert (clock.is_open, clock.next_open, clock.next_close) == (is_open, next_open, next_close)


def test_wrong_credentials_get_alpacas_401(venue: Venue) -> None:
    stranger = TradingClient(KEY, "not-the-secret", url_override=venue.url)
    error = refused(stranger.get_account)
    assert (error.status_code, error.code, error.message) == (
        401,
        40110000,
        "request is not authorized",
    )


# -- execution --------------------------------------------------------------------------------


def test_market_order_fills_at_the_ask_in_parts_and_books_position_and_cash(
    make_venue: Callable[..., Venue],
) -> None:
    venue = make_venue(cash=D(1_000_000))
    client = TradingClient(KEY, SECRET, url_override=venue.url)
    quote = venue.set_price("AAPL", D("190"))
    qty = quote.ask_size + 250
    sent = client.submit_order(market("AAPL", qty, client_order_id="part-1"))
    # Alpaca answers before executing: the fills arrive afterwards.
    assert (sent.status, sent.filled_qty, sent.client_order_id) == (
        OrderStatus.PENDING_NEW,
        "0",
        "part-1",
    )

    first = client.get_order_by_client_id("part-1")
    assert first.status == OrderStatus.PARTIALLY_FILLED
    assert D(first.filled_qty) == quote.ask_size  # what the quote showed, no more
    assert D(first.filled_avg_price) == quote.ask

    done = step_until(venue, client, sent, OrderStatus.FILLED)
    executions = fills(client)
    assert len(executions) >= 2
    assert (D(executions[0]["price"]), D(executions[0]["qty"])) == (quote.ask, quote.ask_size)
    assert sum(D(f["qty"]) for f in executions) == qty
    cost = sum(D(f["price"]) * D(f["qty"]) for f in executions)
    assert D(done.filled_avg_price) == (cost / qty).quantize(D("1e-9"))
    assert {f["order_id"] for f in executions} == {str(sent.id)}
    assert executions[-1]["order_status"] == "filled" and executions[-1]["leaves_qty"] == "0"
    for f in executions:
        TradeActivity(**f)

    position = client.get_open_position("AAPL")
    assert (D(position.qty), position.side) == (qty, "long")
    assert D(position.cost_basis) == cost
    account = client.get_account()
    assert D(account.cash) == D(1_000_000) - cost
    assert D(account.buying_power) == D(account.cash)


def test_limit_order_rests_until_the_quote_reaches_it(venue: Venue, client: TradingClient) -> None:
    venue.set_price("AAPL", D("190"))
    order = client.submit_order(limit("AAPL", 10, 185.00))
    venue.step(5)
    assert reload(client, order).status == OrderStatus.NEW
    # Buying power is held for the resting order.
    assert D(client.get_account().buying_power) == D(100_000) - 10 * D(185)

    quote = venue.set_price("AAPL", D("184.50"))
    filled = reload(client, order)
    assert filled.status == OrderStatus.FILLED
    assert D(filled.filled_avg_price) == quote.ask <= D("185")


def test_limit_order_fills_when_the_random_walk_gets_there(
    venue: Venue, client: TradingClient
) -> None:
    price = venue.quote("AAPL").ask - D("0.10")
    order = client.submit_order(limit("AAPL", 5, float(price), side=BUY))
    filled = step_until(venue, client, order, OrderStatus.FILLED)
    assert D(filled.filled_avg_price) <= price
    assert filled.filled_at is not None and filled.filled_at > filled.submitted_at


def test_stop_orders_trigger_on_the_quote(venue: Venue, client: TradingClient) -> None:
    venue.set_price("AAPL", D("190"))
    client.submit_order(market("AAPL", 10))
    stop = client.submit_order(
        StopOrderRequest(symbol="AAPL", qty=10, side=SELL, time_in_force=GTC, stop_price=185)
    )
    venue.step(5)
    assert reload(client, stop).status == OrderStatus.NEW
    quote = venue.set_price("AAPL", D("184.90"))
    triggered = reload(client, stop)
    assert (triggered.status, D(triggered.filled_avg_price)) == (OrderStatus.FILLED, quote.bid)
    assert client.get_all_positions() == []

    buy_stop = client.submit_order(
        StopOrderRequest(symbol="AAPL", qty=3, side=BUY, time_in_force=DAY, stop_price=190)
    )
    assert reload(client, buy_stop).status == OrderStatus.NEW
    quote = venue.set_price("AAPL", D("190.20"))
    assert D(reload(client, buy_stop).filled_avg_price) == quote.ask


def test_stop_limit_waits_for_its_limit_after_triggering(
    venue: Venue, client: TradingClient
) -> None:
    venue.set_price("AAPL", D("190"))
    client.submit_order(market("AAPL", 10))
    order = client.submit_order(
        StopLimitOrderRequest(
            symbol="AAPL", qty=10, side=SELL, time_in_force=DAY, stop_price=185, limit_price=184.5
        )
    )
    venue.set_price("AAPL", D("184.00"))  # through the stop, below the limit
    assert reload(client, order).status == OrderStatus.NEW
    quote = venue.set_price("AAPL", D("184.80"))
    done = reload(client, order)
    assert (done.status, D(done.filled_avg_price)) == (OrderStatus.FILLED, quote.bid)


def test_ioc_and_fok_take_only_what_the_quote_shows(make_venue: Callable[..., Venue]) -> None:
    venue = make_venue(cash=D(1_000_000))
    client = TradingClient(KEY, SECRET, url_override=venue.url)
    quote = venue.set_price("AAPL", D("190"))
    ioc = client.submit_order(
        MarketOrderRequest(
            symbol="AAPL", qty=quote.ask_size + 100, side=BUY, time_in_force=TimeInForce.IOC
        )
    )
    ioc = reload(client, ioc)
    assert (ioc.status, D(ioc.filled_qty)) == (OrderStatus.CANCELED, quote.ask_size)

    quote = venue.set_price("AAPL", D("190"))
    fok = client.submit_order(
        MarketOrderRequest(
            symbol="AAPL", qty=quote.ask_size + 100, side=BUY, time_in_force=TimeInForce.FOK
        )
    )
    fok = reload(client, fok)
    assert (fok.status, fok.filled_qty) == (OrderStatus.CANCELED, "0")
    whole = client.submit_order(
        MarketOrderRequest(symbol="AAPL", qty=quote.ask_size, side=BUY, time_in_force="fok")
    )
    assert reload(client, whole).status == OrderStatus.FILLED


def test_opening_and_closing_orders_wait_for_their_auction(
    make_venue: Callable[..., Venue],
) -> None:
    venue = make_venue(start=et(3, 8))
    client = TradingClient(KEY, SECRET, url_override=venue.url)
    opg = client.submit_order(
        MarketOrderRequest(symbol="AAPL", qty=500, side=BUY, time_in_force=TimeInForce.OPG)
    )
    assert opg.status == OrderStatus.ACCEPTED
    venue.jump_to(et(3, 9, 30))
    opened = reload(client, opg)
    # All at once, whatever the quote's size: an auction.
    assert (opened.status, opened.filled_qty) == (OrderStatus.FILLED, "500")
    assert opened.filled_at == et(3, 9, 30)

    late = refused(
        lambda: client.submit_order(
            MarketOrderRequest(symbol="AAPL", qty=1, side=BUY, time_in_force=TimeInForce.OPG)
        )
    )
    assert (late.status_code, late.code) == (422, 42210000)

    cls = client.submit_order(
        MarketOrderRequest(symbol="AAPL", qty=500, side=SELL, time_in_force=TimeInForce.CLS)
    )
    venue.step(3600)
    assert reload(client, cls).status == OrderStatus.ACCEPTED
    venue.jump_to(et(3, 16))
    closed = reload(client, cls)
    assert (closed.status, closed.filled_at) == (OrderStatus.FILLED, et(3, 16))
    assert client.get_all_positions() == []


def test_day_orders_expire_at_the_close_and_extended_ones_at_eight(
    venue: Venue, client: TradingClient
) -> None:
    day = client.submit_order(limit("AAPL", 1, 100.0))
    extended = client.submit_order(limit("AAPL", 1, 100.0, extended_hours=True))
    gtc = client.submit_order(limit("AAPL", 1, 100.0, time_in_force=GTC))
    venue.jump_to(et(3, 16))
    assert reload(client, day).status == OrderStatus.EXPIRED
    assert reload(client, day).expired_at == et(3, 16)
    assert reload(client, extended).status == OrderStatus.NEW
    venue.jump_to(et(3, 20))
    assert reload(client, extended).status == OrderStatus.EXPIRED
    assert reload(client, gtc).status == OrderStatus.NEW


def test_after_the_close_only_extended_hours_orders_are_taken(
    make_venue: Callable[..., Venue],
) -> None:
    venue = make_venue(start=et(3, 17))
    client = TradingClient(KEY, SECRET, url_override=venue.url)
    closed = refused(lambda: client.submit_order(market("AAPL", 1)))
    assert (closed.status_code, closed.code) == (422, 42210000)
    assert closed.message.startswith("market is closed")

    ask = venue.quote("AAPL").ask
    extended = client.submit_order(limit("AAPL", 5, float(ask + 1), extended_hours=True))
    assert reload(client, extended).status == OrderStatus.FILLED

    # From 19:00 Alpaca queues such orders for the next open instead of refusing them.
    venue.jump_to(et(3, 20, 30))
    queued = client.submit_order(market("AAPL", 5))
    assert queued.status == OrderStatus.ACCEPTED
    venue.jump_to(et(4, 9, 30))
    routed = reload(client, queued)
    assert (routed.status, routed.filled_at) == (OrderStatus.FILLED, et(4, 9, 30))


def test_pre_market_trades_extended_limits_and_queues_the_rest(
    make_venue: Callable[..., Venue],
) -> None:
    venue = make_venue(start=et(3, 8))
    client = TradingClient(KEY, SECRET, url_override=venue.url)
    ask = venue.quote("AAPL").ask
    early = client.submit_order(limit("AAPL", 2, float(ask), extended_hours=True))
    assert reload(client, early).status == OrderStatus.FILLED
    queued = client.submit_order(market("AAPL", 2))
    venue.step(600)
    assert reload(client, queued).status == OrderStatus.ACCEPTED

    not_limit = refused(lambda: client.submit_order(market("AAPL", 1, extended_hours=True)))
    assert (not_limit.status_code, not_limit.code, not_limit.message) == (
        422,
        40010001,
        'only type="limit" is allowed for extended hours orders',
    )
    not_day = refused(
        lambda: client.submit_order(limit("AAPL", 1, 150.0, extended_hours=True, time_in_force=GTC))
    )
    assert not_day.message == "extended hours order must be DAY limit orders"


# -- refusals -------------------------------------------------------------------------------


def test_insufficient_buying_power_is_alpacas_403(venue: Venue, client: TradingClient) -> None:
    quote = venue.set_price("AAPL", D("190"))
    error = refused(lambda: client.submit_order(market("AAPL", 600)))
    body = json.loads(str(error))
    assert (error.status_code, error.code, error.message) == (
        403,
        40310000,
        "insufficient buying power",
    )
    # Market buys are valued 3% above the ask, as Alpaca does.
    assert D(body["cost_basis"]) == (600 * quote.ask * D("1.03")).quantize(D("0.01"))
    assert body["buying_power"] == "100000"

    client.submit_order(limit("AAPL", 400, 180.0))
    held = refused(lambda: client.submit_order(limit("AAPL", 200, 180.0)))
    assert json.loads(str(held))["buying_power"] == "28000"
    assert client.get_account().buying_power == "28000"


def test_fractional_rules(venue: Venue, client: TradingClient) -> None:
    whole_only = refused(lambda: client.submit_order(market("ZVZZT", 1.5)))
    assert (whole_only.status_code, whole_only.code, whole_only.message) == (
        422,
        40010001,
        "qty must be integer",
    )
    notional = refused(
        lambda: client.submit_order(
            MarketOrderRequest(symbol="ZVZZT", notional=100, side=BUY, time_in_force=DAY)
        )
    )
    assert notional.status_code == 422
    not_day = refused(lambda: client.submit_order(limit("AAPL", 0.5, 150.0, time_in_force=GTC)))
    assert not_day.message == "fractional orders must be DAY orders"

    half = client.submit_order(market("AAPL", 0.5))
    assert reload(client, half).filled_qty == "0.5"

    quote = venue.set_price("AAPL", D("190"))
    dollars = client.submit_order(
        MarketOrderRequest(symbol="AAPL", notional=1000, side=BUY, time_in_force=DAY)
    )
    assert (dollars.notional, dollars.qty) == ("1000", None)
    done = reload(client, dollars)
    assert D(done.filled_qty) == (D(1000) / quote.ask).quantize(D("1e-9"), ROUND_FLOOR)
    assert done.status == OrderStatus.FILLED


def test_sub_penny_prices_are_refused(venue: Venue, client: TradingClient) -> None:
    error = refused(lambda: client.submit_order(limit("AAPL", 1, 190.001)))
    assert (error.status_code, error.code, error.message) == (
        422,
        42210000,
        "invalid limit_price 190.001. sub-penny increment does not fulfill minimum pricing "
        "criteria",
    )
    stop = refused(
        lambda: client.submit_order(
            StopOrderRequest(symbol="AAPL", qty=1, side=BUY, time_in_force=DAY, stop_price=195.005)
        )
    )
    assert stop.message.startswith("invalid stop_price 195.005.")
    # Below $1 Alpaca's tick is 0.0001.
    client.submit_order(limit("ZVZZT", 100, 0.8001))
    finer = refused(lambda: client.submit_order(limit("ZVZZT", 100, 0.80015)))
    assert finer.code == 42210000


def test_duplicate_client_order_id_is_refused_and_counted(
    venue: Venue, client: TradingClient
) -> None:
    first = client.submit_order(limit("AAPL", 1, 150.0, client_order_id="dup-1"))
    again = refused(lambda: client.submit_order(limit("AAPL", 1, 150.0, client_order_id="dup-1")))
    assert (again.status_code, again.code, again.message) == (
        422,
        40010001,
        "client_order_id must be unique",
    )
    assert client.get_order_by_client_id("dup-1").id == first.id
    records = venue.records()
    assert [o["submit_count"] for o in records["orders"]] == [2]
    missing = refused(lambda: client.get_order_by_client_id("never-sent"))
    assert (missing.status_code, missing.code) == (404, 40410000)


def test_sells_beyond_the_position_and_short_sales(make_venue: Callable[..., Venue]) -> None:
    cash_account = make_venue()
    client = TradingClient(KEY, SECRET, url_override=cash_account.url)
    nothing = refused(lambda: client.submit_order(market("AAPL", 5, side=SELL)))
    assert (nothing.status_code, nothing.code, nothing.message) == (
        403,
        40310000,
        "insufficient qty available for order (requested: 5, available: 0)",
    )
    client.submit_order(market("AAPL", 3))
    too_many = refused(lambda: client.submit_order(market("AAPL", 5, side=SELL)))
    assert json.loads(str(too_many))["available"] == "3"

    margin = make_venue(multiplier=2)
    client = TradingClient(KEY, SECRET, url_override=margin.url)
    assert client.get_account().buying_power == "200000"
    quote = margin.set_price("AAPL", D("190"))
    client.submit_order(market("AAPL", 5, side=SELL))
    short = client.get_open_position("AAPL")
    assert (short.qty, short.side) == ("-5", "short")
    assert D(short.cost_basis) == -5 * quote.bid
    assert D(client.get_account().cash) == D(100_000) + 5 * quote.bid
    fractional = refused(lambda: client.submit_order(market("AAPL", 0.5, side=SELL)))
    assert fractional.message == "fractional orders are not allowed to short"
    hard_to_borrow = refused(lambda: client.submit_order(market("ZVZZT", 100, side=SELL)))
    assert hard_to_borrow.status_code == 403


# -- orders: lookup, cancel, replace ----------------------------------------------------------


def test_order_queries_filter_like_alpaca(venue: Venue, client: TradingClient) -> None:
    filled = client.submit_order(market("AAPL", 1))
    venue.step(60)
    resting = client.submit_order(limit("NVDA", 1, 100.0, client_order_id="rest"))
    venue.step(60)
    canceled = client.submit_order(limit("TSLA", 1, 100.0, side=BUY))
    client.cancel_order_by_id(canceled.id)

    def ids(**kw: Any) -> list[uuid.UUID]:
        return [o.id for o in client.get_orders(GetOrdersRequest(**kw))]

    assert ids() == [resting.id]
    assert ids(nested=True) == [resting.id]
    assert ids(status=QueryOrderStatus.CLOSED) == [canceled.id, filled.id]
    assert ids(status=QueryOrderStatus.ALL) == [canceled.id, resting.id, filled.id]
    assert ids(status=QueryOrderStatus.ALL, direction="asc", limit=2) == [filled.id, resting.id]
    assert ids(status=QueryOrderStatus.ALL, after=filled.submitted_at) == [canceled.id, resting.id]
    assert ids(status=QueryOrderStatus.ALL, until=filled.submitted_at) == [filled.id]
    assert ids(status=QueryOrderStatus.ALL, symbols=["NVDA", "TSLA"]) == [canceled.id, resting.id]
    assert client.get_order_by_client_id("rest").id == resting.id


def test_cancel_single_and_all(venue: Venue, client: TradingClient) -> None:
    order = client.submit_order(limit("AAPL", 1, 150.0))
    client.cancel_order_by_id(order.id)
    canceled = reload(client, order)
    assert (canceled.status, canceled.canceled_at) == (OrderStatus.CANCELED, et(3, 10))
    again = refused(lambda: client.cancel_order_by_id(order.id))
    assert (again.status_code, again.message) == (422, 'order is already in "canceled" state')
    unknown = refused(lambda: client.cancel_order_by_id(uuid.uuid4()))
    assert (unknown.status_code, unknown.code) == (404, 40410000)

    open_ids = {client.submit_order(limit("AAPL", 1, 150.0)).id for _ in range(2)}
    answers = client.cancel_orders()
    assert {a.id for a in answers} == open_ids
    assert {a.status for a in answers} == {200}
    assert client.get_orders() == []


def test_replace_creates_a_linked_order(venue: Venue, client: TradingClient) -> None:
    venue.set_price("AAPL", D("190"))
    old = client.submit_order(limit("AAPL", 10, 180.0))
    new = client.replace_order_by_id(old.id, ReplaceOrderRequest(limit_price=181))
    assert (new.replaces, new.limit_price, new.qty) == (old.id, "181", "10")
    previous = reload(client, old)
    assert (previous.status, previous.replaced_by) == (OrderStatus.REPLACED, new.id)

    quote = venue.quote("AAPL")
    marketable = client.replace_order_by_id(new.id, ReplaceOrderRequest(limit_price=191, qty=4))
    done = reload(client, marketable)
    assert (done.status, done.filled_qty, D(done.filled_avg_price)) == (
        OrderStatus.FILLED,
        "4",
        quote.ask,
    )


def test_injected_downstream_rejection(venue: Venue, client: TradingClient) -> None:
    venue.reject_next_orders(1)
    order = client.submit_order(market("AAPL", 1))
    rejected = reload(client, order)
    assert (rejected.status, rejected.failed_at) == (OrderStatus.REJECTED, et(3, 10))
    assert reload(client, client.submit_order(market("AAPL", 1))).status == OrderStatus.FILLED


# -- positions and fills ------------------------------------------------------------------------


def test_positions_and_fill_activities(venue: Venue, client: TradingClient) -> None:
    venue.set_price("AAPL", D("190"))
    venue.set_price("NVDA", D("120"))
    buy = client.submit_order(market("AAPL", 10))
    client.submit_order(market("NVDA", 5))
    sell = client.submit_order(market("AAPL", 4, side=SELL))
    bought_at = D(reload(client, buy).filled_avg_price)
    sold_at = D(reload(client, sell).filled_avg_price)

    positions = {p.symbol: p for p in client.get_all_positions()}
    assert set(positions) == {"AAPL", "NVDA"}
    assert all(isinstance(p, Position) for p in positions.values())
    aapl = client.get_open_position("AAPL")
    assert (aapl.qty, D(aapl.avg_entry_price)) == ("6", bought_at)
    assert D(aapl.cost_basis) == 6 * bought_at
    assert D(aapl.current_price) == sold_at  # our own sale is the last trade
    assert D(aapl.market_value) == 6 * sold_at
    client.submit_order(limit("AAPL", 2, 500.0, side=SELL))
    assert client.get_open_position("AAPL").qty_available == "4"
    nothing = refused(lambda: client.get_open_position("TSLA"))
    assert (nothing.status_code, nothing.message) == (404, "position does not exist")

    newest_first = client.get("/account/activities/FILL")
    assert newest_first[0]["order_id"] == str(sell.id)
    activities = [TradeActivity(**row) for row in newest_first]
    assert [a.symbol for a in activities] == ["AAPL", "NVDA", "AAPL"]
    assert {a.activity_type for a in activities} == {"FILL"}
    page = client.get("/account/activities/FILL", {"page_size": 2})
    rest = client.get("/account/activities/FILL", {"page_size": 2, "page_token": page[-1]["id"]})
    assert [r["id"] for r in page + rest] == [r["id"] for r in newest_first]
    assert client.get("/account/activities", {"activity_types": "FILL"}) == newest_first


# -- faults and records -------------------------------------------------------------------------


def test_rate_limits_are_retried_by_alpaca_py(venue: Venue, client: TradingClient) -> None:
    client._retry_wait = 0  # alpaca-py sleeps 3 s between retries; its constructor cannot say so
    venue.inject_http_fault(429, 3, path="/v2/account")
    assert client.get_account().status == "ACTIVE"  # the fourth attempt
    venue.inject_http_fault(429, 4, path="/v2/account")
    error = refused(client.get_account)
    assert (error.status_code, error.code) == (429, 42910000)
    venue.inject_http_fault(500)
    server_error = refused(client.get_clock)
    assert (server_error.status_code, server_error.code) == (500, 50010000)


def test_a_lost_answer_makes_alpaca_py_resubmit_into_a_duplicate(
    venue: Venue, client: TradingClient
) -> None:
    """alpaca-py retries a 504 even for ``POST /v2/orders``: when the first attempt was in fact
    placed, the retry is refused as a duplicate and the caller sees an error for an order that
    exists. A node must then look the order up by its client_order_id."""
    client._retry_wait = 0
    venue.inject_http_fault(504, method="POST", path="/v2/orders", after=True)
    error = refused(lambda: client.submit_order(limit("AAPL", 1, 150.0, client_order_id="lost-1")))
    assert (error.status_code, error.message) == (422, "client_order_id must be unique")
    placed = client.get_order_by_client_id("lost-1")
    assert placed.status == OrderStatus.NEW
    records = venue.records()
    assert records["submissions"] == {"lost-1": 2}
    assert len(records["orders"]) == 1


def test_records_and_admin_http_api(venue: Venue, client: TradingClient) -> None:
    admin = venue.url + "/_admin"
    quote = requests.post(admin + "/price", json={"symbol": "AAPL", "price": "190"}, timeout=5)
    ask = D(quote.json()["ask"])
    client.submit_order(market("AAPL", 2, client_order_id="rec-1"))
    stepped = requests.post(admin + "/step", json={"seconds": 90}, timeout=5).json()
    assert datetime.fromisoformat(stepped["now"]) == datetime(2024, 6, 3, 10, 1, 30, tzinfo=ET)

    state = requests.get(admin + "/state", timeout=5).json()
    assert state["session"] == "regular"
    assert [(o["client_order_id"], o["submit_count"]) for o in state["orders"]] == [("rec-1", 1)]
    assert [(f["client_order_id"], D(f["price"]), f["qty"]) for f in state["fills"]] == [
        ("rec-1", ask, "2")
    ]
    assert D(state["cash"]) == D(100_000) - 2 * ask
    assert state["positions"][0]["qty"] == "2"

    fault = {"status": 503, "count": 1, "path": "/v2/clock"}
    assert requests.post(admin + "/faults", json=fault, timeout=5).ok
    assert refused(client.get_clock).status_code == 503
    requests.post(admin + "/faults", json=fault, timeout=5)
    requests.delete(admin + "/faults", timeout=5)
    assert client.get_clock().is_open
    assert requests.post(admin + "/drop", json={"stream": "all"}, timeout=5).json() == {
        "dropped": 0
    }
    bad = requests.post(admin + "/step", json={"seconds": -1}, timeout=5)
    assert bad.status_code == 400


def test_same_seed_same_market_other_seed_other_market(
    make_venue: Callable[..., Venue],
) -> None:
    def run(seed: int) -> tuple[Any, ...]:
        venue = make_venue(seed=seed)
        client = TradingClient(KEY, SECRET, url_override=venue.url)
        order = client.submit_order(limit("TSLA", 5, float(venue.quote("TSLA").bid)))
        venue.step(120)
        return venue.quote("TSLA"), reload(client, order).filled_avg_price

    assert run(7) == run(7)
    assert run(7)[0] != run(8)[0]


def test_real_time_mode_moves_the_clock_by_itself(make_venue: Callable[..., Venue]) -> None:
    venue = make_venue(realtime=True, speed=600)
    client = TradingClient(KEY, SECRET, url_override=venue.url)
    start_quote = venue.quote("AAPL")
    wait_for(lambda: client.get_clock().timestamp > et(3, 10), "the clock to move")
    wait_for(lambda: venue.quote("AAPL").t_ns > start_quote.t_ns, "a new quote")


def test_command_line_server_prints_how_to_connect() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tradenode_alpaca.loopback",
            "--port",
            "0",
            "--manual",
            "--start",
            "2024-06-03T10:00:00-04:00",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout], daemon=True
    ).start()
    try:
        first = lines.get(timeout=20)
        assert first.startswith("Loopback Alpaca at http://127.0.0.1:")
        url = first.split()[-1]
        client = TradingClient("loopback-key", "loopback-secret", url_override=url)
        assert client.get_clock().timestamp == et(3, 10)
        printed = "".join(lines.get(timeout=5) for _ in range(6))
        assert f'TradingClient(key, secret, url_override="{url}")' in printed
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_asyncio_server_runs_inside_the_callers_loop() -> None:
    async def scenario() -> OrderStatus:
        server = AlpacaLoopback(LoopbackConfig(api_key=KEY, secret_key=SECRET))
        await server.start()
        try:
            client = TradingClient(KEY, SECRET, url_override=server.url)
            order = await asyncio.to_thread(client.submit_order, limit("AAPL", 1, 189.0))
            server.set_price("AAPL", D("188"))  # control methods run on the server's loop
            return (await asyncio.to_thread(client.get_order_by_id, order.id)).status
        finally:
            await server.stop()

    assert asyncio.run(asyncio.wait_for(scenario(), timeout=20)) == OrderStatus.FILLED
