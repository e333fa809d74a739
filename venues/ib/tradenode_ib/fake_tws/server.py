"""The fake TWS as an asyncio TCP server on loopback, with the faults a test injects into it.

Connections come and go (dropped, refused for a while, rejected for a duplicate client id);
the broker behind them stays, like a TWS whose API clients reconnect.
"""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from types import TracebackType

from .broker import Broker, CancelRace, run_price_path
from .client_messages import OrderRequest
from .config import FakeTwsConfig
from .records import ExecutionRecord, OrderRecord, ReceivedOrder
from .session import FARM_STATUS, Session
from .universe import ContractQuery, Instrument
from .wire import Field, frame, prefixed


class FakeTws:
    """A TWS-protocol server for the real ib_async client; run it inside a running loop.

    Control and record methods must be called from the loop's thread (see
    :class:`~.threaded.ThreadedFakeTws` for other threads).
    """

    def __init__(
        self, config: FakeTwsConfig | None = None, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config or FakeTwsConfig()
        self.broker = Broker(self.config)
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._sessions: set[Session] = set()
        self._clients: dict[int, Session] = {}
        self._connections: set[asyncio.Task[None]] = set()
        self._reopen: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._manual_order_id = 0

    async def start(self) -> None:
        await self._listen()
        if self.config.tick_interval:
            self._spawn(run_price_path(self.broker, self.config.tick_interval))

    async def stop(self) -> None:
        if self._reopen:
            self._reopen.cancel()
        if self._server:
            self._server.close()
            self._server = None
        for task in self._background:
            task.cancel()
        self.drop_connections()
        pending = self._connections | self._background
        if pending:
            await asyncio.wait(pending, timeout=2)

    async def __aenter__(self) -> FakeTws:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(reader, writer, self.broker, self.config, self._clients)
        self._sessions.add(session)
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await session.run()
        finally:
            self._sessions.discard(session)
            self._connections.discard(task)

    def _spawn(self, coroutine: object) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)  # type: ignore[arg-type]
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- connectivity faults ---------------------------------------------------------------

    @property
    def listening(self) -> bool:
        return self._server is not None

    @property
    def client_ids(self) -> list[int]:
        """API client ids connected now."""
        return sorted(self._clients)

    def drop_connections(self) -> int:
        """Close every client connection now (TCP close); returns how many there were."""
        sessions = list(self._sessions)
        for session in sessions:
            session.close()
        return len(sessions)

    def refuse_connections(self, seconds: float) -> None:
        """Stop listening (new connections are refused) and listen again after ``seconds``.

        Connections already open are left alone; combine with :meth:`drop_connections` for a
        TWS restart.
        """
        if self._reopen:
            self._reopen.cancel()
        if self._server:
            self._server.close()
            self._server = None
        loop = asyncio.get_running_loop()
        self._reopen = loop.call_later(seconds, lambda: self._spawn(self._listen()))

    def send_error(
        self, code: int, message: str, req_id: int = -1, client_id: int | None = None
    ) -> int:
        """Send an error/notice frame to every connected client (or one); returns how many."""
        targets = self._targets(client_id)
        for session in targets:
            session.send_error(req_id, code, message)
        return len(targets)

    def race_next_cancel(
        self, code: int = 161, *, error_first: bool = True, silent: bool = False
    ) -> None:
        """The next cancel of a working order arrives while the order fills: the rest of it
        fills and TWS refuses the cancel with ``code`` (161 or 10148), before the fill's
        messages or after them; ``silent``: the fill's live messages are lost (the client
        learns of it only by asking for executions or completed orders)."""
        if code not in (161, 10148):
            raise ValueError(f"a cancel racing a fill is refused with 161 or 10148, not {code}")
        self.broker.arm_cancel_race(CancelRace(code, error_first, silent))

    def connectivity_lost(self, client_id: int | None = None) -> int:
        return self.send_error(
            1100, "Connectivity between IB and Trader Workstation has been lost.", -1, client_id
        )

    def connectivity_restored(
        self, data_maintained: bool = True, client_id: int | None = None
    ) -> int:
        if data_maintained:
            return self.send_error(
                1102,
                "Connectivity between IB and Trader Workstation has been restored - data "
                "maintained.",
                -1,
                client_id,
            )
        return self.send_error(
            1101,
            "Connectivity between IB and Trader Workstation has been restored - data lost.",
            -1,
            client_id,
        )

    def farm_status(self, client_id: int | None = None) -> int:
        """The 2104/2106/2158 'data farm connection is OK' notices."""
        targets = self._targets(client_id)
        for session in targets:
            for code, message in FARM_STATUS:
                session.send_error(-1, code, message)
        return len(targets)

    def send_frame(self, fields: Iterable[Field], client_id: int | None = None) -> int:
        """Send any message, well-formed or not (an unknown id, missing fields, …)."""
        data = frame(fields)
        return self.send_bytes(data, client_id, prefix=False)

    def send_bytes(self, data: bytes, client_id: int | None = None, *, prefix: bool = True) -> int:
        """Send raw bytes as one frame (``prefix``) or exactly as given."""
        targets = self._targets(client_id)
        for session in targets:
            session.send_bytes(prefixed(data) if prefix else data)
        return len(targets)

    def _targets(self, client_id: int | None) -> list[Session]:
        if client_id is None:
            return list(self._clients.values())
        session = self._clients.get(client_id)
        return [session] if session else []

    # -- the market ------------------------------------------------------------------------

    def instrument(self, contract: int | str) -> Instrument:
        """A configured instrument by conId, local symbol or (unambiguous) symbol."""
        universe = self.broker.universe
        if isinstance(contract, int):
            found = universe.get(contract)
            if found:
                return found
        else:
            by_local = [i for i in universe if i.local_symbol == contract]
            by_symbol = [i for i in universe if i.symbol == contract]
            if len(by_local) == 1:
                return by_local[0]
            if len(by_symbol) == 1:
                return by_symbol[0]
        raise KeyError(f"no single configured instrument is {contract!r}")

    def step(self, steps: int = 1) -> None:
        """Advance the price path (working orders fill or trigger as it reaches them)."""
        self.broker.step(steps)

    def set_quote(self, contract: int | str, bid: Decimal | str, ask: Decimal | str) -> None:
        """Move a book's top to ``bid``/``ask`` (on tick); working orders react at once."""
        self.broker.set_quote(self.instrument(contract).con_id, Decimal(bid), Decimal(ask))

    def quote(self, contract: int | str) -> tuple[Decimal | None, Decimal | None]:
        book = self.broker.market.book(self.instrument(contract).con_id)
        return (
            book.bid.price if book.bid else None,
            book.ask.price if book.ask else None,
        )

    def trade_manually(
        self, contract: int | str, action: str, quantity: Decimal | str | int
    ) -> OrderRecord:
        """A market order someone types into TWS itself (client id 0, no orderRef): it fills
        against the book like any order and moves the account's position behind every API
        client's back (they see the execution and the new position as TWS publishes them)."""
        instrument = self.instrument(contract)
        self._manual_order_id -= 1  # TWS numbers its own orders apart from the API's
        request = OrderRequest(
            order_id=self._manual_order_id,
            contract=ContractQuery(con_id=instrument.con_id),
            action=action,
            quantity=Decimal(quantity),
            order_type="MKT",
            lmt_price=None,
            aux_price=None,
            tif="DAY",
            account=self.config.account,
            open_close="",
            origin=0,
            order_ref="",
            outside_rth=False,
            hidden=False,
            good_after_time="",
            good_till_date="",
            model_code="",
            rule80a="",
            all_or_none=False,
            min_qty=None,
            what_if=False,
            cash_qty=None,
        )
        self.broker.place(0, request)
        (order,) = [o for o in self.orders() if (o.client_id, o.order_id) == (0, request.order_id)]
        return order

    # -- records ---------------------------------------------------------------------------

    def orders(self) -> list[OrderRecord]:
        """Accepted orders (copies) in arrival order, with their current state."""
        return [copy.copy(order) for order in self.broker.orders]

    def executions(self) -> list[ExecutionRecord]:
        return list(self.broker.executions)

    def received_orders(self) -> list[ReceivedOrder]:
        """Every placeOrder message, accepted or not, modification or new."""
        return list(self.broker.received)

    def placements(self) -> Counter[str]:
        """New orders per orderRef: a node that re-submits after a reconnect shows up as 2."""
        return self.broker.placements()

    def positions(self) -> dict[int, tuple[Decimal, Decimal]]:
        """conId → (quantity, IB average cost) for every non-zero position."""
        return {
            con_id: (holding.quantity, holding.average_cost)
            for con_id, holding in self.broker.ledger.holdings.items()
            if holding.quantity
        }

    def cash(self) -> dict[str, Decimal]:
        return dict(self.broker.ledger.cash)

    def describe(self) -> str:
        """What this TWS serves, for a person starting it by hand."""
        config = self.config
        model = config.prices
        path = "fixed book" if model.seed is None else f"random walk, seed {model.seed}"
        lines = [
            f"fake TWS on {self.host}:{self.port}  server version {config.server_version}"
            f"  account {config.account}",
            f"prices: {path}"
            + (f", a step every {config.tick_interval}s" if config.tick_interval else ""),
            "cash: " + ", ".join(f"{v:,.2f} {c}" for c, v in sorted(config.cash.items())),
        ]
        if config.recording:
            lines.append(
                "replaying recorded frames for: "
                + ", ".join(e.name for e in config.recording.exchanges.values())
            )
        for instrument in self.broker.universe:
            bid, ask = self.quote(instrument.con_id)
            lines.append(
                f"  {instrument.con_id:>10}  {instrument.local_symbol:<8} {instrument.sec_type:<4}"
                f" {instrument.exchange:<8} {instrument.currency}  tick {instrument.min_tick}"
                f"  {bid} / {ask}"
                + (f"  x{instrument.multiplier}" if instrument.multiplier else "")
            )
        return "\n".join(lines)
