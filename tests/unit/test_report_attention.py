"""A report made from the result of a model whose attention never learnt draws no heatmap
and says why, in its HTML and its PDF; `stmanet predict --output-dir` says so when it
writes such results. A result of trained attention (or of an older version, which does not
say) shows the heatmap as before."""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import pytest

from stmanet.cli import main
from stmanet.report import figures

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLASSES = ["jumping_jacks", "squats", "lunges"]


@pytest.fixture(scope="module")
def fresh_results(tmp_path_factory) -> tuple[Path, str]:
    """The result file of a short generated video analysed by a new (never trained) tiny
    model, made by `stmanet predict --output-dir`, and what that command wrote to stderr."""
    import contextlib
    import io

    import torch

    from stmanet.config import InputSpec
    from stmanet.engine.checkpoint import CheckpointMetadata, provenance, save_checkpoint
    from stmanet.models import create_model

    folder = tmp_path_factory.mktemp("fresh")
    torch.manual_seed(0)
    model = create_model("stmanet_r10", len(CLASSES), width=0.125)
    checkpoint = save_checkpoint(folder / "fresh.safetensors", model, CheckpointMetadata(
        model.config, CLASSES, InputSpec(frames=8, frame_stride=2, size=32),
        provenance("test", note="random weights")))
    video = folder / "student1.mp4"
    assert main(["sequence", str(video), "--drills", "jumping_jacks:2,squats:2", "--seed",
                 "1", "--size", "96x72"]) == 0
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["predict", str(video), "--checkpoint", str(checkpoint), "--device",
                     "cpu", "--output-dir", str(folder / "out"), "--workers", "1",
                     "--progress", "none"]) == 0
    (result,) = (folder / "out").glob("*.result.json")
    return result, err.getvalue()


def test_predict_with_attention_maps_notes_that_they_mean_nothing(fresh_results, tmp_path,
                                                                  capsys):
    result, _ = fresh_results
    folder = result.parent.parent
    target = tmp_path / "windows.json"
    assert main(["predict", str(folder / "student1.mp4"), "--checkpoint",
                 str(folder / "fresh.safetensors"), "--device", "cpu", "--attention", "-o",
                 str(target), "--progress", "none"]) == 0
    err = capsys.readouterr().err
    assert "note:" in err and "its attention maps mean nothing" in err
    document = json.loads(target.read_text())
    assert document["model"]["attention"] == "untrained"
    assert not document["model"]["attention_trained"]
    assert any("attention maps mean nothing" in n for n in document["model"]["notes"])


def pdf_text(path: Path) -> str:
    """The words of a PDF that matplotlib wrote (its text is in deflated content streams, a
    TJ array of strings per line), one space between lines."""
    data = path.read_bytes()
    lines = []
    for stream in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            content = zlib.decompress(stream.group(1))
        except zlib.error:
            continue
        for array in re.findall(rb"\[(.*?)\]\s*TJ", content, re.S):
            lines.append(b"".join(re.findall(rb"\(((?:\\.|[^\\)])*)\)", array)))
    return re.sub(r"\s+", " ", " ".join(line.decode("latin-1") for line in lines))


def report(result: Path, out: Path, *, pdf: bool = True) -> tuple[str, str]:
    """`stmanet report` of one result: the student's HTML page and its PDF's text."""
    args = ["report", str(result), "-o", str(out)] + ([] if pdf else ["--no-pdf"])
    assert main(args) == 0
    page = (out / "student1.html").read_text(encoding="utf-8")
    return page, pdf_text(out / "student1.pdf") if pdf else ""


def with_attention(result: Path, folder: Path, status: str | None) -> Path:
    """A copy of the result saying its model's attention is `status` (None: not at all, as
    a file of an older version)."""
    data = json.loads(result.read_text())
    if status is None:
        data.pop("attention")
    else:
        data["attention"] = status
    folder.mkdir()
    copy = folder / result.name
    copy.write_text(json.dumps(data))
    return copy


