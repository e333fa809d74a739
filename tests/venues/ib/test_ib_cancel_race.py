"""A cancel that races a fill at IB: TWS refuses the cancel (161, or 10148) and the order fills.

ib_async marks an unfinished trade Cancelled on any order error, a refused cancel too; the
order must nevertheless stay live in the node until IB says how it ended, and the fill must
reach the node once (fill, position and cash as IB has them) — whether TWS's refusal comes
before the fill's messages or after them, and even when the fill's live messages are lost (the
venue then asks IB for the executions and completed orders).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from ib_node import order

from node.messages import (
    FILL_TYPES,
    BalancesUpdated,
    InstrumentHalted,
    NodeReady,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderFilled,
    VenueStatus,
)

D = Decimal


@pytest.mark.parametrize(
    ("code", "error_first", "silent"),
    [
        (161, True, False),
        (10148, True, False),
        (10148, False, False),
        (161, True, True),
    ],
    ids=["161-before-fill", "10148-before-fill", "10148-after-fill", "161-fill-unheard"],
)
def test_a_cancel_refused_because_the_order_filled_leaves_the_fill_to_the_node(
    make_node, tws, code: int, error_first: bool, silent: bool
):
    node = make_node()
    node.wait(NodeReady)
    node.submit(order("race", "buy", "100", limit_price="225.00", time_in_force="day"))
    node.wait(OrderAccepted, lambda m: m.client_order_id == "race")
    tws.race_next_cancel(code, error_first=error_first, silent=silent)
    node.cancel("race", "no longer wanted")

    filled = node.wait(OrderFilled, lambda m: m.client_order_id == "race", what="the fill")
    (execution,) = [e for e in tws.executions() if e.order_ref == "race"]
    assert (filled.trade_id, filled.quantity, filled.price, filled.fee) == (
        execution.exec_id,
        D(100),
        D("225.00"),
        execution.commission,
    )
    refused = node.wait(OrderCancelRejected, lambda m: m.client_order_id == "race")
    assert refused.reason.startswith(f"IB {code} ")
    assert [o.status for o in tws.orders() if o.order_ref == "race"] == ["Filled"]

    cash = tws.cash()["USD"]
    node.wait(
        BalancesUpdated,
        lambda b: (
            "AAPL" in b.balances
            and b.balances["AAPL"].total == 100
            and b.balances["USD"].total == cash
        ),
        what="IB's balances after the fill",
    )
    node.eventually(
        lambda: node.ledger().balances["ib"] == {"USD": cash, "AAPL": D(100)},
        "the ledger holds IB's cash and shares",
    )
    # once, and the order was never called canceled
    assert len(node.fills("race")) == 1
    assert len([m for m in node.recorder.of_type(*FILL_TYPES)]) == 1
    assert not node.of(OrderCanceled, lambda m: m.client_order_id == "race")
    assert not node.of(VenueStatus, lambda s: s.status == "unexpected execution")
    assert not node.of(InstrumentHalted)


@pytest.mark.parametrize("code", [10147, 10148, 161])
def test_a_refused_cancel_does_not_leave_the_trade_cancelled_but_a_real_cancel_does(code: int):
    from datetime import UTC, datetime

    from ib_async import Contract, Order, OrderStatus, Trade, TradeLogEntry
    from tradenode_ib.client import _undo_cancelled

    now = datetime.now(UTC)
    trade = Trade(Contract(), Order(orderId=5), OrderStatus(status="Cancelled"))
    trade.log = [
        TradeLogEntry(now, "Submitted"),
        TradeLogEntry(now, "PendingCancel"),
        TradeLogEntry(now, "Cancelled", f"Error {code}", code),  # ib_async's, from the error
    ]
    _undo_cancelled(trade, code)
    assert trade.orderStatus.status == "PendingCancel" and not trade.isDone()
    # IB had already canceled it (202, then a late refusal): it stays Cancelled
    done = Trade(Contract(), Order(orderId=6), OrderStatus(status="Cancelled"))
    done.log = [TradeLogEntry(now, "Submitted"), TradeLogEntry(now, "Cancelled", "", 202)]
    _undo_cancelled(done, code)
    assert done.orderStatus.status == "Cancelled"
