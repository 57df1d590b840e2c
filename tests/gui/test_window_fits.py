"""The window fits the screen it is on: at first start, after a layout saved on a larger
screen, at the scale factors of laptop screens; its panels show their contents; full screen
and back returns to what it was.

A scale factor is read when Qt starts, so each screen is tried in a fresh process (the
offscreen platform with a 1600 x 1000 screen)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

REPO = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, sys
from PySide6.QtCore import QSettings, QRect
from PySide6.QtWidgets import QApplication, QDockWidget, QScrollArea
app = QApplication([])
from app.main_window import MainWindow
settings = QSettings(sys.argv[1], QSettings.Format.IniFormat)
window = MainWindow(settings)
window.show()
for _ in range(5):
    app.processEvents()
available = window.screen().availableGeometry()
docks = {d.objectName(): d for d in window.findChildren(QDockWidget)}
panels = {}
for name in ("recognitionDock", "attentionDock"):
    dock = docks[name]
    dock.raise_()
    for _ in range(3):
        app.processEvents()
    area = dock.widget()
    panels[name] = {"visible": dock.isVisible() and not dock.visibleRegion().isEmpty(),
                    "scrolls": area.verticalScrollBar().maximum() > 0}
frame = window.frameGeometry()
print(json.dumps({
    "available": [available.x(), available.y(), available.width(), available.height()],
    "frame": [frame.x(), frame.y(), frame.width(), frame.height()],
    "inside": available.contains(frame),
    "panels": panels,
}))
window.save_layout()
window.shutdown()
"""


def run_window(tmp_path: Path, settings: Path, scale: float) -> dict:
    config = tmp_path / "screen.json"
    config.write_text(json.dumps({"screens": [{
        "name": "laptop", "x": 0, "y": 0, "width": 1600, "height": 1000,
        "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}]}))
    env = dict(os.environ, QT_QPA_PLATFORM=f"offscreen:configfile={config}",
               QT_SCALE_FACTOR=str(scale),
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", PROBE, str(settings)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("scale", [1.0, 1.5, 1.75])
def test_the_window_fits_the_screen_at_first_start_and_after(tmp_path, scale):
    settings = tmp_path / "settings.ini"
    first = run_window(tmp_path, settings, scale)
    assert first["inside"], first
    # top-5 rows and the stage cards are there to see, not behind a scroll bar
    for name, panel in first["panels"].items():
        assert panel["visible"] and not panel["scrolls"], (name, first)
    again = run_window(tmp_path, settings, scale)  # the layout it saved, restored
    assert again["inside"], again


def test_a_layout_saved_on_a_larger_screen_is_brought_inside(tmp_path):
    settings = tmp_path / "settings.ini"
    run_window(tmp_path, settings, 1.0)  # saved at scale 1: 1180 x 760 of 1600 x 1000
    smaller = run_window(tmp_path, settings, 1.75)  # the same layout on a 914 x 571 screen
    assert smaller["inside"], smaller


def test_full_screen_twice_returns_to_the_window_before(qtbot, window):
    window.showMaximized()
    qtbot.waitUntil(window.isMaximized)
    window.full_screen_action.trigger()
    qtbot.waitUntil(window.isFullScreen)
    assert window.full_screen_action.isChecked()
    window.full_screen_action.trigger()
    qtbot.waitUntil(lambda: not window.isFullScreen())
    assert window.isMaximized()
    assert not window.full_screen_action.isChecked()

    window.showNormal()
    qtbot.waitUntil(lambda: not window.isMaximized())
    window.resize(900, 600)
    before = window.size()
    window.full_screen_action.trigger()
    qtbot.waitUntil(window.isFullScreen)
    window.full_screen_action.trigger()
    qtbot.waitUntil(lambda: not window.isFullScreen())
    assert window.windowState() == Qt.WindowState.WindowNoState
    assert window.size() == before
