"""A Binance-spot exchange on loopback that the real ccxt client trades against.

Start one with ``async with LoopbackExchange(...) as ex`` (or ``LoopbackExchangeThread`` when the
code under test runs its own threads), point ccxt at it with ``binance_client(ex.url)``, and
read the server's own records through ``ex.admin``. ``python -m tradenode_ccxt.loopback`` runs
one for a user. See README.md in this folder for the models (book, queue, fees) and the faults.
"""

from tradenode_ccxt.loopback.admin import Admin
from tradenode_ccxt.loopback.capture import DEFAULT_CAPTURE, CaptureError
from tradenode_ccxt.loopback.client import LOOPBACK_OPTIONS, binance_client, loopback_urls
from tradenode_ccxt.loopback.feeds import CaptureFeed, MarketSetup, StaticBook
from tradenode_ccxt.loopback.klines import BarsFile
from tradenode_ccxt.loopback.server import DEFAULT_API_KEY, DEFAULT_API_SECRET, LoopbackExchange
from tradenode_ccxt.loopback.spec import PriceTransform, SymbolSpec
from tradenode_ccxt.loopback.thread import LoopbackExchangeThread

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_API_SECRET",
    "DEFAULT_CAPTURE",
    "LOOPBACK_OPTIONS",
    "Admin",
    "BarsFile",
    "CaptureError",
    "CaptureFeed",
    "LoopbackExchange",
    "LoopbackExchangeThread",
    "MarketSetup",
    "PriceTransform",
    "StaticBook",
    "SymbolSpec",
    "binance_client",
    "loopback_urls",
]
