"""Counting repetitions in a whole-video analysis, on the recognition worker's thread.

`FrameEmbeddings` sits between the decoder and the network during Analyse whole video: every
frame that goes by is kept as the engine's small edge picture (stmanet.engine.reps
`frame_embedding`, a quarter to half a millisecond a frame, on a thread of its own beside the
network), so the video is decoded once.
When the analysis ends, `count_segments` counts each segment of its per-frame result with the
engine's class-agnostic counter (`count_reps`). `rhythm` makes the self-similarity matrix of
each segment and of the whole video for the rhythm view (sampled to RHYTHM_FRAMES frames, so
that only pictures, not every frame's embedding, outlive the analysis). docs/reps.md says
how the counter works.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from app.services.counts import RepCounts, Rhythm, segment_reps
from stmanet.engine.reps import count_reps, frame_embedding, self_similarity
from stmanet.engine.segmentation import action_runs
from stmanet.errors import STMANetError

log = logging.getLogger(__name__)

RHYTHM_FRAMES = 320
"""The most frames a self-similarity picture holds (longer stretches are sampled evenly)."""


class FrameEmbeddings:
    """Keeps the embedding of every frame an iterator of (index, RGB frame) pairs yields.

    With `background` (the default) the frames are embedded on a thread of their own while
    the network works on the windows (OpenCV and NumPy release the interpreter's lock), so
    that on a machine with a core to spare embedding adds little to the analysis's time; at
    most BACKLOG frames wait for it."""

    BACKLOG = 64

    def __init__(self, background: bool = True) -> None:
        self._rows: list[Future[np.ndarray] | np.ndarray] = []
        self._pool = ThreadPoolExecutor(1, "embedding") if background else None
        self._lock = threading.Lock()
        self.seconds = 0.0  # time spent embedding

    def _embed(self, frame: np.ndarray) -> np.ndarray:
        started = time.perf_counter()
        row = frame_embedding(frame)
        with self._lock:
            self.seconds += time.perf_counter() - started
        return row

    def tap(self, frames: Iterable[tuple[int, np.ndarray]]) -> Iterator[tuple[int, np.ndarray]]:
        try:
            for index, frame in frames:
                if self._pool is None:
                    self._rows.append(self._embed(frame))
                else:
                    self._rows.append(self._pool.submit(self._embed, frame))
                    if len(self._rows) > self.BACKLOG:
                        waiting = self._rows[-self.BACKLOG - 1]
                        if isinstance(waiting, Future):
                            waiting.result()
                yield index, frame
        finally:  # what was handed to the thread is still embedded
            if self._pool is not None:
                self._pool.shutdown(wait=False)

    def __len__(self) -> int:
        return len(self._rows)

    def array(self) -> np.ndarray:
        """(T, D) float32 of the frames seen (T may be 0); waits for the thread."""
        rows = [r.result() if isinstance(r, Future) else r for r in self._rows]
        self._rows = list(rows)
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack(rows)


def count_segments(embeddings: np.ndarray, fps: float, timeline: Any,
                   spent: float = 0.0, unknown: np.ndarray | None = None) -> RepCounts:
    """The repetitions of every segment of a per-frame result (the engine's FrameTimeline:
    `labels` and `class_names`), cut to the frames embedded, less the frames that are not a
    known action (`unknown`, per frame: the stretches the timeline greys, left out as
    `stmanet predict --output-dir` and `stmanet count` leave them: `FrameTimeline.unknown`,
    engine.segmentation `action_runs`). `spent`: seconds already spent embedding, added to
    the time reported."""
    started = time.perf_counter()
    segments = [] if timeline is None else [
        (timeline.class_names[v], a, b)
        for v, a, b in action_runs(timeline.labels[:len(embeddings)], unknown) if v is not None]
    if not segments or fps <= 0:
        return RepCounts([], spent)
    try:
        counts = count_reps(embeddings, fps, segments)
    except (STMANetError, ValueError, np.linalg.LinAlgError):
        log.exception("the repetitions could not be counted")
        return RepCounts([], spent)
    out = RepCounts([segment_reps(label, c, fps) for (label, _, _), c in
                     zip(segments, counts, strict=True)])
    out.rhythms = [rhythm(embeddings, start, end) for _, start, end in segments]
    out.whole = rhythm(embeddings, 0, len(embeddings))
    out.seconds = spent + time.perf_counter() - started
    log.info("counted %d segments in %.2f s (embedding every frame included)",
             len(out.segments), out.seconds)
    return out


def rhythm(embeddings: np.ndarray | None, start: int, end: int,
           max_frames: int = RHYTHM_FRAMES) -> Rhythm | None:
    """The self-similarity matrix of frames start..end-1 (at most `max_frames` of them,
    evenly spaced); None without embeddings for them."""
    if embeddings is None:
        return None
    end = min(end, len(embeddings))
    if end - start < 2:
        return None
    frames = np.arange(start, end)
    if len(frames) > max_frames:
        frames = frames[np.linspace(0, len(frames) - 1, max_frames).round().astype(int)]
    matrix = self_similarity(np.asarray(embeddings[frames], dtype=np.float32))
    return Rhythm(matrix.astype(np.float16), frames, start, end)
