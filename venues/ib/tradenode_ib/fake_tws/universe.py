"""The contracts this TWS knows, and how it resolves a client's contract description to them.

Resolution follows TWS: a conId wins; otherwise every field the client filled in must agree
(an expiry may be given as a month, an exchange must be one the contract trades on).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal

D = Decimal


@dataclass(frozen=True, slots=True)
class CommissionSchedule:
    """IBKR-Pro-fixed-style commissions, charged in the contract's currency.

    ``minimum`` and ``maximum_rate`` apply per order, so an order filled in several executions
    pays the same total as one filled at once.
    """

    per_unit: Decimal = Decimal(0)
    rate: Decimal = Decimal(0)
    minimum: Decimal = Decimal(0)
    maximum_rate: Decimal | None = None

    def total(self, quantity: Decimal, value: Decimal) -> Decimal:
        """Commission owed for an order filled ``quantity`` for a trade value of ``value``."""
        if quantity == 0:
            return D(0)
        amount = max(self.per_unit * quantity + self.rate * value, self.minimum)
        if self.maximum_rate is not None:
            amount = min(amount, self.maximum_rate * value)
        return amount.quantize(D("0.000001"), rounding=ROUND_CEILING)


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable contract with its reference data, opening quote and risk parameters."""

    con_id: int
    symbol: str
    sec_type: str
    exchange: str
    currency: str
    local_symbol: str
    trading_class: str
    min_tick: Decimal
    bid: Decimal
    ask: Decimal
    long_name: str
    valid_exchanges: tuple[str, ...]
    primary_exchange: str = ""
    multiplier: str = ""
    last_trade_date: str = ""
    market_name: str = ""
    time_zone: str = "US/Eastern"
    trading_session: tuple[str, str] = ("0400", "2000")
    liquid_session: tuple[str, str] = ("0930", "1600")
    depth_sizes: tuple[Decimal, ...] = (
        Decimal(300),
        Decimal(500),
        Decimal(800),
        Decimal(1200),
        Decimal(1500),
    )
    size_increment: Decimal = Decimal(1)
    initial_margin_rate: Decimal = Decimal("0.25")
    maintenance_margin_rate: Decimal = Decimal("0.25")
    commission: CommissionSchedule = field(default_factory=CommissionSchedule)
    market_rule_id: str = "26"
    order_types: str = "LMT,MKT,STP,STP LMT"

    @property
    def contract_multiplier(self) -> Decimal:
        return D(self.multiplier) if self.multiplier else D(1)

    @property
    def contract_month(self) -> str:
        return self.last_trade_date[:6]

    def on_tick(self, price: Decimal) -> bool:
        return price % self.min_tick == 0

    def sessions(self, start: date, days: int = 7) -> tuple[str, str]:
        """TWS ``tradingHours`` and ``liquidHours`` strings for ``days`` days from ``start``."""
        return (
            _sessions(self.trading_session, start, days, self.sec_type == "STK"),
            _sessions(self.liquid_session, start, days, self.sec_type == "STK"),
        )


def _sessions(hours: tuple[str, str], start: date, days: int, same_day: bool) -> str:
    """Weekdays open, weekends closed; a session whose open is after its close began the
    evening before (futures, FX)."""
    opens, closes = hours
    parts = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        if day.weekday() >= 5:
            parts.append(f"{day:%Y%m%d}:CLOSED")
            continue
        first = day if same_day or opens < closes else day - timedelta(days=1)
        parts.append(f"{first:%Y%m%d}:{opens}-{day:%Y%m%d}:{closes}")
    return ";".join(parts)


@dataclass(frozen=True, slots=True)
class ContractQuery:
    """A contract as a client describes it on the wire (every field optional)."""

    con_id: int = 0
    symbol: str = ""
    sec_type: str = ""
    last_trade_date: str = ""
    strike: str = ""
    right: str = ""
    multiplier: str = ""
    exchange: str = ""
    primary_exchange: str = ""
    currency: str = ""
    local_symbol: str = ""
    trading_class: str = ""


class Universe:
    """The configured contracts, looked up the way TWS looks up a client's description."""

    def __init__(self, instruments: Iterable[Instrument]) -> None:
        self._by_con_id: dict[int, Instrument] = {}
        for instrument in instruments:
            if instrument.con_id in self._by_con_id:
                raise ValueError(f"conId {instrument.con_id} is configured twice")
            self._by_con_id[instrument.con_id] = instrument

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._by_con_id.values())

    def get(self, con_id: int) -> Instrument | None:
        return self._by_con_id.get(con_id)

    def matching(self, query: ContractQuery) -> list[Instrument]:
        if query.con_id:
            found = self._by_con_id.get(query.con_id)
            if found is None or not _exchange_ok(found, query):
                return []
            return [found]
        if not (query.symbol or query.local_symbol):
            return []
        return [i for i in self._by_con_id.values() if _agrees(i, query)]


