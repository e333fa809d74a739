"""One venue's life on its event loop: the ccxt client, its instruments, orders through the
queue, the account stream, and the checks that keep every fill (market data into the node's
books is ``market_data.py``; the answer to the reconciler ``reconciliation.py``).

Everything here runs on the venue's own loop (``node.venue_loop``); what the node must hear
goes out through an ``Outbox``, which the venue turns into its events on its own thread, in the
order they were put in.

Orders. An order is checked against the market (tick and lot through ccxt's precision helpers:
a value they would change is refused, never altered), waits its turn in the ``OrderQueue``, and
is sent with the node's client order id in the exchange's field. An answer that is a refusal
rejects it. No answer, or an unusable one, leaves its fate unknown: it is looked up by client id
(after the exchange's receive window, when it has one, so the request cannot still execute),
adopted if found, and sent again only if it is not there and the exchange can be asked by
client id. A rate-limit answer pauses the queue with a backoff and says so.

Fills. The account stream (``watch_orders`` / ``watch_my_trades`` / ``watch_balance``, or REST
polling) feeds the tracker; an order whose exchange-side fill count runs ahead of the fills
received has its trades fetched; open orders are also checked over REST every
``order_check_interval_ms``, so an update the stream lost is found anyway. Balances are passed on
only when every fill they include has been passed on first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from node.book import L2Book
from node.messages import (
    Balance,
    CancelOrder,
    Instrument,
    MarketData,
    ReconcileVenue,
    SubmitOrder,
    VenueCapabilities,
    VenueReconciled,
)
from node.recent import Recent
from tradenode_ccxt import convert, reconciliation
from tradenode_ccxt.client_ids import ClientIdRule, client_id_rule
from tradenode_ccxt.config import CcxtVenueConfig
from tradenode_ccxt.errors import (
    Outcome,
    classify,
    describe,
    is_authentication,
    is_network,
)
from tradenode_ccxt.exchange import build_exchange, websockets_wanted
from tradenode_ccxt.market_data import start_market_data
from tradenode_ccxt.order_queue import OrderQueue, Withdrawn
from tradenode_ccxt.tracker import Event, Filled, OrderTracker, TrackedOrder

log = logging.getLogger("tradenode.ccxt")

_MAX_SEND_ATTEMPTS = 3
_MAX_CANCEL_ATTEMPTS = 5
_GAP_GRACE_S = 0.25
_BALANCE_SETTLE_S = 0.3
#: with a balance stream, how long after a fill its pushed balance may take before it is read
_PUSHED_BALANCE_WAIT_S = 1.0
_MAX_RETRY_S = 30.0
_DEFAULT_UNKNOWN_WAIT_MS = 5000.0
_SEEN_TRADES = 5000


class ConnectFailed(Exception):
    """The venue cannot be used; the message is the reason shown to the operator."""


class Outbox(Protocol):
    """What the session tells the node; the venue implements it (thread-safe, in order)."""

    def events(self, events: list[Event]) -> None: ...
    def status(self, status: str, detail: str) -> None: ...
    def market(self, message: MarketData) -> None: ...
    def instruments(self, instruments: list[Instrument]) -> None: ...
    def balances(self, balances: dict[str, Balance]) -> None: ...
    def connected(self, capabilities: VenueCapabilities) -> None: ...
    def disconnected(self, reason: str, reconnecting: bool) -> None: ...
    def cancel_rejected(self, client_order_id: str, reason: str) -> None: ...


@dataclass
class Timings:
    """Where an order's and a book update's time goes (for the benchmark): ``ours`` is this
    adapter's code, ``wire`` ccxt's request and the exchange's answer."""

    order_ours_ns: list[int] = field(default_factory=list)
    order_wire_ns: list[int] = field(default_factory=list)
    book_ours_ns: list[int] = field(default_factory=list)


