"""Aggregates history over Polygon's REST API: bars for a volume profile (VWAP's schedule).

``ohlcv`` answers with ``[ms, open, high, low, close, volume]`` rows, oldest first: the shape
``tradenode_algos.volume_profile.bars_from_ohlcv`` reads (that of ccxt's ``fetch_ohlcv``), for
the last trading days before a date; ``ohlcv_between`` with the same rows for a time range (the
venue's answer to ``FetchBars``).
massive's client pages through ``next_url`` itself; it retries rate limits and server errors
(then raises urllib3's ``MaxRetryError``).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from node.config import Secret, secret
from tradenode_polygon.config import PolygonConfig

NEW_YORK = ZoneInfo("America/New_York")
#: calendar days fetched per trading day asked for: weekends and holidays, with room to spare
_CALENDAR_PER_TRADING_DAY = 1.6
_SPARE_DAYS = 7

Row = list[float | int]


class AggregatesHistory:
    """Polygon's aggregates for one API key."""

    def __init__(self, api_key: Secret, rest_url: str) -> None:
        from massive import RESTClient

        self.client = RESTClient(api_key=api_key.reveal(), base=rest_url)

    @classmethod
    def from_config(cls, config: PolygonConfig) -> AggregatesHistory:
        return cls(secret(config.api_key_env), config.rest_url)

    def __repr__(self) -> str:
        return "AggregatesHistory()"

    def ohlcv(
        self,
        symbol: str,
        *,
        bucket_minutes: int = 1,
        lookback_days: int = 20,
        before: date | None = None,
    ) -> list[Row]:
        """``bucket_minutes`` bars of the last ``lookback_days`` trading days (days with bars)
        strictly before ``before`` (New York dates; default today), oldest first."""
        if bucket_minutes < 1 or lookback_days < 1:
            raise ValueError("bucket_minutes and lookback_days must be >= 1")
        until = before or datetime.now(NEW_YORK).date()
        span = int(lookback_days * _CALENDAR_PER_TRADING_DAY) + _SPARE_DAYS
        start, end = until - timedelta(days=span), until - timedelta(days=1)
        bars: list[Any] = list(
            self.client.list_aggs(
                symbol,
                bucket_minutes,
                "minute",
                start.isoformat(),
                end.isoformat(),
                adjusted=True,
                sort="asc",
                limit=50_000,
            )
        )
        days = sorted({_day(bar.timestamp) for bar in bars})[-lookback_days:]
        kept = set(days)
        return [
            [bar.timestamp, bar.open, bar.high, bar.low, bar.close, bar.volume]
            for bar in bars
            if _day(bar.timestamp) in kept
        ]

    def ohlcv_between(
        self, symbol: str, *, bucket_minutes: int, since_ms: int, until_ms: int
    ) -> list[Row]:
        """``bucket_minutes`` bars opening in ``[since_ms, until_ms)``, oldest first."""
        if bucket_minutes < 1:
            raise ValueError("bucket_minutes must be >= 1")
        if until_ms <= since_ms:
            return []
        bars: list[Any] = list(
            self.client.list_aggs(
                symbol,
                bucket_minutes,
                "minute",
                since_ms,
                until_ms - 1,
                adjusted=True,
                sort="asc",
                limit=50_000,
            )
        )
        return [
            [bar.timestamp, bar.open, bar.high, bar.low, bar.close, bar.volume]
            for bar in bars
            if since_ms <= bar.timestamp < until_ms
        ]


def _day(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, NEW_YORK).date()
