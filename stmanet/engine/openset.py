"""Open-set recognition: is a window one of the model's actions at all?

A classifier names one of its classes for anything it is shown. `OpenSetStats` adds a
*novelty* to every prediction (higher: less like the footage the model was trained on) and a
threshold: a window whose novelty is above it is "not a known action".

The score, chosen by measurement (docs/model.md, "Telling footage of no known action"): the
Mahalanobis distance of the window's pooled features (stages 2-5 of `STMANetOutput.stage_features`,
concatenated) to the nearest class mean, under one covariance shared by all classes, divided
by the number of feature dimensions (about 1 for a typical training window). It tells footage
far from all training (an empty room, a street) best. With validation windows to calibrate
on, the default ("mahalanobis+relative+softmax") adds how unsure the classifier is (log of 1
- the top softmax score) to the larger of the log distance and the relative distance (the
distance less that to one Gaussian of all the training windows, made of the same
statistics: `novelty.whitened_distances`), each standardised on the validation windows; the
doubt and the relative distance tell actions near the trained ones (a drill the model was
not taught). "mahalanobis+softmax" (the log distance and the doubt, summed: the default
before) and the other scores measured (energy, max-logit, max-softmax alone) are kept as
options of `fit_openset`.

Fitting costs no training: the class means and the shared covariance come from every
test-protocol window of the model's training clips (`openset_windows.collect_windows`); the
covariance is estimated on standardised features with Oracle-Approximating Shrinkage towards
the identity, and stored as a whitening factor L (precision = L L^T). The threshold is the
novelty that `known_rate` (95%) of new windows of the known actions stay under with 90%
confidence (`novelty.upper_quantiles`: the calibration windows' quantile with a margin for
how few clips showed it), from validation windows when there are some, else the training
windows, each scored by statistics fitted without its own clip (in sample they would look
more familiar than new footage). Such thresholds for a range of known rates are kept, so a
threshold for another rate (`threshold_for`, the sensitivity levels) is read off without the
data.

In a model file: tensors `openset.means` (K, D) (the class means, whitened) and
`openset.factor` (D, D) beside the weights, and a JSON document under the header key
`stmanet.openset`; `load_checkpoint` sets `LoadedModel.openset` from them (None for a file
without: it cannot tell unknown footage). `attention_status` tells whether a model's
attention modules ever learnt anything (a fresh or Kinetics-imported model's have not).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from stmanet.engine.novelty import (
    CONFIDENCE,
    STAGES,
    Background,
    NoveltyTrail,
    background_gaussian,
    combined_novelty,
    doubt_tells,
    fit_gaussians,
    fit_scale,
    logit_novelty,
    mahalanobis_novelty,
    pooled_features,
    scale_ok,
    trailing_novelty,
    upper_quantiles,
    whitened_distances,
)
from stmanet.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)

RELATIVE = "mahalanobis+relative+softmax"
COMBINED = "mahalanobis+softmax"
SCORES = ("mahalanobis", COMBINED, RELATIVE, "energy", "max_logit", "max_softmax")
FEATURE_SCORES = ("mahalanobis", COMBINED, RELATIVE)  # the scores with class means
CALIBRATED = (COMBINED, RELATIVE)  # the scores whose parts are standardised on validation
COVARIANCES = ("full", "stage")  # one covariance over all stages, or one per stage
PREFIX = "openset."
HEADER_KEY = "stmanet.openset"
FORMAT = 3  # 2: windows averaged with their mirror images ("mirror"); 3: "trail"
DEFAULT_KNOWN_RATE = 0.95
TRAIL = 0.0
"""Newly fitted statistics judge each window alone. Statistics fitted with a trail of N
window lengths (`fit_openset(..., trail=N)`; files of format 3) judge each window on its
novelty averaged with that of the windows of the same video and top class that began up to
N window lengths before it (`NoveltyTrail`), the threshold set on validation windows averaged
alike: steadier inside an action, but a verdict that lags where footage of no known action
begins, so that the start of a rest after a drill is given a drill's name (docs/model.md,
"Each window with the one before it")."""
SENSITIVITIES = {"low": 0.99, "normal": DEFAULT_KNOWN_RATE, "high": 0.90}
"""Sensitivity levels: the share of new windows of the known actions that stay known. Low
calls fewer windows unknown (only the most unlike the training footage), high calls more."""
QUANTILE_RATES = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.875, 0.9, 0.925, 0.95, 0.96, 0.97,
                  0.975, 0.98, 0.985, 0.99, 0.995, 0.999, 1.0)
NO_STATISTICS = ("the model carries no open-set statistics, so it cannot tell footage of its "
                 "actions from anything else")

ProgressCallback = Callable[[int, int], None]
CancelCheck = Callable[[], bool]


# ------------------------------------------------------------------------------ the scores

def stage_channels(model: nn.Module, stages: Sequence[int] = STAGES) -> list[int]:
    """Feature widths of `stages` (2-5) of an STMANet."""
    channels = model.backbone.stage_channels
    return [int(channels[s - 2]) for s in stages]


@dataclass
class WindowOutputs:
    """The network's output for every test-protocol window of a data set: pooled features of
    stages 2-5 (N, D), logits (N, K), the model's label of each window's clip (-1: a class
    the model does not know) and the clip it came from."""

    features: Tensor
    logits: Tensor
    labels: Tensor
    clips: Tensor
    class_of_clip: list[str] = field(default_factory=list)  # the data set's class per clip
    description: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    mirror: bool = False  # each window averaged with its mirror image (collect_windows)

    @property
    def clip_count(self) -> int:
        return int(torch.unique(self.clips).numel()) if len(self.clips) else 0

    def known(self) -> WindowOutputs:
        """The windows of classes the model knows."""
        keep = self.labels >= 0
        return WindowOutputs(self.features[keep], self.logits[keep], self.labels[keep],
                             self.clips[keep], self.class_of_clip, self.description,
                             self.skipped, self.mirror)

    @classmethod
    def gather(cls, parts: list[tuple[Tensor, Tensor, int, int]], class_of_clip: list[str],
               description: str = "", skipped: list[tuple[str, str]] | None = None,
               ) -> WindowOutputs:
        """From (features, logits, label, clip) per batch of one clip's windows."""
        if not parts:
            return cls(torch.zeros(0, 0), torch.zeros(0, 0), torch.zeros(0, dtype=torch.long),
                       torch.zeros(0, dtype=torch.long), class_of_clip, description,
                       list(skipped or []))
        features = torch.cat([p[0] for p in parts])
        logits = torch.cat([p[1] for p in parts])
        labels = torch.cat([torch.full((len(p[0]),), p[2], dtype=torch.long) for p in parts])
        clips = torch.cat([torch.full((len(p[0]),), p[3], dtype=torch.long) for p in parts])
        return cls(features, logits, labels, clips, class_of_clip, description,
                   list(skipped or []))


