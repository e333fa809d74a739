"""The account: cash per currency, positions with IB-style average costs, realized PnL and the
margin figures TWS reports (NetLiquidation, AvailableFunds, BuyingPower, …).

Conventions follow IB: a position's average cost includes the commission that opened it (and
is per contract times the multiplier for futures); an execution's realized PnL is net of the
commission that closed it; stocks move cash by their value, futures only by PnL and
commission, an FX trade moves both currencies' cash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from .universe import Instrument

D = Decimal
ZERO = D(0)


@dataclass(slots=True)
class Holding:
    instrument: Instrument
    quantity: Decimal = ZERO
    average_price: Decimal = ZERO
    """Per unit, commission included (not yet multiplied by the contract multiplier)."""
    realized: Decimal = ZERO

    @property
    def average_cost(self) -> Decimal:
        """What TWS reports as avgCost: per contract, multiplier included."""
        return self.average_price * self.instrument.contract_multiplier

    def market_value(self, mark: Decimal) -> Decimal:
        return self.quantity * mark * self.instrument.contract_multiplier

    def unrealized(self, mark: Decimal) -> Decimal:
        return (mark - self.average_price) * self.quantity * self.instrument.contract_multiplier


@dataclass(slots=True)
class Ledger:
    base_currency: str
    cash: dict[str, Decimal]
    holdings: dict[int, Holding] = field(default_factory=dict)
    realized: dict[str, Decimal] = field(default_factory=dict)

    def position(self, con_id: int) -> Decimal:
        holding = self.holdings.get(con_id)
        return holding.quantity if holding else ZERO

    def apply(
        self, instrument: Instrument, buy: bool, quantity: Decimal, price: Decimal, fee: Decimal
    ) -> Decimal | None:
        """Book one execution; returns its realized PnL (None when it only opened)."""
        holding = self.holdings.setdefault(instrument.con_id, Holding(instrument))
        multiplier = instrument.contract_multiplier
        sign = 1 if buy else -1
        old = holding.quantity
        closing = min(quantity, abs(old)) if old and (old > 0) != buy else ZERO
        opening = quantity - closing
        gross = ZERO
        realized: Decimal | None = None
        if closing:
            direction = 1 if old > 0 else -1
            gross = (price - holding.average_price) * closing * multiplier * direction
            realized = gross - fee * closing / quantity
        if opening:
            unit_cost = price + sign * (fee * opening / quantity) / (opening * multiplier)
            held = abs(old) - closing
            holding.average_price = (holding.average_price * held + unit_cost * opening) / (
                held + opening
            )
        holding.quantity = old + sign * quantity
        if holding.quantity == 0:
            holding.average_price = ZERO
        currency = instrument.currency
        self.cash.setdefault(currency, ZERO)
        if instrument.sec_type == "CASH":
            realized = None  # FX shows up as the two cash balances, not as PnL
            self.cash[instrument.symbol] = self.cash.get(instrument.symbol, ZERO) + sign * quantity
            self.cash[currency] -= sign * quantity * price + fee
        elif instrument.sec_type == "FUT":
            self.cash[currency] += gross - fee
        else:
            self.cash[currency] -= sign * quantity * price * multiplier + fee
        if realized is not None:
            holding.realized += realized
            self.realized[currency] = self.realized.get(currency, ZERO) + realized
        return realized

    def figures(
        self,
        mark: Callable[[Instrument], Decimal],
        rate: Callable[[str], Decimal],
        buying_power_leverage: Decimal,
    ) -> AccountFigures:
        """The account's values at the given marks and exchange rates (to the base currency)."""
        currencies = set(self.cash) | {h.instrument.currency for h in self.holdings.values()}
        per_currency = {c: _CurrencyFigures(cash=self.cash.get(c, ZERO)) for c in currencies}
        for currency, amount in self.realized.items():
            per_currency[currency].realized = amount
        init = maint = gross = ZERO
        for holding in self.holdings.values():
            if not holding.quantity:
                continue
            instrument = holding.instrument
            price = mark(instrument)
            multiplier = instrument.contract_multiplier
            fx = rate(instrument.currency)
            figures = per_currency[instrument.currency]
            unrealized = holding.unrealized(price)
            notional = abs(holding.quantity) * price * multiplier * fx
            init += notional * instrument.initial_margin_rate
            maint += notional * instrument.maintenance_margin_rate
            if instrument.sec_type == "STK":
                figures.stock_value += holding.market_value(price)
                gross += notional
            if instrument.sec_type == "FUT":
                figures.futures_pnl += unrealized
            if instrument.sec_type != "CASH":
                figures.unrealized += unrealized
        net_liq = sum((f.net_liq * rate(c) for c, f in per_currency.items()), ZERO)
        return AccountFigures(
            base_currency=self.base_currency,
            per_currency={c: (f, rate(c)) for c, f in per_currency.items()},
            net_liquidation=net_liq,
            total_cash=sum((f.cash * rate(c) for c, f in per_currency.items()), ZERO),
            gross_position_value=gross,
            init_margin=init,
            maint_margin=maint,
            buying_power_leverage=buying_power_leverage,
        )

    def margin_increase(
        self, instrument: Instrument, buy: bool, quantity: Decimal, price: Decimal, fx: Decimal
    ) -> Decimal:
        """Initial margin an order would add if it filled completely at ``price``."""
        old = self.position(instrument.con_id)
        new = old + (quantity if buy else -quantity)
        added = abs(new) - abs(old)
        if added <= 0:
            return ZERO
        notional = added * price * instrument.contract_multiplier * fx
        return notional * instrument.initial_margin_rate


