"""Settings of one Alpaca account: which keys, paper or live, which stocks, where its quotes come
from, and the URL overrides that point it at a local test server."""

from __future__ import annotations

import math
import re
from typing import Literal

import msgspec

_TICKER = re.compile(r"[A-Z][A-Z0-9.]{0,9}")

#: Alpaca's own endpoints (alpaca-py's defaults, repeated here so the derivation below is visible)
PAPER_URL = "https://paper-api.alpaca.markets"
LIVE_URL = "https://api.alpaca.markets"
DATA_STREAM_URL = "wss://stream.data.alpaca.markets"


class AlpacaConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[venues.NAME]`` with ``plugin = "alpaca"``.

    ``symbols`` are the tickers this node trades (each becomes an instrument and needs a book
    before the node is ready). ``market_data`` says where those books come from: Alpaca's own
    stream (``iex`` is the free feed, ``sip`` needs a subscription) or ``external`` (another
    plugin writes them, e.g. ``[venues.polygon] serves = "alpaca"``).

    ``base_url`` replaces the trading API's address (a local test server); ``stream_url`` and
    ``data_url`` default to the same host (``ws://host/stream`` and ``ws://host/v2/<feed>``)
    when only ``base_url`` is given, else to Alpaca's own.

    ``fractional`` lets fractionable stocks trade in Alpaca's 1e-9 share steps (Alpaca takes
    those only as DAY orders); otherwise every stock trades in whole shares.
    ``extended_hours`` lets DAY limit orders trade before the open and after the close (Alpaca
    allows nothing else there); without it orders outside the regular session are refused.
    ``margin`` lets the node spend Alpaca's (margin) buying power: without it the free ``USD`` is
    the cash the account holds, never more (an Alpaca account, paper included, is a margin
    account by default, with a buying power of 2 or 4 times its equity).
    """

    key_env: str
    secret_env: str
    symbols: list[str]
    paper: bool = True
    market_data: Literal["iex", "sip", "external"] = "iex"
    fractional: bool = False
    extended_hours: bool = False
    margin: bool = False
    base_url: str | None = None
    stream_url: str | None = None
    data_url: str | None = None
    #: seconds before the cached market clock is asked again (it is also asked when a session
    #: boundary has passed since)
    clock_refresh_s: float = 30.0
    #: how long a REST request may take (alpaca-py itself sets no timeout)
    request_timeout_s: float = 10.0
    #: alpaca-py retries 429 and 504 answers this many times, this many seconds apart
    rest_retries: int = 3
    rest_retry_wait_s: float = 3.0
    #: how long ``connect`` waits for the trade-updates stream before the venue is marked down
    connect_timeout_s: float = 15.0

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ValueError("symbols must name at least one ticker")
        for symbol in self.symbols:
            if not _TICKER.fullmatch(symbol):
                raise ValueError(f"symbols: {symbol!r} is not an upper-case ticker such as AAPL")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("symbols must not repeat a ticker")
        for name in ("clock_refresh_s", "rest_retry_wait_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number of seconds >= 0, got {value}")
        for name in ("request_timeout_s", "connect_timeout_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a number of seconds > 0, got {value}")
        if not 0 <= self.rest_retries <= 10:
            raise ValueError(f"rest_retries must be in [0, 10], got {self.rest_retries}")
        for name in ("base_url", "stream_url", "data_url"):
            value = getattr(self, name)
            schemes = ("ws://", "wss://") if name != "base_url" else ("http://", "https://")
            if value is not None and not value.startswith(schemes):
                raise ValueError(f"{name} must start with {' or '.join(schemes)}, got {value!r}")

    @property
    def rest_url(self) -> str:
        return self.base_url or (PAPER_URL if self.paper else LIVE_URL)

    @property
    def trade_stream_url(self) -> str:
        if self.stream_url:
            return self.stream_url
        return _websocket(self.rest_url) + "/stream"

    @property
    def market_data_url(self) -> str:
        if self.data_url:
            return self.data_url
        feed = "sip" if self.market_data == "sip" else "iex"
        host = _websocket(self.base_url) if self.base_url else DATA_STREAM_URL
        return f"{host}/v2/{feed}"


def _websocket(url: str) -> str:
    return "ws" + url.removeprefix("http").rstrip("/")
