"""An Alpaca account whose books come from Polygon.io, end to end: the loopback Alpaca and the
loopback Polygon behind the real alpaca-py and massive clients, and ``tradenode rebalance``
taking a cash account to the seed portfolio (AAPL 30 %, TSLA 20 %, NVDA 50 %).

The two loopbacks generate their markets independently. As a broker executes at or inside the
consolidated quote, the test keeps Alpaca's quote inside the Polygon quote the node will see:
the Polygon tapes are a pure function of their seed, so the quote in force after the next
minute is read from a copy of them before that minute is published.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alpaca_loopback_support import KEY, SECRET
from alpaca_node_support import LiveNode, config_text, fills_in, until
from tradenode_alpaca.loopback import ThreadedAlpacaLoopback
from tradenode_polygon.loopback import PolygonConfig, ThreadedPolygonLoopback
from tradenode_polygon.loopback.feed import LiveFeed
from tradenode_polygon.loopback.tapes import TapeLibrary

from node.journal import Journal
from node.messages import (
    BalancesUpdated,
    InstrumentHalted,
    NodeReady,
    OrderRejected,
    ParentOrderCompleted,
    SubmitParentOrder,
)
from node.plugins import Plugins, load_plugins

D = Decimal
POLYGON_KEY = "polygon-test-key"
SYMBOLS = ["AAPL", "TSLA", "NVDA"]
WEIGHTS = {"AAPL": D("0.3"), "TSLA": D("0.2"), "NVDA": D("0.5")}
ENV = {
    "TN_TEST_ALPACA_KEY": KEY,
    "TN_TEST_ALPACA_SECRET": SECRET,
    "TN_TEST_POLYGON_KEY": POLYGON_KEY,
}


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    return load_plugins()


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def polygon() -> Iterator[ThreadedPolygonLoopback]:
    with ThreadedPolygonLoopback(PolygonConfig(api_key=POLYGON_KEY)) as server:
        yield server


def venues(alpaca: ThreadedAlpacaLoopback, polygon: ThreadedPolygonLoopback) -> dict[str, Any]:
    return {
        "alpaca": {
            "plugin": "alpaca",
            "key_env": "TN_TEST_ALPACA_KEY",
            "secret_env": "TN_TEST_ALPACA_SECRET",
            "symbols": SYMBOLS,
            "base_url": alpaca.url,
            "market_data": "external",
            "rest_retry_wait_s": 0,
        },
        "polygon": {
            "plugin": "polygon",
            "api_key_env": "TN_TEST_POLYGON_KEY",
            "serves": "alpaca",
            "symbols": SYMBOLS,
            "feed": polygon.host_port,
            "secure": False,
            "rest_url": polygon.url,
        },
    }


def align_with_next_minute(
    alpaca: ThreadedAlpacaLoopback, polygon: ThreadedPolygonLoopback
) -> dict[str, tuple[Decimal, Decimal]]:
    """Put each Alpaca quote inside the Polygon quote in force a minute from now, which the
    node's books will show once that minute is published; returns Polygon's quotes."""
    feed = LiveFeed(TapeLibrary(PolygonConfig(api_key=POLYGON_KEY)))
    later = polygon.now() + timedelta(minutes=1)
    at_ns = int(later.timestamp()) * 1_000_000_000
    quotes = {}
    for symbol in SYMBOLS:
        found = feed.last_trade(symbol, at_ns)
        assert found is not None
        bid, ask = D(str(found[1].bid)), D(str(found[1].ask))
        quotes[symbol] = (bid, ask)
        # Alpaca's generated spread is one to three cents, drawn anew at each pin.
        for _ in range(50):
            quote = alpaca.set_price(symbol, (bid + ask) / 2 + D("0.001"))
            if bid <= quote.bid and quote.ask <= ask:
                break
        else:
            raise AssertionError(f"could not put Alpaca's {symbol} quote inside {bid}/{ask}")
    return quotes


def subscribed(polygon: ThreadedPolygonLoopback) -> bool:
    """Every topic taken (what is published before reaches nobody)."""
    topics = sorted(f"{c}.{s}" for c in ("Q", "T", "AM") for s in SYMBOLS)
    return polygon.records()["subscriptions"] == [topics]


def test_polygon_quotes_price_an_alpaca_account(
    make_venue: Callable[..., ThreadedAlpacaLoopback],
    polygon: ThreadedPolygonLoopback,
    plugins: Plugins,
    tmp_path: Path,
) -> None:
    alpaca = make_venue(cash=D(20_000))
    quotes = align_with_next_minute(alpaca, polygon)
    node = LiveNode(tmp_path, plugins, config_text(venues(alpaca, polygon))).start()
    try:
        until(lambda: subscribed(polygon), "Polygon's subscriptions")
        assert node.of(NodeReady) == []  # Alpaca's instruments have no book yet
        polygon.step(60)
        (ready,) = until(lambda: node.of(NodeReady), "the node to be ready")
        assert ready.missing == {}
        for symbol, (bid, ask) in quotes.items():
            assert node.market.book("alpaca", symbol).top() == (bid, ask)
            assert node.market.mark(symbol) == (bid + ask) / 2

        node.submit(SubmitParentOrder(parent_id="p", symbol="NVDA", side="buy", quantity=D(30)))
        done = node.wait(ParentOrderCompleted, parent_id="p")
        assert (done.status, done.report.venues[0].venue) == ("filled", "alpaca")
        assert done.report.average_price <= quotes["NVDA"][1]
        assert done.report.child_orders == 1
        assert node.of(OrderRejected) == []
    finally:
        node.stop()


def test_tradenode_rebalance_takes_cash_to_the_seed_portfolio(
    make_venue: Callable[..., ThreadedAlpacaLoopback],
    polygon: ThreadedPolygonLoopback,
    plugins: Plugins,
    tmp_path: Path,
) -> None:
    alpaca = make_venue(cash=D(10_000))
    align_with_next_minute(alpaca, polygon)
    weights = ", ".join(f'{s} = "{w}"' for s, w in WEIGHTS.items())
    rebalance = f"""
