"""A parent order a stop interrupted: by default its algorithm carries on for what is left after the
restart; with ``[node.ready] interrupted = "stop"`` it sends nothing new, cancels what is open and
closes with its report. Whole nodes on the live runtime (a TWAP on the simulated venue replaying
the recorded Binance capture), stopped and started again on one journal.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import pytest

from node.config import load_config
from node.messages import (
    FILL_TYPES,
    CancelOrder,
    ParentOrderCompleted,
    RouteSlice,
    SubmitOrder,
    SubmitParentOrder,
)
from node.node import Node
from node.plugins import load_plugins

D = Decimal
WAIT_S = 60.0  # a bound for a loaded machine, not a speed claim

CONFIG = """
[node]
name = "interrupted"
valuation_currency = "USDT"
runtime = "live"
[node.control]
enabled = false
[node.ready]
interrupted = "{interrupted}"
[router]
max_book_age_ms = 600000
[risk.checks.instrument]
[venues.binance]
plugin = "sim"
replay_speed = 5.0
source = "binance-stream"
files = ["sim:binance-stream/spot/btcusdt_20240808.gz"]
taker_fee_bps = "10"
balances = {{ USDT = "1000000", BTC = "10" }}
symbols."BTC/USDT" = {{ tick_size = "0.01", lot_size = "0.00001", min_notional = "5" }}
"""


@pytest.fixture(scope="module")
def plugins():
    return load_plugins()


def start(tmp_path: Path, plugins, interrupted: str) -> Node:
    config = tmp_path / "node.toml"
    config.write_text(CONFIG.format(interrupted=interrupted))
    node = Node(load_config(config, plugins), plugins, runtime_kind="live")
    node.start()
    return node


def wait_rows(node: Node, check, what: str) -> list:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        rows = list(node.journal.entries())
        if check(rows):
            return rows
        time.sleep(0.1)
    raise AssertionError(f"never saw {what}")


def first_run_until_a_fill(tmp_path: Path, plugins) -> int:
    """A 4-slice TWAP over 12 s, stopped after its first fill; the journal's last seq."""
    node = start(tmp_path, plugins, "resume")
    try:
        node.submit(
            SubmitParentOrder(
                parent_id="t",
                symbol="BTC/USDT",
                side="buy",
                quantity=D("0.4"),
                algo="twap",
                params={"duration_s": 12, "slices": 4},
                ts=node.runtime.now(),
            )
        )
        wait_rows(node, lambda rows: any(isinstance(e.message, FILL_TYPES) for e in rows), "a fill")
    finally:
        node.stop()
    return _last_seq(tmp_path)


def _last_seq(tmp_path: Path) -> int:
    from node.journal import Journal

    journal = Journal(tmp_path / "journal.sqlite", readonly=True)
    try:
        return journal.last_seq
    finally:
        journal.close()


def test_by_default_an_interrupted_twap_carries_on_for_what_is_left(tmp_path, plugins):
    before = first_run_until_a_fill(tmp_path, plugins)
    node = start(tmp_path, plugins, "resume")
    try:
        rows = wait_rows(
            node,
            lambda rows: any(isinstance(e.message, ParentOrderCompleted) for e in rows),
            "the parent complete",
        )
    finally:
        node.stop()
    after = [e.message for e in rows if e.seq > before]
    assert any(isinstance(m, RouteSlice) for m in after)  # it went on slicing
    (done,) = [m for m in after if isinstance(m, ParentOrderCompleted)]
    assert done.status == "filled"
    fills = [e.message for e in rows if isinstance(e.message, FILL_TYPES)]
    assert sum(f.quantity for f in fills) == D("0.4")  # once, across both runs


def test_with_interrupted_stop_it_sends_nothing_new_and_closes_with_its_report(tmp_path, plugins):
    before = first_run_until_a_fill(tmp_path, plugins)
    node = start(tmp_path, plugins, "stop")
    try:
        rows = wait_rows(
            node,
            lambda rows: any(isinstance(e.message, ParentOrderCompleted) for e in rows),
            "the parent closed",
        )
    finally:
        node.stop()
    after = [e for e in rows if e.seq > before]
    assert not [e for e in after if isinstance(e.message, RouteSlice | SubmitOrder)]
    (done,) = [e.message for e in after if isinstance(e.message, ParentOrderCompleted)]
    assert 'interrupted by a restart ([node.ready] interrupted = "stop")' in done.reason
    filled = sum(e.message.quantity for e in rows if isinstance(e.message, FILL_TYPES))
    assert 0 < filled < D("0.4") and done.report.filled_quantity == filled
    # every child still open at the stop was canceled, none left working
    sent = {e.message.client_order_id for e in rows if isinstance(e.message, SubmitOrder)}
    finals = {
        e.message.client_order_id
        for e in rows
        if type(e.message).__name__ in ("OrderCanceled", "OrderFilled", "OrderRejected")
    }
    assert sent <= finals
    canceled = [e for e in after if isinstance(e.message, CancelOrder)]
    assert all(e.message.client_order_id in sent for e in canceled)
