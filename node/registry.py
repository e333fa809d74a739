"""Registries plugins fill through the registration hooks: a name maps to what implements it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


class RegistrationError(ValueError):
    """A plugin registered something badly (duplicate name, wrong type)."""


@dataclass(frozen=True)
class Registration(Generic[T]):
    name: str
    target: T
    config_type: type | None
    plugin: str


@dataclass
class Registry(Generic[T]):
    """Maps a name to a registered target and the config struct of its section.

    ``current_plugin`` is set by the plugin loader while a plugin's hook runs, so every entry
    says which plugin it came from and a duplicate names both.
    """

    kind: str
    entries: dict[str, Registration[T]] = field(default_factory=dict)
    current_plugin: str = "?"

    def add(self, name: str, target: T, config_type: type | None = None) -> None:
        if not name or not isinstance(name, str):
            raise RegistrationError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self.entries:
            first = self.entries[name].plugin
            raise RegistrationError(
                f"{self.kind} {name!r} registered by both {first!r} and {self.current_plugin!r}"
            )
        self.entries[name] = Registration(name, target, config_type, self.current_plugin)

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
