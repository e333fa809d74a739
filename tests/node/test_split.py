"""The router's split kernel against an independent LP (scipy HiGHS) on real full-depth books.

The books are the order-graph snapshot (bitfinex, bittrex, bitstamp, coinbase; BTC/USD and
ETH/USD) as they are, absurd far levels included. The reference LP is written here from the
problem statement (one variable per level, level bounds, a row per finite capacity), solved in
two stages: the most that can be filled, then the least cost (most net proceeds) for
``min(requested, most)``.
"""

from __future__ import annotations

import math
from decimal import Decimal
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import tradenode_sim
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from tradenode_sim.sources.order_graph import load_order_graph

from node.split import Split, VenueQuote, best_single_venue, split_order

ORDER_GRAPH_FILE = Path(tradenode_sim.__file__).parent / "data" / "order-graph" / "run1-1.json"
VENUES = ("bitfinex", "bittrex", "bitstamp", "coinbase")
SYMBOLS = ("BTC/USD", "ETH/USD")

FEES = {
    "brief": {"bitfinex": 0.002, "bittrex": 0.0025, "bitstamp": 0.005, "coinbase": 0.003},
    "other": {"bitfinex": 0.001, "bittrex": 0.0, "bitstamp": 0.0025, "coinbase": 0.0075},
}
# Balances per venue: quote currency (USD, fees included) for a buy, base for a sell.
CAPACITIES = {
    "none": None,
    "balances": {
        ("buy", "BTC/USD"): {
            "bitfinex": 250_000,
            "bittrex": 60_000,
            "bitstamp": 1_500_000,
            "coinbase": 150_000,
        },
        ("buy", "ETH/USD"): {
            "bitfinex": 40_000,
            "bittrex": 9_000,
            "bitstamp": 300_000,
            "coinbase": 20_000,
        },
        ("sell", "BTC/USD"): {"bitfinex": 40, "bittrex": 8, "bitstamp": 300, "coinbase": 15},
        ("sell", "ETH/USD"): {"bitfinex": 900, "bittrex": 250, "bitstamp": 9000, "coinbase": 400},
    },
    # One venue without balance, two unlimited, one small.
    "mixed": {
        ("buy", "BTC/USD"): {"bittrex": 0.0, "coinbase": 30_000},
        ("buy", "ETH/USD"): {"bittrex": 0.0, "coinbase": 7_000},
        ("sell", "BTC/USD"): {"bittrex": 0.0, "coinbase": 3.5},
        ("sell", "ETH/USD"): {"bittrex": 0.0, "coinbase": 55},
    },
}
# From tiny to past one venue's depth to past all depth (the last of each is unfillable).
SIZES = {
    "BTC/USD": (1e-4, 1.0, 60.0, 150.0, 900.0, 4000.0, 9000.0, 2e6),
    "ETH/USD": (3e-3, 30.0, 220.0, 1800.0, 4500.0, 27_000.0, 2e5, 5e7),
}


@cache
def _books() -> dict[tuple[str, str], object]:
    return {
        (b.venue, b.symbol): b
        for b in load_order_graph(ORDER_GRAPH_FILE)
        if b.symbol in SYMBOLS and b.venue in VENUES
    }


@cache
def quotes(symbol: str, side: str, fees: str, caps: str, depth: int | None = None) -> tuple:
    capacity = CAPACITIES[caps]
    capacity = {} if capacity is None else capacity[(side, symbol)]
    out = []
    for venue in VENUES:
        book = _books()[(venue, symbol)]
        q = VenueQuote.from_book(
            book, side, FEES[fees][venue], capacity=capacity.get(venue, math.inf)
        )
        if depth is not None:
            q = VenueQuote(venue, q.prices[:depth], q.sizes[:depth], q.fee, q.capacity)
        out.append(q)
    return tuple(out)


def test_books_are_the_real_ones() -> None:
    asks = {v: len(_books()[(v, "BTC/USD")].asks) for v in VENUES}
    assert asks == {"bitfinex": 1000, "bittrex": 100, "bitstamp": 6553, "coinbase": 50}
    assert max(quotes("BTC/USD", "buy", "brief", "none")[2].prices) == 1e9  # kept as it is


