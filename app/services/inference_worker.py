"""Recognition off the GUI thread: the model, live windows, whole-file analysis.

`RecognitionWorker` owns the model and lives in its own QThread; every slot runs there, so
loading a checkpoint, a forward pass or a whole-file analysis never blocks the window.
`RecognitionService` is what the window holds: it starts the thread, forwards requests to
the worker through queued signals and re-emits the answers on the GUI thread. It is the one
place where engine errors (STMANetError kinds) become messages for a dialog.

Live mode (a playing file, a camera, a stream): each time a frame is shown the service may
ask for a prediction. It keeps at most one live request in flight, and the worker, when it
gets to the request, takes the NEWEST complete window from the player's frame ring buffer:
spec.window source frames ending at the newest decoded frame, every spec.frame_stride-th
kept. Windows that went by while the network was busy are never queued, so the answer on
screen is always about the picture on screen, however slow the model. A new window is asked
for once `hop` source frames have passed since the last one.

Whole-file analysis runs `Predictor.predict` over every window of the file with progress
(`progressed(done, total)`) and a cooperative cancel flag checked between batches; windows
are handed over as they are done (its `on_window` callback, then `windowsAnalysed`), so the
timeline fills while it runs and keeps what was done when the job is cancelled.

Requests carry a generation number that changes with the source; answers about a previous
source are dropped.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shiboken6
import torch
from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from app.services.results import STAGES, AnalysisResult, ModelInfo, WindowResult
from app.services.video_source import SourceInfo
from stmanet.data.decode import probe, read_frames
from stmanet.data.sampling import window_indices
from stmanet.engine.checkpoint import LoadedModel, load_checkpoint
from stmanet.engine.events import Cancelled
from stmanet.engine.inference import (
    Predictor,
    VideoPrediction,
    WindowPrediction,
    attention_summary,
)
from stmanet.errors import STMANetError

log = logging.getLogger(__name__)

DEFAULT_HOP = 16
"""Source frames between the starts of two live windows, and of two analysed windows."""

TOP_K = 5

FrameProvider = Callable[[int], list[tuple[int, np.ndarray]]]
"""recent_frames(count): the newest decoded (index, RGB frame) pairs, oldest first."""

_TORCH_ERRORS = (RuntimeError, MemoryError, ValueError)
"""What a forward pass can raise besides engine errors: out of memory, a CUDA fault, shapes."""


def leave_a_core_free() -> int:
    """Let torch use one CPU core less than the machine has (at least one): the decoder and
    the window need a core of their own to keep the picture and the overlay on time, and a
    torch thread pool that competes with them for every core slows both down (its threads
    wait on each other whenever one is descheduled). An explicit OMP_NUM_THREADS wins.
    Returns the number of threads torch now uses."""
    if "OMP_NUM_THREADS" not in os.environ:
        wanted = max(1, (os.cpu_count() or 2) - 1)
        if torch.get_num_threads() > wanted:
            torch.set_num_threads(wanted)
    return torch.get_num_threads()


@contextlib.contextmanager
def every_core() -> Iterator[None]:
    """All CPU cores for a batch job (whole-file analysis), then back to what it was: on two
    cores this takes stmanet_r50 from 2.6x to 4.4x real time (benchmarks/bench_app.py)."""
    before = torch.get_num_threads()
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(os.cpu_count() or before)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def available_devices() -> list[str]:
    """Devices recognition can run on: "cpu", and "cuda" when a CUDA GPU is usable."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    return devices


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def device_name(device: str) -> str:
    """What the user reads: "CPU" or "CUDA: <GPU name>"."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"CUDA: {torch.cuda.get_device_name(torch.device(device))}"
    return "CPU" if device == "cpu" else device.upper()


def describe_architecture(loaded: LoadedModel) -> str:
    config = loaded.metadata.model
    width = "" if config.width == 1 else f" at width {config.width:g}"
    if config.is_baseline:
        return f"3D ResNet-{config.depth}{width}"
    parts = [name for name, on in (("TDA", config.tda), ("SDA", config.sda), ("MF", config.mf))
             if on]
    return f"ST-MANet on a 3D ResNet-{config.depth}{width} ({' + '.join(parts)})"


def model_info(loaded: LoadedModel, device: str) -> ModelInfo:
    spec = loaded.metadata.input
    return ModelInfo(
        path=Path(loaded.path),
        architecture=describe_architecture(loaded),
        class_names=tuple(loaded.metadata.class_names),
        frames=spec.frames,
        frame_stride=spec.frame_stride,
        size=spec.size,
        parameters=sum(p.numel() for p in loaded.model.parameters()),
        device=device,
        device_name=device_name(device),
        provenance=dict(loaded.metadata.provenance),
        report=loaded.metadata.report,
        variant=str(loaded.metadata.provenance.get("model_name", "")),
        mean=tuple(spec.mean),
        std=tuple(spec.std),
    )


# --------------------------------------------------------------------------- live windows


@dataclass(frozen=True)
class LiveWindow:
    """The frames of the newest complete window in the ring buffer."""

    start: int
    end: int  # exclusive
    indices: tuple[int, ...]  # the source frame each clip frame stands for
    frames: list[np.ndarray]


def newest_window(
    frames: Sequence[tuple[int, np.ndarray]],
    window: int,
    stride: int,
    frame_count: int | None = None,
) -> LiveWindow | None:
    """The newest complete window among buffered (index, frame) pairs, or None.

    A window ends at the newest buffered frame and spans `window` source frames; it is
    complete when the buffer reaches back to its first frame. Where playback skipped frames,
    the nearest earlier buffered frame stands in. A file shorter than one window (all of it
    buffered, from frame 0) gives one window of its frames looped, as the engine does.
    """
    if not frames:
        return None
    numbers = [index for index, _ in frames]
    end = numbers[-1] + 1
    start = end - window
    if start >= 0 and numbers[0] <= start:
        targets = list(range(start, end, stride))
    elif frame_count is not None and frame_count < window and end >= frame_count and (
        numbers[0] == 0
    ):
        start, end = 0, frame_count
        targets = [k % frame_count for k in range(0, window, stride)]
    else:
        return None
    picked = [max(0, bisect.bisect_right(numbers, t) - 1) for t in targets]
    return LiveWindow(
        start, end, tuple(numbers[p] for p in picked), [frames[p][1] for p in picked]
    )


def _stack_frames(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Frames of one clip as (T, H, W, 3); a frame of another size (a stream that changed
    resolution) is resized to the first one's."""
    import cv2

    height, width = frames[0].shape[:2]
    return np.stack([
        f if f.shape[:2] == (height, width)
        else cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA)
        for f in frames
    ])  # fmt: skip


