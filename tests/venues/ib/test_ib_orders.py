"""How the IB venue reads what TWS says of an order (a rejection with TWS's code and words, a
cancel, an IOC remainder), turns the node's orders into exact IB orders, reads wire numbers,
and refuses a config it could not trade with — each with the key or the reason."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from tradenode_ib.orders import TrackedOrder, report_status, request_for
from tradenode_ib.snapshots import OrderSnapshot, exact, on_tick

from node.config import ConfigError, load_config
from node.messages import SubmitOrder

D = Decimal


def submitted(tif: str = "gtc", quantity: str = "100") -> SubmitOrder:
    return SubmitOrder(
        client_order_id="c1",
        venue="ib",
        symbol="AAPL",
        side="buy",
        quantity=D(quantity),
        limit_price=D("229.99"),
        time_in_force=tif,  # type: ignore[arg-type]
    )


def said(status: str, filled: str = "0", code: int = 0, error: str = "") -> OrderSnapshot:
    return OrderSnapshot(
        order_ref="c1",
        order_id=5,
        perm_id=42,
        client_id=7,
        symbol="AAPL",
        side="buy",
        quantity=D(100),
        order_type="LMT",
        tif="GTC",
        status=status,
        filled=D(filled),
        error_code=code,
        error=error,
    )


OFF_TICK = "The price does not conform to the minimum price variation for this contract (0.01)."


def test_ibs_refusals_before_it_worked_the_order_are_rejections_with_its_code_and_words():
    tracked = TrackedOrder(submitted(), last=said("Cancelled", code=110, error=OFF_TICK))
    assert tracked.final() == (
        "rejected",
        f"IB 110 (price off the contract's minimum price variation): {OFF_TICK}",
    )
    margin = TrackedOrder(submitted(), last=said("Cancelled", code=201, error="Order rejected"))
    assert margin.final() == ("rejected", "IB 201 (order rejected): Order rejected")
    inactive = TrackedOrder(submitted(), last=said("Inactive"))
    assert inactive.final() == ("rejected", "IB set the order Inactive")
    assert report_status(said("Inactive"), immediate=False) == "rejected"


def test_cancels_and_ioc_remainders():
    asked = TrackedOrder(submitted(), accepted=True, cancel_reason="slice canceled")
    asked.last = said("Cancelled", code=202, error="Order Canceled - reason:")
    assert asked.final() == ("canceled", "slice canceled")
    ioc = TrackedOrder(submitted("ioc"), accepted=True, fills={"e1": D(40)})
    ioc.last = said("Cancelled", filled="40", code=202, error="Order Canceled - reason:IOC")
    assert ioc.final() == ("expired", "immediate-or-cancel remainder")
    assert report_status(ioc.last, immediate=True) == "expired"
    by_ib = TrackedOrder(submitted(), accepted=True, last=said("Cancelled"))
    assert by_ib.final() == ("canceled", "canceled at IB (Cancelled)")


def test_the_final_event_waits_for_every_execution_ib_counted():
    tracked = TrackedOrder(submitted("ioc"), accepted=True)
    tracked.last = said("Cancelled", filled="40", code=202)
    assert tracked.final() is None  # IB filled 40; the node has published none yet
    tracked.fills["e1"] = D(40)
    tracked.waiting["e2"] = object()  # type: ignore[assignment]
    assert tracked.final() is None  # an execution still waits for its commission
    tracked.waiting.clear()
    assert tracked.final() == ("expired", "immediate-or-cancel remainder")
    filled = TrackedOrder(submitted(), accepted=True, last=said("Filled", filled="100"))
    assert filled.final() is None  # the last fill itself finishes the order
    assert TrackedOrder(submitted(), done=True, last=said("Cancelled")).final() is None


def test_orders_go_to_ib_exact_and_without_exponents():
    order = SubmitOrder(
        client_order_id="p.1.1.1",
        venue="ib",
        symbol="ES",
        side="sell",
        quantity=D("1E+1"),
        order_type="stop_limit",
        limit_price=D("5.99875E+3"),
        stop_price=D("6000.00"),
        time_in_force="day",
    )
    request = request_for(order)
    assert (request.action, request.order_type, request.tif) == ("SELL", "STP LMT", "DAY")
    assert (str(request.quantity), str(request.limit_price), str(request.stop_price)) == (
        "10",
        "5998.75",
        "6000.00",
    )
    assert request.order_ref == "p.1.1.1"
    market = request_for(submitted().__class__(**{**_fields(submitted()), "order_type": "market"}))
    assert (market.order_type, market.limit_price, market.stop_price) == ("MKT", None, None)


def test_wire_numbers_become_the_decimals_they_were_written_as():
    assert exact(230.01) == D("230.01") and str(exact(100.0)) == "100"
    assert str(exact("1000000.00")) == "1000000"
    assert on_tick(1.0850000000000002, D("0.00005")) == D("1.08500")
    assert str(on_tick(230.0, D("0.01"))) == "230.00"
    with pytest.raises(ValueError):
        exact(float("nan"))


def _fields(order: SubmitOrder) -> dict:
    return {name: getattr(order, name) for name in order.__struct_fields__}


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ("port = 0\n[venues.ib.contracts.AAPL]", "port must be in [1, 65535], got 0"),
        ('[venues.ib.contracts.EURUSD]\nsec_type = "CASH"', "must be BASE/QUOTE"),
        ('[venues.ib.contracts.ES]\nsec_type = "FUT"\nlast_trade_date = "202703"', "exchange"),
        ('[venues.ib.contracts.ES]\nsec_type = "FUT"\nexchange = "CME"', "last_trade_date"),
        ('[venues.ib.contracts.AAPL]\nlot_size = "0"', "lot_size must be > 0"),
        ('market_data_type = "realtime"', "market_data_type"),
        ("", "contracts must name at least one contract"),
    ],
)
def test_a_config_ib_could_not_trade_with_is_refused_naming_the_key(
    tmp_path: Path, plugins, section: str, problem: str
):
    path = tmp_path / "node.toml"
    path.write_text(f'[node]\nname = "x"\n[venues.ib]\nplugin = "ib"\n{section}\n')
    with pytest.raises(ConfigError) as refused:
        load_config(path, plugins)
    assert any(problem in line and "venues.ib" in line for line in refused.value.problems), (
        refused.value.problems
    )
