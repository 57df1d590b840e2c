"""Recognition in the window: live predictions and their overlay, the attention view, whole-file
analysis with cancel, model errors, exports, settings, and a GUI that never stalls."""

import csv
import itertools
import json
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from conftest import ACTIONS, CLIP_FRAMES, make_checkpoint
from PySide6.QtCore import QPoint, QPointF, QRectF, QSettings, QStandardPaths, Qt
from PySide6.QtGui import QImage, QPainter, QTextDocumentFragment
from PySide6.QtWidgets import QComboBox, QFileDialog, QLabel, QPushButton
from videogen import make_frame, qimage_to_rgb, write_video

from app.controllers.recognition import RecognitionController
from app.main_window import MainWindow
from app.services.export import export_overlay_video
from app.services.frames import SourceInfo, SourceKind
from app.services.inference_worker import newest_window
from app.services.recognition_service import RecognitionService
from app.services.results import PredictionTrack, WindowResult
from app.widgets import overlay
from app.widgets.dialogs import ModelInfoDialog
from app.widgets.overlay import crop_rect, maps_for, paint_badge
from app.widgets.timeline import TimelineLegend
from stmanet.data.sampling import window_starts

WAIT_MS = 15_000
ANALYSIS_WAIT_MS = 90_000
"""A whole-video analysis: windows a quarter window apart, on a shared 2-core machine."""


def load(qtbot, window: MainWindow, model: Path) -> RecognitionController:
    recognition = window.recognition
    with qtbot.waitSignal(recognition.service.modelChanged, timeout=WAIT_MS):
        recognition.load_model(model)
    return recognition


@pytest.fixture
def recognising(qtbot, window: MainWindow, tiny_model: Path) -> RecognitionController:
    """The window with the tiny model loaded."""
    return load(qtbot, window, tiny_model)


def first_prediction(qtbot, window: MainWindow, clip: Path) -> WindowResult:
    recognition = window.recognition
    with qtbot.waitSignal(recognition.service.predicted, timeout=WAIT_MS) as blocker:
        window.open_path(clip)
    qtbot.waitUntil(lambda: recognition.shown_result() is not None, timeout=WAIT_MS)
    return blocker.args[0]


def analyse(qtbot, recognition: RecognitionController) -> None:
    with qtbot.waitSignal(recognition.service.finished, timeout=ANALYSIS_WAIT_MS):
        assert recognition.analyse()


def region_difference(a: QImage, b: QImage, rect: QRectF) -> float:
    x, y = int(rect.left()), int(rect.top())
    w, h = int(rect.width()), int(rect.height())
    first, second = qimage_to_rgb(a), qimage_to_rgb(b)
    return float(np.abs(first[y : y + h, x : x + w].astype(int)
                        - second[y : y + h, x : x + w].astype(int)).mean())


# --------------------------------------------------------------------------- live and overlay


def test_a_playing_video_gets_a_prediction_drawn_over_the_picture(qtbot, window, recognising,
                                                                  clip):
    result = first_prediction(qtbot, window, clip)
    assert len(result.labels) == 5 and set(result.labels) <= set(ACTIONS)
    assert result.scores == sorted(result.scores, reverse=True)
    assert result.end_frame - result.start_frame == 16  # the model's 8 frames x 2
    assert result.latency_ms > 0
    window.player.pause()
    qtbot.waitUntil(lambda: not window.player.is_playing())
    shown = recognising.shown_result()
    assert shown is not None
    bars = recognising.predictions_panel.bars.rows()
    assert [label for label, _ in bars] == shown.labels
    status = recognising.status_texts()
    assert status["device"] == "CPU" and status["latency"].endswith("ms")
    assert status["model"] == "tiny"

    # the badge: pixels in its place differ from the same frame without it
    view = window.player.view
    recognising.set_options(recognising.options.__class__(show_heatmap=False))
    with_badge = view.grab().toImage()
    recognising.set_options(recognising.options.__class__(show_heatmap=False,
                                                            show_badge=False))
    without = view.grab().toImage()
    scratch = QImage(view.size(), QImage.Format.Format_RGB32)
    painter = QPainter(scratch)
    badge = paint_badge(painter, view.frame_rect(), shown.label, shown.score, Qt.GlobalColor.red)
    painter.end()
    assert view.frame_rect().contains(badge)
    assert region_difference(with_badge, without, badge) > 25
    outside = QRectF(view.frame_rect().right() - 30, view.frame_rect().bottom() - 30, 20, 20)
    assert region_difference(with_badge, without, outside) < 1


