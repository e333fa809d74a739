"""Pre-trade risk and the kill switch: every child order passes here on its way to a venue.

``RiskManager`` receives ``SubmitOrder`` by send, refuses it with ``RiskRejected`` (naming the
check and its numbers) or forwards it unchanged to ``venue.<name>``. ``CancelOrder`` always passes
through, whatever the trading state.

Order of decisions for a new order: the kill switch (``kill_switch``: HALTED refuses everything,
REDUCING only what reduces the venue position), basic validity (``order_valid``: positive
quantity, a positive limit price on limit orders, a venue that exists; always on), then every
configured check in registry order (built-ins in the order ``node.risk_checks`` registers them,
then plugins by entry-point name). A check that raises refuses the order (fail closed) with the
exception as detail.

Kill switch: ACTIVE → REDUCING by ``ReduceOnly``; ACTIVE/REDUCING → HALTED by ``HaltTrading`` or a
trigger; only ``ResumeTrading`` goes back to ACTIVE (``ReduceOnly`` while halted is ignored).
Triggers halt and, with ``cancel_open_orders_on_trigger``, cancel every open order:

* ``max_daily_loss``: the day's loss, from NAV net of transfers (``DailyMetrics.pnl``), exceeds it;
* ``max_drawdown`` / ``max_drawdown_pct``: the day's P&L is that far below its high of the day
  (the percentage is of the day's highest NAV);
* ``halt_after_venue_rejects``: that many ``OrderRejected`` from one venue within
  ``venue_reject_window_s``;
* ``halt_on_disconnect``: ``VenueDisconnected`` from a venue with open orders.

A loss or drawdown trigger that is still breached when trading resumes does not fire again until
it has cleared or a new UTC day starts (otherwise resuming would be impossible until midnight);
resuming forgets the venue rejects counted so far.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

import msgspec

from node.component import Component, Envelope, decode_state, encode_state
from node.market import MarketState
from node.messages import (
    BalancesUpdated,
    CancelOrder,
    Fill,
    HaltTrading,
    Instrument,
    InstrumentHalted,
    InstrumentsLoaded,
    Message,
    OrderAccepted,
    OrderAdopted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    PositionsAdopted,
    ReduceOnly,
    ResumeTrading,
    RiskRejected,
    Side,
    SubmitOrder,
    TimerFired,
    TradingState,
    TradingStateChanged,
    TransferRecorded,
    VenueDisconnected,
)
from node.portfolio import DISPLAY, EXACT, ZERO, Ledger, LedgerState, utc_day
from node.recent import Recent
from node.registry import Registry
from node.validation import convert_all

NS_PER_SECOND = 1_000_000_000
#: client order ids remembered for the duplicate-id check (ids are unique by construction; this
#: catches a resend, which comes soon or never)
SEEN_IDS = 500_000
RATE_WINDOW_NS = 60 * NS_PER_SECOND  # the longest order-rate window kept


class RiskConfigError(ValueError):
    """A ``[risk]`` section cannot be used; one line per problem, each naming its key."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class RiskConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The ``[risk]`` config section: kill-switch triggers and the checks' limits.

    ``checks`` maps a registered check name to its limits section (``[risk.checks.<name>]``); a
    check without a section is off. Money limits are in the node's valuation currency.
    """

    checks: dict[str, dict[str, Any]] = {}
    max_daily_loss: Decimal | None = None
    max_drawdown: Decimal | None = None
    max_drawdown_pct: Decimal | None = None
    halt_after_venue_rejects: int | None = None
    venue_reject_window_s: int = 60
    halt_on_disconnect: bool = True
    cancel_open_orders_on_trigger: bool = True
    #: how often the loss and drawdown triggers are checked against fresh marks (besides at
    #: every fill)
    check_interval_ms: float = 1_000.0

    def __post_init__(self) -> None:
        if not 10 <= self.check_interval_ms <= 3_600_000:
            raise ValueError(
                f"check_interval_ms must be in [10, 3600000], got {self.check_interval_ms}"
            )
        for key in ("max_daily_loss", "max_drawdown", "max_drawdown_pct"):
            value = getattr(self, key)
            if value is not None and value <= 0:
                raise ValueError(f"{key} must be > 0, got {value}")
        if self.halt_after_venue_rejects is not None and self.halt_after_venue_rejects < 1:
            raise ValueError(
                f"halt_after_venue_rejects must be >= 1, got {self.halt_after_venue_rejects}"
            )
        if self.venue_reject_window_s < 1:
            window = self.venue_reject_window_s
            raise ValueError(f"venue_reject_window_s must be >= 1, got {window}")


Check = Callable[[Any, SubmitOrder, "RiskView"], "str | None"]
BuiltCheck = tuple[str, Check, Any]


def build_checks(config: RiskConfig, registry: Registry[Any]) -> list[BuiltCheck]:
    """The enabled checks as (name, check, limits), in registry order.

    Each ``config.checks`` section is converted to its check's limits struct; an unknown check
    name or a bad value raises ``RiskConfigError`` naming ``checks.<name>[.<key>]``.
    """
    unknown = sorted(name for name in config.checks if name not in registry)
    if unknown:
        known = ", ".join(sorted(r.name for r in registry)) or "none registered"
        raise RiskConfigError(f"checks.{unknown[0]}: unknown risk check (known: {known})")
    built: list[BuiltCheck] = []
    for registration in registry:
        if registration.name not in config.checks:
            continue
        section = config.checks[registration.name]
        prefix = f"checks.{registration.name}"
        if not isinstance(section, dict):
            raise RiskConfigError(f"{prefix}: expected a table, got {type(section).__name__}")
        if registration.config_type is None:
            if section:
                raise RiskConfigError(f"{prefix}: this check takes no settings")
            limits = None
        else:
            limits, problems = convert_all(section, registration.config_type, prefix)
            if problems:
                raise RiskConfigError(problems)
        built.append((registration.name, registration.target, limits))
    return built


def builtin_checks() -> Registry[Any]:
    """A registry holding only the built-in checks (for tests and tools without plugins)."""
    from node import risk_checks

    registry: Registry[Any] = Registry("risk-check")
    registry.current_plugin = "risk-checks"
    risk_checks.tradenode_register_risk_checks(registry)
    return registry


# ------------------------------------------------------------------------------------------------
# What checks read


@dataclass
class OpenOrder:
    """An order risk let through that has not reached a final state."""

    order: SubmitOrder
    leaves: Decimal
    #: the price risk used for it: the limit, or the book price at submission for market orders
    #: (None for a market order rebuilt from the journal: it is priced from the book when read).
    price: Decimal | None
    ts: int
    accepted: bool = False


class RiskView:
    """Everything a check reads; fed by ``RiskManager`` with the same events as the portfolio.

    ``now`` is the runtime clock when the check runs.
    """

    def __init__(self, valuation_currency: str, market: MarketState) -> None:
        self.valuation_currency = valuation_currency
        self.market = market
        self.instruments: dict[tuple[str, str], Instrument] = {}  # (venue, symbol)
        self.ledger = Ledger(valuation_currency, market.mark)
        self.open_orders: dict[str, OpenOrder] = {}  # client order id → order
        self.order_times: dict[str, deque[int]] = {}  # venue → ts of orders sent, last minute
        self.seen_ids: Recent[str] = Recent(SEEN_IDS)
        self.orders_day = 0
        self.orders_on_day = 0
        self.now = 0

    # -- updates (the manager's) ----------------------------------------------------------------

    def record_order(self, order: SubmitOrder, price: Decimal | None, ts: int) -> None:
        """An order was sent to its venue."""
        self.open_orders[order.client_order_id] = OpenOrder(order, order.quantity, price, ts)
        times = self.order_times.setdefault(order.venue, deque())
        times.append(ts)
        _prune(times, ts - RATE_WINDOW_NS)
        day = utc_day(ts)
        if day > self.orders_day:
            self.orders_day, self.orders_on_day = day, 0
        if day == self.orders_day:
            self.orders_on_day += 1

    # -- reading (the checks') ------------------------------------------------------------------

    def instrument(self, venue: str, symbol: str) -> Instrument | None:
        return self.instruments.get((venue, symbol))

    def instrument_of(self, symbol: str) -> Instrument | None:
        """Any venue's instrument of ``symbol`` (for what is the same on every venue: its
        quote currency and multiplier)."""
        return next((i for (_, s), i in self.instruments.items() if s == symbol), None)

    def quote_of(self, order: SubmitOrder) -> str:
        return self._known(order).quote

    def base_of(self, order: SubmitOrder) -> str:
        return self._known(order).base

    def multiplier_of(self, order: SubmitOrder) -> Decimal:
        return self._known(order).multiplier

    def _known(self, order: SubmitOrder) -> Instrument:
        instrument = self.instrument(order.venue, order.symbol)
        if instrument is None:  # order_valid refuses such orders before any check reads them
            raise LookupError(f"unknown instrument {order.symbol} on {order.venue}")
        return instrument

    def mid(self, venue: str, symbol: str) -> Decimal | None:
        """The venue's own mid (not another venue's)."""
        return self.market.mid(venue, symbol)

    def market_price(self, venue: str, symbol: str, side: Side) -> Decimal | None:
        """What a market order would pay first: the best opposite price, else the mid."""
        book = self.market.existing_book(venue, symbol)
        if book is None:
            return None
        bid, ask = book.top()
        best = ask if side == "buy" else bid
        if best is not None:
            return best
        return (bid + ask) / 2 if bid is not None and ask is not None else None

    def order_price(self, order: SubmitOrder) -> Decimal | None:
        """The price to value ``order`` at: its limit, or the book for a market order."""
        if order.order_type == "limit":
            return order.limit_price
        return self.market_price(order.venue, order.symbol, order.side)

    def open_order_price(self, open_order: OpenOrder) -> Decimal | None:
        if open_order.price is not None:
            return open_order.price
        return self.order_price(open_order.order)

    def to_valuation(self, amount: Decimal, currency: str) -> Decimal:
        """``amount`` of ``currency`` in the valuation currency; ``MarkUnavailable`` if no mark."""
        with localcontext(EXACT):
            return amount * self.ledger.rate(currency)

    def position(self, symbol: str, venue: str | None = None) -> Decimal:
        """Signed position quantity on ``venue``, or over all venues when None."""
        return self.ledger.quantity(symbol, venue)

    def open_quantity(self, symbol: str, side: Side, venue: str | None = None) -> Decimal:
        """Σ unfilled quantity of open orders on ``side`` (on ``venue``, or any when None)."""
        total = ZERO
        with localcontext(EXACT):
            for open_order in self.open_orders.values():
                o = open_order.order
                if o.symbol == symbol and o.side == side and venue in (None, o.venue):
                    total += open_order.leaves
        return total

    def open_order_count(self, venue: str | None = None) -> int:
        if venue is None:
            return len(self.open_orders)
        return sum(1 for o in self.open_orders.values() if o.order.venue == venue)

    def orders_sent_within(self, venue: str, window_ns: int) -> int:
        """Orders sent to ``venue`` in the last ``window_ns`` (up to one minute)."""
        since = self.now - window_ns
        return sum(1 for ts in self.order_times.get(venue, ()) if ts > since)

    def orders_today(self) -> int:
        return self.orders_on_day if utc_day(self.now) == self.orders_day else 0

    def reserved(self, venue: str, currency: str) -> Decimal:
        """What open orders on ``venue`` hold of ``currency``: a buy its unfilled quantity's quote
        cost with the taker fee, a sell its unfilled base. ``LookupError`` if one has no price."""
        total = ZERO
        with localcontext(EXACT):
            for open_order in self.open_orders.values():
                o = open_order.order
                if o.venue != venue:
                    continue
                instrument = self.instrument(o.venue, o.symbol)
                if instrument is None or instrument.is_derivative:
                    continue  # margin is the venue's to hold, not a balance we can count
                if o.side == "sell" and instrument.base == currency:
                    total += open_order.leaves
                elif o.side == "buy" and instrument.quote == currency:
                    price = self.open_order_price(open_order)
                    if price is None:
                        raise LookupError(f"no price for open order {o.client_order_id}")
                    total += open_order.leaves * price * (1 + instrument.taker_fee)
        return total

    def free(self, venue: str, currency: str) -> Decimal:
        """The ledger's balance less what open orders hold."""
        with localcontext(EXACT):
            return self.ledger.balance(venue, currency) - self.reserved(venue, currency)


