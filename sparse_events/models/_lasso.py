"""scikit-learn compatible LASSO estimator on the shared solver layer."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import check_bool, check_int, check_option, check_scalar
from ..solvers import L1, Quadratic, solve
from ..solvers._designs import DenseDesign, SparseDesign
from ._sklearn_warnings import warn_not_converged


def _intercept(intercept, fit_intercept, y_ndim):
    """``intercept_`` as scikit-learn's Lasso sets it: ``0.0`` without intercept, a float for
    1-D ``y``, else an array of one value per target (shape ``(1,)`` for ``y`` of shape
    ``(n, 1)``)."""
    if not fit_intercept:
        return 0.0
    return float(intercept[0]) if y_ndim == 1 else intercept


class Lasso(RegressorMixin, BaseEstimator):
    r"""Linear model with L1 prior, objective identical to scikit-learn's ``Lasso``.

    Minimises, for each target,

    .. math::

        \frac{1}{2 n_{\mathrm{samples}}} \lVert y - X w - b \rVert_2^2 + \alpha \lVert w \rVert_1

    (``w >= 0`` if ``positive``), with the intercept ``b`` unpenalised when
    ``fit_intercept``.  Internally this is ``0.5 ||y - Xw||^2 + n_samples *
    alpha * ||w||_1`` on centred data, solved by working-set coordinate descent
    (dense or sparse ``X``; sparse ``X`` is centred implicitly, never densified)
    or FISTA.

    Parameters
    ----------
    alpha : float, default=1.0
        L1 strength (scikit-learn scaling), ``>= 0``.
    fit_intercept : bool, default=True
    positive : bool, default=False
    tol : float, default=1e-4
        Relative duality-gap tolerance: stop when ``gap <= tol * objective``.
        (scikit-learn compares its gap with ``tol * ||y||^2 / n``; ours is
        relative to the objective and therefore tighter.)
    max_iter : int, default=1000
        Maximum outer (working-set) iterations of coordinate descent or
        iterations of FISTA.
    solver : {"auto", "cd", "fista"}, default="auto"
    warm_start : bool, default=False
        Reuse ``coef_`` of a previous fit as the starting point.

    Warns
    -----
    ConvergenceWarning
        When the solver stops at ``max_iter``: a subclass of both
        :class:`sparse_events.ConvergenceWarning` and
        ``sklearn.exceptions.ConvergenceWarning``, so a filter on either
        category silences it.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        1-D for one target, ``y`` of shape ``(n_samples,)`` or
        ``(n_samples, 1)`` (as scikit-learn's ``Lasso``).
    intercept_ : float or ndarray of shape (n_targets,)
        ``0.0`` when ``fit_intercept=False``; a float for 1-D ``y``; else an
        array, of shape ``(1,)`` for ``y`` of shape ``(n_samples, 1)`` (as
        scikit-learn's ``Lasso``, so that ``predict`` returns shape
        ``(n_samples,)`` for one target).
    n_iter_ : int or list of int
        Coordinate-descent epochs (or FISTA iterations): an int for one target,
        a list of one per target otherwise.
    dual_gap_ : float or ndarray of shape (n_targets,)
        Final duality gap in scikit-learn's scaling (divided by ``n_samples``);
        a float for one target.
    n_features_in_ : int
    """

    def __init__(self, alpha=1.0, *, fit_intercept=True, positive=False, tol=1e-4,
                 max_iter=1000, solver="auto", warm_start=False):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.positive = positive
        self.tol = tol
        self.max_iter = max_iter
        self.solver = solver
        self.warm_start = warm_start

    def fit(self, X, y):
        """Fit the model; returns ``self``.

        ``X`` of shape (n_samples, n_features), dense or sparse; ``y`` of shape
        (n_samples,) or (n_samples, n_targets).  There is no ``sample_weight``
        (unlike scikit-learn's ``Lasso.fit``).
        """
        alpha = check_scalar(self.alpha, "alpha", low=0)
        tol = check_scalar(self.tol, "tol", low=0)
        max_iter = check_int(self.max_iter, "max_iter", low=1)
        check_option(self.solver, "solver", ("auto", "cd", "fista"))
        check_bool(self.positive, "positive")
        check_bool(self.fit_intercept, "fit_intercept")
        check_bool(self.warm_start, "warm_start")
        X, y = validate_data(self, X, y, accept_sparse="csc", dtype=np.float64,
                             y_numeric=True, multi_output=True)
        n_samples, n_features = X.shape
        Y = y.reshape(n_samples, -1)
        if self.fit_intercept:
            X_offset = np.asarray(X.mean(axis=0)).ravel()
            y_offset = Y.mean(axis=0)
        else:
            X_offset = np.zeros(n_features)
            y_offset = np.zeros(Y.shape[1])
        if sp.issparse(X):
            design = SparseDesign(X, X_offset)
        else:
            design = DenseDesign(X - X_offset)
        penalty = L1(alpha * n_samples, positive=self.positive)
        # one target, y of shape (n,) or (n, 1): 1-D coef_, scalar n_iter_ and dual_gap_
        # (as scikit-learn's Lasso)
        single = Y.shape[1] == 1
        prev = getattr(self, "coef_", None) if self.warm_start else None
        if prev is not None and np.shape(prev) != ((n_features,) if single
                                                   else (Y.shape[1], n_features)):
            prev = None
        coefs, n_iter, gaps = [], [], []
        for k in range(Y.shape[1]):
            x0 = None if prev is None else np.reshape(prev, (-1, n_features))[k]
            res = solve(Quadratic(design, Y[:, k] - y_offset[k]), penalty, x0,
                        solver=self.solver, tol=tol, max_iter=max_iter, warn=False)
            warn_not_converged(res)  # also sklearn's ConvergenceWarning
            coefs.append(res.coef)
            n_iter.append(res.n_iter)
            gaps.append(res.gap / n_samples)
        coef = np.array(coefs)
        self.intercept_ = _intercept(y_offset - coef @ X_offset, self.fit_intercept, y.ndim)
        if single:
            self.coef_, self.n_iter_, self.dual_gap_ = coef[0], n_iter[0], float(gaps[0])
        else:
            self.coef_, self.n_iter_, self.dual_gap_ = coef, n_iter, np.array(gaps)
        return self

    def predict(self, X):
        """Predict with the fitted linear model."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=["csr", "csc"], dtype=np.float64, reset=False)
        return X @ np.asarray(self.coef_).T + self.intercept_

    @property
    def sparse_coef_(self):
        """``coef_`` as a scipy.sparse matrix."""
        return sp.csr_matrix(np.atleast_2d(self.coef_))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags
