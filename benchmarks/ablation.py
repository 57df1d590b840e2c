"""The paper's ablation rows (Table 4) and per-stage probes (Fig. 4), on generated drills.

Every row is trained by `stmanet train` with the same recipe, data and epochs; only the
ST-MANet switches and the diversity-loss weights differ:

    baseline      the bare 3D ResNet (tda, sda, mf off; no diversity losses)
    +TDA          temporal aggregation
    +SDA          spatial aggregation
    +TDA+SDA      both
    +MF           both and multi-level fusion (no diversity losses)
    full          ST-MANet: all of it, with lambda_1 = 0.01, lambda_2 = 0.001

Each row is trained once per training seed (`--seeds N`: seeds 0..N-1) and scored by
`stmanet evaluate` (all test windows, scores averaged) on clips of a data seed never used in
training. After each network, a linear classifier (the probe, Fig. 4's study) is fitted on the
pooled features of each stage (2-5) and of all four side by side ("fusion") of the training
clips, and scored on the test clips. The table gives each row's mean and spread (sample
standard deviation, and min-max) over the seeds, and is written to OUT/ablation.json. Rows
are trained seed by seed; each one's result is kept in OUT/<row>/seed<N>/result.json, so the
same command run again after a stop trains only what is missing.

`--suite drills`: the plain drills (walking, jogging and running, which differ mainly in
rhythm, are reported apart). `--suite hard`: `stmanet synth --suite hard` (distractors,
camera motion, occlusion, light; classes that differ only in order or rhythm), 64-frame clips
seen whole by a 16-frame window of every 4th frame (the order and rhythm classes need all of
a clip).

    python benchmarks/ablation.py --out runs/ablation                          # plain drills
    python benchmarks/ablation.py --out runs/ablation-hard --suite hard --seeds 3 --jobs 6 \
        --device cuda                                                          # a GPU
    python benchmarks/ablation.py --out runs/smoke --suite hard --classes squats_slow,squats_fast \
        --train-clips 4 --test-clips 2 --epochs 1 --model stmanet_r18_lite --size 32 \
        --rows baseline,full --seeds 1                                          # a smoke run
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

import numpy as np

from stmanet.fileio import atomic_write_text


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

# The small recipe that learns generated drills on a CPU (docs/training.md); --model, --size,
# --frames and --frame-stride are added by `recipe`.
RECIPE = ["--set", "dropout=0.2", "--batch-size", "16",
          "--optimizer", "adamw", "--schedule", "cosine", "--lr", "0.005",
          "--weight-decay", "0.01", "--min-crop", "0.8"]

GAITS = ("walking", "jogging", "running")
HARD_CLIP_FRAMES = 64  # the hard suite's clips: one 16 x 4 window sees all of a clip


def recipe(args: argparse.Namespace) -> list[str]:
    stride = args.frame_stride or (4 if args.suite == "hard" else 2)
    width = [] if args.model.endswith("_lite") else ["--set", "width=0.25"]  # lite: its own
    return ["--model", args.model, "--frames", str(args.frames), "--frame-stride", str(stride),
            "--size", str(args.size), *width, *RECIPE]


def stmanet(*args: str, log: Path) -> None:
    """Run `python -m stmanet ARGS`, its output to LOG; raise with the log's tail on failure."""
    with log.open("w") as out:
        done = subprocess.run([sys.executable, "-m", "stmanet", *args], stdout=out,
                              stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise RuntimeError(f"stmanet {args[0]} failed ({done.returncode}):\n{tail}")


def make_data(out: Path, args: argparse.Namespace, clips: int, seed: int, workers: int) -> Path:
    """The data set of one suite (the classes of --classes, else all) in OUT, once."""
    if (out / "classes.txt").is_file():
        return out
    if args.suite == "hard":
        from stmanet.data.synthetic.hard import HARD_CLASSES, generate_hard_dataset

        generate_hard_dataset(out, clips_per_class=clips, seed=seed, frames=HARD_CLIP_FRAMES,
                              classes=args.classes or HARD_CLASSES, workers=workers)
    else:
        from stmanet.data.synthetic import DRILLS, generate_dataset

        generate_dataset(out, clips_per_class=clips, seed=seed, drills=args.classes or DRILLS,
                         workers=workers)
    return out


def pooled_features(model_file: Path, data: Path, device: str) -> tuple[list[np.ndarray],
                                                                        np.ndarray]:
    """Each clip's pooled features of stages 2-5 (averaged over its test windows) and of all
    four side by side: five arrays (clips, C), and the labels."""
    import torch

    from stmanet.data.clips import test_windows
    from stmanet.data.sources import load_source
    from stmanet.engine.checkpoint import load_checkpoint

    loaded = load_checkpoint(model_file, device=device)
    index = load_source("folder", data)
    per_stage: list[list[np.ndarray]] = []
    labels = []
    with torch.no_grad():
        for record in index.records:
            windows = test_windows(record, loaded.metadata.input)
            output = loaded.model(windows.to(device))
            feats = [f.float().mean(0).cpu().numpy() for f in output.stage_features]
            feats.append(np.concatenate(feats))
            per_stage.append(feats)
            labels.append(record.label)
    return [np.stack(f) for f in zip(*per_stage, strict=True)], np.asarray(labels)


def probe_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray,
                   test_y: np.ndarray, classes: int, seed: int) -> float:
    """Top-1 of a linear classifier (softmax regression, standardised features, L2 1e-3,
    L-BFGS) fitted on the training features."""
    import torch

    torch.manual_seed(seed)
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    x = torch.tensor((train_x - mean) / std, dtype=torch.float32)
    y = torch.tensor(train_y, dtype=torch.long)
    layer = torch.nn.Linear(x.shape[1], classes)
    optimizer = torch.optim.LBFGS(layer.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(layer(x), y) + 1e-3 * layer.weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        test = torch.tensor((test_x - mean) / std, dtype=torch.float32)
        return float((layer(test).argmax(1).numpy() == test_y).mean())


PROBES = ("stage 2", "stage 3", "stage 4", "stage 5", "fusion")
# what a row's result depends on besides its row and seed: a result kept from an earlier run
# (OUT/<row>/seed<N>/result.json) is used again only when these are the same
SETTINGS = ("suite", "classes", "train_clips", "test_clips", "epochs", "model", "size", "frames",
            "frame_stride", "probes")


def run_row(name: str, seed: int, args: argparse.Namespace, train: Path, test: Path) -> dict:
    folder = args.out / name.replace("+", "plus_") / f"seed{seed}"
    done = folder / "result.json"
    settings = {key: getattr(args, key) for key in SETTINGS}
    if done.is_file():  # finished by an earlier, interrupted run: kept if made the same way
        try:
            kept = json.loads(done.read_text())
        except ValueError:
            kept = {}
        if kept.get("settings") == settings:
            return kept
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    stmanet("train", "--data", f"folder:{train}", *recipe(args), *ROWS[name],
            "--epochs", str(args.epochs), "--workers", str(args.workers),
            "--device", args.device, "--seed", str(seed), "--output", str(folder / "run"),
            "--progress", "none", log=folder / "train.log")
    train_s = time.perf_counter() - started
    model_file = folder / "run" / "final.safetensors"
    stmanet("evaluate", str(model_file), "--data", f"folder:{test}",
            "--output-dir", str(folder / "evaluation"), "--workers", str(args.workers),
            "--device", args.device, "--progress", "none", log=folder / "evaluate.log")
    report = json.loads((folder / "evaluation" / "report.json").read_text())
    result = {"row": name, "seed": seed, "top1": report["top1"], "train_s": round(train_s, 1),
              "per_class": report["per_class"], "settings": settings}
    if args.probes:
        device = "cpu" if args.device == "auto" else args.device
        if args.device == "auto":
            import torch

            device = "cuda" if torch.cuda.is_available() else "cpu"
        train_f, train_y = pooled_features(model_file, train, device)
        test_f, test_y = pooled_features(model_file, test, device)
        classes = int(max(train_y.max(), test_y.max())) + 1
        result["probes"] = {p: probe_accuracy(a, train_y, b, test_y, classes, seed)
                            for p, a, b in zip(PROBES, train_f, test_f, strict=True)}
    atomic_write_text(done, json.dumps(result))  # a stop mid-write leaves no half file
    return result


def spread(values: list[float]) -> str:
    """mean +- sample standard deviation [min-max] (one value: just the value)."""
    a = np.asarray(values, dtype=np.float64)
    if a.size == 1:
        return f"{a[0]:.3f}"
    return f"{a.mean():.3f} +- {a.std(ddof=1):.3f} [{a.min():.3f}-{a.max():.3f}]"


def summary(rows: list[str], runs: list[dict], suite: str) -> dict[str, dict]:
    table: dict[str, dict] = {}
    for name in rows:
        mine = [r for r in runs if r["row"] == name]
        if not mine:
            continue
        top1 = [r["top1"] for r in mine]
        entry: dict = {"seeds": [r["seed"] for r in mine], "top1": top1,
                       "top1_mean": float(np.mean(top1)),
                       "top1_std": float(np.std(top1, ddof=1)) if len(top1) > 1 else 0.0,
                       "train_s_mean": float(np.mean([r["train_s"] for r in mine]))}
        if suite == "hard":
            from stmanet.data.synthetic.hard import ORDER, RHYTHM, SPATIAL

            groups = {"spatial": SPATIAL, "order+rhythm": ORDER + RHYTHM}
        else:
            groups = {"gaits": GAITS}
        for group, names in groups.items():
            per_seed = [float(np.mean([r["per_class"][c] for c in names if c in r["per_class"]]))
                        for r in mine if any(c in r["per_class"] for c in names)]
            if per_seed:
                entry[group] = per_seed
        if all("probes" in r for r in mine):
            entry["probes"] = {p: [r["probes"][p] for r in mine] for p in PROBES}
        table[name] = entry
    return table


def print_tables(table: dict[str, dict]) -> None:
    groups = [g for g in ("spatial", "order+rhythm", "gaits") if any(g in e for e in
                                                                     table.values())]
    print("| row | top-1 mean +- sd [min-max] | " + " | ".join(groups) + " | training s |")
    print("|---|---|" + "---|" * len(groups) + "---|")
    for name, e in table.items():
        cells = " | ".join(spread(e[g]) if g in e else "" for g in groups)
        print(f"| {name} | {spread(e['top1'])} | {cells} | {e['train_s_mean']:.0f} |")
    if any("probes" in e for e in table.values()):
        print()
        print("| row | " + " | ".join(PROBES) + " |")
        print("|---|" + "---|" * len(PROBES))
        for name, e in table.items():
            if "probes" in e:
                print(f"| {name} | " + " | ".join(spread(e["probes"][p]) for p in PROBES) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--suite", choices=("drills", "hard"), default="drills")
    parser.add_argument("--classes", help="comma-separated classes of the suite (default all)")
    parser.add_argument("--train-clips", type=int, default=60, help="per class (default 60)")
    parser.add_argument("--test-clips", type=int, default=20, help="per class (default 20)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=1,
                        help="training seeds per row, 0..N-1 (default 1)")
    parser.add_argument("--model", default="stmanet_r10")
    parser.add_argument("--size", type=int, default=64, help="crop side (default 64)")
    parser.add_argument("--frames", type=int, default=16, help="frames a window (default 16)")
    parser.add_argument("--frame-stride", type=int, default=0,
                        help="every n-th frame (default 4 with --suite hard, else 2)")
    parser.add_argument("--no-probes", dest="probes", action="store_false",
                        help="skip the per-stage linear probes")
    parser.add_argument("--workers", type=int, default=1, help="data-loading processes per row")
    parser.add_argument("--jobs", type=int, default=1, help="rows trained side by side")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated rows")
    args = parser.parse_args()
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; known: {', '.join(ROWS)}")
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    args.classes = [c.strip() for c in args.classes.split(",")] if args.classes else None
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    synth_workers = max(1, min(16, os.cpu_count() or 1))
    train = make_data(args.out / "train", args, args.train_clips, 1000, synth_workers)
    test = make_data(args.out / "test", args, args.test_clips, 2000, synth_workers)
    print(f"suite {args.suite}: {args.train_clips} training and {args.test_clips} test clips "
          f"per class, {args.epochs} epochs, {args.seeds} seeds a row, device {args.device}",
          flush=True)

    runs: list[dict] = []
    # seed by seed, so that a run stopped early has every row of its first seeds
    jobs = [(name, seed) for seed in range(args.seeds) for name in rows]
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(run_row, name, seed, args, train, test): (name, seed)
                   for name, seed in jobs}
        for future in concurrent.futures.as_completed(futures):
            name, seed = futures[future]
            try:
                r = future.result()
            except RuntimeError as error:
                print(f"{name} seed {seed}: {error}", flush=True)
                continue
            runs.append(r)
            probes = ("  probes " + " ".join(f"{v:.2f}" for v in r["probes"].values())
                      if "probes" in r else "")
            print(f"{name:10s} seed {seed} top-1 {r['top1']:.3f}  ({r['train_s']:.0f} s "
                  f"training){probes}", flush=True)
            table = summary(rows, runs, args.suite)
            (args.out / "ablation.json").write_text(json.dumps(
                {"suite": args.suite, "runs": runs, "rows": table}, indent=1))

    print()
    print_tables(summary(rows, runs, args.suite))
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    return 0 if len(runs) == len(jobs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
