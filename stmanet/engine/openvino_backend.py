"""The optional OpenVINO backend: the network run by OpenVINO's CPU runtime, fp32 or INT8.

`Predictor(..., backend="openvino")` hands its clips to an `OpenVINONetwork` instead of the
prepared PyTorch model; everything else (windows, open-set scores, attention maps, results)
is the same code. The network is converted on the fly from the portable prepared form
(`prepare_for_inference(..., portable=True)`), with the logits, every attention map and the
pooled stage features as outputs, and compiled with fp32 inference precision (OpenVINO
would otherwise choose bf16 on CPUs that have it, which changes the numbers).

INT8 is a file: `stmanet export MODEL --format openvino --int8 --calibration VIDEOS` writes
an OpenVINO model (.xml and .bin) quantised by NNCF after training, with the attention
branches, the fusion head, the stem and stage 2's blocks kept in fp32 (INT8_KEEP_FP32:
measured in docs/model.md, "OpenVINO and INT8"; with the attention alone kept, stage 2's
spatial attention peak moved on 11% of windows). `Predictor(..., ir=FILE.xml)` runs it; the
file names the model file it was made from (its SHA-256), and is refused for any other. The fp32
conversion is kept in the user's cache folder under that SHA-256 (`cache_folder`), so only
a model file's first run pays for it.

Needs the `openvino` package (pip install 'stmanet-coach[openvino]'); INT8 export also needs
`nncf` ('stmanet-coach[int8]'). Only on the CPU.
"""

from __future__ import annotations

import functools
import json
import logging
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from stmanet.engine.checkpoint import LoadedModel
from stmanet.errors import ConfigError, printable_path
from stmanet.models.prepare import FlatOutputs, prepare_for_inference
from stmanet.models.stmanet import STMANetOutput

#: node-name patterns kept in fp32 in the INT8 model: the attention branches (TDA, SDA),
#: the multi-level fusion head with their softmaxes and products, and the stem and stage 2
#: (whose small spatial maps are where INT8 moved the attention peaks)
INT8_KEEP_FP32 = (r".*\.temporal_stem[./].*", r".*\.temporal\.\d.*", r".*\.spatial\.\d.*",
                  r".*\.head\..*", r".*\.backbone\.(conv1|bn1|layer1)[./].*")

#: how many calibration windows NNCF gets at most (its own default subset size)
CALIBRATION_WINDOWS = 300

_META = "stmanet"  # the rt_info section of an exported OpenVINO model
#: the order of the outputs (FlatOutputs); a file of another layout is refused
LAYOUT = "logits, temporal maps 2-5, spatial maps 2-5, stage features 2-5"
log = logging.getLogger(__name__)


def need(module: str, what: str = "the OpenVINO backend") -> Any:
    """Import `module`, or a ConfigError saying which extra installs it."""
    extra = "int8" if module == "nncf" else "openvino"
    try:
        return __import__(module)
    except ImportError as exc:
        raise ConfigError(f"{what} needs the '{module}' package "
                          f"(pip install 'stmanet-coach[{extra}]')") from exc


def convert(loaded: LoadedModel) -> Any:
    """`loaded`'s network as an OpenVINO model (openvino.Model) whose batch size is free."""
    ov = need("openvino")
    spec = loaded.metadata.input
    wrapped = FlatOutputs(prepare_for_inference(loaded.model, "cpu", portable=True),
                          features=True).eval()
    clip = torch.zeros(1, 3, spec.frames, spec.size, spec.size)
    with torch.no_grad(), warnings.catch_warnings():
        # the attention's scale comes from a channel count, which tracing fixes correctly
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # OpenVINO's use of jit.trace
        model = ov.convert_model(wrapped, example_input=clip)
    model.reshape([-1, 3, spec.frames, spec.size, spec.size])
    return model


def cache_folder() -> Path:
    """Where converted models are kept between runs: $STMANET_CACHE_DIR, else the user's
    cache folder (LOCALAPPDATA on Windows, ~/Library/Caches on macOS, $XDG_CACHE_HOME or
    ~/.cache elsewhere), in stmanet/openvino."""
    import os
    import sys

    if os.environ.get("STMANET_CACHE_DIR"):
        return Path(os.environ["STMANET_CACHE_DIR"]) / "openvino"
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        base = Path(os.environ["LOCALAPPDATA"])
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "stmanet" / "openvino"


