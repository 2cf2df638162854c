"""Designs: the linear map ``A`` of the least-squares datafit, in every form we accept.

``as_design`` wraps a convolution/dictionary operator (banded: coordinate
descent touches kernel-length pieces of the residual), a dense matrix, a
scipy.sparse matrix (optionally centred implicitly, for intercepts) or any
``scipy.sparse.linalg.LinearOperator`` (FISTA only).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, svds

from .._validation import _describe, all_finite, as_float_array, check_scalar
from ..operators._convolution import _BankOperator
from . import _cd_kernels as kern


def _checked_dense(X, name):
    """``X`` as a validated Fortran-ordered float64 matrix (no copy when it already is one)."""
    arr = as_float_array(X, name, dtype=np.float64, ndim=2)
    return np.asfortranarray(arr)


def _checked_sparse(X, name):
    """``X`` as a validated CSC float64 matrix with sorted indices.

    The checks are one pass over the stored entries: no densification.
    """
    if X.dtype.kind not in "biuf":
        kind = "complex" if X.dtype.kind == "c" else "non-numeric"
        raise TypeError(f"{name} must be a real-valued sparse matrix, got {kind} dtype "
                        f"{X.dtype} ({type(X).__name__})")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got a {X.ndim}-D sparse array of shape {X.shape}")
    X = sp.csc_matrix(X, dtype=np.float64)
    if not all_finite(X.data):
        bad = np.flatnonzero(~np.isfinite(X.data))
        row = int(X.indices[bad[0]])
        col = int(np.searchsorted(X.indptr, bad[0], side="right") - 1)
        kind = "NaN" if np.isnan(X.data[bad[0]]) else "infinite"
        raise ValueError(
            f"{name} must contain only finite values; found {bad.size} non-finite stored "
            f"value(s), the first ({kind}) at index ({row}, {col})")
    if not X.has_sorted_indices:
        # a sorted copy: csc_matrix(X) shares the arrays of a float64 CSC X, and sorting
        # in place would reorder the caller's matrix
        X = X.sorted_indices()
    return X


def _power_iteration(matvec, rmatvec, n_features, n_iter=100, rng_seed=0):
    """Largest squared singular value by power iteration on A^T A (upper-biased 1 %)."""
    v = np.random.default_rng(rng_seed).standard_normal(n_features)
    v /= np.linalg.norm(v)
    lam = 0.0
    for _ in range(n_iter):
        w = rmatvec(matvec(v))
        new = float(np.linalg.norm(w))
        if new == 0.0:
            return 0.0
        v = w / new
        if abs(new - lam) <= 1e-6 * new:
            lam = new
            break
        lam = new
    return lam * 1.01


class Design:
    """Interface; see the module docstring."""

    supports_cd = False
    n_rows: int
    n_features: int
    # whether cd_epochs / cd_violation accept a size-1 (shared) threshold array
    shared_threshold = False

    def matvec(self, x):  # pragma: no cover - interface
        raise NotImplementedError

    def rmatvec(self, r):  # pragma: no cover - interface
        raise NotImplementedError

    def lipschitz(self) -> float:
        if getattr(self, "_lip", None) is None:
            self._lip = self._compute_lipschitz()
        return self._lip

    def _compute_lipschitz(self):
        return _power_iteration(self.matvec, self.rmatvec, self.n_features)

    # -- helpers of the coordinate-descent outer loop (overridden when faster) --
    def cd_scores(self, x, r, thresh, positive, scores):
        """Optimality measures of a weighted L1 problem and working-set scores.

        Returns ``[r^T r, pen, c^T x, kkt, dual_scaling, max|c|, n_support,
        n_violators]`` with ``c = A^T r`` (see ``_cd_kernels.banded_scores``)
        and fills ``scores`` (inf on the support, KKT distance elsewhere).
        """
        corr = np.ascontiguousarray(self.rmatvec(r), dtype=np.float64)
        return kern.scores_from_corr(x, corr, r, thresh, positive, scores)

    def delta_rr(self, r, ws, delta):
        """``||r - A[:, ws] delta||^2 - ||r||^2``, or None when not cheaper than a copy."""
        return None

    def residual_into(self, y, x, r):
        """``r[:] = y - A x``."""
        r[:] = y - self.matvec(x)

    def newton_step(self, x, r, ws, thresh, positive):
        """Active-set Newton step on the support (None when not available)."""
        return None


class BandedDesign(Design):
    """A :class:`ConvolutionOperator` or :class:`DictionaryOperator` (flat coefficients)."""

    supports_cd = True
    shared_threshold = True

    def __init__(self, op: _BankOperator):
        if not isinstance(op, _BankOperator):
            raise TypeError(f"op must be a ConvolutionOperator or DictionaryOperator, "
                            f"got {_describe(op)}")
        self.op = op
        self.kernels = np.ascontiguousarray(op.kernels, dtype=np.float64)
        self.n_kernels, self.n_samples = op.n_kernels, op.n_samples
        self.shift, self.n_rows = op.shift, op.n_outputs
        self.n_features = self.n_kernels * self.n_samples
        self._norms2 = None
        self._lip = None
        # cumulative kernel energies: ||column||^2 = cumsq[p, l1] - cumsq[p, l0]
        # (the same arithmetic as ConvolutionOperator.column_norms2)
        self.cumsq = np.concatenate(
            [np.zeros((self.n_kernels, 1)), np.cumsum(self.kernels ** 2, axis=1)], axis=1)
        self._cross = None  # kernel cross-products, for Newton steps
        self._stencils = None  # their Gram stencils, for correlation updates

    def matvec(self, x):
        return self.op._bank.full_convolve(
            np.asarray(x, dtype=np.float64).reshape(1, self.n_kernels, self.n_samples)
        )[0, self.shift: self.shift + self.n_rows]

    def rmatvec(self, r):
        return self.op.adjoint(np.asarray(r, dtype=np.float64)).ravel()

    def _compute_lipschitz(self):
        return self.op.lipschitz_constant()

    def col_norms2(self):
        if self._norms2 is None:
            self._norms2 = np.ascontiguousarray(self.op.column_norms2(), dtype=np.float64).ravel()
        return self._norms2

    def cd_epochs(self, x, r, ws, thresh, positive, n_epochs):
        return kern.banded_epochs_ws(x, r, ws, self.kernels, self.cumsq, self.n_samples,
                                     self.shift, self.n_rows, thresh, positive, n_epochs)

    def cd_violation(self, x, r, ws, thresh, positive):
        return kern.banded_violation_ws(x, r, ws, self.kernels, self.n_samples, self.shift,
                                        self.n_rows, thresh, positive)

    def cd_scores(self, x, r, thresh, positive, scores):
        return kern.banded_scores(x, r, self.kernels, self.n_samples, self.shift, self.n_rows,
                                  thresh, positive, scores)

    # -- the banded fast path of coordinate descent (weighted L1) --
    def cd_epoch_violation(self, xw, r, ws, thresh, positive, inside=None):
        """One epoch on the working set's coefficients ``xw`` (``xw[i]`` is
        coefficient ``ws[i]``); returns ``(sign-pattern changes, largest KKT
        distance before an update)`` (``_cd_kernels.banded_epoch_violation``, or
        its form for short kernels).  ``inside``: :meth:`cd_inside_range` of
        ``ws`` (computed when not given; a caller running several epochs on
        one working set passes it)."""
        args = (xw, r, ws, self.kernels, self.cumsq, self.n_samples, self.shift,
                self.n_rows, thresh, positive, self._prefetch_ahead(ws))
        if self.kernels.shape[1] >= kern._SHORT_TAPS:
            return kern.banded_epoch_violation(*args)
        if inside is None:
            inside = self.cd_inside_range(ws)
        return kern.banded_epoch_violation_short(*args, *inside)

    def cd_dirty_epochs(self):
        """Whether :meth:`cd_epoch_violation_dirty` serves this design (one kernel
        shorter than ``_cd_kernels._SHORT_TAPS`` taps)."""
        return self.n_kernels == 1 and self.kernels.shape[1] < kern._SHORT_TAPS

    def cd_epoch_violation_dirty(self, xw, r, ws, thresh, positive, dirty, pend, slack,
                                 inside):
        """:meth:`cd_epoch_violation` visiting only the coordinates flagged in
        ``dirty`` (uint8, one per ``ws`` entry; with ``pend``, float64, updated:
        see ``_cd_kernels.banded_epoch_violation_dirty``; unflagged coordinates
        have a KKT distance of at most ``slack``); needs :meth:`cd_dirty_epochs`
        and a sorted ``ws``.  ``inside``: :meth:`cd_inside_range` of ``ws``."""
        changes, viol, _ = kern.banded_epoch_violation_dirty(
            xw, r, ws, self.kernels, self.cumsq, self.n_samples, self.shift, self.n_rows,
            thresh, positive, dirty, pend, slack, *inside)
        return changes, viol

    def cd_epoch_violation_flags(self, xw, r, ws, thresh, positive, dirty, pend, slack,
                                 inside):
        """:meth:`cd_epoch_violation` (every coordinate) leaving the flags and
        bounds of :meth:`cd_epoch_violation_dirty` in ``dirty`` and ``pend``;
        returns ``(changes, violation, number flagged)``."""
        prev = xw.copy()
        changes, viol = self.cd_epoch_violation(xw, r, ws, thresh, positive, inside)
        L = self.kernels.shape[1]
        n_flag = kern.flags_after_epoch(ws, xw, prev, self.cumsq[0, L], L, slack, dirty,
                                        pend)
        return changes, viol, n_flag

    def cd_flag_overlapping(self, ws, pos, dirty):
        """Flag in ``dirty`` the positions ``pos`` of the sorted ``ws`` and those
        whose columns overlap theirs (one kernel)."""
        kern.flag_overlapping(ws, pos, self.kernels.shape[1], dirty)

    def cd_inside_range(self, ws):
        """The positions of ``ws`` whose columns lie inside the rows, for the
        short path of ``_cd_kernels.banded_epoch_violation_short``.

        Found by bisection in a sorted ``ws``, then verified (an unsorted ``ws``
        may get an empty range).

        Parameters
        ----------
        ws : ndarray of int64
            The working set (coefficient indices, distinct; sorted for a
            non-empty range).

        Returns
        -------
        i_lo, i_hi : int
            Every column ``ws[i_lo:i_hi]`` starts in ``0 .. n_rows - L`` (all
            its ``L`` taps inside the rows); ``(0, 0)`` (no short path) when the
            epoch cannot use the range: several kernels, kernels of
            ``_cd_kernels._SHORT_TAPS`` taps or more (the long-kernel epoch),
            prefetch hints on (:meth:`_prefetch_ahead`), kernels longer than
            the rows, or no such column, or an unsorted ``ws`` where the check
            fails.
        """
        P, L = self.kernels.shape
        if (P != 1 or L >= kern._SHORT_TAPS or L > self.n_rows or ws.size == 0
                or self._prefetch_ahead(ws) != 0):
            return 0, 0
        first, last = self.shift, self.n_rows - L + self.shift  # inside: first..last
        lo = int(np.searchsorted(ws, first))
        hi = int(np.searchsorted(ws, last, side="right"))
        if hi <= lo:
            return 0, 0
        part = ws[lo:hi]
        if part.min() < first or part.max() > last:
            return 0, 0  # (ws not sorted)
        return lo, hi

    def _prefetch_ahead(self, ws):
        """Prefetch distance of the kernels working on ``ws``:
        ``_cd_kernels._PREFETCH_AHEAD`` on residuals of at least
        ``_cd_kernels._PREFETCH_MIN_ROWS`` rows (beyond the last-level cache)
        and working sets sparse enough (at least ``_cd_kernels._PREFETCH_MIN_GAP``
        coefficients per working-set coordinate), else 0 (no hints).  The
        results are the same bits either way."""
        if (self.n_rows >= kern._PREFETCH_MIN_ROWS
                and ws.size * kern._PREFETCH_MIN_GAP <= self.n_features):
            return kern._PREFETCH_AHEAD
        return 0

    def cd_candidates(self, x, nz, r, thresh, positive, cand, cscores, store=None):
        """Optimality measures as :meth:`cd_scores`, listing the working-set
        candidates in ``cand`` / ``cscores`` (``_cd_kernels.banded_scores_cand``;
        ``store``: an array of ``n_features`` that receives ``A^T r``)."""
        args = (self.kernels, self.n_samples, self.shift, self.n_rows, thresh, positive, cand,
                cscores)
        if store is not None:
            return kern.banded_scores_cand_store(x, nz, r, *args, store)
        return kern.banded_scores_cand(x, nz, r, *args)

    def cd_candidates_from_corr(self, x, nz, r, corr, thresh, positive, cand, cscores):
        """As :meth:`cd_candidates`, given ``corr = A^T r``."""
        return kern.scores_cand_from_corr(x, nz, r, corr, thresh, positive, cand, cscores)

    def cd_corr_update(self, corr, ws, delta):
        """``corr -= A^T A[:, ws] delta`` (banded Gram; ``corr`` follows ``A^T r``
        when the coefficients ``ws`` change by ``delta``)."""
        if self._cross is None:
            self._cross = kern.kernel_cross_products(self.kernels)
        if self._stencils is None:
            self._stencils = kern.gram_stencils(self._cross)
        kern.banded_gram_update(corr, ws, delta, self.kernels, self._cross, self._stencils,
                                self.n_samples, self.shift, self.n_rows)

    def delta_rr(self, r, ws, delta):
        return kern.banded_delta_rr(r, ws, delta, self.kernels, self.n_samples, self.shift,
                                    self.n_rows)

    def newton_step(self, x, r, ws, thresh, positive):
        if self._cross is None:
            self._cross = kern.kernel_cross_products(self.kernels)
        return kern.banded_newton(x, r, ws, self.kernels, self._cross, self.n_samples,
                                  self.shift, self.n_rows, thresh, positive,
                                  ahead=self._prefetch_ahead(ws))

    def newton_positions(self, ws, xw, prev, t_min):
        """Positions (into ``ws``) of the support blocks a Newton step may still
        move since the snapshot ``prev`` of the working set's coefficients ``xw``
        taken after the last Newton step (``_cd_kernels.newton_dirty_positions``;
        ``t_min``: the smallest threshold), or None (all of ``ws``: several
        kernels, whose columns ``ws`` does not order by start)."""
        if self.n_kernels != 1:
            return None
        L = self.kernels.shape[1]
        energy = self.cumsq[0, L]
        # a coordinate step of a column whose face gradient is below the Newton
        # step's skip level (1e-9 of the threshold) moves it by at most this
        tau = 1e-9 * t_min / energy if energy > 0.0 else 0.0
        return kern.newton_dirty_positions(ws, xw, prev, tau, L)

    def residual_into(self, y, x, r):
        kern.banded_residual(y, x, self.kernels, self.n_samples, self.shift, self.n_rows, r)

    def apply_delta(self, r, ws, delta):
        kern.banded_apply_delta(r, ws, delta, self.kernels, self.n_samples, self.shift,
                                self.n_rows)

    def columns(self, idx):
        """Sparse CSC matrix of the columns ``idx`` (for refits on a support)."""
        idx = np.asarray(idx, dtype=np.int64)
        L = self.kernels.shape[1]
        p = idx // self.n_samples
        start = idx - p * self.n_samples - self.shift
        rows = start[:, None] + np.arange(L)[None, :]
        vals = self.kernels[p]
        keep = (rows >= 0) & (rows < self.n_rows)
        cols = np.broadcast_to(np.arange(idx.size)[:, None], rows.shape)
        return sp.csc_matrix((vals[keep], (rows[keep], cols[keep])),
                             shape=(self.n_rows, idx.size))


class DenseDesign(Design):
    """An explicit dense matrix ``X`` of shape (n_rows, n_features).

    Parameters
    ----------
    X : array_like of shape (n_rows, n_features)
        Real, finite, non-empty matrix (stored in Fortran order, as float64).
    """

    supports_cd = True

    def __init__(self, X):
        self._setup(_checked_dense(X, "X"))

    @classmethod
    def _from_checked(cls, X):
        """Wrap a matrix already returned by ``_checked_dense``."""
        self = cls.__new__(cls)
        self._setup(X)
        return self

    def _setup(self, X):
        self.X = X
        self.n_rows, self.n_features = self.X.shape
        self._norms2 = None
        self._lip = None

    def matvec(self, x):
        return self.X @ x

    def rmatvec(self, r):
        return self.X.T @ r

    def _compute_lipschitz(self):
        if min(self.X.shape) <= 500:
            return float(np.linalg.norm(self.X, 2) ** 2) if self.X.size else 0.0
        return _power_iteration(self.matvec, self.rmatvec, self.n_features)

    def col_norms2(self):
        if self._norms2 is None:
            self._norms2 = np.einsum("ij,ij->j", self.X, self.X)
        return self._norms2

    def cd_epochs(self, x, r, ws, thresh, positive, n_epochs):
        kern.dense_epochs(x, r, ws, self.X, self.col_norms2(), thresh, positive, n_epochs)

    def cd_violation(self, x, r, ws, thresh, positive):
        return kern.dense_violation(x, r, ws, self.X, thresh, positive)

    def apply_delta(self, r, ws, delta):
        kern.dense_apply_delta(r, ws, delta, self.X)

    def columns(self, idx):
        return self.X[:, idx]


class SparseDesign(Design):
    """A scipy.sparse matrix ``X``, optionally centred implicitly as ``X - 1 offsets^T``.

    Parameters
    ----------
    X : scipy.sparse matrix or array_like of shape (n_rows, n_features)
        Real matrix with finite stored values (converted to CSC float64).
    offsets : array_like of shape (n_features,), optional
        Finite column offsets ``m`` of the implicit centring ``X - 1 m^T``.
    """

    supports_cd = True

    def __init__(self, X, offsets=None):
        if not sp.issparse(X):
            X = _checked_dense(X, "X")
        self._setup(_checked_sparse(X, "X"), offsets)

    @classmethod
    def _from_checked(cls, X, offsets=None):
        """Wrap a matrix already returned by ``_checked_sparse``."""
        self = cls.__new__(cls)
        self._setup(X, offsets)
        return self

    def _setup(self, X, offsets):
        self.X = X
        self.n_rows, self.n_features = X.shape
        if offsets is None:
            self.offsets = np.zeros(self.n_features)
        else:
            offsets = as_float_array(offsets, "offsets", dtype=np.float64, ndim=1,
                                     allow_empty=True)
            if offsets.size != self.n_features:
                raise ValueError(f"offsets must have one entry per column of X "
                                 f"({self.n_features}), got {offsets.size}")
            self.offsets = np.ascontiguousarray(offsets)
        self.col_sums = np.asarray(X.sum(axis=0)).ravel()
        self.indptr = X.indptr.astype(np.int64)
        self.indices = X.indices.astype(np.int64)
        self._norms2 = None
        self._lip = None

    def matvec(self, x):
        return self.X @ x - float(self.offsets @ x)

    def rmatvec(self, r):
        return self.X.T @ r - self.offsets * float(r.sum())

    def _compute_lipschitz(self):
        if min(self.X.shape) > 2 and not np.any(self.offsets):
            try:
                s = svds(self.X, k=1, return_singular_vectors=False)
                return float(s[0] ** 2) * 1.0001
            except Exception:  # pragma: no cover - ARPACK failure
                pass
        return _power_iteration(self.matvec, self.rmatvec, self.n_features)

    def col_norms2(self):
        if self._norms2 is None:
            sq = np.asarray(self.X.multiply(self.X).sum(axis=0)).ravel()
            m = self.offsets
            self._norms2 = sq - 2 * m * self.col_sums + self.n_rows * m * m
            self._norms2 = np.maximum(self._norms2, 0.0)
        return self._norms2

    def cd_epochs(self, x, r, ws, thresh, positive, n_epochs):
        kern.sparse_epochs(x, r, ws, self.X.data, self.indices, self.indptr, self.offsets,
                           self.col_sums, self.col_norms2(), thresh, positive, n_epochs)

    def cd_violation(self, x, r, ws, thresh, positive):
        return kern.sparse_violation(x, r, ws, self.X.data, self.indices, self.indptr,
                                     self.offsets, thresh, positive)

    def apply_delta(self, r, ws, delta):
        kern.sparse_apply_delta(r, ws, delta, self.X.data, self.indices, self.indptr,
                                self.offsets)

    def columns(self, idx):
        cols = self.X[:, idx].toarray()
        return cols - self.offsets[idx][None, :]


class OperatorDesign(Design):
    """Any ``LinearOperator`` (or object with matvec/rmatvec and shape); FISTA only.

    Parameters
    ----------
    op : scipy.sparse.linalg.LinearOperator or object with ``shape``, ``matvec``, ``rmatvec``
        The linear map; ``shape`` is ``(n_rows, n_features)``.
    lipschitz : float, optional
        Upper bound of ``||op||_2^2`` (``>= 0``); default: ``op.lipschitz_constant()``
        when available, else estimated by power iteration.
    """

    def __init__(self, op, lipschitz=None):
        missing = [a for a in ("shape", "matvec", "rmatvec") if not hasattr(op, a)]
        if missing:
            raise TypeError(f"op must be a LinearOperator (an object with shape, matvec and "
                            f"rmatvec); got {_describe(op)}, which lacks {', '.join(missing)}")
        shape = tuple(op.shape) if isinstance(op.shape, (tuple, list)) else None
        if (shape is None or len(shape) != 2
                or not all(isinstance(d, (int, np.integer)) and d >= 0 for d in shape)):
            raise ValueError(f"op.shape must be a pair of non-negative integers "
                             f"(n_rows, n_features), got {op.shape!r}")
        self.op = op
        self.n_rows, self.n_features = int(shape[0]), int(shape[1])
        self._lip = (None if lipschitz is None
                     else check_scalar(lipschitz, "lipschitz", low=0))
        if self._lip is None and hasattr(op, "lipschitz_constant"):
            self._lip = float(op.lipschitz_constant())

    def matvec(self, x):
        return np.asarray(self.op.matvec(x)).ravel()

    def rmatvec(self, r):
        return np.asarray(self.op.rmatvec(r)).ravel()


def as_design(A) -> Design:
    """Wrap ``A`` in the most efficient :class:`Design`.

    Parameters
    ----------
    A : Design, ConvolutionOperator, DictionaryOperator, ndarray, scipy.sparse matrix or LinearOperator
        The linear map.  Matrices must be 2-D, real and finite (checked once,
        here); operators are trusted to return finite products.

    Returns
    -------
    Design
    """
    if isinstance(A, Design):
        return A
    if isinstance(A, _BankOperator):
        return BandedDesign(A)
    if sp.issparse(A):
        return SparseDesign._from_checked(_checked_sparse(A, "A"))
    if isinstance(A, np.ndarray):
        return DenseDesign._from_checked(_checked_dense(A, "A"))
    if isinstance(A, LinearOperator) or (hasattr(A, "matvec") and hasattr(A, "rmatvec")):
        return OperatorDesign(A)
    raise TypeError(
        "A (the design) must be a Design, ConvolutionOperator, DictionaryOperator, 2-D "
        f"ndarray, scipy.sparse matrix or LinearOperator; got {_describe(A)}")
