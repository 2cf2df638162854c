"""Convex two-layer ReLU regressors: references are the non-convex objective,
gradient-descent trainings, explicit-matrix group LASSO, scipy's NNLS, sklearn's Lasso."""

import warnings

import numpy as np
import pytest
from scipy.optimize import nnls
from sklearn.exceptions import ConvergenceWarning as SkConvergenceWarning
from sklearn.linear_model import Lasso as SkLasso
from sklearn.utils.estimator_checks import parametrize_with_checks

from sparse_events import ConvexGatedReLURegressor, ConvexReLU1D, ConvexReLURegressor
from sparse_events._exceptions import ConvergenceWarning
from sparse_events.solvers import (ConeGroupL2, GroupL2, MaskedBlockDesign, Quadratic, fista,
                                   group_coordinate_descent)

@parametrize_with_checks(
    [ConvexGatedReLURegressor(n_patterns=4, random_state=0),
     ConvexReLURegressor(n_patterns=4, alpha=1.0, random_state=0, tol=1e-3, max_iter=10),
     ConvexReLU1D(alpha=0.1, tol=1e-3)])
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def _data(rng, n=120, d=3, outputs=1):
    X = rng.standard_normal((n, d))
    Y = np.c_[np.abs(X[:, 0]) - X[:, 1], np.maximum(X[:, 1] + X[:, 2], 0)]
    Y = Y + 0.05 * rng.standard_normal(Y.shape)
    return X, (Y[:, 0] if outputs == 1 else Y[:, :outputs])


def _group_lasso_objective(A, y, lam, group_size, x):
    """``0.5 ||y - A x||^2 + lam sum_g ||x_g||`` over consecutive groups of ``group_size``."""
    return 0.5 * float(np.sum((y - A @ x) ** 2)) + lam * float(
        np.linalg.norm(x.reshape(-1, group_size), axis=1).sum())


def _plain_objective(model, X, y, relu):
    """(1/(2n))||f(X) - y||^2 + (alpha/2)(||W||^2 + ||a||^2), evaluated from scratch."""
    Xa = np.c_[X, np.ones(len(X))]
    W, A2 = model.first_layer_weights_, model.second_layer_weights_
    if relu:
        H = np.maximum(Xa @ W, 0)
    else:
        H = (Xa @ model.gates_[:, model.neuron_patterns_] >= 0) * (Xa @ W)
    F = H @ A2
    Y = y.reshape(len(X), -1)
    return (0.5 * np.sum((F - Y) ** 2) / len(X)
            + 0.5 * model.alpha * (np.sum(W ** 2) + np.sum(A2 ** 2)))


# ------------------------------------------------------------ objective equality
@pytest.mark.parametrize("cls, relu", [(ConvexGatedReLURegressor, False),
                                       (ConvexReLURegressor, True)])
@pytest.mark.parametrize("outputs", [1, 2])
def test_reconstructed_network_attains_convex_optimum(rng, cls, relu, outputs):
    X, y = _data(rng, outputs=outputs)
    model = cls(n_patterns=30, alpha=2e-3, random_state=0, tol=1e-9).fit(X, y)
    assert model.converged_ and model.optimality_ <= 1e-9
    assert model.n_active_neurons_ > 0
    plain = _plain_objective(model, X, y, relu)
    assert plain == pytest.approx(model.objective_, rel=1e-6)
    assert model.nonconvex_objective(X, y) == pytest.approx(model.objective_, rel=1e-6)
    assert model.first_layer_weights_.shape == (X.shape[1] + 1, model.n_active_neurons_)
    assert model.second_layer_weights_.shape == (model.n_active_neurons_, outputs)
    # every neuron feeds one output, with |a_j| = ||w_j|| (balanced, eq. 19)
    assert np.all(np.count_nonzero(model.second_layer_weights_, axis=1) == 1)
    np.testing.assert_allclose(np.abs(model.second_layer_weights_).sum(1),
                               np.linalg.norm(model.first_layer_weights_, axis=0), rtol=1e-12)


def test_relu_predict_is_the_relu_network_and_matches_convex_model(rng):
    X, y = _data(rng)
    model = ConvexReLURegressor(n_patterns=20, alpha=1e-3, random_state=1).fit(X, y)
    Xa = np.c_[X, np.ones(len(X))]
    net = np.maximum(Xa @ model.first_layer_weights_, 0) @ model.second_layer_weights_[:, 0]
    np.testing.assert_allclose(model.predict(X), net, rtol=1e-12, atol=1e-12)
    # on the training set the ReLU net equals the convex model sum_g D_g X (u_g - v_g)
    U = model.convex_coef_[0]
    convex = np.sum(model.patterns_ * (Xa @ (U[0] - U[1]).T), axis=1)
    np.testing.assert_allclose(net, convex, rtol=1e-9, atol=1e-9)
    # off the training set the ReLU net generally differs from the gated predictor
    Xt = 3 * rng.standard_normal((200, 3))
    Xta = np.c_[Xt, np.ones(len(Xt))]
    gated = np.sum((Xta @ model.gates_ >= 0) * (Xta @ (U[0] - U[1]).T), axis=1)
    assert not np.allclose(model.predict(Xt), gated)


# ------------------------------------------------------ global optimality vs GD
def _enumerate_patterns(Xa):
    """All distinct 1[Xa w >= 0], w in R^3, for points in general position.

    Every cell of the central arrangement {w : Xa_i w = 0} has an extreme ray
    w0 = +-(Xa_i x Xa_j); the four cells around that ray are reached by w0 + eps d
    with Xa_i d = +-1, Xa_j d = +-1.
    """
    n = len(Xa)
    found = {}
    for i in range(n):
        for j in range(i + 1, n):
            base = np.cross(Xa[i], Xa[j])
            others = np.delete(np.arange(n), [i, j])
            margin = np.abs(Xa[others] @ base).min()
            for sign in (1.0, -1.0):
                for si in (1.0, -1.0):
                    for sj in (1.0, -1.0):
                        d = np.linalg.lstsq(Xa[[i, j]], [si, sj], rcond=None)[0]
                        eps = 0.25 * margin / max(np.abs(Xa @ d).max(), 1e-300)
                        w = sign * base + eps * d
                        found.setdefault(tuple(Xa @ w >= 0), w)
    for w in (np.array([0.0, 0.0, 1.0]), np.array([0.0, 0.0, -1.0])):
        found.setdefault(tuple(Xa @ w >= 0), w)
    return found


def _gd_objective(X, y, alpha, m, seed, n_iter=4000, lr=0.05):
    """Plain full-batch gradient descent on (1/(2n))||relu(Xa W) a - y||^2 + alpha/2 (|W|^2+|a|^2)."""
    r = np.random.default_rng(seed)
    Xa = np.c_[X, np.ones(len(X))]
    n = len(X)
    W = r.standard_normal((Xa.shape[1], m))
    a = r.standard_normal(m) / np.sqrt(m)
    for _ in range(n_iter):
        H = Xa @ W
        Z = np.maximum(H, 0)
        res = Z @ a - y
        grad_a = Z.T @ res / n + alpha * a
        grad_W = Xa.T @ ((res[:, None] * a[None, :]) * (H > 0)) / n + alpha * W
        a -= lr * grad_a
        W -= lr * grad_W
    Z = np.maximum(Xa @ W, 0)
    return 0.5 * np.sum((Z @ a - y) ** 2) / n + 0.5 * alpha * (np.sum(W ** 2) + np.sum(a ** 2))


def test_all_patterns_convex_optimum_beats_gradient_descent():
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (10, 2))
    y = np.sin(3 * X[:, 0]) * X[:, 1] + X[:, 0]
    Xa = np.c_[X, np.ones(len(X))]
    patterns = _enumerate_patterns(Xa)
    # the enumeration is complete: no random gate finds a pattern outside it
    sampled = Xa @ rng.standard_normal((3, 100_000)) >= 0
    assert set(map(tuple, np.unique(sampled.T, axis=0))) <= set(patterns)
    gates = np.array(list(patterns.values())).T
    alpha = 1e-3
    model = ConvexReLURegressor(alpha=alpha, gates=gates, tol=1e-10).fit(X, y)
    assert model.converged_
    assert sorted(map(tuple, model.patterns_.T)) == sorted(patterns)
    optimum = model.objective_
    assert model.nonconvex_objective(X, y) == pytest.approx(optimum, rel=1e-6)
    gd = [_gd_objective(X, y, alpha, m=12, seed=s) for s in range(20)]
    assert all(optimum <= g * (1 + 1e-6) for g in gd), (optimum, min(gd))


