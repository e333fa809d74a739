"""The simulated venue as an exchange seen through an adapter: what it refuses and why, what it
charges, how its balances move, cancels, simulated delays and replay determinism.

The venue runs on the replay runtime on the real order-graph and Binance recordings; the test
talks to it only with messages and reads what it publishes through a ``Recorder``. Expected
numbers are computed here from the recorded levels (read from the JSON file, not by the venue).
"""

from __future__ import annotations

import sqlite3
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import pytest
from recorded_books import recorded_asks, sweep
from tradenode_sim.config import InstrumentSpec, SimVenueConfig
from tradenode_sim.venue import SimVenue

from node.journal import Journal
from node.market import MarketState
from node.messages import (
    FILL_TYPES,
    BalancesUpdated,
    CancelOrder,
    InstrumentsLoaded,
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderRejected,
    SubmitOrder,
    VenueConnected,
)
from node.runtime.recorder import Recorder
from node.runtime.replay import ReplayRuntime
from node.venue import VenueSetup

D = Decimal
NS = 1_000_000_000
MS = 1_000_000
BPS = D("0.0001")
E8 = D("0.00000001")


def venue_config(**settings) -> SimVenueConfig:
    config = {
        "source": "order-graph",
        "files": ["sim:order-graph/run1-1.json"],
        "symbols": {"BTC/USD": InstrumentSpec(tick_size=D("0.01"), lot_size=D("0.00000001"))},
        "balances": {"USD": D("100000"), "BTC": D("10")},
        "taker_fee_bps": D("25"),
        "maker_fee_bps": D("10"),
    }
    config.update(settings)
    return SimVenueConfig(**config)


def hosted(*venues: SimVenue, journal: Journal | None = None) -> tuple[ReplayRuntime, Recorder]:
    rt = ReplayRuntime(journal=journal)
    recorder = Recorder()
    rt.add(recorder)
    for venue in venues:
        rt.add(venue)
    rt.start(list(journal.envelopes()) if journal is not None else [])
    return rt, recorder


def setup() -> VenueSetup:
    return VenueSetup(Path("."), MarketState())


def sim(name: str = "bitstamp", **settings) -> tuple[ReplayRuntime, SimVenue, Recorder]:
    venue = SimVenue(name, venue_config(**settings), setup())
    rt, recorder = hosted(venue)
    rt.run()
    return rt, venue, recorder


def order(cid: str, side: str, quantity: str, **kw) -> SubmitOrder:
    kw.setdefault("order_type", "market" if "limit_price" not in kw else "limit")
    return SubmitOrder(
        client_order_id=cid,
        venue=kw.pop("venue", "bitstamp"),
        symbol=kw.pop("symbol", "BTC/USD"),
        side=side,
        quantity=D(quantity),
        **kw,
    )


def of(recorder: Recorder, cid: str, *types: type[Message]) -> list:
    return [m for m in recorder.of_type(*types) if getattr(m, "client_order_id", None) == cid]


def balances(recorder: Recorder, venue: str = "bitstamp") -> dict:
    return [m for m in recorder.of_type(BalancesUpdated) if m.venue == venue][-1].balances


def submit(rt: ReplayRuntime, venue: SimVenue, *orders: SubmitOrder) -> None:
    for o in orders:
        rt.send(venue.name, o)
    rt.run()


# --------------------------------------------------------------------------------------------
# Start


def test_start_publishes_instruments_balances_and_connected():
    _, _, rec = sim()
    (loaded,) = rec.of_type(InstrumentsLoaded)
    (ins,) = loaded.instruments
    assert (ins.symbol, ins.venue, ins.base, ins.quote) == ("BTC/USD", "bitstamp", "BTC", "USD")
    assert ins.venue_symbol == "BTCUSD"
    assert (ins.tick_size, ins.lot_size) == (D("0.01"), D("0.00000001"))
    assert (ins.taker_fee, ins.maker_fee) == (D("0.0025"), D("0.0010"))
    assert rec.of_type(VenueConnected)[0].venue == "bitstamp"
    start = balances(rec)
    assert start["USD"].total == start["USD"].free == D("100000")
    assert start["BTC"].total == start["BTC"].free == D("10")


# --------------------------------------------------------------------------------------------
# Fees and balances


