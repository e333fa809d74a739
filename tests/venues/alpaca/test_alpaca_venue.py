"""The Alpaca venue inside a whole node (live runtime), against the loopback Alpaca through the
real alpaca-py clients: what it loads, how orders travel and come back, what it refuses and
why, and that a lost answer, a dropped stream or a restart neither loses a fill nor places an
order twice. Expected numbers come from the loopback's own records (its orders, executions,
account), never from the venue's arithmetic."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alpaca_loopback_support import KEY, SECRET
from alpaca_node_support import LiveNode, config_text, fills_in, until
from tradenode_alpaca.loopback import ThreadedAlpacaLoopback

from node.messages import (
    BalancesUpdated,
    CancelOrder,
    InstrumentHalted,
    InstrumentsLoaded,
    NodeReady,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    ParentOrderCompleted,
    SubmitOrder,
    SubmitParentOrder,
    VenueConnected,
    VenueDisconnected,
    VenueReconciled,
)
from node.plugins import Plugins, load_plugins

D = Decimal
ET = ZoneInfo("America/New_York")
Venue = ThreadedAlpacaLoopback
SYMBOLS = ["AAPL", "TSLA", "NVDA", "ZVZZT"]
#: By default risk halts trading when a venue with open orders drops (and cancels them); these
#: tests ride through the drop, as a node configured to trust its venue's reconnection does.
RIDE_THROUGH = "[risk]\nhalt_on_disconnect = false\n"


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    return load_plugins()


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TN_TEST_ALPACA_KEY", KEY)
    monkeypatch.setenv("TN_TEST_ALPACA_SECRET", SECRET)


def alpaca(venue: Venue, **settings: Any) -> dict[str, Any]:
    return {
        "plugin": "alpaca",
        "key_env": "TN_TEST_ALPACA_KEY",
        "secret_env": "TN_TEST_ALPACA_SECRET",
        "symbols": SYMBOLS,
        "base_url": venue.url,
        "rest_retry_wait_s": 0,
        "clock_refresh_s": 0,
        **settings,
    }


@pytest.fixture
def start(tmp_path: Path, plugins: Plugins) -> Iterator[Callable[..., LiveNode]]:
    """Start a node on a loopback; steps the loopback's clock until its books are in."""
    nodes: list[LiveNode] = []

    def make(venue: Venue, name: str = "node", extra: str = "", **settings: Any) -> LiveNode:
        text = config_text({"alpaca": alpaca(venue, **settings)}, extra)
        node = LiveNode(tmp_path / name, plugins, text)
        nodes.append(node)
        node.start()
        until(lambda: node.of(NodeReady), "the node to be ready", step=lambda: venue.step(1))
        (ready,) = node.of(NodeReady)
        assert ready.missing == {}
        return node

    yield make
    for node in nodes:
        node.stop()


def pinned(node: LiveNode, venue: Venue, symbol: str, mid: str) -> Any:
    """Move the loopback's quote and wait until the node's book shows it."""
    quote = venue.set_price(symbol, D(mid))
    until(
        lambda: node.market.book("alpaca", symbol).top() == (quote.bid, quote.ask),
        f"the {symbol} book to show {quote}",
    )
    return quote


def child(cid: str, symbol: str, quantity: str, price: str | None, **kw: Any) -> SubmitOrder:
    kw.setdefault("time_in_force", "day")
    return SubmitOrder(
        client_order_id=cid,
        venue="alpaca",
        symbol=symbol,
        side=kw.pop("side", "buy"),
        quantity=D(quantity),
        order_type="limit" if price is not None else "market",
        limit_price=D(price) if price is not None else None,
        **kw,
    )


def executions_of(venue: Venue, cid: str) -> set[tuple[str, Decimal, Decimal]]:
    return {
        (f["id"].split("::")[1], D(f["price"]), D(f["qty"]))
        for f in venue.records()["fills"]
        if f["client_order_id"] == cid
    }


def journal_fills_of(node: LiveNode, cid: str) -> list[tuple[str, Decimal, Decimal]]:
    return [
        (f.trade_id, f.price, f.quantity)
        for f in fills_in(node.journal())
        if f.client_order_id == cid
    ]


# -- connecting -----------------------------------------------------------------------------------


