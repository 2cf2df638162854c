"""Group-L2 penalty restricted to polyhedral cones (the exact convex ReLU program)."""

from __future__ import annotations

import numpy as np

from . import _group_cd_kernels as kern
from ._penalties import GroupL2


class ConeGroupL2(GroupL2):
    r"""Group LASSO with every group constrained to its pattern's cone.

    .. math::

        \mathrm{pen}(x) = \alpha \sum_k w_k \lVert x_k\rVert_2
        + \sum_k \iota\{(2 D_{g(k)} - I) X x_k \ge 0\}

    for the groups ``x_k`` of a :class:`MaskedBlockDesign` (pattern
    ``g(k)``, ``D_g = diag(masks[:, g])``).  These are the cone constraints of
    the convex ReLU program of Pilanci & Ergen: they make ``D_g X x_k`` equal to
    the ReLU ``(X x_k)_+``.

    It is a penalty of the shared solver layer: :func:`fista` and
    :func:`group_coordinate_descent` solve ``0.5 ||y - A x||^2 + pen(x)`` with
    it, and :func:`check_optimality` gives an exact duality gap:

    * proximal operator (Moreau, closed convex cone ``K`` and Euclidean norm):
      ``prox_{t||.|| + i_K}(z) = (1 - t / ||P_K z||)_+ P_K z``, with the cone
      projection ``P_K`` computed exactly by an active-set non-negative least
      squares;
    * dual norm: ``max_{u in K, ||u|| <= 1} c^T u = ||P_K c||``, so the dual
      scaling is ``max_k ||P_K(c_k)|| / (alpha w_k)``; for ``x`` feasible and
      ``theta = r / max(1, s)`` weak duality makes the gap a certificate.

    ``value`` returns the group-L2 part only; iterates of the solvers are
    always feasible (every step ends with a projection), which
    :meth:`max_violation` checks.

    Parameters
    ----------
    alpha : float
        Regularization strength, ``>= 0``.
    design : MaskedBlockDesign
        Supplies ``X``, the patterns and the group layout.
    weights : array_like of shape (n_groups,) or None
        Non-negative group weights.
    rel_tol : float, default=1e-9
        Relative tolerance deciding which constraints are active when the
        subdifferential distance of a non-zero group is computed.
    """

    cone = True

    def __init__(self, alpha, design, weights=None, rel_tol=1e-9):
        if not getattr(design, "supports_cone_constraints", False):
            raise TypeError(f"ConeGroupL2 needs a MaskedBlockDesign, got {type(design).__name__}")
        super().__init__(alpha, design.group_size, weights)
        self.design = design
        self.rel_tol = float(rel_tol)
        self._all_rows = np.arange(design.n_samples, dtype=np.int64)

    def _n_groups(self, x):
        return self._groups(x).shape[0]

    def prox(self, x, step):
        x = np.ascontiguousarray(x, dtype=np.float64)
        tl = np.ascontiguousarray(step * self.thresholds(self._n_groups(x)))
        out = np.empty_like(x)
        d = self.design
        kern.cone_group_prox(x, tl, d.X, d._mask_t, self._all_rows, d.n_patterns, out)
        return out

    def projected_norms(self, corr, groups=None):
        """``||P_{K_k}(corr_k)||`` for ``groups`` (default: all)."""
        corr = np.ascontiguousarray(corr, dtype=np.float64)
        n_groups = self._n_groups(corr)
        groups = (np.arange(n_groups, dtype=np.int64) if groups is None
                  else np.ascontiguousarray(groups, dtype=np.int64))
        out = np.empty(groups.size)
        d = self.design
        kern.cone_projected_norms(corr, groups, d.X, d._mask_t, self._all_rows,
                                  d.n_patterns, out)
        return out

    def dual_scaling(self, corr):
        cn = np.linalg.norm(self._groups(corr), axis=1)
        t = self.thresholds(cn.size)
        pos = t > 0
        if not np.any(pos):
            return 0.0
        ratio = np.where(pos, cn / np.where(pos, t, 1.0), 0.0)
        # ||P_K c|| <= ||c||: project only the groups that can beat the current maximum
        order = np.argsort(-ratio)
        best = 0.0
        for start in range(0, order.size, 64):
            chunk = order[start:start + 64]
            chunk = chunk[ratio[chunk] > best]
            if chunk.size == 0:
                break
            pn = self.projected_norms(corr, chunk)
            best = max(best, float(np.max(pn / t[chunk])))
        return best

    def subdiff_distance(self, x, corr):
        x = np.ascontiguousarray(x, dtype=np.float64)
        corr = np.ascontiguousarray(corr, dtype=np.float64)
        xg, cg = self._groups(x), self._groups(corr)
        norms = np.linalg.norm(xg, axis=1)
        t = self.thresholds(norms.size)
        dist = np.maximum(np.linalg.norm(cg, axis=1) - t, 0.0)
        zero = norms == 0
        cand = np.flatnonzero(zero & (dist > 0))
        if cand.size:
            dist[cand] = np.maximum(self.projected_norms(corr, cand) - t[cand], 0.0)
        act = np.flatnonzero(~zero)
        if act.size:
            out = np.empty(act.size)
            d = self.design
            kern.tangent_distances(x, corr, t, act.astype(np.int64), d.X, d._mask_t,
                                   d.n_patterns, self.rel_tol, out)
            dist[act] = out
        return dist

    def max_violation(self, x):
        """Largest relative constraint violation ``max_k max_i (-C_k x_k)_i / ||x_k||``."""
        C = self.design.constraint_values(x)
        norms = np.linalg.norm(self._groups(np.asarray(x, dtype=np.float64)), axis=1)
        nz = norms > 0
        if not np.any(nz):
            return 0.0
        return float(np.max(np.maximum(-C[nz], 0.0).max(axis=1) / norms[nz]))

    def __repr__(self):
        return f"ConeGroupL2(alpha={self.alpha}, group_size={self.group_size})"
