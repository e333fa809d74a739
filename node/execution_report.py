"""Execution reports, built in one place from what the journal says a parent order did."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from node.messages import (
    ExecutionReport,
    Fill,
    Instrument,
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


def currencies(symbol: str, instruments: Iterable[Instrument] = ()) -> tuple[str, str] | None:
    """The base and quote of ``symbol``: its instrument's (the first venue's by name), else those
    a ``BASE/QUOTE`` symbol names (ccxt's unified form, ``BTC/USDT:USDT`` for a swap), else None:
    a bare ticker (``AAPL``) names neither, and no fee is guessed to be in the quote then."""
    listed = sorted((i for i in instruments if i.symbol == symbol), key=lambda i: i.venue)
    if listed:
        return listed[0].base, listed[0].quote
    base, slash, rest = symbol.partition("/")
    quote = rest.partition(":")[0]
    return (base, quote) if slash and base and quote else None


def charge(charged: dict[str, list[Decimal]], fill: Fill) -> None:
    """Add ``fill``'s fee to ``charged``: fee currency → [fee, fee × the fill's price] (the
    second is what the fee is worth in the quote, should its currency be the base)."""
    if fill.fee:
        entry = charged.setdefault(fill.fee_currency, [ZERO, ZERO])
        entry[0] += fill.fee
        entry[1] += fill.fee * fill.price


def split_fees(
    charged: dict[str, list[Decimal]], pair: tuple[str, str] | None
) -> tuple[Decimal, dict[str, Decimal]]:
    """Fees as ``charge`` keeps them, as (their total in the quote, the rest per currency).

    Fees in the quote count as they are, fees in the base at their fills' prices; any other
    currency (BNB …) has no price here, so it is kept apart, never added. With no known
    ``pair`` (base, quote) no fee is counted in the quote: all are kept apart.
    """
    base, quote = pair if pair is not None else (None, None)
    in_quote = ZERO
    other: dict[str, Decimal] = {}
    for currency, (amount, value) in sorted(charged.items()):
        if currency == quote:
            in_quote += amount
        elif currency == base:
            in_quote += value
        elif amount:
            other[currency] = amount
    return in_quote, other


@dataclass
class ParentFills:
    """What a parent's children did, per venue, as fills arrive."""

    filled: Decimal = ZERO
    notional: Decimal = ZERO
    #: the first fill's fee currency: only to read a checkpoint written before fees were kept
    #: per currency (see ``venue_fees``)
    fee_currency: str = ""
    per_venue: dict[str, list[Decimal]] = field(default_factory=dict)  # qty, notional, fees*
    #: venue → fee currency → [fee, fee × price] (``charge``); *``per_venue``'s fees are the
    #: fees as charged, whatever their currency, summed: only ``venue_fees`` reads them
    fees_charged: dict[str, dict[str, list[Decimal]]] = field(default_factory=dict)
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
        self.fee_currency = self.fee_currency or fill.fee_currency
        stats = self.per_venue.setdefault(fill.venue, [ZERO, ZERO, ZERO])
        stats[0] += fill.quantity
        stats[1] += notional
        stats[2] += fill.fee
        charge(self.fees_charged.setdefault(fill.venue, {}), fill)
        return True

    def venue_fees(self, venue: str) -> dict[str, list[Decimal]]:
        """What ``venue`` charged, per currency (``charge``). Fees a checkpoint of an older node
        summed without their currency are taken to be in its first fill's fee currency and, if
        that is the base, valued at the venue's average price."""
        charged = self.fees_charged.get(venue, {})
        quantity, notional, fees = self.per_venue.get(venue, (ZERO, ZERO, ZERO))
        untold = fees - sum((amount for amount, _ in charged.values()), ZERO)
        if not untold or not quantity:
            return charged
        amount, value = charged.get(self.fee_currency, (ZERO, ZERO))
        return {
            **charged,
            self.fee_currency: [amount + untold, value + untold * notional / quantity],
        }

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
    instruments: Iterable[Instrument] = (),
) -> ExecutionReport:
    """The report of ``order``; ``instruments`` (any, of any symbol) say what the symbol's base
    and quote are, which fees are reported in (``currencies``, ``split_fees``)."""
    pair = currencies(order.symbol, instruments)
    quote = pair[1] if pair is not None else ""
    average = fills.average_price
    plan = fills.first_plan
    if plan is not None and plan.quantity != order.quantity:
        plan = None  # a plan for one slice says nothing about the whole order
    fees = ZERO
    other_fees: dict[str, Decimal] = {}
    venues = []
    for venue, (q, n, _) in sorted(fills.per_venue.items()):
        venue_fees, venue_other = split_fees(fills.venue_fees(venue), pair)
        fees += venue_fees
        for currency, amount in venue_other.items():
            other_fees[currency] = other_fees.get(currency, ZERO) + amount
        if q:
            venues.append(
                VenueFill(
                    venue=venue,
                    quantity=q,
                    average_price=n / q,
                    fees=venue_fees,
                    fee_currency=quote,
                    other_fees=venue_other,
                )
            )
    net_average = None
    if fills.filled:
        sign = 1 if order.side == "buy" else -1
        net_average = (fills.notional + sign * fees) / fills.filled  # other_fees have no price
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
        fees=fees,
        fee_currency=quote,
        other_fees={c: a for c, a in other_fees.items() if a},
        child_orders=len(fills.children),
        venues=venues,
        started_ts=started_ts,
        finished_ts=finished_ts,
        expected_average_price=plan.expected_average_price if plan else None,
        best_venue=plan.best_venue if plan else None,
        best_venue_average_price=plan.best_venue_average_price if plan else None,
        saving_bps_vs_best_venue=saving_bps(
            order.side, net_average, plan.best_venue_average_price if plan else None
        ),
    )
