"""A guard against Qt bindings that lose references to `None`.

PySide6 6.12.0 drops one reference to `None` each time a Qt method that returns nothing
(`QFont.setWeight`, `QPainter.setPen`, `QPointF.setX`, ...) is called from Python. On Python
3.12 and newer `None` is immortal and nothing happens; on 3.10 and 3.11 its count reaches zero
after some thousands of such calls, and the interpreter aborts with "Fatal Python error:
none_dealloc: deallocating None" (a window that plays video makes that many calls in well
under a minute). pyproject.toml keeps that release out; this module is for a copy of the
program that got it anyway (an older environment, a bundle built elsewhere): it measures the
loss at start-up and, when there is one, makes the counts of `None`, `True` and `False` too
large to reach zero, which is what Python 3.12 does for every interpreter.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

PROBE_CALLS = 256
"""Void Qt calls made to measure the loss; a leaking binding loses one reference each."""

REFERENCE_FLOOR = 1 << 40
"""What those counts are raised to on a leaking binding: at a million lost references a
second, it would take over 12 days to reach zero."""


PROTECTED = (None, True, False)
"""What such a binding loses references to: `None` from calls that return nothing, `True` and
`False` from Python overrides of Qt's virtual functions that return a bool (`eventFilter`),
seen at exit."""


def none_can_be_counted() -> bool:
    """Whether `None`'s reference count moves at all (it is immortal from Python 3.12)."""
    return sys.version_info < (3, 12)


def none_references_lost(calls: int = PROBE_CALLS) -> int:
    """How many references to `None` `calls` void Qt calls lose (0 for a sound binding; always
    0 where `None` is immortal, see `none_can_be_counted`)."""
    from PySide6.QtCore import QPointF

    point = QPointF()
    before = sys.getrefcount(None)
    for n in range(calls):
        point.setX(float(n))
    return max(0, before - sys.getrefcount(None))


def protect_none() -> bool:
    """If this Qt binding loses references to `None`, raise the counts of `PROTECTED` out of
    reach and log a warning that names the fix; returns whether it had to."""
    if not none_can_be_counted():
        return False
    lost = none_references_lost()
    if lost < PROBE_CALLS // 2:
        return False
    import PySide6

    for singleton in PROTECTED:
        refcount = ctypes.c_ssize_t.from_address(id(singleton))  # ob_refcnt, the first field
        refcount.value = max(refcount.value, REFERENCE_FLOOR)
    log.warning(
        "PySide6 %s loses a reference to None on every call that returns nothing, which "
        "crashes Python %d.%d after about half a minute of playback; worked around for this "
        "run. Install another release: pip install \"PySide6-Essentials!=%s\"",
        PySide6.__version__, *sys.version_info[:2], PySide6.__version__,
    )
    return True