# --------------------------------------------------------------------------------------------
# The reference LP

# HiGHS's presolve takes ~0.4 s on the large orders here and changes nothing in the answer.
HIGHS = {"presolve": False}


def _lp_pieces(side: str, venues: tuple, limit: float | None):
    buy = side == "buy"
    prices = np.concatenate([v.prices for v in venues])
    upper = np.concatenate([v.sizes for v in venues]).copy()
    fee = np.concatenate([np.full(v.prices.size, v.fee) for v in venues])
    if limit is not None:
        upper[(prices > limit) if buy else (prices < limit)] = 0.0
    unit = prices * (1 + fee) if buy else prices * (1 - fee)
    rows, caps, at = [], [], 0
    for v in venues:
        n = v.prices.size
        if v.capacity < math.inf:
            row = np.zeros(prices.size)
            row[at : at + n] = unit[at : at + n] if buy else 1.0
            rows.append(row)
            caps.append(v.capacity)
        at += n
    a_ub = np.array(rows) if rows else None
    b_ub = np.array(caps) if rows else None
    bounds = np.column_stack([np.zeros(prices.size), upper])
    return unit, a_ub, b_ub, bounds


@cache
def lp_most(side: str, venues: tuple, limit: float | None) -> float:
    """The most the LP can fill: maximise sum q."""
    unit, a_ub, b_ub, bounds = _lp_pieces(side, venues, limit)
    res = linprog(
        -np.ones(unit.size), A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs", options=HIGHS
    )
    assert res.status == 0, res.message
    return -res.fun


def lp_best(side: str, quantity: float, venues: tuple, limit: float | None = None):
    """(quantity filled, optimal cost for a buy / net proceeds for a sell) of the LP."""
    unit, a_ub, b_ub, bounds = _lp_pieces(side, venues, limit)
    target = min(quantity, lp_most(side, venues, limit))
    res = linprog(
        unit if side == "buy" else -unit,
        A_ub=a_ub,
        b_ub=b_ub,
        A_eq=np.ones((1, unit.size)),
        b_eq=[target],
        bounds=bounds,
        method="highs",
        options=HIGHS,
    )
    assert res.status == 0, res.message
    return target, (res.fun if side == "buy" else -res.fun)


# --------------------------------------------------------------------------------------------
# An independent check that a split is feasible and self-consistent


def walk(venue: VenueQuote, quantity: float, limit: float | None, buy: bool):
    """Lay ``quantity`` over the venue's book from the best level: (notional, deepest price).

    A remainder within float rounding of the quantity does not reach a further level.
    """
    left, notional, deepest = quantity, 0.0, None
    for price, size in zip(venue.prices.tolist(), venue.sizes.tolist(), strict=True):
        if left <= 1e-12 * quantity:
            break
        if size <= 0:
            continue
        if limit is not None and (price > limit if buy else price < limit):
            break
        take = min(size, left)
        notional += price * take
        left -= take
        deepest = price
    assert left <= 1e-9 * max(quantity, 1.0), f"{venue.venue}: {left} more than the book shows"
    return notional, deepest


def check_feasible(split: Split, venues: tuple, limit: float | None = None) -> None:
    buy = split.side == "buy"
    by_name = {v.venue: v for v in venues}
    assert len({a.venue for a in split.allocations}) == len(split.allocations)
    total_q = total_notional = total_fees = 0.0
    for a in split.allocations:
        v = by_name[a.venue]
        assert a.quantity > 0
        notional, deepest = walk(v, a.quantity, limit, buy)
        assert a.notional == pytest.approx(notional, rel=1e-9)
        assert a.worst_price == deepest
        assert a.fee == pytest.approx(a.notional * v.fee, rel=1e-12)
        if limit is not None:
            assert a.worst_price <= limit if buy else a.worst_price >= limit
        if buy:
            assert a.notional + a.fee <= v.capacity * (1 + 1e-12)
        else:
            assert a.quantity <= v.capacity * (1 + 1e-12)
        if v.lot_size:
            lots = a.quantity / v.lot_size
            assert abs(lots - round(lots)) <= 1e-9 * max(1.0, lots)
        assert a.quantity >= v.min_quantity
        assert a.notional >= v.min_notional
        total_q += a.quantity
        total_notional += a.notional
        total_fees += a.fee
    assert split.filled == pytest.approx(total_q, rel=1e-12, abs=1e-15)
    assert split.filled <= split.requested * (1 + 1e-12)
    assert split.unfilled >= 0
    assert split.filled + split.unfilled == pytest.approx(split.requested, rel=1e-12)
    cost = total_notional + total_fees if buy else total_notional - total_fees
    assert split.cost == pytest.approx(cost, rel=1e-12, abs=1e-12)


