"""Threshold counting with pulse-height analysis: the classical baseline."""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from .._validation import check_option, check_sampling_rate, check_scalar, check_signal
from ._dead_time import DEAD_TIME_MODELS

__all__ = ["threshold_counter", "ThresholdCounts"]


@dataclass
class ThresholdCounts:
    """Events recorded by :func:`threshold_counter`.

    Attributes
    ----------
    arrival_times_s : ndarray
        Times of the recorded upward threshold crossings (linear interpolation
        between the two samples around the crossing).
    heights : ndarray
        Pulse height of every recorded event: the signal maximum over its
        excursion above the threshold (piled-up pulses that keep the signal above
        threshold give one event with a summed height).
    integrals : ndarray or None
        With ``integration_window_s``: the signal summed over the window of
        every recorded event, divided by ``pulse_area`` (the amplitude of an
        isolated pulse; piled-up pulses inside the window add up).
    n_crossings : int
        All upward crossings, recorded or not.
    duration_s, threshold, dead_time_s : float
    dead_time_model : str
    """

    arrival_times_s: np.ndarray
    heights: np.ndarray
    n_crossings: int
    duration_s: float
    threshold: float
    dead_time_s: float
    dead_time_model: str
    integrals: np.ndarray | None = None

    @property
    def n_events(self) -> int:
        return self.arrival_times_s.size

    @property
    def rate_hz(self) -> float:
        """Recorded events per second (uncorrected)."""
        return self.arrival_times_s.size / self.duration_s


@numba.njit(cache=True)
def _count(y, thr, tau_samples, model):
    n = y.size
    pos = np.empty(n // 2 + 1)
    heights = np.empty(n // 2 + 1)
    k = 0
    n_cross = 0
    prev_above = y[0] >= thr if n else False
    free_at = -np.inf
    last_cross = -np.inf
    current = -1
    if prev_above:
        # a pulse already above threshold at the first sample is not an observed crossing
        current = -1
    for j in range(1, n):
        above = y[j] >= thr
        if above and not prev_above:
            t = (j - 1) + (thr - y[j - 1]) / (y[j] - y[j - 1])
            n_cross += 1
            if model == 0:
                ok = True
            elif model == 1:
                ok = t >= free_at
            else:
                ok = t - last_cross >= tau_samples
            last_cross = t
            if ok:
                pos[k] = t
                heights[k] = y[j]
                current = k
                k += 1
                free_at = t + tau_samples
            else:
                current = -1
        elif above and current >= 0:
            if y[j] > heights[current]:
                heights[current] = y[j]
        if not above:
            current = -1
        prev_above = above
    return pos[:k].copy(), heights[:k].copy(), n_cross


def threshold_counter(signal, *, sampling_rate, threshold, dead_time_s=0.0,
                      dead_time_model="nonparalyzable", integration_window_s=None,
                      integration_offset_s=0.0, pulse_area=1.0):
    """Count upward threshold crossings, with an optional dead time, and their pulse heights.

    An event is an upward crossing of ``threshold`` (sample ``j - 1`` below,
    sample ``j`` at or above).  With a dead time, a crossing is recorded only
    if ``dead_time_s`` has passed since the last recorded crossing
    (non-paralyzable) or since the last crossing of any kind (paralyzable).
    Its height is the maximum of the signal until it falls below the threshold
    again.  Pile-up makes both errors of a real counter: pulses on top of each
    other give one crossing (lost counts) and a summed height (sum peaks).

    Parameters
    ----------
    signal : array_like of shape (n_samples,)
        Baseline-subtracted signal with positive pulses.
    sampling_rate : float
        Hz.
    threshold : float
        Trigger level (``> 0``), in signal units.
    dead_time_s : float, default=0.0
    dead_time_model : {"none", "nonparalyzable", "paralyzable"}
    integration_window_s : float, optional
        Also measure every recorded event's charge: the sum of the samples in
        ``[j0, j0 + W)`` with ``j0 = floor(t_cross - integration_offset_s)``
        (samples) and ``W = round(integration_window_s * sampling_rate)``,
        divided by ``pulse_area`` (the sum of the pulse samples).  This is
        the energy measurement of a charge-integrating analyzer: pulses
        arriving within the window are summed.
    integration_offset_s : float, default=0.0
        How long before the threshold crossing the window starts (the time the
        pulse takes to reach the threshold).
    pulse_area : float, default=1.0

    Returns
    -------
    ThresholdCounts
    """
    fs = check_sampling_rate(sampling_rate)
    y = check_signal(signal, "signal", ndim=1, min_length=2)
    thr = check_scalar(threshold, "threshold", low=0, low_inclusive=False)
    tau = check_scalar(dead_time_s, "dead_time_s", low=0)
    check_option(dead_time_model, "dead_time_model", DEAD_TIME_MODELS)
    model = 0 if (dead_time_model == "none" or tau == 0) else (
        1 if dead_time_model == "nonparalyzable" else 2)
    pos, heights, n_cross = _count(np.ascontiguousarray(y), thr, tau * fs, model)
    integrals = None
    if integration_window_s is not None:
        W = int(round(check_scalar(integration_window_s, "integration_window_s", low=0,
                                   low_inclusive=False) * fs))
        if W < 1:
            raise ValueError("integration_window_s is shorter than one sample")
        off = check_scalar(integration_offset_s, "integration_offset_s", low=0) * fs
        area = check_scalar(pulse_area, "pulse_area", low=0, low_inclusive=False)
        csum = np.concatenate([[0.0], np.cumsum(y, dtype=np.float64)])  # float64: long records
        j0 = np.clip(np.floor(pos - off).astype(np.int64), 0, y.size)
        j1 = np.minimum(j0 + W, y.size)
        integrals = (csum[j1] - csum[j0]) / area
    return ThresholdCounts(arrival_times_s=pos / fs, heights=heights, n_crossings=int(n_cross),
                           duration_s=y.size / fs, threshold=thr, dead_time_s=tau,
                           dead_time_model=dead_time_model, integrals=integrals)
