"""What a ccxt exception means for an order, and how it is told without leaking secrets.

ccxt's hierarchy splits in two: ``ExchangeError`` (the exchange answered and refused: funds,
order rules, symbol, authentication) and ``OperationFailed`` (the answer is missing or
unusable: timeouts, dropped connections, 5xx, rate limits, malformed replies). A refusal is
final. For an order, a missing answer leaves its fate unknown unless the exchange said it was
refused before processing (HTTP 429/418, a rate limit): such an order is looked up by its
client id before anything else happens, never sent again blindly.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable

_QUERY = re.compile(r"(https?://[^\s?\"']+)\?[^\s\"']*")
_MAX = 300


class Outcome(enum.Enum):
    REFUSED = "refused"  # the exchange answered no: final
    DUPLICATE = "duplicate"  # the client id is in use: the order exists, look it up
    RATE_LIMITED = "rate limited"  # refused before processing: back off, look up, then resend
    UNKNOWN = "unknown"  # the request may have been processed: look it up
    NOT_FOUND = "not found"


def unwrap(exc: BaseException) -> BaseException:
    """The ccxt error behind ``exc``: ccxt 4.5.90 raises ``KeyError('spot')`` from its own
    cleanup after a refused websocket login, with the ``AuthenticationError`` as its context."""
    import ccxt

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ccxt.BaseError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc


def classify(exc: BaseException) -> Outcome:
    import ccxt

    error = unwrap(exc)
    if isinstance(error, ccxt.OrderNotFound):
        return Outcome.NOT_FOUND
    if isinstance(error, ccxt.DuplicateOrderId) or (
        isinstance(error, ccxt.InvalidOrder) and "duplicate order" in str(error).lower()
    ):
        return Outcome.DUPLICATE
    if isinstance(error, ccxt.DDoSProtection | ccxt.RateLimitExceeded):
        return Outcome.RATE_LIMITED
    if isinstance(error, ccxt.ExchangeError):
        return Outcome.REFUSED
    # OperationFailed (timeouts, dropped connections, 5xx, bad replies), MalformedReply, OSError
    # and anything unforeseen: the request may have been processed
    return Outcome.UNKNOWN


def is_authentication(exc: BaseException) -> bool:
    import ccxt

    return isinstance(unwrap(exc), ccxt.AuthenticationError)


def is_network(exc: BaseException) -> bool:
    """A failure worth retrying later (no answer, or an unusable one)."""
    import ccxt

    return isinstance(unwrap(exc), ccxt.OperationFailed | OSError | TimeoutError)


def describe(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """``Type: message``, one line: query strings (signatures, timestamps) cut from URLs, any
    configured secret value masked, long exchange bodies shortened."""
    error = unwrap(exc)
    text = " ".join(str(error).split())
    text = _QUERY.sub(r"\1?…", text)
    for value in secrets:
        if value:
            text = text.replace(value, "***")
    if len(text) > _MAX:
        text = text[:_MAX] + "…"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
