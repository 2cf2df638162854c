"""``_validation.all_finite`` (one summation pass, element test only on a non-finite sum)
against the element-wise reference ``np.isfinite(a).all()``."""

from __future__ import annotations

import numpy as np
import pytest

from sparse_events._validation import all_finite, as_float_array

_BIG = np.finfo(np.float64).max


@pytest.mark.parametrize("a", [
    np.array([_BIG, _BIG]),                      # finite entries, overflowing sum
    np.array([_BIG, -_BIG, _BIG, _BIG]),
    np.full(7, np.finfo(np.float32).max, dtype=np.float32),
    np.array([1.0, np.nan, 2.0]),
    np.array([np.inf, -np.inf]),                 # sum NaN
    np.array([-np.inf, 1.0], dtype=np.float32),
    np.zeros(0),
    np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    np.arange(20.0)[::3],                        # non-contiguous view
    np.where(np.eye(4) > 0, np.nan, 1.0)[:, 1:],
    np.array([1, 2, 3], dtype=np.int16),
], ids=lambda a: f"{a.dtype}-{a.shape}")
def test_all_finite_equals_elementwise(a):
    assert all_finite(a) == bool(np.isfinite(a).all())


def test_as_float_array_accepts_finite_values_with_overflowing_sum():
    a = np.array([_BIG, _BIG, -1.0])
    assert as_float_array(a, "a") is a
    with pytest.raises(ValueError, match=r"a must contain only finite values.*\(NaN\) at index 1"):
        as_float_array(np.array([_BIG, np.nan]), "a")
