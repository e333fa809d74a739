"""RiskManager driven through messages on the replay runtime: what it forwards and publishes."""

from __future__ import annotations

import itertools
from decimal import Decimal as D
from typing import Any

import msgspec
import pytest

from node.component import Envelope
from node.market import MarketState
from node.messages import (
    Balance,
    BalancesUpdated,
    BookLevel,
    BookSnapshot,
    CancelOrder,
    HaltTrading,
    Instrument,
    InstrumentsLoaded,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    QuoteTick,
    ReduceOnly,
    ResumeTrading,
    RiskRejected,
    SubmitOrder,
    TradingStateChanged,
    TransferRecorded,
    VenueDisconnected,
)
from node.portfolio import NS_PER_DAY
from node.registry import Registry
from node.risk import (
    NS_PER_SECOND,
    RiskConfig,
    RiskConfigError,
    RiskManager,
    build_checks,
    builtin_checks,
    fmt_money,
)
from node.runtime.recorder import Recorder
from node.runtime.replay import ReplayRuntime

BTC = Instrument(
    symbol="BTC/USDT",
    venue="sim",
    venue_symbol="BTCUSDT",
    base="BTC",
    quote="USDT",
    tick_size=D("0.1"),
    lot_size=D("0.001"),
    min_quantity=D("0.001"),
    max_quantity=D("100"),
    min_notional=D("10"),
    taker_fee=D("0.001"),
)
ETH = Instrument(
    symbol="ETH/USDT",
    venue="sim",
    venue_symbol="ETHUSDT",
    base="ETH",
    quote="USDT",
    tick_size=D("0.01"),
    lot_size=D("0.01"),
)
HALTED_ETH = Instrument(
    symbol="DOGE/USDT",
    venue="sim",
    venue_symbol="DOGEUSDT",
    base="DOGE",
    quote="USDT",
    tick_size=D("0.0001"),
    lot_size=D("1"),
    tradable=False,
)
_ids = itertools.count()


def quote(bid: str, ask: str, symbol: str = "BTC/USDT", venue: str = "sim", ts: int = 0):
    return QuoteTick(
        ts=ts, venue=venue, symbol=symbol, bid=D(bid), bid_size=D(1), ask=D(ask), ask_size=D(1)
    )


def balances(ts: int = 0, venue: str = "sim", **totals: str) -> BalancesUpdated:
    return BalancesUpdated(
        ts=ts,
        venue=venue,
        balances={c: Balance(total=D(t), free=D(t)) for c, t in totals.items()},
    )


def filled(order: SubmitOrder, price: str | None = None, ts: int = 0) -> OrderFilled:
    n = next(_ids)
    return OrderFilled(
        ts=ts,
        client_order_id=order.client_order_id,
        venue=order.venue,
        venue_order_id=f"v{n}",
        trade_id=f"t{n}",
        symbol=order.symbol,
        side=order.side,
        price=D(price) if price is not None else order.limit_price,
        quantity=order.quantity,
        fee=D(0),
        fee_currency="USDT",
        liquidity="taker",
        cumulative_quantity=order.quantity,
        leaves_quantity=D(0),
    )


