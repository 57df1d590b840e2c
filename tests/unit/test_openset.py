"""Open-set recognition: novelty scores, their statistics in a model file, the threshold, the
open-set evaluation, and the untrained-attention check."""

import csv
import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from colour_clips import write_clip
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from stmanet.config import InputSpec
from stmanet.data.sources import load_source
from stmanet.engine.checkpoint import (
    CheckpointMetadata,
    LoadedModel,
    import_hara,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
    save_hara_format,
)
from stmanet.engine.inference import Predictor
from stmanet.engine.novelty import (
    NoveltyTrail,
    background_gaussian,
    trailing_novelty,
    upper_quantiles,
    whitened_distances,
)
from stmanet.engine.openset import (
    FORMAT,
    HEADER_KEY,
    NO_STATISTICS,
    TRAIL,
    OpenSetStats,
    attention_status,
    attention_trained,
    fit_gaussians,
    fit_openset,
    mahalanobis_novelty,
)
from stmanet.engine.openset_eval import auroc, open_set_report
from stmanet.engine.openset_windows import WindowOutputs, collect_windows, fit_from_data
from stmanet.engine.prediction_files import write_predictions
from stmanet.errors import CheckpointError, ConfigError
from stmanet.models import ResNet3D, create_model

CLASSES = ["red", "green", "blue"]
COLOURS = {"red": (40, 40, 220), "green": (40, 200, 40), "blue": (220, 60, 40),
           "yellow": (40, 220, 230)}  # BGR; yellow is no class of the model
SPEC = InputSpec(frames=4, frame_stride=2, size=32)  # 8-frame windows

pytestmark = pytest.mark.usefixtures("one_torch_thread")



def tiny_model() -> LoadedModel:
    """A tiny ST-MANet with every branch open (as if trained)."""
    torch.manual_seed(0)
    model = create_model("stmanet_r10", len(CLASSES), width=0.125).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm3d):
                m.weight.uniform_(0.5, 1.5)
        model.head.fc.weight[:, model.head.last_stage_columns].normal_(0, 1.0)
    return LoadedModel(model, CheckpointMetadata(model.config, CLASSES, SPEC), Path("mem"))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("openset")
    rng = np.random.default_rng(0)
    for part, names, count in (("train", CLASSES, 6), ("val", CLASSES, 2),
                               ("unknown", ["yellow"], 3)):
        for name in names:
            for i in range(count):
                write_clip(root / part / name / f"{i}.mp4", COLOURS[name], rng)
    return {p: root / p for p in ("train", "val", "unknown")}


@pytest.fixture(scope="module")
def fitted(data):
    loaded = tiny_model()
    stats = fit_from_data(loaded.model, SPEC, CLASSES, load_source("folder", data["train"]),
                          load_source("folder", data["val"]), descriptions=("train", "val"))
    loaded.openset = stats
    return loaded


def test_statistics_travel_in_the_model_file_and_leave_the_weights_alone(fitted, tmp_path):
    stats = fitted.openset
    # with validation windows to calibrate on: the distances and the classifier's doubt
    assert stats.score == "mahalanobis+relative+softmax" and stats.fit["windows"] == 18 * 3
    assert stats.calibration["subset"] == "validation" and stats.calibration["windows"] == 18
    assert set(stats.scale) == {"log_distance", "relative_distance", "log_doubt"}
    assert stats.class_windows == [18, 18, 18]
    plain = save_checkpoint(tmp_path / "plain.safetensors", fitted.model, fitted.metadata)
    path = save_checkpoint(tmp_path / "open.safetensors", fitted.model, fitted.metadata,
                           openset=stats)
    raw = load_file(str(path))
    assert {k for k in raw if k.startswith("openset.")} == {"openset.means", "openset.factor"}
    assert raw["openset.means"].shape == (3, 8 + 16 + 32 + 64)  # stages 2-5 at width 1/8
    assert {k: v for k, v in raw.items() if not k.startswith("openset.")}.keys() == \
        load_file(str(plain)).keys()
    assert read_metadata(path) == read_metadata(plain)
    loaded = load_checkpoint(path)
    assert loaded.openset.threshold == stats.threshold
    assert loaded.openset.quantiles == stats.quantiles
    assert loaded.openset.scale == stats.scale
    assert loaded.openset.class_windows == stats.class_windows
    assert loaded.openset.calibration_note() == stats.calibration_note()
    torch.testing.assert_close(loaded.openset.factor, stats.factor)
    clip = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():  # the network computes what it computed before
        torch.testing.assert_close(loaded.model(clip).logits,
                                   load_checkpoint(plain).model(clip).logits)
        torch.testing.assert_close(loaded.openset.novelty(loaded.model(clip)),
                                   stats.novelty(fitted.model(clip)))


