"""Simulated detector signals: Poisson pulse trains with pile-up, noise and dead time."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import oaconvolve

from .._validation import (
    as_float_array,
    check_int,
    check_kernel,
    check_option,
    check_random_state,
    check_sampling_rate,
    check_scalar,
)
from ._dead_time import DEAD_TIME_MODELS, dead_time_counter

__all__ = ["simulate_pulse_train", "PulseTrain", "SpectrumSampler"]


class SpectrumSampler:
    """Draw amplitudes from a histogram (e.g. a measured energy spectrum).

    A bin is drawn with probability proportional to its count, then a value
    uniformly within the bin; the value is multiplied by ``gain`` (e.g. ADC
    units per keV).

    Parameters
    ----------
    counts : array_like of shape (n_bins,)
        Non-negative counts.
    bin_edges : array_like of shape (n_bins + 1,)
        Increasing bin edges (e.g. keV).
    gain : float, default=1.0
        Amplitude per unit of ``bin_edges`` (``> 0``).
    low, high : float, optional
        Keep only the bins entirely within ``[low, high]`` (units of
        ``bin_edges``), e.g. an analyzer's low-level discriminator.
    """

    def __init__(self, counts, bin_edges, *, gain=1.0, low=None, high=None):
        c = as_float_array(counts, "counts", dtype=np.float64, ndim=1)
        e = as_float_array(bin_edges, "bin_edges", dtype=np.float64, ndim=1)
        if e.size != c.size + 1:
            raise ValueError(f"bin_edges must have len(counts) + 1 = {c.size + 1} entries, "
                             f"got {e.size}")
        if np.any(np.diff(e) <= 0):
            raise ValueError("bin_edges must be strictly increasing")
        if np.any(c < 0):
            raise ValueError("counts must be >= 0")
        self.gain = check_scalar(gain, "gain", low=0, low_inclusive=False)
        keep = np.ones(c.size, dtype=bool)
        low = None if low is None else check_scalar(low, "low")
        high = None if high is None else check_scalar(high, "high")
        if low is not None and high is not None and high <= low:
            raise ValueError(f"need low < high, got low={low}, high={high}")
        if low is not None:
            keep &= e[:-1] >= low
        if high is not None:
            keep &= e[1:] <= high
        c = np.where(keep, c, 0.0)
        if c.sum() <= 0:
            raise ValueError(
                "counts: no counts in the bins selected by low/high "
                f"(low={low}, high={high}, bin_edges {e[0]:g}..{e[-1]:g})")
        self.counts = c
        self.bin_edges = e
        self._cdf = np.cumsum(c) / c.sum()

    def __call__(self, rng, size):
        u = rng.random(size)
        k = np.searchsorted(self._cdf, u, side="right")
        k = np.minimum(k, self.counts.size - 1)
        lo = self.bin_edges[k]
        hi = self.bin_edges[k + 1]
        return self.gain * (lo + rng.random(size) * (hi - lo))


@dataclass
class PulseTrain:
    """A simulated detector signal and its ground truth.

    Attributes
    ----------
    signal : ndarray of shape (n_samples,)
        ``sum_k a_k pulse(t - t_k) + noise`` sampled at ``sampling_rate``.
    arrival_times_s : ndarray of shape (n_events,)
        All true arrival times in seconds (sorted), piled-up or not.
    amplitudes : ndarray of shape (n_events,)
        Amplitude of every true event (the pulse is scaled by it).
    recorded : ndarray of bool, shape (n_events,)
        Which events a counter with ``dead_time_s`` and ``dead_time_model``
        records (all ``True`` for ``"none"``).  The signal always contains every
        event: the dead time is the counter's, not the detector's.
    sampling_rate, rate_hz, duration_s, dead_time_s, noise_std : float
    dead_time_model : str
    pulse : ndarray
        The pulse shape, or the ``(n_shapes, L)`` shapes.
    shape_index : ndarray of int, shape (n_events,)
        Which row of a 2-D ``pulse`` every event has (zeros for a 1-D pulse).
    """

    signal: np.ndarray
    arrival_times_s: np.ndarray
    amplitudes: np.ndarray
    recorded: np.ndarray
    sampling_rate: float
    rate_hz: float
    duration_s: float
    dead_time_s: float
    dead_time_model: str
    noise_std: float
    pulse: np.ndarray
    shape_index: np.ndarray

    @property
    def arrival_samples(self) -> np.ndarray:
        """Arrival times in (fractional) samples."""
        return self.arrival_times_s * self.sampling_rate

    @property
    def n_events(self) -> int:
        return self.arrival_times_s.size


def _draw_amplitudes(amplitudes, rng, n):
    if callable(amplitudes):
        a = np.asarray(amplitudes(rng, n), dtype=np.float64)
        if a.shape != (n,):
            raise ValueError(f"amplitudes(rng, size) must return shape ({n},), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError("amplitudes(rng, size) returned non-finite values")
        return a
    if np.ndim(amplitudes) == 0:
        value = check_scalar(amplitudes, "amplitudes")
        return np.full(n, value)
    pool = as_float_array(amplitudes, "amplitudes", dtype=np.float64, ndim=1)
    return pool[rng.integers(0, pool.size, n)] if n else np.zeros(0)


def simulate_pulse_train(*, rate_hz, duration_s, sampling_rate, pulse, amplitudes=1.0,
                         noise_std=0.0, dead_time_s=0.0, dead_time_model="none",
                         subsample=True, dtype=np.float64, chunk_size=1 << 22,
                         random_state=None):
    r"""Simulate a detector signal: Poisson arrivals, pile-up, electronic noise.

    The signal is

    .. math::

        y[j] = \sum_k a_k\, p(j - f_s t_k) + w[j], \quad w[j] \sim N(0, \sigma^2)

    with arrivals ``t_k`` of a homogeneous Poisson process of rate
    ``rate_hz`` on ``[0, duration_s)``, amplitudes ``a_k`` drawn independently,
    ``p`` the sampled ``pulse`` (``p(x)`` between samples by linear
    interpolation of the samples padded with one zero on each side,
    when ``subsample`` is true; otherwise the arrival times are rounded down
    to the sampling grid), and ``sigma = noise_std``.  Pulses
    overlapping the end of the record are cut there.  Besides the signal,
    the ground truth says which events a counter with dead time would record.

    Parameters
    ----------
    rate_hz : float
        True event rate in Hz (``>= 0``).
    duration_s : float
        Record length in seconds (``> 0``).
    sampling_rate : float
        Hz.
    pulse : array_like of shape (L,) or (n_shapes, L)
        Pulse shape sampled at ``sampling_rate``, starting at the arrival
        time (``L`` at most the number of samples).  Several rows: every event
        takes one of them uniformly at random (pulse-shape variation, e.g. with
        the interaction position in a germanium crystal).
    amplitudes : float, array_like, callable or SpectrumSampler, default=1.0
        A constant; a 1-D pool of values drawn uniformly with replacement; or
        ``f(rng, size) -> ndarray`` (e.g. :class:`SpectrumSampler` built from a
        measured spectrum).
    noise_std : float, default=0.0
        Standard deviation of white Gaussian electronic noise.
    dead_time_s : float, default=0.0
        Dead time of the counter in seconds (``>= 0``).
    dead_time_model : {"none", "nonparalyzable", "paralyzable"}
        See :func:`dead_time_counter`.
    subsample : bool, default=True
        Continuous arrival times (fractional-sample delays).
    dtype : {numpy.float64, numpy.float32}
        Signal dtype (``float32`` halves the memory of long records).
    chunk_size : int, default=2**22
        Samples synthesized at a time (bounds the temporary memory).
    random_state : None, int or numpy Generator

    Returns
    -------
    PulseTrain
    """
    rate = check_scalar(rate_hz, "rate_hz", low=0)
    T = check_scalar(duration_s, "duration_s", low=0, low_inclusive=False)
    fs = check_sampling_rate(sampling_rate)
    P = check_kernel(pulse, "pulse", ndim=(1, 2), dtype=np.float64)
    shapes = P if P.ndim == 2 else P[None, :]
    sigma = check_scalar(noise_std, "noise_std", low=0)
    tau = check_scalar(dead_time_s, "dead_time_s", low=0)
    check_option(dead_time_model, "dead_time_model", DEAD_TIME_MODELS)
    if np.dtype(dtype) not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {np.dtype(dtype)}")
    chunk_size = check_int(chunk_size, "chunk_size", low=1)
    rng = check_random_state(random_state)
    n_samples = int(round(T * fs))
    if n_samples < shapes.shape[1]:
        raise ValueError(
            f"pulse has {shapes.shape[1]} samples, longer than the {n_samples}-sample signal "
            f"(duration_s * sampling_rate); lengthen duration_s or shorten the pulse")
    T_grid = n_samples / fs
    n_events = int(rng.poisson(rate * T_grid))
    times = np.sort(rng.random(n_events)) * T_grid
    k = np.minimum(np.floor(times * fs).astype(np.int64), n_samples - 1)
    if subsample:
        frac = times * fs - k
    else:
        times = k / fs
        frac = np.zeros(n_events)
    amps = _draw_amplitudes(amplitudes, rng, n_events)
    shape_index = (rng.integers(0, shapes.shape[0], n_events) if shapes.shape[0] > 1
                   else np.zeros(n_events, dtype=np.int64))
    recorded = dead_time_counter(times, dead_time_s=tau, model=dead_time_model)

    signal = np.empty(n_samples, dtype=dtype)
    L = shapes.shape[1]
    for a in range(0, n_samples, chunk_size):
        b = min(n_samples, a + chunk_size)
        lo = np.searchsorted(k, a - L, side="left")
        hi = np.searchsorted(k, b, side="left")
        kk = k[lo:hi] - (a - L)  # impulse index in a local buffer that starts at a - L
        size = b - a + L + 1
        seg = np.zeros(b - a)
        for q in range(shapes.shape[0]):
            sel = slice(None) if shapes.shape[0] == 1 else (shape_index[lo:hi] == q)
            kq, aq, fq = kk[sel], amps[lo:hi][sel], frac[lo:hi][sel]
            w = np.bincount(kq, aq * (1.0 - fq), minlength=size)
            w[1:] += np.bincount(kq, aq * fq, minlength=size)[:-1]
            conv = (oaconvolve(w, shapes[q], mode="full") if w.size > 64 * L
                    else np.convolve(w, shapes[q]))
            seg += conv[L: L + (b - a)]
        if sigma > 0:
            seg += rng.normal(0.0, sigma, b - a)
        signal[a:b] = seg
    return PulseTrain(signal=signal, arrival_times_s=times, amplitudes=amps, recorded=recorded,
                      sampling_rate=fs, rate_hz=rate, duration_s=T_grid, dead_time_s=tau,
                      dead_time_model=dead_time_model, noise_std=sigma, pulse=P,
                      shape_index=shape_index)
