"""Progress events: JSON round trips (what the app reads from `train --progress json`)."""

import io
import json
import math

import pytest

from stmanet.engine.events import (
    CheckpointSaved,
    EpochEnded,
    Event,
    JsonLinesWriter,
    ProgressBar,
    RunCancelled,
    RunFailed,
    RunFinished,
    RunStarted,
    StepProgress,
    TaskProgress,
    TrainingProgressBar,
    ValidationProgress,
    event_from_json,
    format_duration,
)

EXAMPLES: list[Event] = [
    RunStarted(90, 300, ["squats", "lunges"], "cpu", run_dir="runs/a", start_epoch=3,
               train_clips=9500, val_clips=3700, world_size=2),
    StepProgress(4, 17, 300, 1.25, 0.5, 0.01, 12.5, 3600.0),
    ValidationProgress(4, 64, 3700),
    EpochEnded(4, 1.1, 0.6, 1.3, 0.55, True, 0.01, 812.5),
    EpochEnded(5, 1.0, 0.7),
    CheckpointSaved("runs/a/checkpoint.pt", 4, "resume"),
    RunFinished(0.81, "runs/a/best.safetensors", {"best_epoch": 40, "epochs": 90}),
    RunCancelled("training cancelled", "runs/a/checkpoint.pt", 4, 17),
    RunFailed("out of memory"),
    TaskProgress("evaluate", 3, 10, "video 3"),
]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_every_event_survives_a_json_round_trip(event):
    line = event.to_json()
    assert "\n" not in line
    assert json.loads(line)["type"] == type(event).__name__
    again = event_from_json(line)
    assert type(again) is type(event)
    assert again == event
    assert Event.from_json(line) == event


def test_nan_and_infinity_travel_as_null_so_the_line_stays_valid_json():
    line = StepProgress(1, 1, 10, math.nan, 0.0, 0.01, 0.0, math.inf).to_json()
    data = json.loads(line)
    assert data["loss"] is None and data["eta_s"] is None
    assert EpochEnded(1, math.inf, 0.1, math.nan, 0.2).to_dict()["val_loss"] is None


def test_unknown_or_broken_lines_are_refused_with_value_error():
    with pytest.raises(ValueError, match="unknown event type"):
        event_from_json('{"type": "Bogus"}')
    with pytest.raises(ValueError, match="not a JSON event"):
        event_from_json("epoch 3: loss 1.2")
    with pytest.raises(ValueError, match="not a JSON event"):
        event_from_json("[1, 2]")


def test_fields_added_by_a_newer_writer_are_ignored():
    data = json.loads(RunFailed("boom").to_json())
    data["hint"] = "something new"
    assert event_from_json(json.dumps(data)) == RunFailed("boom")


def test_json_lines_writer_writes_one_flushed_line_per_event():
    stream = io.StringIO()
    write = JsonLinesWriter(stream)
    for event in EXAMPLES:
        write(event)
    lines = stream.getvalue().splitlines()
    assert [event_from_json(line) for line in lines] == EXAMPLES


def test_terminal_bar_shows_epoch_loss_and_accuracy():
    stream = io.StringIO()
    show = TrainingProgressBar(stream)
    show(EXAMPLES[0])
    show(StepProgress(1, 150, 300, 1.234, 0.5, 0.01, 12.5, 65.0))
    show(EpochEnded(1, 1.1, 0.6, 1.3, 0.55, True, 0.01, 812.5))
    show(RunFinished(0.55, "best.safetensors"))
    text = stream.getvalue()
    assert "epoch 1/90" in text and "150/300" in text
    assert "loss 1.234" in text and "acc 0.500" in text and "eta 01:05" in text
    assert "val loss 1.300 acc 0.550" in text and "*best*" in text
    assert text.endswith("\n")


def test_progress_bar_draws_in_place_and_durations_read_well():
    stream = io.StringIO()
    bar = ProgressBar(stream, width=10, min_interval_s=0)
    bar.draw(5, 10, prefix="video")
    bar.close()
    assert stream.getvalue().startswith("\rvideo [#####-----] 5/10")
    assert format_duration(3725) == "1:02:05"
    assert format_duration(None) == "--:--"
