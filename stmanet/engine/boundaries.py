"""Placing the changes of action of a per-frame result on the frames' own evidence.

The windows' scores place a change of drill late: a window names the new drill only when most
of its frames show it, and averaging windows cannot move a change earlier than the windows
themselves put it (docs/training.md, "Timelines"). Each frame's picture can: up to the last
frame of the old drill the movement keeps coming back to poses seen earlier in that drill,
and from the first frame of the change on it does not.

`refine_changes` takes the labels after smoothing and every frame's embedding (the counter's
`stmanet.engine.reps.frame_embedding`: a small picture of the frame's edges) and, for every
change from action A to action B, looks at the frames within `radius` of it (half a window
by default; never past the middle of either neighbouring segment):

1. A's reference: the frames of A's segment just before that zone (up to `reference`
   frames). Its frames' distances to their nearest other frame of the reference (cosine
   distance of the centred embeddings, leaving out the frames within NEIGHBOUR_GAP of a
   frame) tell how far a frame of A can be from the rest of A; their median times
   DEPARTURE_FACTOR is the threshold `tau`.
2. Each frame t of the zone gets d(t), the distance to its nearest frame of A's reference.
3. The change goes to the frame t* that minimises sum over zone frames t < t* of
   (d(t) - tau): the zone's frames before t* are, taken together, within A's reach, the ones
   after it are not. A transition from one drill's last pose into the next counts as the
   new drill, as in the expected timelines.

Only the place of a change moves: no segment is added or removed, so the order of actions
(the edit score) stays as it was. A change whose neighbouring segments are too short for a
reference (MIN_REFERENCE frames) is left where it was. The settings were chosen on 28
generated sequences (seed 3000) and measured once on the demo video and 50 others
(docs/training.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stmanet.engine.blas_threads import single_blas_thread
from stmanet.engine.periodicity import unit_rows

if TYPE_CHECKING:
    from stmanet.engine.inference import VideoPrediction

REFERENCE_SECONDS = 6.0
"""Seconds of the old action's segment before the zone that a frame is compared with."""
DEPARTURE_FACTOR = 2.0
"""A frame has left the old action when its distance to the action's reference exceeds this
many times the reference's own median nearest-other-frame distance."""
NEIGHBOUR_GAP = 3
"""Frames on either side of a reference frame left out when finding its nearest other frame
(its immediate neighbours are alike in any movement)."""
MIN_REFERENCE = 8
"""The fewest reference frames a change is moved with."""


def default_radius(window: int) -> int:
    """Frames on either side of a change that it may move: half a window."""
    return max(1, int(window) // 2)


def _departure_threshold(reference: np.ndarray) -> float:
    similarity = reference @ reference.T
    n = similarity.shape[0]
    near = np.abs(np.arange(n)[:, None] - np.arange(n)[None, :]) <= NEIGHBOUR_GAP
    similarity[near] = -2.0
    own = 1.0 - similarity.max(axis=1)
    return DEPARTURE_FACTOR * float(np.median(own))


def refine_changes(labels: np.ndarray, embeddings: np.ndarray, *, radius: int,
                   reference: int) -> np.ndarray:
    """(N,) int64: `labels` with every change of label moved to where the frames' embeddings
    (N, D) stop resembling the action before it (see the module text); `radius` frames on
    either side of each change are searched, `reference` frames of the earlier action are
    compared with."""
    labels = np.asarray(labels, dtype=np.int64)
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != labels.shape[0]:
        raise ValueError(f"need one embedding per frame: {labels.shape[0]} frames, "
                         f"embeddings of shape {emb.shape}")
    if radius < 1 or reference < MIN_REFERENCE:
        raise ValueError(f"radius must be >= 1 and reference >= {MIN_REFERENCE}, got "
                         f"{radius} and {reference}")
    cuts = [0, *(np.flatnonzero(np.diff(labels)) + 1).tolist(), int(labels.size)]
    out = labels.copy()
    with single_blas_thread():
        for j in range(1, len(cuts) - 1):
            before, change, after = cuts[j - 1], cuts[j], cuts[j + 1]
            # never past the middle of a neighbouring segment, so that each keeps a frame
            lo = max(change - radius, before + (change - before + 1) // 2)
            hi = min(change + radius, change + (after - change - 1) // 2)
            first = max(before, lo - reference)
            if lo - first < MIN_REFERENCE or hi - lo < 2:
                continue
            unit = unit_rows(emb[first:hi])
            ref, zone = unit[:lo - first], unit[lo - first:]
            distance = 1.0 - (zone @ ref.T).max(axis=1)
            cost = np.concatenate([[0.0], np.cumsum(distance - _departure_threshold(ref))])
            moved = lo + int(np.argmin(cost))
            out[lo:moved] = labels[change - 1]
            out[moved:hi] = labels[change]
    return out


def reference_frames(fps: float) -> int:
    """Frames of the old action compared with: REFERENCE_SECONDS at `fps`."""
    return max(MIN_REFERENCE, round(REFERENCE_SECONDS * (fps if fps > 0 else 25.0)))


def predict_embedded(predictor: Any, path: Path | str, *, hop: int | None = None,
                     on_progress: Any = None) -> tuple[VideoPrediction, np.ndarray]:
    """`predictor.predict(path)` and every frame's embedding (T, D), from one decoding of the
    video (what `refine_changes` needs; the embedding costs about a quarter of a millisecond
    a frame)."""
    from stmanet.data.decode import iter_frames, probe
    from stmanet.engine.reps import frame_embedding

    path = Path(path)
    info = probe(path)
    store: list[np.ndarray] = []

    def frames() -> Iterator[tuple[int, np.ndarray]]:
        for pos, frame in iter_frames(path):
            store.append(frame_embedding(frame))
            yield pos, frame

    stream = frames()
    prediction = predictor.predict_frames(stream, info.frame_count, info.fps, path=path,
                                          hop=hop, on_progress=on_progress)
    for _ in stream:  # the frames after the last window's
        pass
    return prediction, (np.stack(store) if store else np.zeros((0, 0), dtype=np.float32))
