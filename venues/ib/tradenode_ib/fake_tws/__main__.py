"""``python -m tradenode_ib.fake_tws``: serve a fake TWS until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from .config import MAX_SERVER_VERSION, FakeTwsConfig
from .market import PriceModel
from .server import FakeTws


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tradenode_ib.fake_tws",
        description="A TWS-protocol server on loopback for ib_async clients.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7497)
    parser.add_argument("--server-version", type=int, default=MAX_SERVER_VERSION)
    parser.add_argument("--account", default="DU123456")
    parser.add_argument(
        "--seed", type=int, help="move prices by a seeded random walk (default: a fixed book)"
    )
    parser.add_argument(
        "--tick-interval", type=float, default=1.0, help="seconds between price-path steps"
    )
    parser.add_argument(
        "--replay",
        action="store_true",
        help="answer time, accounts, positions and account summary with the frames recorded "
        "from a real TWS (announces server version 173)",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    prices = PriceModel(seed=args.seed)
    tick = args.tick_interval if args.seed is not None else None
    if args.replay:
        config = FakeTwsConfig.replaying(prices=prices, tick_interval=tick)
    else:
        config = FakeTwsConfig(
            server_version=args.server_version,
            account=args.account,
            prices=prices,
            tick_interval=tick,
        )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(FakeTws(config, host=args.host, port=args.port)))


async def _serve(tws: FakeTws) -> None:
    async with tws:
        print(tws.describe(), flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    main()
