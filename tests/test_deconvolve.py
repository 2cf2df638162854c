"""deconvolve / alpha_max against dense-matrix LASSO references."""

import numpy as np
import pytest
from sklearn.linear_model import Lasso as SkLasso

from sparse_events import alpha_max, deconvolve
from sparse_events.datasets import make_random_spike_train
from sparse_events.operators import ConvolutionOperator, DictionaryOperator
from sparse_events.solvers import L1, Quadratic, check_optimality

MODES = ["causal", "full", "same", "valid"]


def dense_lasso(H, y, alpha, positive=False, weights=None):
    """scikit-learn's Lasso on the explicit matrix (alpha rescaled by 1/M)."""
    M = H.shape[0]
    Hw = H if weights is None else H / weights[None, :]
    est = SkLasso(alpha=alpha / M, fit_intercept=False, positive=positive, tol=1e-14,
                  max_iter=1_000_000)
    est.fit(Hw, y)
    return est.coef_ if weights is None else est.coef_ / weights


def small_problem(rng, mode, L=7, N=120):
    h = rng.standard_normal(L)
    op = ConvolutionOperator(h, N, mode)
    s = np.zeros(N)
    s[rng.choice(N, 8, replace=False)] = rng.standard_normal(8)
    y = op.matvec(s) + 0.05 * rng.standard_normal(op.shape[0])
    return h, op, y


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("ratio", [0.3, 0.03])
def test_deconvolve_equals_dense_lasso(mode, positive, ratio, rng):
    h, op, y = small_problem(rng, mode)
    alpha = ratio * alpha_max(y, h, mode, positive=positive)
    res = deconvolve(y, h, alpha, mode=mode, positive=positive, tol=1e-13)
    ref = dense_lasso(op.todense(), y, alpha, positive)
    assert res.converged
    np.testing.assert_allclose(res.coef, ref, atol=1e-6)


def test_weighted_deconvolve_equals_dense(rng):
    h, op, y = small_problem(rng, "causal")
    w = rng.uniform(0.5, 3.0, op.shape[1])
    alpha = 0.05 * alpha_max(y, h)
    res = deconvolve(y, h, alpha, weights=w, tol=1e-13)
    ref = dense_lasso(op.todense(), y, alpha, weights=w)
    np.testing.assert_allclose(res.coef, ref, atol=1e-6)


@pytest.mark.parametrize("solver", ["cd", "fista"])
def test_dictionary_deconvolve_equals_dense(solver, rng):
    K = rng.standard_normal((3, 6))
    N = 80
    op = DictionaryOperator(K, N, "same")
    y = rng.standard_normal(N)
    alpha = 0.1 * alpha_max(y, K, "same")
    res = deconvolve(y, K, alpha, mode="same", tol=1e-13, solver=solver, max_iter=100_000)
    assert res.coef.shape == (3, N)
    ref = dense_lasso(op.todense(), y, alpha).reshape(3, N)
    np.testing.assert_allclose(res.coef, ref, atol=1e-6)


def test_several_signals_equal_one_by_one(rng):
    h = rng.standard_normal(5)
    Y = rng.standard_normal((3, 60))
    alphas = 0.2 * alpha_max(Y, h)
    assert alphas.shape == (3,)
    batch = deconvolve(Y, h, alphas, tol=1e-12)
    assert batch.coef.shape == (3, 60) and batch.converged.shape == (3,)
    for k in range(3):
        one = deconvolve(Y[k], h, alphas[k], tol=1e-12)
        np.testing.assert_array_equal(batch.coef[k], one.coef)
    K = rng.standard_normal((2, 5))
    both = deconvolve(Y, K, 0.1, tol=1e-12)
    assert both.coef.shape == (3, 2, 60)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("positive", [False, True])
def test_alpha_max_gives_exact_zero_and_is_tight(mode, positive, rng):
    h, op, y = small_problem(rng, mode)
    amax = alpha_max(y, h, mode, positive=positive)
    corr = op.rmatvec(y)
    assert amax == pytest.approx((np.maximum(corr, 0) if positive else np.abs(corr)).max())
    res = deconvolve(y, h, amax, mode=mode, positive=positive)
    assert np.all(res.coef == 0)
    res = deconvolve(y, h, 1.5 * amax, mode=mode, positive=positive)
    assert np.all(res.coef == 0)
    res = deconvolve(y, h, 0.99 * amax, mode=mode, positive=positive, tol=1e-10)
    assert np.count_nonzero(res.coef) >= 1


