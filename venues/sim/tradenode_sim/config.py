"""Settings of one simulated venue: which recorded books it trades on, and how it fills.

Every value ``run`` would trip on is refused here or in ``SimVenue.check_config``, so
``tradenode check`` catches it with the key's name before anything starts.
"""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path
from typing import Literal

import msgspec

DATA_DIR = Path(__file__).parent / "data"
#: A file named ``sim:order-graph/run1-1.json`` is read from the data shipped with this plugin.
PACKAGED_PREFIX = "sim:"


#: beyond any real price, quantity or balance, and past what the router's float kernel carries
MAX_AMOUNT = Decimal("1e15")


def _finite(name: str, value: Decimal, places: int = 18) -> None:
    if not value.is_finite() or abs(value) >= MAX_AMOUNT:
        raise ValueError(f"{name} must be a finite number below {MAX_AMOUNT:.0e}, got {value}")
    # finer than this and sums or tick divisions run past the exact decimal context at run time
    if value and -value.normalize().as_tuple().exponent > places:
        raise ValueError(f"{name} must have at most {places} decimal places, got {value}")


def _positive(name: str, value: Decimal) -> None:
    _finite(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")


def _not_negative(name: str, value: Decimal) -> None:
    _finite(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


class InstrumentSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: Decimal = Decimal(0)
    max_quantity: Decimal | None = None
    min_notional: Decimal = Decimal(0)
    venue_symbol: str | None = None

    def __post_init__(self) -> None:
        _finite("tick_size", self.tick_size, places=12)
        _finite("lot_size", self.lot_size, places=12)
        _positive("tick_size", self.tick_size)
        _positive("lot_size", self.lot_size)
        _not_negative("min_quantity", self.min_quantity)
        _not_negative("min_notional", self.min_notional)
        if self.max_quantity is not None:
            _positive("max_quantity", self.max_quantity)


class SimVenueConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[venues.NAME]`` with ``plugin = "sim"``.

    Fees are commission rates in basis points of notional, charged in the quote currency, with
    ``min_commission`` as a floor per order (its first fill pays it; later fills pay the rate
    only once the order's fees at the rate exceed it). ``spread_multiplier`` widens every
    recorded level away from the mid (1 = as recorded); ``slippage_bps`` worsens every taker
    fill price; ``execution_delay_ms`` is the time from submit to the order reaching the book,
    and ``cancel_delay_ms`` the same for cancels. ``replay_speed`` paces the recording on the
    live runtime (1 = real time); the replay runtime has no pace. ``preload`` parses the
    recording once per process and replays the parsed messages in every later run.
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
    replay_speed: float = 1.0
    #: keep the parsed recording in memory for the process's later nodes (see recordings.py)
    preload: bool = False

    def __post_init__(self) -> None:
        if not self.files:
            raise ValueError("files must name at least one recorded file")
        for i, name in enumerate(self.files):
            if len(name.encode()) > 4095 or any(len(p.encode()) > 255 for p in Path(name).parts):
                raise ValueError(f"files[{i}]: file name too long ({len(name)} characters)")
        if not self.symbols:
            raise ValueError("symbols must name at least one instrument")
        for symbol in self.symbols:
            base, sep, quote = symbol.partition("/")
            if not (sep and base and quote):
                raise ValueError(f"symbols: {symbol!r} is not BASE/QUOTE")
        for currency, amount in self.balances.items():
            _not_negative(f"balances.{currency}", amount)
        for name in ("maker_fee_bps", "taker_fee_bps"):
            value = getattr(self, name)
            _finite(name, value)
            if not 0 <= value < 10_000:
                raise ValueError(f"{name} must be in [0, 10000) bps, got {value}")
        _not_negative("min_commission", self.min_commission)
        _positive("spread_multiplier", self.spread_multiplier)
        _not_negative("slippage_bps", self.slippage_bps)
        for name in ("execution_delay_ms", "cancel_delay_ms"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 <= value <= 60_000):
                raise ValueError(f"{name} must be a number of ms in [0, 60000], got {value}")
        if not (math.isfinite(self.replay_speed) and self.replay_speed > 0):
            raise ValueError(f"replay_speed must be > 0, got {self.replay_speed}")

    def paths(self, config_dir: Path) -> list[Path]:
        resolved = []
        for name in self.files:
            if name.startswith(PACKAGED_PREFIX):
                resolved.append(DATA_DIR / name[len(PACKAGED_PREFIX) :])
            else:
                resolved.append(config_dir / name)
        return resolved
