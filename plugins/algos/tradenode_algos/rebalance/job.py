"""The rebalancing job as a component of a running node: plan from the node's own view of the
account, trade through a chosen algorithm, record what happened.

Venue-agnostic by construction: NAV comes from the node's portfolio (``RecordNav`` →
``NavRecorded``, journaled), positions from what the venues report (a venue's reconciled
position for the symbol when it reports positions, else its balance of the instrument's base
for spot-like instruments), prices from the node's books (``MarketState.mark``), lots and
minimums from the venues' instruments. Every order is a parent order worked by the configured
algorithm through the router, like any other.

Sequence: wait for ``NodeReady`` (a venue left out stops the job: positions would be
incomplete) → value the account → run the strategies and plan (``plan_trades``), journal the
plan (``RebalancePlanned``) → sells, then buys once every sell has filled (a sell that did not
fill stops the buys: the cash they count on is not there) → value the account again → append to
the NAV history and write the run's state files → ``RebalanceFinished``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import msgspec

from node.component import Component
from node.market import MarketState
from node.messages import (
    DERIVATIVES,
    FILL_TYPES,
    AccountValued,
    CancelParentOrder,
    Fill,
    Message,
    NavRecorded,
    NodeReady,
    ParentOrderCompleted,
    ParentOrderRejected,
    RecordNav,
    SubmitParentOrder,
    TimerFired,
    ValueAccount,
    VenueReconciled,
)
from node.registry import Registry
from tradenode_algos.rebalance.config import RebalanceSection
from tradenode_algos.rebalance.logs import append_nav, write_run
from tradenode_algos.rebalance.messages import (
    PlannedOrder,
    RebalanceFinished,
    RebalancePlanned,
    StrategyTargets,
)

log = logging.getLogger("tradenode.rebalance")

ZERO = Decimal(0)
_NS = 1_000_000_000
_NAV_WAIT = "rebalance.nav_wait"
_TIMEOUT = "rebalance.timeout"
#: how long the portfolio may take to value the account before the job asks why it cannot
_NAV_WAIT_NS = 5 * _NS


class RebalanceJob(Component):
    """One rebalancing run inside a node; see the module docstring. Address ``rebalance``."""

    subscriptions = (
        NodeReady,
        NavRecorded,
        VenueReconciled,
        ParentOrderCompleted,
        ParentOrderRejected,
        *FILL_TYPES,
    )

    def __init__(
        self,
        section: RebalanceSection,
        algos: Registry[Any],
        logs_dir: Path,
        on_done: Callable[[], None] | None = None,
        name: str = "rebalance",
    ) -> None:
        super().__init__(name)
        self.section = section
        self.algos = algos
        self.logs_dir = logs_dir
        self.on_done = on_done
        self.market: MarketState | None = None  # the node's, set before it starts
        #: runs in the journal before this one (``RebalancePlanned`` rows): names this run
        self.previous_runs = 0
        self.reported: dict[str, dict[str, Decimal]] = {}  # venue → symbol → reported position
        self.stage = "waiting for the node to be ready"
        self.run_id = ""
        self.plan: RebalancePlanned | None = None
        self.nav_before: NavRecorded | None = None
        self.nav_after: NavRecorded | None = None
        self.phases: list[list[PlannedOrder]] = []
        self.sent: set[str] = set()
        self.outcomes: dict[str, ParentOrderCompleted | ParentOrderRejected] = {}
        self.fills: list[Fill] = []
        self.status = ""
        self.reason = ""
        self.finished = False

    # -- messages -------------------------------------------------------------------------------

    def on_message(self, message: Message) -> None:
        if self.finished:
            return
        cls = message.__class__
        if cls is VenueReconciled:
            if not message.error:  # type: ignore[attr-defined]
                self.reported[message.venue] = {  # type: ignore[attr-defined]
                    p.symbol: p.quantity
                    for p in message.positions  # type: ignore[attr-defined]
                }
        elif cls is NodeReady:
            self._on_ready(message)  # type: ignore[arg-type]
        elif cls is NavRecorded:
            self._on_nav(message)  # type: ignore[arg-type]
        elif cls is AccountValued:
            if self.stage.startswith("valuing"):
                why = message.error or "no valuation"  # type: ignore[attr-defined]
                self._fail(f"the portfolio cannot value the account: {why}")
        elif cls in FILL_TYPES:
            if message.parent_id in self._parent_ids():  # type: ignore[attr-defined]
                self.fills.append(message)  # type: ignore[arg-type]
        elif cls in (ParentOrderCompleted, ParentOrderRejected):
            if message.parent_id in self._parent_ids():  # type: ignore[attr-defined]
                self.outcomes[message.parent_id] = message  # type: ignore[attr-defined,assignment]
                self._advance()
        elif cls is TimerFired:
            if message.name == _NAV_WAIT and self.stage.startswith("valuing"):  # type: ignore[attr-defined]
                self.ctx.send("portfolio", ValueAccount(reply_to=self.name, ts=self.ctx.now()))
            elif message.name == _TIMEOUT:  # type: ignore[attr-defined]
                self._time_out()

    def _on_ready(self, ready: NodeReady) -> None:
        if self.stage != "waiting for the node to be ready":
            return
        wanted = self.section.venues
        missing = {v: why for v, why in ready.missing.items() if wanted is None or v in wanted}
        if missing:
            detail = "; ".join(f"{v}: {why}" for v, why in missing.items())
            self._fail(f"venues not ready, positions would be incomplete: {detail}")
            return
        self.ctx.schedule(int(self.section.wait_s * _NS), _TIMEOUT, background=True)
        self._value("valuing the account before trading")

    def _value(self, stage: str) -> None:
        self.stage = stage
        self.ctx.send("portfolio", RecordNav(reason="rebalance", ts=self.ctx.now()))
        self.ctx.schedule(_NAV_WAIT_NS, _NAV_WAIT, background=True)

    def _on_nav(self, nav: NavRecorded) -> None:
        if self.stage == "valuing the account before trading":
            self.nav_before = nav
            try:
                self.plan = self._plan(nav)
            except ValueError as exc:
                self._fail(str(exc))
                return
            self.ctx.publish(self.plan)
            sells = [o for o in self.plan.orders if o.side == "sell"]
            buys = [o for o in self.plan.orders if o.side == "buy"]
            self.phases = [phase for phase in (sells, buys) if phase]
            self._next_phase()
        elif self.stage == "valuing the account after trading":
            self.nav_after = nav
            self._close()

    # -- planning -------------------------------------------------------------------------------

    def _plan(self, nav: NavRecorded) -> RebalancePlanned:
        from tradenode_algos.rebalance.planner import Threshold, plan_trades
        from tradenode_algos.rebalance.strategies import (
            PRECISION,
            StrategyContext,
            StrategySpec,
            target_quantities,
        )

        assert self.market is not None
        s = self.section
        today = datetime.fromtimestamp(self.ctx.now() / _NS, UTC).date()
        self.run_id = f"rebalance-{today:%Y%m%d}-{self.previous_runs + 1}"
        if s.reference_date is not None and s.reference_date > today:
            raise ValueError(f"reference_date {s.reference_date} is after today ({today})")
        listed = self._listed()
        prices = {
            symbol: mark
            for symbol in sorted(listed)
            if (mark := self.market.mark(symbol)) is not None
        }
        positions = {symbol: self._position(symbol) for symbol in sorted(listed)}
        context = StrategyContext(date=today, prices=prices, positions=positions, nav=nav.nav)
        per_strategy = []
        targets: dict[str, Decimal] = {}
        for entry in s.strategies:
            params = dict(entry.params)
            if s.reference_nav is not None:
                params.setdefault("reference_nav", str(s.reference_nav))
            if s.reference_date is not None:
                params.setdefault("reference_date", s.reference_date.isoformat())
            spec = StrategySpec(entry.path, entry.weight, params)
            wanted = target_quantities([spec], context, leverage=s.leverage)
            per_strategy.append(
                StrategyTargets(path=entry.path, weight=entry.weight, targets=wanted)
            )
            with localcontext() as ctx:
                ctx.prec = PRECISION
                for symbol, quantity in wanted.items():
                    targets[symbol] = targets.get(symbol, ZERO) + quantity
        universe = sorted(s.universe if s.universe is not None else targets)
        outside = sorted(set(targets) - set(universe))
        if outside:
            raise ValueError(f"strategies want {', '.join(outside)}, outside universe")
        lots, floors = {}, {}
        for symbol in universe:
            instruments = listed.get(symbol)
            if not instruments:
                raise ValueError(f"{symbol} is not listed on the venues the job may use")
            for ins in instruments:
                if ins.quote != nav.currency and ins.settlement_currency != nav.currency:
                    raise ValueError(
                        f"{symbol} on {ins.venue} is priced in {ins.quote}, NAV in "
                        f"{nav.currency}: weights would mix currencies"
                    )
            lots[symbol] = max(i.lot_size for i in instruments)
            floors[symbol] = max(i.min_notional for i in instruments)
        self._check_shared_bases(universe, listed)
        threshold = None
        if s.threshold:
            threshold = Threshold.nav_fraction(s.threshold)
        elif s.threshold_amount is not None:
            threshold = Threshold.absolute(s.threshold_amount)
        held = {symbol: positions[symbol] for symbol in universe}
        plan = plan_trades(
            held,
            {symbol: targets.get(symbol, ZERO) for symbol in universe},
            nav.nav,
            prices,
            lots,
            threshold=threshold,
            leverage=s.leverage,
            min_notional=floors,
            cash_buffer=s.cash_buffer,
        )
        orders = [
            PlannedOrder(
                parent_id=f"{self.run_id}-{k}",
                symbol=t.symbol,
                side=t.side,
                quantity=t.quantity,
                price=t.price,
                notional=t.notional,
                reason=t.reason,
            )
            for k, t in enumerate(plan.trades, 1)
        ]
        return RebalancePlanned(
            run_id=self.run_id,
            date=today.isoformat(),
            nav=nav.nav,
            currency=nav.currency,
            leverage=s.leverage,
            reference_nav=s.reference_nav,
            reference_date=s.reference_date.isoformat() if s.reference_date else None,
            prices={k: v for k, v in prices.items() if k in universe},
            positions=held,
            strategies=per_strategy,
            targets={symbol: targets.get(symbol, ZERO) for symbol in universe},
            orders=orders,
            skipped={item.symbol: item.reason for item in plan.skipped},
            algo=s.algo,
            execution_time_s=s.execution_time_s,
            ts=self.ctx.now(),
        )

    def _listed(self) -> dict[str, list]:
        """Every symbol listed on the venues the job may use, with its instruments."""
        assert self.market is not None
        out: dict[str, list] = {}
        for (venue, symbol), ins in sorted(self.market.instruments.items()):
            if ins.tradable and (self.section.venues is None or venue in self.section.venues):
                out.setdefault(symbol, []).append(ins)
        return out

    def _position(self, symbol: str) -> Decimal:
        """The account's position in ``symbol`` over the venues the job may use."""
        assert self.market is not None
        total = ZERO
        for ins in self._listed().get(symbol, ()):
            reported = self.reported.get(ins.venue, {})
            if symbol in reported:
                total += reported[symbol]
            elif ins.asset_class not in DERIVATIVES:
                balances = self.market.venues[ins.venue].balances or {}
                held = balances.get(ins.base)
                total += held.total if held is not None else ZERO
        return total

    def _check_shared_bases(self, universe: list[str], listed: dict[str, list]) -> None:
        """Two managed symbols on one venue paid from the same base balance cannot each claim
        it as their position: refuse rather than count it twice."""
        seen: dict[tuple[str, str], str] = {}
        for symbol in universe:
            for ins in listed[symbol]:
                if ins.asset_class in DERIVATIVES or symbol in self.reported.get(ins.venue, {}):
                    continue
                other = seen.setdefault((ins.venue, ins.base), symbol)
                if other != symbol:
                    raise ValueError(
                        f"{other} and {symbol} on {ins.venue} are both held as its {ins.base} "
                        "balance: the job cannot tell their positions apart"
                    )

    # -- trading --------------------------------------------------------------------------------

    def _parent_ids(self) -> set[str]:
        return {o.parent_id for o in self.plan.orders} if self.plan else set()

    def _params(self) -> dict[str, Any]:
        params = dict(self.section.params)
        config_type = self.algos.get(self.section.algo).config_type
        if config_type is not None and any(
            f.name == "duration_s" for f in msgspec.structs.fields(config_type)
        ):
            params.setdefault("duration_s", self.section.execution_time_s)
        return params

    def _next_phase(self) -> None:
        if not self.phases:
            self._value("valuing the account after trading")
            return
        phase = self.phases.pop(0)
        self.stage = f"working the {phase[0].side}s"
        now = self.ctx.now()
        params = self._params()
        for order in phase:
            self.sent.add(order.parent_id)
            self.ctx.send(
                "execution",
                SubmitParentOrder(
                    parent_id=order.parent_id,
                    symbol=order.symbol,
                    side=order.side,
                    quantity=order.quantity,
                    algo=self.section.algo,
                    venues=self.section.venues,
                    params=params,
                    source=f"rebalance {self.run_id}",
                    ts=now,
                ),
            )

    def _advance(self) -> None:
        """An order of the current phase ended: next phase when all of it has."""
        if not self.stage.startswith("working the"):
            return
        if any(parent_id not in self.outcomes for parent_id in self.sent):
            return
        short = self._short()
        if short and self.phases:
            self.reason = f"buys not sent: the sells did not all fill ({short})"
            self.phases = []
        elif short:
            self.reason = short
        self._next_phase()

    def _short(self) -> str:
        """The orders that did not fill, with their status and reason."""
        parts = []
        for parent_id, outcome in self.outcomes.items():
            if isinstance(outcome, ParentOrderRejected):
                parts.append(f"{parent_id} rejected: {outcome.reason}")
            elif outcome.status != "filled":
                parts.append(f"{parent_id} {outcome.status}: {outcome.reason}")
        return "; ".join(parts)

    def _time_out(self) -> None:
        if not self.stage.startswith("working the"):
            return
        self.phases = []
        self.reason = f"timed out after {self.section.wait_s:g} s"
        # in a fixed order: a set's order follows the hash seed, and the journal must not
        for parent_id in sorted(self.sent - set(self.outcomes)):
            self.ctx.send(
                "execution",
                CancelParentOrder(
                    parent_id=parent_id, reason=self.reason, source="rebalance", ts=self.ctx.now()
                ),
            )

    # -- the record -----------------------------------------------------------------------------

    def _fail(self, reason: str) -> None:
        log.error("rebalance: %s", reason)
        self.status, self.reason = "failed", reason
        self._finish()

    def _close(self) -> None:
        self.status = "incomplete" if self.reason else "done"
        self._finish()

    def _finish(self) -> None:
        nav = self.nav_after.nav if self.nav_after is not None else None
        self.write_state()
        self.finished = True
        self.stage = self.status
        self.ctx.publish(
            RebalanceFinished(
                run_id=self.run_id or "rebalance",
                status=self.status,  # type: ignore[arg-type]
                reason=self.reason,
                nav=nav,
                ts=self.ctx.now(),
            )
        )
        if self.on_done is not None:
            self.on_done()

    def abandon(self, reason: str) -> None:
        """The node stopped before the job finished (the recording ended, a signal): write
        what is known, saying so. Called by the command after the node's run returned."""
        if self.finished:
            return
        self.status = "failed" if self.plan is None else "incomplete"
        self.reason = f"{reason} while {self.stage}" + (f"; {self.reason}" if self.reason else "")
        self.write_state()
        self.finished = True

    def write_state(self) -> Path | None:
        """The run's state files and its NAV history line (nothing before a plan existed but
        the failure itself)."""
        now = self.ctx.now()
        after = self._positions_after()
        state = {
            "run_id": self.run_id,
            "status": self.status,
            "reason": self.reason,
            "written_ts": now,
        }
        folder = write_run(
            self.logs_dir,
            self.run_id or f"rebalance-failed-{now}",
            {
                "nav": {
                    **state,
                    "before": self.nav_before,
                    "after": self.nav_after,
                },
                "targets": {
                    **state,
                    "strategies": self.plan.strategies if self.plan else [],
                    "combined": self.plan.targets if self.plan else {},
                    "prices": self.plan.prices if self.plan else {},
                },
                "positions": {
                    **state,
                    "venues": self.reported,
                    "before": self.plan.positions if self.plan else {},
                    "after": after,
                },
                "orders": {
                    **state,
                    "planned": self.plan.orders if self.plan else [],
                    "skipped": self.plan.skipped if self.plan else {},
                    "outcomes": list(self.outcomes.values()),
                },
                "trades": {**state, "fills": self.fills},
            },
        )
        if self.plan is not None:
            append_nav(
                self.logs_dir,
                {
                    "run_id": self.run_id,
                    "date": self.plan.date,
                    "ts": now,
                    "currency": self.plan.currency,
                    "nav_before": self.plan.nav,
                    "nav_after": self.nav_after.nav if self.nav_after else None,
                    "status": self.status,
                },
            )
        return folder

    def _positions_after(self) -> dict[str, Decimal]:
        if self.plan is None:
            return {}
        after = dict(self.plan.positions)
        for fill in self.fills:
            sign = 1 if fill.side == "buy" else -1
            after[fill.symbol] = after.get(fill.symbol, ZERO) + sign * fill.quantity
        return after
