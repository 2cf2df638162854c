"""Models built on the shared solver layer.

The scikit-learn estimators (``Lasso``, ``ConvexGatedReLURegressor``,
``ConvexReLURegressor``, ``ConvexReLU1D``) are imported on first access, so
``from sparse_events.models import deconvolve`` does not import scikit-learn
(about 1 s on a cold start).
"""

from importlib import import_module

from ._cross_products import CrossProductsResult, cross_products_deconvolve
from ._cross_products_window import refractory_window
from ._deconvolve import alpha_max, debias_coef, deconvolve, make_operator

# estimator name -> private module defining it (imported on first access)
_LAZY_ESTIMATORS = {
    "ConvexGatedReLURegressor": "._convex_relu",
    "ConvexReLURegressor": "._convex_relu",
    "ConvexReLU1D": "._convex_relu_1d",
    "Lasso": "._lasso",
}

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


def __getattr__(name):
    if name in _LAZY_ESTIMATORS:
        value = getattr(import_module(_LAZY_ESTIMATORS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
