"""The fake TWS as the real ``ib_async.IB`` sees it over TCP on 127.0.0.1.

Every test drives the unmodified client (handshake, sync, decoder) against the server, so a
field out of place in any frame shows up as a decode error, a missing value or a hang (bounded
by timeouts). Prices move only when a test moves them, so every fill is deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from ib_async import (
    IB,
    Contract,
    ExecutionFilter,
    Forex,
    Future,
    LimitOrder,
    MarketOrder,
    Stock,
    StopLimitOrder,
    StopOrder,
    Trade,
)
from tradenode_ib.fake_tws import (
    FakeTws,
    FakeTwsConfig,
    PriceModel,
    Recording,
    ThreadedFakeTws,
)
from tradenode_ib.fake_tws.client_messages import MalformedRequest, parse_filter_time
from tradenode_ib.fake_tws.wire import frame

T = TypeVar("T")
D = Decimal
TIMEOUT = 10.0
AAPL = Stock("AAPL", "SMART", "USD")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run one test's client and server on a fresh loop, failing instead of hanging."""
    return asyncio.run(asyncio.wait_for(coroutine, TIMEOUT))


@pytest.fixture(autouse=True)
def no_decode_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Any frame ib_async's decoder cannot read fails the test that caused it."""
    with caplog.at_level(logging.ERROR, logger="ib_async.Decoder"):
        yield
    assert not decoder_errors(caplog.get_records("call"))


def decoder_errors(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if r.name == "ib_async.Decoder"]


async def until(condition: Callable[[], object]) -> None:
    """Wait for the client to have received something (the test's own timeout bounds it)."""
    while not condition():
        await asyncio.sleep(0.005)


async def connect(port: int, client_id: int = 1) -> IB:
    ib = IB()
    await ib.connectAsync("127.0.0.1", port, clientId=client_id, timeout=5, raiseSyncErrors=True)
    return ib


@contextlib.asynccontextmanager
async def trading(
    config: FakeTwsConfig | None = None, client_id: int = 1
) -> AsyncIterator[tuple[FakeTws, IB]]:
    async with FakeTws(config) as tws:
        ib = await connect(tws.port, client_id)
        try:
            yield tws, ib
        finally:
            ib.disconnect()


def errors_of(ib: IB) -> list[tuple[int, int, str]]:
    seen: list[tuple[int, int, str]] = []
    ib.errorEvent += lambda req_id, code, message, contract: seen.append((req_id, code, message))
    return seen


def account_value(ib: IB, tag: str, currency: str) -> str | None:
    values = [v.value for v in ib.accountValues() if (v.tag, v.currency) == (tag, currency)]
    return values[0] if values else None


def statuses(trade: Trade) -> list[str]:
    """The distinct statuses a trade went through, in order."""
    result: list[str] = []
    for entry in trade.log:
        if not result or result[-1] != entry.status:
            result.append(entry.status)
    return result


