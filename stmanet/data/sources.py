"""Data set sources: the official split files of UCF-101, HMDB-51 and Diving48, a folder of
class folders, and label projects, each read into one ClipIndex.

Malformed description files raise DatasetError naming the file, the line (or entry) and what
is wrong. Videos that a description lists but that are not on disk are left out, counted in
ClipIndex.skipped and logged; only a data set with nothing left is an error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from stmanet.data.clips import ClipIndex, ClipRecord, SkippedFile
from stmanet.data.project import read_project
from stmanet.errors import DatasetError
from stmanet.fileio import read_text_file

log = logging.getLogger(__name__)

SOURCE_KINDS = ("ucf101", "hmdb51", "diving48", "folder", "project")
SUBSETS = ("train", "test")
SPLITS = (1, 2, 3)
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")


def load_source(
    kind: str,
    root: Path | str,
    *,
    annotations: Path | str | None = None,
    split: int = 1,
    subset: str = "train",
) -> ClipIndex:
    """Read a data set into a ClipIndex.

    kind: "ucf101" (root: the folder of class folders; annotations: the folder with
    classInd.txt and the train/test lists, by default root/ucfTrainTestlist or root),
    "hmdb51" (root: the folder of class folders; annotations: the folder of
    <class>_test_split<N>.txt files, by default root/testTrainMulti_7030_splits or root),
    "diving48" (root: the folder holding rgb/<vid_name>.mp4; annotations: the folder with
    Diving48_V2_{train,test}.json and Diving48_vocab.json, by default root),
    "folder" (root/<class>/<video>; classes sorted, or in the order of root/classes.txt), or
    "project" (root: a label project JSON file).
    split (1-3) is used by ucf101 and hmdb51, subset ("train" or "test") by the three
    official data sets; folders and projects ignore both.
    """
    root = Path(root)
    annotation_dir = Path(annotations) if annotations is not None else None
    if kind not in SOURCE_KINDS:
        raise DatasetError(
            f"unknown data set kind {kind!r}; choose one of {', '.join(SOURCE_KINDS)}"
        )
    if kind in ("ucf101", "hmdb51") and split not in SPLITS:
        raise DatasetError(f"split must be 1, 2 or 3 for {kind}, not {split}")
    if kind in ("ucf101", "hmdb51", "diving48") and subset not in SUBSETS:
        raise DatasetError(f"subset must be 'train' or 'test', not {subset!r}")
    if kind != "project" and not root.is_dir():
        raise DatasetError(f"video folder not found: {root}")
    if kind == "ucf101":
        return _load_ucf101(root, annotation_dir, split, subset)
    if kind == "hmdb51":
        return _load_hmdb51(root, annotation_dir, split, subset)
    if kind == "diving48":
        return _load_diving48(root, annotation_dir, subset)
    if kind == "folder":
        return _load_folder(root)
    return _load_project(root)


# --- reading description files ---------------------------------------------------------------


def _read_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, stripped text) of the non-blank lines of a text file."""
    text = read_text_file(path)
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _read_json(path: Path) -> Any:
    text = read_text_file(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"bad JSON: {exc.msg} (column {exc.colno})", file=path, line=exc.lineno
        ) from exc
    except RecursionError as exc:
        raise DatasetError("bad JSON: nested too deeply to read", file=path) from exc


def _pick_folder(candidates: Iterable[Path], marker: str, what: str) -> Path:
    """The first candidate folder that holds a file matching `marker` (a glob)."""
    tried = []
    for folder in candidates:
        tried.append(str(folder))
        if folder.is_dir() and any(folder.glob(marker)):
            return folder
    raise DatasetError(f"{what} not found (looked for {marker} in {', '.join(tried)})")


def _keep_existing(
    records: list[ClipRecord], class_names: list[str], listed_in: Path | str
) -> ClipIndex:
    """A ClipIndex of the records whose video exists; the rest counted as skipped."""
    exists: dict[Path, bool] = {}
    kept = []
    for record in records:
        if record.path not in exists:
            exists[record.path] = record.path.is_file()
        if exists[record.path]:
            kept.append(record)
    missing = [SkippedFile(p, "file not found") for p, ok in exists.items() if not ok]
    if records and not kept:
        example = missing[0].path if missing else "?"
        raise DatasetError(
            f"none of the {len(exists)} videos listed in {listed_in} exist "
            f"(for example {example}); is the video folder right?"
        )
    if missing:
        log.warning(
            "%d of %d videos listed in %s are missing and left out (first: %s)",
            len(missing),
            len(exists),
            listed_in,
            missing[0].path,
        )
    if not kept:
        raise DatasetError(f"no video listed in {listed_in}")
    return ClipIndex(records=kept, class_names=class_names, skipped=missing)


