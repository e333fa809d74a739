"""What the control API answers with: views of a running node, as msgspec Structs.

Requests and events are the node's own message types; these are the read models built from
them (a venue's status, a parent order's progress, the whole node at a glance).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import msgspec

from node.messages import (
    Balance,
    ExecutionReport,
    NavRecorded,
    OrderFilled,
    OrderPartiallyFilled,
    Position,
    SliceRouted,
    TradingState,
)

#: a fill as it was published (the union decodes each by its tag)
FillEvent = OrderPartiallyFilled | OrderFilled

#: ``submitted``: sent through the API, not yet decided on by the execution manager
ParentState = Literal["submitted", "waiting", "working", "completed", "rejected"]


class VenueView(msgspec.Struct, kw_only=True):
    name: str
    connected: bool = False
    reason: str = ""
    status: str = ""
    detail: str = ""
    balances: dict[str, Balance] = {}
    balances_ts: int = 0


class ChildView(msgspec.Struct, kw_only=True):
    client_order_id: str
    venue: str
    slice_id: int
    quantity: Decimal
    limit_price: Decimal
    filled: Decimal = Decimal(0)
    state: str = "sent"
    reason: str = ""


class ParentView(msgspec.Struct, kw_only=True):
    parent_id: str
    symbol: str = ""
    side: str = ""
    quantity: Decimal = Decimal(0)
    algo: str = ""
    state: ParentState = "waiting"
    status: str = ""
    reason: str = ""
    filled_quantity: Decimal = Decimal(0)
    remaining_quantity: Decimal = Decimal(0)
    average_price: Decimal | None = None
    scheduled_quantity: Decimal | None = None
    open_quantity: Decimal = Decimal(0)
    open_children: int = 0
    progress: str = ""
    arrival_mid: Decimal | None = None
    updated_ts: int = 0
    report: ExecutionReport | None = None


class ParentDetail(msgspec.Struct, kw_only=True):
    parent: ParentView
    children: list[ChildView]
    fills: list[FillEvent]
    plans: list[SliceRouted]


class NavPoint(msgspec.Struct, kw_only=True, array_like=True):
    """One valuation of the account, for a NAV line: ``[ts, nav]``."""

    ts: int
    nav: Decimal


class NodeState(msgspec.Struct, kw_only=True):
    """The node at a glance: what a status command or a dashboard shows."""

    node: str
    ts: int
    trading_state: TradingState | None
    trading_reason: str
    ready: bool
    venues: list[VenueView]
    positions: list[Position]
    nav: NavRecorded | None
    parents: list[ParentView]
    halted_instruments: dict[str, str]
    #: the latest fills, oldest first
    recent_fills: list[FillEvent] = []


class Accepted(msgspec.Struct, kw_only=True):
    """The answer to a command: what was asked, and what happens next. For a parent order,
    ``state`` is where it stands (``waiting``, ``working``, ``completed``; ``submitted`` when
    the node had not decided yet)."""

    parent_id: str | None = None
    state: str = ""
    detail: str
