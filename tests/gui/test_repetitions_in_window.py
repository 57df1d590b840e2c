"""Repetitions as a coach sees them after Analyse whole video on the demo video with the demo
model: the count in the badge, a tick per repetition on the timeline, a row per drill in the
Recognition panel, the rhythm picture, and counts in the exports and the session summary.
The true repetitions are those of resources/videos/demo.json.

The demo video is analysed once for the module (the window of test_whole_video's `demo`
fixture).
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import test_whole_video as whole
from PySide6.QtCore import QPointF
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QFileDialog
from test_unknown_actions import badges_painted

from app.names import display_name
from app.widgets.timeline import STRIP_HEIGHT, STRIP_TOP

demo, expected = whole.demo, whole.expected  # the analysed window, demo.json's segments
pytestmark, wait_until = whole.pytestmark, whole.wait_until

COUNT_TOLERANCE = 1
"""How far a drill's count may be from the truth. The counter counts each segment of the
per-frame result, whose boundaries fall up to 16 frames from the true change of drill
(docs/training.md), so a repetition at a segment's edge can be lost or gained."""


def counted(recognition):
    reps = recognition.analysis.reps
    assert reps is not None and reps.segments
    return reps


def show_frame(window, frame: int) -> None:
    window.player.seek(frame)
    wait_until(lambda: window.player.current_index() == frame, 30)


def test_each_drill_is_counted_near_its_true_count_and_listed_in_the_panel(demo, expected):
    window, recognition = demo
    reps = counted(recognition)
    assert [s.label for s in reps.segments] == [e["label"] for e in expected]
    print("\nreps (true, counted): " + ", ".join(
        f"{s.label} {e['reps']} {s.total}" for s, e in zip(reps.segments, expected,
                                                            strict=True)))
    print(f"counting took {reps.seconds:.2f} s on the worker (embedding every frame "
          "included)")
    for segment, truth in zip(reps.segments, expected, strict=True):
        assert segment.counted, segment.reason
        assert abs(segment.total - truth["reps"]) <= COUNT_TOLERANCE, segment.label

    table = recognition.reps.table
    assert table.isVisibleTo(window)
    rows = table.rows()
    assert [r[0] for r in rows] == [display_name(e["label"]) for e in expected]
    for row, segment in zip(rows, reps.segments, strict=True):
        assert row[1] == str(segment.total)
        assert row[2] == f"{segment.reps_per_min:.0f}"
        assert row[3] == (segment.evenness or "—")
    # the demo's drills keep a steady pace: where there is a spread to judge, it is even
    assert {r[3] for r in rows} <= {"even", "—"} and "even" in {r[3] for r in rows}
    total = sum(s.total for s in reps.segments)
    assert recognition.reps.heading.text() == f"Repetitions · {total} in 10 of 10 drills"


def test_the_badge_shows_the_running_count_of_the_drill_at_the_playhead(demo, monkeypatch):
    window, recognition = demo
    reps = counted(recognition)
    badges = badges_painted(monkeypatch)
    jacks = reps.segments[0]
    third = jacks.rep_frames[2]
    for frame, done in ((third - 1, 2), (third, 3)):
        show_frame(window, frame)
        badges.clear()
        window.player.view.grab()
        label = display_name(recognition.shown_result().label)
        assert badges[-1][0] == f"{label} · rep {done}/{jacks.total}"


def test_the_timeline_has_a_tick_for_every_counted_repetition(demo):
    window, recognition = demo
    reps = counted(recognition)
    timeline = recognition.timeline
    ticks = timeline.rep_ticks()
    assert len(ticks) == sum(s.total for s in reps.segments)
    assert ticks == sorted(ticks)
    first = reps.segments[0].rep_frames[0]
    assert ticks[0] == pytest.approx(timeline.x_of(first + 0.5))
    show_frame(window, 1249)  # the playhead out of the way
    picture = timeline.grab().toImage()
    ratio = picture.devicePixelRatio()
    stretch = timeline.stretch_at(first)
    fill = QColor(picture.pixelColor(round(timeline.x_of(stretch.first + 2) * ratio),
                                     round((STRIP_TOP + 3) * ratio)))
    mark = picture.pixelColor(round((round(ticks[0]) + 0.5) * ratio) - 0,
                              round((STRIP_TOP + STRIP_HEIGHT - 2) * ratio))
    assert mark.lightness() < fill.lightness() - 30  # a dark notch on the drill's colour
    running = next(s for s in reps.segments if s.label == "running")
    middle = (running.start_frame + running.end_frame) // 2
    tip = timeline.tooltip_at(QPointF(timeline.x_of(middle + 0.5), STRIP_TOP + 3))
    assert f"{running.total} reps, {running.reps_per_min:.0f}/min, pace even" in tip


