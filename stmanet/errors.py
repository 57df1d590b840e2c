"""Errors the engine raises, with messages a user can act on."""

from __future__ import annotations

from pathlib import Path


class STMANetError(Exception):
    """Base of every error the engine raises on purpose."""


class ConfigError(STMANetError):
    """An unknown model name, an impossible option or a bad combination of options."""


class CheckpointError(STMANetError):
    """A file that cannot be used as a model checkpoint; the message names file and reason."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
