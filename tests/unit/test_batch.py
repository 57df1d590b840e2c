"""Batch analysis (`stmanet predict --output-dir`, engine/batch.py) and the reports made from
its results (`stmanet report`): a class's session of six generated videos, stopped after the
third, resumed, and reported with the numbers of each video analysed alone."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stmanet.cli import main
from stmanet.engine.batch import BatchEvent, read_result, run_batch
from stmanet.engine.video_result import AnalysisSettings
from stmanet.errors import Cancelled

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DEMO_MODEL = Path(__file__).resolve().parents[2] / "resources" / "models" / "demo.safetensors"
DRILLS = ["jumping_jacks:2,squats:2", "walking:2,arm_circles:2", "high_knees:4",
          "side_bends:2,lunges:2", "jogging:2,jumping_jacks:2", "squats:4"]


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    """Six short, small generated videos of drills the demo model knows: a class's session."""
    folder = tmp_path_factory.mktemp("session")
    for n, drills in enumerate(DRILLS, start=1):
        assert main(["sequence", str(folder / f"student{n}.mp4"), "--drills", drills,
                     "--seed", str(n), "--size", "96x72"]) == 0
    return folder


def _videos(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.mp4"))


def test_a_stopped_batch_resumes_and_reports_what_each_video_alone_gives(session, tmp_path,
                                                                           capsys):
    out = tmp_path / "results"
    seen: list[BatchEvent] = []

    def stop_after_three() -> bool:
        return sum(e.kind == "done" for e in seen) >= 3

    with pytest.raises(Cancelled):
        run_batch(_videos(session), out, DEMO_MODEL, workers=1, on_event=seen.append,
                  should_cancel=stop_after_three)
    assert len(list(out.glob("*.result.json"))) == 3
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]

    # the command line resumes: the three finished videos are kept, three are analysed
    assert main(["predict", str(session), "--output-dir", str(out), "--workers", "2",
                 "--progress", "none"]) == 0
    captured = capsys.readouterr()
    assert "3 analysed, 3 kept from an earlier run, 0 failed" in captured.out
    assert captured.err.count("result on file kept") == 3
    assert len(list(out.glob("*.result.json"))) == 6

    # each video alone, in a folder of its own
    alone = tmp_path / "alone"
    for video in _videos(session):
        assert main(["predict", str(video), "--output-dir", str(alone / video.stem),
                     "--progress", "none"]) == 0
    reports = tmp_path / "reports"
    assert main(["report", str(out), "-o", str(reports), "--no-pdf",
                 "--note", "student2=Good effort"]) == 0
    rows = list(csv.DictReader((reports / "session.csv").open(encoding="utf-8")))
    assert [r["video"] for r in rows] == [v.name for v in _videos(session)]
    for row, video in zip(rows, _videos(session), strict=True):
        result = read_result(next((alone / video.stem).glob("*.result.json")))
        assert result is not None
        assert float(row["total_s"]) == pytest.approx(result["duration_s"], abs=0.01)
        assert float(row["unknown_s"]) == pytest.approx(result["unknown_s"], abs=0.01)
        for action, seconds in result["seconds"].items():
            assert float(row[f"{action}_s"]) == pytest.approx(seconds, abs=0.01)
            reps = [s["reps"]["reps"] for s in result["segments"]
                    if s["action"] == action and s["reps"] and s["reps"]["reps"] is not None]
            assert row[f"{action}_reps"] == (str(sum(reps)) if reps else "")
        for action in set(result["class_names"]) - set(result["seconds"]):
            assert row.get(f"{action}_s", "") in ("", "0", "0.0", "0.00")
    assert rows[1]["note"] == "Good effort"
    # the demo model finds the drills of the first video
    first = read_result(out / "student1.mp4.result.json")
    assert first is not None and set(first["seconds"]) >= {"jumping_jacks", "squats"}


