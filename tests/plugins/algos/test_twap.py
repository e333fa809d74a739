"""TWAP inside a whole node on the replay runtime: the real Binance BTCUSDT capture (resting
slices fill only behind their queue, on later recorded trades) and the four order-graph books
(nothing trades there: every slice ends up taken, split across venues by the router)."""

from __future__ import annotations

from decimal import ROUND_DOWN

import msgspec
import pytest
from algos_support import (
    BINANCE,
    NS,
    AlgoNode,
    D,
    check_report,
    guard,
    node_config,
    order_graph_venues,
    recorded_mid_at,
)
from tradenode_algos.schedule import build_schedule
from tradenode_algos.twap import TwapExecutor, TwapParams

from node.codec import to_json
from node.messages import (
    CancelParentOrder,
    CompleteParentOrder,
    ComponentRestarted,
    HaltTrading,
    OrderCanceled,
    ParentCompleteRejected,
    ResumeTrading,
    SliceRouted,
)
from node.plugins import load_plugins


@pytest.fixture(scope="module")
def plugins():
    return load_plugins()


def binance(tmp_path, plugins, name="node", usdt="1000000", btc="20") -> AlgoNode:
    return AlgoNode(tmp_path / name, plugins, node_config(BINANCE.format(usdt=usdt, btc=btc)))


@pytest.fixture(scope="module")
def twap_run(tmp_path_factory, plugins):
    """A 2 BTC TWAP buy over 120 s in 6 slices, run to completion once for several tests."""
    node = binance(tmp_path_factory.mktemp("twap"), plugins)
    node.submit("t1", "buy", "2", "twap", params={"duration_s": 120, "slices": 6})
    node.run_until_done("t1", limit_s=200)
    yield node
    node.close()


def test_twap_fills_exactly_its_quantity_and_its_report_adds_up(twap_run):
    view = twap_run.view("t1")
    assert view.completed.status == "filled" and view.completed.reason == ""
    assert sum(f.quantity for f in view.fills) == D(2)
    check_report(view, D(2))
    # the arrival mid is the recorded book's mid at acceptance, rebuilt without the node
    assert view.accepted.arrival_mid == recorded_mid_at(view.accepted.ts)
    assert view.completed.report.algo == "twap"
    assert view.open_children() == set()


def test_twap_slices_follow_the_schedule_passive_then_guarded_takes(twap_run):
    view = twap_run.view("t1")
    start = view.accepted.ts
    interval = 20 * NS
    posts = [s for s in view.slices if s.urgency == "post"]
    takes = [s for s in view.slices if s.urgency == "take"]
    assert posts and takes, "on the real capture some slices fill passively, some are taken"
    for s in posts:  # each slice starts on its edge, resting at the mid on the tick
        offset = s.ts - start
        assert offset % interval == 0
        i = offset // interval
        target = (D(2) * (i + 1) / 6).quantize(D("0.00001"), ROUND_DOWN)  # floored to the lot
        assert s.quantity == target - view.filled_before(s)
        mid = view.mid_at(s)
        assert s.limit_price <= mid and mid - s.limit_price < D("0.01")
        child = [
            c for c in view.children.values() if c.client_order_id.startswith(f"t1.{s.slice_id}.")
        ]
        assert child and all(c.time_in_force == "gtc" and c.post_only for c in child)
    for s in takes:  # at 80 % of a slice, what it still owes, within 50 bps of the mid
        assert (s.ts - start) % interval == 16 * NS
        mid = view.mid_at(s)
        assert s.limit_price == guard("buy", mid, D(50))
        children = [
            c for c in view.children.values() if c.client_order_id.startswith(f"t1.{s.slice_id}.")
        ]
        assert all(c.time_in_force == "ioc" and c.limit_price <= s.limit_price for c in children)
        # the passive slice before it was canceled first, at the same instant
        before = [p for p in posts if p.slice_id == s.slice_id - 1]
        assert before and view.slice_done(before[0].slice_id).status in ("canceled", "filled")
    assert all(
        f.price <= guard("buy", view.mid_at(s), D(50))
        for s in takes
        for f in view.fills
        if f.client_order_id.startswith(f"t1.{s.slice_id}.")
    )