def test_the_rhythm_view_shows_the_drill_at_the_playhead_with_the_playhead_marked(demo):
    window, recognition = demo
    reps = counted(recognition)
    view = recognition.reps.rhythm
    assert recognition.reps.dock is not None and recognition.reps.dock.windowTitle() == "Rhythm"
    running = next(s for s in reps.segments if s.label == "running")
    frame = (running.start_frame + running.end_frame) // 2
    show_frame(window, frame)
    rhythm = view.picture.rhythm()
    assert rhythm is not None
    assert (rhythm.start_frame, rhythm.end_frame) == (running.start_frame, running.end_frame)
    side = len(rhythm.frames)
    assert rhythm.matrix.shape == (side, side)
    assert view.caption.text().startswith(f"{display_name(running.label)} · ")
    assert f"{running.total} reps" in view.caption.text()
    assert rhythm.frames[view.picture.playhead()] == frame
    assert not view.picture.grab().toImage().isNull()

    view.whole_button.setChecked(True)
    whole = view.picture.rhythm()
    assert (whole.start_frame, whole.end_frame) == (0, 1250)
    assert view.caption.text() == "The whole video"
    assert abs(int(whole.frames[view.picture.playhead()]) - frame) <= 1250 / len(whole.frames)
    view.segment_button.setChecked(True)


def test_the_exports_and_the_summary_carry_the_counts(demo, expected, tmp_path, monkeypatch):
    _, recognition = demo
    reps = counted(recognition)
    for suffix in (".csv", ".json"):
        target = tmp_path / f"demo{suffix}"
        job = recognition.export_predictions(target)
        done: list[object] = []
        job.finished.connect(done.append)
        job.failed.connect(lambda message: pytest.fail(message))
        wait_until(lambda d=done: bool(d), 60)
    with open(tmp_path / "demo.segments.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["label"] for r in rows] == [e["label"] for e in expected]
    assert [int(r["reps"]) for r in rows] == [s.total for s in reps.segments]
    assert all(r["pace"] in ("even", "fairly even", "uneven", "") for r in rows)
    assert [len(r["rep_times"].split()) for r in rows] == [s.total for s in reps.segments]
    document = json.loads((tmp_path / "demo.segments.json").read_text())
    (timeline,) = document["timelines"]
    assert [s["reps"] for s in timeline["segments"]] == [s.total for s in reps.segments]
    assert timeline["reps"] == {s.label: s.total for s in reps.segments}

    summary_file = tmp_path / "summary.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        lambda *args, **kwargs: (str(summary_file), "CSV (*.csv)"))
    dialog = recognition.show_summary()
    try:
        table = dialog.table
        assert table.horizontalHeaderItem(3).text() == "Reps"
        shown = {table.item(n, 0).text(): table.item(n, 3).text()
                 for n in range(table.rowCount())}
        assert shown == {display_name(s.label): str(s.total) for s in reps.segments}
        dialog.export_button.click()
    finally:
        dialog.close()
    with open(summary_file, newline="") as f:
        summary = {r["action"]: r["reps"] for r in csv.DictReader(f)}
    assert summary == {s.label: str(s.total) for s in reps.segments}


def test_the_exported_video_shows_the_running_count_in_its_badge(demo, monkeypatch):
    from app.controllers.recognition_export import overlay_renderer

    _, recognition = demo
    reps = counted(recognition)
    badges = badges_painted(monkeypatch)
    render = overlay_renderer(recognition.track.windows, recognition.options, reps)
    jacks = reps.segments[0]
    frame = jacks.rep_frames[1]
    picture = render(np.zeros((240, 320, 3), np.uint8), frame)
    assert picture.shape == (240, 320, 3)
    assert badges[-1][0].endswith(f" · rep 2/{jacks.total}")
