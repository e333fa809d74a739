"""Settings of one simulated venue: which recorded books it trades on, and how it fills."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

import msgspec

DATA_DIR = Path(__file__).parent / "data"
#: A file named ``sim:order-graph/run1-1.json`` is read from the data shipped with this plugin.
PACKAGED_PREFIX = "sim:"


class InstrumentSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: Decimal = Decimal(0)
    max_quantity: Decimal | None = None
    min_notional: Decimal = Decimal(0)
    venue_symbol: str | None = None


class SimVenueConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[venues.NAME]`` with ``plugin = "sim"``.

    Fees are commission rates in basis points of notional, charged in the quote currency, with
    ``min_commission`` as a floor per order (its first fill pays it; later fills pay the rate
    only once the order's fees at the rate exceed it). ``spread_multiplier`` widens every
    recorded level away from the mid (1 = as recorded); ``slippage_bps`` worsens every taker
    fill price; ``execution_delay_ms`` is the time from submit to the order reaching the book,
    and ``cancel_delay_ms`` the same for cancels.
    """

    source: Literal["order-graph", "binance-stream", "binance-depth-csv"]
    files: list[str]
    symbols: dict[str, InstrumentSpec]
    #: order-graph files hold several exchanges; which one this venue replays (default: its name)
    source_venue: str | None = None
    balances: dict[str, Decimal] = {}
    maker_fee_bps: Decimal = Decimal(0)
    taker_fee_bps: Decimal = Decimal(0)
    min_commission: Decimal = Decimal(0)
    spread_multiplier: Decimal = Decimal(1)
    slippage_bps: Decimal = Decimal(0)
    execution_delay_ms: float = 0.0
    cancel_delay_ms: float = 0.0

    def paths(self, config_dir: Path) -> list[Path]:
        resolved = []
        for name in self.files:
            if name.startswith(PACKAGED_PREFIX):
                resolved.append(DATA_DIR / name[len(PACKAGED_PREFIX) :])
            else:
                resolved.append(config_dir / name)
        return resolved
