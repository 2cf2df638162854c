"""LASSO deconvolution with convolution kernels or dictionaries of kernels."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.optimize import lsq_linear

from .._validation import (
    as_float_array,
    check_bool,
    check_int,
    check_kernel,
    check_option,
    check_scalar,
    check_signal,
    check_weights,
)
from ..operators._convolution import MODES, ConvolutionOperator, DictionaryOperator, coef_length
from ..solvers import Quadratic, SolverResult, WeightedL1, solve
from ..solvers._designs import BandedDesign

__all__ = ["deconvolve", "alpha_max", "make_operator", "debias_coef"]


def _refuse_column_kernel(kernel, name="kernel"):
    """Refuse a 2-D kernel of shape (P, 1), P > 1: P one-tap kernels, i.e. a transposed kernel.

    A dictionary of one-tap kernels is ``P`` multiples of the identity (collinear
    columns at every time), equivalent to the single one-tap kernel of largest
    magnitude: never a useful dictionary, almost surely a column vector (from
    ``np.loadtxt(..., ndmin=2)`` or ``pandas.read_csv``) meant as one kernel.
    """
    if kernel.ndim == 2 and kernel.shape[1] == 1 and kernel.shape[0] > 1:
        P = kernel.shape[0]
        raise ValueError(
            f"{name} has shape {kernel.shape}: a 2-D {name} is read as (n_kernels, n_taps), "
            f"here {P} one-tap kernels, which is almost surely one kernel of {P} taps "
            f"stored as a column; pass a 1-D {name} ({name}.ravel()) or one of shape "
            f"(1, {P}) ({name}.T)")


def _refuse_short_signals(y, n_taps, mode, name="y"):
    """Refuse 2-D signals shorter than the kernel: a transposed (column) signal, typically.

    Refused in every mode, "causal" included (where a 1-D signal shorter than the
    kernel is accepted): signals of ``M < L`` samples read from a 2-D array are
    almost surely one signal stored as a column; genuinely short causal signals
    give the same result with the kernel's first ``M`` taps.
    """
    if y.ndim != 2 or y.shape[1] >= n_taps:
        return
    n_signals, M = y.shape
    msg = (f"{name} has shape {y.shape}, read as (n_signals, n_samples): {n_signals} "
           f"signal{'s' if n_signals != 1 else ''} of {M} sample{'s' if M != 1 else ''}, "
           f"shorter than the kernel "
           f"({n_taps} taps); for one signal pass a 1-D array ({name}.ravel()), or "
           f"transpose {name} ({name}.T) if its signals are along the columns")
    if mode == "causal":
        msg += (f"; genuinely short signals: in mode='causal' only kernel[..., :{M}] acts on "
                f"them, pass it instead of kernel (same result)")
    raise ValueError(msg)


def _prepare(y, kernel, mode):
    """Validate signal(s) and kernel(s); return (Y 2-D, K 2-D, batch, dictionary, N)."""
    check_option(mode, "mode", MODES)
    y = check_signal(y, "y", ndim=(1, 2), dtype=np.float64)
    kernel = check_kernel(kernel, "kernel", ndim=(1, 2), dtype=np.float64)
    _refuse_column_kernel(kernel)
    _refuse_short_signals(y, kernel.shape[-1], mode)
    batch = y.ndim == 2
    dictionary = kernel.ndim == 2
    Y = y if batch else y[None, :]
    K = kernel if dictionary else kernel[None, :]
    N = coef_length(mode, Y.shape[1], K.shape[1])
    return Y, K, batch, dictionary, N


def _weights_matrix(weights, batch, dictionary, n_signals, n_kernels, N):
    """Validate weights and return them as (n_signals, n_features) (or None)."""
    if weights is None:
        return None
    per_signal = _coef_shape(False, dictionary, 1, n_kernels, N)
    target = ((n_signals,) + per_signal) if batch else per_signal
    W = check_weights(weights, target, "weights")
    return np.broadcast_to(W, (n_signals,) + per_signal).reshape(n_signals, -1)


def make_operator(kernel, n_samples, mode="causal", *, method="auto"):
    """:class:`ConvolutionOperator` for a 1-D kernel, :class:`DictionaryOperator` for 2-D.

    A 2-D kernel of shape ``(P, 1)`` with ``P > 1`` (one-tap kernels: a transposed
    column kernel) is refused, as in :func:`deconvolve`.
    """
    kernel = np.asarray(kernel)
    _refuse_column_kernel(kernel)
    if kernel.ndim == 2:
        return DictionaryOperator(kernel, n_samples, mode, method=method)
    return ConvolutionOperator(kernel, n_samples, mode, method=method)


def _per_signal_alpha(alpha, batch, n_signals):
    """One validated alpha per signal (a scalar, or one value per signal when batched)."""
    if np.ndim(alpha) == 0:
        return [check_scalar(alpha, "alpha", low=0)] * n_signals
    if not batch:
        raise ValueError(f"alpha must be a scalar for a single (1-D) signal y, got shape "
                         f"{np.shape(alpha)} (one alpha per signal needs 2-D y: "
                         "(n_signals, n_samples))")
    if np.ndim(alpha) != 1 or len(alpha) != n_signals:
        raise ValueError(f"alpha must be a scalar or have one value per signal "
                         f"({n_signals}), got shape {np.shape(alpha)}")
    return [check_scalar(a, "alpha", low=0) for a in alpha]


def _coef_shape(batch, dictionary, n_signals, n_kernels, N):
    shape = (n_kernels, N) if dictionary else (N,)
    return ((n_signals,) + shape) if batch else shape


def alpha_max(y, kernel, mode="causal", *, weights=None, positive=False):
    r"""Smallest ``alpha`` for which :func:`deconvolve` returns an all-zero solution.

    ``alpha_max = max_i |(H^T y)_i| / w_i`` (with ``(H^T y)_i`` in place of its
    absolute value when ``positive=True``), over every coefficient of every
    kernel.

    Parameters
    ----------
    y : array_like of shape (M,) or (n_signals, M)
        Read as :func:`deconvolve` reads it (2-D signals shorter than the
        kernel are refused).
    kernel : array_like of shape (L,) or (P, L)
        As in :func:`deconvolve` (shape ``(P, 1)``, ``P > 1``, is refused).
    mode : {"causal", "full", "same", "valid"}
    weights : array_like, optional
        Penalty weights, broadcastable to the coefficient shape; coordinates with
        zero weight are ignored.
    positive : bool

    Returns
    -------
    float, or ndarray of shape (n_signals,) for several signals
    """
    positive = check_bool(positive, "positive")
    Y, K, batch, dictionary, N = _prepare(y, kernel, mode)
    op = DictionaryOperator(K, N, mode)
    corr = op.adjoint(Y).reshape(Y.shape[0], -1)
    if positive:
        corr = np.maximum(corr, 0.0)
    else:
        corr = np.abs(corr)
    W = _weights_matrix(weights, batch, dictionary, Y.shape[0], K.shape[0], N)
    if W is not None:
        ratio = np.where(W > 0, corr / np.where(W > 0, W, 1.0), 0.0)
    else:
        ratio = corr
    out = ratio.max(axis=1)
    return out if batch else float(out[0])


def debias_coef(design, y, coef, positive=False):
    """Least-squares refit of the amplitudes on the support of ``coef``.

    Minimises ``||y - A_S c||^2`` over the support ``S`` (with ``c >= 0`` when
    ``positive``); coordinates off the support stay zero.

    Parameters
    ----------
    design : Design, ndarray, scipy.sparse matrix or convolution operator
        ``A`` (wrapped by :func:`sparse_events.solvers.as_design`); it must give
        access to its columns (banded, dense or sparse designs).
    y : array_like of shape (n_rows,)
    coef : array_like of shape (n_features,)
        Flat coefficients whose support is refitted.
    positive : bool

    Returns
    -------
    ndarray of shape (n_features,)
    """
    from ..solvers import as_design

    design = as_design(design)
    if not hasattr(design, "columns"):
        raise TypeError(f"design must give access to its columns (banded, dense or sparse "
                        f"design), got {type(design).__name__}")
    y = as_float_array(y, "y", dtype=np.float64, ndim=1)
    coef = as_float_array(coef, "coef", dtype=np.float64, ndim=1)
    if y.size != design.n_rows:
        raise ValueError(f"y must have {design.n_rows} entries (rows of the design), "
                         f"got {y.size}")
    if coef.size != design.n_features:
        raise ValueError(f"coef must have {design.n_features} entries (columns of the "
                         f"design), got {coef.size}")
    support = np.flatnonzero(coef)
    out = np.zeros_like(coef)
    if support.size == 0:
        return out
    A = design.columns(support)
    if positive:
        res = lsq_linear(A, y, bounds=(0.0, np.inf), method="trf", tol=1e-12,
                         lsmr_tol="auto", max_iter=1000)
        out[support] = res.x
        return out
    if sp.issparse(A):
        G = (A.T @ A).tocsc()
        b = A.T @ y
        try:
            with np.errstate(all="raise"):
                c = spla.spsolve(G, b)
            if not np.all(np.isfinite(c)):
                raise FloatingPointError
        except (FloatingPointError, RuntimeError, spla.MatrixRankWarning):
            c = spla.lsqr(A, y, atol=1e-14, btol=1e-14, iter_lim=10 * support.size)[0]
    else:
        c = np.linalg.lstsq(A, y, rcond=None)[0]
    out[support] = c
    return out


def deconvolve(y, kernel, alpha, *, mode="causal", weights=None, positive=False, tol=1e-6,
               max_iter=100, solver="auto", coef_init=None, debias=False, method="auto"):
    r"""Sparse deconvolution by the (weighted, optionally non-negative) LASSO.

    Solves, for each signal ``y``,

    .. math::

        \min_s \; \tfrac12 \lVert y - H s \rVert_2^2 + \alpha \sum_i w_i |s_i|
        \quad (\text{subject to } s \ge 0 \text{ if positive})

    where ``H`` is the convolution with ``kernel`` in ``mode`` (see
    :class:`~sparse_events.operators.ConvolutionOperator`) or, for a 2-D
    ``kernel`` of ``P`` rows, the dictionary ``[H_1 ... H_P]`` acting on ``P``
    coefficient rows.  Note the scaling: ``0.5 ||.||^2`` without ``1/n``.

    Parameters
    ----------
    y : array_like of shape (M,) or (n_signals, M)
        Signal(s), time along the last axis.  A 2-D ``y`` is read as
        ``(n_signals, M)``: signals shorter than the kernel (``M < L``, e.g. a
        column vector ``(M, 1)``) are refused in every mode.
        Integers (ADC counts) are converted to float64.
    kernel : array_like of shape (L,) or (P, L)
        Event shape(s).  A 2-D ``kernel`` is read as ``(P, L)``, one kernel per
        row; shape ``(P, 1)`` with ``P > 1`` (one-tap kernels, i.e. a
        transposed column kernel) is refused.
    alpha : float
        Regularization strength ``>= 0``; ``alpha >= alpha_max(y, kernel)``
        gives exactly zero.
    mode : {"causal", "full", "same", "valid"}
        Convolution mode.  The number of coefficients ``N`` is ``M`` for
        "causal" and "same", ``M - L + 1`` for "full", ``M + L - 1`` for "valid".
    weights : array_like, optional
        Non-negative weights ``w_i`` broadcastable to the coefficient shape
        (``(N,)`` or ``(P, N)``, with a leading ``n_signals`` axis allowed).
    positive : bool
        Non-negative coefficients.
    tol : float
        Relative duality-gap tolerance: stop when ``gap <= tol * objective``
        (KKT rule relative to ``max|H^T y|`` when some weight is zero).
    max_iter : int
        Outer iterations (coordinate descent) or iterations (FISTA).
    solver : {"auto", "cd", "fista"}
        ``"auto"`` is working-set coordinate descent on the banded operator.
    coef_init : array_like, optional
        Warm start, same shape as the returned ``coef``.
    debias : bool
        Also return ``coef_debiased``, the least-squares refit of the amplitudes
        on the recovered support (``coef`` itself stays the LASSO solution).
    method : {"auto", "direct", "fft"}
        Filtering engine of the operator.

    Returns
    -------
    SolverResult
        ``coef`` has shape ``(N,)``, ``(P, N)``, ``(n_signals, N)`` or
        ``(n_signals, P, N)``.  For several signals ``n_iter``, ``gap``,
        ``kkt_violation``, ``converged`` and ``n_outer`` are arrays with one entry
        per signal, ``objective`` and ``stop_reason`` lists.
    """
    Y, K, batch, dictionary, N = _prepare(y, kernel, mode)
    check_option(solver, "solver", ("auto", "cd", "fista"))
    positive = check_bool(positive, "positive")
    debias = check_bool(debias, "debias")
    alphas = _per_signal_alpha(alpha, batch, Y.shape[0])
    tol = check_scalar(tol, "tol", low=0)
    max_iter = check_int(max_iter, "max_iter", low=1)
    P = K.shape[0]
    n_sig = Y.shape[0]
    W = _weights_matrix(weights, batch, dictionary, n_sig, P, N)
    X0 = None
    if coef_init is not None:
        X0 = as_float_array(coef_init, "coef_init", dtype=np.float64)
        full_shape = _coef_shape(batch, dictionary, n_sig, P, N)
        if X0.shape != full_shape:
            raise ValueError(f"coef_init must have shape {full_shape}, got {X0.shape}")
        X0 = X0.reshape(n_sig, -1)
    op = DictionaryOperator(K, N, mode, method=method)
    design = BandedDesign(op)
    results = []
    for i in range(n_sig):
        # (Y validated by _prepare: no second full pass over the signal)
        datafit = Quadratic(design, Y[i], check_input=False)
        penalty = WeightedL1(alphas[i], None if W is None else W[i], positive=positive)
        res = solve(datafit, penalty, None if X0 is None else X0[i], solver=solver, tol=tol,
                    max_iter=max_iter)
        if debias:
            res.coef_debiased = debias_coef(design, Y[i], res.coef, positive)
        results.append(res)
    return _stack(results, batch, dictionary, P, N)


def _stack(results, batch, dictionary, P, N):
    shape = (P, N) if dictionary else (N,)
    if not batch:
        res = results[0]
        res.coef = res.coef.reshape(shape)
        if res.coef_debiased is not None:
            res.coef_debiased = res.coef_debiased.reshape(shape)
        return res
    deb = None
    if results[0].coef_debiased is not None:
        deb = np.stack([r.coef_debiased.reshape(shape) for r in results])
    return SolverResult(
        coef=np.stack([r.coef.reshape(shape) for r in results]),
        objective=[r.objective for r in results],
        n_iter=np.array([r.n_iter for r in results]),
        gap=np.array([r.gap for r in results]),
        kkt_violation=np.array([r.kkt_violation for r in results]),
        converged=np.array([r.converged for r in results]),
        stop_reason=[r.stop_reason for r in results],
        message="; ".join(f"signal {i}: {r.message}" for i, r in enumerate(results)
                          if r.message),
        solver=results[0].solver,
        tol=results[0].tol,
        n_outer=np.array([r.n_outer for r in results]),
        coef_debiased=deb,
    )
