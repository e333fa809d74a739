"""What ``status`` and ``watch`` show: a running node's state as tables and progress bars."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from node.control.views import NodeState, ParentView
from node.messages import (
    FILL_TYPES,
    ParentOrderAccepted,
    ParentOrderCompleted,
    ParentOrderProgressed,
    TradingStateChanged,
    VenueDisconnected,
)
from node.report import money, when


def _fraction(p: ParentView) -> float:
    return float(p.filled_quantity / p.quantity) if p.quantity else 0.0


def status_tables(state: NodeState) -> list[Table]:
    head = Table(title=f"node {state.node}", show_header=False, box=None)
    head.add_row("trading", f"{state.trading_state} ({state.trading_reason})")
    head.add_row("ready", "yes" if state.ready else "no: waiting for venues")
    if state.nav is not None:
        head.add_row("NAV", f"{money(state.nav.nav, state.nav.currency)} at {when(state.nav.ts)}")
    for key, why in state.halted_instruments.items():
        head.add_row("halted", f"{key}: {why}")

    venues = Table(title="venues")
    for column in ("venue", "status", "balances"):
        venues.add_column(column)
    for v in state.venues:
        status = "connected" if v.connected else f"down: {v.reason}"
        if v.status:
            status += f" ({v.status}{': ' + v.detail if v.detail else ''})"
        balances = ", ".join(
            f"{money(b.total, c)} (free {money(b.free, c)})" for c, b in sorted(v.balances.items())
        )
        venues.add_row(v.name, status, balances)

    positions = Table(title="positions")
    for column in ("symbol", "venue", "quantity", "avg entry", "unrealised"):
        positions.add_column(column, justify="right" if column != "symbol" else "left")
    for p in state.positions:
        if p.quantity:
            positions.add_row(
                p.symbol,
                p.venue or "",
                f"{p.quantity}",
                f"{p.average_price}",
                money(p.unrealized_pnl),
            )

    parents = Table(title="open parent orders")
    for column in ("parent", "algo", "side", "filled", "avg", "state"):
        parents.add_column(column)
    for p in state.parents:
        parents.add_row(
            p.parent_id,
            p.algo,
            f"{p.side} {p.quantity} {p.symbol}",
            f"{p.filled_quantity} ({_fraction(p):.0%})",
            f"{p.average_price}" if p.average_price is not None else "-",
            p.progress or p.state,
        )
    return [head, venues, positions, parents]


def print_status(state: NodeState) -> None:
    console = Console()
    for table in status_tables(state):
        console.print(table)


def watch(client: Any, seconds: float | None) -> int:
    """Progress bars per parent order, and fills and state changes as lines, until Ctrl-C or
    ``seconds``."""
    console = Console()
    progress = Progress(
        TextColumn("{task.fields[parent]}"),
        BarColumn(),
        TextColumn("{task.fields[filled]}/{task.fields[quantity]} {task.fields[state]}"),
        console=console,
    )
    tasks: dict[str, Any] = {}

    def bar(p: ParentView) -> None:
        fields = dict(
            parent=p.parent_id,
            filled=p.filled_quantity,
            quantity=p.quantity,
            state=p.progress or p.state,
        )
        if p.parent_id not in tasks:
            tasks[p.parent_id] = progress.add_task("", total=float(p.quantity) or 1.0, **fields)
        progress.update(tasks[p.parent_id], completed=float(p.filled_quantity), **fields)

    for p in client.state().parents:
        bar(p)
    deadline = time.monotonic() + seconds if seconds is not None else None
    with Live(progress, console=console, refresh_per_second=8):
        for event in client.events(heartbeats=True):
            if deadline is not None and time.monotonic() >= deadline:
                break
            if event is None:
                continue
            if isinstance(event, ParentOrderAccepted):
                bar(
                    ParentView(
                        parent_id=event.parent_id,
                        symbol=event.symbol,
                        side=event.side,
                        quantity=event.quantity,
                        algo=event.algo,
                        state="working",
                    )
                )
            elif isinstance(event, ParentOrderProgressed):
                known = tasks.get(event.parent_id)
                if known is None:
                    views = {v.parent_id: v for v in client.orders()}
                    if event.parent_id in views:
                        bar(views[event.parent_id])
                    continue
                progress.update(
                    known,
                    completed=float(event.filled_quantity),
                    filled=event.filled_quantity,
                    state=event.state,
                )
            elif isinstance(event, ParentOrderCompleted):
                r = event.report
                if event.parent_id in tasks:
                    progress.update(
                        tasks[event.parent_id],
                        completed=float(r.filled_quantity),
                        filled=r.filled_quantity,
                        state=event.status,
                    )
                console.print(
                    f"{event.parent_id}: {event.status} {r.filled_quantity}/"
                    f"{r.requested_quantity} {r.symbol} avg {r.average_price}"
                )
            elif event.__class__ in FILL_TYPES:
                console.print(
                    f"fill {event.venue} {event.side} {event.quantity} {event.symbol} @ "  # type: ignore[attr-defined]
                    f"{event.price} ({event.parent_id or 'no parent'})"  # type: ignore[attr-defined]
                )
            elif isinstance(event, TradingStateChanged):
                console.print(f"trading {event.state}: {event.reason}")
            elif isinstance(event, VenueDisconnected):
                console.print(f"venue {event.venue} down: {event.reason}")
        else:
            console.print("the node ended the event stream: it is stopping")
    return 0
