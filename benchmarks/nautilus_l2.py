"""nautilus_trader's L2 time on the recorded Binance BTCUSDT capture, its final book checked.

The baseline that tradenode's replay is measured against: nautilus_trader 1.221's
``BacktestEngine`` fed the capture as L2 ``OrderBookDeltas`` plus trades (and, in the second
variant, the book tickers as quotes), with a strategy that reads best bid and ask from its
cache's order book on every update. A speed figure is only worth something if the engine built
the right book, so the final book is compared level for level with a reference built here by
Binance's update-id rule in exact ``Decimal``.

Everything is independent of tradenode: the capture is read by :func:`read_capture` below, not by
``tradenode_sim.sources.binance_stream``, so a shared parsing mistake cannot make both sides agree.

What made nautilus_trader run on L2 (it refused with "No order book data found" before):
``BacktestEngine.add_data`` marks an instrument as having book data from the type of the *first*
element of each call, so the deltas go in a call of their own; one ``OrderBookDeltas`` per Binance
message (the snapshot as CLEAR then ADDs flagged ``F_SNAPSHOT``, each diff's levels as UPDATE, or
DELETE where the size is 0, the last delta of each message flagged ``F_LAST``, sequence = Binance's
``u``); venue ``book_type=L2_MBP``.

    uv run python benchmarks/nautilus_l2.py [--rounds N] [--no-memory]
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from nautilus_trader.backtest.engine import BacktestEngine, BacktestEngineConfig
from nautilus_trader.config import LoggingConfig, StrategyConfig
from nautilus_trader.model.book import BookLevel, OrderBook
from nautilus_trader.model.currencies import BTC, USDT
from nautilus_trader.model.data import (
    BookOrder,
    OrderBookDelta,
    OrderBookDeltas,
    QuoteTick,
    TradeTick,
)
from nautilus_trader.model.enums import (
    AccountType,
    AggressorSide,
    BookAction,
    BookType,
    OmsType,
    OrderSide,
    RecordFlag,
)
from nautilus_trader.model.identifiers import InstrumentId, Symbol, TradeId, Venue
from nautilus_trader.model.instruments import CurrencyPair
from nautilus_trader.model.objects import FIXED_PRECISION, Money, Price, Quantity
from nautilus_trader.trading.strategy import Strategy

CAPTURE_DIR = (
    Path(__file__).resolve().parent.parent / "venues/sim/tradenode_sim/data/binance-stream/spot"
)
CAPTURE_FILES = (CAPTURE_DIR / "btcusdt_20240808.gz", CAPTURE_DIR / "btcusdt_20240809.gz")

VENUE = Venue("BINANCE")
INSTRUMENT_ID = InstrumentId(Symbol("BTCUSDT"), VENUE)

Book = tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]
"""(bids, asks): price -> size, exact."""

_MS = 1_000_000  # Binance event times are in milliseconds; nautilus wants nanoseconds


# --- the capture -------------------------------------------------------------------------------


class Snapshot(NamedTuple):
    """The REST depth snapshot: the whole book as of update id ``last_update_id``."""

    ts_recv: int
    last_update_id: int
    bids: list[list[str]]  # [[price, size], ...] as Binance's strings
    asks: list[list[str]]


class DepthDiff(NamedTuple):
    """One ``depth@100ms`` message: the levels changed by updates ``first_id``..``final_id``."""

    ts_recv: int
    ts_event: int  # Binance ``E``, in ns
    first_id: int  # ``U``
    final_id: int  # ``u``
    bids: list[list[str]]
    asks: list[list[str]]


class Trade(NamedTuple):
    """One ``trade`` message."""

    ts_recv: int
    ts_event: int  # Binance ``T`` (trade time), in ns
    trade_id: int
    price: str
    size: str
    buyer_is_maker: bool  # ``m``: the seller was the aggressor


class BookTicker(NamedTuple):
    """One ``bookTicker`` message: best bid and ask with their sizes (no event time on spot)."""

    ts_recv: int
    update_id: int
    bid: str
    bid_size: str
    ask: str
    ask_size: str


Event = Snapshot | DepthDiff | Trade | BookTicker


class MessageCounts(NamedTuple):
    """What a capture holds; ``replayed`` leaves out the diffs the snapshot supersedes."""

    lines: int
    diffs: int
    superseded_diffs: int  # u <= the snapshot's lastUpdateId: dropped by Binance's rule
    buffered_diffs: int  # received before the snapshot but not superseded: applied after it
    trades: int
    book_tickers: int

    @property
    def replayed(self) -> int:
        return self.lines - self.superseded_diffs


@dataclass(frozen=True)
class Capture:
    """Every message of the capture files, in file (receive) order, with the one snapshot."""

    events: list[Event]
    snapshot: Snapshot

    def counts(self) -> MessageCounts:
        snap_id = self.snapshot.last_update_id
        snap_at = self.events.index(self.snapshot)
        diffs = [e for e in self.events if type(e) is DepthDiff]
        return MessageCounts(
            lines=len(self.events),
            diffs=len(diffs),
            superseded_diffs=sum(d.final_id <= snap_id for d in diffs),
            buffered_diffs=sum(
                type(e) is DepthDiff and e.final_id > snap_id for e in self.events[:snap_at]
            ),
            trades=sum(type(e) is Trade for e in self.events),
            book_tickers=sum(type(e) is BookTicker for e in self.events),
        )


def read_capture(paths: Sequence[Path] = CAPTURE_FILES) -> Capture:
    """Read hftbacktest's raw Binance spot capture: one line = ``<local_receive_ns> <json>``.

    A line is either a combined-stream message (``depth@100ms``, ``trade``, ``bookTicker``) or
    the REST depth snapshot ``{"lastUpdateId", "bids", "asks"}``; exactly one snapshot is
    expected across all files (later files continue the streams). Prices and sizes stay
    Binance's strings so that each consumer decides how to make them exact.
    """
    events: list[Event] = []
    snapshots: list[Snapshot] = []
    for path in paths:
        with gzip.open(path, "rb") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                ts_text, _, body = line.partition(b" ")
                ts = int(ts_text)
                msg = json.loads(body)
                if "lastUpdateId" in msg:
                    snap = Snapshot(ts, msg["lastUpdateId"], msg["bids"], msg["asks"])
                    snapshots.append(snap)
                    events.append(snap)
                    continue
                stream, data = msg["stream"], msg["data"]
                kind = stream.partition("@")[2]
                if kind.startswith("depth"):
                    events.append(
                        DepthDiff(ts, data["E"] * _MS, data["U"], data["u"], data["b"], data["a"])
                    )
                elif kind == "trade":
                    events.append(
                        Trade(ts, data["T"] * _MS, data["t"], data["p"], data["q"], data["m"])
                    )
                elif kind == "bookTicker":
                    events.append(
                        BookTicker(ts, data["u"], data["b"], data["B"], data["a"], data["A"])
                    )
                else:
                    raise ValueError(f"{path}:{number}: unexpected stream {stream!r}")
    if len(snapshots) != 1:
        raise ValueError(f"expected one depth snapshot in {list(paths)}, found {len(snapshots)}")
    return Capture(events, snapshots[0])


def _capture(source: Capture | Sequence[Path]) -> Capture:
    return source if isinstance(source, Capture) else read_capture(source)


# --- the reference book ------------------------------------------------------------------------


class UpdateIdGap(ValueError):
    """The diffs do not chain by Binance's rule: a book built across the gap would be wrong."""


