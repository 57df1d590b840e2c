"""Fonts derived from a widget's font (bolder, smaller, digits of equal width), built once.

Painting code asks for the font it needs on every paint; building it there would call Qt's
font setters hundreds of times a second during playback. `derived_font` builds each variant
the first time it is asked for and hands out the same one afterwards.
"""

from __future__ import annotations

from PySide6.QtGui import QFont

_CACHE_LIMIT = 256
_cache: dict[tuple[object, ...], QFont] = {}


def derived_font(
    base: QFont,
    *,
    weight: QFont.Weight | None = None,
    pixel_size: int | None = None,
    point_scale: float | None = None,
    min_point_size: float = 0.0,
    tabular_digits: bool = False,
) -> QFont:
    """`base` with the given changes: `weight`; `pixel_size` (pixels) or `point_scale` (a
    factor on its point size, at least `min_point_size`); `tabular_digits` (every digit as
    wide as the others, so numbers that change do not make the text beside them jump).
    Treat the result as read-only: it is shared."""
    key = (base.key(), weight, pixel_size, point_scale, min_point_size, tabular_digits)
    font = _cache.get(key)
    if font is not None:
        return font
    font = QFont(base)
    if weight is not None:
        font.setWeight(weight)
    if pixel_size is not None:
        font.setPixelSize(max(1, pixel_size))
    elif point_scale is not None and base.pointSizeF() > 0:
        font.setPointSizeF(max(min_point_size, base.pointSizeF() * point_scale))
    if tabular_digits:
        font.setFeature(QFont.Tag("tnum"), 1)
    if len(_cache) >= _CACHE_LIMIT:  # fonts come and go with zoom and screens: start afresh
        _cache.clear()
    _cache[key] = font
    return font
