"""The program's look: a dark, neutral palette (video reads best on dark grey) and one accent."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#3ccf91"
ACCENT_HOVER = "#5ddba6"
VIDEO_BACKGROUND = "#0e0f11"
WINDOW = "#1b1c1f"
PANEL = "#232428"
RAISED = "#2c2e33"
BORDER = "#34373d"
TEXT = "#e4e6ea"
TEXT_MUTED = "#9a9fa8"
TEXT_DISABLED = "#5c6068"

_STYLE_SHEET = f"""
QMainWindow::separator {{ background: {BORDER}; width: 1px; height: 1px; }}
QMenuBar {{ background: {WINDOW}; padding: 2px 4px; }}
QMenuBar::item {{ padding: 4px 10px; border-radius: 4px; }}
QMenuBar::item:selected {{ background: {RAISED}; }}
QMenu {{ background: {PANEL}; border: 1px solid {BORDER}; padding: 4px; }}
QMenu::item {{ padding: 5px 24px 5px 20px; border-radius: 4px; }}
QMenu::item:selected {{ background: {RAISED}; }}
QMenu::item:disabled {{ color: {TEXT_DISABLED}; }}
QMenu::separator {{ height: 1px; background: {BORDER}; margin: 4px 6px; }}
QStatusBar {{ background: {WINDOW}; color: {TEXT_MUTED}; border-top: 1px solid {BORDER}; }}
QStatusBar::item {{ border: none; }}
QStatusBar QLabel {{ color: {TEXT_MUTED}; padding: 0 8px; }}
QToolTip {{ background: {RAISED}; color: {TEXT}; border: 1px solid {BORDER}; padding: 4px; }}

#transportBar {{ background: {PANEL}; border-top: 1px solid {BORDER}; }}
#transportBar QToolButton {{
    border: none; border-radius: 6px; padding: 4px; background: transparent;
}}
#transportBar QToolButton:hover {{ background: {RAISED}; }}
#transportBar QToolButton:pressed {{ background: {BORDER}; }}
#transportBar QToolButton#playButton {{ background: {ACCENT}; border-radius: 19px; }}
#transportBar QToolButton#playButton:hover {{ background: {ACCENT_HOVER}; }}
#transportBar QToolButton#playButton:disabled {{ background: {RAISED}; }}
#transportBar QLabel#timeLabel {{ color: {TEXT}; }}
#transportBar QLabel#frameLabel, #transportBar QLabel#speedCaption {{ color: {TEXT_MUTED}; }}
#transportBar QLabel#timeLabel:disabled, #transportBar QLabel#frameLabel:disabled,
#transportBar QLabel#speedCaption:disabled {{ color: {TEXT_DISABLED}; }}
#transportBar QLabel#liveBadge {{
    color: #ffffff; background: #d9453d; border-radius: 4px; padding: 1px 6px; font-weight: 600;
}}
#transportBar QComboBox {{
    background: {RAISED}; border: 1px solid {BORDER}; border-radius: 5px; padding: 3px 20px 3px 8px;
    min-width: 30px;
}}
#transportBar QComboBox:disabled {{ color: {TEXT_DISABLED}; }}
#transportBar QComboBox::drop-down {{ border: none; width: 18px; }}
#transportBar QComboBox::down-arrow {{ image: none; }}
#transportBar QComboBox QAbstractItemView {{
    background: {PANEL}; border: 1px solid {BORDER}; selection-background-color: {RAISED};
}}

QDockWidget::title {{
    background: {PANEL}; padding: 5px 10px; border-bottom: 1px solid {BORDER};
}}
QLabel#panelCaption {{ color: {TEXT_MUTED}; }}
QLabel#panelHeading {{ color: {TEXT}; font-weight: 600; }}
QProgressBar#analysisProgress {{
    background: {RAISED}; border: none; border-radius: 3px; max-height: 6px;
}}
QProgressBar#analysisProgress::chunk {{ background: {ACCENT}; border-radius: 3px; }}

QSlider#seekSlider {{ min-height: 18px; }}
QSlider#seekSlider::groove:horizontal {{ height: 4px; background: {BORDER}; border-radius: 2px; }}
QSlider#seekSlider::sub-page:horizontal {{ background: {ACCENT}; border-radius: 2px; }}
QSlider#seekSlider::sub-page:horizontal:disabled {{ background: {BORDER}; }}
QSlider#seekSlider::handle:horizontal {{
    background: {TEXT}; width: 14px; height: 14px; margin: -5px 0; border-radius: 7px;
}}
QSlider#seekSlider::handle:horizontal:hover {{ background: #ffffff; }}
QSlider#seekSlider::handle:horizontal:disabled {{ background: transparent; }}
"""


def dark_palette() -> QPalette:
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: WINDOW,
        QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: PANEL,
        QPalette.ColorRole.AlternateBase: RAISED,
        QPalette.ColorRole.ToolTipBase: RAISED,
        QPalette.ColorRole.ToolTipText: TEXT,
        QPalette.ColorRole.PlaceholderText: TEXT_MUTED,
        QPalette.ColorRole.Text: TEXT,
        QPalette.ColorRole.Button: RAISED,
        QPalette.ColorRole.ButtonText: TEXT,
        QPalette.ColorRole.BrightText: "#ffffff",
        QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: "#0b0c0d",
        QPalette.ColorRole.Link: ACCENT,
        QPalette.ColorRole.Light: "#3a3d44",
        QPalette.ColorRole.Midlight: BORDER,
        QPalette.ColorRole.Mid: "#2a2c30",
        QPalette.ColorRole.Dark: "#141517",
        QPalette.ColorRole.Shadow: "#000000",
    }
    for role, color in roles.items():
        palette.setColor(role, QColor(color))
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(TEXT_DISABLED))
    return palette


def apply_theme(app: QApplication) -> None:
    """Fusion style, the dark palette and the style sheet, for the whole application."""
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    app.setStyleSheet(_STYLE_SHEET)
