"""Judging the repetition counter on footage whose repetitions are known.

Three kinds of material:

- generated drill segments (`generated_case`): drill `index % 10`, 5-30 s (drawn from the seed
  and index), at a varied tempo (stmanet.data.synthetic.tempo: 0.5-2x between clips, +-20%
  within one, pauses), written to an MPEG-4 file and read back, so the counter sees what a
  codec leaves of the pictures;
- footage in which nothing repeats (`non_periodic_case`): a figure holding still, or a figure
  going through a random medley of drills for 0.5-1.5 s each; the counter should abstain;
- videos with an expected timeline that gives each segment's repetitions (`video_cases`: the
  demo video, `stmanet sequence` or `stmanet synth --reps` output).

`RepEvaluation` turns the results into a table per drill: MAE (the mean of |counted - true| /
true), off-by-one accuracy (the share with |counted - true| <= 1), exact share and abstention
rate over segments of two or more repetitions, an abstention counting as a count of 0; the
mean error of the repetitions' end times where the count is exact; and per kind of
non-periodic footage the share abstained. Segments with fewer than two repetitions (a slow
drill at a slow tempo in a short clip) have a row of their own: abstaining there is right.
"""

from __future__ import annotations

import csv
import io
import json
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from stmanet.engine.reps import SegmentCount

STILL, MEDLEY = "still figure", "pose medley"
NON_PERIODIC = (STILL, MEDLEY)


@dataclass(frozen=True)
class CaseResult:
    """The counter's answer on one segment, beside the truth."""

    case: str  # which segment: "generated 17", "demo.mp4 125-250", ...
    label: str  # the drill, or the kind of footage with nothing to count
    seconds: float
    true: int | None  # repetitions; None where nothing repeats
    count: int | None  # None: abstained
    reason: str = ""
    end_error_s: float | None = None  # mean |counted - true| end time, where count == true
    pace_cv: float | None = None
    true_pace_cv: float | None = None

    @property
    def periodic(self) -> bool:
        return self.true is not None

    @property
    def countable(self) -> bool:
        return self.true is not None and self.true >= 2

    @property
    def abstained(self) -> bool:
        return self.count is None


def _pace_cv(ends: Sequence[float]) -> float | None:
    """As SegmentCount.pace_cv: over the intervals between consecutive ends."""
    if len(ends) < 3:
        return None
    intervals = np.diff(ends)
    return float(intervals.std() / intervals.mean())


def _result(case: str, label: str, seconds: float, true_reps: Sequence[tuple[float, float]]
            | None, counted: SegmentCount) -> CaseResult:
    true = None if true_reps is None else len(true_reps)
    end_error = None
    true_cv = None
    if true_reps is not None:
        true_cv = _pace_cv([end for _, end in true_reps])
        if counted.total == true and true:
            end_error = float(np.mean(np.abs(np.subtract(counted.rep_times,
                                                         [b for _, b in true_reps]))))
    return CaseResult(case, label, round(seconds, 3), true, counted.total, counted.reason,
                      end_error, counted.pace_cv, true_cv)


def _count_through_file(frames: np.ndarray, fps: float, label: str | None) -> SegmentCount:
    """Write the frames as an MPEG-4 file, read them back and count them as one segment."""
    from stmanet.data.synthetic import write_video
    from stmanet.engine.reps_video import count_video

    with tempfile.TemporaryDirectory(prefix="stmanet-reps-") as folder:
        path = write_video(Path(folder) / "case.mp4", frames, fps)
        return count_video(path, [(label, 0, len(frames))]).segments[0]


def case_seconds(index: int, seed: int, seconds: tuple[float, float]) -> float:
    return float(np.random.default_rng([seed, index]).uniform(*seconds))


def generated_case(index: int, seed: int, seconds: tuple[float, float] = (5.0, 30.0),
                   fps: float = 25.0, size: tuple[int, int] = (160, 120)) -> CaseResult:
    """Drill `index % 10` for 5-30 s at a varied tempo, counted through an MPEG-4 file."""
    from stmanet.data.synthetic import DRILLS, render_clip_with_reps

    drill = DRILLS[index % len(DRILLS)]
    length = case_seconds(index, seed, seconds)
    frames, segment = render_clip_with_reps(drill, seed=seed, index=index, tempo=True,
                                            frames=max(1, round(length * fps)), fps=fps,
                                            size=size)
    counted = _count_through_file(frames, fps, drill)
    return _result(f"generated {index}", drill, len(frames) / fps, segment.rep_times, counted)


