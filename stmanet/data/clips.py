"""One clip index feeding one torch Dataset.

Every data source (UCF-101, HMDB-51, Diving48, a folder of class folders, a label project)
turns into a ClipIndex: a list of ClipRecords (a video file or a segment inside one, and a
label) plus the class names. ClipDataset reads clips out of it for training or validation,
and `test_windows` cuts one record into the test protocol's windows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from stmanet.config import InputSpec
from stmanet.data.decode import probe, read_frames
from stmanet.data.sampling import center_indices, test_indices, train_indices
from stmanet.data.transforms import MIN_CROP_SCALE, test_transform, train_transform
from stmanet.errors import DatasetError, VideoError
from stmanet.fileio import atomic_write_text

log = logging.getLogger(__name__)

INDEX_FORMAT_VERSION = 1


@dataclass(frozen=True)
class ClipRecord:
    """A labelled video, or the segment start_frame <= frame < end_frame inside one."""

    path: Path
    label: int
    start_frame: int = 0
    end_frame: int | None = None  # exclusive; None: to the end of the video

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if self.label < 0:
            raise DatasetError(f"{self.path}: label must be >= 0, not {self.label}")
        if self.start_frame < 0:
            raise DatasetError(f"{self.path}: start_frame must be >= 0, not {self.start_frame}")
        if self.end_frame is not None and self.end_frame <= self.start_frame:
            raise DatasetError(
                f"{self.path}: end_frame ({self.end_frame}) must be after "
                f"start_frame ({self.start_frame})"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "label": self.label,
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClipRecord:
        end = data.get("end_frame")
        return cls(
            path=Path(data["path"]),
            label=int(data["label"]),
            start_frame=int(data.get("start_frame", 0)),
            end_frame=None if end is None else int(end),
        )


@dataclass(frozen=True)
class SkippedFile:
    """A video left out of a data set, and why."""

    path: Path
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"path": str(self.path), "reason": self.reason}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SkippedFile:
        return cls(Path(data["path"]), str(data["reason"]))


@dataclass(frozen=True)
class ValidationReport:
    """What ClipIndex.validate found."""

    files_checked: int
    records_checked: int
    records_kept: int
    bad_files: tuple[SkippedFile, ...] = ()

    @property
    def records_dropped(self) -> int:
        return self.records_checked - self.records_kept

    @property
    def ok(self) -> bool:
        return not self.bad_files

    def to_dict(self) -> dict[str, Any]:
        return {
            "files_checked": self.files_checked,
            "records_checked": self.records_checked,
            "records_kept": self.records_kept,
            "bad_files": [b.to_dict() for b in self.bad_files],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationReport:
        return cls(
            files_checked=int(data["files_checked"]),
            records_checked=int(data["records_checked"]),
            records_kept=int(data["records_kept"]),
            bad_files=tuple(SkippedFile.from_dict(b) for b in data.get("bad_files", [])),
        )

    def summary(self) -> str:
        if self.ok:
            return f"all {self.files_checked} videos are readable"
        shown = "; ".join(f"{b.path}: {b.reason}" for b in self.bad_files[:3])
        more = f" (and {len(self.bad_files) - 3} more)" if len(self.bad_files) > 3 else ""
        return (
            f"{len(self.bad_files)} of {self.files_checked} videos could not be used "
            f"({self.records_dropped} of {self.records_checked} clips dropped): {shown}{more}"
        )


@dataclass
class ClipIndex:
    """The clips of a data set and its class names (label k is class_names[k])."""

    records: list[ClipRecord]
    class_names: list[str]
    frame_counts: dict[str, int] = field(default_factory=dict)  # decodable frames by str(path)
    skipped: list[SkippedFile] = field(default_factory=list)  # left out by source or validate

    def __post_init__(self) -> None:
        self.records = list(self.records)
        self.class_names = [str(c) for c in self.class_names]
        if len(set(self.class_names)) != len(self.class_names):
            raise DatasetError("class names must be unique")
        for record in self.records:
            if record.label >= len(self.class_names):
                raise DatasetError(
                    f"{record.path}: label {record.label} but there are only "
                    f"{len(self.class_names)} classes"
                )

    def __len__(self) -> int:
        return len(self.records)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_counts(self) -> list[int]:
        """Clips per class, in label order."""
        counts = [0] * self.num_classes
        for record in self.records:
            counts[record.label] += 1
        return counts

    def validate(self, progress: Callable[[int, int], None] | None = None) -> ValidationReport:
        """Probe every video once; drop the records whose video cannot be read or whose
        segment starts past the video's real end. Frame counts are kept for the Dataset.

        Logs a warning naming what was skipped. `progress(done, total)` is called per file.
        Raises DatasetError, leaving the index unchanged, when nothing readable is left.
        """
        paths = list(dict.fromkeys(record.path for record in self.records))
        counts: dict[str, int] = {}
        bad: dict[Path, str] = {}
        for n, path in enumerate(paths, 1):
            try:
                counts[str(path)] = probe(path).frame_count
            except VideoError as exc:
                bad[path] = exc.reason
            if progress is not None:
                progress(n, len(paths))
        kept: list[ClipRecord] = []
        for record in self.records:
            if record.path in bad:
                continue
            count = counts[str(record.path)]
            if record.start_frame >= count:
                bad.setdefault(
                    record.path,
                    f"a segment starts at frame {record.start_frame} but the video has "
                    f"only {count} frames",
                )
                continue
            kept.append(record)
        report = ValidationReport(
            files_checked=len(paths),
            records_checked=len(self.records),
            records_kept=len(kept),
            bad_files=tuple(SkippedFile(p, r) for p, r in bad.items()),
        )
        if self.records and not kept:
            raise DatasetError(f"no usable clip left: {report.summary()}")
        if not report.ok:
            log.warning("data set check: %s", report.summary())
        self.records = kept
        self.frame_counts.update(counts)
        self.skipped.extend(report.bad_files)
        return report

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": INDEX_FORMAT_VERSION,
            "class_names": list(self.class_names),
            "records": [r.to_dict() for r in self.records],
            "frame_counts": dict(self.frame_counts),
            "skipped": [s.to_dict() for s in self.skipped],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ClipIndex:
        version = data.get("version")
        if version != INDEX_FORMAT_VERSION:
            raise DatasetError(
                f"clip index version {version!r} is not supported "
                f"(this program reads version {INDEX_FORMAT_VERSION})"
            )
        try:
            return cls(
                records=[ClipRecord.from_dict(r) for r in data["records"]],
                class_names=list(data["class_names"]),
                frame_counts={str(k): int(v) for k, v in data.get("frame_counts", {}).items()},
                skipped=[SkippedFile.from_dict(s) for s in data.get("skipped", [])],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"malformed clip index: {exc!r}") from exc

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str) -> ClipIndex:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"clip index is not valid JSON: {exc.msg}", line=exc.lineno) from exc
        except RecursionError as exc:
            raise DatasetError("clip index is nested too deeply to read") from exc
        if not isinstance(data, dict):
            raise DatasetError("clip index must be a JSON object")
        return cls.from_dict(data)

    def save(self, path: Path | str) -> None:
        atomic_write_text(path, self.to_json())

    @classmethod
    def load(cls, path: Path | str) -> ClipIndex:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise DatasetError(f"cannot read clip index: {exc.strerror}", file=path) from exc
        try:
            return cls.from_json(text)
        except DatasetError as exc:
            raise DatasetError(exc.reason, file=path, line=exc.line) from exc


_warned_short: set[tuple[str, int, int]] = set()


def _segment(record: ClipRecord, frame_count: int) -> tuple[int, int]:
    """(first frame, number of frames) of the record inside a video of frame_count frames.

    A segment that ends past the video's end is cut at the end, with a warning (once per
    segment and process) naming the video."""
    end = frame_count if record.end_frame is None else min(record.end_frame, frame_count)
    if record.end_frame is not None and record.end_frame > frame_count > record.start_frame:
        key = (str(record.path), record.start_frame, record.end_frame)
        if key not in _warned_short:
            _warned_short.add(key)
            log.warning("%s: a segment ends at frame %d but the video has only %d frames: "
                        "frames %d to %d are used", record.path, record.end_frame, frame_count,
                        record.start_frame, frame_count - 1)
    length = end - record.start_frame
    if length < 1:
        raise VideoError(
            record.path,
            f"the segment starts at frame {record.start_frame} but the video has only "
            f"{frame_count} frames",
        )
    return record.start_frame, length


class ClipDataset(Dataset):
    """Clips of a ClipIndex as (clip, label): clip float32 (3, spec.frames, spec.size,
    spec.size), label an int.

    train=True: a random window, crop and flip per item (InputSpec's training protocol; crops
    of min_crop-1.0 of the shorter side);
    train=False: the middle window, centre-cropped (a quick validation clip; the full test
    protocol is `test_windows`).

    Randomness depends only on (seed, epoch, item), never on the worker that loads an item,
    so a run is reproducible with any number of DataLoader workers. Call `set_epoch(epoch)`
    before iterating an epoch; the epoch lives in shared memory, so persistent workers see it.

    A video that fails to decode is logged once and replaced by another item chosen from
    (seed, epoch, item); after `max_retries` failed replacements a DatasetError is raised.
    """

    def __init__(
        self,
        index: ClipIndex,
        spec: InputSpec,
        *,
        train: bool,
        seed: int = 0,
        max_retries: int = 10,
        min_crop: float = MIN_CROP_SCALE,
    ) -> None:
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.index = index
        self.spec = spec
        self.train = train
        self.seed = seed
        self.max_retries = max_retries
        self.min_crop = min_crop
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()
        self._frame_counts: dict[str, int] = dict(index.frame_counts)
        self._failed: dict[int, str] = {}  # per process: record number -> reason

    @property
    def epoch(self) -> int:
        return int(self._epoch[0])

    def set_epoch(self, epoch: int) -> None:
        """Draw this epoch's random clips; call before creating the epoch's iterator."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self._epoch[0] = epoch

    @property
    def failed(self) -> dict[int, str]:
        """Records that failed to load in this process, with the reason."""
        return dict(self._failed)

    def __len__(self) -> int:
        return len(self.index.records)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, int]:
        item = int(item)
        if not -len(self) <= item < len(self):
            raise IndexError(f"item {item} out of range for {len(self)} clips")
        item %= len(self)
        epoch = self.epoch
        candidate = item
        for attempt in range(1, self.max_retries + 2):
            if candidate not in self._failed:
                try:
                    return self.load(candidate, epoch=epoch, draw=item)
                except VideoError as exc:
                    self._failed[candidate] = exc.reason
                    log.warning("skipping %s: %s", exc.path, exc.reason)
            rng = np.random.default_rng([self.seed, epoch, item, attempt])
            candidate = int(rng.integers(len(self)))
        raise DatasetError(
            f"item {item} and {self.max_retries} replacements could not be loaded; "
            f"{len(self._failed)} videos failed so far (see the warnings above)"
        )

    def frame_count(self, path: Path) -> int:
        key = str(path)
        if key not in self._frame_counts:
            self._frame_counts[key] = probe(path).frame_count
        return self._frame_counts[key]

    def load(
        self, number: int, *, epoch: int = 0, draw: int | None = None
    ) -> tuple[torch.Tensor, int]:
        """Record `number` as (clip, label), raising VideoError if its video fails. The random
        choices depend on (seed, epoch, draw, number); draw defaults to number."""
        record = self.index.records[number]
        start, length = _segment(record, self.frame_count(record.path))
        spec = self.spec
        if self.train:
            draw = number if draw is None else draw
            rng = np.random.default_rng([self.seed, epoch, draw, number])
            frames = read_frames(record.path, train_indices(length, spec, rng) + start)
            clip = train_transform(frames, spec, rng, min_crop=self.min_crop)
        else:
            frames = read_frames(record.path, center_indices(length, spec) + start)
            clip = test_transform(frames, spec)
        return clip, record.label


def test_windows(
    record: ClipRecord, spec: InputSpec, *, frame_count: int | None = None,
    most: int | None = None,
) -> torch.Tensor:
    """The test protocol for one record: all its consecutive spec.window-frame windows,
    centre-cropped; float32 (N, 3, spec.frames, spec.size, spec.size). With `most`, at most
    that many of them, evenly spread, and only their frames decoded.

    Each source frame is decoded and transformed once however many windows use it. Raises
    VideoError if the video cannot be read.
    """
    if frame_count is None:
        frame_count = probe(record.path).frame_count
    start, length = _segment(record, frame_count)
    idx = test_indices(length, spec)  # (N, T)
    if most is not None and len(idx) > most:
        idx = idx[np.linspace(0, len(idx) - 1, max(1, most)).round().astype(int)]
    unique, inverse = np.unique(idx, return_inverse=True)
    frames = read_frames(record.path, unique + start)
    clip = test_transform(frames, spec)  # (3, U, S, S)
    windows = clip[:, torch.from_numpy(inverse.reshape(idx.shape))]  # (3, N, T, S, S)
    return windows.permute(1, 0, 2, 3, 4).contiguous()


test_windows.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported
