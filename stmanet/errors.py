"""Errors the engine raises, with messages a user can act on."""

from __future__ import annotations

import os
from pathlib import Path


def printable_path(path: Path | str) -> str:
    """`path` as text that can be printed and written anywhere: bytes of a file name that are
    not valid UTF-8 (possible on Linux) shown escaped, e.g. x\\xff.mp4."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


class STMANetError(Exception):
    """Base of every error the engine raises on purpose."""


class Cancelled(STMANetError):
    """A job stopped because it was asked to (Cancel button, Ctrl+C, SIGTERM)."""


class ConfigError(STMANetError):
    """An unknown model name, an impossible option or a bad combination of options."""


class CheckpointError(STMANetError):
    """A file that cannot be used as a model checkpoint; the message names file and reason."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{printable_path(self.path)}: {reason}")


class VideoError(STMANetError):
    """A video file that cannot be read; the message names file and reason."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{printable_path(self.path)}: {reason}")


class OutputError(STMANetError):
    """A file or folder the program was asked to write that cannot be written; the message
    names it and says why."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class DatasetError(STMANetError):
    """A data set description that cannot be used: a malformed split file, label list or index.

    `file` and `line` (1-based) point at the place to fix where they are known.
    """

    def __init__(
        self, reason: str, file: Path | str | None = None, line: int | None = None
    ) -> None:
        self.reason = reason
        self.file = Path(file) if file is not None else None
        self.line = line
        where = ""
        if self.file is not None:
            name = printable_path(self.file)
            where = f"{name}:{line}: " if line is not None else f"{name}: "
        super().__init__(f"{where}{reason}")
