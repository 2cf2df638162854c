"""numba loops of the cross-products LASSO on sparse iterates (compiled once, cached on disk)."""

from __future__ import annotations

import numpy as np
from numba import njit


# block length of the fill pass of flat_nonzeros on sparse vectors
_NZ_BLOCK = 16


@njit(cache=True, nogil=True)
def _fill_nonzeros(x, idx, val):
    """Fill ``idx`` / ``val`` with the indices / values of the non-zeros of ``x``."""
    k = 0
    for i in range(x.size):
        v = x[i]
        if v != 0.0:
            idx[k] = i
            val[k] = v
            k += 1


@njit(cache=True, nogil=True)
def _fill_nonzeros_blocks(x, idx, val):
    """:func:`_fill_nonzeros` testing each block of ``_NZ_BLOCK`` entries at once first
    (branch-free) and visiting the entries of the blocks holding a non-zero only."""
    k = 0
    n_blocks = x.size // _NZ_BLOCK
    for b in range(n_blocks):
        lo = b * _NZ_BLOCK
        hit = False
        for i in range(lo, lo + _NZ_BLOCK):
            hit |= x[i] != 0.0
        if hit:
            for i in range(lo, lo + _NZ_BLOCK):
                v = x[i]
                if v != 0.0:
                    idx[k] = i
                    val[k] = v
                    k += 1
    for i in range(n_blocks * _NZ_BLOCK, x.size):
        v = x[i]
        if v != 0.0:
            idx[k] = i
            val[k] = v
            k += 1


@njit(cache=True, nogil=True)
def flat_nonzeros(x):
    """``(np.flatnonzero(x), x[np.flatnonzero(x)])`` for a contiguous 1-D float64 ``x``.

    Two passes (count, then fill); several times faster than numpy's
    ``nonzero`` on the long, sparse coefficient vectors of Algorithm 1.  When
    fewer than one entry in ``_NZ_BLOCK`` is non-zero, the fill pass skips
    the blocks of ``_NZ_BLOCK`` zeros (:func:`_fill_nonzeros_blocks`).  A NaN
    counts as non-zero and ``-0.0`` as zero, as in numpy.
    """
    n = 0
    for i in range(x.size):
        if x[i] != 0.0:
            n += 1
    idx = np.empty(n, dtype=np.int64)
    val = np.empty(n)
    if n * _NZ_BLOCK < x.size:
        _fill_nonzeros_blocks(x, idx, val)
    else:
        _fill_nonzeros(x, idx, val)
    return idx, val


def nonzeros(x):
    """``(np.flatnonzero(x), x.ravel()[np.flatnonzero(x)])``, compiled for float64 arrays."""
    x = np.asarray(x)
    if x.dtype == np.float64 and x.flags.c_contiguous:
        return flat_nonzeros(x.reshape(-1))
    idx = np.flatnonzero(x)
    return idx, x.ravel()[idx]


@njit(cache=True, nogil=True)
def scatter_convolution(times, kernel_index, values, kernels, shift, out):
    """``out[t - shift + l] += v * kernels[p, l]`` for every non-zero ``(p, t, v)``."""
    n_out = out.size
    L = kernels.shape[1]
    for i in range(times.size):
        base = times[i] - shift
        v = values[i]
        p = kernel_index[i]
        lo = max(0, -base)
        hi = min(L, n_out - base)
        for k in range(lo, hi):
            out[base + k] += v * kernels[p, k]


@njit(cache=True, nogil=True)
def scatter_window(times, values, window, out):
    """``out[t + k] += v * g[|k|]`` for ``|k| <= L_g`` and every non-zero ``(t, v)``."""
    n_out = out.size
    half = window.size - 1
    for i in range(times.size):
        t = times[i]
        v = values[i]
        lo = max(-half, -t)
        hi = min(half, n_out - 1 - t)
        for k in range(lo, hi + 1):
            out[t + k] += v * window[abs(k)]