# -- connecting -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [176, 178])
def test_connect_syncs_every_startup_request(version: int, caplog: pytest.LogCaptureFixture):
    async def scenario():
        async with trading(FakeTwsConfig(server_version=version)) as (tws, ib):
            assert ib.client.serverVersion() == version
            assert ib.managedAccounts() == ["DU123456"]
            assert tws.client_ids == [1]
            assert ib.positions() == []
            assert ib.openTrades() == []
            values = {v.tag: v for v in ib.accountValues() if v.currency == "USD"}
            assert values["NetLiquidation"].value == "1000000.00"

    with caplog.at_level(logging.INFO, logger="ib_async"):
        run(scenario())
    messages = [record.getMessage() for record in caplog.records]
    assert "Synchronization complete" in messages
    assert not [m for m in messages if "timed out" in m]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_recorded_frames_replayed_at_version_173():
    async def scenario():
        async with trading(FakeTwsConfig.replaying()) as (_, ib):
            assert ib.client.serverVersion() == 173
            assert ib.managedAccounts() == ["ACCOUNT_ID"]
            positions = {p.contract.symbol: p for p in ib.positions()}
            aapl, es = positions["AAPL"], positions["ES"]
            assert (aapl.contract.conId, aapl.position, aapl.avgCost) == (265598, -110, 201.8829709)
            assert (aapl.contract.exchange, aapl.contract.tradingClass) == ("NASDAQ", "NMS")
            assert (es.contract.conId, es.position, es.avgCost) == (637533641, 1, 315114.75)
            assert es.contract.lastTradeDateOrContractMonth == "20250919"
            assert (es.contract.multiplier, es.contract.localSymbol) == ("50", "ESU5")
            assert await ib.reqCurrentTimeAsync() == datetime(2025, 7, 15, 19, 5, 7, tzinfo=UTC)
            summary = {v.tag: (v.value, v.currency) for v in await ib.accountSummaryAsync()}
            assert summary == {
                "NetLiquidation": ("246447.83", "USD"),
                "TotalCashValue": ("269339.33", "USD"),
                "GrossPositionValue": ("23172.60", "USD"),
            }
            # trading still works on the recording's protocol version (openOrder with faProfile)
            [aapl_contract] = await ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD"))
            trade = ib.placeOrder(aapl_contract, MarketOrder("BUY", 10, orderRef="r173"))
            await until(trade.isDone)
            assert trade.orderStatus.status == "Filled"
            assert trade.fills[0].execution.orderRef == "r173"

    run(scenario())


def test_recording_is_read_from_the_package_copy():
    recording = Recording.load()
    assert recording.server_version == 173
    assert recording.account == "ACCOUNT_ID"
    with pytest.raises(ValueError, match="173"):
        FakeTwsConfig(server_version=178, recording=recording)


def test_duplicate_client_id_is_refused():
    async def scenario():
        async with trading(client_id=5) as (tws, first):
            second = IB()
            errors = errors_of(second)
            # like TWS: error 326, then the socket closes; ib_async waits out its timeout
            with pytest.raises((ConnectionError, asyncio.TimeoutError)):
                await second.connectAsync("127.0.0.1", tws.port, clientId=5, timeout=0.5)
            assert [code for _, code, _ in errors] == [326]
            assert first.isConnected()
            assert tws.client_ids == [5]

    run(scenario())


# -- contracts and market data ----------------------------------------------------------------


def test_qualify_contracts_and_contract_details():
    async def scenario():
        async with trading() as (_, ib):
            wanted = [
                Stock("AAPL", "SMART", "USD"),
                Stock("MSFT", "SMART", "USD", primaryExchange="NASDAQ"),
                Future("ES", "202703", "CME"),
                Forex("EURUSD"),
                Stock("NOPE", "SMART", "USD"),
            ]
            qualified = await ib.qualifyContractsAsync(*wanted)
            assert [c.conId if c else None for c in qualified] == [
                265598,
                272093,
                760000001,
                12087792,
                None,
            ]
            es = qualified[2]
            assert es is not None
            assert (es.multiplier, es.lastTradeDateOrContractMonth) == ("50", "20270319")
            ticks = {}
            for contract in qualified[:4]:
                assert isinstance(contract, Contract)
                [details] = await ib.reqContractDetailsAsync(contract)
                ticks[details.contract.localSymbol] = details.minTick
                assert details.tradingSessions()  # the hours parse as TWS session strings
            assert ticks == {"AAPL": 0.01, "MSFT": 0.01, "ESH7": 0.25, "EUR.USD": 0.00005}

    run(scenario())


def test_market_data_ticks_follow_the_book():
    async def scenario():
        async with trading() as (tws, ib):
            [aapl] = await ib.qualifyContractsAsync(AAPL)
            ticker = ib.reqMktData(aapl)
            await until(lambda: ticker.bid == 230.00 and ticker.ask == 230.01)
            assert (ticker.bidSize, ticker.askSize, ticker.close) == (300, 300, 230.00)
            tws.set_quote("AAPL", "231.50", "231.52")
            await until(lambda: ticker.ask == 231.52)
            assert ticker.bid == 231.50
            ib.cancelMktData(aapl)
            [snapshot] = await ib.reqTickersAsync(aapl)
            assert (snapshot.bid, snapshot.ask) == (231.50, 231.52)
            [eurusd] = await ib.qualifyContractsAsync(Forex("EURUSD"))
            ib.reqMarketDataType(3)
            fx = ib.reqMktData(eurusd)
            await until(lambda: fx.bid == 1.085 and fx.ask == 1.08505)
            assert fx.marketDataType == 3  # delayed ticks (66/67) land on the same fields

    run(scenario())


