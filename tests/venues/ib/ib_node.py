"""A whole node with the IB venue, trading with the fake TWS over TCP on 127.0.0.1.

The node is assembled as ``tradenode run`` does it (``load_config`` + ``Node``) from a config
written to the test's directory, on the live runtime (real threads: the venue's event loop runs
the real ``ib_async.IB``). Everything the node published is read back from a ``Recorder``, what
the broker saw from the fake's own records. Every wait is bounded: a bug fails, never hangs.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from node.config import load_config
from node.messages import (
    FILL_TYPES,
    CancelOrder,
    Message,
    SubmitOrder,
    VenueConnected,
)
from node.node import Node
from node.plugins import Plugins
from node.runtime.recorder import Recorder

D = Decimal
M = TypeVar("M", bound=Message)
#: the bound of every wait (what is awaited normally arrives in milliseconds)
TIMEOUT = 20.0
CLIENT_ID = 7

CONTRACTS = """
[venues.ib.contracts.AAPL]
primary_exchange = "NASDAQ"

[venues.ib.contracts.ES]
sec_type = "FUT"
exchange = "CME"
last_trade_date = "202703"
depth_rows = 5

[venues.ib.contracts."EUR/USD"]
sec_type = "CASH"
"""


def write_config(
    directory: Path,
    port: int,
    *,
    client_id: int = CLIENT_ID,
    risk: str = "",
    extra: str = "",
    node: str = "",
) -> Path:
    path = directory / "node.toml"
    path.write_text(
        f"""
[node]
name = "ib-test"
runtime = "live"
{node}
[node.control]
enabled = false
[node.ready]
timeout_s = {TIMEOUT}

[router]
max_book_age_ms = 600000

[risk]
{risk}

[venues.ib]
plugin = "ib"
port = {port}
client_id = {client_id}
account = "DU123456"
connect_timeout_s = 5
heartbeat_s = 2
commission_wait_s = 2
reconnect = {{ initial_s = 0.1, max_s = 0.5 }}
{extra}
{CONTRACTS}
"""
    )
    return path


class IbNode:
    """One live node with the IB venue; see the module docstring."""

    def __init__(self, directory: Path, plugins: Plugins, port: int, **config: Any) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        path = write_config(directory, port, **config)
        self.recorder = Recorder()
        self.node = Node(
            load_config(path, plugins),
            plugins,
            journal_path=directory / "journal.sqlite",
            runtime_kind="live",
            extra=[self.recorder],
        )
        self.node.start()
        self.stopped = False

    # -- reading what the node published --------------------------------------------------------

    def of(self, kind: type[M], predicate: Callable[[M], bool] = lambda m: True) -> list[M]:
        return [m for m in self.recorder.of_type(kind) if predicate(m)]  # type: ignore[misc]

    def wait(
        self,
        kind: type[M],
        predicate: Callable[[M], bool] = lambda m: True,
        count: int = 1,
        what: str = "",
    ) -> M:
        """The ``count``-th message of ``kind`` matching ``predicate`` (waiting up to TIMEOUT)."""

        def arrived(_: Message) -> bool:  # runs under the recorder's lock: no of_type here
            found = [m for m in self.recorder.messages if isinstance(m, kind) and predicate(m)]
            return len(found) >= count

        assert self.recorder.wait_for(arrived, TIMEOUT), (
            f"no {what or kind.__name__} within {TIMEOUT} s; the node published: "
            + ", ".join(type(m).__name__ for m in self.recorder.messages[-30:])
        )
        return self.of(kind, predicate)[count - 1]

    def eventually(self, condition: Callable[[], bool], what: str) -> None:
        """Wait (up to TIMEOUT) for ``condition`` about another component's state: it has
        the message when the recorder has it, or a moment later."""
        deadline = time.monotonic() + TIMEOUT
        while not condition():
            assert time.monotonic() < deadline, f"not within {TIMEOUT} s: {what}"
            time.sleep(0.01)

    def ledger(self) -> Any:
        """The portfolio's ledger (read-only from the test's thread)."""
        return self.node.runtime.hosted["portfolio"].component.ledger

    def connected(self, count: int = 1) -> VenueConnected:
        return self.wait(VenueConnected, count=count)

    def fills(self, cid: str) -> list[Any]:
        return [m for m in self.recorder.of_type(*FILL_TYPES) if m.client_order_id == cid]

    def events(self, cid: str) -> list[str]:
        """The order events of one child order, by type name, in order."""
        return [
            type(m).__name__
            for m in self.recorder.messages
            if getattr(m, "client_order_id", None) == cid
        ]

    # -- driving it -----------------------------------------------------------------------------

    def submit(self, order: SubmitOrder, via: str = "venue.ib") -> None:
        """Send a child order straight to the venue (or through ``risk``, as the router does)."""
        self.node.runtime.send(via, order, "router" if via == "risk" else "test")

    def cancel(self, cid: str, reason: str = "test cancel") -> None:
        self.node.runtime.send(
            "venue.ib", CancelOrder(client_order_id=cid, venue="ib", reason=reason), "test"
        )

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.node.stop()


def order(cid: str, side: str, quantity: str, order_type: str = "limit", **kw: Any) -> SubmitOrder:
    fields: dict[str, Any] = {"symbol": "AAPL", "time_in_force": "gtc", **kw}
    for key in ("limit_price", "stop_price"):
        if isinstance(fields.get(key), str):
            fields[key] = D(fields[key])
    return SubmitOrder(
        client_order_id=cid,
        venue="ib",
        side=side,  # type: ignore[arg-type]
        quantity=D(quantity),
        order_type=order_type,  # type: ignore[arg-type]
        **fields,
    )


class FreezingProxy:
    """A TCP relay on 127.0.0.1 between the node and the fake TWS that can go silent without
    closing anything: a TWS that hangs (or a half-open connection), which only a heartbeat
    notices. Runs on its own thread; new connections are relayed again after ``thaw``."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.frozen = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="freezing-proxy", daemon=True)

    def start(self) -> FreezingProxy:
        self._thread.start()
        assert self._ready.wait(TIMEOUT), "the proxy did not start"
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(TIMEOUT)

    def freeze(self) -> None:
        self.frozen.set()

    def thaw(self) -> None:
        self.frozen.clear()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._relay, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    if not self.frozen.is_set():  # frozen: swallowed, as by a hung peer
                        dst.write(data)
                        await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
