r"""Exact non-negative LASSO on many small independent segments in one compiled call.

After the screening of :func:`~sparse_events.gamma._kernels.screen_runs`, a
coefficient ``i`` can be non-zero at the solution of the whole record only if
``c_i = (H^T y)_i > alpha`` (non-negative pulse, so ``H^T H >= 0``).  These
candidates fall into *components*: maximal chains of candidates whose
consecutive members are fewer than ``L`` samples apart.  Columns of two
different components do not overlap (``(H^T H)_{ij} = 0`` for ``|i - j| >= L``),
so the problem restricted to the candidates separates into one small quadratic
program per component,

.. math::

    \min_{x \ge 0} \tfrac12 x^\top Q x - (c - \alpha)^\top x, \qquad
    Q_{ij} = \textstyle\sum_k p_k p_{k + |i - j|} \quad (\text{rows} < n),

whose solutions together are exactly the LASSO solution of the record.  Each
one (typically a few to a few tens of variables) is solved to machine precision
by a primal active-set method (Lawson and Hanson's NNLS iteration written for
the quadratic form), with a banded Cholesky factorization of the free block.
The iteration starts from a guessed support (the local maxima of ``c`` and
their larger neighbours, :func:`_guess_support`) when that guess, pruned of
the variables that come out non-positive, is a positive minimizer on its free
set; this changes the number of linear solves, not the solution.
The least-squares refit on the support (``debias``) is done in the same pass.
A run holding a component larger than ``max_vars`` (very high rates) is
flagged and left to the caller.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["solve_runs", "kkt_runs"]


@numba.njit(cache=True, inline="always")
def _q(B, i, j, L):
    """Entry ``(i, j)`` of a component's Gram matrix stored by offset: ``B[min, |i - j|]``."""
    if i <= j:
        d = j - i
        return B[i, d] if d < L else 0.0
    d = i - j
    return B[j, d] if d < L else 0.0


@numba.njit(cache=True)
def _chol_solve(B, L, pidx, k, b, Lw, z):
    """Solve ``Q[P, P] z = b[P]`` (``P = pidx[:k]``, increasing) by banded Cholesky.

    Members of ``P`` more than ``L - 1`` places apart are at least ``L``
    samples apart, so ``Q[P, P]`` and its factor have bandwidth ``L - 1``;
    ``Lw[i, i - t]`` holds the factor's entry ``(i, t)``.  False if not PD.
    """
    for i in range(k):
        ii = pidx[i]
        j0 = i - L + 1 if i - L + 1 > 0 else 0
        for j in range(j0, i + 1):
            s = _q(B, ii, pidx[j], L)
            for t in range(j0, j):
                s -= Lw[i, i - t] * Lw[j, j - t]
            if i == j:
                if s <= 0.0:
                    return False
                Lw[i, 0] = np.sqrt(s)
            else:
                Lw[i, i - j] = s / Lw[j, 0]
    _chol_subst(L, pidx, k, b, Lw, z)
    return True


@numba.njit(cache=True)
def _chol_subst(L, pidx, k, b, Lw, z):
    """Forward and back substitution with the banded factor left by :func:`_chol_solve`."""
    for i in range(k):
        s = b[pidx[i]]
        t0 = i - L + 1 if i - L + 1 > 0 else 0
        for t in range(t0, i):
            s -= Lw[i, i - t] * z[t]
        z[i] = s / Lw[i, 0]
    for i in range(k - 1, -1, -1):
        s = z[i]
        t1 = i + L if i + L < k else k
        for t in range(i + 1, t1):
            s -= Lw[t, t - i] * z[t]
        z[i] = s / Lw[i, 0]


