"""min_distance_violations scores a batch result signal by signal (audit s12 #2b)."""

import numpy as np
import pytest

from sparse_events import cross_products_deconvolve, deconvolve, refractory_window
from sparse_events.datasets import make_random_spike_train
from sparse_events.metrics import min_distance_violations


def _reference(active_times, min_distance):
    """Pairs of consecutive event times closer than min_distance, by a plain loop."""
    t = sorted(set(int(i) for i in active_times))
    return sum(1 for a, b in zip(t, t[1:]) if b - a < min_distance)


@pytest.fixture(scope="module")
def batch():
    trains = [make_random_spike_train(2000, snr_db=30, random_state=s) for s in range(3)]
    Y = np.vstack([t.signal for t in trains])
    h = trains[0].kernel
    return Y, h


def test_batch_result_is_scored_per_signal(batch):
    Y, h = batch
    cp = cross_products_deconvolve(Y, h, beta=2.0, g=refractory_window(30, 10.0))
    lasso = deconvolve(Y, h, 0.25)  # plain LASSO: refractory violations in every row
    for coef in (cp.coef, lasso.coef):
        assert coef.shape == Y.shape
        got = min_distance_violations(coef, 31, batch=True)
        expected = [_reference(np.flatnonzero(row), 31) for row in coef]
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(got, [min_distance_violations(row, 31) for row in coef])
    assert np.all(min_distance_violations(cp.coef, 31, batch=True) == 0)
    assert np.all(min_distance_violations(lasso.coef, 31, batch=True) > 0)


def test_batch_dictionary_result(batch):
    Y, h = batch
    K = np.vstack([h, h[::-1]])
    res = deconvolve(Y, K, 0.25)
    assert res.coef.shape == (3, 2, Y.shape[1])
    got = min_distance_violations(res.coef, 11, batch=True)
    expected = [_reference(np.flatnonzero(np.any(c != 0, axis=0)), 11) for c in res.coef]
    np.testing.assert_array_equal(got, expected)
    with pytest.raises(ValueError, match="batch=True"):
        min_distance_violations(res.coef, 11)


def test_default_still_reads_2d_as_a_dictionary():
    coef = np.zeros((2, 50))
    coef[0, [3, 20]] = 1.0
    coef[1, [5, 40]] = -2.0
    assert min_distance_violations(coef, 5) == _reference([3, 20, 5, 40], 5) == 1
    np.testing.assert_array_equal(min_distance_violations(coef, 5, batch=True), [0, 0])


@pytest.mark.parametrize("bad,exc", [("yes", TypeError), (1, TypeError), (None, TypeError)])
def test_batch_flag_is_validated(bad, exc):
    with pytest.raises(exc, match="batch"):
        min_distance_violations(np.zeros((2, 5)), 2, batch=bad)


def test_batch_needs_a_batch_axis():
    with pytest.raises(ValueError, match="coef"):
        min_distance_violations(np.zeros(5), 2, batch=True)
