r"""ADMM in sample space for a group LASSO with more coefficients than samples.

Used by :func:`group_coordinate_descent` (``inner="gram"``, no cone
constraints, one output) on the working sets that would otherwise go to the
interior-point method of :mod:`._group_ipm` when they hold more coefficients
than there are samples (the gated-ReLU model with many patterns on
low-dimensional data: ECG with 1000 gates, 974 distinct groups, 3896
coefficients for 2397 samples).  The interior point factors a matrix of the
size of the coefficients at every iteration; this method factors one matrix
of the size of the samples once.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as la
from scipy.linalg import blas

from ._penalties import GroupL2

#: iterations between two calls of ``accept`` (after a refusal)
_ACCEPT_EVERY = 10
# iterations over which the relative gap must fall at least tenfold (else the fallback)
_STALL_ITER = 100
#: Gauss-Newton points (:func:`_gauss_newton_points`) once the relative gap is below
#: ``_GN_FACTOR * accept_tol``, then after ``_GN_EVERY`` iterations, twice that, four times...
#: (each costs about the product of the support's columns with themselves)
_GN_EVERY, _GN_FACTOR = 5, 100.0


def admm_group_lasso(op, K, b, t, p, x0, *, rho, rel_tol, f_offset=0.0, relax=1.8,
                     anderson=10, max_iter=1000, accept=None, accept_tol=None, stop=None):
    r"""Group LASSO by ADMM with one Cholesky factorization in sample space.

    Solves

    .. math::

        \min_x\; \tfrac12 \lVert b - A x\rVert_2^2 + \sum_k t_k \lVert x_k\rVert_2

    (``x_k`` the ``k``-th block of ``p`` coefficients; the scaling is the
    solver layer's: no ``1 / n``) through the splitting ``x = z``:
    ``f(u) = 0.5 ||b - A u||^2``, ``g(z) = sum_k t_k ||z_k||``, scaled dual
    ``w``, penalty ``rho`` and over-relaxation ``relax``:

    - u-step: ``u = (A^T A + rho I)^{-1} (A^T b + rho (z - w))``, by the
      Woodbury identity ``(A^T A + rho I)^{-1} = (I - A^T (A A^T + rho I)^{-1}
      A) / rho``: ``s = (K + rho I)^{-1} (A A^T b + rho A (z - w))`` with
      ``K = A A^T`` factored once (Cholesky, double precision; two triangular
      solves per iteration), then ``A u = s`` and
      ``u = (A^T b + rho (z - w) - A^T s) / rho`` (one product with ``A^T``);
    - ``uh = relax u + (1 - relax) z``;
    - z-step: ``z = prox_{g / rho}(uh + w)`` (group soft-thresholding,
      :meth:`GroupL2.prox`), with ``A z`` (one product with ``A``);
    - ``w += uh - z``; ``A w`` is updated by linearity (so ``A (z - w)`` needs
      no product).

    Type-II Anderson acceleration (memory ``anderson``) extrapolates the
    state ``(z, w, A z, A w)`` from the fixed-point residuals of ``(z, w)``;
    its history is dropped whenever the residual grows (safeguard).

    Stopping rule: the primal point is the best ``z`` so far (exactly sparse:
    groups are zero or not) and the dual point is the residual of ``u``,
    ``theta = s' (b - A u)`` with the scale ``s'`` maximising the dual
    ``b^T theta - 0.5 ||theta||^2`` subject to ``||A_k^T theta|| <= t_k``
    (the best one so far).  Their gap relative to the full objective (primal
    plus ``f_offset``) is checked at every iteration: at most ``accept_tol``,
    ``accept(z, theta)`` is asked (e.g. the full problem's duality gap with
    that dual point) and ``True`` ends the iteration (at the earliest ten
    iterations after a refusal); at most ``rel_tol``, the iteration ends.
    (The dual point made from the residual of ``z`` itself converges far
    more slowly: on the ECG working set of 3896 coefficients its gap was
    still ``8e-7`` relative when this one was below ``1e-10``.)

    Once the relative gap is below ``100 accept_tol`` (then after 5, 10, 20, ...
    iterations), the support of ``z`` and the dual point also give a primal
    and a dual candidate by one Gauss-Newton step
    (:func:`_gauss_newton_points`), kept when they are better (the dual one
    scaled into the feasible set as above): their errors are second order in
    the distance to the optimum, where the scaled dual point's is first order
    (ECG, 1000 gates, alpha 1e-4: 39 iterations instead of 66 to the
    certificate).

    Parameters
    ----------
    op : object
        ``op.matvec(v)`` is ``A v`` (shape (n,)), ``op.rmatvec(r)`` is ``A^T r``
        (shape (m,)), e.g. a :class:`WorkingSetProducts`.
    K : ndarray of shape (n, n)
        ``A A^T`` in double precision, overwritten (``rho`` added to its
        diagonal, then its Cholesky factor in place).
    b : ndarray of shape (n,)
    t : ndarray of shape (m / p,)
        Positive group thresholds.
    p : int
        Group size.
    x0 : ndarray of shape (m,)
        Starting point (``z``; ``w`` starts at zero).
    rho : float
        ADMM penalty, positive.
    rel_tol : float
        Gap (relative to the full objective) ending the iteration.
    f_offset : float
        Full objective minus this problem's objective (for the relative gap).
    relax : float
        Over-relaxation in ``(0, 2)``.
    anderson : int
        Anderson memory (0: none).
    max_iter : int
        Iteration cap.
    accept : callable, optional
        ``accept(z, theta) -> bool``, see the stopping rule.
    accept_tol : float, optional
        Relative gap at which ``accept`` is asked (default ``rel_tol``).
    stop : callable, optional
        ``stop(k, z) -> bool`` asked after iteration ``k`` with its ``z``
        (after the stopping rule): ``True`` ends the iteration (``z`` None).

    Returns
    -------
    z : ndarray of shape (m,) or None
        ``None`` if the iteration stopped at ``max_iter``, by ``stop``, because
        the relative gap did not fall tenfold over ``_STALL_ITER`` (100) iterations,
        or because ``A A^T + rho I`` is not numerically positive definite.
    n_iter : int
    accepted : bool
        Whether ``accept`` returned ``True``.
    """
    n = b.size
    m = x0.size
    if accept_tol is None:
        accept_tol = rel_tol
    pen = GroupL2(1.0, p, weights=t)
    z = np.array(x0, dtype=np.float64)
    Az = op.matvec(z)
    w, Aw = np.zeros(m), np.zeros(n)
    K[np.diag_indices(n)] += rho
    try:
        # K is symmetric: its transpose is an F-ordered view, factored in place (no copy)
        L, _ = la.cho_factor(K.T, lower=True, overwrite_a=True, check_finite=False)
    except la.LinAlgError:
        return None, 0, False    # not numerically positive definite: the caller's fallback
    L = np.asfortranarray(L)

    def solve(v):
        return blas.dtrsv(L, blas.dtrsv(L, v, lower=1, trans=0), lower=1, trans=1)

    Atb = op.rmatvec(b)
    AAtb = op.matvec(Atb)
    state = np.concatenate([z, w, Az, Aw])
    # slices of the state (z, w, A z, A w)
    sz, sw, saz, saw = slice(0, m), slice(m, 2 * m), slice(2 * m, 2 * m + n), \
        slice(2 * m + n, 2 * m + 2 * n)

    def step(x):
        z, w, Az, Aw = x[sz], x[sw], x[saz], x[saw]
        s = solve(AAtb + rho * (Az - Aw))
        Ats = op.rmatvec(s)
        u = (Atb + rho * (z - w) - Ats) / rho
        uh = relax * u + (1.0 - relax) * z
        Auh = relax * s + (1.0 - relax) * Az
        zn = pen.prox(uh + w, 1.0 / rho)
        Azn = op.matvec(zn)
        out = np.concatenate([zn, w + uh - zn, Azn, Aw + Auh - Azn])
        return out, s, Ats

    next_accept = next_gn = 0
    gn_wait = _GN_EVERY
    best_primal, best_z, best_dual, best_theta = np.inf, None, -np.inf, None
    # Anderson: the last differences of iterates (columns of dX) and of residuals (dF),
    # a circular buffer of `anderson` columns of which the first n_hist are filled
    if anderson:
        dX = np.empty((state.size, anderson), order="F")
        dF = np.empty((2 * m, anderson), order="F")
    n_hist = pos = 0
    prev_x = prev_f = None
    res_prev = np.inf
    stall_gap = np.inf
    for k in range(1, max_iter + 1):
        nxt, s, Ats = step(state)
        zk, Azk = nxt[sz], nxt[saz]
        r = b - Azk
        primal = 0.5 * float(r @ r) + pen.value(zk)
        if primal < best_primal:
            best_primal, best_z = primal, zk.copy()
        # dual point: the residual of u, optimally scaled into the feasible set
        theta = b - s
        dual, scale = scaled_dual_value(b, theta, pen.dual_scaling(Atb - Ats), scale=True)
        if dual > best_dual:
            best_dual, best_theta = dual, scale * theta
        gap = best_primal - best_dual
        full = best_primal + f_offset
        if k >= next_gn and gap <= _GN_FACTOR * accept_tol * full:
            next_gn, gn_wait = k + gn_wait, 2 * gn_wait
            found = _gauss_newton_points(op, b, theta, Atb - Ats, zk, t, p)
            if found is not None:
                theta2, z2 = found
                dual, scale = scaled_dual_value(b, theta2, pen.dual_scaling(op.rmatvec(theta2)),
                                                scale=True)
                if dual > best_dual:
                    best_dual, best_theta = dual, scale * theta2
                r2 = b - op.matvec(z2)
                primal = 0.5 * float(r2 @ r2) + pen.value(z2)
                if primal < best_primal:
                    best_primal, best_z = primal, z2
                gap = best_primal - best_dual
                full = best_primal + f_offset
        if accept is not None and k >= next_accept and gap <= accept_tol * full:
            if accept(best_z, best_theta):
                return best_z, k, True
            next_accept = k + _ACCEPT_EVERY
        if gap <= rel_tol * full:
            return best_z, k, False
        # stalled: the relative gap has not fallen tenfold over the last _STALL_ITER iterations
        if k % _STALL_ITER == 0:
            if gap / full > 0.1 * stall_gap:
                return None, k, False
            stall_gap = gap / full
        if stop is not None and stop(k, zk):
            return None, k, False
        if not anderson:
            state = nxt
            continue
        f = nxt[:2 * m] - state[:2 * m]
        res = float(np.linalg.norm(f))
        if res > res_prev and prev_x is not None:
            prev_x = None               # the extrapolated point was worse: restart
            n_hist = pos = 0
        res_prev = res
        if prev_x is not None:
            dX[:, pos] = nxt - prev_x
            dF[:, pos] = f - prev_f
            pos = (pos + 1) % anderson
            n_hist = min(n_hist + 1, anderson)
        prev_x, prev_f = nxt, f
        if not n_hist:
            state = nxt
            continue
        gam = np.linalg.lstsq(dF[:, :n_hist], f, rcond=1e-10)[0]
        state = nxt - dX[:, :n_hist] @ gam
    return None, max_iter, False


def _gauss_newton_points(op, b, theta, corr, z, t, p):
    r"""Primal and dual points from the support of ``z`` and the dual point ``theta``.

    With ``S`` the groups non-zero in ``z`` or violating their dual constraint
    at ``theta`` (``||A_k^T theta|| > t_k``, ``corr = A^T theta``) and
    ``n_k = A_k^T theta / ||A_k^T theta||``, the columns ``a_k = A_k n_k``
    (``B = [a_k]``, ``k`` in ``S``) give

    - the dual point ``theta + B (B^T B)^{-1} (t_S - ||A_S^T theta||)``: one
      Gauss-Newton step of the active constraints ``||A_k^T theta|| = t_k``
      (minimum-norm correction of their linearisation).  It moves ``theta``
      along the constraints, so its loss in the dual objective is second order in
      the distance to the optimum, where scaling ``theta`` into the dual set loses
      first order (the dual point of ADMM lags its primal point by about twenty
      iterations on the ECG working sets);
    - the primal point with ``x_k = mu_k n_k`` on ``S``, ``mu = (B^T B)^{-1}
      (B^T b - t_S)``: the minimiser of ``0.5 ||b - B mu||^2 + t_S^T mu`` (the
      objective along the directions ``n_k``, exact at the optimum).

    Both are only candidates: the caller evaluates them (``theta`` scaled into
    the dual set).  Returns ``(theta, x)``, or None when ``S`` is empty, holds
    at least as many groups as ``theta`` has entries, or ``B^T B`` is not
    numerically positive definite.
    """
    G = corr.reshape(-1, p)
    c = np.linalg.norm(G, axis=1)
    S = np.flatnonzero((np.any(z.reshape(-1, p) != 0, axis=1) | (c > t)) & (c > 0))
    if S.size == 0 or S.size >= b.size:
        return None
    N = G[S] / c[S, None]
    B = op.directional_columns(S, N)
    try:
        L = la.cho_factor(B.T @ B, lower=True, check_finite=False)
    except la.LinAlgError:
        return None
    sol = la.cho_solve(L, np.column_stack([t[S] - c[S], B.T @ b - t[S]]), check_finite=False)
    x = np.zeros(z.size)
    x.reshape(-1, p)[S] = sol[:, 1, None] * N
    return theta + B @ sol[:, 0], x


def scaled_dual_value(b, theta, g, scale=False):
    """Dual value of the best feasible multiple of ``theta``.

    ``max_s s b^T theta - s^2 ||theta||^2 / 2`` over ``0 <= s <= 1 / g``, where
    ``g = max_k ||A_k^T theta|| / t_k`` (``g = 0``: no upper bound), the dual
    of ``0.5 ||b - A x||^2 + sum_k t_k ||x_k||`` at ``s theta``.  With ``scale``
    returns ``(value, s)``.
    """
    bt, tt = float(b @ theta), float(theta @ theta)
    s = max(bt / tt, 0.0) if tt > 0 else 0.0
    if g > 0:
        s = min(s, 1.0 / g)
    value = s * bt - 0.5 * s * s * tt
    return (value, s) if scale else value