def test_the_worker_takes_the_newest_complete_window():
    frames = [(i, np.full((4, 4, 3), i, np.uint8)) for i in range(10, 60)]
    window = newest_window(frames, 16, 2)
    assert (window.start, window.end) == (44, 60)
    assert window.indices == tuple(range(44, 60, 2))
    assert [int(f[0, 0, 0]) for f in window.frames] == list(range(44, 60, 2))
    assert newest_window(frames[:10], 16, 2) is None  # not a whole window yet
    gappy = [f for f in frames if f[0] % 3]  # playback skipped frames: nearest earlier one
    assert newest_window(gappy, 16, 2).indices == (44, 46, 47, 50, 52, 53, 56, 58)
    # a 5-frame file: its last frame stands in for the missing ones, never its first again
    short = [(i, np.zeros((2, 2, 3), np.uint8)) for i in range(5)]
    padded = newest_window(short, 16, 2, frame_count=5)
    assert (padded.start, padded.end, padded.indices) == (0, 5, (0, 2, 4, 4, 4, 4, 4, 4))


def test_live_answers_are_never_about_a_stale_window(qtbot, tiny_model):
    """While the network is busy, windows that go by are dropped: each answer is the newest
    complete window at the time the worker picked it up, and requests never pile up."""
    ring: list[tuple[int, np.ndarray]] = []
    service = RecognitionService(lambda n: ring[-n:], hop=4)
    try:
        with qtbot.waitSignal(service.modelChanged, timeout=WAIT_MS):
            service.load_model(tiny_model)
        service.set_source(SourceInfo(SourceKind.CAMERA, "Camera 0", "0", 25.0, None, 160, 120))
        answers: list[tuple[WindowResult, int]] = []
        service.predicted.connect(lambda r: answers.append((r, ring[-1][0])))
        for index in range(120):
            ring.append((index, make_frame(index)[:, :, ::-1].copy()))
            service.frame_shown(index)
            qtbot.wait(2)
        qtbot.waitUntil(lambda: not service._live_in_flight, timeout=WAIT_MS)
    finally:
        service.shutdown()
    assert answers
    ends = [r.end_frame for r, _ in answers]
    assert ends == sorted(ends) and len(set(ends)) == len(ends)
    for result, newest_when_answered in answers:
        assert result.end_frame <= newest_when_answered + 1
    assert all(b - a >= 4 for a, b in itertools.pairwise(ends))


def test_what_waits_for_the_first_model_runs_once_it_loads_and_never_after_a_failure(
        qtbot, tiny_model, tmp_path):
    service = RecognitionService(lambda n: [])
    ran: list[str] = []
    try:
        assert not service.when_loaded("a", lambda: ran.append("a"))  # nothing is loading
        broken = tmp_path / "broken.safetensors"
        broken.write_bytes(b"\x00" * 4096)
        with qtbot.waitSignal(service.modelLoadFailed, timeout=WAIT_MS):
            service.load_model(broken)
            assert service.when_loaded("a", lambda: ran.append("a"))
        with qtbot.waitSignal(service.modelChanged, timeout=WAIT_MS):
            service.load_model(tiny_model)
            assert service.when_loaded("b", lambda: ran.append("b"))
            assert service.when_loaded("b", lambda: ran.append("b"))  # asked twice
        assert ran == ["b"]  # not "a": its model failed to load
        assert not service.when_loaded("c", lambda: ran.append("c"))  # a model is in
    finally:
        service.shutdown()


# ------------------------------------------------------------------------------- attention


def test_the_attention_view_holds_four_stage_maps(qtbot, window, recognising, clip):
    result = first_prediction(qtbot, window, clip)
    maps = recognising.attention_panel.stage_maps()
    assert [m.shape for m in maps] == [(8, 8), (4, 4), (2, 2), (1, 1)]
    assert result.stage_sizes() == [(4, 8, 8), (2, 4, 4), (1, 2, 2), (1, 1, 1)]
    for attention in maps:  # means of softmax rows: each map sums to 1
        assert attention.sum() == pytest.approx(1.0, abs=1e-4)


def test_at_112_pixels_the_stage_maps_are_28_14_7_and_4(qtbot, models):
    checkpoint = make_checkpoint(models / "tiny-112.safetensors",
                                 input_spec={"frames": 16, "frame_stride": 2, "size": 112})
    frames = [(i, make_frame(i)[:, :, ::-1].copy()) for i in range(32)]
    service = RecognitionService(lambda n: frames[-n:])
    try:
        with qtbot.waitSignal(service.modelChanged, timeout=WAIT_MS):
            service.load_model(checkpoint)
        service.set_source(SourceInfo(SourceKind.FILE, "x", "x", 25.0, 32, 160, 120))
        with qtbot.waitSignal(service.predicted, timeout=WAIT_MS) as blocker:
            service.frame_shown(31)
    finally:
        service.shutdown()
    result: WindowResult = blocker.args[0]
    assert [m.shape for m in result.spatial] == [(28, 28), (14, 14), (7, 7), (4, 4)]
    assert [t.shape for t in result.temporal] == [(8,), (4,), (2,), (1,)]
    assert [r.shape for r in result.spatial_rows] == [(784, 784), (196, 196), (49, 49), (16, 16)]
    row = result.point_map(3, 0.5, 0.25)  # where the place at the middle, a quarter down looks
    assert row.shape == (14, 14) and row.sum() == pytest.approx(1.0, abs=1e-4)
    assert np.allclose(row.ravel(), result.spatial_rows[1][3 * 14 + 7])
    spans = result.temporal_spans(2)
    assert [(a, b) for a, b, _ in spans][:2] == [(0, 4), (4, 8)]  # 8 steps over 32 frames


