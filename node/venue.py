"""The contract every venue plugin implements.

A venue is a component at address ``venue.<name>``. It receives ``SubmitOrder`` and
``CancelOrder`` (only from risk), ``ReconcileVenue`` and ``FetchBars`` (OHLCV history, answered
to whoever asked; by default with "cannot serve bars"), and publishes what the venue says: its
instruments, balances and connection status, market data into the node's one book per
(venue, symbol), the order lifecycle (accepted, rejected, partially filled, filled, canceled,
expired), and its answers to reconciliation queries.

Lifecycle: ``on_start`` calls ``connect``; a venue that cannot connect is marked down with the
reason (``VenueDisconnected``) and refuses orders with it, while the rest of the node runs.
``on_stop`` calls ``disconnect``. Like NautilusTrader's adapters, a venue plugin provides a config
struct, the venue class (its factory is the class), instruments, and reconciliation reports.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from node.book import L2Book
from node.component import Component, Envelope, decode_state, encode_state
from node.market import MarketState
from node.messages import (
    FINAL_ORDER_EVENTS,
    Balance,
    BalancesUpdated,
    Bar,
    BarsFetched,
    CancelOrder,
    DataSourceFailed,
    FetchBars,
    Instrument,
    InstrumentsLoaded,
    Liquidity,
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    OrderStatusReport,
    ReconcileVenue,
    Side,
    SubmitOrder,
    VenueCapabilities,
    VenueConnected,
    VenueDisconnected,
    VenueReconciled,
    VenueStatus,
)
from node.runtime.base import describe_error

log = logging.getLogger("tradenode.venue")


def aggressor(price: Decimal, bid: Decimal | None, ask: Decimal | None) -> Side:
    """Who took liquidity in a trade whose feed does not say, by where it printed against the
    quote: at or above the ask a buyer, at or below the bid a seller, inside the spread the
    nearer side (a buyer without a quote)."""
    if ask is not None and price >= ask:
        return "buy"
    if bid is not None and price <= bid:
        return "sell"
    if bid is not None and ask is not None:
        return "buy" if price * 2 >= bid + ask else "sell"
    return "buy"


def adopted_order(venue: str, report: OrderStatusReport) -> SubmitOrder:
    """The order a venue reports and the journal never sent, as the node records it."""
    return SubmitOrder(
        client_order_id=report.client_order_id,
        venue=venue,
        symbol=report.symbol,
        side=report.side,
        quantity=report.quantity,
        limit_price=report.limit_price,
        ts=report.ts,
    )


def venue_address(name: str) -> str:
    return f"venue.{name}"


@dataclass(frozen=True)
class VenueSetup:
    """What a venue is given besides its config: where the config file is (for relative paths)
    and the node's market state (where its books and instruments go)."""

    config_dir: Path
    market: MarketState


