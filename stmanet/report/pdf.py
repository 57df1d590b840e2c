"""Reports as PDF: A4 pages laid out by matplotlib (sub-figures on a page, tables as
matplotlib tables) and written by its PdfPages; no PDF code of our own."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from stmanet.report import figures
from stmanet.report.session import (
    UNKNOWN_LABEL,
    Student,
    fmt_seconds,
    model_line,
    session_actions,
    session_model_line,
)

A4 = (8.27, 11.69)
A4_LANDSCAPE = (11.69, 8.27)
MAX_TABLE_ROWS = 14


def _header(sub: Any, title: str, lines: Sequence[str], note: str = "") -> None:
    sub.text(0.02, 0.96, title, fontsize=17, fontweight="bold", va="top")
    y = 0.74
    for line in lines:
        sub.text(0.02, y, line, fontsize=9, color="#444", va="top")
        y -= 0.12
    if note:
        sub.text(0.02, y - 0.04, f"Note: {note}", fontsize=9.5, va="top", wrap=True,
                 bbox={"facecolor": "#fff8dc", "edgecolor": "#e0b400", "pad": 4})


def _table(ax: Any, header: list[str], rows: list[list[str]], title: str) -> None:
    ax.axis("off")
    ax.set_title(title, loc="left", fontsize=11, fontweight="bold")
    if len(rows) > MAX_TABLE_ROWS:
        more = [f"... {len(rows) - MAX_TABLE_ROWS + 1} more"] + [""] * (len(header) - 1)
        rows = [*rows[:MAX_TABLE_ROWS - 1], more]
    table = ax.table(cellText=rows or [["-"] * len(header)], colLabels=header,
                     loc="upper left", cellLoc="left", colLoc="left")
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1, 1.25)
    for (r, _c), cell in table.get_celld().items():
        cell.set_edgecolor("#cccccc")
        if r == 0:
            cell.set_facecolor("#f0f0f0")


def _segment_rows(student: Student) -> list[list[str]]:
    rows = []
    for s in student.result["segments"]:
        name = UNKNOWN_LABEL if s["action"] is None else s["action"].replace("_", " ")
        reps = s.get("reps")
        if s["action"] is None or not reps:
            counted = ["-", "-", "-"]
        elif reps["reps"] is None:
            counted = ["not counted", "", ""]
        else:
            counted = [str(reps["reps"]),
                       f"{reps['reps_per_min']:.0f}/min" if reps.get("reps_per_min") else "-",
                       f"{100 * reps['pace_cv']:.0f}%" if reps.get("pace_cv") is not None
                       else "-"]
        rows.append([name, f"{s['start_s']:.1f}-{s['end_s']:.1f} s",
                     f"{s['end_s'] - s['start_s']:.1f} s", *counted])
    return rows


def student_pdf(path: Path, student: Student, colours: dict[str, Any],
                frames: dict[int, np.ndarray] | None, made: str) -> Path:
    """One student's report: page 1 the numbers, page 2 the key frames."""
    r = student.result
    with PdfPages(path, metadata={"Title": f"{student.name}: activity report",
                                  "Creator": "stmanet report"}) as pdf:
        page = Figure(figsize=A4, layout="constrained")
        head, line, middle, table = page.subfigures(4, 1, height_ratios=[1.7, 1.5, 2.4, 3.4])
        unknown = ("cannot tell (no open-set statistics)" if student.unknown_s is None
                   else fmt_seconds(student.unknown_s))
        _header(head, student.name,
                [f"Video {student.video} · {fmt_seconds(r['duration_s'])}",
                 f"Model: {model_line(r)}", f"Not a known action: {unknown}", made],
                student.note)
        figures.timeline_figure(student, colours, fig=line)
        left, right = middle.subfigures(1, 2, width_ratios=[1.1, 1])
        figures.seconds_figure(student, colours, fig=left)
        ax = right.add_subplot()
        _table(ax, ["action", "time", "reps"],
               [[a.replace("_", " "), fmt_seconds(s),
                 "-" if student.counts.get(a) is None else str(student.counts[a])]
                for a, s in sorted(student.seconds.items(), key=lambda kv: -kv[1])],
               "Time per action")
        _table(table.add_subplot(), ["segment", "when", "length", "reps", "pace",
                                     "pace varies"],
               _segment_rows(student), "Counts and pace per drill")
        pdf.savefig(page)
        if frames:
            page = Figure(figsize=A4, layout="constrained")
            grid_height = figures.key_frames_height(student, frames, A4[0])
            # a model whose attention never learnt: said in a box under the title, first
            untrained = r.get("attention") == "untrained"
            head = 1.1 if untrained else 0.6
            top, grid, _ = page.subfigures(3, 1, height_ratios=[
                head, grid_height, max(0.1, A4[1] - head - grid_height)])
            top.text(0.02, 0.75 if untrained else 0.5, f"{student.name}: key frames",
                     fontsize=14, fontweight="bold", va="center")
            if untrained:
                top.text(0.02, 0.42, figures.heatmap_note(r), fontsize=9, va="top",
                         wrap=True, bbox={"facecolor": "#fff8dc", "edgecolor": "#e0b400",
                                          "pad": 4})
            else:
                top.text(0.98, 0.5, 'the frame marked "attention": where the network looked '
                         "(red: most)" if figures.heatmap_segment(r) is not None else
                         figures.heatmap_note(r), fontsize=8, color="#555", va="center",
                         ha="right")
            figures.key_frames_figure(student, colours, frames, fig=grid)
            pdf.savefig(page)
    return path


