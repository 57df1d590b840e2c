"""How well a model tells unknown footage: the open-set evaluation.

Known footage (test clips of the model's classes) and unknown footage (clips of classes held
out of training, or footage that is no action at all) go through the model window by window
(`openset.collect_windows`); `open_set_report` then measures, at the model's threshold or a
given one:

- AUROC: the chance that an unknown window gets a higher novelty than a known one
  (independent of the threshold; 0.5 is guessing, 1.0 perfect);
- unknown caught: the share of unknown windows called unknown;
- known kept: the share of known windows that stay known;
- top-1 of the known windows: closed-set (no rejection), among the windows kept known, and
  "open" (kept known and right: a known window called unknown counts as wrong);
- per clip (the test protocol): a clip is called unknown when more than half of its windows
  are; its label is the best class of its mean softmax score. Top-1 of the known clips
  closed-set and open (called known and right), and the share of unknown clips caught.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from stmanet.engine.openset import OpenSetStats, WindowOutputs, _stage_columns
from stmanet.errors import CheckpointError, ConfigError


def auroc(known: np.ndarray, unknown: np.ndarray) -> float:
    """Area under the ROC curve of telling `unknown` scores (positives, higher) from `known`
    ones: the Mann-Whitney statistic, ties counted half. NaN when either side is empty."""
    known = np.asarray(known, dtype=np.float64)
    unknown = np.asarray(unknown, dtype=np.float64)
    if known.size == 0 or unknown.size == 0:
        return float("nan")
    values = np.concatenate([known, unknown])
    values = np.where(np.isnan(values), np.inf, values)  # NaN: as unknown as can be
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(values.size, dtype=np.float64)
    sorted_values = values[order]
    # average ranks over ties
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_values)) + 1]
    ends = np.r_[starts[1:], values.size]
    for s, e in zip(starts, ends, strict=True):
        ranks[order[s:e]] = (s + e + 1) / 2.0
    rank_sum = ranks[known.size:].sum()
    n_u, n_k = unknown.size, known.size
    return float((rank_sum - n_u * (n_u + 1) / 2.0) / (n_u * n_k))


@dataclass
class OpenSetReport:
    """The open-set evaluation's figures; shares in [0, 1]."""

    score: str
    threshold: float
    known_windows: int
    unknown_windows: int
    auroc: float
    unknown_caught: float
    known_kept: float
    top1_windows: float  # closed-set, every known window
    top1_windows_accepted: float  # among the known windows kept known
    top1_windows_open: float  # kept known and right, over every known window
    known_clips: int
    unknown_clips: int
    top1_clips: float
    top1_clips_open: float
    unknown_clips_caught: float
    unknown_per_class: dict[str, float] = field(default_factory=dict)  # share caught
    known_per_class: dict[str, float] = field(default_factory=dict)  # share kept known
    # every window averaged with its mirror image, the top-1 figures too (the statistics'
    # `mirror`); the evaluation's own accuracy (report.json) is each window once
    mirror: bool = False
    # each window judged with the ones before it in its clip (the statistics' `trail`)
    trail: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "extra"}
        return {k: _clean(v) for k, v in {**data, **self.extra}.items()}

    def to_text(self) -> str:
        lines = [
            f"open set: {self.score} novelty, threshold {self.threshold:.4g}"
            + _how_judged(self.mirror, self.trail),
            f"  windows: {self.known_windows} known, {self.unknown_windows} unknown",
            f"  AUROC                      {self.auroc:.4f}",
            f"  unknown windows caught     {self.unknown_caught:.4f}",
            f"  known windows kept known   {self.known_kept:.4f}",
            f"  top-1 of known windows     {self.top1_windows:.4f} closed set, "
            f"{self.top1_windows_accepted:.4f} of those kept known, "
            f"{self.top1_windows_open:.4f} kept known and right",
            f"  clips: {self.known_clips} known, {self.unknown_clips} unknown; top-1 of known "
            f"clips {self.top1_clips:.4f} closed set, {self.top1_clips_open:.4f} called known "
            f"and right; unknown clips caught {self.unknown_clips_caught:.4f}",
        ]
        if self.unknown_per_class:
            caught = ", ".join(f"{k} {v:.3f}" for k, v in self.unknown_per_class.items())
            lines.append(f"  unknown caught per class: {caught}")
        if self.known_per_class:
            kept = ", ".join(f"{k} {v:.3f}" for k, v in self.known_per_class.items())
            lines.append(f"  known kept per class: {kept}")
        return "\n".join(lines)


def _how_judged(mirror: bool, trail: float) -> str:
    parts = (["each window averaged with its mirror image"] if mirror else []) + (
        ["judged with the window before it in its clip"] if trail > 0 else [])
    return f" ({'; '.join(parts)})" if parts else ""


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def novelty_of(stats: OpenSetStats, windows: WindowOutputs, model: Any) -> np.ndarray:
    if len(windows.labels) == 0:
        return np.zeros(0)
    columns = _stage_columns(model, stats.stages)
    return stats.judged(stats.novelty_of(windows.features[:, columns], windows.logits).numpy(),
                        windows.clips, windows.logits)


