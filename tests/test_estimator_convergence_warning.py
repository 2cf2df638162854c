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


def test_threaded_fits_leave_the_warnings_machinery_intact(data):
    # the estimators used to re-emit the solver warnings inside
    # warnings.catch_warnings(record=True), which swaps process-global state:
    # fits on a thread pool left warnings._showwarnmsg_impl pointing at a dead list
    # and every later warning of the program was dropped
    from concurrent.futures import ThreadPoolExecutor

    X, y = data
    impl = warnings._showwarnmsg_impl
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        filters = list(warnings.filters)
        with ThreadPoolExecutor(4) as pool:
            n_iter = list(pool.map(
                lambda _: Lasso(alpha=1e-3, max_iter=1, tol=1e-14).fit(X, y).n_iter_,
                range(40)))
        assert warnings.filters == filters
        warnings.warn("a later unrelated warning", UserWarning, stacklevel=1)
    assert warnings._showwarnmsg_impl is impl
    assert len(n_iter) == 40
    ours = [w for w in record if issubclass(w.category, ConvergenceWarning)]
    assert len(ours) == 40      # one per fit, none lost
    assert all(issubclass(w.category, SkConvergenceWarning) for w in ours)
    assert [str(w.message) for w in record if w.category is UserWarning] == \
        ["a later unrelated warning"]


def test_a_warning_before_a_solver_exception_is_not_lost(data, monkeypatch):
    import sparse_events.models._lasso as lasso_module

    def failing_solve(*args, **kwargs):
        warnings.warn("overflow explaining the failure", RuntimeWarning, stacklevel=1)
        raise FloatingPointError("diverged")

    monkeypatch.setattr(lasso_module, "solve", failing_solve)
    X, y = data
    with pytest.warns(RuntimeWarning, match="overflow explaining"):
        with pytest.raises(FloatingPointError):
            Lasso().fit(X, y)


@pytest.mark.parametrize("which", range(4))
def test_one_warning_with_the_solvers_text(data, which):
    X, y = data
    with pytest.warns(ConvergenceWarning) as record:
        _unconverged_fits(X, y)[which]()
    assert len(record) == 1
    assert record[0].category.__name__ == "EstimatorConvergenceWarning"
    assert record[0].filename == __file__
    assert "stopped at max_iter=1" in str(record[0].message)
