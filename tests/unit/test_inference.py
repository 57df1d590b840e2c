"""Per-window prediction on generated videos, prediction files, and the test protocol."""

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from stmanet.config import InputSpec
from stmanet.engine.checkpoint import CheckpointMetadata, LoadedModel
from stmanet.engine.evaluation import evaluate
from stmanet.engine.inference import Predictor, WindowPrediction
from stmanet.engine.prediction_files import write_predictions
from stmanet.errors import Cancelled, ConfigError
from stmanet.models import create_model

CLASSES = ["red", "green", "blue", "white", "grey", "black"]
SPEC = InputSpec(frames=4, frame_stride=2, size=32)  # 8-frame windows


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def write_video(path: Path, frames: int, seed: int = 0, size=(48, 40), fps: float = 20.0) -> Path:
    """A noisy clip with a square drifting right; frame k has brightness k in its corner."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for k in range(frames):
        img = rng.integers(60, 120, (size[1], size[0], 3), dtype=np.uint8)
        x = (2 * k) % (size[0] - 10)
        img[15:25, x:x + 10] = (40, 40, 230)
        writer.write(img)
    writer.release()
    return path


def loaded_model(attention_on: bool = True) -> LoadedModel:
    torch.manual_seed(0)
    model = create_model("stmanet_r10", len(CLASSES), width=0.125,
                         tda=attention_on, sda=attention_on).eval()
    with torch.no_grad():  # open the zero-initialised branches and classifier a little
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.weight.uniform_(0.5, 1.5)
        model.head.fc.weight[:, model.head.last_stage_columns].normal_(0, 1.0)
    return LoadedModel(model, CheckpointMetadata(model.config, CLASSES, SPEC), Path("mem"))


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("v") / "drill.mp4", frames=30)


def test_windows_cover_the_video_with_times_and_ranked_labels(video):
    progress = []
    result = Predictor(loaded_model(), batch_size=2).predict(
        video, on_progress=lambda d, t: progress.append((d, t)))
    # 30 frames, 8-frame windows, hop 8: starts 0, 8, 16 and a last one ending at the last
    # frame (22-30), never one that wraps around to the video's start
    assert [(w.start_frame, w.end_frame) for w in result.windows] == [
        (0, 8), (8, 16), (16, 24), (22, 30)]
    assert result.windows[1].start_s == pytest.approx(8 / 20) and result.fps == 20.0
    assert result.windows[3].end_s == pytest.approx(30 / 20)
    for w in result.windows:
        assert len(w.labels) == 5 and set(w.labels) <= set(CLASSES)
        assert w.scores == sorted(w.scores, reverse=True)
        assert 0 < w.scores[0] <= 1
    assert progress[0] == (0, 4) and progress[-1] == (4, 4)


def test_video_score_is_the_mean_of_the_window_softmax_scores(video):
    predictor = Predictor(loaded_model(), top_k=len(CLASSES))
    result = predictor.predict(video)
    per_window = np.array([[dict(zip(w.labels, w.scores, strict=True))[c] for c in CLASSES]
                           for w in result.windows])
    assert np.allclose(result.scores, per_window.mean(0), atol=1e-6)
    assert result.top(1)[0][0] == CLASSES[int(per_window.mean(0).argmax())]


def test_streamed_windows_equal_the_test_protocol_windows(video):
    from stmanet.data.clips import ClipRecord, test_windows

    predictor = Predictor(loaded_model(), top_k=len(CLASSES))
    result = predictor.predict(video)
    scores, _ = predictor.run_batch(test_windows(ClipRecord(video, 0), SPEC))
    for w, row in zip(result.windows, scores, strict=True):
        expected = dict(zip(CLASSES, row.tolist(), strict=True))
        assert [expected[label] for label in w.labels] == pytest.approx(w.scores, abs=1e-5)


def test_batching_and_hop_do_not_change_a_window_s_answer(video):
    one = Predictor(loaded_model(), batch_size=1).predict(video, hop=4)
    many = Predictor(loaded_model(), batch_size=16).predict(video, hop=4)
    assert [w.start_frame for w in one.windows] == [0, 4, 8, 12, 16, 20, 22]
    for a, b in zip(one.windows, many.windows, strict=True):
        assert a.labels == b.labels
        assert a.scores == pytest.approx(b.scores, abs=1e-5)


def test_a_video_shorter_than_a_window_is_completed_with_its_last_frame(tmp_path):
    from stmanet.data.decode import read_frames

    short = write_video(tmp_path / "short.mp4", frames=5)
    predictor = Predictor(loaded_model(), top_k=len(CLASSES))
    result = predictor.predict(short)
    assert [(w.start_frame, w.end_frame) for w in result.windows] == [(0, 5)]
    frames = read_frames(short, [0, 2, 4, 4])  # 4 frames, stride 2: 0, 2, 4, then 4 again
    scores, _ = predictor.run_batch(predictor.preprocess(frames)[None])
    np.testing.assert_allclose(result.window_scores[0], scores[0].numpy(), atol=1e-5)


def test_the_last_window_holds_the_video_s_last_frames_only(video):
    from stmanet.data.decode import read_frames

    predictor = Predictor(loaded_model(), top_k=len(CLASSES))
    result = predictor.predict(video, hop=8)
    assert result.window_scores.shape == (len(result.windows), len(CLASSES))
    last = result.windows[-1]
    assert (last.start_frame, last.end_frame) == (22, 30)
    clip = predictor.preprocess(read_frames(video, [22, 24, 26, 28]))
    scores, _ = predictor.run_batch(clip[None])
    np.testing.assert_allclose(result.window_scores[-1], scores[0].numpy(), atol=1e-5)
    for w, row in zip(result.windows, result.window_scores, strict=True):  # top-k agree
        assert [CLASSES[i] for i in np.argsort(-row)[:len(CLASSES)]] == w.labels


def test_attention_maps_per_stage_for_the_app(video):
    result = Predictor(loaded_model(), attention=True).predict(video)
    w = result.windows[0]
    spatial, temporal = w.spatial_attention, w.temporal_attention
    assert len(spatial) == 4 and len(temporal) == 4
    # 4 frames at 32x32: stage 2 is 2 x 8 x 8, stage 5 is 1 x 1 x 1
    assert spatial[0].shape == (8, 8) and temporal[0].shape == (2,)
    assert spatial[0].sum() == pytest.approx(1.0, abs=1e-4)  # mean of stochastic rows
    assert temporal[0].sum() == pytest.approx(1.0, abs=1e-4)
    data = w.to_dict(attention=True)
    back = WindowPrediction.from_dict(json.loads(json.dumps(data)))
    assert np.allclose(back.spatial_attention[0], spatial[0], atol=1e-5)
    plain = Predictor(loaded_model(attention_on=False), attention=True).predict(video)
    assert plain.windows[0].spatial_attention == [None] * 4


def test_cancel_stops_prediction_and_keeps_the_windows_already_handed_over(video):
    with pytest.raises(Cancelled):
        Predictor(loaded_model(), batch_size=1).predict(video, should_cancel=lambda: True)
    seen = []
    checks = iter([False, False, True])
    with pytest.raises(Cancelled):
        Predictor(loaded_model(), batch_size=1).predict(
            video, should_cancel=lambda: next(checks),
            on_window=lambda w, scores: seen.append((w.start_frame, scores)))
    assert [start for start, _ in seen] == [0, 8]
    assert seen[0][1].shape == (len(CLASSES),) and seen[0][1].sum() == pytest.approx(1, abs=1e-5)


def test_prediction_files_csv_and_json(video, tmp_path):
    result = Predictor(loaded_model()).predict(video)
    csv_path = write_predictions(tmp_path / "p.csv", [result])
    rows = list(csv.DictReader(csv_path.open()))
    assert list(rows[0]) == ["video", "start_frame", "end_frame", "start_s", "end_s", "known",
                             "novelty",
                             *[f"{k}_{i}" for i in range(1, 6) for k in ("label", "score")]]
    assert rows[0]["known"] == rows[0]["novelty"] == ""  # a model that cannot tell unknowns
    assert len(rows) == 4 and rows[1]["start_frame"] == "8" and rows[1]["start_s"] == "0.400"
    json_path = write_predictions(tmp_path / "p.json", [result])
    doc = json.loads(json_path.read_text())
    video_entry = doc["predictions"][0]
    assert video_entry["video"] == str(video) and len(video_entry["top5"]) == 5
    assert video_entry["windows"][2]["start_frame"] == 16
    assert "spatial_attention" not in video_entry["windows"][0]
    with pytest.raises(ConfigError, match=r"\.csv or \.json"):
        write_predictions(tmp_path / "p.txt", [result])


def test_evaluate_applies_the_test_protocol_to_every_video(tmp_path):
    from stmanet.data.sources import load_source

    for c, name in enumerate(["red", "green"]):
        for i in range(2):
            write_video(tmp_path / "data" / name / f"{i}.mp4", frames=20 + 4 * i, seed=c * 10 + i)
    (tmp_path / "data" / "green" / "broken.mp4").write_bytes(b"not a video")
    index = load_source("folder", tmp_path / "data")
    progress = []
    result = evaluate(loaded_model(), index, on_progress=lambda d, t: progress.append(d))
    report = result.report
    assert report.count == 4 and result.skipped and "broken.mp4" in result.skipped[0][0]
    assert report.extra["windows"] == 3 + 3 + 3 + 3  # 20 and 24 frames: 3 windows each
    assert sum(map(sum, report.confusion)) == 4
    assert report.class_names == CLASSES
    assert progress[-1] == 5
    rows = result.per_video_rows()
    assert {r["label"] for r in rows} == {"red", "green"}


def test_on_a_cpu_windows_go_one_at_a_time_unless_asked_otherwise():
    """A batch costs more per window than single windows on a CPU (bench_forward --batch)."""
    from stmanet.engine.inference import default_batch_size

    loaded = loaded_model()
    assert Predictor(loaded).batch_size == 1
    assert Predictor(loaded, batch_size=4).batch_size == 4
    assert default_batch_size("cuda:0") == 8
