"""The control API: HTTP on loopback by default, Litestar served by uvicorn inside the node.

Endpoints (the OpenAPI document is served at ``/schema``):

* ``GET /api/state`` — venues and their status, balances, positions, NAV, trading state, open
  parent orders, recent fills;
* ``GET /api/orders``, ``GET /api/orders/{id}`` (children, fills, plans, report);
* ``POST /api/orders`` — a ``SubmitParentOrder``; idempotent by ``parent_id``: the same order
  again is answered with what is known of it (200), a different one under a used id is a 409.
  A new order is answered once the node has decided: 202 accepted or waiting, 422 rejected
  with the reason;
* ``DELETE /api/orders/{id}`` — ``CancelParentOrder`` (409 when it has already finished);
* ``POST /api/orders/{id}/complete?max_slippage_bps=B`` — ``CompleteParentOrder``: finish it
  now, taking what is left within ``B`` bps of its arrival mid (409 when it is not working);
* ``POST /api/halt|reduce-only|resume`` — ``HaltTrading``, ``ReduceOnly``, ``ResumeTrading``;
* ``GET /api/nav`` — the NAV line kept while someone watches;
* ``GET /api/events`` — server-sent events: every message the dashboard shows, as the node's
  own JSON, each with an id; a client that reconnects with ``Last-Event-ID`` gets what it
  missed, once (410 when the node no longer keeps it: re-read the state);
* ``GET /`` and ``/dashboard/{file}`` — the dashboard.

A bearer token (compared in constant time) guards every ``/api`` route when the node has one.
Browsers are kept out of other sites' reach: no CORS headers are sent, a request whose
``Origin`` is not the API's own is refused, bodies must be ``application/json`` (so a page
elsewhere cannot send one without a preflight), and on loopback only a loopback ``Host`` is
served (DNS rebinding). A request body may hold only the message's own fields: a misspelt
optional field (``limit_pice``) would otherwise be dropped silently and change the order.
"""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import AsyncIterator, Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
from litestar import Litestar, Request, Response, delete, get, post
from litestar.config.allowed_hosts import AllowedHostsConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import File, ServerSentEvent
from litestar.response.sse import ServerSentEventMessage
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.types import Message as ASGIMessage

from node.codec import to_json
from node.control.component import ControlComponent, EventsGone, Numbered
from node.control.views import Accepted, NavPoint, NodeState, ParentDetail, ParentView
from node.messages import (
    AccountValued,
    CancelParentOrder,
    CompleteParentOrder,
    HaltTrading,
    Message,
    ParentOrderAccepted,
    ParentOrderCompleted,
    ParentOrderRejected,
    ParentOrderWaiting,
    ReduceOnly,
    ResumeTrading,
    SubmitParentOrder,
)

DASHBOARD = Path(__file__).parent / "dashboard"
_MEDIA_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
#: sent with every answer: the page loads nothing from elsewhere and cannot be framed (the
#: kill switch must not be clickable through someone else's page); nothing is cached
_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; "
        b"form-action 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
_DECISIONS = (ParentOrderAccepted, ParentOrderWaiting, ParentOrderRejected, ParentOrderCompleted)
_MISSING = re.compile(r"Object missing required field `([^`]+)`")
_BAD_ID = re.compile(r"[\x00-\x20/\x7f]")
MAX_BODY_BYTES = 64 * 1024


def _source(request: Request[Any, Any, Any], stated: str) -> str:
    """Where a request came from, as journaled: the peer's address, then what the client says
    it is (``cli pid 123``), cut short and printable."""
    client = request.client
    where = f"api {client.host}:{client.port}" if client else "api"
    stated = "".join(c for c in stated if c.isprintable())[:80]
    return f"{where} ({stated})" if stated else where


async def _strict(request: Request[Any, Any, Any], cls: type[msgspec.Struct]) -> None:
    """Refuse a body that is not JSON, and fields the message does not have, naming them."""
    if request.content_type[0] != "application/json":
        raise HTTPException(
            status_code=415, detail="the body must be JSON (content-type: application/json)"
        )
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