def test_connect_loads_stocks_balances_and_books(
    make_venue: Callable[..., Venue], start: Callable[..., LiveNode]
) -> None:
    venue = make_venue(cash=D(50_000))
    node = start(venue)
    (connected,) = node.of(VenueConnected, venue="alpaca")
    caps = connected.capabilities
    assert (caps.reconciles, caps.post_only) == (True, False)
    assert set(caps.time_in_force) == {"day", "gtc", "ioc", "fok", "opg", "cls"}
    instruments = {i.symbol: i for i in node.of(InstrumentsLoaded, venue="alpaca")[0].instruments}
    assert set(instruments) == set(SYMBOLS)
    aapl = instruments["AAPL"]
    assert (aapl.asset_class, aapl.base, aapl.quote, aapl.lot_size, aapl.tick_size) == (
        "stock",
        "AAPL",
        "USD",
        D(1),
        D("0.01"),
    )
    # ZVZZT trades below $1: once its book shows it, Alpaca's finer tick applies.
    node.wait(InstrumentsLoaded, "ZVZZT's sub-penny tick", venue="alpaca")
    until(
        lambda: node.market.instrument("alpaca", "ZVZZT").tick_size == D("0.0001"),
        "ZVZZT's tick to follow its price band",
    )
    balances = node.of(BalancesUpdated, venue="alpaca")[0].balances
    assert balances["USD"].total == balances["USD"].free == D(50_000)
    assert all(balances[s].total == 0 for s in SYMBOLS)
    (reconciled,) = node.of(VenueReconciled, venue="alpaca")
    assert reconciled.error == "" and {p.quantity for p in reconciled.positions} == {D(0)}
    quote = pinned(node, venue, "NVDA", "121.5")
    assert node.market.mark("NVDA", "alpaca") == (quote.bid + quote.ask) / 2


# -- trading --------------------------------------------------------------------------------------


def test_parents_fill_once_and_the_account_agrees_with_alpaca(
    make_venue: Callable[..., Venue], start: Callable[..., LiveNode]
) -> None:
    venue = make_venue(cash=D(100_000))
    node = start(venue)
    wanted = {"AAPL": ("190", "40"), "TSLA": ("250", "25"), "NVDA": ("120", "60")}
    for symbol, (mid, quantity) in wanted.items():
        pinned(node, venue, symbol, mid)  # quotes show at least 100 shares: one child fills
        node.submit(
            SubmitParentOrder(
                parent_id=f"buy-{symbol}", symbol=symbol, side="buy", quantity=D(quantity)
            )
        )
        done = node.wait(ParentOrderCompleted, parent_id=f"buy-{symbol}")
        assert (done.status, done.report.filled_quantity) == ("filled", D(quantity))
    node.submit(
        SubmitParentOrder(parent_id="sell-AAPL", symbol="AAPL", side="sell", quantity=D(15))
    )
    assert node.wait(ParentOrderCompleted, parent_id="sell-AAPL").status == "filled"
    records = venue.records()
    # Every child reached Alpaca once, and every execution is in the journal once.
    assert set(Counter(records["submissions"]).values()) == {1}
    journal = node.journal()
    fills = fills_in(journal)
    assert sorted((f.client_order_id, f.trade_id, f.price, f.quantity) for f in fills) == sorted(
        (f["client_order_id"], f["id"].split("::")[1], D(f["price"]), D(f["qty"]))
        for f in records["fills"]
    )
    assert all(f.fee == 0 and f.fee_currency == "USD" for f in fills)
    # Once nothing works, what the venue says of the account is Alpaca's account.
    account = records["account"]
    positions = {p["symbol"]: D(p["qty"]) for p in records["positions"]}
    assert positions == {"AAPL": D(25), "TSLA": D(25), "NVDA": D(60)}

    def agrees() -> bool:
        last = node.of(BalancesUpdated, venue="alpaca")[-1].balances
        return last["USD"].total == D(account["cash"]) and all(
            last[s].total == positions.get(s, 0) for s in SYMBOLS
        )

    until(agrees, "the balances to agree with Alpaca's account")
    assert node.of(InstrumentHalted) == []


def test_refusals_say_why(make_venue: Callable[..., Venue], start: Callable[..., LiveNode]) -> None:
    venue = make_venue(cash=D(1_000))
    node = start(venue)
    pinned(node, venue, "AAPL", "190")
    node.send_order(child("poor-1", "AAPL", "100", "190.00"))
    node.send_order(child("whole-1", "ZVZZT", "1.5", "0.85"))
    node.send_order(child("half-1", "AAPL", "0.5", "190.00"))
    node.send_order(child("tick-1", "AAPL", "1", "190.001"))
    poor = node.wait(OrderRejected, client_order_id="poor-1")
    assert poor.reason.startswith("Alpaca refused the order: insufficient buying power")
    assert "buying_power 1000" in poor.reason and "cost_basis 19000" in poor.reason
    assert node.wait(OrderRejected, client_order_id="whole-1").reason == (
        "ZVZZT is not fractionable at Alpaca: 1.5 must be a whole number of shares"
    )
    assert "fractional shares are off" in node.wait(OrderRejected, client_order_id="half-1").reason
    assert "off Alpaca's tick" in node.wait(OrderRejected, client_order_id="tick-1").reason
    # Only the order Alpaca had to judge reached it.
    assert venue.records()["submissions"] == {"poor-1": 1}


