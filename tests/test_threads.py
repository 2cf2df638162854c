"""The one-BLAS-thread limiter: sets one thread, restores the caller's setting, nests, and
leaves other threads free to set their own limits."""

import threading

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
        assert _blas_threads() == {2}  # else the restore checks below would hold trivially
        yield _blas_threads()


def test_limits_to_one_and_restores(two_blas_threads):
    with _threads.one_blas_thread():
        assert _blas_threads() == {1}
    assert _blas_threads() == two_blas_threads


def test_nested_blocks_keep_the_limit_until_the_outermost_closes(two_blas_threads, monkeypatch):
    calls = []
    controller = _threads._controller()
    limit = controller.limit

    def counting_limit(**kwargs):
        calls.append(kwargs)
        return limit(**kwargs)

    monkeypatch.setattr(controller, "limit", counting_limit)
    with _threads.one_blas_thread():
        with _threads.one_blas_thread():
            assert _blas_threads() == {1}
        assert _blas_threads() == {1}  # the inner block did not restore the caller's setting
        with _threads.one_blas_thread():
            pass
    assert _blas_threads() == two_blas_threads
    assert calls == [dict(limits=1, user_api="blas")]  # only the outermost block set it
    assert _threads._OPEN.value is False


def test_depth_restored_after_an_exception(two_blas_threads):
    @_threads.with_one_blas_thread
    def fails():
        with _threads.one_blas_thread():
            raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        fails()
    assert _threads._OPEN.value is False
    assert _blas_threads() == two_blas_threads
    # and the next block sets the limit again
    with _threads.one_blas_thread():
        assert _blas_threads() == {1}


def test_other_threads_can_set_their_own_limits_afterwards():
    # threadpoolctl lets one thread at a time control a (non-OpenMP) BLAS; a closed block must
    # hand that control back, or another thread's limits would silently do nothing
    with _threads.one_blas_thread():
        pass
    seen = []

    def worker():
        with threadpool_limits(limits=3, user_api="blas"):
            seen.append(_blas_threads())
        with _threads.one_blas_thread():
            seen.append(_blas_threads())

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == [{3}, {1}]


def test_an_instance_cannot_be_entered_twice():
    cm = _threads.one_blas_thread()
    with cm:
        with pytest.raises((RuntimeError, AttributeError, TypeError)):
            with cm:
                pass


def test_decorator_keeps_result_and_metadata():
    @_threads.with_one_blas_thread
    def f(a, b=2):
        """Doc."""
        return np.dot(a, a) + b

    assert f(np.arange(3.0)) == 5.0 + 2
    assert f.__doc__ == "Doc." and f.__name__ == "f"
