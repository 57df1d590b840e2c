"""How well a per-frame result matches an expected timeline: the measures of temporal action
segmentation, as MS-TCN (Farha and Gall, CVPR 2019) defines them.

- frame accuracy: the share of frames whose action is right;
- edit score: 1 - (Levenshtein distance between the predicted and the expected sequences of
  segment labels) / (the longer sequence's length); it counts over-segmentation (a drill
  split by a stray segment) however short the stray segment is;
- F1@k (k = 10, 25, 50): a predicted segment is a true positive when its IoU with an expected
  segment of the same label, the best such, is at least k % and that expected segment has not
  been matched already; otherwise a false positive. Expected segments left unmatched are false
  negatives. Over several videos the counts are summed before F1 is taken (as MS-TCN does);
- seconds per action, predicted and expected.

The per-frame result is scored as a user is shown it: frames that are not a known action
(`FrameTimeline.told_label_names`) are predicted `other`, wrong against a drill and right
where the expected timeline has a stretch labelled `other` (footage of no action the model
knows). Frames outside every expected segment (a gap in the expected timeline) are left out
of all measures, like MS-TCN's background class. Scores are fractions (0-1), not
percentages.

`evaluate_timelines` runs a Predictor over (video, expected timeline) pairs and scores each;
`find_pairs` turns command-line arguments into pairs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stmanet.engine.segmentation import (
    DEFAULT_MEDIAN_FRAMES,
    DEFAULT_SMOOTHING,
    DEFAULT_SWITCH_PENALTY,
    DEFAULT_WEIGHTING,
    OTHER_LABEL,
    FrameTimeline,
    frame_timeline,
)
from stmanet.engine.timeline import ExpectedTimeline, expected_timeline_path
from stmanet.errors import ConfigError, printable_path

if TYPE_CHECKING:
    from stmanet.engine.inference import Predictor, VideoPrediction

log = logging.getLogger(__name__)

IOU_THRESHOLDS = (10, 25, 50)


def normalise_label(name: str) -> str:
    """Labels compare without case, and with spaces and hyphens as underscores."""
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def label_runs(labels: Sequence[str | None]) -> list[tuple[str, int, int]]:
    """(label, start, end exclusive) of each run of one label; None (no label) runs are left
    out."""
    runs: list[tuple[str, int, int]] = []
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            if labels[start] is not None:
                runs.append((str(labels[start]), start, i))
            start = i
    return runs


def levenshtein(a: Sequence[str], b: Sequence[str]) -> int:
    """Edits (insertions, deletions, substitutions) that turn sequence a into b."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def edit_score(predicted: Sequence[tuple[str, int, int]],
               expected: Sequence[tuple[str, int, int]]) -> float:
    """MS-TCN's segmental edit score as a fraction: 1 - distance / longer length."""
    p = [r[0] for r in predicted]
    e = [r[0] for r in expected]
    longest = max(len(p), len(e))
    return 1.0 if longest == 0 else 1.0 - levenshtein(p, e) / longest


def overlap_counts(predicted: Sequence[tuple[str, int, int]],
                   expected: Sequence[tuple[str, int, int]], threshold: float,
                   ) -> tuple[int, int, int]:
    """(true positives, false positives, false negatives) at an IoU threshold (0-1)."""
    hit = [False] * len(expected)
    tp = fp = 0
    for label, start, end in predicted:
        best, best_iou = -1, 0.0
        for j, (e_label, e_start, e_end) in enumerate(expected):
            if e_label != label:
                continue
            inter = min(end, e_end) - max(start, e_start)
            if inter <= 0:
                continue
            iou = inter / (max(end, e_end) - min(start, e_start))
            if iou > best_iou:
                best, best_iou = j, iou
        if best >= 0 and best_iou >= threshold and not hit[best]:
            tp += 1
            hit[best] = True
        else:
            fp += 1
    return tp, fp, len(expected) - sum(hit)


def f1_from_counts(tp: int, fp: int, fn: int) -> float:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


@dataclass
class TimelineScore:
    """One video's per-frame result against its expected timeline."""

    video: str
    frames: int  # frames scored (inside an expected segment)
    frame_accuracy: float
    edit: float
    counts: dict[int, tuple[int, int, int]]  # IoU threshold (%) -> (tp, fp, fn)
    seconds: dict[str, tuple[float, float]]  # action -> (predicted, expected)
    predicted_segments: int
    expected_segments: int
    absent_in_segments: list[str] = field(default_factory=list)  # not in the expected timeline
    absent_in_windows: list[str] = field(default_factory=list)

    @property
    def f1(self) -> dict[int, float]:
        return {k: f1_from_counts(*c) for k, c in self.counts.items()}

    def to_dict(self) -> dict[str, Any]:
        return {"video": self.video, "frames": self.frames,
                "frame_accuracy": round(self.frame_accuracy, 6), "edit": round(self.edit, 6),
                **{f"f1@{k}": round(v, 6) for k, v in self.f1.items()},
                "predicted_segments": self.predicted_segments,
                "expected_segments": self.expected_segments,
                "seconds": {a: {"predicted": round(p, 3), "expected": round(e, 3)}
                            for a, (p, e) in self.seconds.items()},
                "absent_in_segments": self.absent_in_segments,
                "absent_in_windows": self.absent_in_windows}


