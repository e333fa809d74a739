"""The IB plugin's own message: the account as TWS values it."""

from __future__ import annotations

from decimal import Decimal

import msgspec

from node.messages import Event


class IbAccountUpdated(Event, frozen=True, kw_only=True):
    """IB's own account figures in the account's base currency, as TWS computes them:
    ``net_liquidation`` (NAV) and the other account-level values by IB's tag names
    (``TotalCashValue``, ``BuyingPower``, ``AvailableFunds``, ``GrossPositionValue`` …).
    Published when they change; the node's ledger keeps its own NAV from balances and marks."""

    venue: str
    account: str
    currency: str
    net_liquidation: Decimal | None
    values: dict[str, Decimal] = msgspec.field(default_factory=dict)
