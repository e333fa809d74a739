"""Checkpoints: a start reads the latest checkpoint and the journal rows after it, and ends up in
exactly the state a start from the whole journal reaches.

The proof compares, component by component, the state each one would checkpoint after being
restored both ways from the same journal (a copy with its checkpoints deleted is the whole-journal
start). Nodes are assembled as ``tradenode run`` does it, on the replay runtime and on the live one.
"""

from __future__ import annotations

import shutil
import sqlite3
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from node.component import encode_state
from node.config import load_config
from node.journal import Journal
from node.messages import Checkpointed, ParentOrderCompleted, SubmitParentOrder, TakeCheckpoint
from node.node import Node
from node.plugins import load_plugins
from node.portfolio import DailyMetrics, LedgerState
from node.risk import RiskState
from node.runtime.recorder import Recorder

D = Decimal
NS = 1_000_000_000

CONFIG = """
[node]
name = "checkpointed"
runtime = "{runtime}"
valuation_currency = "USD"
checkpoint_every = {every}

[risk]
max_daily_loss = "50000"

[risk.checks.duplicate_id]
[risk.checks.free_balance]

{venues}
"""

VENUE = """
[venues.{name}]
plugin = "sim"
source = "order-graph"
files = ["sim:order-graph/run1-1.json"]
taker_fee_bps = "{fee}"
execution_delay_ms = 25
balances = {{ USD = "250000", BTC = "5", ETH = "100" }}
symbols."BTC/USD" = {{ tick_size = "0.01", lot_size = "0.00000001", min_notional = "10" }}
symbols."ETH/USD" = {{ tick_size = "0.001", lot_size = "0.00000001", min_notional = "10" }}
"""

VENUES = "\n".join(
    VENUE.format(name=n, fee=f) for n, f in (("bitstamp", 25), ("bittrex", 25), ("coinbase", 30))
)


@pytest.fixture(scope="module")
def plugins():
    return load_plugins()


def write(directory: Path, runtime: str, every: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "node.toml"
    path.write_text(CONFIG.format(runtime=runtime, every=every, venues=VENUES))
    return path


def orders(n: int) -> list[SubmitParentOrder]:
    sides = ("buy", "sell")
    return [
        SubmitParentOrder(
            parent_id=f"p{i}",
            symbol="BTC/USD" if i % 2 else "ETH/USD",
            side=sides[i % 2],
            quantity=D("0.7") + D(i) / 10,
        )
        for i in range(n)
    ]


def states_after_start(config: Path, journal: Path, plugins) -> dict[str, bytes]:
    """Every component's checkpoint state right after a (replay) start on ``journal``."""
    node = Node(load_config(config, plugins), plugins, journal_path=journal, runtime_kind="replay")
    node.start()
    try:
        hosted = node.runtime.hosted  # type: ignore[attr-defined]
        return {
            name: h.component.checkpoint() or b""
            for name, h in hosted.items()
            if h.component.correlation is None and name != "control"
        }
    finally:
        node.runtime.stop()
        node._close_journal()


def without_checkpoints(journal: Path, copy: Path) -> Path:
    shutil.copy(journal, copy)
    db = sqlite3.connect(copy)
    with db:
        db.execute("DELETE FROM checkpoint_part")
        db.execute("DELETE FROM checkpoint")
    db.close()
    return copy


def _comparable(name: str, state: bytes) -> object:
    """A component's state without what marks decided: the day's NAV observations (P&L base,
    highs) are made at market prices, which the journal does not hold — a checkpoint keeps what
    was observed live, a replay of the journal cannot recompute it."""
    if name not in ("portfolio", "risk"):
        return msgspec.msgpack.decode(state) if state else None  # maps compare in any order
    if name == "portfolio":
        ledger = msgspec.msgpack.decode(state, type=LedgerState)
    else:
        risk = msgspec.msgpack.decode(state, type=RiskState)
        ledger = risk.ledger
    ledger.daily = DailyMetrics(
        day=ledger.daily.day,
        trades=ledger.daily.trades,
        volume=ledger.daily.volume,
        commission=ledger.daily.commission,
        realized_pnl=ledger.daily.realized_pnl,
    )
    ledger.last_adjusted, ledger.nav_history = None, []
    return msgspec.msgpack.decode(encode_state(ledger if name == "portfolio" else risk))


def assert_same_start(config: Path, journal: Path, tmp: Path, plugins) -> Journal:
    full = without_checkpoints(journal, tmp / "full.sqlite")
    checkpoint = Journal(journal, readonly=True).latest_checkpoint()
    assert checkpoint is not None, "no checkpoint was completed"
    as_is = tmp / "as-is.sqlite"  # starts write to their journal: start on copies
    shutil.copy(journal, as_is)
    from_checkpoint = states_after_start(config, as_is, plugins)
    from_everything = states_after_start(config, full, plugins)
    assert from_checkpoint.keys() == from_everything.keys()
    for name in from_checkpoint:
        a, b = _comparable(name, from_checkpoint[name]), _comparable(name, from_everything[name])
        assert a == b, f"{name} restores differently"
    return Journal(journal, readonly=True)


def test_a_replay_node_checkpointed_at_its_stop_starts_where_the_whole_journal_leads(
    tmp_path, plugins
):
    config = write(tmp_path / "node", "replay", every=0)
    journal = tmp_path / "node" / "journal.sqlite"
    node = Node(load_config(config, plugins), plugins, journal_path=journal)
    node.start()
    node.runtime.run(until_ns=node.start_ns + NS)
    for order in orders(6):
        node.submit(order)
    node.run()
    node.stop()

    read = assert_same_start(config, journal, tmp_path, plugins)
    checkpoint = read.latest_checkpoint()
    rows = [e.message for e in read.entries()]
    completed = [m for m in rows if isinstance(m, ParentOrderCompleted)]
    assert len(completed) == 6
    # the stop took it, after everything else the node did: a start reads almost nothing
    assert isinstance(rows[checkpoint.through_seq - 1], TakeCheckpoint)
    assert len(list(read.entries(after_seq=checkpoint.through_seq))) <= 3


def test_periodic_checkpoints_in_a_live_node_are_consistent_cuts(tmp_path, plugins):
    # Every component stores its state when the marker reaches it, on its own thread, while
    # others keep working: the states must still add up to one moment of the journal.
    config = write(tmp_path / "node", "live", every=40)
    journal = tmp_path / "node" / "journal.sqlite"
    recorder = Recorder(types=(ParentOrderCompleted, Checkpointed))
    node = Node(load_config(config, plugins), plugins, journal_path=journal, extra=[recorder])
    node.start()
    try:
        for order in orders(12):
            node.submit(order)
        assert recorder.wait_for(
            lambda m: len(recorder.of_type(ParentOrderCompleted)) == 12, timeout=60
        )
        assert recorder.wait_for(lambda m: isinstance(m, Checkpointed), timeout=30)
    finally:
        # Stopped as a kill would: no checkpoint at the stop, the last periodic one is the latest.
        node.runtime.stop()
        node._close_journal()
    read = Journal(journal, readonly=True)
    checkpoint = read.latest_checkpoint()
    assert checkpoint is not None
    marker = read.entries(after_seq=checkpoint.through_seq - 1, upto_seq=checkpoint.through_seq)
    assert next(marker).message.reason == "periodic"  # type: ignore[attr-defined]
    assert list(read.entries(after_seq=checkpoint.through_seq)), "nothing after it to replay"
    assert_same_start(config, journal, tmp_path, plugins)