@numba.njit(cache=True)
def _nnqp(B, L, b, m, tol_abs, max_iter, warm, x, passive, pidx, Lw, z, w):
    """``min 0.5 x^T Q x - b^T x`` s.t. ``x >= 0`` over the first ``m`` variables.

    ``Q`` is given by offset (:func:`_q`: variables more than ``L - 1`` apart
    do not interact).  Active-set iteration of Lawson and Hanson on the
    quadratic form.  With ``warm``, the iteration starts from the free set
    marked in ``passive``: it is solved for, the variables that come out
    non-positive are dropped and the rest solved again (at most four solves).
    A solve that is positive everywhere is the minimizer on its free set, a
    state of the iteration, which continues from there; otherwise it starts
    from ``x = 0``.  The solution does not depend on the start.  Returns the
    number of linear solves, or a negative number on failure (``-1``:
    iteration cap, ``-2``: singular free block).
    """
    for i in range(m):
        x[i] = 0.0
    it = 0
    k = 0
    started = False
    if warm:
        for _ in range(4):
            k = 0
            for i in range(m):
                if passive[i]:
                    pidx[k] = i
                    k += 1
            if k == 0:
                break
            it += 1
            if not _chol_solve(B, L, pidx, k, b, Lw, z):
                break
            allpos = True
            for t in range(k):
                if z[t] <= 0.0:
                    allpos = False
                    passive[pidx[t]] = False
            if allpos:
                for t in range(k):
                    x[pidx[t]] = z[t]
                started = True
                break
    if not started:
        k = 0
        for i in range(m):
            passive[i] = False
    # invariant here: pidx[:k] (increasing) is the free set, x > 0 on it and 0 elsewhere
    while True:
        # w = b - Q x
        for i in range(m):
            w[i] = b[i]
        for t in range(k):
            j = pidx[t]
            xj = x[j]
            lo = j - L + 1 if j - L + 1 > 0 else 0
            hi = j + L if j + L < m else m
            for i in range(lo, j):
                w[i] -= B[i, j - i] * xj
            for i in range(j, hi):
                w[i] -= B[j, i - j] * xj
        jmax = -1
        best = tol_abs
        for i in range(m):
            if not passive[i] and w[i] > best:
                best = w[i]
                jmax = i
        if jmax < 0:
            return it
        passive[jmax] = True
        t = k
        while t > 0 and pidx[t - 1] > jmax:
            pidx[t] = pidx[t - 1]
            t -= 1
        pidx[t] = jmax
        k += 1
        while True:
            it += 1
            if it > max_iter:
                return -1
            if not _chol_solve(B, L, pidx, k, b, Lw, z):
                return -2
            allpos = True
            for t in range(k):
                if z[t] <= 0.0:
                    allpos = False
                    break
            if allpos:
                for t in range(k):
                    x[pidx[t]] = z[t]
                break
            # step back to the boundary: the first free variable to reach zero leaves
            step = 1.0
            leave = -1
            for t in range(k):
                if z[t] <= 0.0:
                    xi = x[pidx[t]]
                    r = xi / (xi - z[t])
                    if leave < 0 or r < step:
                        step = r
                        leave = t
            k2 = 0
            for t in range(k):
                i = pidx[t]
                x[i] += step * (z[t] - x[i])
                if t == leave or x[i] <= 0.0:
                    x[i] = 0.0
                    passive[i] = False
                else:
                    pidx[k2] = i
                    k2 += 1
            k = k2


@numba.njit(cache=True)
def _refit(B, L, c, sup, ns, max_rounds, tol_abs, max_iter, out, keep, pidx, Lw, z, x, passive,
           w, B2, b2):
    """Least squares on the support ``sup[:ns]`` (normal equations ``Q_SS u = c_S``).

    Negative coefficients are removed and the rest refitted (``max_rounds``
    rounds, as :func:`~sparse_events.gamma._kernels.refit_support`); if that
    does not settle, the bounded problem is solved exactly.  ``Lw`` must hold
    the factor of ``Q_SS`` (the last factorization of :func:`_nnqp`, whose
    free set is the support).  False on failure.
    """
    for t in range(ns):
        keep[t] = True
        out[t] = 0.0
    for rnd in range(max_rounds):
        k = 0
        for t in range(ns):
            if keep[t]:
                pidx[k] = sup[t]
                k += 1
        if k == 0:
            return True
        if rnd == 0:
            _chol_subst(L, pidx, k, c, Lw, z)
        elif not _chol_solve(B, L, pidx, k, c, Lw, z):
            return False
        neg = False
        for t in range(k):
            if z[t] < 0.0:
                neg = True
                break
        if not neg:
            k = 0
            for t in range(ns):
                if keep[t]:
                    out[t] = z[k]
                    k += 1
            return True
        k = 0
        for t in range(ns):
            if keep[t]:
                if z[k] < 0.0:
                    keep[t] = False
                k += 1
    # exact non-negative least squares on the support: the support's own Gram matrix
    # (support members L or more places apart are L or more samples apart)
    for a in range(ns):
        b2[a] = c[sup[a]]
        for d in range(L):
            B2[a, d] = _q(B, sup[a], sup[a + d], L) if a + d < ns else 0.0
    st = _nnqp(B2, L, b2, ns, tol_abs, max_iter, False, x, passive, pidx, Lw, z, w)
    if st < 0:
        return False
    for t in range(ns):
        out[t] = x[t]
    return True


