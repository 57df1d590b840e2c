"""Bad inputs a user can hand the engine: each is refused with one line that names the file,
or handled correctly; never a crash, a traceback, a NaN or a changed input file."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from safetensors.torch import load_file, save_file

from stmanet.config import InputSpec
from stmanet.engine.checkpoint import (
    METADATA_KEY,
    CheckpointMetadata,
    load_checkpoint,
    provenance,
    read_metadata,
    save_checkpoint,
)
from stmanet.errors import CheckpointError, printable_path
from stmanet.models import create_model

CLASSES = ["red", "green"]
SPEC = InputSpec(frames=4, frame_stride=2, size=32)
BAD_NAME = os.fsdecode(b"x\xff.mp4")  # not valid UTF-8: Python holds it as 'x\udcff.mp4'


def write_video(path: Path, frames: int = 24, colour=(40, 40, 220), seed: int = 0) -> Path:
    """A noisy clip with a square of `colour` (BGR) drifting right."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb"):
        pass  # created here: OpenCV cannot take the name itself when it is not UTF-8
    tmp = path.with_name("writing.mp4")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (48, 40))
    for k in range(frames):
        img = rng.integers(60, 120, (40, 48, 3), dtype=np.uint8)
        x = (2 * k) % 38
        img[15:25, x:x + 10] = colour
        writer.write(img)
    writer.release()
    os.replace(tmp, path)
    return path


def save_tiny_model(path: Path) -> Path:
    model = create_model("stmanet_r10", len(CLASSES), width=0.125).eval()
    meta = CheckpointMetadata(model.config, CLASSES, SPEC, provenance("test"))
    return save_checkpoint(path, model, meta)


def digests(*paths: Path) -> dict[Path, str]:
    out = {}
    for p in paths:
        files = sorted(p.rglob("*")) if p.is_dir() else [p]
        for f in files:
            if f.is_file():
                out[f] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stmanet", *args], capture_output=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)


def assert_refused(proc: subprocess.CompletedProcess, names: Path) -> str:
    """Exit code 2, one line on stderr naming the file (printably), no traceback."""
    stderr = proc.stderr.decode("utf-8")
    assert proc.returncode == 2, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert printable_path(names) in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("model") / "model.safetensors")


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "clip.mp4")


# ------------------------------------------------------------------- bad model metadata

def _metadata(key: str, field: str, value) -> Callable[[dict, dict], None]:
    def change(meta: dict, state: dict) -> None:
        meta[key][field] = value
    return change


def _nan_weight(meta: dict, state: dict) -> None:
    name = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[name][0] = float("nan")


def _inf_weight(meta: dict, state: dict) -> None:
    name = next(k for k, v in state.items() if k.endswith(".weight") and v.numel() > 1)
    state[name].view(-1)[-1] = float("inf")


BAD_MODELS = {
    "std NaN": _metadata("input", "std", [float("nan"), 0.2, 0.2]),
    "std zero": _metadata("input", "std", [0.0, 0.2, 0.2]),
    "mean NaN": _metadata("input", "mean", [0.4, float("nan"), 0.4]),
    "two std values": _metadata("input", "std", [0.2, 0.2]),
    "width infinite": _metadata("model", "width", float("inf")),
    "width huge": _metadata("model", "width", 1e6),
    "width 4 (weights of width 0.125)": _metadata("model", "width", 4.0),
    "size 0": _metadata("input", "size", 0),
    "size 20000": _metadata("input", "size", 20000),
    "frames 1e5": _metadata("input", "frames", 1e5),
    "frames 0": _metadata("input", "frames", 0),
    "frames 512 of 1024 pixels": lambda m, s: m["input"].update(frames=512, size=1024),
    "frame stride 0": _metadata("input", "frame_stride", 0),
    "dropout NaN": _metadata("model", "dropout", float("nan")),
    "NaN weight": _nan_weight,
    "infinite weight": _inf_weight,
    "format version from the future": lambda m, s: m.update(format_version=99),
}


def rewrite_model(source: Path, target: Path, change: Callable[[dict, dict], None]) -> Path:
    meta = json.loads(read_metadata(source).to_json())
    state = load_file(str(source))
    change(meta, state)
    save_file(state, str(target), metadata={METADATA_KEY: json.dumps(meta)})
    return target