def test_fee_is_rate_times_notional_and_balances_move_exactly():
    rt, venue, rec = sim()
    best_price, best_size = recorded_asks()[0]
    assert best_size > 2
    submit(rt, venue, order("b", "buy", "2"))

    (fill,) = of(rec, "b", *FILL_TYPES)
    notional = best_price * 2
    assert (fill.price, fill.quantity) == (best_price, D(2))
    assert fill.fee == D("0.0025") * notional  # exact: no rounding was needed
    assert fill.fee_currency == "USD"
    after = balances(rec)
    assert after["USD"].total == D("100000") - (notional + fill.fee)
    assert after["BTC"].total == D("12")
    assert after["USD"].free == after["USD"].total  # nothing left reserved
    assert after["BTC"].free == after["BTC"].total


def test_fees_over_a_sweep_are_per_fill_rate_times_notional_rounded_up_to_1e8():
    rt, venue, rec = sim()
    submit(rt, venue, order("b", "buy", "6"))
    taken = sweep(recorded_asks(), D(6))
    fills = of(rec, "b", *FILL_TYPES)
    assert [(f.price, f.quantity) for f in fills] == taken
    for f in fills:
        exact = D("0.0025") * f.price * f.quantity
        assert f.fee == exact.quantize(E8, rounding=ROUND_CEILING)
        assert 0 <= f.fee - exact < E8
    notional = sum(p * q for p, q in taken)
    fees = sum(f.fee for f in fills)
    after = balances(rec)
    assert after["USD"].total == D("100000") - notional - fees
    assert after["USD"].free == after["USD"].total
    assert after["BTC"].total == D("16")


def test_a_sell_credits_proceeds_less_fee_and_debits_base():
    rt, venue, rec = sim(taker_fee_bps=D("20"))
    submit(rt, venue, order("s", "sell", "1"))
    (fill,) = of(rec, "s", *FILL_TYPES)
    notional = fill.price * fill.quantity
    assert fill.fee == D("0.0020") * notional
    after = balances(rec)
    assert after["USD"].total == D("100000") + notional - fill.fee
    assert after["BTC"].total == D("9")


def test_min_commission_is_a_floor_per_order():
    rt, venue, rec = sim(min_commission=D("50"))
    submit(rt, venue, order("b", "buy", "1"))
    (fill,) = of(rec, "b", *FILL_TYPES)
    assert D("0.0025") * fill.price < 50
    assert fill.fee == D("50")
    assert balances(rec)["USD"].total == D("100000") - fill.price - 50


def test_min_commission_is_charged_once_per_order_over_several_fills():
    rt, venue, rec = sim(min_commission=D("100"))
    submit(rt, venue, order("m", "buy", "5"))
    fills = of(rec, "m", *FILL_TYPES)
    assert len(fills) > 1  # 5 BTC sweeps several recorded levels
    at_rate = sum(
        ((f.price * f.quantity * D("0.0025")).quantize(E8, rounding=ROUND_CEILING) for f in fills),
        D(0),
    )
    assert at_rate < 100  # the rate alone would charge less than the minimum
    assert sum((f.fee for f in fills), D(0)) == D("100")
    assert fills[0].fee >= fills[-1].fee


# --------------------------------------------------------------------------------------------
# What the venue refuses, with its numbers


