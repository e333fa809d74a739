"""Matching of the simulated venue against real recorded books, driven through the replay runtime.

Every expectation is computed in the test from the recorded data itself (the order-graph JSON's
exact rationals, the Binance capture read by its reader), independently of the venue's matching
code: taker sweeps level by level, the pricing model's documented formulas, and the queue model
for resting orders as the ``tradenode_sim.matching`` docstring states it.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from fractions import Fraction
from functools import cache
from pathlib import Path

import pytest
import tradenode_sim
from recorded_books import recorded_levels, sweep
from tradenode_sim.config import InstrumentSpec, SimVenueConfig
from tradenode_sim.sources.binance_stream import read_binance_stream
from tradenode_sim.venue import SimVenue

from node.market import MarketState
from node.messages import (
    FILL_TYPES,
    BookDeltas,
    BookSnapshot,
    Message,
    OrderAccepted,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    SubmitOrder,
    TradeTick,
)
from node.runtime.recorder import Recorder
from node.runtime.replay import ReplayRuntime
from node.venue import VenueSetup

D = Decimal
DATA = Path(tradenode_sim.__file__).parent / "data"
SPOT_0808 = DATA / "binance-stream" / "spot" / "btcusdt_20240808.gz"
NS = 1_000_000_000
BPS = D("0.0001")


# --------------------------------------------------------------------------------------------
# The recorded data, read independently of the venue


def after_taking(levels, taken) -> list[tuple[Decimal, Decimal]]:
    took = dict(taken)
    out = [(p, s - took.get(p, D(0))) for p, s in levels]
    return [(p, s) for p, s in out if s > 0]


def vwap(fills) -> Fraction:
    fills = list(fills)
    return sum((Fraction(p) * Fraction(q) for p, q in fills), Fraction(0)) / sum(
        (Fraction(q) for _, q in fills), Fraction(0)
    )


# --------------------------------------------------------------------------------------------
# A simulated venue on the replay runtime, watched by a recorder


def order_graph_venue(
    name: str = "bitstamp", **settings
) -> tuple[ReplayRuntime, SimVenue, Recorder]:
    config = {
        "source": "order-graph",
        "files": ["sim:order-graph/run1-1.json"],
        "symbols": {"BTC/USD": InstrumentSpec(tick_size=D("0.01"), lot_size=D("0.00000001"))},
        "balances": {"USD": D("1000000"), "BTC": D("100")},
        "taker_fee_bps": D("25"),
    }
    config.update(settings)
    return _host(SimVenue(name, SimVenueConfig(**config), VenueSetup(Path("."), MarketState())))


def _host(venue: SimVenue, **runtime) -> tuple[ReplayRuntime, SimVenue, Recorder]:
    runtime.setdefault("start_ns", venue.earliest_data_ns() or 0)
    rt = ReplayRuntime(**runtime)
    recorder = Recorder()
    rt.add(recorder)
    rt.add(venue)
    rt.start([])
    return rt, venue, recorder


def order(cid: str, side: str, quantity: str, venue: str = "bitstamp", **kw) -> SubmitOrder:
    kw.setdefault("order_type", "market" if "limit_price" not in kw else "limit")
    return SubmitOrder(
        client_order_id=cid,
        venue=venue,
        symbol=kw.pop("symbol", "BTC/USD"),
        side=side,
        quantity=D(quantity),
        **kw,
    )


def of(recorder: Recorder, cid: str, *types: type[Message]) -> list:
    return [m for m in recorder.of_type(*types) if getattr(m, "client_order_id", None) == cid]


def fills_of(recorder: Recorder, cid: str) -> list:
    return of(recorder, cid, *FILL_TYPES)


def submit(rt: ReplayRuntime, venue: SimVenue, *orders: SubmitOrder) -> None:
    for o in orders:
        rt.send(venue.name, o)
    rt.run()


# --------------------------------------------------------------------------------------------
# Taker sweeps on the order-graph books


def test_market_buy_sweeps_the_recorded_asks_level_by_level():
    rt, venue, rec = order_graph_venue()
    rt.run()
    submit(rt, venue, order("m1", "buy", "5"))

    expected = sweep(recorded_levels("bitstamp", "BTC/USD", "asks"), D(5))
    assert len(expected) > 3  # the order really walks the book
    fills = fills_of(rec, "m1")
    assert [(f.price, f.quantity) for f in fills] == expected
    assert vwap((f.price, f.quantity) for f in fills) == vwap(expected)
    assert all(f.liquidity == "taker" for f in fills)
    assert [type(f) for f in fills] == [OrderPartiallyFilled] * (len(fills) - 1) + [OrderFilled]
    cumulative = D(0)
    for f in fills:
        cumulative += f.quantity
        assert f.cumulative_quantity == cumulative
        assert f.leaves_quantity == D(5) - cumulative
    assert of(rec, "m1", OrderExpired, OrderRejected) == []


def test_market_sell_sweeps_the_recorded_bids():
    rt, venue, rec = order_graph_venue()
    rt.run()
    submit(rt, venue, order("s1", "sell", "12.5"))

    expected = sweep(recorded_levels("bitstamp", "BTC/USD", "bids"), D("12.5"))
    assert len(expected) > 2
    assert [(f.price, f.quantity) for f in fills_of(rec, "s1")] == expected


def test_our_fill_removes_the_liquidity_it_took():
    rt, venue, rec = order_graph_venue()
    rt.run()
    asks = recorded_levels("bitstamp", "BTC/USD", "asks")
    submit(rt, venue, order("a", "buy", "3"))
    submit(rt, venue, order("b", "buy", "3"))

    first = sweep(asks, D(3))
    second = sweep(after_taking(asks, first), D(3))
    assert [(f.price, f.quantity) for f in fills_of(rec, "a")] == first
    assert [(f.price, f.quantity) for f in fills_of(rec, "b")] == second
    assert vwap(second) > vwap(first)
    # the venue tells everyone what is left at the levels it took from
    deltas = [m for m in rec.of_type(BookDeltas) if m.venue == "bitstamp"]
    assert deltas and deltas[0].bids == []
    left = dict(after_taking(asks, first))
    assert {lv.price: lv.size for lv in deltas[0].asks} == {p: left.get(p, D(0)) for p, _ in first}


def test_ioc_remainder_expires_after_taking_what_is_inside_the_limit():
    rt, venue, rec = order_graph_venue()
    rt.run()
    asks = recorded_levels("bitstamp", "BTC/USD", "asks")
    limit = asks[1][0]  # the second-best ask
    submit(rt, venue, order("i", "buy", "5", limit_price=limit, time_in_force="ioc"))

    inside = [(p, s) for p, s in asks if p <= limit]
    available = sum(s for _, s in inside)
    assert available < 5
    fills = fills_of(rec, "i")
    assert [(f.price, f.quantity) for f in fills] == inside
    assert all(f.price <= limit for f in fills)
    (expired,) = of(rec, "i", OrderExpired)
    assert expired.filled_quantity == available
    assert "immediate-or-cancel" in expired.reason
    assert not any(isinstance(f, OrderFilled) for f in fills)


def test_fok_without_enough_depth_expires_unfilled_and_takes_nothing():
    rt, venue, rec = order_graph_venue()
    rt.run()
    asks = recorded_levels("bitstamp", "BTC/USD", "asks")
    limit = asks[2][0]
    available = sum(s for p, s in asks if p <= limit)
    submit(rt, venue, order("f", "buy", "5", limit_price=limit, time_in_force="fok"))

    assert fills_of(rec, "f") == []
    (expired,) = of(rec, "f", OrderExpired)
    assert expired.filled_quantity == 0
    assert f"only {available} of 5 available" in expired.reason
    # nothing was taken: a market buy of the whole first level still gets it all at its price
    submit(rt, venue, order("m", "buy", str(asks[0][1])))
    assert [(f.price, f.quantity) for f in fills_of(rec, "m")] == [asks[0]]


def test_fok_with_enough_depth_fills_completely():
    rt, venue, rec = order_graph_venue()
    rt.run()
    asks = recorded_levels("bitstamp", "BTC/USD", "asks")
    limit = asks[3][0]
    submit(rt, venue, order("f", "buy", "4", limit_price=limit, time_in_force="fok"))
    fills = fills_of(rec, "f")
    assert [(f.price, f.quantity) for f in fills] == sweep(asks, D(4))
    assert isinstance(fills[-1], OrderFilled)
    assert of(rec, "f", OrderExpired) == []


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_post_only_that_would_cross_is_rejected_with_the_best_price(side):
    rt, venue, rec = order_graph_venue()
    rt.run()
    best_ask = recorded_levels("bitstamp", "BTC/USD", "asks")[0][0]
    best_bid = recorded_levels("bitstamp", "BTC/USD", "bids")[0][0]
    price, best, word = (
        (best_ask, best_ask, "ask") if side == "buy" else (best_bid, best_bid, "bid")
    )
    submit(rt, venue, order("p", side, "1", limit_price=price, post_only=True))

    (rejected,) = of(rec, "p", OrderRejected)
    assert f"best {word} {best}" in rejected.reason
    assert "post-only" in rejected.reason
    assert fills_of(rec, "p") == [] and of(rec, "p", OrderAccepted) == []


def test_post_only_that_does_not_cross_rests_without_filling():
    rt, venue, rec = order_graph_venue()
    rt.run()
    best_bid = recorded_levels("bitstamp", "BTC/USD", "bids")[0][0]
    submit(rt, venue, order("p", "buy", "1", limit_price=best_bid, post_only=True))
    assert len(of(rec, "p", OrderAccepted)) == 1
    assert fills_of(rec, "p") == [] and of(rec, "p", OrderRejected, OrderExpired) == []
    assert "p" in venue.open


# --------------------------------------------------------------------------------------------
# The pricing model: spread multiplier and slippage


def _snap(price: Decimal, tick: Decimal, side: str) -> Decimal:
    rounding = ROUND_CEILING if side == "buy" else ROUND_FLOOR
    return (price / tick).to_integral_value(rounding) * tick


def test_spread_multiplier_widens_each_level_away_from_the_mid():
    rt, venue, rec = order_graph_venue(spread_multiplier=D("2"))
    rt.run()
    asks = recorded_levels("bitstamp", "BTC/USD", "asks")
    bids = recorded_levels("bitstamp", "BTC/USD", "bids")
    mid = (asks[0][0] + bids[0][0]) / 2
    submit(rt, venue, order("b", "buy", "5"))

    taken = sweep(asks, D(5))
    expected = [(_snap(mid + (p - mid) * 2, D("0.01"), "buy"), q) for p, q in taken]
    fills = fills_of(rec, "b")
    assert [(f.price, f.quantity) for f in fills] == expected
    assert all(f.price > p for f, (p, _) in zip(fills, taken, strict=True))  # strictly worse


def test_spread_multiplier_worsens_a_sell_too():
    rt, venue, rec = order_graph_venue(spread_multiplier=D("3"))
    rt.run()
    asks = recorded_levels("bitstamp", "BTC/USD", "asks")
    bids = recorded_levels("bitstamp", "BTC/USD", "bids")
    mid = (asks[0][0] + bids[0][0]) / 2
    submit(rt, venue, order("s", "sell", "2"))
    taken = sweep(bids, D(2))
    expected = [(_snap(mid + (p - mid) * 3, D("0.01"), "sell"), q) for p, q in taken]
    assert [(f.price, f.quantity) for f in fills_of(rec, "s")] == expected
    assert all(price < p for (price, _), (p, _) in zip(expected, taken, strict=True))


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_slippage_bps_worsens_every_taker_fill(side):
    rt, venue, rec = order_graph_venue(slippage_bps=D("10"))
    rt.run()
    levels = recorded_levels("bitstamp", "BTC/USD", "asks" if side == "buy" else "bids")
    submit(rt, venue, order("x", side, "4"))

    sign = 1 if side == "buy" else -1
    taken = sweep(levels, D(4))
    expected = [(_snap(p * (1 + sign * 10 * BPS), D("0.01"), side), q) for p, q in taken]
    fills = fills_of(rec, "x")
    assert [(f.price, f.quantity) for f in fills] == expected
    for f, (p, _) in zip(fills, taken, strict=True):
        assert (f.price > p) if side == "buy" else (f.price < p)


def _slipped(p: Decimal, mid: Decimal) -> Decimal:
    return _snap(p * (1 + 10 * BPS), D("0.01"), "buy")


def _widened(p: Decimal, mid: Decimal) -> Decimal:
    return _snap(mid + (p - mid) * 2, D("0.01"), "buy")


@pytest.mark.parametrize(
    ("settings", "worsen"),
    [({"slippage_bps": D("10")}, _slipped), ({"spread_multiplier": D("2")}, _widened)],
    ids=["slippage", "spread"],
)
def test_a_limit_order_never_fills_through_its_limit_under_the_pricing_model(settings, worsen):
    """The limit holds against the price the order really gets, not the recorded level's."""
    rt, venue, rec = order_graph_venue(**settings)
    rt.run()
    asks = recorded_levels("bitstamp", "BTC/USD", "asks")
    mid = (asks[0][0] + recorded_levels("bitstamp", "BTC/USD", "bids")[0][0]) / 2
    # at the recorded best ask every level would fill worse than the limit: nothing fills
    submit(rt, venue, order("raw", "buy", "1", limit_price=asks[0][0], time_in_force="ioc"))
    assert fills_of(rec, "raw") == []
    (expired,) = of(rec, "raw", OrderExpired)
    assert expired.filled_quantity == 0
    # at the worsened price of the best level: that level fills, at exactly the limit, no more
    limit = worsen(asks[0][0], mid)
    assert worsen(asks[1][0], mid) > limit
    submit(rt, venue, order("adj", "buy", "5", limit_price=limit, time_in_force="ioc"))
    assert [(f.price, f.quantity) for f in fills_of(rec, "adj")] == [(limit, asks[0][1])]
    (expired,) = of(rec, "adj", OrderExpired)
    assert expired.filled_quantity == asks[0][1]


