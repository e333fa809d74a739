"""Faults injected on the loopback exchange while a whole node trades on it through the real ccxt
client. Each test names the fault and checks the same things: the node keeps running, every
order reached the exchange once (``submissions`` counts every POST that carried its client id;
``orders`` every order the exchange accepted), every fill the exchange recorded reached the node
exactly once, and what the node accounts equals what the exchange recorded."""

from __future__ import annotations

from decimal import Decimal

import pytest
from ccxt_node_support import (
    SYMBOL,
    buy,
    limit_order,
    node_config,
    server_position,
    server_totals,
    static_market,
)
from tradenode_ccxt.loopback import MarketSetup, PriceTransform
from waiting import wait_for

from node.messages import (
    BalancesUpdated,
    OrderCanceled,
    OrderRejected,
    SliceRouted,
    VenueDisconnected,
)

D = Decimal
BOOK = static_market(bids=[("60000", "1"), ("59990", "2")], asks=[("60010", "0.4"), ("60020", "1")])


def one_venue(tmp_path, exchanges, nodes, **settings):
    exchange = exchanges(BOOK)
    node = nodes(node_config(tmp_path, {"x": exchange.url}, venue_settings={"x": settings}))
    node.ready()
    return exchange, node


def assert_fills_match(node, exchange, venue="x"):
    """Every fill the exchange recorded reached the node once, and nothing else did."""
    fills = node.fills(venue)
    keys = [(f.client_order_id, f.trade_id) for f in fills]
    assert len(keys) == len(set(keys)), "a fill was published twice"
    assert sorted(keys) == sorted(
        (t["clientOrderId"], str(t["id"])) for t in exchange.admin.trades()
    )


def assert_books_match(node, exchange, venue="x"):
    """The venue's last balances, then the node's ledger (rebuilt from its journal), equal the
    exchange's records."""

    wait_for(lambda: node.settled_balances(venue) == server_totals(exchange), "the balances")
    node.stop()
    ledger = node.ledger()
    assert ledger.quantity(SYMBOL, venue) == server_position(exchange)
    totals = server_totals(exchange)
    for asset in ("BTC", "USDT"):
        assert ledger.balance(venue, asset) == totals[asset], asset


def orders_of(exchange):
    return {o["clientOrderId"]: o for o in exchange.admin.orders()}


@pytest.mark.parametrize("lookup", [True, False], ids=["lookup-by-id", "search-recent"])
@pytest.mark.parametrize("status", [429, 418])
def test_rate_limit_answers_pause_the_queue_and_each_order_is_placed_once(
    tmp_path, exchanges, nodes, status, lookup
):
    """Fault: the exchange answers the next two order POSTs with HTTP 429 (418: an IP ban).
    Checked: a ``rate limited`` status with the pause; the order waits (looked up by client id
    before each resend) and is placed once; nothing lost or doubled. Also on an exchange whose
    orders cannot be looked up by client id (Kraken, Coinbase, Bybit: the recent orders are
    searched): a rate-limited order was refused before processing, so it is sent again."""
    exchange, node = one_venue(tmp_path, exchanges, nodes, client_id_lookup=lookup)
    exchange.admin.fail_http(status, count=2, method="POST", path="/api/v3/order")
    done = node.route(buy("rl", "0.5"))
    assert done.status == "filled", done.reason
    limited = node.statuses("x", "rate limited")
    assert len(limited) == 2 and "orders paused" in limited[0].detail
    assert "DDoSProtection" in limited[0].detail
    [child] = node.child_orders()
    record = orders_of(exchange)[child]
    # the two refused POSTs never reached the order handler: one submission, one order
    assert record["submissions"] == 1 and len(exchange.admin.orders()) == 1
    assert_fills_match(node, exchange)
    assert_books_match(node, exchange)


