"""numpy's BLAS on one thread while repetitions are counted (stmanet/engine/blas_threads.py)."""

import threading

import numpy as np
import pytest

from stmanet.engine import blas_threads
from stmanet.engine.blas_threads import blas_api, single_blas_thread


def test_one_blas_thread_inside_the_block_and_the_old_number_after():
    api = blas_api()
    if api is None:
        pytest.skip("this numpy has no OpenBLAS whose threads can be set")
    get, set_ = api
    before = get()
    set_(2)
    try:
        with single_blas_thread():
            assert get() == 1
            with single_blas_thread():  # nested: still one, and not restored early
                assert get() == 1
            assert get() == 1
        assert get() == 2
    finally:
        set_(before)


def test_blocks_in_two_threads_restore_only_when_both_have_left():
    api = blas_api()
    if api is None:
        pytest.skip("this numpy has no OpenBLAS whose threads can be set")
    get, set_ = api
    before = get()
    set_(2)
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with single_blas_thread():
            inside.set()
            leave.wait(10)

    worker = threading.Thread(target=other)
    try:
        with single_blas_thread():
            worker.start()
            assert inside.wait(10)
        assert get() == 1  # the other block is still running
        leave.set()
        worker.join(10)
        assert get() == 2
    finally:
        leave.set()
        set_(before)


def test_without_an_openblas_to_set_the_block_runs_unchanged(monkeypatch):
    monkeypatch.setattr(blas_threads, "_api", None)
    with single_blas_thread():
        product = np.ones((3, 4), np.float32) @ np.ones((4, 2), np.float32)
    assert product.tolist() == [[4.0, 4.0]] * 3