# ------------------------------------------------------------------------------ statistics

FEW_CALIBRATION_CLIPS = 30
"""Validation clips per class under which `OpenSetStats.calibration_note` warns: a threshold
set exactly at the quantile of 10 clips per class kept 86-98% of new known windows where 95%
was asked, on 40 per class 92-98% (docs/model.md, held-out drills, nine trainings); the margin
the threshold now has cannot make up for a tail of novelty that so few clips did not show."""


@dataclass
class OpenSetStats:
    """What a model needs to call footage unknown, and how it was made."""

    score: str
    threshold: float
    # the share of new windows of the known actions at or under the threshold (with
    # calibration["confidence"]; files without it: of the calibration windows)
    known_rate: float
    quantiles: list[list[float]]  # [[known rate, novelty], ...]: the thresholds for each rate
    calibration: dict[str, Any] = field(default_factory=dict)  # subset, windows, data
    fit: dict[str, Any] = field(default_factory=dict)  # windows, clips, data, shrinkage
    stages: tuple[int, ...] = STAGES
    covariance: str = "full"
    dims: int = 0  # feature dimensions the distance is divided by
    means: Tensor | None = None  # (K, D) whitened class means (mahalanobis)
    factor: Tensor | None = None  # (D, D) whitening factor L (mahalanobis)
    # the combined scores: [mean, standard deviation] of log(distance), of log(1 - top
    # softmax score) and (mahalanobis+relative+softmax) of the relative distance over the
    # calibration windows
    scale: dict[str, list[float]] = field(default_factory=dict)
    # mahalanobis+relative+softmax: training windows per class (the weights of the Gaussian
    # of all the training windows)
    class_windows: list[int] = field(default_factory=list)
    # fitted on, and scoring, every window averaged with its mirror image (novelty.run_views:
    # two forward passes a window); the predictions of such a model are averaged so too
    mirror: bool = False
    # window lengths back: each window judged on its novelty averaged with that of the windows
    # of its video and top class that began up to so far before it (0: each window alone)
    trail: float = 0.0
    # the Gaussian of all the training windows, made once, with what it was made of
    _background: tuple[Any, Background] | None = field(default=None, init=False, repr=False,
                                                       compare=False)

    def __post_init__(self) -> None:
        if self.score not in SCORES:
            raise ConfigError(f"unknown novelty score {self.score!r}; known: "
                              f"{', '.join(SCORES)}")
        self.stages = tuple(int(s) for s in self.stages)

    # ---------------------------------------------------------------- scoring
    def novelty(self, output: Any) -> Tensor:
        """(B,) novelty of every clip of a forward pass (an STMANetOutput), on the CPU."""
        logits = output.logits.detach().cpu()
        if self.score not in FEATURE_SCORES:
            return logit_novelty(logits, self.score)
        return self.novelty_of(pooled_features(output, self.stages).detach().cpu(), logits)

    def novelty_of(self, features: Tensor | None, logits: Tensor | None) -> Tensor:
        """(B,) novelty from stored pooled features (stages `self.stages`) and logits."""
        if self.score not in FEATURE_SCORES:
            if logits is None:
                raise ValueError(f"the {self.score} score needs the logits")
            return logit_novelty(logits, self.score)
        if features is None or self.means is None or self.factor is None:
            raise ValueError("the Mahalanobis score needs features, class means and a factor")
        if self.score != "mahalanobis" and logits is None:
            raise ValueError(f"the {self.score} score needs the logits")
        distance, relative = self.distances(features)
        if self.score == "mahalanobis":
            return distance
        return combined_novelty(distance, logits, self.scale, relative)

    def distances(self, features: Tensor) -> tuple[Tensor, Tensor | None]:
        """(B,) distance to the nearest class mean and, for mahalanobis+relative+softmax,
        (B,) relative distance (else None): the parts of a feature score before scaling."""
        assert self.means is not None and self.factor is not None
        if self.score == RELATIVE:
            return whitened_distances(features, self.means, self.factor, self.dims,
                                      self.background())
        return mahalanobis_novelty(features, self.means, self.factor, self.dims), None

    def background(self) -> Background:
        """The Gaussian of all the training windows (`background_gaussian`), made once (again
        when the class means or weights are replaced)."""
        if self.means is None or not self.class_windows:
            raise ValueError("the relative distance needs class means and windows per class")
        key = (id(self.means), tuple(self.class_windows))
        if self._background is None or self._background[0] != key:
            self._background = (key, background_gaussian(self.means, self.class_windows))
        return self._background[1]

    def judged(self, novelty: np.ndarray, clips: Tensor | np.ndarray, logits: Tensor
               ) -> np.ndarray:
        """The novelty each test-protocol window is judged on (`trailing_novelty` per clip,
        its windows one window length apart, the trail begun afresh where the top class of
        `logits` changes), from their own novelty."""
        return trailing_novelty(novelty, np.asarray(clips), int(self.trail),
                                logits.argmax(dim=1).numpy())

    def new_trail(self, window: int) -> NoveltyTrail | None:
        """A `NoveltyTrail` for the windows (of `window` frames) of one video, in order of
        their starts; None where each window is judged alone."""
        return NoveltyTrail(round(self.trail * window)) if self.trail > 0 else None

    def is_known(self, novelty: Tensor | np.ndarray, threshold: float | None = None,
                 ) -> np.ndarray:
        """Boolean (B,): novelty at or under the threshold (NaN counts as unknown)."""
        limit = self.threshold if threshold is None else threshold
        return np.asarray(novelty, dtype=np.float64) <= limit

    def threshold_for(self, known_rate: float) -> float:
        """The novelty that `known_rate` of new known windows stay at or under (read off the
        stored thresholds of the nearest rates; files from before the margin: of the
        calibration windows)."""
        if not 0.5 <= known_rate <= 1.0:
            raise ConfigError(f"a known rate must lie between 0.5 and 1, not {known_rate:g}")
        rates, values = zip(*self.quantiles, strict=True)
        return float(np.interp(known_rate, rates, values))

    def threshold_for_sensitivity(self, sensitivity: str) -> float:
        if sensitivity not in SENSITIVITIES:
            raise ConfigError(f"unknown sensitivity {sensitivity!r}; choose one of "
                              f"{', '.join(SENSITIVITIES)}")
        if sensitivity == "normal":
            return self.threshold
        return self.threshold_for(SENSITIVITIES[sensitivity])

    def summary(self) -> str:
        """One line for a terminal: what the statistics were fitted on and the threshold."""
        fitted = (f"{self.fit.get('windows')} windows of {self.fit.get('clips')} clips"
                  if self.fit else "unknown data")
        views = ", each averaged with its mirror image" if self.mirror else ""
        if self.trail > 0:
            views += ", judged with the window before it"
        windows = f"{self.calibration.get('windows')} {self.calibration.get('subset')} windows"
        confidence, kept = self.calibration.get("confidence"), self.calibration.get("kept")
        if isinstance(confidence, float) and isinstance(kept, float):
            return (f"open-set statistics ({self.score}): fitted on {fitted}{views}; threshold "
                    f"{self.threshold:.4g}: {self.known_rate:.0%} of new windows of the known "
                    f"actions stay known with {confidence:.0%} confidence (it keeps "
                    f"{kept:.1%} of the {windows})")
        return (f"open-set statistics ({self.score}): fitted on {fitted}{views}; threshold "
                f"{self.threshold:.4g} keeps {self.known_rate:.0%} of the calibration windows "
                f"known ({windows})")

    def calibration_note(self) -> str:
        """A warning when the threshold was set on few validation clips of some class (its
        share kept known then transfers to new footage only to within several points:
        docs/model.md); "" otherwise."""
        return few_clips_note(self.calibration, self.known_rate)

    def describe(self, threshold: float | None = None) -> dict[str, Any]:
        """What a prediction file says about the statistics."""
        return {"score": self.score, "mirror": self.mirror, "trail": self.trail,
                "threshold": self.threshold if threshold is None else float(threshold),
                "model_threshold": self.threshold, "known_rate": self.known_rate,
                "calibration": dict(self.calibration)}

    # ---------------------------------------------------------------- files
    def to_header(self) -> str:
        return json.dumps({
            # the lowest format that holds what is used, so that older programs read it
            "format": 3 if self.trail > 0 else 2 if self.mirror else 1, "score": self.score,
            "threshold": self.threshold, "known_rate": self.known_rate, "quantiles": self.quantiles,
            "calibration": self.calibration, "fit": self.fit, "stages": list(self.stages),
            "covariance": self.covariance, "dims": self.dims,
            **({"scale": self.scale} if self.scale else {}),
            **({"class_windows": self.class_windows} if self.class_windows else {}),
            **({"mirror": True} if self.mirror else {}),
            **({"trail": self.trail} if self.trail > 0 else {})})

    def to_tensors(self) -> dict[str, Tensor]:
        if self.means is None or self.factor is None:
            return {}
        return {PREFIX + "means": self.means.detach().float().cpu().contiguous(),
                PREFIX + "factor": self.factor.detach().float().cpu().contiguous()}

    @classmethod
    def from_file_parts(cls, path: Path, header: str, tensors: dict[str, Tensor],
                        ) -> OpenSetStats | None:
        """The statistics a model file holds; None (with a warning) for a kind this version
        does not know; CheckpointError when they are damaged."""
        try:
            data = json.loads(header)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            if int(data.get("format", FORMAT)) > FORMAT or data.get("score") not in SCORES:
                log.warning("%s: open-set statistics of a newer kind (%s) are ignored: "
                            "update the program to use them", path, data.get("score"))
                return None
            stats = cls(score=str(data["score"]), threshold=float(data["threshold"]),
                        known_rate=float(data["known_rate"]),
                        quantiles=[[float(r), float(v)] for r, v in data["quantiles"]],
                        calibration=dict(data.get("calibration") or {}),
                        fit=dict(data.get("fit") or {}),
                        stages=tuple(int(s) for s in data.get("stages", STAGES)),
                        covariance=str(data.get("covariance", "full")),
                        dims=int(data.get("dims", 0)),
                        means=tensors.get(PREFIX + "means"),
                        factor=tensors.get(PREFIX + "factor"),
                        scale={str(k): [float(m), float(d)]
                               for k, (m, d) in (data.get("scale") or {}).items()},
                        class_windows=[int(n) for n in data.get("class_windows") or []],
                        mirror=bool(data.get("mirror", False)),
                        trail=float(data.get("trail", 0.0)))
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(path, f"its open-set statistics are unreadable ({exc})"
                                  ) from exc
        values = [stats.threshold] + [v for _, v in stats.quantiles]
        if not trail_ok(stats.trail):
            raise CheckpointError(path, f"its open-set statistics name a trail of "
                                  f"{stats.trail} window lengths (a whole number is needed)")
        if not stats.quantiles or not all(math.isfinite(v) for v in values):
            raise CheckpointError(path, "its open-set statistics are damaged (no finite "
                                  "threshold)")
        if stats.score in CALIBRATED and not scale_ok(stats.scale, stats.score == RELATIVE):
            raise CheckpointError(path, "its open-set statistics lack the scale of the "
                                  "combined score")
        if stats.score == RELATIVE and (not stats.class_windows
                                        or min(stats.class_windows) <= 0):
            raise CheckpointError(path, "its open-set statistics lack the training windows "
                                  "per class (class_windows) of the relative distance")
        if stats.score == RELATIVE and stats.means is not None \
                and len(stats.class_windows) != stats.means.shape[0]:
            raise CheckpointError(path, f"its open-set statistics weigh "
                                  f"{len(stats.class_windows)} classes and hold "
                                  f"{stats.means.shape[0]} class means")
        if stats.score in FEATURE_SCORES:
            if stats.means is None or stats.factor is None:
                raise CheckpointError(path, "its open-set statistics lack the class means or "
                                      "the covariance factor (openset.means, openset.factor)")
            for tensor in (stats.means, stats.factor):
                if not bool(torch.isfinite(tensor).all()):
                    raise CheckpointError(path, "its open-set statistics hold NaN or "
                                          "infinite values")
        return stats

    def check_fits(self, path: Path, model: nn.Module) -> None:
        """CheckpointError when the statistics were made for another network shape."""
        if self.score not in FEATURE_SCORES:
            return
        if not set(self.stages) <= set(STAGES):
            raise CheckpointError(path, f"its open-set statistics name stages {self.stages}")
        width = sum(stage_channels(model, self.stages))
        k = model.config.num_classes
        assert self.means is not None and self.factor is not None
        if tuple(self.means.shape) != (k, width) or tuple(self.factor.shape) != (width, width):
            raise CheckpointError(path, f"its open-set statistics (class means "
                                  f"{tuple(self.means.shape)}, factor "
                                  f"{tuple(self.factor.shape)}) do not fit the model "
                                  f"({k} classes, {width} features)")


