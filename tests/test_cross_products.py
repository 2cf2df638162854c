"""Cross-products LASSO (Algorithm 1 of Luengo, Via and Trigano) against references."""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import Lasso as SkLasso

from sparse_events import (
    CrossProductsResult,
    cross_products_deconvolve,
    deconvolve,
    refractory_window,
)
from sparse_events._exceptions import ConvergenceWarning
from sparse_events.datasets import make_random_spike_train
from sparse_events.metrics import min_distance_violations
from sparse_events.operators import DictionaryOperator, SymmetricToeplitzOperator


# ---------------------------------------------------------------------------
# plain dense references
# ---------------------------------------------------------------------------
def dense_G(g, N):
    i = np.arange(N)
    d = np.abs(i[:, None] - i[None, :])
    return np.where(d < g.size, g[np.minimum(d, g.size - 1)], 0.0)


def eq8(s, y, H, G, beta, P=1):
    """||s||_1 + beta ||y - H s||^2 + a^T G a with a = sum over kernels of |s_p|."""
    a = np.abs(s).reshape(P, -1).sum(axis=0)
    r = y - H @ s
    return a.sum() + beta * r @ r + a @ G @ a


def dense_weighted_lasso(H, y, alpha, weights, positive=False):
    """argmin 0.5||y - H s||^2 + alpha sum_i w_i |s_i| with scikit-learn on H diag(1/w)."""
    M = H.shape[0]
    est = SkLasso(alpha=alpha / M, fit_intercept=False, positive=positive, tol=1e-14,
                  max_iter=1_000_000)
    est.fit(H / weights[None, :], y)
    return est.coef_ / weights


def dense_algorithm1(y, H, G, beta, tol, max_reweights=100, P=1, positive=False, a0=None):
    """Algorithm 1 written plainly: s = 0, gamma = 1, alpha = 1, cost = inf, then repeat
    {weighted LASSO; s~ = (1 - alpha) s + alpha s~; cost test on eq. 8; alpha update;
    gamma = 1 + 2 G |s|}, stopping when the weighted LASSO improves on s by at most tol
    (relatively) -- the stopping rule documented by cross_products_deconvolve.
    ``a0``: start with gamma = 1 + 2 G a0 instead (magnitudes0)."""
    n = H.shape[1]
    s = np.zeros(n)
    gamma = np.ones(n) if a0 is None else np.tile(1.0 + 2.0 * G @ a0, P)
    step, cost = 1.0, np.inf
    costs, steps, accepted = [], [], []
    lasso_alpha = 1.0 / (2.0 * beta)

    def Q(x):
        r = y - H @ x
        return 0.5 * r @ r + lasso_alpha * gamma @ np.abs(x)

    for it in range(max_reweights):
        s_tilde = dense_weighted_lasso(H, y, lasso_alpha, gamma, positive)
        if it > 0 and (Q(s) - Q(s_tilde)) <= tol * Q(s):
            break
        while True:  # rejected steps reuse s~ (s and gamma unchanged)
            trial = (1.0 - step) * s + step * s_tilde
            trial_cost = eq8(trial, y, H, G, beta, P)
            steps.append(step)
            if trial_cost < cost:
                s, cost = trial, trial_cost
                step = (1.0 + step) / 2.0
                accepted.append(True)
                costs.append(cost)
                break
            step /= 2.0
            accepted.append(False)
            costs.append(cost)
        a = np.abs(s).reshape(P, -1).sum(axis=0)
        gamma = np.tile(1.0 + 2.0 * G @ a, P)
    return s, np.array(costs), np.array(steps), np.array(accepted)


def spiky_problem(seed, N=240, L=8, spacing=30, noise=0.3, P=1):
    rng = np.random.default_rng(seed)
    K = rng.standard_normal((P, L))
    s = np.zeros((P, N))
    pos = np.arange(5, N - L, spacing) + rng.integers(0, 5, size=len(range(5, N - L, spacing)))
    s[rng.integers(0, P, pos.size), pos] = rng.standard_normal(pos.size) + np.sign(
        rng.standard_normal(pos.size))
    H = DictionaryOperator(K, N, "causal").todense()
    y = H @ s.ravel() + noise * rng.standard_normal(N)
    return (K[0] if P == 1 else K), H, y


