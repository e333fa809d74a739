"""The plugin contract: every hook a tradenode plugin may implement.

A plugin is a module named by an entry point in the ``tradenode`` group; it implements any of
these hooks with ``@node.hookimpl``. Registration hooks are called once per plugin at start-up,
each guarded on its own, so one broken plugin is reported and the rest still load. Built-in
venues, algorithms and risk checks register through the very same hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from node.config import NodeConfig
    from node.registry import Registry

PROJECT = "tradenode"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def tradenode_register_venues(registry: Registry[Any]) -> None:
    """Register venue adapters: ``registry.add(name, VenueClass, ConfigStruct)``.

    ``VenueClass`` subclasses ``node.venue.Venue``; a config ``[venues.X]`` with ``plugin = name``
    is converted into ``ConfigStruct`` (unknown keys are errors) and passed to it.
    """


@hookspec
def tradenode_register_algos(registry: Registry[Any]) -> None:
    """Register execution algorithms: ``registry.add(name, ExecutorClass, ParamsStruct)``.

    ``ExecutorClass`` subclasses ``node.algo.Executor``; a parent order's ``params`` are
    converted into ``ParamsStruct`` (unknown keys are errors), or must be empty without one.
    """


@hookspec
def tradenode_register_messages(registry: Registry[Any]) -> None:
    """Register the plugin's own message types: ``registry.add(tag, MessageClass)``.

    ``MessageClass`` subclasses ``node.messages.Command`` or ``Event`` (frozen, kw_only,
    tagged); ``tag`` is its msgspec tag (the class name unless it sets one). The journal's
    decoder is built after plugins load, so what a plugin journals can be read back.
    """


@hookspec
def tradenode_register_sections(registry: Registry[Any]) -> None:
    """Register a top-level config section the plugin owns: ``registry.add(name, Struct)``.

    ``[name]`` in a node config is converted into ``Struct`` (unknown keys are errors, named
    with the file) and is found in ``NodeConfig.sections[name]``; a missing section is None.
    """


@hookspec
def tradenode_register_commands(registry: Registry[Any]) -> None:
    """Register ``tradenode`` subcommands: ``registry.add(name, command)``.

    ``command`` has ``help`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``
    (the exit code). It should import what it needs inside ``run``: ``tradenode --help`` loads
    every plugin and must stay fast.
    """


@hookspec
def tradenode_register_risk_checks(registry: Registry[Any]) -> None:
    """Register pre-trade risk checks: ``registry.add(name, check, LimitsStruct)``.

    ``check(limits, order, view) -> str | None`` returns the reason with its numbers when the
    order must be refused. ``limits`` is the ``[risk.checks.<name>]`` section converted to
    ``LimitsStruct``; a check whose section is absent is off.
    """


@hookspec
def tradenode_register_book_sources(registry: Registry[Any]) -> None:
    """Register readers of recorded order-book files: ``registry.add(fmt, reader)``.

    ``reader`` has ``matches(path) -> bool`` and ``load_books(path) -> list[BookSnapshot]``;
    ``tradenode route`` uses them to answer "where would this order go".
    """


@hookspec
def tradenode_configured(config: NodeConfig) -> None:
    """The node's config was read and validated; nothing has started yet."""


@hookspec
def tradenode_started(node: Any) -> None:
    """Every component started; the node trades from now on."""


@hookspec
def tradenode_stopping(node: Any) -> None:
    """The node is about to stop its components (reverse start order)."""
