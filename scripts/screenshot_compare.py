"""docs/screenshots/compare.png: Compare videos on two generated drills, lined up by
repetitions, rendered offscreen at 1600 x 1000.

    QT_QPA_PLATFORM=offscreen python scripts/screenshot_compare.py [--out FILE]

A: 2 s of squats then 6 s of jumping jacks; B: the same figure with a longer lead-in and its
jumping jacks 1.25 times slower (as tests/gui/test_compare.py). Both are analysed with the
demo model, lined up repetition by repetition, and shown at A's frame 131.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def wait_until(condition, timeout_s: float) -> None:
    from PySide6.QtCore import QCoreApplication

    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            sys.exit(f"not done within {timeout_s:.0f} s")
        QCoreApplication.processEvents()
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots" / "compare.png"))
    args = parser.parse_args()

    from PySide6.QtWidgets import QApplication

    from app.controllers.compare import CompareController
    from app.theme import apply_theme
    from stmanet.bundled import bundled_demo_model
    from stmanet.data.synthetic import render_sequence, write_video

    app = QApplication.instance() or QApplication([])
    apply_theme(app)
    folder = Path(tempfile.mkdtemp())
    a, _ = render_sequence([("squats", 2.0), ("jumping_jacks", 6.0)], seed=3, size=(320, 240))
    b, _ = render_sequence([("squats", 2.8), ("jumping_jacks", 6.0)], seed=3, fps=25.0 * 1.25,
                           size=(320, 240))
    path_a = write_video(folder / "model.mp4", a)
    path_b = write_video(folder / "student.mp4", b)
    errors: list[tuple[str, str]] = []
    compare = CompareController(bundled_demo_model(),
                                present_error=lambda t, m: errors.append((t, m)))
    compare.view.resize(1600, 1000)
    compare.view.show()
    wait_until(lambda: compare.service.model is not None, 60)
    compare.open_videos(path_a, path_b)
    wait_until(lambda: all(compare.side(s).player.source_info() for s in "AB"), 30)
    compare.analyse()
    wait_until(lambda: not compare.is_busy() and all(
        compare.side(s).analysis and compare.side(s).study for s in "AB"), 300)
    combo = compare.view.mode_combo
    combo.setCurrentIndex(combo.findData("reps"))
    wait_until(lambda: not compare.is_busy(), 30)
    compare.seek(131)
    wait_until(lambda: compare.side("A").player.current_index() == 131, 10)
    end = time.monotonic() + 1.0
    while time.monotonic() < end:  # the B side and the readout settle
        app.processEvents()
        time.sleep(0.02)
    if errors:
        sys.exit(f"errors: {errors}")
    compare.view.grab().save(args.out)
    print(args.out)
    compare.shutdown()


if __name__ == "__main__":
    main()
