"""The kill proof: a node working a routed TWAP across two loopback exchange processes is killed
with SIGKILL at random moments and started again on the same journal, ten times; the last run
finishes the parent. Then the journal and the exchanges' own records must agree exactly: the
parent executed once (fills = target, completed "filled"), no client order id submitted twice,
every exchange fill in the journal and nothing else, and the journal's balances and positions
per venue equal the exchanges'.

The kill moments come from ``random.Random(seed)``, the seed from ``TRADENODE_KILL_SEED`` (else
a fixed default) and printed with each kill; the outcome must hold for every seed. The scenario
is ``kill_support.py`` (shared with ``benchmarks/kill_soak.py``).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from kill_support import EXCHANGES, KillScenario, Plan, audit, seed_from_env

from node.plugins import load_plugins


@pytest.fixture
def scenario(tmp_path: Path):
    plan = Plan(seed=seed_from_env(), kills=10)
    with KillScenario(tmp_path, plan, load_plugins().codec()) as scenario:
        yield scenario


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(scenario: KillScenario):
    scenario.run_all()
    target = Decimal(scenario.plan.quantity)
    result = audit(scenario, target)
    print(
        f"seed {scenario.plan.seed}: {len(scenario.runs) - 1} kills, {result.fills} fills "
        f"({', '.join(f'{v} {q}' for v, q in sorted(result.by_venue.items()))}), "
        f"{result.orders_sent} child orders, recovered at restarts: {dict(result.recovered)}"
    )
    assert result.problems == []
    assert result.filled == target
    assert result.duplicates == 0 and result.lost_fills == 0 and result.unknown_fills == 0
    # Both exchanges traded: the router split the parent across them.
    assert set(result.by_venue) == {spec.name for spec in EXCHANGES}
    assert len(scenario.runs) == scenario.plan.kills + 1