def test_the_threshold_has_a_margin_for_the_few_validation_clips_it_was_set_on(fitted, data):
    """The validation windows' 95% quantile would leave one of these 18 windows unknown; set
    on only six clips, the threshold's margin (95% of new windows known with 90% confidence)
    takes it to the most novel of them, and the file says how many it keeps."""
    windows = collect_windows(fitted.model, SPEC, CLASSES, load_source("folder", data["val"]),
                              mirror=fitted.openset.mirror)
    novelty = fitted.openset.judged(  # each window alone, as fitted now
        fitted.openset.novelty_of(windows.features, windows.logits).numpy(), windows.clips,
        windows.logits)
    assert len(novelty) == 18 and windows.clip_count == 6
    assert (novelty <= np.quantile(novelty, 0.95)).mean() == pytest.approx(17 / 18)
    assert fitted.openset.threshold == pytest.approx(
        float(upper_quantiles(novelty, windows.clips.numpy(), [0.95])[0]))
    assert fitted.openset.threshold == pytest.approx(float(novelty.max()))
    assert fitted.openset.calibration["kept"] == 1.0
    assert fitted.openset.calibration["confidence"] == 0.9
    assert "95% of new windows of the known actions stay known with 90% confidence (it keeps " \
        "100.0% of the 18 validation windows)" in fitted.openset.summary()


def test_statistics_average_every_window_with_its_mirror_image_wherever_they_score(
        fitted, tmp_path):
    """Fitted by default on each window averaged with its mirror image, the statistics say so
    in the file (a format older programs ignore), and a predictor runs every window twice so,
    its scores the average's; --no-mirror statistics keep format 1 and one pass."""
    assert fitted.openset.mirror
    header = json.loads(fitted.openset.to_header())
    assert header["mirror"] is True and header["format"] == 2
    assert json.loads(dataclasses.replace(fitted.openset, trail=1.0).to_header())["format"] == 3
    assert "each averaged with its mirror image" in fitted.openset.summary()
    path = save_checkpoint(tmp_path / "mirror.safetensors", fitted.model, fitted.metadata,
                           openset=fitted.openset)
    loaded = load_checkpoint(path)
    assert loaded.openset.mirror
    predictor = Predictor(loaded)
    clips = torch.randn(2, 3, 4, 32, 32)
    scores, output = predictor.run_batch(clips)
    model = predictor.model
    with torch.no_grad():
        one, other = model(clips), model(clips.flip(-1))
    torch.testing.assert_close(scores, torch.softmax((one.logits + other.logits) / 2, dim=1))
    torch.testing.assert_close(output.stage_features[0],
                               (one.stage_features[0] + other.stage_features[0]) / 2)
    torch.testing.assert_close(output.temporal_attention[0], one.temporal_attention[0])

    single = dataclasses.replace(fitted.openset, mirror=False, trail=0.0)
    assert "mirror" not in json.loads(single.to_header())
    assert json.loads(single.to_header())["format"] == 1
    predictor.openset = single
    scores, _ = predictor.run_batch(clips)
    torch.testing.assert_close(scores, torch.softmax(one.logits, dim=1))


def test_a_threshold_set_on_few_validation_clips_of_a_class_is_said_to_be_rough(fitted):
    stats = fitted.openset
    assert stats.calibration["clips"] == 6 and stats.calibration["fewest_clips"] == 2
    note = stats.calibration_note()
    assert "6 validation clips, 2 of the class with fewest" in note and "30 or more" in note
    stats_many = dataclasses.replace(stats, calibration={**stats.calibration, "fewest_clips": 30})
    assert stats_many.calibration_note() == ""
    older = dataclasses.replace(stats, calibration={"subset": "validation", "windows": 18})
    assert older.calibration_note() == ""  # a file from before says nothing it cannot know
    in_sample = dataclasses.replace(stats, calibration={"subset": "training, out of fold"})
    assert in_sample.calibration_note() == ""
    # without validation data, on few training clips: said too, with what would set it
    few = dataclasses.replace(stats, calibration={"subset": "training, out of fold",
                                                  "clips": 4, "fewest_clips": 2})
    assert ("without validation data, on 4 training clips (2 of the class with fewest)"
            in few.calibration_note())
    many = dataclasses.replace(few, calibration={**few.calibration, "fewest_clips": 30})
    assert many.calibration_note() == ""


def test_every_window_gets_a_novelty_and_the_threshold_is_honoured(fitted, data):
    video = data["unknown"] / "yellow" / "0.mp4"
    predictor = Predictor(fitted, top_k=3)
    assert predictor.can_tell_unknowns and predictor.novelty_threshold == fitted.openset.threshold
    windows = predictor.predict(video).windows
    novelty = np.array([w.novelty for w in windows])
    assert len(windows) == 3 and np.isfinite(novelty).all() and (novelty > 0).all()
    assert [w.known for w in windows] == list(novelty <= fitted.openset.threshold)
    predictor.set_novelty_threshold(float(novelty.min()) - 1e-3)
    assert not any(w.known for w in predictor.predict(video).windows)
    predictor.set_novelty_threshold(float(novelty.max()))
    assert all(w.known for w in predictor.predict(video).windows)
    predictor.set_novelty_threshold(None)
    assert predictor.novelty_threshold == fitted.openset.threshold
    levels = {}
    for level in ("low", "normal", "high"):
        predictor.set_sensitivity(level)
        levels[level] = predictor.novelty_threshold
    assert levels["high"] <= levels["normal"] == fitted.openset.threshold <= levels["low"]
    with pytest.raises(ConfigError, match="finite"):
        predictor.set_novelty_threshold(float("nan"))


