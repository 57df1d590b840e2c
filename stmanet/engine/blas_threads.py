"""One BLAS thread for numpy's small matrix products while repetitions are counted.

The counter's products (a band of the self-similarity matrix, every frame against one
reference cycle) are small: a few hundred rows of 1,728 numbers. numpy's OpenBLAS splits
each one over all its threads, and on a busy machine (the network's own threads, other
programs) the threads wait for each other longer than the product takes: on the 2-core
development machine, counting the demo video's ten drills took 2.0 s with OpenBLAS's
default threads and 0.64 s with one (docs/reps.md, "Speed").

`single_blas_thread()` sets numpy's OpenBLAS to one thread for the duration of a block and
restores the number it found, the way threadpoolctl does, through the library's own
`openblas_set_num_threads` (under the names numpy's wheels give it). It touches numpy's
BLAS only, not torch's threads: a network running in another thread keeps its own.
Where numpy's OpenBLAS cannot be found (another BLAS, a build that renames the library)
the block runs unchanged. Nested and concurrent blocks share one setting: the first to
enter sets it, the last to leave restores it.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads")
_lock = threading.Lock()
_depth = 0
_saved: int | None = None
_api: tuple[Callable[[], int], Callable[[int], None]] | bool | None = False  # False: unsought


def _library_files() -> list[Path]:
    """numpy's own OpenBLAS, where numpy's wheels put it (Linux, Windows, macOS)."""
    import numpy

    package = Path(numpy.__file__).resolve().parent
    found: list[Path] = []
    for folder in (package.parent / "numpy.libs", package / ".dylibs", package / "_core"):
        if folder.is_dir():
            found += sorted(p for p in folder.iterdir() if "openblas" in p.name.lower())
    return found


def _find_api() -> tuple[Callable[[], int], Callable[[int], None]] | None:
    for path in _library_files():
        try:
            lib = ctypes.CDLL(str(path))
        except OSError:
            continue
        for name in _SETTERS:
            setter = getattr(lib, name, None)
            getter = getattr(lib, name.replace("_set_", "_get_"), None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                return getter, setter
    return None


def blas_api() -> tuple[Callable[[], int], Callable[[int], None]] | None:
    """(get, set) of numpy's OpenBLAS thread count, or None where it cannot be found."""
    global _api
    if _api is False:
        try:
            _api = _find_api()
        except Exception:  # any failure here only means "leave BLAS alone"
            _api = None
    return _api  # type: ignore[return-value]


@contextmanager
def single_blas_thread() -> Iterator[None]:
    """numpy's OpenBLAS on one thread inside the block (see the module text)."""
    global _depth, _saved
    api = blas_api()
    if api is None:
        yield
        return
    get, set_ = api
    with _lock:
        if _depth == 0:
            _saved = int(get())
            if _saved != 1:
                set_(1)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None and _saved != 1:
                set_(_saved)
