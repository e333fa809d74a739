"""The IB venue in a whole live node, trading through the real ib_async client with the fake
TWS on loopback: connection, instruments, account, market data, every order type, rejections,
cancels, TWS's notices and unreadable frames.

Prices move only when a test moves them (``set_quote``), so every fill is deterministic; what the
node published is compared with what the fake broker recorded.
"""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from ib_node import CLIENT_ID, order
from tradenode_ib.messages import IbAccountUpdated

from node.messages import (
    FILL_TYPES,
    BalancesUpdated,
    BookLevel,
    BookSnapshot,
    InstrumentHalted,
    InstrumentsLoaded,
    NodeReady,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    ParentOrderCompleted,
    SubmitParentOrder,
    TradeTick,
    VenueConnected,
    VenueDisconnected,
    VenueReconciled,
    VenueStatus,
)

D = Decimal


def test_connects_with_instruments_account_books_and_a_reconciliation(make_node):
    node = make_node()
    ready = node.wait(NodeReady)
    assert ready.missing == {}
    (loaded,) = node.of(InstrumentsLoaded)
    instruments = {i.symbol: i for i in loaded.instruments}
    aapl, es, eur = instruments["AAPL"], instruments["ES"], instruments["EUR/USD"]
    assert (aapl.asset_class, aapl.base, aapl.quote) == ("stock", "AAPL", "USD")
    assert (aapl.tick_size, aapl.lot_size, aapl.multiplier) == (D("0.01"), D(1), D(1))
    assert (es.asset_class, es.venue_symbol, es.multiplier) == ("future", "ESH7", D(50))
    assert (es.tick_size, es.settlement) == (D("0.25"), "USD")
    assert (eur.asset_class, eur.base, eur.quote, eur.venue_symbol) == (
        "fx",
        "EUR",
        "USD",
        "EUR.USD",
    )
    assert eur.tick_size == D("0.00005")

    # at connect, then again from the reconciliation's answer (after the fills it found)
    assert [b.balances["USD"].total for b in node.of(BalancesUpdated)] == [D(1_000_000)] * 2
    account = node.of(IbAccountUpdated)[0]
    assert (account.account, account.currency, account.net_liquidation) == (
        "DU123456",
        "USD",
        D(1_000_000),
    )
    assert account.values["BuyingPower"] == D(4_000_000)

    market = node.node.market
    assert market.book("ib", "AAPL").top() == (D("230.00"), D("230.01"))
    assert market.book("ib", "AAPL").levels("buy") == [BookLevel(D("230.00"), D(300))]
    es_book = market.book("ib", "ES")  # five rows of depth
    assert [lv.price for lv in es_book.levels("buy")] == [
        D("6000"),
        D("5999.75"),
        D("5999.50"),
        D("5999.25"),
        D("5999.00"),
    ]
    assert [lv.size for lv in es_book.levels("sell")] == [D(12), D(25), D(40), D(60), D(80)]
    assert market.book("ib", "EUR/USD").top() == (D("1.085"), D("1.08505"))

    (reconciled,) = node.of(VenueReconciled)
    assert reconciled.error == "" and reconciled.fills == [] and reconciled.unknown == []
    assert {p.symbol: p.quantity for p in reconciled.positions} == {
        "AAPL": 0,
        "ES": 0,
        "EUR/USD": 0,
    }
    farms = {s.detail.split(" (code")[0] for s in node.of(VenueStatus)}
    assert "Market data farm connection is OK:usfarm" in farms
    assert any(s.status == "market data farm OK" for s in node.of(VenueStatus))


