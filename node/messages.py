"""Every command and event of the core.

Commands are imperative (``SubmitOrder``), events past tense (``OrderFilled``). All are frozen,
keyword-only, tagged msgspec Structs; prices and quantities are exact ``Decimal``; times are
integer nanoseconds since the epoch from the runtime's clock. Plugins add their own message types
through ``tradenode_register_messages``; ``node.codec`` builds the one decoder for the union after
plugins load, so whatever a plugin journals can be read back.

A message whose ``correlated`` class flag is set carries the ``parent_id`` of the parent order it
belongs to; the runtime delivers it to that parent's executor without the executor filtering
anything (see ``Component.correlation``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar, Literal

import msgspec

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit", "stop", "stop_limit"]
#: ``opg`` and ``cls``: the opening and closing auctions of stock venues.
TimeInForce = Literal["gtc", "ioc", "fok", "day", "opg", "cls"]
Liquidity = Literal["maker", "taker"]
TradingState = Literal["active", "reducing", "halted"]
#: How a slice should trade: take liquidity now, or rest passively on the book.
Urgency = Literal["take", "post"]
#: Spot-like classes exchange base for quote; derivatives settle profit and loss in cash.
AssetClass = Literal["spot", "stock", "fx", "future", "perpetual", "option", "cfd"]
DERIVATIVES: frozenset[str] = frozenset({"future", "perpetual", "option", "cfd"})


class Message(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """Base of every message. ``ts`` is the runtime clock's time when the message was made."""

    ts: int = 0
    #: Whether the journal records this kind of message. Market data is replayable input from
    #: its source and is not journaled; everything that changes money state is.
    journaled: ClassVar[bool] = True
    #: Whether instances carry ``parent_id`` and go to that parent's executor too.
    correlated: ClassVar[bool] = False
    #: Whether a publish reaches every component, subscribed or not (a checkpoint's marker).
    broadcast: ClassVar[bool] = False


class Command(Message, frozen=True, kw_only=True):
    """Asks a component to do something; it may refuse with an event."""


class Event(Message, frozen=True, kw_only=True):
    """States that something happened; never refused."""


# --------------------------------------------------------------------------------------------
# Instruments and venues


class Instrument(msgspec.Struct, frozen=True, kw_only=True):
    """One tradable instrument on one venue.

    ``symbol`` is the node's canonical name (ccxt's unified form for crypto, ``BTC/USDT``; the
    ticker for a stock, ``AAPL``); ``venue_symbol`` is what the venue calls it. ``base`` is what
    a position is counted in and ``quote`` what its price is in; ``settlement`` is the currency
    a derivative's profit, loss and margin are paid in (``quote`` when None). ``multiplier`` is
    how much of the underlying one unit of quantity controls (50 for an ES future). Fees are
    fractions (0.001 = 10 bps).
    """

    symbol: str
    venue: str
    venue_symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    asset_class: AssetClass = "spot"
    multiplier: Decimal = Decimal(1)
    settlement: str | None = None
    min_quantity: Decimal = Decimal(0)
    max_quantity: Decimal | None = None
    min_notional: Decimal = Decimal(0)
    maker_fee: Decimal = Decimal(0)
    taker_fee: Decimal = Decimal(0)
    tradable: bool = True

    @property
    def is_derivative(self) -> bool:
        return self.asset_class in DERIVATIVES

    @property
    def settlement_currency(self) -> str:
        return self.settlement or self.quote


class InstrumentsLoaded(Event, frozen=True, kw_only=True):
    venue: str
    instruments: list[Instrument]


class VenueCapabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What a venue accepts, so the router never sends what it would refuse.

    ``client_id_max_length`` and ``client_id_chars`` (the characters allowed, as a regex
    character class body) are the venue's rules for client order ids; the router shortens the
    node's deterministic ids to fit. ``reconciles`` says the venue answers ``ReconcileVenue``,
    ``bars`` that it serves OHLCV history (``FetchBars``).
    """

    order_types: tuple[OrderType, ...] = ("market", "limit")
    time_in_force: tuple[TimeInForce, ...] = ("gtc", "ioc", "fok")
    post_only: bool = True
    client_id_max_length: int = 64
    client_id_chars: str = "A-Za-z0-9._:-"
    reconciles: bool = False
    #: the venue answers ``FetchBars`` with history (every venue answers; one without says so)
    bars: bool = False


class VenueConnected(Event, frozen=True, kw_only=True):
    venue: str
    capabilities: VenueCapabilities = VenueCapabilities()


class VenueDisconnected(Event, frozen=True, kw_only=True):
    """The venue is unusable: orders to it are refused with ``reason`` until it reconnects."""

    venue: str
    reason: str
    reconnecting: bool = False


class VenueStatus(Event, frozen=True, kw_only=True):
    """Something an operator should see about a venue that does not stop it (rate limited,
    a book resynchronised, a data farm reconnected)."""

    venue: str
    status: str
    detail: str = ""


# --------------------------------------------------------------------------------------------
# Parent orders (what a trader or strategy asks for; an executor works it)


class SubmitParentOrder(Command, frozen=True, kw_only=True):
    """``source`` says where the order came from (``config``, ``api 127.0.0.1``, ``cli``)."""

    correlated: ClassVar[bool] = True

    parent_id: str
    symbol: str
    side: Side
    quantity: Decimal
    algo: str = "route"
    limit_price: Decimal | None = None
    venues: list[str] | None = None
    params: dict[str, Any] = {}
    source: str = ""


class CancelParentOrder(Command, frozen=True, kw_only=True):
    correlated: ClassVar[bool] = True
    parent_id: str
    reason: str = ""
    source: str = ""


class CompleteParentOrder(Command, frozen=True, kw_only=True):
    """Finish a working parent now: cancel what rests and take what is left through the router,
    no worse than ``max_slippage_bps`` from the parent's arrival mid (the current mid when it
    had none); what the guard leaves is reported, not chased. Answered, when it cannot apply,
    with ``ParentCompleteRejected``."""

    correlated: ClassVar[bool] = True
    parent_id: str
    max_slippage_bps: Decimal
    reason: str = ""
    source: str = ""


class ParentOrderAccepted(Event, frozen=True, kw_only=True):
    correlated: ClassVar[bool] = True
    parent_id: str
    symbol: str
    side: Side
    quantity: Decimal
    algo: str
    arrival_mid: Decimal | None = None
    limit_price: Decimal | None = None


class ParentOrderRejected(Event, frozen=True, kw_only=True):
    correlated: ClassVar[bool] = True
    parent_id: str
    reason: str


class ParentCancelRejected(Event, frozen=True, kw_only=True):
    """A ``CancelParentOrder`` that could not apply (no such parent, or it had finished)."""

    correlated: ClassVar[bool] = True

    parent_id: str
    reason: str


class ParentCompleteRejected(Event, frozen=True, kw_only=True):
    """A ``CompleteParentOrder`` that could not apply: no such parent, finished, not started,
    already completing, or an algorithm that cannot complete on demand."""

    correlated: ClassVar[bool] = True

    parent_id: str
    reason: str


class ParentOrderWaiting(Event, frozen=True, kw_only=True):
    """Accepted for later: the node is not ready, or trading is halted; says until when."""

    correlated: ClassVar[bool] = True

    parent_id: str
    reason: str


class ParentOrderProgressed(Event, frozen=True, kw_only=True):
    """What an execution monitor shows: done so far, what the schedule wanted by now, what is
    working at the venues, the state (``working``, ``paused: …``) and the mid at that moment
    (market data is not journaled: this is how a report plots fills against the market)."""

    correlated: ClassVar[bool] = True
    parent_id: str
    filled_quantity: Decimal
    remaining_quantity: Decimal
    average_price: Decimal | None
    scheduled_quantity: Decimal | None = None
    open_quantity: Decimal = Decimal(0)
    open_children: int = 0
    state: str = "working"
    mid: Decimal | None = None


class VenueFill(msgspec.Struct, frozen=True, kw_only=True):
    """One venue's share of an executed parent order.

    ``fees`` are in ``fee_currency``, the instrument's quote (fees charged in the base, as
    Binance charges a buy's, converted at each fill's price); fees charged in any other currency
    (BNB …) cannot be converted without a price and are in ``other_fees``, per currency.
    """

    venue: str
    quantity: Decimal
    average_price: Decimal
    fees: Decimal
    fee_currency: str
    other_fees: dict[str, Decimal] = {}


class ExecutionReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a parent order achieved: the numbers a trader checks after the fact.

    Implementation shortfall is the signed cost of the average fill against the arrival mid, in
    bps (positive = worse than arrival), before fees. ``fees`` are in ``fee_currency``, the
    instrument's quote, fees charged in its base converted at each fill's price; fees in any
    other currency are in ``other_fees``, per currency, and in no net price.
    """

    parent_id: str
    symbol: str
    side: Side
    algo: str
    requested_quantity: Decimal
    filled_quantity: Decimal
    average_price: Decimal | None
    arrival_mid: Decimal | None
    shortfall_bps: Decimal | None
    fees: Decimal
    fee_currency: str
    child_orders: int
    venues: list[VenueFill]
    started_ts: int
    finished_ts: int
    #: from the router's first plan: the average net price it expected, and what the whole
    #: order would have cost on the best single venue (realised savings are against that).
    expected_average_price: Decimal | None = None
    best_venue: str | None = None
    best_venue_average_price: Decimal | None = None
    saving_bps_vs_best_venue: Decimal | None = None
    #: fees charged in a currency that is neither the base nor the quote, per currency
    other_fees: dict[str, Decimal] = {}