def test_a_report_of_a_model_whose_attention_never_learnt_says_so(fresh_results, tmp_path):
    result, err = fresh_results
    assert json.loads(result.read_text())["attention"] == "untrained"
    assert "note:" in err and "attention modules of this model were never trained" in err
    assert "reports show no heatmap" in err
    page, text = report(result, tmp_path / "reports")
    # said above the key frames, plainly, and no frame is marked as where it looked
    key_frames = page.index("<h2>Key frames</h2>")
    note = page.index(figures.UNTRAINED_ATTENTION_NOTE)
    assert key_frames < note < page.index('alt="a key frame of each segment"')
    assert "The frame marked" not in page and "(attention)" not in page
    assert "its attention was never trained" in page  # by the model's name, too
    assert "No attention heatmap: this model's attention was never trained" in page
    assert "attention was never trained" in text and "so its maps would show nothing" in text
    assert "where the network looked" not in text
    session = (tmp_path / "reports" / "session.html").read_text(encoding="utf-8")
    assert "its attention was never trained" in session


def test_a_report_of_trained_attention_shows_the_heatmap(fresh_results, tmp_path):
    result, _ = fresh_results
    trained = with_attention(result, tmp_path / "trained", "trained")
    page, text = report(trained, tmp_path / "reports")
    assert 'The frame marked "attention" shows where the network looked' in page
    assert "never trained" not in page
    assert "where the network looked" in text and "never trained" not in text
    # the key frames differ where the heatmap is drawn
    data = json.loads(trained.read_text())
    frames = figures.read_key_frames(data)
    untrained = json.loads(result.read_text())
    from stmanet.report.session import Student

    colours = figures.action_colours(CLASSES)
    with_map = figures.png_bytes(figures.key_frames_figure(Student(data, trained), colours,
                                                           frames))
    without = figures.png_bytes(figures.key_frames_figure(Student(untrained, result),
                                                          colours, frames))
    assert with_map != without


def test_older_results_without_the_attention_field_still_report(fresh_results, tmp_path):
    result, _ = fresh_results
    older = with_attention(result, tmp_path / "older", None)
    page, _ = report(older, tmp_path / "reports", pdf=False)
    assert 'The frame marked "attention"' in page and "never trained" not in page
    absent = with_attention(result, tmp_path / "absent", "absent")
    page, text = report(absent, tmp_path / "absent-reports")
    assert "No attention heatmap: this model has no spatial attention." in page
    assert "this model has no spatial attention" in text


def test_no_action_is_drawn_in_the_grey_of_footage_not_a_known_action():
    from matplotlib.colors import to_hex, to_rgb

    for count in (3, 10, 18):
        colours = [to_hex(c) for c in figures.action_colours([f"a{i}" for i in range(count)])
                   .values()]
        assert len(set(colours)) == count  # one colour each
        assert all(max(to_rgb(c)) - min(to_rgb(c)) > 0.05 for c in colours)  # none grey
    assert max(to_rgb(figures.UNKNOWN_COLOUR)) - min(to_rgb(figures.UNKNOWN_COLOUR)) < 0.01


def test_every_drill_wide_enough_for_its_count_shows_it_on_the_timeline():
    from stmanet.report.session import Student

    # an 82 s lesson of 4 s drills (under 6% of it each) and one 0.3 s sliver
    segments = [{"action": "a0", "start_s": 4.0 * i, "end_s": 4.0 * i + 4.0,
                 "reps": {"reps": 10 + i}} for i in range(20)]
    segments.append({"action": "a1", "start_s": 80.0, "end_s": 80.3, "reps": {"reps": 3}})
    result = {"segments": segments, "duration_s": 82.0, "class_names": ["a0", "a1"],
              "seconds": {"a0": 80.0, "a1": 0.3}, "video": {"name": "lesson.mp4"}}
    fig = figures.timeline_figure(Student(result, Path("lesson.json")),
                                  figures.action_colours(["a0", "a1"]))
    drawn = [t.get_text() for t in fig.axes[0].texts]
    assert drawn == [f"{10 + i}×" for i in range(20)]  # not the sliver's
