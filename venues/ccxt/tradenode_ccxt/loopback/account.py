"""The one account this server holds: free and locked balance per asset.

Binance locks what an open order may spend (the quote for a limit buy, the base for a limit
sell) and moves it out of ``locked`` as the order fills; market orders spend ``free`` directly.
Every change records the asset as touched so the server can send ``outboundAccountPosition``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from tradenode_ccxt.loopback.amounts import ZERO, fmt
from tradenode_ccxt.loopback.errors import insufficient_balance


class Account:
    def __init__(self, balances: Mapping[str, Decimal], assets: Iterable[str] = ()) -> None:
        self.free: dict[str, Decimal] = {a: ZERO for a in assets}
        self.locked: dict[str, Decimal] = {a: ZERO for a in assets}
        self.touched: set[str] = set()
        for asset, amount in balances.items():
            self.set_free(asset, amount)

    def set_free(self, asset: str, amount: Decimal) -> None:
        if amount < ZERO:
            raise ValueError(f"a balance cannot be negative: {asset}={amount}")
        self.free[asset] = amount
        self.locked.setdefault(asset, ZERO)
        self.touched.add(asset)

    def require(self, asset: str, amount: Decimal) -> None:
        """Refuse (Binance's -2010) unless ``amount`` of ``asset`` is free."""
        if self.free.get(asset, ZERO) < amount:
            raise insufficient_balance()

    def lock(self, asset: str, amount: Decimal) -> None:
        self.require(asset, amount)
        self.free[asset] -= amount
        self.locked[asset] = self.locked.get(asset, ZERO) + amount
        self.touched.add(asset)

    def unlock(self, asset: str, amount: Decimal) -> None:
        self.locked[asset] -= amount
        self.free[asset] += amount
        self.touched.add(asset)

    def spend_locked(self, asset: str, amount: Decimal) -> None:
        self.locked[asset] -= amount
        self.touched.add(asset)

    def spend_free(self, asset: str, amount: Decimal) -> None:
        self.free[asset] -= amount
        self.touched.add(asset)

    def credit(self, asset: str, amount: Decimal) -> None:
        self.free[asset] = self.free.get(asset, ZERO) + amount
        self.locked.setdefault(asset, ZERO)
        self.touched.add(asset)

    def rows(self, assets: Iterable[str] | None = None) -> list[dict[str, str]]:
        """Binance's ``balances`` rows (``asset``, ``free``, ``locked``), sorted by asset."""
        names = sorted(self.free) if assets is None else sorted(assets)
        return [
            {
                "asset": a,
                "free": fmt(self.free.get(a, ZERO)),
                "locked": fmt(self.locked.get(a, ZERO)),
            }
            for a in names
        ]

    def take_touched(self) -> list[str]:
        touched, self.touched = sorted(self.touched), set()
        return touched
