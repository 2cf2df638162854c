"""numba kernels of group coordinate descent in Gram space (masked-block designs).

The working-set subproblem of :func:`group_coordinate_descent` is

.. math::

    \\min_{x_W}\\; \\tfrac12 x_W^T H x_W - b^T x_W + \\sum_{k \\in W} t_k \\lVert x_k\\rVert_2
    \\quad (+ \\text{cone constraints } C_k x_k \\ge 0)

with ``H = A_W^T A_W`` (``W`` the working set).  The kernels keep the gradient
``q = H x_W - b`` up to date instead of the residual, so a group update costs
``O(|W| p^2)`` operations, independent of the number of samples.

Block updates are exact:

* without cones, ``argmin_u 0.5 u^T G u - beta^T u + t ||u||`` (``G`` the
  group's Gram block) from the eigen-decomposition of ``G`` and a scalar
  secular equation ``mu ||(G + mu I)^{-1} beta|| = t``;
* with cones, the same problem restricted to ``C u >= 0`` (``C`` a set of
  candidate rows ``s_i X_i`` of the pattern's constraints, see
  :func:`cone_block_solve`), by a primal active-set method over the faces of
  the cone.  The candidate rows are cutting planes: :func:`cut_groups` checks
  every constraint of the pattern and adds the violated ones, so the final
  point satisfies all ``n`` constraints.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._group_cd_kernels import cone_project


# ------------------------------------------------------------------ helpers
@njit(cache=True, nogil=True)
def _secular_solve(bq, lam, t, coef):
    """``coef_i = bq_i / (lam_i + mu)`` with ``mu ||coef|| = t``; zero if ``||bq|| <= t``.

    Returns ``True`` when the solution is non-zero.
    """
    q = bq.size
    bn = 0.0
    for i in range(q):
        bn += bq[i] * bq[i]
    bn = np.sqrt(bn)
    if bn <= t or bn == 0.0:
        for i in range(q):
            coef[i] = 0.0
        return False
    if t == 0.0:
        for i in range(q):
            coef[i] = bq[i] / lam[i] if lam[i] > 0.0 else 0.0
        return True
    lmin = lam[0]
    lmax = lam[0]
    for i in range(q):
        if lam[i] < lmin:
            lmin = lam[i]
        if lam[i] > lmax:
            lmax = lam[i]
    lo = t * lmin / (bn - t)
    hi = t * lmax / (bn - t)
    mu = 0.5 * (lo + hi)
    for _ in range(100):
        nu2 = 0.0
        dn = 0.0
        for i in range(q):
            den = lam[i] + mu
            ui = bq[i] / den
            nu2 += ui * ui
            dn -= ui * ui / den
        nu = np.sqrt(nu2)
        f = mu * nu - t
        if f > 0.0:
            hi = mu
        else:
            lo = mu
        if abs(f) <= 1e-15 * t or hi - lo <= 1e-16 * hi:
            break
        df = nu + mu * dn / nu
        step = mu - f / df if df > 0.0 else 0.5 * (lo + hi)
        mu = step if lo < step < hi else 0.5 * (lo + hi)
    for i in range(q):
        coef[i] = bq[i] / (lam[i] + mu)
    return True


@njit(cache=True, nogil=True)
def _eig_block_solve(beta, lam, Q, t, out):
    """``out = argmin_u 0.5 u^T (Q diag(lam) Q^T) u - beta^T u + t ||u||``."""
    p = beta.size
    q = lam.size
    bq = np.empty(q)
    for i in range(q):
        s = 0.0
        for j in range(p):
            s += Q[j, i] * beta[j]
        bq[i] = s
    coef = np.empty(q)
    nonzero = _secular_solve(bq, lam, t, coef)
    for j in range(p):
        s = 0.0
        for i in range(q):
            s += Q[j, i] * coef[i]
        out[j] = s
    return nonzero


@njit(cache=True, nogil=True)
def _norm(v):
    s = 0.0
    for j in range(v.size):
        s += v[j] * v[j]
    return np.sqrt(s)


@njit(cache=True, nogil=True)
def _face_basis(C, W, nw, p):
    """Orthonormal basis (p, q) of ``{u : C[W[a]] u = 0, a < nw}``."""
    if nw == 0:
        return np.eye(p)
    M = np.empty((nw, p))
    for a in range(nw):
        for j in range(p):
            M[a, j] = C[W[a], j]
    _, sv, Vt = np.linalg.svd(M)
    rank = 0
    for i in range(sv.size):
        if sv[i] > 1e-10 * sv[0]:
            rank += 1
    q = p - rank
    N = np.empty((p, q))
    for c in range(q):
        for j in range(p):
            N[j, c] = Vt[rank + c, j]
    return N


@njit(cache=True, nogil=True)
def _face_minimiser(beta, H, lam, Q, t, C, W, nw, out):
    """Minimiser of ``0.5 u^T H u - beta^T u + t ||u||`` on the face ``C_W u = 0``."""
    p = beta.size
    if nw == 0:
        return _eig_block_solve(beta, lam, Q, t, out)
    N = _face_basis(C, W, nw, p)
    q = N.shape[1]
    if q == 0:
        for j in range(p):
            out[j] = 0.0
        return False
    Hr = N.T @ H @ N
    Hr = 0.5 * (Hr + Hr.T)
    lr, Qr = np.linalg.eigh(Hr)
    for i in range(q):
        if lr[i] < 0.0:
            lr[i] = 0.0
    br = N.T @ beta
    z = np.empty(q)
    nonzero = _eig_block_solve(br, lr, Qr, t, z)
    for j in range(p):
        s = 0.0
        for c in range(q):
            s += N[j, c] * z[c]
        out[j] = s
    return nonzero


@njit(cache=True, nogil=True)
def _signed_rows(X, mask, rows):
    m = rows.size
    p = X.shape[1]
    C = np.empty((m, p))
    cn = np.empty(m)
    for a in range(m):
        i = rows[a]
        s = 1.0 if mask[i] else -1.0
        nn = 0.0
        for j in range(p):
            C[a, j] = s * X[i, j]
            nn += X[i, j] * X[i, j]
        cn[a] = np.sqrt(nn)
    return C, cn


@njit(cache=True, nogil=True)
def cone_block_solve(xk, beta, H, lam, Q, t, X, mask, rows, out):
    """Exact ``argmin 0.5 u^T H u - beta^T u + t ||u||`` s.t. ``s_i X_i u >= 0`` for ``i in rows``.

    Primal active-set method over the faces of the cone: minimise on the
    current face (rows held at equality), move towards that minimiser until a
    new constraint blocks (it joins the face), and at a face minimiser drop
    the constraint with the most negative multiplier.  The objective decreases
    at every step (it is convex along each segment and lower at its end).
    ``u = 0`` is optimal iff ``||P_K(beta)|| <= t``; from zero the method
    restarts on the ray of ``P_K(beta)``.  ``H = Q diag(lam) Q^T``.
    Returns the number of active-set iterations.
    """
    p = xk.size
    m = rows.size
    C, cn = _signed_rows(X, mask, rows)
    u = np.empty(p)
    for j in range(p):
        u[j] = xk[j]
    un = _norm(u)
    if un > 0.0:
        worst = 0.0
        for a in range(m):
            v = 0.0
            for j in range(p):
                v += C[a, j] * u[j]
            if v < worst * cn[a]:
                worst = v / cn[a]
        if worst < -1e-13 * un:
            tmp = u.copy()
            cone_project(tmp, X, mask, rows, u)
            un = _norm(u)
    W = np.empty(p + 1, dtype=np.int64)
    nw = 0
    if un > 0.0:
        for a in range(m):
            v = 0.0
            for j in range(p):
                v += C[a, j] * u[j]
            if abs(v) <= 1e-12 * cn[a] * un and nw < p - 1:
                W[nw] = a
                nw += 1
    new = np.empty(p)
    d = np.empty(p)
    g = np.empty(p)
    n_it = 0
    restarted = 0
    for n_it in range(1, 8 * p + 40):
        if un == 0.0:
            # u = 0 optimal iff ||P_K(beta)|| <= t; else restart on the ray of P_K(beta)
            pk = np.empty(p)
            cone_project(beta, X, mask, rows, pk)
            npk = _norm(pk)
            if npk <= t or restarted >= 3:
                for j in range(p):
                    out[j] = 0.0
                return n_it
            restarted += 1
            dHd = 0.0
            for j in range(p):
                s = 0.0
                for c in range(p):
                    s += H[j, c] * pk[c]
                dHd += pk[j] * s / (npk * npk)
            if dHd <= 0.0:
                for j in range(p):
                    out[j] = 0.0
                return n_it
            scale = (npk - t) / dHd / npk
            for j in range(p):
                u[j] = scale * pk[j]
            un = _norm(u)
            nw = 0
            for a in range(m):
                v = 0.0
                for j in range(p):
                    v += C[a, j] * u[j]
                if abs(v) <= 1e-10 * cn[a] * un and nw < p - 1:
                    W[nw] = a
                    nw += 1
            continue
        _face_minimiser(beta, H, lam, Q, t, C, W, nw, new)
        dn = 0.0
        for j in range(p):
            d[j] = new[j] - u[j]
            dn += d[j] * d[j]
        dn = np.sqrt(dn)
        step = 1.0
        block = -1
        if dn > 0.0:
            for a in range(m):
                inw = False
                for b in range(nw):
                    if W[b] == a:
                        inw = True
                        break
                if inw:
                    continue
                cd = 0.0
                cu = 0.0
                for j in range(p):
                    cd += C[a, j] * d[j]
                    cu += C[a, j] * u[j]
                if cd < -1e-14 * cn[a] * dn:
                    st = max(cu, 0.0) / -cd
                    if st < step:
                        step = st
                        block = a
        for j in range(p):
            u[j] += step * d[j]
        un = _norm(u)
        if block >= 0:
            if un <= 1e-14 * (dn + 1e-300):
                un = 0.0
                for j in range(p):
                    u[j] = 0.0
                continue
            if nw < p - 1:
                W[nw] = block
                nw += 1
            else:
                # the face is a ray and a constraint blocks: only zero remains
                un = 0.0
                for j in range(p):
                    u[j] = 0.0
            continue
        if un == 0.0 or un <= 1e-14 * dn:
            un = 0.0
            for j in range(p):
                u[j] = 0.0
            continue
        if nw == 0:
            break
        # multipliers: C_W^T mu = g = H u - beta + t u / ||u||
        for j in range(p):
            s = 0.0
            for c in range(p):
                s += H[j, c] * u[c]
            g[j] = s - beta[j] + t * u[j] / un
        M = np.empty((nw, nw))
        rhs = np.empty(nw)
        for a in range(nw):
            s = 0.0
            for j in range(p):
                s += C[W[a], j] * g[j]
            rhs[a] = s
            for b in range(nw):
                s = 0.0
                for j in range(p):
                    s += C[W[a], j] * C[W[b], j]
                M[a, b] = s
        try:
            mu = np.linalg.solve(M, rhs)
        except Exception:  # noqa: BLE001 - numba: LinAlgError of a singular M
            # linearly dependent active constraints (e.g. duplicate rows of integer-valued
            # data): the least-norm multipliers, any of which satisfies the conditions
            mu = np.linalg.lstsq(M, rhs)[0]
        worst = 0.0
        arg = -1
        gscale = _norm(beta) + t + 1e-300
        for a in range(nw):
            v = mu[a] * cn[W[a]] / gscale
            if v < worst:
                worst = v
                arg = a
        if arg < 0 or worst > -1e-11:
            break
        for b in range(arg, nw - 1):
            W[b] = W[b + 1]
        nw -= 1
    for j in range(p):
        out[j] = u[j]
    return n_it


# ------------------------------------------------------------ epochs
@njit(cache=True, nogil=True)
def _block_beta(a, xw, qw, Gd, p, beta):
    for j in range(p):
        s = 0.0
        for c in range(p):
            s += Gd[j, c] * xw[a * p + c]
        beta[j] = s - qw[a * p + j]


@njit(cache=True, nogil=True)
def _apply_step(a, delta, qw, Hw, p):
    m = qw.size
    for c in range(p):
        dc = delta[c]
        if dc == 0.0:
            continue
        row = Hw[a * p + c]
        for j in range(m):
            qw[j] += row[j] * dc


@njit(cache=True, nogil=True)
def gram_epochs(xw, qw, Hw, wpat, thresh, cone, eig_val, eig_vec, gdiag, X, mask_t, cand,
                ncand, n_epochs):
    """``n_epochs`` cyclic passes of exact block updates over the working set (in place).

    ``xw`` (w * p,) and ``qw = H xw - b`` (w * p,) are updated; ``Hw`` is the
    working set's Gram matrix, ``wpat[a]`` the pattern of block ``a``.
    Returns the largest coordinate change of the last pass.
    """
    p = X.shape[1]
    w = wpat.size
    beta = np.empty(p)
    new = np.empty(p)
    delta = np.empty(p)
    dmax = 0.0
    for _ in range(n_epochs):
        dmax = 0.0
        for a in range(w):
            g = wpat[a]
            if eig_val[g, p - 1] == 0.0:
                continue
            _block_beta(a, xw, qw, gdiag[g], p, beta)
            if cone:
                cone_block_solve(xw[a * p:(a + 1) * p], beta, gdiag[g], eig_val[g], eig_vec[g],
                                 thresh[a], X, mask_t[g], cand[g, :ncand[g]], new)
            else:
                _eig_block_solve(beta, eig_val[g], eig_vec[g], thresh[a], new)
            moved = False
            for j in range(p):
                delta[j] = new[j] - xw[a * p + j]
                if delta[j] != 0.0:
                    moved = True
                    if abs(delta[j]) > dmax:
                        dmax = abs(delta[j])
            if moved:
                _apply_step(a, delta, qw, Hw, p)
                for j in range(p):
                    xw[a * p + j] = new[j]
    return dmax


@njit(cache=True, nogil=True)
def gram_violation(xw, qw, wpat, thresh, cone, eig_val, eig_vec, gdiag, X, mask_t, cand, ncand,
                   out):
    """Per-block optimality measure ``L_g ||x_a - blocksolve(x_a)||`` (zero iff block-optimal)."""
    p = X.shape[1]
    w = wpat.size
    beta = np.empty(p)
    new = np.empty(p)
    worst = 0.0
    for a in range(w):
        g = wpat[a]
        L = eig_val[g, p - 1]
        if L == 0.0:
            out[a] = 0.0
            continue
        _block_beta(a, xw, qw, gdiag[g], p, beta)
        if cone:
            cone_block_solve(xw[a * p:(a + 1) * p], beta, gdiag[g], eig_val[g], eig_vec[g],
                             thresh[a], X, mask_t[g], cand[g, :ncand[g]], new)
        else:
            _eig_block_solve(beta, eig_val[g], eig_vec[g], thresh[a], new)
        d2 = 0.0
        for j in range(p):
            d2 += (new[j] - xw[a * p + j]) ** 2
        out[a] = L * np.sqrt(d2)
        if out[a] > worst:
            worst = out[a]
    return worst


@njit(cache=True, nogil=True)
def cut_groups(xw, wpat, X, mask_t, cand, ncand, rel_tol, max_add):
    """Add violated constraints of the blocks' patterns to their candidate rows.

    For every non-zero block ``x_a`` (pattern ``g``), the rows ``i`` with
    ``s_i X_i x_a < -rel_tol ||X_i|| ||x_a||`` are violated; the ``max_add``
    most violated rows not yet candidates are appended to ``cand[g]``.
    Candidates are never removed: ``cand`` must have room for ``max_add`` rows
    per block (see :func:`._group_gram.reserve_candidates`; a row that finds
    no room is left out).  Replacing a candidate instead made coordinate
    descent cycle when the blocks of a pattern needed more rows than it holds
    (each block evicting a row active at another, and the projection after
    each cut raising the objective).  Returns the number of rows added.
    """
    n, p = X.shape
    w = wpat.size
    cap = cand.shape[1]
    added = 0
    best_i = np.empty(max_add, dtype=np.int64)
    best_v = np.empty(max_add)
    xn2 = np.empty(n)
    for i in range(n):
        s = 0.0
        for j in range(p):
            s += X[i, j] * X[i, j]
        xn2[i] = np.sqrt(s)
    for a in range(w):
        g = wpat[a]
        un = _norm(xw[a * p:(a + 1) * p])
        if un == 0.0:
            continue
        nb = 0
        for i in range(n):
            v = 0.0
            for j in range(p):
                v += X[i, j] * xw[a * p + j]
            if not mask_t[g, i]:
                v = -v
            v /= xn2[i] * un + 1e-300
            if v < -rel_tol:
                known = False
                for c in range(ncand[g]):
                    if cand[g, c] == i:
                        known = True
                        break
                if known:
                    continue
                if nb < max_add:
                    best_i[nb] = i
                    best_v[nb] = v
                    nb += 1
                else:
                    hi = 0
                    for b in range(1, nb):
                        if best_v[b] > best_v[hi]:
                            hi = b
                    if v < best_v[hi]:
                        best_i[hi] = i
                        best_v[hi] = v
        for b in range(nb):
            if ncand[g] < cap:
                cand[g, ncand[g]] = best_i[b]
                ncand[g] += 1
                added += 1
    return added


@njit(cache=True, nogil=True)
def project_blocks(xw, qw, Hw, wpat, X, mask_t, cand, ncand):
    """Project every block onto its candidate cone (keeping ``qw`` consistent)."""
    p = X.shape[1]
    w = wpat.size
    u = np.empty(p)
    delta = np.empty(p)
    for a in range(w):
        g = wpat[a]
        xa = xw[a * p:(a + 1) * p].copy()
        if _norm(xa) == 0.0:
            continue
        cone_project(xa, X, mask_t[g], cand[g, :ncand[g]], u)
        moved = False
        for j in range(p):
            delta[j] = u[j] - xa[j]
            if delta[j] != 0.0:
                moved = True
        if moved:
            _apply_step(a, delta, qw, Hw, p)
            for j in range(p):
                xw[a * p + j] = u[j]


@njit(cache=True, nogil=True)
def face_bases(xw, blocks, wpat, X, mask_t, cand, ncand, rel_tol, Npad, dims):
    """Orthonormal bases of the faces (active candidate constraints) of the blocks.

    For block ``a = blocks[j]`` the rows of ``cand[g]`` with
    ``|s_i X_i x_a| <= rel_tol ||X_i|| ||x_a||`` are active; ``Npad[j, :, :dims[j]]``
    receives an orthonormal basis of their null space (``dims[j] = p`` and the
    identity when none is active).
    """
    p = X.shape[1]
    act = np.empty(cand.shape[1], dtype=np.int64)
    for j in range(blocks.size):
        a = blocks[j]
        g = wpat[a]
        un = _norm(xw[a * p:(a + 1) * p])
        na = 0
        for c in range(ncand[g]):
            i = cand[g, c]
            v = 0.0
            xi = 0.0
            for k in range(p):
                v += X[i, k] * xw[a * p + k]
                xi += X[i, k] * X[i, k]
            if abs(v) <= rel_tol * np.sqrt(xi) * un:
                act[na] = i
                na += 1
        for r in range(p):
            for c in range(p):
                Npad[j, r, c] = 0.0
        if na == 0:
            for r in range(p):
                Npad[j, r, r] = 1.0
            dims[j] = p
            continue
        M = np.empty((na, p))
        for b in range(na):
            s = 1.0 if mask_t[g, act[b]] else -1.0
            for k in range(p):
                M[b, k] = s * X[act[b], k]
        _, sv, Vt = np.linalg.svd(M)
        rank = 0
        for k in range(sv.size):
            if sv[k] > 1e-10 * sv[0]:
                rank += 1
        q = p - rank
        dims[j] = q
        for c in range(q):
            for r in range(p):
                Npad[j, r, c] = Vt[rank + c, r]


@njit(cache=True, nogil=True)
def max_feasible_step(xw, delta, blocks, wpat, X, mask_t, cand, ncand, rel_tol):
    """Largest ``s <= 1`` keeping the blocks in their candidate cones along ``delta``.

    Rows active at ``x_a`` (the face, same test as :func:`face_bases`) never block.
    """
    p = X.shape[1]
    step = 1.0
    for j in range(blocks.size):
        a = blocks[j]
        g = wpat[a]
        un = _norm(xw[a * p:(a + 1) * p])
        dn = _norm(delta[a * p:(a + 1) * p])
        if dn == 0.0:
            continue
        for c in range(ncand[g]):
            i = cand[g, c]
            cu = 0.0
            cd = 0.0
            xi = 0.0
            for k in range(p):
                cu += X[i, k] * xw[a * p + k]
                cd += X[i, k] * delta[a * p + k]
                xi += X[i, k] * X[i, k]
            if not mask_t[g, i]:
                cu = -cu
                cd = -cd
            xi = np.sqrt(xi)
            if abs(cu) <= rel_tol * xi * un:
                continue
            if cd < -1e-13 * xi * dn:
                st = max(cu, 0.0) / -cd
                if st < step:
                    step = st
    return step


# ------------------------------------------------------------ interior point
@njit(cache=True, nogil=True)
def gather_submatrix(H, cols, out, out32):
    """``out = H[cols][:, cols]`` and its single precision copy ``out32``, in one pass.

    Used when the interior-point method of :mod:`._group_ipm` removes groups:
    numpy's ``H[np.ix_(cols, cols)]`` (and a separate ``astype``) cost several
    times more for matrices of thousands of rows.

    ``out`` may be ``H`` itself (its first ``len(cols) ** 2`` entries, C order)
    for increasing ``cols``: each row is read into a buffer before it is
    written, and no entry still to be read lies before it.  An ``out32`` with
    no rows skips the single precision copy (used by
    ``MaskedBlockDesign.working_set_gram`` to cut a working set's Gram matrix
    out of its cache).
    """
    m = cols.size
    single = out32.shape[0] > 0
    buf = np.empty(m)
    for i in range(m):
        row = H[cols[i]]
        for j in range(m):
            buf[j] = row[cols[j]]
        for j in range(m):
            out[i, j] = buf[j]
        if single:
            for j in range(m):
                out32[i, j] = np.float32(buf[j])


@njit(cache=True, nogil=True)
def interleave_pair_blocks(B, p, out):
    """``out[i p + a, j p + b] = B[k(a, b), i, j]``: a Gram matrix from its feature-pair blocks.

    ``B`` of shape (p (p + 1) / 2, U, U) holds the blocks ``(M^T diag(X_a X_b) M)``
    of the pairs ``a <= b`` in the order ``(0, 0), (0, 1), ..., (1, 1), ...``
    (``k(a, b) = k(b, a)``); ``out`` (U p, U p) is written row by row.
    """
    U = B.shape[1]
    idx = np.empty((p, p), dtype=np.int64)
    k = 0
    for a in range(p):
        for b in range(a, p):
            idx[a, b] = k
            idx[b, a] = k
            k += 1
    for i in range(U):
        for a in range(p):
            row = out[i * p + a]
            for j in range(U):
                for b in range(p):
                    row[j * p + b] = B[idx[a, b], i, j]
