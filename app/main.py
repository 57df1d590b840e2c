"""Entry point of the desktop program: `stmanet-app [VIDEO] [--model CHECKPOINT]
[--screenshot FILE [--analyse-at SECONDS]] [--soak SECONDS [--report FILE]] [-v]`.
`stmanet-app --self-test ...` and `stmanet-app train ...` (any `stmanet` subcommand) are
handed to app.dispatch before any window is made.

With no arguments, the first launch opens the bundled demo video with the bundled demo model
and plays it; later launches load the model the user chose last (or the demo model) and show
an empty player. `--screenshot FILE` saves the window as a PNG once the video has produced its
first prediction (with `--analyse-at SECONDS`: once the whole video is analysed, at that
time in it), then exits 0; it exits 1 with the reason when there is no model, the model
or the video cannot be opened, or no prediction comes in time. `--soak SECONDS` plays the
video in a loop for that long and reports what was shown (app.soak).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from PySide6.QtCore import (
    QMessageLogContext,
    QObject,
    QSettings,
    QTimer,
    QtMsgType,
    Signal,
    qInstallMessageHandler,
)
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from app import dispatch
from app.binding_check import protect_none
from app.main_window import APP_NAME, ORGANIZATION_NAME, MainWindow, app_version
from app.soak import SoakRun
from app.theme import apply_theme
from stmanet.bundled import bundled_demo_model, bundled_demo_video

log = logging.getLogger(__name__)

SCREENSHOT_SETTLE_MS = 300
"""After the first prediction is shown, wait this long (layout, repaint) before taking the
picture."""

SCREENSHOT_TIMEOUT_MS = 60_000
ANALYSIS_TIMEOUT_MS = 900_000
"""With --analyse-at: the longest wait for the analysis and the picture."""

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Our options, and whatever is left for Qt (e.g. -platform, -style)."""
    parser = argparse.ArgumentParser(
        prog="stmanet-app",
        description=f"{APP_NAME}: review and recognise drills in video.",
        epilog="Also: `stmanet-app --self-test [--model FILE] [--video FILE]` checks the "
        "installation without a screen (demo model on the demo video); `stmanet-app COMMAND "
        "...` runs a `stmanet` command (train, predict, evaluate, ...; see `stmanet-app "
        "COMMAND --help`).",
    )
    parser.add_argument("video", nargs="?", type=Path, help="video file to open")
    parser.add_argument(
        "--model",
        type=Path,
        metavar="CHECKPOINT",
        help="model to recognise drills with (an ST-MANet .safetensors checkpoint)",
    )
    parser.add_argument(
        "--screenshot",
        type=Path,
        metavar="FILE",
        help="save the window as a PNG once the video's first prediction is shown, then exit",
    )
    parser.add_argument(
        "--analyse-at",
        type=float,
        metavar="SECONDS",
        help="with --screenshot: analyse the whole video first, then show the frame at "
        "SECONDS and save the window (and FILE.rhythm.png with the Rhythm dock in front)",
    )
    parser.add_argument(
        "--soak",
        type=float,
        metavar="SECONDS",
        help="play the video in a loop with recognition for SECONDS, then exit (0: frames "
        "were shown and windows predicted, nothing failed); see --report",
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="with --soak: write what was shown (frames, predictions, errors) as JSON to FILE",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    return parser.parse_known_args(list(argv))


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    qt_log = logging.getLogger("qt")
    levels = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }

    def forward(kind: QtMsgType, context: QMessageLogContext, message: str) -> None:
        qt_log.log(levels.get(kind, logging.WARNING), "%s", message)

    qInstallMessageHandler(forward)


