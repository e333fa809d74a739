"""What several commands share: loading a config with its plugins, and reading a run back."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from node.codec import Codec
    from node.config import NodeConfig
    from node.messages import Message
    from node.plugins import Plugins

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def demo_config_path() -> Path:
    """The embedded default config: inside the package when installed, else the repo's copy."""
    for candidate in (
        PACKAGE_DIR / "configs" / "demo.toml",
        PACKAGE_DIR.parent / "configs" / "demo.toml",
    ):
        if candidate.exists():
            return candidate
    raise FileNotFoundError("demo.toml is missing from this installation")


def load(path: str) -> tuple[NodeConfig, Plugins]:
    """The config at ``path`` validated against the installed plugins (``ConfigError``)."""
    from node.config import load_config
    from node.plugins import load_plugins

    plugins = load_plugins()
    for status in plugins.statuses:
        if not status.ok:
            print(f"warning: plugin {status.name} not loaded: {status.error}", file=sys.stderr)
    return load_config(path, plugins), plugins


def this_run(journal_path: Path, after_seq: int, codec: Codec) -> list[Message]:
    """What one run journaled: reports are derived from the journal, not kept in memory while a
    node runs (a live node would otherwise hold every message it ever saw)."""
    from node.journal import Journal

    journal = Journal(journal_path, codec=codec, readonly=True)
    try:
        return [entry.message for entry in journal.entries(after_seq=after_seq)]
    finally:
        journal.close()
