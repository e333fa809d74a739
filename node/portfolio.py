"""Positions, balances, P&L and NAV, from instruments, fills, balance snapshots and transfers.

``Ledger`` is the accounting, a plain class with no runtime: the ``Portfolio`` component and the
risk manager each feed one with the same events, so both agree on every number, and each agrees
with the messages it has itself processed (sharing one mutable ledger across threads would let
risk decide on fills it has not seen yet).

Accounting rules (all arithmetic is exact ``Decimal``; see ``EXACT``):

* Every fill is accounted by its instrument (``InstrumentsLoaded``), never by parsing its symbol:
  a fill of an instrument the ledger was never told about is refused (``LedgerError``) rather
  than guessed. Spot-like instruments (spot, stock, fx) exchange base for quote: a buy moves
  base ``+q`` and quote ``−p·q``. Derivatives (future, perpetual, option, cfd) move no base:
  their realised P&L ``× multiplier`` is paid into the settlement currency when a position is
  reduced, and their unrealised P&L counts in NAV.
* Positions are kept per (symbol, venue) and, separately, per symbol over all venues. A fill that
  opens or adds to a position raises the signed *cost* by ``±price·qty·multiplier`` and sets the
  average entry price to ``cost / (quantity·multiplier)``: that division is the only rounded
  number in the ledger (28 significant digits, ``AVERAGE``). A fill that reduces realises
  ``(fill − avg)·qty·multiplier·sign``; the fill that brings a position to zero realises
  ``fill·qty·multiplier·sign − remaining cost`` so no rounding residue survives the position; a
  fill through zero closes at the fill price and opens the remainder at it. Unrealised P&L is
  ``quantity·mark·multiplier − cost``. Hence, exactly and always,
  ``realised + unrealised = (Σ sell proceeds − Σ buy cost + quantity·mark)·multiplier`` (fees
  kept apart in ``fees``).
* Fees: a position's ``fees`` are in its quote currency (a fee in the base currency is converted
  at the fill price; a fee in a third currency is only debited from that balance).
* Balances: ``BalancesUpdated`` replaces that venue's balances by the venue's totals; fills and
  ``TransferRecorded`` move them. Only totals are tracked; risk subtracts its own reservations.
* Marks come from a mark source (the node's books: ``MarketState.mark``), read when a value is
  needed, never pushed on every book update: valuing NAV exactly on each of a replay's hundred
  thousand book updates cost half its time, and nothing decides money on a NAV nobody reads.
  Money is decided on fresh marks at the moment of the decision (a fill, a risk check, a NAV
  asked for); what is shown is valued when shown.
* A currency is valued in ``valuation_currency`` by the mark of a spot-like instrument with that
  currency as base and the valuation currency as quote, or of the symbol ``CUR/<valuation>``. No
  other route is tried (no inverse pair, no assumed peg between USD and a stablecoin): a
  currency with a non-zero balance and no such mark raises ``MarkUnavailable`` naming it.
* Day boundaries are UTC days of the message ``ts``. ``DailyMetrics`` counts fills, notional
  volume, commission and realised P&L per currency, and the day's P&L from NAV (net of
  transfers) each time NAV is observed: after a fill, balance snapshot or transfer, and when
  risk checks its loss triggers or the portfolio records NAV.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    localcontext,
)

import msgspec

from node.component import Component, Envelope, decode_state, encode_state
from node.messages import (
    AccountValued,
    BalancesUpdated,
    Fill,
    Instrument,
    InstrumentsLoaded,
    Message,
    NavRecorded,
    OrderFilled,
    OrderPartiallyFilled,
    Position,
    PositionChanged,
    PositionsAdopted,
    RecordNav,
    TimerFired,
    TransferRecorded,
    ValueAccount,
)
from node.recent import Recent

log = logging.getLogger("tradenode.portfolio")

NS_PER_DAY = 86_400 * 1_000_000_000
ZERO = Decimal(0)
#: fills remembered to recognise one a venue sends again (after a reconnect, say)
SEEN_TRADES = 200_000
ONE = Decimal(1)

#: Context for the ledger's sums and products: wide enough never to round any realistic number,
#: and trapping ``Inexact`` so a rounding would raise rather than lose money silently.
EXACT = Context(
    prec=200,
    rounding=ROUND_HALF_EVEN,
    traps=[Inexact, InvalidOperation, DivisionByZero, Overflow],
)
#: Context of the one rounded operation, the average entry price ``cost / quantity``.
AVERAGE = Context(prec=28, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero])
#: Context for numbers only shown to people (percentages, bps in reject details).
DISPLAY = Context(prec=28, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero])

#: (symbol, venue or None) → a mark, or None when there is none
MarkSource = Callable[[str, str | None], Decimal | None]


class MarkUnavailable(ValueError):
    """A value in the valuation currency needs a mark that has not been seen."""

    def __init__(self, symbols: Iterable[str]) -> None:
        self.symbols = tuple(sorted(set(symbols)))
        super().__init__("no mark for " + ", ".join(self.symbols))


class LedgerError(ValueError):
    """The ledger was asked to account for something it cannot account for exactly."""


def utc_day(ts: int) -> int:
    """Days since the epoch of ``ts`` (ns): the UTC day a message belongs to."""
    return ts // NS_PER_DAY


@dataclass
class PositionState:
    """One position: per (symbol, venue), or over all venues when ``venue`` is None.

    ``cost`` is the signed cost of the open quantity (``Σ ±price·qty·multiplier`` of the lots
    still open, less what reductions took out at the average price); it is exact, the average
    is not.
    """

    symbol: str
    venue: str | None
    quote: str
    multiplier: Decimal = ONE
    quantity: Decimal = ZERO
    average_price: Decimal | None = None
    cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    last_price: Decimal | None = None

    def apply(self, side: str, price: Decimal, quantity: Decimal, fee: Decimal) -> Decimal:
        """Apply one fill (``fee`` already in the quote currency); returns the P&L it realised."""
        with localcontext(EXACT):
            m = self.multiplier
            realized = ZERO
            signed = quantity if side == "buy" else -quantity
            held = self.quantity
            if quantity == 0:
                pass
            elif held == 0 or (held > 0) == (signed > 0):
                self.quantity = held + signed
                self.cost += signed * price * m
                self.average_price = AVERAGE.divide(self.cost, self.quantity * m)
            else:
                sign = 1 if held > 0 else -1
                if quantity >= abs(held):  # closes, and perhaps opens the other way
                    realized = sign * abs(held) * price * m - self.cost
                    remainder = signed + held
                    self.quantity = remainder
                    self.cost = remainder * price * m
                    self.average_price = price if remainder else None
                else:
                    assert self.average_price is not None
                    realized = sign * quantity * (price - self.average_price) * m
                    self.cost -= sign * quantity * self.average_price * m
                    self.quantity = held + signed
            self.realized_pnl += realized
            self.fees += fee
            self.last_price = price
            return realized

    def unrealized(self, mark: Decimal) -> Decimal:
        with localcontext(EXACT):
            return self.quantity * mark * self.multiplier - self.cost

    def to_message(self, mark: Decimal | None, mark_ts: int | None = None) -> Position:
        """The ``Position`` message, marked to ``mark`` (at ``mark_ts``), or to the last fill
        price without one."""
        price = mark if mark is not None else self.last_price
        unrealized = self.unrealized(price) if price is not None else ZERO
        return Position(
            symbol=self.symbol,
            venue=self.venue,
            quantity=self.quantity,
            average_price=self.average_price,
            realized_pnl=self.realized_pnl,
            unrealized_pnl=unrealized,
            fees=self.fees,
            mark=price,
            mark_ts=mark_ts if mark is not None else None,
        )


@dataclass
class DailyMetrics:
    """One UTC day's activity. Amounts are per currency; ``Ledger.value`` sums them."""

    day: int
    trades: int = 0
    volume: dict[str, Decimal] = field(default_factory=dict)
    commission: dict[str, Decimal] = field(default_factory=dict)
    realized_pnl: dict[str, Decimal] = field(default_factory=dict)
    #: Transfer-adjusted NAV the day's P&L is measured from (None until one is observed).
    pnl_base: Decimal | None = None
    #: NAV change today net of transfers, its high so far, and the raw NAV high / last today.
    pnl: Decimal = ZERO
    pnl_high: Decimal = ZERO
    nav_high: Decimal | None = None
    nav_last: Decimal | None = None

    @property
    def drawdown(self) -> Decimal:
        """How far the day's P&L is below its high (≥ 0), in the valuation currency."""
        return self.pnl_high - self.pnl


