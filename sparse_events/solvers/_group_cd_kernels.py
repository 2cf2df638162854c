"""numba inner loops of block (group) coordinate descent (compiled once, cached on disk).

Two design kinds:

* dense: ``A`` an explicit matrix whose groups are contiguous column blocks of
  equal size ``p``;
* masked blocks: ``A`` block-diagonal over outputs, where group
  ``k = (o * n_signs + s) * n_patterns + g`` has the columns
  ``sign_s * diag(m_g) X`` on the rows of output ``o`` (``m_g`` a 0/1 pattern,
  ``sign_0 = +1``, ``sign_1 = -1``).  This is the data operator of the convex
  (gated) ReLU programs; a group update touches only the rows of its pattern.

A group update is one proximal-gradient step on the group with the group's own
Lipschitz constant ``L_k`` (the largest eigenvalue of ``A_k^T A_k``)::

    x_k <- prox_{(t_k / L_k) ||.||_2 + i_K}(x_k + A_k^T r / L_k),   r <- r - A_k (x_k^new - x_k)

where ``i_K`` is the indicator of the group's cone
``K_g = {u : (2 diag(m_g) - I) X u >= 0}`` when cone constraints are on (the
convex ReLU program) and zero otherwise.  For a closed convex cone ``K`` and
the Euclidean norm, ``prox_{t||.|| + i_K}(z) = (1 - t / ||P_K z||)_+ P_K z``
(Moreau), so the step is a projection onto ``K_g`` followed by the usual
group shrinkage.  The projection solves the non-negative least-squares dual
``min_{mu >= 0} ||z + K^T mu||^2`` by the Lawson-Hanson active-set method;
only the violated rows enter the active set (at most a few, ``p`` being small).
"""

from __future__ import annotations

import numpy as np
from numba import njit


# ------------------------------------------------------------- cone projection
@njit(cache=True, nogil=True)
def _spd_solve(M, b, m):
    """Solve the small PSD system ``M x = b`` by Cholesky with a tiny ridge."""
    tr = 0.0
    for i in range(m):
        tr += M[i, i]
    ridge = 1e-13 * tr / m if m > 0 else 0.0
    Lc = np.zeros((m, m))
    for i in range(m):
        for j in range(i + 1):
            s = M[i, j] + (ridge if i == j else 0.0)
            for q in range(j):
                s -= Lc[i, q] * Lc[j, q]
            if i == j:
                Lc[i, i] = np.sqrt(s) if s > 0.0 else 1e-300
            else:
                Lc[i, j] = s / Lc[j, j]
    x = np.empty(m)
    for i in range(m):
        s = b[i]
        for q in range(i):
            s -= Lc[i, q] * x[q]
        x[i] = s / Lc[i, i]
    for i in range(m - 1, -1, -1):
        s = x[i]
        for q in range(i + 1, m):
            s -= Lc[q, i] * x[q]
        x[i] = s / Lc[i, i]
    return x


