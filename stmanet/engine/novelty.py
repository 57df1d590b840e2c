"""The novelty scores of open-set recognition, and the class-conditional Gaussians behind
the Mahalanobis one (`stmanet.engine.openset` holds the statistics, their fitting and their
files; docs/model.md, "Telling footage of no known action", says which score and why)."""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from stmanet.errors import ConfigError

STAGES = (2, 3, 4, 5)  # the stages whose pooled features the distance is measured on
LOGIT_SCORES = ("energy", "max_logit", "max_softmax")
SOFTMAX_FLOOR = 1e-6  # 1 - top softmax score is at least this before its logarithm
MIN_DOUBT_DEVIATION = 1.0
"""The least deviation of log(1 - top softmax score) the combined score divides by: a factor
of e in how unsure the classifier is, so that validation windows all nearly as sure as can be
do not make a window at 99% a thousand deviations out."""
MIN_CALIBRATION = 10
"""The fewest validation windows the combined score is calibrated on."""


def doubt_tells(logits: Tensor) -> bool:
    """Whether the classifier's doubt on these calibration windows says anything: enough of
    them, and at most half as sure as a softmax can be told apart from (at the floor)."""
    if logits.shape[0] < MIN_CALIBRATION:
        return False
    top = torch.softmax(logits.double(), dim=1).max(dim=1).values
    return bool(((1.0 - top) <= SOFTMAX_FLOOR).double().mean() <= 0.5)


def pooled_features(output: Any, stages: Sequence[int] = STAGES) -> Tensor:
    """(B, D) float32: the pooled features of `stages` of an STMANetOutput, concatenated."""
    return torch.cat([output.stage_features[s - 2].float() for s in stages], dim=1)


def mirror_average(output: Any, mirrored: Any) -> Any:
    """An STMANetOutput whose logits and pooled stage features are the means of `output`'s
    and `mirrored`'s (the same clips with left and right swapped); its attention maps stay
    `output`'s. A window and its mirror image are the same action, so their mean is less
    swayed by where the person happens to stand or face: a known action's windows lie closer
    to their class and the classifier is surer of them (docs/model.md, "Each window with its
    mirror image")."""
    pairs = zip(output.stage_features, mirrored.stage_features, strict=True)
    return dataclasses.replace(
        output, logits=(output.logits.float() + mirrored.logits.float()) / 2,
        stage_features=[(a.float() + b.float()) / 2 for a, b in pairs])


def run_views(model: Any, clips: Tensor, mirror: bool) -> Any:
    """`model`'s output on (B, 3, T, H, W) `clips`; with `mirror`, averaged with its output
    on their mirror images (`mirror_average`): two forward passes."""
    output = model(clips)
    return mirror_average(output, model(clips.flip(-1))) if mirror else output


class NoveltyTrail:
    """Judges the windows of one video together with the ones before them of the same action:
    `add(start, novelty, label)`, in order of the windows' starts, answers the mean novelty of
    this window and of those added that began at most `span` frames before it, back to the
    last change of top label (`label`, the window's top class; None: not told). A change of
    label begins a new trail: the footage changed (another drill, or footage of none that the
    classifier names otherwise), and the windows before say nothing of the new one, whose
    verdict would otherwise lag by up to a window length. The same start again (a window
    judged twice, e.g. live while paused) replaces its first novelty; a start before the last
    one (the video sought back, another video) begins a new trail. A window whose own novelty
    is NaN answers NaN (unknown) and is left out of the others' means."""

    def __init__(self, span: int) -> None:
        self.span = max(0, int(span))
        self._seen: deque[tuple[int, float, int | None]] = deque()

    def add(self, start: int, novelty: float, label: int | None = None) -> float:
        if self._seen and start < self._seen[-1][0]:
            self._seen.clear()
        elif self._seen and start == self._seen[-1][0]:
            self._seen.pop()
        if self._seen and self._seen[-1][2] != label:
            self._seen.clear()
        while self._seen and self._seen[0][0] < start - self.span:
            self._seen.popleft()
        self._seen.append((int(start), float(novelty), label))
        if not math.isfinite(novelty):
            return float("nan")
        return float(np.mean([v for _, v, _ in self._seen if math.isfinite(v)]))


