"""Analysis of a class's session: one process against worker processes side by side.

    python benchmarks/bench_batch.py [--videos 6] [--seconds 10] [--size 160x120]
                                     [--workers 1,2,4] [--repeats 1]

Renders a session of generated drill videos once (stmanet.data.synthetic), then analyses it
with `engine.batch.run_batch` (the work of `stmanet predict --output-dir`, the bundled demo
model) with each number of worker processes; every run starts from an empty result folder.
One worker runs in this process with torch using every core; N workers each get cores / N
torch threads. Prints the wall time of each and its speed-up over one process (the median
over --repeats, rounds interleaved so that the load of a shared machine falls on each alike).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from stmanet.bundled import bundled_demo_model
from stmanet.data.synthetic.dataset import render_sequence, write_video
from stmanet.engine.batch import available_cores, default_workers, run_batch

DRILLS = ["jumping_jacks", "squats", "arm_circles", "high_knees", "walking", "running",
          "lunges", "side_bends"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="160x120")
    parser.add_argument("--workers", default="")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    cores = available_cores()
    counts = ([int(w) for w in args.workers.split(",")] if args.workers
              else sorted({1, default_workers(args.videos), min(args.videos, cores)}))
    width, height = (int(v) for v in args.size.split("x"))
    model = bundled_demo_model()
    assert model is not None, "no bundled demo model"
    root = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        videos = []
        for i in range(args.videos):
            a, b = DRILLS[i % len(DRILLS)], DRILLS[(i + 3) % len(DRILLS)]
            frames, _ = render_sequence([(a, args.seconds / 2), (b, args.seconds / 2)],
                                        seed=i, size=(width, height))
            videos.append(write_video(root / f"student{i + 1}.mp4", frames))
        print(f"{args.videos} videos of {args.seconds:g} s at {args.size}, {cores} core(s), "
              f"default workers {default_workers(args.videos)}")
        times: dict[int, list[float]] = {n: [] for n in counts}
        for _ in range(args.repeats):
            for n in counts:
                out = root / f"out{n}"
                shutil.rmtree(out, ignore_errors=True)
                torch.set_num_threads(cores)
                started = time.perf_counter()
                summary = run_batch(videos, out, model, workers=n)
                times[n].append(time.perf_counter() - started)
                assert len(summary.done) == args.videos, summary.failed
        one = statistics.median(times[1]) if 1 in times else None
        for n in counts:
            t = statistics.median(times[n])
            ratio = f"{one / t:5.2f}x" if one else "  -  "
            print(f"  {n:2d} worker(s) x {max(1, cores // n)} thread(s): {t:7.1f} s  "
                  f"speed-up {ratio}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