def trail_ok(trail: float) -> bool:
    """A trail the statistics can calibrate as they judge: a whole number of window lengths
    (the test protocol's windows of a clip lie one window length apart)."""
    return math.isfinite(trail) and trail >= 0 and float(trail).is_integer()


def few_clips(calibration: dict[str, Any]) -> int | None:
    """Clips of the least-covered class when a threshold was set on fewer than
    FEW_CALIBRATION_CLIPS of them (validation clips, or without validation data training
    clips: `set_on_training`); None otherwise (or from a file that does not say)."""
    fewest = calibration.get("fewest_clips")
    if not (calibration.get("subset") == "validation" or set_on_training(calibration)) \
            or not isinstance(fewest, int) or fewest >= FEW_CALIBRATION_CLIPS:
        return None
    return fewest


def set_on_training(calibration: dict[str, Any]) -> bool:
    """Whether a threshold was set without validation data, on the training clips."""
    return str(calibration.get("subset", "")).startswith("training")


def few_clips_note(calibration: dict[str, Any], known_rate: float) -> str:
    """`OpenSetStats.calibration_note` from the calibration record alone."""
    fewest = few_clips(calibration)
    if fewest is None:
        return ""
    if set_on_training(calibration):
        return (f"the novelty threshold was set without validation data, on "
                f"{calibration.get('clips')} training clips ({fewest} of the class with "
                f"fewest): with so few it may sit far from where new footage needs it, and "
                f"call much more or much less unknown than planned (validation data of "
                f"{FEW_CALIBRATION_CLIPS} or more clips per class sets it)")
    return (f"the novelty threshold was set on {calibration.get('clips')} validation clips, "
            f"{fewest} of the class with fewest: on new footage of the known actions it may "
            f"keep several points more or fewer than {known_rate:.0%} known "
            f"({FEW_CALIBRATION_CLIPS} or more validation clips per class set it closer)")


