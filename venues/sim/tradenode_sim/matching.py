"""Matching against a recorded book: taker sweeps, and resting orders filled by recorded trades.

Queue model for a resting limit order (documented because fills depend on it):

* On arrival it joins the back of its price level: ``queue_ahead`` is the recorded size already
  shown at that price on its side (0 if the price improves the best price).
* Only recorded trades fill it, and only trades after it arrived whose aggressor is on the other
  side: a trade at its price first eats ``queue_ahead``, and what is left of the trade fills the
  order; a trade through its price (a lower sell print for a resting buy) fills it up to the
  trade's size, since the whole level at its price must have traded first.
* When a book update shows less size at its price than ``queue_ahead``, orders ahead were
  canceled: ``queue_ahead`` shrinks to the shown size (the order never moves back).
* A book that crosses the order without a trade does not fill it: quotes are not executions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from node.book import L2Book
from node.messages import BookLevel, Instrument, Side, SubmitOrder, TradeTick

_BPS = Decimal("0.0001")


@dataclass
class RestingOrder:
    order: SubmitOrder
    venue_order_id: str
    price: Decimal
    remaining: Decimal
    queue_ahead: Decimal
    filled: Decimal = Decimal(0)
    #: what the venue holds back for it: quote currency for a buy, base for a sell
    reserved: Decimal = Decimal(0)
    rate_fees: Decimal = Decimal(0)  # its fees at the commission rate so far
    fees: Decimal = Decimal(0)  # its fees charged so far (at least the minimum commission)


@dataclass(frozen=True)
class Execution:
    price: Decimal
    quantity: Decimal
    liquidity: str  # "maker" | "taker"


@dataclass
class PricingModel:
    """How the simulated venue turns a recorded level into a fill price."""

    tick: Decimal
    spread_multiplier: Decimal = Decimal(1)
    slippage_bps: Decimal = Decimal(0)

    def taker_price(self, side: Side, level_price: Decimal, mid: Decimal | None) -> Decimal:
        price = level_price
        if self.spread_multiplier != 1 and mid is not None:
            price = mid + (price - mid) * self.spread_multiplier
        if self.slippage_bps:
            sign = 1 if side == "buy" else -1
            price = price * (1 + sign * self.slippage_bps * _BPS)
        if price == level_price:
            return price
        # Snap away from the trader: a simulated venue must never fill better than it says.
        rounding = ROUND_CEILING if side == "buy" else ROUND_FLOOR
        return (price / self.tick).to_integral_value(rounding) * self.tick


@dataclass
class SymbolBook:
    """One instrument on the simulated venue: its recorded book and our resting orders."""

    instrument: Instrument
    book: L2Book
    pricing: PricingModel
    resting: dict[str, RestingOrder] = field(default_factory=dict)

    def marketable_levels(
        self, side: Side, quantity: Decimal, limit: Decimal | None
    ) -> list[BookLevel]:
        """The levels a taker order would take, clipped to its quantity and limit price.

        The limit is held against the price the order would really get (after the spread
        multiplier and slippage), never the raw recorded level.
        """
        out: list[BookLevel] = []
        left = quantity
        mid = self.book.mid() if limit is not None else None
        for level in self.book.sweep(side, quantity):
            if limit is not None:
                price = self.pricing.taker_price(side, level.price, mid)
                if price > limit if side == "buy" else price < limit:
                    break
            take = min(left, level.size)
            out.append(BookLevel(level.price, take))
            left -= take
            if left <= 0:
                break
        return out

    def take(self, side: Side, levels: list[BookLevel], ts: int) -> list[Execution]:
        """Execute a sweep; our fills remove what they took until the stream refreshes it."""
        mid = self.book.mid()
        resting_side: Side = "sell" if side == "buy" else "buy"
        executions = []
        for level in levels:
            shown = self.book.size_at(resting_side, level.price)
            self.book.set_level(resting_side, level.price, shown - level.size, ts)
            price = self.pricing.taker_price(side, level.price, mid)
            executions.append(Execution(price, level.size, "taker"))
        return executions

    def would_cross(self, side: Side, price: Decimal) -> Decimal | None:
        """The opposite best price a limit order at ``price`` would take, or None."""
        best = self.book.best("sell" if side == "buy" else "buy")
        if best is None:
            return None
        crosses = price >= best if side == "buy" else price <= best
        return best if crosses else None

    def rest(self, resting: RestingOrder) -> None:
        resting.queue_ahead = self.book.size_at(resting.order.side, resting.price)
        self.resting[resting.order.client_order_id] = resting

    def on_book_update(self) -> None:
        for r in self.resting.values():
            shown = self.book.size_at(r.order.side, r.price)
            if shown < r.queue_ahead:
                r.queue_ahead = shown

    def on_trade(self, trade: TradeTick) -> list[tuple[RestingOrder, Execution]]:
        """Fills of resting orders that this recorded trade reaches, oldest order first."""
        fills = []
        used = Decimal(0)  # of this trade, by our own earlier orders: one print fills once
        for r in list(self.resting.values()):
            if r.order.side == trade.aggressor:
                continue
            through = trade.price < r.price if r.order.side == "buy" else trade.price > r.price
            at = trade.price == r.price
            if not (through or at):
                continue
            available = trade.size - used
            if at:
                eaten = min(r.queue_ahead, available)
                r.queue_ahead -= eaten
                available -= eaten
            quantity = min(available, r.remaining)
            if quantity > 0:
                used += quantity
                fills.append((r, Execution(r.price, quantity, "maker")))
        return fills
