"""The smart order router: decides where an order goes, and re-routes what did not fill.

It keeps each venue's latest L2 book (conflated: a burst of deltas costs one recomputation when
an order is routed, not one per delta), splits a parent order across venues at least total cost
net of taker fees within each venue's free balance, lot size and minimums (``node.split``), and
sends each share as an IOC limit order at the worst price allocated on that venue, so a book
that moved cannot fill it worse. What does not fill is re-routed on fresh books a bounded number
of times, never past the parent's limit price. Child orders go to risk, never straight to a venue.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np

from node.book import L2Book, precision_of
from node.component import Component
from node.config import RouterConfig
from node.messages import (
    FILL_TYPES,
    BalancesUpdated,
    BookDeltas,
    BookSnapshot,
    CancelParentOrder,
    ExecutionReport,
    Fill,
    HaltTrading,
    Instrument,
    InstrumentsLoaded,
    Message,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrderRouted,
    ParentOrderAccepted,
    ParentOrderCompleted,
    ParentOrderProgressed,
    ParentOrderRejected,
    RiskRejected,
    RouteLeg,
    Side,
    SubmitOrder,
    SubmitParentOrder,
    VenueConnected,
    VenueDisconnected,
    VenueFill,
)
from node.split import Split, VenueQuote, best_single_venue, split_order

_BPS = Decimal(10_000)
_MS = 1_000_000
_FINAL_EVENTS = (OrderExpired, OrderCanceled, OrderRejected, RiskRejected)


def _dec(value: float) -> Decimal:
    return Decimal(repr(value))


def _to_lots(quantity: Decimal, lot: Decimal, rounding: str) -> Decimal:
    return (quantity / lot).to_integral_value(rounding) * lot


def saving_bps(side: Side, ours: Decimal | None, theirs: Decimal | None) -> Decimal | None:
    """How much better our average net price is than theirs, in bps of theirs."""
    if ours is None or theirs is None or theirs == 0:
        return None
    diff = theirs - ours if side == "buy" else ours - theirs
    return _bps(diff / theirs)


def _bps(fraction: Decimal) -> Decimal:
    """A fraction in basis points to 0.01, never the negative zero rounding can leave."""
    value = (fraction * _BPS).quantize(Decimal("0.01"))
    return value if value else abs(value)


@dataclass
class _Child:
    venue: str
    quantity: Decimal
    done: bool = False


@dataclass
class _Parent:
    order: SubmitParentOrder
    started_ts: int
    arrival_mid: Decimal | None
    attempt: int = 0
    filled: Decimal = Decimal(0)
    notional: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    fee_currency: str = ""
    children: dict[str, _Child] = field(default_factory=dict)
    per_venue: dict[str, list[Decimal]] = field(default_factory=dict)  # qty, notional, fees
    banned: dict[str, str] = field(default_factory=dict)
    first_plan: OrderRouted | None = None
    canceled: str | None = None

    @property
    def remaining(self) -> Decimal:
        return self.order.quantity - self.filled

    def working(self) -> bool:
        return any(not c.done for c in self.children.values())


class Router(Component):
    """Routes ``SubmitParentOrder`` commands (algo ``route``) sent to address ``router``."""

    subscriptions = (
        BookSnapshot,
        BookDeltas,
        InstrumentsLoaded,
        BalancesUpdated,
        VenueConnected,
        VenueDisconnected,
        *FILL_TYPES,
        *_FINAL_EVENTS,
    )

    def __init__(self, config: RouterConfig, venues: list[str], name: str = "router") -> None:
        super().__init__(name)
        self.config = config
        self.venue_order = list(venues)
        self.books: dict[tuple[str, str], L2Book] = {}
        self.received: dict[tuple[str, str], int] = {}
        self.instruments: dict[tuple[str, str], Instrument] = {}
        self.free: dict[str, dict[str, Decimal]] = {}
        self.connected: set[str] = set()
        self.parents: dict[str, _Parent] = {}
        self.child_parent: dict[str, str] = {}
        self._quotes: dict[tuple[str, str, Side], tuple[int, Decimal, Decimal, VenueQuote]] = {}
        self.finished: set[str] = set()  # parent ids done: never reused, even after a restart
        self._restoring = False

    # -- restart --------------------------------------------------------------------------------

    def restore(self, history: Iterable[Message]) -> None:
        """Rebuild the parent orders from the journal: what was routed, filled and finished."""
        self._restoring = True
        try:
            for message in history:
                if isinstance(message, SubmitParentOrder):
                    if message.parent_id not in self.finished:
                        self.parents[message.parent_id] = _Parent(message, message.ts, None)
                elif isinstance(message, ParentOrderAccepted):
                    if message.parent_id in self.parents:
                        self.parents[message.parent_id].arrival_mid = message.arrival_mid
                elif isinstance(message, (ParentOrderRejected, ParentOrderCompleted)):
                    self.parents.pop(message.parent_id, None)
                    self.finished.add(message.parent_id)
                elif isinstance(message, OrderRouted):
                    self._restore_plan(message)
                elif isinstance(message, FILL_TYPES):
                    self._on_fill(message)
                elif isinstance(message, _FINAL_EVENTS):
                    self._on_final(message)
        finally:
            self._restoring = False

    def _restore_plan(self, routed: OrderRouted) -> None:
        parent = self.parents.get(routed.parent_id)
        if parent is None:
            return
        parent.attempt = routed.attempt
        parent.first_plan = parent.first_plan or routed
        for leg in routed.legs:
            parent.children[leg.client_order_id] = _Child(leg.venue, leg.quantity)
            self.child_parent[leg.client_order_id] = routed.parent_id

    def on_start(self) -> None:
        """Finish what a restart interrupted; never resend a child order whose fate is unknown.

        A child with no final state in the journal may have traded at its venue: its parent is
        closed on what the journal shows, and trading halts until someone has reconciled it.
        """
        for parent in list(self.parents.values()):
            unknown = sorted(cid for cid, child in parent.children.items() if not child.done)
            if unknown:
                reason = (
                    f"node restarted with child order(s) {', '.join(unknown)} in flight; their "
                    "outcome is not in the journal: reconcile with the venue before resuming"
                )
                self._complete(parent, reason)
                self.ctx.send(
                    "risk", HaltTrading(reason=reason, cancel_open_orders=False, ts=self.ctx.now())
                )
            else:
                self._complete(
                    parent, "node restarted before the order was finished; not re-routed"
                )

    # -- state ----------------------------------------------------------------------------------

    def on_message(self, message: Any) -> None:
        if isinstance(message, (BookSnapshot, BookDeltas)):
            key = (message.venue, message.symbol)
            book = self.books.get(key)
            if book is None:
                ins = self.instruments.get(key)
                precision = precision_of(ins.tick_size) if ins else 8
                book = self.books[key] = L2Book(message.venue, message.symbol, precision)
            book.apply(message)
            self.received[key] = self.ctx.now()
        elif isinstance(message, FILL_TYPES):
            self._on_fill(message)
        elif isinstance(message, _FINAL_EVENTS):
            self._on_final(message)
        elif isinstance(message, SubmitParentOrder):
            self._on_parent(message)
        elif isinstance(message, CancelParentOrder):
            parent = self.parents.get(message.parent_id)
            if parent is not None:
                parent.canceled = message.reason or "canceled"
                if not parent.working():
                    self._complete(parent)
        elif isinstance(message, BalancesUpdated):
            self.free[message.venue] = {c: b.free for c, b in message.balances.items()}
        elif isinstance(message, InstrumentsLoaded):
            for ins in message.instruments:
                self.instruments[(ins.venue, ins.symbol)] = ins
        elif isinstance(message, VenueConnected):
            self.connected.add(message.venue)
        elif isinstance(message, VenueDisconnected):
            self.connected.discard(message.venue)

    def consolidated_mid(self, symbol: str) -> Decimal | None:
        bids = [
            b.best_bid for (v, s), b in self.books.items() if s == symbol and v in self.connected
        ]
        asks = [
            b.best_ask for (v, s), b in self.books.items() if s == symbol and v in self.connected
        ]
        bids = [b for b in bids if b is not None]
        asks = [a for a in asks if a is not None]
        if not bids or not asks:
            return None
        if max(bids) < min(asks):
            return (max(bids) + min(asks)) / 2
        # Venues disagree so much that the consolidated book is crossed: its mid would say
        # nothing. Use the median of the venues' own mids instead.
        mids = sorted(
            m
            for (v, s), b in self.books.items()
            if s == symbol and v in self.connected and (m := b.mid()) is not None
        )
        return (
            mids[len(mids) // 2]
            if len(mids) % 2
            else (mids[len(mids) // 2 - 1] + mids[len(mids) // 2]) / 2
        )

    # -- routing --------------------------------------------------------------------------------

    def _on_parent(self, order: SubmitParentOrder) -> None:
        now = self.ctx.now()
        problem = None
        if order.parent_id in self.parents or order.parent_id in self.finished:
            problem = f"duplicate parent id {order.parent_id}"
        elif order.algo != "route":
            problem = (
                f"unknown algorithm {order.algo!r}: this node works parent orders with 'route' "
                "(split across venues at once); algorithm executors are not part of it yet"
            )
        elif order.quantity <= 0:
            problem = f"quantity {order.quantity} is not positive"
        elif not any(s == order.symbol for (_, s) in self.instruments):
            known = ", ".join(sorted({s for (_, s) in self.instruments})) or "none"
            problem = f"unknown symbol {order.symbol} (known: {known})"
        if problem:
            self.ctx.publish(ParentOrderRejected(parent_id=order.parent_id, reason=problem, ts=now))
            return
        parent = _Parent(order, now, self.consolidated_mid(order.symbol))
        self.parents[order.parent_id] = parent
        self.ctx.publish(
            ParentOrderAccepted(
                parent_id=order.parent_id,
                symbol=order.symbol,
                side=order.side,
                quantity=order.quantity,
                algo=order.algo,
                arrival_mid=parent.arrival_mid,
                ts=now,
            )
        )
        self._route(parent)

    def _quote(self, ins: Instrument, side: Side, quantity: Decimal, free: Decimal) -> VenueQuote:
        """The venue's side of the book as the kernel takes it, with its fee, balance, lot and
        minimums; rebuilt only when the book or the balance changed (conflation)."""
        key = (ins.venue, ins.symbol, side)
        book = self.books[(ins.venue, ins.symbol)]
        cached = self._quotes.get(key)
        if (
            cached is not None
            and cached[0] == book.version
            and cached[1] >= quantity
            and cached[2] == free
        ):
            return cached[3]
        quote = VenueQuote.from_levels(
            ins.venue,
            book.sweep(side, quantity),
            float(ins.taker_fee),
            capacity=float(free),
            lot_size=float(ins.lot_size),
            min_quantity=float(ins.min_quantity),
            min_notional=float(ins.min_notional),
        )
        self._quotes[key] = (book.version, quantity, free, quote)
        return quote

    def eligible(self, parent: _Parent) -> tuple[list[VenueQuote], dict[str, str]]:
        order = parent.order
        now = self.ctx.now()
        quotes: list[VenueQuote] = []
        excluded: dict[str, str] = {}
        max_age = int(self.config.max_book_age_ms * _MS)
        for venue in self.venue_order:
            key = (venue, order.symbol)
            ins = self.instruments.get(key)
            if order.venues is not None and venue not in order.venues:
                excluded[venue] = "not in the order's venues"
            elif ins is None:
                excluded[venue] = f"does not list {order.symbol}"
            elif not ins.tradable:
                excluded[venue] = f"{order.symbol} not tradable"
            elif venue in parent.banned:
                excluded[venue] = parent.banned[venue]
            elif venue not in self.connected:
                excluded[venue] = "disconnected"
            elif key not in self.books:
                excluded[venue] = "no order book yet"
            elif now - self.received[key] > max_age:
                age_ms = (now - self.received[key]) / _MS
                excluded[venue] = (
                    f"stale book: {age_ms:,.0f} ms old > {self.config.max_book_age_ms:,.0f} ms"
                )
            elif venue not in self.free:
                excluded[venue] = "no balance reported"
            else:
                currency = ins.quote if order.side == "buy" else ins.base
                free = self.free[venue].get(currency, Decimal(0))
                if free <= 0:
                    excluded[venue] = f"no free {currency}"
                    continue
                quotes.append(self._quote(ins, order.side, parent.remaining, free))
        return quotes, excluded

    def _route(self, parent: _Parent) -> None:
        order = parent.order
        parent.attempt += 1
        quotes, excluded = self.eligible(parent)
        now = self.ctx.now()
        limit = float(order.limit_price) if order.limit_price is not None else None
        quantity = float(parent.remaining)
        quotes = [q for q in quotes if q.prices.size]
        if not quotes:
            reason = "no venue can take the order: " + "; ".join(
                f"{v}: {r}" for v, r in excluded.items()
            )
            self._complete(parent, reason)
            return
        splitter = split_order if self.config.mode == "split" else best_single_venue
        plan = splitter(order.side, quantity, quotes, limit)
        best = _whole(best_single_venue(order.side, quantity, quotes, limit), plan)
        first = _whole(best_single_venue(order.side, quantity, quotes[:1], limit), plan)
        legs = self._legs(parent, plan)
        capped = _trimmed(plan, legs)
        if capped:
            # Some buy legs were cut to what the venue's balance holds at the limit price: plan
            # again with those venues capped there, so the rest goes elsewhere now, not later.
            quotes = [
                replace(q, capacity=_spend(q, capped[q.venue])) if q.venue in capped else q
                for q in quotes
            ]
            plan = splitter(order.side, quantity, quotes, limit)
            legs = self._legs(parent, plan)
        expected = _avg(plan)
        best_avg = _avg(best)
        first_avg = _avg(first)
        routed = OrderRouted(
            parent_id=order.parent_id,
            attempt=parent.attempt,
            mode=self.config.mode,
            symbol=order.symbol,
            side=order.side,
            quantity=parent.remaining,
            legs=legs,
            expected_average_price=expected,
            expected_fees=sum((leg.expected_fee for leg in legs), Decimal(0)),
            unroutable_quantity=parent.remaining - sum((leg.quantity for leg in legs), Decimal(0)),
            best_venue=best.allocations[0].venue if best and best.allocations else None,
            best_venue_average_price=best_avg,
            saving_bps_vs_best_venue=saving_bps(order.side, expected, best_avg),
            first_venue=quotes[0].venue if first else None,
            first_venue_average_price=first_avg,
            saving_bps_vs_first_venue=saving_bps(order.side, expected, first_avg),
            excluded=excluded,
            ts=now,
        )
        self.ctx.publish(routed)
        if parent.first_plan is None:
            parent.first_plan = routed
        if not legs:
            self._complete(parent, "nothing routable within the limit price, balances and minimums")
            return
        for leg in legs:
            parent.children[leg.client_order_id] = _Child(leg.venue, leg.quantity)
            self.child_parent[leg.client_order_id] = order.parent_id
            self.ctx.send(
                "risk",
                SubmitOrder(
                    client_order_id=leg.client_order_id,
                    venue=leg.venue,
                    symbol=order.symbol,
                    side=order.side,
                    quantity=leg.quantity,
                    order_type="limit",
                    limit_price=leg.limit_price,
                    time_in_force="ioc",
                    parent_id=order.parent_id,
                    ts=now,
                ),
            )

    def _legs(self, parent: _Parent, plan: Split) -> list[RouteLeg]:
        """Child orders from the float plan, snapped to each venue's lot and tick.

        A venue holds back a limit buy's full quantity at its limit price (plus fee), not at the
        average the plan expects, so a buy leg is trimmed to what that reservation allows
        (``_route`` then plans again with that venue capped). Float round-off between legs is
        given back to the largest leg so that the legs add up to what the plan filled.
        """
        order = parent.order
        sizes: dict[str, Decimal] = {}
        prices: dict[str, Decimal] = {}
        for alloc in plan.allocations:
            ins = self.instruments[(alloc.venue, order.symbol)]
            rounding = ROUND_CEILING if order.side == "buy" else ROUND_FLOOR
            price = (_dec(alloc.worst_price) / ins.tick_size).to_integral_value(
                rounding
            ) * ins.tick_size
            if order.limit_price is not None:
                price = (
                    min(price, order.limit_price)
                    if order.side == "buy"
                    else max(price, order.limit_price)
                )
            prices[alloc.venue] = price
            sizes[alloc.venue] = _to_lots(_dec(alloc.quantity), ins.lot_size, ROUND_HALF_EVEN)
        if sizes:
            largest = max(sizes, key=sizes.__getitem__)
            lot = self.instruments[(largest, order.symbol)].lot_size
            target = min(parent.remaining, _to_lots(_dec(plan.filled), lot, ROUND_HALF_EVEN))
            drift = target - sum(sizes.values())
            if abs(drift) <= lot * len(sizes):
                sizes[largest] += drift
        legs = []
        for alloc in plan.allocations:
            ins = self.instruments[(alloc.venue, order.symbol)]
            quantity, price = sizes[alloc.venue], prices[alloc.venue]
            if order.side == "buy":
                free = self.free.get(alloc.venue, {}).get(ins.quote, Decimal(0))
                affordable = _to_lots(
                    free / (price * (1 + ins.taker_fee)), ins.lot_size, ROUND_FLOOR
                )
                quantity = min(quantity, affordable)
            if quantity <= 0 or quantity * price < ins.min_notional or quantity < ins.min_quantity:
                continue
            legs.append(
                RouteLeg(
                    venue=alloc.venue,
                    client_order_id=f"{order.parent_id}.{parent.attempt}.{alloc.venue}",
                    quantity=quantity,
                    limit_price=price,
                    expected_average_price=_dec(alloc.average_price).quantize(ins.tick_size / 100),
                    expected_fee=_dec(alloc.fee).quantize(Decimal("0.00000001")) or Decimal(0),
                )
            )
        return legs

    # -- child events ---------------------------------------------------------------------------

    def _on_fill(self, fill: Fill) -> None:
        parent = self.parents.get(self.child_parent.get(fill.client_order_id, ""))
        if parent is None:
            return
        child = parent.children[fill.client_order_id]
        parent.filled += fill.quantity
        notional = fill.price * fill.quantity
        parent.notional += notional
        parent.fees += fill.fee
        parent.fee_currency = fill.fee_currency
        stats = parent.per_venue.setdefault(fill.venue, [Decimal(0), Decimal(0), Decimal(0)])
        stats[0] += fill.quantity
        stats[1] += notional
        stats[2] += fill.fee
        if self._restoring:
            if fill.leaves_quantity <= 0:
                child.done = True
            return
        self.ctx.publish(
            ParentOrderProgressed(
                parent_id=parent.order.parent_id,
                filled_quantity=parent.filled,
                remaining_quantity=parent.remaining,
                average_price=parent.notional / parent.filled,
                ts=self.ctx.now(),
            )
        )
        if fill.leaves_quantity <= 0:
            child.done = True
            self._after_child(parent)

    def _on_final(self, event: Any) -> None:
        parent = self.parents.get(self.child_parent.get(event.client_order_id, ""))
        if parent is None:
            return
        child = parent.children[event.client_order_id]
        if child.done:
            return
        child.done = True
        if isinstance(event, (OrderRejected, RiskRejected)):
            why = (
                event.reason
                if isinstance(event, OrderRejected)
                else f"{event.check}: {event.detail}"
            )
            parent.banned[child.venue] = f"rejected: {why}"
        if not self._restoring:
            self._after_child(parent)

    def _after_child(self, parent: _Parent) -> None:
        if parent.working():
            return
        if (
            parent.canceled is None
            and parent.remaining > 0
            and parent.attempt <= self.config.max_reroutes
        ):
            self._route(parent)
        else:
            self._complete(parent)

    def _complete(self, parent: _Parent, reason: str = "") -> None:
        order = parent.order
        if order.parent_id not in self.parents:
            return
        del self.parents[order.parent_id]
        self.finished.add(order.parent_id)
        now = self.ctx.now()
        avg = parent.notional / parent.filled if parent.filled else None
        slippage = None
        if avg is not None and parent.arrival_mid:
            sign = 1 if order.side == "buy" else -1
            slippage = _bps(sign * (avg - parent.arrival_mid) / parent.arrival_mid)
        if parent.filled >= order.quantity:
            status = "filled"
        elif parent.canceled is not None:
            status = "canceled"
            reason = reason or parent.canceled
        elif parent.filled > 0:
            status = "partially_filled"
        else:
            status = "unfilled"
        if status not in ("filled", "canceled") and not reason:
            reason = f"{parent.remaining} left after {parent.attempt} routing attempt(s)"
        plan = parent.first_plan
        net_avg = None
        if parent.filled:
            sign = 1 if order.side == "buy" else -1
            net_avg = (parent.notional + sign * parent.fees) / parent.filled
        report = ExecutionReport(
            parent_id=order.parent_id,
            symbol=order.symbol,
            side=order.side,
            requested_quantity=order.quantity,
            filled_quantity=parent.filled,
            average_price=avg,
            arrival_mid=parent.arrival_mid,
            slippage_bps=slippage,
            fees=parent.fees,
            fee_currency=parent.fee_currency,
            child_orders=len(parent.children),
            venues=[
                VenueFill(
                    venue=v,
                    quantity=q,
                    average_price=n / q,
                    fees=f,
                    fee_currency=parent.fee_currency,
                )
                for v, (q, n, f) in sorted(parent.per_venue.items())
            ],
            started_ts=parent.started_ts,
            finished_ts=now,
            expected_average_price=plan.expected_average_price if plan else None,
            best_venue=plan.best_venue if plan else None,
            best_venue_average_price=plan.best_venue_average_price if plan else None,
            saving_bps_vs_best_venue=saving_bps(
                order.side, net_avg, plan.best_venue_average_price if plan else None
            ),
        )
        for cid in parent.children:
            self.child_parent.pop(cid, None)
        self.ctx.publish(
            ParentOrderCompleted(
                parent_id=order.parent_id, status=status, reason=reason, report=report, ts=now
            )
        )


def _trimmed(plan: Split, legs: list[RouteLeg]) -> dict[str, float]:
    """Venues whose leg came out smaller than the plan gave them, with what they did get."""
    got = {leg.venue: float(leg.quantity) for leg in legs}
    return {
        a.venue: got.get(a.venue, 0.0)
        for a in plan.allocations
        if got.get(a.venue, 0.0) < a.quantity * (1 - 1e-9)
    }


def _spend(quote: VenueQuote, quantity: float) -> float:
    """What taking ``quantity`` from the top of ``quote``'s book costs, fee included (a hair
    under, so that float round-off cannot give the venue more than that quantity back)."""
    sizes = np.minimum(
        quote.sizes, np.maximum(quantity - (np.cumsum(quote.sizes) - quote.sizes), 0)
    )
    return float(np.dot(quote.prices, sizes)) * (1 + quote.fee) * (1 - 1e-12)


def _whole(single: Split, plan: Split) -> Split | None:
    """A single-venue alternative only counts if it fills what the plan fills; otherwise
    comparing average prices would compare different orders."""
    return single if single.filled >= plan.filled * (1 - 1e-9) else None


def _avg(split: Split | None) -> Decimal | None:
    """Average price net of fees, as the report states it."""
    if split is None or split.filled <= 0:
        return None
    return _dec(split.cost / split.filled).quantize(Decimal("0.0001"))
