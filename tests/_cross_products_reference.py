"""Dense reference methods of the cross-products problem (tests only).

Algorithm 1 (``sparse_events.models._cross_products_algorithm``) keeps its
iterates sparse and uses the sparse-iterate and in-place methods of
:class:`CrossProductsProblem`.  The plain dense versions below are what those
methods are checked against (bit for bit, or by exact decreases of eq. 8):
``zero_by_kkt`` (reference of ``zero_by_kkt_inplace``), ``surrogate``
(of ``surrogate_sparse`` and, through it, ``surrogate_gamma``), ``segments`` /
``segment_cost_change`` / ``final_step`` (of ``final_step_sparse``) and
``polish`` (a copy-returning wrapper of ``_polish_inplace``).
``DenseCrossProductsProblem`` also holds the helpers that only the tests use
(``weights_of_magnitudes_at``, ``weights_at``, ``weights_sparse``,
``surrogate_sparse``, ``_polish_inplace``: the polish of a dense vector through
the library's ``_polish_support``).

Compiled references of the final step's kernels
(``sparse_events.models._cross_products_kernels``), every term from scratch
from the flat index of a coefficient (``_one_d_data``, ``_set_coef``,
``_cross_gram``): ``window_sum`` (the full window sum, of
``_window_sum_near``), ``one_d`` (of ``_one_d_at``), ``merge_move`` (one merge
move), ``coordinate_passes`` (passes over a list of coefficients: of
``segment_passes_marked`` group by group) and ``merge_pairs_both_ways`` (of
``merge_pairs_marked``: ``merge_move`` both ways for every pair).
``segment_passes`` (every group marked) and ``merge_pairs`` (no marks) are
thin wrappers of the library's kernels.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sparse_events.models._cross_products_algorithm import CrossProductsProblem, SparseCoef
from sparse_events.models._cross_products_kernels import (_column_range, _f1, _merge_change,
                                                           _minimiser, column_data, merge_pairs_cols,
                                                           nonzeros, segment_passes_cols)
from sparse_events.models._cross_products_kernels import zero_by_kkt as zero_kkt_kernel

__all__ = ["DenseCrossProductsProblem", "coordinate_passes", "merge_move", "merge_pairs",
           "merge_pairs_both_ways", "merge_pairs_marked", "one_d", "segment_passes",
           "segment_passes_marked", "window_sum"]


# -- 1-D data of one coordinate, one coefficient update and one cross product, each
# computed from scratch from the flat index (kernel, time, valid taps): the pieces of the
# independent references below (one_d, merge_move, coordinate_passes,
# merge_pairs_both_ways), which the library's kernels (column data formed once per call,
# window sums over the listed times) must match bit for bit


@njit(cache=False)
def _one_d_data(x, r, c, kernels, cumsq, n_samples, shift, window, beta):
    """The data terms of :func:`one_d`: ``(quad, lin, t, x[c])`` (everything but the
    window sum of the magnitudes): ``quad = beta n_c + g[0]``, ``lin = beta h_c^T r_{-c}``
    (``nrm x[c]`` first, then the taps in increasing order)."""
    P, L = kernels.shape
    p, t, start, l0, l1 = _column_range(c, n_samples, shift, L, r.size)
    old = x[c]
    nrm = cumsq[p, l1] - cumsq[p, l0]
    z = nrm * old
    for q in range(l0, l1):
        z += kernels[p, q] * r[start + q]
    return beta * nrm + window[0], beta * z, t, old


@njit(cache=False)
def _set_coef(x, r, a, c, value, kernels, n_samples, shift):
    """``x[c] = value`` with ``r`` and ``a[t]`` updated (``a[t]`` recomputed)."""
    P, L = kernels.shape
    p, t, start, l0, l1 = _column_range(c, n_samples, shift, L, r.size)
    d = value - x[c]
    for q in range(l0, l1):
        r[start + q] -= d * kernels[p, q]
    x[c] = value
    # a[t] = sum_p |x_p[t]| recomputed (no drift from incremental updates)
    acc = 0.0
    for k in range(P):
        acc += abs(x[k * n_samples + t])
    a[t] = acc


@njit(cache=False)
def _cross_gram(c1, c2, kernels, n_samples, shift, n_rows):
    """``h_c1^T h_c2`` (rows of the output only)."""
    P, L = kernels.shape
    p1, t1, s1, a1, b1 = _column_range(c1, n_samples, shift, L, n_rows)
    p2, t2, s2, a2, b2 = _column_range(c2, n_samples, shift, L, n_rows)
    lo = max(s1 + a1, s2 + a2)
    hi = min(s1 + b1, s2 + b2)
    acc = 0.0
    for row in range(lo, hi):
        acc += kernels[p1, row - s1] * kernels[p2, row - s2]
    return acc


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
    the whole window (reference of the library's ``_one_d_at``, which sums over the
    listed times, ``_window_sum_near``)."""
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
def coordinate_passes(x, r, a, support, kernels, cumsq, n_samples, shift, window, beta,
                      positive, rtol, max_passes):
    """Reference: exact coordinate minimisation of eq. 8 over the non-zero coefficients,
    in place, the window sums over all ``2 L_g + 1`` samples (:func:`one_d`).

    For every ``c`` in ``support`` with ``x[c] != 0`` in turn, ``x[c]`` is set
    to the minimiser of eq. 8 over that coordinate given the others (see
    :func:`one_d`; with ``positive`` the minimiser over ``x >= 0``); ``r = y - H x``
    and ``a`` (magnitudes per time) are updated.  Zero coefficients are not
    visited (the support never grows).  Passes repeat until one sets no
    coefficient to zero and moves none by more than ``rtol`` relatively, or
    ``max_passes``.  Returns ``(sum of the exact 1-D changes of eq. 8, number
    of coefficients set to zero, passes, whether the last pass still moved)``.
    """
    total = 0.0
    n_zeroed = 0
    passes = 0
    moved = False
    while passes < max_passes:
        passes += 1
        moved = False
        for c in support:
            old = x[c]
            if old == 0.0:
                continue
            quad, lin, w, t = one_d(x, r, a, c, kernels, cumsq, n_samples, shift, window, beta)
            new = _minimiser(quad, lin, w, positive)
            if new == old:
                continue
            delta = _f1(quad, lin, w, new) - _f1(quad, lin, w, old)
            if delta > 0.0 and new != 0.0:
                continue  # rounding: never take a step that does not decrease eq. 8
            total += delta
            _set_coef(x, r, a, c, new, kernels, n_samples, shift)
            if new == 0.0:
                n_zeroed += 1
                moved = True
            elif abs(new - old) > rtol * max(abs(new), abs(old)):
                moved = True
        if not moved:
            break
    return total, n_zeroed, passes, moved


