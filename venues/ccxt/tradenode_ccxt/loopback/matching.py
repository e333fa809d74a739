"""The exchange's matching: our orders against the shown book and the recorded market.

This is deliberately not tradenode's own matching code: the server plays a foreign exchange, and
sharing code with the node would make the tests prove nothing.

How our orders trade (all prices are shown prices, after the ``PriceTransform``):

* **Taker**: an order that reaches the opposite side walks the recorded liquidity best price
  first, at each level's price, and consumes what it takes (``Book.consume``) until the recording
  next updates that level. LIMIT GTC rests the rest; IOC and MARKET expire it; FOK expires
  without trading unless the whole quantity is there. MARKET with ``quoteOrderQty`` buys or sells
  whole steps for at most that much quote. LIMIT_MAKER that would take is refused (-2010).
* **Self-trade prevention**: Binance's default for the symbol, EXPIRE_MAKER: a taker that would
  meet one of our own resting orders expires that resting order (status EXPIRED_IN_MATCH).
* **Maker (queue model)**: a resting order joins the back of its level: ``queue_ahead`` is the
  recorded quantity shown at its price when it arrived (FIFO). A recorded trade that hits our
  side at our price first uses up ``queue_ahead``, and fills us only with what is left; a
  recorded trade at a worse price than ours (it went through our level) fills us first, at our
  price. When the recording shrinks our level, ``queue_ahead`` shrinks to what is left there
  (cancels ahead of us). When the recording shows opposite liquidity at or through our price
  (the market moved through us), that liquidity fills us at our price and is consumed.
* **Fees**: charged like Binance, in the asset received: base on buys, quote on sells, at the
  maker or taker rate, rounded to eight decimals.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tradenode_ccxt.loopback.account import Account
from tradenode_ccxt.loopback.amounts import ZERO, floor_to, round8
from tradenode_ccxt.loopback.book import BUY, SELL, Book, opposite, reaches
from tradenode_ccxt.loopback.errors import (
    BinanceError,
    bad_combination,
    duplicate_order,
    invalid_symbol,
    order_does_not_exist,
    unknown_order,
    would_take,
)
from tradenode_ccxt.loopback.orders import Fill, Order
from tradenode_ccxt.loopback.spec import PriceTransform, SymbolSpec

Plan = list[tuple[Decimal, Decimal]]  # (shown price, quantity) a taker would trade


@dataclass(frozen=True)
class OrderRequest:
    """A ``POST /api/v3/order`` with its parameters parsed (not yet checked against filters)."""

    symbol: str
    side: str
    type: str
    client_order_id: str
    time_in_force: str = "GTC"
    qty: Decimal | None = None
    quote_qty: Decimal | None = None
    price: Decimal | None = None


@dataclass
class Market:
    """One symbol's book and everything our account did on it."""

    spec: SymbolSpec
    book: Book
    orders: dict[int, Order] = field(default_factory=dict)
    by_client_id: dict[str, list[int]] = field(default_factory=dict)
    resting: list[Order] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    next_order_id: int = 1
    next_trade_id: int = 1


