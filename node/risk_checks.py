"""The built-in pre-trade checks, registered through the hook every plugin uses.

Each check is ``check(limits, order, view) -> str | None``: None lets the order through, a string
refuses it and says why with its numbers. Each has its own frozen limits struct, filled from its
``[risk.checks.<name>]`` section (unknown keys are errors); a check without a section is off.
Checks that only need the instrument take an empty section (``[risk.checks.instrument]``).

Common rules:

* A value is "over the limit" when strictly greater: an order exactly at a limit passes.
* Market orders are valued at the best opposite price on their venue, else its mid; with neither
  the check refuses ("no price") instead of guessing. Money limits are in the valuation currency:
  a quote currency other than it is converted by the mark of ``QUOTE/<valuation>``, and without
  that mark the check refuses.
* A check that needs the instrument and does not know it refuses.
* Position checks use the position over all venues of the symbol plus every open order on the
  order's side (the worst case if they all fill), and never refuse an order that leaves the
  exposure smaller than it is now.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import TYPE_CHECKING

import msgspec

from node import hookimpl
from node.messages import Instrument, SubmitOrder
from node.portfolio import EXACT, ZERO, MarkUnavailable
from node.risk import NS_PER_SECOND, fmt_money, fmt_ratio

if TYPE_CHECKING:
    from node.registry import Registry
    from node.risk import RiskView


class _Limits(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    def _positive(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            if isinstance(value, dict):
                for key, item in value.items():
                    if item <= 0:
                        raise ValueError(f"{name}.{key} must be > 0, got {item}")
            elif value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")

    def _at_least_one(self, *names: str) -> None:
        if all(getattr(self, name) in (None, {}) for name in names):
            raise ValueError(f"set at least one of {', '.join(names)}")


# ------------------------------------------------------------------------------------------------
# Limits structs


class DuplicateIdLimits(_Limits, frozen=True):
    """Refuse a client order id risk has seen before (passed or refused)."""


class InstrumentLimits(_Limits, frozen=True):
    """Refuse an instrument the venue has not listed or marks as not tradable."""


class IncrementsLimits(_Limits, frozen=True):
    """Refuse a limit price off the tick or a quantity off the lot."""


class QuantityLimits(_Limits, frozen=True):
    """The instrument's min/max quantity; ``max_quantity`` (per symbol) may cap it lower."""

    max_quantity: dict[str, Decimal] = {}

    def __post_init__(self) -> None:
        self._positive("max_quantity")


class MinNotionalLimits(_Limits, frozen=True):
    """The instrument's minimum notional, in its quote currency."""


class PriceCollarLimits(_Limits, frozen=True):
    """Refuse a price more than ``max_deviation_bps`` from the venue's mid (fat finger).

    With ``aggressive_only`` only prices on the crossing side count (a buy above the mid, a sell
    below). A market order is checked at the best opposite price.
    """

    max_deviation_bps: Decimal
    aggressive_only: bool = False

    def __post_init__(self) -> None:
        self._positive("max_deviation_bps")


class MaxOrderNotionalLimits(_Limits, frozen=True):
    max_notional: Decimal

    def __post_init__(self) -> None:
        self._positive("max_notional")


class MaxPositionLimits(_Limits, frozen=True):
    """Per symbol over all venues: quantity (per symbol, base units), notional, % of NAV."""

    max_quantity: dict[str, Decimal] = {}
    max_notional: Decimal | None = None
    max_pct_nav: Decimal | None = None

    def __post_init__(self) -> None:
        self._at_least_one("max_quantity", "max_notional", "max_pct_nav")
        self._positive("max_quantity", "max_notional", "max_pct_nav")


class MaxGrossExposureLimits(_Limits, frozen=True):
    """Σ |position| · mark over every symbol, absolute and/or as % of NAV."""

    max_notional: Decimal | None = None
    max_pct_nav: Decimal | None = None

    def __post_init__(self) -> None:
        self._at_least_one("max_notional", "max_pct_nav")
        self._positive("max_notional", "max_pct_nav")


class FreeBalanceLimits(_Limits, frozen=True):
    """A buy needs its quote (with the taker fee), a sell its base, on the order's venue,
    beyond what open orders there already hold."""


class MaxOpenOrdersLimits(_Limits, frozen=True):
    max_total: int | None = None
    max_per_venue: int | None = None

    def __post_init__(self) -> None:
        self._at_least_one("max_total", "max_per_venue")
        self._positive("max_total", "max_per_venue")


