"""File ▸ Compare videos…: two generated drills side by side with the demo model, as a coach
uses them: one transport moves both, a nudge moves one alone, each way of syncing lines the
drill up (B is A's drill later and TEMPO times slower: tests/unit/test_align.py), the readout
shows both tempos, and the export is one H.264 video with a frame per frame of A."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PySide6.QtCore import QCoreApplication, QEvent, Qt
from waiting import wait_until

from app.controllers.compare import CompareController
from app.main_window import MainWindow
from stmanet.bundled import bundled_demo_model
from stmanet.data.synthetic import render_sequence, write_video

DEMO_MODEL = bundled_demo_model()
pytestmark = pytest.mark.skipif(DEMO_MODEL is None, reason="the demo model is not installed")
TEMPO = 1.25


@pytest.fixture(scope="module")
def drills(tmp_path_factory) -> tuple[Path, Path, int, int]:
    """A: 2 s of squats then 6 s of jumping jacks; B: the same figure, 2.8 s of squats
    then the jumping jacks TEMPO times slower. Returns the paths and where the jumping
    jacks start in each."""
    folder = tmp_path_factory.mktemp("compare")
    a, seg_a = render_sequence([("squats", 2.0), ("jumping_jacks", 6.0)], seed=3,
                               size=(160, 120))
    b, seg_b = render_sequence([("squats", 2.8), ("jumping_jacks", 6.0)], seed=3,
                               fps=25.0 * TEMPO, size=(160, 120))
    return (write_video(folder / "model.mp4", a), write_video(folder / "student.mp4", b),
            seg_a[1].start_frame, seg_b[1].start_frame)


@pytest.fixture(scope="module")
def compare(qapp, drills) -> Iterator[CompareController]:
    errors: list[tuple[str, str]] = []
    controller = CompareController(DEMO_MODEL, present_error=lambda t, m: errors.append((t, m)))
    controller.view.resize(1600, 1000)
    controller.view.show()
    wait_until(lambda: controller.service.model is not None, 60)
    controller.open_videos(drills[0], drills[1])
    wait_until(lambda: all(controller.side(s).player.source_info() for s in "AB"), 30)
    assert controller.analyse()
    wait_until(lambda: not controller.is_busy() and all(
        controller.side(s).analysis and controller.side(s).study for s in "AB"), 300)
    assert errors == []
    controller.errors = errors  # type: ignore[attr-defined]
    yield controller
    controller.view.close()


def choose_mode(compare: CompareController, mode: str) -> None:
    combo = compare.view.mode_combo
    combo.setCurrentIndex(combo.findData(mode))
    wait_until(lambda: not compare.is_busy(), 30)


def shown(compare: CompareController) -> tuple[int, int]:
    """The frames on screen, once both players show what they were asked for."""
    wait_until(lambda: compare.side("A").player.current_index() == compare.position()
               and compare.side("B").player.current_index() == max(0, min(
                   compare.b_frame(), compare.side("B").frame_count() - 1)), 10)
    return compare.side("A").player.current_index(), compare.side("B").player.current_index()


def test_one_transport_moves_both_and_a_nudge_moves_one(compare, qtbot):
    choose_mode(compare, "offset")
    compare.view.offset_spin.setValue(10)
    compare.seek(20)
    assert shown(compare) == (20, 30)
    compare.view.step_forward_action.trigger()
    assert shown(compare) == (21, 31)
    compare.view.step_backward_action.trigger()
    compare.view.step_backward_action.trigger()
    assert shown(compare) == (19, 29)
    compare.view.pane_b.nudge_forward.click()  # B alone: the offset grows
    assert shown(compare) == (19, 30) and compare.view.offset_spin.value() == 11
    compare.view.pane_a.nudge_forward.click()  # A alone: B stays, the offset shrinks
    assert shown(compare) == (20, 30) and compare.view.offset_spin.value() == 10
    compare.view.pane_a.player.view.setFocus()  # the keys work wherever the focus is
    qtbot.keyClick(compare.view.pane_a.player.view, Qt.Key.Key_Right)
    assert shown(compare) == (21, 31)
    qtbot.keyClick(compare.view.pane_a.player.view, Qt.Key.Key_Left)
    assert shown(compare) == (20, 30)
    compare.view.play_action.trigger()
    assert compare.is_playing() and compare.view.play_action.text() == "Pause"
    wait_until(lambda: compare.position() >= 40, 20)
    compare.view.play_action.trigger()
    a, b = shown(compare)
    assert b - a == 10  # played in step


def test_action_start_lines_up_the_jumping_jacks_within_two_frames(compare, drills):
    choose_mode(compare, "action")
    alignment = compare.alignment
    true_offset = drills[3] - drills[2]
    print(f"\nby action start: offset {alignment.offset:+.0f}, true {true_offset:+d}")
    assert alignment.mode == "action" and "jumping_jacks" in alignment.detail
    assert abs(alignment.offset - true_offset) <= 2
    assert compare.view.action_combo.currentData() == "jumping_jacks"
    marks_a = compare.side("A").pane.timeline.marks()
    marks_b = compare.side("B").pane.timeline.marks()
    assert len(marks_a) == len(marks_b) == 1 and marks_b[0] - marks_a[0] == alignment.offset


def test_repetitions_keep_the_slower_student_in_step(compare, drills):
    choose_mode(compare, "reps")
    alignment = compare.alignment
    assert alignment.mode == "reps", compare.view.status.text()
    start_a, start_b = drills[2], drills[3]
    frames = np.arange(alignment.anchors[0, 0], alignment.anchors[-1, 0])
    error = np.abs(alignment.b_of(frames) - (start_b + TEMPO * (frames - start_a)))
    print(f"\nby repetitions (model's segments, counter's reps): error mean "
          f"{error.mean():.2f} max {error.max():.2f} frames, tempo ratio "
          f"{alignment.tempo_ratio:.3f} (true {TEMPO})")
    assert error.mean() <= 2.0
    assert alignment.tempo_ratio == pytest.approx(TEMPO, rel=0.1)
    assert len(compare.side("A").pane.timeline.marks()) > 4  # every repetition marked
    compare.seek(120)
    shown(compare)
    action_a, tempo_a = compare.view.readout.texts("A")
    action_b, tempo_b = compare.view.readout.texts("B")
    assert "jumping jacks" in action_a and "jumping jacks" in action_b and "%" in action_a
    rate_a, rate_b = (float(t.split("Tempo: ")[1].split(" reps/min")[0]) for t in (tempo_a,
                                                                                    tempo_b))
    assert rate_a / rate_b == pytest.approx(TEMPO, rel=0.1)
    assert compare.view.readout.heatmap["B"].pixmap() is not None
    assert "B takes 1.2" in compare.view.readout.sync_label.text()


def test_the_export_is_one_h264_video_side_by_side(compare, tmp_path):
    choose_mode(compare, "action")
    target = tmp_path / "compared.mp4"
    compare.export(target)
    wait_until(lambda: compare.last_export == target, 300)
    with av.open(str(target)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        assert stream.codec_context.name == "h264"
    assert len(frames) == compare.side("A").frame_count()
    height, width = frames[0].shape[:2]
    assert height == 120 and width == 160 + 8 + 160
    # the right half at A's frame 100 is B's aligned frame
    b = compare.b_frame(100)
    capture = cv2.VideoCapture(str(compare.side("B").path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, b)
    ok, bgr = capture.read()
    capture.release()
    assert ok
    right = frames[100][:, 168:].astype(float)
    truth = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(float)
    # the badge covers the top left; compare the lower half
    assert np.abs(right[70:] - truth[70:]).mean() < 12
    assert compare.errors == []
    # a cancelled export leaves nothing behind and says so
    other = tmp_path / "cancelled.mp4"
    job = compare.export(other)
    assert job is not None and not compare.view.export_button.isEnabled()
    job.cancel()
    wait_until(lambda: not compare.jobs.is_busy(), 60)
    assert not other.exists() and list(tmp_path.iterdir()) == [target]
    assert "cancelled" in compare.view.status.text() and compare.errors == []
    assert compare.view.export_button.isEnabled()


def test_file_menu_opens_the_comparison_with_the_model_in_use(qapp, tmp_path):
    from PySide6.QtCore import QSettings
    window = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    assert window.compare_action in window.menuBar().actions()[0].menu().actions()
    compare = window.open_comparison()
    assert compare.view.isVisible() and compare.service.model is None
    gone: list[object] = []
    compare.destroyed.connect(lambda *_: gone.append(True))
    compare.view.close()  # closing the comparison lets it go
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    wait_until(lambda: bool(gone), 10)
    window.close()


def test_analyse_asked_for_while_the_videos_open_starts_once_they_are_open(qapp, drills):
    """As with videos given on the command line: Analyse right after opening them waits for
    them instead of saying "Open video A first"."""
    errors: list[tuple[str, str]] = []
    compare = CompareController(DEMO_MODEL, present_error=lambda t, m: errors.append((t, m)))
    compare.view.show()
    wait_until(lambda: compare.service.model is not None, 60)
    compare.open_videos(drills[0], drills[1])
    assert compare.side("A").player.is_opening()
    assert compare.analyse()
    assert compare.view.status.text() == "Analysing once the videos are open…"
    wait_until(lambda: not compare.is_busy() and all(compare.side(s).analysis for s in "AB"),
               300)
    assert errors == []
    compare.view.close()


def test_bad_inputs_say_what_is_wrong_in_one_line(qapp, tmp_path, drills):
    errors: list[tuple[str, str]] = []
    compare = CompareController(None, present_error=lambda t, m: errors.append((t, m)))
    compare.view.show()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\0" * 5000)
    compare.open_video("A", broken)
    wait_until(lambda: bool(errors), 30)
    title, message = errors[0]
    assert title == "Cannot open video A" and "broken.mp4" in message and "\n" not in message
    compare.open_videos(drills[0], drills[1])
    wait_until(lambda: all(compare.side(s).player.source_info() for s in "AB"), 30)
    assert not compare.analyse()  # no model
    assert errors[-1][0] == "No model"
    choose_mode(compare, "action")
    assert "Analyse both videos first" in compare.view.status.text()
    assert compare.alignment.mode == "offset"  # the previous alignment stays
    target = compare.side("A").path
    assert compare.export(target) is not None
    wait_until(lambda: errors[-1][0] == "Export failed", 30)
    assert "overwrite" in errors[-1][1]
    compare.view.close()


def test_repetitions_fall_back_to_dtw_where_the_counter_abstains(compare, drills):
    from dataclasses import replace

    from app.services.compare import align_videos

    a, b = compare.side("A"), compare.side("B")
    silent = replace(b.study, counts=tuple(replace(c, total=None, rep_times=(), rep_starts=(),
                                                   reason="no period found")
                                           for c in b.study.counts))
    alignment = align_videos("reps", segments_a=a.segments(), segments_b=b.segments(),
                             study_a=a.study, study_b=silent)
    assert alignment.mode == "dtw" and alignment.extra["action"] == "jumping_jacks"
    start_a, start_b = drills[2], drills[3]
    frames = np.arange(start_a + 10, a.frame_count() - 10)
    error = np.abs(alignment.b_of(frames) - (start_b + TEMPO * (frames - start_a)))
    print(f"\nDTW fallback (model's segments): phase error mean {error.mean():.2f} max "
          f"{error.max():.2f} frames")
    assert error.mean() <= 1.0


def test_a_video_opened_while_its_side_is_analysed_gets_nothing_of_the_old_one(qapp,
                                                                                tmp_path):
    a, _ = render_sequence([("jumping_jacks", 2.0)], seed=5)
    b, _ = render_sequence([("jumping_jacks", 2.0)], seed=6)
    c, _ = render_sequence([("squats", 1.5)], seed=7, size=(192, 108))
    paths = [write_video(tmp_path / f"{n}.mp4", v) for n, v in zip("abc", (a, b, c),
                                                                    strict=True)]
    errors: list[tuple[str, str]] = []
    compare = CompareController(DEMO_MODEL, present_error=lambda t, m: errors.append((t, m)))
    compare.view.show()
    wait_until(lambda: compare.service.model is not None, 60)
    compare.open_videos(paths[0], paths[1])
    wait_until(lambda: all(compare.side(s).player.source_info() for s in "AB"), 30)
    assert compare.analyse() and compare.service.is_analysing()
    compare.open_video("A", paths[2])  # while A's first video is being analysed
    wait_until(lambda: not compare.is_busy() and compare.side("B").analysis is not None
               and compare.side("A").study is not None, 300)
    side_a = compare.side("A")
    assert side_a.analysis is None and side_a.study.path == paths[2]
    assert not side_a.pane.timeline.has_frame_result()
    assert compare.view.readout.texts("A")[0] == "Action: not analysed yet"
    assert compare.side("B").analysis.path == paths[1] and errors == []
    assert compare.analyse()  # analysing again takes the new video
    wait_until(lambda: not compare.is_busy() and side_a.analysis is not None, 300)
    assert side_a.analysis.path == paths[2] and side_a.pane.timeline.has_frame_result()
    compare.view.close()


def test_videos_of_different_aspect_ratios_are_compared(qapp, tmp_path):
    """A 4:3 video beside a 16:9 one (their frame embeddings differ in length)."""
    from stmanet.data.decode import iter_frames
    from stmanet.engine.reps import EMBED_SIDE, count_reps, frame_embedding

    a, _ = render_sequence([("jumping_jacks", 4.0)], seed=8, size=(160, 120))
    b, _ = render_sequence([("jumping_jacks", 4.0)], seed=8, size=(192, 108), fps=25 * TEMPO)
    path_a, path_b = write_video(tmp_path / "4x3.mp4", a), write_video(tmp_path / "16x9.mp4", b)
    errors: list[tuple[str, str]] = []
    compare = CompareController(None, present_error=lambda t, m: errors.append((t, m)))
    compare.view.show()
    compare.open_videos(path_a, path_b)
    wait_until(lambda: all(compare.side(s).study for s in "AB") and not compare.is_busy(), 60)
    choose_mode(compare, "reps")
    alignment = compare.alignment
    print(f"\n4:3 beside 16:9: {alignment.mode}, tempo ratio {alignment.tempo_ratio:.3f} "
          f"(true {TEMPO})")
    assert alignment.mode in ("reps", "dtw"), compare.view.status.text()
    assert alignment.time_ratio == pytest.approx(TEMPO, rel=0.15)
    assert errors == [] and " s from A here" in compare.view.readout.sync_label.text()
    for side in "AB":
        study = compare.side(side).study
        assert study.embeddings.shape[1] == EMBED_SIDE * EMBED_SIDE
        assert "reps/min" in compare.view.readout.texts(side)[1]
        # the counts are the counter's own, on its own embeddings of the frames
        own = np.stack([frame_embedding(f) for _, f in iter_frames(study.path)])
        assert study.counts[0].total == count_reps(own, study.fps, [(None, 0, len(own))]
                                                   )[0].total
    compare.seek(60)
    assert shown(compare)[1] == compare.b_frame()
    compare.view.close()


def test_the_readout_gives_times_across_frame_rates_and_one_pace():
    """The same repetitions filmed at 30 and at 60 fps are in step and as fast."""
    from app.controllers.compare_sides import sync_text
    from app.services.compare import tempo_text
    from stmanet.engine import align
    from stmanet.engine.reps import SegmentCount

    reps = [(0.5, 1.5), (1.5, 2.5), (2.5, 3.5)]
    alignment = align.by_reps(reps, reps, 30.0, 60.0)
    text = sync_text(alignment, 45, alignment.b_frame(45), 0, 30.0, 60.0)
    assert "B is +0.00 s from A here" in text and "B takes 1.00× A's time" in text
    assert "frames from A" not in text
    later = sync_text(align.by_offset(30, rate=2.0), 0, 30, 0, 30.0, 60.0)
    assert "B is +0.50 s from A here" in later
    count = SegmentCount(0, 250, 25.0, total=8, rep_times=tuple(range(1, 9)),
                         rep_starts=tuple(range(0, 8)), reps_per_min=52.0, period_s=1.0)
    assert tempo_text(count) == "52 reps/min · 1.15 s per rep"


def test_the_export_map_is_the_frames_on_screen(compare):
    choose_mode(compare, "reps")
    compare.nudge("B", 3)
    count = compare.side("A").frame_count()
    try:
        assert compare.b_frames(count).tolist() == [compare.b_frame(i) for i in range(count)]
    finally:
        compare.nudge("B", -3)


def test_quitting_stops_the_open_comparisons(qapp, tmp_path, drills):
    from PySide6.QtCore import QSettings
    window = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    kept, closed = window.open_comparison(), window.open_comparison()
    kept.open_video("A", drills[0])
    wait_until(lambda: kept.side("A").player.source_info() is not None, 30)
    closed.view.close()
    assert window._comparisons == {kept}  # a closed one is let go
    gone: list[object] = []
    kept.destroyed.connect(lambda *_: gone.append(True))
    thread = kept.service._thread
    assert thread.isRunning()
    window.close()  # quitting: the comparison's threads stop with the window's
    assert not thread.isRunning()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    wait_until(lambda: bool(gone), 10)