def read_openset_header(path: Path | str) -> dict[str, Any] | None:
    """The JSON part of a model file's open-set statistics (score, threshold, calibration,
    ...; no tensors read), or None when it has none or it cannot be read."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            header = (f.metadata() or {}).get(HEADER_KEY)
        data = json.loads(header) if header is not None else None
    except (SafetensorError, OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_openset(path: Path | str, model: nn.Module | None = None) -> OpenSetStats | None:
    """The open-set statistics in a model file, or None when it has none."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            header = (f.metadata() or {}).get(HEADER_KEY)
            if header is None:
                return None
            names = [k for k in f.keys() if k.startswith(PREFIX)]  # noqa: SIM118
            tensors = {k: f.get_tensor(k) for k in names}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(path, f"its open-set statistics are unreadable ({exc})") from exc
    stats = OpenSetStats.from_file_parts(path, header, tensors)
    if stats is not None and model is not None:
        stats.check_fits(path, model)
    return stats


# ------------------------------------------------------------------------------ fitting

def calibration_quantiles(novelty: np.ndarray, clips: np.ndarray, known_rate: float,
                          ) -> tuple[list[list[float]], float]:
    """[[known rate, novelty], ...] for QUANTILE_RATES, each the novelty that share of new
    windows of the known actions stays under with CONFIDENCE (`upper_quantiles`), and that
    novelty for `known_rate` (the threshold), from one set of resamples."""
    *bounds, threshold = upper_quantiles(novelty, clips, (*QUANTILE_RATES, known_rate))
    return ([[rate, float(value)] for rate, value in zip(QUANTILE_RATES, bounds, strict=True)],
            float(threshold))


