"""Detector pulse shapes: analytic models, measured (learned) shapes, pole-zero shaping."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import (
    as_float_array,
    check_int,
    check_option,
    check_sampling_rate,
    check_scalar,
)

__all__ = [
    "biexponential_pulse",
    "pole_zero_filter",
    "learn_pulse_shape",
    "LearnedPulse",
    "pulse_duration_s",
    "rise_time_10_90_s",
    "trim_pulse",
]

_NORMALIZATIONS = ("peak", "area", None)


def _normalize(pulse, normalize, name="pulse"):
    check_option(normalize, "normalize", _NORMALIZATIONS)
    if normalize == "peak":
        peak = pulse[np.argmax(np.abs(pulse))]
        return pulse / peak
    if normalize == "area":
        area = pulse.sum()
        if area == 0:
            raise ValueError(f"{name} has zero area and cannot be area-normalized")
        return pulse / area
    return pulse


def biexponential_pulse(*, sampling_rate, rise_time_s, decay_time_s, duration_s=None,
                        normalize="peak", tail_fraction=1e-4):
    r"""Bi-exponential detector pulse sampled at ``sampling_rate``.

    .. math::

        p(t) = e^{-t/\tau_d} - e^{-t/\tau_r}, \quad t \ge 0

    with the rise time constant ``tau_r = rise_time_s`` and the decay time
    constant ``tau_d = decay_time_s`` (time constants, not 10-90 % times; see
    :func:`rise_time_10_90_s` to measure those).  Sample ``k`` holds
    ``p(k / sampling_rate)``, so ``p[0] = 0`` (the pulse starts at its
    arrival time).  When ``rise_time_s == decay_time_s`` the limit
    ``(t / tau) e^{-t/tau}`` is used.

    Parameters
    ----------
    sampling_rate : float
        Sampling rate in Hz.
    rise_time_s, decay_time_s : float
        Time constants in seconds; ``0 <= rise_time_s`` and
        ``0 < decay_time_s``.  ``rise_time_s = 0`` gives an instantaneous rise.
    duration_s : float, optional
        Length of the returned pulse in seconds.  By default the pulse is cut
        where it has decayed below ``tail_fraction`` of its peak.
    normalize : {"peak", "area", None}, default="peak"
        Scale to unit peak (amplitude = pulse height) or unit area
        (amplitude = charge), or leave unscaled.
    tail_fraction : float, default=1e-4
        Relative level at which the default duration cuts the tail.

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    fs = check_sampling_rate(sampling_rate)
    tr = check_scalar(rise_time_s, "rise_time_s", low=0)
    td = check_scalar(decay_time_s, "decay_time_s", low=0, low_inclusive=False)
    if tr > td:
        raise ValueError(
            f"rise_time_s ({tr}) must not exceed decay_time_s ({td}): the rise time "
            "constant is the faster one")
    tail_fraction = check_scalar(tail_fraction, "tail_fraction", low=0, high=1,
                                 low_inclusive=False, high_inclusive=False)
    if duration_s is None:
        # e^{-t/td} (1 - e^{-t (1/tr - 1/td)}) <= e^{-t/td}: cut where the envelope is small
        t_peak = _biexp_peak_time(tr, td)
        peak = _biexp(np.array([t_peak]), tr, td)[0]
        t_end = td * np.log(1.0 / (tail_fraction * peak)) if peak > 0 else td
        n = int(np.ceil(max(t_end, t_peak) * fs)) + 1
    else:
        duration = check_scalar(duration_s, "duration_s", low=0, low_inclusive=False)
        n = int(round(duration * fs))
    if n < 2:
        raise ValueError(
            f"the pulse spans {n} sample(s) at sampling_rate={fs} Hz; it needs at least "
            "2 samples (increase duration_s or the sampling rate)")
    t = np.arange(n) / fs
    p = _biexp(t, tr, td)
    if not np.any(p):
        raise ValueError("the sampled pulse is identically zero; increase sampling_rate")
    return _normalize(p, normalize)