def merge_pairs_both_ways(x, r, a, order, times, args, min_decrease, marked=None):
    """Reference of ``merge_pairs_marked``: the pair loop with :func:`merge_move` evaluated
    both ways for every pair (every term from scratch), in place.

    ``args`` are ``(kernels, cumsq, n_samples, shift, window, beta, positive)``.
    ``marked`` (optional): ``marked[i]`` and ``marked[j]`` are set for the pair
    ``order[i], order[j]`` of every merge applied.  Returns ``(sum of the
    changes, number of merges)``.
    """
    kernels, cumsq, n_samples, shift, window, beta, positive = args
    half = window.size - 1
    total, n_merged = 0.0, 0
    for i in range(order.size):
        ci = order[i]
        j = i + 1
        while j < order.size and times[j] - times[i] <= half:
            cj = order[j]
            if x[ci] == 0.0:
                break
            if x[cj] != 0.0:
                d1, v1 = merge_move(x, r, a, ci, cj, *args)
                d2, v2 = merge_move(x, r, a, cj, ci, *args)
                if min(d1, d2) < -min_decrease:
                    keep, drop, val, d = (ci, cj, v1, d1) if d1 <= d2 else (cj, ci, v2, d2)
                    _set_coef(x, r, a, drop, 0.0, kernels, n_samples, shift)
                    _set_coef(x, r, a, keep, val, kernels, n_samples, shift)
                    if marked is not None:
                        marked[i] = marked[j] = True
                    total += d
                    n_merged += 1
            j += 1
    return total, n_merged