@dataclass(frozen=True)
class NavPoint:
    day: int
    ts: int
    nav: Decimal


def _add(book: dict[str, Decimal], key: str, amount: Decimal) -> None:
    with localcontext(EXACT):
        book[key] = book.get(key, ZERO) + amount


class Ledger:
    """Positions, balances, fees, daily metrics and NAV, exactly; see the module docstring.

    ``marks`` is where prices come from; without one the ledger keeps its own marks, set with
    ``set_mark`` (tools and tests).
    """

    def __init__(self, valuation_currency: str, marks: MarkSource | None = None) -> None:
        self.valuation_currency = valuation_currency
        self.instruments: dict[tuple[str, str], Instrument] = {}  # (venue, symbol)
        self._valued_by: dict[str, str] = {}  # currency → symbol of CUR/<valuation>
        self.positions: dict[tuple[str, str], PositionState] = {}  # (symbol, venue)
        self.aggregates: dict[str, PositionState] = {}  # symbol → over all venues
        self.balances: dict[str, dict[str, Decimal]] = {}  # venue → currency → total
        self.transfers: dict[str, Decimal] = {}  # currency → net amount transferred in
        self.fees_paid: dict[str, Decimal] = {}  # currency → all fees ever paid in it
        self.marks: dict[tuple[str | None, str], Decimal] = {}  # own marks (no mark source)
        self._source = marks
        self.daily_metrics = DailyMetrics(day=0)
        self._nav_history: dict[int, NavPoint] = {}
        self._last_adjusted: Decimal | None = None
        self._seen_trades: Recent[tuple[str, str, str]] = Recent(SEEN_TRADES)

    # -- checkpoints ----------------------------------------------------------------------------

    def state(self) -> LedgerState:
        return LedgerState(
            instruments=list(self.instruments.values()),
            positions=list(self.positions.values()),
            aggregates=list(self.aggregates.values()),
            balances=self.balances,
            transfers=self.transfers,
            fees_paid=self.fees_paid,
            daily=self.daily_metrics,
            nav_history=list(self._nav_history.values()),
            last_adjusted=self._last_adjusted,
            seen_trades=list(self._seen_trades),
        )

    def load_state(self, state: LedgerState) -> None:
        self.add_instruments(state.instruments)
        self.positions = {(p.symbol, p.venue or ""): p for p in state.positions}
        self.aggregates = {p.symbol: p for p in state.aggregates}
        self.balances, self.transfers, self.fees_paid = (
            state.balances,
            state.transfers,
            state.fees_paid,
        )
        self.daily_metrics = state.daily
        self._nav_history = {p.day: p for p in state.nav_history}
        self._last_adjusted = state.last_adjusted
        self._seen_trades = Recent(SEEN_TRADES, state.seen_trades)

    # -- events ---------------------------------------------------------------------------------

    def apply(self, message: Message) -> None:
        """Apply any message the ledger understands; others are ignored."""
        if isinstance(message, Fill):
            self.apply_fill(message)
        elif isinstance(message, BalancesUpdated):
            self.apply_balances(message)
        elif isinstance(message, TransferRecorded):
            self.apply_transfer(message)
        elif isinstance(message, InstrumentsLoaded):
            self.add_instruments(message.instruments)
        elif isinstance(message, PositionsAdopted):
            self.adopt_positions(message)
        elif isinstance(message, NavRecorded) and message.currency == self.valuation_currency:
            day = utc_day(message.ts)
            self._nav_history[day] = NavPoint(day, message.ts, message.nav)

    def add_instruments(self, instruments: Iterable[Instrument]) -> None:
        for ins in instruments:
            self.instruments[(ins.venue, ins.symbol)] = ins
            if not ins.is_derivative and ins.quote == self.valuation_currency:
                self._valued_by.setdefault(ins.base, ins.symbol)

    def instrument(self, venue: str, symbol: str) -> Instrument:
        ins = self.instruments.get((venue, symbol))
        if ins is None:
            raise LedgerError(
                f"{symbol} on {venue} is not an instrument the venue listed: its fills cannot "
                "be accounted for"
            )
        return ins

    def apply_fill(self, fill: Fill) -> tuple[PositionState, PositionState] | None:
        """Apply a fill; returns (venue position, aggregate position), or None for a repeat.

        A fill is a repeat when its (venue, client order id, trade id) was applied before (a
        venue may resend fills after a reconnect); fills with an empty trade id are never.
        """
        ins = self.instrument(fill.venue, fill.symbol)
        if fill.trade_id:
            key = (fill.venue, fill.client_order_id, fill.trade_id)
            if key in self._seen_trades:
                return None
            self._seen_trades.add(key)
        base, quote, m = ins.base, ins.quote, ins.multiplier
        with localcontext(EXACT):
            notional = fill.price * fill.quantity * m
            if fill.fee_currency == quote:
                fee_in_quote = fill.fee
            elif fill.fee_currency == base and not ins.is_derivative:
                fee_in_quote = fill.fee * fill.price
            else:
                fee_in_quote = ZERO
            venue_pos = self.positions.get((fill.symbol, fill.venue))
            if venue_pos is None:
                venue_pos = self.positions[(fill.symbol, fill.venue)] = PositionState(
                    fill.symbol, fill.venue, quote, m
                )
            aggregate = self.aggregates.get(fill.symbol)
            if aggregate is None:
                aggregate = self.aggregates[fill.symbol] = PositionState(
                    fill.symbol, None, quote, m
                )
            realized = venue_pos.apply(fill.side, fill.price, fill.quantity, fee_in_quote)
            aggregate.apply(fill.side, fill.price, fill.quantity, fee_in_quote)

            balances = self.balances.setdefault(fill.venue, {})
            if ins.is_derivative:
                if realized:
                    _add(balances, ins.settlement_currency, realized)
            elif fill.side == "buy":
                _add(balances, base, fill.quantity)
                _add(balances, quote, -notional)
            else:
                _add(balances, base, -fill.quantity)
                _add(balances, quote, notional)
            if fill.fee:
                _add(balances, fill.fee_currency, -fill.fee)
                _add(self.fees_paid, fill.fee_currency, fill.fee)

            day = self._roll(fill.ts)
            day.trades += 1
            _add(day.volume, quote, notional)
            _add(day.commission, fill.fee_currency, fill.fee)
            _add(day.realized_pnl, quote, realized)
        self.observe_nav(fill.ts)
        return venue_pos, aggregate

    def adopt_positions(self, adopted: PositionsAdopted) -> list[PositionState]:
        """Open the positions a venue held before the journal began, at their average price;
        returns the positions changed (per venue and over all venues). Balances do not move."""
        changed: list[PositionState] = []
        for report in adopted.positions:
            if report.quantity == 0:
                continue
            if report.average_price is None:
                raise LedgerError(
                    f"{report.symbol} on {adopted.venue}: a position adopted without its "
                    "average price has no cost to account from"
                )
            ins = self.instrument(adopted.venue, report.symbol)
            side = "buy" if report.quantity > 0 else "sell"
            venue_pos = self.positions.get((report.symbol, adopted.venue))
            if venue_pos is None:
                venue_pos = self.positions[(report.symbol, adopted.venue)] = PositionState(
                    report.symbol, adopted.venue, ins.quote, ins.multiplier
                )
            aggregate = self.aggregates.get(report.symbol)
            if aggregate is None:
                aggregate = self.aggregates[report.symbol] = PositionState(
                    report.symbol, None, ins.quote, ins.multiplier
                )
            for state in (venue_pos, aggregate):
                state.apply(side, report.average_price, abs(report.quantity), ZERO)
                changed.append(state)
        return changed

    def apply_balances(self, update: BalancesUpdated) -> None:
        """Replace the venue's balances by the snapshot's totals."""
        self.balances[update.venue] = {cur: bal.total for cur, bal in update.balances.items()}
        self.observe_nav(update.ts)

    def apply_transfer(self, transfer: TransferRecorded) -> None:
        _add(self.balances.setdefault(transfer.venue, {}), transfer.currency, transfer.amount)
        _add(self.transfers, transfer.currency, transfer.amount)
        self.observe_nav(transfer.ts)

    def set_mark(self, venue: str | None, symbol: str, mid: Decimal, ts: int = 0) -> None:
        """Set a mark in the ledger's own marks (a ledger without a mark source) and observe
        NAV when it values a currency held."""
        self.marks[(venue, symbol)] = mid
        self.marks[(None, symbol)] = mid
        held = {c for b in self.balances.values() for c, amount in b.items() if amount}
        if any(self._valued_by.get(c, f"{c}/{self.valuation_currency}") == symbol for c in held):
            self.observe_nav(ts)

    # -- reading --------------------------------------------------------------------------------

    def mark(self, symbol: str, venue: str | None = None) -> Decimal | None:
        """The venue's mark of ``symbol`` if known, else the symbol's mark on any venue."""
        if self._source is not None:
            return self._source(symbol, venue)
        return self.marks.get((venue, symbol)) or self.marks.get((None, symbol))

    def position(self, symbol: str, venue: str | None = None) -> PositionState | None:
        """The position on ``venue``, or over all venues when ``venue`` is None."""
        if venue is None:
            return self.aggregates.get(symbol)
        return self.positions.get((symbol, venue))

    def quantity(self, symbol: str, venue: str | None = None) -> Decimal:
        position = self.position(symbol, venue)
        return position.quantity if position is not None else ZERO

    def open_positions(self, by_venue: bool = True) -> list[PositionState]:
        """Positions with a non-zero quantity, per venue (default) or per symbol."""
        source = self.positions.values() if by_venue else self.aggregates.values()
        return [p for p in source if p.quantity != 0]

    def unrealized_pnl(self, symbol: str, venue: str | None = None) -> Decimal | None:
        """Unrealised P&L in the quote currency, or None when the position has no mark."""
        position = self.position(symbol, venue)
        if position is None:
            return ZERO
        mark = self.mark(symbol, venue)
        if mark is None:
            return None if position.quantity != 0 else ZERO
        return position.unrealized(mark)

    def position_message(self, symbol: str, venue: str | None = None, ts: int = 0) -> Position:
        position = self.position(symbol, venue)
        if position is None:
            raise LedgerError(f"no position in {symbol}")
        return position.to_message(self.mark(symbol, venue), ts)

    def balance(self, venue: str, currency: str) -> Decimal:
        """Total balance of ``currency`` on ``venue`` (0 when unknown); free equals total."""
        return self.balances.get(venue, {}).get(currency, ZERO)

    def totals(self) -> dict[str, Decimal]:
        """Every currency's total over all venues."""
        out: dict[str, Decimal] = {}
        for balances in self.balances.values():
            for currency, amount in balances.items():
                _add(out, currency, amount)
        return out

    def rate(self, currency: str) -> Decimal:
        """Value of one unit of ``currency`` in the valuation currency."""
        if currency == self.valuation_currency:
            return ONE
        symbol = self._valued_by.get(currency, f"{currency}/{self.valuation_currency}")
        mark = self.mark(symbol)
        if mark is None:
            raise MarkUnavailable([symbol])
        return mark

    def value(self, amounts: Mapping[str, Decimal]) -> Decimal:
        """Σ amount·rate in the valuation currency; raises naming every missing mark."""
        total = ZERO
        missing: list[str] = []
        with localcontext(EXACT):
            for currency, amount in amounts.items():
                if amount == 0:
                    continue
                try:
                    total += amount * self.rate(currency)
                except MarkUnavailable as exc:
                    missing.extend(exc.symbols)
        if missing:
            raise MarkUnavailable(missing)
        return total

    def derivatives_unrealized(self) -> dict[str, Decimal]:
        """Unrealised P&L of open derivative positions, per settlement currency."""
        out: dict[str, Decimal] = {}
        missing: list[str] = []
        for (symbol, venue), position in self.positions.items():
            if position.quantity == 0:
                continue
            ins = self.instruments.get((venue, symbol))
            if ins is None or not ins.is_derivative:
                continue
            mark = self.mark(symbol, venue)
            if mark is None:
                missing.append(symbol)
                continue
            _add(out, ins.settlement_currency, position.unrealized(mark))
        if missing:
            raise MarkUnavailable(missing)
        return out

    def nav(self) -> Decimal:
        """Net asset value in the valuation currency; ``MarkUnavailable`` names missing marks."""
        with localcontext(EXACT):
            return self.value(self.totals()) + self.value(self.derivatives_unrealized())

    def nav_or_none(self) -> Decimal | None:
        try:
            return self.nav()
        except MarkUnavailable:
            return None

    def daily(self, ts: int | None = None) -> DailyMetrics:
        """The metrics of the UTC day of ``ts`` (default: the latest day seen)."""
        if ts is None:
            return self.daily_metrics
        return self._roll(ts)

    @property
    def nav_history(self) -> list[NavPoint]:
        """One point per UTC day, oldest first: the last NAV observed or recorded that day."""
        return [self._nav_history[day] for day in sorted(self._nav_history)]

    def observe_nav(self, ts: int) -> Decimal | None:
        """Compute NAV if every needed mark is known and note it in the day's metrics/history."""
        try:
            nav = self.nav()
            with localcontext(EXACT):
                adjusted = nav - self.value(self.transfers)
        except MarkUnavailable:
            return None
        day = self._roll(ts)
        with localcontext(EXACT):
            if day.pnl_base is None:
                day.pnl_base = adjusted
            day.pnl = adjusted - day.pnl_base
            day.pnl_high = max(day.pnl_high, day.pnl)
        day.nav_high = nav if day.nav_high is None else max(day.nav_high, nav)
        day.nav_last = nav
        self._nav_history[day.day] = NavPoint(day.day, ts, nav)
        self._last_adjusted = adjusted
        return nav

    def record_nav(self, ts: int) -> NavRecorded:
        """Value everything now, every venue's positions included, all at the same marks (each
        position at its own venue's mark); raises ``MarkUnavailable`` rather than leave anything
        out.

        Realised and unrealised P&L are the per-venue positions' (in their quote currencies,
        converted at the same marks), fees every fee ever paid.
        """
        realized: dict[str, Decimal] = {}
        unrealized: dict[str, Decimal] = {}
        missing: list[str] = []
        positions: list[Position] = []
        for position in self.positions.values():
            _add(realized, position.quote, position.realized_pnl)
            mark = self.mark(position.symbol, position.venue)
            if position.quantity != 0 or position.realized_pnl or position.fees:
                positions.append(position.to_message(mark, ts))
            if position.quantity == 0:
                continue
            if mark is None:
                missing.append(position.symbol)
            else:
                _add(unrealized, position.quote, position.unrealized(mark))
        if missing:
            raise MarkUnavailable(missing)
        nav = self.observe_nav(ts)
        if nav is None:
            nav = self.nav()  # raises, naming the missing marks
        return NavRecorded(
            ts=ts,
            nav=nav,
            currency=self.valuation_currency,
            realized_pnl=self.value(realized),
            unrealized_pnl=self.value(unrealized),
            fees=self.value(self.fees_paid),
            positions=sorted(positions, key=lambda p: (p.symbol, p.venue or "")),
        )

    def _roll(self, ts: int) -> DailyMetrics:
        day = utc_day(ts)
        if day > self.daily_metrics.day:
            self.daily_metrics = DailyMetrics(day=day, pnl_base=self._last_adjusted)
        return self.daily_metrics  # a late message counts in the current day