def _biexp(t, tr, td):
    if tr == 0:
        return np.where(t >= 0, np.exp(-t / td), 0.0)
    if np.isclose(tr, td, rtol=1e-9):
        return (t / td) * np.exp(-t / td)
    return np.exp(-t / td) - np.exp(-t / tr)


def _biexp_peak_time(tr, td):
    if tr == 0:
        return 0.0
    if np.isclose(tr, td, rtol=1e-9):
        return td
    return tr * td / (td - tr) * np.log(td / tr)


def pole_zero_filter(signal, *, sampling_rate, decay_time_s=np.inf, axis=-1):
    r"""Cancel an exponential tail: ``x[n] = y[n] - exp(-1 / (f_s tau)) y[n - 1]``.

    A charge-sensitive preamplifier turns each detector pulse into a step with
    an exponential decay of time constant ``tau = decay_time_s``.  This
    first-order filter (pole-zero cancellation) maps ``e^{-t/tau} u(t)``
    sampled at ``f_s`` to a single impulse, so a preamplifier trace becomes a
    train of short current-like pulses (the derivative of the rise) and
    the linear model ``y = h * s + w`` keeps its sparse ``s`` with the short
    kernel ``pole_zero_filter(h)``.  ``decay_time_s = inf`` (a step, no
    decay) is the first difference.  ``y[-1]`` is taken as 0 (the trace is
    assumed baseline-subtracted), so the output has the input's length and the
    filter is exactly invertible.

    Parameters
    ----------
    signal : array_like
        Baseline-subtracted trace(s); boolean arrays are refused (``TypeError``).
    sampling_rate : float
        Sampling rate in Hz.
    decay_time_s : float, default=inf
        Decay time constant of the tail in seconds (``> 0``).
    axis : int, default=-1
        Time axis.

    Returns
    -------
    ndarray, same shape as ``signal``
    """
    fs = check_sampling_rate(sampling_rate)
    tau = check_scalar(decay_time_s, "decay_time_s", low=0, low_inclusive=False,
                       allow_inf=True)
    # a boolean array (``trace > level`` by mistake) is not a trace: refused, as by every
    # signal input
    y = as_float_array(signal, "signal", dtype=np.float64, allow_bool=False)
    if y.ndim == 0:
        raise ValueError("signal must be at least 1-D (time along axis), got a scalar")
    axis = check_int(axis, "axis", low=-y.ndim, high=y.ndim - 1)
    r = float(np.exp(-1.0 / (fs * tau)))  # 1.0 for an infinite decay time
    y = np.moveaxis(y, axis, -1)
    out = y.copy()
    out[..., 1:] -= r * y[..., :-1]
    return np.moveaxis(out, -1, axis)


def pulse_duration_s(pulse, *, sampling_rate, fraction=1e-3):
    """Time span in seconds over which ``|pulse|`` exceeds ``fraction`` of its peak.

    From the first to the last sample above ``fraction * max|pulse|``,
    inclusive, divided by the sampling rate: the "pulse length" used for
    ``rate x pulse length`` and for a counter's dead time.
    """
    fs = check_sampling_rate(sampling_rate)
    p = as_float_array(pulse, "pulse", ndim=1)
    fraction = check_scalar(fraction, "fraction", low=0, high=1, low_inclusive=False)
    a = np.abs(p)
    if a.max() == 0:
        raise ValueError("pulse must not be identically zero")
    idx = np.flatnonzero(a > fraction * a.max())
    return (idx[-1] - idx[0] + 1) / fs


def trim_pulse(pulse, *, fraction=0.01, normalize="peak"):
    """Main lobe of a pulse: the contiguous stretch around the peak above ``fraction * peak``.

    Measured shapes carry noise far from the pulse; this keeps the samples from
    the last one below ``fraction`` of the peak before it to the first one
    below after it (both excluded), so the result is positive, and normalizes
    (``"peak"``, ``"area"`` or ``None``).
    """
    p = as_float_array(pulse, "pulse", dtype=np.float64, ndim=1)
    fraction = check_scalar(fraction, "fraction", low=0, high=1, low_inclusive=False,
                            high_inclusive=False)
    k = int(np.argmax(p))
    if p[k] <= 0:
        raise ValueError("pulse must have a positive peak")
    below = p < fraction * p[k]
    before = np.flatnonzero(below[:k])
    after = np.flatnonzero(below[k:])
    start = before[-1] + 1 if before.size else 0
    stop = k + after[0] if after.size else p.size
    return _normalize(p[start:stop].copy(), normalize)


