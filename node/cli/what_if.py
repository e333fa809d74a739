"""``tradenode route``: where would an order go on these books, and what would it cost?"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from node.cli.errors import UserError


def cmd_route(args: argparse.Namespace) -> int:
    from node.plugins import load_plugins
    from node.whatif import WhatIfError, format_route, route_books

    plugins = load_plugins()
    try:
        result = route_books(
            plugins.book_sources,
            args.book_files,
            side=args.side,
            quantity=args.quantity,
            symbol=args.symbol,
            fees=args.fee,
            balances=args.balance,
            mode=args.mode,
        )
    except WhatIfError as exc:
        raise UserError(f"route: {exc}") from None
    if args.json:
        import msgspec

        sys.stdout.buffer.write(msgspec.json.encode(result) + b"\n")
    else:
        print(format_route(result))
    return 0


def add_commands(sub: Any) -> None:
    text = (
        "what-if: where would an order go on these books, and what would it cost? The node's "
        "own router on books read from files, in any format an installed plugin reads "
        "(the sim plugin: order-graph JSON, Binance WebSocket captures, Binance diff-depth CSV)"
    )
    p = sub.add_parser(
        "route",
        help="what-if: where would an order go on these books, and what would it cost?",
        description=text,
    )
    p.add_argument("book_files", nargs="+", metavar="BOOK_FILE")
    p.add_argument("--side", choices=["buy", "sell"], required=True)
    p.add_argument("--quantity", required=True, help="base quantity, e.g. 25")
    p.add_argument("--symbol", help="which pair, when a file holds several (e.g. BTC/USD)")
    p.add_argument("--fee", action="append", default=[], metavar="VENUE=BPS", help="taker fee")
    p.add_argument(
        "--balance",
        action="append",
        default=[],
        metavar="VENUE=AMOUNT",
        help="free balance: quote currency for a buy, base for a sell",
    )
    p.add_argument("--mode", choices=["split", "best-venue"], default="split")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=cmd_route)
