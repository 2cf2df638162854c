"""ADMM in sample space for large gated working sets (sparse_events.solvers._group_admm)."""

import numpy as np
import pytest

import sparse_events.solvers._group_cd as gcd
from sparse_events.solvers import GroupL2, MaskedBlockDesign, Quadratic, group_coordinate_descent
from sparse_events.solvers._group_admm import admm_group_lasso
from sparse_events.solvers._optimality import check_optimality


def _problem(n=60, n_patterns=205, seed=0):
    """Strongly correlated groups (patterns of 2-D data with a bias column):
    (Xa, D, A = [D_1 Xa, ..., D_P Xa], y)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    y = np.abs(X[:, 0]) - X[:, 1] + 0.1 * rng.standard_normal(n)
    Xa = np.c_[X, np.ones(n)]
    D = Xa @ np.random.default_rng(seed + 3).standard_normal((3, n_patterns)) >= 0
    A = np.hstack([D[:, [g]] * Xa for g in range(n_patterns)])
    return Xa, D, A, y


@pytest.mark.parametrize("n_signs", [1, 2])
def test_sample_gram_matches_dense(n_signs):
    Xa, D, _, _ = _problem()
    des = MaskedBlockDesign(Xa, D, n_signs=n_signs)
    groups = np.array([0, 5, 5, 17, 204, 3] + ([205 + 9, 205 + 17] if n_signs == 2 else []))
    op = des.working_set_operator(groups)
    A_W = des.group_columns(groups)
    K = op.sample_gram()
    assert K.dtype == np.float64 and K.shape == (60, 60)
    np.testing.assert_allclose(K, A_W @ A_W.T, rtol=1e-13, atol=1e-12)


def test_sample_gram_rejects_groups_of_several_outputs():
    Xa, D, _, _ = _problem()
    des = MaskedBlockDesign(Xa, D, n_outputs=2)
    with pytest.raises(ValueError, match="one output"):
        des.working_set_operator(np.array([0, 205 + 1])).sample_gram()


def test_admm_matches_group_lasso_on_explicit_matrix():
    # 615 coefficients, 60 samples; reference: group CD on the dense [D_1 X ... D_P X]
    Xa, D, A, y = _problem()
    lam = 0.05
    des = MaskedBlockDesign(Xa, D)
    groups = np.arange(205)
    op = des.working_set_operator(groups)
    t = np.full(205, lam)
    z, n_iter, accepted = admm_group_lasso(op, op.sample_gram(), y, t, 3, np.zeros(615),
                                           rho=8 * lam, rel_tol=1e-10, max_iter=20000)
    assert z is not None and not accepted and n_iter < 20000
    chk = check_optimality(Quadratic(des, y), GroupL2(lam, 3), z, y - des.matvec(z))
    ref = group_coordinate_descent(Quadratic(A, y), GroupL2(lam, 3), tol=1e-12)
    assert ref.converged
    # ADMM's own gap (dual point from the residual of u) is certified: objective within it
    f_ref = ref.objective[-1]
    assert abs(chk.primal - f_ref) <= 1e-10 * f_ref + ref.gap
    np.testing.assert_allclose(A @ z, A @ ref.coef, atol=1e-4)
    # groups are exactly zero or not (the z-step is a group soft-thresholding)
    assert np.any(np.all(z.reshape(-1, 3) == 0, axis=1))


def _spies(monkeypatch):
    calls = {"admm": 0, "ipm": 0}
    real_admm, real_ipm = gcd.admm_group_lasso, gcd.interior_point_group_lasso

    def admm(*args, **kwargs):
        calls["admm"] += 1
        return real_admm(*args, **kwargs)

    def ipm(*args, **kwargs):
        calls["ipm"] += 1
        return real_ipm(*args, **kwargs)

    monkeypatch.setattr(gcd, "admm_group_lasso", admm)
    monkeypatch.setattr(gcd, "interior_point_group_lasso", ipm)
    return calls


def _solve(Xa, D, y, lam, tol):
    return group_coordinate_descent(Quadratic(MaskedBlockDesign(Xa, D), y),
                                    GroupL2(lam, 3), tol=tol, p0=D.shape[1])


def _assert_dense_optimum(res, A, y, lam, fit=True):
    """``res`` reaches the optimum of group CD on the dense matrix ``A`` (objective to 2e-9
    relative, and with ``fit`` the fitted values to 1e-4)."""
    ref = group_coordinate_descent(Quadratic(A, y), GroupL2(lam, 3), tol=1e-12)
    assert res.objective[-1] == pytest.approx(ref.objective[-1], rel=2e-9)
    if fit:
        np.testing.assert_allclose(A @ res.coef, A @ ref.coef, atol=1e-4)


def test_switch_taken_with_more_coefficients_than_samples(monkeypatch):
    monkeypatch.setattr(gcd, "_ADMM_MIN_SAMPLES", 0)
    calls = _spies(monkeypatch)
    Xa, D, A, y = _problem()
    lam = 0.05
    res = _solve(Xa, D, y, lam, 1e-9)
    assert calls["admm"] == 1 and calls["ipm"] == 0
    assert res.converged and res.extra["admm_iterations"] > 0
    assert res.gap <= 1e-9 * res.objective[-1]
    _assert_dense_optimum(res, A, y, lam)


def test_switch_not_taken_with_fewer_coefficients_than_samples(monkeypatch):
    # 100 patterns (300 coefficients, every group in the working set) and 400 samples: the
    # interior point as before
    monkeypatch.setattr(gcd, "_ADMM_MIN_SAMPLES", 0)
    calls = _spies(monkeypatch)
    Xa, D, A, y = _problem(n=400, n_patterns=100, seed=1)
    res = _solve(Xa, D, y, 0.1, 1e-10)
    assert calls["ipm"] >= 1 and calls["admm"] == 0
    assert res.converged and res.extra["admm_iterations"] == 0


def test_switch_not_taken_below_min_samples(monkeypatch):
    calls = _spies(monkeypatch)
    Xa, D, _, y = _problem()
    assert 60 < gcd._ADMM_MIN_SAMPLES
    res = _solve(Xa, D, y, 0.05, 1e-9)
    assert res.converged and calls["admm"] == 0 and calls["ipm"] >= 1


def test_switch_not_taken_above_memory_cap(monkeypatch):
    monkeypatch.setattr(gcd, "_ADMM_MIN_SAMPLES", 0)
    monkeypatch.setattr(gcd, "_ADMM_MAX_BYTES", 8 * 60 * 60 - 1)
    calls = _spies(monkeypatch)
    Xa, D, _, y = _problem()
    res = _solve(Xa, D, y, 0.05, 1e-9)
    assert res.converged and calls["admm"] == 0 and calls["ipm"] >= 1


def test_switch_not_taken_with_several_outputs(monkeypatch):
    # the outputs' working sets would need one factor each: the interior point as before
    monkeypatch.setattr(gcd, "_ADMM_MIN_SAMPLES", 0)
    calls = _spies(monkeypatch)
    Xa, D, _, y = _problem()
    des = MaskedBlockDesign(Xa, D, n_outputs=2)
    res = group_coordinate_descent(Quadratic(des, np.r_[y, -y]), GroupL2(0.05, 3), tol=1e-9,
                                   p0=410)
    assert res.converged and calls["admm"] == 0 and calls["ipm"] >= 1


def test_fallback_to_interior_point_when_admm_is_capped(monkeypatch):
    monkeypatch.setattr(gcd, "_ADMM_MIN_SAMPLES", 0)
    monkeypatch.setattr(gcd, "_ADMM_MAX_ITER", 1)
    calls = _spies(monkeypatch)
    Xa, D, A, y = _problem()
    lam = 0.05
    res = _solve(Xa, D, y, lam, 1e-9)
    assert calls["admm"] == 1 and calls["ipm"] >= 1
    assert res.converged and res.extra["admm_iterations"] == 1
    assert res.extra["barrier_newton_steps"] > 0
    _assert_dense_optimum(res, A, y, lam, fit=False)


def test_admm_path_deterministic(monkeypatch):
    monkeypatch.setattr(gcd, "_ADMM_MIN_SAMPLES", 0)
    Xa, D, _, y = _problem()
    a = _solve(Xa, D, y, 0.05, 1e-9)
    b = _solve(Xa, D, y, 0.05, 1e-9)
    assert a.extra["admm_iterations"] > 0
    np.testing.assert_array_equal(a.coef, b.coef)
    assert a.gap == b.gap


def test_gated_model_with_admm_matches_interior_point_path(monkeypatch):
    # 1200 samples, 800 gates (about 2400 coefficients > n): the default switch takes ADMM;
    # reference: the same model with the interior point (ADMM disabled by its memory cap)
    from sparse_events import ConvexGatedReLURegressor

    rng = np.random.default_rng(7)
    X = rng.standard_normal((1200, 2))
    y = np.abs(X[:, 0]) - np.maximum(X[:, 1], 0) + 0.1 * rng.standard_normal(1200)
    calls = _spies(monkeypatch)
    kw = dict(n_patterns=800, alpha=1e-4, tol=1e-8, random_state=0)
    fast = ConvexGatedReLURegressor(**kw).fit(X, y)
    assert calls["admm"] >= 1 and fast.converged_ and fast.optimality_ <= 1e-8
    monkeypatch.setattr(gcd, "_ADMM_MAX_BYTES", 0)
    calls["admm"] = calls["ipm"] = 0
    ref = ConvexGatedReLURegressor(**kw).fit(X, y)
    assert calls["admm"] == 0 and calls["ipm"] >= 1 and ref.converged_
    assert fast.objective_ == pytest.approx(ref.objective_, rel=2e-8)
    np.testing.assert_allclose(fast.predict(X), ref.predict(X), atol=1e-3)


def test_direct_admm_on_all_groups_matches_interior_point_path(monkeypatch):
    # default p0 (100 of 300 groups): every distinct group goes to ADMM at once, without
    # coordinate-descent warm-up; reference: the interior-point path (ADMM disabled by its
    # memory cap) and group CD on the dense matrix
    monkeypatch.setattr(gcd, "_ADMM_MIN_SAMPLES", 0)
    calls = _spies(monkeypatch)
    Xa, D, A, y = _problem(n_patterns=300)
    lam = 0.05
    des = MaskedBlockDesign(Xa, D)
    assert (des.pattern_representatives() >= 0).sum() > gcd._IPM_MIN_GROUPS
    res = group_coordinate_descent(Quadratic(des, y), GroupL2(lam, 3), tol=1e-9)
    assert calls["admm"] == 1 and calls["ipm"] == 0
    assert res.converged and res.n_iter == 0 and res.extra["admm_iterations"] > 0
    assert res.gap <= 1e-9 * res.objective[-1]
    monkeypatch.setattr(gcd, "_ADMM_MAX_BYTES", 0)
    calls["admm"] = calls["ipm"] = 0
    ipm = group_coordinate_descent(Quadratic(des, y), GroupL2(lam, 3), tol=1e-9, p0=300)
    assert calls["admm"] == 0 and calls["ipm"] >= 1 and ipm.converged
    assert res.objective[-1] == pytest.approx(ipm.objective[-1], rel=2e-9)
    _assert_dense_optimum(res, A, y, lam, fit=False)
    np.testing.assert_allclose(A @ res.coef, A @ ipm.coef, atol=1e-4)


def test_direct_admm_stops_early_on_a_sparse_optimum(monkeypatch):
    # a large threshold (fewer non-zero coefficients than samples at the optimum, the
    # early-stop fraction raised to 1 for these 60 samples, the probe of _admm_direct
    # disabled): the direct ADMM stops after _ADMM_SPARSE_ITER iterations and the working
    # sets finish from its iterate
    monkeypatch.setattr(gcd, "_ADMM_MIN_SAMPLES", 0)
    monkeypatch.setattr(gcd, "_ADMM_SPARSE_FRACTION", 1.0)
    monkeypatch.setattr(gcd, "_ADMM_DENSE_FRACTION", 0.0)
    calls = _spies(monkeypatch)
    Xa, D, A, y = _problem(n_patterns=300)
    lam = 32.0
    des = MaskedBlockDesign(Xa, D)
    res = group_coordinate_descent(Quadratic(des, y), GroupL2(lam, 3), tol=1e-9)
    assert calls["admm"] == 1
    assert res.extra["admm_iterations"] == gcd._ADMM_SPARSE_ITER
    assert res.converged and res.gap <= 1e-9 * res.objective[-1]
    assert 0 < np.count_nonzero(res.coef) <= gcd._ADMM_SPARSE_FRACTION * y.size
    _assert_dense_optimum(res, A, y, lam)


@pytest.mark.parametrize("lam", [0.05, 32.0])
def test_direct_admm_only_when_one_pass_leaves_most_groups_nonzero(monkeypatch, lam):
    # one pass of group updates from zero over the distinct groups decides: most of them
    # non-zero (lam = 0.05) -> ADMM at once on all of them; few (lam = 32, a sparse optimum)
    # -> the working sets, which never exceed the samples here (no ADMM, no interior
    # point); the same optimum as group CD on the dense matrix either way
    monkeypatch.setattr(gcd, "_ADMM_MIN_SAMPLES", 0)
    calls = _spies(monkeypatch)
    Xa, D, A, y = _problem(n_patterns=300)
    des = MaskedBlockDesign(Xa, D)
    rep = des.pattern_representatives()
    groups = np.unique(rep[rep >= 0])
    x, r = np.zeros(900), y.copy()
    des.group_epochs(x, r, groups, des.group_lipschitz(), np.full(300, lam), 1)
    frac = np.mean(np.any(x.reshape(-1, 3)[groups] != 0, axis=1))
    dense = lam < 1.0
    assert (frac >= gcd._ADMM_DENSE_FRACTION) == dense
    res = group_coordinate_descent(Quadratic(des, y), GroupL2(lam, 3), tol=1e-9)
    assert calls["admm"] == (1 if dense else 0)
    assert res.converged and (res.n_iter == 0) == dense
    _assert_dense_optimum(res, A, y, lam)


def test_reported_gap_bounds_the_true_suboptimality(monkeypatch):
    # the certificate's dual point (ADMM's, rescaled into the dual set of the whole design):
    # every certified dual value is at most the optimum of a tight reference (weak duality),
    # so the final reported gap is at least the true suboptimality
    monkeypatch.setattr(gcd, "_ADMM_MIN_SAMPLES", 0)
    calls = _spies(monkeypatch)
    Xa, D, A, y = _problem()
    lam = 0.05
    duals = []
    real_with_dual = gcd._with_dual

    def with_dual(chk, dual):
        if dual is not None:
            duals.append(dual)
        return real_with_dual(chk, dual)

    monkeypatch.setattr(gcd, "_with_dual", with_dual)
    res = group_coordinate_descent(Quadratic(MaskedBlockDesign(Xa, D), y), GroupL2(lam, 3),
                                   tol=1e-6, p0=D.shape[1])
    assert calls["admm"] >= 1 and duals and res.converged
    ref = group_coordinate_descent(Quadratic(A, y), GroupL2(lam, 3), tol=1e-13)
    assert ref.converged
    f_ref = ref.objective[-1]
    assert max(duals) <= f_ref + ref.gap + 1e-12 * f_ref
    assert res.gap >= res.objective[-1] - f_ref - ref.gap - 1e-12 * f_ref
    assert res.gap <= 1e-6 * res.objective[-1]


def test_stalled_or_unfactorable_admm_returns_none():
    Xa, D, _, y = _problem()
    des = MaskedBlockDesign(Xa, D)
    op = des.working_set_operator(np.arange(205))
    t = np.full(205, 0.05)
    # a matrix that is not positive definite: no factor, the caller's fallback
    K = -np.eye(60)
    z, n_iter, accepted = admm_group_lasso(op, K, y, t, 3, np.zeros(615), rho=0.4,
                                           rel_tol=1e-10)
    assert z is None and n_iter == 0 and not accepted
    # a gap that cannot halve: a tolerance below rounding with a rho far off the rule
    z, n_iter, accepted = admm_group_lasso(op, op.sample_gram(), y, t, 3, np.zeros(615),
                                           rho=1e-6, rel_tol=0.0, max_iter=5000)
    assert z is None and not accepted and n_iter < 5000 and n_iter % 100 == 0


@pytest.mark.parametrize("n_outputs,n_signs", [(1, 1), (1, 2), (2, 1)])
def test_directional_columns_match_dense(n_outputs, n_signs):
    Xa, D, _, _ = _problem()
    des = MaskedBlockDesign(Xa, D, n_outputs=n_outputs, n_signs=n_signs)
    groups = np.array([0, 5, 17, des.n_groups - 1, 204, 3])
    op = des.working_set_operator(groups)
    local = np.array([4, 1, 3, 0])
    V = np.random.default_rng(2).standard_normal((4, 3))
    cols = des.group_columns(groups[local])
    ref = np.stack([cols[:, 3 * j:3 * j + 3] @ V[j] for j in range(4)], axis=1)
    np.testing.assert_allclose(op.directional_columns(local, V), ref, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("n_groups", [1, 7, 33, 410])
@pytest.mark.parametrize("n_signs", [1, 2])
def test_single_output_products_match_dense(n_groups, n_signs):
    # the numba products of one output (masks read as bytes) against the explicit columns:
    # any number of groups (vectorised sums and their remainders), repeated groups, zero
    # residual entries (skipped rows)
    Xa, D, _, _ = _problem(n=97)
    des = MaskedBlockDesign(Xa, D, n_signs=n_signs)
    groups = np.random.default_rng(n_groups).integers(0, des.n_groups, n_groups)
    op = des.working_set_operator(groups)
    A_W = des.group_columns(groups)
    rng = np.random.default_rng(5)
    v = rng.standard_normal(A_W.shape[1])
    r = rng.standard_normal(97)
    r[::3] = 0.0
    scale = np.abs(A_W).max() * (v.size + r.size)
    np.testing.assert_allclose(op.matvec(v), A_W @ v, rtol=0, atol=1e-14 * scale)
    np.testing.assert_allclose(op.rmatvec(r), A_W.T @ r, rtol=0, atol=1e-14 * scale)
    np.testing.assert_array_equal(op.M, A_W[:, ::3] != 0)


@pytest.mark.parametrize("n_outputs,n_signs", [(1, 1), (1, 2), (2, 1), (2, 2)])
def test_design_products_match_group_columns(n_outputs, n_signs):
    # the full design's numba products (every output) against its explicit columns
    Xa, D, _, _ = _problem(n=53)
    des = MaskedBlockDesign(Xa, D, n_outputs=n_outputs, n_signs=n_signs)
    A = des.group_columns(np.arange(des.n_groups))
    rng = np.random.default_rng(n_outputs + 2 * n_signs)
    v = rng.standard_normal(des.n_features)
    r = rng.standard_normal(des.n_rows)
    scale = np.abs(A).max() * (v.size + r.size)
    np.testing.assert_allclose(des.matvec(v), A @ v, rtol=0, atol=1e-14 * scale)
    np.testing.assert_allclose(des.rmatvec(r), A.T @ r, rtol=0, atol=1e-14 * scale)


def test_mask_products_propagate_nan():
    # as the float64 matrix products do (the numba kernels may reassociate, not drop NaN)
    Xa, D, _, _ = _problem()
    des = MaskedBlockDesign(Xa, D)
    op = des.working_set_operator(np.arange(40))
    r = np.ones(60)
    r[7] = np.nan
    v = np.ones(120)
    v[5] = np.nan
    vd = np.ones(des.n_features)
    vd[5] = np.nan
    for prod in (op.rmatvec(r), des.rmatvec(r), op.matvec(v), des.matvec(vd)):
        assert np.isnan(prod).any()


def test_bool_masks_with_other_bytes_read_as_zero_one():
    # a bool array reinterpreted from bytes other than 0/1 (np.frombuffer / .view(bool)):
    # the byte-reading products equal those of the clean masks (found by review: a byte
    # 2 was multiplied in as a weight of 2)
    Xa, D, _, _ = _problem(n=53)
    raw = D.astype(np.uint8)
    raw[raw == 1] = 2
    dirty = raw.view(bool)
    clean, odd = MaskedBlockDesign(Xa, D), MaskedBlockDesign(Xa, dirty)
    rng = np.random.default_rng(3)
    v, r = rng.standard_normal(clean.n_features), rng.standard_normal(53)
    np.testing.assert_array_equal(odd.matvec(v), clean.matvec(v))
    np.testing.assert_array_equal(odd.rmatvec(r), clean.rmatvec(r))
    groups = np.arange(0, clean.n_groups, 3)
    np.testing.assert_array_equal(odd.working_set_operator(groups).sample_gram(),
                                  clean.working_set_operator(groups).sample_gram())


def _distinct_problem(lam):
    """150 samples, the distinct groups of 205 patterns (duplicated masks give identical
    columns): (op, A_W, y, thresholds, dense reference)."""
    Xa, D, _, y = _problem(n=150)
    des = MaskedBlockDesign(Xa, D)
    rep = des.pattern_representatives()
    groups = np.unique(rep[rep >= 0])
    A = des.group_columns(groups)
    ref = group_coordinate_descent(Quadratic(A, y), GroupL2(lam, 3), tol=1e-12, max_iter=1000)
    assert ref.converged and A.shape[1] > y.size
    return des.working_set_operator(groups), A, y, np.full(groups.size, lam), ref


def _dual_value(A, y, t, theta, p=3):
    """Dual objective of the best feasible multiple of ``theta`` (dense reference)."""
    g = np.max(np.linalg.norm((A.T @ theta).reshape(-1, p), axis=1) / t)
    s = min(max(float(y @ theta) / float(theta @ theta), 0.0), 1.0 / g)
    return s * float(y @ theta) - 0.5 * s * s * float(theta @ theta)


def test_gauss_newton_points_are_second_order_near_the_optimum():
    # reference optimum: group CD on the dense matrix; a dual point theta* + e and the
    # support of the optimum: the Gauss-Newton dual point (scaled into the dual set) loses
    # far less than theta* + e scaled (second against first order), and both candidates
    # respect weak duality against the reference optimum
    from sparse_events.solvers._group_admm import _gauss_newton_points

    lam = 0.2
    op, A, y, t, ref = _distinct_problem(lam)
    f_ref = ref.objective[-1]
    theta_ref = y - A @ ref.coef
    e = np.random.default_rng(5).standard_normal(150)
    losses = []
    for eps in (1e-4, 1e-5):
        theta = theta_ref + eps * np.linalg.norm(theta_ref) * e / np.linalg.norm(e)
        theta_gn, x_gn = _gauss_newton_points(op, y, theta, A.T @ theta, ref.coef, t, 3)
        loss_scaled = f_ref - _dual_value(A, y, t, theta)
        loss_gn = f_ref - _dual_value(A, y, t, theta_gn)
        r = y - A @ x_gn
        primal_gn = 0.5 * float(r @ r) + lam * np.linalg.norm(x_gn.reshape(-1, 3), axis=1).sum()
        # weak duality (dual below, primal above the optimum), far below the scaled loss
        assert -ref.gap <= loss_gn <= 1e-2 * loss_scaled
        assert -ref.gap <= primal_gn - f_ref <= 1e-2 * loss_scaled
        losses.append((loss_scaled, loss_gn, primal_gn - f_ref))
    (s1, d1, p1), (s2, d2, p2) = losses
    # ten times closer: the scaled loss ten times smaller, the Gauss-Newton ones about 100
    assert 5 < s1 / s2 < 20 and d1 / d2 > 50 and p1 / p2 > 50


def test_gauss_newton_points_cut_admm_iterations():
    # same problem, same certified tolerance: fewer ADMM iterations with the Gauss-Newton
    # candidates than without (disabled by an impossible trigger), the same optimum as the
    # dense reference, and ADMM's gap bounds the true suboptimality
    import sparse_events.solvers._group_admm as gadm

    lam = 0.2
    op, A, y, t, ref = _distinct_problem(lam)
    f_ref = ref.objective[-1]
    runs = {}
    for factor in (gadm._GN_FACTOR, 0.0):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(gadm, "_GN_FACTOR", factor)
            z, n_iter, _ = admm_group_lasso(op, op.sample_gram(), y, t, 3, np.zeros(A.shape[1]),
                                            rho=8 * lam, rel_tol=1e-8, max_iter=5000)
        assert z is not None
        r = y - A @ z
        f = 0.5 * float(r @ r) + lam * np.linalg.norm(z.reshape(-1, 3), axis=1).sum()
        assert -ref.gap - 1e-12 * f_ref <= f - f_ref <= 1e-8 * f + ref.gap
        runs[factor] = n_iter
    assert runs[gadm._GN_FACTOR] < runs[0.0]


def test_every_dual_point_handed_to_accept_is_dual_feasible():
    # the dual points ADMM hands to ``accept`` (its own scaled residuals and the scaled
    # Gauss-Newton points) lie in the dual set of the whole problem: max_k ||A_k^T theta||
    # / t_k <= 1, so ``accept`` may use them as they are (found by review: a Gauss-Newton
    # point evaluated without the scaling passed every other test)
    lam = 0.2
    op, A, y, t, ref = _distinct_problem(lam)
    seen = []

    def accept(z, theta):
        seen.append(theta.copy())
        return False

    admm_group_lasso(op, op.sample_gram(), y, t, 3, np.zeros(A.shape[1]), rho=8 * lam,
                     rel_tol=1e-12, accept=accept, accept_tol=1e-6, max_iter=400)
    assert len(seen) >= 2
    for theta in seen:
        ratio = np.linalg.norm((A.T @ theta).reshape(-1, 3), axis=1) / t
        assert ratio.max() <= 1 + 1e-12


@pytest.mark.parametrize("penalty_weight", [0.5, 0.0])
def test_kkt_warning_names_the_group_scale(rng, penalty_weight):
    """Under the KKT rule, group coordinate descent's ConvergenceWarning reports the
    relative violation against the scale it tests, ``max_g ||A_g^T y||`` (computed here
    from the matrix), and names that scale (not the element-wise ``max |A^T y|``)."""
    from sparse_events.solvers import ConvergenceWarning

    A = rng.standard_normal((30, 40))
    y = rng.standard_normal(30)
    with pytest.warns(ConvergenceWarning, match=r"max_g \|\|A_g\^T y\|\|") as record:
        res = group_coordinate_descent(Quadratic(A, y), GroupL2(penalty_weight, 4),
                                       stopping="kkt", max_iter=1, tol=1e-14)
    message = str(record[0].message)
    assert "max |A^T y|" not in message, message
    scale = np.linalg.norm((A.T @ y).reshape(10, 4), axis=1).max()
    reported = float(message.split("relative KKT violation ")[1].split(" ")[0])
    np.testing.assert_allclose(reported, res.kkt_violation / scale, rtol=5e-3)