def fit_openset(model: nn.Module, train: WindowOutputs, calibration: WindowOutputs | None = None,
                *, score: str = "auto", covariance: str = "full",
                stages: Sequence[int] = STAGES, known_rate: float = DEFAULT_KNOWN_RATE,
                class_names: Sequence[str] | None = None, trail: float = TRAIL,
                ) -> OpenSetStats:
    """Statistics from the windows of the training clips (`train`), the threshold set so that
    `known_rate` of new windows like the `calibration` ones stay known with CONFIDENCE (the
    calibration windows' quantile with a margin for the clips it was read from:
    `upper_quantiles`).

    Without calibration windows the threshold comes from the training windows, each scored by
    statistics fitted without its own clip (`CROSS_FOLDS` folds of clips, every class in
    every fold's complement): scored by statistics fitted on themselves, training windows
    look more familiar than new footage of the same actions, and the threshold would be too
    low. A class with a single clip leaves no such folds: then the windows are scored in
    sample (calibration "training, in sample").

    `score` "auto" (the default): mahalanobis+relative+softmax when there are calibration
    windows (its parts are standardised on them), else mahalanobis alone (the training
    windows' own softmax scores, seen in training, say nothing about how unsure new footage
    makes it); also the distance alone where the validation windows are too few
    (MIN_CALIBRATION) or mostly as sure as a softmax can be told apart from (`doubt_tells`).

    `trail` (window lengths; 0, TRAIL: each window alone): every window is judged on its
    novelty averaged with that of the windows of its video and top class that began up to so
    far before it, the calibration windows too (`trailing_novelty`, per clip)."""
    if score == "auto":
        known = calibration.known() if calibration is not None else None
        score = (RELATIVE if known is not None and doubt_tells(known.logits)
                 else "mahalanobis")
    if score in CALIBRATED and calibration is None:
        raise ConfigError(f"the {score} score needs validation data to calibrate on")
    if score not in SCORES:
        raise ConfigError(f"unknown novelty score {score!r}; known: {', '.join(SCORES)}")
    if covariance not in COVARIANCES:
        raise ConfigError(f"unknown covariance {covariance!r}; known: {', '.join(COVARIANCES)}")
    if not 0.5 <= known_rate < 1.0:
        raise ConfigError(f"the known rate must lie in [0.5, 1), not {known_rate:g}")
    if not trail_ok(trail):
        raise ConfigError(f"the trail must be a whole number of window lengths (0 or more), "
                          f"not {trail:g}")
    mine = train.known()
    if len(mine.labels) == 0:
        raise ConfigError("no windows of the model's classes to fit open-set statistics on")
    stages = tuple(stages)
    select = _stage_columns(model, stages)
    if calibration is not None and calibration.mirror != train.mirror:
        raise ConfigError("the training and validation windows were made differently (one "
                          "with mirror images, one without)")
    stats = OpenSetStats(score, 0.0, known_rate, [], stages=stages, covariance=covariance,
                         mirror=train.mirror, trail=float(trail))
    stats.fit = {"windows": len(mine.labels), "clips": mine.clip_count,
                 "data": train.description}
    if score in FEATURE_SCORES:
        blocks = stage_channels(model, stages) if covariance == "stage" else None
        means, factor, dims, shrink = fit_gaussians(
            mine.features[:, select], mine.labels, model.config.num_classes, blocks=blocks,
            class_names=class_names)
        stats.means, stats.factor, stats.dims = means, factor, dims
        stats.fit["shrinkage"] = shrink
        if score == RELATIVE:
            stats.class_windows = torch.bincount(
                mine.labels, minlength=model.config.num_classes).tolist()
    source = calibration.known() if calibration is not None else mine
    subset = "validation"
    if calibration is None:
        novelty, subset = _training_novelty(model, stats, mine, select, class_names)
    else:
        if len(source.labels) == 0:
            raise ConfigError("the validation data holds no windows of the model's classes")
        features = source.features[:, select]
        if score in CALIBRATED:  # the parts' scale, then the novelty from the same parts
            distance, relative = stats.distances(features)
            stats.scale = fit_scale(distance, source.logits, relative)
            novelty = combined_novelty(distance, source.logits, stats.scale, relative).numpy()
        else:
            novelty = stats.novelty_of(features, source.logits).numpy()
    novelty = stats.judged(novelty, source.clips, source.logits)
    clips = source.clips.numpy()
    stats.quantiles, stats.threshold = calibration_quantiles(novelty, clips, known_rate)
    stats.calibration = {"subset": subset, "windows": len(source.labels),
                         "clips": source.clip_count, "data": source.description,
                         "confidence": CONFIDENCE,
                         "kept": float((novelty <= stats.threshold).mean())}
    per_class = [int(torch.unique(source.clips[source.labels == k]).numel())
                 for k in range(int(source.logits.shape[1]))]
    stats.calibration["fewest_clips"] = min(per_class, default=0)
    return stats


