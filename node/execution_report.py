"""Execution reports, built in one place from what the journal says a parent order did."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from node.messages import (
    ExecutionReport,
    Fill,
    ParentStatus,
    Side,
    SliceRouted,
    SubmitParentOrder,
    VenueFill,
)

_BPS = Decimal(10_000)
ZERO = Decimal(0)


def bps(fraction: Decimal) -> Decimal:
    """A fraction in basis points to 0.01, never the negative zero rounding can leave."""
    value = (fraction * _BPS).quantize(Decimal("0.01"))
    return value if value else abs(value)


def saving_bps(side: Side, ours: Decimal | None, theirs: Decimal | None) -> Decimal | None:
    """How much better our average net price is than theirs, in bps of theirs."""
    if ours is None or theirs is None or theirs == 0:
        return None
    diff = theirs - ours if side == "buy" else ours - theirs
    return bps(diff / theirs)


def shortfall_bps(side: Side, average: Decimal | None, arrival: Decimal | None) -> Decimal | None:
    """Implementation shortfall of ``average`` against the arrival mid: positive is a cost."""
    if average is None or not arrival:
        return None
    sign = 1 if side == "buy" else -1
    return bps(sign * (average - arrival) / arrival)


@dataclass
class ParentFills:
    """What a parent's children did, per venue, as fills arrive."""

    filled: Decimal = ZERO
    notional: Decimal = ZERO
    fees: Decimal = ZERO
    fee_currency: str = ""
    per_venue: dict[str, list[Decimal]] = field(default_factory=dict)  # qty, notional, fees
    children: set[str] = field(default_factory=set)
    first_plan: SliceRouted | None = None
    seen: set[tuple[str, str]] = field(default_factory=set)

    def add_fill(self, fill: Fill) -> bool:
        """Count a fill once (a venue may resend one after a reconnect); True if new."""
        key = (fill.venue, fill.trade_id)
        if fill.trade_id and key in self.seen:
            return False
        self.seen.add(key)
        notional = fill.price * fill.quantity
        self.filled += fill.quantity
        self.notional += notional
        self.fees += fill.fee
        self.fee_currency = self.fee_currency or fill.fee_currency
        stats = self.per_venue.setdefault(fill.venue, [ZERO, ZERO, ZERO])
        stats[0] += fill.quantity
        stats[1] += notional
        stats[2] += fill.fee
        return True

    def add_plan(self, plan: SliceRouted) -> None:
        if self.first_plan is None:
            self.first_plan = plan
        self.children.update(leg.client_order_id for leg in plan.legs)

    @property
    def average_price(self) -> Decimal | None:
        return self.notional / self.filled if self.filled else None


def derive_status(order: SubmitParentOrder, fills: ParentFills, canceled: bool) -> ParentStatus:
    if fills.filled >= order.quantity:
        return "filled"
    if canceled:
        return "canceled"
    return "partially_filled" if fills.filled > 0 else "unfilled"


def build_report(
    order: SubmitParentOrder,
    fills: ParentFills,
    arrival_mid: Decimal | None,
    started_ts: int,
    finished_ts: int,
) -> ExecutionReport:
    average = fills.average_price
    plan = fills.first_plan
    if plan is not None and plan.quantity != order.quantity:
        plan = None  # a plan for one slice says nothing about the whole order
    net_average = None
    if fills.filled:
        sign = 1 if order.side == "buy" else -1
        net_average = (fills.notional + sign * fills.fees) / fills.filled
    return ExecutionReport(
        parent_id=order.parent_id,
        symbol=order.symbol,
        side=order.side,
        algo=order.algo,
        requested_quantity=order.quantity,
        filled_quantity=fills.filled,
        average_price=average,
        arrival_mid=arrival_mid,
        shortfall_bps=shortfall_bps(order.side, average, arrival_mid),
        fees=fills.fees,
        fee_currency=fills.fee_currency,
        child_orders=len(fills.children),
        venues=[
            VenueFill(
                venue=venue,
                quantity=q,
                average_price=n / q,
                fees=f,
                fee_currency=fills.fee_currency,
            )
            for venue, (q, n, f) in sorted(fills.per_venue.items())
            if q
        ],
        started_ts=started_ts,
        finished_ts=finished_ts,
        expected_average_price=plan.expected_average_price if plan else None,
        best_venue=plan.best_venue if plan else None,
        best_venue_average_price=plan.best_venue_average_price if plan else None,
        saving_bps_vs_best_venue=saving_bps(
            order.side, net_average, plan.best_venue_average_price if plan else None
        ),
    )
