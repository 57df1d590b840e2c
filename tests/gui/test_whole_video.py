"""Analyse whole video on the demo video with the demo model, as a coach sees it: the
timeline's strip, the time per action and the exported segments all come from the per-frame
result, and they match the video's expected timeline (resources/videos/demo.json: ten drills
of 5 s each).

The 50 s demo video is analysed once for the whole module (about 20 s on 2 cores); the tests
then read what the window shows.
"""

from __future__ import annotations

import csv
import itertools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, QSettings
from PySide6.QtWidgets import QLabel, QMessageBox
from waiting import wait_until

from app.controllers.recognition import RecognitionController
from app.main_window import MainWindow
from app.services.export import REP_COLUMNS
from app.widgets.timeline import TimelineLegend
from stmanet.bundled import bundled_demo_model, bundled_demo_video

DEMO_MODEL, DEMO_VIDEO = bundled_demo_model(), bundled_demo_video()
pytestmark = pytest.mark.skipif(DEMO_MODEL is None or DEMO_VIDEO is None,
                                reason="the demo model and video (resources/) are not installed")

ANALYSIS_S = 600.0
SECONDS_TOLERANCE = 0.3
"""How far a drill's seconds may be from the 5 s it lasts (measured: 0.04 s, with each change
of drill placed on the frames, docs/training.md, "Timelines")."""


@pytest.fixture(scope="module")
def expected() -> list[dict]:
    """The demo video's segments as demo.json gives them."""
    assert DEMO_VIDEO is not None
    document = json.loads(DEMO_VIDEO.with_suffix(".json").read_text(encoding="utf-8"))
    assert document["frames"] == 1250 and len(document["segments"]) == 10
    return document["segments"]