@numba.njit(cache=True)
def _guess_support(cand, cval, c0, m, passive):
    """Starting free set of a component: every local maximum of ``c`` and its larger neighbour.

    ``cand[c0:c0 + m]``, ``cval[c0:c0 + m]``: the component's candidates and
    their ``c``.  An event between samples ``i`` and ``i + 1`` usually leaves
    both coefficients non-zero, and ``c`` peaks at one of them.  Only the
    starting point of :func:`_nnqp`: the solution does not depend on it.
    """
    for a in range(m):
        passive[a] = False
    for a in range(m):
        ia = cand[c0 + a]
        ca = cval[c0 + a]
        left = a > 0 and cand[c0 + a - 1] == ia - 1
        right = a < m - 1 and cand[c0 + a + 1] == ia + 1
        if left and cval[c0 + a - 1] >= ca:
            continue
        if right and cval[c0 + a + 1] > ca:
            continue
        passive[a] = True
        if left and (not right or cval[c0 + a - 1] >= cval[c0 + a + 1]):
            passive[a - 1] = True
        elif right:
            passive[a + 1] = True


@numba.njit(cache=True)
def _solve_runs_kernel(y, a0, n, p, cum, alpha, starts, stops, margin, max_vars, debias,
                       tol_abs, max_iter, warm, out_idx, out_coef, out_deb, fallback, stats):
    """Solve every run ``[starts[r], stops[r])`` (global indices, ``y[j - a0]`` = sample j).

    Candidates are searched in ``[start + margin, stop - L - margin]`` (the
    whole run where it touches the record's ends).  Writes the non-zero
    coefficients (global index, LASSO value, refitted value) and returns their
    number.  ``fallback[r]`` is set for runs not solved here.  ``stats``:
    [components, largest component, linear solves].  ``warm``: start every
    component from :func:`_guess_support`.
    """
    L = p.size
    acf = np.zeros(L)
    for d in range(L):
        acf[d] = cum[d, L - d]
    B = np.zeros((max_vars, L))
    b = np.zeros(max_vars)
    cc = np.zeros(max_vars)
    x = np.zeros(max_vars)
    passive = np.zeros(max_vars, dtype=np.bool_)
    keep = np.zeros(max_vars, dtype=np.bool_)
    pidx = np.zeros(max_vars, dtype=np.int64)
    sup = np.zeros(max_vars, dtype=np.int64)
    Lw = np.zeros((max_vars, L))
    B2 = np.zeros((max_vars, L))
    b2 = np.zeros(max_vars)
    x2 = np.zeros(max_vars)
    pas2 = np.zeros(max_vars, dtype=np.bool_)
    z = np.zeros(max_vars)
    w = np.zeros(max_vars)
    deb = np.zeros(max_vars)
    cand = np.zeros(0, dtype=np.int64)
    cval = np.zeros(0)
    nout = 0
    for r in range(starts.size):
        s0 = starts[r]
        s1 = stops[r]
        lo = s0 + margin if s0 > 0 else 0
        hi = s1 - L - margin + 1 if s1 < n else s1
        if hi - lo > cand.size:
            cand = np.zeros(hi - lo, dtype=np.int64)
            cval = np.zeros(hi - lo)
        # candidates: c_i > alpha (same arithmetic as the screening)
        nc = 0
        for i in range(lo, hi):
            acc = 0.0
            kmax = L if L < n - i else n - i
            for k in range(kmax):
                acc += p[k] * y[i + k - a0]
            if acc > alpha:
                cand[nc] = i
                cval[nc] = acc
                nc += 1
        run_out = nout
        ok = True
        c0 = 0
        while c0 < nc:
            c1 = c0 + 1
            while c1 < nc and cand[c1] - cand[c1 - 1] < L:
                c1 += 1
            m = c1 - c0
            if m > stats[1]:
                stats[1] = m
            if m > max_vars:
                ok = False
                break
            stats[0] += 1
            # Gram matrix by offset; acf[dd] = cum[dd, L - dd] except where a pulse is cut
            # by the record's end
            near_end = cand[c1 - 1] + L > n
            for a in range(m):
                ia = cand[c0 + a]
                b[a] = cval[c0 + a] - alpha
                cc[a] = cval[c0 + a]
                if not near_end and a + L <= m and cand[c0 + a + L - 1] == ia + L - 1:
                    # the next L - 1 candidates are the next L - 1 samples
                    for d in range(L):
                        B[a, d] = acf[d]
                    continue
                d = 0
                while d < L and a + d < m:
                    dd = cand[c0 + a + d] - ia
                    if dd >= L:
                        break
                    if near_end and n - cand[c0 + a + d] < L - dd:
                        B[a, d] = cum[dd, n - cand[c0 + a + d]]
                    else:
                        B[a, d] = acf[dd]
                    d += 1
                while d < L:
                    B[a, d] = 0.0
                    d += 1
            if warm:
                _guess_support(cand, cval, c0, m, passive)
            st = _nnqp(B, L, b, m, tol_abs, max_iter, warm, x, passive, pidx, Lw, z, w)
            if st < 0:
                ok = False
                break
            stats[2] += st
            ns = 0
            for a in range(m):
                if x[a] > 0.0:
                    sup[ns] = a
                    ns += 1
            if debias and ns:
                if not _refit(B, L, cc, sup, ns, 20, tol_abs, max_iter, deb, keep, pidx, Lw, z,
                              x2, pas2, w, B2, b2):
                    ok = False
                    break
            for t in range(ns):
                out_idx[nout] = cand[c0 + sup[t]]
                out_coef[nout] = x[sup[t]]
                out_deb[nout] = deb[t] if debias else x[sup[t]]
                nout += 1
            c0 = c1
        if not ok:
            fallback[r] = True
            nout = run_out
    return nout


