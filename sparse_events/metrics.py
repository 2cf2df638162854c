"""Scores for sparse deconvolution results."""

from __future__ import annotations

import numpy as np

from ._validation import as_float_array, check_bool, check_int

__all__ = ["reconstruction_snr_db", "sparsity", "min_distance_violations"]


def reconstruction_snr_db(reference, estimate) -> float:
    """``10 log10(||reference||^2 / ||reference - estimate||^2)`` in dB."""
    ref = as_float_array(reference, "reference")
    est = as_float_array(estimate, "estimate")
    if ref.shape != est.shape:
        raise ValueError(f"reference and estimate shapes differ: {ref.shape} vs {est.shape}")
    err = float(np.sum((ref - est) ** 2))
    sig = float(np.sum(ref ** 2))
    if err == 0.0:
        return float("inf")
    return 10.0 * np.log10(sig / err) if sig > 0 else float("-inf")


def sparsity(coef) -> float:
    """Fraction of non-zero entries of ``coef`` (any shape, not empty, finite)."""
    coef = as_float_array(coef, "coef")
    return float(np.count_nonzero(coef)) / coef.size


def min_distance_violations(coef, min_distance: int, *, batch: bool = False):
    """Number of pairs of consecutive events closer than ``min_distance`` samples.

    Parameters
    ----------
    coef : array_like
        Coefficients, time along the last axis.  Without ``batch``: one signal,
        1-D ``(N,)`` or a dictionary result ``(P, N)`` (kernels along the first
        axis), where an event is a time with any non-zero coefficient.  With
        ``batch=True``: a batch result, ``(n_signals, N)`` (one kernel) or
        ``(n_signals, P, N)`` (a dictionary), scored signal by signal.
    min_distance : int
        Shortest allowed distance between two events, in samples (``>= 1``).
    batch : bool, default=False
        Whether the first axis of ``coef`` indexes signals.  A 2-D array is
        ambiguous: the batch result of :func:`~sparse_events.deconvolve` or
        :func:`~sparse_events.cross_products_deconvolve` with one kernel,
        ``(n_signals, N)``, has the shape of a one-signal dictionary result
        ``(P, N)``.  The default reads it as a dictionary (its rows merged into
        one event sequence): pass ``batch=True`` for a batch result, or the
        events of different signals would be counted as one signal's.

    Returns
    -------
    int or ndarray of int
        The count; with ``batch=True`` an array of one count per signal.
    """
    batch = check_bool(batch, "batch")
    if not batch and np.ndim(coef) == 3:
        raise ValueError(f"coef of shape {np.shape(coef)} is 3-D: a batch result "
                         "(n_signals, P, N) needs batch=True (scored signal by signal)")
    coef = as_float_array(coef, "coef", ndim=(2, 3) if batch else (1, 2), allow_empty=True)
    min_distance = check_int(min_distance, "min_distance", low=1)
    if batch:
        active = np.any(coef.reshape(coef.shape[0], -1, coef.shape[-1]) != 0, axis=1)
        return np.array([_count_close(row, min_distance) for row in active], dtype=np.int64)
    return _count_close(np.any(coef.reshape(-1, coef.shape[-1]) != 0, axis=0), min_distance)


def _count_close(active, min_distance):
    """Consecutive ``True`` entries of the 1-D mask ``active`` closer than ``min_distance``."""
    return int(np.sum(np.diff(np.flatnonzero(active)) < min_distance))
