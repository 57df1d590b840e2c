"""What `stmanet-app` runs before (or instead of) the window. Imports no Qt.

One executable does three jobs, chosen by its arguments:

- `stmanet-app COMMAND ...` with COMMAND one of the `stmanet` subcommands (train, predict,
  evaluate, ...): the engine's command line. A PyInstaller bundle holds no Python interpreter
  and no `stmanet` script, so this is how the desktop program launches its trainer there
  (`[sys.executable, "train", ...]`).
- `stmanet-app --self-test [--model FILE] [--video FILE]`: checks the installation without a
  screen (see app.selftest).
- anything else: the desktop program (app.main).

`main` here is the bundle's entry point: it decides before Qt is loaded, so a training
process (and every data-loader worker it starts) never pays for Qt.
"""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Sequence

PROCESS_STARTED = time.perf_counter()
"""The clock when Python first ran our code: the self-test's 'start-up' point."""

SELF_TEST_FLAG = "--self-test"


def engine_command(argv: Sequence[str]) -> bool:
    """Whether the arguments ask for a `stmanet` subcommand (`train`, `predict`, ...)."""
    if not argv or argv[0].startswith("-"):
        return False
    from stmanet.cli import command_names

    return argv[0] in command_names()


def run_without_window(argv: Sequence[str]) -> int | None:
    """Run what needs no window: a `stmanet` subcommand or the self-test, and return its exit
    status; None when the arguments are for the desktop program."""
    argv = list(argv)
    if engine_command(argv):
        from stmanet.cli import main as engine_main

        return engine_main(argv, prog="stmanet-app")
    if SELF_TEST_FLAG in argv:
        from app.selftest import main as self_test

        return self_test([a for a in argv if a != SELF_TEST_FLAG])
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """The bundle's entry point (and `python -m app`'s)."""
    # A data-loader worker started with "spawn" re-runs this executable: hand it over to
    # multiprocessing before anything else happens. A no-op in an ordinary process.
    multiprocessing.freeze_support()
    args = list(sys.argv[1:] if argv is None else argv)
    code = run_without_window(args)
    if code is not None:
        return code
    from app.main import main as window_main

    return window_main(args)
