"""Personalized QRS dictionaries learned from the record itself."""

from __future__ import annotations

import numpy as np
from numba import njit

from .._validation import as_float_array, check_int, check_sampling_rate, check_scalar
from ._evaluate import _check_not_mask
from ._templates import QRSDictionary, QRSTemplate

__all__ = ["learn_qrs_dictionary", "beat_windows"]

#: clusters tracked at most by the leader pass (extra distinct shapes are noise)
_MAX_CLUSTERS = 64
# up to this many clusters, _leader_clusters vectorizes its correlations over the shifts
_FEW_CLUSTERS = 8


def beat_windows(signal, r_peaks, *, sampling_rate, before_s=0.1, after_s=0.14):
    """Windows of ``signal`` around R peaks, each with its linear trend removed.

    Parameters
    ----------
    signal : array_like of shape (n_samples,)
    r_peaks : array_like of int
        R-peak sample indices in ``[0, len(signal))`` (``ValueError``
        otherwise); integral floats (as read from a CSV file) are accepted,
        fractional ones and a 0/1 per-sample column are refused with
        ``ValueError``; peaks whose window does not fit in the signal are
        skipped.
    sampling_rate : float
    before_s, after_s : float
        Window ``[r - before, r + after]`` in seconds.

    Returns
    -------
    windows : ndarray of shape (n_kept, before + after + 1)
        ``signal[r - before : r + after + 1]`` minus the straight line through
        its first and last samples.
    kept : ndarray of int
        The R peaks kept (in the order given).
    before : int
        Index of the R peak in a window.
    """
    x = as_float_array(signal, "signal", dtype=np.float64, ndim=1, allow_bool=False)
    fs = check_sampling_rate(sampling_rate)
    r = _integral_indices(r_peaks, "r_peaks")
    before = int(round(check_scalar(before_s, "before_s", low=0, low_inclusive=False) * fs))
    after = int(round(check_scalar(after_s, "after_s", low=0, low_inclusive=False) * fs))
    r = r.astype(np.int64)
    outside = (r < 0) | (r >= x.size)
    if np.any(outside):
        raise ValueError(f"r_peaks must be sample indices in [0, {x.size}) (the signal's "
                         f"length); got {int(outside.sum())} outside, e.g. {r[outside][0]}")
    kept = r[(r - before >= 0) & (r + after < x.size)]
    width = before + after + 1
    if kept.size == 0:
        return np.zeros((0, width)), kept, before
    w = np.empty((kept.size, width))
    _detrended_windows(x, kept - before, np.linspace(0.0, 1.0, width), w)
    return w, kept, before


def _integral_indices(values, name):
    """1-D integer array from integers or integral floats (as ``evaluate`` accepts).

    A boolean or 0/1 per-sample column is refused as :func:`evaluate` refuses it;
    a fractional or non-finite float raises ``ValueError`` naming the value.
    """
    _check_not_mask(values, name)
    r = np.asarray(values)
    if r.ndim != 1 or (r.size and r.dtype.kind not in "iuf"):
        raise TypeError(f"{name} must be a 1-D array of integer sample indices, got "
                        f"dtype {r.dtype} and shape {r.shape}")
    if r.dtype.kind == "f" and r.size:
        bad = np.flatnonzero(~np.isfinite(r) | (r != np.round(r)))
        if bad.size:
            raise ValueError(f"{name} must be integer sample indices (integral floats are "
                             f"accepted); found {r[bad[0]]!r} at position {int(bad[0])}")
        huge = np.flatnonzero(np.abs(r) >= 2.0 ** 62)  # beyond any signal, and int64
        if huge.size:
            raise ValueError(f"{name} must be sample indices within the signal; found "
                             f"{r[huge[0]]!r} at position {int(huge[0])}")
    return r


@njit(cache=True, nogil=True)
def _detrended_windows(x, starts, ramp, out):
    """``out[b] = x[s:s + width] - (x[s] + (x[s + width - 1] - x[s]) * ramp)`` with ``s =
    starts[b]`` (the numpy expression of :func:`beat_windows`, element by element: the
    same operations, in one pass)."""
    width = ramp.size
    for b in range(starts.size):
        s = starts[b]
        w0 = x[s]
        d = x[s + width - 1] - w0
        for i in range(width):
            out[b, i] = x[s + i] - (w0 + d * ramp[i])


