"""``[rebalance]``: the daily rebalancing job of one account (``tradenode rebalance CONFIG``).

```toml
[rebalance]
logs = "rebalance-logs"        # NAV history and each run's state, beside the config file
leverage = "1"
threshold = "0.005"            # drifts under 0.5 % of NAV are left alone (or threshold_amount)
reference_nav = "100000"       # what position strategies' models are quoted for
reference_date = 2024-08-08
algo = "twap"                  # how each order is worked, over execution_time_s
execution_time_s = 300
params = { slices = 10 }       # the algorithm's params (duration_s comes from execution_time_s)

[[rebalance.strategies]]
path = "tradenode_algos.rebalance.strategies:fixed_weights"
weight = "1"
params = { weights = { "BTC/USDT" = "0.5" } }
```

``universe`` lists the symbols the job manages (default: those the strategies name); a managed
symbol no strategy wants is sold, holdings outside it are left alone.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from typing import Any

import msgspec


class StrategyEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    path: str
    weight: Decimal = Decimal(1)
    params: dict[str, Any] = {}

    def __post_init__(self) -> None:
        if ":" not in self.path:
            raise ValueError(f"path must be 'package.module:callable', got {self.path!r}")
        if not (self.weight.is_finite() and self.weight > 0):
            raise ValueError(f"weight must be > 0, got {self.weight}")


class RebalanceSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """See the module docstring. Amounts are in the node's valuation currency."""

    strategies: list[StrategyEntry]
    logs: str = "rebalance-logs"
    leverage: Decimal = Decimal(1)
    threshold: Decimal = Decimal(0)
    threshold_amount: Decimal | None = None
    cash_buffer: Decimal = Decimal(0)
    reference_nav: Decimal | None = None
    reference_date: date | None = None
    universe: list[str] | None = None
    algo: str = "twap"
    execution_time_s: float = 300.0
    params: dict[str, Any] = {}
    venues: list[str] | None = None
    #: give up on orders still working this long after the job started (default: twice the
    #: execution time plus two minutes); they are canceled and the run says so
    timeout_s: float | None = None

    def __post_init__(self) -> None:
        if not self.strategies:
            raise ValueError("strategies must name at least one strategy")
        total = sum((s.weight for s in self.strategies), Decimal(0))
        if total > 1:
            raise ValueError(f"strategy weights sum to {total}, more than 1")
        if not (self.leverage.is_finite() and self.leverage > 0):
            raise ValueError(f"leverage must be > 0, got {self.leverage}")
        if not (self.threshold.is_finite() and 0 <= self.threshold < 1):
            raise ValueError(f"threshold must be a fraction of NAV in [0, 1), got {self.threshold}")
        if self.threshold_amount is not None and not (
            self.threshold_amount.is_finite() and self.threshold_amount >= 0
        ):
            raise ValueError(f"threshold_amount must be >= 0, got {self.threshold_amount}")
        if self.threshold and self.threshold_amount is not None:
            raise ValueError("give threshold (a fraction of NAV) or threshold_amount, not both")
        if not (self.cash_buffer.is_finite() and 0 <= self.cash_buffer < self.leverage):
            raise ValueError(f"cash_buffer must be in [0, leverage), got {self.cash_buffer}")
        if self.reference_nav is not None and not (
            self.reference_nav.is_finite() and self.reference_nav > 0
        ):
            raise ValueError(f"reference_nav must be > 0, got {self.reference_nav}")
        if not (math.isfinite(self.execution_time_s) and self.execution_time_s > 0):
            raise ValueError(f"execution_time_s must be > 0, got {self.execution_time_s}")
        if self.timeout_s is not None and not (
            math.isfinite(self.timeout_s) and self.timeout_s > 0
        ):
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")

    @property
    def wait_s(self) -> float:
        return self.timeout_s if self.timeout_s is not None else 2 * self.execution_time_s + 120