@pytest.mark.parametrize(
    ("settings", "submitted", "words"),
    [
        (
            {},
            order("x", "buy", "1", symbol="ETH/BTC"),
            ["unknown symbol ETH/BTC", "known: BTC/USD"],
        ),
        (
            {},
            order("x", "buy", "1", limit_price=D("5000.005")),
            ["price 5000.005", "tick size 0.01"],
        ),
        (
            {"symbols": {"BTC/USD": InstrumentSpec(tick_size=D("0.01"), lot_size=D("0.0001"))}},
            order("x", "buy", "0.00015"),
            ["quantity 0.00015", "lot size 0.0001"],
        ),
        (
            {
                "symbols": {
                    "BTC/USD": InstrumentSpec(
                        tick_size=D("0.01"), lot_size=D("0.00000001"), min_notional=D("25")
                    )
                }
            },
            order("x", "buy", "0.001"),
            ["notional 5.07 USD", "minimum 25 USD"],
        ),
        (
            {
                "symbols": {
                    "BTC/USD": InstrumentSpec(
                        tick_size=D("0.01"), lot_size=D("0.00000001"), min_quantity=D("0.01")
                    )
                }
            },
            order("x", "buy", "0.001"),
            ["quantity 0.001 below minimum 0.01 BTC"],
        ),
        (
            {
                "symbols": {
                    "BTC/USD": InstrumentSpec(
                        tick_size=D("0.01"), lot_size=D("0.00000001"), max_quantity=D("2")
                    )
                }
            },
            order("x", "sell", "3"),
            ["quantity 3 above maximum 2 BTC"],
        ),
        (
            {"balances": {"USD": D("1000"), "BTC": D("0")}},
            order("x", "buy", "1"),
            # 1 × 5073.91 × 1.0025, what the venue holds back for a market buy
            ["insufficient USD balance", "need 5086.594775", "free 1000"],
        ),
        (
            {"balances": {"USD": D("1000"), "BTC": D("0.5")}},
            order("x", "sell", "1"),
            ["insufficient BTC balance", "need 1", "free 0.5"],
        ),
        (
            {"balances": {"USD": D("1000"), "BTC": D("0")}},
            order("x", "buy", "1", limit_price=D("4000.00")),
            # a resting buy is held at the larger of the two fees: 4000 × 1.0025
            ["insufficient USD balance", "need 4010", "free 1000"],
        ),
        ({}, order("x", "buy", "1", post_only=True), ["market order cannot be post-only"]),
        ({}, order("x", "buy", "1", order_type="limit"), ["positive limit price"]),
        ({}, order("x", "buy", "0"), ["quantity 0 is not a positive multiple"]),
    ],
    ids=[
        "unknown-symbol",
        "off-tick",
        "off-lot",
        "min-notional",
        "min-quantity",
        "max-quantity",
        "unpayable-buy",
        "unpayable-sell",
        "unpayable-resting-buy",
        "post-only-market",
        "limit-without-price",
        "zero-quantity",
    ],
)
def test_refused_orders_are_rejected_with_the_numbers(settings, submitted, words):
    rt, venue, rec = sim(**settings)
    before = balances(rec)
    submit(rt, venue, submitted)
    (rejected,) = of(rec, "x", OrderRejected)
    assert rejected.venue == "bitstamp"
    for word in words:
        assert word in rejected.reason
    assert of(rec, "x", OrderAccepted, *FILL_TYPES) == []
    assert balances(rec) == before


def test_a_reused_client_order_id_is_rejected():
    rt, venue, rec = sim()
    submit(rt, venue, order("dup", "buy", "0.1"))
    submit(rt, venue, order("dup", "buy", "0.1"))
    (rejected,) = of(rec, "dup", OrderRejected)
    assert "duplicate client order id dup" in rejected.reason
    assert len(of(rec, "dup", *FILL_TYPES)) == 1


def test_orders_in_flight_cannot_spend_the_same_balance_twice():
    """With an execution delay, the money is held from submission, not from arrival."""
    rt, venue, rec = sim(execution_delay_ms=50.0, balances={"USD": D("6000")})
    submit(rt, venue, order("a", "buy", "1"), order("b", "buy", "1"))
    assert len(of(rec, "a", *FILL_TYPES)) == 1
    (rejected,) = of(rec, "b", OrderRejected)
    assert "insufficient USD balance" in rejected.reason
    assert rejected.ts == 0  # refused on submission, before the first one arrived
    for update in rec.of_type(BalancesUpdated):
        assert update.balances["USD"].total >= 0 and update.balances["USD"].free >= 0


def test_a_delayed_market_buy_fills_only_as_far_as_the_money_held_for_it():
    # Both orders are priced on the same book when submitted; the first takes the best level on
    # arrival, so the second meets dearer levels than it was priced at. It may not overdraw:
    # it fills as far as the money held for it reaches, and the rest expires.
    top_price, top_size = recorded_asks()[0]
    quantity = D(3)
    assert quantity < top_size < 2 * quantity
    rt, venue, rec = sim(execution_delay_ms=10.0)
    submit(rt, venue, order("a", "buy", str(quantity)), order("b", "buy", str(quantity)))
    held = (top_price * quantity * D("1.0025")).quantize(E8, rounding=ROUND_CEILING)
    fills = of(rec, "b", *FILL_TYPES)
    spent = sum((f.price * f.quantity + f.fee for f in fills), D(0))
    assert 0 < spent <= held
    (expired,) = of(rec, "b", OrderExpired)
    assert expired.filled_quantity == sum((f.quantity for f in fills), D(0)) < quantity
    for update in rec.of_type(BalancesUpdated):
        assert update.balances["USD"].free >= 0


