"""One BLAS thread inside the library's own computations."""

from __future__ import annotations

import contextlib
import functools
import threading

_CONTROLLER = None
# per thread: whether a one_blas_thread block is open (a nested block changes nothing)
_OPEN = threading.local()


def _controller():
    """The threadpoolctl controller (it inspects the loaded libraries, a few ms): built once."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


@contextlib.contextmanager
def one_blas_thread():
    """Context manager limiting BLAS to one thread (threadpoolctl).

    Used around computations whose BLAS calls are small or memory-bound
    (dot products of long vectors, small products): extra BLAS threads only
    spin there (on a 2-core machine the sparse R-peak detector took twice the
    CPU time for the same wall time), and multi-threaded BLAS reductions are
    not bit-reproducible across thread counts.  The limit is set when the
    block is entered and is process-wide (threadpoolctl's); the caller's
    setting is restored when the block closes.  A block opened inside another
    one in the same thread does nothing (the limit is already set; setting and
    restoring it again cost several microseconds per call in the R-peak
    detector's per-chunk calls): only the outermost block sets and restores.
    """
    if getattr(_OPEN, "value", False):
        yield
        return
    # threadpoolctl's own enter/exit: it also hands back its control of the BLAS library,
    # which other threads need to set their own limits
    with _controller().limit(limits=1, user_api="blas"):
        _OPEN.value = True
        try:
            yield
        finally:
            _OPEN.value = False


def with_one_blas_thread(func):
    """Decorator: ``func`` runs inside :func:`one_blas_thread` (signature and
    docstring kept)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with one_blas_thread():
            return func(*args, **kwargs)

    return wrapper
