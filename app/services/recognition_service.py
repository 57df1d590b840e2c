"""Recognition off the GUI thread: what the window holds.

`RecognitionService` starts the recognition thread with its `RecognitionWorker`
(app/services/inference_worker.py), forwards requests to the worker through queued signals
and re-emits the answers on the GUI thread. It is the one place where engine errors
(STMANetError kinds) become messages for a dialog.

Live mode (a playing file, a camera, a stream): each time a frame is shown the service may
ask for a prediction. It keeps at most one live request in flight; the worker answers about
the newest complete window, so windows that went by while the network was busy are never
queued. A new window is asked for once `hop` source frames have passed since the last one.

Whole-file analysis reports progress (`progressed(done, total)`) and the windows as they are
done (`windowsAnalysed`), and can be cancelled. Its windows start `analysis_hop()` frames
apart: the live hop, or a quarter window when that is finer (the spacing the per-frame
result was measured with; docs/training.md, "Timelines"). Its result (`finished`, or
`cancelled` with what was done) carries the per-frame result (`AnalysisResult.timeline`).

Requests carry a generation number that changes with the source; answers about a previous
source are dropped.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import shiboken6
from PySide6.QtCore import QObject, Qt, QThread, Signal

from app.services.devices import available_devices, default_device, leave_a_core_free
from app.services.frames import SourceInfo
from app.services.inference_worker import (
    AnalysisRequest,
    DetailRequest,
    FrameProvider,
    LiveReply,
    LiveRequest,
    RecognitionWorker,
)
from app.services.results import SENSITIVITY_LEVELS, AnalysisResult, ModelInfo, WindowResult
from stmanet.engine.segmentation import default_hop

log = logging.getLogger(__name__)

DEFAULT_HOP = 16
"""Source frames between the starts of two live windows (analysed windows: `analysis_hop`)."""


class RecognitionService(QObject):
    """The GUI's handle on the recognition thread. Create, use and shut down on the GUI thread.

    Signals (on the GUI thread):
      modelChanged(ModelInfo): a model was loaded, or moved to another device.
      modelLoadFailed(str): a checkpoint could not be loaded; the previous model stays.
      predicted(WindowResult): a live window's answer.
      failed(str): a live or detail prediction failed.
      progressed(int, int): analysis: windows done, windows in all.
      windowsAnalysed(list[WindowResult]): analysis: windows just done.
      finished(AnalysisResult), cancelled(AnalysisResult), analysisFailed(str).
      detailed(WindowResult): a window recomputed with full spatial maps.
      busyChanged(bool): an analysis started or ended.
    """

    modelChanged = Signal(object)
    modelLoadFailed = Signal(str)
    modelLoadStarted = Signal(str)
    predicted = Signal(object)
    failed = Signal(str)
    progressed = Signal(int, int)
    windowsAnalysed = Signal(object)
    finished = Signal(object)
    cancelled = Signal(object)
    analysisFailed = Signal(str)
    detailed = Signal(object)
    busyChanged = Signal(bool)

    _loadRequested = Signal(str, str)
    _deviceRequested = Signal(str)
    _liveRequested = Signal(object)
    _analysisRequested = Signal(object)
    _detailRequested = Signal(object)
    _sensitivityRequested = Signal(str)

    def __init__(
        self,
        frames: FrameProvider | None = None,
        parent: QObject | None = None,
        *,
        device: str | None = None,
        hop: int = DEFAULT_HOP,
    ) -> None:
        super().__init__(parent)
        leave_a_core_free()
        self._cancel = threading.Event()
        self._thread = QThread()
        self._thread.setObjectName("recognition")
        self._worker = RecognitionWorker(frames, self._cancel)
        self._worker.moveToThread(self._thread)
        self._device = device if device in available_devices() else default_device()
        self._hop = max(1, int(hop))
        self._model: ModelInfo | None = None
        self._loading = 0
        self._source: SourceInfo | None = None
        self._generation = 0
        self._live_in_flight = False
        self._shown_while_in_flight: int | None = None
        self._last_live_end: int | None = None
        self._live_enabled = True
        self._live_failed = False
        self._analysing: Path | None = None
        self._after_load: dict[str, Callable[[], object]] = {}
        self._sensitivity = "normal"

        queued = Qt.ConnectionType.QueuedConnection
        self._loadRequested.connect(self._worker.load_model, queued)
        self._deviceRequested.connect(self._worker.set_device, queued)
        self._liveRequested.connect(self._worker.predict_live, queued)
        self._analysisRequested.connect(self._worker.analyse, queued)
        self._detailRequested.connect(self._worker.predict_detail, queued)
        self._sensitivityRequested.connect(self._worker.set_sensitivity, queued)

        self._worker.modelLoaded.connect(self._on_model_loaded, queued)
        self._worker.modelLoadFailed.connect(self._on_model_failed, queued)
        self._worker.liveAnswered.connect(self._on_live_answered, queued)
        self._worker.analysisProgressed.connect(self._on_progressed, queued)
        self._worker.analysisWindows.connect(self._on_windows, queued)
        self._worker.analysisFinished.connect(self._on_finished, queued)
        self._worker.analysisCancelled.connect(self._on_cancelled, queued)
        self._worker.analysisFailed.connect(self._on_analysis_failed, queued)
        self._worker.detailed.connect(self._on_detailed, queued)
        self._worker.detailFailed.connect(self._on_detail_failed, queued)
        self.destroyed.connect(functools.partial(_stop, self._thread, self._cancel))
        self._thread.start()

    # --- state ---------------------------------------------------------------------------

    @property
    def model(self) -> ModelInfo | None:
        return self._model

    @property
    def device(self) -> str:
        return self._device

    @property
    def hop(self) -> int:
        return self._hop

    @property
    def sensitivity(self) -> str:
        return self._sensitivity

    def set_sensitivity(self, level: str) -> None:
        """Where the novelty threshold sits for every later prediction: "low" (fewer windows
        called "not a known action"), "normal" (the model's own threshold) or "high"."""
        if level not in SENSITIVITY_LEVELS:
            raise ValueError(f"unknown sensitivity {level!r}; choose one of "
                             f"{', '.join(SENSITIVITY_LEVELS)}")
        self._sensitivity = level
        self._sensitivityRequested.emit(level)
        if self._model is not None and self._model.can_tell_unknowns:
            self._model = replace(self._model, sensitivity=level)

    def set_hop(self, hop: int) -> None:
        self._hop = max(1, int(hop))

    def analysis_hop(self) -> int:
        """Source frames between the starts of analysed windows: the live hop, or a quarter
        of the model's window when that is finer (the per-frame result's spacing)."""
        model = self._model
        return self._hop if model is None else min(self._hop, default_hop(model.window))

    def is_loading(self) -> bool:
        return self._loading > 0

    def is_analysing(self) -> bool:
        return self._analysing is not None

    def when_loaded(self, key: str, then: Callable[[], object]) -> bool:
        """While the first model is still loading (e.g. just after start-up): call `then`
        once it has loaded, and return True; nothing is called if the load fails. One call
        waits per `key` (asking twice does not run it twice). False when no model is
        loading."""
        if self._model is not None or not self._loading:
            return False
        self._after_load[key] = then
        return True

    def set_live_enabled(self, enabled: bool) -> None:
        """Live predictions on or off (off, e.g., once a whole file has been analysed)."""
        self._live_enabled = enabled
        if enabled:
            self._last_live_end = None

    # --- requests ------------------------------------------------------------------------

    def load_model(self, path: Path | str) -> None:
        """Load a checkpoint in the background: modelChanged or modelLoadFailed follows."""
        self._loading += 1
        self.modelLoadStarted.emit(str(path))
        self._loadRequested.emit(str(path), self._device)

    def set_device(self, device: str) -> None:
        """Run the model on `device` from now on: modelChanged follows when a model is
        loaded (modelLoadFailed if it cannot move, and the model stays where it was)."""
        if device not in available_devices():
            self.modelLoadFailed.emit(f"The device {device!r} is not available on this computer.")
            return
        if device == self._device:
            return
        self._device = device
        if self._model is not None and not self._loading:
            self._loading += 1
            self._deviceRequested.emit(device)

    def set_source(self, info: SourceInfo | None) -> None:
        """A new source is on screen: forget live state; answers about the old one drop."""
        if self._analysing is not None:
            self.cancel_analysis()
        self._generation += 1
        self._source = info
        self._last_live_end = None
        self._live_failed = False

    def frame_shown(self, index: int) -> None:
        """The player showed frame `index`: ask for the newest window if one is due."""
        if self._live_in_flight:
            self._shown_while_in_flight = index
            return
        if (
            not self._live_enabled
            or self._live_failed
            or self._model is None
            or self._loading
            or self._source is None
            or self._analysing is not None
        ):
            return
        last = self._last_live_end
        if last is not None and last - 1 <= index < last - 1 + self._hop:
            return
        self._live_in_flight = True
        self._shown_while_in_flight = None
        self._liveRequested.emit(
            LiveRequest(self._generation, self._source.frame_count, self._source.fps)
        )

    def analyse(self, path: Path | str, *, hop: int | None = None) -> None:
        """Analyse every window of a file: progressed, windowsAnalysed, then finished,
        cancelled or analysisFailed."""
        if self._analysing is not None:
            return
        self._cancel.clear()
        self._analysing = Path(path)
        self.busyChanged.emit(True)
        self._analysisRequested.emit(
            AnalysisRequest(self._generation, Path(path), max(1, hop or self.analysis_hop()))
        )

    def cancel_analysis(self) -> None:
        """Ask the running analysis to stop; it answers with cancelled(what was done)."""
        if self._analysing is not None:
            self._cancel.set()

    def predict_detail(self, path: Path | str, start_frame: int, frame_count: int,
                       fps: float) -> None:
        """Recompute the window of a file starting at `start_frame` with the full spatial
        maps: detailed(WindowResult) or failed(str) follows."""
        self._detailRequested.emit(
            DetailRequest(self._generation, Path(path), start_frame, frame_count, fps)
        )

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Stop the thread (a running analysis is cancelled first); True when it stopped."""
        self._cancel.set()
        if not self._thread.isRunning():
            return True
        self._thread.quit()
        stopped = bool(self._thread.wait(timeout_ms))
        if not stopped:
            log.warning("the recognition thread did not stop within %d ms", timeout_ms)
            _STRANDED.append((self._thread, self._worker))
        return stopped

    # --- answers -------------------------------------------------------------------------

    def _on_model_loaded(self, info: ModelInfo) -> None:
        self._loading = max(0, self._loading - 1)
        self._model = info
        self._last_live_end = None
        self._live_failed = False
        wanted, self._device = self._device, info.device
        self.modelChanged.emit(info)
        if not self._loading:
            waiting, self._after_load = self._after_load, {}
            for then in waiting.values():
                then()
        if wanted != info.device and not self._loading:  # the device changed meanwhile
            self.set_device(wanted)

    def _on_model_failed(self, message: str) -> None:
        self._loading = max(0, self._loading - 1)
        if not self._loading:
            self._after_load.clear()  # the failure is shown; what waited for it is dropped
        if self._model is not None and self._device != self._model.device:
            self._device = self._model.device  # a device change that did not work
        self.modelLoadFailed.emit(message)

    def _on_live_answered(self, reply: LiveReply) -> None:
        self._live_in_flight = False
        shown, self._shown_while_in_flight = self._shown_while_in_flight, None
        if reply.generation != self._generation:
            pass
        elif reply.error:
            # One message, not one per frame: live predictions pause until the model or the
            # source changes.
            self._live_failed = True
            self.failed.emit(reply.error)
            return
        elif reply.result is not None:
            self._last_live_end = reply.result.end_frame
            self.predicted.emit(reply.result)
        if shown is not None:  # frames came while the worker was busy: maybe one is due
            self.frame_shown(shown)

    def _on_progressed(self, generation: int, done: int, total: int) -> None:
        if generation == self._generation:
            self.progressed.emit(done, total)

    def _on_windows(self, generation: int, windows: list[WindowResult]) -> None:
        if generation == self._generation:
            self.windowsAnalysed.emit(windows)

    def _analysis_over(self) -> None:
        self._analysing = None
        self.busyChanged.emit(False)

    def _on_finished(self, generation: int, result: AnalysisResult) -> None:
        self._analysis_over()
        if generation == self._generation:
            self.finished.emit(result)

    def _on_cancelled(self, generation: int, result: AnalysisResult) -> None:
        self._analysis_over()
        if generation == self._generation:
            self.cancelled.emit(result)

    def _on_analysis_failed(self, generation: int, message: str) -> None:
        self._analysis_over()
        if generation == self._generation:
            self.analysisFailed.emit(message)

    def _on_detailed(self, generation: int, result: WindowResult) -> None:
        if generation == self._generation:
            self.detailed.emit(result)

    def _on_detail_failed(self, generation: int, message: str) -> None:
        if generation == self._generation:
            self.failed.emit(message)


_STRANDED: list[tuple[QThread, RecognitionWorker]] = []


def _stop(thread: QThread, cancel: threading.Event, *_: object) -> None:
    cancel.set()
    if not shiboken6.isValid(thread):
        return
    if thread.isRunning():
        thread.quit()
        if not thread.wait(10_000):
            log.warning("a recognition thread was left running")
