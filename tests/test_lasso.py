"""sparse_events.Lasso against scikit-learn's Lasso, and the estimator contract."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import Lasso as SkLasso
from sklearn.utils.estimator_checks import parametrize_with_checks

from sparse_events import Lasso


@parametrize_with_checks([Lasso(), Lasso(positive=True), Lasso(solver="fista")])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def problem(rng, sparse_X, n=80, p=40):
    if sparse_X:
        X = sp.random(n, p, density=0.25, random_state=int(rng.integers(1000)), format="csr")
    else:
        X = rng.standard_normal((n, p))
    w = np.zeros(p)
    w[:6] = rng.standard_normal(6)
    y = X @ w + 0.1 * rng.standard_normal(n) + 2.0
    return X, y


@pytest.mark.parametrize("sparse_X", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("alpha", [0.3, 0.01])
@pytest.mark.parametrize("solver", ["cd", "fista"])
def test_equals_sklearn(sparse_X, fit_intercept, positive, alpha, solver, rng):
    X, y = problem(rng, sparse_X)
    ours = Lasso(alpha=alpha, fit_intercept=fit_intercept, positive=positive, tol=1e-13,
                 solver=solver, max_iter=200_000).fit(X, y)
    ref = SkLasso(alpha=alpha, fit_intercept=fit_intercept, positive=positive, tol=1e-14,
                  max_iter=1_000_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    assert ours.intercept_ == pytest.approx(ref.intercept_, abs=1e-6)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), atol=1e-5)


def test_multi_output_equals_per_target(rng):
    X = rng.standard_normal((50, 20))
    Y = rng.standard_normal((50, 3))
    multi = Lasso(alpha=0.05, tol=1e-12).fit(X, Y)
    assert multi.coef_.shape == (3, 20) and multi.intercept_.shape == (3,)
    for k in range(3):
        one = Lasso(alpha=0.05, tol=1e-12).fit(X, Y[:, k])
        np.testing.assert_allclose(multi.coef_[k], one.coef_, atol=1e-10)
    assert multi.predict(X).shape == (50, 3)


def test_large_alpha_gives_zero_and_mean_intercept(rng):
    X, y = problem(rng, False)
    alpha_max = np.abs((X - X.mean(0)).T @ (y - y.mean())).max() / X.shape[0]
    est = Lasso(alpha=alpha_max).fit(X, y)
    assert np.all(est.coef_ == 0)
    assert est.intercept_ == pytest.approx(y.mean())


def test_bad_parameters(rng):
    X, y = problem(rng, False)
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        Lasso(alpha=-1).fit(X, y)
    with pytest.raises(ValueError, match="solver must be one of"):
        Lasso(solver="lars").fit(X, y)
    with pytest.raises(ValueError, match="max_iter must be >= 1"):
        Lasso(max_iter=0).fit(X, y)


def _unsorted_csc(rng, n=60, p=25):
    """A CSC matrix whose row indices are stored in descending order within each column."""
    A = sp.random(n, p, density=0.3, random_state=int(rng.integers(1000)), format="csc")
    data, indices = A.data.copy(), A.indices.copy()
    for j in range(p):
        s = slice(A.indptr[j], A.indptr[j + 1])
        data[s], indices[s] = data[s][::-1], indices[s][::-1]
    X = sp.csc_matrix((data, indices, A.indptr.copy()), shape=A.shape)
    assert not X.has_sorted_indices
    return X


def test_unsorted_csc_is_not_reordered_in_place(rng):
    """Lasso.fit and solvers.as_design sort a copy of an unsorted CSC matrix (they sorted
    the caller's arrays in place); the fit equals scikit-learn's on the same matrix."""
    from sparse_events.solvers import as_design
    X = _unsorted_csc(rng)
    y = X @ rng.standard_normal(X.shape[1]) + 0.1 * rng.standard_normal(X.shape[0])
    data, indices, indptr = X.data.copy(), X.indices.copy(), X.indptr.copy()
    ours = Lasso(alpha=0.01, tol=1e-13, max_iter=200_000).fit(X, y)
    design = as_design(X)
    for arr, ref in ((X.data, data), (X.indices, indices), (X.indptr, indptr)):
        np.testing.assert_array_equal(arr, ref)
    assert not X.has_sorted_indices
    ref = SkLasso(alpha=0.01, tol=1e-14, max_iter=1_000_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    v = rng.standard_normal(X.shape[1])
    np.testing.assert_allclose(design.matvec(v), X.toarray() @ v, atol=1e-12)
    # a sorted float64 CSC matrix is used as it is (no copy)
    S = X.sorted_indices()
    assert np.shares_memory(as_design(S).X.data, S.data)
