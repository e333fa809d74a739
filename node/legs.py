"""From the split kernel's float plan to child orders a venue accepts, exactly.

The kernel (``node.split``) works on float64; what reaches a venue must be exact and valid:
quantities on the venue's lot, prices on its tick, never more in total than the slice asked for,
within each venue's balance as the venue itself reserves it. The rules, each a defect once:

* Quantities are floored to the lot (never rounded up); what flooring frees is offered to the
  venues in order of the price of their next unit, each only up to what its book (within the
  leg's price), its balance and the slice allow — never to a venue whose balance cannot hold it.
* The sum of the legs never exceeds the slice's remaining quantity (checked, not hoped for).
* A leg's limit is the deepest price it takes, snapped away from the trader to the tick (so it
  is valid), then held inside the slice's limit snapped *into* it (a buy limit floored to the
  tick, a sell limit ceiled).
* A venue holds back a limit buy's quantity × limit × (1 + fee). One IOC at the deepest price
  over-reserves, so a buy on a venue whose quote balance binds is sent as several children in
  price bands, each holding only its own band; bands are merged while the balance allows, so
  an unbound venue still gets one child. This reaches the cost the LP optimum promised.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from node.messages import BookLevel, Instrument, Side

ZERO = Decimal(0)


def to_decimal(value: float) -> Decimal:
    """A float as the shortest decimal that reads back as it (``repr``)."""
    return Decimal(repr(value))


def floor_to(value: Decimal, step: Decimal) -> Decimal:
    if not step:
        return value
    return (value / step).to_integral_value(ROUND_FLOOR) * step


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    if not step:
        return value
    return (value / step).to_integral_value(ROUND_CEILING) * step


def snap_away(price: Decimal, side: Side, tick: Decimal) -> Decimal:
    """A taker's limit on the tick, never tighter than ``price`` (buy up, sell down)."""
    return ceil_to(price, tick) if side == "buy" else floor_to(price, tick)


def snap_inside(limit: Decimal, side: Side, tick: Decimal) -> Decimal:
    """A trader's limit on the tick, never looser than ``limit`` (buy down, sell up)."""
    return floor_to(limit, tick) if side == "buy" else ceil_to(limit, tick)


@dataclass(frozen=True)
class VenuePlan:
    """One venue's share of the float plan, with what bounds it."""

    instrument: Instrument
    quantity: float
    worst_price: float
    levels: list[BookLevel]  # the venue's side of the book, best first, as far as it matters
    capacity: Decimal  # free quote (buy, fees included) or free base (sell)


@dataclass(frozen=True)
class Child:
    venue: str
    quantity: Decimal
    limit_price: Decimal


def _cost_of(levels: list[BookLevel], quantity: Decimal, fee: Decimal) -> tuple[Decimal, Decimal]:
    """(spend with fees, deepest price) of taking ``quantity`` from the top of ``levels``."""
    left, spend, deepest = quantity, ZERO, ZERO
    for level in levels:
        if left <= 0:
            break
        take = min(left, level.size)
        spend += take * level.price
        deepest = level.price
        left -= take
    return spend * (1 + fee), deepest


def _depth_within(levels: list[BookLevel], side: Side, price: Decimal) -> Decimal:
    return sum(
        (lv.size for lv in levels if (lv.price <= price if side == "buy" else lv.price >= price)),
        ZERO,
    )


