"""Solver dispatch."""

from __future__ import annotations

from .._validation import check_option
from ._cd import coordinate_descent
from ._fista import fista
from ._optimality import check_datafit, check_penalty

SOLVERS = ("auto", "cd", "fista")


def solve(datafit, penalty, x0=None, *, solver="auto", **kwargs):
    """Minimise ``datafit + penalty`` with the best applicable solver.

    ``solver="auto"`` picks coordinate descent when the design supports it
    (banded convolution operators, dense and sparse matrices) and the penalty
    is separable, FISTA otherwise.  Keyword arguments go to the solver.
    """
    check_datafit(datafit)
    check_penalty(penalty)
    check_option(solver, "solver", SOLVERS)
    if solver == "auto":
        solver = "cd" if (datafit.design.supports_cd and penalty.separable) else "fista"
    if solver == "cd":
        return coordinate_descent(datafit, penalty, x0, **kwargs)
    kwargs.pop("max_epochs", None)
    kwargs.pop("p0", None)
    kwargs.pop("anderson", None)
    return fista(datafit, penalty, x0, **kwargs)
