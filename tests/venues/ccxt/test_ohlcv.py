"""OHLCV history through the real ccxt client against the loopback Binance's ``/api/v3/klines``:
klines made from a bars file or from the capture's recorded trades (recomputed here from the
files themselves), the venue's paging and exact conversion (``tradenode_ccxt.ohlcv``), and a
whole node on the live runtime whose VWAP takes its volume profile from the venue — its first
child's size follows the fetched profile, a restart fetches the bars again and keeps the
schedule, and a venue whose history fails or is empty fails the parent before any order."""

from __future__ import annotations

import asyncio
import gzip
import json
import types
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import ccxt
import pytest
import requests
from ccxt_node_support import SYMBOL, buy, node_config, static_market
from tradenode_ccxt import ohlcv
from tradenode_ccxt.loopback import (
    DEFAULT_CAPTURE,
    BarsFile,
    LoopbackExchange,
    MarketSetup,
    StaticBook,
    binance_client,
)

from node.messages import (
    BarsFetched,
    CancelParentOrder,
    FetchBars,
    Message,
    ParentOrderAccepted,
    ParentOrderCompleted,
    ParentOrderProgressed,
    RouteSlice,
    SliceCompleted,
    SubmitOrder,
    VenueConnected,
)

D = Decimal
NS = 1_000_000_000
MINUTE_MS = 60_000
DAY_MS = 1440 * MINUTE_MS
LOT = D("0.00001")
BOOK = StaticBook(bids=[("59990", "5")], asks=[("60010", "5")])


def pattern(minute: int) -> Decimal:
    """A minute's share of each day's volume: odd minutes trade about nine times the even ones."""
    return D("1.23456789") if minute % 2 == 0 else D("11.5")


def write_bars(path: Path, days: list[date]) -> dict[int, list[str]]:
    """1-minute bars of ``days`` (day ``k`` trades ``k + 1`` times the pattern); the rows by open
    time (ms) as written."""
    written: dict[int, list[str]] = {}
    lines = ["timestamp,open,high,low,close,volume"]
    for k, day in enumerate(days):
        for minute in range(1440):
            stamp = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(minutes=minute)
            price = D(60000) + D(minute % 13) / 100
            row = [
                f"{price}",
                f"{price + D('5.5')}",
                f"{price - D('0.01')}",
                f"{price + D('1.25')}",
                f"{pattern(minute) * (k + 1)}",
            ]
            lines.append(f"{stamp:%Y-%m-%d %H:%M:%S}," + ",".join(row))
            written[int(stamp.timestamp()) * 1000] = row
    path.write_text("\n".join(lines) + "\n")
    return written


def days_before_today(n: int) -> list[date]:
    today = datetime.now(UTC).date()
    return [today - timedelta(days=n - i) for i in range(n)]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


class _Session:
    """What ``ohlcv.fetch_bars`` uses of a venue's session: the client, reads as they come."""

    def __init__(self, exchange: Any) -> None:
        self.exchange = exchange
        self.venue = "binance"

    async def retrying(self, what: str, call: Any, *args: Any) -> Any:
        return await call(*args)


# -- the loopback's klines through ccxt ---------------------------------------------------------


