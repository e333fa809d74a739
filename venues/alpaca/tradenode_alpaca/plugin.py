"""Registers the Alpaca venue through tradenode's hooks (alpaca-py is imported only when a venue
connects)."""

from __future__ import annotations

from typing import Any

from node import hookimpl
from tradenode_alpaca.config import AlpacaConfig


@hookimpl
def tradenode_register_venues(registry: Any) -> None:
    registry.add("alpaca", "tradenode_alpaca.venue:AlpacaVenue", AlpacaConfig)
