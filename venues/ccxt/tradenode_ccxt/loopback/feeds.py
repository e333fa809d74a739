"""Where a symbol's recorded market comes from, and the replay that paces it.

A symbol is fed either by a recorded Binance capture (replayed in real time x speed, or one
update at a time in step mode) or by a static book (a list of levels that only admin calls
change). Either way the events reach the server through one callback, so the book, the fills of
our resting orders and the published diffs follow the same path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from tradenode_ccxt.loopback.capture import (
    DEFAULT_CAPTURE,
    CaptureError,
    CaptureEvent,
    DepthDiff,
    Snapshot,
    read_capture,
)
from tradenode_ccxt.loopback.klines import BarsFile
from tradenode_ccxt.loopback.spec import PriceTransform, SymbolSpec

log = logging.getLogger(__name__)
Levels = Sequence[tuple[Decimal | str, Decimal | str]]


@dataclass(frozen=True)
class CaptureFeed:
    """Replay a recorded capture (default: the BTCUSDT spot capture kept in the repository)."""

    paths: tuple[Path, ...] = DEFAULT_CAPTURE


@dataclass(frozen=True)
class StaticBook:
    """A fixed book (recorded-price levels), changed only through the admin API."""

    bids: Levels = ()
    asks: Levels = ()
    update_id: int = 1

    def snapshot(self) -> Snapshot:
        def levels(raw: Levels) -> list[tuple[Decimal, Decimal]]:
            return [(Decimal(p), Decimal(q)) for p, q in raw]

        return Snapshot(0, self.update_id, levels(self.bids), levels(self.asks))


@dataclass(frozen=True)
class MarketSetup:
    """One listed symbol: its filters, what feeds its book, how its prices are shown, and
    where its kline history comes from (a bars file; default: the capture's trades)."""

    spec: SymbolSpec = field(default_factory=SymbolSpec)
    feed: CaptureFeed | StaticBook = field(default_factory=CaptureFeed)
    transform: PriceTransform = field(default_factory=PriceTransform)
    klines: BarsFile | None = None


class Replay:
    """Plays one capture into ``apply``: by the recorded clock x ``speed``, or by ``step``.

    The snapshot and the diffs bridging it are applied at construction, so the book exists
    before the first step. ``speed=None`` is step mode: nothing moves until ``step`` is called.
    """

    def __init__(
        self,
        symbol: str,
        feed: CaptureFeed,
        apply: Callable[[str, CaptureEvent], None],
        speed: float | None,
    ) -> None:
        self.symbol = symbol
        self._apply = apply
        self._events: Iterator[CaptureEvent] = read_capture(feed.paths)
        self._next: CaptureEvent | None = next(self._events, None)
        if not isinstance(self._next, Snapshot):
            raise CaptureError(f"{feed.paths}: the capture has no depth snapshot")
        start = self._next.ts
        while self._next is not None and self._next.ts <= start:
            self._advance()
        self.speed = speed
        self.diffs_applied = 0
        self._wake = asyncio.Event()
        self._anchor = (0.0, 0)

    @property
    def done(self) -> bool:
        return self._next is None

    def _advance(self) -> CaptureEvent:
        ev = self._next
        assert ev is not None
        self._next = next(self._events, None)
        self._apply(self.symbol, ev)
        return ev

    def step(self, diffs: int = 1) -> int:
        """Apply events up to and including the next ``diffs`` depth diffs; returns how many."""
        applied = 0
        while applied < diffs and self._next is not None:
            if isinstance(self._advance(), DepthDiff):
                applied += 1
        self.diffs_applied += applied
        self._reanchor()
        return applied

    def set_speed(self, speed: float | None) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive, or None for step mode")
        self.speed = speed
        self._reanchor()

    def _reanchor(self) -> None:
        if self._next is not None:
            self._anchor = (asyncio.get_running_loop().time(), self._next.ts)
        self._wake.set()

    async def run(self) -> None:
        """Apply events when the recorded clock says so; sleeps while in step mode.

        A capture that breaks Binance's rule midway ends the replay (logged): the book then
        stays as it was, like a feed that stopped.
        """
        try:
            await self._run()
        except CaptureError:
            log.exception("replay of %s stopped", self.symbol)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        self._anchor = (loop.time(), self._next.ts if self._next else 0)
        while self._next is not None:
            self._wake.clear()
            if self.speed is None:
                await self._wake.wait()
                continue
            wall, ts = self._anchor
            delay = wall + (self._next.ts - ts) / 1e9 / self.speed - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            if isinstance(self._advance(), DepthDiff):
                self.diffs_applied += 1
