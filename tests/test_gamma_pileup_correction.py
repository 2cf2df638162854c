"""Unresolved pile-up correction against the closed-form cluster model and direct simulation."""

import numpy as np
import pytest

from sparse_events.solvers import ConvergenceWarning
from sparse_events.gamma import (
    EnergySpectrum,
    correct_unresolved_pileup,
    energy_spectrum,
    fit_photopeak,
    measure_pair_resolution,
)


def _forward_cluster_model(g, n, d, k_max=10):
    """Expected recovered histogram: sum over cluster sizes k of N a q^(k-1) f^{*k} (h^{k-1}).

    Written term by term with np.convolve (independent of the fixed-point solver).
    """
    N = g.sum()
    f = g / N
    a, q = np.exp(-2 * n * d), 1 - np.exp(-n * d)
    m = g.size
    out = np.zeros(m)
    term = f.copy()
    for k in range(1, k_max + 1):
        out += N * a * q ** (k - 1) * term
        term = np.convolve(np.convolve(term, f), [0.5, 0.5])[:m]
    return out


def _two_lines_histogram(m=400):
    g = np.zeros(m)
    g[60] = 5000.0  # line 1
    g[95] = 3000.0  # line 2
    g[20:150] += 10.0  # continuum
    return g


def _as_spectrum(counts, edges):
    return EnergySpectrum(counts=np.asarray(counts), bin_edges_kev=edges,
                          calibration=np.array([0.0, 1.0]), n_outside=0)


def test_inverts_the_closed_form_cluster_spectrum():
    g = _two_lines_histogram()
    n, d = 2e6, 20e-9  # n d = 0.04
    r = _forward_cluster_model(g, n, d)
    edges = np.arange(g.size + 1, dtype=float)
    N, a, q = g.sum(), np.exp(-2 * n * d), 1 - np.exp(-n * d)
    c = correct_unresolved_pileup(_as_spectrum(r, edges), rate_hz=n, resolving_time_s=d)
    np.testing.assert_allclose(c.counts, g, atol=1e-7 * g.max())
    assert c.n_events == pytest.approx(N, rel=1e-9)
    assert c.singles_fraction == pytest.approx(a)
    assert c.merge_probability == pytest.approx(q)
    np.testing.assert_allclose(c.pileup_counts, r - a * g, atol=1e-7 * g.max())
    # a histogram cut below the sum peaks is corrected below the cut (causality; only
    # approximately, since N is estimated from the cut histogram)
    cut = 110
    c2 = correct_unresolved_pileup(_as_spectrum(r[:cut], edges[:cut + 1]), rate_hz=n,
                                   resolving_time_s=d)
    total_cut = r[:cut].sum()
    assert total_cut < r.sum()
    # the estimated N only counts the events inside the cut histogram: compare the shape
    np.testing.assert_allclose(c2.counts / c2.counts.sum(), g[:cut] / g[:cut].sum(),
                               atol=2e-3 * g.max() / g[:cut].sum())
    # no pile-up: identity
    c0 = correct_unresolved_pileup(_as_spectrum(g, edges), rate_hz=n, resolving_time_s=0.0)
    np.testing.assert_allclose(c0.counts, g)


def test_pair_peaks_of_two_lines_closed_form():
    """Two lines only: the pair peaks are N a q p_i p_j (x2 for i != j), half in each bin."""
    g = np.zeros(300)
    g[60], g[95] = 5000.0, 3000.0
    n, d = 2e6, 20e-9
    N, a, q = g.sum(), np.exp(-2 * n * d), 1 - np.exp(-n * d)
    p1, p2 = g[60] / N, g[95] / N
    r = np.zeros(300)
    r[[60, 95]] = a * g[[60, 95]]
    for k, v in ((120, p1 * p1), (155, 2 * p1 * p2), (190, p2 * p2)):
        r[k] = r[k + 1] = 0.5 * N * a * q * v
    # triples land at >= 180 keV: below 180 the histogram above is the exact expectation
    np.testing.assert_allclose(r[:180], _forward_cluster_model(g, n, d)[:180], rtol=1e-12,
                               atol=1e-9)
    c = correct_unresolved_pileup(_as_spectrum(r[:180], np.arange(181.0)), rate_hz=n,
                                  resolving_time_s=d)
    # N is only known from the histogram: it holds the singles and the pairs below 180 keV
    np.testing.assert_allclose(c.counts, g[:180], atol=1e-6 * g.max())


