"""tradenode: a multi-venue trading node. ``hookimpl`` marks a plugin's hook implementations."""

from node.hookspecs import hookimpl

__all__ = ["hookimpl"]
