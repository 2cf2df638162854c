"""Event / activity estimation against ground truth, plain LASSO and least squares."""

import numpy as np
import pytest
from scipy.optimize import nnls

from sparse_events import deconvolve
from sparse_events.gamma import (
    activity_from_events,
    biexponential_pulse,
    cluster_events,
    default_resolving_samples,
    estimate_activity,
    estimate_events,
    estimate_noise_std,
    simulate_pulse_train,
    threshold_counter,
)
from sparse_events.gamma._kernels import refit_support
from sparse_events.operators import ConvolutionOperator

FS = 250e6
PULSE = biexponential_pulse(sampling_rate=FS, rise_time_s=4e-9, decay_time_s=12e-9,
                            tail_fraction=0.01)
L = PULSE.size


def _train(rl, n_samples, seed, noise=1.0, **kw):
    rate = rl / (L / FS)
    return simulate_pulse_train(rate_hz=rate, duration_s=n_samples / FS, sampling_rate=FS,
                                pulse=PULSE, amplitudes=lambda rng, n: rng.uniform(20, 200, n),
                                noise_std=noise, random_state=seed, **kw)


def _alpha(noise, n):
    return noise * np.linalg.norm(PULSE) * np.sqrt(2 * np.log(n))


@pytest.mark.parametrize("segment_solver, max_vars", [("cd", 2048), ("active_set", 2048),
                                                      ("active_set", 20)])
@pytest.mark.parametrize("rl, chunk_size", [(0.05, 1 << 16), (0.6, 1 << 16), (0.6, 2048),
                                            (2.0, 2048)])
def test_pieces_give_the_lasso_of_the_whole_record(rl, chunk_size, segment_solver, max_vars):
    """Screening + segmentation + packing (+ overlapping cuts) == one deconvolve call.

    ``active_set``: independent components solved exactly; with ``max_vars=20``
    most runs go on to coordinate descent, so both paths share one record.
    """
    tr = _train(rl, 1 << 14, seed=1)
    alpha = _alpha(1.0, tr.signal.size)
    ref = deconvolve(tr.signal, PULSE, alpha, positive=True, tol=1e-12, max_iter=10000)
    ev = estimate_events(tr.signal, sampling_rate=FS, pulse=PULSE, alpha=alpha, noise_std=1.0,
                         merge_gap_samples=0, debias=False, tol=1e-12, max_iter=10000,
                         chunk_size=chunk_size, min_amplitude=0.0,
                         segment_solver=segment_solver, max_segment_vars=max_vars)
    idx = np.flatnonzero(ref.coef > 1e-9 * alpha)
    if segment_solver == "cd":
        assert ev.n_pieces >= (2 if chunk_size == 2048 else 1)
        assert ev.segment_stats == {}
    else:
        st = ev.segment_stats
        assert st["runs"] >= st["runs_to_cd"]
        if max_vars == 20:
            assert st["runs_to_cd"] > 0 and st["largest_component"] > 20
        elif rl < 1:
            assert st["runs_to_cd"] == 0 and st["components"] > 0
    np.testing.assert_array_equal(np.round(ev.arrival_samples).astype(int), idx)
    np.testing.assert_allclose(ev.lasso_amplitudes, ref.coef[idx], rtol=1e-6, atol=1e-6)
    assert ev.kkt_violation < 1e-6
    if rl < 0.1:
        assert ev.active_fraction < 0.5  # quiet stretches were skipped


