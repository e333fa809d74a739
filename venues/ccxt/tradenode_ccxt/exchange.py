"""Building the ccxt client a venue talks through: the exchange class, credentials from the
environment, options, sandbox, and the base-URL override.

ccxt is imported here, inside the functions: importing it takes seconds and ``tradenode --help``
loads every plugin.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from node.config import secret
from tradenode_ccxt.config import CcxtVenueConfig


def override_urls(api: Any, base_url: str) -> Any:
    """A copy of ccxt's ``urls['api']`` with every URL moved to ``base_url`` (see the config).

    REST URLs keep their path. Websocket URLs go to the same host (``ws``/``wss`` after the
    base's scheme) under ``/<first label of the original host><path>``, unless the path already
    starts with that label: one host (a proxy, a local test exchange) can then tell the
    exchange's stream hosts apart.
    """
    base = base_url.rstrip("/")
    ws_base = "ws" + base.removeprefix("http")

    def move(url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss"):
            return base + parts.path
        label = (parts.hostname or "").split(".")[0]
        path = parts.path
        if label and path.split("/")[1:2] != [label]:
            path = f"/{label}{path}"
        return ws_base + path

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, str) and "://" in node:
            return move(node)
        return node

    return walk(api)


def websockets_wanted(config: CcxtVenueConfig) -> bool:
    """Whether this venue uses ccxt.pro: asked for, or ``auto`` and the exchange has it."""
    if config.market_data == "polling":
        return False
    import ccxt.pro

    available = config.exchange in ccxt.pro.exchanges
    if config.market_data == "websocket" and not available:
        raise ValueError(f"ccxt has no websocket (pro) client for {config.exchange}")
    return available


def build_exchange(config: CcxtVenueConfig, websockets: bool) -> Any:
    """The ccxt client (``ccxt.pro`` or ``ccxt.async_support``), created on the running loop."""
    import ccxt.async_support
    import ccxt.pro

    module = ccxt.pro if websockets else ccxt.async_support
    cls = getattr(module, config.exchange, None)
    if cls is None:
        raise ValueError(f"ccxt has no exchange {config.exchange!r}")
    settings: dict[str, Any] = {
        "enableRateLimit": config.rate_limit,
        "timeout": config.timeout_ms,
        "options": dict(config.options),
    }
    for field, env in config.credentials.items():
        settings[field] = secret(env).reveal()
    exchange = cls(settings)
    if config.sandbox:
        exchange.set_sandbox_mode(True)
    if config.base_url is not None:
        exchange.urls["api"] = override_urls(exchange.urls["api"], config.base_url)
    return exchange