@njit(cache=True, nogil=True)
def cone_project(z, X, mask, rows, u):
    """Project ``z`` onto ``{u : s_i X_i u >= 0, i in rows}`` (``s_i = +1`` if mask[i] else -1).

    Writes the projection into ``u``; returns the number of active constraints.
    """
    p = z.size
    max_active = 2 * p + 2
    act = np.empty(max_active, dtype=np.int64)
    mu = np.zeros(max_active)
    zn = 0.0
    for j in range(p):
        u[j] = z[j]
        zn += z[j] * z[j]
    zn = np.sqrt(zn)
    if zn == 0.0:
        return 0
    xmax = 0.0
    for i in rows:
        s = 0.0
        for j in range(p):
            s += X[i, j] * X[i, j]
        if s > xmax:
            xmax = s
    eps = 1e-13 * zn * np.sqrt(xmax)
    na = 0
    for _outer in range(10 * p + 20):
        imin = -1
        cmin = -eps
        for i in rows:
            v = 0.0
            for j in range(p):
                v += X[i, j] * u[j]
            if not mask[i]:
                v = -v
            if v < cmin:
                known = False
                for q in range(na):
                    if act[q] == i:
                        known = True
                        break
                if not known:
                    cmin = v
                    imin = i
        if imin < 0 or na == max_active:
            break
        act[na] = imin
        mu[na] = 0.0
        na += 1
        for _inner in range(4 * p + 8):
            # unconstrained least squares on the active rows: (K_A K_A^T) nu = -K_A z
            M = np.empty((na, na))
            b = np.empty(na)
            for a in range(na):
                ia = act[a]
                sa = 1.0 if mask[ia] else -1.0
                v = 0.0
                for j in range(p):
                    v += X[ia, j] * z[j]
                b[a] = -sa * v
                for c in range(a, na):
                    ic = act[c]
                    sc = 1.0 if mask[ic] else -1.0
                    w = 0.0
                    for j in range(p):
                        w += X[ia, j] * X[ic, j]
                    M[a, c] = sa * sc * w
                    M[c, a] = M[a, c]
            nu = _spd_solve(M, b, na)
            ok = True
            for a in range(na):
                if nu[a] <= 0.0:
                    ok = False
                    break
            if ok:
                for a in range(na):
                    mu[a] = nu[a]
                break
            step = 1.0
            amin = -1
            for a in range(na):
                if nu[a] <= 0.0:
                    den = mu[a] - nu[a]
                    st = mu[a] / den if den > 0.0 else 0.0
                    if st < step or amin < 0:
                        step = st
                        amin = a
            keep = 0
            for a in range(na):
                m_new = mu[a] + step * (nu[a] - mu[a])
                if a != amin and m_new > 0.0:
                    act[keep] = act[a]
                    mu[keep] = m_new
                    keep += 1
            na = keep
            if na == 0:
                break
        for j in range(p):
            u[j] = z[j]
        for a in range(na):
            ia = act[a]
            sa = mu[a] if mask[ia] else -mu[a]
            for j in range(p):
                u[j] += sa * X[ia, j]
    return na


@njit(cache=True, nogil=True)
def _feasible(u, X, mask):
    """Whether ``s_i X_i u >= 0`` for every row (up to rounding)."""
    n, p = X.shape
    un = 0.0
    for j in range(p):
        un += u[j] * u[j]
    if un == 0.0:
        return True
    eps = 1e-13 * np.sqrt(un)
    for i in range(n):
        v = 0.0
        xi = 0.0
        for j in range(p):
            v += X[i, j] * u[j]
            xi += X[i, j] * X[i, j]
        if not mask[i]:
            v = -v
        if v < -eps * np.sqrt(xi):
            return False
    return True


@njit(cache=True, nogil=True)
def _prox_step(xk, corr, L, t, out, cone, X, mask, rows, buf):
    """``out = prox_{t/L ||.|| (+ i_K)}(xk + corr / L)``; returns ``||out - xk||_inf``."""
    p = xk.size
    for j in range(p):
        buf[j] = xk[j] + corr[j] / L
    if cone:
        cone_project(buf, X, mask, rows, out)
    else:
        for j in range(p):
            out[j] = buf[j]
    nz2 = 0.0
    for j in range(p):
        nz2 += out[j] * out[j]
    nz = np.sqrt(nz2)
    tl = t / L
    scale = 1.0 - tl / nz if nz > tl else 0.0
    dmax = 0.0
    for j in range(p):
        out[j] *= scale
        d = abs(out[j] - xk[j])
        if d > dmax:
            dmax = d
    return dmax


