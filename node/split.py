"""The numeric kernel of the smart order router: split one parent order across venues.

Pure functions on float64 numpy arrays (no ``Decimal`` inside): the router converts books and
instruments to :class:`VenueQuote` once per book update and turns the :class:`Split` back into
child orders (one IOC per venue, limit = :attr:`VenueAllocation.worst_price`).

The problem
-----------
Each venue ``v`` offers levels ``i`` (best first) with raw price ``p_i``, size ``s_i`` and a taker
fee ``f_v`` charged in quote currency on notional. A buy of ``q_i`` at level ``i`` costs
``p_i q_i (1 + f_v)``; a sell nets ``p_i q_i (1 - f_v)``. For a buy of ``Q``::

    minimise    sum_i p_i (1 + f_v(i)) q_i
    subject to  0 <= q_i <= s_i                               (level size)
                q_i = 0 where p_i > limit                     (limit on the raw price)
                sum_{i in v} p_i (1 + f_v) q_i <= capacity_v  (quote balance, fees included)
                sum_i q_i = min(Q, most that can be filled)

(a sell maximises ``sum p_i (1 - f_v) q_i``, its limit keeps ``p_i >= limit`` and its capacity is
base quantity: ``sum_{i in v} q_i <= capacity_v``).

Why a greedy merge solves it
----------------------------
1. *Each venue takes a prefix of its book.* Within one venue the fee is common, so the levels'
   fee-adjusted prices are in the book's order. If a solution used a worse level while a better
   level of the same venue had room, moving quantity ``d`` from the worse to the better level
   keeps the total, lowers the cost (raises the proceeds) and, for a buy, lowers the venue's
   spend, so the capacity still holds (for a sell the venue's quantity is unchanged). Hence some
   optimum fills each venue's levels in book order.
2. *A capacity is then a cap on the venue's quantity.* Along its prefix a venue's spend (buy) or
   quantity (sell) is a continuous increasing function of its quantity, so ``capacity_v`` is
   the same as ``Q_v <= Qmax_v``: truncate the book where the running spend (quantity) reaches
   the capacity (the last level partly). After truncation, the per-level bounds imply the
   capacity for *any* ``q``, so the capacity rows can be dropped.
3. *What is left is a fractional knapsack.* One equality on ``sum q_i`` with box bounds and a
   linear objective: taking levels in order of fee-adjusted price until the quantity is reached
   is optimal (any solution that leaves a cheaper level unfilled while using a dearer one is
   improved by exchanging the two). Ties between venues may be broken any way; a stable sort
   keeps each venue's own levels in book order, so every venue's fill stays a prefix.

The implementation follows that reasoning, vectorised. Each :class:`VenueQuote` precomputes,
once per book update, what depends on its book alone: the fee-adjusted prices (the sort keys),
the capacity cut of step 2 (levels past it get an infinite key), and the running size and
notional before each level (per venue, so rounding never mixes one venue's totals into
another's). A split then concatenates the venues' keys and available sizes, masks the levels
beyond the limit price, does one stable ``argsort`` of the keys, one ``cumsum`` of the sizes
in that order and a ``searchsorted`` cut-off, and counts the touched levels per venue with
``bincount``: a venue's fill is its running size and notional before its deepest touched
level plus what it takes there. No Python loop runs over levels; one short loop over the
venues reads those per-venue figures. On deep books (more than 1024 levels in all) the levels
that cannot be reached are left out of the sort first: a venue never takes more than the
order, so a level with at least the whole quantity before it in its own book is never touched.
``tests/node/test_split.py`` checks the cost against ``scipy.optimize.linprog`` on the real
full-depth books, with and without capacities and limits.

Lots and minimums (not an LP any more; the rule here is sound, not optimal)
--------------------------------------------------------------------------
With a venue's ``lot_size``, ``min_quantity`` or ``min_notional`` set, :func:`split_order`:

1. solves the continuous problem above over the *eligible* venues (all, at first);
2. floors each venue's quantity to a whole number of its lots (within 1e-12 relative, so that
   float rounding like 0.7 / 0.1 = 6.999999999999999 does not lose a lot);
3. a venue left with ``0 < quantity < min_quantity`` or ``notional < min_notional`` (raw
   ``price * quantity``, fees excluded, as exchanges check it) is made ineligible and the
   continuous problem is solved again without it (at most one round per venue);
4. the quantity freed by flooring is *topped up*: the eligible venues, in order of the
   fee-adjusted price of the next unit each could still give, are offered the remainder once
   each; a venue takes as much of it as its book and capacity allow, floored to its lot, if
   its new total still meets its minimums;
5. finally the result is compared with :func:`best_single_venue` (under the same lot/minimum
   rules) and the single venue is returned if it fills more, or the same for less: the split is
   never worse than sending the whole order to one venue.

Whatever cannot be placed under these rules is reported in :attr:`Split.unfilled`. Every
venue in the result respects its level sizes, capacity, limit, lot and minimums (the tests
check each on random cases from the real books); it never fills more, nor costs less, than the
continuous optimum.

Numerics: everything is float64. Quantities and notionals carry the usual rounding (about
1e-15 relative); a capacity or the requested quantity may be met to within such rounding (and
a lot multiple to within 1e-12 relative), never exceeded by more.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from node.messages import BookLevel, BookSnapshot

Side = Literal["buy", "sell"]

__all__ = [
    "Side",
    "Split",
    "VenueAllocation",
    "VenueQuote",
    "best_single_venue",
    "split_order",
]

#: A quantity within this fraction of a whole number of lots counts as that number of lots.
_LOT_TOLERANCE = 1e-12
#: A remainder at or below this fraction of the requested quantity is treated as zero.
_REL_EPS = 1e-12


def _readonly_float_array(values: object, venue: str, what: str) -> np.ndarray:
    try:
        arr = np.array(values, dtype=np.float64)  # always a copy: the quote owns its data
    except (TypeError, ValueError) as exc:
        raise ValueError(f"venue {venue!r}: {what} are not numbers: {exc}") from None
    if arr.ndim != 1:
        raise ValueError(f"venue {venue!r}: {what} must be one-dimensional, got shape {arr.shape}")
    arr.flags.writeable = False
    return arr


# What a split needs to know about a quote at a glance, OR-ed over the venues.
_ASCENDING, _DESCENDING, _EMPTY, _DISCRETE = 1, 2, 4, 8


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class VenueQuote:
    """One venue's side of the book that the order would take from, and its trading limits.

    ``prices`` are best first (asks ascending for a buy, bids descending for a sell), ``sizes``
    the base quantity at each price. ``fee`` is the taker fee as a fraction of notional, charged
    in quote currency. ``capacity`` is what the account can use on this venue: for a buy the
    quote currency available to spend *including fees*, for a sell the base quantity available
    to sell. ``lot_size`` is the quantity step (0 = continuous); a venue's allocation is either
    0 or at least ``min_quantity`` and ``min_notional`` (raw price x quantity).

    On construction the arrays are validated (finite, prices > 0, sizes >= 0, monotone) and
    copied into read-only float64 arrays, and the per-venue sums the kernel needs are computed,
    so a quote is meant to be made once per book update and reused. A quote compares by identity
    (``eq=False``). An empty book is allowed (the venue then takes nothing); levels of size 0
    are ignored.
    """

    venue: str
    prices: np.ndarray
    sizes: np.ndarray
    fee: float
    capacity: float = math.inf
    lot_size: float = 0.0
    min_quantity: float = 0.0
    min_notional: float = 0.0
    #: +1 if prices ascend (an ask side), -1 if they descend (a bid side), 0 if flat or empty.
    direction: int = field(init=False, repr=False)
    # Internal: the levels of positive size as rows [key, available, price, size before the
    # level, notional before the level] for a buy (key = price x (1 + fee)) and for a sell
    # (key = -price x (1 - fee)), available = size cut at the capacity, and their first two
    # rows (what the sort needs).
    _buy: np.ndarray = field(init=False, repr=False)
    _sell: np.ndarray = field(init=False, repr=False)
    _buy_sort: np.ndarray = field(init=False, repr=False)
    _sell_sort: np.ndarray = field(init=False, repr=False)
    _depth: int = field(init=False, repr=False)
    _flags: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        name = self.venue
        prices = _readonly_float_array(self.prices, name, "prices")
        sizes = _readonly_float_array(self.sizes, name, "sizes")
        if prices.shape != sizes.shape:
            raise ValueError(
                f"venue {name!r}: {prices.size} prices but {sizes.size} sizes; need one size each"
            )
        if not np.isfinite(prices).all() or not (prices > 0).all():
            raise ValueError(f"venue {name!r}: prices must be finite and positive (NaN/inf/<=0)")
        if not np.isfinite(sizes).all() or not (sizes >= 0).all():
            raise ValueError(f"venue {name!r}: sizes must be finite and >= 0 (NaN/inf/negative)")
        step = np.diff(prices)
        if (step >= 0).all():
            direction = 1 if (step > 0).any() else 0
        elif (step <= 0).all():
            direction = -1
        else:
            raise ValueError(f"venue {name!r}: prices are not sorted best first (not monotone)")
        try:
            fee = float(self.fee)
            capacity = float(self.capacity)
            lot, min_quantity, min_notional = (
                float(self.lot_size),
                float(self.min_quantity),
                float(self.min_notional),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"venue {name!r}: fee and limits must be numbers: {exc}") from None
        if not 0.0 <= fee < 1.0:
            raise ValueError(f"venue {name!r}: fee {self.fee!r} must be a fraction in [0, 1)")
        if not capacity >= 0.0:  # also refuses NaN
            raise ValueError(f"venue {name!r}: capacity {self.capacity!r} must be >= 0 (or inf)")
        for what, value in (
            ("lot_size", lot),
            ("min_quantity", min_quantity),
            ("min_notional", min_notional),
        ):
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"venue {name!r}: {what} {value!r} must be finite and >= 0")
        kept = sizes > 0
        p, s = (prices, sizes) if kept.all() else (prices[kept], sizes[kept])
        eff_buy = p * (1.0 + fee)
        eff_sell = p * (1.0 - fee)
        notional = p * s
        size_before = np.cumsum(s) - s
        notional_before = np.cumsum(notional) - notional
        # The capacity depends on this venue alone, so its cut (see the module docstring) is
        # made here, once: a buy's running spend, a sell's running quantity, reaches it.
        if capacity < math.inf:
            spend = eff_buy * s
            spend_before = np.cumsum(spend) - spend
            buy_avail = np.minimum(s, np.maximum((capacity - spend_before) / eff_buy, 0.0))
            sell_avail = np.minimum(s, np.maximum(capacity - size_before, 0.0))
            # Levels past the cut get an infinite key: they sort last and are never touched.
            buy_key = np.where(buy_avail > 0, eff_buy, math.inf)
            sell_key = np.where(sell_avail > 0, -eff_sell, math.inf)
        else:
            buy_avail = sell_avail = s
            buy_key, sell_key = eff_buy, -eff_sell
        setattr_ = object.__setattr__
        setattr_(self, "prices", prices)
        setattr_(self, "sizes", sizes)
        setattr_(self, "fee", fee)
        setattr_(self, "capacity", capacity)
        setattr_(self, "lot_size", lot)
        setattr_(self, "min_quantity", min_quantity)
        setattr_(self, "min_notional", min_notional)
        setattr_(self, "direction", direction)
        buy_rows = _readonly(np.stack([buy_key, buy_avail, p, size_before, notional_before]))
        sell_rows = _readonly(np.stack([sell_key, sell_avail, p, size_before, notional_before]))
        setattr_(self, "_buy", buy_rows)
        setattr_(self, "_sell", sell_rows)
        setattr_(self, "_buy_sort", buy_rows[:2])
        setattr_(self, "_sell_sort", sell_rows[:2])
        setattr_(self, "_depth", int(p.size))
        setattr_(
            self,
            "_flags",
            (_ASCENDING if direction > 0 else _DESCENDING if direction < 0 else 0)
            | (0 if p.size else _EMPTY)
            | (_DISCRETE if lot or min_quantity or min_notional else 0),
        )

    @classmethod
    def from_levels(
        cls, venue: str, levels: Sequence[BookLevel], fee: float, **limits: float
    ) -> VenueQuote:
        """A quote from ``BookLevel`` s (``Decimal`` price and size), best first."""
        prices = np.fromiter((float(lv.price) for lv in levels), np.float64, len(levels))
        sizes = np.fromiter((float(lv.size) for lv in levels), np.float64, len(levels))
        return cls(venue, prices, sizes, fee, **limits)

    @classmethod
    def from_book(cls, book: BookSnapshot, side: Side, fee: float, **limits: float) -> VenueQuote:
        """The side of ``book`` an order of ``side`` takes from: asks for a buy, bids for a sell."""
        if side not in ("buy", "sell"):
            raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
        levels = book.asks if side == "buy" else book.bids
        return cls.from_levels(book.venue, levels, fee, **limits)


@dataclass(frozen=True)
class VenueAllocation:
    """One venue's share: ``quantity`` over the book down to ``worst_price``.

    ``worst_price`` is the price of the deepest level touched, i.e. the limit of the IOC child
    order. ``notional`` is raw ``sum(price x quantity)``; ``fee`` is ``notional x taker fee``.
    """

    venue: str
    quantity: float
    worst_price: float
    notional: float
    fee: float

    @property
    def average_price(self) -> float:
        """Raw volume-weighted price, fees excluded."""
        return self.notional / self.quantity


@dataclass(frozen=True)
class Split:
    """How a parent order is split. ``allocations`` lists only venues that get quantity.

    ``cost`` is what the order costs for a buy (notional + fees) and what it nets for a sell
    (proceeds - fees). ``unfilled`` is the part of ``requested`` that the books, capacities,
    limit, lots and minimums leave unplaced.
    """

    side: Side
    requested: float
    allocations: tuple[VenueAllocation, ...]
    filled: float
    cost: float
    unfilled: float

    @property
    def average_price(self) -> float | None:
        """Price per unit net of fees (``cost / filled``); ``None`` when nothing is filled."""
        return self.cost / self.filled if self.filled > 0 else None


# --------------------------------------------------------------------------------------------
# Internals. The venues' levels (of positive size) are laid end to end in one flat array,
# venue after venue, each best first; ``starts`` marks where each venue begins.


class _Problem:
    """The validated inputs of one split, as flat per-level arrays."""

    __slots__ = (
        "_rows",
        "avail",
        "buy",
        "cut",
        "discrete",
        "key",
        "lens",
        "live",
        "quantity",
        "side",
    )

    def __init__(
        self,
        side: Side,
        quantity: float,
        venues: Sequence[VenueQuote],
        limit_price: float | None,
    ) -> None:
        if side == "buy":
            buy = True
        elif side == "sell":
            buy = False
        else:
            raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
        if type(quantity) is not float:
            if isinstance(quantity, (str, bytes)):
                raise ValueError(f"quantity must be a number, got {quantity!r}")
            try:
                quantity = float(quantity)
            except (TypeError, ValueError):
                raise ValueError(f"quantity must be a number, got {quantity!r}") from None
        if not 0.0 < quantity < math.inf:
            raise ValueError(f"quantity must be finite and > 0, got {quantity!r}")
        if limit_price is not None:
            if isinstance(limit_price, (str, bytes)):
                raise ValueError(f"limit_price must be a number, got {limit_price!r}")
            try:
                limit_price = float(limit_price)
            except (TypeError, ValueError):
                raise ValueError(f"limit_price must be a number, got {limit_price!r}") from None
            if not 0.0 < limit_price < math.inf:
                raise ValueError(f"limit_price must be finite and > 0, got {limit_price!r}")
        if not venues:
            raise ValueError("no venues to route to")
        flags = 0
        lens = []
        try:
            for v in venues:
                flags |= v._flags
                lens.append(v._depth)
        except AttributeError:
            raise ValueError("venues must all be VenueQuote") from None
        if flags & (_DESCENDING if buy else _ASCENDING):
            v = next(v for v in venues if v.direction == (-1 if buy else 1))
            raise ValueError(
                f"venue {v.venue!r}: a {side} takes from the {'asks' if buy else 'bids'} "
                f"(prices {'ascending' if buy else 'descending'}), but its prices "
                f"{'descend' if buy else 'ascend'}"
            )
        if flags & _EMPTY:
            live = [v for v in venues if v._depth]
            if not live:
                raise ValueError("every venue's book is empty: nothing to route to")
            lens = [v._depth for v in live]
        else:
            live = venues
        self.side = side
        self.buy = buy
        self.quantity = quantity
        self.live = live
        self.lens = lens
        self._rows = None
        if len(live) == 1:
            sort = live[0]._buy_sort if buy else live[0]._sell_sort
        else:
            sort = np.concatenate(
                [v._buy_sort for v in live] if buy else [v._sell_sort for v in live], 1
            )
        key = sort[0]
        avail = sort[1]
        if limit_price is not None:
            prices = self.prices
            avail = np.where(prices <= limit_price if buy else prices >= limit_price, avail, 0.0)
            key = np.where(avail > 0, key, math.inf)  # cut levels sort last, never touched
        self.avail = avail
        self.key = key
        self.discrete = bool(flags & _DISCRETE)
        self.cut = limit_price is not None  # avail differs from the quotes' rows

    @property
    def rows(self) -> np.ndarray:
        """All venues' rows [key, size, price, size before, notional before], end to end."""
        if self._rows is None:
            live = self.live
            if len(live) == 1:
                self._rows = live[0]._buy if self.buy else live[0]._sell
            else:
                rows = [v._buy for v in live] if self.buy else [v._sell for v in live]
                self._rows = np.concatenate(rows, 1)
        return self._rows

    @property
    def prices(self) -> np.ndarray:
        return self.rows[2]

    @property
    def size_before(self) -> np.ndarray:
        return self.rows[3]

    @property
    def starts(self) -> list[int]:
        return list(itertools.accumulate(self.lens[:-1], initial=0))

    def per_venue(self, values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values, self.starts)

    def per_level(self, values: np.ndarray) -> np.ndarray:
        return np.repeat(values, self.lens)