def test_zero_amplitude_offset_and_calibration():
    """A histogram starting below zero amplitude (calibration offset on an edge) is shifted."""
    g = _two_lines_histogram()
    n, d = 1e6, 30e-9
    r = _forward_cluster_model(g, n, d)
    pad = np.concatenate([np.zeros(5), r])
    edges = -50.0 + 10.0 * np.arange(pad.size + 1)  # 10 keV bins, E = 0 at edge 5
    sp = EnergySpectrum(counts=pad, bin_edges_kev=edges, calibration=np.array([0.0, 2.5]),
                        n_outside=0)
    c = correct_unresolved_pileup(sp, rate_hz=n, resolving_time_s=d)
    np.testing.assert_allclose(c.counts[5:], g, atol=1e-7 * g.max())
    assert np.all(c.counts[:5] == 0)


def _simulate_merged(rng, n_mean, n, d):
    """Poisson arrivals; clusters of consecutive events < d apart come out as one event."""
    N = rng.poisson(n_mean)
    t = np.cumsum(rng.exponential(1 / n, N))
    u = rng.random(N)
    e = np.where(u < 0.3, rng.normal(100, 3, N),
                 np.where(u < 0.5, rng.normal(250, 3, N), rng.uniform(20, 400, N)))
    new = np.ones(N, dtype=bool)
    new[1:] = np.diff(t) >= d
    rec = np.bincount(np.cumsum(new) - 1, weights=e)
    return t, e, rec


# a rare cluster of 3+ events can sum above 1200 keV (n_outside > 0: warned about)
@pytest.mark.filterwarnings("ignore:correct_unresolved_pileup. spectrum.n_outside")
def test_monte_carlo_pairs_sum_peaks_removed_and_uncertainty_calibrated():
    rng = np.random.default_rng(7)
    n, d = 1e6, 40e-9
    edges = np.arange(0.0, 1201.0, 1.0)
    windows = [(90, 110), (240, 260), (190, 210), (340, 360), (490, 510)]
    rows = []
    for _ in range(40):
        _, e, rec = _simulate_merged(rng, 40000, n, d)
        true = energy_spectrum(e, bin_edges_kev=edges)
        raw = energy_spectrum(rec, bin_edges_kev=edges)
        c = correct_unresolved_pileup(raw, rate_hz=n, resolving_time_s=d)
        rows.append([[true.counts_between(*w), raw.counts_between(*w), c.counts_between(*w),
                      c.counts_between_uncertainty(*w)] for w in windows])
    v = np.array(rows)  # (rep, window, [true, raw, corrected, sd])
    diff = v[:, :, 2] - v[:, :, 0]
    sd = v[:, :, 3]
    # unbiased: the mean over repetitions is within 4 standard errors of the truth
    assert np.all(np.abs(diff.mean(axis=0)) < 4 * sd.mean(axis=0) / np.sqrt(len(v)))
    # without correction the sum peaks (200, 350, 500 keV) and the lines are clearly off
    raw_diff = (v[:, :, 1] - v[:, :, 0]).mean(axis=0)
    assert np.all(np.abs(raw_diff) > 8 * sd.mean(axis=0) / np.sqrt(len(v)))
    # the reported sd is the spread of the corrected counts (chi-square bounds for 40 draws)
    ratio = v[:, :, 2].std(axis=0, ddof=1) / sd.mean(axis=0)
    assert np.all((ratio > 0.65) & (ratio < 1.4)), ratio


