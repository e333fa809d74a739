"""The same venue on REST polling (``market_data = "polling"``: ccxt.async_support, no
websockets): books from ``fetch_order_book``, orders and fills from the answers and from polling
the open orders, balances read after each change — the node trades as it does on streams and
ends on the exchange's numbers."""

from __future__ import annotations

from decimal import Decimal

from ccxt_node_support import (
    SYMBOL,
    buy,
    limit_order,
    node_config,
    server_position,
    server_totals,
    static_market,
)
from waiting import wait_for

D = Decimal
BOOK = static_market(bids=[("60000", "1")], asks=[("60010", "0.4"), ("60020", "1")])


def test_a_polling_venue_trades_and_ends_on_the_exchanges_numbers(tmp_path, exchanges, nodes):
    exchange = exchanges(BOOK)
    settings = {"market_data": "polling", "poll_interval_ms": 100.0}
    node = nodes(node_config(tmp_path, {"p": exchange.url}, venue_settings={"p": settings}))
    node.ready()
    book = node.node.market.book("p", SYMBOL)
    assert book.top() == (D(60000), D(60010))

    # the book follows the exchange on the next poll
    exchange.admin.apply_levels(bids=[("60005", "0.2")])
    wait_for(lambda: book.best("buy") == D(60005), "the polled book")
    # the loopback serves no public trades over REST: said once, the book polls on
    wait_for(lambda: node.statuses("p", "public trades unavailable"), "the trades status")
    exchange.admin.apply_levels(bids=[("60006", "0.2")])
    wait_for(lambda: book.best("buy") == D(60006), "the polled book")
    assert len(node.statuses("p", "public trades unavailable")) == 1

    done = node.route(buy("poll-buy", "0.5"))
    assert done.status == "filled", done.reason

    # a resting order filled by the market is found by polling, with its fills
    node.send_child(limit_order("poll-rest", "p", "sell", "0.1", "60015"))
    wait_for(lambda: exchange.admin.orders(client_order_id="poll-rest"), "the resting order")
    exchange.admin.apply_levels(bids=[("60016", "1")])
    final = node.final("poll-rest")
    assert final.cumulative_quantity == D("0.1")

    fills = node.fills("p")
    assert sorted((f.client_order_id, f.trade_id) for f in fills) == sorted(
        (t["clientOrderId"], str(t["id"])) for t in exchange.admin.trades()
    )
    wait_for(lambda: node.settled_balances("p") == server_totals(exchange), "the balances")
    node.stop()
    ledger = node.ledger()
    assert ledger.quantity(SYMBOL, "p") == server_position(exchange) == D("0.4")
    for asset, total in server_totals(exchange).items():
        assert ledger.balance("p", asset) == total, asset
