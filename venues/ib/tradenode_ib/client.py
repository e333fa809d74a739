"""The ib_async side of the venue: one ``ib_async.IB`` on the venue's event loop, kept connected.

Everything here runs on the venue's loop. ``IbClient.run`` connects (failing fast on a client id
already in use instead of waiting out ib_async's timeout), loads the contracts, subscribes to
market data and then watches the connection: a closed socket or a TWS that stops answering the
heartbeat ends the session, and it connects again with backoff until stopped. What ib_async
reports is copied into plain snapshots (``tradenode_ib.snapshots``) and handed to ``events``;
only the handlers attached after a connection's start-up sync report anything live, so what
happened while the node was away comes out once, through reconciliation.

Frames ib_async cannot read (unknown message ids, missing or garbled fields) are logged with the
frame and reported; the connection carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from ib_async import IB, Contract, ContractDetails, ExecutionFilter, Fill, Order, Ticker, Trade
from ib_async.util import UNSET_DOUBLE

from node.messages import BookLevel, Instrument
from node.runtime.base import describe_error
from tradenode_ib import codes
from tradenode_ib.config import MARKET_DATA_TYPES, IbVenueConfig
from tradenode_ib.orders import OrderRequest
from tradenode_ib.snapshots import (
    AccountSnapshot,
    ExecutionSnapshot,
    MarketUpdate,
    OrderSnapshot,
    ReconcileSnapshot,
    Session,
    exact,
    on_tick,
)

log = logging.getLogger("tradenode.venue.ib")

_ASSET_CLASS = {"STK": "stock", "FUT": "future", "CASH": "fx"}
#: account-level values worth carrying (in the account's base currency)
SUMMARY_TAGS = frozenset(
    {
        "NetLiquidation",
        "TotalCashValue",
        "BuyingPower",
        "AvailableFunds",
        "ExcessLiquidity",
        "EquityWithLoanValue",
        "GrossPositionValue",
        "InitMarginReq",
        "MaintMarginReq",
    }
)
#: TWS's account time message: the last of a batch of account updates
_ACCOUNT_TIME = 8
#: tick types of a trade print: last (4) and delayed last (68)
_TRADE_TICKS = frozenset({4, 68})
#: executions are asked for from this long before the point the node asks about (clock skew)
_EXECUTIONS_MARGIN_NS = 600 * 1_000_000_000
_FRAME_SHOWN = 500


class ClientEvents(Protocol):
    """Where the client reports; called on the loop (implementations hand over to the
    component's thread)."""

    def session_started(self, session: Session) -> None: ...

    def session_down(self, reason: str) -> None: ...

    def order_changed(self, order: OrderSnapshot) -> None: ...

    def executed(self, execution: ExecutionSnapshot) -> None: ...

    def account_changed(self, account: AccountSnapshot) -> None: ...

    def market(self, updates: list[MarketUpdate]) -> None: ...

    def notice(self, req_id: int, code: int, message: str, order_ref: str) -> None: ...

    def unreadable(self, frame: str, error: str) -> None: ...


class NotSent(ConnectionError):
    """An order or cancel that never left the process (no connection to TWS)."""


class IbClient:
    """One IB API connection for one venue; see the module docstring."""

    def __init__(self, config: IbVenueConfig, venue: str, events: ClientEvents) -> None:
        self.config = config
        self.venue = venue
        self.events = events
        self.ib: IB | None = None
        self.account = config.account
        self.contracts: dict[str, Contract] = {}  # canonical symbol → qualified contract
        self.symbols: dict[int, str] = {}  # conId → canonical symbol
        self.ticks: dict[str, Decimal] = {}
        self._depth: set[str] = set()
        self._shown: dict[str, tuple[list[BookLevel], list[BookLevel]]] = {}
        self._dirty_orders: dict[int, Trade] = {}
        self._errors: dict[int, tuple[int, str]] = {}  # orderId → last TWS error for it
        self._account_dirty = False
        self._account_batch_end = False
        self._listening = False
        self._lost = asyncio.Event()
        self._lost_reason = ""
        self._stopping = False

    # -- the connection's life ------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, and connect again with backoff whenever the session ends, until stopped."""
        policy = self.config.reconnect
        delay = policy.initial_s
        while not self._stopping:
            try:
                session = await self._connect()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._close()
                if self._stopping:
                    return
                reason = _reason(exc, self.config)
                log.warning("venue %s: %s; next attempt in %.1f s", self.venue, reason, delay)
                self.events.session_down(reason)
                await asyncio.sleep(delay)
                delay = min(delay * 2, policy.max_s)
                continue
            delay = policy.initial_s
            self.events.session_started(session)
            await self._watch()
            if self._stopping:
                return
            log.warning("venue %s: %s; reconnecting", self.venue, self._lost_reason)
            self.events.session_down(self._lost_reason)

    async def close(self) -> None:
        self._stopping = True
        self._close()

    def _close(self) -> None:
        ib, self.ib = self.ib, None
        if ib is not None:
            ib.disconnectedEvent.clear()
            ib.disconnect()

    async def _watch(self) -> None:
        """Until the session ends: a closed socket, or no answer to the heartbeat."""
        every = self.config.heartbeat_s
        while not self._lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), every)
                return
            ib = self.ib
            if ib is None:
                return
            try:
                await asyncio.wait_for(ib.reqCurrentTimeAsync(), every)
            except (TimeoutError, ConnectionError) as exc:
                self._end(f"TWS did not answer the heartbeat within {every:g} s ({exc!r})")
                self._close()

    def _end(self, reason: str) -> None:
        if not self._lost.is_set():
            self._lost_reason = reason
            self._lost.set()

    async def _connect(self) -> Session:
        cfg = self.config
        self._lost = asyncio.Event()
        self._lost_reason = ""
        self._errors.clear()
        self._dirty_orders.clear()
        ib = IB()
        self.ib = ib
        self._listening = False
        self._guard_decoder(ib)
        ib.errorEvent += self._on_error  # TWS's notices (data farms …) come during the sync too
        refused: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_connect_error(req_id: int, code: int, message: str, contract: Any) -> None:
            if code == codes.CLIENT_ID_IN_USE and not refused.done():
                refused.set_result(message)

        ib.errorEvent += on_connect_error
        connecting = asyncio.ensure_future(
            ib.connectAsync(
                cfg.host,
                cfg.port,
                clientId=cfg.client_id,
                timeout=cfg.connect_timeout_s,
                account=cfg.account,
                raiseSyncErrors=True,
            )
        )
        try:
            await asyncio.wait({connecting, refused}, return_when=asyncio.FIRST_COMPLETED)
            if refused.done() and not connecting.done():
                # TWS said 326 and closed: ib_async would wait out its whole timeout
                connecting.cancel()
                with contextlib.suppress(BaseException):
                    await connecting
                raise ConnectionError(codes.describe(codes.CLIENT_ID_IN_USE, refused.result()))
            await connecting
        finally:
            ib.errorEvent -= on_connect_error
            if not refused.done():
                refused.cancel()
        self.account = _account(cfg.account, ib.managedAccounts())
        ib.reqMarketDataType(MARKET_DATA_TYPES[cfg.market_data_type])
        instruments, missing = await self._load_contracts(ib)
        self._listen(ib)
        self._subscribe(ib)
        return Session(
            server_version=ib.client.serverVersion(),
            account=self.account,
            instruments=instruments,
            missing=missing,
            account_snapshot=self.account_snapshot(),
        )

    def _guard_decoder(self, ib: IB) -> None:
        """Report unreadable frames with the frame (ib_async would only log them), and note the
        end of each batch of account updates (TWS closes one with the account time)."""
        decoder = ib.client.decoder
        handlers = decoder.handlers
        account_time = handlers[_ACCOUNT_TIME]

        def batch_end(fields: list[str]) -> None:
            account_time(fields)
            self._account_batch_end = True

        handlers[_ACCOUNT_TIME] = batch_end

        def interpret(fields: list[str]) -> None:
            try:
                handler = handlers[int(fields[0])]
            except (IndexError, ValueError, KeyError):
                self._unreadable(fields, "unknown or missing message id")
                return
            try:
                handler(fields)
            except Exception as exc:
                self._unreadable(fields, describe_error(exc))

        decoder.interpret = interpret

    def _unreadable(self, fields: list[str], error: str) -> None:
        frame = "\\0".join(fields)
        if len(frame) > _FRAME_SHOWN:
            frame = frame[:_FRAME_SHOWN] + f"… ({len(frame)} chars)"
        log.warning("venue %s: unreadable frame from TWS (%s): %r", self.venue, error, frame)
        self.events.unreadable(frame, error)

    # -- contracts ------------------------------------------------------------------------------

    async def _load_contracts(self, ib: IB) -> tuple[list[Instrument], dict[str, str]]:
        instruments: list[Instrument] = []
        missing: dict[str, str] = {}
        for symbol in self.config.contracts:
            found = await ib.reqContractDetailsAsync(self._describe(symbol))
            if len(found) != 1:
                missing[symbol] = (
                    "IB has no such contract"
                    if not found
                    else f"{len(found)} contracts match: set con_id or local_symbol"
                )
                continue
            details = found[0]
            contract = details.contract
            assert contract is not None
            self.contracts[symbol] = contract
            self.symbols[contract.conId] = symbol
            instrument = self._instrument(symbol, details)
            self.ticks[symbol] = instrument.tick_size
            instruments.append(instrument)
        return instruments, missing

    def _describe(self, symbol: str) -> Contract:
        spec = self.config.contracts[symbol]
        return Contract(
            secType=spec.sec_type,
            conId=spec.con_id,
            symbol=self.config.ib_symbol(symbol),
            lastTradeDateOrContractMonth=spec.last_trade_date,
            multiplier=spec.multiplier,
            exchange=spec.ib_exchange(),
            primaryExchange=spec.primary_exchange,
            currency=self.config.currency(symbol),
            localSymbol=spec.local_symbol,
            tradingClass=spec.trading_class,
        )

    def _instrument(self, symbol: str, details: ContractDetails) -> Instrument:
        spec = self.config.contracts[symbol]
        contract = details.contract
        assert contract is not None
        currency = contract.currency or self.config.currency(symbol)
        base, quote = symbol.split("/", 1) if spec.sec_type == "CASH" else (symbol, currency)
        multiplier = exact(contract.multiplier) if contract.multiplier else Decimal(1)
        return Instrument(
            symbol=symbol,
            venue=self.venue,
            venue_symbol=contract.localSymbol or contract.symbol,
            base=base,
            quote=quote,
            tick_size=exact(details.minTick),
            lot_size=spec.lot_size,
            asset_class=_ASSET_CLASS[spec.sec_type],  # type: ignore[arg-type]
            multiplier=multiplier,
            settlement=currency if spec.sec_type == "FUT" else None,
            min_quantity=spec.lot_size,
            maker_fee=spec.maker_fee_bps / 10_000,
            taker_fee=spec.taker_fee_bps / 10_000,
        )

    # -- what TWS reports live ------------------------------------------------------------------

    def _listen(self, ib: IB) -> None:
        self._account_dirty = self._account_batch_end = False
        self._listening = True
        ib.disconnectedEvent += lambda: self._end(
            f"connection to TWS at {self.config.host}:{self.config.port} closed"
        )
        ib.openOrderEvent += self._on_trade
        ib.orderStatusEvent += self._on_trade
        ib.execDetailsEvent += self._on_execution
        ib.commissionReportEvent += lambda trade, fill, report: self._on_execution(trade, fill)
        ib.accountValueEvent += self._on_account
        ib.updatePortfolioEvent += self._on_account
        ib.pendingTickersEvent += self._on_tickers
        ib.updateEvent += self._flush

    def _subscribe(self, ib: IB) -> None:
        self._shown.clear()
        self._depth.clear()
        for symbol, contract in self.contracts.items():
            ib.reqMktData(contract)
            spec = self.config.contracts[symbol]
            if spec.depth_rows:
                ib.reqMktDepth(contract, spec.depth_rows, spec.smart_depth)
                self._depth.add(symbol)

    def _on_error(self, req_id: int, code: int, message: str, contract: Any) -> None:
        ib = self.ib
        order_ref = ""
        if ib is not None and req_id > 0:
            trade = ib.wrapper.trades.get((ib.wrapper.clientId, req_id))
            if trade is not None:
                order_ref = trade.order.orderRef
                self._errors[req_id] = (code, message)
                self._dirty_orders[id(trade)] = trade
                if code in codes.CANCEL_REFUSED:
                    _undo_cancelled(trade, code)
        if code == codes.RESTORED_DATA_LOST and ib is not None and self._listening:
            # TWS lost its subscriptions with its link to IB: ask for the market data again
            for c in self.contracts.values():
                with contextlib.suppress(Exception):
                    ib.cancelMktData(c)
            self._subscribe(ib)
        self.events.notice(req_id, code, message, order_ref)

    def _on_trade(self, trade: Trade) -> None:
        self._dirty_orders[id(trade)] = trade

    def _on_execution(self, trade: Trade, fill: Fill) -> None:
        self.events.executed(self._execution(fill))

    def _on_account(self, *_: Any) -> None:
        self._account_dirty = True

    def _on_tickers(self, tickers: Iterable[Ticker]) -> None:
        updates = []
        for ticker in tickers:
            contract = ticker.contract
            symbol = self.symbols.get(contract.conId) if contract is not None else None
            if symbol is None:
                continue
            update = self._market_update(symbol, ticker)
            if update is not None:
                updates.append(update)
        if updates:
            self.events.market(updates)

    def _flush(self) -> None:
        """After each packet: the orders it changed (with the TWS error that came with it, which
        ib_async emits after the status), then the account if it changed and TWS finished the
        batch (cash and positions of one batch agree; half a batch would not)."""
        if self._dirty_orders:
            trades, self._dirty_orders = list(self._dirty_orders.values()), {}
            for trade in trades:
                self.events.order_changed(self._order(trade))
        if self._account_dirty and self._account_batch_end:
            self._account_dirty = self._account_batch_end = False
            self.events.account_changed(self.account_snapshot())

    # -- snapshots ------------------------------------------------------------------------------

    def _market_update(self, symbol: str, ticker: Ticker) -> MarketUpdate | None:
        tick = self.ticks[symbol]
        if symbol in self._depth and (ticker.domBids or ticker.domAsks):
            bids = _levels(ticker.domBids, tick)
            asks = _levels(ticker.domAsks, tick)
        else:
            bids = _levels([(ticker.bid, ticker.bidSize)], tick)
            asks = _levels([(ticker.ask, ticker.askSize)], tick)
        trades = [
            (on_tick(t.price, tick), exact(t.size))
            for t in ticker.ticks
            if t.tickType in _TRADE_TICKS and _usable(t.price) and t.size and t.size > 0
        ]
        book = (bids, asks)
        changed = self._shown.get(symbol) != book
        if not changed and not trades:
            return None
        self._shown[symbol] = book
        return MarketUpdate(
            symbol=symbol,
            bids=bids if changed else None,
            asks=asks if changed else None,
            trades=trades,
        )

    def _order(self, trade: Trade) -> OrderSnapshot:
        order, status = trade.order, trade.orderStatus
        code, text = 0, ""
        for entry in reversed(trade.log):
            if entry.errorCode:
                code, text = entry.errorCode, entry.message
                break
        known = self._errors.get(order.orderId)
        if known is not None and known[0] == code:
            text = known[1]
        filled = exact(status.filled)
        if _usable(order.filledQuantity):
            filled = max(filled, exact(order.filledQuantity))
        limit = None
        if order.orderType in ("LMT", "STP LMT") and _usable(order.lmtPrice):
            limit = exact(order.lmtPrice)
        contract = trade.contract
        return OrderSnapshot(
            order_ref=order.orderRef,
            order_id=order.orderId,
            perm_id=order.permId or status.permId,
            client_id=order.clientId,
            symbol=self.symbols.get(contract.conId) if contract is not None else None,
            side="buy" if order.action == "BUY" else "sell",
            quantity=exact(order.totalQuantity),
            order_type=order.orderType,
            tif=order.tif,
            status=status.status,
            filled=filled,
            limit_price=limit,
            error_code=code,
            error=text,
        )

    def _execution(self, fill: Fill) -> ExecutionSnapshot:
        execution, report = fill.execution, fill.commissionReport
        contract = fill.contract
        has_commission = bool(report.execId) and _usable(report.commission)
        return ExecutionSnapshot(
            exec_id=execution.execId,
            order_ref=execution.orderRef,
            perm_id=execution.permId,
            symbol=self.symbols.get(contract.conId) if contract is not None else None,
            side="buy" if execution.side == "BOT" else "sell",
            quantity=exact(execution.shares),
            price=exact(execution.price),
            ts=_ns(execution.time),
            liquidity="maker" if execution.lastLiquidity == 1 else "taker",
            commission=exact(report.commission) if has_commission else None,
            commission_currency=report.currency,
        )

    def account_snapshot(self) -> AccountSnapshot:
        ib = self.ib
        if ib is None:
            raise NotSent("not connected to TWS")
        values = ib.accountValues(self.account)
        base = next((v.currency for v in values if v.tag == "NetLiquidation"), "")
        cash: dict[str, Decimal] = {}
        summary: dict[str, Decimal] = {}
        for v in values:
            number = _number(v.value)
            if number is None:
                continue
            if v.tag == "CashBalance" and v.currency not in ("", "BASE"):
                cash[v.currency] = number
            elif v.tag in SUMMARY_TAGS and v.currency == base:
                summary[v.tag] = number
        if not cash and "TotalCashValue" in summary and base:
            cash[base] = summary["TotalCashValue"]
        positions = {
            symbol: exact(item.position)
            for item in ib.portfolio(self.account)
            if (symbol := self.symbols.get(item.contract.conId)) is not None
        }
        return AccountSnapshot(
            account=self.account,
            base_currency=base,
            cash=cash,
            positions=positions,
            summary=summary,
        )

    # -- commands -------------------------------------------------------------------------------

    def _ready(self) -> IB:
        ib = self.ib
        if ib is None or not ib.isConnected() or self._lost.is_set():
            raise NotSent("not connected to TWS")
        return ib

    async def place(self, request: OrderRequest) -> OrderSnapshot:
        """Send one new order; raises ``NotSent`` when it cannot have reached TWS."""
        ib = self._ready()
        contract = self.contracts.get(request.symbol)
        if contract is None:
            raise NotSent(f"{request.symbol} is not a contract IB knows")
        order = Order(
            action=request.action,
            totalQuantity=request.quantity,  # type: ignore[arg-type]
            orderType=request.order_type,
            tif=request.tif,
            orderRef=request.order_ref,
            account=self.account,
        )
        if request.limit_price is not None:
            order.lmtPrice = request.limit_price
        if request.stop_price is not None:
            order.auxPrice = request.stop_price
        try:
            trade = ib.placeOrder(contract, order)
        except ConnectionError as exc:
            raise NotSent(str(exc)) from exc
        return self._order(trade)

    async def cancel(self, order_ref: str) -> None:
        ib = self._ready()
        for trade in ib.openTrades():
            if trade.order.orderRef == order_ref and trade.order.clientId == ib.wrapper.clientId:
                try:
                    ib.cancelOrder(trade.order)
                except ConnectionError as exc:
                    raise NotSent(str(exc)) from exc
                return
        raise LookupError(
            f"IB has no open order of client id {self.config.client_id} with orderRef {order_ref}"
        )

    async def executions(self, since_ns: int = 0) -> list[ExecutionSnapshot]:
        """Executions of the account since ``since_ns`` (less a margin for clock skew), with
        their commissions where IB sent them within ``commission_wait_s`` (None otherwise).

        ib_async files a commission report on the Fill it saw first, so commissions are read
        from ``ib.fills()``, not from the answer's own Fill objects."""
        ib = self._ready()
        since = ""
        if since_ns > 0:
            start = datetime.fromtimestamp((since_ns - _EXECUTIONS_MARGIN_NS) / 1e9, UTC)
            since = start.strftime("%Y%m%d-%H:%M:%S")
        answer = await asyncio.wait_for(
            ib.reqExecutionsAsync(ExecutionFilter(acctCode=self.account, time=since)),
            self.config.connect_timeout_s,
        )
        wanted = {f.execution.execId: f for f in answer}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.commission_wait_s
        while True:
            known = {f.execution.execId: f for f in ib.fills() if f.execution.execId in wanted}
            missing = [e for e in wanted if e not in known or not known[e].commissionReport.execId]
            if not missing or loop.time() >= deadline:
                break
            await asyncio.sleep(0.05)
        return [self._execution(known.get(e, fill)) for e, fill in sorted(wanted.items())]

    async def reconcile(self, since_ns: int) -> ReconcileSnapshot:
        """What IB knows now: every order of the day (open ones of every client id, completed
        ones), executions since ``since_ns`` with commissions, positions, the account."""
        ib = self._ready()
        timeout = self.config.connect_timeout_s
        open_trades = await asyncio.wait_for(ib.reqAllOpenOrdersAsync(), timeout)
        completed = await asyncio.wait_for(ib.reqCompletedOrdersAsync(False), timeout)
        executions = await self.executions(since_ns)
        positions = await asyncio.wait_for(ib.reqPositionsAsync(), timeout)
        ours = [
            (symbol, p)
            for p in positions
            if p.account == self.account
            and (symbol := self.symbols.get(p.contract.conId)) is not None
        ]
        return ReconcileSnapshot(
            orders=[self._order(t) for t in [*completed, *open_trades]],
            executions=executions,
            positions={symbol: exact(p.position) for symbol, p in ours},
            average_prices={
                symbol: exact(p.avgCost) / exact(p.contract.multiplier or 1)
                for symbol, p in ours
                if p.position
            },
        )


