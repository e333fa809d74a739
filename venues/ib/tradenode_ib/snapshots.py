"""What the IB client hands the venue component: plain, frozen, exact values.

ib_async's objects live on the venue's event loop and change under its feet; the component runs
on its own thread. So the loop copies what the component needs into these snapshots (floats
already turned into ``Decimal``, contracts already turned into the node's symbols) and posts
them; the component never touches an ib_async object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from node.messages import BookLevel, Instrument, Liquidity, Side

ZERO = Decimal(0)

#: statuses of an order that is still working (or about to be) at IB
WORKING = frozenset({"PendingSubmit", "ApiPending", "PreSubmitted", "Submitted", "PendingCancel"})
#: statuses that mean TWS has the order
ACKNOWLEDGED = frozenset({"PreSubmitted", "Submitted", "PendingCancel", "Filled"})


def exact(value: float | int | str | Decimal) -> Decimal:
    """A wire number as the ``Decimal`` it was written as (floats by their shortest repr);
    whole numbers without a trailing ``.0``."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value}")
        number = Decimal(repr(value))
    else:
        number = Decimal(value)
    return number.quantize(Decimal(1)) if number == number.to_integral_value() else number


def on_tick(value: float, tick: Decimal) -> Decimal:
    """A float price snapped to the instrument's tick (market data arrives as floats)."""
    return ((exact(value) / tick).to_integral_value() * tick).quantize(tick)


@dataclass(frozen=True, slots=True)
class OrderSnapshot:
    """One IB order as TWS last described it. ``error_code``/``error`` come from the last entry
    of the trade's log that carried a TWS error (how a rejection is told from a cancel)."""

    order_ref: str
    order_id: int
    perm_id: int
    client_id: int
    symbol: str | None
    side: Side
    quantity: Decimal
    order_type: str
    tif: str
    status: str
    filled: Decimal
    limit_price: Decimal | None = None
    error_code: int = 0
    error: str = ""

    @property
    def venue_order_id(self) -> str:
        return str(self.perm_id) if self.perm_id else f"order-{self.order_id}"

    @property
    def working(self) -> bool:
        return self.status in WORKING


@dataclass(frozen=True, slots=True)
class ExecutionSnapshot:
    """One execution; ``commission`` is None until IB's commission report for it arrived."""

    exec_id: str
    order_ref: str
    perm_id: int
    symbol: str | None
    side: Side
    quantity: Decimal
    price: Decimal
    ts: int
    liquidity: Liquidity
    commission: Decimal | None = None
    commission_currency: str = ""


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """Cash per currency, positions of the configured contracts (by canonical symbol) and the
    account-level values (NetLiquidation … in ``base_currency``)."""

    account: str
    base_currency: str
    cash: dict[str, Decimal]
    positions: dict[str, Decimal]
    summary: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MarketUpdate:
    """One packet's worth of market data for one symbol: the book's levels (best first; a
    one-level book for L1) when they changed, and the trades printed."""

    symbol: str
    bids: list[BookLevel] | None
    asks: list[BookLevel] | None
    trades: list[tuple[Decimal, Decimal]]


@dataclass(frozen=True, slots=True)
class Session:
    """What a (re)connection found: the instruments (and the contracts IB could not resolve,
    with why) and the account."""

    server_version: int
    account: str
    instruments: list[Instrument]
    missing: dict[str, str]
    account_snapshot: AccountSnapshot


@dataclass(frozen=True, slots=True)
class ReconcileSnapshot:
    """IB's answer to the node's reconciliation: every order it knows of the day (open and
    completed, all client ids), executions since the point asked (with their commissions, where
    IB sent them), and positions with their average price per unit (IB's avgCost is per
    contract: divided by the contract's multiplier)."""

    orders: list[OrderSnapshot]
    executions: list[ExecutionSnapshot]
    positions: dict[str, Decimal]
    average_prices: dict[str, Decimal]
