"""Ledger accounting (worked examples and properties) and the Portfolio component."""

from __future__ import annotations

import itertools
from decimal import Decimal as D

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from node.component import Envelope
from node.messages import (
    Balance,
    BalancesUpdated,
    Fill,
    Instrument,
    InstrumentsLoaded,
    NavRecorded,
    OrderFilled,
    OrderPartiallyFilled,
    PositionChanged,
    RecordNav,
    TransferRecorded,
)
from node.portfolio import (
    NS_PER_DAY,
    Ledger,
    LedgerError,
    MarkUnavailable,
    Portfolio,
)
from node.runtime.recorder import Recorder
from node.runtime.replay import ReplayRuntime

_trade_ids = itertools.count()


def fill(
    side: str,
    qty: str | D,
    price: str | D,
    *,
    fee: str | D = "0",
    fee_currency: str = "USDT",
    symbol: str = "BTC/USDT",
    venue: str = "a",
    ts: int = 0,
    partial: bool = False,
) -> Fill:
    cls = OrderPartiallyFilled if partial else OrderFilled
    n = next(_trade_ids)
    return cls(
        ts=ts,
        client_order_id=f"c{n}",
        venue=venue,
        venue_order_id=f"v{n}",
        trade_id=f"t{n}",
        symbol=symbol,
        side=side,
        price=D(price),
        quantity=D(qty),
        fee=D(fee),
        fee_currency=fee_currency,
        liquidity="taker",
        cumulative_quantity=D(qty),
        leaves_quantity=D(0),
    )


def spot(symbol: str, venue: str, **kw) -> Instrument:
    base, quote = symbol.split("/")
    return Instrument(
        symbol=symbol,
        venue=venue,
        venue_symbol=symbol,
        base=base,
        quote=quote,
        tick_size=D("0.01"),
        lot_size=D("0.001"),
        **kw,
    )


def listing(*symbols: str, venues: str = "ab") -> list[InstrumentsLoaded]:
    return [InstrumentsLoaded(venue=v, instruments=[spot(s, v) for s in symbols]) for v in venues]


def ledger_of(currency: str, *symbols: str) -> Ledger:
    """A ledger that knows the instruments its tests trade (BTC/USDT by default)."""
    ledger = Ledger(currency)
    for message in listing(*(symbols or ("BTC/USDT",))):
        ledger.apply(message)
    return ledger


def balances(venue: str, ts: int = 0, **totals: str) -> BalancesUpdated:
    return BalancesUpdated(
        ts=ts,
        venue=venue,
        balances={c: Balance(total=D(t), free=D(t)) for c, t in totals.items()},
    )


# ------------------------------------------------------------------------------------------------
# Worked examples


def test_worked_example_increase_reduce_flip_close():
    ledger = ledger_of("USDT")
    ledger.apply(fill("buy", "1", "100"))
    ledger.apply(fill("buy", "1", "110"))
    pos = ledger.position("BTC/USDT", "a")
    assert (pos.quantity, pos.average_price, pos.realized_pnl) == (D(2), D(105), D(0))

    ledger.apply(fill("sell", "1.5", "120"))  # realises (120 − 105)·1.5
    assert (pos.quantity, pos.average_price, pos.realized_pnl) == (D("0.5"), D(105), D("22.5"))
    ledger.set_mark("a", "BTC/USDT", D(130))
    assert ledger.unrealized_pnl("BTC/USDT", "a") == D("12.5")  # (130 − 105)·0.5
    # Σ sells − Σ buys + position·mark = 180 − 210 + 65 = 35 = 22.5 + 12.5
    assert pos.realized_pnl + ledger.unrealized_pnl("BTC/USDT", "a") == D(35)

    ledger.apply(fill("sell", "1", "100"))  # closes 0.5 at a loss of 2.5, opens −0.5 @ 100
    assert (pos.quantity, pos.average_price, pos.realized_pnl) == (D("-0.5"), D(100), D(20))
    ledger.apply(fill("buy", "0.2", "90"))  # short reduced: (100 − 90)·0.2 = 2
    assert (pos.quantity, pos.average_price, pos.realized_pnl) == (D("-0.3"), D(100), D(22))
    ledger.apply(fill("buy", "0.3", "95"))  # closed: (100 − 95)·0.3 = 1.5
    assert (pos.quantity, pos.average_price, pos.realized_pnl) == (D(0), None, D("23.5"))
    assert ledger.open_positions() == []


