"""Solver layer: FISTA and coordinate descent agree, KKT holds, prox closed forms."""

import numpy as np
import pytest
import scipy.sparse as sp

from sparse_events.operators import ConvolutionOperator, DictionaryOperator
from sparse_events.solvers import (
    L1,
    ConvergenceWarning,
    GroupL2,
    NonNegativeL1,
    Quadratic,
    WeightedL1,
    check_optimality,
    coordinate_descent,
    fista,
    solve,
)


def spike_problem(rng, N=400, L=9, P=1):
    K = rng.standard_normal((P, L))
    s = np.zeros((P, N))
    for p in range(P):
        idx = rng.choice(N, N // 40, replace=False)
        s[p, idx] = rng.standard_normal(idx.size)
    op = DictionaryOperator(K, N) if P > 1 else ConvolutionOperator(K[0], N)
    y = op.forward(s if P > 1 else s[0]) + 0.05 * rng.standard_normal(N)
    return op, y


def kkt_holds(datafit, penalty, x, atol):
    chk = check_optimality(datafit, penalty, x, datafit.residual(x))
    return chk.kkt <= atol


PENALTIES = [
    lambda a, n, rng: L1(a),
    lambda a, n, rng: NonNegativeL1(a),
    lambda a, n, rng: WeightedL1(a, rng.uniform(0.5, 2.0, n)),
    lambda a, n, rng: WeightedL1(a, rng.uniform(0.5, 2.0, n), positive=True),
]


@pytest.mark.parametrize("make_penalty", PENALTIES)
@pytest.mark.parametrize("P", [1, 3])
@pytest.mark.parametrize("ratio", [0.5, 0.05])
def test_fista_and_cd_agree_on_convolution(make_penalty, P, ratio, rng):
    op, y = spike_problem(rng, P=P)
    df = Quadratic(op, y)
    amax = np.abs(op.rmatvec(y)).max()
    pen = make_penalty(ratio * amax, op.shape[1], rng)
    a = coordinate_descent(df, pen, tol=1e-12, max_iter=500)
    b = fista(df, pen, tol=1e-12, max_iter=200_000)
    assert a.converged and b.converged
    assert abs(a.objective[-1] - b.objective[-1]) <= 1e-10 * a.objective[-1]
    np.testing.assert_allclose(a.coef, b.coef, atol=1e-6 * np.abs(a.coef).max())
    for res in (a, b):
        assert kkt_holds(df, pen, res.coef, 1e-5 * amax)
        assert 0.0 <= res.gap <= 1e-12 * res.objective[-1] * 1.0001
    if pen.positive:
        assert a.coef.min() >= 0 and b.coef.min() >= 0


@pytest.mark.parametrize("fmt", ["dense", "csc"])
def test_cd_and_fista_on_matrices(fmt, rng):
    X = rng.standard_normal((50, 80))
    if fmt == "csc":
        X = sp.random(50, 80, density=0.2, random_state=3, format="csc")
    y = rng.standard_normal(50)
    df = Quadratic(X, y)
    amax = np.abs(X.T @ y).max()
    pen = L1(0.1 * amax)
    a = solve(df, pen, tol=1e-12, max_iter=1000)
    b = solve(df, pen, solver="fista", tol=1e-12, max_iter=200_000)
    assert a.solver == "cd" and b.solver == "fista"
    np.testing.assert_allclose(a.coef, b.coef, atol=1e-6)


def test_objective_history_ends_at_solution(rng):
    op, y = spike_problem(rng)
    df = Quadratic(op, y)
    pen = L1(0.1 * np.abs(op.rmatvec(y)).max())
    res = solve(df, pen, tol=1e-10)
    expected = df.value(res.coef) + pen.value(res.coef)
    assert res.objective[-1] == pytest.approx(expected, rel=1e-12)
    assert res.objective[0] == pytest.approx(0.5 * y @ y, rel=1e-12)


def test_zero_solution_above_alpha_max(rng):
    op, y = spike_problem(rng)
    amax = np.abs(op.rmatvec(y)).max()
    for solver in ("cd", "fista"):
        res = solve(Quadratic(op, y), L1(amax), solver=solver)
        assert res.converged and res.stop_reason == "zero solution"
        assert np.all(res.coef == 0)


def test_group_l2_prox_closed_form(rng):
    pen = GroupL2(0.7, group_size=3, weights=np.array([1.0, 2.0]))
    x = rng.standard_normal(6)
    out = pen.prox(x, 0.5)
    for g, w in enumerate([1.0, 2.0]):
        xg = x[3 * g: 3 * g + 3]
        t = 0.5 * 0.7 * w
        expected = max(0.0, 1 - t / np.linalg.norm(xg)) * xg
        np.testing.assert_allclose(out[3 * g: 3 * g + 3], expected, atol=1e-15)


def test_group_l2_with_unit_groups_equals_l1(rng):
    X = rng.standard_normal((40, 25))
    y = rng.standard_normal(40)
    df = Quadratic(X, y)
    a = fista(df, GroupL2(0.5, group_size=1), tol=1e-12, max_iter=100_000)
    b = coordinate_descent(df, L1(0.5), tol=1e-12)
    np.testing.assert_allclose(a.coef, b.coef, atol=1e-7)


def test_group_l2_fista_kkt(rng):
    X = rng.standard_normal((60, 30))
    y = rng.standard_normal(60)
    df = Quadratic(X, y)
    group_alpha_max = np.linalg.norm((X.T @ y).reshape(-1, 5), axis=1).max()
    pen = GroupL2(0.6 * group_alpha_max, group_size=5)
    res = fista(df, pen, tol=1e-12, max_iter=100_000)
    assert res.converged
    assert kkt_holds(df, pen, res.coef, 1e-6)
    # some groups are exactly zero, others are not
    norms = np.linalg.norm(res.coef.reshape(-1, 5), axis=1)
    assert np.any(norms == 0) and np.any(norms > 0)


def test_warm_start_reaches_same_solution_faster(rng):
    op, y = spike_problem(rng, N=2000)
    df = Quadratic(op, y)
    amax = np.abs(op.rmatvec(y)).max()
    cold = solve(df, L1(0.05 * amax), tol=1e-10)
    near = solve(df, L1(0.06 * amax), tol=1e-10)
    warm = solve(df, L1(0.05 * amax), near.coef, tol=1e-10)
    np.testing.assert_allclose(warm.coef, cold.coef, atol=1e-6)
    assert warm.n_iter <= cold.n_iter


@pytest.mark.parametrize("make_penalty", PENALTIES)
@pytest.mark.parametrize("P", [1, 3])
def test_warm_start_is_read_not_written(make_penalty, P, rng):
    """A warm start (float64, flat or 2-D, contiguous or strided, or a list) is
    only read: the result is its own array, never a view of ``x0``, and the same
    bits as from a private copy of ``x0`` (and from the float64 array of a list)."""
    op, y = spike_problem(rng, N=600, P=P)
    df = Quadratic(op, y)
    amax = np.abs(op.rmatvec(y)).max()
    n = op.shape[1]
    pen = make_penalty(0.05 * amax, n, rng)
    near = coordinate_descent(df, make_penalty(0.07 * amax, n, rng), tol=1e-6).coef
    near = near - 0.01 * amax * (rng.random(n) < 0.1)  # some negative entries
    ref = coordinate_descent(df, pen, near.copy(), tol=1e-8)
    wide = np.zeros((n, 2))
    wide[:, 0] = near
    for x0 in (near, near.reshape(P, -1), wide[:, 0], near.tolist()):
        before = np.array(x0, dtype=np.float64, copy=True)
        res = coordinate_descent(df, pen, x0, tol=1e-8)
        np.testing.assert_array_equal(np.asarray(x0, dtype=np.float64), before)
        if isinstance(x0, np.ndarray):
            assert not np.shares_memory(res.coef, x0)
        assert res.coef.tobytes() == ref.coef.tobytes()
        assert res.objective.tobytes() == ref.objective.tobytes()
    with pytest.raises(ValueError, match="finite"):
        bad = near.copy()
        bad[3] = -np.inf
        coordinate_descent(df, pen, bad)


def test_max_iter_warns_and_reports(rng):
    op, y = spike_problem(rng)
    df = Quadratic(op, y)
    pen = L1(0.01 * np.abs(op.rmatvec(y)).max())
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        res = fista(df, pen, tol=1e-14, max_iter=3)
    assert not res.converged and res.stop_reason == "max_iter"
    assert np.all(np.isfinite(res.coef))


def test_kkt_stopping_with_unpenalized_coordinates(rng):
    X = rng.standard_normal((30, 10))
    y = rng.standard_normal(30)
    w = np.ones(10)
    w[0] = 0.0
    pen = WeightedL1(1.0, w)
    res = solve(Quadratic(X, y), pen, tol=1e-10)
    assert res.stop_reason == "kkt" and np.isnan(res.gap)
    assert kkt_holds(Quadratic(X, y), pen, res.coef, 1e-8)
    assert res.coef[0] != 0


@pytest.mark.parametrize("mode", ["causal", "same", "valid", "full"])
def test_warm_start_on_a_zero_energy_column_converges(mode):
    """A kernel with zero edge taps leaves columns that touch no sample (in "causal"
    mode the last ones); a nonzero warm-start value there used to stay (the epochs skip
    such columns) and the solver never converged.  Reference: the cold start."""
    rng = np.random.default_rng(0)
    h = np.array([0.0, 0.0, 1.0, 0.5])
    op = ConvolutionOperator(h, 50, mode)
    y = rng.standard_normal(op.shape[0])
    zero = np.flatnonzero(np.isclose(op.column_norms2().ravel(), 0.0))
    x0 = np.zeros(op.shape[1])
    x0[zero] = 1.0
    x0[:3] = 0.5
    cold = coordinate_descent(Quadratic(op, y), L1(0.1), tol=1e-10, max_iter=50)
    warm = coordinate_descent(Quadratic(op, y), L1(0.1), x0, tol=1e-10, max_iter=50)
    assert cold.converged and warm.converged
    np.testing.assert_allclose(warm.coef, cold.coef, atol=1e-9)
    np.testing.assert_array_equal(warm.coef[zero], 0.0)
