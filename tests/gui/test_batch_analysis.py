"""File ▸ Analyse videos and File ▸ Report… in the window: videos analysed in the background
with their results cached beside them, an analysed video's timeline shown at once when it is
opened, and the reports written."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

from PySide6.QtWidgets import QProgressDialog

from app.names import display_name
from app.services import batch as service
from app.services.batch import NO_RHYTHM, RESULTS_FOLDER
from app.widgets.reps_panel import PLACEHOLDER as REPS_PLACEHOLDER

JOB_S = 240_000  # ms: a loaded 2-core machine


def _load(qtbot, window, model: Path) -> None:
    window.recognition.load_model(model)
    qtbot.waitUntil(lambda: window.recognition.service.model is not None, timeout=60_000)


def test_analysed_videos_are_cached_shown_when_opened_and_reported(qtbot, window, dialogs,
                                                                   tiny_model, clip, other_clip,
                                                                   tmp_path, monkeypatch):
    lesson = tmp_path / "lesson"
    lesson.mkdir()
    videos = [Path(shutil.copy(clip, lesson / "anna.mp4")),
              Path(shutil.copy(other_clip, lesson / "ben.mp4"))]
    (lesson / "notes.json").write_text('{"anna": "Good rhythm"}')
    _load(qtbot, window, tiny_model)
    batch = window.batch
    messages: list[str] = []
    original = window.show_message
    window.show_message = lambda text, timeout_ms=0: (messages.append(text),
                                                      original(text, timeout_ms))
    job = batch.analyse(videos)
    assert job is not None
    assert not batch.folder_action.isEnabled()  # one job at a time
    qtbot.waitUntil(lambda: not batch.jobs.is_busy(), timeout=JOB_S)
    assert not dialogs, dialogs
    results = sorted((lesson / RESULTS_FOLDER).glob("*.result.json"))
    assert [p.name for p in results] == ["anna.mp4.result.json", "ben.mp4.result.json"]
    assert any("Analysed 2 video(s), 0 had a result already" in m for m in messages)

    # a second run keeps both results
    messages.clear()
    batch.analyse(videos)
    qtbot.waitUntil(lambda: not batch.jobs.is_busy(), timeout=JOB_S)
    assert any("Analysed 0 video(s), 2 had a result already" in m for m in messages)

    # opening an analysed video shows its whole timeline at once, without analysing it
    window.open_path(videos[0])
    qtbot.waitUntil(lambda: window.recognition.analysis is not None, timeout=30_000)
    analysis = window.recognition.analysis
    assert analysis.complete and analysis.path == videos[0]
    assert analysis.windows[-1].end_frame == analysis.frame_count == 100
    assert analysis.timeline is not None and analysis.timeline.segments
    assert any("analysed earlier" in m for m in messages)

    # ... with the repetitions of each drill the result file holds, and the Rhythm dock
    # saying plainly why it has no picture
    stored = json.loads(results[0].read_text(encoding="utf-8"))
    drills = [s for s in stored["segments"] if s["action"] is not None]
    assert drills
    # the timeline's changes are where the analysis placed them on the frames
    names = analysis.timeline.class_names
    assert analysis.timeline.refined
    for s in drills:
        labels = analysis.timeline.labels[s["start_frame"]:s["end_frame"]]
        assert set(labels.tolist()) == {names.index(s["action"])}
    reps = window.recognition.reps
    assert reps.table.isVisibleTo(window)
    expected = []
    for s in drills:
        count = s["reps"]["reps"] if s["reps"] else None
        expected.append((display_name(s["action"]), "—" if count is None else str(count)))
    assert [row[:2] for row in reps.table.rows()] == expected
    assert reps.note.text() != REPS_PLACEHOLDER
    assert reps.heading.text().startswith("Repetitions · ")
    for segment, s in zip(analysis.reps.segments, drills, strict=True):
        times = s["reps"]["rep_times"] if s["reps"] and s["reps"]["reps"] else []
        assert list(segment.rep_frames) == [round(t * analysis.fps) for t in times]
    assert reps.rhythm.caption.text() == NO_RHYTHM
    assert reps.rhythm.picture.placeholder == NO_RHYTHM

    # a cached result still being read when another video is opened is dropped
    release, read = threading.Event(), threading.Event()
    real = service.cached_analysis

    def slow_for_anna(video, checkpoint):
        if Path(video).name == "anna.mp4":
            release.wait(30)
            try:
                return real(video, checkpoint)
            finally:
                read.set()
        return real(video, checkpoint)

    monkeypatch.setattr(service, "cached_analysis", slow_for_anna)
    window.open_path(videos[0])
    qtbot.waitUntil(lambda: batch._loading is not None, timeout=30_000)
    window.open_path(videos[1])
    qtbot.waitUntil(lambda: window.recognition.analysis is not None
                    and window.recognition.analysis.path == videos[1], timeout=30_000)
    release.set()
    assert read.wait(30)
    qtbot.wait(300)  # the late result's signal is delivered, and dropped
    assert window.recognition.analysis.path == videos[1]
    monkeypatch.setattr(service, "cached_analysis", real)

    out = tmp_path / "reports"
    batch.report(batch.last_results, out, batch._notes_for(batch.last_results))
    qtbot.waitUntil(lambda: not batch.jobs.is_busy(), timeout=JOB_S)
    assert not dialogs, dialogs
    assert (out / "session.html").is_file() and (out / "anna.pdf").is_file()
    page = (out / "anna.html").read_text(encoding="utf-8")
    assert "Good rhythm" in page
    assert "accuracy not recorded in the model file" in page  # a model without a report
    assert "No attention heatmap" in page  # random weights: the attention never learnt
    assert any("Report written" in m for m in messages)


def test_analysing_without_a_model_says_what_to_do(window, dialogs, clip):
    assert window.recognition.service.model is None  # the window opens without one
    assert window.batch.analyse([clip]) is None
    assert dialogs and dialogs[-1].title == "No model"


def test_the_file_menu_holds_analyse_videos_and_report(window):
    file_menu = window.menuBar().actions()[0].menu()
    texts = [a.text() for a in file_menu.actions()]
    assert "&Analyse videos" in texts and "&Report…" in texts
    assert texts.index("&Report…") < texts.index(window.quit_action.text())
    batch = window.batch
    assert [a.text() for a in batch.menu.actions()] == [
        "A &folder of videos…", "&Videos…", "The label &project's videos"]
    assert not batch.project_action.isEnabled()  # an untitled project has no videos on file


def test_an_analysis_stopped_by_an_unexpected_error_is_reported_and_ends(qtbot, window,
                                                                         dialogs, tiny_model,
                                                                         clip, monkeypatch):
    """A RuntimeError (e.g. out of memory) in the job: the progress dialog closes, the error
    is shown in one line, and the menus work again."""
    _load(qtbot, window, tiny_model)

    def out_of_memory(*_args, **_kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore details")

    monkeypatch.setattr(service, "analyse_videos", out_of_memory)
    batch = window.batch
    assert batch.analyse([clip]) is not None
    qtbot.waitUntil(lambda: not batch.jobs.is_busy(), timeout=30_000)
    qtbot.waitUntil(lambda: bool(dialogs), timeout=10_000)
    shown = dialogs[-1]
    assert shown.title == "Analysis failed"
    assert "RuntimeError: CUDA out of memory" in shown.text and "\n" not in shown.text
    assert not [d for d in window.findChildren(QProgressDialog) if d.isVisible()]
    assert batch.folder_action.isEnabled()
