"""Fixtures for the window tests: offscreen Qt, generated videos, private settings, and
message boxes that record instead of blocking."""

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before anything loads Qt

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import QElapsedTimer, QSettings, Qt, QTimer
from PySide6.QtWidgets import QMessageBox
from videogen import write_video

from app.main_window import MainWindow
from app.widgets.player import PlayerWidget

CLIP_FRAMES = 100  # 4 s at 25 fps
ACTIONS = ["jumping jacks", "squats", "lunges", "push ups", "high knees", "arm circles"]
TINY_INPUT = {"frames": 8, "frame_stride": 2, "size": 32}  # a 16-frame window, 32 px crops


def make_checkpoint(path: Path, *, input_spec: dict[str, int] = TINY_INPUT,
                    name: str = "stmanet_r10", width: float = 0.125,
                    classes: list[str] = ACTIONS) -> Path:
    """A small randomly initialised ST-MANet saved as our checkpoint format."""
    import torch

    from stmanet.config import InputSpec
    from stmanet.engine.checkpoint import CheckpointMetadata, provenance, save_checkpoint
    from stmanet.models import create_model

    torch.manual_seed(0)
    model = create_model(name, len(classes), width=width)
    metadata = CheckpointMetadata(model.config, list(classes), InputSpec(**input_spec),
                                  provenance("test", note="random weights"))
    return save_checkpoint(path, model, metadata)


@pytest.fixture(scope="session", autouse=True)
def _private_settings_location(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A QSettings() made anywhere in the tests writes under a temporary folder."""
    folder = str(tmp_path_factory.mktemp("qsettings"))
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, folder)


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="session")
def clip(videos: Path) -> Path:
    """160 x 120, 25 fps, 100 frames, each carrying its number."""
    return write_video(videos / "drill.mp4", CLIP_FRAMES)


@pytest.fixture(scope="session")
def other_clip(videos: Path) -> Path:
    return write_video(videos / "warm-up.mp4", 30, fps=30.0, width=192, height=108)


@pytest.fixture(scope="session")
def corrupt_file(videos: Path) -> Path:
    path = videos / "broken.mp4"
    path.write_bytes(os.urandom(20_000))
    return path


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_model(models: Path) -> Path:
    """ST-MANet-10 at width 1/8 on 8 frames of 32 x 32: a forward pass takes milliseconds."""
    return make_checkpoint(models / "tiny.safetensors")


@pytest.fixture
def settings_path(tmp_path: Path) -> Path:
    return tmp_path / "settings.ini"


@pytest.fixture
def settings(settings_path: Path) -> QSettings:
    return QSettings(str(settings_path), QSettings.Format.IniFormat)


@dataclass
class ShownDialog:
    kind: str
    title: str
    text: str


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch) -> list[ShownDialog]:
    """Message boxes shown during the test, recorded instead of waiting for a click."""
    shown: list[ShownDialog] = []

    def recorder(kind: str, answer: QMessageBox.StandardButton):
        def show(parent: object, title: str, text: str, *args: object, **kwargs: object):
            shown.append(ShownDialog(kind, title, text))
            return answer

        return show

    ok, no = QMessageBox.StandardButton.Ok, QMessageBox.StandardButton.No
    for kind in ("warning", "critical", "information"):
        monkeypatch.setattr(QMessageBox, kind, recorder(kind, ok))
    monkeypatch.setattr(QMessageBox, "question", recorder("question", no))
    monkeypatch.setattr(QMessageBox, "about", recorder("about", ok))

    def stop_and_quit(parent: object, text: str) -> bool:
        # a window closed while it trains (e.g. at the end of a test) stops the run
        shown.append(ShownDialog("stop-and-quit", "Fine-tune running", text))
        return True

    monkeypatch.setattr("app.controllers.finetune.ask_stop_and_quit", stop_and_quit)
    return shown


@pytest.fixture
def window(qtbot, settings: QSettings, dialogs: list[ShownDialog]) -> Iterator[MainWindow]:
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    yield win
    win.close()


@pytest.fixture
def player(qtbot) -> Iterator[PlayerWidget]:
    widget = PlayerWidget()
    qtbot.addWidget(widget)
    widget.resize(640, 420)
    widget.show()
    qtbot.waitExposed(widget)
    widget.activateWindow()
    yield widget
    widget.close()


class StallMeter:
    """Measures how long the GUI thread goes without serving a 5 ms timer."""

    def __init__(self) -> None:
        self.gaps_ms: list[int] = []
        self._clock = QElapsedTimer()
        self._last = 0
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = self._clock.elapsed()
        self.gaps_ms.append(now - self._last)
        self._last = now

    def start(self) -> None:
        self._clock.start()
        self._last = 0
        self._timer.start(5)

    def stop(self) -> int:
        """Stops measuring; the longest stall in ms."""
        self._timer.stop()
        return max(self.gaps_ms, default=0)


@pytest.fixture
def stall_meter() -> Iterator[StallMeter]:
    meter = StallMeter()
    yield meter
    meter.stop()