ParentStatus = Literal["filled", "partially_filled", "canceled", "unfilled", "failed", "unknown"]


class ParentOrderCompleted(Event, frozen=True, kw_only=True):
    correlated: ClassVar[bool] = True
    parent_id: str
    status: ParentStatus
    reason: str = ""
    report: ExecutionReport


class ExecutorFinished(Event, frozen=True, kw_only=True):
    """An executor is done with its parent (every slice closed); the manager closes the parent.

    ``status`` None lets the manager derive it from the fills."""

    correlated: ClassVar[bool] = True

    parent_id: str
    reason: str = ""
    status: ParentStatus | None = None


# --------------------------------------------------------------------------------------------
# Slices: an executor asks the router to trade part of its parent


class RouteSlice(Command, frozen=True, kw_only=True):
    """Trade ``quantity`` of the parent now. The router decides where.

    ``take``: IOC child orders across the eligible venues at least cost net of fees, re-routed
    on fresh books for what did not fill, never past ``limit_price``. ``post``: one resting
    limit order at ``limit_price`` (post-only where the venue supports it) on the venue with
    the cheapest maker fee among those quoting at or better than it, until canceled.
    """

    correlated: ClassVar[bool] = True
    parent_id: str
    slice_id: int
    symbol: str
    side: Side
    quantity: Decimal
    urgency: Urgency = "take"
    limit_price: Decimal | None = None
    venues: list[str] | None = None


class CancelSlice(Command, frozen=True, kw_only=True):
    correlated: ClassVar[bool] = True
    parent_id: str
    slice_id: int
    reason: str = ""


class RouteLeg(msgspec.Struct, frozen=True, kw_only=True):
    """One child order of a routed slice."""

    venue: str
    client_order_id: str
    quantity: Decimal
    limit_price: Decimal
    expected_average_price: Decimal
    expected_fee: Decimal


