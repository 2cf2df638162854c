"""Algorithm 1 of Luengo, Via and Trigano for one signal."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np

from ..solvers import Quadratic, WeightedL1, coordinate_descent, solve
from ..solvers._cd import _SCRATCH_MAX
from ..solvers._cd import _scratch as _solver_scratch
from ..solvers._optimality import check_optimality
from . import _cross_products_kernels as kern
from ._cross_products_ops import _SPARSE_FACTOR
from ._cross_products_kernels import column_data, merge_pairs_cols, segment_passes_cols
from ._cross_products_kernels import zero_by_kkt as zero_kkt_kernel

__all__ = ["algorithm1", "CrossProductsProblem"]

# block length of the element-wise combinations of residuals (bounded temporaries)
_BLOCK = 1 << 16


class SparseCoef(NamedTuple):
    """Flat coefficients stored by their non-zeros.

    ``idx`` (int64, increasing) are the flat indices ``p N + t`` of the non-zero
    entries, ``val`` their values (no zeros).  Algorithm 1 keeps its sparse
    iterates in this form between the solves, so that they take
    ``16 nnz`` bytes instead of ``8 P N``; :meth:`CrossProductsProblem.dense`
    gives back the dense vector, bit for bit.
    """

    idx: np.ndarray
    val: np.ndarray


def _compact(x):
    """The non-zeros of the flat array ``x`` as a :class:`SparseCoef`."""
    return SparseCoef(*kern.nonzeros(x))


def _on(c, U):
    """Values of ``c`` at the sorted flat indices ``U`` (a superset of ``c.idx``), 0 elsewhere."""
    v = np.zeros(U.size)
    v[np.searchsorted(U, c.idx)] = c.val
    return v


def _from_union(U, v):
    """The :class:`SparseCoef` of values ``v`` at the sorted flat indices ``U`` (zeros dropped)."""
    keep = v != 0
    return SparseCoef(U[keep], v[keep])


def _blend(a, b, step):
    """``(1 - step) a + step b``, element-wise as numpy computes it, with block temporaries."""
    out = np.empty_like(a)
    w = 1.0 - step
    for lo in range(0, a.size, _BLOCK):
        hi = min(lo + _BLOCK, a.size)
        o = out[lo:hi]
        np.multiply(a[lo:hi], w, out=o)
        o += step * b[lo:hi]
    return out


# thread-local zero vectors for the dense temporaries of Algorithm 1 (warm starts,
# polished iterate): written at the non-zeros of an iterate, then zeroed there again,
# instead of a fresh length-``P N`` array each time (whose first touch of every page
# costs more than the few writes); kept for vectors of at most ``_SCRATCH_MAX`` entries
# (the solver's pool limit, :func:`sparse_events.solvers._cd._scratch`).  Each thread that
# runs Algorithm 1 keeps this float64 buffer of ``max(P N, 2^16)`` entries, the largest
# ``P N <= _SCRATCH_MAX`` it has seen, for its lifetime (2 MiB at most); the thresholds of
# its solves live in the solver's pool.  The sparse ECG detector's largest chunk call on
# MIT-BIH / NSTDB (default chunking, 6 kernels of 28 440 samples) has P N = 170 640.
_scratch = threading.local()


@contextmanager
def _dense_scratch(n, c):
    """The dense length-``n`` vector of the :class:`SparseCoef` ``c``, in a reused buffer.

    Yields the same values as ``CrossProductsProblem.dense(c)``.  The caller
    may change the buffer only at the indices ``c.idx`` (those are zeroed
    again on exit, also after an exception) and must not keep it: the next
    use overwrites it.  Vectors longer than ``_SCRATCH_MAX``, and a nested use
    (the buffer already lent), get a fresh array.
    """
    if n > _SCRATCH_MAX or getattr(_scratch, "lent", False):
        x = np.zeros(n)
        x[c.idx] = c.val
        yield x
        return
    buf = getattr(_scratch, "zeros", None)
    if buf is None or buf.size < n:
        buf = _scratch.zeros = np.zeros(max(n, 1 << 16))
    x = buf[:n]
    try:
        _scratch.lent = True
        x[c.idx] = c.val
        yield x
    finally:
        x[c.idx] = 0.0
        _scratch.lent = False


def _thresholds_buffer(P, N):
    """A reused ``(P, N)`` float64 array for the thresholds of a weighted-LASSO solve.

    The solver's per-thread pool (:func:`sparse_events.solvers._cd._scratch`,
    its own name), overwritten by every solve (the solver and
    ``zero_by_kkt_inplace`` only read it during the solve's iteration, nothing
    keeps it); a fresh array above ``_SCRATCH_MAX`` entries.
    """
    return _solver_scratch("cross_products_thresholds", P * N).reshape(P, N)


class CrossProductsProblem:
    """Eq. 8 and its linearization for one signal ``y`` (flat coefficients, ``P`` rows of ``N``).

    ``F(s) = sum_t a_t + beta ||y - H s||^2 + a^T G a`` with ``a_t = sum_p |s_p[t]|``;
    the weighted LASSO of a step is
    ``Q(s) = 0.5 ||y - H s||^2 + (1 / (2 beta)) gamma^T |s|``.
    """

    def __init__(self, ops, y, beta):
        self.ops, self.y, self.beta = ops, y, beta
        self.P, self.N = ops.n_kernels, ops.n_samples
        self.lasso_alpha = 1.0 / (2.0 * beta)

    def residual(self, s):
        return self.ops.residual(self.y, s)

    def residual_sparse(self, c):
        """``self.residual(self.dense(c))`` (same bits) for the :class:`SparseCoef` ``c``."""
        out = self.ops.matvec_nonzeros(c.idx, c.val)
        return np.subtract(self.y, out, out=out)

    def cost(self, s, r):
        """Eq. 8 at ``s`` with residual ``r = y - H s``."""
        return self.cost_of_magnitudes(self.ops.magnitudes(s), r)

    def cost_of_magnitudes(self, a, r):
        """Eq. 8 from the per-time magnitudes ``a`` and the residual ``r``."""
        return float(a.sum()) + self.beta * float(r @ r) + self.ops.quadratic(a)

    def weights(self, s):
        """``gamma = 1 + 2 G a`` repeated for each kernel (flat, length ``P N``)."""
        return self.weights_of_magnitudes(self.ops.magnitudes(s))

    def _gamma(self, a):
        """``1 + 2 G a`` for the per-time magnitudes ``a`` (length ``N``)."""
        gam = self.ops.toeplitz(a)
        np.multiply(gam, 2.0, out=gam)  # in place: no extra length-N temporaries
        np.add(gam, 1.0, out=gam)
        return gam

    def weights_of_magnitudes(self, a):
        """``1 + 2 G a`` for the per-time magnitudes ``a`` (length ``N``), repeated for each
        kernel (flat, length ``P N``)."""
        gam = self._gamma(a)
        return np.tile(gam, self.P) if self.P > 1 else gam

    # -- per-segment machinery ---------------------------------------------------
    def segment_index(self, T, starts):
        """Segment of every time in ``T``."""
        return np.repeat(np.arange(starts.size), np.diff(np.append(starts, T.size)))

    # -- sparse iterates (SparseCoef): what Algorithm 1 keeps between the solves ---------
    # Every method below gives, bit for bit, what the same computation on the dense
    # vector ``self.dense(c)`` gives (dense references: tests/_cross_products_reference.py),
    # without length-N temporaries where it can.
    def dense(self, c):
        """The dense flat vector (length ``P N``) of the :class:`SparseCoef` ``c``."""
        x = np.zeros(self.P * self.N)
        x[c.idx] = c.val
        return x

    def _abs_dense(self, c):
        """``ops.magnitudes(self.dense(c))`` (length ``N``)."""
        if self.P == 1:
            a = np.zeros(self.N)
            a[c.idx] = np.abs(c.val)
            return a
        # sum over the kernels in kernel order, as the dense reduction adds its rows
        # (the zeros it adds change no bit): without the length-``P N`` vector
        return np.bincount(c.idx % self.N, weights=np.abs(c.val), minlength=self.N)

    def _magnitudes_at(self, c, T):
        """``magnitudes(dense c)[T]`` for sorted times ``T`` covering the times of ``c``."""
        if self.P == 1:
            return np.abs(_on(c, T))
        return self._abs_dense(c)[T]

    def _window_products_at(self, a_t, T, Q):
        """``ops.toeplitz(a)[Q]`` for ``a`` zero outside the sorted times ``T`` (``a[T] = a_t``)."""
        ops = self.ops
        if ops.window_is_zero:
            return np.zeros(Q.size)
        nz = np.flatnonzero(a_t)
        if nz.size * ops._g_taps.size > _SPARSE_FACTOR * ops.n_samples:
            a = np.zeros(self.N)  # toeplitz filters densely here: same engine
            a[T] = a_t
            return ops.toeplitz(a)[Q]
        out = np.empty(Q.size)
        kern.window_at(np.ascontiguousarray(T[nz], dtype=np.int64),
                       np.ascontiguousarray(a_t[nz], dtype=np.float64), ops.window,
                       np.ascontiguousarray(Q, dtype=np.int64), out)
        return out

    def cost_sparse(self, c, r):
        """``self.cost(self.dense(c), r)``."""
        return self.cost_of_magnitudes(self._abs_dense(c), r)

    def surrogate_gamma(self, c, r, gamma):
        """``Q(c) = 0.5 ||r||^2 + (1 / (2 beta)) gamma^T |c|`` for the :class:`SparseCoef` ``c``.

        ``gamma`` (length ``N``) are the weights of every kernel (None: all
        ones) and ``r = y - H c``; only the weights at the support of ``c``
        are read.  With ``gamma = self._gamma(self._abs_dense(w))`` this is,
        bit for bit, ``Q`` with the weights ``self.weights(self.dense(w))``.
        """
        gam = np.ones(c.idx.size) if gamma is None else gamma[c.idx % self.N]
        return 0.5 * float(r @ r) + self.lasso_alpha * float(gam @ np.abs(c.val))

    def zero_by_kkt_inplace(self, x, thresh, positive):
        """Zero, in place, the coefficients of ``x`` whose exact coordinate minimiser of Q is 0.

        ``Q`` is the weighted LASSO with thresholds ``t = thresh``
        (``lasso_alpha * gamma``).  With ``r = y - H x``, ``c_i = h_i^T r`` and
        ``n_i = ||h_i||^2``, the minimiser of ``Q`` over coefficient ``i``
        alone is zero exactly when ``|n_i x_i + c_i| <= t_i`` (``n_i x_i + c_i
        <= t_i`` with ``positive``): the coordinate-wise KKT condition of a
        zero.  Every support coefficient meeting it is set to zero, one at a
        time with the residual updated in between (passes over the support
        until one changes nothing), so each change is an exact coordinate
        minimisation: ``Q`` never increases, no coefficient becomes non-zero
        and the other coefficients are left bit for bit unchanged.

        A solver stopped on a relative duality gap (in particular one that
        returns a warm start already meeting it, without a single update)
        keeps coefficients far below the scale of that gap even where the
        exact weighted-LASSO solution is zero by a wide margin; this removes
        them.  Costs ``O(nnz L)``.  Returns ``y - H x`` for the final ``x`` and
        the :class:`SparseCoef` of the final ``x``.
        """
        c = _compact(x)
        r = self.residual_sparse(c)
        if c.idx.size == 0:
            return r, c
        design = self.ops.design
        n_zeroed = zero_kkt_kernel(x, r, c.idx, design.kernels, design.cumsq, self.N,
                                   design.shift, np.ascontiguousarray(thresh, dtype=np.float64),
                                   bool(positive))
        if n_zeroed == 0:
            return r, c  # untouched
        r = None  # the exact residual (r was updated incrementally)
        # the non-zeros of x are among those of c (only zeros were set)
        vals = x[c.idx]
        keep = vals != 0.0
        c = SparseCoef(c.idx[keep], vals[keep])
        return self.residual_sparse(c), c

    def segment_cost_change_sparse(self, T, starts, x_old, r_old, x_new, want_residual):
        """``F_b(x_new) - F_b(x_old)`` for every segment ``b`` (SparseCoef iterates).

        ``T`` are the sorted times of the union support and ``starts`` the
        first index (into ``T``) of every segment, groups of coefficients that
        do not interact (consecutive times more than ``max(L_h - 1, L_g)``
        apart start a new one), so that eq. 8 restricted to the union support
        is a sum of one term per segment.  The change of the data term is
        computed from ``H (x_new - x_old)`` (not from two residuals), so that
        tiny changes are not lost to rounding, on the rows under the segments
        only: one length-``M`` array, which becomes ``y - H x_new`` when
        ``want_residual`` (else ``None`` is returned).
        """
        ops = self.ops
        a_new_t = self._magnitudes_at(x_new, T)
        a_old_t = self._magnitudes_at(x_old, T)
        d_l1 = np.add.reduceat(a_new_t - a_old_t, starts)
        q_new = np.add.reduceat(a_new_t * self._window_products_at(a_new_t, T, T), starts)
        q_old = np.add.reduceat(a_old_t * self._window_products_at(a_old_t, T, T), starts)
        d_cross = q_new - q_old
        # dr = -H (x_new - x_old), as ops.matvec computes H of the dense step
        U = np.union1d(x_old.idx, x_new.idx)
        step = _on(x_new, U) - _on(x_old, U)
        nz = np.flatnonzero(step)
        dr = ops.matvec_nonzeros(U[nz], step[nz])
        del step, U, nz
        np.negative(dr, out=dr)
        # data term: sum over the rows [lo, hi) of every segment (disjoint, increasing)
        # of dr (2 r_old + dr), gathered into one compact array
        ends = np.concatenate([starts[1:], [T.size]]) - 1
        lo = np.clip(T[starts] + ops._h_offsets[0], 0, ops.n_rows)
        hi = np.clip(T[ends] + ops._h_offsets[-1] + 1, 0, ops.n_rows)
        lens = np.maximum(hi - lo, 0)
        first = np.cumsum(lens) - lens
        rows = np.repeat(lo - first, lens) + np.arange(int(lens.sum()))
        d_rows = dr[rows]
        diff = r_old[rows]
        np.multiply(diff, 2.0, out=diff)
        np.add(diff, d_rows, out=diff)
        np.multiply(diff, d_rows, out=diff)
        del d_rows, rows
        d_data = np.zeros(starts.size)
        nonempty = lens > 0
        if diff.size:
            d_data[nonempty] = np.add.reduceat(diff, first[nonempty])
        del diff
        if want_residual:
            np.add(r_old, dr, out=dr)  # y - H x_new
        else:
            dr = None
        return d_l1 + self.beta * d_data + d_cross, dr

    def final_step_sparse(self, s, r_s, cost, s_tilde):
        """Full step to ``s~`` or pruning of ``s`` to the support of ``s~``, per segment.

        ``s~`` solves the weighted LASSO at ``gamma(s)``.  In every segment (see
        :meth:`segment_cost_change_sparse`) the better of the full step
        (``s~``) and the pruned iterate (``s`` with the coefficients that are
        zero in ``s~`` set to zero) replaces ``s`` when it does not increase
        eq. 8.  Returns ``(s, r, cost, trial_cost, changed)`` (``s`` a
        :class:`SparseCoef`).
        """
        N = self.N
        T = np.union1d(s.idx % N, s_tilde.idx % N)
        if T.size == 0:
            return s, r_s, cost, cost, False
        starts = np.concatenate([[0], np.flatnonzero(np.diff(T) > self.ops.interaction) + 1])
        seg = self.segment_index(T, starts)
        U = np.union1d(s.idx, s_tilde.idx)
        sv, stv = _on(s, U), _on(s_tilde, U)
        prv = np.where(stv != 0, sv, 0.0)
        pruned = _from_union(U, prv)
        d_full, _ = self.segment_cost_change_sparse(T, starts, s, r_s, s_tilde, False)
        d_prune, _ = self.segment_cost_change_sparse(T, starts, s, r_s, pruned, False)
        use_full = (d_full <= 0) & (d_full <= d_prune)
        use_prune = ~use_full & (d_prune <= 0)
        if not (use_full.any() or use_prune.any()):
            return s, r_s, cost, cost, False
        seg_u = seg[np.searchsorted(T, U % N)]
        cand = _from_union(U, np.where(use_full[seg_u], stv, np.where(use_prune[seg_u], prv, sv)))
        if np.array_equal(cand.idx, s.idx) and np.array_equal(cand.val, s.val):
            return s, r_s, cost, cost, False
        _, r_cand = self.segment_cost_change_sparse(T, starts, s, r_s, cand, True)
        cand_cost = self.cost_sparse(cand, r_cand)
        # the change is a sum of non-positive segment changes: guard against rounding
        return cand, r_cand, min(cand_cost, cost), cand_cost, True

    def _polish_support(self, x, c, positive, max_rounds=50, max_passes=200, rtol=1e-12,
                        r=None, a=None, cost=None):
        """Exact one-coordinate passes and pairwise merges on eq. 8 itself, on ``x`` in place.

        1. Coordinate passes: every non-zero coefficient ``c`` (kernel ``p``,
           time ``t``) in turn is set to the minimiser of eq. 8 over that
           coordinate, the others fixed.  With ``r_{-c}`` the residual and
           ``a_{-c}`` the magnitudes without ``x_c``, eq. 8 is, up to a constant,
           ``(beta n_c + g[0]) v^2 - 2 beta (h_c^T r_{-c}) v + w_c |v|`` with
           ``n_c = ||h_c||^2`` and ``w_c = 1 + 2 (G a_{-c})[t]``, minimised by
           ``sign(z) max(2 beta |z| - w_c, 0) / (2 (beta n_c + g[0]))``,
           ``z = h_c^T r_{-c}`` (``max(2 beta z - w_c, 0) / ...`` with
           ``positive``).  Zero coefficients are not visited: the support
           never grows.  Passes repeat until none changes anything (relative
           moves below ``rtol``, no new zero) or ``max_passes``, separately
           for every group of interacting coefficients (times at most
           ``max(L_h - 1, L_g)`` apart), so that one slowly converging group
           does not cost passes over the whole support.
        2. Pairwise merges: for every pair of non-zero coefficients at most
           ``L_g`` samples apart, the two moves "zero one, refit the other by
           its exact 1-D minimiser" are evaluated exactly and the better one
           applied if it lowers eq. 8 (by more than rounding, ``4 eps F(x)``).

        The two alternate until no merge is accepted (at most ``max_rounds`` rounds of
        passes then merges).  The groups are those of the support at the start.  The first
        round passes over every group; later rounds only over the groups that a merge of
        the previous round changed or whose passes stopped at ``max_passes`` still
        moving.  A group whose last pass moved no coefficient by more than ``rtol`` (and
        zeroed none) is not passed over again: the result is not a fixed point of the
        passes (another pass may still move its coefficients, by relative amounts of the
        order of ``rtol``) and differs from passing over every group in every round by
        such moves (November 2026, the 10 polished chunks of the first 10 min of MIT-BIH
        101, 203, 207, 208 and 215: at ``rtol = 1e-4`` and 5 passes, the detector's, all
        10 differ, coefficients by up to 1.9e-4 relatively, eq. 8 higher by up to
        3.2e-11 relatively, never lower; at ``rtol = 1e-12`` and 200 passes one differs,
        by 5.7e-11 relatively, eq. 8 equal).  Every step is an exact minimisation or a
        strict decrease: eq. 8 never increases.  Costs ``O(nnz (L + L_g))`` per
        pass.

        ``x`` is dense (length ``P N``) and ``c`` (a :class:`SparseCoef`, at
        least one non-zero) must hold exactly the non-zeros of ``x``.  Optionally, ``r`` (``self.residual_sparse(c)``),
        ``a`` (``self._abs_dense(c)``, a fresh array) and ``cost``
        (``self.cost_of_magnitudes(a, r)``), the same bits as computed here when
        they are not given; ``r`` and ``a`` are then updated in place (the
        caller must not use them afterwards).  Returns the sum of the exact
        changes of eq. 8 of the steps taken (``<= 0``).
        """
        support = c.idx
        ops, design = self.ops, self.ops.design
        if r is None:
            r = self.residual_sparse(c)
        if a is None:
            # ops.magnitudes(x) from the non-zeros (same bits); a fresh array: the kernels
            # update it in place
            a = np.ascontiguousarray(self._abs_dense(c), dtype=np.float64)
        if cost is None:
            # self.cost(x, r), from these magnitudes (the same bits)
            cost = self.cost_of_magnitudes(a, r)
        times = support % self.N
        perm = np.argsort(times, kind="stable")
        order = np.ascontiguousarray(support[perm], dtype=np.int64)
        times = np.ascontiguousarray(times[perm], dtype=np.int64)
        min_dec = 4.0 * np.finfo(float).eps * abs(cost)
        beta = float(self.beta)
        # the column data of order (kernel, rows, norm): order does not change, so it is
        # formed once for every round
        cols = column_data(order, ops.kernels, design.cumsq, self.N, design.shift, r.size,
                           ops.window, beta)
        args = (ops.kernels, self.N, ops.window, beta, bool(positive))
        total = 0.0
        # after the first round, only the groups where a merge changed something, or
        # whose passes stopped at max_passes still moving, are passed over again (the
        # others settled: their last pass moved nothing by more than rtol)
        marked = np.ones(order.size, dtype=bool)
        for _ in range(max_rounds):
            # (marked becomes the groups left unsettled, and the merges add theirs)
            d, _, _ = segment_passes_cols(x, r, a, order, times, int(ops.interaction), cols,
                                          *args, rtol, max_passes, marked)
            total += d
            d, n_merged = merge_pairs_cols(x, r, a, order, times, cols, *args, min_dec, marked)
            total += d
            if n_merged == 0:
                break
        return total


def _kkt_violation(datafit, prob, coef, positive):
    """``check_optimality(datafit, WeightedL1(lasso_alpha, gamma(coef)), coef, r).kkt``.

    The same products and distances (same functions, same bits), without the
    duality gap that is not reported: one length-``M`` residual at a time, and
    ``gamma`` formed once the residual is released.
    """
    r = datafit.residual(coef)
    if not (np.all(np.isfinite(coef)) and np.isfinite(float(r @ r))):
        # non-finite: let check_optimality name the argument (as before)
        return check_optimality(datafit, WeightedL1(prob.lasso_alpha, prob.weights(coef),
                                                    positive=positive), coef, r).kkt
    corr = datafit.design.rmatvec(r)  # A^T r, as check_optimality computes it
    r = None
    penalty = WeightedL1(prob.lasso_alpha, prob.weights(coef), positive=positive)
    dist = penalty.subdiff_distance(coef, corr)
    return float(dist.max()) if dist.size else 0.0


def _relative_gap(res):
    """The relative duality gap of the weighted-LASSO solve ``res`` (nan when undefined)."""
    primal = float(res.objective[-1]) if len(res.objective) else np.nan
    if not (np.isfinite(res.gap) and np.isfinite(primal)):
        return np.nan
    return float(res.gap) / primal if primal > 0 else 0.0


def _stationary_after_truncation(kkt, lasso_alpha, tol, decrease, last_gap, check_kkt):
    """Whether a run whose surrogate decrease fell below ``tol`` while its last
    weighted-LASSO solve stopped at ``inner_max_iter`` (with a relative gap above
    ``tol``; a smaller one counts as solved) returned a stationary point.

    With ``check_kkt``: decided on the measured KKT violation of the returned
    coefficients (after the final step and the polish, which often make them
    exactly stationary): ``kkt <= sqrt(tol) * lasso_alpha``.  Without it: the
    surrogate decrease plus the last solve's relative gap ``last_gap`` at most
    ``2 tol``.
    """
    if check_kkt:
        return bool(np.isfinite(kkt) and kkt <= np.sqrt(tol) * lasso_alpha)
    return bool(np.isfinite(last_gap) and decrease + last_gap <= 2.0 * tol)


def algorithm1(ops, y, beta, *, positive, tol, inner_tol, inner_max_iter, max_reweights,
               min_step, solver, final_step, magnitudes0=None, check_kkt=True,
               polish_max_passes=200, polish_rtol=1e-12, first_inner_tol=None):
    """Run Algorithm 1 on one signal; return a dict of the fields of CrossProductsResult.

    ``first_inner_tol`` (optional): the tolerance of the first weighted-LASSO
    solve instead of ``inner_tol`` (the solves after it keep ``inner_tol``).
    The first solve only gives the point where the cross-products term is
    linearized next; from a good ``magnitudes0`` a looser tolerance there
    saves outer iterations of the solver.

    ``magnitudes0`` (validated, float64, length ``N``, ``>= 0``, or None): the
    magnitudes ``a0`` at which the cross-products term is first linearized.
    The first weighted LASSO (cold-started at ``s = 0``, like the plain one)
    then has the weights ``gamma0 = 1 + 2 G a0`` instead of all ones, and its
    surrogate decrease is measured with them.  None or all zeros: the plain
    LASSO first, exactly as without it.

    ``check_kkt=False`` skips the stationarity check at the end
    (``kkt_violation`` is ``nan``).

    Memory: the iterates ``s`` and ``s~`` are sparse and kept as
    :class:`SparseCoef` between the solves; the weights ``gamma(s)`` (length
    ``N``) are formed once per iterate, and the thresholds of the coordinate
    descent (the weights times ``1 / (2 beta)``, length ``P N``) right before
    each solve, in a thread-local buffer that every solve overwrites.  The
    dense warm start (copied by the solver) and the polished iterate are
    written into a thread-local zero buffer and zeroed again at their support
    afterwards (:func:`_dense_scratch`): fresh length-``P N`` arrays would
    cost their first-touch page faults at every solve.  Held after the call,
    per thread that ran it: the zero buffer (``_scratch.zeros``, all zero between the
    calls) of ``max(P N, 2^16)`` entries and the thresholds buffer in the solver's
    pool (``max(P N, 1024)`` entries), each sized for the largest
    ``P N <= _SCRATCH_MAX = 2^18`` the thread has seen, i.e. at most 2 MiB each,
    until the thread ends; larger problems use fresh arrays, freed after
    the call.  Nothing else outlives the call.  Along the iterations, besides the input
    ``y``, at most the residuals of ``s``, ``s~`` and the trial point are held
    at full length, plus the solver's own arrays during a solve.  Every
    quantity is computed with the same arithmetic as on dense arrays: the
    iterates, costs and decisions are the same, bit for bit.
    """
    prob = CrossProductsProblem(ops, y, beta)
    datafit = Quadratic(ops.design, y)
    P, N = prob.P, prob.N
    empty = SparseCoef(np.zeros(0, dtype=np.int64), np.zeros(0))
    s = empty
    r_s = datafit.y  # y - H 0; never written in place, so not copied
    cost = np.inf
    # a_s: prob._abs_dense(s) and gam_s: prob._gamma(a_s) (length N), formed once per
    # iterate (None: not formed yet); exact: r_s and cost are, bit for bit,
    # prob.residual_sparse(s) and prob.cost_sparse(s, r_s) (so that the final step
    # does not compute them again)
    a_s = gam_s = None
    exact = False
    step = 1.0
    costs, trials, steps, accepted = [], [], [], []
    n_solves = n_inner = inner_failures = 0
    # whether the last weighted-LASSO solve met inner_tol, and its relative gap
    last_inner_ok, last_gap = True, 0.0
    s_tilde = r_tilde = None
    reason, converged = "max_reweights", False
    decrease = np.nan
    solver_name = "cd"
    # coordinate descent is called directly (what solve() picks for "auto"), so
    # that the dense warm start can be a reused buffer (the solver copies it)
    use_cd = solver == "cd" or (solver == "auto" and ops.design.supports_cd)
    if magnitudes0 is not None and not np.any(magnitudes0):
        magnitudes0 = None  # all zeros: weights all ones, the plain LASSO first
    for it in range(max_reweights):
        if s_tilde is None:  # s and gamma changed (or first iteration): solve again
            r_tilde = None
            # gam_w: the weights 1 + 2 G a (length N, the same for every kernel) of this
            # solve, a = a0 at the first one, |s| after; None: all ones
            gam_w = None
            if it == 0 and magnitudes0 is None:
                thresh = None
                penalty = WeightedL1(prob.lasso_alpha, None, positive=positive)
            else:
                if it == 0:
                    gam_w = prob._gamma(magnitudes0)
                else:
                    if gam_s is None:
                        # (a solve after the first follows an accepted trial point, which
                        # set a_s: a_s is never None here)
                        gam_s = prob._gamma(a_s)
                    gam_w = gam_s
                if use_cd:
                    # thresholds lasso_alpha * gamma(s) as the weights of a unit alpha:
                    # the solver uses them as they are (alpha * w == w), no copy; the
                    # products of np.tile(gamma, P) * lasso_alpha, in one pass
                    thresh = _thresholds_buffer(P, N)
                    np.multiply(gam_w, prob.lasso_alpha, out=thresh)
                    thresh = thresh.reshape(-1)
                    if np.isfinite(gam_w.max() * prob.lasso_alpha):
                        # valid thresholds (gam_w >= 1 for the validated g >= 0 and
                        # a >= 0; the largest product finite, so none overflowed and no
                        # NaN): not scanned again
                        penalty = WeightedL1(1.0, None, positive=positive)
                    else:  # let the penalty reject them, as it validates its weights
                        penalty = WeightedL1(1.0, thresh, positive=positive)
                    penalty.weights = thresh  # the (writable) array itself
                else:
                    gamma = np.tile(gam_w, P) if P > 1 else gam_w.copy()
                    penalty = WeightedL1(prob.lasso_alpha, gamma, positive=positive)
                    thresh = prob.lasso_alpha * gamma
                    del gamma
            # warn=False: the run reports its own ConvergenceWarning (no
            # warnings.catch_warnings, which is not thread-safe)
            tol_now = (first_inner_tol if it == 0 and first_inner_tol is not None
                       else inner_tol)
            if use_cd and it == 0:
                res = coordinate_descent(datafit, penalty, None, tol=tol_now,
                                         max_iter=inner_max_iter, warn=False)
            elif use_cd:
                # contract relied on: coordinate_descent copies its warm start x0
                # (check_x0) before any update, never writes to x0 and keeps no
                # reference to it (res.coef is its own array), so the thread-local
                # zero buffer lent here is all zero again after the block
                # (tests/test_cross_products_column_kernels.py checks both)
                with _dense_scratch(P * N, s) as x0:
                    res = coordinate_descent(datafit, penalty, x0, tol=tol_now,
                                             max_iter=inner_max_iter, warn=False)
            else:
                res = solve(datafit, penalty, None if it == 0 else prob.dense(s),
                            solver=solver, tol=tol_now, max_iter=inner_max_iter,
                            warn=False)
            penalty = None
            n_solves += 1
            n_inner += int(np.sum(res.n_iter))
            inner_failures += not res.converged
            last_gap = _relative_gap(res)
            # a solve stopped at inner_max_iter with a relative gap <= tol still certifies
            # a surrogate decrease <= tol up to a factor 2
            last_inner_ok = bool(res.converged) or bool(np.isfinite(last_gap)
                                                        and last_gap <= tol)
            solver_name = res.solver
            coef, res = res.coef, None
            if it == 0:
                # cold start: deconvolve's solution exactly (with weights gamma0 when given)
                s_tilde = _compact(coef)
                r_tilde = prob.residual_sparse(s_tilde)
            else:
                # exact zeros where the weighted LASSO's coordinate-wise KKT
                # condition says so (see zero_by_kkt_inplace): the inner stopping rule is
                # relative to Q and does not see coefficients of the size of the
                # left-overs of a step < 1 that the warm start s carries
                r_tilde, s_tilde = prob.zero_by_kkt_inplace(coef, thresh, positive)
            thresh = coef = None
            # Q(s) and Q(s~) with the weights of this solve (all ones at a plain first
            # solve): gam_w at the flat indices, the same bits as the weights of s there (s = 0
            # at the first solve: Q(s) = 0.5 ||y||^2)
            q_s = prob.surrogate_gamma(s, r_s, gam_w)
            q_tilde = prob.surrogate_gamma(s_tilde, r_tilde, gam_w)
            gam_w = None
            decrease = (q_s - q_tilde) / q_s if q_s > 0 else 0.0
        if it > 0 and decrease <= tol:
            # the decrease certifies a stationary point when the last solve minimised
            # the surrogate; after one stopped at inner_max_iter, the returned point is
            # checked at the end (_stationary_after_truncation; the same coef either way)
            reason, converged = (("stationary", True) if last_inner_ok
                                 else ("inner_max_iter", False))
            break
        if step == 1.0:
            # r_tilde is prob.residual_sparse(s_tilde) (zero_by_kkt_inplace and the cold
            # start compute it so)
            trial, r_trial, trial_exact = s_tilde, r_tilde, True
        else:
            U = np.union1d(s.idx, s_tilde.idx)
            trial = _from_union(U, (1.0 - step) * _on(s, U) + step * _on(s_tilde, U))
            del U
            r_trial = _blend(r_s, r_tilde, step)  # y - H trial, by linearity
            trial_exact = False
        a_trial = prob._abs_dense(trial)
        trial_cost = prob.cost_of_magnitudes(a_trial, r_trial)  # prob.cost_sparse
        trials.append(trial_cost)
        steps.append(step)
        ok = trial_cost < cost
        if ok:
            s, r_s, cost = trial, r_trial, trial_cost
            a_s, gam_s, exact = a_trial, None, trial_exact
            step = (1.0 + step) / 2.0
        else:
            step = step / 2.0
        trial = r_trial = a_trial = None  # a rejected trial point is not kept
        small = step < min_step
        accepted.append(ok)
        costs.append(cost)
        if ok:
            s_tilde = r_tilde = None  # gamma(s) is formed before the next solve
        if small:
            reason = "step_size"
            break
    n_iter = len(costs)
    coef_bare = s
    r_tilde = gam_s = None
    changed = False
    if final_step and costs:
        trial_cost = cost
        if s_tilde is not None:
            s, r_s, cost, trial_cost, changed = prob.final_step_sparse(s, r_s, cost, s_tilde)
            s_tilde = None
            if changed:
                exact, a_s = False, None
        decrease_polish = 0.0
        polished = s
        if s.idx.size:
            # r_s, a_s and cost are those the polish computes (same bits) when exact
            r0, a0, cost0 = (r_s, a_s, cost) if exact and a_s is not None else (None,) * 3
            r_s = a_s = None  # recomputed below when the polish changes s (r0, a0 updated)
            # (the polish changes x only on the support of s)
            with _dense_scratch(P * N, s) as x:
                decrease_polish = prob._polish_support(x, s, positive,
                                                       max_passes=polish_max_passes,
                                                       rtol=polish_rtol, r=r0, a=a0, cost=cost0)
                # the support never grows: the non-zeros of x are among those of s
                vals = x[s.idx]
            r0 = a0 = None
            keep = vals != 0.0
            polished = SparseCoef(s.idx[keep], vals[keep])
            del vals, keep
        if decrease_polish < 0 and not (np.array_equal(polished.idx, s.idx)
                                        and np.array_equal(polished.val, s.val)):
            s = polished
            r_s = prob.residual_sparse(s)
            trial_cost = prob.cost_sparse(s, r_s)
            # a sum of exact decreases: min() only guards against rounding
            cost = min(trial_cost, cost)
            changed = True
        if changed:
            trials.append(trial_cost)
            steps.append(1.0)
            accepted.append(trial_cost <= costs[-1])
            costs.append(cost)
    # release the length-N arrays no longer needed before the optimality check
    s_tilde = polished = r_s = a_s = None
    coef = prob.dense(s)
    kkt = _kkt_violation(datafit, prob, coef, positive) if check_kkt else float("nan")
    if reason == "inner_max_iter" and _stationary_after_truncation(
            kkt, prob.lasso_alpha, tol, decrease, last_gap, check_kkt):
        reason, converged = "stationary", True
    extra = {"inner_not_converged": inner_failures, "final_step_applied": changed,
             "coef_bare": coef if coef_bare is s else prob.dense(coef_bare)}
    cost_hist = np.asarray(costs)
    return dict(
        coef=coef, objective=cost_hist, n_iter=n_iter, gap=float("nan"),
        kkt_violation=kkt, converged=converged, stop_reason=reason, solver=solver_name,
        tol=tol, n_outer=n_iter, cost_history=cost_hist,
        trial_cost_history=np.asarray(trials), step_size_history=np.asarray(steps),
        accepted=np.asarray(accepted, dtype=bool), n_solves=n_solves, n_inner_iter=n_inner,
        surrogate_decrease=float(decrease), beta=beta, lasso_alpha=prob.lasso_alpha,
        extra=extra,
    )
