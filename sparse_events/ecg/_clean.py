"""ECG cleaning for QRS work: zero-phase band-pass with second-order sections."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal as sps

from .._validation import (as_float_array, check_int, check_option, check_sampling_rate,
                           check_scalar)
from ._zero_phase import odd_extension_length, sosfiltfilt

__all__ = ["ecg_clean", "check_ecg_signal", "interpolate_gaps"]

#: minimum duration (seconds) of a signal accepted by the ECG functions
MIN_DURATION_S = 2.0


def interpolate_gaps(signal, *, sampling_rate, max_gap_s=0.25, name="signal"):
    """Fill runs of non-finite samples by linear interpolation.

    Parameters
    ----------
    signal : ndarray, shape (n_samples,)
        Float signal that may contain NaN or +-inf.
    sampling_rate : float
        In Hz.
    max_gap_s : float
        Longest run of non-finite samples that may be filled, in seconds; a
        longer run raises ``ValueError`` naming where it is.  Runs touching
        either end of the signal are filled with the nearest finite sample.
    name : str
        Argument name used in error messages.

    Returns
    -------
    ndarray
        A copy with every non-finite sample replaced.
    """
    fs = check_sampling_rate(sampling_rate)
    max_gap_s = check_scalar(max_gap_s, "max_gap_s", low=0)
    x = as_float_array(signal, name, dtype=np.float64, ndim=1, finite=False, copy=True,
                       allow_bool=False)
    sampling_rate = fs
    bad = ~np.isfinite(x)
    if not bad.any():
        return x
    if bad.all():
        raise ValueError(f"{name} has no finite sample; cannot interpolate")
    max_gap = int(np.floor(max_gap_s * sampling_rate))
    edges = np.diff(np.concatenate(([0], bad.view(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    lengths = stops - starts
    if lengths.max() > max_gap:
        k = int(np.argmax(lengths > max_gap))
        raise ValueError(
            f"{name} has a run of {lengths[k]} non-finite samples starting at index "
            f"{starts[k]} ({starts[k] / sampling_rate:.3f} s), longer than max_gap_s="
            f"{max_gap_s} s ({max_gap} samples); not interpolated")
    good = np.flatnonzero(~bad)
    x[bad] = np.interp(np.flatnonzero(bad), good, x[good])
    return x


def _one_lead_hint(signal, name):
    """How to pass one lead of a 2-D ``signal``: ``name.iloc[:, 0]`` or ``name["ECG"]``
    for a DataFrame (``name[:, 0]`` raises there), ``name[:, 0]`` for an array."""
    columns = getattr(signal, "columns", None)
    if columns is not None and hasattr(signal, "iloc"):
        hint = f"{name}.iloc[:, 0]"
        if len(columns):
            hint += f" or {name}[{columns[0]!r}]"
        return hint + " (a DataFrame with columns " + ", ".join(map(repr, columns[:6])) + (
            ", ...)" if len(columns) > 6 else ")")
    return f"{name}[:, 0]"


def check_ecg_signal(signal, *, sampling_rate, nan_policy="raise", max_gap_s=0.25,
                     name="signal", min_duration_s=MIN_DURATION_S):
    """Validate a single-lead ECG and return ``(float64 array, sampling_rate)``.

    Parameters
    ----------
    signal : array_like, shape (n_samples,)
        One lead.  A 2-D array is refused (pass one column, e.g. ``x[:, 0]``),
        including ``(n, 1)`` and ``(1, n)`` shapes, so that a transposed
        multi-lead array is never taken for a signal.
    sampling_rate : float
        In Hz, > 0 (required).
    nan_policy : {"raise", "interpolate"}
        ``"raise"``: non-finite samples raise ``ValueError`` reporting the count
        and the first index.  ``"interpolate"``: runs of at most ``max_gap_s``
        seconds are filled linearly (:func:`interpolate_gaps`); longer runs
        still raise.
    max_gap_s : float
        Longest gap filled when ``nan_policy="interpolate"``.
    min_duration_s : float
        Shortest accepted signal, in seconds.
    """
    fs = check_sampling_rate(sampling_rate)
    nan_policy = check_option(nan_policy, "nan_policy", ("raise", "interpolate"))
    x = as_float_array(signal, name, finite=False, allow_bool=False)
    if x.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array (one ECG lead, time along the only axis); got "
            f"shape {x.shape}. For multi-lead data pass one lead, e.g. "
            f"{_one_lead_hint(signal, name)}")
    x = x.astype(np.float64, copy=False)
    if nan_policy == "raise":
        x = as_float_array(x, name)  # reports the first non-finite sample
    else:
        max_gap_s = check_scalar(max_gap_s, "max_gap_s", low=0)
        x = interpolate_gaps(x, sampling_rate=fs, max_gap_s=max_gap_s, name=name)
    min_len = int(np.ceil(min_duration_s * fs))
    if x.size < min_len:
        raise ValueError(
            f"{name} is too short: {x.size} samples ({x.size / fs:.3f} s at {fs} Hz); "
            f"at least {min_duration_s} s ({min_len} samples) are needed for two beats")
    return x, fs


@lru_cache(maxsize=32)
def _bandpass_sos(sampling_rate, lowcut_hz, highcut_hz, order):
    """Butterworth sections of :func:`ecg_clean`, designed once per setting (read-only)."""
    sos = _design_bandpass(sampling_rate, lowcut_hz, highcut_hz, order)
    if sos is not None:
        sos.setflags(write=False)
    return sos


def _design_bandpass(sampling_rate, lowcut_hz, highcut_hz, order):
    nyq = 0.5 * sampling_rate
    if highcut_hz is not None and highcut_hz >= nyq:
        highcut_hz = None  # nothing to remove above the Nyquist frequency
    if lowcut_hz and highcut_hz:
        return sps.butter(order, [lowcut_hz, highcut_hz], btype="bandpass",
                          fs=sampling_rate, output="sos")
    if lowcut_hz:
        return sps.butter(order, lowcut_hz, btype="highpass", fs=sampling_rate, output="sos")
    if highcut_hz:
        return sps.butter(order, highcut_hz, btype="lowpass", fs=sampling_rate, output="sos")
    return None


def ecg_clean(signal, *, sampling_rate, lowcut_hz=0.5, highcut_hz=40.0, order=2,
              powerline_hz=None, nan_policy="raise", max_gap_s=0.25):
    """Remove baseline wander and high-frequency noise from one ECG lead.

    A Butterworth band-pass filter of order ``order`` with cut-offs
    ``[lowcut_hz, highcut_hz]`` is applied forward and backward
    (``scipy.signal.sosfiltfilt``, second-order sections): zero phase, so R
    peaks do not move, and a squared magnitude response
    ``|H(f)|^2`` (the effective order is ``2 * order`` and the cut-offs are the
    -6 dB points).  The high-pass part removes baseline wander (respiration,
    electrode motion below ``lowcut_hz``); the low-pass part removes muscle
    noise.  ``highcut_hz`` at or above the Nyquist frequency is dropped.  An
    optional zero-phase notch removes power-line interference.

    Parameters
    ----------
    signal : array_like, shape (n_samples,)
        One ECG lead (any units).  At least 2 s long.
    sampling_rate : float
        Sampling rate in Hz (keyword-only, required).
    lowcut_hz, highcut_hz : float or None
        Pass band edges in Hz (None disables that side).  The lead's mean is
        subtracted before filtering in every case, so ``lowcut_hz=None`` still
        removes the constant (DC) level, though not the slower baseline
        wander, and with both None the output is ``signal - mean(signal)``
        (plus the notch, if any).
    order : int
        Butterworth order of each pass.
    powerline_hz : float or None
        Power-line frequency to notch out (50 or 60), quality factor 30; it
        must be below the Nyquist frequency ``sampling_rate / 2``
        (``ValueError`` otherwise: no notch can be applied there).
    nan_policy : {"raise", "interpolate"}
        See :func:`check_ecg_signal`: by default non-finite samples raise a
        ``ValueError`` that reports where; ``"interpolate"`` fills gaps of at
        most ``max_gap_s`` seconds linearly before filtering.
    max_gap_s : float
        Longest gap filled with ``nan_policy="interpolate"``.

    Returns
    -------
    ndarray of float64, shape (n_samples,)
        The cleaned lead.  A constant (flat) input gives zeros.

    Examples
    --------
    >>> import neurokit2 as nk
    >>> from sparse_events.ecg import ecg_clean
    >>> ecg = nk.ecg_simulate(duration=10, sampling_rate=360, random_state=0)
    >>> cleaned = ecg_clean(ecg, sampling_rate=360)
    """
    x, fs = check_ecg_signal(signal, sampling_rate=sampling_rate, nan_policy=nan_policy,
                             max_gap_s=max_gap_s)
    if lowcut_hz is not None:
        lowcut_hz = check_scalar(lowcut_hz, "lowcut_hz", low=0, low_inclusive=False,
                                 high=0.5 * fs, high_inclusive=False)
    if highcut_hz is not None:
        highcut_hz = check_scalar(highcut_hz, "highcut_hz", low=0, low_inclusive=False)
        if lowcut_hz is not None and highcut_hz <= lowcut_hz:
            raise ValueError(f"highcut_hz must be > lowcut_hz={lowcut_hz}, got {highcut_hz}")
    order = check_int(order, "order", low=1)
    if powerline_hz is not None:
        powerline_hz = check_scalar(powerline_hz, "powerline_hz", low=0, low_inclusive=False)
        if powerline_hz >= 0.5 * fs:
            raise ValueError(
                f"powerline_hz={powerline_hz:g} is at or above the Nyquist frequency "
                f"{0.5 * fs:g} Hz of sampling_rate={fs:g}: no notch can be applied; pass "
                "powerline_hz=None")
    sos = _bandpass_sos(fs, lowcut_hz, highcut_hz, order)
    notch = None
    if powerline_hz is not None:
        notch = sps.tf2sos(*sps.iirnotch(powerline_hz, 30.0, fs=fs))
    for sections, what in ((sos, f"band-pass (order={order})"), (notch, "power-line notch")):
        # zero-phase filtering pads each end with odd_extension_length samples and
        # needs more samples than that (scipy.signal.sosfiltfilt)
        need = 0 if sections is None else odd_extension_length(sections) + 1
        if x.size < need:
            raise ValueError(
                f"signal is too short for the zero-phase {what}: {x.size} samples "
                f"({x.size / fs:.4g} s at {fs:g} Hz), but the filter needs at least {need} "
                f"samples ({need / fs:.4g} s at this sampling_rate)")
    if sos is not None:
        # scipy's sosfiltfilt of x - mean(x), compiled for two sections (the difference
        # taken while padding)
        y = sosfiltfilt(sos, x, subtract=np.mean(x))
    else:
        y = x - np.mean(x)
    if notch is not None:
        y = sps.sosfiltfilt(notch, y)
    return np.ascontiguousarray(y, dtype=np.float64)