def test_systematic_uncertainty_from_resolving_time():
    rng = np.random.default_rng(3)
    n, d = 1e6, 40e-9
    _, e, rec = _simulate_merged(rng, 40000, n, d)
    raw = energy_spectrum(rec, bin_edges_kev=np.arange(0.0, 1201.0, 1.0))
    c0 = correct_unresolved_pileup(raw, rate_hz=n, resolving_time_s=d)
    c1 = correct_unresolved_pileup(raw, rate_hz=n, resolving_time_s=d,
                                   resolving_time_uncertainty_s=5e-9)
    moved = correct_unresolved_pileup(raw, rate_hz=n, resolving_time_s=d + 5e-9)
    w = (490, 510)
    stat = c0.counts_between_uncertainty(*w)
    syst = moved.counts_between(*w) - c0.counts_between(*w)
    assert c1.counts_between_uncertainty(*w) == pytest.approx(np.hypot(stat, syst))
    assert c1.counts_between_uncertainty(*w, systematic=False) == pytest.approx(stat)


def test_fit_photopeak_on_corrected_spectrum_recovers_line_area():
    rng = np.random.default_rng(11)
    n, d = 1e6, 40e-9
    _, e, rec = _simulate_merged(rng, 100000, n, d)
    edges = np.arange(0.0, 1201.0, 1.0)
    true = fit_photopeak(energy_spectrum(e, bin_edges_kev=edges), window_kev=(80, 120))
    raw = energy_spectrum(rec, bin_edges_kev=edges)
    fr = fit_photopeak(raw, window_kev=(80, 120))
    c = correct_unresolved_pileup(raw, rate_hz=n, resolving_time_s=d)
    fc = fit_photopeak(c, window_kev=(80, 120))
    assert fr.area < true.area - 5 * true.area_uncertainty  # ~ 2 n d = 8 % lost
    assert abs(fc.area - true.area) < 4 * fc.area_uncertainty
    # reference: near the line the corrected bins have variance ~ g / a (J ~ 1 / a on the
    # diagonal, g ~ R / a), so the weighted fit's sd is exp(n d) times that of a fit of the same
    # corrected counts with Poisson weights
    plain = EnergySpectrum(counts=c.counts, bin_edges_kev=edges, calibration=c.calibration,
                           n_outside=0)
    fp = fit_photopeak(plain, window_kev=(80, 120))
    assert fc.area_uncertainty == pytest.approx(np.exp(n * d) * fp.area_uncertainty, rel=5e-3)


def test_measure_pair_resolution_recovers_known_merge_and_corruption_times():
    rng = np.random.default_rng(5)
    fs = 250e6
    n = 5e6
    d_merge, d_amp = 3 / fs, 6 / fs
    t = np.cumsum(rng.exponential(1 / n, 200000))
    a = rng.uniform(100, 200, t.size)
    gap = np.diff(t)
    new = np.ones(t.size, dtype=bool)
    new[1:] = gap >= d_merge
    lab = np.cumsum(new) - 1
    rt = t[new]
    ra = np.bincount(lab, weights=a)
    # a resolved event with a true neighbour closer than d_amp gets a wrong amplitude
    dnn = np.full(t.size, np.inf)
    dnn[1:] = gap
    dnn[:-1] = np.minimum(dnn[:-1], gap)
    first = np.flatnonzero(new)
    single = np.bincount(lab) == 1
    ra[single & (dnn[first] < d_amp)] += 50.0
    res = measure_pair_resolution(t, a, rt, ra, amplitude_tolerance=1.0,
                                  max_separation_s=12 / fs, n_bins=24)
    assert res.merge_resolving_time_s == pytest.approx(d_merge, abs=1e-15)
    assert res.amplitude_resolving_time_s == pytest.approx(d_amp, abs=1e-15)
    assert res.corrupted_baseline == 0.0
    assert res.isolated_amplitude_error_sd == 0.0  # isolated events are recovered exactly
    noisy = measure_pair_resolution(t, a, rt, ra + rng.normal(0, 0.5, ra.size),
                                    amplitude_tolerance=1.0, max_separation_s=12 / fs)
    assert noisy.isolated_amplitude_error_sd == pytest.approx(0.5, rel=0.05)
    np.testing.assert_array_equal(res.merge_probability, np.repeat([1.0, 0.0], [6, 18]))
    assert res.n_pairs.sum() > 1000
    # per class of the own amplitude: the same step (the rule does not depend on it)
    by = measure_pair_resolution(t, a, rt, ra, amplitude_tolerance=1.0,
                                 max_separation_s=12 / fs, n_bins=24,
                                 amplitude_class_edges=[100.0, 150.0, 200.0])
    np.testing.assert_allclose(by.amplitude_resolving_time_by_class_s, d_amp, atol=1e-15)
    np.testing.assert_allclose(by.merge_resolving_time_by_class_s, d_merge, atol=1e-15)
    assert by.n_pairs_by_class.sum() == res.n_pairs.sum()