class OrderRateLimits(_Limits, frozen=True):
    """Orders sent to one venue within the last second / minute."""

    max_per_second: int | None = None
    max_per_minute: int | None = None

    def __post_init__(self) -> None:
        self._at_least_one("max_per_second", "max_per_minute")
        self._positive("max_per_second", "max_per_minute")


class DailyOrderCountLimits(_Limits, frozen=True):
    """Orders sent today (UTC), over all venues: every order may trade, so in-flight ones count."""

    max_orders: int

    def __post_init__(self) -> None:
        self._positive("max_orders")


class DailyNotionalLimits(_Limits, frozen=True):
    """Notional filled today + the remainder of open orders + this order."""

    max_notional: Decimal

    def __post_init__(self) -> None:
        self._positive("max_notional")


# ------------------------------------------------------------------------------------------------
# Helpers


def _instrument(order: SubmitOrder, view: RiskView) -> Instrument | str:
    instrument = view.instrument(order.venue, order.symbol)
    if instrument is None:
        return f"unknown instrument {order.symbol} on {order.venue}"
    return instrument


def _price(order: SubmitOrder, view: RiskView) -> Decimal | str:
    price = view.order_price(order)
    if price is None:
        return f"no price for market {order.side} {order.symbol} on {order.venue} (empty book)"
    return price


def _no_mark(exc: MarkUnavailable, what: str) -> str:
    return f"cannot value {what}: {exc}"


def _exposure(view: RiskView, symbol: str, extra: SubmitOrder | None = None) -> Decimal:
    """Worst |position| in ``symbol`` over all venues if every open order on one side (and
    ``extra``) filled."""
    with localcontext(EXACT):
        held = view.position(symbol)
        buys = view.open_quantity(symbol, "buy")
        sells = view.open_quantity(symbol, "sell")
        if extra is not None:
            if extra.side == "buy":
                buys += extra.quantity
            else:
                sells += extra.quantity
        return max(abs(held + buys), abs(held - sells))


# ------------------------------------------------------------------------------------------------
# Checks


def check_duplicate_id(limits: DuplicateIdLimits, order: SubmitOrder, view: RiskView) -> str | None:
    if order.client_order_id in view.seen_ids:
        return f"client order id {order.client_order_id!r} was already used"
    return None


def check_instrument(limits: InstrumentLimits, order: SubmitOrder, view: RiskView) -> str | None:
    instrument = _instrument(order, view)
    if isinstance(instrument, str):
        return instrument
    if not instrument.tradable:
        return f"{order.symbol} on {order.venue} is not tradable"
    return None


def check_increments(limits: IncrementsLimits, order: SubmitOrder, view: RiskView) -> str | None:
    instrument = _instrument(order, view)
    if isinstance(instrument, str):
        return instrument
    with localcontext(EXACT):
        price = order.limit_price
        tick = instrument.tick_size
        if order.order_type == "limit" and price is not None and tick > 0 and price % tick != 0:
            return f"price {price} is not a multiple of the tick {instrument.tick_size}"
        if instrument.lot_size > 0 and order.quantity % instrument.lot_size != 0:
            return f"quantity {order.quantity} is not a multiple of the lot {instrument.lot_size}"
    return None


def check_quantity(limits: QuantityLimits, order: SubmitOrder, view: RiskView) -> str | None:
    instrument = _instrument(order, view)
    if isinstance(instrument, str):
        return instrument
    if order.quantity < instrument.min_quantity:
        return f"quantity {order.quantity} < min {instrument.min_quantity}"
    bounds = [
        (instrument.max_quantity, "instrument max"),
        (limits.max_quantity.get(order.symbol), "limit"),
    ]
    for most, what in bounds:
        if most is not None and order.quantity > most:
            return f"quantity {order.quantity} > {what} {most}"
    return None


def check_min_notional(limits: MinNotionalLimits, order: SubmitOrder, view: RiskView) -> str | None:
    instrument = _instrument(order, view)
    if isinstance(instrument, str):
        return instrument
    if instrument.min_notional <= 0:
        return None
    price = _price(order, view)
    if isinstance(price, str):
        return price
    with localcontext(EXACT):
        notional = order.quantity * price
    if notional < instrument.min_notional:
        quote = instrument.quote
        return (
            f"notional {fmt_money(notional)} {quote} < min {fmt_money(instrument.min_notional)} "
            f"{quote}"
        )
    return None


