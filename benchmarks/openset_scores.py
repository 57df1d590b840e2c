"""Which novelty score tells unknown footage best: the comparison in docs/model.md.

For one trained model, every test-protocol window of its training clips, validation clips,
known test clips and one or more sets of unknown footage goes through the network once; then
each candidate score is fitted (no training) and measured:

    mahalanobis+relative+softmax
                        log(1 - max softmax) plus the larger of log(mahalanobis) and the
                        relative distance, each standardised on the validation windows
                        (the default where there are some)
    mahalanobis+relative+softmax, with the window before
                        the same, each window judged on its novelty averaged with that
                        of the window before it in its clip where both have the same top
                        class (a trail of one window length, as files of format 3)
    mahalanobis+softmax log(mahalanobis) + log(1 - max softmax), each standardised on the
                        validation windows (the default before the relative distance)
    mahalanobis         stages 2-5 concatenated, one shared covariance (the default without
                        validation data)
    mahalanobis/stage   stages 2-5, one covariance per stage (the distances summed)
    mahalanobis/s5      stage 5 only
    energy              -logsumexp of the logits
    max_logit           -max logit
    max_softmax         1 - max softmax score

Every variant but the one "with the window before" judges each window alone, as statistics
are fitted now (`fit_openset`'s default). The threshold of every score is set as the trainer
sets it: 95% of the validation windows (or, without --val, of the training windows) known.
Printed per score and unknown set: AUROC, the share of unknown windows caught at that
threshold, the share of known test windows kept known, and top-1 of the known test windows
kept known and right.

    python benchmarks/openset_scores.py runs/x/best.safetensors --train folder:data/train \\
        --val folder:data/val --known folder:data/test-known \\
        --unknown held-out=folder:data/test-unknown --unknown non-drills=folder:data/scenes

With --cache the windows' outputs are kept (one file per data set) for
benchmarks/openset_candidates.py; `--also KIND:PATH` runs more data sets into the cache
only (e.g. more validation clips to set a threshold on there); a cached file is named
after its data set (`folder_data_k-val2.pt`), and openset_candidates.py finds it by the end
of that name.

With --mirror every window is averaged with its mirror image (two forward passes), as the
program fits and scores statistics by default (`stmanet openset`, without --no-mirror);
without it, every window alone, as files fitted before. With --cache, windows so averaged are
kept in CACHE/mirror.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from stmanet.data.training_data import load_index
from stmanet.engine.checkpoint import load_checkpoint
from stmanet.engine.openset import CALIBRATED, fit_openset
from stmanet.engine.openset_eval import open_set_report
from stmanet.engine.openset_windows import WindowOutputs, collect_windows

VARIANTS = {
    "mahalanobis+relative+softmax": {"score": "mahalanobis+relative+softmax"},
    "mahalanobis+relative+softmax, with the window before": {
        "score": "mahalanobis+relative+softmax", "trail": 1.0},
    "mahalanobis+softmax": {"score": "mahalanobis+softmax"},
    "mahalanobis": {"score": "mahalanobis"},
    "mahalanobis/stage": {"score": "mahalanobis", "covariance": "stage"},
    "mahalanobis/s5": {"score": "mahalanobis", "stages": (5,)},
    "energy": {"score": "energy"},
    "max_logit": {"score": "max_logit"},
    "max_softmax": {"score": "max_softmax"},
}


def windows(loaded, spec: str, workers: int, cache: Path | None, mirror: bool,
            ) -> WindowOutputs:
    file = None
    if cache is not None:
        cache = cache / "mirror" if mirror else cache
        file = cache / (spec.replace("/", "_").replace(":", "_") + ".pt")
        if file.exists():
            data = torch.load(file, weights_only=True)
            return WindowOutputs(data["features"], data["logits"], data["labels"],
                                 data["clips"], data["classes"], spec, mirror=mirror)
    started = time.perf_counter()
    index = load_index(spec, annotations=None, split=1, subset="test")
    out = collect_windows(loaded.model, loaded.metadata.input, loaded.metadata.class_names,
                          index, workers=workers, batch_size=16, mirror=mirror,
                          description=spec)
    print(f"  {spec}: {len(out.labels)} windows of {out.clip_count} clips in "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"features": out.features, "logits": out.logits, "labels": out.labels,
                    "clips": out.clips, "classes": out.class_of_clip}, file)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--train", required=True, help="the model's training data, KIND:PATH")
    parser.add_argument("--val", help="validation data (sets the thresholds)")
    parser.add_argument("--known", required=True, help="test clips of the model's classes")
    parser.add_argument("--unknown", action="append", required=True, metavar="NAME=KIND:PATH",
                        help="unknown footage (repeatable)")
    parser.add_argument("--also", action="append", default=[], metavar="KIND:PATH",
                        help="more data sets for the cache only (repeatable; needs --cache)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cache", type=Path, help="keep the windows' outputs here")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--mirror", action="store_true",
                        help="average every window with its mirror image (the default fit)")
    args = parser.parse_args(argv)
    if args.also and args.cache is None:
        parser.error("--also keeps its windows in the cache: give --cache")

    loaded = load_checkpoint(args.model)
    names = loaded.metadata.class_names
    train = windows(loaded, args.train, args.workers, args.cache, args.mirror)
    val = windows(loaded, args.val, args.workers, args.cache, args.mirror) if args.val else None
    known = windows(loaded, args.known, args.workers, args.cache, args.mirror)
    unknown = {}
    for item in args.unknown:
        name, _, spec = item.partition("=")
        unknown[name] = windows(loaded, spec, args.workers, args.cache, args.mirror)
    for item in args.also:
        windows(loaded, item, args.workers, args.cache, args.mirror)

    rows = []
    print("| score | unknown set | AUROC | unknown caught | known kept | top-1 kept and right "
          "(closed set) |")
    print("|---|---|---|---|---|---|")
    for variant, options in VARIANTS.items():
        if options["score"] in CALIBRATED and val is None:
            continue  # it is calibrated on validation windows
        stats = fit_openset(loaded.model, train, val, class_names=names, **options)
        for name, data in unknown.items():
            r = open_set_report(stats, loaded.model, known, data, names)
            rows.append({"score": variant, "unknown": name, **r.to_dict()})
            print(f"| {variant} | {name} | {r.auroc:.3f} | {r.unknown_caught:.3f} | "
                  f"{r.known_kept:.3f} | {r.top1_windows_open:.3f} ({r.top1_windows:.3f}) |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
