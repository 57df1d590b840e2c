"""How well Compare videos lines two videos up, on generated drills whose truth is known.

    python benchmarks/bench_compare.py [--seeds 1 2 3] [--tempos 1.25 1.6]

For each pair of drills (a 2 s lead-in drill, then 6 s of the compared drill), seed and tempo
factor, video A is the plan at 25 fps and video B the same figure with a 2.8 s lead-in and
every movement `tempo` times slower (rendered at tempo x 25 fps, written at 25). B's frame
that goes with A's frame a of the compared drill is therefore start_b + tempo x (a - start_a).

Both videos are analysed with the demo model (the app's analysis: windows a quarter window
apart, the per-frame result) and studied as the app does (app/services/compare.py: every
frame's embedding, repetitions counted in each recognised segment), then lined up by each
mode with `align_videos`. Printed per case, in frames:

    action   B's frame at A's true start of the drill less B's true start (the offset error)
    reps     mean and max error of B's frame over the repetitions paired (None: the counter
             abstained in one video, and the mode fell back to DTW)
    dtw      mean and max error of B's frame over the drill (ends less 10 frames), DTW over
             the recognised segments of the drill

and a summary line per mode. Measurements only, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from app.services.compare import align_videos, compared_segments, study_video
from stmanet.bundled import bundled_demo_model
from stmanet.data.synthetic import render_sequence, write_video
from stmanet.engine import align
from stmanet.engine.checkpoint import load_checkpoint
from stmanet.engine.inference import Predictor
from stmanet.engine.segmentation import default_hop, frame_timeline
from stmanet.errors import STMANetError

PLANS = (("squats", "jumping_jacks"), ("arm_circles", "side_bends"), ("high_knees", "lunges"),
         ("push_ups", "squats"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--tempos", type=float, nargs="+", default=[1.25, 1.6])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    loaded = load_checkpoint(bundled_demo_model())
    predictor = Predictor(loaded, "cpu", top_k=5)
    hop = default_hop(loaded.metadata.input.window)
    rows: dict[str, list[float]] = {"action": [], "reps": [], "dtw": []}
    folder = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    print(f"{'drill':<14} {'seed':>4} {'tempo':>5} {'action':>7} {'reps mean/max':>14} "
          f"{'dtw mean/max':>13}")
    for lead, drill in PLANS:
        for seed in args.seeds:
            for tempo in args.tempos:
                a, seg_a = render_sequence([(lead, 2.0), (drill, 6.0)], seed=seed,
                                           size=(160, 120))
                b, seg_b = render_sequence([(lead, 2.8), (drill, 6.0)], seed=seed,
                                           fps=25.0 * tempo, size=(160, 120))
                path_a = write_video(folder / "a.mp4", a)
                path_b = write_video(folder / "b.mp4", b)
                start_a, start_b = seg_a[1].start_frame, seg_b[1].start_frame

                def truth(frames: np.ndarray, sa: int = start_a, sb: int = start_b,
                          k: float = tempo) -> np.ndarray:
                    return sb + k * (frames - sa)

                segments = []
                for path in (path_a, path_b):
                    timeline = frame_timeline(predictor.predict(path, hop=hop))
                    segments.append(compared_segments(timeline, 25.0))
                studies = [study_video(p, s) for p, s in zip((path_a, path_b), segments,
                                                              strict=True)]
                common = dict(segments_a=segments[0], segments_b=segments[1],
                              study_a=studies[0], study_b=studies[1], action=drill)
                try:
                    by_action = align_videos("action", **common)
                except STMANetError as exc:
                    print(f"{drill:<14} {seed:>4} {tempo:>5} no common action: {exc}")
                    continue
                action_error = by_action.b_of(start_a) - start_b
                rows["action"].append(abs(action_error))
                by_reps = align_videos("reps", **common)
                reps_text = "None"
                if by_reps.mode == "reps":
                    frames = np.arange(by_reps.anchors[0, 0], by_reps.anchors[-1, 0])
                    error = np.abs(by_reps.b_of(frames) - truth(frames))
                    rows["reps"].append(float(error.mean()))
                    reps_text = f"{error.mean():.1f}/{error.max():.1f}"
                _, (a0, a1), (b0, b1) = align.common_action(segments[0], segments[1], drill)
                by_dtw = align.by_dtw(studies[0].embeddings, studies[1].embeddings,
                                      span_a=(a0, a1), span_b=(b0, b1))
                frames = np.arange(max(a0, start_a) + 10, a1 - 10)
                error = np.abs(by_dtw.b_of(frames) - truth(frames))
                rows["dtw"].append(float(error.mean()))
                print(f"{drill:<14} {seed:>4} {tempo:>5} {action_error:>+7.1f} "
                      f"{reps_text:>14} {error.mean():>6.1f}/{error.max():.1f}")
    for mode, errors in rows.items():
        if errors:
            within = sum(e <= 2 for e in errors)
            print(f"{mode}: {len(errors)} cases, mean error {statistics.fmean(errors):.2f} "
                  f"frames, median {statistics.median(errors):.2f}, {within} within 2 frames")


if __name__ == "__main__":
    main()
