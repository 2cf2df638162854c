"""Newton's method for the group LASSO restricted to a fixed support (polishing step).

On a support where no group vanishes, ``0.5 ||y - B z||^2 + sum_g t_g ||z_g||_2``
is smooth; its Hessian ``B^T B + blockdiag(t_g / ||z_g|| (I - z^_g z^_g^T))`` is
small when the support is (a few hundred coefficients), so damped Newton
steps converge quadratically where first-order methods crawl (strongly
correlated groups, as for lagged ECG samples).  Used by
:func:`group_coordinate_descent` once its working-set passes have found a
stable support; the global optimality of the result is then certified by the
duality gap of the full problem, never assumed.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as la


def newton_group_lasso(H, b, yy, sizes, thresh, z0, *, tol=1e-13, max_iter=50):
    """Minimise ``0.5 z^T H z - b^T z + 0.5 yy + sum_g t_g ||z_g||`` from ``z0``.

    Parameters
    ----------
    H : ndarray of shape (m, m)
        ``B^T B``.
    b : ndarray of shape (m,)
        ``B^T y``.
    yy : float
        ``y^T y`` (only shifts the objective).
    sizes : sequence of int
        Group sizes (groups are contiguous).
    thresh : ndarray of shape (n_groups,)
        Group weights ``t_g``.
    z0 : ndarray of shape (m,)
        Starting point with every group non-zero.
    tol : float
        Stop when the gradient norm is below ``tol * max(1, ||b||)``.
    max_iter : int

    Returns
    -------
    z : ndarray or None
        The final point (``None`` if the iteration failed).
    collapsed : ndarray of int
        Groups that a full Newton step sends through zero (their optimal value
        is probably zero: the support was too large); ``z`` is ``None`` then.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    n_groups = sizes.size
    gid = np.repeat(np.arange(n_groups), sizes)
    starts = np.r_[0, np.cumsum(sizes)]
    thresh = np.asarray(thresh, dtype=np.float64)
    z = np.array(z0, dtype=np.float64)
    m = z.size
    scale = max(1.0, float(np.linalg.norm(b)))
    ridge = 1e-14 * max(float(np.trace(H)) / max(m, 1), 1e-300)
    diag = np.diag_indices(m)
    # (row, column, group) of every entry of the diagonal blocks: the curvature
    # correction of all groups is applied in one vectorised update
    blk_g = np.repeat(np.arange(n_groups), sizes * sizes)
    blk_off = np.arange(blk_g.size) - np.repeat(np.r_[0, np.cumsum(sizes * sizes)[:-1]],
                                                sizes * sizes)
    blk_r = starts[blk_g] + blk_off // sizes[blk_g]
    blk_c = starts[blk_g] + blk_off % sizes[blk_g]

    def norms_of(v):
        return np.sqrt(np.bincount(gid, weights=v * v, minlength=n_groups))

    nz = norms_of(z)
    if np.any(nz == 0):
        return None, np.flatnonzero(nz == 0)
    for _ in range(max_iter):
        unit = z / nz[gid]
        c = thresh / nz
        g_smooth = H @ z - b
        grad = g_smooth + thresh[gid] * unit
        gn = float(np.linalg.norm(grad))
        if gn <= tol * scale:
            break
        hess = H.copy()
        hess[diag] += c[gid] + ridge
        hess[blk_r, blk_c] -= c[blk_g] * unit[blk_r] * unit[blk_c]
        try:
            dz = -la.cho_solve(la.cho_factor(hess, check_finite=False), grad,
                               check_finite=False)
        except (la.LinAlgError, ValueError):
            dz = -np.linalg.lstsq(hess, grad, rcond=None)[0]
        slope = float(grad @ dz)
        if not slope < 0:
            return None, np.zeros(0, dtype=np.int64)
        flips = np.bincount(gid, weights=z * (z + dz), minlength=n_groups)
        if np.any(flips <= 0):
            return None, np.flatnonzero(flips <= 0)
        # objective change along the step, in cancellation-free form
        lin = float(g_smooth @ dz)
        quad = float(dz @ (H @ dz))
        pen0 = float(thresh @ nz)
        step = 1.0
        for _ in range(40):
            zn = z + step * dz
            nzn = norms_of(zn)
            change = step * lin + 0.5 * step * step * quad + float(thresh @ nzn) - pen0
            if change <= 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            break           # no decrease possible at machine precision
        small = nzn <= 1e-9 * max(nzn.max(), 1e-300)
        if np.any(small):
            return None, np.flatnonzero(small)
        z, nz = zn, nzn
        if step == 1.0 and -slope <= 1e-28 * max(float(z @ (H @ z)), 1e-300):
            break           # Newton decrement at rounding level
    return z, np.zeros(0, dtype=np.int64)
