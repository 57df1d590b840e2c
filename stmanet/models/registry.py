"""Named model variants: each entry is a few lines of configuration."""

from __future__ import annotations

from typing import Any

from stmanet.config import ModelConfig
from stmanet.errors import ConfigError
from stmanet.models.stmanet import STMANet

_BASELINE = {"tda": False, "sda": False, "mf": False}
_REGISTRY: dict[str, tuple[str, dict[str, Any]]] = {}


def register(name: str, description: str, **options: Any) -> None:
    ModelConfig(**options)  # fail at import time, not at use, for a bad entry
    _REGISTRY[name] = (description, options)


for _depth in (10, 18, 34, 50, 101):
    register(f"r3d{_depth}", f"3D ResNet-{_depth} (Hara et al.), no aggregation: the baseline",
             depth=_depth, **_BASELINE)
    register(f"stmanet_r{_depth}", f"ST-MANet on a 3D ResNet-{_depth}", depth=_depth)
register("stmanet_r18_lite",
         "ST-MANet on a half-width 3D ResNet-18: the small variant for live use on a CPU",
         depth=18, width=0.5)


def list_models() -> dict[str, str]:
    """Model names and one-line descriptions."""
    return {name: description for name, (description, _) in _REGISTRY.items()}


def model_config(name: str, num_classes: int = 101, **overrides: Any) -> ModelConfig:
    """The configuration of a named variant, with any field overridden."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(_REGISTRY)}")
    _check_option_types(overrides)
    options = {**_REGISTRY[name][1], **overrides, "num_classes": num_classes}
    return ModelConfig().replace(**options)


def _check_option_types(overrides: dict[str, Any]) -> None:
    """ConfigError when an override's value is not of its option's kind (a number for width,
    on/off for tda, ...); unknown names are left to ModelConfig.replace."""
    defaults = ModelConfig()
    kinds = {bool: "on or off", int: "a whole number", float: "a number"}
    for key, value in overrides.items():
        if not hasattr(defaults, key):
            continue
        kind = type(getattr(defaults, key))
        if kind not in kinds:
            continue
        ok = isinstance(value, bool) if kind is bool else (
            isinstance(value, int | float) and not isinstance(value, bool)
            and (kind is float or isinstance(value, int)))
        if not ok:
            raise ConfigError(f"model option {key} must be {kinds[kind]}, not {value!r}")


def create_model(name: str, num_classes: int = 101, **overrides: Any) -> STMANet:
    """Build a named variant, e.g. `create_model("stmanet_r50", 101, tda=False)`."""
    return STMANet(model_config(name, num_classes, **overrides))
