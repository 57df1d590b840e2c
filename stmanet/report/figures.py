"""The pictures of a report, drawn by matplotlib (its object API and the Agg canvas: no
pyplot, so that the app's Qt backend is never touched): a student's timeline, the time per
action, the key frames with an attention heatmap over one, the session's timelines. Each
function returns a `Figure`; `png_bytes` renders one for HTML, the PDF takes it as it is."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure, SubFigure
from matplotlib.patches import Patch, Rectangle

from stmanet.report.session import UNKNOWN_LABEL, Student

UNKNOWN_COLOUR = "#9e9e9e"
MAX_KEY_FRAMES = 12


def action_colours(class_names: Sequence[str]) -> dict[str, Any]:
    """One colour per action, the same in every figure of a session: tab10's, then tab20's
    lighter ones, none of them grey (grey is the footage not a known action,
    UNKNOWN_COLOUR)."""
    from matplotlib import colormaps

    tab10, tab20 = colormaps["tab10"], colormaps["tab20"]
    colours = [tab10(i) for i in range(10)] + [tab20(i) for i in range(1, 20, 2)]
    palette = [c for c in colours if max(c[:3]) - min(c[:3]) > 0.05]
    return {name: palette[i % len(palette)] for i, name in enumerate(class_names)}


def png_bytes(fig: Figure | SubFigure, dpi: int = 110) -> bytes:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _bars(ax: Any, result: dict[str, Any], colours: dict[str, Any], y: float = 0,
          height: float = 0.8) -> None:
    for s in result["segments"]:
        colour = UNKNOWN_COLOUR if s["action"] is None else colours[s["action"]]
        ax.broken_barh([(s["start_s"], s["end_s"] - s["start_s"])], (y - height / 2, height),
                       facecolors=colour, edgecolors="white", linewidth=0.5,
                       hatch="//" if s["action"] is None else None)


def _legend_handles(names: Sequence[str], colours: dict[str, Any], unknown: bool) -> list:
    handles = [Patch(facecolor=colours[n], label=n.replace("_", " ")) for n in names]
    if unknown:
        handles.append(Patch(facecolor=UNKNOWN_COLOUR, hatch="//", label=UNKNOWN_LABEL))
    return handles


def timeline_figure(student: Student, colours: dict[str, Any], width: float = 8.0,
                    fig: Figure | SubFigure | None = None) -> Figure | SubFigure:
    """The video's per-frame result as a strip over time, with the reps of each segment."""
    result = student.result
    fig = fig or Figure(figsize=(width, 1.9), layout="constrained")
    ax = fig.add_subplot()
    _bars(ax, result, colours)
    inches_a_second = 0.9 * fig.bbox.width / fig.dpi / max(result["duration_s"], 1e-6)  # ~axes
    for s in result["segments"]:
        reps = (s.get("reps") or {}).get("reps")
        label_inches = (len(str(reps)) + 1) * 0.09 + 0.06  # 9-point bold digits and "×"
        if reps is not None and (s["end_s"] - s["start_s"]) * inches_a_second > label_inches:
            ax.text((s["start_s"] + s["end_s"]) / 2, 0, f"{reps}×", ha="center",
                    va="center", fontsize=9, color="white", fontweight="bold")
    ax.set_xlim(0, result["duration_s"])
    ax.set_ylim(-0.5, 0.5)
    ax.set_yticks([])
    ax.set_xlabel("seconds")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    names = [a for a in result["class_names"] if a in student.seconds]
    unknown = any(s["action"] is None for s in result["segments"])
    ax.legend(handles=_legend_handles(names, colours, unknown), loc="lower center",
              bbox_to_anchor=(0.5, 1.0), ncol=min(5, len(names) + unknown), fontsize=8,
              frameon=False)
    return fig


def seconds_figure(student: Student, colours: dict[str, Any], width: float = 5.0,
                   fig: Figure | SubFigure | None = None) -> Figure | SubFigure:
    """Seconds per action (and not a known action) as horizontal bars, longest first."""
    rows = sorted(student.seconds.items(), key=lambda kv: -kv[1])
    labels = [a.replace("_", " ") for a, _ in rows]
    values = [v for _, v in rows]
    fills = [colours[a] for a, _ in rows]
    if student.unknown_s:
        labels.append(UNKNOWN_LABEL)
        values.append(student.unknown_s)
        fills.append(UNKNOWN_COLOUR)
    fig = fig or Figure(figsize=(width, 0.3 * max(2, len(labels)) + 0.7),
                        layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(labels))
    ax.barh(y, values, color=fills)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlabel("seconds")
    for i, v in enumerate(values):
        ax.text(v, i, f" {v:.1f} s", va="center", fontsize=8)
    ax.set_xlim(0, max(values, default=1) * 1.25 or 1)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


