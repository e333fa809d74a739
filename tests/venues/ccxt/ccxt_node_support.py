"""Helpers for the ccxt venue tests: loopback Binance exchanges on their own threads, node configs
that point ccxt venues at them, and a whole node on the live runtime read back through a
``Recorder`` and its journal.

Every wait is bounded: a test that waits for something that never comes fails, it never hangs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from tradenode_ccxt.loopback import (
    DEFAULT_API_KEY,
    DEFAULT_API_SECRET,
    LoopbackExchangeThread,
    MarketSetup,
    StaticBook,
)

from node.config import load_config
from node.journal import Journal
from node.messages import (
    FILL_TYPES,
    FINAL_ORDER_EVENTS,
    BalancesUpdated,
    Message,
    NodeReady,
    ParentOrderCompleted,
    SubmitOrder,
    SubmitParentOrder,
    VenueStatus,
)
from node.node import Node
from node.portfolio import Ledger
from node.runtime.recorder import Recorder

D = Decimal
KEY_ENV = "TN_TEST_CCXT_KEY"
SECRET_ENV = "TN_TEST_CCXT_SECRET"
SYMBOL = "BTC/USDT"
TIMEOUT = 30.0
#: ccxt options for the loopback: spot only, and a 1.5 s receive window (an order of unknown
#: fate is looked up after it, instead of Binance's 10 s)
OPTIONS = (
    '{ fetchCurrencies = false, fetchMargins = false, fetchMarkets = { types = ["spot"] }, '
    "recvWindow = 1500 }"
)


def static_market(bids: Iterable[tuple[str, str]], asks: Iterable[tuple[str, str]]) -> MarketSetup:
    return MarketSetup(feed=StaticBook(bids=list(bids), asks=list(asks)))


def start_exchange(*markets: MarketSetup, **kwargs: Any) -> LoopbackExchangeThread:
    """A loopback Binance on its own thread, in step mode unless ``speed`` is given."""
    kwargs.setdefault("speed", None)
    return LoopbackExchangeThread(markets or (MarketSetup(),), **kwargs).start()


def venue_section(name: str, url: str, **settings: Any) -> str:
    """A ``[venues.NAME]`` section for a ccxt venue on the loopback at ``url``; ``settings``
    add keys or replace the defaults."""
    values: dict[str, str] = {
        "plugin": '"ccxt"',
        "exchange": '"binance"',
        "symbols": f'["{SYMBOL}"]',
        "api_key_env": f'"{KEY_ENV}"',
        "secret_env": f'"{SECRET_ENV}"',
        "base_url": f'"{url}"',
        "options": OPTIONS,
    }
    for key, value in settings.items():
        values[key] = (
            str(value).lower() if isinstance(value, bool) else f"{value!r}".replace("'", '"')
        )
    return "\n".join([f"[venues.{name}]", *(f"{k} = {v}" for k, v in values.items())])


def node_config(
    directory: Path,
    venues: dict[str, str],
    *,
    router: str = "max_book_age_ms = 600000",
    venue_settings: dict[str, dict[str, Any]] | None = None,
    ready_timeout_s: float = 60,
    extra: str = "",
) -> Path:
    """A live node config with a ccxt venue per (name, loopback URL)."""
    parts = [
        "[node]",
        'name = "ccxt-test"',
        'valuation_currency = "USDT"',
        'runtime = "live"',
        "[node.control]",
        "enabled = false",
        "[node.ready]",
        f"timeout_s = {ready_timeout_s}",
        "[router]",
        router,
        "[risk.checks.duplicate_id]",
        "[risk.checks.instrument]",
        "[risk.checks.increments]",
        "[risk.checks.min_notional]",
    ]
    for name, url in venues.items():
        parts.append(venue_section(name, url, **(venue_settings or {}).get(name, {})))
    parts.append(extra)
    path = directory / "node.toml"
    path.write_text("\n".join(parts) + "\n")
    return path


def credentials(monkeypatch: Any, secret: str = DEFAULT_API_SECRET) -> None:
    monkeypatch.setenv(KEY_ENV, DEFAULT_API_KEY)
    monkeypatch.setenv(SECRET_ENV, secret)


class LiveNode:
    """A whole node (``load_config`` + ``Node``, live runtime) with a ``Recorder``."""

    def __init__(self, config: Path, plugins: Any, journal: Path | None = None) -> None:
        self.recorder = Recorder()
        self.journal_path = journal or config.parent / "journal.sqlite"
        self.node = Node(
            load_config(config, plugins),
            plugins,
            journal_path=self.journal_path,
            runtime_kind="live",
            extra=[self.recorder],
        )
        self.node.start()
        self.stopped = False

    def of(self, *types: type[Message]) -> list[Any]:
        return self.recorder.of_type(*types)

    def wait(self, predicate: Callable[[Any], bool], what: str, timeout: float = TIMEOUT) -> Any:
        if not self.recorder.wait_for(predicate, timeout):
            raise AssertionError(f"timed out waiting for {what}")
        return next(m for m in self.recorder.of_type(Message) if predicate(m))

    def ready(self) -> NodeReady:
        ready = self.wait(lambda m: isinstance(m, NodeReady), "the node to be ready", 90)
        assert ready.missing == {}, ready.missing
        return ready

    def route(self, parent: SubmitParentOrder, timeout: float = TIMEOUT) -> ParentOrderCompleted:
        self.node.submit(parent)
        return self.wait(
            lambda m: isinstance(m, ParentOrderCompleted) and m.parent_id == parent.parent_id,
            f"{parent.parent_id} to complete",
            timeout,
        )

    def send_child(self, order: SubmitOrder, to: str = "risk") -> None:
        """A child order straight to risk (and on to its venue), as the router sends one; or
        to the venue itself (``to="venue.NAME"``), as risk forwards one."""
        self.node.runtime.send(to, order, "test")

    def final(self, client_order_id: str, timeout: float = TIMEOUT) -> Any:
        """The order's final event (filled, canceled, expired, rejected)."""
        return self.wait(
            lambda m: (
                isinstance(m, FINAL_ORDER_EVENTS)
                and m.client_order_id == client_order_id
                and (not isinstance(m, FILL_TYPES) or m.leaves_quantity <= 0)
            ),
            f"{client_order_id} to finish",
            timeout,
        )

    def child_orders(self) -> dict[str, SubmitOrder]:
        """Every child order as journaled (sent by the router to risk, by risk to a venue)."""
        return {
            m.client_order_id: m for m in self.node.journal.messages() if isinstance(m, SubmitOrder)
        }

    def fills(self, venue: str | None = None) -> list[Any]:
        return [f for f in self.of(*FILL_TYPES) if venue is None or f.venue == venue]

    def statuses(self, venue: str, status: str | None = None) -> list[VenueStatus]:
        return [
            m
            for m in self.of(VenueStatus)
            if m.venue == venue and (status is None or m.status == status)
        ]

    def settled_balances(self, venue: str) -> dict[str, Decimal] | None:
        """The venue's balance totals as published after its last fill (None before that)."""
        events = [m for m in self.of(BalancesUpdated, *FILL_TYPES) if m.venue == venue]
        if not events or not isinstance(events[-1], BalancesUpdated):
            return None
        return {c: b.total for c, b in events[-1].balances.items()}

    def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            self.node.stop()

    def ledger(self) -> Ledger:
        """The portfolio's accounts as a restart would rebuild them: every journaled message
        replayed through the same ledger (``Portfolio.restore``)."""
        ledger = Ledger("USDT")
        journal = Journal(self.journal_path, readonly=True)
        try:
            for message in journal.messages():
                ledger.apply(message)
        finally:
            journal.close()
        return ledger


