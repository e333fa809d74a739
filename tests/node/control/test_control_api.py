"""The control API through a real HTTP client against a live node on loopback: submit (and the
same again, and another under the same id), cancel, the kill switch, the event stream, and
requests that must be refused — malformed, unknown fields, unauthorised, cross-origin — with a
clear 4xx naming the reason and nothing changed in the journal."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from control_node import TOKEN

from node.client import NodeClient, NodeClientError
from node.journal import Journal
from node.messages import (
    FILL_TYPES,
    CancelParentOrder,
    HaltTrading,
    ParentOrderAccepted,
    ParentOrderCompleted,
    ParentOrderProgressed,
    ParentOrderRejected,
    ReduceOnly,
    ResumeTrading,
    SubmitParentOrder,
    TradingStateChanged,
)

D = Decimal
BUY = {"parent_id": "p1", "symbol": "BTC/USDT", "side": "buy", "quantity": "0.01"}
STATE_CHANGING = (SubmitParentOrder, CancelParentOrder, HaltTrading, ReduceOnly, ResumeTrading)


def test_state_shows_the_venue_its_balances_and_the_trading_state(start_node):
    live = start_node()
    with live.http() as http:
        answer = http.get("/api/state")
    assert answer.status_code == 200
    state = answer.json()
    assert state["node"] == "controlled"
    assert state["trading_state"] == "active" and state["ready"] is True
    (venue,) = state["venues"]
    assert venue["name"] == "binance" and venue["connected"] is True
    assert venue["balances"]["USDT"] == {"total": "100000", "free": "100000"}
    assert state["parents"] == [] and state["recent_fills"] == []
    # valued for the answer though no one watches: 100000 USDT and 1 BTC at the recorded mid
    nav = state["nav"]
    assert nav["currency"] == "USDT" and D(nav["nav"]) > D("100000")


def test_a_submitted_order_is_worked_once_however_often_it_is_sent(start_node):
    live = start_node()
    with live.http() as http:
        first = http.post("/api/orders", json=BUY)
        again = http.post("/api/orders", json=BUY)
        # the same order written differently (2 decimals, the tag) is still the same order
        same = http.post(
            "/api/orders", json={**BUY, "quantity": "0.010", "type": "SubmitParentOrder"}
        )
    assert first.status_code == 202, first.text
    assert first.json()["parent_id"] == "p1" and first.json()["state"] in ("working", "completed")
    assert again.status_code == 200 and again.json()["detail"].startswith("already submitted")
    assert same.status_code == 200
    done = live.wait_for(lambda m: isinstance(m, ParentOrderCompleted) and m.parent_id == "p1")
    assert done.status == "filled" and done.report.filled_quantity == D("0.01")

    submits = live.journaled(SubmitParentOrder)
    assert len(submits) == 1
    (entry,) = submits
    assert (entry.sender, entry.destination) == ("control", "execution")
    assert entry.message.source.startswith("api 127.0.0.1:")
    assert len(live.recorder.of_type(ParentOrderAccepted)) == 1

    with live.http() as http:
        detail = http.get("/api/orders/p1").json()
        listed = http.get("/api/orders").json()
    assert detail["parent"]["state"] == "completed" and detail["parent"]["status"] == "filled"
    assert sum(D(f["quantity"]) for f in detail["fills"]) == D("0.01")
    assert detail["children"] and detail["plans"]
    assert [p["parent_id"] for p in listed] == ["p1"]
    assert listed[0]["report"]["filled_quantity"] == "0.01"


def test_another_order_under_a_used_id_is_a_conflict_and_changes_nothing(start_node):
    live = start_node()
    with live.http() as http:
        assert http.post("/api/orders", json=BUY).status_code == 202
        live.wait_for(lambda m: isinstance(m, ParentOrderCompleted))
        before = len(live.journaled())
        answer = http.post("/api/orders", json={**BUY, "quantity": "0.02"})
    assert answer.status_code == 409
    assert answer.json()["detail"] == "parent id 'p1' is already used by another order"
    assert len(live.journaled(SubmitParentOrder)) == 1
    assert not [e for e in live.journaled()[before:] if isinstance(e.message, STATE_CHANGING)]


def test_a_rejected_order_answers_422_with_the_reason_every_time(start_node):
    live = start_node()
    order = {**BUY, "parent_id": "bad-algo", "algo": "nonesuch"}
    with live.http() as http:
        first = http.post("/api/orders", json=order)
        again = http.post("/api/orders", json=order)
        unknown_symbol = http.post("/api/orders", json={**BUY, "parent_id": "s", "symbol": "XX/YY"})
        nan = http.post("/api/orders", json={**BUY, "parent_id": "n", "quantity": "NaN"})
        params = http.post(
            "/api/orders", json={**BUY, "parent_id": "prm", "params": {"duration_s": 60}}
        )
    assert first.status_code == 422
    assert "rejected: unknown algorithm 'nonesuch' (known: " in first.json()["detail"]
    assert again.status_code == 422 and again.json()["detail"] == first.json()["detail"]
    assert unknown_symbol.status_code == 422
    assert "unknown symbol XX/YY" in unknown_symbol.json()["detail"]
    assert nan.status_code == 422 and "quantity NaN must be a finite number" in nan.text
    assert (
        params.status_code == 422
        and "params: algorithm 'route' takes no parameters" in (params.json()["detail"])
    )
    # the rejected order is on record once, with its rejection
    assert [e.message.parent_id for e in live.journaled(SubmitParentOrder)] == [
        "bad-algo",
        "s",
        "n",
        "prm",
    ]
    assert len(live.journaled(ParentOrderRejected)) == 4


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        (b"{not json", "application/json", 400, "JSON is malformed"),
        (b'["p1"]', "application/json", 400, "Expected `object`"),
        (
            b'{"parent_id": "p1", "symbol": "BTC/USDT", "side": "buy"}',
            None,
            400,
            "quantity: required",
        ),
        (
            b'{"parent_id": "p1", "symbol": "BTC/USDT", "side": "buy", "quantity": "lots"}',
            None,
            400,
            "quantity: Invalid decimal string",
        ),
        (
            b'{"parent_id": "p1", "symbol": "BTC/USDT", "side": "hold", "quantity": "1"}',
            None,
            400,
            "side: Invalid enum value 'hold'",
        ),
        (
            b'{"parent_id": "p1", "symbol": "BTC/USDT", "side": "buy", "quantity": "1", '
            b'"limit_pice": "1"}',
            None,
            400,
            "limit_pice: not a field of SubmitParentOrder",
        ),
        (
            b'{"type": "HaltTrading", "parent_id": "p1", "symbol": "BTC/USDT", "side": "buy", '
            b'"quantity": "1"}',
            None,
            400,
            "type: Invalid value 'HaltTrading'",
        ),
        (
            b'{"parent_id": "a b", "symbol": "BTC/USDT", "side": "buy", "quantity": "1"}',
            None,
            400,
            "parent_id: 'a b' must be 1 to 128 characters",
        ),
        (
            b'{"parent_id": "p1", "symbol": "BTC/USDT", "side": "buy", "quantity": "1"}',
            "text/plain",
            415,
            "the body must be JSON",
        ),
    ],
)
def test_a_malformed_order_is_refused_naming_the_field_and_changes_nothing(
    start_node, body, content_type, status, says
):
    live = start_node()
    before = len(live.journaled())
    with live.http() as http:
        answer = http.post(
            "/api/orders",
            content=body,
            headers={"content-type": content_type or "application/json"},
        )
        state = http.get("/api/state").json()
    assert answer.status_code == status, answer.text
    assert says in answer.json()["detail"]
    assert state["parents"] == []
    assert not [e for e in live.journaled()[before:] if isinstance(e.message, STATE_CHANGING)]


def test_operator_commands_with_wrong_fields_are_refused_naming_them(start_node):
    live = start_node()
    with live.http() as http:
        missing = http.post("/api/halt", json={})
        unknown = http.post("/api/halt", json={"reason": "r", "cancel_orders": False})
        wrong = http.post("/api/resume", json={"reason": 3})
    assert missing.status_code == 400 and missing.json()["detail"] == "reason: required"
    assert unknown.status_code == 400
    assert unknown.json()["detail"].startswith("cancel_orders: not a field of HaltTrading")
    assert wrong.status_code == 400 and wrong.json()["detail"].startswith("reason: Expected `str`")
    assert not live.journaled(HaltTrading, ResumeTrading)


def test_kill_switch_halt_reduce_only_resume_each_journaled_with_its_source(start_node):
    live = start_node()
    with live.http() as http:
        halted = http.post("/api/halt", json={"reason": "fat finger", "source": "desk 3"})
        live.until_trading("halted")
        refused = http.post("/api/reduce-only", json={"reason": "wind down"})
        assert http.get("/api/state").json()["trading_state"] == "halted"
        resumed = http.post("/api/resume", json={"reason": "checked"})
        live.until_trading("active")
        reducing = http.post("/api/reduce-only", json={"reason": "wind down"})
        live.until_trading("reducing")
        http.post("/api/resume", json={"reason": "done"})
        live.until_trading("active")  # the answer says sent; risk's state says obeyed
    assert halted.status_code == 202 and halted.json()["detail"] == "HaltTrading sent to risk"
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("trading is halted: reduce-only would not apply")
    assert resumed.status_code == 202 and reducing.status_code == 202

    commands = live.journaled(HaltTrading, ReduceOnly, ResumeTrading)
    assert [type(e.message) for e in commands] == [
        HaltTrading,
        ResumeTrading,
        ReduceOnly,
        ResumeTrading,
    ]
    for e in commands:
        assert (e.sender, e.destination) == ("control", "risk")
        assert e.message.source.startswith("api 127.0.0.1:")
    assert commands[0].message.source.endswith(" (desk 3)")
    assert commands[0].message.reason == "fat finger"


def test_cancel_a_waiting_order_and_refuse_what_cannot_be_canceled(start_node):
    live = start_node()
    with live.http() as http:
        http.post("/api/halt", json={"reason": "hold everything"})
        live.until_trading("halted")
        submitted = http.post("/api/orders", json=BUY)
        canceled = http.delete("/api/orders/p1", params={"reason": "changed my mind"})
        done = live.wait_for(lambda m: isinstance(m, ParentOrderCompleted))
        again = http.delete("/api/orders/p1")
        unknown = http.delete("/api/orders/nope")
    assert submitted.status_code == 202 and submitted.json()["state"] == "waiting"
    assert "halted (hold everything)" in submitted.json()["detail"]
    assert canceled.status_code == 202 and canceled.json()["detail"] == "cancel sent"
    assert done.status == "canceled" and done.reason == "changed my mind"
    assert again.status_code == 409
    assert again.json()["detail"] == "parent order 'p1' has already completed (canceled)"
    assert unknown.status_code == 404 and unknown.json()["detail"] == "no parent order 'nope'"
    (cancel,) = live.journaled(CancelParentOrder)
    assert cancel.sender == "control" and cancel.message.source.startswith("api 127.0.0.1:")
    assert not live.recorder.of_type(*FILL_TYPES)


def test_unauthorised_requests_are_refused_and_change_nothing(start_node):
    live = start_node(token=True)
    attempts = [
        ("GET", "/api/state", None),
        ("GET", "/api/orders", None),
        ("GET", "/api/events", None),
        ("POST", "/api/orders", BUY),
        ("POST", "/api/halt", {"reason": "intruder"}),
        ("DELETE", "/api/orders/p1", None),
    ]
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {TOKEN}"}):
        with httpx.Client(base_url=live.url, headers=headers, timeout=10) as http:
            for method, path, body in attempts:
                answer = http.request(method, path, json=body)
                assert answer.status_code == 401, (method, path, headers)
                assert answer.json()["detail"] == "a valid bearer token is required"
                assert answer.headers["www-authenticate"] == "Bearer"
    assert not [e for e in live.journaled() if isinstance(e.message, STATE_CHANGING)]
    with live.http() as http:
        assert http.get("/api/state").json()["trading_state"] == "active"
        assert http.post("/api/orders", json=BUY).status_code == 202


def test_no_secret_in_any_answer_page_journal_or_lock_file(start_node):
    live = start_node(token=True)
    with live.http() as http:
        http.post("/api/orders", json=BUY)
        live.wait_for(lambda m: isinstance(m, ParentOrderCompleted))
        seen = [
            http.get(path).content
            for path in (
                "/api/state",
                "/api/orders",
                "/api/orders/p1",
                "/api/nav",
                "/schema",
                "/schema/openapi.json",
                "/",
                "/dashboard/app.js",
                "/dashboard/style.css",
            )
        ]
        seen.append(http.post("/api/orders", json={**BUY, "quantity": "1"}).content)
        with http.stream("GET", "/api/events") as stream:
            seen.append(next(stream.iter_bytes()))
        seen.append(
            httpx.get(f"{live.url}/api/state", headers={"authorization": "Bearer x"}).content
        )
    live.stop()
    seen.append(live.journal_path.read_bytes())
    for wal in live.journal_path.parent.glob("journal.sqlite*"):
        seen.append(wal.read_bytes())
    seen.append(live.config_path.read_bytes())
    for blob in seen:
        assert TOKEN.encode() not in blob


def test_the_event_stream_carries_progress_fills_and_state_changes(start_node):
    live = start_node()
    client = NodeClient(live.url)
    events = client.events(heartbeats=True)
    assert next(events) is None  # the stream's opening comment: subscribed from here on
    client.submit(
        SubmitParentOrder(parent_id="p1", symbol="BTC/USDT", side="buy", quantity=D("0.01"))
    )
    seen = []
    for event in events:
        if event is not None:
            seen.append(event)
        if isinstance(event, ParentOrderCompleted):
            client.halt("watching the stream")
        if isinstance(event, TradingStateChanged):
            break
    events.close()
    client.close()
    kinds = {type(e) for e in seen}
    assert {ParentOrderAccepted, ParentOrderProgressed, ParentOrderCompleted} <= kinds
    assert kinds & set(FILL_TYPES)
    fills = [e for e in seen if isinstance(e, FILL_TYPES)]
    assert sum(f.quantity for f in fills) == D("0.01")
    (change,) = [e for e in seen if isinstance(e, TradingStateChanged)]
    assert change.state == "halted" and "watching the stream" in change.reason


def test_a_client_that_reconnects_gets_what_it_missed_once(start_node):
    """A strategy's connection drops after an order was accepted; meanwhile the order fills and
    trading is halted. Reconnecting with the last event id it saw, it gets exactly the events it
    missed, in order, none it had; an id the node does not hold is refused (410), not answered
    with a stream that has a hole in it."""
    live = start_node()
    client = NodeClient(live.url)
    events = client.events(heartbeats=True)
    assert next(events) is None
    client.submit(
        SubmitParentOrder(parent_id="p1", symbol="BTC/USDT", side="buy", quantity=D("0.01"))
    )
    before: list[tuple[str | None, Any]] = []
    for event in events:
        if event is not None:
            before.append((client.last_event_id, event))
        if isinstance(event, ParentOrderAccepted):
            break
    events.close()  # the connection drops here
    last = client.last_event_id
    live.wait_for(lambda m: isinstance(m, ParentOrderCompleted) and m.parent_id == "p1")
    client.halt("while the strategy was away")
    live.until_trading("halted")

    after: list[tuple[str | None, Any]] = []
    resumed = client.events(heartbeats=True, after=last)
    for event in resumed:
        if event is not None:
            after.append((client.last_event_id, event))
        if isinstance(event, TradingStateChanged):
            break
    resumed.close()
    ids = [int(i.rsplit("-", 1)[1]) for i, _ in before + after]  # type: ignore[union-attr]
    assert ids == sorted(set(ids)) and ids == list(range(ids[0], ids[0] + len(ids)))
    kinds = [type(e) for _, e in after]
    assert ParentOrderAccepted not in kinds  # seen before the drop: not again
    assert ParentOrderCompleted in kinds and kinds[-1] is TradingStateChanged
    assert sum(e.quantity for _, e in after if isinstance(e, FILL_TYPES)) == D("0.01")

    with pytest.raises(NodeClientError, match="HTTP 410: event 'not-an-id' is not of this node"):
        next(client.events(after="not-an-id"))
    client.close()


def test_streams_end_when_the_node_stops(start_node):
    live = start_node()
    client = NodeClient(live.url)
    events = client.events(heartbeats=True)
    assert next(events) is None
    live.stop()
    # the server ends each stream as it stops (a stream cut off would raise NodeClientError)
    rest = [e for e in events if e is not None]
    assert all(not isinstance(e, ParentOrderCompleted) for e in rest)
    client.close()
    with pytest.raises(NodeClientError, match="cannot reach the node"):
        NodeClient(live.url).state()


def test_openapi_document_names_every_endpoint_and_the_message_types(start_node):
    live = start_node()
    with live.http() as http:
        document = http.get("/schema").json()
    assert document["info"]["title"] == "tradenode control API"
    assert set(document["paths"]) == {
        "/api/state",
        "/api/nav",
        "/api/orders",
        "/api/orders/{parent_id}",
        "/api/orders/{parent_id}/complete",
        "/api/halt",
        "/api/reduce-only",
        "/api/resume",
        "/api/events",
    }
    assert {"SubmitParentOrder", "HaltTrading", "NodeState", "ParentDetail"} <= set(
        document["components"]["schemas"]
    )
    assert "quantity" in document["components"]["schemas"]["SubmitParentOrder"]["required"]


def test_other_sites_cannot_use_the_api(start_node):
    live = start_node()
    origin = {"origin": "http://evil.example"}
    with live.http() as http:
        preflight = http.options(
            "/api/halt", headers={**origin, "access-control-request-method": "POST"}
        )
        forged = http.post(
            "/api/halt",
            content=b'{"reason": "csrf"}',
            headers={**origin, "content-type": "text/plain"},
        )
        forged_json = http.post("/api/halt", json={"reason": "csrf"}, headers=origin)
        rebound = http.get("/api/state", headers={"host": "evil.example"})
        own = http.post("/api/halt", json={"reason": "mine"}, headers={"origin": live.url})
    assert not [h for h in preflight.headers if h.startswith("access-control-")]
    assert forged.status_code == 403 and forged_json.status_code == 403
    assert "cross-origin request from http://evil.example refused" in forged.json()["detail"]
    assert rebound.status_code == 400
    assert own.status_code == 202
    live.until_trading("halted")
    assert [e.message.reason for e in live.journaled(HaltTrading)] == ["mine"]


def test_the_dashboard_is_served_with_a_closed_content_policy(start_node):
    live = start_node()
    with live.http() as http:
        page = http.get("/")
        script = http.get("/dashboard/app.js")
        style = http.get("/dashboard/style.css")
        escapes = [http.get(p).status_code for p in ("/dashboard/..%2Fapi.py", "/dashboard/api.py")]
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert script.headers["content-type"].startswith("text/javascript")
    assert style.headers["content-type"].startswith("text/css")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert b'<script src="/dashboard/app.js"' in page.content
    assert escapes == [404, 404]


def test_a_restarted_control_component_counts_nothing_twice(start_node):
    from node.control.component import ControlComponent, EventHub
    from node.control.state import ControlState

    live = start_node()
    with live.http() as http:
        http.post("/api/orders", json=BUY)
    live.wait_for(lambda m: isinstance(m, ParentOrderCompleted))
    live.stop()
    journal = Journal(live.journal_path, codec=live.node.journal.codec, readonly=True)
    history = list(journal.envelopes())
    journal.close()
    view = ControlState("controlled", ["binance"])
    component = ControlComponent(view, EventHub(), serve=None)
    component.restore(history)
    first = view.detail("p1")
    component.restore(history)  # what a rebuilt component does with the same view
    again = view.detail("p1")
    assert first is not None and again is not None
    assert len(again.fills) == len(first.fills) > 0
    assert sum(c.filled for c in again.children) == D("0.01")
    assert again.parent.filled_quantity == D("0.01")

    # a start after a checkpoint loads the view it saved, then the rows after it
    loaded = ControlState("controlled", ["binance"])
    successor = ControlComponent(loaded, EventHub(), serve=None)
    successor.restore_checkpoint(component.checkpoint())
    successor.restore([])
    assert loaded.snapshot() == view.snapshot()
    assert loaded.detail("p1") == again
    assert loaded.snapshot().venues[0].reason == "the node stopped"  # its last row


def test_the_hub_keeps_as_many_events_as_configured_for_a_resuming_stream():
    """``[node.control] events_kept`` bounds the history (and the memory) a resume is served
    from: past it, a resume is refused rather than served with a hole."""
    import asyncio

    from node.control.component import EventHub, EventsGone

    hub = EventHub(keep=2)
    for n in range(1, 5):
        hub.publish(HaltTrading(reason=f"h{n}", ts=n))

    async def resume(after: str) -> list[str]:
        queue = hub.subscribe(after=after)
        hub.unsubscribe(queue)
        return [queue.get_nowait()[1].reason for _ in range(queue.qsize())]

    first, second = f"{hub.run}-1", f"{hub.run}-2"
    assert asyncio.run(resume(second)) == ["h3", "h4"]
    with pytest.raises(EventsGone, match="no longer kept \\(the node keeps the last 2\\)"):
        asyncio.run(resume(first))
