"""The executor base: one component per parent order, working it with slices through the router.

An execution algorithm (TWAP, VWAP, Iceberg, the immediate split ``route`` …) subclasses
``Executor``. It decides *how much and how urgently*; the router decides *where*. It hears only
what concerns its own parent — the router's plans and slice outcomes, its children's fills and
order events, its timers, cancels and completion requests of its parent, and the trading state
— delivered by the runtime by correlation, so nothing filters the node's every fill.

The base keeps the books of the parent (filled, average price, fees, what each slice has working)
so that the children of a parent never add up to more than the parent: ``route`` clamps every
new slice to what is neither filled nor already working. On a restart it rebuilds that state
from the parent's journal rows and calls ``on_resume`` instead of ``on_begin``, so an algorithm
carries on for the remaining quantity.

Plugins register executors with ``tradenode_register_algos``:
``registry.add("twap", TwapExecutor, TwapParams)``; the manager converts the order's ``params``
into ``TwapParams`` (unknown keys and bad values are refused, naming the key) and constructs
``TwapExecutor(order, params, services)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from node.component import Component, Envelope
from node.execution_report import charge, currencies, split_fees
from node.market import MarketState
from node.messages import (
    FILL_TYPES,
    FINAL_ORDER_EVENTS,
    CancelParentOrder,
    CancelSlice,
    CompleteParentOrder,
    ExecutorFinished,
    Fill,
    Message,
    ParentCompleteRejected,
    ParentOrderAccepted,
    ParentOrderProgressed,
    ParentStatus,
    RouteSlice,
    SliceCompleted,
    SliceRouted,
    SubmitParentOrder,
    TimerFired,
    TradingStateChanged,
    Urgency,
)

ZERO = Decimal(0)


def executor_address(parent_id: str) -> str:
    return f"exec.{parent_id}"


@dataclass(frozen=True)
class ExecutorServices:
    """What an executor may read besides its messages: the node's market state."""

    market: MarketState


@dataclass
class SliceState:
    """One slice of the parent as the executor sees it."""

    slice_id: int
    quantity: Decimal
    urgency: Urgency
    limit_price: Decimal | None
    sent_ts: int
    filled: Decimal = ZERO
    done: bool = False
    children: set[str] = field(default_factory=set)
    open_children: set[str] = field(default_factory=set)

    @property
    def working(self) -> Decimal:
        """What may still fill: nothing once the slice completed."""
        return ZERO if self.done else self.quantity - self.filled


