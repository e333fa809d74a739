"""Registers the Alpaca venue through tradenode's hooks (alpaca-py is imported only when a venue
connects)."""

from __future__ import annotations

from typing import Any

from node import hookimpl
from tradenode_alpaca.config import AlpacaConfig
from tradenode_alpaca.venue import AlpacaVenue


@hookimpl
def tradenode_register_venues(registry: Any) -> None:
    registry.add("alpaca", AlpacaVenue, AlpacaConfig)
