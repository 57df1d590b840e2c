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


@pytest.mark.parametrize("row", ["std NaN", "size 20000", "frames 1e5", "NaN weight"])
def test_stmanet_predict_refuses_a_bad_model(row, model, video, tmp_path):
    bad = rewrite_model(model, tmp_path / "bad.safetensors", BAD_MODELS[row])
    before = digests(bad, video)
    proc = run_cli("predict", "--checkpoint", str(bad), "--device", "cpu", "--progress", "none",
                   str(video))
    assert_refused(proc, bad)
    assert b"nan" not in proc.stdout.lower()
    assert digests(bad, video) == before


# ------------------------------------------------------------------------- model files

def test_saved_models_are_readable_by_others_like_every_other_run_file(tmp_path):
    old = os.umask(0o022)
    try:
        path = save_tiny_model(tmp_path / "model.safetensors")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert load_checkpoint(path).metadata.class_names == CLASSES
