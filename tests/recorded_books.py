"""The order-graph books as the tests read them: straight from the recorded JSON, exactly, and
independently of the code under test (which reads the same file through its own reader)."""

from __future__ import annotations

import json
from decimal import Decimal, localcontext
from fractions import Fraction
from functools import cache
from pathlib import Path

import tradenode_sim

ORDER_GRAPH_FILE = Path(tradenode_sim.__file__).parent / "data" / "order-graph" / "run1-1.json"


@cache
def _order_graph() -> list[dict]:
    return json.loads(ORDER_GRAPH_FILE.read_text())


def _exact(r: dict) -> Decimal:
    value = Fraction(r["numerator"], r["denominator"])
    with localcontext() as ctx:
        ctx.prec = 60
        out = Decimal(value.numerator) / Decimal(value.denominator)
    assert Fraction(out) == value, "order-graph rationals are terminating decimals"
    return out


@cache
def recorded_levels(venue: str, symbol: str, side: str) -> tuple[tuple[Decimal, Decimal], ...]:
    """The recorded resting levels of ``side`` ("bids"/"asks"), best first."""
    base, quote = symbol.split("/")
    (book,) = [
        b
        for b in _order_graph()
        if b["venue"] == venue and (b["base"], b["quote"]) == (base, quote)
    ]
    levels = [(_exact(lv["price"]), _exact(lv["qty"])) for lv in book[side]]
    return tuple(sorted(levels, key=lambda lv: lv[0], reverse=side == "bids"))


def recorded_asks(venue: str = "bitstamp") -> tuple[tuple[Decimal, Decimal], ...]:
    """A venue's recorded BTC/USD asks, best first."""
    return recorded_levels(venue, "BTC/USD", "asks")


def sweep(levels, quantity: Decimal) -> list[tuple[Decimal, Decimal]]:
    """What a taker of ``quantity`` takes from ``levels`` (best first): (price, quantity) each."""
    taken, left = [], quantity
    for price, size in levels:
        if left <= 0:
            break
        take = min(left, size)
        taken.append((price, take))
        left -= take
    return taken
