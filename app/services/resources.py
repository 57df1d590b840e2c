"""Files shipped with the program: the demo video and the demo model.

Found by stmanet.bundled, the one place that knows where shipped files live (a PyInstaller
bundle, an installed copy's package data, or the source checkout's resources/ folder).
Either may be missing: callers get None and carry on without them.
"""

from __future__ import annotations

from stmanet.bundled import (
    bundled_demo_model,
    bundled_demo_video,
    bundled_resource,
)

__all__ = ["bundled_demo_model", "bundled_demo_video", "bundled_resource"]