def test_clicking_the_picture_shows_where_that_place_attends(qtbot, window, recognising, clip):
    first_prediction(qtbot, window, clip)
    window.player.pause()
    view = window.player.view
    square = crop_rect(view.frame_rect())
    target = QPoint(round(square.left() + square.width() * 0.75),
                    round(square.top() + square.height() * 0.25))
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=target)
    options = recognising.options
    assert options.point == pytest.approx((0.75, 0.25), abs=0.02)
    assert options.show_heatmap
    qtbot.waitUntil(lambda: recognising.shown_result().has_rows, timeout=WAIT_MS)
    shown = recognising.shown_result()
    (attended,) = maps_for(shown, options)
    stage_grid = shown.spatial_map(options.point_stage).shape
    assert attended.shape == stage_grid
    assert np.allclose(attended, shown.point_map(options.point_stage, *options.point))
    recognising.attention_panel.clear_point()
    assert recognising.options.point is None


# -------------------------------------------------------------------------------- analysis


def test_another_video_forgets_the_clicked_place_and_its_stage(qtbot, window, recognising,
                                                              clip, other_clip):
    first_prediction(qtbot, window, clip)
    window.player.pause()
    view, panel = window.player.view, recognising.attention_panel
    stage_box = panel.findChild(QComboBox)
    clear = next(b for b in panel.findChildren(QPushButton) if b.text() == "Clear")
    stage_box.setCurrentIndex(stage_box.findText("Stage 5"))
    square = crop_rect(view.frame_rect())
    qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=square.center().toPoint())
    assert recognising.options.point is not None and recognising.options.point_stage == 5
    assert clear.isEnabled()

    with qtbot.waitSignal(window.player.opened, timeout=WAIT_MS):
        window.open_path(other_clip)
    assert recognising.options.point is None
    assert recognising.options.point_stage == 3
    assert stage_box.currentText() == "Stage 3"
    assert not clear.isEnabled()
    assert any("Click a place" in label.text() for label in panel.findChildren(QLabel))


def test_analysing_a_file_fills_the_timeline(qtbot, window, recognising, clip, dialogs):
    first_prediction(qtbot, window, clip)
    window.player.pause()
    progress: list[tuple[int, int]] = []
    recognising.service.progressed.connect(lambda done, total: progress.append((done, total)))
    analyse(qtbot, recognising)
    # windows a quarter window apart (finer than the live hop of 16), the last one ending at
    # the last frame
    assert recognising.service.hop == 16 and recognising.service.analysis_hop() == 4
    expected = window_starts(CLIP_FRAMES, 16, 4)
    analysis = recognising.analysis
    assert analysis is not None and analysis.complete
    assert analysis.timeline.refined  # its changes placed on the frames (engine.boundaries)
    assert [w.start_frame for w in analysis.windows] == expected.tolist()
    assert analysis.windows[-1].end_frame == CLIP_FRAMES
    assert progress[-1] == (len(expected), len(expected))
    assert [w.start_frame for w in recognising.track] == expected.tolist()
    # the strip: the per-frame result's segments, from the first frame to the last
    timeline = recognising.timeline
    segments = timeline.segments()
    assert timeline.has_frame_result()
    assert segments[0].first == 0 and segments[-1].end == CLIP_FRAMES
    assert all(a.end == b.first for a, b in itertools.pairwise(segments))
    assert [(s.first, s.end, s.label) for s in segments] == [
        (s.start_frame, s.end_frame, s.label) for s in analysis.timeline.segments]
    assert timeline.legend()
    (caption,) = [label.text() for label in window.findChildren(QLabel)
                  if label.text().startswith("Analysed:")]
    assert caption.endswith(f"{len(segments)} segment{'s' if len(segments) > 1 else ''}")
    assert not recognising.service._live_enabled  # the analysis answers every frame now

    # click the strip to seek; paused there, the window covering that frame is shown
    x = round(timeline.x_of(50.5))
    qtbot.mouseClick(timeline, Qt.MouseButton.LeftButton, pos=QPoint(x, 12))
    qtbot.waitUntil(lambda: abs(window.player.current_index() - 50) <= 1, timeout=WAIT_MS)
    shown = recognising.shown_result()
    index = window.player.current_index()
    assert shown is recognising.track.at(index) and shown.covers(index)
    assert shown.origin == "analysis"
    assert recognising.predictions_panel.bars.rows()[0][0] == shown.label
    # hovering tells the per-frame segment there
    stretch = timeline.stretch_at(timeline.frame_at(x))
    tip = timeline.tooltip_at(QPointF(x, 12))
    assert stretch.label.replace("_", " ") in tip and f"frames {stretch.first}–" in tip
    assert not dialogs