#: Books with more levels than this are pruned before sorting (see _continuous).
_PRUNE_ABOVE = 1024
#: How many of the best-ranked levels _continuous sums before it sums them all.
_HEAD = 64


def _continuous(problem: _Problem) -> tuple[list[int], list[float], list[float], list[float]]:
    """The LP optimum: the venues that get quantity, their quantity, notional and worst price."""
    key, avail = problem.key, problem.avail
    quantity = problem.quantity
    kept = None
    if key.size > _PRUNE_ABOVE:
        # A venue never takes more than the order, so a level whose venue already shows the
        # whole quantity before it is never touched: leave it out of the sort.
        kept = (problem.size_before < quantity).nonzero()[0]
        if kept.size * 2 < key.size:
            key = key[kept]
            avail = avail[kept]
        else:
            kept = None
    order = key.argsort(kind="stable")
    # Orders usually reach a few dozen levels: sum the best ranks first, all only if needed.
    ranked = avail[order[:_HEAD]]
    total = np.add.accumulate(ranked)
    if total.item(-1) < quantity and order.size > _HEAD:
        ranked = avail[order]
        total = np.add.accumulate(ranked)
    target = min(quantity, total.item(-1))
    if not target > 0:
        return [], [], [], []
    touched = int(total.searchsorted(target)) + 1  # levels in the fill, by rank
    if touched > ranked.size:
        touched = ranked.size
    # Every touched level is taken whole except the last one, which takes the rest.
    rest = target - total.item(touched - 2) if touched > 1 else target
    rest = min(rest, ranked.item(touched - 1))
    where = order[:touched] if kept is None else kept[order[:touched]]
    last = where.item(-1)
    lens = problem.lens
    n = len(lens)
    if n == 1:
        counts = [touched]
        starts = [0]
    else:
        if lens.count(lens[0]) == n:
            starts = range(0, n * lens[0], lens[0])
            venue = where // lens[0]
        else:
            starts = problem.starts
            venue = np.searchsorted(starts, where, "right") - 1
        counts = np.bincount(venue, minlength=n).tolist()
    # A venue's touched levels are a prefix of its book (stable sort, keys rise along the book),
    # so its fill is everything before its deepest touched level plus what it takes there.
    live = problem.live
    buy = problem.buy
    avail = problem.avail if problem.cut else None
    hit = []
    quantities = []
    notionals = []
    worst = []
    for i in range(n):
        count = counts[i]
        if count:
            v = live[i]
            rows = v._buy if buy else v._sell
            _, available, price, size_before, notional_before = rows[:, count - 1].tolist()
            deepest = starts[i] + count - 1
            if avail is not None:
                available = avail.item(deepest)
            t = rest if deepest == last else available
            hit.append(i)
            quantities.append(size_before + t)
            notionals.append(notional_before + price * t)
            worst.append(price)
    return hit, quantities, notionals, worst