def test_klines_of_a_bars_file_reach_ccxt_exactly_and_page(tmp_path: Path) -> None:
    days = [date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)]
    written = write_bars(tmp_path / "bars.csv", days)

    async def main() -> None:
        setup = MarketSetup(feed=BOOK, klines=BarsFile(tmp_path / "bars.csv"))
        async with LoopbackExchange([setup], speed=None) as ex:
            client = binance_client(ex.url, None, None)
            try:
                await check(ex, client)
            finally:
                await client.close()

    async def check(ex: LoopbackExchange, client: Any) -> None:
        await client.load_markets()  # as the venue's session has, before any request
        since = int(datetime(2024, 3, 4, tzinfo=UTC).timestamp()) * 1000
        # Binance's documented row, straight off the wire
        raw = await asyncio.to_thread(
            requests.get,
            f"{ex.url}/api/v3/klines",
            params={"symbol": "BTCUSDT", "interval": "15m", "startTime": since, "limit": 2},
            timeout=10,
        )
        first = raw.json()[0]
        assert len(first) == 12 and first[0] == since and first[6] == since + 15 * MINUTE_MS - 1
        minutes = [written[since + i * MINUTE_MS] for i in range(15)]
        assert first[1] == f"{D(minutes[0][0]):.8f}" and first[4] == f"{D(minutes[-1][3]):.8f}"
        assert D(first[2]) == max(D(m[1]) for m in minutes)
        assert D(first[3]) == min(D(m[2]) for m in minutes)
        assert D(first[5]) == sum(D(m[4]) for m in minutes)
        assert first[11] == "0"

        # the venue's fetch: 15-minute buckets are asked as ccxt's "15m"; 7 as "1m"
        request = FetchBars(
            venue="binance",
            symbol=SYMBOL,
            timeframe_minutes=7,
            since_ns=(since + 30 * MINUTE_MS) * 1_000_000,
            until_ns=(since + 2 * DAY_MS + 600 * MINUTE_MS) * 1_000_000,
            reply_to="test",
        )
        before = len(ex.admin.klines_requests())
        length, bars = await ohlcv.fetch_bars(_Session(client), request)  # type: ignore[arg-type]
        asked = ex.admin.klines_requests()[before:]
        assert length == 1 and len(bars) == 2 * 1440 + 600 - 30
        assert len(asked) == 4  # pages of 1000 (ccxt's features say Binance's spot limit)
        assert [int(a["startTime"]) for a in asked] == [
            since + (30 + 1000 * i) * MINUTE_MS for i in range(4)
        ]
        assert {a["interval"] for a in asked} == {"1m"} and {a["limit"] for a in asked} == {"1000"}
        for bar in bars:  # every number exactly as written in the file
            row = written[bar.ts // 1_000_000]
            assert [bar.open, bar.high, bar.low, bar.close, bar.volume] == [D(v) for v in row]
            assert bar.interval_ns == 60 * NS and (bar.venue, bar.symbol) == ("binance", SYMBOL)
        assert [b.ts for b in bars] == sorted({b.ts for b in bars})

        fifteen = FetchBars(**{**_fields(request), "timeframe_minutes": 15})
        length, bars = await ohlcv.fetch_bars(_Session(client), fifteen)  # type: ignore[arg-type]
        assert length == 15 and len(bars) == 2 * 96 + 40 - 2
        assert ex.admin.klines_requests()[-1]["interval"] == "15m"

        with pytest.raises(ccxt.BadRequest, match="Invalid interval"):
            await client.fetch_ohlcv(SYMBOL, "1s", since, 10)  # finer than the file's bars
        assert await client.fetch_ohlcv(SYMBOL, "1m", since + 3 * DAY_MS, 10) == []

    run(main())


def _fields(message: Message) -> dict[str, Any]:
    return {f: getattr(message, f) for f in message.__struct_fields__}


def capture_minutes() -> dict[int, tuple[Decimal, int]]:
    """Volume and trade count per minute of the capture's trades, read straight from the files."""
    minutes: dict[int, tuple[Decimal, int]] = defaultdict(lambda: (D(0), 0))
    for path in DEFAULT_CAPTURE:
        with gzip.open(path, "rt") as f:
            for line in f:
                message = json.loads(line.partition(" ")[2])
                if message.get("stream", "").endswith("@trade"):
                    data = message["data"]
                    minute = data["T"] // MINUTE_MS * MINUTE_MS
                    volume, count = minutes[minute]
                    minutes[minute] = (volume + D(data["q"]), count + 1)
    return dict(minutes)


def test_klines_of_the_capture_are_its_recorded_trades() -> None:
    expected = capture_minutes()

    async def main() -> list[list[Any]]:
        async with LoopbackExchange(speed=None) as ex:
            first = min(expected)
            answer = await asyncio.to_thread(
                requests.get,
                f"{ex.url}/api/v3/klines",
                params={"symbol": "BTCUSDT", "interval": "1m", "startTime": first},
                timeout=30,
            )
            return answer.json()

    rows = run(main())
    assert [r[0] for r in rows] == sorted(expected)  # every minute of the recording traded
    for row in rows:
        volume, count = expected[row[0]]
        assert (D(row[5]), row[8]) == (volume, count)
        assert D(row[3]) <= min(D(row[1]), D(row[4])) <= max(D(row[1]), D(row[4])) <= D(row[2])


def test_a_bars_file_moved_to_end_yesterday() -> None:
    from tradenode_algos.volume_profile import BUNDLED_BARS
    from tradenode_ccxt.loopback.klines import read_bars_file

    minutes, original = read_bars_file(BUNDLED_BARS)
    _, moved = read_bars_file(BUNDLED_BARS, end_yesterday=True)
    assert minutes == 1 and len(moved) == len(original) == 45_031
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert datetime.fromtimestamp(moved[-1].open_ms / 1000, UTC).date() == yesterday
    shifts = {m.open_ms - o.open_ms for m, o in zip(moved, original, strict=True)}
    (shift,) = shifts
    assert shift % DAY_MS == 0  # whole days: every bar keeps its time of day
    assert [(m.open, m.volume) for m in moved] == [(o.open, o.volume) for o in original]
    assert original[0].volume == D("2300413.7295")


def test_pick_timeframe_and_page_limit() -> None:
    seconds = ccxt.binance().parse_timeframe
    names = ["1s", "1m", "3m", "5m", "15m", "30m", "1h", "1d", "1w", "1M"]
    assert ohlcv.pick_timeframe(names, seconds, 15) == ("15m", 15)
    assert ohlcv.pick_timeframe(names, seconds, 45) == ("15m", 15)
    assert ohlcv.pick_timeframe(names, seconds, 7) == ("1m", 1)
    assert ohlcv.pick_timeframe(names, seconds, 1440) == ("1d", 1440)
    assert ohlcv.pick_timeframe(["1h", "4h"], seconds, 15) is None
    with pytest.raises(ohlcv.MalformedReply, match="not \\[ms, open"):
        ohlcv.to_bar("v", SYMBOL, 60 * NS, [0, 1.0, 1.0, None, 1.0, 2.0])
    fake = types.SimpleNamespace(
        market=lambda s: {"type": "swap", "linear": True},
        features={"swap": {"linear": {"fetchOHLCV": {"limit": 1500}}, "inverse": None}},
    )
    assert ohlcv.page_limit(fake, "BTC/USDT:USDT") == 1500
    assert ohlcv.page_limit(types.SimpleNamespace(market=lambda s: {}, features=None), "X") is None


# -- a whole node: VWAP from the venue's bars ---------------------------------------------------


def window_share(start_ns: int, width_ns: int) -> float:
    """The profile's share of ``[start, start + width)`` in ``[start, start + 2·width)``, by the
    written pattern (each day's fractions are the pattern's), uniform within a minute."""
    total = float(sum(pattern(m) for m in range(1440)))

    def volume(a: int, b: int) -> float:
        out, t = 0.0, a
        while t < b:
            end = min(b, (t // (60 * NS) + 1) * 60 * NS)
            out += float(pattern(t // (60 * NS) % 1440)) / total * (end - t) / (60 * NS)
            t = end
        return out

    first = volume(start_ns, start_ns + width_ns)
    return first / (first + volume(start_ns + width_ns, start_ns + 2 * width_ns))


@pytest.fixture
def history(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "history.csv"
    write_bars(path, days_before_today(4))
    yield path


def test_vwap_takes_its_profile_from_the_venue_and_refetches_it_after_a_restart(
    tmp_path, exchanges, nodes, history
):
    exchange = exchanges(MarketSetup(feed=BOOK, klines=BarsFile(history)))
    config = node_config(tmp_path, {"binance": exchange.url})
    node = nodes(config)
    node.ready()
    (connected,) = node.of(VenueConnected)
    assert connected.capabilities.bars

    params = {
        "duration_s": 120,
        "slices": 2,
        "passive_fraction": 0,
        "bars": "venue",
        "bucket_minutes": 1,
        "lookback_days": 3,
        "max_slippage_bps": 100,
    }
    start = node.node.runtime.now()
    node.node.submit(buy("vw", "0.02", algo="vwap", params=params, ts=start))
    first = node.wait(
        lambda m: isinstance(m, SliceCompleted) and m.parent_id == "vw", "the first slice"
    )
    assert first.status == "filled", first
    fetched = exchange.admin.klines_requests()
    # 3 trading days: 10 calendar days of 1-minute bars asked, the file holds the last 4
    midnight = start // (86_400 * NS) * 86_400 * NS
    assert int(fetched[0]["startTime"]) == (midnight - 10 * 86_400 * NS) // 1_000_000
    assert len(fetched) == 6  # 4 x 1440 bars in pages of 1000

    share = window_share(start, 60 * NS)
    assert abs(share - 0.5) > 0.001, "the window splits the profile evenly: it proves nothing"
    expected = (D("0.02") * D(repr(share))).quantize(LOT, ROUND_DOWN)
    slices = [m for m in node.node.journal.messages() if isinstance(m, RouteSlice)]
    (taken,) = [s for s in slices if s.parent_id == "vw"]
    assert abs(taken.quantity - expected) <= LOT, (taken.quantity, expected, share)
    children = [c for c in node.child_orders().values() if c.parent_id == "vw"]
    assert sum(c.quantity for c in children) == taken.quantity  # one IOC, all of it
    progress = [m.state for m in node.of(ParentOrderProgressed) if m.parent_id == "vw"]
    days = days_before_today(3)
    assert f"volume profile from 3 days of binance's bars ({days[0]} to {days[-1]})" in progress

    # A restart: the resumed executor asks for the bars again and rebuilds the same schedule,
    # so the first slice, done, is not taken again.
    node.stop()
    again = nodes(config)
    again.ready()
    again.wait(
        lambda m: (
            isinstance(m, ParentOrderProgressed)
            and m.parent_id == "vw"
            and m.state.startswith("volume profile from 3 days")
        ),
        "the profile rebuilt",
    )
    refetched = exchange.admin.klines_requests()[len(fetched) :]
    assert [r["startTime"] for r in refetched] == [r["startTime"] for r in fetched]
    again.node.runtime.send("execution", CancelParentOrder(parent_id="vw", reason="seen"), "test")
    done = again.wait(
        lambda m: isinstance(m, ParentOrderCompleted) and m.parent_id == "vw", "the cancel"
    )
    assert done.report.filled_quantity == taken.quantity
    slices = [m for m in again.node.journal.messages() if isinstance(m, RouteSlice)]
    assert [s.slice_id for s in slices if s.parent_id == "vw"] == [1]


def test_a_venue_whose_history_fails_or_is_empty_fails_the_parent_before_any_order(
    tmp_path, exchanges, nodes
):
    exchange = exchanges(static_market(bids=[("59990", "5")], asks=[("60010", "5")]))
    node = nodes(node_config(tmp_path, {"binance": exchange.url}))
    node.ready()
    params = {"duration_s": 60, "slices": 2, "bars": "venue", "lookback_days": 2}

    def parent(parent_id: str) -> ParentOrderCompleted:
        return node.route(
            buy(parent_id, "0.01", algo="vwap", params=params, ts=node.node.runtime.now())
        )

    exchange.admin.fail_http(status=500, count=4, path="/api/v3/klines")  # every retry fails
    failed = parent("broken")
    assert failed.status == "failed"
    assert failed.reason.startswith("no volume profile: venue binance cannot serve bars: ")
    assert "OperationFailed" in failed.reason and "-1001" in failed.reason  # Binance's 500
    empty = parent("empty")  # a static book has no history: an empty answer
    assert empty.status == "failed"
    assert empty.reason == (
        "no volume profile: binance's 0 bars: no bars: a volume profile needs history"
    )
    journal = list(node.node.journal.messages())
    assert not [m for m in journal if isinstance(m, RouteSlice | SubmitOrder)]
    # the four failed attempts were answered by the fault before the endpoint: one was served
    assert len(exchange.admin.klines_requests()) == 1
    accepted = {m.parent_id for m in node.of(ParentOrderAccepted)}
    assert accepted == {"broken", "empty"}
    # the answers are not journaled; the requests neither
    assert not [m for m in journal if isinstance(m, FetchBars | BarsFetched)]
