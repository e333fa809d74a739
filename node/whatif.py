"""What-if routing: the node's own router, asked where an order would go on books from files.

The router runs for real on the replay runtime, on a market state holding the books, made-up
instruments (tick from the data, lot 1e-8) and the balances given; the answer is its
``SliceRouted`` plan for the whole order. Nothing is sent anywhere: the router's child orders
stop at a recorder standing where risk would be.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import msgspec

from node.config import RouterConfig
from node.market import MarketState
from node.messages import (
    Balance,
    BookSnapshot,
    Instrument,
    NodeReady,
    RouteSlice,
    SliceCompleted,
    SliceRouted,
)
from node.registry import Registry
from node.router import Router
from node.runtime.recorder import Recorder
from node.runtime.replay import ReplayRuntime

_UNLIMITED = Decimal("1e30")
_LOT = Decimal("0.00000001")


class WhatIfError(ValueError):
    """Bad arguments or files for ``tradenode route``; the message says which."""


class VenueRoute(msgspec.Struct, frozen=True):
    venue: str
    quantity: Decimal
    worst_price: Decimal
    average_price: Decimal
    fees: Decimal


class RouteAnswer(msgspec.Struct, frozen=True):
    symbol: str
    side: str
    quantity: Decimal
    mode: str
    allocations: list[VenueRoute]
    filled_quantity: Decimal
    unfilled_quantity: Decimal
    total_cost: Decimal | None
    average_price: Decimal | None
    fees: Decimal
    best_venue: str | None
    best_venue_average_price: Decimal | None
    saving_bps_vs_best_venue: Decimal | None
    excluded: dict[str, str]


def _pairs(items: list[str], what: str) -> dict[str, Decimal]:
    out = {}
    for item in items:
        venue, sep, value = item.partition("=")
        try:
            if not sep or not venue:
                raise InvalidOperation
            number = Decimal(value)
        except InvalidOperation:
            raise WhatIfError(f"--{what} {item!r}: expected VENUE=NUMBER") from None
        if not number.is_finite() or not 0 <= number < Decimal("1e15"):
            raise WhatIfError(f"--{what} {item!r}: must be a finite number >= 0 and below 1e15")
        if what == "fee" and number >= 10_000:
            raise WhatIfError(f"--fee {item!r}: a fee is in bps and must be below 10000")
        out[venue] = number
    return out


def _tick(book: BookSnapshot) -> Decimal:
    places = 0
    for level in [*book.bids[:200], *book.asks[:200]]:
        places = max(places, -level.price.normalize().as_tuple().exponent)
    return Decimal(1).scaleb(-places)


def _read(sources: Registry[Any], files: list[str]) -> list[BookSnapshot]:
    books: list[BookSnapshot] = []
    for path in files:
        if not Path(path).exists():
            raise WhatIfError(f"{path}: no such file")
        if not Path(path).is_file():
            raise WhatIfError(f"{path}: not a file")
        reader = next((r.target for r in sources if r.target.matches(path)), None)
        if reader is None:
            known = ", ".join(r.name for r in sources) or "none installed"
            raise WhatIfError(f"{path}: not a book file any installed reader knows ({known})")
        try:
            books.extend(reader.load_books(path))
        except ValueError as exc:
            raise WhatIfError(str(exc)) from None
    return books


def route_books(
    sources: Registry[Any],
    files: list[str],
    *,
    side: str,
    quantity: str,
    symbol: str | None = None,
    fees: list[str] = (),
    balances: list[str] = (),
    mode: str = "split",
) -> RouteAnswer:
    try:
        qty = Decimal(quantity)
    except InvalidOperation:
        raise WhatIfError(f"--quantity {quantity!r}: not a number") from None
    if not qty.is_finite() or not 0 < qty < Decimal("1e15"):
        raise WhatIfError(f"--quantity {quantity}: must be a finite number > 0 and below 1e15")
    if qty < _LOT:
        raise WhatIfError(f"--quantity {quantity}: smaller than the lot size {_LOT:f}")
    qty = (qty / _LOT).to_integral_value() * _LOT if qty % _LOT else qty
    books = _read(sources, files)
    symbols = sorted({b.symbol for b in books})
    if symbol is None:
        if len(symbols) != 1:
            raise WhatIfError(
                f"the files hold several pairs ({', '.join(symbols)}): pick one with --symbol"
            )
        symbol = symbols[0]
    books = [b for b in books if b.symbol == symbol]
    if not books:
        raise WhatIfError(f"no book for {symbol} in the files (pairs there: {', '.join(symbols)})")
    venues = [b.venue for b in books]
    if len(set(venues)) != len(venues):
        raise WhatIfError(f"two books for one venue among {', '.join(venues)}")
    taken = "asks" if side == "buy" else "bids"
    for book in books:
        if not (book.asks if side == "buy" else book.bids):
            raise WhatIfError(
                f"{book.venue} {symbol}: the book has no {taken}: a {side} takes from the {taken}"
            )
    fee_bps = _pairs(list(fees), "fee")
    free = _pairs(list(balances), "balance")
    for venue in [*fee_bps, *free]:
        if venue not in venues:
            raise WhatIfError(f"no book for venue {venue!r} (venues: {', '.join(venues)})")

    market = MarketState()
    base, quote = symbol.split("/") if "/" in symbol else (symbol, "?")
    for book in books:
        fee = fee_bps.get(book.venue, Decimal(0)) / 10_000
        instrument = Instrument(
            symbol=symbol,
            venue=book.venue,
            venue_symbol=symbol,
            base=base,
            quote=quote,
            tick_size=_tick(book),
            lot_size=_LOT,
            maker_fee=fee,
            taker_fee=fee,
        )
        market.set_instruments(book.venue, [instrument])
        amount = free.get(book.venue, _UNLIMITED)
        currency = quote if side == "buy" else base
        state = market.venue(book.venue)
        state.balances = {currency: Balance(total=amount, free=amount)}
        state.connected = True
        target = market.book(book.venue, symbol)
        target.apply(book)
        target.static = True
    runtime = ReplayRuntime()
    plans = Recorder("plans", (SliceRouted, SliceCompleted))
    runtime.add(plans)
    runtime.add(Router(RouterConfig(mode=mode, max_reroutes=0), venues, market))
    runtime.add(Recorder("risk", ()))
    runtime.start([])
    runtime.publish(NodeReady(node="what-if"))
    runtime.send(
        "router",
        RouteSlice(parent_id="what-if", slice_id=1, symbol=symbol, side=side, quantity=qty),
    )
    runtime.run()
    routed = plans.of_type(SliceRouted)
    if not routed or not routed[0].legs:
        done = plans.of_type(SliceCompleted)
        raise WhatIfError(done[0].reason if done else "the router made no plan")
    plan: SliceRouted = routed[0]
    by_venue: dict[str, list] = {}
    for leg in plan.legs:
        by_venue.setdefault(leg.venue, []).append(leg)
    allocations = [
        VenueRoute(
            venue,
            sum((leg.quantity for leg in legs), Decimal(0)),
            max(leg.limit_price for leg in legs)
            if side == "buy"
            else min(leg.limit_price for leg in legs),
            legs[0].expected_average_price,
            sum((leg.expected_fee for leg in legs), Decimal(0)),
        )
        for venue, legs in by_venue.items()
    ]
    filled = sum((a.quantity for a in allocations), Decimal(0))
    fees_total = sum((a.fees for a in allocations), Decimal(0))
    notional = sum((a.quantity * a.average_price for a in allocations), Decimal(0))
    sign = 1 if side == "buy" else -1
    total = (notional + sign * fees_total).quantize(Decimal("0.01")) if filled else None
    return RouteAnswer(
        symbol=symbol,
        side=side,
        quantity=qty,
        mode=mode,
        allocations=allocations,
        filled_quantity=filled,
        unfilled_quantity=qty - filled,
        total_cost=total,
        average_price=plan.expected_average_price,
        fees=fees_total,
        best_venue=plan.best_venue,
        best_venue_average_price=plan.best_venue_average_price,
        saving_bps_vs_best_venue=plan.saving_bps_vs_best_venue,
        excluded={**plan.excluded, **plan.collared},
    )


def format_route(answer: RouteAnswer) -> str:
    what = "cost" if answer.side == "buy" else "proceeds"
    lines = [f"{answer.side} {answer.quantity} {answer.symbol} ({answer.mode}):"]
    rows = [("venue", "quantity", "worst price", "avg price", "fees")]
    for a in answer.allocations:
        rows.append(
            (
                a.venue,
                f"{a.quantity:f}",
                f"{a.worst_price:f}",
                f"{a.average_price:,.4f}",
                f"{a.fees:,.4f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        lines.append(
            "  "
            + r[0].ljust(widths[0])
            + "".join("  " + c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True))
        )
    lines.append(
        f"total {what} net of fees {answer.total_cost:,}; average {answer.average_price} per unit; "
        f"fees {answer.fees:,.4f}"
        if answer.total_cost is not None
        else "nothing fillable"
    )
    if answer.unfilled_quantity > 0:
        lines.append(f"unfilled {answer.unfilled_quantity} (books or balances too thin)")
    if answer.best_venue:
        lines.append(
            f"best single venue: {answer.best_venue} at {answer.best_venue_average_price} net; "
            f"saving {answer.saving_bps_vs_best_venue} bps"
        )
    for venue, why in answer.excluded.items():
        lines.append(f"left out {venue}: {why}")
    return "\n".join(lines)
