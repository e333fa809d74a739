"""Registers the Interactive Brokers venue and its message through tradenode's hooks.

Only light modules are imported here: ib_async is imported when a venue connects.
"""

from __future__ import annotations

from typing import Any

from node import hookimpl
from tradenode_ib.config import IbVenueConfig
from tradenode_ib.messages import IbAccountUpdated


@hookimpl
def tradenode_register_venues(registry: Any) -> None:
    registry.add("ib", "tradenode_ib.venue:IbVenue", IbVenueConfig)


@hookimpl
def tradenode_register_messages(registry: Any) -> None:
    registry.add("IbAccountUpdated", IbAccountUpdated)