@njit(cache=True, nogil=True)
def quadratic_form(times, values, window):
    """``a^T G a`` for ``a`` non-zero at the sorted ``times`` with ``values``."""
    half = window.size - 1
    total = 0.0
    n = times.size
    for i in range(n):
        acc = window[0] * values[i]
        j = i + 1
        while j < n and times[j] - times[i] <= half:
            acc += 2.0 * window[times[j] - times[i]] * values[j]
            j += 1
        total += values[i] * acc
    return total


@njit(cache=True, nogil=True)
def zero_by_kkt(x, r, support, kernels, cumsq, n_samples, shift, thresh, positive):
    """Exact coordinate steps of the weighted LASSO that end at zero, in place.

    For every ``c`` in ``support`` in turn, with column ``h_c`` (kernel ``p``
    starting at row ``t - shift``), ``n_c = ||h_c||^2`` (from the cumulative
    energies ``cumsq``, as in coordinate descent) and ``z = n_c x[c] + h_c^T r``:
    when ``|z| <= thresh[c]`` (``z <= thresh[c]`` with ``positive``), the
    minimiser of ``0.5 ||r||^2 + thresh^T |x|`` over ``x[c]`` is zero:
    ``r += x[c] h_c`` and ``x[c] = 0``.  Other coefficients are not touched.
    Passes are repeated until one changes nothing.  Returns the number of
    coefficients set to zero.
    """
    P, L = kernels.shape
    n_rows = r.size
    total = 0
    changed = True
    while changed:
        changed = False
        for c in support:
            old = x[c]
            if old == 0.0:
                continue
            p = c // n_samples
            start = c - p * n_samples - shift
            l0 = max(0, -start)
            l1 = min(L, n_rows - start)
            z = 0.0
            if l1 > l0:
                for q in range(l0, l1):
                    z += kernels[p, q] * r[start + q]
                z += (cumsq[p, l1] - cumsq[p, l0]) * old
            zero = z <= thresh[c] if positive else abs(z) <= thresh[c]
            if zero:
                for q in range(l0, l1):
                    r[start + q] += old * kernels[p, q]
                x[c] = 0.0
                total += 1
                changed = True
    return total


def as_index(x):
    return np.ascontiguousarray(x, dtype=np.int64)


@njit(cache=True, nogil=True)
def _column_range(c, n_samples, shift, L, n_rows):
    """Kernel ``p``, first row ``start`` and valid taps ``[l0, l1)`` of flat column ``c``."""
    p = c // n_samples
    t = c - p * n_samples
    start = t - shift
    l0 = max(0, -start)
    l1 = min(L, n_rows - start)
    if l1 < l0:
        l1 = l0
    return p, t, start, l0, l1


@njit(cache=True, nogil=True)
def _window_sum_near(a, i, times, window):
    """``(G a)[t] = sum_k g[|k|] a[t + k]`` at ``t = times[i]``, when every non-zero of
    ``a`` within ``L_g`` of ``t`` is at a time listed in the sorted ``times``.

    Visits the listed times within ``L_g`` of ``t`` (each once, in increasing
    order, zeros skipped) instead of the ``2 L_g + 1`` samples of the window:
    adding ``g[|k|] * 0`` leaves a sum unchanged (finite ``g``), so the result
    has the same bits as the full sum over the window in increasing ``k``
    (the tests compare with that sum).
    """
    half = window.size - 1
    t = times[i]
    lo = i
    while lo > 0 and times[lo - 1] >= t - half:
        lo -= 1
    acc = 0.0
    prev = -1
    k = lo
    n = times.size
    while k < n and times[k] <= t + half:
        tk = times[k]
        if tk != prev:
            prev = tk
            v = a[tk]
            if v != 0.0:
                acc += window[abs(tk - t)] * v
        k += 1
    return acc


@njit(cache=True, nogil=True)
def _minimiser(quad, lin, w, positive):
    """Minimiser of ``quad x^2 - 2 lin x + w |x|`` (``quad >= 0``, ``w >= 0``); 0 if quad = 0."""
    if quad <= 0.0:
        return 0.0
    if positive:
        num = 2.0 * lin - w
        return num / (2.0 * quad) if num > 0.0 else 0.0
    num = 2.0 * abs(lin) - w
    if num <= 0.0:
        return 0.0
    x = num / (2.0 * quad)
    return x if lin > 0.0 else -x


