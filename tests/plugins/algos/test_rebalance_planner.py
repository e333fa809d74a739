"""The rebalancing planner: targets and holdings in, the day's orders (and what was left) out."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tradenode_algos.rebalance.planner import (
    RebalancePlan,
    Threshold,
    plan_rebalance,
    plan_trades,
)

PRICES = {"AAPL": D("190"), "TSLA": D("250"), "NVDA": D("480"), "MSFT": D("410")}
LOTS = {s: D(1) for s in PRICES}
SEED = {"AAPL": D("0.30"), "TSLA": D("0.20"), "NVDA": D("0.50")}


def by_symbol(plan: RebalancePlan) -> dict[str, tuple[str, D]]:
    return {t.symbol: (t.side, t.quantity) for t in plan.trades}


def test_seed_example_from_cash() -> None:
    plan = plan_rebalance({}, SEED, D(100_000), PRICES, LOTS)
    # 30,000/190 = 157.89 → 157; 20,000/250 = 80; 50,000/480 = 104.17 → 104
    assert by_symbol(plan) == {
        "AAPL": ("buy", D(157)),
        "TSLA": ("buy", D(80)),
        "NVDA": ("buy", D(104)),
    }
    assert [t.notional for t in plan.trades] == [D(29830), D(49920), D(20000)]
    assert all(t.price == PRICES[t.symbol] for t in plan.trades)
    assert plan.skipped == ()
    assert plan.exposure_before == 0
    assert plan.exposure_after == D(99750)
    assert plan.exposure_limit == D(100_000)
    assert plan.trades[0].reason == "0 → 157 toward target 157.89473684"


def test_from_existing_positions_trades_only_the_difference() -> None:
    positions = {"AAPL": D(150), "TSLA": D(100), "MSFT": D(10)}
    # NAV = holdings 28,500 + 25,000 + 4,100 plus 42,400 cash = 100,000
    plan = plan_rebalance(positions, SEED, D(100_000), PRICES, LOTS)
    assert by_symbol(plan) == {
        "MSFT": ("sell", D(10)),  # held, no target: sold
        "TSLA": ("sell", D(20)),  # 100 → 80
        "AAPL": ("buy", D(7)),  # 150 → 157 (target 157.89)
        "NVDA": ("buy", D(104)),
    }
    assert plan.exposure_before == D(57_600)
    assert plan.exposure_after == D(99_750)


def test_sells_come_before_buys_and_pay_for_them() -> None:
    # Fully invested in MSFT and TSLA: the new buys are affordable only once those are sold.
    positions = {"MSFT": D(122), "TSLA": D(200)}  # 50,020 + 50,000 = 100,020 ≈ NAV
    plan = plan_rebalance(positions, {"AAPL": D("0.5"), "NVDA": D("0.5")}, D(100_020), PRICES, LOTS)
    sides = [t.side for t in plan.trades]
    assert sides == ["sell", "sell", "buy", "buy"]
    assert by_symbol(plan) == {
        "MSFT": ("sell", D(122)),
        "TSLA": ("sell", D(200)),
        "AAPL": ("buy", D(263)),  # 50,010/190 = 263.2
        "NVDA": ("buy", D(104)),  # 50,010/480 = 104.2
    }
    assert all("cut" not in t.reason for t in plan.trades)


def test_threshold_in_percent_of_nav_skips_small_drifts() -> None:
    positions = {"AAPL": D(157), "TSLA": D(78), "NVDA": D(100)}
    plan = plan_rebalance(
        positions, SEED, D(100_000), PRICES, LOTS, threshold=Threshold.nav_fraction(D("0.01"))
    )
    # drifts: AAPL 0.89 × 190 = 170, TSLA 2 × 250 = 500, NVDA 4.17 × 480 = 2,000 vs 1,000
    assert by_symbol(plan) == {"NVDA": ("buy", D(4))}
    assert [s.symbol for s in plan.skipped] == ["AAPL", "TSLA"]
    assert plan.skipped[1].reason == ("drift 500 is under the threshold 1000 (1% of NAV)")


def test_absolute_threshold() -> None:
    positions = {"AAPL": D(157), "TSLA": D(78), "NVDA": D(100)}
    plan = plan_rebalance(
        positions, SEED, D(100_000), PRICES, LOTS, threshold=Threshold.absolute(D(400))
    )
    assert by_symbol(plan) == {"TSLA": ("buy", D(2)), "NVDA": ("buy", D(4))}
    assert plan.skipped[0].reason == "drift 170 is under the threshold 400"


def test_leverage_scales_targets_and_buying_power() -> None:
    plan = plan_rebalance({}, SEED, D(100_000), PRICES, LOTS, leverage=D(2))
    assert by_symbol(plan) == {
        "AAPL": ("buy", D(315)),  # 60,000/190 = 315.8
        "TSLA": ("buy", D(160)),
        "NVDA": ("buy", D(208)),  # 100,000/480 = 208.3
    }
    assert plan.exposure_limit == D(200_000)
    assert plan.exposure_after == D(199_690)


def test_unaffordable_buys_are_cut_pro_rata_with_a_reason() -> None:
    plan = plan_rebalance({}, SEED, D(100_000), PRICES, LOTS, cash_buffer=D("0.05"))
    assert plan.exposure_limit == D(95_000)
    assert plan.exposure_after <= D(95_000)
    # every buy scaled by 95,000/99,750 = 0.95238…, then rounded down to the lot
    assert by_symbol(plan) == {
        "AAPL": ("buy", D(149)),
        "TSLA": ("buy", D(76)),
        "NVDA": ("buy", D(99)),
    }
    for trade in plan.trades:
        assert "exceed the 95000 left after sells" in trade.reason
        assert "every buy scaled by 0.95238095" in trade.reason
    assert plan.trades[1].reason.startswith("0 → 99 toward target 104.16666667; cut from 104: ")


def test_a_cut_below_the_minimum_notional_is_skipped_with_both_reasons() -> None:
    plan = plan_rebalance(
        {"MSFT": D(200)},
        {"MSFT": D("0.82"), "AAPL": D("0.10")},
        D(100_000),
        PRICES,
        LOTS,
        min_notional=D(5_000),
    )
    # MSFT held 82,000 → target 82,000; room for buys 18,000 → AAPL 52 (9,880) fits.
    assert by_symbol(plan) == {"AAPL": ("buy", D(52))}
    plan = plan_rebalance(
        {"MSFT": D(230)},
        {"MSFT": D("0.94"), "AAPL": D("0.06")},
        D(100_000),
        PRICES,
        LOTS,
        min_notional=D(5_000),
        cash_buffer=D("0.03"),
    )
    # holdings 94,300 (no MSFT sell: 229.27 → drift under a lot); room 2,700 < AAPL's 5,890
    assert plan.trades == ()
    assert [s.symbol for s in plan.skipped] == ["AAPL", "MSFT"]
    assert plan.skipped[0].reason.startswith("cut notional 2660 is under the minimum 5000; cut")


def test_no_buying_power_left_skips_buys() -> None:
    plan = plan_rebalance(
        {"MSFT": D(250)}, {"MSFT": D("0.99"), "AAPL": D("0.01")}, D(100_000), PRICES, LOTS
    )
    # MSFT is 102,500 (> NAV: a margin account); its sell of 8 leaves 99,220 → room 780 → 4 AAPL
    assert by_symbol(plan) == {"MSFT": ("sell", D(8)), "AAPL": ("buy", D(4))}
    plan = plan_rebalance(
        {"MSFT": D(250)},
        {"MSFT": D("0.99"), "AAPL": D("0.01")},
        D(100_000),
        PRICES,
        LOTS,
        cash_buffer=D("0.01"),
    )
    assert by_symbol(plan) == {"MSFT": ("sell", D(8))}
    assert plan.skipped[0].symbol == "AAPL"
    assert plan.skipped[0].reason.startswith("no buying power left; cut from 5: ")


def test_min_notional_per_symbol_and_lots_below_one() -> None:
    prices = {"BTC": D("43210.5"), "ETH": D("2345.67")}
    lots = {"BTC": D("0.001"), "ETH": D("0.01")}
    plan = plan_rebalance(
        {},
        {"BTC": D("0.6"), "ETH": D("0.0004")},
        D(50_000),
        prices,
        lots,
        min_notional={"ETH": D(25)},
    )
    # BTC 30,000/43,210.5 = 0.69427… → 0.694; ETH 20/2,345.67 = 0.0085 < one lot
    assert by_symbol(plan) == {"BTC": ("buy", D("0.694"))}
    assert plan.trades[0].notional == D("29988.087")
    assert plan.skipped[0].reason == "drift 0.00852635 is less than one lot (0.01)"
    plan = plan_rebalance(
        {}, {"ETH": D("0.0006")}, D(50_000), prices, lots, min_notional={"ETH": D(25)}
    )
    assert plan.trades == ()
    assert plan.skipped[0].reason == "notional 23.4567 is under the minimum 25"


def test_plan_trades_takes_quantities_directly() -> None:
    plan = plan_trades({"AAPL": D(10)}, {"AAPL": D("3.5"), "TSLA": D(4)}, D(10_000), PRICES, LOTS)
    assert by_symbol(plan) == {"AAPL": ("sell", D(6)), "TSLA": ("buy", D(4))}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nav": D(0)}, r"nav must be a Decimal > 0, got Decimal\('0'\)"),
        ({"leverage": D(-1)}, r"leverage must be a Decimal > 0, got Decimal\('-1'\)"),
        ({"cash_buffer": D(1)}, r"cash_buffer must be a Decimal in \[0, leverage\)"),
        ({"targets": {"AAPL": D("0.7"), "TSLA": D("0.4")}}, "target weights sum to 1.1, more"),
        ({"targets": {"AAPL": D(-1)}}, "target weight of AAPL must be a Decimal >= 0"),
        ({"targets": {"AAPL": D("NaN")}}, "target weight of AAPL must be a Decimal >= 0"),
        ({"positions": {"AAPL": D(-5)}}, r"position of AAPL must be a Decimal >= 0 \(long only\)"),
        ({"targets": {"GME": D("0.1")}}, "price of GME must be a Decimal > 0, got None"),
        ({"lots": {}}, "lot of AAPL must be a Decimal > 0, got None"),
        ({"min_notional": D(-1)}, "min_notional of AAPL must be a Decimal >= 0"),
    ],
)
def test_bad_inputs_are_named(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "positions": {},
        "targets": {"AAPL": D("0.5")},
        "nav": D(100_000),
        "prices": PRICES,
        "lots": LOTS,
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=f"^{message}"):
        plan_rebalance(**arguments)  # type: ignore[arg-type]


symbols = st.sampled_from(["A", "B", "C", "D", "E"])
amounts = st.decimals(min_value=0, max_value=10_000, places=3)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    positions=st.dictionaries(symbols, amounts, max_size=5),
    raw_weights=st.dictionaries(symbols, st.integers(0, 100), max_size=5),
    prices=st.fixed_dictionaries(
        {s: st.decimals(min_value="0.01", max_value=5_000, places=2) for s in "ABCDE"}
    ),
    lots=st.fixed_dictionaries(
        {s: st.sampled_from([D("0.001"), D("0.1"), D(1), D(5), D(100)]) for s in "ABCDE"}
    ),
    nav=st.decimals(min_value=1_000, max_value=10_000_000, places=2),
    leverage=st.sampled_from([D(1), D("1.5"), D(3)]),
    cash_buffer=st.sampled_from([D(0), D("0.02"), D("0.5")]),
)
def test_trades_never_overshoot_and_buys_stay_within_budget(
    positions: dict[str, D],
    raw_weights: dict[str, int],
    prices: dict[str, D],
    lots: dict[str, D],
    nav: D,
    leverage: D,
    cash_buffer: D,
) -> None:
    total = sum(raw_weights.values())
    weights = {s: D(w) / max(total, 100) for s, w in raw_weights.items()}
    plan = plan_rebalance(
        positions, weights, nav, prices, lots, leverage=leverage, cash_buffer=cash_buffer
    )
    sides = [t.side for t in plan.trades]
    assert sides == sorted(sides, key=lambda side: side == "buy")  # sells first
    for trade in plan.trades:
        current = positions.get(trade.symbol, D(0))
        target = weights.get(trade.symbol, D(0)) * nav * leverage / prices[trade.symbol]
        after = current + trade.quantity if trade.side == "buy" else current - trade.quantity
        assert trade.quantity > 0
        assert trade.quantity % lots[trade.symbol] == 0
        assert trade.notional == trade.quantity * trade.price
        assert min(current, target) <= after <= max(current, target)  # never past the target
        if "cut" not in trade.reason:
            assert abs(target - after) < lots[trade.symbol]  # within one lot of it
    if plan.buys:
        assert plan.exposure_after <= plan.exposure_limit
    planned = {t.symbol for t in plan.trades}
    assert planned.isdisjoint(s.symbol for s in plan.skipped)
