"""Many videos analysed one after another or side by side, resumable: `stmanet predict
--output-dir` and the app's "Analyse videos...".

Every video gets a result file of its own in the output folder (`result_path`: the video's
file name + `.result.json`), written atomically when the video is done (stmanet.fileio), with
the model's SHA-256, the analysis settings and the video's size and modification time
(engine/video_result.py). A run first reads the results on file: a current one is kept, a
stale one (another model, other settings, a changed video) is made again. A run killed part
way therefore loses at most the videos in progress.

`workers` > 1 runs that many worker processes (spawned, each loading the model once and
using cores / workers torch threads); 1 runs in this process. Progress comes as
`BatchEvent`s: a video started, its windows done, finished (with its result), failed, or kept
from an earlier run. Any error while analysing one video (an unreadable file, OpenCV's, a
RuntimeError such as running out of memory) fails that video only, with a one-line reason
naming it; the others are analysed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stmanet.engine.video_result import AnalysisSettings, analyse_video, is_current
from stmanet.errors import Cancelled, STMANetError, printable_path

RESULT_SUFFIX = ".result.json"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchEvent:
    """kind: "kept" (a current result on file), "started", "progress" (done/total windows),
    "done" (result written), "failed" (message says why)."""

    kind: str
    video: str
    done: int = 0
    total: int = 0
    message: str = ""
    result_file: str = ""


@dataclass
class BatchSummary:
    kept: list[str]
    done: list[str]
    failed: list[tuple[str, str]]
    results: dict[str, Path]  # video -> its result file, for every video that has one


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def default_workers(videos: int, cores: int | None = None) -> int:
    """Worker processes for `videos` videos on `cores` cores: one per core on up to three
    cores (measured in benchmarks/bench_batch.py: 1.1-1.4x over one process on a shared
    2-core machine), one per two cores on more (each then runs two torch threads, and the
    processes' memory stays moderate), one at least, never more than there are videos."""
    cores = cores or available_cores()
    return max(1, min(videos, cores // 2 if cores >= 4 else cores))


def result_paths(videos: Sequence[str | Path], out_dir: Path | str) -> dict[str, Path]:
    """Each video's result file in `out_dir`: NAME.EXT.result.json; videos of one name from
    different folders get a short hash of their folder in it."""
    out = Path(out_dir)
    names: dict[str, int] = {}
    for v in videos:
        names[Path(v).name] = names.get(Path(v).name, 0) + 1
    paths = {}
    for v in videos:
        name = Path(v).name
        if names[name] > 1:
            tag = hashlib.sha1(str(Path(v).resolve().parent).encode()).hexdigest()[:8]
            name = f"{Path(v).stem}-{tag}{Path(v).suffix}"
        paths[str(v)] = out / f"{name}{RESULT_SUFFIX}"
    return paths


def read_result(path: Path | str) -> dict[str, Any] | None:
    """A result file's content; None when it is missing or not a result (half a file never
    exists: they are written atomically, but a user may have edited one)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_result(path: Path | str, result: dict[str, Any]) -> Path:
    from stmanet.fileio import atomic_write_text

    atomic_write_text(path, json.dumps(result, separators=(",", ":")) + "\n")
    return Path(path)


# --------------------------------------------------------------------------- one process

_worker: dict[str, Any] = {}


def _make_predictor(checkpoint: str, settings: AnalysisSettings, device: str) -> Any:
    from stmanet.engine.checkpoint import load_checkpoint
    from stmanet.engine.inference import Predictor

    predictor = Predictor(load_checkpoint(checkpoint, device=device), device,
                          batch_size=settings.batch_size, top_k=1, attention=True,
                          novelty_threshold=settings.novelty_threshold,
                          backend=settings.backend, ir=settings.ir)
    if settings.sensitivity:
        predictor.set_sensitivity(settings.sensitivity)
    return predictor


def _init_worker(checkpoint: str, settings: AnalysisSettings, model: dict[str, Any],
                 threads: int, events: Any, stop: Any) -> None:
    import torch

    torch.set_num_threads(max(1, threads))
    _worker.update(predictor=_make_predictor(checkpoint, settings, "cpu"),
                   settings=settings, model=model, events=events, stop=stop)


def _analyse_to_file(video: str, result_file: str) -> tuple[str, str]:
    """In a worker: analyse `video`, write its result; ("done"|"failed"|"cancelled", why)."""
    events, stop = _worker["events"], _worker["stop"]
    events.put(BatchEvent("started", video))

    def progress(done: int, total: int) -> None:
        events.put(BatchEvent("progress", video, done, total))

    try:
        result = analyse_video(_worker["predictor"], video, _worker["settings"],
                               model=_worker["model"], on_progress=progress,
                               should_cancel=stop.is_set)
        write_result(result_file, result)
    except Cancelled:
        return "cancelled", ""
    except STMANetError as exc:
        return "failed", str(exc)
    except (OSError, ValueError) as exc:
        return "failed", f"{printable_path(Path(video))}: {_first_line(exc)}"
    except Exception as exc:  # one video's failure must not stop the others
        log.exception("analysing %s failed", printable_path(Path(video)))
        return "failed", (f"{printable_path(Path(video))}: could not be analysed "
                          f"({type(exc).__name__}: {_first_line(exc)})")
    return "done", ""


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].strip()[:200] if lines else "no message"


# --------------------------------------------------------------------------- the batch

def run_batch(videos: Sequence[str | Path], out_dir: Path | str, checkpoint: Path | str,
              settings: AnalysisSettings | None = None, *, workers: int | None = None,
              device: str = "cpu", redo: bool = False,
              on_event: Callable[[BatchEvent], None] | None = None,
              should_cancel: Callable[[], bool] | None = None) -> BatchSummary:
    """Analyse every video that has no current result in `out_dir` (all of them with
    `redo`); see the module's docstring. Raises Cancelled when `should_cancel()` turns true
    (the results written so far stay)."""
    from stmanet.engine.video_result import model_identity

    settings = settings or AnalysisSettings()
    emit = on_event or (lambda _e: None)
    videos = [str(v) for v in videos]
    files = result_paths(videos, out_dir)
    model = model_identity(checkpoint)
    todo: list[str] = []
    summary = BatchSummary([], [], [], {})
    for v in videos:
        old = None if redo else read_result(files[v])
        if old is not None and is_current(old, v, model, settings):
            summary.kept.append(v)
            summary.results[v] = files[v]
            emit(BatchEvent("kept", v, result_file=str(files[v])))
        else:
            todo.append(v)
    if not todo:
        return summary
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    count = workers or default_workers(len(todo))
    count = max(1, min(count, len(todo)))
    if count == 1 or device != "cpu":
        _run_here(todo, files, str(checkpoint), settings, model, device, summary, emit,
                  should_cancel)
    else:
        _run_pool(todo, files, str(checkpoint), settings, model, count, summary, emit,
                  should_cancel)
    return summary


def _finish(video: str, outcome: str, why: str, files: dict[str, Path],
            summary: BatchSummary, emit: Callable[[BatchEvent], None]) -> None:
    if outcome == "done":
        summary.done.append(video)
        summary.results[video] = files[video]
        emit(BatchEvent("done", video, result_file=str(files[video])))
    elif outcome == "failed":
        summary.failed.append((video, why))
        emit(BatchEvent("failed", video, message=why))


def _run_here(todo: list[str], files: dict[str, Path], checkpoint: str,
              settings: AnalysisSettings, model: dict[str, Any], device: str,
              summary: BatchSummary, emit: Callable[[BatchEvent], None],
              should_cancel: Callable[[], bool] | None) -> None:
    stop = threading.Event()

    class _Forward:  # hands events on at once, and turns should_cancel into the stop flag
        def put(self, event: BatchEvent) -> None:
            emit(event)
            if should_cancel is not None and should_cancel():
                stop.set()

    _worker.update(predictor=_make_predictor(checkpoint, settings, device), settings=settings,
                   model=model, events=_Forward(), stop=stop)
    try:
        for v in todo:
            if should_cancel is not None and should_cancel():
                raise Cancelled("analysis of the videos cancelled")
            outcome, why = _analyse_to_file(v, str(files[v]))
            if outcome == "cancelled":
                raise Cancelled("analysis of the videos cancelled")
            _finish(v, outcome, why, files, summary, emit)
    finally:
        _worker.clear()


def _run_pool(todo: list[str], files: dict[str, Path], checkpoint: str,
              settings: AnalysisSettings, model: dict[str, Any], count: int,
              summary: BatchSummary, emit: Callable[[BatchEvent], None],
              should_cancel: Callable[[], bool] | None) -> None:
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    context = multiprocessing.get_context("spawn")  # no forked torch thread pools
    events = context.Queue()
    stop = context.Event()
    threads = max(1, available_cores() // count)
    pool = ProcessPoolExecutor(count, mp_context=context, initializer=_init_worker,
                               initargs=(checkpoint, settings, model, threads, events, stop))

    def drain() -> None:
        while True:
            try:
                emit(events.get_nowait())
            except queue.Empty:
                return

    cancelled = False
    try:
        pending = {pool.submit(_analyse_to_file, v, str(files[v])): v for v in todo}
        while pending:
            finished, _ = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            drain()
            if not cancelled and should_cancel is not None and should_cancel():
                cancelled = True
                stop.set()
                for future in pending:
                    future.cancel()
            for future in finished:
                v = pending.pop(future)
                if future.cancelled():
                    continue
                try:
                    outcome, why = future.result()
                except BrokenProcessPool as exc:
                    raise STMANetError(
                        f"a worker process analysing {printable_path(Path(v))} stopped "
                        "(out of memory?); the videos finished so far keep their results: "
                        "run again, with fewer --workers, to analyse the rest") from exc
                _finish(v, outcome, why, files, summary, emit)
            pending = {f: v for f, v in pending.items() if not f.cancelled()}
        drain()
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        events.close()
    if cancelled:
        raise Cancelled("analysis of the videos cancelled")
