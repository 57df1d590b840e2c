"""The paper's ablation rows (Table 4), trained and tested on generated drills in one run.

Every row is trained by `stmanet train` with the same recipe, data, seed and epochs; only the
ST-MANet switches and the diversity-loss weights differ:

    baseline      the bare 3D ResNet (tda, sda, mf off; no diversity losses)
    +TDA          temporal aggregation
    +SDA          spatial aggregation
    +TDA+SDA      both
    +MF           both and multi-level fusion (no diversity losses)
    full          ST-MANet: all of it, with lambda_1 = 0.01, lambda_2 = 0.001

Each model is then scored by `stmanet evaluate` (all test windows, scores averaged) on clips of
a seed never used in training, and a table of top-1 accuracy (with walking, jogging and
running, which differ mainly in rhythm, apart) is printed and written to OUT/ablation.json.

    python benchmarks/ablation.py --out runs/ablation            # CPU: about 15 min a row
    python benchmarks/ablation.py --out runs/ablation --jobs 3   # rows side by side (a GPU)
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time
from pathlib import Path


def row_flags(tda: bool, sda: bool, mf: bool, diversity: bool) -> list[str]:
    """`stmanet train` flags of one row: the three switches and the diversity-loss weights."""
    flags = []
    for name, on in (("tda", tda), ("sda", sda), ("mf", mf)):
        flags += ["--set", f"{name}={'on' if on else 'off'}"]
    weights = ("0.01", "0.001") if diversity else ("0", "0")
    return [*flags, "--lambda-spatial", weights[0], "--lambda-temporal", weights[1]]


ROWS: dict[str, list[str]] = {
    "baseline": row_flags(tda=False, sda=False, mf=False, diversity=False),
    "+TDA": row_flags(tda=True, sda=False, mf=False, diversity=False),
    "+SDA": row_flags(tda=False, sda=True, mf=False, diversity=False),
    "+TDA+SDA": row_flags(tda=True, sda=True, mf=False, diversity=False),
    "+MF": row_flags(tda=True, sda=True, mf=True, diversity=False),
    "full": row_flags(tda=True, sda=True, mf=True, diversity=True),
}

# The small recipe that learns generated drills on a CPU (docs/training.md).
RECIPE = ["--model", "stmanet_r10", "--set", "width=0.25", "--set", "dropout=0.2",
          "--frames", "16", "--size", "64", "--batch-size", "16", "--optimizer", "adamw",
          "--schedule", "cosine", "--lr", "0.005", "--weight-decay", "0.01", "--min-crop", "0.8"]

GAITS = ("walking", "jogging", "running")


def stmanet(*args: str, log: Path) -> None:
    """Run `python -m stmanet ARGS`, its output to LOG; raise with the log's tail on failure."""
    with log.open("w") as out:
        done = subprocess.run([sys.executable, "-m", "stmanet", *args], stdout=out,
                              stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise RuntimeError(f"stmanet {args[0]} failed ({done.returncode}):\n{tail}")


def make_data(out: Path, clips: int, seed: int, workers: int) -> Path:
    if not (out / "classes.txt").is_file():
        stmanet("synth", str(out), "--clips-per-class", str(clips), "--seed", str(seed),
                "--workers", str(workers), log=out.with_suffix(".log"))
    return out


def run_row(name: str, args: argparse.Namespace, train: Path, test: Path) -> dict:
    folder = args.out / name.replace("+", "plus_")
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    stmanet("train", "--data", f"folder:{train}", *RECIPE, *ROWS[name],
            "--epochs", str(args.epochs), "--workers", str(args.workers),
            "--device", args.device, "--seed", str(args.seed), "--output", str(folder / "run"),
            "--progress", "none", log=folder / "train.log")
    train_s = time.perf_counter() - started
    stmanet("evaluate", str(folder / "run" / "final.safetensors"), "--data", f"folder:{test}",
            "--output-dir", str(folder / "evaluation"), "--workers", str(args.workers),
            "--device", args.device, "--progress", "none", log=folder / "evaluate.log")
    report = json.loads((folder / "evaluation" / "report.json").read_text())
    return {"row": name, "top1": report["top1"], "train_s": round(train_s, 1),
            "per_class": report["per_class"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--train-clips", type=int, default=60, help="per drill (default 60)")
    parser.add_argument("--test-clips", type=int, default=20, help="per drill (default 20)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0, help="training seed, the same every row")
    parser.add_argument("--workers", type=int, default=1, help="data-loading processes per row")
    parser.add_argument("--jobs", type=int, default=1, help="rows trained side by side")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated rows")
    args = parser.parse_args()
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; known: {', '.join(ROWS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    synth_workers = max(1, min(16, os.cpu_count() or 1))
    train = make_data(args.out / "train", args.train_clips, 1000, synth_workers)
    test = make_data(args.out / "test", args.test_clips, 2000, synth_workers)
    print(f"{args.train_clips} training and {args.test_clips} test clips per drill, "
          f"{args.epochs} epochs, device {args.device}", flush=True)

    results: dict[str, dict] = {}
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(run_row, name, args, train, test): name for name in rows}
        for future in concurrent.futures.as_completed(futures):
            name = futures[future]
            try:
                results[name] = future.result()
            except RuntimeError as error:
                print(f"{name}: {error}", flush=True)
                continue
            r = results[name]
            print(f"{name:10s} top-1 {r['top1']:.3f}  ({r['train_s']:.0f} s training)", flush=True)
            (args.out / "ablation.json").write_text(json.dumps(
                [results[n] for n in rows if n in results], indent=1))

    print()
    print("| row | top-1 | " + " | ".join(GAITS) + " | training s |")
    print("|---|---|" + "---|" * len(GAITS) + "---|")
    for name in rows:
        if name not in results:
            print(f"| {name} | failed |" + " |" * (len(GAITS) + 1))
            continue
        r = results[name]
        gaits = " | ".join(f"{r['per_class'].get(g, float('nan')):.2f}" for g in GAITS)
        print(f"| {name} | {r['top1']:.3f} | {gaits} | {r['train_s']:.0f} |")
    return 0 if len(results) == len(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
