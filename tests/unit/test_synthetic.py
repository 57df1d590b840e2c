"""Procedural drill videos: deterministic, the right shapes, real video files, ordered gaits."""

import itertools
import json

import cv2
import numpy as np
import pytest

from stmanet.cli import main
from stmanet.data.synthetic import (
    DRILLS,
    NON_DRILLS,
    Segment,
    generate_dataset,
    render_clip,
    render_clip_with_reps,
    render_scene,
    render_sequence,
    render_still,
    write_video,
)
from stmanet.errors import ConfigError

SMALL = (64, 48)


def _read_video(path):
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return np.stack(frames) if frames else np.zeros((0,))


def _step_rate(frames: np.ndarray, fps: float) -> float:
    """Dominant rhythm (Hz) of the motion in a clip, measured from the pixels alone.

    The mean absolute frame difference over the region that changes most rises and falls with
    the limbs' speed, once per step; its strongest frequency between 1 and 6 Hz is the cadence.
    """
    grey = frames.astype(np.float32).mean(axis=3)
    diff = np.abs(np.diff(grey, axis=0))  # (T-1, H, W)
    energy = diff.mean(axis=0)

    def busy(profile: np.ndarray) -> np.ndarray:
        base = np.median(profile)
        return np.flatnonzero(profile > base + 0.5 * (profile.max() - base))

    cols, rows = busy(energy.mean(axis=0)), busy(energy.mean(axis=1))
    signal = diff[:, rows.min():rows.max() + 1, cols.min():cols.max() + 1].mean(axis=(1, 2))
    t = np.arange(signal.size)
    signal = (signal - np.polyval(np.polyfit(t, signal, 1), t)) * np.hanning(signal.size)
    n = 16 * signal.size
    spectrum = np.abs(np.fft.rfft(signal, n))
    freqs = np.fft.rfftfreq(n, 1 / fps)
    band = (freqs > 1.0) & (freqs < 6.0)
    return float(freqs[band][np.argmax(spectrum[band])])


def test_the_required_drills_exist():
    for drill in ("jumping_jacks", "squats", "arm_circles", "high_knees", "lunges", "walking",
                  "jogging", "running"):
        assert drill in DRILLS
    assert len(set(DRILLS)) == len(DRILLS)


def test_same_seed_gives_identical_frames():
    a = render_clip("jumping_jacks", seed=7, frames=6, size=SMALL)
    b = render_clip("jumping_jacks", seed=7, frames=6, size=SMALL)
    assert a.dtype == np.uint8
    assert np.array_equal(a, b)


def test_different_seeds_and_indices_give_different_clips():
    a = render_clip("squats", seed=1, frames=4, size=SMALL)
    b = render_clip("squats", seed=2, frames=4, size=SMALL)
    c = render_clip("squats", seed=1, frames=4, size=SMALL, index=1)
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("drill", DRILLS)
def test_every_drill_renders_a_moving_figure_of_the_requested_shape(drill):
    clip = render_clip(drill, seed=0, frames=20, size=SMALL)
    assert clip.shape == (20, 48, 64, 3) and clip.dtype == np.uint8
    # something moves far beyond the sensor noise: the figure's limbs
    spread = clip.astype(np.int16).max(axis=0) - clip.astype(np.int16).min(axis=0)
    assert (spread.max(axis=2) > 60).mean() > 0.01


def test_frame_rate_and_size_are_respected():
    clip = render_clip("running", seed=3, frames=3, fps=30.0, size=(80, 100))
    assert clip.shape == (3, 100, 80, 3)


def test_unknown_drills_and_bad_arguments_are_refused():
    with pytest.raises(ConfigError, match="known drills: jumping_jacks"):
        render_clip("cartwheels", seed=0)
    with pytest.raises(ConfigError):
        render_clip("squats", seed=0, frames=0)
    with pytest.raises(ConfigError):
        render_sequence([("squats", 0.0)], seed=0)


