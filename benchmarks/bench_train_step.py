"""Speed of one CPU training step (forward, loss, backward, AdamW) with clips in the default
layout and in channels-last layout, which the trainer uses on the CPU; measured in one run.

    python benchmarks/bench_train_step.py [--model stmanet_r10] [--width 0.25] [--batch 16]
                                          [--frames 16] [--size 64] [--freeze none|early|head]
                                          [--threads N] [--repeats 7]

Defaults are the demo recipe's (`stmanet train --preset demo`). Prints ms per step for each
layout and the channels-last / default ratio (median of per-round ratios).
"""

from __future__ import annotations

import argparse
import statistics

import torch
from bench_forward import paired_ratio, time_interleaved

from stmanet.engine.trainer import frozen_modules, set_train_mode
from stmanet.models import create_model, stmanet_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="stmanet_r10")
    parser.add_argument("--width", type=float, help="width multiplier (default: the demo "
                        "recipe's 0.25 for stmanet_r10, else the model's own)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--freeze", default="none", choices=["none", "early", "head"])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    overrides = {"width": args.width} if args.width is not None else \
        {"width": 0.25} if args.model == "stmanet_r10" else {}
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    clips = torch.randn(args.batch, 3, args.frames, args.size, args.size)
    labels = torch.randint(0, 10, (args.batch,))
    print(f"{args.model} {overrides}, batch {args.batch} x 3 x {args.frames} x "
          f"{args.size} x {args.size}, freeze {args.freeze}, {args.threads} threads, "
          f"torch {torch.__version__}")

    steps = {}
    for name, layout in (("default", torch.contiguous_format),
                         ("channels-last", torch.channels_last_3d)):
        model = create_model(args.model, 10, **overrides)
        frozen = frozen_modules(model, args.freeze)
        for module in frozen:
            module.requires_grad_(False)
        set_train_mode(model, frozen)
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad])
        x = clips.contiguous(memory_format=layout)

        def step(model=model, optimizer=optimizer, x=x) -> None:
            loss = stmanet_loss(model(x), labels).total
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        steps[name] = step
    times = time_interleaved(steps, args.repeats, lambda: None)
    for name, t in times.items():
        print(f"{name:14s} {statistics.median(t):8.1f} ms per step  "
              f"x default {paired_ratio(t, times['default']):.2f}")


if __name__ == "__main__":
    main()