class Node:
    """Risk, a recorder at ``venue.sim`` and one for published events, on a replay runtime."""

    def __init__(
        self,
        checks: dict[str, dict[str, Any]] | None = None,
        valuation: str = "USDT",
        book: bool = True,
        funds: dict[str, str] | None = None,
        **config: Any,
    ) -> None:
        self.config = msgspec.convert({"checks": checks or {}, **config}, RiskConfig)
        self.market = MarketState()
        self.risk = RiskManager(
            self.config, build_checks(self.config, builtin_checks()), valuation, self.market
        )
        self.rt = ReplayRuntime(start_ns=0)
        self.venue = Recorder("venue.sim", types=())
        self.events = Recorder("events", types=(RiskRejected, TradingStateChanged))
        for component in (self.risk, self.venue, self.events):
            self.rt.add(component)
        self.rt.start([])
        self.rt.run()
        self.events.messages.clear()  # the state risk starts in
        self.publish(InstrumentsLoaded(venue="sim", instruments=[BTC, ETH, HALTED_ETH]))
        self.publish(balances(**(funds or {"USDT": "1000000", "BTC": "100"})))
        if book:
            self.publish(quote("99.9", "100.1"))  # mid 100

    def publish(self, *messages) -> None:
        """Publish events; a quote moves the venue's book (the node's one book per venue) and
        lets a check interval go by, in which risk values the account at the new marks."""
        for message in messages:
            if isinstance(message, QuoteTick):
                book = self.market.book(message.venue, message.symbol)
                book.apply(
                    BookSnapshot(
                        venue=message.venue,
                        symbol=message.symbol,
                        bids=[BookLevel(message.bid, message.bid_size)],
                        asks=[BookLevel(message.ask, message.ask_size)],
                        ts=self.rt.clock,
                    )
                )
                self.rt.advance(int(self.config.check_interval_ms * 1e6))
            else:
                self.rt.publish(message)
        self.rt.run()

    def order(self, side="buy", qty="1", price="100", **kw) -> SubmitOrder:
        kw.setdefault("client_order_id", f"o{next(_ids)}")
        kw.setdefault("venue", "sim")
        kw.setdefault("symbol", "BTC/USDT")
        return SubmitOrder(
            ts=self.rt.clock,
            side=side,
            quantity=D(qty),
            limit_price=D(price) if price is not None else None,
            order_type="limit" if price is not None else "market",
            **kw,
        )

    def submit(self, side="buy", qty="1", price="100", **kw) -> SubmitOrder | RiskRejected:
        """Send one order to risk; returns what came of it: the forwarded order or the reject."""
        order = kw.pop("order", None) or self.order(side, qty, price, **kw)
        sent, rejected = len(self.venue.messages), len(self.rejects)
        self.rt.send("risk", order)
        self.rt.run()
        outcome = self.venue.messages[sent:] + self.rejects[rejected:]
        assert len(outcome) == 1, outcome
        return outcome[0]

    @property
    def rejects(self) -> list[RiskRejected]:
        return self.events.of_type(RiskRejected)

    @property
    def states(self) -> list[tuple[str, str]]:
        return [(m.state, m.reason) for m in self.events.of_type(TradingStateChanged)]

    def cancels(self) -> list[CancelOrder]:
        return [m for m in self.venue.messages if isinstance(m, CancelOrder)]


def passes(outcome) -> bool:
    return isinstance(outcome, SubmitOrder)


def refused(outcome, check: str, detail: str | None = None) -> bool:
    assert isinstance(outcome, RiskRejected), f"expected a reject, got {outcome}"
    assert outcome.check == check, outcome
    if detail is not None:
        assert outcome.detail == detail
    return True


# ------------------------------------------------------------------------------------------------
# Config


def test_build_checks_names_the_section_and_key():
    registry = builtin_checks()
    cfg = RiskConfig(checks={"max_order_notional": {"max_notional": "1e4"}, "instrument": {}})
    built = build_checks(cfg, registry)
    assert [name for name, _, _ in built] == ["instrument", "max_order_notional"]  # fixed order
    assert built[1][2].max_notional == D(10000)
    cases = {
        "nope": (
            {"nope": {}},
            "checks.nope: unknown risk check (known: daily_notional, daily_order_count",
        ),
        "bad value": (
            {"max_order_notional": {"max_notional": "ten"}},
            "checks.max_order_notional.max_notional: Invalid decimal string",
        ),
        "bad key": (
            {"order_rate": {"max_per_second": 5, "per_hour": 1}},
            "checks.order_rate.per_hour: unknown key",
        ),
        "missing": (
            {"max_order_notional": {}},
            "checks.max_order_notional: Object missing required field `max_notional`",
        ),
        "non-positive": (
            {"max_open_orders": {"max_total": 0}},
            "checks.max_open_orders: max_total must be > 0, got 0",
        ),
        "empty": (
            {"max_position": {}},
            "checks.max_position: set at least one of max_quantity, max_notional, max_pct_nav",
        ),
    }
    for section, message in cases.values():
        with pytest.raises(RiskConfigError) as err:
            build_checks(RiskConfig(checks=section), registry)
        assert str(err.value).startswith(message)


def test_risk_config_is_strict():
    with pytest.raises(msgspec.ValidationError, match="unknown field `max_loss`"):
        msgspec.convert({"max_loss": 5}, RiskConfig)
    with pytest.raises(msgspec.ValidationError, match="max_daily_loss must be > 0"):
        msgspec.convert({"max_daily_loss": "-5"}, RiskConfig)


