"""Orders and fills as the server keeps them, and the JSON shapes Binance sends them in.

One record serves every view: the REST order (``GET /api/v3/order``), the ``POST`` answer in its
ACK/RESULT/FULL forms, the ``executionReport`` event, ``myTrades`` rows, and the admin/state
records (which add what Binance never sends, like how often a client order id was submitted).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal
from typing import Any

from tradenode_ccxt.loopback.amounts import ZERO, fmt

OPEN_STATUSES = ("NEW", "PARTIALLY_FILLED")


@dataclass(slots=True)
class Fill:
    """One execution of one of our orders (a row of ``myTrades``)."""

    symbol: str
    trade_id: int
    order_id: int
    client_order_id: str
    side: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_maker: bool

    def my_trade(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "id": self.trade_id,
            "orderId": self.order_id,
            "orderListId": -1,
            "price": fmt(self.price),
            "qty": fmt(self.qty),
            "quoteQty": fmt(self.quote_qty),
            "commission": fmt(self.commission),
            "commissionAsset": self.commission_asset,
            "time": self.time,
            "isBuyer": self.side == "BUY",
            "isMaker": self.is_maker,
            "isBestMatch": True,
        }

    def order_fill(self) -> dict[str, Any]:
        """The entry in a FULL order answer's ``fills``."""
        return {
            "price": fmt(self.price),
            "qty": fmt(self.qty),
            "commission": fmt(self.commission),
            "commissionAsset": self.commission_asset,
            "tradeId": self.trade_id,
        }

    def record(self) -> dict[str, Any]:
        return {**self.my_trade(), "clientOrderId": self.client_order_id, "side": self.side}

    def state(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(self).items()}

    @classmethod
    def from_state(cls, raw: dict[str, Any]) -> Fill:
        decimals = ("price", "qty", "quote_qty", "commission")
        return cls(**{k: Decimal(v) if k in decimals else v for k, v in raw.items()})


@dataclass(slots=True)
class Order:
    """One accepted order. ``price`` is zero for market orders, as Binance shows it."""

    symbol: str
    order_id: int
    client_order_id: str
    side: str
    type: str
    time_in_force: str
    price: Decimal
    orig_qty: Decimal
    orig_quote_qty: Decimal
    time: int
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    status: str = "NEW"
    update_time: int = 0
    on_book: bool = False
    locked: Decimal = ZERO  # the part of the account's locked balance this order still holds
    queue_ahead: Decimal = ZERO  # others' quantity ahead of it at its price (see matching.py)
    fills: list[Fill] = field(default_factory=list)

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def rest(self) -> dict[str, Any]:
        """The order as ``GET /api/v3/order`` and ``openOrders`` show it."""
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": fmt(self.price),
            "origQty": fmt(self.orig_qty),
            "executedQty": fmt(self.executed_qty),
            "cummulativeQuoteQty": fmt(self.cum_quote),  # Binance's spelling
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side,
            "stopPrice": fmt(ZERO),
            "icebergQty": fmt(ZERO),
            "time": self.time,
            "updateTime": self.update_time,
            "isWorking": self.on_book,
            "workingTime": self.time,
            "origQuoteOrderQty": fmt(self.orig_quote_qty),
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    def placed(self, resp_type: str, fills: list[Fill]) -> dict[str, Any]:
        """The ``POST /api/v3/order`` answer for ``newOrderRespType`` ACK, RESULT or FULL."""
        out: dict[str, Any] = {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "transactTime": self.time,
        }
        if resp_type == "ACK":
            return out
        out.update(
            price=fmt(self.price),
            origQty=fmt(self.orig_qty),
            executedQty=fmt(self.executed_qty),
            origQuoteOrderQty=fmt(self.orig_quote_qty),
            cummulativeQuoteQty=fmt(self.cum_quote),
            status=self.status,
            timeInForce=self.time_in_force,
            type=self.type,
            side=self.side,
            workingTime=self.time,
            selfTradePreventionMode="EXPIRE_MAKER",
        )
        if resp_type == "FULL":
            out["fills"] = [f.order_fill() for f in fills]
        return out

    def canceled(self, cancel_client_id: str, now: int) -> dict[str, Any]:
        """The ``DELETE /api/v3/order`` answer (``clientOrderId`` is the cancel's own id)."""
        return {
            "symbol": self.symbol,
            "origClientOrderId": self.client_order_id,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": cancel_client_id,
            "transactTime": now,
            "price": fmt(self.price),
            "origQty": fmt(self.orig_qty),
            "executedQty": fmt(self.executed_qty),
            "origQuoteOrderQty": fmt(self.orig_quote_qty),
            "cummulativeQuoteQty": fmt(self.cum_quote),
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side,
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }

    def execution_report(
        self, exec_type: str, now: int, fill: Fill | None = None, cancel_client_id: str = ""
    ) -> dict[str, Any]:
        """The user-data ``executionReport`` for this order's latest change."""
        return {
            "e": "executionReport",
            "E": now,
            "s": self.symbol,
            "c": cancel_client_id or self.client_order_id,
            "S": self.side,
            "o": self.type,
            "f": self.time_in_force,
            "q": fmt(self.orig_qty),
            "p": fmt(self.price),
            "P": fmt(ZERO),
            "F": fmt(ZERO),
            "g": -1,
            "C": self.client_order_id if cancel_client_id else "",
            "x": exec_type,
            "X": self.status,
            "r": "NONE",
            "i": self.order_id,
            "l": fmt(fill.qty if fill else ZERO),
            "z": fmt(self.executed_qty),
            "L": fmt(fill.price if fill else ZERO),
            "n": fmt(fill.commission) if fill else "0",
            "N": fill.commission_asset if fill else None,
            "T": fill.time if fill else now,
            "t": fill.trade_id if fill else -1,
            "I": 0,
            "w": self.on_book,
            "m": fill.is_maker if fill else False,
            "M": False,
            "O": self.time,
            "Z": fmt(self.cum_quote),
            "Y": fmt(fill.quote_qty if fill else ZERO),
            "Q": fmt(self.orig_quote_qty),
            "W": self.time,
            "V": "EXPIRE_MAKER",
        }

    def record(self, submissions: int) -> dict[str, Any]:
        """The admin view: the REST order plus submission count, queue position and fills."""
        return {
            **self.rest(),
            "submissions": submissions,
            "queueAhead": fmt(self.queue_ahead),
            "fills": [f.record() for f in self.fills],
        }

    def state(self) -> dict[str, Any]:
        raw = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "fills"}
        out = {k: str(v) if isinstance(v, Decimal) else v for k, v in raw.items()}
        out["fills"] = [f.state() for f in self.fills]
        return out

    @classmethod
    def from_state(cls, raw: dict[str, Any]) -> Order:
        decimals = (
            "price", "orig_qty", "orig_quote_qty", "executed_qty", "cum_quote", "locked",
            "queue_ahead",
        )  # fmt: skip
        values = {k: Decimal(v) if k in decimals else v for k, v in raw.items() if k != "fills"}
        return cls(**values, fills=[Fill.from_state(f) for f in raw["fills"]])
