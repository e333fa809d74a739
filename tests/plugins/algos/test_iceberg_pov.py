"""Iceberg and POV on the real Binance capture: what rests is never more than the visible
quantity; participation never runs ahead of the recorded volume."""

from __future__ import annotations

import itertools
from decimal import ROUND_DOWN

import pytest
from algos_support import (
    BINANCE,
    LOT,
    AlgoNode,
    D,
    check_report,
    guard,
    node_config,
    traded_volume,
)

from node.messages import SliceRouted
from node.plugins import load_plugins


@pytest.fixture(scope="module")
def plugins():
    return load_plugins()


def binance(path, plugins) -> AlgoNode:
    return AlgoNode(path, plugins, node_config(BINANCE.format(usdt="1000000", btc="20")))


def test_a_pegged_iceberg_shows_only_its_visible_quantity_and_fills_it_all(tmp_path, plugins):
    node = binance(tmp_path, plugins)
    try:
        node.submit("i", "buy", "1", "iceberg", params={"display_quantity": "0.2", "peg": "mid"})
        node.run_until_done("i", limit_s=300)
        view = node.view("i")
    finally:
        node.close()
    assert view.completed.status == "filled"
    assert sum(f.quantity for f in view.fills) == D(1)
    assert view.max_working() <= D("0.2")
    assert all(s.urgency == "post" and s.quantity <= D("0.2") for s in view.slices)
    assert len(view.slices) >= 5
    for s in view.slices:  # pegged to the mid, on our side of it (a buy rests at or below)
        mid = view.mid_at(s)
        assert mid is not None and s.limit_price <= mid and mid - s.limit_price < D("0.01")
    assert all(f.liquidity == "maker" for f in view.fills)
    check_report(view, D(1))


def test_a_fixed_iceberg_rests_at_the_parent_limit_and_reports_what_is_left(tmp_path, plugins):
    node = binance(tmp_path, plugins)
    limit = D("61700.00")
    try:
        node.submit(
            "f",
            "buy",
            "2",
            "iceberg",
            limit_price=limit,
            params={"display_quantity": "0.5", "duration_s": 60},
        )
        node.submit("nolimit", "buy", "2", "iceberg", params={"display_quantity": "0.5"})
        node.run_until_done("f", limit_s=80)
        view = node.view("f")
        nolimit = node.view("nolimit")
    finally:
        node.close()
    assert view.slices and all(s.limit_price == limit for s in view.slices)
    assert view.max_working() <= D("0.5")
    assert view.fills == [], "the market stays above 61700 in the first minute"
    assert view.completed.status == "unfilled"
    assert view.completed.reason == "2 left at the end of duration_s (60 s)"
    assert view.open_children() == set()
    assert nolimit.completed.status == "failed"
    assert "a fixed-price iceberg rests at the parent's limit price" in nolimit.completed.reason


POV = {"rate": 0.1, "min_slice": "0.02", "max_slice": "0.2"}


def test_pov_participates_at_its_rate_within_its_slice_sizes(tmp_path, plugins):
    node = binance(tmp_path, plugins)
    try:
        node.submit("p", "sell", "1", "pov", params=POV)
        node.run_until_done("p", limit_s=300)
        view = node.view("p")
    finally:
        node.close()
    start = view.accepted.ts
    assert view.completed.status == "filled"
    assert sum(f.quantity for f in view.fills) == D(1)
    slices = view.slices
    assert len(slices) >= 5 and all(s.urgency == "take" for s in slices)
    for n, s in enumerate(slices):
        owed_cap = (traded_volume(start, s.ts) * D("0.1")).quantize(LOT, ROUND_DOWN)
        before = view.filled_before(s)
        assert before + s.quantity <= owed_cap, "ran ahead of the market's volume"
        assert s.quantity <= D("0.2")
        last = n == len(slices) - 1
        assert s.quantity >= D("0.02") or last
        assert s.limit_price == guard("sell", view.mid_at(s), D(50))
        plan = next(p for p in view.of(SliceRouted) if p.slice_id == s.slice_id)
        assert all(leg.limit_price >= s.limit_price for leg in plan.legs)
    # one slice at a time: each was sent after the previous one completed
    done_ts = {m.slice_id: m.ts for m in view.of(type(view.slice_done(1)))}
    assert all(b.ts >= done_ts[a.slice_id] for a, b in itertools.pairwise(slices))
    check_report(view, D(1))


def test_pov_with_a_duration_reports_what_the_market_did_not_allow(tmp_path, plugins):
    node = binance(tmp_path, plugins)
    try:
        node.submit("q", "buy", "5", "pov", params={**POV, "rate": 0.02, "duration_s": 30})
        node.run_until_done("q", limit_s=40)
        view = node.view("q")
    finally:
        node.close()
    done = view.completed
    filled = sum(f.quantity for f in view.fills)
    assert done.status == "partially_filled" and 0 < filled < D(5)
    assert done.reason == f"{D(5) - filled} left at the end of duration_s (30 s)"
    assert filled <= traded_volume(view.accepted.ts, done.ts) * D("0.02")
    assert view.open_children() == set()
    check_report(view, D(5))
