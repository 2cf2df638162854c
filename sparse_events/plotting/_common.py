"""Shared helpers of the plotting functions (time axis, axes creation)."""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array, check_sampling_rate


def time_axis(n_samples: int, sampling_rate):
    """Sample times in seconds (``sampling_rate`` given) or sample indices, and the label."""
    if sampling_rate is None:
        return np.arange(n_samples, dtype=float), "sample"
    fs = check_sampling_rate(sampling_rate)
    return np.arange(n_samples) / fs, "time (s)"


def to_time(indices, sampling_rate):
    idx = np.asarray(indices, dtype=float)
    return idx if sampling_rate is None else idx / float(sampling_rate)


def check_1d_signal(x, name: str) -> np.ndarray:
    return as_float_array(x, name, ndim=1)


def as_event_indices(idx, name: str) -> np.ndarray:
    """Integer-valued, finite, 1-D sample indices as ``int64`` (empty allowed).

    Raises ``TypeError`` for strings, complex or object input and ``ValueError``
    for NaN/inf, fractional values or a wrong number of dimensions.
    """
    arr = as_float_array(idx, name, ndim=1, allow_empty=True)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if np.any(arr != np.round(arr)):
        bad = arr[arr != np.round(arr)][0]
        raise ValueError(f"{name} must hold integer sample indices, got the value {bad}")
    return arr.astype(np.int64)


def check_indices(idx, name: str, n_samples: int) -> np.ndarray:
    """Integer sample indices inside ``[0, n_samples)`` (empty allowed)."""
    arr = as_event_indices(idx, name)
    if arr.size == 0:
        return arr
    if arr.min() < 0 or arr.max() >= n_samples:
        raise ValueError(
            f"{name} must lie in [0, {n_samples}) (the signal's samples), "
            f"got values from {arr.min()} to {arr.max()}")
    return arr


def new_axes(ax, nrows=1, *, figsize=None, sharex=True):
    """Return ``(fig, axes)``: the given axes' figure, or a new figure."""
    import matplotlib.pyplot as plt

    if ax is not None:
        if nrows != 1:
            raise ValueError("ax= can only be given for a single-panel plot")
        return ax.figure, [ax]
    fig, axes = plt.subplots(nrows, 1, figsize=figsize, sharex=sharex, squeeze=False,
                             layout="constrained")
    return fig, list(axes[:, 0])
