"""Plots draw exactly the data they are given; matching marks misses and false alarms."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linear_sum_assignment

from sparse_events.ecg import evaluate
from sparse_events.plotting import (match_events, plot_deconvolution, plot_detections,
                                    plot_six_leads, plot_spectrum)

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _line(ax, label_start):
    lines = [ln for ln in ax.get_lines() if ln.get_label().startswith(label_start)]
    assert len(lines) == 1, [ln.get_label() for ln in ax.get_lines()]
    return lines[0]


def test_matplotlib_is_imported_lazily():
    code = ("import sys, sparse_events, sparse_events.plotting; "
            "sys.exit(1 if 'matplotlib' in sys.modules else 0)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_plot_deconvolution_draws_signal_reconstruction_and_events(rng):
    n, fs = 500, 100.0
    coef = np.zeros(n)
    coef[[20, 150, 400]] = [1.0, -0.5, 2.0]
    kernel = rng.standard_normal(8)
    clean = np.convolve(coef, kernel)[:n]
    y = clean + 0.1 * rng.standard_normal(n)
    fig = plot_deconvolution(y, coef, clean, sampling_rate=fs, true_coef=coef, clean=clean)
    ax0, ax1 = fig.axes[:2]
    t = np.arange(n) / fs
    np.testing.assert_array_equal(_line(ax0, "signal").get_ydata(), y)
    np.testing.assert_array_equal(_line(ax0, "signal").get_xdata(), t)
    np.testing.assert_array_equal(_line(ax0, "reconstruction").get_ydata(), clean)
    ev = _line(ax1, "recovered")
    np.testing.assert_allclose(ev.get_xdata(), t[[20, 150, 400]])
    np.testing.assert_array_equal(ev.get_ydata(), coef[[20, 150, 400]])
    np.testing.assert_array_equal(_line(ax1, "true").get_ydata(), coef[[20, 150, 400]])


def test_plot_deconvolution_dictionary_one_line_per_kernel():
    coef = np.zeros((2, 100))
    coef[0, 10] = 1.0
    coef[1, [30, 60]] = [2.0, 3.0]
    fig = plot_deconvolution(np.ones(100), coef)
    np.testing.assert_array_equal(_line(fig.axes[1], "recovered, kernel 1").get_xdata(), [30, 60])
    np.testing.assert_array_equal(_line(fig.axes[1], "recovered, kernel 0").get_xdata(), [10])


def test_plot_deconvolution_bad_input():
    with pytest.raises(ValueError, match="coef"):
        plot_deconvolution(np.ones(10), np.ones(11))
    with pytest.raises(ValueError, match="signal"):
        plot_deconvolution(np.full(10, np.nan), np.ones(10))


def _max_matching_size(det, ref, tol):
    cost = np.abs(np.subtract.outer(det, ref)).astype(float)
    allowed = cost <= tol
    rows, cols = linear_sum_assignment(np.where(allowed, 0.0, 1.0))
    return int(allowed[rows, cols].sum())


def test_match_events_against_assignment_reference(rng):
    # reference: maximum one-to-one matching (scipy's assignment solver); with
    # events further apart than twice the tolerance both must agree exactly
    ref = np.cumsum(rng.integers(60, 120, size=200))
    keep = rng.random(ref.size) > 0.1
    det = ref[keep] + rng.integers(-20, 21, size=keep.sum())
    det = np.sort(np.concatenate([det, ref[-1] + 500 + np.arange(5) * 100]))
    pairs, missed, false = match_events(det, ref, 25)
    assert pairs.shape[0] == _max_matching_size(det, ref, 25)
    assert pairs.shape[0] + missed.size == ref.size
    assert pairs.shape[0] + false.size == det.size
    np.testing.assert_array_equal(missed, ref[~keep])
    assert np.all(np.abs(pairs[:, 0] - pairs[:, 1]) <= 25)
    np.testing.assert_array_equal(false, ref[-1] + 500 + np.arange(5) * 100)


def test_match_events_accepts_integer_valued_floats_only():
    det, ref = np.array([10, 100, 200]), np.array([12, 150, 202])
    expected = match_events(det, ref, 3)
    for a, b in zip(match_events(det.astype(float), ref.astype(np.float32), 3.0), expected):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="detections.*100.5"):
        match_events([10, 100.5], ref, 3)
    with pytest.raises(ValueError, match="reference.*NaN"):
        match_events(det, [12.0, np.nan], 3)


def test_match_events_prefers_closest():
    pairs, missed, false = match_events([100, 108], [105], 10)
    np.testing.assert_array_equal(pairs, [[108, 105]])
    np.testing.assert_array_equal(false, [100])
    assert missed.size == 0


def test_plot_detections_marks_misses_and_false_alarms(rng):
    fs = 360.0
    n = 3600
    y = rng.standard_normal(n)
    ref = np.arange(180, n, 360)
    det = np.concatenate([ref[:4] + 3, ref[5:], [2000]])
    fig = plot_detections(y, det, ref, sampling_rate=fs)
    ax = fig.axes[0]
    miss = _line(ax, "missed")
    np.testing.assert_allclose(miss.get_xdata(), [ref[4] / fs])
    np.testing.assert_array_equal(miss.get_ydata(), y[[ref[4]]])
    false = _line(ax, "false")
    np.testing.assert_allclose(false.get_xdata(), [2000 / fs])
    assert _line(ax, "detections").get_label() == f"detections ({det.size})"
    assert len(_line(ax, "detections").get_xdata()) == det.size - 1


def test_plot_detections_uses_given_scoring_and_window(rng):
    y = rng.standard_normal(1000)
    fig = plot_detections(y, [100, 500], [100, 700], missed=[700], false_detections=[500],
                          start=0, stop=600)
    ax = fig.axes[0]
    assert len(_line(ax, "missed").get_xdata()) == 0  # outside the drawn window
    np.testing.assert_array_equal(_line(ax, "false").get_xdata(), [500])
    with pytest.raises(ValueError, match="detections"):
        plot_detections(y, [1000], [5])
    with pytest.raises(ValueError, match="both"):
        plot_detections(y, [1], [5], missed=[5])


def test_plot_six_leads_titles_report_correlation(rng):
    n = 400
    truth = pd.DataFrame(rng.standard_normal((n, 6)),
                         columns=["I", "II", "III", "aVR", "aVL", "aVF"])
    pred = truth + 0.3 * rng.standard_normal((n, 6))
    fig = plot_six_leads(pred, truth, sampling_rate=250)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 6
    titles = {ax.get_title(loc="left").split(":")[0]: ax for ax in axes}
    assert set(titles) == set(truth.columns)
    for lead, ax in titles.items():
        r = np.corrcoef(pred[lead], truth[lead])[0, 1]
        assert f"r = {r:.3f}" in ax.get_title(loc="left")
        np.testing.assert_array_equal(_line(ax, "reconstruction").get_ydata(), pred[lead])
    with pytest.raises(ValueError, match="aVF"):
        plot_six_leads(pred.drop(columns="aVF"))
    with pytest.raises(ValueError, match="column"):
        plot_six_leads(np.zeros((10, 5)))


def test_plot_spectrum_heights_are_histogram_counts(rng):
    true = np.concatenate([rng.normal(662, 5, 2000), rng.uniform(0, 600, 3000)])
    recovered = true[rng.random(true.size) > 0.05]
    counting = np.concatenate([recovered[:100] + recovered[100:200], recovered[200:]])
    edges = np.linspace(0, 1400, 141)
    fig = plot_spectrum(recovered, true, others={"threshold counting": counting}, bins=edges,
                        xlabel="energy (keV)")
    ax = fig.axes[0]
    stairs = {p.get_label().split(" (")[0]: p for p in ax.patches}
    assert set(stairs) == {"true", "recovered", "threshold counting"}
    for label, values in [("true", true), ("recovered", recovered),
                          ("threshold counting", counting)]:
        counts, _ = np.histogram(values, edges)
        np.testing.assert_array_equal(stairs[label].get_data().values, counts)
    assert ax.get_xlabel() == "energy (keV)"
    with pytest.raises(ValueError, match="increasing"):
        plot_spectrum(recovered, bins=[3.0, 1.0])


def test_plot_spectrum_range_sets_the_bins(rng):
    values = rng.uniform(0, 100, 500)
    fig = plot_spectrum(values, bins=10, range=(20, 70), log=False)
    (stairs,) = fig.axes[0].patches
    counts, edges = np.histogram(values, bins=10, range=(20, 70))
    np.testing.assert_array_equal(stairs.get_data().values, counts)
    np.testing.assert_allclose(stairs.get_data().edges, edges)
    for bad in [(70, 20), (5, 5), (0, np.inf), (1, 2, 3)]:
        with pytest.raises(ValueError, match="range"):
            plot_spectrum(values, range=bad)


# --- plot_detections' matching window: seconds need a sampling rate, or give samples.
# Without ``sampling_rate`` the default ``tolerance_s=0.15`` used to be read as 0.15
# samples, so a detection 2 samples from its reference beat was drawn as a miss plus a
# false alarm.  Now seconds without a sampling rate raise, ``tolerance_samples`` gives the
# window in samples, and seconds are converted as :func:`sparse_events.ecg.evaluate`
# converts its ``match_window_s`` (same misses and false alarms as the EC57 scorer).


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


@pytest.mark.parametrize("mode", ["full", "valid"])
def test_plot_deconvolution_full_and_valid_coefficients(mode):
    """deconvolve's "full" (M - L + 1) and "valid" (M + L - 1) coefficients used to be
    refused ("coef must have M samples"): each event is drawn where its kernel starts
    in numpy's convolution of that mode (reference), "valid" events before the signal
    at negative times."""
    m, L, fs = 300, 12, 100.0
    h = np.r_[1.0, np.linspace(2.0, 0.1, L - 1)]
    n_coef = m - L + 1 if mode == "full" else m + L - 1
    coef = np.zeros(n_coef)
    events = [3, 40, 150, n_coef - 1]
    coef[events] = [0.5, 1.0, -2.0, 1.5]
    y = np.convolve(coef, h, mode=mode)
    assert y.size == m
    fig = plot_deconvolution(y, coef, y, sampling_rate=fs, true_coef=coef, mode=mode)
    # numpy's output of this mode is its full convolution from row `offset` on
    offset = 0 if mode == "full" else L - 1
    np.testing.assert_array_equal(y, np.convolve(coef, h)[offset:offset + m])
    onsets = []
    for k in events:
        unit = np.zeros(n_coef)
        unit[k] = 1.0
        onsets.append(int(np.flatnonzero(np.convolve(unit, h))[0]) - offset)
    if mode == "valid":
        assert onsets[0] < 0
    np.testing.assert_allclose(_line(fig.axes[1], "recovered").get_xdata(),
                               np.array(onsets) / fs)
    np.testing.assert_allclose(_line(fig.axes[1], "true").get_xdata(), np.array(onsets) / fs)
    other = "full" if mode == "valid" else "valid"
    with pytest.raises(ValueError, match=rf"coef must have .* for mode='{other}'"):
        plot_deconvolution(y, coef, mode=other)
    with pytest.raises(ValueError, match=rf"pass mode='{mode}'"):
        plot_deconvolution(y, coef)
