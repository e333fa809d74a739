"""One venue's L2 order book: nautilus_trader's ``OrderBook`` plus an exact Decimal level map.

nautilus_trader's Cython book keeps the levels ordered and sweeps them in C
(``simulate_fills``); the Decimal map gives exact sizes for fills, fees and queue positions, which
float levels cannot. Both are updated together, so they never disagree.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import count

from nautilus_trader.core.uuid import UUID4
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import BookOrder
from nautilus_trader.model.enums import BookType, OrderSide
from nautilus_trader.model.identifiers import ClientOrderId, InstrumentId, StrategyId, TraderId
from nautilus_trader.model.objects import Price, Quantity
from nautilus_trader.model.orders import MarketOrder

from node.messages import BookDeltas, BookLevel, BookSnapshot, Side

_TRADER = TraderId("TRADENODE-001")
_STRATEGY = StrategyId("BOOK-001")
_probe_ids = count()


def precision_of(step: Decimal) -> int:
    """Decimal places of a tick or lot size (0.01 → 2)."""
    exponent = step.normalize().as_tuple().exponent
    return max(0, -int(exponent))


class L2Book:
    """Aggregated price levels of one instrument on one venue.

    ``price_precision`` and ``size_precision`` are the decimal places nautilus_trader stores; they
    must cover every price and size the venue sends (a finer one raises rather than rounds).
    """

    def __init__(
        self, venue: str, symbol: str, price_precision: int, size_precision: int = 8
    ) -> None:
        self.venue = venue
        self.symbol = symbol
        self.price_precision = price_precision
        self.size_precision = size_precision
        self._id = InstrumentId.from_str(f"{symbol.replace('/', '')}.{venue.upper()}")
        self._book = OrderBook(self._id, BookType.L2_MBP)
        self.levels: dict[Side, dict[Decimal, Decimal]] = {"buy": {}, "sell": {}}
        self.ts_last = 0
        self.sequence = 0
        self.version = 0  # bumped on every change; lets readers conflate recomputation
        #: per side, the levels changed since nautilus_trader's book last saw them
        self._dirty: dict[Side, dict[Decimal, Decimal]] = {"buy": {}, "sell": {}}

    # -- updates --------------------------------------------------------------------------------

    def apply(self, message: BookSnapshot | BookDeltas) -> None:
        if isinstance(message, BookSnapshot):
            self._book.clear(message.ts)
            self.levels = {"buy": {}, "sell": {}}
            self._dirty = {"buy": {}, "sell": {}}
        for side, updates in (("buy", message.bids), ("sell", message.asks)):
            levels, dirty = self.levels[side], self._dirty[side]
            for level in updates:
                price, size = level.price, level.size
                if size:
                    levels[price] = size
                else:
                    levels.pop(price, None)
                dirty[price] = size
        self.ts_last = message.ts
        self.sequence = message.sequence
        self.version += 1

    def set_level(self, side: Side, price: Decimal, size: Decimal, ts: int) -> None:
        """Set a level's absolute size (0 removes it). ``side`` is the resting side: buy = bid."""
        if size > 0:
            self.levels[side][price] = size
        else:
            self.levels[side].pop(price, None)
        self._dirty[side][price] = size
        self.ts_last = max(self.ts_last, ts)
        self.version += 1

    def _flush(self) -> None:
        """Hand the levels changed since the last read to nautilus_trader's book, each once.

        This is the conflation: a burst of deltas on a level costs one book update when
        someone next reads the ordered book, not one per delta.
        """
        book, ts = self._book, self.ts_last
        for side, book_side in (("buy", OrderSide.BUY), ("sell", OrderSide.SELL)):
            dirty = self._dirty[side]
            for price, size in dirty.items():
                if price.normalize().as_tuple().exponent < -self.price_precision:
                    raise ValueError(
                        f"{self.venue} {self.symbol}: price {price} finer than "
                        f"{self.price_precision} decimals"
                    )
                order = BookOrder(
                    book_side,
                    Price(float(price), self.price_precision),
                    Quantity(float(size), self.size_precision),
                    0,
                )
                if size > 0:
                    book.update(order, ts)
                else:
                    book.delete(order, ts)
            dirty.clear()

    # -- reads ----------------------------------------------------------------------------------

    def best(self, side: Side) -> Decimal | None:
        """Best resting price on ``side`` (buy = best bid, sell = best ask)."""
        if self._dirty["buy"] or self._dirty["sell"]:
            self._flush()
        price = self._book.best_bid_price() if side == "buy" else self._book.best_ask_price()
        return None if price is None else price.as_decimal()

    @property
    def best_bid(self) -> Decimal | None:
        return self.best("buy")

    @property
    def best_ask(self) -> Decimal | None:
        return self.best("sell")

    def mid(self) -> Decimal | None:
        bid, ask = self.best_bid, self.best_ask
        if bid is None or ask is None:
            return None
        return (bid + ask) / 2

    def size_at(self, side: Side, price: Decimal) -> Decimal:
        return self.levels[side].get(price, Decimal(0))

    def sweep(self, taker_side: Side, quantity: Decimal) -> list[BookLevel]:
        """The resting levels a taker order of ``quantity`` would meet, best first, with their
        full sizes (the last one may be larger than what is left to fill)."""
        if quantity <= 0:
            return []
        probe = MarketOrder(
            _TRADER,
            _STRATEGY,
            self._id,
            ClientOrderId(f"probe-{next(_probe_ids)}"),
            OrderSide.BUY if taker_side == "buy" else OrderSide.SELL,
            Quantity(float(quantity), self.size_precision),
            UUID4(),
            0,
        )
        if self._dirty["buy"] or self._dirty["sell"]:
            self._flush()
        resting = self.levels["sell" if taker_side == "buy" else "buy"]
        touched = self._book.simulate_fills(probe, self.price_precision, self.size_precision, True)
        out = []
        for price, _ in touched:
            exact = price.as_decimal()
            size = resting.get(exact)
            if size is not None:
                out.append(BookLevel(exact, size))
        return out

    def snapshot(self) -> BookSnapshot:
        """The whole book as a message (sorted, best first), as of its last update."""
        bids = [BookLevel(p, s) for p, s in sorted(self.levels["buy"].items(), reverse=True)]
        asks = [BookLevel(p, s) for p, s in sorted(self.levels["sell"].items())]
        return BookSnapshot(
            venue=self.venue,
            symbol=self.symbol,
            bids=bids,
            asks=asks,
            sequence=self.sequence,
            ts=self.ts_last,
        )