def _int_field(value: Any, name: str, file: Path, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DatasetError(f"{where}: {name} must be an integer, not {value!r}", file=file)
    return value


# --- UCF-101 ---------------------------------------------------------------------------------


def _load_ucf101(root: Path, annotations: Path | None, split: int, subset: str) -> ClipIndex:
    folder = annotations or _pick_folder(
        [root / "ucfTrainTestlist", root.parent / "ucfTrainTestlist", root],
        "classInd.txt",
        "UCF-101 split files (classInd.txt, trainlist01.txt, ...)",
    )
    class_file = folder / "classInd.txt"
    class_names: list[str] = []
    for line_no, line in _read_lines(class_file):
        parts = line.split()
        if len(parts) != 2:
            raise DatasetError(
                f"expected '<number> <class name>', got {line!r}", file=class_file, line=line_no
            )
        if not parts[0].isdigit() or int(parts[0]) != len(class_names) + 1:
            raise DatasetError(
                f"class number {parts[0]!r} out of sequence (expected {len(class_names) + 1})",
                file=class_file,
                line=line_no,
            )
        if parts[1] in class_names:
            raise DatasetError(f"class {parts[1]!r} listed twice", file=class_file, line=line_no)
        class_names.append(parts[1])
    if not class_names:
        raise DatasetError("no class listed", file=class_file)
    by_name = {name: k for k, name in enumerate(class_names)}
    by_lower = {name.lower(): k for k, name in enumerate(class_names)}

    list_file = folder / f"{subset}list0{split}.txt"
    records = []
    for line_no, line in _read_lines(list_file):
        parts = line.split()
        video = parts[0]
        class_part = video.replace("\\", "/").split("/")[0] if "/" in video or "\\" in video else ""
        if not class_part:
            raise DatasetError(
                f"expected '<class>/<video file>', got {video!r}", file=list_file, line=line_no
            )
        folder_label = by_name.get(class_part, by_lower.get(class_part.lower()))
        if folder_label is None:
            raise DatasetError(
                f"unknown class {class_part!r} (not in {class_file.name})",
                file=list_file,
                line=line_no,
            )
        if subset == "train":
            if len(parts) != 2:
                what = "missing the class number" if len(parts) == 1 else "too many columns"
                raise DatasetError(
                    f"{what}: expected '<class>/<video file> <class number>', got {line!r}",
                    file=list_file,
                    line=line_no,
                )
            if not parts[1].isdigit() or not 1 <= int(parts[1]) <= len(class_names):
                raise DatasetError(
                    f"bad class number {parts[1]!r} (must be 1 to {len(class_names)})",
                    file=list_file,
                    line=line_no,
                )
            if int(parts[1]) - 1 != folder_label:
                raise DatasetError(
                    f"class number {parts[1]} ({class_names[int(parts[1]) - 1]}) disagrees "
                    f"with the folder {class_part!r}",
                    file=list_file,
                    line=line_no,
                )
        elif len(parts) > 2:
            raise DatasetError(
                f"too many columns: expected '<class>/<video file> [class number]', got {line!r}",
                file=list_file,
                line=line_no,
            )
        records.append(ClipRecord(root / video.replace("\\", "/"), folder_label))
    return _keep_existing(records, class_names, list_file)


# --- HMDB-51 ---------------------------------------------------------------------------------

_HMDB_SUBSET_IDS = {"train": 1, "test": 2}


def _load_hmdb51(root: Path, annotations: Path | None, split: int, subset: str) -> ClipIndex:
    suffix = f"_test_split{split}.txt"
    folder = annotations or _pick_folder(
        [
            root / "testTrainMulti_7030_splits",
            root.parent / "testTrainMulti_7030_splits",
            root,
        ],
        f"*{suffix}",
        "HMDB-51 split files (<class>_test_split<N>.txt)",
    )
    split_files = sorted(folder.glob(f"*{suffix}"))
    if not split_files:
        raise DatasetError(f"no HMDB-51 split files *{suffix} in {folder}")
    class_names = sorted(f.name[: -len(suffix)] for f in split_files)
    by_name = {name: k for k, name in enumerate(class_names)}
    wanted = _HMDB_SUBSET_IDS[subset]
    records = []
    for split_file in split_files:
        class_name = split_file.name[: -len(suffix)]
        for line_no, line in _read_lines(split_file):
            parts = line.split()
            if len(parts) != 2:
                raise DatasetError(
                    f"expected '<video file> <0, 1 or 2>', got {line!r}",
                    file=split_file,
                    line=line_no,
                )
            if parts[1] not in ("0", "1", "2"):
                raise DatasetError(
                    f"bad subset id {parts[1]!r} (0 = unused, 1 = train, 2 = test)",
                    file=split_file,
                    line=line_no,
                )
            if int(parts[1]) == wanted:
                records.append(ClipRecord(root / class_name / parts[0], by_name[class_name]))
    return _keep_existing(records, class_names, folder)


# --- Diving48 --------------------------------------------------------------------------------


def _load_diving48(root: Path, annotations: Path | None, subset: str) -> ClipIndex:
    folder = annotations or _pick_folder(
        [root, root / "annotations", root.parent / "annotations"],
        "Diving48_V2_*.json",
        "Diving48 annotation files (Diving48_V2_train.json, Diving48_vocab.json)",
    )
    vocab_file = folder / "Diving48_vocab.json"
    vocab = _read_json(vocab_file)
    if not isinstance(vocab, list) or not vocab:
        raise DatasetError("expected a non-empty JSON list of class descriptions", file=vocab_file)
    class_names = []
    for k, entry in enumerate(vocab):
        if (
            not isinstance(entry, list)
            or len(entry) != 4
            or not all(isinstance(part, str) for part in entry)
        ):
            raise DatasetError(
                f"entry {k}: expected [takeoff, somersault, twist, flight], got {entry!r}",
                file=vocab_file,
            )
        class_names.append(" / ".join(entry))
    if len(set(class_names)) != len(class_names):
        raise DatasetError("two classes have the same description", file=vocab_file)

    list_file = folder / f"Diving48_V2_{subset}.json"
    entries = _read_json(list_file)
    if not isinstance(entries, list):
        raise DatasetError("expected a JSON list of clips", file=list_file)
    records = []
    for k, entry in enumerate(entries):
        where = f"entry {k}"
        if not isinstance(entry, dict):
            raise DatasetError(f"{where}: expected an object, got {entry!r}", file=list_file)
        missing = [key for key in ("vid_name", "label") if key not in entry]
        if missing:
            raise DatasetError(f"{where}: missing {', '.join(missing)}", file=list_file)
        name = entry["vid_name"]
        if not isinstance(name, str) or not name:
            raise DatasetError(f"{where}: vid_name must be a non-empty string", file=list_file)
        label = _int_field(entry["label"], "label", list_file, where)
        if not 0 <= label < len(class_names):
            raise DatasetError(
                f"{where}: label {label} out of range (0 to {len(class_names) - 1})",
                file=list_file,
            )
        start = _int_field(entry.get("start_frame", 0), "start_frame", list_file, where)
        end_value = entry.get("end_frame")
        end = None if end_value is None else _int_field(end_value, "end_frame", list_file, where)
        if start < 0 or (end is not None and end <= start):
            raise DatasetError(
                f"{where}: bad frame range start_frame={start}, end_frame={end}", file=list_file
            )
        records.append(ClipRecord(root / "rgb" / f"{name}.mp4", label, start, end))
    return _keep_existing(records, class_names, list_file)


# --- a folder of class folders ---------------------------------------------------------------


def _is_video(path: Path) -> bool:
    return (
        path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS and not path.name.startswith(".")
    )


def _load_folder(root: Path) -> ClipIndex:
    folders = {p.name: p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    classes_file = root / "classes.txt"
    if classes_file.is_file():
        class_names: list[str] = []
        for line_no, line in _read_lines(classes_file):
            if line in class_names:
                raise DatasetError(f"class {line!r} listed twice", file=classes_file, line=line_no)
            class_names.append(line)
        unlisted = sorted(
            name
            for name, p in folders.items()
            if name not in class_names and any(_is_video(f) for f in p.iterdir())
        )
        if unlisted:
            raise DatasetError(
                f"folders with videos that are not listed as classes: {', '.join(unlisted)} "
                "(add them or move them away)",
                file=classes_file,
            )
        for name in class_names:
            if name not in folders:
                log.warning("%s: class %r has no folder, so no video", classes_file, name)
    else:
        class_names = sorted(folders)
    records = []
    for label, name in enumerate(class_names):
        if name not in folders:
            continue
        videos = sorted(p for p in folders[name].iterdir() if _is_video(p))
        records.extend(ClipRecord(video, label) for video in videos)
    if not records:
        raise DatasetError(
            f"no videos ({', '.join(VIDEO_EXTENSIONS)}) found in the class folders of {root}"
        )
    return ClipIndex(records=records, class_names=class_names)


# --- label projects --------------------------------------------------------------------------


def _load_project(project_file: Path) -> ClipIndex:
    project = read_project(project_file)  # the one reader, shared with the app's labeller
    if not project.classes:
        raise DatasetError("the project has no classes", file=project_file)
    if not project.segments:
        raise DatasetError("the project has no labelled segment", file=project_file)
    records = project.to_clip_index().records
    return _keep_existing(records, list(project.classes), project_file)
