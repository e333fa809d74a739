"""Alpaca's U.S. stocks as the node's instruments, and the price and quantity steps Alpaca holds
orders to.

Alpaca publishes ``price_increment`` and ``min_order_size`` for crypto only; for stocks the rules
are fixed: limit and stop prices in whole cents at or above $1 and in 0.0001 below, and whole
shares unless the asset is fractionable (then 1e-9 shares, at least $1 an order).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from node.messages import Instrument

CENT = Decimal("0.01")
SUB_PENNY = Decimal("0.0001")
WHOLE_SHARE = Decimal(1)
FRACTION = Decimal("1e-9")
FRACTIONAL_MIN_NOTIONAL = Decimal(1)
QUOTE = "USD"


def tick_for(price: Decimal) -> Decimal:
    """Alpaca's price step at ``price``: 0.01 at or above $1, 0.0001 below."""
    return CENT if price >= 1 else SUB_PENNY


def off_tick(price: Decimal) -> bool:
    return price % tick_for(price) != 0


def stock_instrument(
    venue: str, asset: dict[str, Any], *, fractional: bool, reference: Decimal | None
) -> Instrument:
    """The instrument of one ``/v2/assets/{symbol}`` answer.

    The tick is that of the price band ``reference`` lies in; without a price yet it is a
    cent, which is on Alpaca's grid at every price (only coarser than needed below $1).
    """
    symbol = str(asset["symbol"])
    if asset.get("class", "us_equity") != "us_equity":
        raise ValueError(f"{symbol} is a {asset.get('class')} asset, not a U.S. stock")
    fractions = fractional and bool(asset.get("fractionable"))
    return Instrument(
        symbol=symbol,
        venue=venue,
        venue_symbol=symbol,
        base=symbol,
        quote=QUOTE,
        tick_size=tick_for(reference) if reference is not None else CENT,
        lot_size=FRACTION if fractions else WHOLE_SHARE,
        asset_class="stock",
        min_quantity=FRACTION if fractions else WHOLE_SHARE,
        min_notional=FRACTIONAL_MIN_NOTIONAL if fractions else Decimal(0),
        tradable=bool(asset.get("tradable")) and asset.get("status", "active") == "active",
    )
