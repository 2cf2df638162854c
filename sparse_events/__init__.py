"""sparse-events: sparse deconvolution and event detection in signals.

A signal is modelled as ``y = H s + w``: a sparse train of events ``s`` seen
through a linear system ``H`` (convolution with an event shape) plus noise.

Subpackages (imported lazily, so ``import sparse_events`` stays fast):

``operators``
    Matrix-free convolution, dictionary and symmetric Toeplitz operators.
``solvers``
    Datafits, penalties, FISTA and banded coordinate descent.
``models``
    LASSO deconvolution, the cross-products LASSO, the convex ReLU regressors.
``ecg``, ``gamma``
    Applications: R-peak detection, six-lead reconstruction; pile-up and dead time.
"""

from importlib import import_module

__version__ = "0.1.0"

# public name -> subpackage that defines it (resolved on first access)
_LAZY_ATTRIBUTES = {
    "Lasso": "models",
    "deconvolve": "models",
    "alpha_max": "models",
    "cross_products_deconvolve": "models",
    "refractory_window": "models",
    "CrossProductsResult": "models",
    "ConvexGatedReLURegressor": "models",
    "ConvexReLURegressor": "models",
    "ConvexReLU1D": "models",
    "SolverResult": "solvers",
    "ConvergenceWarning": "_exceptions",
    "ConvolutionOperator": "operators",
    "DictionaryOperator": "operators",
    "SymmetricToeplitzOperator": "operators",
}
_SUBPACKAGES = (
    "operators", "solvers", "models", "datasets", "metrics", "ecg", "gamma", "plotting",
    "batch", "cli",
)

__all__ = sorted(_LAZY_ATTRIBUTES) + list(_SUBPACKAGES) + ["__version__"]


def __getattr__(name):
    if name in _SUBPACKAGES:
        module = import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    if name in _LAZY_ATTRIBUTES:
        module = import_module(f"{__name__}.{_LAZY_ATTRIBUTES[name]}")
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