def test_prediction_files_carry_known_and_novelty(fitted, data, tmp_path):
    predictor = Predictor(fitted, top_k=2)
    result = predictor.predict(data["val"] / "red" / "0.mp4")
    rows = list(csv.DictReader(write_predictions(tmp_path / "p.csv", [result]).open()))
    assert list(rows[0])[5:9] == ["known", "novelty", "label_1", "score_1"]
    assert [r["known"] for r in rows] == [str(int(w.known)) for w in result.windows]
    assert [float(r["novelty"]) for r in rows] == pytest.approx(
        [w.novelty for w in result.windows], rel=1e-5)
    doc = json.loads(write_predictions(tmp_path / "p.json", [result],
                                       model=predictor.model_info()).read_text())
    # the threshold was set on 2 validation clips a class: the file says it is rough
    assert doc["model"]["can_tell_unknowns"]
    assert doc["model"]["notes"] == [fitted.openset.calibration_note()]
    assert "6 validation clips, 2 of the class with fewest" in doc["model"]["notes"][0]
    assert doc["model"]["open_set"]["threshold"] == pytest.approx(fitted.openset.threshold)
    window = doc["predictions"][0]["windows"][0]
    assert window["known"] == result.windows[0].known
    assert window["novelty"] == pytest.approx(result.windows[0].novelty, rel=1e-5)
    assert doc["predictions"][0]["unknown_windows"] == sum(not w.known for w in result.windows)


def test_a_model_without_statistics_says_it_cannot_tell(fitted, data, tmp_path):
    path = save_checkpoint(tmp_path / "old.safetensors", fitted.model, fitted.metadata)
    loaded = load_checkpoint(path)
    assert loaded.openset is None
    predictor = Predictor(loaded)
    assert not predictor.can_tell_unknowns and predictor.novelty_threshold is None
    result = predictor.predict(data["val"] / "red" / "0.mp4")
    assert all(w.novelty is None and w.known is None for w in result.windows)
    assert result.unknown_windows is None
    info = predictor.model_info()
    assert info["can_tell_unknowns"] is False and info["open_set"] is None
    assert NO_STATISTICS in info["notes"]
    rows = list(csv.DictReader(write_predictions(tmp_path / "p.csv", [result]).open()))
    assert {r["known"] for r in rows} == {""} and {r["novelty"] for r in rows} == {""}
    doc = json.loads(write_predictions(tmp_path / "p.json", [result]).read_text())
    assert doc["predictions"][0]["windows"][0]["known"] is None
    with pytest.raises(ConfigError, match=r"old\.safetensors: the model carries no open-set"):
        predictor.set_novelty_threshold(1.0)
    with pytest.raises(ConfigError, match="no open-set"):
        predictor.set_sensitivity("high")


def _rewrite(path: Path, out: Path, *, header: dict | None = None,
             tensors: dict | None = None) -> Path:
    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
    state = load_file(str(path))
    meta.update(header or {})
    state.update(tensors or {})
    save_file(state, str(out), metadata=meta)
    return out


def test_damaged_or_mismatched_statistics_are_refused_naming_the_file(fitted, tmp_path):
    good = save_checkpoint(tmp_path / "good.safetensors", fitted.model, fitted.metadata,
                           openset=fitted.openset)
    cases = [
        ({"tensors": {"openset.means": torch.zeros(4, 120)},
          "header": {HEADER_KEY: json.dumps({**json.loads(fitted.openset.to_header()),
                                             "class_windows": [18, 18, 18, 18]})}},
         "do not fit the model"),
        ({"tensors": {"openset.means": torch.zeros(4, 120)}},
         "weigh 3 classes and hold 4 class means"),
        ({"tensors": {"openset.factor": torch.full((120, 120), float("nan"))}}, "NaN"),
        ({"header": {HEADER_KEY: "{not json"}}, "open-set statistics are unreadable"),
        ({"header": {HEADER_KEY: json.dumps({**json.loads(fitted.openset.to_header()),
                                             "class_windows": [18, 18]})}},
         "weigh 2 classes and hold 3 class means"),
    ]
    for n, (change, message) in enumerate(cases):
        bad = _rewrite(good, tmp_path / f"bad{n}.safetensors", **change)
        with pytest.raises(CheckpointError, match=message) as caught:
            load_checkpoint(bad)
        assert f"bad{n}.safetensors" in str(caught.value) and "\n" not in str(caught.value)
    plain = save_checkpoint(tmp_path / "plain.safetensors", fitted.model, fitted.metadata)
    lacking = _rewrite(plain, tmp_path / "lacking.safetensors",
                       header={HEADER_KEY: fitted.openset.to_header()})
    with pytest.raises(CheckpointError, match="lack the class means"):
        load_checkpoint(lacking)


