"""Alpaca's error answers: an HTTP status plus a JSON body ``{"code": ..., "message": ...}``.

alpaca-py raises ``APIError`` for any non-2xx answer and reads ``code`` and ``message`` from the
body, so these are what a node sees. The codes are Alpaca's: 401xxxxx unauthorized, 403xxxxx
forbidden (buying power, quantity held), 404xxxxx not found, 400xxxxx/422xxxxx invalid requests,
429xxxxx rate limited, 500xxxxx server errors.
"""

from __future__ import annotations

from typing import Any

INVALID_REQUEST = 40010001
UNAUTHORIZED = 40110000
FORBIDDEN = 40310000
NOT_FOUND = 40410000
UNPROCESSABLE = 42210000
RATE_LIMITED = 42910000
INTERNAL = 50010000


class AlpacaApiError(Exception):
    """A refusal the server answers with ``status`` and Alpaca's JSON body."""

    def __init__(self, status: int, code: int, message: str, **extra: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.extra}


def invalid(message: str) -> AlpacaApiError:
    """A malformed or inconsistent order request (Alpaca answers these with 422)."""
    return AlpacaApiError(422, INVALID_REQUEST, message)


def unprocessable(message: str) -> AlpacaApiError:
    """A well-formed request that Alpaca's rules refuse (prices, sessions, order states)."""
    return AlpacaApiError(422, UNPROCESSABLE, message)


def forbidden(message: str, **extra: str) -> AlpacaApiError:
    return AlpacaApiError(403, FORBIDDEN, message, **extra)


def not_found(message: str) -> AlpacaApiError:
    return AlpacaApiError(404, NOT_FOUND, message)


def status_error(status: int) -> AlpacaApiError:
    """The answer for an injected HTTP fault with this status."""
    if status == 429:
        return AlpacaApiError(429, RATE_LIMITED, "rate limit exceeded")
    if status >= 500:
        return AlpacaApiError(status, INTERNAL, "internal server error occurred")
    return AlpacaApiError(status, status * 100_000, "injected fault")
