"""Every order this venue sent, followed to its end from whatever the exchange says about it.

An order's news arrives from several places, in any order and sometimes twice: the answer to
``create_order`` (with its immediate fills), the account stream (order updates and trades), a
lookup by client id, a cancel's answer, a REST check, reconciliation. The tracker folds each into
one state per order and says what the node has not been told yet:

* a fill is published once per (client order id, trade id), whichever source brings it first;
  its cumulative and leaves quantities count the fills published, so they always add up;
* an order's final state (canceled, expired, rejected) is published only once every fill the
  exchange counts for it has been published: a final state seen before its fills waits for them
  (``gaps`` names the orders whose fills must be fetched);
* a status never goes back: an update older than one already seen (events swapped in transit)
  changes nothing.

It runs on the venue's event loop and only returns events; the venue publishes them in order on
its own thread.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from node.component import Envelope
from node.messages import (
    FILL_TYPES,
    FINAL_ORDER_EVENTS,
    Liquidity,
    OrderAccepted,
    OrderAdopted,
    OrderStatusReport,
    Side,
    SubmitOrder,
    VenueReconciled,
)
from node.venue import adopted_order
from tradenode_ccxt.convert import STATUSES, ZERO, MalformedReply, dec, ms_to_ns, side_of, trade_fee

#: trades of an order id not known yet are kept this long for the order to show up
_ORPHAN_TTL_S = 60.0
_MAX_ORPHANS = 10_000


@dataclass(frozen=True)
class Accepted:
    client_order_id: str
    venue_order_id: str


@dataclass(frozen=True)
class Filled:
    client_order_id: str
    venue_order_id: str
    trade_id: str
    symbol: str
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_currency: str
    liquidity: Liquidity
    cumulative_quantity: Decimal
    leaves_quantity: Decimal
    ts: int | None


@dataclass(frozen=True)
class Closed:
    client_order_id: str
    kind: Literal["canceled", "expired", "rejected"]
    filled_quantity: Decimal
    reason: str


Event = Accepted | Filled | Closed


@dataclass
class TrackedOrder:
    order: SubmitOrder
    venue_order_id: str | None = None
    accepted: bool = False
    filled: Decimal = ZERO
    trade_ids: set[str] = field(default_factory=set)
    #: the most the exchange has said is filled, and the final status it gave (node terms)
    venue_filled: Decimal = ZERO
    venue_final: str | None = None
    done: bool = False

    @property
    def client_order_id(self) -> str:
        return self.order.client_order_id

    @property
    def gap(self) -> bool:
        """The exchange counts fills the node has not been given."""
        return not self.done and self.venue_filled > self.filled


class OrderTracker:
    """See the module docstring. ``quotes`` maps a symbol to its quote currency (the fee
    currency when a trade names none)."""

    def __init__(self, venue: str, quotes: dict[str, str] | None = None) -> None:
        self.venue = venue
        self.quotes = dict(quotes or {})
        self.orders: dict[str, TrackedOrder] = {}
        self.by_venue_id: dict[str, str] = {}
        self._orphans: OrderedDict[tuple[str, str], tuple[float, dict[str, Any]]] = OrderedDict()
        self._events: list[Event] = []

    # -- what the node sent ---------------------------------------------------------------------

    def add(self, order: SubmitOrder) -> TrackedOrder:
        tracked = self.orders.get(order.client_order_id)
        if tracked is None:
            tracked = self.orders[order.client_order_id] = TrackedOrder(order)
        return tracked

    def get(self, client_order_id: str) -> TrackedOrder | None:
        return self.orders.get(client_order_id)

    def open_orders(self) -> list[TrackedOrder]:
        return [t for t in self.orders.values() if not t.done]

    def restore_row(self, envelope: Envelope, address: str) -> None:
        """One journal row after the checkpoint (``load``): orders sent here, their acceptance,
        fills and end. A fill already counted (the checkpoint may include one whose event was
        journaled after it) is not counted again."""
        m = envelope.message
        if isinstance(m, SubmitOrder):
            if envelope.destination == address:
                self.add(m)
            return
        if isinstance(m, OrderAdopted):
            if m.venue == self.venue:
                self._adopt(m.order)
            return
        if getattr(m, "venue", None) != self.venue:
            return
        tracked = self.orders.get(getattr(m, "client_order_id", ""))
        if tracked is None:
            return
        if isinstance(m, OrderAccepted):
            self._set_venue_id(tracked, m.venue_order_id)
            tracked.accepted = True
        elif isinstance(m, FILL_TYPES):
            self._set_venue_id(tracked, m.venue_order_id)
            tracked.accepted = True
            if m.trade_id not in tracked.trade_ids:
                tracked.trade_ids.add(m.trade_id)
                tracked.filled += m.quantity
                tracked.venue_filled = max(tracked.venue_filled, tracked.filled)
            if m.leaves_quantity <= 0:
                tracked.done = True
        elif isinstance(m, FINAL_ORDER_EVENTS):
            tracked.done = True

    def load(self, orders: Iterable[TrackedOrder]) -> None:
        """The open orders a checkpoint kept."""
        for tracked in orders:
            self.orders[tracked.client_order_id] = tracked
            if tracked.venue_order_id:
                self.by_venue_id[tracked.venue_order_id] = tracked.client_order_id

    def restored(self) -> None:
        """After the last restored row: orders that finished leave."""
        self._forget_done()

    # -- what the exchange says -----------------------------------------------------------------

    def on_order(
        self,
        order: dict[str, Any],
        client_order_id: str | None = None,
        liquidity: Liquidity = "taker",
    ) -> TrackedOrder | None:
        """An order structure from any source; ``liquidity`` is what its embedded trades were
        (a ``create_order`` answer's fills took liquidity). Orders not sent by this node are
        ignored."""
        tracked = self._find(order, client_order_id)
        if tracked is None:
            return None
        venue_id = order.get("id")
        if venue_id:
            self._set_venue_id(tracked, str(venue_id))
        status = STATUSES.get(order.get("status") or "")
        if status is None:
            raise MalformedReply(f"order {venue_id} with status {order.get('status')!r}")
        if status == "rejected" and not tracked.accepted:
            self._close(tracked, "rejected", f"rejected by {self.venue}")
            return tracked
        if not tracked.accepted and tracked.venue_order_id and not tracked.done:
            tracked.accepted = True
            self._events.append(Accepted(tracked.client_order_id, tracked.venue_order_id))
        filled = order.get("filled")
        if filled is not None:
            tracked.venue_filled = max(tracked.venue_filled, dec(filled))
        elif status == "filled":
            tracked.venue_filled = max(tracked.venue_filled, tracked.order.quantity)
        # an end without a filled quantity cannot be closed on (its fills are unknown): the
        # REST checks bring the whole order
        if (
            status != "open"
            and tracked.venue_final is None
            and (filled is not None or status == "filled")
        ):
            tracked.venue_final = status
        for trade in order.get("trades") or ():
            self._trade(tracked, trade, order, liquidity)
        self._settle(tracked)
        return tracked

    def on_trade(self, trade: dict[str, Any], client_order_id: str | None = None) -> None:
        """One of the account's trades (stream or ``fetch_my_trades``)."""
        venue_id = trade.get("order")
        cid = client_order_id or (self.by_venue_id.get(str(venue_id)) if venue_id else None)
        tracked = self.orders.get(cid) if cid else None
        if tracked is None:
            if venue_id and cid is None:
                self._keep_orphan(str(venue_id), trade)
            return
        if venue_id:
            self._set_venue_id(tracked, str(venue_id))
        self._trade(tracked, trade, None, "taker")
        self._settle(tracked)

    def refused(self, client_order_id: str, reason: str) -> None:
        """The exchange refused the order (or it never reached it and is not sent again)."""
        tracked = self.orders.get(client_order_id)
        if tracked is not None and not tracked.done:
            self._close(tracked, "rejected", reason)

    def canceled_unsent(self, client_order_id: str, reason: str) -> None:
        """Canceled while it waited in the queue: it never left."""
        tracked = self.orders.get(client_order_id)
        if tracked is not None and not tracked.done:
            self._close(tracked, "canceled", reason)

    def gaps(self) -> list[TrackedOrder]:
        return [t for t in self.orders.values() if t.gap]

    def take_events(self) -> list[Event]:
        events, self._events = self._events, []
        self._forget_done()
        return events

    # -- reconciliation -------------------------------------------------------------------------

    def absorb(self, answer: VenueReconciled) -> None:
        """Take in an answer to the reconciler as the reconciler will: the fills it reports are
        published by the reconciler (not again by this venue), the finished orders it reports
        are closed by it, open orders it does not know are adopted."""
        reports: dict[str, OrderStatusReport] = {
            r.client_order_id: r for r in [*answer.queried, *answer.open_orders]
        }
        for report in reports.values():
            if report.client_order_id not in self.orders and report.status == "open":
                self._adopt(report)
        for fill in answer.fills:
            tracked = self.orders.get(fill.client_order_id)
            if tracked is None or fill.trade_id in tracked.trade_ids:
                continue
            tracked.trade_ids.add(fill.trade_id)
            tracked.filled += fill.quantity
            self._set_venue_id(tracked, fill.venue_order_id)
            tracked.accepted = True
        for cid, report in reports.items():
            tracked = self.orders.get(cid)
            if tracked is None:  # finished, and never tracked here: the reconciler closes it
                continue
            if report.venue_order_id:
                self._set_venue_id(tracked, report.venue_order_id)
                tracked.accepted = True
            tracked.venue_filled = max(tracked.venue_filled, report.filled_quantity)
            if report.status != "open" or tracked.filled >= tracked.order.quantity:
                tracked.done = True
        for cid in answer.unknown:
            tracked = self.orders.get(cid)
            if tracked is not None:
                tracked.done = True
        self._forget_done()

    # -- internals ------------------------------------------------------------------------------

    def _find(self, order: dict[str, Any], client_order_id: str | None) -> TrackedOrder | None:
        for cid in (client_order_id, order.get("clientOrderId")):
            if cid and cid in self.orders:
                return self.orders[cid]
        venue_id = order.get("id")
        cid = self.by_venue_id.get(str(venue_id)) if venue_id else None
        return self.orders.get(cid) if cid else None

    def _adopt(self, report: OrderStatusReport) -> None:
        tracked = self.add(adopted_order(self.venue, report))
        tracked.accepted = True
        self._set_venue_id(tracked, report.venue_order_id)

    def _set_venue_id(self, tracked: TrackedOrder, venue_id: str) -> None:
        if not venue_id or tracked.venue_order_id == venue_id:
            return
        tracked.venue_order_id = venue_id
        self.by_venue_id[venue_id] = tracked.client_order_id
        waiting = [key for key in self._orphans if key[0] == venue_id]
        for key in waiting:
            _, trade = self._orphans.pop(key)
            self._trade(tracked, trade, None, "taker")

    def _keep_orphan(self, venue_id: str, trade: dict[str, Any]) -> None:
        now = time.monotonic()
        self._orphans[(venue_id, str(trade.get("id")))] = (now, trade)
        while self._orphans:
            key, (seen, _) = next(iter(self._orphans.items()))
            if now - seen < _ORPHAN_TTL_S and len(self._orphans) <= _MAX_ORPHANS:
                break
            self._orphans.pop(key)

    def _trade(
        self,
        tracked: TrackedOrder,
        trade: dict[str, Any],
        order: dict[str, Any] | None,
        liquidity: Liquidity,
    ) -> None:
        trade_id = trade.get("id")
        if trade_id is None:
            raise MalformedReply(f"a trade of {tracked.client_order_id} without an id")
        trade_id = str(trade_id)
        if trade_id in tracked.trade_ids or tracked.done:
            return
        o = tracked.order
        if trade.get("side") is not None and side_of(trade) != o.side:
            raise MalformedReply(f"trade {trade_id} is a {trade['side']}, its order a {o.side}")
        if trade.get("price") is None or trade.get("amount") is None:
            raise MalformedReply(
                f"trade {trade_id} of {tracked.client_order_id} lacks price/amount"
            )
        quantity = dec(trade["amount"])
        fee, fee_currency = trade_fee(trade, self.quotes.get(o.symbol, ""))
        stamp = trade.get("timestamp") or (order or {}).get("lastTradeTimestamp")
        tracked.trade_ids.add(trade_id)
        tracked.filled += quantity
        tracked.venue_filled = max(tracked.venue_filled, tracked.filled)
        if not tracked.accepted and tracked.venue_order_id:
            tracked.accepted = True
            self._events.append(Accepted(tracked.client_order_id, tracked.venue_order_id))
        kind = trade.get("takerOrMaker")
        self._events.append(
            Filled(
                client_order_id=tracked.client_order_id,
                venue_order_id=tracked.venue_order_id or str(trade.get("order") or ""),
                trade_id=trade_id,
                symbol=o.symbol,
                side=o.side,
                price=dec(trade["price"]),
                quantity=quantity,
                fee=fee,
                fee_currency=fee_currency,
                liquidity=kind if kind in ("maker", "taker") else liquidity,
                cumulative_quantity=tracked.filled,
                leaves_quantity=max(o.quantity - tracked.filled, ZERO),
                ts=ms_to_ns(stamp) or None,
            )
        )
        if tracked.filled >= o.quantity:
            tracked.done = True

    def _settle(self, tracked: TrackedOrder) -> None:
        """Publish the final state once every fill the exchange counts is published."""
        if tracked.done or tracked.venue_final is None or tracked.gap:
            return
        final = tracked.venue_final
        if final == "filled":
            # closed short of its quantity (the exchange's own reason): nothing more will fill
            self._close(tracked, "expired", f"closed by {self.venue} with {tracked.filled} filled")
        elif final == "canceled":
            self._close(tracked, "canceled", f"canceled at {self.venue}")
        elif final == "expired":
            self._close(tracked, "expired", f"{tracked.order.time_in_force} remainder expired")
        else:
            self._close(tracked, "rejected", f"rejected by {self.venue}")

    def _close(self, tracked: TrackedOrder, kind: str, reason: str) -> None:
        tracked.done = True
        self._events.append(Closed(tracked.client_order_id, kind, tracked.filled, reason))  # type: ignore[arg-type]

    def _forget_done(self) -> None:
        """Finished orders leave the tracker (a late duplicate of their trades has no order to
        belong to and is dropped as an orphan)."""
        for cid in [cid for cid, t in self.orders.items() if t.done]:
            tracked = self.orders.pop(cid)
            if tracked.venue_order_id:
                self.by_venue_id.pop(tracked.venue_order_id, None)