def venue_quantities(
    side: Side, plans: list[VenuePlan], remaining: Decimal, limit: Decimal | None
) -> list[tuple[VenuePlan, Decimal, Decimal]]:
    """Each venue's exact quantity and limit: floored to lots, topped up where room is, never
    above ``remaining`` in total, each within its venue's depth (at its limit) and capacity."""
    rows: list[list] = []  # [plan, quantity, limit]
    for plan in plans:
        ins = plan.instrument
        price = snap_away(to_decimal(plan.worst_price), side, ins.tick_size)
        if limit is not None:
            inside = snap_inside(limit, side, ins.tick_size)
            price = min(price, inside) if side == "buy" else max(price, inside)
        quantity = floor_to(to_decimal(plan.quantity), ins.lot_size)
        quantity = min(quantity, _most(side, plan, price))
        rows.append([plan, max(quantity, ZERO), price])
    target = min(remaining, to_decimal(sum(p.quantity for p in plans)))
    # Top up what flooring freed: cheapest next unit first, each within its own bounds.
    short = target - sum((r[1] for r in rows), ZERO)
    order = sorted(rows, key=lambda r: r[2] if side == "buy" else -r[2])
    for row in order:
        if short <= 0:
            break
        plan, quantity, price = row
        room = _most(side, plan, price) - quantity
        add = floor_to(min(short, room), plan.instrument.lot_size)
        if add > 0:
            row[1] = quantity + add
            short -= add
    # Never more than the slice: take any excess back from the dearest legs.
    excess = sum((r[1] for r in rows), ZERO) - remaining
    for row in reversed(order):
        if excess <= 0:
            break
        cut = min(row[1], ceil_to(excess, row[0].instrument.lot_size))
        row[1] -= cut
        excess -= cut
    return [(r[0], r[1], r[2]) for r in rows if r[1] > 0 and _meets_minimums(r[0], r[1], r[2])]


def _meets_minimums(plan: VenuePlan, quantity: Decimal, price: Decimal) -> bool:
    ins = plan.instrument
    return quantity >= ins.min_quantity and quantity * price >= ins.min_notional


def _most(side: Side, plan: VenuePlan, price: Decimal) -> Decimal:
    """The most a venue can take at ``price``: its book depth there, and its capacity (for a
    buy, what its balance pays for at the book's prices, fees included)."""
    ins = plan.instrument
    depth = _depth_within(plan.levels, side, price)
    if side == "sell":
        return floor_to(min(depth, plan.capacity), ins.lot_size)
    low, high = ZERO, floor_to(depth, ins.lot_size)
    spend, _ = _cost_of(plan.levels, high, ins.taker_fee)
    if spend <= plan.capacity:
        return high
    lot = ins.lot_size or Decimal("1e-8")
    while high - low > lot:  # bisection on lots: spend is increasing in quantity
        mid = floor_to((low + high) / 2, lot)
        if mid <= low:
            break
        if _cost_of(plan.levels, mid, ins.taker_fee)[0] <= plan.capacity:
            low = mid
        else:
            high = mid
    return low


def band_children(
    side: Side, plan: VenuePlan, quantity: Decimal, limit: Decimal, max_children: int
) -> list[Child]:
    """The children of one venue's leg: one IOC at ``limit`` when the venue's balance holds its
    reservation, else bands of levels, each child holding only its own band (see the module
    docstring). The total may come out below ``quantity`` only if even one child per level would
    not fit (it then stops where the balance does)."""
    ins = plan.instrument
    fee = 1 + ins.taker_fee
    if side == "sell" or quantity * limit * fee <= plan.capacity:
        return [Child(ins.venue, quantity, limit)]
    # One band per level first (exactly the book's cost), then merge while the balance allows.
    bands: list[list[Decimal]] = []  # [quantity, limit price]
    left = quantity
    for level in plan.levels:
        if left <= 0:
            break
        take = min(left, level.size)
        bands.append([take, snap_away(level.price, side, ins.tick_size)])
        left -= take
    if left > 0 and bands:
        bands[-1][0] += left  # the deepest band takes what the book showed no level for
    slack = plan.capacity - sum((q * p * fee for q, p in bands), ZERO)
    merged: list[list[Decimal]] = []
    for q, p in bands:
        if merged:
            extra = merged[-1][0] * (p - merged[-1][1]) * fee
            if extra <= 0 or extra <= slack:  # one price on the tick is one band
                slack -= extra
                merged[-1] = [merged[-1][0] + q, p]
                continue
        merged.append([q, p])
    # Too many bands for the venue: keep the best ones (what is left goes to the re-route).
    merged = merged[:max_children]
    children = []
    spend = ZERO
    for q, p in merged:
        q = floor_to(q, ins.lot_size)
        if q <= 0:
            continue
        if spend + q * p * fee > plan.capacity:
            q = floor_to((plan.capacity - spend) / (p * fee), ins.lot_size)
            if q <= 0:
                break
        spend += q * p * fee
        children.append(Child(ins.venue, q, p))
    return children