@njit(cache=True, nogil=True)
def _f1(quad, lin, w, x):
    """Eq. 8 as a function of one coordinate, ``quad x^2 - 2 lin x + w |x|`` (up to a constant).

    ``quad``, ``lin`` and ``w`` are the 1-D coefficients of :func:`_one_d_at`;
    differences of two values are the exact changes of eq. 8 of a move.
    """
    return quad * x * x - 2.0 * lin * x + w * abs(x)


@njit(cache=True, nogil=True)
def column_data(order, kernels, cumsq, n_samples, shift, n_rows, window, beta):
    """Per-coefficient column data of the flat indices ``order``, computed once.

    For every ``c = order[i]`` (column ``h_c``: kernel ``p`` starting at row
    ``t - shift``): kernel ``p[i]``, first row ``start[i]``, valid taps
    ``[l0[i], l1[i])`` (:func:`_column_range`), ``nrm[i] = ||h_c||^2`` from
    the cumulative energies ``cumsq`` and ``quad[i] = beta nrm[i] + g[0]``
    (the coefficient of ``x^2`` in eq. 8 over that coordinate alone).  The
    passes and merges use these instead of dividing ``c`` by ``N`` at every
    visit (the same values).
    """
    n = order.size
    L = kernels.shape[1]
    kp = np.empty(n, dtype=np.int64)
    start = np.empty(n, dtype=np.int64)
    l0 = np.empty(n, dtype=np.int64)
    l1 = np.empty(n, dtype=np.int64)
    nrm = np.empty(n)
    quad = np.empty(n)
    for i in range(n):
        p, t, st, a0, a1 = _column_range(order[i], n_samples, shift, L, n_rows)
        kp[i] = p
        start[i] = st
        l0[i] = a0
        l1[i] = a1
        nrm[i] = cumsq[p, a1] - cumsq[p, a0]
        quad[i] = beta * nrm[i] + window[0]
    return kp, start, l0, l1, nrm, quad


@njit(cache=True, nogil=True, inline="always")
def _lin_at(x, r, c, p, start, l0, l1, nrm, kernels, beta):
    """``(beta h_c^T r_{-c}, x[c])`` from the column data of ``c``.

    ``h_c^T r_{-c} = nrm x[c] + h_c^T r`` (``r_{-c}`` the residual without
    ``x[c]``), summed in this order: ``nrm x[c]`` first, then the taps in
    increasing order.
    """
    old = x[c]
    z = nrm * old
    kr = kernels[p, l0:l1]
    rr = r[start + l0:start + l1]
    for q in range(kr.size):
        z += kr[q] * rr[q]
    return beta * z, old


@njit(cache=True, nogil=True, inline="always")
def _set_coef_at(x, r, a, c, value, p, t, start, l0, l1, kernels, n_samples):
    """``x[c] = value`` with ``r -= (value - x[c]) h_c`` and ``a[t] = sum_p |x_p[t]|``
    recomputed (no drift from incremental updates), from the column data of ``c``."""
    P = kernels.shape[0]
    d = value - x[c]
    kr = kernels[p, l0:l1]
    rr = r[start + l0:start + l1]
    for q in range(kr.size):
        rr[q] -= d * kr[q]
    x[c] = value
    acc = 0.0
    for k in range(P):
        acc += abs(x[k * n_samples + t])
    a[t] = acc


