"""``python -m tradenode_alpaca.loopback --port 8780``: serve a loopback Alpaca until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from datetime import UTC, datetime
from decimal import Decimal

from .calendar import session_at
from .config import LoopbackConfig
from .server import AlpacaLoopback

DEFAULT_SECRET = LoopbackConfig().secret_key


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tradenode_alpaca.loopback",
        description="A loopback Alpaca paper account: trading API, trade_updates and IEX data.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8780)
    parser.add_argument("--key", default=LoopbackConfig().api_key, help="API key id to accept")
    parser.add_argument("--secret", default=DEFAULT_SECRET, help="API secret to accept")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--start",
        type=datetime.fromisoformat,
        default=None,
        help="simulated start, ISO 8601 with offset (default: now)",
    )
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per second")
    parser.add_argument(
        "--manual", action="store_true", help="time moves only via POST /_admin/step"
    )
    parser.add_argument("--cash", type=Decimal, default=Decimal(100_000))
    parser.add_argument("--multiplier", type=int, choices=(1, 2, 4), default=1)
    return parser.parse_args()


def _instructions(server: AlpacaLoopback, args: argparse.Namespace) -> str:
    secret_hint = f"'{DEFAULT_SECRET}'" if args.secret == DEFAULT_SECRET else "the --secret value"
    now = server.now()
    symbols = ", ".join(a.symbol for a in server.config.assets)
    return f"""Loopback Alpaca at {server.url}
  simulated time {now.isoformat()} ({session_at(server.engine.now_ns)}), symbols {symbols}
  key id '{args.key}', secret {secret_hint}

alpaca-py:
  TradingClient(key, secret, url_override="{server.url}")
  TradingStream(key, secret, url_override="{server.stream_url}")
  StockDataStream(key, secret, url_override="{server.data_stream_url}")

admin (JSON):
  GET  {server.url}/_admin/state     orders with submit counts, fills, positions, cash
  GET  {server.url}/_admin/quotes
  POST {server.url}/_admin/step      {{"seconds": 60}}
  POST {server.url}/_admin/time      {{"time": "2024-06-03T15:59:00-04:00"}}
  POST {server.url}/_admin/price     {{"symbol": "AAPL", "price": "189.50"}}
  POST {server.url}/_admin/faults    {{"status": 429, "count": 2, "path": "/v2/orders",
                                      "method": "POST", "after": false}}
  POST {server.url}/_admin/drop      {{"stream": "trade_updates" | "market_data" | "all"}}
  POST {server.url}/_admin/reject    {{"count": 1}}  next orders rejected after acceptance
"""


async def _serve(args: argparse.Namespace) -> None:
    config = LoopbackConfig(
        api_key=args.key,
        secret_key=args.secret,
        seed=args.seed,
        start=args.start or datetime.now(UTC),
        realtime=not args.manual,
        speed=args.speed,
        cash=args.cash,
        multiplier=args.multiplier,
    )
    server = AlpacaLoopback(config)
    await server.start(args.host, args.port)
    print(_instructions(server, args), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(_parse_args()))


if __name__ == "__main__":
    main()