@njit(cache=True, nogil=True)
def _leader_clusters(w, lag, thr, max_clusters):
    """Sequential leader clustering of the beat windows ``w`` (see learn_qrs_dictionary).

    Beat ``b`` is compared, on the central ``width - 2 lag`` samples shifted by
    ``-lag..lag``, with the mean of every cluster so far (correlation); it joins
    the best one (re-aligned by that shift, circularly) when the correlation is
    at least ``thr``, else starts a new cluster (at most ``max_clusters``; beyond,
    it joins nothing).  Returns the per-cluster sums of aligned beats, their
    counts and the number of clusters.
    """
    n_beats, width = w.shape
    core_len = width - 2 * lag
    n_shifts = 2 * lag + 1
    sums = np.zeros((max_clusters, width))
    counts = np.zeros(max_clusters, dtype=np.int64)
    # cluster means on the core, one column per cluster: the products of a beat with
    # all of them, at all shifts, are accumulated over the samples (each sum in the same
    # order as a dot product over the samples, whatever the loop order; the inner loop
    # runs over the shifts for few clusters, over the clusters for more, so that it
    # vectorizes either way)
    means_core_t = np.zeros((core_len, max_clusters))
    mean_norms = np.ones(max_clusters)
    slice_norms = np.empty(n_shifts)
    num = np.empty((n_shifts, max_clusters))
    num_t = np.empty((max_clusters, n_shifts))
    n_clusters = 0
    for b in range(n_beats):
        for sh in range(n_shifts):
            acc = 0.0
            for i in range(core_len):
                v = w[b, sh + i]
                acc += v * v
            slice_norms[sh] = np.sqrt(acc)
        best = -np.inf
        best_s = lag
        best_k = -1
        if n_clusters <= _FEW_CLUSTERS:
            for k in range(n_clusters):
                for sh in range(n_shifts):
                    num_t[k, sh] = 0.0
            for i in range(core_len):
                for k in range(n_clusters):
                    m = means_core_t[i, k]
                    for sh in range(n_shifts):
                        num_t[k, sh] += w[b, sh + i] * m
            for k in range(n_clusters):
                for sh in range(n_shifts):
                    num[sh, k] = num_t[k, sh]
        else:
            for sh in range(n_shifts):
                for k in range(n_clusters):
                    num[sh, k] = 0.0
            for i in range(core_len):
                for sh in range(n_shifts):
                    v = w[b, sh + i]
                    for k in range(n_clusters):
                        num[sh, k] += v * means_core_t[i, k]
        for sh in range(n_shifts):  # same order as an argmax over (shift, cluster)
            for k in range(n_clusters):
                den = slice_norms[sh] * mean_norms[k]
                corr = num[sh, k] / (den if den > 1e-300 else 1e-300)
                if corr > best:
                    best, best_s, best_k = corr, sh, k
        if best_k >= 0 and best >= thr:
            k = best_k
            shift = lag - best_s  # np.roll(w[b], shift) re-aligns the beat
            for i in range(width):
                sums[k, i] += w[b, (i - shift) % width]
            counts[k] += 1
        elif n_clusters < max_clusters:
            k = n_clusters
            n_clusters += 1
            for i in range(width):
                sums[k, i] = w[b, i]
            counts[k] = 1
        else:  # too many distinct shapes (noise): the beat joins nothing
            continue
        acc = 0.0
        for i in range(core_len):
            m = sums[k, lag + i] / counts[k]
            means_core_t[i, k] = m
            acc += m * m
        nrm = np.sqrt(acc)
        mean_norms[k] = nrm if nrm > 1e-300 else 1e-300
    return sums, counts, n_clusters


def _tukey(n, frac=0.3):
    """Tukey (tapered cosine) window: flat centre, cosine tails of ``frac / 2`` each."""
    w = np.ones(n)
    m = int(np.floor(frac * (n - 1) / 2.0))
    if m > 0:
        t = np.arange(m) / m
        w[:m] = 0.5 * (1 - np.cos(np.pi * t))
        w[n - m:] = w[:m][::-1]
    return w


