"""Every exchange in ``client_ids.RULES``: the order request ccxt really builds from the
adapter's create-order call carries the node's client order id, unchanged, in that exchange's
own wire field; and where the rule says the order can be looked up by client id, ccxt's
``fetch_order_with_client_order_id`` request carries it too.

Offline: the real ccxt client is built by the adapter (``build_exchange``) with dummy keys and a
minimal market for one symbol (``set_markets``, shaped as ccxt's parser makes it); only its
transport (``fetch``) is replaced. Account-mode queries some exchanges make before an order are
answered with canned replies; the order (or lookup) request itself is recorded and refused with
``Sent``, so no parser has to read a reply. The id comes from the node's own
``child_order_id`` for the venue's capabilities, and the create-order arguments from
``Session._order_args``, as the session sends them.

Wire fields, from ccxt 4.5.90's source (``ccxt/async_support/<exchange>.py``):
binance/binanceus ``newClientOrderId`` (create_order_request), okx ``clOrdId``
(create_order_request), kraken ``cl_ord_id`` (order_request), coinbase ``client_order_id``
(create_order's request, overridden by the raw param: ccxt omits only the unified one), alpaca
``client_order_id`` (generate_client_order_id), bybit ``orderLinkId`` (create_order_request),
kucoin ``clientOid`` (create_spot_order_request / create_uta_order_request).
"""

from __future__ import annotations

import asyncio
import json
import re
import string
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
from tradenode_ccxt.client_ids import RULES, ClientIdRule
from tradenode_ccxt.config import CcxtVenueConfig
from tradenode_ccxt.exchange import build_exchange
from tradenode_ccxt.session import Session
from tradenode_ccxt.tracker import OrderTracker

from node.client_ids import child_order_id
from node.messages import SubmitOrder

KEY_ENV, SECRET_ENV, PASSWORD_ENV = "CID_TEST_KEY", "CID_TEST_SECRET", "CID_TEST_PASSWORD"
#: base64 (Kraken decodes its secret) without padding and not 88 long (Coinbase would take
#: either for a cloud key that must be a real Ed25519 key; this one signs as a legacy HMAC key)
DUMMY_SECRET = "ZHVtbXktc2VjcmV0LWR1bW15"


@dataclass(frozen=True)
class Case:
    """One exchange account: the market traded and where the id must appear."""

    exchange: str
    symbol: str
    market_id: str
    #: the exchange's own request field for the client order id on a new order
    wire: str
    #: the path of the order-placing request (a suffix of the URL path)
    order_path: str
    #: the request field or the path a lookup by client id carries it in (lookup rules only)
    lookup_wire: str | None = None
    lookup_path: str | None = None
    password: bool = False
    #: canned replies to the queries ccxt makes before the order: URL path suffix -> reply
    replies: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    label: str = ""


BINANCE_INFO = {"symbol": "BTCUSDT", "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"]}
BYBIT_ACCOUNT = {
    "/v5/user/query-api": {"retCode": 0, "retMsg": "OK", "result": {"unified": 0, "uta": 1}},
    "/v5/account/info": {"retCode": 0, "retMsg": "OK", "result": {"unifiedMarginStatus": 6}},
}


def kucoin_mode(mode: str) -> dict[str, Any]:
    return {"/account/mode": {"code": "200000", "data": {"selfAccountMode": mode}}}


CASES: list[Case] = [
    Case(
        "binance",
        "BTC/USDT",
        "BTCUSDT",
        wire="newClientOrderId",
        order_path="/api/v3/order",
        lookup_wire="origClientOrderId",
        lookup_path="/api/v3/order",
        info=BINANCE_INFO,
    ),
    Case(
        "binanceus",
        "BTC/USDT",
        "BTCUSDT",
        wire="newClientOrderId",
        order_path="/api/v3/order",
        lookup_wire="origClientOrderId",
        lookup_path="/api/v3/order",
        info=BINANCE_INFO,
    ),
    Case(
        "okx",
        "BTC/USDT",
        "BTC-USDT",
        wire="clOrdId",
        order_path="/api/v5/trade/batch-orders",  # ccxt's default createOrder method
        lookup_wire="clOrdId",
        lookup_path="/api/v5/trade/order",
        password=True,
    ),
    Case(
        "kraken",
        "BTC/USD",
        "XXBTZUSD",
        wire="cl_ord_id",
        order_path="/0/private/AddOrder",
        info={"altname": "XBTUSD", "wsname": "XBT/USD"},
    ),
    Case(
        "coinbase",
        "BTC/USD",
        "BTC-USD",
        wire="client_order_id",
        order_path="/api/v3/brokerage/orders",
    ),
    Case(
        "alpaca",
        "BTC/USD",
        "BTC/USD",
        wire="client_order_id",
        order_path="/v2/orders",
    ),
    Case(
        "bybit",
        "BTC/USDT",
        "BTCUSDT",
        wire="orderLinkId",
        order_path="/v5/order/create",
        replies=BYBIT_ACCOUNT,
    ),
    Case(
        "kucoin",
        "BTC/USDT",
        "BTC-USDT",
        wire="clientOid",
        order_path="/orders",
        lookup_wire="clientOid",
        lookup_path="/client-order/{id}",
        password=True,
        replies=kucoin_mode("CLASSIC"),
        label="classic account",
    ),
    Case(
        "kucoin",
        "BTC/USDT",
        "BTC-USDT",
        wire="clientOid",
        order_path="/unified/order/place",
        lookup_wire="clientOid",
        lookup_path="/order/detail",
        password=True,
        replies=kucoin_mode("UNIFIED"),
        label="unified account",
    ),
]

