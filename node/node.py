"""Assembles one node from its config: journal, runtime, market state and components.

Start order is portfolio, risk, router, execution, then venues (a venue's first messages must
find everyone listening); shutdown runs in reverse, so venues stop before the components that
track them. The node holds its journal's one-writer lock from construction until it stops.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from node.checkpointer import Checkpointer
from node.component import Component
from node.config import NodeConfig, secret
from node.execution import ExecutionManager
from node.journal import History, Journal, JournalLock, make_folder
from node.market import MarketState
from node.messages import (
    ComponentFailed,
    NodeStarted,
    NodeStopped,
    RecordNav,
    SubmitParentOrder,
    TakeCheckpoint,
    TradingStateChanged,
)
from node.plugins import Plugins
from node.portfolio import Portfolio
from node.reconcile import Reconciler
from node.risk import RiskManager, build_checks
from node.router import Router
from node.runtime.base import RestoreFailed, Runtime
from node.runtime.live import LiveRuntime
from node.runtime.replay import ReplayRuntime
from node.venue import Venue, VenueSetup

log = logging.getLogger("tradenode.node")
_MS = 1_000_000


class NodeSetupError(RuntimeError):
    """A venue cannot be set up (its data or settings are unusable); nothing has started."""


@dataclass
class Outcome:
    """How a run ended, for the exit code: what went wrong, if anything."""

    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class Node:
    """One trading account's node. ``runtime_kind`` overrides the config's choice."""

    config: NodeConfig
    plugins: Plugins
    journal_path: Path | None = None
    runtime_kind: str | None = None
    extra: list[Component] = field(default_factory=list)

    def __post_init__(self) -> None:
        cfg = self.config
        self.plugins.call_lifecycle("tradenode_configured", _log_plugin_error, config=cfg)
        self.kind = self.runtime_kind or cfg.node.runtime
        self.path = self.journal_path or cfg.journal_path
        self.market = MarketState()
        self.stop_event = threading.Event()
        self.stop_reason = ""
        self.control_url: str | None = None
        #: the config's orders that an earlier run on this journal already submitted
        self.orders_from_earlier_runs: list[str] = []
        self._control_ready = threading.Event()
        self._control_error: str | None = None
        self.lock = JournalLock(self.path)
        make_folder(self.path)
        self.lock.acquire()
        try:
            sync = cfg.node.journal_sync or ("normal" if self.kind == "replay" else "full")
            self.journal = Journal(self.path, sync=sync, codec=self.plugins.codec())
            # A start reads the latest checkpoint and the rows after it, however old the node.
            checkpoint = self.journal.latest_checkpoint()
            self.states = checkpoint.states if checkpoint is not None else {}
            after = checkpoint.through_seq if checkpoint is not None else 0
            self.history = History(self.journal, after)
            self.venues = self._build_venues()
        except BaseException:
            self._close_journal()
            raise
        self.start_seq = self.journal.last_seq
        starts = [t for v in self.venues if (t := v.earliest_data_ns()) is not None]
        if self.kind == "replay":
            self.runtime: Runtime = ReplayRuntime(
                start_ns=min(starts, default=0), journal=self.journal, restart_policy=cfg.restart
            )
        else:
            self.runtime = LiveRuntime(journal=self.journal, restart_policy=cfg.restart)
        self.start_ns = self.runtime.now()

    def _build_venues(self) -> list[Venue]:
        cfg = self.config
        venues = []
        setup = VenueSetup(cfg.directory, self.market)
        for name, entry in cfg.venues.items():
            cls = self.plugins.venues.get(entry.plugin).target
            try:
                venue = cls(name, entry.settings, setup)
                venue.earliest_data_ns()  # opens recorded data now: a bad file stops the start
            except (OSError, ValueError) as exc:
                raise NodeSetupError(f"{cfg.path}: venues.{name}: {exc}") from exc
            venues.append(venue)
        return venues

    def _components(self) -> list[tuple[Component, Callable[[], Component] | None]]:
        cfg = self.config
        checks = build_checks(cfg.risk, self.plugins.risk_checks)
        currency = cfg.node.valuation_currency
        venue_names = [v.venue for v in self.venues]
        market = self.market

        def portfolio() -> Portfolio:
            return Portfolio(currency, market.mark)

        def risk() -> RiskManager:
            return RiskManager(cfg.risk, checks, currency, market)

        def router() -> Router:
            return Router(cfg.router, venue_names, market)

        def execution() -> ExecutionManager:
            return ExecutionManager(
                self.plugins.algos,
                market,
                venue_names,
                cfg.node.ready,
                cfg.node.name,
                self.request_stop,
            )

        built: list[tuple[Component, Callable[[], Component] | None]] = [
            (c, None) for c in self.extra
        ]

        def reconciler() -> Reconciler:
            return Reconciler(market, venue_names)

        def checkpointer() -> Checkpointer:
            return Checkpointer(cfg.node.checkpoint_every, lambda: self.journal.last_seq)

        built += [(f(), f) for f in (portfolio, risk, router, reconciler, execution, checkpointer)]
        control = cfg.node.control
        if self.kind == "live" and control.enabled:
            # Imported here: the web stack is only a live node's cost, not a replay's.
            from node.control.component import ControlComponent, EventHub
            from node.control.server import serve
            from node.control.state import ControlState

            token = secret(control.token_env).reveal() if control.token_env else None
            serve_api = serve(control.host, control.port, token)
            view = ControlState(cfg.node.name, venue_names)
            hub = EventHub(keep=control.events_kept)

            def control_api() -> ControlComponent:
                return ControlComponent(view, hub, serve_api, self._listening)

            built.append((control_api(), control_api))
        setup = VenueSetup(cfg.directory, market)
        for venue in self.venues:
            entry = cfg.venues[venue.venue]
            cls = type(venue)
            built.append((venue, lambda cls=cls, n=venue.venue, e=entry: cls(n, e.settings, setup)))
        return built

    # -- running --------------------------------------------------------------------------------

    def start(self) -> None:
        for component, factory in self._components():
            self.runtime.add(component, factory)
        try:
            self.runtime.start(self.history, self.states)
        except RestoreFailed as exc:
            self.runtime.stop()
            self._close_journal()
            raise NodeSetupError(f"{self.path}: {exc}; nothing was started") from exc
        # Operators must be able to reach the node once start returns (and a control API that
        # cannot listen stops the start, saying why).
        if (
            self.kind == "live"
            and self.config.node.control.enabled
            and (not self._control_ready.wait(30) or self._control_error is not None)
        ):
            error = self._control_error or "the control API did not start within 30 s"
            self.runtime.stop()
            self._close_journal()
            raise NodeSetupError(f"{self.config.path}: node.control: {error}")
        now = self.runtime.now()
        self.start_ns = now
        self.runtime.publish(NodeStarted(node=self.config.node.name, ts=now))
        orders = []
        for spec in self.config.orders:
            if self._journaled_parent(spec.parent_id):
                log.info("order %s is already in the journal; not submitted again", spec.parent_id)
                self.orders_from_earlier_runs.append(spec.parent_id)
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
                    params=spec.params,
                    source="config",
                    ts=now + int(spec.after_ms * _MS),
                )
            )

        self.runtime.feed("execution", orders, origin_ns=now)
        self.plugins.call_lifecycle("tradenode_started", _log_plugin_error, node=self)

    def _journaled_parent(self, parent_id: str) -> bool:
        """Whether the journal holds this parent order (however old: not only the rows after
        the last checkpoint). A parent's rows carry its id, so this is one index lookup."""
        rows = self.journal.entries(correlation=parent_id, types=("SubmitParentOrder",))
        return next(iter(rows), None) is not None

    def _listening(self, url: str | None, error: str | None) -> None:
        if url is not None:
            self.control_url = url
            self.lock.update(control_url=url)
        self._control_error = error
        self._control_ready.set()

    def submit(self, order: SubmitParentOrder, sender: str = "node") -> None:
        self.runtime.send("execution", order, sender)

    def run(self) -> None:
        """Run until the replay is over, or (live) until ``request_stop`` or a signal."""
        self.runtime.run(self.stop_event)

    def request_stop(self, reason: str) -> None:
        """Ask the node to stop (from any thread): ``run`` returns."""
        if not self.stop_event.is_set():
            self.stop_reason = reason
            self.stop_event.set()

    def stop(self, reason: str = "stopped") -> None:
        self.plugins.call_lifecycle("tradenode_stopping", _log_plugin_error, node=self)
        runtime = self.runtime
        reason = self.stop_reason or reason
        if runtime.journal_failure is None:
            # Value the account once, at one set of marks, for the record and the report; and
            # store every component's state so that the next start reads nothing older.
            runtime.send("portfolio", RecordNav(reason="node stopping", ts=runtime.now()))
            runtime.publish(TakeCheckpoint(reason="node stopping", ts=runtime.now()))
            if isinstance(runtime, ReplayRuntime):
                runtime.run(until_ns=runtime.now())
        runtime.stop()  # each component drains its inbox first
        if runtime.journal_failure is None:
            # The last row: nothing is delivered any more, it is only the record of the stop.
            runtime.publish(
                NodeStopped(node=self.config.node.name, reason=reason, ts=runtime.now())
            )
        self._close_journal()

    def _close_journal(self) -> None:
        try:
            self.journal.close()
        except Exception as exc:  # a journal that failed may fail to close as well
            log.warning("closing the journal: %s", exc)
        finally:
            self.lock.release()

    def outcome(self) -> Outcome:
        """What went wrong in this run (from the journal rows it wrote)."""
        outcome = Outcome()
        if self.runtime.journal_failure is not None:
            outcome.problems.append(
                f"journal failed: {self.runtime.journal_failure}; trading halted and nothing "
                "was sent after the last journaled row"
            )
            return outcome
        if self.stop_reason:
            outcome.problems.append(self.stop_reason)
        state = None
        journal = Journal(self.path, codec=self.journal.codec, readonly=True)
        try:
            for entry in journal.entries(after_seq=self.start_seq):
                m = entry.message
                if isinstance(m, TradingStateChanged):
                    state = m
                elif isinstance(m, ComponentFailed) and not m.restarting:
                    outcome.problems.append(f"component {m.component} failed: {m.error}")
        finally:
            journal.close()
        if state is not None and state.state == "halted":
            outcome.problems.append(f"trading ended halted: {state.reason}")
        return outcome


def _log_plugin_error(plugin: str, error: str) -> None:
    log.error("plugin %s: %s", plugin, error)
