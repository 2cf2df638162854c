"""Working-set block coordinate descent for the group LASSO."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from .._exceptions import ConvergenceWarning
from .._threads import one_blas_thread
from .._validation import check_int, check_scalar
from . import _group_cd_kernels as kern
from ._cd import _Anderson
from ._designs import DenseDesign
from ._group_admm import admm_group_lasso, scaled_dual_value
from ._group_gram import GramSubproblem, solve_subproblem
from ._group_ipm import interior_point_group_lasso
from ._group_newton import newton_group_lasso
from ._optimality import (
    check_finite_start,
    check_optimality,
    is_converged,
    resolve_stopping,
    stop_message,
)
from ._penalties import GroupL2
from ._result import SolverResult

# name of the KKT scale in ConvergenceWarning messages (the largest group norm of A^T y)
_GROUP_SCALE = "max_g ||A_g^T y||"


class _DenseGroups:
    """Group-update interface of a :class:`DenseDesign` (contiguous column blocks)."""

    def __init__(self, design: DenseDesign, group_size: int):
        self.A = np.asfortranarray(design.X)
        self.p = group_size
        n_groups = design.n_features // group_size
        blocks = self.A.T.reshape(n_groups, group_size, -1)
        gram = np.matmul(blocks, blocks.transpose(0, 2, 1))
        self.lips = (np.linalg.eigvalsh(gram)[:, -1] * (1.0 + 1e-10) if n_groups
                     else np.zeros(0))

    def group_lipschitz(self):
        return self.lips

    def group_epochs(self, x, r, ws, lips, thresh, n_epochs, cone=False):
        kern.dense_group_epochs(x, r, ws, self.A, self.p, lips, thresh, int(n_epochs))

    def group_violation(self, x, r, ws, lips, thresh, cone=False):
        return kern.dense_group_violation(x, r, ws, self.A, self.p, thresh)

    def group_columns(self, groups):
        cols = (np.asarray(groups)[:, None] * self.p + np.arange(self.p)).ravel()
        return self.A[:, cols]

    def apply_delta(self, r, ws, delta):
        cols = (ws[:, None] * self.p + np.arange(self.p)).ravel()
        r -= self.A[:, cols] @ np.ravel(delta)


def group_interface(design, group_size, cone=False):
    """The object performing group updates for ``design`` (or raise)."""
    if cone and not getattr(design, "supports_cone_constraints", False):
        raise ValueError("a ConeGroupL2 penalty needs its MaskedBlockDesign as the design")
    if getattr(design, "supports_group_cd", False):
        if design.group_size != group_size:
            raise ValueError(f"the design's groups have size {design.group_size}, "
                             f"the penalty's group_size is {group_size}")
        return design
    if isinstance(design, DenseDesign):
        if design.n_features % group_size:
            raise ValueError(f"the design has {design.n_features} columns, not a multiple "
                             f"of group_size={group_size}")
        return _DenseGroups(design, group_size)
    raise ValueError(f"group coordinate descent needs a dense matrix or a design with group "
                     f"updates (e.g. MaskedBlockDesign), got {type(design).__name__}; use fista")


def working_set(dist, support, p0):
    """Support groups plus the groups violating their optimality condition the most."""
    n_groups = dist.size
    n_support = int(support.sum())
    size = max(min(p0, n_groups), min(n_groups, 2 * n_support))
    if size >= n_groups:
        return np.arange(n_groups, dtype=np.int64)
    scores = dist.copy()
    scores[support] = np.inf
    ws = np.argpartition(-scores, size - 1)[:size]
    ws = ws[scores[ws] > 0]
    return np.sort(ws).astype(np.int64)


def group_coordinate_descent(datafit, penalty, x0=None, **kwargs):
    r"""Working-set block coordinate descent for ``0.5 ||y - A x||^2 + alpha sum_g w_g ||x_g||_2``.

    Each outer iteration computes ``c = A^T r`` once, checks the stopping rule
    (relative duality gap of :func:`check_optimality`), builds a working set
    (the groups in the support plus the groups whose optimality condition is
    violated most, at least ``p0`` and twice the support) and cycles over it
    with one update per group until the working set's largest KKT violation
    falls below 0.3 times the outer one.  A group update is the exact
    minimisation over the group when the design provides it
    (:class:`MaskedBlockDesign` without cones) and a proximal-gradient step
    with the group's own Lipschitz constant ``||A_g||_2^2`` otherwise.
    Anderson extrapolation (as in :func:`coordinate_descent`) accelerates the
    passes, and a Newton step on the support (see ``newton``) makes the final
    digits cheap on ill-conditioned problems.

    Parameters
    ----------
    datafit : Quadratic
        Its design must be a dense matrix (groups are contiguous column
        blocks) or provide group updates (:class:`MaskedBlockDesign`).
    penalty : GroupL2 or ConeGroupL2
        With :class:`ConeGroupL2` (the exact convex ReLU program) every group
        step is projected onto the group's cone, so iterates stay feasible.
    x0 : ndarray of shape (n_features,), optional
        Warm start (projected onto the cones by a first proximal step when
        the penalty has them).
    tol : float
        Relative tolerance: stop when ``gap <= tol * primal`` (or
        ``kkt <= tol * max_g ||A_g^T y||`` with ``stopping="kkt"``).
    max_iter : int
        Maximum number of outer (working-set) iterations.
    max_epochs : int
        Maximum passes over a working set per outer iteration.
    p0 : int, optional
        Minimal working-set size (in groups); default 10 (``inner="residual"``)
        or 100 (``inner="gram"``).
    anderson : int
        Anderson extrapolation memory ``K`` over the working set's
        coefficients every ``K`` passes, kept when it lowers the objective
        (projected onto the cones first with :class:`ConeGroupL2`); 0 disables it.
    check_every : int
        Passes between inner KKT checks.
    newton : bool
        Polish with Newton's method on the support (on the faces of the cones
        for :class:`ConeGroupL2`)
        after working-set passes; kept only if it lowers the objective (and
        stays feasible).
        Global optimality is still decided by the duality gap.
    newton_passes : int
        With ``newton``, at most this many passes per working set before the
        next Newton step.
    max_newton_size : int
        Largest number of support coefficients for which Newton is tried.
    stopping : {"auto", "gap", "kkt"}
    inner : {"auto", "gram", "residual"}
        How working-set subproblems are solved.  ``"gram"`` (designs with
        ``working_set_gram``, i.e. :class:`MaskedBlockDesign`): in the space of
        the working set's Gram matrix ``A_W^T A_W`` (a group update costs
        ``O(|W| p^2)``, independent of the number of samples), with exact block
        updates (with cones: an active-set block solver over cutting-plane
        candidates of each cone's constraints, every constraint being checked
        before the subproblem ends), Anderson extrapolation and Newton on the
        faces of the cones.  ``"residual"``: updates of the residual
        ``y - A x`` (dense designs, and large groups).  ``"auto"``: ``"gram"``
        when available and ``group_size <= 64``.  Without cones, a Gram-space
        working set of more than 200 groups (and at most 6000 coefficients),
        or one holding every group when there are at least 100 groups and at
        most 1000 coefficients, is solved by a primal-dual interior-point
        method instead
        (:func:`~sparse_events.solvers._group_ipm.interior_point_group_lasso`,
        Mehrotra predictor-corrector, one factorization per iteration, about
        ten iterations): coordinate descent crawls on many strongly correlated
        groups whose support has about as many coefficients as there are
        samples.  The working set is then extended by every group violating
        its optimality condition (by all groups when that is at least half of
        them), since the interior point has every group of its working set
        non-zero and growing working sets would repeat the cubic solve.  The
        optimum is then often not unique, and the interior point is a point
        of the optimal set with many small non-zero groups (same objective,
        certified gap); groups at the interior point's scale are set to zero
        when the full problem stays certified, and a support of fewer
        coefficients than rows is polished by Newton's method.  A working set
        whose interior-point solution was not certified is solved again, up
        to twice, each time resuming the iteration with a 100 times smaller
        gap, before coordinate descent takes over.  The interior-point
        working set holds one group per set of groups with identical masks
        (the others' weights are moved to it) and no group with an empty
        mask.  On working sets of at least 2000 coefficients, the
        interior-point method factors in single precision (conjugate
        gradients in double precision on top), removes the groups tending to
        zero once its relative gap is below ``3e-2`` and again below ``1e-3``
        (the following factorizations are smaller), and stops as soon as the
        full problem's duality gap is ten times below the tolerance (the dual
        residual left by the removal can keep it above that after the usual
        stopping rule); with a design providing ``working_set_operator``
        (:class:`MaskedBlockDesign`), such a working set too large for the
        Newton polish (more than ``max_newton_size`` coefficients, or
        ``newton=False``) has its Gram matrix computed in single precision
        only and the double precision products of conjugate gradients are
        matrix-free products with its columns (the double precision Gram
        matrix of the working set is formed only if a solve with the single
        precision factor fails).  Such a working set of more coefficients than
        samples (one output, at least 1000 samples, an ``n x n`` float64 matrix
        of at most 256 MiB) is first solved by ADMM in sample space
        (:func:`~sparse_events.solvers._group_admm.admm_group_lasso`: one
        Cholesky factorization of ``A_W A_W^T + rho I``, ``rho = 8 t rms(X) /
        rms(b)``), which stops once the full problem's duality gap, with ADMM's
        dual point scaled into the full dual set, is within ``tol`` (that dual
        point then also serves the stopping rule) or once its own gap on the
        working set is within ``0.1 tol``; the interior point runs as above if
        neither happens within 1000 iterations.  When the working set of all
        distinct non-empty groups is such a working set (more than 200 groups)
        and at least 75 % of these groups are non-zero after one pass of group
        updates from the start (a dense optimum ahead; the pass is discarded),
        the first outer iteration gives it to ADMM at once, without the
        coordinate-descent warm-up (ADMM's iterates are group-sparse); if its
        10th iterate has at most ``0.2 n`` non-zero coefficients (a sparse
        optimum ahead), ADMM stops there and the working sets continue from
        that iterate.
    warn : bool
        Emit a :class:`ConvergenceWarning` when ``max_iter`` is reached.

    Notes
    -----
    Runs on one BLAS thread (the Newton steps factor matrices of a few hundred
    rows, which multi-threaded BLAS makes slower, and far slower on a loaded
    machine).

    Returns
    -------
    SolverResult
        ``solver="group_cd"``; ``n_iter`` counts passes over working sets.
    """
    from ._optimality import check_datafit, check_x0

    check_datafit(datafit)
    if x0 is not None:
        # checked here, copied once by the implementation
        x0 = check_x0(x0, datafit.design.n_features, copy=False)
    with one_blas_thread():
        return _group_coordinate_descent(datafit, penalty, x0, **kwargs)


def _group_coordinate_descent(datafit, penalty, x0=None, *, tol=1e-6, max_iter=100,
                             max_epochs=2000, p0=None, anderson=5, check_every=5,
                             newton=True, newton_passes=50, max_newton_size=3000,
                             stopping="auto", inner="auto",
                             warn=True):
    """Implementation of :func:`group_coordinate_descent`."""
    if inner not in ("auto", "gram", "residual"):
        raise ValueError(f"inner must be 'auto', 'gram' or 'residual', got {inner!r}")
    if not isinstance(penalty, GroupL2):
        raise TypeError(f"group coordinate descent needs a GroupL2 penalty, got {penalty!r}")
    tol = check_scalar(tol, "tol", low=0)
    max_iter = check_int(max_iter, "max_iter", low=1)
    max_epochs = check_int(max_epochs, "max_epochs", low=1)
    if p0 is not None:
        p0 = check_int(p0, "p0", low=1)
    anderson = check_int(anderson, "anderson", low=0)
    check_every = check_int(check_every, "check_every", low=1)
    rule = resolve_stopping(stopping, penalty)
    design = datafit.design
    cone = bool(getattr(penalty, "cone", False))
    if cone and penalty.design is not design:
        raise ValueError("the ConeGroupL2 penalty was built on another design")
    groups = group_interface(design, penalty.group_size, cone)
    has_gram = hasattr(groups, "working_set_gram")
    if inner == "gram" and not has_gram:
        raise ValueError(f"inner='gram' needs a design with working_set_gram, got "
                         f"{type(design).__name__}")
    if inner == "gram" or (inner == "auto" and has_gram and penalty.group_size <= 64):
        return _group_cd_gram(datafit, penalty, x0, design, cone, tol=tol, max_iter=max_iter,
                              max_epochs=max_epochs, p0=p0, anderson=anderson,
                              check_every=check_every, newton=newton,
                              max_newton_size=max_newton_size, rule=rule, warn=warn)
    n = design.n_features
    p = penalty.group_size
    n_groups = n // p
    thresh = np.ascontiguousarray(penalty.thresholds(n_groups), dtype=np.float64)
    lips = np.ascontiguousarray(groups.group_lipschitz(), dtype=np.float64)
    if x0 is None:
        x = np.zeros(n)
        r = datafit.y.copy()
    else:
        x = np.array(x0, dtype=np.float64).ravel()
        if x.size != n:
            raise ValueError(f"x0 must have {n} entries, got {x.size}")
        if cone:
            x = penalty.prox(x, 0.0)
        r = datafit.residual(x)
    history = []
    kkt_scale = None
    n_epochs = 0
    converged, reason = False, "max_iter"
    chk = None
    prev_support = last_polished = None
    last_polish_iter = 0
    n_newton = 0
    for outer in range(max_iter):
        chk = check_optimality(datafit, penalty, x, r)
        if outer == 0:
            check_finite_start(chk, datafit, x0 is not None)
        history.append(chk.primal)
        if kkt_scale is None:
            kkt_scale = float(np.linalg.norm(
                design.rmatvec(datafit.y).reshape(n_groups, p), axis=1).max(initial=0.0))
        if is_converged(chk, rule, tol, kkt_scale):
            converged = True
            reason = "zero solution" if (outer == 0 and not np.any(x)) else rule
            break
        support = np.linalg.norm(x.reshape(n_groups, p), axis=1) > 0
        stable = prev_support is not None and np.array_equal(support, prev_support)
        fresh = last_polished is None or not np.array_equal(support, last_polished) \
            or outer - last_polish_iter >= 3
        if newton and stable and fresh and 0 < support.sum() * p <= max_newton_size:
            last_polished, last_polish_iter = support, outer
            polished = _newton_polish(datafit, penalty, groups, design, x, support, p,
                                      thresh, cone)
            if polished is not None:
                x, r = polished
                n_newton += 1
                continue
        prev_support = support
        ws = working_set(chk.dist, support, 10 if p0 is None else p0)
        eps_inner = 0.3 * chk.kkt
        acc = _Anderson(anderson) if anderson else None
        ws_idx = (ws[:, None] * p + np.arange(p)).ravel()
        n_passes = min(max_epochs, newton_passes) if newton else max_epochs
        for epoch in range(1, n_passes + 1):
            groups.group_epochs(x, r, ws, lips, thresh, 1, cone)
            n_epochs += 1
            if acc is not None:
                acc.push(x[ws_idx])
                if epoch % anderson == 0:
                    _try_extrapolation(acc, groups, penalty if cone else None, x, r, ws,
                                       ws_idx, thresh, p)
            if epoch % check_every == 0 and \
                    groups.group_violation(x, r, ws, lips, thresh, cone) <= eps_inner:
                break
        if outer % 10 == 9:     # guard against drift of the updated residual
            r = datafit.residual(x)
    else:
        r = datafit.residual(x)
        chk = check_optimality(datafit, penalty, x, r)
        history.append(chk.primal)
        if is_converged(chk, rule, tol, kkt_scale):
            converged, reason = True, rule
    message = "" if converged else stop_message(
        f"group coordinate descent stopped at max_iter={max_iter} outer iterations",
        chk, rule, tol, kkt_scale, _GROUP_SCALE)
    if message and warn:
        warnings.warn(message, ConvergenceWarning, stacklevel=3)
    return SolverResult(coef=x, objective=np.asarray(history), n_iter=n_epochs, gap=chk.gap,
                        kkt_violation=chk.kkt, converged=converged, stop_reason=reason,
                        solver="group_cd", tol=tol, n_outer=len(history), message=message,
                        extra={"newton_steps": n_newton})


_P0_GRAM = 100
#: working sets of more groups (and at most that many coefficients) start with the
#: interior-point method of :mod:`._group_ipm` (without cones)
_IPM_MIN_GROUPS, _IPM_MAX_SIZE = 200, 6000
#: a working set holding every group (at least ``_P0_GRAM`` of them) and at most that
#: many coefficients also goes to the interior-point method (a few cheap factorizations)
_IPM_ALL_SIZE = 1000
#: accuracy of the interior-point method, relative to ``tol * objective``
_IPM_GAP = 0.1
#: repeated solves (each 100 times more accurate) on a working set already solved by the
#: interior-point method whose solution was not certified
_IPM_REPEATS = 2
#: interior-point solves of at least that many coefficients factor in single precision
#: while the gap is above ``_IPM_SINGLE_GAP`` (relative; 0: at every iteration), and remove the groups tending
#: to zero (dual block norm below ``_IPM_SHRINK_DUAL`` times the weight) once it is below
#: each of ``_IPM_SHRINK_GAP`` (see ``interior_point_group_lasso``); with a design
#: providing ``working_set_operator`` and no Newton polish (``newton=False`` or more than
#: ``max_newton_size`` coefficients), they also use that matrix-free operator instead of
#: the double precision Gram matrix.  (Its value equals ``_MASK_GRAM_MIN`` of
#: :mod:`._masked_block_design` by coincidence: the two thresholds are independent.)
_IPM_LARGE = 2000
_IPM_SINGLE_GAP = 0.0
_IPM_SHRINK_GAP, _IPM_SHRINK_DUAL = (3e-2, 1e-3), (0.5, 0.8)
#: such working sets of more coefficients than samples (one output, gap rule) are solved
#: first by the ADMM in sample space of :mod:`._group_admm` when its ``n x n`` float64
#: matrix takes at most that many bytes (the peak is about 1.5 times that: the float32 mask
#: product while the matrix is built); the interior point runs if ADMM is not certified
#: within ``_ADMM_MAX_ITER`` iterations, stalls or cannot factor its matrix
_ADMM_MAX_BYTES = 256 * 2 ** 20
#: ... and at least that many samples (smaller problems keep the interior point: both
#: methods take milliseconds there, and the interior point's tests rely on it)
_ADMM_MIN_SAMPLES = 1000
_ADMM_MAX_ITER = 1000
#: ADMM penalty ``rho = _ADMM_RHO * t * rms(X) / rms(b)`` (``t`` the mean group threshold)
#: and over-relaxation
_ADMM_RHO, _ADMM_RELAX = 8.0, 1.8
#: ADMM started on all groups at once (no working set yet) stops after that many
#: iterations when its iterate has at most that fraction of the samples as non-zero
#: coefficients (the working sets as usual then, from that iterate)
_ADMM_SPARSE_ITER, _ADMM_SPARSE_FRACTION = 10, 0.2
#: ... and is not started (the working sets as usual) when fewer than that fraction of the
#: groups are non-zero after one pass of group updates from the start (see _admm_direct)
_ADMM_DENSE_FRACTION = 0.75


def _group_cd_gram(datafit, penalty, x0, design, cone, *, tol, max_iter, max_epochs, p0,
                   anderson, check_every, newton, max_newton_size, rule, warn):
    """Outer working-set loop with subproblems solved in Gram space."""
    n = design.n_features
    p = penalty.group_size
    n_groups = n // p
    thresh = np.ascontiguousarray(penalty.thresholds(n_groups), dtype=np.float64)
    if x0 is None:
        x = np.zeros(n)
    else:
        x = np.array(x0, dtype=np.float64).ravel()
        if x.size != n:
            raise ValueError(f"x0 must have {n} entries, got {x.size}")
        if cone:
            x = penalty.prox(x, 0.0)
    r = datafit.residual(x)
    history = []
    kkt_scale = None
    n_epochs = 0
    converged, reason = False, "max_iter"
    chk = None
    n_barrier = n_admm = 0
    last_ipm = ipm_state = None
    ipm_repeats = 0
    # dual value of a feasible dual point of the full problem found by the ADMM (its gap
    # at any x is the primal minus it), None if none
    cert_dual = None
    for outer in range(max_iter):
        chk = _with_dual(check_optimality(datafit, penalty, x, r), cert_dual)
        if outer == 0:
            check_finite_start(chk, datafit, x0 is not None)
        history.append(chk.primal)
        if kkt_scale is None:
            kkt_scale = float(np.linalg.norm(
                design.rmatvec(datafit.y).reshape(n_groups, p), axis=1).max(initial=0.0))
        if is_converged(chk, rule, tol, kkt_scale):
            converged = True
            reason = "zero solution" if (outer == 0 and not np.any(x)) else rule
            break
        support = np.linalg.norm(x.reshape(n_groups, p), axis=1) > 0
        primal = chk.primal
        direct = _admm_direct(design, penalty, x, r, thresh, p, rule, primal) \
            if outer == 0 and not cone else None
        if direct is not None:
            # ADMM would take the whole problem: no coordinate-descent warm-up (its
            # iterates are group-sparse, a working set is not needed); the interior
            # point below on the same groups if ADMM is not certified
            ws, x[:], primal = direct
            barrier = True
        else:
            ws = working_set(chk.dist, support, _P0_GRAM if p0 is None else p0)
            barrier = not cone and ws.size * p <= _IPM_MAX_SIZE \
                and (_IPM_MIN_GROUPS < ws.size
                     or (ws.size == n_groups >= _P0_GRAM and n_groups * p <= _IPM_ALL_SIZE))
        if barrier and direct is None:
            ws_ipm = _interior_point_working_set(ws, chk.dist, _IPM_MAX_SIZE // p, support)
            x_ipm, primal_ipm = x, primal
            if hasattr(design, "pattern_representatives"):
                # one group per set of identical (non-empty) groups (weights moved in a
                # copy of x: kept only if the interior-point method runs)
                x_ipm = x.copy()
                ws_ipm, primal_ipm = _distinct_groups(design, ws_ipm, x_ipm, thresh, p,
                                                      penalty, primal)
            if last_ipm is not None and np.all(np.isin(ws_ipm, last_ipm)):
                # solved on these groups already and not certified: more accurately (a
                # few times), then coordinate descent (on the working set ws)
                ipm_repeats += 1
                barrier = ipm_repeats <= _IPM_REPEATS
            else:
                ipm_repeats = 0
            if barrier:
                ws, primal = ws_ipm, primal_ipm
                if x_ipm is not x:
                    x[:] = x_ipm
        sub = GramSubproblem(design, ws, x, chk.corr, thresh, cone)
        use_newton = newton and ws.size * p <= max_newton_size
        # the subproblem is cheap next to an outer iteration: solve it accurately
        eps = min(0.3 * chk.kkt, max(tol, 1e-12) * kkt_scale)
        if barrier:
            # many groups (typically strongly correlated, with a support of about as many
            # coefficients as samples, where Newton on the support is singular): coordinate
            # descent crawls, so an interior-point method in Gram space; the groups left at
            # the interior point's scale (zero at the optimum) are set to zero
            rel = _IPM_GAP * max(tol, 1e-12) * 0.01 ** ipm_repeats

            def certified(xs, sub=sub, x=x, kkt_scale=kkt_scale):
                # with a margin, so that _purify can still zero the groups tending to zero
                trial = x.copy()
                trial[sub.idx] = xs
                return is_converged(check_optimality(datafit, penalty, trial,
                                                     datafit.residual(trial)),
                                    rule, _IPM_GAP * tol, kkt_scale)

            z = early = None
            if not ipm_repeats and _use_admm(design, ws, p, rule):
                # more coefficients than samples: ADMM in sample space (one n x n
                # factorization); the interior point below if it stops at its iteration
                # cap.  Certified by the full problem's duality gap with ADMM's dual point,
                # at the stopping rule's tolerance (its groups are exactly zero or not: no
                # margin for _purify)
                z, n_it, cert, op, early = _admm_working_set(
                    datafit, penalty, design, ws, sub, x, r, p, rel, primal, tol,
                    sparse_check=direct is not None)
                n_admm += n_it
                if z is not None or early is not None:
                    sub.set_x(early if z is None else z, gram_matvec=op.gram_matvec)
                    ipm_state = None
                    if cert is not None:
                        # (any feasible dual point bounds the gap: keep the best)
                        cert_dual = cert if cert_dual is None else max(cert_dual, cert)
            if early is not None:
                # a sparse optimum ahead: ADMM's iterate starts the working sets as
                # without the direct ADMM (not a repeated interior-point working set)
                barrier = False
            elif z is None:
                large = ws.size * p >= _IPM_LARGE
                # large working sets without the Newton polish (which needs the double
                # precision Gram matrix): matrix-free double precision products and a
                # single precision Gram matrix (the double precision one formed only if a
                # solve with the single precision factor fails)
                H = design.working_set_operator(ws) if large and not use_newton and hasattr(
                    design, "working_set_operator") else sub.H
                hmul = getattr(H, "gram_matvec", None)
                Hx = H @ sub.x if hmul is None else hmul(sub.x)
                c = sub.q - Hx
                # the gap is relative to the full objective at the current point (the full
                # problem's value minus the subproblem's is the constant f_offset)
                f_sub = 0.5 * float(sub.x @ Hx) + float(c @ sub.x) + sub.penalty(sub.x)
                # a repeated solve on (a subset of) the same groups resumes where the last
                # one stopped
                start = None
                if ipm_repeats and ipm_state is not None:
                    pos = np.searchsorted(last_ipm, ws)
                    start = tuple(v[pos] for v in ipm_state)
                z, n_ipm, mu, ipm_state = interior_point_group_lasso(
                    H, c, sub.t, p, sub.x, 0.0, rel_tol=rel, f_offset=primal - f_sub,
                    start=start, accept=certified if large else None,
                    single_gap=_IPM_SINGLE_GAP if large else np.inf,
                    shrink_gap=_IPM_SHRINK_GAP if large else 0.0,
                    shrink_dual=_IPM_SHRINK_DUAL)
                sub.set_x(_purify(datafit, penalty, x, sub, z, mu, p, rule, tol, kkt_scale),
                          gram_matvec=hmul)
                n_barrier += n_ipm
                del H
            if barrier and use_newton \
                    and np.count_nonzero(sub.support()) * p <= datafit.y.size:
                # a support of fewer coefficients than rows: Newton on it (kept only if the
                # objective falls) gives the optimum to rounding level
                sub.newton()
            if barrier:
                last_ipm = ws      # again on these groups only if not certified (see above)
        else:
            n_epochs += solve_subproblem(sub, eps, max_epochs=max_epochs,
                                         check_every=check_every, anderson=anderson,
                                         newton=use_newton, newton_every=10)
        x[sub.idx] = sub.x
        if cone and penalty.max_violation(x) > 1e-11:
            x = penalty.prox(x, 0.0)      # exact projection onto the full cones
        r = datafit.residual(x)
    else:
        chk = _with_dual(check_optimality(datafit, penalty, x, r), cert_dual)
        history.append(chk.primal)
        if is_converged(chk, rule, tol, kkt_scale):
            converged, reason = True, rule
    message = "" if converged else stop_message(
        f"group coordinate descent stopped at max_iter={max_iter} outer iterations",
        chk, rule, tol, kkt_scale, _GROUP_SCALE)
    if message and warn:
        warnings.warn(message, ConvergenceWarning, stacklevel=4)
    return SolverResult(coef=x, objective=np.asarray(history), n_iter=n_epochs, gap=chk.gap,
                        kkt_violation=chk.kkt, converged=converged, stop_reason=reason,
                        solver="group_cd", tol=tol, n_outer=len(history), message=message,
                        extra={"inner": "gram", "barrier_newton_steps": n_barrier,
                               "admm_iterations": n_admm})


def _use_admm(design, ws, p, rule):
    """Whether the barrier working set ``ws`` goes to the ADMM of :mod:`._group_admm`.

    Needs a single-output design with ``working_set_operator`` products that
    provide ``sample_gram``, the gap rule (positive thresholds), more
    coefficients than samples, at least ``_ADMM_MIN_SAMPLES`` samples and a
    sample Gram matrix of at most ``_ADMM_MAX_BYTES``.
    """
    n = getattr(design, "n_samples", None)
    return (rule == "gap" and n is not None and getattr(design, "n_outputs", 1) == 1
            and hasattr(design, "working_set_operator")
            and ws.size * p > n >= _ADMM_MIN_SAMPLES and 8 * n * n <= _ADMM_MAX_BYTES)


def _admm_direct(design, penalty, x, r, thresh, p, rule, primal):
    """All distinct non-empty groups, when ADMM would take them at once (else None).

    Returns ``(ws, x_new, primal_new)`` (see :func:`_distinct_groups`) when the
    working set of every distinct non-empty group of a
    :class:`MaskedBlockDesign` is an interior-point working set (more than
    ``_IPM_MIN_GROUPS`` groups, at most ``_IPM_MAX_SIZE`` coefficients) that
    goes to the ADMM (:func:`_use_admm`, positive thresholds) and the optimum
    looks dense: after one pass of exact group updates over these groups from
    ``x`` (residual ``r``; a copy, discarded), at least ``_ADMM_DENSE_FRACTION``
    of them are non-zero.  (Sparse optima are reached faster by the working sets
    than by ADMM, whose setup alone costs about as much as they do.)
    """
    if not hasattr(design, "pattern_representatives"):
        return None
    n_groups = thresh.size
    ws = np.arange(n_groups, dtype=np.int64)
    # cheap checks first (the distinct groups are at most all of them)
    if not _use_admm(design, ws, p, rule):
        return None
    x_new = x.copy()
    ws, primal = _distinct_groups(design, ws, x_new, thresh, p, penalty, primal)
    if not (_IPM_MIN_GROUPS < ws.size and ws.size * p <= _IPM_MAX_SIZE
            and _use_admm(design, ws, p, rule) and np.all(thresh[ws] > 0)):
        return None
    x_probe, r_probe = x_new.copy(), r.copy()
    design.group_epochs(x_probe, r_probe, ws, design.group_lipschitz(), thresh, 1)
    if np.count_nonzero(np.any(x_probe.reshape(-1, p)[ws] != 0, axis=1)) \
            < _ADMM_DENSE_FRACTION * ws.size:
        return None
    return ws, x_new, primal


def _admm_working_set(datafit, penalty, design, ws, sub, x, r, p, rel, primal, tol,
                      sparse_check=False):
    """ADMM on the working set ``ws`` (the other groups fixed at ``x``).

    Returns ``(z, n_iter, dual, op, early)``: ``z`` None if ADMM stopped at
    ``_ADMM_MAX_ITER`` iterations (or early); ``dual`` the dual value of a
    feasible dual point of the full problem whose gap at the new point is at
    most ``tol`` times its objective (None if there is none); ``op`` the
    working set's products; ``early`` the iterate at which ADMM stopped early
    with ``sparse_check`` (None if it did not): iteration ``_ADMM_SPARSE_ITER``
    with at most ``_ADMM_SPARSE_FRACTION * n`` non-zero coefficients (an
    optimum with far fewer coefficients than samples ahead, which the
    working sets of coordinate descent and the interior point reach faster).
    """
    op = design.working_set_operator(ws)
    if not hasattr(op, "sample_gram"):
        return None, 0, None, op, None
    # target of the working set: the residual with the working set's contribution back
    b = r + op.matvec(sub.x)
    rms_b = float(np.sqrt(np.mean(b * b)))
    if rms_b == 0.0 or not np.all(sub.t > 0):
        return None, 0, None, op, None
    rms_x = float(np.sqrt(np.mean(design.X * design.X)))
    rho = _ADMM_RHO * float(np.mean(sub.t)) * rms_x / rms_b
    # the full objective minus the working set's 0.5 ||b - A_W x_W||^2 + sum t_k ||x_k||
    f_offset = primal - 0.5 * float(r @ r) - sub.penalty(sub.x)
    found = []

    def accept(z, theta):
        # the full problem's duality gap at the new point with ADMM's dual point theta
        # (a residual of the working set's problem: rescaled into the full dual set)
        trial = x.copy()
        trial[sub.idx] = z
        res = datafit.residual(trial)
        full_primal = 0.5 * float(res @ res) + penalty.value(trial)
        dual = scaled_dual_value(datafit.y, theta, penalty.dual_scaling(design.rmatvec(theta)))
        if full_primal - dual <= tol * full_primal:
            found.append(dual)
            return True
        return False

    early = []

    def stop(k, z):
        if k != _ADMM_SPARSE_ITER or \
                np.count_nonzero(z) > _ADMM_SPARSE_FRACTION * datafit.y.size:
            return False
        early.append(z.copy())
        return True

    z, n_iter, accepted = admm_group_lasso(
        op, op.sample_gram(), b, sub.t, p, sub.x, rho=rho, rel_tol=rel, f_offset=f_offset,
        relax=_ADMM_RELAX, max_iter=_ADMM_MAX_ITER, accept=accept, accept_tol=tol,
        stop=stop if sparse_check else None)
    return z, n_iter, (found[-1] if accepted else None), op, (early[0] if early else None)


def _with_dual(chk, dual):
    """``chk`` with the gap of the dual value ``dual`` (a feasible dual point) if smaller."""
    if dual is None:
        return chk
    gap = max(chk.primal - dual, 0.0)
    return dataclasses.replace(chk, gap=gap) if gap < chk.gap else chk


def _interior_point_working_set(ws, dist, max_groups, support):
    """``ws`` plus every group violating its optimality condition (at most ``max_groups``).

    The interior-point solution has every group of its working set non-zero,
    so the next working set would be twice as large: working sets that double
    until they hold every group violated at the start cost more (the method is
    cubic in the size) than one solve on all of them, and each intermediate
    solve is far from the full problem's optimum.  When that covers at least
    half of the groups (and all of them fit) and the violated groups outside
    the ``support`` (boolean mask) are at least a quarter of it, every group is
    taken (a few violated groups next to a large support, e.g. after a solve
    that removed the groups tending to zero, are only added); when there are
    too many, the most violated groups are kept.
    """
    n_groups = dist.size
    extra = np.setdiff1d(np.flatnonzero(dist > 0), ws)
    n_new = np.count_nonzero((dist > 0) & ~support)
    if n_groups <= max_groups and 2 * (ws.size + extra.size) >= n_groups \
            and 4 * n_new >= np.count_nonzero(support):
        # most groups: the ones satisfying their condition now may not at the optimum
        return np.arange(n_groups, dtype=np.int64)
    room = max_groups - ws.size
    if extra.size > room:
        extra = extra[np.argsort(-dist[extra], kind="stable")[:room]]
    return np.union1d(ws, extra).astype(np.int64)


def _distinct_groups(design, ws, x, thresh, p, penalty, primal):
    """``ws`` without empty groups and with one group per set of identical groups.

    Groups of a :class:`MaskedBlockDesign` with identical masks (same output
    and sign) have identical columns, and the ones with an empty mask have
    zero columns: the interior-point method (whose cost is cubic in the
    number of groups) needs one group of each set, with the same weight.  The
    weights of the others are moved to it in place in ``x`` (same fitted
    values, a penalty no larger), so they stay zero; weights of empty groups
    are set to zero.  Returns the new working set and the objective at the new
    ``x`` (``primal`` at the old one).
    """
    P = design.n_patterns
    rep = design.pattern_representatives()[ws % P]
    target = np.where(rep >= 0, ws - ws % P + rep, -1)
    # merge only groups of equal weights
    merge = (target >= 0) & (target != ws)
    merge[merge] = thresh[target[merge]] == thresh[ws[merge]]
    target[(target >= 0) & ~merge] = ws[(target >= 0) & ~merge]
    X = x.reshape(-1, p)
    nonzero = np.any(X[ws] != 0, axis=1)
    moved = merge & nonzero
    empty = (target < 0) & nonzero
    if np.any(moved) or np.any(empty):
        before = penalty.value(x)
        np.add.at(X, target[moved], X[ws[moved]])
        X[ws[moved | empty]] = 0.0
        primal += penalty.value(x) - before
    return np.unique(target[target >= 0]).astype(np.int64), primal


def _purify(datafit, penalty, x, sub, z, mu, p, rule, tol, kkt_scale):
    """Set the groups of an interior point at its own scale to zero, if that is safe.

    Groups that vanish at the optimum keep norms of the order of ``mu / t_k``
    (``mu`` the average complementarity) at the interior point.  With many correlated groups their combined
    effect on the residual can still matter, so the largest threshold (among
    ``factor * mu / t_k``) whose zeroed point passes the stopping rule of the
    full problem is used; ``z`` itself otherwise.
    """
    norms = np.linalg.norm(z.reshape(-1, p), axis=1)
    trial = x.copy()
    for factor in (1e3, 1e2, 1e1, 1.0):
        small = norms <= factor * mu / sub.t
        if not np.any(small):
            continue
        zc = z.copy()
        zc.reshape(-1, p)[small] = 0.0
        trial[sub.idx] = zc
        if is_converged(check_optimality(datafit, penalty, trial, datafit.residual(trial)),
                        rule, tol, kkt_scale):
            return zc
    return z


def _try_extrapolation(acc, groups, cone_penalty, x, r, ws, ws_idx, thresh, p):
    x_acc = acc.extrapolate()
    if x_acc is None:
        return
    xw = x_acc.reshape(ws.size, p)
    if cone_penalty is not None:
        xw = groups.project_groups(xw, ws)
    old = x[ws_idx].reshape(ws.size, p)
    r_acc = r.copy()
    groups.apply_delta(r_acc, ws, xw - old)
    t = thresh[ws]
    f_old = 0.5 * float(r @ r) + float(t @ np.linalg.norm(old, axis=1))
    f_new = 0.5 * float(r_acc @ r_acc) + float(t @ np.linalg.norm(xw, axis=1))
    if f_new < f_old:
        x[ws_idx] = xw.ravel()
        r[:] = r_acc


def _newton_polish(datafit, penalty, groups, design, x, support, p, thresh, cone,
                   max_drops=5, max_rounds=30):
    """Newton on the support (faces of the cones); ``(x, r)`` if it lowers the objective.

    Groups that Newton sends through zero are set to zero and Newton restarts
    on the remaining ones (at most ``max_drops`` times).  With cones this is a
    primal active-set method: the step towards the optimum on the current faces
    is cut where a new constraint becomes active (the objective is convex along
    the step and lower at its end, so every cut step lowers it), and Newton
    restarts on the new faces.
    """
    def objective(v):
        r = datafit.residual(v)
        return 0.5 * float(r @ r) + penalty.value(v), r

    f_old, _ = objective(x)
    x_cur, f_cur = x, f_old
    for _ in range(max_rounds if cone else 1):
        S = np.flatnonzero(np.linalg.norm(x_cur.reshape(-1, p), axis=1) > 0)
        if S.size == 0:
            break
        target = _newton_on_faces(datafit, groups, design, x_cur, S, p, thresh, cone,
                                  max_drops)
        if target is None:
            break
        step = _max_feasible_step(design, x_cur, target - x_cur, S, p) if cone else 1.0
        x_try = x_cur + step * (target - x_cur)
        if cone and penalty.max_violation(x_try) > 1e-12:
            x_try = penalty.prox(x_try, 0.0)
        f_try, _ = objective(x_try)
        if not f_try < f_cur:
            break
        x_cur, f_cur = x_try, f_try
        if step >= 1.0:
            break
    if f_cur < f_old:
        return x_cur, datafit.residual(x_cur)
    return None


def _max_feasible_step(design, x, d, S, p):
    """Largest ``t <= 1`` keeping ``(2 D_g - I) X (x_k + t d_k) >= 0`` for the groups ``S``."""
    X, P = design.X, design.n_patterns
    xs, ds = x.reshape(-1, p)[S], d.reshape(-1, p)[S]
    sig = np.where(design._mask_t[S % P], 1.0, -1.0)            # (|S|, n)
    c = sig * (xs @ X.T)
    dc = sig * (ds @ X.T)
    scale = np.abs(ds @ X.T).max(initial=0.0) + 1e-300
    block = dc < -1e-13 * scale
    if not np.any(block):
        return 1.0
    t = np.maximum(c[block], 0.0) / -dc[block]
    return float(min(1.0, t.min()))


def _newton_on_faces(datafit, groups, design, x, S, p, thresh, cone, max_drops):
    """Minimiser of the objective restricted to the support ``S`` (and the current faces)."""
    cols_all = groups.group_columns(S)
    X = x.reshape(-1, p)
    bases_all = design.face_bases(x, S) if cone else [None] * S.size
    keep = np.ones(S.size, dtype=bool)
    y = datafit.y
    z = None
    for _ in range(max_drops + 1):
        idx = np.flatnonzero(keep)
        if idx.size == 0:
            break
        z0, sizes, blocks = [], [], []
        for q in idx:
            N = bases_all[q]
            z0.append(X[S[q]] if N is None else N.T @ X[S[q]])
            sizes.append(p if N is None else N.shape[1])
            if cone:
                Bq = cols_all[:, q * p:(q + 1) * p]
                blocks.append(Bq if N is None else Bq @ N)
        B = (np.hstack(blocks) if cone
             else cols_all[:, (idx[:, None] * p + np.arange(p)).ravel()])
        z, collapsed = newton_group_lasso(B.T @ B, B.T @ y, float(y @ y), sizes,
                                          thresh[S[idx]], np.concatenate(z0))
        if z is not None:
            break
        if collapsed.size == 0:
            return None
        keep[idx[collapsed]] = False
    x_new = x.copy()
    Xn = x_new.reshape(-1, p)
    Xn[S[~keep]] = 0.0
    if z is not None:
        start = 0
        for q, size in zip(idx, sizes):
            zq = z[start:start + size]
            N = bases_all[q]
            Xn[S[q]] = zq if N is None else N @ zq
            start += size
    elif np.any(keep):
        return None
    return x_new