def test_bad_input():
    edges = np.arange(0.0, 101.0)
    sp = _as_spectrum(np.ones(100, dtype=np.int64), edges)
    with pytest.raises(ValueError, match="ln 2"):
        correct_unresolved_pileup(sp, rate_hz=1e7, resolving_time_s=1e-7)
    with pytest.raises(ValueError, match="rate_hz"):
        correct_unresolved_pileup(sp, rate_hz=-1.0, resolving_time_s=1e-8)
    with pytest.raises(ValueError, match="resolving_time_s"):
        correct_unresolved_pileup(sp, rate_hz=1e6, resolving_time_s=np.nan)
    uneven = _as_spectrum(np.ones(3), np.array([0.0, 1.0, 3.0, 4.0]))
    with pytest.raises(ValueError, match="uniform"):
        correct_unresolved_pileup(uneven, rate_hz=1e6, resolving_time_s=1e-8)
    quad = EnergySpectrum(counts=np.ones(100), bin_edges_kev=edges,
                          calibration=np.array([0.0, 1.0, 0.1]), n_outside=0)
    with pytest.raises(ValueError, match="linear"):
        correct_unresolved_pileup(quad, rate_hz=1e6, resolving_time_s=1e-8)
    off = EnergySpectrum(counts=np.ones(100), bin_edges_kev=edges + 0.3,
                         calibration=np.array([0.0, 1.0]), n_outside=0)
    with pytest.raises(ValueError, match="bin edge"):
        correct_unresolved_pileup(off, rate_hz=1e6, resolving_time_s=1e-8)
    with pytest.raises(TypeError, match="EnergySpectrum"):
        correct_unresolved_pileup(np.ones(10), rate_hz=1e6, resolving_time_s=1e-8)
    with pytest.raises(ValueError, match="sorted"):
        measure_pair_resolution([2.0, 1.0, 3.0], [1, 1, 1], [1.0], [1.0],
                                amplitude_tolerance=1.0, max_separation_s=0.1)


def _d_by_smaller_energy(e1, e2):
    """Test resolving time: a pair with a member below 150 keV merges over 60 ns, else 20 ns."""
    return np.where(np.minimum(e1, e2) < 150.0, 60e-9, 20e-9)


