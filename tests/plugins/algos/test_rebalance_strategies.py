"""Strategies by import path, mixed by weight, and the daily plan they drive."""

from __future__ import annotations

import textwrap
from datetime import date
from decimal import Decimal as D
from decimal import localcontext
from pathlib import Path

import pytest
from tradenode_algos.rebalance.planner import plan_from_strategies
from tradenode_algos.rebalance.strategies import (
    PRECISION,
    StrategyContext,
    StrategyError,
    StrategySpec,
    TargetPositions,
    TargetWeights,
    equal_weight,
    fixed_weights,
    load_strategy,
    model_portfolio,
    target_quantities,
)

PRICES = {"AAPL": D("190"), "TSLA": D("250"), "NVDA": D("480"), "MSFT": D("410")}
LOTS = {s: D(1) for s in PRICES}
DAY = date(2024, 5, 17)
MODULE = "tradenode_algos.rebalance.strategies"
FIXED = f"{MODULE}:fixed_weights"
SEED_PARAMS = {"weights": {"AAPL": "0.30", "TSLA": 0.2, "NVDA": D("0.5")}}


def ratio(a: int, b: int) -> D:
    """``a / b`` at the strategies' working precision."""
    with localcontext(prec=PRECISION):
        return D(a) / D(b)


def context(nav: D = D(100_000), **params: object) -> StrategyContext:
    return StrategyContext(date=DAY, prices=PRICES, positions={}, nav=nav, params=params)


def test_loader_resolves_the_example_strategies() -> None:
    assert load_strategy(FIXED) is fixed_weights
    assert load_strategy(f"{MODULE}:equal_weight") is equal_weight
    assert load_strategy(f"{MODULE}:model_portfolio") is model_portfolio


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tradenode_algos.rebalance.strategies", "expected 'package.module:callable'"),
        (":fixed_weights", "expected 'package.module:callable'"),
        (
            "no_such_package.mod:f",
            "cannot import no_such_package.mod: ModuleNotFoundError: "
            "No module named 'no_such_package'",
        ),
        (f"{MODULE}:nope", f"{MODULE} has no attribute nope"),
        (f"{MODULE}:PRECISION", "PRECISION is not callable"),
    ],
)
def test_a_bad_import_path_is_one_clear_line(path: str, message: str) -> None:
    with pytest.raises(StrategyError) as caught:
        load_strategy(path)
    assert str(caught.value) == f"strategy {path!r}: {message}"
    assert "\n" not in str(caught.value)


def test_a_module_that_fails_to_import_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_strategy_mod.py").write_text("raise RuntimeError('half-written')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(StrategyError, match=r"RuntimeError: half-written$"):
        load_strategy("broken_strategy_mod:anything")


def test_fixed_and_equal_weights() -> None:
    assert fixed_weights(context(**SEED_PARAMS)) == TargetWeights(
        {"AAPL": D("0.30"), "TSLA": D("0.2"), "NVDA": D("0.5")}
    )
    answer = equal_weight(context(symbols=["AAPL", "TSLA", "NVDA"], total="0.9"))
    assert answer.weights == {s: D("0.3") for s in ("AAPL", "TSLA", "NVDA")}
    third = equal_weight(context(symbols=["AAPL", "TSLA", "NVDA"])).weights["AAPL"]
    with localcontext(prec=100):
        assert D(0) < 1 - 3 * third < D("1e-40")  # never more than the whole account
    with pytest.raises(StrategyError, match="missing param 'weights'"):
        fixed_weights(context())
    with pytest.raises(StrategyError, match=r"param weights.AAPL must be a number"):
        fixed_weights(context(weights={"AAPL": "lots"}))


def test_the_seed_mix_as_a_strategy() -> None:
    wanted = target_quantities([StrategySpec(FIXED, D(1), SEED_PARAMS)], context())
    assert wanted == {
        "AAPL": ratio(30_000, 190),
        "TSLA": D(80),
        "NVDA": ratio(50_000, 480),
    }
    plan = plan_from_strategies(
        [StrategySpec(FIXED, D(1), SEED_PARAMS)],
        on=DAY,
        positions={},
        nav=D(100_000),
        prices=PRICES,
        lots=LOTS,
    )
    assert {t.symbol: t.quantity for t in plan.buys} == {
        "AAPL": D(157),
        "TSLA": D(80),
        "NVDA": D(104),
    }


