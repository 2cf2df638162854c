"""The shared solver layer: datafits, penalties and solvers that compose.

A problem is ``min_x datafit(x) + penalty(x)``; every solver takes a datafit
and a penalty and returns a :class:`SolverResult`.

Example
-------
>>> import numpy as np
>>> from sparse_events.operators import ConvolutionOperator
>>> from sparse_events.solvers import Quadratic, L1, solve
>>> H = ConvolutionOperator(np.array([1.0, 0.5]), 50)
>>> y = H.matvec(np.r_[np.zeros(10), 1.0, np.zeros(39)])
>>> res = solve(Quadratic(H, y), L1(0.01))
>>> int(np.argmax(res.coef))
10
"""

from ._cd import coordinate_descent
from ._cone_group_l2 import ConeGroupL2
from ._datafits import Quadratic
from ._designs import (
    BandedDesign,
    DenseDesign,
    Design,
    OperatorDesign,
    SparseDesign,
    as_design,
)
from ._fista import fista
from ._group_cd import group_coordinate_descent
from ._masked_block_design import MaskedBlockDesign
from ._optimality import check_optimality
from ._penalties import L1, GroupL2, NonNegativeL1, WeightedL1
from ._result import SolverResult
from ._solve import SOLVERS, solve
from .._exceptions import ConvergenceWarning

__all__ = [
    "SOLVERS",
    "BandedDesign",
    "ConeGroupL2",
    "ConvergenceWarning",
    "DenseDesign",
    "Design",
    "GroupL2",
    "L1",
    "MaskedBlockDesign",
    "NonNegativeL1",
    "OperatorDesign",
    "Quadratic",
    "SolverResult",
    "SparseDesign",
    "WeightedL1",
    "as_design",
    "check_optimality",
    "coordinate_descent",
    "fista",
    "group_coordinate_descent",
    "solve",
]