def test_a_routed_stock_buy_fills_with_ibs_commissions_and_the_ledger_agrees(make_node, tws):
    node = make_node()
    node.wait(NodeReady)
    node.node.submit(SubmitParentOrder(parent_id="p1", symbol="AAPL", side="buy", quantity=D(500)))
    done = node.wait(ParentOrderCompleted)
    assert done.status == "filled" and done.report.filled_quantity == D(500)

    executions = tws.executions()
    fills = node.recorder.of_type(*FILL_TYPES)
    # every IB execution is one fill of the node, with IB's execution id and commission
    assert sorted((f.trade_id, f.quantity, f.price, f.fee) for f in fills) == sorted(
        (e.exec_id, e.shares, e.price, e.commission) for e in executions
    )
    assert {e.order_ref for e in executions} <= {f.client_order_id for f in fills}
    assert set(tws.placements().values()) == {1}  # no child order placed twice
    assert done.report.fees == sum(e.commission for e in executions) == D("2.5")

    # after IB's account update the ledger holds exactly IB's cash and shares
    cash = tws.cash()["USD"]
    node.wait(
        BalancesUpdated,
        lambda b: (
            b.balances.get("AAPL", None) is not None
            and b.balances["AAPL"].total == 500
            and b.balances["USD"].total == cash
        ),
    )
    node.eventually(
        lambda: node.ledger().balances["ib"] == {"USD": cash, "AAPL": D(500)},
        "the ledger holds IB's cash and shares",
    )
    assert not node.of(InstrumentHalted)


def test_every_order_type_and_time_in_force_reaches_ib_with_the_orderref(make_node, tws):
    node = make_node()
    node.wait(NodeReady)
    node.submit(order("lmt", "buy", "100", limit_price="229.50"))
    node.submit(order("stp", "sell", "100", "stop", stop_price="229.00", time_in_force="day"))
    node.submit(
        order("stplmt", "buy", "100", "stop_limit", limit_price="231.02", stop_price="231.00")
    )
    for cid in ("lmt", "stp", "stplmt"):
        node.wait(OrderAccepted, lambda m, cid=cid: m.client_order_id == cid)
    sent = {o.order_ref: o.request for o in tws.orders()}
    assert (sent["lmt"].order_type, sent["lmt"].tif, sent["lmt"].lmt_price) == (
        "LMT",
        "GTC",
        D("229.50"),
    )
    assert (sent["stp"].order_type, sent["stp"].tif, sent["stp"].aux_price) == (
        "STP",
        "DAY",
        D("229.00"),
    )
    assert (sent["stplmt"].order_type, sent["stplmt"].lmt_price, sent["stplmt"].aux_price) == (
        "STP LMT",
        D("231.02"),
        D("231.00"),
    )
    assert not node.fills("lmt")

    tws.set_quote("AAPL", "229.00", "229.02")  # through the resting limit; the stop fires
    lmt = node.wait(OrderFilled, lambda m: m.client_order_id == "lmt")
    assert (lmt.price, lmt.quantity, lmt.liquidity) == (D("229.50"), D(100), "maker")
    stp = node.wait(OrderFilled, lambda m: m.client_order_id == "stp")
    assert (stp.side, stp.price, stp.liquidity) == ("sell", D("229.00"), "taker")

    tws.set_quote("AAPL", "231.05", "231.06")  # triggers the stop limit, above its limit
    tws.set_quote("AAPL", "231.00", "231.02")
    stop_limit = node.wait(OrderFilled, lambda m: m.client_order_id == "stplmt")
    assert stop_limit.price == D("231.02")

    node.submit(order("mkt", "buy", "10", "market", time_in_force="day"))
    node.submit(order("ioc", "buy", "1000", limit_price="231.03", time_in_force="ioc"))
    assert node.wait(OrderFilled, lambda m: m.client_order_id == "mkt").quantity == 10
    expired = node.wait(OrderExpired, lambda m: m.client_order_id == "ioc")
    assert expired.filled_quantity == sum(f.quantity for f in node.fills("ioc")) > 0
    assert expired.reason == "immediate-or-cancel remainder"
    assert sent.keys() <= tws.placements().keys()
    assert set(tws.placements().values()) == {1}
    for cid in ("lmt", "stp", "stplmt", "mkt"):
        assert node.events(cid)[-1] == "OrderFilled"
        assert node.events(cid).count("OrderAccepted") == 1


