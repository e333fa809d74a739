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
    ResumeTrading,
    RiskRejected,
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
replay_speed = 20.0

[venues.binance]
plugin = "sim"
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
    assert [s for s, _ in states] == ["halted", "active"]
    assert "fat finger" in states[0][1] and "checked" in states[1][1]
    journal = Journal(tmp_path / "journal.sqlite")
    commands = [type(e.message) for e in journal.external_since(0)]
    assert commands == [HaltTrading, ResumeTrading]  # on record, as the operator's


def test_a_halt_journaled_while_stopped_holds_on_the_next_start(tmp_path: Path):
    config_path = tmp_path / "node.toml"
    config_path.write_text(CONFIG.replace('runtime = "live"', 'runtime = "replay"'))
    plugins = load_plugins()
    first = Node(load_config(config_path, plugins), plugins)
    first.start()
    first.stop()
    assert main(["halt", str(config_path), "--reason", "weekend"]) == 0
    recorder = Recorder()
    again = Node(load_config(config_path, plugins), plugins, extra=[recorder])
    again.start()
    try:
        again.runtime.run(until_ns=again.start_ns + 2 * NS)  # the book is there by now
        again.submit(
            SubmitParentOrder(parent_id="p", symbol="BTC/USDT", side="buy", quantity=D("0.01"))
        )
        again.runtime.run(until_ns=again.runtime.now + NS)
    finally:
        again.stop()
    (refused,) = recorder.of_type(RiskRejected)
    assert refused.check == "kill_switch" and "weekend" in refused.detail


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