def test_statistics_of_a_newer_kind_are_ignored_with_a_warning(fitted, tmp_path, caplog):
    good = save_checkpoint(tmp_path / "good.safetensors", fitted.model, fitted.metadata,
                           openset=fitted.openset)
    newer = json.loads(fitted.openset.to_header())
    newer.update(format=99, score="something-new")
    path = _rewrite(good, tmp_path / "newer.safetensors", header={HEADER_KEY: json.dumps(newer)})
    with caplog.at_level(logging.WARNING):
        assert load_checkpoint(path).openset is None
    assert "update the program" in caplog.text
    caplog.clear()
    later = {**json.loads(fitted.openset.to_header()), "format": FORMAT + 1}  # a known score
    path = _rewrite(good, tmp_path / "later.safetensors", header={HEADER_KEY: json.dumps(later)})
    with caplog.at_level(logging.WARNING):
        assert load_checkpoint(path).openset is None
    assert "update the program" in caplog.text


def test_windows_made_unlike_the_statistics_are_refused(fitted, data):
    """Statistics and the windows they score (or are fitted on) are made alike: with mirror
    images averaged, or without."""
    val = load_source("folder", data["val"])
    single = collect_windows(fitted.model, SPEC, CLASSES, val)
    both = collect_windows(fitted.model, SPEC, CLASSES, val, mirror=True)
    assert both.known().mirror and not single.known().mirror
    with pytest.raises(ConfigError, match="made differently"):
        fit_openset(fitted.model, both, single)
    assert fit_openset(fitted.model, both, both).mirror
    with pytest.raises(ValueError, match="not made as the statistics score them"):
        open_set_report(fitted.openset, fitted.model, single, single, CLASSES)


def test_mahalanobis_novelty_is_the_shared_covariance_distance_to_the_nearest_mean():
    rng = np.random.default_rng(1)
    d, k, n = 6, 3, 4000
    mix = np.diag(rng.uniform(0.5, 3.0, d)) + 0.3 * rng.normal(size=(d, d))  # correlated
    centres = rng.normal(0, 40, (k, d))  # far apart: the nearest mean is the own
    labels = rng.integers(0, k, n)
    x = centres[labels] + rng.normal(size=(n, d)) @ mix
    means_w, factor, dims, shrink = fit_gaussians(torch.tensor(x), torch.tensor(labels), k)
    assert dims == d and shrink[0] < 0.05  # plenty of windows: little shrinkage
    # the textbook form: pooled within-class covariance, the same shrinkage of the
    # standardised covariance, the distance to the nearest class mean per dimension
    mu = np.stack([x[labels == c].mean(0) for c in range(k)])
    centred = x - mu[labels]
    cov = centred.T @ centred / (n - k)
    s = np.sqrt(np.diag(cov))
    corr = cov / np.outer(s, s)
    shrunk = (1 - shrink[0]) * corr + shrink[0] * np.eye(d)
    precision = np.linalg.inv(shrunk) / np.outer(s, s)
    probe = np.vstack([centres[1] + 0.5, centres[0] + 12.0])
    want = np.min([np.einsum("nd,de,ne->n", probe - m, precision, probe - m) for m in mu],
                  axis=0) / d
    got = mahalanobis_novelty(torch.tensor(probe, dtype=torch.float32), means_w, factor, dims)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-3)
    typical = mahalanobis_novelty(torch.tensor(x, dtype=torch.float32), means_w, factor, dims)
    assert float(typical.mean()) == pytest.approx(1.0, abs=0.05)  # ~1 per dimension


def test_dead_features_are_left_out_and_missing_classes_refused():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 5))
    x[:, 2] = 0.0  # a channel that never fires
    labels = torch.tensor(rng.integers(0, 2, 300))
    _, factor, dims, _ = fit_gaussians(torch.tensor(x), labels, 2)
    assert dims == 4 and torch.isfinite(factor).all() and (factor[2] == 0).all()
    with pytest.raises(ConfigError, match=r"no windows of class\(es\) jump"):
        fit_gaussians(torch.tensor(x), labels, 3, class_names=["a", "b", "jump"])


def test_auroc_is_the_chance_that_an_unknown_scores_higher_ties_half():
    rng = np.random.default_rng(3)
    known, unknown = rng.integers(0, 6, 40), rng.integers(2, 9, 30)
    pairs = (unknown[:, None] > known[None]).mean() + 0.5 * (unknown[:, None] == known[None]
                                                              ).mean()
    assert auroc(known, unknown) == pytest.approx(pairs)
    assert auroc(np.array([0.1, 0.2]), np.array([0.3, 0.9])) == 1.0
    assert auroc(np.array([0.5]), np.array([0.5])) == 0.5


def _windows(logits, labels, clips, classes, features=None) -> WindowOutputs:
    logits = torch.tensor(logits, dtype=torch.float32)
    return WindowOutputs(torch.zeros(len(logits), 120) if features is None else features,
                         logits, torch.tensor(labels), torch.tensor(clips), classes)


