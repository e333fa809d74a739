"""``tradenode submit/cancel/status/watch`` and the Python client against a running live node,
through its control API (found in the journal's lock file), and what they say when no node
runs."""

from __future__ import annotations

import re
import threading
import time
from decimal import Decimal

import pytest
from control_node import TOKEN_ENV, WAIT_S, LiveNode

from node.cli import main
from node.client import NodeClient, NodeClientError
from node.messages import (
    CompleteParentOrder,
    HaltTrading,
    ParentOrderCompleted,
    RouteSlice,
    SliceRouted,
    SubmitParentOrder,
)

D = Decimal


def submit(live: LiveNode, *extra: str) -> int:
    return main(
        [
            "submit",
            str(live.config_path),
            "--symbol",
            "BTC/USDT",
            "--side",
            "buy",
            "--quantity",
            "0.01",
            *extra,
        ]
    )


def completed(live: LiveNode, parent_id: str) -> ParentOrderCompleted:
    return live.wait_for(  # type: ignore[return-value]
        lambda m: isinstance(m, ParentOrderCompleted) and m.parent_id == parent_id
    )


def test_submit_twice_and_conflicting_and_rejected_orders_from_the_cli(start_node, capsys):
    live = start_node()
    assert submit(live, "--parent-id", "c1") == 0
    assert capsys.readouterr().out.strip() in ("c1: working", "c1: completed: filled")
    assert completed(live, "c1").status == "filled"
    assert submit(live, "--parent-id", "c1") == 0
    assert capsys.readouterr().out.strip() == "c1: already submitted: completed: filled"

    assert submit(live, "--parent-id", "c1", "--limit", "1") == 1
    assert "HTTP 409: parent id 'c1' is already used by another order" in capsys.readouterr().err
    assert submit(live, "--parent-id", "c2", "--algo", "route", "--param", "duration_s=60") == 1
    err = capsys.readouterr().err
    assert (
        "HTTP 422: parent order 'c2' rejected: params: algorithm 'route' takes no parameters" in err
    )
    assert submit(live, "--parent-id", "c3", "--quantity", "-1") == 2
    assert "--quantity -1: must be a finite number > 0" in capsys.readouterr().err

    submits = live.journaled(SubmitParentOrder)
    assert [e.message.parent_id for e in submits] == ["c1", "c2"]


def test_status_shows_venues_positions_nav_and_open_orders(start_node, capsys):
    live = start_node()
    assert main(["halt", str(live.config_path), "--reason", "before the open"]) == 0
    live.until_trading("halted")
    assert submit(live, "--parent-id", "held") == 0
    capsys.readouterr()
    assert main(["status", str(live.config_path)]) == 0
    out = capsys.readouterr().out
    assert "node controlled" in out
    assert "halted" in out and "before the open" in out
    assert "binance" in out and "connected" in out and "100,000.00 USDT" in out
    assert "NAV" in out and "USDT" in out
    assert "held" in out and "buy 0.01 BTC/USDT" in out
    assert "open parent orders" in out


def test_cancel_from_the_cli(start_node, capsys):
    live = start_node()
    with live.http() as http:
        http.post("/api/halt", json={"reason": "hold"})
    live.until_trading("halted")
    assert submit(live, "--parent-id", "w1") == 0
    assert "w1: waiting: trading is halted (hold)" in capsys.readouterr().out
    assert main(["cancel", str(live.config_path), "w1", "--reason", "not today"]) == 0
    assert capsys.readouterr().out.strip() == "w1: cancel sent"
    assert completed(live, "w1").status == "canceled"
    assert main(["cancel", str(live.config_path), "w1"]) == 1
    assert "HTTP 409: parent order 'w1' has already completed (canceled)" in capsys.readouterr().err


def test_watch_shows_progress_and_fills_as_they_happen(start_node, capsys):
    live = start_node()
    outcome: list[int] = []
    watcher = threading.Thread(
        target=lambda: outcome.append(main(["watch", str(live.config_path), "--seconds", "8"]))
    )
    watcher.start()
    hub = live.node.runtime.hosted["control"].component.hub
    for _ in range(int(WAIT_S * 10)):  # until watch listens (bounded)
        if hub.listening:
            break
        time.sleep(0.1)
    assert hub.listening
    assert submit(live, "--parent-id", "seen") == 0
    completed(live, "seen")
    watcher.join(WAIT_S)
    assert outcome == [0]
    out = capsys.readouterr().out
    assert "fill binance buy" in out and "BTC/USDT" in out and "(seen)" in out
    assert "seen: filled 0.01/0.01 BTC/USDT avg" in out


def test_operator_commands_go_through_the_api_with_the_cli_as_source(start_node, capsys):
    live = start_node()
    assert main(["halt", str(live.config_path), "--reason", "lunch"]) == 0
    assert "HaltTrading sent to risk" in capsys.readouterr().out
    live.until_trading("halted")
    (halt,) = live.journaled(HaltTrading)
    assert halt.sender == "control"
    assert re.fullmatch(r"api 127\.0\.0\.1:\d+ \(cli pid \d+\)", halt.message.source)


