"""Label projects: the file format, class management, moved videos, export and import."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from stmanet.data.clips import ClipRecord
from stmanet.data.decode import probe, read_frames
from stmanet.data.project import LabelProject, LabelSegment, read_project
from stmanet.data.project_datasets import export_dataset, import_dataset
from stmanet.data.sources import load_source
from stmanet.errors import Cancelled, DatasetError


def write_video(path: Path, frames: int, *, width: int = 64, height: int = 48) -> Path:
    """Frame k is one flat colour that tells k: red (k % 10), green (k // 10)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (width, height))
    for k in range(frames):
        writer.write(np.full((height, width, 3), colour_of(k)[::-1], dtype=np.uint8))
    writer.release()
    return path


def colour_of(k: int) -> tuple[int, int, int]:
    return ((k % 10) * 25 + 10, (k // 10) * 25 + 10, 128)


def frame_of(rgb: np.ndarray) -> int:
    """The frame number a picture of `write_video` shows."""
    red, green = rgb[..., 0].mean(), rgb[..., 1].mean()
    return round((green - 10) / 25) * 10 + round((red - 10) / 25)


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not really a video")
    return path


def test_a_saved_project_reads_back_the_same(tmp_path: Path) -> None:
    inside = touch(tmp_path / "clips" / "session 1.mp4")
    outside = touch(tmp_path.parent / f"{tmp_path.name}-elsewhere" / "match.mp4")
    project = LabelProject(["serve", "volley"])
    project.add_segment(LabelSegment(inside, 0, 50, "volley"))
    project.add_segment(LabelSegment(outside, 10, 90, "serve"))
    assert not project.add_segment(LabelSegment(inside, 0, 50, "volley"))  # never twice

    path = project.save(tmp_path / "labels.json")
    stored = json.loads(path.read_text())
    assert stored["version"] == 1
    assert stored["classes"] == ["serve", "volley"]
    # under the project's folder: relative (so the folder can move); elsewhere: absolute
    assert [s["video"] for s in stored["segments"]] == ["clips/session 1.mp4", str(outside)]
    assert stored["segments"][0] == {"video": "clips/session 1.mp4", "start_frame": 0,
                                     "end_frame": 50, "label": "volley"}

    again = read_project(path)
    assert again.classes == project.classes
    assert again.segments == project.segments
    assert again.path == path
    # the trainer reads the same file into the same clips
    index = load_source("project", path)
    assert index.class_names == ["serve", "volley"]
    assert index.records == [ClipRecord(inside, 1, 0, 50), ClipRecord(outside, 0, 10, 90)]

    # the whole folder moves: the relative video moves with it
    moved = tmp_path.parent / f"{tmp_path.name}-moved"
    tmp_path.rename(moved)
    try:
        after_move = read_project(moved / "labels.json")
        assert after_move.segments[0].video == moved / "clips" / "session 1.mp4"
        assert after_move.missing_videos() == []
    finally:
        moved.rename(tmp_path)


def test_classes_are_added_renamed_merged_and_deleted(tmp_path: Path) -> None:
    video = tmp_path / "a.mp4"
    project = LabelProject(["jump", "squat", "lunge"])
    for start, label in [(0, "jump"), (20, "squat"), (40, "squat"), (60, "lunge")]:
        project.add_segment(LabelSegment(video, start, start + 10, label))
    with pytest.raises(DatasetError, match="already a class 'jump'"):
        project.add_class(" jump ")
    with pytest.raises(DatasetError, match="cannot be empty"):
        project.add_class("   ")
    with pytest.raises(DatasetError, match="no class 'smash'"):
        project.add_segment(LabelSegment(video, 0, 5, "smash"))

    assert project.rename_class("squat", "  deep squat ") == "deep squat"
    assert project.classes == ("jump", "deep squat", "lunge")  # its place is kept
    assert project.class_counts() == {"jump": 1, "deep squat": 2, "lunge": 1}
    with pytest.raises(DatasetError, match="merge 'jump' into it"):
        project.rename_class("jump", "lunge")

    # a segment over the same frames in both classes is kept once after a merge
    project.add_segment(LabelSegment(video, 60, 70, "jump"))
    assert project.merge_classes("jump", "lunge") == 2
    assert project.classes == ("deep squat", "lunge")
    assert project.class_counts() == {"deep squat": 2, "lunge": 2}

    state = project.state()
    assert project.delete_class("deep squat") == 2
    assert project.classes == ("lunge",)
    assert [s.start_frame for s in project.segments] == [0, 60]
    project.restore(state)  # what undo does
    assert project.class_counts() == {"deep squat": 2, "lunge": 2}


def test_a_failed_save_keeps_the_previous_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "labels.json"
    project = LabelProject(["serve"])
    project.add_segment(LabelSegment(tmp_path / "a.mp4", 0, 10, "serve"))
    project.save(path)
    before = path.read_bytes()

    project.add_segment(LabelSegment(tmp_path / "a.mp4", 20, 30, "serve"))
    real_write_text = Path.write_text

    def half_then_crash(self: Path, text: str, *args: object, **kwargs: object) -> int:
        real_write_text(self, text[: len(text) // 2], *args, **kwargs)  # a torn write...
        raise OSError(28, "No space left on device")  # ...and the disk is full

    monkeypatch.setattr(Path, "write_text", half_then_crash)
    with pytest.raises(OSError, match="No space left"):
        project.save()
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["labels.json"]  # no temporary file left
    assert len(read_project(path)) == 1


@pytest.mark.parametrize(
    ("text", "message", "line"),
    [
        ('{"version": 1, "classes": ["a"],\n "segments": [', "bad JSON", 2),
        ("", "bad JSON", 1),
        ('[1, 2]', "must be a JSON object", None),
        ('{"version": 7, "classes": [], "segments": []}', "version 7 is not supported", None),
        ('{"version": 1, "classes": ["a", "a"], "segments": []}', "lists a name twice", None),
        ('{"version": 1, "classes": ["a"], "segments": [{"video": "v.mp4"}]}',
         "segment 0: missing start_frame, end_frame, label", None),
        ('{"version": 1, "classes": ["a"], "segments": [{"video": "v.mp4", "start_frame": 5,'
         ' "end_frame": 5, "label": "a"}]}', "segment 0: bad frame range", None),
        ('{"version": 1, "classes": ["a"], "segments": [{"video": "v.mp4", "start_frame": 0,'
         ' "end_frame": "9", "label": "a"}]}', "segment 0: end_frame must be an integer", None),
        ('{"version": 1, "classes": ["a"], "segments": [{"video": "v.mp4", "start_frame": 0,'
         ' "end_frame": 9, "label": "b"}]}', "segment 0: unknown class 'b'", None),
    ],
)
def test_a_malformed_project_names_the_file_and_the_place(
    tmp_path: Path, text: str, message: str, line: int | None
) -> None:
    path = tmp_path / "labels.json"
    path.write_text(text)
    with pytest.raises(DatasetError, match=message) as caught:
        read_project(path)
    assert caught.value.file == path
    assert caught.value.line == line
    assert str(path) in str(caught.value)


def test_an_empty_project_is_fine_for_the_labeller_but_not_for_training(tmp_path: Path) -> None:
    path = LabelProject().save(tmp_path / "new.json")
    assert read_project(path).classes == ()
    with pytest.raises(DatasetError, match="no classes"):
        load_source("project", path)
    LabelProject(["a"]).save(path)
    with pytest.raises(DatasetError, match="no labelled segment"):
        load_source("project", path)


def test_moved_videos_are_found_and_relocated(tmp_path: Path) -> None:
    kept = touch(tmp_path / "kept.mp4")
    old = tmp_path / "old" / "match.mp4"
    project = LabelProject(["serve"])
    for start in (0, 30):
        project.add_segment(LabelSegment(old, start, start + 10, "serve"))
    project.add_segment(LabelSegment(kept, 0, 10, "serve"))
    assert project.missing_videos() == [old]

    new = touch(tmp_path / "new" / "match.mp4")
    assert project.relocate(old, new) == 2
    assert project.missing_videos() == []
    assert [s.video for s in project.segments] == [new, new, kept]
    assert project.relocate(tmp_path / "nothing.mp4", new) == 0


@pytest.fixture
def labelled(tmp_path: Path) -> LabelProject:
    """Two videos (60 and 40 frames) with five segments in three classes."""
    first = write_video(tmp_path / "videos" / "session1.mp4", 60)
    second = write_video(tmp_path / "videos" / "session2.mp4", 40, width=80)
    project = LabelProject(["jumping jacks", "squats", "rest"], path=tmp_path / "labels.json")
    for video, start, end, label in [
        (first, 0, 12, "jumping jacks"),
        (first, 20, 35, "squats"),
        (second, 5, 17, "jumping jacks"),
        (second, 20, 30, "squats"),
        (first, 40, 55, "jumping jacks"),
    ]:
        project.add_segment(LabelSegment(video, start, end, label))
    return project


def test_export_cuts_a_clip_per_segment_and_imports_back(labelled: LabelProject,
                                                         tmp_path: Path) -> None:
    seen = []
    out = tmp_path / "dataset"
    result = export_dataset(labelled, out, progress=lambda d, t: seen.append((d, t)))
    assert result.folder == out
    assert result.clips == {"jumping jacks": 3, "squats": 2, "rest": 0}
    assert (out / "classes.txt").read_text().splitlines() == ["jumping jacks", "squats", "rest"]
    clip = out / "squats" / "session1_000020-000034.mp4"
    info = probe(clip)
    assert info.frame_count == 15 and (info.width, info.height) == (64, 48)
    assert info.fps == pytest.approx(25.0)
    frames = read_frames(clip, [0, 14])
    assert [frame_of(f) for f in frames] == [20, 34]  # the segment's own frames
    assert seen[-1] == (64, 64)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left

    # the trainer reads the export as it is...
    index = load_source("folder", out)
    assert index.class_names == ["jumping jacks", "squats", "rest"]
    assert len(index) == 5
    # ...and the labeller imports it back as whole-clip segments
    imported = import_dataset("folder", out)
    assert imported.classes == ["jumping jacks", "squats", "rest"]
    assert imported.skipped == []
    spans = sorted((s.label, s.frame_count) for s in imported.segments)
    originals = sorted((s.label, s.frame_count) for s in labelled.segments)
    assert spans == originals
    assert all(s.start_frame == 0 for s in imported.segments)
    fresh = LabelProject()
    assert fresh.add_imported(imported) == (3, 5)
    assert fresh.add_imported(imported) == (0, 0)  # importing twice adds nothing


def test_ucf_style_lists_round_trip(labelled: LabelProject, tmp_path: Path) -> None:
    out = tmp_path / "ucf"
    result = export_dataset(labelled, out, ucf_lists=True, test_share=0.34)
    lists = out / "ucfTrainTestlist"
    assert (lists / "classInd.txt").read_text().splitlines() == [
        "1 jumping_jacks", "2 squats", "3 rest"]
    train = (lists / "trainlist01.txt").read_text().splitlines()
    test = (lists / "testlist01.txt").read_text().splitlines()
    assert len(train) + len(test) == 5
    assert all(line.endswith((" 1", " 2")) for line in train)
    # a class whose clips come from two videos keeps each video on one side
    jj_test = [line for line in test if line.startswith("jumping_jacks/")]
    assert jj_test == ["jumping_jacks/session2_000005-000016.mp4"]
    assert result.train_list == lists / "trainlist01.txt"

    train_index = load_source("ucf101", out, subset="train")
    test_index = load_source("ucf101", out, subset="test")
    assert train_index.class_names == ["jumping_jacks", "squats", "rest"]
    assert len(train_index) + len(test_index) == 5

    imported = import_dataset("ucf101", out)  # train and test lists together
    assert imported.classes == ["jumping_jacks", "squats", "rest"]
    assert sorted(s.frame_count for s in imported.segments) == sorted(
        s.frame_count for s in labelled.segments)


def test_export_refuses_what_it_cannot_do_well(labelled: LabelProject, tmp_path: Path) -> None:
    busy = tmp_path / "busy"
    touch(busy / "something.txt")
    with pytest.raises(DatasetError, match="empty folder"):
        export_dataset(labelled, busy)

    with pytest.raises(Cancelled):
        export_dataset(labelled, tmp_path / "cancelled", cancelled=lambda: True)
    assert not (tmp_path / "cancelled").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]

    clash = LabelProject(["a/b", "a_b"])
    clash.add_segment(LabelSegment(labelled.segments[0].video, 0, 5, "a/b"))
    with pytest.raises(DatasetError, match="would share the folder 'a_b'"):
        export_dataset(clash, tmp_path / "clash")

    labelled.relocate(labelled.segments[0].video, tmp_path / "gone.mp4")
    with pytest.raises(DatasetError, match="cannot be found"):
        export_dataset(labelled, tmp_path / "missing")
