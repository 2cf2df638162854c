"""One BLAS thread inside the library's own computations."""

from __future__ import annotations

import functools
import threading

_CONTROLLER = None
# per thread: how many one_blas_thread blocks are open (a nested block changes nothing)
_DEPTH = threading.local()


def one_blas_thread():
    """Context manager limiting BLAS to one thread (threadpoolctl).

    Used around computations whose BLAS calls are small or memory-bound
    (dot products of long vectors, small products): extra BLAS threads only
    spin there (on a 2-core machine the sparse R-peak detector took twice the
    CPU time for the same wall time), and multi-threaded BLAS reductions are
    not bit-reproducible across thread counts.  The threadpoolctl controller
    (which inspects the loaded libraries, a few ms) is built once.  A block
    opened inside another one in the same thread does nothing (the limit is
    already set; setting and restoring it again cost 10-20 us per call in the
    R-peak detector's per-chunk calls): the outermost block sets the limit and
    restores the caller's setting when it closes.
    """
    return _OneBlasThread()


class _OneBlasThread:
    """The context manager of :func:`one_blas_thread` (outermost block only)."""

    def __enter__(self):
        depth = getattr(_DEPTH, "value", 0)
        self._limiter = None
        if depth == 0:
            global _CONTROLLER
            if _CONTROLLER is None:
                from threadpoolctl import ThreadpoolController

                _CONTROLLER = ThreadpoolController()
            self._limiter = _CONTROLLER.limit(limits=1, user_api="blas")
        _DEPTH.value = depth + 1
        return self

    def __exit__(self, *exc_info):
        _DEPTH.value -= 1
        if self._limiter is not None:
            self._limiter.restore_original_limits()
        return False


def with_one_blas_thread(func):
    """Decorator: ``func`` runs inside :func:`one_blas_thread` (signature and
    docstring kept)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with one_blas_thread():
            return func(*args, **kwargs)

    return wrapper