def test_stale_results_are_made_again_and_current_ones_kept(session, tmp_path):
    videos = _videos(session)[:2]
    out = tmp_path / "results"
    first = run_batch(videos, out, DEMO_MODEL, workers=1)
    assert len(first.done) == 2 and not first.kept
    again = run_batch(videos, out, DEMO_MODEL, workers=1)
    assert len(again.kept) == 2 and not again.done
    # other settings, and a video whose file changed, are analysed again
    other = run_batch(videos, out, DEMO_MODEL, AnalysisSettings(switch_penalty=10.0),
                      workers=1)
    assert len(other.done) == 2
    changed = tmp_path / "changed.mp4"
    changed.write_bytes(videos[0].read_bytes())
    run_batch([changed], out, DEMO_MODEL, workers=1)
    os.utime(changed, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert run_batch([changed], out, DEMO_MODEL, workers=1).done == [str(changed)]


def test_a_killed_batch_keeps_the_finished_videos(session, tmp_path):
    """SIGKILL mid-way: the results written stay whole, and a new run does only the rest."""
    out = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(
        [sys.executable, "-m", "stmanet", "predict", str(session), "--output-dir", str(out),
         "--workers", "1", "--progress", "none"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while len(list(out.glob("*.result.json"))) < 2 and time.monotonic() < deadline:
            if process.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait()
    finished = sorted(out.glob("*.result.json"))
    assert finished, "no video was finished before the kill"
    for path in finished:
        assert json.loads(path.read_text())["format"] == "stmanet-video-result"
    resumed = run_batch(_videos(session), out, DEMO_MODEL, workers=1)
    assert len(resumed.kept) == len(finished)
    assert len(resumed.kept) + len(resumed.done) == 6


def test_bad_inputs_are_refused_in_one_line_naming_the_file(session, tmp_path, capsys):
    missing = tmp_path / "nope.mp4"
    assert main(["predict", str(missing), "--output-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert str(missing) in err and len(err.splitlines()) == 1
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert main(["predict", str(session), "--output-dir", str(a_file)]) == 2
    err = capsys.readouterr().err.strip()
    assert str(a_file) in err and len(err.splitlines()) == 1
    assert main(["report", str(a_file), "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert str(a_file) in err and len(err.splitlines()) == 1


@pytest.fixture(scope="module")
def analysed(session, tmp_path_factory) -> Path:
    """The result files of the first two videos of the session."""
    out = tmp_path_factory.mktemp("analysed")
    run_batch(_videos(session)[:2], out, DEMO_MODEL, workers=1)
    return out


def test_reports_stand_alone_with_figures_key_frames_notes_and_pdfs(analysed, tmp_path):
    import re

    notes = tmp_path / "notes.csv"
    notes.write_text("video,note\nstudent1.mp4,Knees <soft> & steady\nstudent2,Late\n")
    out = tmp_path / "reports"
    assert main(["report", str(analysed), "-o", str(out), "--notes", str(notes),
                 "--note", "student2=On time after all", "--title", "Year 7, Monday"]) == 0
    page = (out / "student1.html").read_text(encoding="utf-8")
    # self-contained: every picture is a data URI, no style sheet or script from elsewhere
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 3 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<link" not in page and "<script" not in page
    assert "a key frame of each segment" in page  # the key frames, from the video
    assert "Knees &lt;soft&gt; &amp; steady" in page  # the note, escaped
    for text in ("Timeline", "Time per action", "Counts and pace per drill", "Key frames",
                 "not a known action", "stmanet_r10 (demo.safetensors)",
                 "top-1 accuracy 100.0%", "@media print", 'The frame marked "attention"'):
        assert text in page, text
    session = (out / "session.html").read_text(encoding="utf-8")
    assert "Year 7, Monday" in session and 'href="student1.html"' in session
    assert "On time after all" in session and "Late" not in session
    for pdf in ("student1.pdf", "student2.pdf", "session.pdf"):
        data = (out / pdf).read_bytes()
        assert data.startswith(b"%PDF") and data.count(b"/Type /Page\n") + data.count(
            b"/Type /Page ") + data.count(b"/Type/Page") >= 1
    rows = list(csv.DictReader((out / "session.csv").open(encoding="utf-8")))
    assert [r["note"] for r in rows] == ["Knees <soft> & steady", "On time after all"]


def test_a_report_without_the_videos_leaves_the_key_frames_out(analysed, tmp_path):
    moved = tmp_path / "results"
    moved.mkdir()
    for path in analysed.glob("*.result.json"):
        data = json.loads(path.read_text())
        data["video"]["path"] = str(tmp_path / "gone" / data["video"]["name"])
        (moved / path.name).write_text(json.dumps(data))
    out = tmp_path / "reports"
    assert main(["report", str(moved), "-o", str(out), "--no-pdf"]) == 0
    page = (out / "student1.html").read_text(encoding="utf-8")
    assert "could not be read, so no key frames are shown" in page
    assert not (out / "student1.pdf").exists()


def test_bad_notes_and_results_are_refused_naming_the_file(analysed, tmp_path, capsys):
    bad_notes = tmp_path / "notes.json"
    bad_notes.write_text("[1, 2]")
    assert main(["report", str(analysed), "-o", str(tmp_path / "r"), "--notes",
                 str(bad_notes)]) == 2
    err = capsys.readouterr().err.strip()
    assert str(bad_notes) in err and len(err.splitlines()) == 1
    not_result = tmp_path / "x.result.json"
    not_result.write_text("{}")
    assert main(["report", str(not_result), "-o", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert str(not_result) in err and "not a result file" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty), "-o", str(tmp_path / "r")]) == 2
    assert str(empty) in capsys.readouterr().err


def test_an_unreadable_video_is_named_and_the_others_are_analysed(session, tmp_path, capsys):
    folder = tmp_path / "lesson"
    folder.mkdir()
    good = folder / "good.mp4"
    good.write_bytes(_videos(session)[0].read_bytes())
    broken = folder / "broken.mp4"
    broken.write_bytes(os.urandom(20_000))
    out = tmp_path / "results"
    assert main(["predict", str(folder), "--output-dir", str(out), "--workers", "2",
                 "--progress", "none"]) == 1
    captured = capsys.readouterr()
    assert "1 analysed, 0 kept from an earlier run, 1 failed" in captured.out
    last = captured.err.strip().splitlines()[-1]
    assert str(broken) in last and "could not be analysed" in last
    assert [p.name for p in out.glob("*.result.json")] == ["good.mp4.result.json"]


def test_a_session_of_two_models_and_two_videos_of_one_name_reports_each(analysed, tmp_path):
    """Results from two models (other class names) and of two videos called alike in two
    folders; notes with a dollar sign and a leading '=' are text, in the PDF and the CSV."""
    first = sorted(analysed.glob("*.result.json"))[0]
    action = next(iter(json.loads(first.read_text())["seconds"]))
    folders = []
    for i, rename in enumerate((None, (action, action + "_b"))):
        folder = tmp_path / f"group{i}"
        folder.mkdir()
        text = first.read_text()
        if rename:
            text = text.replace(f'"{rename[0]}"', f'"{rename[1]}"')
        (folder / first.name).write_text(text)
        folders.append(folder)
    name = json.loads(first.read_text())["video"]["name"]
    out = tmp_path / "reports"
    assert main(["report", *map(str, folders), "-o", str(out),
                 "--note", f"{name}=paid $5 and $x^$ for =SUM(A1)"]) == 0
    session_page = (out / "session.html").read_text(encoding="utf-8")
    links = re.findall(r'<a href="([^"]+\.html)">', session_page)
    assert len(links) == 2 and len(set(links)) == 2
    rows = list(csv.DictReader((out / "session.csv").open(encoding="utf-8")))
    assert len(rows) == 2 and all(r["note"] == "paid $5 and $x^$ for =SUM(A1)" for r in rows)
    assert f"{action}_s" in rows[0] and f"{action}_b_s" in rows[0]
    assert all((out / link).with_suffix(".pdf").read_bytes().startswith(b"%PDF")
               for link in links)


def test_a_note_that_looks_like_a_formula_stays_text_in_the_session_table(analysed, tmp_path):
    out = tmp_path / "reports"
    name = json.loads(sorted(analysed.glob("*.result.json"))[0].read_text())["video"]["name"]
    assert main(["report", str(analysed), "-o", str(out), "--no-pdf",
                 "--note", f"{name}==1+1"]) == 0
    lines = (out / "session.csv").read_text(encoding="utf-8").splitlines()
    assert any(line.endswith(",'=1+1") for line in lines)


def test_a_video_whose_analysis_crashes_is_named_and_the_others_are_analysed(
        session, tmp_path, capsys, monkeypatch):
    """A RuntimeError (e.g. out of memory) in one video fails that video only, with a
    one-line reason naming it (`stmanet predict` then exits 1 naming it)."""
    import stmanet.engine.batch as batch

    videos = _videos(session)[:3]
    crashing = videos[1]
    real = batch.analyse_video

    def analyse(predictor, path, *args, **kwargs):
        if Path(path) == crashing:
            raise RuntimeError("out of memory\nwhile running the network on 64 clips")
        return real(predictor, path, *args, **kwargs)

    monkeypatch.setattr(batch, "analyse_video", analyse)
    out = tmp_path / "results"
    seen: list[BatchEvent] = []
    summary = run_batch(videos, out, DEMO_MODEL, workers=1, on_event=seen.append)
    assert summary.done == [str(videos[0]), str(videos[2])]
    [(video, why)] = summary.failed
    assert video == str(crashing)
    assert str(crashing) in why and "out of memory" in why and "\n" not in why
    assert [e.video for e in seen if e.kind == "failed"] == [str(crashing)]
    assert sorted(p.name for p in out.glob("*.result.json")) == [
        f"{videos[0].name}.result.json", f"{videos[2].name}.result.json"]

    # the command line: the others are kept, the crashing one named, exit status 1
    assert main(["predict", *map(str, videos), "--output-dir", str(out), "--workers", "1",
                 "--progress", "none"]) == 1
    captured = capsys.readouterr()
    assert "0 analysed, 2 kept from an earlier run, 1 failed" in captured.out
    lines = captured.err.strip().splitlines()
    assert any(str(crashing) in line and "out of memory" in line for line in lines)
    assert str(crashing) in lines[-1] and "could not be analysed" in lines[-1]



def test_the_window_shows_the_counts_a_result_file_holds(analysed, session, tmp_path):
    """A video analysed in a batch, opened in the app: each drill's repetitions, rate and pace
    come from its result file (app.services.batch.stored_reps). The first two videos' 2 s
    drills are too short to count at 96 x 72 once their changes are placed right, so the
    third video (high knees for 4 s) is analysed as well."""
    from app.services.batch import NO_RHYTHM, stored_reps
    from app.widgets.reps_panel import row_texts

    one_drill = tmp_path / "one_drill"
    run_batch(_videos(session)[2:3], one_drill, DEMO_MODEL, workers=1)
    counted = 0
    for path in sorted([*analysed.glob("*.result.json"), *one_drill.glob("*.result.json")]):
        result = read_result(path)
        assert result is not None
        fps = result["fps"]
        drills = [s for s in result["segments"] if s["action"] is not None]
        counts = stored_reps(result["segments"], fps)
        assert counts is not None and counts.no_rhythm == NO_RHYTHM
        assert [s.label for s in counts.segments] == [s["action"] for s in drills]
        for shown, stored in zip(counts.segments, drills, strict=True):
            assert (shown.start_frame, shown.end_frame) == (stored["start_frame"],
                                                            stored["end_frame"])
            total = stored["reps"]["reps"] if stored["reps"] else None
            assert shown.total == total
            if total:
                counted += 1
                assert len(shown.rep_frames) == total
                assert list(shown.rep_frames) == [round(t * fps)
                                                  for t in stored["reps"]["rep_times"]]
                assert row_texts(shown)[1] == str(total)
                assert shown.reps_per_min == stored["reps"]["reps_per_min"]
            else:
                assert row_texts(shown)[3] == "not counted" and shown.reason
        assert sum(int(s.total or 0) for s in counts.segments) == sum(
            int(s["reps"]["reps"] or 0) for s in drills if s["reps"])
    assert counted  # the demo model's drills are counted
