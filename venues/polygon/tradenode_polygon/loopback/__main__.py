"""``python -m tradenode_polygon.loopback --port 8790``: serve a loopback Polygon until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from datetime import UTC, datetime

from .config import PolygonConfig
from .server import PolygonLoopback

DEFAULT_KEY = PolygonConfig().api_key


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tradenode_polygon.loopback",
        description="A loopback Polygon.io: aggregates, last trade/quote and the stocks websocket.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--key", default=DEFAULT_KEY, help="API key to accept")
    parser.add_argument("--seed", type=int, default=11)
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
    return parser.parse_args()


def _instructions(server: PolygonLoopback, args: argparse.Namespace) -> str:
    key_hint = f"'{DEFAULT_KEY}'" if args.key == DEFAULT_KEY else "the --key value"
    tickers = ", ".join(server.library.specs)
    return f"""Loopback Polygon at {server.url}
  simulated time {server.now().isoformat()}, tickers {tickers}, API key {key_hint}

massive:
  RESTClient(api_key=key, base="{server.url}")
  WebSocketClient(api_key=key, feed="{server.host_port}", market="stocks", secure=False)
  (websocket URL {server.stocks_url})

admin (JSON):
  GET  {server.url}/_admin/state    requests served, websocket subscriptions
  POST {server.url}/_admin/step     {{"seconds": 60}}   publishes the websocket events on the way
  POST {server.url}/_admin/time     {{"time": "2024-06-04T09:30:00-04:00"}}   skips ahead silently
  POST {server.url}/_admin/faults   {{"status": 429, "count": 2, "path": "/v2/aggs"}}
  POST {server.url}/_admin/drop     {{"mode": "abort" | "close"}}
"""


async def _serve(args: argparse.Namespace) -> None:
    config = PolygonConfig(
        api_key=args.key,
        seed=args.seed,
        start=args.start or datetime.now(UTC),
        realtime=not args.manual,
        speed=args.speed,
    )
    server = PolygonLoopback(config)
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