# ---------------------------------------------------------------------------
# refractory_window
# ---------------------------------------------------------------------------
def test_refractory_window_shapes():
    L, c = 5, 2.5
    k = np.arange(1, L + 1)
    x = k / (L + 1)
    np.testing.assert_array_equal(refractory_window(L, c), np.r_[0.0, np.full(L, c)])
    np.testing.assert_allclose(refractory_window(L, c, "triangular"), np.r_[0.0, c * (1 - x)])
    np.testing.assert_allclose(refractory_window(L, c, "hann"),
                               np.r_[0.0, c * 0.5 * (1 + np.cos(np.pi * x))])
    assert refractory_window(L, c, include_zero_lag=True)[0] == c
    for shape in ("rectangular", "triangular", "hann"):
        g = refractory_window(L, c, shape)
        assert g.shape == (L + 1,) and np.all(g[1:] > 0) and np.all(np.diff(g[1:]) <= 0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(length_samples=0, strength=1.0), "length_samples"),
    (dict(length_samples=2.5, strength=1.0), "length_samples"),
    (dict(length_samples=3, strength=0.0), "strength"),
    (dict(length_samples=3, strength=np.nan), "strength"),
    (dict(length_samples=3, strength=1.0, shape="gauss"), "shape"),
])
def test_refractory_window_bad_input(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        refractory_window(**kwargs)


# ---------------------------------------------------------------------------
# Algorithm 1 against references
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("positive", [False, True])
def test_equals_dense_algorithm1(seed, positive):
    h, H, y = spiky_problem(seed)
    N = H.shape[1]
    g = refractory_window(12, 30.0)
    beta = 0.5
    tol = 1e-8
    ref_s, ref_costs, ref_steps, ref_acc = dense_algorithm1(
        y, H, dense_G(g, N), beta, tol, positive=positive)
    res = cross_products_deconvolve(y, h, beta=beta, g=g, tol=tol, inner_tol=1e-13,
                                    positive=positive, final_step=False)
    assert isinstance(res, CrossProductsResult)
    assert res.converged and res.stop_reason == "stationary"
    np.testing.assert_array_equal(res.step_size_history, ref_steps)
    np.testing.assert_array_equal(res.accepted, ref_acc)
    np.testing.assert_allclose(res.cost_history, ref_costs, rtol=1e-9)
    np.testing.assert_allclose(res.coef, ref_s, atol=1e-7)


def test_dense_reference_exercises_rejections():
    # the adaptive step size is only tested if some step is rejected
    n_rejected = 0
    for seed in [0, 1, 2]:
        h, H, y = spiky_problem(seed)
        res = cross_products_deconvolve(y, h, beta=0.5, g=refractory_window(12, 30.0),
                                        tol=1e-8, final_step=False)
        n_rejected += int(np.sum(~res.accepted))
        assert np.any(res.step_size_history < 1)
    assert n_rejected > 0


def test_dictionary_equals_dense_algorithm1():
    K, H, y = spiky_problem(5, P=2, N=200)
    N = H.shape[1] // 2
    g = refractory_window(10, 2.0)
    ref_s, ref_costs, ref_steps, _ = dense_algorithm1(y, H, dense_G(g, N), 0.5, 1e-8, P=2)
    res = cross_products_deconvolve(y, K, beta=0.5, g=g, tol=1e-8, inner_tol=1e-13,
                                    final_step=False)
    assert res.coef.shape == (2, N)
    np.testing.assert_array_equal(res.step_size_history, ref_steps)
    np.testing.assert_allclose(res.cost_history, ref_costs, rtol=1e-9)
    np.testing.assert_allclose(res.coef.ravel(), ref_s, atol=1e-7)


@pytest.mark.parametrize("mode", ["causal", "full", "same", "valid"])
@pytest.mark.parametrize("final_step", [True, False])
def test_cost_never_increases_and_is_eq8(mode, final_step, rng):
    h = rng.standard_normal(7)
    N = 300
    op = DictionaryOperator(h[None], N, mode)
    s = np.zeros(N)
    s[rng.choice(N, 12, replace=False)] = rng.standard_normal(12) * 2
    y = op.forward(s[None]) + 0.4 * rng.standard_normal(op.shape[0])
    g = refractory_window(15, 5.0, "triangular")
    res = cross_products_deconvolve(y, h, beta=0.3, g=g, mode=mode, final_step=final_step)
    c = res.cost_history
    assert c.size == res.n_iter + res.extra["final_step_applied"] >= 1
    assert np.all(np.diff(c) <= 0)
    H = op.todense()
    np.testing.assert_allclose(c[-1], eq8(res.coef, y, H, dense_G(g, N), 0.3), rtol=1e-10)
    np.testing.assert_array_equal(res.objective, c)
    # trials above the running cost are exactly the rejected ones
    assert np.all(res.trial_cost_history[~res.accepted] >= c[~res.accepted])


def test_first_solve_is_deconvolve_exactly(rng):
    st = make_random_spike_train(2000, snr_db=15, random_state=3)
    beta = 0.06 / st.noise_std
    with pytest.warns(ConvergenceWarning, match="max_reweights"):
        res = cross_products_deconvolve(st.signal, st.kernel, beta=beta,
                                        g=refractory_window(30, 100.0), max_reweights=1,
                                        inner_tol=1e-8, final_step=False)
    ref = deconvolve(st.signal, st.kernel, 1.0 / (2.0 * beta), tol=1e-8)
    np.testing.assert_array_equal(res.coef, ref.coef)
    assert res.n_solves == 1 and not res.converged and res.stop_reason == "max_reweights"
    assert res.lasso_alpha == 1.0 / (2.0 * beta)


@pytest.mark.parametrize("positive", [False, True])
def test_zero_window_is_plain_lasso(positive):
    st = make_random_spike_train(3000, snr_db=20, random_state=4)
    beta = 0.08 / st.noise_std
    res = cross_products_deconvolve(st.signal, st.kernel, beta=beta, g=np.zeros(31),
                                    positive=positive)
    ref = deconvolve(st.signal, st.kernel, 1.0 / (2.0 * beta), tol=res.tol / 10,
                     positive=positive)
    assert res.converged and res.n_solves == 2 and res.n_iter == 1
    # (both solves stop within their tolerances of the same optimum, by different
    # working-set sequences: equal to far below those tolerances, not to the last bits)
    np.testing.assert_allclose(res.coef, ref.coef, rtol=0, atol=1e-10)
    # and the plain LASSO had refractory violations that g = 0 leaves alone
    assert min_distance_violations(res.coef, 31) == min_distance_violations(ref.coef, 31)


@pytest.mark.parametrize("seed", [10, 11])
def test_no_refractory_violations_where_lasso_has_some(seed):
    # the random-shapes case study of the paper: one spike per 100 samples, L_g = 30
    st = make_random_spike_train(5000, snr_db=20, random_state=seed)
    beta = 0.08 / st.noise_std
    lasso = deconvolve(st.signal, st.kernel, 1.0 / (2.0 * beta), tol=1e-8)
    res = cross_products_deconvolve(st.signal, st.kernel, beta=beta,
                                    g=refractory_window(30, 100.0))
    assert res.converged
    assert min_distance_violations(lasso.coef, 31) > 0
    assert min_distance_violations(res.coef, 31) == 0
    # the refractory penalty of eq. 8 is exactly zero at the solution
    a = np.abs(res.coef)
    G = SymmetricToeplitzOperator(refractory_window(30, 100.0), a.size, method="direct")
    assert a @ G.forward(a) == 0


def test_final_step_removes_leftovers_without_raising_cost():
    st = make_random_spike_train(10_000, snr_db=10, random_state=1)
    beta = 0.08 / st.noise_std
    g = refractory_window(30, 100.0)
    bare = cross_products_deconvolve(st.signal, st.kernel, beta=beta, g=g, final_step=False)
    final = cross_products_deconvolve(st.signal, st.kernel, beta=beta, g=g)
    assert np.any(bare.step_size_history < 1)
    # identical up to the final step, which never increases eq. 8
    n = bare.cost_history.size
    np.testing.assert_array_equal(final.cost_history[:n], bare.cost_history)
    np.testing.assert_array_equal(final.extra["coef_bare"], bare.coef)
    assert final.extra["final_step_applied"] and not bare.extra["final_step_applied"]
    assert final.cost_history[-1] <= bare.cost_history[-1]
    assert np.count_nonzero(final.coef) <= np.count_nonzero(bare.coef)
    assert set(np.flatnonzero(final.coef)) <= set(np.flatnonzero(bare.coef))
    assert min_distance_violations(final.coef, 31) <= min_distance_violations(bare.coef, 31)
    # the final iterate is (much closer to) a fixed point of the reweighting
    assert final.kkt_violation <= bare.kkt_violation


def test_check_kkt_false_changes_nothing_else():
    """check_kkt=False: kkt_violation is nan, every other field is the same, bit for bit."""
    K, H, y = spiky_problem(5, P=2, N=200)
    g = refractory_window(8, 2.0)
    full = cross_products_deconvolve(y, K, beta=0.5, g=g, positive=True)
    skip = cross_products_deconvolve(y, K, beta=0.5, g=g, positive=True, check_kkt=False)
    assert np.isfinite(full.kkt_violation) and np.isnan(skip.kkt_violation)
    for a, b in zip(_all_fields(full)[:-2], _all_fields(skip)[:-2]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(full.extra["coef_bare"], skip.extra["coef_bare"])


def test_capped_polish_never_raises_cost_and_matches_default_at_full_cap():
    """The final step with few coordinate passes (polish_max_passes, polish_rtol) still
    only lowers eq. 8 (dense reference) below the bare iterate, and the defaults
    passed explicitly are the default call, bit for bit."""
    st = make_random_spike_train(2_000, snr_db=10, random_state=3)
    beta = 0.08 / st.noise_std
    g = refractory_window(30, 100.0)
    H = DictionaryOperator(st.kernel[None], st.signal.size).todense()
    G = dense_G(g, st.signal.size)
    default = cross_products_deconvolve(st.signal, st.kernel, beta=beta, g=g)
    explicit = cross_products_deconvolve(st.signal, st.kernel, beta=beta, g=g,
                                         polish_max_passes=200, polish_rtol=1e-12)
    np.testing.assert_array_equal(default.coef, explicit.coef)
    for passes, rtol in ((1, 1e-2), (5, 1e-4)):
        capped = cross_products_deconvolve(st.signal, st.kernel, beta=beta, g=g,
                                           polish_max_passes=passes, polish_rtol=rtol)
        np.testing.assert_array_equal(capped.extra["coef_bare"], default.extra["coef_bare"])
        bare = eq8(capped.extra["coef_bare"], st.signal, H, G, beta)
        got = eq8(capped.coef, st.signal, H, G, beta)
        assert got <= bare * (1 + 1e-12)
        np.testing.assert_allclose(capped.cost_history[-1], got, rtol=1e-10)


def test_dictionary_penalizes_events_of_different_shapes():
    rng = np.random.default_rng(7)
    K = rng.standard_normal((2, 6))
    N = 120
    s = np.zeros((2, N))
    s[0, 40], s[1, 46] = 1.5, 1.0  # two shapes 6 samples apart
    y = DictionaryOperator(K, N).forward(s) + 0.01 * rng.standard_normal(N)
    beta = 20.0
    lasso = deconvolve(y, K, 1.0 / (2.0 * beta), tol=1e-10)
    g = refractory_window(10, 50.0)
    res = cross_products_deconvolve(y, K, beta=beta, g=g)
    assert min_distance_violations(lasso.coef, 11) > 0
    assert min_distance_violations(res.coef, 11) == 0
    H = DictionaryOperator(K, N).todense()
    np.testing.assert_allclose(res.cost_history[-1],
                               eq8(res.coef.ravel(), y, H, dense_G(g, N), beta, P=2),
                               rtol=1e-10)


def test_several_signals_equal_one_by_one():
    sts = [make_random_spike_train(1500, snr_db=snr, random_state=k)
           for k, snr in enumerate([15, 25])]
    kernel = sts[0].kernel
    Y = np.stack([kernel_signal(st, kernel) for st in sts])
    betas = np.array([2.0, 5.0])
    g = refractory_window(30, 20.0)
    res = cross_products_deconvolve(Y, kernel, beta=betas, g=g, debias=True)
    assert res.coef.shape == (2, 1500) and res.coef_debiased.shape == (2, 1500)
    for i in range(2):
        one = cross_products_deconvolve(Y[i], kernel, beta=betas[i], g=g, debias=True)
        np.testing.assert_array_equal(res.coef[i], one.coef)
        np.testing.assert_array_equal(res.coef_debiased[i], one.coef_debiased)
        np.testing.assert_array_equal(res.cost_history[i], one.cost_history)
        assert res.n_solves[i] == one.n_solves and res.stop_reason[i] == one.stop_reason
        assert res.beta[i] == betas[i]


def kernel_signal(st, kernel):
    clean = np.convolve(st.coef, kernel)[: st.coef.size]
    return clean + st.noise_std * np.random.default_rng(0).standard_normal(st.coef.size)


def test_debias_is_least_squares_on_support():
    st = make_random_spike_train(1000, snr_db=25, random_state=8)
    res = cross_products_deconvolve(st.signal, st.kernel, beta=0.06 / st.noise_std,
                                    g=refractory_window(30, 100.0), debias=True)
    S = np.flatnonzero(res.coef)
    assert S.size > 0
    H = DictionaryOperator(st.kernel[None], 1000).todense()
    ref = np.zeros(1000)
    ref[S] = np.linalg.lstsq(H[:, S], st.signal, rcond=None)[0]
    np.testing.assert_allclose(res.coef_debiased, ref, atol=1e-8)


def test_matrix_g_equals_window():
    h, H, y = spiky_problem(3, N=80)
    g = refractory_window(6, 2.0, "hann", include_zero_lag=True)
    a = cross_products_deconvolve(y, h, beta=0.5, g=g)
    b = cross_products_deconvolve(y, h, beta=0.5, g=dense_G(g, 80))
    np.testing.assert_array_equal(a.coef, b.coef)


def test_fista_inner_solver_agrees_with_cd():
    h, H, y = spiky_problem(4, N=150)
    g = refractory_window(12, 30.0)
    cd = cross_products_deconvolve(y, h, beta=0.5, g=g, tol=1e-8, inner_tol=1e-12)
    fi = cross_products_deconvolve(y, h, beta=0.5, g=g, tol=1e-8, inner_tol=1e-12,
                                   solver="fista", inner_max_iter=200_000)
    assert fi.solver == "fista" and cd.solver == "cd"
    np.testing.assert_allclose(fi.cost_history[-1], cd.cost_history[-1], rtol=1e-6)
    np.testing.assert_allclose(fi.coef, cd.coef, atol=1e-4)


def test_max_reweights_returns_best_with_warning():
    st = make_random_spike_train(2000, snr_db=10, random_state=1)
    beta = 0.08 / st.noise_std
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        res = cross_products_deconvolve(st.signal, st.kernel, beta=beta,
                                        g=refractory_window(30, 100.0), max_reweights=3)
    assert not res.converged and res.stop_reason == "max_reweights"
    assert res.n_iter == 3
    assert res.cost_history[-1] == res.cost_history.min()
    H = DictionaryOperator(st.kernel[None], 2000).todense()
    G = dense_G(refractory_window(30, 100.0), 2000)
    np.testing.assert_allclose(res.cost_history[-1], eq8(res.coef, st.signal, H, G, beta),
                               rtol=1e-10)


def test_step_size_floor_stops_with_warning():
    h, H, y = spiky_problem(0)
    g = refractory_window(12, 30.0)
    free = cross_products_deconvolve(y, h, beta=0.5, g=g, tol=1e-8, final_step=False)
    first_reject = int(np.flatnonzero(~free.accepted)[0])
    with pytest.warns(ConvergenceWarning, match="step_size"):
        res = cross_products_deconvolve(y, h, beta=0.5, g=g, tol=1e-8, min_step=0.9,
                                        final_step=False)
    assert not res.converged and res.stop_reason == "step_size"
    # stopped at the first rejection (step 1 -> 0.5 < 0.9), same path up to there
    assert res.n_iter == first_reject + 1
    np.testing.assert_array_equal(res.cost_history, free.cost_history[:first_reject + 1])
    np.testing.assert_allclose(res.cost_history[-1],
                               eq8(res.coef, y, H, dense_G(g, H.shape[1]), 0.5), rtol=1e-10)


def test_converged_run_does_not_warn():
    st = make_random_spike_train(2000, snr_db=20, random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = cross_products_deconvolve(st.signal, st.kernel, beta=0.06 / st.noise_std,
                                        g=refractory_window(30, 100.0))
    assert res.converged and res.kkt_violation < 1e-3


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------
# ---------------------------------------------------------------------------
# starting point magnitudes0
# ---------------------------------------------------------------------------
def _prior(y, K, frac=0.4):
    """A rough non-negative prior on the coefficient grid (thresholded matched filter)."""
    K = np.atleast_2d(K)
    m = np.abs(np.array([np.correlate(y, k, mode="full")[k.size - 1:] for k in K])).sum(axis=0)
    return np.where(m >= frac * m.max(), m, 0.0)


@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("P", [1, 2])
def test_magnitudes0_first_solve_is_deconvolve_with_its_weights(positive, P):
    """One step from a0, no final step: the weighted LASSO deconvolve(alpha = 1 / (2 beta),
    weights = 1 + 2 G a0), and the surrogate decrease measured with those weights."""
    h, H, y = spiky_problem(3, P=P, N=220)
    N = H.shape[1] // P
    g = refractory_window(12, 3.0)
    beta = 0.5
    a0 = _prior(y, h, frac=0.25)
    assert a0.shape == (N,) and np.count_nonzero(a0) > 3
    gamma0 = 1.0 + 2.0 * dense_G(g, N) @ a0
    w = np.broadcast_to(gamma0, (P, N)) if P > 1 else gamma0
    ref = deconvolve(y, h, 1.0 / (2.0 * beta), weights=w, positive=positive, tol=1e-13)
    with pytest.warns(ConvergenceWarning, match="max_reweights"):  # one step only
        res = cross_products_deconvolve(y, h, beta=beta, g=g, magnitudes0=a0, max_reweights=1,
                                        inner_tol=1e-13, positive=positive, final_step=False)
    np.testing.assert_allclose(res.coef, ref.coef, rtol=1e-9, atol=1e-12)
    s = res.coef.ravel()

    def q(x):  # the first weighted LASSO's objective (dense)
        return 0.5 * np.sum((y - H @ x) ** 2) + np.tile(gamma0, P) @ np.abs(x) / (2 * beta)

    assert res.surrogate_decrease == pytest.approx((q(0 * s) - q(s)) / q(0 * s), rel=1e-9)
    # the start changes the first solve: it differs from the plain LASSO's
    with pytest.warns(ConvergenceWarning, match="max_reweights"):
        plain = cross_products_deconvolve(y, h, beta=beta, g=g, max_reweights=1,
                                          inner_tol=1e-13, positive=positive, final_step=False)
    assert not np.allclose(plain.coef, res.coef)


@pytest.mark.parametrize("P", [1, 2])
def test_magnitudes0_equals_dense_algorithm1_from_a0(P):
    """The whole run from a0 against the plain dense Algorithm 1 started at gamma(a0):
    same steps, acceptances, costs (dense eq. 8) and iterate."""
    h, H, y = spiky_problem(4, P=P, N=200)
    N = H.shape[1] // P
    g = refractory_window(10, 2.0)
    a0 = _prior(y, h, frac=0.3)
    ref_s, ref_costs, ref_steps, ref_acc = dense_algorithm1(
        y, H, dense_G(g, N), 0.5, 1e-8, P=P, a0=a0)
    res = cross_products_deconvolve(y, h, beta=0.5, g=g, tol=1e-8, inner_tol=1e-13,
                                    final_step=False, magnitudes0=a0)
    np.testing.assert_array_equal(res.step_size_history, ref_steps)
    np.testing.assert_array_equal(res.accepted, ref_acc)
    np.testing.assert_allclose(res.cost_history, ref_costs, rtol=1e-9)
    np.testing.assert_allclose(res.coef.ravel(), ref_s, atol=1e-7)
    # with the final step: eq. 8 (dense) only lowers from there
    fin = cross_products_deconvolve(y, h, beta=0.5, g=g, tol=1e-8, inner_tol=1e-13,
                                    magnitudes0=a0)
    G = dense_G(g, N)
    assert eq8(fin.coef.ravel(), y, H, G, 0.5, P) <= eq8(ref_s, y, H, G, 0.5, P) * (1 + 1e-12)


def _all_fields(res):
    return [res.coef, res.cost_history, res.trial_cost_history, res.step_size_history,
            res.accepted, res.n_solves, res.n_inner_iter, res.surrogate_decrease,
            res.kkt_violation, res.extra["coef_bare"]]


@pytest.mark.parametrize("mode", ["causal", "full"])
def test_magnitudes0_zero_is_the_plain_start(mode):
    """a0 = None and a0 = 0 give the same result, bit for bit."""
    K, H, y = spiky_problem(6, P=2, N=180)
    g = refractory_window(8, 2.0)
    plain = cross_products_deconvolve(y, K, beta=0.5, g=g, mode=mode, positive=True)
    N = plain.coef.shape[-1]
    zero = cross_products_deconvolve(y, K, beta=0.5, g=g, mode=mode, positive=True,
                                     magnitudes0=np.zeros(N))
    for a, b in zip(_all_fields(plain), _all_fields(zero)):
        np.testing.assert_array_equal(a, b)


def test_magnitudes0_several_signals():
    """One row per signal (or one array for all) = the single-signal calls."""
    h, _, y1 = spiky_problem(7, N=200)
    y2 = spiky_problem(8, N=200)[2]  # another signal of the same length
    g = refractory_window(10, 2.0)
    A0 = np.vstack([_prior(y1, h), _prior(y2, h)])
    res = cross_products_deconvolve(np.vstack([y1, y2]), h, beta=0.5, g=g, magnitudes0=A0)
    shared = cross_products_deconvolve(np.vstack([y1, y2]), h, beta=0.5, g=g,
                                       magnitudes0=A0[0])
    for i, y in enumerate((y1, y2)):
        one = cross_products_deconvolve(y, h, beta=0.5, g=g, magnitudes0=A0[i])
        np.testing.assert_array_equal(res.coef[i], one.coef)
        np.testing.assert_array_equal(res.cost_history[i], one.cost_history)
        first = cross_products_deconvolve(y, h, beta=0.5, g=g, magnitudes0=A0[0])
        np.testing.assert_array_equal(shared.coef[i], first.coef)


@pytest.mark.parametrize("magnitudes0, exc, match", [
    (np.ones(49), ValueError, r"magnitudes0 must have shape \(50,\)"),
    (np.ones((2, 50)), ValueError, "magnitudes0 must have shape"),
    (np.ones((1, 1, 50)), ValueError, "magnitudes0 must be 1-D or 2-D"),
    (np.r_[np.ones(49), -1.0], ValueError, "magnitudes0 must be non-negative"),
    (np.r_[np.ones(49), np.nan], ValueError, "magnitudes0 must contain only finite"),
    (np.r_[np.ones(49), np.inf], ValueError, "magnitudes0 must contain only finite"),
    (np.ones(50) + 1j, TypeError, "magnitudes0"),
    ("1, 2", TypeError, "magnitudes0"),
])
def test_magnitudes0_bad_input(small, magnitudes0, exc, match):
    y, h = small
    with pytest.raises(exc, match=match):
        cross_products_deconvolve(y, h, beta=1.0, g=np.ones(3), magnitudes0=magnitudes0)


def test_magnitudes0_bad_shape_several_signals(small):
    y, h = small
    Y = np.vstack([y, y])
    with pytest.raises(ValueError, match=r"magnitudes0 must have shape \(50,\) or \(2, 50\)"):
        cross_products_deconvolve(Y, h, beta=1.0, g=np.ones(3), magnitudes0=np.ones((3, 50)))
    # mode="full": the coefficient grid is M - L + 1 = 47 long, not the signal's 50
    with pytest.raises(ValueError, match=r"magnitudes0 must have shape \(47,\)"):
        cross_products_deconvolve(y, h, beta=1.0, g=np.ones(3), mode="full",
                                  magnitudes0=np.ones(50))


@pytest.fixture
def small():
    rng = np.random.default_rng(0)
    return rng.standard_normal(50), rng.standard_normal(4)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(beta=0.0, g=np.ones(3)), ValueError, "beta"),
    (dict(beta=-1.0, g=np.ones(3)), ValueError, "beta"),
    (dict(beta=np.nan, g=np.ones(3)), ValueError, "beta"),
    (dict(beta="1", g=np.ones(3)), TypeError, "beta"),
    (dict(beta=np.ones(2), g=np.ones(3)), ValueError, "beta"),
    (dict(beta=1.0, g=np.array([0.0, 1.0, -0.5])), ValueError, "g.*non-negative"),
    (dict(beta=1.0, g=np.ones(51)), ValueError, "g .*longer than the signal"),
    (dict(beta=1.0, g=np.array([0.0, np.inf])), ValueError, "g"),
    (dict(beta=1.0, g=np.zeros((50, 50)) + np.triu(np.ones((50, 50)), 1)), ValueError,
     "g must be symmetric"),
    (dict(beta=1.0, g=np.diag(np.arange(50.0))), ValueError, "g must be Toeplitz"),
    (dict(beta=1.0, g=np.eye(3)), ValueError, "g given as a matrix"),
    (dict(beta=1.0, g=np.ones(3), tol=-1.0), ValueError, "tol"),
    (dict(beta=1.0, g=np.ones(3), max_reweights=0), ValueError, "max_reweights"),
    (dict(beta=1.0, g=np.ones(3), solver="newton"), ValueError, "solver"),
    (dict(beta=1.0, g=np.ones(3), mode="circular"), ValueError, "mode"),
    (dict(beta=1.0, g=np.ones(3), polish_max_passes=0), ValueError, "polish_max_passes"),
    (dict(beta=1.0, g=np.ones(3), polish_rtol=-1.0), ValueError, "polish_rtol"),
])
def test_bad_input(small, kwargs, exc, match):
    y, h = small
    with pytest.raises(exc, match=match):
        cross_products_deconvolve(y, h, **kwargs)


