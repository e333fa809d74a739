"""Settings of one ccxt venue: which exchange and account, what to trade, how market data comes,
how fast orders may go, and where the API is when it is not the exchange's own address.

Keys are never in the file: ``api_key_env``, ``secret_env`` and ``password_env`` name the
environment variables that hold them (``tradenode check`` says when one is not set). Every value
``run`` would trip on is refused here, so ``check`` names the key before anything connects.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

import msgspec

_EXCHANGE_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")
_URL = re.compile(r"https?://[^/\s]+")


class CcxtVenueConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[venues.NAME]`` with ``plugin = "ccxt"``.

    ``exchange`` is ccxt's id (``binance``, ``okx``, ``kraken``, ``coinbase``, ``alpaca`` …) and
    ``symbols`` ccxt's unified symbols (``BTC/USDT``; ``BTC/USDT:USDT`` for a perpetual). Without
    ``api_key_env`` the venue is read-only: instruments and market data, no orders.

    ``options`` go to ccxt's ``exchange.options`` as they are (``defaultType``, ``recvWindow`` …).
    ``sandbox`` switches to the exchange's testnet where ccxt knows one. ``base_url`` moves every
    REST URL to that host, keeping its path, and every websocket URL to the same host (``ws://``)
    under ``/<first label of the original host>/<path>`` unless the path already starts with that
    label: ``wss://stream.binance.com:9443/ws`` becomes ``ws://HOST/stream/ws``.

    ``market_data``: ``websocket`` uses ccxt.pro's ``watch_order_book`` / ``watch_trades``;
    ``polling`` asks ``fetch_order_book`` / ``fetch_trades`` every ``poll_interval_ms``;
    ``auto`` takes websockets where the exchange has them. Account events follow the same choice
    (``watch_orders`` / ``watch_my_trades`` / ``watch_balance``, or polling).

    ``orders_per_minute`` bounds what this venue sends (a token bucket of ``order_burst``);
    orders over it wait in a queue, never dropped. ccxt's own throttler stays on unless
    ``rate_limit`` is false.
    """

    exchange: str
    symbols: list[str]
    api_key_env: str | None = None
    secret_env: str | None = None
    #: the passphrase some exchanges need besides key and secret (OKX, KuCoin)
    password_env: str | None = None
    #: a user or account id some exchanges need (ccxt's ``uid``)
    uid_env: str | None = None
    sandbox: bool = False
    base_url: str | None = None
    options: dict[str, Any] = {}
    market_data: Literal["auto", "websocket", "polling"] = "auto"
    poll_interval_ms: float = 1000.0
    #: levels of each side kept in the node's book
    book_depth: int = 100
    #: publish the exchange's public trades (``TradeTick``) for algorithms that react to them
    trades: bool = True
    #: maker/taker fees from the account (``fetchTradingFees``, needs keys) or from the markets
    fees: Literal["account", "markets"] = "account"
    timeout_ms: int = 10_000
    rate_limit: bool = True
    orders_per_minute: float = 600.0
    order_burst: int = 10
    #: how long an order whose fate is unknown (a timeout after it left) is left before it is
    #: looked up by client id; default: the exchange's ``recvWindow`` option when it has one
    #: (a request older than that cannot execute any more), else 5000
    unknown_order_wait_ms: float | None = None
    #: how often open orders are checked over REST besides the account stream (a safety net)
    order_check_interval_ms: float = 5000.0
    #: overrides of the built-in per-exchange client order id rules (see ``client_ids.py``)
    client_id_param: str | None = None
    client_id_max_length: int | None = None
    client_id_chars: str | None = None
    #: whether ccxt's ``fetch_order_with_client_order_id`` reaches the exchange's own query
    #: (false: the open and recent orders are searched instead)
    client_id_lookup: bool | None = None
    time_in_force: list[Literal["gtc", "ioc", "fok", "day"]] = msgspec.field(
        default_factory=lambda: ["gtc", "ioc", "fok"]
    )

    def __post_init__(self) -> None:
        if not _EXCHANGE_ID.fullmatch(self.exchange):
            raise ValueError(
                f"exchange must be a ccxt exchange id (like binance), not {self.exchange!r}"
            )
        if not self.symbols:
            raise ValueError("symbols must name at least one instrument")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("symbols lists an instrument twice")
        for symbol in self.symbols:
            base, sep, quote = symbol.partition("/")
            if not (sep and base and quote):
                raise ValueError(f"symbols: {symbol!r} is not ccxt's unified BASE/QUOTE form")
        if (self.api_key_env is None) != (self.secret_env is None):
            raise ValueError("api_key_env and secret_env go together (both or neither)")
        if self.base_url is not None and not _URL.fullmatch(self.base_url.rstrip("/")):
            raise ValueError(
                f"base_url must be http(s)://host[:port] without a path, not {self.base_url!r}"
            )
        for name in ("poll_interval_ms", "timeout_ms", "order_check_interval_ms"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0, got {value}")
        if not 1 <= self.book_depth <= 5000:
            raise ValueError(f"book_depth must be in [1, 5000], got {self.book_depth}")
        if not (math.isfinite(self.orders_per_minute) and self.orders_per_minute > 0):
            raise ValueError(f"orders_per_minute must be > 0, got {self.orders_per_minute}")
        if self.order_burst < 1:
            raise ValueError(f"order_burst must be >= 1, got {self.order_burst}")
        wait = self.unknown_order_wait_ms
        if wait is not None and not (math.isfinite(wait) and wait >= 0):
            raise ValueError(f"unknown_order_wait_ms must be >= 0, got {wait}")
        if self.client_id_max_length is not None and self.client_id_max_length < 8:
            raise ValueError("client_id_max_length must be >= 8")
        if self.client_id_chars is not None:
            try:
                re.compile(f"[{self.client_id_chars}]")
            except re.error as exc:
                raise ValueError(f"client_id_chars is not a character class body: {exc}") from None
        if not self.time_in_force:
            raise ValueError("time_in_force must list at least one of gtc, ioc, fok, day")

    @property
    def credentials(self) -> dict[str, str]:
        """ccxt's credential field → the environment variable that holds it."""
        named = {
            "apiKey": self.api_key_env,
            "secret": self.secret_env,
            "password": self.password_env,
            "uid": self.uid_env,
        }
        return {field: env for field, env in named.items() if env is not None}
