"""What the loopback Alpaca account trades and how its market behaves."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from .calendar import ET

_ASSET_NAMESPACE = uuid.UUID("6f1f3c2e-9a51-4c1e-9d0a-1e4a8b7c2d10")


@dataclass(frozen=True)
class AssetSpec:
    """One tradable U.S. stock and the start of its simulated price."""

    symbol: str
    name: str
    start_price: Decimal
    exchange: str = "NASDAQ"
    fractionable: bool = True
    shortable: bool = True
    easy_to_borrow: bool = True
    marginable: bool = True
    tradable: bool = True

    @property
    def asset_id(self) -> uuid.UUID:
        """Stable across runs, so recorded ids stay meaningful."""
        return uuid.uuid5(_ASSET_NAMESPACE, self.symbol)


DEFAULT_ASSETS: tuple[AssetSpec, ...] = (
    AssetSpec("AAPL", "Apple Inc. Common Stock", Decimal("190")),
    AssetSpec("TSLA", "Tesla, Inc. Common Stock", Decimal("250")),
    AssetSpec("NVDA", "NVIDIA Corporation Common Stock", Decimal("120")),
    # NASDAQ's test issue: below $1 (so priced in 0.0001 steps), whole shares only, not shortable.
    AssetSpec(
        "ZVZZT",
        "NASDAQ TEST STOCK",
        Decimal("0.85"),
        fractionable=False,
        shortable=False,
        easy_to_borrow=False,
        marginable=False,
    ),
)

# Monday 3 June 2024, 10:00 New York time: the regular session is open.
DEFAULT_START = datetime(2024, 6, 3, 10, 0, tzinfo=ET)


@dataclass(frozen=True)
class LoopbackConfig:
    """Everything that decides what the server answers.

    ``start`` and ``seed`` fix the quote paths; with ``realtime=False`` time moves only through
    the admin ``step``, so two runs with the same steps see the same quotes and fills.
    ``multiplier`` is Alpaca's margin multiplier: 1 is a cash account (buying power = cash, no
    shorting), 2 or 4 a margin account that may short shortable, easy-to-borrow stocks.
    """

    api_key: str = "loopback-key"
    secret_key: str = "loopback-secret"
    assets: tuple[AssetSpec, ...] = DEFAULT_ASSETS
    seed: int = 7
    start: datetime = DEFAULT_START
    realtime: bool = False
    speed: float = 1.0
    quote_interval: float = 1.0
    volatility: float = 0.0001
    cash: Decimal = Decimal(100_000)
    multiplier: int = 1
    # Alpaca values a market buy above the ask when checking buying power (2.5-4% per its docs).
    market_order_buffer: Decimal = Decimal("0.03")
    account_number: str = "PA3LOOPBACK"
    account_id: uuid.UUID = field(default=uuid.UUID("1d5f0d2b-7a3e-4c52-8f1e-5b8c0a9e6d01"))
    # Alpaca lets one market-data connection per key on the free (IEX) plan.
    max_data_connections: int = 1
    # Ticks further apart than this many in one advance are coalesced into one walk step.
    max_ticks_per_advance: int = 3_600

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if self.multiplier not in (1, 2, 4):
            raise ValueError("multiplier must be 1, 2 or 4")
        if self.quote_interval <= 0:
            raise ValueError("quote_interval must be positive")
        if len({a.symbol for a in self.assets}) != len(self.assets):
            raise ValueError("asset symbols must be unique")

    def __repr__(self) -> str:
        # The secret never appears in logs or tracebacks.
        return (
            f"LoopbackConfig(assets={[a.symbol for a in self.assets]}, seed={self.seed}, "
            f"start={self.start.isoformat()}, realtime={self.realtime})"
        )
