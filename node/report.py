"""Human-readable reports derived from a run's journal: what a trader reads after a run.

Numbers are shown as a trader reads them: quantities at the instrument's lot precision, prices
at its tick, money at two decimals for fiat and stablecoins (eight for other coins), with the
currency; positions and NAV come from one ``NavRecorded``, so they were marked at the same
moment, which the report states.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal
from typing import TextIO

from node.book import precision_of
from node.config import NodeConfig
from node.messages import (
    FILL_TYPES,
    BalancesUpdated,
    ComponentFailed,
    ExecutionReport,
    Fill,
    Instrument,
    InstrumentsLoaded,
    Message,
    NavRecorded,
    OrderRejected,
    ParentOrderCompleted,
    ParentOrderRejected,
    ParentOrderWaiting,
    RiskRejected,
    RouteSlice,
    SliceRouted,
    TradingStateChanged,
    VenueDisconnected,
    VenueFill,
)

_FIAT = {"USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "USDT", "USDC", "BUSD", "DAI", "FDUSD"}


class Formats:
    """How to show the numbers of a run, from the instruments its venues listed."""

    def __init__(self, messages: Sequence[Message]) -> None:
        self.instruments: dict[str, Instrument] = {}
        for m in messages:
            if isinstance(m, InstrumentsLoaded):
                for ins in m.instruments:
                    self.instruments.setdefault(ins.symbol, ins)

    def quantity(self, symbol: str, value: Decimal | None) -> str:
        if value is None:
            return "-"
        ins = self.instruments.get(symbol)
        places = precision_of(ins.lot_size) if ins is not None else 8
        return f"{value:,.{places}f}"

    def price(self, symbol: str, value: Decimal | None, extra: int = 2) -> str:
        """A price at the tick's precision (``extra`` more places for averages)."""
        if value is None:
            return "-"
        ins = self.instruments.get(symbol)
        places = (precision_of(ins.tick_size) if ins is not None else 2) + extra
        return f"{value:,.{places}f}"


def money(value: Decimal | None, currency: str = "") -> str:
    if value is None:
        return "-"
    places = 2 if currency in _FIAT or not currency else 8
    text = f"{value:,.{places}f}"
    if text.startswith("-") and not any(c not in "-0.," for c in text):
        text = text[1:]
    return f"{text} {currency}".rstrip()


def fees_text(item: ExecutionReport | VenueFill) -> str:
    """A report's fees: in its quote, then those in any other currency (``other_fees``)."""
    shown = item.fees or item.fee_currency or not item.other_fees
    parts = [money(item.fees, item.fee_currency)] if shown else []
    parts += [money(amount, currency) for currency, amount in sorted(item.other_fees.items())]
    return " + ".join(parts)


def bps(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:.2f} bps"


#: before this (2000-01-01 UTC) a time is a replay clock started at zero, not a date: books
#: recorded without wall-clock times (the order-graph snapshots) are replayed from t = 0
_FIRST_DATE_NS = 946_684_800 * 10**9


def when(ts: int) -> str:
    if ts < _FIRST_DATE_NS:
        return f"t+{ts / 1e9:.3f} s"
    return (
        time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts / 1e9)) + f".{ts % 10**9 // 10**6:03d}Z"
    )


def _table(rows: list[tuple[str, ...]], out: TextIO, indent: str = "  ") -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        out.write(indent + "  ".join(cells) + "\n")


def print_routes(messages: Sequence[Message], out: TextIO, fmt: Formats) -> None:
    for routed in (m for m in messages if isinstance(m, SliceRouted)):
        s = routed.symbol
        out.write(
            f"\nroute {routed.parent_id} slice {routed.slice_id} (attempt {routed.attempt}, "
            f"{routed.mode}): {routed.side} {fmt.quantity(s, routed.quantity)} {s}\n"
        )
        rows = [("venue", "quantity", "limit", "exp. avg", "exp. fee")]
        for leg in routed.legs:
            rows.append(
                (
                    leg.venue,
                    fmt.quantity(s, leg.quantity),
                    fmt.price(s, leg.limit_price, 0),
                    fmt.price(s, leg.expected_average_price),
                    money(leg.expected_fee),
                )
            )
        if routed.legs:
            _table(rows, out)
        for venue, why in routed.excluded.items():
            out.write(f"  left out {venue}: {why}\n")
        for venue, why in routed.collared.items():
            out.write(f"  {venue}: {why}\n")
        if routed.expected_average_price is not None:
            line = f"  expected avg price net of fees {fmt.price(s, routed.expected_average_price)}"
            if routed.best_venue is not None:
                line += (
                    f"; best single venue {routed.best_venue} "
                    f"{fmt.price(s, routed.best_venue_average_price)} "
                    f"(saving {bps(routed.saving_bps_vs_best_venue)})"
                )
            else:
                line += "; no single venue could fill it all"
            out.write(line + "\n")