def test_an_analysis_can_be_cancelled_midway(qtbot, window, recognising, videos):
    long_clip = write_video(videos / "long.mp4", 250)
    window.open_path(long_clip)
    qtbot.waitUntil(lambda: window.player.current_index() >= 0, timeout=WAIT_MS)
    window.player.pause()
    recognising.set_hop(4)
    total = len(window_starts(250, 16, 4))
    asked_at: list[float] = []

    def cancel_early(done: int, total: int) -> None:
        if done >= 4 and not asked_at:
            asked_at.append(time.perf_counter())
            recognising.cancel_analysis()

    recognising.service.progressed.connect(cancel_early)
    with qtbot.waitSignal(recognising.service.cancelled, timeout=WAIT_MS) as blocker:
        recognising.analyse()
    stopped_after = time.perf_counter() - asked_at[0]
    print(f"\ncancel took {stopped_after * 1000:.0f} ms", flush=True)
    partial = blocker.args[0]
    assert not partial.complete
    assert 4 <= len(partial.windows) < total
    assert stopped_after < 2.0
    done = [w.start_frame for w in partial.windows]
    assert done == list(range(0, 4 * len(done), 4))
    assert [w.start_frame for w in recognising.track] == done
    # the strip: the per-frame result of the frames analysed, no further
    assert recognising.timeline.has_frame_result()
    assert recognising.timeline.segments()[-1].end == partial.windows[-1].end_frame
    assert partial.timeline.num_frames == partial.windows[-1].end_frame
    assert recognising.predictions_panel.session_heading() == "Time per action · part analysed"
    assert recognising.service._live_enabled
    # still usable: the video plays on and a new analysis runs to the end
    window.player.seek(200)
    qtbot.waitUntil(lambda: window.player.current_index() == 200, timeout=WAIT_MS)
    recognising.set_hop(16)
    analyse(qtbot, recognising)
    assert recognising.analysis.complete


# ------------------------------------------------------------------------------- errors


def test_a_bad_checkpoint_gives_an_error_and_the_model_stays(qtbot, window, recognising,
                                                             tmp_path, dialogs, settings):
    assert settings.value("model/last_checkpoint") == str(recognising.model.path)
    good = recognising.model
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x00" * 4096)
    torch_file = tmp_path / "kinetics.pth"
    torch.save({"state_dict": {"conv1.weight": torch.zeros(2, 3, 1, 1, 1)}}, torch_file)
    for path in (broken, torch_file):
        with qtbot.waitSignal(recognising.service.modelLoadFailed, timeout=WAIT_MS):
            recognising.load_model(path)
    assert [d.title for d in dialogs] == ["Cannot load the model"] * 2
    assert "broken.safetensors" in dialogs[0].text
    assert "import" in dialogs[1].text and "kinetics.pth" in dialogs[1].text
    assert recognising.model is good
    assert settings.value("model/last_checkpoint") == str(good.path)


def test_open_model_from_the_menu_and_see_its_classes(qtbot, window, tiny_model, monkeypatch,
                                                      dialogs):
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda *args, **kwargs: (str(tiny_model), ""))
    recognition = window.recognition
    with qtbot.waitSignal(recognition.service.modelChanged, timeout=WAIT_MS):
        recognition.open_model_action.trigger()
    shown = []
    monkeypatch.setattr("app.controllers.recognition.ModelInfoDialog.exec",
                        lambda self: shown.append(self))
    recognition.model_info_action.trigger()
    classes = [shown[0].classes.item(i).text() for i in range(shown[0].classes.count())]
    assert classes == ACTIONS


def test_a_corrupt_video_gives_an_error_dialog(qtbot, window, recognising, corrupt_file,
                                               dialogs):
    with qtbot.waitSignal(window.player.openFailed, timeout=WAIT_MS):
        window.open_path(corrupt_file)
    assert dialogs and dialogs[0].title == "Cannot open the video"
    assert recognising.model is not None and not recognising.analyse_action.isEnabled()


# ------------------------------------------------------------------------------ responsive


@pytest.fixture
def busy_model(models: Path) -> Path:
    """About 0.15 s a window on a laptop CPU: the worker is busy all the time at hop 4."""
    return make_checkpoint(models / "busy.safetensors", width=0.25,
                           input_spec={"frames": 16, "frame_stride": 2, "size": 64})


