"""``python -m tradenode_ccxt.loopback``: run a loopback Binance-spot exchange until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from decimal import Decimal, InvalidOperation
from pathlib import Path

from tradenode_ccxt.loopback.capture import DEFAULT_CAPTURE
from tradenode_ccxt.loopback.feeds import CaptureFeed, MarketSetup
from tradenode_ccxt.loopback.klines import BarsFile
from tradenode_ccxt.loopback.server import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    DEFAULT_BALANCES,
    LoopbackExchange,
)
from tradenode_ccxt.loopback.spec import PriceTransform


def _balance(text: str) -> tuple[str, Decimal]:
    asset, sep, amount = text.partition("=")
    try:
        if not sep or not asset:
            raise InvalidOperation
        return asset.upper(), Decimal(amount)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"expected ASSET=AMOUNT, got {text!r}") from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m tradenode_ccxt.loopback",
        description="A Binance-spot exchange on 127.0.0.1 replaying a recorded BTCUSDT capture.",
    )
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port (default 8765)")
    p.add_argument(
        "--capture",
        type=Path,
        nargs="+",
        default=list(DEFAULT_CAPTURE),
        metavar="FILE",
        help="capture files, read as one stream (default: the BTCUSDT 2024-08-08/09 capture)",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="replay pace, recorded time x SPEED; 0 = step mode (POST /_admin/step)",
    )
    p.add_argument("--fee-bps", type=Decimal, default=Decimal(10), help="maker and taker fee")
    p.add_argument("--maker-fee-bps", type=Decimal, help="maker fee (overrides --fee-bps)")
    p.add_argument("--taker-fee-bps", type=Decimal, help="taker fee (overrides --fee-bps)")
    p.add_argument(
        "--balance",
        type=_balance,
        action="append",
        metavar="ASSET=AMOUNT",
        help="starting free balance, repeatable (default: USDT=100000 BTC=2)",
    )
    p.add_argument("--price-shift", type=Decimal, default=Decimal(0), help="added to every price")
    p.add_argument("--price-scale", type=Decimal, default=Decimal(1), help="multiplies prices")
    p.add_argument("--api-key", default=DEFAULT_API_KEY)
    p.add_argument(
        "--api-secret", default=DEFAULT_API_SECRET, help="default: the public test value in code"
    )
    p.add_argument("--state", type=Path, help="keep orders, fills and balances in this JSON file")
    p.add_argument(
        "--klines",
        type=Path,
        metavar="CSV",
        help="GET /api/v3/klines from this bars file (timestamp,open,high,low,close,volume) "
        "instead of the capture's trades",
    )
    p.add_argument(
        "--klines-end-yesterday",
        action="store_true",
        help="move the bars file by whole days so that it ends yesterday (UTC)",
    )
    return p.parse_args(argv)


def _usage(url: str, api_key: str) -> str:
    ws = "ws" + url.removeprefix("http")
    return f"""Loopback Binance spot listening on {url}
  REST {url}/api/v3   market streams {ws}/stream/ws   user data {ws}/ws-api/v3
  admin {url}/_admin/state   (POST /_admin/step {{"n": 10}} in step mode)
API key: {api_key}   secret: the --api-secret value

tradenode ccxt venue / raw ccxt, in Python:
  from tradenode_ccxt.loopback import binance_client
  exchange = binance_client("{url}", "{api_key}", SECRET)   # a ccxt.pro.binance
or rewrite a ccxt.binance yourself:
  exchange.urls["api"] = tradenode_ccxt.loopback.loopback_urls(exchange.urls["api"], "{url}")
  and set options fetchCurrencies=False, fetchMargins=False, fetchMarkets={{"types": ["spot"]}}.
Ctrl-C stops."""


async def serve(args: argparse.Namespace) -> None:
    balances = dict(args.balance) if args.balance else dict(DEFAULT_BALANCES)
    setup = MarketSetup(
        feed=CaptureFeed(tuple(args.capture)),
        transform=PriceTransform(args.price_scale, args.price_shift),
        klines=BarsFile(args.klines, args.klines_end_yesterday) if args.klines else None,
    )
    exchange = LoopbackExchange(
        [setup],
        speed=args.speed or None,
        maker_fee_bps=args.maker_fee_bps if args.maker_fee_bps is not None else args.fee_bps,
        taker_fee_bps=args.taker_fee_bps if args.taker_fee_bps is not None else args.fee_bps,
        balances=balances,
        api_key=args.api_key,
        api_secret=args.api_secret,
        port=args.port,
        state_path=args.state,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with exchange:
        print(_usage(exchange.url, args.api_key), flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main()
