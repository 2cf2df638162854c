"""Optimality measures shared by all solvers: duality gap and KKT violation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import _describe, as_float_array

STOPPING = ("auto", "gap", "kkt")

# what the solvers call on a penalty
_PENALTY_METHODS = ("value", "prox", "subdiff_distance", "dual_scaling", "has_dual")


def check_datafit(datafit, name: str = "datafit"):
    """Check that ``datafit`` is a least-squares datafit (a :class:`Quadratic`).

    Duck-typed: it needs a :class:`~sparse_events.solvers.Design` ``design``
    and observations ``y`` with one entry per row of the design.  O(1).
    """
    from ._designs import Design

    design = getattr(datafit, "design", None)
    y = getattr(datafit, "y", None)
    if not isinstance(design, Design) or not isinstance(y, np.ndarray):
        raise TypeError(f"{name} must be a datafit such as Quadratic(A, y) (with a design "
                        f"and observations y), got {_describe(datafit)}")
    if y.ndim != 1 or y.size != design.n_rows:
        raise ValueError(f"{name}.y must be 1-D with one entry per row of the design "
                         f"({design.n_rows}), got shape {y.shape}")
    return datafit


def check_penalty(penalty, name: str = "penalty"):
    """Check that ``penalty`` implements the penalty interface of :mod:`sparse_events.solvers`.

    Duck-typed (``value``, ``prox``, ``subdiff_distance``, ``dual_scaling``,
    ``has_dual`` and the ``separable`` flag), e.g. :class:`L1`, :class:`WeightedL1`,
    :class:`NonNegativeL1`, :class:`GroupL2`.  O(1).
    """
    missing = [m for m in _PENALTY_METHODS if not callable(getattr(penalty, m, None))]
    if missing or not hasattr(penalty, "separable"):
        raise TypeError(f"{name} must be a penalty such as L1(alpha), WeightedL1, "
                        f"NonNegativeL1 or GroupL2, got {_describe(penalty)}")
    return penalty


def check_x0(x0, n_features: int, name: str = "x0", *, copy: bool = True):
    """Validate a warm start: real, finite, ``n_features`` entries; returned flat, as float64.

    One pass over ``x0`` (the finiteness check) and, with ``copy``, the one copy
    the solver iterates on.
    """
    x = as_float_array(x0, name, dtype=np.float64, allow_empty=True, copy=copy).ravel()
    if x.size != n_features:
        raise ValueError(f"{name} must have {n_features} entries (one per coefficient), "
                         f"got {x.size}")
    return x


def _check_vector_arg(v, name, size, what):
    """O(1) checks of a 1-D real array argument of ``size`` entries (no pass over the data)."""
    if not isinstance(v, np.ndarray):
        v = as_float_array(v, name, dtype=np.float64, allow_empty=True, finite=False)
    if v.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got {_describe(v)}")
    if v.ndim != 1 or v.size != size:
        raise ValueError(f"{name} must be 1-D with {size} entries ({what}), "
                         f"got shape {v.shape}")
    return v


@dataclass
class Check:
    primal: float
    gap: float
    kkt: float
    corr: np.ndarray  # A^T r
    dist: np.ndarray  # per-coordinate (or group) KKT distances


def check_optimality(datafit, penalty, x, r) -> Check:
    """Primal value, duality gap and KKT violation at ``x`` with residual ``r = y - A x``.

    The gap is computed in the cancellation-free form
    ``0.5 ||r||^2 (1 - 1/s)^2 + pen(x) - c^T x / s`` with ``c = A^T r`` and
    ``s = max(1, dual_scaling(c))`` (equal to primal minus dual at
    ``theta = r / s``).

    Parameters
    ----------
    datafit : Quadratic
    penalty : L1, WeightedL1, NonNegativeL1, GroupL2 or ConeGroupL2
    x : ndarray of shape (n_features,)
        Real, finite coefficients.
    r : ndarray of shape (n_rows,)
        Real, finite residual ``y - A x``.

    Returns
    -------
    Check
        ``primal``, ``gap`` (NaN when the penalty has no dual), ``kkt``,
        ``corr = A^T r`` and the per-coordinate (or per-group) KKT distances ``dist``.

    Notes
    -----
    The argument checks cost O(1) (solvers call this every outer iteration):
    non-finite ``x`` or ``r`` are detected from the non-finite penalty value or
    ``||r||^2`` computed anyway, and only then located by a full pass.
    """
    check_datafit(datafit)
    check_penalty(penalty)
    design = datafit.design
    x = _check_vector_arg(x, "x", design.n_features, "one per coefficient")
    r = _check_vector_arg(r, "r", design.n_rows, "the residual y - A x, one per row")
    return check_from_corr(penalty, x, r, design.rmatvec(r))


def check_from_corr(penalty, x, r, corr) -> Check:
    """:func:`check_optimality` from a given ``corr = A^T r`` (arguments trusted).

    Lets a solver evaluate the optimality measures with ``A^T r`` from another
    operator than the datafit's design (FISTA's cheaper ``products``); with
    the design's own ``A^T r`` the result is :func:`check_optimality`'s.
    """
    rr = float(r @ r)
    pen = penalty.value(x)
    if not (np.isfinite(rr) and np.isfinite(pen)):
        # a non-finite input (or an overflow): name the argument, or carry on on overflow
        as_float_array(x, "x")
        as_float_array(r, "r")
    primal = 0.5 * rr + pen
    dist = penalty.subdiff_distance(x, corr)
    kkt = float(dist.max()) if dist.size else 0.0
    if penalty.has_dual():
        s = max(1.0, penalty.dual_scaling(corr))
        gap = 0.5 * rr * (1.0 - 1.0 / s) ** 2 + pen - float(corr @ x) / s
        gap = max(gap, 0.0)
    else:
        gap = float("nan")
    return Check(primal, gap, kkt, corr, dist)


def resolve_stopping(stopping, penalty):
    if stopping not in STOPPING:
        raise ValueError(f"stopping must be one of {STOPPING}, got {stopping!r}")
    if stopping == "auto":
        return "gap" if penalty.has_dual() else "kkt"
    if stopping == "gap" and not penalty.has_dual():
        raise ValueError("stopping='gap' needs a penalty with alpha > 0 and all weights > 0 "
                         "(with a zero threshold the gap's dual point is undefined); use 'kkt'")
    return stopping


def is_converged(chk: Check, rule: str, tol: float, kkt_scale: float) -> bool:
    """Relative rules: ``gap <= tol * primal`` or ``kkt <= tol * max|A^T y|``.

    Never met at a non-finite objective or measure: ``inf <= tol * inf`` holds in
    floating point, and a diverged iterate must not be certified.
    """
    if not np.isfinite(chk.primal):
        return False
    if rule == "gap":
        return bool(np.isfinite(chk.gap)) and (chk.gap <= tol * chk.primal or chk.primal == 0.0)
    return bool(np.isfinite(chk.kkt)) and (chk.kkt <= tol * kkt_scale or kkt_scale == 0.0)


def check_finite_start(chk: Check, datafit, started: bool) -> None:
    """Refuse a start whose objective ``chk.primal`` is not finite, with a ValueError.

    Otherwise the solvers would iterate on infinities: FISTA reported a diverged
    run blaming the Lipschitz bound, coordinate descent ran to ``max_iter`` and
    returned a nan gap.  Names the cause: ``0.5 ||y||^2`` of the datafit's ``y``
    overflows float64 (the data must be rescaled), or else the starting point.
    """
    if np.isfinite(chk.primal):
        return
    y = datafit.y
    with np.errstate(over="ignore"):
        half_yy = 0.5 * float(y @ y)
    if not np.isfinite(half_yy):
        raise ValueError(
            "the data overflow float64: ||y||^2 of the datafit's y is not finite "
            f"(max |y| = {float(np.abs(y).max()):.3g}); rescale y (e.g. divide y and the "
            "penalty's alpha by max |y|) before solving")
    where = "the starting point x0" if started else "x = 0"
    raise ValueError(f"the objective at {where} is not finite ({chk.primal}): "
                     "the data, the penalty or x0 overflow float64; rescale them")


def stop_message(stopped: str, chk: Check, rule: str, tol: float, kkt_scale,
                 scale_name: str = "max |A^T y|") -> str:
    """The text of a solver's ConvergenceWarning: ``stopped`` (e.g. ``"FISTA stopped
    at max_iter=10"``) and :func:`describe_stop`.  Kept in ``SolverResult.message``
    so that an estimator calling the solver with ``warn=False`` warns with it."""
    return f"{stopped} with {describe_stop(chk, rule, tol, kkt_scale, scale_name)}"


def describe_stop(chk: Check, rule: str, tol: float, kkt_scale,
                  scale_name: str = "max |A^T y|") -> str:
    """The stopping criterion ``rule`` and its value at ``chk``, for a ConvergenceWarning.

    ``"gap"``: the relative duality gap (and the KKT violation).  ``"kkt"``: the
    relative KKT violation ``kkt / kkt_scale`` that :func:`is_converged` tests, and
    the relative gap only when it is defined (with a zero threshold, e.g. ``alpha=0``,
    the gap's dual point is undefined and the gap is nan).  ``scale_name`` names
    ``kkt_scale`` in the message (group solvers scale by ``max_g ||A_g^T y||``).
    """
    rel_gap = chk.gap / max(chk.primal, 1e-300)
    if rule == "gap":
        return f"relative gap {rel_gap:.3g} and KKT violation {chk.kkt:.3g} (tol={tol})"
    rel_kkt = chk.kkt / kkt_scale if kkt_scale else 0.0
    why = (f"; relative gap {rel_gap:.3g}" if np.isfinite(chk.gap) else
           "; used because the duality gap is undefined with a zero penalty threshold, "
           "e.g. alpha=0 or a zero weight")
    return (f"relative KKT violation {rel_kkt:.3g} (KKT violation {chk.kkt:.3g} / "
            f"{scale_name} {float(kkt_scale or 0.0):.3g}, tol={tol}{why})")
