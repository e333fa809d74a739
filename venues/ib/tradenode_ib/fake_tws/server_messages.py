"""Server → client messages, each laid out in the order ``ib_async.decoder`` reads it at the
negotiated server version (the version-dependent fields are marked where they are added)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import IntEnum

from .ledger import AccountFigures, Holding
from .records import ExecutionRecord, OrderRecord
from .universe import Instrument
from .wire import UNSET_DOUBLE_TEXT, Field

Fields = list[Field]


class Out(IntEnum):
    """Message ids the server sends (client ids are a separate namespace)."""

    TICK_PRICE = 1
    TICK_SIZE = 2
    ORDER_STATUS = 3
    ERROR = 4
    OPEN_ORDER = 5
    ACCOUNT_VALUE = 6
    PORTFOLIO_VALUE = 7
    ACCOUNT_UPDATE_TIME = 8
    NEXT_VALID_ID = 9
    CONTRACT_DATA = 10
    EXECUTION_DATA = 11
    MARKET_DEPTH = 12
    MARKET_DEPTH_L2 = 13
    MANAGED_ACCOUNTS = 15
    CURRENT_TIME = 49
    CONTRACT_DATA_END = 52
    OPEN_ORDER_END = 53
    ACCOUNT_DOWNLOAD_END = 54
    EXECUTION_DATA_END = 55
    TICK_SNAPSHOT_END = 57
    MARKET_DATA_TYPE = 58
    COMMISSION_REPORT = 59
    POSITION = 61
    POSITION_END = 62
    ACCOUNT_SUMMARY = 63
    ACCOUNT_SUMMARY_END = 64
    ACCOUNT_UPDATE_MULTI = 73
    ACCOUNT_UPDATE_MULTI_END = 74
    PNL = 94
    PNL_SINGLE = 95
    COMPLETED_ORDER = 101
    COMPLETED_ORDERS_END = 102


def ib_time(moment: datetime) -> str:
    """A timestamp as TWS writes it in executions: ``yyyymmdd hh:mm:ss zone``."""
    return f"{moment:%Y%m%d %H:%M:%S} {moment.tzname() or 'UTC'}"


def error(req_id: int, code: int, message: str, version: int) -> Fields:
    fields: Fields = [Out.ERROR, 2, req_id, code, message]
    if version >= 166:
        fields.append("")  # advancedOrderRejectJson
    return fields


def _contract(instrument: Instrument, exchange: str) -> Fields:
    """conId … tradingClass without primaryExchange: the 11-field contract most messages use."""
    return [
        instrument.con_id,
        instrument.symbol,
        instrument.sec_type,
        instrument.last_trade_date,
        "0.0",
        "",
        instrument.multiplier,
        exchange,
        instrument.currency,
        instrument.local_symbol,
        instrument.trading_class,
    ]


def contract_details(
    req_id: int, instrument: Instrument, exchange: str, version: int, today: date
) -> Fields:
    trading_hours, liquid_hours = instrument.sessions(today)
    fields: Fields = [Out.CONTRACT_DATA]
    if version < 164:
        fields.append(8)
    fields += [
        req_id,
        instrument.symbol,
        instrument.sec_type,
        instrument.last_trade_date,
        "0.0",
        "",
        exchange,
        instrument.currency,
        instrument.local_symbol,
        instrument.market_name,
        instrument.trading_class,
        instrument.con_id,
        instrument.min_tick,
    ]
    if version < 164:
        fields.append(1)  # mdSizeMultiplier
    fields += [
        instrument.multiplier,
        instrument.order_types,
        ",".join(instrument.valid_exchanges),
        1,  # priceMagnifier
        0,  # underConId
        instrument.long_name,
        instrument.primary_exchange,
        instrument.contract_month,
        "",  # industry
        "",  # category
        "",  # subcategory
        instrument.time_zone,
        trading_hours,
        liquid_hours,
        "",  # evRule
        "",  # evMultiplier
        0,  # secIdList count
        1,  # aggGroup
        instrument.symbol if instrument.sec_type == "FUT" else "",
        "IND" if instrument.sec_type == "FUT" else "",
        ",".join([instrument.market_rule_id] * len(instrument.valid_exchanges)),
        instrument.last_trade_date,
        "COMMON" if instrument.sec_type == "STK" else "",
    ]
    if version == 163:
        fields.append(instrument.size_increment)
    if version >= 164:
        fields += [instrument.size_increment] * 3  # minSize, sizeIncrement, suggested
    return fields


@dataclass(frozen=True, slots=True)
class OrderState:
    """openOrder's order-state block: the status and, for what-if orders, margin impact."""

    status: str
    margin: tuple[str, ...] = ("",) * 9
    commission: Decimal | None = None
    currency: str = ""


