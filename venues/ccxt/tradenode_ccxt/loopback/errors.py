"""Binance's error replies: an HTTP status plus ``{"code": <negative int>, "msg": <text>}``.

The texts are Binance's own, because ccxt maps some errors by message (``Account has insufficient
balance for requested action.`` -> ``InsufficientFunds``) and others by code.
"""

from __future__ import annotations

from collections.abc import Mapping


class BinanceError(Exception):
    """A request refused the way Binance refuses it."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(f"{status} {code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


def mandatory(name: str) -> BinanceError:
    return BinanceError(
        400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def int_param(params: Mapping[str, str], name: str) -> int | None:
    """An integer query parameter (None when absent or empty), refused as Binance refuses it."""
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise BinanceError(
            400,
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]+$'.",
        ) from None


def insufficient_balance() -> BinanceError:
    return BinanceError(400, -2010, "Account has insufficient balance for requested action.")


def duplicate_order() -> BinanceError:
    return BinanceError(400, -2010, "Duplicate order sent.")


def would_take() -> BinanceError:
    return BinanceError(400, -2010, "Order would immediately match and take.")


def filter_failure(name: str) -> BinanceError:
    return BinanceError(400, -1013, f"Filter failure: {name}")


def invalid_symbol() -> BinanceError:
    return BinanceError(400, -1121, "Invalid symbol.")


def order_does_not_exist() -> BinanceError:
    return BinanceError(400, -2013, "Order does not exist.")


def unknown_order() -> BinanceError:
    return BinanceError(400, -2011, "Unknown order sent.")


def bad_combination() -> BinanceError:
    return BinanceError(400, -1128, "Combination of optional parameters invalid.")
