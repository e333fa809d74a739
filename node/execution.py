"""The execution manager: owns every parent order's life, from submission to its report.

It validates ``SubmitParentOrder`` (a known algorithm and its params, a listed symbol, a
quantity no venue's lot makes untradable, a positive limit, known venues), accepts or rejects it
with the reason, spawns one executor per parent from the algorithms registry, forwards
``CancelParentOrder`` and ``CompleteParentOrder`` to it, and closes each parent with
``ParentOrderCompleted`` and its execution report when the executor finishes.

Nothing is worked before the node is ready (every configured venue connected, with instruments,
balances and a book for each instrument — or the wait timed out, and the missing venues are left
out or the node stops, by config) and nothing while trading is halted: such parents wait,
visibly (``ParentOrderWaiting``), and are worked once the node is ready and trading is active.

On a start after a stop or a crash, parents the journal shows as accepted and unfinished get
their executor back, which resumes from the journal — or, with ``[node.ready] interrupted =
"stop"``, cancels what is open and closes the parent with its report; a parent journaled but
never accepted is simply worked now (nothing of it can have been sent).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import msgspec

from node.algo import ExecutorServices, executor_address
from node.component import Component, Envelope, decode_state, encode_state
from node.execution_report import ParentFills, build_report, derive_status
from node.market import MarketState
from node.messages import (
    FILL_TYPES,
    BalancesUpdated,
    BookSnapshot,
    CancelParentOrder,
    CompleteParentOrder,
    ExecutorFinished,
    InstrumentsLoaded,
    Message,
    NodeReady,
    ParentCancelRejected,
    ParentCompleteRejected,
    ParentOrderAccepted,
    ParentOrderCompleted,
    ParentOrderRejected,
    ParentOrderWaiting,
    ParentStatus,
    SliceRouted,
    SubmitParentOrder,
    TimerFired,
    TradingState,
    TradingStateChanged,
    VenueConnected,
    VenueDisconnected,
)
from node.registry import Registry
from node.validation import convert_all

log = logging.getLogger("tradenode.execution")

_READY_TIMER = "execution.ready"
_MAX_AMOUNT = Decimal("1e15")  # beyond any real order, and past what float kernels carry
_READY_POLL_NS = 100_000_000


class ReadinessConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[node.ready]``: how long the node waits for its venues before it works any order, and
    what it does about a venue that is not there by then."""

    timeout_s: float = 30.0
    missing_venue: Literal["trade-without", "stop"] = "trade-without"
    #: parents a stop or crash interrupted: their algorithm carries on for what is left
    #: (``resume``), or their open child orders are canceled and they close with their report
    interrupted: Literal["resume", "stop"] = "resume"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.timeout_s) and self.timeout_s >= 0):
            raise ValueError(f"timeout_s must be a number of seconds >= 0, got {self.timeout_s}")


@dataclass
class ParentRecord:
    order: SubmitParentOrder
    accepted: ParentOrderAccepted | None = None
    fills: ParentFills = field(default_factory=ParentFills)
    canceled: str | None = None
    #: why its executor stops as soon as it starts (a restart with ``interrupted = "stop"``)
    stopping: str | None = None


class _ManagerState(msgspec.Struct):
    parents: list[ParentRecord]
    finished: list[str]


