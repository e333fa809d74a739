"""Registers the Polygon.io market-data venue through tradenode's hooks (massive is imported
only when it connects)."""

from __future__ import annotations

from typing import Any

from node import hookimpl
from tradenode_polygon.config import PolygonConfig


@hookimpl
def tradenode_register_venues(registry: Any) -> None:
    registry.add("polygon", "tradenode_polygon.venue:PolygonData", PolygonConfig)
