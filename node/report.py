"""Human-readable reports derived from a run's messages: what a trader reads after a run."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TextIO

from node.config import NodeConfig
from node.messages import (
    BalancesUpdated,
    ComponentFailed,
    Message,
    NavRecorded,
    OrderRejected,
    OrderRouted,
    ParentOrderCompleted,
    ParentOrderRejected,
    PositionChanged,
    RiskRejected,
    TradingStateChanged,
    VenueDisconnected,
)


def _fmt(value: Decimal | None, places: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value:,.{places}f}"


def _table(rows: list[tuple[str, ...]], out: TextIO, indent: str = "  ") -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        out.write(indent + "  ".join(cells) + "\n")


def print_routes(messages: Sequence[Message], out: TextIO) -> None:
    for routed in (m for m in messages if isinstance(m, OrderRouted)):
        out.write(
            f"\nroute {routed.parent_id} (attempt {routed.attempt}, {routed.mode}): "
            f"{routed.side} {routed.quantity} {routed.symbol}\n"
        )
        rows = [("venue", "quantity", "limit", "exp. avg", "exp. fee")]
        for leg in routed.legs:
            rows.append(
                (
                    leg.venue,
                    str(leg.quantity),
                    str(leg.limit_price),
                    _fmt(leg.expected_average_price),
                    _fmt(leg.expected_fee),
                )
            )
        if routed.legs:
            _table(rows, out)
        for venue, why in routed.excluded.items():
            out.write(f"  left out {venue}: {why}\n")
        out.write(
            f"  expected avg price net of fees {_fmt(routed.expected_average_price, 4)}; "
            f"best single venue {routed.best_venue} {_fmt(routed.best_venue_average_price, 4)} "
            f"(saving {_fmt(routed.saving_bps_vs_best_venue)} bps); "
            f"first venue {routed.first_venue} {_fmt(routed.first_venue_average_price, 4)} "
            f"(saving {_fmt(routed.saving_bps_vs_first_venue)} bps)\n"
        )


def print_executions(messages: Sequence[Message], out: TextIO) -> None:
    for done in (m for m in messages if isinstance(m, ParentOrderCompleted)):
        r = done.report
        out.write(
            f"\n{r.parent_id}: {done.status} {r.filled_quantity}/{r.requested_quantity} {r.symbol} "
            f"({r.side}) in {r.child_orders} child order(s)"
            + (f" — {done.reason}" if done.reason else "")
            + "\n"
        )
        if r.venues:
            rows = [("venue", "filled", "avg price", "fees")]
            for v in r.venues:
                rows.append(
                    (
                        v.venue,
                        str(v.quantity),
                        _fmt(v.average_price, 4),
                        f"{_fmt(v.fees, 4)} {v.fee_currency}",
                    )
                )
            _table(rows, out)
        out.write(
            f"  average price {_fmt(r.average_price, 4)}, arrival mid {_fmt(r.arrival_mid, 4)}, "
            f"slippage {_fmt(r.slippage_bps)} bps, fees {_fmt(r.fees, 4)} {r.fee_currency}\n"
        )
        if r.best_venue is not None:
            out.write(
                f"  vs whole order on best single venue ({r.best_venue} at "
                f"{_fmt(r.best_venue_average_price, 4)} net): "
                f"saved {_fmt(r.saving_bps_vs_best_venue)} bps\n"
            )
    for m in messages:
        if isinstance(m, ParentOrderRejected):
            out.write(f"\n{m.parent_id}: rejected — {m.reason}\n")
        elif isinstance(m, RiskRejected):
            out.write(f"  risk refused {m.client_order_id}: {m.check}: {m.detail}\n")
        elif isinstance(m, OrderRejected):
            out.write(f"  {m.venue} rejected {m.client_order_id}: {m.reason}\n")
        elif isinstance(m, TradingStateChanged):
            out.write(f"  trading {m.state}: {m.reason}\n")
        elif isinstance(m, ComponentFailed):
            out.write(f"  component {m.component} failed: {m.error}\n")
        elif isinstance(m, VenueDisconnected):
            out.write(f"  venue {m.venue} disconnected: {m.reason}\n")


def print_balances(messages: Sequence[Message], out: TextIO, first: bool = False) -> None:
    latest: dict[str, BalancesUpdated] = {}
    for m in messages:
        if isinstance(m, BalancesUpdated) and not (first and m.venue in latest):
            latest[m.venue] = m
    rows = [("venue", "currency", "total", "free")]
    for venue in sorted(latest):
        for currency, balance in latest[venue].balances.items():
            rows.append((venue, currency, f"{balance.total:,f}", f"{balance.free:,f}"))
    if len(rows) > 1:
        _table(rows, out)


def print_positions(messages: Sequence[Message], out: TextIO) -> None:
    """Each symbol's position over all venues, and the last NAV the portfolio recorded."""
    latest: dict[str, PositionChanged] = {}
    for m in messages:
        if isinstance(m, PositionChanged) and m.position.venue is None:
            latest[m.position.symbol] = m
    if latest:
        out.write("\npositions (all venues)\n")
        rows = [("symbol", "quantity", "avg entry", "realised", "unrealised", "fees")]
        for symbol in sorted(latest):
            p = latest[symbol].position
            rows.append(
                (
                    symbol,
                    f"{p.quantity:f}",
                    _fmt(p.average_price, 4),
                    _fmt(p.realized_pnl),
                    _fmt(p.unrealized_pnl),
                    _fmt(p.fees),
                )
            )
        _table(rows, out)
    navs = [m for m in messages if isinstance(m, NavRecorded)]
    if navs:
        nav = navs[-1]
        out.write(
            f"\nNAV {_fmt(nav.nav)} {nav.currency} (realised {_fmt(nav.realized_pnl)}, "
            f"unrealised {_fmt(nav.unrealized_pnl)}, fees {_fmt(nav.fees)})\n"
        )


def print_run_report(messages: Sequence[Message], out: TextIO) -> None:
    print_routes(messages, out)
    print_executions(messages, out)
    print_positions(messages, out)
    out.write("\nfinal balances\n")
    print_balances(messages, out)


def print_demo_report(config: NodeConfig, messages: Sequence[Message], out: TextIO) -> None:
    names = ", ".join(config.venues)
    out.write(
        f"tradenode demo — node {config.node.name!r}: {len(config.venues)} simulated venues "
        f"({names}) on real recorded order books, replay runtime, no keys, no network\n"
    )
    out.write("\nstarting balances\n")
    print_balances(messages, out, first=True)
    print_run_report(messages, out)