@njit(cache=True, nogil=True)
def _group_passes_at(x, r, a, support, times, kp, start, l0, l1, nrm, quad, kernels,
                     n_samples, window, beta, positive, rtol, max_passes):
    """Exact coordinate minimisation of eq. 8 over the non-zero coefficients, in place.

    For every ``c`` in ``support`` (sorted by time, ``times``; it holds every
    non-zero of ``a`` within ``L_g`` of its times) with ``x[c] != 0`` in turn,
    ``x[c]`` is set to the minimiser of eq. 8 over that coordinate given the
    others: ``quad x^2 - 2 lin x + w |x|`` with ``quad = beta n_c + g[0]``
    (``quad[i]``), ``lin = beta h_c^T r_{-c}`` (:func:`_lin_at`) and
    ``w = 1 + 2 (G a_{-c})[t]`` (:func:`_window_sum_near` minus the term of
    ``x[c]`` itself), ``r_{-c}`` and ``a_{-c}`` the residual and magnitudes
    without ``x[c]`` (with ``positive`` the minimiser over ``x >= 0``);
    ``r = y - H x`` and ``a`` (magnitudes per time) are updated.  A move
    that does not lower eq. 8 (rounding) is not taken unless it sets the
    coefficient to zero.  Zero coefficients are not visited (the support
    never grows).  Passes repeat until one sets no coefficient to zero and
    moves none by more than ``rtol`` relatively, or ``max_passes``.  The
    column data (entry ``i`` for ``support[i]``) come from :func:`column_data`.
    Returns ``(sum of the exact 1-D changes of eq. 8, number of coefficients
    set to zero, passes, whether the last pass still moved)``."""
    total = 0.0
    n_zeroed = 0
    passes = 0
    moved = False
    while passes < max_passes:
        passes += 1
        moved = False
        for i in range(support.size):
            c = support[i]
            if x[c] == 0.0:
                continue
            lin, old = _lin_at(x, r, c, kp[i], start[i], l0[i], l1[i], nrm[i], kernels, beta)
            qd = quad[i]
            w = 1.0 + 2.0 * (_window_sum_near(a, i, times, window) - window[0] * abs(old))
            new = _minimiser(qd, lin, w, positive)
            if new == old:
                continue
            delta = _f1(qd, lin, w, new) - _f1(qd, lin, w, old)
            if delta > 0.0 and new != 0.0:
                continue  # rounding: never take a step that does not decrease eq. 8
            total += delta
            _set_coef_at(x, r, a, c, new, kp[i], times[i], start[i], l0[i], l1[i], kernels,
                         n_samples)
            if new == 0.0:
                n_zeroed += 1
                moved = True
            elif abs(new - old) > rtol * max(abs(new), abs(old)):
                moved = True
        if not moved:
            break
    return total, n_zeroed, passes, moved


@njit(cache=True, nogil=True)
def segment_passes_cols(x, r, a, order, times, interaction, cols, kernels, n_samples, window,
                        beta, positive, rtol, max_passes, marked):
    """The passes of :func:`_group_passes_at` run separately on every group of interacting
    coefficients that holds at least one ``marked`` coefficient (``marked[i]``
    for ``order[i]``); the other groups are left as they are.

    ``order`` lists the support sorted by time and ``times`` their times: the
    caller must pass ``times[i] == order[i] % n_samples`` (not checked; the
    updates of ``a`` use ``times[i]`` as the time of ``order[i]``).  ``order``
    holds every non-zero of ``x`` (``a`` is zero at other times); consecutive times more
    than ``interaction`` (``max(L_h - 1, L_g)``) apart start a new group.
    Groups share no residual row and no window term, so the passes of one
    group do not change what another sees: each group is iterated until it
    alone stops moving (or ``max_passes``), instead of all of them until the
    slowest one stops.  This keeps the cost linear in the support size when a
    single slowly converging group would otherwise force ``max_passes``
    passes over the whole support.  On return ``marked`` flags the groups
    left unsettled: those whose last pass still moved a coefficient (stopped
    by ``max_passes``); the others are cleared.  Returns ``(sum of the
    changes, number of coefficients set to zero, largest number of passes of
    a group)``.  ``cols`` is the column data of ``order`` (kernel, rows, norm): the tuple
    ``column_data(order, kernels, cumsq, n_samples, shift, r.size, window,
    beta)`` (not checked), which depends on ``order`` (and the fixed design)
    only, so that the rounds of a polish over one ``order`` form it once.
    """
    kp, start, l0, l1, nrm, quad = cols
    total = 0.0
    n_zeroed = 0
    most = 0
    n = order.size
    lo = 0
    while lo < n:
        hi = lo + 1
        any_marked = marked[lo]
        while hi < n and times[hi] - times[hi - 1] <= interaction:
            any_marked = any_marked or marked[hi]
            hi += 1
        if not any_marked:
            lo = hi
            continue
        # (a group holds every non-zero of a within L_g <= interaction of its times)
        d, z, passes, moving = _group_passes_at(x, r, a, order[lo:hi], times[lo:hi],
                                                kp[lo:hi], start[lo:hi], l0[lo:hi],
                                                l1[lo:hi], nrm[lo:hi], quad[lo:hi], kernels,
                                                n_samples, window, beta, positive, rtol,
                                                max_passes)
        for i in range(lo, hi):
            marked[i] = moving
        total += d
        n_zeroed += z
        most = max(most, passes)
        lo = hi
    return total, n_zeroed, most


