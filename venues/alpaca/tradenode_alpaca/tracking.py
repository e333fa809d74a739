"""Each child order's life at Alpaca, told to the node exactly once.

Alpaca tells an order's story in three places: the ``trade_updates`` stream, the answers of its
REST API (the order placed, found, or listed) and its FILL activities. The stream is not
replayed after a disconnect, so any of them may be the first to show a fill. Every source goes
through one ``OrderTracker`` on the venue component's thread, which publishes:

* ``OrderAccepted`` once Alpaca has the order;
* each execution once, by its execution id, in order: when Alpaca shows more filled than the
  node has been told (a fill missed while the stream was down), the fills are fetched over REST
  first and what arrived meanwhile waits for them;
* one final event: Alpaca's ``canceled`` of an IOC/FOK remainder is the node's ``OrderExpired``
  (its time in force ran out), a ``replaced`` order is over for the node (``OrderCanceled``, its
  replacement has another client order id).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from node.component import Envelope
from node.messages import (
    FILL_TYPES,
    FINAL_ORDER_EVENTS,
    OrderAccepted,
    Side,
    SubmitOrder,
)
from tradenode_alpaca.reports import FINAL_STATUSES, amount, execution_id, time_ns

log = logging.getLogger("tradenode.alpaca")
ZERO = Decimal(0)
#: Events of Alpaca's that end an order.
FINAL_EVENTS = frozenset({"canceled", "expired", "rejected", "replaced"})
#: Events that say Alpaca has the order.
ACCEPTED_EVENTS = frozenset({"new", "accepted", "pending_new", "held", "calculated"})
#: A REST order snapshot goes through the same queue as stream events under this event name.
SNAPSHOT = "snapshot"


@dataclass
class TrackedOrder:
    """What the node has been told about one order; ``held`` queues what arrived while missing
    fills were being fetched."""

    client_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    time_in_force: str = "gtc"
    venue_order_id: str = ""
    created_at: str = ""
    accepted: bool = False
    filled: Decimal = ZERO
    executions: set[str] = field(default_factory=set)
    final: bool = False
    placing: bool = False
    cancel_reason: str | None = None
    held: list[dict[str, Any]] | None = None

    @property
    def working(self) -> bool:
        return not self.final


class Publisher(Protocol):
    """The venue's lifecycle helpers, and its way to fetch an order's fills."""

    def accepted(self, client_order_id: str, venue_order_id: str) -> None: ...

    def rejected(self, client_order_id: str, reason: str) -> None: ...

    def canceled(
        self, client_order_id: str, reason: str = "", filled_quantity: Decimal = ZERO
    ) -> None: ...

    def expired(
        self, client_order_id: str, filled_quantity: Decimal = ZERO, reason: str = ""
    ) -> None: ...

    def cancel_rejected(self, client_order_id: str, reason: str) -> None: ...

    def filled(self, **fields: Any) -> None: ...

    def fetch_fills(self, order: TrackedOrder) -> None:
        """Fetch the order's FILL activities and hand them to ``OrderTracker.fills_fetched``."""
        ...

    def order_done(self, order: TrackedOrder) -> None:
        """The order reached its final state (balances may be read again)."""
        ...

    def executed(self, order: TrackedOrder, price: Decimal, quantity: Decimal) -> None:
        """One execution was published (balances move)."""
        ...


