"""ccxt's unified structures → the node's messages, exactly.

ccxt parses the exchange's decimal strings into floats; ``dec`` turns each back into the decimal
it was (``repr`` of a float is the shortest string that reads back to it, which is the
exchange's own string for every number with up to 15 significant digits). Nothing here rounds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from node.messages import (
    AssetClass,
    Balance,
    BookLevel,
    FillReport,
    Instrument,
    Liquidity,
    OrderStatusReport,
    PositionReport,
    Side,
)

ZERO = Decimal(0)
_MS = 1_000_000
#: ccxt's precision modes (``ccxt.DECIMAL_PLACES``, ``ccxt.SIGNIFICANT_DIGITS``, ``ccxt.TICK_SIZE``)
DECIMAL_PLACES, SIGNIFICANT_DIGITS, TICK_SIZE = 2, 3, 4
#: ccxt order status → the node's; ``closed`` is a filled order
STATUSES: dict[str, Literal["open", "filled", "canceled", "expired", "rejected"]] = {
    "open": "open",
    "closed": "filled",
    "canceled": "canceled",
    "expired": "expired",
    "rejected": "rejected",
}


class MalformedReply(ValueError):
    """An exchange answer lacks what the node must know (a price, an amount, an id)."""


def dec(value: Any) -> Decimal:
    """A ccxt number (float, int or numeric string) as the exact decimal it was parsed from."""
    if isinstance(value, float):
        text = repr(value)
        return Decimal(text[:-2] if text.endswith(".0") else text)
    if isinstance(value, int | str):
        return Decimal(value)
    if isinstance(value, Decimal):
        return value
    raise MalformedReply(f"not a number: {value!r}")


def dec_or(value: Any, default: Decimal | None) -> Decimal | None:
    return default if value is None else dec(value)


def dec0(value: Any) -> Decimal:
    """A ccxt number, or zero where ccxt has none."""
    return ZERO if value is None else dec(value)


def required(data: dict[str, Any], key: str, what: str) -> Any:
    value = data.get(key)
    if value is None:
        raise MalformedReply(f"{what} without {key!r}: {_brief(data)}")
    return value


def _brief(data: dict[str, Any]) -> str:
    return ", ".join(f"{k}={data.get(k)!r}" for k in ("id", "symbol", "status") if k in data)


def ms_to_ns(ms: Any) -> int:
    return int(ms) * _MS if ms is not None else 0


# -- instruments -----------------------------------------------------------------------------------


def step_of(precision: Any, mode: int) -> Decimal | None:
    """A market's price or amount precision as a step (tick or lot); None when ccxt gives none
    or counts significant digits (no fixed step exists then)."""
    if precision is None or mode == SIGNIFICANT_DIGITS:
        return None
    if mode == DECIMAL_PLACES:
        return Decimal(1).scaleb(-int(precision))
    return dec(precision)


def asset_class(market: dict[str, Any]) -> AssetClass:
    if market.get("option"):
        return "option"
    if market.get("swap"):
        return "perpetual"
    if market.get("future"):
        return "future"
    return "spot"


def instrument(
    venue: str, market: dict[str, Any], mode: int, fees: dict[str, Any] | None = None
) -> tuple[Instrument, str | None]:
    """The node's instrument for a ccxt market, and why it is not tradable (None when it is).

    ``fees`` is the account's ``fetch_trading_fees`` entry for the symbol when there is one;
    otherwise the market's own maker/taker rates are used.
    """
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    amount_limits = limits.get("amount") or {}
    cost_limits = limits.get("cost") or {}
    tick = step_of(precision.get("price"), mode)
    lot = step_of(precision.get("amount"), mode)
    problem = None
    if tick is None or lot is None:
        problem = "ccxt gives no tick or lot size for it (significant-digit precision)"
    elif not market.get("active", True) and market.get("active") is not None:
        problem = "the exchange lists it as inactive"
    source = fees if fees else market
    cls = asset_class(market)
    contract = market.get("contract")
    multiplier = dec(market["contractSize"]) if contract and market.get("contractSize") else None
    ins = Instrument(
        symbol=market["symbol"],
        venue=venue,
        venue_symbol=str(market["id"]),
        base=market["base"],
        quote=market["quote"],
        asset_class=cls,
        tick_size=tick or Decimal(1),
        lot_size=lot or Decimal(1),
        multiplier=multiplier or Decimal(1),
        settlement=market.get("settle") if contract else None,
        min_quantity=dec0(amount_limits.get("min")),
        max_quantity=dec_or(amount_limits.get("max"), None),
        min_notional=dec0(cost_limits.get("min")),
        maker_fee=dec0(source.get("maker")),
        taker_fee=dec0(source.get("taker")),
        tradable=problem is None,
    )
    return ins, problem


# -- account ---------------------------------------------------------------------------------------


def balances(balance: dict[str, Any], keep: set[str]) -> dict[str, Balance]:
    """ccxt's balance structure → the node's, for currencies held or in ``keep``."""
    totals = balance.get("total") or {}
    frees = balance.get("free") or {}
    out: dict[str, Balance] = {}
    for currency in sorted(set(totals) | set(keep)):
        total = dec0(totals.get(currency))
        if not total and currency not in keep:
            continue
        free = dec_or(frees.get(currency), total)
        out[currency] = Balance(total=total, free=total if free is None else free)
    return out


def positions(raw: list[dict[str, Any]], symbols: set[str]) -> list[PositionReport]:
    """Derivative positions as signed contracts (short negative)."""
    out = []
    for p in raw:
        symbol = p.get("symbol")
        if symbol not in symbols:
            continue
        contracts = dec0(p.get("contracts"))
        signed = -contracts if p.get("side") == "short" else contracts
        out.append(
            PositionReport(
                symbol=symbol, quantity=signed, average_price=dec_or(p.get("entryPrice"), None)
            )
        )
    return out


# -- orders and trades -----------------------------------------------------------------------------


def side_of(data: dict[str, Any]) -> Side:
    side = data.get("side")
    if side not in ("buy", "sell"):
        raise MalformedReply(f"order or trade without a buy/sell side: {_brief(data)}")
    return side


def status_of(
    order: dict[str, Any],
) -> Literal["open", "filled", "canceled", "expired", "rejected"]:
    status = STATUSES.get(order.get("status") or "")
    if status is None:
        raise MalformedReply(f"order with status {order.get('status')!r}: {_brief(order)}")
    return status


def order_report(order: dict[str, Any], client_order_id: str) -> OrderStatusReport:
    amount = dec(required(order, "amount", "order"))
    filled = dec0(order.get("filled"))
    return OrderStatusReport(
        client_order_id=client_order_id,
        venue_order_id=str(required(order, "id", "order")),
        symbol=required(order, "symbol", "order"),
        side=side_of(order),
        quantity=amount,
        filled_quantity=filled,
        status=status_of(order),
        limit_price=dec_or(order.get("price"), None) if order.get("type") != "market" else None,
        average_price=dec_or(order.get("average"), None),
        ts=ms_to_ns(order.get("timestamp")),
    )


def trade_fee(trade: dict[str, Any], default_currency: str) -> tuple[Decimal, str]:
    """A trade's fee as (amount, currency); fees in several currencies are refused."""
    fees = [f for f in (trade.get("fees") or []) if f and f.get("cost")]
    if not fees and trade.get("fee") and trade["fee"].get("cost") is not None:
        fees = [trade["fee"]]
    currencies = {f.get("currency") for f in fees}
    if len(currencies) > 1:
        raise MalformedReply(
            f"trade {trade.get('id')} charged fees in {len(currencies)} currencies "
            f"({', '.join(sorted(map(str, currencies)))}); one fill carries one"
        )
    if not fees:
        return ZERO, default_currency
    return sum((dec(f["cost"]) for f in fees), ZERO), fees[0].get("currency") or default_currency


def fill_report(trade: dict[str, Any], client_order_id: str, quote: str) -> FillReport:
    fee, currency = trade_fee(trade, quote)
    liquidity: Liquidity = "maker" if trade.get("takerOrMaker") == "maker" else "taker"
    return FillReport(
        client_order_id=client_order_id,
        venue_order_id=str(required(trade, "order", "trade")),
        trade_id=str(required(trade, "id", "trade")),
        symbol=required(trade, "symbol", "trade"),
        side=side_of(trade),
        price=dec(required(trade, "price", "trade")),
        quantity=dec(required(trade, "amount", "trade")),
        fee=fee,
        fee_currency=currency,
        liquidity=liquidity,
        ts=ms_to_ns(trade.get("timestamp")),
    )


# -- books -----------------------------------------------------------------------------------------


def levels(side: Any, depth: int) -> list[BookLevel]:
    """ccxt's ``[[price, amount], …]`` (best first) → the node's levels."""
    return [BookLevel(dec(level[0]), dec(level[1])) for level in side[:depth]]
