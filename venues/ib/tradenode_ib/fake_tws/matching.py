"""Matching an order against a book: what trades, at which prices, and whether a stop fired.

An order that arrives marketable takes liquidity level by level at the book's prices (one
execution per level: several partial fills for an order bigger than the top level). An order
that was resting when the market came through it fills at its own limit price, adding
liquidity. Fills consume the book's sizes until the next step of the price path.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from .market import Book


@dataclass(frozen=True, slots=True)
class Match:
    price: Decimal
    quantity: Decimal
    added_liquidity: bool


def sweep(
    book: Book, buy: bool, quantity: Decimal, limit: Decimal | None, *, resting: bool
) -> list[Match]:
    """Take up to ``quantity`` from the opposite side, no worse than ``limit`` (None: any)."""
    levels = book.asks if buy else book.bids
    matches: list[Match] = []
    remaining = quantity
    while levels and remaining > 0:
        level = levels[0]
        if limit is not None and (level.price > limit if buy else level.price < limit):
            break
        take = min(remaining, level.size)
        price = limit if resting and limit is not None else level.price
        matches.append(Match(price, take, resting))
        level.size -= take
        remaining -= take
        if level.size <= 0:
            levels.pop(0)
    return matches


def stop_triggered(book: Book, buy: bool, stop: Decimal) -> bool:
    """A buy stop fires when the offer reaches it, a sell stop when the bid does."""
    if buy:
        return book.ask is not None and book.ask.price >= stop
    return book.bid is not None and book.bid.price <= stop
