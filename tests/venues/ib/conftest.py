"""Fixtures for the IB venue: a fake TWS per test and whole nodes trading with it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ib_node import IbNode
from tradenode_ib.fake_tws import ThreadedFakeTws

from node.plugins import Plugins, load_plugins


@pytest.fixture(scope="session")
def plugins() -> Plugins:
    return load_plugins()


@pytest.fixture
def tws() -> Iterator[ThreadedFakeTws]:
    server = ThreadedFakeTws().start()
    yield server
    server.stop()


@pytest.fixture
def make_node(
    tmp_path: Path, plugins: Plugins, tws: ThreadedFakeTws
) -> Iterator[Callable[..., IbNode]]:
    """Start nodes (``make_node("a")``; the same name reuses that node's journal); each is
    stopped after the test, before the fake TWS."""
    started: list[IbNode] = []

    def make(name: str = "node", **config: Any) -> IbNode:
        node = IbNode(tmp_path / name, plugins, tws.port, **config)
        started.append(node)
        return node

    yield make
    for node in started:
        node.stop()
