"""Label projects: the classes a coach labels with and the labelled segments of their videos.

A label project is one JSON file, written by the desktop program's labeller and read by the
trainer (`--data project:FILE`). Version 1 of the format:

    {
      "version": 1,
      "classes": ["serve", "volley"],        # in order: label k of a data set is classes[k]
      "segments": [
        {"video": "clips/session1.mp4",      # relative to the project's folder when the
         "start_frame": 0,                   #   video sits under it, absolute otherwise
         "end_frame": 50,                    # exclusive: frames 0 to 49
         "label": "volley"}
      ]
    }

Frame numbers count decoded pictures from 0, as `stmanet.data.decode` does. Keys this program
does not know are ignored when reading. Files are written atomically: a crash mid-save leaves
the previous save in place.

Besides reading and writing, this module edits a project (classes added, renamed, merged,
deleted; videos relocated after a move). Exporting it as a folder-per-class data set and
importing such data sets back is in stmanet/data/project_datasets.py. It has no Qt in it: the
app and the trainer share it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from stmanet.data.clips import ClipIndex, ClipRecord, SkippedFile
from stmanet.errors import DatasetError
from stmanet.fileio import atomic_write_text, read_text_file

PROJECT_FORMAT_VERSION = 1
PROJECT_SUFFIX = ".json"


def normalize_video_path(path: Path | str) -> Path:
    """The form a project keeps video paths in: absolute, with '..' and '.' folded away
    (symbolic links are left alone, so a path the user chose stays the path they chose)."""
    return Path(os.path.abspath(os.path.expanduser(str(path))))


def check_class_name(name: str) -> str:
    """`name` without surrounding spaces; DatasetError when it cannot be a class name."""
    if not isinstance(name, str):
        raise DatasetError(f"a class name must be text, not {name!r}")
    cleaned = name.strip()
    if not cleaned:
        raise DatasetError("a class name cannot be empty")
    if any(ch in cleaned for ch in "\n\r\t"):
        raise DatasetError(f"a class name cannot hold line breaks or tabs: {cleaned!r}")
    return cleaned


@dataclass(frozen=True)
class LabelSegment:
    """Frames start_frame <= frame < end_frame of `video` show the action `label`."""

    video: Path  # absolute (see normalize_video_path)
    start_frame: int
    end_frame: int  # exclusive
    label: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "video", normalize_video_path(self.video))
        for name in ("start_frame", "end_frame"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise DatasetError(f"{name} must be an integer, not {value!r}")
            object.__setattr__(self, name, int(value))
        if self.start_frame < 0 or self.end_frame <= self.start_frame:
            raise DatasetError(
                f"bad frame range start_frame={self.start_frame}, end_frame={self.end_frame}"
            )

    @property
    def frame_count(self) -> int:
        return self.end_frame - self.start_frame

    @property
    def last_frame(self) -> int:
        """The last frame inside the segment (end_frame - 1)."""
        return self.end_frame - 1

    def sort_key(self) -> tuple[str, int, int, str]:
        return (str(self.video), self.start_frame, self.end_frame, self.label)


ProjectState = tuple[tuple[str, ...], tuple[LabelSegment, ...]]
"""An immutable snapshot of a project's content: (classes, segments)."""


@dataclass
class ImportedLabels:
    """Classes and whole-video segments read from a data set (stmanet.data.project_datasets
    .import_dataset), and the videos left out: what `LabelProject.add_imported` adds."""

    classes: list[str]
    segments: list[LabelSegment] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)