def better_or_equal(a: Split, b: Split) -> bool:
    """``a`` fills at least as much as ``b`` and, when they fill the same, costs no more."""
    tol = 1e-9 * a.requested
    if a.filled > b.filled + tol:
        return True
    if a.filled < b.filled - tol:
        return False
    slack = 1e-9 * max(abs(a.cost), abs(b.cost))
    return a.cost <= b.cost + slack if a.side == "buy" else a.cost >= b.cost - slack


# --------------------------------------------------------------------------------------------
# Continuous problem: the kernel is the LP optimum


@pytest.mark.parametrize("size_index", range(8))
@pytest.mark.parametrize("caps", sorted(CAPACITIES))
@pytest.mark.parametrize("fees", sorted(FEES))
@pytest.mark.parametrize("side", ["buy", "sell"])
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_split_is_the_lp_optimum(
    symbol: str, side: str, fees: str, caps: str, size_index: int
) -> None:
    venues = quotes(symbol, side, fees, caps)
    size = SIZES[symbol][size_index]
    split = split_order(side, size, venues)
    target, optimum = lp_best(side, size, venues)
    assert split.filled == pytest.approx(target, rel=1e-9)
    assert split.cost == pytest.approx(optimum, rel=1e-9)
    check_feasible(split, venues)
    if size_index == 7:  # more than every book and balance holds
        assert split.unfilled > 0
        assert split.unfilled == pytest.approx(size - lp_most(side, venues, None), rel=1e-9)
    elif size_index < 6 and caps == "none":
        assert split.unfilled == 0.0
    single = best_single_venue(side, size, venues)
    check_feasible(single, venues)
    assert len(single.allocations) <= 1
    assert better_or_equal(split, single)


@pytest.mark.parametrize("size", [0.01, 2.0, 30.0, 150.0, 400.0, 1e4])
@pytest.mark.parametrize("side", ["buy", "sell"])
@pytest.mark.parametrize("layout", ["one venue", "equal depth", "equal depth, twins"])
def test_split_is_the_lp_optimum_on_short_books(layout: str, side: str, size: float) -> None:
    # Equal-length books take another path in the kernel; twins tie on every level.
    venues = quotes("BTC/USD", side, "brief", "balances", depth=50)
    if layout == "one venue":
        venues = venues[:1]
    elif layout == "equal depth, twins":
        twin = venues[1]
        venues = (*venues, VenueQuote("twin", twin.prices, twin.sizes, twin.fee, twin.capacity))
    split = split_order(side, size, venues)
    target, optimum = lp_best(side, size, venues)
    assert split.filled == pytest.approx(target, rel=1e-9)
    assert split.cost == pytest.approx(optimum, rel=1e-9)
    check_feasible(split, venues)


@pytest.mark.parametrize(
    ("symbol", "side", "size", "limit"),
    [
        ("BTC/USD", "buy", 50.0, 5085.0),
        ("BTC/USD", "buy", 5000.0, 5200.0),  # more than there is below the limit
        ("BTC/USD", "buy", 1.0, 5000.0),  # limit below every ask: nothing
        ("BTC/USD", "sell", 80.0, 5060.0),
        ("BTC/USD", "sell", 1e5, 4000.0),
        ("ETH/USD", "buy", 900.0, 164.2),
        ("ETH/USD", "sell", 3000.0, 162.5),
    ],
)
@pytest.mark.parametrize("caps", ["none", "balances"])
def test_limit_price(symbol: str, side: str, size: float, limit: float, caps: str) -> None:
    venues = quotes(symbol, side, "brief", caps)
    split = split_order(side, size, venues, limit_price=limit)
    target, optimum = lp_best(side, size, venues, limit)
    check_feasible(split, venues, limit)
    assert split.filled == pytest.approx(target, rel=1e-9, abs=1e-12)
    assert split.cost == pytest.approx(optimum, rel=1e-9, abs=1e-9)
    for a in split.allocations:
        assert a.worst_price <= limit if side == "buy" else a.worst_price >= limit
    if target == 0:
        assert split.allocations == () and split.unfilled == size and split.average_price is None
    check_feasible(best_single_venue(side, size, venues, limit), venues, limit)


