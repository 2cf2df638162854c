"""Models built on the shared solver layer."""

from ._convex_relu import ConvexGatedReLURegressor, ConvexReLURegressor
from ._convex_relu_1d import ConvexReLU1D
from ._cross_products import CrossProductsResult, cross_products_deconvolve
from ._cross_products_window import refractory_window
from ._deconvolve import alpha_max, debias_coef, deconvolve, make_operator
from ._lasso import Lasso

__all__ = [
    "ConvexGatedReLURegressor",
    "ConvexReLU1D",
    "ConvexReLURegressor",
    "CrossProductsResult",
    "Lasso",
    "alpha_max",
    "cross_products_deconvolve",
    "debias_coef",
    "deconvolve",
    "make_operator",
    "refractory_window",
]