# ------------------------------------------------------------------ zero network
@pytest.mark.parametrize("cls", [ConvexGatedReLURegressor, ConvexReLURegressor])
def test_alpha_above_alpha_max_gives_zero_network(rng, cls):
    X, y = _data(rng, n=80)
    G = np.random.default_rng(0).standard_normal((4, 15))
    Xa = np.c_[X, np.ones(len(X))]
    D = Xa @ G >= 0
    # plain alpha_max of the gated program: max_g ||(D_g Xa)^T y|| / n (an upper
    # bound of the exact program's, whose cone-restricted correlations are smaller)
    alpha_max = max(np.linalg.norm((D[:, g, None] * Xa).T @ y) for g in range(15)) / len(X)
    big = cls(alpha=1.01 * alpha_max, gates=G).fit(X, y)
    assert big.n_active_neurons_ == 0
    assert np.all(big.predict(X) == 0)
    assert big.objective_ == pytest.approx(0.5 * np.mean(y ** 2), rel=1e-12)
    small = ConvexGatedReLURegressor(alpha=0.9 * alpha_max, gates=G).fit(X, y)
    assert small.n_active_neurons_ >= 1


# ------------------------------------------------- gated = plain group LASSO
def test_gated_matches_group_lasso_on_explicit_matrix(rng):
    X, y = _data(rng, n=100)
    G = np.random.default_rng(5).standard_normal((4, 12))
    Xa = np.c_[X, np.ones(len(X))]
    D = Xa @ G >= 0
    A = np.hstack([D[:, [g]] * Xa for g in range(12)])      # [D_1 X, ..., D_P X]
    alpha = 5e-3
    model = ConvexGatedReLURegressor(alpha=alpha, gates=G, tol=1e-12).fit(X, y)
    ref = fista(Quadratic(A, y), GroupL2(len(X) * alpha, 4), tol=1e-13, max_iter=200_000)
    assert ref.converged
    np.testing.assert_allclose(model.convex_coef_[0].ravel(), ref.coef, atol=1e-6)
    obj_ref = ref.objective[-1] / len(X)
    assert model.objective_ == pytest.approx(obj_ref, rel=1e-9)
    # the matrix-free operator is the explicit matrix
    des = MaskedBlockDesign(Xa, D)
    v = rng.standard_normal(des.n_features)
    np.testing.assert_allclose(des.matvec(v), A @ v, atol=1e-12)
    np.testing.assert_allclose(des.rmatvec(y), A.T @ y, atol=1e-12)
    # group coordinate descent on the explicit (dense) matrix agrees too
    dense = group_coordinate_descent(Quadratic(A, y), GroupL2(len(X) * alpha, 4), tol=1e-12)
    np.testing.assert_allclose(dense.coef, ref.coef, atol=1e-6)


