"""`stmanet-app --self-test [--model FILE] [--video FILE] [--device DEVICE] [-v]`.

Checks an installation (a source checkout, an installed copy or a PyInstaller bundle) without
a screen: builds the main window offscreen, loads the model (default: the bundled demo
model), classifies the video (default: the bundled demo video) window by window, prints the
predicted timeline and exits 0. When an expected timeline sits beside the video (same stem,
`.json`, see stmanet.engine.timeline), the prediction must match it: the majority label of
the whole windows inside each expected segment is the expected label.

Any failure (no model shipped, an unreadable model or video, a window that cannot be built, a
timeline that does not match) prints `self-test FAILED: <reason>` on stderr and exits 1.

Like app.main, an entry point: it drives the engine directly.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from app import PROCESS_STARTED
from stmanet import __version__, bundled
from stmanet.data.decode import probe
from stmanet.engine.checkpoint import load_checkpoint
from stmanet.engine.distributed import resolve_device
from stmanet.engine.inference import Predictor, VideoPrediction, WindowPrediction
from stmanet.engine.segmentation import OTHER_LABEL
from stmanet.engine.timeline import (
    ExpectedTimeline,
    compare_timeline,
    expected_timeline_path,
    predicted_segments,
)
from stmanet.errors import STMANetError

log = logging.getLogger(__name__)

EXIT_PASSED = 0
EXIT_FAILED = 1


class SelfTestFailed(Exception):
    """The self-test found a problem; the message says what, for the user."""


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="stmanet-app --self-test",
        description="Check this installation without a screen: build the window offscreen, "
                    "classify a video with a model, print the predicted timeline, and compare "
                    "it with the expected timeline beside the video (VIDEO.json) if there is "
                    "one. Exits 0 when all is well, 1 with the reason otherwise.")
    parser.add_argument("--model", type=Path, metavar="FILE",
                        help="model to test (default: the bundled demo model)")
    parser.add_argument("--video", type=Path, metavar="FILE",
                        help="video to classify (default: the bundled demo video)")
    parser.add_argument("--device", default="cpu",
                        help="cpu, cuda, cuda:N or auto (default: cpu)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log debug messages and show tracebacks")
    return parser.parse_args(list(argv))


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        run_self_test(args.model, args.video, device=args.device)
    except (SelfTestFailed, STMANetError) as exc:  # a reason already put for the user
        if args.verbose:
            traceback.print_exc()
        print(f"self-test FAILED: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    except Exception as exc:  # any failure is a result to report, with its reason
        if args.verbose:
            traceback.print_exc()
        print(f"self-test FAILED: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return EXIT_FAILED
    return EXIT_PASSED


def _say(text: str = "") -> None:
    print(text, flush=True)


def _since_start() -> float:
    return time.perf_counter() - PROCESS_STARTED


def run_self_test(model: Path | None, video: Path | None, *, device: str = "cpu") -> None:
    """Run every check, printing as it goes; raises SelfTestFailed (or the engine's error)
    at the first problem."""
    frozen = "yes (PyInstaller bundle)" if bundled.frozen_root() is not None else "no"
    _say(f"ST-MANet Coach self-test: stmanet {__version__}, Python {platform.python_version()}"
         f", torch {torch.__version__}, {platform.system()} {platform.machine()}, "
         f"frozen: {frozen}")
    model_path = _chosen_file(model, bundled.bundled_demo_model, bundled.DEMO_MODEL, "model",
                              "--model")
    video_path = _chosen_file(video, bundled.bundled_demo_video, bundled.DEMO_VIDEO, "video",
                              "--video")

    _say(f"window: {check_window()}, {_since_start():.2f} s after start-up")

    loaded = load_checkpoint(model_path, device=resolve_device(device))
    meta = loaded.metadata
    spec = meta.input
    _say(f"model: {model_path} (ST-MANet-{meta.model.depth} width {meta.model.width:g}, "
         f"{len(meta.class_names)} classes, clips of {spec.frames} frames (1 in "
         f"{spec.frame_stride}) at {spec.size}x{spec.size} px; loaded {_since_start():.2f} s "
         f"after start-up)")

    expected_path = expected_timeline_path(video_path)
    expected = ExpectedTimeline.load(expected_path) if expected_path.is_file() else None

    info = probe(video_path)
    _say(f"video: {video_path} ({info.frame_count} frames at {info.fps:g} fps, "
         f"{info.duration:.1f} s, {info.width}x{info.height})")

    first: list[float] = []

    def on_window(window: WindowPrediction, _scores: np.ndarray) -> None:
        if not first:
            first.append(_since_start())
            _say(f"first prediction: {first[0]:.2f} s after start-up (frames "
                 f"{window.start_frame}-{window.end_frame}: {window.label} {window.score:.3f})")

    started = time.perf_counter()
    # one window per batch: the first prediction comes as soon as the first window is read,
    # as in the window's live recognition
    predictor = Predictor(loaded, resolve_device(device), batch_size=1)
    prediction = predictor.predict(video_path, on_window=on_window)
    took = time.perf_counter() - started
    _say(f"classified {len(prediction.windows)} windows of {prediction.window} frames in "
         f"{took:.2f} s ({info.duration / took if took > 0 else 0:.1f}x real time)")

    _say("predicted timeline:")
    for seg in predicted_segments(prediction.windows):
        _say(f"  {seg.start_s:7.2f}-{seg.end_s:7.2f} s  frames {seg.start_frame:5d}-"
             f"{seg.end_frame:5d}  {seg.label:<20s} {seg.mean_score:.3f} "
             f"({seg.windows} window{'s' if seg.windows != 1 else ''})")

    if expected is None:
        _say(f"expected timeline: none ({expected_path.name} is not beside the video); "
             f"nothing to compare")
    else:
        _compare(expected, expected_path, prediction, info.frame_count, meta.class_names)
    _say(f"self-test passed in {_since_start():.2f} s")


def _chosen_file(given: Path | None, bundled_lookup: Callable[[], Path | None],
                 parts: tuple[str, ...], what: str, flag: str) -> Path:
    if given is not None:
        if not given.is_file():
            raise SelfTestFailed(f"the {what} file {given} does not exist")
        return given
    found = bundled_lookup()
    if found is None:
        raise SelfTestFailed(f"no demo {what}: {bundled.describe_missing(*parts)}. This "
                             f"installation is incomplete; reinstall it, or test another "
                             f"{what} with {flag} FILE")
    return found


def _compare(expected: ExpectedTimeline, expected_path: Path, prediction: VideoPrediction,
             frame_count: int, class_names: list[str]) -> None:
    unknown = sorted({s.label for s in expected.segments} - set(class_names) - {OTHER_LABEL})
    if unknown:
        raise SelfTestFailed(f"{expected_path} expects {', '.join(map(repr, unknown))}, which "
                             f"the model does not know (it knows "
                             f"{', '.join(class_names)})")
    if expected.frames != frame_count:
        raise SelfTestFailed(f"{expected_path} describes a video of {expected.frames} frames, "
                             f"but the video holds {frame_count}: it belongs to another video")
    checks = compare_timeline(prediction.windows, expected, prediction.window)
    _say(f"expected timeline ({expected_path.name}), majority of the whole windows inside "
         f"each segment:")
    for check in checks:
        seg = check.expected
        if not check.checked:
            verdict, got = "not checked (shorter than a window)", "-"
        else:
            verdict = "ok" if check.matches else "MISMATCH"
            got = (f"{check.predicted} ({check.votes.get(check.predicted or '', 0)}/"
                   f"{check.windows} windows)")
        _say(f"  frames {seg.start_frame:5d}-{seg.end_frame:5d}  expected {seg.label:<18s} "
             f"predicted {got:<32s} {verdict}")
    if not any(c.checked for c in checks):
        raise SelfTestFailed(f"no segment of {expected_path.name} is long enough to hold a "
                             f"whole window of {prediction.window} frames: nothing was "
                             f"compared")
    wrong = [c for c in checks if c.checked and not c.matches]
    if wrong:
        listed = "; ".join(f"frames {c.expected.start_frame}-{c.expected.end_frame}: expected "
                           f"{c.expected.label}, predicted {c.predicted}" for c in wrong[:3])
        if len(wrong) > 3:
            listed += f"; {len(wrong) - 3} more above"
        raise SelfTestFailed(f"the predicted timeline does not match {expected_path.name} in "
                             f"{len(wrong)} of {len(checks)} segments ({listed})")
    checked = sum(c.checked for c in checks)
    _say(f"timeline matches: {checked} of {len(checks)} segments checked, all as expected")


def check_window() -> str:
    """Build the main window offscreen and draw it once; says what was used.

    Proves that Qt, its platform plugin and every module of the program load (in a bundle,
    the classic failure is a missing plugin or module)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import PySide6
    from PySide6.QtCore import QSettings, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    existing = QApplication.instance()
    qt_app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0]])
    problems: list[str] = []
    # Qt's chatter (e.g. the offscreen plugin's "does not support ...") goes to the debug log
    previous = qInstallMessageHandler(lambda _kind, _context, text: log.debug("qt: %s", text))
    try:
        with tempfile.TemporaryDirectory(prefix="stmanet-self-test-") as folder:
            settings = QSettings(str(Path(folder) / "settings.ini"),
                                 QSettings.Format.IniFormat)
            window = MainWindow(settings, error_presenter=lambda title, text: problems.append(
                f"{title}: {text}"))
            try:
                window.resize(1280, 800)
                window.show()
                qt_app.processEvents()
                image = window.grab().toImage()
            finally:
                window.close()
                window.deleteLater()
                qt_app.processEvents()
            del settings
    finally:
        qInstallMessageHandler(previous)
    if image.isNull() or image.width() < 100:
        raise SelfTestFailed("the main window could not be drawn offscreen")
    if problems:
        raise SelfTestFailed(f"the main window reported: {'; '.join(problems)}")
    return (f"built and drawn offscreen ({image.width()}x{image.height()}, PySide6 "
            f"{PySide6.__version__}, Qt platform {qt_app.platformName()})")
