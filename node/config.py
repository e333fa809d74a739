"""TOML → frozen msgspec config structs. One config file is one account is one node.

Every problem is collected, not just the first: a bad file exits with one line per problem,
naming the file, the key path and what was expected, and nothing starts (no journal is even
created). Each venue section is converted into its plugin's own config struct and checked by the
plugin (``Venue.check_config``: files that must exist …); each order's ``params`` into its
algorithm's params struct. ``tradenode check`` runs exactly this, so it catches every value that
``run`` would trip on. Secrets are never in the file: a key ending in ``_env`` names an
environment variable, and an error about it names the key and the variable, never a value.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import msgspec

from node.execution import ReadinessConfig
from node.messages import Instrument, Side
from node.plugins import Plugins
from node.registry import RegistrationError
from node.risk import RiskConfig, RiskConfigError, build_checks
from node.runtime.base import RestartPolicy
from node.validation import convert_all


class ConfigError(ValueError):
    """Every problem found in one config file, one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Secret:
    """A secret read from the environment; its repr and str never show the value."""

    __slots__ = ("_value", "env")

    def __init__(self, env: str, value: str) -> None:
        self.env = env
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret(env={self.env!r})"

    __str__ = __repr__


def secret(env: str) -> Secret:
    """The value of environment variable ``env`` as a ``Secret``; KeyError names the variable."""
    try:
        return Secret(env, os.environ[env])
    except KeyError:
        raise KeyError(f"environment variable {env} is not set") from None


#: beyond any real price or quantity, and past what the router's float kernel carries
MAX_AMOUNT = Decimal("1e15")
#: the latest an order may be sent after start: a replay steps through every second of the wait
MAX_AFTER_MS = 86_400_000


class _Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class ControlSection(_Strict):
    """``[node.control]``: the node's local control API (and dashboard).

    ``token_env`` names the environment variable holding the bearer token; it is required for
    any address other than loopback. Port 0 picks a free port (the CLI finds it in the journal's
    lock file).
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 0
    token_env: str | None = None
    #: the last events kept for a stream that reconnects with ``Last-Event-ID`` (about 1 KB
    #: each: the default holds at most ~10 MB, a few hours of one algorithm's progress)
    events_kept: int = 10_000

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in [0, 65535], got {self.port}")
        if not 1 <= self.events_kept <= 1_000_000:
            raise ValueError(f"events_kept must be in [1, 1000000], got {self.events_kept}")


class NodeSection(_Strict):
    name: str
    journal: str = "journal.sqlite"
    #: SQLite's ``synchronous``: "full" makes each row durable through a power cut or an OS
    #: crash (an fsync per commit), "normal" only through a crash of the process. Unset: "full"
    #: for a live node (a row lost to a power cut may be an order the exchange has), "normal"
    #: for a replay (its journal can be made again).
    journal_sync: Literal["normal", "full"] | None = None
    valuation_currency: str = "USD"
    runtime: Literal["live", "replay"] = "live"
    ready: ReadinessConfig = ReadinessConfig()
    control: ControlSection = ControlSection()
    #: write components' state to the journal every this many messages (0: only on stop)
    checkpoint_every: int = 100_000

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("name must not be empty")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0, got {self.checkpoint_every}")


class RouterConfig(_Strict):
    """``[router]``. ``price_collar_pct`` leaves out book levels further than that from the
    consolidated mid (a stub quote far from the market is never swept);
    ``max_children_per_venue`` bounds the price bands of a balance-bound buy."""

    mode: Literal["split", "best-venue"] = "split"
    max_book_age_ms: float = 5_000.0
    max_reroutes: int = 3
    price_collar_pct: Decimal = Decimal(5)
    max_children_per_venue: int = 8

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_book_age_ms) and self.max_book_age_ms > 0):
            raise ValueError(f"max_book_age_ms must be > 0, got {self.max_book_age_ms}")
        if not 0 <= self.max_reroutes <= 100:
            raise ValueError(f"max_reroutes must be in [0, 100], got {self.max_reroutes}")
        if not (self.price_collar_pct.is_finite() and 0 < self.price_collar_pct <= 100):
            raise ValueError(f"price_collar_pct must be in (0, 100], got {self.price_collar_pct}")
        if not 1 <= self.max_children_per_venue <= 100:
            raise ValueError(
                f"max_children_per_venue must be in [1, 100], got {self.max_children_per_venue}"
            )


class OrderSpec(_Strict):
    """A parent order the node submits once it has started (demos, scheduled jobs)."""

    parent_id: str
    symbol: str
    side: Side
    quantity: Decimal
    algo: str = "route"
    limit_price: Decimal | None = None
    venues: list[str] | None = None
    params: dict[str, Any] = {}
    after_ms: float = 0.0

    def __post_init__(self) -> None:
        if not self.parent_id.strip():
            raise ValueError("parent_id must not be empty")
        if not (self.quantity.is_finite() and 0 < self.quantity < MAX_AMOUNT):
            raise ValueError(
                f"quantity must be a finite number > 0 and below 1e15, got {self.quantity}"
            )
        if self.limit_price is not None and not (
            self.limit_price.is_finite() and 0 < self.limit_price < MAX_AMOUNT
        ):
            raise ValueError(
                f"limit_price must be a finite number > 0 and below 1e15, got {self.limit_price}"
            )
        if not (math.isfinite(self.after_ms) and 0 <= self.after_ms <= MAX_AFTER_MS):
            raise ValueError(
                f"after_ms must be a finite number in [0, {MAX_AFTER_MS}] (a day), "
                f"got {self.after_ms}"
            )


class VenueEntry(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    plugin: str
    settings: Any


class NodeConfig(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    node: NodeSection
    router: RouterConfig
    risk: RiskConfig
    restart: RestartPolicy
    venues: dict[str, VenueEntry]
    orders: list[OrderSpec]
    #: plugin-owned top-level sections (``tradenode_register_sections``), converted
    sections: dict[str, Any] = {}

    @property
    def directory(self) -> Path:
        return Path(self.path).resolve().parent

    @property
    def journal_path(self) -> Path:
        return self.directory / self.node.journal


_TOP_LEVEL = {"node", "router", "risk", "restart", "venues", "orders"}
_VENUE_HEADER = re.compile(r"^\s*\[\s*venues\s*\.\s*(\"[^\"]+\"|'[^']+'|[A-Za-z0-9_-]+)\s*\]")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _convert(file: str, prefix: str, data: Any, cls: type, problems: list[str]) -> Any:
    value, found = convert_all(data, cls, prefix)
    problems.extend(f"{file}: {line}" for line in found)
    return value


def _env_fields(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every ``*_env`` field inside a converted config, as (key path, variable name)."""
    if isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            field_value = getattr(value, name)
            if name.endswith("_env") and isinstance(field_value, str):
                yield f"{path}.{name}", field_value
            else:
                yield from _env_fields(field_value, f"{path}.{name}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _env_fields(item, f"{path}.{key}")


def _duplicate_venues(file: str, text: str) -> list[str]:
    seen: dict[str, int] = {}
    problems = []
    for line_no, line in enumerate(text.splitlines(), 1):
        match = _VENUE_HEADER.match(line)
        if match:
            name = match.group(1).strip("\"'")
            if name in seen:
                problems.append(
                    f"{file}:{line_no}: venues.{name}: two venues named {name!r} "
                    f"(first at line {seen[name]}); each venue needs its own name"
                )
            else:
                seen[name] = line_no
    return problems


def _read(path: str | Path) -> str:
    file = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError([f"{file}: cannot read: {exc.strerror or exc}"]) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [f"{file}:{line}: not UTF-8 text (byte {exc.start}); save the file as UTF-8"]
        ) from None


