"""The simulated venue: a venue plugin that fills orders against real recorded books.

It behaves like an exchange seen through an adapter: it refuses what an exchange would refuse
(unknown symbol, off-tick price, below minimum, unpayable) with the numbers, acknowledges, fills
and expires with exchange-style events, and keeps its own balances.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import msgspec

from node.book import L2Book, precision_of
from node.messages import (
    Balance,
    BalancesUpdated,
    BookDeltas,
    BookLevel,
    BookSnapshot,
    CancelOrder,
    Instrument,
    InstrumentsLoaded,
    MarketData,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    SubmitOrder,
    TimerFired,
    TradeTick,
    VenueConnected,
)
from node.venue import Venue
from tradenode_sim.config import SimVenueConfig
from tradenode_sim.matching import Execution, PricingModel, RestingOrder, SymbolBook
from tradenode_sim.sources.binance_csv import read_binance_depth_csv
from tradenode_sim.sources.binance_stream import read_binance_stream
from tradenode_sim.sources.order_graph import load_order_graph

_BPS = Decimal("0.0001")
_MS = 1_000_000


_FEE_STEP = Decimal("0.00000001")


def _fee(amount: Decimal) -> Decimal:
    """Fees and reservations are charged in whole units of 1e-8, rounded up, like exchanges do."""
    return amount.quantize(_FEE_STEP, rounding=ROUND_CEILING)


def _amount(value: Decimal) -> str:
    return f"{value.quantize(_FEE_STEP).normalize():f}"


class SimVenue(Venue):
    """One simulated exchange account."""

    def __init__(self, name: str, config: SimVenueConfig, config_dir: Path) -> None:
        super().__init__(name, config, config_dir)
        self.maker_rate = config.maker_fee_bps * _BPS
        self.taker_rate = config.taker_fee_bps * _BPS
        self.books: dict[str, SymbolBook] = {}
        for symbol, spec in config.symbols.items():
            if "/" not in symbol:
                raise ValueError(f"venues.{name}.symbols: {symbol!r} is not BASE/QUOTE")
            base, quote = symbol.split("/")
            instrument = Instrument(
                symbol=symbol,
                venue=name,
                venue_symbol=spec.venue_symbol or symbol.replace("/", ""),
                base=base,
                quote=quote,
                tick_size=spec.tick_size,
                lot_size=spec.lot_size,
                min_quantity=spec.min_quantity,
                max_quantity=spec.max_quantity,
                min_notional=spec.min_notional,
                maker_fee=self.maker_rate,
                taker_fee=self.taker_rate,
            )
            book = L2Book(name, symbol, precision_of(spec.tick_size), 8)
            pricing = PricingModel(spec.tick_size, config.spread_multiplier, config.slippage_bps)
            self.books[symbol] = SymbolBook(instrument, book, pricing)
        self.totals: dict[str, Decimal] = dict(config.balances)
        self.reserved: dict[str, Decimal] = {}
        self.open: dict[str, RestingOrder] = {}
        self.seen_ids: set[str] = set()
        self.in_flight: dict[str, Decimal] = {}  # reservation of orders not yet at the book
        self._order_seq = 0
        self._trade_seq = 0

    # -- setup ----------------------------------------------------------------------------------

    def instruments(self) -> list[Instrument]:
        return [b.instrument for b in self.books.values()]

    def sources(self) -> list[Iterable[MarketData]]:
        cfg = self.config
        paths = cfg.paths(self.config_dir)
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
            return [snaps]
        if len(self.books) != 1:
            raise ValueError(f"venues.{self.venue}: a {cfg.source} source carries one symbol")
        symbol = next(iter(self.books))
        reader = read_binance_stream if cfg.source == "binance-stream" else read_binance_depth_csv
        return [reader(paths, venue=self.venue, symbol=symbol)]

    def on_start(self) -> None:
        now = self.ctx.now()
        self.ctx.publish(
            InstrumentsLoaded(venue=self.venue, instruments=self.instruments(), ts=now)
        )
        self._publish_balances()
        self.ctx.publish(VenueConnected(venue=self.venue, ts=now))

    # -- market data ----------------------------------------------------------------------------

    def on_other(self, message: Any) -> None:
        if isinstance(message, TimerFired):
            if message.name == "arrive":
                self._arrive(message.payload)
            elif message.name == "cancel":
                self._do_cancel(message.payload)
            return
        cls = message.__class__
        if cls is BookDeltas or cls is BookSnapshot:
            sb = self.books.get(message.symbol)
            if sb is not None:
                sb.book.apply(message)
                if sb.resting:
                    sb.on_book_update()
            self.ctx.publish(message)
        elif cls is TradeTick:
            sb = self.books.get(message.symbol)
            if sb is not None and sb.resting:
                for resting, execution in sb.on_trade(message):
                    self._fill(sb, resting, execution)
                self._publish_balances()
            self.ctx.publish(message)
        elif isinstance(message, MarketData):
            self.ctx.publish(message)

    # -- orders ---------------------------------------------------------------------------------

    def _reject(self, order: SubmitOrder, reason: str) -> None:
        self.ctx.publish(
            OrderRejected(
                client_order_id=order.client_order_id,
                venue=self.venue,
                reason=reason,
                ts=self.ctx.now(),
            )
        )

    def submit(self, order: SubmitOrder) -> None:
        verdict = self._validate(order)
        if isinstance(verdict, str):
            self._reject(order, verdict)
            return
        self.seen_ids.add(order.client_order_id)
        # Hold the money back now, not on arrival: orders in flight must not spend it twice.
        currency, reserve = verdict
        self.reserved[currency] = self.reserved.get(currency, Decimal(0)) + reserve
        self.in_flight[order.client_order_id] = reserve
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
        currency = sb.instrument.quote if order.side == "buy" else sb.instrument.base
        if order.post_only:
            crossed = sb.would_cross(order.side, order.limit_price)
            if crossed is not None:
                opposite = "ask" if order.side == "buy" else "bid"
                self.reserved[currency] -= held
                self._reject(
                    order,
                    f"post-only {order.side} at {order.limit_price} would take liquidity "
                    f"(best {opposite} {crossed})",
                )
                return
        limit = order.limit_price if order.order_type == "limit" else None
        levels = sb.marketable_levels(order.side, order.quantity, limit)
        if order.side == "buy":
            levels = self._within(sb, levels, held)
        available = sum((lv.size for lv in levels), Decimal(0))
        if order.time_in_force == "fok" and available < order.quantity:
            self.reserved[currency] -= held
            self._accept(order)
            self._expire(
                order, Decimal(0), f"fill-or-kill: only {available} of {order.quantity} available"
            )
            return
        self._order_seq += 1
        resting = RestingOrder(
            order=order,
            venue_order_id=f"{self.venue}-{self._order_seq}",
            price=limit or Decimal(0),
            remaining=order.quantity,
            queue_ahead=Decimal(0),
            reserved=held,
        )
        self.open[order.client_order_id] = resting
        self.ctx.publish(
            OrderAccepted(
                client_order_id=order.client_order_id,
                venue=self.venue,
                venue_order_id=resting.venue_order_id,
                ts=now,
            )
        )
        if levels:
            executions = sb.take(order.side, levels, now)
            resting_side = "sell" if order.side == "buy" else "buy"
            self.ctx.publish(
                BookDeltas(
                    venue=self.venue,
                    symbol=order.symbol,
                    bids=[]
                    if resting_side == "sell"
                    else [BookLevel(lv.price, sb.book.size_at("buy", lv.price)) for lv in levels],
                    asks=[]
                    if resting_side == "buy"
                    else [BookLevel(lv.price, sb.book.size_at("sell", lv.price)) for lv in levels],
                    sequence=sb.book.sequence,
                    ts=now,
                )
            )
            # The book change first: whoever reacts to the fills must see the book without them.
            for execution in executions:
                self._fill(sb, resting, execution)
        if resting.remaining > 0:
            if order.order_type == "market" or order.time_in_force == "ioc":
                self._expire(order, resting.filled, "immediate-or-cancel remainder")
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

    def _accept(self, order: SubmitOrder) -> None:
        self._order_seq += 1
        self.ctx.publish(
            OrderAccepted(
                client_order_id=order.client_order_id,
                venue=self.venue,
                venue_order_id=f"{self.venue}-{self._order_seq}",
                ts=self.ctx.now(),
            )
        )

    def _release(self, resting: RestingOrder) -> None:
        order = resting.order
        sb = self.books[order.symbol]
        currency = sb.instrument.quote if order.side == "buy" else sb.instrument.base
        self.reserved[currency] = self.reserved.get(currency, Decimal(0)) - resting.reserved
        resting.reserved = Decimal(0)
        self.open.pop(order.client_order_id, None)
        sb.resting.pop(order.client_order_id, None)

    def _expire(self, order: SubmitOrder, filled: Decimal, reason: str) -> None:
        resting = self.open.get(order.client_order_id)
        if resting is not None:
            self._release(resting)
        self.ctx.publish(
            OrderExpired(
                client_order_id=order.client_order_id,
                venue=self.venue,
                filled_quantity=filled,
                reason=reason,
                ts=self.ctx.now(),
            )
        )

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
        self._trade_seq += 1
        done = resting.remaining <= 0
        kind = OrderFilled if done else OrderPartiallyFilled
        self.ctx.publish(
            kind(
                client_order_id=order.client_order_id,
                venue=self.venue,
                venue_order_id=resting.venue_order_id,
                trade_id=f"{self.venue}-t{self._trade_seq}",
                symbol=order.symbol,
                side=order.side,
                price=execution.price,
                quantity=execution.quantity,
                fee=fee,
                fee_currency=ins.quote,
                liquidity=execution.liquidity,
                cumulative_quantity=resting.filled,
                leaves_quantity=resting.remaining,
                parent_id=order.parent_id,
                ts=self.ctx.now(),
            )
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
            self.ctx.publish(
                OrderCancelRejected(
                    client_order_id=command.client_order_id,
                    venue=self.venue,
                    reason="no open order with this client order id",
                    ts=self.ctx.now(),
                )
            )
            return
        self._release(resting)
        self.ctx.publish(
            OrderCanceled(
                client_order_id=command.client_order_id,
                venue=self.venue,
                reason=command.reason,
                filled_quantity=resting.filled,
                ts=self.ctx.now(),
            )
        )
        self._publish_balances()

    def _publish_balances(self) -> None:
        balances = {
            currency: Balance(total=total, free=total - self.reserved.get(currency, Decimal(0)))
            for currency, total in sorted(self.totals.items())
        }
        self.ctx.publish(BalancesUpdated(venue=self.venue, balances=balances, ts=self.ctx.now()))
