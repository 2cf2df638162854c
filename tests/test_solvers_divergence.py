"""Diverged runs are never certified, and every solver option is validated (audit s12 #1, #6)."""

import warnings

import numpy as np
import pytest

from sparse_events.solvers import (
    L1,
    GroupL2,
    Quadratic,
    as_design,
    coordinate_descent,
    fista,
    group_coordinate_descent,
    solve,
)
from sparse_events.solvers._optimality import Check, is_converged


@pytest.fixture
def problem():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((70, 60))
    y = rng.standard_normal(70)
    return A, y, np.linalg.norm(A, 2) ** 2  # ||A||_2^2 from numpy's SVD


@pytest.mark.parametrize("primal,gap,kkt", [(np.inf, np.inf, 1.0), (np.inf, np.nan, 0.0),
                                            (np.nan, 0.0, 0.0), (1.0, np.inf, np.inf),
                                            (1.0, np.nan, np.nan)])
@pytest.mark.parametrize("rule", ["gap", "kkt"])
def test_is_converged_refuses_non_finite_measures(primal, gap, kkt, rule):
    chk = Check(primal, gap, kkt, np.zeros(1), np.zeros(1))
    assert not is_converged(chk, rule, 1e-6, 1.0)


def test_is_converged_still_accepts_finite_measures():
    assert is_converged(Check(2.0, 1e-9, 1e-9, np.zeros(1), np.zeros(1)), "gap", 1e-6, 1.0)
    assert is_converged(Check(2.0, np.nan, 1e-9, np.zeros(1), np.zeros(1)), "kkt", 1e-6, 1.0)


@pytest.mark.parametrize("factor", [0.6, 0.1])
def test_fista_too_small_lipschitz_raises_naming_it(problem, factor):
    A, y, L = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's overflow on the way
        with pytest.raises(FloatingPointError, match="diverged.*lipschitz"):
            fista(Quadratic(A, y), L1(1.0), lipschitz=factor * L, max_iter=20000)


def test_fista_safe_lipschitz_matches_cd(problem):
    A, y, L = problem
    ref = coordinate_descent(Quadratic(A, y), L1(1.0), tol=1e-12)
    res = fista(Quadratic(A, y), L1(1.0), lipschitz=1.01 * L, tol=1e-12, max_iter=100000)
    assert res.converged and np.isfinite(res.gap)
    np.testing.assert_allclose(res.coef, ref.coef, atol=1e-6)


def test_fista_group_l2_divergence_gives_the_same_message(problem):
    A, y, L = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(FloatingPointError, match="diverged.*lipschitz"):
            solve(Quadratic(A, y), GroupL2(1.0, 3), lipschitz=0.1 * L)


def test_fista_products_of_another_matrix_raises_naming_products(problem):
    A, y, _ = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(FloatingPointError, match="products is not the same matrix"):
            fista(Quadratic(A, y), L1(1.0), products=as_design(2 * A), tol=1e-8,
                  max_iter=20000)


@pytest.mark.parametrize("kwargs,exc,name", [
    ({"anderson": -1}, ValueError, "anderson"),
    ({"anderson": True}, TypeError, "anderson"),
    ({"anderson": 2.5}, TypeError, "anderson"),
    ({"check_every": 0}, ValueError, "check_every"),
    ({"check_every": "5"}, TypeError, "check_every"),
    ({"p0": 2.5}, TypeError, "p0"),
    ({"p0": 0}, ValueError, "p0"),
])
def test_coordinate_descent_validates_its_options(problem, kwargs, exc, name):
    A, y, _ = problem
    with pytest.raises(exc, match=name):
        coordinate_descent(Quadratic(A, y), L1(1.0), **kwargs)


def test_group_coordinate_descent_validates_anderson(problem):
    A, y, _ = problem
    with pytest.raises(ValueError, match="anderson"):
        group_coordinate_descent(Quadratic(A, y), GroupL2(1.0, 3), anderson=-1)


@pytest.mark.parametrize("restart", ["no", 1, None])
def test_fista_restart_must_be_a_bool(problem, restart):
    A, y, _ = problem
    with pytest.raises(TypeError, match="restart"):
        fista(Quadratic(A, y), L1(1.0), restart=restart)


def test_valid_options_still_reach_the_same_solution(problem):
    A, y, _ = problem
    ref = coordinate_descent(Quadratic(A, y), L1(1.0), tol=1e-12)
    for kwargs in ({"anderson": 0}, {"p0": 1, "check_every": 1}, {"anderson": np.int64(3)}):
        res = coordinate_descent(Quadratic(A, y), L1(1.0), tol=1e-12, **kwargs)
        np.testing.assert_allclose(res.coef, ref.coef, atol=1e-8)