def test_random_walk_is_deterministic_for_a_seed():
    async def quotes(seed: int) -> list[tuple[float, float]]:
        async with trading(FakeTwsConfig(prices=PriceModel(seed=seed))) as (tws, ib):
            [aapl] = await ib.qualifyContractsAsync(AAPL)
            ticker = ib.reqMktData(aapl)
            seen = []
            for _ in range(20):
                tws.step()
                bid, ask = (float(p) for p in tws.quote("AAPL") if p is not None)
                await until(lambda b=bid, a=ask: (ticker.bid, ticker.ask) == (b, a))
                seen.append((ticker.bid, ticker.ask))
            return seen

    first, again, other = run(quotes(1)), run(quotes(1)), run(quotes(2))
    assert first == again
    assert first != other
    assert len(set(first)) > 1


@pytest.mark.parametrize("smart", [True, False])
def test_market_depth_book(smart: bool):
    async def scenario():
        async with trading() as (tws, ib):
            [es] = await ib.qualifyContractsAsync(Future("ES", "202703", "CME"))
            ticker = ib.reqMktDepth(es, numRows=5, isSmartDepth=smart)
            await until(lambda: len(ticker.domBids) == 5 and len(ticker.domAsks) == 5)
            assert [d.price for d in ticker.domBids] == [6000, 5999.75, 5999.5, 5999.25, 5999]
            assert [d.size for d in ticker.domAsks] == [12, 25, 40, 60, 80]
            tws.set_quote("ES", "6010.00", "6010.25")
            await until(lambda: ticker.domBids[0].price == 6010.00)
            assert ticker.domAsks[0].price == 6010.25
            ib.cancelMktDepth(es, isSmartDepth=smart)

    run(scenario())


# -- orders -----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [157, 163, 173, 176, 178])
def test_market_order_fills_in_parts_with_commissions(version: int):
    async def scenario():
        async with trading(FakeTwsConfig(server_version=version)) as (tws, ib):
            [aapl] = await ib.qualifyContractsAsync(AAPL)
            trade = ib.placeOrder(aapl, MarketOrder("BUY", 500, orderRef="node-1"))
            await until(
                lambda: trade.isDone() and all(f.commissionReport.execId for f in trade.fills)
            )
            assert statuses(trade) == ["PendingSubmit", "Submitted", "Filled"]
            assert trade.order.orderRef == "node-1"
            fills = [(f.execution.shares, f.execution.price) for f in trade.fills]
            assert fills == [(300, 230.01), (200, 230.02)]
            for fill in trade.fills:
                assert fill.commissionReport.execId == fill.execution.execId
                assert fill.execution.orderRef == "node-1"
                assert fill.execution.lastLiquidity == 2  # took liquidity
            # 0.005/share with a 1.00 minimum per order: 300 → 1.50, the next 200 → 1.00
            assert [f.commissionReport.commission for f in trade.fills] == [1.5, 1.0]
            assert trade.orderStatus.avgFillPrice == pytest.approx(230.014)
            await until(lambda: ib.positions())
            [position] = ib.positions()
            assert (position.position, position.avgCost) == (500, pytest.approx(230.019))
            assert tws.positions() == {265598: (D(500), D("230.019"))}
            assert tws.cash() == {"USD": D(1_000_000) - D("115007.00") - D("2.50")}
            assert tws.placements() == {"node-1": 1}

    run(scenario())