def check_price_collar(limits: PriceCollarLimits, order: SubmitOrder, view: RiskView) -> str | None:
    mid = view.mid(order.venue, order.symbol)
    if mid is None:
        return f"no mid for {order.symbol} on {order.venue} to check the price against"
    price = _price(order, view)
    if isinstance(price, str):
        return price
    with localcontext(EXACT):
        move = price - mid if order.side == "buy" else mid - price  # > 0: crossing side
        deviation = move if limits.aggressive_only else abs(move)
        if deviation * 10_000 <= limits.max_deviation_bps * mid:
            return None
    bps = fmt_ratio(abs(price - mid) * 10_000, mid)
    what = "limit" if order.order_type == "limit" else "best opposite price"
    return (
        f"{order.side} {what} {price} is {bps} bps from mid {mid} > {limits.max_deviation_bps} bps"
    )


def check_max_order_notional(
    limits: MaxOrderNotionalLimits, order: SubmitOrder, view: RiskView
) -> str | None:
    price = _price(order, view)
    if isinstance(price, str):
        return price
    cur = view.valuation_currency
    try:
        with localcontext(EXACT):
            notional = view.to_valuation(
                order.quantity * price * view.multiplier_of(order), view.quote_of(order)
            )
    except MarkUnavailable as exc:
        return _no_mark(exc, "the order's notional")
    if notional > limits.max_notional:
        return f"notional {fmt_money(notional)} {cur} > {fmt_money(limits.max_notional)} {cur}"
    return None


def check_max_position(limits: MaxPositionLimits, order: SubmitOrder, view: RiskView) -> str | None:
    symbol = order.symbol
    after = _exposure(view, symbol, order)
    if after <= _exposure(view, symbol):
        return None  # it does not add to the worst case
    most = limits.max_quantity.get(symbol)
    if most is not None and after > most:
        now = view.position(symbol)
        return f"position {symbol} would reach {after} > {most} (now {now}, with open orders)"
    if limits.max_notional is None and limits.max_pct_nav is None:
        return None
    price = _price(order, view)
    if isinstance(price, str):
        return price
    cur = view.valuation_currency
    try:
        with localcontext(EXACT):
            notional = view.to_valuation(
                after * price * view.multiplier_of(order), view.quote_of(order)
            )
    except MarkUnavailable as exc:
        return _no_mark(exc, f"the position in {symbol}")
    if limits.max_notional is not None and notional > limits.max_notional:
        return (
            f"position {symbol} would be worth {fmt_money(notional)} {cur} > "
            f"{fmt_money(limits.max_notional)} {cur}"
        )
    if limits.max_pct_nav is not None:
        return _over_nav_share(f"position {symbol}", notional, limits.max_pct_nav, view)
    return None


def _over_nav_share(what: str, value: Decimal, max_pct: Decimal, view: RiskView) -> str | None:
    cur = view.valuation_currency
    try:
        nav = view.ledger.nav()
    except MarkUnavailable as exc:
        return _no_mark(exc, "NAV")
    if nav <= 0:
        return f"{what} worth {fmt_money(value)} {cur} against a NAV of {fmt_money(nav)} {cur}"
    with localcontext(EXACT):
        if value * 100 <= max_pct * nav:
            return None
    pct = fmt_ratio(value * 100, nav)
    return (
        f"{what} would be worth {fmt_money(value)} {cur} = {pct}% of NAV "
        f"{fmt_money(nav)} {cur} > {max_pct}%"
    )


def check_max_gross_exposure(
    limits: MaxGrossExposureLimits, order: SubmitOrder, view: RiskView
) -> str | None:
    price = _price(order, view)
    if isinstance(price, str):
        return price
    cur = view.valuation_currency
    symbols = {p.symbol for p in view.ledger.aggregates.values() if p.quantity != 0}
    symbols.update(o.order.symbol for o in view.open_orders.values())
    symbols.add(order.symbol)
    before = after = ZERO
    try:
        with localcontext(EXACT):
            for symbol in sorted(symbols):
                extra = order if symbol == order.symbol else None
                worst_before = _exposure(view, symbol)
                worst_after = _exposure(view, symbol, extra)
                if worst_after == 0:
                    continue
                if symbol == order.symbol:
                    mark, instrument = price, view.instrument(order.venue, order.symbol)
                else:
                    mark, instrument = view.ledger.mark(symbol), view.instrument_of(symbol)
                    if mark is None or instrument is None:
                        raise MarkUnavailable([symbol])
                assert instrument is not None
                rate = view.to_valuation(Decimal(1), instrument.quote) * instrument.multiplier
                before += worst_before * mark * rate
                after += worst_after * mark * rate
    except MarkUnavailable as exc:
        return _no_mark(exc, "gross exposure")
    if after <= before:
        return None
    if limits.max_notional is not None and after > limits.max_notional:
        return (
            f"gross exposure would be {fmt_money(after)} {cur} > "
            f"{fmt_money(limits.max_notional)} {cur}"
        )
    if limits.max_pct_nav is not None:
        return _over_nav_share("gross exposure", after, limits.max_pct_nav, view)
    return None