def load_config(path: str | Path, plugins: Plugins) -> NodeConfig:
    """Read and validate a node config; raises ``ConfigError`` listing every problem."""
    file = str(path)
    text = _read(path)
    problems = _duplicate_venues(file, text)
    if problems:
        raise ConfigError(problems)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{file}: not valid TOML: {exc}"]) from None

    section_types = {r.name: r.config_type or r.target for r in plugins.registries["section"]}
    top_level = _TOP_LEVEL | set(section_types)
    for key in sorted(set(raw) - top_level):
        problems.append(
            f"{file}: {key}: unknown key (expected one of {', '.join(sorted(top_level))})"
        )
    sections = {
        name: _convert(file, name, raw[name], cls, problems)
        for name, cls in section_types.items()
        if name in raw and cls is not None
    }
    if "node" not in raw:
        problems.append(f'{file}: node: missing section [node] (needs at least name = "...")')
    node = (
        _convert(file, "node", raw.get("node", {}), NodeSection, problems)
        if "node" in raw
        else None
    )
    router = _convert(file, "router", raw.get("router", {}), RouterConfig, problems)
    restart = _convert(file, "restart", raw.get("restart", {}), RestartPolicy, problems)
    risk = _convert(file, "risk", raw.get("risk", {}), RiskConfig, problems)
    if risk is not None:
        try:
            build_checks(risk, plugins.risk_checks)
        except RiskConfigError as exc:
            problems.extend(f"{file}: risk.{line}" for line in exc.problems)
    orders = _convert(file, "orders", raw.get("orders", []), list[OrderSpec], problems) or []

    venues: dict[str, VenueEntry] = {}
    raw_venues = raw.get("venues", {})
    if not isinstance(raw_venues, dict):
        problems.append(
            f"{file}: venues: expected a table of venues, got {type(raw_venues).__name__}"
        )
        raw_venues = {}
    config_dir = Path(file).resolve().parent
    declared: dict[str, list[Instrument] | None] = {}
    for name, section in raw_venues.items():
        key = f"venues.{name}"
        if not isinstance(section, dict):
            problems.append(f"{file}: {key}: expected a table, got {type(section).__name__}")
            continue
        section = dict(section)
        plugin = section.pop("plugin", None)
        if not isinstance(plugin, str):
            problems.append(f"{file}: {key}.plugin: missing (which venue plugin runs this venue?)")
            continue
        if plugin not in plugins.venues:
            known = ", ".join(sorted(r.name for r in plugins.venues)) or "none installed"
            problems.append(
                f"{file}: {key}.plugin: unknown venue plugin {plugin!r} (known: {known})"
            )
            continue
        registration = plugins.venues.get(plugin)
        config_type = registration.config_type
        settings = _convert(file, key, section, config_type, problems) if config_type else section
        if settings is None:
            continue
        venues[name] = VenueEntry(name=name, plugin=plugin, settings=settings)
        try:
            cls = registration.target
        except RegistrationError as exc:
            problems.append(f"{file}: {key}.plugin: {exc}")
            continue
        try:
            found = cls.check_config(name, settings, config_dir)
        except OSError as exc:  # a path the file system refuses (a name too long …)
            found = [f"{key}: cannot check its files: {exc.strerror or exc}"]
        problems.extend(f"{file}: {line}" for line in found)
        declared[name] = cls.declared_instruments(name, settings)

    problems.extend(_check_orders(file, orders, raw_venues, declared, plugins))

    for name, entry in venues.items():
        for key, env in _env_fields(entry.settings, f"venues.{name}"):
            if not _ENV_NAME.fullmatch(env):
                problems.append(
                    f"{file}: {key}: must name an environment variable (letters, digits and _),"
                    " not hold a value: put the secret in the environment, its name here"
                )
            elif env not in os.environ:
                problems.append(f"{file}: {key}: environment variable {env} is not set")
    if node is not None and node.control.token_env is not None:
        env = node.control.token_env
        if not _ENV_NAME.fullmatch(env):
            problems.append(f"{file}: node.control.token_env: must name an environment variable")
        elif env not in os.environ:
            problems.append(
                f"{file}: node.control.token_env: environment variable {env} is not set"
            )
        elif not os.environ[env].strip():
            problems.append(f"{file}: node.control.token_env: environment variable {env} is empty")
    control = node.control if node is not None else None
    if (
        control is not None
        and control.enabled
        and control.token_env is None
        and control.host not in ("127.0.0.1", "localhost", "::1")
    ):
        problems.append(
            f"{file}: node.control.host: {control.host} is not loopback; set "
            "node.control.token_env to the variable holding the API's bearer token"
        )

    if problems:
        raise ConfigError(problems)
    return NodeConfig(
        path=file,
        node=node,
        router=router,
        risk=risk,
        restart=restart,
        venues=venues,
        orders=orders,
        sections=sections,
    )


