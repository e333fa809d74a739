"""The Polygon.io market-data venue inside a whole node (live runtime), against the loopback
Polygon through the real massive clients: its quotes become the books of the venues it serves,
it trades nothing, a lost socket comes back subscribed, and its aggregates history is a volume
profile's bars. Expected prices and volumes come from the loopback's REST answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import numpy as np
import pytest
from massive import RESTClient
from polygon_loopback_support import KEY
from tradenode_algos.volume_profile import VolumeProfile, bars_from_messages, bars_from_ohlcv
from tradenode_polygon.history import AggregatesHistory
from tradenode_polygon.loopback import ThreadedPolygonLoopback
from urllib3.exceptions import MaxRetryError
from waiting import wait_for as until

from node.config import load_config, secret
from node.messages import (
    Bar,
    BarsFetched,
    BookSnapshot,
    FetchBars,
    Message,
    NodeReady,
    OrderRejected,
    SubmitOrder,
    TradeTick,
    VenueConnected,
    VenueDisconnected,
)
from node.node import Node
from node.plugins import Plugins, load_plugins
from node.runtime.recorder import Recorder

D = Decimal
M = TypeVar("M", bound=Message)
WAIT_S = 30.0  # a bound, not a speed claim
SYMBOLS = ["AAPL", "TSLA", "NVDA"]
SERVED = ["broker", "other"]
Server = ThreadedPolygonLoopback


class DataNode:
    """A live node whose one venue is the Polygon plugin, serving two venues' books."""

    def __init__(self, directory: Path, plugins: Plugins, server: Server) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "node.toml"
        config.write_text(
            '[node]\nname = "polygon-test"\nruntime = "live"\n[node.control]\nenabled = false\n'
            '[venues.polygon]\nplugin = "polygon"\napi_key_env = "TN_TEST_POLYGON_KEY"\n'
            f'serves = ["broker", "other"]\nsymbols = ["AAPL", "TSLA", "NVDA"]\n'
            f'feed = "{server.host_port}"\nsecure = false\nrest_url = "{server.url}"\n'
        )
        self.recorder = Recorder()
        self.node = Node(
            load_config(config, plugins),
            plugins,
            journal_path=directory / "journal.sqlite",
            runtime_kind="live",
            extra=[self.recorder],
        )
        self.node.start()

    def of(self, kind: type[M], **fields: Any) -> list[M]:
        return [
            m  # type: ignore[misc]
            for m in self.recorder.of_type(kind)
            if all(getattr(m, k) == v for k, v in fields.items())
        ]

    def book_top(self, venue: str, symbol: str) -> tuple[Decimal | None, Decimal | None]:
        return self.node.market.book(venue, symbol).top()


@pytest.fixture(scope="module")
def plugins() -> Plugins:
    return load_plugins()


@pytest.fixture
def start(
    tmp_path: Path, plugins: Plugins, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., DataNode]]:
    nodes: list[DataNode] = []

    def make(server: Server, key: str = KEY) -> DataNode:
        monkeypatch.setenv("TN_TEST_POLYGON_KEY", key)
        node = DataNode(tmp_path / f"node{len(nodes)}", plugins, server)
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.node.stop()


def subscribed(server: Server) -> bool:
    topics = sorted(f"{c}.{s}" for c in ("Q", "T", "AM") for s in SYMBOLS)
    return server.records()["subscriptions"] == [topics]


