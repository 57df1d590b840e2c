"""Test sequences: one figure doing drills one after another, written with the timeline it
shows, so that timelines can be checked on as many videos as wanted.

`random_plan` draws the drills and their durations: the drills in a random order (every drill
once before any comes again, never the same drill twice in a row), each lasting a random
2-15 s. `write_sequence` renders a plan to OUT.mp4 and writes the expected timeline as OUT.json
beside it, in the format of stmanet.engine.timeline.ExpectedTimeline:

    {"fps": 25.0, "frames": 300,
     "segments": [{"label": "squats", "start_frame": 0, "end_frame": 125}, ...]}

A plan may rest between drills (`idle`, render.REST: the figure standing at rest; `stmanet
sequence --rests 2-6` or `--drills squats:5,idle:3,...`): footage of no drill, which the
expected timeline labels `other`, as a model that tells unknown footage should show it.

Plan i of a seed and the video made from it depend only on (seed, i): `stmanet sequence
OUT.mp4 --random 10 --count 50 --seed 5000` always writes the same 50 videos.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from stmanet.data.synthetic.dataset import (
    _drill_key,
    _rng,
    render_sequence,
    timeline_dict,
    write_video,
)
from stmanet.data.synthetic.drills import DRILLS, _check_drill
from stmanet.data.synthetic.render import REST
from stmanet.errors import ConfigError
from stmanet.fileio import atomic_write_text

MIN_SECONDS = 2.0
MAX_SECONDS = 15.0


def random_plan(count: int, *, seed: int, index: int = 0, drills: Sequence[str] = DRILLS,
                min_seconds: float = MIN_SECONDS, max_seconds: float = MAX_SECONDS,
                rests: tuple[float, float] | None = None) -> list[tuple[str, float]]:
    """`count` (drill, seconds) pairs: the drills shuffled (each once before any repeats,
    never one drill twice in a row), durations uniform in [min_seconds, max_seconds], to
    0.04 s. `rests` (shortest, longest seconds): a rest (REST, the figure standing at rest)
    of a duration drawn alike between every two drills. The same (count, seed, index) always
    gives the same drills, with rests or without."""
    drills = list(drills)
    if count < 1:
        raise ConfigError(f"a sequence needs at least one drill, not {count}")
    if not drills:
        raise ConfigError("no drills to draw from")
    for drill in drills:
        _check_drill(drill)
    if not 0 < min_seconds <= max_seconds < math.inf:
        raise ConfigError(f"durations need 0 < minimum <= maximum, not {min_seconds:g}-"
                          f"{max_seconds:g} s")
    rng = _rng(seed, _drill_key("random plan"), count, index)
    order: list[str] = []
    while len(order) < count:
        batch = [drills[i] for i in rng.permutation(len(drills))]
        if order and len(batch) > 1 and batch[0] == order[-1]:
            batch[0], batch[-1] = batch[-1], batch[0]
        order.extend(batch)
    seconds = rng.uniform(min_seconds, max_seconds, count)
    plan = [(drill, round(float(s) * 25) / 25) for drill, s in zip(order[:count], seconds,
                                                                   strict=True)]
    if rests is None:
        return plan
    shortest, longest = rests
    if not 0 < shortest <= longest < math.inf:
        raise ConfigError(f"rests need 0 < shortest <= longest, not {shortest:g}-{longest:g} s")
    if count < 2:
        raise ConfigError("a rest goes between two drills: draw two drills or more")
    pauses = rng.uniform(shortest, longest, count - 1)
    out = plan[:1]
    for step, pause in zip(plan[1:], pauses, strict=True):
        out += [(REST, round(float(pause) * 25) / 25), step]
    return out


def numbered_path(path: Path | str, number: int, count: int) -> Path:
    """OUT.mp4 for a single video; OUT-000.mp4, OUT-001.mp4, ... for several."""
    path = Path(path)
    if count == 1:
        return path
    digits = max(3, len(str(count - 1)))
    return path.with_name(f"{path.stem}-{number:0{digits}d}{path.suffix}")


def write_sequence(path: Path | str, plan: Sequence[tuple[str, float]], *, seed: int,
                   fps: float = 25.0, size: tuple[int, int] = (320, 240), index: int = 0,
                   tempo: bool = False) -> tuple[Path, Path, int]:
    """Render `plan` to `path` (.mp4) and its expected timeline, with every segment's
    repetitions, to the .json beside it; returns (video, timeline, frames). `tempo`: vary
    each drill's pace (render_sequence)."""
    path = Path(path)
    frames, segments = render_sequence(plan, seed=seed, fps=fps, size=size, index=index,
                                       tempo=tempo)
    write_video(path, frames, fps)
    timeline = timeline_dict(segments, fps, len(frames))
    expected = path.with_suffix(".json")
    atomic_write_text(expected, json.dumps(timeline, indent=1) + "\n")
    return path, expected, len(frames)


def parse_plan(text: str) -> list[tuple[str, float]]:
    """`DRILL:SECONDS,DRILL:SECONDS,...` -> [(drill, seconds), ...]."""
    plan: list[tuple[str, float]] = []
    for item in text.split(","):
        drill, sep, seconds = item.strip().partition(":")
        try:
            if not sep:
                raise ValueError
            plan.append((drill.strip(), float(seconds)))
        except ValueError:
            raise ConfigError(f"expected DRILL:SECONDS, got {item.strip()!r}") from None
    return plan
