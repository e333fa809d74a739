"""The smart order router inside a whole node: router, risk, portfolio and four simulated venues
replaying the real order-graph BTC/USD books, on the replay runtime.

The node is assembled exactly as ``tradenode run`` does it (``load_config`` + ``Node``) from a
config file written to ``tmp_path``; parent orders are sent to ``router`` and everything is read
back from published events (a ``Recorder``) and from the node's journal (where every child order
sent to risk and to a venue is written). Expected books are read from the recorded JSON file.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from recorded_books import recorded_asks

from node.config import load_config
from node.messages import (
    FILL_TYPES,
    DataSourceFailed,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderRejected,
    ParentOrderAccepted,
    ParentOrderCompleted,
    ParentOrderRejected,
    RiskRejected,
    SliceRouted,
    SubmitOrder,
    SubmitParentOrder,
    VenueDisconnected,
)
from node.node import Node
from node.plugins import load_plugins
from node.runtime.recorder import Recorder

D = Decimal
NS = 1_000_000_000
#: venue → (taker fee bps, tick): the demo's venues, BTC/USD only
VENUES = {
    "bitfinex": ("20", "0.1"),
    "bittrex": ("25", "0.001"),
    "bitstamp": ("25", "0.01"),
    "coinbase": ("30", "0.01"),
}


@pytest.fixture(scope="module")
def plugins():
    return load_plugins()


def write_config(
    path: Path,
    *,
    mode: str = "split",
    max_reroutes: int = 3,
    max_book_age_ms: float = 5000,
    venues: dict[str, dict] | None = None,
) -> Path:
    lines = [
        "[node]",
        'name = "router-test"',
        'runtime = "replay"',
        "[router]",
        f'mode = "{mode}"',
        f"max_book_age_ms = {max_book_age_ms}",
        f"max_reroutes = {max_reroutes}",
        "[risk.checks.duplicate_id]",
        "[risk.checks.instrument]",
        "[risk.checks.increments]",
        "[risk.checks.min_notional]",
    ]
    for name, (fee, tick) in VENUES.items():
        extra = (venues or {}).get(name, {})
        lines += [
            f"[venues.{name}]",
            'plugin = "sim"',
            'source = "order-graph"',
            'files = ["sim:order-graph/run1-1.json"]',
            f'taker_fee_bps = "{fee}"',
            f"execution_delay_ms = {extra.get('delay', 20)}",
            f'min_commission = "{extra.get("min_commission", "0")}"',
            f'balances = {{ USD = "{extra.get("usd", "250000")}", BTC = "5" }}',
            f'symbols."BTC/USD" = {{ tick_size = "{tick}", lot_size = "0.00000001", '
            'min_notional = "10" }',
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


class Run:
    """One node on the replay runtime, started and caught up with its recorded books."""

    def __init__(self, directory: Path, plugins, **config) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        path = write_config(directory / "node.toml", **config)
        self.recorder = Recorder()
        self.node = Node(
            load_config(path, plugins),
            plugins,
            journal_path=directory / "journal.sqlite",
            runtime_kind="replay",
            extra=[self.recorder],
        )
        self.node.start()
        self.rt = self.node.runtime
        self.rt.run(until_ns=self.node.start_ns)  # every book is recorded at time 0

    def route(self, parent: SubmitParentOrder, within_ns: int = NS) -> ParentOrderCompleted | None:
        self.node.submit(parent)
        self.rt.run(until_ns=self.rt.clock + within_ns)
        done = [
            m
            for m in self.recorder.of_type(ParentOrderCompleted)
            if m.parent_id == parent.parent_id
        ]
        return done[0] if done else None

    def routed(self, parent_id: str) -> list[SliceRouted]:
        return [m for m in self.recorder.of_type(SliceRouted) if m.parent_id == parent_id]

    def fills(self, parent_id: str) -> list:
        return [m for m in self.recorder.of_type(*FILL_TYPES) if m.parent_id == parent_id]

    def events(self, *types, cid: str) -> list:
        return [m for m in self.recorder.of_type(*types) if m.client_order_id == cid]

    def child_orders(self) -> dict[str, SubmitOrder]:
        """Every child order as journaled (once by the router to risk, once by risk to a venue)."""
        out: dict[str, SubmitOrder] = {}
        for m in self.node.journal.messages():
            if isinstance(m, SubmitOrder):
                assert out.get(m.client_order_id, m) == m  # risk forwards it unchanged
                out[m.client_order_id] = m
        return out

    def close(self) -> None:
        self.node.stop()


@pytest.fixture
def run(tmp_path, plugins):
    started: list[Run] = []

    def make(name: str = "node", **config) -> Run:
        r = Run(tmp_path / name, plugins, **config)
        started.append(r)
        return r

    yield make
    for r in started:
        r.close()


def buy(parent_id: str, quantity: str, **kw) -> SubmitParentOrder:
    return SubmitParentOrder(
        parent_id=parent_id, symbol="BTC/USD", side="buy", quantity=D(quantity), **kw
    )


def cost(fills) -> Decimal:
    """What the fills cost, fees included."""
    return sum((f.price * f.quantity + f.fee for f in fills), D(0))


def worst_price_for(venue: str, quantity: Decimal) -> Decimal:
    left = quantity
    for price, size in recorded_asks(venue):
        left -= size
        if left <= 0:
            return price
    raise AssertionError(f"{venue} cannot fill {quantity}")


# --------------------------------------------------------------------------------------------


def test_split_legs_are_ioc_limits_at_the_worst_allocated_price_and_the_report_adds_up(run):
    r = run()
    done = r.route(buy("p1", "25"))

    (accepted,) = [m for m in r.recorder.of_type(ParentOrderAccepted) if m.parent_id == "p1"]
    assert accepted.arrival_mid is not None
    (plan,) = r.routed("p1")
    assert plan.attempt == 1 and plan.mode == "split" and plan.excluded == {}
    assert len(plan.legs) >= 2, "25 BTC is deeper than any one venue's best levels"
    assert sum(leg.quantity for leg in plan.legs) == D(25)
    assert plan.unroutable_quantity == 0

    children = r.child_orders()
    for leg in plan.legs:
        child = children[leg.client_order_id]
        assert (child.venue, child.symbol, child.side) == (leg.venue, "BTC/USD", "buy")
        assert (child.order_type, child.time_in_force) == ("limit", "ioc")
        assert (child.quantity, child.limit_price) == (leg.quantity, leg.limit_price)
        assert child.parent_id == "p1"
        # the limit is the deepest recorded level the leg's share reaches on that venue
        assert leg.limit_price == worst_price_for(leg.venue, leg.quantity)
        # the venue got it: accepted, filled in full within the limit, touching the limit level
        assert len(r.events(OrderAccepted, cid=leg.client_order_id)) == 1
        fills = r.events(*FILL_TYPES, cid=leg.client_order_id)
        assert sum(f.quantity for f in fills) == leg.quantity
        assert all(f.venue == leg.venue and f.price <= leg.limit_price for f in fills)
        assert max(f.price for f in fills) == leg.limit_price

    assert done is not None and done.status == "filled" and done.reason == ""
    report = done.report
    fills = r.fills("p1")
    quantity = sum(f.quantity for f in fills)
    notional = sum(f.price * f.quantity for f in fills)
    assert report.requested_quantity == report.filled_quantity == quantity == D(25)
    assert report.average_price == notional / quantity
    assert report.fees == sum(f.fee for f in fills)
    assert report.fee_currency == "USD"
    assert report.child_orders == len(plan.legs)
    assert report.arrival_mid == accepted.arrival_mid
    assert report.shortfall_bps == (
        (report.average_price - report.arrival_mid) / report.arrival_mid * 10_000
    ).quantize(D("0.01"))
    by_venue = {v.venue: v for v in report.venues}
    assert set(by_venue) == {leg.venue for leg in plan.legs}
    for venue, v in by_venue.items():
        mine = [f for f in fills if f.venue == venue]
        assert v.quantity == sum(f.quantity for f in mine)
        assert v.average_price == sum(f.price * f.quantity for f in mine) / v.quantity
        assert v.fees == sum(f.fee for f in mine)
    assert report.best_venue == plan.best_venue
    assert report.expected_average_price == plan.expected_average_price


def test_best_venue_mode_sends_everything_to_one_venue_and_never_costs_less_than_split(run):
    split = run("split")
    best = run("best", mode="best-venue")
    split_done = split.route(buy("p", "25"))
    best_done = best.route(buy("p", "25"))

    (plan,) = best.routed("p")
    assert plan.mode == "best-venue"
    (leg,) = plan.legs
    assert leg.venue == plan.best_venue and leg.quantity == D(25)
    assert {f.venue for f in best.fills("p")} == {leg.venue}
    assert split_done.status == best_done.status == "filled"
    assert cost(best.fills("p")) >= cost(split.fills("p"))
    assert split.routed("p")[0].best_venue == leg.venue


def test_split_uses_a_cheaper_venue_up_to_its_balance(run):
    r = run(venues={"bittrex": {"usd": "15000"}})
    r.route(buy("p", "25"))
    plan = r.routed("p")[0]
    assert "bittrex" in {leg.venue for leg in plan.legs}
    assert plan.expected_average_price < plan.best_venue_average_price
    # The venue holds back a buy at its limit price: bittrex's children (price bands, each
    # holding only its own band) fit its balance together, and what it could not take went to
    # the other venues in the same plan, not to a second attempt.
    legs = [leg for leg in plan.legs if leg.venue == "bittrex"]
    assert sum(leg.quantity * leg.limit_price * D("1.0025") for leg in legs) <= D("15000")
    assert sum(leg.quantity for leg in plan.legs) == D("25")
    assert len(r.routed("p")) == 1
    assert r.recorder.of_type(OrderRejected) == []


def test_a_recorded_snapshot_with_no_stream_behind_it_never_goes_stale(run):
    r = run(max_book_age_ms=1000)
    r.rt.advance(30 * NS)  # order-graph books never update: they are the venue's whole market
    done = r.route(buy("p", "5"))
    (plan,) = r.routed("p")
    assert not any("stale" in why for why in plan.excluded.values())
    assert done.status == "filled"


def test_a_disconnected_venue_is_left_out_and_named(run):
    r = run()
    r.rt.publish(DataSourceFailed(address="venue.bittrex", error="socket closed", ts=r.rt.clock))
    done = r.route(buy("p", "25"))
    (disconnected,) = r.recorder.of_type(VenueDisconnected)
    assert disconnected.reason == "data source failed: socket closed"
    (plan,) = r.routed("p")
    assert plan.excluded == {"bittrex": "data source failed: socket closed"}
    assert "bittrex" not in {leg.venue for leg in plan.legs}
    assert sum(leg.quantity for leg in plan.legs) == D(25)
    assert done.status == "filled"
    assert "bittrex" not in {f.venue for f in r.fills("p")}


def test_a_venue_not_in_the_order_s_list_is_left_out(run):
    r = run()
    done = r.route(buy("p", "2", venues=["coinbase"]))
    (plan,) = r.routed("p")
    assert {leg.venue for leg in plan.legs} == {"coinbase"}
    assert set(plan.excluded) == {"bitfinex", "bittrex", "bitstamp"}
    assert done.status == "filled"


def test_the_parent_limit_price_is_never_crossed(run):
    r = run()
    limit = D("5076.00")
    available = sum(s for v in VENUES for p, s in recorded_asks(v) if p <= limit)
    assert 0 < available < 30
    done = r.route(buy("p", "30", limit_price=limit))

    plans = r.routed("p")
    assert plans
    for plan in plans:
        assert all(leg.limit_price <= limit for leg in plan.legs)
    for child in r.child_orders().values():
        assert child.limit_price <= limit
    fills = r.fills("p")
    assert fills and all(f.price <= limit for f in fills)
    assert done.status == "partially_filled"
    filled = done.report.filled_quantity
    assert filled == sum(f.quantity for f in fills)
    assert available - D("0.00000010") <= filled <= available  # all there is, to a few lots
    assert len(plans) <= 1 + 3


@pytest.fixture(scope="module")
def tight_bittrex(tmp_path_factory, plugins) -> dict:
    """Venue settings that make bittrex refuse the router's child for want of dollars.

    With plenty of dollars everywhere a 25 BTC buy puts a share on bittrex. Give bittrex enough
    for that share at the plan's average price but not at its limit: the router trims the leg to
    what the limit allows, and bittrex's $1 minimum commission (which the router cannot know)
    makes even the trimmed leg unpayable.
    """
    ample = Run(tmp_path_factory.mktemp("ample"), plugins)
    try:
        ample.route(buy("probe", "25"))
        (leg,) = [leg for leg in ample.routed("probe")[0].legs if leg.venue == "bittrex"]
    finally:
        ample.close()
    # Enough for the leg at its average price but not at its limit: the router bands the leg,
    # and the $1 commission per child it cannot know of makes the last band unpayable.
    mid_price = (leg.expected_average_price + leg.limit_price) / 2
    usd = (leg.quantity * mid_price * D("1.0025")).quantize(D("0.01"))
    return {"bittrex": {"usd": str(usd), "min_commission": "1"}}


def test_a_child_rejected_by_its_venue_is_rerouted_to_the_others(run, tight_bittrex):
    r = run(venues=tight_bittrex)
    done = r.route(buy("p", "25"))

    first, *later = r.routed("p")
    assert later, "the rejected share must be routed again"
    to_bittrex = [x for x in first.legs if x.venue == "bittrex"]
    rejected, *_ = [m for x in to_bittrex for m in r.events(OrderRejected, cid=x.client_order_id)]
    assert "insufficient USD balance: need" in rejected.reason
    first_filled = sum(f.quantity for f in r.fills("p") if f.client_order_id.startswith("p.1.1."))
    assert first_filled < 25
    second = later[0]
    assert second.attempt == 2
    assert second.quantity == D(25) - first_filled
    for plan in later:  # bittrex stays out, named with its own words
        assert plan.excluded["bittrex"] == f"rejected: {rejected.reason}"
        assert "bittrex" not in {x.venue for x in plan.legs}
        assert sum(x.quantity for x in plan.legs) + plan.unroutable_quantity == plan.quantity
    assert len(later) <= 3  # max_reroutes
    assert done.status == "filled" and done.report.filled_quantity == D(25)
    first_ids = {x.client_order_id for x in first.legs}
    assert all(f.client_order_id in first_ids for f in r.fills("p") if f.venue == "bittrex")
    assert done.report.child_orders == sum(len(plan.legs) for plan in [first, *later])


def test_a_reroute_plans_on_books_that_show_our_own_fills(run, tight_bittrex):
    r = run(venues=tight_bittrex)
    done = r.route(buy("p", "25"))
    assert done.status == "filled"
    assert r.recorder.of_type(OrderExpired) == []
    assert len(r.routed("p")) == 2


def test_rerouting_is_bounded_by_max_reroutes(run, tight_bittrex):
    r = run(max_reroutes=0, venues=tight_bittrex)
    done = r.route(buy("p", "25"))
    assert len(r.routed("p")) == 1
    assert r.recorder.of_type(OrderRejected)
    assert done.status == "partially_filled"
    left = D(25) - done.report.filled_quantity
    assert left > 0
    assert done.reason == f"{left} left after 1 attempt(s)"


def test_an_unknown_symbol_is_rejected_naming_it(run):
    r = run()
    r.node.submit(
        SubmitParentOrder(parent_id="x", symbol="DOGE/USD", side="buy", quantity=D("100"))
    )
    r.rt.run(until_ns=r.rt.clock + NS)
    (rejected,) = r.recorder.of_type(ParentOrderRejected)
    assert rejected.parent_id == "x"
    assert "unknown symbol DOGE/USD" in rejected.reason and "BTC/USD" in rejected.reason
    assert r.routed("x") == [] and r.child_orders() == {}


def test_children_pass_risk_and_nothing_is_refused_on_a_clean_route(run):
    r = run()
    done = r.route(buy("p", "10"))
    assert done.status == "filled"
    assert r.recorder.of_type(RiskRejected) == []
    assert r.recorder.of_type(OrderRejected) == []
    assert r.recorder.of_type(OrderExpired) == []  # every IOC filled in full on a static book


# --------------------------------------------------------------------------------------------
# Restart: the router rebuilds its parent orders from the journal


def test_a_finished_parent_id_is_refused_after_a_restart(tmp_path, plugins):
    first = Run(tmp_path / "node", plugins)
    parent = SubmitParentOrder(parent_id="p-once", symbol="BTC/USD", side="buy", quantity=D("1"))
    done = first.route(parent)
    assert done is not None and done.status == "filled"
    sent = set(first.child_orders())
    first.close()

    again = Run(tmp_path / "node", plugins)  # same directory: same journal
    again.route(parent)
    (rejected,) = [m for m in again.recorder.of_type(ParentOrderRejected)]
    assert rejected.reason == "duplicate parent id p-once (already finished)"
    assert set(again.child_orders()) == sent  # nothing sent twice
    again.close()


def test_a_restart_with_children_in_flight_asks_the_venue_and_finishes_the_order(tmp_path, plugins):
    # Venues that take 10 s to answer: the node stops while its child orders are on their way.
    slow = {name: {"delay": 10_000} for name in VENUES}
    first = Run(tmp_path / "node", plugins, venues=slow)
    parent = SubmitParentOrder(parent_id="p-cut", symbol="BTC/USD", side="buy", quantity=D("8"))
    assert first.route(parent, within_ns=NS) is None  # still working
    sent = set(first.child_orders())
    assert sent
    first.close()

    # On the next start each venue is asked about them: it never got them (they were lost with
    # the process that carried them), so they are closed as such and the order is routed again,
    # under new ids.
    again = Run(tmp_path / "node", plugins, venues=slow)
    again.rt.run(until_ns=again.rt.clock + 30 * NS)
    closed = [m for m in again.recorder.of_type(OrderCanceled) if m.client_order_id in sent]
    assert {m.client_order_id for m in closed} == sent
    assert all("never reached the venue" in m.reason for m in closed)
    (done,) = [m for m in again.recorder.of_type(ParentOrderCompleted) if m.parent_id == "p-cut"]
    assert done.status == "filled" and done.report.filled_quantity == D(8)
    children = again.child_orders()
    assert sent < set(children)  # new children, none of the old ids sent again
    venue_rows = [
        e.message.client_order_id
        for e in again.node.journal.entries()
        if isinstance(e.message, SubmitOrder) and e.destination.startswith("venue.")
    ]
    assert len(venue_rows) == len(set(venue_rows))  # no client order id reached a venue twice
    again.close()


def test_an_order_for_an_algorithm_the_node_does_not_have_is_refused(run):
    r = run()
    order = SubmitParentOrder(
        parent_id="p-x", symbol="BTC/USD", side="buy", quantity=D("1"), algo="no-such-algo"
    )
    assert r.route(order) is None
    (rejected,) = r.recorder.of_type(ParentOrderRejected)
    assert "unknown algorithm 'no-such-algo'" in rejected.reason
    assert r.child_orders() == {}