def test_strategies_are_mixed_by_their_weights() -> None:
    specs = [
        StrategySpec(FIXED, D("0.5"), {"weights": {"AAPL": "1"}}),
        StrategySpec(f"{MODULE}:equal_weight", D("0.5"), {"symbols": ["AAPL", "MSFT"]}),
    ]
    wanted = target_quantities(specs, context(nav=D(76_000)), leverage=D(2))
    # AAPL: (0.5 × 1 + 0.5 × 0.5) × 152,000 / 190 = 600; MSFT: 0.25 × 152,000 / 410
    assert wanted["AAPL"] == D(600)
    assert wanted["MSFT"] == ratio(38_000, 410)


def test_reference_nav_positions_scale_with_the_account() -> None:
    model = StrategySpec(
        f"{MODULE}:model_portfolio",
        D(1),
        {
            "positions": {"AAPL": 100, "NVDA": "20"},
            "reference_nav": 50_000,
            "reference_date": "2024-01-02",
        },
    )
    answer = model_portfolio(context(**model.params))
    assert answer == TargetPositions({"AAPL": D(100), "NVDA": D(20)}, D(50_000), date(2024, 1, 2))
    # NAV 125,000 is 2.5 × the reference: 250 AAPL and 50 NVDA, whatever the leverage.
    wanted = target_quantities([model], context(nav=D(125_000)), leverage=D(3))
    assert wanted == {"AAPL": D(250), "NVDA": D(50)}
    plan = plan_from_strategies(
        [model],
        on=DAY,
        positions={"AAPL": D(300)},
        nav=D(125_000),
        prices=PRICES,
        lots=LOTS,
    )
    assert [(t.symbol, t.side, t.quantity) for t in plan.trades] == [
        ("AAPL", "sell", D(50)),
        ("NVDA", "buy", D(50)),
    ]


def test_bad_strategy_answers_are_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "odd_strategies.py").write_text(
        textwrap.dedent(
            """
            from decimal import Decimal
            from tradenode_algos.rebalance.strategies import TargetWeights

            def plain_dict(context):
                return {"AAPL": Decimal("0.5")}

            def too_much(context):
                return TargetWeights({"AAPL": Decimal("0.7"), "TSLA": Decimal("0.6")})

            def floats(context):
                return TargetWeights({"AAPL": 0.5})

            def crashes(context):
                raise KeyError("AAPL")
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    cases = {
        "plain_dict": "returned dict, expected TargetWeights or TargetPositions",
        "too_much": "weights sum to 1.3, more than 1",
        "floats": "weight of AAPL must be a Decimal >= 0 (long only), got 0.5",
        "crashes": "failed: KeyError: 'AAPL'",
    }
    for name, message in cases.items():
        with pytest.raises(StrategyError) as caught:
            target_quantities([StrategySpec(f"odd_strategies:{name}")], context())
        assert message in str(caught.value)
        assert str(caught.value).startswith(f"strategy 'odd_strategies:{name}'")


def test_strategy_weights_must_not_exceed_the_account() -> None:
    specs = [StrategySpec(FIXED, D("0.7"), SEED_PARAMS), StrategySpec(FIXED, D("0.4"), SEED_PARAMS)]
    with pytest.raises(StrategyError, match=r"^strategy weights sum to 1.1, more than 1$"):
        target_quantities(specs, context())
    with pytest.raises(StrategyError, match="weight must be a Decimal > 0"):
        target_quantities([StrategySpec(FIXED, D(0), SEED_PARAMS)], context())
    with pytest.raises(StrategyError, match=r"^no strategies to run$"):
        target_quantities([], context())


def test_a_strategy_complaint_names_the_strategy() -> None:
    with pytest.raises(StrategyError, match=rf"^strategy '{FIXED}': missing param 'weights'$"):
        target_quantities([StrategySpec(FIXED)], context())


def test_a_target_without_a_price_is_named() -> None:
    spec = StrategySpec(FIXED, D(1), {"weights": {"GME": "0.1"}})
    with pytest.raises(StrategyError, match="no usable price for GME: None"):
        target_quantities([spec], context())
