"""Binance's request signing, checked the way Binance checks it.

REST (``SIGNED`` endpoints): the key travels in ``X-MBX-APIKEY``; ``signature`` is the hex
HMAC-SHA256, under the secret, of the query string and the body concatenated, each without its
``signature`` parameter. WebSocket API: the same HMAC over the request's params sorted by name and
joined as ``k=v`` with ``&`` (values not url-encoded). Either way ``timestamp`` must be within
``recvWindow`` (default 5000 ms, at most 60000) before the server's clock and less than 1000 ms
after it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field

from tradenode_ccxt.loopback.errors import BinanceError, mandatory


def _strip_signature(raw: str) -> tuple[str, str | None]:
    """``raw`` without its ``signature=`` parameter, and that parameter's value."""
    kept, signature = [], None
    for part in raw.split("&") if raw else []:
        if part.startswith("signature="):
            signature = part[len("signature=") :]
        else:
            kept.append(part)
    return "&".join(kept), signature


@dataclass(frozen=True)
class Credentials:
    """The account's API key and secret (the secret never appears in a repr)."""

    api_key: str
    api_secret: str = field(repr=False)

    def check_key(self, key: str | None) -> None:
        if not key:
            raise BinanceError(401, -2014, "API-key format invalid.")
        if not hmac.compare_digest(key, self.api_key):
            raise BinanceError(401, -2015, "Invalid API-key, IP, or permissions for action.")

    def _check_signature(self, payload: str, signature: str | None) -> None:
        if not signature:
            raise mandatory("signature")
        expected = hmac.new(self.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise BinanceError(400, -1022, "Signature for this request is not valid.")

    def verify_rest(
        self, key: str | None, query: str, body: str, params: Mapping[str, str], now: int
    ) -> None:
        """Check a signed REST request; raises Binance's error for the first problem found."""
        self.check_key(key)
        query_payload, query_sig = _strip_signature(query)
        body_payload, body_sig = _strip_signature(body)
        self._check_signature(query_payload + body_payload, query_sig or body_sig)
        check_timestamp(params, now)

    def verify_ws(self, params: Mapping[str, object], now: int) -> None:
        """Check a signed WebSocket API request (``apiKey`` and ``signature`` among its params)."""
        key = params.get("apiKey")
        self.check_key(key if isinstance(key, str) else None)
        payload = "&".join(
            f"{k}={_ws_value(params[k])}" for k in sorted(params) if k != "signature"
        )
        signature = params.get("signature")
        self._check_signature(payload, signature if isinstance(signature, str) else None)
        check_timestamp({k: _ws_value(v) for k, v in params.items()}, now)


def _ws_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_timestamp(params: Mapping[str, str], now: int) -> None:
    """Binance's recvWindow rule for ``timestamp`` against the server clock ``now`` (ms)."""
    raw = params.get("timestamp")
    if not raw:
        raise mandatory("timestamp")
    try:
        timestamp = int(raw)
        window = int(params.get("recvWindow") or 5000)
    except ValueError:
        raise BinanceError(400, -1100, "Illegal characters found in a parameter.") from None
    if window > 60000:
        raise BinanceError(400, -1131, "recvWindow must be less than 60000")
    if timestamp >= now + 1000:
        raise BinanceError(
            400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."
        )
    if now - timestamp > window:
        raise BinanceError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