def test_builtin_checks_register_through_the_plugin_hook():
    import importlib.metadata as md

    import pluggy

    from node import hookspecs

    (entry,) = [e for e in md.entry_points(group="tradenode") if e.name == "risk-checks"]
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(entry.load(), name=entry.name)
    registry: Registry[Any] = Registry("risk-check")
    manager.hook.tradenode_register_risk_checks(registry=registry)
    assert [r.name for r in registry] == [r.name for r in builtin_checks()]
    assert len(registry.entries) == 14


# ------------------------------------------------------------------------------------------------
# Always on


def test_no_checks_configured_forwards_the_order_unchanged():
    node = Node()
    order = node.order("buy", "1", "100")
    assert node.submit(order=order) == order


def test_order_valid_is_always_on():
    node = Node()
    refused(node.submit(qty="0"), "order_valid", "quantity 0 must be > 0")
    refused(node.submit(price="-1"), "order_valid", "limit price -1 must be > 0")
    bad = SubmitOrder(
        client_order_id="x", venue="sim", symbol="BTC/USDT", side="buy", quantity=D(1)
    )
    refused(node.submit(order=bad), "order_valid", "limit order without limit_price")
    refused(node.submit(venue="nowhere"), "order_valid", "no venue 'nowhere' is running")


def test_a_check_that_raises_refuses_the_order():
    registry: Registry[Any] = Registry("risk-check")

    def broken(limits, order, view):
        raise ZeroDivisionError("oops")

    registry.add("broken", broken, None)
    config = RiskConfig(checks={"broken": {}})
    risk = RiskManager(config, build_checks(config, registry), "USDT", MarketState())
    rt = ReplayRuntime()
    venue, events = Recorder("venue.sim", types=()), Recorder("events", types=(RiskRejected,))
    for c in (risk, venue, events):
        rt.add(c)
    rt.start([])
    rt.publish(InstrumentsLoaded(venue="sim", instruments=[BTC]))
    order = SubmitOrder(
        client_order_id="x",
        venue="sim",
        symbol="BTC/USDT",
        side="buy",
        quantity=D(1),
        limit_price=D(100),
    )
    rt.send("risk", order)
    rt.run()
    assert venue.messages == []
    assert [(r.check, r.detail) for r in events.messages] == [
        ("broken", "check raised ZeroDivisionError: oops")
    ]


# ------------------------------------------------------------------------------------------------
# One test per check


def test_duplicate_id():
    node = Node({"duplicate_id": {}})
    assert passes(node.submit(client_order_id="A"))
    again = node.submit(client_order_id="A", parent_id="P1")
    refused(again, "duplicate_id", "client order id 'A' was already used")
    assert (again.client_order_id, again.venue, again.parent_id) == ("A", "sim", "P1")
    assert passes(node.submit(client_order_id="B"))


def test_instrument_known_and_tradable():
    node = Node({"instrument": {}})
    # an unknown instrument is refused whatever the checks: nothing can account for its fills
    refused(node.submit(symbol="XRP/USDT"), "order_valid", "unknown instrument XRP/USDT on sim")
    refused(node.submit(symbol="DOGE/USDT"), "instrument", "DOGE/USDT on sim is not tradable")
    assert passes(node.submit(symbol="ETH/USDT"))


def test_increments():
    node = Node({"increments": {}})
    refused(
        node.submit(price="100.05"), "increments", "price 100.05 is not a multiple of the tick 0.1"
    )
    refused(
        node.submit(qty="0.0015"),
        "increments",
        "quantity 0.0015 is not a multiple of the lot 0.001",
    )
    assert passes(node.submit(qty="0.002", price="100.1"))
    assert passes(node.submit(qty="0.002", price=None))  # market: no price to check


def test_quantity_bounds():
    node = Node({"quantity": {"max_quantity": {"ETH/USDT": "5"}}})
    refused(node.submit(qty="0.0009"), "quantity", "quantity 0.0009 < min 0.001")
    assert passes(node.submit(qty="0.001"))
    refused(node.submit(qty="100.001"), "quantity", "quantity 100.001 > instrument max 100")
    assert passes(node.submit(qty="100"))
    refused(node.submit(qty="5.01", symbol="ETH/USDT"), "quantity", "quantity 5.01 > limit 5")
    assert passes(node.submit(qty="5", symbol="ETH/USDT"))


