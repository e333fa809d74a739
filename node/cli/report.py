"""``tradenode report CONFIG [PARENT_ID] [--plot FILE.png] [--json]``: execution reports from
the journal.

Without a parent id, a table of every parent order in the journal; with one, its execution
report (the one the node built when it completed, or — still working — one built the same way
from its fills so far) with fills per venue, slices and the maker/taker split, and with
``--plot`` a picture of it (``node.plots``). Read-only: safe while the node runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from node.cli.common import load
from node.cli.errors import UserError


@dataclass
class ParentRecord:
    """One parent order as its journal rows tell it."""

    order: Any  # SubmitParentOrder
    accepted: Any = None  # ParentOrderAccepted
    completed: Any = None  # ParentOrderCompleted
    rejected: Any = None  # ParentOrderRejected
    fills: list[Any] = field(default_factory=list)
    progress: list[Any] = field(default_factory=list)
    slices: list[Any] = field(default_factory=list)  # RouteSlice
    plans: list[Any] = field(default_factory=list)  # SliceRouted
    last_ts: int = 0
    #: the journal's instruments (any symbol): the report's fees are in its symbol's quote
    instruments: list[Any] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.completed is not None:
            return self.completed.status
        if self.rejected is not None:
            return "rejected"
        return "working" if self.accepted is not None else "waiting"

    @property
    def reason(self) -> str:
        if self.completed is not None:
            return self.completed.reason
        return self.rejected.reason if self.rejected is not None else ""

    def report(self) -> Any:
        """The node's execution report, or one built the same way from the fills so far."""
        from node.execution_report import ParentFills, build_report

        if self.completed is not None:
            return self.completed.report
        fills = ParentFills()
        for plan in self.plans:
            fills.add_plan(plan)
        for fill in self.fills:
            fills.add_fill(fill)
        accepted = self.accepted
        return build_report(
            self.order,
            fills,
            accepted.arrival_mid if accepted else None,
            accepted.ts if accepted else self.order.ts,
            self.last_ts,
            self.instruments,
        )


def read_parents(messages: Iterable[Any]) -> dict[str, ParentRecord]:
    """Every parent order in ``messages``, in the order they were submitted."""
    from node.messages import (
        FILL_TYPES,
        ParentOrderAccepted,
        ParentOrderCompleted,
        ParentOrderProgressed,
        ParentOrderRejected,
        RouteSlice,
        SliceRouted,
        SubmitParentOrder,
    )

    parents: dict[str, ParentRecord] = {}
    seen_fills: set[tuple[str, str]] = set()
    for m in messages:
        cls = m.__class__
        if cls is SubmitParentOrder:
            parents.setdefault(m.parent_id, ParentRecord(m))
            continue
        record = parents.get(getattr(m, "parent_id", None) or "")
        if record is None:
            continue
        record.last_ts = max(record.last_ts, m.ts)
        if cls is ParentOrderAccepted:
            record.accepted = m
        elif cls is ParentOrderCompleted:
            record.completed = m
        elif cls is ParentOrderRejected:
            record.rejected = m
        elif cls is ParentOrderProgressed:
            record.progress.append(m)
        elif cls is RouteSlice:
            if not any(s.slice_id == m.slice_id for s in record.slices):
                record.slices.append(m)
        elif cls is SliceRouted:
            record.plans.append(m)
        elif cls in FILL_TYPES:
            key = (m.venue, m.trade_id)
            if not m.trade_id or key not in seen_fills:  # a venue may resend a fill
                seen_fills.add(key)
                record.fills.append(m)
    return parents


def _read(args: argparse.Namespace) -> tuple[list[Any], dict[str, ParentRecord]]:
    from node.journal import Journal
    from node.messages import (
        FILL_TYPES,
        InstrumentsLoaded,
        ParentOrderAccepted,
        ParentOrderCompleted,
        ParentOrderRejected,
        SliceRouted,
        SubmitParentOrder,
    )

    config, plugins = load(args.config)
    path = Path(args.journal) if args.journal else config.journal_path
    if not path.exists():
        raise UserError(f"{path}: no journal yet (the node has not run)")
    journal = Journal(path, codec=plugins.codec(), readonly=True)
    try:
        instruments = [e.message for e in journal.entries(types=(InstrumentsLoaded.__name__,))]
        if args.parent_id:
            rows = [e.message for e in journal.entries(correlation=args.parent_id)]
        else:  # the table needs no progress rows (most of a long journal's parent rows)
            kinds = (
                SubmitParentOrder,
                ParentOrderAccepted,
                ParentOrderCompleted,
                ParentOrderRejected,
                SliceRouted,
                *FILL_TYPES,
            )
            rows = [e.message for e in journal.entries(types=tuple(k.__name__ for k in kinds))]
    finally:
        journal.close()
    parents = read_parents(rows)
    listed = [i for m in instruments for i in m.instruments]
    for record in parents.values():
        record.instruments = listed
    return instruments, parents