@njit(cache=True, nogil=True)
def _merge_change(qk, lk, wk, tk, xk, qd, ld, wd, td, xd, cross, window, beta, positive):
    """Exact change of eq. 8 when ``x[drop] = 0`` and ``x[keep]`` is refitted by its 1-D
    minimiser, from the 1-D coefficients (:func:`_one_d_at`) of ``keep`` (``qk, lk,
    wk, tk``, value ``xk``) and ``drop`` (``qd, ld, wd, td``, value ``xd``) and
    ``cross = h_keep^T h_drop`` (:func:`_cross_gram_at`, symmetric to the bit).
    Returns ``(change, new value of x[keep])``."""
    change = -_f1(qd, ld, wd, xd)  # F_drop(0) - F_drop(x_drop)
    # without x[drop]: r_{-keep} gains x_drop h_drop, a_{-keep} loses |x_drop| at t_drop
    lk += beta * xd * cross
    wk -= 2.0 * window[abs(tk - td)] * abs(xd)
    new = _minimiser(qk, lk, wk, positive)
    change += _f1(qk, lk, wk, new) - _f1(qk, lk, wk, xk)
    return change, new


@njit(cache=True, nogil=True)
def _cross_gram_at(p1, s1, a1, b1, p2, s2, a2, b2, kernels):
    """``h_1^T h_2`` over the rows of the output, from the column data (kernel, first
    row, valid taps) of the two columns; rows in increasing order."""
    lo = max(s1 + a1, s2 + a2)
    hi = min(s1 + b1, s2 + b2)
    acc = 0.0
    for row in range(lo, hi):
        acc += kernels[p1, row - s1] * kernels[p2, row - s2]
    return acc


@njit(cache=True, nogil=True, inline="always")
def _one_d_at(x, r, a, i, order, times, kp, start, l0, l1, nrm, quad, kernels, window, beta):
    """Coefficients of eq. 8 as a function of coordinate ``c = order[i]`` alone.

    ``F = quad x^2 - 2 lin x + w |x| + const`` with ``quad = beta n_c + g[0]``,
    ``lin = beta h_c^T r_{-c}`` and ``w = 1 + 2 (G a_{-c})[t]`` where ``r_{-c}``
    and ``a_{-c}`` are the residual and magnitudes without ``x[c]``; the
    sorted ``times`` list every non-zero of ``a`` near ``t``
    (:func:`_window_sum_near`).  Returns ``(quad, lin, w, t)``.
    """
    lin, old = _lin_at(x, r, order[i], kp[i], start[i], l0[i], l1[i], nrm[i], kernels, beta)
    w = 1.0 + 2.0 * (_window_sum_near(a, i, times, window) - window[0] * abs(old))
    return quad[i], lin, w, times[i]