def test_a_market_buy_is_checked_and_held_at_its_slipped_price():
    best_price = recorded_asks()[0][0]
    slipped = (best_price * D("1.005") / D("0.01")).to_integral_value(ROUND_CEILING) * D("0.01")
    need = (slipped * D("1.0025")).quantize(E8, rounding=ROUND_CEILING)
    # enough for the recorded price with its fee, not for the slipped one: refused
    cash = (best_price * D("1.0025")).quantize(D("0.01"), rounding=ROUND_CEILING)
    assert cash < need
    rt, venue, rec = sim(slippage_bps=D("50"), balances={"USD": cash})
    submit(rt, venue, order("b", "buy", "1"))
    (rejected,) = of(rec, "b", OrderRejected)
    assert f"need {need.normalize():f}, free {cash.normalize():f}" in rejected.reason
    # exactly enough for the slipped price: it fills, and the account never goes below zero
    rt, venue, rec = sim(slippage_bps=D("50"), balances={"USD": need})
    submit(rt, venue, order("b", "buy", "1"))
    (fill,) = of(rec, "b", *FILL_TYPES)
    assert fill.price == slipped
    usd = balances(rec)["USD"]
    assert usd.total == need - slipped - fill.fee >= 0
    assert usd.free == usd.total


# --------------------------------------------------------------------------------------------
# Resting orders and cancels


def test_cancel_returns_canceled_and_releases_the_reserved_balance():
    rt, venue, rec = sim()
    submit(rt, venue, order("r", "buy", "2", limit_price=D("5000.00")))
    assert len(of(rec, "r", OrderAccepted)) == 1
    assert of(rec, "r", *FILL_TYPES) == []
    held = balances(rec)["USD"]
    # a resting buy holds its quote at its limit, fees at the larger of maker and taker
    assert held.total == D("100000")
    assert held.free == D("100000") - D("5000.00") * 2 * D("1.0025")

    rt.send(venue.name, CancelOrder(client_order_id="r", venue="bitstamp", reason="test"))
    rt.run()
    (canceled,) = of(rec, "r", OrderCanceled)
    assert canceled.reason == "test" and canceled.filled_quantity == 0
    released = balances(rec)["USD"]
    assert released.total == released.free == D("100000")

    rt.send(venue.name, CancelOrder(client_order_id="r", venue="bitstamp"))
    rt.run()
    (refused,) = of(rec, "r", OrderCancelRejected)
    assert "no open order" in refused.reason


def test_a_resting_sell_holds_its_base_until_canceled():
    rt, venue, rec = sim()
    submit(rt, venue, order("r", "sell", "3", limit_price=D("6000.00")))
    btc = balances(rec)["BTC"]
    assert (btc.total, btc.free) == (D("10"), D("7"))
    submit(rt, venue, order("big", "sell", "8"))  # only 7 are free
    (rejected,) = of(rec, "big", OrderRejected)
    assert "need 8, free 7" in rejected.reason
    rt.send(venue.name, CancelOrder(client_order_id="r", venue="bitstamp"))
    rt.run()
    btc = balances(rec)["BTC"]
    assert btc.total == btc.free == D("10")


# --------------------------------------------------------------------------------------------
# Simulated time


def test_execution_delay_delays_the_fill_by_that_much_simulated_time():
    rt, venue, rec = sim(execution_delay_ms=40.0)
    rt.advance(NS)
    sent = rt.clock
    rt.send(venue.name, order("d", "buy", "1"))
    rt.run(until_ns=sent + 40 * MS - 1)
    assert of(rec, "d", OrderAccepted, *FILL_TYPES) == []
    rt.run()
    (accepted,) = of(rec, "d", OrderAccepted)
    (fill,) = of(rec, "d", *FILL_TYPES)
    assert accepted.ts == fill.ts == sent + 40 * MS
    assert fill.price == recorded_asks()[0][0]


def test_a_refused_order_is_rejected_at_once_despite_the_delay():
    rt, venue, rec = sim(execution_delay_ms=40.0)
    rt.advance(NS)
    sent = rt.clock
    rt.send(venue.name, order("x", "buy", "1", symbol="ETH/USD"))
    rt.run()
    (rejected,) = of(rec, "x", OrderRejected)
    assert rejected.ts == sent


