"""The bracket's stop-loss keeps working until the position is out: a sweep that a thin book
leaves short retries from the mid a moment later (its guard widening), on the real Binance
capture, where the recorded book refills what our sweeps took."""

from __future__ import annotations

from decimal import Decimal

import pytest
from algos_support import BINANCE, AlgoNode, D, check_report, guard, node_config

from node.messages import (
    CompleteParentOrder,
    HaltTrading,
    ParentCompleteRejected,
    ParentOrderCompleted,
    ResumeTrading,
    SubmitOrder,
)
from node.plugins import load_plugins

MS = 1_000_000
STOP = D("61700")
QUANTITY = D(15)  # far more than the recorded book holds within 0.5 bps of the mid


@pytest.fixture(scope="module")
def plugins():
    return load_plugins()


def binance(path, plugins) -> AlgoNode:
    return AlgoNode(path, plugins, node_config(BINANCE.format(usdt="1000000", btc="20")))


def stop_params() -> dict:
    return {"stop_price": str(STOP), "take_profit_price": "62000", "max_slippage_bps": "0.5"}


def check_sweeps(view, guard_bps, limit_price: Decimal | None = None) -> list:
    """Every sweep of the stop: the whole remainder, guarded on the mid it saw with the
    documented width, sent only once the one before had completed, ``check_interval_ms``
    later; every fill within its sweep's limit, never more than the parent in all."""
    tp, *sweeps = view.slices
    assert tp.urgency == "post" and view.slice_done(tp.slice_id).status == "canceled"
    assert sweeps and all(s.urgency == "take" for s in sweeps)
    first = view.slice_done(sweeps[0].slice_id)
    assert first.filled_quantity < QUANTITY  # liquidity within the guard is short of the position
    for n, s in enumerate(sweeps):
        assert s.quantity == QUANTITY - view.filled_before(s)  # what is left, never more
        raw = guard("sell", view.mid_at(s), guard_bps(n))
        assert s.limit_price == (raw if limit_price is None else max(raw, limit_price))
        if n:
            before = view.slice_done(sweeps[n - 1].slice_id)
            assert view.rows.index(before) < view.rows.index(s)
            assert s.ts - before.ts >= 100 * MS
        for f in view.fills:
            if f.client_order_id.startswith(f"b.{s.slice_id}."):
                assert f.price >= s.limit_price
    filled = D(0)
    for f in view.fills:  # in journal order
        filled += f.quantity
        assert filled <= QUANTITY
    return sweeps


@pytest.mark.parametrize(
    ("widen", "guard_bps"),
    [
        (None, lambda n: min(D("0.5") + 10 * n, D(500))),  # the default: 10 bps wider a retry
        ("0", lambda n: D("0.5")),  # the same guard: only the refilled book fills it
    ],
)
def test_a_stop_into_a_thin_book_retries_until_the_position_is_out(
    tmp_path, plugins, widen, guard_bps
):
    params = stop_params()
    if widen is not None:
        params["stop_widen_bps"] = widen
    node = binance(tmp_path, plugins)
    try:
        node.submit("b", "sell", str(QUANTITY), "bracket", params=params)
        node.run_until_done("b", limit_s=400)
        view = node.view("b")
    finally:
        node.close()
    sweeps = check_sweeps(view, guard_bps)
    assert len(sweeps) >= 2
    # each retry was announced: what is left, after which sweep, and the next guard
    retries = [p for p in view.progress if "left after sweep" in p.state]
    assert len(retries) == len(sweeps) - 1
    for n, p in enumerate(retries, 1):
        assert p.state.startswith(f"stop-loss: {p.remaining_quantity} left after sweep {n} (")
        assert f"within {guard_bps(n)} bps" in p.state
    assert view.completed.status == "filled"
    assert view.completed.reason.startswith(("a trade at", "mid"))
    assert sum(f.quantity for f in view.fills) == QUANTITY
    check_report(view, QUANTITY)


