"""What recognition draws over the picture: the action badge and the attention heatmap.

Plain painting functions on a QPainter, shared by the player's overlay and by the export of a
video with the overlay burnt in (which paints on QImages in a worker thread: nothing here
touches a widget). Sizes follow the frame's rectangle, so the badge reads the same on a
thumbnail-sized player and on a full-screen one.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPainterPath, QPen

from app import theme
from app.names import display_name
from app.services.results import OTHER, STAGES, WindowResult
from app.widgets.fonts import derived_font

HEATMAP_RESOLUTION = 112
"""Side of the square the stage maps are up-sampled to before colouring (then scaled
smoothly onto the picture)."""

_PALETTE = (
    "#4e9af1", "#f1a44e", "#3ccf91", "#e8596f", "#a77ff0", "#e6d05a", "#45c6d8", "#f07fc3",
    "#9bd46a", "#c98d5b", "#7f8cf0", "#5fd1b6", "#f08a6f", "#b6b6c8", "#d4a4f7", "#8fc0ff",
)  # fmt: skip


UNKNOWN_COLOR = "#8a8f98"
"""The neutral grey of windows the model called "not a known action" (badge, timeline)."""
UNKNOWN_TEXT = "Not a known action"


def badge_text(result: WindowResult, count: str = "") -> tuple[str, str]:
    """What the badge says for `result`: its headline and the small print under it (empty
    for a known action; the nearest class and its score for one the model does not know).
    `count` (the running repetition count there, e.g. "rep 7/20") follows a known action's
    name."""
    if result.unknown:
        return UNKNOWN_TEXT, f"nearest: {display_name(result.label)} {result.score * 100:.0f}%"
    return display_name(result.label) + (f" · {count}" if count else ""), ""


STAGE_COLORS = {2: "#8fc0ff", 3: "#3ccf91", 4: "#f1a44e", 5: "#e8596f"}
"""The colour of each stage's temporal curve."""


def class_color(index: int) -> QColor:
    """A stable colour for class `index` of a model: 16 distinct ones, then more hues."""
    if index == OTHER:
        return QColor(UNKNOWN_COLOR)
    if index < 0:
        return QColor(theme.TEXT_MUTED)
    if index < len(_PALETTE):
        return QColor(_PALETTE[index])
    hue = (index * 0.618033988749895) % 1.0  # golden-ratio steps spread the hues
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.55, 0.92)
    return QColor.fromRgbF(red, green, blue)


@dataclass(frozen=True)
class OverlayOptions:
    """What the overlay shows; kept in the settings between runs."""

    show_badge: bool = True
    show_heatmap: bool = True
    opacity: float = 0.55  # of the heatmap, 0-1
    stages: tuple[int, ...] = (4,)  # blended when several
    point: tuple[float, float] | None = None  # (x, y), fractions of the network's crop
    point_stage: int = 3  # the stage whose A_s rows answer a click on the picture


def crop_rect(frame_rect: QRectF) -> QRectF:
    """The part of the frame the network sees: the centred square of its shorter side."""
    side = min(frame_rect.width(), frame_rect.height())
    return QRectF(
        frame_rect.center().x() - side / 2, frame_rect.center().y() - side / 2, side, side
    )


def normalised(attention: np.ndarray) -> np.ndarray:
    """A map scaled to 0-1 (a flat map: 0.5 everywhere)."""
    values = np.asarray(attention, dtype=np.float32)
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-9:
        return np.full(values.shape, 0.5, dtype=np.float32)
    return (values - low) / (high - low)


def blend_maps(maps: Sequence[np.ndarray], resolution: int = HEATMAP_RESOLUTION) -> np.ndarray:
    """Up-sample each map smoothly (bicubic) to resolution x resolution, normalise and
    average them; float32 in 0-1."""
    total = np.zeros((resolution, resolution), dtype=np.float32)
    for attention in maps:
        values = normalised(attention)
        if values.shape == (1, 1):
            total += float(values[0, 0])
            continue
        total += cv2.resize(values, (resolution, resolution), interpolation=cv2.INTER_CUBIC)
    return np.clip(total / max(1, len(maps)), 0.0, 1.0)


def heatmap_rgba(values: np.ndarray, opacity: float) -> np.ndarray:
    """Colour a 0-1 map (turbo colours); the least attended places stay clear, so the picture
    shows through where the network does not look. RGBA uint8."""
    levels = np.round(values * 255).astype(np.uint8)
    rgb = cv2.cvtColor(cv2.applyColorMap(levels, cv2.COLORMAP_TURBO), cv2.COLOR_BGR2RGB)
    strength = np.clip((values - 0.15) / 0.85, 0.0, 1.0) ** 1.25
    alpha = np.clip(opacity * (0.04 + 0.96 * strength), 0.0, 1.0)
    return np.dstack([rgb, np.round(alpha * 255).astype(np.uint8)])


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    rgba = np.ascontiguousarray(rgba)
    height, width = rgba.shape[:2]
    image = QImage(rgba.data, width, height, rgba.strides[0], QImage.Format.Format_RGBA8888)
    return image.copy()