def test_min_notional():
    node = Node({"min_notional": {}})
    refused(node.submit(qty="0.099"), "min_notional", "notional 9.90 USDT < min 10.00 USDT")
    assert passes(node.submit(qty="0.1"))  # 10.0 exactly


def test_price_collar():
    node = Node({"price_collar": {"max_deviation_bps": "500"}})
    refused(
        node.submit(price="105.1"),
        "price_collar",
        "buy limit 105.1 is 510.00 bps from mid 100.0 > 500 bps",
    )
    assert passes(node.submit(price="105"))
    assert passes(node.submit("sell", price="95"))
    refused(node.submit(price="94.9"), "price_collar")  # passive but still off by 510 bps
    node.publish(quote("90", "110"))  # a market order would pay 1000 bps over the mid
    refused(
        node.submit(price=None),
        "price_collar",
        "buy best opposite price 110 is 1000.00 bps from mid 100 > 500 bps",
    )

    passive_ok = Node({"price_collar": {"max_deviation_bps": "500", "aggressive_only": True}})
    assert passes(passive_ok.submit(price="80"))
    refused(passive_ok.submit("sell", price="94.9"), "price_collar")

    no_book = Node({"price_collar": {"max_deviation_bps": "500"}}, book=False)
    refused(
        no_book.submit(),
        "price_collar",
        "no mid for BTC/USDT on sim to check the price against",
    )


def test_max_order_notional():
    node = Node({"max_order_notional": {"max_notional": "10000"}})
    refused(
        node.submit(qty="100.001"), "max_order_notional", "notional 10000.10 USDT > 10000.00 USDT"
    )
    assert passes(node.submit(qty="100"))
    # a market buy is valued at the best ask, 100.1
    refused(
        node.submit(qty="100", price=None),
        "max_order_notional",
        "notional 10010.00 USDT > 10000.00 USDT",
    )
    assert passes(node.submit(qty="99.9", price=None))  # 9999.99


def test_market_order_without_a_price_is_refused_not_guessed():
    node = Node({"max_order_notional": {"max_notional": "10000"}}, book=False)
    refused(
        node.submit(price=None),
        "max_order_notional",
        "no price for market buy BTC/USDT on sim (empty book)",
    )


def test_notional_in_another_valuation_currency_needs_its_mark():
    node = Node({"max_order_notional": {"max_notional": "12500"}}, valuation="USD")
    refused(
        node.submit(qty="100"),
        "max_order_notional",
        "cannot value the order's notional: no mark for USDT/USD",
    )
    node.publish(quote("1.2499", "1.2501", symbol="USDT/USD", venue="fx"))  # mid 1.25
    assert passes(node.submit(qty="100"))  # 10000 USDT = 12500 USD
    refused(
        node.submit(qty="100.001"), "max_order_notional", "notional 12500.125 USD > 12500.00 USD"
    )


def test_max_position_quantity_counts_open_orders_and_lets_reductions_through():
    node = Node({"max_position": {"max_quantity": {"BTC/USDT": "10"}}})
    node.publish(filled(node.order("buy", "8", "100")))  # long 8
    assert passes(node.submit(qty="1"))  # open: 8 + 1
    refused(
        node.submit(qty="1.001"),
        "max_position",
        "position BTC/USDT would reach 10.001 > 10 (now 8, with open orders)",
    )
    assert passes(node.submit(qty="1"))  # 10 exactly
    assert passes(node.submit("sell", qty="3"))  # reduces


def test_max_position_notional_and_share_of_nav():
    node = Node(
        {"max_position": {"max_notional": "1000", "max_pct_nav": "10"}},
        funds={"USDT": "9000"},
    )
    refused(
        node.submit(qty="10.001"),
        "max_position",
        "position BTC/USDT would be worth 1000.10 USDT > 1000.00 USDT",
    )
    assert passes(node.submit(qty="9"))  # 900 USDT = 10% of NAV 9000
    refused(
        node.submit(qty="0.001"),
        "max_position",
        "position BTC/USDT would be worth 900.10 USDT = 10.00% of NAV 9000.00 USDT > 10%",
    )


