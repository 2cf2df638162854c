"""Accelerated proximal gradient (FISTA) with adaptive restart."""

from __future__ import annotations

import warnings

import numpy as np

from .._exceptions import ConvergenceWarning
from .._validation import all_finite, check_bool, check_int, check_scalar
from ._optimality import (
    check_datafit,
    check_finite_start,
    check_from_corr,
    check_optimality,
    check_penalty,
    check_x0,
    is_converged,
    resolve_stopping,
    stop_message,
)
from ._result import SolverResult

#: relative accuracy (gap or KKT) below which FISTA drops cheaper ``products``
_PRODUCTS_FLOOR = 1e-5
#: with cheaper ``products`` and tol > _PRODUCTS_FLOOR, a check is certified in float64
#: only when the estimate from the products meets this multiple of tol ...
_PRECHECK_FACTOR = 1.25
#: ... or when the previous _CERTIFY_EVERY - 1 checks were estimates only (the estimate
#: can overstate the gap a few times at small alpha); with tol <= _PRODUCTS_FLOOR every
#: check is certified (estimates there delayed the switch to float64 products by
#: thousands of iterations, or past max_iter)
_CERTIFY_EVERY = 5


def fista(datafit, penalty, x0=None, *, tol=1e-6, max_iter=10000, check_every=10,
          restart=True, lipschitz=None, stopping="auto", warn=True, products=None):
    r"""FISTA for ``0.5 ||y - A x||^2 + pen(x)``, matrix-free.

    Beck & Teboulle's accelerated proximal gradient with step ``1 / L``
    (``L`` an upper bound of ``||A||_2^2``) and O'Donoghue & Candes' gradient
    restart (momentum reset when ``(z_k - x_{k+1})^T (x_{k+1} - x_k) > 0``).
    One ``A`` and one ``A^T`` product per iteration, plus one ``A^T`` product
    every ``check_every`` iterations for the stopping rule.

    Parameters
    ----------
    datafit : Quadratic
        Any design (convolution operator, matrix, LinearOperator).
    penalty : any penalty of :mod:`sparse_events.solvers` (needs ``prox``).
    x0 : ndarray, optional
        Warm start.
    tol : float
        Relative tolerance (``gap <= tol * primal`` or ``kkt <= tol * max|A^T y|``).
    max_iter : int
        Maximum number of iterations.
    check_every : int
        Iterations between evaluations of the stopping rule.
    restart : bool
        Adaptive (gradient) restart.
    lipschitz : float, optional
        Override the design's Lipschitz constant.
    stopping : {"auto", "gap", "kkt"}
    warn : bool
    products : Design, optional
        Operator used for the two products of every iteration instead of
        ``datafit.design``: the same matrix up to rounding, typically a cheaper
        lower-precision copy such as
        :meth:`MaskedBlockDesign.float32_products
        <sparse_events.solvers.MaskedBlockDesign.float32_products>`.  Only the
        iterates are computed with it.  When ``tol`` is above ``1e-5``, every
        check first estimates the stopping measures (``A^T r`` from
        ``products``, the residual from the iterate's ``A x``); when that
        estimate meets 1.25 times the goal (``1.25 * tol``, the rule's
        quantity), at every fifth check, at ``max_iter``, and at every check
        when ``tol <= 1e-5``,
        ``A x``, the residual, the objective, ``A^T r``, the duality gap and the
        stopping test are recomputed in float64 with ``datafit.design``.  The
        solver stops only on that float64 test, so the returned
        ``gap``/``objective`` certify the returned ``x`` exactly as without
        ``products``; ``max|A^T y|`` is float64 too.  (The estimate only spares
        the two float64 products of most checks far from convergence; its gap
        can be a few times the float64 one at small ``alpha``, hence the
        certificate at every fifth check; the entries of ``objective`` at the
        estimated checks are the estimate's.)  The step size is
        ``1 / datafit.design.lipschitz()`` unless ``lipschitz`` is given.
        Rounding in ``products`` stalls the iterates at some
        accuracy (with float32 products, an absolute gap of about ``5e-7``
        times ``0.5 ||y||^2``, so a relative gap that can stay above ``1e-5``
        when the objective is far below ``0.5 ||y||^2``, i.e. at small alpha):
        once the relative gap (``"kkt"`` rule: the relative KKT violation)
        falls below ``1e-5`` without meeting ``tol``, the remaining
        iterations use ``datafit.design``, so any ``tol`` can be reached from
        there.  A stall above ``1e-5`` is not detected (known limitation): the
        run ends at ``max_iter`` with ``converged=False`` and a warning; use the
        design itself (float64) for such problems.

    Returns
    -------
    SolverResult

    Raises
    ------
    FloatingPointError
        When the iteration diverges (non-finite coefficients or objective at a
        check): the step ``1 / lipschitz`` is too large, i.e. ``lipschitz`` is
        below ``||A||_2^2``, or ``products`` is not the same matrix as the
        design.  A diverged run is never returned as a result, so
        ``converged=True`` always comes with a finite objective and gap.
    """
    check_datafit(datafit)
    check_penalty(penalty)
    tol = check_scalar(tol, "tol", low=0)
    max_iter = check_int(max_iter, "max_iter", low=1)
    check_every = check_int(check_every, "check_every", low=1)
    restart = check_bool(restart, "restart")
    rule = resolve_stopping(stopping, penalty)
    design, y = datafit.design, datafit.y
    n = design.n_features
    L = (check_scalar(lipschitz, "lipschitz", low=0) if lipschitz is not None
         else design.lipschitz())
    x = np.zeros(n) if x0 is None else check_x0(x0, n)
    products_given = products is not None
    if products is None:
        products = design
    elif (getattr(products, "n_rows", None), getattr(products, "n_features", None)) != \
            (design.n_rows, n):
        raise ValueError(f"products must have the design's shape ({design.n_rows}, {n}), "
                         f"got {type(products).__name__}")
    started = bool(np.any(x))
    Ax = design.matvec(x) if started else np.zeros(design.n_rows)
    history = []
    chk = check_optimality(datafit, penalty, x, y - Ax)
    # max|A^T y|: from x = 0 the check just computed A^T y (A^T r with r = y)
    kkt_scale = float(np.abs(design.rmatvec(y) if started else chk.corr).max())
    check_finite_start(chk, datafit, started)
    history.append(chk.primal)
    if L == 0.0 or is_converged(chk, rule, tol, kkt_scale):
        reason = "zero solution" if not started else rule
        return SolverResult(coef=x, objective=np.asarray(history), n_iter=0, gap=chk.gap,
                            kkt_violation=chk.kkt, converged=True, stop_reason=reason,
                            solver="fista", tol=tol, n_outer=1)
    step = 1.0 / L
    # float64 certificate when the products' estimate is within 25 % of the goal (on the
    # LUDB six-lead fits, tol 0.05, the estimated relative gap was within 1.4e-5 of itself)
    precheck_tol = _PRECHECK_FACTOR * tol
    z, Az = x.copy(), Ax.copy()
    t = 1.0
    converged, reason, it = False, "max_iter", 0
    n_estimated = 0  # consecutive checks decided on the products' estimate alone
    # estimates only when tol is above the products' floor: below it, every check is
    # certified, which also decides (as soon as possible) when to drop the products
    estimate_checks = tol > _PRODUCTS_FLOOR
    for it in range(1, max_iter + 1):
        corr_z = products.rmatvec(y - Az)
        x_new = penalty.prox(z + step * corr_z, step)
        Ax_new = products.matvec(x_new)
        if restart and float((z - x_new) @ (x_new - x)) > 0.0:
            t = 1.0
        t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
        beta = (t - 1.0) / t_new
        z = x_new + beta * (x_new - x)
        Az = Ax_new + beta * (Ax_new - Ax)
        x, Ax, t = x_new, Ax_new, t_new
        if it % check_every == 0 or it == max_iter:
            if not all_finite(x):
                raise _diverged(it, history[0], float("nan"), lipschitz, L, design, products_given)
            if (products is not design and estimate_checks and it < max_iter
                    and n_estimated < _CERTIFY_EVERY - 1):
                # estimate with the products; the float64 certificate only near tol
                # (and at every _CERTIFY_EVERY-th check)
                r = y - Ax
                est = check_from_corr(penalty, x, r, products.rmatvec(r))
                if not is_converged(est, rule, precheck_tol, kkt_scale):
                    history.append(est.primal)
                    n_estimated += 1
                    continue
            n_estimated = 0
            if products is not design:
                # the certificate in float64 with the exact design
                Ax = design.matvec(x)
            chk = check_optimality(datafit, penalty, x, y - Ax)
            if not np.isfinite(chk.primal):
                raise _diverged(it, history[0], chk.primal, lipschitz, L, design, products_given)
            history.append(chk.primal)
            if is_converged(chk, rule, tol, kkt_scale):
                converged, reason = True, rule
                break
            if products is not design and is_converged(chk, rule, _PRODUCTS_FLOOR, kkt_scale):
                products = design  # beyond the accuracy of the cheaper products
    message = "" if converged else stop_message(
        f"FISTA stopped at max_iter={max_iter}", chk, rule, tol, kkt_scale)
    if message and warn:
        warnings.warn(message, ConvergenceWarning, stacklevel=2)
    return SolverResult(coef=x, objective=np.asarray(history), n_iter=it, gap=chk.gap,
                        kkt_violation=chk.kkt, converged=converged, stop_reason=reason,
                        solver="fista", tol=tol, n_outer=len(history), message=message)


def _diverged(it, start, primal, lipschitz, L, design, products_given):
    """The :class:`FloatingPointError` of a diverged FISTA run, naming the likely cause."""
    causes = []
    if lipschitz is not None:
        causes.append(f"lipschitz={L:.6g} was given, but the step 1/lipschitz is only safe "
                      f"for lipschitz >= ||A||_2^2 (the design's bound: "
                      f"{design.lipschitz():.6g}); leave lipschitz=None or give a larger value")
    if products_given:
        causes.append("products is not the same matrix as datafit.design")
    if not causes:
        causes.append(f"the design's Lipschitz bound {L:.6g} is below ||A||_2^2 (e.g. a "
                      "LinearOperator whose rmatvec is not the adjoint of its matvec)")
    return FloatingPointError(
        f"FISTA diverged at iteration {it} (objective {primal:.3g}, {start:.3g} at the start; "
        f"non-finite coefficients or objective): {'; or '.join(causes)}")
