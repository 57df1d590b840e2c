"""Training on a CPU: the network's threads against the loading processes beside them.

`stmanet train` on a CPU gives the network the cores its loading processes leave
(`trainer.cpu_threads`). This times a few epochs of the demo recipe on generated drills both
ways, round-robin: OMP_NUM_THREADS = every core (PyTorch's own choice) and = the cores less
the loading processes, and prints each epoch's seconds and the ratio of the medians.

    python benchmarks/bench_train_threads.py [--clips 20] [--epochs 3] [--rounds 2]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from stmanet.engine.batch import available_cores


def epoch_seconds(data: Path, out: Path, threads: int, epochs: int, workers: int) -> list[float]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run([sys.executable, "-m", "stmanet", "train", "--preset", "demo", "--data",
                    f"folder:{data}", "--epochs", str(epochs), "--workers", str(workers),
                    "--output", str(out), "--no-openset", "--progress", "none"],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with (out / "metrics.csv").open() as f:
        return [float(row["seconds"]) for row in csv.DictReader(f)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20, help="clips per drill")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="loading processes")
    args = parser.parse_args()
    cores = available_cores()
    choices = sorted({cores, max(1, cores - args.workers)}, reverse=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "drills"
        subprocess.run([sys.executable, "-m", "stmanet", "synth", str(data),
                        "--clips-per-class", str(args.clips), "--seed", "4000"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times: dict[int, list[float]] = {t: [] for t in choices}
        for r in range(args.rounds):
            for t in choices:
                seconds = epoch_seconds(data, Path(tmp) / f"run-{t}-{r}", t, args.epochs,
                                        args.workers)
                times[t] += seconds
                print(f"round {r + 1}, {t} thread(s): epochs "
                      + " ".join(f"{s:.1f}" for s in seconds) + " s", flush=True)
    medians = {t: statistics.median(v) for t, v in times.items()}
    for t, m in medians.items():
        print(f"{t} thread(s) and {args.workers} loading process(es) on {cores} cores: "
              f"median epoch {m:.2f} s")
    if len(medians) == 2:
        ratio = medians[choices[0]] / medians[choices[1]]
        print(f"every core / the cores the loaders leave: {ratio:.2f}x the epoch time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
