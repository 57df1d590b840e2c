"""The test protocol on a data set: every clip's windows through the network, their softmax
scores averaged per clip (the paper's protocol), and the report (top-1, top-5, per-class
accuracy, confusion matrix). `Predictor` (engine/inference.py) does the same for one video.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from stmanet.config import InputSpec
from stmanet.engine.checkpoint import LoadedModel
from stmanet.engine.inference import (
    CancelCheck,
    ProgressCallback,
    default_batch_size,
    inference_network,
)
from stmanet.engine.metrics import ClassificationReport
from stmanet.engine.novelty import mirror_average
from stmanet.errors import Cancelled, ConfigError, VideoError, printable_path
from stmanet.models import STMANetOutput

log = logging.getLogger(__name__)


class _VideoWindows(Dataset):
    """Item i: (windows (N, 3, T, S, S) or None, label, i, reason) of record i."""

    def __init__(self, index: Any, spec: InputSpec) -> None:
        self.index = index
        self.spec = spec

    def __len__(self) -> int:
        return len(self.index.records)

    def __getitem__(self, i: int) -> tuple[Tensor | None, int, int, str]:
        from stmanet.data.clips import test_windows

        record = self.index.records[i]
        count = self.index.frame_counts.get(str(record.path))
        try:
            return test_windows(record, self.spec, frame_count=count), record.label, i, ""
        except VideoError as exc:
            return None, record.label, i, exc.reason


@dataclass
class EvaluationResult:
    report: ClassificationReport
    video_scores: np.ndarray  # (N, K), rows in the order of `paths`
    labels: np.ndarray  # (N,)
    paths: list[Path]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def per_video_rows(self) -> list[dict[str, Any]]:
        names = self.report.class_names
        rows = []
        for path, label, scores in zip(self.paths, self.labels, self.video_scores,
                                       strict=True):
            best = int(np.argmax(scores))
            rows.append({"video": printable_path(path), "label": names[int(label)],
                         "predicted": names[best], "score": round(float(scores[best]), 6),
                         "correct": int(best == int(label))})
        return rows


def readable_clip_windows(index: Any, spec: InputSpec, skipped: list[tuple[str, str]], *,
                 workers: int = 0, on_progress: ProgressCallback | None = None,
                 should_cancel: CancelCheck | None = None, what: str = "evaluation",
                 ) -> Iterator[tuple[int, int, Tensor]]:
    """Every readable clip of `index` as (record number, label, all its test-protocol windows
    (N, 3, T, H, W)), in order; an unreadable clip is logged and added to `skipped`.
    `on_progress(done, total)` counts clips; a true `should_cancel()` raises Cancelled."""

    dataset = _VideoWindows(index, spec)
    loader = DataLoader(dataset, batch_size=None, shuffle=False, num_workers=workers)
    total = len(dataset)
    if on_progress is not None:
        on_progress(0, total)
    for done, (windows, label, i, reason) in enumerate(loader, start=1):
        if should_cancel is not None and should_cancel():
            raise Cancelled(f"{what} cancelled")
        if windows is None:
            log.warning("skipping %s: %s", index.records[i].path, reason)
            skipped.append((str(index.records[i].path), reason))
        else:
            yield int(i), int(label), windows
        if on_progress is not None:
            on_progress(done, total)


def evaluate(loaded: LoadedModel, index: Any, *, device: str | torch.device = "cpu",
             batch_size: int | None = None, workers: int = 0,
             on_progress: ProgressCallback | None = None,
             should_cancel: CancelCheck | None = None,
             on_windows: Callable[[int, int, STMANetOutput], None] | None = None,
             windows_mirror: bool = False,
             backend: str = "torch", ir: Path | str | None = None,
             ) -> EvaluationResult:
    """The test protocol on every record of `index`: all consecutive windows, centre crop,
    softmax scores averaged per video; top-1/top-5, per-class accuracy, confusion matrix.

    The index's classes are matched to the model's by name. Unreadable videos are skipped,
    logged and listed in the result. `on_windows(record, label, output)` receives the
    network's output for every batch of a record's windows (the open-set evaluation keeps
    their features: engine/openset.py, WindowCollector); with `windows_mirror`, averaged with
    the output on the windows' mirror images, as open-set statistics with `mirror` score
    windows (the accuracy stays the test protocol's: each window once). `backend` and `ir`
    choose what runs
    the network (engine/inference.py, inference_network).
    """
    names = list(loaded.metadata.class_names)
    position = {n: i for i, n in enumerate(names)}
    unknown = sorted({index.class_names[r.label] for r in index.records} - set(position))
    if unknown:
        raise ConfigError(f"the model does not know the class(es) {', '.join(unknown[:5])} "
                          f"of the test data (it knows {', '.join(names[:8])}"
                          f"{', ...' if len(names) > 8 else ''})")
    if not index.records:
        raise ConfigError("the test data holds no videos")
    batch = batch_size or default_batch_size(device)
    model, used, precision = inference_network(loaded, device, backend=backend, ir=ir,
                                               batch_size=batch)
    spec = loaded.metadata.input
    scores_out: list[np.ndarray] = []
    labels_out: list[int] = []
    paths: list[Path] = []
    skipped: list[tuple[str, str]] = []
    windows_total = 0
    with torch.no_grad():
        clips = readable_clip_windows(index, spec, skipped, workers=workers,
                                      on_progress=on_progress, should_cancel=should_cancel,
                                      what="evaluation")
        for i, label, windows in clips:
            probs = []
            for chunk in torch.split(windows, batch):
                output = model(chunk.to(device))
                if on_windows is not None:
                    seen = (mirror_average(output, model(chunk.flip(-1).to(device)))
                            if windows_mirror else output)
                    on_windows(int(i), position[index.class_names[label]], seen)
                probs.append(torch.softmax(output.logits.float(), dim=1).cpu())
            video = torch.cat(probs).double().mean(0).numpy()
            windows_total += windows.shape[0]
            scores_out.append(video)
            labels_out.append(position[index.class_names[label]])
            paths.append(index.records[i].path)
    if not scores_out:
        raise VideoError(index.records[0].path, "none of the test videos could be read")
    scores = np.stack(scores_out)
    labels = np.asarray(labels_out, dtype=np.int64)
    report = ClassificationReport.from_scores(
        scores, labels, names, windows=windows_total, skipped=len(skipped),
        protocol=f"all consecutive {spec.window}-frame windows, every {spec.frame_stride}. "
                 f"frame, centre crop {spec.size}, mean of softmax scores")
    if used != "torch":  # what ran the network, where it was not the model itself
        report.extra.update(backend=used, precision=precision,
                            **({"ir": printable_path(ir)} if ir is not None else {}))
    return EvaluationResult(report, scores, labels, paths, skipped)
