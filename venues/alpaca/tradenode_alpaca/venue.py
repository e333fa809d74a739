"""The Alpaca venue: U.S. stocks, paper or live, through alpaca-py.

The node's child orders go to Alpaca's trading API with the node's client order id; their story
comes back on the ``trade_updates`` stream and, when that stream was down (Alpaca does not
replay it), from REST: see ``tracking``. Alpaca's REST client is blocking, so its calls run in a
small thread pool driven from the venue's event loop; the streams run on that loop.

Before an order leaves, what Alpaca would refuse is refused here with the reason: prices off
Alpaca's tick, fractions of a stock that is not fractionable, a sell beyond the position of a
stock Alpaca does not let the account sell short, and any order outside the regular session
unless extended hours are on (then only DAY limit orders, as Alpaca allows). Alpaca's
own refusals (buying power, quantity held) come back with its words and numbers.

The venue is up while both the ``trade_updates`` stream and the REST API answer. When either is
lost it says so (``reconnecting``) and refuses orders; when both are back it says ``connected``
again, the node asks ``reconcile``, and the answer comes from REST: open orders, the orders the
journal left unresolved, their FILL activities, positions and the account.

Books: from Alpaca's own quotes (``market_data = "iex"`` or ``"sip"``) as L1, or written by
another plugin (``"external"``: Polygon).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import msgspec

from node.component import Envelope, decode_state, encode_state
from node.messages import (
    Balance,
    BookLevel,
    BookSnapshot,
    CancelOrder,
    Instrument,
    ReconcileVenue,
    SubmitOrder,
    TimerFired,
    TradeTick,
    VenueCapabilities,
    VenueReconciled,
)
from node.runtime.base import describe_error
from node.venue import VenueSetup, aggressor
from node.venue_loop import AsyncVenue
from tradenode_alpaca.config import AlpacaConfig
from tradenode_alpaca.instruments import QUOTE, stock_instrument, tick_for
from tradenode_alpaca.orders import check_order, check_session, check_short_sale, order_body
from tradenode_alpaca.reports import (
    amount,
    balances,
    fill_report,
    order_report,
    position_reports,
)
from tradenode_alpaca.session import MarketClock
from tradenode_alpaca.tracking import OrderTracker, TrackedOrder

log = logging.getLogger("tradenode.alpaca")
T = TypeVar("T")
_S = 1_000_000_000
_HOUSEKEEPING = "alpaca.housekeeping"
_HOUSEKEEPING_NS = 5 * _S
_BALANCES_EVERY_NS = 60 * _S
_FILLS = "alpaca.fills"
_RECONCILE = "alpaca.reconcile"
_RECONCILE_TRIES = 4
_REST_WORKERS = 4


class _Saved(msgspec.Struct):
    """The venue's part of a checkpoint."""

    parents: dict[str, str | None]
    orders: list[TrackedOrder]


@dataclass(frozen=True)
class _Reconciliation:
    """What REST said for one ``ReconcileVenue``."""

    open_orders: list[dict[str, Any]]
    queried: dict[str, dict[str, Any]]
    unknown: list[str]
    fills: list[dict[str, Any]]
    account: dict[str, Any]
    positions: list[dict[str, Any]]


def _account_problem(account: dict[str, Any]) -> str | None:
    flags = [
        name
        for name in ("trading_blocked", "account_blocked", "trade_suspended_by_user")
        if account.get(name)
    ]
    status = str(account.get("status", ""))
    if status != "ACTIVE" or flags:
        number = account.get("account_number", "?")
        return f"Alpaca account {number} cannot trade: " + ", ".join([f"status {status}", *flags])
    return None


def _created(order: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(order["created_at"]).replace("Z", "+00:00"))


def _quote_level(price: Any, size: Any) -> list[BookLevel]:
    """One side of a quote as a book level (a zero price or size is an empty side). Alpaca's
    stream sends prices as binary floats: their shortest decimal form is the price."""
    if not price or not size:
        return []
    return [BookLevel(Decimal(str(price)), Decimal(str(size)))]


