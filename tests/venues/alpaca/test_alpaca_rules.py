"""Alpaca's rules as the venue applies them before an order leaves: ticks by price band, whole
or fractional shares, the sessions of its market clock, and its REST answers read as the
node's reports. The JSON is what the loopback Alpaca answers through alpaca-py's client."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
from alpaca.trading.client import TradingClient
from alpaca_loopback_support import KEY, SECRET
from tradenode_alpaca.instruments import stock_instrument, tick_for
from tradenode_alpaca.loopback import ThreadedAlpacaLoopback
from tradenode_alpaca.orders import check_order, check_session, check_short_sale, order_body
from tradenode_alpaca.reports import balances, fill_report, order_report, position_reports
from tradenode_alpaca.session import MarketClock

from node.messages import Balance, SubmitOrder

D = Decimal
ET = ZoneInfo("America/New_York")


def et(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 6, day, hour, minute, tzinfo=ET)


def clock_at(venue: ThreadedAlpacaLoopback, client: TradingClient, moment: datetime) -> MarketClock:
    venue.jump_to(moment)
    clock = client.get("/clock")
    day = datetime.fromisoformat(clock["timestamp"]).date().isoformat()
    return MarketClock.from_json(clock, client.get("/calendar", {"start": day, "end": day}))


def order(symbol: str = "AAPL", quantity: str = "10", **kw: Any) -> SubmitOrder:
    kw.setdefault("order_type", "limit")
    kw.setdefault("limit_price", D("190.01"))
    kw.setdefault("time_in_force", "day")
    return SubmitOrder(
        client_order_id="c1", venue="alpaca", symbol=symbol, side="buy", quantity=D(quantity), **kw
    )


@pytest.fixture
def assets(client: TradingClient) -> dict[str, dict[str, Any]]:
    return {a["symbol"]: a for a in client.get("/assets")}


def test_ticks_follow_alpacas_price_bands() -> None:
    assert tick_for(D("1")) == D("0.01") and tick_for(D("190.5")) == D("0.01")
    assert tick_for(D("0.9999")) == D("0.0001")


def test_instruments_from_the_assets_endpoint(assets: dict[str, dict[str, Any]]) -> None:
    aapl = stock_instrument("alpaca", assets["AAPL"], fractional=False, reference=None)
    assert (aapl.symbol, aapl.base, aapl.quote, aapl.asset_class) == (
        "AAPL",
        "AAPL",
        "USD",
        "stock",
    )
    assert (aapl.tick_size, aapl.lot_size, aapl.min_notional, aapl.tradable) == (
        D("0.01"),
        D(1),
        D(0),
        True,
    )
    fractions = stock_instrument("alpaca", assets["AAPL"], fractional=True, reference=D("190"))
    assert (fractions.lot_size, fractions.min_notional) == (D("1e-9"), D(1))
    # The NASDAQ test issue trades below $1 and whole shares only, whatever the config says.
    test_issue = stock_instrument("alpaca", assets["ZVZZT"], fractional=True, reference=D("0.85"))
    assert (test_issue.tick_size, test_issue.lot_size) == (D("0.0001"), D(1))


def test_what_alpaca_refuses_at_any_time(assets: dict[str, dict[str, Any]]) -> None:
    whole = stock_instrument("alpaca", assets["AAPL"], fractional=False, reference=None)
    fractions = stock_instrument("alpaca", assets["AAPL"], fractional=True, reference=None)
    test_issue = stock_instrument("alpaca", assets["ZVZZT"], fractional=True, reference=D("0.85"))

    def why(instrument: Any, fractionable: bool = True, **kw: Any) -> str | None:
        return check_order(order(instrument.symbol, **kw), instrument, fractionable=fractionable)

    assert why(whole) is None
    assert why(test_issue, False, quantity="1.5", limit_price=D("0.8501")) == (
        "ZVZZT is not fractionable at Alpaca: 1.5 must be a whole number of shares"
    )
    assert "fractional shares are off" in str(why(whole, quantity="0.5"))
    assert why(fractions, quantity="0.5") is None
    assert why(fractions, quantity="0.5", time_in_force="ioc") == (
        "Alpaca takes fractional orders as DAY orders only, not ioc"
    )
    assert why(whole, limit_price=D("190.001")) == (
        "limit price 190.001 is off Alpaca's tick (0.01 at or above $1, 0.0001 below)"
    )
    assert why(test_issue, False, limit_price=D("0.85015")) is not None
    assert why(whole, order_type="stop", limit_price=None) == "a stop order needs a stop price > 0"
    assert why(whole, order_type="stop", limit_price=None, stop_price=D("195.005")) is not None
    assert why(whole, post_only=True) == "Alpaca has no post-only orders"
    assert why(whole, order_type="stop", stop_price=D("190"), time_in_force="opg") == (
        "opg orders must be market or limit orders"
    )


def test_short_sales_alpaca_would_refuse(assets: dict[str, dict[str, Any]]) -> None:
    def why(symbol: str, quantity: str, held: str = "0", selling: str = "0", **kw: Any) -> Any:
        sell = msgspec.structs.replace(order(symbol, quantity), side="sell")
        kw.setdefault("shorting_enabled", True)
        return check_short_sale(sell, assets[symbol], held=D(held), selling=D(selling), **kw)

    # Within what is held (less what open sells hold) a sell is no short sale.
    assert why("ZVZZT", "100", held="100") is None
    assert why("ZVZZT", "60", held="100", selling="40") is None
    assert why("ZVZZT", "150", held="100") == (
        "ZVZZT cannot be sold short at Alpaca (not shortable): selling 150 is more than the "
        "100 shares available (100 held)"
    )
    assert why("ZVZZT", "61", held="100", selling="40") == (
        "ZVZZT cannot be sold short at Alpaca (not shortable): selling 61 is more than the "
        "60 shares available (100 held, 40 more held by open sells)"
    )
    assert why("ZVZZT", "1", held="-5") == (
        "ZVZZT cannot be sold short at Alpaca (not shortable): selling 1 is more than the "
        "0 shares available (-5 held)"
    )
    # A shortable, easy-to-borrow stock on an account that may short goes to Alpaca.
    assert why("AAPL", "5") is None
    assert why("AAPL", "5", shorting_enabled=False) == (
        "AAPL cannot be sold short at Alpaca (shorting is off for the account): selling 5 is "
        "more than the 0 shares available (0 held)"
    )
    hard = {**assets["AAPL"], "easy_to_borrow": False}
    sell = msgspec.structs.replace(order("AAPL", "5"), side="sell")
    assert "(hard to borrow)" in str(
        check_short_sale(sell, hard, held=D(0), selling=D(0), shorting_enabled=True)
    )
    assert "fractional orders cannot sell short" in str(why("AAPL", "2.5", held="2"))
    # Buys are never short sales.
    assert (
        check_short_sale(
            order("ZVZZT", "100"), assets["ZVZZT"], held=D(0), selling=D(0), shorting_enabled=False
        )
        is None
    )


def test_sessions_on_alpacas_clock(venue: ThreadedAlpacaLoopback, client: TradingClient) -> None:
    regular = clock_at(venue, client, et(3, 10))
    assert regular.session() == "regular"
    assert check_session(order(), "regular", regular, extended_hours=False) == (None, False)

    after = clock_at(venue, client, et(3, 17, 30))
    assert after.session() == "after-hours"
    refused, _ = check_session(order(), after.session(), after, extended_hours=False)
    assert refused is not None and refused.startswith("market closed (after-hours)")
    assert "2024-06-04 09:30" in refused  # Alpaca's next open, in New York time
    assert check_session(order(), "after-hours", after, extended_hours=True) == (None, True)
    ioc, _ = check_session(order(time_in_force="ioc"), "after-hours", after, extended_hours=True)
    assert ioc is not None and "only DAY limit orders" in ioc
    # Opening-auction orders wait for the open: Alpaca, not the session, decides on them.
    assert (
        check_session(order(time_in_force="opg"), "after-hours", after, extended_hours=False)[0]
        is None
    )

    night = clock_at(venue, client, et(3, 21))
    assert night.session() == "closed"
    refused, _ = check_session(order(), "closed", night, extended_hours=True)
    assert refused is not None and refused.startswith("market closed: Alpaca's clock says")

    early = clock_at(venue, client, et(4, 8))
    assert early.session() == "pre-market"
    # A clock read before a session boundary is stale once the boundary has passed.
    assert not early.stale(1e9, monotonic=early.read_at + 60)  # 08:01
    assert early.stale(1e9, monotonic=early.read_at + 91 * 60)  # 09:31: the open has passed


def test_order_body_sends_decimal_strings() -> None:
    body = order_body(order(quantity="0.123456789", limit_price=D("190.10")), extended_hours=True)
    assert body == {
        "symbol": "AAPL",
        "qty": "0.123456789",
        "side": "buy",
        "type": "limit",
        "time_in_force": "day",
        "client_order_id": "c1",
        "limit_price": "190.1",
        "extended_hours": True,
    }
    stop = order_body(
        order(order_type="stop", stop_price=D("185"), limit_price=None), extended_hours=False
    )
    assert (stop["stop_price"], "limit_price" in stop, "extended_hours" in stop) == (
        "185",
        False,
        False,
    )


def test_rest_answers_as_reports_and_balances(
    venue: ThreadedAlpacaLoopback, client: TradingClient
) -> None:
    venue.set_price("AAPL", D("190"))
    placed = client.post(
        "/orders",
        {
            "symbol": "AAPL",
            "qty": "7",
            "side": "buy",
            "type": "market",
            "time_in_force": "day",
            "client_order_id": "r1",
        },
    )
    done = client.get(f"/orders/{placed['id']}")
    report = order_report(done)
    assert (report.client_order_id, report.status, report.quantity, report.filled_quantity) == (
        "r1",
        "filled",
        D(7),
        D(7),
    )
    (activity,) = client.get("/account/activities/FILL")
    fill = fill_report(activity, "r1")
    assert fill.trade_id == activity["id"].split("::")[1]
    assert (fill.price, fill.quantity, fill.fee, fill.fee_currency) == (
        D(activity["price"]),
        D(7),
        D(0),
        "USD",
    )
    account, positions = client.get("/account"), client.get("/positions")
    held = balances(account, positions, ["AAPL", "NVDA"])
    assert held == {
        "USD": Balance(total=D(100_000) - 7 * fill.price, free=D(account["buying_power"])),
        "AAPL": Balance(total=D(7), free=D(7)),
        "NVDA": Balance(total=D(0), free=D(0)),
    }
    assert [(p.symbol, p.quantity) for p in position_reports(positions, ["AAPL", "NVDA"])] == [
        ("AAPL", D(7)),
        ("NVDA", D(0)),
    ]


def test_the_free_cash_is_the_cash_unless_margin_is_on(
    make_venue: Callable[..., ThreadedAlpacaLoopback],
) -> None:
    """A margin account (Alpaca's default, paper included) has a buying power of twice its
    equity here: the free USD stays the cash unless the config opts into margin."""
    venue = make_venue(cash=D(50_000), multiplier=2)
    client = TradingClient(KEY, SECRET, url_override=venue.url)
    account, positions = client.get("/account"), client.get("/positions")
    assert D(account["buying_power"]) == 2 * D(account["cash"]) == D(100_000)
    assert balances(account, positions, ["AAPL"])["USD"] == Balance(total=D(50_000), free=D(50_000))
    assert balances(account, positions, ["AAPL"], margin=True)["USD"] == Balance(
        total=D(50_000), free=D(100_000)
    )
    # Short sale proceeds are cash Alpaca lends: buying the shares back is not free to spend.
    venue.set_price("AAPL", D("190"))
    client.post(
        "/orders",
        {"symbol": "AAPL", "qty": "10", "side": "sell", "type": "market", "time_in_force": "day"},
    )
    account, positions = client.get("/account"), client.get("/positions")
    cash, short = D(account["cash"]), D(account["short_market_value"])
    assert cash > D(50_000) and short < 0
    assert balances(account, positions, ["AAPL"])["USD"] == Balance(total=cash, free=cash + short)
    assert balances(account, positions, ["AAPL"], margin=True)["USD"].free == D(
        account["buying_power"]
    )