@pytest.mark.parametrize(
    ("fault", "kwargs", "processed"),
    [
        ("fail_http", {"status": 503, "processed": True}, True),  # 5xx after processing (-1007)
        ("fail_http", {"status": 500}, False),  # 5xx before processing
        ("drop_http", {}, True),  # the connection closed after the order was accepted
        ("delay_http", {"seconds": 2.5}, True),  # a reply slower than the client's timeout
    ],
    ids=["5xx-processed", "5xx-refused", "dropped-connection", "slow-reply"],
)
def test_an_order_of_unknown_fate_is_looked_up_before_anything_is_resent(
    tmp_path, exchanges, nodes, fault, kwargs, processed
):
    """Fault: the order POST gets no usable answer (see the ids). Checked: the order is looked
    up by its client id after the receive window; found, it is adopted with its fills and not
    sent again; not found (refused before processing), it is sent again, once. Either way the
    exchange holds one order and the node every fill of it once."""
    exchange, node = one_venue(tmp_path, exchanges, nodes, timeout_ms=1000)
    getattr(exchange.admin, fault)(method="POST", path="/api/v3/order", **kwargs)
    done = node.route(buy("unknown", "0.5"))
    assert done.status == "filled", done.reason
    # the account stream may bring the fills first; the lookup follows the receive window
    wait_for(lambda: node.statuses("x", "order outcome unknown"), "the unknown outcome")
    if processed:
        found = wait_for(lambda: node.statuses("x", "order found"), "the lookup's answer")
        assert "not sent again" in found[0].detail
    [child] = node.child_orders()
    # a POST refused before processing never reached the order handler: one submission
    assert orders_of(exchange)[child]["submissions"] == 1
    assert len(exchange.admin.orders()) == 1
    assert_fills_match(node, exchange)
    assert_books_match(node, exchange)
    if not processed:
        assert not node.statuses("x", "order found")


def test_fills_delivered_twice_are_counted_once(tmp_path, exchanges, nodes):
    """Fault: every fill event on the account stream is sent twice. Checked: a resting order
    filled by the market (its fills come only from the stream) and a taker order each count
    every fill once; the ledger equals the exchange."""
    exchange, node = one_venue(tmp_path, exchanges, nodes)
    exchange.admin.duplicate_fills(10)
    node.send_child(limit_order("rest-1", "x", "buy", "0.3", "59995"))
    wait_for(lambda: orders_of(exchange).get("rest-1"), "the resting order")
    exchange.admin.market_trade("59995", "0.1", buyer_is_maker=True)
    exchange.admin.apply_levels(asks=[("59990", "1")])  # the market comes down through it
    final = node.final("rest-1")
    assert final.cumulative_quantity == D("0.3")
    done = node.route(buy("taker", "0.2"))
    assert done.status == "filled", done.reason
    assert_fills_match(node, exchange)
    assert_books_match(node, exchange)


def test_order_events_in_reverse_order_end_in_the_right_state(tmp_path, exchanges, nodes):
    """Fault: pairs of order events on the account stream arrive swapped (a fill before the
    order's NEW). Checked: the order ends filled, each fill once, no status goes back."""
    exchange, node = one_venue(tmp_path, exchanges, nodes)
    exchange.admin.swap_user_events(3)
    node.send_child(limit_order("swap-1", "x", "sell", "0.2", "60005"))
    wait_for(lambda: orders_of(exchange).get("swap-1"), "the resting order")
    exchange.admin.market_trade("60005", "0.05", buyer_is_maker=False)
    exchange.admin.apply_levels(bids=[("60006", "1")])
    final = node.final("swap-1")
    assert final.cumulative_quantity == D("0.2")
    assert_fills_match(node, exchange)
    assert_books_match(node, exchange)


def test_a_stalled_market_stream_leaves_the_venue_out_until_it_resumes(tmp_path, exchanges, nodes):
    """Fault: one exchange's market stream stalls (messages held). Checked: its book goes
    stale and the router leaves that venue out, saying why; after the stream resumes the venue
    is used again."""
    a = exchanges(MarketSetup(), speed=1.0)  # the recorded BTCUSDT market, in real time
    b = exchanges(MarketSetup(transform=PriceTransform(D(1), D(2))), speed=1.0)
    node = nodes(node_config(tmp_path, {"a": a.url, "b": b.url}, router="max_book_age_ms = 1500"))
    node.ready()
    a.admin.stall_market()
    book = node.node.market.book("a", SYMBOL)
    wait_for(lambda: node.node.runtime.now() - book.received_ns > 2_000_000_000, "a stale book")
    done = node.route(buy("stale", "0.01"))
    assert done.status == "filled", done.reason
    plan = next(m for m in node.of(SliceRouted) if m.parent_id == "stale")
    assert plan.excluded["a"].startswith("stale book")
    assert {leg.venue for leg in plan.legs} == {"b"}
    a.admin.resume_market()
    wait_for(lambda: node.node.runtime.now() - book.received_ns < 1_000_000_000, "a fresh book")
    done = node.route(buy("fresh", "0.01"))
    plan = next(m for m in node.of(SliceRouted) if m.parent_id == "fresh")
    assert "a" not in plan.excluded


