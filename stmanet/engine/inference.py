"""Running a trained model: per-window predictions on a video, and the test protocol.

`Predictor` streams a video once, cuts it into windows of `spec.window` source frames (every
`spec.frame_stride`-th kept, centre crop, normalised) every `hop` frames, runs them through
the network in batches and returns one `WindowPrediction` per window, plus the video-level
scores: the mean of the windows' softmax scores (the paper's test protocol).

`evaluate` (engine/evaluation.py) applies the test protocol to every video of a ClipIndex.

A model with open-set statistics (engine/openset.py) also gives every window a `novelty`
(higher: less like its training footage) and `known` (novelty at or under the threshold:
the model's own, or one set with `Predictor.set_novelty_threshold` / `set_sensitivity`).
Without them both are None: the model cannot tell footage of its actions from anything else.

Statistics fitted with a trail (`OpenSetStats.trail`, files of the version before) judge
each window of a video on its novelty averaged with that of the windows of the same top class
that began up to one window length before it; the novelty a window carries is then that
mean. Statistics fitted now judge each window alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from stmanet.config import InputSpec
from stmanet.engine.checkpoint import LoadedModel
from stmanet.engine.novelty import NoveltyTrail
from stmanet.errors import Cancelled, ConfigError, VideoError
from stmanet.models import STMANetOutput
from stmanet.models.prepare import prepare_for_inference

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]  # (done, total)
CancelCheck = Callable[[], bool]
WindowCallback = Callable[["WindowPrediction", np.ndarray], None]  # (window, scores (K,))


def _novelty_value(value: float | None) -> float | None:
    """A novelty as JSON holds it: 6 significant digits; None for none (or NaN)."""
    if value is None or not np.isfinite(value):
        return None
    return float(f"{value:.6g}")


@dataclass
class WindowPrediction:
    """The network's answer for one window of a video.

    end_frame is exclusive; times are in seconds from the start of the video. Attention maps
    (when asked for) hold stages 2-5: spatial (H_i, W_i), the mean over query rows of A_s;
    temporal (T_i,), the mean over rows of A_t; None where the model has that module off.
    `novelty` and `known` (False: "not a known action", whatever `labels` say) are None for
    a model without open-set statistics.
    """

    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    labels: list[str]  # top-k, best first
    scores: list[float]  # softmax scores of `labels`
    spatial_attention: list[np.ndarray | None] | None = None
    temporal_attention: list[np.ndarray | None] | None = None
    novelty: float | None = None
    known: bool | None = None

    @property
    def label(self) -> str:
        return self.labels[0]

    @property
    def score(self) -> float:
        return self.scores[0]

    def to_dict(self, *, attention: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "start_frame": self.start_frame, "end_frame": self.end_frame,
            "start_s": round(self.start_s, 4), "end_s": round(self.end_s, 4),
            "labels": list(self.labels), "scores": [round(s, 6) for s in self.scores],
            "known": self.known, "novelty": _novelty_value(self.novelty),
        }
        if attention:
            data["spatial_attention"] = _arrays_to_lists(self.spatial_attention)
            data["temporal_attention"] = _arrays_to_lists(self.temporal_attention)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowPrediction:
        return cls(int(data["start_frame"]), int(data["end_frame"]), float(data["start_s"]),
                   float(data["end_s"]), [str(x) for x in data["labels"]],
                   [float(x) for x in data["scores"]],
                   _lists_to_arrays(data.get("spatial_attention")),
                   _lists_to_arrays(data.get("temporal_attention")),
                   None if data.get("novelty") is None else float(data["novelty"]),
                   None if data.get("known") is None else bool(data["known"]))


def _arrays_to_lists(maps: list[np.ndarray | None] | None) -> list[Any] | None:
    if maps is None:
        return None
    return [None if m is None else np.round(m, 6).tolist() for m in maps]


def _lists_to_arrays(maps: list[Any] | None) -> list[np.ndarray | None] | None:
    if maps is None:
        return None
    return [None if m is None else np.asarray(m, dtype=np.float32) for m in maps]


@dataclass
class VideoPrediction:
    """All windows of one video, and the video-level answer (mean of window scores)."""

    path: Path
    fps: float
    num_frames: int
    class_names: list[str]
    windows: list[WindowPrediction]
    scores: np.ndarray  # (K,) mean softmax over windows
    hop: int = 0
    window: int = 0
    # (len(windows), K): every window's softmax scores over all classes, in class_names order
    window_scores: np.ndarray | None = None

    def top(self, k: int = 5) -> list[tuple[str, float]]:
        order = np.argsort(-self.scores, kind="stable")[:k]
        return [(self.class_names[i], float(self.scores[i])) for i in order]

    @property
    def label(self) -> str:
        return self.top(1)[0][0]

    @property
    def unknown_windows(self) -> int | None:
        """Windows called "not a known action"; None when the model cannot tell."""
        if any(w.known is None for w in self.windows):
            return None
        return sum(1 for w in self.windows if not w.known)

    def to_dict(self, *, attention: bool = False) -> dict[str, Any]:
        return {
            "video": str(self.path), "fps": self.fps, "num_frames": self.num_frames,
            "window": self.window, "hop": self.hop,
            "top5": [{"label": name, "score": round(score, 6)} for name, score in self.top(5)],
            "unknown_windows": self.unknown_windows,
            "windows": [w.to_dict(attention=attention) for w in self.windows],
        }


def attention_summary(output: STMANetOutput) -> tuple[list[list[np.ndarray | None]],
                                                      list[list[np.ndarray | None]]]:
    """Per clip of a batch: spatial maps (H_i, W_i) and temporal curves (T_i,) for stages 2-5."""
    batch = output.logits.shape[0]
    spatial: list[list[np.ndarray | None]] = [[] for _ in range(batch)]
    temporal: list[list[np.ndarray | None]] = [[] for _ in range(batch)]
    for a_s, a_t, (_, h, w) in zip(output.spatial_attention, output.temporal_attention,
                                   output.stage_sizes, strict=True):
        s_maps = None if a_s is None else a_s.float().mean(dim=1).reshape(batch, h, w).cpu()
        t_maps = None if a_t is None else a_t.float().mean(dim=1).cpu()  # (B, T_i)
        for b in range(batch):
            spatial[b].append(None if s_maps is None else s_maps[b].numpy())
            temporal[b].append(None if t_maps is None else t_maps[b].numpy())
    return spatial, temporal


def _window_plan(num_frames: int, spec: InputSpec, hop: int) -> tuple[np.ndarray, np.ndarray]:
    from stmanet.data.sampling import window_indices, window_starts

    starts = window_starts(num_frames, spec.window, hop)
    return starts, window_indices(starts, num_frames, spec.window, spec.frame_stride)


def default_batch_size(device: str | torch.device) -> int:
    """Windows per forward pass where none is asked for: 1 on a CPU, where a batch costs more
    per clip than one clip at a time (oneDNN's one-clip kernels; benchmarks/bench_forward.py
    --batch 4: 1.3x per clip), 8 on a GPU."""
    return 1 if torch.device(device).type == "cpu" else 8


def inference_network(loaded: LoadedModel, device: str | torch.device, *,
                      backend: str = "torch", ir: Path | str | None = None,
                      batch_size: int = 1
                      ) -> tuple[Callable[[Tensor], STMANetOutput], str, str]:
    """What runs the network for inference, its backend and precision: the prepared PyTorch
    model (norms folded and, on a CPU, the faster forms of stmanet.models.fast: the same
    numbers; loaded.model itself is left as it was), or with backend "openvino" (or an `ir`
    file) OpenVINO on the CPU (engine/openvino_backend.py)."""
    if ir is not None:
        backend = "openvino"
    if backend == "torch":
        return prepare_for_inference(loaded.model, device), "torch", "fp32"
    if backend != "openvino":
        raise ConfigError(f"no backend {backend!r}: torch or openvino")
    if torch.device(device).type != "cpu":
        raise ConfigError(f"the OpenVINO backend runs on the CPU, not on {device}: "
                          "add --device cpu")
    from stmanet.engine.openvino_backend import OpenVINONetwork

    network = OpenVINONetwork(loaded, ir=ir, batch_size=batch_size)
    return network, "openvino", network.precision


class Predictor:
    """Per-window predictions of a loaded model on videos.

    hop: source frames between the starts of consecutive windows (default: the window
    length, i.e. consecutive windows as in the test protocol). Windows never reach past the
    video's end: when frames are left after the last window that fits, one more window ends
    at the video's last frame; a video shorter than one window gives one window whose
    missing frames repeat its last frame (stmanet.data.sampling.window_starts).

    With open-set statistics in the model (`loaded.openset`) every window gets a novelty and
    a known/unknown verdict at `novelty_threshold` (default: the model's own threshold).
    `attention_status` says whether the attention maps mean anything ("untrained": the
    model's attention modules never learnt, as in a fresh or Kinetics-imported model).

    backend: "torch" (the prepared PyTorch model) or "openvino" (CPU only; engine/
    openvino_backend.py); `ir`: an OpenVINO model file made by `stmanet export --format
    openvino` from this model file (e.g. INT8), which implies the OpenVINO backend.
    """

    def __init__(self, loaded: LoadedModel, device: str | torch.device = "cpu", *,
                 batch_size: int | None = None, top_k: int = 5, attention: bool = False,
                 novelty_threshold: float | None = None, backend: str = "torch",
                 ir: Path | str | None = None) -> None:
        from stmanet.engine.openset import attention_status

        self.device = torch.device(device)
        self.batch_size = max(1, batch_size or default_batch_size(device))
        self.model, self.backend, self.precision = inference_network(
            loaded, device, backend=backend, ir=ir, batch_size=self.batch_size)
        self.spec = loaded.metadata.input
        self.class_names = list(loaded.metadata.class_names)
        self.top_k = min(top_k, len(self.class_names))
        self.attention = attention
        self.path = loaded.path
        self.openset = loaded.openset
        self.attention_status = attention_status(loaded.model)
        self.novelty_threshold: float | None = None
        self.set_novelty_threshold(novelty_threshold)

    # ------------------------------------------------------------------ open set
    @property
    def can_tell_unknowns(self) -> bool:
        """Whether the model carries open-set statistics (else novelty and known are None)."""
        return self.openset is not None

    def set_novelty_threshold(self, value: float | None) -> None:
        """Windows with a novelty above `value` are "not a known action"; None: the model's
        own threshold. ConfigError for a model that cannot tell unknowns or a bad value."""
        from stmanet.engine.openset import checked_threshold

        self.novelty_threshold = checked_threshold(self.openset, self.path, value)

    def set_sensitivity(self, level: str) -> None:
        """low, normal or high: the threshold that keeps 99%, 95% or 90% of new footage of
        the model's actions known (engine/openset.py, SENSITIVITIES)."""
        from stmanet.engine.openset import checked_threshold

        self.novelty_threshold = checked_threshold(self.openset, self.path, level)

    def assess(self, output: STMANetOutput, *, starts: Sequence[int] | None = None,
               trail: NoveltyTrail | None = None,
               ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Novelty (B,) and known (B,) of a forward pass's clips; (None, None) when the model
        cannot tell unknowns. With a `trail` (`new_trail`) and the clips' first frames
        (`starts`, in order), each clip is judged on its novelty averaged with the windows'
        before it in the trail of the same top class, and that mean is the novelty answered."""
        if self.openset is None or self.novelty_threshold is None:
            return None, None
        novelty = self.openset.novelty(output).numpy()
        if trail is not None and starts is not None:
            labels = output.logits.argmax(dim=1).tolist()
            novelty = np.array([trail.add(int(s), float(v), k)
                                for s, v, k in zip(starts, novelty, labels, strict=True)])
        return novelty, self.openset.is_known(novelty, self.novelty_threshold)

    def new_trail(self) -> NoveltyTrail | None:
        """What judges the windows of one video together (`OpenSetStats.new_trail`); None
        where each window is judged alone or the model cannot tell unknowns."""
        return None if self.openset is None else self.openset.new_trail(self.spec.window)

    def model_info(self) -> dict[str, Any]:
        """What a prediction file says about the model: its classes, whether and how it tells
        unknown footage, whether its attention maps mean anything, and notes for a user;
        with OpenVINO, which backend and precision ran the network."""
        from stmanet.engine.openset import model_info

        info = model_info(self.path, self.class_names, self.openset, self.novelty_threshold,
                          self.attention_status)
        if self.backend != "torch":
            info.update(backend=self.backend, precision=self.precision)
        return info

    # ------------------------------------------------------------------ clips
    def preprocess(self, frames: np.ndarray) -> Tensor:
        """RGB uint8 frames (T, H, W, 3) -> normalised, centre-cropped (3, T, S, S)."""
        from stmanet.data.transforms import test_transform

        return test_transform(frames, self.spec)

    @torch.no_grad()
    def run_batch(self, clips: Tensor) -> tuple[Tensor, STMANetOutput]:
        """(B, 3, T, S, S) -> softmax scores (B, K) on the CPU, and the raw output. A model
        whose open-set statistics were fitted on windows averaged with their mirror images
        (`OpenSetStats.mirror`) runs each clip twice, so, and its scores are the average's."""
        from stmanet.engine.novelty import run_views

        mirror = self.openset is not None and self.openset.mirror
        output = run_views(self.model, clips.to(self.device), mirror)
        return torch.softmax(output.logits.float(), dim=1).cpu(), output

    # ------------------------------------------------------------------ videos
    def predict(self, path: Path | str, *, hop: int | None = None,
                on_progress: ProgressCallback | None = None,
                should_cancel: CancelCheck | None = None,
                on_window: WindowCallback | None = None) -> VideoPrediction:
        """Predict every window of a video file, decoding it once from start to end."""
        from stmanet.data.decode import iter_frames, probe

        path = Path(path)
        info = probe(path)
        return self.predict_frames(iter_frames(path), info.frame_count, info.fps, path=path,
                                   hop=hop, on_progress=on_progress,
                                   should_cancel=should_cancel, on_window=on_window)

    def predict_frames(self, frames: Iterable[tuple[int, np.ndarray]] | Iterable[np.ndarray],
                       num_frames: int, fps: float, *, path: Path | str = "",
                       hop: int | None = None, on_progress: ProgressCallback | None = None,
                       should_cancel: CancelCheck | None = None,
                       on_window: WindowCallback | None = None) -> VideoPrediction:
        """Predict from a stream of RGB frames (or (index, frame) pairs) of a known length.

        `on_progress(done, total)` is called per batch of windows; `should_cancel()` is
        checked as often, and a true answer raises Cancelled (the windows handed to
        `on_window` so far stay valid). `on_window(window, scores)` receives every window as
        soon as it is predicted, with its softmax scores over all classes (K,).
        """
        from stmanet.data.sampling import window_ends

        spec = self.spec
        hop = hop or spec.window
        if hop < 1:
            raise ConfigError(f"hop must be at least 1 frame, not {hop}")
        if num_frames < 1:
            raise VideoError(path, "the video holds no frames")
        starts, indices = _window_plan(num_frames, spec, hop)
        total = len(starts)
        needed = set(np.unique(indices).tolist())
        ready_at = window_ends(starts, num_frames, spec.window) - 1

        stored: dict[int, Tensor] = {}
        windows: list[WindowPrediction] = []
        all_scores: list[np.ndarray] = []
        score_sum = torch.zeros(len(self.class_names), dtype=torch.float64)
        pending: list[int] = []
        next_window = 0
        trail = self.new_trail()
        if on_progress is not None:
            on_progress(0, total)

        def flush() -> None:
            nonlocal score_sum
            if not pending:
                return
            if should_cancel is not None and should_cancel():
                raise Cancelled(f"prediction of {path} cancelled")
            batch = torch.stack([self._window_clip(stored, indices[w]) for w in pending])
            scores, output = self.run_batch(batch)
            score_sum += scores.double().sum(0)
            maps = attention_summary(output) if self.attention else None
            novelty, known = self.assess(output, starts=[int(starts[w]) for w in pending],
                                         trail=trail)
            for j, w in enumerate(pending):
                window = self._window_prediction(int(starts[w]), num_frames, fps, scores[j],
                                                 maps, j)
                if novelty is not None and known is not None:
                    window.novelty, window.known = float(novelty[j]), bool(known[j])
                windows.append(window)
                all_scores.append(scores[j].numpy())
                if on_window is not None:
                    on_window(window, scores[j].numpy())
            pending.clear()
            if on_progress is not None:
                on_progress(len(windows), total)

        last_pos = -1
        for pos, frame in _numbered(frames):
            last_pos = pos
            if pos >= num_frames:
                break
            if pos in needed:
                stored[pos] = self._prepare_frame(frame)
            while next_window < total and ready_at[next_window] <= pos:
                pending.append(next_window)
                next_window += 1
                if len(pending) >= self.batch_size:
                    flush()
                    self._evict(stored, starts, next_window)
            if next_window >= total:
                break
        if next_window < total:  # the stream ended before the promised frame count
            log.warning("%s: the video ended at frame %d of %d; repeating its last frame",
                        path, last_pos + 1, num_frames)
            if not stored:
                raise VideoError(path, "no frame could be decoded")
            last = stored[max(stored)]
            for w in range(next_window, total):
                for v in indices[w]:
                    stored.setdefault(int(v), last)
                pending.append(w)
                if len(pending) >= self.batch_size:
                    flush()
        flush()
        mean = (score_sum / max(1, len(windows))).float().numpy()
        window_scores = (np.stack(all_scores).astype(np.float32) if all_scores
                         else np.zeros((0, len(self.class_names)), np.float32))
        return VideoPrediction(Path(path), float(fps), int(num_frames), self.class_names,
                               windows, mean, hop=hop, window=spec.window,
                               window_scores=window_scores)

    def _prepare_frame(self, frame: np.ndarray) -> Tensor:
        """One RGB frame -> centre-cropped, resized uint8 (S, S, 3)."""
        from stmanet.data.transforms import center_crop_box, crop_resize

        box = center_crop_box(frame.shape[0], frame.shape[1])
        return torch.from_numpy(crop_resize(frame[None], box, self.spec.size)[0])

    def _window_clip(self, stored: dict[int, Tensor], row: np.ndarray) -> Tensor:
        from stmanet.data.transforms import to_tensor

        frames = torch.stack([stored[int(v)] for v in row]).numpy()  # (T, S, S, 3)
        return to_tensor(frames, self.spec.mean, self.spec.std)

    @staticmethod
    def _evict(stored: dict[int, Tensor], starts: np.ndarray, next_window: int) -> None:
        if next_window >= len(starts):
            return
        first_needed = int(starts[next_window])
        for pos in [p for p in stored if p < first_needed]:
            del stored[pos]

    def _window_prediction(self, start: int, num_frames: int, fps: float, scores: Tensor,
                           maps: Any, j: int) -> WindowPrediction:
        end = min(start + self.spec.window, num_frames)
        top = torch.topk(scores, self.top_k)
        fps = fps if fps > 0 else 25.0
        return WindowPrediction(
            start, end, start / fps, end / fps,
            [self.class_names[i] for i in top.indices.tolist()],
            [float(v) for v in top.values.tolist()],
            spatial_attention=maps[0][j] if maps else None,
            temporal_attention=maps[1][j] if maps else None)


def _numbered(frames: Iterable[Any]) -> Iterator[tuple[int, np.ndarray]]:
    for n, item in enumerate(frames):
        if isinstance(item, tuple):
            yield int(item[0]), item[1]
        else:
            yield n, item


# ------------------------------------------------------------------------------ files

def bundled_demo_model() -> Path | None:
    """The demo model shipped in resources/models/demo.safetensors, if there is one (looked
    up by stmanet.bundled, the one place that knows where shipped files are)."""
    from stmanet import bundled

    return bundled.bundled_demo_model()