def test_the_window_keeps_serving_events_during_inference(qtbot, window, busy_model, clip,
                                                          stall_meter):
    recognition = load(qtbot, window, busy_model)
    recognition.set_hop(4)
    answers: list[WindowResult] = []
    recognition.service.predicted.connect(answers.append)
    first_prediction(qtbot, window, clip)
    stall_meter.start()
    qtbot.wait(2500)
    stall = stall_meter.stop()
    print(f"\nlongest event-loop stall during inference: {stall} ms "
          f"({len(stall_meter.gaps_ms)} ticks, {len(answers)} predictions)")
    assert len(answers) >= 4  # inference really ran all along
    assert stall < 250


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_model_moves_to_the_gpu_and_back(qtbot, window, recognising, clip):
    assert recognising.device_actions["cuda"].isEnabled()
    with qtbot.waitSignal(recognising.service.modelChanged, timeout=WAIT_MS) as moved:
        recognising.device_actions["cuda"].trigger()
    assert moved.args[0].device == "cuda"
    assert recognising.status_texts()["device"].startswith("CUDA")
    result = first_prediction(qtbot, window, clip)
    assert len(result.labels) == 5
    with qtbot.waitSignal(recognising.service.modelChanged, timeout=WAIT_MS) as back:
        recognising.set_device("cpu")
    assert back.args[0].device == "cpu"


# ------------------------------------------------------------------------------- exports


@pytest.fixture
def analysed(qtbot, window, recognising, clip) -> Iterator[RecognitionController]:
    window.open_path(clip)
    qtbot.waitUntil(lambda: window.player.current_index() >= 0, timeout=WAIT_MS)
    window.player.pause()
    analyse(qtbot, recognising)
    yield recognising


