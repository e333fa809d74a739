"""Alpaca's REST answers (orders, FILL activities, account, positions) as the node's reports and
balances. Amounts are read from Alpaca's decimal strings; nothing passes through a float.

Balances: ``USD`` is the account's cash. Free is what the next order may spend without borrowing
(see ``free_cash``), or with ``margin = true`` Alpaca's buying power (its margin, open orders
already held back); each position is a balance in shares named by its ticker, free up to
``qty_available`` (what open sells do not already hold). The node's ledger moves ``AAPL`` and
``USD`` on a fill exactly as Alpaca's account does (no commission).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from node.messages import Balance, FillReport, OrderStatusReport, PositionReport
from tradenode_alpaca.instruments import QUOTE

ZERO = Decimal(0)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ReportStatus = Literal["open", "filled", "canceled", "expired", "rejected"]
#: Alpaca's order statuses that end an order, as the node names them. A replaced order is over
#: for the node (its replacement has another client order id).
FINAL_STATUSES: dict[str, ReportStatus] = {
    "filled": "filled",
    "canceled": "canceled",
    "expired": "expired",
    "rejected": "rejected",
    "replaced": "canceled",
}


def amount(value: Any) -> Decimal:
    """A decimal from Alpaca's JSON (a string; a missing value is zero)."""
    return ZERO if value is None or value == "" else Decimal(str(value))


def time_ns(value: str) -> int:
    """An RFC 3339 time (Alpaca's ``2024-06-03T14:00:00.123456Z``) in ns since the epoch."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000


def execution_id(activity: dict[str, Any]) -> str:
    """A FILL activity's id is ``<time>::<execution id>``; the execution id is what the
    ``trade_updates`` stream calls the same fill, so fills are matched on it."""
    return str(activity["id"]).split("::")[-1]


def report_status(status: str) -> ReportStatus:
    return FINAL_STATUSES.get(status, "open")


def order_report(order: dict[str, Any]) -> OrderStatusReport:
    filled = amount(order.get("filled_qty"))
    average = order.get("filled_avg_price")
    limit = order.get("limit_price")
    return OrderStatusReport(
        client_order_id=str(order["client_order_id"]),
        venue_order_id=str(order["id"]),
        symbol=str(order["symbol"]),
        side=order["side"],
        # a notional order has no qty until it executes: what it filled is all it is
        quantity=amount(order["qty"]) if order.get("qty") is not None else filled,
        filled_quantity=filled,
        status=report_status(str(order["status"])),
        limit_price=amount(limit) if limit is not None else None,
        average_price=amount(average) if average is not None else None,
        ts=time_ns(str(order["created_at"])),
    )


def fill_report(activity: dict[str, Any], client_order_id: str) -> FillReport:
    return FillReport(
        client_order_id=client_order_id,
        venue_order_id=str(activity["order_id"]),
        trade_id=execution_id(activity),
        symbol=str(activity["symbol"]),
        side=activity["side"],
        price=amount(activity["price"]),
        quantity=amount(activity["qty"]),
        fee=ZERO,
        fee_currency=QUOTE,
        liquidity="taker",
        ts=time_ns(str(activity["transaction_time"])),
    )


def free_cash(account: dict[str, Any], *, margin: bool) -> Decimal:
    """What the next buy may spend. With ``margin`` Alpaca's ``buying_power`` (on a margin
    account 2 or 4 times the equity); otherwise, never below zero, the least of: the cash less
    what buying back short positions would cost (short sale proceeds are borrowed), the
    ``buying_power`` and the ``non_marginable_buying_power`` (both net of what open orders
    hold)."""
    cash = amount(account["cash"])
    power = account.get("buying_power")
    buying_power = amount(power) if power is not None else cash
    if margin:
        return buying_power
    limits = [cash + min(ZERO, amount(account.get("short_market_value"))), buying_power]
    if account.get("non_marginable_buying_power") is not None:
        limits.append(amount(account["non_marginable_buying_power"]))
    return max(ZERO, min(limits))


def balances(
    account: dict[str, Any],
    positions: Iterable[dict[str, Any]],
    symbols: Iterable[str],
    *,
    margin: bool = False,
) -> dict[str, Balance]:
    """Cash and the shares of every traded symbol (zero when not held)."""
    out = {QUOTE: Balance(total=amount(account["cash"]), free=free_cash(account, margin=margin))}
    held = {str(p["symbol"]): p for p in positions}
    for symbol in symbols:
        position = held.get(symbol)
        if position is None:
            out[symbol] = Balance(total=ZERO, free=ZERO)
        else:
            quantity = amount(position["qty"])
            available = position.get("qty_available")
            out[symbol] = Balance(
                total=quantity, free=amount(available) if available is not None else quantity
            )
    return out


def position_reports(
    positions: Iterable[dict[str, Any]], symbols: Iterable[str]
) -> list[PositionReport]:
    """Every traded symbol's position at Alpaca, flat ones included (the journal must agree)."""
    held = {str(p["symbol"]): p for p in positions}
    out = []
    for symbol in symbols:
        position = held.get(symbol)
        if position is None:
            out.append(PositionReport(symbol=symbol, quantity=ZERO))
        else:
            out.append(
                PositionReport(
                    symbol=symbol,
                    quantity=amount(position["qty"]),
                    average_price=amount(position["avg_entry_price"]),
                )
            )
    return out