def test_small_buy_takes_the_cheapest_level_after_fees() -> None:
    # 1 at 100 with 1% fee (101) loses to 1 at 100.5 with no fee (100.5).
    a = VenueQuote("a", [100.0, 101.0], [1.0, 5.0], fee=0.01)
    b = VenueQuote("b", [100.5, 103.0], [1.0, 5.0], fee=0.0)
    split = split_order("buy", 1.5, [a, b])
    got = {x.venue: x for x in split.allocations}
    assert got["b"].quantity == 1.0 and got["b"].worst_price == 100.5
    assert got["a"].quantity == pytest.approx(0.5) and got["a"].worst_price == 100.0
    assert split.cost == pytest.approx(100.5 + 0.5 * 100 * 1.01)
    assert split.average_price == pytest.approx(split.cost / 1.5)
    assert got["a"].average_price == 100.0
    # A sell: 99 net of a 1% fee is 98.01, below 98.5 with no fee.
    a = VenueQuote("a", [99.0, 98.0], [1.0, 5.0], fee=0.01)
    b = VenueQuote("b", [98.5, 90.0], [1.0, 5.0], fee=0.0)
    split = split_order("sell", 2.0, [a, b])
    assert {x.venue: x.quantity for x in split.allocations} == {"a": 1.0, "b": 1.0}
    assert split.cost == pytest.approx(98.5 + 99 * 0.99)


def test_capacity_cuts_inside_a_level() -> None:
    a = VenueQuote("a", [100.0, 110.0], [1.0, 1.0], fee=0.1, capacity=170.5)  # 110 + 0.5 x 121
    b = VenueQuote("b", [200.0], [10.0], fee=0.0)
    split = split_order("buy", 3.0, [a, b])
    got = {x.venue: x for x in split.allocations}
    assert got["a"].quantity == pytest.approx(1.5)
    assert got["a"].notional + got["a"].fee == pytest.approx(170.5)
    assert got["a"].worst_price == 110.0
    assert got["b"].quantity == pytest.approx(1.5)


def test_uneven_and_empty_books() -> None:
    a = VenueQuote("a", [10.0, 11.0, 12.0], [1.0, 0.0, 1.0], fee=0.0)  # a size-0 level inside
    empty = VenueQuote("empty", [], [], fee=0.0)
    b = VenueQuote("b", [10.5], [1.0], fee=0.0)
    split = split_order("buy", 2.5, [a, empty, b])
    got = {x.venue: x for x in split.allocations}
    assert set(got) == {"a", "b"}
    assert got["a"].quantity == 1.5 and got["a"].worst_price == 12.0
    assert split.cost == pytest.approx(10 + 10.5 + 0.5 * 12)
    assert split.unfilled == 0.0
    split = split_order("buy", 5.0, [a, empty, b])
    assert split.filled == 3.0 and split.unfilled == 2.0


# --------------------------------------------------------------------------------------------
# Best single venue


@pytest.mark.parametrize("side", ["buy", "sell"])
@pytest.mark.parametrize("size", [0.01, 3.0, 70.0, 120.0, 3000.0, 5000.0, 1e7])
def test_best_single_venue_rule(side: str, size: float) -> None:
    venues = quotes("BTC/USD", side, "brief", "balances")
    single = best_single_venue(side, size, venues)
    alone = [split_order(side, size, [v]) for v in venues]
    most = max(s.filled for s in alone)
    ties = [s for s in alone if s.filled >= most - 1e-12 * size]
    pick = (min if side == "buy" else max)(ties, key=lambda s: s.cost)
    assert [a.venue for a in single.allocations] == [a.venue for a in pick.allocations]
    assert single.filled == pytest.approx(pick.filled, rel=1e-12)
    assert single.cost == pytest.approx(pick.cost, rel=1e-12)
    assert better_or_equal(split_order(side, size, venues), single)


