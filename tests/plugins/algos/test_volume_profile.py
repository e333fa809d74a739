"""VWAP volume profiles built from the shipped month of 1-minute BTC perpetual bars."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from tradenode_algos.volume_profile import (
    BUNDLED_BARS,
    DAY_NS,
    MINUTE_NS,
    Bars,
    VolumeProfile,
    bars_from_ohlcv,
    load_bars_csv,
)


@pytest.fixture(scope="module")
def bars() -> Bars:
    return load_bars_csv()


def ns(text: str) -> int:
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


def test_the_shipped_file_loads_whole(bars: Bars) -> None:
    assert bars.ts_ns.size == 45_031
    assert bars.ts_ns[0] == ns("2021-12-31 23:01")
    assert bars.ts_ns[-1] == ns("2022-02-01 05:31")
    assert np.all(np.diff(bars.ts_ns) == MINUTE_NS)
    assert bars.volume[0] == 2300413.7295


def independent_profile(minutes: int, days: list[date]) -> np.ndarray:
    """Straight from the CSV text with dicts: per day, bucket volume / day volume, averaged."""
    per_day: dict[date, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    with open(BUNDLED_BARS, newline="") as f:
        for row in csv.DictReader(f):
            stamp = datetime.fromisoformat(row["timestamp"])
            bucket = (stamp.hour * 60 + stamp.minute) // minutes
            per_day[stamp.date()][bucket] += float(row["volume"])
    buckets = 1440 // minutes
    shares = []
    for day in days:
        total = sum(per_day[day].values())
        shares.append([per_day[day][b] / total for b in range(buckets)])
    return np.mean(shares, axis=0)


@pytest.mark.parametrize("minutes", [5, 15, 30])
def test_lookback_selects_the_latest_days_before_the_date(bars: Bars, minutes: int) -> None:
    profile = VolumeProfile.from_bars(
        bars, bucket_minutes=minutes, lookback_days=5, before=date(2022, 1, 20)
    )
    expected_days = [date(2022, 1, d) for d in range(15, 20)]
    assert profile.days == tuple(expected_days)
    assert profile.fractions.shape == (1440 // minutes,)
    assert profile.fractions.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(
        profile.fractions, independent_profile(minutes, expected_days), rtol=1e-9
    )


def test_partial_first_and_last_days_are_left_out(bars: Bars) -> None:
    everything = VolumeProfile.from_bars(bars, bucket_minutes=60, lookback_days=31)
    assert everything.days == tuple(date(2022, 1, d) for d in range(1, 32))
    first = VolumeProfile.from_bars(bars, lookback_days=1, before=date(2022, 1, 2))
    assert first.days == (date(2022, 1, 1),)


def test_short_history_is_a_clear_error(bars: Bars) -> None:
    with pytest.raises(ValueError, match=r"^need 2 complete days .* before 2022-01-02, .* hold 1 "):
        VolumeProfile.from_bars(bars, lookback_days=2, before=date(2022, 1, 2))
    with pytest.raises(ValueError, match=r"need 32 complete days .* hold 31 "):
        VolumeProfile.from_bars(bars, lookback_days=32)
    with pytest.raises(ValueError, match=r"hold 0 "):
        VolumeProfile.from_bars(bars, lookback_days=1, before=date(2021, 6, 1))


def test_empty_history_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"^no bars: a volume profile needs history$"):
        VolumeProfile.from_bars(bars_from_ohlcv([]))


@pytest.fixture(scope="module")
def profile(bars: Bars) -> VolumeProfile:
    return VolumeProfile.from_bars(bars, bucket_minutes=15, lookback_days=20)


def test_a_whole_day_window_reproduces_the_bucket_weights(profile: VolumeProfile) -> None:
    midnight = ns("2022-02-10 00:00")
    weights = profile.weights(midnight, midnight + DAY_NS, 96)
    np.testing.assert_allclose(weights, profile.fractions, rtol=1e-12, atol=1e-15)


def test_a_day_from_any_bucket_edge_is_the_rotated_profile(profile: VolumeProfile) -> None:
    start = ns("2022-02-10 13:45")  # bucket 55; the window crosses midnight
    weights = profile.weights(start, start + DAY_NS, 96)
    np.testing.assert_allclose(weights, np.roll(profile.fractions, -55), rtol=1e-12, atol=1e-15)


def test_a_window_inside_one_bucket_is_uniform(profile: VolumeProfile) -> None:
    start = ns("2022-02-10 14:16")  # the bucket is [14:15, 14:30); slices of 2 minutes exactly
    weights = profile.weights(start, start + 14 * MINUTE_NS, 7)
    np.testing.assert_allclose(weights, np.full(7, 1 / 7), rtol=1e-14)


def test_partial_buckets_across_midnight_count_pro_rata(profile: VolumeProfile) -> None:
    f = profile.fractions
    start = ns("2022-02-10 23:50")  # 10 of bucket 95's 15 minutes, then 20 minutes of the next day
    weights = profile.weights(start, start + 30 * MINUTE_NS, 2)
    first = f[95] * 10 / 15 + f[0] * 5 / 15
    second = f[0] * 10 / 15 + f[1] * 5 / 15
    np.testing.assert_allclose(weights, np.array([first, second]) / (first + second), rtol=1e-12)


def test_weights_always_sum_to_one(profile: VolumeProfile) -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        start = int(ns("2022-02-10 00:00") + rng.integers(0, 3 * DAY_NS))
        span = int(rng.integers(1, 2 * DAY_NS))
        weights = profile.weights(start, start + span, int(rng.integers(1, 50)))
        assert weights.sum() == pytest.approx(1.0, abs=1e-12)
        assert np.all(weights >= 0)


def test_ccxt_rows_give_the_same_profile(bars: Bars) -> None:
    rows = [
        [int(t // 1_000_000), 1.0, 1.0, 1.0, 1.0, float(v)]
        for t, v in zip(bars.ts_ns, bars.volume, strict=True)
    ]
    from_ccxt = VolumeProfile.from_bars(bars_from_ohlcv(rows), lookback_days=10)
    from_csv = VolumeProfile.from_bars(bars, lookback_days=10)
    assert from_ccxt.days == from_csv.days
    np.testing.assert_array_equal(from_ccxt.fractions, from_csv.fractions)


def test_bad_inputs_are_named(profile: VolumeProfile) -> None:
    with pytest.raises(ValueError, match=r"^OHLCV row 1 is not \[ms, open"):
        bars_from_ohlcv([[0, 1, 1, 1, 1, 5.0], [60_000, 1, 1, 1, 1, None]])
    with pytest.raises(ValueError, match=r"^bar times must increase strictly: bar 1 at "):
        bars_from_ohlcv([[60_000, 1, 1, 1, 1, 5.0], [0, 1, 1, 1, 1, 5.0]])
    with pytest.raises(ValueError, match=r"^bar 0 at 1970-01-01T00:00:00Z has volume -1.0$"):
        bars_from_ohlcv([[0, 1, 1, 1, 1, -1.0]])
    with pytest.raises(ValueError, match=r"^bucket_minutes must divide a day"):
        VolumeProfile.from_bars(load_bars_csv(), bucket_minutes=7)
    with pytest.raises(ValueError, match=r"^the window must end after it starts"):
        profile.weights(10, 10, 3)
    with pytest.raises(ValueError, match=r"^slices must be a positive integer, got 0$"):
        profile.weights(0, DAY_NS, 0)


def test_malformed_csv_is_named(tmp_path: Path) -> None:
    no_volume = tmp_path / "no_volume.csv"
    no_volume.write_text("timestamp,open,high,low,close\n2022-01-01 00:00:00,1,1,1,1\n")
    with pytest.raises(ValueError, match=r"no_volume.csv: no column volume in the header$"):
        load_bars_csv(no_volume)
    bad_time = tmp_path / "bad_time.csv"
    bad_time.write_text("timestamp,volume\n2022-01-01 00:00:00,5\nyesterday,6\n")
    with pytest.raises(ValueError, match=r"bad_time.csv, line 3: Invalid isoformat string"):
        load_bars_csv(bad_time)


def test_a_window_with_no_profile_volume_is_an_error() -> None:
    fractions = np.zeros(24)
    fractions[14:21] = 1 / 7  # only 14:00-21:00 UTC trades, like a cash equity session
    session = VolumeProfile(60, fractions)
    night = ns("2022-03-01 22:00")
    with pytest.raises(ValueError, match=r"^the profile has no volume between "):
        session.weights(night, night + 6 * 3_600_000_000_000, 4)
    weights = session.weights(night - 2 * 3_600_000_000_000, night + 3_600_000_000_000, 3)
    np.testing.assert_allclose(weights, [1.0, 0.0, 0.0])
