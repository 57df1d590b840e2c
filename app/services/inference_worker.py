"""Recognition off the GUI thread: the worker that owns the model.

`RecognitionWorker` owns the model and lives in its own QThread (app/services/
recognition_service.py starts it and talks to it); every slot runs there, so loading a
checkpoint, a forward pass or a whole-file analysis never blocks the window. Requests and
answers are the small frozen dataclasses below; each carries the generation number of the
source it is about.

Live windows: when the worker gets to a live request, it takes the NEWEST complete window
from the player's frame ring buffer (`newest_window`): spec.window source frames ending at
the newest decoded frame, every spec.frame_stride-th kept. Windows that went by while the
network was busy are never queued, so the answer on screen is always about the picture on
screen, however slow the model.

Whole-file analysis runs `Predictor.predict_frames` over every window of the file with
progress and a cooperative cancel flag checked between batches; windows are handed over as
they are done (`on_window`, then `analysisWindows`), so the timeline fills while it runs and
keeps what was done when the job is cancelled. The windows lie inside the video, the last one
ending at its last frame (stmanet.data.sampling.window_starts; none wraps to the start). When
the job ends, the per-frame result is made from every window's scores here, off the GUI
thread (stmanet.engine.segmentation: the action at every frame, smoothed, and its segments),
of the whole file or of the frames analysed before a cancel, and each segment's repetitions
are counted from the frames' embeddings kept on the way (app/services/counting.py).
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal, Slot

from app.services.counting import FrameEmbeddings, count_segments
from app.services.devices import device_name, every_core
from app.services.results import AnalysisResult, ModelInfo, WindowResult
from stmanet.data.decode import iter_frames, probe, read_frames
from stmanet.data.sampling import window_indices
from stmanet.engine.checkpoint import LoadedModel, load_checkpoint
from stmanet.engine.inference import (
    Predictor,
    VideoPrediction,
    WindowPrediction,
    attention_summary,
)
from stmanet.engine.novelty import NoveltyTrail
from stmanet.engine.segmentation import FrameTimeline, frame_timeline, timeline_from_windows
from stmanet.errors import Cancelled, STMANetError

log = logging.getLogger(__name__)

TOP_K = 5

FrameProvider = Callable[[int], list[tuple[int, np.ndarray]]]
"""recent_frames(count): the newest decoded (index, RGB frame) pairs, oldest first."""

_TORCH_ERRORS = (RuntimeError, MemoryError, ValueError)
"""What a forward pass can raise besides engine errors: out of memory, a CUDA fault, shapes."""


def describe_architecture(loaded: LoadedModel) -> str:
    config = loaded.metadata.model
    width = "" if config.width == 1 else f" at width {config.width:g}"
    if config.is_baseline:
        return f"3D ResNet-{config.depth}{width}"
    parts = [name for name, on in (("TDA", config.tda), ("SDA", config.sda), ("MF", config.mf))
             if on]
    return f"ST-MANet on a 3D ResNet-{config.depth}{width} ({' + '.join(parts)})"


def model_info(loaded: LoadedModel, device: str,
               predictor: Predictor | None = None, sensitivity: str = "normal") -> ModelInfo:
    spec = loaded.metadata.input
    about = predictor.model_info() if predictor is not None else {}
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
        can_tell_unknowns=bool(about.get("can_tell_unknowns", False)),
        attention_trained=bool(about.get("attention_trained", True)),
        sensitivity=sensitivity if about.get("can_tell_unknowns") else "normal",
        notes=tuple(str(n) for n in about.get("notes", ())),
        open_set=about.get("open_set"),
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
    buffered, from frame 0) gives one window whose missing frames repeat its last frame, as
    the engine's windows do (never its first frames again).
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
        targets = [min(k, frame_count - 1) for k in range(0, window, stride)]
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
class LiveRequest:
    generation: int
    frame_count: int | None
    fps: float


@dataclass(frozen=True)
class LiveReply:
    generation: int
    result: WindowResult | None  # None: no complete window yet
    error: str = ""


@dataclass(frozen=True)
class AnalysisRequest:
    generation: int
    path: Path
    hop: int


@dataclass(frozen=True)
class DetailRequest:
    generation: int
    path: Path
    start_frame: int
    frame_count: int
    fps: float


class RecognitionWorker(QObject):
    """Owns the model; every slot runs on the recognition thread."""

    modelLoaded = Signal(object)  # ModelInfo
    modelLoadFailed = Signal(str)
    liveAnswered = Signal(object)  # LiveReply
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
        self._sensitivity = "normal"
        # live windows of one source judged together (Predictor.new_trail): (generation, trail)
        self._live_trail: tuple[int, NoveltyTrail | None] | None = None

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

    @Slot(str)
    def set_sensitivity(self, level: str) -> None:
        """Where the novelty threshold sits ("low", "normal", "high"); kept for the next
        model too. A model without open-set statistics ignores it."""
        self._sensitivity = level
        predictor = self._predictor
        if predictor is not None:
            self._apply_sensitivity(predictor)

    def _apply_sensitivity(self, predictor: Predictor) -> None:
        if not predictor.can_tell_unknowns:
            return
        try:
            predictor.set_sensitivity(self._sensitivity)
        except STMANetError:
            log.warning("sensitivity %r refused; the model's own threshold stays",
                        self._sensitivity, exc_info=True)

    def _install(self, loaded: LoadedModel, predictor: Predictor, device: str) -> None:
        self._loaded, self._predictor, self._device = loaded, predictor, device
        self._live_trail = None
        self._class_index = {name: i for i, name in enumerate(loaded.metadata.class_names)}
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        self._apply_sensitivity(predictor)
        self.modelLoaded.emit(model_info(loaded, device, predictor, self._sensitivity))
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
    def predict_live(self, request: LiveRequest) -> None:
        predictor = self._predictor
        if predictor is None or self._frames is None:
            self.liveAnswered.emit(LiveReply(request.generation, None))
            return
        started = time.perf_counter()
        spec = predictor.spec
        window = newest_window(
            self._frames(spec.window), spec.window, spec.frame_stride, request.frame_count
        )
        if window is None:
            self.liveAnswered.emit(LiveReply(request.generation, None))
            return
        if self._live_trail is None or self._live_trail[0] != request.generation:
            self._live_trail = (request.generation, predictor.new_trail())
        try:
            clip = predictor.preprocess(_stack_frames(window.frames))
            result = self._run(clip, window.start, window.end, request.fps, started, "live",
                               trail=self._live_trail[1])
        except (STMANetError, *_TORCH_ERRORS) as exc:
            log.exception("live prediction failed")
            self.liveAnswered.emit(LiveReply(request.generation, None, _error_text(exc)))
            return
        result.frame_indices = window.indices
        self.liveAnswered.emit(LiveReply(request.generation, result))

    def _run(
        self, clip: torch.Tensor, start: int, end: int, fps: float, started: float, origin: str,
        trail: NoveltyTrail | None = None,
    ) -> WindowResult:
        """One clip (3, T, S, S) through the network, with the full spatial maps kept; with a
        `trail`, judged with the windows before it (Predictor.assess)."""
        predictor = self._predictor
        assert predictor is not None
        scores, output = predictor.run_batch(clip[None])
        spatial, temporal = attention_summary(output)
        rows = [
            None if a is None else a[0].detach().float().cpu().numpy()
            for a in output.spatial_attention
        ]
        probabilities = scores[0].numpy()
        novelty, known = predictor.assess(output, starts=[start], trail=trail)
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
            known=None if known is None else bool(known[0]),
            novelty=None if novelty is None else float(novelty[0]),
        )

    # --- one window in detail ------------------------------------------------------------

    @Slot(object)
    def predict_detail(self, request: DetailRequest) -> None:
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
    def analyse(self, request: AnalysisRequest) -> None:
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
            embeddings = tap.array()
            timeline = self._per_frame(prediction, done, fps_box[0], loaded, embeddings)
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
                timeline=timeline,
                reps=count_segments(embeddings, fps_box[0], timeline, tap.seconds,
                                    None if timeline is None else timeline.unknown),
            )

        frame_count = 0
        tap = FrameEmbeddings()
        started = time.perf_counter()
        try:
            info = probe(request.path)
            fps_box[0], frame_count = info.fps, info.frame_count
            predictor = Predictor(
                loaded, self._device, top_k=TOP_K, attention=True,
                novelty_threshold=(None if self._predictor is None
                                   else self._predictor.novelty_threshold),
            )  # fmt: skip
            frames = tap.tap(iter_frames(request.path))  # embedded as they go by
            with every_core():
                prediction = predictor.predict_frames(
                    frames, frame_count, info.fps, path=request.path, hop=request.hop,
                    on_progress=on_progress, should_cancel=self._cancel.is_set,
                    on_window=on_window)
            all(True for _ in frames)  # the frames after the last window's (none, as a rule)
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

    @staticmethod
    def _per_frame(prediction: VideoPrediction | None, done: list[WindowResult], fps: float,
                   loaded: LoadedModel, embeddings: np.ndarray | None = None
                   ) -> FrameTimeline | None:
        """The per-frame result of a finished analysis (`prediction`), or of the windows
        `done` before a cancel (up to the last one's end); None without windows. The frames'
        `embeddings` (the counter's) place its changes of action."""
        if embeddings is not None and len(embeddings) == 0:
            embeddings = None
        try:
            if prediction is not None:
                return (frame_timeline(prediction, embeddings=embeddings)
                        if prediction.windows else None)
            scored = [w for w in done if w.all_scores is not None]
            if not scored:
                return None
            return timeline_from_windows(
                [w.start_frame for w in scored], [w.end_frame for w in scored],
                np.stack([w.all_scores for w in scored]), loaded.metadata.class_names, fps,
                embeddings=embeddings, known=[w.known for w in scored])
        except ValueError:
            log.exception("no per-frame result could be made")
            return None

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
            known=window.known,
            novelty=window.novelty,
        )


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, STMANetError):
        return str(exc)
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return ("The computer ran out of memory running the model. Choose a smaller model, "
                "or switch the device to the CPU.")
    return f"The model failed on this video: {type(exc).__name__}: {exc}"
