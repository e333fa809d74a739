"""Assembles one node from its config: journal, runtime, portfolio, risk, router and venues.

Start order is portfolio, risk, router, then venues (a venue's first messages must find everyone
listening); shutdown runs in reverse, so venues stop before the components that track them.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from node.commands import CommandWatcher
from node.component import Component
from node.config import NodeConfig
from node.journal import Journal
from node.messages import Message, NodeStarted, NodeStopped, SubmitParentOrder
from node.plugins import Plugins
from node.portfolio import Portfolio
from node.risk import RiskManager, build_checks
from node.router import Router
from node.runtime.live import LiveRuntime
from node.runtime.replay import ReplayRuntime
from node.venue import Venue

log = logging.getLogger("tradenode.node")
_MS = 1_000_000


def _peek(stream: Iterable[Message]) -> tuple[int | None, Iterator[Message]]:
    iterator = iter(stream)
    first = next(iterator, None)
    if first is None:
        return None, iterator
    return first.ts, itertools.chain([first], iterator)


class NodeSetupError(RuntimeError):
    """A venue cannot be set up (its data or settings are unusable); nothing has started."""


@dataclass
class Node:
    """One trading account's node. ``runtime`` overrides the config's choice (live or replay)."""

    config: NodeConfig
    plugins: Plugins
    journal_path: Path | None = None
    runtime_kind: str | None = None
    extra: list[Component] = field(default_factory=list)

    def __post_init__(self) -> None:
        cfg = self.config
        self.plugins.call_lifecycle("tradenode_configured", _log_plugin_error, config=cfg)
        self.kind = self.runtime_kind or cfg.node.runtime
        path = self.journal_path or cfg.journal_path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(path, sync=cfg.node.journal_sync)
        self.venues: list[Venue] = []
        self._sources: list[tuple[int, Iterator[Message], str]] = []
        for name, entry in cfg.venues.items():
            cls = self.plugins.venues.get(entry.plugin).target
            try:
                venue = cls(name, entry.settings, cfg.directory)
                for stream in venue.sources():
                    first_ts, iterator = _peek(stream)
                    if first_ts is not None:
                        self._sources.append((first_ts, iterator, venue.name))
            except (OSError, ValueError) as exc:
                self.journal.close()
                raise NodeSetupError(f"{cfg.path}: venues.{name}: {exc}") from exc
            self.venues.append(venue)
        self.start_ns = min((ts for ts, _, _ in self._sources), default=0)
        self.commands: CommandWatcher | None = None
        if self.kind == "replay":
            self.runtime: ReplayRuntime | LiveRuntime = ReplayRuntime(
                start_ns=self.start_ns, journal=self.journal, restart_policy=cfg.restart
            )
        else:
            self.runtime = LiveRuntime(journal=self.journal, restart_policy=cfg.restart)

    def _components(self) -> list[tuple[Component, object]]:
        cfg = self.config
        checks = build_checks(cfg.risk, self.plugins.risk_checks)
        currency = cfg.node.valuation_currency
        venue_names = [v.venue for v in self.venues]
        built: list[tuple[Component, object]] = [(c, None) for c in self.extra]
        built += [
            (Portfolio(currency), lambda: Portfolio(currency)),
            (
                RiskManager(cfg.risk, checks, currency),
                lambda: RiskManager(cfg.risk, checks, currency),
            ),
            (Router(cfg.router, venue_names), lambda: Router(cfg.router, venue_names)),
        ]
        for venue in self.venues:
            entry = cfg.venues[venue.venue]
            cls = type(venue)
            built.append(
                (venue, lambda cls=cls, n=venue.venue, e=entry: cls(n, e.settings, cfg.directory))
            )
        return built

    def start(self) -> None:
        for component, factory in self._components():
            self.runtime.add(component, factory)
        self.runtime.start()
        already = {m.parent_id for m in self.runtime.history if isinstance(m, SubmitParentOrder)}
        for _ts, iterator, address in self._sources:
            if self.kind == "replay":
                self.runtime.add_source(iterator, to=address)
            else:
                self.runtime.add_source(iterator, to=address, speed=self.config.node.replay_speed)
        orders = []
        for spec in self.config.orders:
            if spec.parent_id in already:
                log.info("order %s is already in the journal; not submitted again", spec.parent_id)
                continue
            orders.append(
                SubmitParentOrder(
                    parent_id=spec.parent_id,
                    symbol=spec.symbol,
                    side=spec.side,
                    quantity=spec.quantity,
                    algo=spec.algo,
                    limit_price=spec.limit_price,
                    venues=spec.venues,
                    ts=self.start_ns + int(spec.after_ms * _MS),
                )
            )
        if self.kind == "replay":
            self.runtime.add_source(orders, to="router")
            self.runtime.publish(NodeStarted(node=self.config.node.name, ts=self.start_ns))
        else:
            self.runtime.publish(NodeStarted(node=self.config.node.name, ts=self.runtime.now()))
            for order in orders:
                self.runtime.clock.call_later(
                    int(order.ts - self.start_ns),
                    lambda o=order: self.runtime.send("router", o),
                )
            self.commands = CommandWatcher(self.journal, self.runtime)
            self.commands.start()
        self.plugins.call_lifecycle("tradenode_started", _log_plugin_error, node=self)

    def submit(self, order: SubmitParentOrder) -> None:
        self.runtime.send("router", order)

    def stop(self, reason: str = "stopped") -> None:
        self.plugins.call_lifecycle("tradenode_stopping", _log_plugin_error, node=self)
        if self.commands is not None:
            self.commands.stop()
        now = self.runtime.now if isinstance(self.runtime, ReplayRuntime) else self.runtime.now()
        self.runtime.publish(NodeStopped(node=self.config.node.name, reason=reason, ts=now))
        self.runtime.stop()
        self.journal.close()


def _log_plugin_error(plugin: str, error: str) -> None:
    log.error("plugin %s: %s", plugin, error)
