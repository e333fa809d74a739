"""The simulated venue: a venue plugin that fills orders against real recorded books.

It behaves like an exchange seen through an adapter: it refuses what an exchange would refuse
(unknown symbol, off-tick price, below minimum, unpayable) with the numbers, acknowledges, fills
and expires with exchange-style events, keeps its own balances, and answers reconciliation
queries. The recorded book it replays is the node's one book of that venue: what the router,
risk and the portfolio read is exactly what the simulated exchange matches against.

Its account is an exchange's account: it outlives the node. The journal is its record, so a
restart (of the node, or of this component after a failure) finds the balances and resting
orders it had, never the configured starting balances again — a restart must not create money.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import msgspec

from node.component import Context, Envelope, decode_state, encode_state
from node.messages import (
    FILL_TYPES,
    Balance,
    BalancesUpdated,
    Bar,
    BookDeltas,
    BookLevel,
    BookSnapshot,
    CancelOrder,
    FillReport,
    Instrument,
    MarketData,
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    OrderStatusReport,
    QuoteTick,
    ReconcileVenue,
    SubmitOrder,
    TimerFired,
    TradeTick,
    VenueCapabilities,
    VenueReconciled,
)
from node.recent import Recent
from node.venue import Venue, VenueSetup
from tradenode_sim.config import SimVenueConfig
from tradenode_sim.matching import Execution, PricingModel, RestingOrder, SymbolBook
from tradenode_sim.recordings import read_recording
from tradenode_sim.sources.errors import SourceError
from tradenode_sim.sources.order_graph import load_order_graph, order_graph_books

_BPS = Decimal("0.0001")
_MS = 1_000_000
#: what a recording feeds the venue (handled before any order message is looked for)
_RECORDED = frozenset({BookDeltas, BookSnapshot, TradeTick, QuoteTick, Bar})
_FEE_STEP = Decimal("0.00000001")


def _fee(amount: Decimal) -> Decimal:
    """Fees and reservations are charged in whole units of 1e-8, rounded up, like exchanges do."""
    return amount.quantize(_FEE_STEP, rounding=ROUND_CEILING)


def _amount(value: Decimal) -> str:
    return f"{value.quantize(_FEE_STEP).normalize():f}"


def _instruments(name: str, config: SimVenueConfig) -> list[Instrument]:
    maker, taker = config.maker_fee_bps * _BPS, config.taker_fee_bps * _BPS
    out = []
    for symbol, spec in config.symbols.items():
        base, _, quote = symbol.partition("/")
        out.append(
            Instrument(
                symbol=symbol,
                venue=name,
                venue_symbol=spec.venue_symbol or symbol.replace("/", ""),
                base=base,
                quote=quote,
                asset_class="spot",
                tick_size=spec.tick_size,
                lot_size=spec.lot_size,
                min_quantity=spec.min_quantity,
                max_quantity=spec.max_quantity,
                min_notional=spec.min_notional,
                maker_fee=maker,
                taker_fee=taker,
            )
        )
    return out


#: what the simulated exchange remembers for reconciliation queries (as an exchange keeps a
#: window of order and trade history): far more than a node asks about after a restart
STATUSES = 100_000
FILLS = 100_000
SEEN_IDS = 500_000


class Statuses(OrderedDict[str, OrderStatusReport]):
    """Orders' latest states, the oldest forgotten past ``keep``."""

    def __init__(self, keep: int, items: dict[str, OrderStatusReport] | None = None) -> None:
        self.keep = keep  # before the items: OrderedDict's init stores them through __setitem__
        super().__init__(items or {})

    def __setitem__(self, key: str, value: OrderStatusReport) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.keep:
            self.popitem(last=False)


class _SimState(msgspec.Struct):
    parents: dict[str, str | None]
    totals: dict[str, Decimal]
    open_orders: list[SubmitOrder]
    statuses: list[OrderStatusReport]
    fills: list[FillReport]
    seen_ids: list[str]
    next_order: int
    next_trade: int


