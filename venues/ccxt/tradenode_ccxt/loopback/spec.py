"""What the exchange lists: a symbol's assets and trading filters, and its price transform.

The filters are checked exactly as Binance checks them (``(price - minPrice) % tickSize == 0``
and so on) and listed in ``exchangeInfo`` in Binance's shape, so ccxt derives tick, lot and
minimums from the same numbers the server enforces.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from tradenode_ccxt.loopback.amounts import ZERO, fmt
from tradenode_ccxt.loopback.errors import filter_failure

ORDER_TYPES = ("LIMIT", "LIMIT_MAKER", "MARKET")


@dataclass(frozen=True)
class SymbolSpec:
    """One spot symbol. Defaults are Binance's BTCUSDT filters of August 2024 (the capture)."""

    symbol: str = "BTCUSDT"
    base: str = "BTC"
    quote: str = "USDT"
    tick_size: Decimal = Decimal("0.01")
    min_price: Decimal = Decimal("0.01")
    max_price: Decimal = Decimal("1000000")
    step_size: Decimal = Decimal("0.00001")
    min_qty: Decimal = Decimal("0.00001")
    max_qty: Decimal = Decimal("9000")
    min_notional: Decimal = Decimal("5")
    max_notional: Decimal = Decimal("9000000")

    def check_price(self, price: Decimal) -> None:
        if (
            price < self.min_price
            or price > self.max_price
            or (price - self.min_price) % self.tick_size != ZERO
        ):
            raise filter_failure("PRICE_FILTER")

    def check_qty(self, qty: Decimal) -> None:
        if (
            qty < self.min_qty
            or qty > self.max_qty
            or (qty - self.min_qty) % self.step_size != ZERO
        ):
            raise filter_failure("LOT_SIZE")

    def check_notional(self, notional: Decimal) -> None:
        if notional < self.min_notional or notional > self.max_notional:
            raise filter_failure("NOTIONAL")

    def exchange_info(self) -> dict[str, object]:
        """This symbol's entry in ``GET /api/v3/exchangeInfo``."""
        return {
            "symbol": self.symbol,
            "status": "TRADING",
            "baseAsset": self.base,
            "baseAssetPrecision": 8,
            "quoteAsset": self.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": list(ORDER_TYPES),
            "icebergAllowed": False,
            "ocoAllowed": False,
            "otoAllowed": False,
            "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": False,
            "cancelReplaceAllowed": False,
            "amendAllowed": False,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": fmt(self.min_price),
                    "maxPrice": fmt(self.max_price),
                    "tickSize": fmt(self.tick_size),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": fmt(self.min_qty),
                    "maxQty": fmt(self.max_qty),
                    "stepSize": fmt(self.step_size),
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": fmt(self.min_notional),
                    "applyMinToMarket": True,
                    "maxNotional": fmt(self.max_notional),
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_MAKER"],
        }


@dataclass(frozen=True)
class PriceTransform:
    """Maps recorded prices to the prices this server shows: ``price * scale + shift``, on tick.

    Two servers replaying the same capture with different transforms present different books
    (an arbitrage between them is then real); the identity transform shows the recording as is.
    """

    scale: Decimal = Decimal(1)
    shift: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise ValueError("price scale must be positive (the book's order must survive)")

    def apply(self, recorded: Decimal, tick: Decimal) -> Decimal:
        shown = recorded * self.scale + self.shift
        return (shown / tick).to_integral_value(rounding=ROUND_HALF_UP) * tick