def test_best_single_venue_with_nothing_to_fill() -> None:
    a = VenueQuote("a", [100.0], [1.0], fee=0.0, capacity=0.0)
    single = best_single_venue("buy", 1.0, [a])
    assert single.allocations == () and single.filled == 0 and single.unfilled == 1.0


# --------------------------------------------------------------------------------------------
# Lots and minimums: every constraint holds (no optimality claimed)


def test_lot_flooring_and_top_up() -> None:
    # Continuous optimum: a 1.3, b 0.7. Lots of 1 on a floor it to 1; b (continuous) takes 1.
    a = VenueQuote("a", [100.0, 100.0], [1.0, 1.0], fee=0.0, lot_size=1.0)
    b = VenueQuote("b", [100.0, 100.2, 101.0], [0.5, 0.5, 5.0], fee=0.0)
    split = split_order("buy", 2.0, [a, b])
    check_feasible(split, (a, b))
    assert split.filled == pytest.approx(2.0) and split.unfilled == 0.0
    assert {x.venue: x.quantity for x in split.allocations}["a"] in (1.0, 2.0)


def test_venue_below_its_minimum_is_dropped_and_refilled() -> None:
    # a is cheapest for its first 0.2 only, under its 1.0 minimum: b takes everything.
    a = VenueQuote("a", [99.0, 120.0], [0.2, 10.0], fee=0.0, min_quantity=1.0)
    b = VenueQuote("b", [100.0], [10.0], fee=0.0)
    split = split_order("buy", 2.0, [a, b])
    check_feasible(split, (a, b))
    assert [(x.venue, x.quantity) for x in split.allocations] == [("b", 2.0)]
    # min_notional the same way, on a sell.
    a = VenueQuote("a", [101.0, 80.0], [0.2, 10.0], fee=0.0, min_notional=50.0)
    b = VenueQuote("b", [100.0], [10.0], fee=0.0)
    split = split_order("sell", 2.0, [a, b])
    check_feasible(split, (a, b))
    assert [(x.venue, x.quantity) for x in split.allocations] == [("b", 2.0)]


def test_unplaceable_remainder_is_unfilled() -> None:
    a = VenueQuote("a", [100.0], [10.0], fee=0.0, lot_size=1.0)
    split = split_order("buy", 2.5, [a])
    check_feasible(split, (a,))
    assert split.filled == 2.0 and split.unfilled == 0.5


@st.composite
def discrete_cases(draw):
    symbol = draw(st.sampled_from(SYMBOLS))
    side = draw(st.sampled_from(["buy", "sell"]))
    depth = draw(st.integers(1, 60))
    base = quotes(symbol, side, draw(st.sampled_from(sorted(FEES))), "none", depth)
    chosen = draw(st.lists(st.sampled_from(range(4)), min_size=1, max_size=4, unique=True))
    lot_unit = 0.001 if symbol == "BTC/USD" else 0.01
    venues = []
    for i in chosen:
        v = base[i]
        lot = draw(st.sampled_from([0.0, lot_unit, 10 * lot_unit, 100 * lot_unit, 1000 * lot_unit]))
        capacity = draw(
            st.one_of(
                st.just(math.inf),
                st.floats(0, 2e5 if side == "buy" else 40 / lot_unit * 0.001 * 30),
            )
        )
        venues.append(
            VenueQuote(
                v.venue,
                v.prices,
                v.sizes,
                v.fee,
                capacity=capacity,
                lot_size=lot,
                min_quantity=draw(st.sampled_from([0.0, lot_unit, 1.0, 5.0, 20.0])),
                min_notional=draw(st.sampled_from([0.0, 10.0, 1_000.0, 20_000.0])),
            )
        )
    size = draw(st.floats(1e-4, 200.0 if symbol == "BTC/USD" else 5000.0))
    mid = float(base[0].prices[0])
    limit = draw(st.one_of(st.none(), st.floats(0.97 * mid, 1.03 * mid)))
    return side, size, tuple(venues), limit


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(discrete_cases())
def test_lots_and_minimums_respect_every_constraint(case) -> None:
    side, size, venues, limit = case
    split = split_order(side, size, venues, limit)
    check_feasible(split, venues, limit)
    single = best_single_venue(side, size, venues, limit)
    check_feasible(single, venues, limit)
    assert better_or_equal(split, single)
    # Lots and minimums only take away: never more than, never cheaper than the relaxation.
    relaxed = tuple(
        VenueQuote(v.venue, v.prices, v.sizes, v.fee, capacity=v.capacity) for v in venues
    )
    bound = split_order(side, size, relaxed, limit)
    assert split.filled <= bound.filled * (1 + 1e-12) + 1e-15
    if split.filled > 0:
        same = split_order(side, split.filled, relaxed, limit)
        assert better_or_equal(same, split)


