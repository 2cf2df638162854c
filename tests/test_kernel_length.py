"""A kernel longer than the signal: refused in "same" mode, exact in "causal" mode.

In "same" mode a centred window of a kernel longer than the signal is not
defined (numpy's "same" returns max(M, N) samples): a ValueError.  In "causal"
mode taps beyond the signal never reach any of its N outputs, so the N x N
operator is the exact model (reviewed 2026-11-24: an earlier change had refused
it too).  "full" and "valid" refused already where it does not fit.
"""

import numpy as np
import pytest

import sparse_events as se


def test_kernel_longer_than_signal_raises_in_same_mode():
    y = np.random.default_rng(0).standard_normal(3)
    with pytest.raises(ValueError, match=r"kernel has 5 taps, more than the 3 samples of y"):
        se.deconvolve(y, np.ones(5), 1e-3, mode="same")
    with pytest.raises(ValueError, match="kernel has 5 taps"):
        se.alpha_max(y, np.ones(5), "same")
    with pytest.raises(ValueError, match="kernel has 5 taps"):
        se.cross_products_deconvolve(y, np.ones(5), beta=1.0, g=se.refractory_window(2, 1.0),
                                     mode="same")
    # a dictionary: the atoms' length counts
    with pytest.raises(ValueError, match="kernel has 4 taps"):
        se.deconvolve(y, np.ones((2, 4)), 1e-3, mode="same")


def test_kernel_longer_than_signal_is_exact_in_causal_mode():
    """Taps beyond the signal never reach an output: the same solution as the kernel cut
    to the signal's length, and the dense lower-triangular Toeplitz matrix of all taps."""
    import scipy.linalg as sl

    rng = np.random.default_rng(3)
    y = rng.standard_normal(4)
    h = rng.standard_normal(7)
    res = se.deconvolve(y, h, 0.05, tol=1e-12, max_iter=100_000)
    cut = se.deconvolve(y, h[:4], 0.05, tol=1e-12, max_iter=100_000)
    np.testing.assert_array_equal(res.coef, cut.coef)
    from sparse_events.models import make_operator

    dense = sl.toeplitz(h[:4], np.zeros(4))
    np.testing.assert_allclose(make_operator(h, 4, "causal") @ np.eye(4), dense, atol=1e-12)


@pytest.mark.parametrize("mode", ["causal", "same"])
def test_kernel_as_long_as_the_signal_is_the_dense_lasso(mode):
    """Length equal to the signal stays allowed; compare with the dense operator's LASSO
    solved by our FISTA (another solver on the explicit matrix)."""
    from sparse_events.solvers import L1, Quadratic, fista

    rng = np.random.default_rng(1)
    y = rng.standard_normal(6)
    h = rng.standard_normal(6)
    res = se.deconvolve(y, h, 0.05, mode=mode, tol=1e-12, max_iter=100_000)
    from sparse_events.models import make_operator

    H = make_operator(h, 6, mode) @ np.eye(6)
    ref = fista(Quadratic(H, y), L1(0.05), tol=1e-12, max_iter=200_000)
    np.testing.assert_allclose(res.coef, ref.coef, atol=1e-8)


def test_alpha_sequence_needs_a_batch():
    """A list of alphas for a single 1-D signal: the message says a list needs 2-D y (it
    used to say 'one value per signal (1), got shape (1,)', which that input was)."""
    rng = np.random.default_rng(2)
    y, h = rng.standard_normal(50), np.ones(3)
    with pytest.raises(ValueError, match=r"scalar for a single \(1-D\) signal.*2-D y"):
        se.deconvolve(y, h, [0.1])
    Y = np.stack([y, 2 * y])
    with pytest.raises(ValueError, match=r"one value per signal \(2\), got shape \(3,\)"):
        se.deconvolve(Y, h, [0.1, 0.2, 0.3])
    both = se.deconvolve(Y, h, [0.1, 0.2]).coef
    np.testing.assert_array_equal(both[1], se.deconvolve(2 * y, h, 0.2).coef)