def test_written_video_reads_back_with_every_frame(tmp_path):
    clip = render_clip("arm_circles", seed=4, frames=12, size=(96, 72))
    path = write_video(tmp_path / "clip.mp4", clip, 25.0)
    assert path == tmp_path / "clip.mp4"
    cap = cv2.VideoCapture(str(path))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25.0)
    cap.release()
    back = _read_video(path)
    assert back.shape == clip.shape
    assert np.abs(back.astype(np.int16) - clip).mean() < 12  # lossy, but the same pictures
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]  # no temporary file left


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"old")
    bad = [np.zeros((8, 8, 3), np.uint8), np.zeros((4, 4, 3), np.uint8)]
    with pytest.raises(ConfigError):
        write_video(path, bad, 25.0)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_generate_dataset_writes_a_folder_per_class(tmp_path):
    calls = []
    out = generate_dataset(tmp_path / "drills", clips_per_class=2, seed=5, frames=6, size=SMALL,
                           drills=("walking", "squats"),
                           progress=lambda done, total: calls.append((done, total)))
    assert out == tmp_path / "drills"
    assert (out / "classes.txt").read_text().splitlines() == ["walking", "squats"]
    for drill in ("walking", "squats"):
        names = sorted(p.name for p in (out / drill).iterdir())
        assert names == [f"{drill}_5_0.mp4", f"{drill}_5_1.mp4"]
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    video = _read_video(out / "squats" / "squats_5_1.mp4")
    assert video.shape == (6, 48, 64, 3)
    # clip i of a data set is render_clip(..., index=i)
    expected = render_clip("squats", seed=5, frames=6, size=SMALL, index=1)
    assert np.abs(video.astype(np.int16) - expected).mean() < 12


def test_walking_jogging_and_running_differ_in_cadence():
    seeds = range(5)
    rates = {gait: [_step_rate(render_clip(gait, seed=s, frames=96, size=(96, 72)), 25.0)
                    for s in seeds]
             for gait in ("walking", "jogging", "running")}
    walk, jog, run = (float(np.median(rates[g])) for g in ("walking", "jogging", "running"))
    assert walk < jog < run, rates
    assert 1.4 < walk < 2.2 and 2.4 < jog < 3.2 and 3.4 < run < 4.4, rates


def test_render_sequence_reports_a_gapless_timeline():
    plan = [("walking", 1.0), ("squats", 0.6), ("jumping_jacks", 0.5)]
    frames, segments = render_sequence(plan, seed=2, fps=20.0, size=SMALL)
    assert frames.shape == (20 + 12 + 10, 48, 64, 3)
    assert [s.drill for s in segments] == ["walking", "squats", "jumping_jacks"]
    assert segments[0].start_frame == 0 and segments[-1].end_frame == len(frames)
    for before, after in itertools.pairwise(segments):
        assert before.end_frame == after.start_frame
    again, _ = render_sequence(plan, seed=2, fps=20.0, size=SMALL)
    assert np.array_equal(frames, again)


def test_segment_round_trips_through_json():
    segment = Segment("lunges", 25, 75)
    assert Segment.from_dict(json.loads(json.dumps(segment.to_dict()))) == segment
    assert segment.frame_count == 50


def test_synth_command_writes_the_data_set(tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["synth", str(out), "--clips-per-class", "1", "--frames", "5", "--size", "64x48",
                 "--seed", "3", "--drills", "high_knees, lunges"]) == 0
    printed = capsys.readouterr().out
    assert "high_knees" in printed and "lunges" in printed
    assert (out / "classes.txt").read_text().splitlines() == ["high_knees", "lunges"]
    assert _read_video(out / "lunges" / "lunges_3_0.mp4").shape == (5, 48, 64, 3)


def test_clips_rendered_by_several_processes_are_the_same_files(tmp_path):
    kwargs = dict(clips_per_class=2, seed=4, frames=6, size=(64, 48),
                  drills=["squats", "walking"])
    one = generate_dataset(tmp_path / "one", workers=1, **kwargs)
    seen = []
    two = generate_dataset(tmp_path / "two", workers=2, progress=lambda d, t: seen.append((d, t)),
                           **kwargs)
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file())
    assert len(files) == 5  # 4 clips and classes.txt
    for name in files:
        assert (one / name).read_bytes() == (two / name).read_bytes()
    assert seen[-1] == (4, 4)


def test_synth_command_names_the_known_drills_on_a_typo(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "x"), "--drills", "squatz"]) == 2
    assert "known drills" in capsys.readouterr().err


def _figure_x(frames: np.ndarray) -> np.ndarray:
    """Per frame, the mean of the columns with a figure's height of pixels that differ from
    the median frame (the still room behind a figure that moves through it; a slow zoom moves
    thin lines only)."""
    grey = frames.astype(np.float32).mean(axis=3)
    moving = np.abs(grey - np.median(grey, axis=0)) > 40
    cols = np.arange(frames.shape[2])
    tall = [cols[m.sum(axis=0) > 6] for m in moving]
    return np.array([c.mean() if c.size else np.nan for c in tall])