def test_bad_signal_and_kernel(small):
    y, h = small
    bad = y.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="y must contain only finite"):
        cross_products_deconvolve(bad, h, beta=1.0, g=np.ones(3))
    with pytest.raises(ValueError, match="kernel"):
        cross_products_deconvolve(y, np.zeros(4), beta=1.0, g=np.ones(3))
    with pytest.raises(ValueError, match="longer than the signal"):
        cross_products_deconvolve(y, np.ones(60), beta=1.0, g=np.ones(3), mode="full")
    with pytest.raises(ValueError, match="y must not be empty"):
        cross_products_deconvolve(np.array([]), h, beta=1.0, g=np.ones(3))


def test_cross_products_deconvolve_runs_blas_on_one_thread(monkeypatch):
    """Algorithm 1 runs with one BLAS thread whatever the caller allows (its BLAS calls
    are long dot products), the caller's limit comes back, and the result equals a run
    under a one-thread limit."""
    from threadpoolctl import threadpool_info, threadpool_limits

    import sparse_events.models._cross_products as cpm
    from sparse_events import cross_products_deconvolve

    def blas_threads():
        return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}

    assert blas_threads()  # numpy's BLAS (OpenBLAS in the wheels) is seen by threadpoolctl
    rng = np.random.default_rng(5)
    h = np.exp(-np.arange(12) / 3.0)
    s = np.zeros(3000)
    s[rng.choice(3000, 40, replace=False)] = rng.uniform(1, 3, 40)
    y = np.convolve(s, h)[:3000] + 0.05 * rng.standard_normal(3000)
    g = np.r_[0.0, np.full(20, 5.0)]
    with threadpool_limits(limits=1):
        one = cross_products_deconvolve(y, h, beta=4.0, g=g).coef
    seen = []
    real = cpm.algorithm1

    def spy(*args, **kwargs):
        seen.append(blas_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(cpm, "algorithm1", spy)
    with threadpool_limits(limits=2):
        before = blas_threads()
        two = cross_products_deconvolve(y, h, beta=4.0, g=g).coef
        assert blas_threads() == before
    assert seen and all(t == {1} for t in seen)
    assert np.count_nonzero(one) > 0
    np.testing.assert_array_equal(one, two)
