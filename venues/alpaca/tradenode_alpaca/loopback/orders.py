"""Orders as Alpaca keeps them, and the parsing of ``POST /v2/orders`` bodies.

Parsing checks only the shape of a request (fields present, numbers positive, the combinations
Alpaca allows); the checks that depend on the account, the asset or the clock live in the
engine.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import invalid

ORDER_TYPES = ("market", "limit", "stop", "stop_limit")
TIMES_IN_FORCE = ("day", "gtc", "opg", "cls", "ioc", "fok")
SIDES = ("buy", "sell")
OPEN_STATUSES = frozenset({"accepted", "pending_new", "new", "partially_filled"})
MAX_CLIENT_ORDER_ID = 128


def decimal_field(body: dict[str, Any], name: str) -> Decimal | None:
    """alpaca-py sends numbers as JSON floats; other clients send strings. Both are accepted."""
    value = body.get(name)
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise invalid(f"invalid {name}") from None
    if not number.is_finite():
        raise invalid(f"invalid {name}")
    return number


def _bool_field(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


@dataclass(frozen=True)
class OrderRequest:
    """A validated-in-shape ``POST /v2/orders`` (or a ``PATCH`` merged onto an order)."""

    symbol: str
    side: str
    type: str
    time_in_force: str
    qty: Decimal | None
    notional: Decimal | None
    limit_price: Decimal | None
    stop_price: Decimal | None
    extended_hours: bool
    client_order_id: str | None

    @property
    def is_fractional(self) -> bool:
        return self.notional is not None or (self.qty is not None and self.qty % 1 != 0)

    @classmethod
    def parse(cls, body: dict[str, Any]) -> OrderRequest:
        order_class = body.get("order_class") or "simple"
        if order_class != "simple":
            raise invalid(f'order_class "{order_class}" is not supported by the loopback')
        for name in ("symbol", "side", "type", "time_in_force"):
            if not body.get(name):
                raise invalid(f"{name} is required")
        side, order_type, tif = str(body["side"]), str(body["type"]), str(body["time_in_force"])
        if side not in SIDES:
            raise invalid(f"invalid side: {side}")
        if order_type not in ORDER_TYPES:
            raise invalid(f'order type "{order_type}" is not supported by the loopback')
        if tif not in TIMES_IN_FORCE:
            raise invalid(f"invalid time_in_force: {tif}")
        qty, notional = decimal_field(body, "qty"), decimal_field(body, "notional")
        if qty is None and notional is None:
            raise invalid("qty is required")
        if qty is not None and notional is not None:
            raise invalid("only one of qty or notional can be specified")
        if (qty is not None and qty <= 0) or (notional is not None and notional <= 0):
            raise invalid("qty must be > 0" if qty is not None else "notional must be > 0")
        limit_price = decimal_field(body, "limit_price")
        stop_price = decimal_field(body, "stop_price")
        if order_type in ("limit", "stop_limit") and limit_price is None:
            raise invalid("limit_price is required")
        if order_type in ("stop", "stop_limit") and stop_price is None:
            raise invalid("stop_price is required")
        if order_type in ("market", "stop") and limit_price is not None:
            raise invalid(f"limit_price is not allowed for {order_type} orders")
        if order_type in ("market", "limit") and stop_price is not None:
            raise invalid(f"stop_price is not allowed for {order_type} orders")
        for name, price in (("limit_price", limit_price), ("stop_price", stop_price)):
            if price is not None and price <= 0:
                raise invalid(f"{name} must be > 0")
        client_order_id = body.get("client_order_id")
        if client_order_id is not None:
            client_order_id = str(client_order_id)
            if len(client_order_id) > MAX_CLIENT_ORDER_ID:
                raise invalid("client_order_id must be no more than 128 characters")
        return cls(
            symbol=str(body["symbol"]).upper(),
            side=side,
            type=order_type,
            time_in_force=tif,
            qty=qty,
            notional=notional,
            limit_price=limit_price,
            stop_price=stop_price,
            extended_hours=_bool_field(body, "extended_hours"),
            client_order_id=client_order_id,
        )


@dataclass
class Order:
    """One order's state. Quantities and prices are exact decimals."""

    id: uuid.UUID
    client_order_id: str
    request: OrderRequest
    asset_id: uuid.UUID
    created_ns: int
    status: str
    position_intent: str
    expires_ns: int
    updated_ns: int = 0
    filled_qty: Decimal = Decimal(0)
    filled_value: Decimal = Decimal(0)
    # For notional orders: shares to trade, fixed when the order starts executing.
    target_qty: Decimal | None = None
    triggered: bool = False
    filled_ns: int | None = None
    canceled_ns: int | None = None
    expired_ns: int | None = None
    failed_ns: int | None = None
    replaced_ns: int | None = None
    replaced_by: uuid.UUID | None = None
    replaces: uuid.UUID | None = None

    @property
    def symbol(self) -> str:
        return self.request.symbol

    @property
    def side(self) -> str:
        return self.request.side

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal | None:
        """Shares still to trade; ``None`` for a notional order that has not started."""
        target = self.request.qty if self.request.qty is not None else self.target_qty
        return None if target is None else target - self.filled_qty

    @property
    def avg_price(self) -> Decimal | None:
        return self.filled_value / self.filled_qty if self.filled_qty else None

    @property
    def acts_as_market(self) -> bool:
        """Market orders, and stop orders once triggered."""
        return self.request.type == "market" or (self.request.type == "stop" and self.triggered)

    @property
    def limit(self) -> Decimal | None:
        """The price bound when the order may execute (a stop-limit's once triggered)."""
        if self.request.type == "limit" or (self.request.type == "stop_limit" and self.triggered):
            return self.request.limit_price
        return None