def test_twap_publishes_schedule_against_actual_with_the_mid(twap_run):
    view = twap_run.view("t1")
    progress = view.progress
    assert len(progress) >= 100, "a working parent publishes at least every second"
    scheduled = [p.scheduled_quantity for p in progress]
    assert all(q is not None for q in scheduled)
    assert scheduled == sorted(scheduled) and scheduled[-1] <= D(2)
    assert all(
        p.mid is not None and p.filled_quantity + p.remaining_quantity == D(2) for p in progress
    )
    assert progress[-1].filled_quantity == D(2)
    # one second in, the schedule wants 1/120 of the parent, floored to the lot
    first_tick = [p for p in progress if p.ts == view.accepted.ts + NS]
    assert first_tick and first_tick[0].scheduled_quantity == D("0.01666")


def test_twap_is_deterministic_to_the_journal_row(tmp_path, plugins):
    def run(name: str) -> list[bytes]:
        node = binance(tmp_path, plugins, name)
        try:
            node.submit(
                "d",
                "sell",
                "0.6",
                "twap",
                params={"duration_s": 40, "slices": 4, "randomize": 0.5, "seed": 3},
            )
            node.run_until_done("d", limit_s=60)
            return [to_json(m) for m in node.rows("d")]
        finally:
            node.close()

    first, second = run("a"), run("b")
    assert first == second
    assert len(first) > 20


def test_a_slice_that_fell_behind_catches_up(tmp_path, plugins):
    """With no room to take (0 bps from the mid is the bid, for a buy), slices left unfilled
    are asked for again by the next slice: each post asks for the schedule's target so far."""
    node = binance(tmp_path, plugins)
    try:
        node.submit(
            "c", "buy", "3", "twap", params={"duration_s": 60, "slices": 3, "max_slippage_bps": "0"}
        )
        node.run_until_done("c", limit_s=80)
        view = node.view("c")
    finally:
        node.close()
    posts = [s for s in view.slices if s.urgency == "post"]
    targets = {0: D(1), 20 * NS: D(2), 40 * NS: D(3)}
    behind = 0
    for s in posts:
        target = targets[s.ts - view.accepted.ts]
        assert s.quantity == target - view.filled_before(s)
        if s.quantity > 1:
            behind += 1
    assert behind >= 1, "no slice fell behind: the test proves nothing"
    done = view.completed
    assert sum(f.quantity for f in view.fills) == done.report.filled_quantity <= D(3)
    if done.status != "filled":
        assert "not fillable within 0 bps of the mid" in done.reason
    check_report(view, D(3))


def test_a_parent_limit_price_is_never_crossed(tmp_path, plugins):
    node = binance(tmp_path, plugins)
    limit = D("61800.00")  # below the market at the start; it trades lower later on
    try:
        node.submit(
            "l", "buy", "2", "twap", limit_price=limit, params={"duration_s": 60, "slices": 3}
        )
        node.run_until_done("l", limit_s=80)
        view = node.view("l")
    finally:
        node.close()
    assert view.slices and all(s.limit_price <= limit for s in view.slices)
    assert all(c.limit_price <= limit for c in view.children.values())
    assert all(f.price <= limit for f in view.fills)
    assert view.completed.status in ("partially_filled", "unfilled")
    left = D(2) - view.completed.report.filled_quantity
    assert view.completed.reason.startswith(f"{left} left at the end of the schedule")
    check_report(view, D(2))


def test_cancel_mid_run_leaves_no_open_child(tmp_path, plugins):
    node = binance(tmp_path, plugins)
    try:
        node.submit("x", "buy", "5", "twap", params={"duration_s": 300, "slices": 10})
        node.run_for(10)  # slice 1 is resting (it does not fill in its first 24 s)
        assert node.view("x").open_children(), "nothing resting: the cancel proves nothing"
        node.node.runtime.send(
            "execution", CancelParentOrder(parent_id="x", reason="trader", ts=node.now)
        )
        done = node.run_until_done("x", limit_s=10)
        view = node.view("x")
        node.run_for(60)  # later timers of the schedule must route nothing
        assert node.view("x").slices == view.slices
    finally:
        node.close()
    assert done.status == "canceled" and done.reason == "trader"
    assert view.open_children() == set()
    assert view.of(OrderCanceled)
    check_report(view, D(5))


def test_twap_across_four_venues_takes_each_slice_through_the_router(tmp_path, plugins):
    """Order-graph books never trade: every resting slice is canceled at 80 % and taken, split
    across venues at least cost by the router."""
    node = AlgoNode(tmp_path / "og", plugins, node_config(order_graph_venues(), "USD"))
    try:
        node.submit(
            "og",
            "buy",
            "20",
            "twap",
            symbol="BTC/USD",
            params={"duration_s": 10, "slices": 2, "max_slippage_bps": "100"},
        )
        node.run_until_done("og", limit_s=30)
        view = node.view("og")
    finally:
        node.close()
    assert view.completed.status == "filled"
    assert all(f.liquidity == "taker" for f in view.fills)
    takes = [s for s in view.slices if s.urgency == "take"]
    assert len(takes) == 2
    for s in takes:
        plan = next(p for p in view.of(SliceRouted) if p.slice_id == s.slice_id)
        assert len({leg.venue for leg in plan.legs}) >= 2, "10 BTC is deeper than one venue"
    assert len({f.venue for f in view.fills}) >= 2
    check_report(view, D(20))


