"""Cash, positions and executions of the loopback account: commission-free, settled at once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal


@dataclass
class Position:
    symbol: str
    asset_id: uuid.UUID
    qty: Decimal
    avg_entry_price: Decimal

    @property
    def cost_basis(self) -> Decimal:
        return self.qty * self.avg_entry_price


@dataclass(frozen=True)
class Execution:
    """One fill of one order, as ``/v2/account/activities/FILL`` and the admin records show it."""

    id: uuid.UUID
    order_id: uuid.UUID
    client_order_id: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    t_ns: int
    cum_qty: Decimal
    leaves_qty: Decimal
    order_status: str
    position_qty: Decimal


class Ledger:
    def __init__(self, cash: Decimal) -> None:
        self.cash = cash
        self.positions: dict[str, Position] = {}
        self.executions: list[Execution] = []

    def position_qty(self, symbol: str) -> Decimal:
        position = self.positions.get(symbol)
        return position.qty if position else Decimal(0)

    def apply(
        self, symbol: str, asset_id: uuid.UUID, side: str, qty: Decimal, price: Decimal
    ) -> Decimal:
        """Book a fill; returns the position quantity after it (negative when short)."""
        signed = qty if side == "buy" else -qty
        self.cash -= signed * price
        position = self.positions.get(symbol)
        old = position.qty if position else Decimal(0)
        new = old + signed
        if new == 0:
            self.positions.pop(symbol, None)
        elif position is None or old == 0 or (old > 0) != (new > 0):
            # Opened, or flipped through zero: the remainder was bought or sold at this price.
            self.positions[symbol] = Position(symbol, asset_id, new, price)
        elif abs(new) > abs(old):
            position.avg_entry_price = (old * position.avg_entry_price + signed * price) / new
            position.qty = new
        else:
            position.qty = new
        return new
