import os
from pathlib import Path

import numpy as np
import pytest
import torch

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One compute thread: tiny models gain nothing from more, and lose much on a busy CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TRUNCATED_CLAIM = 455
"""Frames the `truncated` file's index still promises."""


@pytest.fixture(scope="session")
def truncated(tmp_path_factory) -> tuple[Path, int]:
    """An H.264 MP4 of TRUNCATED_CLAIM frames, index at the front, cut in half: the container
    still claims every frame. Returns the file and the number of frames that really decode."""
    import av
    import cv2

    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("truncated") / "cut.mp4"
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(TRUNCATED_CLAIM):
            frame = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    capture = cv2.VideoCapture(str(path))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == TRUNCATED_CLAIM  # the promise
    decodable = 0
    while capture.grab():
        decodable += 1
    capture.release()
    assert 0 < decodable < TRUNCATED_CLAIM
    return path, decodable