def trailing_novelty(novelty: np.ndarray, clips: np.ndarray, back: int,
                     labels: np.ndarray | None = None) -> np.ndarray:
    """Each window's novelty averaged with that of up to `back` windows before it in the same
    clip (the test protocol's windows of a clip, consecutive and in order) and of the same
    top label (`labels`; None: labels not told), as `NoveltyTrail` judges a video's windows
    spaced one window length apart (NaN alike)."""
    novelty = np.asarray(novelty, dtype=np.float64)
    out = novelty.copy()
    if back < 1:
        return out
    clips = np.asarray(clips)
    trail, last = NoveltyTrail(back), None
    for position, row in enumerate(np.argsort(clips, kind="stable")):  # each clip's in order
        if clips[row] != last:
            trail, last = NoveltyTrail(back), clips[row]
        out[row] = trail.add(position, novelty[row],  # one position a window
                             None if labels is None else int(labels[row]))
    return out


def logit_novelty(logits: Tensor, score: str) -> Tensor:
    """(B,) novelty from logits alone: energy (-logsumexp), -max logit, or 1 - max softmax."""
    logits = logits.float()
    if score == "energy":
        return -torch.logsumexp(logits, dim=1)
    if score == "max_logit":
        return -logits.max(dim=1).values
    if score == "max_softmax":
        return 1.0 - torch.softmax(logits, dim=1).max(dim=1).values
    raise ConfigError(f"unknown novelty score {score!r}; known: {', '.join(LOGIT_SCORES)}")


def softmax_doubt(logits: Tensor) -> Tensor:
    """(B,) log(1 - top softmax score), floored: how unsure the classifier is."""
    top = torch.softmax(logits.double(), dim=1).max(dim=1).values
    return torch.log((1.0 - top).clamp_min(SOFTMAX_FLOOR))


def combined_novelty(distance: Tensor, logits: Tensor, scale: dict[str, list[float]],
                     relative: Tensor | None = None) -> Tensor:
    """(B,) a combined score: log(distance) and log(1 - top softmax score), each standardised
    by its calibration mean and deviation (`scale`), summed. With `relative` (the relative
    distance, `whitened_distances`) the larger of the standardised log distance and the
    standardised relative distance stands for how far the window is."""
    (m1, s1), (m2, s2) = scale["log_distance"], scale["log_doubt"]
    far = (torch.log(distance.double().clamp_min(1e-12)) - m1) / s1
    if relative is not None:
        m3, s3 = scale["relative_distance"]
        far = torch.maximum(far, (relative.double() - m3) / s3)
    unsure = (softmax_doubt(logits) - m2) / s2
    return (far + unsure).float()


def scale_ok(scale: dict[str, list[float]], relative: bool = False) -> bool:
    keys = ("log_distance", "log_doubt") + (("relative_distance",) if relative else ())
    try:
        return all(math.isfinite(scale[k][0]) and scale[k][1] > 0 for k in keys)
    except (KeyError, IndexError, TypeError):
        return False


def fit_scale(distance: Tensor, logits: Tensor, relative: Tensor | None = None,
              ) -> dict[str, list[float]]:
    """Mean and deviation of the parts of a combined score over calibration windows."""
    parts = {"log_distance": torch.log(distance.double().clamp_min(1e-12)),
             "log_doubt": softmax_doubt(logits)}
    if relative is not None:
        parts["relative_distance"] = relative.double()
    scale = {}
    for name, values in parts.items():
        values = values[torch.isfinite(values)]
        if values.numel() < 2:
            raise ConfigError("too few validation windows to calibrate the novelty score")
        least = MIN_DOUBT_DEVIATION if name == "log_doubt" else 1e-6
        scale[name] = [float(values.mean()), max(float(values.std()), least)]
    return scale


