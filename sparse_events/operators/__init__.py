"""Matrix-free linear operators for sparse deconvolution.

Every operator is a :class:`scipy.sparse.linalg.LinearOperator` with an exact
adjoint (proven by dot tests) and an upper bound of its norm.
"""

from ._convolution import (
    MODES,
    ConvolutionOperator,
    DictionaryOperator,
    coef_length,
    mode_geometry,
)
from ._filtering import choose_method
from ._toeplitz import SymmetricToeplitzOperator

__all__ = [
    "MODES",
    "ConvolutionOperator",
    "DictionaryOperator",
    "SymmetricToeplitzOperator",
    "choose_method",
    "coef_length",
    "mode_geometry",
]