def pulse_cross_sums(p):
    """``cum[d, K] = sum_{k < K} p[k] p[k + d]`` (``0 <= d < L``, ``0 <= K <= L``)."""
    L = p.size
    cum = np.zeros((L, L + 1))
    for d in range(L):
        prod = p[: L - d] * p[d:]
        cum[d, 1: L - d + 1] = np.cumsum(prod)
        cum[d, L - d + 1:] = cum[d, L - d]
    return cum


def _blocks(y, starts, stops, L, span):
    """Groups of consecutive runs covering at most about ``span`` samples, with their slice."""
    n = y.shape[0]
    k = 0
    while k < starts.size:
        a = int(starts[k])
        # runs k..j-1 end within span samples of a (at least one run)
        j = max(k + 1, int(np.searchsorted(stops, a + span, side="right")))
        b = min(n, int(stops[j - 1]) + L)
        seg = y[a:b]
        if seg.dtype not in (np.float32, np.float64) or not seg.flags.c_contiguous:
            seg = np.ascontiguousarray(seg, dtype=np.float64)
        yield k, j, a, seg
        k = j


def solve_runs(y, p, alpha, starts, stops, *, margin=0, debias=True, max_vars=2048,
               span=1 << 22, warm_start=True):
    """Exact non-negative LASSO (and refit) of the runs ``[starts, stops)`` of ``y``.

    Parameters
    ----------
    y : ndarray of shape (n,)
        The whole record (any real dtype; float32/float64 are read in place).
    p : ndarray of shape (L,)
        Non-negative pulse (float64).
    alpha : float
    starts, stops : ndarray of int64
        Sorted, disjoint runs holding every coefficient with ``c_i > alpha``,
        each at least ``L`` samples (in candidates) apart from the next.
    margin : int
        Quiet samples at both ends of every run (as given to
        :func:`~sparse_events.gamma._kernels.screen_runs`): candidates are only
        searched between them, except where a run was clipped at the record's
        ends.
    debias : bool
        Also refit the amplitudes on the support.
    max_vars : int
        Largest component solved here; runs holding a larger one are flagged.
    span : int
        Samples per compiled call (about).
    warm_start : bool
        Start every component's active-set iteration from a guessed support
        (:func:`_guess_support`) instead of zero: the same solution with fewer
        linear solves.

    Returns
    -------
    idx, coef, deb : ndarray
        Global index, LASSO and refitted value of every non-zero coefficient.
    fallback : ndarray of bool
        Runs not solved (a component above ``max_vars`` or a failed solve).
    stats : dict
        ``components``, ``largest_component``, ``linear_solves``, ``calls``.
    """
    n = y.shape[0]
    L = p.size
    cum = pulse_cross_sums(p)
    fallback = np.zeros(starts.size, dtype=bool)
    stats = np.zeros(3, dtype=np.int64)
    tol_abs = 1e-9 * alpha
    max_iter = 50 * max_vars
    idx_l, coef_l, deb_l = [], [], []
    calls = 0
    for k, j, a, seg in _blocks(y, starts, stops, L, span):
        cap = int((stops[k:j] - starts[k:j]).sum())
        oi = np.empty(cap, dtype=np.int64)
        oc = np.empty(cap)
        od = np.empty(cap)
        fb = np.zeros(j - k, dtype=np.bool_)
        m = _solve_runs_kernel(seg, a, n, p, cum, float(alpha), starts[k:j], stops[k:j],
                               int(margin), int(max_vars), bool(debias), tol_abs, int(max_iter),
                               bool(warm_start), oi, oc, od, fb, stats)
        calls += 1
        fallback[k:j] = fb
        idx_l.append(oi[:m])
        coef_l.append(oc[:m])
        deb_l.append(od[:m])
    if idx_l:
        idx, coef, deb = (np.concatenate(v) for v in (idx_l, coef_l, deb_l))
    else:
        idx, coef, deb = np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
    return idx, coef, deb, fallback, dict(components=int(stats[0]),
                                          largest_component=int(stats[1]),
                                          linear_solves=int(stats[2]), calls=calls)


