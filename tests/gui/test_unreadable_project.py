"""A remembered label project that cannot be read never stops the program from starting: the
window comes up, says the project could not be opened (naming it), and forgets it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

import app.controllers.label_project as label_project
from app.main_window import MainWindow

WAIT_MS = 5000


@pytest.fixture(autouse=True)
def _draft_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(label_project, "draft_path", lambda: tmp_path / "data" / "draft.json")


def nested(path: Path) -> Path:
    path.write_text("[" * 100_000 + "]" * 100_000)
    return path


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def binary(path: Path) -> Path:
    path.write_bytes(bytes(range(256)) * 8)
    return path


def folder(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.parametrize("make", [nested, fifo, binary, folder],
                         ids=["nested 100000 deep", "a FIFO", "binary", "a folder"])
def test_the_window_starts_tells_and_forgets_an_unreadable_project(
    qtbot, tmp_path, settings: QSettings, dialogs, make
):
    project = make(tmp_path / "labels.json")
    settings.setValue("labels/project", str(project))
    settings.sync()
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: len(dialogs) == 1, timeout=WAIT_MS)
    assert dialogs[0].title == "Cannot reopen the label project"
    assert str(project) in dialogs[0].text
    assert "Traceback" not in dialogs[0].text
    assert not settings.contains("labels/project")  # forgotten: the next start is clean
    assert len(win.labelling.project) == 0
    win.close()

    dialogs.clear()
    again = MainWindow(settings)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitExposed(again)
    qtbot.wait(200)
    assert dialogs == []
    again.close()
    assert project.exists()  # left where it was
