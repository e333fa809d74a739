"""The JSON shapes of Alpaca's trading API (v2), field for field as alpaca-py's models read them.

Alpaca sends quantities and money as decimal strings, timestamps as RFC 3339 in UTC (the clock
in New York time), and an empty ``order_class`` for simple orders.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from .calendar import NS, next_close, next_open, session_at, to_datetime
from .config import AssetSpec
from .ledger import Execution, Position
from .market import tick_size
from .orders import Order

MAINTENANCE_MARGIN_REQUIREMENT = 30


def rfc3339(t_ns: int | None) -> str | None:
    if t_ns is None:
        return None
    moment = datetime.fromtimestamp(t_ns // NS, tz=UTC) + timedelta(microseconds=t_ns % NS // 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def eastern(t_ns: int) -> str:
    return to_datetime(t_ns).isoformat()


def num(value: Decimal | None) -> str | None:
    """A decimal as Alpaca prints it: no exponent, no trailing zeros."""
    if value is None:
        return None
    text = format(value.quantize(Decimal("1e-9")) if value.as_tuple().exponent < -9 else value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _money(value: Decimal) -> str:
    return num(value.quantize(Decimal("0.01"))) or "0"


def order_json(order: Order) -> dict[str, Any]:
    request = order.request
    avg = order.avg_price
    return {
        "id": str(order.id),
        "client_order_id": order.client_order_id,
        "created_at": rfc3339(order.created_ns),
        "updated_at": rfc3339(order.updated_ns or order.created_ns),
        "submitted_at": rfc3339(order.created_ns),
        "filled_at": rfc3339(order.filled_ns),
        "expired_at": rfc3339(order.expired_ns),
        "canceled_at": rfc3339(order.canceled_ns),
        "failed_at": rfc3339(order.failed_ns),
        "replaced_at": rfc3339(order.replaced_ns),
        "replaced_by": str(order.replaced_by) if order.replaced_by else None,
        "replaces": str(order.replaces) if order.replaces else None,
        "asset_id": str(order.asset_id),
        "symbol": request.symbol,
        "asset_class": "us_equity",
        "notional": num(request.notional),
        "qty": num(request.qty),
        "filled_qty": num(order.filled_qty),
        "filled_avg_price": num(avg.quantize(Decimal("1e-9"))) if avg is not None else None,
        "order_class": "",
        "order_type": request.type,
        "type": request.type,
        "side": request.side,
        "position_intent": order.position_intent,
        "time_in_force": request.time_in_force,
        "limit_price": num(request.limit_price),
        "stop_price": num(request.stop_price),
        "status": order.status,
        "extended_hours": request.extended_hours,
        "legs": None,
        "trail_percent": None,
        "trail_price": None,
        "hwm": None,
        "expires_at": rfc3339(order.expires_ns),
        "source": None,
        "subtag": None,
    }


def asset_json(spec: AssetSpec, price: Decimal) -> dict[str, Any]:
    increment = "0.000000001" if spec.fractionable else "1"
    return {
        "id": str(spec.asset_id),
        "class": "us_equity",
        "exchange": spec.exchange,
        "symbol": spec.symbol,
        "name": spec.name,
        "status": "active",
        "tradable": spec.tradable,
        "marginable": spec.marginable,
        "maintenance_margin_requirement": MAINTENANCE_MARGIN_REQUIREMENT,
        "margin_requirement_long": "30",
        "margin_requirement_short": "30",
        "shortable": spec.shortable,
        "easy_to_borrow": spec.easy_to_borrow,
        "fractionable": spec.fractionable,
        "min_order_size": increment,
        "min_trade_increment": increment,
        "price_increment": num(tick_size(price)),
        "attributes": ["fractional_eh_enabled"] if spec.fractionable else [],
    }


def position_json(
    position: Position,
    spec: AssetSpec,
    *,
    price: Decimal,
    lastday_price: Decimal,
    available: Decimal,
) -> dict[str, Any]:
    """``available`` is the quantity not already held by open orders that close the position."""
    market_value = position.qty * price
    cost_basis = position.cost_basis
    unrealized = market_value - cost_basis
    intraday_basis = position.qty * lastday_price
    plpc = unrealized / abs(cost_basis) if cost_basis else Decimal(0)
    intraday = market_value - intraday_basis
    intraday_plpc = intraday / abs(intraday_basis) if intraday_basis else Decimal(0)
    return {
        "asset_id": str(spec.asset_id),
        "symbol": spec.symbol,
        "exchange": spec.exchange,
        "asset_class": "us_equity",
        "asset_marginable": spec.marginable,
        "qty": num(position.qty),
        "qty_available": num(available),
        "avg_entry_price": num(position.avg_entry_price.quantize(Decimal("1e-9"))),
        "side": "long" if position.qty > 0 else "short",
        "market_value": _money(market_value),
        "cost_basis": _money(cost_basis),
        "unrealized_pl": _money(unrealized),
        "unrealized_plpc": num(plpc.quantize(Decimal("1e-16"))),
        "unrealized_intraday_pl": _money(intraday),
        "unrealized_intraday_plpc": num(intraday_plpc.quantize(Decimal("1e-16"))),
        "current_price": num(price),
        "lastday_price": num(lastday_price),
        "change_today": num((price / lastday_price - 1).quantize(Decimal("1e-16"))),
    }


@dataclass(frozen=True)
class AccountValues:
    cash: Decimal
    long_market_value: Decimal
    short_market_value: Decimal
    buying_power: Decimal
    non_marginable_buying_power: Decimal
    initial_margin: Decimal
    maintenance_margin: Decimal
    last_equity: Decimal

    @property
    def equity(self) -> Decimal:
        return self.cash + self.long_market_value + self.short_market_value


def account_json(
    values: AccountValues,
    *,
    account_id: uuid.UUID,
    account_number: str,
    multiplier: int,
    created_ns: int,
) -> dict[str, Any]:
    equity = _money(values.equity)
    return {
        "id": str(account_id),
        "account_number": account_number,
        "status": "ACTIVE",
        "crypto_status": "INACTIVE",
        "currency": "USD",
        "buying_power": _money(values.buying_power),
        "regt_buying_power": _money(values.buying_power),
        "daytrading_buying_power": "0",
        "effective_buying_power": _money(values.buying_power),
        "non_marginable_buying_power": _money(values.non_marginable_buying_power),
        "options_buying_power": _money(values.non_marginable_buying_power),
        "bod_dtbp": "0",
        "cash": _money(values.cash),
        "accrued_fees": "0",
        "pending_transfer_in": "0",
        "portfolio_value": equity,
        "pattern_day_trader": False,
        "trading_blocked": False,
        "transfers_blocked": False,
        "account_blocked": False,
        "created_at": rfc3339(created_ns),
        "trade_suspended_by_user": False,
        "multiplier": str(multiplier),
        "shorting_enabled": multiplier > 1,
        "equity": equity,
        "last_equity": _money(values.last_equity),
        "long_market_value": _money(values.long_market_value),
        "short_market_value": _money(values.short_market_value),
        "initial_margin": _money(values.initial_margin),
        "maintenance_margin": _money(values.maintenance_margin),
        "last_maintenance_margin": "0",
        "sma": "0",
        "daytrade_count": 0,
        "options_approved_level": 0,
        "options_trading_level": 0,
    }


def activity_json(execution: Execution, account_id: uuid.UUID) -> dict[str, Any]:
    stamp = to_datetime(execution.t_ns).astimezone(UTC).strftime("%Y%m%d%H%M%S%f")[:17]
    return {
        "id": f"{stamp}::{execution.id}",
        "account_id": str(account_id),
        "activity_type": "FILL",
        "transaction_time": rfc3339(execution.t_ns),
        "type": "fill" if execution.leaves_qty == 0 else "partial_fill",
        "price": num(execution.price),
        "qty": num(execution.qty),
        "side": execution.side,
        "symbol": execution.symbol,
        "leaves_qty": num(execution.leaves_qty),
        "order_id": str(execution.order_id),
        "cum_qty": num(execution.cum_qty),
        "order_status": execution.order_status,
    }


def clock_json(now_ns: int) -> dict[str, Any]:
    return {
        "timestamp": eastern(now_ns),
        "is_open": session_at(now_ns) == "regular",
        "next_open": eastern(next_open(now_ns)),
        "next_close": eastern(next_close(now_ns)),
    }


def trade_update(
    event: str, order: Order, t_ns: int, execution: Execution | None = None
) -> dict[str, Any]:
    """One ``trade_updates`` frame; fill events carry the execution's price, qty and id."""
    data: dict[str, Any] = {"event": event, "timestamp": rfc3339(t_ns), "order": order_json(order)}
    if execution is not None:
        data.update(
            execution_id=str(execution.id),
            price=num(execution.price),
            qty=num(execution.qty),
            position_qty=num(execution.position_qty),
        )
    return {"stream": "trade_updates", "data": data}
