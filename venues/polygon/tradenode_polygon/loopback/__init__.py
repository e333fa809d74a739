"""A loopback Polygon.io: REST aggregates, reference and last-trade endpoints and the stocks
websocket on 127.0.0.1, in the wire formats the real massive client (Polygon's official
Python client) sends and parses.

It plays a foreign service for tests and demos and does not depend on the node package.
"""

from .config import DEFAULT_START, DEFAULT_TICKERS, PolygonConfig, TickerSpec
from .server import PolygonLoopback
from .threaded import ThreadedPolygonLoopback

__all__ = [
    "DEFAULT_START",
    "DEFAULT_TICKERS",
    "PolygonConfig",
    "PolygonLoopback",
    "ThreadedPolygonLoopback",
    "TickerSpec",
]