def test_energy_dependent_resolving_time_measured_and_corrected():
    """Pairs of two large pulses merge less: measured per class, corrected without bias."""
    rng = np.random.default_rng(21)
    n = 1e6
    edges = np.arange(0.0, 1201.0, 1.0)
    windows = [(90, 110), (240, 260), (190, 210), (340, 360), (490, 510)]
    rows = []
    for rep in range(25):
        N = rng.poisson(40000)
        t = np.cumsum(rng.exponential(1 / n, N))
        u = rng.random(N)
        e = np.where(u < 0.3, rng.normal(100, 3, N),
                     np.where(u < 0.5, rng.normal(250, 3, N), rng.uniform(20, 400, N)))
        new = np.ones(N, dtype=bool)
        new[1:] = np.diff(t) >= _d_by_smaller_energy(e[:-1], e[1:])
        lab = np.cumsum(new) - 1
        rec_t, rec_e = t[new], np.bincount(lab, weights=e)
        if rep == 0:
            res = measure_pair_resolution(t, e, rec_t, rec_e, amplitude_tolerance=1.0,
                                          max_separation_s=100e-9, n_bins=20,
                                          amplitude_class_edges=[0.0, 150.0, np.inf])
            sd = res.merge_resolving_time_by_class_uncertainty_s
            assert np.all(np.abs(res.merge_resolving_time_by_class_s - [60e-9, 20e-9])
                          <= 1e-15 + 4 * sd)
            assert res.n_pairs_by_class.sum() == res.n_pairs.sum()
            d_mean = res.merge_resolving_time_s  # all pairs pooled
            assert 20e-9 < d_mean < 60e-9
        true = energy_spectrum(e, bin_edges_kev=edges)
        raw = energy_spectrum(rec_e, bin_edges_kev=edges)
        cp = correct_unresolved_pileup(raw, rate_hz=n, resolving_time_s=_d_by_smaller_energy)
        cs = correct_unresolved_pileup(raw, rate_hz=n, resolving_time_s=d_mean)
        rows.append([[true.counts_between(*w), cp.counts_between(*w), cs.counts_between(*w),
                      cp.counts_between_uncertainty(*w)] for w in windows])
    v = np.array(rows)
    se = v[:, :, 3].mean(axis=0) / np.sqrt(len(v))
    pair_bias = (v[:, :, 1] - v[:, :, 0]).mean(axis=0)
    scalar_bias = (v[:, :, 2] - v[:, :, 0]).mean(axis=0)
    assert np.all(np.abs(pair_bias) < 4 * se), pair_bias / se
    # the pooled scalar d over-subtracts the 250 + 250 keV sum peak (both members large)
    assert scalar_bias[4] < -4 * se[4]


def test_constant_callable_agrees_with_scalar_to_second_order():
    rng = np.random.default_rng(2)
    n, d = 1e6, 40e-9
    _, e, rec = _simulate_merged(rng, 40000, n, d)
    raw = energy_spectrum(rec, bin_edges_kev=np.arange(0.0, 601.0, 1.0))
    with pytest.warns(UserWarning, match="n_outside"):  # sums above 600 keV
        cs = correct_unresolved_pileup(raw, rate_hz=n, resolving_time_s=d)
        cc = correct_unresolved_pileup(raw, rate_hz=n,
                                       resolving_time_s=lambda e1, e2: np.full(
                                           np.broadcast(e1, e2).shape, d))
    q = 1 - np.exp(-n * d)
    assert cc.merge_probability == pytest.approx(q)
    assert cc.singles_fraction == pytest.approx(cs.singles_fraction, rel=1e-9)
    # the first-order model leaves out clusters of >= 3 events: differences of order q^2
    np.testing.assert_allclose(cc.counts, cs.counts, atol=3 * q ** 2 * raw.counts.max())
    with pytest.raises(ValueError, match="symmetric"), pytest.warns(UserWarning):
        correct_unresolved_pileup(raw, rate_hz=n, resolving_time_s=lambda e1, e2: 1e-9 * e1
                                  + 0 * e2)


def _numerical_jacobian(r, edges, **kw):
    """``dg / dR`` by central differences of the correction (columns of empty bins left 0)."""
    m = r.size
    jac = np.zeros((m, m))
    for j in np.flatnonzero(r > 0):
        h = 1e-3 * r[j]
        e = np.zeros(m)
        e[j] = h
        plus = correct_unresolved_pileup(_as_spectrum(r + e, edges), **kw).counts
        minus = correct_unresolved_pileup(_as_spectrum(r - e, edges), **kw).counts
        jac[:, j] = (plus - minus) / (2 * h)
    return jac


