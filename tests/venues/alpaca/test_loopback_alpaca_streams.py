"""The loopback Alpaca's websockets through alpaca-py's own ``TradingStream`` and
``StockDataStream``: events parse into alpaca-py's models, carry what the REST API reports, and
a dropped connection is noticed, re-established, and not replayed.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from alpaca.data.live.stock import StockDataStream
from alpaca.data.models import Bar, Quote, Trade
from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, OrderStatus, TimeInForce
from alpaca.trading.models import TradeUpdate
from alpaca.trading.requests import LimitOrderRequest, MarketOrderRequest, ReplaceOrderRequest
from alpaca.trading.stream import TradingStream
from alpaca_loopback_support import KEY, SECRET, StreamRunner
from tradenode_alpaca.loopback import ThreadedAlpacaLoopback
from waiting import wait_for

D = Decimal
Venue = ThreadedAlpacaLoopback
RunStream = Callable[[Any], StreamRunner]


def collect(into: list[Any]) -> Callable[[Any], Any]:
    async def handler(item: Any) -> None:
        into.append(item)

    return handler


def events_of(updates: list[TradeUpdate], order_id: uuid.UUID) -> list[TradeUpdate]:
    return [u for u in list(updates) if u.order.id == order_id]


def listening_stream(venue: Venue, run_stream: RunStream, into: list[TradeUpdate]) -> None:
    stream = TradingStream(KEY, SECRET, url_override=venue.stream_url)
    stream.subscribe_trade_updates(collect(into))
    run_stream(stream)
    wait_for(lambda: venue.listeners() == 1, "the trade stream to listen")


def settle(venue: Venue, received: list[Any], symbol: str) -> None:
    """Wait until the quote of the latest tick has arrived (the stream keeps order)."""
    latest = venue.quote(symbol).t_ns
    wait_for(
        lambda: any(
            isinstance(x, Quote) and x.timestamp.timestamp() * 1e9 == latest for x in received
        ),
        "the stream to catch up",
    )


def attempt_to_start(stream: Any) -> None:
    """Run a stream's own connect-and-authenticate step once, bounded."""

    async def attempt() -> None:
        try:
            await stream._start_ws()
        finally:
            await stream.close()

    asyncio.run(asyncio.wait_for(attempt(), timeout=10))


def test_fill_events_carry_price_qty_position_and_execution_id(
    make_venue: Callable[..., Venue], run_stream: RunStream
) -> None:
    venue = make_venue(cash=D(1_000_000))
    client = TradingClient(KEY, SECRET, url_override=venue.url)
    updates: list[TradeUpdate] = []
    listening_stream(venue, run_stream, updates)

    quote = venue.set_price("AAPL", D("190"))
    qty = quote.ask_size + 150
    order = client.submit_order(
        MarketOrderRequest(symbol="AAPL", qty=qty, side=OrderSide.BUY, time_in_force="day")
    )
    for _ in range(50):
        if client.get_order_by_id(order.id).status == OrderStatus.FILLED:
            break
        venue.step(1)
    seen = wait_for(
        lambda: (e := events_of(updates, order.id)) and e[-1].event == "fill" and e,
        "the fill event",
    )
    assert all(isinstance(u, TradeUpdate) for u in seen)
    assert seen[0].event == "new" and seen[0].order.status == OrderStatus.NEW
    executions = seen[1:]
    assert {u.event for u in executions[:-1]} == {"partial_fill"}
    assert (executions[0].price, executions[0].qty) == (float(quote.ask), quote.ask_size)
    assert executions[0].position_qty == quote.ask_size
    assert sum(u.qty for u in executions) == qty
    assert executions[-1].position_qty == qty
    assert executions[-1].order.status == OrderStatus.FILLED
    assert executions[-1].order.filled_qty == str(qty)

    # The execution ids are the ones the FILL activities report: what reconciliation joins on.
    activities = client.get("/account/activities/FILL", {"direction": "asc"})
    assert [u.execution_id for u in executions] == [
        uuid.UUID(a["id"].split("::")[1]) for a in activities
    ]
    assert [u.timestamp for u in executions] == [
        client.get_order_by_id(order.id).submitted_at + timedelta(seconds=i)
        for i in range(len(executions))
    ]


def test_cancel_replace_expire_and_reject_events(venue: Venue, run_stream: RunStream) -> None:
    client = TradingClient(KEY, SECRET, url_override=venue.url)
    updates: list[TradeUpdate] = []
    listening_stream(venue, run_stream, updates)

    def limit(price: float) -> LimitOrderRequest:
        return LimitOrderRequest(
            symbol="AAPL",
            qty=1,
            side=OrderSide.BUY,
            time_in_force=TimeInForce.DAY,
            limit_price=price,
        )

    canceled = client.submit_order(limit(150.0))
    client.cancel_order_by_id(canceled.id)
    old = client.submit_order(limit(151.0))
    new = client.replace_order_by_id(old.id, ReplaceOrderRequest(limit_price=152))
    venue.reject_next_orders(1)
    rejected = client.submit_order(limit(153.0))
    venue.step(6 * 3600)  # to the close: the replacement expires

    def names(order_id: uuid.UUID) -> list[str]:
        return [u.event for u in events_of(updates, order_id)]

    wait_for(lambda: names(new.id) == ["new", "expired"], "the expiry")
    assert names(canceled.id) == ["new", "canceled"]
    assert names(old.id) == ["new", "replaced"]
    assert names(rejected.id) == ["rejected"]
    replaced = events_of(updates, old.id)[-1].order
    assert (replaced.status, replaced.replaced_by) == (OrderStatus.REPLACED, new.id)
    assert events_of(updates, rejected.id)[0].order.failed_at is not None


