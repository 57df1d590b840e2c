"""Metrics on inputs whose answers are known by hand."""

import csv
import json
import math

import numpy as np
import pytest

from stmanet.engine.metrics import (
    ClassificationReport,
    MetricsLog,
    confusion_matrix,
    per_class_accuracy,
    plot_confusion,
    topk_accuracy,
    write_confusion_csv,
)

NAMES = ["squats", "lunges", "jumping_jacks"]


def test_top1_and_top5_accuracy():
    scores = np.array([[0.7, 0.2, 0.1],   # true 0: top-1 right
                       [0.5, 0.3, 0.2],   # true 1: second
                       [0.6, 0.3, 0.1]])  # true 2: last
    labels = np.array([0, 1, 2])
    assert topk_accuracy(scores, labels, 1) == pytest.approx(1 / 3)
    assert topk_accuracy(scores, labels, 2) == pytest.approx(2 / 3)
    assert topk_accuracy(scores, labels, 5) == 1.0  # k beyond the class count: all classes
    assert math.isnan(topk_accuracy(np.zeros((0, 3)), np.zeros(0, dtype=int), 1))


def test_ties_go_to_the_lower_class_like_argmax():
    scores = np.array([[0.5, 0.5, 0.0]])
    assert topk_accuracy(scores, np.array([0]), 1) == 1.0
    assert topk_accuracy(scores, np.array([1]), 1) == 0.0


def test_confusion_matrix_rows_are_true_classes():
    m = confusion_matrix(np.array([0, 0, 1, 2, 2, 2]), np.array([0, 1, 1, 2, 0, 2]), 3)
    assert m.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    recall = per_class_accuracy(m)
    assert recall.tolist() == pytest.approx([0.5, 1.0, 2 / 3])
    assert np.isnan(per_class_accuracy(np.zeros((2, 2), dtype=int))).all()


def test_report_from_scores_and_round_trip(tmp_path):
    scores = np.eye(3)[[0, 1, 1, 2]]  # predictions 0, 1, 1, 2
    labels = np.array([0, 1, 2, 2])
    report = ClassificationReport.from_scores(scores, labels, NAMES, windows=8)
    assert report.count == 4
    assert report.top1 == pytest.approx(0.75)
    assert report.per_class == {"squats": 1.0, "lunges": 1.0, "jumping_jacks": 0.5}
    assert report.mean_class_accuracy == pytest.approx(2.5 / 3)
    assert report.confusion == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    path = report.write_json(tmp_path / "report.json")
    data = json.loads(path.read_text())
    assert data["windows"] == 8 and data["top1"] == pytest.approx(0.75)
    assert ClassificationReport.from_dict(data) == report
    assert "jumping_jacks  0.5000" in report.to_text()


def test_a_class_without_test_clips_has_no_accuracy():
    report = ClassificationReport.from_scores(np.eye(3)[[0, 0]], np.array([0, 0]), NAMES)
    assert report.per_class["lunges"] is None
    json.dumps(report.to_dict(), allow_nan=False)  # still valid JSON


def test_confusion_csv_and_png(tmp_path):
    m = np.array([[3, 1, 0], [0, 4, 0], [1, 0, 2]])
    path = write_confusion_csv(tmp_path / "confusion.csv", m, NAMES)
    rows = list(csv.reader(path.open()))
    assert rows[0] == ["true \\ predicted", *NAMES]
    assert rows[1] == ["squats", "3", "1", "0"]
    png = plot_confusion(tmp_path / "confusion.png", m, NAMES)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_metrics_log_appends_and_truncates(tmp_path):
    log = MetricsLog(tmp_path)
    for epoch in (1, 2, 3):
        log.append({"epoch": epoch, "lr": 0.01, "train_loss": 1.0 / epoch, "train_acc": 0.5,
                    "val_loss": None, "val_acc": None, "best": False, "seconds": 1.0})
    log.truncate_after(2)
    assert [r["epoch"] for r in log.read()] == [1, 2]
    rows = list(csv.DictReader(log.csv.open()))
    assert [r["epoch"] for r in rows] == ["1", "2"] and rows[0]["val_acc"] == ""