class Engine:
    def __init__(
        self,
        specs: Sequence[tuple[SymbolSpec, PriceTransform]],
        account: Account,
        *,
        maker_rate: Decimal,
        taker_rate: Decimal,
        clock: Callable[[], int],
    ) -> None:
        self.markets = {s.symbol: Market(s, Book(s.tick_size, t)) for s, t in specs}
        self.account = account
        self.maker_rate = maker_rate
        self.taker_rate = taker_rate
        self.clock = clock
        self.submissions: dict[str, int] = {}  # client order id -> POSTs that carried it
        self.rejections: list[dict[str, Any]] = []  # refused POSTs (Binance keeps none)
        self.user_events: list[dict[str, Any]] = []  # executionReports not yet sent

    def market(self, symbol: str) -> Market:
        try:
            return self.markets[symbol]
        except KeyError:
            raise invalid_symbol() from None

    # --- placing -------------------------------------------------------------------------------

    def submitted(self, client_order_id: str) -> None:
        """Count one order submission carrying this client order id (refused or not)."""
        self.submissions[client_order_id] = self.submissions.get(client_order_id, 0) + 1

    def refused(
        self, symbol: str, client_order_id: str, side: str, type_: str, exc: BinanceError
    ) -> None:
        """Record a refused submission (Binance itself keeps no trace of these)."""
        self.rejections.append(
            {
                "symbol": symbol,
                "clientOrderId": client_order_id,
                "side": side,
                "type": type_,
                "code": exc.code,
                "msg": exc.msg,
                "time": self.clock(),
            }
        )

    def place(self, req: OrderRequest) -> tuple[Order, list[Fill]]:
        """Accept (and match) an order or raise Binance's refusal; both are recorded."""
        self.submitted(req.client_order_id)
        try:
            return self._place(req)
        except BinanceError as exc:
            self.refused(req.symbol, req.client_order_id, req.side, req.type, exc)
            raise

    def _place(self, req: OrderRequest) -> tuple[Order, list[Fill]]:
        m = self.market(req.symbol)
        spec, book = m.spec, m.book
        limit = req.price if req.type != "MARKET" else None
        if limit is not None:
            spec.check_price(limit)
        if req.qty is not None:
            spec.check_qty(req.qty)
        if limit is not None and req.qty is not None:
            spec.check_notional(limit * req.qty)
        elif req.quote_qty is not None:
            spec.check_notional(req.quote_qty)
        else:
            top = book.best_market(opposite(req.side))
            if top is not None and req.qty is not None:
                spec.check_notional(top * req.qty)
        if any(m.orders[i].is_open for i in m.by_client_id.get(req.client_order_id, ())):
            raise duplicate_order()
        opp_best = book.best(opposite(req.side))
        if req.type == "LIMIT_MAKER":
            if opp_best is not None and limit is not None and reaches(req.side, limit, opp_best[0]):
                raise would_take()
            plan: Plan = []
        else:
            plan = self._plan(m, req.side, limit, req.qty, req.quote_qty)
        qty = req.qty if req.qty is not None else sum((q for _, q in plan), ZERO)
        self._check_funds(m, req, limit, qty, plan)

        now = self.clock()
        order = Order(
            symbol=spec.symbol,
            order_id=m.next_order_id,
            client_order_id=req.client_order_id,
            side=req.side,
            type=req.type,
            time_in_force=req.time_in_force,
            price=limit if limit is not None else ZERO,
            orig_qty=qty,
            orig_quote_qty=req.quote_qty if req.quote_qty is not None else ZERO,
            time=now,
            update_time=now,
        )
        m.next_order_id += 1
        m.orders[order.order_id] = order
        m.by_client_id.setdefault(order.client_order_id, []).append(order.order_id)
        if limit is not None:
            self._lock(m, order)
        self.user_events.append(order.execution_report("NEW", now))

        filled = sum((q for _, q in plan), ZERO)
        if req.time_in_force == "FOK" and filled < qty:
            self._close(m, order, "EXPIRED", "EXPIRED")
            return order, []
        if req.type != "LIMIT_MAKER":
            self._prevent_self_trade(m, order, plan, filled >= qty)
        fills = [self._execute(m, order, price, take, maker=False) for price, take in plan]
        for price, take in plan:
            book.consume(opposite(order.side), price, take)
        if order.is_open:
            if req.type in ("LIMIT", "LIMIT_MAKER") and req.time_in_force == "GTC":
                self._rest(m, order)
            else:
                self._close(m, order, "EXPIRED", "EXPIRED")
        return order, fills

    def _plan(
        self,
        m: Market,
        side: str,
        limit: Decimal | None,
        qty: Decimal | None,
        quote: Decimal | None,
    ) -> Plan:
        """What a taker would trade against the recorded liquidity, best price first."""
        plan: Plan = []
        book, opp = m.book, opposite(side)
        left = qty if qty is not None else quote
        assert left is not None
        for price in book.prices(opp):
            if left <= ZERO or (limit is not None and not reaches(side, limit, price)):
                break
            avail = book.available(opp, price)
            if avail <= ZERO:
                continue
            if qty is not None:
                take = min(avail, left)
                left -= take
            else:
                take = min(avail, floor_to(left / price, m.spec.step_size))
                if take <= ZERO:
                    break
                left -= round8(take * price)
            plan.append((price, take))
        return plan

    def _check_funds(
        self, m: Market, req: OrderRequest, limit: Decimal | None, qty: Decimal, plan: Plan
    ) -> None:
        spec = m.spec
        if req.side == BUY:
            if limit is not None:
                cost = round8(limit * qty)
            elif req.quote_qty is not None:
                cost = req.quote_qty
            else:
                cost = sum((round8(p * q) for p, q in plan), ZERO)
            self.account.require(spec.quote, cost)
        else:
            self.account.require(spec.base, qty)

    def _lock(self, m: Market, order: Order) -> None:
        if order.side == BUY:
            order.locked = round8(order.price * order.orig_qty)
            self.account.lock(m.spec.quote, order.locked)
        else:
            order.locked = order.orig_qty
            self.account.lock(m.spec.base, order.locked)

    def _prevent_self_trade(self, m: Market, taker: Order, plan: Plan, fills_all: bool) -> None:
        """EXPIRE_MAKER: our resting orders the taker would meet expire instead of trading.

        A taker the plan fills completely meets prices up to its last fill; one that it does not
        goes on to its limit (a market order: through the whole side).
        """
        if fills_all:
            bound: Decimal | None = plan[-1][0] if plan else None
            if bound is None:
                return
        else:
            bound = taker.price if taker.type != "MARKET" else None
        opp = opposite(taker.side)
        for o in [o for o in m.resting if o.side == opp]:
            if bound is None or reaches(taker.side, bound, o.price):
                self._close(m, o, "TRADE_PREVENTION", "EXPIRED_IN_MATCH")

    def _rest(self, m: Market, order: Order) -> None:
        order.on_book = True
        order.queue_ahead = m.book.available(order.side, order.price)
        m.book.add_own(order.side, order.price, order.remaining)
        m.resting.append(order)

    def _execute(
        self, m: Market, order: Order, price: Decimal, qty: Decimal, *, maker: bool
    ) -> Fill:
        """One fill of ``order``: balances, fees, the order's totals, its shown quantity."""
        spec, account = m.spec, self.account
        rate = self.maker_rate if maker else self.taker_rate
        quote = round8(price * qty)
        if order.side == BUY:
            commission, asset = round8(qty * rate), spec.base
            if order.type == "MARKET":
                account.spend_free(spec.quote, quote)
            else:
                reserved = min(order.locked, round8(order.price * qty))
                account.spend_locked(spec.quote, quote)
                account.unlock(spec.quote, reserved - quote)
                order.locked -= reserved
            account.credit(spec.base, qty - commission)
        else:
            commission, asset = round8(quote * rate), spec.quote
            if order.type == "MARKET":
                account.spend_free(spec.base, qty)
            else:
                account.spend_locked(spec.base, qty)
                order.locked -= qty
            account.credit(spec.quote, quote - commission)
        now = self.clock()
        fill = Fill(
            symbol=spec.symbol,
            trade_id=m.next_trade_id,
            order_id=order.order_id,
            client_order_id=order.client_order_id,
            side=order.side,
            price=price,
            qty=qty,
            quote_qty=quote,
            commission=commission,
            commission_asset=asset,
            time=now,
            is_maker=maker,
        )
        m.next_trade_id += 1
        m.fills.append(fill)
        order.fills.append(fill)
        order.executed_qty += qty
        order.cum_quote += quote
        order.update_time = now
        order.status = "FILLED" if order.remaining <= ZERO else "PARTIALLY_FILLED"
        if order.on_book:
            m.book.add_own(order.side, order.price, -qty)
        if order.status == "FILLED":
            self._take_off_book(m, order)
            self._release(m, order)
        self.user_events.append(order.execution_report("TRADE", now, fill))
        return fill

    def _take_off_book(self, m: Market, order: Order) -> None:
        if order.on_book:
            order.on_book = False
            m.resting.remove(order)
            m.book.add_own(order.side, order.price, -order.remaining)

    def _release(self, m: Market, order: Order) -> None:
        if order.locked > ZERO:
            asset = m.spec.quote if order.side == BUY else m.spec.base
            self.account.unlock(asset, order.locked)
            order.locked = ZERO

    def _close(
        self, m: Market, order: Order, exec_type: str, status: str, cancel_client_id: str = ""
    ) -> None:
        self._take_off_book(m, order)
        self._release(m, order)
        order.status = status
        order.update_time = self.clock()
        self.user_events.append(
            order.execution_report(exec_type, order.update_time, cancel_client_id=cancel_client_id)
        )

    # --- canceling and looking up --------------------------------------------------------------

    def find(self, symbol: str, order_id: int | None, client_order_id: str | None) -> Order:
        """The order by id, else the latest with that client order id; -2013 when unknown."""
        m = self.market(symbol)
        if order_id is not None:
            order = m.orders.get(order_id)
            if order is None or (
                client_order_id is not None and order.client_order_id != client_order_id
            ):
                raise order_does_not_exist()
            return order
        ids = m.by_client_id.get(client_order_id or "", [])
        if not ids:
            raise order_does_not_exist()
        open_ids = [i for i in ids if m.orders[i].is_open]
        return m.orders[(open_ids or ids)[-1]]

    def cancel(
        self, symbol: str, order_id: int | None, client_order_id: str | None, cancel_id: str
    ) -> Order:
        """Cancel an open order; -2011 when it is unknown or no longer open."""
        try:
            order = self.find(symbol, order_id, client_order_id)
        except BinanceError:
            raise unknown_order() from None
        if not order.is_open:
            raise unknown_order()
        self._close(self.market(symbol), order, "CANCELED", "CANCELED", cancel_id)
        return order

    def cancel_all(self, symbol: str, cancel_id: Callable[[], str]) -> list[Order]:
        m = self.market(symbol)
        orders = [o for o in m.orders.values() if o.is_open]
        if not orders:
            raise unknown_order()
        for order in orders:
            self._close(m, order, "CANCELED", "CANCELED", cancel_id())
        return orders

    def open_orders(self, symbol: str | None) -> list[Order]:
        markets = [self.market(symbol)] if symbol else list(self.markets.values())
        return [o for m in markets for o in m.orders.values() if o.is_open]

    def all_orders(
        self,
        symbol: str,
        *,
        from_id: int | None,
        start: int | None,
        end: int | None,
        limit: int,
    ) -> list[Order]:
        orders = list(self.market(symbol).orders.values())
        if from_id is not None:
            orders = [o for o in orders if o.order_id >= from_id]
        if start is not None:
            orders = [o for o in orders if o.time >= start]
        if end is not None:
            orders = [o for o in orders if o.time <= end]
        return orders[:limit] if from_id is not None or start is not None else orders[-limit:]

    def my_trades(
        self,
        symbol: str,
        *,
        order_id: int | None,
        from_id: int | None,
        start: int | None,
        end: int | None,
        limit: int,
    ) -> list[Fill]:
        """Binance's ``myTrades`` rules: fromId excludes times; orderId excludes times too."""
        if from_id is not None and (start is not None or end is not None):
            raise bad_combination()
        if order_id is not None and (start is not None or end is not None):
            raise bad_combination()
        fills = self.market(symbol).fills
        if order_id is not None:
            fills = [f for f in fills if f.order_id == order_id]
        if from_id is not None:
            fills = [f for f in fills if f.trade_id >= from_id]
        if start is not None:
            fills = [f for f in fills if f.time >= start]
        if end is not None:
            fills = [f for f in fills if f.time <= end]
        if from_id is not None or start is not None:
            return fills[:limit]
        return fills[-limit:]

    # --- the recorded market -------------------------------------------------------------------

    def on_recorded_book(self, symbol: str) -> None:
        """After the recording changed the book: shrink queues, fill what the market crossed."""
        m = self.market(symbol)
        book = m.book
        for order in sorted(m.resting, key=lambda o: (o.side, _priority(o))):
            order.queue_ahead = min(order.queue_ahead, book.available(order.side, order.price))
        for order in sorted(m.resting, key=lambda o: (o.side, _priority(o))):
            opp = opposite(order.side)
            while order.is_open:
                level = book.best_market(opp)
                if level is None or not reaches(order.side, order.price, level):
                    break
                take = min(order.remaining, book.available(opp, level))
                self._execute(m, order, order.price, take, maker=True)
                book.consume(opp, level, take)

    def on_market_trade(
        self, symbol: str, price: Decimal, qty: Decimal, buyer_is_maker: bool
    ) -> None:
        """A recorded trade (at a shown price): fill our resting orders it would have met."""
        m = self.market(symbol)
        hit = BUY if buyer_is_maker else SELL  # the side that was resting
        aggressor = opposite(hit)
        met = [o for o in m.resting if o.side == hit and reaches(aggressor, price, o.price)]
        met.sort(key=_priority)
        budget = qty
        for order in [o for o in met if o.price != price]:  # the trade went through our level
            take = min(order.remaining, budget)
            if take <= ZERO:
                return
            budget -= take
            self._execute(m, order, order.price, take, maker=True)
        # At the trade's own price the trade first uses up what was queued ahead of each order.
        ours = ZERO
        for order in [o for o in met if o.price == price]:
            take = min(order.remaining, max(budget - order.queue_ahead - ours, ZERO))
            order.queue_ahead = max(ZERO, order.queue_ahead - budget)
            if take > ZERO:
                ours += take
                self._execute(m, order, order.price, take, maker=True)


def _priority(order: Order) -> tuple[Decimal, int]:
    """Price-time priority on the order's side: best price first, then the earliest."""
    return (-order.price if order.side == BUY else order.price, order.order_id)
