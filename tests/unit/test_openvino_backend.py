"""The OpenVINO backend's tests (openvino_cases.py), run by pytest in a process of their own,
so that OpenVINO's runtime never shares the suite's process with Qt and torch.compile: a
segmentation fault was seen in the suite's process once they had."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("openvino")


@pytest.mark.slow
def test_the_openvino_backend_in_a_process_of_its_own():
    cases = Path(__file__).with_name("openvino_cases.py")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(cases)], capture_output=True, text=True, timeout=1800,
                          cwd=Path(__file__).parents[2], check=False)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout
