"""Alpaca's trading API through alpaca-py's ``TradingClient``, bounded and answering in Alpaca's
own JSON (decimal strings), for the venue to run in worker threads.

alpaca-py sends requests with no timeout and retries 429 and 504 answers a fixed number of times
(``POST /v2/orders`` included); both are set here from the config (the retry settings are
private attributes: alpaca-py's constructor does not take them). A retried order whose first
attempt was placed comes back as 422 "client_order_id must be unique": ``place`` then finds the
order by its client order id, so a lost answer never becomes a second order.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from node.config import Secret
from tradenode_alpaca.config import AlpacaConfig
from tradenode_alpaca.session import NEW_YORK, MarketClock

PAGE_SIZE = 100
MAX_PAGES = 1000
DUPLICATE_ID = "client_order_id must be unique"


class RestError(Exception):
    """Alpaca answered with an error status: ``status`` and Alpaca's words."""

    def __init__(self, status: int | None, text: str) -> None:
        super().__init__(text)
        self.status = status


def refusal(exc: BaseException) -> RestError | None:
    """Alpaca's error answer as a ``RestError`` with its status, code, message and numbers;
    None when ``exc`` is no answer from Alpaca (a transport failure)."""
    from alpaca.common.exceptions import APIError

    if not isinstance(exc, APIError):
        return None
    status = exc.status_code
    try:
        body = json.loads(str(exc))
    except ValueError:
        return RestError(status, f"HTTP {status}: {str(exc)[:200]}")
    if not isinstance(body, dict):
        return RestError(status, f"HTTP {status}: {str(exc)[:200]}")
    message = str(body.get("message", "")).strip() or "no message"
    extra = ", ".join(f"{k} {v}" for k, v in body.items() if k not in ("code", "message"))
    code = body.get("code")
    text = f"{message} ({'; '.join(filter(None, [extra, f'HTTP {status} code {code}']))})"
    return RestError(status, text)


def _timeout_adapter(timeout: float) -> Any:
    from requests.adapters import HTTPAdapter

    class TimeoutAdapter(HTTPAdapter):
        def send(self, request: Any, **kwargs: Any) -> Any:
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = timeout
            return super().send(request, **kwargs)

    return TimeoutAdapter()


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class AlpacaRest:
    """Blocking calls; each raises alpaca-py's ``APIError`` (see ``refusal``) or a ``requests``
    transport error."""

    def __init__(self, key: Secret, secret: Secret, config: AlpacaConfig) -> None:
        from alpaca.trading.client import TradingClient

        self.client = TradingClient(
            key.reveal(), secret.reveal(), paper=config.paper, url_override=config.base_url
        )
        self.client._retry = config.rest_retries
        self.client._retry_wait = config.rest_retry_wait_s
        adapter = _timeout_adapter(config.request_timeout_s)
        self.client._session.mount("http://", adapter)
        self.client._session.mount("https://", adapter)

    def __repr__(self) -> str:
        return "AlpacaRest()"

    def close(self) -> None:
        self.client._session.close()

    # -- account ----------------------------------------------------------------------------

    def account(self) -> dict[str, Any]:
        return self.client.get("/account")

    def positions(self) -> list[dict[str, Any]]:
        return self.client.get("/positions")

    def asset(self, symbol: str) -> dict[str, Any] | None:
        try:
            return self.client.get(f"/assets/{symbol}")
        except Exception as exc:
            error = refusal(exc)
            if error is not None and error.status == 404:
                return None
            raise

    def clock(self) -> MarketClock:
        clock = self.client.get("/clock")
        today = datetime.fromisoformat(str(clock["timestamp"])).astimezone(NEW_YORK).date()
        calendar = self.client.get("/calendar", {"start": str(today), "end": str(today)})
        return MarketClock.from_json(clock, calendar)

    # -- orders -----------------------------------------------------------------------------

    def place(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """The order as Alpaca took it, and whether it was already there (a retried or resent
        order found by its client order id)."""
        try:
            return self.client.post("/orders", body), False
        except Exception as exc:
            error = refusal(exc)
            if error is None or error.status != 422 or DUPLICATE_ID not in str(error):
                raise
            existing = self.order_by_client_id(body["client_order_id"])
            if existing is None:
                raise
            return existing, True

    def order_by_client_id(self, client_order_id: str) -> dict[str, Any] | None:
        try:
            return self.client.get(
                "/orders:by_client_order_id", {"client_order_id": client_order_id}
            )
        except Exception as exc:
            error = refusal(exc)
            if error is not None and error.status == 404:
                return None
            raise

    def open_orders(self) -> list[dict[str, Any]]:
        return self.client.get("/orders", {"status": "open", "limit": 500, "direction": "asc"})

    def cancel(self, order_id: str) -> None:
        self.client.delete(f"/orders/{order_id}")

    def fills(self, since: datetime, order_ids: set[str]) -> list[dict[str, Any]]:
        """The FILL activities of ``order_ids`` from ``since`` (Alpaca's clock) on, oldest
        first: every page from a second before ``since``."""
        params: dict[str, Any] = {
            "direction": "asc",
            "page_size": PAGE_SIZE,
            "after": _rfc3339(since - timedelta(seconds=1)),
        }
        rows: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            page = self.client.get("/account/activities/FILL", params)
            rows += [row for row in page if str(row.get("order_id")) in order_ids]
            if len(page) < PAGE_SIZE:
                return rows
            params["page_token"] = page[-1]["id"]
        raise RuntimeError(f"more than {MAX_PAGES * PAGE_SIZE} fills since {since}")
