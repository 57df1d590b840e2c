"""Whole-video prediction end to end (decode, crop, network), as `stmanet predict VIDEO` runs
it, as a multiple of real time; the inference preparation against the fast forms alone, and
batch 1 against batch 8, timed round-robin in one run.

    python benchmarks/bench_predict.py [--model stmanet_r50] [--video resources/videos/demo.mp4]
                                       [--rounds 3] [--hop 64] [--openvino]

A model of the named variant with random weights (speed does not depend on the weights) and
the default input spec (32 of a 64-frame window, 112 x 112) predicts every window of the
video with no overlap (`stmanet predict`'s default hop). Rows:

  prepared, batch 1   what `stmanet predict` runs on a CPU (prepare_for_inference, batch 1)
  prepared, batch 8   the former batch default
  fast forms, batch 1 the model with only `use_cpu_fast_paths` (no norms folded, PyTorch's
                      max-pool): the path before the inference preparation
  openvino fp32 / int8 with --openvino (needs the int8 extra): `--backend openvino`, and
                      `--ir` of an INT8 export calibrated on the video's own windows
                      (engine/openvino_backend.py, INT8_KEEP_FP32 in fp32)

Printed: seconds per video (median over rounds), x real time, and the ratio to the first row
within each round. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from stmanet.bundled import bundled_demo_video
from stmanet.config import InputSpec
from stmanet.data.decode import probe
from stmanet.engine.checkpoint import CheckpointMetadata, load_checkpoint, save_checkpoint
from stmanet.engine.inference import Predictor
from stmanet.models import create_model, model_config
from stmanet.models.fast import use_cpu_fast_paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="stmanet_r50")
    parser.add_argument("--video", default=str(bundled_demo_video()))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hop", type=int, default=None)
    parser.add_argument("--openvino", action="store_true",
                        help="also the OpenVINO backend, fp32 and INT8")
    args = parser.parse_args()

    info = probe(args.video)
    duration = info.frame_count / info.fps
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safetensors"
        names = [f"class_{i}" for i in range(10)]
        save_checkpoint(path, create_model(args.model, len(names)).eval(),
                        CheckpointMetadata(model_config(args.model, len(names)), names,
                                           InputSpec()))
        loaded = load_checkpoint(path)
        predictors = {"prepared, batch 1": Predictor(loaded, batch_size=1, top_k=1),
                      "prepared, batch 8": Predictor(loaded, batch_size=8, top_k=1)}
        fast = Predictor(loaded, batch_size=1, top_k=1)
        fast.model = use_cpu_fast_paths(load_checkpoint(path).model.eval())
        predictors["fast forms, batch 1"] = fast
        if args.openvino:
            import os

            from stmanet.engine.openvino_backend import export

            os.environ["STMANET_CACHE_DIR"] = tmp  # a random-weight model: never kept

            predictors["openvino fp32, batch 1"] = Predictor(loaded, top_k=1,
                                                             backend="openvino")
            ir = Path(tmp) / "int8.xml"
            export(loaded, ir, calibration=[Path(args.video)])
            predictors["openvino int8, batch 1"] = Predictor(loaded, top_k=1, ir=ir)
        isa = torch.backends.cpu.get_cpu_capability()
        print(f"{args.model} on {args.video}: {duration:.1f} s of video, "
              f"{torch.get_num_threads()} threads, CPU ISA {isa}")
        times: dict[str, list[float]] = {name: [] for name in predictors}
        for predictor in predictors.values():  # warm-up
            predictor.predict(args.video, hop=args.hop)
        for _ in range(args.rounds):
            for name, predictor in predictors.items():
                start = time.perf_counter()
                predictor.predict(args.video, hop=args.hop)
                times[name].append(time.perf_counter() - start)
        first = next(iter(times.values()))
        print(f"{'path':22s} {'s/video':>8s} {'x real time':>11s} {'x first row':>11s}")
        for name, values in times.items():
            ratio = statistics.median(t / f for t, f in zip(values, first, strict=True))
            print(f"{name:22s} {statistics.median(values):8.1f} "
                  f"{duration / statistics.median(values):11.2f} {ratio:11.2f}")


if __name__ == "__main__":
    main()
