"""A slicing schedule: when each slice of a parent order starts, and how much should be filled
by the end of it.

Built from the parent's start time, duration, quantity, lot and the slices' relative weights
(equal for TWAP, the volume profile's for VWAP), with optional randomisation of sizes and
times drawn from a seeded generator: the same inputs always give the same schedule, so an
executor rebuilt after a restart derives exactly the schedule it was following.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from fractions import Fraction

ZERO = Decimal(0)


@dataclass(frozen=True)
class Schedule:
    """``edges[i]``..``edges[i + 1]`` is slice ``i`` (absolute ns); ``cumulative[i + 1]`` is
    what should be filled by the end of it (``cumulative[0]`` is 0, the last the quantity)."""

    edges: tuple[int, ...]
    cumulative: tuple[Decimal, ...]

    @property
    def slices(self) -> int:
        return len(self.edges) - 1

    @property
    def start(self) -> int:
        return self.edges[0]

    @property
    def end(self) -> int:
        return self.edges[-1]

    def slice_at(self, ts: int) -> int:
        """The slice ``ts`` falls in: -1 before the start, ``slices`` at or after the end."""
        if ts < self.edges[0]:
            return -1
        return min(bisect.bisect_right(self.edges, ts) - 1, self.slices)

    def target(self, i: int) -> Decimal:
        """What should be filled by the end of slice ``i``."""
        return self.cumulative[min(max(i, -1), self.slices - 1) + 1]

    def scheduled_at(self, ts: int, lot: Decimal | None = None) -> Decimal:
        """What the schedule wants filled by ``ts``: linear within a slice, floored to ``lot``."""
        i = self.slice_at(ts)
        if i < 0:
            return ZERO
        if i >= self.slices:
            return self.cumulative[-1]
        a, b = self.edges[i], self.edges[i + 1]
        low, high = self.cumulative[i], self.cumulative[i + 1]
        value = low + (high - low) * Decimal(ts - a) / Decimal(b - a)
        if lot:
            value = (value / lot).to_integral_value(ROUND_DOWN) * lot
        return max(low, value)


def build_schedule(
    start_ns: int,
    duration_ns: int,
    quantity: Decimal,
    weights: Sequence[float],
    *,
    lot: Decimal | None = None,
    randomize: float = 0.0,
    seed: int = 0,
) -> Schedule:
    """Slices of ``quantity`` over ``[start_ns, start_ns + duration_ns)`` in proportion to
    ``weights``.

    ``randomize`` (0..1) scales two independent draws: each slice's weight by a factor in
    ``[1 - randomize, 1 + randomize]``, and each inner slice boundary by up to ``0.4 ×
    randomize`` of an interval either way (boundaries stay in order). Cumulative targets are floored
    to ``lot``, and the last is the whole quantity.
    """
    count = len(weights)
    if count < 1:
        raise ValueError("a schedule needs at least one slice")
    if duration_ns < count:
        raise ValueError(f"{count} slices do not fit in {duration_ns} ns")
    if not 0 <= randomize <= 1:
        raise ValueError(f"randomize must be in [0, 1], got {randomize}")
    rng = random.Random(seed)
    sizes = [w * (1 + randomize * rng.uniform(-1, 1)) for w in weights]
    jitter = [randomize * rng.uniform(-0.4, 0.4) for _ in range(count - 1)]
    total = sum(sizes)
    if not total > 0:
        raise ValueError("the slices' weights add up to nothing")
    interval = duration_ns / count
    edges = [start_ns]
    for i in range(1, count):
        edges.append(start_ns + round((i + jitter[i - 1]) * interval))
    edges.append(start_ns + duration_ns)
    cumulative = [ZERO]
    exact_total = Fraction(total)
    running = Fraction(0)
    step = Fraction(lot) if lot else None
    for size in sizes[:-1]:
        running += Fraction(size)
        share = Fraction(quantity) * running / exact_total  # exact: 3 × 1/3 is 1, not 0.99…
        if step:
            value = math.floor(share / step) * lot
        else:
            value = Decimal(share.numerator) / Decimal(share.denominator)
        cumulative.append(min(max(value, cumulative[-1]), quantity))
    cumulative.append(quantity)
    return Schedule(tuple(edges), tuple(cumulative))