def reference_book(source: Capture | Sequence[Path] = CAPTURE_FILES) -> Book:
    """The final book by Binance's documented procedure, in exact ``Decimal``.

    Buffer the diff stream, take the snapshot, drop diffs with ``u <= lastUpdateId``; the first
    diff applied must have ``U <= lastUpdateId + 1 <= u`` and each later one ``U == previous u +
    1`` (otherwise :class:`UpdateIdGap`); a size of 0 removes the level. Diffs that arrived
    before the snapshot but reach past it (this capture has one) are applied after it.
    """
    capture = _capture(source)
    snap = capture.snapshot
    bids = {Decimal(p): Decimal(q) for p, q in snap.bids}
    asks = {Decimal(p): Decimal(q) for p, q in snap.asks}
    last: int | None = None
    for event in capture.events:
        if type(event) is not DepthDiff or event.final_id <= snap.last_update_id:
            continue
        if last is None:
            if not event.first_id <= snap.last_update_id + 1 <= event.final_id:
                raise UpdateIdGap(
                    f"first diff after snapshot {snap.last_update_id} covers "
                    f"{event.first_id}..{event.final_id}"
                )
        elif event.first_id != last + 1:
            raise UpdateIdGap(f"diff {event.first_id}..{event.final_id} follows u={last}")
        last = event.final_id
        for side, levels in ((bids, event.bids), (asks, event.asks)):
            for p, q in levels:
                size = Decimal(q)
                if size:
                    side[Decimal(p)] = size
                else:
                    side.pop(Decimal(p), None)
    return bids, asks