def mahalanobis_novelty(features: Tensor, means: Tensor, factor: Tensor, dims: int,
                        chunk: int = 256) -> Tensor:
    """(B,) min over classes of (f - mu_k)^T P (f - mu_k) / dims, P = L L^T; `means` are the
    whitened class means mu_k L."""
    out = []
    for part in torch.split(features.float(), chunk):
        z = part @ factor  # (b, D)
        distances = torch.cdist(z.double(), means.double()).pow(2)  # (b, K)
        out.append((distances.min(dim=1).values / max(dims, 1)).float())
    return torch.cat(out) if out else torch.zeros(0)


Background = tuple[Tensor, Tensor, Tensor]


def background_gaussian(means: Tensor, weights: Sequence[float]) -> Background:
    """The Gaussian of all the training windows in whitened coordinates (z = f L), made of
    the class statistics: centred on the class means' mean (each class weighted by
    `weights`, its share of the training windows), its covariance the shared one (the
    identity there) plus the class means' spread C = U diag(lambda) U^T, of rank K - 1 at
    most. Returns the centre (D,), U^T (r, D) and lambda / (1 + lambda) (r,), so that
    (z - m)^T (I + C)^-1 (z - m) = |z - m|^2 - sum_j lambda_j / (1 + lambda_j) (u_j . (z - m))^2.
    """
    mu = means.double()
    prior = torch.as_tensor(list(weights), dtype=torch.float64)
    prior = prior / prior.sum()
    centre = (prior[:, None] * mu).sum(0)
    _, spread, basis = torch.linalg.svd(prior.sqrt()[:, None] * (mu - centre),
                                        full_matrices=False)
    lam = spread ** 2
    return centre, basis, lam / (1.0 + lam)


def whitened_distances(features: Tensor, means: Tensor, factor: Tensor, dims: int,
                       background: Background, chunk: int = 256) -> tuple[Tensor, Tensor]:
    """(B,) distance to the nearest class (`mahalanobis_novelty`) and (B,) relative distance:
    that less the distance to the Gaussian of all the training windows (`background`, from
    `background_gaussian`; Ren et al. 2021, "A simple fix to Mahalanobis distance"), both
    divided by `dims`. A window near the training footage as a whole but between its classes
    (an action like the trained ones, not one of them) gets a high relative distance; made
    of the class statistics, it costs the file nothing beyond the class weights."""
    mu = means.double()
    centre, basis, keep = background
    nearest, relative = [], []
    for part in torch.split(features.float(), chunk):
        z = (part @ factor).double()
        near = torch.cdist(z, mu).pow(2).min(dim=1).values
        off = z - centre
        whole = off.pow(2).sum(1) - ((off @ basis.T).pow(2) * keep).sum(1)
        nearest.append((near / max(dims, 1)).float())
        relative.append(((near - whole) / max(dims, 1)).float())
    if not nearest:
        return torch.zeros(0), torch.zeros(0)
    return torch.cat(nearest), torch.cat(relative)


