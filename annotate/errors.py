"""The project's one error type: bad input or a refused operation."""
from __future__ import annotations

from pathlib import Path


class PosekitError(Exception):
    """A problem with a user's input, reported as one line naming the file.

    The CLI prints ``str(error)`` on stderr and exits with code 2.
    """

    def __init__(self, path: str | Path | None, message: str) -> None:
        self.path = None if path is None else str(path)
        self.message = message
        super().__init__(f"{self.path}: {message}" if self.path else message)
