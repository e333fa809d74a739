"""The loopback Polygon through the real massive ``RESTClient`` and ``WebSocketClient``:
aggregates parse into massive's ``Agg`` and page with ``next_url``, rollups agree with the
minute bars they come from, the websocket's trades add up to its minute aggregates and to the
REST bars, and faults (rate limits, bad keys, dropped and closed sockets) reach the client as
they would from Polygon.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import statistics
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from massive import RESTClient, WebSocketClient
from massive.exceptions import AuthError, BadResponse
from massive.rest.models import Agg
from massive.websocket.models import EquityAgg, EquityQuote, EquityTrade
from polygon_loopback_support import KEY, SocketRunner
from tradenode_polygon.loopback import PolygonConfig, PolygonLoopback, ThreadedPolygonLoopback
from urllib3.exceptions import MaxRetryError
from waiting import wait_for
from websockets.exceptions import ConnectionClosedError

ET = ZoneInfo("America/New_York")
MINUTE = 60_000
Server = ThreadedPolygonLoopback
RunSocket = Callable[..., SocketRunner]


def ms(month: int, day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(2024, month, day, hour, minute, tzinfo=ET).timestamp()) * 1000


def minutes_of(bars: list[Agg], start: int, length: int) -> list[Agg]:
    return [b for b in bars if start <= b.timestamp < start + length]


def subscribed(server: Server, *topics: str) -> bool:
    return server.records()["subscriptions"] == [sorted(topics)]


# -- REST aggregates --------------------------------------------------------------------------


def test_minute_bars_cover_the_session_with_a_u_shaped_volume(rest: RESTClient) -> None:
    bars = rest.get_aggs("AAPL", 1, "minute", "2024-05-31", "2024-05-31")
    assert all(isinstance(b, Agg) for b in bars)
    assert [b.timestamp for b in bars] == [ms(5, 31, 9, 30) + i * MINUTE for i in range(390)]
    for bar in bars:
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert bar.low <= bar.vwap <= bar.high
        assert bar.volume > 0 and bar.transactions >= 2
    volumes = [b.volume for b in bars]
    edges = statistics.mean(volumes[:30] + volumes[-30:])
    midday = statistics.mean(volumes[120:270])
    assert edges > 2 * midday
    # Busiest at the open, busy again into the close.
    assert statistics.mean(volumes[:15]) > 2.5 * midday
    assert statistics.mean(volumes[-15:]) > 2 * midday

    monday = rest.get_aggs("AAPL", 1, "minute", "2024-06-03", "2024-06-03")
    overnight = monday[0].open / bars[-1].close - 1
    assert abs(overnight) < 0.01


def test_the_same_seed_gives_the_same_bars(make_server: Callable[..., Server]) -> None:
    def bars(seed: int) -> list[Agg]:
        server = make_server(seed=seed)
        return RESTClient(api_key=KEY, base=server.url).get_aggs(
            "TSLA", 1, "minute", "2024-05-30", "2024-05-30"
        )

    assert bars(3) == bars(3)
    assert bars(3) != bars(4)


def test_list_aggs_follows_next_url_in_both_directions(server: Server, rest: RESTClient) -> None:
    everything = rest.get_aggs("AAPL", 1, "minute", "2024-05-30", "2024-05-31")
    assert len(everything) == 780
    paged = list(rest.list_aggs("AAPL", 1, "minute", "2024-05-30", "2024-05-31", limit=100))
    assert paged == everything
    served = server.records()["requests"][1:]
    assert len(served) == 8  # 780 bars, 100 a page
    assert served[0] == "/v2/aggs/ticker/AAPL/range/1/minute/2024-05-30/2024-05-31?limit=100"
    assert all("limit=100" in path for path in served)

    newest_first = list(
        rest.list_aggs("AAPL", 1, "minute", "2024-05-30", "2024-05-31", sort="desc", limit=250)
    )
    assert newest_first == everything[::-1]
    assert len(rest.get_aggs("AAPL", 1, "minute", "2024-05-30", "2024-05-31", limit=100)) == 100


def test_rollups_agree_with_their_minutes(rest: RESTClient) -> None:
    minutes = rest.get_aggs("AAPL", 1, "minute", "2024-05-27", "2024-05-31")
    hours = rest.get_aggs("AAPL", 1, "hour", "2024-05-31", "2024-05-31")
    assert [h.timestamp for h in hours] == [ms(5, 31, hour) for hour in range(9, 16)]
    for hour in hours:
        group = minutes_of(minutes, hour.timestamp, 60 * MINUTE)
        assert (hour.open, hour.close) == (group[0].open, group[-1].close)
        assert (hour.high, hour.low) == (max(m.high for m in group), min(m.low for m in group))
        assert hour.volume == sum(m.volume for m in group)
        assert hour.transactions == sum(m.transactions for m in group)
        vwap = sum(m.vwap * m.volume for m in group) / hour.volume
        assert hour.vwap == pytest.approx(vwap, abs=1e-4)

    five = rest.get_aggs("AAPL", 5, "minute", "2024-05-31", "2024-05-31")
    assert [f.timestamp for f in five] == [ms(5, 31, 9, 30) + i * 5 * MINUTE for i in range(78)]

    days = rest.get_aggs("AAPL", 1, "day", "2024-05-25", "2024-05-31")
    # Memorial Day is not a holiday here: the loopback trades every weekday.
    assert [d.timestamp for d in days] == [ms(5, day, 0) for day in range(27, 32)]
    friday = minutes_of(minutes, ms(5, 31, 0), 24 * 60 * MINUTE)
    assert (days[-1].open, days[-1].close) == (friday[0].open, friday[-1].close)
    assert days[-1].volume == sum(m.volume for m in friday)

    weeks = rest.get_aggs("AAPL", 1, "week", "2024-05-20", "2024-05-31")
    assert [w.timestamp for w in weeks] == [ms(5, 19, 0), ms(5, 26, 0)]  # Sunday midnights
    assert weeks[-1].volume == sum(d.volume for d in days)


def test_only_what_has_happened_is_served(server: Server, rest: RESTClient) -> None:
    assert len(rest.get_aggs("AAPL", 1, "minute", "2024-06-03", "2024-06-03")) == 30  # by 10:00
    server.step(600)
    today = rest.get_aggs("AAPL", 1, "minute", "2024-06-03", "2024-06-03")
    assert len(today) == 40
    day = rest.get_aggs("AAPL", 1, "day", "2024-06-03", "2024-06-03")[0]
    assert day.volume == sum(m.volume for m in today)
    assert rest.get_aggs("AAPL", 1, "minute", "2024-06-04", "2024-06-04") == []

    exact = rest.get_aggs("AAPL", 1, "minute", ms(5, 31, 10), ms(5, 31, 10, 9))
    assert [b.timestamp for b in exact] == [ms(5, 31, 10) + i * MINUTE for i in range(10)]


def test_empty_answers_have_no_results_key(rest: RESTClient) -> None:
    assert rest.get_aggs("AAPL", 1, "minute", "2024-06-01", "2024-06-02") == []  # a weekend
    assert rest.get_aggs("ZZZZ", 1, "minute", "2024-05-31", "2024-05-31") == []
    raw = rest.get_aggs("AAPL", 1, "minute", "2024-06-01", "2024-06-02", raw=True)
    body = json.loads(raw.data)
    assert (body["status"], body["resultsCount"], "results" in body) == ("OK", 0, False)


# -- keys and faults --------------------------------------------------------------------------


def test_api_key_by_header_or_query_and_polygons_401(server: Server) -> None:
    with pytest.raises(BadResponse) as wrong:
        RESTClient(api_key="nope", base=server.url).get_ticker_details("AAPL")
    assert json.loads(str(wrong.value))["error"] == "Unknown API Key"

    path = server.url + "/v3/reference/tickers/AAPL"
    assert requests.get(path, params={"apiKey": KEY}, timeout=5).json()["status"] == "OK"
    missing = requests.get(path, timeout=5)
    assert (missing.status_code, missing.json()["error"]) == (401, "API Key was not provided")
    assert all("apiKey" not in path for path in server.records()["requests"])


def test_rate_limits_and_server_errors(server: Server, rest: RESTClient) -> None:
    # massive retries 413/429/499/5xx through urllib3 (3 retries by default)...
    server.inject_http_fault(429, 3, path="/v2/aggs")
    assert len(rest.get_aggs("AAPL", 1, "day", "2024-05-27", "2024-05-31")) == 5
    # ...and then raises urllib3's MaxRetryError, not massive's BadResponse.
    server.inject_http_fault(503, 4, path="/v2/aggs")
    with pytest.raises(MaxRetryError, match="too many 503 error responses"):
        rest.get_aggs("AAPL", 1, "day", "2024-05-27", "2024-05-31")
    with pytest.raises(BadResponse, match="Unsupported timespan"):
        rest.get_aggs("AAPL", 1, "second", "2024-05-27", "2024-05-31")


# -- reference and last trade -------------------------------------------------------------------


def test_details_last_trade_last_quote_and_previous_close(rest: RESTClient) -> None:
    details = rest.get_ticker_details("NVDA")
    assert (details.ticker, details.market, details.primary_exchange, details.type) == (
        "NVDA",
        "stocks",
        "XNAS",
        "CS",
    )
    with pytest.raises(BadResponse, match="Ticker not found"):
        rest.get_ticker_details("ZZZZ")

    last_minute = rest.get_aggs("NVDA", 1, "minute", "2024-06-03", "2024-06-03")[-1]
    trade = rest.get_last_trade("NVDA")
    assert trade.price == last_minute.close  # the last trade closed the last bar
    assert last_minute.timestamp * 1_000_000 <= trade.sip_timestamp < ms(6, 3, 10) * 1_000_000
    quote = rest.get_last_quote("NVDA")
    assert quote.bid_price <= trade.price <= quote.ask_price
    assert quote.sip_timestamp == trade.sip_timestamp

    previous = rest.get_previous_close_agg("NVDA")[0]
    friday = rest.get_aggs("NVDA", 1, "day", "2024-05-31", "2024-05-31")[0]
    assert (previous.ticker, previous.close, previous.volume, previous.timestamp) == (
        "NVDA",
        friday.close,
        friday.volume,
        friday.timestamp,
    )


# -- websocket ----------------------------------------------------------------------------------


def test_websocket_trades_quotes_and_minute_aggregates(
    server: Server, rest: RESTClient, run_socket: RunSocket
) -> None:
    socket = run_socket("Q.AAPL", "T.AAPL", "AM.AAPL")
    wait_for(lambda: subscribed(server, "Q.AAPL", "T.AAPL", "AM.AAPL"), "the subscriptions")
    server.step(120)
    aggs = wait_for(
        lambda: len(a := [m for m in socket.messages if isinstance(m, EquityAgg)]) == 2 and a,
        "two minute aggregates",
    )
    messages = list(socket.messages)
    assert {type(m) for m in messages} == {EquityAgg, EquityQuote, EquityTrade}
    rest_bars = rest.get_aggs("AAPL", 1, "minute", "2024-06-03", "2024-06-03")
    by_start = {b.timestamp: b for b in rest_bars}
    trades = [m for m in messages if isinstance(m, EquityTrade)]
    for agg in aggs:
        bar = by_start[agg.start_timestamp]
        assert agg.end_timestamp == agg.start_timestamp + MINUTE
        assert (agg.open, agg.high, agg.low, agg.close) == (bar.open, bar.high, bar.low, bar.close)
        assert (agg.volume, agg.vwap) == (bar.volume, bar.vwap)
        assert agg.official_open_price == rest_bars[0].open
        assert agg.accumulated_volume == sum(
            b.volume for b in rest_bars if b.timestamp <= agg.start_timestamp
        )
        minute = [t for t in trades if agg.start_timestamp <= t.timestamp < agg.end_timestamp]
        assert len(minute) == bar.transactions
        assert sum(t.size for t in minute) == bar.volume
        assert (minute[0].price, minute[-1].price) == (bar.open, bar.close)
        assert max(t.price for t in minute) == bar.high
    quotes = [m for m in messages if isinstance(m, EquityQuote)]
    assert len(quotes) == len(trades)
    for quote, trade in zip(quotes, trades, strict=True):
        assert quote.timestamp == trade.timestamp
        assert quote.bid_price <= trade.price <= quote.ask_price
        assert trade.symbol == quote.symbol == "AAPL"


def test_websocket_refuses_a_wrong_key(server: Server) -> None:
    client = WebSocketClient(api_key="nope", feed=server.host_port, market="stocks", secure=False)

    async def ignore(_: list[Any]) -> None:
        return None

    with pytest.raises(AuthError, match="authentication failed"):
        asyncio.run(asyncio.wait_for(client.connect(ignore), timeout=10))


def test_a_second_connection_is_refused_with_max_connections(
    server: Server, run_socket: RunSocket, caplog: pytest.LogCaptureFixture
) -> None:
    run_socket("T.AAPL")
    wait_for(lambda: subscribed(server, "T.AAPL"), "the first connection")
    second = WebSocketClient(
        api_key=KEY, feed=server.host_port, market="stocks", secure=False, max_reconnects=0
    )

    async def ignore(_: list[Any]) -> None:
        return None

    with pytest.raises(ConnectionClosedError):
        asyncio.run(asyncio.wait_for(second.connect(ignore), timeout=10))
    assert "server max_connections" in caplog.text


def test_dropped_socket_reconnects_and_resubscribes(server: Server, run_socket: RunSocket) -> None:
    socket = run_socket("T.NVDA")
    wait_for(lambda: subscribed(server, "T.NVDA"), "the subscription")
    assert server.drop_streams() == 1
    wait_for(lambda: subscribed(server, "T.NVDA"), "massive to reconnect and resubscribe")
    server.step(60)
    trades = wait_for(lambda: socket.messages, "trades after the reconnect")
    assert {m.symbol for m in trades} == {"NVDA"}
    assert not socket.finished


def test_a_clean_close_ends_massives_connect(server: Server, run_socket: RunSocket) -> None:
    socket = run_socket("AM.TSLA")
    wait_for(lambda: subscribed(server, "AM.TSLA"), "the subscription")
    assert server.close_streams() == 1
    wait_for(lambda: socket.finished, "connect() to return")
    assert socket.outcome() is None  # no exception, no reconnect: the caller must notice


def test_jumping_ahead_publishes_nothing_for_the_gap(server: Server, run_socket: RunSocket) -> None:
    socket = run_socket("T.TSLA")
    wait_for(lambda: subscribed(server, "T.TSLA"), "the subscription")
    server.jump_to(datetime(2024, 6, 3, 11, 0, tzinfo=ET))
    server.step(30)
    trades = wait_for(lambda: socket.messages, "trades after the jump")
    assert min(t.timestamp for t in trades) > ms(6, 3, 11)


def test_real_time_mode_publishes_by_itself(make_server: Callable[..., Server]) -> None:
    server = make_server(realtime=True, speed=30)
    client = WebSocketClient(
        api_key=KEY,
        feed=server.host_port,
        market="stocks",
        secure=False,
        subscriptions=["T.*"],
    )
    socket = SocketRunner(client)
    try:
        trades = wait_for(lambda: socket.messages, "trades in real time")
        assert {type(t) for t in trades} == {EquityTrade}
    finally:
        socket.close()


def test_command_line_server_prints_how_to_connect(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tradenode_polygon.loopback",
            "--port",
            "0",
            "--manual",
            "--start",
            "2024-06-03T10:00:00-04:00",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    stdout = process.stdout
    assert stdout is not None
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    try:
        first = lines.get(timeout=20)
        assert first.startswith("Loopback Polygon at http://127.0.0.1:")
        url = first.split()[-1]
        rest = RESTClient(api_key="loopback-key", base=url)
        assert len(rest.get_aggs("AAPL", 1, "minute", "2024-06-03", "2024-06-03")) == 30
        printed = "".join(lines.get(timeout=5) for _ in range(5))
        assert f'RESTClient(api_key=key, base="{url}")' in printed
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_asyncio_server_runs_inside_the_callers_loop() -> None:
    async def scenario() -> int:
        server = PolygonLoopback(PolygonConfig(api_key=KEY))
        await server.start()
        try:
            server.step(300)  # control methods run on the server's loop
            rest = RESTClient(api_key=KEY, base=server.url)
            bars = await asyncio.to_thread(
                rest.get_aggs, "AAPL", 1, "minute", "2024-06-03", "2024-06-03"
            )
            return len(bars)
        finally:
            await server.stop()

    assert asyncio.run(asyncio.wait_for(scenario(), timeout=20)) == 35
