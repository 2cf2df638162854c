"""The result dataclass every solver returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SolverResult:
    """Outcome of a solve.

    Attributes
    ----------
    coef : ndarray
        Solution.  Flat ``(n_features,)`` from the solvers; the model functions
        reshape it (``(N,)`` for one kernel, ``(P, N)`` for a dictionary, with a
        leading ``n_signals`` axis for several signals).
    objective : ndarray
        Objective value at every check (every outer iteration of coordinate
        descent, every ``check_every`` iterations of FISTA); the last entry is the
        objective at ``coef``.
    n_iter : int or ndarray
        Iterations performed (coordinate-descent epochs over the working set, or
        FISTA iterations); per signal for batch results.
    gap : float or ndarray
        Final duality gap (absolute), ``nan`` where no dual point is available.
    kkt_violation : float or ndarray
        Final largest distance of ``-grad f(coef)`` to the subdifferential of
        the penalty (absolute, in the units of ``A^T r``).
    converged : bool or ndarray
        Whether the stopping rule was met.
    stop_reason : str or list of str
        ``"gap"``, ``"kkt"``, ``"zero solution"`` or ``"max_iter"``.
    solver : str
        ``"cd"`` or ``"fista"``.
    tol : float
        Relative tolerance used: ``gap <= tol * objective`` (or
        ``kkt_violation <= tol * max|A^T y|`` for the KKT rule).
    n_outer : int or ndarray
        Outer (working-set) iterations of coordinate descent; equals the number
        of checks for FISTA.
    coef_debiased : ndarray or None
        Least-squares refit of the amplitudes on the support of ``coef``
        (only when debiasing was asked for).
    extra : dict
        Solver-specific diagnostics.
    message : str
        Why the solver stopped before its tolerance: the text of its
        ConvergenceWarning (set with ``warn=False`` as well); empty when it
        converged.
    """

    coef: np.ndarray
    objective: np.ndarray
    n_iter: int
    gap: float
    kkt_violation: float
    converged: bool
    stop_reason: str
    solver: str
    tol: float
    n_outer: int = 0
    coef_debiased: np.ndarray | None = None
    extra: dict = field(default_factory=dict)
    message: str = ""

    @property
    def objective_history(self) -> np.ndarray:
        """Alias of :attr:`objective`."""
        return self.objective