def heatmap_image(maps: Sequence[np.ndarray], opacity: float) -> QImage | None:
    if not maps:
        return None
    return rgba_to_qimage(heatmap_rgba(blend_maps(maps), opacity))


def maps_for(result: WindowResult, options: OverlayOptions) -> list[np.ndarray]:
    """The maps the heatmap shows for `result`: the clicked place's row of A_s for the point
    stage when a place is chosen (and the rows are at hand), else the chosen stages' means."""
    if options.point is not None:
        single = result.point_map(options.point_stage, *options.point)
        if single is not None:
            return [single]
    maps = [result.spatial_map(stage) for stage in options.stages if stage in STAGES]
    return [m for m in maps if m is not None]


def paint_heatmap(painter: QPainter, frame_rect: QRectF, image: QImage) -> None:
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    painter.drawImage(crop_rect(frame_rect), image)
    painter.restore()


def paint_crop_outline(painter: QPainter, frame_rect: QRectF) -> None:
    """A faint outline of the square the network sees, where it is narrower than the frame."""
    square = crop_rect(frame_rect)
    if square.width() >= frame_rect.width() - 2 and square.height() >= frame_rect.height() - 2:
        return
    painter.save()
    pen = QPen(QColor(255, 255, 255, 70), 1, Qt.PenStyle.DashLine)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawRect(square.adjusted(0.5, 0.5, -0.5, -0.5))
    painter.restore()


def paint_point_marker(painter: QPainter, frame_rect: QRectF, point: tuple[float, float]) -> None:
    """A ring at the clicked place (x, y fractions of the crop)."""
    square = crop_rect(frame_rect)
    centre = QPointF(square.left() + point[0] * square.width(),
                     square.top() + point[1] * square.height())
    radius = max(5.0, square.width() * 0.018)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.setPen(QPen(QColor(0, 0, 0, 160), 4))
    painter.drawEllipse(centre, radius, radius)
    painter.setPen(QPen(QColor("#ffffff"), 2))
    painter.drawEllipse(centre, radius, radius)
    painter.restore()


def badge_font_px(frame_rect: QRectF) -> float:
    """Text size of the badge: a share of the picture's height, within readable bounds."""
    return min(30.0, max(12.0, frame_rect.height() * 0.042))


def paint_badge(
    painter: QPainter,
    frame_rect: QRectF,
    label: str,
    score: float,
    color: QColor,
    *,
    base_font: QFont | None = None,
    note: str = "",
) -> QRectF:
    """The top-1 action and its confidence in a rounded translucent badge at the frame's top
    left corner; returns the badge's rectangle. With a `note` (small print on a second line,
    e.g. the nearest class of a window that is not a known action) no confidence is shown."""
    px = badge_font_px(frame_rect)
    base = base_font if base_font is not None else QFont()
    font = derived_font(base, weight=QFont.Weight.DemiBold, pixel_size=round(px))
    small = derived_font(base, weight=QFont.Weight.Medium, pixel_size=round(px * 0.82),
                         tabular_digits=True)
    metrics, small_metrics = QFontMetricsF(font), QFontMetricsF(small)

    margin = max(6.0, px * 0.6)
    pad = px * 0.7
    dot = px * 0.55
    percent = "" if note else f"{score * 100:.0f}%"
    percent_width = small_metrics.horizontalAdvance(percent)
    height = px * 2.1 + (small_metrics.height() if note else 0.0)
    room = frame_rect.width() - 2 * margin - (pad * 2 + dot + pad * 0.6 + pad + percent_width)
    text = metrics.elidedText(label, Qt.TextElideMode.ElideRight, max(px * 2, room))
    text_width = max(metrics.horizontalAdvance(text),
                     min(small_metrics.horizontalAdvance(note), max(px * 2, room)))
    note = small_metrics.elidedText(note, Qt.TextElideMode.ElideRight, max(px * 2, room))
    width = pad + dot + pad * 0.6 + text_width + pad + percent_width + pad
    rect = QRectF(frame_rect.left() + margin, frame_rect.top() + margin, width, height)

    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    path = QPainterPath()
    path.addRoundedRect(rect, height * 0.28, height * 0.28)
    painter.fillPath(path, QColor(12, 13, 15, 190))
    painter.setPen(QPen(QColor(255, 255, 255, 40), 1))
    painter.drawPath(path)

    # confidence as a thin bar along the bottom edge, in the class colour
    painter.setClipPath(path)
    bar = QRectF(rect.left(), rect.bottom() - max(2.0, px * 0.14),
                 0.0 if note else rect.width() * score, max(2.0, px * 0.14))
    painter.fillRect(bar, color)
    painter.setClipping(False)

    x = rect.left() + pad
    mid = rect.top() + px * 1.05 - px * 0.04
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)
    painter.drawEllipse(QPointF(x + dot / 2, mid), dot / 2, dot / 2)
    x += dot + pad * 0.6
    painter.setFont(font)
    painter.setPen(QColor("#ffffff"))
    baseline = mid + (metrics.ascent() - metrics.descent()) / 2
    painter.drawText(QPointF(x, baseline), text)
    painter.setFont(small)
    painter.setPen(QColor(theme.TEXT_MUTED).lighter(125))
    if note:
        painter.drawText(QPointF(x, baseline + small_metrics.height()), note)
    painter.drawText(QPointF(x + text_width + pad, baseline), percent)
    painter.restore()
    return rect


