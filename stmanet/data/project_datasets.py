"""Label projects and folder-per-class data sets, both ways.

`export_dataset` writes a label project as a folder-per-class data set (one video file per
segment, cut out with OpenCV, optionally with UCF-101 style split lists); `import_dataset`
reads such a data set (or a UCF-101 tree) back as segments that cover whole videos, for
`LabelProject.add_imported`. The project itself and its JSON file are in
stmanet/data/project.py. No Qt here: the app's labeller runs these as background jobs.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from stmanet.data.clips import ClipRecord, SkippedFile
from stmanet.data.decode import iter_frames, opencv_filename, probe
from stmanet.data.project import ImportedLabels, LabelProject, LabelSegment
from stmanet.data.sources import load_source
from stmanet.errors import Cancelled, DatasetError, STMANetError, VideoError, printable_path
from stmanet.fileio import atomic_write_text

log = logging.getLogger(__name__)

UCF_LIST_FOLDER = "ucfTrainTestlist"

Progress = Callable[[int, int], None]
CancelCheck = Callable[[], bool]


# --- export ----------------------------------------------------------------------------------

_UNSAFE_IN_NAMES = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


def folder_name(class_name: str, *, ucf: bool = False) -> str:
    """A folder name for a class: characters no file system takes become '_'; with `ucf`,
    spaces too (UCF-101 lists separate their columns with spaces)."""
    name = _UNSAFE_IN_NAMES.sub("_", class_name).strip().rstrip(".")
    if ucf:
        name = re.sub(r"\s+", "_", name)
    return name or "_"


@dataclass(frozen=True)
class ExportedDataset:
    """What `export_dataset` wrote."""

    folder: Path
    class_folders: dict[str, str]  # class name -> folder name
    clips: dict[str, int]  # class name -> clips written
    train_list: Path | None = None
    test_list: Path | None = None

    @property
    def clip_count(self) -> int:
        return sum(self.clips.values())


def _check(cancelled: CancelCheck | None) -> None:
    if cancelled is not None and cancelled():
        raise Cancelled("export cancelled")


def _split_test(segments: Sequence[LabelSegment], share: float) -> set[LabelSegment]:
    """The segments of one class that go to the test list: about `share` of them, whole
    source videos at a time when they come from more than one video (so one session is
    never on both lists), at least one clip on each list when there are two or more."""
    if share <= 0 or len(segments) < 2:
        return set()
    wanted = min(len(segments) - 1, max(1, round(share * len(segments))))
    by_video: dict[Path, list[LabelSegment]] = {}
    for segment in segments:
        by_video.setdefault(segment.video, []).append(segment)
    test: list[LabelSegment] = []
    if len(by_video) > 1:
        for video in reversed(list(by_video)):  # the last videos: usually the latest sessions
            if len(test) >= wanted:
                break
            if len(test) + len(by_video[video]) <= len(segments) - 1:
                test.extend(by_video[video])
    if not test:
        test = list(segments[-wanted:])
    return set(test)


def _write_clip(source: Path, segment: LabelSegment, target: Path, fps: float,
                cancelled: CancelCheck | None) -> int:
    """Cut `segment` out of `source` into an MPEG-4 file at `target`, atomically (a temporary
    file renamed when complete); the number of frames written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{printable_path(target.stem)}.", suffix=".mp4",
                                    dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    writer: cv2.VideoWriter | None = None
    size = (0, 0)
    written = 0
    try:
        for _, rgb in iter_frames(source, start=segment.start_frame, end=segment.end_frame):
            if written % 16 == 0:
                _check(cancelled)
            if writer is None:
                size = (rgb.shape[1], rgb.shape[0])
                with opencv_filename(tmp, write=True) as name:
                    writer = cv2.VideoWriter(name, cv2.VideoWriter_fourcc(*"mp4v"), float(fps),
                                             size)
                if not writer.isOpened():
                    raise STMANetError(f"{target}: cannot open an mp4v video writer")
            elif (rgb.shape[1], rgb.shape[0]) != size:  # the stream changed size mid-way
                rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
            writer.write(np.ascontiguousarray(rgb[:, :, ::-1]))  # RGB -> BGR
            written += 1
        if writer is not None:
            writer.release()
            writer = None
        if not written or tmp.stat().st_size == 0:
            raise VideoError(source, f"no frame decodes from frame {segment.start_frame} on")
        os.replace(tmp, target)
    finally:
        if writer is not None:
            writer.release()
        tmp.unlink(missing_ok=True)
    return written


