"""`stmanet` given bad inputs and outputs that cannot be written: each is refused (or, for a
failure part way, reported) with one line naming the file, the right exit code, no traceback,
no NaN, and the input files left as they were."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest

from stmanet.cli import main

REPO = Path(__file__).resolve().parents[2]
TINY = ["--model", "stmanet_r10", "--set", "width=0.125", "--frames", "4", "--size", "32",
        "--workers", "0", "--device", "cpu", "--epochs", "1"]
COLOURS = {"red": (40, 40, 220), "green": (40, 200, 40)}  # BGR

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def write_clip(path: Path, colour: tuple[int, int, int], frames: int = 24) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(path)))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (48, 40))
    for _ in range(frames):
        img = np.clip(np.array(colour) + rng.normal(0, 20, (40, 48, 3)), 0, 255)
        writer.write(img.astype(np.uint8))
    writer.release()
    return path


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """A workspace of inputs, good and bad, shared by the rows."""
    from stmanet.config import InputSpec
    from stmanet.engine.checkpoint import CheckpointMetadata, provenance, save_checkpoint
    from stmanet.models import create_model

    root = tmp_path_factory.mktemp("ws")
    for name, colour in COLOURS.items():
        for i in range(2):
            write_clip(root / "data" / name / f"{name}{i}.mp4", colour)
    write_clip(root / "oneclass" / "red" / "r0.mp4", COLOURS["red"])
    write_clip(root / "oneclass" / "red" / "r1.mp4", COLOURS["red"])
    write_clip(root / "oneclip" / "red" / "r0.mp4", COLOURS["red"])
    for i in range(2):
        write_clip(root / "batch" / f"good{i}.mp4", COLOURS["green"])
    (root / "batch" / "bad.mp4").write_bytes(os.urandom(4000))

    import torch

    torch.manual_seed(0)
    model = create_model("stmanet_r10", 2, width=0.125)
    meta = CheckpointMetadata(model.config, ["green", "red"],
                              InputSpec(frames=4, frame_stride=1, size=32),
                              provenance("test", note="random weights"))
    save_checkpoint(root / "model.safetensors", model, meta)

    (root / "a_file").write_text("not a folder\n")
    (root / "a_folder.csv").mkdir()
    (root / "a_folder.mp4").mkdir()
    (root / "a_folder.safetensors").mkdir()
    (root / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (root / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (root / "dup.txt").write_text("serve\nvolley\nserve\n")
    os.mkfifo(root / "pipe.json")
    video = str(root / "data" / "red" / "red0.mp4")
    (root / "future.json").write_text(json.dumps(
        {"version": 2, "classes": ["a", "b"], "segments": []}))
    (root / "dupclasses.json").write_text(json.dumps(
        {"version": 1, "classes": ["a", "b", "a"],
         "segments": [{"video": video, "start_frame": 0, "end_frame": 10, "label": "a"}]}))
    return root


def snapshot(root: Path) -> dict[str, str]:
    """Digest of every regular file under root (a FIFO is not opened)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_fifo():
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def run_cli(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "stmanet", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@dataclass
class Row:
    name: str
    args: list[str]  # {ws} is replaced by the workspace folder
    code: int
    names: str  # the file the error line must name, {ws}-relative
    says: str = ""  # a part of the explanation
    error_lines: int = 1
    written: list[str] = field(default_factory=list)  # outputs that must not appear


ROWS = [
    # outputs that cannot be written: refused before any work
    Row("predict into a folder under a file",
        ["predict", "{ws}/data/red/red0.mp4", "--checkpoint", "{ws}/model.safetensors",
         "-o", "{ws}/a_file/out.csv", "--device", "cpu"], 2, "{ws}/a_file/out.csv",
        "is a file, not a folder"),
    Row("predict onto an existing folder",
        ["predict", "{ws}/data/red/red0.mp4", "--checkpoint", "{ws}/model.safetensors",
         "-o", "{ws}/a_folder.csv", "--device", "cpu"], 2, "{ws}/a_folder.csv", "is a folder"),
    Row("evaluate into a folder under a file",
        ["evaluate", "{ws}/model.safetensors", "--data", "folder:{ws}/data", "--output-dir",
         "{ws}/a_file/eval", "--device", "cpu", "--workers", "0"], 2, "{ws}/a_file/eval",
        "is a file, not a folder"),
    Row("evaluate --save-model onto a folder",
        ["evaluate", "{ws}/model.safetensors", "--data", "folder:{ws}/data", "--output-dir",
         "{ws}/eval_ok", "--save-model", "{ws}/a_folder.safetensors", "--device", "cpu",
         "--workers", "0"], 2, "{ws}/a_folder.safetensors", "is a folder",
        written=["eval_ok/report.json"]),
    Row("train into a folder under a file",
        ["train", "--data", "folder:{ws}/data", *TINY, "--output", "{ws}/a_file/run"], 2,
        "{ws}/a_file/run", "is a file, not a folder"),
    Row("synth into a folder under a file",
        ["synth", "{ws}/a_file/set", "--clips-per-class", "1", "--frames", "8"], 2,
        "{ws}/a_file/set", "is a file, not a folder"),
    Row("sequence onto an existing folder",
        ["sequence", "{ws}/a_folder.mp4", "--drills", "squats:1"], 2, "{ws}/a_folder.mp4",
        "is a folder"),
    Row("import-hara onto an existing folder",
        ["import-hara", "{ws}/missing.pth", "--model", "stmanet_r10", "--classes", "a,b",
         "-o", "{ws}/a_folder.safetensors"], 2, "{ws}/a_folder.safetensors", "is a folder"),
    # data a model cannot be trained on
    Row("a label project nested 100000 deep",
        ["train", "--data", "project:{ws}/deep.json", *TINY, "--output", "{ws}/run_deep"], 2,
        "{ws}/deep.json", "nested too deeply", written=["run_deep"]),
    Row("one class", ["train", "--data", "folder:{ws}/oneclass", *TINY, "--output",
                      "{ws}/run_oneclass"], 2, "{ws}/oneclass", "of class 'red'",
        written=["run_oneclass/final.safetensors"]),
    Row("one clip", ["train", "--data", "folder:{ws}/oneclip", *TINY, "--output",
                     "{ws}/run_oneclip"], 2, "{ws}/oneclip", "1 training clip",
        written=["run_oneclip/final.safetensors"]),
    Row("one clip left after --val-share",
        ["train", "--data", "folder:{ws}/oneclass", *TINY, "--val-share", "0.5", "--output",
         "{ws}/run_share"], 2, "{ws}/oneclass", "lower --val-share",
        written=["run_share/final.safetensors"]),
    Row("batch size 1", ["train", "--data", "folder:{ws}/data", *TINY, "--batch-size", "1",
                         "--output", "{ws}/run_b1"], 2, "", "--batch-size 1",
        written=["run_b1/final.safetensors"]),
    Row("a FIFO as the project",
        ["train", "--data", "project:{ws}/pipe.json", *TINY, "--output", "{ws}/run_fifo"], 2,
        "{ws}/pipe.json", "not a regular file"),
    Row("a project from a future version",
        ["train", "--data", "project:{ws}/future.json", *TINY, "--output", "{ws}/run_f"], 2,
        "{ws}/future.json", "version 2 is not supported"),
    Row("a project listing a class twice",
        ["train", "--data", "project:{ws}/dupclasses.json", *TINY, "--output", "{ws}/run_d"],
        2, "{ws}/dupclasses.json", "a name twice"),
    # options
    Row("--device bogus",
        ["predict", "{ws}/data/red/red0.mp4", "--checkpoint", "{ws}/model.safetensors",
         "--device", "bogus"], 2, "", "'bogus' is not a device"),
    Row("--top-k 0",
        ["predict", "{ws}/data/red/red0.mp4", "--checkpoint", "{ws}/model.safetensors",
         "--top-k", "0"], 2, "", "--top-k: must be 1 or more"),
    Row("--top-k negative",
        ["predict", "{ws}/data/red/red0.mp4", "--checkpoint", "{ws}/model.safetensors",
         "--top-k=-2"], 2, "", "--top-k: must be 1 or more"),
    Row("--set width=abc", ["summary", "stmanet_r10", "--set", "width=abc"], 2, "",
        "width must be a number, not 'abc'"),
    Row("--set width=abc in train",
        ["train", "--data", "folder:{ws}/data", *TINY, "--set", "width=abc", "--output",
         "{ws}/run_w"], 2, "", "width must be a number, not 'abc'",
        written=["run_w/final.safetensors"]),
    Row("a binary --classes file",
        ["import-hara", "{ws}/missing.pth", "--model", "stmanet_r10", "--classes",
         "{ws}/binary.txt", "-o", "{ws}/h.safetensors"], 2, "{ws}/binary.txt",
        "not a UTF-8 text file", written=["h.safetensors"]),
    Row("a --classes file naming a class twice",
        ["import-hara", "{ws}/missing.pth", "--model", "stmanet_r10", "--classes",
         "{ws}/dup.txt", "-o", "{ws}/h.safetensors"], 2, "{ws}/dup.txt", "serve",
        written=["h.safetensors"]),
    # a failure part way: the rest is kept, the bad file named, exit 1
    Row("one bad video in a folder",
        ["predict", "{ws}/batch", "--checkpoint", "{ws}/model.safetensors", "--device", "cpu",
         "-o", "{ws}/batch_out.csv"], 1, "{ws}/batch/bad.mp4", "", error_lines=2),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_bad_input_is_refused_with_one_line_naming_it(row: Row, ws: Path):
    before = snapshot(ws)
    args = [a.replace("{ws}", str(ws)) for a in row.args]
    proc = run_cli(args, cwd=ws)
    err = proc.stderr
    assert "Traceback" not in err, err
    assert proc.returncode == row.code, err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == row.error_lines, err
    named = row.names.replace("{ws}", str(ws))
    assert named in errors[0], err
    assert row.says in err, err
    assert ".tmp" not in err
    assert not re.search(r"\bnan\b", (proc.stdout + err).lower())
    after = snapshot(ws)
    assert {k: v for k, v in after.items() if k in before} == before  # inputs unchanged
    for output in row.written:
        assert not (ws / output).exists(), output


def test_one_bad_video_keeps_the_others_results(ws: Path):
    out = ws / "batch_kept.csv"
    proc = run_cli(["predict", str(ws / "batch"), "--checkpoint", str(ws / "model.safetensors"),
                    "--device", "cpu", "-o", str(out)], cwd=ws)
    assert proc.returncode == 1, proc.stderr
    text = out.read_text()
    assert "good0.mp4" in text and "good1.mp4" in text and "bad.mp4" not in text
    assert "1 of 3 videos could not be read" in proc.stderr


def test_a_segment_past_the_end_of_its_video_is_trained_on_with_a_warning(ws: Path):
    red, green = ws / "data" / "red" / "red0.mp4", ws / "data" / "green" / "green0.mp4"
    project = ws / "long_segment.json"
    project.write_text(json.dumps({"version": 1, "classes": ["red", "green"], "segments": [
        {"video": str(red), "start_frame": 0, "end_frame": 500, "label": "red"},
        {"video": str(red), "start_frame": 0, "end_frame": 12, "label": "red"},
        {"video": str(green), "start_frame": 0, "end_frame": 24, "label": "green"},
        {"video": str(green), "start_frame": 2, "end_frame": 20, "label": "green"}]}))
    proc = run_cli(["train", "--data", f"project:{project}", *TINY, "--batch-size", "4",
                    "--output", str(ws / "run_long")], cwd=ws)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "ends at frame 500" in line]
    assert len(warnings) == 1 and str(red) in warnings[0], proc.stderr


# ------------------------------------------------------- a full disk, mid-write (in process)

def test_a_full_disk_while_training_names_the_resume_file(ws: Path, monkeypatch, capsys):
    import torch

    def full(*_args, **_kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:783] . PytorchStreamWriter "
                           "failed writing file data/3: unexpected pos 3456 vs 3392")

    monkeypatch.setattr(torch, "save", full)
    run = ws / "run_full"
    code = main(["train", "--data", f"folder:{ws / 'data'}", *TINY, "--batch-size", "4",
                 "--output", str(run), "--progress", "none"])
    err = capsys.readouterr().err
    assert code == 1
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and str(run / "checkpoint.pt") in errors[0], err
    assert "disk full" in errors[0] and ".tmp" not in err
    assert not list(run.glob(".*.tmp"))


def test_a_full_disk_while_writing_predictions_names_the_file(ws: Path, monkeypatch, capsys):
    import stmanet.fileio

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(stmanet.fileio.os, "fsync", full)
    out = ws / "full.csv"
    code = main(["predict", str(ws / "data" / "red" / "red0.mp4"), "--checkpoint",
                 str(ws / "model.safetensors"), "--device", "cpu", "-o", str(out),
                 "--progress", "none"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1] == f"stmanet predict: error: {out}: cannot write: No space left on device"
    assert all("note:" in line for line in err[:-1])  # the model cannot tell unknowns
    assert not out.exists() and not list(ws.glob(".full.csv.*"))
