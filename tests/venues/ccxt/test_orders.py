"""Order kinds and the venue's own refusals, through a node and the real ccxt client: market,
fill-or-kill, post-only, an order off the lot (refused before it leaves), a cancel of an order the
venue does not have; and the account stream lost and found again when the exchange restarts."""

from __future__ import annotations

import socket
from decimal import Decimal

from ccxt_node_support import (
    SYMBOL,
    limit_order,
    node_config,
    static_market,
)
from tradenode_ccxt.loopback import LoopbackExchangeThread
from waiting import wait_for

from node.messages import (
    CancelOrder,
    OrderCancelRejected,
    OrderExpired,
    OrderFilled,
    OrderRejected,
    SubmitOrder,
    VenueConnected,
    VenueDisconnected,
    VenueReconciled,
)

D = Decimal
BOOK = static_market(bids=[("60000", "1")], asks=[("60010", "0.4"), ("60020", "1")])


def test_order_kinds_and_refusals(tmp_path, exchanges, nodes):
    exchange = exchanges(BOOK)
    node = nodes(node_config(tmp_path, {"x": exchange.url}))
    node.ready()

    node.send_child(
        SubmitOrder(
            client_order_id="mkt", venue="x", symbol=SYMBOL, side="buy", quantity=D("0.5"),
            order_type="market",
        )
    )  # fmt: skip
    filled = node.final("mkt")
    assert isinstance(filled, OrderFilled) and filled.cumulative_quantity == D("0.5")
    assert [f.price for f in node.fills() if f.client_order_id == "mkt"] == [D(60010), D(60020)]

    node.send_child(limit_order("fok", "x", "buy", "1", "60020", time_in_force="fok"))  # 0.9 left
    expired = node.final("fok")
    assert isinstance(expired, OrderExpired) and expired.filled_quantity == 0

    node.send_child(limit_order("maker", "x", "buy", "0.1", "60020", post_only=True))
    refused = node.final("maker")
    assert isinstance(refused, OrderRejected) and "OrderImmediatelyFillable" in refused.reason

    # past risk (whose increments check would refuse it first), to the venue itself
    node.send_child(limit_order("lot", "x", "buy", "0.000015", "59000"), to="venue.x")
    off_lot = node.final("lot")
    assert isinstance(off_lot, OrderRejected)
    assert "quantity 0.000015 is not on BTC/USDT's lot 0.00001" in off_lot.reason
    assert exchange.admin.submissions("lot") == 0  # never left

    node.node.runtime.send("risk", CancelOrder(client_order_id="nope", venue="x"), "test")
    rejected = node.wait(
        lambda m: isinstance(m, OrderCancelRejected) and m.client_order_id == "nope", "a refusal"
    )
    assert "no open order nope" in rejected.reason
    # accepted by the exchange: the market order and the FOK (expired there); not the others
    assert {o["clientOrderId"] for o in exchange.admin.orders()} == {"mkt", "fok"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_account_stream_lost_and_found_again(tmp_path, nodes):
    """Fault: the exchange goes away (its process stops) and comes back on the same address
    with its state. Checked: the venue is marked down (reconnecting), connects again, is
    reconciled, and the fill made while it was away reaches the node once."""
    port, state = free_port(), tmp_path / "exchange.json"
    first = LoopbackExchangeThread((BOOK,), speed=None, port=port, state_path=state).start()
    try:
        node = nodes(node_config(tmp_path, {"x": first.url}))
        node.ready()
        node.send_child(limit_order("rest", "x", "buy", "0.2", "59990"))
        wait_for(lambda: first.admin.orders(client_order_id="rest"), "the resting order")
    finally:
        first.stop()
    down = node.wait(
        lambda m: isinstance(m, VenueDisconnected) and m.reconnecting, "the venue down"
    )
    assert down.reason.startswith("account stream lost")
    second = LoopbackExchangeThread((BOOK,), speed=None, port=port, state_path=state).start()
    try:
        second.admin.market_trade("59990", "0.5", buyer_is_maker=True)
        wait_for(lambda: len(node.of(VenueConnected)) == 2, "the venue connected again", 60)
        wait_for(lambda: len(node.of(VenueReconciled)) == 2, "a second reconciliation")
        final = node.final("rest", timeout=60)
        assert isinstance(final, OrderFilled) and final.cumulative_quantity == D("0.2")
        fills = [(f.client_order_id, f.trade_id) for f in node.fills("x")]
        assert len(fills) == len(set(fills)) == len(second.admin.trades())
    finally:
        node.stop()
        second.stop()