def test_the_open_set_report_counts_windows_and_clips():
    model = tiny_model().model
    sure, unsure = [8.0, 0.0, 0.0], [0.2, 0.0, 0.1]
    # known test: clip 0 (red) three confident windows, one right; clip 1 (green) two
    # windows, one unsure
    known = _windows([sure, sure, [0.0, 8.0, 0.0], [0.0, 8.0, 0.0], unsure],
                     [0, 0, 0, 1, 1], [0, 0, 0, 1, 1], ["red", "green"])
    unknown = _windows([unsure, unsure, sure, unsure], [-1] * 4, [0, 0, 1, 1],
                       ["yellow", "white"])
    calibration = _windows([sure] * 99 + [unsure], [0] * 100, list(range(100)), ["red"] * 100)
    stats = fit_openset(model, calibration, calibration, score="max_softmax", trail=0.0)
    report = open_set_report(stats, model, known, unknown, CLASSES)
    assert report.known_windows == 5 and report.unknown_windows == 4
    assert report.known_kept == pytest.approx(4 / 5) and report.unknown_caught == 3 / 4
    # unknown over known: 3 unsure over 4 sure, ties half: 3 unsure with 1 unsure, 1 sure
    # with 4 sure
    assert report.auroc == pytest.approx((3 * 4 + 0.5 * 3 * 1 + 0.5 * 1 * 4) / 20)
    assert report.top1_windows == pytest.approx(3 / 5)  # windows 0, 1 and 3
    assert report.top1_windows_accepted == pytest.approx(3 / 4)
    assert report.top1_windows_open == pytest.approx(3 / 5)
    assert report.unknown_per_class == {"white": 0.5, "yellow": 1.0}
    assert report.known_per_class == {"red": 1.0, "green": 0.5}
    assert (report.known_clips, report.unknown_clips) == (2, 2)
    assert report.unknown_clips_caught == 0.5  # "white": one of two windows caught
    assert "AUROC" in report.to_text() and report.to_dict()["auroc"] == report.auroc
    with pytest.raises(ConfigError, match=r"class\(es\) the model knows: green, red"):
        open_set_report(stats, model, known, known, CLASSES)


def test_attention_that_never_learnt_is_told_apart(tmp_path):
    assert attention_status(create_model("stmanet_r10", 3, width=0.125)) == "untrained"
    assert attention_status(create_model("r3d10", 3, width=0.125)) == "absent"
    assert attention_trained(create_model("r3d10", 3, width=0.125))
    assert attention_status(tiny_model().model) == "trained"
    hara = tmp_path / "r3d10.pth"
    save_hara_format(hara, ResNet3D(10, width=0.125, num_classes=5))
    imported = import_hara(hara, create_model("stmanet_r10", 3, width=0.125).config, CLASSES,
                           input_spec=SPEC)
    assert not attention_trained(imported.model)
    info = Predictor(imported).model_info()
    assert info["attention"] == "untrained" and not info["attention_trained"]
    assert any("never trained" in note for note in info["notes"])


def test_the_combined_score_adds_the_classifiers_doubt_to_the_distance():
    """Near the trained actions (a drill the model was not taught) the features sit close to
    a class and only the classifier's doubt tells; far from them the distance does. The
    combined score standardises both on the validation windows and adds them."""
    model = tiny_model().model
    rng = np.random.default_rng(4)
    width = 8 + 16 + 32 + 64
    centres = torch.tensor(rng.normal(0, 6, (3, width)), dtype=torch.float32)

    def windows(n, label, logits, spread=1.0, offset=0.0):
        features = centres[label] + offset + spread * torch.tensor(
            rng.normal(size=(n, width)), dtype=torch.float32)
        return _windows([logits] * n, [label] * n, list(range(n)), ["red"] * n, features)

    sure = [[9.0, 0.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 9.0]]
    train = [windows(40, c, sure[c]) for c in range(3)]
    train = WindowOutputs(torch.cat([w.features for w in train]),
                          torch.cat([w.logits for w in train]),
                          torch.cat([w.labels for w in train]), torch.arange(120),
                          ["red"] * 120)
    calibration = WindowOutputs(train.features[::2] + 0.3 * torch.randn(60, width),
                                train.logits[::2] + 0.5 * torch.randn(60, 3),
                                train.labels[::2], torch.arange(60), ["red"] * 60)
    relative = fit_openset(model, train, calibration)
    assert relative.score == "mahalanobis+relative+softmax"
    combined = fit_openset(model, train, calibration, score="mahalanobis+softmax")
    distance = fit_openset(model, train, calibration, score="mahalanobis")
    near_unsure = windows(20, 0, [2.0, 1.6, 0.0])  # on a class, the classifier torn
    far_sure = windows(20, 1, sure[1], offset=25.0)  # far from every class, logits sure
    for stats in (relative, combined, distance):
        novelty = stats.novelty_of(calibration.features, calibration.logits).numpy()
        kept = (novelty <= stats.threshold).mean()  # 95% and the margin for 60 clips
        assert 0.95 <= kept <= 0.99 and kept == pytest.approx(stats.calibration["kept"])
    assert not distance.is_known(distance.novelty_of(far_sure.features, far_sure.logits)).any()
    # the distance alone lets most of the torn windows through (as it does known ones)
    assert distance.is_known(distance.novelty_of(near_unsure.features,
                                                 near_unsure.logits)).mean() >= 0.85
    for caught in (far_sure, near_unsure):  # the combined scores call both unknown
        for stats in (relative, combined):
            assert not stats.is_known(stats.novelty_of(caught.features, caught.logits)).any()
    # on the calibration windows the two standardised parts average 0 each
    assert float(combined.novelty_of(calibration.features, calibration.logits).mean()) == \
        pytest.approx(0.0, abs=1e-3)


