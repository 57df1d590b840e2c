"""What a user sees when the model says a window is "not a known action", the sensitivity
setting, and the note over attention that never learnt."""

import csv
import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import make_checkpoint
from PySide6.QtCore import QSettings
from PySide6.QtGui import QColor

from app.services.results import (
    OTHER,
    UNTRAINED_ATTENTION_NOTE,
    PredictionTrack,
    WindowResult,
    action_seconds,
    timeline_seconds,
)
from app.widgets import overlay
from app.widgets.dialogs import model_info_html
from app.widgets.timeline import STRIP_HEIGHT, STRIP_TOP

WAIT_MS = 15_000


@pytest.fixture(scope="module")
def open_model(tmp_path_factory) -> Path:
    """A tiny model with open-set statistics: at its own ("normal") threshold every window is
    known (a max-softmax novelty never exceeds 1); at "high" sensitivity none is."""
    from stmanet.engine.checkpoint import load_checkpoint, save_checkpoint
    from stmanet.engine.openset import OpenSetStats

    folder = tmp_path_factory.mktemp("openset_models")
    plain = make_checkpoint(folder / "plain.safetensors")
    loaded = load_checkpoint(plain)
    stats = OpenSetStats("max_softmax", threshold=2.0, known_rate=0.95,
                         quantiles=[[0.5, -1.0], [0.9, -1.0], [0.95, 2.0], [1.0, 2.0]])
    return save_checkpoint(folder / "open.safetensors", loaded.model, loaded.metadata,
                           openset=stats)


def load(qtbot, window, model: Path):
    recognition = window.recognition
    with qtbot.waitSignal(recognition.service.modelChanged, timeout=WAIT_MS):
        recognition.load_model(model)
    return recognition


def badges_painted(monkeypatch) -> list[tuple[str, str]]:
    painted: list[tuple[str, str]] = []
    original = overlay.paint_badge

    def record(painter, rect, label, *args, **kwargs):
        painted.append((label, kwargs.get("note", "")))
        return original(painter, rect, label, *args, **kwargs)

    monkeypatch.setattr(overlay, "paint_badge", record)
    return painted


