"""The window's panels and where they go: a panel's dock, the window kept on its screen, and
the panels' first layout made to show their contents whole."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDockWidget, QFrame, QMainWindow, QScrollArea, QWidget

from app.widgets.wheel import scroll_past_controls

DEFAULT_SIZE = QSize(1180, 760)
"""The window's size at first start, where the screen has room for it."""
SCREEN_SHARE = 0.92
"""At most this share of the screen's available width and height for a window that was too
large (first start on a small or scaled screen, or a layout saved on a larger screen)."""
SIDE_SHARE = 0.4
"""At most this share of the window's width for the right-hand panels at first start."""
TAB_BAR_HEIGHT = 32


def new_dock(window: QMainWindow, title: str, name: str, widget: QWidget, *,
             scroll: bool = True) -> QDockWidget:
    """A movable, closable, floatable dock of `window` holding `widget`, its place saved under
    `name`; `scroll`: inside a scroll area, so that a small window squeezes the panel, not
    the video, and the wheel over a control there scrolls the panel unless the control has
    focus."""
    dock = QDockWidget(title, window)
    dock.setObjectName(name)
    if scroll:
        area = QScrollArea(dock)
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        area.setWidget(widget)
        scroll_past_controls(widget)
        dock.setWidget(area)
    else:
        dock.setWidget(widget)
    dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                     | QDockWidget.DockWidgetFeature.DockWidgetClosable
                     | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
    return dock


def panel_height(dock: QDockWidget) -> int:
    """The height a panel needs to show its contents whole, its title bar included."""
    content = dock.widget()
    if isinstance(content, QScrollArea) and content.widget() is not None:
        content = content.widget()
    title = dock.titleBarWidget()
    return content.sizeHint().height() + (title.sizeHint().height() if title else 28)


def panel_width(dock: QDockWidget) -> int:
    """The width a panel needs, a vertical scroll bar's width included."""
    content = dock.widget()
    extra = 0
    if isinstance(content, QScrollArea) and content.widget() is not None:
        extra = content.verticalScrollBar().sizeHint().width()
        content = content.widget()
    return max(content.minimumSizeHint().width(), content.sizeHint().width()) + extra + 4


def arrange_panels(window: QMainWindow, side_panels: list[QDockWidget]) -> None:
    """The panels' first layout, made to show their contents whole: the first right-hand
    panel (recognition) on top at the height its contents need, the others as tabs below
    it, the first of them in front; on a screen too small for that, every right-hand
    panel a tab, the first in front. The right-hand column is as wide as its widest
    panel needs, within `SIDE_SHARE` of the window."""
    panels = [d for d in side_panels
              if window.dockWidgetArea(d) == Qt.DockWidgetArea.RightDockWidgetArea
              and not d.isFloating() and not d.isHidden()]
    if not panels:
        return
    first, rest = panels[0], panels[1:]
    needed = [panel_height(d) for d in panels]
    column = window.height() - window.menuBar().height() - (
        window.statusBar().height() if window.statusBar().isVisible() else 0)
    stacked = bool(rest) and needed[0] + needed[1] + TAB_BAR_HEIGHT <= column
    if stacked:
        for dock in rest[1:]:
            window.tabifyDockWidget(rest[0], dock)
        rest[0].raise_()
        window.resizeDocks([first, rest[0]], [needed[0], max(1, column - needed[0])],
                           Qt.Orientation.Vertical)
    else:
        for dock in rest:
            window.tabifyDockWidget(first, dock)
        first.raise_()
    width = max(panel_width(d) for d in panels)
    window.resizeDocks([first], [min(width, round(window.width() * SIDE_SHARE))],
                       Qt.Orientation.Horizontal)


def fit_to_screen(window: QMainWindow, *, center: bool = False) -> None:
    """Keep the window, its frame included, inside the available area of its screen:
    shrink it (to at most `SCREEN_SHARE` of that area) and move it in where it does not
    fit, or `center` it."""
    screen = window.screen() or QGuiApplication.primaryScreen()
    if screen is None or window.isMaximized() or window.isFullScreen():
        return
    available = screen.availableGeometry()
    frame = window.frameGeometry()
    extra_w = frame.width() - window.width()
    extra_h = frame.height() - window.height()
    if not center and available.contains(frame):
        return
    width = min(window.width(), round(available.width() * SCREEN_SHARE) - extra_w)
    height = min(window.height(), round(available.height() * SCREEN_SHARE) - extra_h)
    window.resize(max(width, 1), max(height, 1))
    frame = window.frameGeometry()
    if center or not available.contains(frame):
        frame.moveCenter(available.center())
        window.move(frame.topLeft())