# --------------------------------------------------------------------------------------------
# Resting orders on the Binance capture: filled only by later recorded trades, behind the queue


@cache
def _capture() -> tuple:
    return tuple(read_binance_stream([SPOT_0808], venue="binance", symbol="BTC/USDT"))


def _apply(book: dict[str, dict[Decimal, Decimal]], m) -> None:
    if isinstance(m, BookSnapshot):
        book["buy"] = {lv.price: lv.size for lv in m.bids if lv.size}
        book["sell"] = {lv.price: lv.size for lv in m.asks if lv.size}
    elif isinstance(m, BookDeltas):
        for side, levels in (("buy", m.bids), ("sell", m.asks)):
            for lv in levels:
                if lv.size:
                    book[side][lv.price] = lv.size
                else:
                    book[side].pop(lv.price, None)


def book_at(ts: int) -> dict[str, dict[Decimal, Decimal]]:
    """The recorded book after every message with ``ts`` at or before ``ts``."""
    book: dict[str, dict[Decimal, Decimal]] = {"buy": {}, "sell": {}}
    for m in _capture():
        if m.ts > ts:
            break
        _apply(book, m)
    return book


def expected_maker_fills(arrival: int, side: str, price: Decimal, quantity: Decimal):
    """The documented queue model, replayed over the capture: (ts, quantity) of each fill, and how
    many recorded prints at the order's price went to the queue ahead before the first fill."""
    book = book_at(arrival)
    queue = book[side].get(price, D(0))
    left, fills, queue_prints = quantity, [], 0
    for m in _capture():
        if m.ts <= arrival:
            continue
        if left <= 0:
            break
        if isinstance(m, (BookSnapshot, BookDeltas)):
            _apply(book, m)
            queue = min(queue, book[side].get(price, D(0)))
        elif isinstance(m, TradeTick) and m.aggressor != side:
            through = m.price < price if side == "buy" else m.price > price
            if not (through or m.price == price):
                continue
            size = m.size
            if m.price == price:
                eaten = min(queue, size)
                queue -= eaten
                size -= eaten
                if eaten and not fills:
                    queue_prints += 1
            take = min(size, left)
            if take > 0:
                fills.append((m.ts, take))
                left -= take
    return fills, queue_prints


