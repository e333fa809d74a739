"""The GLFT quote grid against independent solutions of the same ODE, and the paper's shapes."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from scipy import sparse
from scipy.integrate import solve_ivp
from scipy.linalg import expm
from tradenode_algos import glft
from tradenode_algos.glft import (
    MAX_INVENTORY,
    MAX_STEPS,
    QuoteModel,
    asymptotic_quotes,
    optimal_quotes,
)

# Ticks and seconds, the orders of magnitude of the paper's examples.
PAPER = QuoteModel(sigma=0.3, A=0.1, k=0.3, gamma=0.05, b=3.0, horizon=300.0, inventory=6)
# Volatile enough that eta < alpha: the quotes of q = 1 then depend on b's side of ln(alpha/eta)/k.
VOLATILE = QuoteModel(sigma=3.0, A=0.1, k=0.3, gamma=0.05, b=0.5, horizon=100.0, inventory=5)
CALM = QuoteModel(sigma=1.2, A=0.5, k=0.8, gamma=0.2, b=0.0, horizon=60.0, inventory=8)


def delta_from_log_w(model: QuoteModel, log_w: np.ndarray) -> np.ndarray:
    return np.diff(log_w, axis=1) / model.k + math.log1p(model.gamma / model.k) / model.gamma


def reference_linear(model: QuoteModel, times: np.ndarray) -> np.ndarray:
    """``w' = alpha q² w_q - eta w_{q-1}`` integrated backward from ``T`` by Radau."""
    q = np.arange(1, model.inventory + 1)
    matrix = np.diag(model.alpha * q**2.0)
    matrix[q[1:] - 1, q[:-1] - 1] = -model.eta
    forcing = np.zeros(model.inventory)
    forcing[0] = -model.eta  # the w_0 = 1 term of q = 1
    solution = solve_ivp(
        lambda t, w: matrix @ w + forcing,
        (model.horizon, 0.0),
        np.exp(-model.k * model.b * q),
        method="Radau",
        jac=lambda t, w: matrix,
        t_eval=times[::-1],
        rtol=1e-10,
        atol=1e-300,
    )
    assert solution.success
    w = np.column_stack([np.ones(len(times)), solution.y[:, ::-1].T])
    return delta_from_log_w(model, np.log(w))


def reference_log(model: QuoteModel, times: np.ndarray) -> np.ndarray:
    """The same system for ``u = ln w`` (``u_q' = alpha q² - eta e^{u_{q-1} - u_q}``), by Radau.

    In logs it stays representable where ``w`` itself underflows (large ``Q·k·b``).
    """
    rates = model.alpha * np.arange(1, model.inventory + 1) ** 2.0

    def rhs(t: float, u: np.ndarray) -> np.ndarray:
        return rates - model.eta * np.exp(np.concatenate(([0.0], u[:-1])) - u)

    def jac(t: float, u: np.ndarray) -> sparse.csc_matrix:
        e = model.eta * np.exp(np.concatenate(([0.0], u[:-1])) - u)
        return sparse.diags([e, -e[1:]], [0, -1], format="csc")  # sparse: Radau's LU stays cheap

    solution = solve_ivp(
        rhs,
        (model.horizon, 0.0),
        -model.k * model.b * np.arange(1, model.inventory + 1),
        method="Radau",
        jac=jac,
        t_eval=times[::-1],
        rtol=1e-10,
        atol=1e-12,
    )
    assert solution.success
    log_w = np.column_stack([np.zeros(len(times)), solution.y[:, ::-1].T])
    return delta_from_log_w(model, log_w)


@pytest.mark.parametrize("model", [PAPER, VOLATILE, CALM], ids=["paper", "volatile", "calm"])
def test_agrees_with_an_independent_ode_integration(model: QuoteModel) -> None:
    grid = optimal_quotes(model, 60)
    # rtol is the requirement; atol only matters where a quote crosses zero.
    np.testing.assert_allclose(
        grid.delta, reference_linear(model, grid.times), rtol=1e-8, atol=1e-10
    )


