r"""Classical dead-time models of a counter, their inverses and a counter simulator.

A counter with dead time ``tau`` exposed to Poisson arrivals of true rate ``n``
records the rate ``m``:

* non-paralyzable (each *recorded* event blocks the counter for ``tau``):
  ``m = n / (1 + n tau)``, inverse ``n = m / (1 - m tau)`` for ``m tau < 1``;
* paralyzable (*every* event, recorded or not, restarts the blocked period):
  ``m = n exp(-n tau)``, which rises to its maximum ``1 / (e tau)`` at
  ``n = 1 / tau`` and falls again; the inverse on the low-rate branch
  ``n tau <= 1`` is ``n = -W_0(-m tau) / tau`` with ``W_0`` the principal
  branch of Lambert's W function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy.special import lambertw

from .._validation import as_float_array, check_option, check_scalar

__all__ = [
    "DEAD_TIME_MODELS",
    "measured_rate",
    "true_rate",
    "max_measured_rate",
    "true_rate_uncertainty",
    "recorded_count_variance",
    "dead_time_counter",
    "live_time_correction",
    "LiveTimeCorrection",
]

DEAD_TIME_MODELS = ("none", "nonparalyzable", "paralyzable")


def _rates(x, name):
    arr = as_float_array(x, name, dtype=np.float64, ndim=None)
    if np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0 (a count rate in Hz), got min {arr.min()}")
    return arr


def _scalar_or_array(arr, like):
    return float(arr) if np.ndim(like) == 0 else arr


def measured_rate(true_rate_hz, *, dead_time_s, model):
    """Rate recorded by a counter with dead time from the true Poisson rate.

    Parameters
    ----------
    true_rate_hz : float or array_like
        True event rate ``n`` in Hz (``>= 0``).
    dead_time_s : float
        Dead time ``tau`` in seconds (``>= 0``).
    model : {"none", "nonparalyzable", "paralyzable"}

    Returns
    -------
    float or ndarray
        ``n`` (none), ``n / (1 + n tau)`` (non-paralyzable) or
        ``n exp(-n tau)`` (paralyzable), in Hz.
    """
    check_option(model, "model", DEAD_TIME_MODELS)
    tau = check_scalar(dead_time_s, "dead_time_s", low=0)
    n = _rates(true_rate_hz, "true_rate_hz")
    if model == "none":
        m = n.copy()
    elif model == "nonparalyzable":
        m = n / (1.0 + n * tau)
    else:
        m = n * np.exp(-n * tau)
    return _scalar_or_array(m, true_rate_hz)


def max_measured_rate(*, dead_time_s, model):
    """Largest rate the counter can record: ``1/tau`` (non-paralyzable, as ``n -> inf``),
    ``1 / (e tau)`` (paralyzable, at ``n = 1/tau``), ``inf`` without dead time."""
    check_option(model, "model", DEAD_TIME_MODELS)
    tau = check_scalar(dead_time_s, "dead_time_s", low=0)
    if model == "none" or tau == 0:
        return np.inf
    return 1.0 / tau if model == "nonparalyzable" else 1.0 / (np.e * tau)


def true_rate(measured_rate_hz, *, dead_time_s, model):
    """Invert a dead-time model: true rate from the recorded rate.

    Parameters
    ----------
    measured_rate_hz : float or array_like
        Recorded rate ``m`` in Hz (``>= 0``).
    dead_time_s : float
        Dead time ``tau`` in seconds (``>= 0``).
    model : {"none", "nonparalyzable", "paralyzable"}

    Returns
    -------
    float or ndarray
        ``m / (1 - m tau)`` (non-paralyzable) or ``-W_0(-m tau) / tau``
        (paralyzable, the low-rate branch ``n <= 1/tau``).

    Raises
    ------
    ValueError
        If ``m tau >= 1`` (non-paralyzable) or ``m tau > 1/e`` (paralyzable):
        such a rate cannot be recorded by that counter.
    """
    check_option(model, "model", DEAD_TIME_MODELS)
    tau = check_scalar(dead_time_s, "dead_time_s", low=0)
    m = _rates(measured_rate_hz, "measured_rate_hz")
    if model == "none" or tau == 0:
        return _scalar_or_array(m.copy(), measured_rate_hz)
    x = m * tau
    if model == "nonparalyzable":
        if np.any(x >= 1):
            raise ValueError(
                f"measured_rate_hz {m.max():.6g} Hz is at or above the non-paralyzable "
                f"maximum 1/dead_time_s = {1 / tau:.6g} Hz: no true rate gives it")
        n = m / (1.0 - x)
    else:
        limit = 1.0 / np.e
        if np.any(x > limit * (1 + 1e-12)):
            raise ValueError(
                f"measured_rate_hz {m.max():.6g} Hz is above the paralyzable maximum "
                f"1/(e dead_time_s) = {limit / tau:.6g} Hz: no true rate gives it")
        x = np.minimum(x, limit)
        with np.errstate(invalid="ignore"):
            w = -np.real(lambertw(-x, 0))
        # at the branch point -1/e (the maximum) W_0 = -1; rounding can give nan there
        w = np.where(np.isnan(w) | (x >= limit * (1 - 1e-15)), 1.0, w)
        n = w / tau
    return _scalar_or_array(n, measured_rate_hz)


def recorded_count_variance(true_rate_hz, *, duration_s, dead_time_s, model):
    r"""Asymptotic variance of the number of events a counter records in ``duration_s``.

    For a long acquisition ``T`` (``T >> tau``) the recorded events form a
    renewal process and the count is asymptotically normal with

    * none: ``n T`` (Poisson);
    * non-paralyzable: ``E[M] / (1 + n tau)^2`` with ``E[M] = n T / (1 + n tau)``
      (intervals ``tau + Exp(n)``);
    * paralyzable: ``E[M] (1 - 2 n tau e^{-n tau})`` with
      ``E[M] = n T e^{-n tau}`` (J. W. Müller, Nucl. Instrum. Methods 1973).
    """
    check_option(model, "model", DEAD_TIME_MODELS)
    tau = check_scalar(dead_time_s, "dead_time_s", low=0)
    T = check_scalar(duration_s, "duration_s", low=0, low_inclusive=False)
    n = _rates(true_rate_hz, "true_rate_hz")
    mean = measured_rate(n, dead_time_s=tau, model=model) * T
    if model == "none":
        var = mean
    elif model == "nonparalyzable":
        var = mean / (1.0 + n * tau) ** 2
    else:
        var = mean * (1.0 - 2.0 * n * tau * np.exp(-n * tau))
    return _scalar_or_array(np.asarray(var, dtype=np.float64), true_rate_hz)


def true_rate_uncertainty(recorded_counts, *, duration_s, dead_time_s, model):
    r"""True-rate estimate and its standard deviation from a recorded count.

    ``n_hat = true_rate(M / T)`` and, by the delta method,
    ``sd(n_hat) = sqrt(Var M) / (T |dm/dn|)`` with ``Var M`` from
    :func:`recorded_count_variance` evaluated at ``n_hat``
    (``dm/dn = 1/(1 + n tau)^2`` non-paralyzable, ``e^{-n tau}(1 - n tau)``
    paralyzable; infinite at the paralyzable maximum ``n tau = 1``).

    Returns
    -------
    (rate_hz, rate_uncertainty_hz) : tuple of float
    """
    M = check_scalar(recorded_counts, "recorded_counts", low=0)
    T = check_scalar(duration_s, "duration_s", low=0, low_inclusive=False)
    tau = check_scalar(dead_time_s, "dead_time_s", low=0)
    n = true_rate(M / T, dead_time_s=tau, model=model)
    var = recorded_count_variance(n, duration_s=T, dead_time_s=tau, model=model)
    if model == "none" or tau == 0:
        slope = 1.0
    elif model == "nonparalyzable":
        slope = 1.0 / (1.0 + n * tau) ** 2
    else:
        slope = np.exp(-n * tau) * (1.0 - n * tau)
    if slope <= 0:
        return n, np.inf
    return n, float(np.sqrt(max(var, 0.0)) / (T * slope))


@numba.njit(cache=True)
def _nonparalyzable_mask(t, tau):
    out = np.zeros(t.size, dtype=np.bool_)
    free_at = -np.inf
    for i in range(t.size):
        if t[i] >= free_at:
            out[i] = True
            free_at = t[i] + tau
    return out


def dead_time_counter(arrival_times_s, *, dead_time_s, model):
    """Which arrivals a counter with dead time records.

    Parameters
    ----------
    arrival_times_s : array_like of shape (n_events,)
        Non-decreasing arrival times in seconds.
    dead_time_s : float
        Dead time in seconds (``>= 0``).
    model : {"none", "nonparalyzable", "paralyzable"}
        Non-paralyzable: an event is recorded when at least ``dead_time_s`` has
        passed since the last *recorded* event.  Paralyzable: when at least
        ``dead_time_s`` has passed since the previous event (recorded or not).
        The first event is always recorded.

    Returns
    -------
    ndarray of bool, shape (n_events,)
    """
    check_option(model, "model", DEAD_TIME_MODELS)
    tau = check_scalar(dead_time_s, "dead_time_s", low=0)
    t = as_float_array(arrival_times_s, "arrival_times_s", dtype=np.float64, ndim=1,
                       allow_empty=True)
    if t.size and np.any(np.diff(t) < 0):
        raise ValueError("arrival_times_s must be sorted in non-decreasing order")
    if model == "none" or tau == 0 or t.size == 0:
        return np.ones(t.size, dtype=bool)
    if model == "paralyzable":
        out = np.ones(t.size, dtype=bool)
        out[1:] = np.diff(t) >= tau
        return out
    return _nonparalyzable_mask(np.ascontiguousarray(t), tau)


@dataclass
class LiveTimeCorrection:
    """Rates of a spectrum corrected with its live time.

    Attributes
    ----------
    measured_rate_hz : float
        ``counts / real_time_s``.
    true_rate_hz : float
        ``counts / live_time_s``.
    dead_time_fraction : float
        ``1 - live_time_s / real_time_s``.
    dead_time_per_count_s : float
        ``(real_time_s - live_time_s) / counts``: the non-paralyzable dead time
        ``tau`` for which :func:`true_rate` reproduces ``true_rate_hz``.
    """

    measured_rate_hz: float
    true_rate_hz: float
    dead_time_fraction: float
    dead_time_per_count_s: float


def live_time_correction(counts, *, live_time_s, real_time_s):
    """Live-time correction of a recorded count: ``n = counts / live_time_s``.

    An analyzer's live-time clock runs only while it can accept events; the
    dead-time fraction is ``1 - live/real``.  Dividing by the live time is the
    non-paralyzable correction with ``tau = (real - live) / counts``.
    """
    c = check_scalar(counts, "counts", low=0)
    live = check_scalar(live_time_s, "live_time_s", low=0, low_inclusive=False)
    real = check_scalar(real_time_s, "real_time_s", low=0, low_inclusive=False)
    if live > real:
        raise ValueError(f"live_time_s ({live}) must not exceed real_time_s ({real})")
    per = (real - live) / c if c > 0 else 0.0
    return LiveTimeCorrection(measured_rate_hz=c / real, true_rate_hz=c / live,
                              dead_time_fraction=1.0 - live / real,
                              dead_time_per_count_s=per)