def test_trade_stream_refuses_wrong_credentials(venue: Venue) -> None:
    stream = TradingStream(KEY, "wrong", url_override=venue.stream_url)
    with pytest.raises(ValueError, match="failed to authenticate"):
        attempt_to_start(stream)


def test_dropped_trade_stream_reconnects_and_does_not_replay(
    venue: Venue, run_stream: RunStream, caplog: pytest.LogCaptureFixture
) -> None:
    client = TradingClient(KEY, SECRET, url_override=venue.url)
    updates: list[TradeUpdate] = []
    listening_stream(venue, run_stream, updates)
    caplog.set_level(logging.WARNING, logger="alpaca.trading.stream")

    assert venue.drop_streams("trade_updates") == 1
    # Nobody listens now: this order's events are published to no one.
    missed = client.submit_order(
        MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force="day")
    )
    assert venue.listeners() == 0  # alpaca-py waits at least half a second before reconnecting
    wait_for(lambda: venue.listeners() == 1, "alpaca-py to reconnect")
    assert "trading stream websocket error" in caplog.text

    later = client.submit_order(
        MarketOrderRequest(symbol="AAPL", qty=1, side=OrderSide.BUY, time_in_force="day")
    )
    wait_for(lambda: [u.event for u in events_of(updates, later.id)] == ["new", "fill"], "events")
    assert events_of(updates, missed.id) == []
    # What a node must do after a reconnect: ask REST.
    assert client.get_order_by_id(missed.id).status == OrderStatus.FILLED


def test_quotes_trades_and_bars_parse_into_alpaca_models(
    venue: Venue, run_stream: RunStream
) -> None:
    received: list[Any] = []
    stream = StockDataStream(KEY, SECRET, url_override=venue.data_stream_url)
    stream.subscribe_quotes(collect(received), "AAPL")
    stream.subscribe_trades(collect(received), "AAPL")
    stream.subscribe_bars(collect(received), "AAPL")
    run_stream(stream)
    wait_for(lambda: venue.step(1) and received, "the first quote")
    settle(venue, received, "AAPL")

    start = len(received)
    venue.step(150)
    end_quote = venue.quote("AAPL")
    quotes = wait_for(
        lambda: (
            (q := [x for x in received[start:] if isinstance(x, Quote)]) and len(q) == 150 and q
        ),
        "150 quotes",
    )
    window = received[start:]
    assert {type(x) for x in window} == {Quote, Trade, Bar}
    assert all(x.symbol == "AAPL" for x in window)
    last = quotes[-1]
    assert (D(str(last.bid_price)), D(str(last.ask_price))) == (end_quote.bid, end_quote.ask)
    assert (last.bid_size, last.ask_size) == (end_quote.bid_size, end_quote.ask_size)
    assert last.timestamp.timestamp() * 1e9 == end_quote.t_ns
    gaps = [b.timestamp - a.timestamp for a, b in itertools.pairwise(quotes)]
    assert gaps == [timedelta(seconds=1)] * 149
    assert last.bid_exchange == "V"  # IEX

    # Each bar summarises the trades of its minute.
    trades = [x for x in window if isinstance(x, Trade)]
    first_trade = trades[0].timestamp
    bars = [b for b in window if isinstance(b, Bar) and b.timestamp >= first_trade]
    assert bars
    for bar in bars:
        minute = [
            t
            for t in trades
            if bar.timestamp <= t.timestamp < bar.timestamp + timedelta(seconds=60)
        ]
        assert bar.volume == sum(t.size for t in minute)
        assert (bar.open, bar.close) == (minute[0].price, minute[-1].price)
        assert (bar.high, bar.low) == (max(t.price for t in minute), min(t.price for t in minute))
        assert bar.trade_count == len(minute)


def test_data_stream_refusals(venue: Venue, run_stream: RunStream) -> None:
    wrong = StockDataStream(KEY, "wrong", url_override=venue.data_stream_url)
    with pytest.raises(ValueError, match="auth failed"):
        attempt_to_start(wrong)
    sip = StockDataStream(KEY, SECRET, url_override=venue.data_stream_url.replace("iex", "sip"))
    with pytest.raises(ValueError, match="insufficient subscription"):
        attempt_to_start(sip)

    received: list[Any] = []
    first = StockDataStream(KEY, SECRET, url_override=venue.data_stream_url)
    first.subscribe_quotes(collect(received), "NVDA")
    run_stream(first)
    wait_for(lambda: venue.step(1) and received, "the first connection's quotes")
    second = StockDataStream(KEY, SECRET, url_override=venue.data_stream_url)
    with pytest.raises(ValueError, match="connection limit exceeded"):
        attempt_to_start(second)


def test_dropped_data_stream_reconnects_and_resubscribes(
    venue: Venue, run_stream: RunStream, caplog: pytest.LogCaptureFixture
) -> None:
    received: list[Quote] = []
    stream = StockDataStream(KEY, SECRET, url_override=venue.data_stream_url)
    stream.subscribe_quotes(collect(received), "TSLA")
    run_stream(stream)
    caplog.set_level(logging.WARNING, logger="alpaca.data.live.websocket")
    wait_for(lambda: venue.step(1) and received, "quotes before the drop")

    assert venue.drop_streams("market_data") == 1
    before = len(received)
    wait_for(lambda: venue.step(1) and len(received) > before, "quotes after reconnecting")
    assert "data websocket error" in caplog.text
    assert received[-1].timestamp > received[before - 1].timestamp
