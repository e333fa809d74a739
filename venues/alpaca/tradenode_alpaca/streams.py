"""alpaca-py's websockets, run on the venue's own event loop, saying when they connect and drop.

alpaca-py's ``TradingStream`` and ``StockDataStream`` reconnect by themselves but tell nobody;
these subclasses report each (re)connection and each loss, which is how the venue knows that
Alpaca's ``trade_updates`` (never replayed) may have been missed. Both run in raw mode, so
amounts arrive as Alpaca sent them (strings on the trading stream) rather than as alpaca-py's
float fields. ``run`` is the stream's own ``_run_forever`` (alpaca-py's ``run`` would start an
event loop of its own); ``stop`` ends it at once (its ``stop()`` is only noticed after a 5 s
receive timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import websockets
from alpaca.data.enums import DataFeed
from alpaca.data.live.stock import StockDataStream
from alpaca.trading.stream import TradingStream

from node.runtime.base import describe_error

Report = Callable[[str], None]


class _Reporting:
    """What both streams add: ``up``/``down`` callbacks and the last connection error."""

    _on_up: Callable[[], None]
    _on_down: Report
    last_error: str

    async def _start_ws(self) -> None:
        try:
            await super()._start_ws()  # type: ignore[misc]
        except Exception as exc:
            self.last_error = describe_error(exc)
            raise
        self.last_error = ""
        self._on_up()

    async def _consume(self) -> Any:
        try:
            return await super()._consume()  # type: ignore[misc]
        except websockets.WebSocketException as exc:
            self._on_down(f"connection lost: {exc}")
            raise

    async def shutdown(self, task: asyncio.Future[Any] | None) -> None:
        await self.stop_ws()  # type: ignore[attr-defined]
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.close()  # type: ignore[attr-defined]


class TradeUpdates(_Reporting, TradingStream):
    """``trade_updates``: every event's ``data`` goes to ``on_update``."""

    def __init__(
        self,
        key: str,
        secret: str,
        *,
        url: str,
        on_update: Callable[[dict[str, Any]], None],
        on_up: Callable[[], None],
        on_down: Report,
    ) -> None:
        super().__init__(key, secret, raw_data=True, url_override=url)
        self._on_up, self._on_down, self.last_error = on_up, on_down, ""

        async def handle(message: dict[str, Any]) -> None:
            on_update(message.get("data") or {})

        self.subscribe_trade_updates(handle)

    def __repr__(self) -> str:
        return f"TradeUpdates({self._endpoint!r})"


class MarketData(_Reporting, StockDataStream):
    """Quotes and trades of ``symbols`` (IEX or SIP), each message to ``on_message``."""

    def __init__(
        self,
        key: str,
        secret: str,
        *,
        url: str,
        feed: str,
        symbols: list[str],
        on_message: Callable[[dict[str, Any]], None],
        on_up: Callable[[], None],
        on_down: Report,
    ) -> None:
        super().__init__(
            key,
            secret,
            raw_data=True,
            feed=DataFeed.SIP if feed == "sip" else DataFeed.IEX,
            url_override=url,
        )
        self._on_up, self._on_down, self.last_error = on_up, on_down, ""

        async def handle(message: dict[str, Any]) -> None:
            on_message(message)

        self.subscribe_quotes(handle, *symbols)
        self.subscribe_trades(handle, *symbols)

    def __repr__(self) -> str:
        return f"MarketData({self._endpoint!r})"