@pytest.mark.parametrize("row", list(BAD_MODELS))
def test_a_model_with_impossible_metadata_or_weights_is_refused(row, model, tmp_path):
    bad = rewrite_model(model, tmp_path / "bad.safetensors", BAD_MODELS[row])
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(bad)
    assert str(bad) in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize("row", ["std NaN", "size 20000", "frames 1e5", "NaN weight",
                                 "format version from the future"])
def test_stmanet_predict_refuses_a_bad_model(row, model, video, tmp_path):
    bad = rewrite_model(model, tmp_path / "bad.safetensors", BAD_MODELS[row])
    before = digests(bad, video)
    proc = run_cli("predict", "--checkpoint", str(bad), "--device", "cpu", "--progress", "none",
                   str(video))
    assert_refused(proc, bad)
    assert b"nan" not in proc.stdout.lower()
    assert digests(bad, video) == before


def test_a_model_from_a_newer_version_of_the_program_says_so(model, tmp_path):
    bad = rewrite_model(model, tmp_path / "future.safetensors",
                        BAD_MODELS["format version from the future"])
    with pytest.raises(CheckpointError, match=r"future\.safetensors: model file format 99 "
                       r"was written by a newer version .*update the program"):
        read_metadata(bad)


# ------------------------------------------------------------------------- model files

class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo this-must-never-run",))


