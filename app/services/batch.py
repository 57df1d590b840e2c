"""Many videos analysed in the background, their cached results, and reports: the window's
door to stmanet/engine/batch.py and stmanet/report/.

Results are cached beside each video, in a folder `stmanet-results` next to it (one result
file per video, as `stmanet predict VIDEOS --output-dir FOLDER/stmanet-results` writes them),
so that the command line and the app share them: an analysis resumes where either stopped,
and opening an analysed video shows its timeline and the repetitions of each drill
(`cached_analysis`, read off the GUI thread by app/controllers/batch.py).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from app.services.counts import RepCounts, SegmentReps, segment_reps
from app.services.jobs import CancelCheck, JobError, Progress
from app.services.results import AnalysisResult, WindowResult

RESULTS_FOLDER = "stmanet-results"
STEPS_PER_VIDEO = 100
"""Progress units of one video: the overall bar moves within a video as its windows go."""


def results_folder(video: Path | str) -> Path:
    return Path(video).resolve().parent / RESULTS_FOLDER


def result_file(video: Path | str) -> Path:
    from stmanet.engine.batch import result_paths

    return result_paths([str(video)], results_folder(video))[str(video)]


@dataclass
class BatchOutcome:
    done: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    result_files: list[Path] = field(default_factory=list)


@dataclass
class BatchState:
    """What the job is doing now, read by the window on each progress signal."""

    video: str = ""
    finished: int = 0
    total: int = 0


def analyse_videos(videos: Sequence[Path | str], checkpoint: Path | str, progress: Progress,
                   cancelled: CancelCheck, state: BatchState | None = None) -> BatchOutcome:
    """Analyse the videos without a current cached result (engine.batch.run_batch, worker
    processes on every core), folder by folder; progress in STEPS_PER_VIDEO units per
    video. Cancelled (raised) keeps what was finished."""
    from stmanet.engine.batch import BatchEvent, run_batch

    state = state or BatchState()
    groups: dict[Path, list[str]] = {}
    for v in videos:
        groups.setdefault(results_folder(v), []).append(str(v))
    for folder in groups:
        if folder.exists() and not os.access(folder, os.W_OK):
            raise JobError(f"{folder}: cannot write the results there (no permission)")
        if not folder.exists() and not os.access(folder.parent, os.W_OK):
            raise JobError(f"{folder.parent}: cannot make a results folder there (no "
                           "permission): copy the videos to a folder you can write in")
    state.total = len(videos)
    outcome = BatchOutcome()
    share: dict[str, float] = {}

    def report() -> None:
        running = sum(share.values())
        progress(int(STEPS_PER_VIDEO * (state.finished + running)),
                 STEPS_PER_VIDEO * max(1, state.total))

    def on_event(event: BatchEvent) -> None:
        if event.kind in ("started", "progress"):
            state.video = event.video
            share[event.video] = event.done / event.total if event.total else 0.0
        elif event.kind in ("done", "kept", "failed"):
            share.pop(event.video, None)
            state.finished += 1
            if event.kind == "failed":
                outcome.failed.append((event.video, event.message))
        report()

    report()
    for folder, group in groups.items():
        summary = run_batch(group, folder, checkpoint, on_event=on_event,
                            should_cancel=cancelled)
        outcome.done += summary.done
        outcome.kept += summary.kept
        outcome.result_files += [summary.results[v] for v in group if v in summary.results]
    return outcome


# ------------------------------------------------------------------------------ the cache

_model_hashes: dict[tuple[str, int, int], str] = {}


def _model_sha(path: Path) -> str:
    from stmanet.fileio import file_sha256

    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _model_hashes:
        _model_hashes[key] = file_sha256(path)
    return _model_hashes[key]


def cached_analysis(video: Path | str, checkpoint: Path | str) -> AnalysisResult | None:
    """The cached whole-video result of `video` by the model `checkpoint`, as the window
    shows an analysis; None when there is none, or it is of another model or an older
    version of the video."""
    from stmanet.engine.batch import read_result
    from stmanet.engine.segmentation import timeline_from_windows

    video, checkpoint = Path(video), Path(checkpoint)
    data = read_result(result_file(video))
    if data is None:
        return None
    try:
        st = video.stat()
        if (data["video"]["size"] != st.st_size or data["video"]["mtime_ns"] != st.st_mtime_ns
                or data["model"]["sha256"] != _model_sha(checkpoint)):
            return None
        w = data["windows"]
        names = list(data["class_names"])
        fps = float(data["fps"])
        scores = np.asarray(w["scores"], dtype=np.float32)
        windows = []
        for i, (a, b) in enumerate(zip(w["starts"], w["ends"], strict=True)):
            best = int(np.argmax(scores[i]))
            windows.append(WindowResult(int(a), int(b), [names[best]], [float(scores[i, best])],
                                        [best], fps, all_scores=scores[i],
                                        origin="analysis", known=w["known"][i],
                                        novelty=w["novelty"][i]))
        settings = data["settings"]
        timeline = timeline_from_windows(
            w["starts"], w["ends"], scores, names, fps, int(data["num_frames"]),
            smoothing=settings["smoothing"], switch_penalty=settings["switch_penalty"],
            median_frames=settings["median_frames"],
            weighting=settings.get("weighting", "uniform"), known=w["known"]
        ) if windows else None
        if timeline is not None and settings.get("refine"):  # the changes as placed then
            timeline = timeline.with_segments([(s["action"], int(s["start_frame"]),
                                                int(s["end_frame"])) for s in data["segments"]])
        reps = stored_reps(data["segments"], fps)
    except (KeyError, TypeError, ValueError, IndexError, OSError):
        return None
    return AnalysisResult(video, fps, int(data["num_frames"]), int(w["hop"]),
                          int(w["window"]), names, windows, True,
                          scores=scores.mean(0) if len(scores) else None, timeline=timeline,
                          reps=reps)


NO_RHYTHM = ("No rhythm picture: this video was analysed with File ▸ Analyse videos, whose "
             "result keeps the counts but not the pictures. Analyse whole video draws them.")


def stored_reps(segments: Sequence[dict[str, Any]], fps: float) -> RepCounts | None:
    """The repetitions a result file holds for each segment of a known action, as the window
    shows them (RepCounts without rhythm pictures: `no_rhythm` says why); None when it holds
    none. Raises KeyError/TypeError/ValueError on a malformed segment."""
    out: list[SegmentReps] = []
    for s in segments:
        if s["action"] is None:  # "not a known action": not a drill
            continue
        stored = s.get("reps")
        count = SimpleNamespace(
            start_frame=int(s["start_frame"]), end_frame=int(s["end_frame"]),
            total=None if stored is None or stored["reps"] is None else int(stored["reps"]),
            rep_times=[] if stored is None else [float(t) for t in stored["rep_times"]],
            reps_per_min=None if stored is None else stored.get("reps_per_min"),
            pace_cv=None if stored is None else stored.get("pace_cv"),
            reason=("its frames could not be read" if stored is None
                    else stored.get("reason") or ""))
        out.append(segment_reps(str(s["action"]), count, fps))
    if not out:
        return None
    return RepCounts(out, rhythms=[None] * len(out), no_rhythm=NO_RHYTHM)


# ------------------------------------------------------------------------------ reports

def write_reports(results: Sequence[Path | str], out_dir: Path | str,
                  notes_file: Path | str | None, progress: Progress,
                  cancelled: CancelCheck) -> Path:
    """The reports of result files (stmanet.report.write_reports); the session page."""
    from stmanet.report import read_notes
    from stmanet.report import write_reports as write

    notes = read_notes(notes_file) if notes_file else {}

    def step(done: int, total: int) -> None:
        if cancelled():
            from stmanet.errors import Cancelled

            raise Cancelled("report cancelled")
        progress(done, total)

    return write(results, out_dir, notes=notes, on_progress=step).session_html


def existing_results(videos: Sequence[Path | str]) -> list[Path]:
    """The cached result files of these videos that exist."""
    return [p for p in (result_file(v) for v in videos) if p.is_file()]



def videos_in(folder: Path | str) -> list[Path]:
    """The video files directly in `folder`, by name; VideoError naming it when none."""
    from stmanet.data.sources import VIDEO_EXTENSIONS
    from stmanet.errors import VideoError

    path = Path(folder)
    found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in VIDEO_EXTENSIONS)
    if not found:
        raise VideoError(path, f"a folder with no videos ({', '.join(VIDEO_EXTENSIONS)})")
    return found