class OrderTracker:
    """See the module docstring. Every method runs on the venue component's thread."""

    def __init__(self, venue: str, publisher: Publisher) -> None:
        self.venue = venue
        self.out = publisher
        self.orders: dict[str, TrackedOrder] = {}
        self._replaying = False

    def restore(self, history: Iterable[Envelope], address: str) -> None:
        """The orders the journal shows as sent here, with what it was told of them."""
        for envelope in history:
            m = envelope.message
            if isinstance(m, SubmitOrder):
                if envelope.destination == address:
                    self.orders[m.client_order_id] = TrackedOrder(
                        m.client_order_id, m.symbol, m.side, m.quantity, m.time_in_force
                    )
                continue
            if getattr(m, "venue", None) != self.venue:
                continue
            order = self.orders.get(getattr(m, "client_order_id", ""))
            if order is None:
                continue
            if isinstance(m, OrderAccepted):
                order.accepted, order.venue_order_id = True, m.venue_order_id
            elif isinstance(m, FILL_TYPES):
                order.accepted, order.venue_order_id = True, m.venue_order_id
                order.executions.add(m.trade_id)
                order.filled += m.quantity
            if isinstance(m, FINAL_ORDER_EVENTS) and (
                not isinstance(m, FILL_TYPES) or m.leaves_quantity <= 0
            ):
                order.final = True
        self.orders = {cid: o for cid, o in self.orders.items() if o.working}

    def track(self, order: SubmitOrder) -> TrackedOrder:
        tracked = TrackedOrder(
            order.client_order_id,
            order.symbol,
            order.side,
            order.quantity,
            order.time_in_force,
            placing=True,
        )
        self.orders[order.client_order_id] = tracked
        return tracked

    def adopt(self, order: dict[str, Any], fills: list[dict[str, Any]]) -> None:
        """An order open at Alpaca that the journal did not know: the reconciler adopts it and
        publishes its fills so far; from now on its events come from here."""
        report_fills = {execution_id(f) for f in fills}
        tracked = TrackedOrder(
            str(order["client_order_id"]),
            str(order["symbol"]),
            order["side"],
            amount(order.get("qty")),
            str(order.get("time_in_force", "gtc")),
            venue_order_id=str(order["id"]),
            created_at=str(order.get("created_at", "")),
            accepted=True,
            filled=sum((amount(f["qty"]) for f in fills), ZERO),
            executions=report_fills,
        )
        self.orders[tracked.client_order_id] = tracked

    def working(self) -> list[TrackedOrder]:
        return [o for o in self.orders.values() if o.working]

    # -- what Alpaca says -----------------------------------------------------------------------

    def update(self, data: dict[str, Any]) -> None:
        """One ``trade_updates`` event (its ``data``), or a REST snapshot (``event`` =
        ``snapshot``)."""
        snapshot = data.get("order") or {}
        order = self.orders.get(str(snapshot.get("client_order_id", "")))
        if order is None or order.final:
            return
        if order.held is not None:
            order.held.append(data)
            return
        self._learn(order, snapshot)
        event = str(data.get("event", ""))
        at_venue = amount(snapshot.get("filled_qty"))
        if event in ("fill", "partial_fill"):
            execution = str(data.get("execution_id", ""))
            if execution in order.executions:
                return
            quantity = amount(data.get("qty"))
            if at_venue > order.filled + quantity:
                self._hold(order, data)
                return
            ts = time_ns(str(data["timestamp"])) if data.get("timestamp") else None
            self._execute(order, execution, amount(data.get("price")), quantity, ts)
        elif event in FINAL_EVENTS or (
            event == SNAPSHOT and snapshot.get("status") in FINAL_STATUSES
        ):
            if at_venue > order.filled:
                self._hold(order, data)
                return
            self._finish(order, event if event != SNAPSHOT else str(snapshot["status"]), snapshot)
        elif event == SNAPSHOT:
            if at_venue > order.filled:
                self._hold(order, data)
            else:
                self._accept(order)
        elif event in ACCEPTED_EVENTS:
            self._accept(order)
        elif event == "order_cancel_rejected":
            self.out.cancel_rejected(order.client_order_id, "Alpaca refused to cancel the order")

    def snapshot(self, order_json: dict[str, Any]) -> None:
        """What a REST answer says of an order (placed, found, listed)."""
        self.update({"event": SNAPSHOT, "order": order_json})

    def fills_fetched(self, client_order_id: str, rows: list[dict[str, Any]]) -> bool:
        """The order's FILL activities arrived: publish the unseen ones, then what waited.
        Returns False when Alpaca's fills still fall short of what it said (ask again later)."""
        order = self.orders.get(client_order_id)
        if order is None or order.held is None:
            return True
        self.apply_fills(order, rows)
        held, order.held = order.held, None
        self._replaying = True
        try:
            for data in held:
                self.update(data)
        finally:
            self._replaying = False
        return order.held is None

    def apply_fills(self, order: TrackedOrder, rows: list[dict[str, Any]]) -> None:
        """Publish the FILL activities of ``order`` the node has not been told, oldest first."""
        for row in sorted(rows, key=lambda r: (str(r["transaction_time"]), str(r["id"]))):
            execution = execution_id(row)
            if order.final or execution in order.executions:
                continue
            self._execute(
                order,
                execution,
                amount(row["price"]),
                amount(row["qty"]),
                time_ns(str(row["transaction_time"])),
            )

    def forget(self, client_order_id: str) -> None:
        """The reconciler closes it (Alpaca never had it): nothing more comes from here."""
        order = self.orders.pop(client_order_id, None)
        if order is not None:
            order.final = True

    # -- publishing -----------------------------------------------------------------------------

    @staticmethod
    def _learn(order: TrackedOrder, snapshot: dict[str, Any]) -> None:
        if snapshot.get("id") and not order.venue_order_id:
            order.venue_order_id = str(snapshot["id"])
        if snapshot.get("created_at") and not order.created_at:
            order.created_at = str(snapshot["created_at"])

    def _hold(self, order: TrackedOrder, data: dict[str, Any]) -> None:
        log.info(
            "%s: Alpaca shows fills of %s the node has not had; fetching them",
            self.venue,
            order.client_order_id,
        )
        order.held = [data]
        if not self._replaying:  # else the caller asks again, later
            self.out.fetch_fills(order)

    def _accept(self, order: TrackedOrder) -> None:
        if not order.accepted and order.venue_order_id:
            order.accepted = True
            self.out.accepted(order.client_order_id, order.venue_order_id)

    def _execute(
        self,
        order: TrackedOrder,
        execution: str,
        price: Decimal,
        quantity: Decimal,
        ts: int | None,
    ) -> None:
        self._accept(order)
        order.executions.add(execution)
        order.filled += quantity
        leaves = max(order.quantity - order.filled, ZERO)
        self.out.filled(
            client_order_id=order.client_order_id,
            venue_order_id=order.venue_order_id,
            trade_id=execution,
            symbol=order.symbol,
            side=order.side,
            price=price,
            quantity=quantity,
            fee=ZERO,
            fee_currency="USD",
            liquidity="taker",
            cumulative_quantity=order.filled,
            leaves_quantity=leaves,
        )
        self.out.executed(order, price, quantity)
        if leaves <= 0:
            self._done(order)

    def _finish(self, order: TrackedOrder, event: str, snapshot: dict[str, Any]) -> None:
        cid, filled = order.client_order_id, order.filled
        if event == "filled":
            # every fill was published and the last one closed it; nothing is left to say
            if order.filled < order.quantity:
                log.error("%s: %s filled at Alpaca beyond what it was told", self.venue, cid)
            self._done(order)
            return
        if event != "rejected":
            self._accept(order)
        if event == "canceled":
            if order.cancel_reason is None and order.time_in_force in ("ioc", "fok"):
                reason = f"{order.time_in_force} remainder canceled by Alpaca"
                self.out.expired(cid, filled, reason)
            else:
                self.out.canceled(cid, order.cancel_reason or "canceled at Alpaca", filled)
        elif event == "expired":
            self.out.expired(cid, filled, "expired at Alpaca (its time in force ran out)")
        elif event == "replaced":
            by = snapshot.get("replaced_by") or "another order"
            self.out.canceled(cid, f"replaced at Alpaca by order {by}", filled)
        else:
            self.out.rejected(cid, "rejected by Alpaca's execution venue")
        self._done(order)

    def _done(self, order: TrackedOrder) -> None:
        order.final = True
        self.orders.pop(order.client_order_id, None)
        self.out.order_done(order)