# ------------------------------------------------------------------------------ requests


@dataclass(frozen=True)
class _LiveRequest:
    generation: int
    frame_count: int | None
    fps: float


@dataclass(frozen=True)
class _LiveReply:
    generation: int
    result: WindowResult | None  # None: no complete window yet
    error: str = ""


@dataclass(frozen=True)
class _AnalysisRequest:
    generation: int
    path: Path
    hop: int


@dataclass(frozen=True)
class _DetailRequest:
    generation: int
    path: Path
    start_frame: int
    frame_count: int
    fps: float


class RecognitionWorker(QObject):
    """Owns the model; every slot runs on the recognition thread."""

    modelLoaded = Signal(object)  # ModelInfo
    modelLoadFailed = Signal(str)
    liveAnswered = Signal(object)  # _LiveReply
    analysisProgressed = Signal(int, int, int)  # generation, done, total
    analysisWindows = Signal(int, object)  # generation, list[WindowResult]
    analysisFinished = Signal(int, object)  # generation, AnalysisResult
    analysisCancelled = Signal(int, object)  # generation, AnalysisResult (what was done)
    analysisFailed = Signal(int, str)
    detailed = Signal(int, object)  # generation, WindowResult with full maps
    detailFailed = Signal(int, str)

    def __init__(self, frames: FrameProvider | None, cancel: threading.Event) -> None:
        super().__init__()
        self._frames = frames
        self._cancel = cancel
        self._loaded: LoadedModel | None = None
        self._predictor: Predictor | None = None
        self._device = "cpu"
        self._class_index: dict[str, int] = {}

    # --- the model -----------------------------------------------------------------------

    @Slot(str, str)
    def load_model(self, path: str, device: str) -> None:
        started = time.perf_counter()
        try:
            loaded = load_checkpoint(Path(path), device=device)
            predictor = Predictor(loaded, device, top_k=TOP_K, attention=True)
        except STMANetError as exc:
            self.modelLoadFailed.emit(str(exc))
            return
        except _TORCH_ERRORS as exc:  # e.g. out of GPU memory
            log.exception("loading %s on %s failed", path, device)
            self.modelLoadFailed.emit(f"{path}: the model could not be put on {device}: {exc}")
            return
        self._install(loaded, predictor, device)
        log.info("loaded %s on %s in %.0f ms", path, device, (time.perf_counter() - started) * 1e3)

    @Slot(str)
    def set_device(self, device: str) -> None:
        if self._loaded is None:
            self._device = device
            return
        try:
            predictor = Predictor(self._loaded, device, top_k=TOP_K, attention=True)
        except _TORCH_ERRORS as exc:
            log.exception("moving the model to %s failed", device)
            self.modelLoadFailed.emit(f"The model could not be moved to {device}: {exc}")
            try:  # back where it was
                self._predictor = Predictor(self._loaded, self._device, top_k=TOP_K,
                                            attention=True)
            except _TORCH_ERRORS:
                log.exception("the model could not go back to %s either", self._device)
            return
        self._install(self._loaded, predictor, device)

    def _install(self, loaded: LoadedModel, predictor: Predictor, device: str) -> None:
        self._loaded, self._predictor, self._device = loaded, predictor, device
        self._class_index = {name: i for i, name in enumerate(loaded.metadata.class_names)}
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        self.modelLoaded.emit(model_info(loaded, device))
        self._warm_up(predictor)

    @staticmethod
    def _warm_up(predictor: Predictor) -> None:
        """One forward pass on a blank clip: the backends build their kernels for the clip's
        shape now (seconds on some CPUs) instead of during the first live prediction."""
        spec = predictor.spec
        started = time.perf_counter()
        try:
            predictor.run_batch(torch.zeros(1, 3, spec.frames, spec.size, spec.size))
        except _TORCH_ERRORS:
            log.warning("the warm-up pass failed", exc_info=True)
            return
        log.debug("warm-up pass: %.0f ms", (time.perf_counter() - started) * 1e3)

    # --- live ----------------------------------------------------------------------------

    @Slot(object)
    def predict_live(self, request: _LiveRequest) -> None:
        predictor = self._predictor
        if predictor is None or self._frames is None:
            self.liveAnswered.emit(_LiveReply(request.generation, None))
            return
        started = time.perf_counter()
        spec = predictor.spec
        window = newest_window(
            self._frames(spec.window), spec.window, spec.frame_stride, request.frame_count
        )
        if window is None:
            self.liveAnswered.emit(_LiveReply(request.generation, None))
            return
        try:
            clip = predictor.preprocess(_stack_frames(window.frames))
            result = self._run(clip, window.start, window.end, request.fps, started, "live")
        except (STMANetError, *_TORCH_ERRORS) as exc:
            log.exception("live prediction failed")
            self.liveAnswered.emit(_LiveReply(request.generation, None, _error_text(exc)))
            return
        result.frame_indices = window.indices
        self.liveAnswered.emit(_LiveReply(request.generation, result))

    def _run(
        self, clip: torch.Tensor, start: int, end: int, fps: float, started: float, origin: str
    ) -> WindowResult:
        """One clip (3, T, S, S) through the network, with the full spatial maps kept."""
        predictor = self._predictor
        assert predictor is not None
        scores, output = predictor.run_batch(clip[None])
        spatial, temporal = attention_summary(output)
        rows = [
            None if a is None else a[0].detach().float().cpu().numpy()
            for a in output.spatial_attention
        ]
        probabilities = scores[0].numpy()
        order = np.argsort(-probabilities, kind="stable")[: predictor.top_k]
        names = predictor.class_names
        return WindowResult(
            start_frame=start,
            end_frame=end,
            labels=[names[i] for i in order],
            scores=[float(probabilities[i]) for i in order],
            label_indices=[int(i) for i in order],
            fps=fps,
            spatial=list(spatial[0]),
            temporal=list(temporal[0]),
            latency_ms=(time.perf_counter() - started) * 1e3,
            all_scores=probabilities.astype(np.float32),
            spatial_rows=rows,
            origin=origin,
        )

    # --- one window in detail ------------------------------------------------------------

    @Slot(object)
    def predict_detail(self, request: _DetailRequest) -> None:
        """Recompute one window of a file with the full spatial maps (for a click on the
        picture of an analysed file)."""
        predictor = self._predictor
        if predictor is None:
            self.detailFailed.emit(request.generation, "No model is loaded.")
            return
        started = time.perf_counter()
        spec = predictor.spec
        indices = window_indices([request.start_frame], request.frame_count, spec.window,
                                 spec.frame_stride)[0]
        try:
            frames = read_frames(request.path, indices)
            clip = predictor.preprocess(frames)
            end = min(request.start_frame + spec.window, request.frame_count)
            result = self._run(clip, request.start_frame, end, request.fps, started, "detail")
        except (STMANetError, *_TORCH_ERRORS) as exc:
            log.exception("detailed prediction failed")
            self.detailFailed.emit(request.generation, _error_text(exc))
            return
        result.frame_indices = tuple(int(i) for i in indices)
        self.detailed.emit(request.generation, result)

    # --- whole files ---------------------------------------------------------------------

    @Slot(object)
    def analyse(self, request: _AnalysisRequest) -> None:
        loaded = self._loaded
        generation = request.generation
        if loaded is None:
            self.analysisFailed.emit(generation, "Open a model before analysing a video.")
            return

        done: list[WindowResult] = []
        fresh: list[WindowResult] = []
        fps_box = [25.0]
        window_length = loaded.metadata.input.window

        def on_window(window: WindowPrediction, all_scores: np.ndarray) -> None:
            result = self._from_engine(window, fps_box[0], np.asarray(all_scores, np.float32))
            done.append(result)
            fresh.append(result)

        def on_progress(count: int, total: int) -> None:
            if fresh:
                self.analysisWindows.emit(generation, list(fresh))
                fresh.clear()
            self.analysisProgressed.emit(generation, count, total)

        def outcome(complete: bool, prediction: VideoPrediction | None) -> AnalysisResult:
            stacked = [w.all_scores for w in done if w.all_scores is not None]
            mean = (
                prediction.scores if prediction is not None
                else np.mean(stacked, axis=0) if stacked else None
            )  # fmt: skip
            return AnalysisResult(
                path=request.path,
                fps=fps_box[0],
                frame_count=frame_count,
                hop=request.hop,
                window=window_length,
                class_names=list(loaded.metadata.class_names),
                windows=list(done),
                complete=complete,
                scores=mean,
                engine_result=prediction,
            )

        frame_count = 0
        started = time.perf_counter()
        try:
            info = probe(request.path)
            fps_box[0], frame_count = info.fps, info.frame_count
            predictor = Predictor(
                loaded, self._device, top_k=TOP_K, attention=True,
                batch_size=8 if self._device.startswith("cuda") else 1,
            )  # fmt: skip
            with every_core():
                prediction = predictor.predict(
                    request.path, hop=request.hop, on_progress=on_progress,
                    should_cancel=self._cancel.is_set, on_window=on_window,
                )  # fmt: skip
        except Cancelled:
            if fresh:
                self.analysisWindows.emit(generation, list(fresh))
            log.info("analysis of %s cancelled after %d windows", request.path.name, len(done))
            self.analysisCancelled.emit(generation, outcome(False, None))
            return
        except (STMANetError, *_TORCH_ERRORS) as exc:
            log.exception("analysis of %s failed", request.path)
            self.analysisFailed.emit(generation, _error_text(exc))
            return
        log.info("analysed %s: %d windows in %.1f s", request.path.name,
                 len(prediction.windows), time.perf_counter() - started)
        self.analysisFinished.emit(generation, outcome(True, prediction))

    def _from_engine(
        self, window: WindowPrediction, fps: float, all_scores: np.ndarray | None
    ) -> WindowResult:
        return WindowResult(
            start_frame=window.start_frame,
            end_frame=window.end_frame,
            labels=list(window.labels),
            scores=list(window.scores),
            label_indices=[self._class_index.get(name, -1) for name in window.labels],
            fps=fps,
            spatial=list(window.spatial_attention or []),
            temporal=list(window.temporal_attention or []),
            all_scores=all_scores,
            origin="analysis",
        )


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, STMANetError):
        return str(exc)
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return ("The computer ran out of memory running the model. Choose a smaller model, "
                "or switch the device to the CPU.")
    return f"The model failed on this video: {type(exc).__name__}: {exc}"


