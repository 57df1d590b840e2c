"""A model file exported for other runtimes: ONNX, or a PyTorch exported program (.pt2).

Both take one normalised clip batch (B, 3, T, H, W) as the model file's input spec says, and
give the logits and every attention map the model has, in the order of `output_names`:
logits, temporal_attention_2..5 (B, T_i, T_i), spatial_attention_2..5 (B, H_i W_i, H_i W_i).
The model goes through `prepare_for_inference(..., portable=True)` first (norms folded, plain
PyTorch operations only). The ONNX file's metadata holds the class names, the input spec,
the output names and the model's configuration as JSON strings; `stmanet export` checks the
file against PyTorch's outputs on a random clip before it reports success.

ONNX needs the `onnx` and `onnxscript` packages (the `export` extra); checking it needs
`onnxruntime`. The .pt2 format needs nothing beyond PyTorch. The OpenVINO format (.xml with
its .bin, fp32 or INT8; also the pooled stage features as outputs, for the open-set score)
needs the `openvino` extra, INT8 the `int8` extra: engine/openvino_backend.py.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from stmanet.engine.checkpoint import LoadedModel
from stmanet.errors import ConfigError, printable_path
from stmanet.models.prepare import FlatOutputs, prepare_for_inference

FORMATS = ("onnx", "pt2", "openvino")
SUFFIXES = {"onnx": ".onnx", "pt2": ".pt2", "openvino": ".xml"}


#: the network's outputs as the exported files give them: logits and attention maps
ExportedOutputs = FlatOutputs


def output_names(model: nn.Module) -> list[str]:
    """Names of the exported outputs, in order."""
    config = model.config
    names = ["logits"]
    if config.tda:
        names += [f"temporal_attention_{i}" for i in range(2, 6)]
    if config.sda:
        names += [f"spatial_attention_{i}" for i in range(2, 6)]
    return names


def example_clip(loaded: LoadedModel, batch: int = 1, seed: int = 0) -> Tensor:
    spec = loaded.metadata.input
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, spec.frames, spec.size, spec.size, generator=generator)


def metadata_props(loaded: LoadedModel, names: list[str]) -> dict[str, str]:
    meta = loaded.metadata
    return {"class_names": json.dumps(list(meta.class_names)),
            "input_spec": json.dumps(meta.input.to_dict()),
            "output_names": json.dumps(names),
            "model_config": json.dumps(meta.model.to_dict()),
            "source_model": printable_path(loaded.path)}


def _need(module: str, path: Path) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:
        raise ConfigError(f"{printable_path(path)}: the ONNX format needs the '{module}' package "
                          "(pip install 'stmanet-coach[export]'), or choose --format pt2") from exc


def export_target(path: Path | str, fmt: str | None = None) -> tuple[Path, str]:
    """The file and format to export to, checked before any work: the format is given or
    follows from the suffix, and the folder exists. ConfigError names the file."""
    path = Path(path)
    by_suffix = {v: k for k, v in SUFFIXES.items()}.get(path.suffix.lower())
    fmt = fmt or by_suffix
    if fmt not in FORMATS:
        raise ConfigError(f"{printable_path(path)}: say the format (--format "
                          f"{', '.join(FORMATS)}) or use the suffix .onnx, .pt2 or .xml")
    if by_suffix not in (None, fmt) or (fmt == "openvino" and by_suffix != fmt):
        raise ConfigError(f"{printable_path(path)}: the {fmt} format is written to a "
                          f"{SUFFIXES[fmt]} file"
                          + (" (with its weights in a .bin beside it)" if fmt == "openvino"
                             else ""))
    if not path.parent.is_dir():
        raise ConfigError(f"{printable_path(path)}: its folder does not exist")
    return path, fmt


def export_model(loaded: LoadedModel, path: Path | str, fmt: str | None = None, *,
                 calibration: list[Path] | None = None) -> Path:
    """Write `loaded`'s network to `path` as `fmt` ("onnx", "pt2" or "openvino"; default:
    from the suffix); returns the path. The file is written whole or not at all. With
    `calibration` videos (OpenVINO only) the network is quantised to INT8 on their windows
    (engine/openvino_backend.py)."""
    path, fmt = export_target(path, fmt)
    if calibration and fmt != "openvino":
        raise ConfigError(f"{printable_path(path)}: INT8 is written in the OpenVINO format "
                          "(--format openvino)")
    if fmt == "openvino":
        from stmanet.engine.openvino_backend import export

        export(loaded, path, calibration=calibration)
        return path
    wrapped = ExportedOutputs(prepare_for_inference(loaded.model, "cpu", portable=True)).eval()
    names = output_names(loaded.model)
    clip = example_clip(loaded, batch=2)  # batch 1 would fix the batch size at 1
    batch = torch.export.Dim("batch", min=1, max=64)
    fd, tmp_name = tempfile.mkstemp(prefix=path.stem + ".", suffix=".part" + path.suffix,
                                    dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if fmt == "pt2":
            program = torch.export.export(wrapped, (clip,), dynamic_shapes=({0: batch},))
            torch.export.save(program, str(tmp))
        else:
            _write_onnx(wrapped, clip, names, metadata_props(loaded, names), tmp, path, batch)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _write_onnx(wrapped: nn.Module, clip: Tensor, names: list[str], props: dict[str, str],
                tmp: Path, path: Path, batch: Any) -> None:
    onnx = _need("onnx", path)
    _need("onnxscript", path)
    program = torch.onnx.export(wrapped, (clip,), dynamo=True, input_names=["clips"],
                                output_names=names, dynamic_shapes=({0: batch},),
                                external_data=False, verbose=False)
    proto = program.model_proto
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(tmp))


def reference_outputs(loaded: LoadedModel, clip: Tensor) -> list[np.ndarray]:
    """The model's own outputs for `clip`, in the exported order."""
    with torch.no_grad():
        return [t.numpy() for t in ExportedOutputs(loaded.model.eval())(clip)]