def test_the_combined_score_needs_validation_windows_and_its_scale_in_the_file(fitted,
                                                                                tmp_path):
    model = fitted.model
    train = _windows([[8.0, 0.0, 0.0]] * 6, [0, 0, 1, 1, 2, 2], list(range(6)), ["red"] * 6,
                     torch.randn(6, 120))
    alone = fit_openset(model, train)
    assert alone.score == "mahalanobis"  # no validation: the distance
    # set on the training clips, two of each class: the program says it may be far off
    assert alone.calibration["subset"].startswith("training")
    assert alone.calibration["clips"] == 6 and alone.calibration["fewest_clips"] == 2
    assert "without validation data, on 6 training clips (2 of the class with fewest)" in \
        alone.calibration_note()
    for score in ("mahalanobis+softmax", "mahalanobis+relative+softmax"):
        with pytest.raises(ConfigError, match="needs validation data"):
            fit_openset(model, train, score=score)
    good = save_checkpoint(tmp_path / "good.safetensors", fitted.model, fitted.metadata,
                           openset=fitted.openset)
    for key, message in (("scale", "lack the scale"), ("class_windows", "per class")):
        header = json.loads(fitted.openset.to_header())
        del header[key]
        bad = _rewrite(good, tmp_path / f"no-{key}.safetensors",
                       header={HEADER_KEY: json.dumps(header)})
        with pytest.raises(CheckpointError, match=message):
            load_checkpoint(bad)
    header = json.loads(fitted.openset.to_header())
    del header["scale"]["relative_distance"]
    bad = _rewrite(good, tmp_path / "half-scale.safetensors",
                   header={HEADER_KEY: json.dumps(header)})
    with pytest.raises(CheckpointError, match="lack the scale"):
        load_checkpoint(bad)


def test_a_file_with_the_earlier_combined_score_loads_and_scores_as_it_did(fitted, data,
                                                                           tmp_path):
    """Model files from before the relative distance (mahalanobis+softmax) keep working."""
    train, val = (collect_windows(fitted.model, SPEC, CLASSES, load_source("folder", data[p]))
                  for p in ("train", "val"))
    earlier = fit_openset(fitted.model, train, val, score="mahalanobis+softmax")
    assert not earlier.class_windows and "class_windows" not in json.loads(earlier.to_header())
    path = save_checkpoint(tmp_path / "earlier.safetensors", fitted.model, fitted.metadata,
                           openset=earlier)
    loaded = load_checkpoint(path).openset
    assert loaded.score == "mahalanobis+softmax" and loaded.threshold == earlier.threshold
    torch.testing.assert_close(loaded.novelty_of(val.features, val.logits),
                               earlier.novelty_of(val.features, val.logits))


def test_the_relative_distance_is_the_nearest_class_less_one_gaussian_of_all_windows():
    """In whitened coordinates the Gaussian of all the training windows has the class means'
    weighted mean and covariance I + C, C the weighted spread of the class means."""
    rng = np.random.default_rng(7)
    d, k = 5, 3
    means = torch.tensor(rng.normal(0, 3, (k, d)), dtype=torch.float32)  # whitened
    factor = torch.tensor(np.linalg.qr(rng.normal(size=(d, d)))[0] * 0.5, dtype=torch.float32)
    weights = [10, 30, 60]
    features = torch.tensor(rng.normal(0, 4, (7, d)), dtype=torch.float32)
    background = background_gaussian(means, weights)
    nearest, relative = whitened_distances(features, means, factor, d, background)
    torch.testing.assert_close(nearest, mahalanobis_novelty(features, means, factor, d))
    z = features.double().numpy() @ factor.double().numpy()
    mu = means.double().numpy()
    prior = np.array(weights, dtype=np.float64) / sum(weights)
    centre = prior @ mu
    spread = sum(p * np.outer(m - centre, m - centre) for p, m in zip(prior, mu, strict=True))
    inverse = np.linalg.inv(np.eye(d) + spread)
    whole = np.einsum("nd,de,ne->n", z - centre, inverse, z - centre) / d
    np.testing.assert_allclose(relative.numpy(), nearest.numpy() - whole, rtol=1e-4, atol=1e-4)
    # between two classes, as near the training footage as on one of them: the relative
    # distance rises more than the distance to the nearest class
    on = means[:1] @ torch.linalg.inv(factor)
    between = (0.5 * (means[0] + means[1]))[None] @ torch.linalg.inv(factor)
    near_on, rel_on = whitened_distances(on, means, factor, d, background)
    assert rel_on.item() < 0  # on a class: nearer its mean than the Gaussian of all
    near_between, rel_between = whitened_distances(between, means, factor, d, background)
    assert float(rel_between - rel_on) > float(near_between - near_on) > 0