#: exchanges that cannot be exercised offline: exchange -> why (none so far)
UNTESTABLE: dict[str, str] = {}


def cases_for_rules() -> list[Any]:
    """One parameter per case of every exchange in RULES; an exchange without a case fails
    (a new rule must come with its proof), one that cannot run offline is skipped with why."""
    params = []
    for exchange in sorted(RULES):
        mine = [c for c in CASES if c.exchange == exchange]
        if exchange in UNTESTABLE:
            mark = pytest.mark.skip(reason=f"{exchange}: {UNTESTABLE[exchange]}")
            params.append(pytest.param(None, exchange, id=exchange, marks=mark))
        elif not mine:
            params.append(pytest.param(None, exchange, id=exchange))
        for case in mine:
            name = f"{exchange}-{case.label.replace(' ', '-')}" if case.label else exchange
            params.append(pytest.param(case, exchange, id=name))
    return params


class Sent(Exception):
    """The request was recorded; nothing answers it."""


@dataclass
class Request:
    url: str
    method: str
    headers: dict[str, Any]
    body: Any

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.url).path)

    def fields(self) -> dict[str, str]:
        """The query string's and the body's fields (JSON or form-encoded)."""
        found = dict(parse_qsl(urlsplit(self.url).query, keep_blank_values=True))
        if self.body:
            text = self.body.decode() if isinstance(self.body, bytes) else str(self.body)
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = dict(parse_qsl(text, keep_blank_values=True))
            if isinstance(parsed, list) and len(parsed) == 1:
                parsed = parsed[0]
            assert isinstance(parsed, dict), f"unexpected body {text!r}"
            found.update({k: v for k, v in parsed.items() if isinstance(v, str)})
        return found


class Outbox:
    def __init__(self) -> None:
        self.said: list[tuple[str, str]] = []

    def status(self, status: str, detail: str) -> None:
        self.said.append((status, detail))

    def instruments(self, instruments: list[Any]) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the session told the outbox {name} in a create-order test")


def market(case: Case) -> dict[str, Any]:
    """A spot market as ccxt's ``parse_market`` makes it (tick-size precision)."""
    base, quote = case.symbol.split("/")
    return {
        "id": case.market_id,
        "symbol": case.symbol,
        "base": base,
        "quote": quote,
        "baseId": base,
        "quoteId": quote,
        "settle": None,
        "settleId": None,
        "type": "spot",
        "spot": True,
        "margin": False,
        "swap": False,
        "future": False,
        "option": False,
        "index": None,
        "active": True,
        "contract": False,
        "linear": None,
        "inverse": None,
        "subType": None,
        "taker": 0.001,
        "maker": 0.001,
        "contractSize": None,
        "expiry": None,
        "expiryDatetime": None,
        "strike": None,
        "optionType": None,
        "precision": {"amount": 0.0001, "price": 0.01, "cost": None, "base": None, "quote": None},
        "limits": {
            "leverage": {"min": None, "max": None},
            "amount": {"min": 0.0001, "max": None},
            "price": {"min": None, "max": None},
            "cost": {"min": None, "max": None},
        },
        "marginModes": {"cross": False, "isolated": False},
        "created": None,
        "info": dict(case.info),
    }


def allowed_characters(rule: ClientIdRule) -> str:
    allowed = re.compile(f"[{rule.chars}]")
    return "".join(c for c in string.printable if allowed.fullmatch(c))


def ids_to_send(rule: ClientIdRule, session: Session) -> list[str]:
    """The node's child ids for this venue (one that fits as it is, one shortened with its
    hash), and one of the rule's full length using every non-alphanumeric character it allows
    (the id the rule itself must be right about)."""
    capabilities = session.capabilities()
    node_ids = [
        child_order_id("p7", 0, 0, 0, capabilities),
        child_order_id("rebalance_2024-05-09:btc/usd.long-parent-name", 12, 3, 1, capabilities),
    ]
    chars = allowed_characters(rule)
    specials = "".join(c for c in chars if not c.isalnum())
    # starting with a letter: some exchanges refuse an id that starts with a symbol
    alnum = "".join(c for c in chars if c.isalnum())
    edge = ("A" + specials + alnum * rule.max_length)[: rule.max_length]
    assert set(specials) <= set(edge), edge
    return [*node_ids, edge]


