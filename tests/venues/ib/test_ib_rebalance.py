"""The rebalancing job against Interactive Brokers: ``tradenode rebalance CONFIG`` with the IB venue
trading through the real ib_async client with the fake TWS. The account already holds AAPL bought
by another client (adopted at the node's first reconciliation); NAV comes from the node's own
ledger of IB's cash and positions at IB's quotes; the orders are TWAPs over the execution time;
the run's record is compared with what the broker itself booked.
"""

from __future__ import annotations

import json
from decimal import ROUND_DOWN, Decimal, localcontext

from ib_node import order, write_config
from tradenode_algos.rebalance.logs import read_nav_history
from tradenode_algos.rebalance.messages import RebalanceFinished, RebalancePlanned

from node.cli import main
from node.journal import Journal
from node.messages import (
    FILL_TYPES,
    NodeReady,
    OrderFilled,
    ParentOrderCompleted,
    PositionsAdopted,
    SubmitParentOrder,
)

D = Decimal
AAPL, MSFT = 265598, 272093  # the fake TWS's contract ids

JOB = """
[rebalance]
logs = "logs"
threshold = "0.001"
algo = "twap"
execution_time_s = 6
params = { slices = 3 }

[[rebalance.strategies]]
path = "tradenode_algos.rebalance.strategies:fixed_weights"
params = { weights = { "AAPL" = "0.3", "MSFT" = "0.5" } }
"""

CONTRACTS = """
[venues.ib.contracts.MSFT]
primary_exchange = "NASDAQ"
"""


def test_a_rebalance_on_an_ib_account_reaches_its_weights_and_matches_the_broker(
    tmp_path, make_node, tws, plugins, capsys
):
    other = make_node("other", client_id=8)  # the account holds 500 AAPL before the node
    other.wait(NodeReady)
    other.submit(order("before", "buy", "500", "market", time_in_force="day"))
    other.wait(OrderFilled)
    other.stop()
    cash_before = tws.cash()["USD"]

    folder = tmp_path / "rebalancer"
    folder.mkdir()
    config = write_config(folder, tws.port, extra=CONTRACTS)
    config.write_text(config.read_text().replace('name = "ib-test"', 'name = "ib-rebalance"') + JOB)
    assert main(["rebalance", str(config)]) == 0
    out = capsys.readouterr().out
    assert "status: done" in out

    journal = Journal(folder / "journal.sqlite", codec=plugins.codec(), readonly=True)
    try:
        messages = list(journal.messages())
    finally:
        journal.close()
    (adopted,) = [m for m in messages if isinstance(m, PositionsAdopted)]
    assert [(p.symbol, p.quantity) for p in adopted.positions] == [("AAPL", D(500))]
    (plan,) = [m for m in messages if isinstance(m, RebalancePlanned)]
    assert plan.positions == {"AAPL": D(500), "MSFT": D(0)}
    # NAV: IB's cash plus the adopted 500 AAPL at the mark the plan used
    assert plan.nav == cash_before + 500 * plan.prices["AAPL"] and plan.currency == "USD"
    with localcontext() as ctx:
        ctx.prec = 50
        targets = {
            "AAPL": D("0.3") * plan.nav / plan.prices["AAPL"],
            "MSFT": D("0.5") * plan.nav / plan.prices["MSFT"],
        }
    assert plan.targets == targets
    planned = {o.symbol: (o.side, o.quantity) for o in plan.orders}
    assert planned == {
        "AAPL": ("buy", (targets["AAPL"] - 500).quantize(D(1), ROUND_DOWN)),  # whole shares
        "MSFT": ("buy", targets["MSFT"].quantize(D(1), ROUND_DOWN)),
    }
    parents = [m for m in messages if isinstance(m, SubmitParentOrder)]
    assert {p.algo for p in parents} == {"twap"}
    assert all(p.params == {"slices": 3, "duration_s": 6.0} for p in parents)
    assert {m.status for m in messages if isinstance(m, ParentOrderCompleted)} == {"filled"}
    (finished,) = [m for m in messages if isinstance(m, RebalanceFinished)]
    assert finished.status == "done"

    # what the broker booked is what the node journaled, fill for fill
    fills = [m for m in messages if isinstance(m, FILL_TYPES)]
    ours = [e for e in tws.executions() if e.order_ref != "before"]
    assert sorted((f.trade_id, f.quantity, f.price, f.fee) for f in fills) == sorted(
        (e.exec_id, e.shares, e.price, e.commission) for e in ours
    )
    held = {con: quantity for con, (quantity, _cost) in tws.positions().items()}
    assert held == {AAPL: 500 + planned["AAPL"][1], MSFT: planned["MSFT"][1]}
    assert tws.placements()["before"] == 1 and max(tws.placements().values()) == 1

    # the run's record on disk
    (row,) = read_nav_history(folder / "logs")
    assert D(row["nav_before"]) == plan.nav and D(row["nav_after"]) == finished.nav
    positions = json.loads((folder / "logs" / plan.run_id / "positions.json").read_text())
    assert {s: D(q) for s, q in positions["after"].items()} == {
        "AAPL": D(held[AAPL]),
        "MSFT": D(held[MSFT]),
    }
