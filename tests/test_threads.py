"""The one-BLAS-thread limiter: sets one thread, restores the caller's setting, nests."""

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from sparse_events import _threads


def _blas_threads():
    return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}


@pytest.fixture
def two_blas_threads():
    if not _blas_threads():
        pytest.fail("numpy's BLAS is not seen by threadpoolctl")
    with threadpool_limits(limits=2, user_api="blas"):
        yield _blas_threads()


def test_limits_to_one_and_restores(two_blas_threads):
    with _threads.one_blas_thread():
        assert _blas_threads() == {1}
    assert _blas_threads() == two_blas_threads


def test_nested_blocks_keep_the_limit_until_the_outermost_closes(two_blas_threads, monkeypatch):
    calls = []
    _threads.one_blas_thread()  # build the controller
    limit = _threads._CONTROLLER.limit

    def counting_limit(**kwargs):
        calls.append(kwargs)
        return limit(**kwargs)

    monkeypatch.setattr(_threads._CONTROLLER, "limit", counting_limit)
    with _threads.one_blas_thread():
        with _threads.one_blas_thread():
            assert _blas_threads() == {1}
        assert _blas_threads() == {1}  # the inner block did not restore the caller's setting
        with _threads.one_blas_thread():
            pass
    assert _blas_threads() == two_blas_threads
    assert calls == [dict(limits=1, user_api="blas")]  # only the outermost block set it
    assert _threads._DEPTH.value == 0


def test_depth_restored_after_an_exception(two_blas_threads):
    @_threads.with_one_blas_thread
    def fails():
        with _threads.one_blas_thread():
            raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        fails()
    assert _threads._DEPTH.value == 0
    assert _blas_threads() == two_blas_threads
    # and the next block sets the limit again
    with _threads.one_blas_thread():
        assert _blas_threads() == {1}


def test_decorator_keeps_result_and_metadata():
    @_threads.with_one_blas_thread
    def f(a, b=2):
        """Doc."""
        return np.dot(a, a) + b

    assert f(np.arange(3.0)) == 5.0 + 2
    assert f.__doc__ == "Doc." and f.__name__ == "f"