class RiskState(msgspec.Struct, kw_only=True):
    """What risk knows, as a checkpoint stores it."""

    ledger: LedgerState
    open_orders: list[OpenOrder]
    order_times: dict[str, list[int]]
    seen_ids: list[str]
    orders_day: int
    orders_on_day: int
    state: TradingState
    state_reason: str
    venue_rejects: dict[str, list[int]]
    suppressed: dict[str, int]
    halted_instruments: list[tuple[str, str, str]]


def fmt_money(value: Decimal) -> str:
    """An amount with at least two decimals and no digit dropped: 12500 → '12500.00'."""
    text = format(value, "f")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.rstrip('0').ljust(2, '0')}"


def fmt_ratio(numerator: Decimal, denominator: Decimal) -> str:
    """``numerator / denominator`` rounded to two decimals, for people (bps, percentages)."""
    return str(DISPLAY.divide(numerator, denominator).quantize(Decimal("0.01"), context=DISPLAY))


def _prune(times: deque[int], older_than: int) -> None:
    while times and times[0] <= older_than:
        times.popleft()


# ------------------------------------------------------------------------------------------------
# The component


def _reduces(view: RiskView, order: SubmitOrder) -> str | None:
    """None if ``order`` (with the open orders on its side) only reduces its venue position."""
    held = view.position(order.symbol, order.venue)
    pending = view.open_quantity(order.symbol, order.side, order.venue)
    with localcontext(EXACT):
        total = pending + order.quantity
    opposite = (held > 0 and order.side == "sell") or (held < 0 and order.side == "buy")
    if opposite and total <= abs(held):
        return None
    detail = f"reduce-only: position {held} {order.symbol} on {order.venue}"
    if pending:
        detail += f", open {order.side} orders {pending}"
    return f"{detail}; {order.side} {order.quantity} would not reduce it"


