"""VWAP with ``bars = "venue"`` on the replay runtime: the executor asks the venue for its OHLCV
history (``FetchBars``) and slices only once the answer has built the profile.

The venue is the simulated one replaying the real Binance capture; a test subclass of it serves
bars (the shipped month of 1-minute BTC bars, moved by whole days to end the day before the
capture), so the expected profile is recomputed here from the CSV with plain Python. The plain
simulated venue cannot serve bars: a parent that needs them fails before sending anything, or
slices evenly when told to fall back to TWAP."""

from __future__ import annotations

import csv
import itertools
from datetime import UTC, date, datetime
from decimal import ROUND_DOWN
from typing import Any, ClassVar

import msgspec
import pytest
from algos_support import BINANCE, LOT, NS, AlgoNode, D, check_report, node_config
from test_vwap import minute_profile, window_volume
from tradenode_algos.volume_profile import BUNDLED_BARS
from tradenode_algos.vwap import VwapExecutor, VwapParams
from tradenode_sim.config import SimVenueConfig
from tradenode_sim.venue import SimVenue

from node.messages import (
    Bar,
    ComponentRestarted,
    FetchBars,
    ParentOrderRejected,
    RouteSlice,
    SubmitOrder,
)
from node.plugins import load_plugins

DAY_NS = 86_400 * NS
#: the shipped file's last whole day (31 Jan 2022) lands on the day before the capture starts
SHIFT = date(2024, 8, 7) - date(2022, 1, 31)
CAPTURE_DAY = datetime(2024, 8, 8, tzinfo=UTC)


def _shifted_rows() -> list[tuple[int, list[str]]]:
    rows = []
    with open(BUNDLED_BARS, newline="") as f:
        for row in csv.DictReader(f):
            stamp = datetime.fromisoformat(row["timestamp"]).replace(tzinfo=UTC) + SHIFT
            ts = int(stamp.timestamp()) * NS
            rows.append((ts, [row[k] for k in ("open", "high", "low", "close", "volume")]))
    return rows


class BarsSim(SimVenue):
    """The simulated venue, serving the shipped bars (moved by ``SHIFT``) as its history."""

    capabilities = msgspec.structs.replace(SimVenue.capabilities, bars=True)
    requests: ClassVar[list[FetchBars]] = []
    silent: ClassVar[bool] = False
    _rows: ClassVar[list[tuple[int, list[str]]]] = []

    def fetch_bars(self, request: FetchBars) -> None:
        BarsSim.requests.append(request)
        if BarsSim.silent:
            return
        if not BarsSim._rows:
            BarsSim._rows = _shifted_rows()
        bars = [
            Bar(
                venue=self.venue,
                symbol=request.symbol,
                interval_ns=60 * NS,
                open=D(o),
                high=D(h),
                low=D(low),
                close=D(c),
                volume=D(v),
                ts=ts,
            )
            for ts, (o, h, low, c, v) in BarsSim._rows
            if request.since_ns <= ts < request.until_ns
        ]
        self.bars_fetched(request, bars, timeframe_minutes=1)


class _CrashOnce(VwapExecutor):
    """Fails once, in the timer that starts its third slice."""

    crashed = False

    def on_algo_timer(self, name: str, payload: Any) -> None:
        if name == "slice.start" and payload == 2 and not _CrashOnce.crashed:
            _CrashOnce.crashed = True
            raise RuntimeError("injected fault")
        super().on_algo_timer(name, payload)


@pytest.fixture(scope="module")
def plugins():
    plugins = load_plugins()
    plugins.venues.add("sim-bars", BarsSim, SimVenueConfig)
    plugins.algos.add("vwap-crash", _CrashOnce, VwapParams)
    return plugins


@pytest.fixture(autouse=True)
def fresh_venue_records():
    BarsSim.requests.clear()
    BarsSim.silent = False
    yield


def serving(venues: str = BINANCE) -> str:
    return node_config(venues.format(usdt="1000000", btc="20").replace('"sim"', '"sim-bars"'))


def plain() -> str:
    return node_config(BINANCE.format(usdt="1000000", btc="20"))


