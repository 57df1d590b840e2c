"""Reports as HTML pages that stand alone: the figures are PNG data URIs, the style sheet is
inline (with print rules: A4, no page break inside a figure or a table row), every text from
a file or a user goes through html.escape."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape
from string import Template
from typing import Any

from stmanet.report.figures import UNKNOWN_COLOUR, heatmap_note
from stmanet.report.session import (
    UNKNOWN_LABEL,
    Student,
    fmt_seconds,
    model_line,
    session_actions,
    session_model_line,
)

CSS = """
body { font-family: "DejaVu Sans", Arial, Helvetica, sans-serif; color: #222; margin: 2em auto;
       max-width: 60em; padding: 0 1em; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin: 1.2em 0 0.4em;
     border-bottom: 1px solid #ccc; }
.meta { color: #555; margin: 0.2em 0; } .note { background: #fff8dc; border-left: 4px solid
     #e0b400; padding: 0.5em 0.8em; white-space: pre-wrap; }
img { max-width: 100%; display: block; } table { border-collapse: collapse; margin: 0.4em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; } th { background: #f0f0f0; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 0.4em;
          vertical-align: baseline; }
.two { display: flex; gap: 2em; align-items: flex-start; flex-wrap: wrap; }
.two > div:last-child { flex: 1 1 22em; min-width: 0; }
.session th, .session td { font-size: 0.85em; padding: 0.2em 0.4em; white-space: nowrap; }
.session th { white-space: normal; vertical-align: bottom; }
.muted { color: #777; } footer { margin-top: 2em; color: #777; font-size: 0.85em; }
@page { size: A4; margin: 14mm; }
@media print { body { margin: 0; max-width: none; font-size: 10pt; }
  h2, img, tr, .note { break-inside: avoid; page-break-inside: avoid; }
  h2 { break-after: avoid; page-break-after: avoid; } a { color: inherit; text-decoration: none; }
  .noprint { display: none; } }
"""

PAGE = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>$title</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>$css</style></head>
<body>
$body
<footer>$footer</footer>
</body></html>
""")


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _img(png: bytes, alt: str) -> str:
    return f'<img src="{data_uri(png)}" alt="{escape(alt)}">'


def _swatch(colour: Any) -> str:
    from matplotlib.colors import to_hex

    return f'<span class="swatch" style="background:{to_hex(colour)}"></span>'


def _reps_cells(segment: dict[str, Any]) -> str:
    reps = segment.get("reps")
    if segment["action"] is None or not reps:
        return '<td class="muted">-</td><td class="muted">-</td><td class="muted">-</td>'
    if reps["reps"] is None:
        return (f'<td class="muted" colspan="3" style="text-align:left">not counted: '
                f'{escape(reps.get("reason") or "no repeating motion")}</td>')
    pace = f"{reps['reps_per_min']:.0f}/min" if reps.get("reps_per_min") else "-"
    even = f"{100 * reps['pace_cv']:.0f}%" if reps.get("pace_cv") is not None else "-"
    return f"<td>{reps['reps']}</td><td>{pace}</td><td>{even}</td>"


def student_page(student: Student, colours: dict[str, Any], figures: dict[str, bytes], *,
                 session_link: str | None, made: str) -> str:
    """One student's report; `figures`: PNGs "timeline", "seconds" and, when the video
    could be read, "frames" (with an attention heatmap over one, or, where there is none,
    why: a result of a model whose attention never learnt says so above the frames)."""
    r = student.result
    parts = [f"<h1>{escape(student.name)}</h1>",
             f'<p class="meta">Video {escape(student.video)} · {fmt_seconds(r["duration_s"])}'
             f' · {r["num_frames"]} frames at {r["fps"]:g} fps</p>',
             f'<p class="meta">Model: {escape(model_line(r))}</p>']
    if session_link:
        parts.append(f'<p class="meta noprint"><a href="{escape(session_link)}">'
                     "&larr; session report</a></p>")
    if student.note:
        parts.append(f'<div class="note"><strong>Note:</strong> {escape(student.note)}</div>')
    parts += ["<h2>Timeline</h2>", _img(figures["timeline"], "timeline of the video")]
    rows = [f"<tr><td>{_swatch(colours[a])}{escape(a.replace('_', ' '))}</td>"
            f"<td>{fmt_seconds(s)}</td><td>{100 * s / r['duration_s']:.0f}%</td>"
            f"<td>{'-' if student.counts.get(a) is None else student.counts[a]}</td></tr>"
            for a, s in sorted(student.seconds.items(), key=lambda kv: -kv[1])]
    if student.unknown_s is not None:
        rows.append(f"<tr><td>{_swatch(UNKNOWN_COLOUR)}{UNKNOWN_LABEL}</td>"
                    f"<td>{fmt_seconds(student.unknown_s)}</td>"
                    f"<td>{100 * student.unknown_s / r['duration_s']:.0f}%</td>"
                    "<td>-</td></tr>")
    told = ("" if r.get("can_tell_unknowns") else
            '<p class="muted">This model cannot tell footage of its actions from anything '
            "else: no time is shown as not a known action.</p>")
    parts += ['<h2>Time per action</h2><div class="two"><div><table><thead><tr><th>action'
              "</th><th>time</th><th>share</th><th>reps</th></tr></thead>" + "".join(rows) +
              f"</table>{told}</div><div>" + _img(figures["seconds"], "seconds per action") +
              "</div></div>"]
    seg_rows = []
    for s in r["segments"]:
        name = UNKNOWN_LABEL if s["action"] is None else s["action"].replace("_", " ")
        colour = UNKNOWN_COLOUR if s["action"] is None else colours[s["action"]]
        seg_rows.append(f"<tr><td>{_swatch(colour)}{escape(name)}</td>"
                        f"<td>{s['start_s']:.1f}</td><td>{s['end_s']:.1f}</td>"
                        f"<td>{s['end_s'] - s['start_s']:.1f}</td>{_reps_cells(s)}</tr>")
    parts += ["<h2>Counts and pace per drill</h2><table><thead><tr><th>segment</th>"
              "<th>from (s)</th><th>to (s)</th><th>seconds</th><th>reps</th><th>pace</th>"
              "<th>pace varies</th></tr></thead>" + "".join(seg_rows) + "</table>"
              '<p class="muted">Pace: repetitions per minute; pace varies: how much the '
              "time of one repetition varies (0% is a perfectly even pace).</p>"]
    parts.append("<h2>Key frames</h2>")
    if "frames" in figures:
        # said before the frames when the attention never learnt: nothing on them is a map
        note = escape(heatmap_note(r), quote=False)
        untrained = r.get("attention") == "untrained"
        if untrained:
            parts.append(f'<p class="note">{note}</p>')
        parts.append(_img(figures["frames"], "a key frame of each segment"))
        if not untrained:
            parts.append(f'<p class="muted">{note}</p>')
    else:
        parts.append(f'<p class="muted">The video {escape(r["video"]["path"])} could not '
                     "be read, so no key frames are shown.</p>")
    return PAGE.substitute(title=escape(f"{student.name}: activity report"), css=CSS,
                           body="\n".join(parts), footer=escape(made))


def session_page(students: Sequence[Student], colours: dict[str, Any], figure: bytes,
                 links: dict[str, str], *, title: str, made: str) -> str:
    """The session's report: every timeline, and the session table with a link per
    student."""
    actions = session_actions(students)
    head = "".join(f"<th>{_swatch(colours[a])}{escape(a.replace('_', ' '))}</th>"
                   for a in actions)
    rows = []
    for st in students:
        cells = []
        for a in actions:
            seconds = st.seconds.get(a, 0.0)
            reps = st.counts.get(a)
            cells.append("<td class=\"muted\">-</td>" if seconds == 0 else
                         f"<td>{seconds:.1f} s" + ("" if reps is None else f"<br>{reps}×") +
                         "</td>")
        unknown = "-" if st.unknown_s is None else f"{st.unknown_s:.1f} s"
        rows.append(f'<tr><td><a href="{escape(links[str(st.file)])}">{escape(st.name)}</a></td>'
                    f"<td>{st.duration_s:.1f} s</td>{''.join(cells)}<td>{unknown}</td></tr>")
    total = sum(st.duration_s for st in students)
    body = [f"<h1>{escape(title)}</h1>",
            f'<p class="meta">{len(students)} video(s), {fmt_seconds(total)} in all</p>',
            f'<p class="meta">Model: {escape(session_model_line(students))}</p>',
            "<h2>Timelines</h2>", _img(figure, "every video's timeline"),
            '<h2>Session table</h2><table class="session"><thead><tr><th>student</th>'
            "<th>length</th>" + head + f"<th>{UNKNOWN_LABEL}</th></tr></thead>" +
            "".join(rows) + "</table>",
            '<p class="muted">Seconds per action and repetitions counted (×); the same '
            'numbers, and the notes, are in <a href="session.csv">session.csv</a>.</p>']
    noted = [st for st in students if st.note]
    if noted:
        body.append("<h2>Notes</h2><dl>" + "".join(
            f"<dt><strong>{escape(st.name)}</strong></dt><dd>{escape(st.note)}</dd>"
            for st in noted) + "</dl>")
    return PAGE.substitute(title=escape(title), css=CSS, body="\n".join(body),
                           footer=escape(made))
