"""Registries plugins fill through the registration hooks: a name maps to what implements it.

A target may be given as ``"package.module:Name"``: it is imported when first used, not when
the plugin loads. Every command loads every installed plugin (``tradenode --help`` lists their
commands, ``check`` knows every venue plugin), so a venue whose class pulls in an exchange
client costs only the commands that use it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class RegistrationError(ValueError):
    """A plugin registered something badly (duplicate name, wrong type, a target that cannot be
    imported)."""


@dataclass(frozen=True)
class Registration(Generic[T]):
    name: str
    registered: T | str  # the target, or "module:attribute" imported on first use
    config_type: type | None
    plugin: str
    kind: str = "?"
    _loaded: list[Any] = field(default_factory=list, repr=False, compare=False)

    @property
    def target(self) -> T:
        """What implements it (imported now if it was registered by name)."""
        if not isinstance(self.registered, str):
            return self.registered
        if not self._loaded:
            module, _, attribute = self.registered.partition(":")
            try:
                self._loaded.append(getattr(importlib.import_module(module), attribute))
            except Exception as exc:
                raise RegistrationError(
                    f"{self.kind} {self.name!r} of plugin {self.plugin!r} cannot be loaded "
                    f"from {self.registered}: {type(exc).__name__}: {exc}"
                ) from None
        return self._loaded[0]  # type: ignore[no-any-return]


@dataclass
class Registry(Generic[T]):
    """Maps a name to a registered target and the config struct of its section.

    ``current_plugin`` is set by the plugin loader while a plugin's hook runs, so every entry
    says which plugin it came from and a duplicate names both.
    """

    kind: str
    entries: dict[str, Registration[T]] = field(default_factory=dict)
    current_plugin: str = "?"

    def add(self, name: str, target: T | str, config_type: type | None = None) -> None:
        """Register ``target`` (or ``"module:attribute"``, imported on first use) as ``name``."""
        if not name or not isinstance(name, str):
            raise RegistrationError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self.entries:
            first = self.entries[name].plugin
            raise RegistrationError(
                f"{self.kind} {name!r} registered by both {first!r} and {self.current_plugin!r}"
            )
        if isinstance(target, str) and target.count(":") != 1:
            raise RegistrationError(
                f"{self.kind} {name!r}: a target named by a string is 'module:attribute', "
                f"got {target!r}"
            )
        self.entries[name] = Registration(
            name, target, config_type, self.current_plugin, kind=self.kind
        )

    def get(self, name: str) -> Registration[T]:
        try:
            return self.entries[name]
        except KeyError:
            known = ", ".join(sorted(self.entries)) or "none"
            raise KeyError(f"unknown {self.kind} {name!r} (known: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __iter__(self) -> Iterator[Registration[T]]:
        return iter(self.entries.values())

    def names_from(self, plugin: str) -> list[str]:
        return [r.name for r in self.entries.values() if r.plugin == plugin]