def run_onnx(path: Path | str, clip: Tensor) -> list[np.ndarray]:
    """`path`'s outputs for `clip` in ONNX Runtime (on the CPU)."""
    path = Path(path)
    ort = _need("onnxruntime", path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: clip.numpy()})


def run_pt2(path: Path | str, clip: Tensor) -> list[np.ndarray]:
    program = torch.export.load(str(path))
    with torch.no_grad():
        return [t.numpy() for t in program.module()(clip)]


def largest_difference(got: list[np.ndarray], want: list[np.ndarray]) -> float:
    """The largest absolute difference between two lists of outputs, relative to the
    largest value of each output."""
    if len(got) != len(want):
        return float("inf")
    worst = 0.0
    for a, b in zip(got, want, strict=True):
        if a.shape != b.shape:
            return float("inf")
        worst = max(worst, float(np.abs(a - b).max() / max(1e-6, float(np.abs(b).max()))))
    return worst


def check_export(loaded: LoadedModel, path: Path | str, fmt: str, *, batch: int = 2
                 ) -> float | None:
    """The exported file's outputs against the model's own on a random clip batch: the
    largest relative difference, or None where the runtime to run it is not installed."""
    clip = example_clip(loaded, batch=batch, seed=1)
    if fmt == "onnx":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return None
        got = run_onnx(path, clip)
    elif fmt == "openvino":
        from stmanet.engine.openvino_backend import OpenVINONetwork

        out = OpenVINONetwork(loaded, ir=path, batch_size=batch)(clip)
        maps = [m for m in out.temporal_attention + out.spatial_attention if m is not None]
        got = [t.numpy() for t in (out.logits, *maps)]
    else:
        got = run_pt2(path, clip)
    return largest_difference(got, reference_outputs(loaded, clip))
