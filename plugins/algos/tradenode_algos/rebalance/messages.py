"""What the rebalancing job journals: its plan before any order, and how the run ended."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from node.messages import Event, Side


class PlannedOrder(msgspec.Struct, frozen=True, kw_only=True):
    parent_id: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    notional: Decimal
    reason: str


class StrategyTargets(msgspec.Struct, frozen=True, kw_only=True):
    """What one strategy wants held, in quantities for this account."""

    path: str
    weight: Decimal
    targets: dict[str, Decimal]


class RebalancePlanned(Event, frozen=True, kw_only=True):
    """The day's plan, journaled before its first order: every number it was made from."""

    run_id: str
    date: str
    nav: Decimal
    currency: str
    leverage: Decimal
    reference_nav: Decimal | None = None
    reference_date: str | None = None
    prices: dict[str, Decimal]
    positions: dict[str, Decimal]
    strategies: list[StrategyTargets]
    targets: dict[str, Decimal]
    orders: list[PlannedOrder]
    skipped: dict[str, str] = msgspec.field(default_factory=dict)
    algo: str
    execution_time_s: float


class RebalanceFinished(Event, frozen=True, kw_only=True):
    """``done``: every order filled; ``incomplete``: some did not (``reason`` says which);
    ``failed``: nothing could be planned or sent."""

    run_id: str
    status: Literal["done", "incomplete", "failed"]
    reason: str = ""
    nav: Decimal | None = None
