"""Whole nodes for the algorithm tests: the replay runtime, the simulated venue replaying the real
Binance BTCUSDT capture (or the four order-graph books, where routing matters), a parent order,
and its journal rows read back.

Expected numbers are recomputed here from the recording itself, independently of the node: the
recorded trades (for participation and stop triggers) and the recorded book (for the arrival
mid), read with the capture's reader into a plain dict-based book.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from functools import cache
from pathlib import Path
from typing import Any

import tradenode_sim
from tradenode_sim.sources.binance_stream import read_binance_stream

from node.config import load_config
from node.messages import (
    FILL_TYPES,
    FINAL_ORDER_EVENTS,
    BookDeltas,
    BookSnapshot,
    Message,
    ParentOrderAccepted,
    ParentOrderCompleted,
    ParentOrderProgressed,
    RouteSlice,
    SliceCompleted,
    SubmitOrder,
    SubmitParentOrder,
    TradeTick,
)
from node.node import Node

D = Decimal
NS = 1_000_000_000
DATA = Path(tradenode_sim.__file__).resolve().parent / "data"
SPOT = [DATA / "binance-stream" / "spot" / f"btcusdt_2024080{d}.gz" for d in (8, 9)]
TICK = D("0.01")
LOT = D("0.00001")

BINANCE = """
[venues.binance]
plugin = "sim"
source = "binance-stream"
files = [
    "sim:binance-stream/spot/btcusdt_20240808.gz",
    "sim:binance-stream/spot/btcusdt_20240809.gz",
]
taker_fee_bps = "10"
maker_fee_bps = "2"
execution_delay_ms = 5
balances = {{ USDT = "{usdt}", BTC = "{btc}" }}
symbols."BTC/USDT" = {{ tick_size = "0.01", lot_size = "0.00001", min_notional = "5" }}
"""

#: venue → (taker fee bps, tick): the demo's four order-graph venues, BTC/USD and ETH/USD
ORDER_GRAPH = {
    "bitfinex": ("20", "0.1"),
    "bittrex": ("25", "0.001"),
    "bitstamp": ("25", "0.01"),
    "coinbase": ("30", "0.01"),
}


def order_graph_venues(usd: str = "250000", btc: str = "5", eth: str = "150") -> str:
    out = []
    for name, (fee, tick) in ORDER_GRAPH.items():
        out.append(
            f"""
[venues.{name}]
plugin = "sim"
source = "order-graph"
files = ["sim:order-graph/run1-1.json"]
taker_fee_bps = "{fee}"
execution_delay_ms = 20
balances = {{ USD = "{usd}", BTC = "{btc}", ETH = "{eth}" }}
symbols."BTC/USD" = {{ tick_size = "{tick}", lot_size = "0.00000001", min_notional = "10" }}
symbols."ETH/USD" = {{ tick_size = "0.01", lot_size = "0.00000001", min_notional = "10" }}
"""
        )
    return "".join(out)


def node_config(venues: str, currency: str = "USDT", extra: str = "") -> str:
    return (
        f"""
