"""Fixtures for the loopback Alpaca: a fresh server per test and the real alpaca-py clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from alpaca.trading.client import TradingClient
from alpaca_loopback_support import KEY, SECRET, StreamRunner
from tradenode_alpaca.loopback import LoopbackConfig, ThreadedAlpacaLoopback


@pytest.fixture
def make_venue() -> Iterator[Callable[..., ThreadedAlpacaLoopback]]:
    """Start loopback servers with config overrides; all are stopped after the test."""
    started: list[ThreadedAlpacaLoopback] = []

    def make(**overrides: Any) -> ThreadedAlpacaLoopback:
        config = LoopbackConfig(api_key=KEY, secret_key=SECRET, **overrides)
        venue = ThreadedAlpacaLoopback(config).start()
        started.append(venue)
        return venue

    yield make
    for venue in started:
        venue.stop()


@pytest.fixture
def venue(make_venue: Callable[..., ThreadedAlpacaLoopback]) -> ThreadedAlpacaLoopback:
    return make_venue()


@pytest.fixture
def client(venue: ThreadedAlpacaLoopback) -> TradingClient:
    return TradingClient(KEY, SECRET, url_override=venue.url)


@pytest.fixture
def run_stream() -> Iterator[Callable[[Any], StreamRunner]]:
    runners: list[StreamRunner] = []

    def run(stream: Any) -> StreamRunner:
        runner = StreamRunner(stream)
        runners.append(runner)
        return runner

    yield run
    for runner in runners:
        runner.close()
