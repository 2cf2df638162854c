"""Primal-dual interior-point method for a group LASSO given by its Gram matrix.

Used by :func:`group_coordinate_descent` (``inner="gram"``, no cone
constraints) on working-set subproblems that block coordinate descent
solves slowly: many strongly correlated groups and a support of about as
many coefficients as samples (the gated-ReLU model with many patterns on
low-dimensional data), where coordinate descent and FISTA need tens of
thousands of passes.  The subproblem

.. math::

    \\min_x\\; \\tfrac12 x^T H x + c^T x + \\sum_k t_k \\lVert x_k\\rVert_2

is written as the second-order-cone program ``min 0.5 x^T H x + c^T x +
t^T s`` subject to ``u_k = (s_k, x_k)`` in the second-order cone
``{s >= ||x||}``; its dual variables ``z_k = (z_{k0}, z_{k1})`` (same cone)
satisfy ``z_{k0} = t_k`` and ``z_{k1} = (H x + c)_k`` at a solution, so dual
feasibility is the group LASSO's optimality condition
``||(H x + c)_k|| <= t_k``.

The method is Mehrotra's predictor-corrector with Nesterov-Todd scaling
(infeasible start, one step length for the primal and the dual variables as
for quadratic programs): every iteration factors one ``m x m`` matrix
(``m`` coefficients), ``H`` plus a ``p x p`` block per group, and solves with
it twice (affine predictor, then the centring corrector with the
second-order term).  A handful of iterations (about ten on the ECG working
sets of 4000 coefficients, where the primal log-barrier method needed about
fifty Newton steps) reach the requested gap.  The caller certifies
optimality of the full problem by its duality gap.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as la


def interior_point_group_lasso(H, c, t, p, x0, gap_tol, *, rel_tol=0.0, f_offset=0.0,
                               start=None, max_iter=100, sigma_power=3.0, fraction=0.99):
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
        Starting point (any; the cone variables and the dual variables are
        chosen strictly inside their cones).
    gap_tol : float
        Absolute accuracy: stop when the complementarity gap ``sum_k u_k^T z_k``
        is at most ``max(gap_tol, rel_tol * (f(x) + f_offset))`` (``f`` the
        objective above) and the dual residual ``(H x + c - z_1, t - z_0)`` is
        at rounding level (``1e-9 * max(1, ||c||)``).
    rel_tol : float
        Relative accuracy (see ``gap_tol``).
    f_offset : float
        Constant added to ``f`` for ``rel_tol``: with ``f_offset`` the value of
        the full problem minus the subproblem's, the gap is relative to the
        full problem's objective at the current point.
    start : tuple of ndarray, optional
        The ``state`` returned by an earlier call on the same ``H``, ``c`` and
        ``t``: the iteration resumes there (``x0`` is ignored), so a tighter
        tolerance costs only the few extra iterations.
    max_iter : int
        Maximum number of iterations (factorizations).
    sigma_power : float
        Mehrotra's centring parameter is ``(gap after the affine step /
        gap) ** sigma_power``.
    fraction : float
        Fraction of the step to the boundary of the cones that is taken.

    Returns
    -------
    x : ndarray of shape (m,)
        Interior point (every group non-zero; groups that are zero at the
        optimum have norms of the order of ``mu / t_k``).
    n_iter : int
        Number of iterations (factorizations).
    mu : float
        Final average complementarity ``sum_k u_k^T z_k / n_groups``.
    state : tuple of ndarray
        The final primal and dual cone variables ``(u, z)``, each of shape
        ``(n_groups, p + 1)`` (for ``start``).
    """
    H = np.asarray(H, dtype=np.float64)
    m = H.shape[0]
    K = m // p
    q = p + 1
    t = np.asarray(t, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    x = np.array(x0, dtype=np.float64)
    X = x.reshape(K, p)
    nx = np.linalg.norm(X, axis=1)
    scale = float(nx.max(initial=0.0))
    if scale == 0.0:
        # size of a one-group solution: ||c_k|| / H_kk
        scale = float(np.max(np.abs(c)) / max(float(np.max(np.diag(H))), 1e-300))
        scale = scale if scale > 0 else 1.0
    if start is not None:
        u, z = (np.array(v, dtype=np.float64) for v in start)
    else:
        # primal u_k = (s_k, x_k) and dual z_k = (z_k0, z_k1), strictly inside the cones
        u = np.empty((K, q))
        u[:, 0] = nx + 0.1 * scale
        u[:, 1:] = X
        g = (H @ x + c).reshape(K, p)
        gn = np.linalg.norm(g, axis=1)
        z = np.empty((K, q))
        z[:, 0] = t
        z[:, 1:] = g * np.minimum(1.0, 0.5 * t / np.maximum(gn, 1e-300))[:, None]
    ridge0 = 1e-13 * max(float(np.trace(H)) / max(m, 1), 1e-300)
    res_tol = 1e-9 * max(1.0, float(np.linalg.norm(c)))
    # (row, column) of every entry of the diagonal p x p blocks
    gi = np.repeat(np.arange(K), p * p)
    ri = gi * p + np.tile(np.repeat(np.arange(p), p), K)
    ci = gi * p + np.tile(np.arange(p), p * K)
    diag = np.diag_indices(m)
    M = np.empty_like(H)
    mu = float(np.sum(u * z)) / max(K, 1)
    n_iter = 0
    while n_iter < max_iter:
        x = u[:, 1:].ravel()
        Hx = H @ x
        r = np.empty((K, q))                       # dual residual
        r[:, 0] = t - z[:, 0]
        r[:, 1:] = (Hx + c).reshape(K, p) - z[:, 1:]
        gap = float(np.sum(u * z))
        mu = gap / K
        if float(np.linalg.norm(r)) <= res_tol:
            target = gap_tol
            if rel_tol > 0:
                f = 0.5 * float(x @ Hx) + float(c @ x) \
                    + float(t @ np.linalg.norm(u[:, 1:], axis=1))
                target = max(target, rel_tol * (f + f_offset))
            if gap <= target:
                break
        if not (np.all(_det(u) > 0) and np.all(_det(z) > 0)):
            break           # a point on the boundary at rounding level: keep it
        beta, w = _nt_scaling(u, z)
        W = _scaling_matrices(beta, w)
        W2 = np.matmul(W, W)
        lam = np.einsum("kab,kb->ka", W, u)        # scaled point W u = W^-1 z
        # Newton matrix on (s, x): blockdiag(H on x) + W^2; s is eliminated per group
        a = W2[:, 0, 0]
        b = W2[:, 1:, 0]
        red = W2[:, 1:, 1:] - b[:, :, None] * b[:, None, :] / a[:, None, None]
        factor = None
        ridge = ridge0
        for _ in range(4):
            np.copyto(M, H)
            M[ri, ci] += red.ravel()
            M[diag] += ridge
            try:
                factor = la.cho_factor(M, overwrite_a=True, check_finite=False)
                break
            except (la.LinAlgError, ValueError):
                ridge *= 1e3
        if factor is None:
            break           # rounding level reached: keep the current point
        n_iter += 1

        # predictor (affine scaling direction): lam o (W du + W^-1 dz) = -lam o lam
        system = (factor, W, W2, a, b, r)
        du_a, dz_a = _newton_direction(system, -lam)
        if not (np.all(np.isfinite(du_a)) and np.all(np.isfinite(dz_a))):
            break
        step_a = min(1.0, _max_step(u, du_a), _max_step(z, dz_a))
        gap_a = float(np.sum((u + step_a * du_a) * (z + step_a * dz_a)))
        sigma = min(1.0, max(gap_a / gap, 0.0)) ** sigma_power
        # corrector: centring and the second-order term of the predictor
        w_du = np.einsum("kab,kb->ka", W, du_a)
        winv_dz = _jmul(np.einsum("kab,kb->ka", W, _jmul(dz_a))) / (beta * beta)[:, None]
        rc = -_jordan(lam, lam) - _jordan(winv_dz, w_du)
        rc[:, 0] += sigma * mu
        du, dz = _newton_direction(system, _jordan_solve(lam, rc))
        if not (np.all(np.isfinite(du)) and np.all(np.isfinite(dz))):
            break
        step = min(1.0, fraction * min(_max_step(u, du), _max_step(z, dz)))
        if not step > 0:
            break
        u = u + step * du
        z = z + step * dz
    return u[:, 1:].ravel(), n_iter, mu, (u, z)


def _newton_direction(system, rho):
    """``(du, dz)`` with ``W du + W^-1 dz = rho`` and ``P du - dz = -r``.

    ``P`` is ``H`` on the ``x``-part of ``u = (s, x)``; ``system`` holds the
    Cholesky factor of ``H + blockdiag(W^2 reduced to x)``, ``W``, ``W^2``, the
    ``s``-entries ``a`` and ``b`` of ``W^2`` and the dual residual ``r``.
    """
    factor, W, W2, a, b, r = system
    K, q = rho.shape
    w_rho = np.einsum("kab,kb->ka", W, rho)
    rhs = w_rho - r
    rx = rhs[:, 1:] - b * (rhs[:, 0] / a)[:, None]
    dx = la.cho_solve(factor, rx.ravel(), check_finite=False).reshape(K, q - 1)
    du = np.empty((K, q))
    du[:, 1:] = dx
    du[:, 0] = (rhs[:, 0] - np.einsum("ij,ij->i", b, dx)) / a
    dz = w_rho - np.einsum("kab,kb->ka", W2, du)
    return du, dz


# ------------------------------------------------------------------ cones
def _jmul(v):
    """``J v`` with ``J = diag(1, -1, ..., -1)`` (rows of ``v`` are cone vectors)."""
    out = -v
    out[:, 0] = v[:, 0]
    return out


def _det(v):
    """``v_0^2 - ||v_1||^2`` row by row, in the form without cancellation near the boundary."""
    n1 = np.linalg.norm(v[:, 1:], axis=1)
    return (v[:, 0] - n1) * (v[:, 0] + n1)


def _nt_scaling(u, z):
    """Nesterov-Todd scaling of interior points ``u``, ``z`` of second-order cones.

    Returns ``beta`` (K,) and ``w`` (K, q) with ``w^T J w = 1`` such that
    ``W = beta * [[w_0, w_1^T], [w_1, I + w_1 w_1^T / (1 + w_0)]]`` satisfies
    ``W u = W^{-1} z`` (``W^{-1} = J W J / beta^2``).
    """
    du, dz = _det(u), _det(z)
    un = u / np.sqrt(du)[:, None]
    zn = z / np.sqrt(dz)[:, None]
    gamma = np.sqrt(0.5 * (1.0 + np.einsum("ij,ij->i", un, zn)))
    w = zn + _jmul(un)
    w /= (2.0 * gamma)[:, None]
    return (dz / du) ** 0.25, w


def _scaling_matrices(beta, w):
    """The matrices ``W`` (K, q, q) of :func:`_nt_scaling`."""
    K, q = w.shape
    W = np.empty((K, q, q))
    W[:, 0, 0] = w[:, 0]
    W[:, 0, 1:] = w[:, 1:]
    W[:, 1:, 0] = w[:, 1:]
    W[:, 1:, 1:] = w[:, 1:, None] * (w[:, None, 1:] / (1.0 + w[:, 0])[:, None, None])
    W[:, 1:, 1:] += np.eye(q - 1)
    return W * beta[:, None, None]


def _jordan(a, b):
    """Jordan product ``a o b = (a^T b, a_0 b_1 + b_0 a_1)`` row by row."""
    out = np.empty_like(a)
    out[:, 0] = np.einsum("ij,ij->i", a, b)
    out[:, 1:] = a[:, :1] * b[:, 1:] + b[:, :1] * a[:, 1:]
    return out


def _jordan_solve(lam, b):
    """``v`` with ``lam o v = b`` (``lam`` inside the cones)."""
    det = _det(lam)
    v = np.empty_like(b)
    v[:, 0] = (lam[:, 0] * b[:, 0] - np.einsum("ij,ij->i", lam[:, 1:], b[:, 1:])) / det
    v[:, 1:] = (b[:, 1:] - lam[:, 1:] * v[:, :1]) / lam[:, :1]
    return v


def _max_step(v, dv):
    """Largest ``a`` keeping ``v + a dv`` in the cones (``v`` inside them); may be inf."""
    qc = _det(v)
    qb = 2.0 * (v[:, 0] * dv[:, 0] - np.einsum("ij,ij->i", v[:, 1:], dv[:, 1:]))
    qa = _det(dv)
    return _first_root(qa, qb, qc)


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