def _greedy(key: np.ndarray, avail: np.ndarray, target: float) -> np.ndarray:
    """Fill ``target`` from the levels in ascending ``key`` order; the per-level quantities."""
    order = key.argsort(kind="stable")
    ranked = avail[order]
    total = np.add.accumulate(ranked)
    k = int(total.searchsorted(target))
    if k < ranked.size:
        rest = target - (float(total[k - 1]) if k else 0.0)
        ranked[k] = min(max(rest, 0.0), float(ranked[k]))
        ranked[k + 1 :] = 0.0
    out = np.empty(ranked.size)
    out[order] = ranked
    return out


def _prefix_fill(problem: _Problem, quantity: np.ndarray) -> np.ndarray:
    """Each venue's quantity laid over its own levels in book order.

    What spills onto a level by float rounding alone (1e-12 of the venue's quantity) is
    dropped, so that the deepest level touched is the one the quantity really reaches.
    """
    per_level = problem.per_level(quantity)
    spill = per_level - problem.size_before
    return np.minimum(problem.avail, np.where(spill > per_level * _REL_EPS, spill, 0.0))


def _floor_lots(quantity: np.ndarray, lot: np.ndarray, most: np.ndarray) -> np.ndarray:
    """``quantity`` rounded down to whole lots (lot 0: unchanged), never above ``most``.

    Both comparisons allow 1e-12 relative, so that e.g. 0.7 / 0.1 = 6.999999999999999 counts
    as 7 lots: a result may exceed ``quantity`` or ``most`` by that much float rounding.
    """
    has_lot = lot > 0
    if not has_lot.any():
        return quantity
    safe_lot = np.where(has_lot, lot, 1.0)
    lots = np.floor(quantity / safe_lot * (1.0 + _LOT_TOLERANCE))
    lots = np.where(lots * safe_lot > most * (1.0 + _LOT_TOLERANCE), lots - 1.0, lots)
    return np.where(has_lot, np.maximum(lots, 0.0) * safe_lot, quantity)