def _text(size: Decimal | None) -> str:
    return "absent" if size is None else str(size.normalize())


def book_differences(expected: Book, actual: Book, limit: int = 10) -> list[str]:
    """The first ``limit`` levels where two books disagree, bids then asks, best first."""
    out: list[str] = []
    for name, want, got, best_first in (
        ("bid", expected[0], actual[0], True),
        ("ask", expected[1], actual[1], False),
    ):
        for price in sorted(want.keys() | got.keys(), reverse=best_first):
            if want.get(price) != got.get(price):
                want_size, got_size = _text(want.get(price)), _text(got.get(price))
                out.append(f"{name} {price.normalize()}: reference {want_size}, got {got_size}")
                if len(out) == limit:
                    return out
    return out


# --- nautilus_trader inputs --------------------------------------------------------------------


@dataclass(frozen=True)
class NautilusInputs:
    """The capture as nautilus_trader objects, built once, outside any timing."""

    instrument: CurrencyPair
    deltas: list[OrderBookDeltas]  # the snapshot, then each applied diff, in ts_init order
    trades: list[TradeTick]
    quotes: list[QuoteTick]

    @property
    def delta_count(self) -> int:
        return sum(len(d.deltas) for d in self.deltas)


def _decimals(text: str) -> int:
    return len(text.partition(".")[2].rstrip("0"))


def capture_precisions(capture: Capture) -> tuple[int, int]:
    """(price, size) precision: the most decimals any price or size in the capture carries.

    Binance pads every number to 8 decimals. In this capture prices use 2 and sizes 5, except
    seven depth updates of six ask levels far from the touch (74,000 to 200,000 USDT) that carry
    6 decimals; all six are in the final book, so the instrument needs 6 for it to be exact.
    """
    prices: set[str] = set()
    sizes: set[str] = set()
    for e in capture.events:
        if type(e) is Trade:
            prices.add(e.price)
            sizes.add(e.size)
        elif type(e) is BookTicker:
            prices.update((e.bid, e.ask))
            sizes.update((e.bid_size, e.ask_size))
        else:
            for p, q in (*e.bids, *e.asks):
                prices.add(p)
                sizes.add(q)
    return max(map(_decimals, prices)), max(map(_decimals, sizes))


def _raw(text: str, precision: int) -> int:
    """Binance's decimal string as nautilus's fixed-point raw value, exactly."""
    whole, _, frac = text.partition(".")
    if frac[precision:].strip("0"):
        raise ValueError(f"{text!r} has more than {precision} decimals")
    return int(whole + frac[:precision].ljust(precision, "0")) * 10 ** (FIXED_PRECISION - precision)


def _one_unit(kind: type[Price] | type[Quantity], precision: int) -> Price | Quantity:
    """The smallest step at ``precision`` (0.01 at 2), exactly."""
    return kind.from_raw(10 ** (FIXED_PRECISION - precision), precision)


def _instrument(price_precision: int, size_precision: int) -> CurrencyPair:
    return CurrencyPair(
        instrument_id=INSTRUMENT_ID,
        raw_symbol=Symbol("BTCUSDT"),
        base_currency=BTC,
        quote_currency=USDT,
        price_precision=price_precision,
        size_precision=size_precision,
        price_increment=_one_unit(Price, price_precision),
        size_increment=_one_unit(Quantity, size_precision),
        lot_size=None,
        max_quantity=Quantity(9000, size_precision),
        min_quantity=None,
        max_notional=None,
        min_notional=Money(5, USDT),
        max_price=Price(1_000_000, price_precision),
        min_price=_one_unit(Price, price_precision),
        margin_init=Decimal(0),
        margin_maint=Decimal(0),
        maker_fee=Decimal("0.001"),
        taker_fee=Decimal("0.001"),
        ts_event=0,
        ts_init=0,
    )