class RiskManager(Component):
    """Pre-trade checks, open-order tracking and the kill switch; see the module docstring."""

    subscriptions = (
        InstrumentsLoaded,
        OrderAccepted,
        OrderRejected,
        OrderPartiallyFilled,
        OrderFilled,
        OrderCanceled,
        OrderExpired,
        BalancesUpdated,
        TransferRecorded,
        VenueDisconnected,
        HaltTrading,
        ReduceOnly,
        ResumeTrading,
        InstrumentHalted,
        OrderAdopted,
        PositionsAdopted,
    )

    def __init__(
        self,
        config: RiskConfig,
        checks: Iterable[BuiltCheck],
        valuation_currency: str,
        market: MarketState,
        name: str = "risk",
    ) -> None:
        super().__init__(name)
        self.config = config
        self.checks = list(checks)
        self.view = RiskView(valuation_currency, market)
        self.state: TradingState = "active"
        self.state_reason = ""
        self._venue_rejects: dict[str, deque[int]] = {}
        #: (venue, symbol) → why trading in it stopped (the journal and the venue disagree)
        self.halted_instruments: dict[tuple[str, str], str] = {}
        self._suppressed: dict[str, int] = {}  # trigger → UTC day it was resumed over

    # -- restore --------------------------------------------------------------------------------

    def restore(self, history: Iterable[Envelope]) -> None:
        """Rebuild instruments, ledger, open orders, order counts, ids and the trading state.

        An order is open when the journal shows risk forwarding it to its venue (a row sent by
        risk), not merely asked to: one journaled on its way to risk before a crash was never
        evaluated and holds nothing.
        """
        for envelope in history:
            message = envelope.message
            if isinstance(message, SubmitOrder):
                if envelope.destination == self.name:
                    self.view.seen_ids.add(message.client_order_id)
                elif envelope.sender == self.name:
                    self.view.record_order(message, message.limit_price, message.ts)
            elif isinstance(message, TradingStateChanged):
                self.state, self.state_reason = message.state, message.reason
            # Operators' commands journaled while the node was stopped take effect now (those
            # the node obeyed while running are followed by their TradingStateChanged anyway).
            elif isinstance(message, HaltTrading):
                self.state, self.state_reason = "halted", message.reason
            elif isinstance(message, ReduceOnly):
                if self.state == "active":
                    self.state, self.state_reason = "reducing", message.reason
            elif isinstance(message, ResumeTrading):
                self.state, self.state_reason = "active", message.reason
                self.halted_instruments.clear()
            elif isinstance(message, InstrumentHalted):
                self.halted_instruments[(message.venue, message.symbol)] = message.reason
            else:
                self._apply_event(message)

    # -- messages -------------------------------------------------------------------------------

    def checkpoint(self) -> bytes:
        view = self.view
        return encode_state(
            RiskState(
                ledger=view.ledger.state(),
                open_orders=list(view.open_orders.values()),
                order_times={v: list(t) for v, t in view.order_times.items()},
                seen_ids=list(view.seen_ids),
                orders_day=view.orders_day,
                orders_on_day=view.orders_on_day,
                state=self.state,
                state_reason=self.state_reason,
                venue_rejects={v: list(t) for v, t in self._venue_rejects.items()},
                suppressed=self._suppressed,
                halted_instruments=[(v, s, why) for (v, s), why in self.halted_instruments.items()],
            )
        )

    def restore_checkpoint(self, state: bytes) -> None:
        saved = decode_state(state, RiskState)
        view = self.view
        view.ledger.load_state(saved.ledger)
        view.instruments = {(i.venue, i.symbol): i for i in saved.ledger.instruments}
        view.open_orders = {o.order.client_order_id: o for o in saved.open_orders}
        view.order_times = {v: deque(t) for v, t in saved.order_times.items()}
        view.seen_ids = Recent(SEEN_IDS, saved.seen_ids)
        view.orders_day, view.orders_on_day = saved.orders_day, saved.orders_on_day
        self.state, self.state_reason = saved.state, saved.state_reason
        self._venue_rejects = {v: deque(t) for v, t in saved.venue_rejects.items()}
        self._suppressed = saved.suppressed
        self.halted_instruments = {(v, s): why for v, s, why in saved.halted_instruments}

    def on_start(self) -> None:
        """Say the trading state the node starts in (the execution manager waits for it)."""
        self.state_reason = self.state_reason or "node started"
        self.ctx.publish(
            TradingStateChanged(ts=self.ctx.now(), state=self.state, reason=self.state_reason)
        )
        self._arm_check()

    def _arm_check(self) -> None:
        if self._has_loss_triggers():
            self.ctx.schedule(
                int(self.config.check_interval_ms * 1e6), "risk.check", background=True
            )

    def _has_loss_triggers(self) -> bool:
        cfg = self.config
        return not (
            cfg.max_daily_loss is None and cfg.max_drawdown is None and cfg.max_drawdown_pct is None
        )

    def on_message(self, message: Message) -> None:
        if isinstance(message, TimerFired):
            if message.name == "risk.check":
                self.view.ledger.observe_nav(self.ctx.now())
                self._check_loss_triggers()
                self._arm_check()
        elif isinstance(message, SubmitOrder):
            self._on_submit(message)
        elif isinstance(message, CancelOrder):
            self.ctx.send(f"venue.{message.venue}", message)
        elif isinstance(message, HaltTrading):
            self._halt(message.reason, message.cancel_open_orders)
        elif isinstance(message, ReduceOnly):
            if self.state == "active":
                self._set_state("reducing", message.reason)
        elif isinstance(message, ResumeTrading):
            self._resume(message.reason)
        elif isinstance(message, OrderRejected):
            self.view.open_orders.pop(message.client_order_id, None)
            self._count_venue_reject(message)
        elif isinstance(message, VenueDisconnected):
            self._on_disconnect(message)
        elif isinstance(message, InstrumentHalted):
            self.halted_instruments[(message.venue, message.symbol)] = message.reason
        else:
            self._apply_event(message)
            self._check_loss_triggers()

    def _apply_event(self, message: Message) -> None:
        view = self.view
        if isinstance(message, OrderAdopted):
            adopted = message.order
            order = SubmitOrder(
                client_order_id=adopted.client_order_id,
                venue=message.venue,
                symbol=adopted.symbol,
                side=adopted.side,
                quantity=adopted.quantity,
                limit_price=adopted.limit_price,
                ts=message.ts,
            )
            view.seen_ids.add(order.client_order_id)
            view.record_order(order, order.limit_price, message.ts)
            view.open_orders[order.client_order_id].leaves = (
                adopted.quantity - adopted.filled_quantity
            )
        elif isinstance(message, Fill):
            view.ledger.apply_fill(message)
            open_order = view.open_orders.get(message.client_order_id)
            if open_order is not None:
                open_order.leaves = message.leaves_quantity
                if isinstance(message, OrderFilled) or message.leaves_quantity <= 0:
                    del view.open_orders[message.client_order_id]
        elif isinstance(message, OrderAccepted):
            open_order = view.open_orders.get(message.client_order_id)
            if open_order is not None:
                open_order.accepted = True
        elif isinstance(message, (OrderCanceled, OrderExpired, OrderRejected)):
            view.open_orders.pop(message.client_order_id, None)
        elif isinstance(message, InstrumentsLoaded):
            for instrument in message.instruments:
                view.instruments[(instrument.venue, instrument.symbol)] = instrument
            view.ledger.add_instruments(message.instruments)
        elif isinstance(message, (BalancesUpdated, TransferRecorded, PositionsAdopted)):
            view.ledger.apply(message)

    # -- new orders -----------------------------------------------------------------------------

    def _on_submit(self, order: SubmitOrder) -> None:
        view = self.view
        view.now = self.ctx.now()
        failed = self._evaluate(order)
        view.seen_ids.add(order.client_order_id)
        if failed is not None:
            check, detail = failed
            self.ctx.publish(
                RiskRejected(
                    ts=view.now,
                    client_order_id=order.client_order_id,
                    venue=order.venue,
                    check=check,
                    detail=detail,
                    parent_id=order.parent_id,
                )
            )
            return
        price = view.order_price(order)
        view.record_order(order, price, order.ts)  # its own time, as a restart will see it
        self.ctx.send(f"venue.{order.venue}", order)

    def _evaluate(self, order: SubmitOrder) -> tuple[str, str] | None:
        if self.state == "halted":
            return "kill_switch", f"trading halted: {self.state_reason}"
        halted = self.halted_instruments.get((order.venue, order.symbol))
        if halted is not None:
            return "kill_switch", f"{order.symbol} on {order.venue} halted: {halted}"
        if self.state == "reducing":
            detail = _reduces(self.view, order)
            if detail is not None:
                return "kill_switch", detail
        invalid = self._invalid(order)
        if invalid is not None:
            return "order_valid", invalid
        for name, check, limits in self.checks:
            try:
                detail = check(limits, order, self.view)
            except Exception as exc:  # a broken check refuses rather than lets through
                detail = f"check raised {type(exc).__name__}: {exc}"
            if detail is not None:
                return name, detail
        return None

    def _invalid(self, order: SubmitOrder) -> str | None:
        if not self.ctx.address_exists(f"venue.{order.venue}"):
            return f"no venue {order.venue!r} is running"
        if self.view.instrument(order.venue, order.symbol) is None:
            return f"unknown instrument {order.symbol} on {order.venue}"
        if order.quantity <= 0:
            return f"quantity {order.quantity} must be > 0"
        if order.order_type == "limit":
            if order.limit_price is None:
                return "limit order without limit_price"
            if order.limit_price <= 0:
                return f"limit price {order.limit_price} must be > 0"
        return None

    # -- kill switch ----------------------------------------------------------------------------

    def _set_state(self, state: TradingState, reason: str) -> None:
        self.state_reason = reason
        if state == self.state:
            return
        self.state = state
        self.ctx.publish(TradingStateChanged(ts=self.ctx.now(), state=state, reason=reason))

    def _halt(self, reason: str, cancel_open_orders: bool) -> None:
        if self.state != "halted":
            self._set_state("halted", reason)
        if cancel_open_orders:
            now = self.ctx.now()
            for coid, open_order in list(self.view.open_orders.items()):
                venue = open_order.order.venue
                self.ctx.send(
                    f"venue.{venue}",
                    CancelOrder(
                        ts=now,
                        client_order_id=coid,
                        venue=venue,
                        reason=f"kill switch: {reason}",
                        parent_id=open_order.order.parent_id,
                    ),
                )

    def _resume(self, reason: str) -> None:
        self._venue_rejects.clear()
        self.halted_instruments.clear()
        today = utc_day(self.ctx.now())
        for trigger, _detail in self._loss_breaches():
            self._suppressed[trigger] = today
        self._set_state("active", reason)

    def _trigger(self, reason: str) -> None:
        if self.state != "halted":
            self._halt(reason, self.config.cancel_open_orders_on_trigger)

    def _loss_breaches(self) -> list[tuple[str, str]]:
        """The loss and drawdown triggers breached now, each with its numbers."""
        cfg = self.config
        if not self._has_loss_triggers():
            return []
        day = self.view.ledger.daily(self.ctx.now())
        cur = self.view.valuation_currency
        found: list[tuple[str, str]] = []
        with localcontext(EXACT):
            loss, drawdown, high = -day.pnl, day.drawdown, day.nav_high
            if cfg.max_daily_loss is not None and loss > cfg.max_daily_loss:
                limit = fmt_money(cfg.max_daily_loss)
                detail = f"daily loss {fmt_money(loss)} {cur} > {limit} {cur}"
                found.append(("max_daily_loss", detail))
            if cfg.max_drawdown is not None and drawdown > cfg.max_drawdown:
                limit = fmt_money(cfg.max_drawdown)
                detail = f"drawdown {fmt_money(drawdown)} {cur} from the day's high > {limit} {cur}"
                found.append(("max_drawdown", detail))
            pct_limit = cfg.max_drawdown_pct
            if pct_limit is not None and high is not None and high > 0:
                breached = drawdown * 100 > pct_limit * high
            else:
                breached = False
            if breached:
                pct = fmt_ratio(drawdown * 100, high)
                detail = (
                    f"drawdown {fmt_money(drawdown)} {cur} is {pct}% of the day's high NAV "
                    f"{fmt_money(high)} {cur} > {pct_limit}%"
                )
                found.append(("max_drawdown_pct", detail))
        return found

    def _check_loss_triggers(self) -> None:
        if self.state == "halted":
            return
        today = utc_day(self.ctx.now())
        breaches = self._loss_breaches()
        breached = {trigger for trigger, _ in breaches}
        for trigger in list(self._suppressed):
            if trigger not in breached or self._suppressed[trigger] != today:
                del self._suppressed[trigger]
        for trigger, detail in breaches:
            if trigger not in self._suppressed:
                self._trigger(detail)
                return

    def _count_venue_reject(self, rejected: OrderRejected) -> None:
        limit = self.config.halt_after_venue_rejects
        if limit is None:
            return
        now = self.ctx.now()
        window_ns = self.config.venue_reject_window_s * NS_PER_SECOND
        times = self._venue_rejects.setdefault(rejected.venue, deque())
        times.append(now)
        _prune(times, now - window_ns)
        if len(times) >= limit:
            self._trigger(
                f"{len(times)} rejects from venue {rejected.venue} within "
                f"{self.config.venue_reject_window_s} s (limit {limit}); last: {rejected.reason}"
            )

    def _on_disconnect(self, event: VenueDisconnected) -> None:
        count = self.view.open_order_count(event.venue)
        if self.config.halt_on_disconnect and count:
            self._trigger(
                f"venue {event.venue} disconnected ({event.reason}) with {count} open order(s)"
            )
