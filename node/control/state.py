"""The control API's view of a running node, kept from the events the node publishes.

The ``ControlComponent`` applies every event on its own thread; the HTTP server reads snapshots
from other threads. Everything here is guarded by one lock and copied out on read, so a request
never sees half an update.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any, NamedTuple

import msgspec

from node.component import decode_state, encode_state
from node.control.views import (
    ChildView,
    FillEvent,
    NavPoint,
    NodeState,
    ParentDetail,
    ParentView,
    VenueView,
)
from node.messages import (
    FILL_TYPES,
    AccountValued,
    BalancesUpdated,
    Fill,
    InstrumentHalted,
    Message,
    NavRecorded,
    NodeReady,
    NodeStopped,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    ParentOrderAccepted,
    ParentOrderCompleted,
    ParentOrderProgressed,
    ParentOrderRejected,
    ParentOrderWaiting,
    Position,
    PositionChanged,
    RiskRejected,
    SliceRouted,
    SubmitParentOrder,
    TradingStateChanged,
    VenueConnected,
    VenueDisconnected,
    VenueStatus,
)

#: finished parent orders kept for the API (the journal has them all)
KEEP_FINISHED = 500
#: valuations kept for a NAV line (one every two seconds while someone watches: an hour)
KEEP_NAV_POINTS = 1800
#: fills kept for "recent fills"
KEEP_FILLS = 50


class _Parent(msgspec.Struct, kw_only=True):
    view: ParentView
    order: SubmitParentOrder | None = None
    children: dict[str, ChildView] = {}
    fills: list[FillEvent] = []
    plans: list[SliceRouted] = []


class _Saved(msgspec.Struct, kw_only=True):
    """The view as a checkpoint holds it (the NAV line is not journaled, so not kept)."""

    trading_state: str | None
    trading_reason: str
    ready: bool
    venues: list[VenueView]
    positions: list[Position]
    nav: NavRecorded | None
    fills: list[FillEvent]
    parents: list[_Parent]
    digests: dict[str, bytes]
    halted: dict[str, str]
    ts: int


class ControlState:
    """Venues, trading state, positions, NAV and parent orders; see the module docstring."""

    def __init__(self, node: str, venues: list[str]) -> None:
        self.node = node
        self._venue_names = list(venues)
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        """Forget everything (a restarted control component rebuilds its view from the
        journal; applying the journal twice would count every fill twice)."""
        with self._lock:
            self._clear()

    def save(self) -> bytes:
        """The view, for a checkpoint."""
        with self._lock:
            return encode_state(
                _Saved(
                    trading_state=self.trading_state,
                    trading_reason=self.trading_reason,
                    ready=self.ready,
                    venues=list(self.venues.values()),
                    positions=list(self.positions.values()),
                    nav=self.nav,
                    fills=list(self.fills),
                    parents=list(self.parents.values()),
                    digests=self.digests,
                    halted=self.halted,
                    ts=self.ts,
                )
            )

    def load(self, data: bytes) -> None:
        """Replace the view by what ``save`` returned."""
        saved = decode_state(data, _Saved)
        with self._lock:
            self._clear()
            self.trading_state, self.trading_reason = saved.trading_state, saved.trading_reason
            self.ready, self.nav, self.ts = saved.ready, saved.nav, saved.ts
            self.venues.update((v.name, v) for v in saved.venues)
            self.positions = {(p.symbol, p.venue): p for p in saved.positions}
            self.fills.extend(saved.fills)
            self.parents.update((p.view.parent_id, p) for p in saved.parents)
            self.digests, self.halted = saved.digests, saved.halted

    def _clear(self) -> None:
        self.trading_state: str | None = None
        self.trading_reason = ""
        self.ready = False
        self.venues = {name: VenueView(name=name) for name in self._venue_names}
        self.positions: dict[tuple[str, str | None], Position] = {}
        self.nav: NavRecorded | None = None
        self.nav_points: deque[NavPoint] = deque(maxlen=KEEP_NAV_POINTS)
        self.fills: deque[FillEvent] = deque(maxlen=KEEP_FILLS)
        self.parents: OrderedDict[str, _Parent] = OrderedDict()
        #: every parent id ever submitted, with a digest of its order: a retry of an order
        #: whose details were trimmed is still recognised (and a different one refused)
        self.digests: dict[str, bytes] = {}
        self.halted: dict[str, str] = {}
        self.ts = 0

    # -- applying events (the component's thread) ----------------------------------------------

    def apply(self, m: Message) -> None:
        with self._lock:
            self.ts = max(self.ts, m.ts)
            handler = _HANDLERS.get(m.__class__)
            if handler is not None:
                handler(self, m)
            elif m.__class__ in FILL_TYPES:
                self._fill(m)  # type: ignore[arg-type]

    def _parent(self, parent_id: str) -> _Parent:
        record = self.parents.get(parent_id)
        if record is None:
            record = self.parents[parent_id] = _Parent(view=ParentView(parent_id=parent_id))
        return record

    def note_submitted(self, order: SubmitParentOrder) -> Submission:
        """Remember an order submitted through the API, unless its id is taken: then say
        whether the order under that id is this one (a retry) or another."""
        with self._lock:
            known = self.digests.get(order.parent_id)
            record = self.parents.get(order.parent_id)
            if known is not None or record is not None:
                # an id seen only through its events (a config's order) cannot be compared
                same = known == _digest(order) if known is not None else False
                view = msgspec.structs.replace(record.view) if record is not None else None
                return Submission(same, view)
            record = self._parent(order.parent_id)
            self._set_order(record, order)
            record.view.state = record.view.progress = "submitted"
            return Submission(None, None)

    def _set_order(self, record: _Parent, order: SubmitParentOrder) -> None:
        record.order = order
        self.digests.setdefault(order.parent_id, _digest(order))
        v = record.view
        v.symbol, v.side, v.quantity, v.algo = order.symbol, order.side, order.quantity, order.algo
        v.remaining_quantity = order.quantity - v.filled_quantity

    def _on_submit(self, m: SubmitParentOrder) -> None:
        self._set_order(self._parent(m.parent_id), m)

    def _on_waiting(self, m: ParentOrderWaiting) -> None:
        record = self._parent(m.parent_id)
        record.view.state, record.view.progress, record.view.updated_ts = "waiting", m.reason, m.ts

    def _on_accepted(self, m: ParentOrderAccepted) -> None:
        record = self._parent(m.parent_id)
        v = record.view
        v.symbol, v.side, v.quantity, v.algo = m.symbol, m.side, m.quantity, m.algo
        v.state, v.arrival_mid, v.updated_ts, v.progress = "working", m.arrival_mid, m.ts, "working"
        v.remaining_quantity = m.quantity - v.filled_quantity

    def _on_rejected(self, m: ParentOrderRejected) -> None:
        record = self._parent(m.parent_id)
        if record.view.state in ("working", "completed"):
            return  # a second order under a used id was refused: this one is unaffected
        record.view.state, record.view.reason, record.view.updated_ts = "rejected", m.reason, m.ts
        self._trim()

    def _on_progress(self, m: ParentOrderProgressed) -> None:
        v = self._parent(m.parent_id).view
        v.filled_quantity, v.remaining_quantity = m.filled_quantity, m.remaining_quantity
        v.average_price, v.scheduled_quantity = m.average_price, m.scheduled_quantity
        v.open_quantity, v.open_children, v.progress = m.open_quantity, m.open_children, m.state
        v.updated_ts = m.ts

    def _on_completed(self, m: ParentOrderCompleted) -> None:
        v = self._parent(m.parent_id).view
        r = m.report
        v.state, v.status, v.reason, v.report, v.updated_ts = (
            "completed",
            m.status,
            m.reason,
            r,
            m.ts,
        )
        v.symbol, v.side, v.quantity, v.algo = r.symbol, r.side, r.requested_quantity, r.algo
        v.filled_quantity, v.average_price = r.filled_quantity, r.average_price
        v.remaining_quantity = r.requested_quantity - r.filled_quantity
        v.open_quantity, v.open_children, v.progress = Decimal(0), 0, m.status
        self._trim()

    def _trim(self) -> None:
        done = [pid for pid, p in self.parents.items() if p.view.state in ("completed", "rejected")]
        for pid in done[: max(0, len(done) - KEEP_FINISHED)]:
            del self.parents[pid]

    def _on_plan(self, m: SliceRouted) -> None:
        record = self._parent(m.parent_id)
        record.plans.append(m)
        for leg in m.legs:
            record.children[leg.client_order_id] = ChildView(
                client_order_id=leg.client_order_id,
                venue=leg.venue,
                slice_id=m.slice_id,
                quantity=leg.quantity,
                limit_price=leg.limit_price,
            )

    def _child(self, m: Message) -> ChildView | None:
        parent_id = getattr(m, "parent_id", None)
        record = self.parents.get(parent_id) if parent_id else None
        if record is None:
            return None
        return record.children.get(m.client_order_id)  # type: ignore[attr-defined]

    def _on_order_event(self, m: Message) -> None:
        child = self._child(m)
        if child is None:
            return
        if isinstance(m, OrderAccepted):
            child.state = "accepted" if child.state == "sent" else child.state
        else:
            child.state = {
                OrderCanceled: "canceled",
                OrderExpired: "expired",
                OrderRejected: "rejected",
                RiskRejected: "refused by risk",
            }[m.__class__]
            child.reason = getattr(m, "reason", "") or getattr(m, "detail", "")

    def _fill(self, m: Fill) -> None:
        child = self._child(m)
        if child is not None:
            child.filled += m.quantity
            child.state = "filled" if m.leaves_quantity <= 0 else "partially filled"
        if m.parent_id and m.parent_id in self.parents:
            self.parents[m.parent_id].fills.append(m)
        self.fills.append(m)

    def _on_connected(self, m: VenueConnected) -> None:
        v = self.venues.setdefault(m.venue, VenueView(name=m.venue))
        v.connected, v.reason = True, ""

    def _on_disconnected(self, m: VenueDisconnected) -> None:
        v = self.venues.setdefault(m.venue, VenueView(name=m.venue))
        v.connected, v.reason = False, m.reason

    def _on_status(self, m: VenueStatus) -> None:
        v = self.venues.setdefault(m.venue, VenueView(name=m.venue))
        v.status, v.detail = m.status, m.detail

    def _on_balances(self, m: BalancesUpdated) -> None:
        v = self.venues.setdefault(m.venue, VenueView(name=m.venue))
        v.balances, v.balances_ts = dict(m.balances), m.ts

    def _on_trading(self, m: TradingStateChanged) -> None:
        self.trading_state, self.trading_reason = m.state, m.reason

    def _on_ready(self, m: NodeReady) -> None:
        self.ready = True

    def _on_stopped(self, m: NodeStopped) -> None:
        """The last row of a run (read back on restore): the next run starts unready."""
        self.ready = False
        for v in self.venues.values():
            v.connected, v.reason = False, "the node stopped"

    def _on_position(self, m: PositionChanged) -> None:
        self.positions[(m.position.symbol, m.position.venue)] = m.position

    def _on_nav(self, m: NavRecorded) -> None:
        self.nav = m
        self.nav_points.append(NavPoint(ts=m.ts, nav=m.nav))
        for position in m.positions:
            self.positions[(position.symbol, position.venue)] = position

    def _on_valued(self, m: AccountValued) -> None:
        if m.valuation is not None:
            self._on_nav(m.valuation)

    def _on_instrument_halted(self, m: InstrumentHalted) -> None:
        self.halted[f"{m.symbol}@{m.venue}"] = m.reason

    # -- reading (any thread) -------------------------------------------------------------------

    def snapshot(self) -> NodeState:
        with self._lock:
            return NodeState(
                node=self.node,
                ts=self.ts,
                trading_state=self.trading_state,  # type: ignore[arg-type]
                trading_reason=self.trading_reason,
                ready=self.ready,
                venues=[msgspec.structs.replace(v) for v in self.venues.values()],
                positions=[p for p in self.positions.values() if p.venue is not None],
                nav=self.nav,
                parents=[
                    msgspec.structs.replace(p.view)
                    for p in self.parents.values()
                    if p.view.state in ("submitted", "waiting", "working")
                ],
                halted_instruments=dict(self.halted),
                recent_fills=list(self.fills),
            )

    def nav_line(self) -> list[NavPoint]:
        with self._lock:
            return list(self.nav_points)

    def view_of(self, parent_id: str) -> ParentView | None:
        with self._lock:
            record = self.parents.get(parent_id)
            return msgspec.structs.replace(record.view) if record is not None else None

    def parent_views(self) -> list[ParentView]:
        with self._lock:
            return [msgspec.structs.replace(p.view) for p in self.parents.values()]

    def detail(self, parent_id: str) -> ParentDetail | None:
        with self._lock:
            record = self.parents.get(parent_id)
            if record is None:
                return None
            return ParentDetail(
                parent=msgspec.structs.replace(record.view),
                children=[msgspec.structs.replace(c) for c in record.children.values()],
                fills=list(record.fills),
                plans=list(record.plans),
            )


class Submission(NamedTuple):
    """What ``note_submitted`` found: ``same`` is None for a new id, else whether the order
    already under it is the same one; ``view`` is that order's view while it is still held."""

    same: bool | None
    view: ParentView | None


