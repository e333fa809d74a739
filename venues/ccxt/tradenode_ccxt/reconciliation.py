"""The venue's answer to the reconciler: what the exchange knows, asked through ccxt.

Orders are asked before trades: a trade made meanwhile is then among the trades, and no order
report counts a fill the answer lacks. Every fill is reported with the node's client order id
(from the tracker, the order reports, or the order itself when only its exchange id is known).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from node.messages import FillReport, OrderStatusReport, ReconcileVenue, VenueReconciled
from tradenode_ccxt import convert

if TYPE_CHECKING:
    from tradenode_ccxt.session import Session

log = logging.getLogger("tradenode.ccxt")
#: how far before the journal's last fill the reconciliation asks for fills (clock differences)
_RECONCILE_LOOKBACK_MS = 10 * 60 * 1000
_MAX_TRADE_PAGES = 20


async def answer(session: Session, request: ReconcileVenue) -> VenueReconciled:
    """What the exchange knows: the asked orders, open orders, fills since, balances; an
    answer with ``error`` when it cannot be asked."""
    try:
        return await _answer(session, request)
    except Exception as exc:
        return VenueReconciled(
            venue=session.venue,
            error=f"cannot reconcile: {session.describe(exc)}",
            ts=session.now(),
        )


async def _answer(session: Session, request: ReconcileVenue) -> VenueReconciled:
    ex = session.exchange
    queried: list[OrderStatusReport] = []
    unknown: list[str] = []
    venue_ids: dict[str, str] = dict(session.tracker.by_venue_id)
    finished: list[tuple[str, OrderStatusReport]] = []
    # Orders first, then trades: a trade made meanwhile is then in the trades, never
    # counted by an order report without its fill.
    for cid in request.client_order_ids:
        # Every id asked about is answered. One this venue does not track was on its way here
        # when the node stopped (journaled to risk, never to the venue), or finished after the
        # venue's last checkpoint: it is looked up all the same, in each symbol traded here.
        tracked = session.tracker.get(cid)
        where = (
            [(tracked.order.symbol, tracked.order.ts)]
            if tracked is not None
            else [(symbol, 0) for symbol in session.config.symbols]
        )
        found = None
        for symbol, sent_ts in where:
            found = await session.retrying(
                "look up an order", session.find_order, cid, symbol, sent_ts
            )
            if found is not None:
                break
        if found is None:
            if not session.rule.lookup:
                raise LookupError(
                    f"{cid} is not among {session.venue}'s open and recent orders, and "
                    f"{session.config.exchange} cannot be asked by client id"
                )
            unknown.append(cid)
            continue
        report = convert.order_report(found, cid)
        queried.append(report)
        venue_ids[report.venue_order_id] = cid
        if report.status != "open" and report.filled_quantity > 0:
            finished.append((cid, report))
    open_orders = []
    for symbol in session.config.symbols:
        for order in await ex.fetch_open_orders(symbol):
            cid = order.get("clientOrderId") or f"{session.venue}:{order.get('id')}"
            report = convert.order_report(order, cid)
            open_orders.append(report)
            venue_ids[report.venue_order_id] = cid
    trades = await _trades_since(session, request.since_ts)
    for cid, report in finished:
        tracked = session.tracker.get(cid)
        if tracked is not None:
            tracked.venue_order_id = tracked.venue_order_id or report.venue_order_id
            trades.extend(await session.order_trades(tracked))
        else:
            trades.extend(await session.trades_of(report.venue_order_id, report.symbol))
    fills = await _fill_reports(session, trades, venue_ids)
    raw_balance = await ex.fetch_balance()
    keep = {c for i in session.instruments.values() for c in (i.base, i.quote)}
    positions = []
    derivatives = {s for s, i in session.instruments.items() if i.is_derivative}
    if derivatives and ex.has.get("fetchPositions"):
        positions = convert.positions(await ex.fetch_positions(sorted(derivatives)), derivatives)
    return VenueReconciled(
        venue=session.venue,
        open_orders=open_orders,
        queried=queried,
        unknown=unknown,
        fills=fills,
        balances=convert.balances(raw_balance, keep),
        positions=positions,
        ts=session.now(),
    )


async def _trades_since(session: Session, since_ts: int) -> list[dict[str, Any]]:
    """The account's trades in every configured symbol from a little before ``since_ts``
    (the clocks of the node and the exchange differ; repeats are dropped later)."""
    since = max(0, since_ts // 1_000_000 - _RECONCILE_LOOKBACK_MS) if since_ts else None
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for symbol in session.config.symbols:
        cursor = since
        for _ in range(_MAX_TRADE_PAGES):
            page = await session.exchange.fetch_my_trades(symbol, cursor)
            fresh = [t for t in page if (str(t.get("order")), str(t.get("id"))) not in seen]
            seen.update((str(t.get("order")), str(t.get("id"))) for t in fresh)
            out.extend(fresh)
            if not fresh or cursor is None:
                break
            last = page[-1].get("timestamp")
            if last is None or last == cursor:
                break
            cursor = last
    return out


async def _fill_reports(
    session: Session, trades: list[dict[str, Any]], venue_ids: dict[str, str]
) -> list[FillReport]:
    reports: dict[tuple[str, str], FillReport] = {}
    for trade in trades:
        venue_id = str(trade.get("order"))
        cid = venue_ids.get(venue_id)
        if cid is None:
            try:
                order = await session.exchange.fetch_order(venue_id, trade.get("symbol"))
            except Exception as exc:
                log.warning(
                    "venue %s: order %s: %s", session.venue, venue_id, session.describe(exc)
                )
                order = {}
            cid = venue_ids[venue_id] = order.get("clientOrderId") or f"{session.venue}:{venue_id}"
        ins = session.instruments.get(trade.get("symbol") or "")
        report = convert.fill_report(trade, cid, ins.quote if ins else "")
        reports[(report.venue_order_id, report.trade_id)] = report
    return sorted(reports.values(), key=lambda r: (r.ts, r.trade_id))
