"""The TWS error and notice codes a trading node acts on, and what each one means.

TWS sends every notice through the same ``error`` message: a code and a text. Some change what
the node may do (connectivity lost: no orders), some finish an order (rejected, canceled), most
are information for an operator (a data farm reconnected). The meanings are IB's, from its
message-code reference, in words an operator reads in a status line.
"""

from __future__ import annotations

#: TWS lost (1100) or regained its connection to IB: with data lost (1101, subscriptions must be
#: renewed) or maintained (1102).
CONNECTIVITY_LOST = 1100
RESTORED_DATA_LOST = 1101
RESTORED_DATA_MAINTAINED = 1102
#: TWS refuses a second API client with the same client id.
CLIENT_ID_IN_USE = 326
ORDER_CANCELED = 202
#: A cancel TWS refused: the order to cancel is not found (10147), or cannot be canceled in its
#: state (10148, 161: typically it is filling). ib_async marks the trade Cancelled on them; the
#: client takes that back: the order has not ended.
CANCEL_REFUSED = frozenset({10147, 10148, 161})
#: Codes that come with a cancel (asked for, or refused): not IB refusing the order itself.
CANCEL_CODES = frozenset({ORDER_CANCELED, *CANCEL_REFUSED})

#: Codes whose news the order's own event carries (its rejection or cancel reason): no status.
IN_ORDER_EVENTS = frozenset({110, 201, ORDER_CANCELED})

MEANINGS: dict[int, str] = {
    103: "duplicate order id",
    104: "cannot modify a filled order",
    105: "the modified order does not match the original",
    110: "price off the contract's minimum price variation",
    135: "cannot find the order",
    161: "cancel attempted when the order is not cancelable",
    200: "no security definition found",
    201: "order rejected",
    202: "order canceled",
    203: "security not available or not allowed for this account",
    317: "market depth reset",
    320: "TWS could not read a request",
    321: "TWS could not validate a request",
    322: "TWS could not process a request",
    326: "client id already in use",
    354: "no market data subscription",
    502: "cannot connect to TWS",
    504: "not connected",
    1100: "connectivity between IB and TWS lost",
    1101: "connectivity restored, data lost: subscriptions renewed",
    1102: "connectivity restored, data maintained",
    1300: "TWS socket port reset: reconnect on the new port",
    2103: "market data farm disconnected",
    2104: "market data farm OK",
    2105: "historical data farm disconnected",
    2106: "historical data farm OK",
    2107: "historical data farm inactive, available on demand",
    2108: "market data farm inactive, available on demand",
    2110: "connectivity between TWS and IB servers broken, restoring automatically",
    2119: "market data farm connecting",
    2157: "security definition farm disconnected",
    2158: "security definition farm OK",
    10089: "market data needs an additional subscription",
    10090: "part of the market data needs an additional subscription",
    10147: "order to cancel not found",
    10148: "order cannot be canceled in its state",
    10167: "delayed market data shown: no live subscription",
    10197: "no market data during a competing live session",
}


def meaning(code: int) -> str:
    return MEANINGS.get(code, "TWS message")


def describe(code: int, message: str) -> str:
    """``IB 201 (order rejected): <TWS's own words>``."""
    return f"IB {code} ({meaning(code)}): {message}"
