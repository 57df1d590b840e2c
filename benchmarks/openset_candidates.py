"""Novelty scores the program does not use, against its own, on windows openset_scores.py kept.

    python benchmarks/openset_scores.py MODEL ... --cache CACHE     # first, to keep the windows
    python benchmarks/openset_candidates.py CACHE --train k-train --val k-val --known k-test \\
        --unknown held-out --unknown non-drills [--val k-val2 ...]

Each name picks the one cached file whose name ends with it (openset_scores.py names the
file after the data set); several `--val` are pooled. Scores (higher: less like the training
windows), fitted without training on the cached outputs:

    mahalanobis                  the program's distance: nearest class mean, shared covariance
    max_softmax                  log(1 - top softmax score)
    mahalanobis+softmax          the two standardised on validation (the default before)
    relative mahalanobis         the distance minus the distance to one Gaussian of all the
                                 training windows fitted apart (Ren et al. 2021, for
                                 near-distribution footage), and + softmax as above
    mahalanobis+relative+softmax the program's default: that Gaussian made of the class
                                 statistics, the larger of the standardised log distance and
                                 relative distance, plus the standardised doubt
    knnK                         cosine distance to the K-th nearest training window (Sun et
                                 al. 2022), and + softmax as above (log distance)
    ... entropy, ... margin      the default with the softmax's entropy, or 1 - (top minus
                                 second softmax score), for its doubt
    clip mean                    the default averaged over each clip's windows (the test
                                 protocol's windows of one clip: footage a few seconds long)

Thresholds as the program sets them ("margin": 95% of new known windows with 90% confidence,
`novelty.upper_quantiles` over the validation clips), exactly at the validation windows' 95%
quantile ("q95", as it set them before) and the finite-sample conformal one (the
ceil(0.95 (n+1))-th smallest validation score). Printed per
score: AUROC against each unknown set, the share of each caught and of the known test
windows kept known, and the share of the first unknown set caught at the threshold that keeps
95% of the known test windows (what the score could catch with a perfectly set threshold).
Nothing is asserted.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

from stmanet.engine.novelty import (
    background_gaussian,
    fit_gaussians,
    mahalanobis_novelty,
    softmax_doubt,
    upper_quantiles,
    whitened_distances,
)
from stmanet.engine.openset_eval import auroc


def load(cache: Path, part: str) -> tuple[torch.Tensor, ...]:
    found = [p for p in sorted(cache.glob("*.pt")) if p.stem.endswith(part)]
    if len(found) != 1:
        sys.exit(f"{cache}: {len(found)} cached files end with {part!r}; need one")
    data = torch.load(found[0], weights_only=True)
    return data["features"].float(), data["logits"].float(), data["labels"], data["clips"]


def pooled(parts: list[tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, ...]:
    """Several cached sets as one; clip numbers kept apart."""
    offset, clips = 0, []
    for part in parts:
        clips.append(part[3] + offset)
        offset += int(part[3].max()) + 1 if len(part[3]) else 0
    return (*(torch.cat([p[i] for p in parts]) for i in range(3)), torch.cat(clips))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache", type=Path)
    parser.add_argument("--train", required=True)
    parser.add_argument("--val", action="append", required=True)
    parser.add_argument("--known", required=True)
    parser.add_argument("--unknown", action="append", required=True)
    args = parser.parse_args()
    train, known = (load(args.cache, p) for p in (args.train, args.known))
    val = pooled([load(args.cache, p) for p in args.val])
    unknown = {name: load(args.cache, name) for name in args.unknown}
    classes = int(train[2].max()) + 1
    means, factor, dims, _ = fit_gaussians(train[0], train[2], classes)
    one_mean, one_factor, one_dims, _ = fit_gaussians(train[0], torch.zeros_like(train[2]), 1)
    unit_train = torch.nn.functional.normalize(train[0], dim=1)

    def distance(f, _l):
        return mahalanobis_novelty(f, means, factor, dims).double().numpy()

    def relative(f, _l):
        return distance(f, _l) - mahalanobis_novelty(f, one_mean, one_factor,
                                                     one_dims).double().numpy()

    background = background_gaussian(means, torch.bincount(train[2], minlength=classes).tolist())

    def made_relative(f, _l):
        return whitened_distances(f, means, factor, dims, background)[1].double().numpy()

    def doubt(_f, logits):
        return softmax_doubt(logits).numpy()

    def nearest(k):
        def score(f, _l):
            d = 1 - torch.nn.functional.normalize(f, dim=1) @ unit_train.T
            return d.topk(k, dim=1, largest=False).values[:, -1].double().numpy()
        return score

    def entropy(_f, logits):
        p = torch.softmax(logits.double(), dim=1)
        return torch.log(-(p * p.clamp_min(1e-300).log()).sum(1)).clamp_min(-14).numpy()

    def margin(_f, logits):
        top2 = torch.softmax(logits.double(), dim=1).topk(2, dim=1).values
        return torch.log((1 - top2[:, 0] + top2[:, 1]).clamp_min(1e-6)).numpy()

    def log_of(fn):
        return lambda f, logits: np.log(np.maximum(fn(f, logits), 1e-12))

    def with_doubt(fn, unsure=doubt):
        a, b = fn(*val[:2]), unsure(*val[:2])
        return lambda f, logits: ((fn(f, logits) - a.mean()) / a.std()
                                  + (unsure(f, logits) - b.mean()) / max(b.std(), 1.0))

    def larger_with_doubt(first, second):
        parts = [(fn, fn(*val[:2])) for fn in (first, second)]
        b = doubt(*val[:2])
        return lambda f, logits: (np.maximum(*[(fn(f, logits) - a.mean()) / a.std()
                                               for fn, a in parts])
                                  + (doubt(f, logits) - b.mean()) / max(b.std(), 1.0))

    scores = {"mahalanobis": distance, "max_softmax": doubt,
              "mahalanobis+softmax": with_doubt(log_of(distance)),
              "mahalanobis+relative+softmax": larger_with_doubt(log_of(distance),
                                                                made_relative),
              "relative mahalanobis": relative,
              "relative mahalanobis+softmax": with_doubt(relative)}
    scores["mahalanobis+softmax entropy"] = with_doubt(log_of(distance), entropy)
    scores["mahalanobis+softmax margin"] = with_doubt(log_of(distance), margin)
    averaged = {"mahalanobis+softmax, clip mean": scores["mahalanobis+softmax"]}
    scores.update(averaged)
    for k in (1, 5, 20):
        scores[f"knn{k}"] = nearest(k)
        scores[f"knn{k}+softmax"] = with_doubt(log_of(nearest(k)))
    names = list(unknown)

    def clip_mean(values, clips):
        sums = np.bincount(clips.numpy(), weights=values)
        return (sums / np.bincount(clips.numpy()))[clips.numpy()]

    def run(name, fn, data):
        values = fn(*data[:2])
        return clip_mean(values, data[3]) if name in averaged else values

    print(f"| score | threshold | {' | '.join(f'AUROC {n}' for n in names)} | "
          f"{' | '.join(f'caught {n}' for n in names)} | known kept | "
          f"caught {names[0]} at 95% of the test kept |")
    print("|---" * (4 + 2 * len(names)) + "|")
    for name, fn in scores.items():
        v, k = run(name, fn, val), run(name, fn, known)
        u = {n: run(name, fn, d) for n, d in unknown.items()}
        best = float(np.mean(u[names[0]] > np.quantile(k, 0.95)))
        order = np.sort(v)
        thresholds = {"q95": float(np.quantile(v, 0.95)),
                      "conformal": float(order[min(len(v), math.ceil(0.95 * (len(v) + 1))) - 1]),
                      "margin": float(upper_quantiles(v, val[3].numpy(), [0.95])[0])}
        for label, t in thresholds.items():
            aurocs = " | ".join(f"{auroc(k, u[n]):.3f}" for n in names)
            caught = " | ".join(f"{np.mean(u[n] > t):.3f}" for n in names)
            print(f"| {name} | {label} | {aurocs} | {caught} | {np.mean(k <= t):.3f} | "
                  f"{best:.3f} |")


if __name__ == "__main__":
    main()
