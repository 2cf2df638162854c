"""Solver robustness: ill-conditioned kernels, extreme alphas, dynamic range.

Each run must either converge or stop with ``converged=False`` and a
ConvergenceWarning; never NaN.
"""

import warnings

import numpy as np
import pytest

from sparse_events import alpha_max, deconvolve
from sparse_events.operators import ConvolutionOperator
from sparse_events.solvers import ConvergenceWarning, L1, Quadratic, check_optimality


def run_guarded(*args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = deconvolve(*args, **kwargs)
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert np.all(np.isfinite(res.coef))
    assert res.converged or warned, "stopped without converging and without a warning"
    assert warned == (not res.converged)
    return res


ILL_CONDITIONED = {
    "spectral zero at DC": np.array([1.0, -1.0]),
    "near-zero at DC": np.array([1.0, -1.0 + 1e-9]),
    "zero at Nyquist": np.array([1.0, 2.0, 1.0]),
    "tiny tail": np.r_[1.0, np.full(30, 1e-12)],
}


@pytest.mark.parametrize("name", list(ILL_CONDITIONED))
@pytest.mark.parametrize("ratio", [1e-3, 1e-8])
@pytest.mark.parametrize("solver", ["cd", "fista"])
def test_ill_conditioned_kernels(name, ratio, solver):
    h = ILL_CONDITIONED[name]
    rng = np.random.default_rng(0)
    y = rng.standard_normal(400)
    amax = alpha_max(y, h)
    res = run_guarded(y, h, ratio * amax, solver=solver, max_iter=50, tol=1e-8)
    # the objective decreased from the zero solution
    assert res.objective[-1] <= res.objective[0]


@pytest.mark.parametrize("ratio", [1 - 1e-12, 1 - 1e-6, 1e-10, 0.0])
def test_extreme_alphas(ratio):
    rng = np.random.default_rng(1)
    h = rng.standard_normal(12)
    y = rng.standard_normal(600)
    res = run_guarded(y, h, ratio * alpha_max(y, h), max_iter=30, tol=1e-8)
    if ratio > 0.5:
        assert np.count_nonzero(res.coef) <= 3
    if res.converged and ratio > 0:
        op = ConvolutionOperator(h, 600)
        df = Quadratic(op, y)
        chk = check_optimality(df, L1(ratio * alpha_max(y, h)), res.coef,
                               df.residual(res.coef))
        assert chk.gap <= 1e-8 * chk.primal * 1.01 or chk.primal == 0


@pytest.mark.parametrize("scale", [1e-9, 1e9])
def test_huge_dynamic_range(scale):
    rng = np.random.default_rng(2)
    h = rng.standard_normal(8)
    y = rng.standard_normal(500)
    base = run_guarded(y, h, 0.05 * alpha_max(y, h), tol=1e-10)
    scaled = run_guarded(scale * y, h, 0.05 * alpha_max(scale * y, h), tol=1e-10)
    np.testing.assert_allclose(scaled.coef / scale, base.coef,
                               atol=1e-6 * np.abs(base.coef).max())


def test_adc_count_integers_do_not_overflow():
    h = np.array([1, 1], dtype=np.int16)
    y = np.full(100, 32767, dtype=np.int16)  # y + y would overflow int16
    res = run_guarded(y, h, 1.0, tol=1e-10)
    op = ConvolutionOperator(h, 100)
    assert np.all(np.isfinite(op.matvec(res.coef)))
    assert np.abs(op.matvec(res.coef) - 32767.0).max() < 0.01 * 32767


@pytest.mark.slow
def test_ten_million_samples_converge():
    from sparse_events.datasets import make_random_spike_train

    d = make_random_spike_train(10_000_000, kernel_length=12, random_state=0)
    res = run_guarded(d.signal, d.kernel, 0.1 * alpha_max(d.signal, d.kernel))
    assert res.converged
