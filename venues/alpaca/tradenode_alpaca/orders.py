"""The node's child orders as Alpaca takes them: what Alpaca would refuse, refused here first with
the reason, and the ``POST /v2/orders`` body of what it takes.

Amounts go to Alpaca as decimal strings (as its own API documents them), never as floats.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from node.messages import Instrument, SubmitOrder
from tradenode_alpaca.instruments import CENT, SUB_PENNY, off_tick
from tradenode_alpaca.session import MarketClock, Session

ORDER_TYPES = ("market", "limit", "stop", "stop_limit")
TIMES_IN_FORCE = ("day", "gtc", "ioc", "fok", "opg", "cls")
#: Opening and closing auction orders wait for their auction whatever the session.
AUCTIONS = ("opg", "cls")


def decimal_text(value: Decimal) -> str:
    """``Decimal("190.50")`` → ``"190.5"``: plain digits, no exponent."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def check_order(order: SubmitOrder, instrument: Instrument, *, fractionable: bool) -> str | None:
    """Why Alpaca would refuse ``order`` whatever the time, or None."""
    symbol = order.symbol
    if order.post_only:
        return "Alpaca has no post-only orders"
    if order.reduce_only:
        return "Alpaca has no reduce-only orders for stocks"
    if order.order_type not in ORDER_TYPES:
        return f"order type {order.order_type} is not one Alpaca takes ({', '.join(ORDER_TYPES)})"
    if order.time_in_force not in TIMES_IN_FORCE:
        return f"time in force {order.time_in_force} is not one Alpaca takes"
    if not instrument.tradable:
        return f"{symbol} is not tradable at Alpaca"
    quantity = order.quantity
    if not quantity.is_finite() or quantity <= 0:
        return f"quantity {quantity} must be > 0"
    whole = quantity % 1 == 0
    if not whole and not fractionable:
        return (
            f"{symbol} is not fractionable at Alpaca: {quantity} must be a whole number of shares"
        )
    if quantity % instrument.lot_size != 0:
        return (
            f"quantity {quantity} of {symbol} is not a multiple of {instrument.lot_size} "
            "(fractional shares are off for this venue: set fractional = true)"
            if instrument.lot_size == 1
            else f"quantity {quantity} of {symbol} has more than 9 decimals"
        )
    if not whole and order.time_in_force != "day":
        return f"Alpaca takes fractional orders as DAY orders only, not {order.time_in_force}"
    if order.time_in_force in AUCTIONS and order.order_type not in ("market", "limit"):
        return f"{order.time_in_force} orders must be market or limit orders"
    needs_limit = order.order_type in ("limit", "stop_limit")
    needs_stop = order.order_type in ("stop", "stop_limit")
    for name, price, needed in (
        ("limit price", order.limit_price, needs_limit),
        ("stop price", order.stop_price, needs_stop),
    ):
        if needed and (price is None or not price.is_finite() or price <= 0):
            return f"a {order.order_type} order needs a {name} > 0"
        if needed and price is not None and off_tick(price):
            return f"{name} {price} is off Alpaca's tick ({CENT} at or above $1, {SUB_PENNY} below)"
    return None


def check_short_sale(
    order: SubmitOrder,
    asset: dict[str, Any],
    *,
    held: Decimal,
    selling: Decimal,
    shorting_enabled: bool,
) -> str | None:
    """Why Alpaca would refuse ``order`` as a short sale, or None: a sell of more than the
    ``held`` shares that open sells (``selling``) do not already hold is a short sale, which
    Alpaca takes only for a shortable, easy-to-borrow stock, on an account with shorting on,
    and in whole shares."""
    if order.side != "sell":
        return None
    available = max(Decimal(0), held - selling)
    if order.quantity <= available:
        return None
    why = []
    if not asset.get("shortable"):
        why.append("not shortable")
    elif not asset.get("easy_to_borrow"):
        why.append("hard to borrow")
    if not shorting_enabled:
        why.append("shorting is off for the account")
    if not why and order.quantity % 1 != 0:
        why.append("fractional orders cannot sell short")
    if not why:
        return None
    open_sells = f", {decimal_text(selling)} more held by open sells" if selling > 0 else ""
    return (
        f"{order.symbol} cannot be sold short at Alpaca ({'; '.join(why)}): selling "
        f"{decimal_text(order.quantity)} is more than the {decimal_text(available)} shares "
        f"available ({decimal_text(held)} held{open_sells})"
    )


def check_session(
    order: SubmitOrder, session: Session, clock: MarketClock, *, extended_hours: bool
) -> tuple[str | None, bool]:
    """Whether ``order`` may go to Alpaca in ``session``: (why not, or None; whether it goes as
    an extended-hours order)."""
    if session == "regular" or order.time_in_force in AUCTIONS:
        return None, False
    if session == "closed":
        return f"market closed: {clock.describe()}", False
    if not extended_hours:
        return (
            f"market closed ({session}): {clock.describe()}; extended-hours trading is off for "
            "this venue (extended_hours = false)",
            False,
        )
    if order.order_type != "limit" or order.time_in_force != "day":
        return (
            f"{session}: Alpaca takes only DAY limit orders outside the regular session, not a "
            f"{order.time_in_force} {order.order_type} order; {clock.describe()}",
            False,
        )
    return None, True


def order_body(order: SubmitOrder, *, extended_hours: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "symbol": order.symbol,
        "qty": decimal_text(order.quantity),
        "side": order.side,
        "type": order.order_type,
        "time_in_force": order.time_in_force,
        "client_order_id": order.client_order_id,
    }
    if order.limit_price is not None and order.order_type in ("limit", "stop_limit"):
        body["limit_price"] = decimal_text(order.limit_price)
    if order.stop_price is not None and order.order_type in ("stop", "stop_limit"):
        body["stop_price"] = decimal_text(order.stop_price)
    if extended_hours:
        body["extended_hours"] = True
    return body