def export_dataset(
    project: LabelProject,
    out_dir: Path | str,
    *,
    ucf_lists: bool = False,
    test_share: float = 0.2,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
) -> ExportedDataset:
    """Write the project as a folder-per-class data set: out_dir/<class>/<video>_<first>-<last>
    .mp4, one file per segment (cut out with OpenCV, at the source's frame rate), and
    out_dir/classes.txt listing the classes in the project's order.

    With `ucf_lists`, also out_dir/ucfTrainTestlist/ with classInd.txt, trainlist01.txt and
    testlist01.txt (about `test_share` of each class's clips, whole source videos at a time),
    and class folders without spaces, so `load_source("ucf101", out_dir)` reads it.

    `out_dir` must be empty or not exist yet. Everything is written into a temporary folder
    beside it that takes its name only when complete: a failure or a cancel (Cancelled)
    leaves nothing behind. Raises DatasetError when the project has no segment, a video is
    missing, or two classes would share a folder.
    """
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"export into an empty folder: {out} already holds files")
    if not project.segments:
        raise DatasetError("the project has no labelled segment to export")
    if not 0.0 <= test_share < 1.0:
        raise DatasetError(f"the test share must be from 0 to below 1, not {test_share}")
    missing = project.missing_videos()
    if missing:
        names = ", ".join(str(p) for p in missing[:3])
        raise DatasetError(
            f"{len(missing)} video{'s' * (len(missing) > 1)} of the project cannot be found "
            f"({names}); locate them first"
        )
    class_folders: dict[str, str] = {}
    taken: dict[str, str] = {}
    for name in project.classes:
        folder = folder_name(name, ucf=ucf_lists)
        if folder.lower() in taken:
            raise DatasetError(
                f"classes {taken[folder.lower()]!r} and {name!r} would share the folder "
                f"{folder!r}: rename one of them"
            )
        taken[folder.lower()] = name
        class_folders[name] = folder

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".exporting", dir=out.parent))
    try:
        total = sum(s.frame_count for s in project.segments)
        done = 0
        fps_of: dict[Path, float] = {}
        files: dict[LabelSegment, str] = {}  # segment -> "<folder>/<file>"
        used: set[str] = set()
        clips = dict.fromkeys(project.classes, 0)
        for folder in class_folders.values():
            (staging / folder).mkdir()
        for segment in project.segments:
            _check(cancelled)
            if segment.video not in fps_of:
                fps_of[segment.video] = probe(segment.video).fps
            stem = f"{segment.video.stem}_{segment.start_frame:06d}-{segment.last_frame:06d}"
            stem = folder_name(stem, ucf=ucf_lists)
            name, n = f"{stem}.mp4", 1
            folder = class_folders[segment.label]
            while f"{folder}/{name}".lower() in used:
                n += 1
                name = f"{stem}_{n}.mp4"
            used.add(f"{folder}/{name}".lower())
            _write_clip(segment.video, segment, staging / folder / name, fps_of[segment.video],
                        cancelled)
            files[segment] = f"{folder}/{name}"
            clips[segment.label] += 1
            done += segment.frame_count
            if progress is not None:
                progress(done, total)
        atomic_write_text(staging / "classes.txt",
                          "".join(f"{class_folders[c]}\n" for c in project.classes))
        train_list = test_list = None
        if ucf_lists:
            lists = staging / UCF_LIST_FOLDER
            lists.mkdir()
            atomic_write_text(lists / "classInd.txt", "".join(
                f"{k} {class_folders[c]}\n" for k, c in enumerate(project.classes, 1)))
            train_lines, test_lines = [], []
            for k, name in enumerate(project.classes, 1):
                of_class = [s for s in project.segments if s.label == name]
                test = _split_test(of_class, test_share)
                for segment in of_class:
                    if segment in test:
                        test_lines.append(f"{files[segment]}\n")
                    else:
                        train_lines.append(f"{files[segment]} {k}\n")
            atomic_write_text(lists / "trainlist01.txt", "".join(train_lines))
            atomic_write_text(lists / "testlist01.txt", "".join(test_lines))
            train_list = out / UCF_LIST_FOLDER / "trainlist01.txt"
            test_list = out / UCF_LIST_FOLDER / "testlist01.txt"
        _check(cancelled)
        if out.is_dir():
            out.rmdir()  # empty, checked above
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("exported %d clips of %d classes to %s", len(files), len(clips), out)
    return ExportedDataset(out, class_folders, clips, train_list, test_list)


# --- import ----------------------------------------------------------------------------------

IMPORT_KINDS = ("folder", "ucf101")


def _index_records(kind: str, root: Path) -> tuple[list[str], list[ClipRecord],
                                                   list[SkippedFile]]:
    if kind == "folder":
        index = load_source("folder", root)
        return index.class_names, index.records, list(index.skipped)
    train = load_source("ucf101", root, subset="train")
    records, skipped = list(train.records), list(train.skipped)
    try:
        test = load_source("ucf101", root, subset="test")
    except DatasetError as exc:
        if exc.reason != "file not found":
            raise
        log.info("%s: no test list; importing the train list only", exc.file)
    else:
        if test.class_names != train.class_names:  # pragma: no cover - same classInd.txt
            raise DatasetError("the train and test lists disagree about the classes")
        records += test.records
        skipped += test.skipped
    return train.class_names, records, skipped


def import_dataset(
    kind: str,
    root: Path | str,
    *,
    progress: Progress | None = None,
    cancelled: CancelCheck | None = None,
) -> ImportedLabels:
    """Read a data set as label-project segments, each covering one whole video (or the
    frame range a record names).

    kind: "folder" (root/<class>/<video>, classes.txt for the order) or "ucf101" (root: the
    folder of class folders with ucfTrainTestlist/; the train and test lists of split 1).
    Each video is opened to count its frames; those that cannot be read are left out and
    listed in `skipped`. Reuses the loaders of stmanet.data.sources, with their messages.
    """
    if kind not in IMPORT_KINDS:
        raise DatasetError(f"cannot import {kind!r}; choose one of {', '.join(IMPORT_KINDS)}")
    classes, records, skipped = _index_records(kind, Path(root))
    segments: list[LabelSegment] = []
    seen: set[tuple[Path, int, int | None]] = set()
    frame_counts: dict[Path, int] = {}
    for k, record in enumerate(records, 1):
        _check(cancelled)
        key = (record.path, record.start_frame, record.end_frame)
        if key in seen:
            continue
        seen.add(key)
        end = record.end_frame
        if end is None:
            if record.path not in frame_counts:
                try:
                    frame_counts[record.path] = probe(record.path).frame_count
                except VideoError as exc:
                    skipped.append(SkippedFile(record.path, exc.reason))
                    frame_counts[record.path] = 0
            end = frame_counts[record.path]
        if end > record.start_frame:
            segments.append(LabelSegment(record.path, record.start_frame, end,
                                         classes[record.label]))
        if progress is not None:
            progress(k, len(records))
    return ImportedLabels(list(classes), segments, skipped)