def converted(loaded: LoadedModel) -> Any:
    """`convert(loaded)`, kept in cache_folder() under the model file's SHA-256, so that only
    the first run with a model file pays for the conversion (7 s for stmanet_r50 on 2 cores).
    A kept conversion made by another version of stmanet or OpenVINO is made again; a cache
    that cannot be written or read is passed over (logged)."""
    if not loaded.path:
        return convert(loaded)
    identity = source_identity(loaded)
    cached = cache_folder() / f"{identity['source_sha256']}.xml"
    if cached.is_file():
        try:
            model, _ = read_ir(cached, loaded)
            if _meta(model, "made_by") == _made_by() and len(model.outputs) == \
                    expected_outputs(loaded):
                return model
            log.info("converting %s again: %s was made by another version", loaded.path,
                     cached)
        except ConfigError as exc:
            log.warning("converting again: %s", exc)
    log.info("converting %s for OpenVINO (once per model file: kept in %s)",
             printable_path(loaded.path), printable_path(cache_folder()))
    model = convert(loaded)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        _save_whole(model, loaded, cached, "fp32")
    except (OSError, ConfigError) as exc:
        log.warning("the converted model could not be kept in %s: %s", cached.parent, exc)
    return model


def _made_by() -> str:
    """The versions a kept conversion depends on: stmanet (the outputs' layout) and OpenVINO."""
    import openvino

    import stmanet

    return f"stmanet {stmanet.__version__}, layout {LAYOUT}, openvino {openvino.__version__}"


def expected_outputs(loaded: LoadedModel) -> int:
    """How many outputs FlatOutputs gives for `loaded`: logits, 4 maps per attention kind
    the model has, 4 stage features."""
    config = loaded.model.config
    return 1 + 4 * (bool(config.tda) + bool(config.sda)) + 4


@functools.lru_cache(maxsize=8)
def _sha256(path: str, mtime_ns: int, size: int) -> str:
    from stmanet.fileio import file_sha256

    return file_sha256(path)


def source_identity(loaded: LoadedModel) -> dict[str, str]:
    """What an exported file records of the model it was made from, and is checked against
    (the file's SHA-256 is computed once per version of the file)."""
    meta = loaded.metadata
    sha = ""
    if loaded.path:
        try:
            stat = Path(loaded.path).stat()
        except OSError as exc:
            raise ConfigError(f"{printable_path(loaded.path)}: the model file cannot be read "
                              f"any more ({exc.strerror})") from exc
        sha = _sha256(str(loaded.path), stat.st_mtime_ns, stat.st_size)
    return {"class_names": json.dumps(list(meta.class_names)),
            "input_spec": json.dumps(meta.input.to_dict()),
            "model_config": json.dumps(meta.model.to_dict()),
            "source_sha256": sha,
            "source_model": printable_path(loaded.path) if loaded.path else ""}


def quantize(loaded: LoadedModel, windows: Iterable[Tensor], *,
             keep_fp32: Iterable[str] = INT8_KEEP_FP32) -> Any:
    """`loaded`'s network quantised to INT8 by NNCF, calibrated on `windows` (normalised
    clips (3, T, S, S)); the nodes matching `keep_fp32` stay in fp32. Returns the
    openvino.Model."""
    nncf = need("nncf", "INT8 export")
    _quiet(nncf)
    spec = loaded.metadata.input
    clips = [w[None].numpy() for w in windows]
    if not clips:
        raise ConfigError("INT8 export: no calibration windows (give videos with --calibration)")
    model = convert(loaded)
    model.reshape([1, 3, spec.frames, spec.size, spec.size])
    scope = nncf.IgnoredScope(patterns=list(keep_fp32), validate=False)
    quantised = nncf.quantize(model, nncf.Dataset(clips), subset_size=len(clips),
                              ignored_scope=scope)
    quantised.reshape([-1, 3, spec.frames, spec.size, spec.size])
    return quantised


def save(model: Any, loaded: LoadedModel, path: Path | str, precision: str) -> Path:
    """Write `model` to `path` (.xml, with its .bin beside it) with the source model's
    identity in its metadata."""
    ov = need("openvino")
    path = Path(path)
    values = {**source_identity(loaded), "precision": precision, "layout": LAYOUT,
              "made_by": _made_by()}
    for key, value in values.items():
        model.set_rt_info(value, [_META, key])
    try:
        ov.save_model(model, str(path), compress_to_fp16=False)
    except RuntimeError as exc:
        raise ConfigError(f"{printable_path(path)}: could not be written "
                          f"({_reason(exc)})") from exc
    return path