def _undo_cancelled(trade: Trade, code: int) -> None:
    """Take back the Cancelled ib_async gave ``trade`` for a refused cancel (10147, 10148,
    161): ib_async ends an unfinished trade on any order error, but a refused cancel ends
    nothing — the order may be filling right now; IB's own order status and executions say how
    it ends. (Left Cancelled, IB's later orderStatus ``Cancelled`` would also go unseen: ib_async
    reports only changes.)"""
    log_ = trade.log
    if trade.orderStatus.status != "Cancelled" or not log_:
        return
    entry = log_[-1]
    if entry.errorCode != code or entry.status != "Cancelled":
        return  # IB itself had already finished it: nothing of ib_async's to undo
    before = next(
        (e.status for e in reversed(log_[:-1]) if e.status and e.status != "Cancelled"),
        "PendingCancel",
    )
    trade.orderStatus.status = entry.status = before


def _account(configured: str, managed: list[str]) -> str:
    if configured:
        if configured not in managed:
            raise ConnectionError(
                f"account {configured} is not managed by this TWS login "
                f"(managed: {', '.join(managed) or 'none'})"
            )
        return configured
    if len(managed) != 1:
        raise ConnectionError(
            f"the TWS login manages {len(managed)} accounts ({', '.join(managed)}): "
            "set account in the venue's config"
        )
    return managed[0]