def rise_time_10_90_s(pulse, *, sampling_rate):
    """10 %-90 % rise time of a (positive) pulse or step, with linear interpolation."""
    fs = check_sampling_rate(sampling_rate)
    p = as_float_array(pulse, "pulse", ndim=1)
    k_peak = int(np.argmax(p))
    peak = p[k_peak]
    if peak <= 0:
        raise ValueError("pulse must have a positive peak")
    rising = p[: k_peak + 1]
    t10 = _crossing(rising, 0.1 * peak)
    t90 = _crossing(rising, 0.9 * peak)
    return (t90 - t10) / fs


def _crossing(x, level):
    """Fractional index of the last upward crossing of ``level`` in ``x`` (ending above)."""
    below = np.flatnonzero(x < level)
    if below.size == 0:
        return 0.0
    k = below[-1]
    if k + 1 >= x.size:
        return float(k)
    return k + (level - x[k]) / (x[k + 1] - x[k])


@dataclass
class LearnedPulse:
    """Pulse shape averaged from measured waveforms (see :func:`learn_pulse_shape`).

    Attributes
    ----------
    pulse : ndarray of shape (length,)
        The average shape, baseline removed, scaled to unit peak; the
        alignment point (50 % crossing of the leading edge) is at index
        ``pre_samples``.
    sampling_rate : float
        Hz.
    pre_samples : int
        Samples kept before the alignment point.
    used : ndarray of bool, shape (n_waveforms,)
        Which input waveforms were averaged (isolated single pulses).
    amplitudes : ndarray of shape (n_waveforms,)
        Peak amplitude of every input waveform (baseline removed, polarity
        applied), fitted to the shape.
    arrival_samples : ndarray of shape (n_waveforms,)
        Fractional sample index of every waveform's 50 % crossing.
    noise_std : ndarray of shape (n_waveforms,)
        Baseline noise standard deviation of every waveform.
    residual_rms : ndarray of shape (n_waveforms,)
        RMS of ``waveform - amplitude * pulse`` over the pulse window.
    """

    pulse: np.ndarray
    sampling_rate: float
    pre_samples: int
    used: np.ndarray
    amplitudes: np.ndarray
    arrival_samples: np.ndarray
    noise_std: np.ndarray
    residual_rms: np.ndarray


def _shift(x, delta):
    """Shift rows of ``x`` right by fractional ``delta`` samples (linear interpolation)."""
    n = x.shape[-1]
    idx = np.arange(n)
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = np.interp(idx - delta[i], idx, x[i], left=np.nan, right=np.nan)
    return out


