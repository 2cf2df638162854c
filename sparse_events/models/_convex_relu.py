"""Convex two-layer ReLU regressors: gated (group LASSO) and exact (cone-constrained)."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import (as_float_array, check_bool, check_int, check_option,
                           check_random_state, check_scalar)
from ..solvers import (ConeGroupL2, GroupL2, MaskedBlockDesign, Quadratic, fista,
                       group_coordinate_descent)
from ._sklearn_warnings import warn_not_converged

SOLVERS = ("auto", "cd", "fista")
PRECISIONS = ("float64", "float32")


_OBJECTIVE_DOC = r"""
    Let ``X~ = [X, 1]`` (``fit_intercept=True``) or ``X~ = X``, with ``p``
    columns, ``n`` samples, and ``D_g = diag(1[X~ h_g >= 0])`` the activation
    pattern of gate ``h_g`` (``g = 1..P``, ``h_g ~ N(0, I_p)`` drawn from
    ``random_state``, or given by ``gates``)."""


def check_objective_target(y, n_samples, n_outputs):
    """``y`` of a fitted model's objective as an ``(n_samples, n_outputs)`` array.

    One output: shape ``(n_samples,)`` or ``(n_samples, 1)``; several: exactly
    ``(n_samples, n_outputs)`` (a flattened ``y`` is refused, not regrouped).
    """
    y = as_float_array(y, "y", dtype=np.float64, ndim=(1, 2))
    if y.shape == (n_samples, n_outputs) or (n_outputs == 1 and y.shape == (n_samples,)):
        return y.reshape(n_samples, n_outputs)
    expected = f"({n_samples},) or ({n_samples}, 1)" if n_outputs == 1 else \
        f"({n_samples}, {n_outputs})"
    raise ValueError(f"y must have shape {expected} (n_samples of X, n_outputs of the fitted "
                     f"model), got {y.shape}")


class _ConvexReLUBase(RegressorMixin, BaseEstimator):
    _n_signs = 1

    def __init__(self, n_patterns=100, alpha=1e-3, *, fit_intercept=True, gates=None,
                 tol=1e-6, max_iter=1000, solver="auto", random_state=None,
                 precision="float64"):
        self.n_patterns = n_patterns
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.gates = gates
        self.tol = tol
        self.max_iter = max_iter
        self.solver = solver
        self.random_state = random_state
        self.precision = precision

    # ----------------------------------------------------------------- helpers
    def _augment(self, X):
        if check_bool(self.fit_intercept, "fit_intercept"):
            return np.hstack([X, np.ones((X.shape[0], 1))])
        return np.ascontiguousarray(X)

    def _draw_gates(self, p):
        if self.gates is not None:
            G = as_float_array(self.gates, "gates", dtype=np.float64, ndim=2)
            if G.shape[0] != p:
                raise ValueError(
                    f"gates must have shape (n_features{' + 1' if self.fit_intercept else ''}"
                    f"={p}, n_gates), got {G.shape}")
            # a copy: the fitted gates_ must not follow later changes to the caller's array
            return np.array(G, order="C")
        n_patterns = check_int(self.n_patterns, "n_patterns", low=1)
        rng = check_random_state(self.random_state)
        return rng.standard_normal((p, n_patterns))

    def fit(self, X, y):
        """Solve the convex program and reconstruct the network; returns ``self``.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features)
        y : array_like of shape (n_samples,) or (n_samples, n_outputs)
        """
        check_int(self.n_patterns, "n_patterns", low=1)
        check_bool(self.fit_intercept, "fit_intercept")
        alpha = check_scalar(self.alpha, "alpha", low=0)
        tol = check_scalar(self.tol, "tol", low=0)
        max_iter = check_int(self.max_iter, "max_iter", low=1)
        check_option(self.solver, "solver", SOLVERS)
        check_option(self.precision, "precision", PRECISIONS)
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True, multi_output=True)
        n = X.shape[0]
        Y = y.reshape(n, -1)
        n_outputs = Y.shape[1]
        Xa = self._augment(X)
        if np.may_share_memory(Xa, X):
            # without the bias column Xa can be the caller's array (kept as X_fit_)
            Xa = Xa.copy()
        G = self._draw_gates(Xa.shape[1])
        masks = Xa @ G >= 0
        design = MaskedBlockDesign(Xa, masks, n_outputs=n_outputs, n_signs=self._n_signs)
        lam = n * alpha
        if self._n_signs == 2:
            penalty = ConeGroupL2(lam, design)
        else:
            penalty = GroupL2(lam, design.group_size)
        datafit = Quadratic(design, np.ascontiguousarray(Y.T).ravel())
        solver = self.solver
        if lam == 0 and solver != "fista":
            # no weight decay: an unregularized least squares, rank deficient as soon as
            # there are more columns than samples; there the coordinate-descent path can
            # fail (its interior point divides by the thresholds: NaN seen with 60 x 4
            # data and the default patterns), while FISTA needs no threshold
            if solver == "cd":
                raise ValueError("alpha=0 (no weight decay) needs solver='fista' (or 'auto', "
                                 "which then uses it); solver='cd' needs alpha > 0")
            solver = "fista"
        if solver == "fista":
            products = design.float32_products() if self.precision == "float32" else None
            res = fista(datafit, penalty, tol=tol, max_iter=max_iter, products=products,
                        warn=False)
        else:
            res = group_coordinate_descent(datafit, penalty, tol=tol, max_iter=max_iter,
                                           warn=False)
        warn_not_converged(res)  # also sklearn's ConvergenceWarning

        S, P, p = self._n_signs, G.shape[1], Xa.shape[1]
        U = res.coef.reshape(n_outputs, S, P, p)
        self.gates_ = G
        self.patterns_ = masks
        self.convex_coef_ = U if S == 2 else U[:, 0]
        self.solver_result_ = res
        self.n_iter_ = res.n_iter
        self.converged_ = bool(res.converged)
        r = datafit.residual(res.coef)
        self.objective_ = (0.5 * float(r @ r) + penalty.value(res.coef)) / n
        self.dual_gap_ = res.gap / n
        self.optimality_ = res.gap / max(res.objective[-1], 1e-300)
        self.kkt_violation_ = res.kkt_violation / n
        self._reconstruct(U)
        self.X_fit_ = Xa
        return self

    def _reconstruct(self, U):
        """Network weights from the convex solution (Pilanci & Ergen, eq. 19)."""
        c, S, P, p = U.shape
        norms = np.linalg.norm(U, axis=3)               # (c, S, P)
        o, s, g = np.nonzero(norms > 0)
        scale = np.sqrt(norms[o, s, g])
        W = (U[o, s, g] / scale[:, None]).T            # (p, m)
        A2 = np.zeros((o.size, c))
        A2[np.arange(o.size), o] = np.where(s == 0, 1.0, -1.0) * scale
        self.first_layer_weights_ = W
        self.second_layer_weights_ = A2
        self.neuron_outputs_ = o
        self.neuron_patterns_ = g
        self.neuron_signs_ = np.where(s == 0, 1, -1)
        self.n_active_neurons_ = int(o.size)

    # -------------------------------------------------------------- network
    def _hidden(self, Xa):
        raise NotImplementedError

    def _forward(self, Xa):
        H = self._hidden(Xa)
        out = H @ self.second_layer_weights_
        # one output, y of shape (n,) or (n, 1): 1-D, as scikit-learn's MLPRegressor
        return out[:, 0] if out.shape[1] == 1 else out

    def predict(self, X):
        """Evaluate the reconstructed network.

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
        return self._forward(self._augment(X))

    def nonconvex_objective(self, X, y):
        r"""Weight-decay objective of the reconstructed network on ``(X, y)``.

        ``(1 / (2 n)) ||f(X) - Y||_F^2 + (alpha / 2) (||W||_F^2 + ||a||_F^2)``
        with ``W = first_layer_weights_`` and ``a = second_layer_weights_``;
        on the training set it equals :attr:`objective_` (up to the solver
        tolerance).
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        Y = check_objective_target(y, X.shape[0], self.second_layer_weights_.shape[1])
        F = self._forward(self._augment(X)).reshape(Y.shape)
        fit = 0.5 * float(np.sum((F - Y) ** 2)) / X.shape[0]
        decay = 0.5 * self.alpha * (float(np.sum(self.first_layer_weights_ ** 2))
                                    + float(np.sum(self.second_layer_weights_ ** 2)))
        return fit + decay

    # -------------------------------------------------------- explainability
    def neuron_activations(self, X=None):
        """Which samples activate each active neuron.

        Parameters
        ----------
        X : array_like of shape (n_samples, n_features), optional
            Default: the training samples.

        Returns
        -------
        ndarray of bool, shape (n_samples, n_active_neurons_)
        """
        check_is_fitted(self)
        if X is None:
            Xa = self.X_fit_
        else:
            Xa = self._augment(validate_data(self, X, dtype=np.float64, reset=False))
        return self._activations(Xa)

    def explain_neurons(self, n_boundary=None):
        """Training samples that activate and that delimit each active neuron.

        For neuron ``j`` with first-layer weights ``w_j`` (its hyperplane
        ``{x : [x, 1] w_j = 0}``; for the gated model, the hyperplane of its
        gate), returns the training samples on its active side and the
        ``n_boundary`` training samples closest to its hyperplane (Euclidean
        distance in input space).  For the exact model the cone constraints are
        typically active at the optimum: the hyperplane then passes exactly
        through some training points, which come first (distance ~ 0).

        Parameters
        ----------
        n_boundary : int, optional
            Number of delimiting samples per neuron (default: the number of
            input features, enough to pin down a hyperplane).

        Returns
        -------
        list of dict
            One dict per active neuron with keys ``neuron``, ``output``,
            ``pattern`` (gate index), ``sign`` (+1: ``u``, -1: ``v``),
            ``second_layer_weight``, ``active_samples`` (indices),
            ``boundary_samples`` (indices, nearest first) and
            ``boundary_distances``.
        """
        check_is_fitted(self)
        d = self.n_features_in_
        k = d if n_boundary is None else check_int(n_boundary, "n_boundary", low=1)
        Xa = self.X_fit_
        act = self._activations(Xa)
        H = self._boundary_weights()                     # (p, m) hyperplane normals
        dist = np.abs(Xa @ H)
        wn = np.linalg.norm(H[:d], axis=0)
        dist = dist / np.where(wn > 0, wn, np.inf)
        out = []
        for j in range(self.n_active_neurons_):
            order = np.argsort(dist[:, j], kind="stable")[:min(k, Xa.shape[0])]
            out.append({
                "neuron": j,
                "output": int(self.neuron_outputs_[j]),
                "pattern": int(self.neuron_patterns_[j]),
                "sign": int(self.neuron_signs_[j]),
                "second_layer_weight": float(
                    self.second_layer_weights_[j, self.neuron_outputs_[j]]),
                "active_samples": np.flatnonzero(act[:, j]),
                "boundary_samples": order,
                "boundary_distances": dist[order, j],
            })
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class ConvexGatedReLURegressor(_ConvexReLUBase):
    __doc__ = r"""Two-layer gated-ReLU network trained by convex optimisation (group LASSO).
