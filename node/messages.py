"""Every command and event the node exchanges.

Commands are imperative (``SubmitOrder``), events past tense (``OrderFilled``). All are frozen,
keyword-only, tagged msgspec Structs, so one decoder for the union of all messages serves the
journal and any external bus. Prices and quantities are exact ``Decimal``; times are integer
nanoseconds since the epoch taken from the runtime's clock.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar, Literal, Union

import msgspec

Side = Literal["buy", "sell"]
OrderType = Literal["market", "limit"]
TimeInForce = Literal["gtc", "ioc", "fok"]
Liquidity = Literal["maker", "taker"]
TradingState = Literal["active", "reducing", "halted"]


class Message(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """Base of every message. ``ts`` is the runtime clock's time when the message was made."""

    ts: int = 0
    #: Whether the journal records this kind of message. Market data is replayable input from
    #: its source and is not journaled; everything that changes money state is.
    journaled: ClassVar[bool] = True


class Command(Message, frozen=True, kw_only=True):
    """Asks a component to do something; it may refuse with an event."""


class Event(Message, frozen=True, kw_only=True):
    """States that something happened; never refused."""


# --------------------------------------------------------------------------------------------
# Instruments


class Instrument(msgspec.Struct, frozen=True, kw_only=True):
    """One tradable instrument on one venue.

    ``symbol`` is the canonical (ccxt unified) form, e.g. ``BTC/USDT``; ``venue_symbol`` is what
    the venue calls it. Fees are fractions (0.001 = 10 bps).
    """

    symbol: str
    venue: str
    venue_symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    min_quantity: Decimal = Decimal(0)
    max_quantity: Decimal | None = None
    min_notional: Decimal = Decimal(0)
    maker_fee: Decimal = Decimal(0)
    taker_fee: Decimal = Decimal(0)
    tradable: bool = True


class InstrumentsLoaded(Event, frozen=True, kw_only=True):
    venue: str
    instruments: list[Instrument]


# --------------------------------------------------------------------------------------------
# Parent orders (what a trader or strategy asks for; an algorithm works it)


class SubmitParentOrder(Command, frozen=True, kw_only=True):
    parent_id: str
    symbol: str
    side: Side
    quantity: Decimal
    algo: str = "route"
    limit_price: Decimal | None = None
    venues: list[str] | None = None
    params: dict[str, Any] = {}


class CancelParentOrder(Command, frozen=True, kw_only=True):
    parent_id: str
    reason: str = ""


class ParentOrderAccepted(Event, frozen=True, kw_only=True):
    parent_id: str
    symbol: str
    side: Side
    quantity: Decimal
    algo: str
    arrival_mid: Decimal | None = None


class ParentOrderRejected(Event, frozen=True, kw_only=True):
    parent_id: str
    reason: str


class ParentOrderProgressed(Event, frozen=True, kw_only=True):
    parent_id: str
    filled_quantity: Decimal
    remaining_quantity: Decimal
    average_price: Decimal | None


class VenueFill(msgspec.Struct, frozen=True, kw_only=True):
    """One venue's share of an executed parent order."""

    venue: str
    quantity: Decimal
    average_price: Decimal
    fees: Decimal
    fee_currency: str


class ExecutionReport(msgspec.Struct, frozen=True, kw_only=True):
    """What a parent order achieved: the numbers a trader checks after the fact."""

    parent_id: str
    symbol: str
    side: Side
    requested_quantity: Decimal
    filled_quantity: Decimal
    average_price: Decimal | None
    arrival_mid: Decimal | None
    slippage_bps: Decimal | None
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


class ParentOrderCompleted(Event, frozen=True, kw_only=True):
    parent_id: str
    status: Literal["filled", "partially_filled", "canceled", "unfilled"]
    reason: str = ""
    report: ExecutionReport


# --------------------------------------------------------------------------------------------
# Child orders (what reaches a venue)


class SubmitOrder(Command, frozen=True, kw_only=True):
    client_order_id: str
    venue: str
    symbol: str
    side: Side
    quantity: Decimal
    order_type: OrderType = "limit"
    limit_price: Decimal | None = None
    time_in_force: TimeInForce = "gtc"
    post_only: bool = False
    reduce_only: bool = False
    parent_id: str | None = None


class CancelOrder(Command, frozen=True, kw_only=True):
    client_order_id: str
    venue: str
    reason: str = ""


class OrderAccepted(Event, frozen=True, kw_only=True):
    client_order_id: str
    venue: str
    venue_order_id: str


class OrderRejected(Event, frozen=True, kw_only=True):
    """The venue refused the order; ``reason`` carries its words and numbers."""

    client_order_id: str
    venue: str
    reason: str


class _Fill(Event, frozen=True, kw_only=True):
    client_order_id: str
    venue: str
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
    parent_id: str | None = None