def _reason(exc: BaseException, config: IbVenueConfig) -> str:
    where = f"{config.host}:{config.port}"
    if not isinstance(exc, (ConnectionError, TimeoutError, OSError)):
        log.error("venue ib: connecting failed unexpectedly: %s", describe_error(exc))
        return f"cannot start the session with TWS at {where}: {describe_error(exc)}"
    if isinstance(exc, ConnectionRefusedError):
        return f"cannot connect to TWS at {where}: connection refused (is the API port open?)"
    if isinstance(exc, TimeoutError):
        return f"cannot connect to TWS at {where}: no answer within {config.connect_timeout_s:g} s"
    return f"cannot connect to TWS at {where}: {exc}"


def _usable(value: Any) -> bool:
    """A price or size ib_async filled in: not NaN, not IB's 'unset', not the -1 of an empty
    side."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and number != UNSET_DOUBLE and number >= 0


def _number(text: str) -> Decimal | None:
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError, TypeError):
        return None
    return number if number.is_finite() else None


def _levels(levels: Iterable[Any], tick: Decimal) -> list[BookLevel]:
    out = []
    for price, size, *_ in levels:
        if _usable(price) and price > 0 and _usable(size) and size > 0:
            out.append(BookLevel(on_tick(price, tick), exact(size)))
    return out


def _ns(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000_000)