def learn_qrs_dictionary(signal, r_peaks, *, sampling_rate, max_atoms=6,
                         correlation_threshold=0.9, min_beats=3, min_fraction=0.002,
                         before_s=0.1, after_s=0.14, max_lag_s=0.02) -> QRSDictionary:
    """Learn a personalized QRS dictionary from the beats of a record.

    The beats found by an initial detection pass are cut out of the signal
    (:func:`beat_windows`: ``[r - before_s, r + after_s]``, linear trend
    removed), normalized to unit norm and clustered by correlation with a
    single sequential *leader* pass: a beat joins the cluster whose mean it
    correlates best with, at the best lag within ``+-max_lag_s`` (the beats
    are re-aligned on that lag), when that correlation is at least
    ``correlation_threshold``; otherwise it starts a new cluster.  Clusters
    with at least ``max(min_beats, min_fraction * n_beats)`` beats become atoms,
    the largest ``max_atoms`` of them: the mean of their aligned beats,
    tapered to zero at both ends (Tukey window), unit norm.  Ventricular beats,
    bundle-branch-block and other aberrant morphologies thus get atoms of
    their own when they occur often enough.

    Each atom's R apex (``r_offset``) is the extremum of the mean waveform
    nearest the alignment point (within ``max_lag_s``), with the polarity of
    that extremum: the detected R peaks of the initial pass only anchor the
    windows.

    Parameters
    ----------
    signal : array_like of shape (n_samples,)
        The (cleaned) ECG lead the beats come from.
    r_peaks : array_like of int
        R peaks of an initial pass (sample indices; integral floats are
        accepted, a 0/1 per-sample column such as ``signals["ECG_R_Peaks"]``
        is refused with ``ValueError``, as by :func:`evaluate`).
    sampling_rate : float
        In Hz.
    max_atoms : int
        Largest number of atoms.
    correlation_threshold : float
        Minimum correlation (in (0, 1)) of a beat with a cluster mean to join it.
    min_beats : int
        Smallest cluster kept (absolute).
    min_fraction : float
        Smallest cluster kept, as a fraction of the beats.
    before_s, after_s : float
        Extent of the atoms around the R peak, in seconds.
    max_lag_s : float
        Largest re-alignment of a beat onto a cluster, in seconds.

    Returns
    -------
    QRSDictionary
        Atoms labelled ``"learned k"`` with ``n_beats`` the size of their
        cluster, largest cluster first.

    Raises
    ------
    ValueError
        An R peak outside the signal, fewer than ``min_beats`` usable beats
        (windows inside the signal: beats too close to either end are left
        out), or no cluster large enough.
    """
    fs = check_sampling_rate(sampling_rate)
    max_atoms = check_int(max_atoms, "max_atoms", low=1)
    thr = check_scalar(correlation_threshold, "correlation_threshold", low=0, high=1,
                       low_inclusive=False, high_inclusive=False)
    min_beats = check_int(min_beats, "min_beats", low=1)
    min_fraction = check_scalar(min_fraction, "min_fraction", low=0, high=1)
    lag = int(round(check_scalar(max_lag_s, "max_lag_s", low=0) * fs))
    w, kept, r0 = beat_windows(signal, r_peaks, sampling_rate=fs, before_s=before_s,
                               after_s=after_s)
    if kept.size < min_beats:
        raise ValueError(f"r_peaks must give at least min_beats={min_beats} beats whose "
                         f"window fits in the signal, got {kept.size}")
    # a beat is compared with the cluster means on the central part of the window,
    # shifted by -lag..lag samples
    width = w.shape[1]
    if width <= 2 * lag + 2:
        lag = 0
    sums, counts, n_clusters = _leader_clusters(np.ascontiguousarray(w), lag, thr, _MAX_CLUSTERS)
    means = sums[:n_clusters] / np.maximum(counts[:n_clusters, None], 1)
    counts = counts[:n_clusters]
    need = max(min_beats, int(np.ceil(min_fraction * kept.size)))
    order = [k for k in np.argsort(-counts, kind="stable") if counts[k] >= need][:max_atoms]
    if not order:
        raise ValueError(f"no cluster of at least {need} beats (largest: {counts.max()}); "
                         "lower min_beats/min_fraction or correlation_threshold")
    taper = _tukey(width)
    templates = []
    for rank, k in enumerate(order):
        mean = means[k] * taper
        lo, hi = max(0, r0 - lag), min(width, r0 + lag + 1)
        apex = lo + int(np.argmax(np.abs(mean[lo:hi])))
        templates.append(QRSTemplate.from_waveform(
            mean, apex, sampling_rate=fs, label=f"learned {rank}",
            polarity=1 if mean[apex] >= 0 else -1, n_beats=int(counts[k])))
    return QRSDictionary(tuple(templates))