def learn_pulse_shape(waveforms, *, sampling_rate, baseline_samples, pre_samples=None,
                      length=None, polarity="positive", max_residual=6.0, n_iter=3):
    r"""Average shape of isolated pulses in triggered waveforms.

    Steps: (1) subtract each waveform's baseline, the mean of its first
    ``baseline_samples`` samples (its noise standard deviation is measured
    there too); (2) flip the sign for ``polarity="negative"``; (3) locate the
    leading edge of each waveform (linear interpolation of the first upward
    crossing of 50 % of its maximum) and shift all waveforms by fractional
    delays so that these crossings coincide; (4) cut a window of ``length``
    samples starting ``pre_samples`` before the crossing; (5) average
    the windows scaled to unit amplitude; then, ``n_iter`` times, refit every
    waveform's amplitude to the average by least squares, reject waveforms
    whose largest residual exceeds ``max_residual`` times their noise
    standard deviation plus 5 % of their amplitude (a second pulse in the window:
    pile-up), and re-average the others.  The result is scaled to unit peak.

    Parameters
    ----------
    waveforms : array_like of shape (n_waveforms, n_samples)
        Triggered traces (ADC counts are fine), one pulse each; boolean arrays
        are refused (``TypeError``).
    sampling_rate : float
        Hz.
    baseline_samples : int
        Number of leading samples that contain baseline only (before the
        pulse), ``>= 2``.
    pre_samples : int, optional
        Samples kept before the 50 % crossing (default: a third of
        ``baseline_samples``).
    length : int, optional
        Length of the learned shape (default: as long as every aligned
        waveform allows).
    polarity : {"positive", "negative"}
    max_residual : float, default=6.0
        Rejection threshold in units of the baseline noise standard deviation.
    n_iter : int, default=3
        Refit-reject-average rounds.

    Returns
    -------
    LearnedPulse
    """
    fs = check_sampling_rate(sampling_rate)
    W = as_float_array(waveforms, "waveforms", dtype=np.float64, ndim=2, allow_bool=False)
    n_wf, n_s = W.shape
    nb = check_int(baseline_samples, "baseline_samples", low=2, high=n_s - 2)
    check_option(polarity, "polarity", ("positive", "negative"))
    max_residual = check_scalar(max_residual, "max_residual", low=0, low_inclusive=False)
    n_iter = check_int(n_iter, "n_iter", low=0)
    pre = nb // 3 if pre_samples is None else check_int(pre_samples, "pre_samples", low=1,
                                                        high=nb)
    base = W[:, :nb].mean(axis=1)
    noise = W[:, :nb].std(axis=1, ddof=1)
    X = W - base[:, None]
    if polarity == "negative":
        X = -X
    peaks = X[:, nb:].max(axis=1)
    if np.any(peaks <= 0):
        bad = int(np.flatnonzero(peaks <= 0)[0])
        raise ValueError(
            f"waveform {bad} has no pulse of the given polarity ({polarity!r}) after its "
            f"first {nb} baseline samples")
    t50 = np.empty(n_wf)
    for i in range(n_wf):
        k = nb + int(np.argmax(X[i, nb:] >= 0.5 * peaks[i]))
        t50[i] = _crossing(X[i, : k + 1], 0.5 * peaks[i])
    ref = float(np.round(np.median(t50)))
    aligned = _shift(X, ref - t50)
    start = int(ref) - pre
    if start < 0:
        raise ValueError(f"pre_samples={pre} reaches before the start of the waveforms")
    valid = np.all(np.isfinite(aligned), axis=0)
    valid[:start] = False
    stop = start + int(np.argmin(valid[start:])) if not valid[start:].all() else n_s
    max_len = stop - start
    if length is None:
        length = max_len
    else:
        length = check_int(length, "length", low=2)
        if length > max_len:
            raise ValueError(
                f"length={length} is longer than the {max_len} samples that every "
                "aligned waveform covers after pre_samples")
    win = aligned[:, start: start + length]
    used = np.ones(n_wf, dtype=bool)
    shape = np.median(win / peaks[:, None], axis=0)
    amps = peaks.copy()
    for _ in range(n_iter + 1):
        norm2 = float(shape @ shape)
        amps = win @ shape / norm2
        resid = win - amps[:, None] * shape
        worst = np.abs(resid).max(axis=1)
        used = worst <= max_residual * noise + 0.05 * np.abs(amps)
        if not used.any():
            raise ValueError(
                "no waveform fits the average shape within max_residual; the pulses are "
                "not alike (raise max_residual or check the polarity and baseline)")
        shape = (win[used] / amps[used, None]).mean(axis=0)
    peak = shape[np.argmax(np.abs(shape))]
    shape = shape / peak
    amps = amps * peak
    resid = win - amps[:, None] * shape
    return LearnedPulse(pulse=shape, sampling_rate=fs, pre_samples=pre, used=used,
                        amplitudes=amps, arrival_samples=t50, noise_std=noise,
                        residual_rms=np.sqrt(np.mean(resid ** 2, axis=1)))
