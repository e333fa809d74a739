"""Registers the ccxt venue through tradenode's hooks.

Only the config struct is imported here; the venue class is registered by name and imported
when a config uses it (``tradenode --help`` and ``check`` load every plugin and must stay
fast), and ccxt itself when a venue connects.
"""

from __future__ import annotations

from typing import Any

from node import hookimpl
from tradenode_ccxt.config import CcxtVenueConfig


@hookimpl
def tradenode_register_venues(registry: Any) -> None:
    registry.add("ccxt", "tradenode_ccxt.venue:CcxtVenue", CcxtVenueConfig)