CROSS_FOLDS = 5


def _training_novelty(model: nn.Module, stats: OpenSetStats, windows: WindowOutputs,
                      select: Tensor, class_names: Sequence[str] | None,
                      ) -> tuple[np.ndarray, str]:
    """Novelty of every training window under statistics fitted without its clip (out of
    fold), and the calibration's name."""
    features = windows.features[:, select]
    if stats.score != "mahalanobis":
        return stats.novelty_of(features, windows.logits).numpy(), "training"
    clips = windows.clips.numpy()
    labels = windows.labels.numpy()
    fold_of_clip: dict[int, int] = {}
    for label in np.unique(labels):
        members = np.unique(clips[labels == label])
        if members.size < 2:
            return stats.novelty_of(features, None).numpy(), "training, in sample"
        for n, clip in enumerate(members):  # round robin: every class in every complement
            fold_of_clip[int(clip)] = n % CROSS_FOLDS
    fold = np.array([fold_of_clip[int(c)] for c in clips])
    blocks = (stage_channels(model, stats.stages) if stats.covariance == "stage" else None)
    novelty = np.empty(len(labels), dtype=np.float64)
    for f in np.unique(fold):
        held = torch.from_numpy(fold == f)
        means, factor, dims, _ = fit_gaussians(features[~held], windows.labels[~held],
                                               model.config.num_classes, blocks=blocks,
                                               class_names=class_names)
        novelty[held.numpy()] = mahalanobis_novelty(features[held], means, factor, dims).numpy()
    return novelty, f"training, out of fold ({int(fold.max()) + 1} folds of clips)"


