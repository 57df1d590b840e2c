"""The public entry points: a clip, a sequence of drills, a video file, a data set folder.

Random generators are seeded from (seed, drill, index) for a clip and from (seed, "sequence",
number of drills[, index]) for a sequence, so the same arguments always give byte-identical
frames. With `tempo=True` the pace varies (tempo.py) by a second generator seeded with the
same keys and "tempo": the figure, room and camera stay those of the plain-pace video.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from stmanet.data.decode import opencv_filename
from stmanet.data.synthetic.drills import DRILLS, _check_drill
from stmanet.data.synthetic.render import REST, _render_timed
from stmanet.data.synthetic.scenes import NON_DRILLS, render_scene
from stmanet.data.synthetic.tempo import _sample_tempo, _Tempo
from stmanet.errors import ConfigError, STMANetError, printable_path
from stmanet.fileio import atomic_write_text

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Segment:
    """One drill of a rendered sequence: frames `start_frame` to `end_frame` (exclusive).

    A segment's first few frames blend from the previous drill's last pose into the new one.
    """

    drill: str
    start_frame: int
    end_frame: int
    rep_times: tuple[tuple[float, float], ...] = ()  # (start, end) of each repetition,
    # seconds from the start of the video

    @property
    def frame_count(self) -> int:
        return self.end_frame - self.start_frame

    @property
    def reps(self) -> int:
        """Whole repetitions in the segment (tempo.py says what one is)."""
        return len(self.rep_times)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Segment:
        return cls(drill=str(data["drill"]), start_frame=int(data["start_frame"]),
                   end_frame=int(data["end_frame"]),
                   rep_times=tuple((float(a), float(b)) for a, b in data.get("rep_times", ())))


REST_LABEL = "other"
"""A rest's label in an expected timeline: the per-frame result's for footage of no known
action (stmanet.engine.segmentation.OTHER_LABEL), which a model should show there."""


def timeline_dict(segments: Sequence[Segment], fps: float, frames: int) -> dict[str, Any]:
    """The expected timeline of a generated video (stmanet.engine.timeline's format), each
    segment with its number of repetitions and their (start, end) times in seconds; a rest
    (`render.REST`) is labelled REST_LABEL."""
    return {"fps": fps, "frames": frames,
            "segments": [{"label": REST_LABEL if s.drill == REST else s.drill,
                          "start_frame": s.start_frame,
                          "end_frame": s.end_frame, "reps": s.reps,
                          "rep_times": [[round(a, 4), round(b, 4)] for a, b in s.rep_times]}
                         for s in segments]}


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([k % (1 << 63) for k in keys]))


def _drill_key(drill: str) -> int:
    return zlib.crc32(drill.encode("utf-8"))


def _tempo_from(rng: np.random.Generator) -> Callable[[str, float], _Tempo]:
    return lambda drill, rate: _sample_tempo(drill, rate, rng)


def render_clip(drill: str, *, seed: int, frames: int = 96, fps: float = 25.0,
                size: tuple[int, int] = (160, 120), index: int = 0,
                tempo: bool = False) -> np.ndarray:
    """Render one clip of `drill` as uint8 frames (N, H, W, 3) in BGR order.

    `size` is (width, height). The figure, clothes, background, camera, speed within the
    drill's range, phase and mirroring are drawn from a generator seeded with (seed, drill,
    index): the same arguments always give byte-identical frames, and different seeds or
    indices give different clips. `drill` may also name footage that is no drill
    (`scenes.NON_DRILLS`: idle, walk_across, empty_scene, camera_shake). `tempo`: vary the
    pace (see `render_clip_with_reps`).
    """
    if drill in NON_DRILLS:
        return render_scene(drill, seed=seed, frames=frames, fps=fps, size=size, index=index)
    return render_clip_with_reps(drill, seed=seed, frames=frames, fps=fps, size=size,
                                 index=index, tempo=tempo)[0]


def render_clip_with_reps(drill: str, *, seed: int, frames: int = 96, fps: float = 25.0,
                          size: tuple[int, int] = (160, 120), index: int = 0,
                          tempo: bool = False) -> tuple[np.ndarray, Segment]:
    """`render_clip`, and the clip as one `Segment` with the time of every repetition.

    `tempo=True`: the pace is 0.5-2 times the drill's usual one, drifts by up to 20% within
    the clip, may pause between repetitions, and the set starts in the drill's starting pose
    and holds it after its last whole repetition (stmanet.data.synthetic.tempo).
    """
    _check_drill(drill)
    if frames < 1:
        raise ConfigError(f"a clip needs at least one frame, got {frames}")
    rng = _rng(seed, _drill_key(drill), index)
    tempo_rng = _rng(seed, _drill_key(drill), index, _drill_key("tempo"))
    video, reps = _render_timed([(drill, int(frames))], rng, fps, size,
                                _tempo_from(tempo_rng) if tempo else None)
    return video, Segment(drill, 0, int(frames), tuple(reps[0]))


def render_still(drill: str, *, seed: int, frames: int = 96, fps: float = 25.0,
                 size: tuple[int, int] = (160, 120), index: int = 0) -> np.ndarray:
    """The figure, room and camera of `render_clip`, the figure holding the drill's starting
    pose throughout (its pace 0): footage in which nothing repeats."""
    _check_drill(drill)
    if frames < 1:
        raise ConfigError(f"a clip needs at least one frame, got {frames}")
    rng = _rng(seed, _drill_key(drill), index)
    still = _Tempo(factor=0.0, drift=0.0, wobble=0.0, wobble_period=1.0, wobble_phase=0.0)
    return _render_timed([(drill, int(frames))], rng, fps, size, lambda d, r: still)[0]


def render_sequence(drills_with_seconds: Sequence[tuple[str, float]], *, seed: int,
                    fps: float = 25.0, size: tuple[int, int] = (160, 120), index: int = 0,
                    tempo: bool = False
                    ) -> tuple[np.ndarray, list[Segment]]:
    """Render one figure doing several drills one after another, for a demo with a timeline.
    A drill named `idle` (`render.REST`) is a rest: the figure standing at rest.

    Returns the frames (N, H, W, 3) BGR and one `Segment` per drill, covering the frames
    without gaps, with the time of each of its repetitions. Each segment lasts
    round(seconds * fps) frames (at least one); its first 0.4 s blend from the previous
    drill's last pose. `index` tells apart sequences made with one seed (the figure, room
    and camera are drawn from (seed, number of drills, index)). `tempo`: vary each drill's
    pace as `render_clip_with_reps` does.
    """
    if not drills_with_seconds:
        raise ConfigError("a sequence needs at least one drill")
    plan: list[tuple[str, int]] = []
    segments: list[Segment] = []
    start = 0
    for drill, seconds in drills_with_seconds:
        if drill != REST:
            _check_drill(drill, also=f"; or {REST} (a rest)")
        if seconds <= 0:
            what = "a rest" if drill == REST else f"drill {drill!r}"
            raise ConfigError(f"{what} needs a positive duration, got {seconds} s")
        count = max(1, round(seconds * fps))
        plan.append((drill, count))
        segments.append(Segment(drill, start, start + count))
        start += count
    keys = (seed, _drill_key("sequence"), len(plan)) + ((index,) if index else ())
    tempo_rng = _rng(*keys, _drill_key("tempo"))
    frames, reps = _render_timed(plan, _rng(*keys), fps, size,
                                 _tempo_from(tempo_rng) if tempo else None)
    return frames, [replace(s, rep_times=tuple((s.start_frame / fps + a, s.start_frame / fps + b)
                                               for a, b in r))
                    for s, r in zip(segments, reps, strict=True)]


# --------------------------------------------------------------------------------------------
# Files


def write_video(path: Path | str, frames: np.ndarray | Sequence[np.ndarray],
                fps: float = 25.0) -> Path:
    """Write BGR uint8 frames (N, H, W, 3) to an MPEG-4 (mp4v) file, atomically.

    The video is written to a temporary file beside `path` and renamed over it only when
    complete, so a crash never leaves a half-written file under the real name.
    """
    path = Path(path)
    if len(frames) == 0:
        raise ConfigError("no frames to write")
    first = np.asarray(frames[0])
    if first.ndim != 3 or first.shape[2] != 3:
        raise ConfigError(f"frames must be (H, W, 3) BGR images, got shape {first.shape}")
    height, width = first.shape[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{printable_path(path.stem)}.",
                                    suffix=printable_path(path.suffix) or ".mp4", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with opencv_filename(tmp, write=True) as name:
            writer = cv2.VideoWriter(name, cv2.VideoWriter_fourcc(*"mp4v"), float(fps),
                                     (width, height))
        if not writer.isOpened():
            raise STMANetError(f"{path}: cannot open an mp4v video writer in this OpenCV build")
        try:
            for frame in frames:
                frame = np.asarray(frame)
                if frame.shape != first.shape or frame.dtype != np.uint8:
                    raise ConfigError(f"all frames must be uint8 of shape {first.shape}, "
                                      f"got {frame.dtype} {frame.shape}")
                writer.write(np.ascontiguousarray(frame))
        finally:
            writer.release()
        if tmp.stat().st_size == 0:
            raise STMANetError(f"{path}: the video writer produced an empty file")
        tmp.chmod(0o644)  # mkstemp makes it private; a data set is meant to be shared
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _write_clip(out: Path, drill: str, seed: int, index: int, frames: int, fps: float,
                size: tuple[int, int], tempo: bool = False, reps: bool = False) -> Path:
    """Render clip `index` of `drill` and write it to out/<drill>/<drill>_<seed>_<index>.mp4,
    with its timeline and repetitions beside it (.json) when `reps` or `tempo` (a module-level
    function, so worker processes can run it). Footage that is no drill has no repetitions
    to write."""
    name = out / drill / f"{drill}_{seed}_{index}.mp4"
    if drill in NON_DRILLS:
        return write_video(name, render_scene(drill, seed=seed, frames=frames, fps=fps,
                                              size=size, index=index), fps)
    clip, segment = render_clip_with_reps(drill, seed=seed, frames=frames, fps=fps, size=size,
                                          index=index, tempo=tempo)
    path = write_video(name, clip, fps)
    if reps or tempo:
        atomic_write_text(path.with_suffix(".json"),
                          json.dumps(timeline_dict([segment], fps, len(clip))) + "\n")
    return path


def write_class_clips(out_dir: Path | str, classes: Sequence[str], clips_per_class: int,
                      workers: int, progress: Callable[[int, int], None] | None,
                      writer: Callable[..., Any], seed: int, *extra: Any) -> Path:
    """Clip i of every class, `writer(out, name, seed, i, *extra)` (a module-level function:
    `workers` > 1 runs it in spawned processes), then out_dir/classes.txt; returns out_dir.
    The same clips for any number of workers."""
    if len(set(classes)) != len(classes):
        raise ConfigError(f"classes listed twice: {', '.join(classes)}")
    if clips_per_class < 1:
        raise ConfigError(f"clips per class must be at least 1, got {clips_per_class}")
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(name, i) for name in classes for i in range(clips_per_class)]
    total = len(jobs)
    if workers == 1:
        for done, (name, i) in enumerate(jobs, 1):
            writer(out, name, seed, i, *extra)
            if progress is not None:
                progress(done, total)
    else:
        import concurrent.futures
        import multiprocessing

        # spawn: a fresh interpreter per worker, safe in a process that holds threads (the app)
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = [pool.submit(writer, out, name, seed, i, *extra) for name, i in jobs]
            try:
                for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
                    future.result()
                    if progress is not None:
                        progress(done, total)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    atomic_write_text(out / "classes.txt", "".join(f"{c}\n" for c in classes))
    return out


def generate_dataset(out_dir: Path | str, *, clips_per_class: int, seed: int, frames: int = 96,
                     fps: float = 25.0, size: tuple[int, int] = (160, 120),
                     drills: Sequence[str] = DRILLS,
                     progress: Callable[[int, int], None] | None = None,
                     workers: int = 1, tempo: bool = False, reps: bool = False) -> Path:
    """Write a folder-per-class data set of drill clips and return its folder.

    Layout: out_dir/<drill>/<drill>_<seed>_<i>.mp4 for i in 0..clips_per_class-1, plus
    out_dir/classes.txt naming the drills one per line, in the order given. Clip i of a drill
    is `render_clip(drill, seed=seed, index=i, tempo=tempo, ...)`, so the files do not depend
    on `workers` (processes rendering clips side by side). With `reps` (implied by `tempo`)
    each clip's expected timeline with the time of every repetition is written beside it
    (<clip>.json, `timeline_dict`). `progress(done, total)` is called after every clip, in
    the order clips finish.
    """
    drills = list(drills)
    if not drills:
        raise ConfigError("no drills to generate")
    for drill in drills:
        if drill not in NON_DRILLS:
            _check_drill(drill)
    if len(set(drills)) != len(drills):
        raise ConfigError(f"drills listed twice: {', '.join(drills)}")
    out = write_class_clips(out_dir, drills, clips_per_class, workers, progress, _write_clip,
                            seed, frames, fps, size, tempo, reps)
    kind = "scenes" if all(d in NON_DRILLS for d in drills) else "classes"
    log.info("synthetic data set: %d %s x %d clip%s in %s", len(drills), kind, clips_per_class,
             "" if clips_per_class == 1 else "s", out)
    return out
