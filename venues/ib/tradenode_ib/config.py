"""Settings of one Interactive Brokers venue: where TWS or IB Gateway listens, which account,
what market data, and which contracts the node trades under which canonical symbols.

Every value ``run`` would trip on is refused here, so ``tradenode check`` names the key before
anything connects. There are no secrets: TWS and IB Gateway hold the login themselves.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Literal

import msgspec

SecType = Literal["STK", "FUT", "CASH"]
MarketDataType = Literal["live", "frozen", "delayed", "delayed-frozen"]
#: reqMarketDataType's numbers
MARKET_DATA_TYPES: dict[str, int] = {"live": 1, "frozen": 2, "delayed": 3, "delayed-frozen": 4}
_DEFAULT_EXCHANGE = {"STK": "SMART", "CASH": "IDEALPRO"}


class _Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class ContractSpec(_Strict):
    """``[venues.NAME.contracts."SYMBOL"]``: one IB contract under the node's canonical symbol.

    The key is the canonical symbol: a stock's ticker (``AAPL``), a future's name (``ES``), an
    FX pair as ``BASE/QUOTE`` (``EUR/USD``). ``symbol`` is IB's symbol (default: the key, or the
    pair's base); ``currency`` defaults to USD (an FX pair's quote); ``exchange`` to SMART for
    stocks and IDEALPRO for FX; a future needs its exchange and ``last_trade_date`` (``YYYYMM``
    or ``YYYYMMDD``). ``con_id`` pins the contract when a description is ambiguous.
    ``lot_size`` is the order size step (1 share; 0.0001 for an account allowed fractional
    shares). ``depth_rows`` > 0 asks for that many L2 rows (the account needs depth
    permissions); 0 keeps the top of book only. Fees in basis points are the router's estimate
    for splitting, not what IB charges (commission reports carry that).
    """

    sec_type: SecType = "STK"
    symbol: str | None = None
    exchange: str | None = None
    currency: str | None = None
    primary_exchange: str = ""
    last_trade_date: str = ""
    local_symbol: str = ""
    trading_class: str = ""
    multiplier: str = ""
    con_id: int = 0
    lot_size: Decimal = Decimal(1)
    depth_rows: int = 0
    smart_depth: bool = False
    taker_fee_bps: Decimal = Decimal(0)
    maker_fee_bps: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if not (self.lot_size.is_finite() and self.lot_size > 0):
            raise ValueError(f"lot_size must be > 0, got {self.lot_size}")
        if not 0 <= self.depth_rows <= 50:
            raise ValueError(f"depth_rows must be in [0, 50], got {self.depth_rows}")
        for name in ("taker_fee_bps", "maker_fee_bps"):
            value = getattr(self, name)
            if not (value.is_finite() and 0 <= value < 10_000):
                raise ValueError(f"{name} must be in [0, 10000) bps, got {value}")
        if self.sec_type == "FUT":
            if not self.exchange:
                raise ValueError("a future needs its exchange (e.g. CME)")
            if not (self.last_trade_date or self.local_symbol or self.con_id):
                raise ValueError("a future needs last_trade_date (YYYYMM), local_symbol or con_id")
        if self.last_trade_date and not (
            self.last_trade_date.isdigit() and len(self.last_trade_date) in (6, 8)
        ):
            raise ValueError(
                f"last_trade_date must be YYYYMM or YYYYMMDD, got {self.last_trade_date!r}"
            )

    def ib_exchange(self) -> str:
        return self.exchange or _DEFAULT_EXCHANGE.get(self.sec_type, "SMART")


class ReconnectPolicy(_Strict):
    """Backoff between attempts to reach TWS: from ``initial_s``, doubling up to ``max_s``."""

    initial_s: float = 1.0
    max_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("initial_s", "max_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a number of seconds > 0, got {value}")
        if self.max_s < self.initial_s:
            raise ValueError(f"max_s ({self.max_s}) must be >= initial_s ({self.initial_s})")


class IbVenueConfig(_Strict):
    """``[venues.NAME]`` with ``plugin = "ib"``.

    Ports: 7497 TWS paper, 7496 TWS live, 4002 IB Gateway paper, 4001 IB Gateway live.
    ``client_id`` must be unique among the API clients of that TWS (a second node, or a script,
    needs its own). ``account`` is required when the login manages several accounts.
    ``heartbeat_s``: how often a quiet connection is probed (TWS must answer within as long, or
    the connection counts as lost). ``commission_wait_s``: how long a fill waits for IB's
    commission report before a status says it is missing and IB is asked again (a fill is
    published only with its commission: fees are never guessed).
    """

    host: str = "127.0.0.1"
    port: int = 7497
    client_id: int = 1
    account: str = ""
    market_data_type: MarketDataType = "live"
    connect_timeout_s: float = 10.0
    heartbeat_s: float = 10.0
    reconnect: ReconnectPolicy = ReconnectPolicy()
    commission_wait_s: float = 5.0
    contracts: dict[str, ContractSpec] = {}

    def __post_init__(self) -> None:
        if not 0 < self.port <= 65535:
            raise ValueError(f"port must be in [1, 65535], got {self.port}")
        if not 0 <= self.client_id <= 2**31 - 1:
            raise ValueError(f"client_id must be in [0, 2147483647], got {self.client_id}")
        for name in ("connect_timeout_s", "heartbeat_s", "commission_wait_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a number of seconds > 0, got {value}")
        if not self.contracts:
            raise ValueError("contracts must name at least one contract to trade")
        for symbol, spec in self.contracts.items():
            if spec.sec_type == "CASH":
                base, sep, quote = symbol.partition("/")
                if not (sep and base and quote):
                    raise ValueError(f"contracts: FX pair {symbol!r} must be BASE/QUOTE")
                if spec.currency not in (None, quote) or (spec.symbol or base) != base:
                    raise ValueError(
                        f"contracts.{symbol}: symbol and currency must be the pair's base "
                        f"and quote ({base}, {quote})"
                    )
            elif "/" in symbol:
                raise ValueError(f"contracts: {symbol!r}: only FX pairs are written BASE/QUOTE")

    def ib_symbol(self, symbol: str) -> str:
        """IB's symbol of the contract the node calls ``symbol``."""
        spec = self.contracts[symbol]
        if spec.symbol:
            return spec.symbol
        return symbol.partition("/")[0] if spec.sec_type == "CASH" else symbol

    def currency(self, symbol: str) -> str:
        """The currency a contract is quoted in (an FX pair's quote)."""
        spec = self.contracts[symbol]
        if spec.sec_type == "CASH":
            return symbol.partition("/")[2]
        return spec.currency or "USD"