def print_executions(messages: Sequence[Message], out: TextIO, fmt: Formats) -> None:
    slices: dict[str, list[RouteSlice]] = {}
    fills: dict[str, list[Fill]] = {}
    for m in messages:
        if isinstance(m, RouteSlice):
            slices.setdefault(m.parent_id, []).append(m)
        elif isinstance(m, FILL_TYPES) and m.parent_id:
            fills.setdefault(m.parent_id, []).append(m)
    for done in (m for m in messages if isinstance(m, ParentOrderCompleted)):
        r = done.report
        s = r.symbol
        out.write(
            f"\n{r.parent_id} ({r.algo}): {done.status} {fmt.quantity(s, r.filled_quantity)}/"
            f"{fmt.quantity(s, r.requested_quantity)} {s} ({r.side}) in {r.child_orders} "
            "child order(s)" + (f" — {done.reason}" if done.reason else "") + "\n"
        )
        if r.venues:
            rows = [("venue", "filled", "avg price", "fees")]
            for v in r.venues:
                rows.append(
                    (
                        v.venue,
                        fmt.quantity(s, v.quantity),
                        fmt.price(s, v.average_price),
                        fees_text(v),
                    )
                )
            _table(rows, out)
        out.write(
            f"  average price {fmt.price(s, r.average_price)}, arrival mid "
            f"{fmt.price(s, r.arrival_mid)}, shortfall {bps(r.shortfall_bps)}, fees "
            f"{fees_text(r)}, {(r.finished_ts - r.started_ts) / 1e9:,.3f} s\n"
        )
        if r.best_venue is not None:
            out.write(
                f"  vs the whole order on the best single venue ({r.best_venue} at "
                f"{fmt.price(s, r.best_venue_average_price)} net): saved "
                f"{bps(r.saving_bps_vs_best_venue)}\n"
            )
        out.write(f"  started {when(r.started_ts)}, ended {when(r.finished_ts)}\n")
        _print_slices(slices.get(r.parent_id, []), fills.get(r.parent_id, []), out, fmt, s)
    for m in messages:
        if isinstance(m, ParentOrderRejected):
            out.write(f"\n{m.parent_id}: rejected — {m.reason}\n")
        elif isinstance(m, ParentOrderWaiting):
            out.write(f"  {m.parent_id} waiting: {m.reason}\n")
        elif isinstance(m, RiskRejected):
            out.write(f"  risk refused {m.client_order_id}: {m.check}: {m.detail}\n")
        elif isinstance(m, OrderRejected):
            out.write(f"  {m.venue} rejected {m.client_order_id}: {m.reason}\n")
        elif isinstance(m, TradingStateChanged) and m.reason != "node started":
            out.write(f"  trading {m.state}: {m.reason}\n")
        elif isinstance(m, ComponentFailed):
            out.write(f"  component {m.component} failed: {m.error}\n")
        elif isinstance(m, VenueDisconnected):
            out.write(f"  venue {m.venue} disconnected: {m.reason}\n")


def _print_slices(
    slices: list[RouteSlice], fills: list[Fill], out: TextIO, fmt: Formats, symbol: str
) -> None:
    """How an algorithm worked the parent: its slices, and what rested against what took."""
    passive = sum(1 for m in slices if m.urgency == "post")
    if len(slices) < 2 and not passive:
        return  # one immediate split: the route above says it all
    maker = sum((f.quantity for f in fills if f.liquidity == "maker"), Decimal(0))
    taker = sum((f.quantity for f in fills if f.liquidity != "maker"), Decimal(0))
    out.write(
        f"  {len(slices)} slice(s): {passive} passive, {len(slices) - passive} aggressive; "
        f"{fmt.quantity(symbol, maker)} filled as maker, {fmt.quantity(symbol, taker)} as taker\n"
    )


def print_balances(messages: Sequence[Message], out: TextIO, first: bool = False) -> None:
    latest: dict[str, BalancesUpdated] = {}
    for m in messages:
        if isinstance(m, BalancesUpdated) and not (first and m.venue in latest):
            latest[m.venue] = m
    rows = [("venue", "currency", "total", "free")]
    for venue in sorted(latest):
        for currency, balance in sorted(latest[venue].balances.items()):
            rows.append(
                (venue, currency, money(balance.total, currency), money(balance.free, currency))
            )
    if len(rows) > 1:
        _table(rows, out)


def print_positions(messages: Sequence[Message], out: TextIO, fmt: Formats) -> None:
    """Positions over all venues and NAV, from the last valuation (one set of marks)."""
    navs = [m for m in messages if isinstance(m, NavRecorded)]
    if not navs:
        return
    nav = navs[-1]
    cur = nav.currency
    if nav.positions:
        out.write(f"\npositions, each marked at its venue's mid at {when(nav.ts)}\n")
        rows = [
            ("symbol", "venue", "quantity", "avg entry", "mark", "realised", "unrealised", "fees")
        ]
        for p in nav.positions:
            quote = fmt.instruments[p.symbol].quote if p.symbol in fmt.instruments else ""
            rows.append(
                (
                    p.symbol,
                    p.venue or "",
                    fmt.quantity(p.symbol, p.quantity),
                    fmt.price(p.symbol, p.average_price),
                    fmt.price(p.symbol, p.mark),
                    money(p.realized_pnl, quote),
                    money(p.unrealized_pnl, quote),
                    money(p.fees, quote),
                )
            )
        _table(rows, out)
    out.write(
        f"\nNAV {money(nav.nav, cur)} at {when(nav.ts)} (realised {money(nav.realized_pnl)}, "
        f"unrealised {money(nav.unrealized_pnl)}, fees {money(nav.fees)})\n"
    )


def print_run_report(messages: Sequence[Message], out: TextIO) -> None:
    fmt = Formats(messages)
    print_routes(messages, out, fmt)
    print_executions(messages, out, fmt)
    print_positions(messages, out, fmt)
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
