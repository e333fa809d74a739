"""The book one symbol shows: the recording, minus what our takers consumed, plus our own orders.

Prices are kept as shown (after the ``PriceTransform``); several recorded prices that land on the
same shown price are summed. A taker order of ours consumes shown liquidity at a level until the
recording next updates that level, when the recorded quantity is taken as the truth again.

Every change marks its level dirty; ``flush`` turns the dirty levels into one Binance diff
(``U``/``u`` continuing the previous diff, quantities absolute), so the websocket stream and the
REST snapshot (``lastUpdateId`` = the last diff's ``u``) always agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from tradenode_ccxt.loopback.amounts import ZERO
from tradenode_ccxt.loopback.spec import PriceTransform

BUY, SELL = "BUY", "SELL"
SIDES = (BUY, SELL)


def opposite(side: str) -> str:
    return SELL if side == BUY else BUY


def reaches(side: str, limit: Decimal, level: Decimal) -> bool:
    """Whether an order on ``side`` with ``limit`` may trade at opposite ``level``."""
    return level <= limit if side == BUY else level >= limit


@dataclass(frozen=True, slots=True)
class Diff:
    """One published update: Binance's ``U``, ``u``, ``b``, ``a`` (quantities absolute)."""

    first_id: int
    last_id: int
    bids: list[tuple[Decimal, Decimal]]
    asks: list[tuple[Decimal, Decimal]]


class Book:
    def __init__(self, tick: Decimal, transform: PriceTransform) -> None:
        self.tick = tick
        self.transform = transform
        self.update_id = 0
        self._recorded: dict[str, dict[Decimal, Decimal]] = {BUY: {}, SELL: {}}
        self._market: dict[str, dict[Decimal, Decimal]] = {BUY: {}, SELL: {}}
        self._consumed: dict[str, dict[Decimal, Decimal]] = {BUY: {}, SELL: {}}
        self._own: dict[str, dict[Decimal, Decimal]] = {BUY: {}, SELL: {}}
        self._dirty: dict[str, set[Decimal]] = {BUY: set(), SELL: set()}
        self._skip_ids = 0

    def shown_price(self, recorded: Decimal) -> Decimal:
        return self.transform.apply(recorded, self.tick)

    # --- the recording -------------------------------------------------------------------------

    def reset(
        self,
        bids: Iterable[tuple[Decimal, Decimal]],
        asks: Iterable[tuple[Decimal, Decimal]],
        update_id: int,
    ) -> None:
        """Replace the recorded levels (a snapshot); consumption is forgotten, own orders stay.

        The first snapshot sets the update id; a later one is published as a diff of every
        level it changed, continuing the ids already sent.
        """
        for side in SIDES:
            self._dirty[side].update(self._market[side])
            self._recorded[side].clear()
            self._market[side].clear()
            self._consumed[side].clear()
        for side, levels in ((BUY, bids), (SELL, asks)):
            for price, qty in levels:
                self.record(side, price, qty)
        if self.update_id == 0:
            self.update_id = update_id
            self._dirty[BUY].clear()
            self._dirty[SELL].clear()

    def record(self, side: str, recorded_price: Decimal, qty: Decimal) -> Decimal:
        """Set a recorded level's quantity (zero removes it); returns the shown price touched."""
        book = self._recorded[side]
        old = book.pop(recorded_price, ZERO)
        if qty > ZERO:
            book[recorded_price] = qty
        shown = self.shown_price(recorded_price)
        market = self._market[side]
        total = market.get(shown, ZERO) - old + qty
        if total > ZERO:
            market[shown] = total
        else:
            market.pop(shown, None)
        self._consumed[side].pop(shown, None)
        self._dirty[side].add(shown)
        return shown

    # --- what is shown -------------------------------------------------------------------------

    def available(self, side: str, price: Decimal) -> Decimal:
        """Recorded liquidity at a shown price that our takers have not consumed."""
        left = self._market[side].get(price, ZERO) - self._consumed[side].get(price, ZERO)
        return left if left > ZERO else ZERO

    def own(self, side: str, price: Decimal) -> Decimal:
        return self._own[side].get(price, ZERO)

    def shown(self, side: str, price: Decimal) -> Decimal:
        return self.available(side, price) + self.own(side, price)

    def prices(self, side: str) -> list[Decimal]:
        """Every shown price with recorded or own quantity, best first."""
        keys = set(self._market[side]) | set(self._own[side])
        return sorted(keys, reverse=side == BUY)

    def levels(self, side: str, limit: int | None = None) -> list[tuple[Decimal, Decimal]]:
        out: list[tuple[Decimal, Decimal]] = []
        for price in self.prices(side):
            qty = self.shown(side, price)
            if qty > ZERO:
                out.append((price, qty))
                if limit is not None and len(out) >= limit:
                    break
        return out

    def _with_liquidity(self, side: str) -> set[Decimal]:
        """Recorded prices with liquidity left (without sorting: this runs on every update)."""
        consumed = self._consumed[side]
        exhausted = {p for p in consumed if self.available(side, p) <= ZERO}
        return self._market[side].keys() - exhausted

    def best(self, side: str) -> tuple[Decimal, Decimal] | None:
        prices = self._with_liquidity(side) | self._own[side].keys()
        if not prices:
            return None
        price = max(prices) if side == BUY else min(prices)
        return price, self.shown(side, price)

    def best_market(self, side: str) -> Decimal | None:
        """The best price with recorded (not own) liquidity left."""
        prices = self._with_liquidity(side)
        if not prices:
            return None
        return max(prices) if side == BUY else min(prices)

    # --- our own effect ------------------------------------------------------------------------

    def consume(self, side: str, price: Decimal, qty: Decimal) -> None:
        consumed = self._consumed[side]
        consumed[price] = consumed.get(price, ZERO) + qty
        self._dirty[side].add(price)

    def add_own(self, side: str, price: Decimal, qty: Decimal) -> None:
        own = self._own[side]
        total = own.get(price, ZERO) + qty
        if total > ZERO:
            own[price] = total
        else:
            own.pop(price, None)
        self._dirty[side].add(price)

    # --- publication ---------------------------------------------------------------------------

    def skip_update_ids(self, count: int) -> None:
        """Fault: the next diff leaves ``count`` update ids out, as a lost message would."""
        self._skip_ids += count

    def flush(self, recorded_last_id: int | None = None) -> Diff | None:
        """The dirty levels as the next diff (None when nothing changed).

        ``u`` follows the recording's own ids when a recorded diff is in the batch, so a client
        sees the capture's ids; our own changes take the next id.
        """
        if not (self._dirty[BUY] or self._dirty[SELL]):
            return None
        first = self.update_id + 1 + self._skip_ids
        last = max(first, recorded_last_id or 0)
        self._skip_ids = 0
        self.update_id = last
        bids = [(p, self.shown(BUY, p)) for p in sorted(self._dirty[BUY], reverse=True)]
        asks = [(p, self.shown(SELL, p)) for p in sorted(self._dirty[SELL])]
        self._dirty[BUY].clear()
        self._dirty[SELL].clear()
        return Diff(first, last, bids, asks)
