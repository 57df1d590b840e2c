"""What `stmanet-app` runs before (or instead of) the window. Imports no Qt.

One executable does three jobs, chosen by its arguments:

- `stmanet-app COMMAND ...` with COMMAND one of the `stmanet` subcommands (train, predict,
  evaluate, ...): the engine's command line. A PyInstaller bundle holds no Python interpreter
  and no `stmanet` script, so this is how the desktop program launches its trainer there
  (`[sys.executable, "train", ...]`).
- `stmanet-app --self-test [--model FILE] [--video FILE]`: checks the installation without a
  screen (see app.selftest).
- anything else: the desktop program (app.main).

`main` here is the bundle's entry point: it decides before Qt is loaded (app.dispatch), so a
training process (and every data-loader worker it starts) never pays for Qt.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Sequence

from app import dispatch


def main(argv: Sequence[str] | None = None) -> int:
    """The bundle's entry point (and `python -m app`'s)."""
    # A data-loader worker started with "spawn" re-runs this executable: hand it over to
    # multiprocessing before anything else happens. A no-op in an ordinary process.
    multiprocessing.freeze_support()
    args = list(sys.argv[1:] if argv is None else argv)
    code = dispatch.run_without_window(args)
    if code is not None:
        return code
    from app.main import main as window_main

    return window_main(args)