def test_resting_orders_fill_only_on_later_recorded_trades_behind_the_queue():
    spec = InstrumentSpec(tick_size=D("0.01"), lot_size=D("0.00001"))
    config = SimVenueConfig(
        source="binance-stream",
        files=["sim:binance-stream/spot/btcusdt_20240808.gz"],
        symbols={"BTC/USDT": spec},
        balances={"USDT": D("100000"), "BTC": D("2")},
        maker_fee_bps=D("2"),
        taker_fee_bps=D("5"),
    )
    rt, venue, rec = _host(SimVenue("binance", config, setup=VenueSetup(Path("."), MarketState())))
    start = _capture()[0].ts
    trades = [m for m in _capture() if isinstance(m, TradeTick)]

    # A buy resting on the sixth-best recorded bid, placed 60 s into the capture ...
    buy_at = start + 60 * NS
    rt.run(until_ns=buy_at)
    bid_price = sorted(book_at(buy_at)["buy"], reverse=True)[5]
    rt.send(
        venue.name,
        order("rb", "buy", "0.05", venue="binance", symbol="BTC/USDT", limit_price=bid_price),
    )
    # ... and a sell resting on the fifth-best recorded ask, placed at 120 s.
    sell_at = start + 120 * NS
    rt.run(until_ns=sell_at)
    ask_price = sorted(book_at(sell_at)["sell"])[4]
    rt.send(
        venue.name,
        order("rs", "sell", "0.05", venue="binance", symbol="BTC/USDT", limit_price=ask_price),
    )
    rt.run(until_ns=start + 200 * NS)

    for cid, side, price, arrival in (
        ("rb", "buy", bid_price, buy_at),
        ("rs", "sell", ask_price, sell_at),
    ):
        (accepted,) = of(rec, cid, OrderAccepted)
        assert accepted.ts == arrival
        expected, queue_prints = expected_maker_fills(arrival, side, price, D("0.05"))
        assert queue_prints > 0, "the scenario must have prints at the price that the queue took"
        fills = fills_of(rec, cid)
        assert fills, f"{cid}: no fill at all"
        assert [(f.ts, f.quantity) for f in fills] == expected
        # every fill is a recorded print after the order arrived, from the other side, at or
        # through the order's price; it fills at the order's own price, as maker
        reaching = {
            t.ts
            for t in trades
            if t.aggressor != side and (t.price <= price if side == "buy" else t.price >= price)
        }
        for f in fills:
            assert f.ts > arrival and f.ts in reaching
            assert f.price == price and f.liquidity == "maker"
            assert f.fee == (f.price * f.quantity * 2 * BPS).quantize(D("1e-8"), ROUND_CEILING)
        # no print before the first fill reached the order's price except those the queue took
        before = [
            t
            for t in trades
            if arrival < t.ts < fills[0].ts
            and t.aggressor != side
            and (t.price < price if side == "buy" else t.price > price)
        ]
        assert before == []
        assert sum(f.quantity for f in fills) == D("0.05")
        assert isinstance(fills[-1], OrderFilled)
