"""Registers the ccxt venue through tradenode's hooks.

Only the config struct and the venue class are imported here; neither imports ccxt, which is
loaded when a venue connects (``tradenode --help`` loads every plugin and must stay fast).
"""

from __future__ import annotations

from typing import Any

from node import hookimpl
from tradenode_ccxt.config import CcxtVenueConfig
from tradenode_ccxt.venue import CcxtVenue


@hookimpl
def tradenode_register_venues(registry: Any) -> None:
    registry.add("ccxt", CcxtVenue, CcxtVenueConfig)