def cmd_report(args: argparse.Namespace) -> int:
    instruments, parents = _read(args)
    if args.parent_id:
        record = parents.get(args.parent_id)
        if record is None:
            raise UserError(f"no parent order {args.parent_id!r} in the journal")
        chosen = [record]
    else:
        chosen = list(parents.values())
    if args.plot:
        if len(chosen) != 1:
            raise UserError(
                f"--plot draws one parent order: name one ({len(chosen)} in the journal)"
            )
        series = execution_series(chosen[0])
        try:
            from node.plots import execution_figure

            execution_figure(series, args.plot)
        except OSError as exc:
            raise UserError(f"--plot {args.plot}: {exc.strerror or exc}") from None
    if args.json:
        _print_json(chosen, bool(args.parent_id), sys.stdout)
    elif args.parent_id:
        print_parent(instruments, chosen[0], sys.stdout)
    else:
        print_table(instruments, chosen, sys.stdout)
    if args.plot and not args.json:
        print(f"wrote {args.plot}")
    return 0


def _print_json(records: list[ParentRecord], one: bool, out: TextIO) -> None:
    import msgspec

    items = [
        {
            "parent_id": r.order.parent_id,
            "status": r.status,
            "reason": r.reason,
            "report": r.report() if r.status not in ("rejected", "waiting") else None,
            **({"fills": r.fills} if one else {}),
        }
        for r in records
    ]
    out.write(msgspec.json.encode(items[0] if one else items).decode() + "\n")


def print_table(instruments: list[Any], records: list[ParentRecord], out: TextIO) -> None:
    from node.report import Formats, bps, fees_text

    if not records:
        out.write("no parent orders in the journal\n")
        return
    fmt = Formats(instruments)
    rows = [
        (
            "parent",
            "algo",
            "side",
            "symbol",
            "status",
            "filled",
            "of",
            "avg price",
            "arrival",
            "shortfall",
            "fees",
            "seconds",
        )
    ]
    for r in records:
        o = r.order
        report = r.report() if r.status not in ("rejected", "waiting") else None
        rows.append(
            (
                o.parent_id,
                o.algo,
                o.side,
                o.symbol,
                r.status,
                fmt.quantity(o.symbol, report.filled_quantity if report else None),
                fmt.quantity(o.symbol, o.quantity),
                fmt.price(o.symbol, report.average_price if report else None),
                fmt.price(o.symbol, report.arrival_mid if report else None),
                bps(report.shortfall_bps if report else None),
                fees_text(report) if report else "-",
                f"{(report.finished_ts - report.started_ts) / 1e9:,.1f}" if report else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [
            c.ljust(w) if i < 5 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        out.write("  ".join(cells).rstrip() + "\n")


def print_parent(instruments: list[Any], r: ParentRecord, out: TextIO) -> None:
    from node.report import Formats, print_executions, when

    fmt = Formats(instruments)
    o = r.order
    if r.completed is not None:
        completed = r.completed
    elif r.rejected is not None:
        out.write(f"{o.parent_id}: rejected — {r.rejected.reason}\n")
        return
    else:
        from node.messages import ParentOrderCompleted

        # Still working: the report so far, shown as a completed one would be.
        completed = ParentOrderCompleted(
            parent_id=o.parent_id,
            status="partially_filled" if r.fills else "unfilled",
            reason=f"still {r.status}",
            report=r.report(),
            ts=r.last_ts,
        )
    print_executions([*r.slices, *r.fills, completed], out, fmt)
    if o.limit_price is not None:
        out.write(f"  limit {fmt.price(o.symbol, o.limit_price, 0)}\n")
    if o.params:
        out.write("  params: " + ", ".join(f"{k}={v}" for k, v in o.params.items()) + "\n")
    last = r.progress[-1] if r.progress else None
    if last is not None and last.scheduled_quantity is not None:
        out.write(
            f"  schedule at {when(last.ts)}: {fmt.quantity(o.symbol, last.scheduled_quantity)} "
            f"wanted, {fmt.quantity(o.symbol, last.filled_quantity)} filled\n"
        )


def execution_series(r: ParentRecord) -> Any:
    from node.plots import ExecutionSeries, FillPoint, ProgressPoint

    report = r.report()
    return ExecutionSeries(
        parent_id=r.order.parent_id,
        algo=r.order.algo,
        symbol=r.order.symbol,
        side=r.order.side,
        quantity=r.order.quantity,
        status=r.status,
        start_ts=report.started_ts,
        end_ts=max(report.finished_ts, report.started_ts + 1),
        arrival_mid=report.arrival_mid,
        average_price=report.average_price,
        limit_price=r.order.limit_price,
        shortfall_bps=report.shortfall_bps,
        fills=[FillPoint(f.ts, f.price, f.quantity, f.venue, f.liquidity) for f in r.fills],
        progress=[
            ProgressPoint(p.ts, p.filled_quantity, p.scheduled_quantity, p.mid) for p in r.progress
        ],
    )


def add_commands(sub: Any) -> None:
    text = (
        "execution reports from a node's journal: a table of every parent order, or one "
        "parent's report (PARENT_ID), as JSON (--json) and as a picture (--plot FILE.png)"
    )
    p = sub.add_parser("report", help="execution reports of parent orders", description=text)
    p.add_argument("config", help="the node's TOML config (its journal is read)")
    p.add_argument("parent_id", nargs="?", help="one parent order's id")
    p.add_argument("--journal", help="use this journal file instead of the config's")
    p.add_argument("--plot", metavar="FILE.png", help="draw the parent's execution to a PNG")
    p.add_argument("--json", action="store_true", help="print the report(s) as JSON")
    p.set_defaults(func=cmd_report)
