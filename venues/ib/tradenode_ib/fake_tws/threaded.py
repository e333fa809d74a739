"""The fake TWS on its own event-loop thread, for code (or tests) that runs its own loop or none.

Every control and record method hops onto the server's loop and waits for the answer, so it is
safe to call from any other thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from decimal import Decimal
from types import TracebackType
from typing import TypeVar

from .config import FakeTwsConfig
from .records import ExecutionRecord, OrderRecord, ReceivedOrder
from .server import FakeTws
from .wire import Field

T = TypeVar("T")


class ThreadedFakeTws:
    def __init__(
        self,
        config: FakeTwsConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout: float = 5.0,
    ) -> None:
        self.tws = FakeTws(config, host=host, port=port)
        self.timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="fake-tws", daemon=True)
        self._started = threading.Event()
        self._failure: BaseException | None = None

    @property
    def port(self) -> int:
        return self.tws.port

    def start(self) -> ThreadedFakeTws:
        self._loop = asyncio.new_event_loop()
        self._thread.start()
        if not self._started.wait(self.timeout):
            raise TimeoutError("fake TWS did not start in time")
        if self._failure:
            raise RuntimeError("fake TWS failed to start") from self._failure
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None or not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.tws.stop(), loop).result(self.timeout)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(self.timeout)

    def __enter__(self) -> ThreadedFakeTws:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.tws.start())
        except BaseException as exc:
            self._failure = exc
            self._started.set()
            loop.close()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    def call(self, function: Callable[[], T]) -> T:
        """Run ``function`` on the server's loop and return its result."""

        if self._loop is None or not self._thread.is_alive():
            raise RuntimeError("the fake TWS is not running (call start() first)")

        async def hop() -> T:
            return function()

        return asyncio.run_coroutine_threadsafe(hop(), self._loop).result(self.timeout)

    # -- faults ----------------------------------------------------------------------------

    def drop_connections(self) -> int:
        return self.call(self.tws.drop_connections)

    def refuse_connections(self, seconds: float) -> None:
        self.call(lambda: self.tws.refuse_connections(seconds))

    @property
    def listening(self) -> bool:
        return self.call(lambda: self.tws.listening)

    @property
    def client_ids(self) -> list[int]:
        return self.call(lambda: self.tws.client_ids)

    def send_error(
        self, code: int, message: str, req_id: int = -1, client_id: int | None = None
    ) -> int:
        return self.call(lambda: self.tws.send_error(code, message, req_id, client_id))

    def race_next_cancel(
        self, code: int = 161, *, error_first: bool = True, silent: bool = False
    ) -> None:
        self.call(lambda: self.tws.race_next_cancel(code, error_first=error_first, silent=silent))

    def connectivity_lost(self, client_id: int | None = None) -> int:
        return self.call(lambda: self.tws.connectivity_lost(client_id))

    def connectivity_restored(
        self, data_maintained: bool = True, client_id: int | None = None
    ) -> int:
        return self.call(lambda: self.tws.connectivity_restored(data_maintained, client_id))

    def farm_status(self, client_id: int | None = None) -> int:
        return self.call(lambda: self.tws.farm_status(client_id))

    def send_frame(self, fields: Iterable[Field], client_id: int | None = None) -> int:
        fields = list(fields)
        return self.call(lambda: self.tws.send_frame(fields, client_id))

    def send_bytes(self, data: bytes, client_id: int | None = None, *, prefix: bool = True) -> int:
        return self.call(lambda: self.tws.send_bytes(data, client_id, prefix=prefix))

    # -- market ----------------------------------------------------------------------------

    def step(self, steps: int = 1) -> None:
        self.call(lambda: self.tws.step(steps))

    def set_quote(self, contract: int | str, bid: Decimal | str, ask: Decimal | str) -> None:
        self.call(lambda: self.tws.set_quote(contract, bid, ask))

    def quote(self, contract: int | str) -> tuple[Decimal | None, Decimal | None]:
        return self.call(lambda: self.tws.quote(contract))

    def trade_manually(
        self, contract: int | str, action: str, quantity: Decimal | str | int
    ) -> OrderRecord:
        return self.call(lambda: self.tws.trade_manually(contract, action, quantity))

    # -- records ---------------------------------------------------------------------------

    def orders(self) -> list[OrderRecord]:
        return self.call(self.tws.orders)

    def executions(self) -> list[ExecutionRecord]:
        return self.call(self.tws.executions)

    def received_orders(self) -> list[ReceivedOrder]:
        return self.call(self.tws.received_orders)

    def placements(self) -> Counter[str]:
        return self.call(self.tws.placements)

    def positions(self) -> dict[int, tuple[Decimal, Decimal]]:
        return self.call(self.tws.positions)

    def cash(self) -> dict[str, Decimal]:
        return self.call(self.tws.cash)

    def describe(self) -> str:
        return self.call(self.tws.describe)
