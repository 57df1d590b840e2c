"""Files shipped with the program: the demo model, the demo video and its expected timeline.

This is the one place that knows where they are. They live in the top-level `resources`
package (resources/models/demo.safetensors, resources/videos/demo.mp4 and demo.json), looked
for, in this order:

1. in a frozen program (a PyInstaller bundle): `sys._MEIPASS/resources`, the folder the
   bundle unpacks its data files into;
2. as package data through importlib.resources (an installed copy, editable or not);
3. in the source checkout's resources/ folder beside the `stmanet` package.

Any of them may be missing: callers get None and decide what that means.
"""

from __future__ import annotations

import importlib.resources
import sys
from pathlib import Path

PACKAGE = "resources"
DEMO_MODEL = ("models", "demo.safetensors")
DEMO_VIDEO = ("videos", "demo.mp4")

_SOURCE_TREE = Path(__file__).resolve().parent.parent / PACKAGE


def frozen_root() -> Path | None:
    """The resources folder of a frozen bundle, or None when not running frozen."""
    base = getattr(sys, "_MEIPASS", None)
    if not getattr(sys, "frozen", False) or not base:
        return None
    return Path(base) / PACKAGE


def _package_root() -> Path | None:
    """The `resources` package's folder as importlib.resources sees it, if it is a real
    folder on disk (not a zip archive)."""
    try:
        root = importlib.resources.files(PACKAGE)
    except (ModuleNotFoundError, TypeError, ValueError):
        return None
    return root if isinstance(root, Path) else None


def search_roots() -> list[Path]:
    """The folders looked in, in order (some may not exist)."""
    roots = [frozen_root(), _package_root(), _SOURCE_TREE]
    unique: list[Path] = []
    for root in roots:
        if root is not None and root not in unique:
            unique.append(root)
    return unique


def bundled_resource(*parts: str) -> Path | None:
    """The shipped file resources/<parts...>, or None when no search root holds it."""
    for root in search_roots():
        candidate = root.joinpath(*parts)
        if candidate.is_file():
            return candidate
    return None


def bundled_demo_model() -> Path | None:
    """The demo model (resources/models/demo.safetensors), if the program ships one."""
    return bundled_resource(*DEMO_MODEL)


def bundled_demo_video() -> Path | None:
    """The demo video (resources/videos/demo.mp4), if the program ships one."""
    return bundled_resource(*DEMO_VIDEO)


def describe_missing(*parts: str) -> str:
    """Where resources/<parts...> was looked for, for an error message."""
    places = ", ".join(str(root.joinpath(*parts)) for root in search_roots())
    return f"resources/{'/'.join(parts)} is not installed (looked in: {places})"
