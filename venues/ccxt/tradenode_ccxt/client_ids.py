"""Where each exchange takes the node's client order id, what it accepts, and whether an order
can be looked up by it.

The node's child ids are deterministic; the router shortens them to ``max_length`` and ``chars``
(``VenueCapabilities``), so every order carries an id the exchange keeps, and the adapter can
find the order again after a timeout or a restart. ``lookup`` says ccxt's
``fetch_order_with_client_order_id`` reaches the exchange's own query by client id; where it
does not, the adapter searches the open and recent orders instead.

Sources: ccxt 4.5.90's ``create_order`` / ``fetch_order`` of each exchange (which request field
the unified ``clientOrderId`` becomes), and the exchanges' documented formats. An exchange not
listed gets the conservative default (32 letters and digits, no lookup); the config's
``client_id_*`` keys override any of it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tradenode_ccxt.config import CcxtVenueConfig


@dataclass(frozen=True)
class ClientIdRule:
    #: the ``create_order`` param that carries the id
    param: str
    max_length: int
    #: allowed characters, as a regex character class body
    chars: str
    #: ``fetch_order_with_client_order_id`` queries the exchange by client id
    lookup: bool


DEFAULT = ClientIdRule("clientOrderId", 32, "A-Za-z0-9", lookup=False)

RULES: dict[str, ClientIdRule] = {
    # newClientOrderId: ^[.A-Z:/a-z0-9_-]{1,36}$; origClientOrderId on GET/DELETE /order
    "binance": ClientIdRule("clientOrderId", 36, "A-Za-z0-9._:-", lookup=True),
    "binanceus": ClientIdRule("clientOrderId", 36, "A-Za-z0-9._:-", lookup=True),
    # clOrdId: 1-32 case-sensitive letters and digits; fetch_order maps it to clOrdId
    "okx": ClientIdRule("clientOrderId", 32, "A-Za-z0-9", lookup=True),
    # cl_ord_id: a UUID or free text of up to 18 characters; fetch_order maps clientOrderId to
    # the integer userref instead, so orders are found by listing
    "kraken": ClientIdRule("clientOrderId", 18, "A-Za-z0-9-", lookup=False),
    # ccxt ignores the unified param and sends its own uuid: the raw field is passed instead
    "coinbase": ClientIdRule("client_order_id", 36, "A-Za-z0-9-", lookup=False),
    # client_order_id; ccxt's fetch_order takes the order id only
    "alpaca": ClientIdRule("clientOrderId", 48, "A-Za-z0-9._-", lookup=False),
    # orderLinkId: up to 36 letters, digits, - and _
    "bybit": ClientIdRule("clientOrderId", 36, "A-Za-z0-9_-", lookup=False),
    # clientOid: up to 40 letters, digits, - and _; fetch_order takes clientOrderId
    "kucoin": ClientIdRule("clientOrderId", 40, "A-Za-z0-9_-", lookup=True),
}


def client_id_rule(config: CcxtVenueConfig) -> ClientIdRule:
    """The exchange's rule with the config's overrides applied."""
    rule = RULES.get(config.exchange, DEFAULT)
    if config.client_id_param is not None:
        rule = replace(rule, param=config.client_id_param)
    if config.client_id_max_length is not None:
        rule = replace(rule, max_length=config.client_id_max_length)
    if config.client_id_chars is not None:
        rule = replace(rule, chars=config.client_id_chars)
    if config.client_id_lookup is not None:
        rule = replace(rule, lookup=config.client_id_lookup)
    return rule