@njit(cache=True, nogil=True)
def merge_pairs_cols(x, r, a, order, times, cols, kernels, n_samples, window, beta, positive,
                     min_decrease, marked):
    """Resolve pairs of non-zero coefficients at most ``L_g`` samples apart, in place.

    ``order`` lists the support sorted by time and ``times`` their times: the
    caller must pass ``times[i] == order[i] % n_samples`` (not checked; the
    updates of ``a`` use ``times[i]`` as the time of ``order[i]``).  ``order``
    holds every non-zero of ``x`` (``a`` is zero at other times).  For
    every pair still non-zero, the two moves "keep one, zero the other, refit
    the kept one by its exact 1-D minimiser" are evaluated exactly
    (:func:`_merge_change`) and the better one applied when it lowers eq. 8 by more
    than ``min_decrease``.  ``marked[i]`` is set for both coefficients ``order[i]``
    of every merge applied.  Returns ``(sum of the changes, number of merges)``.
    ``cols`` is the column data of ``order``, as in :func:`segment_passes_cols`.
    """
    kp, start, l0, l1, nrm, quad = cols
    half = window.size - 1
    n = order.size
    total = 0.0
    n_merged = 0
    # the two moves of a pair (keep ci, drop cj) and (keep cj, drop ci) come from
    # the 1-D coefficients of ci and cj and their cross product, each computed once; those
    # of ci are kept for its next partners until a merge changes x (the same values)
    qi = li = wi = 0.0
    ti = 0
    for i in range(n):
        ci = order[i]
        j = i + 1
        fresh_i = False
        while j < n and times[j] - times[i] <= half:
            cj = order[j]
            if x[ci] == 0.0:
                break
            if x[cj] != 0.0:
                # (order lists the whole support: every non-zero of a)
                if not fresh_i:
                    qi, li, wi, ti = _one_d_at(x, r, a, i, order, times, kp, start, l0, l1,
                                               nrm, quad, kernels, window, beta)
                    fresh_i = True
                qj, lj, wj, tj = _one_d_at(x, r, a, j, order, times, kp, start, l0, l1, nrm,
                                           quad, kernels, window, beta)
                cross = _cross_gram_at(kp[i], start[i], l0[i], l1[i], kp[j], start[j], l0[j],
                                       l1[j], kernels)
                xi, xj = x[ci], x[cj]
                d1, v1 = _merge_change(qi, li, wi, ti, xi, qj, lj, wj, tj, xj, cross, window,
                                       beta, positive)
                d2, v2 = _merge_change(qj, lj, wj, tj, xj, qi, li, wi, ti, xi, cross, window,
                                       beta, positive)
                if min(d1, d2) < -min_decrease:
                    fresh_i = False
                    if d1 <= d2:
                        k, dr, val, d = i, j, v1, d1
                    else:
                        k, dr, val, d = j, i, v2, d2
                    _set_coef_at(x, r, a, order[dr], 0.0, kp[dr], times[dr], start[dr],
                                 l0[dr], l1[dr], kernels, n_samples)
                    _set_coef_at(x, r, a, order[k], val, kp[k], times[k], start[k], l0[k],
                                 l1[k], kernels, n_samples)
                    marked[i] = True
                    marked[j] = True
                    total += d
                    n_merged += 1
            j += 1
    return total, n_merged


@njit(cache=True, nogil=True)
def window_at(times, values, window, query, out):
    """``out[j] = (G a)[query[j]]`` for ``a`` non-zero at the sorted ``times`` with ``values``.

    The same products, added in the same order (sources by increasing time,
    from ``0.0``), as ``scatter_window`` into a zero array: the same bits,
    without a length-``N`` output.
    """
    half = window.size - 1
    n = times.size
    for j in range(query.size):
        q = query[j]
        lo = 0
        hi = n
        target = q - half
        while lo < hi:  # first source at time >= q - half
            mid = (lo + hi) // 2
            if times[mid] < target:
                lo = mid + 1
            else:
                hi = mid
        acc = 0.0
        i = lo
        while i < n and times[i] <= q + half:
            acc += values[i] * window[abs(q - times[i])]
            i += 1
        out[j] = acc
