"""Check a built bundle (dist/stmanet-app/): its size, its self-test, its trainer.

    python scripts/check_bundle.py [--bundle dist/stmanet-app] [--runs 2] [--no-train]
                                   [-- SELF-TEST OPTIONS, e.g. --model M --video V]

1. Size: every file in the folder, with the largest parts listed.
2. The self-test, `--runs` times, with QT_QPA_PLATFORM=offscreen; the start-up time to the
   first prediction is measured from outside, from launching the executable to the moment it
   prints its `first prediction:` line (so the bootloader's own start-up is counted).
3. The trainer inside the bundle: `stmanet-app synth` makes a few drill clips (two
   processes, i.e. the "spawn" start method through multiprocessing.freeze_support) and
   `stmanet-app train --progress json` trains a tiny model on them for one epoch with two
   data-loader workers; the run must write its model file.

Exits with the self-test's exit status, or 1 when the trainer check fails. Runs with the
standard library only, on any platform that can run the bundle.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FIRST_PREDICTION = "first prediction:"


def executable(bundle: Path) -> Path:
    for name in ("stmanet-app.exe", "stmanet-app"):
        if (bundle / name).is_file():
            return bundle / name
    raise SystemExit(f"no stmanet-app executable in {bundle}: build it first "
                     f"(scripts/build_bundle.sh)")


def folder_size(folder: Path) -> tuple[int, int, dict[str, int]]:
    """(bytes, files, bytes per part), parts being the top-level entries of _internal/ (or of
    the folder), symbolic links not counted twice."""
    total = files = 0
    parts: dict[str, int] = {}
    inner = folder / "_internal"
    for path in folder.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        size = path.stat().st_size
        total += size
        files += 1
        base = inner if inner in path.parents else folder
        part = path.relative_to(base).parts[0]
        parts[part] = parts.get(part, 0) + size
    return total, files, parts


def mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MiB"


def run_self_test(exe: Path, options: list[str]) -> tuple[int, float | None, float]:
    """(exit status, seconds from launch to the first-prediction line, seconds in all)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONUNBUFFERED="1")
    started = time.perf_counter()
    first: float | None = None
    with subprocess.Popen([str(exe), "--self-test", *options], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=env) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if first is None and line.startswith(FIRST_PREDICTION):
                first = time.perf_counter() - started
            print(f"  | {line.rstrip()}", flush=True)
        code = process.wait()
    return code, first, time.perf_counter() - started


def check_trainer(exe: Path) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory(prefix="stmanet-bundle-train-") as tmp:
        drills, run = Path(tmp) / "drills", Path(tmp) / "run"
        steps = [
            [str(exe), "synth", str(drills), "--clips-per-class", "3", "--frames", "24",
             "--drills", "squats,lunges", "--workers", "2"],
            [str(exe), "train", "--data", f"folder:{drills}", "--val-share", "0.34",
             "--model", "stmanet_r10", "--set", "width=0.125", "--frames", "4", "--size", "32",
             "--epochs", "1", "--batch-size", "2", "--workers", "2", "--device", "cpu",
             "--progress", "json", "--output", str(run)],
        ]
        events: list[str] = []
        started = time.perf_counter()
        for command in steps:
            result = subprocess.run(command, capture_output=True, text=True, timeout=600)
            if result.returncode != 0:
                return False, (f"`{' '.join(command[1:3])} ...` exited {result.returncode}: "
                               f"{(result.stderr or result.stdout).strip()[-2000:]}")
            if command[1] == "train":
                events = [json.loads(line).get("type", "?") for line in
                          result.stdout.splitlines() if line.startswith("{")]
        models = sorted(p.name for p in run.glob("*.safetensors"))
        if not models:
            return False, f"training finished but wrote no model into {run}"
        took = time.perf_counter() - started
        kinds = sorted(set(events))
        return True, (f"synth (2 processes) and 1 epoch of training (2 data-loader workers) "
                      f"in {took:.1f} s; wrote {', '.join(models)}; {len(events)} JSON progress "
                      f"events ({', '.join(kinds)})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=Path("dist/stmanet-app"))
    parser.add_argument("--runs", type=int, default=2, help="self-test runs (default 2)")
    parser.add_argument("--no-train", action="store_true", help="skip the trainer check")
    parser.add_argument("options", nargs=argparse.REMAINDER,
                        help="passed to --self-test (after --)")
    args = parser.parse_args(argv)
    options = [o for o in args.options if o != "--"]
    exe = executable(args.bundle)

    total, files, parts = folder_size(args.bundle)
    print(f"bundle: {args.bundle} ({mib(total)} in {files:,} files)")
    for name, size in sorted(parts.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  {mib(size):>10s}  {name}")

    code, firsts, totals = 0, [], []
    for run in range(1, args.runs + 1):
        print(f"self-test run {run}: {exe.name} --self-test {' '.join(options)}".rstrip())
        code, first, took = run_self_test(exe, options)
        totals.append(took)
        if first is not None:
            firsts.append(first)
        print(f"  exit status {code}; first prediction "
              f"{'-' if first is None else f'{first:.2f} s'} after launch; {took:.2f} s in all")
        if code != 0:
            break

    trainer_ok, trainer_note = True, ""
    if not args.no_train and code == 0:
        print("trainer inside the bundle: synth + train ...", flush=True)
        trainer_ok, trainer_note = check_trainer(exe)

    print("\nsummary")
    print(f"  bundle size:          {mib(total)} ({files:,} files)")
    print(f"  first prediction:     "
          f"{', '.join(f'{t:.2f} s' for t in firsts) or '-'} after launch (run by run)")
    print(f"  self-test in all:     {', '.join(f'{t:.2f} s' for t in totals)}")
    print(f"  self-test:            {'passed' if code == 0 else f'FAILED (exit status {code})'}")
    verdict = "ok" if trainer_ok else "FAILED"
    verdict = f"{verdict}: {trainer_note}" if trainer_note else "skipped"
    print(f"  trainer:              {verdict}")
    if code != 0:
        return code
    return 0 if trainer_ok else 1


if __name__ == "__main__":
    sys.exit(main())
