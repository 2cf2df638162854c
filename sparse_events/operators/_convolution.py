"""Matrix-free convolution and dictionary operators."""

from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import LinearOperator

from .._validation import check_int, check_kernel, check_option
from ._filtering import FilterBank, choose_method

MODES = ("causal", "full", "same", "valid")
METHODS = ("auto", "direct", "fft")


def mode_geometry(mode: str, n_samples: int, kernel_length: int):
    """Output length ``M`` and row shift of a convolution mode.

    Column ``j`` of the operator holds the kernel in rows ``j - shift + l``,
    ``l = 0..L-1``, restricted to ``0 <= row < M``.

    ==========  =================  ===============
    mode        M (output length)  shift
    ==========  =================  ===============
    "full"      N + L - 1          0
    "causal"    N                  0
    "same"      N                  (L - 1) // 2
    "valid"     N - L + 1          L - 1
    ==========  =================  ===============
    """
    check_option(mode, "mode", MODES)
    n_samples = check_int(n_samples, "n_samples", low=1)
    L = check_int(kernel_length, "kernel_length", low=1)
    if mode == "full":
        return n_samples + L - 1, 0
    if mode == "causal":
        return n_samples, 0
    if mode == "same":
        return n_samples, (L - 1) // 2
    if L > n_samples:
        raise ValueError(
            f"kernel of length {L} is longer than the signal (n_samples={n_samples}); "
            "mode='valid' needs kernel length <= n_samples")
    return n_samples - L + 1, L - 1


def coef_length(mode: str, signal_length: int, kernel_length: int) -> int:
    """Number of coefficients ``N`` for an observed signal of length ``M``."""
    check_option(mode, "mode", MODES)
    signal_length = check_int(signal_length, "signal_length", low=1)
    kernel_length = check_int(kernel_length, "kernel_length", low=1)
    if mode == "full":
        n = signal_length - kernel_length + 1
        if n < 1:
            raise ValueError(
                f"kernel of length {kernel_length} is longer than the signal "
                f"({signal_length} samples); mode='full' needs kernel_length <= "
                "signal_length")
        return n
    if mode == "valid":
        if kernel_length > signal_length:
            raise ValueError(
                f"kernel of length {kernel_length} is longer than the signal "
                f"({signal_length} samples); mode='valid' needs kernel_length <= "
                "signal_length")
        return signal_length + kernel_length - 1
    if mode == "same" and kernel_length > signal_length:
        # the centred window of a kernel longer than the signal is not defined (numpy's
        # "same" returns max(M, N) samples); in "causal" mode taps beyond the signal never
        # reach an output, so the N x N operator is exact there
        raise ValueError(
            f"kernel has {kernel_length} taps, more than the {signal_length} samples of y "
            "(the signal): mode='same' (a centred window) needs kernel_length <= "
            "signal_length; pass a longer signal or a shorter kernel")
    return signal_length


