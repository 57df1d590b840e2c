"""What a training run resumes from: seeding, and saving and restoring, every RNG of the
process; reading a run folder's checkpoint.pt and config.json back; and a digest of a model's
parameters (to check that two runs, or the processes of one, ended alike)."""

from __future__ import annotations

import json
import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from stmanet.config import TrainConfig
from stmanet.errors import CheckpointError, ConfigError

RESUME_FILE = "checkpoint.pt"
CONFIG_FILE = "config.json"
STATE_FORMAT = "stmanet-train-state"
STATE_VERSION = 1


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every RNG of this process as tensors, numbers and lists (weights_only-loadable)."""
    np_state = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
                  "pos": int(np_state[2]), "has_gauss": int(np_state[3]),
                  "cached_gaussian": float(np_state[4])},
        "python": {"version": int(py_version), "state": list(py_state), "gauss": py_gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def load_resume_state(run_dir: Path) -> dict[str, Any]:
    path = run_dir / RESUME_FILE
    if not path.exists():
        raise CheckpointError(path, "no resume checkpoint in this run folder (the run saved "
                              "none yet, or this is not a run folder)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, OSError,
            ValueError) as exc:
        raise CheckpointError(path, f"the resume checkpoint is damaged ({exc})") from exc
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError(path, "not a training checkpoint of this program")
    return state


def resume_config(run_dir: Path) -> TrainConfig:
    path = run_dir / CONFIG_FILE
    if not path.exists():
        raise ConfigError(f"{run_dir} is not a run folder: it has no {CONFIG_FILE}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ConfigError(f"{path}: cannot read the run's settings ({type(exc).__name__})"
                          ) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a run's settings (a JSON object is needed)")
    return TrainConfig.from_dict(data)


def parameter_digest(model: nn.Module) -> str:
    """sha256 over the parameters' bytes, in state-dict order (BatchNorm statistics excluded)."""
    import hashlib

    h = hashlib.sha256()
    for name, p in model.named_parameters():
        h.update(name.encode())
        h.update(p.detach().to("cpu").contiguous().numpy().tobytes())
    return h.hexdigest()