def test_with_sure_or_few_validation_windows_the_distance_alone_is_used():
    """Validation windows all as sure as a softmax can be (a well-trained model on clean
    clips), or too few of them, say nothing of the classifier's doubt: the default falls back
    to the distance, and an explicitly combined score is not thrown by them."""
    model = tiny_model().model
    rng = np.random.default_rng(5)
    features = torch.tensor(rng.normal(size=(60, 120)), dtype=torch.float32)
    labels = [i % 3 for i in range(60)]
    sure = [[30.0 if c == i % 3 else 0.0 for c in range(3)] for i in range(60)]
    train = _windows(sure, labels, list(range(60)), ["red"] * 60, features)
    saturated = _windows(sure[:40], labels[:40], list(range(40)), ["red"] * 40,
                         features[:40] + 0.1)
    assert fit_openset(model, train, saturated).score == "mahalanobis"
    few = _windows([[4.0, 0.0, 0.0]] * 5, [0] * 5, list(range(5)), ["red"] * 5, features[:5])
    assert fit_openset(model, train, few).score == "mahalanobis"
    for score in ("mahalanobis+softmax", "mahalanobis+relative+softmax"):
        combined = fit_openset(model, train, saturated, score=score)
        assert combined.scale["log_doubt"][1] >= 1.0  # a floor under the deviation
        fairly_sure = torch.tensor([[6.0, 0.0, 0.0]])  # top softmax 0.995
        novelty = combined.novelty_of(features[:1], fairly_sure)
        assert float(novelty) < 20.0  # some deviations out, not millions


def test_a_trail_judges_each_window_with_the_ones_that_began_up_to_one_window_before_it():
    trail = NoveltyTrail(8)
    assert [trail.add(s, v) for s, v in ((0, 1.0), (8, 3.0), (16, 5.0))] == [1.0, 2.0, 4.0]
    assert trail.add(18, 9.0) == pytest.approx((5.0 + 9.0) / 2)  # 8 began 10 frames before
    assert trail.add(40, 2.0) == 2.0  # the ones before lie too far back
    assert trail.add(4, 7.0) == 7.0  # sought back: a new trail
    assert trail.add(12, 1.0) == 4.0 and trail.add(12, 3.0) == 5.0  # the same window again
    # the test protocol's windows of a clip are one window length apart: the one before
    novelty = np.array([1.0, 3.0, 5.0, 2.0, 4.0])
    judged = trailing_novelty(novelty, np.array([0, 0, 0, 1, 1]), 1)
    np.testing.assert_allclose(judged, [1.0, 2.0, 4.0, 2.0, 3.0])
    np.testing.assert_allclose(trailing_novelty(novelty, np.zeros(5), 0), novelty)
    # a window without a novelty is unknown and left out of the others' means
    np.testing.assert_allclose(trailing_novelty(np.array([1.0, np.nan, 3.0, 5.0]), np.zeros(4),
                                                1), [1.0, np.nan, 3.0, 4.0])
    trail = NoveltyTrail(8)
    assert trail.add(0, 1.0) == 1.0 and np.isnan(trail.add(8, np.nan)) and trail.add(16, 3.0) == 3.0


def test_a_change_of_top_class_begins_a_new_trail():
    """Where the footage changes (the classifier names another class), the windows before say
    nothing of the new one: a rest after squats is judged on its own novelty at once."""
    trail = NoveltyTrail(32)
    assert [trail.add(s, 0.5, 1) for s in (0, 8, 16)] == [0.5, 0.5, 0.5]  # squats
    assert trail.add(24, 5.0, 2) == 5.0  # named otherwise: alone, not (0.5 * 3 + 5) / 4
    assert trail.add(32, 4.0, 2) == 4.5
    assert trail.add(40, 1.0, 1) == 1.0
    judged = trailing_novelty(np.array([1.0, 3.0, 5.0]), np.zeros(3), 1, np.array([0, 1, 1]))
    np.testing.assert_allclose(judged, [1.0, 3.0, 4.0])
    assert trail.add(40, 3.0, 2) == 3.0  # the same window judged again, named otherwise
    assert np.isnan(trail.add(48, np.nan, 2)) and trail.add(56, 5.0, 2) == 4.0


