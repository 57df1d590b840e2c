"""Forward-pass speed of the baseline and ST-MANet, measured in one run.

    python benchmarks/bench_forward.py [--frames 32] [--size 112] [--repeats 5] [--batch 1]
                                       [--devices cpu,cuda]

Prints one row per (device, model, variant): ms per clip, clips/s, GFLOP/s, the time ratio
against r3d50 in the same variant, and for a "+fast" model its ratio against its plain form.
Variants: fp32, fp32 with channels_last_3d, and bf16 autocast where the CPU has native bf16
(AVX512-BF16 / AMX); CUDA rows (fp32, bf16, fp16) when a GPU is present. A minimal,
independent 3D ResNet-50 ("plain") is timed too, as the yardstick for the backbone's own
overhead. A model name ending in "+fast" is that model after
`stmanet.models.fast.use_cpu_fast_paths`; "+prep" after
`stmanet.models.prepare.prepare_for_inference` (norms folded, then the fast forms), as
Predictor runs it; their ratio is against "r3d50" with the same suffix where that is timed
too, else against r3d50. "% peak" is GFLOP/s against the median of an fp32 matrix product
(2048^3) timed in the same rounds: the CPU's attainable rate at that moment.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from stmanet.engine.summary import count_flops
from stmanet.models import create_model
from stmanet.models.fast import use_cpu_fast_paths
from stmanet.models.prepare import prepare_for_inference

SUFFIXES = ("+fast", "+prep")


def base_name(name: str) -> str:
    for suffix in SUFFIXES:
        name = name.removesuffix(suffix)
    return name


def plain_r3d50(num_classes: int = 101) -> nn.Module:
    """A straightforward 3D ResNet-50 written independently of stmanet.models."""

    def bn_conv(cin: int, cout: int, k: int | tuple[int, ...], s: int = 1, p: int = 0):
        return [nn.Conv3d(cin, cout, k, s, p, bias=False), nn.BatchNorm3d(cout)]

    class Block(nn.Module):
        def __init__(self, cin: int, width: int, stride: int) -> None:
            super().__init__()
            self.body = nn.Sequential(*bn_conv(cin, width, 1), nn.ReLU(inplace=True),
                                      *bn_conv(width, width, 3, stride, 1), nn.ReLU(inplace=True),
                                      *bn_conv(width, width * 4, 1))
            self.short = (nn.Sequential(*bn_conv(cin, width * 4, 1, stride))
                          if stride != 1 or cin != width * 4 else nn.Identity())

        def forward(self, x):
            return torch.relu(self.body(x) + self.short(x))

    layers: list[nn.Module] = [nn.Conv3d(3, 64, 7, (1, 2, 2), 3, bias=False), nn.BatchNorm3d(64),
                               nn.ReLU(inplace=True), nn.MaxPool3d(3, 2, 1)]
    cin = 64
    for i, (width, n) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3), strict=True)):
        for j in range(n):
            layers.append(Block(cin, width, 2 if i > 0 and j == 0 else 1))
            cin = width * 4
    layers += [nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(2048, num_classes)]
    return nn.Sequential(*layers)


def time_interleaved(fns: dict[str, Callable[[], object]], repeats: int,
                     sync: Callable[[], None]) -> dict[str, list[float]]:
    """ms of each function in each of `repeats` rounds, timed round-robin so that drift in
    the machine's load (shared, noisy) falls on every model alike."""
    for fn in fns.values():
        fn()
        fn()  # warm-up: allocator, kernel selection, autotuning
    sync()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            sync()
            times[name].append((time.perf_counter() - start) * 1000)
    return times


def paired_ratio(times: list[float], reference: list[float]) -> float:
    """Median over rounds of the time ratio within a round: models timed back to back share
    the machine's load of the moment, so this is steadier than a ratio of medians."""
    return statistics.median(t / r for t, r in zip(times, reference, strict=True))