def _correlated_groups_problem():
    """205 strongly correlated groups (patterns of 2-D data with a bias column, 60
    samples): (Xa, D, A = [D_1 Xa, ..., D_P Xa], y)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 2))
    y = np.abs(X[:, 0]) - X[:, 1] + 0.1 * rng.standard_normal(60)
    Xa = np.c_[X, np.ones(60)]
    G = np.random.default_rng(3).standard_normal((3, 205))
    D = Xa @ G >= 0
    A = np.hstack([D[:, [g]] * Xa for g in range(205)])
    return Xa, D, A, y


def test_interior_point_path_matches_explicit_matrix_solvers():
    # a working set of more than 200 groups goes to the interior-point method
    # (strongly correlated groups: 205 patterns of 2-D data, 60 samples)
    Xa, D, A, y = _correlated_groups_problem()
    lam = 0.05
    res = group_coordinate_descent(Quadratic(MaskedBlockDesign(Xa, D), y), GroupL2(lam, 3),
                                   tol=1e-9, p0=205)
    assert res.converged and res.extra["barrier_newton_steps"] > 0
    # references on the explicit matrix: residual-space group CD and FISTA
    ref = group_coordinate_descent(Quadratic(A, y), GroupL2(lam, 3), tol=1e-9)
    assert ref.converged
    assert res.objective[-1] == pytest.approx(ref.objective[-1], rel=2e-9)
    np.testing.assert_allclose(A @ res.coef, A @ ref.coef, atol=1e-4)
    fi = fista(Quadratic(A, y), GroupL2(lam, 3), tol=1e-6, max_iter=100_000)
    assert fi.converged
    assert res.objective[-1] <= fi.objective[-1] * (1 + 1e-9)
    assert res.objective[-1] == pytest.approx(fi.objective[-1], rel=1e-6)


def test_interior_point_group_lasso_matches_group_cd_on_explicit_matrix():
    # more coefficients than samples (48 vs 30): the optimum is not unique, the fitted
    # values and the objective are; reference: residual-space group CD on the matrix
    from sparse_events.solvers._group_ipm import interior_point_group_lasso

    rng = np.random.default_rng(5)
    A = rng.standard_normal((30, 48))
    y = rng.standard_normal(30)
    lam = 0.5
    ref = group_coordinate_descent(Quadratic(A, y), GroupL2(lam, 4), tol=1e-12)
    assert ref.converged

    def objective(x):
        return _group_lasso_objective(A, y, lam, 4, x)

    H, c, t = A.T @ A, -A.T @ y, np.full(12, lam)
    x, n_iter, mu, state = interior_point_group_lasso(H, c, t, 4, np.zeros(48), 1e-6)
    assert 0 < n_iter < 100 and 12 * mu <= 1e-6
    f_ref = objective(ref.coef)
    # complementarity gap 1e-6 bounds the suboptimality
    assert f_ref - 1e-9 <= objective(x) <= f_ref + 1e-6
    # dual feasibility (group LASSO optimality): ||A_g^T (y - A x)|| <= lam up to the gap
    g = np.linalg.norm((A.T @ (y - A @ x)).reshape(-1, 4), axis=1)
    assert g.max() <= lam * (1 + 1e-2)
    # resuming with a 1e4 times smaller gap: a few more iterations, closer to the optimum
    x2, n2, mu2, _ = interior_point_group_lasso(H, c, t, 4, np.zeros(48), 1e-10, start=state)
    assert n2 < n_iter and 12 * mu2 <= 1e-10
    assert objective(x2) == pytest.approx(f_ref, rel=1e-10, abs=0)
    np.testing.assert_allclose(A @ x2, A @ ref.coef, atol=1e-4)


def test_interior_point_single_precision_and_shrinking_match_plain_double():
    # 120 groups of 4 on 150 samples: single precision factors (conjugate gradients in double
    # precision) and the removal of the groups tending to zero give the optimum of the plain
    # double precision iteration; reference: residual-space group CD on the matrix
    from sparse_events.solvers._group_ipm import interior_point_group_lasso

    rng = np.random.default_rng(3)
    A = rng.standard_normal((150, 480)) @ np.diag(rng.uniform(0.2, 2.0, 480))
    y = A[:, :40] @ rng.standard_normal(40) + 0.1 * rng.standard_normal(150)
    lam = 2.0
    H, c, t = A.T @ A, -A.T @ y, np.full(120, lam)

    def objective(x):
        return _group_lasso_objective(A, y, lam, 4, x)

    ref = group_coordinate_descent(Quadratic(A, y), GroupL2(lam, 4), tol=1e-12)
    assert ref.converged
    f_ref = objective(ref.coef)
    x0 = np.zeros(480)
    plain, n_plain, _, _ = interior_point_group_lasso(H, c, t, 4, x0, 1e-9)
    # (the relative gaps of single_gap and shrink_gap are relative to the objective
    # 0.5 ||y - A x||^2 + pen(x): the subproblem's value plus f_offset = 0.5 ||y||^2)
    fast, n_fast, _, (u, z) = interior_point_group_lasso(
        H, c, t, 4, x0, 1e-9, f_offset=0.5 * float(y @ y), single_gap=0.0,
        shrink_gap=(3e-2, 1e-3), shrink_dual=(0.5, 0.8))
    assert 0 < n_plain < 100 and 0 < n_fast < 100
    assert not np.any(plain == 0)                   # interior point: no exact zeros
    removed = np.all(fast.reshape(-1, 4) == 0, axis=1)
    assert 10 <= removed.sum() < 120                # groups tending to zero were removed
    for x in (plain, fast):
        assert f_ref - 1e-9 * abs(f_ref) <= objective(x) <= f_ref * (1 + 1e-8)
    # the removed groups satisfy their optimality condition ||A_g^T (y - A x)|| <= lam
    g = np.linalg.norm((A.T @ (y - A @ fast)).reshape(-1, 4), axis=1)
    assert g[removed].max() <= lam * (1 + 1e-6)
    np.testing.assert_allclose(A @ fast, A @ ref.coef, atol=1e-5)
    # the state has the full size (for resuming): removed groups have x_k = 0
    assert u.shape == z.shape == (120, 5) and np.all(u[removed, 1:] == 0)


@pytest.mark.parametrize("mask_min", [0, 10 ** 9])
@pytest.mark.parametrize("p, n_signs, n_outputs", [(4, 1, 1), (3, 2, 1), (4, 2, 2), (10, 1, 1)])
def test_working_set_gram_matches_explicit_matrix(monkeypatch, p, n_signs, n_outputs, mask_min):
    # the mask-product Gram blocks (large blocks, p <= 8) and the explicit-column ones,
    # cached over successive working sets, against A_W^T A_W of the explicit matrix
    import sparse_events.solvers._masked_block_design as mbd

    monkeypatch.setattr(mbd, "_MASK_GRAM_MIN", mask_min)
    rng = np.random.default_rng(p)
    X = np.c_[rng.standard_normal((50, p - 1)), np.ones(50)]
    D = X @ rng.standard_normal((p, 30)) >= 0
    des = MaskedBlockDesign(X, D, n_outputs=n_outputs, n_signs=n_signs)
    A = np.stack([des.matvec(e) for e in np.eye(des.n_features)], axis=1)
    for ws in (np.arange(5), np.array([3, 7, 12, 20]), np.sort(rng.permutation(des.n_groups)[:17]),
               np.arange(des.n_groups)):
        idx = (ws[:, None] * p + np.arange(p)).ravel()
        np.testing.assert_allclose(des.working_set_gram(ws), A[:, idx].T @ A[:, idx],
                                   rtol=0, atol=1e-12 * np.abs(A).max() ** 2 * 50)


@pytest.mark.parametrize("p, n_signs, n_outputs", [(4, 1, 1), (3, 2, 1), (4, 2, 2), (10, 1, 1)])
def test_working_set_operator_matches_explicit_matrix(p, n_signs, n_outputs):
    # matrix-free products of a working set (float64) and its single precision Gram matrix,
    # against the explicit columns A_W; groups in any order, repeated patterns included
    rng = np.random.default_rng(p + n_signs)
    X = np.c_[rng.standard_normal((50, p - 1)), np.ones(50)]
    D = X @ rng.standard_normal((p, 30)) >= 0
    D[:, 7] = D[:, 2]
    des = MaskedBlockDesign(X, D, n_outputs=n_outputs, n_signs=n_signs)
    A = np.stack([des.matvec(e) for e in np.eye(des.n_features)], axis=1)
    for ws in (np.arange(5), np.array([12, 3, 7, 2, 20]), np.sort(rng.permutation(des.n_groups)[:17]),
               np.arange(des.n_groups)):
        idx = (ws[:, None] * p + np.arange(p)).ravel()
        Aw = A[:, idx]
        op = des.working_set_operator(ws)
        assert op.shape == (idx.size, idx.size)
        v = rng.standard_normal(idx.size)
        r = rng.standard_normal(des.n_rows)
        scale = np.abs(A).max()
        np.testing.assert_allclose(op.matvec(v), Aw @ v, rtol=0, atol=1e-13 * scale * v.size)
        np.testing.assert_allclose(op.rmatvec(r), Aw.T @ r, rtol=0, atol=1e-13 * scale * r.size)
        Hw = Aw.T @ Aw
        np.testing.assert_allclose(op.gram_matvec(v), Hw @ v, rtol=0,
                                   atol=1e-12 * np.abs(Hw).max() * v.size)
        np.testing.assert_allclose(op.diag(), np.diag(Hw), rtol=1e-13)
        H32 = op.gram32()
        assert H32.dtype == np.float32 and H32.flags.c_contiguous
        np.testing.assert_allclose(H32, Hw, rtol=0, atol=1e-6 * np.abs(Hw).max())
        sub = op.restrict(np.array([0, 2, 3]))
        np.testing.assert_array_equal(sub.groups, ws[[0, 2, 3]])


def _ipm_working_set_problem(scale=1.0):
    """The interior point's problem on the distinct patterns of
    :func:`_correlated_groups_problem` (columns and ``lam`` times ``scale``):
    ``des, ws, Aw, y, lam, (H, c, t, x0, kw)`` with ``kw`` the solver options."""
    Xa, D, A, y = _correlated_groups_problem()
    des = MaskedBlockDesign(scale * Xa, D)
    ws = np.flatnonzero(des.pattern_representatives() == np.arange(205))
    idx = (ws[:, None] * 3 + np.arange(3)).ravel()
    Aw = scale * A[:, idx]
    lam = 0.05 * scale
    H, c, t = Aw.T @ Aw, -Aw.T @ y, np.full(ws.size, lam)
    kw = {"f_offset": 0.5 * float(y @ y), "single_gap": 0.0, "shrink_gap": (3e-2, 1e-3),
          "shrink_dual": (0.5, 0.8)}
    return des, ws, Aw, y, lam, (H, c, t, np.zeros(idx.size), kw)


def test_interior_point_with_operator_matches_explicit_gram():
    # the matrix-free operator (single precision Gram matrix, double precision products in
    # conjugate gradients) gives the optimum of the explicit double precision Gram matrix,
    # with the removal of groups; reference: residual-space group CD on the explicit matrix
    from sparse_events.solvers._group_ipm import interior_point_group_lasso

    des, ws, Aw, y, lam, (H, c, t, x0, kw) = _ipm_working_set_problem()
    dense, n_dense, _, _ = interior_point_group_lasso(H, c, t, 3, x0, 1e-10, **kw)
    op = des.working_set_operator(ws)
    free, n_free, _, (u, z) = interior_point_group_lasso(op, c, t, 3, x0, 1e-10, **kw)

    def objective(x):
        return _group_lasso_objective(Aw, y, lam, 3, x)

    ref = group_coordinate_descent(Quadratic(Aw, y), GroupL2(lam, 3), tol=1e-12)
    assert ref.converged
    f_ref = objective(ref.coef)
    assert 0 < n_free < 100 and abs(n_free - n_dense) <= 2
    for x in (dense, free):
        assert f_ref - 1e-9 * f_ref <= objective(x) <= f_ref * (1 + 1e-8)
    np.testing.assert_allclose(Aw @ free, Aw @ ref.coef, atol=1e-4)
    assert u.shape == z.shape == (ws.size, 4)


@pytest.mark.parametrize("single", [False, True])
def test_interior_point_newton_system_with_operator_solves_like_dense(single):
    """The Newton system of a matrix-free operator (single precision factor of its Gram
    matrix, conjugate gradients with double precision products; double precision factor of
    its exact Gram matrix when forced) and its restriction solve like numpy's dense solve."""
    from sparse_events.solvers._group_ipm import _NewtonSystem

    rng = np.random.default_rng(4)
    p = 4
    X = np.c_[rng.standard_normal((90, 3)), np.ones(90)]
    D = X @ rng.standard_normal((4, 40)) >= 0
    des = MaskedBlockDesign(X, D)
    ws = np.flatnonzero(des.pattern_representatives() == np.arange(40))
    K = ws.size
    A = np.stack([des.matvec(e) for e in np.eye(des.n_features)], axis=1)
    idx = (ws[:, None] * p + np.arange(p)).ravel()
    H = A[:, idx].T @ A[:, idx]
    B = rng.standard_normal((K, p, p))
    red = np.matmul(B, B.transpose(0, 2, 1)) + 0.1 * np.eye(p)

    lin = _NewtonSystem(des.working_set_operator(ws), p)
    np.testing.assert_allclose(lin.hmul(np.ones(K * p)), H @ np.ones(K * p), rtol=1e-12)
    assert lin.factor(red, 0.0, rtol=1e-12, single=single)
    assert lin.single == single
    rhs = rng.standard_normal(K * p)
    _assert_solves_like_dense(lin, H, red, rhs)
    keep = np.sort(rng.choice(K, K // 2, replace=False))
    cols = (keep[:, None] * p + np.arange(p)).ravel()
    sub = lin.restrict(cols)
    np.testing.assert_array_equal(sub.op.groups, ws[keep])
    np.testing.assert_allclose(sub.H32, H[np.ix_(cols, cols)], rtol=0,
                               atol=1e-6 * np.abs(H).max())
    assert sub.factor(red[keep], 0.0, rtol=1e-12, single=single)
    _assert_solves_like_dense(sub, H[np.ix_(cols, cols)], red[keep], rhs[cols])
    # a second restriction gathers in place into the first one's single precision matrix
    keep2 = keep[::2]
    loc = np.flatnonzero(np.isin(keep, keep2))
    sub2 = sub.restrict((loc[:, None] * p + np.arange(p)).ravel())
    cols2 = (keep2[:, None] * p + np.arange(p)).ravel()
    np.testing.assert_array_equal(sub2.op.groups, ws[keep2])
    full32 = des.working_set_operator(ws).gram32()
    np.testing.assert_array_equal(sub2.H32, full32[np.ix_(cols2, cols2)])
    np.testing.assert_allclose(sub2.H32, H[np.ix_(cols2, cols2)], rtol=0,
                               atol=1e-6 * np.abs(H).max())
    assert sub2.factor(red[keep2], 0.0, rtol=1e-12, single=single)
    _assert_solves_like_dense(sub2, H[np.ix_(cols2, cols2)], red[keep2], rhs[cols2])


def _assert_solves_like_dense(system, Hs, reds, rhs):
    """``system.solve(rhs)`` equals numpy's solve with ``Hs`` plus the ``p x p`` blocks
    ``reds`` on its diagonal (a Newton system of the group interior point)."""
    p = reds.shape[1]
    M = Hs.copy()
    for k in range(reds.shape[0]):
        M[k * p:(k + 1) * p, k * p:(k + 1) * p] += reds[k]
    ref = np.linalg.solve(M, rhs)
    np.testing.assert_allclose(system.solve(rhs), ref, rtol=1e-8, atol=1e-8 * np.abs(ref).max())


def _spy_large_interior_points(monkeypatch):
    """Working sets of 300+ coefficients count as large; returns the list that records,
    per interior-point call, whether it got the matrix-free operator."""
    import sparse_events.solvers._group_cd as gcd

    monkeypatch.setattr(gcd, "_IPM_LARGE", 300)
    seen = []
    real = gcd.interior_point_group_lasso

    def spy(H, *args, **kwargs):
        seen.append(hasattr(H, "gram_matvec"))
        return real(H, *args, **kwargs)

    monkeypatch.setattr(gcd, "interior_point_group_lasso", spy)
    return seen


def test_large_interior_point_working_set_uses_operator(monkeypatch):
    # working sets counted as large (threshold lowered) are solved with the matrix-free
    # operator, without the double precision Gram matrix; same optimum as the explicit matrix
    seen = _spy_large_interior_points(monkeypatch)
    gram_calls = []
    real_gram = MaskedBlockDesign.working_set_gram

    def gram_spy(self, groups):
        gram_calls.append(len(groups))
        return real_gram(self, groups)

    monkeypatch.setattr(MaskedBlockDesign, "working_set_gram", gram_spy)
    Xa, D, A, y = _correlated_groups_problem()
    lam = 0.05
    res = group_coordinate_descent(Quadratic(MaskedBlockDesign(Xa, D), y), GroupL2(lam, 3),
                                   tol=1e-9, p0=205, max_newton_size=299)
    assert res.converged and seen and all(seen)
    # (the interior point's working set holds 100+ distinct groups: no Gram matrix of it)
    assert all(g < 100 for g in gram_calls)
    ref = group_coordinate_descent(Quadratic(A, y), GroupL2(lam, 3), tol=1e-9)
    assert res.objective[-1] == pytest.approx(ref.objective[-1], rel=1e-8)
    np.testing.assert_allclose(A @ res.coef, A @ ref.coef, atol=1e-4)


def test_large_working_set_with_newton_polish_uses_explicit_gram(monkeypatch):
    # a large working set that the Newton polish may refine (at most max_newton_size
    # coefficients) keeps the explicit double precision Gram matrix (the polish needs it)
    seen = _spy_large_interior_points(monkeypatch)
    Xa, D, A, y = _correlated_groups_problem()
    res = group_coordinate_descent(Quadratic(MaskedBlockDesign(Xa, D), y), GroupL2(0.05, 3),
                                   tol=1e-9, p0=205)
    assert res.converged and seen and not any(seen)


@pytest.mark.parametrize("failure", ["factor", "cg"])
def test_operator_interior_point_falls_back_to_exact_gram(monkeypatch, failure):
    """Failing solves with the single precision factor of the operator (no factor, or
    conjugate gradients not converging) fall back to the exact double precision Gram
    matrix: same optimum as the explicit-Gram interior point."""
    import scipy.linalg

    from sparse_events.solvers import _group_ipm
    from sparse_events.solvers._group_ipm import interior_point_group_lasso

    des, ws, Aw, y, lam, (H, c, t, x0, kw) = _ipm_working_set_problem()
    dense, _, _, _ = interior_point_group_lasso(H, c, t, 3, x0, 1e-10, **kw)

    real_factor = scipy.linalg.cho_factor
    calls = {"single": 0, "gram": 0}

    def factor(a, *args, **kwargs):
        if a.dtype == np.float32:
            calls["single"] += 1
            if failure == "factor":
                raise scipy.linalg.LinAlgError("forced")
            # a poor preconditioner: the factor of twice the matrix (with no conjugate
            # gradient step, the residual stays at half the right-hand side)
            return real_factor(2 * a, *args, **kwargs)
        return real_factor(a, *args, **kwargs)

    monkeypatch.setattr(scipy.linalg, "cho_factor", factor)
    monkeypatch.setattr(_group_ipm._NewtonSystem, "_cg_steps", 0)
    real_gram = type(des.working_set_operator(ws)).gram

    def gram(self):
        calls["gram"] += 1
        return real_gram(self)

    monkeypatch.setattr(type(des.working_set_operator(ws)), "gram", gram)
    free, n_free, _, _ = interior_point_group_lasso(des.working_set_operator(ws), c, t, 3,
                                                    x0, 1e-10, **kw)
    assert calls["single"] > 0 and calls["gram"] > 0 and n_free > 0

    def objective(x):
        return _group_lasso_objective(Aw, y, lam, 3, x)

    ref = group_coordinate_descent(Quadratic(Aw, y), GroupL2(lam, 3), tol=1e-12)
    f_ref = objective(ref.coef)
    for x in (dense, free):
        assert f_ref - 1e-9 * f_ref <= objective(x) <= f_ref * (1 + 1e-8)
    np.testing.assert_allclose(Aw @ free, Aw @ dense, atol=1e-4)


def test_operator_interior_point_with_tiny_scale_falls_back_to_exact_gram():
    # columns scaled by 1e-22: the single precision Gram matrix (entries ~1e-44) underflows;
    # the fallback to the exact Gram matrix reaches the explicit-Gram path's optimum
    from sparse_events.solvers._group_ipm import interior_point_group_lasso

    des, ws, Aw, y, lam, (H, c, t, x0, kw) = _ipm_working_set_problem(scale=1e-22)
    dense, n_dense, _, _ = interior_point_group_lasso(H, c, t, 3, x0, 0.0, rel_tol=1e-10, **kw)
    free, n_free, _, _ = interior_point_group_lasso(des.working_set_operator(ws), c, t, 3,
                                                    x0, 0.0, rel_tol=1e-10, **kw)
    assert n_dense > 0 and n_free > 0

    def objective(x):
        return _group_lasso_objective(Aw, y, lam, 3, x)

    f_dense = objective(dense)
    assert f_dense < 0.5 * float(y @ y)
    assert objective(free) == pytest.approx(f_dense, rel=1e-8)
    np.testing.assert_allclose(Aw @ free, Aw @ dense, atol=1e-4)


def test_pattern_representatives_match_brute_force():
    rng = np.random.default_rng(0)
    X = np.c_[rng.standard_normal((30, 2)), np.ones(30)]
    G = rng.standard_normal((3, 12))
    G = np.c_[G, G[:, [3, 0, 3]], [[0.0], [0.0], [-1.0]]]      # duplicates and an empty mask
    D = X @ G >= 0
    rep = MaskedBlockDesign(X, D).pattern_representatives()
    for g in range(D.shape[1]):
        if not D[:, g].any():
            assert rep[g] == -1
        else:
            assert rep[g] == min(h for h in range(D.shape[1]) if np.array_equal(D[:, h], D[:, g]))
    assert rep[12] == rep[14] == 3 and rep[13] == 0 and rep[15] == -1


def test_large_interior_point_working_set_matches_double_precision_path(monkeypatch):
    # 760 patterns of 2-D data with bias (2280 coefficients >= _IPM_LARGE, 200 samples), 60 of
    # them duplicates and one empty: the interior-point solve factors in single precision,
    # removes the groups tending to zero and solves on one group per distinct mask; reference:
    # the same solver with the plain double precision interior-point method on every group
    import sparse_events.solvers._group_cd as gcd

    rng = np.random.default_rng(4)
    X = rng.standard_normal((200, 2))
    y = np.abs(X[:, 0]) - np.maximum(X[:, 1], 0) + 0.05 * rng.standard_normal(200)
    Xa = np.c_[X, np.ones(200)]
    G = rng.standard_normal((3, 699))
    G = np.c_[G, G[:, :60], [[0.0], [0.0], [-1.0]]]
    D = Xa @ G >= 0
    assert D.shape[1] * 3 >= gcd._IPM_LARGE
    lam = 0.02

    def solve():
        des = MaskedBlockDesign(Xa, D)
        return des, group_coordinate_descent(Quadratic(des, y), GroupL2(lam, 3), tol=1e-9)

    des, fast = solve()
    assert fast.converged and fast.extra["barrier_newton_steps"] > 0
    monkeypatch.setattr(gcd, "_IPM_LARGE", 10 ** 9)
    monkeypatch.setattr(gcd, "_distinct_groups", lambda design, ws, x, thresh, p, pen, f: (ws, f))
    _, plain = solve()
    assert plain.converged and plain.extra["barrier_newton_steps"] > 0
    assert fast.objective[-1] == pytest.approx(plain.objective[-1], rel=1e-8)
    np.testing.assert_allclose(des.matvec(fast.coef), des.matvec(plain.coef), atol=1e-4)
    W = fast.coef.reshape(-1, 3)
    # the weight of identical masks sits in their first group; the empty mask has none
    rep = des.pattern_representatives()
    dup = np.flatnonzero(rep != np.arange(rep.size))
    assert dup.size >= 61 and np.all(W[dup] == 0)


def test_full_working_set_of_100_groups_goes_to_interior_point():
    # 100 patterns of 2-D data (300 coefficients, 80 samples): every group is in the first
    # working set, solved by the interior-point method; references on the explicit matrix
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 2))
    y = np.abs(X[:, 0]) - X[:, 1] + 0.1 * rng.standard_normal(80)
    Xa = np.c_[X, np.ones(80)]
    D = Xa @ np.random.default_rng(2).standard_normal((3, 100)) >= 0
    A = np.hstack([D[:, [g]] * Xa for g in range(100)])
    lam = 0.1
    res = group_coordinate_descent(Quadratic(MaskedBlockDesign(Xa, D), y), GroupL2(lam, 3),
                                   tol=1e-10)
    assert res.converged and res.extra["barrier_newton_steps"] > 0
    ref = group_coordinate_descent(Quadratic(A, y), GroupL2(lam, 3), tol=1e-10)
    assert ref.converged
    assert res.objective[-1] == pytest.approx(ref.objective[-1], rel=1e-9)
    np.testing.assert_allclose(A @ res.coef, A @ ref.coef, atol=1e-5)


