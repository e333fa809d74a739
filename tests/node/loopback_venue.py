"""A small exchange on loopback and the asyncio venue that trades on it: how a live venue runs
its own event loop and hands results back to its component (``node.venue_loop.AsyncVenue``).

The exchange speaks JSON lines over TCP: ``hello`` (instruments, balances, book), ``order``
(an IOC limit order filled against its fixed book, answered with ``accepted`` and ``fill`` or
``expired`` lines). It can make the venue wait before it answers ``hello`` (a venue that is slow
to be ready), and refuse to listen at all (a venue that cannot connect).
"""

from __future__ import annotations

import asyncio
import json
import threading
from decimal import Decimal
from typing import Any

import msgspec

from node.messages import (
    Balance,
    BookLevel,
    BookSnapshot,
    CancelOrder,
    Instrument,
    SubmitOrder,
    VenueCapabilities,
)
from node.venue_loop import AsyncVenue

D = Decimal


class LoopbackExchange:
    """The exchange: a fixed ask book, a USD balance, and a delay before it says hello."""

    def __init__(self, asks: list[tuple[str, str]], usd: str, hello_delay_s: float = 0.0) -> None:
        self.asks = [(D(p), D(s)) for p, s in asks]
        self.usd = D(usd)
        self.btc = D(0)
        self.hello_delay_s = hello_delay_s
        self.orders: list[dict[str, Any]] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def __enter__(self) -> LoopbackExchange:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        ).result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *_: object) -> None:
        async def close() -> None:
            assert self._server is not None
            self._server.close()
            await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def send(**fields: Any) -> None:
            writer.write(json.dumps(fields, default=str).encode() + b"\n")
            await writer.drain()

        while line := await reader.readline():
            request = json.loads(line)
            if request["op"] == "hello":
                await asyncio.sleep(self.hello_delay_s)
                await send(op="hello", asks=self.asks, usd=self.usd, btc=self.btc)
            elif request["op"] == "order":
                self.orders.append(request)
                await send(op="accepted", id=request["id"])
                left, limit = D(request["quantity"]), D(request["price"])
                taken = []
                for i, (price, size) in enumerate(self.asks):
                    if left <= 0 or price > limit:
                        break
                    take = min(size, left)
                    taken.append((price, take))
                    self.asks[i] = (price, size - take)
                    left -= take
                self.asks = [(p, s) for p, s in self.asks if s > 0]
                for n, (price, take) in enumerate(taken):
                    self.usd -= price * take
                    self.btc += take
                    await send(
                        op="fill",
                        id=request["id"],
                        trade=f"{request['id']}-{n}",
                        price=price,
                        quantity=take,
                    )
                await send(op="done", id=request["id"], left=left, usd=self.usd, btc=self.btc)
        writer.close()


class LoopbackVenueConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    port: int


class LoopbackVenue(AsyncVenue):
    """Trades BTC/USD on the loopback exchange; every answer comes back through ``post``."""

    capabilities = VenueCapabilities(order_types=("limit",), time_in_force=("ioc",))

    async def connect_async(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.config.port)
        self.writer.write(b'{"op": "hello"}\n')
        hello = json.loads(await self.reader.readline())
        self.post(lambda: self._hello(hello))
        self.start_task(self._listen())

    def _hello(self, hello: dict[str, Any]) -> None:
        self.instruments_loaded(
            [
                Instrument(
                    symbol="BTC/USD",
                    venue=self.venue,
                    venue_symbol="BTCUSD",
                    base="BTC",
                    quote="USD",
                    tick_size=D("0.01"),
                    lot_size=D("0.00000001"),
                )
            ]
        )
        self._balances(hello)
        self.book("BTC/USD").apply(
            BookSnapshot(
                venue=self.venue,
                symbol="BTC/USD",
                bids=[],
                asks=[BookLevel(D(p), D(s)) for p, s in hello["asks"]],
                ts=self.ctx.now(),
            ),
            self.ctx.now(),
        )
        self.book("BTC/USD").static = True
        self.connected()

    def _balances(self, message: dict[str, Any]) -> None:
        usd, btc = D(message["usd"]), D(message["btc"])
        self.balances_updated(
            {"USD": Balance(total=usd, free=usd), "BTC": Balance(total=btc, free=btc)}
        )

    async def _listen(self) -> None:
        filled: dict[str, Decimal] = {}
        while line := await self.reader.readline():
            message = json.loads(line)
            self.post(lambda m=message, f=filled: self._on(m, f))

    def _on(self, m: dict[str, Any], filled: dict[str, Decimal]) -> None:
        cid = m["id"]
        order = self._orders[cid]
        if m["op"] == "accepted":
            self.accepted(cid, f"lb-{cid}")
        elif m["op"] == "fill":
            filled[cid] = filled.get(cid, D(0)) + D(m["quantity"])
            self.filled(
                client_order_id=cid,
                venue_order_id=f"lb-{cid}",
                trade_id=m["trade"],
                symbol=order.symbol,
                side=order.side,
                price=D(m["price"]),
                quantity=D(m["quantity"]),
                fee=D(0),
                fee_currency="USD",
                liquidity="taker",
                cumulative_quantity=filled[cid],
                leaves_quantity=order.quantity - filled[cid],
            )
        elif m["op"] == "done":
            if D(m["left"]) > 0:
                self.expired(cid, filled.get(cid, D(0)), "immediate-or-cancel remainder")
            self._balances(m)

    def submit(self, order: SubmitOrder) -> None:
        self._orders = getattr(self, "_orders", {})
        self._orders[order.client_order_id] = order
        line = (
            json.dumps(
                {
                    "op": "order",
                    "id": order.client_order_id,
                    "quantity": str(order.quantity),
                    "price": str(order.limit_price),
                }
            ).encode()
            + b"\n"
        )

        async def send() -> None:
            self.writer.write(line)
            await self.writer.drain()

        self.run_async(send(), failed=lambda exc: self.rejected(order.client_order_id, str(exc)))

    def cancel(self, command: CancelOrder) -> None:
        self.cancel_rejected(command.client_order_id, "IOC orders only: nothing rests here")

    async def disconnect_async(self) -> None:
        writer = getattr(self, "writer", None)
        if writer is not None:
            writer.close()
