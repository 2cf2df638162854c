"""Sparse-iterate methods of the cross-products problem against their dense counterparts.

Algorithm 1 keeps its iterates by their non-zeros between the weighted-LASSO
solves (to bound its peak memory); every sparse method must give, bit for bit,
what the dense method gives on the dense vector, and the solver must not depend
on whether it receives the thresholds as ``alpha * w`` or as unit-alpha weights.
"""

import numpy as np
import pytest

from _cross_products_reference import DenseCrossProductsProblem
from sparse_events.operators import DictionaryOperator
from sparse_events.models._cross_products_algorithm import _blend, _compact
from sparse_events.models._cross_products_ops import SparseProducts
from sparse_events.solvers import Quadratic, WeightedL1, coordinate_descent
from sparse_events.solvers._designs import BandedDesign


def _problem(rng, P, N, mode, window, L=7):
    K = rng.standard_normal((P, L))
    design = BandedDesign(DictionaryOperator(K, N, mode))
    y = rng.standard_normal(design.n_rows)
    return DenseCrossProductsProblem(SparseProducts(design, window), y, beta=3.0)


def _sparse_vector(rng, n, density):
    x = np.zeros(n)
    idx = rng.choice(n, max(1, int(density * n)), replace=False)
    x[idx] = rng.standard_normal(idx.size)
    return x


CASES = [
    (1, 400, "causal", 0.05),
    (1, 400, "full", 0.05),
    (2, 300, "causal", 0.05),
    (3, 200, "same", 0.08),
    (6, 150, "causal", 0.1),  # as many kernels as a learned QRS dictionary
    (1, 300, "causal", 0.9),  # dense regime: the FFT fallbacks of H s and G a
    (2, 200, "causal", 0.7),
]


@pytest.mark.parametrize("P, N, mode, density", CASES)
@pytest.mark.parametrize("window", [np.array([0.0, 1.0, 1.0, 0.5]), np.zeros(3),
                                    np.array([0.3, 2.0]), np.linspace(1.0, 0.1, 12)])
def test_sparse_methods_equal_dense(rng, P, N, mode, density, window):
    prob = _problem(rng, P, N, mode, window, L=15 if density > 0.5 else 7)
    n = P * N
    s = _sparse_vector(rng, n, density)
    t = _sparse_vector(rng, n, density)
    cs, ct = _compact(s), _compact(t)
    np.testing.assert_array_equal(prob.dense(cs), s)
    r = prob.residual(s)
    np.testing.assert_array_equal(r, prob.y - prob.ops.matvec(s))
    np.testing.assert_array_equal(prob.residual_sparse(cs), r)
    assert prob.cost_sparse(cs, r) == prob.cost(s, r)
    gamma = prob.weights(s)
    np.testing.assert_array_equal(prob.weights_sparse(cs), gamma)
    np.testing.assert_array_equal(prob.weights_at(cs, ct.idx), gamma[ct.idx])
    assert prob.surrogate_sparse(ct, r, cs) == prob.surrogate(t, r, gamma)
    assert prob.surrogate_sparse(cs, r, None) == prob.surrogate(s, r, np.ones(n))
    T, starts = prob.segments(s, t)
    d_dense, r_dense = prob.segment_cost_change(T, starts, s, r, t)
    d_sparse, r_sparse = prob.segment_cost_change_sparse(T, starts, cs, r, ct, True)
    np.testing.assert_array_equal(d_sparse, d_dense)
    np.testing.assert_array_equal(r_sparse, r_dense)
    assert prob.segment_cost_change_sparse(T, starts, cs, r, ct, False)[1] is None
    cost = prob.cost(s, r)
    dense_out = prob.final_step(s, r, cost, t)
    sparse_out = prob.final_step_sparse(cs, r, cost, ct)
    np.testing.assert_array_equal(prob.dense(sparse_out[0]), dense_out[0])
    np.testing.assert_array_equal(sparse_out[1], dense_out[1])
    assert sparse_out[2:] == dense_out[2:]


def test_zero_by_kkt_inplace_equals_zero_by_kkt(rng):
    prob = _problem(rng, 2, 300, "causal", np.array([0.0, 1.0, 1.0]))
    s = _sparse_vector(rng, 600, 0.1) * 1e-3  # small: many KKT zeros
    s[::37] = 5.0
    gamma = prob.weights(s)
    want, r_want = prob.zero_by_kkt(s, gamma, False)
    x = s.copy()
    r, c = prob.zero_by_kkt_inplace(x, prob.lasso_alpha * gamma, False)
    np.testing.assert_array_equal(x, want)
    np.testing.assert_array_equal(r, r_want)
    np.testing.assert_array_equal(prob.dense(c), want)
    assert np.count_nonzero(x) < np.count_nonzero(s)
    # nothing to zero: x and the residual are untouched
    r2, c2 = prob.zero_by_kkt_inplace(x, np.zeros(x.size), False)
    np.testing.assert_array_equal(x, want)
    np.testing.assert_array_equal(r2, r_want)
    np.testing.assert_array_equal(c2.idx, c.idx)


def test_blend_equals_numpy_expression(rng):
    a, b = rng.standard_normal(200_003), rng.standard_normal(200_003)
    for step in (0.5, 0.75, 0.123456789):
        np.testing.assert_array_equal(_blend(a, b, step), (1.0 - step) * a + step * b)


def test_unit_alpha_weights_give_the_same_solve(rng):
    """Thresholds passed as unit-alpha weights (no copy in the solver): same iterates."""
    P, N = 1, 2000
    K = rng.standard_normal((P, 9))
    design = BandedDesign(DictionaryOperator(K, N, "causal"))
    y = rng.standard_normal(design.n_rows)
    w = 1.0 + rng.random(N)
    alpha = 0.37
    datafit = Quadratic(design, y)
    ref = coordinate_descent(datafit, WeightedL1(alpha, w), tol=1e-10)
    thresh = alpha * w
    pen = WeightedL1(1.0, thresh)
    pen.weights = thresh  # writable: used as the thresholds themselves
    got = coordinate_descent(datafit, pen, tol=1e-10)
    np.testing.assert_array_equal(got.coef, ref.coef)
    np.testing.assert_array_equal(got.objective, ref.objective)
    assert got.n_iter == ref.n_iter
    np.testing.assert_array_equal(thresh, alpha * w)  # the solver does not write them