def test_max_gross_exposure():
    node = Node({"max_gross_exposure": {"max_notional": "1500"}})
    node.publish(filled(node.order("buy", "10", "100")))  # 10 BTC at mark 100 = 1000
    assert passes(node.submit(qty="5"))  # 1500
    refused(
        node.submit(qty="0.001"),
        "max_gross_exposure",
        "gross exposure would be 1500.10 USDT > 1500.00 USDT",
    )
    assert passes(node.submit("sell", qty="1"))  # does not add to the worst case (15 long)
    node.publish(filled(node.order("buy", "1", "2000", symbol="ETH/USDT")))
    refused(
        node.submit("sell", qty="1"),
        "max_gross_exposure",
        "cannot value gross exposure: no mark for ETH/USDT",
    )


def test_free_balance_buys_need_quote_with_the_taker_fee_and_sells_need_base():
    node = Node({"free_balance": {}}, funds={"USDT": "1001", "BTC": "2"})
    refused(
        node.submit(qty="10.001"),
        "free_balance",
        "needs 1001.1001 USDT, free 1001.00 USDT on sim",
    )
    assert passes(node.submit(qty="10"))  # 1000 + 1 taker fee: all of it
    refused(
        node.submit(qty="0.001"),  # the open buy holds everything
        "free_balance",
        "needs 0.1001 USDT, free 0.00 USDT on sim",
    )
    assert passes(node.submit("sell", qty="2", price="100"))
    refused(
        node.submit("sell", qty="0.001"), "free_balance", "needs 0.001 BTC, free 0.00 BTC on sim"
    )


def test_max_open_orders():
    node = Node({"max_open_orders": {"max_total": 2}})
    first = node.submit()
    assert passes(first)
    assert passes(node.submit())
    refused(node.submit(), "max_open_orders", "open orders 2 + 1 > 2")
    node.publish(
        OrderAccepted(client_order_id=first.client_order_id, venue="sim", venue_order_id="1")
    )
    node.publish(OrderCanceled(client_order_id=first.client_order_id, venue="sim"))
    assert passes(node.submit())


def test_order_rate_per_second_and_minute():
    node = Node({"order_rate": {"max_per_second": 2, "max_per_minute": 3}})
    assert passes(node.submit())
    assert passes(node.submit())
    refused(node.submit(), "order_rate", "orders to sim in the last second: 2 + 1 > 2")
    node.rt.advance(NS_PER_SECOND)
    assert passes(node.submit())
    refused(node.submit(), "order_rate", "orders to sim in the last minute: 3 + 1 > 3")
    node.rt.advance(59 * NS_PER_SECOND)  # the first two are now a minute old
    assert passes(node.submit())


def test_daily_order_count_resets_at_utc_midnight():
    node = Node({"daily_order_count": {"max_orders": 2}})
    assert passes(node.submit())
    assert passes(node.submit())
    refused(node.submit(), "daily_order_count", "orders today 2 + 1 > 2")
    node.rt.advance(NS_PER_DAY)
    assert passes(node.submit())


def test_daily_notional_counts_fills_open_orders_and_this_order():
    node = Node({"daily_notional": {"max_notional": "1000"}})
    node.publish(filled(node.order("buy", "5", "100")))  # 500 filled today
    assert passes(node.submit(qty="3"))  # + 300 open
    refused(
        node.submit(qty="2.001"),
        "daily_notional",
        "notional today 500.00 filled + 300.00 open + 200.10 this order = 1000.10 USDT "
        "> 1000.00 USDT",
    )
    assert passes(node.submit(qty="2"))  # 1000 exactly


# ------------------------------------------------------------------------------------------------
# Open orders, cancels and the kill switch