def _crashing_twap() -> type[TwapExecutor]:
    """Fault injection: a TWAP executor that raises once at the start of slice 3, as a bug
    would; the supervisor rebuilds it from the journal (a TwapExecutor in every other respect).
    ``crashed`` says it did."""

    class CrashOnce(TwapExecutor):
        crashed = False

        def on_algo_timer(self, name, payload):
            if name == "slice.start" and payload == 2 and not CrashOnce.crashed:
                CrashOnce.crashed = True
                raise RuntimeError("injected fault")
            super().on_algo_timer(name, payload)

    return CrashOnce


def test_an_executor_rebuilt_after_a_failure_keeps_the_original_schedule(tmp_path):
    plugins = load_plugins()
    crashing = _crashing_twap()
    plugins.algos.add("twap-crash", crashing, TwapParams)
    node = binance(tmp_path, plugins)
    try:
        node.submit("r", "buy", "1.5", "twap-crash", params={"duration_s": 60, "slices": 6})
        node.run_until_done("r", limit_s=90)
        view = node.view("r")
        restarted = [m for m in node.node.journal.messages() if isinstance(m, ComponentRestarted)]
    finally:
        node.close()
    assert crashing.crashed and [m.component for m in restarted] == ["exec.r"]
    start = view.accepted.ts
    off_schedule = []
    for s in view.slices:  # on the original schedule (10 s slices, taken at 8 s) ...
        if (s.ts - start) % (10 * NS) not in (0, 8 * NS):
            off_schedule.append(s)
    # ... but for the one the rebuilt executor posted on resuming, inside slice 3's passive
    # part, for slice 3's target (not the first slice's: the schedule did not start again)
    (resumed,) = off_schedule
    assert resumed.urgency == "post" and 20 * NS < resumed.ts - start < 28 * NS
    assert resumed.quantity == D("0.75") - view.filled_before(resumed)
    assert any(s.ts - start == 28 * NS or s.ts - start == 30 * NS for s in view.slices)
    assert view.completed.status == "filled"
    assert sum(f.quantity for f in view.fills) == D("1.5")
    check_report(view, D("1.5"))


def test_a_completion_refused_while_waiting_is_not_carried_out_by_a_rebuild(tmp_path):
    """Asked to complete while it waits out a halt, the parent is refused (it has not started:
    cancel it instead). The request is journaled under its id all the same; the executor
    rebuilt after a fault later must not read it as its own and sweep the rest at once: it
    keeps its schedule."""
    plugins = load_plugins()
    crashing = _crashing_twap()
    plugins.algos.add("twap-crash", crashing, TwapParams)
    node = binance(tmp_path, plugins)
    runtime = node.node.runtime
    try:
        runtime.send("risk", HaltTrading(reason="before the open", ts=node.now))
        node.run_for(0.1)
        node.submit("w", "buy", "2", "twap-crash", params={"duration_s": 120, "slices": 6})
        node.run_for(0.1)
        runtime.send(
            "execution", CompleteParentOrder(parent_id="w", max_slippage_bps=D(30), ts=node.now)
        )
        node.run_for(0.1)
        [refused] = node.rows("w", ParentCompleteRejected)
        runtime.send("risk", ResumeTrading(reason="open", ts=node.now))
        done = node.run_until_done("w", limit_s=200)
        view = node.view("w")
    finally:
        node.close()
    assert refused.reason == "parent order has not started (it is waiting): cancel it instead"
    assert crashing.crashed
    assert done.status == "filled" and "on demand" not in done.reason
    assert done.ts - view.accepted.ts >= 100 * NS  # it ran its schedule, not one sweep


