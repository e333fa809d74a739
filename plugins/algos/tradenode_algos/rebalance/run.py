"""``tradenode rebalance CONFIG``: start the account's node, run the rebalancing job in it, stop.

Everything the job would trip on is checked before the node starts (exit 2, one line per
problem, naming the key): the section itself, the algorithm and its params, the strategies'
import paths. Exit 0 when every order filled, 1 when the run failed or is incomplete.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import TextIO

from node.cli.common import load
from node.config import ConfigError, NodeConfig
from node.plugins import Plugins
from node.validation import convert_all
from tradenode_algos.rebalance.config import RebalanceSection
from tradenode_algos.rebalance.messages import RebalancePlanned


def check(config: NodeConfig, plugins: Plugins) -> RebalanceSection:
    """The ``[rebalance]`` section, with what only the installed plugins can tell checked."""
    from tradenode_algos.rebalance.strategies import StrategyError, load_strategy

    file = config.path
    section = config.sections.get("rebalance")
    if section is None:
        raise ConfigError([f"{file}: rebalance: missing section [rebalance]"])
    problems = []
    if section.algo not in plugins.algos:
        known = ", ".join(sorted(r.name for r in plugins.algos))
        problems.append(f"{file}: rebalance.algo: unknown algorithm {section.algo!r} ({known})")
    else:
        params_type = plugins.algos.get(section.algo).config_type
        params = dict(section.params)
        if params_type is not None:
            if "duration_s" in getattr(params_type, "__struct_fields__", ()):
                params.setdefault("duration_s", section.execution_time_s)
            _, found = convert_all(params, params_type, "rebalance.params")
            problems.extend(f"{file}: {line}" for line in found)
        elif params:
            problems.append(f"{file}: rebalance.params: {section.algo!r} takes no parameters")
    for i, entry in enumerate(section.strategies):
        try:
            load_strategy(entry.path)
        except StrategyError as exc:
            problems.append(f"{file}: rebalance.strategies[{i}].path: {exc}")
    for venue in section.venues or ():
        if venue not in config.venues:
            problems.append(f"{file}: rebalance.venues: no venue named {venue!r}")
    if problems:
        raise ConfigError(problems)
    return section


def rebalance(path: str, runtime: str | None, out: TextIO) -> int:
    from node.node import Node
    from tradenode_algos.rebalance.job import RebalanceJob

    config, plugins = load(path)
    section = check(config, plugins)
    logs = config.directory / section.logs
    job = RebalanceJob(section, plugins.algos, logs)
    node = Node(config, plugins, runtime_kind=runtime, extra=[job])
    job.market = node.market
    job.previous_runs = sum(1 for _ in node.journal.entries(types=(RebalancePlanned.__name__,)))
    job.on_done = lambda: node.request_stop("")
    node.start()
    if node.kind == "live":
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: node.request_stop("interrupted"))
    node.run()
    job.abandon(node.stop_reason or "the node's data ended")
    node.stop("rebalance finished")
    print_summary(job, logs, out)
    return 0 if job.status == "done" else 1


def print_summary(job, logs: Path, out: TextIO) -> None:
    plan = job.plan
    if plan is not None:
        out.write(
            f"{plan.run_id} on {plan.date}: NAV {plan.nav} {plan.currency}, "
            f"{len(plan.orders)} order(s) with {plan.algo} over {plan.execution_time_s:g} s\n"
        )
        for order in plan.orders:
            outcome = job.outcomes.get(order.parent_id)
            status = getattr(outcome, "status", "rejected" if outcome else "not sent")
            out.write(
                f"  {order.parent_id}: {order.side} {order.quantity} {order.symbol} "
                f"(~{order.notional:.2f} {plan.currency}): {status}\n"
            )
        for symbol, why in plan.skipped.items():
            out.write(f"  {symbol} left alone: {why}\n")
        if job.nav_after is not None:
            out.write(f"NAV after: {job.nav_after.nav} {job.nav_after.currency}\n")
    out.write(f"status: {job.status}" + (f" — {job.reason}" if job.reason else "") + "\n")
    out.write(f"state written to {logs}\n")
    if job.status != "done":
        print(f"tradenode rebalance: {job.status}: {job.reason}", file=sys.stderr)