def test_cancels_and_rejections_carry_the_reason(make_node, tws):
    node = make_node()
    node.wait(NodeReady)
    node.submit(order("rest", "buy", "100", limit_price="225.00", time_in_force="day"))
    node.wait(OrderAccepted, lambda m: m.client_order_id == "rest")
    node.cancel("rest", "no longer wanted")
    canceled = node.wait(OrderCanceled, lambda m: m.client_order_id == "rest")
    assert (canceled.reason, canceled.filled_quantity) == ("no longer wanted", 0)
    assert [o.status for o in tws.orders() if o.order_ref == "rest"] == ["Cancelled"]
    node.cancel("rest")
    again = node.wait(OrderCancelRejected, lambda m: m.client_order_id == "rest")
    assert "already finished" in again.reason
    node.cancel("never-sent")
    assert (
        "no order never-sent"
        in node.wait(OrderCancelRejected, lambda m: m.client_order_id == "never-sent").reason
    )

    # TWS refuses: not enough margin for 1000 E-minis (error 201)
    node.submit(order("big", "buy", "1000", "market", symbol="ES", time_in_force="day"))
    refused = node.wait(OrderRejected, lambda m: m.client_order_id == "big")
    assert refused.reason.startswith("IB 201 (order rejected): Order rejected - reason:")
    assert "AVAILABLE FUNDS" in refused.reason
    assert [r.rejected.code for r in tws.received_orders() if r.order_ref == "big"] == [201]

    # the node refuses what IB would, before sending it
    refusals = {
        "tick": order("tick", "buy", "1", limit_price="229.995"),
        "fok": order("fok", "buy", "1", limit_price="229.99", time_in_force="fok"),
        "post": order("post", "buy", "1", limit_price="229.99", post_only=True),
        "lot": order("lot", "buy", "0.5", limit_price="229.99"),
        "nosym": order("nosym", "buy", "1", limit_price="1.00", symbol="TSLA"),
    }
    for o in refusals.values():
        node.submit(o)
    reasons = {
        cid: node.wait(OrderRejected, lambda m, cid=cid: m.client_order_id == cid).reason
        for cid in refusals
    }
    assert reasons["tick"] == "limit price 229.995 is not on tick size 0.01"
    assert "time in force fok" in reasons["fok"]
    assert reasons["post"] == "IB has no post-only orders"
    assert reasons["lot"] == "quantity 0.5 is not a positive multiple of lot size 1"
    assert reasons["nosym"].startswith("TSLA is not a contract of this venue")
    assert not set(refusals) & set(tws.placements())


def test_futures_and_fx_fill_and_move_cash_as_ib_does(make_node, tws):
    node = make_node()
    node.wait(NodeReady)
    node.submit(order("es", "buy", "2", "market", symbol="ES", time_in_force="day"))
    node.submit(order("fx", "buy", "100000", "market", symbol="EUR/USD", time_in_force="day"))
    es = node.wait(OrderFilled, lambda m: m.client_order_id == "es")
    fx = node.wait(OrderFilled, lambda m: m.client_order_id == "fx")
    assert (es.price, es.fee, es.fee_currency) == (D("6000.25"), D("1.7"), "USD")
    assert (fx.price, fx.fee) == (D("1.08505"), D("2.1701"))
    cash = tws.cash()
    balances = node.wait(
        BalancesUpdated,
        lambda b: (
            b.balances.get("EUR") is not None
            and b.balances["USD"].total == cash["USD"].quantize(D("0.01"))
        ),
    ).balances
    assert balances["EUR"].total == D(100_000)
    assert "ES" not in balances  # a future moves no base balance, only its P&L and commission
    node.eventually(
        lambda: (
            (node.ledger().quantity("ES", "ib"), node.ledger().quantity("EUR/USD", "ib"))
            == (2, 100_000)
        ),
        "the ledger holds 2 ES and 100000 EUR/USD",
    )