def test_commands_say_when_no_node_runs(tmp_path, capsys):
    from control_node import CONFIG

    config = tmp_path / "node.toml"
    config.write_text(CONFIG.format(control=""))
    for argv in (
        ["submit", str(config), "--symbol", "BTC/USDT", "--side", "buy", "--quantity", "1"],
        ["cancel", str(config), "p"],
        ["status", str(config)],
        ["watch", str(config), "--seconds", "1"],
    ):
        assert main(argv) == 1
        assert f"no node is running on {config}" in capsys.readouterr().err
    with pytest.raises(NodeClientError, match="no node is running on"):
        NodeClient.for_config(config)


def test_the_client_finds_the_node_and_its_token_from_the_config(start_node, monkeypatch):
    live = start_node(token=True)
    with NodeClient.for_config(live.config_path) as client:
        assert client.state().node == "controlled"
        order = SubmitParentOrder(
            parent_id="odd id#1?&", symbol="BTC/USDT", side="buy", quantity=D("0.01")
        )
        with pytest.raises(NodeClientError, match="must be 1 to 128 characters without spaces"):
            client.submit(order)
        order = SubmitParentOrder(
            parent_id="odd#1?&=%", symbol="BTC/USDT", side="buy", quantity=D("0.01")
        )
        assert client.submit(order).parent_id == "odd#1?&=%"
        completed(live, "odd#1?&=%")
        assert client.order("odd#1?&=%").parent.status == "filled"
        (fill,) = client.state().recent_fills
        assert fill.parent_id == "odd#1?&=%" and fill.quantity == D("0.01")
        with pytest.raises(NodeClientError, match="HTTP 409: parent order 'odd#1\\?&=%' has"):
            client.cancel("odd#1?&=%")
    monkeypatch.delenv(TOKEN_ENV)
    with (
        NodeClient(live.url) as anonymous,
        pytest.raises(NodeClientError, match="HTTP 401: a valid bearer token is required") as err,
    ):
        anonymous.state()
    assert err.value.status == 401


def test_a_submit_left_unanswered_names_the_id_to_try_again_with(tmp_path, capsys):
    """The node's API takes the connection and drops it without an answer: the order may or may
    not have reached the node. The id was made by the command, so it says which id a second try
    must carry (the node works an id once); without it a retry would be a second order."""
    import socket

    from control_node import CONFIG

    from node.config import load_config
    from node.journal import JournalLock
    from node.plugins import load_plugins

    config = tmp_path / "node.toml"
    config.write_text(CONFIG.format(control=""))
    journal = load_config(config, load_plugins()).journal_path
    journal.parent.mkdir(parents=True, exist_ok=True)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def drop_connections() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.close()

    threading.Thread(target=drop_connections, daemon=True).start()
    lock = JournalLock(journal)
    lock.acquire()
    try:
        lock.update(control_url=f"http://127.0.0.1:{port}")
        argv = ["submit", str(config), "--symbol", "BTC/USDT", "--side", "buy", "--quantity", "1"]
        assert main(argv) == 1
        err = capsys.readouterr().err
        [parent_id] = re.findall(r"submit with --parent-id (cli-\S+) ", err)
        assert f"order {parent_id} may have reached it" in err
        assert len(err.strip().splitlines()) == 1
        # with the id given, the command has nothing to add: the id is the user's own
        assert main([*argv, "--parent-id", "mine"]) == 1
        assert "--parent-id" not in capsys.readouterr().err
    finally:
        lock.release()
        listener.close()


def test_complete_a_working_twap_now_from_the_cli(start_node, capsys):
    """A TWAP over ten minutes, completed on demand after its first slice: what rests is
    canceled, what is left is taken within the guard of its arrival mid, and it ends filled with
    the operator's reason; nothing of its schedule is routed after the request. Completing a
    parent that is not working is refused, naming why."""
    live = start_node()
    assert (
        submit(
            live,
            "--parent-id",
            "slow",
            "--algo",
            "twap",
            "--param",
            "duration_s=600",
            "--param",
            "slices=10",
        )
        == 0
    )
    capsys.readouterr()
    live.wait_for(lambda m: isinstance(m, SliceRouted) and m.parent_id == "slow")
    argv = ["complete", str(live.config_path), "slow", "--max-slippage-bps", "50"]
    assert main([*argv, "--reason", "close before the news"]) == 0
    assert capsys.readouterr().out.strip() == "slow: completion sent"
    done = completed(live, "slow")
    assert done.status == "filled", done.reason
    assert done.reason == "completed on demand (close before the news)"
    assert done.report.filled_quantity == D("0.01")

    # journaled as the API sent it, and as the manager handed it to the executor
    request, forwarded = live.journaled(CompleteParentOrder)
    assert (request.sender, request.destination) == ("control", "execution")
    assert (forwarded.sender, forwarded.destination) == ("execution", "exec.slow")
    assert request.message.max_slippage_bps == D(50)
    assert request.message.source.startswith("api 127.0.0.1:")
    # after the request: cancels of what rested, and takes guarded on the arrival mid only
    after = [
        e.message
        for e in live.journaled(RouteSlice)
        if e.seq > request.seq and e.message.parent_id == "slow"
    ]
    assert after and all(s.urgency == "take" for s in after)
    limit = done.report.arrival_mid * (1 + D(50) / 10_000)
    assert all(s.limit_price is not None and s.limit_price <= limit for s in after)

    assert main(argv) == 1
    assert "HTTP 409: parent order 'slow' is completed: only a working order completes" in (
        capsys.readouterr().err
    )
    assert main(["complete", str(live.config_path), "nope", "--max-slippage-bps", "5"]) == 1
    assert "HTTP 404: no parent order 'nope'" in capsys.readouterr().err