@pytest.fixture(scope="module")
def demo(qapp, tmp_path_factory) -> Iterator[tuple[MainWindow, RecognitionController]]:
    """The window with the demo model, the demo video open, paused and analysed whole."""
    folder = tmp_path_factory.mktemp("whole-video")
    with pytest.MonkeyPatch.context() as patch:
        for kind in ("warning", "critical", "information", "question"):
            patch.setattr(QMessageBox, kind, lambda *args, **kwargs: pytest.fail(
                f"a message box was shown: {args[1:3]}"))
        window = MainWindow(QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
        window.resize(1280, 800)
        window.show()
        recognition = window.recognition
        window.open_path(DEMO_VIDEO)
        wait_until(lambda: window.player.current_index() >= 0, 60)
        window.player.pause()
        finished: list[object] = []
        recognition.service.finished.connect(finished.append)
        started = time.perf_counter()
        recognition.load_model(DEMO_MODEL)
        # asked for while the model is still loading (as just after start-up): no "No
        # model" box (it would fail here), the analysis starts once the model is in
        assert recognition.service.model is None and recognition.analyse_action.isEnabled()
        assert recognition.analyse()
        assert recognition.analyse()  # asked twice: still one analysis
        wait_until(lambda: bool(finished), ANALYSIS_S)
        assert len(finished) == 1 and not recognition.service.is_analysing()
        print(f"\nthe demo video analysed in {time.perf_counter() - started:.1f} s", flush=True)
        wait_until(lambda: recognition.predictions_panel.session.rows()
                   == recognition.session_summary(), 10)
        try:
            yield window, recognition
        finally:
            window.close()


def test_the_windows_lie_inside_the_video_the_last_one_ending_at_its_last_frame(demo):
    _, recognition = demo
    analysis = recognition.analysis
    assert analysis.complete and analysis.frame_count == 1250
    assert analysis.hop == 8  # a quarter of the demo model's 32-frame window
    windows = analysis.windows
    assert all(0 <= w.start_frame < w.end_frame <= 1250 for w in windows)
    assert all(w.end_frame - w.start_frame == 32 for w in windows)
    assert (windows[-1].start_frame, windows[-1].end_frame) == (1218, 1250)


def test_the_timeline_shows_the_ten_drills_in_order_the_last_reaching_the_last_frame(
        demo, expected):
    window, recognition = demo
    timeline = recognition.timeline
    assert timeline.has_frame_result()
    stretches = timeline.segments()
    assert [s.label for s in stretches] == [e["label"] for e in expected]
    assert stretches[0].first == 0 and stretches[-1].end == 1250
    assert all(a.end == b.first for a, b in itertools.pairwise(stretches))
    # drawn to the strip's right edge; hovering there names the last drill and its frames
    strip_right = timeline.x_of(1250)
    assert strip_right == pytest.approx(timeline.width() - 14)
    tip = timeline.tooltip_at(QPointF(strip_right - 1, 12))
    last = stretches[-1]
    assert last.label.replace("_", " ") in tip and f"frames {last.first}–1249" in tip
    legend = window.findChild(TimelineLegend)
    assert {label for label, _, _ in legend.entries()} == {
        e["label"].replace("_", " ") for e in expected}
    placed, hidden = legend.layout()  # what does not fit is said, and named in the tooltip
    assert len(placed) + hidden == len(expected)
    assert all(x + width <= legend.width() for _, _, x, width in placed)
    if hidden:
        assert all(e["label"].replace("_", " ") in legend.toolTip() for e in expected)
    legend.resize(120, legend.height())
    placed, hidden = legend.layout()
    assert hidden >= len(expected) - 1 and "side bends" in legend.toolTip()


def test_the_summary_gives_each_drill_its_five_seconds_and_no_drill_it_lacks(demo, expected):
    window, recognition = demo
    drills = {e["label"] for e in expected}
    rows = recognition.session_summary()
    assert {r.label for r in rows} == drills  # each drill, and none the video does not show
    assert sum(r.seconds for r in rows) == pytest.approx(50.0)
    seconds = {r.label: r.seconds for r in rows}
    print("\nseconds per drill: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(seconds.items())))
    assert all(abs(s - 5.0) <= SECONDS_TOLERANCE for s in seconds.values()), seconds
    # the Recognition panel, and the session summary dialog, say the same
    panel = recognition.predictions_panel
    assert panel.session.rows() == rows
    assert panel.session_heading() == "Time per action · whole video"
    assert panel.session_basis() == "Counted over every frame of the whole video, smoothed"
    dialog = recognition.show_summary()
    try:
        table = dialog.table
        shown = {table.item(n, 0).text(): table.item(n, 1).text()
                 for n in range(table.rowCount())}
        assert shown == {label.replace("_", " "): f"{s:.1f} s" for label, s in seconds.items()}
        assert "every frame of the whole video" in dialog.caption.text()
    finally:
        dialog.close()
    (caption,) = [label.text() for label in window.findChildren(QLabel)
                  if label.text().startswith("Analysed:")]
    assert caption == "Analysed: 154 windows, 10 segments"


def test_the_export_writes_a_segment_table_beside_the_windows(demo, expected, tmp_path):
    _, recognition = demo
    target = tmp_path / "demo-predictions.csv"
    job = recognition.export_predictions(target)
    done: list[object] = []
    job.finished.connect(done.append)
    job.failed.connect(lambda message: pytest.fail(message))
    wait_until(lambda: bool(done), 60)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "demo-predictions.csv", "demo-predictions.segments.csv"]
    with open(tmp_path / "demo-predictions.segments.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["video", "start_frame", "end_frame", "start_s", "end_s", "label",
                             "mean_score", "known", *REP_COLUMNS]  # with the repetitions
    assert [r["label"] for r in rows] == [e["label"] for e in expected]
    assert all(Path(r["video"]).name == "demo.mp4" for r in rows)
    assert (rows[0]["start_frame"], rows[-1]["end_frame"]) == ("0", "1250")
    assert float(rows[-1]["end_s"]) == pytest.approx(50.0)
    assert all(a["end_frame"] == b["start_frame"] for a, b in itertools.pairwise(rows))
    assert [(int(r["start_frame"]), int(r["end_frame"])) for r in rows] == [
        (s.first, s.end) for s in recognition.timeline.segments()]
    for row, segment in zip(rows, expected, strict=True):  # each within a second of the truth
        assert abs(int(row["start_frame"]) - segment["start_frame"]) <= 25
        assert abs(int(row["end_frame"]) - segment["end_frame"]) <= 25
        assert 0.5 < float(row["mean_score"]) <= 1.0
    with open(target, newline="") as f:
        assert len(list(csv.DictReader(f))) == len(recognition.analysis.windows) == 154