def test_resting_limit_fills_when_the_price_comes_to_it():
    async def scenario():
        async with trading() as (tws, ib):
            [aapl] = await ib.qualifyContractsAsync(AAPL)
            trade = ib.placeOrder(aapl, LimitOrder("BUY", 100, 229.50, orderRef="lmt"))
            await until(lambda: trade.orderStatus.status == "Submitted")
            tws.set_quote("AAPL", "229.60", "229.61")
            assert not trade.fills
            tws.set_quote("AAPL", "229.40", "229.45")  # trades through the limit
            await until(trade.isDone)
            [fill] = trade.fills
            assert (fill.execution.price, fill.execution.lastLiquidity) == (229.50, 1)
            assert trade.orderStatus.status == "Filled"

    run(scenario())


def test_stop_and_stop_limit_trigger():
    async def scenario():
        async with trading() as (tws, ib):
            [aapl] = await ib.qualifyContractsAsync(AAPL)
            stop = ib.placeOrder(aapl, StopOrder("SELL", 100, 229.00, orderRef="stp"))
            stop_limit = ib.placeOrder(
                aapl, StopLimitOrder("BUY", 100, 231.02, 231.00, orderRef="stplmt")
            )
            await until(lambda: stop_limit.orderStatus.status == "PreSubmitted")
            assert stop.orderStatus.status == "PreSubmitted"  # held until triggered
            tws.set_quote("AAPL", "229.00", "229.02")
            await until(stop.isDone)
            assert [(f.execution.side, f.execution.price) for f in stop.fills] == [("SLD", 229.00)]
            tws.set_quote("AAPL", "231.05", "231.06")  # triggers, but above its limit
            await until(lambda: stop_limit.orderStatus.status == "Submitted")
            assert not stop_limit.fills
            tws.set_quote("AAPL", "231.00", "231.02")
            await until(stop_limit.isDone)
            assert [f.execution.price for f in stop_limit.fills] == [231.02]
            await until(lambda: not ib.positions())  # sold 100, bought 100 back: flat

    run(scenario())


def test_cancel_and_modify():
    async def scenario():
        async with trading() as (_, ib):
            errors = errors_of(ib)
            [aapl] = await ib.qualifyContractsAsync(AAPL)
            resting = ib.placeOrder(aapl, LimitOrder("BUY", 100, 225.00, orderRef="c1"))
            await until(lambda: resting.orderStatus.status == "Submitted")
            ib.cancelOrder(resting.order)
            await until(lambda: resting.orderStatus.status == "Cancelled")
            await until(lambda: errors)
            assert errors == [(resting.order.orderId, 202, "Order Canceled - reason:")]
            moved = ib.placeOrder(aapl, LimitOrder("SELL", 100, 235.00, orderRef="m1"))
            await until(lambda: moved.orderStatus.status == "Submitted")
            moved.order.lmtPrice = 230.00  # now marketable: fills against the bid
            ib.placeOrder(aapl, moved.order)
            await until(moved.isDone)
            assert [f.execution.price for f in moved.fills] == [230.00]

    run(scenario())


def test_ioc_remainder_is_cancelled():
    async def scenario():
        async with trading() as (_, ib):
            [aapl] = await ib.qualifyContractsAsync(AAPL)
            order = LimitOrder("BUY", 1000, 230.02, tif="IOC", orderRef="ioc")
            trade = ib.placeOrder(aapl, order)
            await until(trade.isDone)
            assert trade.orderStatus.status == "Cancelled"
            assert trade.filled() == 800  # 300 @ 230.01 + 500 @ 230.02, the rest cancelled

    run(scenario())


def test_rejections():
    async def scenario():
        async with trading() as (tws, ib):
            errors = errors_of(ib)
            [aapl, es] = await ib.qualifyContractsAsync(AAPL, Future("ES", "202703", "CME"))
            too_big = ib.placeOrder(es, MarketOrder("BUY", 1000, orderRef="big"))
            off_tick = ib.placeOrder(aapl, LimitOrder("BUY", 100, 229.995, orderRef="tick"))
            await until(lambda: too_big.isDone() and off_tick.isDone())
            codes = {req_id: code for req_id, code, _ in errors}
            assert codes == {too_big.order.orderId: 201, off_tick.order.orderId: 110}
            assert too_big.orderStatus.status in ("Cancelled", "Inactive")
            assert off_tick.orderStatus.status in ("Cancelled", "Inactive")
            assert not tws.orders()
            refused = {r.order_ref: r.rejected.code for r in tws.received_orders() if r.rejected}
            assert refused == {"big": 201, "tick": 110}

    run(scenario())


