"""Progress events of long jobs, and the writers that show them.

Events are plain dataclasses. `stmanet train --progress json` writes one event per line to
stdout (`event.to_json()`); the desktop app reads the lines from the training process and
turns them back into events with `event_from_json`. Nothing here imports Qt.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, TextIO


@dataclass
class Event:
    """Base of all progress events; `type` in the JSON form names the subclass."""

    _types: ClassVar[dict[str, type[Event]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Event._types[cls.__name__] = cls

    def to_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, **dataclasses.asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, default=_jsonable)

    @classmethod
    def from_json(cls, text: str) -> Event:
        return event_from_dict(json.loads(text))


def _jsonable(value: Any) -> Any:
    if hasattr(value, "__fspath__"):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def event_from_dict(data: dict[str, Any]) -> Event:
    data = dict(data)
    name = data.pop("type", None)
    kind = Event._types.get(str(name))
    if kind is None:
        raise ValueError(f"unknown event type {name!r}")
    names = {f.name for f in dataclasses.fields(kind)}
    return kind(**{k: v for k, v in data.items() if k in names})


def event_from_json(text: str) -> Event:
    """The event one JSON line describes; ValueError for anything else."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not a JSON event: {text[:80]!r}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"not a JSON event: {text[:80]!r}")
    return event_from_dict(data)


def _finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: such values travel as null."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


@dataclass
class RunStarted(Event):
    total_epochs: int
    steps_per_epoch: int
    classes: list[str]
    device: str
    run_dir: str = ""
    start_epoch: int = 0  # epochs already done (resumed runs)
    train_clips: int = 0
    val_clips: int = 0
    world_size: int = 1


@dataclass
class StepProgress(Event):
    epoch: int  # 1-based
    step: int  # 1-based, within the epoch
    steps: int  # steps in this epoch
    loss: float | None  # running mean over the epoch so far
    accuracy: float  # running top-1 over the epoch so far
    lr: float
    clips_per_s: float
    eta_s: float | None  # seconds left in the whole run

    def __post_init__(self) -> None:
        self.loss = _finite(self.loss)
        self.eta_s = _finite(self.eta_s)


@dataclass
class ValidationProgress(Event):
    epoch: int
    done: int  # clips evaluated so far (this process)
    total: int


@dataclass
class EpochEnded(Event):
    epoch: int
    train_loss: float | None
    train_acc: float
    val_loss: float | None = None
    val_acc: float | None = None
    best: bool = False  # this epoch's model is the best so far
    lr: float = 0.0
    seconds: float = 0.0

    def __post_init__(self) -> None:
        self.train_loss = _finite(self.train_loss)
        self.val_loss = _finite(self.val_loss)


@dataclass
class CheckpointSaved(Event):
    path: str
    epoch: int = 0
    kind: str = "resume"  # resume (the run's state) or model (a .safetensors model)


@dataclass
class RunFinished(Event):
    best_val_acc: float | None
    model_path: str
    report: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunCancelled(Event):
    message: str
    checkpoint: str | None = None  # the resume checkpoint written before stopping
    epoch: int = 0
    step: int = 0


@dataclass
class RunFailed(Event):
    message: str


@dataclass
class TaskProgress(Event):
    """Progress of a job counted in items (videos evaluated, windows predicted)."""

    task: str
    done: int
    total: int
    message: str = ""


# --------------------------------------------------------------------------- writers

class JsonLinesWriter:
    """Writes each event as one JSON line and flushes, so a reading process sees it at once."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def __call__(self, event: Event) -> None:
        self._stream.write(event.to_json() + "\n")
        self._stream.flush()


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class ProgressBar:
    """A one-line terminal progress bar, redrawn in place with a carriage return."""

    def __init__(self, stream: TextIO, width: int = 28, min_interval_s: float = 0.1) -> None:
        self._stream = stream
        self._width = width
        self._min_interval = min_interval_s
        self._last_draw = 0.0
        self._open = False

    def draw(self, done: int, total: int, prefix: str = "", suffix: str = "",
             force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < self._min_interval and done < total:
            return
        self._last_draw = now
        share = min(1.0, done / total) if total else 0.0
        filled = round(share * self._width)
        bar = "#" * filled + "-" * (self._width - filled)
        self._stream.write(f"\r{prefix} [{bar}] {done}/{total} {suffix}\x1b[K")
        self._stream.flush()
        self._open = True

    def line(self, text: str) -> None:
        """Print a line of its own, keeping the bar below it."""
        self.close()
        self._stream.write(text + "\n")
        self._stream.flush()

    def close(self) -> None:
        if self._open:
            self._stream.write("\n")
            self._stream.flush()
            self._open = False


class TrainingProgressBar:
    """Shows training events on a terminal: a bar per epoch and a line per finished epoch."""

    def __init__(self, stream: TextIO) -> None:
        self._bar = ProgressBar(stream)
        self._epochs = 0

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._epochs = event.total_epochs
            self._bar.line(f"training on {event.device}: {len(event.classes)} classes, "
                           f"{event.train_clips} training clips, {event.val_clips} validation "
                           f"clips, {event.steps_per_epoch} steps per epoch")
        elif isinstance(event, StepProgress):
            loss = "-" if event.loss is None else f"{event.loss:.3f}"
            self._bar.draw(event.step, event.steps, prefix=f"epoch {event.epoch}/{self._epochs}",
                           suffix=f"loss {loss} acc {event.accuracy:.3f} lr {event.lr:.2g} "
                                  f"{event.clips_per_s:.1f} clips/s "
                                  f"eta {format_duration(event.eta_s)}")
        elif isinstance(event, ValidationProgress):
            self._bar.draw(event.done, event.total, prefix=f"validate {event.epoch}")
        elif isinstance(event, TaskProgress):
            self._bar.draw(event.done, event.total, prefix=event.task, suffix=event.message)
        elif isinstance(event, EpochEnded):
            text = (f"epoch {event.epoch}/{self._epochs}: train loss "
                    f"{_fmt(event.train_loss)} acc {event.train_acc:.3f}")
            if event.val_acc is not None:
                text += f", val loss {_fmt(event.val_loss)} acc {event.val_acc:.3f}"
            text += f" ({format_duration(event.seconds)})" + (" *best*" if event.best else "")
            self._bar.line(text)
        elif isinstance(event, RunFinished | RunCancelled | RunFailed):
            self._bar.close()

    def close(self) -> None:
        self._bar.close()


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
