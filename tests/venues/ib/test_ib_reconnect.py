"""The IB venue when TWS goes away: the fake TWS drops the connection (and refuses new ones for a
while), or the node itself stops and starts again on its journal. Orders are found again by
``orderRef``; every execution IB made meanwhile comes out as exactly one fill; nothing is placed
twice. What the node published is compared with the fake broker's own records.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from ib_node import FreezingProxy, IbNode, order

from node.messages import (
    FILL_TYPES,
    InstrumentHalted,
    NodeReady,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    ParentOrderCompleted,
    PositionChanged,
    PositionsAdopted,
    SliceRouted,
    SubmitParentOrder,
    TradingStateChanged,
    VenueDisconnected,
    VenueReconciled,
)

D = Decimal


def journal_fills(node) -> Counter[tuple[str, str]]:
    """(client order id, IB execution id) of every fill in the node's journal, counted."""
    return Counter(
        (m.client_order_id, m.trade_id)
        for m in node.node.journal.messages()
        if isinstance(m, FILL_TYPES)
    )


def test_a_dropped_connection_comes_back_and_what_filled_meanwhile_is_published_once(
    make_node, tws
):
    node = make_node()
    node.wait(NodeReady)
    node.submit(order("away", "buy", "100", limit_price="229.50"))
    node.submit(order("queued", "buy", "100", limit_price="225.00"))
    for cid in ("away", "queued"):
        node.wait(OrderAccepted, lambda m, cid=cid: m.client_order_id == cid)

    tws.refuse_connections(1.0)  # TWS restarting: the first attempts are refused
    assert tws.drop_connections() == 1
    down = node.wait(VenueDisconnected)
    assert down.reconnecting and "closed" in down.reason
    node.cancel("queued", "cancel while TWS is away")  # waits for the connection
    node.submit(order("while-down", "buy", "1", limit_price="229.00"))
    assert node.wait(OrderRejected, lambda m: m.client_order_id == "while-down").reason.startswith(
        "venue ib is down:"
    )
    tws.set_quote("AAPL", "229.40", "229.45")  # "away" fills at IB while the node is away
    (away,) = [e for e in tws.executions() if e.order_ref == "away"]

    node.connected(count=2)
    node.wait(VenueReconciled, count=2)
    fill = node.wait(OrderFilled, lambda m: m.client_order_id == "away")
    assert (fill.trade_id, fill.price, fill.quantity, fill.fee) == (
        away.exec_id,
        D("229.50"),
        D(100),
        away.commission,
    )
    canceled = node.wait(OrderCanceled, lambda m: m.client_order_id == "queued")
    assert canceled.reason == "cancel while TWS is away"
    assert [o.status for o in tws.orders() if o.order_ref == "queued"] == ["Cancelled"]

    node.submit(order("after", "buy", "10", "market", time_in_force="day"))
    node.wait(OrderFilled, lambda m: m.client_order_id == "after")
    assert journal_fills(node) == Counter({(e.order_ref, e.exec_id): 1 for e in tws.executions()})
    assert tws.placements() == {"away": 1, "queued": 1, "after": 1}
    assert node.events("away").count("OrderFilled") == 1
    assert not node.of(InstrumentHalted)


@pytest.mark.parametrize("checkpoints", ["", "checkpoint_every = 3"])
def test_a_restarted_node_finds_its_orders_by_orderref_and_the_reconciler_adds_missed_fills(
    make_node, tws, checkpoints
):
    """Also when the node starts from a checkpoint taken while the orders were working."""
    first = make_node("n", node=checkpoints)
    first.wait(NodeReady)
    first.submit(order("r1", "buy", "100", limit_price="229.50"), via="risk")
    first.submit(order("r2", "buy", "100", limit_price="229.00"), via="risk")
    for cid in ("r1", "r2"):
        first.wait(OrderAccepted, lambda m, cid=cid: m.client_order_id == cid)
    first.stop()

    tws.set_quote("AAPL", "229.40", "229.45")  # r1 fills while no node runs
    (r1,) = [e for e in tws.executions() if e.order_ref == "r1"]

    second = make_node("n", node=checkpoints)  # the same journal, the same client id
    reconciled = second.wait(VenueReconciled)
    assert {r.client_order_id: (r.status, r.filled_quantity) for r in reconciled.queried} == {
        "r1": ("filled", D(100)),
        "r2": ("open", D(0)),
    }
    assert [(f.client_order_id, f.trade_id) for f in reconciled.fills] == [("r1", r1.exec_id)]
    filled = second.wait(OrderFilled, lambda m: m.client_order_id == "r1")  # by the reconciler
    assert (filled.trade_id, filled.fee, filled.cumulative_quantity) == (
        r1.exec_id,
        r1.commission,
        D(100),
    )
    second.wait(NodeReady)

    tws.set_quote("AAPL", "228.90", "228.95")  # r2, still working at IB, fills live
    r2 = second.wait(OrderFilled, lambda m: m.client_order_id == "r2")
    assert (r2.price, r2.cumulative_quantity, r2.leaves_quantity) == (D("229.00"), D(100), 0)
    assert journal_fills(second) == Counter({(e.order_ref, e.exec_id): 1 for e in tws.executions()})
    assert tws.placements() == {"r1": 1, "r2": 1}
    assert not second.of(InstrumentHalted)  # IB's 200 shares are the journal's 200