class _Rules:
    """The venues' lots and minimums as arrays."""

    __slots__ = ("lot", "min_notional", "min_quantity")

    def __init__(self, problem: _Problem) -> None:
        live = problem.live
        self.lot = np.array([v.lot_size for v in live])
        self.min_quantity = np.array([v.min_quantity for v in live])
        self.min_notional = np.array([v.min_notional for v in live])

    def met(self, problem: _Problem, quantity: np.ndarray, fill: np.ndarray) -> np.ndarray:
        notional = problem.per_venue(problem.prices * fill)
        return (quantity >= self.min_quantity) & (notional >= self.min_notional)


def _value(problem: _Problem, fill: np.ndarray) -> float:
    """What the fill costs (buy) or minus what it nets (sell): lower is better."""
    return float(np.where(fill > 0, problem.key, 0.0) @ fill)


def _discrete(problem: _Problem) -> tuple[np.ndarray, np.ndarray]:
    """Lots and minimums by the documented rule (floor, drop, re-solve, top up, compare)."""
    rules = _Rules(problem)
    avail, key = problem.avail, problem.key
    n = len(problem.live)
    most = problem.per_venue(avail)
    target = min(problem.quantity, float(most.sum()))
    eligible = np.ones(n, dtype=bool)
    for _ in range(n + 1):
        usable = avail * problem.per_level(eligible)
        fill = _greedy(key, usable, min(target, float(usable.sum())))
        quantity = _floor_lots(problem.per_venue(fill), rules.lot, most)
        fill = _prefix_fill(problem, quantity)
        bad = (quantity > 0) & ~rules.met(problem, quantity, fill)
        if not bad.any():
            break
        eligible &= ~bad
    else:  # each round drops a venue, so this is not reached; stay sound regardless
        quantity = np.where(bad, 0.0, quantity)
        fill = _prefix_fill(problem, quantity)
    # Top up what flooring freed: the eligible venues in order of their next unit's price
    # (fees included), each once, take as many whole lots as the remainder and their book allow.
    remaining = target - float(quantity.sum())
    if remaining > _REL_EPS * problem.quantity:
        starts = problem.starts
        ends = [a + m for a, m in zip(starts, problem.lens, strict=True)]
        residual = avail - fill
        marginal = np.minimum.reduceat(np.where(residual > 0, key, math.inf), starts)
        prices, size_before = problem.prices, problem.size_before
        quantity = quantity.copy()
        fill = fill.copy()
        for i in np.argsort(marginal, kind="stable").tolist():
            if not (eligible[i] and marginal[i] < math.inf):
                continue
            old = float(quantity[i])
            want = np.array([min(old + remaining, float(most[i]))])
            new = float(_floor_lots(want, rules.lot[i : i + 1], most[i : i + 1])[0])
            if not new > old:
                continue
            levels = slice(starts[i], ends[i])
            spill = new - size_before[levels]
            venue_fill = np.minimum(avail[levels], np.where(spill > new * _REL_EPS, spill, 0.0))
            if new < rules.min_quantity[i] or prices[levels] @ venue_fill < rules.min_notional[i]:
                continue
            quantity[i] = new
            fill[levels] = venue_fill
            remaining -= new - old
            if remaining <= _REL_EPS * problem.quantity:
                break
    # Never worse than the best single venue under the same rules.
    single_fill, single_quantity = _single_venue(problem, rules)
    filled, s_filled = float(quantity.sum()), float(single_quantity.sum())
    tol = _REL_EPS * problem.quantity
    if s_filled > filled + tol or (
        s_filled >= filled - tol and _value(problem, single_fill) < _value(problem, fill)
    ):
        return single_fill, single_quantity
    return fill, quantity


