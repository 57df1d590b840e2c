"""The program's version, as installed (or "development version" from a source tree)."""

from __future__ import annotations

from importlib import metadata


def app_version() -> str:
    try:
        return metadata.version("stmanet-coach")
    except metadata.PackageNotFoundError:
        return "development version"