class SliceRouted(Event, frozen=True, kw_only=True):
    """The router's plan for (the rest of) a slice, with what it expects to save.

    Costs are net of taker fees (a sell's cost is its negative net proceeds); savings compare
    average net prices, in bps, against putting the whole slice on the best single venue and on
    the first eligible venue's book alone. ``excluded`` names each venue left out and why.
    """

    correlated: ClassVar[bool] = True
    parent_id: str
    slice_id: int
    attempt: int
    mode: str
    symbol: str
    side: Side
    quantity: Decimal
    legs: list[RouteLeg]
    expected_average_price: Decimal | None
    expected_fees: Decimal
    unroutable_quantity: Decimal
    best_venue: str | None = None
    best_venue_average_price: Decimal | None = None
    saving_bps_vs_best_venue: Decimal | None = None
    first_venue: str | None = None
    first_venue_average_price: Decimal | None = None
    saving_bps_vs_first_venue: Decimal | None = None
    excluded: dict[str, str] = {}
    #: venues that were used, with the book levels the price collar left out of them
    collared: dict[str, str] = {}


SliceStatus = Literal["filled", "partially_filled", "unfilled", "canceled", "failed"]


class SliceCompleted(Event, frozen=True, kw_only=True):
    """Every child of the slice reached a final state; nothing of it is working any more."""

    correlated: ClassVar[bool] = True
    parent_id: str
    slice_id: int
    quantity: Decimal
    filled_quantity: Decimal
    status: SliceStatus
    reason: str = ""


# --------------------------------------------------------------------------------------------
# Child orders (what reaches a venue)


class SubmitOrder(Command, frozen=True, kw_only=True):
    correlated: ClassVar[bool] = True
    client_order_id: str
    venue: str
    symbol: str
    side: Side
    quantity: Decimal
    order_type: OrderType = "limit"
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce = "gtc"
    post_only: bool = False
    reduce_only: bool = False
    parent_id: str | None = None


class CancelOrder(Command, frozen=True, kw_only=True):
    correlated: ClassVar[bool] = True
    client_order_id: str
    venue: str
    reason: str = ""
    parent_id: str | None = None


class _OrderEvent(Event, frozen=True, kw_only=True):
    correlated: ClassVar[bool] = True
    client_order_id: str
    venue: str
    parent_id: str | None = None


class OrderAccepted(_OrderEvent, frozen=True, kw_only=True):
    venue_order_id: str


class OrderRejected(_OrderEvent, frozen=True, kw_only=True):
    """The venue refused the order; ``reason`` carries its words and numbers."""

    reason: str


class _Fill(_OrderEvent, frozen=True, kw_only=True):
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


class OrderPartiallyFilled(_Fill, frozen=True, kw_only=True):
    """A fill that leaves part of the order working (or about to be canceled, for IOC)."""


class OrderFilled(_Fill, frozen=True, kw_only=True):
    """The fill that completed the order."""


Fill = _Fill
FILL_TYPES = (OrderPartiallyFilled, OrderFilled)


class OrderCanceled(_OrderEvent, frozen=True, kw_only=True):
    reason: str = ""
    filled_quantity: Decimal = Decimal(0)


class OrderCancelRejected(_OrderEvent, frozen=True, kw_only=True):
    reason: str


class OrderExpired(_OrderEvent, frozen=True, kw_only=True):
    """Time in force ran out (IOC/FOK remainder, a DAY order at the close)."""

    filled_quantity: Decimal = Decimal(0)
    reason: str = ""


class RiskRejected(_OrderEvent, frozen=True, kw_only=True):
    """Risk refused an order; ``check`` names the check, ``detail`` gives its numbers."""

    check: str
    detail: str


#: Events after which a child order is no longer working.
FINAL_ORDER_EVENTS = (OrderFilled, OrderCanceled, OrderExpired, OrderRejected, RiskRejected)


# --------------------------------------------------------------------------------------------
# Reconciliation: what a venue says it has, for the node to compare with its journal


class OrderStatusReport(msgspec.Struct, frozen=True, kw_only=True):
    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    quantity: Decimal
    filled_quantity: Decimal
    status: Literal["open", "filled", "canceled", "expired", "rejected"]
    limit_price: Decimal | None = None
    average_price: Decimal | None = None
    ts: int = 0


class FillReport(msgspec.Struct, frozen=True, kw_only=True):
    client_order_id: str
    venue_order_id: str
    trade_id: str
    symbol: str
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_currency: str
    liquidity: Liquidity = "taker"
    ts: int = 0


