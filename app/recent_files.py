"""File ▸ Open recent: the most recently opened files (QSettings) and their menu."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QSettings
from PySide6.QtWidgets import QMenu

MAX_RECENT_FILES = 8


class RecentFiles:
    """The most recently opened files, newest first, kept in QSettings."""

    KEY = "recent/files"

    def __init__(self, settings: QSettings, limit: int = MAX_RECENT_FILES) -> None:
        self._settings = settings
        self._limit = limit

    def paths(self) -> list[Path]:
        values = self._settings.value(self.KEY, [], type=list)
        return [Path(str(v)) for v in values if v][: self._limit]

    def add(self, path: Path) -> None:
        path = Path(path)
        self._store([path, *[p for p in self.paths() if p != path]])

    def remove(self, path: Path) -> None:
        self._store([p for p in self.paths() if p != Path(path)])

    def remove_missing(self) -> list[Path]:
        """Forget the files that no longer exist; returns them."""
        paths = self.paths()
        missing = [p for p in paths if not p.exists()]
        self._store([p for p in paths if p.exists()])
        return missing

    def clear(self) -> None:
        self._store([])

    def _store(self, paths: list[Path]) -> None:
        self._settings.setValue(self.KEY, [str(p) for p in paths[: self._limit]])
        self._settings.sync()


class RecentFilesMenu(QObject):
    """Keeps `menu` listing `recent` (numbered; missing files shown, disabled), with Remove
    missing files and Clear list. A chosen file that is gone is dropped from the list, and
    the user told; one that is there is handed to `open_path`."""

    def __init__(self, menu: QMenu, recent: RecentFiles, open_path: Callable[[Path], None],
                 present_error: Callable[[str, str], None],
                 show_message: Callable[[str, int], None]) -> None:
        super().__init__(menu)
        self._menu = menu
        self._recent = recent
        self._open_path = open_path
        self._present_error = present_error
        self._show_message = show_message
        menu.aboutToShow.connect(self.rebuild)
        self.rebuild()

    def rebuild(self) -> None:
        menu = self._menu
        menu.clear()
        paths = self._recent.paths()
        missing = False
        for number, path in enumerate(paths, start=1):
            exists = path.exists()
            missing |= not exists
            label = path.name if exists else f"{path.name} (missing)"
            act = menu.addAction(f"&{number}  {label}")
            act.setData(str(path))
            act.setToolTip(str(path))
            act.setStatusTip(str(path))
            act.setEnabled(exists)
            act.triggered.connect(lambda _=False, p=path: self._open(p))
        if not paths:
            menu.addAction("No recent files").setEnabled(False)
            return
        menu.addSeparator()
        if missing:
            menu.addAction("Remove missing files", self._remove_missing)
        menu.addAction("Clear list", self._clear)

    def _open(self, path: Path) -> None:
        if not path.exists():
            self._recent.remove(path)
            self.rebuild()
            self._present_error(
                "File not found",
                f"{path} can no longer be found. It has been removed from the recent files.",
            )
            return
        self._open_path(path)

    def _remove_missing(self) -> None:
        gone = self._recent.remove_missing()
        self.rebuild()
        if gone:
            self._show_message(
                f"Removed {len(gone)} missing file{'s' * (len(gone) > 1)} from the recent list",
                4000,
            )

    def _clear(self) -> None:
        self._recent.clear()
        self.rebuild()
