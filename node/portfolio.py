"""Positions, balances, P&L and NAV, from fills, balance snapshots, transfers and marks.

``Ledger`` is the accounting, a plain class with no runtime: the ``Portfolio`` component and the
risk manager's view each feed one with the same events, so both agree on every number.

Accounting rules (all arithmetic is exact ``Decimal``; see ``EXACT``):

* Positions are kept per (symbol, venue) and, separately, per symbol over all venues. A fill that
  opens or adds to a position raises the signed *cost* by ``±price·qty`` and sets the average entry
  price to ``cost / quantity``: that division is the only rounded number in the ledger (28
  significant digits, ``AVERAGE``). A fill that reduces realises ``(fill − avg)·qty·sign`` and
  leaves the average unchanged; the fill that brings a position to zero realises
  ``fill·qty·sign − remaining cost`` so no rounding residue survives the position; a fill through
  zero closes at the fill price and opens the remainder with the fill price as its average.
  Unrealised P&L is ``quantity·mark − cost``. Hence, exactly and always,
  ``realised + unrealised = Σ sell proceeds − Σ buy cost + quantity·mark`` (fees excluded: they are
  kept apart in ``fees``).
* Fees: a position's ``fees`` are in its quote currency (a fee paid in the base currency is
  converted at the fill price; a fee in a third currency is only debited from that balance and
  counted in the day's commission under its own currency).
* Balances: ``BalancesUpdated`` replaces that venue's balances; a fill moves them (buy: base
  ``+q``, quote ``−p·q``; sell: base ``−q``, quote ``+p·q``; the fee currency ``−fee``); a
  ``TransferRecorded`` adds its signed amount. Only totals are tracked: the ledger reserves
  nothing for open orders, so ``free`` equals ``total`` (a snapshot's reported ``free`` is
  ignored). The risk manager subtracts its own reservations for open orders.
* NAV is the sum of every venue's balances, each currency valued in ``valuation_currency`` by
  the mark of ``CUR/<valuation_currency>`` (the last mid of that symbol on any venue). No other
  route is tried (no inverse pair, no assumed peg between USD and a stablecoin): a currency with a
  non-zero balance and no such mark raises ``MarkUnavailable`` naming the symbol it needs.
* Day boundaries are UTC days of the message ``ts``. ``DailyMetrics`` counts fills, notional
  volume, commission and realised P&L per currency (notional and realised in the quote currency,
  commission in the fee currency; ``Ledger.value`` converts a per-currency amount), and the day's
  P&L from NAV: NAV minus the current value of every recorded transfer, so deposits and
  withdrawals are not profit or loss, relative to the last such value before the day began.
* The NAV history holds one point per UTC day: the last NAV observed that day. NAV is observed
  whenever it can be computed after a fill, balance snapshot, transfer or a mark of a
  ``CUR/<valuation>`` symbol, and by ``record_nav``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
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

from node.component import Component
from node.messages import (
    BalancesUpdated,
    BookDeltas,
    BookLevel,
    BookSnapshot,
    Fill,
    Message,
    NavRecorded,
    OrderFilled,
    OrderPartiallyFilled,
    Position,
    PositionChanged,
    QuoteTick,
    RecordNav,
    TimerFired,
    TransferRecorded,
)

log = logging.getLogger("tradenode.portfolio")

NS_PER_DAY = 86_400 * 1_000_000_000
ZERO = Decimal(0)

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


class MarkUnavailable(ValueError):
    """A value in the valuation currency needs a mark that has not been seen."""

    def __init__(self, symbols: Iterable[str]) -> None:
        self.symbols = tuple(sorted(set(symbols)))
        super().__init__("no mark for " + ", ".join(self.symbols))


def utc_day(ts: int) -> int:
    """Days since the epoch of ``ts`` (ns): the UTC day a message belongs to."""
    return ts // NS_PER_DAY


def split_symbol(symbol: str) -> tuple[str, str]:
    """``"BTC/USDT"`` → ``("BTC", "USDT")`` (a ccxt settle suffix ``":USDT"`` is dropped)."""
    base, sep, quote = symbol.partition("/")
    quote = quote.partition(":")[0]
    if not sep or not base or not quote:
        raise ValueError(f"symbol {symbol!r} is not of the form BASE/QUOTE")
    return base, quote


@dataclass
class PositionState:
    """One position: per (symbol, venue), or over all venues when ``venue`` is None.

    ``cost`` is the signed cost of the open quantity (``Σ ±price·qty`` of the lots still open,
    less what reductions took out at the average price); it is exact, the average is not.
    """

    symbol: str
    venue: str | None
    quote: str
    quantity: Decimal = ZERO
    average_price: Decimal | None = None
    cost: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    last_price: Decimal | None = None

    def apply(self, side: str, price: Decimal, quantity: Decimal, fee: Decimal) -> Decimal:
        """Apply one fill (``fee`` already in the quote currency); returns the P&L it realised."""
        with localcontext(EXACT):
            realized = ZERO
            signed = quantity if side == "buy" else -quantity
            held = self.quantity
            if quantity == 0:
                pass
            elif held == 0 or (held > 0) == (signed > 0):
                self.quantity = held + signed
                self.cost += signed * price
                self.average_price = AVERAGE.divide(self.cost, self.quantity)
            else:
                sign = 1 if held > 0 else -1
                if quantity >= abs(held):  # closes, and perhaps opens the other way
                    realized = sign * abs(held) * price - self.cost
                    remainder = signed + held
                    self.quantity = remainder
                    self.cost = remainder * price
                    self.average_price = price if remainder else None
                else:
                    assert self.average_price is not None
                    realized = sign * quantity * (price - self.average_price)
                    self.cost -= sign * quantity * self.average_price
                    self.quantity = held + signed
            self.realized_pnl += realized
            self.fees += fee
            self.last_price = price
            return realized

    def unrealized(self, mark: Decimal) -> Decimal:
        with localcontext(EXACT):
            return self.quantity * mark - self.cost

    def to_message(self, mark: Decimal | None) -> Position:
        """The ``Position`` message; marked to ``mark``, or to the last fill price without one."""
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
    """Positions, balances, fees, daily metrics and NAV, exactly; see the module docstring."""

    def __init__(self, valuation_currency: str) -> None:
        self.valuation_currency = valuation_currency
        self.positions: dict[tuple[str, str], PositionState] = {}  # (symbol, venue)
        self.aggregates: dict[str, PositionState] = {}  # symbol → over all venues
        self.balances: dict[str, dict[str, Decimal]] = {}  # venue → currency → total
        self.transfers: dict[str, Decimal] = {}  # currency → net amount transferred in
        self.fees_paid: dict[str, Decimal] = {}  # currency → all fees ever paid in it
        self.venue_marks: dict[tuple[str, str], Decimal] = {}  # (venue, symbol) → mid
        self.marks: dict[str, Decimal] = {}  # symbol → last mid on any venue
        self.daily_metrics = DailyMetrics(day=0)
        self._nav_history: dict[int, NavPoint] = {}
        self._last_adjusted: Decimal | None = None
        self._seen_trades: set[tuple[str, str, str]] = set()
        self._valuation_suffix = "/" + valuation_currency

    # -- events ---------------------------------------------------------------------------------

    def apply(self, message: Message) -> None:
        """Apply any message the ledger understands; others are ignored."""
        if isinstance(message, Fill):
            self.apply_fill(message)
        elif isinstance(message, BalancesUpdated):
            self.apply_balances(message)
        elif isinstance(message, TransferRecorded):
            self.apply_transfer(message)
        elif isinstance(message, NavRecorded) and message.currency == self.valuation_currency:
            self._nav_history[utc_day(message.ts)] = NavPoint(
                utc_day(message.ts), message.ts, message.nav
            )

    def apply_fill(self, fill: Fill) -> tuple[PositionState, PositionState] | None:
        """Apply a fill; returns (venue position, aggregate position), or None for a repeat.

        A fill is a repeat when its (venue, client order id, trade id) was applied before (a
        venue may resend fills after a reconnect); fills with an empty trade id are never.
        """
        if fill.trade_id:
            key = (fill.venue, fill.client_order_id, fill.trade_id)
            if key in self._seen_trades:
                return None
            self._seen_trades.add(key)
        base, quote = split_symbol(fill.symbol)
        with localcontext(EXACT):
            notional = fill.price * fill.quantity
            if fill.fee_currency == quote:
                fee_in_quote = fill.fee
            elif fill.fee_currency == base:
                fee_in_quote = fill.fee * fill.price
            else:
                fee_in_quote = ZERO
            venue_pos = self.positions.get((fill.symbol, fill.venue))
            if venue_pos is None:
                venue_pos = self.positions[(fill.symbol, fill.venue)] = PositionState(
                    fill.symbol, fill.venue, quote
                )
            aggregate = self.aggregates.get(fill.symbol)
            if aggregate is None:
                aggregate = self.aggregates[fill.symbol] = PositionState(fill.symbol, None, quote)
            realized = venue_pos.apply(fill.side, fill.price, fill.quantity, fee_in_quote)
            aggregate.apply(fill.side, fill.price, fill.quantity, fee_in_quote)

            balances = self.balances.setdefault(fill.venue, {})
            if fill.side == "buy":
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

    def apply_balances(self, update: BalancesUpdated) -> None:
        """Replace the venue's balances by the snapshot's totals."""
        self.balances[update.venue] = {cur: bal.total for cur, bal in update.balances.items()}
        self.observe_nav(update.ts)

    def apply_transfer(self, transfer: TransferRecorded) -> None:
        _add(self.balances.setdefault(transfer.venue, {}), transfer.currency, transfer.amount)
        _add(self.transfers, transfer.currency, transfer.amount)
        self.observe_nav(transfer.ts)

    def set_mark(self, venue: str, symbol: str, mid: Decimal, ts: int = 0) -> None:
        """Record a mid; a mark of ``CUR/<valuation>`` for a held currency re-observes NAV."""
        self.venue_marks[(venue, symbol)] = mid
        self.marks[symbol] = mid
        if symbol.endswith(self._valuation_suffix):
            currency = symbol[: -len(self._valuation_suffix)]
            if currency in self.transfers or any(currency in b for b in self.balances.values()):
                self.observe_nav(ts)

    # -- reading --------------------------------------------------------------------------------

    def mark(self, symbol: str, venue: str | None = None) -> Decimal | None:
        """The venue's mid of ``symbol`` if known, else the symbol's last mid on any venue."""
        if venue is not None:
            mid = self.venue_marks.get((venue, symbol))
            if mid is not None:
                return mid
        return self.marks.get(symbol)

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

    def position_message(self, symbol: str, venue: str | None = None) -> Position:
        position = self.position(symbol, venue)
        if position is None:
            position = PositionState(symbol, venue, split_symbol(symbol)[1])
        return position.to_message(self.mark(symbol, venue))

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
            return Decimal(1)
        symbol = currency + self._valuation_suffix
        mark = self.marks.get(symbol)
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

    def nav(self) -> Decimal:
        """Net asset value in the valuation currency; ``MarkUnavailable`` names missing marks."""
        return self.value(self.totals())

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
        """Value everything now; raises ``MarkUnavailable`` rather than leave anything out.

        Realised and unrealised P&L are the per-venue positions' (in their quote currencies,
        converted at today's marks), fees every fee ever paid; unrealised needs a mark for each
        open position.
        """
        realized: dict[str, Decimal] = {}
        unrealized: dict[str, Decimal] = {}
        missing: list[str] = []
        for position in self.positions.values():
            _add(realized, position.quote, position.realized_pnl)
            if position.quantity == 0:
                continue
            mark = self.mark(position.symbol, position.venue)
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
        )

    def _roll(self, ts: int) -> DailyMetrics:
        day = utc_day(ts)
        if day > self.daily_metrics.day:
            self.daily_metrics = DailyMetrics(day=day, pnl_base=self._last_adjusted)
        return self.daily_metrics  # a late message counts in the current day


# ------------------------------------------------------------------------------------------------
# Marks from market data


class BookTops:
    """Best bid and ask per (venue, symbol) from snapshots, deltas and quotes.

    Snapshots and deltas update a level map (deltas carry absolute sizes; size 0 removes the
    level) whose best price is cached and recomputed only when the best level goes; a quote sets
    the top directly. The top is whatever the latest message for that key said.
    """

    def __init__(self) -> None:
        self._bids: dict[tuple[str, str], dict[Decimal, Decimal]] = {}
        self._asks: dict[tuple[str, str], dict[Decimal, Decimal]] = {}
        self._book_tops: dict[tuple[str, str], tuple[Decimal | None, Decimal | None]] = {}
        self.tops: dict[tuple[str, str], tuple[Decimal | None, Decimal | None]] = {}

    def apply(self, message: Message) -> tuple[str, str] | None:
        """Apply market data; returns the (venue, symbol) it concerned, or None if not a book."""
        if isinstance(message, QuoteTick):
            key = (message.venue, message.symbol)
            bid = message.bid if message.bid_size > 0 else None
            ask = message.ask if message.ask_size > 0 else None
            self.tops[key] = (bid, ask)
            return key
        if not isinstance(message, (BookSnapshot, BookDeltas)):
            return None
        key = (message.venue, message.symbol)
        if isinstance(message, BookSnapshot) or key not in self._bids:
            self._bids[key], self._asks[key] = {}, {}
            self._book_tops[key] = (None, None)
        best_bid, best_ask = self._book_tops[key]
        best_bid = _update_side(self._bids[key], message.bids, best_bid, max)
        best_ask = _update_side(self._asks[key], message.asks, best_ask, min)
        self._book_tops[key] = self.tops[key] = (best_bid, best_ask)
        return key

    def best_bid(self, venue: str, symbol: str) -> Decimal | None:
        return self.tops.get((venue, symbol), (None, None))[0]

    def best_ask(self, venue: str, symbol: str) -> Decimal | None:
        return self.tops.get((venue, symbol), (None, None))[1]

    def mid(self, venue: str, symbol: str) -> Decimal | None:
        bid, ask = self.tops.get((venue, symbol), (None, None))
        if bid is None or ask is None:
            return None
        with localcontext(EXACT):
            return (bid + ask) / 2


def _update_side(
    levels: dict[Decimal, Decimal], updates: Iterable[BookLevel], best: Decimal | None, better
) -> Decimal | None:
    """Apply absolute level sizes to one side; returns its new best price (``better``: max/min)."""
    stale = False
    for level in updates:
        if level.size > 0:
            levels[level.price] = level.size
            if best is None or better(best, level.price) == level.price:
                best = level.price
        elif levels.pop(level.price, None) is not None and level.price == best:
            stale = True
    if stale:
        best = better(levels) if levels else None
    return best


def apply_market_data(books: BookTops, ledger: Ledger, message: Message) -> bool:
    """Update the tops and, when both sides are known, the ledger's mark. True if marked."""
    key = books.apply(message)
    if key is None:
        return False
    mid = books.mid(*key)
    if mid is None:
        return False
    ledger.set_mark(key[0], key[1], mid, message.ts)
    return True


