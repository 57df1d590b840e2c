"""File ▸ Analyse videos (a folder, files, or the label project's videos) and File ▸ Report…

`BatchController` runs the analysis of many videos as one background job (JobRunner: a
progress bar over all the videos, the video in progress in the status bar, Cancel); the work
is app/services/batch.py over the engine's resumable batch analysis, so that a cancelled or
interrupted analysis, started again, redoes only the videos without a current result.
Results are cached beside each video (`stmanet-results/`); opening an analysed video (or
loading the model it was analysed with) shows its timeline and repetitions: the result file
is read on a thread of its own (a BackgroundJob without a dialog), and a result that comes
after another video or model was chosen is dropped. Report… writes the
HTML and PDF reports and the session table of the videos analysed last (or of a folder of
results); notes.json or notes.csv in the results' folder or the videos' folder are the notes
per student.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QObject, QSettings, SignalInstance
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from app.controllers.jobs import JobRunner
from app.services import batch as service
from app.services.jobs import BackgroundJob
from app.video_files import video_file_filter

NOTES_FILES = ("notes.json", "notes.csv")


class BatchWindow(Protocol):
    """What batch analysis needs from the window."""

    @property
    def dialog_parent(self) -> QWidget: ...

    @property
    def player(self) -> Any:
        """The player: its `opened` signal and `source_info()`."""

    def show_message(self, text: str, timeout_ms: int = 0) -> None: ...

    def add_file_entries(self, entries: Sequence[QAction | QMenu]) -> None: ...


class AnalysisShown(Protocol):
    """The recognition controller: the model in use, and showing an analysis made
    elsewhere."""

    @property
    def service(self) -> Any:
        """RecognitionService: `model` (ModelInfo or None) and `modelChanged`."""

    def show_analysis(self, result: Any) -> None: ...


class ProjectFile(Protocol):
    projectChanged: SignalInstance

    @property
    def project_path(self) -> Path | None: ...


class BatchController(QObject):
    def __init__(self, window: BatchWindow, recognition: AnalysisShown,
                 projects: ProjectFile, settings: QSettings,
                 present_error: Callable[[str, str], None]) -> None:
        super().__init__(window.dialog_parent)
        self._window = window
        self._recognition = recognition
        self._projects = projects
        self._settings = settings
        self._present_error = present_error
        self._last_results: list[Path] = []
        self._state = service.BatchState()
        self._load_serial = 0  # which request to show a cached result is the latest
        self._loading: BackgroundJob | None = None
        self.jobs = JobRunner(window.dialog_parent, present_error, window.show_message,
                              busy_text="Wait for the analysis or report under way to end, "
                                        "or cancel it.",
                              cancelled_note="the videos finished so far keep their results",
                              min_duration_ms=0, parent=self)
        parent = window.dialog_parent
        self.menu = QMenu("&Analyse videos", parent)
        self.folder_action = self.menu.addAction("A &folder of videos…")
        self.files_action = self.menu.addAction("&Videos…")
        self.project_action = self.menu.addAction("The label &project's videos")
        self.report_action = QAction("&Report…", parent)
        self.report_action.setStatusTip("HTML and PDF reports per video and for the session, "
                                        "and the session table (CSV)")
        self.folder_action.triggered.connect(self._choose_folder)
        self.files_action.triggered.connect(self._choose_files)
        self.project_action.triggered.connect(self._analyse_project)
        self.report_action.triggered.connect(self._choose_report)
        window.add_file_entries([self.menu, self.report_action])
        window.player.opened.connect(lambda _info: self.show_cached())
        recognition.service.modelChanged.connect(lambda _info: self.show_cached())
        projects.projectChanged.connect(lambda *_: self._update_actions())
        self.jobs.changed.connect(self._update_actions)
        self._update_actions()

    # --- what the menus (and tests) call -------------------------------------------------

    def analyse(self, videos: Sequence[Path | str]) -> BackgroundJob | None:
        """Analyse the videos in the background with the model in use (None: not started;
        while the first model loads, it starts once the model has loaded)."""
        model = self._recognition.service.model
        if model is None:
            if self._recognition.service.when_loaded("analyse videos",
                                                     lambda: self.analyse(videos)):
                self._window.show_message("Analysing once the model has loaded…", 5000)
                return None
            self._present_error("No model", "Open a model first: Model ▸ Open model…")
            return None
        if not videos:
            self._present_error("No videos", "There is no video to analyse.")
            return None
        checkpoint = Path(model.path)
        state = self._state = service.BatchState()

        def work(progress, cancelled):
            return service.analyse_videos(videos, checkpoint, progress, cancelled, state)

        job = self.jobs.run(work, title="Analyse videos",
                            text=f"Analysing {len(videos)} video(s)…",
                            failure_title="Analysis failed", done=self._on_analysed)
        if job is not None:
            job.progressed.connect(self._on_progress)
        return job

    def report(self, results: Sequence[Path], out_dir: Path | str,
               notes_file: Path | None = None) -> BackgroundJob | None:
        """Write the reports of these result files into `out_dir` in the background."""
        if not results:
            self._present_error("Nothing to report", "Analyse videos first: File ▸ Analyse "
                                "videos, or choose a folder of results.")
            return None
        out = Path(out_dir)

        def work(progress, cancelled):
            return service.write_reports(results, out, notes_file, progress, cancelled)

        def done(page: Path) -> None:
            self._window.show_message(f"Report written: {page}", 8000)

        return self.jobs.run(work, title="Report", text="Writing the reports…",
                             failure_title="Report failed", done=done)

    def show_cached(self) -> BackgroundJob | None:
        """Read the cached result of the open video by the model in use in the background,
        and show it when it has come, if there is one, unless another video or model was
        chosen meanwhile (a result arriving late is dropped). The job reading it, or None
        when there is nothing to read."""
        self._load_serial += 1
        serial = self._load_serial
        info = self._window.player.source_info()
        model = self._recognition.service.model
        if info is None or model is None or getattr(info, "is_live", True):
            return None
        video, checkpoint = Path(info.location), Path(model.path)

        def work(_progress, _cancelled):
            return service.cached_analysis(video, checkpoint)

        job = BackgroundJob(work, name="cached result", parent=self)

        def loaded(result: Any) -> None:
            if serial != self._load_serial or result is None:
                return  # another video or model since, or nothing on file
            self._recognition.show_analysis(result)
            self._window.show_message(f"{video.name}: analysed earlier; its timeline is "
                                      "shown", 4000)

        def ended(*_: object) -> None:
            if self._loading is job:
                self._loading = None
            job.deleteLater()

        job.finished.connect(loaded)
        for outcome in (job.finished, job.failed, job.cancelled):
            outcome.connect(ended)
        self._loading = job
        job.start()
        return job

    def shutdown(self) -> None:
        self._load_serial += 1  # a result still being read is not shown
        if self._loading is not None:
            self._loading.wait(5.0)
        self.jobs.shutdown()

    @property
    def last_results(self) -> list[Path]:
        return list(self._last_results)

    # --- dialogs -------------------------------------------------------------------------

    def _start_folder(self) -> str:
        return str(self._settings.value("batch/last_folder", "", type=str))

    def _choose_folder(self) -> None:
        from stmanet.errors import STMANetError

        folder = QFileDialog.getExistingDirectory(self._window.dialog_parent,
                                                  "Analyse the videos of a folder",
                                                  self._start_folder())
        if not folder:
            return
        self._settings.setValue("batch/last_folder", folder)
        try:
            videos = service.videos_in(folder)
        except STMANetError as exc:
            self._present_error("No videos", str(exc))
            return
        self.analyse(videos)

    def _choose_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self._window.dialog_parent, "Analyse videos",
                                                self._start_folder(), video_file_filter())
        if files:
            self._settings.setValue("batch/last_folder", str(Path(files[0]).parent))
            self.analyse([Path(f) for f in files])

    def _analyse_project(self) -> None:
        from stmanet.data.project import read_project
        from stmanet.errors import STMANetError

        path = self._projects.project_path
        if path is None:
            self._present_error("No label project", "Save the label project first, or open "
                                "one: its videos are then analysed.")
            return
        try:
            videos = [v for v in read_project(path).videos() if Path(v).is_file()]
        except STMANetError as exc:
            self._present_error("Cannot read the label project", str(exc))
            return
        self.analyse(videos)

    def _choose_report(self) -> None:
        results = self._last_results
        parent = self._window.dialog_parent
        if not results:
            folder = QFileDialog.getExistingDirectory(parent, "Choose a folder of results "
                                                      f"({service.RESULTS_FOLDER})",
                                                      self._start_folder())
            if not folder:
                return
            results = [Path(folder)]
        out = QFileDialog.getExistingDirectory(parent, "Write the reports into",
                                               str(Path(results[0]).parent))
        if out:
            self.report(results, out, self._notes_for(results))

    def _notes_for(self, results: Sequence[Path]) -> Path | None:
        """notes.json or notes.csv in the results' folder or the videos' folder above it."""
        first = Path(results[0])
        folder = first if first.is_dir() else first.parent
        for place in (folder, folder.parent):
            for name in NOTES_FILES:
                if (place / name).is_file():
                    return place / name
        return None

    # --- answers -------------------------------------------------------------------------

    def _on_progress(self, _done: int, _total: int) -> None:
        state = self._state
        if state.video:
            self._window.show_message(
                f"Analysing {Path(state.video).name} ({min(state.finished + 1, state.total)} "
                f"of {state.total} videos)", 2000)

    def _on_analysed(self, outcome: service.BatchOutcome) -> None:
        self._last_results = list(outcome.result_files)
        failed = f", {len(outcome.failed)} could not be read" if outcome.failed else ""
        self._window.show_message(
            f"Analysed {len(outcome.done)} video(s), {len(outcome.kept)} had a result "
            f"already{failed}; File ▸ Report… writes the reports", 8000)
        if outcome.failed:
            self._present_error("Some videos could not be analysed", "\n".join(
                why for _v, why in outcome.failed[:10]))
        self.show_cached()

    def _update_actions(self) -> None:
        busy = self.jobs.is_busy()
        for action in (self.folder_action, self.files_action, self.report_action):
            action.setEnabled(not busy)
        self.project_action.setEnabled(not busy and self._projects.project_path is not None)