[node]
name = "algos-test"
runtime = "replay"
valuation_currency = "{currency}"
[risk.checks.duplicate_id]
[risk.checks.instrument]
[risk.checks.increments]
[risk.checks.min_notional]
"""
        + venues
        + extra
    )


class AlgoNode:
    """One node on the replay runtime, caught up with the start of its recording."""

    def __init__(self, directory: Path, plugins: Any, config: str) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.config_path = directory / "node.toml"
        self.config_path.write_text(config)
        self.journal_path = directory / "journal.sqlite"
        self.node = Node(
            load_config(self.config_path, plugins),
            plugins,
            journal_path=self.journal_path,
            runtime_kind="replay",
        )
        self.node.start()
        self.rt = self.node.runtime
        self.rt.run(until_ns=self.node.start_ns + NS)  # the snapshot comes 0.12 s in
        self.closed = False

    @property
    def now(self) -> int:
        return self.rt.clock

    def submit(self, parent_id: str, side: str, quantity: str, algo: str, **kw: Any) -> None:
        kw.setdefault("symbol", "BTC/USDT")
        self.node.submit(
            SubmitParentOrder(
                parent_id=parent_id,
                side=side,
                quantity=D(quantity),
                algo=algo,
                ts=self.now,
                **kw,
            )
        )

    def run_for(self, seconds: float) -> None:
        self.rt.run(until_ns=self.now + int(seconds * NS))

    def run_until_done(self, parent_id: str, limit_s: float = 700) -> ParentOrderCompleted:
        """Run until the parent completes (in steps, so the replay stops soon after)."""
        deadline = self.now + int(limit_s * NS)
        while self.now < deadline:
            self.rt.run(until_ns=min(deadline, self.now + 10 * NS))
            done = self.rows(parent_id, ParentOrderCompleted)
            if done:
                return done[0]
            if self.rt.next_event_ns() is None:
                break
        raise AssertionError(f"{parent_id} did not complete within {limit_s} s")

    def rows(self, parent_id: str, *types: type[Message]) -> list[Any]:
        """The parent's journal rows (of ``types``), in journal order."""
        out = [e.message for e in self.node.journal.entries(correlation=parent_id)]
        return [m for m in out if isinstance(m, types)] if types else out

    def view(self, parent_id: str) -> ParentView:
        return ParentView(self.rows(parent_id))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.node.stop()


@dataclass
class ParentView:
    """One parent's journal rows, sorted by kind."""

    rows: list[Any]

    def of(self, *types: type[Message]) -> list[Any]:
        return [m for m in self.rows if isinstance(m, types)]

    @property
    def accepted(self) -> ParentOrderAccepted:
        (accepted,) = self.of(ParentOrderAccepted)
        return accepted

    @property
    def completed(self) -> ParentOrderCompleted:
        (done,) = self.of(ParentOrderCompleted)
        return done

    @property
    def fills(self) -> list[Any]:
        return self.of(*FILL_TYPES)

    @property
    def slices(self) -> list[RouteSlice]:
        return self.of(RouteSlice)

    @property
    def children(self) -> dict[str, SubmitOrder]:
        out: dict[str, SubmitOrder] = {}
        for m in self.of(SubmitOrder):
            out.setdefault(m.client_order_id, m)
        return out

    @property
    def progress(self) -> list[ParentOrderProgressed]:
        return self.of(ParentOrderProgressed)

    def slice_done(self, slice_id: int) -> SliceCompleted:
        (done,) = [m for m in self.of(SliceCompleted) if m.slice_id == slice_id]
        return done

    def filled_before(self, decision: Message) -> Decimal:
        """What had filled when the executor made ``decision``: the fills journaled before it."""
        before = self.rows[: self.rows.index(decision)]
        return sum((f.quantity for f in before if isinstance(f, FILL_TYPES)), D(0))

    def mid_at(self, decision: Message) -> Decimal | None:
        """The mid the executor saw when it made ``decision`` (a ``RouteSlice``): every
        decision is followed, at the same instant, by the progress it published."""
        after = self.rows[self.rows.index(decision) + 1 :]
        for m in after:
            if isinstance(m, ParentOrderProgressed) and m.ts == decision.ts:
                return m.mid
        return None

    def open_children(self) -> set[str]:
        """Children with no final event: what would still be working at a venue."""
        final = {m.client_order_id for m in self.of(*FINAL_ORDER_EVENTS)}
        return set(self.children) - final

    def max_working(self) -> Decimal:
        """The most the parent ever had working at venues at once (sent, not filled, not
        final), replaying its rows in journal order."""
        working: dict[str, Decimal] = {}
        peak = D(0)
        for m in self.rows:
            if isinstance(m, SubmitOrder) and m.client_order_id not in working:
                working[m.client_order_id] = m.quantity
            elif isinstance(m, FILL_TYPES):
                working[m.client_order_id] -= m.quantity
            elif isinstance(m, FINAL_ORDER_EVENTS):
                working[m.client_order_id] = D(0)
            peak = max(peak, sum(working.values(), D(0)))
        return peak


