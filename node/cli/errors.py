"""The one kind of error a command reports as a line on stderr, with its exit code."""

from __future__ import annotations


class UserError(RuntimeError):
    """Bad input or a refused request: one line, no traceback. ``exit_code`` 2 for bad input,
    1 for a request the node refused or could not be reached for."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
