"""Least-squares datafit ``f(x) = 0.5 ||y - A x||_2^2``."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._validation import as_float_array
from ._designs import as_design


def _refuse_bool_matrix(A):
    """``TypeError`` for a boolean ndarray or scipy.sparse design (a mask passed by mistake)."""
    if (isinstance(A, np.ndarray) or sp.issparse(A)) and A.dtype.kind == "b":
        raise TypeError(f"A must be a real numeric matrix, got a boolean {type(A).__name__} "
                        f"of shape {A.shape} (convert it explicitly, e.g. A.astype(float), "
                        "if 0/1 entries are meant)")


class Quadratic:
    r"""Least-squares datafit ``f(x) = 0.5 * ||y - A x||_2^2`` (no ``1/n`` factor).

    Parameters
    ----------
    A : ConvolutionOperator, DictionaryOperator, ndarray, scipy.sparse matrix or LinearOperator
        The linear map (wrapped by :func:`as_design`).
    y : array_like of shape (n_rows,)
        Observations.
    check_input : bool, default=True
        Validate ``y`` (1-D, finite, converted to float64).  False is for
        callers that validated it already (as scikit-learn's ``check_input``):
        ``y`` is then only made a contiguous float64 array, which saves a full
        pass over a long signal.

    Notes
    -----
    With ``r = y - A x`` and ``c = A^T r = -grad f(x)``, the Fenchel dual of
    ``min_x f(x) + pen(x)`` is ``max_theta  theta^T y - 0.5 ||theta||^2``
    subject to ``A^T theta`` dual-feasible for the penalty; solvers use
    ``theta = r / max(1, s)`` with ``s`` the penalty's dual scaling of ``c``.
    """

    def __init__(self, A, y, *, check_input=True):
        _refuse_bool_matrix(A)
        self.design = as_design(A)
        if check_input:
            y = as_float_array(y, "y", dtype=np.float64, ndim=1, allow_bool=False)
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        if self.y.size != self.design.n_rows:
            raise ValueError(
                f"y has {self.y.size} samples but the operator has {self.design.n_rows} rows")

    @property
    def n_features(self) -> int:
        return self.design.n_features

    def residual(self, x):
        return self.y - self.design.matvec(x)

    def value(self, x):
        r = self.residual(x)
        return 0.5 * float(r @ r)

    def gradient(self, x):
        return -self.design.rmatvec(self.residual(x))

    def lipschitz(self) -> float:
        return self.design.lipschitz()
