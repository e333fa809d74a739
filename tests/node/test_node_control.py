"""Controlling a whole node: operators' commands through the journal (`tradenode halt` stops a
running live node from trading within a second, `tradenode resume` lets it trade again, both on
record) and the plugin lifecycle hooks a node calls as it is configured, started and stopped."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from node.cli import main
from node.config import load_config
from node.journal import EXTERNAL, Journal
from node.messages import (
    HaltTrading,
    OrderAccepted,
    ParentOrderCompleted,
    ParentOrderWaiting,
    ResumeTrading,
    RiskRejected,
    SliceRouted,
    SubmitParentOrder,
    TradingStateChanged,
)
from node.node import Node
from node.plugins import load_plugins
from node.runtime.recorder import Recorder

CONFIG = """
[node]
name = "operated"
journal = "journal.sqlite"
valuation_currency = "USDT"
runtime = "live"

[venues.binance]
plugin = "sim"
replay_speed = 20.0
source = "binance-stream"
files = ["sim:binance-stream/spot/btcusdt_20240808.gz"]
balances = { USDT = "100000" }
symbols."BTC/USDT" = { tick_size = "0.01", lot_size = "0.00001" }
"""

D = Decimal
NS = 1_000_000_000
WAIT_S = 20.0  # a bound for a loaded machine, not a speed claim


def test_two_writers_never_share_a_seq(tmp_path: Path):
    node_side, operator_side = Journal(tmp_path / "j.db"), Journal(tmp_path / "j.db")
    seqs = []
    for i in range(5):
        seqs.append(
            node_side.append(
                OrderAccepted(client_order_id=f"a{i}", venue="v", venue_order_id="1", ts=i)
            )
        )
        seqs.append(operator_side.append(ResumeTrading(reason="r", ts=i), origin=EXTERNAL))
    assert seqs == list(range(1, 11))
    assert [e.seq for e in node_side.external_since(0)] == [2, 4, 6, 8, 10]
    assert [e.seq for e in node_side.entries()] == list(range(1, 11))


def test_halt_and_resume_reach_a_running_live_node(tmp_path: Path):
    config_path = tmp_path / "node.toml"
    config_path.write_text(CONFIG)
    plugins = load_plugins()
    recorder = Recorder()
    node = Node(load_config(config_path, plugins), plugins, extra=[recorder])
    node.start()
    try:
        assert main(["halt", str(config_path), "--reason", "fat finger"]) == 0
        assert recorder.wait_for(
            lambda m: isinstance(m, TradingStateChanged) and m.state == "halted", WAIT_S
        )
        assert main(["resume", str(config_path), "--reason", "checked"]) == 0
        assert recorder.wait_for(
            lambda m: isinstance(m, TradingStateChanged) and m.state == "active", WAIT_S
        )
    finally:
        node.stop()
    states = [(m.state, m.reason) for m in recorder.of_type(TradingStateChanged)]
    assert states[0] == ("active", "node started")
    assert [s for s, _ in states[1:]] == ["halted", "active"]
    assert "fat finger" in states[1][1] and "checked" in states[2][1]
    journal = Journal(tmp_path / "journal.sqlite", readonly=True)
    commands = [e for e in journal.entries() if isinstance(e.message, (HaltTrading, ResumeTrading))]
    # on record as the operator's, sent through the control API, with where they came from
    assert [type(e.message) for e in commands] == [HaltTrading, ResumeTrading]
    for e in commands:
        assert (e.sender, e.destination) == ("control", "risk")
        assert e.message.source.startswith("api 127.0.0.1:")


def test_a_halt_before_the_first_run_holds_orders_until_resume_and_then_they_run(
    tmp_path: Path,
):
    config_path = tmp_path / "node.toml"
    config_path.write_text(CONFIG.replace('runtime = "live"', 'runtime = "replay"'))
    plugins = load_plugins()
    # The node has never run: the halt arms its kill switch for the first start.
    assert main(["halt", str(config_path), "--reason", "weekend"]) == 0
    recorder = Recorder()
    first = Node(load_config(config_path, plugins), plugins, extra=[recorder])
    first.start()
    try:
        first.runtime.run(until_ns=first.start_ns + 2 * NS)  # the book is there by now
        first.submit(
            SubmitParentOrder(parent_id="p", symbol="BTC/USDT", side="buy", quantity=D("0.01"))
        )
        first.runtime.run(until_ns=first.runtime.clock + NS)
    finally:
        first.stop()
    (waiting,) = recorder.of_type(ParentOrderWaiting)
    assert "halted (weekend)" in waiting.reason and "worked when trading resumes" in waiting.reason
    assert recorder.of_type(RiskRejected) == [] and recorder.of_type(SliceRouted) == []

    assert main(["resume", str(config_path), "--reason", "monday"]) == 0
    recorder = Recorder()
    again = Node(load_config(config_path, plugins), plugins, extra=[recorder])
    again.start()
    try:
        again.runtime.run(until_ns=again.start_ns + 5 * NS)
    finally:
        again.stop()
    (done,) = recorder.of_type(ParentOrderCompleted)
    assert done.parent_id == "p" and done.status == "filled"


def test_reduce_only_while_halted_says_what_would_happen(tmp_path: Path, capsys):
    config_path = tmp_path / "node.toml"
    config_path.write_text(CONFIG)
    assert main(["halt", str(config_path), "--reason", "checks"]) == 0
    plugins = load_plugins()
    node = Node(load_config(config_path, plugins), plugins)  # journals the halted state
    node.start()
    node.stop()
    capsys.readouterr()
    assert main(["reduce-only", str(config_path), "--reason", "wind down"]) == 1
    err = capsys.readouterr().err
    assert "trading is halted (checks): reduce-only would not apply; resume first" in err


def test_lifecycle_hooks_are_called_in_order(tmp_path: Path):
    from node import hookimpl

    seen: list[str] = []

    class Watcher:
        @hookimpl
        def tradenode_configured(self, config):
            seen.append(f"configured {config.node.name}")

        @hookimpl
        def tradenode_started(self, node):
            seen.append("started")

        @hookimpl
        def tradenode_stopping(self, node):
            seen.append("stopping")

    config_path = tmp_path / "node.toml"
    config_path.write_text(CONFIG.replace('runtime = "live"', 'runtime = "replay"'))
    plugins = load_plugins()
    plugins.manager.register(Watcher(), name="watcher")
    node = Node(load_config(config_path, plugins), plugins)
    node.start()
    node.stop()
    assert seen == ["configured operated", "started", "stopping"]
