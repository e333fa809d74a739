"""Finds plugins through the ``tradenode`` entry-point group and loads each one guarded.

A plugin that fails to import, or whose registration hook raises, is recorded with its error
and left out; the node starts with the rest. ``tradenode plugins`` prints what this module found.
"""

from __future__ import annotations

import importlib.metadata as md
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from node import hookspecs
from node.codec import Codec, core_message_types
from node.messages import Message
from node.registry import RegistrationError, Registry

REGISTRATION_HOOKS = {
    "venue": "tradenode_register_venues",
    "algo": "tradenode_register_algos",
    "risk-check": "tradenode_register_risk_checks",
    "book-source": "tradenode_register_book_sources",
    "message": "tradenode_register_messages",
    "section": "tradenode_register_sections",
    "command": "tradenode_register_commands",
}


@dataclass
class PluginStatus:
    name: str
    distribution: str
    version: str
    module: str
    kinds: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Plugins:
    """The loaded plugin manager, the filled registries, and every plugin's status."""

    manager: pluggy.PluginManager
    registries: dict[str, Registry[Any]]
    statuses: list[PluginStatus]

    @property
    def venues(self) -> Registry[Any]:
        return self.registries["venue"]

    @property
    def algos(self) -> Registry[Any]:
        return self.registries["algo"]

    @property
    def risk_checks(self) -> Registry[Any]:
        return self.registries["risk-check"]

    @property
    def book_sources(self) -> Registry[Any]:
        return self.registries["book-source"]

    @property
    def commands(self) -> Registry[Any]:
        return self.registries["command"]

    def load_all(self) -> None:
        """Import every target registered by name now (``tradenode plugins``): one that cannot
        be imported marks its plugin with the error, as a plugin that fails to load is."""
        by_name = {s.name: s for s in self.statuses}
        for registry in self.registries.values():
            for registration in registry:
                try:
                    registration.target  # noqa: B018 (imported on first access)
                except RegistrationError as exc:
                    status = by_name.get(registration.plugin)
                    if status is not None and status.error is None:
                        status.error = str(exc)

    def codec(self) -> Codec:
        """The decoder of the core's messages and every loaded plugin's."""
        return Codec([*core_message_types(), *(r.target for r in self.registries["message"])])

    def call_lifecycle(
        self, hook: str, on_error: Callable[[str, str], None], **kwargs: Any
    ) -> None:
        """Call a lifecycle hook on each plugin, each guarded: one failure does not stop others."""
        for impl in getattr(self.manager.hook, hook).get_hookimpls():
            try:
                impl.function(**kwargs)
            except Exception as exc:  # a plugin's bug must not take the node down
                on_error(impl.plugin_name, f"{hook}: {type(exc).__name__}: {exc}")


def _short_error(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({frames[-1].filename}:{frames[-1].lineno})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _check_messages(registry: Registry[Any], plugin: str) -> None:
    """A plugin's message types must be tagged Messages whose tag is the name registered and
    clashes with no core type."""
    core = {c.__name__ for c in core_message_types()}
    for name in registry.names_from(plugin):
        cls = registry.get(name).target
        if not (isinstance(cls, type) and issubclass(cls, Message)):
            raise RegistrationError(f"message {name!r} is not a node.messages.Message subclass")
        if name in core:
            raise RegistrationError(f"message {name!r} has the name of a core message type")
        try:
            Codec([cls])
        except (TypeError, ValueError) as exc:
            raise RegistrationError(f"message {name!r} cannot be decoded: {exc}") from None


def load_plugins(group: str = hookspecs.PROJECT) -> Plugins:
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    registries: dict[str, Registry[Any]] = {kind: Registry(kind) for kind in REGISTRATION_HOOKS}
    statuses: list[PluginStatus] = []
    seen: set[str] = set()
    for ep in sorted(md.entry_points(group=group), key=lambda e: e.name):
        dist = ep.dist
        status = PluginStatus(
            name=ep.name,
            distribution=dist.name if dist else "?",
            version=dist.version if dist else "?",
            module=ep.value,
        )
        statuses.append(status)
        if ep.name in seen:
            status.error = f"another plugin is already named {ep.name!r}"
            continue
        seen.add(ep.name)
        try:
            module = ep.load()
            manager.register(module, name=ep.name)
        except Exception as exc:
            status.error = f"failed to load: {_short_error(exc)}"
            continue
        for kind, hook in REGISTRATION_HOOKS.items():
            for impl in getattr(manager.hook, hook).get_hookimpls():
                if impl.plugin_name != ep.name:
                    continue
                registry = registries[kind]
                before = dict(registry.entries)
                registry.current_plugin = ep.name
                try:
                    impl.function(registry=registry)
                    if kind == "message":
                        _check_messages(registry, ep.name)
                except Exception as exc:
                    registry.entries = before  # nothing half-registered stays
                    status.error = f"failed to register {kind}s: {_short_error(exc)}"
                if registry.names_from(ep.name):
                    status.kinds.append(kind)
        if status.error:
            # All or nothing: a plugin that failed any registration keeps none of them.
            for registry in registries.values():
                for name in registry.names_from(ep.name):
                    del registry.entries[name]
            status.kinds.clear()
            manager.unregister(name=ep.name)
    return Plugins(manager, registries, statuses)
