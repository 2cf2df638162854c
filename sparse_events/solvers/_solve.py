"""Solver dispatch."""

from __future__ import annotations

from .._validation import check_option
from ._cd import coordinate_descent
from ._fista import fista
from ._optimality import check_datafit, check_penalty

SOLVERS = ("auto", "cd", "fista")
# options of coordinate_descent that fista does not have
_CD_ONLY = ("max_epochs", "p0", "anderson")


def solve(datafit, penalty, x0=None, *, solver="auto", **kwargs):
    """Minimise ``datafit + penalty`` with the best applicable solver.

    ``solver="auto"`` picks coordinate descent when the design supports it
    (banded convolution operators, dense and sparse matrices) and the penalty
    is separable, FISTA otherwise.  Keyword arguments go to the solver.  The
    coordinate-descent options ``max_epochs``, ``p0`` and ``anderson`` are
    ignored when ``"auto"`` picks FISTA, and refused (``TypeError``) with
    ``solver="fista"``.
    """
    check_datafit(datafit)
    check_penalty(penalty)
    check_option(solver, "solver", SOLVERS)
    requested = solver
    if solver == "auto":
        solver = "cd" if (datafit.design.supports_cd and penalty.separable) else "fista"
    if solver == "cd":
        return coordinate_descent(datafit, penalty, x0, **kwargs)
    cd_only = [k for k in _CD_ONLY if k in kwargs]
    if cd_only and requested == "fista":
        raise TypeError(f"{', '.join(cd_only)} only appl{'y' if len(cd_only) > 1 else 'ies'} "
                        "to coordinate descent, not to solver='fista'; remove "
                        f"{'them' if len(cd_only) > 1 else 'it'}")
    for k in cd_only:
        del kwargs[k]
    return fista(datafit, penalty, x0, **kwargs)
