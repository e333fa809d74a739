"""The control API: HTTP on loopback by default, Litestar served by uvicorn inside the node.

Endpoints (an OpenAPI document is served at ``/schema``):

* ``GET /api/state`` — venues and their status, balances, positions, NAV, trading state, open
  parent orders;
* ``GET /api/orders``, ``GET /api/orders/{id}`` (children, fills, plans, report);
* ``POST /api/orders`` — a ``SubmitParentOrder``; idempotent by ``parent_id``: the same order
  again is answered with what is known of it, a different one under a used id is a 409;
* ``DELETE /api/orders/{id}`` — ``CancelParentOrder``;
* ``POST /api/halt|reduce-only|resume`` — ``HaltTrading``, ``ReduceOnly``, ``ResumeTrading``;
* ``GET /api/events`` — server-sent events: every message the dashboard shows, as the node's
  own JSON;
* ``GET /`` — the dashboard.

A bearer token (compared in constant time) guards every ``/api`` route when the node has one;
CORS is closed (no cross-origin headers are sent). A request body may hold only the message's
own fields: a misspelt optional field (``limit_pice``) would otherwise be dropped silently and
change the order.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, delete, get, post
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.config import OpenAPIConfig
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import File, ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from node.codec import to_json
from node.control.component import ControlComponent
from node.control.views import Accepted, NodeState, ParentDetail, ParentView
from node.messages import (
    CancelParentOrder,
    HaltTrading,
    Message,
    ReduceOnly,
    ResumeTrading,
    SubmitParentOrder,
)

DASHBOARD = Path(__file__).parent / "dashboard"


def _source(request: Request[Any, Any, Any]) -> str:
    client = request.client
    return f"api {client.host}:{client.port}" if client else "api"


async def _strict(request: Request[Any, Any, Any], cls: type[msgspec.Struct]) -> None:
    """Refuse fields the message does not have, naming them."""
    try:
        raw = msgspec.json.decode(await request.body())
    except msgspec.DecodeError as exc:
        raise HTTPException(status_code=400, detail=f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise HTTPException(status_code=400, detail=f"expected a {cls.__name__} object")
    known = set(cls.__struct_fields__) | {"type"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise HTTPException(
            status_code=400,
            detail=f"{', '.join(unknown)}: not a field of {cls.__name__} "
            f"(fields: {', '.join(f for f in cls.__struct_fields__ if f != 'ts')})",
        )


def create_app(control: ControlComponent, token: str | None) -> Litestar:
    state = control.state

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if token is None:
            return
        given = connection.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.encode(), token.encode()):
            raise NotAuthorizedException("a valid bearer token is required")

    @get("/api/state", guards=[guard])
    async def get_state() -> NodeState:
        return state.snapshot()

    @get("/api/orders", guards=[guard])
    async def list_orders() -> list[ParentView]:
        return state.parent_views()

    @get("/api/orders/{parent_id:str}", guards=[guard])
    async def get_order(parent_id: FromPath[str]) -> ParentDetail:
        detail = state.detail(parent_id)
        if detail is None:
            raise HTTPException(status_code=404, detail=f"no parent order {parent_id!r}")
        return detail

    @post("/api/orders", guards=[guard], status_code=202)
    async def submit(
        data: JSONBody[SubmitParentOrder], request: Request[Any, Any, Any]
    ) -> Response[Accepted]:
        await _strict(request, SubmitParentOrder)
        order = msgspec.structs.replace(data, ts=control.ctx.now(), source=_source(request))
        known = state.note_submitted(order)
        if known is not None:
            first = state.order_of(order.parent_id)
            same = first is not None and _same_order(first, order)
            if not same:
                raise HTTPException(
                    status_code=409,
                    detail=f"parent id {order.parent_id!r} is already used by another order",
                )
            return Response(
                Accepted(parent_id=order.parent_id, detail=f"already submitted: {known.state}"),
                status_code=200,
            )
        control.command("execution", order)
        return Response(Accepted(parent_id=order.parent_id, detail="submitted"), status_code=202)

    @delete("/api/orders/{parent_id:str}", guards=[guard], status_code=202)
    async def cancel(
        parent_id: FromPath[str], request: Request[Any, Any, Any], reason: FromQuery[str] = ""
    ) -> Accepted:
        if state.detail(parent_id) is None:
            raise HTTPException(status_code=404, detail=f"no parent order {parent_id!r}")
        control.command(
            "execution",
            CancelParentOrder(
                parent_id=parent_id,
                reason=reason or "canceled through the API",
                source=_source(request),
                ts=control.ctx.now(),
            ),
        )
        return Accepted(parent_id=parent_id, detail="cancel sent")

    async def _operator(
        cls: type[Message], data: Message, request: Request[Any, Any, Any]
    ) -> Accepted:
        await _strict(request, cls)  # type: ignore[arg-type]
        message = msgspec.structs.replace(data, ts=control.ctx.now(), source=_source(request))
        control.command("risk", message)
        return Accepted(detail=f"{cls.__name__} sent to risk")

    @post("/api/halt", guards=[guard], status_code=202)
    async def halt(data: JSONBody[HaltTrading], request: Request[Any, Any, Any]) -> Accepted:
        return await _operator(HaltTrading, data, request)

    @post("/api/reduce-only", guards=[guard], status_code=202)
    async def reduce_only(data: JSONBody[ReduceOnly], request: Request[Any, Any, Any]) -> Accepted:
        if state.snapshot().trading_state == "halted":
            raise HTTPException(
                status_code=409,
                detail="trading is halted: reduce-only would not apply; resume first, then "
                "set reduce-only",
            )
        return await _operator(ReduceOnly, data, request)

    @post("/api/resume", guards=[guard], status_code=202)
    async def resume(data: JSONBody[ResumeTrading], request: Request[Any, Any, Any]) -> Accepted:
        return await _operator(ResumeTrading, data, request)

    @get("/api/events", guards=[guard])
    async def events() -> ServerSentEvent:
        queue = control.hub.subscribe()

        async def stream() -> AsyncIterator[ServerSentEventMessage]:
            try:
                yield ServerSentEventMessage(comment="tradenode events")
                while True:
                    try:
                        message = await asyncio.wait_for(queue.get(), timeout=1)
                    except TimeoutError:
                        yield ServerSentEventMessage(comment="keep-alive")
                        continue
                    if message is None:
                        return
                    yield ServerSentEventMessage(
                        event=type(message).__name__, data=to_json(message).decode()
                    )
            finally:
                control.hub.unsubscribe(queue)

        return ServerSentEvent(stream())

    @get("/", include_in_schema=False)
    async def dashboard() -> File:
        return File(DASHBOARD / "index.html", content_disposition_type="inline")

    @get("/dashboard/{name:str}", include_in_schema=False)
    async def dashboard_file(name: FromPath[str]) -> File:
        path = (DASHBOARD / name).resolve()
        if path.parent != DASHBOARD.resolve() or not path.is_file():
            raise HTTPException(status_code=404, detail="no such file")
        return File(path, content_disposition_type="inline")

    return Litestar(
        route_handlers=[
            get_state,
            list_orders,
            get_order,
            submit,
            cancel,
            halt,
            reduce_only,
            resume,
            events,
            dashboard,
            dashboard_file,
        ],
        openapi_config=OpenAPIConfig(title="tradenode control API", version="1"),
        debug=False,
    )


def _same_order(a: SubmitParentOrder, b: SubmitParentOrder) -> bool:
    """Two submissions are the same order when everything but their time and origin agrees."""
    strip = {"ts": 0, "source": ""}
    return msgspec.structs.replace(a, **strip) == msgspec.structs.replace(b, **strip)