class LabelProject:
    """Classes (an ordered list of names) and labelled segments, and the file they live in.

    Segments keep the order they were added in (a file's order when read); a segment is never
    there twice. Every edit checks its input and raises DatasetError with a message for the
    user; an edit that fails changes nothing.
    """

    def __init__(
        self,
        classes: Iterable[str] = (),
        segments: Iterable[LabelSegment] = (),
        path: Path | str | None = None,
    ) -> None:
        self.path: Path | None = Path(path) if path is not None else None
        self._classes: list[str] = []
        self._segments: list[LabelSegment] = []
        for name in classes:
            self.add_class(name)
        for segment in segments:
            self.add_segment(segment)

    # --- content -----------------------------------------------------------------------------

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self._classes)

    @property
    def segments(self) -> tuple[LabelSegment, ...]:
        return tuple(self._segments)

    @property
    def folder(self) -> Path | None:
        """The folder relative video paths are written against (the project file's)."""
        return self.path.parent if self.path is not None else None

    def __len__(self) -> int:
        return len(self._segments)

    def state(self) -> ProjectState:
        """A snapshot to restore later (undo)."""
        return tuple(self._classes), tuple(self._segments)

    def restore(self, state: ProjectState) -> None:
        classes, segments = state
        self._classes = list(classes)
        self._segments = list(segments)

    def class_index(self, name: str) -> int:
        """The label number of class `name`; -1 when there is no such class."""
        try:
            return self._classes.index(name)
        except ValueError:
            return -1

    def class_counts(self) -> dict[str, int]:
        """Segments per class, in class order (classes without segments count 0)."""
        counts = dict.fromkeys(self._classes, 0)
        for segment in self._segments:
            counts[segment.label] += 1
        return counts

    def videos(self) -> list[Path]:
        """The videos that have segments, each once, in the order they first appear."""
        return list(dict.fromkeys(s.video for s in self._segments))

    # --- classes -----------------------------------------------------------------------------

    def _require_class(self, name: str) -> None:
        if name not in self._classes:
            raise DatasetError(f"there is no class {name!r}")

    def add_class(self, name: str) -> str:
        """Add a class at the end; its cleaned name. Adding a class that exists is an error."""
        name = check_class_name(name)
        if name in self._classes:
            raise DatasetError(f"there is already a class {name!r}")
        self._classes.append(name)
        return name

    def ensure_class(self, name: str) -> str:
        """The class `name`, added at the end when it is not there yet."""
        name = check_class_name(name)
        if name not in self._classes:
            self._classes.append(name)
        return name

    def rename_class(self, old: str, new: str) -> str:
        """Rename a class (its place and its segments stay); the cleaned new name."""
        self._require_class(old)
        new = check_class_name(new)
        if new == old:
            return new
        if new in self._classes:
            raise DatasetError(
                f"there is already a class {new!r}: merge {old!r} into it instead"
            )
        self._classes[self._classes.index(old)] = new
        self._segments = [
            replace(s, label=new) if s.label == old else s for s in self._segments
        ]
        return new

    def merge_classes(self, source: str, target: str) -> int:
        """Give the segments of `source` to `target` and remove `source`; how many moved.

        A segment that `target` already has over the same frames is not kept twice."""
        self._require_class(source)
        self._require_class(target)
        if source == target:
            raise DatasetError(f"cannot merge {source!r} into itself")
        moved = self._rewrite_segments(lambda s: s.label == source,
                                       lambda s: replace(s, label=target))
        self._classes.remove(source)
        return moved

    def delete_class(self, name: str) -> int:
        """Remove a class and its segments; how many segments went with it."""
        self._require_class(name)
        before = len(self._segments)
        self._segments = [s for s in self._segments if s.label != name]
        self._classes.remove(name)
        return before - len(self._segments)

    # --- segments ----------------------------------------------------------------------------

    def add_segment(self, segment: LabelSegment) -> bool:
        """Add a segment of a known class; False when the project already has it."""
        self._require_class(segment.label)
        if segment in self._segments:
            return False
        self._segments.append(segment)
        return True

    def remove_segments(self, segments: Iterable[LabelSegment]) -> int:
        """Remove these segments; how many were there."""
        gone = set(segments)
        before = len(self._segments)
        self._segments = [s for s in self._segments if s not in gone]
        return before - len(self._segments)

    def set_label(self, segment: LabelSegment, label: str) -> LabelSegment:
        """Give `segment` another (known) class; the segment as it is now."""
        self._require_class(label)
        try:
            at = self._segments.index(segment)
        except ValueError as exc:
            raise DatasetError("that segment is not in the project") from exc
        changed = replace(segment, label=label)
        if changed in self._segments and changed != segment:
            del self._segments[at]  # the same frames already carry that class
        else:
            self._segments[at] = changed
        return changed

    # --- videos ------------------------------------------------------------------------------

    def missing_videos(self) -> list[Path]:
        """The videos with segments that are not where the project says (moved or deleted)."""
        return [video for video in self.videos() if not video.is_file()]

    def relocate(self, old: Path | str, new: Path | str) -> int:
        """Point the segments of video `old` at `new` (the same video, moved); how many.

        Segments that `new` already has are not kept twice."""
        old_key, new_key = normalize_video_path(old), normalize_video_path(new)
        return self._rewrite_segments(lambda s: s.video == old_key,
                                      lambda s: replace(s, video=new_key))

    def _rewrite_segments(self, chosen: Callable[[LabelSegment], bool],
                          change: Callable[[LabelSegment], LabelSegment]) -> int:
        """Apply `change` to the `chosen` segments, in place, dropping any that then repeat an
        earlier one; how many were changed."""
        changed = 0
        kept: list[LabelSegment] = []
        seen: set[LabelSegment] = set()
        for segment in self._segments:
            if chosen(segment):
                segment = change(segment)
                changed += 1
            if segment not in seen:
                seen.add(segment)
                kept.append(segment)
        self._segments = kept
        return changed

    # --- reading and writing -----------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | str) -> LabelProject:
        """Read a project file; DatasetError naming the file (and the line or the segment)
        when it cannot be read or is not a label project."""
        path = Path(path)
        if path.is_dir():
            raise DatasetError(f"a label project is a JSON file, not a folder: {path}")
        return cls.from_json(read_text_file(path), path)

    @classmethod
    def from_json(cls, text: str, path: Path | str) -> LabelProject:
        """A project from the text of the file at `path` (which relative videos refer to)."""
        path = Path(path)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"not a label project: bad JSON: {exc.msg} (column {exc.colno})",
                file=path,
                line=exc.lineno,
            ) from exc
        except RecursionError as exc:
            raise DatasetError("not a label project: its JSON is nested too deeply to read",
                               file=path) from exc
        project = cls.from_dict(data, base=normalize_video_path(path).parent, file=path)
        project.path = path
        return project

    @classmethod
    def from_dict(
        cls, data: Any, *, base: Path | None = None, file: Path | None = None
    ) -> LabelProject:
        """A project from parsed JSON. Relative videos are taken relative to `base`; `file`
        is named in errors."""
        if not isinstance(data, dict):
            raise DatasetError("a label project must be a JSON object", file=file)
        version = data.get("version")
        if version != PROJECT_FORMAT_VERSION:
            raise DatasetError(
                f"label project version {version!r} is not supported "
                f"(this program reads version {PROJECT_FORMAT_VERSION})",
                file=file,
            )
        classes = data.get("classes")
        if not isinstance(classes, list) or not all(isinstance(c, str) and c for c in classes):
            raise DatasetError("'classes' must be a list of names", file=file)
        if len(set(classes)) != len(classes):
            raise DatasetError("'classes' lists a name twice", file=file)
        project = cls()
        for name in classes:
            try:
                project.add_class(name)
            except DatasetError as exc:
                raise DatasetError(f"'classes': {exc.reason}", file=file) from exc
        segments = data.get("segments")
        if not isinstance(segments, list):
            raise DatasetError("'segments' must be a list", file=file)
        known = set(project._classes)
        seen: set[LabelSegment] = set()
        for k, entry in enumerate(segments):
            segment = _segment_from_dict(entry, f"segment {k}", base, file)
            if segment.label not in known:
                raise DatasetError(f"segment {k}: unknown class {segment.label!r}", file=file)
            if segment not in seen:  # a file listing a segment twice: keep it once
                seen.add(segment)
                project._segments.append(segment)
        return project

    def to_dict(self, base: Path | None = None) -> dict[str, Any]:
        """The JSON object for this project; videos under `base` as relative paths."""
        base_key = normalize_video_path(base) if base is not None else None
        return {
            "version": PROJECT_FORMAT_VERSION,
            "classes": list(self._classes),
            "segments": [
                {
                    "video": _stored_path(s.video, base_key),
                    "start_frame": s.start_frame,
                    "end_frame": s.end_frame,
                    "label": s.label,
                }
                for s in self._segments
            ],
        }

    def to_json(self, base: Path | None = None) -> str:
        data = self.to_dict(base)
        text = json.dumps(data, indent=2, ensure_ascii=False)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a file name that is not UTF-8: keep it, escaped
            text = json.dumps(data, indent=2)
        return text + "\n"

    def save(self, path: Path | str | None = None) -> Path:
        """Write the project to `path` (or where it was last read from or saved to), atomically:
        the file is complete or keeps its previous content. The project remembers the path."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise DatasetError("the project has no file yet: give a path to save it to")
        atomic_write_text(target, self.to_json(normalize_video_path(target).parent))
        self.path = target
        return target

    # --- for training ------------------------------------------------------------------------

    def to_clip_index(self) -> ClipIndex:
        """The segments as a ClipIndex (label k is classes[k]); all of them, found or not."""
        records = [
            ClipRecord(s.video, self._classes.index(s.label), s.start_frame, s.end_frame)
            for s in self._segments
        ]
        return ClipIndex(records=records, class_names=list(self._classes))

    # --- import ------------------------------------------------------------------------------

    def add_imported(self, imported: ImportedLabels) -> tuple[int, int]:
        """Add the classes (new ones at the end) and segments of an import; (classes added,
        segments added). Segments the project has already are not added twice."""
        classes_before = len(self._classes)
        for name in imported.classes:
            self.ensure_class(name)
        added = sum(self.add_segment(s) for s in imported.segments)
        return len(self._classes) - classes_before, added


def _stored_path(video: Path, base: Path | None) -> str:
    if base is not None and video.is_relative_to(base):
        return video.relative_to(base).as_posix()
    return str(video)


def _segment_from_dict(entry: Any, where: str, base: Path | None, file: Path | None
                       ) -> LabelSegment:
    if not isinstance(entry, dict):
        raise DatasetError(f"{where}: expected an object", file=file)
    missing = [k for k in ("video", "start_frame", "end_frame", "label") if k not in entry]
    if missing:
        raise DatasetError(f"{where}: missing {', '.join(missing)}", file=file)
    video = entry["video"]
    if not isinstance(video, str) or not video:
        raise DatasetError(f"{where}: 'video' must be a path", file=file)
    label = entry["label"]
    if not isinstance(label, str) or not label:
        raise DatasetError(f"{where}: unknown class {label!r}", file=file)
    for key in ("start_frame", "end_frame"):
        value = entry[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise DatasetError(f"{where}: {key} must be an integer, not {value!r}", file=file)
    start, end = entry["start_frame"], entry["end_frame"]
    if start < 0 or end <= start:
        raise DatasetError(
            f"{where}: bad frame range start_frame={start}, end_frame={end}", file=file
        )
    path = Path(video)
    if not path.is_absolute():
        path = (base or Path.cwd()) / video.replace("\\", "/")
    return LabelSegment(path, start, end, label)


def read_project(path: Path | str) -> LabelProject:
    """Read a label project file (`LabelProject.load`): DatasetError names the file and the
    line (bad JSON) or the segment (a bad entry, a class the project does not list)."""
    return LabelProject.load(path)
