"""Compiled zero-phase filtering (``sparse_events.ecg._zero_phase``) against scipy.

Reference: ``scipy.signal.sosfiltfilt``; the compiled path must give the same
bits (it replaces scipy in ``ecg_clean`` and the sparse detector without
changing any result).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import signal as sps

from sparse_events.ecg import ecg_clean
from sparse_events.ecg._sparse_detector import _filtfilt, _front_end
from sparse_events.ecg._zero_phase import (
    odd_extension_length,
    sosfiltfilt,
    sosfiltfilt_pair,
)


def _filters(fs):
    return [sps.butter(2, [5.0, 22.0], btype="bandpass", fs=fs, output="sos"),
            sps.butter(2, [8.0, min(40.0, 0.45 * fs)], btype="bandpass", fs=fs, output="sos"),
            sps.butter(2, [0.5, 40.0], btype="bandpass", fs=fs, output="sos"),
            sps.butter(4, 10.0, btype="lowpass", fs=fs, output="sos")]


@pytest.mark.parametrize("fs", [90.0, 250.0, 360.0, 1000.0])
@pytest.mark.parametrize("n", [16, 17, 100, 5000])
def test_sosfiltfilt_same_bits_as_scipy(fs, n):
    rng = np.random.default_rng(int(fs) + n)
    x = np.cumsum(rng.standard_normal(n)) + 3.0
    for sos in _filters(fs):
        assert sos.shape == (2, 6)
        np.testing.assert_array_equal(sosfiltfilt(sos, x), sps.sosfiltfilt(sos, x))
        for padlen in (0, 1, 7, n - 1):
            np.testing.assert_array_equal(sosfiltfilt(sos, x, padlen=padlen),
                                          sps.sosfiltfilt(sos, x, padlen=padlen))


def test_sosfiltfilt_pair_same_bits_as_scipy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(20000)
    sa, sb, sc, sd = _filters(360.0)
    for a, b in [(sa, sb), (sb, sc), (sc, sd), (sa, sa)]:
        ya, yb = sosfiltfilt_pair(a, b, x)
        np.testing.assert_array_equal(ya, sps.sosfiltfilt(a, x))
        np.testing.assert_array_equal(yb, sps.sosfiltfilt(b, x))
        ya, yb = sosfiltfilt_pair(a, b, x, padlen=9)
        np.testing.assert_array_equal(ya, sps.sosfiltfilt(a, x, padlen=9))
        np.testing.assert_array_equal(yb, sps.sosfiltfilt(b, x, padlen=9))


def test_other_filters_and_inputs_go_to_scipy():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(3000)
    one = sps.butter(2, 5.0, btype="highpass", fs=360.0, output="sos")          # 1 section
    three = sps.butter(3, [5.0, 22.0], btype="bandpass", fs=360.0, output="sos")  # 3 sections
    b, a = sps.iirnotch(60.0, 30.0, fs=360.0)
    notch = sps.tf2sos(b, a)
    two = _filters(360.0)[0]
    for sos in (one, three, notch):
        np.testing.assert_array_equal(sosfiltfilt(sos, x), sps.sosfiltfilt(sos, x))
    ya, yb = sosfiltfilt_pair(two, three, x)
    np.testing.assert_array_equal(ya, sps.sosfiltfilt(two, x))
    np.testing.assert_array_equal(yb, sps.sosfiltfilt(three, x))
    x32 = x.astype(np.float32)  # not float64: scipy computes it
    np.testing.assert_array_equal(sosfiltfilt(two, x32), sps.sosfiltfilt(two, x32))
    with pytest.raises(ValueError):  # scipy's own error for a too short signal
        sosfiltfilt(two, x[:10])


def test_odd_extension_length_is_scipys_default():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(400)
    for sos in _filters(360.0) + [sps.butter(2, 5.0, btype="highpass", fs=360.0, output="sos")]:
        n = odd_extension_length(sos)
        np.testing.assert_array_equal(sps.sosfiltfilt(sos, x),
                                      sps.sosfiltfilt(sos, x, padlen=n))


def test_detector_filtfilt_and_ecg_clean_same_bits_as_scipy():
    rng = np.random.default_rng(3)
    fs = 360.0
    x = np.cumsum(rng.standard_normal(7200)) + np.sin(np.arange(7200) / 40.0)
    front = _front_end(fs)
    for sos in (front.sos_qrs, front.sos_slope):
        for seg in (x, x[:30], x[:2]):
            edge = min(seg.size - 1, 3 * (2 * len(sos) + 1))
            np.testing.assert_array_equal(_filtfilt(sos, seg),
                                          sps.sosfiltfilt(sos, seg, padlen=edge))
    ref = sps.sosfiltfilt(sps.butter(2, [0.5, 40.0], btype="bandpass", fs=fs, output="sos"),
                          x - np.mean(x))
    np.testing.assert_array_equal(ecg_clean(x, sampling_rate=fs), ref)
    ref = sps.sosfiltfilt(sps.butter(3, [1.0, 30.0], btype="bandpass", fs=fs, output="sos"),
                          x - np.mean(x))
    np.testing.assert_array_equal(
        ecg_clean(x, sampling_rate=fs, lowcut_hz=1.0, highcut_hz=30.0, order=3), ref)


def test_odd_order_noncontiguous_and_invalid_sections_as_scipy():
    """Two-section filters of odd order (one section of first order: zero b2/a2, which
    shortens scipy's default padding), non-contiguous input, and the inputs scipy rejects
    (a0 != 1, a float padlen) behave exactly as in scipy."""
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.standard_normal(4000))
    for sos in (sps.butter(3, 12.0, btype="lowpass", fs=360.0, output="sos"),
                sps.butter(3, 1.0, btype="highpass", fs=360.0, output="sos")):
        assert sos.shape == (2, 6)
        assert odd_extension_length(sos) < 3 * (2 * sos.shape[0] + 1)
        for xx in (x, x[::3], x[::-1]):
            np.testing.assert_array_equal(sosfiltfilt(sos, xx), sps.sosfiltfilt(sos, xx))
            ya, yb = sosfiltfilt_pair(sos, sos, xx)
            np.testing.assert_array_equal(ya, sps.sosfiltfilt(sos, xx))
            np.testing.assert_array_equal(yb, sps.sosfiltfilt(sos, xx))
    bad = _filters(360.0)[0].copy()
    bad[0, 3:] *= 2.0          # the same filter with a0 = 2: scipy refuses it
    with pytest.raises(ValueError) as expected:
        sps.sosfiltfilt(bad, x)
    with pytest.raises(ValueError, match=re.escape(str(expected.value))):
        sosfiltfilt(bad, x)
    with pytest.raises(ValueError, match=re.escape(str(expected.value))):
        sosfiltfilt_pair(bad, _filters(360.0)[1], x)
    with pytest.raises(TypeError):
        sps.sosfiltfilt(_filters(360.0)[0], x, padlen=7.5)
    with pytest.raises(TypeError):
        sosfiltfilt(_filters(360.0)[0], x, padlen=7.5)


@pytest.mark.parametrize("n", [30, 31, 5000])
def test_subtract_same_bits_as_filtering_the_difference(n):
    """``subtract=mu`` (the difference taken while padding, as ``ecg_clean`` removes the
    mean) gives scipy's ``sosfiltfilt`` of ``x - mu``, bit for bit, on the compiled path
    and on scipy's."""
    rng = np.random.default_rng(n)
    x = np.cumsum(rng.standard_normal(n)) + 3.0
    mu = float(np.mean(x))
    three = sps.butter(3, [5.0, 22.0], btype="bandpass", fs=360.0, output="sos")
    for sos in _filters(360.0) + [three]:
        for padlen in (None, 1, 7, n - 1):
            got = sosfiltfilt(sos, x, padlen=padlen, subtract=mu)
            ref = sps.sosfiltfilt(sos, x - mu, padlen=padlen)
            np.testing.assert_array_equal(got.view(np.int64), ref.view(np.int64))


def test_signed_zeros_and_non_finite_values_same_bits_as_scipy():
    """Signed zeros, infinities and NaNs (quiet and signalling) pass the compiled padding
    (``x - 0.0`` when nothing is subtracted) with the bits scipy gives."""
    sos_a, sos_b = _filters(360.0)[:2]
    snan = np.array([0x7FF0000000000001], dtype=np.uint64).view(np.float64)[0]
    rng = np.random.default_rng(7)
    cases = [np.full(100, -0.0), np.tile([-0.0, 0.0, 5e-324, -5e-324], 25)]
    for bad in (np.inf, -np.inf, np.nan, snan):
        x = rng.standard_normal(200)
        x[[0, 90, -1]] = bad
        cases.append(x)
    for x in cases:
        a, b = sosfiltfilt_pair(sos_a, sos_b, x)
        for got, sos in ((sosfiltfilt(sos_a, x), sos_a), (a, sos_a), (b, sos_b)):
            with np.errstate(invalid="ignore"):  # scipy's padding of a signalling NaN
                ref = sps.sosfiltfilt(sos, x)
            np.testing.assert_array_equal(got.view(np.int64), ref.view(np.int64))