def test_footage_that_is_no_drill_renders_like_a_drill_clip():
    assert set(NON_DRILLS) == {"idle", "walk_across", "empty_scene", "camera_shake"}
    assert not set(NON_DRILLS) & set(DRILLS)
    for name in NON_DRILLS:
        a = render_clip(name, seed=5, frames=12, size=SMALL)
        assert a.shape == (12, 48, 64, 3) and a.dtype == np.uint8
        assert np.array_equal(a, render_scene(name, seed=5, frames=12, size=SMALL))
        assert not np.array_equal(a, render_clip(name, seed=5, frames=12, size=SMALL, index=1))
    with pytest.raises(ConfigError, match="known: idle"):
        render_scene("dancing", seed=0)


def test_walking_across_moves_through_the_picture_and_idle_stays_put():
    for index in range(3):
        x = _figure_x(render_scene("walk_across", seed=1, index=index, frames=96))
        seen = x[np.isfinite(x)]
        assert seen.size > 30 and abs(seen[-1] - seen[0]) > 40  # of 160 columns
        still = _figure_x(render_scene("idle", seed=1, index=index, frames=96))
        assert np.nanmax(still) - np.nanmin(still) < 15


def test_the_empty_room_is_still_and_the_shaking_camera_is_not():
    def motion(frames: np.ndarray) -> float:
        grey = frames.astype(np.float32).mean(axis=3)
        return float(np.abs(np.diff(grey, axis=0)).mean())

    empty = [motion(render_scene("empty_scene", seed=2, index=i, frames=48)) for i in range(3)]
    shaking = [motion(render_scene("camera_shake", seed=2, index=i, frames=48))
               for i in range(3)]
    assert max(empty) < min(shaking)


def test_synth_writes_footage_that_is_no_drill(tmp_path, capsys):
    out = tmp_path / "none"
    assert main(["synth", str(out), "--non-drills", "--clips-per-class", "1", "--frames", "5",
                 "--size", "64x48"]) == 0
    assert (out / "classes.txt").read_text().splitlines() == list(NON_DRILLS)
    assert _read_video(out / "idle" / "idle_0_0.mp4").shape == (5, 48, 64, 3)
    mixed = tmp_path / "mixed"
    assert main(["synth", str(mixed), "--drills", "squats,empty_scene", "--clips-per-class",
                 "1", "--frames", "5", "--size", "64x48"]) == 0
    assert (mixed / "classes.txt").read_text().splitlines() == ["squats", "empty_scene"]
    assert main(["synth", str(tmp_path / "x"), "--drills", "idel"]) == 2
    assert "footage that is no drill: idle" in capsys.readouterr().err


# ------------------------------------------------------------ repetitions and varied tempo

def coded_frames(path):
    """Every coded frame of a video's first video stream, as bytes (the container around them
    names the muxer's version, which changes with FFmpeg releases)."""
    import av

    with av.open(str(path)) as container:
        return [(bytes(p), p.pts, p.dts)
                for p in container.demux(container.streams.video[0]) if p.size]


def test_the_plain_pace_still_renders_the_committed_demo_video_frame_for_frame(tmp_path):
    """The recipe of docs/training.md gives resources/videos/demo.mp4's coded frames and
    demo.json exactly."""
    from stmanet.bundled import bundled_demo_video

    demo = bundled_demo_video()
    assert demo is not None
    out = tmp_path / "demo.mp4"
    plan = ("jumping_jacks:5,squats:5,arm_circles:5,high_knees:5,lunges:5,walking:5,"
            "jogging:5,running:5,push_ups:5,side_bends:5")
    assert main(["sequence", str(out), "--seed", "7", "--drills", plan]) == 0
    assert coded_frames(out) == coded_frames(demo)
    assert json.loads(out.with_suffix(".json").read_text()) == json.loads(
        demo.with_suffix(".json").read_text())


def test_every_segment_knows_its_repetitions():
    _, segments = render_sequence([("jumping_jacks", 4.0), ("walking", 3.0)], seed=5,
                                  size=SMALL)
    jacks, walking = segments
    assert 3 <= jacks.reps <= 6  # 0.9-1.4 jumps a second for 4 s
    assert 3.6 <= walking.reps <= 7  # 1.6-2.0 steps a second for 3 s
    for segment in segments:
        start, end = segment.start_frame / 25.0, (segment.end_frame - 1) / 25.0
        for a, b in segment.rep_times:
            assert start <= a < b <= end + 1e-6
        # at the plain pace every repetition lasts the same
        lengths = [b - a for a, b in segment.rep_times[1:-1]]
        assert max(lengths) - min(lengths) < 1e-6
    assert Segment.from_dict(json.loads(json.dumps(jacks.to_dict()))) == jacks