@dataclass(slots=True)
class _CurrencyFigures:
    cash: Decimal
    stock_value: Decimal = ZERO
    futures_pnl: Decimal = ZERO
    unrealized: Decimal = ZERO
    realized: Decimal = ZERO

    @property
    def net_liq(self) -> Decimal:
        return self.cash + self.stock_value + self.futures_pnl


@dataclass(frozen=True, slots=True)
class AccountFigures:
    """A snapshot of the account in the keys TWS uses for account values and summaries."""

    base_currency: str
    per_currency: dict[str, tuple[_CurrencyFigures, Decimal]]
    net_liquidation: Decimal
    total_cash: Decimal
    gross_position_value: Decimal
    init_margin: Decimal
    maint_margin: Decimal
    buying_power_leverage: Decimal

    @property
    def available_funds(self) -> Decimal:
        return self.net_liquidation - self.init_margin

    @property
    def excess_liquidity(self) -> Decimal:
        return self.net_liquidation - self.maint_margin

    @property
    def buying_power(self) -> Decimal:
        return max(ZERO, self.available_funds * self.buying_power_leverage)

    @property
    def unrealized(self) -> Decimal:
        return sum((f.unrealized * fx for f, fx in self.per_currency.values()), ZERO)

    @property
    def realized(self) -> Decimal:
        return sum((f.realized * fx for f, fx in self.per_currency.values()), ZERO)

    def summary(self) -> dict[str, tuple[str, str]]:
        """Account-level tags (reqAccountSummary's names) → (value, currency)."""
        base = self.base_currency
        cushion = self.excess_liquidity / self.net_liquidation if self.net_liquidation else ZERO
        money = {
            "NetLiquidation": self.net_liquidation,
            "TotalCashValue": self.total_cash,
            "SettledCash": self.total_cash,
            "AccruedCash": ZERO,
            "BuyingPower": self.buying_power,
            "EquityWithLoanValue": self.net_liquidation,
            "PreviousDayEquityWithLoanValue": self.net_liquidation,
            "GrossPositionValue": self.gross_position_value,
            "RegTEquity": self.net_liquidation,
            "RegTMargin": self.init_margin,
            "SMA": self.available_funds,
            "InitMarginReq": self.init_margin,
            "MaintMarginReq": self.maint_margin,
            "AvailableFunds": self.available_funds,
            "ExcessLiquidity": self.excess_liquidity,
            "FullInitMarginReq": self.init_margin,
            "FullMaintMarginReq": self.maint_margin,
            "FullAvailableFunds": self.available_funds,
            "FullExcessLiquidity": self.excess_liquidity,
            "LookAheadInitMarginReq": self.init_margin,
            "LookAheadMaintMarginReq": self.maint_margin,
            "LookAheadAvailableFunds": self.available_funds,
            "LookAheadExcessLiquidity": self.excess_liquidity,
        }
        tags = {tag: (_money(value), base) for tag, value in money.items()}
        tags["AccountType"] = ("INDIVIDUAL", "")
        tags["Cushion"] = (_number(cushion, "0.000001"), "")
        tags["LookAheadNextChange"] = ("0", "")
        tags["HighestSeverity"] = ("0", "")
        tags["DayTradesRemaining"] = ("-1", "")
        for days in range(1, 5):
            tags[f"DayTradesRemainingT+{days}"] = ("-1", "")
        gross_leverage = (
            self.gross_position_value / self.net_liquidation if self.net_liquidation else ZERO
        )
        tags["Leverage"] = (_number(gross_leverage, "0.0001"), "")
        return tags

    def account_values(self, account: str) -> list[tuple[str, str, str]]:
        """What reqAccountUpdates streams: (key, value, currency) rows."""
        rows = [
            ("AccountCode", account, ""),
            ("AccountReady", "true", ""),
            ("Currency", self.base_currency, self.base_currency),
        ]
        rows += [(tag, value, currency) for tag, (value, currency) in self.summary().items()]
        return rows + self.ledger()

    def ledger(self, currencies: Iterable[str] | None = None) -> list[tuple[str, str, str]]:
        """$LEDGER rows (tag, value, currency) per currency, plus the BASE aggregate."""
        wanted = set(currencies) if currencies is not None else set(self.per_currency)
        rows: list[tuple[str, str, str]] = []
        for currency in sorted(self.per_currency):
            if currency not in wanted:
                continue
            figures, fx = self.per_currency[currency]
            rows += _ledger_rows(figures, fx, currency)
        if currencies is None:
            base = _CurrencyFigures(
                cash=self.total_cash,
                stock_value=sum((f.stock_value * x for f, x in self.per_currency.values()), ZERO),
                futures_pnl=sum((f.futures_pnl * x for f, x in self.per_currency.values()), ZERO),
                unrealized=self.unrealized,
                realized=self.realized,
            )
            rows += _ledger_rows(base, D(1), "BASE")
        return rows


def _ledger_rows(figures: _CurrencyFigures, fx: Decimal, currency: str) -> list:
    return [
        ("CashBalance", _money(figures.cash), currency),
        ("TotalCashBalance", _money(figures.cash), currency),
        ("StockMarketValue", _money(figures.stock_value), currency),
        ("FuturesPNL", _money(figures.futures_pnl), currency),
        ("NetLiquidationByCurrency", _money(figures.net_liq), currency),
        ("UnrealizedPnL", _money(figures.unrealized), currency),
        ("RealizedPnL", _money(figures.realized), currency),
        ("ExchangeRate", _number(fx, "0.000001"), currency),
    ]


def _money(value: Decimal) -> str:
    return _number(value, "0.01")


def _number(value: Decimal, quantum: str) -> str:
    rounded = value.quantize(D(quantum))
    return format(abs(rounded) if rounded == 0 else rounded, "f")