def test_a_margin_account_publishes_its_cash_as_free_unless_margin_is_on(
    make_venue: Callable[..., Venue], start: Callable[..., LiveNode]
) -> None:
    # Alpaca's default account (paper included) is a margin account: twice the equity to spend.
    venue = make_venue(cash=D(50_000), multiplier=2)
    account = venue.records()["account"]
    assert (D(account["cash"]), D(account["buying_power"])) == (D(50_000), D(100_000))
    node = start(venue, name="cash")
    usd = node.of(BalancesUpdated, venue="alpaca")[0].balances["USD"]
    assert (usd.total, usd.free) == (D(50_000), D(50_000))
    (reconciled,) = node.of(VenueReconciled, venue="alpaca")
    assert reconciled.balances["USD"].free == D(50_000)
    node.stop()  # the loopback takes one market-data connection per key

    margin = start(venue, name="margin", margin=True)
    usd = margin.of(BalancesUpdated, venue="alpaca")[0].balances["USD"]
    assert (usd.total, usd.free) == (D(50_000), D(100_000))


def test_a_sell_beyond_the_position_of_a_stock_alpaca_cannot_short_is_never_sent(
    make_venue: Callable[..., Venue], start: Callable[..., LiveNode]
) -> None:
    # A margin account may short, but not ZVZZT: the loopback's assets say it is not shortable.
    venue = make_venue(multiplier=2)
    node = start(venue)
    quote = pinned(node, venue, "ZVZZT", "0.85")
    node.send_order(child("short-z", "ZVZZT", "100", str(quote.bid), side="sell"))
    assert node.wait(OrderRejected, client_order_id="short-z").reason == (
        "ZVZZT cannot be sold short at Alpaca (not shortable): selling 100 is more than the "
        "0 shares available (0 held)"
    )
    assert venue.records()["orders"] == [] and venue.records()["submissions"] == {}

    # The position the venue knows (moved by fills) is what may be sold, and no more.
    node.send_order(child("buy-z", "ZVZZT", "100", str(quote.ask)))
    until(
        lambda: sum(f.quantity for f in node.of(OrderFilled, client_order_id="buy-z")) == 100,
        "the ZVZZT buy to fill",
    )
    node.send_order(child("over-z", "ZVZZT", "150", str(quote.bid), side="sell"))
    assert node.wait(OrderRejected, client_order_id="over-z").reason == (
        "ZVZZT cannot be sold short at Alpaca (not shortable): selling 150 is more than the "
        "100 shares available (100 held)"
    )
    node.send_order(child("sell-z", "ZVZZT", "100", str(quote.bid), side="sell"))
    until(
        lambda: sum(f.quantity for f in node.of(OrderFilled, client_order_id="sell-z")) == 100,
        "the ZVZZT sell to fill",
    )
    # A shortable stock on a margin account is Alpaca's to judge: it goes.
    aapl = pinned(node, venue, "AAPL", "190")
    node.send_order(child("short-a", "AAPL", "5", str(aapl.bid), side="sell"))
    until(
        lambda: sum(f.quantity for f in node.of(OrderFilled, client_order_id="short-a")) == 5,
        "the AAPL short sale to fill",
    )
    assert venue.records()["submissions"] == {"buy-z": 1, "sell-z": 1, "short-a": 1}
    assert [o.client_order_id for o in node.of(OrderRejected)] == ["short-z", "over-z"]