def fit_gaussians(features: Tensor, labels: Tensor, num_classes: int, *,
                  blocks: Sequence[int] | None = None,
                  class_names: Sequence[str] | None = None) -> tuple[Tensor, Tensor, int, list]:
    """Class means and a shared covariance of (N, D) features: returns the whitened means
    (K, D), the factor L (D, D), the dimensions used and the shrinkage of every block.

    `blocks`: widths of diagonal blocks (one covariance per stage); None: one full
    covariance. Features that never vary (dead channels) are left out.
    """
    x = features.double()
    labels = labels.long()
    n, width = x.shape
    counts = torch.bincount(labels, minlength=num_classes).double()
    if bool((counts == 0).any()):
        missing = [i for i in range(num_classes) if counts[i] == 0]
        names = [class_names[i] if class_names else str(i) for i in missing]
        raise ConfigError(f"no windows of class(es) {', '.join(names[:5])} in the data the "
                          "open-set statistics are fitted on: give the model's training data")
    means = torch.zeros(num_classes, width, dtype=torch.float64).index_add_(0, labels, x)
    means /= counts[:, None]
    centred = x - means[labels]
    dof = max(n - num_classes, 1)
    factor = torch.zeros(width, width, dtype=torch.float64)
    used = 0
    shrinkages = []
    start = 0
    for size in (blocks or [width]):
        part = slice(start, start + size)
        start += size
        cov = centred[:, part].T @ centred[:, part] / dof
        std = cov.diagonal().clamp_min(0).sqrt()
        active = torch.nonzero(std > 1e-6 * max(float(std.max()), 1e-30)).flatten()
        if active.numel() == 0:
            shrinkages.append(None)
            continue
        s = std[active]
        corr = cov[active][:, active] / (s[:, None] * s[None, :])
        shrink = _oas_shrinkage(corr, n)
        shrinkages.append(round(shrink, 6))
        p = corr.shape[0]
        shrunk = (1 - shrink) * corr + shrink * torch.eye(p, dtype=torch.float64)
        evals, evecs = torch.linalg.eigh(shrunk)
        evals = evals.clamp_min(1e-6 * float(evals.max()))
        local = (evecs / evals.sqrt()[None, :]) / s[:, None]  # diag(1/s) U diag(1/sqrt(lambda))
        index = active + part.start
        factor[index[:, None], index[None, :]] = local
        used += int(active.numel())
    return (means @ factor).float(), factor.float(), used, shrinkages


def _oas_shrinkage(cov: Tensor, n: int) -> float:
    """Oracle-Approximating-Shrinkage (Chen et al. 2010) towards tr(cov)/p times identity."""
    p = cov.shape[0]
    mu = float(cov.trace()) / p
    alpha = float((cov ** 2).mean())
    num = alpha + mu ** 2
    den = (n + 1.0) * (alpha - mu ** 2 / p)
    return 1.0 if den <= 0 else float(min(num / den, 1.0))


CONFIDENCE = 0.9
"""How sure a threshold set on calibration windows is to keep its share of new footage of the
known actions: the threshold for a known rate is the upper CONFIDENCE bound of the calibration
windows' quantile (`upper_quantiles`), not the quantile itself. Set exactly at the quantile,
a threshold keeps less than the rate asked on new footage about half the time, and a good
deal less when the windows' novelty has a long upper tail that a few hundred clips show
little of (docs/model.md, "A threshold with a margin for the clips it was set on")."""
RESAMPLES = 1000


def upper_quantiles(novelty: np.ndarray, clips: np.ndarray, rates: Sequence[float],
                    confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                    ) -> np.ndarray:
    """(len(rates),) for each rate the novelty under which that share of new windows like
    these falls with `confidence`: the `confidence` quantile, over `resamples` bootstrap
    resamples of whole clips (a clip's windows are alike, so they are drawn together), of the
    windows' `rate` quantile; never below the quantile itself, and rising with the rate.
    NaN and infinite novelties are left out; with a single clip, the plain quantiles."""
    values = np.asarray(novelty, dtype=np.float64)
    finite = np.isfinite(values)
    values, clips = values[finite], np.asarray(clips)[finite]
    if values.size == 0:
        raise ConfigError("no windows to set the novelty threshold with")
    rates = np.asarray(rates, dtype=np.float64)
    plain = np.quantile(values, rates)
    _, clip_of_window = np.unique(clips, return_inverse=True)
    count = int(clip_of_window.max()) + 1
    if count < 2:
        return plain
    rng = np.random.default_rng(0)  # the same windows give the same threshold every time
    drawn = np.empty((resamples, rates.size))
    for row in range(resamples):  # each window as often as its clip was drawn
        times = np.bincount(rng.integers(0, count, count), minlength=count)
        drawn[row] = np.quantile(np.repeat(values, times[clip_of_window]), rates)
    bound = np.maximum(np.quantile(drawn, confidence, axis=0), plain)
    order = np.argsort(rates, kind="stable")  # rising with the rate, in the order asked
    bound[order] = np.maximum.accumulate(bound[order])
    return bound
