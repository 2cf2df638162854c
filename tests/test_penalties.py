"""Penalties of the solver layer against their textbook formulas.

The elementwise optimality measures of ``WeightedL1`` are computed block by
block (bounded temporaries); here they are compared, on vectors longer than one
block, with the direct whole-array formulas of the subdifferential of
``alpha * sum_i w_i |x_i|`` (plus ``x >= 0`` when ``positive``).
"""

import numpy as np
import pytest

from sparse_events.solvers import L1, NonNegativeL1, WeightedL1
from sparse_events.solvers import _penalties


def _reference_distance(x, corr, t, positive):
    """Distance of ``corr`` to the subdifferential of ``sum t_i |x_i|`` (+ ``x >= 0``)."""
    dist = np.empty_like(x)
    pos, neg, zero = x > 0, x < 0, x == 0
    dist[pos] = np.abs(corr[pos] - t[pos])
    dist[neg] = np.abs(corr[neg] + t[neg])
    if positive:
        dist[zero] = np.maximum(corr[zero] - t[zero], 0.0)
    else:
        dist[zero] = np.maximum(np.abs(corr[zero]) - t[zero], 0.0)
    return dist


@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_blockwise_measures_equal_whole_array_formulas(positive, weighted):
    rng = np.random.default_rng(3)
    n = 2 * _penalties._BLOCK + 1234  # three blocks, the last one partial
    x = rng.standard_normal(n) * (rng.random(n) < 0.3)
    if positive:
        x = np.abs(x)
    corr = rng.standard_normal(n)
    weights = rng.uniform(0.5, 2.0, n) if weighted else None
    alpha = 0.7
    pen = WeightedL1(alpha, weights, positive=positive)
    t = alpha * (np.ones(n) if weights is None else weights)

    np.testing.assert_array_equal(pen.thresholds(n), t)
    np.testing.assert_allclose(pen.subdiff_distance(x, corr),
                               _reference_distance(x, corr, t, positive), rtol=0, atol=0)
    c = np.maximum(corr, 0.0) if positive else np.abs(corr)
    assert pen.dual_scaling(corr) == pytest.approx(np.max(c / t), rel=1e-15)


def test_weights_of_the_wrong_size_are_refused_by_every_measure():
    pen = WeightedL1(0.5, np.ones(3))
    x, corr = np.zeros(5), np.ones(5)
    for call in (lambda: pen.thresholds(5), lambda: pen.subdiff_distance(x, corr),
                 lambda: pen.dual_scaling(corr), lambda: pen.prox(x, 1.0)):
        with pytest.raises(ValueError, match="weights must have 5 entries"):
            call()


def test_l1_and_nonnegative_l1_are_the_special_cases():
    rng = np.random.default_rng(0)
    x, step = rng.standard_normal(50), 0.3
    np.testing.assert_array_equal(L1(0.4).prox(x, step),
                                  np.sign(x) * np.maximum(np.abs(x) - 0.12, 0.0))
    np.testing.assert_array_equal(NonNegativeL1(0.4).prox(x, step), np.maximum(x - 0.12, 0.0))
