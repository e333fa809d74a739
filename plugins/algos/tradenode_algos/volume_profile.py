"""Intraday volume profiles for VWAP: how a parent order's size is spread over a window.

A profile is the average share of a UTC day's volume traded in each time-of-day bucket, taken
over the latest complete days of history: a crypto market's whole 24 hours, a stock's session
(buckets outside every session get no volume). VWAP slices a window into child orders; each
slice gets the profile's volume in it (buckets cut partially count pro rata to the time
covered), so the child orders follow the market's usual rhythm, across midnight too.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

#: One month (2021-12-31 → 2022-02-01) of 1-minute BTC perpetual bars shipped with the plugin.
BUNDLED_BARS = Path(__file__).parent / "data" / "btc-perp-20211231-20220201_1m.csv"

MINUTE_NS = 60_000_000_000
DAY_NS = 1440 * MINUTE_NS
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _BarLike(Protocol):
    @property
    def ts(self) -> int: ...
    @property
    def volume(self) -> Decimal: ...


def _iso(ts_ns: int) -> str:
    return (_EPOCH + timedelta(microseconds=ts_ns // 1000)).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Bars:
    """Bar open times (ns since the epoch, UTC, strictly increasing) and the volume of each."""

    ts_ns: NDArray[np.int64]
    volume: NDArray[np.float64] = field(repr=False)

    def __post_init__(self) -> None:
        ts = np.asarray(self.ts_ns, dtype=np.int64)
        volume = np.asarray(self.volume, dtype=np.float64)
        if ts.ndim != 1 or ts.shape != volume.shape:
            raise ValueError(
                f"bars need as many volumes as times, got {ts.shape} and {volume.shape}"
            )
        if ts.size > 1:
            bad = np.flatnonzero(np.diff(ts) <= 0)
            if bad.size:
                i = int(bad[0]) + 1
                raise ValueError(
                    f"bar times must increase strictly: bar {i} at {_iso(int(ts[i]))} follows "
                    f"{_iso(int(ts[i - 1]))}"
                )
        bad = np.flatnonzero(~np.isfinite(volume) | (volume < 0))
        if bad.size:
            i = int(bad[0])
            raise ValueError(f"bar {i} at {_iso(int(ts[i]))} has volume {float(volume[i])!r}")
        for array in (ts, volume):
            array.setflags(write=False)
        object.__setattr__(self, "ts_ns", ts)
        object.__setattr__(self, "volume", volume)


def load_bars_csv(path: str | Path = BUNDLED_BARS) -> Bars:
    """Bars from a CSV with ``timestamp`` (ISO 8601, UTC when no zone) and ``volume`` columns."""
    times: list[int] = []
    volumes: list[float] = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"timestamp", "volume"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: no column {', '.join(sorted(missing))} in the header")
        for row in reader:
            try:
                stamp = datetime.fromisoformat(row["timestamp"])
                volume = float(row["volume"])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{path}, line {reader.line_num}: {exc}") from None
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=UTC)
            times.append((stamp - _EPOCH) // timedelta(microseconds=1) * 1000)
            volumes.append(volume)
    return Bars(np.array(times, dtype=np.int64), np.array(volumes, dtype=np.float64))


def bars_from_messages(bars: Iterable[_BarLike]) -> Bars:
    """Bars from the node's ``Bar`` messages (a venue's ``BarsFetched``): ``ts`` is the open
    time; volumes become floats (the profile is a shape, not an amount)."""
    times: list[int] = []
    volumes: list[float] = []
    for bar in bars:
        times.append(bar.ts)
        volumes.append(float(bar.volume))
    return Bars(np.array(times, dtype=np.int64), np.array(volumes, dtype=np.float64))


def bars_from_ohlcv(rows: Iterable[Sequence[float | int | None]]) -> Bars:
    """Bars from ccxt's ``fetch_ohlcv`` rows ``[ms, open, high, low, close, volume]``."""
    times: list[int] = []
    volumes: list[float] = []
    for i, row in enumerate(rows):
        if len(row) < 6 or row[0] is None or row[5] is None:
            raise ValueError(f"OHLCV row {i} is not [ms, open, high, low, close, volume]: {row!r}")
        times.append(int(row[0]) * 1_000_000)
        volumes.append(float(row[5]))
    return Bars(np.array(times, dtype=np.int64), np.array(volumes, dtype=np.float64))


def _bucket_count(minutes: int) -> int:
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1:
        raise ValueError(f"bucket_minutes must be a positive integer, got {minutes!r}")
    if 1440 % minutes:
        raise ValueError(f"bucket_minutes must divide a day (1440 minutes), got {minutes}")
    return 1440 // minutes


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