def test_outside_the_session_orders_are_refused_unless_extended_hours_allow_them(
    make_venue: Callable[..., Venue], start: Callable[..., LiveNode]
) -> None:
    venue = make_venue(start=datetime(2024, 6, 3, 17, 0, tzinfo=ET))
    node = start(venue, name="closed")
    pinned(node, venue, "AAPL", "190")
    node.submit(SubmitParentOrder(parent_id="late", symbol="AAPL", side="buy", quantity=D(5)))
    late = node.wait(ParentOrderCompleted, parent_id="late")
    assert late.status != "filled" and late.report.filled_quantity == 0
    (refused, *_) = [m for m in node.of(OrderRejected) if m.parent_id == "late"]
    assert refused.reason.startswith(
        "market closed (after-hours): Alpaca's clock says 2024-06-03 17:"
    )
    assert "extended_hours = false" in refused.reason
    assert venue.records()["submissions"] == {}
    node.stop()  # the loopback takes one market-data connection per key, as Alpaca's free plan

    extended = start(venue, name="extended", extended_hours=True)
    extended.send_order(child("eh-ioc", "AAPL", "5", "191.00", time_in_force="ioc"))
    extended.send_order(child("eh-day", "AAPL", "5", "191.00"))
    assert "only DAY limit orders" in extended.wait(OrderRejected, client_order_id="eh-ioc").reason
    assert extended.wait(OrderFilled, client_order_id="eh-day").quantity == D(5)
    assert [o["extended_hours"] for o in venue.records()["orders"]] == [True]


# -- faults ---------------------------------------------------------------------------------------


def test_a_lost_answer_does_not_place_the_order_twice(
    make_venue: Callable[..., Venue], start: Callable[..., LiveNode]
) -> None:
    venue = make_venue()
    node = start(venue)
    pinned(node, venue, "TSLA", "250")
    venue.inject_http_fault(504, method="POST", path="/v2/orders", after=True)
    node.submit(SubmitParentOrder(parent_id="lost", symbol="TSLA", side="buy", quantity=D(20)))
    done = node.wait(ParentOrderCompleted, parent_id="lost")
    assert (done.status, done.report.child_orders) == ("filled", 1)
    # The stream told of the fill before the answer was lost; alpaca-py then sent the order
    # again, Alpaca refused the duplicate and kept one order.
    until(lambda: venue.records()["submissions"] == {"lost.1.1.1": 2}, "alpaca-py's retry")
    assert len(venue.records()["orders"]) == 1
    assert sorted(journal_fills_of(node, "lost.1.1.1")) == sorted(
        executions_of(venue, "lost.1.1.1")
    )

    # A cancel that arrives while the order is being placed waits for Alpaca's answer (here
    # lost, retried, refused as a duplicate, found by its client order id), then goes.
    venue.inject_http_fault(504, method="POST", path="/v2/orders", after=True)
    node.send_order(child("rest", "TSLA", "5", "200.00"))
    node.node.runtime.send(  # type: ignore[union-attr]
        "risk", CancelOrder(client_order_id="rest", venue="alpaca", reason="test"), "router"
    )
    canceled = node.wait(OrderCanceled, client_order_id="rest")
    assert canceled.reason == "test"
    assert venue.records()["submissions"]["rest"] == 2
    assert [o["status"] for o in venue.records()["orders"] if o["client_order_id"] == "rest"] == [
        "canceled"
    ]
    assert len(node.of(OrderAccepted, client_order_id="rest")) == 1


def test_an_order_whose_fate_is_unknown_is_settled_by_reconciliation_not_resent(
    make_venue: Callable[..., Venue], start: Callable[..., LiveNode]
) -> None:
    venue = make_venue()
    node = start(venue, extra=RIDE_THROUGH)
    pinned(node, venue, "AAPL", "190")
    # Placing fails and so does looking the order up: the venue cannot tell if Alpaca has it.
    venue.inject_http_fault(500, count=2, path="/v2/orders")
    node.submit(SubmitParentOrder(parent_id="unsure", symbol="AAPL", side="buy", quantity=D(10)))
    down = node.wait(VenueDisconnected, venue="alpaca")
    assert down.reconnecting and down.reason.startswith("cannot tell whether order unsure.1.1.1")
    node.wait_count(VenueConnected, 2, venue="alpaca")
    done = node.wait(ParentOrderCompleted, parent_id="unsure")
    assert done.status == "filled"
    # The reconciliation found that the first child never reached Alpaca and closed it; the
    # router sent the quantity again under a new id. Nothing was resent under the old one.
    canceled = node.wait(OrderCanceled, client_order_id="unsure.1.1.1")
    assert canceled.reason == "never reached the venue (found after a restart)"
    assert venue.records()["submissions"] == {"unsure.1.2.1": 1}  # the fault came first
    assert [o["client_order_id"] for o in venue.records()["orders"]] == ["unsure.1.2.1"]