class ExecutionManager(Component):
    """Parent orders' lifecycle; see the module docstring. Address ``execution``."""

    subscriptions = (
        *FILL_TYPES,
        SliceRouted,
        TradingStateChanged,
        VenueConnected,
        VenueDisconnected,
        InstrumentsLoaded,
        BalancesUpdated,
        BookSnapshot,
    )

    def __init__(
        self,
        algos: Registry[Any],
        market: MarketState,
        venues: list[str],
        readiness: ReadinessConfig,
        node_name: str,
        on_stop_node: Callable[[str], None] | None = None,
        name: str = "execution",
    ) -> None:
        super().__init__(name)
        self.algos = algos
        self.market = market
        self.venue_names = list(venues)
        self.readiness = readiness
        self.node_name = node_name
        self.on_stop_node = on_stop_node
        self.parents: dict[str, ParentRecord] = {}
        self.running: set[str] = set()
        self.finished: set[str] = set()
        self.waiting: list[str] = []
        self.trading: TradingState | None = None
        self.trading_reason = ""
        self.ready = False
        self.left_out: dict[str, str] = {}
        self._deadline: int | None = None

    # -- restore --------------------------------------------------------------------------------

    def restore(self, history: Iterable[Envelope]) -> None:
        for envelope in history:
            message = envelope.message
            cls = message.__class__
            if cls is SubmitParentOrder and envelope.destination == self.name:
                if message.parent_id not in self.parents and message.parent_id not in self.finished:
                    self.parents[message.parent_id] = ParentRecord(message)
            elif cls is ParentOrderAccepted:
                record = self.parents.get(message.parent_id)
                if record is not None:
                    record.accepted = message
            elif cls in (ParentOrderRejected, ParentOrderCompleted):
                self.parents.pop(message.parent_id, None)
                self.finished.add(message.parent_id)
            elif cls is CancelParentOrder and envelope.destination == self.name:
                record = self.parents.get(message.parent_id)
                if record is not None:
                    record.canceled = message.reason or "canceled"
            else:
                self._account(message)

    def checkpoint(self) -> bytes:
        return encode_state(_ManagerState(list(self.parents.values()), sorted(self.finished)))

    def restore_checkpoint(self, state: bytes) -> None:
        saved = decode_state(state, _ManagerState)
        self.parents = {r.order.parent_id: r for r in saved.parents}
        self.finished = set(saved.finished)

    def _account(self, message: Message) -> None:
        if message.__class__ in FILL_TYPES or message.__class__ is SliceRouted:
            record = self.parents.get(message.parent_id or "")  # type: ignore[attr-defined]
            if record is not None:
                if message.__class__ is SliceRouted:
                    record.fills.add_plan(message)  # type: ignore[arg-type]
                else:
                    record.fills.add_fill(message)  # type: ignore[arg-type]

    def on_start(self) -> None:
        self._deadline = self.ctx.now() + int(self.readiness.timeout_s * 1e9)
        for parent_id, record in self.parents.items():
            if record.accepted is None:
                log.info("parent %s was journaled but never worked: working it now", parent_id)
            elif self.readiness.interrupted == "stop":
                record.stopping = 'interrupted by a restart ([node.ready] interrupted = "stop")'
            self.waiting.append(parent_id)
        self._check_ready()

    # -- messages -------------------------------------------------------------------------------

    def on_message(self, message: Message) -> None:
        cls = message.__class__
        if cls is SubmitParentOrder:
            self._on_submit(message)  # type: ignore[arg-type]
        elif cls is CancelParentOrder:
            self._on_cancel(message)  # type: ignore[arg-type]
        elif cls is CompleteParentOrder:
            self._on_complete(message)  # type: ignore[arg-type]
        elif cls is ExecutorFinished:
            self._on_finished(message)  # type: ignore[arg-type]
        elif cls is TradingStateChanged:
            self.trading, self.trading_reason = message.state, message.reason  # type: ignore[attr-defined]
            self._release()
        elif cls is TimerFired:
            if message.name == _READY_TIMER:  # type: ignore[attr-defined]
                self._check_ready()
        elif cls in (VenueConnected, InstrumentsLoaded, BalancesUpdated, BookSnapshot):
            if not self.ready:
                self._check_ready(poll=False)
        else:
            self._account(message)

    # -- readiness ------------------------------------------------------------------------------

    def _missing(self) -> dict[str, str]:
        """Each configured venue that is not ready yet, with what it still lacks."""
        missing = {}
        for venue in self.venue_names:
            state = self.market.venues.get(venue)
            if state is None or not state.connected:
                missing[venue] = state.reason if state is not None else "not started"
            elif not state.instruments_loaded:
                missing[venue] = "no instruments yet"
            elif state.balances is None:
                missing[venue] = "no balances yet"
            elif not state.reconciled:
                missing[venue] = "reconciling its orders and fills with the journal"
            else:
                empty = [
                    s
                    for (v, s), i in list(self.market.instruments.items())
                    if v == venue
                    and i.tradable
                    and ((b := self.market.existing_book(v, s)) is None or b.is_empty())
                ]
                if empty:
                    missing[venue] = f"no order book yet for {', '.join(sorted(empty))}"
        return missing

    def _check_ready(self, poll: bool = True) -> None:
        if self.ready:
            return
        missing = self._missing()
        now = self.ctx.now()
        if missing and self._deadline is not None and now < self._deadline:
            if poll:
                self.ctx.schedule(_READY_POLL_NS, _READY_TIMER)
            return
        self.ready = True
        self.left_out = missing
        self.ctx.publish(NodeReady(node=self.node_name, missing=missing, ts=now))
        if missing:
            detail = "; ".join(f"{v}: {why}" for v, why in missing.items())
            log.warning("not every venue is ready after %ss: %s", self.readiness.timeout_s, detail)
            if self.readiness.missing_venue == "stop":
                reason = f"venues not ready after {self.readiness.timeout_s:g} s: {detail}"
                for parent_id in list(self.waiting):
                    self._close_unstarted(parent_id, "unfilled", reason)
                self.waiting.clear()
                if self.on_stop_node is not None:
                    self.on_stop_node(reason)
                return
        self._release()

    def _release(self) -> None:
        """Work the waiting parents if the node is ready and trading is active."""
        if not self.ready:
            return
        if self.trading != "active":
            return
        waiting, self.waiting = self.waiting, []
        for parent_id in waiting:
            record = self.parents.get(parent_id)
            if record is None:
                continue
            if record.canceled is not None and record.accepted is None:
                self._close_unstarted(parent_id, "canceled", record.canceled)
            elif record.accepted is None:
                self._accept(record)
            else:
                self._spawn(record)

    # -- parents --------------------------------------------------------------------------------

    def _on_submit(self, order: SubmitParentOrder) -> None:
        now = self.ctx.now()
        if order.parent_id in self.parents or order.parent_id in self.finished:
            state = "finished" if order.parent_id in self.finished else "known"
            self.ctx.publish(
                ParentOrderRejected(
                    parent_id=order.parent_id,
                    reason=f"duplicate parent id {order.parent_id} (already {state})",
                    ts=now,
                )
            )
            return
        problem = self._static_problem(order)
        if problem is not None:
            self._reject(order, problem)
            return
        record = ParentRecord(order)
        self.parents[order.parent_id] = record
        if not self.ready or self.trading != "active":
            self.waiting.append(order.parent_id)
            why = (
                "waiting for the venues to be ready"
                if not self.ready
                else f"trading is {self.trading or 'not started'}"
                + (f" ({self.trading_reason})" if self.trading_reason else "")
                + "; the order is worked when trading resumes"
            )
            self.ctx.publish(ParentOrderWaiting(parent_id=order.parent_id, reason=why, ts=now))
            return
        self._accept(record)

    def _reject(self, order: SubmitParentOrder, reason: str) -> None:
        self.finished.add(order.parent_id)
        self.parents.pop(order.parent_id, None)
        self.ctx.publish(
            ParentOrderRejected(parent_id=order.parent_id, reason=reason, ts=self.ctx.now())
        )

    def _static_problem(self, order: SubmitParentOrder) -> str | None:
        """What is wrong with the order whatever the markets say."""
        try:
            quantity_ok = order.quantity.is_finite() and 0 < order.quantity < _MAX_AMOUNT
        except InvalidOperation:
            quantity_ok = False
        if not quantity_ok:
            return f"quantity {order.quantity} must be a finite number > 0 and below 1e15"
        if order.limit_price is not None and not (
            order.limit_price.is_finite() and 0 < order.limit_price < _MAX_AMOUNT
        ):
            return f"limit price {order.limit_price} must be a finite number > 0 and below 1e15"
        if order.algo not in self.algos:
            known = ", ".join(sorted(r.name for r in self.algos)) or "none installed"
            return f"unknown algorithm {order.algo!r} (known: {known})"
        _, problems = self._params(order)
        if problems:
            return "; ".join(problems)
        for venue in order.venues or ():
            if venue not in self.venue_names:
                return f"no venue named {venue!r} (known: {', '.join(self.venue_names)})"
        return None

    def _params(self, order: SubmitParentOrder) -> tuple[Any, list[str]]:
        params_type = self.algos.get(order.algo).config_type
        if params_type is None:
            if order.params:
                return None, [f"params: algorithm {order.algo!r} takes no parameters"]
            return None, []
        return convert_all(order.params, params_type, "params")

    def _market_problem(self, order: SubmitParentOrder) -> str | None:
        """What is wrong with the order given the venues' instruments."""
        listed = [
            i
            for i in self.market.listing(order.symbol)
            if (order.venues is None or i.venue in order.venues) and i.venue not in self.left_out
        ]
        if not listed:
            known = ", ".join(sorted(self.market.symbols())) or "none"
            where = f" on {', '.join(order.venues)}" if order.venues else ""
            return f"unknown symbol {order.symbol}{where} (listed: {known})"
        finest = min(i.lot_size for i in listed)
        if finest and order.quantity % finest and order.quantity < finest:
            return (
                f"quantity {order.quantity} is smaller than the finest lot size ({finest}) of "
                f"the venues listing {order.symbol}"
            )
        return None

    def _accept(self, record: ParentRecord) -> None:
        order = record.order
        problem = self._market_problem(order)
        if problem is not None:
            self._reject(order, problem)
            return
        now = self.ctx.now()
        record.accepted = ParentOrderAccepted(
            parent_id=order.parent_id,
            symbol=order.symbol,
            side=order.side,
            quantity=order.quantity,
            algo=order.algo,
            arrival_mid=self.market.consolidated_mid(order.symbol, order.venues),
            limit_price=order.limit_price,
            ts=now,
        )
        self.ctx.publish(record.accepted)
        self._spawn(record)

    def _spawn(self, record: ParentRecord) -> None:
        order = record.order
        registration = self.algos.get(order.algo)
        params, problems = self._params(order)
        if problems:  # the algorithm changed since the order was journaled
            self._complete(record, "; ".join(problems), "failed")
            return

        def build() -> Any:
            executor = registration.target(order, params, ExecutorServices(self.market))
            if record.accepted is not None:
                # the parent starts when it was accepted (journaled), not when it was asked for
                # (it may have waited for readiness): the time a restart restores, so a resumed
                # executor derives the very schedule its predecessor followed
                executor.started_ts = record.accepted.ts
            if record.stopping is not None:
                executor.stop_at_start(record.stopping)
            return executor

        try:
            executor = build()
        except Exception as exc:
            self._complete(record, f"algorithm {order.algo!r} failed to start: {exc}", "failed")
            return
        self.running.add(order.parent_id)
        self.ctx.spawn(executor, build)  # ``build`` is also the supervisor's rebuild

    def _on_cancel(self, command: CancelParentOrder) -> None:
        record = self.parents.get(command.parent_id)
        now = self.ctx.now()
        if record is None:
            state = "finished" if command.parent_id in self.finished else "unknown"
            self.ctx.publish(
                ParentCancelRejected(
                    parent_id=command.parent_id, reason=f"parent order is {state}", ts=now
                )
            )
            return
        record.canceled = command.reason or "canceled"
        if command.parent_id in self.running:
            self.ctx.send(executor_address(command.parent_id), command)
        elif command.parent_id in self.waiting:
            self.waiting.remove(command.parent_id)
            self._close_unstarted(command.parent_id, "canceled", record.canceled)

    def _on_complete(self, command: CompleteParentOrder) -> None:
        """A working parent's executor completes it (or says why it cannot); a parent not
        started yet has nothing to complete: it is refused, not silently worked differently."""
        parent_id = command.parent_id
        if parent_id in self.running:
            self.ctx.send(executor_address(parent_id), command)
            return
        if parent_id in self.waiting:
            reason = "parent order has not started (it is waiting): cancel it instead"
        elif parent_id in self.finished:
            reason = "parent order is finished"
        else:
            reason = "parent order is unknown"
        self.ctx.publish(
            ParentCompleteRejected(parent_id=parent_id, reason=reason, ts=self.ctx.now())
        )

    def _close_unstarted(self, parent_id: str, status: ParentStatus, reason: str) -> None:
        record = self.parents.get(parent_id)
        if record is not None:
            self._complete(record, reason, status)

    def _on_finished(self, finished: ExecutorFinished) -> None:
        record = self.parents.get(finished.parent_id)
        if record is None:
            return
        self._complete(record, finished.reason, finished.status)

    def _complete(self, record: ParentRecord, reason: str, status: ParentStatus | None) -> None:
        order = record.order
        now = self.ctx.now()
        status = status or derive_status(order, record.fills, record.canceled is not None)
        if status == "canceled" and not reason:
            reason = record.canceled or ""
        if status in ("partially_filled", "unfilled") and not reason:
            reason = f"{order.quantity - record.fills.filled} left unfilled"
        accepted = record.accepted
        report = build_report(
            order,
            record.fills,
            accepted.arrival_mid if accepted else None,
            accepted.ts if accepted else order.ts,
            now,
            self.market.listing(order.symbol),
        )
        del self.parents[order.parent_id]
        self.finished.add(order.parent_id)
        self.ctx.publish(
            ParentOrderCompleted(
                parent_id=order.parent_id, status=status, reason=reason, report=report, ts=now
            )
        )
        if order.parent_id in self.running:
            self.running.discard(order.parent_id)
            self.ctx.stop(executor_address(order.parent_id))
