"""``tradenode markets`` and ``tradenode balances``: connect a config's venues, read what they
say, disconnect — what a trader runs to check a key and a config before trading. Nothing is
journaled and no order can be sent: the venues run alone, with no router or risk behind them."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from node.cli.common import load
from node.cli.errors import UserError


def _connect(args: argparse.Namespace, names: list[str] | None) -> tuple[Any, Any, list[str]]:
    from node.market import MarketState
    from node.messages import BalancesUpdated, InstrumentsLoaded, VenueConnected, VenueDisconnected
    from node.runtime.live import LiveRuntime
    from node.runtime.recorder import Recorder
    from node.venue import VenueSetup

    config, plugins = load(args.config)
    wanted = names or list(config.venues)
    for name in wanted:
        if name not in config.venues:
            raise UserError(
                f"no venue named {name!r} in {args.config} (venues: {', '.join(config.venues)})"
            )
    market = MarketState()
    setup = VenueSetup(config.directory, market)
    runtime = LiveRuntime()
    seen = Recorder(types=(InstrumentsLoaded, BalancesUpdated, VenueConnected, VenueDisconnected))
    runtime.add(seen)
    runtime.add(_balance_asker(market))
    for name in wanted:
        entry = config.venues[name]
        runtime.add(plugins.venues.get(entry.plugin).target(name, entry.settings, setup))
    runtime.start([])

    def settled(venue: str) -> bool:
        state = market.venues.get(venue)
        down = any(isinstance(m, VenueDisconnected) and m.venue == venue for m in seen.messages)
        return down or (
            state is not None and state.instruments_loaded and state.balances is not None
        )

    deadline = time.monotonic() + args.timeout
    try:
        while time.monotonic() < deadline and not all(settled(v) for v in wanted):
            time.sleep(0.05)
    finally:
        runtime.stop(timeout=10)
    return market, seen, wanted


def _balance_asker(market: Any) -> Any:
    from node.component import Component
    from node.messages import ReconcileVenue, VenueConnected, VenueReconciled

    class BalanceAsker(Component):
        """Asks each venue that reconciles for its account (fills since now: none), as the
        reconciler does; such a venue passes its balances on in the answer, not at connect."""

        subscriptions = (VenueConnected, VenueReconciled)

        def on_message(self, message: Any) -> None:
            if isinstance(message, VenueConnected) and message.capabilities.reconciles:
                now = self.ctx.now()
                request = ReconcileVenue(venue=message.venue, since_ts=now, ts=now)
                self.ctx.send(f"venue.{message.venue}", request)
            elif isinstance(message, VenueReconciled) and not message.error:
                market.venue(message.venue).balances = message.balances

    return BalanceAsker("balances")


def _problems(market: Any, seen: Any, venues: list[str]) -> list[str]:
    from node.messages import VenueDisconnected

    out = []
    for venue in venues:
        downs = [m for m in seen.messages if isinstance(m, VenueDisconnected) and m.venue == venue]
        state = market.venues.get(venue)
        if downs:
            out.append(f"{venue}: {downs[-1].reason}")
        elif state is None or not state.instruments_loaded:
            out.append(f"{venue}: no answer within the timeout")
    return out


def cmd_markets(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    market, seen, venues = _connect(args, [args.venue])
    table = Table(title=f"{args.venue} instruments")
    for column in (
        "symbol",
        "venue symbol",
        "class",
        "tick",
        "lot",
        "min qty",
        "min notional",
        "maker bps",
        "taker bps",
        "multiplier",
    ):
        table.add_column(column)
    for (venue, symbol), ins in sorted(market.instruments.items()):
        if venue != args.venue or (args.symbol and symbol != args.symbol):
            continue
        table.add_row(
            symbol,
            ins.venue_symbol,
            ins.asset_class,
            _plain(ins.tick_size),
            _plain(ins.lot_size),
            _plain(ins.min_quantity),
            f"{_plain(ins.min_notional)} {ins.quote}",
            _plain(ins.maker_fee * 10_000),
            _plain(ins.taker_fee * 10_000),
            f"{ins.multiplier}",
        )
    _console(Console).print(table)
    problems = _problems(market, seen, venues)
    for problem in problems:
        print(f"tradenode: {problem}")
    return 1 if problems else 0


def cmd_balances(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from node.report import money

    market, seen, venues = _connect(args, args.venue or None)
    table = Table(title="balances")
    for column in ("venue", "currency", "total", "free"):
        table.add_column(column)
    for venue in venues:
        state = market.venues.get(venue)
        for currency, balance in sorted(((state and state.balances) or {}).items()):
            table.add_row(
                venue, currency, money(balance.total, currency), money(balance.free, currency)
            )
    _console(Console).print(table)
    problems = _problems(market, seen, venues)
    for problem in problems:
        print(f"tradenode: {problem}")
    return 1 if problems else 0


def _plain(value: Any) -> str:
    return f"{value.normalize():f}"


def _console(console_type: Any) -> Any:
    """Wide enough for the table when the output is not a terminal (a pipe, a file)."""
    return console_type() if sys.stdout.isatty() else console_type(width=200)


def add_commands(sub: Any) -> None:
    text = "connect to VENUE and list its instruments: tick, lot, minimums, fees"
    p = sub.add_parser("markets", help=text, description=text)
    p.add_argument("config")
    p.add_argument("venue")
    p.add_argument("--symbol", help="only this instrument")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (default 30)")
    p.set_defaults(func=cmd_markets)

    text = "connect to the config's venues (or --venue ones) and show each one's balances"
    p = sub.add_parser("balances", help=text, description=text)
    p.add_argument("config")
    p.add_argument("--venue", action="append", default=[], help="only this venue (repeat)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait (default 30)")
    p.set_defaults(func=cmd_balances)
