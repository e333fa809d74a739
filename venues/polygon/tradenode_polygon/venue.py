"""Polygon.io as a market-data venue: it trades nothing, and fills other venues' books.

Polygon's quotes of the configured stocks become the L1 book of each venue it ``serves`` in the
node's one book per venue, so a broker venue that has no market data of its own (Alpaca without
its stream, say) has prices for the router, risk and the portfolio. Trades and minute
aggregates are published as ``TradeTick`` and ``Bar`` of that venue for algorithms that
subscribe. The venue is up while the websocket is subscribed; a lost connection is reported
(``reconnecting``) and comes back subscribed again. Orders sent to it are refused, and its
capabilities say it takes none.

It serves history: ``FetchBars`` is answered from Polygon's aggregates over REST
(``history.AggregatesHistory``, ``rest_url``) in the minutes asked for, each bar exact (the
decimal massive's float was read from), whether or not the stream is up. A VWAP of a stock
traded on the venue it serves names it: ``bars = "venue"``, ``bars_venue = "<this venue>"``.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal
from typing import Any

from node.messages import (
    Bar,
    BookLevel,
    BookSnapshot,
    CancelOrder,
    FetchBars,
    SubmitOrder,
    TradeTick,
    VenueCapabilities,
)
from node.runtime.base import describe_error
from node.venue import VenueSetup, aggressor
from node.venue_loop import AsyncVenue
from tradenode_polygon.config import PolygonConfig

log = logging.getLogger("tradenode.polygon")
_MS = 1_000_000
MINUTE_NS = 60_000 * _MS


def _exact(value: Any) -> Decimal:
    """massive's number as the decimal it was read from (a float's shortest round trip)."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _bar(venue: str, symbol: str, length_ns: int, row: list[Any]) -> Bar:
    ms, o, h, low, c, v = row
    return Bar(
        venue=venue,
        symbol=symbol,
        interval_ns=length_ns,
        open=_exact(o),
        high=_exact(h),
        low=_exact(low),
        close=_exact(c),
        volume=_exact(v),
        ts=int(ms) * _MS,
    )


def _level(price: Any, size: Any) -> list[BookLevel]:
    if not price or not size:
        return []
    return [BookLevel(Decimal(price), Decimal(size))]


class PolygonData(AsyncVenue):
    """See the module docstring."""

    capabilities = VenueCapabilities(
        order_types=(), time_in_force=(), post_only=False, reconciles=False, bars=True
    )

    def __init__(self, name: str, config: PolygonConfig, setup: VenueSetup) -> None:
        super().__init__(name, config, setup)
        self.config: PolygonConfig = config
        self.stream: Any = None
        self.tasks: list[asyncio.Task[None]] = []
        self.refused = False
        self.history: Any = None

    async def connect_async(self) -> None:
        from node.config import secret
        from tradenode_polygon.stream import PolygonStream

        cfg = self.config
        key = secret(cfg.api_key_env)
        self.post(self._loaded)
        self.stream = PolygonStream(
            key.reveal(),
            feed=cfg.feed,
            secure=cfg.secure,
            topics=cfg.topics,
            max_pause_s=cfg.reconnect_max_s,
            on_events=lambda events: self.post(lambda: self._events(events)),
            on_up=lambda: self.post(self._up),
            on_down=lambda why: self.post(lambda: self._down(why)),
            on_refused=lambda why: self.post(lambda: self._refused(why)),
        )
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self.stream.run()), loop.create_task(self._watch())]

    async def _watch(self) -> None:
        """A connection that never comes (massive retries a refused one quietly) is said."""
        cfg = self.config
        await asyncio.sleep(cfg.connect_timeout_s)
        if not self.stream.connected and not self.refused:
            problem = f" ({self.stream.problem})" if self.stream.problem else ""
            why = (
                f"Polygon ({cfg.feed}) did not take the subscriptions within "
                f"{cfg.connect_timeout_s:g} s{problem}"
            )
            self.post(lambda: self._down(why))

    async def disconnect_async(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    # -- connection (on the component's thread) -------------------------------------------------

    def _loaded(self) -> None:
        self.instruments_loaded([])
        self.balances_updated({})

    def _up(self) -> None:
        if not self.up:
            self.connected(self.capabilities)

    def _down(self, reason: str) -> None:
        if self.up or self.down_reason != reason:
            self.disconnected(reason, reconnecting=True)

    def _refused(self, reason: str) -> None:
        self.refused = True
        self.disconnected(reason)

    # -- market data ----------------------------------------------------------------------------

    def _events(self, events: list[dict[str, Any]]) -> None:
        now = self.ctx.now()
        for event in events:
            symbol = event.get("sym")
            kind = event.get("ev")
            for venue in self.config.venues:
                if kind == "Q":
                    self._quote(venue, symbol, event, now)
                elif kind == "T" and event.get("p"):
                    price = Decimal(event["p"])
                    self.ctx.publish(
                        TradeTick(
                            venue=venue,
                            symbol=symbol,
                            price=price,
                            size=Decimal(event.get("s", 0)),
                            aggressor=aggressor(price, *self.market.book(venue, symbol).top()),
                            trade_id=str(event.get("i", "")),
                            ts=now,
                        )
                    )
                elif kind == "AM":
                    self.ctx.publish(
                        Bar(
                            venue=venue,
                            symbol=symbol,
                            interval_ns=int(event["e"] - event["s"]) * _MS or MINUTE_NS,
                            open=Decimal(event["o"]),
                            high=Decimal(event["h"]),
                            low=Decimal(event["l"]),
                            close=Decimal(event["c"]),
                            volume=Decimal(event["v"]),
                            ts=now,
                        )
                    )

    def _quote(self, venue: str, symbol: str, event: dict[str, Any], now: int) -> None:
        snapshot = BookSnapshot(
            venue=venue,
            symbol=symbol,
            bids=_level(event.get("bp"), event.get("bs")),
            asks=_level(event.get("ap"), event.get("as")),
            ts=now,
        )
        self.market.book(venue, symbol).apply(snapshot, now)
        self.ctx.publish(snapshot)

    # -- history --------------------------------------------------------------------------------

    def fetch_bars(self, request: FetchBars) -> None:
        minutes = request.timeframe_minutes
        if minutes < 1:
            self.bars_fetched(request, error=f"cannot serve {minutes}-minute bars")
            return
        if getattr(self, "loop", None) is None:
            self.bars_fetched(request, error=f"venue {self.venue} is not started")
            return

        def read() -> list[Bar]:
            from tradenode_polygon.history import AggregatesHistory

            if self.history is None:
                self.history = AggregatesHistory.from_config(self.config)
            rows = self.history.ohlcv_between(
                request.symbol,
                bucket_minutes=minutes,
                since_ms=-(-request.since_ns // _MS),
                until_ms=-(-request.until_ns // _MS),
            )
            return [_bar(self.venue, request.symbol, minutes * MINUTE_NS, row) for row in rows]

        self.run_async(
            asyncio.to_thread(read),  # massive's REST client blocks: not on the venue's loop
            then=lambda bars: self.bars_fetched(request, bars),
            failed=lambda exc: self.bars_fetched(
                request, error=f"Polygon aggregates failed: {describe_error(exc)}"
            ),
        )

    # -- orders: none ---------------------------------------------------------------------------

    def submit(self, order: SubmitOrder) -> None:
        self.rejected(
            order.client_order_id,
            f"{self.venue} is a market-data source (Polygon.io): it takes no orders",
        )

    def cancel(self, command: CancelOrder) -> None:
        self.cancel_rejected(
            command.client_order_id, f"{self.venue} is a market-data source: it has no orders"
        )
