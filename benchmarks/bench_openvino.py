"""OpenVINO fp32 and INT8 against the prepared PyTorch model: speed, and INT8's accuracy.

    python benchmarks/bench_openvino.py [--models stmanet_r50,demo] [--rounds 9]
    python benchmarks/bench_openvino.py --accuracy TEST_DIR --calibration CALIB_DIR
                                        [--model resources/models/demo.safetensors]

Runs only where the `openvino` and `nncf` packages import (they are no dependency of the
project; install them into a separate environment); says so and stops otherwise.

Speed (default): for each model, one clip (batch 1) through
- "torch": `prepare_for_inference(model, "cpu")`, the form `stmanet predict` runs;
- "ov fp32": the portable prepared form converted with `openvino.convert_model`, compiled
  for the CPU with fp32 inference precision (OpenVINO would otherwise pick bf16 where the
  CPU has it);
- "ov int8": that model after NNCF's post-training quantisation with the attention branches
  (TDA: `temporal_stem`, `temporal.*`; SDA: `spatial.*`; the multi-level fusion head
  `head.*`, their softmaxes and matrix products included) kept in fp32 by an ignored scope;
- "ov int8 all": the same with nothing ignored (for comparison: what keeping the attention
  in fp32 costs).
Calibration for speed uses random clips (the scales do not change the kernels' cost).
`stmanet_r50` etc. are random weights at --frames x --size; "demo" is the shipped model at
its own input size. All are timed round-robin in one process, with --threads threads for
PyTorch and OpenVINO alike; the ratios are medians over rounds of the ratio within a round
(the machine is shared and noisy), with their range.

Accuracy (--accuracy): the model file's test protocol (every consecutive window of each clip,
centre crop, softmax mean per clip; the engine's own window code) on TEST_DIR, calibrating
INT8 on the windows of CALIB_DIR's clips. Prints top-1 of PyTorch fp32, OpenVINO fp32 and
INT8, the largest logit difference, and per stage the share of windows whose attention
map's peak (argmax of the map averaged over its query positions, as the app draws it) is
where fp32 puts it.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from stmanet.engine.export import ExportedOutputs, output_names
from stmanet.models.prepare import prepare_for_inference

ATTENTION_SCOPE = [r".*\.temporal_stem[./].*", r".*\.temporal\.\d.*", r".*\.spatial\.\d.*",
                   r".*\.head\..*"]
DEMO = Path(__file__).resolve().parents[1] / "resources" / "models" / "demo.safetensors"


def need_openvino():
    try:
        import nncf
        import openvino
    except ImportError as exc:
        print(f"bench_openvino: needs the openvino and nncf packages ({exc.name} is missing); "
              "install them in a separate environment, e.g. pip install openvino nncf")
        sys.exit(0)
    return openvino, nncf


def to_openvino(model: torch.nn.Module, clip: torch.Tensor):
    """The portable prepared form of `model` as an OpenVINO model of fixed input shape."""
    import openvino as ov

    wrapped = ExportedOutputs(prepare_for_inference(model, "cpu", portable=True)).eval()
    with torch.no_grad():
        ov_model = ov.convert_model(wrapped, example_input=clip)
    ov_model.reshape(list(clip.shape))
    return ov_model


def quantized(ov_model, clips: list[np.ndarray], *, keep_attention: bool = True,
              also_fp32: list[str] = ()):
    """NNCF post-training INT8 quantisation of `ov_model`, calibrated on `clips`; the nodes
    whose names match `also_fp32` (regular expressions) stay in fp32 as well."""
    import nncf

    patterns = (ATTENTION_SCOPE if keep_attention else []) + list(also_fp32)
    scope = nncf.IgnoredScope(patterns=patterns) if patterns else None
    kwargs = {"ignored_scope": scope} if scope is not None else {}
    return nncf.quantize(ov_model, nncf.Dataset(clips), subset_size=len(clips), **kwargs)


def compiled(core, ov_model, threads: int):
    config = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
              "INFERENCE_PRECISION_HINT": "f32"}
    return core.compile_model(ov_model, "CPU", config).create_infer_request()


def ov_run(request, clip: np.ndarray) -> list[np.ndarray]:
    result = request.infer({0: clip})
    return [result[i] for i in range(len(result))]


def torch_run(model: torch.nn.Module, clip: torch.Tensor) -> list[np.ndarray]:
    with torch.inference_mode():
        return [t.numpy() for t in ExportedOutputs(model)(clip)]


# ------------------------------------------------------------------------------ speed

def time_round_robin(fns: dict, rounds: int) -> dict[str, list[float]]:
    for fn in fns.values():
        fn()
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1000)
    return times


def speed(args: argparse.Namespace) -> None:
    import openvino as ov

    from stmanet.engine.checkpoint import load_checkpoint
    from stmanet.models import create_model

    core = ov.Core()
    for name in args.models.split(","):
        if name == "demo":
            loaded = load_checkpoint(args.model)
            model = loaded.model.eval()
            spec = loaded.metadata.input
            shape = (1, 3, spec.frames, spec.size, spec.size)
        else:
            model = create_model(name, 101).eval()
            shape = (1, 3, args.frames, args.size, args.size)
        generator = torch.Generator().manual_seed(0)
        clip = torch.randn(shape, generator=generator)
        calib = [torch.randn(shape, generator=generator).numpy() for _ in range(args.calib)]
        start = time.perf_counter()
        ov_fp32 = to_openvino(model, clip)
        converted = time.perf_counter() - start
        start = time.perf_counter()
        ov_int8 = quantized(ov_fp32, calib, also_fp32=args.also_fp32)
        ov_int8_all = quantized(ov_fp32, calib, keep_attention=False) if args.all_int8 else None
        quantised = time.perf_counter() - start
        prepared = prepare_for_inference(model, "cpu")
        requests = {"ov fp32": compiled(core, ov_fp32, args.threads),
                    "ov int8": compiled(core, ov_int8, args.threads)}
        if ov_int8_all is not None:
            requests["ov int8 all"] = compiled(core, ov_int8_all, args.threads)
        x = clip.numpy()
        reference = torch_run(prepared, clip)
        fns = {"torch": lambda prepared=prepared, clip=clip: torch_run(prepared, clip)}
        for key, request in requests.items():
            fns[key] = lambda request=request, x=x: ov_run(request, x)
        print(f"\n{name}: input {' x '.join(map(str, shape))}, converted in {converted:.0f} s, "
              f"quantised in {quantised:.0f} s ({args.calib} random calibration clips)")
        for key, request in requests.items():
            out = ov_run(request, x)
            scale = float(np.abs(reference[0]).max())
            diff = float(np.abs(out[0] - reference[0]).max())
            print(f"  {key}: largest logit difference from torch {diff:.3g} "
                  f"(largest logit {scale:.3g})")
        times = time_round_robin(fns, args.rounds)
        print(f"  {'form':12s} {'median ms':>9s} {'range ms':>15s} "
              f"{'x torch (median, range)':>26s}")
        for key, values in times.items():
            ratios = [t / r for t, r in zip(values, times["torch"], strict=True)]
            print(f"  {key:12s} {statistics.median(values):9.1f} "
                  f"{min(values):7.1f}-{max(values):7.1f} "
                  f"{statistics.median(ratios):10.3f} ({min(ratios):.3f}-{max(ratios):.3f})",
                  flush=True)


# ------------------------------------------------------------------------------ accuracy

def clip_windows(folder: str, loaded):
    """(label in the model's classes, windows (N, 3, T, S, S)) of every clip in `folder`."""
    from stmanet.data.training_data import load_index
    from stmanet.engine.evaluation import readable_clip_windows

    index = load_index(f"folder:{folder}", annotations=None, split=1, subset="test")
    position = {n: i for i, n in enumerate(loaded.metadata.class_names)}
    skipped: list = []
    for _, label, windows in readable_clip_windows(index, loaded.metadata.input, skipped):
        yield position[index.class_names[label]], windows


def peaks(outputs: list[np.ndarray]) -> list[int]:
    """Per attention map (batch 1): the position its mean over query positions peaks at."""
    return [int(np.argmax(m[0].mean(axis=0))) for m in outputs[1:]]


def near(a: int, b: int, positions: int, spatial: bool) -> bool:
    """Whether two peak positions are the same or neighbours (in time, or on the square
    spatial grid, diagonals included)."""
    if not spatial:
        return abs(a - b) <= 1
    side = round(positions ** 0.5)
    return abs(a // side - b // side) <= 1 and abs(a % side - b % side) <= 1


def accuracy(args: argparse.Namespace) -> None:
    import openvino as ov

    from stmanet.engine.checkpoint import load_checkpoint

    loaded = load_checkpoint(args.model)
    spec = loaded.metadata.input
    shape = (1, 3, spec.frames, spec.size, spec.size)
    calib = [w[None].numpy() for _, windows in clip_windows(args.calibration, loaded)
             for w in windows]
    ov_fp32 = to_openvino(loaded.model, torch.from_numpy(calib[0]))
    ov_int8 = quantized(ov_fp32, calib, also_fp32=args.also_fp32)
    core = ov.Core()
    forms = {"ov fp32": compiled(core, ov_fp32, args.threads),
             "ov int8": compiled(core, ov_int8, args.threads)}
    prepared = prepare_for_inference(loaded.model, "cpu")
    names = output_names(loaded.model)[1:]
    correct = {"torch": 0, **{k: 0 for k in forms}}
    agree = {k: np.zeros(len(names)) for k in forms}
    close = {k: np.zeros(len(names)) for k in forms}
    logit_diff = {k: 0.0 for k in forms}
    clips = windows_total = 0
    for label, windows in clip_windows(args.accuracy, loaded):
        assert tuple(windows.shape[1:]) == shape[1:]
        scores = {k: [] for k in correct}
        for window in windows:
            ref = torch_run(prepared, window[None])
            sizes = [m.shape[-1] for m in ref[1:]]
            scores["torch"].append(torch.softmax(torch.from_numpy(ref[0]), 1))
            for key, request in forms.items():
                out = ov_run(request, window[None].numpy())
                scores[key].append(torch.softmax(torch.from_numpy(out[0]), 1))
                agree[key] += np.equal(peaks(out), peaks(ref))
                close[key] += [near(a, b, m.shape[-1], n.startswith("spatial"))
                               for a, b, m, n in zip(peaks(out), peaks(ref), out[1:], names,
                                                     strict=True)]
                logit_diff[key] = max(logit_diff[key], float(np.abs(out[0] - ref[0]).max()))
        for key, values in scores.items():
            correct[key] += int(torch.cat(values).double().mean(0).argmax()) == label
        clips += 1
        windows_total += windows.shape[0]
    print(f"{args.model}: {clips} test clips, {windows_total} windows; "
          f"{len(calib)} calibration windows from {args.calibration}")
    for key, count in correct.items():
        extra = f", largest logit difference from torch {logit_diff[key]:.3g}" \
            if key in logit_diff else ""
        print(f"  {key:8s} top-1 {count / clips:.4f} ({count}/{clips}){extra}")
    for key, counts in agree.items():
        print(f"  {key}: share of windows whose attention peak is where torch fp32 puts it"
              " / there or next to it (map size)")
        for i, name in enumerate(names):
            print(f"    {name:22s} {counts[i] / windows_total:.4f} / "
                  f"{close[key][i] / windows_total:.4f} ({sizes[i]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="stmanet_r50,demo",
                        help="comma-separated model names, or demo (the --model file)")
    parser.add_argument("--model", default=str(DEMO), help="model file (default: the demo)")
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--calib", type=int, default=8, help="random clips to calibrate on "
                        "for the speed runs")
    parser.add_argument("--no-all-int8", dest="all_int8", action="store_false",
                        help="leave out the fully quantised row")
    parser.add_argument("--also-fp32", type=lambda s: s.split(","), default=[],
                        metavar="REGEXES", help="more node-name patterns to keep in fp32 "
                        r"in the INT8 model (speed and accuracy), e.g. '.*\.backbone\.conv1[./].*'")
    parser.add_argument("--accuracy", metavar="TEST_DIR", help="measure INT8's accuracy on "
                        "this generated test set instead of speed")
    parser.add_argument("--calibration", metavar="CALIB_DIR",
                        help="clips to calibrate INT8 on (with --accuracy)")
    args = parser.parse_args()
    need_openvino()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, CPU ISA "
          f"{torch.backends.cpu.get_cpu_capability()}")
    if args.accuracy:
        if not args.calibration:
            parser.error("--accuracy needs --calibration")
        accuracy(args)
    else:
        speed(args)


if __name__ == "__main__":
    main()