def open_order(
    order: OrderRecord, version: int, state: OrderState, what_if: bool = False
) -> Fields:
    r = order.request
    fields: Fields = [
        Out.OPEN_ORDER,
        order.order_id,
        *_contract(order.instrument, order.exchange),
        r.action,
        r.quantity,
        r.order_type,
        r.lmt_price,
        r.aux_price,
        r.tif,
        "",  # ocaGroup
        order.account,
        r.open_close,
        r.origin,
        r.order_ref,
        order.client_id,
        order.perm_id,
        r.outside_rth,
        r.hidden,
        0,  # discretionaryAmt
        r.good_after_time,
        "",  # sharesAllocation (deprecated)
        "",  # faGroup
        "",  # faMethod
        "",  # faPercentage
    ]
    if version < 177:
        fields.append("")  # faProfile
    fields += [
        r.model_code,
        r.good_till_date,
        r.rule80a,
        "",  # percentOffset
        "",  # settlingFirm
        0,  # shortSaleSlot
        "",  # designatedLocation
        -1,  # exemptCode
        0,  # auctionStrategy
        "",  # startingPrice
        "",  # stockRefPrice
        "",  # delta
        "",  # stockRangeLower
        "",  # stockRangeUpper
        "",  # displaySize
        False,  # blockOrder
        False,  # sweepToFill
        r.all_or_none,
        r.min_qty,
        3,  # ocaType
        False,  # eTradeOnly
        False,  # firmQuoteOnly
        "",  # nbboPriceCap
        0,  # parentId
        0,  # triggerMethod
        "",  # volatility
        0,  # volatilityType
        "",  # deltaNeutralOrderType: empty, so no delta-neutral block follows
        "",  # deltaNeutralAuxPrice
        False,  # continuousUpdate
        0,  # referencePriceType
        "",  # trailStopPrice
        "",  # trailingPercent
        "",  # basisPoints
        "",  # basisPointsType
        "",  # comboLegsDescrip
        0,  # comboLegs count
        0,  # orderComboLegs count
        0,  # smartComboRoutingParams count
        "",  # scaleInitLevelSize
        "",  # scaleSubsLevelSize
        "",  # scalePriceIncrement: empty, so no scale block follows
        "",  # hedgeType: empty, so no hedgeParam
        False,  # optOutSmartRouting
        "",  # clearingAccount
        "",  # clearingIntent
        False,  # notHeld
        False,  # deltaNeutralContract present
        "",  # algoStrategy: empty, so no algo params
        False,  # solicited
        what_if,
        state.status,
        *state.margin,
        state.commission,
        "",  # minCommission
        "",  # maxCommission
        state.currency,
        "",  # warningText
        False,  # randomizeSize
        False,  # randomizePrice
        0,  # conditions count
        "",  # adjustedOrderType
        "",  # triggerPrice
        "",  # trailStopPrice
        "",  # lmtPriceOffset
        "",  # adjustedStopPrice
        "",  # adjustedStopLimitPrice
        "",  # adjustedTrailingAmount
        0,  # adjustableTrailingUnit
        "",  # softDollarTier name
        "",  # softDollarTier value
        "",  # softDollarTier display name
        r.cash_qty,
        False,  # dontUseAutoPriceForHedge
        False,  # isOmsContainer
        False,  # discretionaryUpToLimitPrice
        False,  # usePriceMgmtAlgo
    ]
    if version >= 159:
        fields.append("")  # duration
    if version >= 160:
        fields.append("")  # postToAts
    if version >= 162:
        fields.append(False)  # autoCancelParent
    if version >= 170:
        fields += ["", "", "", "", ""]  # minTradeQty … midOffsetAtHalf
    return fields


