"""Column vectors given to the deconvolution models are refused, not silently misread.

A 2-D ``y`` is read as ``(n_signals, n_samples)`` and a 2-D ``kernel`` as
``(n_kernels, n_taps)``: a column signal ``y[:, None]`` used to become
``M`` one-sample signals and a column kernel ``h[:, None]`` ``L`` one-tap
kernels, both solved without a word.  Both must raise a ValueError naming the
argument, its shape and how it was read, with the hint to pass a 1-D array.
"""

from __future__ import annotations

import numpy as np
import pytest

from sparse_events import alpha_max, cross_products_deconvolve, deconvolve, refractory_window
from sparse_events.models import make_operator

MODES = ("causal", "full", "same", "valid")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    h = np.exp(-np.arange(12) / 3.0)
    s = np.zeros(300)
    s[rng.choice(300, 10, replace=False)] = 1.0
    y = np.convolve(s, h)[:300] + 0.01 * rng.standard_normal(300)
    return y, h


def _calls(y, h, mode):
    """Every public model function taking (signal, kernel)."""
    return {
        "deconvolve": lambda: deconvolve(y, h, 0.1, mode=mode),
        "alpha_max": lambda: alpha_max(y, h, mode),
        "cross_products": lambda: cross_products_deconvolve(
            y, h, beta=5.0, g=refractory_window(3), mode=mode),
    }


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("func", ["deconvolve", "alpha_max", "cross_products"])
def test_column_signal_refused(data, mode, func):
    y, h = data
    with pytest.raises(ValueError, match=r"y has shape \(300, 1\), read as "
                                         r"\(n_signals, n_samples\).*1-D.*y\.T"):
        _calls(y[:, None], h, mode)[func]()


@pytest.mark.parametrize("func", ["deconvolve", "alpha_max", "cross_products"])
def test_short_2d_signals_refused_and_causal_hint_is_exact(data, func):
    """2-D signals shorter than the kernel are refused in causal mode too; the hint of
    the message (the first M taps) gives exactly the causal result of 1-D short signals."""
    y, h = data
    Y = y[:20].reshape(4, 5)
    with pytest.raises(ValueError, match=r"y has shape \(4, 5\).*kernel\[\.\.\., :5\]"):
        _calls(Y, h, "causal")[func]()
    if func == "alpha_max":
        ref = np.array([alpha_max(row, h) for row in Y])
        np.testing.assert_allclose(alpha_max(Y, h[:5]), ref, rtol=1e-14)
    elif func == "deconvolve":
        ref = np.stack([deconvolve(row, h, 0.01, tol=1e-12).coef for row in Y])
        np.testing.assert_allclose(deconvolve(Y, h[:5], 0.01, tol=1e-12).coef, ref,
                                   atol=1e-10)


@pytest.mark.parametrize("mode", MODES)
def test_2d_signals_as_long_as_the_kernel_accepted(data, mode):
    y, h = data
    Y = np.stack([y[:12], y[12:24]])
    out = alpha_max(Y, h, mode)
    np.testing.assert_allclose(out, [alpha_max(Y[0], h, mode), alpha_max(Y[1], h, mode)])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("func", ["deconvolve", "alpha_max", "cross_products"])
def test_column_kernel_refused(data, mode, func):
    y, h = data
    with pytest.raises(ValueError, match=r"kernel has shape \(12, 1\).*12 one-tap kernels"
                                         r".*1-D kernel.*\(1, 12\)"):
        _calls(y, h[:, None], mode)[func]()


def test_column_kernel_refused_before_column_signal(data):
    y, h = data
    with pytest.raises(ValueError, match=r"kernel has shape \(12, 1\)"):
        deconvolve(y[:, None], h[:, None], 0.1)


def test_row_kernel_and_one_tap_kernel_accepted(data):
    """(1, L) is one kernel as a dictionary; (1, 1) a single one-tap kernel."""
    y, h = data
    np.testing.assert_allclose(deconvolve(y, h[None, :], 0.1, tol=1e-12).coef[0],
                               deconvolve(y, h, 0.1, tol=1e-12).coef, atol=1e-10)
    assert alpha_max(y, np.array([[2.0]])) == pytest.approx(2.0 * np.abs(y).max())


def test_make_operator_refuses_column_kernel(data):
    _, h = data
    with pytest.raises(ValueError, match=r"kernel has shape \(12, 1\)"):
        make_operator(h[:, None], 100)
    assert make_operator(h[None, :], 100).shape == (100, 100)


def test_cross_products_window_message_names_2d_y():
    """A window longer than 2-D signals (that are not shorter than the kernel) says
    how y was read."""
    y = np.random.default_rng(0).standard_normal((50, 2))
    with pytest.raises(ValueError, match=r"g has 31 lags.*y of shape \(50, 2\) is read as "
                                         r"\(n_signals, n_samples\): 50 signals of 2"):
        cross_products_deconvolve(y, np.array([1.0]), beta=5.0, g=refractory_window(30))
