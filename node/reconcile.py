"""Reconciliation: before the node trades on a venue, its journal and the venue agree.

At start (and whenever a venue reconnects) every venue that can answer is asked what it knows
(``ReconcileVenue``): the orders the journal left unresolved (sent, no final event), its open
orders, and its fills since the last one journaled. The answer is turned into the events the
journal is missing, each exactly once:

* a fill the journal does not have is published as the fill it was (the ledger, router and the
  parent's executor take it like any other);
* an unresolved order the venue has finished is closed with its final event;
* an unresolved order the venue never heard of never reached it: it is closed as canceled, so
  the router may route that quantity again under a new id — nothing is ever resent blindly;
* an order the venue has open that the journal does not know is adopted (``OrderAdopted``) and
  reported, and its fills are applied;
* positions a venue holds when the node first reconciles with it, where the journal has none,
  are the account's opening positions: adopted at the venue's average price
  (``PositionsAdopted``), so a node can be pointed at an account that already holds stock;
* the venue's balances in the answer are published after all that (``BalancesUpdated``): they
  include the fills just published;
* a position the venue reports that differs from the journal's, after all that, halts trading
  in that instrument with both numbers (``InstrumentHalted``): the node does not guess. A
  position that appears later, or one without an average price to account it from, is such a
  difference.

A venue that cannot answer keeps the old rule: a parent with children whose fate is unknown is
closed as ``unknown`` with their ids, and trading halts until an operator resumes.
The manager works no order before every venue's reconciliation is done.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import msgspec

from node.component import Component, Envelope, decode_state, encode_state
from node.market import MarketState
from node.messages import (
    FILL_TYPES,
    FINAL_ORDER_EVENTS,
    BalancesUpdated,
    ExecutorFinished,
    FillReport,
    HaltTrading,
    InstrumentHalted,
    Message,
    OrderAdopted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    OrderStatusReport,
    PositionReport,
    PositionsAdopted,
    ReconcileVenue,
    SubmitOrder,
    VenueConnected,
    VenueReconciled,
    VenueStatus,
)
from node.portfolio import ZERO
from node.recent import Recent
from node.venue import adopted_order

log = logging.getLogger("tradenode.reconcile")


@dataclass
class _Order:
    """A child order the journal shows as sent to a venue and not yet finished."""

    order: SubmitOrder
    filled: Decimal = ZERO
    trades: set[str] = field(default_factory=set)


#: client order ids remembered as the journal's own (an open order at a venue with an id the node
#: sent long ago is still the node's: the window is far longer than any order stays open)
KNOWN_IDS = 500_000


class _ReconcilerState(msgspec.Struct):
    open: list[_Order]
    known_ids: list[str]
    last_fill_ts: dict[str, int]
    positions: list[tuple[str, str, Decimal]]
    reconciled: list[str] = []


class Reconciler(Component):
    """See the module docstring. Address ``reconcile``."""

    subscriptions = (VenueConnected, VenueReconciled, *FILL_TYPES, *FINAL_ORDER_EVENTS)
    observes = (SubmitOrder,)

    def __init__(self, market: MarketState, venues: list[str], name: str = "reconcile") -> None:
        super().__init__(name)
        self.market = market
        self.venue_names = list(venues)
        self.open: dict[str, _Order] = {}  # client order id → order sent and not finished
        self.known_ids: Recent[str] = Recent(KNOWN_IDS)  # client order ids the journal sent
        self.last_fill_ts: dict[str, int] = {}
        self.positions: dict[tuple[str, str], Decimal] = {}  # (venue, symbol) → quantity
        self.reconciled: set[str] = set()  # venues that have answered once (in the journal)
        self.pending: set[str] = set()  # venues asked, not yet answered

    # -- the journal's view ---------------------------------------------------------------------

    def restore(self, history: Iterable[Envelope]) -> None:
        for envelope in history:
            self._track(envelope.message, envelope)

    def _track(self, message: Message, envelope: Envelope | None = None) -> None:
        cls = message.__class__
        if cls is SubmitOrder:
            # On its way to risk or from risk to its venue: either way it may have reached the
            # venue, and asking the venue about one that did not costs nothing (it is unknown
            # there, and closed as never having arrived). Risk's refusal closes it here too.
            cid = message.client_order_id  # type: ignore[attr-defined]
            if cid not in self.open:
                self.open[cid] = _Order(message)  # type: ignore[arg-type]
            self.known_ids.add(cid)
        elif cls is VenueReconciled:
            if not message.error:  # type: ignore[attr-defined]
                self.reconciled.add(message.venue)  # type: ignore[attr-defined]
        elif cls is PositionsAdopted:
            for report in message.positions:  # type: ignore[attr-defined]
                key = (message.venue, report.symbol)  # type: ignore[attr-defined]
                self.positions[key] = self.positions.get(key, ZERO) + report.quantity
        elif cls is OrderAdopted:
            report = message.order  # type: ignore[attr-defined]
            self.known_ids.add(report.client_order_id)
            self.open[report.client_order_id] = _Order(adopted_order(message.venue, report))  # type: ignore[attr-defined]
        elif cls in FILL_TYPES:
            fill = message
            tracked = self.open.get(fill.client_order_id)  # type: ignore[attr-defined]
            if tracked is not None:
                tracked.filled += fill.quantity  # type: ignore[attr-defined]
                tracked.trades.add(fill.trade_id)  # type: ignore[attr-defined]
            key = (fill.venue, fill.symbol)  # type: ignore[attr-defined]
            signed = fill.quantity if fill.side == "buy" else -fill.quantity  # type: ignore[attr-defined]
            self.positions[key] = self.positions.get(key, ZERO) + signed
            self.last_fill_ts[fill.venue] = max(  # type: ignore[attr-defined]
                self.last_fill_ts.get(fill.venue, 0),
                fill.ts,  # type: ignore[attr-defined]
            )
        if isinstance(message, FINAL_ORDER_EVENTS) and (
            cls not in FILL_TYPES or message.__class__ is OrderFilled
        ):
            self.open.pop(message.client_order_id, None)

    def checkpoint(self) -> bytes:
        return encode_state(
            _ReconcilerState(
                list(self.open.values()),
                list(self.known_ids),
                self.last_fill_ts,
                [(v, s, q) for (v, s), q in self.positions.items()],
                sorted(self.reconciled),
            )
        )

    def restore_checkpoint(self, state: bytes) -> None:
        saved = decode_state(state, _ReconcilerState)
        self.open = {o.order.client_order_id: o for o in saved.open}
        self.known_ids = Recent(KNOWN_IDS, saved.known_ids)
        self.last_fill_ts = saved.last_fill_ts
        self.positions = {(v, s): q for v, s, q in saved.positions}
        self.reconciled = set(saved.reconciled)

    # -- asking the venues ----------------------------------------------------------------------

    def on_message(self, message: Message) -> None:
        cls = message.__class__
        if cls is VenueConnected:
            self._ask(message.venue)  # type: ignore[attr-defined]
        elif cls is VenueReconciled:
            self._answered(message)  # type: ignore[arg-type]
        else:
            self._track(message)

    def unresolved(self, venue: str) -> list[str]:
        return sorted(cid for cid, o in self.open.items() if o.order.venue == venue)

    def _ask(self, venue: str) -> None:
        state = self.market.venue(venue)
        if not state.capabilities.reconciles:
            state.reconciled = True
            unknown = self.unresolved(venue)
            if unknown:
                self._cannot_reconcile(venue, unknown)
            return
        state.reconciled = False
        self.pending.add(venue)
        self.ctx.send(
            f"venue.{venue}",
            ReconcileVenue(
                venue=venue,
                since_ts=self.last_fill_ts.get(venue, 0),
                client_order_ids=self.unresolved(venue),
                ts=self.ctx.now(),
            ),
        )

    def _cannot_reconcile(self, venue: str, unknown: list[str]) -> None:
        reason = (
            f"venue {venue} cannot be asked about child order(s) {', '.join(unknown)} whose "
            "outcome is not in the journal: check them at the venue before resuming"
        )
        log.error(reason)
        now = self.ctx.now()
        # Halt first: risk then holds the halt before any re-route the rejections below cause
        # reaches it (its inbox is first in, first out), so nothing is sent in their place.
        self.ctx.send("risk", HaltTrading(reason=reason, cancel_open_orders=True, ts=now))
        # Their parents are closed as ``unknown`` before the rejections reach anyone: otherwise a
        # resume would work them again and buy or sell what the unknown children may have done.
        parents = {p for cid in unknown if (p := self.open[cid].order.parent_id) is not None}
        for parent_id in sorted(parents):
            self.ctx.send(
                "execution",
                ExecutorFinished(parent_id=parent_id, reason=reason, status="unknown", ts=now),
            )
        for cid in unknown:
            tracked = self.open.pop(cid)
            self.ctx.publish(
                OrderRejected(
                    client_order_id=cid,
                    venue=venue,
                    reason=f"outcome unknown after a restart ({venue} cannot be asked)",
                    parent_id=tracked.order.parent_id,
                    ts=now,
                )
            )

    # -- what the venue said --------------------------------------------------------------------

    def _answered(self, answer: VenueReconciled) -> None:
        venue = answer.venue
        self.pending.discard(venue)
        state = self.market.venue(venue)
        if answer.error:
            self.ctx.publish(
                VenueStatus(
                    venue=venue, status="not reconciled", detail=answer.error, ts=self.ctx.now()
                )
            )
            unknown = self.unresolved(venue)
            state.reconciled = True
            if unknown:
                self._cannot_reconcile(venue, unknown)
            return
        reports = {r.client_order_id: r for r in [*answer.queried, *answer.open_orders]}
        fills_by_order: dict[str, list[FillReport]] = {}
        for f in answer.fills:
            fills_by_order.setdefault(f.client_order_id, []).append(f)
        found: list[str] = []
        # Orders the venue has that the journal never sent: adopt them first.
        for cid, report in reports.items():
            if cid not in self.known_ids and report.status == "open":
                found.append(f"adopted {cid} ({report.side} {report.quantity} {report.symbol})")
                self.ctx.publish(OrderAdopted(venue=venue, order=report, ts=self.ctx.now()))
                self._track(OrderAdopted(venue=venue, order=report))
        # Fills the journal does not have, for orders it knows or has just adopted.
        for cid, fills in fills_by_order.items():
            tracked = self.open.get(cid)
            if tracked is None:
                if cid not in self.known_ids:
                    found.append(f"a fill of unknown order {cid} at {venue} (not applied)")
                continue
            for f in sorted(fills, key=lambda f: f.ts):
                if f.trade_id in tracked.trades:
                    continue
                found.append(f"fill {f.trade_id} of {cid}: {f.side} {f.quantity} at {f.price}")
                self._publish_fill(tracked, f, reports.get(cid))
        # Unresolved orders: finished at the venue, or never there.
        for cid in self.unresolved(venue):
            tracked = self.open[cid]
            report = reports.get(cid)
            if report is None:
                if cid in answer.unknown:
                    found.append(f"{cid} never reached {venue}")
                    self._final(
                        tracked, OrderCanceled, "never reached the venue (found after a restart)"
                    )
                continue
            if report.status == "open":
                continue  # still working: its events come from the venue from now on
            if tracked.filled < report.filled_quantity:
                found.append(
                    f"{cid}: the venue filled {report.filled_quantity}, the journal "
                    f"{tracked.filled}, and gave no fills for the difference"
                )
                self._halt_instrument(
                    venue,
                    tracked.order.symbol,
                    f"order {cid} filled {report.filled_quantity} at {venue} but only "
                    f"{tracked.filled} is known",
                )
                continue
            if report.status == "filled":
                continue  # its last fill (published above, or journaled) closed it
            kind = {"canceled": OrderCanceled, "expired": OrderExpired}.get(
                report.status, OrderRejected
            )
            found.append(f"{cid} was {report.status} at {venue}")
            self._final(tracked, kind, f"{report.status} at the venue (found after a restart)")
        self._compare_positions(venue, answer, found)
        if answer.balances:
            # The venue's totals already include the fills just published: passed on after
            # them, so the ledger ends where the venue is (and not with those fills twice).
            state.balances = answer.balances
            self.ctx.publish(
                BalancesUpdated(venue=venue, balances=answer.balances, ts=self.ctx.now())
            )
        self._track(answer)
        state.reconciled = True
        if found:
            self.ctx.publish(
                VenueStatus(
                    venue=venue, status="reconciled", detail="; ".join(found), ts=self.ctx.now()
                )
            )

    def _publish_fill(
        self, tracked: _Order, f: FillReport, report: OrderStatusReport | None
    ) -> None:
        order = tracked.order
        filled = tracked.filled + f.quantity
        leaves = max(order.quantity - filled, ZERO)
        done = leaves == 0 or (
            report is not None and report.status != "open" and filled >= report.filled_quantity
        )
        cls = OrderFilled if leaves == 0 else OrderPartiallyFilled
        message = cls(
            client_order_id=f.client_order_id,
            venue=order.venue,
            venue_order_id=f.venue_order_id,
            trade_id=f.trade_id,
            symbol=order.symbol,
            side=order.side,
            price=f.price,
            quantity=f.quantity,
            fee=f.fee,
            fee_currency=f.fee_currency,
            liquidity=f.liquidity,
            cumulative_quantity=filled,
            leaves_quantity=leaves,
            parent_id=order.parent_id,
            ts=self.ctx.now(),
        )
        self.ctx.publish(message)
        self._track(message)
        if done and leaves > 0 and report is not None:
            kind = {"canceled": OrderCanceled, "expired": OrderExpired}.get(
                report.status, OrderRejected
            )
            self._final(tracked, kind, f"{report.status} at the venue (found after a restart)")

    def _final(self, tracked: _Order, kind: type, reason: str) -> None:
        order = tracked.order
        kwargs: dict = dict(
            client_order_id=order.client_order_id,
            venue=order.venue,
            reason=reason,
            parent_id=order.parent_id,
            ts=self.ctx.now(),
        )
        if kind is not OrderRejected:
            kwargs["filled_quantity"] = tracked.filled
        message = kind(**kwargs)
        self.ctx.publish(message)
        self._track(message)

    def _compare_positions(self, venue: str, answer: VenueReconciled, found: list[str]) -> None:
        first = venue not in self.reconciled
        adopted: list[PositionReport] = []
        for report in answer.positions:
            known = self.positions.get((venue, report.symbol), ZERO)
            if known == report.quantity:
                continue
            why = self._cannot_adopt(venue, report) if first and known == 0 else "later"
            if not why:
                adopted.append(report)
                continue
            detail = {
                "later": "",
                "no average price": " (first reconciliation, but the venue gave no average "
                "price to adopt it at)",
                "not listed": f" (first reconciliation, but {venue} did not list "
                f"{report.symbol} as an instrument)",
            }[why]
            self._halt_instrument(
                venue,
                report.symbol,
                f"{venue} reports a position of {report.quantity} {report.symbol}; the "
                f"journal's fills add up to {known}{detail}",
            )
        if adopted:
            message = PositionsAdopted(venue=venue, positions=adopted, ts=self.ctx.now())
            self.ctx.publish(message)
            self._track(message)
            found.extend(
                f"adopted the position of {r.quantity} {r.symbol} at {r.average_price}"
                for r in adopted
            )

    def _cannot_adopt(self, venue: str, report: PositionReport) -> str:
        if report.average_price is None:
            return "no average price"
        if self.market.instrument(venue, report.symbol) is None:
            return "not listed"
        return ""

    def _halt_instrument(self, venue: str, symbol: str, reason: str) -> None:
        log.error("halting %s on %s: %s", symbol, venue, reason)
        self.ctx.publish(
            InstrumentHalted(venue=venue, symbol=symbol, reason=reason, ts=self.ctx.now())
        )
