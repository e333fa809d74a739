"""A venue that cannot answer reconciliation while the journal shows child orders of unknown fate
(``node.reconcile.Reconciler._cannot_reconcile``).

A first run leaves a parent's children on their way to slow simulated venues and stops. The
next run starts with one of those venues unable to say what became of them: it either does not
reconcile at all (``reconciles=False``) or answers ``VenueReconciled`` with an ``error``. The
other venues answer normally (their children never arrived, so they are closed and would be
routed again). Expected: trading halts, naming the venue and the ids; the unknown children are
closed; and nothing at all is sent to any venue in their place. Everything is read from the
node's journal.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from tradenode_sim.config import SimVenueConfig
from tradenode_sim.venue import SimVenue

from node.config import load_config
from node.messages import (
    ExecutorFinished,
    HaltTrading,
    OrderCanceled,
    OrderRejected,
    ParentOrderCompleted,
    ReconcileVenue,
    ResumeTrading,
    RiskRejected,
    SliceCompleted,
    SliceRouted,
    SubmitOrder,
    SubmitParentOrder,
    TradingStateChanged,
    VenueReconciled,
)
from node.node import Node
from node.plugins import load_plugins
from node.runtime.recorder import Recorder

D = Decimal
NS = 1_000_000_000
VENUES = {  # name → (taker fee bps, tick): the demo's venues, BTC/USD only
    "bitfinex": ("20", "0.1"),
    "bittrex": ("25", "0.001"),
    "bitstamp": ("25", "0.01"),
    "coinbase": ("30", "0.01"),
}


class NotReconcilingSim(SimVenue):
    """A simulated exchange that cannot be asked about orders (``reconciles=False``)."""

    capabilities = msgspec.structs.replace(SimVenue.capabilities, reconciles=False)


class FailingReconcileSim(SimVenue):
    """A simulated exchange whose reconciliation query fails."""

    def reconcile(self, request: ReconcileVenue) -> None:
        self.ctx.publish(
            VenueReconciled(venue=self.venue, error="HTTP 503 from /orders", ts=self.ctx.now())
        )


@pytest.fixture(scope="module")
def plugins():
    plugins = load_plugins()
    plugins.venues.current_plugin = "tests"
    plugins.venues.add("sim-not-reconciling", NotReconcilingSim, SimVenueConfig)
    plugins.venues.add("sim-failing-reconcile", FailingReconcileSim, SimVenueConfig)
    return plugins


def write_config(path: Path, plugin_of: dict[str, str], delay_ms: int) -> Path:
    lines = [
        "[node]",
        'name = "reconcile-test"',
        'runtime = "replay"',
        "[router]",
        'mode = "split"',
        "max_book_age_ms = 5000",
        "max_reroutes = 3",
        "[risk.checks.duplicate_id]",
        "[risk.checks.instrument]",
        "[risk.checks.increments]",
        "[risk.checks.min_notional]",
    ]
    for name, (fee, tick) in VENUES.items():
        lines += [
            f"[venues.{name}]",
            f'plugin = "{plugin_of.get(name, "sim")}"',
            'source = "order-graph"',
            'files = ["sim:order-graph/run1-1.json"]',
            f'taker_fee_bps = "{fee}"',
            f"execution_delay_ms = {delay_ms}",
            'balances = { USD = "250000", BTC = "5" }',
            f'symbols."BTC/USD" = {{ tick_size = "{tick}", lot_size = "0.00000001", '
            'min_notional = "10" }',
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def start(directory: Path, plugins, plugin_of: dict[str, str] | None = None):
    directory.mkdir(parents=True, exist_ok=True)
    # Venues that take 10 s to fill: a stop leaves the children on their way.
    path = write_config(directory / "node.toml", plugin_of or {}, delay_ms=10_000)
    recorder = Recorder()
    node = Node(
        load_config(path, plugins),
        plugins,
        journal_path=directory / "journal.sqlite",
        runtime_kind="replay",
        extra=[recorder],
    )
    node.start()
    node.runtime.run(until_ns=node.start_ns)
    return node, recorder


@pytest.mark.parametrize("plugin", ["sim-not-reconciling", "sim-failing-reconcile"])
def test_a_venue_that_cannot_answer_halts_trading_and_nothing_is_sent_in_place(
    tmp_path, plugins, plugin
):
    first, _ = start(tmp_path, plugins)
    first.submit(
        SubmitParentOrder(parent_id="p-cut", symbol="BTC/USD", side="buy", quantity=D("8"))
    )
    first.runtime.run(until_ns=first.runtime.clock + NS)
    in_flight = {
        e.message.client_order_id: e.message.venue
        for e in first.journal.entries()
        if isinstance(e.message, SubmitOrder) and e.destination.startswith("venue.")
    }
    # The split uses more than one venue: one can be mute while the others could take a re-route.
    assert len(set(in_flight.values())) >= 2, in_flight
    first.stop()

    mute = sorted(in_flight.values())[0]
    unknown = sorted(cid for cid, venue in in_flight.items() if venue == mute)
    elsewhere = sorted(set(in_flight) - set(unknown))
    again, recorder = start(tmp_path, plugins, {mute: plugin})
    again.runtime.run(until_ns=again.runtime.clock + 60 * NS)
    rows = [e for e in again.journal.entries() if e.seq > again.start_seq]

    # Nothing reached any venue after the restart: not the unknown children again, not a
    # re-route of the parent on the venues that answered.
    to_venues = [
        (e.destination, e.message.client_order_id)
        for e in rows
        if isinstance(e.message, SubmitOrder) and e.destination.startswith("venue.")
    ]
    assert to_venues == []

    # Risk was told to halt, naming the venue and every unknown child, before anything the
    # rejections caused.
    (halt,) = [e for e in rows if isinstance(e.message, HaltTrading)]
    assert (halt.sender, halt.destination) == ("reconcile", "risk")
    assert mute in halt.message.reason
    assert all(cid in halt.message.reason for cid in unknown)
    # and to cancel what is open: the parent closes as unknown, so nothing of it may keep
    # working on the venues that did answer
    assert halt.message.cancel_open_orders
    rejected = [e for e in rows if isinstance(e.message, OrderRejected)]
    assert sorted(e.message.client_order_id for e in rejected) == unknown
    assert all(e.sender == "reconcile" and e.seq > halt.seq for e in rejected)
    assert all("outcome unknown after a restart" in e.message.reason for e in rejected)
    consequences = [
        e
        for e in rows
        if isinstance(
            e.message,
            (SubmitOrder, RiskRejected, SliceRouted, SliceCompleted, ParentOrderCompleted),
        )
    ]
    assert all(e.seq > halt.seq for e in consequences), [
        (e.seq, type(e.message).__name__) for e in consequences
    ]
    # Risk holds the halt (its kill switch is halted, for that reason).
    states = recorder.of_type(TradingStateChanged)
    assert states and states[-1].state == "halted" and mute in states[-1].reason
    assert again.runtime.hosted["risk"].component.state == "halted"

    # The children at the venues that answered never reached them, and are closed as such.
    canceled = sorted(
        e.message.client_order_id
        for e in rows
        if isinstance(e.message, OrderCanceled) and e.sender == "reconcile"
    )
    assert canceled == elsewhere

    # Any re-route the router tried was refused by risk's kill switch.
    for e in rows:
        if isinstance(e.message, SubmitOrder):
            assert e.destination == "risk"
    refused = [e.message for e in rows if isinstance(e.message, RiskRejected)]
    assert all(r.check == "kill_switch" for r in refused)

    # The parent is closed as `unknown`, naming the venue and the ids, before the rejections.
    (done,) = [m for m in recorder.of_type(ParentOrderCompleted) if m.parent_id == "p-cut"]
    assert done.status == "unknown"
    assert mute in done.reason and all(cid in done.reason for cid in unknown)
    assert done.report.filled_quantity == 0
    (closing,) = [e for e in rows if isinstance(e.message, ExecutorFinished)]
    assert (closing.sender, closing.destination) == ("reconcile", "execution")
    assert halt.seq < closing.seq < min(e.seq for e in rejected)

    # An operator who resumes does not set the parent working again: what the unknown child
    # bought (or not) is for the operator to find out at the venue, not to be bought twice.
    resumed_at = again.journal.last_seq
    again.runtime.send("risk", ResumeTrading(reason="checked bitstamp", ts=again.runtime.clock))
    again.runtime.run(until_ns=again.runtime.clock + 60 * NS)
    later = [e for e in again.journal.entries() if e.seq > resumed_at]
    assert [m for m in recorder.of_type(TradingStateChanged)][-1].state == "active"
    assert not [e for e in later if isinstance(e.message, (SubmitOrder, SliceRouted))]
    again.stop()
