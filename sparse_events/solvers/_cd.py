"""Coordinate descent with working sets and Anderson extrapolation."""

from __future__ import annotations

import threading
import warnings

import numpy as np

from .._exceptions import ConvergenceWarning
from .._validation import check_int, check_scalar
from . import _cd_kernels as kern
from ._designs import BandedDesign, Design
from ._optimality import (
    Check,
    check_datafit,
    check_finite_start,
    check_optimality,
    check_penalty,
    check_x0,
    is_converged,
    resolve_stopping,
    stop_message,
)
from ._result import SolverResult


# the working set holds at least this share of the coordinates violating their
# optimality condition (besides twice the support): at the first outer iteration
# it sizes the working set to the problem instead of doubling up from ``p0``
_VIOLATOR_SHARE = 0.25
# inner stopping rule: the working-set subproblem is solved until its KKT
# violation falls below ``_INNER`` times the outer one
_INNER = 0.3

# banded designs (convolution dictionaries) only:
# - when at most this share of the coordinates violate, all of them enter
#   (besides the support)
_FEW_VIOLATORS = 0.05
# - when every violator is in the working set, its subproblem is solved to
#   ``_INNER_ALL`` times the outer violation (likely the last one: a Newton
#   step finishes it cheaply, and another outer pass is saved)
_INNER_ALL = 0.01
# - first working set (empty support): at most this many coordinates per
#   kernel length of signal (a denser set is mostly columns that explain the
#   same samples: its epochs are slow and it shrinks anyway)
_FIRST_PER_KERNEL = 1.5


# banded designs with one short kernel: epochs visit only the coordinates whose
# columns overlap one that moved since their last visit (the others would not
# move: see ``_cd_kernels.banded_epoch_violation_dirty``)
_DIRTY_EPOCHS = True
# ... in working sets that hold every violator; a coordinate is visited again once
# the bound on its KKT distance exceeds this share of the inner tolerance
_DIRTY_SLACK = 0.5
# ... when more than this share of the working set is flagged, a full epoch runs
# instead (branch-free, faster per coordinate), its moves giving the next flags
_DIRTY_SHARE = 0.25

# active-set Newton steps on the support (banded designs, weighted L1)
_NEWTON = True
# ... tried when at most this share of the working set changed sign pattern in
# the last epoch (the step is safeguarded: it never increases the objective)
_NEWTON_CHANGES = 0.05
_NEWTON_EVERY = 1
# ... and, for banded designs, only in working sets that hold every violator
# (a smaller working set is outgrown by the support: its face optimum is
# wasted work; N = 1e6, Lh = 12, lam = 0.01 lam_max: 3 Newton steps instead
# of 7, 15 % less time)
_NEWTON_ALL_IN = True
# banded designs with kernels of at least this length keep c = A^T r between
# outer checks and update it by the change of the working set's coefficients
# ((2 L - 1) P multiply-adds per changed coefficient, banded Gram, P kernels)
# instead of a full correlation (L per coefficient), when at most
# ``_INCREMENTAL_SHARE * n * L / ((2 L - 1) P)`` coefficients changed.  It is
# first kept at a check that follows a working set without every violator
# (several kernels: not the first check, a solve whose next check is likely its
# last would only pay for the extra length-n array and its first-touch page
# faults; one kernel: from the first check, see ``_INCREMENTAL_FIRST_SINGLE``)
_INCREMENTAL_MIN_L = 32
_INCREMENTAL_SHARE = 0.5
# ... with one kernel, c is kept from the first check on (its first working set,
# at most ``_FIRST_PER_KERNEL`` coordinates per kernel length, always costs less
# through the Gram than a new correlation: N = 1e6, Lh = 70, 0.01 lam_max, second
# check 7.1 -> 2.1 ms plus a 1.2 ms Gram update, first check 6.8 -> 8.1 ms), on
# problems of at least ``_INCREMENTAL_FIRST_MIN_NL`` coefficients times taps
# (N = 1e4, Lh = 70, 0.1 lam_max: 0.18 -> 0.32 ms, the fixed costs of keeping it)
_INCREMENTAL_FIRST_SINGLE = True
_INCREMENTAL_FIRST_MIN_NL = 4_000_000