def session_pdf(path: Path, students: Sequence[Student], colours: dict[str, Any], *,
                title: str, made: str) -> Path:
    """The session: the timelines on one page, the table on landscape pages."""
    actions = session_actions(students)
    with PdfPages(path, metadata={"Title": title, "Creator": "stmanet report"}) as pdf:
        page = Figure(figsize=A4, layout="constrained")
        strip = min(8.0, 1.3 + 0.4 * len(students))
        head, body, rest = page.subfigures(3, 1, height_ratios=[
            1.3, strip, max(0.2, A4[1] - 1.3 - strip)])
        total = sum(st.duration_s for st in students)
        _header(head, title, [f"{len(students)} video(s), {fmt_seconds(total)} in all",
                              f"Model: {session_model_line(students)}", made])
        figures.session_figure(students, colours, fig=body)
        noted = [st for st in students if st.note][:20]
        if noted:
            room = max(0.2, A4[1] - 1.3 - strip)
            rest.text(0.02, 0.97, "Notes", fontsize=11, fontweight="bold", va="top")
            rest.text(0.02, 0.97 - 0.3 / room, "\n".join(f"{st.name}: {st.note}" for st in noted),
                      fontsize=8.5, va="top", wrap=True, linespacing=1.6)
        pdf.savefig(page)
        header = ["student", "length", *[a.replace("_", " ") for a in actions],
                  "not known"]
        table_rows = []
        for st in students:
            cells = []
            for a in actions:
                seconds = st.seconds.get(a, 0.0)
                reps = st.counts.get(a)
                cells.append("-" if seconds == 0 else
                             f"{seconds:.1f} s" + ("" if reps is None else f", {reps}x"))
            table_rows.append([st.name, f"{st.duration_s:.1f} s", *cells,
                               "-" if st.unknown_s is None else f"{st.unknown_s:.1f} s"])
        for start in range(0, len(table_rows), 24):
            page = Figure(figsize=A4_LANDSCAPE, layout="constrained")
            ax = page.add_subplot()
            ax.axis("off")
            ax.set_title("Session table: seconds and repetitions (x) per action", loc="left",
                         fontsize=12, fontweight="bold")
            table = ax.table(cellText=table_rows[start:start + 24], colLabels=header,
                             loc="upper left", cellLoc="left", colLoc="left")
            table.auto_set_font_size(False)
            table.set_fontsize(7 if len(header) > 10 else 8)
            table.scale(1, 1.3)
            for (r, _c), cell in table.get_celld().items():
                cell.set_edgecolor("#cccccc")
                if r == 0:
                    cell.set_facecolor("#f0f0f0")
            pdf.savefig(page)
    return path