def test_halt_rejects_new_orders_cancels_open_ones_and_resume_restores():
    node = Node()
    a, b = node.submit(), node.submit("sell")
    node.publish(filled(node.order("buy", "1", "100", client_order_id=a.client_order_id)))
    c = node.submit()
    node.rt.send("risk", HaltTrading(reason="operator"))
    node.rt.run()
    assert node.states == [("halted", "operator")]
    assert [(m.client_order_id, m.reason) for m in node.cancels()] == [
        (b.client_order_id, "kill switch: operator"),
        (c.client_order_id, "kill switch: operator"),
    ]
    refused(node.submit(), "kill_switch", "trading halted: operator")
    # cancels always pass through, even halted
    cancel = CancelOrder(client_order_id=c.client_order_id, venue="sim", reason="user")
    node.rt.send("risk", cancel)
    node.rt.run()
    assert node.venue.messages[-1] == cancel
    node.publish(ReduceOnly(reason="ignored while halted"))
    assert node.risk.state == "halted"
    node.publish(ResumeTrading(reason="checked"))
    assert node.states == [("halted", "operator"), ("active", "checked")]
    assert passes(node.submit())


def test_halt_without_cancel_keeps_orders():
    node = Node()
    node.submit()
    node.publish(HaltTrading(reason="pause", cancel_open_orders=False))
    assert node.cancels() == []
    assert node.risk.state == "halted"


def test_reducing_lets_only_reducing_orders_through():
    node = Node()
    node.publish(filled(node.order("buy", "2", "100")))  # long 2 on sim
    node.publish(ReduceOnly(reason="end of day"))
    assert node.states == [("reducing", "end of day")]
    refused(
        node.submit("buy", qty="0.1"),
        "kill_switch",
        "reduce-only: position 2 BTC/USDT on sim; buy 0.1 would not reduce it",
    )
    assert passes(node.submit("sell", qty="1.5"))
    refused(
        node.submit("sell", qty="0.6"),
        "kill_switch",
        "reduce-only: position 2 BTC/USDT on sim, open sell orders 1.5; sell 0.6 would not "
        "reduce it",
    )
    assert passes(node.submit("sell", qty="0.5"))
    refused(node.submit("sell", symbol="ETH/USDT"), "kill_switch")  # flat: nothing to reduce
    node.publish(ResumeTrading(reason="ok"))
    assert node.risk.state == "active"
    assert passes(node.submit("buy", qty="0.1"))


def test_daily_loss_trigger_halts_and_cancels():
    node = Node(funds={"USDT": "10000", "BTC": "10"}, max_daily_loss="100")  # NAV 11000
    open_order = node.submit()
    node.publish(quote("89.9", "90.1"))  # NAV 10900: loss 100, at the limit
    assert node.risk.state == "active"
    node.publish(quote("89.8", "90"))  # mid 89.9: loss 101
    assert node.states == [("halted", "daily loss 101.00 USDT > 100.00 USDT")]
    assert [m.client_order_id for m in node.cancels()] == [open_order.client_order_id]
    refused(node.submit(), "kill_switch", "trading halted: daily loss 101.00 USDT > 100.00 USDT")

    # resumed while still breached: the trigger waits until the loss clears (or a new day)
    node.publish(ResumeTrading(reason="accepted the loss"))
    node.publish(quote("79.9", "80.1"))
    assert node.risk.state == "active"
    node.publish(quote("99.9", "100.1"))  # recovered
    node.publish(quote("79.9", "80.1"))  # and lost again
    assert node.risk.state == "halted"


def test_withdrawal_is_not_a_loss():
    node = Node(funds={"USDT": "10000", "BTC": "10"}, max_daily_loss="100")
    node.publish(TransferRecorded(venue="sim", currency="USDT", amount=D(-5000)))
    assert node.risk.state == "active"


def test_drawdown_from_the_days_high_triggers():
    node = Node(funds={"USDT": "10000", "BTC": "10"}, max_drawdown="50")
    node.publish(quote("109.9", "110.1"))  # +100
    node.publish(quote("104.9", "105.1"))  # 50 below the high: at the limit
    assert node.risk.state == "active"
    node.publish(quote("104.8", "105"))  # 51 below
    assert node.states == [
        ("halted", "drawdown 51.00 USDT from the day's high > 50.00 USDT"),
    ]


def test_drawdown_pct_trigger():
    node = Node(funds={"USDT": "0", "BTC": "100"}, max_drawdown_pct="10")  # NAV 10000
    node.publish(quote("89.9", "90.1"))  # −10%: at the limit
    assert node.risk.state == "active"
    node.publish(quote("89.8", "90"))
    assert node.risk.state == "halted"
    assert node.states[0][1] == (
        "drawdown 1010.00 USDT is 10.10% of the day's high NAV 10000.00 USDT > 10%"
    )