def test_statistical_uncertainty_matches_numerical_jacobian():
    """Poisson variance propagated through J = dg/dR, with N = sum g estimated from the data."""
    m = 150
    g = np.zeros(m)
    g[30], g[47] = 5000.0, 3000.0
    g[10:75] += 10.0
    n, d = 1e7, 30e-9  # n d = 0.3: strong pile-up, N moves a lot with the data
    r = _forward_cluster_model(g, n, d, k_max=20)
    edges = np.arange(m + 1.0)
    kw = dict(rate_hz=n, resolving_time_s=d, tol=1e-15, max_iter=2000)
    c = correct_unresolved_pileup(_as_spectrum(r, edges), **kw)
    jac = _numerical_jacobian(r, edges, **kw)
    var = (jac ** 2) @ r
    live = var > 1e-8 * var.max()
    np.testing.assert_allclose(c.counts_variance[live], var[live], rtol=1e-5)
    for w in ((25, 35), (42, 52), (0, 80), (0, m)):
        ww = ((c.bin_centers_kev >= w[0]) & (c.bin_centers_kev < w[1])).astype(float)
        ref = np.sqrt(((ww @ jac) ** 2) @ r)
        assert c.counts_between_uncertainty(*w) == pytest.approx(ref, rel=1e-5), w
    # the total: N = sum R / (1 - q) for a histogram holding (nearly) all clusters, so its sd
    # is sqrt(sum R) / (1 - q) (N held fixed would give 1 - q times that)
    q = 1 - np.exp(-n * d)
    big = np.zeros(800)
    big[:m] = g
    r_big = _forward_cluster_model(big, n, d, k_max=12)
    c_big = correct_unresolved_pileup(_as_spectrum(r_big, np.arange(801.0)), **kw)
    assert c_big.counts_between_uncertainty(0, 800) == pytest.approx(
        np.sqrt(r_big.sum()) / (1 - q), rel=1e-4)


def test_energy_dependent_statistical_uncertainty_is_close_to_numerical_jacobian():
    """For d(e1, e2) the propagation uses the scalar model at the pair-averaged q: check it."""
    m = 160
    g = np.zeros(m)
    g[30], g[47] = 5000.0, 3000.0
    g[10:75] += 10.0
    n = 1e6
    r = _forward_cluster_model(g, n, 40e-9)
    edges = np.arange(m + 1.0)
    kw = dict(rate_hz=n, resolving_time_s=lambda e1, e2: np.where(np.minimum(e1, e2) < 40.0,
                                                                  60e-9, 20e-9),
              tol=1e-14, max_iter=5000)
    c = correct_unresolved_pileup(_as_spectrum(r, edges), **kw)
    jac = _numerical_jacobian(r, edges, **kw)
    for w in ((25, 35), (42, 52), (55, 100), (0, m)):
        ww = ((c.bin_centers_kev >= w[0]) & (c.bin_centers_kev < w[1])).astype(float)
        ref = np.sqrt(((ww @ jac) ** 2) @ r)
        assert c.counts_between_uncertainty(*w) == pytest.approx(ref, rel=0.06), w


def test_systematic_uncertainty_from_rate():
    rng = np.random.default_rng(4)
    n, d, sn = 1e6, 40e-9, 1e5
    _, e, rec = _simulate_merged(rng, 40000, n, d)
    raw = energy_spectrum(rec, bin_edges_kev=np.arange(0.0, 1201.0, 1.0))
    c0 = correct_unresolved_pileup(raw, rate_hz=n, resolving_time_s=d)
    c1 = correct_unresolved_pileup(raw, rate_hz=n, resolving_time_s=d, rate_uncertainty_hz=sn)
    moved = correct_unresolved_pileup(raw, rate_hz=n + sn, resolving_time_s=d)
    for w in ((90, 110), (490, 510), (0, 1200)):
        stat = c0.counts_between_uncertainty(*w)
        syst = moved.counts_between(*w) - c0.counts_between(*w)
        assert syst != 0
        assert c1.counts_between_uncertainty(*w) == pytest.approx(np.hypot(stat, syst))
        assert c1.counts_between_uncertainty(*w, systematic=False) == pytest.approx(stat)