@njit(cache=True, nogil=True)
def _block_solve(xk, corr, lam, Q, t, out, beta):
    """Exact minimiser of ``0.5 u^T G u - b^T u + t ||u||`` with ``G = Q diag(lam) Q^T``.

    ``b = corr + G xk``.  ``u = 0`` if ``||b|| <= t``; otherwise
    ``u = (G + mu I)^{-1} b`` with ``mu ||u|| = t`` (monotone in ``mu``; safeguarded
    Newton).  Returns ``||out - xk||_inf``.
    """
    p = xk.size
    for i in range(p):                     # beta = Q^T b = Q^T corr + lam * Q^T xk
        s = 0.0
        for j in range(p):
            s += Q[j, i] * (corr[j]) + 0.0
        q = 0.0
        for j in range(p):
            q += Q[j, i] * xk[j]
        beta[i] = s + lam[i] * q
    bn = 0.0
    for i in range(p):
        bn += beta[i] * beta[i]
    bn = np.sqrt(bn)
    if bn <= t:
        for j in range(p):
            out[j] = 0.0
    elif t == 0.0:
        for j in range(p):
            s = 0.0
            for i in range(p):
                if lam[i] > 0.0:
                    s += Q[j, i] * beta[i] / lam[i]
            out[j] = s
    else:
        lmin = lam[0]
        lmax = lam[0]
        for i in range(p):
            if lam[i] < lmin:
                lmin = lam[i]
            if lam[i] > lmax:
                lmax = lam[i]
        lo = t * lmin / (bn - t)
        hi = t * lmax / (bn - t)
        mu = 0.5 * (lo + hi)
        for _ in range(100):
            # f(mu) = mu ||u(mu)|| - t,  u_i = beta_i / (lam_i + mu)
            nu2 = 0.0
            dn = 0.0
            for i in range(p):
                den = lam[i] + mu
                ui = beta[i] / den
                nu2 += ui * ui
                dn += -ui * ui / den           # d(nu2)/dmu / 2
            nu = np.sqrt(nu2)
            f = mu * nu - t
            if f > 0.0:
                hi = mu
            else:
                lo = mu
            if abs(f) <= 1e-14 * t or hi - lo <= 1e-15 * hi:
                break
            df = nu + mu * dn / nu
            step = mu - f / df if df > 0.0 else 0.5 * (lo + hi)
            mu = step if lo < step < hi else 0.5 * (lo + hi)
        for j in range(p):
            s = 0.0
            for i in range(p):
                s += Q[j, i] * beta[i] / (lam[i] + mu)
            out[j] = s
    dmax = 0.0
    for j in range(p):
        d = abs(out[j] - xk[j])
        if d > dmax:
            dmax = d
    return dmax


@njit(cache=True, nogil=True)
def _group_distance(xk, corr, t):
    """Distance of ``corr`` to ``t * subdifferential(||.||_2)(xk)``."""
    p = xk.size
    nx2 = 0.0
    nc2 = 0.0
    for j in range(p):
        nx2 += xk[j] * xk[j]
        nc2 += corr[j] * corr[j]
    if nx2 > 0.0:
        nx = np.sqrt(nx2)
        d2 = 0.0
        for j in range(p):
            d = corr[j] - t * xk[j] / nx
            d2 += d * d
        return np.sqrt(d2)
    nc = np.sqrt(nc2)
    return nc - t if nc > t else 0.0


# ---------------------------------------------------------------------- dense
@njit(cache=True, nogil=True)
def dense_group_epochs(x, r, ws, A, p, lips, thresh, n_epochs):
    n = A.shape[0]
    corr = np.empty(p)
    new = np.empty(p)
    buf = np.empty(p)
    dummy_X = np.zeros((1, p))
    dummy_m = np.zeros(1, dtype=np.bool_)
    dummy_rows = np.zeros(0, dtype=np.int64)
    for _ in range(n_epochs):
        for k in ws:
            L = lips[k]
            if L == 0.0:
                continue
            c0 = k * p
            for j in range(p):
                s = 0.0
                for i in range(n):
                    s += A[i, c0 + j] * r[i]
                corr[j] = s
            xk = x[c0:c0 + p]
            if _prox_step(xk, corr, L, thresh[k], new, False, dummy_X, dummy_m,
                          dummy_rows, buf) == 0.0:
                continue
            for j in range(p):
                d = new[j] - xk[j]
                if d != 0.0:
                    for i in range(n):
                        r[i] -= A[i, c0 + j] * d
                xk[j] = new[j]


@njit(cache=True, nogil=True)
def dense_group_violation(x, r, ws, A, p, thresh):
    n = A.shape[0]
    corr = np.empty(p)
    worst = 0.0
    for k in ws:
        c0 = k * p
        for j in range(p):
            s = 0.0
            for i in range(n):
                s += A[i, c0 + j] * r[i]
            corr[j] = s
        d = _group_distance(x[c0:c0 + p], corr, thresh[k])
        if d > worst:
            worst = d
    return worst


