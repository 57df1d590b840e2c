"""Where a training run's model starts and which of its parts train: the input spec settled
from --init, a fresh model or one started from --init (our model format) or --hara (Kinetics
weights), and the modules --freeze keeps fixed."""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch
from torch import nn

from stmanet.config import TrainConfig
from stmanet.engine.checkpoint import import_hara, load_checkpoint, read_metadata
from stmanet.errors import CheckpointError, ConfigError
from stmanet.models import STMANet, model_config

log = logging.getLogger(__name__)

#: the state-dict names of the classifier (`head`, stmanet.models.heads): with --init, its rows
#: are reordered for the same classes in another order, or it is remade for other classes
CLASSIFIER_PREFIXES = ("head.",)


INPUT_SHAPE_FIELDS = ("frames", "frame_stride", "size")


def resolve_input(config: TrainConfig, *, given: Collection[str] = INPUT_SHAPE_FIELDS,
                  ) -> TrainConfig:
    """`config` with the input spec of its run settled, the one the data pipeline uses and
    every saved model carries.

    With --init the init model's mean and std are taken, and so are its frames, frame_stride
    and size, except those named in `given` (set explicitly by the user). Without --init the
    config is returned as it is.
    """
    if not config.init:
        return config
    spec = read_metadata(Path(config.init)).input
    taken = {name: getattr(spec, name) for name in INPUT_SHAPE_FIELDS if name not in given}
    return config.replace(**taken, mean=spec.mean, std=spec.std)


def build_model(config: TrainConfig, class_names: list[str]) -> tuple[STMANet, dict[str, Any]]:
    """A fresh model, or one started from --init (ours) or --hara (Kinetics weights).

    Returns the model and provenance notes about where the weights came from. The input spec
    is `config.input_spec` (settled for --init by `resolve_input`).
    """
    k = len(class_names)
    overrides = dict(config.model_overrides)
    if config.hara:
        mc = model_config(config.model, k, **overrides)
        loaded = import_hara(config.hara, mc, class_names, input_spec=config.input_spec)
        return loaded.model.train(), {"init": "hara", "init_path": config.hara,
                                      **loaded.metadata.provenance}
    if config.init:
        return _from_our_checkpoint(Path(config.init), class_names, overrides)
    mc = model_config(config.model, k, **overrides)
    return STMANet(mc), {"init": "scratch"}


def _from_our_checkpoint(path: Path, class_names: list[str], overrides: dict[str, Any],
                         ) -> tuple[STMANet, dict[str, Any]]:
    loaded = load_checkpoint(path)
    old_names = loaded.metadata.class_names
    mc = loaded.model.config.replace(**overrides, num_classes=len(class_names))
    model = STMANet(mc)
    state = loaded.model.state_dict()
    classifier = "kept"
    if old_names != list(class_names):
        if sorted(old_names) == sorted(class_names):
            order = torch.tensor([old_names.index(n) for n in class_names])
            state = {k: v[order] if k.startswith(CLASSIFIER_PREFIXES) else v
                     for k, v in state.items()}
            classifier = "reordered"
        else:
            state = {k: v for k, v in state.items() if not k.startswith(CLASSIFIER_PREFIXES)}
            classifier = "new"
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(CLASSIFIER_PREFIXES)
               or classifier != "new"]
    if missing or result.unexpected_keys:
        raise CheckpointError(path, "its weights do not fit the model asked for "
                              f"({len(missing)} missing, {len(result.unexpected_keys)} "
                              "unexpected); drop the --set options that change its shape")
    log.info("starting from %s (%s classifier)", path, classifier)
    return model, {"init": "checkpoint", "init_path": str(path), "classifier": classifier}


def attention_modules(model: STMANet) -> list[nn.Module]:
    return [m for m in (model.temporal_stem, model.temporal, model.spatial) if m is not None]


def frozen_modules(model: STMANet, mode: str) -> list[nn.Module]:
    """The modules `--freeze mode` keeps fixed.

    none: nothing. early: the stem and stages 2-3 of the 3D ResNet. head: the whole 3D ResNet
    (the aggregation modules and the classifier train). backbone: everything but the
    classifier (a linear probe).
    """
    b = model.backbone
    resnet = [b.conv1, b.bn1, b.layer1, b.layer2, b.layer3, b.layer4]
    if mode == "none":
        return []
    if mode == "early":
        return resnet[:4]
    if mode == "head":
        return resnet
    if mode == "backbone":
        return resnet + attention_modules(model)
    raise ConfigError(f"unknown freeze mode {mode!r}")


def apply_freeze(model: STMANet, mode: str) -> list[nn.Module]:
    frozen = frozen_modules(model, mode)
    for module in frozen:
        module.requires_grad_(False)
    return frozen


def set_train_mode(model: nn.Module, frozen: list[nn.Module]) -> None:
    """Training mode, except frozen parts: their BatchNorm statistics stay fixed too."""
    model.train()
    for module in frozen:
        module.eval()
