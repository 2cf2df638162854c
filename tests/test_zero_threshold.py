"""alpha = 0 (and zero weights): least squares, stopped by the KKT rule, never by a gap.

With a zero threshold the dual point of the duality gap is undefined (its
coordinate of ``A^T theta`` must vanish); the gap formula then read 0 at
``x = 0`` and the solvers returned the zero vector as "converged" (found by an
adversarial input audit, 2026-11-24).  References: numpy's least squares on the
dense matrix, scikit-learn's LinearRegression.
"""

import numpy as np
import pytest
import scipy.linalg as sl
from sklearn.linear_model import LinearRegression

from sparse_events import Lasso, deconvolve
from sparse_events.solvers import GroupL2, L1, Quadratic, WeightedL1, check_optimality


def _causal_problem(rng, n=300, L=12):
    h = np.exp(-np.arange(L) / 3.0) * (1 + 0.3 * rng.standard_normal(L))
    s = np.zeros(n)
    s[rng.choice(n, 6, replace=False)] = rng.standard_normal(6)
    y = np.convolve(s, h)[:n] + 0.01 * rng.standard_normal(n)
    H = sl.toeplitz(np.r_[h, np.zeros(n - L)], np.zeros(n))
    return y, h, H


@pytest.mark.parametrize("solver", ["cd", "fista"])
def test_deconvolve_alpha_zero_is_least_squares(solver):
    rng = np.random.default_rng(0)
    y, h, H = _causal_problem(rng)
    ref = np.linalg.lstsq(H, y, rcond=None)[0]
    res = deconvolve(y, h, 0.0, tol=1e-12, max_iter=200_000, solver=solver)
    assert res.converged and res.stop_reason != "zero solution"
    np.testing.assert_allclose(res.coef, ref, atol=1e-6 * np.abs(ref).max())


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_lasso_alpha_zero_equals_linear_regression(fit_intercept):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 5))
    y = X @ np.arange(1.0, 6.0) + 0.5 + 0.1 * rng.standard_normal(60)
    ours = Lasso(alpha=0.0, fit_intercept=fit_intercept, tol=1e-12, max_iter=100_000).fit(X, y)
    ref = LinearRegression(fit_intercept=fit_intercept).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-8)


@pytest.mark.parametrize("penalty", [L1(0.0), WeightedL1(0.0, weights=np.ones(4)),
                                     WeightedL1(1.0, weights=np.r_[1.0, 0.0, 1.0, 1.0]),
                                     GroupL2(0.0, group_size=2)])
def test_zero_thresholds_have_no_gap(penalty):
    """At x = 0 with A^T y != 0 the point is not optimal: the gap must not read 0."""
    rng = np.random.default_rng(2)
    A = rng.standard_normal((10, 4))
    y = rng.standard_normal(10)
    assert not penalty.has_dual()
    chk = check_optimality(Quadratic(A, y), penalty, np.zeros(4), y.copy())
    assert np.isnan(chk.gap)
    assert chk.kkt > 0


def test_positive_thresholds_keep_the_gap():
    for penalty in (L1(0.1), WeightedL1(0.1, weights=np.full(4, 2.0)),
                    GroupL2(0.1, group_size=2)):
        assert penalty.has_dual()


@pytest.mark.parametrize("cls", ["ConvexGatedReLURegressor", "ConvexReLURegressor"])
def test_convex_relu_alpha_zero(cls):
    """alpha = 0: "auto" fits by FISTA to an interpolating least-squares solution of the
    gated design (more columns than samples here), "cd" refuses with a clear message."""
    import sparse_events as se

    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 3))
    y = np.maximum(X @ np.array([1.0, -2.0, 0.5]), 0.0)
    est = getattr(se, cls)
    m = est(alpha=0.0, n_patterns=20, random_state=0, tol=1e-10, max_iter=100_000).fit(X, y)
    assert m.converged_
    # the least-squares optimum of an underdetermined design fits the data exactly: compare
    # the residual with numpy's least squares on the same columns (the gated model's design
    # is the masked blocks D_g [X, 1])
    if cls == "ConvexGatedReLURegressor":
        Xa = np.column_stack([X, np.ones(len(X))])
        A = np.column_stack([(Xa @ m.gates_[:, [g]] >= 0) * Xa
                             for g in range(m.gates_.shape[1])])
        ls = np.linalg.lstsq(A, y, rcond=None)[0]
        ref_res = np.linalg.norm(y - A @ ls)
    else:
        ref_res = 0.0
    assert np.linalg.norm(y - m.predict(X)) <= ref_res + 1e-4 * np.linalg.norm(y)
    with pytest.raises(ValueError, match="alpha=0"):
        est(alpha=0.0, n_patterns=20, random_state=0, solver="cd").fit(X, y)