def _exchange_ok(instrument: Instrument, query: ContractQuery) -> bool:
    return not query.exchange or query.exchange in instrument.valid_exchanges


def _agrees(instrument: Instrument, query: ContractQuery) -> bool:
    if query.symbol and query.symbol.upper() != instrument.symbol:
        return False
    if query.local_symbol and query.local_symbol != instrument.local_symbol:
        return False
    if query.sec_type and query.sec_type != instrument.sec_type:
        return False
    if query.currency and query.currency != instrument.currency:
        return False
    if query.trading_class and query.trading_class != instrument.trading_class:
        return False
    if query.last_trade_date and not instrument.last_trade_date.startswith(query.last_trade_date):
        return False
    if query.multiplier and D(query.multiplier) != instrument.contract_multiplier:
        return False
    if query.primary_exchange and query.primary_exchange not in (
        instrument.primary_exchange,
        *instrument.valid_exchanges,
    ):
        return False
    return _exchange_ok(instrument, query)


STOCK_EXCHANGES = ("SMART", "NASDAQ", "ISLAND", "ARCA", "NYSE", "BATS", "IEX", "DRCTEDGE")
STOCK_COMMISSION = CommissionSchedule(
    per_unit=D("0.005"), minimum=D("1.00"), maximum_rate=D("0.01")
)


def default_universe() -> Universe:
    """AAPL and MSFT (IB's real conIds), an E-mini S&P future and EUR.USD on IDEALPRO.

    The future's conId is made up; AAPL 265598, MSFT 272093 and EUR.USD 12087792 are the ids
    IB uses (AAPL's matches the recorded positions frame).
    """
    return Universe(
        [
            Instrument(
                con_id=265598,
                symbol="AAPL",
                sec_type="STK",
                exchange="SMART",
                primary_exchange="NASDAQ",
                currency="USD",
                local_symbol="AAPL",
                trading_class="NMS",
                market_name="NMS",
                min_tick=D("0.01"),
                bid=D("230.00"),
                ask=D("230.01"),
                long_name="APPLE INC",
                valid_exchanges=STOCK_EXCHANGES,
                commission=STOCK_COMMISSION,
            ),
            Instrument(
                con_id=272093,
                symbol="MSFT",
                sec_type="STK",
                exchange="SMART",
                primary_exchange="NASDAQ",
                currency="USD",
                local_symbol="MSFT",
                trading_class="NMS",
                market_name="NMS",
                min_tick=D("0.01"),
                bid=D("420.00"),
                ask=D("420.01"),
                long_name="MICROSOFT CORP",
                valid_exchanges=STOCK_EXCHANGES,
                commission=STOCK_COMMISSION,
            ),
            Instrument(
                con_id=760000001,
                symbol="ES",
                sec_type="FUT",
                exchange="CME",
                currency="USD",
                local_symbol="ESH7",
                trading_class="ES",
                market_name="ES",
                multiplier="50",
                last_trade_date="20270319",
                min_tick=D("0.25"),
                bid=D("6000.00"),
                ask=D("6000.25"),
                long_name="E-mini S&P 500",
                valid_exchanges=("CME", "QBALGO"),
                time_zone="US/Central",
                trading_session=("1700", "1600"),
                liquid_session=("0830", "1500"),
                depth_sizes=(D(12), D(25), D(40), D(60), D(80)),
                initial_margin_rate=D("0.075"),
                maintenance_margin_rate=D("0.068"),
                commission=CommissionSchedule(per_unit=D("0.85")),
                market_rule_id="67",
            ),
            Instrument(
                con_id=12087792,
                symbol="EUR",
                sec_type="CASH",
                exchange="IDEALPRO",
                currency="USD",
                local_symbol="EUR.USD",
                trading_class="EUR.USD",
                market_name="EUR.USD",
                min_tick=D("0.00005"),
                bid=D("1.08500"),
                ask=D("1.08505"),
                long_name="European Monetary Union Euro",
                valid_exchanges=("IDEALPRO",),
                trading_session=("1715", "1700"),
                liquid_session=("1715", "1700"),
                depth_sizes=(D(1_000_000), D(2_000_000), D(3_000_000), D(5_000_000), D(8_000_000)),
                size_increment=D("0.01"),
                initial_margin_rate=D("0.03"),
                maintenance_margin_rate=D("0.03"),
                commission=CommissionSchedule(rate=D("0.00002"), minimum=D("2.00")),
                market_rule_id="239",
                order_types="LMT,MKT,STP,STP LMT",
            ),
        ]
    )
