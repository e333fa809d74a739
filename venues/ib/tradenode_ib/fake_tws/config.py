"""What a fake TWS serves: protocol version, account, contracts, price path, risk and faults."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal

from .market import PriceModel
from .recording import Recording
from .universe import Universe, default_universe

MIN_SERVER_VERSION = 157
"""The oldest server version ib_async 2.1.0 accepts (and this server can encode)."""
MAX_SERVER_VERSION = 178
"""The newest text-protocol version ib_async 2.1.0 offers."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class FakeTwsConfig:
    server_version: int = MAX_SERVER_VERSION
    account: str = "DU123456"
    base_currency: str = "USD"
    cash: Mapping[str, Decimal] = field(default_factory=lambda: {"USD": Decimal(1_000_000)})
    universe: Universe = field(default_factory=default_universe)
    prices: PriceModel = field(default_factory=PriceModel)
    tick_interval: float | None = None
    """Seconds between automatic steps of the price path; None: only explicit ``step()``."""
    buying_power_leverage: Decimal = Decimal(4)
    """BuyingPower = AvailableFunds x this (4: a day-trading margin account)."""
    farm_status_on_connect: bool = True
    """Send the 2104/2106/2158 'data farm connection is OK' notices after startApi, as TWS does."""
    recording: Recording | None = None
    """Replay recorded frames for the requests the recording covers (see :meth:`replaying`)."""
    clock: Callable[[], datetime] = _utc_now
    first_perm_id: int = 1_462_000_001

    def __post_init__(self) -> None:
        if not MIN_SERVER_VERSION <= self.server_version <= MAX_SERVER_VERSION:
            raise ValueError(
                f"server version {self.server_version} is outside the text protocol range "
                f"{MIN_SERVER_VERSION}..{MAX_SERVER_VERSION} that ib_async speaks"
            )
        if self.recording and self.recording.server_version != self.server_version:
            raise ValueError(
                f"the recording was made at server version {self.recording.server_version}; "
                f"announce that version to replay it (got {self.server_version})"
            )

    @classmethod
    def replaying(cls, recording: Recording | None = None, **overrides: object) -> FakeTwsConfig:
        """A config that replays the bundled recording: its server version and its account."""
        recording = recording or Recording.load()
        base = cls(server_version=recording.server_version, recording=recording)
        return replace(base, account=recording.account, **overrides)  # type: ignore[arg-type]