class _BankOperator(LinearOperator):
    """Common machinery: a bank of P kernels acting on P coefficient rows of length N."""

    def __init__(self, kernels, n_samples, mode, method, dtype_name):
        kernels = check_kernel(kernels, dtype_name, ndim=2)
        n_samples = check_int(n_samples, "n_samples", low=1)
        self.mode = check_option(mode, "mode", MODES)
        check_option(method, "method", METHODS)
        self.n_samples = n_samples
        self.kernels = kernels
        self.n_kernels, self.kernel_length = kernels.shape
        self.n_outputs, self.shift = mode_geometry(mode, n_samples, self.kernel_length)
        if method == "auto":
            method = choose_method(n_samples, self.kernel_length, self.n_kernels)
        self.method = method
        self._bank = FilterBank(kernels, method)
        super().__init__(dtype=kernels.dtype,
                         shape=(self.n_outputs, self.n_kernels * n_samples))

    # -- batch engines on row-major signals ----------------------------
    _squeeze_kernel_axis = False  # True for a single kernel: coef shape (..., N)

    def _coef_to_bank(self, coef):
        coef = np.asarray(coef)
        core = (self.n_samples,) if self._squeeze_kernel_axis else (self.n_kernels, self.n_samples)
        if coef.shape[len(coef.shape) - len(core):] != core:
            raise ValueError(f"coef must have shape (..., {', '.join(map(str, core))}), "
                             f"got {coef.shape}")
        lead = coef.shape[: coef.ndim - len(core)]
        return coef.reshape(-1, self.n_kernels, self.n_samples), lead

    def forward(self, coef: np.ndarray) -> np.ndarray:
        """Apply the operator along the last axes.

        coef : array of shape (..., P, N) (dictionary) or (..., N) (single kernel).
        Returns an array of shape (..., M); leading axes index signals.
        """
        s, lead = self._coef_to_bank(coef)
        full = self._bank.full_convolve(s)
        out = full[:, self.shift: self.shift + self.n_outputs]
        return out.reshape(lead + (self.n_outputs,))

    def adjoint(self, signal=None):
        """Adjoint operator (scipy's contract), or the adjoint applied to signals.

        Parameters
        ----------
        signal : array_like of shape (..., M), optional
            Signals, one per row along the last axis (leading axes index
            signals).  Omitted (``None``): scipy's
            :meth:`scipy.sparse.linalg.LinearOperator.adjoint` is followed.

        Returns
        -------
        LinearOperator or ndarray
            Without ``signal``: the adjoint ``A^H`` as a ``LinearOperator`` of
            shape ``(P N, M)``, the same operator as ``self.H``.  With
            ``signal``: ``A^T`` applied to every signal, an array of shape
            ``(..., P, N)`` for a dictionary and ``(..., N)`` for a single kernel.
        """
        if signal is None:
            return super().adjoint()
        return self._apply_adjoint(signal)

    def _apply_adjoint(self, signal):
        """``A^T`` along the last axis of ``signal`` (shape (..., M))."""
        signal = np.asarray(signal)
        if signal.shape[-1:] != (self.n_outputs,):
            raise ValueError(f"signal must have shape (..., {self.n_outputs}), got {signal.shape}")
        lead = signal.shape[:-1]
        z = signal.reshape(-1, self.n_outputs)
        L, N = self.kernel_length, self.n_samples
        padded = np.zeros((z.shape[0], N + L - 1), dtype=np.result_type(z.dtype, self.dtype))
        padded[:, self.shift: self.shift + self.n_outputs] = z
        x = self._bank.correlate(padded)
        if self._squeeze_kernel_axis:
            return x.reshape(lead + (N,))
        return x.reshape(lead + (self.n_kernels, N))

    # -- LinearOperator protocol (column vectors) -----------------------
    def _matvec(self, x):
        x = np.asarray(x).reshape(self.n_kernels, self.n_samples)
        return self._bank.full_convolve(x[None])[0, self.shift: self.shift + self.n_outputs]

    def _rmatvec(self, y):
        y = np.asarray(y).reshape(-1)
        return self._apply_adjoint(y[None])[0].reshape(-1)

    def _matmat(self, X):
        X = np.asarray(X)
        coef = X.T.reshape(X.shape[1], self.n_kernels, self.n_samples)
        full = self._bank.full_convolve(coef)
        return full[:, self.shift: self.shift + self.n_outputs].T

    def _rmatmat(self, Y):
        Y = np.asarray(Y)
        x = self._apply_adjoint(Y.T)
        return x.reshape(Y.shape[1], -1).T

    def _adjoint(self):
        return _AdjointOperator(self)

    # -- norms -----------------------------------------------------------
    def lipschitz_constant(self) -> float:
        """Upper bound of ``||A||_2^2`` (the Lipschitz constant of ``A^T (A x - y)``).

        Computed as the supremum over frequency of ``sum_p |H_p(w)|^2`` (an
        upper bound for every mode since each is a submatrix of the bi-infinite
        Toeplitz operator), evaluated rigorously on a fine grid; for long signals
        it is tight to a few percent.
        """
        return self._bank.frequency_response_bound()

    def norm(self) -> float:
        """Upper bound of the spectral norm ``||A||_2`` (square root of the Lipschitz constant)."""
        return float(np.sqrt(self.lipschitz_constant()))

    def column_norms2(self) -> np.ndarray:
        """Squared Euclidean norm of every column, shape (P, N)."""
        cs = np.concatenate([np.zeros((self.n_kernels, 1)),
                             np.cumsum(self.kernels.astype(np.float64) ** 2, axis=1)], axis=1)
        j = np.arange(self.n_samples)
        L = self.kernel_length
        # rows j - shift + l in [0, M)  <=>  l in [shift - j, M + shift - j)
        lo = np.clip(self.shift - j, 0, L)
        hi = np.clip(self.n_outputs + self.shift - j, 0, L)
        return cs[:, hi] - cs[:, lo]

    def todense(self) -> np.ndarray:
        """Explicit matrix (for tests and small problems)."""
        return self.matmat(np.eye(self.shape[1], dtype=self.dtype))