def score_timeline(timeline: FrameTimeline, expected: ExpectedTimeline, *, video: str = "",
                   window_labels: Sequence[str] = ()) -> TimelineScore:
    """Score a per-frame result against an expected timeline. `window_labels` (the windows'
    top labels) are checked for actions the video does not show."""
    n = expected.frames
    truth: list[str | None] = [None] * n
    for s in expected.segments:
        truth[s.start_frame:s.end_frame] = [normalise_label(s.label)] * (s.end_frame -
                                                                          s.start_frame)
    names = timeline.told_label_names()
    if len(names) != n:
        log.warning("%s: the per-frame result has %d frames, the expected timeline %d; "
                    "frames past the shorter one are compared as wrong", video or "video",
                    len(names), n)
    normal = {x: normalise_label(x) for x in set(names)}  # a few labels, many frames
    predicted: list[str | None] = [normal[x] for x in names[:n]]
    predicted += ["(none)"] * (n - len(predicted))
    predicted = [p if t is not None else None for p, t in zip(predicted, truth, strict=True)]
    scored = sum(t is not None for t in truth)
    right = sum(p == t for p, t in zip(predicted, truth, strict=True) if t is not None)
    p_runs, e_runs = label_runs(predicted), label_runs(truth)
    counts = {k: overlap_counts(p_runs, e_runs, k / 100) for k in IOU_THRESHOLDS}
    fps_p = timeline.fps if timeline.fps > 0 else expected.fps
    seconds: dict[str, list[float]] = {}
    for label, a, b in p_runs:
        seconds.setdefault(label, [0.0, 0.0])[0] += (b - a) / fps_p
    for label, a, b in e_runs:
        seconds.setdefault(label, [0.0, 0.0])[1] += (b - a) / expected.fps
    shown = {r[0] for r in e_runs}
    return TimelineScore(
        video, scored, right / scored if scored else 0.0, edit_score(p_runs, e_runs), counts,
        {a: (v[0], v[1]) for a, v in sorted(seconds.items())}, len(p_runs), len(e_runs),
        sorted(set(normal.values()) - shown - {OTHER_LABEL}),
        sorted({normalise_label(x) for x in window_labels} - shown))


@dataclass
class TimelineSummary:
    """Several videos: mean frame accuracy and edit score, F1 from summed counts, seconds per
    action summed, and the worst difference of one action's seconds in one video."""

    videos: list[TimelineScore]

    @property
    def frame_accuracy(self) -> float:
        return float(np.mean([v.frame_accuracy for v in self.videos]))

    @property
    def edit(self) -> float:
        return float(np.mean([v.edit for v in self.videos]))

    @property
    def f1(self) -> dict[int, float]:
        out = {}
        for k in IOU_THRESHOLDS:
            tp, fp, fn = (sum(v.counts[k][i] for v in self.videos) for i in range(3))
            out[k] = f1_from_counts(tp, fp, fn)
        return out

    @property
    def worst_seconds_error(self) -> float:
        return max((abs(p - e) for v in self.videos for p, e in v.seconds.values()),
                   default=0.0)

    def seconds(self) -> dict[str, tuple[float, float]]:
        out: dict[str, list[float]] = {}
        for v in self.videos:
            for action, (p, e) in v.seconds.items():
                acc = out.setdefault(action, [0.0, 0.0])
                acc[0] += p
                acc[1] += e
        return {a: (v[0], v[1]) for a, v in sorted(out.items())}

    def to_dict(self) -> dict[str, Any]:
        return {"videos": len(self.videos), "frame_accuracy": round(self.frame_accuracy, 6),
                "edit": round(self.edit, 6),
                **{f"f1@{k}": round(v, 6) for k, v in self.f1.items()},
                "worst_seconds_error": round(self.worst_seconds_error, 3),
                "seconds": {a: {"predicted": round(p, 3), "expected": round(e, 3)}
                            for a, (p, e) in self.seconds().items()},
                "per_video": [v.to_dict() for v in self.videos]}

    def to_text(self) -> str:
        lines = [f"{'video':32s} {'frame acc':>9s} {'edit':>6s} "
                 + " ".join(f"{'F1@' + str(k):>6s}" for k in IOU_THRESHOLDS)
                 + "  segments (predicted/expected)"]
        for v in self.videos:
            f1 = v.f1
            name = Path(v.video).name
            lines.append(f"{name[:32]:32s} {v.frame_accuracy:9.4f} {v.edit:6.3f} "
                         + " ".join(f"{f1[k]:6.3f}" for k in IOU_THRESHOLDS)
                         + f"  {v.predicted_segments}/{v.expected_segments}")
            absent = sorted(set(v.absent_in_segments) | set(v.absent_in_windows))
            if absent:
                lines.append(f"  named but not in the video: {', '.join(absent)}")
        f1 = self.f1
        label = "mean" if len(self.videos) > 1 else "all"
        lines.append(f"{label:32s} {self.frame_accuracy:9.4f} {self.edit:6.3f} "
                     + " ".join(f"{f1[k]:6.3f}" for k in IOU_THRESHOLDS)
                     + ("  (F1 from counts summed over the videos)"
                        if len(self.videos) > 1 else ""))
        lines.append("")
        lines.append(f"{'action':16s} {'predicted s':>11s} {'expected s':>10s} {'diff':>7s}")
        for action, (p, e) in self.seconds().items():
            lines.append(f"{action:16s} {p:11.2f} {e:10.2f} {p - e:+7.2f}")
        lines.append(f"largest difference of one action in one video: "
                     f"{self.worst_seconds_error:.2f} s")
        return "\n".join(lines)


