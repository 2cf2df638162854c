r"""Event and activity estimation by non-negative (cross-products) LASSO deconvolution.

The detector signal is modelled as ``y = H s + w``: ``H`` the causal
convolution with the pulse shape, ``s >= 0`` one coefficient per sample (an
event's amplitude at its arrival sample), ``w`` white noise.  Long records are
not solved in one piece.  Three steps keep the work proportional to the
active part of the signal, and exact:

1. **Screening.**  ``c = H^T y`` (one correlation pass).  For a non-negative
   pulse ``H^T H`` has non-negative entries, so at the LASSO solution the
   gradient ``H^T (y - H s) <= c`` for every ``s >= 0``: a coefficient with
   ``c_i <= alpha`` is zero (and a fortiori with the cross-products weights
   ``gamma >= 1``).  Only the others ("active") need to be solved for.
2. **Segmentation.**  Coefficients farther apart than the pulse length (and
   the cross-products window) do not interact, so the record splits into
   independent runs: each active stretch with ``margin`` samples of quiet
   signal on both sides.  The noise-only stretches between runs are dropped.
3. **Solving.**  Plain LASSO (default ``segment_solver="active_set"``):
   inside the runs only the candidates ``c_i > alpha`` can be non-zero, and
   candidates fewer than ``L`` samples apart form independent components
   (typically one to a few events and a few tens of candidates); each is a
   small non-negative quadratic program solved exactly by an active-set
   method, all of them in a few compiled calls
   (:func:`sparse_events.gamma._segments.solve_runs`).  Runs holding a
   component above ``max_segment_vars`` candidates, the cross-products
   LASSO, and ``segment_solver="cd"`` take the packing path: runs are
   concatenated into pieces of about ``chunk_size`` samples, each solved by
   one call of :func:`~sparse_events.deconvolve` (plain) or
   :func:`~sparse_events.cross_products_deconvolve` (with ``dead_time_s``).
   Only a run longer than ``chunk_size`` (very high rates) is cut: into
   windows overlapping by ``overlap`` samples on each side, each owning the
   coefficients of its core, so an event is reported by exactly one window
   (never lost, never doubled).  This cut is the only approximation; the
   KKT conditions of the whole problem are checked on every sample of the
   runs (``kkt_violation`` of the result; for the runs of the active-set
   solver in its own pass, from ``H^T y`` and the pulse's Gram table, for
   the others from the residual afterwards: see ``check_kkt``).

Afterwards adjacent non-zero coefficients (an event between two samples is
split over both) are merged into one event: amplitude = sum, time =
amplitude-weighted mean; then events that do not stand out of the amplitude
noise of the refit next to a larger, strongly correlated neighbour can be merged
into it (``merge_correlated=True`` of :func:`estimate_events`).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import oaconvolve

from .._exceptions import ConvergenceWarning
from .._validation import (
    as_float_array,
    check_bool,
    check_int,
    check_kernel,
    check_option,
    check_sampling_rate,
    check_scalar,
)
from ._dead_time import true_rate_uncertainty
from ._kernels import (
    correlate_pulse,
    first_nonfinite,
    group_means,
    group_means_into,
    group_starts,
    group_sums,
    merge_correlated_events,
    merge_small_groups_runs,
    refit_support,
    screen_runs,
)
from ._segments import kkt_runs, solve_runs

__all__ = ["estimate_events", "estimate_activity", "EstimatedEvents", "ActivityEstimate",
           "estimate_noise_std", "cluster_events", "default_resolving_samples",
           "activity_from_events"]


@dataclass
class EstimatedEvents:
    """Events recovered by :func:`estimate_events`.

    Attributes
    ----------
    arrival_times_s : ndarray of shape (n_events,)
        Arrival times in seconds (amplitude-weighted mean of the merged
        coefficients, so fractional samples).
    amplitudes : ndarray of shape (n_events,)
        Amplitudes in the units of ``signal / pulse`` (debiased least-squares
        refit on the support when ``debias=True``).
    lasso_amplitudes : ndarray of shape (n_events,)
        The (shrunk) LASSO amplitudes, merged the same way.
    sampling_rate, duration_s : float
    alpha : float
        LASSO strength in ``0.5 ||y - H s||^2 + alpha * penalty``.
    noise_std : float
        Noise standard deviation used to set ``alpha``.
    method : str
        ``"lasso"`` or ``"cross_products"``.
    dead_time_s : float or None
    kkt_violation : float
        Largest violation of the plain-LASSO optimality conditions of the whole
        record, relative to ``alpha`` (``nan`` when not checked; for the
        cross-products LASSO checked with its final weights).
    n_pieces : int
        Number of solver calls (compiled segment-solver calls plus
        coordinate-descent pieces).
    active_fraction : float
        Fraction of the record kept after screening.
    n_not_converged : int
        Coordinate-descent pieces that stopped before the tolerance.
    timings_s : dict
        Wall-clock time of each step.
    segment_stats : dict
        Work of the segment solver (``segment_solver="active_set"``):
        independent components solved, the largest one, linear solves, runs
        left to coordinate descent.
    """

    arrival_times_s: np.ndarray
    amplitudes: np.ndarray
    lasso_amplitudes: np.ndarray
    sampling_rate: float
    duration_s: float
    alpha: float
    noise_std: float
    method: str
    dead_time_s: float | None
    kkt_violation: float
    n_pieces: int
    active_fraction: float
    n_not_converged: int = 0
    timings_s: dict = field(default_factory=dict)
    segment_stats: dict = field(default_factory=dict)

    @property
    def n_events(self) -> int:
        return self.arrival_times_s.size

    @property
    def arrival_samples(self) -> np.ndarray:
        return self.arrival_times_s * self.sampling_rate


def estimate_noise_std(signal):
    r"""Robust noise level of a baseline-subtracted signal of non-negative pulses.

    ``1.4826 * median(|y_j|)`` over the samples with ``y_j <= 0``: for white
    Gaussian noise around a zero baseline this half-normal median estimates
    ``sigma``.  Pulses only push samples up, so the estimate is little
    affected at low rates; at high rates (pulses overlapping most of the time)
    it is biased low -- pass ``noise_std`` measured on a pulse-free baseline
    instead.

    **Quantised samples.**  When every sample is an integer plus one common
    offset (ADC counts, in an integer array or as floats, also after
    subtracting a constant baseline: subtract the baseline's mean, not an
    integer median, since the reading assumes the noise is centred on 0 and a
    baseline half an LSB off biases it, e.g. 1.0 instead of 0.59 at 0.5 LSB of
    noise), many samples share the value of the
    zero bin and the median above is biased low (0 below about 1 LSB of
    noise).  The samples are then read as ``y = round(x)`` of continuous noise
    ``x ~ N(0, sigma^2)`` (the value ``v`` stands for ``x`` in ``[v - 1/2, v +
    1/2)``): with ``N_0`` the number of samples below 0 (the zero bin's
    samples counted in proportion to the part of their bin below 0: half of
    them for exact zeros) and ``N(h)`` those below the bin edge ``h < 0``,
    ``z(h) = Phi^{-1}(N(h) / (2 N_0))`` is ``h / sigma``, linear in ``h``;
    ``z`` is interpolated linearly between the bin edges (and ``z(0) = 0``) to
    its lower quartile ``Phi^{-1}(1/4)``, at ``h_q = sigma Phi^{-1}(1/4)``.
    The value returned is the standard deviation of the quantised noise
    ``round(x)`` for that ``sigma`` (about ``sqrt(sigma^2 + 1/12)``): the
    noise that is in the samples.  It is 0 when no sample lies below the zero
    bin (e.g. a constant signal): no noise level can be estimated then.
    Samples quantised with another step (e.g. ADC counts times a gain) are
    not recognised: pass ``noise_std``.
    """
    y = as_float_array(signal, "signal", ndim=1, allow_bool=False)
    below = y <= 0
    if np.count_nonzero(below) < 16:
        raise ValueError("cannot estimate noise_std: fewer than 16 samples at or below "
                         "the zero baseline; is the signal baseline-subtracted? Pass "
                         "noise_std explicitly")
    offset = _unit_lattice_offset(y)
    if offset is None:
        return float(1.4826 * np.median(-y[below]))
    return _quantised_noise_std(y, offset)


# z = Phi^{-1}(1/4): the lower quartile of the standard normal distribution
_Z_QUARTILE = -0.6744897501960817


def _unit_lattice_offset(y, head=4096):
    """``o`` in ``[-1/2, 1/2)`` if every sample is ``o`` plus an integer, else ``None``.

    Each sample is compared with its own tolerance, a few units in the last place of its
    own magnitude (in its dtype): a tolerance scaled by the largest sample let continuous
    noise pass as integers next to one huge value (float32 above about 1e6)."""
    ulp = np.finfo(np.float32 if y.dtype == np.float32 else np.float64).eps
    offset = float(y[0]) - float(np.round(y[0]))
    for part in (y[:head], y):
        d = np.asarray(part, dtype=np.float64) - offset
        tol = 4.0 * ulp * np.maximum(1.0, np.abs(d))
        if np.any(np.abs(d - np.round(d)) > tol):
            return None
    return offset if offset < 0.5 else offset - 1.0


def _quantised_noise_std(y, offset):
    """Standard deviation of ``round(x)`` for the ``sigma`` of ``x`` fitted to quantised
    samples ``offset + k`` (see :func:`estimate_noise_std`); 0 when it cannot be fitted."""
    from scipy.special import ndtr, ndtri

    k = np.round(np.asarray(y, dtype=np.float64) - offset)
    # bin j = 0, 1, ... holds the samples offset - j, i.e. x in [offset - j - 1/2, offset - j
    # + 1/2); bin 0 holds x = 0 (|offset| <= 1/2)
    # (samples more than 2**20 LSB below 0 share the last bin: only the tail counts of
    # the bins up to the lower quartile are read, and one bin per LSB down to a far
    # outlier would allocate without bound)
    counts = np.bincount(np.minimum(-k[k <= 0], 1 << 20).astype(np.int64)).astype(np.float64)
    tail = np.cumsum(counts[::-1])[::-1]  # tail[j]: samples in bins j, j + 1, ...
    n_edge = np.append(tail[1:], 0.0)  # samples below the lower edge of bin j
    n0 = n_edge[0] + counts[0] * (0.5 - offset)  # samples below x = 0
    if not n_edge[0] > 0:
        return 0.0
    h = np.concatenate([[0.0], offset - 0.5 - np.arange(counts.size)])
    with np.errstate(divide="ignore"):
        z = np.concatenate([[0.0], ndtri(np.minimum(n_edge / (2.0 * n0), 0.5))])
    # z(h) = h / sigma decreases along h: interpolate it to the lower quartile
    i = int(np.argmax(z <= _Z_QUARTILE))
    if not z[i] <= _Z_QUARTILE:
        return 0.0
    if np.isfinite(z[i]):
        hq = h[i - 1] + (h[i] - h[i - 1]) * (_Z_QUARTILE - z[i - 1]) / (z[i] - z[i - 1])
        sigma = hq / _Z_QUARTILE
    else:
        # no sample below h[i]: the last edge with samples below it
        sigma = h[i - 1] / z[i - 1] if i > 1 else 0.0
    if not sigma > 0:
        return 0.0
    if sigma > 20.0:
        return float(np.sqrt(sigma ** 2 + 1.0 / 12.0))
    # exact moments of the quantised noise: the value offset + m for x in [offset + m - 1/2,
    # offset + m + 1/2)
    m = np.arange(-int(np.ceil(12 * sigma)) - 2, int(np.ceil(12 * sigma)) + 3)
    v = offset + m
    prob = ndtr((v + 0.5) / sigma) - ndtr((v - 0.5) / sigma)
    mean = float(prob @ v)
    return float(np.sqrt(max(float(prob @ v ** 2) - mean ** 2, 0.0)))


def _correlate(y, p):
    """``c[i] = sum_k p[k] y[i + k]`` for ``i in [0, len(y))`` (zeros past the end)."""
    if p.size <= 64:
        return correlate_pulse(y, p)
    ypad = np.concatenate([np.asarray(y, dtype=np.float64), np.zeros(p.size - 1)])
    return oaconvolve(ypad, p[::-1], mode="valid")


def _pieces(starts, stops, chunk_size, overlap):
    """Group runs into pieces; cut long runs into overlapping windows.

    Yields lists of ``(win_start, win_stop, core_start, core_stop)`` in
    original sample indices; the windows of one piece are concatenated.
    """
    group, size = [], 0
    for s, e in zip(starts.tolist(), stops.tolist()):
        if e - s > chunk_size:
            if group:
                yield group
                group, size = [], 0
            core = chunk_size - 2 * overlap
            for c0 in range(s, e, core):
                c1 = min(e, c0 + core)
                yield [(max(s, c0 - overlap), min(e, c1 + overlap), c0, c1)]
            continue
        if size + (e - s) > chunk_size and group:
            yield group
            group, size = [], 0
        group.append((s, e, s, e))
        size += e - s
    if group:
        yield group


def cluster_events(positions, amplitudes, *, max_gap, max_size=None, min_amplitude=None,
                   weights=None):
    """Merge coefficients of one event: consecutive positions at most ``max_gap`` apart.

    With ``max_size``, a run of more than ``max_size`` such coefficients is
    split into groups of at most ``max_size`` (the largest coefficient takes
    its larger neighbours first; see :func:`sparse_events.gamma._kernels.group_starts`):
    an event between two samples occupies two coefficients, so a longer run
    holds several events.  A group split off that way whose amplitude is below
    ``min_amplitude`` is not an event of its own: it goes back to its larger
    neighbouring group of the same run.  Returns the merged positions (``weights``-weighted
    mean, default the amplitudes), the summed amplitudes and the index of the
    first member of every group.  ``positions`` must be sorted.
    """
    pos = as_float_array(positions, "positions", dtype=np.float64, ndim=1, allow_empty=True)
    amp = as_float_array(amplitudes, "amplitudes", dtype=np.float64, ndim=1, allow_empty=True)
    w = amp if weights is None else as_float_array(weights, "weights", dtype=np.float64,
                                                   ndim=1, allow_empty=True)
    if not pos.size == amp.size == w.size:
        raise ValueError(f"positions, amplitudes and weights must have the same length, got "
                         f"{pos.size}, {amp.size} and {w.size}")
    if np.any(np.diff(pos) < 0):
        raise ValueError("positions must be sorted (non-decreasing)")
    max_gap = check_scalar(max_gap, "max_gap", low=0)
    if min_amplitude is not None:
        min_amplitude = check_scalar(min_amplitude, "min_amplitude")
    if max_size is not None:
        max_size = check_int(max_size, "max_size", low=1)
    if pos.size == 0:
        return pos.copy(), amp.copy(), np.zeros(0, dtype=np.int64)
    return _cluster_sorted(pos, amp, w, max_gap, max_size, min_amplitude)


def _cluster_sorted(pos, amp, w, max_gap, max_size, min_amplitude):
    """:func:`cluster_events` on checked input: arrays of one non-zero length, ``amp``
    and ``w`` float64, ``pos`` sorted, float64 or int64 (sample indices: the same results
    as their float64 copy), ``w`` the weights (``amp`` itself for amplitude weights)."""
    new = _group_flags(pos, amp, w, max_gap, max_size, min_amplitude)
    # one compiled pass: first members, summed amplitudes, weighted mean positions (the first
    # position of a group of zero total weight)
    return group_means(new, pos, amp, w)


def _group_flags(pos, amp, w, max_gap, max_size, min_amplitude):
    """Group start flags of :func:`_cluster_sorted`."""
    if max_size is None:
        new = np.ones(pos.size, dtype=bool)
        new[1:] = np.diff(pos) > max_gap
    else:
        new = group_starts(pos, w, max_gap, max_size)
        if min_amplitude is not None:
            _merge_small_groups(new, pos, amp, max_gap, min_amplitude)
    return new


def _merge_small_groups(new, pos, amp, max_gap, min_amplitude):
    """In place: groups below ``min_amplitude`` join their larger neighbour in the same run."""
    # the small groups in order of amplitude within each run (runs do not interact): the
    # flags of the global order of amplitude, in one pass in order of position
    merge_small_groups_runs(new, pos, amp, min_amplitude, max_gap)


def _autocorrelation(p):
    """``rho[k] = sum_j p[j] p[j + k] / sum_j p[j]^2`` for ``k = 0 .. L - 1``."""
    if p.size > 512:
        from scipy.signal import fftconvolve

        r = fftconvolve(p, p[::-1])[p.size - 1:]
    else:
        r = np.correlate(p, p, mode="full")[p.size - 1:]
    return r / float(p @ p)


def default_resolving_samples(pulse, level=0.5):
    """Smallest lag ``k >= 2`` at which the pulse's normalized autocorrelation is ``<= level``.

    ``rho(k) = sum_j p[j] p[j + k] / sum_j p[j]^2``: two pulses ``k`` samples
    apart are hard to tell from one when ``rho(k)`` is close to 1.
    """
    p = check_kernel(pulse, "pulse", ndim=1, dtype=np.float64)
    level = check_scalar(level, "level", low=0, high=1, low_inclusive=False,
                         high_inclusive=False)
    r = _autocorrelation(p)
    below = np.flatnonzero(r[2:] <= level)
    return int(below[0] + 2) if below.size else p.size


# kkt_violation (relative to alpha) above which estimate_events warns, for the plain LASSO: a
# violation as large as alpha itself means the amplitudes are not a LASSO solution (exact
# solves give ~1e-13, coordinate descent at its tol far less than 1).  Not for the
# cross-products LASSO, whose check uses the last reweighting's weights (1.07 seen on a
# 20 MHz record with dead_time_s=20e-9 and the default settings)
_KKT_WARN = 1.0


def _default_alpha(noise_std, p, n_samples, threshold_factor):
    return threshold_factor * noise_std * float(np.linalg.norm(p)) * np.sqrt(
        2.0 * np.log(max(n_samples, 2)))


def _solve_piece(yp, p, alpha, *, method, window, tol, max_iter):
    from ..models import deconvolve

    if method == "lasso":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = deconvolve(yp, p, alpha, mode="causal", positive=True, tol=tol,
                             max_iter=max_iter)
        return res
    try:
        from ..models import cross_products_deconvolve
    except ImportError as exc:  # pragma: no cover - present in this package version
        raise ImportError("dead_time_s needs sparse_events.cross_products_deconvolve, "
                          "which this installation lacks") from exc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = cross_products_deconvolve(yp, p, beta=1.0 / (2.0 * alpha), g=window,
                                        mode="causal", positive=True, tol=tol,
                                        inner_max_iter=max_iter)
    return res


# no event found: warn when the matched filter of the sign-flipped signal exceeds this many
# alpha.  Above alpha itself, as the default alpha is the universal threshold, which noise
# alone exceeds somewhere in a sizeable fraction of records (about 8 % for 1e5 independent
# samples); at 1.5 alpha the chance is about n**-1.25.
_OTHER_POLARITY_WARN = 1.5


def _negated(y):
    """``-y`` as float (float32 for float32 and integers of at most 16 bits, else float64)."""
    small = y.dtype == np.float32 or (y.dtype.kind in "iu" and y.dtype.itemsize <= 2)
    return np.negative(y, dtype=np.float32 if small else np.float64)


def _other_polarity_peak(y, p, offset=0.0, block=1 << 20):
    """Largest value of ``-H^T (y - offset)`` (matched filter of ``offset - y``) and its
    sample, block by block."""
    n, L = y.shape[0], p.size
    best, where = -np.inf, -1
    for a in range(0, n, block):
        b = min(n, a + block)
        seg = np.asarray(y[a: min(n, b + L - 1)], dtype=np.float64)
        c = _correlate(offset - seg, p)[: b - a]
        i = int(np.argmax(c))
        if c[i] > best:
            best, where = float(c[i]), a + i
    return best, where


def _flip_offset(y):
    """``median(y[:2**22])``, the baseline offset of :func:`_flipped_without_baseline`, and
    those samples."""
    head = np.asarray(y[: min(y.shape[0], 1 << 22)])
    return float(np.median(head)), head


def _flip_alpha(head, offset, p, n, alpha, threshold_factor):
    """The ``alpha`` of ``offset - y`` (see :func:`_flipped_without_baseline`), or ``None``
    when no noise level can be estimated."""
    if threshold_factor is None:
        return alpha
    # the noise of offset - y as estimate_events would estimate it (the half-normal median
    # over the samples at or above the offset; ADC counts recognised)
    try:
        noise = estimate_noise_std(offset - head)
    except ValueError:  # fewer than 16 samples at or above the offset
        return None
    if not noise > 0:
        return None
    return _default_alpha(noise, p, n, threshold_factor)


def _flipped_without_baseline(y, p, alpha, threshold_factor):
    """The other-polarity test on ``median(y) - y``: the sign-flipped signal with its
    baseline offset removed.

    ``estimate_events`` does not subtract a baseline: an offset ``b`` lowers the matched
    filter of ``-y`` by ``b * sum(p)`` and, read as noise by :func:`estimate_noise_std`,
    raises ``alpha``, so negative pulses on a positive baseline went unnoticed.  The
    median of the first ``2**22`` samples (those the noise estimate reads) estimates the
    offset of sparse pulses.  ``threshold_factor`` is ``None`` when ``alpha`` was given (or
    set by a given ``noise_std``): then it is kept, else it is set again from the noise of
    the corrected signal, as :func:`estimate_events` would for it.  Returns ``(peak / alpha
    of the corrected signal, sample, offset, that alpha)``, or ``None`` when there is no
    test to make: an offset of exactly 0 (or not finite), or, when ``alpha`` is set again,
    no noise level of the corrected signal from :func:`estimate_noise_std` (fewer than 16
    samples at or above the offset, or a noise estimate of 0).
    """
    offset, head = _flip_offset(y)
    if offset == 0.0 or not np.isfinite(offset):
        return None
    alpha_c = _flip_alpha(head, offset, p, y.shape[0], alpha, threshold_factor)
    if alpha_c is None:
        return None
    peak, at = _other_polarity_peak(y, p, offset)
    return peak / alpha_c, at, offset, alpha_c


def _warn_if_other_polarity(y, p, alpha, polarity, threshold_factor):
    """Warn when no event was found but the signal of the other sign has clear pulses,
    as it is or without its baseline offset (see :func:`_flipped_without_baseline`)."""
    other = "negative" if polarity == "positive" else "positive"
    peak, at = _other_polarity_peak(y, p)
    if peak > _OTHER_POLARITY_WARN * alpha:
        warnings.warn(
            f"no event found with polarity={polarity!r}, but the signal has excursions of "
            f"the other sign: the matched filter of the sign-flipped signal reaches "
            f"{peak / alpha:.3g} x alpha at sample {at}; if the pulses are {other}-going, "
            f"pass polarity={other!r}", UserWarning, stacklevel=3)
        return
    corrected = _flipped_without_baseline(y, p, alpha, threshold_factor)
    if corrected is not None and corrected[0] > _OTHER_POLARITY_WARN:
        ratio, at, offset, alpha_c = corrected
        sign = -1.0 if polarity == "negative" else 1.0
        warnings.warn(
            f"no event found with polarity={polarity!r}, but the signal has a baseline "
            f"offset of {sign * offset:.3g} (the median of its first 2**22 samples) and "
            f"excursions of the other sign: "
            f"without the offset, the matched filter of the sign-flipped signal reaches "
            f"{ratio:.3g} x alpha ({alpha_c:.3g}) at sample {at}; estimate_events expects a "
            f"baseline-subtracted signal: subtract the baseline and, if the pulses are "
            f"{other}-going, pass polarity={other!r}", UserWarning, stacklevel=3)


def _warn_if_events_of_other_polarity(y, p, alpha, polarity, threshold_factor, n_found,
                                      largest):
    """Warn when events were found but the sign-flipped signal without its baseline offset
    has a pulse larger than all of them (see :func:`estimate_events`, ``polarity``).

    The matched filter ``H^T (offset - y)`` (``offset``: the median, as in
    :func:`_flipped_without_baseline`) must exceed both ``1.5 alpha`` (``alpha`` of the
    corrected signal: an excursion noise alone does not reach) and ``largest * ||p||^2``,
    the matched-filter response of an isolated event of the largest amplitude found.  For
    pulses of the given polarity, ``offset - y`` holds noise and a drop of the baseline
    below the median, no pulse: its matched filter stays below the largest event's
    response.  ``H^T (offset - y) <= sum(p) * (offset - min(y))`` skips the rest (median,
    noise estimate, correlation pass) when that bound is at most the largest event's
    response, which more than half of the samples at most ``min(y) + response / sum(p)``
    ensures.
    """
    response = largest * float(p @ p)
    # the bound is at most the response when the median is at most t: when more than half
    # of the samples are (one comparison pass instead of the median's partition)
    t = float(np.min(y)) + response / float(p.sum())
    head = y[: min(y.shape[0], 1 << 22)]
    if 2 * np.count_nonzero(np.asarray(head) <= t) > head.shape[0]:
        return
    offset, head = _flip_offset(y)
    alpha_c = _flip_alpha(head, offset, p, y.shape[0], alpha, threshold_factor)
    if alpha_c is None:
        return
    peak, at = _other_polarity_peak(y, p, offset)
    if peak > _OTHER_POLARITY_WARN * alpha_c and peak > response:
        other = "negative" if polarity == "positive" else "positive"
        sign = -1.0 if polarity == "negative" else 1.0
        warnings.warn(
            f"{n_found} events found with polarity={polarity!r}, the largest of amplitude "
            f"{largest:.3g}, but the sign-flipped signal without its baseline offset of "
            f"{sign * offset:.3g} (the median of its first 2**22 samples) has a larger "
            f"pulse: its matched filter reaches {peak / alpha_c:.3g} x alpha "
            f"({alpha_c:.3g}) and {peak / response:.3g} x the largest event's response "
            f"(amplitude x ||pulse||^2) at sample {at}; the events found are likely noise "
            f"and offset, not pulses.  estimate_events expects a baseline-subtracted "
            f"signal: subtract the baseline and, if the pulses are {other}-going, pass "
            f"polarity={other!r}", UserWarning, stacklevel=3)


def estimate_events(signal, *, sampling_rate, pulse, dead_time_s=None, alpha=None,
                    noise_std=None, threshold_factor=1.0, cross_products_strength=1.0,
                    merge_gap_samples=1, max_merge=2, min_amplitude=None,
                    merge_correlated=False, debias=True,
                    tol=1e-4,
                    max_iter=200, chunk_size=1 << 16, overlap=None, check_kkt=True,
                    segment_solver="active_set", max_segment_vars=65536,
                    polarity="positive"):
    r"""Recover arrival times and amplitudes of the pulses in a detector signal.

    Solves the non-negative LASSO deconvolution

    .. math::

        \min_{s \ge 0} \tfrac12 \lVert y - H s \rVert_2^2 + \alpha \sum_i s_i

    (``H``: causal convolution with ``pulse``; one coefficient per sample) or,
    with ``dead_time_s``, the cross-products LASSO of Luengo, Via and Trigano
    (eq. 8 divided by ``2 beta``, ``beta = 1 / (2 alpha)``)

    .. math::

        \min_{s \ge 0} \tfrac12 \lVert y - H s \rVert_2^2
        + \alpha \bigl(\textstyle\sum_i s_i + s^\top G s\bigr)

    whose window ``g[d] = cross_products_strength / a_ref`` for lags
    ``merge_gap_samples < d <= max(1, ceil(dead_time_s * sampling_rate) - 1)``
    penalizes pairs of events closer than the dead time (``g[d] = 0`` for
    ``d <= merge_gap_samples``: coefficients that close are one event split
    between samples, merged afterwards); ``a_ref = alpha / ||pulse||^2`` is the
    amplitude at the detection threshold, so a neighbour of amplitude ``a``
    multiplies an event's threshold by ``1 + 2 cross_products_strength a /
    a_ref``.  See the module docstring for the screening, segmentation and
    chunking that make long records tractable.

    ``n_events / duration_s`` is not a rate estimate: events closer than the
    pulse's resolving time come out merged, and for slow-rising pulses noise
    next to large events comes out as extra small events (unless
    ``merge_correlated=True``).  For the true event
    rate use :func:`estimate_activity` (or :func:`activity_from_events` on
    these events), which counts clusters of recovered events within the
    resolving time and inverts the paralyzable dead-time relation.

    Parameters
    ----------
    signal : array_like of shape (n_samples,)
        Baseline-subtracted detector signal (``float32`` or ``float64``; a
        ``numpy.memmap`` is read piece by piece).  Boolean arrays are refused
        (``TypeError``).
    sampling_rate : float
        Hz (keyword-only, required).
    pulse : array_like of shape (L,)
        Non-negative pulse shape sampled at ``sampling_rate``, starting at the
        arrival time; amplitudes are in units of ``signal / pulse``.
    dead_time_s : float, optional
        Minimum distance between recovered events in seconds: selects the
        cross-products LASSO.  ``None``: plain non-negative LASSO.
    alpha : float, optional
        LASSO strength.  Default ``threshold_factor * noise_std * ||pulse||_2 *
        sqrt(2 log n_samples)`` (the universal threshold on the matched-filter
        output).
    noise_std : float, optional
        Noise standard deviation; default :func:`estimate_noise_std` (which
        recognises integer ADC samples; a ``ValueError`` asks for ``noise_std``
        when it gives 0, e.g. for an all-zero signal).
    threshold_factor : float, default=1.0
    cross_products_strength : float, default=1.0
    merge_gap_samples : int, default=1
        Non-zero coefficients at most this many samples apart may be one event
        (an arrival between two samples is split over both).
    max_merge : int or None, default=2
        At most this many such coefficients make one event; longer runs (events
        piled up within a few samples) are split greedily around their largest
        coefficients (see :func:`cluster_events`), keeping a split-off group
        only if its amplitude reaches ``max(min_amplitude, (alpha / ||pulse||^2)
        / sqrt(1 - rho_1^2))`` (``rho_1``: correlation of adjacent columns,
        which inflates the noise of their amplitudes).  ``None`` merges whole
        runs.
    min_amplitude : float, optional
        Drop merged events with a smaller (debiased) amplitude.  Default
        ``alpha / ||pulse||^2``: the smallest amplitude an isolated event needs
        to enter the LASSO solution at all (smaller refitted amplitudes come
        from noise or from the shrinkage residual of a neighbouring event).
    merge_correlated : bool, default=False
        Merge events that do not stand out of the amplitude noise of the
        correlated refit into a larger neighbour (amplitudes summed, so the
        energy is kept; position the amplitude-weighted mean).  Next to a large
        event, noise on the strongly correlated columns of a slow-rising pulse
        (``rho(d)`` close to 1 for lags ``d`` of several samples) makes the
        LASSO add small events a few samples away, which the debiasing refit
        inflates above ``min_amplitude``: without this rule, +9 % to +60 %
        events at low rates for pulses rising over 2 to 10 samples (with it,
        +0.0 % to +0.2 % in the same simulations).  Use it to count or
        histogram the events of slow-rising pulses.  Off by default: on the
        HPGe benchmark of ``gamma/RESULTS.md`` (a pulse rising over about 6
        samples, L = 14) it moved the :func:`estimate_activity` rate error at
        rate x L = 1.5 and 2 from -0.14 % and -0.61 % to +0.59 % and +1.00 %
        (a merged event no longer links two clusters) and the sum-peak excess
        after the pooled-``d`` pile-up correction from -39 to -85 counts.  Rule,
        after the merge of adjacent coefficients (``merge_gap_samples``,
        ``max_merge``): the events are visited in increasing order of
        amplitude; an event (or the group it heads after earlier merges) of
        amplitude ``a`` joins its neighbouring event (group) on either side
        if that one is larger, their amplitude-weighted positions are ``d``
        samples apart with ``rho(d) >= 1/2`` (within the pulse's resolving
        time, see :func:`default_resolving_samples`), and

        .. math::

            a < \frac{\alpha}{\lVert p \rVert^2}
                \sqrt{e^\top R^{-1} e},

        the detection amplitude ``alpha / ||p||^2`` times the noise gain of
        the event's summed amplitude in the least-squares fit of the
        coefficients of both events: ``R[i, j] = rho(|c_i - c_j|)`` over their
        coefficient positions ``c``, ``e`` the indicator of the event's own
        coefficients (for one coefficient each, ``1 / sqrt(1 - rho(d)^2)``,
        the bound ``max_merge`` uses at lag 1; above 32 coefficients that
        two-coefficient form is used).  ``rho`` is the pulse's normalized
        autocorrelation (interpolated linearly between lags).  Of two such
        neighbours the one of the larger bound is joined (the left one on a
        tie).  So a true event closer than the resolving time to a larger one,
        and below that bound, comes out merged into it (unresolved pile-up;
        :func:`estimate_activity` counts such clusters as one event anyway).  ``False``: the events as
        the LASSO and the adjacent-coefficient merge give them.
    debias : bool, default=True
        Least-squares refit (non-negative) of the amplitudes on the support.
    tol : float, default=1e-4
        Tolerance of each solve (relative duality gap; outer tolerance for the
        cross-products LASSO).
    max_iter : int, default=200
    chunk_size : int, default=65536
        Samples per solver call.
    overlap : int, optional
        Overlap of windows cut inside a long active run (default
        ``max(16 L, 256)``).
    check_kkt : bool or "samples", default=True
        Verify the optimality conditions on the whole record
        (``kkt_violation``).  ``True``: on the runs solved by the active set,
        the gradient ``H^T y - (H^T H) s`` is evaluated at every sample
        between the margins, in the solver's pass (``H^T y`` from the
        samples, ``H^T H`` from the pulse's autocorrelation); elsewhere (runs
        solved by coordinate descent, the cross-products LASSO) and with
        ``"samples"`` everywhere, the gradient ``H^T (y - H s)`` is computed
        from the residual in one more correlation pass.  Both verify the same
        conditions and agree to rounding.  The in-pass check certifies each
        run's solution as the compiled solver wrote it, reusing the solver's
        own ``c`` and the pulse's Gram table; it does not see the assembly of
        the solver's output in Python afterwards (the copy into a grown output
        array, the merge of runs solved again with larger work arrays, their
        sort).  ``"samples"`` is the check that recomputes everything from the
        samples ``y`` and the pulse ``p`` on the final coefficients (one more
        correlation pass over the runs).  Only ``True``, ``False`` (also
        ``numpy.bool_``) and ``"samples"`` are accepted.
    segment_solver : {"active_set", "cd"}, default="active_set"
        Plain LASSO only.  ``"active_set"``: the candidates left by the
        screening (``c_i > alpha``) split into independent components
        (consecutive candidates fewer than ``L`` samples apart), each solved
        exactly by a compiled active-set method, many per call (see
        :mod:`sparse_events.gamma._segments`); runs holding a component of more
        than ``max_segment_vars`` candidates (very high rates) go to
        coordinate descent as with ``"cd"``.  ``"cd"``: every run by
        :func:`~sparse_events.deconvolve` on packed pieces (``tol``,
        ``max_iter``, ``chunk_size``, ``overlap``).  Both solve the same
        problem; the first to machine precision.  The cross-products LASSO
        always uses ``"cd"``.
    max_segment_vars : int, default=65536
        Largest component solved by the active-set method (work arrays of
        about ``16 * L`` bytes per candidate, for
        ``min(max_segment_vars, max(64, 2**20 // L))`` candidates per compiled
        call; a run with a larger component is solved again with arrays of its
        size, if it has at most ``max(64, 2**26 // L)`` candidates, 1 GiB of
        arrays at most; a run with a larger one goes to coordinate descent).

    polarity : {"positive", "negative"}, default="positive"
        Sign of the pulses in ``signal`` (as in :func:`learn_pulse_shape`).
        ``"negative"``: the events of ``-signal`` are recovered (``pulse``
        stays the non-negative shape; amplitudes are positive, in units of
        ``-signal / pulse``); a ``numpy.memmap`` is then negated into memory
        once (float32 for float32 or integer samples of at most 16 bits, else
        float64).  When no event is found and the matched filter of the signal
        of the other sign exceeds ``1.5 alpha`` somewhere (the pulses look
        like they have the other polarity), a ``UserWarning`` says so.  The
        signal is not baseline-corrected here (subtract the baseline first), so
        the same test is also made on the signal of the other sign without its
        baseline offset, estimated by the median of its first ``2**22`` samples
        (those the noise estimate reads), with ``alpha`` set again from that signal's
        noise level unless ``alpha`` or ``noise_std`` is given; the warning then
        names the offset.  When events were found, a small baseline offset and
        the noise can make them (up to thousands of events of about the
        offset's amplitude on pulses of the other sign): a ``UserWarning`` also
        says so when the matched filter of the signal of the other sign
        without that baseline offset exceeds both ``1.5 alpha`` (that signal's) and
        ``a_max ||pulse||^2``, the response of an isolated event of the
        largest amplitude found (a pulse of the other sign larger than every
        event found; for pulses of the given sign that signal holds noise and
        baselines below the median only).

    Returns
    -------
    EstimatedEvents
    """
    t_start = time.perf_counter()
    polarity = check_option(polarity, "polarity", ("positive", "negative"))
    fs = check_sampling_rate(sampling_rate)
    if isinstance(signal, np.memmap):
        y = signal
        if y.ndim != 1:
            raise ValueError(f"signal must be 1-D, got shape {y.shape}")
        if y.dtype.kind not in "iuf":
            raise TypeError(f"signal must be a real numeric array, got dtype {y.dtype}")
    else:
        # finiteness is checked below in one compiled pass (no temporary arrays)
        y = as_float_array(signal, "signal", ndim=1, finite=False, allow_bool=False)
    if y.dtype.kind == "f":
        bad = first_nonfinite(y)
        if bad >= 0:
            kind = "NaN" if np.isnan(y[bad]) else "infinite"
            raise ValueError(f"signal must contain only finite values; the first non-finite "
                             f"value ({kind}) is at index {bad}")
    if polarity == "negative":
        y = _negated(y)
    p = check_kernel(pulse, "pulse", ndim=1, dtype=np.float64)
    if np.any(p < 0):
        raise ValueError(
            "pulse must be non-negative (a unipolar detector pulse): its screening rule "
            f"needs H^T H >= 0; min(pulse) = {p.min():.3g}. Clip small negative values "
            "of a measured shape or shape the signal to a unipolar pulse")
    n = y.shape[0]
    L = p.size
    if L > n:
        raise ValueError(f"pulse has {L} samples, longer than the signal ({n} samples)")
    method = "lasso" if dead_time_s is None else "cross_products"
    merge_gap = check_int(merge_gap_samples, "merge_gap_samples", low=0)
    if max_merge is not None:
        max_merge = check_int(max_merge, "max_merge", low=1)
    merge_correlated = check_bool(merge_correlated, "merge_correlated")
    window = None
    Lg = 0
    # alpha set from the estimated noise level (the other-polarity warning sets it again for
    # the signal without its baseline offset)
    alpha_is_default = alpha is None and noise_std is None
    if noise_std is None:
        noise_std = estimate_noise_std(y[: min(n, 1 << 22)])
        if not noise_std > 0 and alpha is None:
            raise ValueError(
                "no noise level could be estimated from signal: estimate_noise_std gives 0 "
                "(no sample below the zero baseline other than exact zeros: an all-zero or "
                "constant signal, or integer samples with noise far below 1 LSB); pass "
                "noise_std (the noise standard deviation of the signal, > 0) or alpha")
    if not (noise_std == 0 and alpha is not None):
        # with alpha given, a zero noise estimate is only reported
        noise_std = check_scalar(noise_std, "noise_std", low=0, low_inclusive=False)
    threshold_factor = check_scalar(threshold_factor, "threshold_factor", low=0,
                                    low_inclusive=False)
    if alpha is None:
        alpha = _default_alpha(noise_std, p, n, threshold_factor)
    alpha = check_scalar(alpha, "alpha", low=0, low_inclusive=False)
    if dead_time_s is not None:
        from ..models import refractory_window

        tau = check_scalar(dead_time_s, "dead_time_s", low=0, low_inclusive=False)
        Lg = max(1, int(np.ceil(tau * fs - 1e-9)) - 1)
        if Lg >= n:
            raise ValueError(f"dead_time_s={tau} s spans {Lg + 1} samples, longer than the "
                             f"signal ({n} samples)")
        strength = check_scalar(cross_products_strength, "cross_products_strength", low=0,
                                low_inclusive=False)
        a_ref = alpha / float(p @ p)
        window = refractory_window(Lg, strength / a_ref)
        if merge_gap >= 1:
            # lags up to merge_gap_samples are one event split between samples: not penalized
            window[1: min(Lg, merge_gap) + 1] = 0.0
            if not np.any(window):
                raise ValueError(
                    f"dead_time_s={tau} s ({tau * fs:.3g} samples at sampling_rate={fs:g} Hz) "
                    f"leaves no lag to penalize beyond merge_gap_samples={merge_gap} (the "
                    f"penalized lags are merge_gap_samples < d <= max(1, ceil(dead_time_s * "
                    f"sampling_rate) - 1)); use a longer dead time")
    if min_amplitude is None:
        min_amplitude = alpha / float(p @ p)
    min_amplitude = check_scalar(min_amplitude, "min_amplitude", low=0)
    tol = check_scalar(tol, "tol", low=0, low_inclusive=False)
    max_iter = check_int(max_iter, "max_iter", low=1)
    chunk_size = check_int(chunk_size, "chunk_size", low=8 * L)
    default_overlap = overlap is None
    overlap = max(16 * L, 256) if default_overlap else check_int(overlap, "overlap", low=L)
    if 2 * overlap >= chunk_size:
        what = (f"the default overlap max(16 L, 256) = {overlap} (L = {L}: pulse length)"
                if default_overlap else f"overlap ({overlap})")
        raise ValueError(f"{what} must be smaller than half of chunk_size ({chunk_size}): "
                         f"chunk_size must be at least {2 * overlap + 1}, or pass a smaller "
                         "overlap")
    debias = check_bool(debias, "debias")
    margin = max(L, Lg + 1) + 2
    if isinstance(check_kkt, (bool, np.bool_)):
        check_kkt = bool(check_kkt)
    elif isinstance(check_kkt, str):
        if check_kkt != "samples":
            raise ValueError(f"check_kkt must be True, False or 'samples', got {check_kkt!r}")
    else:
        raise TypeError(f"check_kkt must be True, False or 'samples', got an object of type "
                        f"{type(check_kkt).__name__}")
    segment_solver = check_option(segment_solver, "segment_solver", ("active_set", "cd"))
    max_segment_vars = check_int(max_segment_vars, "max_segment_vars", low=1)

    timings = {}
    t0 = time.perf_counter()
    starts, stops = screen_runs(y, p, alpha, margin, max(chunk_size, 1 << 20))
    timings["screening"] = time.perf_counter() - t0
    active = int((stops - starts).sum())

    t0 = time.perf_counter()
    idx_all, lasso_all, deb_all = [], [], []
    n_pieces = 0
    n_not_conv = 0
    seg_stats = {}
    seg_kkt = None
    cd_starts, cd_stops = starts, stops
    if method == "lasso" and segment_solver == "active_set" and starts.size:
        s_idx, s_coef, s_deb, fallback, seg_stats = solve_runs(
            y, p, alpha, starts, stops, margin=margin, debias=debias,
            max_vars=max_segment_vars, kkt=check_kkt is True)
        seg_kkt = seg_stats.pop("kkt_violation", None)
        idx_all.append(s_idx)
        lasso_all.append(s_coef)
        deb_all.append(s_deb)
        n_pieces += seg_stats["calls"]
        cd_starts, cd_stops = starts[fallback], stops[fallback]
        seg_stats["runs"] = int(starts.size)
        seg_stats["runs_to_cd"] = int(cd_starts.size)
    for group in _pieces(cd_starts, cd_stops, chunk_size, overlap):
        yp = np.concatenate([np.asarray(y[w0:w1], dtype=np.float64) for w0, w1, _, _ in group])
        if yp.size < L:
            yp = np.concatenate([yp, np.zeros(L - yp.size)])
        res = _solve_piece(yp, p, alpha, method=method, window=window, tol=tol,
                           max_iter=max_iter)
        n_pieces += 1
        n_not_conv += int(not np.all(res.converged))
        coef = res.coef
        nz = np.flatnonzero(coef > 0)
        deb = coef[nz]
        if debias:
            deb = refit_support(yp, p, nz, positive=True)
        win = np.asarray(group, dtype=np.int64).reshape(-1, 4)
        lengths = win[:, 1] - win[:, 0]
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        run = np.searchsorted(offsets, nz, side="right") - 1
        glob = nz - offsets[run] + win[run, 0]
        own = (glob >= win[run, 2]) & (glob < win[run, 3])
        idx_all.append(glob[own])
        lasso_all.append(coef[nz[own]])
        deb_all.append(deb[own])
    timings["solve"] = time.perf_counter() - t0
    if len(idx_all) == 1:
        # one part (the segment solver alone): no copy
        idx, lasso_amp, deb_amp = idx_all[0], lasso_all[0], deb_all[0]
    elif idx_all:
        idx = np.concatenate(idx_all)
        lasso_amp = np.concatenate(lasso_all)
        deb_amp = np.concatenate(deb_all)
    else:
        idx = np.zeros(0, dtype=np.int64)
        lasso_amp = deb_amp = np.zeros(0)
    if idx.size > 1 and not np.all(idx[1:] > idx[:-1]):
        order = np.argsort(idx, kind="stable")
        idx, lasso_amp, deb_amp = idx[order], lasso_amp[order], deb_amp[order]

    kkt = np.nan
    if check_kkt:
        t0 = time.perf_counter()
        if seg_kkt is not None:
            # the runs of the segment solver were checked in its pass; the others here
            kkt = seg_kkt
            if cd_starts.size:
                kkt = max(kkt, kkt_runs(y, p, alpha, cd_starts, cd_stops, idx, lasso_amp,
                                        margin=margin))
        elif window is None:
            kkt = kkt_runs(y, p, alpha, starts, stops, idx, lasso_amp, margin=margin)
        else:
            kkt = _kkt_violation(y, p, idx, lasso_amp, alpha, window, starts, stops)
        timings["kkt_check"] = time.perf_counter() - t0
        if window is None and kkt > _KKT_WARN:
            warnings.warn(
                f"the recovered events violate the LASSO optimality conditions by "
                f"{kkt:.3g} x alpha (kkt_violation): not a solution of the stated problem; "
                "with segment_solver='cd' a short overlap between chunks does this (use a "
                "larger overlap or chunk_size, or segment_solver='active_set')",
                ConvergenceWarning, stacklevel=2)

    t0 = time.perf_counter()
    weights = deb_amp if debias else lasso_amp
    # a group split off a run must stand out of the noise of collinear neighbours: the
    # detection amplitude alpha / ||p||^2, inflated by 1 / sqrt(1 - rho_1^2) (rho_1: the
    # pulse's normalized autocorrelation at lag 1, the correlation of adjacent columns)
    rho1 = float(p[:-1] @ p[1:]) / float(p @ p) if L > 1 else 0.0
    split_min = max(min_amplitude,
                    alpha / float(p @ p) / np.sqrt(max(1.0 - rho1 ** 2, 1e-12)))
    if idx.size:
        # cluster_events's core without its input checks: idx is sorted (the argsort above),
        # and a non-finite amplitude, which cluster_events refuses, is refused here
        bad = first_nonfinite(weights)
        if bad >= 0:
            raise ValueError(f"non-finite amplitude {weights[bad]} at sample {idx[bad]} from "
                             f"the solver")
        # integer sample positions, used as they are by the compiled merge (the numbers of
        # their float64 copy)
        new = _group_flags(idx, weights, weights, float(merge_gap), max_merge,
                           float(split_min))
        if merge_correlated:
            # the coefficients of every group, for the refit noise of merge_correlated (idx
            # is overwritten below)
            cpos, first_c = idx.copy(), np.flatnonzero(new)
        other = lasso_amp if debias else deb_amp
        arrays = (idx, weights, other)
        if (all(v.flags.c_contiguous and v.flags.writeable for v in arrays)
                and idx.dtype == np.int64 and weights.dtype == other.dtype == np.float64
                and not any(np.may_share_memory(u, v) for u, v in
                            ((idx, weights), (idx, other), (weights, other)))):
            # the groups written over the solver's own arrays (no new arrays of this size:
            # fresh memory is slow to touch): mean positions over the memory of idx, summed
            # weights over weights, summed LASSO amplitudes (refitted ones without debias,
            # where they are the same array) over the other array
            pos_buf = idx.view(np.float64)
            ng = group_means_into(new, idx, weights, weights, lasso_amp, pos_buf, weights,
                                  other)
            pos, amp, lamp = pos_buf[:ng], weights[:ng], other[:ng]
        else:
            pos, amp, first = group_means(new, idx, weights, weights)
            lamp = group_sums(lasso_amp, first)
        del new
    else:
        pos, amp = idx.astype(np.float64), weights
        lamp = group_sums(lasso_amp, np.zeros(0, dtype=np.int64))
    if merge_correlated and amp.size > 1:
        new = merge_correlated_events(pos, amp, _autocorrelation(p), alpha / float(p @ p),
                                      cpos=cpos, first=np.append(first_c, cpos.size))
        if not new.all():
            pos, amp, first = group_means(new, pos, amp, amp)
            lamp = group_sums(lamp, first)
        del new
    keep = (amp > 0) & (amp >= min_amplitude)
    if keep.all():
        # every group is kept: arrays of their exact size, none a view of the solver's
        # over-sized output (which would stay alive with the result)
        times = pos / fs
        amp, lamp = (v if v.base is None else v.copy() for v in (amp, lamp))
    else:
        times, amp, lamp = pos[keep] / fs, amp[keep], lamp[keep]
    timings["merge"] = time.perf_counter() - t0
    if times.size == 0:
        _warn_if_other_polarity(y, p, alpha, polarity,
                                threshold_factor if alpha_is_default else None)
    else:
        _warn_if_events_of_other_polarity(y, p, alpha, polarity,
                                          threshold_factor if alpha_is_default else None,
                                          times.size, float(np.max(amp)))
    timings["total"] = time.perf_counter() - t_start
    return EstimatedEvents(
        arrival_times_s=times, amplitudes=amp, lasso_amplitudes=lamp,
        sampling_rate=fs, duration_s=n / fs, alpha=alpha, noise_std=noise_std,
        method=method, dead_time_s=None if dead_time_s is None else float(dead_time_s),
        kkt_violation=kkt, n_pieces=n_pieces, active_fraction=active / n,
        n_not_converged=n_not_conv, timings_s=timings, segment_stats=seg_stats)


def _ranges(lo, hi):
    """Concatenation of ``arange(lo[r], hi[r])`` for every ``r`` (vectorized)."""
    lengths = hi - lo
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    start = np.repeat(lo - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return np.arange(total, dtype=np.int64) + start


def _kkt_violation(y, p, idx, coef, alpha, window, starts, stops, group_size=1 << 20):
    """Largest violation of the (weighted) non-negative LASSO conditions, relative to alpha.

    Zero coefficients need ``grad_i <= alpha w_i``, non-zero ones
    ``grad_i = alpha w_i`` with ``grad = H^T (y - H s)`` on the original record
    and ``w = gamma = 1 + 2 G s`` (cross-products) or 1.  Only the runs kept by
    the screening are checked: elsewhere ``grad_i <= (H^T y)_i <= alpha``
    holds for every ``s >= 0`` (non-negative pulse).  Every run is evaluated in
    a window of the original samples extended on both sides, with every
    coefficient (of any run or piece) that reaches it, so the stitching of
    pieces and windows is verified too.
    """
    n = y.shape[0]
    L = p.size
    Lg = 0 if window is None else window.size - 1
    ext = max(L, Lg) + 1
    worst = 0.0
    full_window = None if window is None else np.concatenate([window[:0:-1], window])
    # groups of consecutive runs holding about group_size samples each
    label = np.cumsum(stops - starts + 3 * ext) // group_size
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(label)) + 1, [starts.size]])
    for k, j in zip(bounds[:-1], bounds[1:]):
        S, E = starts[k:j], stops[k:j]
        w0 = np.maximum(S - ext, 0)
        w1 = np.minimum(E + ext, n)
        blk = ext + (w1 - w0)  # ext zeros, then the window's samples
        off = np.concatenate([[0], np.cumsum(blk)])
        tot = int(off[-1]) + ext
        base = off[:-1] + ext - w0  # packed position of global sample 0, per run
        # samples of the windows
        src = _ranges(w0, w1)
        dst = src + np.repeat(base, w1 - w0)
        ypk = np.zeros(tot)
        ypk[dst] = y[src]
        inside = np.zeros(tot, dtype=bool)
        inside[dst] = True
        # every coefficient reaching a window (a coefficient may reach two windows)
        lo = np.searchsorted(idx, w0 - ext)
        hi = np.searchsorted(idx, w1)
        which = _ranges(lo, hi)
        spk = np.zeros(tot)
        spk[idx[which] + np.repeat(base, hi - lo)] = coef[which]
        # positions to evaluate: the runs themselves; non-zero coefficients among them
        ev_src = _ranges(S, E)
        evaluate = np.zeros(tot, dtype=bool)
        evaluate[ev_src + np.repeat(base, E - S)] = True
        lo = np.searchsorted(idx, S)
        hi = np.searchsorted(idx, E)
        which = _ranges(lo, hi)
        nonzero = np.zeros(tot, dtype=bool)
        nonzero[idx[which] + np.repeat(base, hi - lo)] = True
        model = np.convolve(spk, p)[:tot]
        # residual only on the samples of the record (zero past its end, as in H^T)
        grad = correlate_pulse(np.where(inside, ypk - model, 0.0), p)
        w = 1.0
        if full_window is not None:
            w = 1.0 + 2.0 * np.convolve(spk, full_window, mode="same")
        target = alpha * w
        dev = np.where(nonzero, np.abs(grad - target), grad - target)
        worst = max(worst, float(np.max(np.where(evaluate, dev, 0.0), initial=0.0)))
    return worst / alpha


@dataclass
class ActivityEstimate:
    """True-rate estimate of :func:`estimate_activity`.

    Attributes
    ----------
    rate_hz : float
        Estimated true event rate.
    rate_uncertainty_hz : float
        Its standard deviation (Poisson statistics of the counted clusters,
        pile-up included through the resolving-time correction).
    recovered_rate_hz : float
        Recovered events per second, uncorrected.
    n_events : int
        Recovered events.
    n_clusters : int
        Clusters of recovered events closer than ``resolving_time_s``.
    resolving_time_s : float
        Time below which two recovered events are not trusted to be resolved
        (the paralyzable dead time of the correction).
    duration_s : float
    events : EstimatedEvents
    """

    rate_hz: float
    rate_uncertainty_hz: float
    recovered_rate_hz: float
    n_events: int
    n_clusters: int
    resolving_time_s: float
    duration_s: float
    events: EstimatedEvents

    def resolved_fraction(self, resolving_time_s=None) -> float:
        """``exp(-2 rate_hz d)``: expected fraction of events with no other event within
        ``d`` on either side (default ``d = resolving_time_s`` of this estimate).

        With ``d`` the separation below which recovered amplitudes are corrupted by
        a neighbour, this is the fraction of events found at their own energy:
        divide a photopeak area of the recovered spectrum by it to correct for the
        pile-up left unresolved.
        """
        d = self.resolving_time_s if resolving_time_s is None else check_scalar(
            resolving_time_s, "resolving_time_s", low=0)
        return float(np.exp(-2.0 * self.rate_hz * d))


def estimate_activity(signal, *, sampling_rate, pulse, dead_time_s=None,
                      resolving_time_s=None, **kwargs):
    r"""True event rate (activity seen by the detector) from a sampled signal.

    Events are recovered by :func:`estimate_events` (``**kwargs`` are passed
    on).  Deconvolution resolves pile-up down to some separation ``d`` but
    not below: two events closer than that may come out as one.  The recovered
    events are therefore grouped into clusters whose consecutive members are
    less than ``d = resolving_time_s`` apart; the cluster starts are exactly
    what a paralyzable counter of dead time ``d`` records from the true
    Poisson arrivals (an event opens a new cluster iff the previous event is at
    least ``d`` earlier), so

    .. math::

        \hat n = -W_0(-C d / T) / d, \qquad
        \operatorname{sd}(\hat n) = \frac{\sqrt{C (1 - 2 \hat n d e^{-\hat n d})}}
                                         {T e^{-\hat n d} (1 - \hat n d)}

    with ``C`` clusters in ``T`` seconds (Lambert's ``W_0``; the variance is
    Müller's for a paralyzable counter).  Events wrongly split or merged
    inside a cluster do not change ``C``.

    Parameters
    ----------
    signal, sampling_rate, pulse, dead_time_s
        As in :func:`estimate_events`.
    resolving_time_s : float, optional
        ``d``.  Default: ``dead_time_s`` when given, else
        :func:`default_resolving_samples` of the pulse (the lag at which its
        normalized autocorrelation falls to 0.5 or below), over the sampling
        rate.  ``d`` must be at least the separation below which the
        deconvolution merges events, and not much more (recovered positions
        scatter by a fraction of a sample, which moves gaps across ``d``); the
        0.5 rule was set on the HPGe benchmark (``gamma/RESULTS.md``), so check
        it by simulation for a very different pulse.
    **kwargs
        Passed to :func:`estimate_events` (e.g. ``polarity="negative"`` for
        negative-going pulses).

    Returns
    -------
    ActivityEstimate
    """
    fs = check_sampling_rate(sampling_rate)
    p = check_kernel(pulse, "pulse", ndim=1, dtype=np.float64)
    ev = estimate_events(signal, sampling_rate=fs, pulse=p, dead_time_s=dead_time_s,
                         **kwargs)
    if resolving_time_s is None:
        d = dead_time_s if dead_time_s is not None else default_resolving_samples(p) / fs
    else:
        d = resolving_time_s
    return activity_from_events(ev, resolving_time_s=d)


def activity_from_events(events, *, resolving_time_s):
    r"""True rate from recovered events: paralyzable inversion of their cluster count.

    The second half of :func:`estimate_activity`, for events already
    recovered (e.g. to compare several resolving times on one deconvolution).

    Parameters
    ----------
    events : EstimatedEvents
    resolving_time_s : float
        ``d > 0``: consecutive events less than ``d`` apart are one cluster.

    Returns
    -------
    ActivityEstimate

    Raises
    ------
    ValueError
        If the cluster rate is above the paralyzable maximum ``1 / (e d)``.
    """
    if not isinstance(events, EstimatedEvents):
        raise TypeError(f"events must be an EstimatedEvents (from estimate_events), got "
                        f"{type(events).__name__}")
    d = check_scalar(resolving_time_s, "resolving_time_s", low=0, low_inclusive=False)
    T = events.duration_s
    t = events.arrival_times_s
    if t.size:
        new = np.ones(t.size, dtype=bool)
        new[1:] = np.diff(t) >= d
        n_clusters = int(new.sum())
    else:
        n_clusters = 0
    if n_clusters * d / T > 1.0 / np.e:
        raise ValueError(
            f"{n_clusters} clusters of recovered events in {T:g} s with resolving_time_s={d:g} "
            f"s exceed the paralyzable maximum 1/(e d): the rate is too high for this "
            "resolving time (shorten resolving_time_s or dead_time_s)")
    rate, sd = true_rate_uncertainty(n_clusters, duration_s=T, dead_time_s=d,
                                     model="paralyzable")
    return ActivityEstimate(rate_hz=float(rate), rate_uncertainty_hz=float(sd),
                            recovered_rate_hz=t.size / T, n_events=int(t.size),
                            n_clusters=n_clusters, resolving_time_s=float(d),
                            duration_s=T, events=events)
