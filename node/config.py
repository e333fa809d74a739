"""TOML → frozen msgspec config structs. One config file is one account is one node.

Every problem is collected, not just the first: a bad file exits with one line per problem,
naming the file, the key path and what was expected, and nothing starts. Each venue section is
converted into its plugin's own config struct, so a typo in a plugin's key is caught the same way.
Secrets are never in the file: a key ending in ``_env`` names an environment variable.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import msgspec

from node.messages import Side
from node.plugins import Plugins
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


class _Strict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class NodeSection(_Strict):
    name: str
    journal: str = "journal.sqlite"
    journal_sync: Literal["normal", "full"] = "normal"
    valuation_currency: str = "USD"
    runtime: Literal["live", "replay"] = "live"
    #: live runtime only: how fast recorded sources are played (1.0 = real time).
    replay_speed: float = 1.0


class RouterConfig(_Strict):
    mode: Literal["split", "best-venue"] = "split"
    max_book_age_ms: float = 5_000.0
    max_reroutes: int = 3


class OrderSpec(_Strict):
    """A parent order the node submits once it has started (demos, scheduled jobs)."""

    parent_id: str
    symbol: str
    side: Side
    quantity: Decimal
    algo: str = "route"
    limit_price: Decimal | None = None
    venues: list[str] | None = None
    after_ms: float = 0.0


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

    @property
    def directory(self) -> Path:
        return Path(self.path).resolve().parent

    @property
    def journal_path(self) -> Path:
        return self.directory / self.node.journal


_TOP_LEVEL = {"node", "router", "risk", "restart", "venues", "orders"}
_VENUE_HEADER = re.compile(r"^\s*\[\s*venues\s*\.\s*(\"[^\"]+\"|'[^']+'|[A-Za-z0-9_-]+)\s*\]")


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


def load_config(path: str | Path, plugins: Plugins) -> NodeConfig:
    """Read and validate a node config; raises ``ConfigError`` listing every problem."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{file}: cannot read: {exc.strerror or exc}"]) from None
    problems = _duplicate_venues(file, text)
    if problems:
        raise ConfigError(problems)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{file}: not valid TOML: {exc}"]) from None

    for key in sorted(set(raw) - _TOP_LEVEL):
        problems.append(
            f"{file}: {key}: unknown key (expected one of {', '.join(sorted(_TOP_LEVEL))})"
        )
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
        config_type = plugins.venues.get(plugin).config_type
        settings = _convert(file, key, section, config_type, problems) if config_type else section
        if settings is not None:
            venues[name] = VenueEntry(name=name, plugin=plugin, settings=settings)

    for i, order in enumerate(orders):
        for venue in order.venues or ():
            if venue not in raw_venues:
                problems.append(f"{file}: orders[{i}].venues: no venue named {venue!r}")

    for name, entry in venues.items():
        for key, env in _env_fields(entry.settings, f"venues.{name}"):
            if env not in os.environ:
                problems.append(f"{file}: {key}: environment variable {env} is not set")

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
    )
