"""The ccxt venue's own cost, beside ccxt alone, against the loopback Binance exchange.

Run: ``uv run python benchmarks/ccxt_adapter.py`` (about a minute; ``--orders``, ``--updates``,
``--ticks`` change the counts). Everything runs in this process: the loopback exchange on its
own thread and event loop, the clients on theirs.

1. Orders. ``create_order`` of a resting limit buy (non-marketable, so every call does the same
   work) and of an IOC buy that fills two levels (the book is restored between calls, outside the
   timing). ccxt alone: a ``ccxt.pro.binance`` client's ``create_order``, timed around the call.
   Through the adapter: the venue's ``Session.submit`` with the same order, timed in parts: ours
   (checking and rounding the order, the queue slot, and after the answer the tracker, the
   events and the balance gate) apart from the wire (ccxt's ``create_order``: request building,
   signing, HTTP, the exchange, parsing). Blocks of the two alternate, so load hits both alike.
   ccxt's throttler is off on both (it spaces calls by Binance's weights, 50 ms a unit), and
   the venue's order queue is unbounded: what is timed is the code path, not a rate.
2. Book updates. The recorded BTCUSDT capture stepped one depth diff at a time; two ccxt.pro
   clients watch the book: one alone, one inside the adapter. Per update: ccxt's own handling
   of the message (``handle_order_book``, timed by wrapping it) and the adapter's (diffing ccxt's
   top ``book_depth`` levels into the node's exact book).
3. Tick to order through the whole node. A node (live runtime) with one ccxt venue; a component
   that sends a 0.001 BTC ``route`` parent order for every public trade it receives. The
   exchange publishes a trade (``admin.market_trade``); timed from that call to the order's
   arrival in the exchange's matching engine (its ``place``, wrapped to take the time).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradenode_ccxt.config import CcxtVenueConfig
from tradenode_ccxt.loopback import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    LOOPBACK_OPTIONS,
    LoopbackExchangeThread,
    MarketSetup,
    StaticBook,
    binance_client,
)
from tradenode_ccxt.session import Session, Timings
from tradenode_ccxt.tracker import OrderTracker

from node.book import L2Book
from node.component import Component
from node.messages import Message, SubmitOrder, SubmitParentOrder, TradeTick

SYMBOL = "BTC/USDT"
ASKS = [("60010", "0.5"), ("60020", "0.5"), ("60030", "5")]
BOOK = MarketSetup(feed=StaticBook(bids=[("60000", "5")], asks=ASKS))
BALANCES = {"USDT": "100000000", "BTC": "100"}


def pct(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


def row(name: str, values: list[int]) -> str:
    return (
        f"  {name:<34} {pct(values, 0.5):>9.1f} {pct(values, 0.99):>9.1f} "
        f"{statistics.fmean(values) / 1000:>9.1f}"
    )


class _Outbox:
    """Takes what the session reports (the node's side of the venue is not part of this)."""

    def __init__(self) -> None:
        self.reported = 0

    def events(self, events: list[Any]) -> None:
        self.reported += len(events)

    def status(self, status: str, detail: str) -> None:
        pass

    def market(self, message: Message) -> None:
        pass

    def instruments(self, instruments: list[Any]) -> None:
        pass

    def balances(self, balances: dict[str, Any]) -> None:
        pass

    def connected(self, capabilities: Any) -> None:
        pass

    def disconnected(self, reason: str, reconnecting: bool) -> None:
        pass

    def cancel_rejected(self, client_order_id: str, reason: str) -> None:
        pass


def venue_config(url: str, **settings: Any) -> CcxtVenueConfig:
    return CcxtVenueConfig(
        exchange="binance",
        symbols=[SYMBOL],
        api_key_env="BENCH_CCXT_KEY",
        secret_env="BENCH_CCXT_SECRET",
        base_url=url,
        options=dict(LOOPBACK_OPTIONS),
        orders_per_minute=1e9,
        order_burst=1_000_000,
        rate_limit=False,
        **settings,
    )


async def start_session(url: str, **settings: Any) -> Session:
    session = Session(
        "bench",
        venue_config(url, **settings),
        _Outbox(),  # type: ignore[arg-type]
        OrderTracker("bench"),
        lambda symbol: L2Book("bench", symbol),
        time.time_ns,
    )
    session.timings = Timings()
    await session.start()
    return session


# -- 1. orders ---------------------------------------------------------------------------------


async def orders(exchange: LoopbackExchangeThread, count: int, block: int) -> None:
    alone = binance_client(exchange.url)
    alone.enableRateLimit = False  # ccxt's throttler would space the calls: measured apart
    await alone.load_markets()
    session = await start_session(exchange.url)
    timings = session.timings
    assert timings is not None
    seq = 0

    def order(kind: str) -> tuple[list[Any], dict[str, Any], SubmitOrder]:
        nonlocal seq
        seq += 1
        cid = f"b{seq}"
        if kind == "rest":
            args = [SYMBOL, "limit", "buy", 0.001, 50000.0]
            sub = SubmitOrder(
                client_order_id=cid,
                venue="bench",
                symbol=SYMBOL,
                side="buy",
                quantity=Decimal("0.001"),
                limit_price=Decimal(50000),
            )
            return args, {"clientOrderId": cid}, sub
        args = [SYMBOL, "limit", "buy", 0.8, 60020.0]
        sub = SubmitOrder(
            client_order_id=cid,
            venue="bench",
            symbol=SYMBOL,
            side="buy",
            quantity=Decimal("0.8"),
            limit_price=Decimal(60020),
            time_in_force="ioc",
        )
        return args, {"clientOrderId": cid, "timeInForce": "IOC"}, sub

    results: dict[str, dict[str, list[int]]] = {}
    for kind in ("rest", "ioc"):
        alone_ns: list[int] = []
        total_ns: list[int] = []
        timings.order_ours_ns.clear()
        timings.order_wire_ns.clear()
        done = 0
        while done < count:
            for _ in range(block):
                args, params, _ = order(kind)
                if kind == "ioc":
                    exchange.admin.apply_levels(asks=ASKS)
                started = time.perf_counter_ns()
                await alone.create_order(*args, params)
                alone_ns.append(time.perf_counter_ns() - started)
            for _ in range(block):
                _, _, sub = order(kind)
                if kind == "ioc":
                    exchange.admin.apply_levels(asks=ASKS)
                started = time.perf_counter_ns()
                await session.submit(sub)
                total_ns.append(time.perf_counter_ns() - started)
            done += block
        results[kind] = {
            "ccxt alone: create_order": alone_ns,
            "adapter: submit, all of it": total_ns,
            "adapter: wire (ccxt create_order)": list(timings.order_wire_ns),
            "adapter: ours": list(timings.order_ours_ns),
        }
    await alone.close()
    await session.close()
    for kind, label in (("rest", "resting limit buy"), ("ioc", "IOC buy filling 2 levels")):
        print(f"\norders ({label}), {count} each; µs:")
        print(f"  {'':<34} {'p50':>9} {'p99':>9} {'mean':>9}")
        for name, values in results[kind].items():
            print(row(name, values))
        ours = statistics.median(results[kind]["adapter: ours"])
        alone_p50 = statistics.median(results[kind]["ccxt alone: create_order"])
        print(f"  ours / ccxt alone (p50): {ours / alone_p50:.1%}")


# -- 2. book updates ---------------------------------------------------------------------------


def timed_handler(client: Any, into: list[int]) -> None:
    original = client.handle_order_book

    def handle(ws_client: Any, message: Any) -> Any:
        started = time.perf_counter_ns()
        try:
            return original(ws_client, message)
        finally:
            into.append(time.perf_counter_ns() - started)

    client.handle_order_book = handle


async def book_updates(updates: int) -> None:
    exchange = LoopbackExchangeThread((MarketSetup(),), speed=None).start()  # the capture
    try:
        alone = binance_client(exchange.url)
        await alone.load_markets()
        ccxt_alone: list[int] = []
        timed_handler(alone, ccxt_alone)
        session = await start_session(exchange.url, trades=False)
        ccxt_in_adapter: list[int] = []
        timed_handler(session.exchange, ccxt_in_adapter)

        async def watch() -> None:
            while True:
                await alone.watch_order_book(SYMBOL)

        watcher = asyncio.ensure_future(watch())
        await asyncio.sleep(1.0)  # both subscribed, snapshots applied
        assert session.timings is not None
        session.timings.book_ours_ns.clear()
        ccxt_alone.clear()
        ccxt_in_adapter.clear()
        loop = asyncio.get_running_loop()
        for _ in range(updates):
            await loop.run_in_executor(None, exchange.admin.step, 1)
            await asyncio.sleep(0.002)
        await asyncio.sleep(0.5)
        watcher.cancel()
        ours = session.timings.book_ours_ns
        print(f"\nbook updates: {updates} recorded BTCUSDT diffs stepped; µs per update:")
        print(f"  {'':<34} {'p50':>9} {'p99':>9} {'mean':>9}")
        print(row("ccxt alone: handle_order_book", ccxt_alone))
        print(row("adapter: ccxt's handle_order_book", ccxt_in_adapter))
        print(row("adapter: ours (top 100 into node)", ours))
        print(f"  updates seen: ccxt alone {len(ccxt_alone)}, adapter {len(ours)}")
        print(
            f"  ours / ccxt's own (p50): "
            f"{statistics.median(ours) / statistics.median(ccxt_in_adapter):.1%}"
        )
        await alone.close()
        await session.close()
    finally:
        exchange.stop()


# -- 3. tick to order --------------------------------------------------------------------------


class TickTrader(Component):
    """A parent order of 0.001 BTC for every public trade the venue reports."""

    subscriptions = (TradeTick,)

    def __init__(self) -> None:
        super().__init__("tick-trader")
        self.seen = 0

    def on_message(self, message: Message) -> None:
        self.seen += 1
        self.ctx.send(
            "execution",
            SubmitParentOrder(
                parent_id=f"tick-{self.seen}",
                symbol=SYMBOL,
                side="buy",
                quantity=Decimal("0.001"),
                ts=self.ctx.now(),
            ),
        )


def tick_to_order(ticks: int) -> None:
    from node.config import load_config
    from node.messages import NodeReady
    from node.node import Node
    from node.plugins import load_plugins
    from node.runtime.recorder import Recorder

    exchange = LoopbackExchangeThread((BOOK,), speed=None, balances=BALANCES).start()
    arrivals: list[int] = []
    engine = exchange.exchange.engine  # type: ignore[union-attr]
    place = engine.place

    def timed_place(req: Any) -> Any:
        arrivals.append(time.perf_counter_ns())
        return place(req)

    engine.place = timed_place
    directory = Path(tempfile.mkdtemp(prefix="ccxt-bench-"))
    config = directory / "node.toml"
    config.write_text(
        "\n".join(
            [
                "[node]",
                'name = "bench"',
                'valuation_currency = "USDT"',
                "[node.control]",
                "enabled = false",
                "[router]",
                "max_book_age_ms = 600000",
                "[risk.checks.instrument]",
                "[venues.x]",
                'plugin = "ccxt"',
                'exchange = "binance"',
                f'symbols = ["{SYMBOL}"]',
                'api_key_env = "BENCH_CCXT_KEY"',
                'secret_env = "BENCH_CCXT_SECRET"',
                f'base_url = "{exchange.url}"',
                "options = { fetchCurrencies = false, fetchMargins = false, "
                'fetchMarkets = { types = ["spot"] } }',
                "orders_per_minute = 100000",
                "rate_limit = false",
                "order_burst = 1000",
            ]
        )
        + "\n"
    )
    plugins = load_plugins()
    trader, recorder = TickTrader(), Recorder(types=(NodeReady,))
    node = Node(
        load_config(config, plugins),
        plugins,
        journal_path=directory / "journal.sqlite",
        runtime_kind="live",
        extra=[trader, recorder],
    )
    node.start()
    try:
        if not recorder.wait_for(lambda m: isinstance(m, NodeReady), 120):
            raise SystemExit("the node did not get ready")
        time.sleep(1.0)
        latencies: list[int] = []
        for i in range(ticks):
            exchange.admin.apply_levels(asks=ASKS)
            before = len(arrivals)
            started = time.perf_counter_ns()
            exchange.admin.market_trade("60010", "0.01", buyer_is_maker=False)
            deadline = time.monotonic() + 10
            while len(arrivals) == before and time.monotonic() < deadline:
                time.sleep(0.0002)
            if len(arrivals) == before:
                raise SystemExit(f"tick {i}: no order arrived within 10 s")
            latencies.append(arrivals[before] - started)
            time.sleep(0.05)
        print(f"\ntick to order through the whole node: {ticks} trades; µs:")
        print(f"  {'':<34} {'p50':>9} {'p99':>9} {'mean':>9}")
        print(row("trade published -> order at exchange", latencies))
    finally:
        node.stop()
        exchange.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=50)
    args = parser.parse_args()
    os.environ["BENCH_CCXT_KEY"] = DEFAULT_API_KEY
    os.environ["BENCH_CCXT_SECRET"] = DEFAULT_API_SECRET
    import ccxt

    print(
        f"ccxt {ccxt.__version__}, Python {platform.python_version()}, "
        f"{os.cpu_count()} cores; loopback Binance in this process"
    )
    exchange = LoopbackExchangeThread((BOOK,), speed=None, balances=BALANCES).start()
    try:
        asyncio.run(orders(exchange, args.orders, block=25))
    finally:
        exchange.stop()
    asyncio.run(book_updates(args.updates))
    tick_to_order(args.ticks)


if __name__ == "__main__":
    main()
