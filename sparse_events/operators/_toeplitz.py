"""Symmetric banded Toeplitz operator (the cross-products penalty matrix G)."""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import LinearOperator

from .._validation import as_float_array, check_int, check_option
from ._filtering import FilterBank, choose_method


class SymmetricToeplitzOperator(LinearOperator):
    r"""Symmetric Toeplitz matrix ``G`` with ``g[|k|]`` on its ``+-k``-th diagonals.

    ``G[i, j] = g[|i - j|]`` if ``|i - j| <= L_g`` and 0 otherwise, for
    ``i, j = 0..N-1``: ``(G x)[n] = sum_{k=-L_g}^{L_g} g[|k|] x[n - k]``, a
    zero-phase FIR filter of the coefficients.  Self-adjoint.

    Parameters
    ----------
    window : array_like of shape (L_g + 1,)
        One-sided window ``g[0..L_g]`` (finite; may be all zero).
    n_samples : int
        Size ``N`` of the matrix; ``L_g + 1 <= N`` is required.
    method : {"auto", "direct", "fft"}

    Notes
    -----
    ``forward(x)`` and ``adjoint(x)`` act on the last axis of arrays of any
    leading shape; ``adjoint()`` without an argument returns the adjoint
    operator, as scipy's :meth:`~scipy.sparse.linalg.LinearOperator.adjoint`
    does (the same as ``.H``).
    """

    def __init__(self, window, n_samples, *, method="auto"):
        g = as_float_array(window, "window", ndim=1)
        n_samples = check_int(n_samples, "n_samples", low=1)
        check_option(method, "method", ("auto", "direct", "fft"))
        if g.size > n_samples:
            raise ValueError(
                f"window of length {g.size} (L_g = {g.size - 1}) is longer than "
                f"n_samples={n_samples}")
        self.window = g
        self.n_samples = n_samples
        self.half_width = g.size - 1
        taps = np.concatenate([g[:0:-1], g])  # g[L]..g[1], g[0], g[1]..g[L]
        self._taps = taps
        if method == "auto":
            method = choose_method(n_samples, taps.size, 1)
        self.method = method
        self._bank = FilterBank(taps[None, :], method)
        super().__init__(dtype=g.dtype, shape=(n_samples, n_samples))

    def forward(self, x):
        """Apply ``G`` along the last axis of ``x`` (shape (..., N))."""
        x = np.asarray(x)
        if x.shape[-1:] != (self.n_samples,):
            raise ValueError(f"x must have shape (..., {self.n_samples}), got {x.shape}")
        lead = x.shape[:-1]
        full = self._bank.full_convolve(x.reshape(-1, 1, self.n_samples))
        h = self.half_width
        return full[:, h: h + self.n_samples].reshape(lead + (self.n_samples,))

    def adjoint(self, x=None):
        """Adjoint operator (scipy's contract), or ``G^T = G`` applied to ``x``.

        Parameters
        ----------
        x : array_like of shape (..., N), optional
            Omitted (``None``): scipy's
            :meth:`scipy.sparse.linalg.LinearOperator.adjoint` is followed.

        Returns
        -------
        LinearOperator or ndarray
            Without ``x``: the adjoint operator, ``self`` (``G`` is symmetric;
            the same as ``self.H``).  With ``x``: ``forward(x)``, shape (..., N).
        """
        if x is None:
            return super().adjoint()
        return self.forward(x)

    def _matvec(self, x):
        return self.forward(np.asarray(x).reshape(-1))

    _rmatvec = _matvec

    def _matmat(self, X):
        return self.forward(np.asarray(X).T).T

    _rmatmat = _matmat

    def _adjoint(self):
        return self

    def norm(self) -> float:
        """Upper bound of ``||G||_2 = sup_w |g[0] + 2 sum_k g[k] cos(k w)|``."""
        if self.half_width == 0:
            return float(abs(self.window[0]))
        L = self._taps.size
        K = 1 << int(np.ceil(np.log2(64 * L)))
        resp = np.abs(np.fft.rfft(self._taps.astype(np.float64), n=K))
        # |response| is a trig polynomial of degree L_g: Bernstein bound as in FilterBank
        return float(resp.max() / (1.0 - np.pi * self.half_width / K))

    def lipschitz_constant(self) -> float:
        """``||G||_2^2`` upper bound."""
        return self.norm() ** 2

    def todense(self):
        return self.matmat(np.eye(self.n_samples, dtype=self.dtype))
