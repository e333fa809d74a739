"""The account's records in a JSON file, so they survive a server restart (``--state FILE``).

Saved after every change that touched the account (atomically: a temporary file, then a rename),
loaded at start. What is kept: balances, every order with its fills and queue position, refused
submissions, client-order-id submission counts and the id counters. What is not: the replay
position (a restarted server replays its capture from the start) and what our takers consumed
from the recorded book.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradenode_ccxt.loopback.matching import Engine
from tradenode_ccxt.loopback.orders import Order

VERSION = 1


def dump(engine: Engine) -> dict[str, Any]:
    account = engine.account
    return {
        "version": VERSION,
        "balances": {
            a: {"free": str(account.free[a]), "locked": str(account.locked.get(a, 0))}
            for a in sorted(account.free)
        },
        "submissions": engine.submissions,
        "rejections": engine.rejections,
        "markets": {
            symbol: {
                "next_order_id": m.next_order_id,
                "next_trade_id": m.next_trade_id,
                "orders": [o.state() for o in m.orders.values()],
            }
            for symbol, m in engine.markets.items()
        },
    }


def restore(engine: Engine, state: dict[str, Any]) -> None:
    """Put saved records back into a freshly built engine (same symbols)."""
    if state.get("version") != VERSION:
        raise ValueError(f"state file version {state.get('version')!r}, expected {VERSION}")
    account = engine.account
    for asset, row in state["balances"].items():
        account.free[asset] = Decimal(row["free"])
        account.locked[asset] = Decimal(row["locked"])
    engine.submissions.update(state["submissions"])
    engine.rejections.extend(state["rejections"])
    for symbol, saved in state["markets"].items():
        m = engine.market(symbol)
        m.next_order_id = saved["next_order_id"]
        m.next_trade_id = saved["next_trade_id"]
        for raw in saved["orders"]:
            order = Order.from_state(raw)
            m.orders[order.order_id] = order
            m.by_client_id.setdefault(order.client_order_id, []).append(order.order_id)
            m.fills.extend(order.fills)
            if order.on_book:
                m.resting.append(order)
                m.book.add_own(order.side, order.price, order.remaining)
        m.fills.sort(key=lambda f: f.trade_id)


def save(path: Path, engine: Engine) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(dump(engine), indent=1))
    os.replace(tmp, path)


def load(path: Path, engine: Engine) -> bool:
    """Restore from ``path`` if it exists; returns whether it did."""
    if not path.exists():
        return False
    restore(engine, json.loads(path.read_text()))
    return True