def test_sign_convention_matches_the_matrix_exponential_formula() -> None:
    """``w(t) = expm(-M·(T-t))·w(T)`` with ``M`` = diag(alpha q²), sub-diagonal -eta."""
    model = PAPER
    q = np.arange(model.inventory + 1)
    m = np.diag(model.alpha * q**2.0)
    m[q[1:], q[:-1]] = -model.eta
    w_end = np.exp(-model.k * model.b * q)
    grid = optimal_quotes(model, 12)
    w = np.array([expm(-m * (model.horizon - t)) @ w_end for t in grid.times])
    np.testing.assert_allclose(grid.delta, delta_from_log_w(model, np.log(w)), rtol=1e-11)


def test_large_inventory_where_plain_w_underflows() -> None:
    model = QuoteModel(sigma=0.3, A=0.1, k=0.3, gamma=0.05, b=30.0, horizon=300.0, inventory=100)
    assert np.exp(-model.k * model.b * model.inventory) == 0.0  # w_Q(T) is not a double
    grid = optimal_quotes(model, 30)
    assert grid.delta.shape == (31, 100)
    assert np.isfinite(grid.delta).all()
    np.testing.assert_allclose(grid.delta, reference_log(model, grid.times), rtol=1e-8, atol=1e-10)


def test_long_horizon_converges_to_the_asymptotic_quotes() -> None:
    for b in (0.0, 3.0, 30.0):
        model = replace(PAPER, b=b, horizon=1e5, inventory=100)
        grid = optimal_quotes(model, 10)
        np.testing.assert_allclose(grid.delta[0], asymptotic_quotes(model), rtol=0, atol=1e-9)
    # ... and the limit is the closed form, which does not depend on b.
    q = np.arange(1, 101)
    expected = np.log(PAPER.eta / (PAPER.alpha * q**2)) / PAPER.k + PAPER.risk_premium
    np.testing.assert_allclose(asymptotic_quotes(replace(PAPER, inventory=100)), expected)


def test_a_short_horizon_is_far_from_the_limit() -> None:
    grid = optimal_quotes(PAPER, 10)
    assert np.all(asymptotic_quotes(PAPER) - grid.delta[0] > 1.0)


def test_terminal_quote_is_the_same_for_every_inventory() -> None:
    """At T, ``w_q/w_{q-1} = e^{-kb}``: every quote is ``ln(1 + gamma/k)/gamma - b``."""
    for model in (PAPER, VOLATILE, CALM):
        grid = optimal_quotes(model, 10)
        np.testing.assert_allclose(grid.delta[-1], model.risk_premium - model.b, rtol=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_quotes_tighten_as_inventory_grows(seed: int) -> None:
    """The paper's first comparative static: ``q ↦ delta*(t, q)`` decreases, for every t < T."""
    rng = np.random.default_rng(seed)
    model = QuoteModel(
        sigma=rng.uniform(0.05, 3),
        A=rng.uniform(0.01, 1),
        k=rng.uniform(0.05, 1),
        gamma=rng.uniform(0.005, 0.5),
        b=rng.uniform(0, 5),
        horizon=rng.uniform(10, 1000),
        inventory=int(rng.integers(2, 30)),
    )
    delta = optimal_quotes(model, 50).delta
    assert np.all(np.diff(delta[:-1], axis=1) < 0)


def test_single_lot_quote_moves_toward_its_terminal_value_monotonically() -> None:
    """For q = 1, ``z = ln(w_1/w_0)`` solves a scalar autonomous ODE, so it is monotone in t.

    It falls toward T when ``b > ln(alpha/eta)/k`` (always when eta >= alpha) and rises when
    b is below that: 'quotes fall as T nears' needs b large enough, not small.
    """
    assert PAPER.eta > PAPER.alpha
    assert np.all(np.diff(optimal_quotes(replace(PAPER, b=0.0), 100).delta[:, 0]) < 0)
    critical = math.log(VOLATILE.alpha / VOLATILE.eta) / VOLATILE.k
    assert critical > 0
    below = optimal_quotes(replace(VOLATILE, b=0.5 * critical), 100).delta[:, 0]
    above = optimal_quotes(replace(VOLATILE, b=2 * critical), 100).delta[:, 0]
    assert np.all(np.diff(below) > 0)
    assert np.all(np.diff(above) < 0)


def test_larger_inventories_dip_below_then_return_to_the_terminal_quote() -> None:
    """For q >= 2, ``d delta/dt`` at T is ``alpha(2q - 1)/k > 0``: the quote bottoms out before T.

    So 'delta decreases as t → T' does not hold on the whole interval for q >= 2.
    """
    model = replace(PAPER, inventory=10)
    near_end = replace(model, horizon=1e-3)
    grid = optimal_quotes(near_end, 10)
    slope = (grid.delta[-1] - grid.delta[-2]) / (grid.times[-1] - grid.times[-2])
    q = np.arange(2, 11)
    np.testing.assert_allclose(slope[1:], model.alpha * (2 * q - 1) / model.k, rtol=1e-3)
    expected_q1 = (model.alpha - model.eta * math.exp(model.k * model.b)) / model.k
    assert slope[0] == pytest.approx(expected_q1, rel=1e-3)
    full = optimal_quotes(model, 600)
    lowest = full.times[np.argmin(full.delta, axis=0)]
    assert lowest[0] == model.horizon
    assert np.all(lowest[1:] < model.horizon)


@pytest.mark.parametrize(
    ("name", "direction"), [("sigma", -1), ("A", +1), ("b", -1), ("gamma", -1)]
)
def test_comparative_statics(name: str, direction: int) -> None:
    """More volatility, penalty or risk aversion tighten every quote before T; more flow widens.

    Checked numerically over random parameter sets (before T; at T only b matters).
    """
    rng = np.random.default_rng(7)
    for _ in range(6):
        model = QuoteModel(
            sigma=rng.uniform(0.05, 1),
            A=rng.uniform(0.01, 1),
            k=rng.uniform(0.05, 1),
            gamma=rng.uniform(0.005, 0.5),
            b=rng.uniform(0.1, 5),
            horizon=rng.uniform(10, 1000),
            inventory=int(rng.integers(1, 15)),
        )
        bumped = replace(model, **{name: getattr(model, name) * 1.2})
        change = optimal_quotes(bumped, 40).delta - optimal_quotes(model, 40).delta
        assert np.all(direction * change[:-1] > 0)


POSITIVE = ["sigma", "A", "k", "gamma", "horizon"]


@pytest.mark.parametrize("name", POSITIVE)
@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf, -math.inf])
def test_invalid_parameters_are_named(name: str, bad: float) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must be finite and > 0, got {bad!r}$"):
        replace(PAPER, **{name: bad})


