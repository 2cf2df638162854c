"""Compiled loops of the cross-products final step against plain references, bit for bit.

``merge_pairs`` computes the 1-D coefficients of each coordinate of a pair once
(and keeps those of the first one for its next partners until a merge), where
the reference evaluates ``merge_move`` both ways for every pair; the window sums
visit only the listed times (``_window_sum_near``); ``flat_nonzeros`` replaces ``np.flatnonzero``.  All
must give exactly what the plain computations give.
"""

from __future__ import annotations

import numpy as np
import pytest

from _cross_products_reference import (DenseCrossProductsProblem, merge_pairs,
                                      merge_pairs_both_ways)
from _cross_products_reference import window_sum as _window_sum
from sparse_events.models._cross_products_kernels import (_window_sum_near,
                                                           flat_nonzeros, nonzeros)
from sparse_events.models._cross_products_ops import SparseProducts
from sparse_events.operators import DictionaryOperator
from sparse_events.solvers._designs import BandedDesign

N = 120


def _problem(rng, P, positive, n_events):
    K = rng.standard_normal((P, 7))
    g = np.array([0.3, 2.0, 2.0, 1.5, 1.0, 0.5])
    s = np.zeros(P * N)
    # clusters of close events, so that many pairs are within the window
    centres = rng.choice(np.arange(10, N - 10), n_events // 3, replace=False)
    for c in centres:
        for _ in range(3):
            p, t = rng.integers(P), c + rng.integers(-3, 4)
            s[p * N + t] = rng.uniform(0.05, 2.0)
    if not positive:
        s *= rng.choice([-1.0, 1.0], s.size)
    design = BandedDesign(DictionaryOperator(K, N, "causal"))
    ops = SparseProducts(design, g)
    y = ops.matvec(s) + 0.3 * rng.standard_normal(design.n_rows)
    prob = DenseCrossProductsProblem(ops, y, 1.3)
    return prob, s


@pytest.mark.parametrize("P,positive,seed", [(1, False, 0), (2, True, 1), (3, False, 2),
                                             (3, True, 3)])
def test_merge_pairs_same_bits_as_merge_move_both_ways(P, positive, seed):
    rng = np.random.default_rng(seed)
    prob, s = _problem(rng, P, positive, 36)
    d = prob.ops.design
    args = (prob.ops.kernels, d.cumsq, prob.N, d.shift, prob.ops.window, float(prob.beta),
            bool(positive))
    support = np.flatnonzero(s)
    perm = np.argsort(support % N, kind="stable")
    order = np.ascontiguousarray(support[perm])
    times = np.ascontiguousarray((support % N)[perm])
    results = []
    for run in (merge_pairs, merge_pairs_both_ways):
        x, r, a = s.copy(), prob.residual(s), prob.ops.magnitudes(s).copy()
        total, n_merged = run(x, r, a, order, times, *args, 0.0) if run is merge_pairs \
            else run(x, r, a, order, times, args, 0.0)
        results.append((x, r, a, total, n_merged))
    (x, r, a, total, n), (xr, rr, ar, totr, nr) = results
    assert nr > 0  # the check covers merges
    assert n == nr and total == totr
    np.testing.assert_array_equal(x, xr)
    np.testing.assert_array_equal(r, rr)
    np.testing.assert_array_equal(a, ar)


def test_window_sum_same_bits_as_full_sum():
    """The full window sum skipping zeros (the reference) and the sum over the listed
    times (the library's ``_window_sum_near``, times repeated as for several atoms at
    one time) both equal the sum over every sample of the window, zeros included."""
    rng = np.random.default_rng(4)
    window = np.array([0.0, 2.0, 2.0, 1.5, 0.7])
    a = np.zeros(60)
    a[rng.choice(60, 12, replace=False)] = rng.uniform(0.01, 3.0, 12)
    nz = np.flatnonzero(a)
    for t in range(a.size):
        ref = 0.0
        for k in range(max(-4, -t), min(4, a.size - 1 - t) + 1):
            ref += window[abs(k)] * a[t + k]  # every term, zeros included
        assert _window_sum(a, t, window) == ref
        for repeat in (1, 2):
            times = np.sort(np.concatenate([np.repeat(nz, repeat), [t]])).astype(np.int64)
            i = int(np.searchsorted(times, t))
            assert _window_sum_near(a, i, times, window) == ref


def test_flat_nonzeros_is_flatnonzero():
    rng = np.random.default_rng(5)
    x = np.zeros(1000)
    x[rng.choice(1000, 40, replace=False)] = rng.standard_normal(40)
    x[3], x[4], x[5] = np.nan, -0.0, np.inf
    # sparse vectors (the block-wise fill pass, with and without a tail) and dense ones
    sparse = np.zeros(1003)
    sparse[[0, 15, 16, 17, 500, 1001, 1002]] = [1.0, np.nan, -2.0, np.inf, 3.0, -0.0, 4.0]
    for v in (x, np.zeros(0), np.zeros(7), np.ones(5), sparse, sparse[:992], np.zeros(64)):
        idx, val = flat_nonzeros(v)
        np.testing.assert_array_equal(idx, np.flatnonzero(v))
        np.testing.assert_array_equal(val, v[np.flatnonzero(v)])
    m = x.reshape(10, 100)
    for arr in (m, m[:, ::2], m.astype(np.float32), (m > 0).astype(np.int64)):
        idx, val = nonzeros(arr)
        np.testing.assert_array_equal(idx, np.flatnonzero(arr))
        np.testing.assert_array_equal(val, arr.ravel()[np.flatnonzero(arr)])


def test_weights_of_magnitudes_at_same_bits_as_full_weights():
    rng = np.random.default_rng(6)
    prob, s = _problem(rng, 3, True, 30)
    a = prob.ops.magnitudes(s)
    idx = np.flatnonzero(s)
    np.testing.assert_array_equal(prob.weights_of_magnitudes_at(a, idx),
                                  prob.weights_of_magnitudes(a)[idx])
