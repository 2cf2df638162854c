"""``plot_detections``'s matching window: seconds need a sampling rate, or give samples.

Without ``sampling_rate`` the default ``tolerance_s=0.15`` used to be read as 0.15
samples, so a detection 2 samples from its reference beat was drawn as a miss
plus a false alarm.  Now seconds without a sampling rate raise, ``tolerance_samples``
gives the window in samples, and seconds are converted as
:func:`sparse_events.ecg.evaluate` converts its ``match_window_s`` (same misses and
false alarms as the EC57 scorer on unambiguous beats).
"""

from __future__ import annotations

import numpy as np
import pytest

from sparse_events.ecg import evaluate
from sparse_events.plotting import plot_detections

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _marked(fig, label):
    """x data of the artist whose label starts with ``label``."""
    (line,) = [ln for ln in fig.axes[0].get_lines() if ln.get_label().startswith(label)]
    return np.asarray(line.get_xdata())


@pytest.fixture
def beats():
    y = np.random.default_rng(2).standard_normal(4000)
    ref = np.arange(200, 3900, 360)
    return y, ref


def test_seconds_without_sampling_rate_refused(beats):
    y, ref = beats
    with pytest.raises(ValueError, match="tolerance_s.*sampling_rate.*tolerance_samples"):
        plot_detections(y, ref + 2, ref)
    with pytest.raises(ValueError, match="tolerance_s.*sampling_rate"):
        plot_detections(y, ref + 2, ref, tolerance_s=0.15)


def test_near_misses_within_tolerance_samples_are_matched(beats):
    y, ref = beats
    fig = plot_detections(y, ref + 2, ref, tolerance_samples=3)
    assert _marked(fig, "missed").size == 0 and _marked(fig, "false").size == 0
    np.testing.assert_array_equal(_marked(fig, "detections"), ref + 2)
    fig = plot_detections(y, ref + 4, ref, tolerance_samples=3)
    np.testing.assert_array_equal(_marked(fig, "missed"), ref)
    np.testing.assert_array_equal(_marked(fig, "false"), ref + 4)


def test_both_tolerances_refused(beats):
    y, ref = beats
    with pytest.raises(ValueError, match="tolerance_s.*tolerance_samples.*not both"):
        plot_detections(y, ref, ref, sampling_rate=360.0, tolerance_s=0.1,
                        tolerance_samples=3)
    with pytest.raises(ValueError, match="tolerance_samples"):
        plot_detections(y, ref, ref, tolerance_samples=-1)


@pytest.mark.parametrize("fs", [360.0, 250.0])
@pytest.mark.parametrize("tolerance_s", [None, 0.1])
def test_seconds_match_like_the_ec57_scorer(beats, tolerance_s, fs):
    """Offsets on both sides of the window edge (54 samples = 0.15 s at 360 Hz, 36 = 0.1 s;
    at 250 Hz the window is rounded to samples, 38 and 25, as the scorer does), some
    beats without detection, some detections far from any beat."""
    y, ref = beats
    w = round((0.15 if tolerance_s is None else tolerance_s) * fs)
    offsets = np.array([0, 2, -2, w, -w, w + 1, -(w + 1), 20, -20, 5, 1])
    keep = np.ones(ref.size, bool)
    keep[[3, 7]] = False
    det = np.sort(np.concatenate([(ref + offsets[: ref.size])[keep], [1900, 3950]]))
    kw = {} if tolerance_s is None else {"tolerance_s": tolerance_s}
    fig = plot_detections(y, det, ref, sampling_rate=fs, **kw)
    res = evaluate(det, ref, sampling_rate=fs, learning_period_s=0.0, signal_length=y.size,
                   match_window_s=0.15 if tolerance_s is None else tolerance_s)
    assert res.fn > 2 and res.fp > 2  # the window edge matters
    np.testing.assert_allclose(_marked(fig, "missed"), res.missed_reference / fs)
    np.testing.assert_allclose(_marked(fig, "false"), np.sort(res.false_detections) / fs)
