"""The window's keyboard shortcuts, read off its actions (Help ▸ Keyboard shortcuts)."""

from __future__ import annotations

from html import escape

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu


def plain_text(text: str) -> str:
    """A menu text without its mnemonic markers and trailing dots: "&Open video…" -> "Open
    video"."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…. ")


def shortcut_rows(window: QMainWindow) -> list[tuple[str, str, str]]:
    """Every keyboard shortcut `window` answers, read off its actions: (menu, what it does,
    keys), in menu order, then those of actions in no menu."""
    rows: list[tuple[str, str, str]] = []
    seen: set[int] = set()

    def keys_of(act: QAction) -> str:
        return " or ".join(k.toString(QKeySequence.SequenceFormat.NativeText)
                           for k in act.shortcuts() if not k.isEmpty())

    def add(menu_title: str, act: QAction) -> None:
        if id(act) in seen or act.isSeparator():
            return
        seen.add(id(act))
        keys = keys_of(act)
        if keys:
            rows.append((menu_title, plain_text(act.text()), keys))

    def walk(menu: QMenu, title: str) -> None:
        for act in menu.actions():
            sub_menu = act.menu()
            if isinstance(sub_menu, QMenu):
                walk(sub_menu, f"{title} › {plain_text(sub_menu.title())}")
            else:
                add(title, act)

    for top in window.menuBar().actions():
        menu = top.menu()
        if isinstance(menu, QMenu):
            walk(menu, plain_text(menu.title()))
    for act in window.findChildren(QAction):
        add("Other", act)
    return rows


def shortcuts_table(rows: list[tuple[str, str, str]]) -> str:
    """`shortcut_rows` as an HTML table, a heading row per menu."""
    lines, last_menu = [], None
    for menu, text, keys in rows:
        if menu != last_menu:
            lines.append(f"<tr><td colspan=2 style='padding-top:8px'><b>{escape(menu)}"
                         "</b></td></tr>")
            last_menu = menu
        lines.append(f"<tr><td style='padding-left:8px'>{escape(text)}</td>"
                     f"<td style='padding-left:16px'><b>{escape(keys)}</b></td></tr>")
    return f"<table>{''.join(lines)}</table>"
