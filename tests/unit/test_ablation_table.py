"""benchmarks/ablation.py's table and probes (the training runs themselves are not run here)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location(
    "ablation", Path(__file__).resolve().parents[2] / "benchmarks" / "ablation.py")
ablation = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ablation)


def test_spread_gives_the_mean_the_sample_deviation_and_the_range():
    assert ablation.spread([0.5, 0.7, 0.9]) == "0.700 +- 0.200 [0.500-0.900]"
    assert ablation.spread([0.8]) == "0.800"


def test_summary_groups_the_hard_suite_classes_and_the_probes():
    runs = [{"row": "baseline", "seed": s, "top1": t, "train_s": 10.0,
             "per_class": {"lunges": t, "squats_slow": 0.5, "squats_fast": 1.0},
             "probes": dict.fromkeys(ablation.PROBES, t)}
            for s, t in ((0, 0.6), (1, 0.8))]
    table = ablation.summary(["baseline", "full"], runs, "hard")
    assert list(table) == ["baseline"]  # a row with no finished run is left out
    row = table["baseline"]
    assert row["top1_mean"] == pytest.approx(0.7)
    assert row["top1_std"] == pytest.approx(np.std([0.6, 0.8], ddof=1))
    assert row["spatial"] == [0.6, 0.8] and row["order+rhythm"] == [0.75, 0.75]
    assert row["probes"]["fusion"] == [0.6, 0.8]


def test_a_probe_learns_features_that_separate_the_classes_and_not_noise():
    rng = np.random.default_rng(0)
    y, yt = np.repeat([0, 1, 2], 20), np.repeat([0, 1, 2], 10)
    x, xt = rng.normal(size=(60, 6)), rng.normal(size=(30, 6))
    assert ablation.probe_accuracy(x, y, xt, yt, 3, 0) < 0.7
    x[:, 0] += 4 * y
    xt[:, 0] += 4 * yt
    assert ablation.probe_accuracy(x, y, xt, yt, 3, 0) > 0.9


def test_the_hard_suite_recipe_sees_a_whole_clip_in_one_window():
    args = type("Args", (), {"suite": "hard", "frame_stride": 0, "model": "stmanet_r10",
                             "frames": 16, "size": 64})()
    flags = ablation.recipe(args)
    stride = int(flags[flags.index("--frame-stride") + 1])
    assert int(flags[flags.index("--frames") + 1]) * stride == ablation.HARD_CLIP_FRAMES
    assert "width=0.25" in flags
    args.model = "stmanet_r18_lite"
    assert "width=0.25" not in ablation.recipe(args)


def test_a_stopped_run_keeps_finished_rows_made_the_same_way(tmp_path, monkeypatch):
    args = type("Args", (), {"out": tmp_path, "suite": "hard", "classes": None,
                             "train_clips": 40, "test_clips": 20, "epochs": 20,
                             "model": "stmanet_r10", "size": 64, "frames": 16,
                             "frame_stride": 0, "probes": True, "workers": 0,
                             "device": "cpu"})()
    folder = tmp_path / "plus_TDA" / "seed1"
    folder.mkdir(parents=True)
    settings = {key: getattr(args, key) for key in ablation.SETTINGS}
    kept = {"row": "+TDA", "seed": 1, "top1": 0.8, "train_s": 1.0, "per_class": {},
            "settings": settings}
    (folder / "result.json").write_text(json.dumps(kept))
    trained = []
    monkeypatch.setattr(ablation, "stmanet", lambda *a, log: trained.append(a[0]) or 1 / 0)
    assert ablation.run_row("+TDA", 1, args, tmp_path, tmp_path) == kept
    assert trained == []
    args.epochs = 30  # made another way: trained again
    with pytest.raises(ZeroDivisionError):
        ablation.run_row("+TDA", 1, args, tmp_path, tmp_path)
    assert trained == ["train"]
