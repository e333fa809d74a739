"""The node's orders as IB orders, and each one's life as the venue tracks it.

A ``SubmitOrder`` becomes an IB order whose ``orderRef`` is the node's client order id: that is
how an order and its executions are found again after a reconnect or a restart, whatever IB's
own order ids became. ``TrackedOrder`` keeps what the node has been told about one order (the
executions published, by IB execution id) and what IB said last, and decides the one final event
once every execution IB counted has been published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from node.messages import Instrument, OrderStatusReport, SubmitOrder, VenueCapabilities
from tradenode_ib import codes
from tradenode_ib.snapshots import ZERO, ExecutionSnapshot, OrderSnapshot

IB_ORDER_TYPES = {"market": "MKT", "limit": "LMT", "stop": "STP", "stop_limit": "STP LMT"}
IB_TIME_IN_FORCE = {"day": "DAY", "gtc": "GTC", "ioc": "IOC"}
#: IB statuses after which an order does nothing more
DONE = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})

Final = Literal["rejected", "canceled", "expired"]


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """One new IB order, exact (prices and quantity go on the wire as written)."""

    order_ref: str
    symbol: str
    action: Literal["BUY", "SELL"]
    quantity: Decimal
    order_type: str
    tif: str
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None


def refusal(
    order: SubmitOrder, instrument: Instrument | None, known: list[str], caps: VenueCapabilities
) -> str | None:
    """Why IB would refuse ``order`` (the node refuses it first, with the numbers), or None."""
    if instrument is None:
        return f"{order.symbol} is not a contract of this venue (known: {', '.join(known)})"
    if order.order_type not in caps.order_types:
        return f"order type {order.order_type} is not supported here"
    if order.time_in_force not in caps.time_in_force:
        allowed = ", ".join(caps.time_in_force)
        return f"time in force {order.time_in_force} is not supported by IB here ({allowed})"
    if order.post_only:
        return "IB has no post-only orders"
    if order.reduce_only:
        return "IB has no reduce-only orders"
    lot = instrument.lot_size
    if order.quantity <= 0 or order.quantity % lot:
        return f"quantity {order.quantity} is not a positive multiple of lot size {lot}"
    tick = instrument.tick_size
    prices = {
        "limit price": (order.limit_price, order.order_type in ("limit", "stop_limit")),
        "stop price": (order.stop_price, order.order_type in ("stop", "stop_limit")),
    }
    for name, (price, needed) in prices.items():
        if not needed:
            continue
        if price is None or not price.is_finite() or price <= 0:
            return f"a {order.order_type} order needs a positive {name}"
        if price % tick:
            return f"{name} {price} is not on tick size {tick}"
    return None


def request_for(order: SubmitOrder) -> OrderRequest:
    limit = order.limit_price if order.order_type in ("limit", "stop_limit") else None
    stop = order.stop_price if order.order_type in ("stop", "stop_limit") else None
    return OrderRequest(
        order_ref=order.client_order_id,
        symbol=order.symbol,
        action="BUY" if order.side == "buy" else "SELL",
        quantity=_plain(order.quantity),
        order_type=IB_ORDER_TYPES[order.order_type],
        tif=IB_TIME_IN_FORCE[order.time_in_force],
        limit_price=_plain(limit) if limit is not None else None,
        stop_price=_plain(stop) if stop is not None else None,
    )


def _plain(value: Decimal) -> Decimal:
    """Written without an exponent (``100``, not ``1E+2``): ib_async sends ``str(value)``."""
    return Decimal(f"{value:f}")


@dataclass
class TrackedOrder:
    """One of the node's orders at IB (see the module docstring).

    ``fills`` holds every execution the node has been told about, by execution id, whoever
    told it (this venue live, or the reconciler after a reconnect): nothing is published twice.
    ``waiting`` holds executions whose commission report has not arrived yet.
    """

    order: SubmitOrder
    #: the connection it was sent on (0: before this run)
    session: int = 0
    venue_order_id: str = ""
    accepted: bool = False
    fills: dict[str, Decimal] = field(default_factory=dict)
    waiting: dict[str, ExecutionSnapshot] = field(default_factory=dict)
    last: OrderSnapshot | None = None
    done: bool = False
    cancel_reason: str | None = None
    queued_cancel: str | None = None
    #: TWS refused the node's cancel and has not said since how the order ends (it may have
    #: filled: IB's account values may already count executions the node has not seen)
    cancel_refused: bool = False

    @property
    def client_order_id(self) -> str:
        return self.order.client_order_id

    @property
    def filled(self) -> Decimal:
        return sum(self.fills.values(), ZERO)

    def final(self) -> tuple[Final, str] | None:
        """The final event IB's last word calls for, once every execution it counted has been
        published (None while something is still to come, or the order is not finished)."""
        last = self.last
        if self.done or last is None or last.status not in DONE or self.waiting:
            return None
        if last.status == "Filled" or last.filled > self.filled:
            return None  # the fills themselves finish it, or are still to come
        code, text = last.error_code, last.error
        said = codes.describe(code, text) if code else ""
        if self.cancel_reason is not None:
            return "canceled", self.cancel_reason or said or "canceled"
        refused = _refused_by_ib(last)
        if refused and not self.accepted and not self.fills:
            return "rejected", said or f"IB set the order {last.status}"
        if self.immediate and not refused:
            return "expired", "immediate-or-cancel remainder"
        return "canceled", said or f"canceled at IB ({last.status})"

    @property
    def immediate(self) -> bool:
        return self.order.time_in_force == "ioc"


def report_status(
    snapshot: OrderSnapshot, immediate: bool
) -> Literal["open", "filled", "canceled", "expired", "rejected"]:
    """An IB order's status as the reconciler counts it."""
    if snapshot.working:
        return "open"
    if snapshot.status == "Filled":
        return "filled"
    refused = _refused_by_ib(snapshot)
    if refused and not snapshot.filled:
        return "rejected"
    return "expired" if immediate and not refused else "canceled"


def _refused_by_ib(snapshot: OrderSnapshot) -> bool:
    """IB ended the order itself (an error other than a cancel's, or Inactive)."""
    code = snapshot.error_code
    return bool(code and code not in codes.CANCEL_CODES) or snapshot.status == "Inactive"


def status_report(
    cid: str, order: SubmitOrder | None, snapshot: OrderSnapshot, filled: Decimal, ts: int
) -> OrderStatusReport:
    """``OrderStatusReport`` of one IB order; the node's own order (when it has it) gives the
    symbol, side and quantity."""
    immediate = (order.time_in_force == "ioc") if order is not None else snapshot.tif == "IOC"
    return OrderStatusReport(
        client_order_id=cid,
        venue_order_id=snapshot.venue_order_id,
        symbol=order.symbol if order is not None else (snapshot.symbol or ""),
        side=order.side if order is not None else snapshot.side,
        quantity=order.quantity if order is not None else snapshot.quantity,
        filled_quantity=max(filled, snapshot.filled),
        status=report_status(snapshot, immediate),
        limit_price=order.limit_price if order is not None else snapshot.limit_price,
        ts=ts,
    )