def test_high_sensitivity_makes_windows_not_known_actions(qtbot, window, clip, open_model,
                                                          settings: QSettings, tmp_path,
                                                          monkeypatch):
    recognition = load(qtbot, window, open_model)
    assert recognition.model.can_tell_unknowns
    about = model_info_html(recognition.model)
    assert "yes: novelty over 2" in about
    assert "(how unsure it is)" in about  # its score, max-softmax, in words
    assert "95% of its validation windows are known" in about
    assert "on only" not in about  # a file that does not say how many clips: no warning
    rough = dataclasses.replace(recognition.model, open_set={
        **(recognition.model.open_set or {}),
        "calibration": {"subset": "validation", "clips": 12, "fewest_clips": 4}})
    assert ("95% of its validation windows are known (on only 12 clips, 4 of the action with "
            "fewest: on new footage the share may be a few points off)") in model_info_html(rough)
    margin = dataclasses.replace(recognition.model, open_set={  # a threshold fitted now
        **(recognition.model.open_set or {}),
        "calibration": {"subset": "validation", "clips": 300, "fewest_clips": 30,
                        "confidence": 0.9, "kept": 0.97}})
    assert ("set on its validation windows so that 95% of new footage of its actions is "
            "known") in model_info_html(margin)
    assert "mirror image" not in about  # its statistics judge every window alone
    mirrored = dataclasses.replace(recognition.model, open_set={
        **(recognition.model.open_set or {}), "mirror": True})
    assert "each window judged with its mirror image (two passes of the network)" in \
        model_info_html(mirrored)
    assert "window before it" not in about  # this file judges every window alone
    trailing = dataclasses.replace(mirrored, open_set={**mirrored.open_set, "trail": 1.0})
    assert ("each window judged with its mirror image (two passes of the network) and "
            "together with the window before it") in model_info_html(trailing)
    trailing = dataclasses.replace(recognition.model, open_set={
        **(recognition.model.open_set or {}), "trail": 1.0})
    assert "(how unsure it is), each window judged together with the window before it, set " \
        "so that 95%" in model_info_html(trailing)
    assert recognition.sensitivity_menu.isEnabled()
    badges = badges_painted(monkeypatch)

    with qtbot.waitSignal(recognition.service.predicted, timeout=WAIT_MS) as blocker:
        window.open_path(clip)
    window.player.pause()
    assert blocker.args[0].known is True and blocker.args[0].novelty is not None
    qtbot.waitUntil(lambda: recognition.shown_result() is not None, timeout=WAIT_MS)
    window.player.view.grab()
    assert badges and all(label != overlay.UNKNOWN_TEXT for label, _ in badges)

    recognition.sensitivity_actions["high"].trigger()
    assert settings.value("recognition/sensitivity") == "high"
    assert recognition.model.sensitivity == "high"
    with qtbot.waitSignal(recognition.service.finished, timeout=WAIT_MS):
        assert recognition.analyse()
    shown = recognition.shown_result()
    assert shown.known is False

    badges.clear()
    window.player.view.grab()
    assert badges[-1][0] == "Not a known action"
    assert badges[-1][1].startswith("nearest: ")
    panel = recognition.predictions_panel
    assert panel.heading() == "Not a known action · nearest 5"  # no bar is the answer
    assert panel.bars.rows()[0][0] == badges[-1][1].removeprefix("nearest: ").rsplit(" ", 1)[0]

    timeline = recognition.timeline
    assert timeline.segments() and all(s.class_index == OTHER for s in timeline.segments())
    picture = timeline.grab().toImage()
    middle = timeline.segments()[0]
    x = round(timeline.x_of((middle.first + middle.end) / 2) * picture.devicePixelRatio())
    y = round((STRIP_TOP + STRIP_HEIGHT / 2) * picture.devicePixelRatio())
    assert picture.pixelColor(x, y).name() == QColor(overlay.UNKNOWN_COLOR).name()

    summary = recognition.show_summary()
    actions = [summary.table.item(n, 0).text() for n in range(summary.table.rowCount())]
    summary.close()
    assert actions == ["other"]

    target = tmp_path / "windows.csv"
    with qtbot.waitSignal(recognition.export_predictions(target).finished, timeout=WAIT_MS):
        pass
    with open(target, newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and {r["known"] for r in rows} == {"0"} and all(r["novelty"] for r in rows)


def test_a_model_without_statistics_cannot_change_sensitivity_and_says_its_attention_is_flat(
        qtbot, window, clip, tiny_model, monkeypatch):
    recognition = load(qtbot, window, tiny_model)
    info = recognition.model
    assert not info.can_tell_unknowns and not info.attention_trained
    about = model_info_html(info)
    assert "cannot tell: it carries no open-set statistics" in about
    assert "never trained: its maps show nothing yet" in about
    assert not recognition.sensitivity_menu.isEnabled()
    assert not any(a.isEnabled() for a in recognition.sensitivity_actions.values())
    assert "cannot tell" in recognition.sensitivity_menu.menuAction().toolTip()

    panel = recognition.attention_panel
    assert panel.note() == UNTRAINED_ATTENTION_NOTE
    assert "never trained" in panel.note()

    notes: list[str] = []
    original = overlay.paint_note
    monkeypatch.setattr(overlay, "paint_note",
                        lambda painter, rect, text, **k: (notes.append(text),
                                                          original(painter, rect, text, **k))[1])
    with qtbot.waitSignal(recognition.service.predicted, timeout=WAIT_MS) as blocker:
        window.open_path(clip)
    window.player.pause()
    assert blocker.args[0].known is None
    qtbot.waitUntil(lambda: recognition.shown_result() is not None, timeout=WAIT_MS)
    recognition.show_heatmap_action.setChecked(True)
    window.player.view.grab()
    assert notes and notes[-1] == UNTRAINED_ATTENTION_NOTE


def window_result(start: int, end: int, label: int, known: bool | None) -> WindowResult:
    return WindowResult(start, end, [f"c{label}"], [0.6], [label], 10.0, known=known)


def test_a_detailed_window_keeps_the_verdict_it_was_judged_with_among_its_neighbours(window):
    """A click on an analysed picture runs its window again with the full maps: alone that
    window may look otherwise than it did judged with the windows before it, and the timeline
    keeps the verdict it showed."""
    live = window.recognition._live
    live.track.extend([window_result(0, 10, 0, True), window_result(10, 20, 0, True)])
    live.track.windows[1].novelty = 1.5
    detail = dataclasses.replace(window_result(10, 20, 0, False), novelty=3.0, origin="detail")
    live.add_detail(detail)
    assert live.track.at(15) is detail and detail.known is True and detail.novelty == 1.5


def test_summaries_count_unknown_windows_as_other():
    track = PredictionTrack([window_result(0, 10, 0, True), window_result(10, 20, 1, False)])
    rows = action_seconds(track, 20, 10.0, ["c0", "c1"])
    assert {(r.label, r.seconds) for r in rows} == {("c0", 1.0), ("other", 1.0)}

    mask = np.array([True] * 10 + [False] * 10)
    timeline = SimpleNamespace(class_names=["c0", "c1"], fps=10.0,
                               labels=np.array([0] * 12 + [1] * 8))
    rows = timeline_seconds(timeline, mask)
    assert [(r.label, r.seconds) for r in rows] == [("other", 1.0), ("c1", 0.8), ("c0", 0.2)]


def test_the_comparisons_readout_says_not_a_known_action_before_the_nearest_one():
    from app.controllers.compare_sides import action_text

    assert action_text(window_result(0, 10, 0, False), analysed=True) == \
        "Action: not a known action (nearest: c0 60%)"
    assert action_text(window_result(0, 10, 0, True), analysed=True) == "Action: c0 60%"


def test_live_answers_are_judged_with_the_windows_before_them(tmp_path):
    """With statistics that judge each window together with the ones before it, a live answer
    carries the mean novelty of its window and of the live windows of the same source that
    began up to one window length before it; another source starts afresh."""
    import threading

    import torch

    from app.services.inference_worker import LiveRequest, RecognitionWorker
    from stmanet.engine.checkpoint import load_checkpoint, save_checkpoint
    from stmanet.engine.openset import OpenSetStats

    loaded = load_checkpoint(make_checkpoint(tmp_path / "plain.safetensors"))
    stats = OpenSetStats("max_softmax", threshold=2.0, known_rate=0.95,
                         quantiles=[[0.5, 0.0], [1.0, 2.0]], trail=1.0)
    path = save_checkpoint(tmp_path / "trail.safetensors", loaded.model, loaded.metadata,
                           openset=stats)
    rng = np.random.default_rng(1)
    frames = [(i, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)) for i in range(200)]
    newest = [0]
    worker = RecognitionWorker(lambda count: frames[max(0, newest[0] - count + 1):newest[0] + 1],
                               threading.Event())
    worker.load_model(str(path), "cpu")
    predictor = worker._predictor
    window, stride = predictor.spec.window, predictor.spec.frame_stride

    def own(end: int) -> tuple[float, int]:  # the window ending at `end`, judged alone
        clip = predictor.preprocess(np.stack([f for _, f in frames[end - window + 1:end + 1:
                                                                   stride]]))
        with torch.no_grad():
            _, output = predictor.run_batch(clip[None])
        return float(predictor.openset.novelty(output)[0]), int(output.logits.argmax())

    replies = []
    worker.liveAnswered.connect(replies.append)
    ends = list(range(window - 1, 200, window // 2))  # a live window every half window
    for end in ends:
        newest[0] = end
        worker.predict_live(LiveRequest(1, 200, 25.0))
    alone, labels = zip(*(own(end) for end in ends), strict=True)
    assert len(set(np.round(alone, 6))) > 3  # the windows differ
    # each answer: its own window, the one half a window before and the one a window before,
    # back to the last change of top class
    expected = []
    for n in range(len(alone)):
        first = n
        while first > max(0, n - 2) and labels[first - 1] == labels[n]:
            first -= 1
        expected.append(np.mean(alone[first:n + 1]))
    np.testing.assert_allclose([r.result.novelty for r in replies], expected, rtol=1e-5)
    newest[0] = 150
    worker.predict_live(LiveRequest(2, 200, 25.0))  # another source: judged alone
    assert replies[-1].result.novelty == pytest.approx(own(150)[0], rel=1e-5)
