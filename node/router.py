"""The smart order router, a service: executors ask it to trade a slice; it decides where.

A ``take`` slice is split across the eligible venues at least total cost net of taker fees,
within each venue's free balance, lot size and minimums (``node.split`` on the node's one book
per venue, ``node.legs`` to exact child orders), and sent as IOC limit children at the deepest
price each venue's share takes, so a book that moved cannot fill it worse. What does not fill is
re-routed on fresh books a bounded number of times, never past the slice's limit. A ``post``
slice rests as a limit order (post-only where the venue supports it) on the venue with the
cheapest maker fee that has room for it. Children always go through risk, never straight to a
venue, and never add up to more than their slice.

The router reports back to the executor by publishing ``SliceRouted`` (each plan, with what it
expects to save against the best single venue) and ``SliceCompleted``; the runtime delivers them,
and the children's fills, to the executor by correlation. The router owns no parent order: a
restart of the router (or of anything else) leaves every parent working.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import msgspec

from node.client_ids import child_order_id
from node.component import Component, Envelope, decode_state, encode_state
from node.config import RouterConfig
from node.execution_report import saving_bps
from node.legs import (
    VenuePlan,
    band_children,
    floor_to,
    snap_inside,
    to_decimal,
    venue_quantities,
)
from node.market import MarketState
from node.messages import (
    FILL_TYPES,
    FINAL_ORDER_EVENTS,
    CancelOrder,
    CancelSlice,
    Fill,
    Instrument,
    Message,
    NodeReady,
    OrderRejected,
    RiskRejected,
    RouteLeg,
    RouteSlice,
    Side,
    SliceCompleted,
    SliceRouted,
    SliceStatus,
    SubmitOrder,
)
from node.runtime.base import describe_error
from node.split import Split, VenueQuote, best_single_venue, split_order

log = logging.getLogger("tradenode.router")
_MS = 1_000_000
ZERO = Decimal(0)


@dataclass
class _Child:
    venue: str
    quantity: Decimal
    filled: Decimal = ZERO
    done: bool = False


@dataclass
class _Slice:
    request: RouteSlice
    attempt: int = 0
    filled: Decimal = ZERO
    children: dict[str, _Child] = field(default_factory=dict)
    banned: dict[str, str] = field(default_factory=dict)
    canceling: str | None = None
    failure: str | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.request.parent_id, self.request.slice_id)

    @property
    def remaining(self) -> Decimal:
        return self.request.quantity - self.filled

    def working(self) -> bool:
        return any(not c.done for c in self.children.values())


class _RouterState(msgspec.Struct):
    slices: list[_Slice]


class Router(Component):
    """See the module docstring. Address ``router``."""

    subscriptions = (*FILL_TYPES, *FINAL_ORDER_EVENTS, NodeReady)

    def __init__(
        self, config: RouterConfig, venues: list[str], market: MarketState, name: str = "router"
    ) -> None:
        super().__init__(name)
        self.config = config
        self.venue_order = list(venues)
        self.market = market
        self.slices: dict[tuple[str, int], _Slice] = {}
        self.child_slice: dict[str, tuple[str, int]] = {}
        self.ready = False
        self._restored = False

    # -- restart --------------------------------------------------------------------------------

    def restore(self, history: Iterable[Envelope]) -> None:
        """Rebuild the open slices and their children from the journal."""
        planned: dict[str, tuple[str, int]] = {}
        for envelope in history:
            message = envelope.message
            cls = message.__class__
            if cls is RouteSlice and envelope.destination == self.name:
                work = _Slice(message)  # type: ignore[arg-type]
                self.slices[work.key] = work
            elif cls is SliceRouted:
                key = (message.parent_id, message.slice_id)  # type: ignore[attr-defined]
                work = self.slices.get(key)
                if work is not None:
                    work.attempt = message.attempt  # type: ignore[attr-defined]
                    for leg in message.legs:  # type: ignore[attr-defined]
                        planned[leg.client_order_id] = key
            elif cls is SubmitOrder and envelope.sender == self.name:
                # Only children the journal shows as sent count (a crash may fall between
                # the plan and its last child).
                cid = message.client_order_id  # type: ignore[attr-defined]
                work = self.slices.get(planned.get(cid, ("", 0)))
                if work is not None:
                    work.children[cid] = _Child(message.venue, message.quantity)  # type: ignore[attr-defined]
                    self.child_slice[cid] = work.key
            elif cls is CancelSlice:
                work = self.slices.get((message.parent_id, message.slice_id))  # type: ignore[attr-defined]
                if work is not None:
                    work.canceling = message.reason or "canceled"  # type: ignore[attr-defined]
            elif cls is SliceCompleted:
                key = (message.parent_id, message.slice_id)  # type: ignore[attr-defined]
                self._forget(key)
            elif cls in FILL_TYPES:
                self._count_fill(message)  # type: ignore[arg-type]
            elif isinstance(message, FINAL_ORDER_EVENTS):
                self._close_child(message, reroute=False)
        self._restored = bool(self.slices)  # what a stop interrupted resumes once ready

    def checkpoint(self) -> bytes:
        return encode_state(_RouterState(list(self.slices.values())))

    def restore_checkpoint(self, state: bytes) -> None:
        saved = decode_state(state, _RouterState)
        self.slices = {work.key: work for work in saved.slices}
        self.child_slice = {cid: w.key for w in saved.slices for cid in w.children}

    # -- messages -------------------------------------------------------------------------------

    def on_message(self, message: Message) -> None:
        cls = message.__class__
        if cls in FILL_TYPES:
            work = self._count_fill(message)  # type: ignore[arg-type]
            if work is not None and message.leaves_quantity <= 0:  # type: ignore[attr-defined]
                self._after_child(work)
        elif cls is RouteSlice:
            self._on_slice(message)  # type: ignore[arg-type]
        elif cls is CancelSlice:
            self._on_cancel(message)  # type: ignore[arg-type]
        elif cls is NodeReady:
            self.ready = True
            self._resume_restored()
        elif isinstance(message, FINAL_ORDER_EVENTS):
            work = self._close_child(message, reroute=True)
            if work is not None:
                self._after_child(work)

    def _resume_restored(self) -> None:
        """Slices the journal left open with nothing working: finish what a stop interrupted."""
        if not self._restored:
            return
        self._restored = False
        for work in list(self.slices.values()):
            if not work.working():
                self._after_child(work)

    def _on_slice(self, request: RouteSlice) -> None:
        work = _Slice(request)
        if work.key in self.slices:
            log.warning("slice %s/%d routed twice; ignored", *work.key)
            return
        self.slices[work.key] = work
        if request.urgency == "post":
            self._guarded(work, self._post)
        else:
            self._guarded(work, self._take)

    def _guarded(self, work: _Slice, step) -> None:
        """Route a slice; a failure of the routing fails the slice with its reason, never the
        router (a bad request must not stop every other parent's routing)."""
        try:
            step(work)
        except Exception as exc:
            work.failure = f"routing failed: {describe_error(exc)}"
            log.error("slice %s/%d: %s", *work.key, work.failure)
            if not work.working():
                self._complete(work)

    def _on_cancel(self, command: CancelSlice) -> None:
        work = self.slices.get((command.parent_id, command.slice_id))
        if work is None:
            return
        work.canceling = command.reason or "canceled"
        if not work.working():
            self._complete(work)
            return
        now = self.ctx.now()
        for cid, child in work.children.items():
            if not child.done:
                self.ctx.send(
                    "risk",
                    CancelOrder(
                        client_order_id=cid,
                        venue=child.venue,
                        reason=work.canceling,
                        parent_id=command.parent_id,
                        ts=now,
                    ),
                )

    # -- eligibility ----------------------------------------------------------------------------

    def _eligible(self, work: _Slice, side: Side) -> tuple[list[Instrument], dict[str, str]]:
        request = work.request
        now = self.ctx.now()
        max_age = int(self.config.max_book_age_ms * _MS)
        eligible: list[Instrument] = []
        excluded: dict[str, str] = {}
        for venue in self.venue_order:
            ins = self.market.instrument(venue, request.symbol)
            state = self.market.venues.get(venue)
            book = self.market.existing_book(venue, request.symbol)
            if request.venues is not None and venue not in request.venues:
                excluded[venue] = "not in the order's venues"
            elif ins is None:
                excluded[venue] = f"does not list {request.symbol}"
            elif not ins.tradable:
                excluded[venue] = f"{request.symbol} not tradable"
            elif venue in work.banned:
                excluded[venue] = work.banned[venue]
            elif state is None or not state.connected:
                excluded[venue] = state.reason if state is not None else "disconnected"
            elif book is None or book.is_empty():
                excluded[venue] = "no order book yet"
            elif not book.static and now - book.received_ns > max_age:
                age_ms = (now - book.received_ns) / _MS
                excluded[venue] = (
                    f"stale book: {age_ms:,.0f} ms old > {self.config.max_book_age_ms:,.0f} ms"
                )
            elif state.balances is None:
                excluded[venue] = "no balance reported"
            else:
                currency = ins.quote if side == "buy" else ins.base
                if self._free(ins, side) <= 0:
                    excluded[venue] = f"no free {currency}"
                else:
                    eligible.append(ins)
        return eligible, excluded

    def _free(self, ins: Instrument, side: Side) -> Decimal:
        """The venue's free balance of what the order spends (quote for a buy, base for a sell)
        as the venue last reported it. Children sent since are not subtracted here: risk's
        ``free_balance`` check (the ledger less every open order) is what refuses a child the
        balance cannot hold when parents route at once."""
        state = self.market.venues[ins.venue]
        if ins.is_derivative:
            return Decimal("Infinity")  # margin is the venue's to check; risk checks exposure
        currency = ins.quote if side == "buy" else ins.base
        balance = (state.balances or {}).get(currency)
        return balance.free if balance is not None else ZERO

    def _collar(self, symbol: str) -> tuple[Decimal, Decimal] | None:
        mid = self.market.consolidated_mid(symbol)
        if mid is None:
            return None
        band = mid * self.config.price_collar_pct / 100
        return mid - band, mid + band

    # -- take -----------------------------------------------------------------------------------

    def _take(self, work: _Slice) -> None:
        request = work.request
        side = request.side
        work.attempt += 1
        eligible, excluded = self._eligible(work, side)
        collar = self._collar(request.symbol)
        quotes: list[VenueQuote] = []
        collared: dict[str, str] = {}
        levels_of: dict[str, list] = {}
        capacity_of: dict[str, Decimal] = {}
        remaining = work.remaining
        for ins in eligible:
            book = self.market.book(ins.venue, request.symbol)
            limit = None
            if collar is not None:
                limit = collar[1] if side == "buy" else collar[0]
            if request.limit_price is not None:
                inside = request.limit_price
                limit = (
                    inside
                    if limit is None
                    else (min(limit, inside) if side == "buy" else max(limit, inside))
                )
            shown = book.sweep(side, remaining)
            levels = (
                shown
                if limit is None
                else [
                    lv
                    for lv in shown
                    if (lv.price <= limit if side == "buy" else lv.price >= limit)
                ]
            )
            beyond_collar = collar is not None and any(
                lv.price > collar[1] if side == "buy" else lv.price < collar[0] for lv in shown
            )
            if beyond_collar:
                collared[ins.venue] = (
                    f"{len(shown) - len(levels)} level(s) beyond the "
                    f"{self.config.price_collar_pct}% price collar around the mid left out"
                )
            if not levels:
                excluded.setdefault(ins.venue, "nothing within the limit price")
                continue
            capacity = self._free(ins, side)
            capacity_of[ins.venue] = capacity
            levels_of[ins.venue] = levels
            quotes.append(
                VenueQuote.from_levels(
                    ins.venue,
                    levels,
                    float(ins.taker_fee),
                    capacity=float(capacity) if capacity.is_finite() else float("inf"),
                    lot_size=float(ins.lot_size),
                    min_quantity=float(ins.min_quantity),
                    min_notional=float(ins.min_notional),
                )
            )
        now = self.ctx.now()
        if not quotes:
            work.failure = "no venue can take the order: " + "; ".join(
                f"{v}: {r}" for v, r in excluded.items()
            )
            self._publish_plan(work, [], None, None, None, excluded, now, collared)
            self._complete(work)
            return
        splitter = split_order if self.config.mode == "split" else best_single_venue
        quantity = float(remaining)
        plan = splitter(side, quantity, quotes, None)
        best = _whole(best_single_venue(side, quantity, quotes, None), plan)
        first = _whole(best_single_venue(side, quantity, quotes[:1], None), plan)
        plans = []
        for alloc in plan.allocations:
            ins = self.market.instruments[(alloc.venue, request.symbol)]
            plans.append(
                VenuePlan(
                    ins,
                    alloc.quantity,
                    alloc.worst_price,
                    levels_of[alloc.venue],
                    capacity_of[alloc.venue],
                )
            )
        limit = request.limit_price
        sized = venue_quantities(side, plans, remaining, limit)
        legs: list[RouteLeg] = []
        leg_no = 0
        by_venue = {a.venue: a for a in plan.allocations}
        for venue_plan, qty, price in sized:
            for child in band_children(
                side, venue_plan, qty, price, self.config.max_children_per_venue
            ):
                leg_no += 1
                ins = venue_plan.instrument
                caps = self.market.venues[ins.venue].capabilities
                alloc = by_venue[ins.venue]
                share = child.quantity / qty if qty else ZERO
                legs.append(
                    RouteLeg(
                        venue=ins.venue,
                        client_order_id=child_order_id(
                            request.parent_id, request.slice_id, work.attempt, leg_no, caps
                        ),
                        quantity=child.quantity,
                        limit_price=child.limit_price,
                        expected_average_price=_significant(alloc.average_price),
                        expected_fee=_significant(alloc.fee * float(share)),
                    )
                )
        total = sum((leg.quantity for leg in legs), ZERO)
        if total > remaining:  # cannot happen by construction; never let it through
            raise AssertionError(f"children {total} exceed the slice's remaining {remaining}")
        self._publish_plan(work, legs, plan, best, first, excluded, now, collared)
        if not legs:
            work.failure = "nothing routable within the limit price, balances and minimums"
            self._complete(work)
            return
        for leg in legs:
            work.children[leg.client_order_id] = _Child(leg.venue, leg.quantity)
            self.child_slice[leg.client_order_id] = work.key
            self.ctx.send(
                "risk",
                SubmitOrder(
                    client_order_id=leg.client_order_id,
                    venue=leg.venue,
                    symbol=request.symbol,
                    side=side,
                    quantity=leg.quantity,
                    order_type="limit",
                    limit_price=leg.limit_price,
                    time_in_force="ioc",
                    parent_id=request.parent_id,
                    ts=now,
                ),
            )

    def _publish_plan(
        self,
        work: _Slice,
        legs: list[RouteLeg],
        plan: Split | None,
        best: Split | None,
        first: Split | None,
        excluded: dict[str, str],
        now: int,
        collared: dict[str, str] | None = None,
    ) -> None:
        request = work.request
        expected = plan.average_price if plan is not None else None
        best_avg = best.average_price if best is not None else None
        first_avg = first.average_price if first is not None else None
        routed = sum((leg.quantity for leg in legs), ZERO)
        self.ctx.publish(
            SliceRouted(
                parent_id=request.parent_id,
                slice_id=request.slice_id,
                attempt=work.attempt,
                mode=self.config.mode if request.urgency == "take" else "post",
                symbol=request.symbol,
                side=request.side,
                quantity=work.remaining,
                legs=legs,
                expected_average_price=_significant(expected),
                expected_fees=sum((leg.expected_fee for leg in legs), ZERO),
                unroutable_quantity=work.remaining - routed,
                best_venue=best.allocations[0].venue if best and best.allocations else None,
                best_venue_average_price=_significant(best_avg),
                saving_bps_vs_best_venue=_saving(request.side, expected, best_avg),
                first_venue=first.allocations[0].venue if first and first.allocations else None,
                first_venue_average_price=_significant(first_avg),
                saving_bps_vs_first_venue=_saving(request.side, expected, first_avg),
                excluded=excluded,
                collared=collared or {},
                ts=now,
            )
        )

    # -- post -----------------------------------------------------------------------------------

    def _post(self, work: _Slice) -> None:
        """Rest the slice at its limit price on the cheapest maker venue(s) with room."""
        request = work.request
        side = request.side
        work.attempt += 1
        now = self.ctx.now()
        if request.limit_price is None:
            work.failure = "a passive slice needs a price to rest at"
            self._complete(work)
            return
        eligible, excluded = self._eligible(work, side)
        eligible.sort(key=lambda i: i.maker_fee)
        left = work.remaining
        legs: list[RouteLeg] = []
        for ins in eligible:
            if left <= 0:
                break
            price = snap_inside(request.limit_price, side, ins.tick_size)
            bid, ask = self.market.book(ins.venue, request.symbol).top()
            opposite = ask if side == "buy" else bid
            if opposite is not None and (price >= opposite if side == "buy" else price <= opposite):
                # Resting must not take: step back one tick inside the venue's own spread.
                price = opposite - ins.tick_size if side == "buy" else opposite + ins.tick_size
            if price <= 0:
                excluded[ins.venue] = "no passive price inside its spread"
                continue
            capacity = self._free(ins, side)
            room = (
                capacity / (price * (1 + max(ins.maker_fee, ins.taker_fee)))
                if (side == "buy" and capacity.is_finite())
                else capacity
            )
            quantity = floor_to(min(left, room), ins.lot_size)
            if quantity <= 0 or quantity < ins.min_quantity or quantity * price < ins.min_notional:
                excluded[ins.venue] = f"room for {quantity} only, below its minimums"
                continue
            caps = self.market.venues[ins.venue].capabilities
            legs.append(
                RouteLeg(
                    venue=ins.venue,
                    client_order_id=child_order_id(
                        request.parent_id, request.slice_id, work.attempt, len(legs) + 1, caps
                    ),
                    quantity=quantity,
                    limit_price=price,
                    expected_average_price=price,
                    expected_fee=_significant(float(quantity * price * ins.maker_fee)),
                )
            )
            left -= quantity
        self._publish_plan(work, legs, None, None, None, excluded, now)
        if not legs:
            work.failure = "no venue can rest the order: " + "; ".join(
                f"{v}: {r}" for v, r in excluded.items()
            )
            self._complete(work)
            return
        for leg in legs:
            caps = self.market.venues[leg.venue].capabilities
            work.children[leg.client_order_id] = _Child(leg.venue, leg.quantity)
            self.child_slice[leg.client_order_id] = work.key
            self.ctx.send(
                "risk",
                SubmitOrder(
                    client_order_id=leg.client_order_id,
                    venue=leg.venue,
                    symbol=request.symbol,
                    side=side,
                    quantity=leg.quantity,
                    order_type="limit",
                    limit_price=leg.limit_price,
                    time_in_force="gtc",
                    post_only=caps.post_only,
                    parent_id=request.parent_id,
                    ts=now,
                ),
            )

    # -- child events ---------------------------------------------------------------------------

    def _count_fill(self, fill: Fill) -> _Slice | None:
        key = self.child_slice.get(fill.client_order_id)
        work = self.slices.get(key) if key is not None else None
        if work is None:
            return None
        child = work.children[fill.client_order_id]
        child.filled += fill.quantity
        work.filled += fill.quantity
        if fill.leaves_quantity <= 0:
            child.done = True
        return work

    def _close_child(self, event: Message, reroute: bool) -> _Slice | None:
        key = self.child_slice.get(event.client_order_id)  # type: ignore[attr-defined]
        work = self.slices.get(key) if key is not None else None
        if work is None:
            return None
        child = work.children[event.client_order_id]  # type: ignore[attr-defined]
        if child.done and event.__class__ not in FILL_TYPES:
            return None if reroute else work
        child.done = True
        if isinstance(event, OrderRejected):
            work.banned[child.venue] = f"rejected: {event.reason}"
        elif isinstance(event, RiskRejected):
            work.banned[child.venue] = f"refused by risk: {event.check}: {event.detail}"
        return work

    def _after_child(self, work: _Slice) -> None:
        """Every child of the slice is final: route what is left again, or complete it.

        Before the node is ready (a restart, reconciling) a slice waits: ``NodeReady`` resumes
        it on books and balances the venues have confirmed."""
        if work.working():
            return
        if (
            work.request.urgency == "take"
            and work.canceling is None
            and work.failure is None
            and work.remaining > 0
            and work.attempt <= self.config.max_reroutes
        ):
            if self.ready:
                self._guarded(work, self._take)
            else:
                self._restored = True
        else:
            self._complete(work)

    def _complete(self, work: _Slice) -> None:
        request = work.request
        if work.key not in self.slices:
            return
        self._forget(work.key)
        status: SliceStatus
        if work.filled >= request.quantity:
            status = "filled"
        elif work.canceling is not None:
            status = "canceled"
        elif work.failure is not None and not work.filled:
            status = "failed"
        else:
            status = "partially_filled" if work.filled else "unfilled"
        reason = work.canceling or work.failure or ""
        if status in ("partially_filled", "unfilled") and not reason:
            reason = f"{work.remaining} left after {work.attempt} attempt(s)"
        self.ctx.publish(
            SliceCompleted(
                parent_id=request.parent_id,
                slice_id=request.slice_id,
                quantity=request.quantity,
                filled_quantity=work.filled,
                status=status,
                reason=reason,
                ts=self.ctx.now(),
            )
        )

    def _forget(self, key: tuple[str, int]) -> None:
        work = self.slices.pop(key, None)
        if work is not None:
            for cid in work.children:
                self.child_slice.pop(cid, None)


def _whole(single: Split, plan: Split) -> Split | None:
    """A single-venue alternative only counts if it fills what the plan fills; otherwise
    comparing average prices would compare different orders."""
    return single if single.filled >= plan.filled * (1 - 1e-9) else None


def _significant(value: float | None, digits: int = 12) -> Decimal | None:
    """A float as a Decimal to ``digits`` significant figures: a sub-cent price keeps its
    figures (a fixed number of decimal places would not), float noise is dropped."""
    if value is None:
        return None
    return Decimal(f"{value:.{digits}g}")


def _saving(side: Side, ours: float | None, theirs: float | None) -> Decimal | None:
    """Savings from the unrounded figures (rounding first would compare rounded floats)."""
    if ours is None or theirs is None:
        return None
    return saving_bps(side, to_decimal(ours), to_decimal(theirs))
