"""Registers the simulated venue and its recorded-book readers through tradenode's hooks."""

from __future__ import annotations

from typing import Any

from node import hookimpl
from tradenode_sim.config import SimVenueConfig
from tradenode_sim.sources.detect import BINANCE_DEPTH_CSV, BINANCE_STREAM, ORDER_GRAPH


@hookimpl
def tradenode_register_venues(registry: Any) -> None:
    registry.add("sim", "tradenode_sim.venue:SimVenue", SimVenueConfig)


@hookimpl
def tradenode_register_book_sources(registry: Any) -> None:
    registry.add("order-graph", ORDER_GRAPH)
    registry.add("binance-stream", BINANCE_STREAM)
    registry.add("binance-depth-csv", BINANCE_DEPTH_CSV)
