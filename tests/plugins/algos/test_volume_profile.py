"""VWAP volume profiles built from the shipped month of 1-minute BTC perpetual bars."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

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


# -- sessions: a day is its unbroken run of buckets, as long as the typical day's -------------

NEW_YORK = ZoneInfo("America/New_York")


def session_bars(
    days: list[date], opens: dict[date, str] | None = None, closes: dict[date, str] | None = None
) -> tuple[Bars, dict[date, dict[int, float]]]:
    """1-minute bars of a 09:30-16:00 New York session on each day (a U-shaped volume that
    differs from day to day), with the given days opening or closing at other times; and the
    volume per UTC minute of the day, per day, for an independent profile."""
    opens, closes = opens or {}, closes or {}
    times: list[int] = []
    volumes: list[float] = []
    per_day: dict[date, dict[int, float]] = {}
    for n, day in enumerate(days):
        start = datetime.fromisoformat(f"{day} {opens.get(day, '09:30')}").replace(tzinfo=NEW_YORK)
        end = datetime.fromisoformat(f"{day} {closes.get(day, '16:00')}").replace(tzinfo=NEW_YORK)
        minute = start
        while minute < end:
            into = (minute - start) // timedelta(minutes=1)
            volume = 50.0 + (into - 195) ** 2 / 100 + 7 * ((n * 31 + into) % 11)
            t = ns(minute.astimezone(UTC).replace(tzinfo=None).isoformat())
            times.append(t)
            volumes.append(volume)
            utc = minute.astimezone(UTC)
            per_day.setdefault(utc.date(), {})[utc.hour * 60 + utc.minute] = volume
            minute += timedelta(minutes=1)
    return Bars(np.array(times, dtype=np.int64), np.array(volumes)), per_day


def weekdays(first: date, last: date, holidays: tuple[date, ...] = ()) -> list[date]:
    out, day = [], first
    while day <= last:
        if day.weekday() < 5 and day not in holidays:
            out.append(day)
        day += timedelta(days=1)
    return out


def test_a_month_of_stock_sessions_across_daylight_saving_time() -> None:
    # 26 Feb - 28 Mar 2024: New York moves to EDT on 10 March (the session is 14:30-21:00 UTC
    # before, 13:30-20:00 after); Good Friday 29 March is a holiday. The download starts at noon
    # on its first day and the 28th is a half-day.
    days = weekdays(date(2024, 2, 26), date(2024, 3, 28))
    first, half = date(2024, 2, 26), date(2024, 3, 28)
    bars, per_day = session_bars(days, opens={first: "12:00"}, closes={half: "13:00"})
    with pytest.raises(ValueError, match="need 23 complete days"):
        VolumeProfile.from_bars(bars, bucket_minutes=15, lookback_days=23)
    profile = VolumeProfile.from_bars(
        bars, bucket_minutes=15, lookback_days=20, before=date(2024, 3, 29)
    )
    complete = [d for d in days if d not in (first, half)]
    assert len(complete) == 22
    assert profile.days == tuple(complete[-20:])
    f = profile.fractions
    session = slice(13 * 4 + 2, 21 * 4)  # 13:30 (EDT open) to 21:00 UTC (EST close)
    assert np.all(f[: session.start] == 0) and np.all(f[session.stop :] == 0)
    assert np.all(f[session] > 0)
    assert f.sum() == pytest.approx(1.0, abs=1e-12)
    # both the EST and the EDT days are in the average: the first and last half hours of the
    # union are traded on some of its days only
    est = [d for d in profile.days if d < date(2024, 3, 10)]
    assert len(est) == 7 and len(profile.days) - len(est) == 13
    shares = []
    for day in profile.days:
        total = sum(per_day[day].values())
        buckets = np.zeros(96)
        for minute, volume in per_day[day].items():
            buckets[minute // 15] += volume / total
        shares.append(buckets)
    np.testing.assert_allclose(f, np.mean(shares, axis=0), rtol=1e-9, atol=1e-15)

    # 1-minute buckets: the session's 390 minutes are the run
    minutes = VolumeProfile.from_bars(
        bars, bucket_minutes=1, lookback_days=20, before=date(2024, 3, 29)
    )
    assert minutes.days == profile.days
    assert np.count_nonzero(minutes.fractions) == 390 + 60  # EST and EDT sessions together


def test_a_session_day_with_a_hole_or_cut_short_is_left_out() -> None:
    days = weekdays(date(2024, 5, 6), date(2024, 5, 17))
    hole, short = date(2024, 5, 9), date(2024, 5, 14)
    bars, _ = session_bars(days, closes={short: "15:00"})
    # take 10:00-10:30 New York (14:00-14:30 UTC, two 15-minute buckets) out of one day
    cut_from, cut_to = ns("2024-05-09 14:00"), ns("2024-05-09 14:30")
    keep = (bars.ts_ns < cut_from) | (bars.ts_ns >= cut_to)
    bars = Bars(bars.ts_ns[keep], bars.volume[keep])
    profile = VolumeProfile.from_bars(bars, bucket_minutes=15, lookback_days=8)
    assert profile.days == tuple(d for d in days if d not in (hole, short))


def test_a_session_across_midnight_utc_is_one_run() -> None:
    # 22:00-02:00 UTC every night from the 1st to the 10th: each UTC day between holds the tail
    # of one session and the head of the next, which join around midnight
    times = []
    for night in range(1, 11):
        start = ns(f"2024-07-{night:02d} 22:00")
        times.extend(start + i * MINUTE_NS for i in range(240))
    ts = np.array(times, dtype=np.int64)
    volume = 1.0 + (ts // MINUTE_NS % 240).astype(np.float64)
    profile = VolumeProfile.from_bars(Bars(ts, volume), bucket_minutes=60, lookback_days=9)
    assert profile.days == tuple(date(2024, 7, d) for d in range(2, 11))
    assert set(np.flatnonzero(profile.fractions)) == {0, 1, 22, 23}
    with pytest.raises(ValueError, match="need 10 complete days"):  # the 1st and 11th are partial
        VolumeProfile.from_bars(Bars(ts, volume), bucket_minutes=60, lookback_days=10)


@pytest.mark.parametrize("minutes", [1, 15, 60])
def test_crypto_days_are_what_they_were_every_bucket_traded(bars: Bars, minutes: int) -> None:
    """For 24-hour markets the rule is the old one: a day counts when every bucket has a bar."""
    buckets = 1440 // minutes
    day = bars.ts_ns // DAY_NS
    bucket = bars.ts_ns % DAY_NS // (minutes * MINUTE_NS)
    seen: dict[int, set[int]] = defaultdict(set)
    for d, b in zip(day.tolist(), bucket.tolist(), strict=True):
        seen[d].add(b)
    full = [date(1970, 1, 1) + timedelta(days=d) for d in sorted(seen) if len(seen[d]) == buckets]
    for before in (date(2022, 1, 10), date(2022, 1, 25), None):
        allowed = [d for d in full if before is None or d < before]
        profile = VolumeProfile.from_bars(
            bars, bucket_minutes=minutes, lookback_days=len(allowed), before=before
        )
        assert profile.days == tuple(allowed)
        assert np.all(profile.fractions > 0)
