"""Algorithm 1 of Luengo, Via and Trigano for one signal."""

from __future__ import annotations

import warnings

import numpy as np

from .._exceptions import ConvergenceWarning
from ..solvers import Quadratic, WeightedL1, solve
from ..solvers._optimality import check_optimality
from ._cross_products_kernels import merge_pairs, segment_passes
from ._cross_products_kernels import zero_by_kkt as zero_kkt_kernel

__all__ = ["algorithm1", "CrossProductsProblem"]


class CrossProductsProblem:
    """Eq. 8 and its linearization for one signal ``y`` (flat coefficients, ``P`` rows of ``N``).

    ``F(s) = sum_t a_t + beta ||y - H s||^2 + a^T G a`` with ``a_t = sum_p |s_p[t]|``;
    the weighted LASSO of a step is
    ``Q(s) = 0.5 ||y - H s||^2 + (1 / (2 beta)) gamma^T |s|``.
    """

    def __init__(self, ops, y, beta):
        self.ops, self.y, self.beta = ops, y, beta
        self.P, self.N = ops.n_kernels, ops.n_samples
        self.lasso_alpha = 1.0 / (2.0 * beta)

    def residual(self, s):
        return self.ops.residual(self.y, s)

    def cost(self, s, r):
        """Eq. 8 at ``s`` with residual ``r = y - H s``."""
        a = self.ops.magnitudes(s)
        return float(a.sum()) + self.beta * float(r @ r) + self.ops.quadratic(a)

    def weights(self, s):
        """``gamma = 1 + 2 G a`` repeated for each kernel (flat, length ``P N``)."""
        gam = self.ops.toeplitz(self.ops.magnitudes(s))
        np.multiply(gam, 2.0, out=gam)  # in place: no extra length-N temporaries
        np.add(gam, 1.0, out=gam)
        return np.tile(gam, self.P) if self.P > 1 else gam

    def zero_by_kkt(self, s, gamma, positive):
        """Set to zero the coefficients of ``s`` whose exact coordinate minimiser of ``Q`` is 0.

        ``Q`` is the weighted LASSO with weights ``gamma`` (``None``: all ones),
        ``t_i = gamma_i / (2 beta)``.  With ``r = y - H s``, ``c_i = h_i^T r``
        and ``n_i = ||h_i||^2``, the minimiser of ``Q`` over coefficient ``i``
        alone is zero exactly when ``|n_i s_i + c_i| <= t_i`` (``n_i s_i + c_i
        <= t_i`` with ``positive``): the coordinate-wise KKT condition of a
        zero.  Every support coefficient meeting it is set to zero, one at a
        time with the residual updated in between (passes over the support
        until one changes nothing), so each change is an exact coordinate
        minimisation: ``Q`` never increases, no coefficient becomes
        non-zero and the other coefficients are left bit for bit unchanged.

        A solver stopped on a relative duality gap (in particular one that
        returns a warm start already meeting it, without a single update)
        keeps coefficients far below the scale of that gap even where the
        exact weighted-LASSO solution is zero by a wide margin; this removes
        them.  Costs ``O(nnz L)``.

        Returns
        -------
        s_new : ndarray
            A copy of ``s`` (``s`` itself when nothing changes).
        r_new : ndarray
            ``y - H s_new``.
        """
        r = self.residual(s)
        support = np.flatnonzero(s)
        if support.size == 0:
            return s, r
        design = self.ops.design
        n = self.P * self.N
        thresh = np.full(n, self.lasso_alpha) if gamma is None else self.lasso_alpha * gamma
        x = s.copy()
        n_zeroed = zero_kkt_kernel(x, r, support, design.kernels, design.cumsq, self.N,
                                   design.shift, np.ascontiguousarray(thresh, dtype=np.float64),
                                   bool(positive))
        if n_zeroed == 0:
            return s, r  # untouched
        # the exact residual (r was updated incrementally)
        return x, self.residual(x)

    def surrogate(self, s, r, gamma):
        """``Q(s) = 0.5 ||r||^2 + (1 / (2 beta)) gamma^T |s|``."""
        nz = np.flatnonzero(s)
        return 0.5 * float(r @ r) + self.lasso_alpha * float(gamma[nz] @ np.abs(s[nz]))

    # -- per-segment machinery ---------------------------------------------------
    def segments(self, s, s_tilde):
        """Groups of coefficients that do not interact with one another.

        Returns the sorted times ``T`` where ``s`` or ``s_tilde`` is non-zero and
        the start index (into ``T``) of every segment: consecutive times more
        than ``max(L_h - 1, L_g)`` apart start a new segment, so that ``F``
        restricted to the union support is a sum of one term per segment.
        """
        T = np.flatnonzero(self.ops.magnitudes(s) + self.ops.magnitudes(s_tilde))
        if T.size == 0:
            return T, np.zeros(0, dtype=np.int64)
        starts = np.concatenate([[0], np.flatnonzero(np.diff(T) > self.ops.interaction) + 1])
        return T, starts

    def segment_cost_change(self, T, starts, x_old, r_old, x_new):
        """``F_b(x_new) - F_b(x_old)`` for every segment ``b``, and ``y - H x_new``.

        The change of the data term is computed from ``H (x_new - x_old)``
        (not from two residuals), so that tiny changes are not lost to rounding.
        """
        ops = self.ops
        # one length-N temporary at a time where possible (this runs at the
        # memory peak of the algorithm); the arithmetic is unchanged
        a_new = ops.magnitudes(x_new)
        a_new_t = a_new[T]
        q_new = self._segment_quadratic(T, starts, a_new)
        del a_new
        a_old = ops.magnitudes(x_old)
        d_l1 = np.add.reduceat(a_new_t - a_old[T], starts)
        d_cross = q_new - self._segment_quadratic(T, starts, a_old)
        del a_old
        step = x_new - x_old
        dr = ops.matvec(step)
        del step
        np.negative(dr, out=dr)
        # data term: rows under the columns of the segment (disjoint across segments)
        ends = np.concatenate([starts[1:], [T.size]]) - 1
        lo = np.clip(T[starts] + ops._h_offsets[0], 0, ops.n_rows)
        hi = np.clip(T[ends] + ops._h_offsets[-1] + 1, 0, ops.n_rows)
        # diff = dr * (2 r_old + dr), followed by a 0 (end of the last segment)
        diff = np.empty(dr.size + 1)
        body = diff[:-1]
        np.multiply(r_old, 2.0, out=body)
        np.add(body, dr, out=body)
        np.multiply(body, dr, out=body)
        diff[-1] = 0.0
        bounds = np.empty(2 * starts.size, dtype=np.int64)
        bounds[0::2], bounds[1::2] = lo, hi
        sums = np.add.reduceat(diff, bounds)[0::2]
        del diff, body
        d_data = np.where(hi > lo, sums, 0.0)
        np.add(r_old, dr, out=dr)  # y - H x_new
        return d_l1 + self.beta * d_data + d_cross, dr

    def _segment_quadratic(self, T, starts, a):
        """``a_b^T G a_b`` for every segment (``G`` does not couple segments)."""
        ga = self.ops.toeplitz(a)
        return np.add.reduceat(a[T] * ga[T], starts)

    def segment_index(self, T, starts):
        """Segment of every time in ``T``."""
        return np.repeat(np.arange(starts.size), np.diff(np.append(starts, T.size)))

    def per_coefficient(self, values_t):
        """Repeat a per-time array for the ``P`` kernels (flat coefficients)."""
        return np.tile(values_t, self.P) if self.P > 1 else values_t

    def final_step(self, s, r_s, cost, s_tilde):
        """Full step to ``s~`` or pruning of ``s`` to the support of ``s~``, per segment.

        ``s~`` solves the weighted LASSO at ``gamma(s)``.  In every segment the
        better of the full step (``s~``) and the pruned iterate (``s`` with the
        coefficients that are zero in ``s~`` set to zero) replaces ``s`` when it
        does not increase eq. 8.  Returns ``(s, r, cost, trial_cost, changed)``.
        """
        T, starts = self.segments(s, s_tilde)
        if T.size == 0:
            return s, r_s, cost, cost, False
        seg = self.segment_index(T, starts)
        d_full, _ = self.segment_cost_change(T, starts, s, r_s, s_tilde)
        pruned = np.where(s_tilde != 0, s, 0.0)
        d_prune, _ = self.segment_cost_change(T, starts, s, r_s, pruned)
        use_full = (d_full <= 0) & (d_full <= d_prune)
        use_prune = ~use_full & (d_prune <= 0)
        if not (use_full.any() or use_prune.any()):
            return s, r_s, cost, cost, False
        full_t = np.zeros(self.N, dtype=bool)
        prune_t = np.zeros(self.N, dtype=bool)
        full_t[T], prune_t[T] = use_full[seg], use_prune[seg]
        cand = np.where(self.per_coefficient(full_t), s_tilde,
                        np.where(self.per_coefficient(prune_t), pruned, s))
        if np.array_equal(cand, s):
            return s, r_s, cost, cost, False
        _, r_cand = self.segment_cost_change(T, starts, s, r_s, cand)
        cand_cost = self.cost(cand, r_cand)
        # the change is a sum of non-positive segment changes: guard against rounding
        return cand, r_cand, min(cand_cost, cost), cand_cost, True


    def polish(self, s, positive, *, max_rounds=50, max_passes=200, rtol=1e-12):
        """Exact one-coordinate passes and pairwise merges on eq. 8 itself, from ``s``.

        1. Coordinate passes: every non-zero coefficient ``c`` (kernel ``p``,
           time ``t``) in turn is set to the minimiser of eq. 8 over that
           coordinate, the others fixed.  With ``r_{-c}`` the residual and
           ``a_{-c}`` the magnitudes without ``s_c``, eq. 8 is, up to a constant,
           ``(beta n_c + g[0]) x^2 - 2 beta (h_c^T r_{-c}) x + w_c |x|`` with
           ``n_c = ||h_c||^2`` and ``w_c = 1 + 2 (G a_{-c})[t]``, minimised by
           ``sign(z) max(2 beta |z| - w_c, 0) / (2 (beta n_c + g[0]))``,
           ``z = h_c^T r_{-c}`` (``max(2 beta z - w_c, 0) / ...`` with
           ``positive``).  Zero coefficients are not visited: the support
           never grows.  Passes repeat until none changes anything (relative
           moves below ``rtol``, no new zero) or ``max_passes``, separately
           for every group of interacting coefficients (times at most
           ``max(L_h - 1, L_g)`` apart), so that one slowly converging group
           does not cost passes over the whole support.
        2. Pairwise merges: for every pair of non-zero coefficients at most
           ``L_g`` samples apart, the two moves "zero one, refit the other by
           its exact 1-D minimiser" are evaluated exactly and the better one
           applied if it lowers eq. 8 (by more than rounding, ``4 eps F(s)``).

        The two alternate until no merge is accepted (at most ``max_rounds``).
        Every step is an exact minimisation or a strict decrease: eq. 8 never
        increases.  Costs ``O(nnz (L + L_g))`` per pass.

        Returns
        -------
        x : ndarray
            The new coefficients (``s`` itself when nothing changed).
        decrease : float
            Sum of the exact changes of eq. 8 of the steps taken (``<= 0``).
        """
        support = np.flatnonzero(s)
        if support.size == 0:
            return s, 0.0
        ops, design = self.ops, self.ops.design
        x = s.copy()
        r = self.residual(x)
        a = np.ascontiguousarray(ops.magnitudes(x), dtype=np.float64).copy()
        times = support % self.N
        perm = np.argsort(times, kind="stable")
        order = np.ascontiguousarray(support[perm], dtype=np.int64)
        times = np.ascontiguousarray(times[perm], dtype=np.int64)
        min_dec = 4.0 * np.finfo(float).eps * abs(self.cost(s, r))
        args = (ops.kernels, design.cumsq, self.N, design.shift, ops.window, float(self.beta),
                bool(positive))
        total = 0.0
        for _ in range(max_rounds):
            d, _, _ = segment_passes(x, r, a, order, times, int(ops.interaction), *args, rtol,
                                     max_passes)
            total += d
            d, n_merged = merge_pairs(x, r, a, order, times, *args, min_dec)
            total += d
            if n_merged == 0:
                break
        if np.array_equal(x, s):
            return s, 0.0
        return x, total


