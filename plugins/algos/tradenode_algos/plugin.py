"""Registers the execution algorithms through tradenode's hooks, like any third-party plugin."""

from __future__ import annotations

from typing import Any

from node import hookimpl
from tradenode_algos.route import RouteExecutor


@hookimpl
def tradenode_register_algos(registry: Any) -> None:
    registry.add("route", RouteExecutor)
