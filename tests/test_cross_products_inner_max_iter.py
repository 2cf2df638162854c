"""A point is not called stationary when the last inner solve stopped at inner_max_iter (s12 #4)."""

import warnings

import numpy as np
import pytest

from sparse_events import cross_products_deconvolve, refractory_window
from sparse_events.datasets import make_random_spike_train
from sparse_events.solvers import ConvergenceWarning


@pytest.fixture(scope="module")
def problem():
    st = make_random_spike_train(3000, snr_db=30, random_state=0)
    return st.signal, st.kernel, refractory_window(20, 10.0)


def test_truncated_inner_solves_are_not_reported_stationary(problem):
    y, h, g = problem
    with pytest.warns(ConvergenceWarning, match="inner_max_iter=5"):
        res = cross_products_deconvolve(y, h, beta=100.0, g=g, solver="fista",
                                        inner_max_iter=5)
    assert not res.converged
    assert res.stop_reason == "inner_max_iter"
    assert res.extra["inner_not_converged"] > 0
    # reference: the same problem solved to stationarity (coordinate descent, defaults)
    # has a KKT violation orders of magnitude below the truncated run's
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        ref = cross_products_deconvolve(y, h, beta=100.0, g=g)
    assert ref.converged and ref.stop_reason == "stationary"
    assert ref.kkt_violation < 1e-3 * res.kkt_violation


def test_a_converged_report_comes_with_a_small_kkt_violation(problem):
    y, h, g = problem
    for solver, inner_max_iter in [("cd", 100), ("fista", 5), ("fista", 1000)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res = cross_products_deconvolve(y, h, beta=100.0, g=g, solver=solver,
                                            inner_max_iter=inner_max_iter)
        if res.converged:
            # relative to the LASSO threshold 1 / (2 beta) of every coordinate
            assert res.kkt_violation <= 1e-2 * res.lasso_alpha, (solver, inner_max_iter)


def test_batch_warning_counts_the_signals(problem):
    y, h, g = problem
    Y = np.stack([y, y[::-1]])
    with pytest.warns(ConvergenceWarning, match="inner_max_iter"):
        res = cross_products_deconvolve(Y, h, beta=100.0, g=g, solver="fista",
                                        inner_max_iter=5)
    assert not np.all(res.converged)