# --------------------------------------------------------------------------------------------
# Degenerate inputs


GOOD = VenueQuote("a", [100.0, 101.0], [1.0, 1.0], fee=0.001)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("buy", 0.0, [GOOD]), "quantity"),
        (("buy", -1.0, [GOOD]), "quantity"),
        (("buy", math.nan, [GOOD]), "quantity"),
        (("buy", math.inf, [GOOD]), "quantity"),
        (("buy", "lots", [GOOD]), "quantity"),
        (("buy", "1.5", [GOOD]), "quantity"),
        (("buy", 1.0, [GOOD], "100"), "limit_price"),
        (("hold", 1.0, [GOOD]), "side"),
        (("buy", 1.0, []), "no venues"),
        (("buy", 1.0, [VenueQuote("e", [], [], fee=0.0)]), "empty"),
        (("buy", 1.0, [GOOD], math.nan), "limit_price"),
        (("buy", 1.0, [GOOD], -5.0), "limit_price"),
        (("sell", 1.0, [GOOD]), "bids"),
        (("buy", 1.0, [VenueQuote("b", [101.0, 100.0], [1.0, 1.0], fee=0.0)]), "asks"),
        (("buy", 1.0, ["not a quote"]), "VenueQuote"),
    ],
)
def test_bad_split_arguments(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_order(*args)
    with pytest.raises(ValueError, match=message):
        best_single_venue(*args)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prices": [100.0, math.nan]}, "prices must be finite"),
        ({"prices": [100.0, math.inf]}, "prices must be finite"),
        ({"prices": [0.0, 1.0]}, "positive"),
        ({"sizes": [1.0, math.nan]}, "sizes must be finite"),
        ({"sizes": [1.0, -1.0]}, "sizes must be finite"),
        ({"sizes": [1.0]}, "one size each"),
        ({"prices": [100.0, 99.0, 101.0], "sizes": [1.0, 1.0, 1.0]}, "not sorted"),
        ({"prices": [[100.0, 101.0]], "sizes": [[1.0, 1.0]]}, "one-dimensional"),
        ({"prices": ["a", "b"]}, "not numbers"),
        ({"fee": 1.0}, "fee"),
        ({"fee": -0.001}, "fee"),
        ({"fee": math.nan}, "fee"),
        ({"capacity": math.nan}, "capacity"),
        ({"capacity": -1.0}, "capacity"),
        ({"lot_size": -0.1}, "lot_size"),
        ({"min_quantity": math.inf}, "min_quantity"),
        ({"min_notional": math.nan}, "min_notional"),
    ],
)
def test_bad_quotes(kwargs: dict, message: str) -> None:
    args = {"venue": "x", "prices": [100.0, 101.0], "sizes": [1.0, 1.0], "fee": 0.001}
    with pytest.raises(ValueError, match=message):
        VenueQuote(**{**args, **kwargs})


def test_decimal_and_integer_arguments() -> None:
    a = split_order("buy", Decimal("1.5"), [GOOD], limit_price=Decimal("101"))
    b = split_order("buy", 1.5, [GOOD], limit_price=101)
    assert a == b


def test_quote_owns_read_only_copies() -> None:
    prices = np.array([100.0, 101.0])
    q = VenueQuote("x", prices, [1, 2], fee=0)
    prices[0] = 1.0
    assert q.prices[0] == 100.0 and q.sizes.dtype == np.float64
    with pytest.raises(ValueError):
        q.prices[0] = 5.0
