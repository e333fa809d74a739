"""Router split kernel: latency against scipy's LP, and what splitting saves over one venue.

Run: ``uv run python benchmarks/router_split.py`` (about 15 s). Prints markdown tables.

Books: the real order-graph BTC/USD snapshot (bitfinex, bittrex, bitstamp, coinbase) with taker
fees bitfinex 0.20 %, bittrex 0.25 %, bitstamp 0.50 %, coinbase 0.30 %.

* "N venues x 50 levels": the first 50 levels of each real venue, every book scaled so that its
  mid is the mean mid of the four (in the 2019 snapshot bitfinex quotes ~30 USD above the
  others, which alone would make most orders single-venue). 3 venues are bitfinex, bittrex and
  bitstamp; for 5 and 10 venues the four books are repeated in turn, each copy (from the fifth
  venue on) with its prices scaled by a random factor within +-5 bps, its sizes by random
  factors in [0.5, 1.5] and a fee drawn from the four above (seeded: every run times the same
  books).
* "full depth": the four real books as they are (1000 + 100 + 6553 + 50 asks, 1000 + 100 +
  3185 + 50 bids, absurd far levels included).

Latency: a 20 BTC order (it fills on every set). Each call is timed on its own with
``perf_counter_ns``, in 10 interleaved rounds over all the cases (2,000 calls per round, 300
on full depth) so that a burst of load on this shared machine hits every case alike: p50 and
p99 over all calls, and the p50 of the quietest round, a figure for an undisturbed core. The
baseline is ``scipy.optimize.linprog(method="highs")``, default options, on the same LP (one
variable per level, cost ``price x (1 + fee)`` for a buy, ``-price x (1 - fee)`` for a sell,
``0 <= q <= size``, ``sum q = quantity``); both answers are checked equal (1e-9) first. The
kernel gets the same ``VenueQuote`` objects every call: they are made once outside the timing,
as the router makes them once per book update.

Saving: buys and sells of 0.1 to 1000 BTC on the real full-depth books (not the re-centred
ones), split versus :func:`best_single_venue`, with the fees above and no balance limits.
"""

from __future__ import annotations

import math
import os
import platform
import time
from pathlib import Path

import numpy as np
import tradenode_sim
from scipy.optimize import linprog
from tradenode_sim.sources.order_graph import load_order_graph

from node.split import VenueQuote, best_single_venue, split_order

ORDER_GRAPH = Path(tradenode_sim.__file__).parent / "data" / "order-graph" / "run1-1.json"
FEES = {"bitfinex": 0.002, "bittrex": 0.0025, "bitstamp": 0.005, "coinbase": 0.003}
VENUES = ("bitfinex", "bittrex", "bitstamp", "coinbase")
TIMED_QUANTITY = 20.0  # BTC: spreads over several venues in every set below
SAVING_SIZES = (0.1, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000)


def real_books() -> dict:
    return {b.venue: b for b in load_order_graph(ORDER_GRAPH) if b.symbol == "BTC/USD"}


def real_quotes(side: str) -> list[VenueQuote]:
    books = real_books()
    return [VenueQuote.from_book(books[v], side, FEES[v]) for v in VENUES]


def synthetic(side: str, n: int, depth: int = 50) -> list[VenueQuote]:
    """``n`` venues of ``depth`` levels made from the real books (see the module docstring)."""
    books = real_books()
    mids = {v: float(books[v].bids[0].price + books[v].asks[0].price) / 2 for v in VENUES}
    centre = sum(mids.values()) / len(mids)
    rng = np.random.default_rng(7)
    out = []
    for i in range(n):
        name = VENUES[i % len(VENUES)]
        real = VenueQuote.from_book(books[name], side, FEES[name])
        prices, sizes = real.prices[:depth] * (centre / mids[name]), real.sizes[:depth]
        fee = real.fee
        if i >= len(VENUES):
            prices = prices * (1 + rng.uniform(-5e-4, 5e-4))
            sizes = sizes * rng.uniform(0.5, 1.5, size=sizes.size)
            fee = float(rng.choice(list(FEES.values())))
        out.append(VenueQuote(f"{name}-{i}", prices, sizes, fee))
    return out


def lp_pieces(side: str, venues: list[VenueQuote]):
    prices = np.concatenate([v.prices for v in venues])
    fee = np.concatenate([np.full(v.prices.size, v.fee) for v in venues])
    unit = prices * (1 + fee) if side == "buy" else -prices * (1 - fee)
    bounds = np.column_stack([np.zeros(prices.size), np.concatenate([v.sizes for v in venues])])
    return unit, np.ones((1, prices.size)), bounds


