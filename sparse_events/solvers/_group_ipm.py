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

Options for large working sets (the caller's choice): the matrix can be
factored in single precision, as the preconditioner of conjugate gradients
in double precision (at most eight steps per solve, two to six on the
ECG benchmark; about half the cost of a
double precision factorization, and the iterates agree with the double
precision ones), and the groups tending to zero (dual block clearly inside
its cone) can be removed once the gap is small, so that the remaining
factorizations are smaller (ECG with 1000 gates, 974 distinct groups:
four factorizations of 974 groups, two of 772 and four of 659); a second
solve with the same factor then removes the dual residual that the removal
leaves.  ``H`` can also be a matrix-free operator of ``A^T A`` (e.g.
``MaskedBlockDesign.working_set_operator``): the Gram matrix is then formed in
single precision only (for the factors) and the double precision products of
conjugate gradients are products with ``A`` and ``A^T`` (ECG with 1000 gates:
the single precision Gram matrix of the 974 groups from the ten blocks of the
feature pairs, products of the 0/1 masks, instead of the double precision
one, and no double precision copies when groups are removed); the exact
double precision Gram matrix is formed only if a solve with the single
precision factor fails.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as la

from ._group_gram_kernels import gather_submatrix


def interior_point_group_lasso(H, c, t, p, x0, gap_tol, *, rel_tol=0.0, f_offset=0.0,
                               start=None, max_iter=100, sigma_power=3.0, fraction=0.99,
                               shrink_gap=0.0, shrink_dual=0.5, single_gap=np.inf,
                               accept=None):
    """Approximate minimiser of ``0.5 x^T H x + c^T x + sum_k t_k ||x_k||``.

    Parameters
    ----------
    H : ndarray of shape (m, m) or operator
        Positive semi-definite Gram matrix; ``m = n_groups * p``.  Or a
        matrix-free operator of ``H = A^T A`` with ``gram_matvec``, ``diag``,
        ``gram32`` and ``restrict`` (e.g. ``MaskedBlockDesign.working_set_operator``):
        products with ``H`` are then computed from ``A`` in double precision, the
        Newton matrix is factored in single precision from ``gram32()`` (every
        iteration, whatever ``single_gap``) and every solve is refined by
        conjugate gradients with the double precision products; only when that
        fails (no single precision factor, or conjugate gradients not
        converging) is the exact double precision Gram matrix ``gram()``
        formed and factored.
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
    shrink_gap : float or sequence of float
        Once the gap is at most ``shrink_gap * (f(x) + f_offset)`` and the
        dual residual at most ``1e-6 * ||c||`` (and ``shrink_gap > 0``), the
        groups whose dual block is clearly inside its cone,
        ``||z_{k1}|| < shrink_dual * t_k`` (they tend to zero), are set to
        zero and removed, if that drops at least a tenth of the groups: the
        remaining iterations factor a smaller matrix.  A sequence of
        decreasing gaps removes groups at each of them (once each).  The
        caller must then check the removed groups' optimality conditions
        (the full problem's duality gap does).
    shrink_dual : float or sequence of float
        See ``shrink_gap`` (one value, or one per entry of ``shrink_gap``).
    single_gap : float
        While the gap is above ``single_gap * (f(x) + f_offset)``, the Newton
        matrix is factored in single precision and the two solves are done
        by conjugate gradients in double precision preconditioned by that
        factor (at most eight steps; double precision factorization when they
        do not converge): about half the cost of a double precision
        factorization.  ``0`` does so at every iteration (the choice of the
        group solver for large working sets); ``inf`` (default) never does.
    accept : callable, optional
        The caller's own certificate, e.g. the full problem's duality gap:
        ``accept(x)`` (``x`` of shape (m,)) is asked whether to stop once the
        gap criterion holds, and the iteration goes on (until the dual
        residual is ``1e-3`` times the level above) while it answers
        ``False``: a dual residual of ``1e-9 * ||c||`` can still be too large
        for the caller's duality gap (the residual falls by a factor of about
        twenty per iteration after the groups are removed by ``shrink_gap``).

    Returns
    -------
    x : ndarray of shape (m,)
        Interior point (every group non-zero, except the groups removed by
        ``shrink_gap``; groups that are zero at the optimum have norms of the
        order of ``mu / t_k``).
    n_iter : int
        Number of iterations (factorizations).
    mu : float
        Final average complementarity ``sum_k u_k^T z_k / n_groups`` (over the
        groups not removed).
    state : tuple of ndarray
        The final primal and dual cone variables ``(u, z)``, each of shape
        ``(n_groups, p + 1)`` (for ``start``; removed groups have ``x_k = 0``
        and their cone variables of the removal).
    """
    if not hasattr(H, "gram_matvec"):
        H = np.asarray(H, dtype=np.float64)
    m = H.shape[0]
    K = m // p
    q = p + 1
    t = np.asarray(t, dtype=np.float64)
    c = np.asarray(c, dtype=np.float64)
    x = np.array(x0, dtype=np.float64)
    X = x.reshape(K, p)
    nx = np.linalg.norm(X, axis=1)
    lin = _NewtonSystem(H, p, single=np.isfinite(single_gap))
    h_diag = lin.gram_diag()
    scale = float(nx.max(initial=0.0))
    if scale == 0.0:
        # size of a one-group solution: ||c_k|| / H_kk
        scale = float(np.max(np.abs(c)) / max(float(np.max(h_diag, initial=0.0)), 1e-300))
        scale = scale if scale > 0 else 1.0
    if start is not None:
        u, z = (np.array(v, dtype=np.float64) for v in start)
    else:
        # primal u_k = (s_k, x_k) and dual z_k = (z_k0, z_k1), strictly inside the cones
        u = np.empty((K, q))
        u[:, 0] = nx + 0.1 * scale
        u[:, 1:] = X
        g = (lin.hmul(x) + c).reshape(K, p)
        gn = np.linalg.norm(g, axis=1)
        z = np.empty((K, q))
        z[:, 0] = t
        z[:, 1:] = g * np.minimum(1.0, 0.5 * t / np.maximum(gn, 1e-300))[:, None]
    ridge0 = 1e-13 * max(float(np.sum(h_diag)) / max(m, 1), 1e-300)
    res_tol = 1e-9 * max(1.0, float(np.linalg.norm(c)))
    K_full, u_full, z_full, kept = K, None, None, None
    shrink_gap = np.atleast_1d(np.asarray(shrink_gap, dtype=np.float64))
    if np.all(shrink_gap > 0):
        shrink_dual = np.broadcast_to(np.asarray(shrink_dual, dtype=np.float64),
                                      shrink_gap.shape)
    else:
        shrink_gap = shrink_dual = np.zeros(0)      # no removal
    n_shrink = 0
    mu = float(np.sum(u * z)) / max(K, 1)
    n_iter = 0
    while n_iter < max_iter:
        x = u[:, 1:].ravel()
        Hx = lin.hmul(x)
        r = np.empty((K, q))                       # dual residual
        r[:, 0] = t - z[:, 0]
        r[:, 1:] = (Hx + c).reshape(K, p) - z[:, 1:]
        gap = float(np.sum(u * z))
        mu = gap / K
        f = 0.5 * float(x @ Hx) + float(c @ x) \
            + float(t @ np.linalg.norm(u[:, 1:], axis=1)) + f_offset
        target = max(gap_tol, rel_tol * f) if rel_tol > 0 else gap_tol
        if gap <= target:
            res = float(np.linalg.norm(r))
            if accept is None:
                if res <= res_tol:
                    break
            elif res <= 1e-3 * res_tol or accept(_full_x(u, kept, K_full, p)):
                break
        if n_shrink < shrink_gap.size and gap <= shrink_gap[n_shrink] * f \
                and float(np.linalg.norm(r)) <= 1e3 * res_tol:
            keep = np.linalg.norm(z[:, 1:], axis=1) >= shrink_dual[n_shrink] * t
            n_shrink += 1
            if 10 * np.count_nonzero(keep) <= 9 * K:
                # the groups tending to zero leave the iteration
                loc = np.flatnonzero(keep)
                if kept is None:
                    u_full, z_full, kept = u.copy(), z.copy(), loc
                else:
                    u_full[kept], z_full[kept] = u, z
                    kept = kept[loc]
                u, z, t = u[loc], z[loc], t[loc]
                cols = (loc[:, None] * p + np.arange(p)).ravel()
                c = c[cols]
                lin = lin.restrict(cols)
                K = loc.size
                continue
        det_u, det_z = _det(u), _det(z)
        if not (np.all(det_u > 0) and np.all(det_z > 0)):
            break           # a point on the boundary at rounding level: keep it
        beta, w = _nt_scaling(u, z, det_u, det_z)
        W = _scaling_matrices(beta, w)
        W2 = np.matmul(W, W)
        lam = np.einsum("kab,kb->ka", W, u)        # scaled point W u = W^-1 z
        # Newton matrix on (s, x): blockdiag(H on x) + W^2; s is eliminated per group
        a = W2[:, 0, 0]
        b = W2[:, 1:, 0]
        red = W2[:, 1:, 1:] - b[:, :, None] * b[:, None, :] / a[:, None, None]
        # solves with a single precision factor: as accurate as the gap requires
        rtol = min(1e-6, max(1e-10, 1e-3 * gap / max(f, 1e-300)))
        if not lin.factor(red, ridge0, single=lin.op is not None or gap > single_gap * f,
                          rtol=rtol):
            break           # rounding level reached: keep the current point
        n_iter += 1

        # predictor (affine scaling direction): lam o (W du + W^-1 dz) = -lam o lam
        system = (lin, W, W2, a, b, r)
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
        if kept is not None and step < 1.0:
            # after the removal of groups (which leaves a dual residual while the gap is
            # already small): a second solve with the same factor, for the remaining dual
            # residual at fixed (linearised) complementarity
            x = u[:, 1:].ravel()
            r = np.empty((K, q))
            r[:, 0] = t - z[:, 0]
            r[:, 1:] = (lin.hmul(x) + c).reshape(K, p) - z[:, 1:]
            if float(np.linalg.norm(r)) > res_tol:
                du, dz = _newton_direction((lin, W, W2, a, b, r), np.zeros((K, q)))
                if np.all(np.isfinite(du)) and np.all(np.isfinite(dz)):
                    step = min(1.0, fraction * min(_max_step(u, du), _max_step(z, dz)))
                    if step > 0:
                        u = u + step * du
                        z = z + step * dz
    if kept is not None:
        u_out, z_out = u_full.copy(), z_full.copy()
        u_out[:, 1:] = 0.0
        u_out[kept], z_out[kept] = u, z
        u = u_out
        z = z_out
    return u[:, 1:].ravel(), n_iter, mu, (u, z)


def _prefix(A, m):
    """The first ``m * m`` entries of the C-contiguous ``A`` as an ``(m, m)`` array (a view)."""
    assert A.flags.c_contiguous and A.size >= m * m
    return A.reshape(-1)[:m * m].reshape(m, m)


def _full_x(u, kept, n_groups, p):
    """The coefficients of the cone variables ``u`` (zero for the removed groups)."""
    if kept is None:
        return u[:, 1:].ravel()
    x = np.zeros((n_groups, p))
    x[kept] = u[:, 1:]
    return x.ravel()


class _NewtonSystem:
    """Factorization of ``H + blockdiag(red) + ridge I``, in double or single precision.

    A single precision factor is the preconditioner of conjugate gradients on
    the double precision matrix (products with ``H`` and the blocks), run until
    the residual is ``rtol`` times the right-hand side (at most eight steps; a
    double precision factorization when the residual is still above ``1e-6``
    times it).  ``H`` may be a matrix-free operator (see
    :func:`interior_point_group_lasso`): the single precision factors are then
    those of its single precision Gram matrix ``H.gram32()`` (rounded),
    refined by conjugate gradients with the operator's double precision
    products; the double precision factorization is that of its exact Gram
    matrix ``H.gram()`` (formed then, and kept).  A solve that fails returns
    NaN (the interior point then stops).
    """

    #: maximum number of conjugate gradient steps per solve with a single precision factor
    _cg_steps = 8

    def __init__(self, H, p, single=False, H32=None, work=None):
        self.op = H if hasattr(H, "gram_matvec") else None
        m = H.shape[0]
        if self.op is not None:
            single = True
            if H32 is None:
                H32 = H.gram32()
            H = None
        self.H = H
        self.own_H = False
        self.p = p
        K = m // p
        # (row, column) of every entry of the diagonal p x p blocks
        gi = np.repeat(np.arange(K), p * p)
        self.ri = gi * p + np.tile(np.repeat(np.arange(p), p), K)
        self.ci = gi * p + np.tile(np.arange(p), p * K)
        self.diag = np.diag_indices(m)
        # work arrays in Fortran order: LAPACK factors them in place (a C-ordered
        # array would be copied first); the matrix is symmetric, so the transposed
        # view of the C-ordered H is copied into them without a transposition
        # (double precision work matrix: allocated when first needed for an operator,
        # which factors in double precision only if single precision fails)
        self.M = np.empty((m, m), order="F") if self.op is None else None
        self.H32 = (H.astype(np.float32) if H32 is None else H32) if single else None
        self.M32 = None
        if single:
            # reuse the (already touched) memory of a larger system's work array
            self.M32 = np.empty((m, m), dtype=np.float32, order="F") if work is None \
                else work.reshape(-1, order="F")[:m * m].reshape((m, m), order="F")
        self.cho = None
        self.red = None
        self.ridge = 0.0

    def hmul(self, v):
        """``H v`` in double precision."""
        return self.H @ v if self.op is None else self.op.gram_matvec(v)

    def gram_diag(self):
        """The diagonal of ``H`` (double precision)."""
        return np.diag(self.H) if self.op is None else self.op.diag()

    def restrict(self, cols):
        """The system of the rows and columns ``cols`` (whole groups), reusing the buffers."""
        m = cols.size
        cols = np.ascontiguousarray(cols, dtype=np.int64)
        if not np.all(np.diff(cols) > 0):
            raise ValueError("cols must be increasing")
        if self.op is not None:
            # in place into the single precision matrix (increasing cols: see
            # gather_submatrix), the work array's memory reused
            H32 = _prefix(self.H32, m)
            gather_submatrix(self.H32, cols, H32, np.empty((0, 0), dtype=np.float32))
            lin = _NewtonSystem(self.op.restrict(cols[::self.p] // self.p), self.p,
                                H32=H32, work=self.M32)
            if self.H is not None:
                # (the exact Gram matrix of a fallback, kept)
                lin.H = self.H[np.ix_(cols, cols)]
            self.H32 = self.M32 = None      # handed on
            return lin
        if self.H32 is None:
            return _NewtonSystem(self.H[np.ix_(cols, cols)], self.p)
        # the new matrices go into memory already in use where possible (fresh pages
        # cost more than the copy): the single precision one into this system's (not
        # read by the copy), the double precision one in place into a matrix this
        # class made itself (the caller's is left alone)
        H = _prefix(self.H, m) if self.own_H else np.empty((m, m))
        H32 = _prefix(self.H32, m)
        gather_submatrix(self.H, cols, H, H32)
        lin = _NewtonSystem(H, self.p, single=True, H32=H32, work=self.M32)
        lin.own_H = True
        self.H = self.H32 = self.M32 = None      # overwritten or handed on
        return lin

    def factor(self, red, ridge0, single=False, rtol=1e-9):
        """Factor the matrix with the blocks ``red``; ``False`` if that fails.

        ``single``: in single precision (refined by conjugate gradients to the
        relative residual ``rtol``), else in double precision; an operator's
        double precision factor is that of its exact Gram matrix (``gram()``,
        computed once).
        """
        self.red, self.single, self.rtol, self.ridge0 = red, False, rtol, ridge0
        if single and self.H32 is not None:
            np.copyto(self.M32, self.H32.T)
            self.M32[self.ci, self.ri] += red.ravel().astype(np.float32)
            try:
                self.cho = la.cho_factor(self.M32, lower=True, overwrite_a=True,
                                         check_finite=False)
                self.single, self.ridge = True, 0.0
                return True
            except (la.LinAlgError, ValueError):
                pass
        ridge = ridge0
        if self.H is None:
            # an operator: its exact Gram matrix (the rounded single precision one
            # cannot give more accurate solves)
            self.H = np.ascontiguousarray(self.op.gram(), dtype=np.float64)
        if self.M is None:
            self.M = np.empty(self.H.shape, order="F")
        for _ in range(4):
            np.copyto(self.M, self.H.T)
            self.M[self.ci, self.ri] += red.ravel()
            self.M[self.diag] += ridge
            try:
                self.cho = la.cho_factor(self.M, lower=True, overwrite_a=True,
                                         check_finite=False)
                self.ridge = ridge
                return True
            except (la.LinAlgError, ValueError):
                ridge *= 1e3
        return False

    def _matvec(self, v):
        K = self.red.shape[0]
        out = self.hmul(v)
        out += np.einsum("kab,kb->ka", self.red, v.reshape(K, self.p)).ravel()
        return out

    def _precond(self, v):
        """The single precision factor's solve (only used while the factor is single)."""
        return la.cho_solve(self.cho, v.astype(np.float32),
                            check_finite=False).astype(np.float64)

    def _cg(self, rhs):
        """Conjugate gradients preconditioned by the factor; ``(x, converged)``."""
        scale = float(np.linalg.norm(rhs))
        x = self._precond(rhs)
        res = rhs - self._matvec(x)
        err = float(np.linalg.norm(res))
        if err <= self.rtol * scale:          # (NaN: not converged)
            return x, True
        zr = self._precond(res)
        d = zr.copy()
        rz = float(res @ zr)
        for _ in range(self._cg_steps):
            Md = self._matvec(d)
            dMd = float(d @ Md)
            if not dMd > 0:
                break
            step = rz / dMd
            x += step * d
            res -= step * Md
            err = float(np.linalg.norm(res))
            if err <= self.rtol * scale:
                return x, True
            zr = self._precond(res)
            rz, rz_old = float(res @ zr), rz
            d = zr + (rz / rz_old) * d
        return x, float(np.linalg.norm(rhs - self._matvec(x))) <= 1e-6 * scale

    def solve(self, rhs):
        """``M^-1 rhs`` (conjugate gradients preconditioned by a single precision factor).

        NaN when conjugate gradients do not converge and the double precision
        factorization fails too.
        """
        if not self.single:
            return la.cho_solve(self.cho, rhs, check_finite=False)
        x, ok = self._cg(rhs)
        if ok:
            return x
        # conjugate gradients do not converge: double precision factorization (of the
        # matrix itself, or of an operator's exact Gram matrix)
        if self.factor(self.red, self.ridge0, rtol=self.rtol):
            return la.cho_solve(self.cho, rhs, check_finite=False)
        return np.full_like(rhs, np.nan)


def _newton_direction(system, rho):
    """``(du, dz)`` with ``W du + W^-1 dz = rho`` and ``P du - dz = -r``.

    ``P`` is ``H`` on the ``x``-part of ``u = (s, x)``; ``system`` holds the
    factored ``H + blockdiag(W^2 reduced to x)`` (a :class:`_NewtonSystem`), ``W``, ``W^2``, the
    ``s``-entries ``a`` and ``b`` of ``W^2`` and the dual residual ``r``.
    """
    lin, W, W2, a, b, r = system
    K, q = rho.shape
    w_rho = np.einsum("kab,kb->ka", W, rho)
    rhs = w_rho - r
    rx = rhs[:, 1:] - b * (rhs[:, 0] / a)[:, None]
    dx = lin.solve(rx.ravel()).reshape(K, q - 1)
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


def _nt_scaling(u, z, du, dz):
    """Nesterov-Todd scaling of interior points ``u``, ``z`` of second-order cones.

    Returns ``beta`` (K,) and ``w`` (K, q) with ``w^T J w = 1`` such that
    ``W = beta * [[w_0, w_1^T], [w_1, I + w_1 w_1^T / (1 + w_0)]]`` satisfies
    ``W u = W^{-1} z`` (``W^{-1} = J W J / beta^2``).  ``du``, ``dz``: the
    values of :func:`_det` of ``u`` and ``z``.
    """
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
