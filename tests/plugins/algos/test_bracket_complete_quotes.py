"""Bracket (stop-loss / take-profit, one cancels the other), aggressive completion and the
optimal-quote algorithm, on the real Binance capture and the four order-graph books."""

from __future__ import annotations

import math
from decimal import ROUND_CEILING

import pytest
from algos_support import (
    BINANCE,
    NS,
    TICK,
    AlgoNode,
    D,
    check_report,
    first_trade,
    guard,
    node_config,
    order_graph_venues,
    recorded_top_at,
)
from tradenode_algos.glft import QuoteModel, optimal_quotes

from node.messages import CancelSlice, OrderCanceled, SliceCompleted, SliceRouted, SubmitOrder
from node.plugins import load_plugins


@pytest.fixture(scope="module")
def plugins():
    return load_plugins()


def binance(path, plugins) -> AlgoNode:
    return AlgoNode(path, plugins, node_config(BINANCE.format(usdt="1000000", btc="20")))


# -- bracket ----------------------------------------------------------------------------------


def test_the_stop_triggers_cancels_the_take_profit_and_sells_the_rest(tmp_path, plugins):
    stop = D("61700")
    node = binance(tmp_path, plugins)
    try:
        node.submit(
            "b",
            "sell",
            "1",
            "bracket",
            params={"stop_price": str(stop), "take_profit_price": "62000"},
        )
        node.run_until_done("b", limit_s=400)
        view = node.view("b")
    finally:
        node.close()
    (tp, sweep) = view.slices
    assert (tp.urgency, tp.limit_price, tp.quantity) == ("post", D("62000"), D(1))
    assert sweep.urgency == "take"
    (cancel,) = view.of(CancelSlice)
    trigger = cancel.ts
    # the first recorded trade at or through the stop, found without the node
    trade = first_trade(view.accepted.ts, lambda t: t.price <= stop)
    assert trade is not None and trigger <= trade.ts
    mid = view.mid_at(cancel)  # the mid at the trigger: the stop's sweep is guarded on it
    assert trigger == trade.ts or mid <= stop
    # one cancels the other: the take-profit was canceled before the stop's first child
    tp_cancel = [m for m in view.of(OrderCanceled) if m.client_order_id.startswith("b.1.")]
    stop_children = [m for m in view.of(SubmitOrder) if m.client_order_id.startswith("b.2.")]
    assert tp_cancel and stop_children and tp_cancel[0].ts <= stop_children[0].ts
    rows = view.rows
    assert rows.index(tp_cancel[0]) < rows.index(stop_children[0])
    assert sweep.limit_price == guard("sell", mid, D(50))
    assert all(f.price >= sweep.limit_price for f in view.fills)
    assert view.completed.status == "filled" and sum(f.quantity for f in view.fills) == D(1)
    assert view.completed.reason.startswith(("a trade at", "mid"))
    check_report(view, D(1))


def test_a_take_profit_that_fills_ends_the_bracket_and_its_stop(tmp_path, plugins):
    node = binance(tmp_path, plugins)
    try:
        node.submit(
            "t",
            "sell",
            "0.5",
            "bracket",
            params={"stop_price": "61000", "take_profit_price": "61850"},
        )
        node.run_until_done("t", limit_s=200)
        view = node.view("t")
    finally:
        node.close()
    assert view.completed.status == "filled"
    assert view.completed.reason == "take-profit filled at 61850"
    assert [s.urgency for s in view.slices] == ["post"]
    assert all(f.price == D("61850") and f.liquidity == "maker" for f in view.fills)
    assert sum(f.quantity for f in view.fills) == D("0.5")
    check_report(view, D("0.5"))


def test_a_bracket_with_its_stop_on_the_wrong_side_fails_saying_why(tmp_path, plugins):
    node = binance(tmp_path, plugins)
    try:
        node.submit(
            "w",
            "sell",
            "1",
            "bracket",
            params={"stop_price": "63000", "take_profit_price": "62000"},
        )
        node.submit(
            "s", "buy", "1", "bracket", params={"stop_price": "60000", "take_profit_price": "61000"}
        )
        node.run_for(1)
        wrong, short = node.view("w").completed, node.view("s").completed
    finally:
        node.close()
    assert wrong.status == "failed" and "stop_price 63000 must be below take_profit_price" in (
        wrong.reason
    )
    assert short.status == "failed" and "must be above take_profit_price 61000" in short.reason


# -- aggressive completion --------------------------------------------------------------------