def test_short_from_flat_and_weighted_average_of_shorts():
    ledger = ledger_of("USDT")
    ledger.apply(fill("sell", "2", "50"))
    ledger.apply(fill("sell", "2", "60"))
    pos = ledger.position("BTC/USDT", "a")
    assert (pos.quantity, pos.average_price) == (D(-4), D(55))
    ledger.apply(fill("buy", "1", "40"))  # (55 − 40)·1
    assert (pos.quantity, pos.average_price, pos.realized_pnl) == (D(-3), D(55), D(15))
    ledger.set_mark("a", "BTC/USDT", D(45))
    assert ledger.unrealized_pnl("BTC/USDT", "a") == D(30)  # (55 − 45)·3


def test_non_terminating_average_leaves_no_residue():
    ledger = ledger_of("USDT")
    ledger.apply(fill("buy", "1", "100"))
    ledger.apply(fill("buy", "2", "101"))
    pos = ledger.position("BTC/USDT", "a")
    assert pos.average_price == D("100.6666666666666666666666667")  # 302/3, 28 digits
    ledger.apply(fill("sell", "1", "102"))
    assert pos.realized_pnl == D("1.3333333333333333333333333")  # (102 − avg)·1
    assert pos.average_price == D("100.6666666666666666666666667")  # unchanged by a reduce
    ledger.apply(fill("sell", "2", "102"))
    assert pos.realized_pnl == D(4)  # 306 − 302, exactly
    assert (pos.quantity, pos.cost) == (D(0), D(0))


def test_fill_moves_balances_and_fees():
    ledger = ledger_of("USDT")
    ledger.apply(balances("a", USDT="1000"))
    ledger.apply(fill("buy", "2", "100", fee="0.2"))
    assert ledger.balance("a", "BTC") == D(2)
    assert ledger.balance("a", "USDT") == D("799.8")  # 1000 − (200 + 0.2)
    ledger.apply(fill("sell", "1", "110", fee="0.11"))
    assert ledger.balance("a", "BTC") == D(1)
    assert ledger.balance("a", "USDT") == D("909.69")  # + (110 − 0.11)
    pos = ledger.position("BTC/USDT", "a")
    assert pos.fees == D("0.31")
    assert pos.realized_pnl == D(10)  # fees are kept apart from P&L


def test_fee_in_base_currency_is_taken_from_base_and_valued_at_the_fill_price():
    ledger = ledger_of("USDT")
    ledger.apply(fill("buy", "1", "100", fee="0.001", fee_currency="BTC"))
    assert ledger.balance("a", "BTC") == D("0.999")
    assert ledger.balance("a", "USDT") == D(-100)
    assert ledger.position("BTC/USDT", "a").fees == D("0.1")
    assert ledger.daily(0).commission == {"BTC": D("0.001")}


def test_snapshot_replaces_venue_balances_and_transfers_add():
    ledger = ledger_of("USDT")
    ledger.apply(balances("a", USDT="1000", BTC="1"))
    ledger.apply(balances("b", USDT="5"))
    ledger.apply(balances("a", USDT="700"))
    assert ledger.balance("a", "BTC") == D(0)
    assert ledger.balance("a", "USDT") == D(700)
    ledger.apply(TransferRecorded(venue="b", currency="USDT", amount=D("-5")))
    assert ledger.balance("b", "USDT") == D(0)
    assert ledger.totals() == {"USDT": D(700)}


def test_positions_per_venue_and_aggregate():
    ledger = ledger_of("USDT")
    ledger.apply(fill("buy", "1", "100", venue="a"))
    ledger.apply(fill("sell", "1", "105", venue="b"))
    assert ledger.quantity("BTC/USDT", "a") == D(1)
    assert ledger.quantity("BTC/USDT", "b") == D(-1)
    aggregate = ledger.position("BTC/USDT")
    assert (aggregate.quantity, aggregate.realized_pnl) == (D(0), D(5))
    assert ledger.position("BTC/USDT", "a").realized_pnl == D(0)


def test_duplicate_fill_is_applied_once():
    ledger = ledger_of("USDT")
    f = fill("buy", "1", "100")
    assert ledger.apply_fill(f) is not None
    assert ledger.apply_fill(f) is None
    assert ledger.quantity("BTC/USDT") == D(1)


def test_nav_values_every_currency_through_its_mark_and_refuses_to_guess():
    ledger = Ledger("USD")
    ledger.apply(balances("a", BTC="0.5", USDT="1000"))
    ledger.apply(balances("b", USD="10", ETH="0"))
    with pytest.raises(MarkUnavailable) as err:
        ledger.nav()
    assert err.value.symbols == ("BTC/USD", "USDT/USD")  # ETH is 0: needs no mark
    ledger.set_mark("x", "BTC/USD", D(60000))
    with pytest.raises(MarkUnavailable, match=r"USDT/USD"):
        ledger.nav()
    ledger.set_mark("x", "USDT/USD", D("0.9995"))
    assert ledger.nav() == D("30000") + D("999.5") + D(10)
    # a BTC/USDT mark is not used to value BTC in USD
    ledger.set_mark("a", "BTC/USDT", D(1))
    assert ledger.nav() == D("31009.5")