def expected_request(accepted_ts: int) -> tuple[int, int]:
    until = int(CAPTURE_DAY.timestamp()) * NS
    assert accepted_ts // DAY_NS * DAY_NS == until, "the parent starts on the capture's day"
    return until - 33 * DAY_NS, until  # 20 trading days: 28 calendar days, and 5 spare


def check_follows_the_profile(view: Any, quantity: str, duration_s: int, slices: int) -> None:
    """Every passive slice asks what the profile of the venue's bars wants by its end."""
    start = view.accepted.ts
    width = duration_s // slices * NS
    shares = minute_profile(date(2022, 2, 1))  # the venue's last 20 days, back in 2022
    edges = [start + i * width for i in range(slices + 1)]
    volumes = [window_volume(shares, a, b) for a, b in itertools.pairwise(edges)]
    assert max(volumes) / min(volumes) > 1.2, "the profile is flat here: the test proves nothing"
    total = sum(volumes)
    posts = [s for s in view.slices if s.urgency == "post"]
    assert len(posts) >= slices - 2
    for s in posts:
        i = (s.ts - start) // width
        share = sum(volumes[: i + 1]) / total
        target = (D(quantity) * D(repr(share))).quantize(LOT, ROUND_DOWN)
        if i == slices - 1:
            target = D(quantity)
        wanted = target - view.filled_before(s)
        assert abs(s.quantity - wanted) <= LOT, (i, s.quantity, wanted)


def test_vwap_slices_by_the_profile_of_the_venues_bars(tmp_path, plugins):
    node = AlgoNode(tmp_path, plugins, serving())
    try:
        params = {"duration_s": 480, "slices": 8, "bucket_minutes": 1, "bars": "venue"}
        node.submit("v", "buy", "3", "vwap", params=params)
        node.run_until_done("v", limit_s=500)
        view = node.view("v")
    finally:
        node.close()
    (request,) = BarsSim.requests
    since, until = expected_request(view.accepted.ts)
    assert (request.venue, request.symbol, request.timeframe_minutes) == ("binance", "BTC/USDT", 1)
    assert (request.since_ns, request.until_ns, request.reply_to) == (since, until, "exec.v")
    states = [p.state for p in view.progress]
    assert "fetching 20 days of bars from binance" in states
    assert "volume profile from 20 days of binance's bars (2024-07-19 to 2024-08-07)" in states
    check_follows_the_profile(view, "3", 480, 8)
    assert view.completed.status in ("filled", "partially_filled")
    check_report(view, D(3))


def test_a_venue_that_cannot_serve_bars_fails_the_parent_before_any_order(tmp_path, plugins):
    node = AlgoNode(tmp_path, plugins, plain())
    try:
        node.submit(
            "v", "buy", "1", "vwap", params={"duration_s": 60, "slices": 4, "bars": "venue"}
        )
        done = node.run_until_done("v", limit_s=10)
        view = node.view("v")
        sent = [m for m in node.node.journal.messages() if isinstance(m, SubmitOrder | RouteSlice)]
    finally:
        node.close()
    assert done.status == "failed"
    assert done.reason == "no volume profile: venue binance cannot serve bars"
    assert sent == [] and view.fills == []
    assert done.ts == view.accepted.ts  # at once: the simulated venue answers on the spot


def test_fallback_twap_slices_evenly_and_says_why(tmp_path, plugins):
    node = AlgoNode(tmp_path, plugins, plain())
    try:
        params = {"duration_s": 60, "slices": 4, "bars": "venue", "fallback": "twap"}
        node.submit("v", "buy", "1", "vwap", params=params)
        done = node.run_until_done("v", limit_s=90)
        view = node.view("v")
    finally:
        node.close()
    assert any(
        p.state == "no volume profile (venue binance cannot serve bars): slicing evenly, as TWAP"
        for p in view.progress
    )
    start = view.accepted.ts
    posts = [s for s in view.slices if s.urgency == "post"]
    assert posts and all((s.ts - start) % (15 * NS) == 0 for s in posts)
    for s in posts:  # TWAP's targets: a quarter per slice
        i = (s.ts - start) // (15 * NS)
        assert s.quantity == D("0.25") * (i + 1) - view.filled_before(s)
    assert done.status in ("filled", "partially_filled")