def test_quotes_become_the_books_of_the_venues_it_serves(
    server: Server, rest: RESTClient, start: Callable[..., DataNode]
) -> None:
    node = start(server)
    until(lambda: node.of(VenueConnected, venue="polygon"), "the subscriptions")
    assert subscribed(server)
    (ready,) = until(lambda: node.of(NodeReady), "the node to be ready")
    assert ready.missing == {}  # it lists no instrument of its own: nothing to wait for
    server.step(120)
    for symbol in SYMBOLS:
        quote = rest.get_last_quote(symbol)
        expected = (D(str(quote.bid_price)), D(str(quote.ask_price)))
        for venue in SERVED:
            until(
                lambda v=venue, s=symbol, e=expected: node.book_top(v, s) == e, f"{venue} {symbol}"
            )
        assert node.node.market.mark(symbol, "broker") == sum(expected) / 2
    # Trades and minute aggregates go to subscribers, as the served venue's market data.
    minutes = rest.get_aggs("AAPL", 1, "minute", "2024-06-03", "2024-06-03")[-2:]
    bars = until(lambda: len(b := node.of(Bar, venue="broker", symbol="AAPL")) == 2 and b, "bars")
    assert [(b.open, b.close, b.volume) for b in bars] == [
        (D(str(m.open)), D(str(m.close)), D(m.volume)) for m in minutes
    ]
    assert all(b.interval_ns == 60_000_000_000 for b in bars)
    trades = node.of(TradeTick, venue="broker", symbol="AAPL")
    assert sum(t.size for t in trades) == sum(m.volume for m in minutes)
    assert node.of(BookSnapshot, venue="polygon") == []


def test_it_takes_no_orders(server: Server, start: Callable[..., DataNode]) -> None:
    node = start(server)
    (connected,) = until(lambda: node.of(VenueConnected, venue="polygon"), "the connection")
    assert (connected.capabilities.order_types, connected.capabilities.reconciles) == ((), False)
    # as risk forwards an order (risk itself refuses one for an instrument no venue lists)
    node.node.runtime.send(
        "venue.polygon",
        SubmitOrder(
            client_order_id="x1",
            venue="polygon",
            symbol="AAPL",
            side="buy",
            quantity=D(1),
            limit_price=D(190),
        ),
        "risk",
    )
    (refused,) = until(lambda: node.of(OrderRejected, client_order_id="x1"), "the refusal")
    assert refused.reason == "polygon is a market-data source (Polygon.io): it takes no orders"


def test_a_lost_socket_comes_back_subscribed(
    server: Server, start: Callable[..., DataNode]
) -> None:
    node = start(server)
    until(lambda: node.of(VenueConnected, venue="polygon"), "the connection")
    assert server.drop_streams() == 1
    (lost,) = until(lambda: node.of(VenueDisconnected, venue="polygon"), "the loss")
    assert lost.reconnecting and lost.reason.startswith("connection lost: ConnectionClosedError")
    until(lambda: len(node.of(VenueConnected, venue="polygon")) == 2, "the reconnection")
    assert subscribed(server)
    server.step(60)
    until(lambda: node.book_top("broker", "NVDA") != (None, None), "quotes after reconnecting")

    # A clean close ends massive's connect() without an error: it is noticed all the same.
    assert server.close_streams() == 1
    closed = until(lambda: node.of(VenueDisconnected, venue="polygon")[1:], "the close")[0]
    assert (closed.reason, closed.reconnecting) == ("Polygon closed the connection", True)
    until(lambda: len(node.of(VenueConnected, venue="polygon")) == 3, "the next connection")
    assert subscribed(server)


def test_a_refused_key_is_said_once_and_not_retried(
    server: Server, start: Callable[..., DataNode]
) -> None:
    node = start(server, key="not-the-key")
    (refused,) = until(lambda: node.of(VenueDisconnected, venue="polygon"), "the refusal")
    assert refused.reason == "Polygon refused the API key: authentication failed"
    assert refused.reconnecting is False
    assert "not-the-key" not in refused.reason
    # The stream's loop has ended rather than reconnecting.
    (venue,) = [v for v in node.node.venues if v.venue == "polygon"]
    until(lambda: venue.tasks[0].done(), "the stream to end")
    assert venue.tasks[0].exception() is None
    assert server.records()["subscriptions"] == []
    assert len(node.of(VenueDisconnected, venue="polygon")) == 1


