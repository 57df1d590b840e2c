"""The work behind the comparison of two videos: what each video's frames look like and how
fast its repetitions go (`study_video`, run as a `BackgroundJob`), and which frame of the
second goes with each frame of the first (`align_videos`, stmanet.engine.align).

A study keeps every frame's embedding (stmanet.engine.reps.frame_embedding: a small picture
of the frame's edges, EMBED_SIDE pixels on its longer side) and the repetition counts of each
segment of the video (the per-frame result of a whole-video analysis when there is one, else
the whole video as one segment). The repetitions are counted on those pictures as they are,
as the counter does; the study keeps each one centred on an EMBED_SIDE x EMBED_SIDE square of
zeros (a flat picture's edges), so videos of any aspect ratio (4:3 beside 16:9, portrait
beside landscape) give embeddings of the same length to line up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from app.services.jobs import CancelCheck, JobError, Progress
from stmanet.data.decode import iter_frames, probe
from stmanet.engine import align
from stmanet.engine.align import Alignment, by_offset
from stmanet.engine.segmentation import FrameTimeline

__all__ = ["SYNC_MODES", "Alignment", "VideoStudy", "align_videos", "by_offset",
           "compared_segments", "shared_actions", "study_video", "tempo_text"]
from stmanet.engine.reps import EMBED_SIDE, SegmentCount, count_reps, frame_embedding
from stmanet.errors import Cancelled, STMANetError

SYNC_MODES = {
    "offset": "Time offset",
    "action": "Start of the same action",
    "reps": "Repetitions (DTW when not counted)",
}
"""The synchronisation modes a coach chooses from, in the order offered."""

Segments = Sequence[tuple[str, int, int]]
"""(label, start_frame, end_frame) of a video's per-frame result."""

JOIN_SECONDS = 2.0
"""Two stretches of the same action at most this far apart, with nothing but footage of no
known action between them, are compared as one."""


def compared_segments(timeline: FrameTimeline, fps: float) -> list[tuple[str, int, int]]:
    """The segments of a per-frame result that a comparison lines up and
    counts: the known actions as the timeline tells them, two stretches of one action
    `JOIN_SECONDS` or less apart joined (`align.joined_segments`)."""
    known = [(s.label, s.start_frame, s.end_frame) for s in timeline.told_segments()
             if s.known is not False]  # footage of no known action: nothing to count
    return align.joined_segments(known, round(JOIN_SECONDS * fps))


@dataclass(frozen=True)
class VideoStudy:
    """One video's frames as embeddings (T, D) and its repetition counts per segment."""

    path: Path
    fps: float
    embeddings: np.ndarray
    counts: tuple[SegmentCount, ...]

    @property
    def frames(self) -> int:
        return len(self.embeddings)

    def count_at(self, frame: int) -> SegmentCount | None:
        """The counted segment holding `frame` (None where there is none)."""
        for count in self.counts:
            if count.start_frame <= frame < count.end_frame:
                return count
        return None

    def count_of(self, label: str | None) -> SegmentCount | None:
        """The first segment of `label` that was counted (not abstained)."""
        for count in self.counts:
            if count.label == label and not count.abstained:
                return count
        return None


def study_video(path: Path | str, segments: Segments | None = None, *,
                progress: Progress | None = None,
                cancelled: CancelCheck | None = None) -> VideoStudy:
    """Embed every frame of `path` and count the repetitions of each of `segments` (default:
    the whole video as one segment). Errors name the file."""
    path = Path(path)
    try:
        info = probe(path)
        total = max(1, info.frame_count)
        store: list[np.ndarray] = []
        shape = (0, 0)
        for index, frame in iter_frames(path):
            shape = frame.shape[:2]
            if cancelled is not None and index % 16 == 0 and cancelled():
                raise Cancelled("comparison cancelled")
            store.append(frame_embedding(frame))
            if progress is not None and index % 25 == 0:
                progress(index, total)
        if not store:
            raise JobError(f"{path.name}: no frame could be decoded")
        embeddings = np.stack(store)
        bounds = [(label, start, min(end, len(store))) for label, start, end in segments or ()
                  if start < len(store)] or [(None, 0, len(store))]
        counts = count_reps(embeddings, info.fps, bounds)
        embeddings = squared(embeddings, *shape)
    except Cancelled:
        raise
    except STMANetError as exc:
        raise JobError(f"{path.name}: {exc}") from exc
    if progress is not None:
        progress(total, total)
    return VideoStudy(path, info.fps, embeddings, tuple(counts))


