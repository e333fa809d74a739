from __future__ import annotations

from pathlib import Path


class SourceError(ValueError):
    """A recorded data file cannot be read as it claims to be; names the file and line."""

    def __init__(self, path: str | Path, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")
        self.path = str(path)
        self.line = line
        self.problem = problem