def test_a_randomised_schedule_is_reproducible_and_stays_in_bounds():
    weights = [1.0] * 8
    a = build_schedule(0, 80 * NS, D("3"), weights, lot=D("0.001"), randomize=0.6, seed=11)
    b = build_schedule(0, 80 * NS, D("3"), weights, lot=D("0.001"), randomize=0.6, seed=11)
    c = build_schedule(0, 80 * NS, D("3"), weights, lot=D("0.001"), randomize=0.6, seed=12)
    assert a == b and a != c
    assert a.edges[0] == 0 and a.edges[-1] == 80 * NS
    assert all(x < y for x, y in zip(a.edges, a.edges[1:], strict=False))
    assert all(abs(a.edges[i] - i * 10 * NS) <= 0.4 * 0.6 * 10 * NS + 1 for i in range(9))
    sizes = [y - x for x, y in zip(a.cumulative, a.cumulative[1:], strict=False)]
    assert a.cumulative[-1] == D(3) and all(size >= 0 for size in sizes)
    assert all(q % D("0.001") == 0 for q in a.cumulative)
    assert len(set(sizes)) > 1
    even = build_schedule(0, 80 * NS, D("3"), weights, lot=D("0.001"))
    assert even.edges == tuple(i * 10 * NS for i in range(9))


BAD_PARAMS = [
    ({"duration_s": 60, "slicez": 3}, "params.slicez: unknown key"),
    ({"slices": 3}, "Object missing required field `duration_s`"),
    ({"duration_s": 0, "slices": 3}, "duration_s must be a finite number of seconds > 0"),
    ({"duration_s": 60, "slices": 3, "passive_fraction": 1.5}, "passive_fraction must be in"),
    ({"duration_s": 60, "slices": 3, "randomize": 2}, "randomize must be in [0, 1]"),
    ({"duration_s": 60, "slices": 3, "max_slippage_bps": "-1"}, "max_slippage_bps must be"),
    ({"duration_s": 60, "slices": "x"}, "params.slices: Expected `int`"),
]


def test_bad_params_are_refused_naming_the_key(tmp_path, plugins):
    from node.messages import ParentOrderRejected

    node = binance(tmp_path, plugins)
    try:
        for i, (params, _) in enumerate(BAD_PARAMS):
            node.submit(f"bad{i}", "buy", "1", "twap", params=params)
        node.run_for(1)
        reasons = [
            node.rows(f"bad{i}", ParentOrderRejected)[0].reason for i in range(len(BAD_PARAMS))
        ]
    finally:
        node.close()
    for reason, (_, problem) in zip(reasons, BAD_PARAMS, strict=True):
        assert problem in reason, reason


def test_the_params_struct_is_the_published_contract():
    fields = {f.name: f for f in msgspec.structs.fields(TwapParams)}
    assert {
        "duration_s",
        "slices",
        "passive_fraction",
        "max_slippage_bps",
        "randomize",
        "seed",
    } <= set(fields)
    assert fields["passive_fraction"].default == 0.8
    assert fields["randomize"].default == 0 and fields["seed"].default == 0
    assert fields["max_slippage_bps"].default == D(50)


def test_complete_on_demand_cancels_what_rests_and_takes_the_rest_within_its_guard(
    tmp_path, plugins
):
    """An operator completes a working TWAP (``CompleteParentOrder``): the resting slice is
    canceled, the rest is taken within the guard of the arrival mid, the parent ends filled
    with the operator's reason, and its schedule routes nothing afterwards. A second request
    is refused: it is no longer working."""
    node = binance(tmp_path, plugins)
    try:
        node.submit("x", "buy", "2", "twap", params={"duration_s": 300, "slices": 10})
        node.run_for(10)  # slice 1 is resting (it does not fill in its first 24 s)
        assert node.view("x").open_children(), "nothing resting: the completion proves little"
        asked_at = node.now
        node.node.runtime.send(
            "execution",
            CompleteParentOrder(
                parent_id="x", max_slippage_bps=D(30), reason="desk: flat by noon", ts=asked_at
            ),
        )
        done = node.run_until_done("x", limit_s=10)
        view = node.view("x")
        node.run_for(120)  # later timers of the schedule must route nothing
        assert node.view("x").slices == view.slices
        node.node.runtime.send(
            "execution", CompleteParentOrder(parent_id="x", max_slippage_bps=D(30), ts=node.now)
        )
        node.run_for(1)
        [refused] = node.rows("x", ParentCompleteRejected)
    finally:
        node.close()
    assert done.status == "filled", done.reason
    assert done.reason == "completed on demand (desk: flat by noon)"
    assert view.open_children() == set()
    assert view.of(OrderCanceled)  # the resting slice
    after = [s for s in view.slices if s.ts >= asked_at]
    assert after and all(s.urgency == "take" for s in after)
    limit = guard("buy", view.accepted.arrival_mid, D(30))
    assert all(s.limit_price == limit for s in after)
    assert all(f.price <= limit for f in view.fills if f.ts >= asked_at)
    assert refused.reason == "parent order is finished"
    check_report(view, D(2))