@dataclass(frozen=True)
class _Converter:
    """Binance messages to nautilus objects at the capture's precisions."""

    price_prec: int
    size_prec: int
    iid: InstrumentId = INSTRUMENT_ID

    def price(self, text: str) -> Price:
        return Price.from_raw(_raw(text, self.price_prec), self.price_prec)

    def size(self, text: str) -> Quantity:
        return Quantity.from_raw(_raw(text, self.size_prec), self.size_prec)

    def deltas(
        self,
        actions: list[tuple[BookAction, BookOrder | None]],
        flags: int,
        sequence: int,
        ts_event: int,
        ts_init: int,
    ) -> OrderBookDeltas:
        """One message's deltas, the last one also flagged ``F_LAST``."""
        end = len(actions) - 1
        return OrderBookDeltas(
            self.iid,
            [
                OrderBookDelta(
                    self.iid,
                    action,
                    order,
                    flags | (RecordFlag.F_LAST if i == end else 0),
                    sequence,
                    ts_event,
                    ts_init,
                )
                for i, (action, order) in enumerate(actions)
            ],
        )

    def snapshot(self, snap: Snapshot) -> OrderBookDeltas:
        actions: list[tuple[BookAction, BookOrder | None]] = [(BookAction.CLEAR, None)]
        for side, levels in ((OrderSide.BUY, snap.bids), (OrderSide.SELL, snap.asks)):
            actions += [
                (BookAction.ADD, BookOrder(side, self.price(p), self.size(q), 0)) for p, q in levels
            ]
        ts = snap.ts_recv
        return self.deltas(actions, RecordFlag.F_SNAPSHOT, snap.last_update_id, ts, ts)

    def diff(self, diff: DepthDiff, ts_init: int) -> OrderBookDeltas:
        actions: list[tuple[BookAction, BookOrder | None]] = []
        for side, levels in ((OrderSide.BUY, diff.bids), (OrderSide.SELL, diff.asks)):
            for p, q in levels:
                size = self.size(q)
                action = BookAction.UPDATE if size.raw else BookAction.DELETE
                actions.append((action, BookOrder(side, self.price(p), size, 0)))
        return self.deltas(actions, 0, diff.final_id, diff.ts_event, ts_init)

    def trade(self, trade: Trade) -> TradeTick:
        return TradeTick(
            self.iid,
            self.price(trade.price),
            self.size(trade.size),
            AggressorSide.SELLER if trade.buyer_is_maker else AggressorSide.BUYER,
            TradeId(str(trade.trade_id)),
            trade.ts_event,
            trade.ts_recv,
        )

    def quote(self, ticker: BookTicker) -> QuoteTick:
        return QuoteTick(
            self.iid,
            self.price(ticker.bid),
            self.price(ticker.ask),
            self.size(ticker.bid_size),
            self.size(ticker.ask_size),
            ticker.ts_recv,
            ticker.ts_recv,
        )


def nautilus_inputs(source: Capture | Sequence[Path] = CAPTURE_FILES) -> NautilusInputs:
    """The capture as a ``CurrencyPair`` with L2 ``OrderBookDeltas``, trade and quote ticks.

    One ``OrderBookDeltas`` per Binance depth message: the snapshot as CLEAR then one ADD per
    level, all flagged ``F_SNAPSHOT``; each diff's levels as UPDATE (DELETE where the size is 0);
    the last delta of each message also flagged ``F_LAST``; sequence = ``lastUpdateId`` / ``u``.
    Diffs the snapshot supersedes are left out; a diff received before the snapshot that reaches
    past it gets the snapshot's ``ts_init`` (so it sorts after it), since that is when it applies.
    ``ts_init`` is the local receive time; ``ts_event`` Binance's ``E`` / ``T`` (the snapshot and
    book tickers carry none, so theirs is the receive time too). Quotes come from book tickers.
    """
    capture = _capture(source)
    convert = _Converter(*capture_precisions(capture))
    snap = capture.snapshot
    deltas = [convert.snapshot(snap)]
    trades: list[TradeTick] = []
    quotes: list[QuoteTick] = []
    for e in capture.events:
        if type(e) is DepthDiff:
            if e.final_id > snap.last_update_id:
                deltas.append(convert.diff(e, max(e.ts_recv, snap.ts_recv)))
        elif type(e) is Trade:
            trades.append(convert.trade(e))
        elif type(e) is BookTicker:
            quotes.append(convert.quote(e))
    instrument = _instrument(convert.price_prec, convert.size_prec)
    return NautilusInputs(instrument, deltas, trades, quotes)


# --- the nautilus_trader run -------------------------------------------------------------------


