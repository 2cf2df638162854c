"""Working-set subproblems of group coordinate descent solved in Gram space.

Used by :func:`group_coordinate_descent` for :class:`MaskedBlockDesign`
(``inner="gram"``): the working set's Gram matrix ``H = A_W^T A_W`` replaces
the residual, exact block updates (with the cone constraints of
:class:`ConeGroupL2` handled by an active-set block solver and cutting
planes) are accelerated by Anderson extrapolation, and Newton's method on the
support (on the faces of the cones) finishes the job.
"""

from __future__ import annotations

import numpy as np

from . import _group_gram_kernels as gk
from ._cd import _Anderson
from ._group_newton import newton_group_lasso

#: relative constraint violation tolerated at the end of a subproblem
FEASIBILITY_TOL = 1e-12
#: relative level below which a constraint counts as active (on the face)
FACE_TOL = 1e-9


def reserve_candidates(design, wpat, max_add):
    """Grow ``design._cand`` so that every block of ``wpat`` can add ``max_add`` rows.

    The candidate rows (cutting planes) of a pattern only ever grow (see
    :func:`._group_gram_kernels.cut_groups`), to at most the ``n`` rows of
    the pattern's cone: the capacity doubles when a cut could overflow it.
    """
    cand, ncand = design._cand, design._ncand
    need = ncand + max_add * np.bincount(wpat, minlength=ncand.size)
    cap = cand.shape[1]
    if need.max(initial=0) <= cap or cap >= design.n_samples:
        return
    new_cap = min(max(2 * cap, int(need.max())), design.n_samples)
    grown = np.zeros((cand.shape[0], new_cap), dtype=cand.dtype)
    grown[:, :cap] = cand
    design._cand = grown