def _single_venue(problem: _Problem, rules: _Rules | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-level fill and per-venue quantity of the best single venue (zero elsewhere).

    Each venue alone fills ``min(requested, its depth within limit and capacity)``, floored to
    its lot, or nothing if that misses its minimums. The best is the one that fills the most;
    among those filling the same (to 1e-12 of the request) the cheapest for a buy, the one that
    nets the most for a sell; then the first in the given order.
    """
    most = problem.per_venue(problem.avail)
    quantity = np.minimum(problem.quantity, most)
    if rules is not None:
        quantity = _floor_lots(quantity, rules.lot, most)
        fill = _prefix_fill(problem, quantity)
        quantity = np.where(rules.met(problem, quantity, fill), quantity, 0.0)
    fill = _prefix_fill(problem, quantity)
    if not (quantity > 0).any():
        return fill, quantity
    value = problem.per_venue(np.where(fill > 0, problem.key, 0.0) * fill)
    candidates = quantity >= quantity.max() - _REL_EPS * problem.quantity
    best = int(np.argmin(np.where(candidates, value, math.inf)))
    keep = np.zeros(quantity.size, dtype=bool)
    keep[best] = True
    return fill * problem.per_level(keep), quantity * keep


def _summarise(
    problem: _Problem, fill: np.ndarray, quantity: np.ndarray
) -> tuple[list[int], list[float], list[float], list[float]]:
    """The venues a per-level fill (a prefix per venue) uses, their quantity, notional, worst."""
    starts = problem.starts
    notional = np.add.reduceat(problem.prices * fill, starts)
    deepest = np.array(starts) + np.add.reduceat((fill > 0).astype(np.intp), starts) - 1
    hit = (quantity > 0).nonzero()[0]
    return (
        hit.tolist(),
        quantity[hit].tolist(),
        notional[hit].tolist(),
        problem.prices[deepest[hit]].tolist(),
    )


def _finish(
    problem: _Problem,
    hit: list[int],
    quantity: list[float],
    notional: list[float],
    worst: list[float],
) -> Split:
    live = problem.live
    allocations = []
    total_notional = total_fees = filled = 0.0
    for j in range(len(hit)):
        v = live[hit[j]]
        q = quantity[j]
        x = notional[j]
        fee = x * v.fee
        allocations.append(VenueAllocation(v.venue, q, worst[j], x, fee))
        total_notional += x
        total_fees += fee
        filled += q
    cost = total_notional + total_fees if problem.buy else total_notional - total_fees
    requested = problem.quantity
    unfilled = requested - filled
    if unfilled <= _REL_EPS * requested:
        unfilled = 0.0
    return Split(problem.side, requested, tuple(allocations), filled, cost, unfilled)


# --------------------------------------------------------------------------------------------
# Public API


def split_order(
    side: Side,
    quantity: float,
    venues: Sequence[VenueQuote],
    limit_price: float | None = None,
) -> Split:
    """Split a ``side`` order of ``quantity`` (base) across ``venues`` at least total cost.

    Fills ``min(quantity, what the books can give)`` within each venue's capacity and the raw
    ``limit_price`` (buy: price <= limit; sell: price >= limit), minimising notional + fees for
    a buy and maximising proceeds - fees for a sell. Without lots and minimums the result is the
    LP optimum (see the module docstring); with them it follows the documented rule and respects
    every constraint, without a claim of optimality.

    Raises ``ValueError`` for a bad side, a quantity or limit that is not finite and positive,
    no venues, a quote from the wrong side of the book, or books that are all empty.
    """
    problem = _Problem(side, quantity, venues, limit_price)
    if problem.discrete:
        return _finish(problem, *_summarise(problem, *_discrete(problem)))
    return _finish(problem, *_continuous(problem))


def best_single_venue(
    side: Side,
    quantity: float,
    venues: Sequence[VenueQuote],
    limit_price: float | None = None,
) -> Split:
    """The whole order on the one venue that does it best: the naive router, as a baseline.

    Each venue on its own fills ``min(quantity, its depth within limit and capacity)`` (floored
    to its lot; nothing if that misses its minimums). The venue chosen is the one that fills
    the most; among venues that fill the same (to 1e-12 of the request, e.g. all of it), the one
    with the lowest cost for a buy (notional + fees) or the highest net proceeds for a sell; a
    remaining tie goes to the venue listed first. If no venue can fill anything the split has
    no allocations and everything is unfilled. Same validation as :func:`split_order`.
    """
    problem = _Problem(side, quantity, venues, limit_price)
    rules = _Rules(problem) if problem.discrete else None
    return _finish(problem, *_summarise(problem, *_single_venue(problem, rules)))
