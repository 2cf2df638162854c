"""Signal, recovered events and reconstruction of a sparse deconvolution."""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array
from ._common import check_1d_signal, new_axes, time_axis


def _event_amplitudes(coef, name, n_samples):
    arr = as_float_array(coef, name, ndim=(1, 2))
    if arr.shape[-1] != n_samples:
        raise ValueError(f"{name} must have {n_samples} samples along its last axis "
                         f"(the signal's length), got shape {arr.shape}")
    return arr.reshape(-1, n_samples)


def plot_deconvolution(signal, coef, reconstruction=None, *, sampling_rate=None,
                       true_coef=None, clean=None, title=None, figsize=(10, 5)):
    """Plot a signal with its reconstruction (top) and the recovered events (bottom).

    Parameters
    ----------
    signal : array_like, shape (n_samples,)
        Observed signal ``y``.
    coef : array_like, shape (n_samples,) or (n_kernels, n_samples)
        Recovered event amplitudes ``s`` (one row per kernel for a dictionary);
        non-zero entries are drawn as stems, one colour per kernel.
    reconstruction : array_like, shape (n_samples,), optional
        ``H s``, drawn over the signal.
    sampling_rate : float, optional
        In Hz; the time axis is in seconds when given, in samples otherwise.
    true_coef : array_like, optional
        True events (same shape as ``coef`` or 1-D), drawn as hollow markers.
    clean : array_like, shape (n_samples,), optional
        The noise-free signal, drawn dashed.
    title : str, optional
    figsize : tuple

    Returns
    -------
    matplotlib.figure.Figure
        Two panels sharing the time axis; ``fig.axes[0]`` holds the signals
        (lines labelled "signal", "reconstruction", "clean"), ``fig.axes[1]``
        the events.
    """
    y = check_1d_signal(signal, "signal")
    n = y.size
    rows = _event_amplitudes(coef, "coef", n)
    rec = None if reconstruction is None else check_1d_signal(reconstruction, "reconstruction")
    if rec is not None and rec.size != n:
        raise ValueError(f"reconstruction must have {n} samples, got {rec.size}")
    cl = None if clean is None else check_1d_signal(clean, "clean")
    if cl is not None and cl.size != n:
        raise ValueError(f"clean must have {n} samples, got {cl.size}")
    truth = None if true_coef is None else _event_amplitudes(true_coef, "true_coef", n)

    t, xlabel = time_axis(n, sampling_rate)
    fig, (ax0, ax1) = new_axes(None, 2, figsize=figsize)
    ax0.plot(t, y, color="0.6", lw=0.8, label="signal")
    if cl is not None:
        ax0.plot(t, cl, color="k", lw=0.8, ls="--", label="clean")
    if rec is not None:
        ax0.plot(t, rec, color="C3", lw=1.0, label="reconstruction")
    ax0.legend(loc="upper right", fontsize="small")
    ax0.set_ylabel("amplitude")
    ax1.axhline(0, color="0.7", lw=0.5)
    for p, row in enumerate(rows):
        idx = np.flatnonzero(row)
        label = "recovered events" if rows.shape[0] == 1 else f"recovered, kernel {p}"
        ax1.vlines(t[idx], 0, row[idx], color=f"C{p}", lw=1.0)
        ax1.plot(t[idx], row[idx], "o", color=f"C{p}", ms=3, label=label)
    if truth is not None:
        total = truth.sum(axis=0) if truth.shape[0] > 1 and rows.shape[0] == 1 else None
        for p, row in enumerate(truth if total is None else total[None]):
            idx = np.flatnonzero(row)
            ax1.plot(t[idx], row[idx], "o", mfc="none", mec="k", ms=6,
                     label="true events" if p == 0 else None)
    ax1.legend(loc="upper right", fontsize="small")
    ax1.set_ylabel("event amplitude")
    ax1.set_xlabel(xlabel)
    if title:
        fig.suptitle(title)
    return fig
