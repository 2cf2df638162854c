"""Exact convex training of a two-layer ReLU network on scalar inputs (a LASSO over hinges).

With several input features: an additive model of one-dimensional ReLU networks.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import check_bool, check_int, check_option, check_scalar
from ..solvers import L1, Quadratic, solve
from ._convex_relu import check_objective_target
from ._sklearn_warnings import warn_not_converged


class ConvexReLU1D(RegressorMixin, BaseEstimator):
    r"""Globally optimal two-layer ReLU network on scalar inputs (exact, no sampling).

    For one input feature the training problem of
    ``f(x) = sum_j (w_j x + b_j)_+ a_j + c`` with weight decay on the weights
    (not on the biases ``b_j`` and ``c``),

    .. math::

        \min_{w, b, a, c}\; \frac{1}{2n} \lVert f(x) - y\rVert_2^2
        + \frac{\alpha}{2} \sum_j \big(w_j^2 + a_j^2\big),

    equals the LASSO over the dictionary of hinge (ramp) features with
    breakpoints at the training points (Zeger & Pilanci, eq. 34; Zeger et
    al., "A library of mirrors"):

    .. math::

        \min_{z, c}\; \frac{1}{2n} \lVert A z + c 1 - y\rVert_2^2 + \alpha \lVert z\rVert_1,
        \qquad A = [(x - x_j)_+, \; (x_j - x)_+]_{j}

    (``x_j`` the distinct training inputs; identically zero columns dropped).
    By rescaling, ``(w x + b)_+ a = |w| a (sign(w) x - t)_+`` with penalty
    ``alpha |w| |a|`` at the balanced scaling, and the optimal breakpoints
    ``t`` lie at data points.  The network is read back as
    ``w_j = s_j sqrt(|z_j|)``, ``b_j = -s_j x_j sqrt(|z_j|)``,
    ``a_j = sign(z_j) sqrt(|z_j|)`` (``s_j = +1`` for ``(x - x_j)_+``, ``-1``
    for ``(x_j - x)_+``) and attains the LASSO optimum.  In the unnormalised
    form ``0.5 ||f - y||^2 + beta (||w||^2 + ||a||^2)``, ``beta = n * alpha / 2``.

    With ``d > 1`` input features the model is additive: every hidden neuron
    reads a single feature ``k(j)``,
    ``f(x) = sum_j (w_j x_{k(j)} + b_j)_+ a_j + c = c + sum_k g_k(x_k)``
    (a sum of one-dimensional ReLU networks, one per feature), with the same
    objective; the dictionary is the concatenation of the hinge dictionaries of
    every feature, so the LASSO above is the exact global optimum over such
    networks (for ``d = 1``: over all two-layer ReLU networks).  The LASSO is
    solved by the shared solver layer (working-set coordinate descent on the
    explicit ``n x 2 n d`` dictionary, or FISTA): memory grows as
    ``16 n^2 d`` bytes.

    Parameters
    ----------
    alpha : float, default=1e-3
        Weight-decay strength in the scaling above, ``>= 0``.
    fit_intercept : bool, default=True
        Fit the unpenalised output bias ``c``.
    tol : float, default=1e-6
        Relative duality-gap tolerance of the LASSO.
    max_iter : int, default=1000
        Outer iterations of coordinate descent (FISTA iterations).
    solver : {"auto", "cd", "fista"}, default="auto"

    Attributes
    ----------
    breakpoints_ : ndarray of shape (n_active_neurons_,)
        Breakpoint ``x_j`` of every active neuron (in its feature).
    breakpoint_samples_ : ndarray of shape (n_active_neurons_,)
        Index of a training sample at each breakpoint (the sample that defines
        the neuron).
    neuron_features_ : ndarray of shape (n_active_neurons_,)
        Input feature ``k(j)`` read by every active neuron.
    neuron_directions_ : ndarray of shape (n_active_neurons_,)
        ``+1`` for ``(x - x_j)_+``, ``-1`` for ``(x_j - x)_+``.
    first_layer_weights_ : ndarray of shape (n_features + 1, n_active_neurons_)
        Column ``j``: weight ``w_j`` in row ``k(j)`` (zeros in the other
        feature rows) and the hidden bias ``b_j`` in the last row.
    second_layer_weights_ : ndarray of shape (n_active_neurons_, n_outputs)
    neuron_outputs_ : ndarray of shape (n_active_neurons_,)
    intercept_ : ndarray of shape (n_outputs,)
        Output bias ``c``.
    lasso_coef_ : ndarray of shape (n_outputs, n_columns)
        LASSO solution over the dictionary columns.
    n_active_neurons_ : int
    objective_ : float
        Final LASSO objective (the scaling above), summed over outputs.
    optimality_ : float
        Largest relative duality gap over outputs.
    converged_ : bool
    n_iter_ : int
        Largest number of solver iterations over outputs (at least 1).
    n_features_in_ : int
    """

    def __init__(self, alpha=1e-3, *, fit_intercept=True, tol=1e-6, max_iter=1000,
                 solver="auto"):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.solver = solver

    @staticmethod
    def _dictionary(x, knots, directions):
        diff = x[:, None] - knots[None, :]
        return np.maximum(directions[None, :] * diff, 0.0)

    def fit(self, X, y):
        """Solve the LASSO and read back the network; returns ``self``."""
        alpha = check_scalar(self.alpha, "alpha", low=0)
        fit_intercept = check_bool(self.fit_intercept, "fit_intercept")
        tol = check_scalar(self.tol, "tol", low=0)
        max_iter = check_int(self.max_iter, "max_iter", low=1)
        check_option(self.solver, "solver", ("auto", "cd", "fista"))
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, multi_output=True)
        n, d = X.shape
        Y = y.reshape(n, -1)
        blocks, knots_all, dirs_all, samples_all, feats_all = [], [], [], [], []
        for k in range(d):
            x = X[:, k]
            knots, first = np.unique(x, return_index=True)
            kn = np.r_[knots, knots]
            dr = np.r_[np.ones(knots.size), -np.ones(knots.size)]
            A_k = self._dictionary(x, kn, dr)
            keep = np.any(A_k != 0, axis=0)
            blocks.append(A_k[:, keep])
            knots_all.append(kn[keep])
            dirs_all.append(dr[keep])
            samples_all.append(np.r_[first, first][keep])
            feats_all.append(np.full(int(keep.sum()), k, dtype=np.int64))
        A = np.hstack(blocks)
        knots_all, dirs_all = np.concatenate(knots_all), np.concatenate(dirs_all)
        samples_all, feats_all = np.concatenate(samples_all), np.concatenate(feats_all)
        if fit_intercept:
            a_mean, y_mean = A.mean(axis=0), Y.mean(axis=0)
        else:
            a_mean, y_mean = np.zeros(A.shape[1]), np.zeros(Y.shape[1])
        Ac = A - a_mean
        coefs, gaps, objs, conv, iters = [], [], [], [], [1]
        for k in range(Y.shape[1]):
            if A.shape[1] == 0:     # e.g. a single sample: no hinge feature
                coefs.append(np.zeros(0))
                gaps.append(0.0)
                objs.append(0.5 * float(np.sum((Y[:, k] - y_mean[k]) ** 2)) / n)
                conv.append(True)
                continue
            datafit = Quadratic(Ac, Y[:, k] - y_mean[k])
            res = solve(datafit, L1(n * alpha), solver=self.solver, tol=tol,
                        max_iter=max_iter, warn=False)
            warn_not_converged(res)  # also sklearn's ConvergenceWarning
            coefs.append(res.coef)
            gaps.append(res.gap / max(res.objective[-1], 1e-300))
            objs.append(res.objective[-1] / n)
            conv.append(bool(res.converged))
            iters.append(int(res.n_iter))
        Z = np.array(coefs).reshape(Y.shape[1], A.shape[1])
        self.lasso_coef_ = Z
        self.intercept_ = y_mean - Z @ a_mean
        self.objective_ = float(np.sum(objs))
        self.optimality_ = float(np.max(gaps))
        self.converged_ = bool(all(conv))
        self.n_iter_ = max(iters)
        o, j = np.nonzero(Z)
        z = Z[o, j]
        sz = np.sqrt(np.abs(z))
        s = dirs_all[j]
        W = np.zeros((d + 1, o.size))
        W[feats_all[j], np.arange(o.size)] = s * sz
        W[d] = -s * knots_all[j] * sz
        self.first_layer_weights_ = W
        self.neuron_features_ = feats_all[j]
        A2 = np.zeros((o.size, Y.shape[1]))
        A2[np.arange(o.size), o] = np.sign(z) * sz
        self.second_layer_weights_ = A2
        self.neuron_outputs_ = o
        self.neuron_directions_ = s.astype(int)
        self.breakpoints_ = knots_all[j]
        self.breakpoint_samples_ = samples_all[j]
        self.n_active_neurons_ = int(o.size)
        self.X_fit_ = X.copy()  # validate_data may return the caller's array
        return self

    def _forward(self, X):
        Xa = np.hstack([X, np.ones((X.shape[0], 1))])
        H = np.maximum(Xa @ self.first_layer_weights_, 0.0)
        out = H @ self.second_layer_weights_ + self.intercept_
        # one output, y of shape (n,) or (n, 1): 1-D, as scikit-learn's MLPRegressor
        return out[:, 0] if out.shape[1] == 1 else out

    def predict(self, X):
        """Evaluate the reconstructed ReLU network.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            1-D for one output, whether ``y`` was fitted as ``(n,)`` or ``(n, 1)``
            (as scikit-learn's ``MLPRegressor`` and :class:`~sparse_events.Lasso`);
            ``(n_samples, n_outputs)`` for several.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self._forward(X)

    def nonconvex_objective(self, X, y):
        r"""``(1/(2n)) ||f(X) - y||^2 + (alpha/2) (||w||^2 + ||a||^2)`` of the network."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        Y = check_objective_target(y, X.shape[0], self.second_layer_weights_.shape[1])
        F = self._forward(X).reshape(Y.shape)
        fit = 0.5 * float(np.sum((F - Y) ** 2)) / X.shape[0]
        return fit + 0.5 * self.alpha * (float(np.sum(self.first_layer_weights_[:-1] ** 2))
                                         + float(np.sum(self.second_layer_weights_ ** 2)))

    def explain_neurons(self):
        """For every active neuron: its breakpoint, the training sample there and the active side.

        Returns
        -------
        list of dict
            Keys ``neuron``, ``output``, ``feature``, ``breakpoint``, ``breakpoint_sample``,
            ``direction`` (+1: active for ``x > breakpoint``), ``second_layer_weight``
            and ``active_samples`` (training indices where the neuron is positive).
        """
        check_is_fitted(self)
        out = []
        for j in range(self.n_active_neurons_):
            x = self.X_fit_[:, self.neuron_features_[j]]
            side = self.neuron_directions_[j] * (x - self.breakpoints_[j]) > 0
            out.append({
                "neuron": j,
                "output": int(self.neuron_outputs_[j]),
                "feature": int(self.neuron_features_[j]),
                "breakpoint": float(self.breakpoints_[j]),
                "breakpoint_sample": int(self.breakpoint_samples_[j]),
                "direction": int(self.neuron_directions_[j]),
                "second_layer_weight": float(
                    self.second_layer_weights_[j, self.neuron_outputs_[j]]),
                "active_samples": np.flatnonzero(side),
            })
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
