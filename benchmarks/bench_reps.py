"""Time of counting repetitions against the time of analysing the whole video, in one run.

    python benchmarks/bench_reps.py [--video resources/videos/demo.mp4] [--repeats 5]
                                    [--threads N] [--keep-blas-threads]

With the bundled demo model on the demo video (or --video and --checkpoint), times, round
after round (interleaved, so that the shared machine's load falls on each alike):

    analysis            Predictor.predict: decoding and the network's windows (Analyse whole
                        video, `stmanet predict`)
    analysis + counts   reps_video.predict_and_count: the same pass, embedding every frame
                        on the way, then counting each predicted segment (`stmanet count`,
                        `stmanet predict --reps`)
    count (frames)      frame embeddings and count_reps of the predicted segments, from
                        frames already decoded (a player that holds them)
    count (embeddings)  count_reps alone, from embeddings kept while the video played

and prints the median of each and its ratio to the analysis (median over rounds of the ratio
within a round). `--keep-blas-threads` leaves numpy's BLAS threads as they are while counting
(as the counter did before it took one thread: stmanet/engine/blas_threads.py), to compare.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from stmanet.bundled import bundled_demo_model, bundled_demo_video
from stmanet.data.decode import iter_frames
from stmanet.engine.checkpoint import load_checkpoint
from stmanet.engine.inference import Predictor
from stmanet.engine.reps import count_reps, frame_embeddings
from stmanet.engine.reps_video import _window_segments, predict_and_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=bundled_demo_video())
    parser.add_argument("--checkpoint", type=Path, default=bundled_demo_model())
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    parser.add_argument("--keep-blas-threads", action="store_true",
                        help="do not limit numpy's BLAS to one thread while counting")
    args = parser.parse_args()
    if args.keep_blas_threads:
        from stmanet.engine import blas_threads

        blas_threads._api = None  # found nothing to set: blocks run unchanged
    if args.threads:
        torch.set_num_threads(args.threads)
    predictor = Predictor(load_checkpoint(args.checkpoint), "cpu")
    frames = [f for _, f in iter_frames(args.video)]
    first = predictor.predict(args.video)
    segments = _window_segments(first.windows)
    embeddings = frame_embeddings(frames)
    print(f"{args.video}: {len(frames)} frames of {frames[0].shape[1]}x{frames[0].shape[0]}, "
          f"{len(first.windows)} windows, {len(segments)} predicted segments; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy's BLAS "
          f"{'as it is' if args.keep_blas_threads else 'on one thread'} while counting")

    fns = {
        "analysis": lambda: predictor.predict(args.video),
        "analysis + counts": lambda: predict_and_count(predictor, args.video),
        "count (frames)": lambda: count_reps(frame_embeddings(frames), first.fps, segments),
        "count (embeddings)": lambda: count_reps(embeddings, first.fps, segments),
    }
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(args.repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    base = times["analysis"]
    print(f"{'':20s} {'median s':>9s} {'ms/frame':>9s} {'vs analysis':>12s}")
    for name, values in times.items():
        ratio = statistics.median(v / b for v, b in zip(values, base, strict=True))
        if name == "analysis + counts":
            extra = statistics.median(v - b for v, b in zip(values, base, strict=True))
            note = f"  (+{extra:.3f} s, {100 * extra / statistics.median(base):.1f}% more)"
        else:
            note = ""
        median = statistics.median(values)
        print(f"{name:20s} {median:9.3f} {1000 * median / len(frames):9.3f} {ratio:12.3f}"
              f"{note}")
    counts = count_reps(embeddings, first.fps, segments)
    print("counts:", ", ".join(f"{c.label} {c.total if not c.abstained else '-'}"
                               for c in counts))
    print(f"embedding size {embeddings.shape[1]}, {np.asarray(embeddings).nbytes / 1e6:.1f} MB "
          f"for the video")


if __name__ == "__main__":
    main()
