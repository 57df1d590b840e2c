"""The entry point: command line, screenshot mode, and errors that do not kill the program."""

import logging
import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QMessageBox

from app.main import ErrorReporter, parse_args, startup_files
from stmanet.bundled import bundled_demo_model, bundled_demo_video


def run_app(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )


def test_screenshot_of_a_video_once_it_has_a_prediction(tmp_path, clip, tiny_model):
    shot = tmp_path / "shot.png"
    result = run_app([str(clip), "--screenshot", str(shot), "--model", str(tiny_model)],
                     tmp_path)
    assert result.returncode == 0, result.stderr
    image = QImage(str(shot))
    assert not image.isNull()
    assert image.width() >= 640 and image.height() >= 400
    assert "opened file drill.mp4" in result.stderr  # logging is configured
    assert "first prediction on screen" in result.stderr
    assert result.stderr.index("first prediction") < result.stderr.index("saved the window")


def test_screenshot_after_a_whole_video_analysis_with_the_rhythm_panel_too(tmp_path, clip,
                                                                           tiny_model):
    shot = tmp_path / "shot.png"
    result = run_app([str(clip), "--screenshot", str(shot), "--model", str(tiny_model),
                      "--analyse-at", "1.0"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert not QImage(str(shot)).isNull()
    assert not QImage(str(tmp_path / "shot.rhythm.png")).isNull()
    log = result.stderr
    assert log.index("analysed drill.mp4") < log.index("counted") < log.index("saved the window")


def test_screenshot_mode_exits_with_an_error_for_an_unreadable_video(tmp_path, corrupt_file,
                                                                     tiny_model):
    shot = tmp_path / "shot.png"
    result = run_app([str(corrupt_file), "--screenshot", str(shot), "--model", str(tiny_model)],
                     tmp_path)
    assert result.returncode == 1
    assert "could not be opened as a video" in result.stderr
    assert not shot.exists()


def test_without_a_model_named_the_demo_model_recognises(tmp_path, clip):
    shot = tmp_path / "shot.png"
    result = run_app([str(clip), "--screenshot", str(shot)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "first prediction on screen" in result.stderr
    assert not QImage(str(shot)).isNull()


def test_screenshot_mode_exits_with_an_error_without_any_model(tmp_path, clip):
    shot = tmp_path / "shot.png"
    hide_the_demo = ("import sys, stmanet.bundled as b; b.bundled_demo_model = lambda: None; "
                     "from app.launch import main; sys.exit(main(sys.argv[1:]))")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    result = subprocess.run([sys.executable, "-c", hide_the_demo, str(clip), "--screenshot",
                             str(shot)], capture_output=True, text=True, timeout=60, env=env,
                            cwd=tmp_path)
    assert result.returncode == 1
    assert "no model" in result.stderr
    assert not shot.exists()


def test_command_line_names_a_model():
    args, _ = parse_args(["clip.mp4", "--model", "drills.safetensors"])
    assert args.model == Path("drills.safetensors")


def test_startup_uses_the_last_chosen_model_and_no_video_after_the_first_launch(
    tmp_path, tiny_model, settings
):
    assert startup_files(settings, None, None) == (bundled_demo_video(), bundled_demo_model(),
                                                   False)
    settings.setValue("model/last_checkpoint", str(tiny_model))
    settings.setValue("startup/launched_before", True)
    assert startup_files(settings, None, None) == (None, tiny_model, False)
    given = tmp_path / "given.safetensors"
    assert startup_files(settings, Path("clip.mp4"), given) == (Path("clip.mp4"), given, True)


def test_command_line_leaves_qt_options_to_qt():
    args, rest = parse_args(["clip.mp4", "-v", "--screenshot", "out.png", "-style", "fusion"])
    assert args.video == Path("clip.mp4")
    assert args.screenshot == Path("out.png")
    assert args.verbose
    assert rest == ["-style", "fusion"]


def test_an_uncaught_exception_is_logged_and_shown(qtbot, monkeypatch, caplog):
    shown: list[QMessageBox] = []

    def record(box: QMessageBox) -> int:
        shown.append(box)
        return 0

    monkeypatch.setattr(QMessageBox, "exec", record)
    reporter = ErrorReporter()
    reporter.install()
    try:
        try:
            raise ValueError("bad drill label")
        except ValueError:
            sys.excepthook(*sys.exc_info())
    finally:
        reporter.uninstall()
    assert sys.excepthook is not reporter.excepthook
    assert any(
        r.levelno == logging.CRITICAL and r.exc_info and r.exc_info[0] is ValueError
        for r in caplog.records
    )
    assert len(shown) == 1
    assert shown[0].informativeText() == "ValueError: bad drill label"
    assert "Traceback" in shown[0].detailedText()
    assert QCoreApplication.instance() is not None  # still running
