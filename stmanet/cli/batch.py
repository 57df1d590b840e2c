"""`stmanet predict --output-dir`: a result file per video, resumable and parallel
(engine/batch.py); `stmanet report`: reports from those files (stmanet/report/)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


class _Terminal:
    """Progress of a batch on stderr: a bar over the videos with the running videos' share
    of windows (on a terminal), and a line per finished video."""

    def __init__(self, total: int, bar: bool) -> None:
        from stmanet.engine.events import ProgressBar

        self.total = total
        self.finished = 0
        self.running: dict[str, tuple[int, int]] = {}
        self.started: dict[str, float] = {}
        self.bar = ProgressBar(sys.stderr) if bar else None

    def __call__(self, event) -> None:  # BatchEvent
        name = Path(event.video).name
        if event.kind == "kept":
            self.finished += 1
            self._line(f"[{self.finished}/{self.total}] {name}: result on file kept")
        elif event.kind == "started":
            self.running[event.video] = (0, 0)
            self.started[event.video] = time.perf_counter()
        elif event.kind == "progress":
            self.running[event.video] = (event.done, event.total)
        elif event.kind in ("done", "failed"):
            self.finished += 1
            self.running.pop(event.video, None)
            took = time.perf_counter() - self.started.pop(event.video, time.perf_counter())
            what = (f"done in {took:.1f} s" if event.kind == "done"
                    else f"error: {event.message}")
            self._line(f"[{self.finished}/{self.total}] {name}: {what}")
        self._draw()

    def _line(self, text: str) -> None:
        if self.bar is not None:
            self.bar.line(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def _draw(self) -> None:
        if self.bar is None:
            return
        parts = [f"{Path(v).name} {100 * d // t if t else 0}%"
                 for v, (d, t) in list(self.running.items())[:4]]
        self.bar.draw(self.finished, self.total, prefix="videos", suffix="  ".join(parts))

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def predict_to_folder(args: argparse.Namespace) -> int:
    """`stmanet predict VIDEOS --output-dir OUT [--workers N] [--redo]`."""
    from stmanet.cli.common import (
        expand_videos,
        inference_device,
        model_file,
        progress_mode,
        smoothing_options,
    )
    from stmanet.engine.batch import available_cores, default_workers, read_result, run_batch
    from stmanet.engine.video_result import AnalysisSettings
    from stmanet.errors import ConfigError, printable_path
    from stmanet.fileio import check_output_folder

    for flag, given in (("--output", args.output), ("--reps", args.reps),
                        ("--segments", args.segments), ("--attention", args.attention)):
        if given:
            raise ConfigError(f"{flag} does not go with --output-dir: each video's result "
                              "file already holds its segments, counts and attention")
    check_output_folder(args.output_dir)
    checkpoint = model_file(args.checkpoint)
    videos = expand_videos(args.videos)
    missing = [v for v in videos if not Path(v).is_file()]
    if missing:
        raise ConfigError(f"{missing[0]}: no such video file")
    smoothing = smoothing_options(args)
    settings = AnalysisSettings(hop=args.hop, novelty_threshold=args.novelty_threshold,
                                sensitivity=args.sensitivity, batch_size=args.batch_size,
                                backend="openvino" if args.ir else args.backend,
                                ir=str(Path(args.ir).resolve()) if args.ir else None,
                                **smoothing)  # type: ignore[arg-type]
    workers = args.workers or default_workers(len(videos))
    device = str(inference_device(args))
    if settings.backend != "torch":  # checked (and converted, once) before the workers start
        from stmanet.engine.checkpoint import load_checkpoint
        from stmanet.engine.inference import Predictor

        Predictor(load_checkpoint(checkpoint), device, backend=settings.backend,
                  ir=settings.ir)
    if device != "cpu":  # one process feeds the GPU
        workers = 1
    print(f"{len(videos)} video(s), up to {workers} worker process(es) on {available_cores()} "
          f"core(s); results in {printable_path(Path(args.output_dir))}", file=sys.stderr)
    terminal = _Terminal(len(videos), progress_mode(args.progress) == "bar")
    started = time.perf_counter()
    try:
        summary = run_batch(videos, args.output_dir, checkpoint, settings, workers=workers,
                            device=device, redo=args.redo, on_event=terminal)
    finally:
        terminal.close()
    first = next(iter(summary.results.values()), None)  # every result is of this model
    if first is not None and (read_result(first) or {}).get("attention") == "untrained":
        from stmanet.engine.openset import UNTRAINED_ATTENTION

        print(f"stmanet predict: note: {printable_path(checkpoint)}: {UNTRAINED_ATTENTION} "
              "(reports show no heatmap)", file=sys.stderr)
    print(f"{len(summary.done)} analysed, {len(summary.kept)} kept from an earlier run, "
          f"{len(summary.failed)} failed in {time.perf_counter() - started:.1f} s; results "
          f"in {printable_path(Path(args.output_dir))}")
    if summary.failed:
        print(f"stmanet predict: error: {len(summary.failed)} of {len(videos)} videos could "
              f"not be analysed: {', '.join(printable_path(Path(v)) for v, _ in summary.failed)}",
              file=sys.stderr)
        return 1
    return 0


def add_batch_flags(p: argparse.ArgumentParser) -> None:
    from stmanet.cli.common import positive_int

    p.add_argument("--output-dir", metavar="DIR",
                   help="write one result file per video into DIR (segments, seconds per "
                        "action, unknown time, repetitions, key frames; see docs/reports.md). "
                        "Resumable: videos with a current result in DIR are skipped")
    p.add_argument("--workers", type=positive_int,
                   help="with --output-dir: videos analysed side by side, each in its own "
                        "process (default: one per two cores)")
    p.add_argument("--redo", action="store_true",
                   help="with --output-dir: analyse every video again, even those with a "
                        "current result")


def _cmd_report(args: argparse.Namespace) -> int:
    from stmanet.errors import printable_path
    from stmanet.report import read_notes, write_reports

    notes = read_notes(args.notes, args.note)
    written = write_reports(args.results, args.output, notes=notes, pdf=not args.no_pdf,
                            title=args.title)
    print(f"{written.students} report(s) and the session report written to "
          f"{printable_path(Path(args.output))}: {written.session_html.name}, "
          f"{written.table.name}" + ("" if args.no_pdf else f", {written.session_pdf.name}"))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="HTML and PDF reports per video and for the session, and a session "
                       "table, from the results of `stmanet predict --output-dir`",
        description="Reports from result files of `stmanet predict --output-dir`: per video "
                    "(student) an HTML page and a PDF (timeline, time per action, counts and "
                    "pace, time not a known action, key frames with attention, model and "
                    "accuracy, a note), a session report and session.csv (a row per video, "
                    "seconds and reps per action). See docs/reports.md.")
    p.add_argument("results", nargs="+", metavar="RESULTS",
                   help="result files (*.result.json) or folders holding them")
    p.add_argument("-o", "--output", required=True, metavar="DIR",
                   help="folder to write the reports into")
    p.add_argument("--notes", metavar="FILE",
                   help="notes per student: JSON {\"VIDEO\": \"note\", ...} or CSV with "
                        "columns video,note (VIDEO: the file name, with or without its "
                        "extension)")
    p.add_argument("--note", action="append", default=[], metavar="VIDEO=TEXT",
                   help="a note for one video (repeatable; wins over --notes)")
    p.add_argument("--title", default="Session report", help="title of the session report")
    p.add_argument("--no-pdf", action="store_true", help="HTML and CSV only")
    p.set_defaults(func=_cmd_report)
