"""Shapes and types of the fitted attributes of ``Lasso`` against scikit-learn's ``Lasso``.

A single target given as a column ``y`` of shape (n, 1) used to give ``coef_`` of
shape (1, p), ``predict`` of shape (n, 1) and a ``dual_gap_`` array; scikit-learn
gives (p,), (n,) and a scalar.  Every attribute is compared with scikit-learn's
on the same data, for 1-D, column and two-column targets, with and without
intercept.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Lasso as SkLasso

from sparse_events import Lasso


def _kind(value):
    """(is an ndarray, shape) of a fitted attribute."""
    return isinstance(value, np.ndarray) and value.ndim > 0, np.shape(value)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((120, 15))
    w = np.zeros(15)
    w[:4] = [2.0, -1.0, 0.5, 3.0]
    y = X @ w + 0.2 * rng.standard_normal(120) + 4.0
    return X, y


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("target", ["1-D", "column", "two columns"])
def test_attribute_shapes_match_sklearn(data, fit_intercept, target):
    X, y = data
    Y = {"1-D": y, "column": y[:, None], "two columns": np.c_[y, -0.5 * y]}[target]
    ours = Lasso(alpha=0.05, fit_intercept=fit_intercept, tol=1e-12,
                 max_iter=100_000).fit(X, Y)
    ref = SkLasso(alpha=0.05, fit_intercept=fit_intercept, tol=1e-14,
                  max_iter=1_000_000).fit(X, Y)
    for name in ("coef_", "intercept_", "dual_gap_", "n_iter_"):
        assert _kind(getattr(ours, name)) == _kind(getattr(ref, name)), name
        if name != "n_iter_":
            assert isinstance(getattr(ours, name), list) == isinstance(getattr(ref, name), list)
    assert ours.sparse_coef_.shape == ref.sparse_coef_.shape
    assert ours.predict(X).shape == ref.predict(X).shape
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-6)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), atol=1e-5)
    assert np.ndim(ours.score(X, Y)) == 0


def test_column_target_equals_1d_target(data):
    X, y = data
    col = Lasso(alpha=0.05, tol=1e-12).fit(X, y[:, None])
    flat = Lasso(alpha=0.05, tol=1e-12).fit(X, y)
    np.testing.assert_array_equal(col.coef_, flat.coef_)
    np.testing.assert_array_equal(col.predict(X), flat.predict(X))
    assert col.dual_gap_ == flat.dual_gap_ and col.n_iter_ == flat.n_iter_


def test_warm_start_from_column_target(data):
    """A 1-D coef_ from a column target is reused as a warm start."""
    X, y = data
    est = Lasso(alpha=0.05, tol=1e-12, warm_start=True).fit(X, y[:, None])
    coef = est.coef_.copy()
    est.fit(X, y[:, None])
    np.testing.assert_allclose(est.coef_, coef, atol=1e-10)
    assert est.n_iter_ <= 2
