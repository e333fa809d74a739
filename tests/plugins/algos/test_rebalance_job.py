"""``tradenode rebalance CONFIG``: the daily job run as a command on the replay runtime, against
the real Binance capture and the four order-graph books. Every number of the plan is recomputed
here from the account's starting balances and the node's own NAV record."""

from __future__ import annotations

import json
from decimal import ROUND_DOWN, localcontext
from pathlib import Path

import pytest
from algos_support import BINANCE, LOT, D, node_config, order_graph_venues
from tradenode_algos.rebalance.logs import read_nav_history
from tradenode_algos.rebalance.messages import RebalanceFinished, RebalancePlanned

from node.cli import main
from node.config import load_config
from node.journal import Journal
from node.messages import (
    FILL_TYPES,
    NavRecorded,
    ParentOrderCompleted,
    SubmitParentOrder,
)
from node.plugins import load_plugins

FIXED = "tradenode_algos.rebalance.strategies:fixed_weights"
MODEL = "tradenode_algos.rebalance.strategies:model_portfolio"

BINANCE_JOB = f"""
[rebalance]
logs = "logs"
threshold = "0.001"
algo = "twap"
execution_time_s = 60
params = {{ slices = 4 }}
reference_nav = "100000"
reference_date = 2024-08-08

[[rebalance.strategies]]
path = "{FIXED}"
weight = "0.6"
params = {{ weights = {{ "BTC/USDT" = "1" }} }}

[[rebalance.strategies]]
path = "{MODEL}"
weight = "0.4"
params = {{ positions = {{ "BTC/USDT" = "0.5" }} }}
"""


@pytest.fixture(scope="module")
def plugins():
    return load_plugins()


def write(tmp_path: Path, venues: str, job: str, currency: str = "USDT") -> Path:
    path = tmp_path / "node.toml"
    path.write_text(node_config(venues, currency) + job)
    return path


def journal_messages(path: Path, plugins) -> list:
    config = load_config(path, plugins)
    journal = Journal(config.journal_path, codec=plugins.codec(), readonly=True)
    try:
        return list(journal.messages())
    finally:
        journal.close()


def test_a_rebalance_plans_from_the_node_s_account_trades_and_records_the_run(
    tmp_path, plugins, capsys
):
    path = write(tmp_path, BINANCE.format(usdt="100000", btc="1"), BINANCE_JOB)
    assert main(["rebalance", str(path)]) == 0
    out = capsys.readouterr().out
    messages = journal_messages(path, plugins)
    (plan,) = [m for m in messages if isinstance(m, RebalancePlanned)]
    navs = [m for m in messages if isinstance(m, NavRecorded)]
    # NAV before trading: 100,000 USDT and 1 BTC at the mark the portfolio used
    assert plan.nav == navs[0].nav and plan.currency == "USDT"
    price = plan.prices["BTC/USDT"]
    assert plan.nav == D(100000) + price
    assert plan.positions == {"BTC/USDT": D(1)}  # the venue's BTC balance
    with localcontext() as ctx:
        ctx.prec = 50
        by_weight = D("0.6") * plan.nav / price  # 60 % of NAV in BTC
        by_model = D("0.4") * D("0.5") * plan.nav / D(100000)  # 0.5 BTC per 100,000 of NAV
        target = by_weight + by_model
    assert [s.targets["BTC/USDT"] for s in plan.strategies] == [by_weight, by_model]
    assert plan.targets == {"BTC/USDT": target}
    (order,) = plan.orders
    assert (order.side, order.symbol) == ("buy", "BTC/USDT")
    assert order.quantity == (target - 1).quantize(LOT, ROUND_DOWN)
    # worked as a TWAP over the execution time
    (parent,) = [m for m in messages if isinstance(m, SubmitParentOrder)]
    assert parent.algo == "twap" and parent.params == {"slices": 4, "duration_s": 60.0}
    (done,) = [m for m in messages if isinstance(m, ParentOrderCompleted)]
    assert done.status == "filled"
    fills = [m for m in messages if isinstance(m, FILL_TYPES)]
    assert sum(f.quantity for f in fills) == order.quantity
    (finished,) = [m for m in messages if isinstance(m, RebalanceFinished)]
    assert finished.status == "done" and finished.nav == navs[-1].nav
    # the record on disk
    logs = tmp_path / "logs"
    (row,) = read_nav_history(logs)
    assert row["run_id"] == plan.run_id == "rebalance-20240808-1"
    assert D(row["nav_before"]) == plan.nav and D(row["nav_after"]) == navs[-1].nav
    folder = logs / plan.run_id
    files = {p.name for p in folder.iterdir()}
    assert files == {"nav.json", "targets.json", "positions.json", "orders.json", "trades.json"}
    positions = json.loads((folder / "positions.json").read_text())
    assert D(positions["after"]["BTC/USDT"]) == 1 + order.quantity
    trades = json.loads((folder / "trades.json").read_text())
    assert [D(f["quantity"]) for f in trades["fills"]] == [f.quantity for f in fills]
    targets = json.loads((folder / "targets.json").read_text())
    assert D(targets["combined"]["BTC/USDT"]) == target
    assert "rebalance-20240808-1-1: buy" in out and "status: done" in out

    # The next run finds the account on target: nothing to trade, one more NAV history line.
    assert main(["rebalance", str(path)]) == 0
    rows = read_nav_history(logs)
    assert [r["run_id"] for r in rows] == ["rebalance-20240808-1", "rebalance-20240808-2"]
    second = [m for m in journal_messages(path, plugins) if isinstance(m, RebalancePlanned)][-1]
    assert second.orders == [] and second.positions == {"BTC/USDT": 1 + order.quantity}


