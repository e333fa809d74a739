"""A whole node with two ccxt venues, each the real ccxt client (REST + ccxt.pro) against its own
loopback Binance with a different book and different fees: a parent order is routed across
both, the fills arrive, and the node's portfolio (rebuilt from its journal exactly as a restart
does) equals the exchanges' own records — positions, fees and balances."""

from __future__ import annotations

from decimal import Decimal

from ccxt_node_support import (
    SYMBOL,
    buy,
    node_config,
    sell,
    server_position,
    server_totals,
    static_market,
)
from waiting import wait_for

from node.messages import (
    InstrumentsLoaded,
    OrderAccepted,
    SliceRouted,
)

D = Decimal
# Two books around 60,000: B is cheaper at the top (and in fees) but thin, so a 1.5 BTC buy
# costs least split across both.
BOOK_A = static_market(
    bids=[("60000", "1"), ("59990", "2")], asks=[("60010", "0.4"), ("60030", "0.5")]
)
BOOK_B = static_market(
    bids=[("60002", "0.5"), ("59995", "2")], asks=[("60015", "0.6"), ("60080", "1.0")]
)


def test_a_parent_order_is_split_across_two_exchanges_and_the_portfolio_matches_them(
    tmp_path, exchanges, nodes
):
    a = exchanges(BOOK_A, maker_fee_bps=2, taker_fee_bps=7)
    b = exchanges(BOOK_B, maker_fee_bps=1, taker_fee_bps=4)
    node = nodes(node_config(tmp_path, {"a": a.url, "b": b.url}))
    node.ready()

    # instruments: the exchanges' filters and each account's own fees
    loaded = {m.venue: m.instruments[0] for m in node.of(InstrumentsLoaded)}
    assert (loaded["a"].tick_size, loaded["a"].lot_size) == (D("0.01"), D("0.00001"))
    assert (loaded["a"].min_quantity, loaded["a"].min_notional) == (D("0.00001"), D(5))
    assert (loaded["a"].maker_fee, loaded["a"].taker_fee) == (D("0.0002"), D("0.0007"))
    assert (loaded["b"].maker_fee, loaded["b"].taker_fee) == (D("0.0001"), D("0.0004"))
    # books: the node's one book per venue is each exchange's book
    market = node.node.market
    assert market.book("a", SYMBOL).top() == (D(60000), D(60010))
    assert market.book("b", SYMBOL).top() == (D(60002), D(60015))

    done = node.route(buy("buy-1", "1.5"))
    assert done.status == "filled", done.reason
    [plan] = [m for m in node.of(SliceRouted) if m.parent_id == "buy-1"]
    assert {leg.venue for leg in plan.legs} == {"a", "b"}
    assert sum(leg.quantity for leg in plan.legs) == D("1.5")

    done = node.route(sell("sell-1", "0.7"))
    assert done.status == "filled", done.reason

    # each child went out once, with the node's client id in the exchange's own field
    children = node.child_orders()
    for exchange, venue in ((a, "a"), (b, "b")):
        records = exchange.admin.orders()
        ours = {c for c, m in children.items() if m.venue == venue}
        assert {r["clientOrderId"] for r in records} == ours
        assert all(r["submissions"] == 1 for r in records)
        accepted = {m.client_order_id: m.venue_order_id for m in node.of(OrderAccepted)}
        assert {str(r["orderId"]) for r in records} == {accepted[c] for c in ours}

    # every fill exactly once, as the exchange recorded it
    for exchange, venue in ((a, "a"), (b, "b")):
        fills = node.fills(venue)
        assert sorted((f.client_order_id, f.trade_id) for f in fills) == sorted(
            (t["clientOrderId"], str(t["id"])) for t in exchange.admin.trades()
        )
        assert sum(f.fee for f in fills) == sum(D(t["commission"]) for t in exchange.admin.trades())

    # the balances each venue published after its last fill are the exchange's own
    for exchange, venue in ((a, "a"), (b, "b")):
        wait_for(
            lambda e=exchange, v=venue: node.settled_balances(v) == server_totals(e),
            f"{venue}'s balances",
        )

    node.stop()
    ledger = node.ledger()
    for exchange, venue in ((a, "a"), (b, "b")):
        assert ledger.quantity(SYMBOL, venue) == server_position(exchange)
        totals = server_totals(exchange)
        for asset in ("BTC", "USDT"):
            assert ledger.balance(venue, asset) == totals[asset], (venue, asset)
    assert ledger.quantity(SYMBOL) == D("0.8")
