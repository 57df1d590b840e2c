"""The numbers of a report: result files read back, per student and for the session, the
session table (CSV) and the notes per student."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stmanet.errors import ConfigError, printable_path

UNKNOWN_LABEL = "not a known action"


@dataclass
class Student:
    """One video's result as a report shows it."""

    result: dict[str, Any]
    file: Path  # the result file
    note: str = ""
    counts: dict[str, int | None] = field(default_factory=dict)  # action -> reps (None: none)

    @property
    def video(self) -> str:
        return str(self.result["video"]["name"])

    @property
    def name(self) -> str:
        return Path(self.video).stem

    @property
    def seconds(self) -> dict[str, float]:
        return dict(self.result["seconds"])

    @property
    def unknown_s(self) -> float | None:
        return self.result.get("unknown_s")

    @property
    def duration_s(self) -> float:
        return float(self.result["duration_s"])


def _result_files(given: Sequence[str | Path]) -> list[Path]:
    from stmanet.engine.batch import RESULT_SUFFIX

    files: list[Path] = []
    for item in given:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.name.endswith(RESULT_SUFFIX))
            if not found:
                raise ConfigError(f"{printable_path(path)}: a folder with no result files "
                                  f"(*{RESULT_SUFFIX}, made by `stmanet predict "
                                  "--output-dir`)")
            files.extend(found)
        elif not path.exists():
            raise ConfigError(f"{printable_path(path)}: no such result file or folder")
        else:
            files.append(path)
    return files


def load_students(given: Sequence[str | Path], notes: dict[str, str] | None = None
                  ) -> list[Student]:
    """The results in files and folders, in the order given (a folder's sorted by name);
    ConfigError naming the file for one that is not a result."""
    from stmanet.engine.video_result import RESULT_FORMAT, RESULT_VERSION

    students = []
    for path in _result_files(given):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            ok = isinstance(data, dict) and data.get("format") == RESULT_FORMAT
        except (OSError, UnicodeDecodeError, ValueError):
            ok = False
        if not ok:
            raise ConfigError(f"{printable_path(path)}: not a result file of `stmanet predict "
                              "--output-dir`")
        if data.get("version") != RESULT_VERSION:
            raise ConfigError(f"{printable_path(path)}: a result file of another version "
                              f"({data.get('version')}); analyse the video again")
        student = Student(data, path)
        student.note = _note_for(student, notes or {})
        for s in data["segments"]:
            if s["action"] is None:
                continue
            reps = (s.get("reps") or {}).get("reps")
            before = student.counts.get(s["action"])
            if reps is not None:
                student.counts[s["action"]] = (before or 0) + int(reps)
            else:
                student.counts.setdefault(s["action"], None)
        students.append(student)
    return students


def _note_for(student: Student, notes: dict[str, str]) -> str:
    for key in (student.video, student.name, student.result["video"]["path"]):
        if key in notes:
            return notes[key]
    return ""


def read_notes(notes_file: str | Path | None, options: Sequence[str] = ()) -> dict[str, str]:
    """Notes per video: a JSON object {video: note} or a CSV with columns video,note, then
    `--note VIDEO=TEXT` options (which win). VIDEO: a file name, with or without extension."""
    from stmanet.fileio import read_text_file

    notes: dict[str, str] = {}
    if notes_file:
        path = Path(notes_file)
        text = read_text_file(path)
        if path.suffix.lower() == ".csv":
            reader = csv.DictReader(io.StringIO(text))
            if not reader.fieldnames or not {"video", "note"} <= set(reader.fieldnames):
                raise ConfigError(f"{printable_path(path)}: a notes CSV needs the columns "
                                  "video and note")
            notes.update({r["video"].strip(): (r["note"] or "").strip() for r in reader
                          if r.get("video")})
        else:
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise ConfigError(f"{printable_path(path)}: not JSON ({exc})") from exc
            if not isinstance(data, dict) or not all(isinstance(v, str)
                                                     for v in data.values()):
                raise ConfigError(f"{printable_path(path)}: notes must be a JSON object "
                                  "{\"VIDEO\": \"note\", ...}")
            notes.update({str(k): v for k, v in data.items()})
    for option in options:
        if "=" not in option:
            raise ConfigError(f"--note {option!r}: expected VIDEO=TEXT")
        key, text = option.split("=", 1)
        notes[key.strip()] = text.strip()
    return notes


def session_actions(students: Sequence[Student]) -> list[str]:
    """The actions seen in the session, in the model's class order."""
    seen = {a for s in students for a in s.seconds}
    order = students[0].result["class_names"] if students else []
    return [a for a in order if a in seen] + sorted(seen - set(order))


def session_rows(students: Sequence[Student]) -> tuple[list[str], list[dict[str, str]]]:
    """The session table: one row per video, seconds and reps per action (reps empty when
    none was counted), the time not a known action, the note."""
    actions = session_actions(students)
    header = ["student", "video", "total_s", "unknown_s"]
    for a in actions:
        header += [f"{a}_s", f"{a}_reps"]
    header.append("note")
    rows = []
    for st in students:
        row = {"student": st.name, "video": st.video, "total_s": f"{st.duration_s:.2f}",
               "unknown_s": "" if st.unknown_s is None else f"{st.unknown_s:.2f}",
               "note": st.note}
        for a in actions:
            row[f"{a}_s"] = f"{st.seconds.get(a, 0.0):.2f}"
            reps = st.counts.get(a)
            row[f"{a}_reps"] = "" if reps is None else str(reps)
        rows.append(row)
    return header, rows


def spreadsheet_safe(text: str) -> str:
    """Text a spreadsheet will not run as a formula (a note or name that starts with =, +,
    - or @ gets a leading apostrophe)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def session_csv(students: Sequence[Student]) -> str:
    header, rows = session_rows(students)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: spreadsheet_safe(v) if k in ("student", "video", "note") else v
                         for k, v in row.items()})
    return buffer.getvalue()


def model_line(result: dict[str, Any]) -> str:
    """"stmanet_r10 (demo.safetensors), top-1 99.2% on 400 test videos" or less; "; its
    attention was never trained" after it when so (its heatmaps would mean nothing)."""
    model = result["model"]
    text = f"{model['name']} ({model['file']})"
    acc = model.get("accuracy")
    if acc:
        where = " ".join(str(x) for x in (acc.get("videos"), acc.get("subset")) if x)
        text += f", top-1 accuracy {100 * acc['top1']:.1f}%" + (
            f" on {where} videos" if where else "")
    else:
        text += ", accuracy not recorded in the model file"
    if result.get("attention") == "untrained":
        text += "; its attention was never trained"
    return text


def fmt_seconds(seconds: float) -> str:
    seconds = max(0.0, float(seconds))
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f}" if minutes else f"{rest:.1f} s"


def session_model_line(students: Sequence[Student]) -> str:
    """The model of a session's results; all of them, when the videos were analysed with
    different models."""
    lines: dict[str, str] = {}
    for st in students:
        lines.setdefault(st.result["model"]["sha256"], model_line(st.result))
    if len(lines) == 1:
        return next(iter(lines.values()))
    return f"{len(lines)} different models: " + "; ".join(lines.values())
