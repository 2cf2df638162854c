"""Cross-products LASSO (Luengo, Via and Trigano): iteratively reweighted LASSO, Algorithm 1."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .._exceptions import ConvergenceWarning
from .._threads import with_one_blas_thread
from .._validation import as_float_array, check_bool, check_int, check_option, check_scalar
from ..operators import DictionaryOperator
from ..solvers import SolverResult
from ..solvers._designs import BandedDesign
from ._cross_products_algorithm import algorithm1
from ._cross_products_ops import SparseProducts
from ._cross_products_window import check_window
from ._deconvolve import _prepare, debias_coef

__all__ = ["cross_products_deconvolve", "CrossProductsResult"]


@dataclass
class CrossProductsResult(SolverResult):
    """Outcome of :func:`cross_products_deconvolve` (a :class:`SolverResult`).

    The inherited fields mean, for Algorithm 1:

    ``coef``
        The returned iterate ``s`` (the one of lowest cost, eq. 8).
    ``objective``
        Same as ``cost_history``.
    ``n_iter``, ``n_outer``
        Outer iterations of Algorithm 1 (at most ``max_reweights``), accepted
        or rejected; the final step, when it changes the iterate, adds one
        more entry to the histories (``extra["final_step_applied"]``).
    ``gap``
        ``nan``: the problem is not convex, there is no duality gap.
    ``kkt_violation``
        Stationarity violation of eq. 8 at ``coef``, divided by ``2 beta``:
        the largest distance of ``H^T (y - H s)`` to the subdifferential of
        ``(1 / (2 beta)) gamma(s)^T |.|`` at ``s``, with
        ``gamma(s) = 1 + 2 G |s|`` (zero exactly at the fixed points of the
        reweighting, the stationary points of eq. 8); ``nan`` with
        ``check_kkt=False``.
    ``converged``, ``stop_reason``
        ``"stationary"`` (converged), ``"step_size"``, ``"max_reweights"`` or
        ``"inner_max_iter"`` (not converged, with a :class:`ConvergenceWarning`).
        ``"inner_max_iter"``: the surrogate decrease fell below ``tol``, but the
        last weighted-LASSO solve stopped at ``inner_max_iter`` before
        ``inner_tol`` and the returned ``coef`` is not stationary: its
        ``kkt_violation`` is above ``sqrt(tol) * lasso_alpha`` (with
        ``check_kkt=False``: the decrease plus that solve's relative gap is above
        ``2 tol``).  The iterate is the one ``"stationary"`` would have
        returned; raise ``inner_max_iter``.  A truncated last solve whose
        returned point passes that test (the final step and the polish often
        make it exactly stationary) is ``"stationary"``.
    ``solver``, ``tol``
        Inner solver name and the outer tolerance.

    Additional attributes (per signal: lists / arrays for several signals)

    Attributes
    ----------
    cost_history : ndarray
        Eq. 8 at the iterate ``s`` after every outer iteration (and after the
        final step); non-increasing.
    trial_cost_history : ndarray
        Eq. 8 at the trial point ``(1 - step) s + step s~`` of every iteration.
    step_size_history : ndarray
        Step size ``alpha`` used for the trial point of every iteration.
    accepted : ndarray of bool
        Whether the trial point of every iteration was accepted.
    n_solves : int
        Weighted-LASSO solves performed (a rejected step leaves ``s`` and the
        weights unchanged, so the next iteration reuses the previous solution).
    n_inner_iter : int
        Total iterations of the inner solver over all solves (coordinate
        descent epochs or FISTA iterations).
    surrogate_decrease : float
        Relative decrease ``(Q(s) - Q(s~)) / Q(s)`` of the linearized problem at
        the last solve (the stationarity measure compared with ``tol``).
    beta : float
        Data-fit weight of eq. 8.
    lasso_alpha : float
        ``1 / (2 beta)``, the LASSO strength of every weighted-LASSO step.
    window : ndarray
        The one-sided window ``g[0..L_g]``.
    extra : dict
        ``"coef_bare"``: the Algorithm 1 iterate before the final step;
        ``"final_step_applied"``: whether the final step changed it;
        ``"inner_not_converged"``: weighted-LASSO solves that stopped at
        ``inner_max_iter``.
    """

    cost_history: np.ndarray = field(default_factory=lambda: np.empty(0))
    trial_cost_history: np.ndarray = field(default_factory=lambda: np.empty(0))
    step_size_history: np.ndarray = field(default_factory=lambda: np.empty(0))
    accepted: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))
    n_solves: int = 0
    n_inner_iter: int = 0
    surrogate_decrease: float = float("nan")
    beta: float = float("nan")
    lasso_alpha: float = float("nan")
    window: np.ndarray = field(default_factory=lambda: np.empty(0))


def cross_products_deconvolve(y, kernel, *, beta, g, mode="causal", positive=False, tol=1e-7,
                              max_reweights=100, solver="auto", debias=False, inner_tol=None,
                              inner_max_iter=100, min_step=1e-10, final_step=True,
                              method="auto", magnitudes0=None, check_kkt=True,
                              polish_max_passes=200, polish_rtol=1e-12):
    r"""Sparse deconvolution with the cross-products LASSO (Luengo, Via and Trigano).

    Minimises, for each signal ``y`` (eq. 8 of the paper),

    .. math::

        F(s) = \lVert s \rVert_1 + \beta \lVert y - H s \rVert_2^2
               + |s|^\top G\, |s|

    where ``H`` is the convolution with ``kernel`` (``mode``, as in
    :func:`deconvolve`) and ``G`` the symmetric Toeplitz matrix
    ``G[i, j] = g[|i - j|]`` (zero for ``|i - j| > L_g``): the last term adds
    ``2 g[d] |s_i| |s_j|`` for every pair of events ``d`` samples apart, a
    refractory period.  For a dictionary of ``P`` kernels (2-D ``kernel``,
    coefficients ``s_p``) the penalty is ``a^T G a`` with
    ``a[t] = sum_p |s_p[t]|``: events of any shapes closer than ``L_g`` are
    penalized, not only events of the same shape.

    **Algorithm 1.**  ``F`` is not convex.  Linearizing the last term at the
    current ``s`` gives the weighted LASSO (eq. 10)
    ``min_s beta ||y - H s||^2 + sum_i gamma_i |s_i|`` with
    ``gamma = 1 + 2 G |s|``; divided by ``2 beta`` it is exactly
    :func:`deconvolve`'s objective

    .. math::

        \tfrac12 \lVert y - H s \rVert_2^2 + \frac{1}{2\beta}\sum_i \gamma_i |s_i|,

    i.e. ``alpha = 1 / (2 beta)`` and ``weights = gamma`` (conversely, a plain
    LASSO with strength ``alpha`` is eq. 8 with ``g = 0`` and
    ``beta = 1 / (2 alpha)``).  Starting from ``s = 0``, ``gamma = 1``,
    step ``alpha = 1``, ``cost = inf``, each outer iteration

    1. solves the weighted LASSO for ``s~`` (shared solver layer, warm-started
       at ``s``; the first solve, at ``s = 0`` and ``gamma = 1``, is
       :func:`deconvolve` with ``alpha = 1 / (2 beta)``); after a warm-started
       solve, every coefficient of ``s~`` whose exact coordinate-wise minimiser
       is zero (``|n_i s~_i + h_i^T (y - H s~)| <= gamma_i / (2 beta)``,
       ``n_i = ||h_i||^2``) is set to zero, one coordinate step at a time: the
       inner solver stops on a duality gap relative to the whole objective and
       returns a warm start meeting it unchanged, left-overs of earlier steps
       ``alpha < 1`` (down to ``1e-20``) included,
    2. stops if ``s`` already (nearly) solves it (see ``tol``),
    3. forms the trial ``(1 - alpha) s + alpha s~``; if ``F`` at the trial is
       lower than ``cost``, accepts it (``s`` and ``cost`` updated) and sets
       ``alpha <- (1 + alpha) / 2``, else ``alpha <- alpha / 2``,
    4. updates ``gamma <- 1 + 2 G |s|``.

    A rejected step leaves ``s`` and ``gamma`` unchanged, so the next weighted
    LASSO is the same problem: its solution is reused, not recomputed.

    **Starting point** (``magnitudes0``, not part of the paper's algorithm).
    The first linearization can be taken at given per-time magnitudes ``a0``
    (e.g. the activations ``sum_p |s_p[t]|`` of an earlier run on the same
    time grid) instead of at ``s = 0``: the first weighted LASSO is then
    solved with the weights ``gamma0 = 1 + 2 G a0`` (for every kernel)
    instead of all ones, still cold-started at ``s = 0``, i.e. it is
    :func:`deconvolve` with ``alpha = 1 / (2 beta)`` and
    ``weights = gamma0``.  Events near the activations of ``a0`` are then
    penalized from the start, so that this first solve is sparser and
    cheaper than the plain LASSO; the steps that follow are unchanged
    (``s``, ``cost`` and the step start at ``0``, ``inf`` and ``1``).  The
    cost history is non-increasing by construction and the returned ``s`` has
    the lowest cost seen.

    **Final step** (``final_step=True``, not part of the paper's algorithm).
    After a step ``alpha < 1`` the iterate keeps a fraction ``(1 - alpha)`` of
    every coefficient that the weighted LASSO has set to zero, so the support
    of ``s`` never shrinks again unless a later step is exactly 1: tiny
    left-over coefficients (down to ``1e-20``) count as events and as
    refractory violations.  At the end, the coefficients are split into groups
    that do not interact (more than ``max(L_h - 1, L_g)`` samples apart, so that
    eq. 8 is a sum of one term per group); in every group the better of the
    full step to ``s~`` and the pruning of ``s`` to the support of ``s~`` is
    kept if it does not increase eq. 8.  Then two kinds of moves on eq. 8
    itself (not its linearization) alternate until no merge is accepted (at
    most 50 rounds of passes then merges; after the first round, only the
    groups of interacting coefficients that a merge changed, or whose passes
    stopped at ``polish_max_passes`` still moving, are passed over again):

    * exact one-coordinate passes: every non-zero coefficient ``c`` (kernel
      ``p``, time ``t``) in turn is set to the minimiser of eq. 8 over that
      coordinate, the others fixed.  Up to a constant, eq. 8 is then
      ``(beta n_c + g[0]) x^2 - 2 beta z x + w |x|`` with ``n_c = ||h_c||^2``,
      ``z = h_c^T (y - H s + s_c h_c)`` and ``w = 1 + 2 (G a)[t]``, ``a`` the
      magnitudes ``sum_p |s_p|`` without ``s_c``; the minimiser is
      ``sign(z) max(2 beta |z| - w, 0) / (2 (beta n_c + g[0]))``
      (``max(2 beta z - w, 0) / ...`` with ``positive``).  Passes repeat, in
      every group of interacting coefficients separately, until one moves no
      coefficient by more than ``polish_rtol`` relatively and sets none to
      zero (or ``polish_max_passes``); such a group is not passed over again
      unless a merge changes it, so the result is not an exact fixed point of
      the passes (a further pass may move coefficients by relative amounts of
      the order of ``polish_rtol``); zero coefficients are not visited (the
      support never grows);
    * pairwise merges: for two non-zero coefficients at most ``L_g`` samples
      apart, the moves "zero one, refit the other by its exact 1-D minimiser"
      are evaluated exactly and the better one is applied if it lowers eq. 8.
      This resolves close pairs sitting at a saddle of eq. 8 (each coordinate
      optimal, the pair not).

    Each move is an exact minimisation or a strict decrease, in
    ``O(nnz (L + L_g))`` per pass.  The recorded cost stays non-increasing
    (the final step adds one entry when it changes ``s``);
    ``final_step=False`` returns the bare Algorithm 1 iterate.

    Parameters
    ----------
    y : array_like of shape (M,) or (n_signals, M)
        Signal(s), time along the last axis.  A 2-D ``y`` is read as
        ``(n_signals, M)``: signals shorter than the kernel (``M < L``, e.g. a
        column vector ``(M, 1)``) are refused in every mode.
    kernel : array_like of shape (L,) or (P, L)
        Event shape(s).  A 2-D ``kernel`` is read as ``(P, L)``, one kernel per
        row; shape ``(P, 1)`` with ``P > 1`` (one-tap kernels, i.e. a
        transposed column kernel) is refused.
    beta : float or array_like of shape (n_signals,)
        Data-fit weight ``> 0`` of eq. 8 (one per signal allowed).  Each step
        is a LASSO of strength ``1 / (2 beta)``.
    g : array_like of shape (L_g + 1,)
        One-sided window ``g[0..L_g]``, non-negative, ``L_g`` smaller than the
        number of coefficients ``N`` (see :func:`refractory_window`).  The
        ``(N, N)`` matrix ``G`` itself (symmetric Toeplitz) is accepted too.
        ``g = 0`` gives the plain LASSO.
    mode : {"causal", "full", "same", "valid"}
        Convolution mode (see :func:`deconvolve`); the paper uses "causal".
    positive : bool
        Non-negative activations (then ``|s| = s``).
    tol : float
        Outer tolerance: stop (``stop_reason="stationary"``) when the weighted
        LASSO at the current ``gamma(s)`` improves on ``s`` by at most
        ``tol`` relatively, ``Q(s) - Q(s~) <= tol * Q(s)`` with ``Q`` the
        weighted-LASSO objective above (zero exactly when ``s`` is a fixed
        point of the reweighting, a stationary point of eq. 8).
    max_reweights : int
        Maximum number of outer iterations (weighted-LASSO steps, the first
        plain LASSO included).  Reaching it returns the best iterate with
        ``converged=False`` and a :class:`ConvergenceWarning`.
    solver : {"auto", "cd", "fista"}
        Inner solver (:func:`sparse_events.solvers.solve`).
    debias : bool
        Also return ``coef_debiased``, the least-squares refit of the
        amplitudes on the support of ``coef`` (``coef`` is unchanged).
    inner_tol : float, optional
        Relative duality-gap tolerance of each weighted LASSO; default
        ``tol / 10``.
    inner_max_iter : int
        ``max_iter`` of each weighted-LASSO solve.  When the last solve stops
        there before ``inner_tol`` and the returned point fails the
        stationarity test (see ``stop_reason``), the run is not called
        stationary (``stop_reason="inner_max_iter"``, a :class:`ConvergenceWarning`).
    min_step : float
        Stop (``stop_reason="step_size"``, not converged) when the step size
        falls below this after a rejection: the reweighted direction is not a
        descent direction at the accuracy of the inner solves.
    final_step : bool
        Apply the final step described above (full step / pruning, then
        coordinate passes and pairwise merges on eq. 8).
    polish_max_passes : int
        Largest number of exact coordinate passes over a group of
        interacting coefficients in the final step (per round of passes and
        merges).
    polish_rtol : float
        The coordinate passes of a group stop when no coefficient moves by
        more than this, relatively (and none is set to zero).  Larger values
        (with fewer passes) make the final step cheaper when highly correlated
        kernels make the passes converge slowly; every move still lowers
        eq. 8.
    method : {"auto", "direct", "fft"}
        Filtering engine of the operators.
    magnitudes0 : array_like of shape (N,) or (n_signals, N), optional
        Non-negative, finite per-time magnitudes ``a0`` at which the
        cross-products term is first linearized, on the coefficient grid:
        ``N`` is the number of coefficients per kernel (``coef.shape[-1]``,
        ``M`` for ``mode="causal"``), and for a dictionary ``a0[t]`` plays
        the role of ``a[t] = sum_p |s_p[t]|``.  The first weighted LASSO has
        the weights ``1 + 2 G a0``, the reweighting formula applied to
        ``a0``, instead of all ones (see *Starting point* above).  For several
        signals, one row per signal, or one ``(N,)`` array for all.  None
        (default) or all zeros: ``a0 = 0``, the plain LASSO first, with the
        same result bit for bit.
    check_kkt : bool
        Compute ``kkt_violation`` at the returned ``coef`` (one adjoint
        product and the weights; the default).  False skips it
        (``kkt_violation`` is then ``nan``), e.g. when many signals are
        processed and only ``coef`` is used; nothing else changes.

    BLAS runs on one thread inside (its calls here are dot products of long
    vectors: more threads only spin; the result does not depend on the
    caller's BLAS thread count).

    Returns
    -------
    CrossProductsResult
        ``coef`` has shape ``(N,)``, ``(P, N)``, ``(n_signals, N)`` or
        ``(n_signals, P, N)``.  For several signals the per-signal fields are
        arrays (``n_iter``, ``converged``, ``n_solves``, ...) or lists
        (histories, ``stop_reason``).

    Notes
    -----
    Memory held after the call: every thread that ran it keeps two float64
    scratch buffers (the dense warm start / polished iterate, zero between
    calls, and the coordinate-descent thresholds) of ``max(P N, 2^16)``
    entries for the largest ``P N <= 2^18`` it has seen, so 0.5 to 2 MiB
    each, at most 4 MiB per thread, until the thread ends.  Larger problems
    use fresh arrays, released after the call.

    References
    ----------
    D. Luengo, J. Via, T. Trigano, "Efficient Iteratively Reweighted LASSO
    Algorithm for Cross-Products Penalized Sparse Solutions".

    Examples
    --------
    >>> from sparse_events import cross_products_deconvolve, refractory_window
    >>> from sparse_events.datasets import make_random_spike_train
    >>> st = make_random_spike_train(2000, snr_db=30, random_state=0)
    >>> res = cross_products_deconvolve(st.signal, st.kernel, beta=100.0,
    ...                                 g=refractory_window(30, 10.0))
    >>> bool(res.converged), bool(all(res.cost_history[1:] <= res.cost_history[:-1]))
    (True, True)
    """
    return _cross_products_deconvolve(
        y, kernel, beta=beta, g=g, mode=mode, positive=positive, tol=tol,
        max_reweights=max_reweights, solver=solver, debias=debias, inner_tol=inner_tol,
        inner_max_iter=inner_max_iter, min_step=min_step, final_step=final_step, method=method,
        magnitudes0=magnitudes0, check_kkt=check_kkt, polish_max_passes=polish_max_passes,
        polish_rtol=polish_rtol)


@with_one_blas_thread
def _cross_products_deconvolve(y, kernel, *, beta, g, mode="causal", positive=False, tol=1e-7,
                               max_reweights=100, solver="auto", debias=False, inner_tol=None,
                               inner_max_iter=100, min_step=1e-10, final_step=True,
                               method="auto", magnitudes0=None, check_kkt=True,
                               polish_max_passes=200, polish_rtol=1e-12, first_inner_tol=None):
    """:func:`cross_products_deconvolve`, plus the private option ``first_inner_tol``.

    ``first_inner_tol`` (float >= 0, optional): relative duality-gap tolerance
    of the first weighted-LASSO solve of every signal (the solves after it
    keep ``inner_tol``); None (default): ``inner_tol`` for every solve, i.e.
    exactly :func:`cross_products_deconvolve`.  BLAS runs on one thread
    inside (for :func:`cross_products_deconvolve` too, which only calls this).
    """
    Y, K, batch, dictionary, N = _prepare(y, kernel, mode)
    check_option(solver, "solver", ("auto", "cd", "fista"))
    positive = check_bool(positive, "positive")
    debias = check_bool(debias, "debias")
    final_step = check_bool(final_step, "final_step")
    betas = _per_signal_beta(beta, batch, Y.shape[0])
    window = _check_window_for(g, N, Y.shape if batch else None)
    tol = check_scalar(tol, "tol", low=0)
    inner_tol = tol / 10 if inner_tol is None else check_scalar(inner_tol, "inner_tol", low=0)
    if first_inner_tol is not None:
        first_inner_tol = check_scalar(first_inner_tol, "first_inner_tol", low=0)
    max_reweights = check_int(max_reweights, "max_reweights", low=1)
    inner_max_iter = check_int(inner_max_iter, "inner_max_iter", low=1)
    min_step = check_scalar(min_step, "min_step", low=0, high=1)
    polish_max_passes = check_int(polish_max_passes, "polish_max_passes", low=1)
    polish_rtol = check_scalar(polish_rtol, "polish_rtol", low=0)
    A0 = _start_magnitudes(magnitudes0, batch, Y.shape[0], N)
    P = K.shape[0]
    ops = _products(K, N, mode, window, method)
    results = []
    for i in range(Y.shape[0]):
        fields = algorithm1(ops, Y[i], betas[i], positive=positive, tol=tol,
                            inner_tol=inner_tol, inner_max_iter=inner_max_iter,
                            max_reweights=max_reweights, min_step=min_step, solver=solver,
                            final_step=final_step,
                            magnitudes0=None if A0 is None else A0[i if A0.shape[0] > 1 else 0],
                            check_kkt=bool(check_kkt), polish_max_passes=polish_max_passes,
                            polish_rtol=polish_rtol, first_inner_tol=first_inner_tol)
        res = CrossProductsResult(**fields)
        if debias:
            res.coef_debiased = debias_coef(ops.design, Y[i], res.coef, positive)
        results.append(res)
    not_converged = [i for i, r in enumerate(results) if not r.converged]
    if not_converged:
        message = _not_converged_message(results, not_converged, batch, tol, inner_max_iter)
        for i in not_converged:
            results[i].message = message
        warnings.warn(message, ConvergenceWarning, stacklevel=2)
    return _stack(results, batch, dictionary, P, N, window)


def _not_converged_message(results, not_converged, batch, tol, inner_max_iter):
    """The ConvergenceWarning text for the signals ``not_converged`` (indices in ``results``)."""
    r = results[not_converged[0]]
    which = f" for {len(not_converged)} of {len(results)} signals" if batch else ""
    n_inner = r.extra.get("inner_not_converged", 0)
    inner = (f"; {n_inner} of {r.n_solves} weighted-LASSO solves stopped at "
             f"inner_max_iter={inner_max_iter}" if n_inner else "")
    if r.stop_reason == "inner_max_iter":
        why = (f"KKT violation {r.kkt_violation:.3g} > sqrt(tol) / (2 beta) = "
               f"{np.sqrt(tol) * r.lasso_alpha:.3g}" if np.isfinite(r.kkt_violation) else
               "with check_kkt=False: the decrease plus that solve's relative gap > 2 tol")
        return (f"cross_products_deconvolve did not converge{which}: the relative surrogate "
                f"decrease {r.surrogate_decrease:.3g} is below tol={tol}, but the last "
                f"weighted-LASSO solve stopped at inner_max_iter={inner_max_iter} before "
                f"inner_tol and the point is not stationary ({why}{inner}); "
                "raise inner_max_iter")
    return (f"cross_products_deconvolve did not converge{which} (stop reason "
            f"{r.stop_reason!r} after {r.n_iter} reweights, relative surrogate decrease "
            f"{r.surrogate_decrease:.3g} > tol={tol}{inner}); returning the iterate of "
            "lowest cost")


def _check_window_for(g, N, batch_shape):
    """:func:`check_window` whose message says how a 2-D ``y`` was read (``batch_shape``)."""
    try:
        return check_window(g, N, "g")
    except ValueError as exc:
        if batch_shape is None:
            raise
        n_signals, M = batch_shape
        raise ValueError(
            f"{exc} (y of shape {batch_shape} is read as (n_signals, n_samples): "
            f"{n_signals} signal{'s' if n_signals != 1 else ''} of {M} "
            f"sample{'s' if M != 1 else ''} each; for one signal pass a 1-D array "
            "(y.ravel()), or transpose y (y.T) if its signals are along the columns)"
        ) from None


def _products(K, N, mode, window, method):
    """The products of Algorithm 1 (:class:`SparseProducts` over the :class:`BandedDesign` of
    the dictionary ``K``, ``N`` coefficients per kernel) for validated arguments.

    They depend on ``K``, ``N``, ``mode``, ``window`` and ``method`` only (not on
    the signal): the caches they fill at their first use (column norms,
    kernel cross-products and their Gram stencils for the solver's Newton
    steps, the dense ``G``) hold the same values for every signal, so that
    one instance may serve several signals (the sparse ECG detector reuses
    it across the chunks of a pass: the same bits as a fresh one per chunk).
    """
    return SparseProducts(BandedDesign(DictionaryOperator(K, N, mode, method=method)), window,
                          method=method)


def _start_magnitudes(magnitudes0, batch, n_signals, N):
    """Validated ``magnitudes0`` as a C-contiguous float64 ``(1 or n_signals, N)`` array."""
    if magnitudes0 is None:
        return None
    a0 = as_float_array(magnitudes0, "magnitudes0", dtype=np.float64, ndim=(1, 2))
    ok = a0.shape == (N,) or (batch and a0.shape == (n_signals, N))
    if not ok:
        want = f"({N},)" + (f" or ({n_signals}, {N})" if batch else "")
        raise ValueError(
            f"magnitudes0 must have shape {want} (one value per coefficient time, "
            f"N = {N}), got {a0.shape}")
    if np.any(a0 < 0):
        bad = np.unravel_index(int(np.flatnonzero(a0 < 0)[0]), a0.shape)
        bad = bad[0] if len(bad) == 1 else tuple(int(i) for i in bad)
        raise ValueError(f"magnitudes0 must be non-negative (magnitudes |s|); "
                         f"magnitudes0[{bad}] = {a0[bad]}")
    return np.ascontiguousarray(a0.reshape(-1, N))


def _per_signal_beta(beta, batch, n_signals):
    if np.ndim(beta) == 0:
        return [check_scalar(beta, "beta", low=0, low_inclusive=False)] * n_signals
    if not batch or np.ndim(beta) != 1 or len(beta) != n_signals:
        raise ValueError(f"beta must be a scalar or have one value per signal "
                         f"({n_signals}), got shape {np.shape(beta)}")
    return [check_scalar(b, "beta", low=0, low_inclusive=False) for b in beta]


def _stack(results, batch, dictionary, P, N, window):
    shape = (P, N) if dictionary else (N,)
    for r in results:
        r.coef = r.coef.reshape(shape)
        r.extra["coef_bare"] = r.extra["coef_bare"].reshape(shape)
        r.window = window
        if r.coef_debiased is not None:
            r.coef_debiased = r.coef_debiased.reshape(shape)
    if not batch:
        return results[0]
    deb = None
    if results[0].coef_debiased is not None:
        deb = np.stack([r.coef_debiased for r in results])
    return CrossProductsResult(
        coef=np.stack([r.coef for r in results]),
        objective=[r.objective for r in results],
        n_iter=np.array([r.n_iter for r in results]),
        gap=np.full(len(results), np.nan),
        kkt_violation=np.array([r.kkt_violation for r in results]),
        converged=np.array([r.converged for r in results]),
        stop_reason=[r.stop_reason for r in results],
        message=next((r.message for r in results if r.message), ""),  # one text for all
        solver=results[0].solver,
        tol=results[0].tol,
        n_outer=np.array([r.n_outer for r in results]),
        coef_debiased=deb,
        extra={key: [r.extra[key] for r in results] for key in results[0].extra},
        cost_history=[r.cost_history for r in results],
        trial_cost_history=[r.trial_cost_history for r in results],
        step_size_history=[r.step_size_history for r in results],
        accepted=[r.accepted for r in results],
        n_solves=np.array([r.n_solves for r in results]),
        n_inner_iter=np.array([r.n_inner_iter for r in results]),
        surrogate_decrease=np.array([r.surrogate_decrease for r in results]),
        beta=np.array([r.beta for r in results]),
        lasso_alpha=np.array([r.lasso_alpha for r in results]),
        window=window,
    )
