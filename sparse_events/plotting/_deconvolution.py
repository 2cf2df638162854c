"""Signal, recovered events and reconstruction of a sparse deconvolution."""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array, check_option
from ._common import check_1d_signal, new_axes, time_axis, to_time


#: convolution modes whose coefficients can be drawn (those of ``deconvolve``)
PLOT_MODES = ("causal", "same", "full", "valid")


def _event_amplitudes(coef, name, n_samples, mode):
    """``coef`` as rows ``(n_kernels, n_coef)`` and the signal sample of ``coef[..., 0]``.

    ``n_coef`` must be ``n_samples`` for "causal"/"same", at most ``n_samples``
    for "full" (``M - L + 1``) and at least ``n_samples`` for "valid"
    (``M + L - 1``, the first ``L - 1`` events starting before the signal).
    """
    arr = as_float_array(coef, name, ndim=(1, 2))
    n_coef = arr.shape[-1]
    fits = {"causal": n_coef == n_samples, "same": n_coef == n_samples,
            "full": n_coef <= n_samples, "valid": n_coef >= n_samples}[mode]
    if not fits:
        expected = {"causal": f"{n_samples} (the signal's length)",
                    "same": f"{n_samples} (the signal's length)",
                    "full": f"at most {n_samples} (M - L + 1)",
                    "valid": f"at least {n_samples} (M + L - 1)"}[mode]
        hint = ""
        if mode in ("causal", "same"):
            other = "full" if n_coef < n_samples else "valid"
            hint = f"; for the coefficients of a mode={other!r} deconvolution pass mode={other!r}"
        raise ValueError(f"{name} must have {expected} samples along its last axis for "
                         f"mode={mode!r}, got shape {arr.shape}{hint}")
    first = n_samples - n_coef if mode == "valid" else 0
    return arr.reshape(-1, n_coef), first


def plot_deconvolution(signal, coef, reconstruction=None, *, sampling_rate=None,
                       true_coef=None, clean=None, mode="causal", title=None,
                       figsize=(10, 5)):
    """Plot a signal with its reconstruction (top) and the recovered events (bottom).

    Parameters
    ----------
    signal : array_like, shape (n_samples,)
        Observed signal ``y``.
    coef : array_like, shape (n_coef,) or (n_kernels, n_coef)
        Recovered event amplitudes ``s`` (one row per kernel for a dictionary);
        non-zero entries are drawn as stems, one colour per kernel.  ``n_coef``
        depends on ``mode``.
    reconstruction : array_like, shape (n_samples,), optional
        ``H s``, drawn over the signal.
    sampling_rate : float, optional
        In Hz; the time axis is in seconds when given, in samples otherwise.
    true_coef : array_like, optional
        True events (same shape as ``coef`` or 1-D), drawn as hollow markers.
    clean : array_like, shape (n_samples,), optional
        The noise-free signal, drawn dashed.
    mode : {"causal", "same", "full", "valid"}
        Convolution mode of the deconvolution that gave ``coef``.  "causal"
        and "same": ``n_coef = n_samples`` and ``coef[j]`` is drawn at sample
        ``j`` (the kernel's start for "causal", its centre for "same").
        "full": ``n_coef = n_samples - L + 1`` and ``coef[j]`` is drawn at
        sample ``j``, where its kernel starts.  "valid": ``n_coef = n_samples +
        L - 1`` and ``coef[j]`` is drawn at sample ``j - (L - 1)``, where its
        kernel starts (before the signal for ``j < L - 1``), with ``L - 1 =
        n_coef - n_samples``.  ``ValueError`` when ``n_coef`` does not fit the
        mode (the message names the mode that would).
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
    mode = check_option(mode, "mode", PLOT_MODES)
    rows, first = _event_amplitudes(coef, "coef", n, mode)
    rec = None if reconstruction is None else check_1d_signal(reconstruction, "reconstruction")
    if rec is not None and rec.size != n:
        raise ValueError(f"reconstruction must have {n} samples, got {rec.size}")
    cl = None if clean is None else check_1d_signal(clean, "clean")
    if cl is not None and cl.size != n:
        raise ValueError(f"clean must have {n} samples, got {cl.size}")
    truth = None
    if true_coef is not None:
        truth, _ = _event_amplitudes(true_coef, "true_coef", n, mode)
        if truth.shape[-1] != rows.shape[-1]:
            raise ValueError(f"true_coef must have {rows.shape[-1]} samples along its last "
                             f"axis (as coef), got {truth.shape[-1]}")

    t, xlabel = time_axis(n, sampling_rate)
    # time of each coefficient (its event's sample, possibly before the signal: "valid")
    t_coef = to_time(np.arange(rows.shape[-1]) + first, sampling_rate)
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
        ax1.vlines(t_coef[idx], 0, row[idx], color=f"C{p}", lw=1.0)
        ax1.plot(t_coef[idx], row[idx], "o", color=f"C{p}", ms=3, label=label)
    if truth is not None:
        total = truth.sum(axis=0) if truth.shape[0] > 1 and rows.shape[0] == 1 else None
        for p, row in enumerate(truth if total is None else total[None]):
            idx = np.flatnonzero(row)
            ax1.plot(t_coef[idx], row[idx], "o", mfc="none", mec="k", ms=6,
                     label="true events" if p == 0 else None)
    ax1.legend(loc="upper right", fontsize="small")
    ax1.set_ylabel("event amplitude")
    ax1.set_xlabel(xlabel)
    if title:
        fig.suptitle(title)
    return fig