class Timer:
    """Per-call wall-clock times of one function, gathered in blocks of calls."""

    def __init__(self, fn) -> None:
        self.fn = fn
        self.blocks: list[np.ndarray] = []

    def block(self, calls: int) -> None:
        fn, clock = self.fn, time.perf_counter_ns
        wall = np.empty(calls)
        for i in range(calls):
            start = clock()
            fn()
            wall[i] = clock() - start
        self.blocks.append(wall / 1000.0)

    def summary(self) -> tuple[float, float, float]:
        """p50 and p99 over all calls (µs), and the p50 of the quietest block."""
        p50, p99 = np.percentile(np.concatenate(self.blocks), [50, 99])
        return float(p50), float(p99), float(min(np.median(b) for b in self.blocks))


def latency_table(rounds: int = 10) -> list[str]:
    cases = []
    for side in ("buy", "sell"):
        sets = [(f"{n} venues x 50", synthetic(side, n)) for n in (3, 5, 10)]
        sets.append(("full depth (4 venues)", real_quotes(side)))
        for name, venues in sets:
            unit, a_eq, bounds = lp_pieces(side, venues)
            res = linprog(unit, A_eq=a_eq, b_eq=[TIMED_QUANTITY], bounds=bounds, method="highs")
            split = split_order(side, TIMED_QUANTITY, venues)
            # Same answer, or the comparison means nothing.
            assert math.isclose(abs(res.fun), split.cost, rel_tol=1e-9), (res.fun, split.cost)
            ours = Timer(lambda s=side, v=venues: split_order(s, TIMED_QUANTITY, v))
            theirs = Timer(
                lambda u=unit, a=a_eq, b=bounds: linprog(
                    u, A_eq=a, b_eq=[TIMED_QUANTITY], bounds=b, method="highs"
                )
            )
            full = len(unit) > 1000
            ours.block(200)  # warm-up, dropped below
            ours.blocks.clear()
            cases.append((side, name, len(unit), len(split.allocations), ours, theirs, full))
    # Interleaved rounds, so that a burst of load on the shared machine hits every case alike.
    for _ in range(rounds):
        for *_, ours, theirs, full in cases:
            ours.block(300 if full else 2000)
            theirs.block(3 if full else 20)
    lines = [
        f"Order: {TIMED_QUANTITY:g} BTC. Wall-clock µs per call: p50 and p99 over all "
        f"{rounds} rounds, and the p50 of the quietest round (this VM's speed drifts by up to 2x "
        "from one second to the next); ratio = linprog p50 / split_order p50.",
        "",
        "| side | books | levels | venues used | split_order p50 | p99 | quietest p50 | "
        "linprog p50 | p99 | ratio |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for side, name, levels, used, ours, theirs, _ in cases:
        p50, p99, quiet = ours.summary()
        l50, l99, _ = theirs.summary()
        lines.append(
            f"| {side} | {name} | {levels} | {used} | {p50:.1f} | {p99:.1f} | {quiet:.1f} | "
            f"{l50:,.0f} | {l99:,.0f} | {l50 / p50:,.0f}x |"
        )
    return lines


def saving_table() -> list[str]:
    lines = [
        "Average prices are net of taker fees (a buy's cost / a sell's net proceeds per BTC); "
        "saving = how much better the split's net price is than the best single venue's, in bps.",
        "",
        "| side | size BTC | split avg price | venues used | best venue | best venue avg price "
        "| saving bps |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for side in ("buy", "sell"):
        venues = real_quotes(side)
        for size in SAVING_SIZES:
            split = split_order(side, size, venues)
            single = best_single_venue(side, size, venues)
            assert split.unfilled == 0 and single.unfilled == 0
            ours, theirs = split.average_price, single.average_price
            saving = (theirs - ours if side == "buy" else ours - theirs) / theirs * 1e4
            saving = round(saving, 2) + 0.0  # no "-0.00" from float rounding
            lines.append(
                f"| {side} | {size:g} | {ours:,.2f} | {len(split.allocations)} | "
                f"{single.allocations[0].venue} | {theirs:,.2f} | {saving:.2f} |"
            )
    return lines


def main() -> None:
    cpu = platform.processor() or platform.machine()
    print(
        f"# machine: {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}, "
        f"numpy {np.__version__}"
    )
    print()
    print(f"# load average before: {os.getloadavg()[0]:.2f}")
    print()
    print("\n".join(latency_table()))
    print()
    print(f"# load average after the timings: {os.getloadavg()[0]:.2f}")
    print()
    print("\n".join(saving_table()))


if __name__ == "__main__":
    main()
