"""Exact KKT zeros of the weighted-LASSO steps of the cross-products LASSO.

``DenseCrossProductsProblem.zero_by_kkt`` sets to zero the support coefficients whose
exact coordinate-wise minimiser of ``Q(s) = 0.5 ||y - H s||^2 + alpha gamma^T |s|``
is zero.  Reference: the same sequential rule written with a dense ``H``.
"""

from __future__ import annotations

import numpy as np
import pytest

from _cross_products_reference import DenseCrossProductsProblem
from sparse_events.models._cross_products_ops import SparseProducts
from sparse_events.operators import DictionaryOperator
from sparse_events.solvers import Quadratic, WeightedL1, solve
from sparse_events.solvers._designs import BandedDesign


def _problem(rng, P, mode):
    N, L = 120, 9
    K = rng.standard_normal((P, L))
    design = BandedDesign(DictionaryOperator(K, N, mode))
    s = np.zeros(P * N)
    s[rng.choice(P * N, 8, replace=False)] = rng.uniform(1.0, 3.0, 8) * rng.choice([-1, 1], 8)
    y = design.matvec(s) + 0.1 * rng.standard_normal(design.n_rows)
    prob = DenseCrossProductsProblem(SparseProducts(design, np.array([0.0, 1.0, 0.5])), y,
                                     beta=2.0)
    H = design.columns(np.arange(P * N)).toarray()
    return prob, H, y


def _q(prob, H, y, s, gamma):
    r = y - H @ s
    return 0.5 * r @ r + prob.lasso_alpha * gamma @ np.abs(s)


def _reference(H, y, s, thresh, positive):
    """Sequential exact coordinate steps ending at zero, dense ``H``."""
    s = s.copy()
    changed = True
    while changed:
        changed = False
        for i in np.flatnonzero(s):
            h = H[:, i]
            z = (h @ h) * s[i] + h @ (y - H @ s)
            if (z <= thresh[i]) if positive else (abs(z) <= thresh[i]):
                s[i] = 0.0
                changed = True
    return s


@pytest.mark.parametrize("P,mode,positive", [(1, "causal", False), (2, "full", False),
                                             (2, "same", True)])
def test_zero_by_kkt_matches_dense_reference(rng, P, mode, positive):
    prob, H, y = _problem(rng, P, mode)
    gamma = rng.uniform(1.0, 4.0, P * prob.N)
    # an inexact point: a tight weighted-LASSO solution plus tiny left-overs
    res = solve(Quadratic(prob.ops.design, y),
                WeightedL1(prob.lasso_alpha, gamma, positive=positive), tol=1e-12)
    s = res.coef.copy()
    zeros = np.flatnonzero(s == 0)
    extra = rng.choice(zeros, 5, replace=False)
    s[extra] = 1e-9 * (rng.uniform(0.5, 1.0, 5) if positive else rng.standard_normal(5))
    thresh = prob.lasso_alpha * gamma
    ref = _reference(H, y, s, thresh, positive)
    got, r = prob.zero_by_kkt(s, gamma, positive)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_allclose(r, y - H @ got, rtol=0, atol=1e-12)
    # the tiny left-overs sit where the exact solution is zero by the KKT
    # condition of the tight solve: all removed; the rest is bit for bit kept
    corr = H.T @ (y - H @ res.coef)
    margin = np.abs(corr[extra]) < thresh[extra] - 1e-6
    assert margin.sum() >= 3
    assert np.all(got[extra[margin]] == 0)
    keep = got != 0
    np.testing.assert_array_equal(got[keep], s[keep])
    assert _q(prob, H, y, got, gamma) <= _q(prob, H, y, s, gamma)


def test_zero_by_kkt_leaves_an_exact_solution_unchanged(rng):
    prob, H, y = _problem(rng, 1, "causal")
    gamma = np.ones(prob.N)
    s = solve(Quadratic(prob.ops.design, y), WeightedL1(prob.lasso_alpha), tol=1e-12).coef
    got, r = prob.zero_by_kkt(s, None, False)
    np.testing.assert_array_equal(got, _reference(H, y, s, prob.lasso_alpha * gamma, False))
    np.testing.assert_array_equal(got, s)
