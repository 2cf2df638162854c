"""Sparse-input products for the cross-products LASSO: ``H s`` and ``G a`` for sparse ``s``, ``a``.

Algorithm 1 evaluates eq. 8 and the weights ``1 + 2 G |s|`` at sparse iterates;
scattering each non-zero through its kernel (or window) costs ``nnz * L``
instead of a full filtering pass over ``N`` samples.  Dense inputs fall back
on the FFT operators.
"""

from __future__ import annotations

import numpy as np

from ..operators import SymmetricToeplitzOperator
from . import _cross_products_kernels as kern

# use the sparse scatter while nnz * taps <= this many times the output length
_SPARSE_FACTOR = 8


class SparseProducts:
    """``H s`` (flat coefficients of ``P`` kernels) and ``G a`` with sparse inputs.

    Parameters
    ----------
    design : BandedDesign
        The convolution (dictionary) design ``H``.
    window : ndarray of shape (L_g + 1,)
        One-sided window ``g`` of ``G``.
    method : {"auto", "direct", "fft"}
        Engine of the dense fallback for ``G``.
    """

    def __init__(self, design, window, method="auto"):
        self.design = design
        self.kernels = np.ascontiguousarray(design.kernels, dtype=np.float64)
        self.n_kernels, self.kernel_length = self.kernels.shape
        self.n_samples = design.n_samples
        self.shift, self.n_rows = design.shift, design.n_rows
        self.window = np.ascontiguousarray(window, dtype=np.float64)
        self.half_width = window.size - 1
        self.window_is_zero = not np.any(window)
        self._method = method
        self._G = None
        self._g_taps = np.concatenate([window[:0:-1], window])
        self._h_offsets = np.arange(self.kernel_length) - self.shift
        # coefficients interact (through H^T H or G) only within this distance
        self.interaction = max(self.kernel_length - 1, self.half_width)

    @property
    def G(self):
        """The :class:`SymmetricToeplitzOperator` of ``G``, built at its first use.

        The dense fallback of :meth:`toeplitz` (sparse magnitudes never need it).
        """
        if self._G is None:
            self._G = SymmetricToeplitzOperator(self.window, self.n_samples,
                                                method=self._method)
        return self._G

    def matvec(self, s):
        """``H s`` for flat ``s`` of length ``P N``."""
        nz = np.flatnonzero(s)
        if nz.size * self.kernel_length > _SPARSE_FACTOR * self.n_rows:
            return self.design.matvec(s)
        return self._scatter(nz, s[nz])

    def matvec_nonzeros(self, nz, values):
        """``H s`` for ``s`` given by its non-zero ``values`` at the increasing flat indices ``nz``.

        The same products as :meth:`matvec` on the dense ``s`` (same bits),
        without scanning a length-``P N`` vector for its non-zeros.
        """
        if nz.size * self.kernel_length > _SPARSE_FACTOR * self.n_rows:
            s = np.zeros(self.n_kernels * self.n_samples)
            s[nz] = values
            return self.design.matvec(s)
        return self._scatter(nz, values)

    def _scatter(self, nz, values):
        p, t = np.divmod(nz, self.n_samples)
        out = np.zeros(self.n_rows)
        kern.scatter_convolution(t, p, np.ascontiguousarray(values, dtype=np.float64),
                                 self.kernels, self.shift, out)
        return out

    def residual(self, y, s):
        """``y - H s`` (computed in the array of ``H s``: one length-``M`` array)."""
        out = self.matvec(s)
        return np.subtract(y, out, out=out)

    def magnitudes(self, s):
        """``a[t] = sum_p |s_p[t]|`` (shape (N,))."""
        a = np.abs(s)
        if self.n_kernels == 1:
            return a
        return a.reshape(self.n_kernels, self.n_samples).sum(axis=0)

    def toeplitz(self, a):
        """``G a`` for non-negative ``a`` of length ``N``."""
        if self.window_is_zero:
            return np.zeros(self.n_samples)
        nz, values = kern.nonzeros(a)
        if nz.size * self._g_taps.size > _SPARSE_FACTOR * self.n_samples:
            out = self.G.forward(a)
            # G a >= 0 exactly; FFT rounding may leave tiny negative values
            return np.maximum(out, 0.0, out=out)
        out = np.zeros(self.n_samples)
        kern.scatter_window(nz, values, self.window, out)
        return out

    def quadratic(self, a):
        """``a^T G a`` for non-negative ``a`` of length ``N``."""
        if self.window_is_zero:
            return 0.0
        nz, values = kern.nonzeros(a)
        return float(kern.quadratic_form(nz, values, self.window))
