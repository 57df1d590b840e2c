"""Checkpoints: the project's format, and import of Hara et al.'s Kinetics checkpoints.

Our format is one `.safetensors` file: the weights, and in its header (key "stmanet") a JSON
document with the architecture, class names, input spec, provenance and an optional
evaluation report. Nothing in a checkpoint can run code: safetensors holds only tensors, and
every PyTorch file is read with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pickle
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

import stmanet
from stmanet.config import BASIC_DEPTHS, BOTTLENECK_DEPTHS, InputSpec, ModelConfig
from stmanet.errors import CheckpointError, ConfigError
from stmanet.fileio import atomic_path
from stmanet.models.stmanet import STMANet

#: 2: the classifier is `head.fc`. Format 1 (`backbone.fc` + `fusion`) is still read: see
#: `upgrade_state_dict`; a program that reads only format 1 refuses format 2 with a clear message.
FORMAT_VERSION = 2
METADATA_KEY = "stmanet"

log = logging.getLogger(__name__)


@dataclass
class CheckpointMetadata:
    """Everything beside the weights that a model file carries."""

    model: ModelConfig
    class_names: list[str]
    input: InputSpec = field(default_factory=InputSpec)
    provenance: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] | None = None
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if len(self.class_names) != self.model.num_classes:
            raise ValueError(f"{len(self.class_names)} class names for a model with "
                             f"{self.model.num_classes} classes")

    def to_json(self) -> str:
        return json.dumps({
            "format_version": self.format_version,
            "model": self.model.to_dict(),
            "class_names": list(self.class_names),
            "input": self.input.to_dict(),
            "provenance": self.provenance,
            "report": self.report,
        }, indent=1)

    @classmethod
    def from_json(cls, text: str) -> CheckpointMetadata:
        data = json.loads(text)
        model = data["model"]
        if isinstance(model, dict):  # options older versions wrote that no longer exist
            model = {k: v for k, v in model.items() if k not in RETIRED_MODEL_OPTIONS}
        return cls(model=ModelConfig.from_dict(model),
                   class_names=[str(c) for c in data["class_names"]],
                   input=InputSpec.from_dict(data.get("input", {})),
                   provenance=dict(data.get("provenance") or {}),
                   report=data.get("report"),
                   format_version=int(data.get("format_version", FORMAT_VERSION)))


@dataclass
class LoadedModel:
    model: STMANet
    metadata: CheckpointMetadata
    path: Path
    openset: Any = None  # OpenSetStats (engine/openset.py); None: cannot tell unknowns


def provenance(source: str, **extra: Any) -> dict[str, Any]:
    return {"source": source, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "stmanet_version": stmanet.__version__, **extra}


# ---------------------------------------------------------------------------- our format

def save_checkpoint(path: Path | str, model: STMANet, metadata: CheckpointMetadata, *,
                    openset: Any = None) -> Path:
    """Write weights and metadata atomically; the previous file survives a crash mid-write.

    The file is in this version's format, whatever the format of the file `metadata` came from.
    `openset` (OpenSetStats) adds the open-set statistics: tensors under `openset.` and a
    header entry of their own (engine/openset.py).
    """
    path = Path(path)
    if dataclasses.asdict(model.config) != dataclasses.asdict(metadata.model):
        raise ValueError("metadata.model does not describe this model")
    metadata = dataclasses.replace(metadata, format_version=FORMAT_VERSION)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    header = {METADATA_KEY: metadata.to_json()}
    if openset is not None:
        tensors.update(_openset_parts(path, model, openset, header))
    with atomic_path(path) as tmp:
        mode = tmp.stat().st_mode & 0o777  # what a plain open() would give, umask applied
        save_file(tensors, str(tmp), metadata=header)
        tmp.chmod(mode)  # safetensors writes a new private file in the temporary one's place
    return path


def read_metadata(path: Path | str) -> CheckpointMetadata:
    """The metadata of a checkpoint, without reading its weights."""
    path = Path(path)
    _check_readable(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        if _looks_like_safetensors(path):
            raise CheckpointError(path, f"the model file is damaged or truncated ({exc})") from exc
        if _looks_like_torch_file(path):
            raise CheckpointError(path, "not an ST-MANet model: it starts like a PyTorch "
                                  "checkpoint (or is damaged); a 3D ResNet checkpoint of "
                                  "Hara et al. is imported with `stmanet import-hara`") from exc
        if path.stat().st_size < 64:
            raise CheckpointError(path, "too short to be a model file: damaged or "
                                  "truncated") from exc
        raise CheckpointError(path, "not an ST-MANet model file, or it is damaged "
                              f"(safetensors: {exc})") from exc
    if METADATA_KEY not in header:
        raise CheckpointError(path, "a safetensors file without ST-MANet metadata "
                              "(no architecture or class names in it)")
    _check_format_version(path, header[METADATA_KEY])
    try:
        return CheckpointMetadata.from_json(header[METADATA_KEY])
    except ConfigError as exc:
        raise CheckpointError(path, f"its metadata describes an impossible model: {exc}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(path, f"its metadata is unreadable: {exc}") from exc


def _check_format_version(path: Path, text: str) -> None:
    """CheckpointError when the metadata says a newer version of the program wrote the file
    (its format may mean what this version cannot read); other problems are left to
    CheckpointMetadata.from_json."""
    try:
        data = json.loads(text)
    except ValueError:
        return
    version = data.get("format_version") if isinstance(data, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise CheckpointError(path, f"model file format {version} was written by a newer "
                              f"version of ST-MANet Coach; this one reads format "
                              f"{FORMAT_VERSION}: update the program to open it")


def load_checkpoint(path: Path | str, *, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild the model a checkpoint describes and load its weights, in eval mode."""
    path = Path(path)
    metadata = read_metadata(path)
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(path, f"its weights are damaged or truncated ({exc})") from exc
    state = _without_openset(state)
    with torch.device("meta"):  # shapes only: nothing is allocated for a model that won't fit
        skeleton = STMANet(metadata.model)
    state, retired = upgrade_state_dict(state, skeleton.head.fc.in_features)
    if retired:
        log.info("%s: its %d per-stage head weights (stage_heads.*) are ignored: the model no "
                 "longer has per-stage heads, and its predictions never used them", path,
                 len(retired))
    _check_state(path, skeleton, state, what="the architecture in its metadata")
    _check_finite(path, state)
    # the file's tensors become the model's (no random initialisation first, no copy); kept
    # in the model's own dtypes
    wanted = skeleton.state_dict()
    state = {k: v.to(wanted[k].dtype) for k, v in state.items()}
    skeleton.load_state_dict(state, strict=True, assign=True)
    model = skeleton
    return LoadedModel(model.to(device).eval(), metadata, path, _read_openset(path, model))