def _order_graph_problems(name: str, config: SimVenueConfig, paths: list[Path]) -> list[str]:
    """Every configured symbol has a book of the venue it is read for in the recording."""
    try:
        books = set().union(*(order_graph_books(p) for p in paths))
    except SourceError as exc:
        return [f"venues.{name}.files: {exc}"]
    wanted = config.source_venue or name
    held = sorted({venue for venue, _ in books})
    if wanted not in held:
        key = "source_venue" if config.source_venue else "source_venue (unset: the venue's name)"
        return [
            f"venues.{name}.{key}: no {wanted!r} books in the recording (it has "
            f"{', '.join(held) or 'none'})"
        ]
    return [
        f"venues.{name}.symbols.{symbol}: no {wanted} {symbol} book in the recording"
        for symbol in config.symbols
        if (wanted, symbol) not in books
    ]


class SimVenue(Venue):
    """One simulated exchange account."""

    _publish: Callable[[Message], None]
    _now: Callable[[], int]

    capabilities = VenueCapabilities(
        order_types=("market", "limit"),
        time_in_force=("gtc", "ioc", "fok"),
        post_only=True,
        client_id_max_length=64,
        reconciles=True,
    )

    def __init__(self, name: str, config: SimVenueConfig, setup: VenueSetup) -> None:
        super().__init__(name, config, setup)
        self.maker_rate = config.maker_fee_bps * _BPS
        self.taker_rate = config.taker_fee_bps * _BPS
        self.books: dict[str, SymbolBook] = {}
        for instrument in _instruments(name, config):
            pricing = PricingModel(
                instrument.tick_size, config.spread_multiplier, config.slippage_bps
            )
            self.books[instrument.symbol] = SymbolBook(
                instrument, setup.market.book(name, instrument.symbol), pricing
            )
        self.totals: dict[str, Decimal] = dict(config.balances)
        self.reserved: dict[str, Decimal] = {}
        self.open: dict[str, RestingOrder] = {}
        self.seen_ids: Recent[str] = Recent(SEEN_IDS)
        self.in_flight: dict[str, Decimal] = {}  # reservation of orders not yet at the book
        self.on_the_way: dict[str, SubmitOrder] = {}  # those orders themselves
        self.statuses = Statuses(STATUSES)  # the latest state of recent orders
        self.fills: deque[FillReport] = deque(maxlen=FILLS)  # recent fills, for reconciliation
        self._restored_orders: dict[str, SubmitOrder] = {}
        self._next_order = self._next_trade = 1
        self._order_seq = itertools.count(1)
        self._trade_seq = itertools.count(1)
        self._streams: list[Iterator[MarketData]] | None = None
        self._first_ts: int | None = None
        self._static = config.source == "order-graph"

    # -- what check asks ------------------------------------------------------------------------

    @classmethod
    def check_config(cls, name: str, config: SimVenueConfig, config_dir: Path) -> list[str]:
        problems = []
        paths = config.paths(config_dir)
        for i, path in enumerate(paths):
            if not path.is_file():
                problems.append(f"venues.{name}.files[{i}]: no such file {path}")
        if config.source != "order-graph" and len(config.symbols) != 1:
            problems.append(f"venues.{name}.symbols: a {config.source} source carries one symbol")
        if config.source == "order-graph" and not problems:
            problems.extend(_order_graph_problems(name, config, paths))
        return problems

    @classmethod
    def declared_instruments(cls, name: str, config: SimVenueConfig) -> list[Instrument]:
        return _instruments(name, config)

    # -- the recording --------------------------------------------------------------------------

    def _open_streams(self) -> list[Iterator[MarketData]]:
        """The recorded streams, read lazily; the first message of each is peeked for its time."""
        if self._streams is not None:
            return self._streams
        cfg = self.config
        paths = cfg.paths(self.setup.config_dir)
        if cfg.source == "order-graph":
            wanted = cfg.source_venue or self.venue
            snaps = [
                msgspec.structs.replace(s, venue=self.venue)
                for path in paths
                for s in load_order_graph(path)
                if s.venue == wanted and s.symbol in self.books
            ]
            missing = set(self.books) - {s.symbol for s in snaps}
            if missing:
                raise ValueError(
                    f"venues.{self.venue}: no {wanted} book for {', '.join(sorted(missing))} "
                    f"in {', '.join(map(str, paths))}"
                )
            streams: list[Iterable[MarketData]] = [snaps]
        else:
            symbol = next(iter(self.books))
            streams = [
                read_recording(
                    cfg.source, paths, venue=self.venue, symbol=symbol, preload=cfg.preload
                )
            ]
        peeked = []
        for stream in streams:
            iterator = iter(stream)
            first = next(iterator, None)
            if first is not None:
                self._first_ts = (
                    first.ts if self._first_ts is None else min(self._first_ts, first.ts)
                )
                peeked.append(itertools.chain([first], iterator))
        self._streams = peeked
        return peeked

    def earliest_data_ns(self) -> int | None:
        self._open_streams()
        return self._first_ts

    # -- lifecycle ------------------------------------------------------------------------------

    def restore(self, history: Iterable[Envelope]) -> None:
        """The account as the journal left it (after the checkpoint, if one was loaded):
        balances, orders, fills and the resting orders, which go back on the book."""
        orders = self._restored_orders
        last_balances: BalancesUpdated | None = None
        for envelope in history:
            self.remember_parent(envelope)
            m = envelope.message
            if isinstance(m, SubmitOrder) and envelope.destination == self.name:
                self.seen_ids.add(m.client_order_id)
                orders[m.client_order_id] = m
            elif isinstance(m, BalancesUpdated) and envelope.sender == self.name:
                last_balances = m
            elif getattr(m, "venue", None) != self.venue or envelope.sender != self.name:
                continue
            elif isinstance(m, OrderAccepted) and m.client_order_id in orders:
                self._remember(orders[m.client_order_id], m.venue_order_id, Decimal(0), "open")
            elif isinstance(m, FILL_TYPES) and m.client_order_id in orders:
                self._record_fill_report(m)
                status = "filled" if m.leaves_quantity <= 0 else "open"
                self._remember(
                    orders[m.client_order_id], m.venue_order_id, m.cumulative_quantity, status
                )
            elif isinstance(m, (OrderCanceled, OrderExpired)):
                known = self.statuses.get(m.client_order_id)
                if known is not None:
                    final = "canceled" if isinstance(m, OrderCanceled) else "expired"
                    self.statuses[m.client_order_id] = msgspec.structs.replace(known, status=final)
            elif isinstance(m, OrderRejected) and m.client_order_id in orders:
                self._remember(orders[m.client_order_id], "", Decimal(0), "rejected")
        if last_balances is not None:
            self.totals = {c: b.total for c, b in last_balances.balances.items()}
        for cid, status in self.statuses.items():
            if status.status == "open" and cid in orders:
                self._rest_restored(orders[cid], status)
        self._restored_orders = {}
        numbers = [
            int(tail)
            for s in self.statuses.values()
            if (tail := s.venue_order_id.rsplit("-", 1)[-1]).isdigit()
        ]
        self._next_order = max(self._next_order, max(numbers, default=0) + 1)
        self._next_trade = max(self._next_trade, len(self.fills) + 1)
        self._order_seq = itertools.count(self._next_order)
        self._trade_seq = itertools.count(self._next_trade)

    def checkpoint(self) -> bytes:
        # Orders at the book and orders on their way to it: the rows after the checkpoint may
        # hold either's events (a restart loses the ones on their way: they never arrive).
        open_orders = [r.order for r in self.open.values()] + list(self.on_the_way.values())
        return encode_state(
            _SimState(
                parents=self.parents,
                totals=self.totals,
                open_orders=open_orders,
                statuses=list(self.statuses.values()),
                fills=list(self.fills),
                seen_ids=list(self.seen_ids),
                next_order=next(self._order_seq),
                next_trade=next(self._trade_seq),
            )
        )

    def restore_checkpoint(self, state: bytes) -> None:
        saved = decode_state(state, _SimState)
        self.parents = saved.parents
        self.totals = saved.totals
        self._restored_orders = {o.client_order_id: o for o in saved.open_orders}
        self.statuses = Statuses(STATUSES, {s.client_order_id: s for s in saved.statuses})
        self.fills = deque(saved.fills, maxlen=FILLS)
        self.seen_ids = Recent(SEEN_IDS, saved.seen_ids)
        self._next_order, self._next_trade = saved.next_order, saved.next_trade

    def _rest_restored(self, order: SubmitOrder, status: OrderStatusReport) -> None:
        sb = self.books[order.symbol]
        remaining = order.quantity - status.filled_quantity
        currency = sb.instrument.quote if order.side == "buy" else sb.instrument.base
        assert order.limit_price is not None
        if order.side == "buy":
            held = _fee(order.limit_price * remaining * (1 + max(self.taker_rate, self.maker_rate)))
        else:
            held = remaining
        self.reserved[currency] = self.reserved.get(currency, Decimal(0)) + held
        resting = RestingOrder(
            order=order,
            venue_order_id=status.venue_order_id,
            price=order.limit_price,
            remaining=remaining,
            queue_ahead=Decimal(0),
            filled=status.filled_quantity,
            reserved=held,
        )
        self.open[order.client_order_id] = resting
        sb.rest(resting)

    def connect(self) -> None:
        streams = self._open_streams()
        for sb in self.books.values():
            sb.book.static = self._static
        self.instruments_loaded([b.instrument for b in self.books.values()])
        self._publish_balances()
        self.connected()
        for stream in streams:
            self.ctx.feed(stream, speed=self.config.replay_speed)

    # -- market data ----------------------------------------------------------------------------

    def bind(self, ctx: Context) -> None:
        super().bind(ctx)
        # Bound once per (re)start: the recording's path below calls them for every message.
        self._publish = ctx.publish
        self._now = ctx.now

    def on_message(self, message: Any) -> None:
        cls = message.__class__
        if cls is QuoteTick:  # three recorded messages in four: only passed on to subscribers
            self._publish(message)
        elif cls in _RECORDED:
            self.on_other(message)  # the rest of the recording, before any order message
        else:
            super().on_message(message)

    def on_other(self, message: Any) -> None:
        cls = message.__class__
        if cls is BookDeltas or cls is BookSnapshot:
            sb = self.books.get(message.symbol)
            if sb is not None:
                sb.book.apply(message, self._now())
                if sb.resting:
                    sb.on_book_update()
            self._publish(message)
        elif cls is TradeTick:
            sb = self.books.get(message.symbol)
            if sb is not None and sb.resting:
                for resting, execution in sb.on_trade(message):
                    self._fill(sb, resting, execution)
                self._publish_balances()
            self._publish(message)
        elif cls is TimerFired:
            if message.name == "arrive":
                self._arrive(message.payload)
            elif message.name == "cancel":
                self._do_cancel(message.payload)
        elif isinstance(message, MarketData):
            self.ctx.publish(message)

    # -- orders ---------------------------------------------------------------------------------

    def submit(self, order: SubmitOrder) -> None:
        verdict = self._validate(order)
        if isinstance(verdict, str):
            self.rejected(order.client_order_id, verdict)
            self._remember(order, "", Decimal(0), "rejected")
            return
        self.seen_ids.add(order.client_order_id)
        # Hold the money back now, not on arrival: orders in flight must not spend it twice.
        currency, reserve = verdict
        self.reserved[currency] = self.reserved.get(currency, Decimal(0)) + reserve
        self.in_flight[order.client_order_id] = reserve
        self.on_the_way[order.client_order_id] = order
        delay = int(self.config.execution_delay_ms * _MS)
        if delay > 0:
            self.ctx.schedule(delay, "arrive", order)
        else:
            self._arrive(order)

    def _validate(self, order: SubmitOrder) -> str | tuple[str, Decimal]:
        """Why the venue refuses ``order``, or the (currency, amount) it must hold back for it."""
        sb = self.books.get(order.symbol)
        if sb is None:
            known = ", ".join(sorted(self.books))
            return f"unknown symbol {order.symbol} on {self.venue} (known: {known})"
        if order.client_order_id in self.seen_ids:
            return f"duplicate client order id {order.client_order_id}"
        ins = sb.instrument
        if order.order_type not in ("market", "limit"):
            return f"order type {order.order_type} is not supported by {self.venue}"
        if order.quantity <= 0 or order.quantity % ins.lot_size:
            return (
                f"quantity {order.quantity} is not a positive multiple of lot size {ins.lot_size}"
            )
        if order.quantity < ins.min_quantity:
            return f"quantity {order.quantity} below minimum {ins.min_quantity} {ins.base}"
        if ins.max_quantity is not None and order.quantity > ins.max_quantity:
            return f"quantity {order.quantity} above maximum {ins.max_quantity} {ins.base}"
        if order.order_type == "limit":
            if order.limit_price is None or order.limit_price <= 0:
                return "limit order needs a positive limit price"
            if order.limit_price % ins.tick_size:
                return f"price {order.limit_price} is not on tick size {ins.tick_size}"
        elif order.post_only:
            return "a market order cannot be post-only"
        price = order.limit_price or self._sweep_price(sb, order)
        if price is None:
            return f"no {order.symbol} liquidity on {self.venue} to price a market order"
        notional = price * order.quantity
        if notional < ins.min_notional:
            return (
                f"notional {notional:.2f} {ins.quote} below minimum {ins.min_notional} {ins.quote}"
            )
        need_currency, need = self._reservation(sb, order, price)
        free = self.totals.get(need_currency, Decimal(0)) - self.reserved.get(
            need_currency, Decimal(0)
        )
        if need > free:
            return (
                f"insufficient {need_currency} balance: need {_amount(need)}, free {_amount(free)}"
            )
        return need_currency, need

    @staticmethod
    def _sweep_price(sb: SymbolBook, order: SubmitOrder) -> Decimal | None:
        levels = sb.marketable_levels(order.side, order.quantity, None)
        if not levels:
            return None
        return sb.pricing.taker_price(order.side, levels[-1].price, sb.book.mid())

    def _reservation(
        self, sb: SymbolBook, order: SubmitOrder, price: Decimal
    ) -> tuple[str, Decimal]:
        ins = sb.instrument
        if order.side == "buy":
            can_rest = order.order_type == "limit" and order.time_in_force == "gtc"
            rate = max(self.taker_rate, self.maker_rate) if can_rest else self.taker_rate
            return ins.quote, _fee(price * order.quantity * (1 + rate)) + self.config.min_commission
        return ins.base, order.quantity

    def _arrive(self, order: SubmitOrder) -> None:
        sb = self.books[order.symbol]
        now = self.ctx.now()
        held = self.in_flight.pop(order.client_order_id)
        self.on_the_way.pop(order.client_order_id, None)
        currency = sb.instrument.quote if order.side == "buy" else sb.instrument.base
        if order.post_only:
            crossed = sb.would_cross(order.side, order.limit_price)
            if crossed is not None:
                opposite = "ask" if order.side == "buy" else "bid"
                self.reserved[currency] -= held
                self.rejected(
                    order.client_order_id,
                    f"post-only {order.side} at {order.limit_price} would take liquidity "
                    f"(best {opposite} {crossed})",
                )
                self._remember(order, "", Decimal(0), "rejected")
                return
        limit = order.limit_price if order.order_type == "limit" else None
        levels = sb.marketable_levels(order.side, order.quantity, limit)
        if order.side == "buy":
            levels = self._within(sb, levels, held)
        available = sum((lv.size for lv in levels), Decimal(0))
        venue_order_id = f"{self.venue}-{next(self._order_seq)}"
        if order.time_in_force == "fok" and available < order.quantity:
            self.reserved[currency] -= held
            self.accepted(order.client_order_id, venue_order_id)
            self._remember(order, venue_order_id, Decimal(0), "expired")
            self.expired(
                order.client_order_id,
                Decimal(0),
                f"fill-or-kill: only {available} of {order.quantity} available",
            )
            return
        resting = RestingOrder(
            order=order,
            venue_order_id=venue_order_id,
            price=limit or Decimal(0),
            remaining=order.quantity,
            queue_ahead=Decimal(0),
            reserved=held,
        )
        self.open[order.client_order_id] = resting
        self._remember(order, venue_order_id, Decimal(0), "open")
        self.accepted(order.client_order_id, venue_order_id)
        if levels:
            executions = sb.take(order.side, levels, now)
            resting_side = "sell" if order.side == "buy" else "buy"
            changed = [
                BookLevel(lv.price, sb.book.size_at(resting_side, lv.price)) for lv in levels
            ]
            self.ctx.publish(
                BookDeltas(
                    venue=self.venue,
                    symbol=order.symbol,
                    bids=changed if resting_side == "buy" else [],
                    asks=changed if resting_side == "sell" else [],
                    sequence=sb.book.sequence,
                    ts=now,
                )
            )
            # The book change first: whoever reacts to the fills must see the book without them.
            for execution in executions:
                self._fill(sb, resting, execution)
        if resting.remaining > 0:
            if order.order_type == "market" or order.time_in_force == "ioc":
                self._expire(resting, "immediate-or-cancel remainder")
            else:
                sb.rest(resting)
        self._publish_balances()

    def _within(self, sb: SymbolBook, levels: list[BookLevel], held: Decimal) -> list[BookLevel]:
        """The part of a buy's sweep that the money held for it pays for, fees included.

        A market buy is priced when it is submitted; if the book moved while it travelled,
        it fills only as far as that money reaches and the rest expires: never an overdraft.
        """
        mid = sb.book.mid()
        lot = sb.instrument.lot_size
        rate = 1 + self.taker_rate
        left = held - self.config.min_commission
        out = []
        for level in levels:
            price = sb.pricing.taker_price("buy", level.price, mid)
            cost = _fee(price * level.size * rate)
            if cost <= left:
                out.append(level)
                left -= cost
                continue
            size = (left / (price * rate) / lot).to_integral_value(ROUND_FLOOR) * lot
            if size > 0:
                out.append(BookLevel(level.price, size))
            break
        return out

    def _release(self, resting: RestingOrder) -> None:
        order = resting.order
        sb = self.books[order.symbol]
        currency = sb.instrument.quote if order.side == "buy" else sb.instrument.base
        self.reserved[currency] = self.reserved.get(currency, Decimal(0)) - resting.reserved
        resting.reserved = Decimal(0)
        self.open.pop(order.client_order_id, None)
        sb.resting.pop(order.client_order_id, None)

    def _expire(self, resting: RestingOrder, reason: str) -> None:
        self._release(resting)
        self._remember(resting.order, resting.venue_order_id, resting.filled, "expired")
        self.expired(resting.order.client_order_id, resting.filled, reason)

    def _fill(self, sb: SymbolBook, resting: RestingOrder, execution: Execution) -> None:
        order = resting.order
        ins = sb.instrument
        rate = self.maker_rate if execution.liquidity == "maker" else self.taker_rate
        notional = execution.price * execution.quantity
        # The minimum commission is per order: the order's fees so far are topped up to it.
        resting.rate_fees += _fee(notional * rate)
        fee = max(resting.rate_fees, self.config.min_commission) - resting.fees
        resting.fees += fee
        sign = 1 if order.side == "buy" else -1
        self.totals[ins.base] = self.totals.get(ins.base, Decimal(0)) + sign * execution.quantity
        self.totals[ins.quote] = self.totals.get(ins.quote, Decimal(0)) - sign * notional - fee
        used = notional + fee if order.side == "buy" else execution.quantity
        held = min(used, resting.reserved)
        currency = ins.quote if order.side == "buy" else ins.base
        self.reserved[currency] = self.reserved.get(currency, Decimal(0)) - held
        resting.reserved -= held
        resting.remaining -= execution.quantity
        resting.filled += execution.quantity
        trade_id = f"{self.venue}-t{next(self._trade_seq)}"
        done = resting.remaining <= 0
        status = "filled" if done else "open"
        self._remember(order, resting.venue_order_id, resting.filled, status)
        now = self.ctx.now()
        self.fills.append(
            FillReport(
                client_order_id=order.client_order_id,
                venue_order_id=resting.venue_order_id,
                trade_id=trade_id,
                symbol=order.symbol,
                side=order.side,
                price=execution.price,
                quantity=execution.quantity,
                fee=fee,
                fee_currency=ins.quote,
                liquidity=execution.liquidity,  # type: ignore[arg-type]
                ts=now,
            )
        )
        self.filled(
            client_order_id=order.client_order_id,
            venue_order_id=resting.venue_order_id,
            trade_id=trade_id,
            symbol=order.symbol,
            side=order.side,
            price=execution.price,
            quantity=execution.quantity,
            fee=fee,
            fee_currency=ins.quote,
            liquidity=execution.liquidity,  # type: ignore[arg-type]
            cumulative_quantity=resting.filled,
            leaves_quantity=resting.remaining,
            ts=now,  # one time for the event and the venue's own record of it
        )
        if done:
            self._release(resting)

    def cancel(self, command: CancelOrder) -> None:
        delay = int(self.config.cancel_delay_ms * _MS)
        if delay > 0:
            self.ctx.schedule(delay, "cancel", command)
        else:
            self._do_cancel(command)

    def _do_cancel(self, command: CancelOrder) -> None:
        resting = self.open.get(command.client_order_id)
        if resting is None:
            self.cancel_rejected(command.client_order_id, "no open order with this client order id")
            return
        self._release(resting)
        self._remember(resting.order, resting.venue_order_id, resting.filled, "canceled")
        self.canceled(command.client_order_id, command.reason, resting.filled)
        self._publish_balances()

    def _publish_balances(self) -> None:
        balances = {
            currency: Balance(total=total, free=total - self.reserved.get(currency, Decimal(0)))
            for currency, total in sorted(self.totals.items())
        }
        self.balances_updated(balances)

    # -- reconciliation -------------------------------------------------------------------------

    def _remember(
        self, order: SubmitOrder, venue_order_id: str, filled: Decimal, status: str
    ) -> None:
        self.statuses[order.client_order_id] = OrderStatusReport(
            client_order_id=order.client_order_id,
            venue_order_id=venue_order_id,
            symbol=order.symbol,
            side=order.side,
            quantity=order.quantity,
            filled_quantity=filled,
            status=status,  # type: ignore[arg-type]
            limit_price=order.limit_price,
            ts=order.ts,
        )

    def _record_fill_report(self, fill: Any) -> None:
        self.fills.append(
            FillReport(
                client_order_id=fill.client_order_id,
                venue_order_id=fill.venue_order_id,
                trade_id=fill.trade_id,
                symbol=fill.symbol,
                side=fill.side,
                price=fill.price,
                quantity=fill.quantity,
                fee=fill.fee,
                fee_currency=fill.fee_currency,
                liquidity=fill.liquidity,
                ts=fill.ts,
            )
        )

    def reconcile(self, request: ReconcileVenue) -> None:
        queried, unknown = [], []
        for cid in request.client_order_ids:
            status = self.statuses.get(cid)
            if status is None:
                unknown.append(cid)
            else:
                queried.append(status)
        self.ctx.publish(
            VenueReconciled(
                venue=self.venue,
                open_orders=[self.statuses[cid] for cid in self.open if cid in self.statuses],
                queried=queried,
                unknown=unknown,
                fills=[f for f in self.fills if f.ts >= request.since_ts],
                balances={
                    c: Balance(total=t, free=t - self.reserved.get(c, Decimal(0)))
                    for c, t in sorted(self.totals.items())
                },
                ts=self.ctx.now(),
            )
        )