def non_periodic_case(index: int, seed: int, seconds: tuple[float, float] = (5.0, 30.0),
                      fps: float = 25.0, size: tuple[int, int] = (160, 120)) -> CaseResult:
    """Footage with nothing to count: even indices a figure holding a drill's starting pose,
    odd ones a figure doing random drills for 0.5-1.5 s each."""
    from stmanet.data.synthetic import DRILLS, render_sequence, render_still

    length = case_seconds(index, seed, seconds)
    if index % 2 == 0:
        drill = DRILLS[(index // 2) % len(DRILLS)]
        frames = render_still(drill, seed=seed, index=index, frames=max(1, round(length * fps)),
                              fps=fps, size=size)
        kind = STILL
    else:
        rng = np.random.default_rng([seed, index, 1])
        plan: list[tuple[str, float]] = []
        while sum(s for _, s in plan) < length:
            plan.append((DRILLS[int(rng.integers(len(DRILLS)))], float(rng.uniform(0.5, 1.5))))
        frames, _ = render_sequence(plan, seed=seed + index, fps=fps, size=size)
        kind = MEDLEY
    counted = _count_through_file(frames, fps, None)
    return _result(f"{kind} {index}", kind, len(frames) / fps, None, counted)


def video_cases(path: Path | str) -> list[CaseResult]:
    """Each segment of a video whose expected timeline beside it (VIDEO.json) gives the
    repetitions (`rep_times`), counted from one decoding of the video; a rest (labelled
    `other`: no drill, nothing the app would count) is left out."""
    from stmanet.engine.reps_video import count_video
    from stmanet.engine.segmentation import OTHER_LABEL
    from stmanet.engine.timeline import expected_timeline_path
    from stmanet.errors import ConfigError, printable_path
    from stmanet.fileio import read_text_file

    path = Path(path)
    timeline_path = expected_timeline_path(path)
    try:
        data = json.loads(read_text_file(timeline_path))
        segments = [(str(s["label"]), int(s["start_frame"]), int(s["end_frame"]),
                     [(float(a), float(b)) for a, b in s["rep_times"]])
                    for s in data["segments"] if s["label"] != OTHER_LABEL]
    except (KeyError, TypeError, ValueError) as exc:
        missing = f"no {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ConfigError(f"{printable_path(timeline_path)}: not a timeline with the "
                          f"repetitions of each segment ({missing}); `stmanet sequence` and "
                          f"`stmanet synth --reps` write them") from exc
    counts = count_video(path, [(label, a, b) for label, a, b, _ in segments],
                         source=printable_path(timeline_path))
    name = path.name
    return [_result(f"{name} {c.start_frame}-{c.end_frame}", label, c.end_s - c.start_s,
                    reps, c)
            for (label, _, _, reps), c in zip(segments, counts.segments, strict=True)]


def run_cases(jobs: Sequence[tuple[Callable[..., CaseResult], tuple[Any, ...]]], *,
              workers: int = 1, progress: Callable[[int, int], None] | None = None
              ) -> list[CaseResult]:
    """Run case functions (module-level, so that worker processes can), in order."""
    results: list[CaseResult | None] = [None] * len(jobs)
    if workers <= 1:
        for i, (func, args) in enumerate(jobs):
            results[i] = func(*args)
            if progress is not None:
                progress(i + 1, len(jobs))
    else:
        import concurrent.futures
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = {pool.submit(func, *args): i for i, (func, args) in enumerate(jobs)}
            try:
                for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
                    results[futures[future]] = future.result()
                    if progress is not None:
                        progress(done, len(jobs))
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    return [r for r in results if r is not None]


def evaluate_reps(videos: Sequence[Path | str] = (), *, generate: int = 0,
                  non_periodic: int = 0, seed: int = 0,
                  seconds: tuple[float, float] = (5.0, 30.0), fps: float = 25.0,
                  size: tuple[int, int] = (160, 120), workers: int = 1,
                  progress: Callable[[int, int], None] | None = None) -> RepEvaluation:
    """The counter on `videos` (with their timelines' repetitions), on `generate` drill
    segments and on `non_periodic` clips of seed `seed`; `progress(done, total)` after each
    generated one."""
    from stmanet.errors import ConfigError

    if not (videos or generate or non_periodic):
        raise ConfigError("nothing to evaluate: give videos with expected timelines, "
                          "--generate N or --non-periodic N")
    results = [r for video in videos for r in video_cases(video)]
    shape = (seconds, fps, size)
    jobs = ([(generated_case, (i, seed, *shape)) for i in range(generate)]
            + [(non_periodic_case, (i, seed, *shape)) for i in range(non_periodic)])
    results += run_cases(jobs, workers=workers, progress=progress)
    return RepEvaluation(results)


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


@dataclass
class RepEvaluation:
    results: list[CaseResult]

    def rows(self) -> list[dict[str, Any]]:
        """One row per drill (segments of two or more repetitions), one for all of them,
        one for the segments with fewer, one per kind of non-periodic footage and one for
        all of those."""
        rows = []
        countable = [r for r in self.results if r.countable]
        labels = sorted({r.label for r in countable})
        for label in [*labels, "all drills"]:
            group = [r for r in countable if label == "all drills" or r.label == label]
            if not group:
                continue
            errors = [abs((r.count or 0) - r.true) / r.true for r in group]  # type: ignore
            off = [r.count is not None and abs(r.count - r.true) <= 1 for r in group]  # type: ignore
            timing = [r.end_error_s for r in group if r.end_error_s is not None]
            cv = [abs(r.pace_cv - r.true_pace_cv) for r in group
                  if r.pace_cv is not None and r.true_pace_cv is not None]
            rows.append({"kind": "drill", "label": label, "segments": len(group),
                         "mean_true_reps": _mean([r.true for r in group]),  # type: ignore
                         "mae": _mean(errors), "obo": _mean(off),
                         "exact": _mean([r.count == r.true for r in group]),
                         "abstained": _mean([r.abstained for r in group]),
                         "end_error_s": _mean(timing), "pace_cv_error": _mean(cv)})
        few = [r for r in self.results if r.periodic and not r.countable]
        if few:
            rows.append({"kind": "fewer than two reps", "label": "all drills",
                         "segments": len(few), "abstained": _mean([r.abstained for r in few])})
        still = [r for r in self.results if not r.periodic]
        kinds = sorted({r.label for r in still})
        for kind in [*kinds, "all non-periodic"] if still else []:
            group = [r for r in still if kind == "all non-periodic" or r.label == kind]
            rows.append({"kind": "non-periodic", "label": kind, "segments": len(group),
                         "abstained": _mean([r.abstained for r in group])})
        return rows

    def to_text(self) -> str:
        """The rows as a Markdown table."""
        def f(value: Any, digits: int = 3) -> str:
            if value is None:
                return ""
            return f"{value:.{digits}f}" if isinstance(value, float) else str(value)

        lines = ["| footage | segments | mean reps | MAE | OBO | exact | abstained | "
                 "end time error (s) | pace CV error |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for row in self.rows():
            name = row["label"] if row["kind"] == "drill" else f"{row['kind']}: {row['label']}"
            lines.append(f"| {name} | {row['segments']} | {f(row.get('mean_true_reps'), 1)} "
                         f"| {f(row.get('mae'))} | {f(row.get('obo'))} | {f(row.get('exact'))} "
                         f"| {f(row.get('abstained'))} | {f(row.get('end_error_s'))} "
                         f"| {f(row.get('pace_cv_error'))} |")
        return "\n".join(lines)

    def write(self, path: Path | str) -> Path:
        """The table and every segment's result, as JSON or CSV (a row per segment)."""
        from stmanet.errors import ConfigError
        from stmanet.fileio import atomic_write_text

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".json":
            document = {"table": self.rows(), "segments": [asdict(r) for r in self.results]}
            atomic_write_text(path, json.dumps(document, indent=1, default=_plain) + "\n")
        elif suffix == ".csv":
            buffer = io.StringIO()
            fields = list(asdict(self.results[0])) if self.results else ["case"]
            writer = csv.DictWriter(buffer, fieldnames=fields)
            writer.writeheader()
            writer.writerows(asdict(r) for r in self.results)
            atomic_write_text(path, buffer.getvalue())
        else:
            raise ConfigError(f"{path}: choose a .csv or .json file for the evaluation")
        return path


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    raise TypeError(f"cannot write {type(value).__name__}")
