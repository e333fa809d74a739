"""Optimal limit quotes for liquidating an inventory, after Guéant, Lehalle & Fernandez-Tapia.

"Optimal Portfolio Liquidation with Limit Orders", SIAM J. Financial Math. 3 (2012). A trader
sells ``Q`` lots before ``T`` with ask quotes at ``delta`` above a mid of volatility ``sigma``;
a quote is hit with intensity ``A·exp(-k·delta)``; the trader has CARA risk aversion ``gamma``
and pays ``b`` per lot left at ``T``. With ``alpha = k/2·gamma·sigma²`` and
``eta = A·(1 + gamma/k)^-(1 + k/gamma)``, ``w`` solves ``w_q' = alpha·q²·w_q - eta·w_{q-1}``,
``w_0 = 1``, ``w_q(T) = exp(-k·q·b)``, and the optimal quote is
``delta*(t, q) = ln(w_q(t)/w_{q-1}(t))/k + ln(1 + gamma/k)/gamma``.

How it is computed. With ``tau = T - t`` the system reads ``w(t) = expm(G·tau)·w(T)`` where
``G = -M`` has diagonal ``-alpha·q²`` and sub-diagonal ``+eta``: an essentially non-negative
(Metzler) matrix, so ``expm(G·tau)`` is entrywise non-negative and every ``w_q`` is a sum of
positive terms. The trouble is scale, not sign: for ``Q`` near 100 the entries and the ``w_q``
span hundreds of orders of magnitude (``w_q(∞) = (eta/alpha)^q/(q!)²``), so a plain ``expm``
loses the small ones, which are exactly the ones the quotes of large inventories depend on.
We therefore hold logarithms throughout and sum only non-negative terms, so nothing cancels:
the propagator of one grid step is ``e^{-s·h0}·Σ (N·h0)^j/j!`` with ``N = G + s·I ≥ 0``
(``s = alpha·Q²``) on a tiny step ``h0`` (a Taylor sum of non-negative matrices), squared up to
the grid step in log space (log-sum-exp products), then applied step by step from ``T`` back
to 0. Every entry keeps its relative accuracy whatever its size: the grid agrees with scipy's
``expm`` to ~1e-12 where that is reliable (small ``Q``), and with a Radau integration of the ODE
in ``ln w`` at Q = 100 to the integrator's own ~1e-9. Cost: ``O(Q³·log2(rho·h))`` once, with
``rho = alpha·Q² + eta`` and ``h = T/steps``, plus ``O(Q²)`` per step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

#: Inventories above this make the ``Q³`` squaring slow for an interactive tool.
MAX_INVENTORY = 300
#: Grid sizes above this are a typing mistake rather than a need (the output is per step).
MAX_STEPS = 10_000
#: The tiny step's ``||N·h0||`` bound: Taylor terms then shrink at least like ``0.5^j/j!``.
_TAYLOR_NORM = 0.5
#: A Taylor term is dropped once it is below ``e^-40`` (≈ 4e-18) of its entry's partial sum.
_TAYLOR_TOL = -40.0
#: Memory bound for one block of a log-space matrix product, in float64 elements.
_BLOCK_ELEMENTS = 2_000_000
_NUMBER = (int, float, np.integer, np.floating)


def _positive_finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, _NUMBER):
        raise ValueError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class QuoteModel:
    """The model's parameters, in consistent units (e.g. price in ticks, time in seconds).

    ``sigma`` is the mid's volatility (price/√time), ``A`` (1/time) and ``k`` (1/price) shape the
    fill intensity ``A·exp(-k·delta)``, ``gamma`` (1/price) is the risk aversion, ``b`` (price)
    the penalty per lot still held at ``horizon`` (time), ``inventory`` the lots to sell. ``b``
    may be 0 (no penalty: the leftover is simply marked at the mid), never negative: a reward
    for not selling has no meaning in a liquidation. Everything else must be finite and > 0.
    """

    sigma: float
    A: float
    k: float
    gamma: float
    b: float
    horizon: float
    inventory: int

    def __post_init__(self) -> None:
        for name in ("sigma", "A", "k", "gamma", "horizon"):
            object.__setattr__(self, name, _positive_finite(name, getattr(self, name)))
        b = self.b
        if isinstance(b, bool) or not isinstance(b, _NUMBER):
            raise ValueError(f"b must be a number, got {b!r}")
        if not math.isfinite(b) or b < 0:
            raise ValueError(f"b must be finite and >= 0, got {b!r}")
        object.__setattr__(self, "b", float(b))
        q = self.inventory
        if isinstance(q, bool) or not isinstance(q, int | np.integer) or q < 1:
            raise ValueError(f"inventory must be a positive integer, got {q!r}")
        if q > MAX_INVENTORY:
            raise ValueError(f"inventory must be at most {MAX_INVENTORY}, got {q!r}")
        object.__setattr__(self, "inventory", int(q))
        if not (self.alpha > 0 and math.isfinite(self.alpha)):
            raise ValueError(
                f"sigma, k and gamma give alpha = k/2·gamma·sigma² = {self.alpha!r}; "
                "it must be finite and > 0 (rescale the units)"
            )
        if not (math.isfinite(self.log_eta) and math.isfinite(self.eta) and self.eta > 0):
            raise ValueError(
                f"A, k and gamma give eta = {self.eta!r}; it must be finite and > 0 "
                "(rescale the units)"
            )

    @property
    def alpha(self) -> float:
        """``k/2·gamma·sigma²``: the price-risk weight of holding ``q²``."""
        return self.k / 2 * self.gamma * self.sigma**2

    @property
    def log_eta(self) -> float:
        """``ln(eta)``, computed without forming ``(1 + gamma/k)^-(1 + k/gamma)``."""
        return math.log(self.A) - (1 + self.k / self.gamma) * math.log1p(self.gamma / self.k)

    @property
    def eta(self) -> float:
        """``A·(1 + gamma/k)^-(1 + k/gamma)``: the effective fill rate of an optimal quote."""
        return math.exp(self.log_eta)

    @property
    def risk_premium(self) -> float:
        """``ln(1 + gamma/k)/gamma``: the constant part of every optimal quote."""
        return math.log1p(self.gamma / self.k) / self.gamma


@dataclass(frozen=True, slots=True)
class QuoteGrid:
    """Optimal quote distances on a time × inventory grid.

    ``delta[i, q - 1]`` is the distance from the mid of the ask for inventory ``q`` at
    ``times[i]``; ``inventory`` holds ``1..Q``. Arrays are read-only.
    """

    model: QuoteModel
    times: NDArray[np.float64]
    inventory: NDArray[np.int64]
    delta: NDArray[np.float64] = field(repr=False)


def _log_sum(terms: NDArray[np.float64], axis: int) -> NDArray[np.float64]:
    """``log(exp(terms).sum(axis))`` without overflow or underflow; ``-inf`` stands for 0."""
    peak = terms.max(axis=axis, keepdims=True)
    shift = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        total = np.log(np.exp(terms - shift).sum(axis=axis, keepdims=True)) + shift
    return total.squeeze(axis)


def _log_square_lower(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """``log(exp(a) @ exp(a))`` for a lower-triangular ``exp(a)``, by blocks of rows.

    Row ``i`` of the product involves only columns and inner indices ``≤ i``, which cuts the
    work to about a third of a full product.
    """
    n = a.shape[0]
    out = np.full((n, n), -np.inf)
    rows = max(1, _BLOCK_ELEMENTS // (n * n))
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        out[start:stop, :stop] = _log_sum(a[start:stop, :stop, None] + a[None, :stop, :stop], 1)
    return out


def _log_propagator(model: QuoteModel, step: float) -> NDArray[np.float64]:
    """``log expm(G·step)`` entrywise (``-inf`` above the diagonal), ``G`` as in the module doc."""
    size = model.inventory + 1
    rates = model.alpha * np.arange(size, dtype=np.float64) ** 2
    shift = rates[-1]
    rho = shift + model.eta
    squarings = max(0, math.ceil(math.log2(rho * step / _TAYLOR_NORM)))
    h0 = step / 2.0**squarings
    with np.errstate(divide="ignore"):
        log_diag = np.log(shift - rates) + math.log(h0)  # N·h0 diagonal, ≥ 0 (0 at q = Q)
    log_sub = model.log_eta + math.log(h0)  # N·h0 sub-diagonal
    term = np.full((size, size), -np.inf)
    np.fill_diagonal(term, 0.0)
    total = term.copy()
    lower = np.tril_indices(size)
    j = 0
    while True:
        j += 1
        # (term @ N·h0)[i, c] = term[i, c]·N[c, c] + term[i, c + 1]·N[c + 1, c]
        shifted = np.full((size, size), -np.inf)
        shifted[:, :-1] = term[:, 1:] + log_sub
        term = np.logaddexp(term + log_diag[None, :], shifted) - math.log(j)
        total = np.logaddexp(total, term)
        if j >= size and np.max(term[lower] - total[lower]) < _TAYLOR_TOL:
            break
    log_p = total - shift * h0
    for _ in range(squarings):
        log_p = _log_square_lower(log_p)
    return log_p


def optimal_quotes(model: QuoteModel, steps: int = 100) -> QuoteGrid:
    """The optimal quotes at ``steps + 1`` evenly spaced times ``0..T`` for inventories ``1..Q``."""
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if steps > MAX_STEPS:
        raise ValueError(f"steps must be at most {MAX_STEPS}, got {steps!r}")
    steps = int(steps)
    q = np.arange(model.inventory + 1, dtype=np.float64)
    log_w = np.empty((steps + 1, model.inventory + 1))
    log_w[steps] = -model.k * model.b * q
    log_p = _log_propagator(model, model.horizon / steps)
    for i in range(steps - 1, -1, -1):
        log_w[i] = _log_sum(log_p + log_w[i + 1][None, :], 1)
    delta = np.diff(log_w, axis=1) / model.k + model.risk_premium
    times = np.linspace(0.0, model.horizon, steps + 1)
    inventory = np.arange(1, model.inventory + 1, dtype=np.int64)
    for array in (times, inventory, delta):
        array.setflags(write=False)
    return QuoteGrid(model=model, times=times, inventory=inventory, delta=delta)


def asymptotic_quotes(model: QuoteModel) -> NDArray[np.float64]:
    """The ``T → ∞`` limit per inventory ``1..Q``: ``ln(eta/(alpha·q²))/k + ln(1+gamma/k)/gamma``.

    It does not depend on ``b``: far from the horizon the penalty no longer matters.
    """
    q = np.arange(1, model.inventory + 1, dtype=np.float64)
    log_ratio = model.log_eta - math.log(model.alpha) - 2 * np.log(q)
    return log_ratio / model.k + model.risk_premium
