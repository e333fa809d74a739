"""What this TWS remembers about orders and executions: the state it reports to clients and the
records a test compares a trading node against (what arrived, how often, what filled)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from .client_messages import OrderRequest
from .universe import Instrument

ZERO = Decimal(0)
WORKING = frozenset({"PreSubmitted", "Submitted"})


class OrderRejected(Exception):
    """TWS refuses an order or a cancel: ``code`` and ``message`` go out as an error frame."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(slots=True)
class OrderRecord:
    """An accepted order as TWS tracks it (mutable: status and fills change as it works)."""

    client_id: int
    order_id: int
    perm_id: int
    instrument: Instrument
    request: OrderRequest
    account: str
    exchange: str
    status: str
    placed_at: datetime
    filled: Decimal = ZERO
    fill_value: Decimal = ZERO
    last_fill_price: Decimal = ZERO
    commission: Decimal = ZERO
    triggered: bool = False
    resting: bool = False
    done_at: datetime | None = None
    cancel_reason: str = ""

    @property
    def buy(self) -> bool:
        return self.request.action == "BUY"

    @property
    def remaining(self) -> Decimal:
        return self.request.quantity - self.filled

    @property
    def average_price(self) -> Decimal:
        if not self.filled:
            return ZERO
        return (self.fill_value / self.filled).quantize(Decimal("0.00000001")).normalize()

    @property
    def working(self) -> bool:
        return self.status in WORKING

    @property
    def order_ref(self) -> str:
        return self.request.order_ref


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    exec_id: str
    time: datetime
    account: str
    client_id: int
    order_id: int
    perm_id: int
    instrument: Instrument
    exchange: str
    side: str
    """BOT or SLD, as TWS writes it."""
    shares: Decimal
    price: Decimal
    cum_qty: Decimal
    avg_price: Decimal
    order_ref: str
    model_code: str
    added_liquidity: bool
    commission: Decimal
    realized_pnl: Decimal | None
    """None for an execution that only opened (TWS sends its 'unset' double)."""


@dataclass(frozen=True, slots=True)
class ReceivedOrder:
    """One placeOrder message as it arrived, and what became of it."""

    time: datetime
    client_id: int
    order_id: int
    order_ref: str
    modification: bool
    rejected: OrderRejected | None = None