@pytest.mark.parametrize("cls", [ConvexGatedReLURegressor, ConvexReLURegressor])
def test_cd_and_fista_agree(rng, cls):
    X, y = _data(rng, n=90, outputs=2)
    kw = dict(n_patterns=10, alpha=5e-3, random_state=2, tol=1e-10)
    cd = cls(solver="cd", **kw).fit(X, y)
    fi = cls(solver="fista", max_iter=100_000, **kw).fit(X, y)
    assert cd.objective_ == pytest.approx(fi.objective_, rel=1e-8)
    np.testing.assert_allclose(cd.predict(X), fi.predict(X), atol=1e-5)


def test_cone_projection_matches_nnls(rng):
    X = np.c_[rng.standard_normal((40, 3)), np.ones(40)]
    D = X @ rng.standard_normal((4, 6)) >= 0
    des = MaskedBlockDesign(X, D, n_signs=2)
    pen = ConeGroupL2(0.0, des)
    z = 3 * rng.standard_normal(des.n_features)
    proj = pen.prox(z, 0.0).reshape(-1, 4)
    for k, zk in enumerate(z.reshape(-1, 4)):
        K = np.where(D[:, k % 6], 1.0, -1.0)[:, None] * X
        mu, _ = nnls(K.T, -zk)                  # min_{mu>=0} ||zk + K^T mu||
        np.testing.assert_allclose(proj[k], zk + K.T @ mu, atol=1e-9)
        assert np.all(K @ proj[k] >= -1e-10)