def test_futures_and_fx_move_positions_and_cash():
    async def scenario():
        async with trading() as (tws, ib):
            [es, eurusd] = await ib.qualifyContractsAsync(
                Future("ES", "202703", "CME"), Forex("EURUSD")
            )
            buy_es = ib.placeOrder(es, MarketOrder("BUY", 2))
            buy_eur = ib.placeOrder(eurusd, MarketOrder("BUY", 100_000))
            await until(lambda: buy_es.isDone() and buy_eur.isDone())
            await until(lambda: len(ib.positions()) == 2)
            positions = {p.contract.conId: p for p in ib.positions()}
            # IB's futures avgCost is per contract with the multiplier and commission in it
            assert positions[760000001].avgCost == pytest.approx(6000.25 * 50 + 0.85)
            assert positions[12087792].position == 100_000
            cash = tws.cash()
            assert cash["EUR"] == D(100_000)
            # FX: 0.2 bp of the value (above the 2.00 minimum); ES: 0.85 a contract, no notional
            assert cash["USD"] == D(1_000_000) - D("108505.00") - D("2.1701") - D("1.70")
            summary = await ib.accountSummaryAsync()
            ledger = {(v.tag, v.currency): v.value for v in summary}
            assert ledger[("CashBalance", "EUR")] == "100000.00"
            buying_power = D(ledger[("BuyingPower", "USD")])
            assert abs(buying_power - 4 * D(ledger[("AvailableFunds", "USD")])) <= D("0.02")

    run(scenario())


def test_round_trip_realizes_pnl_and_reports_it():
    async def scenario():
        async with trading() as (tws, ib):
            [aapl] = await ib.qualifyContractsAsync(AAPL)
            pnl = ib.reqPnL("DU123456")
            buy = ib.placeOrder(aapl, MarketOrder("BUY", 100))
            await until(buy.isDone)
            single = ib.reqPnLSingle("DU123456", "", aapl.conId)
            await until(lambda: single.position == 100)
            tws.set_quote("AAPL", "232.00", "232.01")
            sell = ib.placeOrder(aapl, MarketOrder("SELL", 100))
            await until(lambda: sell.isDone() and sell.fills[0].commissionReport.execId)
            realized = (232.00 - 230.01) * 100 - 1.00 - 1.00  # both commissions
            assert sell.fills[0].commissionReport.realizedPNL == pytest.approx(realized)
            assert buy.fills[0].commissionReport.realizedPNL == 0  # opening: unset → 0
            await until(lambda: pnl.realizedPnL == pytest.approx(realized))
            await until(lambda: single.position == 0)
            assert single.realizedPnL == pytest.approx(realized)
            # the account-updates subscription streams the new values after the fills
            await until(lambda: account_value(ib, "RealizedPnL", "USD") == f"{realized:.2f}")
            cash = D(1_000_000) + (D("232.00") - D("230.01")) * 100 - 2
            assert account_value(ib, "TotalCashValue", "USD") == f"{cash:.2f}"
            await until(lambda: not ib.positions())
            what_if = await ib.whatIfOrderAsync(aapl, MarketOrder("BUY", 100))
            assert float(what_if.initMarginChange) == pytest.approx(232.01 * 100 * 0.25)

    run(scenario())


def test_open_orders_per_client_and_global_cancel():
    async def scenario():
        async with FakeTws() as tws:
            mine, theirs = (
                await connect(tws.port, client_id=1),
                await connect(tws.port, client_id=2),
            )
            [aapl] = await mine.qualifyContractsAsync(AAPL)
            own = mine.placeOrder(aapl, LimitOrder("BUY", 10, 220.00, orderRef="mine"))
            other = theirs.placeOrder(aapl, LimitOrder("SELL", 10, 240.00, orderRef="theirs"))
            await until(lambda: "Submitted" == own.orderStatus.status == other.orderStatus.status)
            assert [t.order.orderRef for t in await mine.reqOpenOrdersAsync()] == ["mine"]
            every = await mine.reqAllOpenOrdersAsync()
            assert sorted((t.order.clientId, t.order.orderRef) for t in every) == [
                (1, "mine"),
                (2, "theirs"),
            ]
            mine.reqGlobalCancel()
            await until(lambda: own.isDone() and other.isDone())
            assert own.orderStatus.status == other.orderStatus.status == "Cancelled"
            mine.disconnect()
            theirs.disconnect()

    run(scenario())