class AlpacaVenue(AsyncVenue):
    """One Alpaca account; see the module docstring."""

    capabilities = VenueCapabilities(
        order_types=("market", "limit", "stop", "stop_limit"),
        time_in_force=("day", "gtc", "ioc", "fok", "opg", "cls"),
        post_only=False,
        client_id_max_length=128,
        client_id_chars="A-Za-z0-9._:-",
        reconciles=True,
    )

    def __init__(self, name: str, config: AlpacaConfig, setup: VenueSetup) -> None:
        super().__init__(name, config, setup)
        self.config: AlpacaConfig = config
        self.tracker = OrderTracker(name, self)
        self.assets: dict[str, dict[str, Any]] = {}
        self.instruments: dict[str, Instrument] = {}
        self.balances: dict[str, Balance] = {}
        #: the account's ``shorting_enabled``, as last read
        self.shorting_enabled = False
        self.clock: MarketClock | None = None
        self.started = False
        self.stream_up = False
        self.stream_reason = "trade_updates stream not connected yet"
        self.rest_trouble: str | None = None
        # What happened since a REST read began: a read older than a change is not published.
        self._activity = 0
        self._executions: Counter[str] = Counter()
        self._reading_balances = False
        self._balances_read_ns = 0
        self.rest: Any = None
        self.pool: ThreadPoolExecutor | None = None
        self.streams: list[tuple[Any, asyncio.Task[Any]]] = []
        self.closed = False

    def restore(self, history: Iterable[Envelope]) -> None:
        history = list(history)
        super().restore(history)
        self.tracker.restore(history, self.name)

    def checkpoint(self) -> bytes | None:
        """The open orders' parents and what the node has been told of each (a placing or a
        wait for fills is not kept: the reconciliation after a start settles them)."""
        orders = [replace(o, placing=False, held=None) for o in self.tracker.working()]
        return encode_state(_Saved(parents=self.parents, orders=orders))

    def restore_checkpoint(self, state: bytes) -> None:
        saved = decode_state(state, _Saved)
        self.parents = saved.parents
        self.tracker.orders = {o.client_order_id: o for o in saved.orders}

    # -- connecting (on the venue's loop) -------------------------------------------------------

    async def _call(self, fn: Any, *args: Any) -> Any:
        """A blocking REST call in the venue's worker threads."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    async def connect_async(self) -> None:
        from node.config import secret
        from tradenode_alpaca.rest import AlpacaRest
        from tradenode_alpaca.streams import MarketData, TradeUpdates

        cfg = self.config
        key, secret_key = secret(cfg.key_env), secret(cfg.secret_env)
        self.pool = ThreadPoolExecutor(_REST_WORKERS, thread_name_prefix=f"{self.venue}-rest")
        self.rest = AlpacaRest(key, secret_key, cfg)
        account, positions, clock, *assets = await asyncio.gather(
            self._call(self.rest.account),
            self._call(self.rest.positions),
            self._call(self.rest.clock),
            *(self._call(self.rest.asset, symbol) for symbol in cfg.symbols),
        )
        problem = _account_problem(account)
        if problem is not None:
            raise ConnectionError(problem)
        missing = [s for s, asset in zip(cfg.symbols, assets, strict=True) if asset is None]
        if missing:
            raise LookupError(f"Alpaca lists no asset {', '.join(missing)}")
        prices = {str(p["symbol"]): amount(p.get("current_price")) for p in positions}
        instruments = [
            stock_instrument(
                self.venue,
                asset,
                fractional=cfg.fractional,
                reference=prices.get(asset["symbol"]) or None,
            )
            for asset in assets
        ]
        self.clock = clock
        self.post(lambda: self._loaded(assets, instruments, account, positions))

        connected = asyncio.Event()

        def trade_stream_up() -> None:
            connected.set()
            self.post(self._stream_connected)

        trades = TradeUpdates(
            key.reveal(),
            secret_key.reveal(),
            url=cfg.trade_stream_url,
            on_update=lambda data: self.post(lambda: self.tracker.update(data)),
            on_up=trade_stream_up,
            on_down=lambda why: self.post(lambda: self._stream_lost(f"trade_updates {why}")),
        )
        self._run_stream(trades, "trade_updates")
        try:
            await asyncio.wait_for(connected.wait(), cfg.connect_timeout_s)
        except TimeoutError:
            await self.disconnect_async()
            raise ConnectionError(
                f"Alpaca's trade_updates stream did not connect within {cfg.connect_timeout_s:g} s"
                f" ({trades.last_error or 'no answer'})"
            ) from None
        if cfg.market_data != "external":
            data = MarketData(
                key.reveal(),
                secret_key.reveal(),
                url=cfg.market_data_url,
                feed=cfg.market_data,
                symbols=list(cfg.symbols),
                on_message=lambda m: self.post(lambda: self._market_data(m)),
                on_up=lambda: self.post(lambda: self.status("market data connected")),
                on_down=lambda why: self.post(lambda: self.status("market data lost", why)),
            )
            self._run_stream(data, "market data")
        self.post(self._started)

    def _run_stream(self, stream: Any, what: str) -> None:
        task = asyncio.get_running_loop().create_task(stream._run_forever())

        def ended(t: asyncio.Task[Any]) -> None:
            if t.cancelled():
                return
            error = t.exception()
            detail = describe_error(error) if error is not None else stream.last_error
            self.post(lambda: self.status(f"{what} stopped", detail or "the stream ended"))

        task.add_done_callback(ended)
        self.streams.append((stream, task))

    async def disconnect_async(self) -> None:
        self.closed = True
        streams, self.streams = self.streams, []
        for stream, task in streams:
            await stream.shutdown(task)
        if self.rest is not None:
            self.rest.close()
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)

    # -- connection state (on the component's thread) -------------------------------------------

    def _loaded(
        self,
        assets: list[dict[str, Any]],
        instruments: list[Instrument],
        account: dict[str, Any],
        positions: list[dict[str, Any]],
    ) -> None:
        self.assets = {str(a["symbol"]): a for a in assets}
        self.instruments = {i.symbol: i for i in instruments}
        self.instruments_loaded(instruments)
        self._publish_balances(account, positions)

    def _started(self) -> None:
        self.started = True
        self._link()
        self.ctx.schedule(_HOUSEKEEPING_NS, _HOUSEKEEPING, background=True)

    def _link(self) -> None:
        """Up when the stream and REST both answer; say so when that changes."""
        if not self.started:
            return
        trouble = self.stream_reason if not self.stream_up else self.rest_trouble
        if trouble is None and not self.up:
            self.connected(self.capabilities)
            self._read_balances()
        elif trouble is not None and self.up:
            self.disconnected(trouble, reconnecting=True)

    def _stream_connected(self) -> None:
        self.stream_up = True
        self._link()

    def _stream_lost(self, reason: str) -> None:
        self.stream_up, self.stream_reason = False, reason
        self._link()

    def _rest_failed(self, reason: str) -> None:
        log.error("%s: %s", self.venue, reason)
        if self.rest_trouble is not None:
            return
        self.rest_trouble = reason
        self._link()
        self.run_async(self._rest_probe(), then=lambda _: self._rest_back())

    async def _rest_probe(self) -> None:
        delay = 0.5
        while True:
            await asyncio.sleep(delay)
            try:
                self.clock = await self._call(self.rest.clock)
                return
            except Exception as exc:
                log.warning("%s: REST still unreachable: %s", self.venue, describe_error(exc))
                delay = min(delay * 2, 30.0)

    def _rest_back(self) -> None:
        self.rest_trouble = None
        self._link()

    # -- orders ---------------------------------------------------------------------------------

    def submit(self, order: SubmitOrder) -> None:
        cid = order.client_order_id
        if cid in self.tracker.orders:
            self.status("duplicate order ignored", f"{cid} was already sent to Alpaca")
            return
        instrument = self.instruments.get(order.symbol)
        if instrument is None:
            traded = ", ".join(self.instruments)
            self.rejected(cid, f"{order.symbol} is not traded on {self.venue} (it trades {traded})")
            return
        fractionable = bool(self.assets[order.symbol].get("fractionable"))
        why = check_order(order, instrument, fractionable=fractionable)
        if why is None:
            why = self._check_short_sale(order)
        if why is not None:
            self.rejected(cid, why)
            return
        self._activity += 1
        self.tracker.track(order)
        self.run_async(
            self._place(order),
            then=lambda outcome: self._placed(cid, outcome),
            failed=lambda exc: self._placed(cid, ("unknown", describe_error(exc))),
        )

    def _check_short_sale(self, order: SubmitOrder) -> str | None:
        """A sell beyond the position (fills included, less what open sells hold) is a short
        sale: refused here when Alpaca would refuse it."""
        if order.side != "sell":
            return None
        position = self.balances.get(order.symbol)
        selling = sum(
            (
                o.quantity - o.filled
                for o in self.tracker.working()
                if o.symbol == order.symbol and o.side == "sell"
            ),
            Decimal(0),
        )
        return check_short_sale(
            order,
            self.assets[order.symbol],
            held=position.total if position is not None else Decimal(0),
            selling=selling,
            shorting_enabled=self.shorting_enabled,
        )

    async def _market_clock(self) -> MarketClock:
        clock = self.clock
        if clock is None or clock.stale(self.config.clock_refresh_s):
            clock = await self._call(self.rest.clock)
            self.clock = clock
        return clock

    async def _place(self, order: SubmitOrder) -> tuple[str, Any]:
        """("placed", Alpaca's order), ("refused", why) or ("unknown", why): whether Alpaca
        has the order is not known (no answer, and it could not be looked up)."""
        from tradenode_alpaca.rest import refusal

        try:
            clock = await self._market_clock()
        except Exception as exc:
            return "refused", f"cannot read Alpaca's market clock: {_what(exc)}"
        why, extended = check_session(
            order, clock.session(), clock, extended_hours=self.config.extended_hours
        )
        if why is not None:
            return "refused", why
        try:
            placed, existed = await self._call(
                self.rest.place, order_body(order, extended_hours=extended)
            )
        except Exception as exc:
            error = refusal(exc)
            if error is not None and error.status is not None and _definite(error.status):
                return "refused", f"Alpaca refused the order: {error}"
            try:
                found = await self._call(self.rest.order_by_client_id, order.client_order_id)
            except Exception as lookup:
                return (
                    "unknown",
                    f"placing failed ({_what(exc)}), looking it up too ({_what(lookup)})",
                )
            if found is None:
                return "refused", f"not placed: {_what(exc)}"
            placed, existed = found, True
        if existed and not _same_order(placed, order):
            return "refused", (
                f"client order id {order.client_order_id} is already used at Alpaca by another "
                f"order ({placed['side']} {placed.get('qty')} {placed['symbol']})"
            )
        return "placed", placed

    def _placed(self, cid: str, outcome: tuple[str, Any]) -> None:
        kind, detail = outcome
        order = self.tracker.orders.get(cid)
        if order is None:
            return
        order.placing = False
        if kind == "refused":
            self.tracker.forget(cid)
            self.rejected(cid, detail)
            self._read_balances()
        elif kind == "unknown":
            # Reconnecting reconciles: the node asks, REST tells whether Alpaca has it.
            self._rest_failed(f"cannot tell whether order {cid} reached Alpaca: {detail}")
        else:
            self.tracker.snapshot(detail)
            if order.cancel_reason is not None and order.working:
                self._send_cancel(order)

    def cancel(self, command: CancelOrder) -> None:
        cid = command.client_order_id
        order = self.tracker.orders.get(cid)
        if order is None:
            self.cancel_rejected(cid, f"no open order {cid} at {self.venue}")
            return
        order.cancel_reason = command.reason or "canceled"
        if not order.placing:  # else sent once Alpaca has answered the order
            self._send_cancel(order)

    def _send_cancel(self, order: TrackedOrder) -> None:
        cid = order.client_order_id
        self.run_async(
            self._cancel_at_alpaca(cid, order.venue_order_id),
            failed=lambda exc: self._cancel_failed(cid, exc),
        )

    async def _cancel_at_alpaca(self, cid: str, venue_order_id: str) -> None:
        if not venue_order_id:
            found = await self._call(self.rest.order_by_client_id, cid)
            if found is None:
                raise LookupError(f"Alpaca has no order with client order id {cid}")
            venue_order_id = str(found["id"])
        await self._call(self.rest.cancel, venue_order_id)

    def _cancel_failed(self, cid: str, exc: BaseException) -> None:
        if cid not in self.tracker.orders:
            return  # it ended meanwhile, and its final event said how
        self.cancel_rejected(cid, f"Alpaca did not cancel it: {_what(exc)}")

    # -- what the tracker asks for --------------------------------------------------------------

    def fetch_fills(self, order: TrackedOrder, attempt: int = 0) -> None:
        cid = order.client_order_id
        self.run_async(
            self._order_fills(cid, order.venue_order_id, order.created_at),
            then=lambda rows: self._fills_arrived(cid, rows, attempt),
            failed=lambda exc: self._fills_later(cid, attempt, describe_error(exc)),
        )

    async def _order_fills(
        self, cid: str, venue_order_id: str, created_at: str
    ) -> list[dict[str, Any]]:
        if not venue_order_id or not created_at:
            found = await self._call(self.rest.order_by_client_id, cid)
            if found is None:
                raise LookupError(f"Alpaca has no order with client order id {cid}")
            venue_order_id, created_at = str(found["id"]), str(found["created_at"])
        return await self._call(
            self.rest.fills, _created({"created_at": created_at}), {venue_order_id}
        )

    def _fills_arrived(self, cid: str, rows: list[dict[str, Any]], attempt: int) -> None:
        if not self.tracker.fills_fetched(cid, rows):
            self._fills_later(cid, attempt, "Alpaca's FILL activities do not show every fill yet")

    def _fills_later(self, cid: str, attempt: int, why: str) -> None:
        order = self.tracker.orders.get(cid)
        if order is None or order.held is None:
            return
        if attempt >= 5:
            self.status("fills missing", f"{cid}: {why}; asking again")
        delay_s = min(0.2 * 2**attempt, 10.0)
        self.ctx.schedule(int(delay_s * _S), _FILLS, (cid, attempt + 1))

    def executed(self, order: TrackedOrder, price: Decimal, quantity: Decimal) -> None:
        """The account moves as Alpaca's does on a fill (no commission) until REST is read."""
        self._activity += 1
        self._executions[order.symbol] += 1
        signed = quantity if order.side == "buy" else -quantity
        zero = Balance(total=Decimal(0), free=Decimal(0))
        cash = self.balances.get(QUOTE, zero)
        shares = self.balances.get(order.symbol, zero)
        self.balances[QUOTE] = Balance(
            total=cash.total - signed * price, free=cash.free - signed * price
        )
        self.balances[order.symbol] = Balance(
            total=shares.total + signed, free=shares.free + signed
        )
        self.balances_updated(dict(self.balances))

    def order_done(self, order: TrackedOrder) -> None:
        self._read_balances()

    # -- balances -------------------------------------------------------------------------------

    def _publish_balances(self, account: dict[str, Any], positions: list[dict[str, Any]]) -> None:
        self.shorting_enabled = bool(account.get("shorting_enabled"))
        self.balances = balances(account, positions, self.config.symbols, margin=self.config.margin)
        self._balances_read_ns = self.ctx.now()
        self.balances_updated(dict(self.balances))

    def _read_balances(self) -> None:
        """Read the account when no order is working: then no fill can be on its way, and
        what REST says is exactly what the published fills add up to."""
        if self._reading_balances or self.tracker.working() or self.closed:
            return
        self._reading_balances = True
        activity = self._activity

        async def read() -> tuple[Any, Any]:
            return await asyncio.gather(
                self._call(self.rest.account), self._call(self.rest.positions)
            )

        def done(state: tuple[Any, Any]) -> None:
            self._reading_balances = False
            if activity == self._activity and not self.tracker.working():
                self._publish_balances(*state)

        def failed(exc: BaseException) -> None:
            self._reading_balances = False
            log.warning("%s: reading balances: %s", self.venue, describe_error(exc))

        self.run_async(read(), then=done, failed=failed)

    # -- reconciliation -------------------------------------------------------------------------

    def reconcile(self, request: ReconcileVenue, attempt: int = 0) -> None:
        placing = {o.client_order_id for o in self.tracker.working() if o.placing}
        # Orders still being placed are left out: not found yet is not "never reached Alpaca".
        wanted = set(request.client_order_ids) | {o.client_order_id for o in self.tracker.working()}
        asked = sorted(wanted - placing)
        executions, activity = dict(self._executions), self._activity
        self.run_async(
            self._reconciliation(asked),
            then=lambda answer: self._reconciled(answer, executions, activity),
            failed=lambda exc: self._reconcile_failed(request, attempt, exc),
        )

    async def _reconciliation(self, asked: list[str]) -> _Reconciliation:
        symbols = set(self.config.symbols)
        listed = await self._call(self.rest.open_orders)
        open_orders = [o for o in listed if o["symbol"] in symbols]
        found = await asyncio.gather(
            *(self._call(self.rest.order_by_client_id, cid) for cid in asked)
        )
        queried = {cid: o for cid, o in zip(asked, found, strict=True) if o is not None}
        unknown = [cid for cid, o in zip(asked, found, strict=True) if o is None]
        relevant = {str(o["id"]): o for o in [*open_orders, *queried.values()]}
        fills: list[dict[str, Any]] = []
        if relevant:
            since = min(_created(o) for o in relevant.values())
            fills = await self._call(self.rest.fills, since, set(relevant))
        account, positions = await asyncio.gather(
            self._call(self.rest.account), self._call(self.rest.positions)
        )
        return _Reconciliation(open_orders, queried, unknown, fills, account, positions)

    def _reconciled(
        self, answer: _Reconciliation, executions: dict[str, int], activity: int
    ) -> None:
        # Nothing moved while REST was read: the account it read is what the fills add up to.
        unmoved = activity == self._activity
        orders = {str(o["client_order_id"]): o for o in answer.open_orders}
        orders.update(answer.queried)
        client_id = {str(o["id"]): cid for cid, o in orders.items()}
        fills_of: dict[str, list[dict[str, Any]]] = {}
        for row in answer.fills:
            fills_of.setdefault(client_id[str(row["order_id"])], []).append(row)
        # What the node was not told yet is told now, before the answer: the reconciler then
        # finds it in the journal and publishes nothing twice.
        listed = {str(o["client_order_id"]) for o in answer.open_orders}
        for cid, order_json in orders.items():
            tracked = self.tracker.orders.get(cid)
            if tracked is not None:
                self.tracker.apply_fills(tracked, fills_of.get(cid, []))
                self.tracker.snapshot(order_json)
            elif cid not in self.parents and cid in listed:
                self.tracker.adopt(order_json, fills_of.get(cid, []))
        for cid in answer.unknown:
            self.tracker.forget(cid)  # the reconciler closes it: it never reached Alpaca
        self.shorting_enabled = bool(answer.account.get("shorting_enabled"))
        busy = {o.symbol for o in self.tracker.working()}
        # A position moved by a fill published after REST was read would not match the journal.
        settled = [
            s
            for s in self.config.symbols
            if s not in busy and executions.get(s, 0) == self._executions[s]
        ]
        # The reconciler passes the answer's balances on after its fills: only balances no
        # working order can have moved since, else none (they are read once the orders end).
        quiet = unmoved and not busy and not answer.open_orders
        self.ctx.publish(
            VenueReconciled(
                venue=self.venue,
                open_orders=[order_report(o) for o in answer.open_orders],
                queried=[order_report(o) for o in answer.queried.values()],
                unknown=answer.unknown,
                fills=[fill_report(r, client_id[str(r["order_id"])]) for r in answer.fills],
                balances=(
                    balances(
                        answer.account,
                        answer.positions,
                        self.config.symbols,
                        margin=self.config.margin,
                    )
                    if quiet
                    else {}
                ),
                positions=position_reports(answer.positions, settled),
                ts=self.ctx.now(),
            )
        )
        self._read_balances()

    def _reconcile_failed(self, request: ReconcileVenue, attempt: int, exc: BaseException) -> None:
        if attempt + 1 < _RECONCILE_TRIES:
            log.warning("%s: reconciling: %s; again", self.venue, describe_error(exc))
            delay = int(2**attempt * _S)
            self.ctx.schedule(delay, _RECONCILE, (request, attempt + 1))
            return
        self.ctx.publish(
            VenueReconciled(
                venue=self.venue,
                error=f"Alpaca's REST API did not answer: {_what(exc)}",
                ts=self.ctx.now(),
            )
        )

    # -- market data and timers -----------------------------------------------------------------

    def _market_data(self, message: dict[str, Any]) -> None:
        symbol = message.get("S")
        if symbol not in self.instruments:
            return
        now = self.ctx.now()
        kind = message.get("T")
        if kind == "q":
            snapshot = BookSnapshot(
                venue=self.venue,
                symbol=symbol,
                bids=_quote_level(message.get("bp"), message.get("bs")),
                asks=_quote_level(message.get("ap"), message.get("as")),
                ts=now,
            )
            self.book(symbol).apply(snapshot, now)
            self.ctx.publish(snapshot)
            self._check_bands([symbol])
        elif kind == "t" and message.get("p"):
            price = Decimal(str(message["p"]))
            taker = aggressor(price, *self.book(symbol).top())
            self.ctx.publish(
                TradeTick(
                    venue=self.venue,
                    symbol=symbol,
                    price=price,
                    size=Decimal(str(message.get("s", 0))),
                    aggressor=taker,
                    trade_id=str(message.get("i", "")),
                    ts=now,
                )
            )

    def _check_bands(self, symbols: list[str]) -> None:
        """Alpaca's tick depends on the price: an instrument whose book has moved across $1 is
        published again with the tick of its new band."""
        changed = False
        for symbol in symbols:
            instrument = self.instruments.get(symbol)
            book = self.market.existing_book(self.venue, symbol)
            mid = book.mid() if book is not None else None
            if instrument is None or mid is None or tick_for(mid) == instrument.tick_size:
                continue
            self.instruments[symbol] = msgspec.structs.replace(instrument, tick_size=tick_for(mid))
            changed = True
        if changed:
            self.instruments_loaded(list(self.instruments.values()))

    def on_other(self, message: Any) -> None:
        if message.__class__ is not TimerFired:
            return
        if message.name == _HOUSEKEEPING:
            self._housekeeping()
        elif message.name == _FILLS:
            cid, attempt = message.payload
            order = self.tracker.orders.get(cid)
            if order is not None and order.held is not None:
                self.fetch_fills(order, attempt)
        elif message.name == _RECONCILE:
            request, attempt = message.payload
            self.reconcile(request, attempt)

    def _housekeeping(self) -> None:
        if self.closed:
            return
        self._check_bands(list(self.instruments))
        if self.up and self.ctx.now() - self._balances_read_ns >= _BALANCES_EVERY_NS:
            self._read_balances()
        clock = self.clock
        if self.up and (clock is None or clock.stale(self.config.clock_refresh_s)):
            self.run_async(self._market_clock(), failed=lambda exc: None)
        self.ctx.schedule(_HOUSEKEEPING_NS, _HOUSEKEEPING, background=True)


def _definite(status: int) -> bool:
    """A refusal that says the order was not taken (not a timeout, throttle or server error)."""
    return 400 <= status < 500 and status not in (408, 429)


def _same_order(found: dict[str, Any], order: SubmitOrder) -> bool:
    return (
        found.get("symbol") == order.symbol
        and found.get("side") == order.side
        and amount(found.get("qty")) == order.quantity
    )


def _what(exc: BaseException) -> str:
    from tradenode_alpaca.rest import refusal

    error = refusal(exc)
    return str(error) if error is not None else describe_error(exc)
