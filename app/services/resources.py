"""Files shipped with the program: the demo video and the demo model.

They live in the `resources` folder (resources/videos/demo.mp4, resources/models/
demo.safetensors). An installed program finds them as package data through
importlib.resources; a source checkout finds them in the repository's resources/ folder.
Either may be missing: callers get None and carry on without them.
"""

from __future__ import annotations

import importlib.resources
import logging
from pathlib import Path

from stmanet.engine import inference

log = logging.getLogger(__name__)

DEMO_VIDEO = ("videos", "demo.mp4")

_REPOSITORY_RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def bundled_resource(*parts: str) -> Path | None:
    """The shipped file resources/<parts...>, or None when it is not there."""
    try:
        ref = importlib.resources.files("resources").joinpath(*parts)
        if ref.is_file():
            return Path(str(ref))
    except (ModuleNotFoundError, TypeError, NotADirectoryError, AttributeError):
        pass
    candidate = _REPOSITORY_RESOURCES.joinpath(*parts)
    return candidate if candidate.is_file() else None


def bundled_demo_video() -> Path | None:
    """The demo video (resources/videos/demo.mp4), if the program ships one."""
    return bundled_resource(*DEMO_VIDEO)


def bundled_demo_model() -> Path | None:
    """The demo model (resources/models/demo.safetensors), if the program ships one."""
    return inference.bundled_demo_model()
