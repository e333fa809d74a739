"""The loopback account: Alpaca's order rules, a matching engine over the generated quotes, and
the trade updates each state change produces.

Everything here is synchronous and single-threaded; the server calls it from its event loop.
Orders execute against the current quote of their symbol: buys at the ask, sells at the bid,
never more in one quote than the size it shows (what one order takes, the next cannot), so a
large market order fills in parts over several ticks. Opening (``opg``) and closing (``cls``)
orders fill whole at the quote at the session boundary, like an auction.
"""

from __future__ import annotations

import heapq
import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import time, timedelta
from decimal import ROUND_FLOOR, Decimal
from itertools import islice
from typing import Any

from . import calendar
from .calendar import NS, Boundary, Session
from .config import AssetSpec, LoopbackConfig
from .errors import forbidden, invalid, not_found, unprocessable
from .ledger import Execution, Ledger
from .market import Bar, Print, Quote, QuoteWalk, tick_size
from .orders import Order, OrderRequest
from .wire import (
    AccountValues,
    num,
    order_json,
    trade_update,
)

GTC_LIFETIME_NS = 90 * 24 * 3600 * NS
QTY_STEP = Decimal("1e-9")
# Alpaca refuses orders not eligible for extended hours from the close until 19:00 ET; after
# that it queues them for the next open. Opening orders are refused from 09:28 until 19:00, and
# closing orders from 15:50 until 19:00.
QUEUE_REOPENS = time(19, 0)
OPG_CUTOFF = time(9, 28)
CLS_CUTOFF = time(15, 50)

TradeListener = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class MarketTick:
    """What one quote tick produced, for the market-data stream."""

    quotes: list[Quote]
    prints: list[Print]
    bars: list[Bar]


MarketListener = Callable[[MarketTick], None]


def _in_window(t_ns: int, start: time, end: time) -> bool:
    moment = calendar.to_datetime(t_ns)
    return calendar.is_trading_day(moment.date()) and start <= moment.time() < end


