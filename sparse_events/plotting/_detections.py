"""Detections against a reference, with misses and false alarms marked."""

from __future__ import annotations

import numpy as np

from .._validation import check_sampling_rate, check_scalar
from ._common import (as_event_indices, check_1d_signal, check_indices, new_axes, time_axis,
                      to_time)


def match_events(detections, reference, tolerance):
    """Pair detections with reference events one-to-one within ``tolerance`` samples.

    Candidate pairs ``|d - r| <= tolerance`` are accepted in order of increasing
    distance (ties: earlier reference first), each event used at most once; this
    is the closest-first matching used to mark misses and false alarms in plots
    (the EC57 scorer of :mod:`sparse_events.ecg` applies the standard's own
    rules; pass its ``missed_reference``/``false_detections`` to
    :func:`plot_detections` to show exactly what it scored).

    Parameters
    ----------
    detections, reference : array_like of int
        Sample indices (1-D, finite, integer-valued; float input such as
        ``[10.0, 20.0]`` is accepted).
    tolerance : float
        Largest accepted distance, in samples.

    Returns
    -------
    pairs : ndarray of int, shape (n_pairs, 2)
        ``(detection, reference)`` sample pairs, sorted by reference.
    missed : ndarray of int
        Reference events without a detection.
    false_detections : ndarray of int
        Detections without a reference event.
    """
    det = np.sort(as_event_indices(detections, "detections"))
    ref = np.sort(as_event_indices(reference, "reference"))
    tol = check_scalar(tolerance, "tolerance", low=0)
    lo = np.searchsorted(ref, det - tol, side="left")
    hi = np.searchsorted(ref, det + tol, side="right")
    cand = [(abs(int(det[i]) - int(ref[j])), j, i)
            for i in range(det.size) for j in range(lo[i], hi[i])]
    cand.sort()
    used_d = np.zeros(det.size, bool)
    used_r = np.zeros(ref.size, bool)
    pairs = []
    for _, j, i in cand:
        if not used_d[i] and not used_r[j]:
            used_d[i] = used_r[j] = True
            pairs.append((det[i], ref[j]))
    pairs = np.array(sorted(pairs, key=lambda p: p[1]), dtype=np.int64).reshape(-1, 2)
    return pairs, ref[~used_r], det[~used_d]


_DEFAULT_TOLERANCE_S = 0.15  # the EC57 matching window


def _tolerance_samples(tolerance_s, tolerance_samples, sampling_rate):
    """The matching window in samples, from ``tolerance_samples`` or ``tolerance_s``
    (both already checked by the caller).

    Seconds are converted as :func:`sparse_events.ecg.evaluate` converts its
    ``match_window_s``: ``round(tolerance_s * sampling_rate)``, halves up.
    """
    if tolerance_samples is not None:
        if tolerance_s is not None:
            raise ValueError("give tolerance_s (seconds) or tolerance_samples, not both")
        return tolerance_samples
    if sampling_rate is None:
        raise ValueError(
            "tolerance_s is in seconds and needs sampling_rate to match detections with "
            "the reference (sampling_rate=None: the signal is in samples); pass "
            "sampling_rate, or the matching window in samples as tolerance_samples")
    tol = _DEFAULT_TOLERANCE_S if tolerance_s is None else tolerance_s
    return int(np.floor(tol * check_sampling_rate(sampling_rate) + 0.5))


def plot_detections(signal, detections, reference=None, *, sampling_rate=None,
                    tolerance_s=None, tolerance_samples=None, missed=None,
                    false_detections=None, start=None, stop=None, ax=None, title=None,
                    figsize=(10, 3.5)):
    """Plot a signal with detected events and, if given, the reference events.

    Correct detections are dots, missed reference events red crosses at the
    signal level, false detections orange triangles.

    Parameters
    ----------
    signal : array_like, shape (n_samples,)
    detections : array_like of int
        Detected sample indices (e.g. ``info["ECG_R_Peaks"]``).
    reference : array_like of int, optional
        Reference (annotated) sample indices.
    sampling_rate : float, optional
        In Hz; also converts ``tolerance_s`` to samples.  Without it the time
        axis is in samples, and matching detections with ``reference`` needs
        ``tolerance_samples`` (``ValueError`` otherwise).
    tolerance_s : float, optional
        Matching window in seconds, used when ``reference`` is given and
        ``missed``/``false_detections`` are not; default 0.15 s (the EC57
        window).  Converted to ``round(tolerance_s * sampling_rate)`` samples,
        as :func:`sparse_events.ecg.evaluate` converts ``match_window_s``;
        needs ``sampling_rate``.
    tolerance_samples : float, optional
        Matching window in samples instead of ``tolerance_s`` (not both); works
        without ``sampling_rate``.  The matching is :func:`match_events`
        (``|detection - reference| <= tolerance``).
    missed, false_detections : array_like of int, optional
        Sample indices to mark as misses / false alarms instead of matching here
        (e.g. ``EC57Result.missed_reference`` and ``.false_detections``).
    start, stop : int, optional
        Sample range to draw (events outside it are not drawn).
    ax : matplotlib.axes.Axes, optional
    title : str, optional
    figsize : tuple

    Returns
    -------
    matplotlib.figure.Figure
        Artists are labelled "signal", "detections", "reference", "missed",
        "false detections" (with the counts in the legend text).
    """
    y = check_1d_signal(signal, "signal")
    n = y.size
    if tolerance_s is not None:
        tolerance_s = check_scalar(tolerance_s, "tolerance_s", low=0)
    if tolerance_samples is not None:
        tolerance_samples = check_scalar(tolerance_samples, "tolerance_samples", low=0)
    det = check_indices(detections, "detections", n)
    ref = None if reference is None else check_indices(reference, "reference", n)
    if (missed is None) != (false_detections is None):
        raise ValueError("give both missed and false_detections, or neither")
    if missed is not None:
        miss = check_indices(missed, "missed", n)
        false = check_indices(false_detections, "false_detections", n)
    elif ref is not None:
        tol = _tolerance_samples(tolerance_s, tolerance_samples, sampling_rate)
        _, miss, false = match_events(det, ref, tol)
    else:
        miss = false = np.zeros(0, dtype=np.int64)
    start = 0 if start is None else int(start)
    stop = n if stop is None else int(stop)
    if not 0 <= start < stop <= n:
        raise ValueError(f"need 0 <= start < stop <= {n}, got start={start}, stop={stop}")

    def window(idx):
        return idx[(idx >= start) & (idx < stop)]

    t, xlabel = time_axis(n, sampling_rate)
    fig, (axis,) = new_axes(ax, figsize=figsize)
    axis.plot(t[start:stop], y[start:stop], color="0.4", lw=0.8, label="signal")
    good = window(np.setdiff1d(det, false))
    axis.plot(to_time(good, sampling_rate), y[good], "o", color="C2", ms=4,
              label=f"detections ({det.size})")
    if ref is not None:
        r = window(ref)
        axis.plot(to_time(r, sampling_rate), y[r], "|", color="k", ms=14,
                  label=f"reference ({ref.size})")
    if ref is not None or missed is not None:
        m, f = window(miss), window(false)
        axis.plot(to_time(m, sampling_rate), y[m], "x", color="red", ms=10, mew=2,
                  label=f"missed ({miss.size})")
        axis.plot(to_time(f, sampling_rate), y[f], "v", color="orange", ms=8,
                  label=f"false detections ({false.size})")
    axis.set_xlabel(xlabel)
    axis.set_ylabel("amplitude")
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
                borderaxespad=0.0)
    if title:
        axis.set_title(title)
    return fig