def cpu_has_native_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--models", default="r3d50,r3d50+fast,r3d50+prep,plain,stmanet_r50,"
                        "stmanet_r50+fast,stmanet_r50+prep,stmanet_r18_lite,"
                        "stmanet_r18_lite+prep")
    parser.add_argument("--variants", help="comma-separated subset, e.g. fp32 (default: all)")
    parser.add_argument("--devices", help="comma-separated, e.g. cuda (default: cpu, and cuda "
                        "when present)")
    args = parser.parse_args()

    shape = (args.batch, 3, args.frames, args.size, args.size)
    isa = torch.backends.cpu.get_cpu_capability()
    print(f"input {' x '.join(map(str, shape))}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads, CPU ISA {isa}")
    devices = (args.devices.split(",") if args.devices
               else ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
    if "cuda" in devices:
        print(f"GPU {torch.cuda.get_device_name()}")

    header = f"{'device':6s} {'model':18s} {'variant':14s} {'ms/clip':>9s} {'clips/s':>8s} " \
             f"{'GFLOP/s':>8s} {'% peak':>6s} {'GFLOPs':>7s} {'vs r3d50':>8s} " \
             f"{'vs plain form':>13s}"
    print(header)
    print("-" * len(header))
    for device in devices:
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        variants: list[tuple[str, torch.memory_format, torch.dtype | None]] = [
            ("fp32", torch.contiguous_format, None),
            ("fp32 cl3d", torch.channels_last_3d, None),
        ]
        if device == "cuda":
            variants += [("bf16", torch.channels_last_3d, torch.bfloat16),
                         ("fp16", torch.channels_last_3d, torch.float16)]
        elif cpu_has_native_bf16():
            variants += [("bf16", torch.channels_last_3d, torch.bfloat16)]
        else:
            print("(no bf16 rows: this CPU has no native bf16, where autocast runs ~100x slower)")
        models = {}
        gflops = {}
        x = torch.randn(shape, device=device)
        for name in args.models.split(","):
            base = base_name(name)
            model = plain_r3d50() if base == "plain" else create_model(base, 101)
            model = model.eval().to(device)
            gflops[name] = count_flops(model, x) / 1e9 / args.batch  # counted on the plain form
            if name.endswith("+fast"):
                model = use_cpu_fast_paths(model)
            elif name.endswith("+prep"):
                model = prepare_for_inference(model, device)
            models[name] = model
        a = torch.randn(2048, 2048, device=device)
        gemm_gflop = 2 * 2048 ** 3 / 1e9
        if args.variants:
            variants = [v for v in variants if v[0] in args.variants.split(",")]
        for variant, memory_format, dtype in variants:
            xv = x.contiguous(memory_format=memory_format)
            fns = {}
            for name, model in models.items():
                m = model.to(memory_format=memory_format)

                def run(m=m, xv=xv, dtype=dtype, device=device) -> object:
                    autocast = (torch.autocast(device, dtype=dtype) if dtype is not None
                                else contextlib.nullcontext())
                    with torch.inference_mode(), autocast:
                        return m(xv)

                fns[name] = run
            fns["gemm"] = lambda a=a: a @ a
            times = time_interleaved(fns, args.repeats, sync)
            peak = gemm_gflop / statistics.median(times["gemm"]) * 1000
            print(f"{device:6s} {'fp32 GEMM 2048^3':18s} {variant:14s} "
                  f"{statistics.median(times['gemm']):9.1f} {'':8s} {peak:8.1f}")
            for name in models:
                per_clip = statistics.median(times[name]) / args.batch
                base = base_name(name)
                suffix = name[len(base):]
                reference = "r3d50" + suffix if "r3d50" + suffix in times else "r3d50"
                ratio = paired_ratio(times[name], times[reference]) if reference in times \
                    else float("nan")
                vs_plain = (f"{paired_ratio(times[name], times[base]):13.3f}"
                            if name != base and base in times else "")
                rate = gflops[name] / per_clip * 1000
                print(f"{device:6s} {name:18s} {variant:14s} {per_clip:9.1f} "
                      f"{1000 / per_clip:8.2f} {rate:8.1f} {100 * rate / peak:6.0f} "
                      f"{gflops[name]:7.2f} {ratio:8.2f} {vs_plain}", flush=True)


if __name__ == "__main__":
    main()