def test_daily_metrics_roll_at_utc_midnight():
    ledger = ledger_of("USDT")
    day0, day1 = 5 * NS_PER_DAY, 6 * NS_PER_DAY
    ledger.apply(fill("buy", "2", "100", fee="0.2", ts=day0 + 10))
    ledger.apply(fill("sell", "1", "110", fee="0.11", ts=day1 - 1))
    today = ledger.daily()
    assert (today.day, today.trades) == (5, 2)
    assert today.volume == {"USDT": D(310)}
    assert today.commission == {"USDT": D("0.31")}
    assert today.realized_pnl == {"USDT": D(10)}
    ledger.apply(fill("sell", "1", "90", ts=day1))
    today = ledger.daily()
    assert (today.day, today.trades, today.realized_pnl) == (6, 1, {"USDT": D(-10)})
    assert ledger.daily(day1 + NS_PER_DAY).trades == 0  # asking about a later day rolls


def test_day_pnl_ignores_transfers_and_tracks_drawdown():
    ledger = Ledger("USD")
    ledger.set_mark("x", "BTC/USD", D(100))
    ledger.apply(balances("a", USD="1000", BTC="1", ts=0))
    day = ledger.daily()
    assert (day.pnl, day.nav_last) == (D(0), D(1100))
    ledger.set_mark("x", "BTC/USD", D(150), ts=1)
    assert (ledger.daily().pnl, ledger.daily().pnl_high) == (D(50), D(50))
    ledger.apply(TransferRecorded(ts=2, venue="a", currency="USD", amount=D(-500)))
    assert ledger.daily().pnl == D(50)  # a withdrawal is not a loss
    ledger.apply(TransferRecorded(ts=3, venue="a", currency="BTC", amount=D(2)))
    assert ledger.daily().pnl == D(50)  # nor is a deposit a gain
    ledger.set_mark("x", "BTC/USD", D(120), ts=4)  # 3 BTC held, 1 of them traded capital
    assert ledger.daily().pnl == D(20)
    assert ledger.daily().drawdown == D(30)
    assert ledger.daily().nav_last == D(500) + 3 * D(120)


def test_nav_history_keeps_the_last_nav_of_each_day_and_record_nav():
    ledger = ledger_of("USD", "BTC/USD")
    ledger.apply(balances("a", USD="100", ts=10))
    ledger.apply(balances("a", USD="120", ts=20))
    ledger.apply(balances("a", USD="90", ts=NS_PER_DAY + 5))
    assert [(p.day, p.ts, p.nav) for p in ledger.nav_history] == [
        (0, 20, D(120)),
        (1, NS_PER_DAY + 5, D(90)),
    ]
    ledger.apply(fill("buy", "1", "10", symbol="BTC/USD", fee="0.01", fee_currency="USD"))
    with pytest.raises(MarkUnavailable, match="BTC/USD"):
        ledger.record_nav(NS_PER_DAY + 9)
    ledger.set_mark("a", "BTC/USD", D(12), ts=NS_PER_DAY + 9)
    recorded = ledger.record_nav(NS_PER_DAY + 10)
    assert recorded == NavRecorded(
        ts=NS_PER_DAY + 10,
        nav=D("91.99"),  # 90 − 10.01 + 12
        currency="USD",
        realized_pnl=D(0),
        unrealized_pnl=D(2),
        fees=D("0.01"),
        positions=[ledger.positions[("BTC/USD", "a")].to_message(D(12), NS_PER_DAY + 10)],
    )
    assert recorded.positions[0].mark == D(12) and recorded.positions[0].unrealized_pnl == D(2)
    assert ledger.nav_history[-1].nav == D("91.99")


# ------------------------------------------------------------------------------------------------
# Properties

prices = st.decimals(min_value=D("0.01"), max_value=D("1000"), places=2)
# small whole quantities often close a position exactly or flip it; the rest are arbitrary
quantities = st.one_of(
    st.sampled_from([D(1), D(2), D(3)]),
    st.decimals(min_value=D("0.001"), max_value=D("10"), places=3),
)
fees = st.decimals(min_value=D(0), max_value=D("1"), places=4)
fills = st.lists(
    st.tuples(st.sampled_from(["buy", "sell"]), quantities, prices, fees, st.sampled_from("ab")),
    max_size=25,
)
PROPERTY = settings(max_examples=100, deadline=None)