# ------------------------------------------------------------------------------ service


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

        queued = Qt.ConnectionType.QueuedConnection
        self._loadRequested.connect(self._worker.load_model, queued)
        self._deviceRequested.connect(self._worker.set_device, queued)
        self._liveRequested.connect(self._worker.predict_live, queued)
        self._analysisRequested.connect(self._worker.analyse, queued)
        self._detailRequested.connect(self._worker.predict_detail, queued)

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

    def set_hop(self, hop: int) -> None:
        self._hop = max(1, int(hop))

    def is_loading(self) -> bool:
        return self._loading > 0

    def is_analysing(self) -> bool:
        return self._analysing is not None

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
            _LiveRequest(self._generation, self._source.frame_count, self._source.fps)
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
            _AnalysisRequest(self._generation, Path(path), max(1, hop or self._hop))
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
            _DetailRequest(self._generation, Path(path), start_frame, frame_count, fps)
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
        if wanted != info.device and not self._loading:  # the device changed meanwhile
            self.set_device(wanted)

    def _on_model_failed(self, message: str) -> None:
        self._loading = max(0, self._loading - 1)
        if self._model is not None and self._device != self._model.device:
            self._device = self._model.device  # a device change that did not work
        self.modelLoadFailed.emit(message)

    def _on_live_answered(self, reply: _LiveReply) -> None:
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


__all__ = [
    "DEFAULT_HOP",
    "STAGES",
    "AnalysisResult",
    "LiveWindow",
    "ModelInfo",
    "RecognitionService",
    "RecognitionWorker",
    "WindowResult",
    "available_devices",
    "default_device",
    "device_name",
    "newest_window",
]