@pytest.mark.parametrize("bad", [-0.5, math.nan, math.inf])
def test_penalty_may_be_zero_but_not_negative_or_infinite(bad: float) -> None:
    assert replace(PAPER, b=0.0).b == 0.0
    with pytest.raises(ValueError, match=rf"^b must be finite and >= 0, got {bad!r}$"):
        replace(PAPER, b=bad)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "6", MAX_INVENTORY + 1])
def test_inventory_must_be_a_positive_integer(bad: object) -> None:
    with pytest.raises(ValueError, match=r"^inventory must be"):
        replace(PAPER, inventory=bad)


def test_non_numbers_are_refused() -> None:
    with pytest.raises(ValueError, match=r"^sigma must be a number, got '0.3'$"):
        replace(PAPER, sigma="0.3")


def test_underflowing_derived_constants_are_refused() -> None:
    with pytest.raises(ValueError, match=r"alpha = k/2·gamma·sigma² = 0.0"):
        replace(PAPER, sigma=1e-200)


@pytest.mark.parametrize("bad", [0, -1, 1.5, MAX_STEPS + 1])
def test_steps_must_be_a_positive_integer(bad: object) -> None:
    with pytest.raises(ValueError, match=r"^steps must be"):
        optimal_quotes(PAPER, bad)  # type: ignore[arg-type]


def test_blocked_squaring_matches_the_single_block(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large inventories square the propagator a few rows at a time; the result must not move."""
    whole = optimal_quotes(PAPER, 20).delta
    monkeypatch.setattr(glft, "_BLOCK_ELEMENTS", 1)  # one row per block
    np.testing.assert_array_equal(optimal_quotes(PAPER, 20).delta, whole)


def test_grid_layout() -> None:
    grid = optimal_quotes(PAPER, 4)
    np.testing.assert_array_equal(grid.times, [0.0, 75.0, 150.0, 225.0, 300.0])
    np.testing.assert_array_equal(grid.inventory, np.arange(1, 7))
    assert grid.delta.shape == (5, 6)
    with pytest.raises(ValueError, match="read-only"):
        grid.delta[0, 0] = 1.0
