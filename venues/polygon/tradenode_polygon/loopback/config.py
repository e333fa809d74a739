"""Which tickers the loopback Polygon serves and how their data is generated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from .calendar import ET


@dataclass(frozen=True)
class TickerSpec:
    """One U.S. stock: its reference data and the scale of its generated trading."""

    ticker: str
    name: str
    start_price: float
    daily_volume: int
    primary_exchange: str = "XNAS"
    # Polygon's numeric exchange id for the primary listing (12 = Nasdaq, 10 = NYSE).
    exchange_id: int = 12
    # Consolidated tape: 1 = A (NYSE), 2 = B (Arca/regional), 3 = C (Nasdaq).
    tape: int = 3
    daily_volatility: float = 0.015
    cik: str = ""


DEFAULT_TICKERS: tuple[TickerSpec, ...] = (
    TickerSpec("AAPL", "Apple Inc.", 190.0, 55_000_000, cik="0000320193"),
    TickerSpec("TSLA", "Tesla, Inc. Common Stock", 250.0, 90_000_000, cik="0001318605"),
    TickerSpec("NVDA", "Nvidia Corp", 120.0, 300_000_000, cik="0001045810"),
)

# Monday 3 June 2024, 10:00 New York time: half an hour into the session.
DEFAULT_START = datetime(2024, 6, 3, 10, 0, tzinfo=ET)


@dataclass(frozen=True)
class PolygonConfig:
    """Everything that decides what the server answers.

    Bars are a pure function of ``seed``, the ticker and the day: the same request always gets
    the same answer. ``anchor`` is the trading day whose open is ``start_price`` (default: the
    day of ``start``); earlier and later days follow a daily random walk from it. Only data
    older than the simulated now is published, REST and websocket alike.
    """

    api_key: str = "loopback-key"
    tickers: tuple[TickerSpec, ...] = DEFAULT_TICKERS
    seed: int = 11
    start: datetime = DEFAULT_START
    anchor: date | None = None
    realtime: bool = False
    speed: float = 1.0
    # Polygon lets one websocket connection per cluster on a standard plan.
    max_connections: int = 1

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if len({t.ticker for t in self.tickers}) != len(self.tickers):
            raise ValueError("tickers must be unique")

    @property
    def anchor_day(self) -> date:
        return self.anchor or self.start.astimezone(ET).date()

    def __repr__(self) -> str:
        # The API key never appears in logs or tracebacks.
        return (
            f"PolygonConfig(tickers={[t.ticker for t in self.tickers]}, seed={self.seed}, "
            f"start={self.start.isoformat()}, realtime={self.realtime})"
        )
