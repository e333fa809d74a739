"""A loopback Alpaca: the trading API, ``trade_updates`` and IEX market-data websockets on
127.0.0.1, speaking the wire formats the real alpaca-py client sends and parses.

It plays a foreign service for tests and demos and does not depend on the node package.
"""

from .config import DEFAULT_ASSETS, DEFAULT_START, AssetSpec, LoopbackConfig
from .server import AlpacaLoopback
from .threaded import ThreadedAlpacaLoopback

__all__ = [
    "DEFAULT_ASSETS",
    "DEFAULT_START",
    "AlpacaLoopback",
    "AssetSpec",
    "LoopbackConfig",
    "ThreadedAlpacaLoopback",
]