def check_free_balance(limits: FreeBalanceLimits, order: SubmitOrder, view: RiskView) -> str | None:
    instrument = _instrument(order, view)
    if isinstance(instrument, str):
        return instrument
    if order.side == "buy":
        price = _price(order, view)
        if isinstance(price, str):
            return price
        currency = instrument.quote
        with localcontext(EXACT):
            need = order.quantity * price * (1 + instrument.taker_fee)
    else:
        currency, need = instrument.base, order.quantity
    try:
        free = view.free(order.venue, currency)
    except LookupError as exc:
        return f"cannot tell what open orders hold: {exc}"
    if need > free:
        return (
            f"needs {fmt_money(need)} {currency}, free {fmt_money(free)} {currency} "
            f"on {order.venue}"
        )
    return None


def check_max_open_orders(
    limits: MaxOpenOrdersLimits, order: SubmitOrder, view: RiskView
) -> str | None:
    if limits.max_total is not None:
        count = view.open_order_count()
        if count + 1 > limits.max_total:
            return f"open orders {count} + 1 > {limits.max_total}"
    if limits.max_per_venue is not None:
        count = view.open_order_count(order.venue)
        if count + 1 > limits.max_per_venue:
            return f"open orders on {order.venue} {count} + 1 > {limits.max_per_venue}"
    return None


def check_order_rate(limits: OrderRateLimits, order: SubmitOrder, view: RiskView) -> str | None:
    for most, window_s, label in (
        (limits.max_per_second, 1, "second"),
        (limits.max_per_minute, 60, "minute"),
    ):
        if most is None:
            continue
        sent = view.orders_sent_within(order.venue, window_s * NS_PER_SECOND)
        if sent + 1 > most:
            return f"orders to {order.venue} in the last {label}: {sent} + 1 > {most}"
    return None


def check_daily_order_count(
    limits: DailyOrderCountLimits, order: SubmitOrder, view: RiskView
) -> str | None:
    sent = view.orders_today()
    if sent + 1 > limits.max_orders:
        return f"orders today {sent} + 1 > {limits.max_orders}"
    return None


def check_daily_notional(
    limits: DailyNotionalLimits, order: SubmitOrder, view: RiskView
) -> str | None:
    price = _price(order, view)
    if isinstance(price, str):
        return price
    cur = view.valuation_currency
    try:
        with localcontext(EXACT):
            filled = view.ledger.value(view.ledger.daily(view.now).volume)
            working = ZERO
            for open_order in view.open_orders.values():
                o = open_order.order
                o_price = view.open_order_price(open_order)
                if o_price is None:
                    return f"no price for open order {o.client_order_id}"
                working += view.to_valuation(open_order.leaves * o_price, view.quote_of(o))
            this = view.to_valuation(order.quantity * price, view.quote_of(order))
            total = filled + working + this
    except MarkUnavailable as exc:
        return _no_mark(exc, "today's notional")
    if total > limits.max_notional:
        return (
            f"notional today {fmt_money(filled)} filled + {fmt_money(working)} open + "
            f"{fmt_money(this)} this order = {fmt_money(total)} {cur} > "
            f"{fmt_money(limits.max_notional)} {cur}"
        )
    return None


#: The built-in checks in the order they run: identity and static instrument rules first, then
#: the price, then exposure and money, then counts.
BUILTIN_CHECKS = (
    ("duplicate_id", check_duplicate_id, DuplicateIdLimits),
    ("instrument", check_instrument, InstrumentLimits),
    ("increments", check_increments, IncrementsLimits),
    ("quantity", check_quantity, QuantityLimits),
    ("min_notional", check_min_notional, MinNotionalLimits),
    ("price_collar", check_price_collar, PriceCollarLimits),
    ("max_order_notional", check_max_order_notional, MaxOrderNotionalLimits),
    ("max_position", check_max_position, MaxPositionLimits),
    ("max_gross_exposure", check_max_gross_exposure, MaxGrossExposureLimits),
    ("free_balance", check_free_balance, FreeBalanceLimits),
    ("max_open_orders", check_max_open_orders, MaxOpenOrdersLimits),
    ("order_rate", check_order_rate, OrderRateLimits),
    ("daily_order_count", check_daily_order_count, DailyOrderCountLimits),
    ("daily_notional", check_daily_notional, DailyNotionalLimits),
)


@hookimpl
def tradenode_register_risk_checks(registry: Registry) -> None:
    for name, check, limits_type in BUILTIN_CHECKS:
        registry.add(name, check, limits_type)