class PositionReport(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    quantity: Decimal
    average_price: Decimal | None = None


class ReconcileVenue(Command, frozen=True, kw_only=True):
    """Ask a venue what it knows: open orders, fills since ``since_ts``, balances, positions,
    and the state of each of ``client_order_ids`` (orders the journal left unresolved)."""

    venue: str
    since_ts: int = 0
    client_order_ids: list[str] = []


class OrderAdopted(Event, frozen=True, kw_only=True):
    """An order found open at a venue that the journal did not know; the node now tracks it."""

    venue: str
    order: OrderStatusReport


class PositionsAdopted(Event, frozen=True, kw_only=True):
    """Positions a venue held when the node first reconciled with it, taken as the account's
    opening positions at the venue's average price (their cost; no cash moves: the venue's
    balances already paid for them)."""

    venue: str
    positions: list[PositionReport]


class VenueReconciled(Event, frozen=True, kw_only=True):
    """A venue's answer to ``ReconcileVenue``; ``error`` set when it could not answer."""

    venue: str
    open_orders: list[OrderStatusReport] = []
    queried: list[OrderStatusReport] = []
    unknown: list[str] = []
    fills: list[FillReport] = []
    balances: dict[str, Balance] = {}
    positions: list[PositionReport] = []
    error: str = ""


# --------------------------------------------------------------------------------------------
# Market data (not journaled: the recorded or live source is the record)


class BookLevel(msgspec.Struct, frozen=True, array_like=True):
    price: Decimal
    size: Decimal


class MarketData(Event, frozen=True, kw_only=True):
    journaled: ClassVar[bool] = False
    venue: str
    symbol: str


class BookSnapshot(MarketData, frozen=True, kw_only=True):
    """The whole L2 book; replaces whatever was held. Bids best-first, asks best-first."""

    bids: list[BookLevel]
    asks: list[BookLevel]
    sequence: int = 0


class BookDeltas(MarketData, frozen=True, kw_only=True):
    """Absolute level sizes; size 0 removes the level."""

    bids: list[BookLevel]
    asks: list[BookLevel]
    sequence: int = 0


class TradeTick(MarketData, frozen=True, kw_only=True):
    price: Decimal
    size: Decimal
    aggressor: Side
    trade_id: str = ""


class QuoteTick(MarketData, frozen=True, kw_only=True):
    bid: Decimal
    bid_size: Decimal
    ask: Decimal
    ask_size: Decimal


class Bar(MarketData, frozen=True, kw_only=True):
    interval_ns: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


class FetchBars(Command, frozen=True, kw_only=True):
    """Ask ``venue.<venue>`` for ``symbol``'s OHLCV bars opening in ``[since_ns, until_ns)``, of
    ``timeframe_minutes`` (or a shorter length that divides it, when the venue has no such
    bars); answered with ``BarsFetched`` to ``reply_to``, always — a venue that cannot serve
    bars says so — so whoever asks never waits forever on a venue (it bounds its own wait for a
    venue that is down all the same).

    Neither is journaled: history decides nothing by itself and would bloat the journal (a month
    of minutes is tens of thousands of bars), and whoever asked asks again after a restart. For
    VWAP that is sound: its profile is fixed by the parent's start day (journaled), the days
    before it are history that does not change, so the executor resumed after a restart fetches
    the same bars and rebuilds the same schedule.
    """

    journaled: ClassVar[bool] = False
    venue: str
    symbol: str
    timeframe_minutes: int
    since_ns: int
    until_ns: int
    reply_to: str


class BarsFetched(Event, frozen=True, kw_only=True):
    """A venue's answer to ``FetchBars``: the bars oldest first, each ``Bar.ts`` its open time
    and ``interval_ns`` its length (``timeframe_minutes`` is the length served); or ``error``,
    with no bars, saying why there are none (the venue cannot serve bars, the request failed).
    An empty list without an error is a range in which the venue has no bars."""

    journaled: ClassVar[bool] = False
    venue: str
    symbol: str
    timeframe_minutes: int = 0
    bars: list[Bar] = []
    error: str = ""


# --------------------------------------------------------------------------------------------
# Account


class Balance(msgspec.Struct, frozen=True, kw_only=True):
    total: Decimal
    free: Decimal


class BalancesUpdated(Event, frozen=True, kw_only=True):
    venue: str
    balances: dict[str, Balance]


class TransferRecorded(Event, frozen=True, kw_only=True):
    """Money moved in or out of a venue account outside trading (deposit, withdrawal)."""

    venue: str
    currency: str
    amount: Decimal


class Position(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    venue: str | None
    quantity: Decimal
    average_price: Decimal | None
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    #: the price the unrealised P&L was marked at, and when (None: no mark yet)
    mark: Decimal | None = None
    mark_ts: int | None = None


class PositionChanged(Event, frozen=True, kw_only=True):
    position: Position


class NavRecorded(Event, frozen=True, kw_only=True):
    """The account valued at one instant: NAV and every open position, marked at ``ts``."""

    nav: Decimal
    currency: str
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    positions: list[Position] = []


class RecordNav(Command, frozen=True, kw_only=True):
    """Ask the portfolio to value the account now and publish ``NavRecorded``."""

    reason: str = ""


class ValueAccount(Command, frozen=True, kw_only=True):
    """Ask the portfolio for a valuation to show (a dashboard's NAV line): answered with
    ``AccountValued`` to ``reply_to``, and neither is journaled — it decides nothing."""

    journaled: ClassVar[bool] = False
    reply_to: str


class AccountValued(Event, frozen=True, kw_only=True):
    journaled: ClassVar[bool] = False
    valuation: NavRecorded | None
    error: str = ""


# --------------------------------------------------------------------------------------------
# Risk and the kill switch


class HaltTrading(Command, frozen=True, kw_only=True):
    reason: str
    cancel_open_orders: bool = True
    source: str = ""


class ReduceOnly(Command, frozen=True, kw_only=True):
    reason: str
    source: str = ""


class ResumeTrading(Command, frozen=True, kw_only=True):
    reason: str
    source: str = ""


class TradingStateChanged(Event, frozen=True, kw_only=True):
    state: TradingState
    reason: str


class InstrumentHalted(Event, frozen=True, kw_only=True):
    """Trading in one instrument stops: the journal and the venue disagree about it."""

    venue: str
    symbol: str
    reason: str


# --------------------------------------------------------------------------------------------
# Runtime


class TimerFired(Event, frozen=True, kw_only=True):
    """A timer a component scheduled has come due; delivered only to that component."""

    journaled: ClassVar[bool] = False
    name: str
    payload: Any = None


class ComponentFailed(Event, frozen=True, kw_only=True):
    component: str
    error: str
    attempt: int
    restarting: bool


class ComponentRestarted(Event, frozen=True, kw_only=True):
    component: str
    attempt: int


class DataSourceFailed(Event, frozen=True, kw_only=True):
    """A recorded or live data source broke off (bad line, gap, truncated file, lost feed).

    Published; ``address`` is the component the source fed. A venue fed by it turns it into
    ``VenueDisconnected``, so routing leaves the venue out and risk can halt.
    """

    address: str
    error: str


class NodeStarted(Event, frozen=True, kw_only=True):
    node: str


class NodeReady(Event, frozen=True, kw_only=True):
    """Every configured venue is connected with instruments, balances and books (or the wait
    timed out and ``missing`` names who is left out); parent orders are worked from now on."""

    node: str
    missing: dict[str, str] = {}


class NodeStopped(Event, frozen=True, kw_only=True):
    node: str
    reason: str


class TakeCheckpoint(Command, frozen=True, kw_only=True):
    """Every component stores its state as of this message (the runtime delivers it to all, in
    journal order after everything journaled before it); a start then reads only what came
    after it."""

    broadcast: ClassVar[bool] = True
    reason: str = ""


class Checkpointed(Event, frozen=True, kw_only=True):
    """Every component's state was stored as of the journal's row ``through_seq``."""

    through_seq: int