def _key_segments(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The segments shown with a key frame: all of them, or the longest MAX_KEY_FRAMES in
    the order of time."""
    segments = list(result["segments"])
    if len(segments) > MAX_KEY_FRAMES:
        keep = sorted(segments, key=lambda s: -(s["end_frame"] - s["start_frame"]))
        segments = sorted(keep[:MAX_KEY_FRAMES], key=lambda s: s["start_frame"])
    return segments


def heatmap_segment(result: dict[str, Any]) -> dict[str, Any] | None:
    """The segment whose key frame carries the attention heatmap: the surest known one with
    a map (None when the model has no spatial attention, or never learnt it; a result of
    an older version that does not say is taken as trained)."""
    if result.get("attention") not in ("trained", None):
        return None
    candidates = [s for s in _key_segments(result)
                  if s["action"] is not None and s.get("attention") is not None]
    return max(candidates, key=lambda s: s["mean_score"] or 0.0, default=None)


HEATMAP_SHOWN = ('The frame marked "attention" shows where the network looked (red: most) '
                 "inside the square it sees.")
UNTRAINED_ATTENTION_NOTE = ("No attention heatmap: this model's attention was never trained "
                            "(a new model, or one made from Kinetics weights without training "
                            "its attention), so its maps would show nothing.")


def heatmap_note(result: dict[str, Any]) -> str:
    """What a report says under its key frames about the attention heatmap: where it is, or
    why there is none (the model's attention never learnt, it has none, no segment of a
    known action has a map)."""
    if heatmap_segment(result) is not None:
        return HEATMAP_SHOWN
    if result.get("attention") == "untrained":
        return UNTRAINED_ATTENTION_NOTE
    if result.get("attention") == "absent":
        return "No attention heatmap: this model has no spatial attention."
    return "No attention heatmap: no segment of a known action carries an attention map."


def read_key_frames(result: dict[str, Any]) -> dict[int, np.ndarray] | None:
    """The key frames of the shown segments, RGB; None when the video cannot be read."""
    from stmanet.data.decode import read_frames
    from stmanet.errors import STMANetError

    path = Path(result["video"]["path"])
    indices = sorted({s["key_frame"] for s in _key_segments(result)})
    if not indices or not path.is_file():
        return None
    try:
        frames = read_frames(path, indices, beyond_end="error")
    except (STMANetError, OSError, ValueError):
        return None
    return dict(zip(indices, frames, strict=True))


def heat_rgba(values: np.ndarray, opacity: float = 0.7) -> np.ndarray:
    """A 0-1 map coloured as the app colours it (turbo; the least attended places stay
    clear, so that the picture shows through). RGBA floats."""
    from matplotlib import colormaps

    rgba = colormaps["turbo"](values)
    strength = np.clip((values - 0.15) / 0.85, 0.0, 1.0) ** 1.25
    rgba[..., 3] = np.clip(opacity * (0.04 + 0.96 * strength), 0.0, 1.0)
    return rgba


def _heat_overlay(ax: Any, frame: np.ndarray, attention: Sequence[Sequence[float]]) -> None:
    """The spatial attention map over the centre square the network saw."""
    import cv2

    h, w = frame.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    heat = np.asarray(attention, dtype=np.float32)
    heat = heat - heat.min()
    heat = heat / heat.max() if heat.max() > 0 else heat
    heat = np.clip(cv2.resize(heat, (side, side), interpolation=cv2.INTER_CUBIC), 0, 1)
    ax.imshow(heat_rgba(heat), extent=(left - 0.5, left + side - 0.5, top + side - 0.5,
                                       top - 0.5), interpolation="bilinear")
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), side, side, fill=False,
                           edgecolor="white", linewidth=0.8, linestyle="--"))
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)


def key_frames_height(student: Student, frames: dict[int, np.ndarray], width: float) -> float:
    """Inches the key frames take at `width` inches: four to a row (a quarter of `width`
    each, also when there are fewer), a caption each."""
    segments = _key_segments(student.result)
    rows = -(-len(segments) // 4)
    first = frames[segments[0]["key_frame"]]
    return rows * (width / 4 * first.shape[0] / first.shape[1] + 0.55)


def key_frames_figure(student: Student, colours: dict[str, Any],
                      frames: dict[int, np.ndarray], width: float = 8.0,
                      fig: Figure | SubFigure | None = None) -> Figure | SubFigure:
    """A key frame per segment, captioned with its action and time; the heatmap segment's
    frame shows where the network looked."""
    result = student.result
    segments = _key_segments(result)
    heat = heatmap_segment(result)
    columns = min(4, len(segments))
    rows = -(-len(segments) // columns)
    fig = fig or Figure(figsize=(width * columns / 4, key_frames_height(student, frames, width)),
                        layout="constrained")
    for i, s in enumerate(segments):
        ax = fig.add_subplot(rows, columns, i + 1)
        ax.imshow(frames[s["key_frame"]])
        if heat is s:
            _heat_overlay(ax, frames[s["key_frame"]], s["attention"])
        name = UNKNOWN_LABEL if s["action"] is None else s["action"].replace("_", " ")
        colour = UNKNOWN_COLOUR if s["action"] is None else colours[s["action"]]
        caption = f"{name}\n{s['start_s']:.1f}-{s['end_s']:.1f} s" + (
            "  (attention)" if heat is s else "")
        ax.set_title(caption, fontsize=8, color="black", loc="left")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor(colour)
            spine.set_linewidth(3)
    return fig


def session_figure(students: Sequence[Student], colours: dict[str, Any],
                   width: float = 8.0, fig: Figure | SubFigure | None = None
                   ) -> Figure | SubFigure:
    """Every student's timeline, one row each, on one time axis."""
    fig = fig or Figure(figsize=(width, 0.42 * len(students) + 1.4), layout="constrained")
    ax = fig.add_subplot()
    for i, st in enumerate(students):
        _bars(ax, st.result, colours, y=i, height=0.7)
    ax.set_yticks(range(len(students)), [st.name for st in students], fontsize=8)
    ax.set_ylim(len(students) - 0.5, -0.5)
    ax.set_xlim(0, max(st.duration_s for st in students))
    ax.set_xlabel("seconds")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    seen = {a for st in students for a in st.seconds}
    names = [a for a in colours if a in seen]
    unknown = any(st.unknown_s for st in students)
    ax.legend(handles=_legend_handles(names, colours, unknown), loc="lower center",
              bbox_to_anchor=(0.5, 1.0), ncol=min(5, len(names) + unknown), fontsize=8,
              frameon=False)
    return fig