def test_completion_stops_at_its_guard_and_says_so(tmp_path, plugins):
    node = binance(tmp_path, plugins)
    try:
        node.submit("c", "buy", "15", "complete", params={"max_slippage_bps": "0.5"})
        node.submit("later", "buy", "0.5", "complete", params={"after_s": 5})
        node.run_until_done("c", limit_s=5)
        node.run_until_done("later", limit_s=10)
        view, later = node.view("c"), node.view("later")
    finally:
        node.close()
    arrival = view.accepted.arrival_mid
    limit = guard("buy", arrival, D("0.5"))
    assert all(f.price <= limit for f in view.fills)
    filled = sum(f.quantity for f in view.fills)
    assert 0 < filled < D(15) and view.completed.status == "partially_filled"
    assert view.completed.reason == (
        f"completion: {D(15) - filled} left, not fillable within 0.5 bps of {arrival} "
        f"(limit {limit})"
    )
    check_report(view, D(15))
    (sweep,) = later.slices
    assert sweep.ts - later.accepted.ts == 5 * NS and sweep.urgency == "take"
    assert sweep.limit_price == guard("buy", later.accepted.arrival_mid, D(50))
    assert later.completed.status == "filled"


def test_completion_sweeps_across_venues_through_the_router(tmp_path, plugins):
    node = AlgoNode(tmp_path / "og", plugins, node_config(order_graph_venues(), "USD"))
    try:
        node.submit(
            "s", "buy", "25", "complete", symbol="BTC/USD", params={"max_slippage_bps": "200"}
        )
        node.run_until_done("s", limit_s=10)
        view = node.view("s")
    finally:
        node.close()
    assert view.completed.status == "filled"
    (plan, *_) = view.of(SliceRouted)
    assert len({leg.venue for leg in plan.legs}) >= 2
    limit = guard("buy", view.accepted.arrival_mid, D(200), D("0.1"))  # the coarsest tick
    assert all(f.price <= limit for f in view.fills)
    check_report(view, D(25))


# -- optimal quotes ---------------------------------------------------------------------------

QUOTES = {
    "sigma": 3.0,
    "A": 1.0,
    "k": 0.5,
    "gamma": 0.05,
    "b": 10.0,
    "duration_s": 120,
    "lot_quantity": "0.01",
    "steps": 60,
}


def test_optimal_quotes_rest_one_lot_at_the_model_s_distance_from_the_mid(tmp_path, plugins):
    node = binance(tmp_path, plugins)
    try:
        node.submit("o", "sell", "0.1", "optimal_quotes", params=QUOTES)
        node.run_until_done("o", limit_s=150)
        view = node.view("o")
    finally:
        node.close()
    grid = optimal_quotes(
        QuoteModel(sigma=3.0, A=1.0, k=0.5, gamma=0.05, b=10.0, horizon=120, inventory=10), 60
    )
    start = view.accepted.ts
    step = 2 * NS
    completions = {m.ts for m in view.of(SliceCompleted)}
    assert len(view.slices) >= 10
    for s in view.slices:
        assert s.urgency == "post" and s.quantity <= D("0.01")
        assert (s.ts - start) % step == 0 or s.ts in completions or s.ts == start
        left = D("0.1") - view.filled_before(s)
        lots = math.ceil(left / D("0.01"))
        j = min((s.ts - start) // step, 60)
        delta = D(repr(float(grid.delta[j, lots - 1])))
        mid = view.mid_at(s)
        model = ((mid + delta) / TICK).to_integral_value(ROUND_CEILING) * TICK
        # at the model's price, or (a negative or small delta) one tick above the best bid of
        # the recorded book (nothing of this parent takes, so it is the venue's book)
        bids = {recorded_top_at(s.ts, inclusive)[0] for inclusive in (False, True)}
        assert s.limit_price in {max(model, bid + TICK) for bid in bids}
    assert view.completed.status == "filled"
    assert sum(f.quantity for f in view.fills) == D("0.1")
    assert all(f.liquidity == "maker" for f in view.fills)
    check_report(view, D("0.1"))


def test_optimal_quotes_refuse_a_quantity_that_is_not_whole_lots(tmp_path, plugins):
    node = binance(tmp_path, plugins)
    try:
        node.submit("o", "sell", "0.105", "optimal_quotes", params=QUOTES)
        node.submit("k", "sell", "0.1", "optimal_quotes", params={**QUOTES, "k": -1})
        node.run_for(1)
        (bad,) = node.rows("o", type(node.view("o").completed))
        rejected = node.rows("k")
    finally:
        node.close()
    assert bad.status == "failed" and "whole number of lot_quantity 0.01" in bad.reason
    assert any("k must be finite and > 0" in getattr(m, "reason", "") for m in rejected)


def test_a_completion_due_while_trading_is_halted_waits_for_the_resume(tmp_path, plugins):
    from node.messages import HaltTrading, ResumeTrading

    node = binance(tmp_path, plugins)
    try:
        node.submit("h", "buy", "0.5", "complete", params={"after_s": 5})
        node.run_for(2)
        node.node.runtime.send("risk", HaltTrading(reason="operator", ts=node.now))
        node.run_for(8)  # the sweep fell due at 5 s, halted
        assert node.view("h").slices == []
        node.node.runtime.send("risk", ResumeTrading(reason="operator", ts=node.now))
        node.run_until_done("h", limit_s=5)
        view = node.view("h")
    finally:
        node.close()
    (sweep,) = view.slices
    assert sweep.ts - view.accepted.ts >= 10 * NS
    assert view.completed.status == "filled"
    check_report(view, D("0.5"))
