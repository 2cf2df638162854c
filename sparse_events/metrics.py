"""Scores for sparse deconvolution results."""

from __future__ import annotations

import numpy as np

from ._validation import as_float_array, check_int

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


def min_distance_violations(coef, min_distance: int) -> int:
    """Number of pairs of consecutive events closer than ``min_distance`` samples.

    For a dictionary (2-D ``coef``, kernels along the first axis) an event is a
    time with any non-zero coefficient.
    """
    coef = as_float_array(coef, "coef", ndim=(1, 2), allow_empty=True)
    min_distance = check_int(min_distance, "min_distance", low=1)
    active = np.any(coef.reshape(-1, coef.shape[-1]) != 0, axis=0)
    t = np.flatnonzero(active)
    return int(np.sum(np.diff(t) < min_distance))