class LedgerState(msgspec.Struct, kw_only=True):
    """Everything a ledger knows, as a checkpoint stores it."""

    instruments: list[Instrument]
    positions: list[PositionState]
    aggregates: list[PositionState]
    balances: dict[str, dict[str, Decimal]]
    transfers: dict[str, Decimal]
    fees_paid: dict[str, Decimal]
    daily: DailyMetrics
    nav_history: list[NavPoint]
    last_adjusted: Decimal | None
    seen_trades: list[tuple[str, str, str]]


# ------------------------------------------------------------------------------------------------
# The component

DAILY_TIMER = "portfolio.daily_nav"


class Portfolio(Component):
    """Keeps the account's ``Ledger`` and publishes positions and NAV.

    Publishes ``PositionChanged`` after each fill, twice: the venue's position, then the
    symbol's position over all venues (``venue=None``), each marked at the book's mid of that
    moment, with the mark and its time. Publishes ``NavRecorded`` (NAV and every position, at
    one set of marks) when asked with ``RecordNav`` and at 23:59:59.999999999 UTC of every day
    on which something reached the portfolio (a background timer: it never keeps a replay
    running on its own). When NAV
    cannot be valued (a mark is missing) nothing is published and a warning names the marks.
    """

    subscriptions = (
        InstrumentsLoaded,
        OrderPartiallyFilled,
        OrderFilled,
        BalancesUpdated,
        TransferRecorded,
        PositionsAdopted,
        RecordNav,
    )

    def __init__(
        self, valuation_currency: str, marks: MarkSource | None = None, name: str = "portfolio"
    ) -> None:
        super().__init__(name)
        self.ledger = Ledger(valuation_currency, marks)
        self._timer_day: int | None = None

    def restore(self, history: Iterable[Envelope]) -> None:
        for envelope in history:
            self.ledger.apply(envelope.message)

    def checkpoint(self) -> bytes:
        return encode_state(self.ledger.state())

    def restore_checkpoint(self, state: bytes) -> None:
        self.ledger.load_state(decode_state(state, LedgerState))

    def on_message(self, message: Message) -> None:
        if isinstance(message, TimerFired):
            if message.name == DAILY_TIMER:
                self._timer_day = None
                self._record("end of UTC day")
            return
        if isinstance(message, RecordNav):
            self._record(message.reason or "requested")
            return
        if isinstance(message, ValueAccount):
            now = self.ctx.now()
            try:
                valued = AccountValued(valuation=self.ledger.record_nav(now), ts=now)
            except MarkUnavailable as exc:
                valued = AccountValued(valuation=None, error=str(exc), ts=now)
            self.ctx.send(message.reply_to, valued)
            return
        if isinstance(message, Fill | PositionsAdopted):
            if isinstance(message, PositionsAdopted):
                changed = self.ledger.adopt_positions(message)
            else:
                changed = self.ledger.apply_fill(message)
            if changed is not None:
                now = self.ctx.now()
                for state in changed:
                    mark = self.ledger.mark(state.symbol, state.venue)
                    self.ctx.publish(PositionChanged(ts=now, position=state.to_message(mark, now)))
        else:
            self.ledger.apply(message)
        self._arm_daily_timer()

    def _arm_daily_timer(self) -> None:
        now = self.ctx.now()
        day = utc_day(now)
        if self._timer_day == day:
            return
        end_of_day = (day + 1) * NS_PER_DAY - 1
        self.ctx.schedule(end_of_day - now, DAILY_TIMER, background=True)
        self._timer_day = day

    def _record(self, reason: str) -> None:
        now = self.ctx.now()
        try:
            recorded = self.ledger.record_nav(now)
        except MarkUnavailable as exc:
            log.warning("NAV not recorded (%s): %s", reason, exc)
            return
        self.ctx.publish(recorded)