class ErrorReporter(QObject):
    """The excepthook: logs an uncaught exception and shows it in a dialog instead of dying.

    Exceptions raised on other threads reach the dialog through a queued signal, so the
    dialog is always built on the GUI thread."""

    reported = Signal(str, str)  # summary, traceback

    def __init__(self, parent_window: QWidget | None = None, *, dialogs: bool = True) -> None:
        super().__init__()
        self._window = parent_window
        self._dialogs = dialogs  # unattended runs (screenshot, soak) only log
        self._showing = False
        self._previous_hook = sys.excepthook
        self.reported.connect(self._show)

    def set_window(self, window: QWidget | None) -> None:
        self._window = window

    def install(self) -> None:
        sys.excepthook = self.excepthook

    def uninstall(self) -> None:
        if sys.excepthook == self.excepthook:
            sys.excepthook = self._previous_hook

    def excepthook(
        self,
        exc_type: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
    ) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log.critical("uncaught exception", exc_info=(exc_type, exc, tb))
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        self.reported.emit(f"{exc_type.__name__}: {exc}", details)

    def _show(self, summary: str, details: str) -> None:
        if self._showing or not self._dialogs:  # one dialog at a time; the rest is logged
            return
        self._showing = True
        try:
            box = QMessageBox(self._window)
            box.setIcon(QMessageBox.Icon.Critical)
            box.setWindowTitle("Unexpected error")
            box.setText(
                "Something went wrong inside the program. The program keeps running, but "
                "you may want to save your work and restart it."
            )
            box.setInformativeText(summary)
            box.setDetailedText(details)
            box.exec()
        finally:
            self._showing = False


