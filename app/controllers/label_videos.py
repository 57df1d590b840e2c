"""The label project's videos and the player: which one is on screen, the I and O marks on it,
the question which class a marked range shows, jumping to a segment, and videos that moved.

I and O mark the first and the last frame of an action at the frame on screen; a small dialog
then asks for its class (the last one used is the default; a new name adds a class). Videos
that moved are never dropped from a project: the user is asked where they are, and the other
missing videos found beside the new place move with it (one undoable edit).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QWidget

from app.controllers.label_project import ProjectKeeper
from app.names import display_name
from app.services.frames import SourceInfo
from app.video_files import video_file_filter
from app.widgets.class_chooser import ClassChooserDialog
from app.widgets.label_strip import LabelStrip
from app.widgets.player import PlayerWidget
from stmanet.data.project import LabelProject, LabelSegment, normalize_video_path

MessageShower = Callable[[str, int], None]
SegmentAdder = Callable[[Path, int, int, str], LabelSegment | None]

KEY_LAST_CLASS = "labels/last_class"


class ProjectVideos(QObject):
    """Follows the player for the labeller and keeps the I/O marks.

    `strip`: the labels strip under the timeline (its frames, position and marks are kept
    here; its segments by the controller). `add_segment(video, start, end, label)` labels a
    marked range; `show_dock()` brings the Labels panel forward; `open_path(video)` opens a
    video in the player.

    Signals: marksChanged(): the I/O marks changed; videoChanged(): another video (or none)
    is on screen."""

    marksChanged = Signal()
    videoChanged = Signal()

    def __init__(self, player: PlayerWidget, strip: LabelStrip, keeper: ProjectKeeper,
                 dialog_parent: QWidget, settings: QSettings, show_message: MessageShower, *,
                 add_segment: SegmentAdder, show_dock: Callable[[], None],
                 open_path: Callable[[Path], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._player = player
        self._strip = strip
        self._keeper = keeper
        self._widget = dialog_parent
        self._settings = settings
        self._show_message = show_message
        self._add_segment = add_segment
        self._show_dock = show_dock
        self._open_path = open_path

        self._source: SourceInfo | None = None
        self._open_video: Path | None = None  # the file on screen, as a project keeps it
        self._fps: dict[Path, float] = {}
        self._resolved: dict[Path, Path] = {}
        self._mark_in: int | None = None
        self._mark_out: int | None = None
        self._marks_video: Path | None = None
        self._dialog: ClassChooserDialog | None = None
        self._jump: tuple[Path, int] | None = None
        self._last_class = str(settings.value(KEY_LAST_CLASS, "", type=str))

        player.opened.connect(self._on_source_opened)
        player.openFailed.connect(self._on_open_failed)
        player.playbackFailed.connect(self._on_playback_failed)
        player.frameShown.connect(self._on_frame_shown)

    @property
    def _project(self) -> LabelProject:
        return self._keeper.project

    @property
    def open_video(self) -> Path | None:
        """The video file on screen, as a project keeps it; None for none or a live source."""
        return self._open_video

    @property
    def frame_rates(self) -> dict[Path, float]:
        """The frame rates known so far, by video (0.0: none could be read)."""
        return self._fps

    @property
    def last_class(self) -> str:
        return self._last_class

    def set_last_class(self, name: str) -> None:
        """The class the next 'which class?' question offers first."""
        self._last_class = name
        self._settings.setValue(KEY_LAST_CLASS, name)

    def class_dialog(self) -> ClassChooserDialog | None:
        return self._dialog

    def marks(self) -> tuple[int | None, int | None]:
        return self._mark_in, self._mark_out

    def open_segments(self) -> list[LabelSegment]:
        """The project's segments of the video on screen, in frame order."""
        if self._open_video is None:
            return []
        return sorted((s for s in self._project.segments if self.is_open(s.video)),
                      key=lambda s: (s.start_frame, s.end_frame))

    def is_open(self, video: Path) -> bool:
        current = self._open_video
        if current is None:
            return False
        if video == current:
            return True
        return self._resolve(video) == self._resolve(current)

    # --- marking -------------------------------------------------------------------------

    def mark_in(self) -> None:
        """I: the frame on screen is the first of a segment."""
        frame = self._markable_frame()
        if frame is None:
            return
        self._mark_in = frame
        if self._mark_out is not None and self._mark_out < frame:
            self._mark_out = None
        self.marksChanged.emit()
        if self._mark_out is not None:
            self._ask_class()
        else:
            self._show_message(
                f"In at frame {frame}: press O at the last frame of the action", 5000)

    def mark_out(self) -> None:
        """O: the frame on screen is the last of a segment."""
        frame = self._markable_frame()
        if frame is None:
            return
        self._mark_out = frame
        if self._mark_in is not None and self._mark_in > frame:
            self._mark_in = None
        self.marksChanged.emit()
        if self._mark_in is not None:
            self._ask_class()
        else:
            self._show_message(
                f"Out at frame {frame}: press I at the first frame of the action", 5000)

    def clear_marks(self) -> None:
        self._mark_in = self._mark_out = None
        self.marksChanged.emit()

    def forget_marks(self) -> None:
        """Another project is in use: the marks go (quietly; the caller redraws them)."""
        self._mark_in = self._mark_out = None

    def _markable_frame(self) -> int | None:
        info = self._player.source_info()
        if info is None or info.is_live or self._open_video is None:
            self._show_message(
                "Open a video file to label it (cameras and streams cannot be labelled)", 4000)
            return None
        frame = self._player.current_index()
        if frame < 0:
            return None
        if self._marks_video != self._open_video:
            self._mark_in = self._mark_out = None
            self._marks_video = self._open_video
        self._show_dock()
        return frame

    def _ask_class(self) -> None:
        if self._dialog is not None:
            self._dialog.raise_()
            self._dialog.activateWindow()
            return
        video, first, last = self._marks_video, self._mark_in, self._mark_out
        if video is None or first is None or last is None:
            return
        self._player.pause()
        classes = self._project.classes
        default = self._last_class if self._last_class in classes or not classes \
            else classes[0]
        fps = self._fps.get(video, 0.0)
        seconds = f" ({(last + 1 - first) / fps:.2f} s)" if fps else ""
        what = f"{video.name}: frames {first}–{last}{seconds}. Which action is it?"
        dialog = ClassChooserDialog(classes, default, what, self._widget)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self._dialog = dialog

        def finished(result: int) -> None:
            if self._dialog is not dialog:
                return  # told twice
            self._dialog = None
            dialog.deleteLater()
            self._widget.activateWindow()  # I and O work at once again
            if result == ClassChooserDialog.DialogCode.Accepted:
                self._on_class_chosen(video, first, last, dialog.chosen_class())

        dialog.finished.connect(finished)
        dialog.open()

    def _on_class_chosen(self, video: Path, first: int, last: int, label: str) -> None:
        segment = self._add_segment(video, first, last + 1, label)
        if segment is None:
            return
        self.set_last_class(segment.label)
        self._mark_in = self._mark_out = None
        self.marksChanged.emit()
        self._show_message(
            f"Labelled frames {first}–{last} as {display_name(segment.label)}", 4000)

    # --- going to a segment, videos that moved -------------------------------------------

    def go_to_segment(self, segment: LabelSegment) -> None:
        """Show the segment's first frame (opening its video when another one is on screen);
        a video that moved is asked for first."""
        video = segment.video
        if not video.is_file():
            new = self._ask_for_video(video)
            if new is None or not self.relocate_video(video, new):
                return
            video = normalize_video_path(new)
        if self.is_open(video):
            self._player.seek(segment.start_frame)
            return
        self._jump = (video, segment.start_frame)
        self._open_path(video)

    def locate_missing_videos(self) -> int:
        """Ask where each missing video is now; how many videos were found. Cancelling
        stops asking; the segments of videos not found are kept as they are."""
        found = 0
        for video in self._project.missing_videos():
            if video.is_file() or video not in self._project.videos():
                continue  # found with a sibling already
            new = self._ask_for_video(video)
            if new is None:
                break
            found += self.relocate_video(video, new)
        return found

    def relocate_video(self, old: Path, new: Path) -> int:
        """Point `old`'s segments at `new`, and the other missing videos that sit beside
        `new` under their own names at theirs (one undoable edit); how many videos moved."""
        moves = [(old, new)]
        for other in self._project.missing_videos():
            beside = new.parent / other.name
            if other != old and beside.is_file():
                moves.append((other, beside))

        def mutate(project: LabelProject) -> None:
            for before, after in moves:
                project.relocate(before, after)

        count = len(moves)
        text = f"Locate {old.name}" if count == 1 else f"Locate {count} videos"
        if not self._keeper.edit(text, mutate):
            return 0
        self._show_message(f"Found {count} video{'s' * (count != 1)} in {new.parent}", 5000)
        return count

    def _ask_for_video(self, video: Path) -> Path | None:
        start = video.parent
        while not start.is_dir() and start != start.parent:
            start = start.parent
        file, _ = QFileDialog.getOpenFileName(
            self._widget, f"Where is {video.name} now? (it was in {video.parent})",
            str(start / video.name), video_file_filter())
        return Path(file) if file else None

    # --- the player ----------------------------------------------------------------------

    def _on_source_opened(self, info: SourceInfo) -> None:
        self._source = info
        self._open_video = None if info.is_live else normalize_video_path(info.location)
        if self._open_video is not None:
            self._fps[self._open_video] = info.fps
        if self._marks_video != self._open_video:
            self._mark_in = self._mark_out = None
        self._strip.set_source(None if info.is_live else info.frame_count, info.fps)
        self.marksChanged.emit()
        self.videoChanged.emit()

    def _on_open_failed(self, _message: str) -> None:
        self._jump = None

    def _on_playback_failed(self, _message: str) -> None:
        if self._player.source_info() is None:
            self._source = None
            self._open_video = None
            self._strip.set_source(None, 25.0)
            self.videoChanged.emit()

    def _on_frame_shown(self, index: int) -> None:
        self._strip.set_position(index)
        jump = self._jump
        if jump is not None and self.is_open(jump[0]):
            self._jump = None
            self._player.seek(jump[1])

    def _resolve(self, path: Path) -> Path:
        if path not in self._resolved:
            try:
                self._resolved[path] = path.resolve()
            except OSError:  # pragma: no cover
                self._resolved[path] = path
        return self._resolved[path]