class Session:
    def __init__(
        self,
        venue: str,
        config: CcxtVenueConfig,
        outbox: Outbox,
        tracker: OrderTracker,
        book_of: Callable[[str], L2Book],
        now: Callable[[], int],
        secrets: Iterable[str] = (),
    ) -> None:
        self.venue = venue
        self.config = config
        self.outbox = outbox
        self.tracker = tracker
        self.book_of = book_of
        self.now = now
        self.secrets = [s for s in secrets if s]
        self.rule: ClientIdRule = client_id_rule(config)
        self.exchange: Any = None
        self.websockets = False
        self.instruments: dict[str, Instrument] = {}
        self.queue: OrderQueue | None = None
        self.in_flight: dict[str, asyncio.Event] = {}
        self.timings: Timings | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._account_tasks: list[asyncio.Task[None]] = []
        self._gap_wakeup = asyncio.Event()
        self._balance_wakeup = asyncio.Event()
        self._pending_balance: dict[str, Balance] | None = None
        self._last_balance: dict[str, Balance] | None = None
        self._filled_since_balance = False
        self._published_fills: Recent[tuple[str, str]] = Recent(_SEEN_TRADES)
        self._queue_depth_shown = 0

    @property
    def authenticated(self) -> bool:
        return self.config.api_key_env is not None

    def describe(self, exc: BaseException) -> str:
        return describe(exc, self.secrets)

    # -- connecting -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect: markets, instruments, balances, streams; then the venue is connected.

        Raises ``ConnectFailed`` with the reason when the venue cannot be used."""
        config = self.config
        self.queue = OrderQueue(config.orders_per_minute, config.order_burst, self._queue_depth)
        try:
            self.websockets = websockets_wanted(config)
            self.exchange = build_exchange(config, self.websockets)
        except Exception as exc:  # an unknown id, no sandbox, a variable unset since check
            raise ConnectFailed(self.describe(exc)) from None
        try:
            await self.retrying("load markets", self.exchange.load_markets)
        except Exception as exc:
            raise ConnectFailed(self._why(exc, "cannot load markets")) from None
        missing = [s for s in config.symbols if s not in self.exchange.markets]
        if missing:
            raise ConnectFailed(f"{config.exchange} does not list {', '.join(missing)}")
        fees = await self._account_fees()
        self._load_instruments(fees)
        if self.authenticated:
            # Read to prove the keys, not passed on: the reconciler publishes the balances of
            # its answer after the fills the node missed, which they include.
            try:
                await self.retrying("fetch balance", self.exchange.fetch_balance)
            except Exception as exc:
                raise ConnectFailed(self._why(exc, "cannot read balances")) from None
        else:
            self.outbox.balances({})
            self.outbox.status("read-only", "no api_key_env: market data only, orders refused")
        start_market_data(self)
        if self.authenticated:
            self._start_account()
        self.outbox.connected(self.capabilities())

    def _why(self, exc: BaseException, doing: str) -> str:
        if is_authentication(exc):
            return f"authentication failed ({doing}): {self.describe(exc)}"
        return f"{doing}: {self.describe(exc)}"

    async def _account_fees(self) -> dict[str, Any]:
        """The account's maker/taker rates, when asked for and available; else the markets'."""
        ex = self.exchange
        if self.config.fees != "account" or not self.authenticated:
            return {}
        if not ex.has.get("fetchTradingFees"):
            self.outbox.status("fees from markets", f"{self.config.exchange} has no fee query")
            return {}
        try:
            return await self.retrying("fetch trading fees", ex.fetch_trading_fees)
        except Exception as exc:
            if is_authentication(exc):
                raise ConnectFailed(self._why(exc, "cannot read trading fees")) from None
            self.outbox.status("fees from markets", f"fetchTradingFees: {self.describe(exc)}")
            return {}

    def _load_instruments(self, fees: dict[str, Any]) -> None:
        mode = int(self.exchange.precisionMode)
        instruments = []
        for symbol in self.config.symbols:
            market = self.exchange.market(symbol)
            ins, problem = convert.instrument(self.venue, market, mode, fees.get(symbol))
            if problem is not None:
                self.outbox.status("not tradable", f"{symbol}: {problem}")
            instruments.append(ins)
            self.instruments[symbol] = ins
        self.tracker.quotes = {s: i.quote for s, i in self.instruments.items()}
        self.outbox.instruments(instruments)

    def capabilities(self) -> VenueCapabilities:
        has = self.exchange.has
        order_types = tuple(
            t
            for t, key in (("market", "createMarketOrder"), ("limit", "createLimitOrder"))
            if has.get(key, True)
        )
        return VenueCapabilities(
            order_types=order_types,  # type: ignore[arg-type]
            time_in_force=tuple(self.config.time_in_force),
            post_only=bool(has.get("createPostOnlyOrder", False)),
            client_id_max_length=self.rule.max_length,
            client_id_chars=self.rule.chars,
            reconciles=self.authenticated,
            bars=bool(has.get("fetchOHLCV")),
        )

    async def close(self) -> None:
        for task in [*self._tasks, *self._account_tasks]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._account_tasks, return_exceptions=True)
        if self.queue is not None:
            self.queue.close()
        if self.exchange is not None:
            with contextlib.suppress(Exception):
                await self.exchange.close()

    def spawn(self, coro: Awaitable[None], into: list[asyncio.Task[None]] | None = None) -> None:
        task = asyncio.ensure_future(coro)
        (self._tasks if into is None else into).append(task)

    async def retrying(self, what: str, call: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """A read (never an order) retried on network errors with exponential backoff."""
        delay = 0.5
        for attempt in range(1, 5):
            try:
                return await call(*args)
            except Exception as exc:
                if not is_network(exc) or attempt == 4:
                    raise
                if classify(exc) is Outcome.RATE_LIMITED:
                    delay = max(delay, self.rate_limited(exc))
                log.warning("venue %s: %s: %s; retrying", self.venue, what, self.describe(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_RETRY_S)
        raise AssertionError("unreachable")

    def rate_limited(self, exc: BaseException) -> float:
        assert self.queue is not None
        pause = self.queue.rate_limited()
        self.outbox.status(
            "rate limited",
            f"{self.describe(exc)}; orders paused {pause:g} s, {self.queue.depth} waiting",
        )
        return pause

    def _queue_depth(self, depth: int) -> None:
        if depth != self._queue_depth_shown:
            self._queue_depth_shown = depth
            per_minute = f"{self.config.orders_per_minute:g}/min"
            self.outbox.status("order queue", f"{depth} order(s) waiting (limit {per_minute})")

    # -- the account ----------------------------------------------------------------------------

    def _start_account(self) -> None:
        has = self.exchange.has
        streamed = self.websockets and (has.get("watchOrders") or has.get("watchMyTrades"))
        if streamed:
            self.spawn(self._account_stream())
        every = self.config.order_check_interval_ms if streamed else self.config.poll_interval_ms
        self.spawn(self._check_orders(every / 1000))
        self.spawn(self._fill_gaps())
        self.spawn(self._refresh_balances())

    def _watchers(self) -> list[Callable[[], Awaitable[None]]]:
        has, ex = self.exchange.has, self.exchange

        async def orders() -> None:
            while True:
                for order in await ex.watch_orders():
                    self._absorb(self.tracker.on_order, order)
                self.flush()

        async def trades() -> None:
            while True:
                for trade in await ex.watch_my_trades():
                    self._absorb(self.tracker.on_trade, trade, self._client_id_of(trade))
                self.flush()

        async def balance() -> None:
            while True:
                self._offer_balance(await ex.watch_balance())

        named = (("watchOrders", orders), ("watchMyTrades", trades), ("watchBalance", balance))
        return [watch for key, watch in named if has.get(key)]

    def _absorb(self, take: Callable[..., Any], *args: Any) -> None:
        """Hand one streamed structure to the tracker; a malformed one is reported, not fatal
        (the REST checks find the order's real state)."""
        try:
            take(*args)
        except convert.MalformedReply as exc:
            self.outbox.status("malformed reply", str(exc))

    def _client_id_of(self, trade: dict[str, Any]) -> str | None:
        """The client id of a streamed trade's order, from ccxt's order cache (the same message
        updated both; the trade itself does not carry it)."""
        cache = getattr(self.exchange, "orders", None)
        hashmap = getattr(cache, "hashmap", None) or {}
        order = (hashmap.get(trade.get("symbol")) or {}).get(trade.get("order"))
        return order.get("clientOrderId") if order else None

    async def _account_stream(self) -> None:
        """Run the account watchers; when one fails, the venue is down until they run again
        (then ``connected`` again, so the node reconciles what passed meanwhile)."""
        delay = 1.0
        while True:
            tasks = [asyncio.ensure_future(watch()) for watch in self._watchers()]
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            error = next(t.exception() for t in done if t.exception() is not None)
            if is_authentication(error):
                self.outbox.disconnected(self._why(error, "account stream"), False)
                return
            self.outbox.disconnected(f"account stream lost: {self.describe(error)}", True)
            while True:
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_RETRY_S)
                try:
                    raw = await self.exchange.fetch_balance()
                except Exception as exc:
                    if is_authentication(exc):
                        self.outbox.disconnected(self._why(exc, "reconnecting"), False)
                        return
                    continue
                break
            delay = 1.0
            self._offer_balance(raw)
            self.outbox.connected(self.capabilities())

    async def _check_orders(self, every_s: float) -> None:
        """Ask the exchange about the open orders now and then: what a stream lost is found.

        One ``fetch_open_orders`` per symbol covers every order still open; only the orders it
        no longer lists (finished meanwhile) are fetched one by one, and those whose fate is
        unknown are looked up by client id."""
        while True:
            await asyncio.sleep(every_s)
            waiting = [
                t
                for t in self.tracker.open_orders()
                if t.client_order_id not in self.in_flight
                and not (self.queue and self.queue.waiting(t.client_order_id))
            ]
            for symbol in sorted({t.order.symbol for t in waiting}):
                try:
                    listed = await self.exchange.fetch_open_orders(symbol)
                    open_ids = {str(o.get("id")) for o in listed}
                    for order in listed:
                        self._absorb(self.tracker.on_order, order)
                    for tracked in waiting:
                        if tracked.order.symbol != symbol or tracked.done:
                            continue
                        if tracked.venue_order_id is None:
                            found = await self.lookup(tracked)
                        elif tracked.venue_order_id not in open_ids:
                            found = await self.exchange.fetch_order(tracked.venue_order_id, symbol)
                        else:
                            continue
                        if found is not None:  # None: still being sent, or left to reconcile
                            self._absorb(self.tracker.on_order, found, tracked.client_order_id)
                except Exception as exc:
                    if classify(exc) is Outcome.RATE_LIMITED:
                        self.rate_limited(exc)
                    log.warning("venue %s: checking orders: %s", self.venue, self.describe(exc))
                self.flush()

    async def _fill_gaps(self) -> None:
        """Fetch the trades of orders the exchange counts more fills for than were received."""
        delay = _GAP_GRACE_S
        while True:
            await self._gap_wakeup.wait()
            self._gap_wakeup.clear()
            await asyncio.sleep(delay)
            for tracked in self.tracker.gaps():
                try:
                    for trade in await self.order_trades(tracked):
                        self.tracker.on_trade(trade, tracked.client_order_id)
                except Exception as exc:
                    log.warning(
                        "venue %s: trades of %s: %s",
                        self.venue,
                        tracked.client_order_id,
                        self.describe(exc),
                    )
                self.flush()
            if self.tracker.gaps():
                delay = min(delay * 2, _MAX_RETRY_S)
                self._gap_wakeup.set()
                names = ", ".join(t.client_order_id for t in self.tracker.gaps())
                self.outbox.status("fills missing", f"{names}: fetching their trades again")
            else:
                delay = _GAP_GRACE_S

    async def order_trades(self, tracked: TrackedOrder) -> list[dict[str, Any]]:
        if tracked.venue_order_id is None:
            return []
        order = tracked.order
        return await self.trades_of(tracked.venue_order_id, order.symbol, order.ts)

    async def trades_of(
        self, venue_order_id: str, symbol: str, ts: int = 0
    ) -> list[dict[str, Any]]:
        """The trades of one order (sent at ``ts`` ns; 0 when not known)."""
        ex = self.exchange
        if ex.has.get("fetchOrderTrades"):
            return await ex.fetch_order_trades(venue_order_id, symbol)
        since = ts // 1_000_000 - 60_000 if ts else None
        trades = await ex.fetch_my_trades(symbol, since)
        return [t for t in trades if str(t.get("order")) == venue_order_id]

    def flush(self) -> None:
        events = self.tracker.take_events()
        if events:
            self.outbox.events(events)
            self._balance_wakeup.set()
            for event in events:
                if isinstance(event, Filled):
                    self._filled_since_balance = True
                    self._published_fills.add((event.client_order_id, event.trade_id))
        if self.tracker.gaps():
            self._gap_wakeup.set()
        self._publish_pending_balance()

    # -- balances -------------------------------------------------------------------------------

    def fill_published(self, client_order_id: str, trade_id: str) -> None:
        """A fill of this venue was published; one this venue did not publish itself (the
        reconciler's, found at a restart) may already be in the balances last passed on: they
        are read again after it."""
        if (client_order_id, trade_id) in self._published_fills:
            return
        self._filled_since_balance = True
        self._balance_wakeup.set()

    def _offer_balance(self, raw: dict[str, Any]) -> None:
        keep = {c for i in self.instruments.values() for c in (i.base, i.quote)}
        self._pending_balance = convert.balances(raw, keep)
        self._publish_pending_balance()

    def _publish_pending_balance(self) -> None:
        """Pass a balance on only when no fill it may include is still to be passed on: the
        ledger replaces its balances by it and then adds the fills that follow."""
        pending = self._pending_balance
        if pending is None or self.in_flight or self.tracker.gaps():
            return
        self._pending_balance = None
        # the same balances again still go out after a fill: the ledger applied the fill to
        # the last ones, which may have included it already
        if pending != self._last_balance or self._filled_since_balance:
            self._last_balance = pending
            self._filled_since_balance = False
            self.outbox.balances(pending)

    async def _refresh_balances(self) -> None:
        """Read the balance over REST after orders changed (coalesced). Without a balance
        stream it is the only source; with one it settles what the stream cannot: a pushed
        balance that overtook a fill it includes (events reordered in transit) is replaced by
        the read that follows the fill."""
        pushed = self.websockets and self.exchange.has.get("watchBalance")
        while True:
            await self._balance_wakeup.wait()
            await asyncio.sleep(_PUSHED_BALANCE_WAIT_S if pushed else _BALANCE_SETTLE_S)
            self._balance_wakeup.clear()
            if pushed and not self._filled_since_balance:
                continue  # the stream's balance followed the last fill: nothing to settle
            try:
                self._offer_balance(await self.exchange.fetch_balance())
            except Exception as exc:
                log.warning("venue %s: balance: %s", self.venue, self.describe(exc))
                await asyncio.sleep(self.config.poll_interval_ms / 1000)
                self._balance_wakeup.set()

    # -- orders ---------------------------------------------------------------------------------

    def _order_args(self, order: SubmitOrder) -> tuple[list[Any], dict[str, Any]] | str:
        """``create_order``'s arguments, or why the order cannot go as it is."""
        ins = self.instruments.get(order.symbol)
        if ins is None:
            return f"{order.symbol} is not one of {self.venue}'s symbols"
        if not ins.tradable:
            return f"{order.symbol} is not tradable on {self.venue}"
        if order.order_type not in ("market", "limit"):
            return f"{order.order_type} orders are not supported by the ccxt venue"
        if order.time_in_force not in self.config.time_in_force:
            return f"time in force {order.time_in_force} is not enabled for {self.venue}"
        ex = self.exchange
        amount = ex.amount_to_precision(order.symbol, float(order.quantity))
        if Decimal(amount) != order.quantity:
            return (
                f"quantity {order.quantity} is not on {order.symbol}'s lot {ins.lot_size} "
                f"(ccxt makes it {amount})"
            )
        price: str | None = None
        if order.order_type == "limit":
            if order.limit_price is None:
                return "a limit order needs a limit price"
            price = ex.price_to_precision(order.symbol, float(order.limit_price))
            if Decimal(price) != order.limit_price:
                return (
                    f"price {order.limit_price} is not on {order.symbol}'s tick {ins.tick_size} "
                    f"(ccxt makes it {price})"
                )
        params: dict[str, Any] = {self.rule.param: order.client_order_id}
        if order.order_type == "limit" and order.time_in_force != "gtc":
            params["timeInForce"] = order.time_in_force.upper()
        if order.post_only:
            params["postOnly"] = True
        if order.reduce_only:
            params["reduceOnly"] = True
        args = [
            order.symbol,
            order.order_type,
            order.side,
            float(amount),
            None if price is None else float(price),
        ]
        return args, params

    async def submit(self, order: SubmitOrder) -> None:
        """Send one order (its events go out through the outbox)."""
        started = time.perf_counter_ns()
        cid = order.client_order_id
        tracked = self.tracker.add(order)
        prepared = self._order_args(order) if self.authenticated else "no credentials"
        if isinstance(prepared, str):
            self.tracker.refused(cid, f"{self.venue}: {prepared}")
            self.flush()
            return
        assert self.queue is not None
        done = self.in_flight[cid] = asyncio.Event()
        ours = time.perf_counter_ns() - started
        try:
            try:
                await self.queue.slot(cid)
            except Withdrawn:
                self.tracker.canceled_unsent(cid, "canceled before it was sent")
                return
            ours += await self._place(tracked, *prepared)
        finally:
            tail = time.perf_counter_ns()
            del self.in_flight[cid]
            done.set()
            self.flush()
            if self.timings is not None:
                self.timings.order_ours_ns.append(ours + time.perf_counter_ns() - tail)

    async def _place(self, tracked: TrackedOrder, args: list[Any], params: dict[str, Any]) -> int:
        """Send until the exchange answers, or the order is known not to be there; returns
        the nanoseconds spent in this adapter's code after the answer (for the benchmark).

        A rate-limited order waits and goes again as often as it takes (it was refused before
        processing, and is looked up first all the same); an order of unknown fate that is not
        found goes again at most ``_MAX_SEND_ATTEMPTS`` times in all."""
        assert self.queue is not None
        cid = tracked.client_order_id
        unanswered = 0
        while True:
            sent = time.perf_counter_ns()
            answered = 0
            try:
                result = await self.exchange.create_order(*args, dict(params))
                answered = time.perf_counter_ns()
                self.tracker.on_order(result, cid, "taker")  # a malformed answer: fate unknown
            except Exception as exc:
                outcome = classify(exc)
                reason = self.describe(exc)
                if outcome in (Outcome.REFUSED, Outcome.NOT_FOUND):
                    self.tracker.refused(cid, f"{self.venue} refused the order: {reason}")
                    return 0
                if outcome is Outcome.RATE_LIMITED:
                    wait_s = self.rate_limited(exc)
                else:
                    unanswered += 1
                    wait_s = self._unknown_wait_s() if outcome is Outcome.UNKNOWN else 0.0
                    self.outbox.status(
                        "order outcome unknown",
                        f"{cid}: {reason}; looking it up by client id in {wait_s:g} s",
                    )
                await asyncio.sleep(wait_s)
                found = await self.lookup_until_answered(tracked)
                if found is not None:
                    self.tracker.on_order(found, cid)
                    self.outbox.status("order found", f"{cid} is at {self.venue}: not sent again")
                    return 0
                if outcome is Outcome.DUPLICATE or (
                    # Without a lookup by client id, an order of unknown fate not among the
                    # open and recent orders is not sent again (it may yet appear there); a
                    # rate-limited one was refused before processing: it waits and goes again.
                    not self.rule.lookup and outcome is not Outcome.RATE_LIMITED
                ):
                    self.tracker.refused(
                        cid,
                        f"not placed at {self.venue} ({reason}) and not found by its client id"
                        + ("" if self.rule.lookup else " among open and recent orders"),
                    )
                    return 0
                if unanswered >= _MAX_SEND_ATTEMPTS:
                    self.tracker.refused(
                        cid,
                        f"not placed at {self.venue}: {unanswered} attempts unanswered, the "
                        f"last {reason}; not found by its client id",
                    )
                    return 0
                await self.queue.slot(cid, front=True)
                continue
            if self.timings is not None:
                self.timings.order_wire_ns.append(answered - sent)
            self.queue.went_through()
            return time.perf_counter_ns() - answered

    def _unknown_wait_s(self) -> float:
        """How long before an order of unknown fate is looked up (see the config)."""
        wait = self.config.unknown_order_wait_ms
        if wait is None:
            window = self.exchange.options.get("recvWindow")
            wait = float(window) if isinstance(window, int | float) else _DEFAULT_UNKNOWN_WAIT_MS
        return wait / 1000

    async def lookup(self, tracked: TrackedOrder) -> dict[str, Any] | None:
        """The exchange's order with this client id, or None when it has none."""
        order = tracked.order
        return await self.find_order(order.client_order_id, order.symbol, order.ts)

    async def find_order(self, cid: str, symbol: str, ts: int = 0) -> dict[str, Any] | None:
        """The exchange's order with client id ``cid`` in ``symbol`` (sent at ``ts`` ns; 0 when
        not known), or None when it has none."""
        ex = self.exchange
        if self.rule.lookup:
            try:
                return await ex.fetch_order_with_client_order_id(cid, symbol)
            except Exception as exc:
                if classify(exc) is Outcome.NOT_FOUND:
                    return None
                raise
        for order in await ex.fetch_open_orders(symbol):
            if order.get("clientOrderId") == cid:
                return order
        if ex.has.get("fetchClosedOrders"):
            since = ts // 1_000_000 - 60_000 if ts else None
            for order in await ex.fetch_closed_orders(symbol, since):
                if order.get("clientOrderId") == cid:
                    return order
        return None

    async def lookup_until_answered(self, tracked: TrackedOrder) -> dict[str, Any] | None:
        """Look the order up until the exchange answers (found or not): while its fate is
        unknown nothing else may happen to it."""
        delay = 1.0
        while True:
            try:
                return await self.lookup(tracked)
            except Exception as exc:
                if classify(exc) is Outcome.RATE_LIMITED:
                    delay = max(delay, self.rate_limited(exc))
                self.outbox.status(
                    "order outcome unknown",
                    f"{tracked.client_order_id}: lookup failed ({self.describe(exc)}); "
                    f"again in {delay:g} s",
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_RETRY_S)

    async def cancel(self, command: CancelOrder) -> None:
        cid = command.client_order_id
        tracked = self.tracker.get(cid)
        if tracked is None:
            self.outbox.cancel_rejected(cid, f"no open order {cid} at {self.venue}")
            return
        assert self.queue is not None
        if self.queue.remove(cid):
            return  # its submit closes it as canceled before it was sent
        sending = self.in_flight.get(cid)
        if sending is not None:
            await sending.wait()
        if self.tracker.get(cid) is None:
            self.outbox.cancel_rejected(cid, f"{cid} finished at {self.venue} before the cancel")
            return
        delay, reason = 0.5, ""
        for _ in range(_MAX_CANCEL_ATTEMPTS):
            try:
                if tracked.venue_order_id:
                    answer = await self.exchange.cancel_order(
                        tracked.venue_order_id, tracked.order.symbol
                    )
                else:
                    answer = await self.exchange.cancel_order_with_client_order_id(
                        cid, tracked.order.symbol
                    )
            except Exception as exc:
                outcome, reason = classify(exc), self.describe(exc)
                if outcome in (Outcome.NOT_FOUND, Outcome.REFUSED):
                    # finished (or never there): its real state says which
                    found = await self.lookup_until_answered(tracked)
                    if found is not None:
                        self.tracker.on_order(found, cid)
                    else:
                        self.tracker.refused(cid, f"not at {self.venue} ({reason})")
                    self.flush()
                    if self.tracker.get(cid) is not None:
                        self.outbox.cancel_rejected(cid, f"{self.venue}: {reason}")
                    return
                if outcome is Outcome.RATE_LIMITED:
                    delay = max(delay, self.rate_limited(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_RETRY_S)
                continue
            if answer.get("status") is None:
                answer = await self.lookup_until_answered(tracked) or answer
            self.tracker.on_order(answer, cid)
            self.flush()
            return
        self.outbox.cancel_rejected(
            cid, f"cancel not confirmed after {_MAX_CANCEL_ATTEMPTS} attempts: {reason}"
        )

    # -- reconciliation -------------------------------------------------------------------------

    async def reconcile(self, request: ReconcileVenue) -> VenueReconciled:
        """What the exchange knows (``reconciliation.answer``), taken in by the tracker."""
        answer = await reconciliation.answer(self, request)
        self._last_balance = answer.balances  # the reconciler publishes them
        self.tracker.absorb(answer)
        self.flush()
        return answer