# -------------------------------------------------------------- masked blocks
@njit(cache=True, nogil=True)
def _masked_corr(k, r, X, ptr, rows, n, P, S, corr):
    """Correlation ``A_k^T r`` of group ``k`` into ``corr``."""
    p = X.shape[1]
    o = k // (S * P)
    s = (k // P) % S
    g = k % P
    sign = 1.0 if s == 0 else -1.0
    off = o * n
    for j in range(p):
        corr[j] = 0.0
    for t in range(ptr[g], ptr[g + 1]):
        i = rows[t]
        ri = r[off + i]
        for j in range(p):
            corr[j] += X[i, j] * ri
    for j in range(p):
        corr[j] *= sign


@njit(cache=True, nogil=True)
def masked_group_epochs(x, r, ws, X, ptr, rows, mask_t, all_rows, n, P, S, lips, thresh,
                        cone, eig_val, eig_vec, n_epochs):
    p = X.shape[1]
    corr = np.empty(p)
    new = np.empty(p)
    buf = np.empty(p)
    for _ in range(n_epochs):
        for k in ws:
            L = lips[k]
            if L == 0.0:
                continue
            g = k % P
            _masked_corr(k, r, X, ptr, rows, n, P, S, corr)
            c0 = k * p
            xk = x[c0:c0 + p]
            if cone:
                # exact block minimiser if it is feasible, else a projected step
                _block_solve(xk, corr, eig_val[g], eig_vec[g], thresh[k], new, buf)
                if _feasible(new, X, mask_t[g]):
                    moved = 0.0
                    for j in range(p):
                        d = abs(new[j] - xk[j])
                        if d > moved:
                            moved = d
                else:
                    moved = _prox_step(xk, corr, L, thresh[k], new, cone, X, mask_t[g],
                                       all_rows, buf)
            else:
                moved = _block_solve(xk, corr, eig_val[g], eig_vec[g], thresh[k], new, buf)
            if moved == 0.0:
                continue
            o = k // (S * P)
            sign = 1.0 if (k // P) % S == 0 else -1.0
            off = o * n
            for j in range(p):
                corr[j] = sign * (new[j] - xk[j])   # reuse as the signed step
                xk[j] = new[j]
            for t in range(ptr[g], ptr[g + 1]):
                i = rows[t]
                dv = 0.0
                for j in range(p):
                    dv += X[i, j] * corr[j]
                r[off + i] -= dv


@njit(cache=True, nogil=True)
def masked_group_violation(x, r, ws, X, ptr, rows, mask_t, all_rows, n, P, S, lips, thresh,
                           cone):
    """Largest gradient-mapping norm ``L_k ||x_k - prox(x_k + A_k^T r / L_k)||`` over ``ws``."""
    p = X.shape[1]
    corr = np.empty(p)
    new = np.empty(p)
    buf = np.empty(p)
    worst = 0.0
    for k in ws:
        L = lips[k]
        if L == 0.0:
            continue
        _masked_corr(k, r, X, ptr, rows, n, P, S, corr)
        xk = x[k * p:(k + 1) * p]
        _prox_step(xk, corr, L, thresh[k], new, cone, X, mask_t[k % P], all_rows, buf)
        d2 = 0.0
        for j in range(p):
            d2 += (new[j] - xk[j]) ** 2
        d = L * np.sqrt(d2)
        if d > worst:
            worst = d
    return worst


# ------------------------------------------------------- cone-group penalty
@njit(cache=True, nogil=True)
def cone_group_prox(x, tl, X, mask_t, all_rows, P, out):
    """``out_k = prox_{tl_k ||.|| + i_K}(x_k)`` for every group ``k``."""
    p = X.shape[1]
    G = x.size // p
    u = np.empty(p)
    for k in range(G):
        c0 = k * p
        cone_project(x[c0:c0 + p], X, mask_t[k % P], all_rows, u)
        nz2 = 0.0
        for j in range(p):
            nz2 += u[j] * u[j]
        nz = np.sqrt(nz2)
        scale = 1.0 - tl[k] / nz if nz > tl[k] else 0.0
        for j in range(p):
            out[c0 + j] = scale * u[j]


@njit(cache=True, nogil=True)
def cone_projected_norms(c, groups, X, mask_t, all_rows, P, out):
    """``out[q] = ||P_K(c_k)||`` for ``k = groups[q]``."""
    p = X.shape[1]
    u = np.empty(p)
    for q in range(groups.size):
        k = groups[q]
        cone_project(c[k * p:(k + 1) * p], X, mask_t[k % P], all_rows, u)
        s = 0.0
        for j in range(p):
            s += u[j] * u[j]
        out[q] = np.sqrt(s)


@njit(cache=True, nogil=True)
def tangent_distances(x, c, thresh, groups, X, mask_t, P, rel_tol, out):
    """Distance of ``c_k`` to ``t_k x_k/||x_k|| + N_K(x_k)`` for active groups ``k``.

    The normal cone at ``x_k`` is spanned by the rows where the constraint is
    active (``|s_i X_i x_k| <= rel_tol ||X_i|| ||x_k||``); the distance is the
    norm of the projection of ``c_k - t_k x_k / ||x_k||`` onto the tangent cone
    ``{h : s_i X_i h >= 0, i active}``.
    """
    n, p = X.shape
    v = np.empty(p)
    u = np.empty(p)
    act = np.empty(n, dtype=np.int64)
    for q in range(groups.size):
        k = groups[q]
        g = k % P
        c0 = k * p
        nx2 = 0.0
        for j in range(p):
            nx2 += x[c0 + j] ** 2
        nx = np.sqrt(nx2)
        for j in range(p):
            v[j] = c[c0 + j] - thresh[k] * x[c0 + j] / nx
        na = 0
        for i in range(n):
            w = 0.0
            xi2 = 0.0
            for j in range(p):
                w += X[i, j] * x[c0 + j]
                xi2 += X[i, j] * X[i, j]
            if abs(w) <= rel_tol * np.sqrt(xi2) * nx:
                act[na] = i
                na += 1
        cone_project(v, X, mask_t[g], act[:na], u)
        s = 0.0
        for j in range(p):
            s += u[j] * u[j]
        out[q] = np.sqrt(s)


@njit(cache=True, nogil=True)
def masked_apply_delta(r, ws, delta, X, ptr, rows, n, P, S):
    """``r -= sum_{q} A_{ws[q]} delta[q]`` (``delta`` of shape (len(ws), p))."""
    p = X.shape[1]
    for q in range(ws.size):
        k = ws[q]
        g = k % P
        o = k // (S * P)
        sign = 1.0 if (k // P) % S == 0 else -1.0
        off = o * n
        for t in range(ptr[g], ptr[g + 1]):
            i = rows[t]
            dv = 0.0
            for j in range(p):
                dv += X[i, j] * delta[q, j]
            r[off + i] -= sign * dv


@njit(cache=True, nogil=True)
def masked_project_groups(xw, ws, X, mask_t, all_rows, P):
    """Project every row ``xw[q]`` onto the cone of group ``ws[q]`` (in place)."""
    p = X.shape[1]
    u = np.empty(p)
    for q in range(ws.size):
        cone_project(xw[q].copy(), X, mask_t[ws[q] % P], all_rows, u)
        for j in range(p):
            xw[q, j] = u[j]


# ------------------------------------------- products of a working set's masks
@njit(cache=True, fastmath={"reassoc", "contract"}, nogil=True)
def mask_matvec(masks, Wt, X, out):
    """``out[i] = sum_c X[i, c] sum_j masks[i, j] Wt[c, j]`` (``A_W v`` of one output).

    ``masks`` (n, m) 0/1 as uint8, ``Wt`` (p, m) the signed group weights
    transposed, ``X`` (n, p).  Reads the masks once (a quarter of the bytes of
    their float64 copy); ``fastmath`` only reassociates the sums (vectorised), no
    assumption on NaN or infinity.
    """
    n, m = masks.shape
    p = Wt.shape[0]
    for i in range(n):
        acc = 0.0
        for c in range(p):
            d = 0.0
            for j in range(m):
                d += masks[i, j] * Wt[c, j]
            acc += X[i, c] * d
        out[i] = acc
    return out


@njit(cache=True, fastmath={"reassoc", "contract"}, nogil=True)
def mask_rmatvec(masks, r, X, Gt):
    """``Gt[c, j] = sum_i masks[i, j] r[i] X[i, c]`` (``A_W^T r`` unsigned, transposed)."""
    n, m = masks.shape
    p = X.shape[1]
    Gt[:] = 0.0
    for i in range(n):
        for c in range(p):
            a = r[i] * X[i, c]
            if a != 0.0:
                for j in range(m):
                    Gt[c, j] += a * masks[i, j]
    return Gt
