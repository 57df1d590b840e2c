"""What `stmanet-app` runs without a window: a `stmanet` subcommand (train, predict, ...) or
the self-test. Imports no Qt.

Both entry points, app.launch (the bundle's) and app.main (the installed script's), ask
`run_without_window` first, so a training process (and every data-loader worker it starts)
never pays for Qt.
"""

from __future__ import annotations

from collections.abc import Sequence

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