# ------------------------------------------------------------------------------------------------
# The component

DAILY_TIMER = "portfolio.daily_nav"


class Portfolio(Component):
    """Keeps the account's ``Ledger`` and publishes positions and NAV.

    Publishes ``PositionChanged`` after each fill, twice: the venue's position, then the
    symbol's position over all venues (``venue=None``). Publishes ``NavRecorded`` when asked
    with ``RecordNav`` (sent or published) and at 23:59:59.999999999 UTC of every day on which
    something reached the portfolio: the daily timer is armed by activity, not re-armed forever,
    so a replay that runs until nothing is pending still ends. When NAV cannot be valued (a mark
    is missing) nothing is published and a warning names the marks.
    """

    subscriptions = (
        OrderPartiallyFilled,
        OrderFilled,
        BalancesUpdated,
        TransferRecorded,
        BookSnapshot,
        BookDeltas,
        QuoteTick,
        RecordNav,
    )

    def __init__(self, valuation_currency: str, name: str = "portfolio") -> None:
        super().__init__(name)
        self.ledger = Ledger(valuation_currency)
        self.books = BookTops()
        self._timer_day: int | None = None

    def restore(self, history: Iterable[Message]) -> None:
        for message in history:
            self.ledger.apply(message)

    def on_message(self, message: Message) -> None:
        if isinstance(message, TimerFired):
            if message.name == DAILY_TIMER:
                self._timer_day = None
                self._record("end of UTC day")
            return
        if isinstance(message, RecordNav):
            self._record(message.reason or "requested")
            return
        if isinstance(message, Fill):
            changed = self.ledger.apply_fill(message)
            if changed is not None:
                now = self.ctx.now()
                for state in changed:
                    mark = self.ledger.mark(state.symbol, state.venue)
                    self.ctx.publish(PositionChanged(ts=now, position=state.to_message(mark)))
        elif isinstance(message, (BalancesUpdated, TransferRecorded)):
            self.ledger.apply(message)
        else:
            apply_market_data(self.books, self.ledger, message)
        self._arm_daily_timer()

    def _arm_daily_timer(self) -> None:
        now = self.ctx.now()
        day = utc_day(now)
        if self._timer_day == day:
            return
        end_of_day = (day + 1) * NS_PER_DAY - 1
        self.ctx.schedule(end_of_day - now, DAILY_TIMER)
        self._timer_day = day

    def _record(self, reason: str) -> None:
        now = self.ctx.now()
        try:
            recorded = self.ledger.record_nav(now)
        except MarkUnavailable as exc:
            log.warning("NAV not recorded (%s): %s", reason, exc)
            return
        self.ctx.publish(recorded)