@PROPERTY
@given(fills, prices)
@example(  # a non-terminating average (302/3), then a flip through zero
    [
        ("buy", D(1), D(100), D(0), "a"),
        ("buy", D(2), D(101), D(0), "a"),
        ("sell", D(4), D(102), D(0), "a"),
    ],
    D(99),
)
def test_position_is_the_sum_of_signed_fills_and_pnl_adds_up(trades, mark):
    ledger = ledger_of("USDT")
    for side, qty, price, fee, venue in trades:
        ledger.apply(fill(side, qty, price, fee=fee, venue=venue))
    ledger.set_mark("a", "BTC/USDT", mark)
    ledger.set_mark("b", "BTC/USDT", mark)
    for venue in ("a", "b", None):
        mine = [t for t in trades if venue is None or t[4] == venue]
        signed = sum((q if s == "buy" else -q for s, q, *_ in mine), D(0))
        proceeds = sum((q * p for s, q, p, *_ in mine if s == "sell"), D(0))
        cost = sum((q * p for s, q, p, *_ in mine if s == "buy"), D(0))
        pos = ledger.position("BTC/USDT", venue)
        if pos is None:
            assert mine == []
            continue
        assert pos.quantity == signed
        # realised + unrealised = Σ sell proceeds − Σ buy cost + position·mark, fees excluded
        unrealized = ledger.unrealized_pnl("BTC/USDT", venue)
        assert pos.realized_pnl + unrealized == proceeds - cost + signed * mark
        assert pos.fees == sum((t[3] for t in mine), D(0))
        if signed == 0:
            assert pos.average_price is None and pos.cost == 0


@PROPERTY
@given(fills)
def test_average_price_stays_within_the_fill_prices(trades):
    ledger = ledger_of("USDT")
    for side, qty, price, fee, _venue in trades:
        ledger.apply(fill(side, qty, price, fee=fee))
        pos = ledger.position("BTC/USDT", "a")
        if pos.quantity:
            assert min(t[2] for t in trades) <= pos.average_price <= max(t[2] for t in trades)


@PROPERTY
@given(st.lists(st.tuples(st.sampled_from(["buy", "sell"]), quantities, prices), max_size=30))
def test_balances_change_only_with_fills_and_transfers(steps):
    ledger = ledger_of("USD")
    ledger.apply(balances("a", USDT="10000", BTC="3"))
    expected = {"BTC": D(3), "USDT": D(10000)}
    for side, qty, price in steps:
        ledger.apply(fill(side, qty, price, fee="0.5"))
        expected["BTC"] += qty if side == "buy" else -qty
        expected["USDT"] += (-qty * price if side == "buy" else qty * price) - D("0.5")
        before = dict(ledger.balances["a"])
        ledger.set_mark("a", "BTC/USDT", price)  # a mark moves no money
        assert ledger.balances["a"] == before
        assert {c: ledger.balance("a", c) for c in expected} == expected
    ledger.apply(TransferRecorded(venue="a", currency="USDT", amount=D("-100")))
    assert ledger.balance("a", "USDT") == expected["USDT"] - 100


def test_a_fill_of_an_instrument_never_listed_is_refused_not_guessed():
    ledger = Ledger("USD")
    with pytest.raises(LedgerError, match="BTC/USDT on a is not an instrument the venue listed"):
        ledger.apply_fill(fill("buy", "1", "100"))
    assert ledger.positions == {} and ledger.balances == {}


def test_a_stock_is_accounted_by_its_instrument_not_its_name():
    ledger = Ledger("USD")
    aapl = Instrument(
        symbol="AAPL",
        venue="ib",
        venue_symbol="AAPL",
        base="AAPL",
        quote="USD",
        asset_class="stock",
        tick_size=D("0.01"),
        lot_size=D(1),
    )
    ledger.apply(InstrumentsLoaded(venue="ib", instruments=[aapl]))
    ledger.apply(balances("ib", USD="10000"))
    ledger.apply(
        fill("buy", "10", "190.50", symbol="AAPL", venue="ib", fee="1", fee_currency="USD")
    )
    assert ledger.balance("ib", "AAPL") == D(10)
    assert ledger.balance("ib", "USD") == D(10000) - D(1905) - D(1)
    ledger.set_mark("ib", "AAPL", D(200))
    assert ledger.nav() == D(2000) + D(8094)