class GramSubproblem:
    """State of one working-set subproblem ``min 0.5 x^T H x - b^T x + sum t_k ||x_k||``."""

    def __init__(self, design, ws, x, corr, thresh, cone):
        p = design.p
        self.design = design
        self.p = p
        self.ws = np.array(ws, dtype=np.int64)     # (a copy: H is computed later)
        self.idx = (ws[:, None] * p + np.arange(p)).ravel()
        self._H = None          # the working set's Gram matrix, computed when first used
        self.wpat = np.ascontiguousarray(ws % design.n_patterns, dtype=np.int64)
        self.x = np.ascontiguousarray(x[self.idx], dtype=np.float64)  # (a copy)
        self.q = -np.ascontiguousarray(corr[self.idx], dtype=np.float64)
        self.t = np.ascontiguousarray(thresh[ws], dtype=np.float64)
        self.cone = bool(cone)
        val, vec = design._pattern_eigh()
        self.val, self.vec = val, vec
        self.gdiag = design.pattern_gram_diag()
        self.viol = np.empty(ws.size)

    @property
    def H(self):
        """Gram matrix ``A_W^T A_W`` of the working set (computed on first use)."""
        if self._H is None:
            self._H = np.ascontiguousarray(self.design.working_set_gram(self.ws))
        return self._H

    # ---------------------------------------------------------- kernels
    def epochs(self, n):
        d = self.design
        return gk.gram_epochs(self.x, self.q, self.H, self.wpat, self.t, self.cone, self.val,
                              self.vec, self.gdiag, d.X, d._mask_t, d._cand, d._ncand, int(n))

    def violation(self):
        d = self.design
        return gk.gram_violation(self.x, self.q, self.wpat, self.t, self.cone, self.val,
                                 self.vec, self.gdiag, d.X, d._mask_t, d._cand, d._ncand,
                                 self.viol)

    def cut(self, max_add=2):
        """Add violated cone constraints to the candidates; project if any (cones only)."""
        if not self.cone:
            return 0
        d = self.design
        reserve_candidates(d, self.wpat, int(max_add))
        added = gk.cut_groups(self.x, self.wpat, d.X, d._mask_t, d._cand, d._ncand,
                              FEASIBILITY_TOL, int(max_add))
        if added:
            gk.project_blocks(self.x, self.q, self.H, self.wpat, d.X, d._mask_t, d._cand,
                              d._ncand)
        return added

    # ------------------------------------------------------- objective
    def penalty(self, x):
        return float(self.t @ np.linalg.norm(x.reshape(-1, self.p), axis=1))

    def change(self, x_new):
        """Objective change ``F(x_new) - F(x)`` (cancellation-free) and ``H (x_new - x)``."""
        delta = x_new - self.x
        Hd = self.H @ delta
        change = float(self.q @ delta) + 0.5 * float(delta @ Hd) \
            + self.penalty(x_new) - self.penalty(self.x)
        return change, Hd

    def set_x(self, x_new, gram_matvec=None):
        """Move to ``x_new`` (any point), keeping the gradient ``q = H x - b`` consistent.

        ``gram_matvec``: the product with ``H`` (default ``H @ v``; a matrix-free
        one, e.g. of ``MaskedBlockDesign.working_set_operator``, leaves ``H``
        uncomputed).
        """
        x_new = np.ascontiguousarray(x_new, dtype=np.float64)
        delta = x_new - self.x
        self.q = self.q + (self.H @ delta if gram_matvec is None else gram_matvec(delta))
        self.x = x_new

    def try_move(self, *candidates):
        """Move to the best candidate if it lowers the objective; returns whether it did."""
        best = None
        for x_new in candidates:
            change, Hd = self.change(x_new)
            if change < 0 and (best is None or change < best[0]):
                best = (change, x_new, Hd)
        if best is None:
            return False
        self.x = np.ascontiguousarray(best[1])
        self.q += best[2]
        return True

    def extrapolate(self, acc):
        x_acc = acc.extrapolate()
        if x_acc is None:
            return False
        x_acc = np.ascontiguousarray(x_acc)
        if self.cone:
            q = self.q.copy()   # project_blocks keeps a gradient consistent; use a scratch one
            d = self.design
            gk.project_blocks(x_acc, q, self.H, self.wpat, d.X, d._mask_t, d._cand, d._ncand)
        return self.try_move(x_acc)

    # ---------------------------------------------------------- Newton
    def support(self):
        return np.linalg.norm(self.x.reshape(-1, self.p), axis=1) > 0

    def face_bases(self, S):
        """Padded null-space bases (len(S), p, p) and dimensions of the blocks' faces."""
        p = self.p
        Npad = np.empty((S.size, p, p))
        dims = np.empty(S.size, dtype=np.int64)
        if not self.cone:
            Npad[:] = np.eye(p)
            dims[:] = p
            return Npad, dims
        d = self.design
        gk.face_bases(self.x, np.ascontiguousarray(S, dtype=np.int64), self.wpat, d.X,
                      d._mask_t, d._cand, d._ncand, FACE_TOL, Npad, dims)
        return Npad, dims

    def max_step(self, S, delta):
        """Largest ``s <= 1`` keeping the blocks ``S`` in their candidate cones along ``delta``."""
        if not self.cone:
            return 1.0
        d = self.design
        return gk.max_feasible_step(self.x, np.ascontiguousarray(delta),
                                    np.ascontiguousarray(S, dtype=np.int64), self.wpat, d.X,
                                    d._mask_t, d._cand, d._ncand, FACE_TOL)

    def newton(self, max_rounds=20, max_drops=5):
        """Newton on the support (faces of the cones); returns whether the objective fell.

        With cones this is a primal active-set method: the Newton step towards
        the optimum on the current faces is cut where a candidate constraint
        becomes active, and Newton restarts on the new faces.  Blocks that a
        Newton step sends through zero are dropped (at most ``max_drops``
        times).  A move is kept only if it lowers the objective.
        """
        improved = False
        p = self.p
        for _ in range(max_rounds if self.cone else 1):
            S = np.flatnonzero(self.support())
            if S.size == 0:
                break
            Npad_all, dims_all = self.face_bases(S)
            keep = dims_all > 0
            z = None
            for _ in range(max_drops + 1):
                sel = np.flatnonzero(keep)
                if sel.size == 0:
                    break
                sizes = dims_all[sel]
                blocks = S[sel]
                rows = (blocks[:, None] * p + np.arange(p)).ravel()
                x_base = self._zeroed(S[~keep])
                q_base = self.q + self.H @ (x_base - self.x)
                Hrr = self.H[np.ix_(rows, rows)]
                if np.all(sizes == p):
                    Tr = None
                    A = Hrr
                    z0 = x_base[rows]
                    grad = q_base[rows]
                else:
                    # reduced variables x_a = N_a z_a: A = T^T H T, T = blockdiag(N_a)
                    nb = blocks.size
                    Npad = Npad_all[sel]
                    valid = np.arange(p)[None, :] < sizes[:, None]
                    H4 = Hrr.reshape(nb, p, nb, p)
                    tmp = np.einsum("ajbk,bkl->ajbl", H4, Npad, optimize=True)
                    A4 = np.einsum("aji,ajbl->aibl", Npad, tmp, optimize=True)
                    cols = np.flatnonzero(valid.ravel())
                    A = A4.reshape(nb * p, nb * p)[np.ix_(cols, cols)]
                    Tfull = np.zeros((nb, p, nb, p))
                    Tfull[np.arange(nb), :, np.arange(nb), :] = Npad
                    Tr = Tfull.reshape(nb * p, nb * p)[:, cols]
                    z0 = Tr.T @ x_base[rows]
                    grad = Tr.T @ q_base[rows]
                A = 0.5 * (A + A.T)
                b = A @ z0 - grad
                z, collapsed = newton_group_lasso(A, b, 0.0, sizes, self.t[blocks], z0)
                if z is not None or collapsed.size == 0:
                    break
                keep[sel[collapsed]] = False
            if z is None:
                break
            target = x_base.copy()
            target[rows] = z if Tr is None else Tr @ z
            delta = target - self.x
            step = self.max_step(S[keep], delta)
            candidates = [self.x + step * delta]
            if step < 1.0:
                # also try the full step projected onto the cones (changes many faces at once)
                x_proj = np.ascontiguousarray(target)
                d = self.design
                gk.project_blocks(x_proj, self.q.copy(), self.H, self.wpat, d.X, d._mask_t,
                                  d._cand, d._ncand)
                candidates.append(x_proj)
            if not self.try_move(*candidates):
                break
            improved = True
            if step >= 1.0:
                break
        return improved

    def _zeroed(self, blocks):
        x = self.x.copy()
        for a in blocks:
            x[a * self.p:(a + 1) * self.p] = 0.0
        return x