@dataclass(frozen=True, slots=True)
class VolumeProfile:
    """Average fraction of a UTC day's volume per time-of-day bucket (``fractions`` sum to 1;
    0 in the buckets outside a stock's sessions).

    ``fractions[i]`` covers ``[i·bucket_minutes, (i+1)·bucket_minutes)`` minutes after
    midnight UTC; ``days`` are the days it averages (empty when built from fractions directly).
    """

    bucket_minutes: int
    fractions: NDArray[np.float64] = field(repr=False)
    days: tuple[date, ...] = ()

    def __post_init__(self) -> None:
        buckets = _bucket_count(self.bucket_minutes)
        fractions = np.array(self.fractions, dtype=np.float64)
        if fractions.shape != (buckets,):
            raise ValueError(
                f"{self.bucket_minutes}-minute buckets need {buckets} fractions, "
                f"got shape {fractions.shape}"
            )
        if not np.isfinite(fractions).all() or (fractions < 0).any():
            raise ValueError("fractions must be finite and >= 0")
        if not math.isclose(fractions.sum(), 1.0, rel_tol=0, abs_tol=1e-9):
            raise ValueError(f"fractions must sum to 1, got {fractions.sum()!r}")
        fractions.setflags(write=False)
        object.__setattr__(self, "fractions", fractions)

    @classmethod
    def from_bars(
        cls,
        bars: Bars,
        *,
        bucket_minutes: int = 15,
        lookback_days: int = 20,
        before: date | None = None,
    ) -> VolumeProfile:
        """Average the latest ``lookback_days`` complete days strictly before ``before``.

        Each day counts once, whatever its total (its own fractions are averaged), so one
        frantic day does not set the shape. A day is complete when its bars fill one unbroken
        run of buckets (no empty bucket inside it; the run may wrap around midnight UTC, as a
        session that crosses it does) at least as long as the typical day's — the median number
        of buckets with a bar over the days with bars before ``before`` — and it has volume.
        Crypto's days are then its full 24 hours and a stock's its session (a UTC day holds a
        U.S. session whatever the daylight-saving time), while partial first and last days of a
        download, half-days and days with a hole are left out. Buckets no counted day trades in
        get fraction 0. ``before=None`` allows every day of ``bars``.
        """
        buckets = _bucket_count(bucket_minutes)
        lookback = _positive_int("lookback_days", lookback_days)
        if bars.ts_ns.size == 0:
            raise ValueError("no bars: a volume profile needs history")
        day = bars.ts_ns // DAY_NS
        bucket = (bars.ts_ns - day * DAY_NS) // (bucket_minutes * MINUTE_NS)
        first = int(day[0])
        cell = (day - first) * buckets + bucket
        size = (int(day[-1]) - first + 1) * buckets
        counts = np.bincount(cell, minlength=size).reshape(-1, buckets)
        volume = np.bincount(cell, weights=bars.volume, minlength=size).reshape(-1, buckets)
        totals = volume.sum(axis=1)
        traded = counts > 0
        filled = traded.sum(axis=1)
        # Runs of buckets with bars, going round the day: a bucket with a bar whose (circular)
        # predecessor has none starts one. A full day has no start, and is one run all the same.
        starts = (traded & ~np.roll(traded, 1, axis=1)).sum(axis=1)
        unbroken = (starts == 1) | (filled == buckets)
        in_range = filled > 0
        if before is not None:
            limit = (datetime(before.year, before.month, before.day, tzinfo=UTC) - _EPOCH).days
            in_range[max(0, limit - first) :] = False
        typical = float(np.median(filled[in_range])) if in_range.any() else math.inf
        usable = in_range & unbroken & (filled >= typical) & (totals > 0)
        rows = np.flatnonzero(usable)[-lookback:]
        if rows.size < lookback:
            until = f" before {before.isoformat()}" if before is not None else ""
            raise ValueError(
                f"need {lookback} complete days of {bucket_minutes}-minute buckets{until}, "
                f"the bars hold {rows.size} (a day is complete when its bars fill one unbroken "
                "run of buckets as long as the typical day's, and it has volume)"
            )
        daily = volume[rows] / totals[rows, None]
        fractions = daily.mean(axis=0)
        days = tuple(date(1970, 1, 1) + timedelta(days=first + int(r)) for r in rows)
        return cls(bucket_minutes, fractions / fractions.sum(), days)

    def weights(self, start_ns: int, end_ns: int, slices: int) -> NDArray[np.float64]:
        """The fraction of the parent order for each of ``slices`` equal slices of the window.

        The window ``[start_ns, end_ns)`` may start and end inside buckets and cross midnight;
        within a bucket, volume is taken as uniform in time. Slice edges are whole nanoseconds
        (slices may differ by 1 ns). The fractions sum to 1.
        """
        for name, value in (("start_ns", start_ns), ("end_ns", end_ns)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"{name} must be an integer (ns since the epoch), got {value!r}")
        start, end = int(start_ns), int(end_ns)
        count = _positive_int("slices", slices)
        if end <= start:
            raise ValueError(f"the window must end after it starts: {_iso(start)} → {_iso(end)}")
        span = end - start
        edges = [start + span * i // count for i in range(count + 1)]
        volumes = np.array([self._volume(a, b) for a, b in itertools.pairwise(edges)])
        total = volumes.sum()
        if total <= 0:
            raise ValueError(f"the profile has no volume between {_iso(start)} and {_iso(end)}")
        return volumes / total

    def _volume(self, start: int, end: int) -> float:
        """Profile volume (in days of volume) in ``[start, end)``, summed bucket by bucket.

        Summing the covered buckets, rather than differencing a running total, keeps a short
        window's share exact: no cancellation against the volume since midnight.
        """
        width = self.bucket_minutes * MINUTE_NS
        n = len(self.fractions)
        first, offset_first = divmod(start, width)  # global bucket numbers: days × n + bucket
        last, offset_last = divmod(end, width)
        f = self.fractions
        if first == last:
            return float(f[first % n] * ((offset_last - offset_first) / width))
        volume = f[first % n] * ((width - offset_first) / width) + f[last % n] * (
            offset_last / width
        )
        whole_days, remainder = divmod(last - first - 1, n)
        lead = (first + 1) % n
        around = np.concatenate((f, f))[lead : lead + remainder]
        return float(volume + whole_days + around.sum())
