"""Read-only views of the loopback account in Alpaca's JSON: what the GET endpoints and the
admin records answer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from . import calendar
from .engine import TradingEngine
from .errors import invalid, not_found
from .wire import account_json, activity_json, asset_json, num, order_json, position_json


def _parse_time(value: str, name: str) -> int:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"invalid {name}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000) * 1000


def _int_param(params: dict[str, str], name: str, default: int, maximum: int) -> int:
    try:
        value = int(params.get(name, default))
    except ValueError:
        raise invalid(f"invalid {name}") from None
    if value <= 0:
        raise invalid(f"invalid {name}")
    return min(value, maximum)


class AccountQueries:
    """The engine's state rendered for readers; nothing here changes it."""

    def __init__(self, engine: TradingEngine) -> None:
        self._engine = engine

    def list_orders(self, params: dict[str, str]) -> list[dict[str, Any]]:
        status = params.get("status", "open")
        if status not in ("open", "closed", "all"):
            raise invalid(f"invalid status: {status}")
        limit = _int_param(params, "limit", 50, 500)
        after = _parse_time(params["after"], "after") if params.get("after") else None
        until = _parse_time(params["until"], "until") if params.get("until") else None
        symbols = {s.strip().upper() for s in params.get("symbols", "").split(",") if s.strip()}
        side = params.get("side")
        selected = [
            o
            for o in self._engine.orders.values()
            if (status == "all" or (status == "open") == o.is_open)
            and (after is None or o.created_ns > after)
            and (until is None or o.created_ns <= until)
            and (not symbols or o.symbol in symbols)
            and (side is None or o.side == side)
        ]
        selected.sort(key=lambda o: o.created_ns, reverse=params.get("direction", "desc") == "desc")
        return [order_json(o) for o in selected[:limit]]

    def account(self) -> dict[str, Any]:
        return account_json(
            self._engine.account_values(),
            account_id=self._engine.config.account_id,
            account_number=self._engine.config.account_number,
            multiplier=self._engine.config.multiplier,
            created_ns=self._engine.created_ns,
        )

    def positions(self) -> list[dict[str, Any]]:
        return [self.position(symbol) for symbol in sorted(self._engine.ledger.positions)]

    def position(self, symbol: str) -> dict[str, Any]:
        position = self._engine.ledger.positions.get(symbol.upper())
        if position is None:
            raise not_found("position does not exist")
        closing_side = "sell" if position.qty > 0 else "buy"
        closing = min(abs(position.qty), self._engine.open_qty(position.symbol, closing_side, None))
        return position_json(
            position,
            self._engine.assets[position.symbol],
            price=self._engine.walks[position.symbol].last_price,
            lastday_price=self._engine.lastday[position.symbol],
            available=position.qty - closing if position.qty > 0 else position.qty + closing,
        )

    def assets(self, params: dict[str, str]) -> list[dict[str, Any]]:
        wanted_status = params.get("status", "active")
        wanted_class = params.get("asset_class", "us_equity")
        exchange = params.get("exchange")
        if wanted_status != "active" or wanted_class != "us_equity":
            return []
        return [
            asset_json(spec, self._engine.walks[spec.symbol].last_price)
            for spec in self._engine.assets.values()
            if exchange is None or spec.exchange == exchange
        ]

    def asset(self, symbol_or_id: str) -> dict[str, Any]:
        for spec in self._engine.assets.values():
            if symbol_or_id.upper() == spec.symbol or symbol_or_id == str(spec.asset_id):
                return asset_json(spec, self._engine.walks[spec.symbol].last_price)
        raise not_found("asset not found")

    def fill_activities(self, params: dict[str, str]) -> list[dict[str, Any]]:
        """``GET /v2/account/activities/FILL``: newest first unless ``direction=asc``, pages of
        ``page_size`` (at most 100), ``page_token`` = the id of the last activity already seen."""
        rows = [
            activity_json(e, self._engine.config.account_id) for e in self._engine.ledger.executions
        ]
        after = _parse_time(params["after"], "after") if params.get("after") else None
        until = _parse_time(params["until"], "until") if params.get("until") else None
        try:
            on_date = date.fromisoformat(params["date"]) if params.get("date") else None
        except ValueError:
            raise invalid("invalid date") from None
        kept = []
        for row, execution in zip(rows, self._engine.ledger.executions, strict=True):
            day = calendar.to_datetime(execution.t_ns).date()
            if (
                (after is None or execution.t_ns > after)
                and (until is None or execution.t_ns <= until)
                and (on_date is None or day == on_date)
            ):
                kept.append(row)
        if params.get("direction", "desc") == "desc":
            kept.reverse()
        token = params.get("page_token")
        if token:
            ids = [row["id"] for row in kept]
            if token not in ids:
                raise invalid("invalid page_token")
            kept = kept[ids.index(token) + 1 :]
        return kept[: _int_param(params, "page_size", 100, 100)]

    def trading_calendar(self, params: dict[str, str]) -> list[dict[str, Any]]:
        today = calendar.to_datetime(self._engine.now_ns).date()
        default_end = today + timedelta(days=30)
        try:
            start = date.fromisoformat(params.get("start", today.isoformat())[:10])
            end = date.fromisoformat(params.get("end", default_end.isoformat())[:10])
        except ValueError:
            raise invalid("invalid start or end") from None
        days = []
        day = start
        while day <= end:
            if calendar.is_trading_day(day):
                days.append(
                    {
                        "date": day.isoformat(),
                        "open": "09:30",
                        "close": "16:00",
                        "session_open": "0400",
                        "session_close": "2000",
                        "settlement_date": (day + timedelta(days=1)).isoformat(),
                    }
                )
            day += timedelta(days=1)
        return days

    def records(self) -> dict[str, Any]:
        """What the admin API reports: every order with how often its client id was submitted
        (rejected resubmissions included), every execution, positions and cash."""
        return {
            "orders": [
                {**order_json(o), "submit_count": self._engine.submissions[o.client_order_id]}
                for o in self._engine.orders.values()
            ],
            "submissions": dict(self._engine.submissions),
            "fills": [
                {
                    **activity_json(e, self._engine.config.account_id),
                    "client_order_id": e.client_order_id,
                    "position_qty": num(e.position_qty),
                }
                for e in self._engine.ledger.executions
            ],
            "positions": self.positions(),
            "cash": num(self._engine.ledger.cash),
            "account": self.account(),
        }