def test_a_dropped_stream_loses_no_fill_and_repeats_none(
    make_venue: Callable[..., Venue], start: Callable[..., LiveNode]
) -> None:
    venue = make_venue(cash=D(2_000_000))
    node = start(venue, extra=RIDE_THROUGH)
    pinned(node, venue, "AAPL", "190")
    # Far more than a quote shows: it fills a quote's size a second, over many seconds.
    node.send_order(child("big", "AAPL", "3000", "200.00"))
    node.wait(OrderAccepted, client_order_id="big")
    first = len(executions_of(venue, "big"))
    until(
        lambda: (
            len([m for m in fills_in(node.recorder.messages) if m.client_order_id == "big"])
            == first
        ),
        "the first fills",
    )

    assert venue.drop_streams("trade_updates") == 1
    lost = node.wait(VenueDisconnected, venue="alpaca")
    assert lost.reconnecting and lost.reason.startswith("trade_updates connection lost")
    venue.step(3)  # fills that nobody hears of: Alpaca does not replay them
    missed = executions_of(venue, "big")
    assert len(missed) > first
    node.wait_count(VenueConnected, 2, venue="alpaca")
    node.wait_count(VenueReconciled, 2, venue="alpaca")
    heard = {m.trade_id for m in fills_in(node.recorder.messages) if m.client_order_id == "big"}
    assert {e for e, _, _ in missed} <= heard  # told before the reconciliation was answered

    until(
        lambda: node.of(OrderFilled, client_order_id="big"),
        "the rest of the fills",
        step=lambda: venue.step(1),
    )
    assert sorted(journal_fills_of(node, "big")) == sorted(executions_of(venue, "big"))
    assert sum(q for _, _, q in journal_fills_of(node, "big")) == D(3000)
    assert venue.records()["submissions"] == {"big": 1}
    assert node.of(InstrumentHalted) == []


def test_fills_missed_while_rest_fails_are_fetched_before_later_ones(
    make_venue: Callable[..., Venue],
    start: Callable[..., LiveNode],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The stream is back before the reconciliation can be answered: a fill then arrives that
    shows more filled than the node was told; the missing fills are fetched first."""
    venue = make_venue(cash=D(2_000_000))
    node = start(venue, extra=RIDE_THROUGH)
    pinned(node, venue, "NVDA", "120")
    node.send_order(child("gap", "NVDA", "4000", "130.00"))
    node.wait(OrderAccepted, client_order_id="gap")
    venue.inject_http_fault(500, count=2, method="GET", path="/v2/orders")  # the reconciliation
    venue.drop_streams("trade_updates")
    node.wait(VenueDisconnected, venue="alpaca")
    venue.step(2)
    node.wait_count(VenueConnected, 2, venue="alpaca")
    until(lambda: venue.listeners() == 1, "the stream to listen again")
    caplog.set_level(logging.INFO, logger="tradenode.alpaca")
    venue.step(1)  # heard: a fill whose order shows fills the node has not had
    until(
        lambda: node.of(OrderFilled, client_order_id="gap"),
        "the order to fill",
        step=lambda: venue.step(1),
    )
    node.wait_count(VenueReconciled, 2, venue="alpaca")
    assert "Alpaca shows fills of gap the node has not had" in caplog.text
    trades = [t for t, _, _ in journal_fills_of(node, "gap")]
    assert len(trades) == len(set(trades))
    assert sorted(journal_fills_of(node, "gap")) == sorted(executions_of(venue, "gap"))
    cumulative = [
        f.cumulative_quantity for f in fills_in(node.journal()) if f.client_order_id == "gap"
    ]
    assert cumulative == sorted(cumulative) and cumulative[-1] == D(4000)


def test_an_order_filled_while_the_node_was_stopped_is_found_after_the_restart(
    make_venue: Callable[..., Venue], start: Callable[..., LiveNode]
) -> None:
    venue = make_venue()
    node = start(venue)
    pinned(node, venue, "AAPL", "190")
    node.send_order(child("resting", "AAPL", "10", "185.00"))
    node.wait(OrderAccepted, client_order_id="resting")
    node.stop()
    venue.set_price("AAPL", D("184"))  # it fills while no node listens
    assert len(executions_of(venue, "resting")) == 1

    node.start()
    until(lambda: node.of(NodeReady), "the node to be ready again", step=lambda: venue.step(1))
    filled = node.wait(OrderFilled, client_order_id="resting")
    assert filled.quantity == D(10) and filled.parent_id is None
    # The venue told it itself: it knew the order from its checkpoint taken at the stop.
    (told,) = [e for e in node.envelopes() if isinstance(e.message, OrderFilled)]
    assert told.sender == "venue.alpaca"
    assert sorted(journal_fills_of(node, "resting")) == sorted(executions_of(venue, "resting"))
    assert node.of(InstrumentHalted) == []
    assert venue.records()["submissions"] == {"resting": 1}
    assert node.of(OrderExpired, client_order_id="resting") == []