def read_ir(path: Path | str, loaded: LoadedModel) -> tuple[Any, str]:
    """An exported OpenVINO model and its precision, checked against `loaded`: a file made
    from another model file, or not by `stmanet export`, is refused (ConfigError)."""
    ov = need("openvino")
    path = Path(path)
    name = printable_path(path)
    if not path.is_file():
        raise ConfigError(f"{name}: no such OpenVINO model file")
    if not path.with_suffix(".bin").is_file():
        raise ConfigError(f"{name}: its weights, {path.with_suffix('.bin').name}, are missing "
                          "(an OpenVINO model is the .xml and the .bin beside it)")
    try:
        model = ov.Core().read_model(str(path), str(path.with_suffix(".bin")))
    except RuntimeError as exc:
        raise ConfigError(f"{name}: not a readable OpenVINO model ({_reason(exc)})") from exc

    def meta(key: str) -> str | None:
        return _meta(model, key)

    if meta("source_sha256") is None:
        raise ConfigError(f"{name}: not written by `stmanet export` (it names no model file "
                          "it was made from)")
    want = source_identity(loaded)
    if not want["source_sha256"] or meta("source_sha256") != want["source_sha256"]:
        raise ConfigError(f"{name}: made from another model file ({meta('source_model')}), "
                          f"not {want['source_model'] or 'this one'}; export it again from "
                          "this one")
    if meta("layout") != LAYOUT or len(model.outputs) != expected_outputs(loaded):
        raise ConfigError(f"{name}: written by another version of `stmanet export` (its "
                          "outputs differ); export it again")
    return model, meta("precision") or "fp32"


def _meta(model: Any, key: str) -> str | None:
    if not model.has_rt_info([_META, key]):
        return None
    return str(model.get_rt_info([_META, key]).astype(str))


def _reason(exc: Exception) -> str:
    """OpenVINO's own reason in one of its multi-line errors (not its source location)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    useful = [line for line in lines
              if not line.startswith(("Exception from", "Check ", "Traceback"))]
    return (useful or lines or ["unknown error"])[-1][:200]


class OpenVINONetwork:
    """Called like the prepared PyTorch model: clips (B, 3, T, S, S) -> STMANetOutput.

    Compiled once for batches of `batch_size` clips; a smaller batch (a video's last) is
    padded to that size and the padding's outputs dropped.
    """

    def __init__(self, loaded: LoadedModel, *, ir: Path | str | None = None,
                 batch_size: int = 1, threads: int | None = None) -> None:
        ov = need("openvino")
        if ir is not None:
            model, self.precision = read_ir(ir, loaded)
        else:
            model, self.precision = converted(loaded), "fp32"
        spec = loaded.metadata.input
        self.batch_size = batch_size
        self.shape = (batch_size, 3, spec.frames, spec.size, spec.size)
        model.reshape(list(self.shape))
        config = {"INFERENCE_NUM_THREADS": threads or torch.get_num_threads(),
                  "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        self.request = ov.Core().compile_model(model, "CPU", config).create_infer_request()
        config_model = loaded.model.config
        self.tda, self.sda = bool(config_model.tda), bool(config_model.sda)
        self.stage_sizes = _stage_sizes(loaded)

    def __call__(self, clips: Tensor) -> STMANetOutput:
        count = clips.shape[0]
        if count > self.batch_size:
            parts = [self(clips[i:i + self.batch_size])
                     for i in range(0, count, self.batch_size)]
            return _joined(parts)
        x = clips.detach().float().cpu().numpy()
        if count < self.batch_size:
            x = np.concatenate([x, np.zeros((self.batch_size - count, *x.shape[1:]),
                                            dtype=np.float32)])
        result = self.request.infer({0: np.ascontiguousarray(x)})
        outs = [torch.from_numpy(np.array(result[i][:count])) for i in range(len(result))]
        logits, rest = outs[0], outs[1:]
        temporal: list[Tensor | None] = [None] * 4
        spatial: list[Tensor | None] = [None] * 4
        if self.tda:
            temporal, rest = list(rest[:4]), rest[4:]
        if self.sda:
            spatial, rest = list(rest[:4]), rest[4:]
        return STMANetOutput(logits=logits, spatial_attention=spatial,
                             temporal_attention=temporal, stage_features=list(rest),
                             stage_sizes=list(self.stage_sizes))


def _stage_sizes(loaded: LoadedModel) -> list[tuple[int, int, int]]:
    """(T_i, H_i, W_i) of stages 2-5 at the model's input size (one PyTorch pass)."""
    spec = loaded.metadata.input
    model = loaded.model
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, 3, spec.frames, spec.size, spec.size,
                                    device=next(model.parameters()).device))
    finally:
        model.train(was_training)
    return list(out.stage_sizes)


