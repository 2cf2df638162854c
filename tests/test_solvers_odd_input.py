"""Odd input the solver layer and cross_products_deconvolve used to accept silently (s12 #8)."""

import numpy as np
import pytest
import scipy.sparse as sp

import sparse_events as se
from sparse_events.solvers import L1, NonNegativeL1, Quadratic, WeightedL1, solve


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    return rng.standard_normal((40, 30)), rng.standard_normal(40)


@pytest.mark.parametrize("make", [lambda A: A > 0, lambda A: sp.csr_matrix(A > 0)])
def test_quadratic_refuses_a_boolean_design(data, make):
    A, y = data
    with pytest.raises(TypeError, match=r"A must be a real numeric matrix.*boolean"):
        Quadratic(make(A), y)


def test_quadratic_refuses_boolean_observations(data):
    A, y = data
    with pytest.raises(TypeError, match=r"y must be .*boolean"):
        Quadratic(A, y > 0)


def test_an_explicit_conversion_is_the_01_matrix(data):
    A, y = data
    B = (A > 0).astype(float)
    res = solve(Quadratic(B, y), L1(1.0), tol=1e-12)
    ref = solve(Quadratic(sp.csr_matrix(B), y), L1(1.0), tol=1e-12)
    np.testing.assert_allclose(res.coef, ref.coef, atol=1e-10)


@pytest.mark.parametrize("cls", [WeightedL1, NonNegativeL1])
@pytest.mark.parametrize("shape", [(5, 6), (30, 1), ()])
def test_weights_must_be_1d(cls, shape):
    with pytest.raises(ValueError, match="weights must be 1-D"):
        cls(1.0, np.ones(shape))


def test_1d_weights_still_work(data):
    A, y = data
    w = np.linspace(0.5, 2.0, 30)
    res = solve(Quadratic(A, y), WeightedL1(1.0, w), tol=1e-12)
    # reference: a weighted L1 is L1 on the rescaled columns A / w
    ref = solve(Quadratic(A / w, y), L1(1.0), tol=1e-12)
    np.testing.assert_allclose(res.coef, ref.coef / w, atol=1e-8)


@pytest.mark.parametrize("opts", [{"max_epochs": 5}, {"p0": 3}, {"anderson": 2},
                                  {"p0": 3, "anderson": 0}])
def test_solve_fista_refuses_coordinate_descent_options(data, opts):
    A, y = data
    with pytest.raises(TypeError, match="|".join(opts)):
        solve(Quadratic(A, y), L1(1.0), solver="fista", **opts)
    # the same options are used by coordinate descent
    res = solve(Quadratic(A, y), L1(1.0), solver="cd", tol=1e-10, **opts)
    ref = solve(Quadratic(A, y), L1(1.0), solver="fista", tol=1e-10, max_iter=100_000)
    np.testing.assert_allclose(res.coef, ref.coef, atol=1e-6)


def test_cross_products_refuses_a_boolean_window():
    y = se.datasets.make_random_spike_train(300, random_state=0).signal
    with pytest.raises(TypeError, match="g must be a real-valued window"):
        se.cross_products_deconvolve(y, np.ones(5), beta=1.0, g=np.ones(11, dtype=bool))
    with pytest.raises(TypeError, match="g must be a real-valued window"):
        se.cross_products_deconvolve(y, np.ones(5), beta=1.0, g=[True, False, True])


def test_cross_products_long_causal_kernel_is_the_cut_kernel():
    """Kept as deconvolve does (tests/test_kernel_length.py, reviewed 2026-11-24): in causal
    mode taps beyond the signal never reach an output, so a kernel longer than the signal
    is exact and gives the result of the kernel cut to the signal's length."""
    rng = np.random.default_rng(3)
    y, h = rng.standard_normal(10), rng.standard_normal(12)
    g = se.refractory_window(3, 5.0)
    res = se.cross_products_deconvolve(y, h, beta=5.0, g=g, mode="causal")
    cut = se.cross_products_deconvolve(y, h[:10], beta=5.0, g=g, mode="causal")
    np.testing.assert_array_equal(res.coef, cut.coef)


def _group_cd(datafit, penalty):
    from sparse_events.solvers import GroupL2, group_coordinate_descent
    return group_coordinate_descent(datafit, GroupL2(penalty.alpha, 3))


@pytest.mark.parametrize("solver", ["fista", "cd", "group_cd"])
def test_data_overflowing_float64_is_refused_naming_y(data, solver):
    # y scaled by 1e160: ||y||^2 overflows, the objective is inf at the start; FISTA
    # used to report a divergence blaming the Lipschitz bound and coordinate descent
    # ran to max_iter and returned a nan gap; 1e150 (||y||^2 ~ 1e301) still solves
    A, y = data
    from sparse_events.solvers import coordinate_descent, fista
    run = {"fista": fista, "cd": coordinate_descent, "group_cd": _group_cd}[solver]
    assert np.isfinite(run(Quadratic(A, y * 1e150), L1(1e150)).objective[-1])
    # (numpy's own overflow RuntimeWarning on the way is not the point here)
    with np.errstate(over="ignore"), \
            pytest.raises(ValueError, match=r"overflow float64.*\|\|y\|\|\^2.*rescale y"):
        run(Quadratic(A, y * 1e160), L1(1e160))