class Venue(Component):
    """Base of venue adapters; see the module docstring.

    Subclasses implement ``connect``, ``submit`` and ``cancel``, and may override
    ``disconnect``, ``reconcile``, ``check_config`` and ``declared_instruments``. The helpers
    (``accepted``, ``filled``, ``connected`` …) publish the node's events with the venue's name,
    the order's parent id and the clock filled in.
    """

    capabilities: ClassVar[VenueCapabilities] = VenueCapabilities()
    subscriptions: tuple[type[Message], ...] = (DataSourceFailed,)

    def __init__(self, name: str, config: Any, setup: VenueSetup) -> None:
        super().__init__(venue_address(name))
        self.venue = name
        self.config = config
        self.setup = setup
        self.market = setup.market
        self.up = False
        self.down_reason = "not connected yet"
        self.parents: dict[str, str | None] = {}  # client order id → parent id

    # -- what `tradenode check` asks before anything runs ---------------------------------------

    @classmethod
    def check_config(cls, name: str, config: Any, config_dir: Path) -> list[str]:
        """Problems ``run`` would trip on that the config's types cannot express (a file that
        does not exist), one line each, naming the key. Nothing is connected."""
        return []

    @classmethod
    def declared_instruments(cls, name: str, config: Any) -> list[Instrument] | None:
        """Instruments known from the config alone (a simulated venue), else None."""
        return None

    def earliest_data_ns(self) -> int | None:
        """For a replay: the time of this venue's first recorded event (the simulated clock
        starts at the earliest); live venues have none."""
        return None

    # -- lifecycle ------------------------------------------------------------------------------

    def restore(self, history: Iterable[Envelope]) -> None:
        """Remember which parent each order still open here belongs to. A subclass that keeps
        more calls ``remember_parent`` for each row of its own single pass."""
        for envelope in history:
            self.remember_parent(envelope)

    def remember_parent(self, envelope: Envelope) -> None:
        message = envelope.message
        if isinstance(message, SubmitOrder) and envelope.destination == self.name:
            self.parents[message.client_order_id] = message.parent_id
        elif isinstance(message, FINAL_ORDER_EVENTS) and message.venue == self.venue:
            self.parents.pop(message.client_order_id, None)

    def checkpoint(self) -> bytes | None:
        """The parents of the orders still open here (subclasses that keep more add it)."""
        return encode_state(self.parents)

    def restore_checkpoint(self, state: bytes) -> None:
        self.parents = decode_state(state, dict[str, str | None])

    def on_start(self) -> None:
        self.market.venue(self.venue)
        try:
            self.connect()
        except Exception as exc:
            self.disconnected(f"cannot connect: {describe_error(exc)}")

    def connect(self) -> None:
        """Connect, load instruments and balances, subscribe to market data; then call
        ``connected``. Raise (or call ``disconnected``) when the venue cannot be reached."""
        raise NotImplementedError

    def on_stop(self) -> None:
        self.disconnect()

    def disconnect(self) -> None:
        """Release connections and threads."""

    # -- messages -------------------------------------------------------------------------------

    def on_message(self, message: Any) -> None:
        cls = message.__class__
        if cls is SubmitOrder:
            self.parents[message.client_order_id] = message.parent_id
            if not self.up:
                self.rejected(
                    message.client_order_id, f"venue {self.venue} is down: {self.down_reason}"
                )
                return
            self.submit(message)
        elif cls is CancelOrder:
            self.cancel(message)
        elif cls is ReconcileVenue:
            self.reconcile(message)
        elif cls is FetchBars:
            self.fetch_bars(message)
        elif cls is DataSourceFailed:
            if message.address == self.name:
                self.disconnected(f"data source failed: {message.error}")
        else:
            self.on_other(message)

    def submit(self, order: SubmitOrder) -> None:
        raise NotImplementedError

    def cancel(self, command: CancelOrder) -> None:
        raise NotImplementedError

    def reconcile(self, request: ReconcileVenue) -> None:
        """Answer with ``VenueReconciled``; a venue that cannot, says so."""
        self.ctx.publish(
            VenueReconciled(
                venue=self.venue,
                error=f"venue {self.venue} cannot answer reconciliation queries",
                ts=self.ctx.now(),
            )
        )

    def fetch_bars(self, request: FetchBars) -> None:
        """Answer with ``bars_fetched``; a venue that serves history overrides this (and says
        so with ``VenueCapabilities.bars``). By default: this venue cannot."""
        self.bars_fetched(request, error=f"venue {self.venue} cannot serve bars")

    def on_other(self, message: Any) -> None:
        """Timers, fed market data and anything else sent to this venue."""

    # -- helpers: state ---------------------------------------------------------------------------

    def book(self, symbol: str) -> L2Book:
        """This venue's one book of ``symbol`` in the node."""
        return self.market.book(self.venue, symbol)

    def instruments_loaded(self, instruments: list[Instrument]) -> None:
        self.market.set_instruments(self.venue, instruments)
        self.ctx.publish(
            InstrumentsLoaded(venue=self.venue, instruments=instruments, ts=self.ctx.now())
        )

    def balances_updated(self, balances: dict[str, Balance]) -> None:
        self.market.venue(self.venue).balances = balances
        self.ctx.publish(BalancesUpdated(venue=self.venue, balances=balances, ts=self.ctx.now()))

    def connected(self, capabilities: VenueCapabilities | None = None) -> None:
        caps = capabilities or self.capabilities
        state = self.market.venue(self.venue)
        state.capabilities = caps
        state.connected, state.reason = True, ""
        self.up, self.down_reason = True, ""
        self.ctx.publish(VenueConnected(venue=self.venue, capabilities=caps, ts=self.ctx.now()))

    def disconnected(self, reason: str, *, reconnecting: bool = False) -> None:
        state = self.market.venue(self.venue)
        state.connected, state.reason = False, reason
        self.up, self.down_reason = False, reason
        self.ctx.publish(
            VenueDisconnected(
                venue=self.venue, reason=reason, reconnecting=reconnecting, ts=self.ctx.now()
            )
        )

    def bars_fetched(
        self,
        request: FetchBars,
        bars: Sequence[Bar] = (),
        *,
        timeframe_minutes: int | None = None,
        error: str = "",
    ) -> None:
        """Send the answer to ``request.reply_to``: ``bars`` oldest first (``Bar.ts`` is the
        open time), or ``error`` and none. Whoever asked may be gone (a finished executor):
        then nobody waits for it, and it is dropped."""
        answer = BarsFetched(
            venue=self.venue,
            symbol=request.symbol,
            timeframe_minutes=(
                request.timeframe_minutes if timeframe_minutes is None else timeframe_minutes
            ),
            bars=[] if error else list(bars),
            error=error,
            ts=self.ctx.now(),
        )
        try:
            self.ctx.send(request.reply_to, answer)
        except Exception as exc:  # no such component any more, or it is stopping
            log.info("venue %s: bars for %s not delivered: %s", self.venue, request.reply_to, exc)

    def status(self, status: str, detail: str = "") -> None:
        self.ctx.publish(
            VenueStatus(venue=self.venue, status=status, detail=detail, ts=self.ctx.now())
        )

    # -- helpers: the order lifecycle -----------------------------------------------------------

    def accepted(self, client_order_id: str, venue_order_id: str) -> None:
        self.ctx.publish(
            OrderAccepted(
                client_order_id=client_order_id,
                venue=self.venue,
                venue_order_id=venue_order_id,
                parent_id=self.parents.get(client_order_id),
                ts=self.ctx.now(),
            )
        )

    def rejected(self, client_order_id: str, reason: str) -> None:
        self.ctx.publish(
            OrderRejected(
                client_order_id=client_order_id,
                venue=self.venue,
                reason=reason,
                parent_id=self.parents.pop(client_order_id, None),
                ts=self.ctx.now(),
            )
        )

    def filled(
        self,
        *,
        client_order_id: str,
        venue_order_id: str,
        trade_id: str,
        symbol: str,
        side: Side,
        price: Decimal,
        quantity: Decimal,
        fee: Decimal,
        fee_currency: str,
        liquidity: Liquidity,
        cumulative_quantity: Decimal,
        leaves_quantity: Decimal,
        ts: int | None = None,
    ) -> None:
        """One execution; ``OrderFilled`` when nothing is left, else ``OrderPartiallyFilled``."""
        done = leaves_quantity <= 0
        kind = OrderFilled if done else OrderPartiallyFilled
        parent_id = (
            self.parents.pop(client_order_id, None) if done else self.parents.get(client_order_id)
        )
        self.ctx.publish(
            kind(
                client_order_id=client_order_id,
                venue=self.venue,
                venue_order_id=venue_order_id,
                trade_id=trade_id,
                symbol=symbol,
                side=side,
                price=price,
                quantity=quantity,
                fee=fee,
                fee_currency=fee_currency,
                liquidity=liquidity,
                cumulative_quantity=cumulative_quantity,
                leaves_quantity=leaves_quantity,
                parent_id=parent_id,
                ts=self.ctx.now() if ts is None else ts,
            )
        )

    def canceled(
        self, client_order_id: str, reason: str = "", filled_quantity: Decimal = Decimal(0)
    ) -> None:
        self.ctx.publish(
            OrderCanceled(
                client_order_id=client_order_id,
                venue=self.venue,
                reason=reason,
                filled_quantity=filled_quantity,
                parent_id=self.parents.pop(client_order_id, None),
                ts=self.ctx.now(),
            )
        )

    def cancel_rejected(self, client_order_id: str, reason: str) -> None:
        self.ctx.publish(
            OrderCancelRejected(
                client_order_id=client_order_id,
                venue=self.venue,
                reason=reason,
                parent_id=self.parents.get(client_order_id),
                ts=self.ctx.now(),
            )
        )

    def expired(
        self, client_order_id: str, filled_quantity: Decimal = Decimal(0), reason: str = ""
    ) -> None:
        self.ctx.publish(
            OrderExpired(
                client_order_id=client_order_id,
                venue=self.venue,
                filled_quantity=filled_quantity,
                reason=reason,
                parent_id=self.parents.pop(client_order_id, None),
                ts=self.ctx.now(),
            )
        )


def open_orders_in(history: Iterable[Envelope], venue_address_: str) -> dict[str, SubmitOrder]:
    """Orders sent to a venue that the journal shows no final event for, by client order id."""
    orders: dict[str, SubmitOrder] = {}
    for envelope in history:
        message = envelope.message
        if isinstance(message, SubmitOrder):
            if envelope.destination == venue_address_:
                orders[message.client_order_id] = message
        elif isinstance(message, FINAL_ORDER_EVENTS):
            orders.pop(message.client_order_id, None)
    return orders