# ------------------------------------------------------------------------- running

def find_pairs(items: Sequence[str]) -> list[tuple[Path, Path]]:
    """(video, expected timeline) pairs from arguments: a video followed by a .json file is a
    pair; a video alone takes the .json beside it; a folder gives every video in it that has a
    .json beside it. ConfigError naming the file when a timeline is missing."""
    from stmanet.data.sources import VIDEO_EXTENSIONS

    pairs: list[tuple[Path, Path | None]] = []
    for text in items:
        path = Path(text)
        if path.suffix.lower() == ".json" and not path.is_dir():
            if not pairs or pairs[-1][1] is not None:
                raise ConfigError(f"{path}: an expected timeline must follow its video")
            pairs[-1] = (pairs[-1][0], path)
        elif path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file()
                           and p.suffix.lower() in VIDEO_EXTENSIONS
                           and not p.name.startswith(".")
                           and expected_timeline_path(p).is_file())
            if not found:
                raise ConfigError(f"{path}: no video with an expected timeline (VIDEO.json "
                                  "beside VIDEO) in this folder")
            pairs.extend((p, expected_timeline_path(p)) for p in found)
        else:
            pairs.append((path, None))
    out = []
    for video, expected in pairs:
        expected = expected or expected_timeline_path(video)
        if not expected.is_file():
            raise ConfigError(f"{expected}: no expected timeline for {printable_path(video)} "
                              "(give it after the video, or put it beside it)")
        out.append((video, expected))
    return out


def check_labels(expected: ExpectedTimeline, class_names: Sequence[str], where: Path) -> None:
    known = {normalise_label(n) for n in class_names} | {OTHER_LABEL}
    unknown = sorted({s.label for s in expected.segments
                      if normalise_label(s.label) not in known})
    if unknown:
        raise ConfigError(f"{where}: the model does not know {', '.join(unknown)} (it knows "
                          f"{', '.join(class_names)})")


def evaluate_timelines(predictor: Predictor, pairs: Sequence[tuple[Path, Path]], *,
                       hop: int | None = None, smoothing: str = DEFAULT_SMOOTHING,
                       switch_penalty: float = DEFAULT_SWITCH_PENALTY,
                       median_frames: int = DEFAULT_MEDIAN_FRAMES,
                       weighting: str = DEFAULT_WEIGHTING, refine: bool = True,
                       on_video: Callable[[int, int, VideoPrediction | None], None] | None
                       = None) -> TimelineSummary:
    """Predict every video (windows every `hop` frames; default a quarter window), make its
    per-frame result (its changes placed on the frames' embeddings unless `refine` is
    false) and score it against its expected timeline. Expected timelines are all
    read (and their labels checked against the model) before any video is predicted."""
    from stmanet.engine.boundaries import predict_embedded
    from stmanet.engine.segmentation import default_hop

    timelines = []
    for _, path in pairs:
        expected = ExpectedTimeline.load(path)
        check_labels(expected, predictor.class_names, path)
        timelines.append(expected)
    if not predictor.can_tell_unknowns and any(
            normalise_label(s.label) == OTHER_LABEL for t in timelines for s in t.segments):
        log.warning("%s carries no open-set statistics: it cannot tell footage of no known "
                    "action, and the stretches the timelines label %s are scored wrong",
                    printable_path(predictor.path), OTHER_LABEL)
    hop = hop or default_hop(predictor.spec.window)
    scores = []
    for i, ((video, _), expected) in enumerate(zip(pairs, timelines, strict=True)):
        if on_video is not None:
            on_video(i, len(pairs), None)
        if refine:
            prediction, embeddings = predict_embedded(predictor, video, hop=hop)
        else:
            prediction, embeddings = predictor.predict(video, hop=hop), None
        timeline = frame_timeline(prediction, smoothing=smoothing,
                                  switch_penalty=switch_penalty, median_frames=median_frames,
                                  weighting=weighting, embeddings=embeddings, refine=refine)
        scores.append(score_timeline(timeline, expected, video=str(video),
                                     window_labels=[w.label for w in prediction.windows
                                                    if w.known is not False]))
        if on_video is not None:
            on_video(i + 1, len(pairs), prediction)
    return TimelineSummary(scores)