def _wrapped(metrics: QFontMetricsF, text: str, width: float, lines: int) -> list[str]:
    """`text` broken at spaces into at most `lines` lines of at most `width` pixels (the
    last one elided when the rest does not fit)."""
    out: list[str] = []
    words = text.split()
    while words and len(out) < lines - 1:
        line = words.pop(0)
        while words and metrics.horizontalAdvance(f"{line} {words[0]}") <= width:
            line = f"{line} {words.pop(0)}"
        out.append(line)
    if words:
        out.append(metrics.elidedText(" ".join(words), Qt.TextElideMode.ElideRight, width))
    return out


def _balanced(metrics: QFontMetricsF, text: str, width: float, lines: int) -> list[str]:
    """`_wrapped`, each line as short as the same number of lines allows (no lone last
    word)."""
    out = _wrapped(metrics, text, width, lines)
    if len(out) > 1 and " ".join(out) == " ".join(text.split()):  # all of it, not elided
        low, high = width / len(out), width
        while high - low > 2:
            middle = (low + high) / 2
            fits = _wrapped(metrics, text, middle, lines + 1)
            low, high = (low, middle) if len(fits) <= len(out) else (middle, high)
        out = _wrapped(metrics, text, high, lines)
    return out


def paint_note(painter: QPainter, frame_rect: QRectF, text: str, *,
               base_font: QFont | None = None) -> QRectF:
    """A plain line of text in a translucent box along the bottom of the picture (what the
    heatmap shows instead of maps that mean nothing), on up to three lines where the picture
    is narrow; returns the box."""
    px = badge_font_px(frame_rect) * 0.8
    font = derived_font(base_font if base_font is not None else QFont(),
                        weight=QFont.Weight.Medium, pixel_size=round(px))
    metrics = QFontMetricsF(font)
    margin, pad = max(6.0, px * 0.6), px * 0.6
    lines = _balanced(metrics, text, max(px * 2, frame_rect.width() - 2 * (margin + pad)), 3)
    width = max(metrics.horizontalAdvance(line) for line in lines) + 2 * pad
    height = metrics.height() * len(lines) + pad
    rect = QRectF(frame_rect.left() + margin, frame_rect.bottom() - margin - height,
                  width, height)
    painter.save()
    path = QPainterPath()
    corner = (metrics.height() + pad) * 0.28
    path.addRoundedRect(rect, corner, corner)
    painter.fillPath(path, QColor(12, 13, 15, 190))
    painter.setFont(font)
    painter.setPen(QColor("#ffffff"))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, "\n".join(lines))
    painter.restore()
    return rect


def paint_recognition(
    painter: QPainter,
    frame_rect: QRectF,
    result: WindowResult | None,
    options: OverlayOptions,
    *,
    heatmap: QImage | None = None,
    base_font: QFont | None = None,
    attention_note: str = "",
    count: str = "",
) -> None:
    """Heatmap (when on), point marker, then badge, for the answer `result`. With an
    `attention_note` (the model's attention never learnt) the heatmap gives way to that note;
    `count`, the running repetition count at the frame, joins the badge's action."""
    if result is None:
        return
    if options.show_heatmap and attention_note:
        paint_note(painter, frame_rect, attention_note, base_font=base_font)
    elif options.show_heatmap:
        if heatmap is None:
            heatmap = heatmap_image(maps_for(result, options), options.opacity)
        if heatmap is not None:
            paint_heatmap(painter, frame_rect, heatmap)
            paint_crop_outline(painter, frame_rect)
        if options.point is not None:
            paint_point_marker(painter, frame_rect, options.point)
    if options.show_badge and result.labels:
        headline, note = badge_text(result, count)
        color = class_color(OTHER if result.unknown else result.class_index)
        paint_badge(painter, frame_rect, headline, result.score, color, base_font=base_font,
                    note=note)
