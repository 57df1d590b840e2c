"""What counting repetitions adds to Analyse whole video in the desktop program.

    python benchmarks/bench_reps_app.py [--video resources/videos/demo.mp4] [--repeats 3]
                                        [--threads N]

With the bundled demo model on the demo video (or --video and --checkpoint), times, round
after round (interleaved, so that the shared machine's load falls on each alike), the
analysis as the app's recognition worker runs it (windows a quarter window apart, attention
summaries, the per-frame result):

    windows only        Predictor.predict and frame_timeline with the changes where the
                        windows put them (the analysis before the changes were placed on
                        the frames)
    analysis            what the worker needs without counting: every frame embedded as it
                        is decoded (app.services.counting.FrameEmbeddings),
                        Predictor.predict_frames, and frame_timeline with its changes placed
                        on those embeddings (engine/boundaries.py)
    analysis + counts   the worker's whole pass: the analysis, then count_segments (each
                        segment counted, and the rhythm pictures made)

and prints the median of each, and the extra time of each row over "analysis" as a share of
it (median over rounds of the difference within a round), in wall-clock time and in the
process's CPU time (which other work on a shared machine disturbs far less; with --threads 1
it is the work done). What counting adds is the last row against "analysis": the frames'
embeddings are made for the placed changes whether or not anything is counted. As the
difference of two noisy times is itself noisy, count_segments is also timed alone on the
last analysis's embeddings, as a share of the analysis. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from app.services.counting import FrameEmbeddings, count_segments
from stmanet.bundled import bundled_demo_model, bundled_demo_video
from stmanet.data.decode import iter_frames, probe
from stmanet.engine.checkpoint import load_checkpoint
from stmanet.engine.inference import Predictor
from stmanet.engine.segmentation import frame_timeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=bundled_demo_video())
    parser.add_argument("--checkpoint", type=Path, default=bundled_demo_model())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    loaded = load_checkpoint(args.checkpoint)
    predictor = Predictor(loaded, "cpu", top_k=5, attention=True, batch_size=1)
    hop = max(1, loaded.metadata.input.window // 4)
    info = probe(args.video)

    def windows_only() -> None:
        frame_timeline(predictor.predict(args.video, hop=hop))

    def analysed() -> tuple[FrameEmbeddings, object]:
        tap = FrameEmbeddings()
        frames = tap.tap(iter_frames(args.video))
        prediction = predictor.predict_frames(frames, info.frame_count, info.fps,
                                              path=args.video, hop=hop)
        all(True for _ in frames)
        embeddings = tap.array()
        return tap, frame_timeline(prediction, embeddings=embeddings)

    def counted() -> None:
        tap, timeline = analysed()
        count_segments(tap.array(), info.fps, timeline, tap.seconds)

    fns = {"windows only": windows_only, "analysis": analysed, "analysis + counts": counted}
    clocks = {"wall": time.perf_counter, "CPU": time.process_time}
    times = {(name, clock): [] for name in fns for clock in clocks}
    counted()  # warm-up
    for _ in range(args.repeats):
        for name, fn in fns.items():
            started = {clock: read() for clock, read in clocks.items()}
            fn()
            for clock, read in clocks.items():
                times[name, clock].append(read() - started[clock])
    print(f"{args.video}: {info.frame_count} frames, hop {hop}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {args.repeats} rounds")
    tap, timeline = analysed()
    alone = {clock: [] for clock in clocks}
    for _ in range(args.repeats):
        started = {clock: read() for clock, read in clocks.items()}
        reps = count_segments(tap.array(), info.fps, timeline, tap.seconds)
        for clock, read in clocks.items():
            alone[clock].append(read() - started[clock])
    print(f"count_segments alone ({len(reps.segments)} segments counted, rhythm pictures "
          "made), median of the rounds:")
    for clock in clocks:
        spent = statistics.median(alone[clock])
        share = 100 * spent / statistics.median(times["analysis", clock])
        print(f"{clock:4s}  {spent:.3f} s, {share:.1f}% of the analysis")
    for clock in clocks:
        base = times["analysis", clock]
        for name in fns:
            more = times[name, clock]
            extra = statistics.median(m - b for m, b in zip(more, base, strict=True))
            print(f"{clock:4s}  {name:18s} {statistics.median(more):7.2f} s   "
                  f"({extra:+.2f} s, {100 * extra / statistics.median(base):+.1f}% against "
                  "analysis)")


if __name__ == "__main__":
    main()