def test_exact_solution_feasible_and_certified(rng):
    X, y = _data(rng, n=100)
    model = ConvexReLURegressor(n_patterns=25, alpha=1e-3, random_state=4).fit(X, y)
    Xa = np.c_[X, np.ones(len(X))]
    for s in (0, 1):
        C = (2 * model.patterns_ - 1) * (Xa @ model.convex_coef_[0, s].T)
        assert C.min() >= -1e-10
    assert model.optimality_ <= 1e-6 and model.converged_


# ------------------------------------------------------------ determinism
@pytest.mark.parametrize("cls", [ConvexGatedReLURegressor, ConvexReLURegressor])
def test_same_random_state_same_result(rng, cls):
    X, y = _data(rng, n=80)
    a = cls(n_patterns=15, random_state=7).fit(X, y)
    b = cls(n_patterns=15, random_state=7).fit(X, y)
    c = cls(n_patterns=15, random_state=8).fit(X, y)
    np.testing.assert_array_equal(a.gates_, b.gates_)
    np.testing.assert_array_equal(a.convex_coef_, b.convex_coef_)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert not np.array_equal(a.gates_, c.gates_)


# ------------------------------------------------------------ explainability
def test_explain_neurons_ties_neurons_to_training_samples(rng):
    X, y = _data(rng, n=100)
    model = ConvexReLURegressor(n_patterns=20, alpha=1e-3, random_state=0).fit(X, y)
    info = model.explain_neurons()
    act = model.neuron_activations()
    assert len(info) == model.n_active_neurons_ == act.shape[1]
    Xa = np.c_[X, np.ones(len(X))]
    for j, item in enumerate(info):
        np.testing.assert_array_equal(item["active_samples"], np.flatnonzero(act[:, j]))
        # a ReLU neuron of the exact program fires only inside its pattern D_g
        assert np.all(model.patterns_[item["active_samples"], item["pattern"]])
        w = model.first_layer_weights_[:, j]
        dist = np.abs(Xa @ w) / np.linalg.norm(w[:-1])
        np.testing.assert_allclose(item["boundary_distances"], np.sort(dist)[:3], rtol=1e-9,
                                   atol=1e-12)
    # the hyperplanes of the exact solution pass through training points (active cones)
    assert min(item["boundary_distances"][0] for item in info) < 1e-12
    # gated model: activations are the gate patterns
    gated = ConvexGatedReLURegressor(n_patterns=20, random_state=0).fit(X, y)
    np.testing.assert_array_equal(gated.neuron_activations(),
                                  gated.patterns_[:, gated.neuron_patterns_])


@pytest.mark.parametrize("cls, params", [
    (ConvexGatedReLURegressor, dict(n_patterns=10, fit_intercept=False, random_state=0)),
    (ConvexGatedReLURegressor, dict(fit_intercept=True, gates="given")),
    (ConvexReLURegressor, dict(n_patterns=10, fit_intercept=False, random_state=0)),
    (ConvexReLURegressor, dict(fit_intercept=False, gates="given")),
    (ConvexReLU1D, dict()),
    (ConvexReLU1D, dict(fit_intercept=False))])
def test_fitted_state_does_not_follow_the_callers_arrays(rng, cls, params):
    """X_fit_ and gates_ are copies: overwriting the caller's X or gates after fit changes
    neither predict nor explain_neurons (reference: the same model fitted on private copies)."""
    X, y = _data(rng, n=60)
    X = np.ascontiguousarray(X)
    if params.get("gates") == "given":
        params = dict(params, gates=rng.standard_normal((X.shape[1] + params["fit_intercept"], 8)))
    ref = cls(**{k: (v.copy() if isinstance(v, np.ndarray) else v)
                 for k, v in params.items()}).fit(X.copy(), y)
    model = cls(**params).fit(X, y)
    X_test = X.copy()
    X[:] = rng.standard_normal(X.shape)
    if isinstance(params.get("gates"), np.ndarray):
        params["gates"] *= -1.0
    np.testing.assert_array_equal(model.predict(X_test), ref.predict(X_test))
    np.testing.assert_array_equal(model.X_fit_, ref.X_fit_)
    for a, b in zip(model.explain_neurons(), ref.explain_neurons()):
        np.testing.assert_array_equal(a["active_samples"], b["active_samples"])
    if hasattr(ref, "gates_"):
        np.testing.assert_array_equal(model.gates_, ref.gates_)


# ------------------------------------------------------------------- 1-D exact
def test_relu1d_is_lasso_on_hinge_dictionary_and_network_attains_it(rng):
    x = np.sort(rng.uniform(-2, 2, 50))
    y = np.sin(2 * x) + 0.1 * rng.standard_normal(50)
    alpha = 2e-3
    model = ConvexReLU1D(alpha=alpha, tol=1e-10).fit(x[:, None], y)
    # reference: scikit-learn's Lasso (same scaling) on the explicit dictionary
    A = np.hstack([np.maximum(x[:, None] - x[None, :], 0), np.maximum(x[None, :] - x[:, None], 0)])
    A = A[:, np.any(A != 0, axis=0)]
    # ours is certified (gap <= 1e-10); scikit-learn's stops earlier on this
    # degenerate dictionary (its ConvergenceWarning, expected, is silenced):
    # ours is never worse, and agrees to 1e-4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkConvergenceWarning)
        sk = SkLasso(alpha=alpha, tol=1e-12, max_iter=200_000).fit(A, y)
    sk_obj = 0.5 * np.mean((y - sk.predict(A)) ** 2) + alpha * np.abs(sk.coef_).sum()
    assert model.optimality_ <= 1e-10
    assert model.objective_ <= sk_obj * (1 + 1e-10)
    assert model.objective_ == pytest.approx(sk_obj, rel=1e-4)
    assert model.nonconvex_objective(x[:, None], y) == pytest.approx(model.objective_, rel=1e-6)
    np.testing.assert_allclose(model.predict(x[:, None]), sk.predict(A), atol=1e-2)
    for item in model.explain_neurons():
        assert x[item["breakpoint_sample"]] == item["breakpoint"]