def test_kkt_at_returned_solution_random_shapes():
    data = make_random_spike_train(20_000, random_state=1)
    amax = alpha_max(data.signal, data.kernel)
    for ratio in (0.1, 0.01):
        res = deconvolve(data.signal, data.kernel, ratio * amax, tol=1e-9)
        op = ConvolutionOperator(data.kernel, data.signal.size)
        df = Quadratic(op, data.signal)
        chk = check_optimality(df, L1(ratio * amax), res.coef, df.residual(res.coef))
        assert chk.kkt <= 1e-4 * ratio * amax
        assert chk.gap <= 1e-9 * chk.primal * 1.01


def test_debias_is_least_squares_on_support(rng):
    h, op, y = small_problem(rng, "causal")
    res = deconvolve(y, h, 0.1 * alpha_max(y, h), debias=True, tol=1e-12)
    S = np.flatnonzero(res.coef)
    ref = np.linalg.lstsq(op.todense()[:, S], y, rcond=None)[0]
    np.testing.assert_allclose(res.coef_debiased[S], ref, atol=1e-8)
    assert np.all(res.coef_debiased[np.setdiff1d(np.arange(y.size), S)] == 0)
    pos = deconvolve(y, h, 0.1 * alpha_max(y, h, positive=True), positive=True, debias=True)
    assert pos.coef_debiased.min() >= 0


def test_warm_start_shape_and_result(rng):
    h, op, y = small_problem(rng, "causal")
    a = 0.05 * alpha_max(y, h)
    cold = deconvolve(y, h, a, tol=1e-12)
    warm = deconvolve(y, h, a, tol=1e-12, coef_init=cold.coef)
    np.testing.assert_allclose(warm.coef, cold.coef, atol=1e-9)
    with pytest.raises(ValueError, match="coef_init must have shape"):
        deconvolve(y, h, a, coef_init=np.zeros(3))


def test_integer_adc_counts_are_accepted(rng):
    h = np.array([3, 2, 1], dtype=np.int16)
    s = np.zeros(200)
    s[[20, 90, 150]] = [1000, 2000, 1500]
    y = np.convolve(s, h)[:200].astype(np.int16)  # values up to 6000 fit int16
    res = deconvolve(y, h, 10.0, tol=1e-12)
    ref = deconvolve(y.astype(float), h.astype(float), 10.0, tol=1e-12)
    np.testing.assert_array_equal(res.coef, ref.coef)
    assert set(np.flatnonzero(res.coef)) >= {20, 90, 150}


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(y=[1.0, np.nan, 2.0]), ValueError, "y must contain only finite.*index 1"),
    (dict(y=[1.0, np.inf, 2.0]), ValueError, "y must contain only finite"),
    (dict(y=[]), ValueError, "y must not be empty"),
    (dict(y=np.ones((2, 2, 2))), ValueError, "y must be 1-D or 2-D"),
    (dict(y=np.ones(5) * 1j), TypeError, "y must be real"),
    (dict(kernel=[np.nan, 1.0]), ValueError, "kernel must contain only finite"),
    (dict(kernel=[]), ValueError, "kernel must not be empty"),
    (dict(alpha=-1.0), ValueError, "alpha must be >= 0"),
    (dict(alpha=np.nan), ValueError, "alpha must be finite"),
    (dict(weights=-np.ones(10)), ValueError, "weights must be >= 0"),
    (dict(weights=np.ones(3)), ValueError, "weights must have shape"),
    (dict(mode="valid", kernel=np.ones(12)), ValueError, "valid"),
    (dict(mode="full", kernel=np.ones(12)), ValueError, "longer than the signal"),
    (dict(mode="wrap"), ValueError, "mode must be one of"),
    (dict(solver="newton"), ValueError, "solver must be one of"),
])
def test_bad_input(kwargs, exc, match):
    args = dict(y=np.arange(10.0), kernel=[1.0, 0.5], alpha=0.1)
    args.update(kwargs)
    y, kernel, alpha = args.pop("y"), args.pop("kernel"), args.pop("alpha")
    with pytest.raises(exc, match=match):
        deconvolve(y, kernel, alpha, **args)


def test_prevalidated_datafit_matches_quadratic():
    # deconvolve builds its datafit on the already validated signal without a
    # second check (check_input=False): the same datafit as the checked constructor
    from sparse_events.solvers._designs import BandedDesign

    rng = np.random.default_rng(3)
    Y = rng.standard_normal((2, 40))
    op = DictionaryOperator(rng.standard_normal((1, 5)), 40, "causal")
    design = BandedDesign(op)
    x = rng.standard_normal(40)
    for y in (Y[1], np.repeat(Y[0], 2)[::2]):  # contiguous row / strided view
        ref = Quadratic(design, y)
        got = Quadratic(design, y, check_input=False)
        assert vars(got).keys() == vars(ref).keys()
        assert got.design is design and got.y.flags.c_contiguous
        np.testing.assert_array_equal(got.y, ref.y)
        assert got.value(x) == ref.value(x)
        np.testing.assert_array_equal(got.gradient(x), ref.gradient(x))
