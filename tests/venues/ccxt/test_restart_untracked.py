"""A kill can leave the journal with a child order on its way to risk that the venue was never
handed (the router's send is journaled, risk's forward is not). The next start's reconciler asks
the venue about it like any unresolved order, and the ccxt venue must answer for it although its
tracker never had it: unknown at the exchange (closed as never having reached it), or found there
(its fills applied, its end published). Before, it was left out of the answer: the order stayed
unresolved, its slice working forever, and the parent never completed.

The second order stands for the other way a venue can lack an order the journal still shows open:
an order that finished after the venue's last checkpoint (which reads its tracker slightly ahead
of the journal), gone from the restored tracker, yet at the exchange with its fills."""

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

from node.journal import Journal
from node.messages import FILL_TYPES, OrderCanceled, OrderExpired, VenueReconciled

D = Decimal
BOOK = static_market(bids=[("60000", "1")], asks=[("60010", "0.4"), ("60020", "1")])


def take_by_hand(url: str, client_order_id: str) -> None:
    async def place() -> None:
        client = binance_client(url)
        try:
            await client.load_markets()
            await client.create_order(
                SYMBOL,
                "limit",
                "buy",
                0.5,
                60010,
                {"clientOrderId": client_order_id, "timeInForce": "IOC"},
            )
        finally:
            await client.close()

    asyncio.run(place())


def test_orders_the_venue_never_tracked_are_answered_at_the_next_start(tmp_path, exchanges, nodes):
    exchange = exchanges(BOOK)
    config = node_config(tmp_path, {"x": exchange.url})
    first = nodes(config)
    first.ready()
    first.stop()

    # What the kill left: both children journaled by the router on their way to risk only.
    journal = Journal(tmp_path / "journal.sqlite")
    for order in (
        limit_order("ghost-1", "x", "buy", "0.1", "60010", time_in_force="ioc"),
        limit_order("ghost-2", "x", "buy", "0.5", "60010", time_in_force="ioc"),
    ):
        journal.append(order, sender="router", destination="risk")
    journal.close()
    take_by_hand(exchange.url, "ghost-2")  # at the exchange: 0.4 filled, the rest expired

    second = nodes(config)
    second.ready()
    [answer] = [m for m in second.of(VenueReconciled) if m.venue == "x"]
    assert answer.unknown == ["ghost-1"]
    assert [(r.client_order_id, r.status) for r in answer.queried] == [("ghost-2", "expired")]
    [never] = [m for m in second.of(OrderCanceled) if m.client_order_id == "ghost-1"]
    assert "never reached" in never.reason
    fills = [f for f in second.of(*FILL_TYPES) if f.client_order_id == "ghost-2"]
    assert sum(f.quantity for f in fills) == D("0.4")
    [ended] = [m for m in second.of(OrderExpired) if m.client_order_id == "ghost-2"]
    assert ended.filled_quantity == D("0.4")
    assert exchange.admin.submissions("ghost-1") == 0

    wait_for(lambda: second.settled_balances("x") == server_totals(exchange), "the balances")
    second.stop()
    ledger = second.ledger()
    assert ledger.quantity(SYMBOL, "x") == server_position(exchange) == D("0.4")
    for asset, total in server_totals(exchange).items():
        assert ledger.balance("x", asset) == total, asset