def check_report(view: ParentView, quantity: Decimal) -> None:
    """The execution report's numbers, recomputed from the parent's fills."""
    report = view.completed.report
    fills = view.fills
    filled = sum((f.quantity for f in fills), D(0))
    assert filled <= quantity, "children filled more than their parent"
    assert report.filled_quantity == filled
    assert report.requested_quantity == quantity
    assert report.fees == sum((f.fee for f in fills), D(0))
    assert report.arrival_mid == view.accepted.arrival_mid
    assert report.started_ts == view.accepted.ts
    assert report.finished_ts == view.completed.ts
    if filled:
        average = sum((f.price * f.quantity for f in fills), D(0)) / filled
        assert report.average_price == average
        sign = 1 if report.side == "buy" else -1
        shortfall = (sign * (average - report.arrival_mid) / report.arrival_mid * 10_000).quantize(
            D("0.01")
        )
        assert report.shortfall_bps == (shortfall if shortfall else abs(shortfall))
        by_venue = {v.venue: v for v in report.venues}
        assert set(by_venue) == {f.venue for f in fills}
        for venue, row in by_venue.items():
            mine = [f for f in fills if f.venue == venue]
            assert row.quantity == sum(f.quantity for f in mine)
            assert row.fees == sum(f.fee for f in mine)
    assert report.child_orders == len(view.children)


def guard(side: str, reference: Decimal, bps: Decimal, tick: Decimal = TICK) -> Decimal:
    """The worst price a guarded take may pay, recomputed: on the tick, toward the reference."""
    if side == "buy":
        raw = reference * (1 + bps / 10_000)
        return (raw / tick).to_integral_value(ROUND_FLOOR) * tick
    raw = reference * (1 - bps / 10_000)
    return (raw / tick).to_integral_value(ROUND_CEILING) * tick


# -- the recording, read independently of the node ----------------------------------------------


@cache
def recorded_trades() -> tuple[tuple[int, ...], tuple[TradeTick, ...]]:
    trades = [
        m
        for m in read_binance_stream(SPOT, venue="binance", symbol="BTC/USDT")
        if isinstance(m, TradeTick)
    ]
    return tuple(t.ts for t in trades), tuple(trades)


def traded_volume(start_ts: int, upto_ts: int) -> Decimal:
    """Recorded volume of the trades in ``[start_ts, upto_ts]``."""
    times, trades = recorded_trades()
    a = bisect.bisect_left(times, start_ts)
    b = bisect.bisect_right(times, upto_ts)
    return sum((t.size for t in trades[a:b]), D(0))


def first_trade(start_ts: int, predicate) -> TradeTick | None:
    times, trades = recorded_trades()
    for trade in trades[bisect.bisect_left(times, start_ts) :]:
        if predicate(trade):
            return trade
    return None


@cache
def recorded_tops() -> tuple[tuple[int, ...], tuple[tuple[Decimal, Decimal], ...]]:
    """(time, (best bid, best ask)) after every book message of the recording, from a plain
    dict book (the node's book is not used)."""
    bids: dict[Decimal, Decimal] = {}
    asks: dict[Decimal, Decimal] = {}
    times, tops = [], []
    for m in read_binance_stream(SPOT, venue="binance", symbol="BTC/USDT"):
        if isinstance(m, BookSnapshot):
            bids = {lv.price: lv.size for lv in m.bids}
            asks = {lv.price: lv.size for lv in m.asks}
        elif isinstance(m, BookDeltas):
            for side, levels in ((bids, m.bids), (asks, m.asks)):
                for lv in levels:
                    if lv.size:
                        side[lv.price] = lv.size
                    else:
                        side.pop(lv.price, None)
        else:
            continue
        times.append(m.ts)
        tops.append((max(bids), min(asks)))
    return tuple(times), tuple(tops)


def recorded_top_at(ts: int, inclusive: bool = True) -> tuple[Decimal, Decimal]:
    """Best bid and ask of the recorded book after the messages before (or at) ``ts``."""
    times, tops = recorded_tops()
    i = (bisect.bisect_right if inclusive else bisect.bisect_left)(times, ts) - 1
    return tops[i]


def recorded_mid_at(ts: int) -> Decimal:
    bid, ask = recorded_top_at(ts)
    return (bid + ask) / 2