OG_JOB = f"""
[rebalance]
logs = "logs"
algo = "twap"
execution_time_s = 10
params = {{ slices = 2, max_slippage_bps = "300" }}

[[rebalance.strategies]]
path = "{FIXED}"
params = {{ weights = {{ "BTC/USD" = "0.2", "ETH/USD" = "0" }} }}
"""


def test_sells_go_first_and_the_buys_wait_for_them(tmp_path, plugins):
    path = write(tmp_path, order_graph_venues(btc="5", eth="10"), OG_JOB, currency="USD")
    assert main(["rebalance", str(path)]) == 0
    messages = journal_messages(path, plugins)
    (plan,) = [m for m in messages if isinstance(m, RebalancePlanned)]
    sell, buy = plan.orders
    assert (sell.side, sell.symbol, sell.quantity) == ("sell", "ETH/USD", D(40))
    assert (buy.side, buy.symbol) == ("buy", "BTC/USD")
    parents = {m.parent_id: m for m in messages if isinstance(m, SubmitParentOrder)}
    done = {m.parent_id: m for m in messages if isinstance(m, ParentOrderCompleted)}
    assert parents[buy.parent_id].ts >= done[sell.parent_id].ts
    assert messages.index(parents[buy.parent_id]) > messages.index(done[sell.parent_id])
    assert {d.status for d in done.values()} == {"filled"}
    assert parents[sell.parent_id].params["duration_s"] == 10.0


def test_a_rebalance_that_cannot_plan_fails_before_any_order(tmp_path, plugins, capsys):
    job = BINANCE_JOB.replace('positions = { "BTC/USDT"', 'positions = { "DOGE/USDT"')
    path = write(tmp_path, BINANCE.format(usdt="100000", btc="1"), job)
    assert main(["rebalance", str(path)]) == 1
    err = capsys.readouterr().err
    assert "DOGE/USDT is not listed on the venues the job may use" in err
    messages = journal_messages(path, plugins)
    assert not [m for m in messages if isinstance(m, SubmitParentOrder)]
    (finished,) = [m for m in messages if isinstance(m, RebalanceFinished)]
    assert finished.status == "failed"
    assert read_nav_history(tmp_path / "logs") == []


def test_a_bad_rebalance_section_is_refused_naming_each_key(tmp_path, capsys):
    job = (
        BINANCE_JOB.replace('algo = "twap"', 'algo = "twapp"')
        .replace(f'path = "{MODEL}"', 'path = "nowhere.at_all:f"')
        .replace('threshold = "0.001"', 'threshold = "0.001"\nleverage = "-1"')
    )
    path = write(tmp_path, BINANCE.format(usdt="100000", btc="1"), job)
    assert main(["rebalance", str(path)]) == 2
    err = capsys.readouterr().err
    assert "rebalance: leverage must be > 0, got -1" in err
    bad_params = BINANCE_JOB.replace("params = { slices = 4 }", "params = { slicez = 4 }")
    path = write(tmp_path, BINANCE.format(usdt="100000", btc="1"), bad_params)
    assert main(["rebalance", str(path)]) == 2
    assert "rebalance.params.slicez: unknown key" in capsys.readouterr().err
    unknown = BINANCE_JOB.replace('algo = "twap"', 'algo = "twapp"').replace(
        f'path = "{MODEL}"', 'path = "nowhere.at_all:f"'
    )
    path = write(tmp_path, BINANCE.format(usdt="100000", btc="1"), unknown)
    assert main(["rebalance", str(path)]) == 2
    err = capsys.readouterr().err
    assert "rebalance.algo: unknown algorithm 'twapp'" in err
    assert "rebalance.strategies[1].path: strategy 'nowhere.at_all:f': cannot import" in err
    assert not (tmp_path / "journal.sqlite").exists(), "nothing may start on a bad config"


def test_buys_are_not_sent_when_the_sells_did_not_fill(tmp_path, plugins, capsys):
    """Order-graph books never trade and 0 bps from the mid reaches no ask or bid: the ETH
    sell cannot fill, so the BTC buy that counts on its cash is never sent."""
    job = OG_JOB.replace('max_slippage_bps = "300"', 'max_slippage_bps = "0"')
    path = write(tmp_path, order_graph_venues(btc="5", eth="10"), job, currency="USD")
    assert main(["rebalance", str(path)]) == 1
    messages = journal_messages(path, plugins)
    (plan,) = [m for m in messages if isinstance(m, RebalancePlanned)]
    sell, buy = plan.orders
    assert buy.side == "buy"
    parents = [m.parent_id for m in messages if isinstance(m, SubmitParentOrder)]
    assert parents == [sell.parent_id]
    (finished,) = [m for m in messages if isinstance(m, RebalanceFinished)]
    assert finished.status == "incomplete"
    assert finished.reason.startswith(
        f"buys not sent: the sells did not all fill ({sell.parent_id}"
    )
    (row,) = read_nav_history(tmp_path / "logs")
    assert row["status"] == "incomplete"
    orders = json.loads((tmp_path / "logs" / plan.run_id / "orders.json").read_text())
    assert [o["parent_id"] for o in orders["outcomes"]] == [sell.parent_id]
    assert "status: incomplete" in capsys.readouterr().out