def squared(embeddings: np.ndarray, height: int, width: int) -> np.ndarray:
    """Frame embeddings (T, D) of frames `height` x `width` as (T, EMBED_SIDE²): each
    picture (frame_embedding's size for that frame) centred on a square of zeros."""
    scale = EMBED_SIDE / max(height, width)
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    if h * w != embeddings.shape[1]:
        raise JobError(f"embeddings of {embeddings.shape[1]} values are not {h} x {w} pictures")
    out = np.zeros((len(embeddings), EMBED_SIDE, EMBED_SIDE), dtype=np.float32)
    top, left = (EMBED_SIDE - h) // 2, (EMBED_SIDE - w) // 2
    out[:, top:top + h, left:left + w] = embeddings.reshape(-1, h, w)
    return out.reshape(len(embeddings), -1)


def _rep_spans(count: SegmentCount) -> list[tuple[float, float]]:
    return list(zip(count.rep_starts, count.rep_times, strict=True))


def align_videos(mode: str, *, offset: float = 0.0, fps_a: float = 25.0, fps_b: float = 25.0,
                 segments_a: Segments | None = None, segments_b: Segments | None = None,
                 study_a: VideoStudy | None = None, study_b: VideoStudy | None = None,
                 action: str | None = None) -> Alignment:
    """The alignment of B against A for a mode of SYNC_MODES:

    - "offset": B's frame `offset` with A's frame 0;
    - "action": the first frame of `action` in both analyses (default: the action both
      show longest; needs both `segments_`);
    - "reps": repetition k with repetition k within that action (or within the whole videos
      without analyses), by the counts of the studies; where either was not counted, the
      frames' embeddings of those stretches warped onto each other (DTW).
    A mode that cannot be used raises STMANetError saying what is missing."""
    rate = fps_b / fps_a
    if mode == "offset":
        return align.by_offset(offset, rate=rate)
    if mode == "action":
        if not segments_a or not segments_b:
            raise STMANetError("Analyse both videos first: the action is found by the model.")
        return align.by_action_start(segments_a, segments_b, action=action, rate=rate)
    if mode != "reps":
        raise STMANetError(f"unknown synchronisation {mode!r}")
    if study_a is None or study_b is None:
        raise STMANetError("The videos' frames are still being read.")
    label: str | None = None
    span_a, span_b = (0, study_a.frames), (0, study_b.frames)
    if segments_a and segments_b:
        label, (a0, a1), (b0, b1) = align.common_action(segments_a, segments_b,
                                                               action)
        span_a, span_b = (a0, min(a1, study_a.frames)), (b0, min(b1, study_b.frames))
    count_a, count_b = study_a.count_at(span_a[0]), study_b.count_at(span_b[0])
    extra = {"action": label}
    if (count_a is not None and count_b is not None and not count_a.abstained
            and not count_b.abstained and count_a.rep_times and count_b.rep_times):
        alignment = align.by_reps(_rep_spans(count_a), _rep_spans(count_b), fps_a, fps_b,
                                  features_a=study_a.embeddings,
                                  features_b=study_b.embeddings)
        return replace(alignment, extra={**alignment.extra, **extra})
    return replace(align.by_dtw(study_a.embeddings, study_b.embeddings, rate=rate,
                                span_a=span_a, span_b=span_b), extra=extra)


def shared_actions(segments_a: Segments | None, segments_b: Segments | None) -> list[str]:
    """The actions both analyses found, the one shown longest first (empty without both)."""
    if not segments_a or not segments_b:
        return []
    return align.common_actions(segments_a, segments_b)


def tempo_text(count: SegmentCount | None) -> str:
    """A segment's pace as a coach reads it: '52 reps/min · 1.15 s per rep' (the same
    pace both ways: 60 / reps per minute), or why not."""
    if count is None:
        return "—"
    if count.abstained or not count.reps_per_min:
        return f"not counted ({count.reason})" if count.reason else "not counted"
    period = 60.0 / count.reps_per_min
    return f"{count.reps_per_min:.0f} reps/min · {period:.2f} s per rep"
