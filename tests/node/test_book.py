"""The L2 book against the plainest model of one: a price → size dict per side, sorted on every
read. The book keeps only the prices near the best sorted (with vanished ones among them,
"stale"), the deeper ones in a set, and a cached best price, so every read is checked after
every update of long random sequences that make levels vanish, come back, cross the best price
and drift far from where they began: after stale prices are dropped, after the near list is
split and after it runs out and is refilled from the deep prices (with a near list of 8 prices,
where these happen all the time, and with the real one)."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from node.book import BookSide, L2Book
from node.messages import BookDeltas, BookLevel, BookSnapshot


class Model:
    def __init__(self) -> None:
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}

    def apply(self, bids: list[BookLevel], asks: list[BookLevel], replace: bool) -> None:
        if replace:
            self.bids, self.asks = {}, {}
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for level in levels:
                if level.size:
                    side[level.price] = (
                        side.get(level.price, Decimal(0)) + level.size if replace else level.size
                    )
                elif not replace:  # a snapshot's empty level is no level at all
                    side.pop(level.price, None)

    def levels(self, side: str) -> list[BookLevel]:
        book = self.bids if side == "buy" else self.asks
        prices = sorted(book, reverse=side == "buy")
        return [BookLevel(p, book[p]) for p in prices]


def _random_levels(rng: random.Random, low: int, high: int, count: int) -> list[BookLevel]:
    levels = []
    for _ in range(count):
        price = Decimal(rng.randint(low, high)) / 100
        size = Decimal(0) if rng.random() < 0.45 else Decimal(rng.randint(1, 500)) / 1000
        levels.append(BookLevel(price, size))
    return levels


def _check(book: L2Book, model: Model, rng: random.Random) -> None:
    bids, asks = model.levels("buy"), model.levels("sell")
    assert book.levels("buy") == bids
    assert book.levels("sell") == asks
    assert book.top() == (bids[0].price if bids else None, asks[0].price if asks else None)
    assert book.best("buy") == (bids[0].price if bids else None)
    assert book.levels("sell", depth=3) == asks[:3]
    quantity = Decimal(rng.randint(1, 3000)) / 1000
    for taker, resting in (("buy", asks), ("sell", bids)):
        expected, left = [], quantity
        for level in resting:
            expected.append(level)
            left -= level.size
            if left <= 0:
                break
        assert book.sweep(taker, quantity) == expected


@pytest.fixture(params=[BookSide.NEAR, 8], ids=["near-default", "near-8"])
def near(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(BookSide, "NEAR", request.param)
    return request.param


@pytest.mark.parametrize("seed", range(6))
def test_every_read_matches_a_sorted_dict_after_every_update(seed: int, near: int):
    rng = random.Random(seed)
    book, model = L2Book("sim", "X/Y"), Model()
    for step in range(1500):
        # A narrow band of prices: levels vanish and come back at the same prices all the time,
        # and bids and asks overlap so the best price moves through stale prices both ways.
        replace = step % 400 == 0
        bids = _random_levels(rng, 9_900, 10_010, rng.randint(0 if not replace else 5, 12))
        asks = _random_levels(rng, 9_990, 10_100, rng.randint(0 if not replace else 5, 12))
        if replace:
            book.apply(BookSnapshot(venue="sim", symbol="X/Y", ts=step, bids=bids, asks=asks))
        else:
            book.apply(BookDeltas(venue="sim", symbol="X/Y", ts=step, bids=bids, asks=asks))
        model.apply(bids, asks, replace)
        _check(book, model, rng)


def test_a_side_emptied_and_refilled_through_single_levels(near: int):
    rng = random.Random(99)
    book, model = L2Book("sim", "X/Y"), Model()
    prices = [Decimal(p) for p in range(100, 140)]
    for step in range(3000):
        side = rng.choice(("buy", "sell"))
        price = rng.choice(prices)
        size = Decimal(0) if rng.random() < 0.6 else Decimal(rng.randint(1, 9))
        book.set_level(side, price, size, ts=step)
        levels = [BookLevel(price, size)]
        model.apply(levels if side == "buy" else [], levels if side == "sell" else [], False)
        _check(book, model, rng)


@pytest.mark.parametrize("seed", range(4))
def test_prices_drifting_far_from_the_start_through_split_and_refill(seed: int, near: int):
    """The market walks away from its first prices, as a day's capture does: new prices arrive
    both at the top and deep in the book, whole bands empty out, deep levels become the best."""
    rng = random.Random(1000 + seed)
    book, model = L2Book("sim", "X/Y"), Model()
    mid = 50_000
    for step in range(1200):
        mid += rng.randint(-40, 40)
        replace = step == 0 or rng.random() < 0.005
        spread = rng.randint(1, 5)
        deep = rng.random() < 0.3  # a level far from the top, appearing or going
        width = 2_000 if deep else 60
        bids = _random_levels(rng, mid - width, mid - spread, rng.randint(0, 25))
        asks = _random_levels(rng, mid + spread, mid + width, rng.randint(0, 25))
        if rng.random() < 0.05:  # the top of one side swept away
            top = sorted(model.bids, reverse=True)[: rng.randint(10, 80)]
            bids += [BookLevel(price, Decimal(0)) for price in top]
        message = BookSnapshot if replace else BookDeltas
        book.apply(message(venue="sim", symbol="X/Y", ts=step, bids=bids, asks=asks))
        model.apply(bids, asks, replace)
        _check(book, model, rng)
