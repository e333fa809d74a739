"""What-if routing: the node's own router, asked where an order would go on books from files.

The router runs for real on the replay runtime, fed the books, made-up instruments (tick from
the data, lot 1e-8) and the balances given; the answer is its ``OrderRouted`` plan. Nothing is
sent anywhere: the router's child orders stop at a recorder standing where risk would be.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from node.config import RouterConfig
from node.messages import (
    Balance,
    BalancesUpdated,
    BookSnapshot,
    Instrument,
    InstrumentsLoaded,
    OrderRouted,
    ParentOrderCompleted,
    ParentOrderRejected,
    SubmitParentOrder,
    VenueConnected,
)
from node.registry import Registry
from node.router import Router
from node.runtime.recorder import Recorder
from node.runtime.replay import ReplayRuntime

_UNLIMITED = Decimal("1e30")


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
            out[venue] = Decimal(value)
        except InvalidOperation:
            raise WhatIfError(f"--{what} {item!r}: expected VENUE=NUMBER") from None
    return out


def _tick(book: BookSnapshot) -> Decimal:
    places = 0
    for level in [*book.bids[:200], *book.asks[:200]]:
        places = max(places, -level.price.normalize().as_tuple().exponent)
    return Decimal(1).scaleb(-places)


def _read(sources: Registry[Any], files: list[str]) -> list[BookSnapshot]:
    books: list[BookSnapshot] = []
    for path in files:
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
    if qty <= 0:
        raise WhatIfError(f"--quantity {quantity}: must be positive")
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
    fee_bps = _pairs(list(fees), "fee")
    free = _pairs(list(balances), "balance")
    for venue in [*fee_bps, *free]:
        if venue not in venues:
            raise WhatIfError(f"no book for venue {venue!r} (venues: {', '.join(venues)})")

    runtime = ReplayRuntime()
    plans = Recorder("plans", (OrderRouted, ParentOrderCompleted, ParentOrderRejected))
    router = Router(RouterConfig(mode=mode, max_reroutes=0), venues)
    runtime.add(plans)
    runtime.add(router)
    runtime.add(Recorder("risk", ()))
    runtime.start()
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
            lot_size=Decimal("0.00000001"),
            maker_fee=fee,
            taker_fee=fee,
        )
        runtime.publish(InstrumentsLoaded(venue=book.venue, instruments=[instrument]))
        amount = free.get(book.venue, _UNLIMITED)
        currency = quote if side == "buy" else base
        runtime.publish(
            BalancesUpdated(
                venue=book.venue, balances={currency: Balance(total=amount, free=amount)}
            )
        )
        runtime.publish(VenueConnected(venue=book.venue))
        runtime.publish(book)
    runtime.run()
    runtime.send(
        "router", SubmitParentOrder(parent_id="what-if", symbol=symbol, side=side, quantity=qty)
    )
    runtime.run()
    rejected = plans.of_type(ParentOrderRejected)
    if rejected:
        raise WhatIfError(rejected[0].reason)
    routed = plans.of_type(OrderRouted)
    if not routed:
        done = plans.of_type(ParentOrderCompleted)
        raise WhatIfError(done[0].reason if done else "the router made no plan")
    plan: OrderRouted = routed[0]
    allocations = [
        VenueRoute(
            leg.venue, leg.quantity, leg.limit_price, leg.expected_average_price, leg.expected_fee
        )
        for leg in plan.legs
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
        excluded=plan.excluded,
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
