"""Log-barrier interior-point method for a group LASSO given by its Gram matrix.

Used by :func:`group_coordinate_descent` (``inner="gram"``, no cone
constraints) on working-set subproblems that block coordinate descent
solves slowly: many strongly correlated groups and a support of about as
many coefficients as samples (the gated-ReLU model with many patterns on
low-dimensional data), where coordinate descent and FISTA need tens of
thousands of passes.  The subproblem

.. math::

    \\min_x\\; \\tfrac12 x^T H x + c^T x + \\sum_k t_k \\lVert x_k\\rVert_2

is written as the second-order-cone program ``min 0.5 x^T H x + c^T x +
t^T s`` subject to ``||x_k|| <= s_k`` and solved by the primal log-barrier
method (barrier ``-mu sum_k log(s_k^2 - ||x_k||^2)``, damped Newton steps,
``mu`` divided by ``shrink`` once the Newton decrement is small).  Every
Newton step factors one ``m x m`` matrix (``m`` coefficients), so it pays
when ``m`` is a few thousand at most; the caller certifies optimality of the
full problem by its duality gap.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as la


def barrier_group_lasso(H, c, t, p, x0, gap_tol, *, shrink=30.0, center=2.0, max_newton=200):
    """Approximate minimiser of ``0.5 x^T H x + c^T x + sum_k t_k ||x_k||``.

    Parameters
    ----------
    H : ndarray of shape (m, m)
        Positive semi-definite Gram matrix; ``m = n_groups * p``.
    c : ndarray of shape (m,)
        Linear term.
    t : ndarray of shape (n_groups,)
        Group weights (all ``> 0``).
    p : int
        Group size (groups are contiguous blocks of ``p`` entries).
    x0 : ndarray of shape (m,)
        Starting point (any; the cone variables ``s`` are chosen feasible).
    gap_tol : float
        Absolute accuracy: the barrier weight is decreased until
        ``2 * n_groups * mu <= gap_tol`` (the duality gap of a centred point).
    shrink : float
        Factor by which ``mu`` decreases between centring stages.
    center : float
        A stage ends when the Newton decrement (of the barrier objective divided
        by ``mu``) is below ``center`` (``1e-6`` in the last stage).
    max_newton : int
        Maximum total number of Newton steps.

    Returns
    -------
    x : ndarray of shape (m,)
        Interior point (every group non-zero; groups that are zero at the
        optimum have norms of the order of ``mu / t_k``).
    n_newton : int
        Number of Newton steps (factorisations).
    mu : float
        Final barrier weight.
    """
    m = H.shape[0]
    K = m // p
    t = np.asarray(t, dtype=np.float64)
    x = np.array(x0, dtype=np.float64)
    X = x.reshape(K, p)
    nx = np.linalg.norm(X, axis=1)
    scale = float(nx.max(initial=0.0))
    if scale == 0.0:
        # size of a one-group solution: ||c_k|| / H_kk
        scale = float(np.max(np.abs(c)) / max(float(np.max(np.diag(H))), 1e-300))
        scale = scale if scale > 0 else 1.0
    delta = 0.1 * scale
    s = nx + delta
    mu = float(np.median(t)) * delta
    mu_final = gap_tol / (2.0 * K)
    ridge = 1e-13 * max(float(np.trace(H)) / max(m, 1), 1e-300)
    diag = np.diag_indices(m)
    # (row, column, group) of every entry of the diagonal blocks
    gi = np.repeat(np.arange(K), p * p)
    ri = gi * p + np.tile(np.repeat(np.arange(p), p), K)
    ci = gi * p + np.tile(np.arange(p), p * K)
    Hx = H @ x
    n_newton = 0
    while n_newton < max_newton:
        X = x.reshape(K, p)
        nx2 = np.einsum("ij,ij->i", X, X)
        D = s * s - nx2
        g_x = Hx + c + (2.0 * mu / D)[:, None].repeat(p, axis=1).ravel() * x
        g_s = t - 2.0 * mu * s / D
        D2 = D * D
        a = 2.0 * mu / D                    # Bxx = a I + b X X^T
        b = 4.0 * mu / D2
        e = -4.0 * mu * s / D2              # bxs = e X
        f = 2.0 * mu * (s * s + nx2) / D2   # bss
        # reduced block: a I + (b - e^2 / f) X X^T
        w = b - e * e / f
        M = H.copy()
        M[diag] += np.repeat(a, p) + ridge
        M[ri, ci] += w[gi] * x[ri] * x[ci]
        rhs = -g_x + (e * g_s / f)[:, None].repeat(p, axis=1).ravel() * x
        n_newton += 1
        try:
            dx = la.cho_solve(la.cho_factor(M, overwrite_a=True, check_finite=False), rhs,
                              check_finite=False)
        except (la.LinAlgError, ValueError):
            break           # rounding level reached: keep the current point
        if not np.all(np.isfinite(dx)):
            break
        dX = dx.reshape(K, p)
        xdx = np.einsum("ij,ij->i", X, dX)
        ds = -(g_s + e * xdx) / f
        decrement = -(float(g_x @ dx) + float(g_s @ ds))
        final = mu <= mu_final
        if decrement <= (1e-6 if final else center) * max(mu, 1e-300) or not decrement > 0:
            if final or not decrement > 0:
                break
            mu = max(mu / shrink, mu_final)
            continue
        # largest step keeping s + a ds > ||x + a dx||, then backtracking on the barrier
        dnx2 = np.einsum("ij,ij->i", dX, dX)
        qa = ds * ds - dnx2
        qb = 2.0 * (s * ds - xdx)
        qc = D
        step_max = _first_root(qa, qb, qc)
        step = min(1.0, 0.99 * step_max)
        Hdx = H @ dx
        lin = float((Hx + c) @ dx) + float(t @ ds)
        quad = float(dx @ Hdx)
        logD = np.log(D)
        for _ in range(60):
            Dn = qc + step * qb + step * step * qa
            if np.all(Dn > 0):
                change = step * lin + 0.5 * step * step * quad \
                    - mu * float(np.sum(np.log(Dn) - logD))
                if change <= -0.25 * step * decrement:
                    break
            step *= 0.5
        else:
            break
        x = x + step * dx
        s = s + step * ds
        Hx = Hx + step * Hdx
    return x, n_newton, mu


def _first_root(qa, qb, qc):
    """Smallest ``a > 0`` with ``qc + qb a + qa a^2 = 0`` over all entries (``qc > 0``); inf if none."""
    best = np.inf
    lin = qa == 0
    if np.any(lin & (qb < 0)):
        sel = lin & (qb < 0)
        best = min(best, float(np.min(-qc[sel] / qb[sel])))
    quad = ~lin
    if np.any(quad):
        A, B, C = qa[quad], qb[quad], qc[quad]
        disc = B * B - 4.0 * A * C
        ok = disc >= 0
        if np.any(ok):
            A, B, C, sq = A[ok], B[ok], C[ok], np.sqrt(disc[ok])
            # numerically stable roots
            qq = -0.5 * (B + np.copysign(sq, B))
            r1 = np.where(qq != 0, C / np.where(qq != 0, qq, 1.0), np.inf)
            r2 = np.where(A != 0, qq / A, np.inf)
            roots = np.concatenate([r1, r2])
            roots = roots[roots > 0]
            if roots.size:
                best = min(best, float(roots.min()))
    return best