class BookReader(Strategy):
    """Reads best bid and ask from the cache's order book on every update it is sent.

    What a user's book-driven strategy does at the least; the counts let the run prove that
    every update reached it, and the last best prices that it read the book the engine built.
    """

    def __init__(self, instrument_id: InstrumentId, with_quotes: bool) -> None:
        super().__init__(StrategyConfig())
        self.instrument_id = instrument_id
        self.with_quotes = with_quotes
        self.book_updates = 0
        self.trades = 0
        self.quotes = 0
        self.last_top: tuple[Price | None, Price | None] = (None, None)

    def on_start(self) -> None:
        self.subscribe_order_book_deltas(self.instrument_id, BookType.L2_MBP)
        self.subscribe_trade_ticks(self.instrument_id)
        if self.with_quotes:
            self.subscribe_quote_ticks(self.instrument_id)

    def _read_top(self) -> None:
        book = self.cache.order_book(self.instrument_id)
        self.last_top = (book.best_bid_price(), book.best_ask_price())

    def on_order_book_deltas(self, deltas: OrderBookDeltas) -> None:
        self.book_updates += 1
        self._read_top()

    def on_trade_tick(self, tick: TradeTick) -> None:
        self.trades += 1
        self._read_top()

    def on_quote_tick(self, tick: QuoteTick) -> None:
        self.quotes += 1
        self._read_top()


def _decimal_book(book: OrderBook) -> Book:
    def side(levels: list[BookLevel]) -> dict[Decimal, Decimal]:
        return {
            level.price.as_decimal(): sum((o.size.as_decimal() for o in level.orders()), Decimal(0))
            for level in levels
        }

    return side(book.bids()), side(book.asks())


def run_nautilus(
    inputs: NautilusInputs, with_quotes: bool, clock: Callable[[], float] = time.perf_counter
) -> tuple[float, Book]:
    """One ``BacktestEngine`` run on an L2_MBP venue; returns (seconds of ``run()``, final book).

    ``clock`` times the run (wall time by default; ``time.thread_time`` for CPU time, which a
    busy shared machine disturbs less).

    Deltas, trades and quotes each go in their own ``add_data`` call (the engine decides that an
    instrument has book data from the first element of a call). Logging is bypassed, as it
    would otherwise dominate the time. The final book is the one in the engine's cache, the one
    the strategy read. Raises ``RuntimeError`` if the strategy did not see every update.
    """
    engine = BacktestEngine(BacktestEngineConfig(logging=LoggingConfig(bypass_logging=True)))
    try:
        engine.add_venue(
            VENUE,
            oms_type=OmsType.NETTING,
            account_type=AccountType.CASH,
            starting_balances=[Money(1_000_000, USDT), Money(10, BTC)],
            book_type=BookType.L2_MBP,
        )
        engine.add_instrument(inputs.instrument)
        engine.add_data(inputs.deltas)
        engine.add_data(inputs.trades)
        if with_quotes:
            engine.add_data(inputs.quotes)
        reader = BookReader(inputs.instrument.id, with_quotes)
        engine.add_strategy(reader)
        gc.collect()
        start = clock()
        engine.run()
        seconds = clock() - start
        book = engine.cache.order_book(inputs.instrument.id)
        final = _decimal_book(book)
        seen = (reader.book_updates, reader.trades, reader.quotes)
        sent = (len(inputs.deltas), len(inputs.trades), len(inputs.quotes) if with_quotes else 0)
        if seen != sent:
            raise RuntimeError(f"strategy saw (deltas, trades, quotes) {seen}, sent {sent}")
        if reader.last_top != (book.best_bid_price(), book.best_ask_price()):
            top = (book.best_bid_price(), book.best_ask_price())
            raise RuntimeError(f"strategy last read {reader.last_top}, book ends at {top}")
    finally:
        engine.dispose()
    return seconds, final


# --- the script --------------------------------------------------------------------------------

_VARIANTS = {"deltas+trades": False, "deltas+trades+quotes": True}