""" + _OBJECTIVE_DOC + r"""
    For each output ``o`` the estimator solves

    .. math::

        \min_{u}\; \frac{1}{2n} \Big\lVert \sum_{g=1}^{P} D_g \tilde X u_{o,g} - y_o
        \Big\rVert_2^2 + \alpha \sum_{g=1}^{P} \lVert u_{o,g}\rVert_2 ,

    the group LASSO over the columns ``[D_1 X~, ..., D_P X~]`` (applied
    matrix-free: :class:`~sparse_events.solvers.MaskedBlockDesign`).  This is
    exactly the training problem of the gated-ReLU network
    ``f(x) = sum_j 1[x~^T h_j >= 0] (x~^T w_j) a_j`` with weight decay,

    .. math::

        \frac{1}{2n} \lVert f(X) - Y\rVert_F^2
        + \frac{\alpha}{2} \big(\lVert W\rVert_F^2 + \lVert a\rVert_F^2\big),

    through ``w_j = u_j / sqrt(||u_j||)``, ``a_j = sqrt(||u_j||) e_o`` (every
    neuron feeds one output).  In the unnormalised form
    ``0.5 ||f(X) - y||^2 + beta (||W||_F^2 + ||a||^2)`` this is
    ``beta = n * alpha / 2``, and the group-LASSO weight of
    ``0.5 ||A u - y||^2 + lambda sum ||u_g||`` (what the solvers minimise) is
    ``lambda = n * alpha = 2 beta``.  The penalty scaling matches scikit-learn's
    ``MLPRegressor`` (loss ``(1/(2n)) ||f(X) - y||^2``, penalty
    ``(alpha_mlp / (2 n))`` times the squared weights) with ``alpha = alpha_mlp / n``,
    for one output (here each neuron feeds one output; an ``MLPRegressor``'s hidden
    layer is shared by all outputs), but the network is a gated-ReLU one, which
    ``MLPRegressor`` does not offer, and the biases are handled differently: with
    ``fit_intercept=True`` the hidden bias is the last row of ``W`` and is
    penalised (``MLPRegressor`` does not penalise ``intercepts_``), and there is
    no output bias (``MLPRegressor`` fits an unpenalised one); centre or
    standardise ``y``, and standardise ``X``.

    Parameters
    ----------
    n_patterns : int, default=100
        Number of random gates ``P`` (ignored when ``gates`` is given).
    alpha : float, default=1e-3
        Weight-decay strength in the scaling above, ``>= 0``.
    fit_intercept : bool, default=True
        Append a constant feature (hidden-layer bias; gate hyperplanes need
        not pass through the origin).
    gates : array_like of shape (n_features + fit_intercept, P), optional
        Explicit gate vectors ``h_g`` (overrides ``n_patterns``/``random_state``).
    tol : float, default=1e-6
        Relative duality-gap tolerance: stop when ``gap <= tol * objective``
        (with ``alpha=0``, where the gap is undefined: when
        ``kkt_violation_ <= tol * max |A^T y| / n``, ``A = [D_1 X~, ..., D_P X~]``).
    max_iter : int, default=1000
        Outer (working-set) iterations of group coordinate descent, or FISTA
        iterations.
    solver : {"auto", "cd", "fista"}, default="auto"
        ``"auto"``/``"cd"``: :func:`~sparse_events.solvers.group_coordinate_descent`;
        ``"fista"``: :func:`~sparse_events.solvers.fista`.  With ``alpha=0``
        ``"auto"`` uses FISTA and ``"cd"`` raises a ``ValueError``.
    random_state : None, int or numpy Generator
        Seeds the gates (a local Generator).
    precision : {"float64", "float32"}, default="float64"
        Precision of the design products inside the FISTA iterations
        (``solver="fista"`` only; coordinate descent always works in float64).
        ``"float32"`` computes the two products of every iteration in single
        precision (:meth:`MaskedBlockDesign.float32_products
        <sparse_events.solvers.MaskedBlockDesign.float32_products>`, about half
        the time of an iteration); the data, the gates, the iterates, the
        objective, the duality gap and the stopping test stay in float64, so
        ``dual_gap_``/``optimality_`` certify the returned solution as with
        ``"float64"``.  Iterates (hence the stopping iteration) may differ from
        the float64 path's by rounding; both stop within ``tol`` of the optimum
        (below a relative gap of ``1e-5`` FISTA continues with float64
        products, so tight tolerances stay reachable).

    Attributes
    ----------
    gates_ : ndarray of shape (p, P)
    patterns_ : ndarray of bool, shape (n_samples, P)
        Training activation patterns ``D_g``.
    convex_coef_ : ndarray of shape (n_outputs, P, p)
        The group-LASSO solution ``u``.
    first_layer_weights_ : ndarray of shape (p, n_active_neurons_)
        ``w_j`` (last row: bias when ``fit_intercept``).
    second_layer_weights_ : ndarray of shape (n_active_neurons_, n_outputs)
    neuron_patterns_, neuron_outputs_, neuron_signs_ : ndarray of shape (n_active_neurons_,)
        Gate, output and sign (always +1 here) of every active neuron.
    n_active_neurons_ : int
    objective_ : float
        Final value of the objective above.
    dual_gap_ : float
        Final duality gap (same scaling); ``optimality_`` is it relative to the
        objective (the final optimality measure), ``kkt_violation_`` the
        largest group KKT violation.  With ``alpha=0`` (no weight decay) the
        gap's dual point is undefined: ``dual_gap_`` and ``optimality_`` are
        ``nan``, convergence is decided on ``kkt_violation_`` (see ``tol``),
        and a ``ConvergenceWarning`` reports that relative KKT violation.
    converged_ : bool
    n_iter_ : int
    solver_result_ : SolverResult
    X_fit_ : ndarray of shape (n_samples, p)
        Augmented training inputs (for :meth:`explain_neurons`).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sparse_events import ConvexGatedReLURegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 2)); y = np.abs(X[:, 0]) - X[:, 1]
    >>> model = ConvexGatedReLURegressor(n_patterns=50, alpha=1e-3, random_state=0).fit(X, y)
    >>> bool(model.score(X, y) > 0.95)
    True
    """

    _n_signs = 1

    def _activations(self, Xa):
        return Xa @ self.gates_[:, self.neuron_patterns_] >= 0

    def _hidden(self, Xa):
        return self._activations(Xa) * (Xa @ self.first_layer_weights_)

    def _boundary_weights(self):
        return self.gates_[:, self.neuron_patterns_]


class ConvexReLURegressor(_ConvexReLUBase):
    __doc__ = r"""Two-layer ReLU network trained exactly by convex optimisation.
