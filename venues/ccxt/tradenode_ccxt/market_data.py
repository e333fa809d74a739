"""Market data of one venue into the node: books and public trades, from ccxt.pro's streams
or REST polling.

Each symbol's book is watched (or polled) and handed to its ``BookFeed``; a gap
(``ChecksumError``) or a lost stream makes the next update replace the book whole, and the
venue says so (``book resynchronised``). Public trades become ``TradeTick``s, each once.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from node.messages import TradeTick
from node.recent import Recent
from tradenode_ccxt import convert
from tradenode_ccxt.books import BookFeed
from tradenode_ccxt.errors import Outcome, classify, unwrap

if TYPE_CHECKING:
    from tradenode_ccxt.session import Session

_MAX_RETRY_S = 30.0
_SEEN_TRADES = 5000


def start_market_data(session: Session) -> None:
    for symbol in session.config.symbols:
        feed = BookFeed(session.book_of(symbol), session.config.book_depth)
        if session.websockets and session.exchange.has.get("watchOrderBook"):
            session.spawn(_watch_book(session, symbol, feed))
            if session.config.trades and session.exchange.has.get("watchTrades"):
                session.spawn(_watch_trades(session, symbol))
        else:
            session.spawn(_poll_market(session, symbol, feed))


def _apply_book(
    session: Session, symbol: str, feed: BookFeed, book: dict[str, Any], why: str
) -> None:
    started = time.perf_counter_ns()
    snapshot = feed.update(book, session.now())
    if session.timings is not None:
        session.timings.book_ours_ns.append(time.perf_counter_ns() - started)
    if snapshot is not None:
        session.outbox.market(snapshot)
        if why:
            session.outbox.status(
                "book resynchronised",
                f"{symbol}: new snapshot (update id {snapshot.sequence}) after {why}",
            )


async def _watch_book(session: Session, symbol: str, feed: BookFeed) -> None:
    import ccxt

    why, delay = "", 1.0
    while True:
        try:
            book = await session.exchange.watch_order_book(symbol)
        except Exception as exc:
            feed.reset()
            why = session.describe(exc)
            if isinstance(unwrap(exc), ccxt.ChecksumError):
                session.outbox.status("book resynchronising", f"{symbol}: {why}")
                continue
            session.outbox.status("market data reconnecting", f"{symbol}: {why}; in {delay:g} s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_RETRY_S)
            continue
        delay = 1.0
        _apply_book(session, symbol, feed, book, why)
        why = ""


async def _watch_trades(session: Session, symbol: str) -> None:
    seen: Recent[str] = Recent(_SEEN_TRADES)
    delay = 1.0
    while True:
        try:
            trades = await session.exchange.watch_trades(symbol)
        except Exception as exc:
            session.outbox.status("trades reconnecting", f"{symbol}: {session.describe(exc)}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_RETRY_S)
            continue
        delay = 1.0
        _publish_trades(session, symbol, trades, seen)


def _publish_trades(
    session: Session, symbol: str, trades: list[dict[str, Any]], seen: Recent[str]
) -> None:
    now = session.now()
    for trade in trades:
        # with its time: an id alone may repeat (a venue numbering per session, a test feed)
        key = f"{trade.get('id')}@{trade.get('timestamp')}"
        if key in seen or trade.get("side") not in ("buy", "sell"):
            continue
        seen.add(key)
        session.outbox.market(
            TradeTick(
                venue=session.venue,
                symbol=symbol,
                price=convert.dec(trade["price"]),
                size=convert.dec(trade["amount"]),
                aggressor=trade["side"],
                trade_id=str(trade.get("id")),
                ts=now,
            )
        )


async def _poll_market(session: Session, symbol: str, feed: BookFeed) -> None:
    interval = session.config.poll_interval_ms / 1000
    seen: Recent[str] = Recent(_SEEN_TRADES)
    since: int | None = None
    why, trades_failing = "", ""
    while True:
        pause = 0.0
        try:
            _apply_book(session, symbol, feed, await session.exchange.fetch_order_book(symbol), why)
            why = ""
        except Exception as exc:
            feed.reset()
            why = session.describe(exc)
            if classify(exc) is Outcome.RATE_LIMITED:
                pause = session.rate_limited(exc)
            session.outbox.status("market data polling failed", f"{symbol}: {why}")
        if session.config.trades and not pause:
            try:
                trades = await session.exchange.fetch_trades(symbol, since)
                _publish_trades(session, symbol, trades, seen)
                since = (trades[-1].get("timestamp") if trades else None) or since
                trades_failing = ""
            except Exception as exc:
                if not trades_failing:  # said once, not on every poll
                    session.outbox.status(
                        "public trades unavailable", f"{symbol}: {session.describe(exc)}"
                    )
                trades_failing = str(exc)
        await asyncio.sleep(max(pause, interval))