def test_relu1d_several_features_is_additive_lasso(rng):
    """d = 2: LASSO over the concatenated per-feature hinge dictionaries (additive network)."""
    X = rng.uniform(-1, 1, (30, 2))
    y = np.abs(X[:, 0]) - np.maximum(X[:, 1], 0) + 0.05 * rng.standard_normal(30)
    alpha = 5e-3
    model = ConvexReLU1D(alpha=alpha, tol=1e-10).fit(X, y)
    cols = []
    for k in range(2):
        x = X[:, k]
        cols += [np.maximum(x[:, None] - x[None, :], 0), np.maximum(x[None, :] - x[:, None], 0)]
    A = np.hstack(cols)
    A = A[:, np.any(A != 0, axis=0)]
    sk = SkLasso(alpha=alpha, tol=1e-12, max_iter=200_000).fit(A, y)
    sk_obj = 0.5 * np.mean((y - sk.predict(A)) ** 2) + alpha * np.abs(sk.coef_).sum()
    assert model.objective_ <= sk_obj * (1 + 1e-10)
    assert model.objective_ == pytest.approx(sk_obj, rel=1e-4)
    assert model.nonconvex_objective(X, y) == pytest.approx(model.objective_, rel=1e-6)
    # every neuron reads one feature: one non-zero weight among the feature rows
    W = model.first_layer_weights_
    assert np.all(np.count_nonzero(W[:2], axis=0) == 1)
    np.testing.assert_array_equal(np.flatnonzero(W[:2, 0]), [model.neuron_features_[0]])
    # additive: f(x) - c splits into per-feature parts
    parts = [np.maximum(np.c_[X[:, k], np.ones(30)] @ W[[k, 2]][:, model.neuron_features_ == k],
                        0) @ model.second_layer_weights_[model.neuron_features_ == k, 0]
             for k in range(2)]
    np.testing.assert_allclose(model.predict(X), parts[0] + parts[1] + model.intercept_[0])
    for item in model.explain_neurons():
        assert X[item["breakpoint_sample"], item["feature"]] == item["breakpoint"]


def test_relu1d_cd_matches_fista(rng):
    x = rng.uniform(-1, 1, 20)
    y = np.c_[np.abs(x), x ** 2]
    cd = ConvexReLU1D(alpha=1e-2, tol=1e-9).fit(x[:, None], y)
    fi = ConvexReLU1D(alpha=1e-2, tol=1e-9, solver="fista", max_iter=200_000).fit(x[:, None], y)
    assert cd.objective_ == pytest.approx(fi.objective_, rel=1e-7)
    assert cd.predict(x[:, None]).shape == (20, 2)


@pytest.mark.parametrize("model", [ConvexGatedReLURegressor(n_patterns=5, random_state=0),
                                   ConvexReLURegressor(n_patterns=5, random_state=0),
                                   ConvexReLU1D()])
def test_nonconvex_objective_checks_the_shape_of_y(rng, model):
    """y of shape (n, n_outputs) (or (n,)/(n, 1) for one output); a flattened y of the
    right size is refused, not regrouped; the value for a valid y is the direct formula."""
    X, Y = _data(rng, n=40, outputs=2)
    model.fit(X, Y)
    F = model.predict(X)
    decay = 0.5 * model.alpha * (np.sum(model.first_layer_weights_[:X.shape[1]] ** 2)
                                 + np.sum(model.second_layer_weights_ ** 2))
    if not isinstance(model, ConvexReLU1D):   # the two-layer models penalise the hidden bias
        decay += 0.5 * model.alpha * np.sum(model.first_layer_weights_[X.shape[1]:] ** 2)
    expected = 0.5 * np.sum((F - Y) ** 2) / 40 + decay
    assert model.nonconvex_objective(X, Y) == pytest.approx(expected, rel=1e-12)
    for bad in (np.r_[Y[:, 0], Y[:, 1]], Y.T.copy(), Y[:-1], Y[:, :1], Y.ravel()):
        with pytest.raises(ValueError, match=r"\by must have shape \(40, 2\)"):
            model.nonconvex_objective(X, bad)
    # one output: (n,) and (n, 1) give the same value; (n, 2) is refused
    one = model.fit(X, Y[:, 0])
    assert one.nonconvex_objective(X, Y[:, 0]) == one.nonconvex_objective(X, Y[:, :1])
    with pytest.raises(ValueError, match=r"\by must have shape \(40,\) or \(40, 1\)"):
        one.nonconvex_objective(X, Y)


@pytest.mark.parametrize("cls", [ConvexGatedReLURegressor, ConvexReLURegressor, ConvexReLU1D])
def test_predict_shape_follows_mlp_regressor(rng, cls):
    """``predict`` has the shape of scikit-learn's ``MLPRegressor.predict`` (the model
    these mimic) for ``y`` of shape (n,), (n, 1) and (n, 2): 1-D for one output."""
    from sklearn.exceptions import DataConversionWarning
    from sklearn.neural_network import MLPRegressor

    X, Y = _data(rng, n=40, outputs=2)
    kw = {} if cls is ConvexReLU1D else {"n_patterns": 10, "random_state": 0}
    for y in (Y[:, 0], Y[:, :1], Y):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SkConvergenceWarning)
            warnings.simplefilter("ignore", DataConversionWarning)  # its (n, 1) y
            ref = MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, y)
        model = cls(alpha=1e-2, **kw).fit(X, y)
        assert model.predict(X).shape == ref.predict(X).shape, y.shape
    # one output: (n,) and (n, 1) give the same predictions
    a = cls(alpha=1e-2, **kw).fit(X, Y[:, 0]).predict(X)
    b = cls(alpha=1e-2, **kw).fit(X, Y[:, :1]).predict(X)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("cls", [ConvexGatedReLURegressor, ConvexReLURegressor])
def test_bad_input(rng, cls):
    X, y = _data(rng, n=30)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cls().fit(Xn, y)
    yi = y.copy()
    yi[0] = np.inf
    with pytest.raises(ValueError, match="infinity|inf"):
        cls().fit(X, yi)
    with pytest.raises(ValueError, match="n_patterns"):
        cls(n_patterns=0).fit(X, y)
    with pytest.raises(ValueError, match="alpha"):
        cls(alpha=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        cls().fit(X, y[:-1])
    with pytest.raises(ValueError, match="gates"):
        cls(gates=np.ones((2, 5))).fit(X, y)
    model = cls(n_patterns=5, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :2])
    with pytest.warns(ConvergenceWarning, match="gap"):
        cls(n_patterns=20, alpha=1e-6, max_iter=1, random_state=0).fit(X, y)


@pytest.mark.parametrize("cls", [ConvexGatedReLURegressor, ConvexReLURegressor])
def test_alpha_zero_warning_reports_the_kkt_criterion(rng, cls):
    """Without weight decay the duality gap is undefined (nan): the ConvergenceWarning
    reports the criterion FISTA tests, the KKT violation relative to max|A^T y| (built
    here as an explicit matrix), not "relative gap nan"."""
    X, y = _data(rng, n=30)
    with pytest.warns(ConvergenceWarning, match="relative KKT violation") as record:
        model = cls(n_patterns=5, alpha=0, max_iter=20, random_state=0).fit(X, y)
    message = str(record[0].message)
    assert "nan" not in message and "undefined" in message, message
    assert not model.converged_
    assert np.isnan(model.dual_gap_) and np.isnan(model.optimality_)
    Xa = np.c_[X, np.ones(len(X))]
    masks = Xa @ model.gates_ >= 0
    Aty = np.concatenate([(masks[:, [g]] * Xa).T @ y for g in range(masks.shape[1])])
    reported = float(message.split("relative KKT violation ")[1].split(" ")[0])
    expected = model.kkt_violation_ * len(X) / np.abs(Aty).max()
    np.testing.assert_allclose(reported, expected, rtol=5e-3)


def test_relu1d_bad_input(rng):
    model = ConvexReLU1D().fit(rng.standard_normal((10, 2)), rng.standard_normal(10))
    with pytest.raises(ValueError, match="features"):
        model.predict(rng.standard_normal((10, 3)))
    with pytest.raises(ValueError, match="alpha"):
        ConvexReLU1D(alpha=-1).fit(rng.standard_normal((10, 1)), np.ones(10))


@pytest.mark.parametrize("n, p, P, outputs, signs", [
    (50, 3, 4, 1, 1),      # dense eigvalsh path (min(n, P p) <= 64)
    (40, 2, 100, 2, 2),    # dense path, more columns than rows
    (300, 5, 40, 2, 2),    # Lanczos on B B^T (n < P p)
    (400, 4, 10, 1, 2),    # Lanczos on B^T B (n > P p)
    (200, 125, 3, 3, 1),   # wide windows, several outputs
    (200, 130, 3, 1, 1),   # wide windows, B^T B larger than B B^T
    (90, 3, 30, 1, 1),     # Lanczos on B B^T
])
def test_masked_block_design_lipschitz_bounds_dense_norm(n, p, P, outputs, signs):
    """``lipschitz()`` is an upper bound of ||A||_2^2 within 2 % (dense A as reference)."""
    rng = np.random.default_rng(n + P)
    X = rng.standard_normal((n, p))
    masks = rng.random((n, P)) < 0.5
    des = MaskedBlockDesign(X, masks, n_outputs=outputs, n_signs=signs)
    A = np.column_stack([des.matvec(e) for e in np.eye(des.n_features)])
    true = np.linalg.norm(A, 2) ** 2
    lip = des.lipschitz()
    assert true <= lip <= 1.02 * true, (lip, true)



