"""The TWS behind the socket: orders, executions, the account and the market.

It outlives client connections (a dropped or refused connection does not touch it), so orders
keep working while a client is away and what filled meanwhile is there when it asks again.
Connections listen to it through :class:`BrokerListener`; it never writes to a socket itself.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from .client_messages import ExecFilter, OrderRequest
from .config import FakeTwsConfig
from .ledger import AccountFigures, Ledger
from .market import Book, Market
from .matching import Match, stop_triggered, sweep
from .records import ExecutionRecord, OrderRecord, OrderRejected, ReceivedOrder
from .universe import ContractQuery, Instrument

STOPS = frozenset({"STP", "STP LMT"})
LIMITS = frozenset({"LMT", "STP LMT"})


class BrokerListener(Protocol):
    """A client connection: it decides which events are its own and what to send for them."""

    def order_opened(self, order: OrderRecord) -> None:
        """Accepted, modified or triggered: openOrder and orderStatus."""

    def order_executed(self, order: OrderRecord, execution: ExecutionRecord) -> None: ...

    def order_cancelled(self, order: OrderRecord) -> None: ...

    def cancel_refused(self, order: OrderRecord, code: int, message: str) -> None:
        """A cancel TWS could not carry out (10148, 161): an error frame for the order."""

    def market_changed(self, book: Book) -> None: ...

    def account_changed(self, con_ids: set[int]) -> None:
        """Executions moved these positions (and so the account values)."""


@dataclass(frozen=True, slots=True)
class CancelRace:
    """The next cancel reaches an order while it fills: the rest of it fills (at its limit, or
    the book's mark for a market order) and TWS answers the cancel with ``code`` (161 or
    10148) — before the fill's messages (``error_first``) or after them. ``silent``: the fill's
    live messages never reach the client (it learns of them only by asking)."""

    code: int = 161
    error_first: bool = True
    silent: bool = False
    #: seconds between TWS's two answers
    apart_s: float = 0.2


class Broker:
    """Accepts, works and settles orders against the market and the ledger; all in one thread
    (the server's event loop), so no locking."""

    def __init__(self, config: FakeTwsConfig) -> None:
        self.config = config
        self.universe = config.universe
        self.market = Market(config.universe, config.prices)
        self.ledger = Ledger(config.base_currency, dict(config.cash))
        self.orders: list[OrderRecord] = []
        self.executions: list[ExecutionRecord] = []
        self.received: list[ReceivedOrder] = []
        self._by_key: dict[tuple[int, int], OrderRecord] = {}
        self._listeners: list[BrokerListener] = []
        self._next_perm_id = config.first_perm_id
        self._highest_order_id = 0
        self._filled: set[int] = set()
        self._races: list[CancelRace] = []
        self._muted: OrderRecord | None = None
        for currency in {*config.cash, *(i.currency for i in self.universe)}:
            self.rate(currency)  # fail at start, not at the first valuation

    # -- listeners -------------------------------------------------------------------------

    def add_listener(self, listener: BrokerListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: BrokerListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    # -- reference data and valuation ------------------------------------------------------

    def resolve(self, query: ContractQuery) -> Instrument:
        found = self.universe.matching(query)
        if not found:
            raise OrderRejected(200, "No security definition has been found for the request")
        if len(found) > 1:
            raise OrderRejected(200, "The contract description specified is ambiguous")
        return found[0]

    def mark(self, instrument: Instrument) -> Decimal:
        return self.market.book(instrument.con_id).mark()

    def rate(self, currency: str) -> Decimal:
        """Value of one unit of ``currency`` in the base currency, from the FX books."""
        base = self.config.base_currency
        if currency == base:
            return Decimal(1)
        for instrument in self.universe:
            if instrument.sec_type != "CASH":
                continue
            if (instrument.symbol, instrument.currency) == (currency, base):
                return self.mark(instrument)
            if (instrument.symbol, instrument.currency) == (base, currency):
                return 1 / self.mark(instrument)
        raise ValueError(f"no FX pair in the universe converts {currency} to {base}")

    def figures(self) -> AccountFigures:
        return self.ledger.figures(self.mark, self.rate, self.config.buying_power_leverage)

    def next_valid_id(self) -> int:
        return self._highest_order_id + 1

    # -- orders ----------------------------------------------------------------------------

    def place(self, client_id: int, request: OrderRequest) -> None:
        """Accept, modify or refuse (raising OrderRejected) one placeOrder."""
        existing = self._by_key.get((client_id, request.order_id))
        try:
            if existing:
                self._modify(existing, request)
            else:
                self._accept(client_id, request)
        except OrderRejected as error:
            self.refused(
                client_id, request.order_id, request.order_ref, error, existing is not None
            )
            raise
        self._note(client_id, request.order_id, request.order_ref, existing is not None, None)

    def refused(
        self,
        client_id: int,
        order_id: int,
        order_ref: str,
        error: OrderRejected,
        modification: bool = False,
    ) -> None:
        """Record a placeOrder that was turned down (also those refused before parsing ended)."""
        self._note(client_id, order_id, order_ref, modification, error)

    def _note(
        self,
        client_id: int,
        order_id: int,
        order_ref: str,
        modification: bool,
        error: OrderRejected | None,
    ) -> None:
        self._highest_order_id = max(self._highest_order_id, order_id)
        self.received.append(
            ReceivedOrder(self.config.clock(), client_id, order_id, order_ref, modification, error)
        )

    def check(self, request: OrderRequest) -> Instrument:
        """Validate an order as TWS does before it accepts it; returns its instrument."""
        instrument = self.resolve(request.contract)
        if request.account and request.account != self.config.account:
            raise OrderRejected(201, f"Order rejected - reason:Invalid account {request.account}")
        if request.action not in ("BUY", "SELL"):
            raise OrderRejected(201, f"Order rejected - reason:Invalid action {request.action}")
        quantity = request.quantity
        if quantity <= 0 or quantity % instrument.size_increment:
            raise OrderRejected(
                201,
                f"Order rejected - reason:Order size {quantity} is not a positive multiple of "
                f"{instrument.size_increment}",
            )
        needs = {
            "lmt_price": request.order_type in LIMITS,
            "aux_price": request.order_type in STOPS,
        }
        for name, needed in needs.items():
            price = getattr(request, name)
            if needed and price is None:
                raise OrderRejected(
                    201, f"Order rejected - reason:{request.order_type} order without {name}"
                )
            if needed and (price <= 0 or not instrument.on_tick(price)):
                raise OrderRejected(
                    110,
                    "The price does not conform to the minimum price variation for this "
                    f"contract ({instrument.min_tick}).",
                )
        return instrument

    def margin_needed(self, instrument: Instrument, request: OrderRequest) -> Decimal:
        book = self.market.book(instrument.con_id)
        touch = book.ask if request.action == "BUY" else book.bid
        price = request.lmt_price or request.aux_price or (touch.price if touch else book.mark())
        return self.ledger.margin_increase(
            instrument,
            request.action == "BUY",
            request.quantity,
            price,
            self.rate(instrument.currency),
        )

    def _accept(self, client_id: int, request: OrderRequest) -> None:
        instrument = self.check(request)
        needed = self.margin_needed(instrument, request)
        available = self.figures().available_funds
        if needed > available:
            raise OrderRejected(
                201,
                "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE "
                f"DESIRED POSITION YOUR AVAILABLE FUNDS [{available:.2f} "
                f"{self.config.base_currency}] MUST EXCEED THE INITIAL MARGIN "
                f"[{needed:.2f} {self.config.base_currency}]",
            )
        order = OrderRecord(
            client_id=client_id,
            order_id=request.order_id,
            perm_id=self._next_perm_id,
            instrument=instrument,
            request=request,
            account=self.config.account,
            exchange=request.contract.exchange or instrument.exchange,
            status="PreSubmitted" if request.order_type in STOPS else "Submitted",
            placed_at=self.config.clock(),
        )
        self._next_perm_id += 1
        self.orders.append(order)
        self._by_key[(client_id, request.order_id)] = order
        self._emit("order_opened", order)
        self._work(order)
        self._settle({instrument.con_id})

    def _modify(self, order: OrderRecord, request: OrderRequest) -> None:
        if not order.working:
            raise OrderRejected(104, f"Cannot modify order {order.order_id}: it is {order.status}.")
        instrument = self.check(request)
        if instrument != order.instrument or request.action != order.request.action:
            raise OrderRejected(
                201, "Order rejected - reason:a modification cannot change contract or side"
            )
        if request.quantity < order.filled:
            raise OrderRejected(
                201, "Order rejected - reason:quantity is below what has already filled"
            )
        order.request = request
        order.resting = False  # a new price may take liquidity at once
        if order.remaining == 0:
            self._finish(order, "Filled")
        self._emit("order_opened", order)
        self._work(order)
        self._settle({instrument.con_id})

    def cancel(self, client_id: int, order_id: int) -> None:
        order = self._by_key.get((client_id, order_id))
        if order is None:
            raise OrderRejected(
                10147, f"OrderId {order_id} that needs to be cancelled is not found."
            )
        if not order.working:
            raise OrderRejected(
                10148,
                f"OrderId {order_id} that needs to be cancelled cannot be cancelled, "
                f"state: {order.status}.",
            )
        if self._races:
            self._race(order, self._races.pop(0))
            return
        self._cancel(order, "")

    def arm_cancel_race(self, race: CancelRace) -> None:
        """The next cancel of a working order races its fill (see :class:`CancelRace`)."""
        self._races.append(race)

    def _race(self, order: OrderRecord, race: CancelRace) -> None:
        if race.code == 161:
            message = (
                "Cancel attempted when order is not in a cancellable state.  "
                f"Order permId ={order.perm_id}"
            )
        else:
            state = "Submitted" if race.error_first else "Filled"
            message = (
                f"OrderId {order.order_id} that needs to be cancelled cannot be cancelled, "
                f"state: {state}."
            )

        def refuse() -> None:
            self._emit("cancel_refused", order, race.code, message)

        def fill() -> None:
            self._fill_rest(order, silent=race.silent)

        first, then = (refuse, fill) if race.error_first else (fill, refuse)
        first()
        # TWS sends the two apart, as IB told it of each: the client reads them apart
        asyncio.get_running_loop().call_later(race.apart_s, then)

    def _fill_rest(self, order: OrderRecord, *, silent: bool) -> None:
        """What is left of ``order`` fills at once (at its limit, or the book's mark)."""
        if not order.working:
            return
        book = self.market.book(order.instrument.con_id)
        request = order.request
        if request.order_type in LIMITS and request.lmt_price is not None:
            price = request.lmt_price
        else:
            price = book.mark()
        self._muted = order if silent else None
        try:
            self._execute(order, book, Match(price, order.remaining, True))
        finally:
            self._muted = None
        self._settle({order.instrument.con_id})

    def cancel_all(self) -> None:
        for order in [o for o in self.orders if o.working]:
            self._cancel(order, "Global cancel")

    def open_orders(self, client_id: int | None = None) -> list[OrderRecord]:
        return [o for o in self.orders if o.working and client_id in (None, o.client_id)]

    def completed_orders(self) -> list[OrderRecord]:
        return [o for o in self.orders if not o.working]

    def executions_matching(self, wanted: ExecFilter) -> list[ExecutionRecord]:
        return [e for e in self.executions if _matches(e, wanted)]

    def placements(self) -> Counter[str]:
        """How many new orders (modifications excluded) arrived per orderRef."""
        return Counter(r.order_ref for r in self.received if not r.modification)

    # -- market ----------------------------------------------------------------------------

    def step(self, steps: int = 1) -> None:
        """Advance the price path; working orders fill or trigger as it reaches them."""
        for _ in range(steps):
            self.market.step()
            self._market_moved(self.market.books.keys())

    def set_quote(self, con_id: int, bid: Decimal, ask: Decimal) -> None:
        self.market.set_quote(con_id, bid, ask)
        self._market_moved([con_id])

    def _market_moved(self, con_ids: Iterable[int]) -> None:
        moved = set(con_ids)
        for order in [o for o in self.orders if o.working and o.instrument.con_id in moved]:
            self._work(order)
        self._settle(moved)

    # -- matching --------------------------------------------------------------------------

    def _work(self, order: OrderRecord) -> None:
        """Give a working order its chance against the current book."""
        if not order.working:
            return
        book = self.market.book(order.instrument.con_id)
        request = order.request
        if request.order_type in STOPS and not order.triggered:
            assert request.aux_price is not None
            if not stop_triggered(book, order.buy, request.aux_price):
                return
            order.triggered = True
            order.status = "Submitted"
            self._emit("order_opened", order)
        limit = request.lmt_price if request.order_type in LIMITS else None
        for match in sweep(book, order.buy, order.remaining, limit, resting=order.resting):
            self._execute(order, book, match)
        if order.working and request.tif == "IOC":
            self._cancel(order, "IOC remainder")
        elif order.working and limit is not None:
            order.resting = True

    def _execute(self, order: OrderRecord, book: Book, match: Match) -> None:
        instrument = order.instrument
        order.filled += match.quantity
        order.fill_value += match.quantity * match.price
        order.last_fill_price = match.price
        total = instrument.commission.total(
            order.filled, order.fill_value * instrument.contract_multiplier
        )
        fee = total - order.commission
        order.commission = total
        realized = self.ledger.apply(instrument, order.buy, match.quantity, match.price, fee)
        book.record_trade(match.price, match.quantity)
        if order.remaining == 0:
            self._finish(order, "Filled")
        execution = ExecutionRecord(
            exec_id=f"{order.perm_id:08x}.{len(self.executions) + 1:08x}.01.01",
            time=self.config.clock(),
            account=self.config.account,
            client_id=order.client_id,
            order_id=order.order_id,
            perm_id=order.perm_id,
            instrument=instrument,
            exchange=instrument.primary_exchange or instrument.exchange,
            side="BOT" if order.buy else "SLD",
            shares=match.quantity,
            price=match.price,
            cum_qty=order.filled,
            avg_price=order.average_price,
            order_ref=order.order_ref,
            model_code=order.request.model_code,
            added_liquidity=match.added_liquidity,
            commission=fee,
            realized_pnl=realized,
        )
        self.executions.append(execution)
        self._filled.add(instrument.con_id)
        self._emit("order_executed", order, execution)

    def _cancel(self, order: OrderRecord, reason: str) -> None:
        order.cancel_reason = reason
        self._finish(order, "Cancelled")
        self._emit("order_cancelled", order)

    def _finish(self, order: OrderRecord, status: str) -> None:
        order.status = status
        order.done_at = self.config.clock()

    def _settle(self, con_ids: set[int]) -> None:
        """After a batch of changes: account updates if anything filled, then the books."""
        if self._filled:
            filled, self._filled = self._filled, set()
            self._emit("account_changed", filled)
        for con_id in sorted(con_ids):
            self._emit("market_changed", self.market.book(con_id))

    def _emit(self, event: str, *args: object) -> None:
        if self._muted is not None and args and args[0] is self._muted:
            return  # a fill whose live messages are lost
        for listener in list(self._listeners):
            getattr(listener, event)(*args)


def _matches(execution: ExecutionRecord, wanted: ExecFilter) -> bool:
    instrument = execution.instrument
    checks = (
        (wanted.client_id, execution.client_id),
        (wanted.account, execution.account),
        (wanted.symbol, instrument.symbol),
        (wanted.sec_type, instrument.sec_type),
        (wanted.exchange, execution.exchange),
        (
            wanted.side and ("BOT" if wanted.side.upper() in ("BUY", "BOT") else "SLD"),
            execution.side,
        ),
    )
    if any(want and want != have for want, have in checks):
        return False
    return wanted.since is None or execution.time >= wanted.since


async def run_price_path(broker: Broker, interval: float) -> None:
    """Step the price path every ``interval`` seconds until cancelled."""
    while True:
        await asyncio.sleep(interval)
        broker.step()