# scratch arrays of the banded fast path (candidates, scores, working-set
# buffers, the residual, c = A^T r) up to this many entries are kept per thread
# between calls and reused: a fresh array costs a page fault per 4 KiB page at
# its first touch, every call (the ECG detector's ~40 solves of 28 000-170 000
# coefficients: about 20 000 of its 24 000 faults in the solver per pass over
# its calls).  Larger problems allocate as before.  The pool lives as long as
# its thread: each thread that ran a banded solve keeps up to eight arrays of
# at most 2 MiB each (about 14 MiB: six of float64 or int64, plus the dirty-epoch
# bounds ``pend`` (float64) and flags ``dirty`` (uint8); one more, the cross-products
# thresholds, if it ran Algorithm 1 of sparse_events.models) until it ends or calls
# ``_scratch_clear``.
_SCRATCH_MAX = 1 << 18
# smallest pooled buffer (8 KiB): small solves of changing sizes reuse one
# buffer instead of growing it at every larger size
_SCRATCH_MIN = 1024
# per thread: ``bufs`` (name -> pooled buffer) and ``depth`` (the number of
# ``coordinate_descent`` calls running in this thread)
_scratch_pool = threading.local()


def _scratch(name, size, dtype=np.float64):
    """Return an uninitialised 1-D scratch array, pooled per thread when possible.

    Parameters
    ----------
    name : str
        The buffer's name in this thread's pool: each name owns one buffer, two
        names never share memory.
    size : int
        Number of entries.
    dtype : data-type, default float64

    Returns
    -------
    ndarray of shape (size,)
        Uninitialised (``np.empty`` semantics).  Pooled (a view of the buffer
        ``name``, reused by later calls) when ``size <= _SCRATCH_MAX`` and at
        most one :func:`coordinate_descent` runs in this thread (depth 0 or 1);
        otherwise a fresh array.

    Notes
    -----
    Aliasing contract: the next call with the same ``name`` in this thread
    returns the same memory, so a caller must neither keep the array beyond its
    solve nor return it.  Re-entrancy: a solve started while another one runs
    in the same thread (depth > 1, e.g. from an overridden ``newton_step``)
    gets fresh arrays, so it never overwrites the buffers of the solve around
    it.  Other threads have their own pools.
    """
    if size > _SCRATCH_MAX or getattr(_scratch_pool, "depth", 0) > 1:
        return np.empty(size, dtype=dtype)
    bufs = getattr(_scratch_pool, "bufs", None)
    if bufs is None:
        bufs = _scratch_pool.bufs = {}
    buf = bufs.get(name)
    if buf is None or buf.size < size or buf.dtype != dtype:
        buf = bufs[name] = np.empty(max(size, _SCRATCH_MIN), dtype=dtype)
    return buf[:size]


def _scratch_clear():
    """Free this thread's pooled scratch arrays (formed again at their next use).

    Safe during a solve: the arrays it holds stay valid (they are only dropped
    from the pool).
    """
    _scratch_pool.bufs = {}


