"""``optimal_quotes``: work a parent with limit quotes placed after Guéant, Lehalle and
Fernandez-Tapia (2012), re-quoted on fills and at every time step.

The parent is ``Q = quantity / lot_quantity`` lots (a whole number, at most 300). One lot rests
at a time, at ``mid + delta*(t, q)`` for a sell and ``mid - delta*(t, q)`` for a buy, where ``q``
is the lots still to trade and ``delta*`` comes from ``tradenode_algos.glft`` on a grid of
``steps`` intervals over ``duration_s``. Units are the order's: prices in its quote currency,
time in seconds (``sigma`` per √second, ``A`` per second, ``k`` and ``gamma`` per unit of
price, ``b`` in price per lot). A quote never crosses the book: where ``delta*`` is negative
(the model wants to trade now) it rests at the best price inside the spread. At the horizon
what is left is swept within ``max_slippage_bps`` of the arrival mid (``complete_at_end``), or
reported.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import msgspec

from node.algo import ExecutorServices
from node.legs import ceil_to, floor_to
from node.messages import SliceCompleted, SubmitParentOrder
from tradenode_algos.base import AlgoExecutor, check_positive_seconds, check_slippage, to_ns

if TYPE_CHECKING:
    from tradenode_algos.glft import QuoteGrid, QuoteModel

#: the bounds of ``tradenode_algos.glft`` (imported with numpy only when a parent starts)
MAX_INVENTORY = 300
MAX_STEPS = 10_000

_STEP = "quotes.step"
_END = "quotes.end"


class OptimalQuoteParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    sigma: float
    A: float
    k: float
    gamma: float
    duration_s: float
    lot_quantity: Decimal
    b: float = 0.0
    steps: int = 100
    complete_at_end: bool = True
    max_slippage_bps: Decimal = Decimal(50)

    def __post_init__(self) -> None:
        check_positive_seconds(self.duration_s, "duration_s")
        self.model(1)  # the model's own checks, naming the parameter
        if not (self.lot_quantity.is_finite() and self.lot_quantity > 0):
            raise ValueError(f"lot_quantity must be > 0, got {self.lot_quantity}")
        if not 1 <= self.steps <= MAX_STEPS:
            raise ValueError(f"steps must be in [1, {MAX_STEPS}], got {self.steps}")
        check_slippage(self.max_slippage_bps)

    def model(self, inventory: int) -> QuoteModel:
        from tradenode_algos.glft import QuoteModel

        return QuoteModel(
            sigma=self.sigma,
            A=self.A,
            k=self.k,
            gamma=self.gamma,
            b=self.b,
            horizon=self.duration_s,
            inventory=inventory,
        )


@lru_cache(maxsize=16)
def _grid(params: OptimalQuoteParams, inventory: int) -> QuoteGrid:
    from tradenode_algos.glft import optimal_quotes

    return optimal_quotes(params.model(inventory), params.steps)


class OptimalQuoteExecutor(AlgoExecutor):
    """One lot at a time at the model's distance from the mid; see the module docstring."""

    params: OptimalQuoteParams

    def __init__(
        self, order: SubmitParentOrder, params: OptimalQuoteParams, services: ExecutorServices
    ) -> None:
        lots = order.quantity / params.lot_quantity
        if lots != lots.to_integral_value() or not 1 <= lots <= MAX_INVENTORY:
            raise ValueError(
                f"quantity {order.quantity} must be a whole number of lot_quantity "
                f"{params.lot_quantity}, from 1 to {MAX_INVENTORY} lots (got {lots})"
            )
        super().__init__(order, params, services)
        self.lots = int(lots)
        self.grid: QuoteGrid | None = None
        self.ended = False

    @property
    def step_ns(self) -> int:
        return to_ns(self.params.duration_s) // self.params.steps

    def on_begin(self) -> None:
        self.grid = _grid(self.params, self.lots)
        now = self.ctx.now()
        end = self.started_ts + to_ns(self.params.duration_s)
        for j in range(1, self.params.steps):
            due = self.started_ts + j * self.step_ns
            if due > now:
                self.after(due - now, _STEP, j)
        self.after(end - now, _END)
        posts = self.open_post_slices()
        for slice_id in posts:  # after a restart: quote afresh
            self.cancel_slice(slice_id, "resuming after a restart")
        if not posts:
            self._requote()

    def lots_left(self) -> int:
        return int((self.remaining / self.params.lot_quantity).to_integral_value(ROUND_CEILING))

    def quote(self) -> tuple[Decimal, Decimal] | None:
        """(price, quantity) of the quote the model wants now, or None without a market."""
        assert self.grid is not None
        q = self.lots_left()
        mid, tick = self.mid(), self.tick_size()
        if q <= 0 or mid is None or not tick:
            return None
        j = min(max(0, (self.ctx.now() - self.started_ts) // self.step_ns), self.params.steps)
        delta = Decimal(repr(float(self.grid.delta[j, q - 1])))
        if self.order.side == "sell":
            price = ceil_to(mid + delta, tick)
        else:
            price = floor_to(mid - delta, tick)
        bid, ask = self.best_prices()  # a quote rests: at most one tick inside the other side
        if self.order.side == "sell" and bid is not None:
            price = max(price, bid + tick)
        elif self.order.side == "buy" and ask is not None:
            price = min(price, ask - tick)
        if price <= 0:
            return None
        current_lot = self.remaining - (q - 1) * self.params.lot_quantity
        return self.within_limit(price), current_lot

    def _requote(self) -> None:
        if self.ended or self.finished:
            return
        if self.remaining <= 0:
            if not self.open_slices():
                self.finish("")
            return
        wanted = self.quote()
        posts = [self.slices[i] for i in self.open_post_slices()]
        if posts:
            if wanted is None or any(s.limit_price != wanted[0] for s in posts):
                for state in posts:
                    self.cancel_slice(state.slice_id, "re-quoting")
            return
        if wanted is not None:
            price, quantity = wanted
            self.route(quantity, "post", price)
        self.progress()

    def on_algo_timer(self, name: str, payload: Any) -> None:
        if name == _STEP:
            self._requote()
        elif name == _END:
            self.ended = True
            p = self.params
            if p.complete_at_end:
                self.complete_now(self.arrival_mid, p.max_slippage_bps, "at the horizon")
            else:
                left = self.remaining
                self.finish(f"{left} left at the horizon ({p.duration_s:g} s)" if left else "")

    def slice_done(self, done: SliceCompleted) -> None:
        if done.status == "failed":
            return  # the next step quotes again
        if not self.open_slices():
            self._requote()