def test_a_future_settles_pnl_times_its_multiplier_in_cash():
    ledger = Ledger("USD")
    es = Instrument(
        symbol="ES 2026-12",
        venue="ib",
        venue_symbol="ESZ6",
        base="ES",
        quote="USD",
        asset_class="future",
        multiplier=D(50),
        tick_size=D("0.25"),
        lot_size=D(1),
    )
    ledger.apply(InstrumentsLoaded(venue="ib", instruments=[es]))
    ledger.apply(balances("ib", USD="100000"))
    ledger.apply(
        fill("buy", "2", "5000", symbol="ES 2026-12", venue="ib", fee="4.20", fee_currency="USD")
    )
    assert ledger.balance("ib", "USD") == D(100000) - D("4.20")  # no notional leaves the cash
    assert ledger.balance("ib", "ES") == 0
    ledger.set_mark("ib", "ES 2026-12", D(5010))
    assert ledger.unrealized_pnl("ES 2026-12", "ib") == 2 * 10 * 50
    assert ledger.nav() == D(100000) - D("4.20") + 1000
    ledger.apply(
        fill("sell", "1", "5020", symbol="ES 2026-12", venue="ib", fee="2.10", fee_currency="USD")
    )
    position = ledger.position("ES 2026-12", "ib")
    assert position.realized_pnl == 20 * 50
    assert ledger.balance("ib", "USD") == D(100000) - D("6.30") + 1000
    assert position.average_price == D(5000)


# ------------------------------------------------------------------------------------------------
# The component


def _runtime(*components):
    rt = ReplayRuntime(start_ns=0)
    recorder = Recorder(types=(PositionChanged, NavRecorded))
    for component in (*components, recorder):
        rt.add(component)
    rt.start([])
    for message in listing("BTC/USDT", "ETH/USD"):
        rt.publish(message)
    return rt, recorder


def test_portfolio_publishes_positions_after_each_fill():
    marks = {("BTC/USDT", "a"): D(120), ("BTC/USDT", None): D(120)}
    portfolio = Portfolio("USDT", lambda symbol, venue: marks.get((symbol, venue)))
    rt, recorder = _runtime(portfolio)
    rt.publish(fill("buy", "1", "100", partial=True))
    rt.publish(fill("buy", "1", "110", venue="b"))
    rt.advance(1)
    positions = [m.position for m in recorder.of_type(PositionChanged)]
    assert [(p.venue, p.quantity, p.average_price) for p in positions] == [
        ("a", D(1), D(100)),
        (None, D(1), D(100)),
        ("b", D(1), D(110)),
        (None, D(2), D(105)),
    ]
    assert positions[0].unrealized_pnl == D(20)  # marked to a's mid 120
    assert (positions[0].mark, positions[0].mark_ts) == (D(120), 0)
    assert (positions[2].mark, positions[2].mark_ts) == (D(110), None)  # no mark: fill price
    assert positions[3].unrealized_pnl == D(30)


def test_portfolio_records_nav_on_demand_and_at_the_end_of_each_active_day():
    portfolio = Portfolio("USD")
    rt, recorder = _runtime(portfolio)
    rt.publish(balances("a", USD="1000"))
    rt.publish(RecordNav(reason="check"))
    rt.run()  # ends: the daily timer is a background one
    assert [(m.ts, m.nav) for m in recorder.of_type(NavRecorded)] == [(0, D(1000))]
    rt.advance(NS_PER_DAY)  # a live node's day goes by
    navs = recorder.of_type(NavRecorded)
    assert [(m.ts, m.nav) for m in navs] == [(0, D(1000)), (NS_PER_DAY - 1, D(1000))]
    rt.send("portfolio", fill("buy", "1", "10", symbol="ETH/USD", fee_currency="USD"))
    rt.send("portfolio", RecordNav())  # no ETH/USD mark: nothing published
    rt.run()
    assert len(recorder.of_type(NavRecorded)) == 2


def test_portfolio_restore_rebuilds_the_ledger_from_the_journal():
    history = [
        *listing("BTC/USDT"),
        balances("a", USDT="1000"),
        fill("buy", "2", "100", fee="0.2"),
        TransferRecorded(venue="a", currency="USDT", amount=D(50)),
        fill("sell", "1", "120"),
    ]
    portfolio = Portfolio("USDT")
    portfolio.restore(Envelope(i, "x", "*", m) for i, m in enumerate(history, 1))
    ledger = portfolio.ledger
    assert ledger.quantity("BTC/USDT", "a") == D(1)
    assert ledger.position("BTC/USDT", "a").realized_pnl == D(20)
    assert ledger.balance("a", "USDT") == D("969.8")  # 1000 − 200.2 + 50 + 120