class TradingEngine:
    def __init__(self, config: LoopbackConfig, start_ns: int) -> None:
        self.config = config
        self.assets: dict[str, AssetSpec] = {a.symbol: a for a in config.assets}
        self.walks: dict[str, QuoteWalk] = {
            a.symbol: QuoteWalk(
                a.symbol,
                a.start_price,
                seed=config.seed,
                t_ns=start_ns,
                volatility=config.volatility,
            )
            for a in config.assets
        }
        self.ledger = Ledger(config.cash)
        self.orders: dict[uuid.UUID, Order] = {}
        self.submissions: Counter[str] = Counter()
        self.now_ns = start_ns
        self.created_ns = start_ns
        self._last_tick_ns = start_ns
        self._interval_ns = round(config.quote_interval * NS)
        self._by_client_id: dict[str, Order] = {}
        self._liquidity: dict[tuple[str, str], Decimal] = {}
        self.lastday = {a.symbol: a.start_price for a in config.assets}
        self._last_equity = config.cash
        self._rejections_pending = 0
        self._ids = random.Random(f"{config.seed}:ids")
        self._trade_listeners: list[TradeListener] = []
        self._market_listeners: list[MarketListener] = []
        for walk in self.walks.values():
            self._refill(walk.quote)

    # -- wiring --------------------------------------------------------------------------

    def on_trade_update(self, listener: TradeListener) -> None:
        self._trade_listeners.append(listener)

    def on_market_tick(self, listener: MarketListener) -> None:
        self._market_listeners.append(listener)

    def _emit(self, event: str, order: Order, execution: Execution | None = None) -> None:
        message = trade_update(event, order, self.now_ns, execution)
        for listener in self._trade_listeners:
            listener(message)

    def _new_id(self) -> uuid.UUID:
        return uuid.UUID(int=self._ids.getrandbits(128), version=4)

    # -- time ----------------------------------------------------------------------------

    def advance_to(self, t_ns: int) -> None:
        """Process every session boundary and quote tick up to ``t_ns``, in time order.

        When more than ``max_ticks_per_advance`` ticks lie ahead, the earlier ones are skipped
        and the first kept tick moves the walk by the whole gap (its step scales with the
        square root of the elapsed time), so a jump of days stays cheap.
        """
        if t_ns <= self.now_ns:
            return
        start = self.now_ns
        pending = calendar.count_ticks(start, t_ns, self._interval_ns)
        skip = max(0, pending - self.config.max_ticks_per_advance)
        tick_times = islice(calendar.ticks(start, t_ns, self._interval_ns), skip, None)
        events: Iterator[tuple[int, int, Boundary | None]] = heapq.merge(
            ((t, 0, b) for t, b in calendar.boundaries(start, t_ns)),
            ((t, 1, None) for t in tick_times),
        )
        for instant, _, boundary in events:
            self.now_ns = instant
            if boundary is None:
                self._tick(instant)
            else:
                self._boundary(boundary)
        self.now_ns = t_ns

    def _tick(self, t_ns: int) -> None:
        dt = (t_ns - self._last_tick_ns) / NS
        self._last_tick_ns = t_ns
        quotes, prints, bars = [], [], []
        for walk in self.walks.values():
            quote, printed, bar = walk.step(t_ns, dt)
            self._refill(quote)
            quotes.append(quote)
            if printed is not None:
                prints.append(printed)
            if bar is not None:
                bars.append(bar)
        session = calendar.session_at(t_ns)
        for order in self._working():
            self._match(order, session)
        tick = MarketTick(quotes, prints, bars)
        for listener in self._market_listeners:
            listener(tick)

    def _refill(self, quote: Quote) -> None:
        self._liquidity[(quote.symbol, "buy")] = Decimal(quote.ask_size)
        self._liquidity[(quote.symbol, "sell")] = Decimal(quote.bid_size)

    def _boundary(self, boundary: Boundary) -> None:
        session = calendar.session_at(self.now_ns)
        if boundary is Boundary.OPEN:
            for order in self._working("opg"):
                self._auction(order)
        if boundary is Boundary.CLOSE:
            for order in self._working("cls"):
                self._auction(order)
            self.lastday = {s: w.last_price for s, w in self.walks.items()}
        for order in self._working():
            if order.expires_ns <= self.now_ns:
                self._finish(order, "expired")
            elif order.status == "accepted" and self._routable(order, session):
                self._route(order, session)
        if boundary is Boundary.CLOSE:
            self._last_equity = self.account_values().equity

    def set_price(self, symbol: str, mid: Decimal) -> Quote:
        """Move one symbol's quote to ``mid`` now; orders react as on any tick."""
        walk = self._walk(symbol)
        quote = walk.pin(mid, self.now_ns)
        self._refill(quote)
        session = calendar.session_at(self.now_ns)
        for order in self._working():
            if order.symbol == symbol:
                self._match(order, session)
        tick = MarketTick([quote], [], [])
        for listener in self._market_listeners:
            listener(tick)
        return quote

    # -- orders --------------------------------------------------------------------------

    def _working(self, time_in_force: str | None = None) -> list[Order]:
        return [
            o
            for o in self.orders.values()
            if o.is_open and (time_in_force is None or o.request.time_in_force == time_in_force)
        ]

    def _walk(self, symbol: str) -> QuoteWalk:
        walk = self.walks.get(symbol)
        if walk is None:
            raise not_found("asset not found")
        return walk

    def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /v2/orders``: validate, accept, route if the session allows. Returns the order
        as accepted (Alpaca's answer precedes the fills that its stream then reports)."""
        if body.get("client_order_id"):
            self.submissions[str(body["client_order_id"])] += 1
        request = OrderRequest.parse(body)
        if request.client_order_id is not None and request.client_order_id in self._by_client_id:
            raise invalid("client_order_id must be unique")
        spec = self.assets.get(request.symbol)
        if spec is None:
            raise invalid(f'asset "{request.symbol}" not found')
        self._validate(request, spec, replacing=None)
        order = self._create(request, spec, replaces=None)
        snapshot = order_json(order)
        session = calendar.session_at(self.now_ns)
        if order.status == "pending_new":
            self._route(order, session)
        return snapshot

    def _create(self, request: OrderRequest, spec: AssetSpec, replaces: uuid.UUID | None) -> Order:
        client_order_id = request.client_order_id or str(self._new_id())
        if request.client_order_id is None:
            self.submissions[client_order_id] += 1
        held = self.ledger.position_qty(request.symbol)
        if request.side == "buy":
            intent = "buy_to_close" if held < 0 else "buy_to_open"
        else:
            intent = "sell_to_close" if held > 0 else "sell_to_open"
        session = calendar.session_at(self.now_ns)
        order = Order(
            id=self._new_id(),
            client_order_id=client_order_id,
            request=request,
            asset_id=spec.asset_id,
            created_ns=self.now_ns,
            status="pending_new" if self._routable_request(request, session) else "accepted",
            position_intent=intent,
            expires_ns=self._expiry(request),
            replaces=replaces,
        )
        self.orders[order.id] = order
        self._by_client_id[client_order_id] = order
        return order

    def _expiry(self, request: OrderRequest) -> int:
        tif = request.time_in_force
        if tif == "gtc":
            return self.now_ns + GTC_LIFETIME_NS
        if tif == "opg":
            return calendar.next_open(self.now_ns)
        if request.extended_hours:
            moment = calendar.to_datetime(self.now_ns)
            day = moment.date()
            while True:
                end = calendar.at(day, calendar.POST_CLOSE)
                if calendar.is_trading_day(day) and end > self.now_ns:
                    return end
                day += timedelta(days=1)
        return calendar.next_close(self.now_ns)

    @staticmethod
    def _routable_request(request: OrderRequest, session: Session) -> bool:
        if request.time_in_force in ("opg", "cls"):
            return False
        if session is Session.REGULAR:
            return True
        return request.extended_hours and session in (Session.PRE_MARKET, Session.AFTER_HOURS)

    def _routable(self, order: Order, session: Session) -> bool:
        return self._routable_request(order.request, session)

    def reject_next(self, count: int) -> None:
        """The next ``count`` orders that reach the market are rejected there (``rejected``
        event, ``failed_at`` set), as when Alpaca's execution venue refuses an order."""
        if count <= 0:
            raise ValueError("count must be positive")
        self._rejections_pending += count

    def _rejected_downstream(self, order: Order) -> bool:
        if self._rejections_pending == 0:
            return False
        self._rejections_pending -= 1
        order.status = "rejected"
        order.failed_ns = order.updated_ns = self.now_ns
        self._emit("rejected", order)
        return True

    def _route(self, order: Order, session: Session) -> None:
        """The order reaches the market: ``new``, then whatever the current quote fills."""
        if self._rejected_downstream(order):
            return
        order.status = "new"
        order.updated_ns = self.now_ns
        self._emit("new", order)
        tif = order.request.time_in_force
        if tif == "fok" and not self._fully_fillable(order):
            self._finish(order, "canceled")
            return
        self._match(order, session)
        if tif in ("ioc", "fok") and order.is_open:
            self._finish(order, "canceled")

    def _fully_fillable(self, order: Order) -> bool:
        price = self._executable_price(order)
        if price is None:
            return False
        remaining = order.remaining
        if remaining is None:
            return True
        return remaining <= self._liquidity[(order.symbol, order.side)]

    def _executable_price(self, order: Order) -> Decimal | None:
        """The price this order would trade at on the current quote, or ``None``."""
        quote = self.walks[order.symbol].quote
        buy = order.side == "buy"
        stop = order.request.stop_price
        if stop is not None and not order.triggered:
            if not ((buy and quote.ask >= stop) or (not buy and quote.bid <= stop)):
                return None
            order.triggered = True
        price = quote.ask if buy else quote.bid
        limit = order.limit
        if limit is not None and ((buy and price > limit) or (not buy and price < limit)):
            return None
        return price

    def _match(self, order: Order, session: Session) -> None:
        if order.status not in ("new", "partially_filled") or not self._routable(order, session):
            return
        price = self._executable_price(order)
        if price is None:
            return
        self._fix_notional_qty(order, price)
        key = (order.symbol, order.side)
        remaining = order.remaining
        assert remaining is not None
        qty = min(remaining, self._liquidity[key])
        if qty <= 0:
            return
        self._liquidity[key] -= qty
        self._execute(order, qty, price)

    def _fix_notional_qty(self, order: Order, price: Decimal) -> None:
        if order.remaining is None:
            assert order.request.notional is not None
            qty = (order.request.notional / price).quantize(QTY_STEP, ROUND_FLOOR)
            order.target_qty = max(qty, QTY_STEP)

    def _auction(self, order: Order) -> None:
        """Opening and closing orders: all or nothing at the boundary quote."""
        if self._rejected_downstream(order):
            return
        order.status = "new"
        order.updated_ns = self.now_ns
        self._emit("new", order)
        price = self._executable_price(order)
        if price is None:
            self._finish(order, "canceled")
            return
        self._fix_notional_qty(order, price)
        remaining = order.remaining
        assert remaining is not None
        self._execute(order, remaining, price)

    def _execute(self, order: Order, qty: Decimal, price: Decimal) -> None:
        spec = self.assets[order.symbol]
        position_qty = self.ledger.apply(order.symbol, spec.asset_id, order.side, qty, price)
        self.walks[order.symbol].mark(price)
        order.filled_qty += qty
        order.filled_value += qty * price
        order.updated_ns = self.now_ns
        leaves = order.remaining
        assert leaves is not None
        done = leaves == 0
        order.status = "filled" if done else "partially_filled"
        if done:
            order.filled_ns = self.now_ns
        execution = Execution(
            id=self._new_id(),
            order_id=order.id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            qty=qty,
            price=price,
            t_ns=self.now_ns,
            cum_qty=order.filled_qty,
            leaves_qty=leaves,
            order_status=order.status,
            position_qty=position_qty,
        )
        self.ledger.executions.append(execution)
        self._emit("fill" if done else "partial_fill", order, execution)

    def _finish(self, order: Order, status: str) -> None:
        order.status = status
        order.updated_ns = self.now_ns
        if status == "canceled":
            order.canceled_ns = self.now_ns
        elif status == "expired":
            order.expired_ns = self.now_ns
        self._emit(status, order)

    # -- validation ----------------------------------------------------------------------

    def _validate(self, request: OrderRequest, spec: AssetSpec, replacing: Order | None) -> None:
        symbol = request.symbol
        if not spec.tradable:
            raise unprocessable(f"asset {symbol} is not tradable")
        if request.notional is not None and request.type != "market":
            raise invalid("notional orders are only supported for market orders")
        if request.is_fractional:
            if not spec.fractionable:
                if request.notional is not None:
                    raise invalid(f"asset {symbol} is not fractionable")
                raise invalid("qty must be integer")
            if request.time_in_force != "day":
                raise invalid("fractional orders must be DAY orders")
        if request.time_in_force in ("opg", "cls") and request.type not in ("market", "limit"):
            raise invalid(f"{request.time_in_force} orders must be market or limit orders")
        if request.extended_hours:
            if request.type != "limit":
                raise invalid('only type="limit" is allowed for extended hours orders')
            if request.time_in_force != "day":
                raise invalid("extended hours order must be DAY limit orders")
        prices = (("limit_price", request.limit_price), ("stop_price", request.stop_price))
        for name, price in prices:
            if price is not None and price % tick_size(price) != 0:
                raise unprocessable(
                    f"invalid {name} {price}. sub-penny increment does not fulfill minimum "
                    "pricing criteria"
                )
        self._validate_session(request)
        self._validate_quantity_and_funds(request, replacing)

    def _validate_session(self, request: OrderRequest) -> None:
        now = self.now_ns
        tif = request.time_in_force
        if tif == "opg" and _in_window(now, OPG_CUTOFF, QUEUE_REOPENS):
            raise unprocessable("opg orders are accepted only before 9:28am or after 7:00pm ET")
        if tif == "cls" and _in_window(now, CLS_CUTOFF, QUEUE_REOPENS):
            raise unprocessable("cls orders are accepted only before 3:50pm or after 7:00pm ET")
        if not request.extended_hours and _in_window(now, calendar.CLOSE, QUEUE_REOPENS):
            raise unprocessable(
                "market is closed: orders not eligible for extended hours are rejected between "
                "4:00pm and 7:00pm ET"
            )

    def _estimated_qty(self, request: OrderRequest) -> Decimal:
        if request.qty is not None:
            return request.qty
        assert request.notional is not None
        quote = self.walks[request.symbol].quote
        return request.notional / (quote.ask if request.side == "buy" else quote.bid)

    def open_qty(self, symbol: str, side: str, exclude: Order | None) -> Decimal:
        total = Decimal(0)
        for order in self._working():
            if order is exclude or order.symbol != symbol or order.side != side:
                continue
            remaining = order.remaining
            total += remaining if remaining is not None else self._estimated_qty(order.request)
        return total

    def _validate_quantity_and_funds(self, request: OrderRequest, replacing: Order | None) -> None:
        symbol = request.symbol
        qty = self._estimated_qty(request)
        held = self.ledger.position_qty(symbol)
        opening = qty
        if request.side == "sell":
            selling = self.open_qty(symbol, "sell", replacing)
            available = max(Decimal(0), held - selling)
            if held > 0 or not self._may_short(request):
                if qty > available:
                    raise forbidden(
                        f"insufficient qty available for order (requested: {num(qty)}, "
                        f"available: {num(available)})",
                        available=num(available) or "0",
                        existing_qty=num(held) or "0",
                        held_for_orders=num(selling) or "0",
                        symbol=symbol,
                    )
                return
        else:
            covering = max(Decimal(0), -held - self.open_qty(symbol, "buy", replacing))
            opening = max(Decimal(0), qty - covering)
        if opening == 0:
            return
        cost = opening * self._reference_price(request)
        buying_power = self.account_values(exclude=replacing).buying_power
        if cost > buying_power:
            raise forbidden(
                "insufficient buying power",
                buying_power=num(buying_power.quantize(Decimal("0.01"))) or "0",
                cost_basis=num(cost.quantize(Decimal("0.01"))) or "0",
            )

    def _may_short(self, request: OrderRequest) -> bool:
        spec = self.assets[request.symbol]
        if request.is_fractional and self.config.multiplier > 1 and spec.shortable:
            raise forbidden("fractional orders are not allowed to short")
        return self.config.multiplier > 1 and spec.shortable and spec.easy_to_borrow

    def _reference_price(self, request: OrderRequest) -> Decimal:
        """What Alpaca charges an order against buying power, per share."""
        quote = self.walks[request.symbol].quote
        if request.side == "sell":
            # Short sales: the larger of the limit and 3% above the ask.
            floor = quote.ask * Decimal("1.03")
            return max(request.limit_price or floor, floor)
        if request.limit_price is not None:
            return request.limit_price
        if request.stop_price is not None:
            return request.stop_price
        return quote.ask * (1 + self.config.market_order_buffer)

    # -- cancels and replaces ------------------------------------------------------------

    def order(self, order_id: str) -> Order:
        try:
            key = uuid.UUID(order_id)
        except ValueError:
            raise not_found("order not found") from None
        order = self.orders.get(key)
        if order is None:
            raise not_found("order not found")
        return order

    def order_by_client_id(self, client_order_id: str) -> Order:
        order = self._by_client_id.get(client_order_id)
        if order is None:
            raise not_found("order not found")
        return order

    def cancel(self, order_id: str) -> None:
        order = self.order(order_id)
        if not order.is_open:
            raise unprocessable(f'order is already in "{order.status}" state')
        self._finish(order, "canceled")

    def cancel_all(self) -> list[dict[str, Any]]:
        canceled = []
        for order in self._working():
            self._finish(order, "canceled")
            canceled.append({"id": str(order.id), "status": 200})
        return canceled

    def replace(self, order_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """``PATCH /v2/orders/{id}``: a new order takes the old one's place."""
        old = self.order(order_id)
        if not old.is_open:
            raise unprocessable(f'order is already in "{old.status}" state')
        if old.request.type == "market":
            raise unprocessable("market orders cannot be replaced")
        base = old.request
        remaining = old.remaining
        merged = {
            "symbol": base.symbol,
            "side": base.side,
            "type": base.type,
            "time_in_force": body.get("time_in_force") or base.time_in_force,
            "qty": body.get("qty") if body.get("qty") is not None else remaining,
            "limit_price": body.get("limit_price", base.limit_price),
            "stop_price": body.get("stop_price", base.stop_price),
            "extended_hours": base.extended_hours,
            "client_order_id": body.get("client_order_id"),
        }
        request = OrderRequest.parse(merged)
        if request.client_order_id is not None and request.client_order_id in self._by_client_id:
            raise invalid("client_order_id must be unique")
        self._validate(request, self.assets[base.symbol], replacing=old)
        new = self._create(request, self.assets[base.symbol], replaces=old.id)
        old.status = "replaced"
        old.replaced_ns = self.now_ns
        old.replaced_by = new.id
        old.updated_ns = self.now_ns
        self._emit("replaced", old)
        snapshot = order_json(new)
        if new.status == "pending_new":
            self._route(new, calendar.session_at(self.now_ns))
        return snapshot

    # -- account -------------------------------------------------------------------------

    def account_values(self, exclude: Order | None = None) -> AccountValues:
        long_value = short_value = Decimal(0)
        for position in self.ledger.positions.values():
            value = position.qty * self.walks[position.symbol].last_price
            if value > 0:
                long_value += value
            else:
                short_value += value
        cash = self.ledger.cash
        gross = long_value - short_value
        multiplier = self.config.multiplier
        equity = cash + long_value + short_value
        reserved = Decimal(0)
        for order in self._working():
            if order is exclude:
                continue
            remaining = order.remaining
            qty = remaining if remaining is not None else self._estimated_qty(order.request)
            held = self.ledger.position_qty(order.symbol)
            opens = held >= 0 if order.side == "buy" else held <= 0
            if opens:
                reserved += qty * self._reference_price(order.request)
        margin = Decimal("0.5") if multiplier > 1 else Decimal(0)
        return AccountValues(
            cash=cash,
            long_market_value=long_value,
            short_market_value=short_value,
            buying_power=max(Decimal(0), equity * multiplier - gross - reserved),
            non_marginable_buying_power=max(Decimal(0), cash - reserved),
            initial_margin=gross * margin,
            maintenance_margin=gross * Decimal("0.3") if multiplier > 1 else Decimal(0),
            last_equity=self._last_equity,
        )