def test_a_fresh_node_adopts_the_accounts_positions_and_a_later_unexplained_one_halts(
    make_node, tws
):
    def trade_elsewhere(quantity: str) -> None:
        other = make_node("other", client_id=8)  # another client trades the account
        other.wait(NodeReady)
        other.submit(order(f"elsewhere-{quantity}", "buy", quantity, "market", time_in_force="day"))
        other.wait(OrderFilled)
        other.stop()

    trade_elsewhere("5")
    [(held, average_cost)] = tws.positions().values()
    node = make_node("fresh")
    adopted = node.wait(PositionsAdopted)
    assert [(p.symbol, p.quantity, p.average_price) for p in adopted.positions] == [
        ("AAPL", held, average_cost)  # a stock's multiplier is 1
    ]
    node.wait(NodeReady)
    position = node.wait(PositionChanged, lambda m: m.position.venue == "ib").position
    assert (position.quantity, position.average_price) == (D(5), average_cost)
    assert not node.of(InstrumentHalted)
    node.stop()

    trade_elsewhere("3")  # while the node is stopped: the journal cannot explain it
    again = make_node("fresh")
    halted = again.wait(InstrumentHalted)
    assert (halted.symbol, halted.venue) == ("AAPL", "ib")
    assert "ib reports a position of 8 AAPL; the journal's fills add up to 5" in halted.reason
    assert not again.of(PositionsAdopted)


def test_a_twap_finishes_through_a_dropped_connection_without_a_duplicate_or_a_lost_fill(
    make_node, tws
):
    node = make_node(risk="halt_on_disconnect = false")
    node.wait(NodeReady)
    node.node.submit(
        SubmitParentOrder(
            parent_id="twap",
            symbol="AAPL",
            side="buy",
            quantity=D(400),
            algo="twap",
            params={"duration_s": 8.0, "slices": 4, "passive_fraction": 0.5},
        )
    )
    post = node.wait(SliceRouted, lambda m: m.mode == "post" and m.legs)
    resting = post.legs[0].client_order_id
    node.wait(OrderAccepted, lambda m: m.client_order_id == resting)

    tws.refuse_connections(1.0)
    tws.drop_connections()
    node.wait(VenueDisconnected)
    tws.set_quote("AAPL", "229.50", "229.51")  # the passive child fills while the node is away
    assert [e.order_ref for e in tws.executions()] == [resting]

    done = node.wait(ParentOrderCompleted)
    assert done.status == "filled", done.reason
    assert done.report.filled_quantity == D(400)
    executions = tws.executions()
    assert sum(e.shares for e in executions) == D(400)
    assert journal_fills(node) == Counter({(e.order_ref, e.exec_id): 1 for e in executions})
    assert set(tws.placements().values()) == {1}
    assert done.report.fees == sum(e.commission for e in executions)
    assert len(node.of(VenueReconciled)) >= 2
    assert not node.of(InstrumentHalted)
    assert [s.state for s in node.of(TradingStateChanged)] == ["active"]


def test_a_tws_that_stops_answering_is_found_by_the_heartbeat_and_reconnected(
    tmp_path, plugins, tws
):
    proxy = FreezingProxy(tws.port).start()
    node = IbNode(tmp_path / "node", plugins, proxy.port)  # heartbeat_s = 2
    try:
        node.wait(NodeReady)
        proxy.freeze()  # the socket stays open; nothing comes back
        down = node.wait(VenueDisconnected)
        assert down.reconnecting
        assert down.reason.startswith("TWS did not answer the heartbeat within 2 s")
        proxy.thaw()
        node.connected(count=2)
        node.submit(order("after", "buy", "1", "market", time_in_force="day"))
        node.wait(OrderFilled, lambda m: m.client_order_id == "after")
    finally:
        node.stop()
        proxy.stop()
