"""What the node knows of its markets right now: one book per (venue, symbol), the venues'
instruments, their status and their reported balances.

One ``MarketState`` per node, shared by reference: each venue writes only its own entries, every
other component reads. Keeping one book per venue (instead of a copy in every component that
needs a price) is what makes a replay of a real L2 stream cost about what the venue's own
book costs. The events that carry the same facts (``InstrumentsLoaded``, ``BalancesUpdated``,
``VenueConnected``) are still published and journaled: they are the record, this is the cache.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from decimal import Decimal

from node.book import L2Book
from node.messages import Balance, Instrument, VenueCapabilities


@dataclass
class VenueState:
    """A venue as the rest of the node sees it."""

    name: str
    connected: bool = False
    reason: str = "not connected yet"
    capabilities: VenueCapabilities = field(default_factory=VenueCapabilities)
    balances: dict[str, Balance] | None = None
    instruments_loaded: bool = False
    #: the journal and the venue agree (set by the reconciler after each (re)connect)
    reconciled: bool = False


class MarketState:
    """Books, instruments and venue status of one node; see the module docstring."""

    def __init__(self) -> None:
        self.books: dict[tuple[str, str], L2Book] = {}
        self.instruments: dict[tuple[str, str], Instrument] = {}
        self.venues: dict[str, VenueState] = {}
        self._lock = threading.Lock()

    # -- written by venues ----------------------------------------------------------------------

    def venue(self, name: str) -> VenueState:
        state = self.venues.get(name)
        if state is None:
            with self._lock:
                state = self.venues.setdefault(name, VenueState(name))
        return state

    def book(self, venue: str, symbol: str) -> L2Book:
        """The one book of ``symbol`` on ``venue`` (made on first use)."""
        key = (venue, symbol)
        book = self.books.get(key)
        if book is None:
            with self._lock:
                book = self.books.setdefault(key, L2Book(venue, symbol))
        return book

    def set_instruments(self, venue: str, instruments: list[Instrument]) -> None:
        with self._lock:
            for instrument in instruments:
                self.instruments[(venue, instrument.symbol)] = instrument
        self.venue(venue).instruments_loaded = True

    # -- read by everyone -----------------------------------------------------------------------

    def instrument(self, venue: str, symbol: str) -> Instrument | None:
        return self.instruments.get((venue, symbol))

    def listing(self, symbol: str) -> list[Instrument]:
        """Every venue's instrument for ``symbol``."""
        return [i for (_, s), i in list(self.instruments.items()) if s == symbol]

    def symbols(self) -> set[str]:
        return {s for (_, s) in list(self.instruments)}

    def existing_book(self, venue: str, symbol: str) -> L2Book | None:
        return self.books.get((venue, symbol))

    def mid(self, venue: str, symbol: str) -> Decimal | None:
        book = self.books.get((venue, symbol))
        return book.mid() if book is not None else None

    def consolidated_mid(self, symbol: str, venues: list[str] | None = None) -> Decimal | None:
        """The mid of the best bid and best ask over the connected venues (or the median of the
        venues' own mids when their books cross each other, when that mid would say nothing)."""
        bids: list[Decimal] = []
        asks: list[Decimal] = []
        mids: list[Decimal] = []
        for (venue, s), book in list(self.books.items()):
            if s != symbol or (venues is not None and venue not in venues):
                continue
            state = self.venues.get(venue)
            if state is None or not state.connected:
                continue
            bid, ask = book.top()
            if bid is not None:
                bids.append(bid)
            if ask is not None:
                asks.append(ask)
            if bid is not None and ask is not None:
                mids.append((bid + ask) / 2)
        if not bids or not asks:
            return None
        if max(bids) < min(asks):
            return (max(bids) + min(asks)) / 2
        mids.sort()
        n = len(mids)
        if not n:
            return None
        return mids[n // 2] if n % 2 else (mids[n // 2 - 1] + mids[n // 2]) / 2

    def mark(self, symbol: str, venue: str | None = None) -> Decimal | None:
        """A price to value ``symbol`` at: the venue's own mid when given and known, else the
        consolidated mid over the connected venues, else any venue's mid."""
        if venue is not None:
            mid = self.mid(venue, symbol)
            if mid is not None:
                return mid
        mid = self.consolidated_mid(symbol)
        if mid is not None:
            return mid
        for (_, s), book in list(self.books.items()):
            if s == symbol:
                mid = book.mid()
                if mid is not None:
                    return mid
        return None