def test_exported_predictions_match_the_analysis(qtbot, analysed, tmp_path):
    windows = analysed.analysis.windows
    folder = tmp_path / "exports"
    for name in ("windows.csv", "windows.json"):
        with qtbot.waitSignal(analysed.export_predictions(folder / name).finished,
                              timeout=WAIT_MS):
            pass
    with open(folder / "windows.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(windows)
    for row, window in zip(rows, windows, strict=True):
        assert (int(row["start_frame"]), int(row["end_frame"])) == (window.start_frame,
                                                                  window.end_frame)
        assert [row[f"label_{i}"] for i in range(1, 6)] == window.labels
        assert [float(row[f"score_{i}"]) for i in range(1, 6)] == pytest.approx(window.scores,
                                                                                abs=1e-6)
    document = json.loads((folder / "windows.json").read_text())
    (video,) = document["predictions"]
    assert [w["labels"] for w in video["windows"]] == [w.labels for w in windows]
    assert video["num_frames"] == CLIP_FRAMES
    # beside each, the per-frame result's segments: one row each, first frame to last
    segments = analysed.analysis.timeline.segments
    with open(folder / "windows.segments.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(int(r["start_frame"]), int(r["end_frame"]), r["label"]) for r in rows] == [
        (s.start_frame, s.end_frame, s.label) for s in segments]
    assert rows[0]["start_frame"] == "0" and rows[-1]["end_frame"] == str(CLIP_FRAMES)
    assert float(rows[-1]["end_s"]) == pytest.approx(CLIP_FRAMES / 25)
    (timeline,) = json.loads((folder / "windows.segments.json").read_text())["timelines"]
    assert [s["label"] for s in timeline["segments"]] == [s.label for s in segments]
    assert sorted(p.name for p in folder.iterdir()) == [
        "windows.csv", "windows.json", "windows.segments.csv", "windows.segments.json"]


def decoded(path: Path) -> tuple[av.video.stream.VideoStream, list[np.ndarray]]:
    """The video stream's description and every frame (RGB) of an exported file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    return stream, frames


def test_exported_video_is_h264_with_every_frame_and_the_overlay(qtbot, analysed, clip,
                                                                  tmp_path):
    target = tmp_path / "out" / "drill-recognised.mp4"
    job = analysed.export_video(target)
    progress: list[tuple[int, int]] = []
    job.progressed.connect(lambda done, total: progress.append((done, total)))
    with qtbot.waitSignal(job.finished, timeout=WAIT_MS):
        pass
    stream, frames = decoded(target)
    assert stream.codec_context.name == "h264"
    assert stream.codec_context.pix_fmt == "yuv420p"
    assert stream.average_rate == 25
    assert len(frames) == CLIP_FRAMES and frames[0].shape == (120, 160, 3)
    assert progress[-1] == (CLIP_FRAMES, CLIP_FRAMES)
    source = make_frame(50)[:, :, ::-1]
    exported = frames[50]
    badge = np.abs(exported[6:30, 6:60].astype(int) - source[6:30, 6:60].astype(int)).mean()
    assert badge > 25
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def test_an_odd_sized_ntsc_video_exports_at_its_exact_rate(qtbot, videos, tmp_path):
    source = videos / "ntsc.mp4"
    with av.open(str(source), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(30000, 1001))
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for index in range(45):
            frame = av.VideoFrame.from_ndarray(make_frame(index)[:, :, ::-1].copy(),
                                               format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    target = tmp_path / "ntsc-recognised.mp4"
    # a renderer that hands back an odd-sized picture: padded to even, never refused
    export_overlay_video(source, target, lambda frame, index: frame[:119, :159])
    stream, frames = decoded(target)
    assert stream.codec_context.name == "h264"
    assert stream.average_rate == Fraction(30000, 1001)
    assert len(frames) == 45 and frames[0].shape == (120, 160, 3)
    assert float(stream.duration * stream.time_base) == pytest.approx(45 * 1001 / 30000,
                                                                      abs=1e-3)
    # the same picture and colours as the source, frame for frame
    _, originals = decoded(source)
    for original, exported in zip(originals, frames, strict=True):
        difference = np.abs(exported[:119, :159].astype(int) - original[:119, :159].astype(int))
        assert difference.mean() < 4


def test_an_unwritable_destination_gives_an_error_naming_the_file(qtbot, analysed, tmp_path,
                                                                  dialogs):
    (tmp_path / "exports").mkdir()
    blocker = tmp_path / "exports" / "not-a-folder"
    blocker.write_text("a file where the export folder should be")
    target = blocker / "drill-recognised.mp4"
    job = analysed.export_video(target)
    with qtbot.waitSignal(job.failed, timeout=WAIT_MS) as failed:
        pass
    message = failed.args[0]
    assert str(target) in message and "\n" not in message
    assert dialogs[-1].title == "Cannot export the video" and dialogs[-1].text == message
    assert "a file is in the way" in message
    assert sorted(p.name for p in blocker.parent.iterdir()) == ["not-a-folder"]


def test_an_export_fails_cleanly_when_the_encoder_does(qtbot, analysed, tmp_path,
                                                       monkeypatch):
    import app.services.export as export_module

    def broken(self, picture):
        raise av.error.OSError(28, "No space left on device")

    monkeypatch.setattr(export_module._H264Writer, "write", broken)
    target = tmp_path / "exports" / "full.mp4"
    job = analysed.export_video(target)
    with qtbot.waitSignal(job.failed, timeout=WAIT_MS) as failed:
        pass
    assert failed.args[0] == f"Cannot write {target}: No space left on device"
    assert list(target.parent.iterdir()) == []


def test_an_export_can_be_cancelled_and_writes_nothing(qtbot, analysed, tmp_path, monkeypatch):
    import app.controllers.recognition_export as recognition_module

    def slow(render):
        def render_slowly(frame, index):
            time.sleep(0.02)
            return render(frame, index)
        return render_slowly

    original = recognition_module.overlay_renderer
    monkeypatch.setattr(recognition_module, "overlay_renderer",
                        lambda *a, **k: slow(original(*a, **k)))
    target = tmp_path / "exports" / "cancelled.mp4"
    job = analysed.export_video(target)
    with qtbot.waitSignal(job.cancelled, timeout=WAIT_MS):
        qtbot.wait(100)
        job.cancel()
    assert list(target.parent.iterdir()) == []
    assert analysed.export_video_action.isEnabled()


def forget_live_answers(qtbot, recognition: RecognitionController) -> None:
    """Paused, with the answers given while playing dropped: nothing to export yet."""
    qtbot.wait(200)  # a live answer still on its way lands first
    recognition.reset_results()
    assert not recognition.track


def test_exporting_before_any_analysis_offers_to_analyse_first(qtbot, window, recognising,
                                                               clip, tmp_path, monkeypatch,
                                                               dialogs):
    window.open_path(clip)
    qtbot.waitUntil(lambda: window.player.current_index() >= 0, timeout=WAIT_MS)
    window.player.pause()
    forget_live_answers(qtbot, recognising)
    questions: list[tuple[str, str]] = []
    answer = {"accept": False}

    def ask(title, text, accept, details=""):
        questions.append((text, accept))
        return answer["accept"]

    monkeypatch.setattr(recognising, "ask", ask)
    target = tmp_path / "exports" / "drill-recognised.mp4"

    # Cancel: nothing analysed, nothing written
    assert recognising.export_video(target) is None
    assert questions == [("Analyse the whole video first?", "Analyse")]
    assert not recognising.service.is_analysing() and not target.parent.exists()

    # Analyse: the whole file is analysed, then the export is written to the chosen path
    answer["accept"] = True
    with qtbot.waitSignal(recognising.service.finished, timeout=WAIT_MS):
        assert recognising.export_video(target) is None
    qtbot.waitUntil(lambda: target.exists(), timeout=WAIT_MS)
    assert recognising.analysis is not None and recognising.analysis.complete
    stream, frames = decoded(target)
    assert stream.codec_context.name == "h264" and len(frames) == CLIP_FRAMES
    assert len(questions) == 2 and not dialogs


def test_exporting_predictions_before_any_analysis_offers_to_analyse_first(
        qtbot, window, recognising, clip, tmp_path, monkeypatch, dialogs):
    window.open_path(clip)
    qtbot.waitUntil(lambda: window.player.current_index() >= 0, timeout=WAIT_MS)
    window.player.pause()
    forget_live_answers(qtbot, recognising)
    asked: list[str] = []
    monkeypatch.setattr(recognising, "ask",
                        lambda title, text, accept, details="": asked.append(text) or True)
    target = tmp_path / "windows.json"
    with qtbot.waitSignal(recognising.service.finished, timeout=WAIT_MS):
        assert recognising.export_predictions(target) is None
    qtbot.waitUntil(lambda: target.exists(), timeout=WAIT_MS)
    (video,) = json.loads(target.read_text())["predictions"]
    assert len(video["windows"]) == len(recognising.analysis.windows)
    assert asked == ["Analyse the whole video first?"] and not dialogs


def test_exporting_without_a_model_says_to_open_one(qtbot, window, clip, tmp_path, dialogs):
    window.open_path(clip)
    qtbot.waitUntil(lambda: window.player.current_index() >= 0, timeout=WAIT_MS)
    assert window.recognition.export_video(tmp_path / "out.mp4") is None
    assert dialogs[-1].title == "Nothing to export" and "open a model" in dialogs[-1].text
    assert not (tmp_path / "out.mp4").exists()


def offered_export_path(recognition: RecognitionController, monkeypatch) -> Path:
    """The file the export dialog proposes (the dialog is closed without saving)."""
    offered: list[str] = []

    def save_dialog(parent, caption, start, *args, **kwargs):
        offered.append(start)
        return "", ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    recognition.export_video_action.trigger()
    (start,) = offered
    return Path(start)


def test_the_default_export_folder_is_the_users_never_the_programs(qtbot, window, settings,
                                                                    tmp_path, monkeypatch):
    import resources
    from stmanet.bundled import bundled_resource

    demo = bundled_resource("videos", "demo.mp4")
    if demo is None:
        pytest.skip("no bundled demo video in this checkout")
    movies, documents = tmp_path / "Videos", tmp_path / "Documents"
    places = {QStandardPaths.StandardLocation.MoviesLocation: movies,
              QStandardPaths.StandardLocation.DocumentsLocation: documents}
    monkeypatch.setattr(QStandardPaths, "writableLocation",
                        lambda location: str(places.get(location, tmp_path / "other")))
    window.open_path(demo)
    qtbot.waitUntil(lambda: window.player.current_index() >= 0, timeout=WAIT_MS)
    window.player.pause()
    package = Path(resources.__file__).resolve().parent

    documents.mkdir()  # no videos folder yet: documents
    assert offered_export_path(window.recognition, monkeypatch) == documents / "demo-recognised.mp4"
    movies.mkdir()
    assert offered_export_path(window.recognition, monkeypatch) == movies / "demo-recognised.mp4"
    # the folder of the last export, while it exists, unless it is inside the program
    last = tmp_path / "exports"
    last.mkdir()
    settings.setValue("paths/last_export_directory", str(last))
    assert offered_export_path(window.recognition, monkeypatch) == last / "demo-recognised.mp4"
    settings.setValue("paths/last_export_directory", str(package / "videos"))
    offered = offered_export_path(window.recognition, monkeypatch)
    assert offered == movies / "demo-recognised.mp4"
    assert not offered.resolve().is_relative_to(package)
    # nothing exists: home
    for folder in (movies, documents):
        folder.rmdir()
    last.rmdir()
    settings.setValue("paths/last_export_directory", str(last))
    assert offered_export_path(window.recognition, monkeypatch).parent == Path.home()


def test_while_playing_the_session_summary_counts_the_windows_seen(qtbot, window,
                                                                  recognising, clip):
    first_prediction(qtbot, window, clip)
    window.player.pause()
    qtbot.wait(200)  # a live answer still on its way lands first
    rows = recognising.session_summary()
    labels = PredictionTrack(recognising.track.windows).labels_per_frame(CLIP_FRAMES)
    assert rows and sum(r.seconds for r in rows) == pytest.approx((labels >= 0).sum() / 25.0)
    qtbot.waitUntil(lambda: recognising.predictions_panel.session.rows() == rows,
                    timeout=WAIT_MS)
    panel = recognising.predictions_panel
    assert panel.session_heading() == "Time per action"
    assert panel.session_basis() == "Counted over the windows seen while playing"


def test_the_session_summary_counts_seconds_per_action(qtbot, analysed, tmp_path,
                                                       monkeypatch):
    """After a whole-video analysis: every frame counts once, for its smoothed action."""
    rows = analysed.session_summary()
    timeline = analysed.analysis.timeline
    assert sum(r.seconds for r in rows) == pytest.approx(CLIP_FRAMES / 25.0)
    assert {r.label: r.seconds for r in rows} == pytest.approx(timeline.seconds_per_action())
    labels = np.array(timeline.label_names())
    top = rows[0]
    assert top.seconds == pytest.approx((labels == top.label).sum() / 25.0)
    qtbot.waitUntil(lambda: analysed.predictions_panel.session.rows() == rows,
                    timeout=WAIT_MS)
    panel = analysed.predictions_panel
    assert panel.session_heading() == "Time per action · whole video"
    assert panel.session_basis() == "Counted over every frame of the whole video, smoothed"
    dialog = analysed.show_summary()
    assert dialog.table.rowCount() == len(rows)
    assert dialog.table.item(0, 0).text() == top.label
    assert "every frame of the whole video" in dialog.caption.text()
    target = tmp_path / "summary.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    dialog.export_button.click()
    with open(target, newline="") as f:
        saved = list(csv.DictReader(f))
    assert [(r["action"], float(r["seconds"])) for r in saved] == [
        (r.label, pytest.approx(r.seconds, abs=0.01)) for r in rows]
    dialog.close()


def test_class_names_read_as_words_and_exports_keep_the_real_ones(qtbot, window, clip,
                                                                  models, tmp_path,
                                                                  monkeypatch):
    real = [a.replace(" ", "_") for a in ACTIONS]  # "jumping_jacks", ...
    recognition = load(qtbot, window, make_checkpoint(models / "snake.safetensors",
                                                      classes=real))
    badges: list[str] = []
    original_badge = overlay.paint_badge
    monkeypatch.setattr(overlay, "paint_badge",
                        lambda painter, rect, label, *a, **k: (badges.append(label),
                                                               original_badge(painter, rect,
                                                                              label, *a,
                                                                              **k))[1])
    window.open_path(clip)
    qtbot.waitUntil(lambda: window.player.current_index() >= 0, timeout=WAIT_MS)
    window.player.pause()
    analyse(qtbot, recognition)
    shown = recognition.shown_result()
    assert "_" in shown.label and shown.label in real

    def words(text: str) -> bool:
        return "_" not in text and any(a in text for a in ACTIONS)

    window.player.view.grab()
    assert badges and all(words(label) for label in badges)
    bars = [label for label, _ in recognition.predictions_panel.bars.rows()]
    assert bars == [label.replace("_", " ") for label in shown.labels]
    legend = window.findChild(TimelineLegend)
    assert legend.entries() and all(words(label) for label, _, _ in legend.entries())
    timeline = recognition.timeline
    assert words(timeline.tooltip_at(QPointF(timeline.x_of(10), 12)))
    summary = recognition.show_summary()
    assert all(words(summary.table.item(n, 0).text()) for n in range(summary.table.rowCount()))
    summary.close()
    info = ModelInfoDialog(recognition.model, window)
    assert [info.classes.item(n).text() for n in range(info.classes.count())] == ACTIONS

    target = tmp_path / "windows.csv"
    with qtbot.waitSignal(recognition.export_predictions(target).finished, timeout=WAIT_MS):
        pass
    with open(target, newline="") as f:
        assert {row["label_1"] for row in csv.DictReader(f)} <= set(real)
    assert recognition.session_summary()[0].label in real


def test_model_information_reads_as_a_table_not_json(qtbot, window, monkeypatch):
    demo = Path(__file__).resolve().parents[2] / "resources" / "models" / "demo.safetensors"
    recognition = load(qtbot, window, demo)
    shown: list[ModelInfoDialog] = []
    monkeypatch.setattr(ModelInfoDialog, "exec", lambda self: shown.append(self) or 0)
    window.recognition.model_info_action.trigger()
    (dialog,) = shown
    text = dialog.details.text()
    assert "<table" in text and "{" not in text  # formatted, no raw JSON
    plain = QTextDocumentFragment.fromHtml(text).toPlainText()
    for expected in ("stmanet_r10", "ST-MANet on a 3D ResNet-10", "M parameters",
                     "16, one in 2 of a 32-frame window", "64 × 64 pixels",
                     "/ 0.405 /", "(R / G / B)", "Trained from scratch, 40 epochs",
                     "2026", "100.0% top-1, 100.0% top-5 on 400 videos"):
        assert expected in plain, expected
    classes = [dialog.classes.item(n).text() for n in range(dialog.classes.count())]
    assert classes[0] == "jumping jacks" and len(classes) == len(recognition.model.class_names)


# ------------------------------------------------------------------------------ settings


def test_overlay_options_device_and_hop_survive_a_restart(qtbot, settings_path, dialogs):
    first = MainWindow(QSettings(str(settings_path), QSettings.Format.IniFormat))
    qtbot.addWidget(first)
    recognition = first.recognition
    panel = recognition.attention_panel
    qtbot.mouseClick(panel.tiles()[0], Qt.MouseButton.LeftButton)  # stage 2 on
    qtbot.mouseClick(panel.tiles()[2], Qt.MouseButton.LeftButton)  # stage 4 off
    panel._opacity.setValue(30)
    recognition.show_badge_action.setChecked(False)
    recognition.hop_actions[32].trigger()
    recognition.device_actions["cpu"].trigger()
    expected = recognition.options
    assert expected.stages == (2,) and expected.opacity == pytest.approx(0.3)
    first.close()

    second = MainWindow(QSettings(str(settings_path), QSettings.Format.IniFormat))
    qtbot.addWidget(second)
    try:
        restored = second.recognition
        assert restored.options == expected
        assert not restored.show_badge_action.isChecked()
        assert restored.service.hop == 32 and restored.hop_actions[32].isChecked()
        assert restored.service.device == "cpu"
        assert [t.is_checked() for t in restored.attention_panel.tiles()] == [
            True, False, False, False]
    finally:
        second.close()
