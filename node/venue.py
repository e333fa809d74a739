"""The contract every venue plugin implements.

A venue is a component at address ``venue.<name>``. It receives ``SubmitOrder`` and
``CancelOrder`` (only from risk), and publishes what the venue says: ``InstrumentsLoaded`` and
``BalancesUpdated`` on start, market data, the order lifecycle (accepted, rejected, partially
filled, filled, canceled, expired) and ``VenueConnected``/``VenueDisconnected``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from node.component import Component
from node.messages import (
    CancelOrder,
    DataSourceFailed,
    Instrument,
    MarketData,
    Message,
    SubmitOrder,
    VenueDisconnected,
)


def venue_address(name: str) -> str:
    return f"venue.{name}"


class Venue(Component):
    """Base of venue adapters; subclasses handle ``SubmitOrder`` and ``CancelOrder``.

    ``config_dir`` is the directory of the node's config file, for relative paths in settings.
    """

    subscriptions: tuple[type[Message], ...] = (DataSourceFailed,)

    def __init__(self, name: str, config: Any, config_dir: Path) -> None:
        super().__init__(venue_address(name))
        self.venue = name
        self.config = config
        self.config_dir = config_dir

    def instruments(self) -> list[Instrument]:
        """Instruments known before start (a simulated venue knows them from its config)."""
        return []

    def sources(self) -> list[Iterable[MarketData]]:
        """Recorded streams the runtime plays to this venue, in time order (simulated venues)."""
        return []

    def on_message(self, message: Any) -> None:
        if isinstance(message, SubmitOrder):
            self.submit(message)
        elif isinstance(message, CancelOrder):
            self.cancel(message)
        elif isinstance(message, DataSourceFailed):
            if message.address == self.name:
                self.on_source_failed(message)
        else:
            self.on_other(message)

    def submit(self, order: SubmitOrder) -> None:
        raise NotImplementedError

    def cancel(self, command: CancelOrder) -> None:
        raise NotImplementedError

    def on_source_failed(self, failed: DataSourceFailed) -> None:
        """This venue's data broke off: without its market it is gone, and says why."""
        reason = f"data source failed: {failed.error}"
        self.ctx.publish(VenueDisconnected(venue=self.venue, reason=reason, ts=self.ctx.now()))

    def on_other(self, message: Any) -> None:
        """Timers, recorded market data and anything else sent to this venue."""
