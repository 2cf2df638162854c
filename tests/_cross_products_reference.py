"""Dense reference methods of the cross-products problem (tests only).

Algorithm 1 (``sparse_events.models._cross_products_algorithm``) keeps its
iterates sparse and uses the sparse-iterate and in-place methods of
:class:`CrossProductsProblem`.  The plain dense versions below are what those
methods are checked against (bit for bit, or by exact decreases of eq. 8):
``zero_by_kkt`` (reference of ``zero_by_kkt_inplace``), ``surrogate``
(of ``surrogate_sparse``), ``segments`` / ``segment_cost_change`` /
``final_step`` (of ``final_step_sparse``) and ``polish`` (a copy-returning
wrapper of ``_polish_inplace``).  Compiled references of the final step's
kernels (``sparse_events.models._cross_products_kernels``): ``window_sum`` (the
full window sum, of ``_window_sum_near``), ``one_d`` (of ``_one_d_near``),
``merge_move`` (one merge move evaluated from scratch), ``segment_passes`` (every
group marked) and ``merge_pairs`` (no marks).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sparse_events.models._cross_products_algorithm import CrossProductsProblem
from sparse_events.models._cross_products_kernels import (_cross_gram, _merge_change,
                                                           _one_d_data, merge_pairs_marked,
                                                           segment_passes_marked)
from sparse_events.models._cross_products_kernels import zero_by_kkt as zero_kkt_kernel

__all__ = ["DenseCrossProductsProblem", "merge_move", "merge_pairs", "one_d",
           "segment_passes", "window_sum"]


@njit(cache=False)
def window_sum(a, t, window):
    """``(G a)[t] = sum_k g[|k|] a[t + k]`` over the whole window, ``k`` increasing
    (zero terms skipped, which leaves the sum's bits unchanged for finite ``g``)."""
    half = window.size - 1
    n = a.size
    acc = 0.0
    for k in range(max(-half, -t), min(half, n - 1 - t) + 1):
        v = a[t + k]
        if v != 0.0:
            acc += window[abs(k)] * v
    return acc


@njit(cache=False)
def one_d(x, r, a, c, kernels, cumsq, n_samples, shift, window, beta):
    """``(quad, lin, w, t)`` of eq. 8 over coordinate ``c`` alone, the window sum over
    the whole window (reference of ``_one_d_near``)."""
    quad, lin, t, old = _one_d_data(x, r, c, kernels, cumsq, n_samples, shift, window, beta)
    w = 1.0 + 2.0 * (window_sum(a, t, window) - window[0] * abs(old))
    return quad, lin, w, t


@njit(cache=False)
def merge_move(x, r, a, keep, drop, kernels, cumsq, n_samples, shift, window, beta, positive):
    """Exact change of eq. 8 when ``x[drop] = 0`` and ``x[keep]`` is refitted by its 1-D
    minimiser, every term computed from scratch; nothing is modified.  Returns
    ``(change, new value of x[keep])``."""
    qd, ld, wd, td = one_d(x, r, a, drop, kernels, cumsq, n_samples, shift, window, beta)
    qk, lk, wk, tk = one_d(x, r, a, keep, kernels, cumsq, n_samples, shift, window, beta)
    cross = _cross_gram(keep, drop, kernels, n_samples, shift, r.size)
    return _merge_change(qk, lk, wk, tk, x[keep], qd, ld, wd, td, x[drop], cross, window,
                         beta, positive)


@njit(cache=False)
def segment_passes(x, r, a, order, times, interaction, kernels, cumsq, n_samples, shift,
                   window, beta, positive, rtol, max_passes):
    """``segment_passes_marked`` with every group marked."""
    return segment_passes_marked(x, r, a, order, times, interaction, kernels, cumsq,
                                 n_samples, shift, window, beta, positive, rtol, max_passes,
                                 np.ones(order.size, dtype=np.bool_))


@njit(cache=False)
def merge_pairs(x, r, a, order, times, kernels, cumsq, n_samples, shift, window, beta,
                positive, min_decrease):
    """``merge_pairs_marked`` without marks."""
    return merge_pairs_marked(x, r, a, order, times, kernels, cumsq, n_samples, shift, window,
                              beta, positive, min_decrease,
                              np.zeros(order.size, dtype=np.bool_))


class DenseCrossProductsProblem(CrossProductsProblem):
    """:class:`CrossProductsProblem` with the dense reference methods."""

    def zero_by_kkt(self, s, gamma, positive):
        """Set to zero the coefficients of ``s`` whose exact coordinate minimiser of ``Q`` is 0.

        ``Q`` is the weighted LASSO with weights ``gamma`` (``None``: all ones),
        ``t_i = gamma_i / (2 beta)``.  With ``r = y - H s``, ``c_i = h_i^T r``
        and ``n_i = ||h_i||^2``, the minimiser of ``Q`` over coefficient ``i``
        alone is zero exactly when ``|n_i s_i + c_i| <= t_i`` (``n_i s_i + c_i
        <= t_i`` with ``positive``): the coordinate-wise KKT condition of a
        zero.  Every support coefficient meeting it is set to zero, one at a
        time with the residual updated in between (passes over the support
        until one changes nothing), so each change is an exact coordinate
        minimisation: ``Q`` never increases, no coefficient becomes
        non-zero and the other coefficients are left bit for bit unchanged.

        A solver stopped on a relative duality gap (in particular one that
        returns a warm start already meeting it, without a single update)
        keeps coefficients far below the scale of that gap even where the
        exact weighted-LASSO solution is zero by a wide margin; this removes
        them.  Costs ``O(nnz L)``.

        Returns
        -------
        s_new : ndarray
            A copy of ``s`` (``s`` itself when nothing changes).
        r_new : ndarray
            ``y - H s_new``.
        """
        r = self.residual(s)
        support = np.flatnonzero(s)
        if support.size == 0:
            return s, r
        design = self.ops.design
        n = self.P * self.N
        thresh = np.full(n, self.lasso_alpha) if gamma is None else self.lasso_alpha * gamma
        x = s.copy()
        n_zeroed = zero_kkt_kernel(x, r, support, design.kernels, design.cumsq, self.N,
                                   design.shift, np.ascontiguousarray(thresh, dtype=np.float64),
                                   bool(positive))
        if n_zeroed == 0:
            return s, r  # untouched
        # the exact residual (r was updated incrementally)
        return x, self.residual(x)

    def surrogate(self, s, r, gamma):
        """``Q(s) = 0.5 ||r||^2 + (1 / (2 beta)) gamma^T |s|`` (``gamma=None``: all ones)."""
        nz = np.flatnonzero(s)
        # only the support's weights: no length-N array of ones for gamma=None
        gam = np.ones(nz.size) if gamma is None else gamma[nz]
        return 0.5 * float(r @ r) + self.lasso_alpha * float(gam @ np.abs(s[nz]))

    def segments(self, s, s_tilde):
        """Groups of coefficients that do not interact with one another.

        Returns the sorted times ``T`` where ``s`` or ``s_tilde`` is non-zero and
        the start index (into ``T``) of every segment: consecutive times more
        than ``max(L_h - 1, L_g)`` apart start a new segment, so that ``F``
        restricted to the union support is a sum of one term per segment.
        """
        T = np.flatnonzero(self.ops.magnitudes(s) + self.ops.magnitudes(s_tilde))
        if T.size == 0:
            return T, np.zeros(0, dtype=np.int64)
        starts = np.concatenate([[0], np.flatnonzero(np.diff(T) > self.ops.interaction) + 1])
        return T, starts

    def segment_cost_change(self, T, starts, x_old, r_old, x_new):
        """``F_b(x_new) - F_b(x_old)`` for every segment ``b``, and ``y - H x_new``.

        The change of the data term is computed from ``H (x_new - x_old)``
        (not from two residuals), so that tiny changes are not lost to rounding.
        """
        ops = self.ops
        # one length-N temporary at a time where possible (this runs at the
        # memory peak of the algorithm); the arithmetic is unchanged
        a_new = ops.magnitudes(x_new)
        a_new_t = a_new[T]
        q_new = self._segment_quadratic(T, starts, a_new)
        del a_new
        a_old = ops.magnitudes(x_old)
        d_l1 = np.add.reduceat(a_new_t - a_old[T], starts)
        d_cross = q_new - self._segment_quadratic(T, starts, a_old)
        del a_old
        step = x_new - x_old
        dr = ops.matvec(step)
        del step
        np.negative(dr, out=dr)
        # data term: rows under the columns of the segment (disjoint across segments)
        ends = np.concatenate([starts[1:], [T.size]]) - 1
        lo = np.clip(T[starts] + ops._h_offsets[0], 0, ops.n_rows)
        hi = np.clip(T[ends] + ops._h_offsets[-1] + 1, 0, ops.n_rows)
        # diff = dr * (2 r_old + dr), followed by a 0 (end of the last segment)
        diff = np.empty(dr.size + 1)
        body = diff[:-1]
        np.multiply(r_old, 2.0, out=body)
        np.add(body, dr, out=body)
        np.multiply(body, dr, out=body)
        diff[-1] = 0.0
        bounds = np.empty(2 * starts.size, dtype=np.int64)
        bounds[0::2], bounds[1::2] = lo, hi
        sums = np.add.reduceat(diff, bounds)[0::2]
        del diff, body
        d_data = np.where(hi > lo, sums, 0.0)
        np.add(r_old, dr, out=dr)  # y - H x_new
        return d_l1 + self.beta * d_data + d_cross, dr

    def _segment_quadratic(self, T, starts, a):
        """``a_b^T G a_b`` for every segment (``G`` does not couple segments)."""
        ga = self.ops.toeplitz(a)
        return np.add.reduceat(a[T] * ga[T], starts)

    def per_coefficient(self, values_t):
        """Repeat a per-time array for the ``P`` kernels (flat coefficients)."""
        return np.tile(values_t, self.P) if self.P > 1 else values_t

    def final_step(self, s, r_s, cost, s_tilde):
        """Full step to ``s~`` or pruning of ``s`` to the support of ``s~``, per segment.

        ``s~`` solves the weighted LASSO at ``gamma(s)``.  In every segment the
        better of the full step (``s~``) and the pruned iterate (``s`` with the
        coefficients that are zero in ``s~`` set to zero) replaces ``s`` when it
        does not increase eq. 8.  Returns ``(s, r, cost, trial_cost, changed)``.
        """
        T, starts = self.segments(s, s_tilde)
        if T.size == 0:
            return s, r_s, cost, cost, False
        seg = self.segment_index(T, starts)
        d_full, _ = self.segment_cost_change(T, starts, s, r_s, s_tilde)
        pruned = np.where(s_tilde != 0, s, 0.0)
        d_prune, _ = self.segment_cost_change(T, starts, s, r_s, pruned)
        use_full = (d_full <= 0) & (d_full <= d_prune)
        use_prune = ~use_full & (d_prune <= 0)
        if not (use_full.any() or use_prune.any()):
            return s, r_s, cost, cost, False
        full_t = np.zeros(self.N, dtype=bool)
        prune_t = np.zeros(self.N, dtype=bool)
        full_t[T], prune_t[T] = use_full[seg], use_prune[seg]
        cand = np.where(self.per_coefficient(full_t), s_tilde,
                        np.where(self.per_coefficient(prune_t), pruned, s))
        if np.array_equal(cand, s):
            return s, r_s, cost, cost, False
        _, r_cand = self.segment_cost_change(T, starts, s, r_s, cand)
        cand_cost = self.cost(cand, r_cand)
        # the change is a sum of non-positive segment changes: guard against rounding
        return cand, r_cand, min(cand_cost, cost), cand_cost, True

    def polish(self, s, positive, *, max_rounds=50, max_passes=200, rtol=1e-12):
        """:meth:`CrossProductsProblem._polish_inplace` on a copy of ``s``.

        Returns
        -------
        x : ndarray
            The new coefficients (``s`` itself when nothing changed).
        decrease : float
            Sum of the exact changes of eq. 8 of the steps taken (``<= 0``).
        """
        if not np.any(s):
            return s, 0.0
        x = s.copy()
        total = self._polish_inplace(x, positive, max_rounds, max_passes, rtol)
        if np.array_equal(x, s):
            return s, 0.0
        return x, total