def test_the_open_set_report_and_the_threshold_judge_each_window_with_the_one_before_it():
    """A known clip with one odd window: judged alone, that window is unknown; judged with the
    window before it (the trail), it stays known, the window after it too, and a clip unlike
    the training footage throughout is still caught. The threshold is set on the calibration
    windows as they are judged: their 95% quantile with the margin for the clips it saw."""
    model = tiny_model().model
    rng = np.random.default_rng(0)
    calibration = _windows([[float(a), 0.0, 0.0] for a in rng.uniform(4.5, 6.5, 200)],
                           [0] * 200, [c for c in range(50) for _ in range(4)], ["red"] * 50)
    known = _windows([[6.0, 0.0, 0.0], [6.0, 0.0, 0.0], [4.3, 0.0, 0.0], [6.0, 0.0, 0.0]],
                     [0] * 4, [0] * 4, ["red"])
    unknown = _windows([[0.4, 0.0, 0.2]] * 4, [-1] * 4, [0] * 4, ["yellow"])
    alone = fit_openset(model, calibration, calibration, score="max_softmax")
    together = fit_openset(model, calibration, calibration, score="max_softmax", trail=1.0)
    assert together.trail == 1.0 and alone.trail == TRAIL == 0.0
    assert open_set_report(alone, model, known, unknown, CLASSES).known_kept == 0.75
    report = open_set_report(together, model, known, unknown, CLASSES)
    assert report.known_kept == 1.0 and report.unknown_caught == 1.0
    judged = together.judged(together.novelty_of(None, calibration.logits).numpy(),
                             calibration.clips, calibration.logits)
    clips = calibration.clips.numpy()
    assert together.threshold == pytest.approx(float(upper_quantiles(judged, clips, [0.95])[0]))
    assert together.threshold >= float(np.quantile(judged, 0.95))
    assert together.calibration["kept"] == pytest.approx((judged <= together.threshold).mean())
    assert 0.95 <= together.calibration["kept"] <= 0.99


def test_a_threshold_set_on_few_clips_keeps_its_share_of_new_footage_known():
    """Novelty with a long upper tail, three alike windows a clip: a threshold read exactly at
    the 95% quantile of 100 clips keeps under 95% of fresh footage about half the time; with
    the margin for how few clips it saw (90% confidence) it seldom does, and it costs only a
    point or two of the share kept."""
    rng = np.random.default_rng(3)

    def footage(clips: int) -> tuple[np.ndarray, np.ndarray]:
        clip_level = rng.lognormal(0.0, 0.8, clips)  # some clips unlike the rest throughout
        values = np.repeat(clip_level, 3) * rng.lognormal(0.0, 0.2, clips * 3)
        return values, np.repeat(np.arange(clips), 3)

    fresh, _ = footage(100_000)
    plain_short = margin_short = 0
    kept = []
    for _ in range(40):
        values, clips = footage(100)
        plain_short += (fresh <= np.quantile(values, 0.95)).mean() < 0.95
        bound = upper_quantiles(values, clips, [0.5, 0.95, 1.0], resamples=300)
        margin_short += (fresh <= bound[1]).mean() < 0.95
        kept.append((fresh <= bound[1]).mean())
        assert bound[0] <= bound[1] <= bound[2] == values.max()
    assert np.array_equal(upper_quantiles(values, clips, [1.0, 0.95, 0.5], resamples=300),
                          bound[::-1])  # any order of rates
    assert plain_short >= 12 and margin_short <= 8
    assert np.mean(kept) < 0.98
    values, clips = footage(1)
    assert np.allclose(upper_quantiles(values, clips, [0.5]), np.quantile(values, 0.5))
    with pytest.raises(ConfigError, match="no windows"):
        upper_quantiles(np.array([np.nan]), np.array([0]), [0.95])


def test_the_trail_travels_in_the_model_file_and_a_damaged_one_is_refused(fitted, tmp_path):
    assert fitted.openset.trail == 0.0  # fitted now: each window alone
    assert "judged with" not in fitted.openset.summary()
    trailed = dataclasses.replace(fitted.openset, trail=1.0)
    assert "judged with the window before it" in trailed.summary()
    path = save_checkpoint(tmp_path / "trail.safetensors", fitted.model, fitted.metadata,
                           openset=trailed)
    assert load_checkpoint(path).openset.trail == 1.0
    header = json.loads(trailed.to_header())
    for bad in (-1, 0.5):
        with pytest.raises(CheckpointError, match="trail"):
            OpenSetStats.from_file_parts(path, json.dumps({**header, "trail": bad}),
                                         fitted.openset.to_tensors())


def test_a_video_s_windows_are_judged_with_the_ones_before_them(fitted, data):
    """With a trail (files of format 3), the novelty a predicted window carries is the mean of
    its own and of the windows of the same top class that began up to one window length
    before it; fitted now, each window is judged alone."""
    video = data["unknown"] / "yellow" / "0.mp4"
    alone = Predictor(fitted, top_k=3)
    own = np.array([w.novelty for w in alone.predict(video, hop=4).windows])
    predictor = Predictor(dataclasses.replace(
        fitted, openset=dataclasses.replace(fitted.openset, trail=1.0)), top_k=3)
    windows = predictor.predict(video, hop=4).windows
    starts, labels = [w.start_frame for w in windows], [w.label for w in windows]
    expected = []
    for i, s in enumerate(starts):
        j = i
        while j > 0 and starts[j - 1] >= s - 8 and labels[j - 1] == labels[i]:
            j -= 1
        expected.append(own[j:i + 1].mean())
    np.testing.assert_allclose([w.novelty for w in windows], expected, rtol=1e-5)
    assert [w.known for w in windows] == [v <= fitted.openset.threshold for v in expected]
