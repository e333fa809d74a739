"""VWAP on the real Binance capture: slices follow the intraday volume profile of the shipped
one-month 1-minute BTC bars (recomputed here from the CSV with plain Python), and the
participation cap holds against the recorded trades."""

from __future__ import annotations

import csv
import itertools
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import ROUND_DOWN

import pytest
from algos_support import BINANCE, LOT, NS, AlgoNode, D, check_report, node_config, traded_volume
from tradenode_algos.volume_profile import BUNDLED_BARS

from node.plugins import load_plugins

CAP = 0.01


def minute_profile(before: date, lookback: int = 20) -> list[float]:
    """Average share of a day's volume per minute over the last complete days before ``before``."""
    days: dict[date, dict[int, float]] = defaultdict(dict)
    with open(BUNDLED_BARS, newline="") as f:
        for row in csv.DictReader(f):
            stamp = datetime.fromisoformat(row["timestamp"])
            days[stamp.date()][stamp.hour * 60 + stamp.minute] = float(row["volume"])
    complete = sorted(d for d, minutes in days.items() if len(minutes) == 1440 and d < before)
    chosen = complete[-lookback:]
    assert len(chosen) == lookback
    shares = [0.0] * 1440
    for d in chosen:
        total = sum(days[d].values())
        for minute, volume in days[d].items():
            shares[minute] += volume / total / lookback
    return shares


def window_volume(shares: list[float], start_ns: int, end_ns: int) -> float:
    """Profile volume in ``[start, end)``, uniform within each minute."""
    minute = 60 * NS
    volume, t = 0.0, start_ns
    while t < end_ns:
        bucket_end = (t // minute + 1) * minute
        part = min(end_ns, bucket_end) - t
        volume += shares[(t // minute) % 1440] * part / minute
        t += part
    return volume


@pytest.fixture(scope="module")
def vwap(tmp_path_factory):
    plugins = load_plugins()
    node = AlgoNode(
        tmp_path_factory.mktemp("vwap"),
        plugins,
        node_config(BINANCE.format(usdt="1000000", btc="20")),
    )
    params = {"duration_s": 480, "slices": 8, "bucket_minutes": 1, "max_participation": CAP}
    node.submit("v", "buy", "3", "vwap", params=params)
    node.run_until_done("v", limit_s=500)
    yield node.view("v")
    node.close()


def test_vwap_slices_follow_the_historical_volume_profile_across_midnight(vwap):
    start = vwap.accepted.ts
    end = start + 480 * NS
    midnight = datetime(2024, 8, 9, tzinfo=UTC).timestamp() * NS
    assert start < midnight < end, "the window crosses midnight"
    shares = minute_profile(date(2024, 8, 8))
    edges = [start + i * 60 * NS for i in range(9)]
    volumes = [window_volume(shares, a, b) for a, b in itertools.pairwise(edges)]
    assert max(volumes) / min(volumes) > 1.2, "the profile is flat here: the test proves nothing"
    total = sum(volumes)
    posts = [s for s in vwap.slices if s.urgency == "post"]
    assert len(posts) >= 6
    for s in posts:
        i = (s.ts - start) // (60 * NS)
        assert s.ts == edges[i]
        share = sum(volumes[: i + 1]) / total
        target = (D(3) * D(repr(share))).quantize(LOT, ROUND_DOWN) if i < 7 else D(3)
        wanted = target - vwap.filled_before(s)
        assert abs(s.quantity - wanted) <= LOT, (i, s.quantity, wanted)


def test_vwap_takes_never_exceed_the_participation_cap(vwap):
    start = vwap.accepted.ts
    takes = [s for s in vwap.slices if s.urgency == "take"]
    assert takes
    capped = 0
    for s in takes:
        allowed = (traded_volume(start, s.ts) * D(repr(CAP))).quantize(LOT, ROUND_DOWN)
        assert vwap.filled_before(s) + s.quantity <= allowed
        progress = [p for p in vwap.progress if p.ts == s.ts]
        if progress and progress[-1].scheduled_quantity > vwap.filled_before(s) + s.quantity:
            capped += 1
    done = vwap.completed
    if done.status != "filled":
        assert "participation cap 0.01" in done.reason
    check_report(vwap, D(3))
    assert capped or done.status == "filled"


def test_the_bundled_bars_ship_with_their_licence_and_provenance():
    folder = BUNDLED_BARS.parent
    assert (folder / "LICENSE").is_file()
    readme = (folder / "README.md").read_text()
    assert BUNDLED_BARS.name in readme and "nautilus_trader" in readme
