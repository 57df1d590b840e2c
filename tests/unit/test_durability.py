"""Writes that survive a crash: atomic files, the leftovers of killed writers, the metrics log."""

from __future__ import annotations

import csv
import errno
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stmanet.engine.metrics import MetricsLog
from stmanet.fileio import STALE_TEMP_SECONDS, atomic_path, atomic_write_text

POSIX = pytest.mark.skipif(os.name == "nt", reason="POSIX signals and folder fsync")
ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The id of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def live_pid():
    """The id of a running process (not this one)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


# ------------------------------------------------------------ leftovers of killed writers

@POSIX
def test_a_write_killed_by_sigkill_leaves_the_file_and_its_leftover_goes_later(tmp_path):
    target = tmp_path / "labels.json"
    target.write_text("previous", encoding="utf-8")
    code = ("import os, signal, sys\n"
            "from stmanet.fileio import atomic_path\n"
            "with atomic_path(sys.argv[1]) as tmp:\n"
            "    tmp.write_text('half of the new', encoding='utf-8')\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)], env=_env())
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert target.read_text(encoding="utf-8") == "previous"
    leftovers = list(tmp_path.glob(".labels.json.*.tmp"))
    assert len(leftovers) == 1 and str(proc.pid) in leftovers[0].name

    atomic_write_text(tmp_path / "other.json", "{}")  # young: it might be a live write
    assert leftovers[0].exists()
    _age(leftovers[0], STALE_TEMP_SECONDS + 60)
    atomic_write_text(tmp_path / "other.json", "{}")  # any atomic write into the folder
    assert not leftovers[0].exists()
    assert target.read_text(encoding="utf-8") == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.json", "other.json"]


# file name, age in seconds, writer ("dead", "live", "self"), removed by the next write?
LEFTOVERS = {
    "old, writer gone": (".run.json.{pid}-abcd1234.tmp", 600, "dead", True),
    "old, of another file in the folder": (".checkpoint.pt.{pid}-x_9yz0ab.tmp", 600, "dead",
                                           True),
    "young, writer gone (maybe a write on another machine)": (
        ".run.json.{pid}-abcd1234.tmp", 5, "dead", False),
    "old, writer still running (a slow write)": (".run.json.{pid}-abcd1234.tmp", 600, "live",
                                                 False),
    "old, written by this process": (".run.json.{pid}-abcd1234.tmp", 600, "self", False),
    "not our name: no writer id": (".run.json.abcd1234.tmp", 600, "dead", False),
    "not our name: another program's": ("run.json.{pid}-abcd1234.tmp", 600, "dead", False),
    "not our name: other ending": (".run.json.{pid}-abcd1234.part", 600, "dead", False),
}


@POSIX
@pytest.mark.parametrize("row", list(LEFTOVERS))
def test_only_stale_leftovers_of_our_own_writes_are_removed(row, tmp_path, dead_pid,
                                                            live_pid):
    pattern, age, writer, removed = LEFTOVERS[row]
    pid = {"dead": dead_pid, "live": live_pid, "self": os.getpid()}[writer]
    leftover = tmp_path / pattern.format(pid=pid)
    leftover.write_text("part of an old write", encoding="utf-8")
    _age(leftover, age)
    atomic_write_text(tmp_path / "run.json", "{}")
    assert leftover.exists() is not removed
    assert (tmp_path / "run.json").read_text(encoding="utf-8") == "{}"


def test_saving_a_model_removes_what_a_killed_save_left(tmp_path, dead_pid):
    from stmanet.config import InputSpec
    from stmanet.engine.checkpoint import (
        CheckpointMetadata,
        load_checkpoint,
        save_checkpoint,
    )
    from stmanet.models import create_model

    leftover = tmp_path / f".best.safetensors.{dead_pid}-k1ll3d00.tmp"
    leftover.write_bytes(b"\0" * 1000)
    _age(leftover, 3 * 3600)  # old enough everywhere, Windows included
    model = create_model("stmanet_r10", 2, width=0.125)
    path = save_checkpoint(tmp_path / "best.safetensors", model,
                           CheckpointMetadata(model.config, ["a", "b"], InputSpec()))
    assert not leftover.exists()
    assert load_checkpoint(path).metadata.class_names == ["a", "b"]


# ------------------------------------------------------------------ the rename is durable

@POSIX
def test_the_folder_is_flushed_after_the_rename(tmp_path, monkeypatch):
    events: list[tuple[str, object]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        info = os.fstat(fd)
        events.append(("fsync", "folder" if stat.S_ISDIR(info.st_mode) else info.st_ino))
        real_fsync(fd)

    def replace(src, dst) -> None:
        events.append(("replace", Path(dst).name))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write_text(tmp_path / "report.json", "{}")
    monkeypatch.undo()
    kinds = [kind for kind, _ in events]
    assert kinds == ["fsync", "replace", "fsync"]  # the new file, the rename, the folder
    assert events[1] == ("replace", "report.json") and events[2] == ("fsync", "folder")


@POSIX
def test_a_file_system_that_cannot_flush_a_folder_still_gets_the_file(tmp_path, monkeypatch):
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "Invalid argument")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    atomic_write_text(tmp_path / "report.json", "{}")
    assert (tmp_path / "report.json").read_text(encoding="utf-8") == "{}"


def test_a_failed_write_leaves_the_previous_file_and_no_leftover(tmp_path):
    target = tmp_path / "labels.json"
    target.write_text("previous", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half", encoding="utf-8")
        raise RuntimeError("the writer failed")
    assert target.read_text(encoding="utf-8") == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["labels.json"]


# --------------------------------------------------------------------------- metrics log

def _log_with_epochs(run: Path, epochs: int) -> MetricsLog:
    run.mkdir(parents=True, exist_ok=True)
    log = MetricsLog(run)
    for epoch in range(1, epochs + 1):
        log.append({"epoch": epoch, "lr": 0.01, "train_loss": 1.0 / epoch, "train_acc": 0.5,
                    "val_loss": None, "val_acc": None, "best": False, "seconds": 1.5})
    return log


def test_truncating_the_metrics_log_keeps_the_rows_up_to_the_epoch(tmp_path):
    log = _log_with_epochs(tmp_path, 5)
    _log_with_epochs(tmp_path / "three", 3)
    log.truncate_after(3)
    assert [r["epoch"] for r in log.read()] == [1, 2, 3]
    # byte for byte what a log of three epochs holds
    for name in ("metrics.jsonl", "metrics.csv"):
        assert (tmp_path / name).read_bytes() == (tmp_path / "three" / name).read_bytes()
    log.truncate_after(0)
    assert not log.jsonl.exists() and not log.csv.exists()


@pytest.mark.parametrize("failing", ["the second csv row", "the metrics.csv write"])
def test_a_crash_while_truncating_the_metrics_log_loses_no_row(failing, tmp_path,
                                                                monkeypatch):
    log = _log_with_epochs(tmp_path, 5)
    before = {name: (tmp_path / name).read_bytes() for name in ("metrics.jsonl",
                                                                "metrics.csv")}
    if failing == "the second csv row":
        real_writerow = csv.DictWriter.writerow
        calls = []

        def writerow(self, row):
            calls.append(row)
            if len(calls) == 3:  # the header, row 1, then the disk is full
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_writerow(self, row)

        monkeypatch.setattr(csv.DictWriter, "writerow", writerow)
    else:
        real_replace = os.replace

        def replace(src, dst) -> None:
            if Path(dst).name == "metrics.csv":
                raise OSError(errno.EIO, "Input/output error")
            real_replace(src, dst)

        monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError):
        log.truncate_after(2)
    monkeypatch.undo()
    rows = log.read()
    assert [r["epoch"] for r in rows] in ([1, 2], [1, 2, 3, 4, 5])  # old or new, never less
    if failing == "the second csv row":
        assert (tmp_path / "metrics.csv").read_bytes() == before["metrics.csv"]
    assert not list(tmp_path.glob(".*.tmp"))
    log.truncate_after(2)  # the next resume tries again
    with open(tmp_path / "metrics.csv", encoding="utf-8", newline="") as f:
        assert [r["epoch"] for r in csv.DictReader(f)] == ["1", "2"]