def _check_orders(
    file: str,
    orders: list[OrderSpec],
    raw_venues: dict[str, Any],
    declared: dict[str, list[Instrument] | None],
    plugins: Plugins,
) -> list[str]:
    """What ``run`` would refuse in the config's orders, found before anything runs."""
    problems: list[str] = []
    seen: dict[str, int] = {}
    for i, order in enumerate(orders):
        key = f"{file}: orders[{i}]"
        if order.parent_id in seen:
            problems.append(
                f"{key}.parent_id: {order.parent_id!r} is also orders[{seen[order.parent_id]}]; "
                "each order needs its own parent_id"
            )
        seen.setdefault(order.parent_id, i)
        for venue in order.venues or ():
            if venue not in raw_venues:
                problems.append(f"{key}.venues: no venue named {venue!r}")
        if order.algo not in plugins.algos:
            known = ", ".join(sorted(r.name for r in plugins.algos)) or "none installed"
            problems.append(f"{key}.algo: unknown algorithm {order.algo!r} (known: {known})")
        else:
            params_type = plugins.algos.get(order.algo).config_type
            if params_type is not None:
                _, found = convert_all(order.params, params_type, f"orders[{i}].params")
                problems.extend(f"{file}: {line}" for line in found)
            elif order.params:
                problems.append(f"{key}.params: algorithm {order.algo!r} takes no parameters")
        usable = [v for v in declared if order.venues is None or v in order.venues]
        if usable and all(declared[v] is not None for v in usable):
            listing = [i for v in usable for i in declared[v] or () if i.symbol == order.symbol]
            if not listing:
                known = sorted({i.symbol for v in usable for i in declared[v] or ()})
                problems.append(
                    f"{key}.symbol: no venue lists {order.symbol} (listed: {', '.join(known)})"
                )
            elif order.quantity < min(i.lot_size for i in listing):
                finest = min(i.lot_size for i in listing)
                problems.append(
                    f"{key}.quantity: {order.quantity} is smaller than the finest lot size "
                    f"({finest}) of the venues listing {order.symbol}"
                )
    return problems
