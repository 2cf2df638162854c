"""One BLAS thread inside the library's own computations."""

from __future__ import annotations

import functools

_CONTROLLER = None


def one_blas_thread():
    """Context manager limiting BLAS to one thread (threadpoolctl).

    Used around computations whose BLAS calls are small or memory-bound
    (dot products of long vectors, small products): extra BLAS threads only
    spin there (on a 2-core machine the sparse R-peak detector took twice the
    CPU time for the same wall time), and multi-threaded BLAS reductions are
    not bit-reproducible across thread counts.  The threadpoolctl controller
    (which inspects the loaded libraries, a few ms) is built once.
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


def with_one_blas_thread(func):
    """Decorator: ``func`` runs inside :func:`one_blas_thread` (signature and
    docstring kept)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with one_blas_thread():
            return func(*args, **kwargs)

    return wrapper
