"""Where recognition runs: the devices it can use, and how many CPU threads torch takes.

Live recognition leaves a core to the decoder and the window (`leave_a_core_free`); a batch
job such as whole-file analysis takes every core while it runs (`every_core`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch


def leave_a_core_free() -> int:
    """Let torch use one CPU core less than the machine has (at least one): the decoder and
    the window need a core of their own to keep the picture and the overlay on time, and a
    torch thread pool that competes with them for every core slows both down (its threads
    wait on each other whenever one is descheduled). An explicit OMP_NUM_THREADS wins.
    Returns the number of threads torch now uses."""
    if "OMP_NUM_THREADS" not in os.environ:
        wanted = max(1, (os.cpu_count() or 2) - 1)
        if torch.get_num_threads() > wanted:
            torch.set_num_threads(wanted)
    return torch.get_num_threads()


@contextlib.contextmanager
def every_core() -> Iterator[None]:
    """All CPU cores for a batch job (whole-file analysis), then back to what it was: on two
    cores this takes stmanet_r50 from 2.6x to 4.4x real time (benchmarks/bench_app.py)."""
    before = torch.get_num_threads()
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(os.cpu_count() or before)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def available_devices() -> list[str]:
    """Devices recognition can run on: "cpu", and "cuda" when a CUDA GPU is usable."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    return devices


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def device_name(device: str) -> str:
    """What the user reads: "CPU" or "CUDA: <GPU name>"."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"CUDA: {torch.cuda.get_device_name(torch.device(device))}"
    return "CPU" if device == "cpu" else device.upper()
