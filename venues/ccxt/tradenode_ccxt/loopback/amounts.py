"""Decimal text as Binance writes and reads it: eight decimals out, strict positive decimals in."""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

from tradenode_ccxt.loopback.errors import BinanceError

ZERO = Decimal(0)
E8 = Decimal("0.00000001")
# Binance's own pattern for decimal parameters (it quotes it in the -1100 message).
_DECIMAL_PARAM = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")


def fmt(value: Decimal) -> str:
    """``61837.63`` -> ``"61837.63000000"``: Binance always sends eight decimals."""
    return f"{value.quantize(E8, rounding=ROUND_HALF_UP):f}"


def parse_param(name: str, text: str) -> Decimal:
    """A decimal request parameter, refused with Binance's -1100 text when malformed."""
    if not _DECIMAL_PARAM.match(text):
        raise BinanceError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is "
            "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
        )
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern already guarantees a decimal
        raise BinanceError(400, -1100, f"Illegal characters found in parameter '{name}'.") from None


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of ``step`` not above ``value`` (quantities never round up)."""
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def round8(value: Decimal) -> Decimal:
    """Commission and quote amounts kept at Binance's eight-decimal asset precision."""
    return value.quantize(E8, rounding=ROUND_HALF_UP)