def _status_kib(field: str) -> int:
    """A memory figure of this process from ``/proc/self/status`` (Linux), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _measure_memory(variant: str) -> None:
    """Child process (Linux): build all inputs, run one variant, print RSS figures as JSON.

    Building the inputs peaks higher than the run (the parsed capture and the nautilus objects
    live together for a while), so the high-water mark is reset (``/proc/self/clear_refs``)
    once they are built, and read back as ``VmHWM``. Not ``ru_maxrss``: in a child started by
    ``subprocess`` it also carries the parent's peak from before ``exec``.
    """
    inputs = nautilus_inputs(CAPTURE_FILES)
    gc.collect()
    build_peak = _status_kib("VmHWM")
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kib("VmRSS")
    run_nautilus(inputs, _VARIANTS[variant])
    run_peak = _status_kib("VmHWM")
    print(json.dumps({"build_peak": build_peak, "before_run": before, "run_peak": run_peak}))


def _report_memory() -> None:
    print("RSS, one fresh process per variant (build the inputs, then one run):")
    for name in _VARIANTS:
        out = subprocess.run(
            [sys.executable, __file__, "--measure-memory", name],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        ).stdout
        mem = json.loads(out.strip().splitlines()[-1])
        print(
            f"  {name:22s} engine setup + run() peak {mem['run_peak'] / 1024:5.0f} MiB "
            f"(inputs built: {mem['before_run'] / 1024:3.0f} MiB; building them peaked at "
            f"{mem['build_peak'] / 1024:3.0f} MiB)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the RSS subprocesses (Linux only anyway)"
    )
    parser.add_argument("--measure-memory", choices=_VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_memory:
        _measure_memory(args.measure_memory)
        return

    t0 = time.perf_counter()
    capture = read_capture(CAPTURE_FILES)
    t1 = time.perf_counter()
    reference = reference_book(capture)
    t2 = time.perf_counter()
    inputs = nautilus_inputs(capture)
    t3 = time.perf_counter()

    c = capture.counts()
    snap = capture.snapshot
    print(f"capture: {', '.join(p.name for p in CAPTURE_FILES)}: {c.lines:,} lines")
    print(
        f"  1 REST snapshot (lastUpdateId {snap.last_update_id}, {len(snap.bids)} bids, "
        f"{len(snap.asks)} asks), {c.diffs:,} depth diffs ({c.superseded_diffs} superseded by the "
        f"snapshot, dropped; {c.buffered_diffs} received before it and applied after it), "
        f"{c.trades:,} trades, {c.book_tickers:,} book tickers"
    )
    replayed_diffs = c.diffs - c.superseded_diffs
    print(
        f"  replayed: {c.replayed:,} messages = 1 snapshot + {replayed_diffs:,} diffs + "
        f"{c.trades:,} trades + {c.book_tickers:,} book tickers"
    )
    bids, asks = reference
    print(
        f"reference book (Binance update-id rule, Decimal; update ids chain with no gap): "
        f"{len(bids)} bids, {len(asks)} asks, "
        f"best {max(bids).normalize()} / {min(asks).normalize()}"
    )
    ins = inputs.instrument
    print(
        f"instrument {ins.id}: price precision {ins.price_precision}, size precision "
        f"{ins.size_precision} (the most decimals in the capture)"
    )
    print(
        f"build: read {t1 - t0:.2f} s, reference book {t2 - t1:.2f} s, nautilus inputs "
        f"{t3 - t2:.2f} s ({len(inputs.deltas):,} OrderBookDeltas holding "
        f"{inputs.delta_count:,} deltas, {len(inputs.trades):,} trades, "
        f"{len(inputs.quotes):,} quotes)"
    )

    times: dict[str, list[float]] = {name: [] for name in _VARIANTS}
    mismatches: list[str] = []
    for round_ in range(args.rounds):
        order = list(_VARIANTS) if round_ % 2 == 0 else list(reversed(_VARIANTS))
        for name in order:
            seconds, book = run_nautilus(inputs, _VARIANTS[name])
            times[name].append(seconds)
            if not mismatches:
                mismatches = [
                    f"{name}, round {round_ + 1}: {d}" for d in book_differences(reference, book)
                ]

    sizes = {
        name: len(inputs.deltas) + len(inputs.trades) + (len(inputs.quotes) if quotes else 0)
        for name, quotes in _VARIANTS.items()
    }
    print(
        f"nautilus_trader BacktestEngine, L2_MBP venue, strategy reading best bid/ask on every "
        f"update; engine.run() only, median of {args.rounds} interleaved rounds:"
    )
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"  {name:22s} {median:6.3f} s  {sizes[name]:7,} messages  "
            f"{sizes[name] / median:9,.0f} msg/s  (min {min(values):.3f}, max {max(values):.3f})"
        )
    print(f"books equal: {'no' if mismatches else 'yes'} (every run, both variants)")
    for line in mismatches:
        print(f"  {line}")

    if not args.no_memory and sys.platform == "linux":
        _report_memory()
    if mismatches:
        sys.exit(1)


if __name__ == "__main__":
    main()