def test_no_answer_within_the_timeout_fails_the_parent(tmp_path, plugins):
    BarsSim.silent = True
    node = AlgoNode(tmp_path, plugins, serving())
    try:
        params = {"duration_s": 60, "slices": 4, "bars": "venue", "bars_timeout_s": 5}
        node.submit("v", "buy", "1", "vwap", params=params)
        done = node.run_until_done("v", limit_s=30)
        view = node.view("v")
    finally:
        node.close()
    assert done.status == "failed"
    assert done.reason == "no volume profile: venue binance did not answer for bars within 5 s"
    assert done.ts - view.accepted.ts == 5 * NS
    assert view.slices == [] and len(BarsSim.requests) == 1


def test_too_little_history_or_no_such_venue_is_a_clear_failure(tmp_path, plugins):
    node = AlgoNode(tmp_path, plugins, serving())
    try:
        base = {"duration_s": 60, "slices": 4, "bars": "venue"}
        node.submit("long", "buy", "1", "vwap", params={**base, "lookback_days": 40})
        node.submit("nope", "buy", "1", "vwap", params={**base, "bars_venue": "nope"})
        wrong = {**base, "bars": "bundled", "bars_venue": "binance"}
        node.submit("file", "buy", "1", "vwap", params=wrong)
        long, nope = (node.run_until_done(p, limit_s=10) for p in ("long", "nope"))
        node.run_for(1)
        (refused,) = node.rows("file", ParentOrderRejected)
        sent = [m for m in node.node.journal.messages() if isinstance(m, RouteSlice)]
    finally:
        node.close()
    assert long.status == "failed"
    assert long.reason.startswith("no volume profile: binance's ")
    assert "need 40 complete days of 15-minute buckets before 2024-08-08, the bars hold 31" in (
        long.reason
    )
    assert nope.reason == "no volume profile: no venue named 'nope' (known: binance)"
    assert 'bars_venue goes with bars = "venue"' in refused.reason
    assert sent == []
    (request,) = BarsSim.requests  # "nope" asked nobody
    assert request.since_ns == int(CAPTURE_DAY.timestamp()) * NS - (56 + 5) * DAY_NS


def test_the_first_venue_that_serves_bars_is_asked(tmp_path, plugins):
    venues = BINANCE.replace('"sim"', '"sim-bars"') + BINANCE.replace(
        "[venues.binance]", "[venues.alpha]"
    )
    node = AlgoNode(tmp_path, plugins, node_config(venues.format(usdt="1000000", btc="20")))
    try:
        params = {"duration_s": 60, "slices": 2, "bars": "venue"}
        node.submit("v", "buy", "0.5", "vwap", params=params)
        node.submit("w", "buy", "0.5", "vwap", params=params, venues=["alpha"])
        v, w = (node.run_until_done(p, limit_s=90) for p in ("v", "w"))
    finally:
        node.close()
    # "alpha" comes first by name but cannot serve bars: "binance" is asked for "v" ...
    assert [(r.venue, r.reply_to) for r in BarsSim.requests] == [("binance", "exec.v")]
    assert v.status in ("filled", "partially_filled")
    # ... while "w" may use "alpha" only, which is asked, and says it cannot
    assert w.reason == "no volume profile: venue alpha cannot serve bars"


def test_a_rebuilt_executor_fetches_again_and_keeps_the_schedule(tmp_path, plugins):
    node = AlgoNode(tmp_path, plugins, serving())
    try:
        params = {"duration_s": 480, "slices": 8, "bucket_minutes": 1, "bars": "venue"}
        node.submit("r", "buy", "3", "vwap-crash", params=params)
        node.run_until_done("r", limit_s=500)
        view = node.view("r")
        restarted = [m for m in node.node.journal.messages() if isinstance(m, ComponentRestarted)]
    finally:
        node.close()
    assert _CrashOnce.crashed and [m.component for m in restarted] == ["exec.r"]
    first, again = BarsSim.requests
    assert (again.since_ns, again.until_ns) == (first.since_ns, first.until_ns)
    assert again.ts > first.ts  # asked again by the rebuilt executor, after the failure
    check_follows_the_profile(view, "3", 480, 8)
    check_report(view, D(3))
