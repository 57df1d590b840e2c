"""Which epoch a training run keeps (stmanet/engine/selection.py), validation over every
window, and a validation split that never cuts a video in two."""

import json
from pathlib import Path

import pytest

from stmanet.bundled import bundled_demo_model
from stmanet.config import TrainConfig
from stmanet.data.clips import ClipIndex, ClipRecord
from stmanet.engine.checkpoint import load_checkpoint
from stmanet.engine.events import RunFinished
from stmanet.engine.selection import CLEAR_MARGIN, NOISY_WINDOWS, choose_epoch
from stmanet.engine.trainer import run_training, split_by_class

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def rows(correct: list[int], losses: list[float], windows: int) -> list[dict]:
    return [{"epoch": e + 1, "val_acc": c / windows, "val_loss": loss, "val_windows": windows}
            for e, (c, loss) in enumerate(zip(correct, losses, strict=True))]


def test_ties_in_accuracy_go_to_the_lower_validation_loss():
    history = rows([30, 36, 36, 36], [0.9, 0.5, 0.3, 0.4], windows=40)
    chosen = choose_epoch(history)
    assert chosen.epoch == 3 and not chosen.noisy and chosen.val_windows == 40
    assert "epochs 2, 3, 4" in chosen.reason and "lowest loss" in chosen.reason


def test_a_higher_accuracy_wins_over_a_lower_loss():
    chosen = choose_epoch(rows([30, 38, 36], [0.2, 0.6, 0.1], windows=40))
    assert chosen.epoch == 2 and chosen.best_epoch == 2


def test_with_few_windows_the_last_epoch_is_kept_unless_one_is_clearly_better():
    assert NOISY_WINDOWS == 20 and CLEAR_MARGIN == 2
    one_window_better = choose_epoch(rows([10, 11, 10], [0.6, 0.3, 0.4], windows=12))
    assert one_window_better.noisy and one_window_better.epoch == 3
    assert one_window_better.best_epoch == 2 and "not clearly better" in one_window_better.reason
    two_better_but_higher_loss = choose_epoch(rows([12, 10], [0.5, 0.4], windows=12))
    assert two_better_but_higher_loss.epoch == 2
    clearly = choose_epoch(rows([12, 10], [0.2, 0.4], windows=12))
    assert clearly.epoch == 1 and clearly.noisy and "clearly better" in clearly.reason


def test_twenty_windows_are_not_noisy_and_no_validation_keeps_the_last_epoch():
    assert choose_epoch(rows([20, 19], [0.5, 0.1], windows=20)).epoch == 1
    plain = choose_epoch([{"epoch": 1, "val_acc": None}, {"epoch": 2, "val_acc": None}])
    assert plain.epoch == 2 and plain.val_acc is None and "no validation" in plain.reason
    assert choose_epoch([]) is None


def test_clips_of_one_video_stay_on_one_side_of_the_split():
    """A label project's segments: several clips per video, several classes per video."""
    records = [ClipRecord(Path(f"video{v}.mp4"), (v + s) % 3, 30 * s, 30 * s + 25)
               for v in range(6) for s in range(4)]
    index = ClipIndex(records, ["a", "b", "c"])
    train, val = split_by_class(index, 0.25, seed=3)
    assert val.records and len(train) + len(val) == len(records)
    assert not {r.path for r in train.records} & {r.path for r in val.records}
    assert {r.label for r in train.records} == {0, 1, 2}  # every class keeps training clips
    again = split_by_class(index, 0.25, seed=3)[1]
    assert [r.path for r in again.records] == [r.path for r in val.records]


def test_split_by_class_holds_out_every_class_from_one_clip_videos():
    records = [ClipRecord(Path(f"{c}_{i}.mp4"), c) for c in range(3) for i in range(10)]
    train, val = split_by_class(ClipIndex(records, ["a", "b", "c"]), 0.2, seed=5)
    assert len(train) == 24
    assert sorted(r.label for r in val.records) == [0, 0, 1, 1, 2, 2]


def test_fine_tuning_on_a_few_generated_clips_keeps_a_later_better_epoch(tmp_path):
    """Three drills, four short clips each, half kept aside: 6 validation clips of 3 windows,
    18 windows in all (noisy). Accuracy ties from an early epoch on while the loss keeps
    falling; the run keeps the last epoch, not the first of the tied ones, and says why."""
    from stmanet.data.synthetic import generate_dataset

    data = generate_dataset(tmp_path / "drills", clips_per_class=4, seed=11, frames=96,
                            size=(80, 64), drills=["squats", "lunges", "walking"])
    config = TrainConfig(init=str(bundled_demo_model()), freeze="backbone", frames=16,
                         frame_stride=2, size=64, epochs=6, batch_size=4, lr=0.01,
                         optimizer="adamw", schedule="cosine", weight_decay=0.01, workers=0,
                         device="cpu", val_share=0.5, data=f"folder:{data}",
                         output=str(tmp_path / "run"),
                         seed=3)  # a seed whose run ties from epoch 2 on (the case below)
    events = []
    result = run_training(config, on_event=events.append)
    history = result.history
    assert all(r["val_windows"] == 18 for r in history)  # every window, not one per clip
    top = max(r["val_acc"] for r in history)
    tied = [r for r in history if r["val_acc"] == top]
    first = tied[0]
    assert len(tied) >= 2 and first["epoch"] < len(history)  # the case this test is about
    chosen = result.selection
    assert chosen["noisy"] and chosen["val_windows"] == 18
    assert chosen["epoch"] == len(history) > first["epoch"]
    assert history[-1]["val_loss"] < first["val_loss"]
    assert result.best_epoch == chosen["epoch"]
    assert load_checkpoint(result.model_path).metadata.report["epoch"] == chosen["epoch"]
    report = json.loads((result.run_dir / "report.json").read_text())
    assert report["epoch"] == chosen["epoch"] and report["selection"] == chosen
    assert report["count"] == 6 and report["windows"] == 18  # per clip, as evaluate reports
    assert report["window_top1"] == history[-1]["val_acc"]
    assert report["top1"] == history[-1]["val_clip_acc"]
    finished = events[-1]
    assert isinstance(finished, RunFinished)
    assert finished.report["selection"]["reason"] == chosen["reason"]
    assert finished.report["best_epoch"] == chosen["epoch"]