@pytest.mark.parametrize("rl", [0.05, 0.6])
def test_segment_solver_matches_coordinate_descent_with_refit(rl, tmp_path):
    """Default path (active set) == coordinate descent at a tight tolerance, debiased
    amplitudes and merging included; float32 memmap input read in place."""
    tr = _train(rl, 1 << 15, seed=11, dtype=np.float32)
    path = tmp_path / "sig.f32"
    tr.signal.tofile(path)
    mm = np.memmap(path, dtype=np.float32, mode="r")
    kw = dict(sampling_rate=FS, pulse=PULSE, noise_std=1.0)
    new = estimate_events(mm, **kw)
    old = estimate_events(tr.signal, segment_solver="cd", tol=1e-12, max_iter=10000, **kw)
    assert new.n_events == old.n_events > 0
    np.testing.assert_allclose(new.arrival_samples, old.arrival_samples, atol=1e-6)
    np.testing.assert_allclose(new.amplitudes, old.amplitudes, rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(new.lasso_amplitudes, old.lasso_amplitudes, rtol=1e-7,
                               atol=1e-6)
    assert new.kkt_violation < 1e-8
    assert new.segment_stats["runs_to_cd"] == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_segment_solver_at_the_record_ends(seed):
    """Pulses at the first samples and cut by the end of the record (truncated columns)."""
    rng = np.random.default_rng(seed)
    n = 600
    H = ConvolutionOperator(PULSE, n, "causal").todense()
    pos = np.r_[0, 1, 3, rng.integers(100, 500, 3), n - L, n - 5, n - 2, n - 1]
    s_true = np.zeros(n)
    s_true[pos] = rng.uniform(20, 200, pos.size)
    y = H @ s_true + rng.standard_normal(n)
    alpha = _alpha(1.0, n)
    ref = deconvolve(y, PULSE, alpha, positive=True, tol=1e-12, max_iter=100000)
    ev = estimate_events(y, sampling_rate=FS, pulse=PULSE, alpha=alpha, noise_std=1.0,
                         merge_gap_samples=0, debias=False, min_amplitude=0.0)
    idx = np.flatnonzero(ref.coef > 1e-9 * alpha)
    assert idx[0] <= 3 and idx[-1] >= n - 2
    np.testing.assert_array_equal(np.round(ev.arrival_samples).astype(int), idx)
    np.testing.assert_allclose(ev.lasso_amplitudes, ref.coef[idx], rtol=1e-7, atol=1e-7)
    assert ev.kkt_violation < 1e-8
    # debiased amplitudes: least squares on the support
    deb = estimate_events(y, sampling_rate=FS, pulse=PULSE, alpha=alpha, noise_std=1.0,
                          merge_gap_samples=0, min_amplitude=0.0, max_merge=None)
    want = refit_support(y, PULSE, idx)
    np.testing.assert_allclose(deb.amplitudes, want[want > 0], rtol=1e-7, atol=1e-7)


def test_kkt_check_sees_perturbed_solutions():
    """The compiled KKT check (margins skipped) == the vectorized one over whole runs."""
    from sparse_events.gamma._estimate import _kkt_violation
    from sparse_events.gamma._kernels import screen_runs
    from sparse_events.gamma._segments import kkt_runs

    tr = _train(0.3, 1 << 14, seed=13)
    alpha = _alpha(1.0, tr.signal.size)
    ref = deconvolve(tr.signal, PULSE, alpha, positive=True, tol=1e-12, max_iter=10000)
    idx = np.flatnonzero(ref.coef > 0)
    coef = ref.coef[idx]
    margin = L + 2
    s, e = screen_runs(tr.signal, PULSE, alpha, margin)
    rng = np.random.default_rng(0)
    cases = [(idx, coef), (idx, coef * (1 + 0.01 * rng.standard_normal(idx.size))),
             (np.delete(idx, 7), np.delete(coef, 7)), (idx, coef * 0.9)]
    for i, c in cases:
        got = kkt_runs(tr.signal, PULSE, alpha, s, e, i, c, margin=margin)
        want = _kkt_violation(tr.signal, PULSE, i, c, alpha, None, s, e)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert got > 1e-3


@pytest.mark.parametrize("rl, seed", [(0.3, 21), (1.0, 22), (2.0, 23)])
def test_warm_started_segments_equal_the_dense_nonnegative_qp(rl, seed):
    """Components started from the guessed support (default) == started from zero == the
    dense non-negative QP of the whole record (scipy NNLS on its Cholesky form)."""
    from sparse_events.gamma._kernels import screen_runs
    from sparse_events.gamma._segments import solve_runs

    n = 1500
    tr = _train(rl, n, seed=seed)
    y = tr.signal
    alpha = _alpha(1.0, n)
    H = ConvolutionOperator(PULSE, n, "causal").todense()
    # 0.5 ||y - H s||^2 + alpha sum(s) = 0.5 ||R s - d||^2 + const, R^T R = H^T H, R^T d = c
    R = np.linalg.cholesky(H.T @ H).T
    d = np.linalg.solve(R.T, H.T @ y - alpha)
    ref = nnls(R, d, maxiter=50 * n)[0]
    margin = L + 2
    s, e = screen_runs(y, PULSE, alpha, margin)
    warm = solve_runs(y, PULSE, alpha, s, e, margin=margin)
    cold = solve_runs(y, PULSE, alpha, s, e, margin=margin, warm_start=False)
    for idx, coef, deb, fallback, _stats in (warm, cold):
        assert not fallback.any()
        np.testing.assert_array_equal(idx, np.flatnonzero(ref > 1e-9 * alpha))
        np.testing.assert_allclose(coef, ref[idx], rtol=1e-7, atol=1e-7)
        np.testing.assert_allclose(deb, refit_support(y, PULSE, idx), rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(warm[1], cold[1], rtol=1e-12, atol=1e-12)
    assert warm[4]["components"] == cold[4]["components"] > 0
    assert warm[4]["linear_solves"] < cold[4]["linear_solves"]


def test_group_sums_equal_reduceat(rng):
    from sparse_events.gamma._kernels import group_sums

    v = rng.standard_normal(50)
    first = np.array([0, 1, 4, 5, 20, 49])
    np.testing.assert_allclose(group_sums(v, first), np.add.reduceat(v, first), rtol=1e-14)
    assert group_sums(v, first[:0]).size == 0


def _cluster_sorted_numpy(pos, amp, w, max_gap, max_size, min_amplitude):
    """The former numpy merge of ``_cluster_sorted`` (flatnonzero, group sums, where) on
    its group start flags."""
    from sparse_events.gamma._estimate import _group_flags
    from sparse_events.gamma._kernels import group_sums

    new = _group_flags(pos, amp, w, max_gap, max_size, min_amplitude)
    first = np.flatnonzero(new)
    a = group_sums(amp, first)
    wsum = group_sums(w, first)
    wpos = group_sums(w * pos, first)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(wsum > 0, wpos / np.where(wsum > 0, wsum, 1.0), pos[first])
    return p, a, first


@pytest.mark.parametrize("rl", [0.3, 1.0, 2.0])
def test_compiled_merge_equals_numpy_merge(rl, rng):
    from sparse_events.gamma._estimate import _cluster_sorted

    n = 20000
    # coefficient-like input at density ~ rl: sorted integer positions with runs of
    # neighbours (events between samples, piled-up events) and zero amplitudes
    pos = np.sort(rng.choice(n, int(rl * n / 8), replace=False)).astype(float)
    pos = np.sort(np.concatenate([pos, pos[::2] + 1, pos[::5] + 2]))
    amp = rng.uniform(0, 50, pos.size)
    amp[::7] = 0.0
    cases = [(pos, amp, amp), (pos, amp, amp + rng.uniform(0, 1, pos.size)),
             (pos, amp, -amp), (np.arange(40.0), amp[:40], amp[:40]),
             (pos[:1], amp[:1], amp[:1])]
    for p_, a_, w_ in cases:
        for max_size, min_amp in [(None, None), (2, None), (2, 10.0), (3, 25.0)]:
            got = _cluster_sorted(p_, a_, w_, 1.0, max_size, min_amp)
            ref = _cluster_sorted_numpy(p_, a_, w_, 1.0, max_size, min_amp)
            for g, r in zip(got, ref):
                assert g.dtype == r.dtype
                np.testing.assert_array_equal(g, r)
    got = cluster_events(pos, amp, max_gap=1.0, max_size=2, min_amplitude=10.0)
    ref = _cluster_sorted_numpy(pos, amp, amp, 1.0, 2, 10.0)
    for g, r in zip(got, ref):
        np.testing.assert_array_equal(g, r)


def test_segment_solver_without_debias_and_int_signal():
    tr = _train(0.2, 1 << 14, seed=12)
    y = np.round(4 * tr.signal).astype(np.int16)
    kw = dict(sampling_rate=FS, pulse=PULSE, noise_std=4.0, debias=False)
    new = estimate_events(y, **kw)
    old = estimate_events(y, segment_solver="cd", tol=1e-12, max_iter=10000, **kw)
    assert new.n_events == old.n_events > 0
    np.testing.assert_allclose(new.amplitudes, old.amplitudes, rtol=1e-7, atol=1e-6)
    np.testing.assert_allclose(new.amplitudes, new.lasso_amplitudes)


@pytest.mark.parametrize("debias", [True, False])
def test_non_finite_solver_amplitude_raises(debias, monkeypatch):
    """A non-finite amplitude reaching the clustering raises instead of being dropped."""
    from sparse_events.gamma import _estimate

    real = _estimate.solve_runs

    def broken(*args, **kw):
        idx, coef, deb, fallback, stats = real(*args, **kw)
        coef, deb = coef.copy(), deb.copy()
        coef[coef.size // 2] = deb[deb.size // 2] = np.nan
        return idx, coef, deb, fallback, stats

    tr = _train(0.2, 1 << 12, seed=5)
    monkeypatch.setattr(_estimate, "solve_runs", broken)
    with pytest.raises(ValueError, match="non-finite amplitude"):
        estimate_events(tr.signal, sampling_rate=FS, pulse=PULSE, noise_std=1.0,
                        debias=debias, check_kkt=False)


def test_refit_support_equals_bounded_least_squares(rng):
    n = 400
    H = ConvolutionOperator(PULSE, n, "causal").todense()
    idx = np.sort(rng.choice(n, 40, replace=False))
    # include adjacent pairs and coefficients whose pulses are cut by the end of the record
    idx = np.unique(np.concatenate([idx, idx[:5] + 1, [n - 3, n - 1]]))
    idx = idx[idx < n]
    y = H[:, idx] @ rng.uniform(0.5, 3.0, idx.size) + 0.3 * rng.standard_normal(n)
    got = refit_support(y, PULSE, idx, positive=True)
    ref = nnls(H[:, idx], y)[0]
    # normal equations (banded Cholesky) square the condition number of adjacent columns
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    obj = np.sum((H[:, idx] @ got - y) ** 2)
    assert obj <= np.sum((H[:, idx] @ ref - y) ** 2) * (1 + 1e-10)
    free = refit_support(y, PULSE, idx, positive=False)
    np.testing.assert_allclose(free, np.linalg.lstsq(H[:, idx], y, rcond=None)[0], rtol=1e-5,
                               atol=1e-6)


def test_recovers_arrivals_and_amplitudes_at_low_rate():
    tr = _train(0.02, 1 << 17, seed=2, noise=1.0)
    ev = estimate_events(tr.signal, sampling_rate=FS, pulse=PULSE, noise_std=1.0)
    assert ev.n_events == tr.n_events
    np.testing.assert_allclose(ev.arrival_samples, tr.arrival_samples, atol=0.5)
    # least-squares amplitude error of one event split over two samples: a few noise units
    sd = 1.0 / np.linalg.norm(PULSE)
    assert np.abs(ev.amplitudes - tr.amplitudes).max() < 8 * sd
    assert abs(np.mean(ev.amplitudes - tr.amplitudes)) < 4 * sd / np.sqrt(tr.n_events) + 0.05


def test_activity_is_unbiased_where_counting_fails():
    """rate x pulse length = 0.7: threshold counting loses > 30 %, deconvolution does not."""
    tr = _train(0.7, 1 << 17, seed=3, noise=1.0)
    T = tr.duration_s
    act = estimate_activity(tr.signal, sampling_rate=FS, pulse=PULSE, noise_std=1.0)
    # the realized count is what the signal contains; its Poisson spread is the reported sd
    true_rate = tr.n_events / T
    assert abs(act.rate_hz - true_rate) < 4 * act.rate_uncertainty_hz
    assert act.rate_uncertainty_hz == pytest.approx(np.sqrt(tr.n_events) / T, rel=0.3)
    tc = threshold_counter(tr.signal, sampling_rate=FS, threshold=5.0, dead_time_s=L / FS)
    assert tc.n_events < 0.7 * tr.n_events
    assert act.n_clusters < act.n_events <= tr.n_events


def test_cross_products_keeps_events_apart():
    tr = _train(0.3, 1 << 13, seed=4)
    dead = 6 / FS
    plain = estimate_events(tr.signal, sampling_rate=FS, pulse=PULSE, noise_std=1.0)
    cp = estimate_events(tr.signal, sampling_rate=FS, pulse=PULSE, noise_std=1.0,
                         dead_time_s=dead, cross_products_strength=1.0)
    assert cp.method == "cross_products" and plain.method == "lasso"
    close_cp = np.sum(np.diff(cp.arrival_samples) < 5)
    close_plain = np.sum(np.diff(plain.arrival_samples) < 5)
    assert close_plain > 0
    assert close_cp < close_plain
    # with a negligible strength the cross-products LASSO is the plain LASSO
    weak = estimate_events(tr.signal, sampling_rate=FS, pulse=PULSE, noise_std=1.0,
                           dead_time_s=dead, cross_products_strength=1e-12, tol=1e-10)
    np.testing.assert_allclose(weak.arrival_samples, plain.arrival_samples, atol=1e-6)


def test_cluster_events():
    pos, amp, first = cluster_events([1, 2, 3, 10, 11, 30], [1, 1, 2, 5, 5, 3], max_gap=1)
    np.testing.assert_allclose(pos, [(1 + 2 + 6) / 4, 10.5, 30])
    np.testing.assert_allclose(amp, [4, 10, 3])
    np.testing.assert_array_equal(first, [0, 3, 5])
    # runs longer than max_size: the largest coefficient takes its larger neighbour first
    x, a = [1, 2, 3, 10, 11, 12, 13], [5, 10, 0.5, 1, 8, 9, 1]
    pos, amp, first = cluster_events(x, a, max_gap=1, max_size=2)
    np.testing.assert_array_equal(first, [0, 2, 3, 4, 6])
    np.testing.assert_allclose(amp, [15, 0.5, 1, 17, 1])
    np.testing.assert_allclose(pos[3], (11 * 8 + 12 * 9) / 17)
    # split-off groups below min_amplitude go back to their larger neighbour in the run
    pos, amp, first = cluster_events(x, a, max_gap=1, max_size=2, min_amplitude=2)
    np.testing.assert_array_equal(first, [0, 3])
    np.testing.assert_allclose(amp, [15.5, 19])


def test_resolving_time_rule_and_activity_from_events():
    # rectangular pulse of m samples: rho(k) = (m - k) / m, first <= 0.5 at k = m / 2
    assert default_resolving_samples(np.ones(10)) == 5
    assert default_resolving_samples(np.ones(11)) == 6
    tr = _train(0.3, 1 << 15, seed=6)
    act = estimate_activity(tr.signal, sampling_rate=FS, pulse=PULSE, noise_std=1.0)
    assert act.resolving_time_s == default_resolving_samples(PULSE) / FS
    again = activity_from_events(act.events, resolving_time_s=act.resolving_time_s)
    assert (again.rate_hz, again.n_clusters) == (act.rate_hz, act.n_clusters)
    # the cluster count of a paralyzable counter and its inverse (Lambert W)
    t = act.events.arrival_times_s
    c = 1 + np.sum(np.diff(t) >= act.resolving_time_s)
    assert act.n_clusters == c
    m, d = c / act.duration_s, act.resolving_time_s
    assert act.rate_hz * np.exp(-act.rate_hz * d) == pytest.approx(m, rel=1e-9)
    assert act.resolved_fraction() == pytest.approx(np.exp(-2 * act.rate_hz * d))
    with pytest.raises(ValueError, match="paralyzable maximum"):
        activity_from_events(act.events, resolving_time_s=1e-3)


def test_noise_estimate():
    tr = _train(0.05, 1 << 16, seed=5, noise=2.5)
    assert estimate_noise_std(tr.signal) == pytest.approx(2.5, rel=0.03)
    with pytest.raises(ValueError, match="noise_std"):
        estimate_noise_std(np.ones(100))


@pytest.mark.parametrize("kw, match", [
    (dict(pulse=-PULSE), "non-negative"),
    (dict(pulse=np.ones(5000)), "longer than the signal"),
    (dict(sampling_rate=None), "sampling_rate"),
    (dict(sampling_rate=-1.0), "sampling_rate"),
    (dict(signal=np.full(1000, np.nan)), "signal"),
    (dict(signal=np.r_[np.zeros(500), np.inf, np.zeros(499)]), "index 500"),
    (dict(signal=np.array(["a"] * 1000)), "signal"),
    (dict(signal=np.zeros((2, 1000))), "signal"),
    (dict(dead_time_s=-1e-9), "dead_time_s"),
    (dict(alpha=0.0), "alpha"),
    (dict(chunk_size=16), "chunk_size"),
    (dict(noise_std=-1.0), "noise_std"),
    (dict(segment_solver="fista"), "segment_solver"),
    (dict(max_segment_vars=0), "max_segment_vars"),
])
def test_bad_input(kw, match):
    args = dict(signal=np.random.default_rng(0).normal(size=1000), sampling_rate=FS,
                pulse=PULSE, noise_std=1.0)
    args.update(kw)
    with pytest.raises((ValueError, TypeError), match=match):
        estimate_events(**args)


def test_kkt_check_in_the_solver_pass_equals_the_residual_check():
    """check_kkt=True (gradient through the Gram table in the segment solver's pass) and
    check_kkt="samples" (gradient from the residual of the samples) give the same events and
    the same violation up to rounding; a bad value is refused."""
    tr = _train(1.0, 1 << 14, seed=17)
    kw = dict(sampling_rate=FS, pulse=PULSE, noise_std=1.0)
    a = estimate_events(tr.signal, check_kkt=True, **kw)
    b = estimate_events(tr.signal, check_kkt="samples", **kw)
    c = estimate_events(tr.signal, check_kkt=False, **kw)
    for x in (b, c):
        np.testing.assert_array_equal(a.arrival_times_s, x.arrival_times_s)
        np.testing.assert_array_equal(a.amplitudes, x.amplitudes)
    assert np.isnan(c.kkt_violation)
    assert a.kkt_violation == pytest.approx(b.kkt_violation, rel=1e-6, abs=1e-12)
    assert a.kkt_violation < 1e-9
    # runs left to coordinate descent are checked from the residual
    d = estimate_events(tr.signal, max_segment_vars=8, tol=1e-10, max_iter=5000, **kw)
    e = estimate_events(tr.signal, max_segment_vars=8, tol=1e-10, max_iter=5000,
                        check_kkt="samples", **kw)
    assert d.segment_stats["runs_to_cd"] > 0
    assert d.kkt_violation == pytest.approx(e.kkt_violation, rel=1e-6, abs=1e-12)
    with pytest.raises(ValueError, match="check_kkt"):
        estimate_events(tr.signal, check_kkt="full", **kw)


def _merge_small_roots_reference(gamp, run, order, min_amplitude):
    """Union of the groups below ``min_amplitude`` with their larger neighbour in the same
    run (the left one on a tie), visited in ``order``; ``gamp`` updated in place; returns
    the root group of every group."""
    n = gamp.size
    owner = list(range(n))
    lo, hi = list(range(n)), list(range(n))

    def find(g):
        while owner[g] != g:
            g = owner[g]
        return g

    for g in order:
        r = find(g)
        if gamp[r] >= min_amplitude:
            continue
        c = -1
        for k in (lo[r] - 1, hi[r] + 1):
            if 0 <= k < n and run[k] == run[r]:
                f = find(k)
                if c < 0 or gamp[f] > gamp[c]:
                    c = f
        if c < 0:
            continue
        owner[r] = c
        gamp[c] += gamp[r]
        lo[c], hi[c] = min(lo[c], lo[r]), max(hi[c], hi[r])
    return np.array([find(g) for g in range(n)])


@pytest.mark.parametrize("max_gap", [1.0, 2.0])
def test_merge_runs_equals_merge_through_roots(max_gap, rng):
    """merge_small_groups_runs (run by run, no global order) gives the start flags of a
    plain union-find over all groups in the global order of amplitude (the reference above),
    for float and int64 positions."""
    from sparse_events.gamma._kernels import group_starts, merge_small_groups_runs

    pos = np.sort(rng.choice(20000, 3000, replace=False))
    pos = np.sort(np.concatenate([pos, pos[::2] + 1, pos[::5] + 2, pos[::9] + 3]))
    pos = np.unique(pos).astype(float)
    amp = rng.exponential(10.0, pos.size)
    for min_amp in (3.0, 10.0, 30.0):
        new = group_starts(pos, amp, max_gap, 2)
        first = np.flatnonzero(new)
        gamp = np.add.reduceat(amp, first)
        small = np.flatnonzero(gamp < min_amp)
        order = small[np.argsort(gamp[small], kind="stable")]
        ref_new = new.copy()
        run_start = np.ones(pos.size, dtype=bool)
        run_start[1:] = np.diff(pos) > max_gap
        roots = _merge_small_roots_reference(gamp.copy(), (np.cumsum(run_start) - 1)[first],
                                             order, min_amp)
        ref_new[first[1:]] = roots[1:] != roots[:-1]
        assert ref_new.sum() < new.sum()
        for p_ in (pos, pos.astype(np.int64)):
            got_new = new.copy()
            merge_small_groups_runs(got_new, p_, amp, min_amp, max_gap)
            np.testing.assert_array_equal(got_new, ref_new)


def test_merge_runs_refuses_a_run_without_a_start_flag():
    """merge_small_groups_runs raises ValueError when a run of coefficients (here the
    second, after a gap above max_gap) does not start with a group start flag."""
    from sparse_events.gamma._kernels import merge_small_groups_runs

    pos = np.array([0.0, 1.0, 5.0, 6.0])
    amp = np.ones(4)
    new = np.array([True, False, False, True])
    with pytest.raises(ValueError, match="does not start a group"):
        merge_small_groups_runs(new, pos, amp, 10.0, 1.0)
    new = np.array([False, False, True, False])
    with pytest.raises(ValueError, match="does not start a group"):
        merge_small_groups_runs(new, pos, amp, 10.0, 1.0)
    # arrays of different lengths: a clear error before the compiled loop reads past one
    new = np.array([True, False, True, False])
    for p, a in ((pos[:3], amp), (pos, amp[:3]), (pos, np.ones((4, 1)))):
        with pytest.raises(ValueError, match="one length"):
            merge_small_groups_runs(new, p, a, 10.0, 1.0)
    assert new.tolist() == [True, False, True, False]  # untouched


@pytest.mark.parametrize("n_runs, run_groups", [(300, 3), (20, 80), (3, 2000)])
def test_merge_run_by_run_equals_the_global_order(n_runs, run_groups, rng):
    """merge_small_groups_runs == the union-find reference with the global order of amplitude,
    with tied amplitudes, groups of several coefficients and runs of many small groups (its
    sort of more than 32 groups)."""
    from sparse_events.gamma._kernels import merge_small_groups_runs

    # runs of coefficients 1 sample apart, runs 5 samples apart (max_gap 1); groups of one
    # or two coefficients; amplitudes on a grid of 0.5 (many tied group sums)
    pos = np.concatenate([np.arange(run_groups) + r * (run_groups + 5) for r in range(n_runs)])
    amp = rng.integers(1, 8, pos.size) / 2.0
    run = np.repeat(np.arange(n_runs), run_groups)
    new = rng.random(pos.size) < 0.7
    new[np.r_[0, np.flatnonzero(np.diff(run)) + 1]] = True
    first = np.flatnonzero(new)
    for min_amp in (1.5, 2.5, 9.0):
        gamp = np.add.reduceat(amp, first)
        small = np.flatnonzero(gamp < min_amp)
        order = small[np.argsort(gamp[small], kind="stable")]
        roots = _merge_small_roots_reference(gamp, run[first], order, min_amp)
        ref_new = new.copy()
        ref_new[first[1:]] = roots[1:] != roots[:-1]
        got_new = new.copy()
        merge_small_groups_runs(got_new, pos, amp, min_amp, 1.0)
        np.testing.assert_array_equal(got_new, ref_new)
        assert got_new.sum() < new.sum()


def test_merge_of_integer_positions_equals_merge_of_their_float_copy(rng):
    """_cluster_sorted on int64 sample positions (as estimate_events passes them) == on
    their float64 copy, bit for bit."""
    from sparse_events.gamma._estimate import _cluster_sorted

    pos = np.sort(rng.choice(50000, 8000, replace=False))
    pos = np.unique(np.concatenate([pos, pos[::2] + 1, pos[::3] + 2]))
    amp = rng.uniform(0, 50, pos.size)
    amp[::11] = 0.0
    for max_size, min_amp in [(None, None), (2, None), (2, 10.0), (3, 25.0)]:
        got = _cluster_sorted(pos, amp, amp, 1.0, max_size, min_amp)
        ref = _cluster_sorted(pos.astype(float), amp, amp, 1.0, max_size, min_amp)
        for g, r in zip(got, ref):
            assert g.dtype == r.dtype
            np.testing.assert_array_equal(g, r)


def test_group_means_written_over_the_inputs_equal_group_means(rng):
    """group_means_into writing over its own inputs (positions over the int64 positions'
    memory, sums over the amplitudes and the extra values) == group_means and group_sums
    on untouched copies, bit for bit; also with the amplitudes as the extra values."""
    from sparse_events.gamma._kernels import (
        group_means,
        group_means_into,
        group_starts,
        group_sums,
    )

    pos = np.unique(np.sort(rng.choice(30000, 6000, replace=False)))
    pos = np.unique(np.concatenate([pos, pos[::2] + 1, pos[::3] + 2]))
    amp = rng.uniform(0, 50, pos.size)
    amp[::13] = 0.0
    lasso = amp * rng.uniform(0.8, 1.0, pos.size)
    for max_size in (1, 2, 3):
        new = group_starts(pos, amp, 1.0, max_size)
        p_ref, a_ref, first = group_means(new, pos, amp, amp)
        l_ref = group_sums(lasso, first)
        P, A, X = pos.copy(), amp.copy(), lasso.copy()
        ng = group_means_into(new, P, A, A, X, P.view(np.float64), A, X)
        assert ng == first.size
        np.testing.assert_array_equal(P.view(np.float64)[:ng], p_ref)
        np.testing.assert_array_equal(A[:ng], a_ref)
        np.testing.assert_array_equal(X[:ng], l_ref)
        # the extra values are the amplitudes (estimate_events without debias)
        A, X = amp.copy(), np.empty(pos.size)
        ng = group_means_into(new, pos, A, A, A, np.empty(pos.size), A, X)
        np.testing.assert_array_equal(A[:ng], a_ref)
        np.testing.assert_array_equal(X[:ng], a_ref)


@pytest.mark.parametrize("kw", [dict(min_amplitude=0.0),
                                dict(min_amplitude=0.0, debias=False),
                                dict(min_amplitude=0.0, debias=False, max_segment_vars=8),
                                dict()])
def test_returned_arrays_own_their_memory(kw):
    """The event arrays own memory of their exact size (no views of the solver's over-sized
    output arrays kept alive by the result), also when every group is kept (the first three
    cases, where the merge writes over the solver's arrays)."""
    tr = _train(1.0, 1 << 14, seed=21)
    res = estimate_events(tr.signal, sampling_rate=FS, pulse=PULSE, noise_std=1.0, **kw)
    arrays = (res.arrival_times_s, res.amplitudes, res.lasso_amplitudes)
    assert res.amplitudes.size > 100
    for a in arrays:
        assert a.base is None and a.flags.owndata
        assert a.dtype == np.float64 and a.size == res.amplitudes.size
    if kw.get("min_amplitude") == 0.0:
        assert np.all(res.amplitudes > 0)


@pytest.mark.parametrize("value, exc", [(None, TypeError), (1, TypeError),
                                        (np.array([True]), TypeError), ("full", ValueError),
                                        ("True", ValueError)])
def test_check_kkt_accepts_only_bools_and_samples(value, exc):
    """check_kkt: True, False (also numpy.bool_) or "samples"; anything else is refused with
    a message naming it (None is not taken for False, an array does not raise numpy's
    ambiguous truth value)."""
    tr = _train(1.0, 1 << 12, seed=2)
    kw = dict(sampling_rate=FS, pulse=PULSE, noise_std=1.0)
    with pytest.raises(exc, match="check_kkt"):
        estimate_events(tr.signal, check_kkt=value, **kw)
    a = estimate_events(tr.signal, check_kkt=np.bool_(True), **kw)
    b = estimate_events(tr.signal, check_kkt=True, **kw)
    assert a.kkt_violation == b.kkt_violation
    assert np.isnan(estimate_events(tr.signal, check_kkt=np.bool_(False), **kw).kkt_violation)