def test_pileup_counts_and_singles_fraction_for_energy_dependent_resolving_time():
    """Against a direct pair-by-pair computation of a_i = (1 - qbar_i)^2 and the pair spectrum."""
    rng = np.random.default_rng(9)
    n = 1e6
    _, e, rec = _simulate_merged(rng, 20000, n, 40e-9)
    edges = np.arange(0.0, 1201.0, 2.0)
    raw = energy_spectrum(rec, bin_edges_kev=edges)
    c = correct_unresolved_pileup(raw, rate_hz=n, resolving_time_s=_d_by_smaller_energy)
    g = c.counts
    N = g.sum()
    e_c = c.bin_centers_kev
    qm = 1 - np.exp(-n * _d_by_smaller_energy(e_c[:, None], e_c[None, :]))
    qbar = np.array([sum(qm[i, j] * g[j] for j in range(g.size)) / N for i in range(g.size)])
    a = (1 - qbar) ** 2
    assert c.singles_fraction == pytest.approx(float(np.sum(a * g) / N), rel=1e-10)
    pairs = np.zeros(g.size + 1)
    nz = np.flatnonzero(g)
    for i in nz:
        for j in nz:
            if i + j < g.size:
                w = g[i] * (1 - qbar[i]) * g[j] * (1 - qbar[j]) * qm[i, j] / N
                pairs[i + j] += 0.5 * w  # rounding kernel h = (1/2, 1/2)
                pairs[i + j + 1] += 0.5 * w
    np.testing.assert_allclose(c.pileup_counts, pairs[:g.size], atol=1e-8 * raw.counts.max())
    np.testing.assert_allclose(c.pileup_counts, raw.counts - a * g, atol=1e-8 * raw.counts.max())


def test_new_bad_input_and_warnings():
    edges = np.arange(0.0, 101.0)
    sp = _as_spectrum(np.ones(100, dtype=np.int64), edges)
    # only the shifted rate / resolving time crosses ln 2: the message names the uncertainty
    with pytest.raises(ValueError, match="rate_uncertainty_hz"):
        correct_unresolved_pileup(sp, rate_hz=1e7, resolving_time_s=6e-8,
                                  rate_uncertainty_hz=2e6)
    with pytest.raises(ValueError, match="resolving_time_uncertainty_s"):
        correct_unresolved_pileup(sp, rate_hz=1e7, resolving_time_s=6e-8,
                                  resolving_time_uncertainty_s=2e-8)
    with pytest.raises(ValueError, match="resolving_time_uncertainty_s"):
        correct_unresolved_pileup(sp, rate_hz=1e7, resolving_time_s=lambda e1, e2: 0 * e1 * e2
                                  + 6e-8, resolving_time_uncertainty_s=2e-8)
    # zero amplitude at or above the last bin edge
    for c0 in (100.0, 150.0):
        high = EnergySpectrum(counts=np.zeros(100), bin_edges_kev=edges,
                              calibration=np.array([c0, 1.0]), n_outside=0)
        with pytest.raises(ValueError, match="spectrum"):
            correct_unresolved_pileup(high, rate_hz=1e6, resolving_time_s=1e-8)
    outside = EnergySpectrum(counts=np.ones(100), bin_edges_kev=edges,
                             calibration=np.array([0.0, 1.0]), n_outside=3)
    with pytest.warns(UserWarning, match="n_outside = 3"):
        c = correct_unresolved_pileup(outside, rate_hz=1e6, resolving_time_s=1e-8)
    assert c.n_outside == 3
    g = _two_lines_histogram()
    r = _forward_cluster_model(g, 1e7, 30e-9)
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        correct_unresolved_pileup(_as_spectrum(r, np.arange(g.size + 1.0)), rate_hz=1e7,
                                  resolving_time_s=30e-9, max_iter=3)
    with pytest.warns(ConvergenceWarning, match="last change"):
        correct_unresolved_pileup(_as_spectrum(r, np.arange(g.size + 1.0)), rate_hz=1e7,
                                  resolving_time_s=_d_by_smaller_energy, max_iter=2)