def _id_problem(parent_id: str) -> str | None:
    if not parent_id or len(parent_id) > 128 or _BAD_ID.search(parent_id):
        return (
            f"parent_id: {parent_id!r} must be 1 to 128 characters without spaces, control "
            "characters or '/'"
        )
    return None


def create_app(
    control: ControlComponent,
    token: str | None,
    allowed_hosts: list[str] | None = None,
    answer_timeout_s: float = 5.0,
) -> Litestar:
    """The API of ``control``'s node. ``allowed_hosts``: the ``Host`` values served (None:
    any, for a non-loopback address, where the token is required anyway);
    ``answer_timeout_s``: how long a request waits for the node's answer (a new order's
    acceptance, a valuation) before answering with what it has."""
    state = control.state

    def authorized(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        origin = connection.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != connection.headers.get("host"):
            raise PermissionDeniedException(
                f"cross-origin request from {origin} refused: the API serves its own page only"
            )
        if token is None:
            return
        given = connection.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            value.encode("utf-8", "replace"), token.encode()
        ):
            raise NotAuthorizedException(
                "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )

    @get("/api/state", guards=[authorized])
    async def get_state() -> NodeState:
        snapshot = state.snapshot()
        nav = snapshot.nav
        if nav is not None and control.ctx.now() - nav.ts < control.nav_interval_ns:
            return snapshot
        # No one watches, so no NAV line is kept: value the account for this answer.
        queue = control.hub.subscribe()
        try:
            if control.value_account():
                await _first(queue, lambda m: isinstance(m, AccountValued), answer_timeout_s)
        finally:
            control.hub.unsubscribe(queue)
        return state.snapshot()

    @get("/api/nav", guards=[authorized])
    async def get_nav() -> list[NavPoint]:
        return state.nav_line()

    @get("/api/orders", guards=[authorized])
    async def list_orders() -> list[ParentView]:
        return state.parent_views()

    @get("/api/orders/{parent_id:str}", guards=[authorized])
    async def get_order(parent_id: FromPath[str]) -> ParentDetail:
        detail = state.detail(parent_id)
        if detail is None:
            raise HTTPException(status_code=404, detail=f"no parent order {parent_id!r}")
        return detail

    @post("/api/orders", guards=[authorized], status_code=202)
    async def submit(
        data: JSONBody[SubmitParentOrder], request: Request[Any, Any, Any]
    ) -> Response[Accepted]:
        await _strict(request, SubmitParentOrder)
        problem = _id_problem(data.parent_id)
        if problem is not None:
            raise HTTPException(status_code=400, detail=problem)
        order = msgspec.structs.replace(
            data, ts=control.ctx.now(), source=_source(request, data.source)
        )
        # No await from noting the order to sending it: a dropped request cannot leave an
        # order noted (so answered "already submitted") that the node never received.
        known = state.note_submitted(order)
        if known.same is not None:
            if not known.same:
                raise HTTPException(
                    status_code=409,
                    detail=f"parent id {order.parent_id!r} is already used by another order",
                )
            return _answer(order.parent_id, known.view, retry=True)
        queue = control.hub.subscribe()
        try:
            control.command("execution", order)
            await _first(
                queue,
                lambda m: isinstance(m, _DECISIONS) and m.parent_id == order.parent_id,
                answer_timeout_s,
            )
        finally:
            control.hub.unsubscribe(queue)
        return _answer(order.parent_id, state.view_of(order.parent_id), retry=False)

    @delete("/api/orders/{parent_id:str}", guards=[authorized], status_code=202)
    async def cancel(
        parent_id: FromPath[str], request: Request[Any, Any, Any], reason: FromQuery[str] = ""
    ) -> Accepted:
        view = state.view_of(parent_id)
        if view is None:
            raise HTTPException(status_code=404, detail=f"no parent order {parent_id!r}")
        if view.state in ("completed", "rejected"):
            how = "was rejected"
            if view.state == "completed":
                how = f"has already completed ({view.status})"
            raise HTTPException(status_code=409, detail=f"parent order {parent_id!r} {how}")
        control.command(
            "execution",
            CancelParentOrder(
                parent_id=parent_id,
                reason=reason or "canceled through the API",
                source=_source(request, ""),
                ts=control.ctx.now(),
            ),
        )
        return Accepted(parent_id=parent_id, state=view.state, detail="cancel sent")

    @post("/api/orders/{parent_id:str}/complete", guards=[authorized], status_code=202)
    async def complete(
        parent_id: FromPath[str],
        request: Request[Any, Any, Any],
        max_slippage_bps: FromQuery[str],
        reason: FromQuery[str] = "",
    ) -> Accepted:
        try:
            bps = Decimal(max_slippage_bps)
        except InvalidOperation:
            bps = Decimal("NaN")
        if not (bps.is_finite() and 0 <= bps <= 10_000):
            raise HTTPException(
                status_code=400,
                detail=f"max_slippage_bps: {max_slippage_bps!r} is not a number of bps in "
                "[0, 10000]",
            )
        view = state.view_of(parent_id)
        if view is None:
            raise HTTPException(status_code=404, detail=f"no parent order {parent_id!r}")
        if view.state != "working":
            raise HTTPException(
                status_code=409,
                detail=f"parent order {parent_id!r} is {view.state}: only a working order "
                "completes",
            )
        control.command(
            "execution",
            CompleteParentOrder(
                parent_id=parent_id,
                max_slippage_bps=bps,
                reason=reason or "completed through the API",
                source=_source(request, ""),
                ts=control.ctx.now(),
            ),
        )
        return Accepted(parent_id=parent_id, state=view.state, detail="completion sent")

    async def _operator(
        cls: type[Message], data: Message, request: Request[Any, Any, Any]
    ) -> Accepted:
        await _strict(request, cls)  # type: ignore[arg-type]
        if cls is ReduceOnly and state.snapshot().trading_state == "halted":
            raise HTTPException(
                status_code=409,
                detail="trading is halted: reduce-only would not apply; resume first, then "
                "set reduce-only",
            )
        source = _source(request, data.source)  # type: ignore[attr-defined]
        message = msgspec.structs.replace(data, ts=control.ctx.now(), source=source)
        control.command("risk", message)
        return Accepted(detail=f"{cls.__name__} sent to risk")

    @post("/api/halt", guards=[authorized], status_code=202)
    async def halt(data: JSONBody[HaltTrading], request: Request[Any, Any, Any]) -> Accepted:
        return await _operator(HaltTrading, data, request)

    @post("/api/reduce-only", guards=[authorized], status_code=202)
    async def reduce_only(data: JSONBody[ReduceOnly], request: Request[Any, Any, Any]) -> Accepted:
        return await _operator(ReduceOnly, data, request)

    @post("/api/resume", guards=[authorized], status_code=202)
    async def resume(data: JSONBody[ResumeTrading], request: Request[Any, Any, Any]) -> Accepted:
        return await _operator(ResumeTrading, data, request)

    @get("/api/events", guards=[authorized])
    async def events(request: Request[Any, Any, Any]) -> ServerSentEvent:
        after = request.headers.get("last-event-id")
        try:
            queue = control.hub.subscribe(after=after or None)
        except EventsGone as exc:
            raise HTTPException(status_code=410, detail=str(exc)) from None

        async def stream() -> AsyncIterator[ServerSentEventMessage]:
            try:
                yield ServerSentEventMessage(comment="tradenode events", data=None)
                while True:
                    try:
                        event = await asyncio.wait_for(queue.get(), timeout=1)
                    except TimeoutError:
                        yield ServerSentEventMessage(comment="keep-alive", data=None)
                        continue
                    if event is None:
                        return
                    event_id, message = event
                    yield ServerSentEventMessage(
                        id=event_id, event=type(message).__name__, data=to_json(message).decode()
                    )
            finally:
                control.hub.unsubscribe(queue)

        return ServerSentEvent(stream())

    @get("/", include_in_schema=False)
    async def dashboard() -> File:
        return _file("index.html")

    @get("/dashboard/{name:str}", include_in_schema=False)
    async def dashboard_file(name: FromPath[str]) -> File:
        return _file(name)

    return Litestar(
        route_handlers=[
            get_state,
            get_nav,
            list_orders,
            get_order,
            submit,
            cancel,
            complete,
            halt,
            reduce_only,
            resume,
            events,
            dashboard,
            dashboard_file,
        ],
        openapi_config=OpenAPIConfig(
            title="tradenode control API",
            version="1",
            path="/schema",
            render_plugins=[JsonRenderPlugin(path=["/", "/openapi.json"])],
        ),
        allowed_hosts=AllowedHostsConfig(allowed_hosts=allowed_hosts, www_redirect=False)
        if allowed_hosts is not None
        else None,
        exception_handlers={ValidationException: _validation_failed},
        middleware=[_secure_headers],
        request_max_body_size=MAX_BODY_BYTES,
        debug=False,
        # The node's logging is the process's (the CLI sets it): Litestar's default would put
        # its own handler on the root logger, bound to whatever stderr was at that moment.
        logging_config=None,
    )


async def _first(
    queue: asyncio.Queue[Numbered | None], match: Callable[[Message], bool], timeout_s: float
) -> Message | None:
    """The first event from ``queue`` that ``match``es (the execution manager's first word on
    a new parent, a valuation): None if none came within ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (left := deadline - loop.time()) > 0:
        try:
            event = await asyncio.wait_for(queue.get(), left)
        except TimeoutError:
            return None
        if event is None:
            return None
        if match(event[1]):
            return event[1]
    return None


def _answer(parent_id: str, view: ParentView | None, retry: bool) -> Response[Accepted]:
    """What is known of a parent order, as the answer to its submission."""
    if view is None:
        accepted = Accepted(
            parent_id=parent_id,
            state="completed",
            detail="already submitted and finished long ago (its record is in the journal)",
        )
        return Response(accepted, status_code=200)
    if view.state == "rejected":
        raise HTTPException(
            status_code=422, detail=f"parent order {parent_id!r} rejected: {view.reason}"
        )
    if view.state == "completed":
        detail = f"completed: {view.status}" + (f" ({view.reason})" if view.reason else "")
    elif view.state == "waiting":
        detail = f"waiting: {view.progress}"
    elif view.state == "submitted":
        detail = "submitted; the node has not decided yet (watch its events)"
    else:
        detail = view.progress or view.state
    if retry:
        detail = f"already submitted: {detail}"
    return Response(
        Accepted(parent_id=parent_id, state=view.state, detail=detail),
        status_code=200 if retry else 202,
    )


def _file(name: str) -> File:
    path = (DASHBOARD / name).resolve()
    media_type = _MEDIA_TYPES.get(path.suffix)
    if path.parent != DASHBOARD.resolve() or not path.is_file() or media_type is None:
        raise HTTPException(status_code=404, detail="no such file")
    return File(path, media_type=media_type, content_disposition_type="inline")


def _validation_failed(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """A 400 whose detail names each field that is wrong (``quantity: Invalid decimal
    string``), not only where in the request it was."""
    problems = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        message, key = str(item.get("message", "")), item.get("key")
        missing = _MISSING.fullmatch(message)
        if missing:
            problems.append(f"{missing.group(1)}: required")
        elif key and key != "data":
            problems.append(f"{key}: {message}")
        else:
            problems.append(message)
    return Response(
        {"status_code": 400, "detail": "; ".join(problems) or exc.detail, "extra": exc.extra},
        status_code=400,
    )


def _secure_headers(app: ASGIApp) -> ASGIApp:
    async def with_headers(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_with(message: ASGIMessage) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                message["headers"] = headers + [h for h in _HEADERS if h[0] not in present]
            await send(message)

        await app(scope, receive, send_with)

    return with_headers
