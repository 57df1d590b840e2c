"""Data set sources in their official formats, the clip index, and the torch Dataset."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from stmanet.config import InputSpec
from stmanet.data.clips import (
    ClipDataset,
    ClipIndex,
    ClipRecord,
    SkippedFile,
    ValidationReport,
    test_windows,
)
from stmanet.data.sources import load_source
from stmanet.errors import DatasetError

SMALL = InputSpec(frames=8, frame_stride=2, size=32)  # 16-frame windows: quick to decode


def write_video(path: Path, frames: int, *, width: int = 64, height: int = 48) -> Path:
    """A video whose frame k is one flat colour that tells k, whatever part of it is cropped:
    red (k % 10), green (k // 10)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (width, height))
    for k in range(frames):
        rgb = ((k % 10) * 25 + 10, (k // 10) * 25 + 10, 128)
        writer.write(np.full((height, width, 3), rgb[::-1], dtype=np.uint8))
    writer.release()
    return path


def clip_frame_numbers(clip: torch.Tensor, spec: InputSpec) -> list[int]:
    """Undo normalisation of a (3, T, S, S) clip and read back write_video's frame numbers."""
    std = torch.tensor(spec.std).view(3, 1, 1, 1)
    mean = torch.tensor(spec.mean).view(3, 1, 1, 1)
    colour = ((clip * std + mean) * 255).mean(dim=(2, 3))  # (3, T)
    digits = ((colour[:2] - 10) / 25).round().int()
    return (digits[1] * 10 + digits[0]).tolist()


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"stand-in video")
    return path


def write_lines(path: Path, *lines: str, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(newline.join(lines) + newline, encoding="utf-8")
    return path


# --- UCF-101 -----------------------------------------------------------------------------------


@pytest.fixture
def ucf(tmp_path: Path) -> Path:
    root = tmp_path / "UCF-101"
    lists = root / "ucfTrainTestlist"
    write_lines(
        lists / "classInd.txt",
        "1 ApplyEyeMakeup",
        "2 Basketball",
        "3 HandstandPushups",
        newline="\r\n",  # the official files have Windows line ends
    )
    train = [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1",
        "Basketball/v_Basketball_g08_c01.avi 2",
        "HandstandPushups/v_HandStandPushups_g08_c01.avi 3",
        "Basketball/v_Basketball_g09_c01.avi 2",  # not on disk
    ]
    test = [
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi",
        "HandstandPushups/v_HandStandPushups_g01_c01.avi",
    ]
    write_lines(lists / "trainlist01.txt", *train, newline="\r\n")
    write_lines(lists / "testlist01.txt", *test, newline="\r\n")
    for line in train[:3] + test:
        touch(root / line.split()[0])
    return root


def test_ucf101_train_and_test_lists(ucf: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        index = load_source("ucf101", ucf, split=1, subset="train")
    assert index.class_names == ["ApplyEyeMakeup", "Basketball", "HandstandPushups"]
    assert [(r.path.name, r.label) for r in index.records] == [
        ("v_ApplyEyeMakeup_g08_c01.avi", 0),
        ("v_Basketball_g08_c01.avi", 1),
        ("v_HandStandPushups_g08_c01.avi", 2),
    ]
    assert index.skipped == [
        SkippedFile(ucf / "Basketball/v_Basketball_g09_c01.avi", "file not found")
    ]
    assert "1 of 4 videos" in caplog.text

    test = load_source("ucf101", ucf, annotations=ucf / "ucfTrainTestlist", subset="test")
    assert [r.label for r in test.records] == [0, 2]
    assert test.skipped == []


@pytest.mark.parametrize(
    ("file", "bad_line", "message"),
    [
        ("trainlist01.txt", "Boxing/v_Boxing_g01_c01.avi 1", "unknown class 'Boxing'"),
        ("trainlist01.txt", "Basketball/v_Basketball_g01_c01.avi 99", "bad class number '99'"),
        ("trainlist01.txt", "Basketball/v_Basketball_g01_c01.avi", "missing the class number"),
        ("trainlist01.txt", "Basketball/v_Basketball_g01_c01.avi 1", "disagrees"),
        ("trainlist01.txt", "v_Basketball_g01_c01.avi 2", "expected '<class>/<video file>'"),
        ("classInd.txt", "Basketball", "expected '<number> <class name>'"),
    ],
)
def test_ucf101_malformed_lists_name_file_and_line(
    ucf: Path, file: str, bad_line: str, message: str
) -> None:
    path = ucf / "ucfTrainTestlist" / file
    lines = path.read_text().splitlines()
    lines.insert(1, bad_line)
    write_lines(path, *lines)
    with pytest.raises(DatasetError, match=message) as caught:
        load_source("ucf101", ucf)
    assert caught.value.file == path
    assert caught.value.line == 2
    assert f"{path}:2:" in str(caught.value)


def test_split_and_subset_are_checked(ucf: Path) -> None:
    with pytest.raises(DatasetError, match="split must be 1, 2 or 3"):
        load_source("ucf101", ucf, split=4)
    with pytest.raises(DatasetError, match="subset"):
        load_source("ucf101", ucf, subset="val")
    with pytest.raises(DatasetError, match="file not found") as caught:
        load_source("ucf101", ucf, split=2)
    assert caught.value.file == ucf / "ucfTrainTestlist" / "trainlist02.txt"
    with pytest.raises(DatasetError, match="unknown data set kind"):
        load_source("kinetics", ucf)


def test_nothing_left_is_an_error(ucf: Path) -> None:
    for video in ucf.rglob("*.avi"):
        video.unlink()
    with pytest.raises(DatasetError, match="none of the 4 videos"):
        load_source("ucf101", ucf)


# --- HMDB-51 -----------------------------------------------------------------------------------


@pytest.fixture
def hmdb(tmp_path: Path) -> Path:
    root = tmp_path / "hmdb51"
    splits = root / "testTrainMulti_7030_splits"
    write_lines(splits / "brush_hair_test_split1.txt", "a.avi 1 ", "b.avi 2 ", "c.avi 0 ")
    write_lines(splits / "clap_test_split1.txt", "d.avi 1 ", "e.avi 1 ", "f.avi 2 ")
    write_lines(splits / "clap_test_split2.txt", "d.avi 2 ")
    for name in "abc":
        touch(root / "brush_hair" / f"{name}.avi")
    for name in "df":
        touch(root / "clap" / f"{name}.avi")
    return root


def test_hmdb51_subsets(hmdb: Path) -> None:
    train = load_source("hmdb51", hmdb, split=1, subset="train")
    assert train.class_names == ["brush_hair", "clap"]
    assert [(r.path.name, r.label) for r in train.records] == [("a.avi", 0), ("d.avi", 1)]
    assert [s.path.name for s in train.skipped] == ["e.avi"]
    test = load_source("hmdb51", hmdb, split=1, subset="test")
    assert [(r.path.name, r.label) for r in test.records] == [("b.avi", 0), ("f.avi", 1)]
    assert test.records[0].path == hmdb / "brush_hair" / "b.avi"


@pytest.mark.parametrize(
    ("bad_line", "message"), [("g.avi 3", "bad subset id '3'"), ("g.avi", "expected")]
)
def test_hmdb51_malformed_lines(hmdb: Path, bad_line: str, message: str) -> None:
    path = hmdb / "testTrainMulti_7030_splits" / "clap_test_split1.txt"
    write_lines(path, "d.avi 1", "e.avi 1", bad_line)
    with pytest.raises(DatasetError, match=message) as caught:
        load_source("hmdb51", hmdb)
    assert (caught.value.file, caught.value.line) == (path, 3)


def test_hmdb51_without_split_files(tmp_path: Path) -> None:
    (tmp_path / "clap").mkdir()
    with pytest.raises(DatasetError, match="HMDB-51 split files"):
        load_source("hmdb51", tmp_path, split=3)


# --- Diving48 ----------------------------------------------------------------------------------


@pytest.fixture
def diving(tmp_path: Path) -> Path:
    root = tmp_path / "Diving48"
    vocab = [
        ["Back", "15som", "05Twis", "FREE"],
        ["Forward", "25som", "NoTwis", "PIKE"],
        ["Inward", "35som", "NoTwis", "TUCK"],
    ]
    (root / "Diving48_vocab.json").parent.mkdir(parents=True)
    (root / "Diving48_vocab.json").write_text(json.dumps(vocab))
    train = [
        {"vid_name": "clipA_00001", "label": 2, "start_frame": 0, "end_frame": 40},
        {"vid_name": "clipB_00002", "label": 0, "start_frame": 5, "end_frame": 30},
        {"vid_name": "gone_00003", "label": 1, "start_frame": 0, "end_frame": 30},
    ]
    (root / "Diving48_V2_train.json").write_text(json.dumps(train, indent=1))
    (root / "Diving48_V2_test.json").write_text(json.dumps(train[:1]))
    touch(root / "rgb" / "clipA_00001.mp4")
    touch(root / "rgb" / "clipB_00002.mp4")
    return root


def test_diving48(diving: Path) -> None:
    index = load_source("diving48", diving)
    assert index.class_names[0] == "Back / 15som / 05Twis / FREE"
    assert len(index.class_names) == 3
    assert index.records == [
        ClipRecord(diving / "rgb" / "clipA_00001.mp4", 2, 0, 40),
        ClipRecord(diving / "rgb" / "clipB_00002.mp4", 0, 5, 30),
    ]
    assert [s.path.name for s in index.skipped] == ["gone_00003.mp4"]
    assert len(load_source("diving48", diving, subset="test")) == 1


def test_diving48_malformed(diving: Path) -> None:
    train = diving / "Diving48_V2_train.json"
    train.write_text('[\n{"vid_name": "clipA_00001", "label": 2},\n{"vid_name": }\n]')
    with pytest.raises(DatasetError, match="bad JSON") as caught:
        load_source("diving48", diving)
    assert (caught.value.file, caught.value.line) == (train, 3)

    train.write_text(json.dumps([{"vid_name": "clipA_00001", "label": 3}]))
    with pytest.raises(DatasetError, match=r"entry 0: label 3 out of range \(0 to 2\)"):
        load_source("diving48", diving)
    train.write_text(json.dumps([{"vid_name": "clipA_00001"}]))
    with pytest.raises(DatasetError, match="entry 0: missing label"):
        load_source("diving48", diving)
    (diving / "Diving48_vocab.json").write_text(json.dumps([["Back", "15som"]]))
    with pytest.raises(DatasetError, match=r"takeoff, somersault, twist, flight"):
        load_source("diving48", diving)


# --- folders and label projects ----------------------------------------------------------------


def test_folder_of_class_folders(tmp_path: Path) -> None:
    touch(tmp_path / "squat" / "s1.mp4")
    touch(tmp_path / "jump" / "j1.MOV")
    touch(tmp_path / "jump" / "j2.webm")
    touch(tmp_path / "jump" / "notes.txt")
    (tmp_path / "empty_class").mkdir()
    index = load_source("folder", tmp_path)
    assert index.class_names == ["empty_class", "jump", "squat"]
    assert [(r.path.name, r.label) for r in index.records] == [
        ("j1.MOV", 1),
        ("j2.webm", 1),
        ("s1.mp4", 2),
    ]
    write_lines(tmp_path / "classes.txt", "squat", "jump", "empty_class")
    ordered = load_source("folder", tmp_path)
    assert ordered.class_names == ["squat", "jump", "empty_class"]
    assert [r.label for r in ordered.records] == [0, 1, 1]
    write_lines(tmp_path / "classes.txt", "squat")
    with pytest.raises(DatasetError, match="not listed as classes: jump"):
        load_source("folder", tmp_path)
    write_lines(tmp_path / "classes.txt", "squat", "jump", "squat")
    with pytest.raises(DatasetError, match="listed twice") as caught:
        load_source("folder", tmp_path)
    assert caught.value.line == 3


def test_label_project(tmp_path: Path) -> None:
    video = touch(tmp_path / "clips" / "session1.mp4")
    elsewhere = touch(tmp_path / "other" / "session2.mp4")
    project = {
        "version": 1,
        "classes": ["serve", "volley"],
        "segments": [
            {"video": "clips/session1.mp4", "start_frame": 0, "end_frame": 50, "label": "volley"},
            {"video": str(elsewhere), "start_frame": 10, "end_frame": 90, "label": "serve"},
            {"video": "clips/lost.mp4", "start_frame": 0, "end_frame": 9, "label": "serve"},
        ],
    }
    path = tmp_path / "project.json"
    path.write_text(json.dumps(project))
    index = load_source("project", path)
    assert index.class_names == ["serve", "volley"]
    assert index.records == [ClipRecord(video, 1, 0, 50), ClipRecord(elsewhere, 0, 10, 90)]
    assert [s.path.name for s in index.skipped] == ["lost.mp4"]

    project["segments"][1]["label"] = "smash"
    path.write_text(json.dumps(project))
    with pytest.raises(DatasetError, match="segment 1: unknown class 'smash'"):
        load_source("project", path)
    project["segments"][1].update(label="serve", end_frame=5)
    path.write_text(json.dumps(project))
    with pytest.raises(DatasetError, match="segment 1: bad frame range"):
        load_source("project", path)
    path.write_text(json.dumps({**project, "version": 2}))
    with pytest.raises(DatasetError, match="version 2 is not supported") as caught:
        load_source("project", path)
    assert caught.value.file == path


# --- clip index, validation and the Dataset ----------------------------------------------------


@pytest.fixture(scope="module")
def clip_videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("clips")
    out = {
        "long": write_video(root / "long.mp4", 100),
        "short": write_video(root / "short.mp4", 12),
        "wide": write_video(root / "wide.mp4", 40, width=96, height=48),
    }
    out["noise"] = root / "noise.mp4"
    out["noise"].write_bytes(np.random.default_rng(0).bytes(3000))
    out["empty"] = root / "empty.avi"
    out["empty"].write_bytes(b"")
    return out


def _index(videos: dict[str, Path], *names: str) -> ClipIndex:
    return ClipIndex([ClipRecord(videos[n], k % 2) for k, n in enumerate(names)], ["a", "b"])


def test_clip_index_json_round_trip(tmp_path: Path) -> None:
    index = ClipIndex(
        records=[ClipRecord(Path("/v/a.mp4"), 0), ClipRecord(Path("rel/b.avi"), 1, 10, 74)],
        class_names=["walk", "run"],
        frame_counts={"/v/a.mp4": 120},
        skipped=[SkippedFile(Path("/v/c.mp4"), "file not found")],
    )
    again = ClipIndex.from_json(index.to_json())
    assert again == index
    index.save(tmp_path / "index.json")
    assert ClipIndex.load(tmp_path / "index.json") == index
    (tmp_path / "bad.json").write_text('{"version": 1,\n "records": [}')
    with pytest.raises(DatasetError, match="not valid JSON") as caught:
        ClipIndex.load(tmp_path / "bad.json")
    assert (caught.value.file, caught.value.line) == (tmp_path / "bad.json", 2)
    with pytest.raises(DatasetError, match="label 2 but there are only 2 classes"):
        ClipIndex([ClipRecord(Path("x.mp4"), 2)], ["a", "b"])


def test_validate_skips_bad_files_and_says_so(
    clip_videos: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    index = _index(clip_videos, "long", "noise", "short", "empty", "long")
    calls = []
    with caplog.at_level(logging.WARNING):
        report = index.validate(progress=lambda done, total: calls.append((done, total)))
    assert (report.files_checked, report.records_checked, report.records_kept) == (4, 5, 3)
    assert report.records_dropped == 2
    assert {b.path for b in report.bad_files} == {clip_videos["noise"], clip_videos["empty"]}
    assert all(b.reason for b in report.bad_files)
    assert "2 of 4 videos could not be used" in caplog.text
    assert [r.path.name for r in index.records] == ["long.mp4", "short.mp4", "long.mp4"]
    assert index.frame_counts[str(clip_videos["long"])] == 100
    assert len(index.skipped) == 2
    assert calls[-1] == (4, 4)
    assert ValidationReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report

    with pytest.raises(DatasetError, match="no usable clip"):
        _index(clip_videos, "noise", "empty").validate()


def test_dataset_train_clips(clip_videos: dict[str, Path]) -> None:
    index = _index(clip_videos, "long", "short", "wide")
    dataset = ClipDataset(index, SMALL, train=True, seed=1)
    assert len(dataset) == 3
    clip, label = dataset[0]
    assert clip.shape == (3, 8, 32, 32) and clip.dtype == torch.float32
    assert label == 0
    numbers = clip_frame_numbers(clip, SMALL)
    assert np.all(np.diff(numbers) == 2)  # a strided run of consecutive frames
    again, _ = ClipDataset(index, SMALL, train=True, seed=1)[0]
    assert torch.equal(clip, again)  # same seed, same epoch: same clip
    dataset.set_epoch(1)
    assert not torch.equal(dataset[0][0], clip)  # a new epoch draws anew
    short, label = dataset[1]
    assert label == 1
    assert clip_frame_numbers(short, SMALL) == [k % 12 for k in range(0, 16, 2)]


def test_dataset_segments_stay_inside_their_range(clip_videos: dict[str, Path]) -> None:
    index = ClipIndex([ClipRecord(clip_videos["long"], 0, 40, 50)], ["a"])
    dataset = ClipDataset(index, SMALL, train=True)
    for epoch in range(3):
        dataset.set_epoch(epoch)
        numbers = clip_frame_numbers(dataset[0][0], SMALL)
        assert numbers == [40 + k % 10 for k in range(0, 16, 2)]  # 10 frames: looped
    val = ClipDataset(
        ClipIndex([ClipRecord(clip_videos["long"], 0, 20, 60)], ["a"]), SMALL, train=False
    )
    assert clip_frame_numbers(val[0][0], SMALL) == list(range(32, 48, 2))  # the middle window


def test_dataset_replaces_a_bad_file_and_reports_it(
    clip_videos: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    index = _index(clip_videos, "long", "noise", "short")  # not validated
    dataset = ClipDataset(index, SMALL, train=True, seed=3)
    with caplog.at_level(logging.WARNING):
        clip, label = dataset[1]
    assert clip.shape == (3, 8, 32, 32)
    assert "noise.mp4" in caplog.text
    assert list(dataset.failed) == [1]
    other = ClipDataset(index, SMALL, train=True, seed=3)[1]  # the same replacement each time
    assert torch.equal(other[0], clip) and other[1] == label
    with pytest.raises(DatasetError, match="could not be loaded"):
        ClipDataset(_index(clip_videos, "noise", "empty"), SMALL, train=True, max_retries=3)[0]


def test_dataloader_workers_see_the_same_clips_and_the_epoch(
    clip_videos: dict[str, Path],
) -> None:
    index = _index(clip_videos, "long", "wide")
    dataset = ClipDataset(index, SMALL, train=True, seed=5)
    loader = DataLoader(dataset, batch_size=2, num_workers=1, persistent_workers=True)
    for epoch in (0, 1):
        dataset.set_epoch(epoch)
        (batch, labels) = next(iter(loader))
        expected = torch.stack([dataset[0][0], dataset[1][0]])
        assert torch.equal(batch, expected)
        assert labels.tolist() == [0, 1]
        if epoch == 0:
            first = batch
    assert not torch.equal(first, batch)


def test_test_windows_follow_the_protocol(clip_videos: dict[str, Path]) -> None:
    windows = test_windows(ClipRecord(clip_videos["long"], 0), SMALL)
    # 100 frames in 16-frame windows: 6 whole ones and a last one ending at the last frame
    assert windows.shape == (7, 3, 8, 32, 32)
    assert clip_frame_numbers(windows[5], SMALL) == list(range(80, 96, 2))
    assert clip_frame_numbers(windows[6], SMALL) == list(range(84, 100, 2))
    segment = test_windows(ClipRecord(clip_videos["long"], 0, 50, 76), SMALL, frame_count=100)
    assert segment.shape == (2, 3, 8, 32, 32)  # 26 frames: 50-66 and 60-76, inside the segment
    assert clip_frame_numbers(segment[1], SMALL) == list(range(60, 76, 2))
    wide = test_windows(ClipRecord(clip_videos["wide"], 0), SMALL)  # 96 x 48: centre square
    assert wide.shape == (3, 3, 8, 32, 32)
