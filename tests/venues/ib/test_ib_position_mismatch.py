"""A position at IB that the journal's fills do not explain halts that instrument, end to end.

The account holds 100 AAPL before the node first runs (adopted). While the node is stopped,
someone trades AAPL at TWS itself (a manual order, client id 0): the position IB reports no
longer adds up. The restarted node halts AAPL on IB (``InstrumentHalted``, journaled, with both
numbers) and risk refuses every AAPL order before it reaches IB, while MSFT still trades. The
halt holds across restarts until an operator resumes (``tradenode resume``): a resume clears it,
but as long as IB and the journal still disagree the next reconciliation halts AAPL again; once
the account matches the journal, only a resume lets AAPL trade again.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from ib_node import CLIENT_ID

from node.cli import main
from node.messages import (
    InstrumentHalted,
    NodeReady,
    ParentOrderCompleted,
    PositionsAdopted,
    ResumeTrading,
    RiskRejected,
    SubmitParentOrder,
    VenueReconciled,
)

D = Decimal
AAPL, MSFT = 265598, 272093  # the fake TWS's contract ids

CONTRACTS = """
[venues.ib.contracts.MSFT]
primary_exchange = "NASDAQ"
"""

MISMATCH = "ib reports a position of 150 AAPL; the journal's fills add up to 100"


@pytest.mark.parametrize("checkpoints", ["", "checkpoint_every = 3"])
def test_an_unexplained_ib_position_halts_the_instrument_until_an_operator_resumes(
    tmp_path, make_node, tws, capsys, checkpoints
):
    """Also when each start restores from a checkpoint (the halt in risk's saved state)."""

    def start():
        node = make_node("n", extra=CONTRACTS, node=checkpoints)  # the same journal each time
        node.wait(VenueReconciled)
        node.wait(NodeReady)
        return node

    def journaled(node, kind):
        return [m for m in node.node.journal.messages() if isinstance(m, kind)]

    def our_orders():
        """What reached IB from the node (not TWS's manual orders), by symbol."""
        return sorted(o.instrument.symbol for o in tws.orders() if o.client_id == CLIENT_ID)

    def parent(node, parent_id, symbol):
        node.node.submit(
            SubmitParentOrder(parent_id=parent_id, symbol=symbol, side="buy", quantity=D(10))
        )
        return node.wait(ParentOrderCompleted, lambda m: m.parent_id == parent_id)

    def refused(node, parent_id):
        """An AAPL parent whose child risk refuses for the halt: nothing reaches IB."""
        before = our_orders()
        done = parent(node, parent_id, "AAPL")
        assert done.status != "filled" and done.report.filled_quantity == 0
        assert "AAPL on ib halted" in done.reason, done.reason
        (rejected,) = node.of(RiskRejected, lambda m: m.parent_id == parent_id)
        assert rejected.check == "kill_switch"
        assert rejected.detail.startswith("AAPL on ib halted: ") and MISMATCH in rejected.detail
        assert our_orders() == before  # no child of it reached IB

    def resume(reason):
        assert main(["resume", str(tmp_path / "n" / "node.toml"), "--reason", reason]) == 0
        assert "ResumeTrading journaled" in capsys.readouterr().out

    # 1. the account holds 100 AAPL before the node's first run: adopted, nothing halted
    tws.trade_manually("AAPL", "BUY", 100)
    node = start()
    (adopted,) = node.of(PositionsAdopted)
    assert [(p.symbol, p.quantity) for p in adopted.positions] == [("AAPL", D(100))]
    assert not node.of(InstrumentHalted)
    node.stop()

    # 2. behind the node's back, 50 more AAPL are bought at TWS itself
    manual = tws.trade_manually("AAPL", "BUY", 50)
    assert (manual.client_id, manual.order_ref, manual.status) == (0, "", "Filled")
    assert tws.positions()[AAPL][0] == D(150)

    # 3. the restarted node halts AAPL on IB with both numbers, and journals it
    node = start()
    (halted,) = node.of(InstrumentHalted)
    assert (halted.venue, halted.symbol) == ("ib", "AAPL")
    assert MISMATCH in halted.reason
    assert not node.of(PositionsAdopted)  # not the first reconciliation: nothing adopted
    assert [(m.venue, m.symbol, m.reason) for m in journaled(node, InstrumentHalted)] == [
        ("ib", "AAPL", halted.reason)
    ]
    refused(node, "aapl-1")
    assert our_orders() == []  # IB has never seen an order from the node
    msft = parent(node, "msft-1", "MSFT")  # another instrument still trades
    assert msft.status == "filled" and msft.report.filled_quantity == D(10)
    assert our_orders() == ["MSFT"]
    node.stop()

    # 4. a plain restart: still halted (journaled, and found again by the reconciliation)
    node = start()
    assert MISMATCH in node.wait(InstrumentHalted).reason
    refused(node, "aapl-2")
    node.stop()

    # 5. an operator resumes while IB and the journal still disagree: the resume clears the
    # halt, but the restarted node's reconciliation finds the difference and halts AAPL again
    resume("looked at it")
    node = start()
    assert journaled(node, ResumeTrading)
    assert MISMATCH in node.wait(InstrumentHalted).reason
    refused(node, "aapl-3")
    node.stop()

    # 6. the account is put back at TWS (sold the 50): IB and the journal agree again, nothing
    # new is halted, but the journaled halt holds until an operator resumes
    tws.trade_manually("AAPL", "SELL", 50)
    assert tws.positions()[AAPL][0] == D(100)
    node = start()
    assert not node.of(InstrumentHalted)
    refused(node, "aapl-4")
    node.stop()

    # 7. resumed: AAPL trades again
    resume("AAPL at IB matches the journal again")
    node = start()
    assert not node.of(InstrumentHalted)
    aapl = parent(node, "aapl-5", "AAPL")
    assert aapl.status == "filled" and aapl.report.filled_quantity == D(10)
    assert our_orders() == ["AAPL", "MSFT"]
    assert tws.positions()[AAPL][0] == D(110)