def test_disconnect_with_open_orders_halts():
    node = Node()
    node.publish(VenueDisconnected(venue="sim", reason="socket closed"))
    assert node.risk.state == "active"  # nothing open there
    order = node.submit()
    node.publish(VenueDisconnected(venue="sim", reason="socket closed"))
    assert node.states == [
        ("halted", "venue sim disconnected (socket closed) with 1 open order(s)"),
    ]
    assert [m.client_order_id for m in node.cancels()] == [order.client_order_id]


def test_repeated_venue_rejects_within_the_window_halt():
    node = Node(halt_after_venue_rejects=3, venue_reject_window_s=10)

    def venue_rejects(reason: str = "insufficient margin") -> None:
        order = node.submit()
        node.publish(
            OrderRejected(client_order_id=order.client_order_id, venue="sim", reason=reason)
        )

    venue_rejects()
    node.rt.advance(5 * NS_PER_SECOND)
    venue_rejects()
    node.rt.advance(6 * NS_PER_SECOND)  # the first is now out of the window
    venue_rejects()
    assert node.risk.state == "active"
    venue_rejects("price out of range")
    assert node.states == [
        (
            "halted",
            "3 rejects from venue sim within 10 s (limit 3); last: price out of range",
        )
    ]
    assert node.risk.view.open_orders == {}  # rejected orders are not open


def test_fills_and_cancels_keep_open_orders_current():
    node = Node()
    a = node.submit(qty="2")
    view = node.risk.view
    assert view.open_orders[a.client_order_id].leaves == D(2)
    node.publish(
        OrderPartiallyFilled(
            client_order_id=a.client_order_id,
            venue="sim",
            venue_order_id="1",
            trade_id="x1",
            symbol="BTC/USDT",
            side="buy",
            price=D(100),
            quantity=D("0.5"),
            fee=D(0),
            fee_currency="USDT",
            liquidity="maker",
            cumulative_quantity=D("0.5"),
            leaves_quantity=D("1.5"),
        )
    )
    assert view.open_orders[a.client_order_id].leaves == D("1.5")
    assert view.position("BTC/USDT", "sim") == D("0.5")
    node.publish(OrderExpired(client_order_id=a.client_order_id, venue="sim"))
    assert view.open_orders == {}


def test_restore_rebuilds_open_orders_ids_counts_and_state():
    node = Node({"duplicate_id": {}, "daily_order_count": {"max_orders": 3}})
    o1, o2, o3 = (node.order(client_order_id=c) for c in ("r1", "r2", "r3"))
    o4 = node.order(client_order_id="r4")
    history = [
        ("venue.sim", "*", InstrumentsLoaded(venue="sim", instruments=[BTC])),
        ("router", "risk", o1),
        ("risk", "venue.sim", o1),  # journaled again when risk sent it on
        ("router", "risk", o2),
        ("risk", "*", RiskRejected(client_order_id="r2", venue="sim", check="x", detail="...")),
        ("router", "risk", o3),
        ("risk", "venue.sim", o3),
        ("venue.sim", "*", filled(o3)),
        ("risk", "*", TradingStateChanged(state="reducing", reason="before restart")),
        # journaled on its way to risk, then the crash: risk never saw it, nothing holds for it
        ("router", "risk", o4),
    ]
    risk = RiskManager(node.config, node.risk.checks, "USDT", MarketState())
    risk.restore(Envelope(i, s, d, m) for i, (s, d, m) in enumerate(history, 1))
    assert set(risk.view.open_orders) == {"r1"}
    assert set(risk.view.seen_ids) == {"r1", "r2", "r3", "r4"}
    assert risk.view.reserved("sim", "USDT") == D(100) * D("1.001")  # r1 only: no ghost r4
    assert risk.view.orders_today() == 2
    assert risk.state == "reducing"
    assert risk.view.position("BTC/USDT") == D(1)


def test_fmt_money_keeps_every_digit():
    assert fmt_money(D(12500)) == "12500.00"
    assert fmt_money(D("12500.5")) == "12500.50"
    assert fmt_money(D("0.000123")) == "0.000123"
    assert fmt_money(D("1E+4")) == "10000.00"
