"""Pointing the real ccxt Binance client (REST and ccxt.pro websockets) at a loopback server.

ccxt has no single base-URL option: every entry of ``exchange.urls['api']`` is rewritten to the
server, keeping its path (``https://api.binance.com/api/v3`` -> ``http://127.0.0.1:P/api/v3``).
The spot market-stream URL becomes ``ws://127.0.0.1:P/stream/ws`` (ccxt tells spot from futures
streams by ``/stream`` in the URL) and the WebSocket API ``ws://127.0.0.1:P/ws-api/v3``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tradenode_ccxt.loopback.server import DEFAULT_API_KEY, DEFAULT_API_SECRET

# What load_markets would otherwise ask of sapi/fapi/dapi. The server answers those too (empty),
# so these only save requests; an adapter may set them for the real Binance as well.
LOOPBACK_OPTIONS: dict[str, Any] = {
    "fetchCurrencies": False,
    "fetchMargins": False,
    "fetchMarkets": {"types": ["spot"]},
}


def loopback_urls(api: dict[str, Any], base_url: str) -> dict[str, Any]:
    """A copy of ccxt's ``urls['api']`` with every URL moved to the server at ``base_url``."""
    ws_base = "ws" + base_url.removeprefix("http")

    def move(url: str, key: str, in_ws: bool) -> str:
        parts = urlsplit(url)
        if not in_ws:
            return base_url + parts.path
        if key in ("spot", "margin") and parts.path == "/ws":
            return ws_base + "/stream/ws"
        if parts.path.startswith("/ws-"):
            return ws_base + parts.path
        return ws_base + "/" + (parts.hostname or "").split(".")[0] + parts.path

    def walk(node: Any, key: str, in_ws: bool) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, k, in_ws or k == "ws") for k, v in node.items()}
        if isinstance(node, str) and "://" in node:
            return move(node, key, in_ws)
        return node

    return walk(api, "", False)


def binance_client(
    url: str,
    api_key: str | None = DEFAULT_API_KEY,
    api_secret: str | None = DEFAULT_API_SECRET,
    *,
    pro: bool = True,
    options: dict[str, Any] | None = None,
    timeout_ms: int = 10_000,
) -> Any:
    """A ``ccxt.pro.binance`` (or ``ccxt.async_support.binance``) talking to the server at ``url``.

    Close it with ``await client.close()``. ``options`` are merged over ``LOOPBACK_OPTIONS``.
    """
    # Imported here: ccxt takes seconds to import and the server itself never needs it.
    import ccxt.async_support as ccxt_async
    import ccxt.pro as ccxt_pro

    cls = ccxt_pro.binance if pro else ccxt_async.binance
    config: dict[str, Any] = {
        "timeout": timeout_ms,
        "options": {**LOOPBACK_OPTIONS, **(options or {})},
    }
    if api_key is not None:
        config["apiKey"] = api_key
    if api_secret is not None:
        config["secret"] = api_secret
    client = cls(config)
    client.urls["api"] = loopback_urls(client.urls["api"], url)
    return client