""" + _OBJECTIVE_DOC + r"""
    For each output ``o`` the estimator solves the convex ReLU program of
    Pilanci & Ergen (Zeger & Pilanci, Theorem 1, eq. 18)

    .. math::

        \min_{u, v}\; \frac{1}{2n} \Big\lVert \sum_{g=1}^{P} D_g \tilde X
        (u_{o,g} - v_{o,g}) - y_o \Big\rVert_2^2
        + \alpha \sum_{g=1}^{P} \big(\lVert u_{o,g}\rVert_2 + \lVert v_{o,g}\rVert_2\big)

    subject to ``(2 D_g - I) X~ u_{o,g} >= 0`` and ``(2 D_g - I) X~ v_{o,g} >= 0``,
    exactly (:class:`~sparse_events.solvers.ConeGroupL2`: every iterate is
    feasible, each group step being projected onto its cone; the stopping rule
    is a certified duality gap).  On the training set ``D_g X~ u = (X~ u)_+``,
    so the ReLU network ``f(x) = sum_j (x~^T w_j)_+ a_j`` read back by eq. 19,
    ``w = u / sqrt(||u||)``, ``a = sqrt(||u||) e_o`` and ``w = v / sqrt(||v||)``,
    ``a = -sqrt(||v||) e_o``, attains the same value of the weight-decay objective

    .. math::

        \frac{1}{2n} \lVert f(X) - Y\rVert_F^2
        + \frac{\alpha}{2} \big(\lVert W\rVert_F^2 + \lVert a\rVert_F^2\big),

    which is therefore the global minimum over networks whose neurons have the
    sampled patterns (over all networks when all patterns are present).  In the
    unnormalised form ``0.5 ||f(X) - y||^2 + beta (||W||_F^2 + ||a||^2)``,
    ``beta = n * alpha / 2`` and the group-LASSO weight is
    ``lambda = n * alpha = 2 beta``.  Compared with scikit-learn's
    ``MLPRegressor(activation="relu", hidden_layer_sizes=(m,), alpha=alpha_mlp)``
    (loss ``(1/(2n)) ||f(X) - y||^2``, penalty ``(alpha_mlp / (2 n))`` times the
    squared weights), one output: the loss and the weight penalty coincide with
    ``alpha = alpha_mlp / n``, but the objectives differ by the biases.  With
    ``fit_intercept=True`` the hidden bias is the last row of ``W`` and is
    penalised here, not in ``MLPRegressor`` (its ``intercepts_[0]``); and there is
    no output bias here, while ``MLPRegressor`` fits an unpenalised one
    (``intercepts_[1]``).  The two problems coincide only with
    ``fit_intercept=False`` and the MLP's output bias held at 0, which
    ``MLPRegressor`` does not offer (centre ``y`` before comparing the two).  For
    several outputs each neuron here feeds one
    output, while an ``MLPRegressor``'s hidden layer is shared.  :meth:`predict`
    evaluates the ReLU network (so it generalises as a ReLU net, not as the
    gated model).

    Parameters
    ----------
    n_patterns : int, default=100
        Number of random gates ``P`` (each gives a ``u`` and a ``v`` group,
        up to ``2 P`` neurons per output).
    alpha : float, default=1e-3
        Weight-decay strength in the scaling above, ``>= 0``.
    fit_intercept : bool, default=True
        Append a constant feature (hidden-layer bias).
    gates : array_like of shape (n_features + fit_intercept, P), optional
        Explicit gate vectors (overrides ``n_patterns``/``random_state``).
    tol : float, default=1e-6
        Relative duality-gap tolerance (with ``alpha=0``: relative KKT
        violation), as for :class:`ConvexGatedReLURegressor`.
    max_iter : int, default=1000
        Outer (working-set) iterations of group coordinate descent, or FISTA
        iterations.
    solver : {"auto", "cd", "fista"}, default="auto"
        ``"auto"``/``"cd"``: projected group coordinate descent; ``"fista"``:
        :func:`~sparse_events.solvers.fista` with the cone-projected proximal
        operator.  With ``alpha=0`` ``"auto"`` uses FISTA and ``"cd"`` raises
        a ``ValueError``.
    random_state : None, int or numpy Generator
        Seeds the gates.
    precision : {"float64", "float32"}, default="float64"
        Precision of the design products inside the FISTA iterations
        (``solver="fista"`` only; coordinate descent always works in float64).
        ``"float32"`` computes the two products of every iteration in single
        precision (:meth:`MaskedBlockDesign.float32_products
        <sparse_events.solvers.MaskedBlockDesign.float32_products>`, about half
        the time of an iteration); the data, the gates, the iterates, the
        objective, the duality gap and the stopping test stay in float64, so
        ``dual_gap_``/``optimality_`` certify the returned solution as with
        ``"float64"``.  Iterates (hence the stopping iteration) may differ from
        the float64 path's by rounding; both stop within ``tol`` of the optimum
        (below a relative gap of ``1e-5`` FISTA continues with float64
        products, so tight tolerances stay reachable).

    Attributes
    ----------
    gates_ : ndarray of shape (p, P)
    patterns_ : ndarray of bool, shape (n_samples, P)
    convex_coef_ : ndarray of shape (n_outputs, 2, P, p)
        ``convex_coef_[:, 0]`` is ``u``, ``convex_coef_[:, 1]`` is ``v``.
    first_layer_weights_ : ndarray of shape (p, n_active_neurons_)
    second_layer_weights_ : ndarray of shape (n_active_neurons_, n_outputs)
    neuron_patterns_, neuron_outputs_, neuron_signs_ : ndarray of shape (n_active_neurons_,)
    n_active_neurons_ : int
    objective_, dual_gap_, optimality_, kkt_violation_ : float
        As for :class:`ConvexGatedReLURegressor` (``kkt_violation_``: distance
        to the subdifferential including the normal cones; ``dual_gap_`` and
        ``optimality_`` are ``nan`` with ``alpha=0``, where convergence is
        decided on ``kkt_violation_``).
    converged_ : bool
    n_iter_ : int
    solver_result_ : SolverResult
    X_fit_ : ndarray of shape (n_samples, p)
    n_features_in_ : int
    """

    _n_signs = 2

    def _activations(self, Xa):
        # samples on a neuron's hyperplane (active cone constraints) sit at ~1e-16:
        # count a neuron as firing only above rounding level
        W = self.first_layer_weights_
        level = 1e-10 * np.linalg.norm(Xa, axis=1)[:, None] * np.linalg.norm(W, axis=0)[None]
        return Xa @ W > level

    def _hidden(self, Xa):
        return np.maximum(Xa @ self.first_layer_weights_, 0.0)

    def _boundary_weights(self):
        return self.first_layer_weights_
