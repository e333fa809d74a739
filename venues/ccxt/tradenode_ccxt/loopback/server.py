"""``LoopbackExchange``: one aiohttp server on 127.0.0.1 speaking Binance spot to the real ccxt.

One port serves the REST API (``/api/v3``, the ``/sapi`` bits ccxt asks for), the market streams
(``/stream/ws/...``), the WebSocket API with the user-data stream (``/ws-api/v3``) and the admin
API (``/_admin/...``). Everything runs on one event loop; every request or replayed event ends
with ``commit``, which publishes the book diff, the order events and the balance update it caused
(and saves the state file when there is one).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from tradenode_ccxt.loopback import state_file
from tradenode_ccxt.loopback.account import Account
from tradenode_ccxt.loopback.admin import Admin
from tradenode_ccxt.loopback.amounts import fmt
from tradenode_ccxt.loopback.app import build_app
from tradenode_ccxt.loopback.book import BUY, SELL
from tradenode_ccxt.loopback.capture import CaptureEvent, DepthDiff, MarketTrade, Snapshot
from tradenode_ccxt.loopback.clock import now_ms
from tradenode_ccxt.loopback.faults import Faults
from tradenode_ccxt.loopback.feeds import CaptureFeed, MarketSetup, Replay
from tradenode_ccxt.loopback.klines import KlineHistory
from tradenode_ccxt.loopback.matching import Engine
from tradenode_ccxt.loopback.signing import Credentials
from tradenode_ccxt.loopback.streams import MarketHub, UserHub

DEFAULT_API_KEY = "loopback-api-key"
DEFAULT_API_SECRET = "loopback-api-secret"  # a public test value, not a secret
DEFAULT_BALANCES: Mapping[str, str] = {"USDT": "100000", "BTC": "2"}
BPS = Decimal("0.0001")


class LoopbackExchange:
    """A Binance-spot exchange on loopback, fed by a recorded capture or static books.

    ``speed`` is the replay pace (recorded time x speed); ``None`` is step mode, where the book
    moves only on ``admin.step``. Use ``async with LoopbackExchange(...) as ex:`` inside a running
    event loop, then point ccxt at ``ex.url`` (``client.binance_client`` does it).
    """

    def __init__(
        self,
        markets: Sequence[MarketSetup] = (MarketSetup(),),
        *,
        speed: float | None = 1.0,
        maker_fee_bps: Decimal | int | str = 10,
        taker_fee_bps: Decimal | int | str = 10,
        balances: Mapping[str, Decimal | int | str] = DEFAULT_BALANCES,
        api_key: str = DEFAULT_API_KEY,
        api_secret: str = DEFAULT_API_SECRET,
        host: str = "127.0.0.1",
        port: int = 0,
        state_path: str | Path | None = None,
        user_event_gap: float = 0.0,
    ) -> None:
        if not markets:
            raise ValueError("list at least one market")
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive, or None for step mode")
        self.setups = tuple(markets)
        self.speed = speed
        self.credentials = Credentials(api_key, api_secret)
        self.host = host
        self.port = port
        self.state_path = Path(state_path) if state_path is not None else None
        self.user_event_gap = user_event_gap
        self.faults = Faults()
        self.market_hub = MarketHub()
        self.user_hub = UserHub(self.faults)
        assets = {a for s in self.setups for a in (s.spec.base, s.spec.quote)}
        account = Account({a: Decimal(v) for a, v in balances.items()}, assets)
        self.engine = Engine(
            [(s.spec, s.transform) for s in self.setups],
            account,
            maker_rate=Decimal(maker_fee_bps) * BPS,
            taker_rate=Decimal(taker_fee_bps) * BPS,
            clock=now_ms,
        )
        self.replays: dict[str, Replay] = {}
        self.klines = KlineHistory(self.setups)
        self.sockets: set[web.WebSocketResponse] = set()
        self._tops: dict[str, tuple[Any, ...]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self.admin = Admin(self)

    def __repr__(self) -> str:
        return f"LoopbackExchange(url={self.url if self._runner else None!r}, speed={self.speed})"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` once started."""
        if self._runner is None:
            raise RuntimeError("the exchange is not started")
        return f"http://{self.host}:{self.port}"

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Build the books (restoring the state file first), then listen."""
        if self.state_path is not None:
            state_file.load(self.state_path, self.engine)
        for setup in self.setups:
            symbol = setup.spec.symbol
            if isinstance(setup.feed, CaptureFeed):
                self.replays[symbol] = Replay(symbol, setup.feed, self.apply_event, self.speed)
            else:
                self.apply_event(symbol, setup.feed.snapshot())
        self._runner = web.AppRunner(build_app(self), handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._tasks = [asyncio.create_task(r.run()) for r in self.replays.values()]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for ws in list(self.sockets):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.state_path is not None:
            state_file.save(self.state_path, self.engine)

    async def __aenter__(self) -> LoopbackExchange:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- the recorded market -------------------------------------------------------------------

    def apply_event(self, symbol: str, ev: CaptureEvent) -> None:
        """One recorded (or admin-made) event into the book, our orders and the streams."""
        engine = self.engine
        book = engine.market(symbol).book
        if isinstance(ev, Snapshot):
            book.reset(ev.bids, ev.asks, ev.last_update_id)
            engine.on_recorded_book(symbol)
            self.commit(symbol, ev.last_update_id)
        elif isinstance(ev, DepthDiff):
            for price, qty in ev.bids:
                book.record(BUY, price, qty)
            for price, qty in ev.asks:
                book.record(SELL, price, qty)
            engine.on_recorded_book(symbol)
            self.commit(symbol, ev.last_id)
        else:
            self._market_trade(symbol, ev)

    def _market_trade(self, symbol: str, ev: MarketTrade) -> None:
        price = self.engine.market(symbol).book.shown_price(ev.price)
        self.engine.on_market_trade(symbol, price, ev.qty, ev.buyer_is_maker)
        now = now_ms()
        self.market_hub.publish(
            f"{symbol.lower()}@trade",
            {
                "e": "trade",
                "E": now,
                "s": symbol,
                "t": ev.trade_id,
                "p": fmt(price),
                "q": fmt(ev.qty),
                "T": now,
                "m": ev.buyer_is_maker,
                "M": True,
            },
        )
        self.commit()

    # --- publishing ----------------------------------------------------------------------------

    def commit(self, recorded_symbol: str | None = None, recorded_id: int | None = None) -> None:
        """Publish what the last operation changed: diffs, tickers, order and balance events."""
        now = now_ms()
        for symbol, m in self.engine.markets.items():
            diff = m.book.flush(recorded_id if symbol == recorded_symbol else None)
            if diff is None:
                continue
            payload = {
                "e": "depthUpdate",
                "E": now,
                "s": symbol,
                "U": diff.first_id,
                "u": diff.last_id,
                "b": [[fmt(p), fmt(q)] for p, q in diff.bids],
                "a": [[fmt(p), fmt(q)] for p, q in diff.asks],
            }
            lower = symbol.lower()
            for stream in (f"{lower}@depth@100ms", f"{lower}@depth", f"{lower}@depth@1000ms"):
                self.market_hub.publish(stream, payload)
            self._publish_top(symbol, diff.last_id)
        events, self.engine.user_events = self.engine.user_events, []
        for event in events:
            self.user_hub.publish(event)
        touched = self.engine.account.take_touched()
        if touched:
            self.user_hub.publish(
                {
                    "e": "outboundAccountPosition",
                    "E": now,
                    "u": now,
                    "B": [
                        {"a": r["asset"], "f": r["free"], "l": r["locked"]}
                        for r in self.engine.account.rows(touched)
                    ],
                }
            )
        if (events or touched) and self.state_path is not None and self._runner is not None:
            state_file.save(self.state_path, self.engine)

    def _publish_top(self, symbol: str, update_id: int) -> None:
        book = self.engine.market(symbol).book
        bid, ask = book.best(BUY), book.best(SELL)
        top = (bid, ask)
        if self._tops.get(symbol) == top:
            return
        self._tops[symbol] = top
        self.market_hub.publish(
            f"{symbol.lower()}@bookTicker",
            {
                "u": update_id,
                "s": symbol,
                "b": fmt(bid[0]) if bid else "0.00000000",
                "B": fmt(bid[1]) if bid else "0.00000000",
                "a": fmt(ask[0]) if ask else "0.00000000",
                "A": fmt(ask[1]) if ask else "0.00000000",
            },
        )