def recorder(case: Case, sent: list[Request]) -> Any:
    async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        request = Request(url, method, dict(headers or {}), body)
        for suffix, reply in case.replies.items():
            if request.path.endswith(suffix):
                return reply
        sent.append(request)
        raise Sent(url)

    return fetch


async def exercise(case: Case, lookup: bool) -> list[tuple[str, Request]]:
    """Build the venue's session and client, send each id (create order, or the lookup by
    client id), and return each id with the request that carried it."""
    config = CcxtVenueConfig(
        exchange=case.exchange,
        symbols=[case.symbol],
        api_key_env=KEY_ENV,
        secret_env=SECRET_ENV,
        password_env=PASSWORD_ENV if case.password else None,
        market_data="polling",
        fees="markets",
        rate_limit=False,
    )
    outbox = Outbox()
    session = Session(
        case.exchange,
        config,
        outbox,  # type: ignore[arg-type]
        OrderTracker(case.exchange),
        book_of=lambda symbol: None,  # type: ignore[arg-type,return-value]
        now=time.time_ns,
    )
    exchange = session.exchange = build_exchange(config, websockets=False)
    sent: list[Request] = []
    results: list[tuple[str, Request]] = []
    try:
        exchange.set_markets([market(case)])
        session._load_instruments({})
        assert session.instruments[case.symbol].tradable, outbox.said
        exchange.fetch = recorder(case, sent)
        for cid in ids_to_send(session.rule, session):
            before = len(sent)
            if lookup:
                with pytest.raises(Sent):
                    await session.find_order(cid, case.symbol)
            else:
                order = SubmitOrder(
                    client_order_id=cid,
                    venue=case.exchange,
                    symbol=case.symbol,
                    side="buy",
                    quantity=Decimal("0.0123"),
                    order_type="limit",
                    limit_price=Decimal("25000.01"),
                )
                prepared = session._order_args(order)
                assert not isinstance(prepared, str), prepared
                args, params = prepared
                with pytest.raises(Sent):
                    await exchange.create_order(*args, dict(params))  # as Session._place
            assert len(sent) == before + 1, [r.url for r in sent[before:]]
            results.append((cid, sent[-1]))
    finally:
        await exchange.close()
    return results


@pytest.fixture(autouse=True)
def dummy_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "dummy-api-key")
    monkeypatch.setenv(SECRET_ENV, DUMMY_SECRET)
    monkeypatch.setenv(PASSWORD_ENV, "dummy-passphrase")


def check_case(case: Case | None, exchange: str) -> Case:
    if case is None:
        pytest.fail(f"{exchange} is in client_ids.RULES but has no case here: add one")
    return case


@pytest.mark.parametrize(("case", "exchange"), cases_for_rules())
def test_order_request_carries_the_client_id_in_the_exchange_field(
    case: Case | None, exchange: str
) -> None:
    case = check_case(case, exchange)
    rule = RULES[exchange]
    allowed = re.compile(f"[{rule.chars}]{{1,{rule.max_length}}}")
    for cid, request in asyncio.run(exercise(case, lookup=False)):
        assert allowed.fullmatch(cid), f"{cid!r} breaks the rule {rule}"
        assert request.method in ("POST", "PUT"), request
        assert request.path.endswith(case.order_path), request.url
        fields = request.fields()
        assert fields.get(case.wire) == cid, (
            f"{exchange}: {case.wire} is {fields.get(case.wire)!r}, not {cid!r}: {fields}"
        )
        # the unified name must not travel instead (the exchange would ignore it)
        others = {k: v for k, v in fields.items() if v == cid and k != case.wire}
        assert not others, f"{exchange}: the id also went as {others}"


@pytest.mark.parametrize(
    ("case", "exchange"),
    [p for p in cases_for_rules() if p.values[0] is None or RULES[p.values[1]].lookup],
)
def test_lookup_by_client_id_asks_the_exchange_for_it(case: Case | None, exchange: str) -> None:
    case = check_case(case, exchange)
    assert case.lookup_wire and case.lookup_path, f"{exchange}: lookup rule without a case"
    for cid, request in asyncio.run(exercise(case, lookup=True)):
        assert request.method == "GET", request
        fields = request.fields()
        in_path = request.path.endswith(case.lookup_path.format(id=cid))
        assert fields.get(case.lookup_wire) == cid or in_path, (
            f"{exchange}: lookup {request.method} {request.url} {request.body!r} lacks {cid!r}"
        )