# ------------------------------------------------------- open-set statistics in a model file

def _openset_parts(path: Path, model: STMANet, openset: Any,
                   header: dict[str, str]) -> dict[str, Tensor]:
    """The tensors of open-set statistics to save beside the weights; their JSON goes into
    `header`."""
    from stmanet.engine.openset import HEADER_KEY

    try:
        openset.check_fits(path, model)
    except CheckpointError as exc:
        raise ValueError(exc.reason) from exc
    header[HEADER_KEY] = openset.to_header()
    return openset.to_tensors()


def _without_openset(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """The network's weights: the open-set statistics' tensors left out."""
    from stmanet.engine.openset import PREFIX

    return {k: v for k, v in state.items() if not k.startswith(PREFIX)}


def _read_openset(path: Path, model: STMANet) -> Any:
    from stmanet.engine.openset import read_openset

    return read_openset(path, model)


def _check_finite(path: Path, state: dict[str, Tensor]) -> None:
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(path, f"the weight {name} holds NaN or infinite values: "
                                  "the model is broken (retrain it or use an earlier save)")


def _load_state(path: Path, module: torch.nn.Module, state: dict[str, Tensor], *, what: str,
                ignore: tuple[str, ...] = ()) -> None:
    _check_state(path, module, state, what=what, ignore=ignore)
    given = {k: v for k, v in state.items() if not k.startswith(ignore)}
    module.load_state_dict(given, strict=not ignore)


def _check_state(path: Path, module: torch.nn.Module, state: dict[str, Tensor], *, what: str,
                 ignore: tuple[str, ...] = ()) -> None:
    """CheckpointError naming the missing, unexpected and wrongly shaped weights, if any."""
    expected = {k: v for k, v in module.state_dict().items() if not k.startswith(ignore)}
    given = {k: v for k, v in state.items() if not k.startswith(ignore)}
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    wrong = [f"{k} {tuple(given[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if k in given and given[k].shape != v.shape]
    problems = []
    if missing:
        problems.append(f"{len(missing)} weights missing (e.g. {', '.join(missing[:3])})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected weights (e.g. {', '.join(unexpected[:3])})")
    if wrong:
        problems.append(f"{len(wrong)} weights of the wrong shape (e.g. {'; '.join(wrong[:3])})")
    if problems:
        raise CheckpointError(path, f"weights do not fit {what}: " + "; ".join(problems))


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise CheckpointError(path, "no such file")
    if path.is_dir():
        raise CheckpointError(path, "is a folder, not a checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(path, "the file is empty")


def _looks_like_safetensors(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(9)  # u64 little-endian header length, then the JSON header
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 2**27


def _looks_like_torch_file(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(4)
    # a zip archive (torch.save), or a legacy pickle: PROTO opcode and protocol 2-5
    return head == b"PK\x03\x04" or (head[:1] == b"\x80" and head[1:2] in b"\x02\x03\x04\x05")


# ---------------------------------------------------------------- Hara et al. checkpoints

@dataclass(frozen=True)
class HaraArchitecture:
    """What a Hara et al. state dict says about the network it came from."""

    depth: int
    width: float
    conv1_t_size: int
    num_classes: int

    def describe(self) -> str:
        width = "" if self.width == 1 else f" at width {self.width:g}"
        return f"a 3D ResNet-{self.depth}{width} with {self.num_classes} classes"


def read_torch_state_dict(path: Path | str) -> dict[str, Tensor]:
    """The state dict in a PyTorch file (a bare one or under 'state_dict'), 'module.' removed.

    Read with weights_only=True: a pickle that would run code is refused, never run.
    """
    path = Path(path)
    _check_readable(path)
    if not _looks_like_torch_file(path):
        raise CheckpointError(path, "not a PyTorch checkpoint (neither a zip archive nor a pickle)")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        needed = _global_needed(exc)
        if needed is not None:
            raise CheckpointError(path, f"refused: the file holds Python objects other than "
                                  f"weights ({needed}), and loading it could run "
                                  "code") from exc
        raise CheckpointError(path, NOT_A_MODEL_FILE + f" ({_unpickler_reason(exc)})") from exc
    except Exception as exc:  # a damaged file can fail anywhere inside the unpickler
        raise CheckpointError(path, NOT_A_MODEL_FILE + f" ({type(exc).__name__}: "
                              f"{_first_line(exc)})") from exc
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items()):
        raise CheckpointError(path, "not a model checkpoint: it holds no dictionary of weights")
    return {k.removeprefix("module."): v for k, v in obj.items()}


NOT_A_MODEL_FILE = ("not a model file, or a damaged or truncated one: neither safetensors nor "
                    "a readable PyTorch checkpoint")


def _global_needed(exc: pickle.UnpicklingError) -> str | None:
    """The Python name (e.g. posix.system) a pickle refused by the weights-only unpickler
    needed, when it was refused for needing one: a real pickle that would run code to load.
    None when the bytes are not such a pickle (random bytes after a pickle's first two)."""
    match = re.search(r"\bGLOBAL ([\w.]+)", str(exc))
    return match.group(1) if match else None


def _unpickler_reason(exc: pickle.UnpicklingError) -> str:
    """The weights-only unpickler's own complaint (e.g. "Unsupported operand 68"), not the
    advice around it."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.endswith("WeightsUnpickler error:") and i + 1 < len(lines):
            return lines[i + 1][:200]
    return _first_line(exc)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def infer_hara_architecture(path: Path | str, state: dict[str, Tensor]) -> HaraArchitecture:
    if "conv1.weight" not in state or "fc.weight" not in state:
        raise CheckpointError(path, "not a 3D ResNet checkpoint (no conv1 / fc weights)")
    conv1 = state["conv1.weight"]
    if conv1.ndim != 5:
        raise CheckpointError(path, f"not a 3D network: conv1 has shape {tuple(conv1.shape)}")
    blocks = []
    for layer in range(1, 5):
        indices = {int(m.group(1)) for k in state
                   if (m := re.match(rf"layer{layer}\.(\d+)\.", k))}
        blocks.append(len(indices))
    bottleneck = any(k.endswith(".conv3.weight") for k in state)
    table = BOTTLENECK_DEPTHS if bottleneck else BASIC_DEPTHS
    depth = next((d for d, layout in table.items() if tuple(blocks) == layout), None)
    if depth is None:
        kind = "bottleneck" if bottleneck else "basic"
        raise CheckpointError(path, f"unrecognised 3D ResNet layout: {kind} blocks {blocks} "
                              "per stage (known depths: 10, 18, 34, 50, 101)")
    return HaraArchitecture(depth, conv1.shape[0] / 64, int(conv1.shape[2]),
                            int(state["fc.weight"].shape[0]))


def import_hara(path: Path | str, config: ModelConfig, class_names: list[str], *,
                input_spec: InputSpec | None = None) -> LoadedModel:
    """Load Hara et al.'s backbone weights into a new model for `class_names`.

    The classifier is re-made for the new classes (kept only when the class count matches
    the checkpoint's); the ST-MANet modules start fresh, so the model begins as exactly the
    imported 3D ResNet.
    """
    path = Path(path)
    if len(class_names) != config.num_classes:
        config = config.replace(num_classes=len(class_names))
    state = read_torch_state_dict(path)
    arch = infer_hara_architecture(path, state)
    if (arch.depth, arch.width, arch.conv1_t_size) != (config.depth, config.width,
                                                       config.conv1_t_size):
        raise CheckpointError(path, f"it holds {arch.describe()} (stem kernel "
                              f"{arch.conv1_t_size}), but the model is a depth-{config.depth} "
                              f"network at width {config.width:g} (stem kernel "
                              f"{config.conv1_t_size}): choose a matching model")
    model = STMANet(config)
    keep_fc = arch.num_classes == config.num_classes
    ours = tuple(f"{name}." for name, _ in model.named_children()
                 if name not in ("backbone", "head"))  # the aggregation modules start fresh
    _load_state(path, model, hara_state_in_our_names(state, model.head.fc.in_features),
                what=f"the model's 3D ResNet ({arch.describe()})",
                ignore=ours if keep_fc else (*ours, "head."))
    metadata = CheckpointMetadata(
        config, list(class_names), input_spec or InputSpec(),
        provenance(f"hara-import:{path.name}", imported_classes=arch.num_classes,
                   classifier="kept" if keep_fc else "new"))
    return LoadedModel(model.eval(), metadata, path)


def save_hara_format(path: Path | str, backbone: torch.nn.Module, *, arch: str = "resnet",
                     prefix: str = "") -> None:
    """Write a backbone the way Hara et al.'s training script does (for tests and exchange)."""
    state = {prefix + k: v for k, v in backbone.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"epoch": 200, "arch": arch, "state_dict": state}, tmp)


# ------------------------------------------------------------ older names of the classifier
#
# Before the classifier was one module (`head`, stmanet.models.heads) it was two: the 3D
# ResNet's own `backbone.fc` over stage 5 (weight and bias) and, with MF on, `fusion`, a
# linear map without bias over the pooled stages 2-4, the two outputs summed. Model files
# and checkpoint.pt files of that time carry those names; Hara et al.'s files carry `fc.*`
# (their 3D ResNet's names). The per-stage heads (`stage_heads.*`) of that time, never
# trained, are gone. This is the one place that knows those names.

OLD_FC_WEIGHT, OLD_FC_BIAS, OLD_FUSION = "backbone.fc.weight", "backbone.fc.bias", "fusion.weight"
HEAD_WEIGHT, HEAD_BIAS = "head.fc.weight", "head.fc.bias"
RETIRED_PREFIXES = ("stage_heads.",)
RETIRED_MODEL_OPTIONS = ("stage_heads",)


def upgrade_state_dict(state: dict[str, Tensor], head_inputs: int,
                       ) -> tuple[dict[str, Tensor], list[str]]:
    """`state` in the current names, and the names of the retired weights left out.

    `head.fc.weight` is `[fusion.weight | backbone.fc.weight]` (columns: stages 2-4, then
    stage 5) and `head.fc.bias` is `backbone.fc.bias`; a stage-5 classifier alone (MF off,
    or Hara et al.'s) that meets a head of `head_inputs` > C_5 columns gets zeros for stages
    2-4, as a fresh head has. The sum of the two old maps is this one map, so the logits are
    the same. A state in the current names passes unchanged; old weights whose shapes do not
    fit together are left under their names (the caller's check then names them).
    """
    retired = [k for k in state if k.startswith(RETIRED_PREFIXES)]
    state = {k: v for k, v in state.items() if not k.startswith(RETIRED_PREFIXES)}
    weight, bias, fusion = state.get(OLD_FC_WEIGHT), state.get(OLD_FC_BIAS), state.get(OLD_FUSION)
    if weight is None or bias is None or weight.ndim != 2:
        return state, retired
    if fusion is None and head_inputs > weight.shape[1]:
        fusion = weight.new_zeros(weight.shape[0], head_inputs - weight.shape[1])
    if fusion is not None and (fusion.ndim != 2 or fusion.shape[0] != weight.shape[0]):
        return state, retired
    state = {k: v for k, v in state.items() if k not in (OLD_FC_WEIGHT, OLD_FC_BIAS, OLD_FUSION)}
    state[HEAD_WEIGHT] = weight if fusion is None else torch.cat([fusion, weight], dim=1)
    state[HEAD_BIAS] = bias
    return state, retired


def hara_state_in_our_names(state: dict[str, Tensor], head_inputs: int) -> dict[str, Tensor]:
    """Hara et al.'s 3D ResNet weights in our names: their network is `backbone.*` and their
    `fc` the stage-5 block of `head.fc` (stages 2-4 zero)."""
    ours, _ = upgrade_state_dict({f"backbone.{k}": v for k, v in state.items()}, head_inputs)
    return ours


def upgrade_train_state(path: Path, state: dict[str, Any], model: STMANet) -> dict[str, Any]:
    """A resume state (checkpoint.pt) of an older version in the current names.

    The weights go through `upgrade_state_dict`; the optimizer's per-parameter state
    (momentum, Adam's moments and step) follows its parameters, the moments of `fusion.weight`
    and `backbone.fc.weight` joined like the weights, so the run continues as it would have.
    `model` is the model being resumed with its frozen parts frozen (those are not in the
    optimizer). A state in the current names is returned as it is.
    """
    old = state["model"]
    if OLD_FC_WEIGHT not in old:
        return state
    upgraded, _ = upgrade_state_dict(old, model.head.fc.in_features)
    params = dict(model.named_parameters())
    trainable = [name for name, p in params.items() if p.requires_grad]
    # the old optimizer's parameters: the old model's in its order, less the frozen ones
    # (the old classifier was never frozen)
    old_order = [k for k in old if (k in params and params[k].requires_grad)
                 or k in (OLD_FC_WEIGHT, OLD_FC_BIAS, OLD_FUSION) or k.startswith(RETIRED_PREFIXES)]
    optimizer = state["optimizer"]
    groups = optimizer["param_groups"]
    if len(groups) != 1 or len(groups[0]["params"]) != len(old_order):
        raise CheckpointError(path, "its optimizer state does not fit the model being resumed "
                              f"({sum(len(g['params']) for g in groups)} parameters in "
                              f"{len(groups)} groups, {len(old_order)} expected)")
    per_name = {name: optimizer["state"].get(i) for name, i in zip(old_order, groups[0]["params"],
                                                                   strict=True)}
    per_name[HEAD_WEIGHT] = _joined_state(per_name.get(OLD_FUSION), per_name.get(OLD_FC_WEIGHT),
                                          model.head.fc.in_features)
    per_name[HEAD_BIAS] = per_name.get(OLD_FC_BIAS)
    moved = {i: per_name[name] for i, name in enumerate(trainable) if per_name.get(name)}
    group = {**groups[0], "params": list(range(len(trainable)))}
    return {**state, "model": upgraded,
            "optimizer": {**optimizer, "state": moved, "param_groups": [group]}}


def _joined_state(fusion: dict[str, Any] | None, fc: dict[str, Any] | None, head_inputs: int,
                  ) -> dict[str, Any] | None:
    """The optimizer state of `head.fc.weight` from those of `fusion.weight` and
    `backbone.fc.weight`: per-element tensors joined like the weights (zeros where the old
    model had no fusion), anything else (Adam's step) taken from `backbone.fc.weight`."""
    if fc is None:
        return None
    joined = dict(fc)
    for key, value in fc.items():
        if isinstance(value, Tensor) and value.ndim == 2:
            left = (fusion or {}).get(key)
            if left is None:
                left = value.new_zeros(value.shape[0], head_inputs - value.shape[1])
            joined[key] = torch.cat([left, value], dim=1)
    return joined