@pytest.mark.parametrize("n, P", [(300, 40), (400, 20)])  # B B^T and B^T B, both > 64
def test_masked_block_design_lipschitz_fallback_when_lanczos_fails(n, P, monkeypatch):
    """When ARPACK does not converge, the generic power iteration gives the bound
    (dense A as reference; same 2 % window)."""
    import scipy.sparse.linalg as spla

    def no_convergence(*args, **kwargs):
        raise spla.ArpackNoConvergence("forced", np.empty(0), np.empty((0, 0)))

    import sparse_events.solvers._designs as designs

    monkeypatch.setattr(spla, "eigsh", no_convergence)
    real_power, used = designs._power_iteration, []

    def power(*args, **kwargs):
        used.append(1)
        return real_power(*args, **kwargs)

    monkeypatch.setattr(designs, "_power_iteration", power)
    rng = np.random.default_rng(n + P)
    X = rng.standard_normal((n, 4))
    masks = rng.random((n, P)) < 0.5
    des = MaskedBlockDesign(X, masks, n_outputs=2, n_signs=2)
    A = np.column_stack([des.matvec(e) for e in np.eye(des.n_features)])
    true = np.linalg.norm(A, 2) ** 2
    lip = des.lipschitz()
    assert used and true <= lip <= 1.02 * true, (lip, true)


# ------------------------------------------------- float32 products of the FISTA path
@pytest.mark.parametrize("outputs, signs", [(1, 1), (2, 1), (2, 2)])
def test_masked_block_float32_products_match_dense_and_float64(outputs, signs):
    """float32 products vs the explicit float64 matrix and the float64 design."""
    rng = np.random.default_rng(7 + outputs + signs)
    n, p, P = 300, 6, 12
    X = np.c_[rng.standard_normal((n, p - 1)), np.ones(n)]
    masks = X @ rng.standard_normal((p, P)) >= 0
    des = MaskedBlockDesign(X, masks, n_outputs=outputs, n_signs=signs)
    f32 = des.float32_products()
    assert f32 is des.float32_products()  # built once
    A = des.group_columns(np.arange(des.n_groups))
    x = rng.standard_normal(des.n_features)
    r = rng.standard_normal(des.n_rows)
    for got, ref64, ref, scale in [
            (f32.matvec(x), des.matvec(x), A @ x, np.abs(A) @ np.abs(x)),
            (f32.rmatvec(r), des.rmatvec(r), A.T @ r, np.abs(A).T @ np.abs(r))]:
        assert got.dtype == np.float64 and got.shape == ref.shape
        # float64 design: rounding level; float32: single-precision level
        np.testing.assert_allclose(ref64, ref, rtol=0, atol=1e-12 * scale.max())
        assert np.all(np.abs(got - ref) <= 1e-5 * scale + 1e-30)
    assert f32.lipschitz() == des.lipschitz()


@pytest.mark.parametrize("outputs, signs", [(1, 1), (2, 1), (2, 2)])
def test_masked_block_products_blas_and_numba_paths_agree(outputs, signs, monkeypatch):
    """``matvec``/``rmatvec`` by BLAS (small problems) and by the numba kernels (above
    ``_BLAS_PRODUCTS_MAX``) both equal the explicit matrix's products."""
    import sparse_events.solvers._masked_block_design as mbd

    rng = np.random.default_rng(11 + outputs + signs)
    n, p, P = 250, 5, 9
    X = np.c_[rng.standard_normal((n, p - 1)), np.ones(n)]
    masks = X @ rng.standard_normal((p, P)) >= 0
    x = rng.standard_normal(outputs * signs * P * p)
    r = rng.standard_normal(outputs * n)
    got = {}
    for limit in (mbd._BLAS_PRODUCTS_MAX, 0):
        monkeypatch.setattr(mbd, "_BLAS_PRODUCTS_MAX", limit)
        des = MaskedBlockDesign(X, masks, n_outputs=outputs, n_signs=signs)
        assert des._blas_products() == (limit > 0)
        got[limit] = (des.matvec(x), des.rmatvec(r))
    A = des.group_columns(np.arange(des.n_groups))
    for mv, rmv in got.values():
        np.testing.assert_allclose(mv, A @ x, rtol=0, atol=1e-12 * np.abs(A @ x).max())
        np.testing.assert_allclose(rmv, A.T @ r, rtol=0, atol=1e-12 * np.abs(A.T @ r).max())


def test_fista_float32_products_prechecks_stop_as_float64_checks(monkeypatch):
    """The float32 estimate at a check only spares the float64 certificate far from
    ``tol``: same stopping iteration, coefficients (up to float32 rounding of the
    iterates) and certified gap as certifying every check in float64, with fewer
    float64 products."""
    import sparse_events.solvers._fista as fista_module

    rng = np.random.default_rng(5)
    n, p, P = 500, 6, 20
    X = np.c_[rng.standard_normal((n, p - 1)), np.ones(n)]
    masks = X @ rng.standard_normal((p, P)) >= 0
    Y = np.c_[np.maximum(X[:, 0], 0) - 0.5 * X[:, 1], np.abs(X[:, 2])]
    Y += 0.1 * rng.standard_normal(Y.shape)
    results, calls, default = {}, {}, fista_module._PRECHECK_FACTOR
    for factor in (default, np.inf):  # inf: every check certified in float64
        monkeypatch.setattr(fista_module, "_PRECHECK_FACTOR", factor)
        des = MaskedBlockDesign(X, masks, n_outputs=2)
        count = []
        real = des.rmatvec
        monkeypatch.setattr(des, "rmatvec",
                            lambda v, real=real, count=count: count.append(1) or real(v))
        datafit, pen = Quadratic(des, Y.T.ravel()), GroupL2(0.02 * n, p)
        for tol in (5e-2, 1e-3):
            res = fista(datafit, pen, tol=tol, max_iter=5000, products=des.float32_products())
            assert res.converged and res.gap <= tol * res.objective[-1]
            results[factor, tol] = res
        calls[factor] = len(count)
    assert calls[default] < calls[np.inf]
    for tol in (5e-2, 1e-3):
        new, ref = results[default, tol], results[np.inf, tol]
        assert new.n_iter == ref.n_iter
        np.testing.assert_allclose(new.coef, ref.coef, rtol=0,
                                   atol=1e-4 * np.abs(ref.coef).max())
        assert new.gap / new.objective[-1] == pytest.approx(ref.gap / ref.objective[-1],
                                                            rel=1e-2)


def test_fista_float32_products_estimates_never_delay_tight_or_loose_fits(monkeypatch):
    """Estimated checks (float32 products) must not delay a fit beyond a few checks.
    Tight ``tol`` (<= 1e-5): every check is certified, so the fit is the one that
    certifies every check (the estimate overstated the gap at this small alpha and, when
    it decided those checks, this fit took 2900 iterations instead of 830).  Loose
    ``tol`` with an estimate that never meets the goal (factor 0): the float64 check at
    every ``_CERTIFY_EVERY``-th check still stops it within that many checks of the
    fully certified fit."""
    import sparse_events.solvers._fista as fista_module
    from sparse_events.models import ConvexGatedReLURegressor

    rng = np.random.default_rng(104)
    for _ in range(4):  # the draws of seed 104's fourth problem (review case)
        X = rng.standard_normal((300, 6))
        W = rng.standard_normal((6, 4))
        Y = (np.maximum(X @ W, 0) @ rng.standard_normal((4, 2))
             + 1e-3 * rng.standard_normal((300, 2)))

    def fit(tol, alpha):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ConvexGatedReLURegressor(n_patterns=12, alpha=alpha, tol=tol, max_iter=4000,
                                            precision="float32", random_state=4,
                                            solver="fista").fit(X, Y)

    default = fista_module._PRECHECK_FACTOR
    for tol, alpha, factor in ((1e-6, 1e-5, default), (1e-3, 1e-3, 0.0)):
        monkeypatch.setattr(fista_module, "_PRECHECK_FACTOR", np.inf)
        ref = fit(tol, alpha)
        monkeypatch.setattr(fista_module, "_PRECHECK_FACTOR", factor)
        got = fit(tol, alpha)
        assert ref.converged_ and got.converged_
        if tol <= fista_module._PRODUCTS_FLOOR:
            assert got.n_iter_ == ref.n_iter_
            np.testing.assert_array_equal(got.predict(X), ref.predict(X))
        else:
            assert ref.n_iter_ <= got.n_iter_ <= ref.n_iter_ + 10 * (
                fista_module._CERTIFY_EVERY - 1)