def _joined(parts: list[STMANetOutput]) -> STMANetOutput:
    def cat(maps: list[list[Tensor | None]]) -> list[Tensor | None]:
        return [None if group[0] is None else torch.cat(group)  # type: ignore[arg-type]
                for group in zip(*maps, strict=True)]

    return STMANetOutput(logits=torch.cat([p.logits for p in parts]),
                         spatial_attention=cat([p.spatial_attention for p in parts]),
                         temporal_attention=cat([p.temporal_attention for p in parts]),
                         stage_features=cat([p.stage_features for p in parts]),  # type: ignore[arg-type]
                         stage_sizes=parts[0].stage_sizes)


def video_windows(paths: list[Path], loaded: LoadedModel, *,
                  limit: int = CALIBRATION_WINDOWS) -> Iterator[Tensor]:
    """Consecutive windows (3, T, S, S) of the videos, preprocessed as Predictor does, at
    most `limit` in all: spread evenly over each video, and over the videos when there are
    more than `limit` (for calibration). Only the chosen windows' frames are decoded; a video
    that cannot be read is passed over with a warning."""
    from stmanet.data.clips import ClipRecord, test_windows
    from stmanet.errors import VideoError

    if len(paths) > limit:
        paths = [paths[i] for i in np.linspace(0, len(paths) - 1, limit).round().astype(int)]
    share = max(1, limit // max(1, len(paths)))
    for path in paths:
        try:
            windows = test_windows(ClipRecord(Path(path), 0), loaded.metadata.input, most=share)
        except VideoError as exc:
            log.warning("calibration passes over %s: %s", path, exc)
            continue
        yield from windows


def _quiet(nncf: Any) -> None:
    """NNCF's progress bars and per-node messages off (the command reports its own)."""
    import logging

    logging.getLogger("nncf").setLevel(logging.ERROR)


def export(loaded: LoadedModel, path: Path, *, calibration: list[Path] | None = None) -> str:
    """Write `loaded`'s network to `path` (.xml and .bin), whole or not at all: fp32, or INT8
    calibrated on the windows of the `calibration` videos. Returns the precision."""
    precision = "int8" if calibration else "fp32"
    model = quantize(loaded, video_windows(calibration, loaded)) if calibration else convert(loaded)
    _save_whole(model, loaded, path, precision)
    return precision


def _save_whole(model: Any, loaded: LoadedModel, path: Path, precision: str) -> None:
    """`save` through temporary files beside `path`: both files are written whole or not at
    all (the .bin goes first, so a .xml is never without its weights)."""
    import os
    import uuid

    # a name no other writer uses; created by OpenVINO with the usual permissions
    tmp = path.parent / f"{path.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part.xml"
    try:
        save(model, loaded, tmp, precision)
        os.replace(tmp.with_suffix(".bin"), path.with_suffix(".bin"))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        tmp.with_suffix(".bin").unlink(missing_ok=True)


def peak(maps: Tensor) -> Tensor:
    """(B,) where each attention map (B, N, N), averaged over its query positions, peaks:
    the place the app draws brightest."""
    return maps.float().mean(dim=1).argmax(dim=1)


def agreement(loaded: LoadedModel, path: Path, windows: Iterable[Tensor]) -> dict[str, float]:
    """How often the exported file agrees with the PyTorch model on `windows`: the share of
    windows with the same top class ("top class"), and per attention map (named as
    stmanet.engine.export.output_names names them) the share whose peak is in the same place
    or a neighbouring one (next frame; next cell on the grid, diagonals included)."""
    network = OpenVINONetwork(loaded, ir=path)
    reference = prepare_for_inference(loaded.model, "cpu")
    same: dict[str, float] = {"top class": 0.0}
    count = 0
    for window in windows:
        with torch.no_grad():
            want = reference(window[None])
        got = network(window[None])
        same["top class"] += int(got.logits.argmax()) == int(want.logits.argmax())
        for kind in ("temporal", "spatial"):
            pairs = zip(getattr(got, f"{kind}_attention"), getattr(want, f"{kind}_attention"),
                        strict=True)
            for stage, (g, w) in enumerate(pairs, start=2):
                if w is None:
                    continue
                a, b = int(peak(g)[0]), int(peak(w)[0])
                side = round(w.shape[-1] ** 0.5) if kind == "spatial" else w.shape[-1]
                near = abs(a // side - b // side) <= 1 and abs(a % side - b % side) <= 1
                name = f"{kind}_attention_{stage}"
                same[name] = same.get(name, 0.0) + near
        count += 1
    return {name: value / max(1, count) for name, value in same.items()}