def _digest(order: SubmitParentOrder) -> bytes:
    """Two submissions are the same order when everything but their time and origin agrees
    (``2`` and ``2.0`` are the same quantity; the order of params does not matter)."""
    fields = msgspec.to_builtins(
        msgspec.structs.replace(order, ts=0, source=""), builtin_types=(Decimal,)
    )
    text = msgspec.json.encode(_normal(fields), order="sorted")
    return hashlib.blake2b(text, digest_size=16).digest()


def _normal(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value.normalize() if value.is_finite() else value
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


_HANDLERS: dict[type, Callable[[ControlState, Message], None]] = {
    SubmitParentOrder: ControlState._on_submit,
    ParentOrderWaiting: ControlState._on_waiting,
    ParentOrderAccepted: ControlState._on_accepted,
    ParentOrderRejected: ControlState._on_rejected,
    ParentOrderProgressed: ControlState._on_progress,
    ParentOrderCompleted: ControlState._on_completed,
    SliceRouted: ControlState._on_plan,
    OrderAccepted: ControlState._on_order_event,
    OrderCanceled: ControlState._on_order_event,
    OrderExpired: ControlState._on_order_event,
    OrderRejected: ControlState._on_order_event,
    RiskRejected: ControlState._on_order_event,
    VenueConnected: ControlState._on_connected,
    VenueDisconnected: ControlState._on_disconnected,
    VenueStatus: ControlState._on_status,
    BalancesUpdated: ControlState._on_balances,
    TradingStateChanged: ControlState._on_trading,
    NodeReady: ControlState._on_ready,
    NodeStopped: ControlState._on_stopped,
    PositionChanged: ControlState._on_position,
    NavRecorded: ControlState._on_nav,
    AccountValued: ControlState._on_valued,
    InstrumentHalted: ControlState._on_instrument_halted,
}  # type: ignore[dict-item]

#: what the component subscribes to (everything the view is built from, fills included)
WATCHED: tuple[type[Message], ...] = (
    *(t for t in _HANDLERS if t not in (SubmitParentOrder, AccountValued, NodeStopped)),
    *FILL_TYPES,
)