def test_a_varied_tempo_changes_the_pace_within_limits():
    from stmanet.data.synthetic.drills import _SPECS, _sample_motion
    from stmanet.data.synthetic.tempo import MAX_DRIFT, _sample_tempo, _warp

    rng = np.random.default_rng(0)
    factors = []
    for i in range(200):
        drill = DRILLS[i % len(DRILLS)]
        motion = _sample_motion(drill, rng)
        tempo = _sample_tempo(drill, motion.rate, rng)
        factors.append(tempo.factor)
        assert 0.5 - 1e-9 <= tempo.factor <= 2.0 + 1e-9
        assert motion.rate * tempo.factor <= _SPECS[drill].max_rate + 1e-9
        assert abs(tempo.drift) + tempo.wobble <= MAX_DRIFT + 1e-9
        if not _SPECS[drill].pauses:
            assert tempo.pauses == ()
        warp = _warp(drill, motion, tempo, 500, 25.0)
        pace = motion.rate * tempo.factor
        for a, b in warp.reps:  # each repetition at the clip's pace +-20%
            assert 1 / (1.2 * pace) - 0.01 <= b - a <= 1 / (0.8 * pace) + 0.01
        if warp.reps:
            assert warp.reps[0][0] == 0.0  # the set starts in the starting pose
            gaps = [b[0] - a[1] for a, b in itertools.pairwise(warp.reps)]
            assert all(g < 1e-9 or 0.4 - 1e-9 <= g <= 2.4 + 1e-9 for g in gaps)  # pauses
            last = warp.reps[-1][1]
            held = np.arange(500) / 25.0 > last + 1e-6
            assert np.all(warp.pace[held] == 0.0)  # holds the pose after the last one
    assert min(factors) < 0.6 and max(factors) > 1.4  # from half to twice the usual pace


def test_a_varied_tempo_is_reproducible_and_differs_from_the_plain_pace():
    a, seg_a = render_clip_with_reps("squats", seed=4, frames=60, size=SMALL, tempo=True)
    b, seg_b = render_clip_with_reps("squats", seed=4, frames=60, size=SMALL, tempo=True)
    assert np.array_equal(a, b) and seg_a == seg_b
    plain = render_clip("squats", seed=4, frames=60, size=SMALL)
    assert not np.array_equal(a, plain)
    assert np.array_equal(plain, render_clip_with_reps("squats", seed=4, frames=60,
                                                       size=SMALL)[0])


def test_a_still_figure_holds_its_pose():
    def changed(clip: np.ndarray) -> float:  # share of pixels that change by more than noise
        return float((np.abs(np.diff(clip.astype(np.int16), axis=0)).max(axis=3) > 60).mean())

    assert changed(render_still("jumping_jacks", seed=1, frames=20, size=SMALL)) == 0.0
    assert changed(render_clip("jumping_jacks", seed=1, frames=20, size=SMALL)) > 0.01


def test_synth_writes_repetitions_beside_each_clip_when_asked(tmp_path):
    out = tmp_path / "synth"
    assert main(["synth", str(out), "--clips-per-class", "1", "--frames", "40", "--size",
                 "64x48", "--seed", "2", "--drills", "walking", "--tempo"]) == 0
    timeline = json.loads((out / "walking" / "walking_2_0.json").read_text())
    (segment,) = timeline["segments"]
    assert timeline["frames"] == 40 and segment["label"] == "walking"
    assert segment["reps"] == len(segment["rep_times"]) >= 1
    _, expected = render_clip_with_reps("walking", seed=2, frames=40, size=(64, 48),
                                        tempo=True)
    assert segment["reps"] == expected.reps
    plain = tmp_path / "plain"
    assert main(["synth", str(plain), "--clips-per-class", "1", "--frames", "5", "--size",
                 "64x48", "--drills", "squats"]) == 0
    assert [p.name for p in (plain / "squats").iterdir()] == ["squats_0_0.mp4"]
    assert main(["synth", str(plain), "--clips-per-class", "1", "--frames", "5", "--size",
                 "64x48", "--drills", "squats", "--reps"]) == 0
    assert (plain / "squats" / "squats_0_0.json").exists()


def test_sequence_writes_each_segments_repetitions(tmp_path):
    out = tmp_path / "seq.mp4"
    assert main(["sequence", str(out), "--drills", "push_ups:3,running:2", "--size", "64x48",
                 "--tempo", "--seed", "1"]) == 0
    segments = json.loads(out.with_suffix(".json").read_text())["segments"]
    assert [s["label"] for s in segments] == ["push_ups", "running"]
    for s in segments:
        assert s["reps"] == len(s["rep_times"])
        for a, b in s["rep_times"]:
            assert s["start_frame"] / 25 - 1e-3 <= a < b <= s["end_frame"] / 25
