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
one (a few to a few thousand variables: components grow into long chains at
high rates) is solved to machine precision by a primal active-set method
(Lawson and Hanson's NNLS iteration written for the quadratic form).  The free
set itself splits into independent *blocks* (free variables fewer than ``L``
samples apart chained together), so ``Q`` on the free set is block diagonal:
a variable entering or leaving changes the solution only on its block, and
only that block is factored again (banded Cholesky restricted to the
envelope: a row starts at the first free variable fewer than ``L`` samples
before it; the factor rows are stored by variable, so they stay valid while
the block's earlier members do: the warm start and the refit,
:func:`_settle`, factor a block again from its first changed row, the main
loop of :func:`_nnqp` from the block's start).
The iteration starts from a guessed support (components of at most
``_PEAKS_GUESS_VARS`` candidates: the local maxima of ``c`` and their larger
neighbours, :func:`_guess_peaks`; larger ones, where piled-up pulses leave no
peak of their own in ``c``: the candidates whose Wiener-deconvolved ``c``
exceeds the detection amplitude, :func:`_guess_support`) improved by a few
rounds of dropping non-positive and adding locally maximal violating
variables (:func:`_warm_start`); this changes the number of linear solves,
not the solution.  Components of at most ``SMALL_VARS`` candidates (most of
them at moderate rates) keep the plain iteration that factors their few free
variables at every solve, started from the pruned guess
(:func:`_small_nnqp`: less bookkeeping, the same solution).  The
least-squares refit on the support (``debias``) is done in the same pass,
reusing the factor.  A run holding a component larger than ``max_vars`` (or
than the work-array budget of :func:`solve_runs`) is flagged and left to the
caller.

With ``kkt``, every solved run is checked in the same pass (:func:`_run_kkt`):
the gradient ``H^T y - (H^T H) s`` of the whole record's problem at every
sample between the run's margins, from the run's ``c`` (computed from the
samples for the candidate selection) and its non-zero coefficients through
the pulse's Gram table; the same conditions on the same samples as
:func:`kkt_runs`, which computes the gradient from the residual instead.
:func:`solve_runs` writes the non-zero coefficients of all compiled calls
into one output reservation (a third of the run samples plus
``_OUT_EXTRA``, grown by a copy if a call would not fit) instead of joining
separate arrays at the end.
"""

from __future__ import annotations

import numba
import numpy as np

from ._kernels import _corr4

__all__ = ["solve_runs", "kkt_runs"]


@numba.njit(cache=True, inline="always")
def _q(B, i, j, L):
    """Entry ``(i, j)`` of a component's Gram matrix stored by offset: ``B[min, |i - j|]``."""
    if i <= j:
        d = j - i
        return B[i, d] if d < L else 0.0
    d = i - j
    return B[j, d] if d < L else 0.0


@numba.njit(cache=True, inline="always")
def _insert_sorted(pidx, k, j):
    """Insert ``j`` into the increasing ``pidx[:k]`` (room for one more); returns its place."""
    t = k
    while t > 0 and pidx[t - 1] > j:
        pidx[t] = pidx[t - 1]
        t -= 1
    pidx[t] = j
    return t


@numba.njit(cache=True, inline="always")
def _chol_factor(B, L, pos, pidx, r0, r1, f0, Lw):
    """Banded Cholesky factor of ``Q[P, P]``, ``P = pidx[r0:r1]`` (increasing), from row ``f0``.

    ``pos``: the variables' sample positions, ``Q_ij = 0`` when
    ``|pos_i - pos_j| >= L``.  The factor is block diagonal over the blocks of
    ``P`` (consecutive members ``L`` or more samples apart start a new block)
    and, inside a block, keeps the envelope of ``Q[P, P]``: row ``i`` starts at
    the first member fewer than ``L`` samples before it (Cholesky creates no
    fill-in before the first non-zero of a row), so only those entries are
    computed and stored (entries outside the envelope are exact zeros that
    would only add signed zeros).  The factor's entry ``(i, t)`` (positions in
    ``pidx``, same block) is kept in the row of the variable,
    ``Lw[pidx[i], i - t]``: a row depends only on the members of its block up
    to it, so it stays valid while they do, wherever the block moves in
    ``pidx``.  Rows ``r0 <= i < f0`` must be valid; rows from ``f0`` on are
    computed.  False if not positive definite.
    """
    e = r0
    for i in range(r0, r1):
        ii = pidx[i]
        pi = pos[ii]
        # envelope start of row i (non-decreasing in i; a new block starts at i)
        while pi - pos[pidx[e]] >= L:
            e += 1
        if i < f0:
            continue
        for j in range(e, i + 1):
            jj = pidx[j]
            s = _q(B, ii, jj, L)
            # L_it L_jt is zero unless t >= max(e_i, e_j) = e_i = e: envelope starts do
            # not decrease, so row j <= i starts at or before e
            for t in range(e, j):
                s -= Lw[ii, i - t] * Lw[jj, j - t]
            if i == j:
                if s <= 0.0:
                    return False
                Lw[ii, 0] = np.sqrt(s)
            else:
                Lw[ii, i - j] = s / Lw[jj, 0]
    return True


@numba.njit(cache=True, inline="always")
def _chol_subst(L, pos, pidx, r0, r1, b, Lw, z):
    """``z[r0:r1] = Q[P, P]^{-1} b[P]`` with the factor of :func:`_chol_factor`."""
    e = r0
    for i in range(r0, r1):
        ii = pidx[i]
        pi = pos[ii]
        while pi - pos[pidx[e]] >= L:
            e += 1
        s = b[ii]
        for t in range(e, i):
            s -= Lw[ii, i - t] * z[t]
        z[i] = s / Lw[ii, 0]
    f = r1
    for i in range(r1 - 1, r0 - 1, -1):
        pi = pos[pidx[i]]
        # rows below i whose envelope reaches i: members fewer than L samples after it
        while f > i + 1 and pos[pidx[f - 1]] - pi >= L:
            f -= 1
        s = z[i]
        for t in range(i + 1, f):
            s -= Lw[pidx[t], t - i] * z[t]
        z[i] = s / Lw[pidx[i], 0]


@numba.njit(cache=True)
def _settle(B, L, pos, b, pidx, k, state, passive, x, Lw, z, strict):
    """Solve the blocks of the free set ``pidx[:k]`` that changed; drop negative variables.

    ``state[v]``: 0 unchanged, 1 block to solve again (factor row valid), 2
    factor row to compute (and every later row of the block).  Each block
    holding a non-zero state is solved, its factor computed from its first
    state-2 row; variables coming out non-positive (negative with ``strict``)
    leave (``passive`` cleared, ``x`` zeroed), the rest of their block is
    marked for solving again (the first survivor after a leaving one: state 2)
    and the free list is compacted.  Other variables keep their values, which
    a solve of the whole free set would reproduce to the last bit.  Returns
    ``(k, solves, dropped)``, ``k = -1`` if a block is not positive definite.
    """
    solves = 0
    dropped = 0
    r0 = 0
    while r0 < k:
        r1 = r0 + 1
        while r1 < k and pos[pidx[r1]] - pos[pidx[r1 - 1]] < L:
            r1 += 1
        f0 = r1
        dirty = False
        for t in range(r0, r1):
            st = state[pidx[t]]
            if st:
                dirty = True
                if st == 2:
                    f0 = t
                    break
        if dirty:
            solves += 1
            if not _chol_factor(B, L, pos, pidx, r0, r1, f0, Lw):
                return -1, solves, dropped
            _chol_subst(L, pos, pidx, r0, r1, b, Lw, z)
            after = False
            drop0 = dropped
            for t in range(r0, r1):
                i = pidx[t]
                if z[t] < 0.0 or (not strict and z[t] == 0.0):
                    passive[i] = False
                    state[i] = 0
                    x[i] = 0.0
                    after = True
                    dropped += 1
                else:
                    x[i] = z[t]
                    if after:
                        state[i] = 2
                        after = False
                    else:
                        state[i] = 0
            if dropped > drop0:
                for t in range(r0, r1):
                    i = pidx[t]
                    if passive[i] and state[i] == 0:
                        state[i] = 1
        r0 = r1
    if dropped:
        k2 = 0
        for t in range(k):
            if passive[pidx[t]]:
                pidx[k2] = pidx[t]
                k2 += 1
        k = k2
    return k, solves, dropped


@numba.njit(cache=True, inline="always")
def _residual_window(B, L, b, x, pidx, k, wlo, whi, w):
    """``w[i] = (b - Q x)_i`` for ``wlo <= i <= whi``; ``x`` non-zero only on ``pidx[:k]``.

    Every ``w[i]`` is accumulated over the free variables in increasing order,
    so a window gives the same numbers as the whole vector.
    """
    for i in range(wlo, whi + 1):
        w[i] = b[i]
    # first free variable that reaches the window (binary search in the sorted free list)
    jlo = wlo - L + 1
    a = 0
    e = k
    while a < e:
        h = (a + e) >> 1
        if pidx[h] < jlo:
            a = h + 1
        else:
            e = h
    jhi = whi + L - 1
    for t in range(a, k):
        j = pidx[t]
        if j > jhi:
            break
        xj = x[j]
        lo = j - L + 1 if j - L + 1 > wlo else wlo
        hi = j + L - 1 if j + L - 1 < whi else whi
        mid = j if j < hi + 1 else hi + 1
        for i in range(lo, mid):
            w[i] -= B[i, j - i] * xj
        for i in range(j if j > lo else lo, hi + 1):
            w[i] -= B[j, i - j] * xj


@numba.njit(cache=True, inline="always")
def _chunk_max(w, passive, m, c, S, cmax, carg):
    """Largest ``w`` over the zero (non-free) variables of chunk ``c`` (first one on ties)."""
    lo = c * S
    hi = lo + S if lo + S < m else m
    best = -np.inf
    arg = -1
    for i in range(lo, hi):
        if not passive[i] and w[i] > best:
            best = w[i]
            arg = i
    cmax[c] = best
    carg[c] = arg


@numba.njit(cache=True)
def _warm_start(B, L, b, m, pos, tol_abs, max_rounds, x, passive, state, pidx, Lw, z, w):
    """A starting point of :func:`_nnqp` from the free set guessed in ``passive``.

    Rounds of: solve the free set's blocks (only those that changed, each
    factor from its first changed row, :func:`_settle`), drop the variables
    that come out non-positive and solve their blocks again until the
    solution is positive (then ``x`` is the minimizer on its free set, a state
    of the active-set iteration); then add at once every zero variable with
    ``w = b - Q x`` above ``tol_abs`` that is a local maximum of ``w`` among
    its zero neighbours.  Stops when none is added (``x`` is then optimal) or
    after ``max_rounds`` additions.  Only a starting point: the solution of
    :func:`_nnqp` does not depend on it.

    Returns ``(k, solves, optimal)``: the free set is ``pidx[:k]`` with ``x``
    on it (zero elsewhere) and the factor rows of its blocks in ``Lw``,
    ``k = -1`` if a block is not positive definite; ``optimal``: no zero
    variable has ``w`` above ``tol_abs`` (``w`` holds ``b - Q x``).
    """
    k = 0
    for i in range(m):
        x[i] = 0.0
        if passive[i]:
            state[i] = 2
            pidx[k] = i
            k += 1
        else:
            state[i] = 0
    solves = 0
    for rnd in range(max_rounds + 1):
        while True:
            k, ns, dropped = _settle(B, L, pos, b, pidx, k, state, passive, x, Lw, z, False)
            solves += ns
            if k < 0:
                return -1, solves, False
            if not dropped:
                break
        if rnd == max_rounds:
            break
        _residual_window(B, L, b, x, pidx, k, 0, m - 1, w)
        nadd = 0
        for i in range(m):
            if passive[i] or not w[i] > tol_abs:
                continue
            if i > 0 and not passive[i - 1] and w[i - 1] > w[i]:
                continue
            if i + 1 < m and not passive[i + 1] and w[i + 1] >= w[i]:
                continue
            state[i] = 2
            nadd += 1
        if nadd == 0:
            return k, solves, True
        k = 0
        for i in range(m):
            if state[i]:
                passive[i] = True
            if passive[i]:
                pidx[k] = i
                k += 1
    return k, solves, False


_CHUNK = 32
# components up to this size take the plain active set (less bookkeeping for a few variables)
SMALL_VARS = 64
# elements of one (candidates x L) work array allocated up front per compiled call
_WORK_ELEMENTS = 1 << 20
# largest (candidates x L) work array of a retry with a larger component (two of them, B and
# Lw: 2 * 8 * 2**26 bytes = 1 GiB at most); components needing more are left to the caller
_RETRY_ELEMENTS = 1 << 26
# linear solves allowed to a component of m candidates: 50 m + _ITER_BASE
_ITER_BASE = 1000
# output entries reserved by solve_runs beyond a third of the run samples
_OUT_EXTRA = 1 << 20
# absolute tolerance of the component QPs, relative to alpha
_TOL_REL = 1e-9


@numba.njit(cache=True)
def _nnqp(B, L, b, m, pos, tol_abs, max_iter, warm, x, passive, state, pidx, Lw, z, w, cmax,
          carg):
    """``min 0.5 x^T Q x - b^T x`` s.t. ``x >= 0`` over the first ``m`` variables.

    ``Q`` is given by offset (:func:`_q`: variables more than ``L - 1`` apart
    do not interact); ``pos`` (increasing) are the variables' sample
    positions: ``Q_ij = 0`` when ``|pos_i - pos_j| >= L``.  Active-set
    iteration of Lawson and Hanson on the quadratic form.  With ``warm``, the
    iteration starts from :func:`_warm_start` on the free set guessed in
    ``passive`` (a positive minimizer on its free set, a state of the
    iteration; often already optimal), otherwise from ``x = 0``.  The
    solution does not depend on the start.

    The free set splits into *blocks*: maximal runs of free variables whose
    consecutive members are fewer than ``L`` samples apart.  ``Q`` restricted
    to the free set is block diagonal, so a variable entering or leaving
    changes the free-set minimizer only on its block: each linear solve
    factors only the blocks that changed (the others keep their values, which
    a solve of the whole free set would reproduce to the last bit: the
    cross-block entries of the banded factor are zeros), ``w = b - Q x`` is
    updated in a window around them, and the entering variable is the
    largest ``w`` found through per-chunk maxima.  Every iterate equals that
    of the textbook iteration that refactors the whole free set.  On return
    ``Lw`` holds the factor rows of the final free set (for :func:`_refit`).

    Returns the number of linear solves, or a negative number on failure
    (``-1``: iteration cap, ``-2``: singular free block).
    """
    it = 0
    k = -1
    if warm:
        k, it, done = _warm_start(B, L, b, m, pos, tol_abs, 8, x, passive, state, pidx, Lw, z,
                                  w)
        if done:
            return it
    if k < 0:
        k = 0
        for i in range(m):
            x[i] = 0.0
            passive[i] = False
    # invariant here: pidx[:k] (increasing) is the free set, x > 0 on it and 0 elsewhere,
    # x the minimizer on the free set; w = b - Q x
    S = _CHUNK
    nch = (m + S - 1) // S
    if m > 0:
        _residual_window(B, L, b, x, pidx, k, 0, m - 1, w)
    for c in range(nch):
        _chunk_max(w, passive, m, c, S, cmax, carg)
    while True:
        jmax = -1
        best = tol_abs
        for c in range(nch):
            if cmax[c] > best:
                best = cmax[c]
                jmax = carg[c]
        if jmax < 0:
            return it
        passive[jmax] = True
        t = _insert_sorted(pidx, k, jmax)
        k += 1
        # the block of the entering variable: the only part of the free set to solve again
        r0 = t
        while r0 > 0 and pos[pidx[r0]] - pos[pidx[r0 - 1]] < L:
            r0 -= 1
        r1 = t + 1
        while r1 < k and pos[pidx[r1]] - pos[pidx[r1 - 1]] < L:
            r1 += 1
        vlo = pidx[r0]
        vhi = pidx[r1 - 1]
        while True:
            it += 1
            if it > max_iter:
                return -1
            # pidx[r0:r1]: whole blocks (a leaving variable only splits blocks)
            if not _chol_factor(B, L, pos, pidx, r0, r1, r0, Lw):
                return -2
            _chol_subst(L, pos, pidx, r0, r1, b, Lw, z)
            allpos = True
            for t in range(r0, r1):
                if z[t] <= 0.0:
                    allpos = False
                    break
            if allpos:
                for t in range(r0, r1):
                    x[pidx[t]] = z[t]
                break
            # step back to the boundary: the first free variable to reach zero leaves
            step = 1.0
            leave = -1
            for t in range(r0, r1):
                if z[t] <= 0.0:
                    xi = x[pidx[t]]
                    r = xi / (xi - z[t])
                    if leave < 0 or r < step:
                        step = r
                        leave = t
            k2 = r0
            for t in range(r0, r1):
                i = pidx[t]
                x[i] += step * (z[t] - x[i])
                if t == leave or x[i] <= 0.0:
                    x[i] = 0.0
                    passive[i] = False
                else:
                    pidx[k2] = i
                    k2 += 1
            gone = r1 - k2
            if gone:
                for t in range(r1, k):
                    pidx[t - gone] = pidx[t]
                k -= gone
                r1 = k2
        # x changed on variables vlo..vhi only: w changes within L - 1 of them
        wlo = vlo - L + 1 if vlo - L + 1 > 0 else 0
        whi = vhi + L - 1 if vhi + L - 1 < m - 1 else m - 1
        _residual_window(B, L, b, x, pidx, k, wlo, whi, w)
        for c in range(wlo // S, whi // S + 1):
            _chunk_max(w, passive, m, c, S, cmax, carg)


@numba.njit(cache=True)
def _refit(B, L, c, pos, sup, ns, max_rounds, tol_abs, max_iter, factored, out, state, pidx,
           Lw, z, x, passive, w, pos2, cmax, carg):
    """Least squares on the support ``sup[:ns]`` (normal equations ``Q_SS u = c_S``).

    Negative coefficients are removed and the rest refitted (``max_rounds``
    rounds, as :func:`~sparse_events.gamma._kernels.refit_support`; a round
    solves only the blocks that changed, :func:`_settle`); if that does not
    settle, the bounded problem is solved exactly (its Gram rows allocated
    then, ``ns x L``: the fallback is rare).  ``pos``: the sample
    positions of the variables; ``factored``: ``Lw`` holds the factor rows of
    the support (left by :func:`_nnqp`, whose final free set is the support).
    False on failure.
    """
    for t in range(ns):
        out[t] = 0.0
        pidx[t] = sup[t]
        passive[sup[t]] = True
        state[sup[t]] = 1 if factored else 2
    k = ns
    for _rnd in range(max_rounds):
        if k == 0:
            return True
        k, nsol, dropped = _settle(B, L, pos, c, pidx, k, state, passive, x, Lw, z, True)
        if k < 0:
            return False
        if not dropped:
            for t in range(ns):
                if passive[sup[t]]:
                    out[t] = x[sup[t]]
            return True
    # exact non-negative least squares on the support
    b2 = np.empty(ns)
    B2 = np.empty((ns, L))
    _support_problem(B, L, c, sup, ns, b2, B2)
    for a in range(ns):
        pos2[a] = pos[sup[a]]
    st = _nnqp(B2, L, b2, ns, pos2, tol_abs, max_iter, False, x, passive, state, pidx, Lw, z, w,
               cmax, carg)
    if st < 0:
        return False
    for t in range(ns):
        out[t] = x[t]
    return True


@numba.njit(cache=True)
def _support_problem(B, L, c, sup, ns, b2, B2):
    """The support's own problem: ``b2[a] = c[sup[a]]`` and its banded Gram rows
    ``B2[a, d] = Q[sup[a], sup[a + d]]`` (zero beyond ``ns``); support members
    ``L`` or more places apart are ``L`` or more samples apart."""
    for a in range(ns):
        b2[a] = c[sup[a]]
        for d in range(L):
            B2[a, d] = _q(B, sup[a], sup[a + d], L) if a + d < ns else 0.0


# ---------------------------------------------------------------------------------------
# Small components (at most ``small_vars`` candidates, most of them at moderate rates): the
# plain active set that refactors the whole free set (a few variables) at every solve has
# less bookkeeping than the block-wise one above and reaches the same solution.
# ---------------------------------------------------------------------------------------


@numba.njit(cache=True, inline="always")
def _small_chol_solve(B, L, pidx, k, b, Lw, z):
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
    _small_chol_subst(L, pidx, k, b, Lw, z)
    return True


@numba.njit(cache=True, inline="always")
def _small_chol_subst(L, pidx, k, b, Lw, z):
    """Forward and back substitution with the banded factor left by :func:`_small_chol_solve`."""
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


@numba.njit(cache=True, inline="always")
def _small_nnqp(B, L, b, m, tol_abs, max_iter, warm, x, passive, pidx, Lw, z, w):
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
            if not _small_chol_solve(B, L, pidx, k, b, Lw, z):
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
        _insert_sorted(pidx, k, jmax)
        k += 1
        while True:
            it += 1
            if it > max_iter:
                return -1
            if not _small_chol_solve(B, L, pidx, k, b, Lw, z):
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


@numba.njit(cache=True, inline="always")
def _small_refit(B, L, c, sup, ns, max_rounds, tol_abs, max_iter, out, keep, pidx, Lw, z, x,
                 passive, w):
    """Least squares on the support ``sup[:ns]`` (normal equations ``Q_SS u = c_S``).

    Negative coefficients are removed and the rest refitted (``max_rounds``
    rounds, as :func:`~sparse_events.gamma._kernels.refit_support`); if that
    does not settle, the bounded problem is solved exactly.  ``Lw`` must hold
    the factor of ``Q_SS`` (the last factorization of :func:`_small_nnqp`, whose
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
            _small_chol_subst(L, pidx, k, c, Lw, z)
        elif not _small_chol_solve(B, L, pidx, k, c, Lw, z):
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
    # exact non-negative least squares on the support
    b2 = np.empty(ns)
    B2 = np.empty((ns, L))
    _support_problem(B, L, c, sup, ns, b2, B2)
    st = _small_nnqp(B2, L, b2, ns, tol_abs, max_iter, False, x, passive, pidx, Lw, z, w)
    if st < 0:
        return False
    for t in range(ns):
        out[t] = x[t]
    return True


@numba.njit(cache=True, inline="always")
def _filtered(v, nv, i, taps, K):
    """``sum_d taps[d + K] v[i + d]`` over ``|d| <= K`` (``v`` zero outside ``[0, nv)``).

    Four interleaved sums (the products are independent; one running sum would
    wait on every addition).
    """
    if i - K >= 0 and i + K < nv:
        W = 2 * K + 1
        base = i - K
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        a3 = 0.0
        d = 0
        while d + 4 <= W:
            a0 += taps[d] * v[base + d]
            a1 += taps[d + 1] * v[base + d + 1]
            a2 += taps[d + 2] * v[base + d + 2]
            a3 += taps[d + 3] * v[base + d + 3]
            d += 4
        while d < W:
            a0 += taps[d] * v[base + d]
            d += 1
        return (a0 + a1) + (a2 + a3)
    d0 = -K if i - K >= 0 else -i
    d1 = K if i + K < nv else nv - 1 - i
    acc = 0.0
    for d in range(d0, d1 + 1):
        acc += taps[d + K] * v[i + d]
    return acc


@numba.njit(cache=True, inline="always")
def _guess_peaks(cand, cval, c0, m, passive):
    """Starting free set of a component: every local maximum of ``c`` and its larger neighbour.

    ``cand[c0:c0 + m]``, ``cval[c0:c0 + m]``: the component's candidates and
    their ``c``.  An event between samples ``i`` and ``i + 1`` usually leaves
    both coefficients non-zero, and ``c`` peaks at one of them.  The start
    of the components of at most ``_PEAKS_GUESS_VARS`` candidates (little
    pile-up; larger ones start from :func:`_guess_support`), only a starting
    point of the component's active-set solve (:func:`_small_nnqp` or
    :func:`_nnqp`): the solution does not depend on it.
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


@numba.njit(cache=True, inline="always")
def _guess_support(cgue, m, thr, passive):
    """Starting free set of a component: the candidates whose deconvolved ``c`` exceeds ``thr``.

    ``cgue[:m]``: at the component's ``m`` candidates, ``c = H^T y``
    filtered by the taps of :func:`_guess_filter` (a regularized inverse of
    the pulse's autocorrelation: an estimate of the amplitudes that separates
    piled-up pulses, which the local maxima of ``c`` hide).
    The start of the components of more than ``_PEAKS_GUESS_VARS`` candidates
    (pile-up chains); only a starting point: the solution does not depend on
    it.
    """
    for a in range(m):
        passive[a] = cgue[a] > thr


# regularization of the guess filter relative to ||p||^2, and the filter's half length beyond L
_GUESS_RIDGE = 0.025
_GUESS_EXTRA = 2
# components up to this size start from the peaks of c (little pile-up: as good a start, and
# cheaper than filtering), larger ones from the deconvolved c
_PEAKS_GUESS_VARS = 32


def _guess_filter(p, alpha):
    """Taps and threshold of the starting guess (:func:`_guess_support`).

    ``g = F^{-1}[1 / (|P|^2 + lam)]`` with ``lam = 0.025 ||p||^2`` (Wiener
    deconvolution of ``c = H^T y``: ``g * c`` estimates the amplitudes), cut
    to ``|d| <= L + 2``; the threshold is the amplitude at the detection
    threshold, ``alpha / ||p||^2``.  Only a starting point: any taps give the
    same solution.
    """
    L = p.size
    K = L + _GUESS_EXTRA
    nfft = 1 << int(np.ceil(np.log2(max(8 * (L + K), 256))))
    energy = float(p @ p)
    g = np.fft.irfft(1.0 / (np.abs(np.fft.rfft(p, nfft)) ** 2 + _GUESS_RIDGE * energy), nfft)
    taps = np.ascontiguousarray(np.concatenate([g[nfft - K:], g[:K + 1]]))
    return taps, float(alpha) / energy


@numba.njit(cache=True)
def _run_kkt(cbuf, nb, lo, n, alpha, acf, cum, L, idx, coef, q0, q1, g):
    """Largest deviation from the LASSO conditions over the samples ``[lo, lo + nb)`` of a run.

    The gradient ``g = H^T (y - H s) = c - (H^T H) s`` of the whole record's
    problem, from ``c = H^T y`` computed from the samples (``cbuf``) and the
    run's non-zero coefficients ``idx[q0:q1]`` (global, increasing; the others
    are zero: runs are at least ``L`` samples apart from the samples checked)
    through the pulse's Gram table (``acf[d]``, ``cum`` where a pulse is cut
    by the record's end).  Independent of the components, the candidate
    selection and the active sets of the solve: every sample of the range is
    checked, non-zero coefficients for ``|g - alpha|``, zero ones for
    ``g - alpha``.  Returns ``inf`` unless ``idx[q0:q1]`` are strictly
    increasing and all in ``[lo, lo + nb)`` (every coefficient met by the
    sample loop): a coefficient outside the checked samples, repeated or out
    of order is not certified.
    """
    for i in range(nb):
        g[i] = cbuf[i]
    for q in range(q0, q1):
        j = idx[q]
        s = coef[q]
        jl = j - lo
        ilo = jl - L + 1 if jl - L + 1 > 0 else 0
        ihi = jl + L if jl + L < nb else nb
        if j + L <= n:
            for i in range(ilo, jl if jl < ihi else ihi):
                g[i] -= acf[jl - i] * s
            for i in range(jl if jl > ilo else ilo, ihi):
                g[i] -= acf[i - jl] * s
        else:
            for i in range(ilo, ihi):
                d = i - jl if i >= jl else jl - i
                big = i + lo if i + lo > j else j
                if big + L - d > n:
                    g[i] -= cum[d, n - big] * s
                else:
                    g[i] -= acf[d] * s
    worst = 0.0
    q = q0
    for i in range(nb):
        if q < q1 and idx[q] - lo == i:
            dev = abs(g[i] - alpha)
            q += 1
        else:
            dev = g[i] - alpha
        if dev > worst:
            worst = dev
    if q != q1:
        return np.inf
    return worst


@numba.njit(cache=True)
def _solve_runs_kernel(y, a0, n, p, cum, alpha, starts, stops, margin, cap, small_vars,
                       debias, tol_abs, iter_base, warm, taps, guess_thr, out_idx, out_coef,
                       out_deb, fallback, need, stats, kkt, kdev):
    """Solve every run ``[starts[r], stops[r])`` (global indices, ``y[j - a0]`` = sample j).

    Candidates are searched in ``[start + margin, stop - L - margin]`` (the
    whole run where it touches the record's ends).  Writes the non-zero
    coefficients (global index, LASSO value, refitted value) and returns their
    number.  ``fallback[r]`` is set for runs not solved here; ``need[r]``:
    the size of a component above ``cap`` that stopped run ``r``.  ``stats``:
    [components, largest component, linear solves] (of the runs solved).  ``warm``: start every
    component from a guessed support: :func:`_guess_peaks` for components of at most
    ``_PEAKS_GUESS_VARS`` candidates, :func:`_guess_support` (with the filter ``taps`` and
    threshold ``guess_thr`` of :func:`_guess_filter`) for larger ones.  A component of ``m``
    candidates may take ``50 m + iter_base`` linear solves.  Components of at most
    ``small_vars`` candidates go to :func:`_small_nnqp`, the others to the
    block-wise :func:`_nnqp` (the same solution).  With ``kkt``, ``kdev[r]`` is the
    largest KKT deviation of run ``r`` solved here (:func:`_run_kkt`).
    """
    L = p.size
    acf = np.zeros(L)
    for d in range(L):
        acf[d] = cum[d, L - d]
    # work arrays for components of up to ``cap`` candidates (larger ones: ``need``); not
    # zeroed (numba fills np.zeros explicitly): every entry is written before it is read
    B = np.empty((cap, L))
    Lw = np.empty((cap, L))
    b = np.empty(cap)
    cc = np.empty(cap)
    x = np.empty(cap)
    z = np.empty(cap)
    w = np.empty(cap)
    deb = np.empty(cap)
    x2 = np.empty(cap)
    cmax = np.empty(cap // _CHUNK + 1)
    carg = np.empty(cap // _CHUNK + 1, dtype=np.int64)
    passive = np.empty(cap, dtype=np.bool_)
    pas2 = np.empty(cap, dtype=np.bool_)
    state = np.empty(cap, dtype=np.int8)
    pidx = np.empty(cap, dtype=np.int64)
    sup = np.empty(cap, dtype=np.int64)
    pos2 = np.empty(cap, dtype=np.int64)
    cand = np.zeros(0, dtype=np.int64)
    cval = np.zeros(0)
    cgue = np.zeros(0)
    cbuf = np.zeros(0)
    gbuf = np.zeros(0)
    c4 = np.empty(4)
    K = taps.size // 2
    nout = 0
    for r in range(starts.size):
        s0 = starts[r]
        s1 = stops[r]
        lo = s0 + margin if s0 > 0 else 0
        hi = s1 - L - margin + 1 if s1 < n else s1
        if hi - lo > cand.size:
            cand = np.zeros(hi - lo, dtype=np.int64)
            cval = np.zeros(hi - lo)
            cgue = np.zeros(hi - lo)
        nb = hi - lo if hi > lo else 0
        if nb > cbuf.size:
            cbuf = np.zeros(nb)
            if kkt:
                gbuf = np.zeros(nb)
        # candidates: c_i > alpha (same arithmetic as the screening); c kept for the guess
        nc = 0
        # c of the run, four coefficients at a time (independent sums, each in the order of
        # k: the same numbers as one at a time), the last ones near the record's end alone
        i4 = lo
        while i4 + 4 <= hi and i4 + 3 + L <= n:
            _corr4(y, p, i4 - a0, L, c4)
            for u in range(4):
                cbuf[i4 - lo + u] = c4[u]
            i4 += 4
        for i in range(i4, hi):
            acc = 0.0
            kmax = L if L < n - i else n - i
            for k in range(kmax):
                acc += p[k] * y[i + k - a0]
            cbuf[i - lo] = acc
        for i in range(lo, hi):
            acc = cbuf[i - lo]
            if acc > alpha:
                cand[nc] = i
                cval[nc] = acc
                nc += 1
        run_out = nout
        run_comp = 0
        run_sol = 0
        ok = True
        c0 = 0
        while c0 < nc:
            c1 = c0 + 1
            while c1 < nc and cand[c1] - cand[c1 - 1] < L:
                c1 += 1
            m = c1 - c0
            if m > stats[1]:
                stats[1] = m
            if m > cap:
                need[r] = m
                ok = False
                break
            run_comp += 1
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
            max_iter = 50 * m + iter_base
            small = m <= small_vars
            if warm and m <= _PEAKS_GUESS_VARS:
                _guess_peaks(cand, cval, c0, m, passive)
            elif warm:
                # deconvolved c of the candidates (c taken as zero outside [lo, hi))
                for a in range(m):
                    cgue[a] = _filtered(cbuf, nb, cand[c0 + a] - lo, taps, K)
                _guess_support(cgue, m, guess_thr, passive)
            if small:
                st = _small_nnqp(B, L, b, m, tol_abs, max_iter, warm, x, passive, pidx, Lw, z, w)
            else:
                st = _nnqp(B, L, b, m, cand[c0:c1], tol_abs, max_iter, warm, x, passive, state,
                           pidx, Lw, z, w, cmax, carg)
            if st < 0:
                ok = False
                break
            run_sol += st
            ns = 0
            for a in range(m):
                if x[a] > 0.0:
                    sup[ns] = a
                    ns += 1
            if debias and ns:
                if small:
                    if not _small_refit(B, L, cc, sup, ns, 20, tol_abs, max_iter, deb, pas2, pidx,
                                        Lw, z, x2, passive, w):
                        ok = False
                        break
                elif not _refit(B, L, cc, cand[c0:c1], sup, ns, 20, tol_abs, max_iter, True, deb,
                                state, pidx, Lw, z, x2, pas2, w, pos2, cmax, carg):
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
        else:
            if kkt:
                kdev[r] = _run_kkt(cbuf, nb, lo, n, alpha, acf, cum, L, out_idx, out_coef,
                                   run_out, nout, gbuf)
            stats[0] += run_comp
            stats[2] += run_sol
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


def solve_runs(y, p, alpha, starts, stops, *, margin=0, debias=True, max_vars=65536,
               span=1 << 22, warm_start=True, small_vars=SMALL_VARS, kkt=False):
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
        Work arrays (two of ``L`` doubles, about ``16 * L`` bytes, per
        candidate) are allocated for ``min(max_vars, max(64, 2**20 // L))``
        candidates per compiled call; runs with a larger component are solved
        again with arrays of its size, up to an element budget: components
        of more than ``min(max_vars, max(64, 2**26 // L))`` candidates (at
        most 1 GiB of arrays) are flagged like those above ``max_vars``.  A
        component of ``m`` candidates may take ``50 m + 1000`` linear solves.
    span : int
        Samples per compiled call (about).
    warm_start : bool
        Start every component's active-set iteration from a guessed support
        instead of zero: the peaks of ``c`` (:func:`_guess_peaks`) for
        components of at most ``_PEAKS_GUESS_VARS`` (32) candidates, the
        Wiener-deconvolved ``c`` above the detection amplitude
        (:func:`_guess_support`) for larger ones; the guess is then pruned
        (and, in :func:`_warm_start`, extended) before the iteration: the
        same solution with fewer linear solves.
    small_vars : int
        Components of at most this many candidates are solved by the plain
        active set (:func:`_small_nnqp`, whole free set factored at every
        solve), larger ones block-wise (:func:`_nnqp`); both reach the same
        iterates, the choice only changes the time.

    Returns
    -------
    idx, coef, deb : ndarray
        Global index, LASSO and refitted value of every non-zero coefficient.
    fallback : ndarray of bool
        Runs not solved (a component above ``max_vars`` or a failed solve).
    stats : dict
        ``components``, ``largest_component``, ``linear_solves``, ``calls``.
        ``linear_solves`` counts, for components solved block-wise, block
        solves (one block of the free set, or the blocks of one changed
        range), and for components of at most ``small_vars`` candidates,
        solves of the whole free set.  With ``kkt``, also ``kkt_violation``: the
        largest violation of the LASSO conditions of the whole record over the
        runs solved here, relative to ``alpha`` (0.0 if none), the same
        quantity as :func:`kkt_runs` on those runs, from the gradient
        ``H^T y - (H^T H) s`` (``H^T y`` from the samples, ``H^T H`` from the
        pulse's autocorrelation) rather than from the residual, in the same
        pass (:func:`_run_kkt`; it agrees with :func:`kkt_runs` to rounding;
        ``inf`` if a run's coefficients were not all inside its checked
        samples).  It certifies each run's solution as the kernel wrote it,
        with the kernel's own ``c`` and Gram table; the assembly afterwards
        in Python (the copy into a grown output array, the merge of runs
        solved again, their sort) is not checked by it: :func:`kkt_runs` on
        the returned arrays is.
    kkt : bool
        Check the optimality conditions of the solved runs (see ``stats``).
    """
    n = y.shape[0]
    L = p.size
    cum = pulse_cross_sums(p)
    fallback = np.zeros(starts.size, dtype=bool)
    stats = np.zeros(3, dtype=np.int64)
    tol_abs = _TOL_REL * alpha
    taps, guess_thr = _guess_filter(p, alpha)
    calls = 0
    # work arrays sized for the usual components; runs holding a larger one (up to
    # max_vars and the element budget) are solved again with arrays of their size
    cap0 = min(int(max_vars), max(64, _WORK_ELEMENTS // L))
    cap_max = min(int(max_vars), max(64, _RETRY_ELEMENTS // L))
    worst = 0.0
    # one output array for all blocks, written in place (no concatenation of the parts):
    # reserved for a third of the run samples (pages are touched only where written), grown
    # if a block would not fit
    total_room = int((stops - starts).sum())
    size = min(total_room, total_room // 3 + _OUT_EXTRA)
    out = [np.empty(size, dtype=np.int64), np.empty(size), np.empty(size)]
    off = 0
    for k, j, a, seg in _blocks(y, starts, stops, L, span):
        sub = np.arange(k, j)
        cap = cap0
        parts = []
        while sub.size:
            room = int((stops[sub] - starts[sub]).sum())
            if not parts:
                if off + room > out[0].size:
                    size = min(total_room, max(2 * out[0].size, off + room))
                    grown = [np.empty(size, dtype=v.dtype) for v in out]
                    for g, v in zip(grown, out):
                        g[:off] = v[:off]
                    out = grown
                oi, oc, od = (v[off:off + room] for v in out)
            else:
                oi = np.empty(room, dtype=np.int64)
                oc = np.empty(room)
                od = np.empty(room)
            fb = np.zeros(sub.size, dtype=np.bool_)
            need = np.zeros(sub.size, dtype=np.int64)
            kdev = np.zeros(sub.size)
            m = _solve_runs_kernel(seg, a, n, p, cum, float(alpha), starts[sub], stops[sub],
                                   int(margin), cap, int(small_vars), bool(debias), tol_abs,
                                   int(_ITER_BASE), bool(warm_start), taps, guess_thr, oi, oc,
                                   od, fb, need, stats, bool(kkt), kdev)
            calls += 1
            if kkt and kdev.size:
                worst = max(worst, float(kdev.max()))
            parts.append((oi[:m], oc[:m], od[:m]))
            again = fb & (need > 0) & (need <= cap_max)
            fallback[sub[fb & ~again]] = True
            sub = sub[again]
            if sub.size:
                cap = int(need[again].max())
        if len(parts) > 1:
            # runs solved again with larger work arrays: merged in order of position
            oi, oc, od = (np.concatenate(v) for v in zip(*parts))
            order = np.argsort(oi, kind="stable")
            for v, w in zip(out, (oi, oc, od)):
                v[off:off + order.size] = w[order]
            off += order.size
        else:
            off += parts[0][0].size
    idx, coef, deb = (v[:off] for v in out)
    info = dict(components=int(stats[0]), largest_component=int(stats[1]),
                linear_solves=int(stats[2]), calls=calls)
    if kkt:
        info["kkt_violation"] = worst / alpha
    return idx, coef, deb, fallback, info


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