@njit(cache=False)
def segment_passes_marked(x, r, a, order, times, interaction, kernels, cumsq, n_samples, shift,
                          window, beta, positive, rtol, max_passes, marked):
    """``segment_passes_cols`` with its column data formed in the call (as the polish
    forms it once per polish)."""
    cols = column_data(order, kernels, cumsq, n_samples, shift, r.size, window, beta)
    return segment_passes_cols(x, r, a, order, times, interaction, cols, kernels, n_samples,
                               window, beta, positive, rtol, max_passes, marked)


@njit(cache=False)
def merge_pairs_marked(x, r, a, order, times, kernels, cumsq, n_samples, shift, window, beta,
                       positive, min_decrease, marked):
    """``merge_pairs_cols`` with its column data formed in the call."""
    cols = column_data(order, kernels, cumsq, n_samples, shift, r.size, window, beta)
    return merge_pairs_cols(x, r, a, order, times, cols, kernels, n_samples, window, beta,
                            positive, min_decrease, marked)


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

    # -- test-only helpers moved out of the library (no library caller): weights and
    # surrogate from a SparseCoef, and the polish of a dense vector

    def weights_of_magnitudes_at(self, a, flat_idx):
        """``self.weights_of_magnitudes(a)[flat_idx]`` (same bits), without the length-``P N``
        weights."""
        return self._gamma(a)[flat_idx % self.N]

    def _magnitude_support(self, c):
        """Sorted times ``T`` where the magnitudes ``a`` of ``c`` are non-zero, and ``a[T]``."""
        if self.P == 1:
            return c.idx, np.abs(c.val)
        return nonzeros(self._abs_dense(c))

    def weights_at(self, c, flat_idx):
        """``self.weights(self.dense(c))[flat_idx]``, without the length-``P N`` weights
        (the window sums at the support of the magnitudes only)."""
        T, a_t = self._magnitude_support(c)
        gam = self._window_products_at(a_t, T, flat_idx % self.N)
        np.multiply(gam, 2.0, out=gam)
        np.add(gam, 1.0, out=gam)
        return gam

    def weights_sparse(self, c):
        """``self.weights(self.dense(c))`` for the :class:`SparseCoef` ``c``."""
        return self.weights_of_magnitudes(self._abs_dense(c))

    def surrogate_sparse(self, c, r, c_weights):
        """``Q(c) = 0.5 ||r||^2 + (1 / (2 beta)) gamma^T |c|``, gamma the weights of c_weights.

        ``r`` is ``y - H c``; ``c_weights=None``: ``gamma`` all ones.  Only the
        weights on the support of ``c`` are computed (:meth:`weights_at`).
        """
        gam = (np.ones(c.idx.size) if c_weights is None
               else self.weights_at(c_weights, c.idx))
        return 0.5 * float(r @ r) + self.lasso_alpha * float(gam @ np.abs(c.val))

    def _polish_inplace(self, x, positive, max_rounds=50, max_passes=200, rtol=1e-12):
        """:meth:`CrossProductsProblem._polish_support` of the dense ``x`` (in place), its
        non-zeros found here.  Returns the sum of the exact changes of eq. 8 (``<= 0``)."""
        support, values = nonzeros(x)
        if support.size == 0:
            return 0.0
        return self._polish_support(x, SparseCoef(support, values), positive, max_rounds,
                                    max_passes, rtol)

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
