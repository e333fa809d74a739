"""Registers the execution algorithms, the rebalancing job's config section and this plugin's
commands through tradenode's hooks, like any third-party plugin.

Only light modules are imported here (params structs, executors on the core's base): the
commands import numpy, matplotlib and the strategies when they run.
"""

from __future__ import annotations

from typing import Any

from node import hookimpl
from tradenode_algos.bracket import BracketExecutor, BracketParams
from tradenode_algos.commands import QuotesCommand, RebalanceCommand
from tradenode_algos.complete import CompleteExecutor, CompleteParams
from tradenode_algos.iceberg import IcebergExecutor, IcebergParams
from tradenode_algos.pov import PovExecutor, PovParams
from tradenode_algos.quoting import OptimalQuoteExecutor, OptimalQuoteParams
from tradenode_algos.rebalance.config import RebalanceSection
from tradenode_algos.rebalance.messages import RebalanceFinished, RebalancePlanned
from tradenode_algos.route import RouteExecutor
from tradenode_algos.twap import TwapExecutor, TwapParams
from tradenode_algos.vwap import VwapExecutor, VwapParams


@hookimpl
def tradenode_register_algos(registry: Any) -> None:
    registry.add("route", RouteExecutor)
    registry.add("twap", TwapExecutor, TwapParams)
    registry.add("vwap", VwapExecutor, VwapParams)
    registry.add("iceberg", IcebergExecutor, IcebergParams)
    registry.add("pov", PovExecutor, PovParams)
    registry.add("bracket", BracketExecutor, BracketParams)
    registry.add("complete", CompleteExecutor, CompleteParams)
    registry.add("optimal_quotes", OptimalQuoteExecutor, OptimalQuoteParams)


@hookimpl
def tradenode_register_messages(registry: Any) -> None:
    registry.add("RebalancePlanned", RebalancePlanned)
    registry.add("RebalanceFinished", RebalanceFinished)


@hookimpl
def tradenode_register_sections(registry: Any) -> None:
    # The struct as target and as config type: ``load_config`` converts with the latter.
    registry.add("rebalance", RebalanceSection, RebalanceSection)


@hookimpl
def tradenode_register_commands(registry: Any) -> None:
    registry.add("quotes", QuotesCommand())
    registry.add("rebalance", RebalanceCommand())