[rebalance]
logs = "rebalance-logs"
algo = "twap"
execution_time_s = 2
params = {{ slices = 2, passive_fraction = 0.5 }}
timeout_s = 60

[[rebalance.strategies]]
path = "tradenode_algos.rebalance.strategies:fixed_weights"
params = {{ weights = {{ {weights} }} }}
"""
    config = tmp_path / "node.toml"
    config.write_text(config_text(venues(alpaca, polygon), rebalance))
    proc = subprocess.Popen(
        [sys.executable, "-m", "node.cli", "rebalance", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **ENV},
    )
    try:
        until(lambda: subscribed(polygon) or proc.poll() is not None, "the node to subscribe", 90)
        polygon.step(60)  # the quotes the books start from (Alpaca's sit inside them)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, f"{out}\n{err}"
    assert "status: done" in out

    records = alpaca.records()
    assert set(Counter(records["submissions"]).values()) == {1}  # no order placed twice
    journal = Journal(tmp_path / "journal.sqlite", codec=plugins.codec(), readonly=True)
    try:
        messages = list(journal.messages())
    finally:
        journal.close()
    (planned,) = [m for m in messages if type(m).__name__ == "RebalancePlanned"]
    (finished,) = [m for m in messages if type(m).__name__ == "RebalanceFinished"]
    assert finished.status == "done"
    assert {o.symbol: o.side for o in planned.orders} == dict.fromkeys(SYMBOLS, "buy")
    fills = fills_in(messages)
    assert sorted((f.client_order_id, f.trade_id, f.price, f.quantity) for f in fills) == sorted(
        (f["client_order_id"], f["id"].split("::")[1], D(f["price"]), D(f["qty"]))
        for f in records["fills"]
    )
    held = {p["symbol"]: D(p["qty"]) for p in records["positions"]}
    assert held == {o.symbol: o.quantity for o in planned.orders}
    # Each holding is its weight of the NAV the plan was made on, short of it by less than
    # one share (the plan rounds down to whole shares).
    for symbol, weight in WEIGHTS.items():
        price = planned.prices[symbol]
        gap = weight * planned.nav - held[symbol] * price
        assert 0 <= gap < price, (symbol, gap)
    # The node's last word on the account is Alpaca's account.
    last = [m for m in messages if isinstance(m, BalancesUpdated) and m.venue == "alpaca"][-1]
    assert last.balances["USD"].total == D(records["cash"])
    assert all(last.balances[s].total == held[s] for s in SYMBOLS)
    assert not [m for m in messages if isinstance(m, InstrumentHalted)]
    assert (tmp_path / "rebalance-logs").is_dir()