def test_a_skipped_update_id_resynchronises_the_book_and_says_so(tmp_path, exchanges, nodes):
    """Fault: a depth diff skips update ids (a lost message). Checked: the venue reports the
    resynchronisation, and the node's book then equals the exchange's book level for level."""
    exchange = exchanges(MarketSetup())  # the recorded market, one diff at a time
    node = nodes(node_config(tmp_path, {"x": exchange.url}))
    node.ready()
    exchange.admin.gap(ids=3)
    for _ in range(5):
        exchange.admin.step(1)
    resynced = wait_for(lambda: node.statuses("x", "book resynchronised"), "a resync")
    assert "ChecksumError" in resynced[0].detail
    exchange.admin.step(1)
    book = node.node.market.book("x", SYMBOL)

    def same() -> bool:
        server = exchange.admin.book(limit=50)
        return (
            book.sequence == server["lastUpdateId"]
            and [[f"{lv.price:.8f}", f"{lv.size:.8f}"] for lv in book.levels("buy", 50)]
            == server["bids"]
        )

    wait_for(same, "the node's book to equal the exchange's")


def test_a_refused_key_marks_that_venue_down_and_the_node_trades_on(
    tmp_path, exchanges, nodes, monkeypatch
):
    """Fault: one venue's secret is wrong. Checked: that venue is down with the exchange's
    reason (no secret in it), the node gets ready without it and trades on the other."""
    good, bad = exchanges(BOOK), exchanges(BOOK)
    monkeypatch.setenv("TN_TEST_CCXT_BAD_SECRET", "not-the-secret")
    config = node_config(
        tmp_path,
        {"good": good.url, "bad": bad.url},
        venue_settings={"bad": {"secret_env": "TN_TEST_CCXT_BAD_SECRET"}},
        ready_timeout_s=3,
    )
    node = nodes(config)
    down = node.wait(lambda m: isinstance(m, VenueDisconnected), "the bad venue down")
    assert down.venue == "bad"
    assert down.reason.startswith("cannot connect: authentication failed")
    assert "-1022" in down.reason and "not-the-secret" not in down.reason
    ready = node.wait(lambda m: type(m).__name__ == "NodeReady", "ready")
    assert set(ready.missing) == {"bad"}
    done = node.route(buy("on", "0.1"))
    assert done.status == "filled", done.reason
    assert bad.admin.orders() == [] and len(good.admin.orders()) == 1


def test_refusals_become_rejections_with_the_reason(tmp_path, exchanges, nodes):
    """Checked: an order the exchange refuses (funds) is rejected with ccxt's class and the
    exchange's words; one off the lot is refused before it leaves (never altered); a resting
    order is canceled by the node."""
    exchange, node = one_venue(tmp_path, exchanges, nodes)
    node.send_child(limit_order("big", "x", "buy", "100", "59000"))
    rejected = node.final("big")
    assert isinstance(rejected, OrderRejected)
    assert "InsufficientFunds" in rejected.reason
    assert orders_of(exchange) == {} and exchange.admin.submissions("big") == 1

    node.send_child(limit_order("rest-2", "x", "buy", "0.1", "59000"))
    wait_for(lambda: orders_of(exchange).get("rest-2"), "the resting order")
    from node.messages import CancelOrder

    node.node.runtime.send("risk", CancelOrder(client_order_id="rest-2", venue="x"), "test")
    canceled = node.final("rest-2")
    assert isinstance(canceled, OrderCanceled) and canceled.filled_quantity == 0
    assert orders_of(exchange)["rest-2"]["status"] == "CANCELED"
    wait_for(
        lambda: (
            [m for m in node.of(BalancesUpdated) if m.venue == "x"][-1].balances["USDT"].free
            == D(100000)
        ),
        "the released balance",
    )


def test_the_order_queue_holds_orders_over_the_rate_and_drops_none(tmp_path, exchanges, nodes):
    """Checked: with a budget of one order at a time (60 a minute), three orders wait in the
    queue — its depth is shown as a status — and all three are placed, none dropped."""
    exchange, node = one_venue(tmp_path, exchanges, nodes, orders_per_minute=60.0, order_burst=1)
    for i in range(3):
        node.send_child(limit_order(f"q{i}", "x", "buy", "0.01", str(59000 + i)))
    wait_for(lambda: len(exchange.admin.orders()) == 3, "three orders placed", timeout=15)
    depths = [m.detail for m in node.statuses("x", "order queue")]
    assert any(d.startswith("2 order(s) waiting") for d in depths), depths
    assert depths[-1].startswith("0 order(s) waiting")
    assert all(o["submissions"] == 1 for o in exchange.admin.orders())
