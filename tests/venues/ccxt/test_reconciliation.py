"""A node that stops while the exchange keeps trading: the next start adopts what happened.

First run: a resting buy is placed and partly filled; another order is sent while the exchange
refuses every order POST, and the node stops before it learns that order's fate. While the node
is down the market fills the resting buy, and someone places an order by hand on the account.
Second run, on the same journal: reconciliation (the venue answering from the exchange through
the real ccxt client) publishes the fills the journal lacks, closes the order that never reached
the exchange, adopts the hand-placed one — and the ledger equals the exchange's records."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from ccxt_node_support import (
    SYMBOL,
    limit_order,
    node_config,
    server_position,
    server_totals,
    static_market,
)
from tradenode_ccxt.loopback import binance_client
from waiting import wait_for

from node.messages import (
    FILL_TYPES,
    OrderAdopted,
    OrderCanceled,
    VenueReconciled,
    VenueStatus,
)

D = Decimal
BOOK = static_market(bids=[("60000", "1")], asks=[("60010", "0.4"), ("60020", "1")])


def place_by_hand(url: str) -> None:
    async def place() -> None:
        client = binance_client(url)
        try:
            await client.load_markets()
            await client.create_order(
                SYMBOL, "limit", "sell", 0.05, 61000, {"clientOrderId": "hand-1"}
            )
        finally:
            await client.close()

    asyncio.run(place())


def test_a_restart_adopts_what_happened_at_the_exchange_while_the_node_was_down(
    tmp_path, exchanges, nodes
):
    exchange = exchanges(BOOK)
    config = node_config(tmp_path, {"x": exchange.url})

    first = nodes(config)
    first.ready()
    first.send_child(limit_order("rest-1", "x", "buy", "0.3", "59995"))
    wait_for(lambda: exchange.admin.orders(client_order_id="rest-1"), "the resting order")
    exchange.admin.market_trade("59995", "0.1", buyer_is_maker=True)
    wait_for(lambda: first.fills("x"), "the first fill")
    exchange.admin.fail_http(500, count=100, method="POST", path="/api/v3/order")
    first.send_child(limit_order("lost-1", "x", "buy", "0.1", "60010", time_in_force="ioc"))
    wait_for(lambda: [m for m in first.statuses("x", "order outcome unknown")], "the failure")
    first.stop()  # before the lookup: lost-1's fate is not in the journal
    exchange.admin.clear_faults()

    exchange.admin.market_trade("59995", "0.5", buyer_is_maker=True)  # fills the rest: 0.2
    place_by_hand(exchange.url)

    second = nodes(config)
    second.ready()
    [answer] = [m for m in second.of(VenueReconciled) if m.venue == "x"]
    assert answer.error == ""
    assert answer.unknown == ["lost-1"]
    assert {r.client_order_id: r.status for r in answer.queried} == {"rest-1": "filled"}
    assert {r.client_order_id for r in answer.open_orders} == {"hand-1"}

    fills = [f for f in second.of(*FILL_TYPES) if f.client_order_id == "rest-1"]
    assert sum(f.quantity for f in fills) == D("0.2")
    assert fills[-1].cumulative_quantity == D("0.3") and fills[-1].leaves_quantity == 0
    [lost] = [m for m in second.of(OrderCanceled) if m.client_order_id == "lost-1"]
    assert "never reached" in lost.reason
    [adopted] = second.of(OrderAdopted)
    assert (adopted.order.client_order_id, adopted.order.quantity) == ("hand-1", D("0.05"))
    # published just after the venue counts as reconciled: it may trail the node's readiness
    wait_for(
        lambda: any(m.status == "reconciled" for m in second.of(VenueStatus)),
        "the reconciled status",
    )

    wait_for(lambda: second.settled_balances("x") == server_totals(exchange), "the balances")
    second.stop()
    ledger = second.ledger()
    assert ledger.quantity(SYMBOL, "x") == server_position(exchange) == D("0.3")
    for asset, total in server_totals(exchange).items():
        assert ledger.balance("x", asset) == total, asset