def test_a_stop_held_at_the_parent_limit_waits_out_a_halt_and_then_gets_out(tmp_path, plugins):
    limit = D("61690")
    node = binance(tmp_path, plugins)
    try:
        node.submit("b", "sell", str(QUANTITY), "bracket", params=stop_params(), limit_price=limit)
        while not [s for s in node.view("b").slices if s.urgency == "take"]:
            node.run_for(0.5)
        node.run_for(1)
        node.node.runtime.send("risk", HaltTrading(reason="operator", ts=node.now))
        node.run_for(5)
        halted = node.view("b")
        assert not halted.of(ParentOrderCompleted)  # the stop did not end with the halt
        node.node.runtime.send("risk", ResumeTrading(reason="operator", ts=node.now))
        resumed = node.now
        node.run_until_done("b", limit_s=400)
        view = node.view("b")
    finally:
        node.close()
    assert halted.progress[-1].state.startswith("paused: trading halted")
    assert sum(f.quantity for f in halted.fills) < QUANTITY
    sent = [m.ts for m in view.of(SubmitOrder)]
    halt_ts = halted.progress[-1].ts
    assert not [ts for ts in sent if halt_ts < ts < resumed]  # nothing sent while halted
    assert [s for s in view.slices if s.ts == resumed]  # it swept again at once on the resume
    check_sweeps(view, lambda n: min(D("0.5") + 10 * n, D(500)), limit)
    assert all(f.price >= limit for f in view.fills)
    assert any("held at the parent's limit 61690" in p.state for p in view.progress)
    assert view.completed.status == "filled"
    check_report(view, QUANTITY)


def test_the_stop_s_params_are_checked(tmp_path, plugins):
    node = binance(tmp_path, plugins)
    try:
        node.submit("w", "sell", "1", "bracket", params={**stop_params(), "stop_widen_bps": -1})
        node.submit(
            "m", "sell", "1", "bracket", params={**stop_params(), "stop_max_slippage_bps": "0.1"}
        )
        node.run_for(1)
        rows = node.rows("w") + node.rows("m")
    finally:
        node.close()
    reasons = " ".join(getattr(m, "reason", "") for m in rows)
    assert "stop_widen_bps must be in [0, 10000] bps" in reasons
    assert "stop_max_slippage_bps must be >= max_slippage_bps (0.5)" in reasons


def test_completing_a_bracket_closes_it_at_the_mid_now_but_never_narrows_a_working_stop(
    tmp_path, plugins
):
    """Before its stop triggers, completing a bracket takes the position out guarded on the mid
    at the request (a bracket may have waited for hours since its arrival); once the stop works
    the position out on its own widening guard, a completion is refused, saying so."""
    node = binance(tmp_path / "before", plugins)
    try:
        far = {"stop_price": "50000", "take_profit_price": "70000"}
        node.submit("c", "sell", "0.5", "bracket", params=far)
        node.run_for(30)
        asked = node.now
        node.node.runtime.send(
            "execution",
            CompleteParentOrder(parent_id="c", max_slippage_bps=D(20), reason="flat", ts=asked),
        )
        done = node.run_until_done("c", limit_s=10)
        view = node.view("c")
    finally:
        node.close()
    assert done.status == "filled" and done.reason == "completed on demand (flat)"
    [take] = [s for s in view.slices if s.urgency == "take"]
    assert take.limit_price == guard("sell", view.mid_at(take), D(20))
    assert take.ts >= asked

    node = binance(tmp_path / "triggered", plugins)
    try:
        node.submit("b", "sell", str(QUANTITY), "bracket", params=stop_params())
        while not [s for s in node.view("b").slices if s.urgency == "take"]:
            node.run_for(0.01)  # until the stop's first sweep, which leaves most of it
        node.node.runtime.send(
            "execution", CompleteParentOrder(parent_id="b", max_slippage_bps=D(1), ts=node.now)
        )
        node.run_for(0.01)
        [refused] = node.rows("b", ParentCompleteRejected)
        done = node.run_until_done("b", limit_s=400)
    finally:
        node.close()
    assert refused.reason.startswith("its stop-loss is taking the position out (")
    assert done.status == "filled" and "on demand" not in done.reason
