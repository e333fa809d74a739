"""A TWS-protocol server on loopback that the real ib_async client connects to and trades with.

It plays a foreign broker for tests and demos: handshake and connect-time sync, contract
details, market data and depth, orders matched against a small book, executions with commission
reports, account and position updates, and the connectivity faults a trading node must survive.
It does not import the node.

In a test (one event loop for client and server)::

    async with FakeTws(FakeTwsConfig(server_version=176)) as tws:
        ib = IB()
        await ib.connectAsync("127.0.0.1", tws.port, clientId=1)
        tws.set_quote("AAPL", "229.40", "229.45")  # the market comes to a resting order
        tws.drop_connections()  # faults: also refuse_connections(s), connectivity_lost(), …
        tws.placements()  # orderRef → how many new orders carried it

``ThreadedFakeTws`` runs the same server on its own thread for code with its own loop (or
none). By hand: ``uv run python -m tradenode_ib.fake_tws --port 7497 --seed 1``.
"""

from .config import MAX_SERVER_VERSION, MIN_SERVER_VERSION, FakeTwsConfig
from .market import PriceModel
from .recording import Recording
from .records import ExecutionRecord, OrderRecord, ReceivedOrder
from .server import FakeTws
from .threaded import ThreadedFakeTws
from .universe import CommissionSchedule, Instrument, Universe, default_universe

__all__ = [
    "MAX_SERVER_VERSION",
    "MIN_SERVER_VERSION",
    "CommissionSchedule",
    "ExecutionRecord",
    "FakeTws",
    "FakeTwsConfig",
    "Instrument",
    "OrderRecord",
    "PriceModel",
    "ReceivedOrder",
    "Recording",
    "ThreadedFakeTws",
    "Universe",
    "default_universe",
]
