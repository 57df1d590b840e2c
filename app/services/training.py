"""Fine-tuning from the app: the training process.

Training runs as the same `stmanet train` command a user would type, in a separate process
(`trainer_command`), with `--progress json`: `TrainingProcess` reads its stdout line by line
into progress events (stmanet.engine.events: plain dataclasses the window imports directly),
keeps the last lines of its stderr, and reports how it ended. A crash or an out-of-memory in
training ends that process, never the window. Cancel sends SIGTERM; the trainer then
finishes its step, writes its resume checkpoint and exits with 143.

What a run starts from and its flags are in app/services/training_plan.py; what a run folder
holds afterwards, in app/services/training_runs.py.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEventLoop, QObject, QProcess, QProcessEnvironment, QTimer, Signal

from stmanet.engine.events import (
    Event,
    RunCancelled,
    RunFailed,
    RunFinished,
    event_from_json,
)

log = logging.getLogger(__name__)


STDERR_LINES_KEPT = 200
CANCEL_GRACE_MS = 60_000
"""After Cancel, how long the trainer may take to finish its step and write its checkpoint
before it is stopped by force."""

QUIT_GRACE_MS = 30_000
"""When the program quits during a run: how long the trainer may take to save its state
before it is stopped by force (the window waits that long at most)."""


def trainer_command(arguments: Sequence[str]) -> list[str]:
    """The program and arguments that run `stmanet train ARGUMENTS`.

    From source (or an installed package): this Python with `-m stmanet train`. In a frozen
    bundle (PyInstaller) there is no Python to run a module with: the bundle launches its own
    executable with `train` as the first argument, and app/main.py must dispatch that to
    stmanet.cli.main(["train", ...]) before it builds any window (it does, through
    app.dispatch.run_without_window).
    """
    if getattr(sys, "frozen", False):
        return [sys.executable, "train", *arguments]
    return [sys.executable, "-m", "stmanet", "train", *arguments]


@dataclass
class TrainingOutcome:
    """How a training process ended.

    status: "finished" (a model was written), "cancelled" (stopped on request; the resume
    checkpoint, if any, is kept) or "failed" (`message` says why, `details` holds the last
    lines the trainer wrote to stderr)."""

    status: str
    run_dir: Path
    exit_code: int | None = None
    message: str = ""
    details: str = ""
    model_path: Path | None = None
    checkpoint: Path | None = None
    report: dict[str, Any] = field(default_factory=dict)


class TrainingProcess(QObject):
    """Runs one `stmanet train --progress json` at a time in a QProcess.

    Signals: started(); eventReceived(Event) for each progress line; finished /
    cancelled / failed (TrainingOutcome) once, when the process has ended."""

    started = Signal()
    eventReceived = Signal(object)
    finished = Signal(object)
    cancelled = Signal(object)
    failed = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._process: QProcess | None = None
        self._run_dir = Path()
        self._stdout = bytearray()
        self._stderr = bytearray()
        self._stderr_lines: deque[str] = deque(maxlen=STDERR_LINES_KEPT)
        self._events: list[Event] = []
        self._cancel_requested = False
        self._kill_timer = QTimer(self)
        self._kill_timer.setSingleShot(True)
        self._kill_timer.timeout.connect(self._force_stop)
        self.cancel_grace_ms = CANCEL_GRACE_MS
        self.quit_grace_ms = QUIT_GRACE_MS

    # --- what other code uses ------------------------------------------------------------

    def is_running(self) -> bool:
        return self._process is not None

    @property
    def run_dir(self) -> Path:
        return self._run_dir

    @property
    def events(self) -> list[Event]:
        """Every event of the current (or last) run, in order."""
        return list(self._events)

    def stderr_tail(self, lines: int = 20) -> list[str]:
        return list(self._stderr_lines)[-lines:]

    def start(self, command: Sequence[str], run_dir: Path) -> None:
        """Start `command` (a `trainer_command(...)`) writing into `run_dir`."""
        if self._process is not None:
            raise RuntimeError("a training process is already running")
        self._run_dir = Path(run_dir)
        self._stdout.clear()
        self._stderr.clear()
        self._stderr_lines.clear()
        self._events = []
        self._cancel_requested = False
        process = QProcess(self)
        process.setProgram(command[0])
        process.setArguments(list(command[1:]))
        process.setProcessEnvironment(self._environment())
        process.readyReadStandardOutput.connect(self._read_stdout)
        process.readyReadStandardError.connect(self._read_stderr)
        process.finished.connect(self._on_finished)
        process.errorOccurred.connect(self._on_error)
        self._process = process
        log.info("training: %s", " ".join(command))
        process.start()
        self.started.emit()

    def cancel(self) -> None:
        """Ask the trainer to stop after its current step (SIGTERM): it writes its resume
        checkpoint, then exits. Stopped by force after `cancel_grace_ms`."""
        process = self._process
        if process is None or self._cancel_requested:
            return
        self._cancel_requested = True
        log.info("training: cancel requested")
        # On Windows terminate() reaches only programs with a window; the timer below then
        # stops a console trainer by force, keeping the checkpoint of its last epoch.
        process.terminate()
        self._kill_timer.start(self.cancel_grace_ms)

    def stop_and_wait(self, timeout_ms: int | None = None) -> bool:
        """Cancel, and wait until the trainer has written its resume checkpoint and exited
        (events keep being served meanwhile: the window still paints). Stopped by force after
        `timeout_ms` (default `quit_grace_ms`), keeping the checkpoint of its last finished
        epoch. True when it stopped on its own."""
        if self._process is None:
            return True
        timeout_ms = self.quit_grace_ms if timeout_ms is None else timeout_ms
        loop = QEventLoop()
        timer = QTimer()
        timer.setSingleShot(True)
        timer.timeout.connect(loop.quit)
        ended = (self.finished, self.cancelled, self.failed)
        for signal in ended:
            signal.connect(loop.quit)
        try:
            self.cancel()
            if self._process is not None:
                timer.start(timeout_ms)
                loop.exec()
        finally:
            timer.stop()
            for signal in ended:
                signal.disconnect(loop.quit)
        process = self._process
        if process is None:
            return True
        log.warning("training did not stop within %d s: stopping it by force",
                    timeout_ms // 1000)
        process.kill()
        process.waitForFinished(5000)  # finished() runs _on_finished before this returns
        return False

    def shutdown(self, wait_ms: int = 10_000) -> None:
        """Stop a running trainer (the window is closing): it keeps its checkpoint."""
        process = self._process
        if process is None:
            return
        self._cancel_requested = True
        process.terminate()
        if not process.waitForFinished(wait_ms):
            process.kill()
            process.waitForFinished(2000)

    # --- the process's output ------------------------------------------------------------

    def _environment(self) -> QProcessEnvironment:
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        env.insert("PYTHONIOENCODING", "utf-8")
        if not env.contains("OMP_NUM_THREADS"):
            # one core stays with the window (and live recognition); more threads than
            # cores slow torch down many times over
            env.insert("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) - 1)))
        if not getattr(sys, "frozen", False):  # `-m stmanet` also from an uninstalled checkout
            import stmanet

            root = str(Path(stmanet.__file__).resolve().parent.parent)
            current = env.value("PYTHONPATH", "")
            env.insert("PYTHONPATH", os.pathsep.join(p for p in (root, current) if p))
        return env

    @staticmethod
    def _lines(buffer: bytearray, data: bytes, final: bool = False) -> list[str]:
        buffer.extend(data)
        if final:
            text, rest = bytes(buffer), b""
        else:
            cut = buffer.rfind(b"\n")
            if cut < 0:
                return []
            text, rest = bytes(buffer[: cut + 1]), bytes(buffer[cut + 1:])
        buffer[:] = rest
        return [line.rstrip("\r") for line in text.decode("utf-8", "replace").split("\n")
                if line.strip()]

    def _read_stdout(self, final: bool = False) -> None:
        if self._process is None:
            return
        data = bytes(self._process.readAllStandardOutput().data())
        for line in self._lines(self._stdout, data, final):
            try:
                event = event_from_json(line)
            except (ValueError, TypeError):
                self._stderr_lines.append(line)  # not an event: keep it with the log lines
                continue
            self._events.append(event)
            self.eventReceived.emit(event)

    def _read_stderr(self, final: bool = False) -> None:
        if self._process is None:
            return
        data = bytes(self._process.readAllStandardError().data())
        for line in self._lines(self._stderr, data, final):
            self._stderr_lines.append(line)
            log.debug("trainer: %s", line)

    def _force_stop(self) -> None:
        if self._process is not None:
            log.warning("training did not stop within %d s of Cancel: stopping it by force",
                        self.cancel_grace_ms // 1000)
            self._process.kill()

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error != QProcess.ProcessError.FailedToStart or self._process is None:
            return  # crashes and the like also end in finished(), handled there
        message = self._process.errorString()
        self._end()
        self.failed.emit(TrainingOutcome(
            "failed", self._run_dir, None,
            f"The training program could not be started: {message}"))

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._read_stdout(final=True)
        self._read_stderr(final=True)
        crashed = exit_status == QProcess.ExitStatus.CrashExit
        self._end()
        outcome = self._outcome(None if crashed else exit_code, crashed)
        log.info("training ended: %s (exit %s)", outcome.status, outcome.exit_code)
        {"finished": self.finished, "cancelled": self.cancelled,
         "failed": self.failed}[outcome.status].emit(outcome)

    def _end(self) -> None:
        self._kill_timer.stop()
        process, self._process = self._process, None
        if process is not None:
            process.deleteLater()

    def _last(self, kind: type[Event]) -> Any:
        return next((e for e in reversed(self._events) if isinstance(e, kind)), None)

    def _outcome(self, exit_code: int | None, crashed: bool) -> TrainingOutcome:
        details = "\n".join(self.stderr_tail())
        done: RunFinished | None = self._last(RunFinished)
        if done is not None and exit_code == 0:
            return TrainingOutcome("finished", self._run_dir, 0, "",
                                   details, Path(done.model_path), report=dict(done.report))
        stopped: RunCancelled | None = self._last(RunCancelled)
        resume = self._run_dir / "checkpoint.pt"
        if self._cancel_requested and (stopped is not None or crashed or exit_code in (130, 143)):
            if stopped is not None:
                message = "Training was cancelled."
                checkpoint = Path(stopped.checkpoint) if stopped.checkpoint else None
            else:
                message = ("Training was stopped before it could save its state"
                           + ("; the checkpoint of its last finished epoch is kept."
                              if resume.exists() else "."))
                checkpoint = resume if resume.exists() else None
            return TrainingOutcome("cancelled", self._run_dir, exit_code, message, details,
                                   checkpoint=checkpoint)
        failed: RunFailed | None = self._last(RunFailed)
        if failed is not None:
            message = failed.message
        elif crashed:
            message = "The training process crashed."
        elif exit_code == 0:
            message = "The training process ended without writing a model."
        else:
            message = f"The training process stopped with exit code {exit_code}."
        if any(line.startswith("Traceback (most recent call last)")
               for line in self._stderr_lines) and failed is None:
            last = next((line for line in reversed(self._stderr_lines) if line.strip()), "")
            message += f" The last error was: {last.strip()}"
        return TrainingOutcome("failed", self._run_dir, exit_code, message, details,
                               checkpoint=resume if resume.exists() else None)
