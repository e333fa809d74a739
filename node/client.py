"""A Python client of a running node's control API, for strategies and tools.

::

    from decimal import Decimal

    from node.client import NodeClient
    from node.messages import ParentOrderCompleted, SubmitParentOrder

    with NodeClient.for_config("my-node.toml") as node:   # or NodeClient("http://127.0.0.1:8700")
        node.submit(SubmitParentOrder(parent_id="eth-1", symbol="ETH/USD", side="buy",
                                      quantity=Decimal("5"), algo="twap",
                                      params={"duration_s": 60, "slices": 6}))
        for event in node.events():      # the node's own messages, as they happen
            print(event)
            if isinstance(event, ParentOrderCompleted) and event.parent_id == "eth-1":
                break

Requests and answers are the node's own message types; an error answer raises
``NodeClientError`` with the node's words.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from node.codec import Codec, core_codec
from node.control.views import Accepted, NavPoint, NodeState, ParentDetail, ParentView
from node.journal import running_node
from node.messages import (
    HaltTrading,
    Message,
    ReduceOnly,
    ResumeTrading,
    SubmitParentOrder,
)


class NodeClientError(RuntimeError):
    """The node refused a request, or could not be reached; the message says why."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NodeClient:
    """Talks to one node's control API. ``token`` is its bearer token, if it needs one."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        codec: Codec | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)
        #: the id of the last event ``events`` yielded (to resume from after a reconnect)
        self.last_event_id: str | None = None
        self._codec = codec or core_codec()

    @classmethod
    def for_config(cls, config_path: str | Path, token_env: str | None = None) -> NodeClient:
        """The client of the node running on this config (found through its journal's lock)."""
        from node.config import load_config
        from node.plugins import load_plugins

        plugins = load_plugins()
        config = load_config(config_path, plugins)
        holder = running_node(config.journal_path)
        if holder is None:
            raise NodeClientError(f"no node is running on {config_path}")
        if not holder.control_url:
            raise NodeClientError(
                f"the node on {config_path} ({holder.describe()}) has no control API"
            )
        env = token_env or config.node.control.token_env
        token = os.environ.get(env) if env else None
        return cls(holder.control_url, token, codec=plugins.codec())

    # -- requests -------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any = None, params: Any = None) -> bytes:
        try:
            response = self._http.request(
                method,
                path,
                content=msgspec.json.encode(body) if body is not None else None,
                params=params,
                headers={"content-type": "application/json"} if body is not None else None,
            )
        except httpx.HTTPError as exc:
            raise NodeClientError(f"cannot reach the node at {self.url}: {exc}") from None
        if response.status_code >= 400:
            raise NodeClientError(_error_text(response), response.status_code)
        return response.content

    def state(self) -> NodeState:
        return msgspec.json.decode(self._request("GET", "/api/state"), type=NodeState)

    def orders(self) -> list[ParentView]:
        return msgspec.json.decode(self._request("GET", "/api/orders"), type=list[ParentView])

    def nav(self) -> list[NavPoint]:
        """The NAV line the node kept while someone watched (oldest first)."""
        return msgspec.json.decode(self._request("GET", "/api/nav"), type=list[NavPoint])

    def order(self, parent_id: str) -> ParentDetail:
        data = self._request("GET", f"/api/orders/{quote(parent_id, safe='')}")
        return msgspec.json.decode(data, type=ParentDetail)

    def submit(self, order: SubmitParentOrder) -> Accepted:
        """Submit a parent order; the answer says whether it is working or waiting (a rejected
        one raises ``NodeClientError`` with the reason). Submitting it again is safe: the node
        answers with what it knows of it and never works it twice."""
        return msgspec.json.decode(
            self._request("POST", "/api/orders", _body(order)), type=Accepted
        )

    def cancel(self, parent_id: str, reason: str = "") -> Accepted:
        data = self._request(
            "DELETE", f"/api/orders/{quote(parent_id, safe='')}", params={"reason": reason}
        )
        return msgspec.json.decode(data, type=Accepted)

    def complete(self, parent_id: str, max_slippage_bps: Decimal, reason: str = "") -> Accepted:
        """Finish a working parent now: what is left is taken within ``max_slippage_bps`` of
        its arrival mid; how it ended comes with its ``ParentOrderCompleted``."""
        data = self._request(
            "POST",
            f"/api/orders/{quote(parent_id, safe='')}/complete",
            params={"max_slippage_bps": str(max_slippage_bps), "reason": reason},
        )
        return msgspec.json.decode(data, type=Accepted)

    def command(self, command: HaltTrading | ReduceOnly | ResumeTrading) -> Accepted:
        path = {HaltTrading: "halt", ReduceOnly: "reduce-only", ResumeTrading: "resume"}[
            type(command)
        ]
        return msgspec.json.decode(
            self._request("POST", f"/api/{path}", _body(command)), type=Accepted
        )

    def halt(self, reason: str, cancel_open_orders: bool = True) -> Accepted:
        return self.command(HaltTrading(reason=reason, cancel_open_orders=cancel_open_orders))

    def reduce_only(self, reason: str) -> Accepted:
        return self.command(ReduceOnly(reason=reason))

    def resume(self, reason: str) -> Accepted:
        return self.command(ResumeTrading(reason=reason))

    def events(
        self, heartbeats: bool = False, after: str | None = None
    ) -> Iterator[Message | None]:
        """The node's events as they happen (server-sent events), decoded to its messages; with
        ``heartbeats``, a None each second the node has nothing to say (so a loop can stop).

        ``last_event_id`` is the id of the last event yielded: after a dropped connection,
        ``events(after=client.last_event_id)`` carries on with what was missed, each event
        once — or raises ``NodeClientError`` (HTTP 410) when the node no longer keeps it (or
        has restarted since): then re-read ``state()`` before listening again."""
        headers = {"last-event-id": after} if after else None
        event_id: str | None = None
        try:
            with self._http.stream(
                "GET", "/api/events", headers=headers, timeout=httpx.Timeout(10.0, read=30.0)
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise NodeClientError(_error_text(response), response.status_code)
                for line in response.iter_lines():
                    if line.startswith("id:"):
                        event_id = line[3:].strip()
                    elif line.startswith("data:") and line[5:].strip():
                        message = self._codec.decode_json(line[5:].strip())
                        self.last_event_id = event_id
                        yield message
                    elif heartbeats and line.startswith(":"):
                        yield None
        except httpx.HTTPError as exc:
            raise NodeClientError(f"event stream from {self.url} ended: {exc}") from None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _body(message: Message) -> dict[str, Any]:
    """A message as a request body: the node stamps the time (and adds where it came from to
    ``source``)."""
    body = msgspec.to_builtins(message)
    body.pop("ts", None)
    body.pop("type", None)
    return body


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    detail = body.get("detail") if isinstance(body, dict) else None
    return f"HTTP {response.status_code}: {detail or body}"