# -- reconnecting and faults ------------------------------------------------------------------


@pytest.mark.parametrize("version", [157, 173, 178])
def test_reconnect_finds_fills_and_working_orders_from_before(version: int):
    async def scenario():
        async with FakeTws(FakeTwsConfig(server_version=version)) as tws:
            ib = await connect(tws.port, client_id=11)
            [aapl] = await ib.qualifyContractsAsync(AAPL)
            filled_away = ib.placeOrder(aapl, LimitOrder("BUY", 100, 229.50, orderRef="node-A"))
            working = ib.placeOrder(aapl, LimitOrder("BUY", 100, 220.00, orderRef="node-B"))
            await until(lambda: working.orderStatus.status == "Submitted")
            assert filled_away.orderStatus.status == "Submitted"
            assert tws.drop_connections() == 1
            await until(lambda: not ib.isConnected())
            tws.set_quote("AAPL", "229.40", "229.45")  # node-A fills while the client is away
            assert [e.order_ref for e in tws.executions()] == ["node-A"]

            ib = await connect(tws.port, client_id=11)
            fills = await ib.reqExecutionsAsync()
            assert [
                (f.execution.orderRef, f.execution.shares, f.execution.price) for f in fills
            ] == [("node-A", 100, 229.50)]
            # ib_async files commission reports on the Fill it saw first (the connect-time
            # sync), so the commission is read from ib.fills(), not from this second answer
            [known] = ib.fills()
            assert known.execution.execId == fills[0].execution.execId
            assert known.commissionReport.commission == 1.0
            assert [t.order.orderRef for t in ib.openTrades()] == ["node-B"]
            assert [t.orderStatus.status for t in ib.openTrades()] == ["Submitted"]
            done = [t for t in ib.trades() if t.orderStatus.status == "Filled"]
            assert [t.order.orderRef for t in done] == ["node-A"]  # from completed orders
            again = await ib.reqExecutionsAsync(ExecutionFilter(clientId=99))
            assert again == []
            later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y%m%d-%H:%M:%S")
            assert await ib.reqExecutionsAsync(ExecutionFilter(time=later)) == []
            ib.cancelOrder(ib.openTrades()[0].order)  # the old order is still this client's
            await until(lambda: not ib.openTrades())
            assert tws.placements() == {"node-A": 1, "node-B": 1}
            ib.disconnect()

    run(scenario())


def test_refused_connections_then_accepted_again_with_state_kept():
    async def scenario():
        async with FakeTws() as tws:
            ib = await connect(tws.port, client_id=3)
            [aapl] = await ib.qualifyContractsAsync(AAPL)
            trade = ib.placeOrder(aapl, MarketOrder("BUY", 100, orderRef="before"))
            await until(trade.isDone)
            tws.drop_connections()
            tws.refuse_connections(0.3)
            await until(lambda: not ib.isConnected())
            with pytest.raises(ConnectionRefusedError):
                await ib.connectAsync("127.0.0.1", tws.port, clientId=3, timeout=2)
            while True:  # a node's reconnect loop, bounded by the test timeout
                try:
                    ib = await connect(tws.port, client_id=3)
                    break
                except ConnectionRefusedError:
                    await asyncio.sleep(0.05)
            assert [(p.contract.conId, p.position) for p in ib.positions()] == [(265598, 100)]
            assert [f.execution.orderRef for f in ib.fills()] == ["before"]
            ib.disconnect()

    run(scenario())