def test_fista_float32_products_certificate_is_float64():
    """With float32 products, FISTA's gap and objective are the float64 ones at its x."""
    from sparse_events.solvers._optimality import check_optimality

    rng = np.random.default_rng(3)
    n, p, P = 400, 5, 15
    X = np.c_[rng.standard_normal((n, p - 1)), np.ones(n)]
    masks = X @ rng.standard_normal((p, P)) >= 0
    y = np.maximum(X[:, 0], 0) - 0.5 * X[:, 1] + 0.1 * rng.standard_normal(n)
    des = MaskedBlockDesign(X, masks)
    datafit, pen = Quadratic(des, y), GroupL2(0.02 * n, p)
    res64 = fista(datafit, pen, tol=1e-8, max_iter=20000)
    res32 = fista(datafit, pen, tol=1e-3, max_iter=20000, products=des.float32_products())
    assert res32.converged
    chk = check_optimality(datafit, pen, res32.coef, y - des.matvec(res32.coef))
    assert res32.gap == pytest.approx(chk.gap, rel=1e-12, abs=1e-12 * chk.primal)
    assert res32.objective[-1] == pytest.approx(chk.primal, rel=1e-12)
    assert chk.gap <= 1e-3 * chk.primal
    # within tol of the float64 path's (near exact) optimum
    assert res32.objective[-1] - res64.objective[-1] <= 1e-3 * res64.objective[-1]
    with pytest.raises(ValueError, match="products"):
        fista(datafit, pen, products=MaskedBlockDesign(X[:-1], masks[:-1]))


@pytest.mark.parametrize("cls", [ConvexGatedReLURegressor, ConvexReLURegressor])
def test_float32_precision_matches_float64_solution(rng, cls):
    """precision='float32' (FISTA): objective within tol of the float64 path's, same fit."""
    X, y = _data(rng, n=300, outputs=2)
    kw = dict(n_patterns=20, alpha=1e-2, solver="fista", tol=1e-4, max_iter=20000,
              random_state=0)
    m64 = cls(precision="float64", **kw).fit(X, y)
    m32 = cls(precision="float32", **kw).fit(X, y)
    assert m32.converged_ and m32.optimality_ <= 1e-4
    tol = 1e-4
    assert abs(m32.objective_ - m64.objective_) <= tol * m64.objective_
    np.testing.assert_allclose(m32.predict(X), m64.predict(X), atol=1e-2 * np.std(y))
    # the reported optimality certifies the returned network in float64
    assert m32.objective_ == pytest.approx(_plain_objective(m32, X, y, cls is ConvexReLURegressor),
                                           rel=1e-6)
    with pytest.raises(ValueError, match="precision"):
        cls(precision="float16").fit(X, y)


@pytest.mark.parametrize("single", [False, True])
def test_interior_point_newton_system_solves_and_restriction_match_dense(single):
    """Factors in place (Fortran order), single precision + CG, and the restriction to
    a subset of groups (buffers reused) solve like numpy's dense solve."""
    from sparse_events.solvers._group_ipm import _NewtonSystem

    rng = np.random.default_rng(3)
    p, K = 4, 30
    A = rng.standard_normal((80, K * p))
    H = A.T @ A
    B = rng.standard_normal((K, p, p))
    red = np.matmul(B, B.transpose(0, 2, 1)) + 0.1 * np.eye(p)
    lin = _NewtonSystem(H, p, single=single)
    assert lin.factor(red, 0.0, single=single, rtol=1e-12)

    rhs = rng.standard_normal(K * p)
    _assert_solves_like_dense(lin, H, red, rhs)
    keep = np.sort(rng.choice(K, 17, replace=False))
    cols = (keep[:, None] * p + np.arange(p)).ravel()
    sub = lin.restrict(cols)
    np.testing.assert_array_equal(sub.H, H[np.ix_(cols, cols)])
    assert sub.factor(red[keep], 0.0, single=single, rtol=1e-12)
    _assert_solves_like_dense(sub, H[np.ix_(cols, cols)], red[keep], rhs[cols])
    # a second restriction copies in place into the first one's matrices
    keep2 = keep[::2]
    loc = np.flatnonzero(np.isin(keep, keep2))
    sub2 = sub.restrict((loc[:, None] * p + np.arange(p)).ravel())
    cols2 = (keep2[:, None] * p + np.arange(p)).ravel()
    np.testing.assert_array_equal(sub2.H, H[np.ix_(cols2, cols2)])
    if single:
        np.testing.assert_array_equal(sub2.H32, H[np.ix_(cols2, cols2)].astype(np.float32))
    assert sub2.factor(red[keep2], 0.0, single=single, rtol=1e-12)
    _assert_solves_like_dense(sub2, H[np.ix_(cols2, cols2)], red[keep2], rhs[cols2])


def test_float32_precision_reaches_tight_tolerance(rng):
    """Below float32's accuracy FISTA finishes with float64 products: tol=1e-9 converges."""
    X, y = _data(rng, n=200, outputs=2)
    kw = dict(n_patterns=10, alpha=1e-2, solver="fista", tol=1e-9, max_iter=50000,
              random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        m32 = ConvexGatedReLURegressor(precision="float32", **kw).fit(X, y)
    ref = ConvexGatedReLURegressor(solver="cd", **{k: v for k, v in kw.items()
                                                   if k != "solver"}).fit(X, y)
    assert m32.converged_ and m32.optimality_ <= 1e-9
    assert m32.objective_ == pytest.approx(ref.objective_, rel=2e-9)


def test_gather_submatrix_without_single_copy_equals_numpy_fancy_indexing():
    from sparse_events.solvers._group_gram_kernels import gather_submatrix

    rng = np.random.default_rng(11)
    G = rng.standard_normal((40, 40))
    for rows in (np.array([3, 0, 17, 39, 5]), np.arange(40), np.array([7]),
                 np.sort(rng.choice(40, 25, replace=False))):
        out = np.empty((rows.size, rows.size))
        gather_submatrix(G, rows.astype(np.int64), out, np.empty((0, 0), dtype=np.float32))
        np.testing.assert_array_equal(out, G[np.ix_(rows, rows)])


def test_gram_subproblem_set_x_keeps_gradient_of_explicit_matrix():
    # after set_x, q is the gradient -A_W^T (y - A x) of the explicit matrix at the new point
    from sparse_events.solvers._group_gram import GramSubproblem

    rng = np.random.default_rng(2)
    X = np.c_[rng.standard_normal((40, 2)), np.ones(40)]
    D = X @ rng.standard_normal((3, 15)) >= 0
    des = MaskedBlockDesign(X, D)
    A = np.hstack([D[:, [g]] * X for g in range(15)])
    y = rng.standard_normal(40)
    x = 0.1 * rng.standard_normal(45)
    ws = np.array([1, 4, 5, 9, 13])
    sub = GramSubproblem(des, ws, x, A.T @ (y - A @ x), np.full(15, 0.3), False)
    new = rng.standard_normal(sub.idx.size)
    sub.set_x(new)
    full = x.copy()
    full[sub.idx] = new
    np.testing.assert_array_equal(sub.x, new)
    np.testing.assert_allclose(sub.q, -(A.T @ (y - A @ full))[sub.idx], atol=1e-12)


def test_uncertified_interior_point_falls_back_to_coordinate_descent(monkeypatch):
    # interior-point solves cut short (never certified) and no repeat allowed: coordinate
    # descent takes over on the ordinary working set; same optimum as the explicit matrix
    import sparse_events.solvers._group_cd as gcd

    real = gcd.interior_point_group_lasso
    real_cd = gcd.solve_subproblem
    calls = []
    events = []   # ("ipm" | "cd", number of groups of the subproblem)

    def short(*args, **kwargs):
        calls.append(1)
        events.append(("ipm", args[0].shape[0] // 3))
        return real(*args, **{**kwargs, "max_iter": 2})

    def spy(sub, *args, **kwargs):
        events.append(("cd", sub.ws.size))
        return real_cd(sub, *args, **kwargs)

    monkeypatch.setattr(gcd, "interior_point_group_lasso", short)
    monkeypatch.setattr(gcd, "solve_subproblem", spy)
    monkeypatch.setattr(gcd, "_IPM_REPEATS", 0)
    Xa, D, A, y = _correlated_groups_problem()
    lam = 0.05
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = group_coordinate_descent(Quadratic(MaskedBlockDesign(Xa, D), y),
                                       GroupL2(lam, 3), tol=1e-7, p0=205, max_iter=300)
    assert calls and res.converged
    # the solve after the refused repeat is coordinate descent on the ordinary working
    # set, not on the interior point's reduced (distinct-mask) set of groups
    last = max(i for i, e in enumerate(events) if e[0] == "ipm")
    assert events[last + 1][0] == "cd" and events[last + 1][1] > events[last][1]
    ref = group_coordinate_descent(Quadratic(A, y), GroupL2(lam, 3), tol=1e-9)
    assert res.objective[-1] == pytest.approx(ref.objective[-1], rel=1e-6)
