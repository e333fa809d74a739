"""One client connection: the handshake, the requests it makes, and the broker's events it is
owed (its own orders' updates, its market data and account subscriptions)."""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from . import server_messages as out
from .broker import Broker
from .client_messages import (
    In,
    MalformedRequest,
    OrderRequest,
    UnsupportedOrder,
    parse_cancel_order,
    parse_contract_details,
    parse_exec_filter,
    parse_mkt_data,
    parse_mkt_depth,
    parse_place_order,
)
from .config import MIN_SERVER_VERSION, FakeTwsConfig
from .ledger import Holding
from .market import Book, Level
from .records import ExecutionRecord, OrderRecord, OrderRejected
from .server_messages import Out
from .wire import API_SIGN, MAX_FRAME, Field, frame, parse_version_range, split_fields

log = logging.getLogger(__name__)

FARM_STATUS = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefnj"),
)
# tick type ids: live, and what TWS sends instead for delayed data (market data type 3 or 4)
BID, ASK, LAST, CLOSE = 1, 2, 4, 9
BID_SIZE, ASK_SIZE, LAST_SIZE, VOLUME = 0, 3, 5, 8
DELAYED = {
    BID: 66,
    ASK: 67,
    LAST: 68,
    CLOSE: 75,
    BID_SIZE: 69,
    ASK_SIZE: 70,
    LAST_SIZE: 71,
    VOLUME: 74,
}


class ProtocolError(ConnectionError):
    """The client broke the handshake or the framing: the connection ends, as with TWS."""


@dataclass(slots=True)
class _TickStream:
    con_id: int
    sent: dict[int, tuple[Decimal, Decimal] | Decimal] = field(default_factory=dict)


@dataclass(slots=True)
class _DepthStream:
    con_id: int
    rows: int
    smart: bool
    sent: dict[tuple[int, int], tuple[Decimal, Decimal]] = field(default_factory=dict)


