"""The estimators' ConvergenceWarning is also scikit-learn's (audit s12 #7)."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning

import sparse_events
from sparse_events import ConvexGatedReLURegressor, ConvexReLU1D, Lasso
from sparse_events.solvers import ConvergenceWarning


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 30))
    y = X @ rng.standard_normal(30) + 0.1 * rng.standard_normal(60)
    return X, y


def _unconverged_fits(X, y):
    return [
        lambda: Lasso(alpha=0.001, max_iter=1, tol=1e-14).fit(X, y),
        lambda: Lasso(alpha=0.001, max_iter=1, tol=1e-14, solver="fista").fit(X, y),
        lambda: ConvexGatedReLURegressor(n_patterns=20, alpha=1e-6, max_iter=1,
                                         random_state=0).fit(X[:, :3], y),
        lambda: ConvexReLU1D(alpha=1e-6, max_iter=1, tol=1e-14).fit(X[:, :1], y),
    ]


@pytest.mark.parametrize("which", range(4))
@pytest.mark.parametrize("category", [SkConvergenceWarning, ConvergenceWarning])
def test_filtering_either_category_silences_it(data, which, category):
    X, y = data
    fit = _unconverged_fits(X, y)[which]
    # reference: unfiltered, the fit warns with both categories
    with pytest.warns(SkConvergenceWarning) as record:
        fit()
    assert all(issubclass(w.category, ConvergenceWarning)
               for w in record if issubclass(w.category, SkConvergenceWarning))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", category=category)
        fit()  # no warning left


def test_the_warning_points_at_the_caller(data):
    X, y = data
    with pytest.warns(ConvergenceWarning) as record:
        Lasso(alpha=0.001, max_iter=1, tol=1e-14).fit(X, y)
    assert record[0].filename == __file__
    assert "max_iter=1" in str(record[0].message)


def test_top_level_export_without_importing_sklearn():
    assert sparse_events.ConvergenceWarning is ConvergenceWarning
    code = ("import sys, sparse_events; sparse_events.ConvergenceWarning; "
            "sys.exit('sklearn' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
