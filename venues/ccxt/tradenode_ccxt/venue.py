"""The ccxt venue: any exchange ccxt supports, as one venue of the node.

The component is thin: it hands orders, cancels and reconciliation queries to its ``Session``
on the venue's own event loop, and publishes what the session reports, in order, on its own
thread with the base class's helpers (``accepted``, ``filled`` …). What the journal says about
this venue's orders is given to the session's tracker at restore, so a restarted node neither
repeats a fill nor loses an order it had sent.
"""

from __future__ import annotations

import asyncio
import copy
import importlib
import importlib.util
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.component import Envelope, decode_state, encode_state
from node.config import secret
from node.messages import (
    FILL_TYPES,
    Balance,
    CancelOrder,
    DataSourceFailed,
    Instrument,
    MarketData,
    ReconcileVenue,
    SubmitOrder,
    VenueCapabilities,
)
from node.venue import VenueSetup
from node.venue_loop import AsyncVenue
from tradenode_ccxt.config import CcxtVenueConfig
from tradenode_ccxt.tracker import Accepted, Closed, Event, Filled, OrderTracker, TrackedOrder

_CHECKPOINT_WAIT_S = 5.0


@dataclass
class _Saved:
    parents: dict[str, str | None]
    orders: list[TrackedOrder]


class CcxtVenue(AsyncVenue):
    """See the module docstring and ``session.py``."""

    capabilities = VenueCapabilities(reconciles=True)
    #: every fill of this venue, whoever published it: after one the reconciler published (found
    #: at a restart), the venue's balances are read again, so the ledger, which applied the fill
    #: to balances that already held it, ends on the exchange's own numbers
    subscriptions = (DataSourceFailed, *FILL_TYPES)

    def __init__(self, name: str, config: CcxtVenueConfig, setup: VenueSetup) -> None:
        super().__init__(name, config, setup)
        self.config: CcxtVenueConfig = config
        self.tracker = OrderTracker(name)
        self.session: Any = None

    @classmethod
    def check_config(cls, name: str, config: CcxtVenueConfig, config_dir: Path) -> list[str]:
        spec = importlib.util.find_spec("ccxt")
        if spec is None or spec.origin is None:
            return [f"venues.{name}: the ccxt package is not installed"]
        module = Path(spec.origin).parent / "async_support" / f"{config.exchange}.py"
        if not module.is_file():
            return [f"venues.{name}.exchange: ccxt has no exchange {config.exchange!r}"]
        return []

    def restore(self, history: Iterable[Envelope]) -> None:
        for envelope in history:
            self.remember_parent(envelope)
            self.tracker.restore_row(envelope, self.name)
        self.tracker.restored()

    def checkpoint(self) -> bytes | None:
        """The open orders' parents and the tracker's open orders (what was sent, what the node
        was told of each). The tracker lives on the venue's loop: it is read there, after every
        order already handed to it."""
        loop = getattr(self, "loop", None)
        if loop is None or not loop.loop.is_running():
            orders = self.tracker.open_orders()
        else:

            async def read() -> list[TrackedOrder]:
                return [copy.deepcopy(t) for t in self.tracker.open_orders()]

            orders = loop.submit(read()).result(_CHECKPOINT_WAIT_S)
        return encode_state(_Saved(parents=self.parents, orders=orders))

    def restore_checkpoint(self, state: bytes) -> None:
        saved = decode_state(state, _Saved)
        self.parents = saved.parents
        self.tracker.load(saved.orders)

    # -- connecting -----------------------------------------------------------------------------

    async def connect_async(self) -> None:
        # Importing ccxt takes seconds (it loads every exchange): done on a worker thread, so
        # the loop stays free meanwhile (a checkpoint reads the tracker on it, within a bound).
        await asyncio.to_thread(importlib.import_module, "ccxt.pro")
        from tradenode_ccxt.session import ConnectFailed, Session

        secrets = [secret(env).reveal() for env in self.config.credentials.values()]
        self.session = Session(
            self.venue,
            self.config,
            _Outbox(self),
            self.tracker,
            self.book,
            self.ctx.now,
            secrets,
        )
        try:
            await self.session.start()
        except ConnectFailed as exc:
            reason = f"cannot connect: {exc}"
            self.post(lambda: self.disconnected(reason))

    async def disconnect_async(self) -> None:
        if self.session is not None:
            await self.session.close()

    # -- commands -------------------------------------------------------------------------------

    def submit(self, order: SubmitOrder) -> None:
        self.run_async(self.session.submit(order), failed=self._failed(order.client_order_id))

    def cancel(self, command: CancelOrder) -> None:
        if self.session is None:
            self.cancel_rejected(command.client_order_id, f"venue {self.venue} is not connected")
            return
        self.run_async(self.session.cancel(command), failed=self._failed(command.client_order_id))

    def reconcile(self, request: ReconcileVenue) -> None:
        if self.session is None:
            super().reconcile(request)
            return
        self.run_async(self.session.reconcile(request), then=self.ctx.publish)

    def fetch_bars(self, request: Any) -> None:
        from tradenode_ccxt.ohlcv import serve  # ``FetchBars``: ccxt's fetch_ohlcv, paged

        serve(self, request)

    def on_other(self, message: Any) -> None:
        if isinstance(message, FILL_TYPES) and message.venue == self.venue and self.session:
            self.loop.loop.call_soon_threadsafe(
                self.session.fill_published, message.client_order_id, message.trade_id
            )

    def _failed(self, client_order_id: str) -> Any:
        def report(exc: BaseException) -> None:
            from tradenode_ccxt.errors import describe

            self.status("adapter error", f"{client_order_id}: {describe(exc)}")

        return report

    # -- what the session reports (on the component's thread) -----------------------------------

    def publish_events(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Filled):
                self.filled(**vars(event))  # ``Filled`` holds exactly ``filled``'s arguments
            elif isinstance(event, Accepted):
                self.accepted(event.client_order_id, event.venue_order_id)
            elif isinstance(event, Closed):
                if event.kind == "canceled":
                    self.canceled(event.client_order_id, event.reason, event.filled_quantity)
                elif event.kind == "expired":
                    self.expired(event.client_order_id, event.filled_quantity, event.reason)
                else:
                    self.rejected(event.client_order_id, event.reason)


class _Outbox:
    """The session's outbox: each report runs on the venue component's own thread, in order."""

    def __init__(self, venue: CcxtVenue) -> None:
        self.venue = venue

    def events(self, events: list[Event]) -> None:
        self.venue.post(lambda: self.venue.publish_events(events))

    def status(self, status: str, detail: str) -> None:
        self.venue.post(lambda: self.venue.status(status, detail))

    def market(self, message: MarketData) -> None:
        self.venue.post(lambda: self.venue.ctx.publish(message))

    def instruments(self, instruments: list[Instrument]) -> None:
        self.venue.post(lambda: self.venue.instruments_loaded(instruments))

    def balances(self, balances: dict[str, Balance]) -> None:
        self.venue.post(lambda: self.venue.balances_updated(balances))

    def connected(self, capabilities: VenueCapabilities) -> None:
        self.venue.post(lambda: self.venue.connected(capabilities))

    def disconnected(self, reason: str, reconnecting: bool) -> None:
        self.venue.post(lambda: self.venue.disconnected(reason, reconnecting=reconnecting))

    def cancel_rejected(self, client_order_id: str, reason: str) -> None:
        self.venue.post(lambda: self.venue.cancel_rejected(client_order_id, reason))