def buy(parent_id: str, quantity: str, **kwargs: Any) -> SubmitParentOrder:
    return SubmitParentOrder(
        parent_id=parent_id, symbol=SYMBOL, side="buy", quantity=D(quantity), **kwargs
    )


def limit_order(
    client_order_id: str, venue: str, side: str, quantity: str, price: str, **kwargs: Any
) -> SubmitOrder:
    return SubmitOrder(
        client_order_id=client_order_id,
        venue=venue,
        symbol=SYMBOL,
        side=side,  # type: ignore[arg-type]
        quantity=D(quantity),
        limit_price=D(price),
        **kwargs,
    )


def sell(parent_id: str, quantity: str, **kwargs: Any) -> SubmitParentOrder:
    return SubmitParentOrder(
        parent_id=parent_id, symbol=SYMBOL, side="sell", quantity=D(quantity), **kwargs
    )


def server_totals(exchange: LoopbackExchangeThread) -> dict[str, Decimal]:
    """Each asset's total (free + locked) in the exchange's own records."""
    return {a: D(r["free"]) + D(r["locked"]) for a, r in exchange.admin.balances().items()}


def server_position(exchange: LoopbackExchangeThread) -> Decimal:
    """The base quantity bought minus sold, from the exchange's own fill records."""
    return sum(
        (D(t["qty"]) * (1 if t["side"] == "BUY" else -1) for t in exchange.admin.trades()),
        D(0),
    )