class _AdjointOperator(LinearOperator):
    def __init__(self, op):
        self._op = op
        super().__init__(dtype=op.dtype, shape=(op.shape[1], op.shape[0]))

    def _matvec(self, x):
        return self._op._rmatvec(x)

    def _rmatvec(self, x):
        return self._op._matvec(x)

    def _matmat(self, X):
        return self._op._rmatmat(X)

    def _rmatmat(self, X):
        return self._op._matmat(X)

    def _adjoint(self):
        return self._op


class ConvolutionOperator(_BankOperator):
    r"""Convolution with one kernel as a matrix-free ``LinearOperator``.

    ``H s`` is the convolution of the length-``N`` coefficient vector ``s`` with
    ``kernel`` (``h``, length ``L``), cut according to ``mode``:

    * ``"causal"`` (default): the ``N x N`` lower-triangular Toeplitz matrix of
      Luengo, Via and Trigano (eq. 6), ``y[n] = sum_l h[l] s[n - l]``,
      ``n = 0..N-1``;
    * ``"full"``: ``numpy.convolve(s, h)``, ``N + L - 1`` outputs;
    * ``"same"``: ``N`` outputs centred as ``scipy.signal.convolve(s, h, "same")``
      (the full result from index ``(L - 1) // 2``);
    * ``"valid"``: ``N - L + 1`` outputs where the kernel fully overlaps (``L <= N``).

    Parameters
    ----------
    kernel : array_like of shape (L,)
        Event shape (finite, not identically zero).  float32 kernels give a
        float32 operator; integers are converted to float64.
    n_samples : int
        Length ``N`` of the coefficient vector ``s``.
    mode : {"causal", "full", "same", "valid"}
    method : {"auto", "direct", "fft"}
        Filtering engine; ``"auto"`` picks direct convolution or FFT overlap-add
        (kernel spectra cached) by estimated cost.

    Attributes
    ----------
    n_outputs : int
        Output length ``M``.
    shift : int
        Column ``j`` holds the kernel from row ``j - shift``.
    method : str
        The engine in use.

    Notes
    -----
    ``matvec``/``rmatvec``/``matmat`` follow scipy's column convention; the
    methods ``forward(s)`` and ``adjoint(y)`` act on the last axis of arrays of
    any leading shape (several signals at once, one per row).  ``adjoint()``
    without an argument returns the adjoint operator, as scipy's
    :meth:`~scipy.sparse.linalg.LinearOperator.adjoint` does (the same as ``.H``).
    """

    _squeeze_kernel_axis = True

    def __init__(self, kernel, n_samples, mode="causal", *, method="auto"):
        kernel = check_kernel(kernel, "kernel", ndim=1)
        super().__init__(kernel[None, :], n_samples, mode, method, "kernel")
        self.kernel = self.kernels[0]

    def column_norms2(self):
        return super().column_norms2()[0]


class DictionaryOperator(_BankOperator):
    r"""Block-row operator ``[H_1 ... H_P]`` of several kernels (multi-template model).

    ``A x = sum_p H_p s_p`` where ``x`` stacks the ``P`` coefficient vectors
    ``s_p`` (each of length ``N``): as a column vector ``x = [s_1; ...; s_P]``, as an
    array ``coef`` of shape ``(P, N)``.  Every ``H_p`` is a
    :class:`ConvolutionOperator` with the same ``mode``.

    Parameters
    ----------
    kernels : array_like of shape (P, L)
        One kernel per row; kernels of different lengths are zero-padded by the
        caller to a common length ``L``.
    n_samples : int
        Length ``N`` of each coefficient vector.
    mode, method
        As in :class:`ConvolutionOperator`.

    Notes
    -----
    ``forward(coef)`` takes arrays of shape (..., P, N) and ``adjoint(y)``
    returns them; ``adjoint()`` without an argument returns the adjoint
    operator, as scipy's :meth:`~scipy.sparse.linalg.LinearOperator.adjoint`
    does (the same as ``.H``).
    """

    def __init__(self, kernels, n_samples, mode="causal", *, method="auto"):
        super().__init__(kernels, n_samples, mode, method, "kernels")
