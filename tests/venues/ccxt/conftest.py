"""Fixtures for the ccxt venue tests: the plugins, loopback exchanges and live nodes, each
stopped after its test (nodes first, so no venue talks to a stopped exchange)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ccxt_node_support import LiveNode, credentials, start_exchange
from tradenode_ccxt.loopback import LoopbackExchangeThread, MarketSetup

from node.plugins import load_plugins


@pytest.fixture(scope="session")
def plugins() -> Any:
    return load_plugins()


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loopback's key and secret in the environment variables the configs name."""
    credentials(monkeypatch)


@pytest.fixture
def exchanges() -> Iterator[Callable[..., LoopbackExchangeThread]]:
    started: list[LoopbackExchangeThread] = []

    def make(*markets: MarketSetup, **kwargs: Any) -> LoopbackExchangeThread:
        exchange = start_exchange(*markets, **kwargs)
        started.append(exchange)
        return exchange

    yield make
    for exchange in started:
        exchange.stop()


@pytest.fixture
def nodes(plugins: Any, keys: None) -> Iterator[Callable[..., LiveNode]]:
    started: list[LiveNode] = []

    def make(config: Path, journal: Path | None = None) -> LiveNode:
        node = LiveNode(config, plugins, journal)
        started.append(node)
        return node

    yield make
    for node in reversed(started):
        node.stop()