def algorithm1(ops, y, beta, *, positive, tol, inner_tol, inner_max_iter, max_reweights,
               min_step, solver, final_step):
    """Run Algorithm 1 on one signal; return a dict of the fields of CrossProductsResult."""
    prob = CrossProductsProblem(ops, y, beta)
    datafit = Quadratic(ops.design, y)
    n = prob.P * prob.N
    s = np.zeros(n)
    r_s = y.copy()
    gamma = None  # all ones: the first solve is deconvolve's (weights=None)
    cost = np.inf
    step = 1.0
    costs, trials, steps, accepted = [], [], [], []
    n_solves = n_inner = inner_failures = 0
    s_tilde = r_tilde = None
    reason, converged = "max_reweights", False
    decrease = np.nan
    solver_name = "cd"
    for it in range(max_reweights):
        if s_tilde is None:  # s and gamma changed (or first iteration): solve again
            # drop the previous solve's arrays before this one allocates its own
            res = penalty = r_tilde = trial = r_trial = None
            penalty = WeightedL1(prob.lasso_alpha, gamma, positive=positive)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                res = solve(datafit, penalty, None if it == 0 else s, solver=solver,
                            tol=inner_tol, max_iter=inner_max_iter)
            n_solves += 1
            n_inner += int(np.sum(res.n_iter))
            inner_failures += not res.converged
            solver_name = res.solver
            if it == 0:
                # cold start: deconvolve's solution exactly
                s_tilde, r_tilde = res.coef, prob.residual(res.coef)
            else:
                # exact zeros where the weighted LASSO's coordinate-wise KKT
                # condition says so (see zero_by_kkt): the inner stopping rule is
                # relative to Q and does not see coefficients of the size of the
                # left-overs of a step < 1 that the warm start s carries
                s_tilde, r_tilde = prob.zero_by_kkt(res.coef, gamma, positive)
            gam = np.ones(n) if gamma is None else gamma
            q_s = prob.surrogate(s, r_s, gam)
            q_tilde = prob.surrogate(s_tilde, r_tilde, gam)
            decrease = (q_s - q_tilde) / q_s if q_s > 0 else 0.0
        if it > 0 and decrease <= tol:
            reason, converged = "stationary", True
            break
        if step == 1.0:
            trial, r_trial = s_tilde, r_tilde
        else:
            trial = (1.0 - step) * s + step * s_tilde
            r_trial = (1.0 - step) * r_s + step * r_tilde  # y - H trial, by linearity
        trial_cost = prob.cost(trial, r_trial)
        trials.append(trial_cost)
        steps.append(step)
        ok = trial_cost < cost
        if ok:
            s, r_s, cost = trial, r_trial, trial_cost
            step = (1.0 + step) / 2.0
        else:
            step = step / 2.0
        small = step < min_step
        accepted.append(ok)
        costs.append(cost)
        if ok:
            gamma = prob.weights(s)
            s_tilde = None
        if small:
            reason = "step_size"
            break
    n_iter = len(costs)
    coef_bare = s
    # release the length-N arrays of the loop that the final step does not use
    res = penalty = gamma = trial = r_trial = r_tilde = None
    changed = False
    if final_step and costs:
        trial_cost = cost
        if s_tilde is not None:
            s, r_s, cost, trial_cost, changed = prob.final_step(s, r_s, cost, s_tilde)
            s_tilde = None
        polished, decrease_polish = prob.polish(s, positive)
        if polished is not s and decrease_polish < 0:
            s = polished
            r_s = prob.residual(s)
            trial_cost = prob.cost(s, r_s)
            # a sum of exact decreases: min() only guards against rounding
            cost = min(trial_cost, cost)
            changed = True
        if changed:
            trials.append(trial_cost)
            steps.append(1.0)
            accepted.append(trial_cost <= costs[-1])
            costs.append(cost)
    # release the length-N arrays no longer needed before the optimality check
    s_tilde = polished = r_s = None
    r_s = datafit.residual(s)
    chk = check_optimality(datafit, WeightedL1(prob.lasso_alpha, prob.weights(s),
                                               positive=positive), s, r_s)
    extra = {"inner_not_converged": inner_failures, "final_step_applied": changed,
             "coef_bare": coef_bare}
    cost_hist = np.asarray(costs)
    return dict(
        coef=s, objective=cost_hist, n_iter=n_iter, gap=float("nan"),
        kkt_violation=chk.kkt, converged=converged, stop_reason=reason, solver=solver_name,
        tol=tol, n_outer=n_iter, cost_history=cost_hist,
        trial_cost_history=np.asarray(trials), step_size_history=np.asarray(steps),
        accepted=np.asarray(accepted, dtype=bool), n_solves=n_solves, n_inner_iter=n_inner,
        surrogate_decrease=float(decrease), beta=beta, lasso_alpha=prob.lasso_alpha,
        extra=extra,
    )
