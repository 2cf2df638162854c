"""The ConvergenceWarning of the scikit-learn estimators (scikit-learn imported here only).

The solver layer warns with :class:`sparse_events.ConvergenceWarning`, which does
not import scikit-learn (``import sparse_events`` stays fast).  The estimators
(``Lasso``, the convex ReLU regressors), whose modules import scikit-learn
anyway, re-emit those warnings as :class:`EstimatorConvergenceWarning`, a
subclass of both ``sparse_events.ConvergenceWarning`` and
``sklearn.exceptions.ConvergenceWarning``: a filter on either category
(e.g. around a grid search) silences them.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning

from .._exceptions import ConvergenceWarning


class EstimatorConvergenceWarning(ConvergenceWarning, _SklearnConvergenceWarning):
    """An estimator's solver stopped before its tolerance.

    Both a :class:`sparse_events.ConvergenceWarning` and a
    ``sklearn.exceptions.ConvergenceWarning``.
    """


@contextmanager
def estimator_convergence_warnings():
    """Re-emit the solver ConvergenceWarnings raised inside as EstimatorConvergenceWarning.

    Other warnings are re-emitted unchanged (category, message and location).
    The re-emitted warnings go through the caller's filters, so
    ``warnings.filterwarnings("ignore", category=sklearn.exceptions.ConvergenceWarning)``
    silences them.
    """
    with warnings.catch_warnings(record=True) as caught:
        # record every solver ConvergenceWarning; the caller's filters decide below
        warnings.simplefilter("always", ConvergenceWarning)
        yield
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            category = (w.category if issubclass(w.category, _SklearnConvergenceWarning)
                        else EstimatorConvergenceWarning)
            # (generator frame, contextlib's __exit__, the estimator's fit, its caller)
            warnings.warn(str(w.message), category, stacklevel=4)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno,
                                   source=w.source)