def test_connectivity_notices_and_malformed_frames_do_not_kill_the_client(
    caplog: pytest.LogCaptureFixture,
):
    async def scenario():
        async with trading() as (tws, ib):
            errors = errors_of(ib)
            assert tws.connectivity_lost() == 1
            tws.connectivity_restored()
            tws.farm_status()
            tws.send_frame(["999", "1", "what"])  # unknown message id
            tws.send_frame(["5", "1", "garbage"])  # openOrder cut short
            tws.send_frame(["1", "6", "not-a-number", "1", "x", "y", "0"])  # bad tick
            tws.send_bytes(b"")  # an empty frame
            tws.send_bytes(b"\xff\xfe\0")  # not even UTF-8
            assert await ib.reqCurrentTimeAsync()
            assert [code for _, code, _ in errors] == [1100, 1102, 2104, 2106, 2158]
            assert ib.isConnected()
            [aapl] = await ib.qualifyContractsAsync(AAPL)
            trade = ib.placeOrder(aapl, MarketOrder("BUY", 1))
            await until(trade.isDone)

    run(scenario())
    assert len(decoder_errors(caplog.records)) == 5  # each bad frame reached the decoder
    caplog.clear()


def test_server_answers_a_malformed_request_with_error_320():
    async def scenario():
        async with FakeTws() as tws:
            reader, writer = await asyncio.open_connection("127.0.0.1", tws.port)
            hello = b"v157..178"
            writer.write(b"API\0" + len(hello).to_bytes(4, "big") + hello)
            writer.write(frame([71, 2, 9, ""]))
            writer.write(frame([3, 1, 265598]))  # placeOrder cut short
            await writer.drain()
            seen = []
            while not any(fields[:1] == ["4"] and fields[3] == "320" for fields in seen):
                size = int.from_bytes(await reader.readexactly(4), "big")
                seen.append((await reader.readexactly(size)).decode().split("\0")[:-1])
            assert seen[0] == ["178", seen[0][1]]  # handshake: version and connection time
            writer.close()

    run(scenario())


def test_threaded_server_is_controlled_from_another_thread():
    with ThreadedFakeTws() as tws:
        assert tws.listening

        async def client():
            ib = await connect(tws.port, client_id=21)
            [aapl] = await ib.qualifyContractsAsync(AAPL)
            trade = ib.placeOrder(aapl, LimitOrder("SELL", 100, 231.00, orderRef="t"))
            await until(lambda: trade.orderStatus.status == "Submitted")
            # the control call comes from a thread that is not the server's loop
            mover = threading.Thread(target=tws.set_quote, args=("AAPL", "231.00", "231.01"))
            mover.start()
            await until(trade.isDone)
            mover.join()
            ib.disconnect()
            return trade.fills[0].execution.price

        assert run(client()) == 231.00
        assert [o.order_ref for o in tws.orders()] == ["t"]
        assert tws.positions() == {265598: (D(-100), D("230.99"))}
        assert tws.placements() == {"t": 1}


def test_command_line_server_serves_a_client():
    async def scenario():
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tradenode_ib.fake_tws",
            "--port",
            "0",
            "--seed",
            "1",
            "--account",
            "DU999",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            assert process.stdout is not None
            banner = (await process.stdout.readline()).decode()
            port = int(banner.split()[3].rpartition(":")[2])
            listing = [(await process.stdout.readline()).decode() for _ in range(6)]
            assert any("AAPL" in line and "230.00 / 230.01" in line for line in listing)
            ib = await connect(port)
            assert ib.managedAccounts() == ["DU999"]
            [aapl] = await ib.qualifyContractsAsync(AAPL)
            ticker = ib.reqMktData(aapl)
            await until(lambda: ticker.bid > 0)
            ib.disconnect()
        finally:
            process.terminate()
            await process.wait()

    run(scenario())


def test_execution_filter_times():
    assert parse_filter_time("20261201-15:00:00") == datetime(2026, 12, 1, 15, tzinfo=UTC)
    eastern = parse_filter_time("20261201 10:00:00 US/Eastern")
    assert eastern == datetime(2026, 12, 1, 15, tzinfo=UTC)
    assert parse_filter_time("") is None
    with pytest.raises(MalformedRequest):
        parse_filter_time("yesterday")