def solve_subproblem(sub, eps, *, max_epochs, check_every, anderson, newton, newton_every):
    """Cycle over the working set until its optimality measure is ``<= eps``.

    Returns the number of passes.
    """
    acc = _Anderson(anderson) if anderson else None
    n_passes = 0
    last_support = None
    last_newton = -10 ** 9
    failed = None
    stable = 0
    for epoch in range(1, max_epochs + 1):
        sub.epochs(1)
        n_passes += 1
        if acc is not None:
            acc.push(sub.x)
            if epoch % anderson == 0:
                sub.extrapolate(acc)
        if epoch % check_every:
            continue
        if sub.cut():
            if acc is not None:
                acc.reset()
            continue
        if sub.violation() <= eps:
            break
        support = sub.support()
        stable = stable + 1 if last_support is not None and np.array_equal(
            support, last_support) else 0
        if newton and stable >= (1 if sub.cone else 2) \
                and epoch - last_newton >= newton_every and np.any(support) \
                and (failed is None or not np.array_equal(support, failed)):
            last_newton = epoch
            if sub.newton():
                failed = None
                if acc is not None:
                    acc.reset()
                if not sub.cut() and sub.violation() <= eps:
                    break
            else:
                failed = support     # do not retry on this support
        last_support = support
    for _ in range(50):           # end feasible: every constraint checked
        if not sub.cut():
            break
        sub.epochs(1)
        n_passes += 1
    return n_passes
