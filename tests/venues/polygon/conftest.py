"""Fixtures for the loopback Polygon: a fresh server per test and the real massive clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from massive import RESTClient, WebSocketClient
from polygon_loopback_support import KEY, SocketRunner
from tradenode_polygon.loopback import PolygonConfig, ThreadedPolygonLoopback


@pytest.fixture
def make_server() -> Iterator[Callable[..., ThreadedPolygonLoopback]]:
    """Start loopback servers with config overrides; all are stopped after the test."""
    started: list[ThreadedPolygonLoopback] = []

    def make(**overrides: Any) -> ThreadedPolygonLoopback:
        server = ThreadedPolygonLoopback(PolygonConfig(api_key=KEY, **overrides)).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., ThreadedPolygonLoopback]) -> ThreadedPolygonLoopback:
    return make_server()


@pytest.fixture
def rest(server: ThreadedPolygonLoopback) -> RESTClient:
    return RESTClient(api_key=KEY, base=server.url)


@pytest.fixture
def run_socket(
    server: ThreadedPolygonLoopback,
) -> Iterator[Callable[..., SocketRunner]]:
    runners: list[SocketRunner] = []

    def run(*subscriptions: str, key: str = KEY, **options: Any) -> SocketRunner:
        client = WebSocketClient(
            api_key=key,
            feed=server.host_port,
            market="stocks",
            secure=False,
            subscriptions=list(subscriptions),
            **options,
        )
        runner = SocketRunner(client)
        runners.append(runner)
        return runner

    yield run
    for runner in runners:
        runner.close()
