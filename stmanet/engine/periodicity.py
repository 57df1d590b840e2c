"""The numbers behind repetition counting: self-similarity, local period, cycle alignment.

Everything here works on a sequence of per-frame embeddings (T, D) and knows nothing about
videos or drills (stmanet.engine.reps builds on it):

- `unit_rows`: embeddings centred on their mean and scaled to unit length, so that a dot
  product is a cosine similarity; `similarity_band` the dot products of every frame with the
  frames up to `max_lag` later (a band of the temporal self-similarity matrix).
- `local_autocorrelation`: for every frame and lag, how alike the movement is to itself that
  many frames later, averaged over a window around the frame that spans two lags, so the
  period can change along the sequence.
- `local_periods`: the period at each frame, the shortest lag whose similarity comes close
  to the best lag's (a repetition, not a multiple of it).
- `align_to_cycle`: which frame of one reference cycle (the template) each frame shows,
  found by dynamic programming over a path that only moves forward through the template
  and wraps around at its end: the number of wraps is the number of cycles, each one
  matched as a whole, so that neither a tempo change nor an error in one period estimate
  adds up over a long sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def unit_rows(embeddings: np.ndarray) -> np.ndarray:
    """(T, D) float32 rows centred on the mean row and scaled to unit length."""
    x = np.asarray(embeddings, dtype=np.float32)
    x = x - x.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-6)


def similarity_band(unit: np.ndarray, max_lag: int, block: int = 256) -> np.ndarray:
    """(T, max_lag + 1): [t, L] = similarity of frame t and frame t + L (NaN past the end).

    Computed a block of rows at a time against the rows up to `max_lag` after it, so the cost
    grows with T * max_lag rather than T * T."""
    n = len(unit)
    band = np.full((n, max_lag + 1), np.nan, dtype=np.float32)
    for start in range(0, n, block):
        stop = min(n, start + block)
        rows = stop - start
        sims = np.full((rows, rows + max_lag), np.nan, dtype=np.float32)
        other = unit[start:min(n, stop + max_lag)]
        sims[:, :len(other)] = unit[start:stop] @ other.T
        # [r, L] = sims[r, r + L]: a view walking down the diagonals
        step_r, step_c = sims.strides
        diagonals = np.lib.stride_tricks.as_strided(
            sims, shape=(rows, max_lag + 1), strides=(step_r + step_c, step_c),
            writeable=False)
        band[start:stop] = diagonals
    return band


def local_autocorrelation(band: np.ndarray, min_window: int) -> np.ndarray:
    """(T, L): [c, L] = mean similarity of frame pairs L apart whose midpoint lies within
    max(min_window, 2 L) / 2 frames of frame c; NaN where no pair does."""
    n, lags = band.shape
    out = np.full((n, lags), np.nan, dtype=np.float32)
    for lag in range(1, lags):
        pairs = band[: n - lag, lag]
        if pairs.size == 0:
            break
        half = max(min_window, 2 * lag) // 2
        sums = np.concatenate([[0.0], np.cumsum(pairs, dtype=np.float64)])
        mid = np.arange(n) - lag // 2  # the pair whose midpoint is frame c starts here
        lo = np.clip(mid - half, 0, pairs.size)
        hi = np.clip(mid + half + 1, 0, pairs.size)
        ok = hi > lo
        out[ok, lag] = (sums[hi[ok]] - sums[lo[ok]]) / (hi[ok] - lo[ok])
    return out


def local_periods(autocorr: np.ndarray, *, min_lag: int = 2, near_best: float = 0.7,
                  floor: float = 0.1) -> np.ndarray:
    """(T,) int: each frame's period in frames, 0 where none.

    A period is a local maximum of the autocorrelation over lags; the period chosen is the
    shortest whose height is at least `near_best` times the highest maximum's, which must
    itself exceed `floor` (a movement repeating at lag P also repeats at 2P, 3P, ...).
    """
    r = np.where(np.isnan(autocorr), -np.inf, autocorr)
    peak = np.zeros(r.shape, dtype=bool)
    peak[:, 1:-1] = (r[:, 1:-1] > r[:, :-2]) & (r[:, 1:-1] >= r[:, 2:])
    peak[:, :min_lag] = False
    heights = np.where(peak, r, -np.inf)
    best = heights.max(axis=1)
    chosen = peak & (r >= near_best * best[:, None]) & (best > floor)[:, None]
    return np.where(chosen.any(axis=1), chosen.argmax(axis=1), 0)


@dataclass(frozen=True)
class Alignment:
    """Where each frame is in the reference cycle."""

    states: np.ndarray  # (T,) template frame each frame matches, 0..length-1
    advance: np.ndarray  # (T,) template frames moved since the previous frame (0 first)
    length: int  # frames in the template
    score: float  # mean of the matched (row-standardised) similarities

    @property
    def cycles(self) -> np.ndarray:
        """(T,) cycles done since the first frame (fractional)."""
        return np.cumsum(self.advance) / self.length


def align_to_cycle(match: np.ndarray, *, stay: float, skip: float,
                   max_advance: int = 3) -> Alignment:
    """The forward path through a cyclic template that best matches the frames.

    `match` (T, P): similarity of each frame to each template frame. Each row is
    standardised (so that a stretch of frames that matches everything a little worse, under
    a zoom or a changing background, still picks its best template frame), then the path
    moves 0..max_advance template frames per frame, wrapping from the last to the first, at
    a cost of `stay` for standing still and `skip` per template frame skipped.
    """
    n, length = match.shape
    z = (match - match.mean(axis=1, keepdims=True)) / (match.std(axis=1, keepdims=True) + 1e-6)
    steps = np.arange(max_advance + 1)
    costs = np.array([stay, 0.0] + [skip * (a - 1) for a in range(2, max_advance + 1)])
    came_from = (np.arange(length)[None, :] - steps[:, None]) % length  # (steps, length)
    score = z[0].astype(np.float64)
    back = np.zeros((n, length), dtype=np.int8)
    for t in range(1, n):
        candidates = score[came_from] - costs[:, None]
        choice = candidates.argmax(axis=0)
        score = candidates[choice, np.arange(length)] + z[t]
        back[t] = choice
    states = np.zeros(n, dtype=np.int64)
    advance = np.zeros(n, dtype=np.int64)
    j = int(np.argmax(score))
    total = float(score[j])
    for t in range(n - 1, 0, -1):
        states[t] = j
        advance[t] = int(back[t, j])
        j = (j - advance[t]) % length
    states[0] = j
    return Alignment(states, advance, length, total / n)