def order_state(order: OrderRecord) -> OrderState:
    done = not order.working
    return OrderState(
        order.status,
        commission=order.commission if done and order.filled else None,
        currency=order.instrument.currency if done and order.filled else "",
    )


def completed_order(order: OrderRecord, version: int) -> Fields:
    r = order.request
    fields: Fields = [
        Out.COMPLETED_ORDER,
        *_contract(order.instrument, order.exchange),
        r.action,
        r.quantity,
        r.order_type,
        r.lmt_price,
        r.aux_price,
        r.tif,
        "",  # ocaGroup
        order.account,
        r.open_close,
        r.origin,
        r.order_ref,
        order.perm_id,
        r.outside_rth,
        r.hidden,
        0,  # discretionaryAmt
        r.good_after_time,
        "",  # faGroup
        "",  # faMethod
        "",  # faPercentage
    ]
    if version < 177:
        fields.append("")  # faProfile
    fields += [
        r.model_code,
        r.good_till_date,
        r.rule80a,
        "",  # percentOffset
        "",  # settlingFirm
        0,  # shortSaleSlot
        "",  # designatedLocation
        -1,  # exemptCode
        "",  # startingPrice
        "",  # stockRefPrice
        "",  # delta
        "",  # stockRangeLower
        "",  # stockRangeUpper
        "",  # displaySize
        False,  # sweepToFill
        r.all_or_none,
        r.min_qty,
        3,  # ocaType
        0,  # triggerMethod
        "",  # volatility
        0,  # volatilityType
        "",  # deltaNeutralOrderType
        "",  # deltaNeutralAuxPrice
        False,  # continuousUpdate
        0,  # referencePriceType
        "",  # trailStopPrice
        "",  # trailingPercent
        "",  # comboLegsDescrip
        0,  # comboLegs count
        0,  # orderComboLegs count
        0,  # smartComboRoutingParams count
        "",  # scaleInitLevelSize
        "",  # scaleSubsLevelSize
        "",  # scalePriceIncrement
        "",  # hedgeType
        "",  # clearingAccount
        "",  # clearingIntent
        False,  # notHeld
        False,  # deltaNeutralContract present
        "",  # algoStrategy
        False,  # solicited
        order.status,
        False,  # randomizeSize
        False,  # randomizePrice
        0,  # conditions count
        "",  # trailStopPrice
        "",  # lmtPriceOffset
        r.cash_qty,
        False,  # dontUseAutoPriceForHedge
        False,  # isOmsContainer
        "",  # autoCancelDate
        order.filled,
        0,  # refFuturesConId
        False,  # autoCancelParent
        "",  # shareholder
        False,  # imbalanceOnly
        False,  # routeMarketableToBbo
        0,  # parentPermId
        ib_time(order.done_at or order.placed_at),
        _completed_status(order),
    ]
    if version >= 170:
        fields += ["", "", "", "", ""]  # minTradeQty … midOffsetAtHalf
    return fields


def _completed_status(order: OrderRecord) -> str:
    if order.status == "Filled":
        return f"Filled Size: {order.filled.normalize():f}"
    return f"Cancelled{': ' + order.cancel_reason if order.cancel_reason else ''}"


def order_status(order: OrderRecord) -> Fields:
    return [
        Out.ORDER_STATUS,
        order.order_id,
        order.status,
        order.filled,
        order.remaining,
        order.average_price,
        order.perm_id,
        0,  # parentId
        order.last_fill_price,
        order.client_id,
        "",  # whyHeld
        0,  # mktCapPrice
    ]