def _random_bytes(head: bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_bytes(head + np.random.default_rng(1).bytes(4000))
    return write


def _pickle_needing_code(path: Path) -> None:
    import torch

    torch.save({"state_dict": {}, "payload": _RunsCode()}, path)


# A .pth file given to `stmanet import-hara` / --hara: what it is, what the message says
BAD_PTH_FILES = {
    "random bytes after a pickle's first bytes": (_random_bytes(b"\x80\x02"), "not a model file"),
    "random bytes after a protocol-4 pickle's": (_random_bytes(b"\x80\x04"), "not a model file"),
    "random bytes after a zip header": (_random_bytes(b"PK\x03\x04"), "not a model file"),
    "random bytes": (_random_bytes(b"\x13\x37"), "not a PyTorch checkpoint"),
    "a pickle that needs code to load": (_pickle_needing_code, "could run code"),
}


@pytest.mark.parametrize("row", list(BAD_PTH_FILES))
def test_a_pth_that_is_not_a_checkpoint_is_described_as_what_it_is(row, tmp_path):
    from stmanet.engine.checkpoint import read_torch_state_dict

    write, words = BAD_PTH_FILES[row]
    path = tmp_path / "weights.pth"
    write(path)
    with pytest.raises(CheckpointError) as caught:
        read_torch_state_dict(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert words in message
    if words != "could run code":
        assert "run code" not in message



def test_saved_models_are_readable_by_others_like_every_other_run_file(tmp_path):
    old = os.umask(0o022)
    try:
        path = save_tiny_model(tmp_path / "model.safetensors")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert load_checkpoint(path).metadata.class_names == CLASSES


# ------------------------------------------------------- file names that are not UTF-8

@pytest.fixture(scope="module")
def bad_name_folder(tmp_path_factory) -> Path:
    """A folder data set of two classes; one video of each is named x\\xff.mp4."""
    root = tmp_path_factory.mktemp("bad names")
    for c, (name, colour) in enumerate({"red": (40, 40, 220), "green": (40, 200, 40)}.items()):
        for i in range(3):
            write_video(root / name / (BAD_NAME if i == 0 else f"{name}{i}.mp4"), colour=colour,
                        seed=10 * c + i)
    return root


def test_a_file_name_that_is_not_utf8_decodes(bad_name_folder):
    from stmanet.data.decode import probe, read_frames

    path = bad_name_folder / "red" / BAD_NAME
    info = probe(path)
    assert info.frame_count == 24 and (info.width, info.height) == (48, 40)
    assert read_frames(path, [0, 23]).shape == (2, 40, 48, 3)


def test_stmanet_predict_reads_a_file_name_that_is_not_utf8(model, bad_name_folder):
    video = bad_name_folder / "red" / BAD_NAME
    before = digests(video)
    proc = run_cli("predict", "--checkpoint", str(model), "--device", "cpu", "--progress", "none",
                   str(video))
    stderr = proc.stderr.decode("utf-8")
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert printable_path(video).encode() in proc.stdout
    assert b"nan" not in proc.stdout.lower()
    assert digests(video) == before


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_prediction_files_name_a_video_that_is_not_utf8(model, bad_name_folder, tmp_path,
                                                        suffix):
    video = bad_name_folder / "red" / BAD_NAME
    out = tmp_path / f"predictions{suffix}"
    proc = run_cli("predict", "--checkpoint", str(model), "--device", "cpu", "--progress", "none",
                   "--output", str(out), str(video))
    assert proc.returncode == 0, proc.stderr.decode("utf-8")
    text = out.read_text(encoding="utf-8")
    if suffix == ".csv":
        assert text.splitlines()[1].startswith(printable_path(video) + ",")
    else:  # JSON escapes the name and reads back as the very file name
        assert json.loads(text)["predictions"][0]["video"] == str(video)


def test_stmanet_train_and_evaluate_on_a_folder_with_names_that_are_not_utf8(
        bad_name_folder, tmp_path):
    run = tmp_path / "run"
    before = digests(bad_name_folder)
    proc = run_cli("train", "--data", f"folder:{bad_name_folder}", "--model", "stmanet_r10",
                   "--set", "width=0.125", "--frames", "4", "--size", "32", "--batch-size", "6",
                   "--workers", "0", "--device", "cpu", "--epochs", "1", "--output", str(run),
                   "--progress", "none")
    stderr = proc.stderr.decode("utf-8")
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "skipped" not in stderr.lower()
    proc = run_cli("evaluate", str(run / "final.safetensors"), "--data",
                   f"folder:{bad_name_folder}", "--device", "cpu",
                   "--workers", "0", "--progress", "none", "--output-dir", str(tmp_path / "ev"))
    stderr = proc.stderr.decode("utf-8")
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "skipped" not in proc.stdout.decode().lower()
    per_video = (tmp_path / "ev" / "per_video.csv").read_text(encoding="utf-8")
    assert len(per_video.splitlines()) == 1 + 6
    assert printable_path(bad_name_folder / "red" / BAD_NAME) in per_video
    assert digests(bad_name_folder) == before


def test_the_app_imports_labels_of_videos_named_in_bytes_that_are_not_utf8(bad_name_folder):
    from app.services.labels import read_fps
    from stmanet.data.project_datasets import import_dataset

    assert read_fps(bad_name_folder / "red" / BAD_NAME) == pytest.approx(25.0)
    imported = import_dataset("folder", bad_name_folder)
    names = sorted(s.video.name for s in imported.segments)
    assert names.count(BAD_NAME) == 2 and not imported.skipped


def test_a_label_project_naming_a_video_that_is_not_utf8_saves_and_loads(bad_name_folder,
                                                                         tmp_path):
    from stmanet.data.project import LabelProject, LabelSegment

    video = bad_name_folder / "red" / BAD_NAME
    project = LabelProject(classes=["red"], segments=[LabelSegment(video, 0, 10, "red")])
    project.save(tmp_path / "labels.json")
    assert LabelProject.load(tmp_path / "labels.json").segments[0].video == video


def test_a_video_written_under_a_folder_that_is_not_utf8(tmp_path):
    from stmanet.data.decode import probe
    from stmanet.data.synthetic import write_video as write_synthetic

    folder = tmp_path / os.fsdecode(b"d\xfe")
    frames = [np.full((32, 32, 3), 10 * k, np.uint8) for k in range(5)]
    path = write_synthetic(folder / "clip.mp4", frames, fps=25.0)
    assert probe(path).frame_count == 5


# ---------------------------------------------------------------------- truncated files
# (the file, 455 frames claimed: the `truncated` fixture in tests/conftest.py)

def test_probe_counts_the_frames_of_a_truncated_file_not_its_claim(truncated):
    from stmanet.data.decode import probe

    path, decodable = truncated
    info = probe(path)
    assert info.frame_count == decodable and info.claimed_frame_count == 455 and info.truncated


def test_predict_on_a_truncated_file_scores_no_window_past_the_real_end(model, truncated):
    from stmanet.engine.inference import Predictor

    path, decodable = truncated
    before = digests(path)
    result = Predictor(load_checkpoint(model), "cpu").predict(path)
    assert result.windows and max(w.end_frame for w in result.windows) <= decodable
    assert digests(path) == before