def test_cancel_delay_delays_the_cancel():
    rt, venue, rec = sim(cancel_delay_ms=25.0)
    submit(rt, venue, order("r", "buy", "1", limit_price=D("5000.00")))
    rt.advance(NS)
    sent = rt.clock
    rt.send(venue.name, CancelOrder(client_order_id="r", venue="bitstamp"))
    rt.run(until_ns=sent + 25 * MS - 1)
    assert of(rec, "r", OrderCanceled) == []
    assert balances(rec)["USD"].free < balances(rec)["USD"].total
    rt.run()
    (canceled,) = of(rec, "r", OrderCanceled)
    assert canceled.ts == sent + 25 * MS
    assert balances(rec)["USD"].free == balances(rec)["USD"].total


# --------------------------------------------------------------------------------------------
# Replay determinism


def _scenario(journal_path: Path) -> list[tuple]:
    bitstamp = SimVenue("bitstamp", venue_config(execution_delay_ms=30.0), setup=setup())
    binance = SimVenue(
        "binance",
        SimVenueConfig(
            source="binance-stream",
            files=["sim:binance-stream/spot/btcusdt_20240808.gz"],
            symbols={"BTC/USDT": InstrumentSpec(tick_size=D("0.01"), lot_size=D("0.00001"))},
            balances={"USDT": D("100000"), "BTC": D("2")},
            maker_fee_bps=D("1"),
            taker_fee_bps=D("7.5"),
            execution_delay_ms=5.0,
        ),
        setup=setup(),
    )
    journal = Journal(journal_path)
    rt, _ = hosted(bitstamp, binance, journal=journal)
    rt.run(until_ns=0)
    rt.send(bitstamp.name, order("g1", "buy", "3.5"))
    rt.send(
        bitstamp.name, order("g2", "sell", "1.25", limit_price=D("5070.00"), time_in_force="ioc")
    )
    rt.send(bitstamp.name, order("g3", "buy", "1", limit_price=D("5000.00")))
    rt.send(bitstamp.name, order("g4", "buy", "1", symbol="ETH/USD"))
    rt.run(until_ns=NS)
    rt.send(bitstamp.name, CancelOrder(client_order_id="g3", venue="bitstamp"))
    start = binance.earliest_data_ns()
    rt.run(until_ns=start + 60 * NS)
    kw = {"venue": "binance", "symbol": "BTC/USDT"}
    book = binance.books["BTC/USDT"].book
    rt.send(binance.name, order("b1", "buy", "0.05", limit_price=book.best_bid - D("1"), **kw))
    rt.send(binance.name, order("b2", "sell", "0.05", limit_price=book.best_ask + D("1"), **kw))
    rt.send(binance.name, order("b3", "buy", "0.01", **kw))
    rt.run(until_ns=start + 150 * NS)
    rt.send(binance.name, CancelOrder(client_order_id="b2", venue="binance"))
    rt.run(until_ns=start + 160 * NS)
    rt.stop()
    journal.close()
    with sqlite3.connect(journal_path) as db:
        return db.execute("SELECT seq, ts, type, payload, crc FROM journal ORDER BY seq").fetchall()


def test_the_same_scenario_replayed_twice_journals_byte_identical_rows(tmp_path):
    first = _scenario(tmp_path / "one.sqlite")
    second = _scenario(tmp_path / "two.sqlite")
    assert first == second
    types = {row[2] for row in first}
    assert {"SubmitOrder", "OrderAccepted", "OrderRejected", "OrderCanceled"} <= types
    assert types & {"OrderFilled", "OrderPartiallyFilled"}
    assert "OrderExpired" in types or "OrderFilled" in types
    assert len(first) > 20


def test_order_expired_is_reported_for_an_ioc_that_finds_nothing_inside_its_limit():
    rt, venue, rec = sim()
    submit(rt, venue, order("n", "buy", "1", limit_price=D("100.00"), time_in_force="ioc"))
    (expired,) = of(rec, "n", OrderExpired)
    assert expired.filled_quantity == 0
    assert of(rec, "n", *FILL_TYPES) == []
    usd = balances(rec)["USD"]
    assert usd.free == usd.total == D("100000")