def exec_details(req_id: int, execution: ExecutionRecord, version: int) -> Fields:
    fields: Fields = [
        Out.EXECUTION_DATA,
        req_id,
        execution.order_id,
        *_contract(execution.instrument, execution.exchange),
        execution.exec_id,
        ib_time(execution.time),
        execution.account,
        execution.exchange,
        execution.side,
        execution.shares,
        execution.price,
        execution.perm_id,
        execution.client_id,
        0,  # liquidation
        execution.cum_qty,
        execution.avg_price,
        execution.order_ref,
        "",  # evRule
        "",  # evMultiplier
        execution.model_code,
        1 if execution.added_liquidity else 2,  # lastLiquidity
    ]
    if version >= 178:
        fields.append(False)  # pendingPriceRevision
    return fields


def commission_report(execution: ExecutionRecord) -> Fields:
    realized = execution.realized_pnl
    return [
        Out.COMMISSION_REPORT,
        1,
        execution.exec_id,
        execution.commission,
        execution.instrument.currency,
        UNSET_DOUBLE_TEXT if realized is None else realized.quantize(Decimal("0.000001")),
        UNSET_DOUBLE_TEXT,  # yield
        "",  # yieldRedemptionDate
    ]


def position(account: str, holding: Holding) -> Fields:
    instrument = holding.instrument
    exchange = instrument.primary_exchange if instrument.sec_type == "STK" else ""
    return [
        Out.POSITION,
        3,
        account,
        *_contract(instrument, exchange),
        holding.quantity,
        holding.average_cost,
    ]


def portfolio_value(account: str, holding: Holding, mark: Decimal) -> Fields:
    instrument = holding.instrument
    contract = _contract(instrument, "")
    return [
        Out.PORTFOLIO_VALUE,
        8,
        *contract[:7],
        instrument.primary_exchange,
        *contract[8:],
        holding.quantity,
        mark,
        _cents(holding.market_value(mark)),
        holding.average_cost,
        _cents(holding.unrealized(mark)),
        _cents(holding.realized),
        account,
    ]


def pnl(req_id: int, figures: AccountFigures) -> Fields:
    """The account's PnL since this TWS started (daily = realized + unrealized)."""
    realized, unrealized = figures.realized, figures.unrealized
    return [Out.PNL, req_id, _cents(realized + unrealized), _cents(unrealized), _cents(realized)]


def pnl_single(req_id: int, holding: Holding | None, mark: Decimal) -> Fields:
    if holding is None:
        return [Out.PNL_SINGLE, req_id, 0, 0, 0, 0, 0]
    unrealized = holding.unrealized(mark)
    return [
        Out.PNL_SINGLE,
        req_id,
        holding.quantity,
        _cents(unrealized + holding.realized),
        _cents(unrealized),
        _cents(holding.realized),
        _cents(holding.market_value(mark)),
    ]


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def market_data_type(req_id: int, data_type: int) -> Fields:
    return [Out.MARKET_DATA_TYPE, 1, req_id, data_type]


def tick_price(req_id: int, tick_type: int, price: Decimal, size: Decimal) -> Fields:
    return [Out.TICK_PRICE, 6, req_id, tick_type, price, size, 0]


def tick_size(req_id: int, tick_type: int, size: Decimal) -> Fields:
    return [Out.TICK_SIZE, 6, req_id, tick_type, size]


def depth_update(
    req_id: int, row: int, operation: int, side: int, price: Decimal, size: Decimal
) -> Fields:
    """One row of a single-exchange book (operation 0 insert, 1 update, 2 delete; side 1 bid)."""
    return [Out.MARKET_DEPTH, 1, req_id, row, operation, side, price, size]


def depth_update_l2(
    req_id: int,
    row: int,
    market_maker: str,
    operation: int,
    side: int,
    price: Decimal,
    size: Decimal,
) -> Fields:
    """One row of a SMART (aggregated) book, tagged with the exchange showing it."""
    return [Out.MARKET_DEPTH_L2, 1, req_id, row, market_maker, operation, side, price, size, True]
