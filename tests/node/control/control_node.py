"""A live node with its control API on loopback: the helpers the control tests share.

The node is assembled as ``tradenode run`` does it (``load_config`` + ``Node``) on the live
runtime, one simulated Binance venue replaying the recorded BTC/USDT stream paced in wall time.
Every wait is bounded; nothing asserts on how long anything took.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from node.journal import Journal
from node.messages import MarketData, Message
from node.node import Node
from node.runtime.recorder import Recorder

CONFIG = """
[node]
name = "controlled"
journal = "journal.sqlite"
valuation_currency = "USDT"
runtime = "live"
{control}

[router]
max_book_age_ms = 60000

[risk.checks.instrument]
[risk.checks.free_balance]

[venues.binance]
plugin = "sim"
replay_speed = 20.0
source = "binance-stream"
files = ["sim:binance-stream/spot/btcusdt_20240808.gz"]
taker_fee_bps = "10"
balances = {{ USDT = "100000", BTC = "1" }}
symbols."BTC/USDT" = {{ tick_size = "0.01", lot_size = "0.00001", min_notional = "5" }}
"""

TOKEN_ENV = "TRADENODE_TEST_CONTROL_TOKEN"
TOKEN = "test-token-4f1c9a7e-never-shown"
WAIT_S = 30.0  # a bound for a loaded machine, not a speed claim


@dataclass
class LiveNode:
    node: Node
    config_path: Path
    recorder: Recorder
    token: str | None
    stopped: bool = False

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.node.request_stop("test over")
            self.node.stop()

    @property
    def url(self) -> str:
        assert self.node.control_url is not None
        return self.node.control_url

    @property
    def journal_path(self) -> Path:
        return self.node.path

    def http(self, token: str | None = None) -> httpx.Client:
        """A plain HTTP client; with the node's token unless ``token`` says otherwise."""
        token = self.token if token is None else token
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=WAIT_S)

    def journaled(self, *types: type[Message]) -> list:
        """The journal's rows (of ``types``) as they are now, read beside the running node."""
        journal = Journal(self.journal_path, codec=self.node.journal.codec, readonly=True)
        try:
            return [e for e in journal.entries() if not types or isinstance(e.message, types)]
        finally:
            journal.close()

    def until_trading(self, state: str) -> None:
        """Until the API itself says trading is ``state`` (what a next request is judged on)."""
        self._until(lambda s: s["trading_state"] == state, f"trading {state}")

    def until_ready(self) -> None:
        self._until(lambda s: s["ready"] and s["trading_state"] == "active", "ready")

    def _until(self, check: Callable[[dict], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        with self.http() as http:
            while not check(http.get("/api/state").json()):
                assert time.monotonic() < deadline, f"the API never said {what}"
                time.sleep(0.05)

    def wait_for(self, predicate: Callable[[Message], bool]) -> Message:
        if not self.recorder.wait_for(predicate, WAIT_S):
            seen = [m for m in self.recorder.of_type(Message) if not isinstance(m, MarketData)]
            raise AssertionError(
                "the node never published it; it published:\n"
                + "\n".join(repr(m)[:240] for m in seen[-40:])
            )
        return next(m for m in self.recorder.of_type(Message) if predicate(m))