def checked_threshold(stats: OpenSetStats | None, path: Path, value: float | str | None,
                      ) -> float | None:
    """The threshold a user asks for: a number, a sensitivity level (low, normal, high) or
    None (the model's own). ConfigError naming the model file when it cannot tell unknowns."""
    if value is None:
        return None if stats is None else stats.threshold
    if stats is None:
        from stmanet.errors import printable_path

        raise ConfigError(f"{printable_path(path)}: {NO_STATISTICS}; a novelty threshold "
                          "needs them (see `stmanet evaluate --openset-data`)")
    if isinstance(value, str):
        return stats.threshold_for_sensitivity(value)
    if not math.isfinite(value):
        raise ConfigError(f"a novelty threshold must be a finite number, not {value}")
    return float(value)


def model_info(path: Path, class_names: Sequence[str], stats: OpenSetStats | None,
               threshold: float | None, attention: str) -> dict[str, Any]:
    """What a prediction file says about its model (Predictor.model_info)."""
    from stmanet.errors import printable_path

    notes = []
    if stats is None:
        notes.append(NO_STATISTICS)
    elif note := stats.calibration_note():
        notes.append(note)
    if attention == "untrained":
        notes.append(UNTRAINED_ATTENTION)
    return {"path": printable_path(path), "classes": list(class_names),
            "can_tell_unknowns": stats is not None,
            "open_set": None if stats is None else stats.describe(threshold),
            "attention": attention, "attention_trained": attention != "untrained",
            "notes": notes}