def test_aggregates_history_gives_volume_profile_bars(
    server: Server, rest: RESTClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TN_TEST_POLYGON_KEY", KEY)
    history = AggregatesHistory(secret("TN_TEST_POLYGON_KEY"), server.url)
    rows = history.ohlcv("AAPL", bucket_minutes=5, lookback_days=3, before=date(2024, 6, 3))
    expected = rest.get_aggs("AAPL", 5, "minute", "2024-05-29", "2024-05-31")
    assert len(rows) == 3 * 78  # three sessions of 6.5 hours in 5-minute bars
    assert rows == [[a.timestamp, a.open, a.high, a.low, a.close, a.volume] for a in expected]
    bars = bars_from_ohlcv(rows)
    assert bars.volume.sum() == sum(a.volume for a in expected)
    assert "not-the-key" not in repr(history)

    server.inject_http_fault(503, 4, path="/v2/aggs")  # massive retries 3 times, then gives up
    with pytest.raises(MaxRetryError):
        history.ohlcv("AAPL", lookback_days=1, before=date(2024, 6, 3))


def test_it_serves_bars_for_a_stock_volume_profile(
    server: Server, rest: RESTClient, start: Callable[..., DataNode]
) -> None:
    """``FetchBars`` is answered from Polygon's aggregates over REST, exactly, and the answer is
    a VWAP's profile: a stock's sessions, zero outside them."""
    node = start(server)
    (connected,) = until(lambda: node.of(VenueConnected, venue="polygon"), "the connection")
    assert connected.capabilities.bars
    since = datetime(2024, 5, 20, tzinfo=UTC)
    until_ = datetime(2024, 6, 1, tzinfo=UTC)
    request = FetchBars(
        venue="polygon",
        symbol="AAPL",
        timeframe_minutes=15,
        since_ns=int(since.timestamp()) * 1_000_000_000,
        until_ns=int(until_.timestamp()) * 1_000_000_000,
        reply_to="recorder",
    )
    node.node.runtime.send("venue.polygon", request, "test")
    (answer,) = until(lambda: node.of(BarsFetched), "the bars")
    assert (answer.venue, answer.symbol, answer.timeframe_minutes, answer.error) == (
        "polygon",
        "AAPL",
        15,
        "",
    )
    expected = rest.get_aggs(
        "AAPL", 15, "minute", int(since.timestamp()) * 1000, int(until_.timestamp()) * 1000 - 1
    )
    assert len(answer.bars) == len(expected) == 10 * 26  # ten weekday sessions of 6.5 hours
    for bar, agg in zip(answer.bars, expected, strict=True):
        assert bar.ts == agg.timestamp * 1_000_000 and bar.interval_ns == 15 * 60 * 10**9
        assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == tuple(
            D(repr(x)) for x in (agg.open, agg.high, agg.low, agg.close, agg.volume)
        )
    profile = VolumeProfile.from_bars(
        bars_from_messages(answer.bars), bucket_minutes=15, lookback_days=10
    )
    assert len(profile.days) == 10
    traded = np.flatnonzero(profile.fractions)
    assert list(traded) == list(range(13 * 4 + 2, 20 * 4))  # 13:30-20:00 UTC: 9:30-16:00 EDT

    # an unknown ticker has no bars; a failing API is said
    node.node.runtime.send("venue.polygon", msgspec.structs.replace(request, symbol="ZZZZ"), "test")
    none = until(lambda: node.of(BarsFetched, symbol="ZZZZ"), "the empty answer")[0]
    assert (none.bars, none.error) == ([], "")
    server.inject_http_fault(503, 4, path="/v2/aggs")  # massive retries 3 times, then gives up
    node.node.runtime.send("venue.polygon", msgspec.structs.replace(request, symbol="TSLA"), "test")
    failed = until(lambda: node.of(BarsFetched, symbol="TSLA"), "the failure")[0]
    assert failed.bars == [] and failed.error.startswith("Polygon aggregates failed: ")
