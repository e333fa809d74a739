"""Client → server messages: their ids and parsers that walk the fields in the order
``ib_async.client`` writes them for the negotiated server version.

A request that does not parse raises :class:`MalformedRequest` (TWS answers error 320); an order
using a feature this TWS does not model raises :class:`UnsupportedOrder` (answered with 201),
so nothing is silently half-understood.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .universe import ContractQuery


class In(IntEnum):
    """Message ids a client sends (a namespace separate from the server's ids)."""

    REQ_MKT_DATA = 1
    CANCEL_MKT_DATA = 2
    PLACE_ORDER = 3
    CANCEL_ORDER = 4
    REQ_OPEN_ORDERS = 5
    REQ_ACCOUNT_UPDATES = 6
    REQ_EXECUTIONS = 7
    REQ_IDS = 8
    REQ_CONTRACT_DETAILS = 9
    REQ_MKT_DEPTH = 10
    CANCEL_MKT_DEPTH = 11
    REQ_AUTO_OPEN_ORDERS = 15
    REQ_ALL_OPEN_ORDERS = 16
    REQ_MANAGED_ACCTS = 17
    REQ_CURRENT_TIME = 49
    REQ_GLOBAL_CANCEL = 58
    REQ_MARKET_DATA_TYPE = 59
    REQ_POSITIONS = 61
    REQ_ACCOUNT_SUMMARY = 62
    CANCEL_ACCOUNT_SUMMARY = 63
    CANCEL_POSITIONS = 64
    START_API = 71
    REQ_ACCOUNT_UPDATES_MULTI = 76
    CANCEL_ACCOUNT_UPDATES_MULTI = 77
    REQ_PNL = 92
    CANCEL_PNL = 93
    REQ_PNL_SINGLE = 94
    CANCEL_PNL_SINGLE = 95
    REQ_COMPLETED_ORDERS = 99


class MalformedRequest(ValueError):
    """The fields do not form the message their id announces."""


class UnsupportedOrder(ValueError):
    """A well-formed order that uses a feature this TWS does not model."""

    def __init__(self, reason: str, order_id: int, order_ref: str) -> None:
        super().__init__(reason)
        self.order_id = order_id
        self.order_ref = order_ref


class Reader:
    """Reads a message's fields in order; running out or a bad number is a malformed message."""

    def __init__(self, fields: list[str], start: int = 1) -> None:
        self._fields = fields
        self._at = start

    def text(self) -> str:
        if self._at >= len(self._fields):
            raise MalformedRequest(f"message ends after {len(self._fields)} fields")
        value = self._fields[self._at]
        self._at += 1
        return value

    def integer(self) -> int:
        text = self.text()
        try:
            return int(text) if text else 0
        except ValueError:
            raise MalformedRequest(f"{text!r} is not an integer") from None

    def decimal(self) -> Decimal | None:
        text = self.text()
        if not text:
            return None
        try:
            return Decimal(text)
        except InvalidOperation:
            raise MalformedRequest(f"{text!r} is not a number") from None

    def flag(self) -> bool:
        return self.integer() != 0

    def skip(self, count: int = 1) -> None:
        for _ in range(count):
            self.text()

    def finish(self) -> None:
        if self._at != len(self._fields):
            raise MalformedRequest(f"{len(self._fields) - self._at} unexpected trailing fields")


def read_contract(reader: Reader, *, primary_exchange: bool = True) -> ContractQuery:
    return ContractQuery(
        con_id=reader.integer(),
        symbol=reader.text(),
        sec_type=reader.text(),
        last_trade_date=reader.text(),
        strike=reader.text(),
        right=reader.text(),
        multiplier=reader.text(),
        exchange=reader.text(),
        primary_exchange=reader.text() if primary_exchange else "",
        currency=reader.text(),
        local_symbol=reader.text(),
        trading_class=reader.text(),
    )


@dataclass(frozen=True, slots=True)
class MktDataRequest:
    req_id: int
    contract: ContractQuery
    snapshot: bool


def parse_mkt_data(fields: list[str]) -> MktDataRequest:
    reader = Reader(fields, start=2)
    req_id = reader.integer()
    contract = read_contract(reader)
    if contract.sec_type == "BAG":
        reader.skip(4 * reader.integer())
    if reader.flag():
        reader.skip(3)
    reader.skip()  # generic tick list: only the default ticks are served
    snapshot = reader.flag()
    reader.skip(2)  # regulatory snapshot, options
    reader.finish()
    return MktDataRequest(req_id, contract, snapshot)


@dataclass(frozen=True, slots=True)
class DepthRequest:
    req_id: int
    contract: ContractQuery
    rows: int
    smart_depth: bool


def parse_mkt_depth(fields: list[str]) -> DepthRequest:
    reader = Reader(fields, start=2)
    req_id = reader.integer()
    contract = read_contract(reader)
    rows = reader.integer()
    smart = reader.flag()
    reader.skip()  # options
    reader.finish()
    return DepthRequest(req_id, contract, rows, smart)


def parse_contract_details(fields: list[str], version: int) -> tuple[int, ContractQuery]:
    reader = Reader(fields, start=2)
    req_id = reader.integer()
    contract = read_contract(reader)
    reader.skip(3)  # includeExpired, secIdType, secId
    if version >= 176:
        reader.skip()  # issuerId
    reader.finish()
    return req_id, contract


@dataclass(frozen=True, slots=True)
class ExecFilter:
    """reqExecutions' filter; empty fields (and client id 0) match everything."""

    client_id: int = 0
    account: str = ""
    since: datetime | None = None
    symbol: str = ""
    sec_type: str = ""
    exchange: str = ""
    side: str = ""


def parse_exec_filter(fields: list[str]) -> tuple[int, ExecFilter]:
    reader = Reader(fields, start=2)
    req_id = reader.integer()
    result = ExecFilter(
        client_id=reader.integer(),
        account=reader.text(),
        since=parse_filter_time(reader.text()),
        symbol=reader.text(),
        sec_type=reader.text(),
        exchange=reader.text(),
        side=reader.text(),
    )
    reader.finish()
    return req_id, result


def parse_filter_time(text: str) -> datetime | None:
    """TWS filter times: ``yyyymmdd-hh:mm:ss`` (UTC) or ``yyyymmdd hh:mm:ss [zone]``.

    A time without a zone is read in UTC, the zone this TWS reports its executions in.
    """
    text = text.strip()
    if not text:
        return None
    if len(text) > 8 and text[8] == "-":
        text = f"{text[:8]} {text[9:]}"
    date_part, _, rest = text.partition(" ")
    clock, _, zone = rest.strip().partition(" ")
    try:
        moment = datetime.strptime(f"{date_part} {clock}", "%Y%m%d %H:%M:%S")
        tz = ZoneInfo(zone) if zone else UTC
    except (ValueError, ZoneInfoNotFoundError):
        raise MalformedRequest(f"bad execution filter time {text!r}") from None
    return moment.replace(tzinfo=tz)


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """The parts of a placeOrder message this TWS acts on or echoes back in openOrder."""

    order_id: int
    contract: ContractQuery
    action: str
    quantity: Decimal
    order_type: str
    lmt_price: Decimal | None
    aux_price: Decimal | None
    tif: str
    account: str
    open_close: str
    origin: int
    order_ref: str
    outside_rth: bool
    hidden: bool
    good_after_time: str
    good_till_date: str
    model_code: str
    rule80a: str
    all_or_none: bool
    min_qty: int | None
    what_if: bool
    cash_qty: Decimal | None


SUPPORTED_ORDER_TYPES = frozenset({"MKT", "LMT", "STP", "STP LMT"})
SUPPORTED_TIFS = frozenset({"", "DAY", "GTC", "IOC"})


def parse_place_order(fields: list[str], version: int) -> OrderRequest:
    """Walk a placeOrder message field by field, mirroring ``ib_async.client.placeOrder``."""
    r = Reader(fields)
    order_id = r.integer()
    contract = read_contract(r)
    r.skip(2)  # secIdType, secId
    action = r.text()
    quantity = r.decimal() or Decimal(0)
    order_type = r.text()
    lmt_price = r.decimal()
    aux_price = r.decimal()
    tif = r.text()
    oca_group = r.text()
    account = r.text()
    open_close = r.text()
    origin = r.integer()
    order_ref = r.text()
    transmit = r.flag()
    parent_id = r.integer()
    r.skip(3)  # blockOrder, sweepToFill, displaySize
    trigger_method = r.integer()
    outside_rth = r.flag()
    hidden = r.flag()
    if contract.sec_type == "BAG":
        raise UnsupportedOrder("combo (BAG) orders are not supported", order_id, order_ref)
    if order_type not in SUPPORTED_ORDER_TYPES:
        raise UnsupportedOrder(f"order type {order_type!r} is not supported", order_id, order_ref)
    r.skip(2)  # sharesAllocation (deprecated), discretionaryAmt
    good_after_time = r.text()
    good_till_date = r.text()
    r.skip(3 if version >= 177 else 4)  # faGroup, faMethod, faPercentage, [faProfile]
    model_code = r.text()
    r.skip(4)  # shortSaleSlot, designatedLocation, exemptCode, ocaType
    rule80a = r.text()
    r.skip()  # settlingFirm
    all_or_none = r.flag()
    min_qty_text = r.text()
    r.skip(13)  # percentOffset … volatilityType (stock range, volatility, delta, …)
    delta_neutral_type = r.text()
    r.skip()  # deltaNeutralAuxPrice
    if delta_neutral_type:
        r.skip(8)
    r.skip(6)  # continuousUpdate … scaleSubsLevelSize
    scale_increment = r.decimal()
    if scale_increment is not None and scale_increment > 0:
        r.skip(7)
    r.skip(3)  # scaleTable, activeStartTime, activeStopTime
    if r.text():  # hedgeType
        r.skip()
    r.skip(4)  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    if r.flag():  # delta-neutral contract
        r.skip(3)
    algo_strategy = r.text()
    if algo_strategy:
        r.skip(2 * r.integer())
    r.skip()  # algoId
    what_if = r.flag()
    r.skip(4)  # orderMiscOptions, solicited, randomizeSize, randomizePrice
    if r.integer():  # the conditions that would follow are not walked
        raise UnsupportedOrder("order conditions are not supported", order_id, order_ref)
    r.skip(10)  # adjustedOrderType … softDollarTier value
    cash_qty = r.decimal()
    r.skip(8)  # mifid2 fields, dontUseAutoPriceForHedge … usePriceMgmtAlgo
    if version >= 158:
        r.skip()  # duration
    if version >= 160:
        r.skip()  # postToAts
    if version >= 162:
        r.skip()  # autoCancelParent
    if version >= 166:
        r.skip()  # advancedErrorOverride
    if version >= 169:
        r.skip()  # manualOrderTime
    if version >= 170 and contract.exchange == "IBKRATS":
        r.skip()  # minTradeQty
    r.finish()
    for unsupported, feature in (
        (oca_group, "OCA groups"),
        (parent_id, "attached (parent/child) orders"),
        (not transmit, "untransmitted orders"),
        (algo_strategy, "IB algos"),
        (trigger_method, "non-default stop trigger methods"),
    ):
        if unsupported:
            raise UnsupportedOrder(f"{feature} are not supported", order_id, order_ref)
    if tif not in SUPPORTED_TIFS:
        raise UnsupportedOrder(f"time in force {tif!r} is not supported", order_id, order_ref)
    return OrderRequest(
        order_id=order_id,
        contract=contract,
        action=action,
        quantity=quantity,
        order_type=order_type,
        lmt_price=lmt_price,
        aux_price=aux_price,
        tif=tif or "DAY",
        account=account,
        open_close=open_close,
        origin=origin,
        order_ref=order_ref,
        outside_rth=outside_rth,
        hidden=hidden,
        good_after_time=good_after_time,
        good_till_date=good_till_date,
        model_code=model_code,
        rule80a=rule80a,
        all_or_none=all_or_none,
        min_qty=int(min_qty_text) if min_qty_text else None,
        what_if=what_if,
        cash_qty=cash_qty,
    )


def parse_cancel_order(fields: list[str]) -> int:
    """The order id (a trailing manualCancelOrderTime, from version 169, is not needed)."""
    return Reader(fields, start=2).integer()