class OrderPartiallyFilled(_Fill, frozen=True, kw_only=True):
    """A fill that leaves part of the order working (or about to be canceled, for IOC)."""


class OrderFilled(_Fill, frozen=True, kw_only=True):
    """The fill that completed the order."""


Fill = _Fill
FILL_TYPES = (OrderPartiallyFilled, OrderFilled)


class OrderCanceled(Event, frozen=True, kw_only=True):
    client_order_id: str
    venue: str
    reason: str = ""
    filled_quantity: Decimal = Decimal(0)


class OrderCancelRejected(Event, frozen=True, kw_only=True):
    client_order_id: str
    venue: str
    reason: str


class OrderExpired(Event, frozen=True, kw_only=True):
    """Time in force ran out (IOC/FOK remainder)."""

    client_order_id: str
    venue: str
    filled_quantity: Decimal = Decimal(0)
    reason: str = ""


class RouteLeg(msgspec.Struct, frozen=True, kw_only=True):
    """One venue's planned share of a routed order."""

    venue: str
    client_order_id: str
    quantity: Decimal
    limit_price: Decimal
    expected_average_price: Decimal
    expected_fee: Decimal


class OrderRouted(Event, frozen=True, kw_only=True):
    """The router's plan for (the rest of) a parent order, with what it expects to save.

    Costs are net of taker fees (a sell's cost is its negative net proceeds); savings compare
    average net prices, in bps, against putting the whole order on the best single venue and on
    the first eligible venue's book alone. ``excluded`` names each venue left out and why.
    """

    parent_id: str
    attempt: int
    mode: str
    symbol: str
    side: Side
    quantity: Decimal
    legs: list[RouteLeg]
    expected_average_price: Decimal | None
    expected_fees: Decimal
    unroutable_quantity: Decimal
    best_venue: str | None
    best_venue_average_price: Decimal | None
    saving_bps_vs_best_venue: Decimal | None
    first_venue: str | None
    first_venue_average_price: Decimal | None
    saving_bps_vs_first_venue: Decimal | None
    excluded: dict[str, str] = {}


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


class PositionChanged(Event, frozen=True, kw_only=True):
    position: Position


class NavRecorded(Event, frozen=True, kw_only=True):
    nav: Decimal
    currency: str
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal


# --------------------------------------------------------------------------------------------
# Venue status


class VenueConnected(Event, frozen=True, kw_only=True):
    venue: str


class VenueDisconnected(Event, frozen=True, kw_only=True):
    venue: str
    reason: str


# --------------------------------------------------------------------------------------------
# Risk


class RiskRejected(Event, frozen=True, kw_only=True):
    """Risk refused an order; ``check`` names the check, ``detail`` gives its numbers."""

    client_order_id: str
    venue: str
    check: str
    detail: str
    parent_id: str | None = None


class HaltTrading(Command, frozen=True, kw_only=True):
    reason: str
    cancel_open_orders: bool = True


class ReduceOnly(Command, frozen=True, kw_only=True):
    reason: str


class ResumeTrading(Command, frozen=True, kw_only=True):
    reason: str


class TradingStateChanged(Event, frozen=True, kw_only=True):
    state: TradingState
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

    Published; ``address`` is the component the source fed ("*" when it was published). A venue
    fed by it turns it into ``VenueDisconnected``, so routing leaves the venue out and risk can
    halt.
    """

    address: str
    error: str


class NodeStarted(Event, frozen=True, kw_only=True):
    node: str


class NodeStopped(Event, frozen=True, kw_only=True):
    node: str
    reason: str


class RecordNav(Command, frozen=True, kw_only=True):
    """Ask the portfolio to value the account now and publish ``NavRecorded`` (send or publish)."""

    reason: str = ""


def _all_message_types() -> tuple[type[Message], ...]:
    found: list[type[Message]] = []
    stack: list[type[Message]] = [Message]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if not cls.__name__.startswith("_") and cls not in (Message, Command, Event, MarketData):
            found.append(cls)
    return tuple(sorted(set(found), key=lambda c: c.__name__))


MESSAGE_TYPES: tuple[type[Message], ...] = _all_message_types()
AnyMessage = Union[MESSAGE_TYPES]  # noqa: UP007 - the tagged union, built from the classes above

_encoder = msgspec.msgpack.Encoder(decimal_format="string")
_decoder = msgspec.msgpack.Decoder(AnyMessage)
_json_decoder = msgspec.json.Decoder(AnyMessage)


def encode(message: Message) -> bytes:
    """Encode any message to msgpack (the journal's and the bus's wire form)."""
    return _encoder.encode(message)


def decode(data: bytes) -> Message:
    """Decode msgpack bytes into the message type named by its tag."""
    return _decoder.decode(data)


def decode_json(data: bytes | str) -> Message:
    return _json_decoder.decode(data)


def to_json(message: Message) -> bytes:
    return msgspec.json.encode(message)
