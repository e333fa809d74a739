"""The Interactive Brokers venue: stocks, futures and FX through TWS or IB Gateway (ib_async).

The component runs on its own thread; ``tradenode_ib.client.IbClient`` runs ib_async on the
venue's event loop and hands over plain snapshots. What the component does with them:

* a (re)connection publishes the instruments, the balances (cash per currency, and shares per
  stock so the ledger's stock fills agree with IB after every update) and ``VenueConnected``;
  the reconciler then asks what IB knows. While TWS is away (socket closed, or TWS reporting
  1100: its own link to IB lost) the venue is down: orders are refused, cancels wait for the
  connection to return.
* every order carries the node's client order id as ``orderRef``; IB's answers are matched by
  it. An execution is published once its commission report has arrived (fees are never
  guessed), exactly once per IB execution id, whoever told the node of it first: this venue
  live, or the reconciler after a reconnect. The final event (canceled, expired, rejected with
  TWS's code and words) waits until every execution IB counted is published.
* reconciliation answers from IB itself: every order of the day by ``orderRef`` (open ones of
  every client id, completed ones), executions since the point asked, positions. An order IB
  has never heard of is reported unknown — never resent.
* market data: L1 quotes as a one-level book (or L2 depth where configured) into the node's
  book, trades as ``TradeTick`` (aggressor inferred from the quote).
* TWS notices become ``VenueStatus`` events with their meaning; frames ib_async cannot read are
  logged with the frame and reported, and the node carries on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec

from node.component import Envelope, decode_state, encode_state
from node.messages import (
    FILL_TYPES,
    FINAL_ORDER_EVENTS,
    Balance,
    BookSnapshot,
    CancelOrder,
    FillReport,
    Instrument,
    OrderAccepted,
    OrderAdopted,
    OrderStatusReport,
    PositionReport,
    ReconcileVenue,
    SubmitOrder,
    TimerFired,
    TradeTick,
    VenueCapabilities,
    VenueReconciled,
)
from node.runtime.base import describe_error
from node.venue import VenueSetup, adopted_order, aggressor
from node.venue_loop import AsyncVenue
from tradenode_ib import codes
from tradenode_ib.config import IbVenueConfig
from tradenode_ib.messages import IbAccountUpdated
from tradenode_ib.orders import TrackedOrder, refusal, request_for, status_report
from tradenode_ib.snapshots import (
    ACKNOWLEDGED,
    AccountSnapshot,
    ExecutionSnapshot,
    MarketUpdate,
    OrderSnapshot,
    ReconcileSnapshot,
    Session,
)

if TYPE_CHECKING:
    from tradenode_ib.client import IbClient

log = logging.getLogger("tradenode.venue.ib")
_S = 1_000_000_000
_COMMISSION_TIMER = "ib.commission"
_RECONCILE_TIMER = "ib.reconcile"
_CANCEL_REFUSED_TIMER = "ib.cancel-refused"
_RECONCILE_RETRIES = 3
_RECONCILE_RETRY_NS = 2 * _S
#: unreadable frames reported as events: the first ten, then every hundredth
_UNREADABLE_SHOWN = 10


class IbVenue(AsyncVenue):
    """One IB account through one TWS API connection; see the module docstring."""

    capabilities = VenueCapabilities(
        order_types=("market", "limit", "stop", "stop_limit"),
        time_in_force=("day", "gtc", "ioc"),
        post_only=False,
        client_id_max_length=64,
        client_id_chars="A-Za-z0-9._:-",
        reconciles=True,
    )

    def __init__(self, name: str, config: IbVenueConfig, setup: VenueSetup) -> None:
        super().__init__(name, config, setup)
        self.config: IbVenueConfig = config
        self.orders: dict[str, TrackedOrder] = {}  # client order id (= orderRef) → order
        self.instruments: dict[str, Instrument] = {}
        self.client: IbClient | None = None
        self.account: AccountSnapshot | None = None
        self.session: Session | None = None
        self._balances: dict[str, Balance] | None = None
        self._summary: IbAccountUpdated | None = None
        #: orders IB counts more executions of than the node has published (not yet arrived, or
        #: waiting for their commission): IB's account values may already include them
        self._lagging: set[str] = set()
        self._balances_due = False
        self._link_lost = False
        self._unreadable = 0
        self._session_no = 0  # connections so far: orders remember the one they were sent on

    # -- restart --------------------------------------------------------------------------------

    def restore(self, history: Iterable[Envelope]) -> None:
        """Every order sent here and what the journal says became of it (whoever said it)."""
        history = list(history)
        super().restore(history)
        for envelope in history:
            m = envelope.message
            if isinstance(m, SubmitOrder):
                if envelope.destination == self.name:
                    self.orders[m.client_order_id] = TrackedOrder(m)
                continue
            if getattr(m, "venue", None) != self.venue:
                continue
            if isinstance(m, OrderAdopted):
                self.orders[m.order.client_order_id] = TrackedOrder(
                    adopted_order(self.venue, m.order)
                )
                continue
            tracked = self.orders.get(getattr(m, "client_order_id", ""))
            if tracked is None:
                continue
            if isinstance(m, OrderAccepted):
                tracked.accepted, tracked.venue_order_id = True, m.venue_order_id
            elif isinstance(m, FILL_TYPES):
                tracked.fills[m.trade_id] = m.quantity
                tracked.accepted = True
            if isinstance(m, FINAL_ORDER_EVENTS):
                tracked.done = True

    def checkpoint(self) -> bytes:
        """The unfinished orders and what they have published (and the base's parents)."""
        return encode_state(
            _Checkpoint(
                parents=self.parents,
                orders=[
                    _OrderCheckpoint(t.order, t.venue_order_id, t.accepted, t.fills)
                    for t in self.orders.values()
                    if not t.done
                ],
            )
        )

    def restore_checkpoint(self, state: bytes) -> None:
        saved = decode_state(state, _Checkpoint)
        self.parents = saved.parents
        self.orders = {
            o.order.client_order_id: TrackedOrder(
                o.order, venue_order_id=o.venue_order_id, accepted=o.accepted, fills=o.fills
            )
            for o in saved.orders
        }

    # -- connection -----------------------------------------------------------------------------

    def connect(self) -> None:
        from tradenode_ib.client import IbClient  # ib_async: imported only by a running venue

        self.client = IbClient(self.config, self.venue, _Bridge(self))
        super().connect()

    async def connect_async(self) -> None:
        assert self.client is not None
        await self.client.run()

    async def disconnect_async(self) -> None:
        if self.client is not None:
            await self.client.close()

    def _on_session(self, session: Session) -> None:
        self.session = session
        self._session_no += 1
        for symbol, why in session.missing.items():
            log.error("venue %s: contract %s left out: %s", self.venue, symbol, why)
            self.status("contract not found", f"{symbol}: {why}")
        self.instruments = {i.symbol: i for i in session.instruments}
        self.instruments_loaded(session.instruments)
        self._link_lost = False
        self._balances = None  # publish them whatever they were before the connection
        self._on_account(session.account_snapshot)
        log.info(
            "venue %s: connected to TWS (server version %d), account %s, %d contracts",
            self.venue,
            session.server_version,
            session.account,
            len(session.instruments),
        )
        self.connected()

    def _on_down(self, reason: str) -> None:
        if self.up or reason != self.down_reason:
            self.disconnected(reason, reconnecting=True)

    def _on_notice(self, req_id: int, code: int, message: str, order_ref: str) -> None:
        text = codes.describe(code, message)
        if code == codes.CLIENT_ID_IN_USE:
            return  # the venue's down reason says it, once, not at every attempt
        if code == codes.CONNECTIVITY_LOST:
            self._link_lost = True
            if self.up:
                self.disconnected(text, reconnecting=True)
        elif code in (codes.RESTORED_DATA_LOST, codes.RESTORED_DATA_MAINTAINED):
            self.status(codes.meaning(code), message)
            if self._link_lost and self.session is not None:
                self._link_lost = False
                self.connected()  # the reconciler asks what happened meanwhile
        elif order_ref:
            tracked = self.orders.get(order_ref)
            if (
                tracked is not None
                and code in codes.CANCEL_REFUSED
                and tracked.cancel_reason is not None
            ):
                self._cancel_refused(tracked, text)
            log.info("venue %s: order %s: %s", self.venue, order_ref, text)
            if code not in codes.IN_ORDER_EVENTS:
                self.status(codes.meaning(code), f"order {order_ref}: {message} (code {code})")
        else:
            self.status(codes.meaning(code), f"{message} (code {code}, request {req_id})")

    def _on_unreadable(self, frame: str, error: str) -> None:
        self._unreadable += 1
        n = self._unreadable
        if n <= _UNREADABLE_SHOWN or n % 100 == 0:
            self.status("unreadable frame from TWS", f"#{n}: {error}: {frame}")

    # -- market data ----------------------------------------------------------------------------

    def _on_market(self, updates: list[MarketUpdate]) -> None:
        now = self.ctx.now()
        for update in updates:
            symbol = update.symbol
            book = self.book(symbol)
            for price, size in update.trades:  # against the quote they printed on
                self.ctx.publish(
                    TradeTick(
                        venue=self.venue,
                        symbol=symbol,
                        price=price,
                        size=size,
                        aggressor=aggressor(price, *book.top()),
                        ts=now,
                    )
                )
            if update.bids is not None and update.asks is not None:
                snapshot = BookSnapshot(
                    venue=self.venue, symbol=symbol, bids=update.bids, asks=update.asks, ts=now
                )
                book.apply(snapshot, now)
                self.ctx.publish(snapshot)

    # -- account --------------------------------------------------------------------------------

    def _on_account(self, account: AccountSnapshot) -> None:
        """Balances from IB's account values; held back while an execution IB counts is not
        published yet (IB's cash already has it, the ledger not: publishing now would count it
        twice until the next update)."""
        self.account = account
        if self._lagging:
            self._balances_due = True
            return
        self._balances_due = False
        balances = {c: Balance(total=v, free=v) for c, v in sorted(account.cash.items())}
        for symbol, quantity in sorted(account.positions.items()):
            instrument = self.instruments.get(symbol)
            if instrument is not None and instrument.asset_class == "stock" and quantity:
                balances[instrument.base] = Balance(total=quantity, free=quantity)
        if balances != self._balances:
            self._balances = balances
            self.balances_updated(balances)
        summary = IbAccountUpdated(
            venue=self.venue,
            account=account.account,
            currency=account.base_currency,
            net_liquidation=account.summary.get("NetLiquidation"),
            values=dict(sorted(account.summary.items())),
            ts=self.ctx.now(),
        )
        previous = self._summary
        if previous is None or msgspec.structs.replace(previous, ts=summary.ts) != summary:
            self._summary = summary
            self.ctx.publish(summary)

    # -- orders ---------------------------------------------------------------------------------

    def submit(self, order: SubmitOrder) -> None:
        cid = order.client_order_id
        reason = refusal(
            order, self.instruments.get(order.symbol), sorted(self.instruments), self.capabilities
        )
        if reason is None and cid in self.orders:
            reason = f"duplicate client order id {cid}"
        if reason is not None:
            self.rejected(cid, reason)
            return
        assert self.client is not None
        tracked = self.orders[cid] = TrackedOrder(order, session=self._session_no)
        self.run_async(
            self.client.place(request_for(order)),
            then=self._on_order,
            failed=lambda exc: self._not_sent(tracked, exc),
        )

    def _not_sent(self, tracked: TrackedOrder, exc: BaseException) -> None:
        from tradenode_ib.client import NotSent

        if not isinstance(exc, NotSent):
            log.error(
                "venue %s: placing %s failed: %s",
                self.venue,
                tracked.client_order_id,
                describe_error(exc),
            )
        if not tracked.done:
            tracked.done = True
            self.rejected(tracked.client_order_id, f"not sent to IB: {exc}")

    def cancel(self, command: CancelOrder) -> None:
        cid = command.client_order_id
        tracked = self.orders.get(cid)
        if tracked is None:
            self.cancel_rejected(cid, f"no order {cid} was sent to {self.venue}")
        elif tracked.done:
            self.cancel_rejected(cid, f"order {cid} is already finished")
        elif not self.up:
            tracked.queued_cancel = command.reason
            log.info("venue %s: cancel of %s waits for TWS: %s", self.venue, cid, self.down_reason)
        else:
            self._send_cancel(tracked, command.reason)

    def _send_cancel(self, tracked: TrackedOrder, reason: str) -> None:
        assert self.client is not None
        tracked.queued_cancel = None
        tracked.cancel_reason = reason
        self.run_async(
            self.client.cancel(tracked.client_order_id),
            failed=lambda exc: self._cancel_failed(tracked, reason, exc),
        )

    def _cancel_failed(self, tracked: TrackedOrder, reason: str, exc: BaseException) -> None:
        from tradenode_ib.client import NotSent

        tracked.cancel_reason = None
        if tracked.done:
            return
        if isinstance(exc, NotSent):
            tracked.queued_cancel = reason  # sent once TWS is back
        else:
            self.cancel_rejected(tracked.client_order_id, str(exc))

    def _cancel_refused(self, tracked: TrackedOrder, text: str) -> None:
        """TWS refused the cancel: the order is not over (it is typically filling right now).
        It stays live until IB's order status and executions say how it ended; should they not
        come, IB is asked for them (``commission_wait_s`` later)."""
        cid = tracked.client_order_id
        log.warning("venue %s: cancel of %s refused: %s", self.venue, cid, text)
        self.cancel_rejected(cid, text)
        if not tracked.done:
            tracked.cancel_refused = True
            self._lagging.add(cid)
            delay = int(self.config.commission_wait_s * _S)
            self.ctx.schedule(delay, _CANCEL_REFUSED_TIMER, cid)

    def _cancel_refused_overdue(self, cid: str) -> None:
        tracked = self.orders.get(cid)
        if tracked is None or tracked.done or not self.up or self.client is None:
            return  # finished meanwhile; or the reconciliation after the reconnect asks IB
        log.info("venue %s: asking IB how %s ended after its cancel was refused", self.venue, cid)
        self.run_async(
            self.client.reconcile(tracked.order.ts),
            then=lambda snapshot: self._outcome(cid, snapshot),
            failed=lambda exc: log.warning(
                "venue %s: asking IB about %s failed: %s", self.venue, cid, describe_error(exc)
            ),
        )

    def _outcome(self, cid: str, snapshot: ReconcileSnapshot) -> None:
        """What IB says of one order whose cancel it refused: its executions, then its state."""
        tracked = self.orders.get(cid)
        if tracked is None or tracked.done:
            return
        for e in sorted(snapshot.executions, key=lambda e: (e.ts, e.exec_id)):
            if e.order_ref == cid:
                self._on_execution(e)
        ib_order = _by_ref(snapshot.orders).get(cid)
        if ib_order is not None:
            self._on_order(ib_order)
        elif not tracked.done:
            # IB lists it neither working nor completed (10147: it has no such order): nothing
            # more can come of it, so it ends here with what it filled, not open forever
            tracked.done = True
            self.canceled(
                cid,
                "IB refused its cancel and lists it neither working nor completed",
                tracked.filled,
            )
        tracked.cancel_refused = False  # IB has said what it knows of it
        self._lag(tracked)

    def _on_order(self, snapshot: OrderSnapshot) -> None:
        tracked = self.orders.get(snapshot.order_ref)
        if tracked is None or tracked.done:
            return
        tracked.last = snapshot
        if not tracked.accepted and snapshot.status in ACKNOWLEDGED:
            self._accept(tracked, snapshot.venue_order_id)
        self._settle(tracked)
        self._lag(tracked)

    def _accept(self, tracked: TrackedOrder, venue_order_id: str) -> None:
        tracked.accepted, tracked.venue_order_id = True, venue_order_id
        self.accepted(tracked.client_order_id, venue_order_id)

    def _on_execution(self, execution: ExecutionSnapshot) -> None:
        tracked = self.orders.get(execution.order_ref)
        if tracked is None or execution.exec_id in tracked.fills:
            return
        cid = tracked.client_order_id
        if tracked.done:
            detail = (
                f"execution {execution.exec_id} of finished order {cid}: {execution.side} "
                f"{execution.quantity} at {execution.price} (not applied)"
            )
            log.error("venue %s: %s", self.venue, detail)
            self.status("unexpected execution", detail)
            return
        if execution.commission is None:
            if execution.exec_id not in tracked.waiting:
                tracked.waiting[execution.exec_id] = execution
                self._lagging.add(cid)
                delay = int(self.config.commission_wait_s * _S)
                self.ctx.schedule(delay, _COMMISSION_TIMER, (cid, execution.exec_id))
            return
        tracked.waiting.pop(execution.exec_id, None)
        if not tracked.accepted:
            self._accept(tracked, str(execution.perm_id))
        order = tracked.order
        cumulative = tracked.filled + execution.quantity
        leaves = order.quantity - cumulative
        tracked.fills[execution.exec_id] = execution.quantity
        tracked.done = leaves <= 0
        self.filled(
            client_order_id=cid,
            venue_order_id=tracked.venue_order_id,
            trade_id=execution.exec_id,
            symbol=order.symbol,
            side=order.side,
            price=execution.price,
            quantity=execution.quantity,
            fee=execution.commission,
            fee_currency=execution.commission_currency or self._quote(order.symbol),
            liquidity=execution.liquidity,
            cumulative_quantity=cumulative,
            leaves_quantity=max(leaves, Decimal(0)),
        )
        self._settle(tracked)
        self._lag(tracked)

    def _lag(self, tracked: TrackedOrder) -> None:
        """Note whether IB is ahead of the node on this order; publish the balances held back
        once it is on no order."""
        last = tracked.last
        ahead = bool(tracked.waiting) or (
            not tracked.done
            and (tracked.cancel_refused or (last is not None and last.filled > tracked.filled))
        )
        if ahead:
            self._lagging.add(tracked.client_order_id)
            return
        self._lagging.discard(tracked.client_order_id)
        if self._balances_due and not self._lagging and self.account is not None:
            self._on_account(self.account)

    def _settle(self, tracked: TrackedOrder) -> None:
        verdict = tracked.final()
        if verdict is None:
            return
        kind, reason = verdict
        tracked.done = True
        cid = tracked.client_order_id
        if kind == "rejected":
            self.rejected(cid, reason)
        elif kind == "expired":
            self.expired(cid, tracked.filled, reason)
        else:
            self.canceled(cid, reason, tracked.filled)

    def _quote(self, symbol: str) -> str:
        instrument = self.instruments.get(symbol)
        return instrument.quote if instrument is not None else ""

    def on_other(self, message: Any) -> None:
        if message.__class__ is not TimerFired:
            return
        if message.name == _COMMISSION_TIMER:
            self._commission_overdue(*message.payload)
        elif message.name == _CANCEL_REFUSED_TIMER:
            self._cancel_refused_overdue(message.payload)
        elif message.name == _RECONCILE_TIMER:
            request, attempt = message.payload
            self._reconcile(request, attempt)

    def _commission_overdue(self, cid: str, exec_id: str) -> None:
        tracked = self.orders.get(cid)
        execution = tracked.waiting.get(exec_id) if tracked is not None else None
        if execution is None:
            return
        detail = (
            f"no commission report for execution {exec_id} of {cid} "
            f"({execution.side} {execution.quantity} at {execution.price}) after "
            f"{self.config.commission_wait_s:g} s: asking IB again; the fill is published "
            "with its commission"
        )
        log.warning("venue %s: %s", self.venue, detail)
        self.status("commission report missing", detail)
        if self.up and self.client is not None:
            self.run_async(self.client.executions(execution.ts), then=self._on_executions)

    def _on_executions(self, found: list[ExecutionSnapshot]) -> None:
        for execution in found:
            self._on_execution(execution)

    # -- reconciliation -------------------------------------------------------------------------

    def reconcile(self, request: ReconcileVenue) -> None:
        self._reconcile(request, 1)

    def _reconcile(self, request: ReconcileVenue, attempt: int) -> None:
        if not self.up or self.client is None:
            # the reconciler asks again when the venue connects again
            log.info("venue %s: reconciliation waits for TWS: %s", self.venue, self.down_reason)
            return
        self.run_async(
            self.client.reconcile(request.since_ts),
            then=lambda snapshot: self._answer(request, snapshot),
            failed=lambda exc: self._reconcile_failed(request, attempt, exc),
        )

    def _reconcile_failed(self, request: ReconcileVenue, attempt: int, exc: BaseException) -> None:
        error = describe_error(exc)
        if not self.up:
            log.info(
                "venue %s: reconciliation cut short (%s); asked again later", self.venue, error
            )
        elif attempt < _RECONCILE_RETRIES:
            log.warning("venue %s: reconciliation failed (%s); retrying", self.venue, error)
            self.ctx.schedule(_RECONCILE_RETRY_NS, _RECONCILE_TIMER, (request, attempt + 1))
        else:
            self.ctx.publish(
                VenueReconciled(
                    venue=self.venue,
                    error=f"IB did not answer reconciliation queries: {error}",
                    ts=self.ctx.now(),
                )
            )

    def _answer(self, request: ReconcileVenue, snapshot: ReconcileSnapshot) -> None:
        """Answer from what IB knows. The orders the reconciler asked about (those the journal
        left unresolved at the node's start) are its to settle: the answer carries their state
        and executions, and the venue only notes them as told. The reconciler knows nothing of
        the orders sent since the node started; for those this venue publishes what it missed
        while TWS was away itself (every execution id once), before the answer."""
        now = self.ctx.now()
        ib_orders = _by_ref(snapshot.orders)
        executions: dict[str, list[ExecutionSnapshot]] = {}
        for e in sorted(snapshot.executions, key=lambda e: (e.ts, e.exec_id)):
            if e.order_ref:
                executions.setdefault(e.order_ref, []).append(e)
        asked = set(request.client_order_ids)
        self._catch_up(asked, ib_orders, executions)
        queried: list[OrderStatusReport] = []
        unknown: list[str] = []
        for cid in request.client_order_ids:
            tracked = self.orders.get(cid)
            report = self._report(cid, tracked, ib_orders.get(cid), executions.get(cid, []), now)
            if report is None:
                unknown.append(cid)
                if tracked is not None:
                    tracked.done = True  # the reconciler closes it: it never reached IB
                continue
            queried.append(report)
            if tracked is not None:
                tracked.accepted, tracked.venue_order_id = True, report.venue_order_id
                tracked.done = report.status != "open"  # else: its events come live from now
        open_orders = []
        for ref, ib_order in ib_orders.items():
            mine = ib_order.client_id == self.config.client_id
            if ref in self.orders or not (ib_order.working and mine and ib_order.symbol):
                continue
            # an order of this client id the node never sent: the reconciler adopts it
            report = status_report(ref, None, ib_order, ib_order.filled, now)
            tracked = self.orders[ref] = TrackedOrder(adopted_order(self.venue, report))
            tracked.last, tracked.accepted = ib_order, True
            asked.add(ref)
            open_orders.append(report)
        fills = []
        incomplete: set[str] = set()  # symbols with executions IB sent no commission for
        for ref in sorted(asked):
            tracked = self.orders.get(ref)
            for e in executions.get(ref, []) if tracked is not None else []:
                assert tracked is not None
                if e.commission is None:
                    incomplete.add(tracked.order.symbol)
                    continue
                fills.append(_fill_report(ref, tracked, e))
                tracked.fills[e.exec_id] = e.quantity  # the reconciler publishes what is new
                tracked.waiting.pop(e.exec_id, None)
        for ref in list(self._lagging):
            tracked = self.orders.get(ref)
            if tracked is None or tracked.done:
                self._lagging.discard(ref)
        for symbol in sorted(incomplete):
            self.status(
                "commission report missing",
                f"{symbol}: IB sent executions without their commission; their fills wait",
            )
        self.ctx.publish(
            VenueReconciled(
                venue=self.venue,
                open_orders=open_orders,
                queried=queried,
                unknown=unknown,
                fills=fills,
                balances=dict(self._balances or {}),
                positions=[
                    PositionReport(
                        symbol=s,
                        quantity=snapshot.positions.get(s, Decimal(0)),
                        average_price=snapshot.average_prices.get(s),
                    )
                    for s in sorted(self.instruments)
                    if s not in incomplete
                ],
                ts=now,
            )
        )
        for tracked in list(self.orders.values()):
            if tracked.queued_cancel is not None and not tracked.done:
                self._send_cancel(tracked, tracked.queued_cancel)

    def _catch_up(
        self,
        asked: set[str],
        ib_orders: dict[str, OrderSnapshot],
        executions: dict[str, list[ExecutionSnapshot]],
    ) -> None:
        """This run's own unfinished orders: publish the executions and the end IB reports.
        One IB has no trace of was in flight when the connection went: it never reached IB
        (orders sent on the current connection are left alone: IB may not list them yet)."""
        for ref, tracked in list(self.orders.items()):
            if ref in asked or tracked.done:
                continue
            found = executions.get(ref, [])
            for e in found:
                self._on_execution(e)
            ib_order = ib_orders.get(ref)
            if ib_order is not None:
                self._on_order(ib_order)
            elif not found and tracked.session < self._session_no and not tracked.done:
                tracked.done = True
                self.canceled(ref, "never reached IB (found after reconnecting)")

    def _report(
        self,
        cid: str,
        tracked: TrackedOrder | None,
        ib_order: OrderSnapshot | None,
        executions: list[ExecutionSnapshot],
        now: int,
    ) -> OrderStatusReport | None:
        """What IB says of one order the journal left unresolved; None: IB never heard of it."""
        filled = sum((e.quantity for e in executions), Decimal(0))
        waiting = any(e.commission is None for e in executions)
        if ib_order is None:
            if not executions:
                return None
            # executions but no order of the day: IB had it; finished only when fully filled
            first = executions[0]
            quantity = tracked.order.quantity if tracked is not None else filled
            return OrderStatusReport(
                client_order_id=cid,
                venue_order_id=str(first.perm_id),
                symbol=tracked.order.symbol if tracked is not None else (first.symbol or ""),
                side=tracked.order.side if tracked is not None else first.side,
                quantity=quantity,
                filled_quantity=filled,
                status="filled" if filled >= quantity and tracked and not waiting else "open",
                limit_price=tracked.order.limit_price if tracked is not None else None,
                ts=now,
            )
        if tracked is not None:
            tracked.last = ib_order
        report = status_report(cid, tracked.order if tracked else None, ib_order, filled, now)
        if waiting and report.status != "open":
            # its last fills wait for their commission: keep it open until they are published
            return msgspec.structs.replace(report, status="open")
        return report


class _OrderCheckpoint(msgspec.Struct):
    order: SubmitOrder
    venue_order_id: str
    accepted: bool
    fills: dict[str, Decimal]


class _Checkpoint(msgspec.Struct):
    parents: dict[str, str | None]
    orders: list[_OrderCheckpoint]


class _Bridge:
    """Hands what the IB client reports on the venue's loop to the component's own thread."""

    def __init__(self, venue: IbVenue) -> None:
        self.venue = venue

    def session_started(self, session: Session) -> None:
        self.venue.post(lambda: self.venue._on_session(session))

    def session_down(self, reason: str) -> None:
        self.venue.post(lambda: self.venue._on_down(reason))

    def order_changed(self, order: OrderSnapshot) -> None:
        self.venue.post(lambda: self.venue._on_order(order))

    def executed(self, execution: ExecutionSnapshot) -> None:
        self.venue.post(lambda: self.venue._on_execution(execution))

    def account_changed(self, account: AccountSnapshot) -> None:
        self.venue.post(lambda: self.venue._on_account(account))

    def market(self, updates: list[MarketUpdate]) -> None:
        self.venue.post(lambda: self.venue._on_market(updates))

    def notice(self, req_id: int, code: int, message: str, order_ref: str) -> None:
        self.venue.post(lambda: self.venue._on_notice(req_id, code, message, order_ref))

    def unreadable(self, frame: str, error: str) -> None:
        self.venue.post(lambda: self.venue._on_unreadable(frame, error))


def _by_ref(orders: list[OrderSnapshot]) -> dict[str, OrderSnapshot]:
    """IB's orders by orderRef; a working one wins over a finished one of the same ref."""
    out: dict[str, OrderSnapshot] = {}
    for order in orders:
        if not order.order_ref:
            continue
        seen = out.get(order.order_ref)
        if seen is None or order.working or not seen.working:
            out[order.order_ref] = order
    return out


def _fill_report(ref: str, tracked: TrackedOrder, e: ExecutionSnapshot) -> FillReport:
    assert e.commission is not None
    return FillReport(
        client_order_id=ref,
        venue_order_id=str(e.perm_id),
        trade_id=e.exec_id,
        symbol=tracked.order.symbol,
        side=tracked.order.side,
        price=e.price,
        quantity=e.quantity,
        fee=e.commission,
        fee_currency=e.commission_currency,
        liquidity=e.liquidity,
        ts=e.ts,
    )
