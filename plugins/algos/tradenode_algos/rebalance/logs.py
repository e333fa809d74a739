"""The rebalancing job's record on disk: one folder of JSON files per run, one NAV history.

``<logs>/nav_history.jsonl`` gains one line per run (NAV before and after, status);
``<logs>/<run id>/`` holds ``nav.json``, ``targets.json``, ``positions.json``, ``orders.json``
and ``trades.json``. Money is written as decimal strings, exactly as the node holds it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

NAV_HISTORY = "nav_history.jsonl"


def write_run(logs_dir: Path, run_id: str, files: dict[str, Any]) -> Path:
    """Write ``<name>.json`` for each entry of ``files`` into ``logs_dir/run_id``."""
    folder = logs_dir / run_id
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        text = msgspec.json.format(msgspec.json.encode(content), indent=2)
        (folder / f"{name}.json").write_bytes(text + b"\n")
    return folder


def append_nav(logs_dir: Path, row: dict[str, Any]) -> None:
    logs_dir.mkdir(parents=True, exist_ok=True)
    with open(logs_dir / NAV_HISTORY, "ab") as f:
        f.write(msgspec.json.encode(row) + b"\n")


def read_nav_history(logs_dir: Path) -> list[dict[str, Any]]:
    path = logs_dir / NAV_HISTORY
    if not path.exists():
        return []
    return [msgspec.json.decode(line) for line in path.read_bytes().splitlines() if line.strip()]