class ScreenshotOnReady(QObject):
    """Saves the window as a PNG once it shows what it should, then quits the application:
    with a video, once its first prediction is on screen; without one, right away."""

    def __init__(self, window: MainWindow, path: Path) -> None:
        super().__init__(window)
        self._window = window
        self._path = path
        self._done = False
        self._at: float | None = None  # with analyse_first: the time shown
        self._timeout = QTimer(self)
        self._timeout.setSingleShot(True)
        self._timeout.timeout.connect(self._give_up)
        self._timeout.start(SCREENSHOT_TIMEOUT_MS)

    def wait_for_first_prediction(self) -> None:
        recognition = self._window.recognition
        recognition.predictionShown.connect(self._on_ready)
        recognition.service.modelLoadFailed.connect(self._on_failed)
        recognition.service.failed.connect(self._on_failed)
        self._window.player.openFailed.connect(self._on_failed)
        self._window.player.playbackFailed.connect(self._on_failed)

    def analyse_first(self, seconds: float) -> None:
        """Once the first prediction is on screen, analyse the whole video, then show the
        frame at `seconds` and take the picture, and a second one (FILE.rhythm.png) with the
        Rhythm dock in front."""
        self._at = seconds
        self._timeout.start(ANALYSIS_TIMEOUT_MS)
        recognition = self._window.recognition
        recognition.predictionShown.connect(self._analyse)
        recognition.service.finished.connect(self._on_analysed)
        recognition.service.analysisFailed.connect(self._on_failed)
        self.wait_for_first_prediction()
        recognition.predictionShown.disconnect(self._on_ready)

    def _analyse(self, _result: object = None) -> None:
        recognition = self._window.recognition
        recognition.predictionShown.disconnect(self._analyse)
        self._window.player.pause()
        if not recognition.analyse():
            self._on_failed("the video could not be analysed")

    def _on_analysed(self, result: object) -> None:
        player = self._window.player
        fps = getattr(result, "fps", 25.0) or 25.0
        last = max(0, int(getattr(result, "frame_count", 1)) - 1)
        frame = min(last, max(0, round((self._at or 0.0) * fps)))
        if player.current_index() == frame:
            self._on_ready()
            return
        player.frameShown.connect(lambda index: self._on_ready() if index == frame else None)
        player.seek(frame)

    def take_soon(self) -> None:
        QTimer.singleShot(SCREENSHOT_SETTLE_MS, self._take)

    def fail(self, message: str) -> None:
        self._on_failed(message)

    def _on_ready(self, result: object = None) -> None:
        if not self._done:
            self._done = True
            if result is not None:
                log.info("first prediction on screen: %s", getattr(result, "label", result))
            self.take_soon()

    def _on_failed(self, message: str) -> None:
        if self._done:
            return
        self._done = True
        self._timeout.stop()
        log.error("no screenshot: %s", message)
        QTimer.singleShot(0, lambda: QApplication.exit(1))

    def _take(self) -> None:
        self._timeout.stop()
        self._path.parent.mkdir(parents=True, exist_ok=True)
        dock = self._window.recognition.reps.dock
        if self._at is not None and dock is not None:  # FILE.rhythm.png: the Rhythm dock up
            self._window.grab().save(str(self._path), "PNG")
            dock.raise_()
            QApplication.processEvents()
            self._path = self._path.with_suffix(".rhythm.png")
        if self._window.grab().save(str(self._path), "PNG"):
            log.info("saved the window to %s", self._path)
            QApplication.exit(0)
        else:
            log.error("could not write %s", self._path)
            QApplication.exit(1)

    def _give_up(self) -> None:
        self._done = True
        log.error("no prediction was shown within %d s; no screenshot",
                  SCREENSHOT_TIMEOUT_MS // 1000)
        QApplication.exit(1)


def startup_files(
    settings: QSettings, video: Path | None, model: Path | None
) -> tuple[Path | None, Path | None, bool]:
    """What to open at start: (video, model, remember the model as the user's choice).

    Given files win. Otherwise the model is the one the user chose last, or the bundled demo
    model; the video is the bundled demo video on the first launch only."""
    remember = model is not None
    if model is None:
        last = str(settings.value("model/last_checkpoint", "", type=str))
        model = Path(last) if last and Path(last).is_file() else bundled_demo_model()
    if video is None and not settings.value("startup/launched_before", False, type=bool):
        video = bundled_demo_video()
    return video, model, remember


def has_display() -> bool:
    """Whether Qt can open windows here (always on Windows and macOS)."""
    if not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: Sequence[str] | None = None) -> int:
    multiprocessing.freeze_support()  # first: a "spawn" data-loader worker must not get further
    argv = list(sys.argv[1:] if argv is None else argv)
    code = dispatch.run_without_window(argv)  # `stmanet-app train ...`, `stmanet-app --self-test`
    if code is not None:
        return code
    args, qt_args = parse_args(argv)
    configure_logging(args.verbose)
    protect_none()
    unattended = args.screenshot is not None or args.soak is not None
    if unattended and not has_display():
        # a screenshot or a soak run needs no screen: render offscreen on a headless machine
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication([sys.argv[0], *qt_args])
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(ORGANIZATION_NAME)
    app.setApplicationVersion(app_version())
    apply_theme(app)

    reporter = ErrorReporter(dialogs=not unattended)
    reporter.install()
    try:
        screenshot = args.screenshot is not None
        settings = QSettings()
        window = MainWindow(
            settings,
            error_presenter=(lambda title, text: log.error("%s: %s", title, text))
            if unattended
            else None,
        )
        reporter.set_window(window)
        app.aboutToQuit.connect(window.shutdown)
        video, model, remember = startup_files(settings, args.video, args.model)
        settings.setValue("startup/launched_before", True)
        if screenshot:
            window.resize(1280, 800)  # the same picture whatever screen (or none) is here,
            window.fit_to_screen()  # where it fits
        window.show()
        if args.soak is not None:
            soak = SoakRun(window, args.soak, args.report)
            reporter.reported.connect(lambda summary, _details: soak.record_error(summary))
        if screenshot:
            taker = ScreenshotOnReady(window, args.screenshot)
            if video is None:
                taker.take_soon()
            elif model is None:
                taker.fail(
                    "no model to recognise drills with: give one with --model CHECKPOINT"
                )
            elif args.analyse_at is not None:
                taker.analyse_first(args.analyse_at)
            else:
                taker.wait_for_first_prediction()
        if model is not None:
            window.recognition.load_model(model, remember=remember)
        if video is not None:
            window.open_path(video)
        code = app.exec()
        window.close()
        return int(code)
    finally:
        reporter.uninstall()
        qInstallMessageHandler(None)


if __name__ == "__main__":
    sys.exit(main())