class Executor(Component):
    """Base of execution algorithms; see the module docstring.

    Override ``on_begin`` (start working), and as needed ``on_resume``, ``on_fill``,
    ``on_slice_completed``, ``on_timer``, ``on_event`` (market data and the algorithm's own
    messages) and ``on_cancel``. Act with ``route``, ``cancel_slice``, ``progress`` and
    ``finish``. Set ``subscriptions`` to market data types the algorithm reacts to.
    """

    subscriptions: tuple[type[Message], ...] = (TradingStateChanged,)

    def __init__(self, order: SubmitParentOrder, params: Any, services: ExecutorServices) -> None:
        super().__init__(executor_address(order.parent_id))
        self.correlation = order.parent_id
        self.order = order
        self.params = params
        self.market = services.market
        self.arrival_mid: Decimal | None = None
        self.started_ts = order.ts
        self.filled = ZERO
        self.notional = ZERO
        #: the parent's fees as charged, per currency (``fees`` and ``other_fees`` read them)
        self.fees_charged: dict[str, list[Decimal]] = {}
        self.slices: dict[int, SliceState] = {}
        self.child_slice: dict[str, int] = {}
        self.canceling: str | None = None
        self.paused: str | None = None
        self.finished = False
        self.resumed = False
        #: an operator's ``CompleteParentOrder`` (a restart carries it out again)
        self.completion_requested: CompleteParentOrder | None = None

    # -- what the parent has done ---------------------------------------------------------------

    @property
    def remaining(self) -> Decimal:
        """Not yet filled (some of it may be working)."""
        return self.order.quantity - self.filled

    @property
    def working(self) -> Decimal:
        """What open slices may still fill."""
        return sum((s.working for s in self.slices.values()), ZERO)

    @property
    def available(self) -> Decimal:
        """What a new slice may ask for: neither filled nor working."""
        return self.order.quantity - self.filled - self.working

    @property
    def average_price(self) -> Decimal | None:
        return self.notional / self.filled if self.filled else None

    def _split_fees(self) -> tuple[Decimal, dict[str, Decimal]]:
        symbol = self.order.symbol
        return split_fees(self.fees_charged, currencies(symbol, self.market.listing(symbol)))

    @property
    def fees(self) -> Decimal:
        """Fees so far in the instrument's quote (those charged in its base at their fills'
        prices), as the execution report counts them."""
        return self._split_fees()[0]

    @property
    def other_fees(self) -> dict[str, Decimal]:
        """Fees so far in any other currency (BNB …), per currency: no price converts them."""
        return self._split_fees()[1]

    def open_slices(self) -> list[SliceState]:
        return [s for s in self.slices.values() if not s.done]

    def open_children(self) -> int:
        return sum(len(s.open_children) for s in self.slices.values())

    # -- prices ---------------------------------------------------------------------------------

    @property
    def venues(self) -> list[str] | None:
        return self.order.venues

    def mid(self) -> Decimal | None:
        """The consolidated mid over the venues the parent may use."""
        return self.market.consolidated_mid(self.order.symbol, self.venues)

    def best_prices(self) -> tuple[Decimal | None, Decimal | None]:
        """Best bid and best ask over the connected venues the parent may use."""
        bids, asks = [], []
        for instrument in self.market.listing(self.order.symbol):
            if self.venues is not None and instrument.venue not in self.venues:
                continue
            state = self.market.venues.get(instrument.venue)
            book = self.market.existing_book(instrument.venue, self.order.symbol)
            if state is None or not state.connected or book is None:
                continue
            bid, ask = book.top()
            if bid is not None:
                bids.append(bid)
            if ask is not None:
                asks.append(ask)
        return (max(bids) if bids else None, min(asks) if asks else None)

    def tick_size(self) -> Decimal | None:
        """The coarsest tick among the venues the parent may use (a price on it is valid on
        every one of them when ticks divide each other, as they usually do)."""
        ticks = [
            i.tick_size
            for i in self.market.listing(self.order.symbol)
            if self.venues is None or i.venue in self.venues
        ]
        return max(ticks) if ticks else None

    def lot_size(self) -> Decimal | None:
        lots = [
            i.lot_size
            for i in self.market.listing(self.order.symbol)
            if self.venues is None or i.venue in self.venues
        ]
        return min(lots) if lots else None

    def within_limit(self, price: Decimal) -> Decimal:
        """``price`` moved back inside the parent's limit, if it has one."""
        limit = self.order.limit_price
        if limit is None:
            return price
        return min(price, limit) if self.order.side == "buy" else max(price, limit)

    # -- actions --------------------------------------------------------------------------------

    def route(
        self,
        quantity: Decimal,
        urgency: Urgency = "take",
        limit_price: Decimal | None = None,
        venues: list[str] | None = None,
    ) -> int | None:
        """Ask the router to trade ``quantity`` now; returns the slice id (None: nothing to do).

        The quantity is cut to ``available`` (never more than the parent), the limit tightened
        to the parent's, the venues to the parent's; nothing is routed while canceling, paused
        or finished.
        """
        if self.finished or self.canceling is not None or self.paused is not None:
            return None
        quantity = min(quantity, self.available)
        lot = self.lot_size()
        if lot:
            quantity = (quantity / lot).to_integral_value(ROUND_DOWN) * lot
        if quantity <= 0:
            return None
        limit = (
            self.within_limit(limit_price) if limit_price is not None else (self.order.limit_price)
        )
        if venues is not None and self.venues is not None:
            venues = [v for v in venues if v in self.venues]
        elif venues is None:
            venues = self.venues
        slice_id = len(self.slices) + 1
        now = self.ctx.now()
        self.slices[slice_id] = SliceState(slice_id, quantity, urgency, limit, now)
        self.ctx.send(
            "router",
            RouteSlice(
                parent_id=self.order.parent_id,
                slice_id=slice_id,
                symbol=self.order.symbol,
                side=self.order.side,
                quantity=quantity,
                urgency=urgency,
                limit_price=limit,
                venues=venues,
                ts=now,
            ),
        )
        return slice_id

    def cancel_slice(self, slice_id: int, reason: str = "") -> None:
        state = self.slices.get(slice_id)
        if state is None or state.done:
            return
        self.ctx.send(
            "router",
            CancelSlice(
                parent_id=self.order.parent_id,
                slice_id=slice_id,
                reason=reason,
                ts=self.ctx.now(),
            ),
        )

    def cancel_open_slices(self, reason: str = "") -> None:
        for state in self.open_slices():
            self.cancel_slice(state.slice_id, reason)

    def progress(self, scheduled: Decimal | None = None, state: str | None = None) -> None:
        """Publish what a monitor shows; ``scheduled`` is what the schedule wanted by now."""
        self.ctx.publish(
            ParentOrderProgressed(
                parent_id=self.order.parent_id,
                filled_quantity=self.filled,
                remaining_quantity=self.remaining,
                average_price=self.average_price,
                scheduled_quantity=scheduled,
                open_quantity=self.working,
                open_children=self.open_children(),
                state=state or self._state(),
                mid=self.mid(),
                ts=self.ctx.now(),
            )
        )

    def _state(self) -> str:
        if self.canceling is not None:
            return f"canceling: {self.canceling}"
        if self.paused is not None:
            return f"paused: {self.paused}"
        return "working"

    def finish(self, reason: str = "", status: ParentStatus | None = None) -> None:
        """Done with the parent: open slices are canceled first, then the manager closes it."""
        if self.finished:
            return
        if self.open_slices():
            self.canceling = self.canceling or reason or "finishing"
            self._finish_reason = (reason, status)
            self.cancel_open_slices(self.canceling)
            return
        self.finished = True
        self.ctx.send(
            "execution",
            ExecutorFinished(
                parent_id=self.order.parent_id, reason=reason, status=status, ts=self.ctx.now()
            ),
        )

    # -- the algorithm's hooks ------------------------------------------------------------------

    def on_begin(self) -> None:
        """Start working the parent (first start)."""
        raise NotImplementedError

    def on_resume(self) -> None:
        """Carry on after a restart, with the state rebuilt from the journal. By default the
        algorithm begins again for what is left."""
        self.on_begin()

    def on_fill(self, fill: Fill) -> None:
        """A child filled (the base has already counted it)."""

    def on_slice_completed(self, done: SliceCompleted) -> None:
        """A slice has nothing working any more."""

    def on_timer(self, name: str, payload: Any) -> None:
        """A timer this executor scheduled came due."""

    def on_event(self, message: Message) -> None:
        """Market data it subscribed to, or one of the algorithm's own messages."""

    def on_cancel(self, reason: str) -> None:
        """The parent was canceled; by default every open slice is canceled and the executor
        finishes when they have completed."""
        self.finish(reason)

    def on_trading_state(self, state: str, reason: str) -> None:
        """Trading was halted, set to reduce-only, or resumed (``paused`` is already set)."""

    #: whether ``on_complete`` finishes the parent (an algorithm that can sets it)
    completes_on_demand = False

    def on_complete(self, command: CompleteParentOrder) -> None:
        """An operator asked to finish the parent now (``CompleteParentOrder``). By default the
        algorithm cannot; one that can overrides this and sets ``completes_on_demand``."""
        self.refuse_completion(f"algorithm {self.order.algo!r} cannot complete on demand")

    def refuse_completion(self, reason: str) -> None:
        self.ctx.publish(
            ParentCompleteRejected(parent_id=self.order.parent_id, reason=reason, ts=self.ctx.now())
        )

    def on_restore(self, message: Message) -> None:
        """One of the parent's journal rows during restore (the base has applied its own)."""

    # -- plumbing -------------------------------------------------------------------------------

    def restore(self, history: Iterable[Envelope]) -> None:
        for envelope in history:
            message = envelope.message
            if getattr(message, "parent_id", None) != self.order.parent_id:
                continue
            if envelope.sender == self.name:
                self.resumed = True  # it had acted before: this start carries on its work
            if message.__class__ is CompleteParentOrder and envelope.destination == self.name:
                # handed to this executor (one the manager refused never reached it): a
                # restart completes the parent rather than resuming its schedule
                self.completion_requested = message  # type: ignore[assignment]
            self._apply(message)
            self.on_restore(message)

    def _apply(self, message: Message) -> None:
        cls = message.__class__
        if cls in FILL_TYPES:
            self._count_fill(message)  # type: ignore[arg-type]
        elif cls is SliceRouted:
            state = self.slices.get(message.slice_id)  # type: ignore[attr-defined]
            if state is not None:
                for leg in message.legs:  # type: ignore[attr-defined]
                    state.children.add(leg.client_order_id)
                    state.open_children.add(leg.client_order_id)
                    self.child_slice[leg.client_order_id] = state.slice_id
        elif cls is SliceCompleted:
            state = self.slices.get(message.slice_id)  # type: ignore[attr-defined]
            if state is not None:
                state.done = True
                state.open_children.clear()
        elif cls is RouteSlice:
            m: RouteSlice = message  # type: ignore[assignment]
            self.slices[m.slice_id] = SliceState(
                m.slice_id, m.quantity, m.urgency, m.limit_price, m.ts
            )
        elif cls is ParentOrderAccepted:
            self.arrival_mid = message.arrival_mid  # type: ignore[attr-defined]
            self.started_ts = message.ts
        elif cls is CancelParentOrder:
            self.canceling = message.reason or "canceled"  # type: ignore[attr-defined]
        if isinstance(message, FINAL_ORDER_EVENTS):
            slice_id = self.child_slice.get(message.client_order_id)
            if slice_id is not None:
                self.slices[slice_id].open_children.discard(message.client_order_id)

    def _count_fill(self, fill: Fill) -> None:
        self.filled += fill.quantity
        self.notional += fill.price * fill.quantity
        charge(self.fees_charged, fill)
        slice_id = self.child_slice.get(fill.client_order_id)
        if slice_id is not None:
            self.slices[slice_id].filled += fill.quantity

    def stop_at_start(self, reason: str) -> None:
        """Finish at start instead of working on: open slices are canceled, nothing new is
        routed (a parent a restart interrupted, with ``[node.ready] interrupted = "stop"``)."""
        self.canceling = reason

    def on_start(self) -> None:
        if self.canceling is not None:  # canceled while the node was down, or stopped
            self.finish(self.canceling)
        elif self.resumed:
            if self.completion_requested is not None and self.completes_on_demand:
                self.on_complete(self.completion_requested)  # asked before the restart
            else:
                self.on_resume()
        else:
            self.on_begin()

    def on_message(self, message: Message) -> None:
        if self.finished:
            return
        cls = message.__class__
        self._apply(message)
        if cls in FILL_TYPES:
            self.on_fill(message)  # type: ignore[arg-type]
            self.progress()
        elif cls is SliceCompleted:
            self.on_slice_completed(message)  # type: ignore[arg-type]
            if self.canceling is not None and not self.open_slices():
                reason, status = getattr(self, "_finish_reason", (self.canceling, None))
                self.finish(reason, status)
        elif cls is TimerFired:
            self.on_timer(message.name, message.payload)  # type: ignore[attr-defined]
        elif cls is CancelParentOrder:
            self.on_cancel(self.canceling or "canceled")
        elif cls is CompleteParentOrder:
            self.completion_requested = message  # type: ignore[assignment]
            self.on_complete(message)  # type: ignore[arg-type]
        elif cls is TradingStateChanged:
            state, reason = message.state, message.reason  # type: ignore[attr-defined]
            self.paused = f"trading halted: {reason}" if state == "halted" else None
            self.on_trading_state(state, reason)
            self.progress()
        elif cls is not SliceRouted and not isinstance(message, FINAL_ORDER_EVENTS):
            self.on_event(message)