def _stage_columns(model: nn.Module, stages: Sequence[int]) -> Tensor:
    """Columns of the stage 2-5 feature vector that belong to `stages`."""
    widths = stage_channels(model)
    starts = np.cumsum([0, *widths])
    return torch.from_numpy(np.concatenate(
        [np.arange(starts[s - 2], starts[s - 1]) for s in stages]).astype(np.int64))


# ------------------------------------------------------------------------------ attention

def attention_status(model: nn.Module) -> str:
    """"absent" (no TDA or SDA modules), "untrained" (their closing norms are still exactly
    zero, as in a fresh or Kinetics-imported model: they add nothing and their maps mean
    nothing) or "trained"."""
    norms = []
    for group in (getattr(model, "temporal", None), getattr(model, "spatial", None)):
        if group is None:
            continue
        for module in group:
            for name in ("out_norm", "agg_fuse_norm"):
                norm = getattr(module, name, None)
                if norm is not None:
                    norms.append(norm)
    if not norms:
        return "absent"
    for norm in norms:
        if bool((norm.weight.detach() != 0).any()) or bool((norm.bias.detach() != 0).any()):
            return "trained"
    return "untrained"


def attention_trained(model: nn.Module) -> bool:
    """False when the model's attention modules never learnt anything (fresh or imported
    from Kinetics weights): their maps are then noise. True for trained modules, and for a
    model without attention modules (it draws no maps)."""
    return attention_status(model) != "untrained"


UNTRAINED_ATTENTION = ("the attention modules of this model were never trained (a fresh or "
                       "Kinetics-imported model): its attention maps mean nothing")
