"""Reports of a class's session from the result files of `stmanet predict --output-dir`
(engine/batch.py): per video (student) an HTML page and a PDF, a session report in both, and
the session table as CSV (`stmanet report`, the app's File > Report...).

session.py reads the results and makes the numbers and the table; figures.py draws with
matplotlib; html.py writes self-contained pages; pdf.py writes PDFs with PdfPages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from stmanet.report.session import Student, load_students, read_notes, session_csv

__all__ = ["ReportFiles", "Student", "load_students", "read_notes", "write_reports"]


@dataclass
class ReportFiles:
    students: int
    session_html: Path
    session_pdf: Path
    table: Path
    pages: list[Path]  # per student: HTML (and PDF)


def _file_stem(name: str, taken: set[str]) -> str:
    stem = re.sub(r"[^\w.-]+", "_", name).strip("._") or "video"
    candidate, n = stem, 2
    while candidate.lower() in taken or candidate.lower() == "session":
        candidate, n = f"{stem}-{n}", n + 1
    taken.add(candidate.lower())
    return candidate


def write_reports(results: Sequence[str | Path], out_dir: str | Path, *,
                  notes: dict[str, str] | None = None, pdf: bool = True,
                  title: str = "Session report",
                  on_progress: Callable[[int, int], None] | None = None) -> ReportFiles:
    """Write the reports of the results (files or folders of them) into `out_dir`:
    STUDENT.html (+ .pdf) per video, session.html (+ session.pdf), session.csv."""
    import matplotlib

    # a note or a file name is text, never maths: "$5 and $10" stays as written
    with matplotlib.rc_context({"text.parse_math": False}):
        return _write_reports(results, out_dir, notes=notes, pdf=pdf, title=title,
                              on_progress=on_progress)


def _write_reports(results: Sequence[str | Path], out_dir: str | Path, *,
                   notes: dict[str, str] | None, pdf: bool, title: str,
                   on_progress: Callable[[int, int], None] | None) -> ReportFiles:
    from stmanet import __version__
    from stmanet.fileio import atomic_path, atomic_write_text, check_output_folder
    from stmanet.report import figures, html
    from stmanet.report import pdf as pdf_pages

    students = load_students(results, notes)
    out = check_output_folder(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # every model's classes (a session may mix models), the first model's order first
    colours = figures.action_colours(list(dict.fromkeys(
        name for st in students for name in st.result["class_names"])))
    made = f"Made by stmanet {__version__} on {datetime.now():%Y-%m-%d %H:%M}"
    taken: set[str] = set()
    links: dict[str, str] = {}
    pages: list[Path] = []
    total = len(students) + 1
    for done, st in enumerate(students):
        if on_progress is not None:
            on_progress(done, total)
        stem = _file_stem(st.name, taken)
        links[str(st.file)] = f"{stem}.html"  # two videos may share a name
        frames = figures.read_key_frames(st.result)
        pngs = {"timeline": figures.png_bytes(figures.timeline_figure(st, colours)),
                "seconds": figures.png_bytes(figures.seconds_figure(st, colours))}
        if frames:
            pngs["frames"] = figures.png_bytes(figures.key_frames_figure(st, colours, frames))
        page = out / f"{stem}.html"
        atomic_write_text(page, html.student_page(st, colours, pngs,
                                                  session_link="session.html", made=made))
        pages.append(page)
        if pdf:
            target = out / f"{stem}.pdf"
            with atomic_path(target) as tmp:
                pdf_pages.student_pdf(tmp, st, colours, frames, made)
            pages.append(target)
    session_png = figures.png_bytes(figures.session_figure(students, colours))
    atomic_write_text(out / "session.html",
                      html.session_page(students, colours, session_png, links, title=title,
                                        made=made))
    atomic_write_text(out / "session.csv", session_csv(students))
    if pdf:
        with atomic_path(out / "session.pdf") as tmp:
            pdf_pages.session_pdf(tmp, students, colours, title=title, made=made)
    if on_progress is not None:
        on_progress(total, total)
    return ReportFiles(len(students), out / "session.html", out / "session.pdf",
                       out / "session.csv", pages)
