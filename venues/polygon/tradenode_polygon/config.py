"""Settings of the Polygon.io (massive) market-data plugin: which key, which stocks, which
venue's books it fills, and the address overrides that point it at a local test server."""

from __future__ import annotations

import math
import re

import msgspec

_TICKER = re.compile(r"[A-Z][A-Z0-9.]{0,9}")
#: massive's own addresses (its clients' defaults)
REALTIME_FEED = "socket.massive.com"
REST_URL = "https://api.massive.com"


class PolygonConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[venues.NAME]`` with ``plugin = "polygon"``: market data only, it trades nothing.

    Polygon's quotes of ``symbols`` become the L1 books of the venue(s) named by ``serves``
    (their instruments take their marks and prices from it; that venue's own market data must
    then be off, e.g. Alpaca's ``market_data = "external"``). ``trades`` and ``minute_bars``
    publish Polygon's trades and minute aggregates for algorithms that subscribe to them.

    ``feed`` is the websocket host (``delayed.massive.com`` for the 15-minute delayed feed, a
    ``host:port`` for a test server, then with ``secure = false``); ``rest_url`` the REST API's
    address for aggregates history.
    """

    api_key_env: str
    serves: str | list[str]
    symbols: list[str]
    trades: bool = True
    minute_bars: bool = True
    feed: str = REALTIME_FEED
    secure: bool = True
    rest_url: str = REST_URL
    #: how long to wait for Polygon to take the subscriptions before saying it does not answer
    connect_timeout_s: float = 15.0
    #: the longest wait between two reconnection attempts (they start at half a second)
    reconnect_max_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.venues:
            raise ValueError("serves must name at least one venue")
        if not self.symbols:
            raise ValueError("symbols must name at least one ticker")
        for symbol in self.symbols:
            if not _TICKER.fullmatch(symbol):
                raise ValueError(f"symbols: {symbol!r} is not an upper-case ticker such as AAPL")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("symbols must not repeat a ticker")
        if "/" in self.feed or not self.feed:
            raise ValueError(f"feed must be a host or host:port, got {self.feed!r}")
        if not self.rest_url.startswith(("http://", "https://")):
            raise ValueError(f"rest_url must start with http:// or https://, got {self.rest_url!r}")
        for name in ("connect_timeout_s", "reconnect_max_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a number of seconds > 0, got {value}")

    @property
    def venues(self) -> list[str]:
        """The venues whose books this fills."""
        return [self.serves] if isinstance(self.serves, str) else list(self.serves)

    @property
    def topics(self) -> list[str]:
        channels = ["Q", *(["T"] if self.trades else []), *(["AM"] if self.minute_bars else [])]
        return [f"{c}.{s}" for c in channels for s in self.symbols]