class Session:
    """Speaks TWS to one client; a :class:`~.broker.BrokerListener` while it is connected."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        broker: Broker,
        config: FakeTwsConfig,
        clients: dict[int, Session],
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._broker = broker
        self._config = config
        self._clients = clients
        self.version = 0
        self.client_id: int | None = None
        self._data_type = 1
        self._ticks: dict[int, _TickStream] = {}
        self._depth: dict[int, _DepthStream] = {}
        self._positions = False
        self._account_updates = False
        self._account_multi: set[int] = set()
        self._summaries: dict[int, list[str]] = {}
        self._pnl: set[int] = set()
        self._pnl_single: dict[int, int] = {}
        self._handlers: dict[int, Callable[[list[str]], None]] = {
            In.REQ_MKT_DATA: self._req_mkt_data,
            In.CANCEL_MKT_DATA: lambda f: self._ticks.pop(int(f[2]), None),
            In.PLACE_ORDER: self._place_order,
            In.CANCEL_ORDER: self._cancel_order,
            In.REQ_OPEN_ORDERS: lambda f: self._send_open_orders(self.client_id),
            In.REQ_ALL_OPEN_ORDERS: lambda f: self._send_open_orders(None),
            In.REQ_ACCOUNT_UPDATES: self._req_account_updates,
            In.REQ_EXECUTIONS: self._req_executions,
            In.REQ_IDS: lambda f: self.send([Out.NEXT_VALID_ID, 1, broker.next_valid_id()]),
            In.REQ_CONTRACT_DETAILS: self._req_contract_details,
            In.REQ_MKT_DEPTH: self._req_mkt_depth,
            In.CANCEL_MKT_DEPTH: lambda f: self._depth.pop(int(f[2]), None),
            In.REQ_AUTO_OPEN_ORDERS: lambda f: None,  # manual TWS orders do not exist here
            In.REQ_MANAGED_ACCTS: lambda f: self._send_managed_accounts(),
            In.REQ_CURRENT_TIME: lambda f: self.send(
                [Out.CURRENT_TIME, 1, int(config.clock().timestamp())]
            ),
            In.REQ_GLOBAL_CANCEL: lambda f: broker.cancel_all(),
            In.REQ_MARKET_DATA_TYPE: self._req_market_data_type,
            In.REQ_POSITIONS: self._req_positions,
            In.CANCEL_POSITIONS: lambda f: setattr(self, "_positions", False),
            In.REQ_ACCOUNT_SUMMARY: self._req_account_summary,
            In.CANCEL_ACCOUNT_SUMMARY: lambda f: self._summaries.pop(int(f[2]), None),
            In.REQ_ACCOUNT_UPDATES_MULTI: self._req_account_updates_multi,
            In.CANCEL_ACCOUNT_UPDATES_MULTI: lambda f: self._account_multi.discard(int(f[2])),
            In.REQ_PNL: self._req_pnl,
            In.CANCEL_PNL: lambda f: self._pnl.discard(int(f[1])),
            In.REQ_PNL_SINGLE: self._req_pnl_single,
            In.CANCEL_PNL_SINGLE: lambda f: self._pnl_single.pop(int(f[1]), None),
            In.REQ_COMPLETED_ORDERS: self._req_completed_orders,
            In.START_API: lambda f: None,  # already started
        }

    # -- connection ------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._handshake()
            while True:
                fields = await self._read_frame()
                if fields:
                    self.handle(fields)
                await self._writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError) as exc:
            log.debug("client %s leaves: %r", self.client_id, exc)
        finally:
            self.close()

    def close(self) -> None:
        """End the connection (TCP close) and stop listening to the broker."""
        self._broker.remove_listener(self)
        if self.client_id is not None and self._clients.get(self.client_id) is self:
            del self._clients[self.client_id]
        if not self._writer.is_closing():
            self._writer.close()

    def send(self, fields: Iterable[Field]) -> None:
        self.send_bytes(frame(fields))

    def send_bytes(self, data: bytes) -> None:
        if not self._writer.is_closing():
            self._writer.write(data)

    def send_error(self, req_id: int, code: int, message: str) -> None:
        self.send(out.error(req_id, code, message, self.version))

    async def _read_frame(self) -> list[str]:
        (size,) = struct.unpack(">I", await self._reader.readexactly(4))
        if size > MAX_FRAME:
            raise ProtocolError(f"frame of {size} bytes")
        return split_fields(await self._reader.readexactly(size))

    async def _handshake(self) -> None:
        if await self._reader.readexactly(4) != API_SIGN:
            raise ProtocolError("client did not open with API\\0")
        (size,) = struct.unpack(">I", await self._reader.readexactly(4))
        if size > 1024:
            raise ProtocolError(f"client hello of {size} bytes")
        low, high = parse_version_range(await self._reader.readexactly(size))
        version = min(self._config.server_version, high)
        if version < max(low, MIN_SERVER_VERSION):
            raise ProtocolError(f"no common version with client range {low}..{high}")
        self.version = version
        self.send([version, out.ib_time(self._config.clock())])
        fields = await self._read_frame()
        if not fields or fields[0] != str(int(In.START_API)):
            raise ProtocolError(f"expected startApi, got {fields[:1]}")
        client_id = int(fields[2])
        if client_id in self._clients:
            self.send_error(
                -1,
                326,
                "Unable to connect as the client id is already in use. "
                "Retry with a unique client id.",
            )
            await self._writer.drain()
            raise ProtocolError(f"client id {client_id} in use")
        self.client_id = client_id
        self._clients[client_id] = self
        self._broker.add_listener(self)
        self._send_managed_accounts()
        self.send([Out.NEXT_VALID_ID, 1, self._broker.next_valid_id()])
        if self._config.farm_status_on_connect:
            for code, message in FARM_STATUS:
                self.send_error(-1, code, message)

    # -- dispatch --------------------------------------------------------------------------

    def handle(self, fields: list[str]) -> None:
        try:
            msg_id = int(fields[0])
        except ValueError:
            self.send_error(-1, 320, f"Error reading request: bad message id {fields[0]!r}")
            return
        recording = self._config.recording
        if recording and (answers := recording.answers(fields)) is not None:
            for answer in answers:
                self.send(answer)
            return
        handler = self._handlers.get(msg_id)
        if handler is None:
            self.send_error(
                -1,
                321,
                f"Error validating request:-'{msg_id}' : cause - message id {msg_id} is not "
                "implemented by this fake TWS",
            )
            return
        try:
            handler(fields)
        except (MalformedRequest, IndexError, ValueError) as exc:
            self.send_error(-1, 320, f"Error reading request: message id {msg_id}: {exc}")

    def _send_managed_accounts(self) -> None:
        recording = self._config.recording
        answers = recording.answers([str(int(In.REQ_MANAGED_ACCTS)), "1"]) if recording else None
        for answer in answers or [[Out.MANAGED_ACCOUNTS, 1, self._config.account]]:
            self.send(answer)

    # -- orders ----------------------------------------------------------------------------

    def _place_order(self, fields: list[str]) -> None:
        assert self.client_id is not None
        try:
            request = parse_place_order(fields, self.version)
        except UnsupportedOrder as exc:
            error = OrderRejected(201, f"Order rejected - reason:{exc}")
            self._broker.refused(self.client_id, exc.order_id, exc.order_ref, error)
            self.send_error(exc.order_id, error.code, error.message)
            return
        except MalformedRequest as exc:
            order_id = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else -1
            self.send_error(order_id, 320, f"Error reading request: placeOrder: {exc}")
            return
        try:
            if request.what_if:
                self._what_if(request)
            else:
                self._broker.place(self.client_id, request)
        except OrderRejected as exc:
            self.send_error(request.order_id, exc.code, exc.message)

    def _what_if(self, request: OrderRequest) -> None:
        """Answer a what-if order with its margin impact; nothing is placed."""
        assert self.client_id is not None
        broker = self._broker
        instrument = broker.check(request)
        figures = broker.figures()
        change = broker.margin_needed(instrument, request)
        maint_change = change * instrument.maintenance_margin_rate / instrument.initial_margin_rate
        probe = OrderRecord(
            client_id=self.client_id,
            order_id=request.order_id,
            perm_id=0,
            instrument=instrument,
            request=request,
            account=self._config.account,
            exchange=request.contract.exchange or instrument.exchange,
            status="PreSubmitted",
            placed_at=self._config.clock(),
        )
        value = request.quantity * broker.mark(instrument) * instrument.contract_multiplier
        money = [
            figures.init_margin,
            figures.maint_margin,
            figures.net_liquidation,
            change,
            maint_change,
            Decimal(0),
            figures.init_margin + change,
            figures.maint_margin + maint_change,
            figures.net_liquidation,
        ]
        state = out.OrderState(
            "PreSubmitted",
            margin=tuple(f"{m:.2f}" for m in money),
            commission=instrument.commission.total(request.quantity, value),
            currency=instrument.currency,
        )
        self.send(out.open_order(probe, self.version, state, what_if=True))

    def _cancel_order(self, fields: list[str]) -> None:
        assert self.client_id is not None
        order_id = parse_cancel_order(fields)
        try:
            self._broker.cancel(self.client_id, order_id)
        except OrderRejected as exc:
            self.send_error(order_id, exc.code, exc.message)

    def _send_open_orders(self, client_id: int | None) -> None:
        for order in self._broker.open_orders(client_id):
            self.send(out.open_order(order, self.version, out.order_state(order)))
            self.send(out.order_status(order))
        self.send([Out.OPEN_ORDER_END, 1])

    def _req_completed_orders(self, fields: list[str]) -> None:
        for order in self._broker.completed_orders():
            self.send(out.completed_order(order, self.version))
        self.send([Out.COMPLETED_ORDERS_END])

    def _req_executions(self, fields: list[str]) -> None:
        req_id, wanted = parse_exec_filter(fields)
        for execution in self._broker.executions_matching(wanted):
            self.send(out.exec_details(req_id, execution, self.version))
            self.send(out.commission_report(execution))
        self.send([Out.EXECUTION_DATA_END, 1, req_id])

    # the broker's events

    def order_opened(self, order: OrderRecord) -> None:
        if order.client_id == self.client_id:
            self.send(out.open_order(order, self.version, out.order_state(order)))
            self.send(out.order_status(order))

    def order_executed(self, order: OrderRecord, execution: ExecutionRecord) -> None:
        if order.client_id != self.client_id:
            return
        self.send(out.exec_details(-1, execution, self.version))
        if not order.working:
            self.send(out.open_order(order, self.version, out.order_state(order)))
        self.send(out.order_status(order))
        self.send(out.commission_report(execution))

    def order_cancelled(self, order: OrderRecord) -> None:
        if order.client_id != self.client_id:
            return
        self.send(out.order_status(order))
        self.send_error(order.order_id, 202, f"Order Canceled - reason:{order.cancel_reason}")

    def cancel_refused(self, order: OrderRecord, code: int, message: str) -> None:
        if order.client_id == self.client_id:
            self.send_error(order.order_id, code, message)

    # -- contracts and market data ---------------------------------------------------------

    def _req_contract_details(self, fields: list[str]) -> None:
        req_id, query = parse_contract_details(fields, self.version)
        found = self._broker.universe.matching(query)
        if not found:
            self.send_error(req_id, 200, "No security definition has been found for the request")
            return
        today = self._config.clock().date()
        for instrument in found:
            exchange = query.exchange or instrument.exchange
            self.send(out.contract_details(req_id, instrument, exchange, self.version, today))
        self.send([Out.CONTRACT_DATA_END, 1, req_id])

    def _req_market_data_type(self, fields: list[str]) -> None:
        self._data_type = int(fields[2])

    def _req_mkt_data(self, fields: list[str]) -> None:
        request = parse_mkt_data(fields)
        try:
            instrument = self._broker.resolve(request.contract)
        except OrderRejected as exc:
            self.send_error(request.req_id, exc.code, exc.message)
            return
        stream = _TickStream(instrument.con_id)
        book = self._broker.market.book(instrument.con_id)
        self.send(out.market_data_type(request.req_id, self._data_type))
        self._send_ticks(request.req_id, stream, book)
        if request.snapshot:
            self.send([Out.TICK_SNAPSHOT_END, 1, request.req_id])
        else:
            self._ticks[request.req_id] = stream

    def _tick(self, tick_type: int) -> int:
        return DELAYED[tick_type] if self._data_type in (3, 4) else tick_type

    def _send_ticks(self, req_id: int, stream: _TickStream, book: Book) -> None:
        """Send what changed since the last ticks on this stream (everything, the first time)."""
        sent = stream.sent
        sides = ((BID, BID_SIZE, book.bid), (ASK, ASK_SIZE, book.ask))
        for price_type, size_type, level in sides:
            quote = (level.price, level.size) if level else (Decimal(-1), Decimal(0))
            if sent.get(price_type) != quote:
                sent[price_type] = quote
                self.send(out.tick_price(req_id, self._tick(price_type), *quote))
                self.send(out.tick_size(req_id, self._tick(size_type), quote[1]))
        if book.instrument.sec_type == "CASH":
            return  # IDEALPRO quotes have no trade prints
        if CLOSE not in sent:
            sent[CLOSE] = book.close
            self.send(out.tick_price(req_id, self._tick(CLOSE), book.close, Decimal(0)))
        if book.last is not None and sent.get(LAST) != (book.last, book.last_size):
            sent[LAST] = (book.last, book.last_size)
            self.send(out.tick_price(req_id, self._tick(LAST), book.last, book.last_size))
            self.send(out.tick_size(req_id, self._tick(LAST_SIZE), book.last_size))
        if book.volume and sent.get(VOLUME) != book.volume:
            sent[VOLUME] = book.volume
            self.send(out.tick_size(req_id, self._tick(VOLUME), book.volume))

    def _req_mkt_depth(self, fields: list[str]) -> None:
        request = parse_mkt_depth(fields)
        try:
            instrument = self._broker.resolve(request.contract)
        except OrderRejected as exc:
            self.send_error(request.req_id, exc.code, exc.message)
            return
        stream = _DepthStream(instrument.con_id, max(1, request.rows), request.smart_depth)
        self._depth[request.req_id] = stream
        self._send_depth(request.req_id, stream, self._broker.market.book(instrument.con_id))

    def _send_depth(self, req_id: int, stream: _DepthStream, book: Book) -> None:
        """Insert, update or delete each row that differs from what this stream last showed."""
        maker = book.instrument.primary_exchange or book.instrument.exchange
        for side, levels in ((0, book.asks), (1, book.bids)):
            for row in range(stream.rows):
                level: Level | None = levels[row] if row < len(levels) else None
                now = (level.price, level.size) if level else None
                before = stream.sent.get((side, row))
                if now == before:
                    continue
                operation = 2 if now is None else (1 if before else 0)
                price, size = now or before or (Decimal(0), Decimal(0))
                if now is None:
                    del stream.sent[(side, row)]
                else:
                    stream.sent[(side, row)] = now
                if stream.smart:
                    self.send(out.depth_update_l2(req_id, row, maker, operation, side, price, size))
                else:
                    self.send(out.depth_update(req_id, row, operation, side, price, size))

    def market_changed(self, book: Book) -> None:
        con_id = book.instrument.con_id
        for req_id, stream in self._ticks.items():
            if stream.con_id == con_id:
                self._send_ticks(req_id, stream, book)
        for req_id, depth in self._depth.items():
            if depth.con_id == con_id:
                self._send_depth(req_id, depth, book)

    # -- account ---------------------------------------------------------------------------

    def _holdings(self, con_ids: Iterable[int] | None = None) -> list[Holding]:
        holdings = self._broker.ledger.holdings
        if con_ids is None:
            return [h for h in holdings.values() if h.quantity]
        return [holdings[c] for c in sorted(con_ids) if c in holdings]

    def _req_positions(self, fields: list[str]) -> None:
        self._positions = True
        for holding in self._holdings():
            self.send(out.position(self._config.account, holding))
        self.send([Out.POSITION_END, 1])

    def _req_account_updates(self, fields: list[str]) -> None:
        self._account_updates = fields[2] == "1"
        if self._account_updates:
            self._send_account_updates(None)
            self.send([Out.ACCOUNT_DOWNLOAD_END, 1, self._config.account])

    def _send_account_updates(self, con_ids: Iterable[int] | None) -> None:
        account = self._config.account
        for key, value, currency in self._broker.figures().account_values(account):
            self.send([Out.ACCOUNT_VALUE, 2, key, value, currency, account])
        for holding in self._holdings(con_ids):
            mark = self._broker.mark(holding.instrument)
            self.send(out.portfolio_value(account, holding, mark))
        self.send([Out.ACCOUNT_UPDATE_TIME, 1, f"{self._config.clock():%H:%M}"])

    def _req_account_updates_multi(self, fields: list[str]) -> None:
        req_id = int(fields[2])
        self._account_multi.add(req_id)
        self._send_account_multi(req_id)
        self.send([Out.ACCOUNT_UPDATE_MULTI_END, 1, req_id])

    def _send_account_multi(self, req_id: int) -> None:
        account = self._config.account
        for key, value, currency in self._broker.figures().account_values(account):
            self.send([Out.ACCOUNT_UPDATE_MULTI, 1, req_id, account, "", key, value, currency])

    def _req_account_summary(self, fields: list[str]) -> None:
        req_id = int(fields[2])
        self._summaries[req_id] = [t.strip() for t in fields[4].split(",") if t.strip()]
        self._send_summary(req_id)
        self.send([Out.ACCOUNT_SUMMARY_END, 1, req_id])

    def _send_summary(self, req_id: int) -> None:
        figures = self._broker.figures()
        summary = figures.summary()
        account = self._config.account
        for tag in self._summaries[req_id]:
            if tag.startswith("$LEDGER"):
                which = tag.partition(":")[2]
                currencies = None if which == "ALL" else [which or self._config.base_currency]
                rows = figures.ledger(currencies)
            elif tag in summary:
                rows = [(tag, *summary[tag])]
            else:
                continue
            for name, value, currency in rows:
                self.send([Out.ACCOUNT_SUMMARY, 1, req_id, account, name, value, currency])

    def _req_pnl(self, fields: list[str]) -> None:
        req_id = int(fields[1])
        self._pnl.add(req_id)
        self._send_pnl(req_id)

    def _send_pnl(self, req_id: int) -> None:
        self.send(out.pnl(req_id, self._broker.figures()))

    def _req_pnl_single(self, fields: list[str]) -> None:
        req_id, con_id = int(fields[1]), int(fields[4])
        if self._broker.universe.get(con_id) is None:
            self.send_error(req_id, 200, "No security definition has been found for the request")
            return
        self._pnl_single[req_id] = con_id
        self._send_pnl_single(req_id, con_id)

    def _send_pnl_single(self, req_id: int, con_id: int) -> None:
        instrument = self._broker.universe.get(con_id)
        assert instrument is not None
        holding = self._broker.ledger.holdings.get(con_id)
        self.send(out.pnl_single(req_id, holding, self._broker.mark(instrument)))

    def account_changed(self, con_ids: set[int]) -> None:
        if self._positions:
            for holding in self._holdings(con_ids):
                self.send(out.position(self._config.account, holding))
        if self._account_updates:
            self._send_account_updates(con_ids)
        for req_id in self._account_multi:
            self._send_account_multi(req_id)
        for req_id in self._summaries:
            self._send_summary(req_id)
        for req_id in self._pnl:
            self._send_pnl(req_id)
        for req_id, con_id in self._pnl_single.items():
            if con_id in con_ids:
                self._send_pnl_single(req_id, con_id)