def open_set_report(stats: OpenSetStats, model: Any, known: WindowOutputs,
                    unknown: WindowOutputs, class_names: list[str], *,
                    threshold: float | None = None) -> OpenSetReport:
    """Open-set figures of `known` windows (classes of the model) against `unknown` ones,
    both made as the statistics score windows (with or without mirror images)."""
    if known.mirror != stats.mirror or unknown.mirror != stats.mirror:
        raise ValueError("the windows were not made as the statistics score them: "
                         f"mirror images {'averaged' if stats.mirror else 'left out'} there")
    known = known.known()
    if len(known.labels) == 0:
        raise ConfigError("the test data holds no windows of the model's classes")
    if len(unknown.labels) == 0:
        raise ConfigError("the open-set data holds no windows")
    if bool((unknown.labels >= 0).any()):
        names = sorted({unknown.class_of_clip[int(c)] for c in unknown.clips[unknown.labels >= 0]})
        raise ConfigError(f"the open-set data holds class(es) the model knows: "
                          f"{', '.join(names[:5])}; give footage of other actions")
    limit = stats.threshold if threshold is None else float(threshold)
    nk, nu = novelty_of(stats, known, model), novelty_of(stats, unknown, model)
    known_ok = stats.is_known(nk, limit)
    unknown_ok = stats.is_known(nu, limit)
    predicted = known.logits.argmax(dim=1).numpy()
    labels = known.labels.numpy()
    right = predicted == labels
    per_unknown = _per_class(unknown, ~unknown_ok)
    per_known = {class_names[k]: float(known_ok[labels == k].mean())
                 for k in sorted(set(labels.tolist()))}
    clips_known = _clip_verdicts(known, known_ok)
    clips_unknown = _clip_verdicts(unknown, unknown_ok)
    clip_right = np.array([v["label"] == v["predicted"] for v in clips_known])
    clip_known = np.array([v["known"] for v in clips_known])
    return OpenSetReport(
        score=stats.score, mirror=stats.mirror, trail=stats.trail, threshold=limit,
        known_windows=int(nk.size), unknown_windows=int(nu.size), auroc=auroc(nk, nu),
        unknown_caught=float((~unknown_ok).mean()), known_kept=float(known_ok.mean()),
        top1_windows=float(right.mean()),
        top1_windows_accepted=float(right[known_ok].mean()) if known_ok.any() else float("nan"),
        top1_windows_open=float((right & known_ok).mean()),
        known_clips=len(clips_known), unknown_clips=len(clips_unknown),
        top1_clips=float(clip_right.mean()), top1_clips_open=float((clip_right & clip_known
                                                                    ).mean()),
        unknown_clips_caught=float(np.mean([not v["known"] for v in clips_unknown])),
        unknown_per_class=per_unknown, known_per_class=per_known)


def _per_class(windows: WindowOutputs, flag: np.ndarray) -> dict[str, float]:
    names = np.array([windows.class_of_clip[int(c)] for c in windows.clips])
    return {name: float(flag[names == name].mean()) for name in sorted(set(names.tolist()))}


def _clip_verdicts(windows: WindowOutputs, known: np.ndarray) -> list[dict[str, Any]]:
    """Per clip: called known (at most half of its windows unknown), its label and the best
    class of its mean softmax score."""
    out = []
    clips = windows.clips.numpy()
    probs = torch.softmax(windows.logits.double(), dim=1).numpy()
    for clip in np.unique(clips):
        rows = clips == clip
        out.append({"known": bool(known[rows].mean() >= 0.5),
                    "label": int(windows.labels[torch.from_numpy(rows)][0]),
                    "predicted": int(probs[rows].mean(0).argmax())})
    return out


def evaluate_open_set(loaded: Any, known: WindowOutputs, unknown: str, *,
                      annotations: str | None = None, split: int = 1, subset: str = "test",
                      threshold: float | None = None, device: str | torch.device = "cpu",
                      batch_size: int | None = None, workers: int = 0,
                      on_progress: Callable[[int, int, str], None] | None = None,
                      ) -> OpenSetReport:
    """`stmanet evaluate --open-set KIND:PATH`: the windows of the test data (`known`, kept by
    a WindowCollector during the evaluation, with mirror images where the statistics have
    them) against those of the unknown footage."""
    from stmanet.data.training_data import load_index
    from stmanet.engine.openset import NO_STATISTICS
    from stmanet.engine.openset_windows import collect_windows

    if loaded.openset is None:
        raise CheckpointError(loaded.path, f"{NO_STATISTICS}: fit them with --openset-data "
                              "TRAINING_DATA for the open-set evaluation")
    index = load_index(unknown, annotations=annotations, split=split, subset=subset)
    windows = collect_windows(
        loaded.model, loaded.metadata.input, loaded.metadata.class_names, index, device=device,
        batch_size=batch_size, workers=workers, mirror=loaded.openset.mirror,
        description=unknown, on_progress=None if on_progress is None else (
            lambda done, total: on_progress(done, total, "open set")))
    report = open_set_report(loaded.openset, loaded.model, known, windows,
                             loaded.metadata.class_names, threshold=threshold)
    report.extra.update(known_data=known.description, unknown_data=unknown,
                        calibration=loaded.openset.calibration)
    return report