class _Anderson:
    """Anderson extrapolation of the last ``K + 1`` iterates (as in skglm / celer).

    The iterates live in a preallocated ``(K + 1, n)`` ring buffer.  With
    ``every`` given, extrapolation is only tried when ``count`` is a multiple
    of ``every``: :meth:`push` then stores only the iterates such a try will
    use (the others are counted, not copied).
    """

    def __init__(self, K, every=None):
        self.K = K
        self.every = every
        self.buf = None
        self.count = 0

    def reset(self):
        self.count = 0

    def _needed(self, c):
        """Whether iterate number ``c`` (1-based since the reset) is read by a try."""
        if self.every is None:
            return True
        m = max(c, self.K + 1)
        m = -(-m // self.every) * self.every  # first try at or after it
        return m - c <= self.K

    def push(self, v):
        if not self._needed(self.count + 1):
            self.count += 1
            return
        if self.buf is None or self.buf.shape[1] != v.size:
            self.buf = np.empty((self.K + 1, v.size))
            if self.every is None:
                self.count = 0
            # (else the new size comes with a new working set, after a reset:
            # this is the first iterate stored since)
        self.buf[self.count % (self.K + 1)] = v
        self.count += 1

    def due(self):
        """Whether a try is due now (``count`` a multiple of ``every``, when given)."""
        return self.every is None or self.count % self.every == 0

    def extrapolate(self):
        """The extrapolated point, or None (too few iterates, not due, or singular).

        Off the ``every`` schedule the buffer does not hold the iterates a try
        reads, so it is refused.
        """
        if self.count < self.K + 1 or not self.due():
            return None
        m = self.K + 1
        first = self.count % m  # oldest row
        it = self.buf if first == 0 else np.roll(self.buf, -first, axis=0)
        U = np.diff(it, axis=0)
        C = U @ U.T
        try:
            z = np.linalg.solve(C, np.ones(self.K))
        except np.linalg.LinAlgError:
            return None
        if not np.all(np.isfinite(z)) or z.sum() == 0:
            return None
        c = z / z.sum()
        return c @ it[1:]


def _l1_fast_path(penalty):
    """Whether the fused weighted-L1 measures reproduce ``check_optimality``."""
    from ._penalties import WeightedL1

    cls = type(penalty)
    return (isinstance(penalty, WeightedL1)
            and all(getattr(cls, name) is getattr(WeightedL1, name)
                    for name in ("value", "subdiff_distance", "dual_scaling", "has_dual",
                                 "thresholds")))


def _fast_check(stats, has_dual):
    rr, pen, cx, kkt, s, cmax, n_sup, n_viol = stats
    primal = 0.5 * rr + pen
    if has_dual:
        s = max(1.0, s)
        gap = max(0.5 * rr * (1.0 - 1.0 / s) ** 2 + pen - cx / s, 0.0)
    else:
        gap = float("nan")
    return Check(primal, gap, float(kkt), None, None), int(n_sup), int(n_viol), float(cmax)


def _near_optimal_at_zero(chk, tol, cmax):
    """Whether the zero point's check is within twice ``tol`` of stopping: then
    ``A^T r`` is recomputed with the design's own adjoint, so that the
    zero-solution decision agrees to the last bit with ``alpha_max``."""
    return chk.gap <= 2.0 * tol * chk.primal or chk.kkt <= 2.0 * tol * cmax


def _outer_measures(design, datafit, penalty, x, r, thresh, positive, scores, fast, has_dual,
                    tol=0.0, at_zero=False):
    """Check at ``x`` and working-set scores; returns (Check, n_support, n_violators, max|c|).

    ``at_zero`` (``x == 0``): when the zero point is (nearly) optimal, ``A^T r``
    is recomputed with the design's own adjoint, so that the zero-solution
    decision agrees to the last bit with ``alpha_max``.
    """
    if fast:
        chk, n_sup, n_viol, cmax = _fast_check(design.cd_scores(x, r, thresh, positive, scores),
                                               has_dual)
        if at_zero and _near_optimal_at_zero(chk, tol, cmax):
            chk, n_sup, n_viol, cmax = _fast_check(
                Design.cd_scores(design, x, r, thresh, positive, scores), has_dual)
        return chk, n_sup, n_viol, cmax
    chk = check_optimality(datafit, penalty, x, r)
    scores[:] = chk.dist
    support = x != 0
    scores[support] = np.inf
    n_sup = int(np.count_nonzero(support))
    n_viol = int(np.count_nonzero(scores > 0)) - n_sup
    cmax = float(np.abs(chk.corr).max()) if chk.corr.size else 0.0
    return chk, n_sup, n_viol, cmax


def coordinate_descent(datafit, penalty, x0=None, *, tol=1e-6, max_iter=100,
                       max_epochs=1000, p0=100, anderson=5, check_every=5,
                       stopping="auto", warn=True):
    r"""Working-set coordinate descent for ``0.5 ||y - A x||^2 + pen(x)``.

    Each outer iteration computes ``c = A^T r`` once (one FFT correlation for
    convolution operators), checks the stopping rule, builds a working set
    (the current support plus the coordinates violating their optimality
    condition the most, at least ``p0`` and twice the support) and runs cyclic
    coordinate-descent epochs on it (Anderson extrapolation every ``anderson``
    epochs) until its KKT violation falls below 0.3 times the outer one.  For
    convolution operators an update touches only the kernel-length stretch of
    the residual under the coordinate's kernel; their epochs measure the inner
    violation on the way, all violators enter the working set when they are
    few (then solved to 0.01 times the outer violation, with active-set Newton
    steps on the support only then; after the first, a step re-solves only the
    blocks of overlapping columns that moved since), the outer checks list the
    working-set candidates, and for kernels of 32 taps or more ``c`` is kept between checks
    and updated through the banded Gram by the change of the coefficients
    instead of a new correlation when few changed.  For one kernel shorter than
    32 taps, once every violator is in the working set, epochs visit only the
    coordinates whose bound on the KKT distance (raised by ``|d| ||h||^2`` per
    move ``d`` of an overlapping coefficient) may exceed half the inner
    tolerance ("dirty epochs"); the bounds carry over to the next such working
    set.  Convergence is decided by the outer check only, as before.

    Parameters
    ----------
    datafit : Quadratic
        Its design must support coordinate descent (banded, dense or sparse).
    penalty : L1, WeightedL1 or NonNegativeL1
    x0 : ndarray of shape (n_features,), optional
        Warm start.
    tol : float
        Relative tolerance: stop when ``gap <= tol * primal`` (``stopping="gap"``)
        or ``kkt <= tol * max|A^T y|`` (``stopping="kkt"``).
    max_iter : int
        Maximum number of outer (working-set) iterations.
    max_epochs : int
        Maximum epochs per working-set subproblem.
    p0 : int
        Minimal working-set size.
    anderson : int
        Anderson memory ``K`` (0 disables extrapolation).
    check_every : int
        Epochs between inner KKT checks (convolution designs measure the
        inner violation during every epoch and ignore it).
    stopping : {"auto", "gap", "kkt"}
        ``"auto"`` uses the duality gap when the penalty has one.
    warn : bool
        Emit a :class:`ConvergenceWarning` when ``max_iter`` is reached.

    Returns
    -------
    SolverResult
    """
    # (the nesting depth of this thread's solves: only the outermost one uses
    # the pooled scratch arrays, see ``_scratch``)
    _scratch_pool.depth = getattr(_scratch_pool, "depth", 0) + 1
    try:
        return _coordinate_descent(datafit, penalty, x0, tol, max_iter, max_epochs, p0,
                                   anderson, check_every, stopping, warn)
    finally:
        _scratch_pool.depth -= 1


def _coordinate_descent(datafit, penalty, x0, tol, max_iter, max_epochs, p0, anderson,
                        check_every, stopping, warn):
    """Body of :func:`coordinate_descent` (same parameters and result)."""
    check_datafit(datafit)
    check_penalty(penalty)
    design = datafit.design
    if not design.supports_cd:
        raise ValueError(f"coordinate descent needs a banded, dense or sparse design, "
                         f"got {type(design).__name__}; use fista")
    if not getattr(penalty, "separable", False):
        raise ValueError(f"coordinate descent needs a separable penalty, got {penalty!r}")
    tol = check_scalar(tol, "tol", low=0)
    max_iter = check_int(max_iter, "max_iter", low=1)
    max_epochs = check_int(max_epochs, "max_epochs", low=1)
    p0 = check_int(p0, "p0", low=1)
    anderson = check_int(anderson, "anderson", low=0)
    check_every = check_int(check_every, "check_every", low=1)
    rule = resolve_stopping(stopping, penalty)
    n = design.n_features
    positive = bool(penalty.positive)
    fast = _l1_fast_path(penalty)
    w = penalty.weights if fast else None
    if fast and design.shared_threshold and w is None:
        thresh = np.array([penalty.alpha], dtype=np.float64)  # one shared threshold
    elif (w is not None and penalty.alpha == 1.0 and w.size == n and w.dtype == np.float64
          and w.flags.c_contiguous and w.flags.writeable):
        # alpha * w == w exactly for alpha = 1: use the weights, not a length-n copy
        # (only read; a read-only array would need its own compiled kernels)
        thresh = w.reshape(n)
    else:
        thresh = np.ascontiguousarray(penalty.thresholds(n), dtype=np.float64)
    del w
    # (resolve_stopping has answered has_dual(), a pass over the weights, unless the
    # caller asked for "kkt": a "gap" rule implies a dual, "auto" resolved to "kkt" none)
    has_dual = rule == "gap" or (stopping == "kkt" and penalty.has_dual())
    newton = fast and _NEWTON and type(design).newton_step is not Design.newton_step
    # banded fast path: epochs that measure the inner violation, outer checks
    # that list the working-set candidates
    banded = (fast and isinstance(design, BandedDesign)
              and all(getattr(type(design), name) is getattr(BandedDesign, name)
                      for name in ("cd_scores", "cd_epochs", "cd_violation",
                                   "cd_epoch_violation", "cd_candidates",
                                   "cd_candidates_from_corr", "cd_corr_update",
                                   "newton_positions", "cd_inside_range",
                                   "cd_dirty_epochs", "cd_epoch_violation_dirty",
                                   "cd_flag_overlapping")))
    y = datafit.y
    cold = x0 is None
    # (banded: the residual is scratch, reused between calls; never returned)
    pool_r = banded and y.ndim == 1 and y.dtype == np.float64
    if cold:
        x = np.zeros(n)
        if pool_r:
            r = _scratch("r", y.size)
            r[:] = y
        else:
            r = y.copy()
    else:
        x = check_x0(x0, n)  # a copy: updated in place
        x0 = None  # not needed any more: a caller's temporary is freed here
        if positive:
            np.maximum(x, 0.0, out=x)
        # a column of zero energy (e.g. under a kernel's zero edge taps) never changes
        # the fit: 0 is optimal for its coefficient, and the epochs skip it, so a
        # nonzero warm-start value there would stay and block convergence
        x[design.col_norms2() == 0.0] = 0.0
        r = _scratch("r", y.size) if pool_r else np.empty_like(y)
        design.residual_into(y, x, r)

    dirty = None  # (banded, one short kernel: the coordinates an epoch visits)
    carry = None  # (its state at the end of the last working-set solve, see _dirty_start)
    if banded:
        # working-set candidates and their scores, reused by every outer iteration
        cand = _scratch("cand", n, np.int64)
        scores = _scratch("scores", n)
        # storage of the working sets and of their coefficients, reused by every
        # outer iteration (a new array per working set costs its first-touch
        # page faults every time)
        ws_buf = None
        xw_buf = None
        L = design.kernels.shape[1]
        ws = None
        all_in = False  # whether the last working set held every violator
        # c = A^T r kept between checks (long kernels), and whether it is current
        corr = None
        corr_ok = False
        incremental_from = 0 if (_INCREMENTAL_FIRST_SINGLE and design.n_kernels == 1
                                 and n * L >= _INCREMENTAL_FIRST_MIN_NL) else 1
        # epochs that visit only the coordinates near the ones that moved
        dirty_epochs = _DIRTY_EPOCHS and design.cd_dirty_epochs()
    else:
        scores = np.empty(n)  # working-set scores, reused by every outer iteration
    kkt_scale = None
    t_min = None  # smallest threshold (banded Newton steps after the first)
    history = []
    n_epochs = 0
    converged = False
    reason = "max_iter"
    acc = _Anderson(anderson, every=anderson) if anderson else None
    chk = None
    for outer in range(max_iter):
        if banded:
            if (corr is None and outer >= incremental_from and not all_in
                    and L >= _INCREMENTAL_MIN_L):
                corr = _scratch("corr", n)
            chk, n_sup, n_viol, cmax = _banded_measures(
                design, x, r, thresh, positive, cand, scores, ws, has_dual, tol,
                outer == 0 and cold, corr=corr, corr_ok=corr_ok)
            corr_ok = corr is not None
        else:
            chk, n_sup, n_viol, cmax = _outer_measures(design, datafit, penalty, x, r, thresh,
                                                       positive, scores, fast, has_dual, tol,
                                                       at_zero=outer == 0 and cold)
        if outer == 0:
            check_finite_start(chk, datafit, not cold)
        history.append(chk.primal)
        if kkt_scale is None and rule == "kkt":
            # max|A^T y| (only the KKT rule uses it: under the gap rule it would
            # cost a full adjoint and its length-n temporaries for nothing)
            kkt_scale = (cmax if n_sup == 0
                         else float(np.abs(design.rmatvec(y)).max()))
        if is_converged(chk, rule, tol, kkt_scale):
            converged = True
            reason = "zero solution" if (outer == 0 and n_sup == 0) else rule
            break
        n_add = int(_VIOLATOR_SHARE * n_viol)
        if banded and n_sup == 0:
            n_add = min(n_add, max(int(_FIRST_PER_KERNEL * n / L), 1))
        ws_size = max(min(p0, n), min(n, 2 * n_sup), min(n, n_add))
        if banded and n_viol <= _FEW_VIOLATORS * n:
            ws_size = max(ws_size, n_sup + n_viol)  # every violator
        if ws_size >= n:
            ws = np.arange(n, dtype=np.int64)
        elif banded:
            if ws_buf is None:
                ws_buf = _scratch("ws", n, np.int64)
            ws = kern.select_from_candidates(cand, scores, n_sup, n_viol, ws_size, ws_buf)
            if ws.size == 0:
                ws = np.arange(ws_size, dtype=np.int64)
        else:
            ws = kern.select_working_set(scores, n_sup, n_viol, ws_size)
            if ws.size == 0:
                ws = np.arange(ws_size, dtype=np.int64)
        eps_inner = _INNER * chk.kkt
        if banded and ws_size >= n_sup + n_viol:
            # every violator is in: solve the subproblem more accurately
            eps_inner = _INNER_ALL * chk.kkt
        all_in = ws_size >= n_sup + n_viol
        newton_now = newton and (all_in or not (banded and _NEWTON_ALL_IN))
        if acc is not None:
            acc.reset()
        last_newton = 0
        stepped = False
        # banded: the working set's coefficients, contiguous during its solve
        # (written back to x after it and around Newton steps)
        xw = None
        if banded:
            if xw_buf is None:
                xw_buf = _scratch("xw", n)
            if outer == 0 and cold:
                # x == 0: no gather (on a length-n x not yet written, it would
                # map every page of x only to read zeros)
                xw = xw_buf[:ws.size]
                xw.fill(0.0)
            else:
                xw = np.take(x, ws, out=xw_buf[:ws.size], mode="clip")  # (unbuffered)
        xw0 = xw.copy() if banded and corr is not None else None
        # banded: the working set's coordinates with complete columns, found once
        # for all its epochs ((0, 0) where the epoch would not use them: several
        # kernels, long kernels, prefetch hints)
        inside = design.cd_inside_range(ws) if banded else None
        # banded: snapshot of xw after the last Newton step of this working set
        # (the next step then re-solves only the blocks that moved since)
        xw_newton = None
        dirty = None
        if banded and dirty_epochs and all_in:
            slack = _DIRTY_SLACK * eps_inner
            # (no violator outside the support, yet not converged: the violation is
            # on the support, which the carried bounds may miss at rounding level
            # (a bound is exact in exact arithmetic only): every coordinate is visited)
            dirty, pend, xw_newton = _dirty_start(ws, slack, carry if n_viol > 0 else None)
            n_flag = int(np.count_nonzero(dirty))
        carry = None
        for epoch in range(1, max_epochs + 1):
            if banded:
                # the violation is measured on the way (before each update)
                if dirty is not None and n_flag > _DIRTY_SHARE * ws.size:
                    # most coordinates to visit: a full epoch (faster per coordinate);
                    # its moves give the next flags only after a Newton step (few
                    # move then), otherwise every coordinate stays flagged
                    if stepped:
                        changes, viol, n_flag = design.cd_epoch_violation_flags(
                            xw, r, ws, thresh, positive, dirty, pend, slack, inside)
                    else:
                        changes, viol = design.cd_epoch_violation(xw, r, ws, thresh,
                                                                  positive, inside)
                        dirty.fill(1)
                        pend.fill(np.inf)  # (no bound: carried over as such)
                        n_flag = ws.size
                elif dirty is not None:
                    changes, viol = design.cd_epoch_violation_dirty(
                        xw, r, ws, thresh, positive, dirty, pend, slack, inside)
                    n_flag = int(np.count_nonzero(dirty))
                else:
                    changes, viol = design.cd_epoch_violation(xw, r, ws, thresh, positive,
                                                              inside)
                n_epochs += 1
                if viol <= eps_inner:
                    break
            else:
                changes = design.cd_epochs(x, r, ws, thresh, positive, 1)
                n_epochs += 1
                # stop only after a coordinate epoch (it sets to exactly zero what a
                # Newton step brought next to zero)
                if epoch % check_every == 0 or stepped:
                    if design.cd_violation(x, r, ws, thresh, positive) <= eps_inner:
                        break
            stepped = False
            if (newton_now and epoch - last_newton >= _NEWTON_EVERY
                    and changes <= _NEWTON_CHANGES * ws.size):
                # sign pattern nearly stable: jump to the optimum of its face
                last_newton = epoch
                pos = None
                if xw_newton is not None:
                    if t_min is None:
                        t_min = float(thresh.min())
                    pos = design.newton_positions(ws, xw, xw_newton, t_min)
                if pos is not None:
                    # the blocks that moved since the last step (x is current there)
                    sub = ws[pos]
                    x[sub] = xw[pos]
                    stepped = bool(design.newton_step(x, r, sub, thresh, positive))
                    if stepped:
                        xw[pos] = x[sub]
                        if dirty is not None:
                            n_flag = _flag_moved(design, ws, pos.size, dirty, pos)
                else:
                    if banded:
                        x[ws] = xw
                    xw_old = xw.copy() if dirty is not None else None
                    n_updated = design.newton_step(x, r, ws, thresh, positive)
                    stepped = bool(n_updated)
                    if stepped and banded:
                        np.take(x, ws, out=xw, mode="clip")
                        if dirty is not None:
                            n_flag = _flag_moved(design, ws, n_updated, dirty, xw, xw_old)
                if stepped and banded:
                    if xw_newton is None:
                        xw_newton = xw.copy()
                    else:
                        xw_newton[:] = xw
                if stepped and acc is not None:
                    acc.reset()
            if acc is not None and not stepped:
                x_ws = xw if banded else x[ws]
                acc.push(x_ws)
                if acc.due():
                    moved = _try_extrapolation(acc, design, x_ws, r, ws, thresh, positive)
                    if moved and dirty is not None:
                        dirty.fill(1)
                        pend.fill(np.inf)
                        n_flag = ws.size
                    if moved and not banded:
                        x[ws] = x_ws  # (banded: x_ws is xw itself, written back below)
        if banded:
            x[ws] = xw
        if dirty is not None:
            # the next working set (if it holds every violator too) starts from the
            # bounds on the KKT distances and from the Newton snapshot of this one;
            # coordinates still flagged (e.g. next to a Newton step's moves when the
            # epochs ran out) have no valid bound: carried as unbounded (flagged again)
            carry = (ws.copy(), np.where(dirty != 0, np.inf, pend), xw_newton)
        if xw0 is not None:
            # follow c = A^T r by the change of the working set's coefficients
            # when that is cheaper than the next check's full correlation
            np.subtract(xw, xw0, out=xw0)
            n_changed = int(np.count_nonzero(xw0))
            corr_ok = (n_changed * (2 * L - 1) * design.n_kernels
                       <= _INCREMENTAL_SHARE * n * L)
            if corr_ok:
                design.cd_corr_update(corr, ws, xw0)
        # guard against drift of the incrementally updated residual
        if outer % 10 == 9:
            design.residual_into(y, x, r)
            corr_ok = False
    else:
        chk, *_ = _outer_measures(design, datafit, penalty, x, r, thresh, positive, scores,
                                  fast, has_dual)
        history.append(chk.primal)
        if is_converged(chk, rule, tol, kkt_scale):
            converged, reason = True, rule
    message = "" if converged else stop_message(
        f"coordinate descent stopped at max_iter={max_iter} outer iterations",
        chk, rule, tol, kkt_scale)
    if message and warn:
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
    return SolverResult(coef=x, objective=np.asarray(history), n_iter=n_epochs, gap=chk.gap,
                        kkt_violation=chk.kkt, converged=converged, stop_reason=reason,
                        solver="cd", tol=tol, n_outer=len(history), message=message)


_EMPTY = np.empty(0, dtype=np.int64)


def _flag_moved(design, ws, n_moved, dirty, pos, before=None):
    """Flag the coordinates of ``ws`` near those a Newton step moved: the
    positions ``pos`` (or, with ``before`` given, those where the coefficients
    ``pos`` differ from ``before``); ``n_moved``: at most their number.  Returns
    the number flagged.  When ``n_moved`` is more than ``_DIRTY_SHARE`` of the
    working set, every coordinate is flagged instead (the next epoch is then a
    full one, which recomputes the flags and bounds after a step: see
    ``_coordinate_descent``)."""
    if n_moved > _DIRTY_SHARE * ws.size:
        dirty.fill(1)
        return ws.size
    if before is not None:
        pos = np.flatnonzero(pos != before)
    design.cd_flag_overlapping(ws, pos, dirty)
    return int(np.count_nonzero(dirty))


def _dirty_start(ws, slack, carry):
    """Flags, KKT-distance bounds and Newton snapshot at the start of a working-set
    solve with dirty epochs (``_cd_kernels.banded_epoch_violation_dirty``).

    ``carry``: None (every coordinate is flagged, no snapshot), or ``(old_ws,
    old_pend, old_snapshot)`` left by the previous working-set solve when it
    had dirty epochs too and ``x`` did not change since: a coordinate of both
    working sets keeps its bound (flagged when above ``slack``), a new one is
    flagged; the Newton snapshot (None: none was taken) is carried over, zero
    for the new coordinates (they were zero), so that the first Newton step
    re-solves only the blocks that moved since the last one.
    Returns ``(dirty, pend, snapshot)``.
    """
    m = ws.size
    dirty = _scratch("dirty", ws.size, np.uint8)[:m]
    pend = _scratch("pend", ws.size)[:m]
    snapshot = None
    if carry is None:
        dirty.fill(1)
        pend.fill(0.0)
    else:
        old_ws, old_pend, old_snapshot = carry
        kern.carry_values(old_ws, old_pend, ws, np.inf, pend)
        np.greater(pend, slack, out=dirty.view(np.bool_))
        if old_snapshot is not None:
            snapshot = kern.carry_values(old_ws, old_snapshot, ws, 0.0, np.empty(m))
    return dirty, pend, snapshot


def _banded_measures(design, x, r, thresh, positive, cand, cscores, nz, has_dual, tol, first,
                     corr=None, corr_ok=False):
    """:func:`_outer_measures` of the banded fast path; lists the working-set
    candidates in ``cand`` and their scores in ``cscores`` (see
    ``_cd_kernels.banded_scores_cand``).

    ``nz``: sorted indices that include every nonzero of ``x`` (the last
    working set: every nonzero of ``x`` is in it; None: all coordinates, or
    none at the first check of a cold start, ``first``, where ``x == 0``; an
    array of ``x.size`` entries, here ``cand``, stands for all coordinates).
    ``corr`` (optional): ``A^T r``, current when ``corr_ok`` (then no
    correlation is formed), else formed and stored there.
    """
    if nz is None:
        # (every coordinate: any array of x.size entries stands for it, unread;
        # ``cand`` is at hand, an arange of n would be formed and faulted in)
        nz = _EMPTY if first else cand
    args = (thresh, positive, cand, cscores)
    if corr is None:
        stats = design.cd_candidates(x, nz, r, *args)
    elif corr_ok:
        stats = design.cd_candidates_from_corr(x, nz, r, corr, *args)
    else:
        stats = design.cd_candidates(x, nz, r, *args, store=corr)
    chk, n_sup, n_viol, cmax = _fast_check(stats, has_dual)
    if first and _near_optimal_at_zero(chk, tol, cmax):
        # (nearly) converged at zero: decide with the design's own adjoint
        scores = np.empty(x.size)
        chk, n_sup, n_viol, cmax = _fast_check(
            Design.cd_scores(design, x, r, thresh, positive, scores), has_dual)
        idx = np.flatnonzero(scores > 0)
        cand[:idx.size] = idx
        cscores[:idx.size] = scores[idx]
    return chk, n_sup, n_viol, cmax


def _try_extrapolation(acc, design, x_ws, r, ws, thresh, positive):
    """Anderson extrapolation of the working set's coefficients ``x_ws``
    (``x_ws[i]`` is coefficient ``ws[i]``), kept only when it lowers the
    objective; then ``x_ws`` and ``r`` are updated in place and True returned."""
    x_acc = acc.extrapolate()
    if x_acc is None:
        return False
    if positive:
        x_acc = np.maximum(x_acc, 0.0)
    delta = x_acc - x_ws
    t = thresh[ws] if thresh.size > 1 else thresh[0]
    d_pen = float(np.sum(t * np.abs(x_acc))) - float(np.sum(t * np.abs(x_ws)))
    d_rr = design.delta_rr(r, ws, delta)
    if d_rr is not None:
        # objective change computed on the rows the working set touches
        if 0.5 * d_rr + d_pen < 0.0:
            design.apply_delta(r, ws, delta)
            x_ws[:] = x_acc
            return True
        return False
    r_acc = r.copy()
    design.apply_delta(r_acc, ws, delta)
    if 0.5 * (float(r_acc @ r_acc) - float(r @ r)) + d_pen < 0.0:
        x_ws[:] = x_acc
        r[:] = r_acc
        return True
    return False
