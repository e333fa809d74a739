"""Where the control API may listen and with what: ``check`` refuses a non-loopback address
without a token (and an empty token), a port already taken stops the start saying so, and an
order's id stays taken across a node's restart and after its details are trimmed."""

from __future__ import annotations

import socket
from decimal import Decimal

import pytest
from control_node import CONFIG, TOKEN_ENV

from node.cli import main
from node.config import load_config
from node.control.state import ControlState
from node.messages import (
    ExecutionReport,
    ParentOrderCompleted,
    SubmitParentOrder,
)
from node.node import Node, NodeSetupError

D = Decimal


def write(tmp_path, control: str):
    path = tmp_path / "node.toml"
    path.write_text(CONFIG.format(control=f"[node.control]\n{control}"))
    return path


def test_check_refuses_a_public_address_without_a_token(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, 'host = "0.0.0.0"')
    assert main(["check", str(path)]) == 2
    assert (
        f"{path}: node.control.host: 0.0.0.0 is not loopback; set node.control.token_env to the "
        "variable holding the API's bearer token"
    ) in capsys.readouterr().err

    path = write(tmp_path, f'host = "0.0.0.0"\ntoken_env = "{TOKEN_ENV}"')
    monkeypatch.setenv(TOKEN_ENV, "   ")
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"node.control.token_env: environment variable {TOKEN_ENV} is empty" in err
    assert "   " not in err.split("is empty")[1]

    monkeypatch.setenv(TOKEN_ENV, "a-real-token")
    assert main(["check", str(path)]) == 0
    assert "a-real-token" not in capsys.readouterr().out


def test_a_port_already_taken_stops_the_start_saying_so(tmp_path, plugins):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        path = write(tmp_path, f"port = {port}")
        node = Node(load_config(path, plugins), plugins)
        with pytest.raises(NodeSetupError, match=f"control API cannot listen on 127.0.0.1:{port}"):
            node.start()
    finally:
        taken.close()


def test_an_order_id_stays_taken_across_a_restart(start_node):
    order = {"parent_id": "once", "symbol": "BTC/USDT", "side": "buy", "quantity": "0.01"}
    first = start_node()
    with first.http() as http:
        assert http.post("/api/orders", json=order).status_code == 202
    first.wait_for(lambda m: isinstance(m, ParentOrderCompleted))
    first.stop()

    again = start_node()  # the same config and journal
    with again.http() as http:
        retried = http.post("/api/orders", json=order)
        other = http.post("/api/orders", json={**order, "side": "sell"})
    assert retried.status_code == 200
    assert retried.json()["detail"] == "already submitted: completed: filled"
    assert other.status_code == 409
    assert len(again.journaled(SubmitParentOrder)) == 1


def test_an_order_id_stays_taken_after_its_details_are_trimmed(monkeypatch):
    import node.control.state as state_module

    monkeypatch.setattr(state_module, "KEEP_FINISHED", 1)
    view = ControlState("n", ["v"])
    for parent_id in ("a", "b"):
        order = SubmitParentOrder(parent_id=parent_id, symbol="X/Y", side="buy", quantity=D(1))
        assert view.note_submitted(order).same is None
        view.apply(
            ParentOrderCompleted(
                parent_id=parent_id,
                status="filled",
                report=ExecutionReport(
                    parent_id=parent_id,
                    symbol="X/Y",
                    side="buy",
                    algo="route",
                    requested_quantity=D(1),
                    filled_quantity=D(1),
                    average_price=D(1),
                    arrival_mid=D(1),
                    shortfall_bps=D(0),
                    fees=D(0),
                    fee_currency="Y",
                    child_orders=1,
                    venues=[],
                    started_ts=1,
                    finished_ts=2,
                ),
                ts=2,
            )
        )
    assert view.view_of("a") is None and view.view_of("b") is not None  # "a" was trimmed
    same = SubmitParentOrder(parent_id="a", symbol="X/Y", side="buy", quantity=D("1.0"), ts=9)
    assert view.note_submitted(same) == (True, None)
    other = SubmitParentOrder(parent_id="a", symbol="X/Y", side="sell", quantity=D(1))
    assert view.note_submitted(other) == (False, None)
