"""The ConvergenceWarning of the scikit-learn estimators (scikit-learn imported here only).

The solver layer warns with :class:`sparse_events.ConvergenceWarning`, which does
not import scikit-learn (``import sparse_events`` stays fast).  The estimators
(``Lasso``, the convex ReLU regressors), whose modules import scikit-learn
anyway, call the solvers with ``warn=False`` and warn with the solver's message
as :class:`EstimatorConvergenceWarning`, a subclass of both ``sparse_events.ConvergenceWarning`` and
``sklearn.exceptions.ConvergenceWarning``: a filter on either category
(e.g. around a grid search) silences them.
"""

from __future__ import annotations

import warnings

from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning

from .._exceptions import ConvergenceWarning


class EstimatorConvergenceWarning(ConvergenceWarning, _SklearnConvergenceWarning):
    """An estimator's solver stopped before its tolerance.

    Both a :class:`sparse_events.ConvergenceWarning` and a
    ``sklearn.exceptions.ConvergenceWarning``.
    """


def warn_not_converged(result, stacklevel: int = 3) -> None:
    """Warn with ``result.message`` as an :class:`EstimatorConvergenceWarning` when the
    solve did not converge.

    The estimators call the solvers with ``warn=False`` and then this function:
    one warning per solve, with the solver's text, through the caller's filters
    (``warnings.filterwarnings("ignore", category=sklearn.exceptions.ConvergenceWarning)``
    silences it).  No ``warnings.catch_warnings`` (it swaps process-global state
    and is not thread-safe).  The default ``stacklevel`` (this function, the
    estimator's ``fit``, its caller) points at the line that called ``fit``.
    """
    if not result.converged:
        warnings.warn(result.message, EstimatorConvergenceWarning, stacklevel=stacklevel)
