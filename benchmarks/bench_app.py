"""Recognition speed as the desktop program sees it: whole-file analysis and live playback.

    python benchmarks/bench_app.py [--model stmanet_r18_lite] [--seconds 20] [--size 320x240]
                                   [--device cpu] [--hop 16] [--live-seconds 15] [--no-live]

A drill video is generated (the procedural figures of stmanet.data.synthetic) and a model of
the named variant is created with random weights (speed does not depend on the weights) and
saved as a checkpoint with the default input spec (32 frames, every 2nd of a 64-frame window,
112 x 112). Then:

  analysis  the app's recognition service analyses the whole file, as "Analyse whole video"
            does (decode, crop, network, attention summaries, hand-over to the GUI thread):
            printed as seconds and as a multiple of real time (video duration / wall time);
  live      the main window (offscreen) plays the file with the model loaded: printed are
            the frames the player displayed per second, the number of live predictions and
            their latency in the worker, and the delay from a window's last frame being shown
            to its prediction reaching the window (median, 90th percentile, worst).

Nothing is asserted; the figures depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
from PySide6.QtCore import QEventLoop, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from app.main_window import MainWindow
from app.services.devices import default_device, leave_a_core_free
from app.services.recognition_service import RecognitionService
from app.services.results import AnalysisResult, WindowResult
from stmanet.config import InputSpec
from stmanet.data.synthetic import DRILLS, render_sequence, write_video
from stmanet.engine.checkpoint import CheckpointMetadata, provenance, save_checkpoint
from stmanet.models import create_model


def pump(ms: int) -> None:
    """Run the event loop for `ms` milliseconds."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_until(condition: Callable[[], object], timeout_s: float) -> bool:
    deadline = time.perf_counter() + timeout_s
    while not condition() and time.perf_counter() < deadline:
        pump(10)
    return bool(condition())


def make_video(path: Path, seconds: float, size: tuple[int, int], fps: float) -> Path:
    drills = [(drill, seconds / 4) for drill in DRILLS[:4]]
    frames, _ = render_sequence(drills, seed=7, fps=fps, size=size)
    return write_video(path, frames, fps=fps)


def make_checkpoint(path: Path, name: str, classes: int) -> Path:
    torch.manual_seed(0)
    model = create_model(name, classes)
    names = [f"action {i + 1}" for i in range(classes)]
    metadata = CheckpointMetadata(model.config, names, InputSpec(),
                                  provenance("benchmark", note="random weights"))
    return save_checkpoint(path, model, metadata)


def bench_analysis(checkpoint: Path, video: Path, device: str, hop: int,
                   duration_s: float) -> None:
    service = RecognitionService(None, device=device, hop=hop)
    try:
        loaded = []
        service.modelChanged.connect(loaded.append)
        service.load_model(checkpoint)
        if not wait_until(lambda: loaded, 300):
            print("analysis: the model did not load")
            return
        done: list[AnalysisResult] = []
        service.finished.connect(done.append)
        service.analysisFailed.connect(lambda message: print(f"analysis failed: {message}"))
        started = time.perf_counter()
        service.analyse(video, hop=hop)
        wait_until(lambda: done or not service.is_analysing(), 3600)
        wall = time.perf_counter() - started
    finally:
        service.shutdown()
    if not done:
        return
    windows = len(done[0].windows)
    print(f"analysis  {windows} windows (hop {hop}) of {duration_s:.1f} s of video in "
          f"{wall:.2f} s: {duration_s / wall:.2f}x real time, "
          f"{windows / wall:.2f} windows/s")


def bench_live(checkpoint: Path, video: Path, device: str, hop: int, seconds: float) -> None:
    settings_file = Path(tempfile.mkdtemp()) / "settings.ini"
    settings = QSettings(str(settings_file), QSettings.Format.IniFormat)
    settings.setValue("recognition/device", device)
    settings.setValue("recognition/hop", hop)
    window = MainWindow(settings, error_presenter=lambda t, m: print(f"{t}: {m}"))
    window.resize(1280, 800)
    window.show()
    recognition = window.recognition
    try:
        recognition.load_model(checkpoint, remember=False)
        if not wait_until(lambda: recognition.model is not None, 300):
            print("live: the model did not load")
            return
        shown_at: dict[int, float] = {}
        answers: list[tuple[WindowResult, float]] = []
        window.player.frameShown.connect(lambda i: shown_at.setdefault(i, time.perf_counter()))
        recognition.service.predicted.connect(lambda r: answers.append((r, time.perf_counter())))
        window.open_path(video)
        wait_until(lambda: shown_at, 30)
        started = time.perf_counter()
        pump(round(seconds * 1000))
        elapsed = time.perf_counter() - started
        window.player.pause()
    finally:
        window.close()
    shown = [i for i, t in shown_at.items() if t >= started]
    delays = []
    for result, arrived in answers:
        last = result.end_frame - 1
        later = [i for i in shown_at if i >= last]
        if later:
            delays.append((arrived - shown_at[min(later)]) * 1000)
    latencies = [r.latency_ms for r, _ in answers]
    print(f"live      displayed {len(shown) / elapsed:.1f} fps over {elapsed:.1f} s, "
          f"{len(answers)} predictions (hop {hop})")
    if latencies:
        print(f"live      worker latency per window: median {statistics.median(latencies):.0f} ms,"
              f" worst {max(latencies):.0f} ms")
    if delays:
        delays.sort()
        p90 = delays[min(len(delays) - 1, round(0.9 * (len(delays) - 1)))]
        print(f"live      last frame shown -> prediction on screen: median "
              f"{statistics.median(delays):.0f} ms, p90 {p90:.0f} ms, worst {delays[-1]:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="stmanet_r18_lite")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the video")
    parser.add_argument("--size", default="320x240", help="video WIDTHxHEIGHT")
    parser.add_argument("--fps", type=float, default=25.0)
    parser.add_argument("--device", default=default_device())
    parser.add_argument("--hop", type=int, default=16, help="live: frames between windows")
    parser.add_argument("--analysis-hops", default="16,64",
                        help="analysis: frames between windows, one run per value")
    parser.add_argument("--live-seconds", type=float, default=15.0)
    parser.add_argument("--no-live", action="store_true")
    parser.add_argument("--no-analysis", action="store_true")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName("ST-MANet bench")
    threads = leave_a_core_free()  # what the app does
    print(f"model {args.model} ({args.classes} classes, random weights), device {args.device}, "
          f"torch {torch.__version__} with {threads} threads, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as folder:
        video = make_video(Path(folder) / "drills.mp4", args.seconds, (width, height), args.fps)
        checkpoint = make_checkpoint(Path(folder) / "model.safetensors", args.model,
                                     args.classes)
        print(f"video {args.seconds:.0f} s, {width}x{height}, {args.fps:g} fps")
        if not args.no_analysis:
            for hop in (int(h) for h in args.analysis_hops.split(",") if h.strip()):
                bench_analysis(checkpoint, video, args.device, hop, args.seconds)
        if not args.no_live:
            bench_live(checkpoint, video, args.device, args.hop, args.live_seconds)


if __name__ == "__main__":
    main()
