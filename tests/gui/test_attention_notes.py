"""A model whose attention never learnt draws no heatmap that claims to show where the
network looked: the exported overlay video and the comparison (its panes, its readout and
its side-by-side export) carry the window's plain note instead; a model with trained
attention draws its heatmap there."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from conftest import make_checkpoint
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter
from waiting import wait_until

from app.controllers.compare import CompareController
from app.services.results import UNTRAINED_ATTENTION_NOTE, UNTRAINED_ATTENTION_SHORT
from app.widgets import overlay
from app.widgets.compare_view import HEATMAP_SIDE

WAIT_MS = 15_000
ANALYSIS_WAIT_MS = 60_000


@pytest.fixture(scope="module")
def attending_model(tmp_path_factory) -> Path:
    """The tiny model with its attention's closing norms no longer zero: "trained"."""
    from stmanet.engine.checkpoint import load_checkpoint, save_checkpoint
    from stmanet.engine.openset import attention_status

    folder = tmp_path_factory.mktemp("attending")
    loaded = load_checkpoint(make_checkpoint(folder / "fresh.safetensors"))
    for group in (loaded.model.temporal, loaded.model.spatial):
        for module in group:
            module.out_norm.weight.data.fill_(0.5)
    assert attention_status(loaded.model) == "trained"
    return save_checkpoint(folder / "attending.safetensors", loaded.model, loaded.metadata)


def decoded_frame(path: Path, index: int) -> np.ndarray:
    with av.open(str(path)) as container:
        for n, frame in enumerate(container.decode(container.streams.video[0])):
            if n == index:
                return frame.to_ndarray(format="rgb24")
    raise AssertionError(f"{path} has no frame {index}")


def note_rect(width: int, height: int, text: str = UNTRAINED_ATTENTION_NOTE) -> QRectF:
    """Where the note box lies on a picture of that size (painted on a blank one)."""
    blank = QImage(width, height, QImage.Format.Format_RGB32)
    painter = QPainter(blank)
    rect = overlay.paint_note(painter, QRectF(0, 0, width, height), text)
    painter.end()
    return rect


def region(picture: np.ndarray, rect: QRectF) -> np.ndarray:
    x, y, w, h = (round(v) for v in (rect.left(), rect.top(), rect.width(), rect.height()))
    return picture[y + 2:y + h - 2, x + 2:x + w - 2].astype(float)


def the_note_is_drawn(exported: np.ndarray, source: np.ndarray, rect: QRectF) -> bool:
    """A dark box with white writing in it, over a picture that is neither."""
    box, under = region(exported, rect), region(source, rect)

    def dark(picture: np.ndarray) -> float:
        return float((picture.mean(axis=2) < 60).mean())

    return (dark(box) > 0.5 and dark(under) < 0.1 and box.mean() < 0.75 * under.mean()
            and (box.min(axis=2) > 200).mean() > 0.02)


def centre(picture: np.ndarray) -> np.ndarray:
    """Inside the network's square, between the badge and the note box."""
    return picture[36:66, 30:130].astype(float)


def export_with(qtbot, window, model: Path, clip: Path, target: Path) -> np.ndarray:
    recognition = window.recognition
    with qtbot.waitSignal(recognition.service.modelChanged, timeout=WAIT_MS):
        recognition.load_model(model)
    window.open_path(clip)
    qtbot.waitUntil(lambda: window.player.current_index() >= 0, timeout=WAIT_MS)
    window.player.pause()
    with qtbot.waitSignal(recognition.service.finished, timeout=ANALYSIS_WAIT_MS):
        assert recognition.analyse()
    assert recognition.options.show_heatmap
    job = recognition.export_video(target)
    with qtbot.waitSignal(job.finished, timeout=ANALYSIS_WAIT_MS):
        pass
    return decoded_frame(target, 50)


def test_the_exported_video_says_the_attention_was_never_trained_instead_of_a_heatmap(
        qtbot, window, clip, tiny_model, tmp_path):
    source = decoded_frame(clip, 50)
    exported = export_with(qtbot, window, tiny_model, clip, tmp_path / "fresh.mp4")
    assert not window.recognition.model.attention_trained
    assert the_note_is_drawn(exported, source, note_rect(160, 120))
    # no heatmap: the picture inside the network's square is the video's own
    assert np.abs(centre(exported) - centre(source)).mean() < 6


def test_the_exported_video_of_a_model_with_trained_attention_shows_its_heatmap(
        qtbot, window, clip, attending_model, tmp_path):
    source = decoded_frame(clip, 50)
    exported = export_with(qtbot, window, attending_model, clip, tmp_path / "trained.mp4")
    assert window.recognition.model.attention_trained
    assert not the_note_is_drawn(exported, source, note_rect(160, 120))
    assert np.abs(centre(exported) - centre(source)).mean() > 15  # the heatmap


def test_the_comparison_says_the_attention_was_never_trained(qapp, clip, other_clip,
                                                             tiny_model, tmp_path,
                                                             monkeypatch):
    notes: list[str] = []
    original = overlay.paint_note

    def record(painter, rect, text, **kwargs):
        notes.append(text)
        return original(painter, rect, text, **kwargs)

    monkeypatch.setattr(overlay, "paint_note", record)
    monkeypatch.setattr("app.widgets.compare_view.paint_note", record)
    errors: list[tuple[str, str]] = []
    compare = CompareController(tiny_model, present_error=lambda t, m: errors.append((t, m)))
    try:
        compare.view.resize(1200, 800)
        compare.view.show()
        wait_until(lambda: compare.service.model is not None, 60)
        assert not compare.service.model.attention_trained
        compare.open_videos(clip, other_clip)
        wait_until(lambda: all(compare.side(s).player.source_info() for s in "AB"), 30)
        assert compare.analyse()
        wait_until(lambda: not compare.is_busy() and all(
            compare.side(s).analysis for s in "AB"), 120)
        notes.clear()
        compare.seek(20)
        wait_until(lambda: compare.side("A").player.current_index() == 20, 10)
        compare.side("A").player.view.grab()
        # the panes: the window's note where the heatmap would be; the readout: the short one
        assert UNTRAINED_ATTENTION_NOTE in notes and UNTRAINED_ATTENTION_SHORT in notes
        square = compare.view.readout.heatmap["A"]
        assert square.toolTip() == UNTRAINED_ATTENTION_NOTE
        picture = square.pixmap().toImage().convertToFormat(QImage.Format.Format_RGB888)
        assert picture.width() == HEATMAP_SIDE

        target = tmp_path / "compared.mp4"
        compare.export(target)
        wait_until(lambda: compare.last_export == target, 120)
        frame = decoded_frame(target, 50)
        assert frame.shape[0] == 120  # A beside B (scaled to the same height)
        left = frame[:, :160]
        assert the_note_is_drawn(left, decoded_frame(clip, 50), note_rect(160, 120))
        assert errors == []
    finally:
        compare.shutdown()
