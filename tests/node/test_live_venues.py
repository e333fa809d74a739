"""Live venues in a whole node: an asyncio venue on its own event loop trading on a loopback
exchange beside a simulated one, a node that waits until every venue is ready before it works an
order, and venues that cannot connect (left out, or the node stops, by config).

Waits are bounded (an upper limit against hanging, never an expectation of speed).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from loopback_venue import LoopbackExchange, LoopbackVenue, LoopbackVenueConfig

from node.config import load_config
from node.messages import (
    FILL_TYPES,
    NodeReady,
    ParentOrderCompleted,
    ParentOrderWaiting,
    SliceRouted,
    SubmitParentOrder,
    VenueDisconnected,
)
from node.node import Node
from node.plugins import load_plugins
from node.runtime.recorder import Recorder

D = Decimal
WAIT = 30.0

CONFIG = """
[node]
name = "live-venues"
runtime = "live"
valuation_currency = "USD"
[node.ready]
timeout_s = {timeout}
missing_venue = "{missing}"

[venues.bitstamp]
plugin = "sim"
source = "order-graph"
files = ["sim:order-graph/run1-1.json"]
taker_fee_bps = "25"
balances = {{ USD = "100000", BTC = "1" }}
symbols."BTC/USD" = {{ tick_size = "0.01", lot_size = "0.00000001" }}

[venues.loop]
plugin = "loopback"
port = {port}
"""

# Cheaper than bitstamp's recorded asks (≈5075 and up) for the first 2 BTC.
ASKS = [("5070.00", "1.5"), ("5072.50", "0.5"), ("5200.00", "50")]


@pytest.fixture
def plugins():
    plugins = load_plugins()
    plugins.venues.current_plugin = "tests"
    plugins.venues.add("loopback", LoopbackVenue, LoopbackVenueConfig)
    return plugins


def start(tmp: Path, plugins, port: int, timeout: float = 30, missing: str = "trade-without"):
    (tmp / "node.toml").write_text(CONFIG.format(port=port, timeout=timeout, missing=missing))
    recorder = Recorder()
    node = Node(load_config(tmp / "node.toml", plugins), plugins, extra=[recorder])
    node.start()
    return node, recorder


def buy(quantity: str) -> SubmitParentOrder:
    return SubmitParentOrder(parent_id="p", symbol="BTC/USD", side="buy", quantity=D(quantity))


def test_an_asyncio_venue_trades_beside_a_simulated_one(tmp_path, plugins):
    with LoopbackExchange(ASKS, usd="50000") as exchange:
        node, recorder = start(tmp_path, plugins, exchange.port)
        try:
            assert recorder.wait_for(lambda m: isinstance(m, NodeReady), WAIT)
            node.submit(buy("3"))
            assert recorder.wait_for(lambda m: isinstance(m, ParentOrderCompleted), WAIT)
        finally:
            node.stop()
        (done,) = recorder.of_type(ParentOrderCompleted)
        assert done.status == "filled"
        fills = recorder.of_type(*FILL_TYPES)
        from_loop = [f for f in fills if f.venue == "loop"]
        assert sum(f.quantity for f in from_loop) == D(2)  # its two cheap levels, all of them
        assert sum(f.quantity for f in fills) == D(3)
        # what the exchange recorded is what the node heard: one order, its fills
        assert len(exchange.orders) == 1 and exchange.btc == D(2)
        assert exchange.usd == D(50000) - D("1.5") * D("5070.00") - D("0.5") * D("5072.50")


def test_orders_wait_until_every_venue_is_ready(tmp_path, plugins):
    with LoopbackExchange(ASKS, usd="50000", hello_delay_s=1.5) as exchange:
        node, recorder = start(tmp_path, plugins, exchange.port)
        try:
            node.submit(buy("3"))  # before the loopback venue has said hello
            assert recorder.wait_for(lambda m: isinstance(m, ParentOrderCompleted), WAIT)
        finally:
            node.stop()
        (waiting,) = recorder.of_type(ParentOrderWaiting)
        assert waiting.reason == "waiting for the venues to be ready"
        (ready,) = recorder.of_type(NodeReady)
        assert ready.missing == {}
        assert ready.ts >= waiting.ts
        (plan,) = recorder.of_type(SliceRouted)
        assert {leg.venue for leg in plan.legs} == {"loop", "bitstamp"}  # the split, not a guess


def test_a_venue_that_cannot_connect_is_down_with_its_reason_and_left_out(tmp_path, plugins):
    with LoopbackExchange(ASKS, usd="1") as exchange:
        closed = exchange.port
    node, recorder = start(tmp_path, plugins, closed, timeout=1.0)
    try:
        assert recorder.wait_for(lambda m: isinstance(m, NodeReady), WAIT)
        node.submit(buy("1"))
        assert recorder.wait_for(lambda m: isinstance(m, ParentOrderCompleted), WAIT)
    finally:
        node.stop()
    (down,) = [m for m in recorder.of_type(VenueDisconnected) if m.venue == "loop"]
    assert down.reason.startswith("cannot connect: ") and "Connect" in down.reason
    (ready,) = recorder.of_type(NodeReady)
    assert set(ready.missing) == {"loop"}
    (done,) = recorder.of_type(ParentOrderCompleted)
    assert done.status == "filled"
    assert {f.venue for f in recorder.of_type(*FILL_TYPES)} == {"bitstamp"}


def test_a_missing_venue_stops_the_node_when_the_config_says_so(tmp_path, plugins):
    with LoopbackExchange(ASKS, usd="1") as exchange:
        closed = exchange.port
    node, recorder = start(tmp_path, plugins, closed, timeout=1.0, missing="stop")
    try:
        node.submit(buy("1"))
        assert node.stop_event.wait(WAIT), "the node did not stop"
    finally:
        node.stop()
    assert "venues not ready after 1 s: loop: cannot connect" in node.stop_reason
    (done,) = recorder.of_type(ParentOrderCompleted)
    assert done.status == "unfilled" and "venues not ready" in done.reason
    assert not node.outcome().ok