def test_trades_are_published_with_the_aggressor_from_the_quote(make_node, tws):
    node = make_node()
    node.wait(NodeReady)
    node.submit(order("take", "buy", "100", "market", time_in_force="day"))
    node.wait(OrderFilled, lambda m: m.client_order_id == "take")
    trade = node.wait(TradeTick, lambda t: t.symbol == "AAPL")
    assert (trade.price, trade.size, trade.aggressor) == (D("230.01"), D(100), "buy")
    node.wait(
        BookSnapshot,
        lambda b: b.symbol == "AAPL" and b.asks[:1] == [BookLevel(D("230.01"), D(200))],
    )


def test_connectivity_notices_take_the_venue_down_and_back(make_node, tws):
    node = make_node()
    node.wait(NodeReady)
    assert tws.connectivity_lost() == 1
    down = node.wait(VenueDisconnected, lambda m: "1100" in m.reason)
    assert down.reconnecting
    assert down.reason.startswith("IB 1100 (connectivity between IB and TWS lost)")
    node.submit(order("while-lost", "buy", "1", limit_price="229.00"))
    refused = node.wait(OrderRejected, lambda m: m.client_order_id == "while-lost")
    assert refused.reason.startswith("venue ib is down: IB 1100")
    tws.connectivity_restored()
    node.connected(count=2)
    node.wait(VenueReconciled, count=2)
    assert node.wait(VenueStatus, lambda s: "restored" in s.status).status == (
        "connectivity restored, data maintained"
    )
    node.submit(order("after", "buy", "1", "market", time_in_force="day"))
    node.wait(OrderFilled, lambda m: m.client_order_id == "after")
    assert "while-lost" not in tws.placements()


def test_unreadable_frames_are_logged_with_the_frame_and_the_node_carries_on(
    make_node, tws, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.WARNING, logger="tradenode.venue.ib")
    node = make_node()
    node.wait(NodeReady)
    tws.send_frame(["999", "1", "what"])  # a message id ib_async does not know
    tws.send_frame(["5", "1", "garbage"])  # an openOrder cut short
    tws.send_frame(["1", "6", "not-a-number", "1", "x", "y", "0"])  # a tick with no number
    tws.send_bytes(b"")  # an empty frame
    tws.send_bytes(b"\xff\xfe\0")  # not even UTF-8
    statuses = [
        node.wait(VenueStatus, lambda s: s.status == "unreadable frame from TWS", count=n)
        for n in range(1, 6)
    ]
    details = [s.detail for s in statuses]
    assert details[0] == "#1: unknown or missing message id: 999\\0" + "1\\0what"
    assert "garbage" in details[1] and "not-a-number" in details[2]
    logged = [r.getMessage() for r in caplog.records if r.name == "tradenode.venue.ib"]
    assert any("unreadable frame" in m and "999\\\\01\\\\0what" in m for m in logged)
    node.node.submit(
        SubmitParentOrder(parent_id="after", symbol="AAPL", side="buy", quantity=D(10))
    )
    assert node.wait(ParentOrderCompleted).status == "filled"
    assert node.of(VenueConnected) and not node.of(VenueDisconnected)


def test_a_client_id_in_use_is_reported_at_once_and_retried(make_node, tws):
    first = make_node("first")
    first.wait(NodeReady)
    second = make_node("second", extra="")  # the same client id; connect_timeout_s = 5
    refused = second.wait(VenueDisconnected)
    assert "IB 326 (client id already in use)" in refused.reason
    assert refused.reconnecting
    assert tws.client_ids == [CLIENT_ID]
    first.stop()
    second.connected()
    assert tws.client_ids == [CLIENT_ID]