@numba.njit(cache=True)
def _kkt_runs_kernel(y, a0, n, p, alpha, starts, stops, margin, idx, coef):
    """Largest KKT deviation over the runs (see :func:`kkt_runs`)."""
    L = p.size
    worst = 0.0
    buf = np.zeros(0)
    lo = 0
    for r in range(starts.size):
        s0 = starts[r]
        s1 = stops[r]
        e = s1 + L - 1
        if e > n:
            e = n
        if e - s0 > buf.size:
            buf = np.zeros(e - s0)
        # residual y - H s on samples [s0, e) with every coefficient reaching them
        for j in range(s0, e):
            buf[j - s0] = y[j - a0]
        while lo < idx.size and idx[lo] <= s0 - L:
            lo += 1
        q = lo
        while q < idx.size and idx[q] < e:
            i = idx[q]
            for k in range(L):
                j = i + k
                if j >= e:
                    break
                if j >= s0:
                    buf[j - s0] -= p[k] * coef[q]
            q += 1
        q = lo
        while q < idx.size and idx[q] < s0:
            q += 1
        c_lo = s0 + margin if s0 > 0 else 0
        c_hi = s1 - L - margin + 1 if s1 < n else s1
        for i in range(s0, s1):
            nonzero = q < idx.size and idx[q] == i
            if not nonzero and (i < c_lo or i >= c_hi):
                continue
            g = 0.0
            kmax = L if L < n - i else n - i
            for k in range(kmax):
                g += p[k] * buf[i + k - s0]
            if nonzero:
                dev = abs(g - alpha)
                q += 1
            else:
                dev = g - alpha
            if dev > worst:
                worst = dev
    return worst


def kkt_runs(y, p, alpha, starts, stops, idx, coef, *, margin=0, span=1 << 22):
    """Largest violation of the non-negative LASSO conditions on the runs, relative to alpha.

    ``grad = H^T (y - H s)`` on the original record (the residual built from
    the samples and every coefficient reaching them); zero coefficients need
    ``grad_i <= alpha``, non-zero ones ``grad_i = alpha``.  For a zero
    coefficient with ``c_i = (H^T y)_i <= alpha``, ``grad_i <= c_i <= alpha``
    holds for every ``s >= 0`` (non-negative pulse): that is the case outside
    the runs and in the ``margin`` samples at both ends of every run (as given
    to :func:`~sparse_events.gamma._kernels.screen_runs`), so the gradient is
    evaluated at every non-zero coefficient and at every zero one between the
    margins.  ``idx`` sorted.
    """
    n = y.shape[0]
    L = p.size
    worst = 0.0
    for k, j, a, seg in _blocks(y, starts, stops, L, span):
        lo = np.searchsorted(idx, int(starts[k]) - L + 1)
        hi = np.searchsorted(idx, int(stops[j - 1]) + L)
        # segment starts at a = starts[k]; coefficients before a only reach samples >= a
        worst = max(worst, _kkt_runs_kernel(seg, a, n, p, float(alpha), starts[k:j],
                                            stops[k:j], int(margin), idx[lo:hi],
                                            coef[lo:hi]))
    return worst / alpha
