"""Stopping a training run cleanly: the token that asks for it (set from another thread or a
signal handler), SIGINT/SIGTERM handling that sets the token, and the exception a stopped run
raises."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stmanet.errors import Cancelled

log = logging.getLogger(__name__)


class CancelToken:
    """Set from another thread or a signal handler; the loop stops after the current step."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal: int | None = None

    def cancel(self, signum: int | None = None) -> None:
        if self.signal is None:
            self.signal = signum
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@contextlib.contextmanager
def cancel_on_signals(token: CancelToken,
                      signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """While inside, SIGINT/SIGTERM set `token` instead of killing the process.

    A second SIGINT gets Python's default behaviour (KeyboardInterrupt) for an impatient user.
    Outside the main thread this does nothing (signals can only be caught there).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}

    def handler(signum: int, _frame: object) -> None:
        if token.cancelled and signum == signal.SIGINT:
            raise KeyboardInterrupt
        log.warning("%s received: stopping after the current step",
                    signal.Signals(signum).name)
        token.cancel(signum)

    for sig in signals:
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class TrainingCancelled(Cancelled):
    """Training stopped on request; `checkpoint` is the resume file written before stopping."""

    def __init__(self, message: str, checkpoint: Path | None, signum: int | None) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint
        self.signal = signum
