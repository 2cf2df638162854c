"""The fast paths of coordinate descent equal their plain references.

Fused optimality measures vs ``check_optimality``, blocked correlation vs the
operator's adjoint, working-set selection vs ``argpartition``, local objective
changes vs full recomputation, Newton steps vs a dense least-squares solve,
and coordinate descent with Newton steps vs without.
"""

import numpy as np
import pytest

import sparse_events.solvers._cd as cd_module
from sparse_events.operators import ConvolutionOperator, DictionaryOperator
from sparse_events.solvers import (
    L1,
    NonNegativeL1,
    Quadratic,
    WeightedL1,
    check_optimality,
    coordinate_descent,
)
from sparse_events.solvers import _cd_kernels as kern
from sparse_events.solvers._designs import BandedDesign, DenseDesign, Design

MODES = ["causal", "same", "valid", "full"]


def banded_problem(rng, mode, P=1, N=3000, L=9):
    K = rng.standard_normal((P, L))
    op = ConvolutionOperator(K[0], N, mode) if P == 1 else DictionaryOperator(K, N, mode)
    design = BandedDesign(op)
    x = np.zeros(design.n_features)
    idx = rng.choice(x.size, x.size // 20, replace=False)
    x[idx] = rng.standard_normal(idx.size)
    y = design.matvec(x) + 0.1 * rng.standard_normal(design.n_rows)
    return op, design, x, y


def penalties(rng, n, alpha):
    return [L1(alpha), NonNegativeL1(alpha),
            WeightedL1(alpha, rng.uniform(0.5, 2.0, n)),
            WeightedL1(alpha, rng.uniform(0.5, 2.0, n), positive=True)]


def thresholds(pen, n):
    return (np.array([pen.alpha]) if pen.weights is None
            else np.ascontiguousarray(pen.thresholds(n)))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("P", [1, 3])
def test_fused_scores_equal_check_optimality(mode, P, rng):
    op, design, x, y = banded_problem(rng, mode, P)
    df = Quadratic(op, y)
    amax = np.abs(design.rmatvec(y)).max()
    for pen in penalties(rng, x.size, 0.1 * amax):
        xp = np.maximum(x, 0) if pen.positive else x
        r = df.residual(xp)
        chk = check_optimality(df, pen, xp, r)
        t = thresholds(pen, x.size)
        for stats_fn in (design.cd_scores, lambda *a: Design.cd_scores(design, *a)):
            scores = np.empty(x.size)
            rr, p, cx, kkt, s, cmax, n_sup, n_viol = stats_fn(xp, r, t, pen.positive, scores)
            got = cd_module._fast_check((rr, p, cx, kkt, s, cmax, n_sup, n_viol), True)[0]
            np.testing.assert_allclose(got.primal, chk.primal, rtol=1e-12)
            np.testing.assert_allclose(got.gap, chk.gap, rtol=1e-8, atol=1e-10 * chk.primal)
            np.testing.assert_allclose(kkt, chk.kkt, rtol=1e-10)
            np.testing.assert_allclose(cmax, np.abs(chk.corr).max(), rtol=1e-12)
            support = xp != 0
            assert n_sup == support.sum()
            assert np.all(np.isinf(scores[support]))
            np.testing.assert_allclose(scores[~support], chk.dist[~support], rtol=1e-10,
                                       atol=1e-12 * amax)
            assert n_viol == np.count_nonzero(scores[~support] > 0)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("P", [1, 2])
def test_blocked_correlation_equals_adjoint(mode, P, rng):
    op, design, _, y = banded_problem(rng, mode, P, N=5000, L=70)
    out = np.empty(design.n_features)
    kern.banded_correlate(y, design.kernels, design.n_samples, design.shift, design.n_rows, out)
    np.testing.assert_allclose(out, design.rmatvec(y), rtol=1e-10,
                               atol=1e-12 * np.abs(out).max())


@pytest.mark.parametrize("L", [1, 3, 8, 12, 13, 70])
def test_interior_correlation_equals_numpy(L, rng):
    """``_corr_interior`` (eight outputs at a time, then the remainder one by one)
    equals ``np.correlate`` on offset stretches of every length class (none, fewer
    than eight, a multiple of eight, a remainder, a full block)."""
    r = rng.standard_normal(3 * kern._BLOCK + L)
    kv = rng.standard_normal(L)
    ref = np.correlate(r, kv, "valid")
    for base, m in ((0, 0), (5, 7), (3, 8), (17, 45), (kern._BLOCK + 1, kern._BLOCK)):
        buf = np.full(m + 3, np.nan)
        kern._corr_interior(r, kv, base, m, buf)
        np.testing.assert_allclose(buf[:m], ref[base: base + m], rtol=1e-12,
                                   atol=1e-13 * np.abs(ref).max())
        assert np.isnan(buf[m:]).all()  # nothing written past m


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("L", [1, 5, 12, 13, 38])
def test_blocked_correlation_equals_adjoint_short_kernels(mode, L, rng):
    """As above for kernels of other lengths (interior blocks and the edges),
    one kernel and several, with a signal of several blocks and a remainder."""
    for P in (1, 2):
        op, design, _, y = banded_problem(rng, mode, P, N=2 * kern._BLOCK + 37, L=L)
        out = np.empty(design.n_features)
        kern.banded_correlate(y, design.kernels, design.n_samples, design.shift,
                              design.n_rows, out)
        np.testing.assert_allclose(out, design.rmatvec(y), rtol=1e-10,
                                   atol=1e-12 * np.abs(out).max())


def test_dense_design_scores_equal_check_optimality(rng):
    X = rng.standard_normal((40, 60))
    y = rng.standard_normal(40)
    x = np.where(rng.random(60) < 0.2, rng.standard_normal(60), 0.0)
    df = Quadratic(X, y)
    pen = L1(0.2 * np.abs(X.T @ y).max())
    r = df.residual(x)
    chk = check_optimality(df, pen, x, r)
    scores = np.empty(60)
    stats = DenseDesign(X).cd_scores(x, r, np.full(60, pen.alpha), False, scores)
    got = cd_module._fast_check(stats, True)[0]
    np.testing.assert_allclose([got.primal, got.gap, got.kkt], [chk.primal, chk.gap, chk.kkt],
                               rtol=1e-10)


def _select_by_scores(scores, n_sup, n_viol, size):
    return kern.select_working_set(scores, n_sup, n_viol, size)


def _select_by_candidates(scores, n_sup, n_viol, size):
    cand = np.flatnonzero(scores > 0).astype(np.int64)
    return kern.select_from_candidates(cand, scores[cand], n_sup, n_viol, size)


@pytest.mark.parametrize("select", [_select_by_scores, _select_by_candidates])
@pytest.mark.parametrize("ws_size", [5, 40, 120, 299])
def test_working_set_selection_equals_argpartition(select, ws_size, rng):
    """Both selections (from a score per coefficient, or from the candidate list
    of the banded outer check) equal the original rule."""
    n = 300
    scores = np.where(rng.random(n) < 0.5, rng.random(n), 0.0)
    support = rng.choice(n, 20, replace=False)
    scores[support] = np.inf
    n_sup = 20
    n_viol = int(np.count_nonzero((scores > 0) & np.isfinite(scores)))
    size = max(ws_size, n_sup)
    got = select(scores, n_sup, n_viol, size)
    # the original rule: argpartition of -scores, keep positive scores, sorted
    top = np.argpartition(-scores, size - 1)[:size]
    expected = np.sort(top[scores[top] > 0])
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("ws_size", [20, 21, 60, 150])
def test_exact_selection_with_tied_scores_and_finite_strides(ws_size, rng):
    """The branch-free exact selection among tied scores (the first ties in index
    order complete the working set; few violators, so the subsampled threshold of
    more than ``4 * _SAMPLE`` violators is not reached here), and ``_finite``
    called directly with strides 1 (the exact path) and 3, 7 (the regular
    subsample of the finite scores that path uses), vs plain numpy."""
    n = 400
    scores = np.where(rng.random(n) < 0.6, rng.integers(1, 6, n) / 5.0, 0.0)  # many ties
    support = rng.choice(n, 20, replace=False)
    scores[support] = np.inf
    cand = np.flatnonzero(scores > 0).astype(np.int64)
    cs = scores[cand]
    n_viol = int(np.count_nonzero(np.isfinite(cs)))
    got = kern.select_from_candidates(cand, cs, 20, n_viol, ws_size)
    k = ws_size - 20
    viol = np.sort(cs[np.isfinite(cs)])[::-1]
    keep = np.isinf(cs)
    if k > 0:
        tau = viol[k - 1]
        above = cs > tau
        ties = np.flatnonzero(cs == tau)[: k - int(np.count_nonzero(above & np.isfinite(cs)))]
        keep |= above
        keep[ties] = True
    np.testing.assert_array_equal(got, cand[keep])
    assert got.size == max(ws_size, 20)
    for stride in (1, 3, 7):
        np.testing.assert_array_equal(kern._finite(cs, cs.size, n_viol, stride),
                                      cs[np.isfinite(cs)][::stride])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("P", [1, 3])
def test_local_objective_change_and_residual(mode, P, rng):
    op, design, x, y = banded_problem(rng, mode, P)
    r = y - design.matvec(x)
    ws = np.sort(rng.choice(x.size, 200, replace=False)).astype(np.int64)
    delta = np.where(rng.random(200) < 0.7, rng.standard_normal(200), 0.0)
    r2 = r.copy()
    design.apply_delta(r2, ws, delta)
    np.testing.assert_allclose(design.delta_rr(r, ws, delta), r2 @ r2 - r @ r, rtol=1e-9)
    out = np.empty_like(y)
    design.residual_into(y, x, out)
    np.testing.assert_allclose(out, r, atol=1e-12 * np.abs(y).max())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("P", [1, 2])
def test_newton_step_reaches_the_face_optimum(mode, P, rng):
    """With the optimal support and signs, one Newton step from a perturbed point
    lands on the LASSO solution (dense least squares on the support as reference)."""
    op, design, _, y = banded_problem(rng, mode, P, N=800, L=7)
    df = Quadratic(op, y)
    pen = L1(0.05 * np.abs(design.rmatvec(y)).max())
    ref = coordinate_descent(df, pen, tol=1e-14, max_iter=1000)
    S = np.flatnonzero(ref.coef)
    A = design.columns(S).toarray()
    sol = np.linalg.solve(A.T @ A, A.T @ y - pen.alpha * np.sign(ref.coef[S]))
    np.testing.assert_allclose(sol, ref.coef[S], rtol=1e-8, atol=1e-10)
    x = ref.coef.copy()
    x[S] *= 1.0 + 1e-3 * rng.standard_normal(S.size)  # same signs, off the optimum
    r = y - design.matvec(x)
    before = 0.5 * r @ r + pen.value(x)
    assert design.newton_step(x, r, S.astype(np.int64), np.array([pen.alpha]), False) > 0
    np.testing.assert_allclose(x[S], sol, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(r, y - design.matvec(x), atol=1e-10)
    assert 0.5 * r @ r + pen.value(x) <= before


def test_newton_step_never_increases_the_objective(rng):
    op, design, x, y = banded_problem(rng, "causal", 1, N=2000, L=12)
    pen = L1(0.02 * np.abs(design.rmatvec(y)).max())
    for _ in range(5):
        x = np.where(rng.random(x.size) < 0.3, rng.standard_normal(x.size), 0.0)
        r = y - design.matvec(x)
        before = 0.5 * r @ r + pen.value(x)
        design.newton_step(x, r, np.arange(x.size, dtype=np.int64), np.array([pen.alpha]),
                           False)
        np.testing.assert_allclose(r, y - design.matvec(x), atol=1e-9)
        assert 0.5 * r @ r + pen.value(x) <= before * (1 + 1e-14)


@pytest.mark.parametrize("ratio", [0.1, 0.01])
def test_cd_with_and_without_newton_steps_agree(ratio, rng, monkeypatch):
    op, design, _, y = banded_problem(rng, "causal", 1, N=4000, L=12)
    df = Quadratic(op, y)
    pen = L1(ratio * np.abs(design.rmatvec(y)).max())
    a = coordinate_descent(df, pen, tol=1e-12, max_iter=1000)
    monkeypatch.setattr(cd_module, "_NEWTON", False)
    b = coordinate_descent(df, pen, tol=1e-12, max_iter=1000)
    assert a.converged and b.converged
    np.testing.assert_array_equal(a.coef != 0, b.coef != 0)
    np.testing.assert_allclose(a.coef, b.coef, atol=1e-8 * np.abs(b.coef).max())
    assert abs(a.objective[-1] - b.objective[-1]) <= 1e-12 * b.objective[-1]


@pytest.mark.parametrize("mode", ["causal", "full"])
def test_newton_on_moved_blocks_equals_newton_on_all(mode, rng):
    """A Newton step restricted to the blocks that moved since the last step
    (``newton_positions``) equals the step on the whole working set, when the
    other blocks are at the optimum of their face."""
    op, design, _, y = banded_problem(rng, mode, 1, N=3000, L=12)
    df = Quadratic(op, y)
    pen = L1(0.02 * np.abs(design.rmatvec(y)).max())
    t = np.array([pen.alpha])
    x = coordinate_descent(df, pen, tol=1e-14, max_iter=1000).coef.copy()
    ws = np.arange(x.size, dtype=np.int64)
    prev = x.copy()  # snapshot after the last step: every block at its face optimum
    # move a few support coefficients of one stretch (same signs)
    S = np.flatnonzero(x)
    moved = S[S.size // 2: S.size // 2 + 3]
    x[moved] *= 1.0 + 0.05 * rng.standard_normal(moved.size)
    r = y - design.matvec(x)
    pos = design.newton_positions(ws, x, prev, pen.alpha)
    assert 0 < pos.size < S.size
    assert np.all(x[pos] != 0) and np.all(np.isin(moved, ws[pos]))
    xa, ra = x.copy(), r.copy()
    assert design.newton_step(xa, ra, ws[pos], t, False) > 0
    xb, rb = x.copy(), r.copy()
    assert design.newton_step(xb, rb, ws, t, False) > 0
    np.testing.assert_allclose(xa, xb, rtol=1e-12, atol=1e-12 * np.abs(xb).max())
    np.testing.assert_allclose(ra, rb, atol=1e-10 * np.abs(y).max())
    # several kernels: no restriction (None: the whole working set)
    _, design2, _, _ = banded_problem(rng, mode, 2, N=300, L=5)
    z = np.zeros(design2.n_features)
    assert design2.newton_positions(np.arange(z.size, dtype=np.int64), z, z, 1.0) is None


def test_cd_with_restricted_newton_steps_equals_full_steps(rng, monkeypatch):
    """Coordinate descent whose later Newton steps re-solve only the moved
    blocks reaches the optimum of the one whose steps cover the working set."""
    op, design, _, y = banded_problem(rng, "causal", 1, N=20000, L=12)
    df = Quadratic(op, y)
    pen = L1(0.01 * np.abs(design.rmatvec(y)).max())
    sizes = []
    orig = BandedDesign.newton_positions

    def recording(self, ws, xw, prev, t_min):
        out = orig(self, ws, xw, prev, t_min)
        if out is not None:  # restricted: fewer positions than nonzero coefficients?
            sizes.append((out.size, int(np.count_nonzero(xw))))
        return out

    monkeypatch.setattr(BandedDesign, "newton_positions", recording)
    a = coordinate_descent(df, pen, tol=1e-10, max_iter=1000)
    assert sizes and any(k < n for k, n in sizes)
    monkeypatch.setattr(BandedDesign, "newton_positions", lambda self, *args: None)
    b = coordinate_descent(df, pen, tol=1e-10, max_iter=1000)
    assert a.converged and b.converged
    np.testing.assert_array_equal(a.coef != 0, b.coef != 0)
    np.testing.assert_allclose(a.coef, b.coef, atol=1e-7 * np.abs(b.coef).max())
    assert abs(a.objective[-1] - b.objective[-1]) <= 1e-10 * b.objective[-1]


def _full_envelope(G):
    """Envelope storage of a dense SPD matrix (every row starts at column 0)."""
    m = G.shape[0]
    f = np.zeros(m, dtype=np.int64)
    ptr = np.concatenate([[0], np.cumsum(np.arange(1, m + 1))]).astype(np.int64)
    Gf = np.concatenate([G[a, : a + 1] for a in range(m)])
    return f, ptr, Gf


def test_envelope_solve_matches_dense_solve(rng):
    A = rng.standard_normal((30, 8))
    G = A.T @ A
    f, ptr, Gf = _full_envelope(G)
    rhs = rng.standard_normal(8)
    out = rhs.copy()
    assert kern._envelope_solve(Gf.copy(), f, ptr, 0, 8, out, 0)
    np.testing.assert_allclose(out, np.linalg.solve(G, rhs), rtol=1e-10, atol=1e-12)


def test_active_set_direction_solves_the_reduced_face(rng):
    """Crossing coefficients are fixed at zero (all at once) and the others solve
    the face with them removed: ``(G d)_F = g_F``, ``d_D = -x_D``."""
    m = 12
    for _ in range(20):
        A = rng.standard_normal((40, m))
        G = A.T @ A
        f, ptr, Gf = _full_envelope(G)
        x = rng.standard_normal(m) * 0.1
        g0 = rng.standard_normal(m) * 3.0
        S = np.arange(m, dtype=np.int64)
        d_free = np.linalg.solve(G, g0)
        first = (x + d_free) * np.sign(x) <= 0  # crossings of the free Newton step
        d = d_free.copy()
        fixed = np.zeros(m, dtype=np.bool_)
        ok = kern._active_set_direction(x, S, 0, m, f, ptr, Gf, g0, np.empty_like(Gf), fixed,
                                        d, m)
        assert ok
        assert np.all(fixed[first])  # every first-round crossing leaves in one go
        F = ~fixed
        np.testing.assert_array_equal(d[fixed], -x[fixed])
        np.testing.assert_allclose((G @ d)[F], g0[F], atol=1e-9 * np.abs(g0).max())
        assert np.all((x[F] + d[F]) * np.sign(x[F]) > 0)  # no free coefficient crosses


def test_newton_step_leaves_an_optimal_support_alone(rng):
    """At the face optimum every block is skipped: nothing is updated."""
    op, design, _, y = banded_problem(rng, "same", 1, N=800, L=7)
    df = Quadratic(op, y)
    pen = L1(0.05 * np.abs(design.rmatvec(y)).max())
    ref = coordinate_descent(df, pen, tol=1e-14, max_iter=1000)
    x = ref.coef.copy()
    r = y - design.matvec(x)
    S = np.flatnonzero(x).astype(np.int64)
    assert design.newton_step(x, r, S, np.array([pen.alpha]), False) == 0
    np.testing.assert_array_equal(x, ref.coef)


@pytest.mark.parametrize("positive", [False, True])
def test_newton_step_with_and_without_active_set_rounds(positive, rng):
    """Both variants keep the residual exact and never increase the objective."""
    op, design, x, y = banded_problem(rng, "causal", 1, N=2000, L=12)
    pen = (NonNegativeL1 if positive else L1)(0.02 * np.abs(design.rmatvec(y)).max())
    T = kern.kernel_cross_products(design.kernels)
    for rounds in (0, 8):
        for _ in range(3):
            x = np.where(rng.random(x.size) < 0.3, rng.standard_normal(x.size), 0.0)
            if positive:
                x = np.abs(x)
            r = y - design.matvec(x)
            before = 0.5 * r @ r + pen.value(x)
            kern.banded_newton(x, r, np.arange(x.size, dtype=np.int64), design.kernels, T,
                               design.n_samples, design.shift, design.n_rows,
                               np.array([pen.alpha]), positive, 1e-9, rounds)
            np.testing.assert_allclose(r, y - design.matvec(x), atol=1e-9)
            assert 0.5 * r @ r + pen.value(x) <= before * (1 + 1e-14)
            if positive:
                assert x.min() >= 0.0


def _newton_sizes_reference(starts, L):
    """Exact sizes of ``banded_newton``'s blocks (sorted ``starts``): the largest
    block, the largest Gram envelope (row ``a`` holds the columns ``b <= a``
    starting less than ``L`` before it) and the largest row span."""
    starts = [int(s) for s in starts]
    blocks, cur = [], [starts[0]]
    for s in starts[1:]:
        if s - cur[-1] >= L:
            blocks.append(cur)
            cur = []
        cur.append(s)
    blocks.append(cur)
    nb = max(len(b) for b in blocks)
    env = max(sum(sum(1 for sb in b[:a + 1] if sa - sb < L) for a, sa in enumerate(b))
              for b in blocks)
    span = max(b[-1] + L - b[0] for b in blocks)
    return nb, env, span


def _newton_size_cases(rng):
    """(starts, L, P): random supports and the worst cases of the bounds."""
    cases = []
    for L in (1, 2, 7, 12):
        for P in (1, 3):
            # P kernels at equal starts, consecutive starts (rows of P * L columns)
            cases.append((np.repeat(np.arange(-L, 40), P), L, P))
            # gaps of exactly L - 1 (the largest span of a block), and of L (breaks)
            cases.append((np.arange(-3, 300, max(L - 1, 1)) if L > 1
                          else np.zeros(1, dtype=np.int64), L, P))
            cases.append((np.arange(0, 300, L), L, P))
            # several blocks of different lengths and densities (distinct columns:
            # distinct starts per kernel)
            parts = [np.unique(rng.integers(0, 4 * L, 30)) + 1000 * k for k in range(4)]
            cases.append((np.sort(np.concatenate([np.repeat(q, P) for q in parts])), L, P))
            for density in (0.1, 0.5, 1.0):
                st = np.flatnonzero(rng.random(500) < density) - 5
                cases.append((np.sort(np.concatenate([st] * P)), L, P))
    cases.append((np.array([5]), 12, 1))
    return cases


def test_newton_buffer_sizes_bound_the_exact_sizes(rng):
    """``_newton_buffer_sizes``: the largest block is exact, the envelope and span
    bounds are at least the exact sizes (worst cases included: every kernel at
    every start, gaps of exactly L - 1, where the span bound is reached), vs an
    exact Python scan."""
    for starts, L, P in _newton_size_cases(rng):
        starts = np.ascontiguousarray(starts, dtype=np.int64)
        nb, env, span = kern._newton_buffer_sizes(starts, L, P)
        nb_ref, env_ref, span_ref = _newton_sizes_reference(starts, L)
        assert nb == nb_ref
        assert env >= env_ref
        assert span >= span_ref
        # one kernel: the envelope fits the single-kernel bound
        if P == 1:
            assert nb * min(nb, L) >= env_ref
    # tight cases: a chain with gaps of exactly L - 1 spans the bound
    L = 9
    starts = np.arange(0, 50 * (L - 1), L - 1).astype(np.int64)
    assert kern._newton_buffer_sizes(starts, L, 1)[2] == _newton_sizes_reference(starts, L)[2]


def test_newton_step_with_envelope_rows_longer_than_a_kernel(rng):
    """Three kernels with rows of the Gram envelope longer than a kernel (more
    than the single-kernel bound ``nb * min(nb, L)`` in all: the ``P * L`` of
    ``_newton_buffer_sizes`` is needed): one Newton step from a perturbed point
    lands on the face optimum (dense least squares on the support as
    reference)."""
    L, N = 7, 300
    K = rng.standard_normal((3, L))
    op = DictionaryOperator(K, N, "causal")
    design = BandedDesign(op)
    # every kernel at every third start of a region: 9 columns per envelope row
    st = np.arange(30, 200, 3)
    S = np.sort(np.concatenate([p * design.n_samples + st + design.shift
                                for p in range(3)])).astype(np.int64)
    starts = np.sort(np.concatenate([st] * 3)).astype(np.int64)
    nb, _, _ = kern._newton_buffer_sizes(starts, L, 3)
    assert _newton_sizes_reference(starts, L)[1] > nb * min(nb, L)
    x_true = np.zeros(design.n_features)
    x_true[S] = rng.choice([-1.0, 1.0], S.size) * rng.uniform(1.0, 2.0, S.size)
    y = design.matvec(x_true) + 1e-3 * rng.standard_normal(design.n_rows)
    alpha = 1e-3
    A = design.columns(S).toarray()
    sol = np.linalg.solve(A.T @ A, A.T @ y - alpha * np.sign(x_true[S]))
    assert np.all(np.sign(sol) == np.sign(x_true[S]))
    x = np.zeros(design.n_features)
    x[S] = sol * (1.0 + 1e-3 * rng.standard_normal(S.size))
    r = y - design.matvec(x)
    assert design.newton_step(x, r, S, np.array([alpha]), False) > 0
    np.testing.assert_allclose(x[S], sol, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(r, y - design.matvec(x), atol=1e-9)


def _candidates_reference(chk, x):
    """Sorted coordinates with a positive working-set score and their scores."""
    scores = chk.dist.copy()
    scores[x != 0] = np.inf
    idx = np.flatnonzero(scores > 0)
    return idx, scores[idx]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("P", [1, 3])
def test_candidate_scores_equal_check_optimality(mode, P, rng):
    """The outer checks of the banded fast path (candidates listed, ``x`` read
    only where listed)."""
    op, design, x, y = banded_problem(rng, mode, P, N=3000, L=9)
    df = Quadratic(op, y)
    amax = np.abs(design.rmatvec(y)).max()
    args = (design.n_samples, design.shift, design.n_rows)
    n = x.size
    cand, cscores = np.empty(n, dtype=np.int64), np.empty(n)
    for pen in penalties(rng, n, 0.1 * amax):
        xp = np.maximum(x, 0) if pen.positive else x
        t = thresholds(pen, n)
        # nz: the nonzeros of x plus some zeros, sorted; or every coordinate
        # (more than one in kern._DENSE_NZ listed: x read everywhere, without
        # following nz; a sparser x below: nz followed)
        extra = rng.choice(n, 50, replace=False)
        some = np.union1d(np.flatnonzero(xp), extra).astype(np.int64)
        xs = np.where(np.arange(n) < n // 10, xp, 0.0)
        few = np.union1d(np.flatnonzero(xs), extra[:5]).astype(np.int64)
        assert few.size * kern._DENSE_NZ < n  # ``few``: the sparse branch (full listing: dense)
        cases = [(xp, some), (xp, np.arange(n, dtype=np.int64)), (xs, few),
                 (np.zeros(n), np.empty(0, dtype=np.int64))]
        for xc, nz in cases:
            r = df.residual(xc)
            chk = check_optimality(df, pen, xc, r)
            ref_idx, ref_scores = _candidates_reference(chk, xc)
            cand[:] = -1
            stats = kern.banded_scores_cand(xc, nz, r, design.kernels, *args, t, pen.positive,
                                            cand, cscores)
            got, n_sup, n_viol, cmax = cd_module._fast_check(stats, True)
            np.testing.assert_allclose(got.primal, chk.primal, rtol=1e-12)
            np.testing.assert_allclose(got.gap, chk.gap, rtol=1e-8, atol=1e-10 * chk.primal)
            np.testing.assert_allclose(got.kkt, chk.kkt, rtol=1e-9, atol=1e-12 * amax)
            np.testing.assert_allclose(cmax, np.abs(chk.corr).max(), rtol=1e-12)
            assert n_sup == np.count_nonzero(xc)
            np.testing.assert_array_equal(cand[:n_sup + n_viol], ref_idx)
            np.testing.assert_allclose(cscores[:n_sup + n_viol], ref_scores, rtol=1e-9,
                                       atol=1e-12 * amax)


def _sequential_dual_scaling(corr, t, positive):
    """The dual scaling as a plain sequential scan (one threshold per coefficient)."""
    smax = 0.0
    for c, ti in zip(corr.tolist(), t.tolist()):
        if ti > 0.0:
            cc = max(c, 0.0) if positive else abs(c)
            if cc > smax * ti:
                smax = max(smax, cc / ti)
    return smax


@pytest.mark.parametrize("P", [1, 3])
def test_candidate_checks_agree_bitwise(P, rng):
    """The check visits only flagged coordinates: its measures and list equal, bit
    for bit, those of a pass over all coordinates (``nz`` followed, or ``x`` read
    everywhere, with ``nz`` listing every coordinate or any array of that length,
    or from a stored correlation; with one threshold and a dense
    listing, the branch-free pass over every coordinate), and its dual scaling
    the sequential scan; blocks whose length is not a multiple of 8 included."""
    op, design, x, y = banded_problem(rng, "same", P, N=2048 + 1003, L=9)
    df = Quadratic(op, y)
    amax = np.abs(design.rmatvec(y)).max()
    args = (design.n_samples, design.shift, design.n_rows)
    n = x.size
    for pen in penalties(rng, n, 0.1 * amax):
        xp = np.maximum(x, 0) if pen.positive else x
        t = thresholds(pen, n)
        r = df.residual(xp)
        corr = design.rmatvec(r)
        listed = np.union1d(np.flatnonzero(xp), rng.choice(n, 10, replace=False))
        # listed: the flags visited (sparse listing); all: x read everywhere (dense
        # listing: with one threshold, a pass over every coordinate without flags)
        assert listed.size * kern._DENSE_NZ < n
        runs = []
        # (a listing of n entries stands for every coordinate and is not read)
        for nz in (listed.astype(np.int64), np.arange(n, dtype=np.int64),
                   np.full(n, -7, dtype=np.int64)):
            cand, cscores = np.full(n, -1, dtype=np.int64), np.empty(n)
            stats = kern.banded_scores_cand(xp, nz, r, design.kernels, *args, t, pen.positive,
                                            cand, cscores)
            k = int(stats[6] + stats[7])
            runs.append((stats.tobytes(), cand[:k].tobytes(), cscores[:k].tobytes()))
            store = np.empty(n)
            cand2, cscores2 = np.full(n, -1, dtype=np.int64), np.empty(n)
            stats2 = kern.banded_scores_cand_store(xp, nz, r, design.kernels, *args, t,
                                                   pen.positive, cand2, cscores2, store)
            runs.append((stats2.tobytes(), cand2[:k].tobytes(), cscores2[:k].tobytes()))
            cand3, cscores3 = np.full(n, -1, dtype=np.int64), np.empty(n)
            stats3 = kern.scores_cand_from_corr(xp, nz, r, store, t, pen.positive, cand3,
                                                cscores3)
            runs.append((stats3.tobytes(), cand3[:k].tobytes(), cscores3[:k].tobytes()))
        assert all(run == runs[0] for run in runs)
        np.testing.assert_allclose(store, corr, rtol=1e-12, atol=1e-12 * amax)
        # max|c| (integer maxima of the bit patterns) against the float maximum
        assert stats[5] == np.abs(store).max()
        if t.size > 1:
            assert stats[4] == _sequential_dual_scaling(store, t, pen.positive)
        else:
            top = max(store.max(), 0.0) if pen.positive else np.abs(store).max()
            assert stats[4] == top / t[0]


def _float_maxima(corr):
    """``max(|c|, 0)`` and ``max(c, 0)`` by float compares from ``+0.0`` (NaN
    never taken), as a plain sequential scan."""
    cm = sm = 0.0
    for v in corr.tolist():
        a = abs(v)
        cm = a if a > cm else cm
        sm = v if v > sm else sm
    return cm, sm


def _same_float(a, b):
    """Equal values with the same sign bit, or both NaN."""
    if np.isnan(a) or np.isnan(b):
        return bool(np.isnan(a) and np.isnan(b))
    return a == b and np.signbit(a) == np.signbit(b)


def test_correlation_maxima_from_bit_patterns_on_special_values(rng):
    """The maxima of ``|c|`` and ``max(c, 0)`` of the outer check (integer
    maxima of the bit patterns) equal those of float compares: signed zeros,
    subnormals, infinities, NaN of either sign bit and payload, the largest
    doubles, all-negative inputs and blocks, for both signs of the penalty."""
    def from_bits(u):
        return np.array([u], dtype=np.uint64).view(np.float64)[0]

    tiny = np.finfo(np.float64).tiny
    big = np.finfo(np.float64).max
    special = np.array([0.0, -0.0, 5e-324, -5e-324, tiny, -tiny, 1e-310, -1e-310, 1.0, -1.0,
                        np.inf, -np.inf, big, -big, from_bits(0x7FF8000000000000),
                        from_bits(0xFFF8000000000000), from_bits(0x7FF0000000000001),
                        from_bits(0xFFF0000000000001), from_bits(0xFFFFFFFFFFFFFFFF)])
    assert np.isnan(special[-5:]).all() and np.signbit(special[-4]) and np.signbit(special[-1])
    B = kern._BLOCK
    cases = [special, -np.abs(special), special[np.isnan(special)], np.array([-0.0, -5e-324]),
             np.full(3, -np.inf)]
    for trial in range(400):
        m = int(rng.integers(1, 40)) if trial % 4 else int(rng.integers(B - 3, 3 * B))
        c = rng.choice(special, m)
        normal = rng.random(m) < 0.3
        c[normal] = (rng.standard_normal(normal.sum())
                     * 10.0 ** rng.integers(-320, 300, normal.sum()).astype(float))
        if trial % 3 == 0:
            c = -np.abs(c)  # all negative (and -0.0, NaN with the sign bit)
        cases.append(c)
    # one block all negative, the next with the maxima (and the reverse)
    c = -np.abs(rng.standard_normal(2 * B + 5))
    c[B + 7] = 3.0
    c[B + 9] = -4.0
    cases += [c, c[::-1].copy()]
    for corr in cases:
        n = corr.size
        x = np.zeros(n)
        cm, sm = _float_maxima(corr)
        for positive in (False, True):
            t = np.array([0.5])
            stats = kern.scores_cand_from_corr(x, np.empty(0, dtype=np.int64), np.zeros(3),
                                               corr, t, positive, np.empty(n, dtype=np.int64),
                                               np.empty(n))
            assert _same_float(stats[5], cm), (corr, stats[5], cm)
            with np.errstate(over="ignore"):
                smax = (sm if positive else cm) / t[0]
            assert _same_float(stats[4], smax), (corr, positive)


def test_selection_from_many_candidates_is_about_the_top(rng):
    """Above ``4 * _SAMPLE`` violators the threshold comes from a subsample."""
    n = 600_000
    scores = rng.random(n)
    support = rng.choice(n, 1000, replace=False)
    scores[support] = np.inf
    cand = np.arange(n, dtype=np.int64)
    size = 1000 + 100_000
    got = kern.select_from_candidates(cand, scores, 1000, n - 1000, size)
    assert np.all(np.diff(got) > 0)
    assert np.isin(support, got).all()
    assert abs(got.size - size) < 0.05 * size
    # the selected violators are the largest scores: above every left-out one
    left = np.setdiff1d(cand, got)
    assert scores[np.setdiff1d(got, support)].min() >= scores[left].max()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("P", [1, 3])
@pytest.mark.parametrize("L", [1, 2, 9, 40])
def test_gram_update_follows_the_correlation(mode, P, L, rng):
    """``corr -= A^T A[:, ws] delta`` equals ``A^T`` of the new residual, and the
    candidate lists from a kept correlation equal those of a fresh one."""
    op, design, x, y = banded_problem(rng, mode, P, N=300, L=L)
    n = design.n_features
    r = y - design.matvec(x)
    corr = np.empty(n)
    cand, cscores = np.empty(n, dtype=np.int64), np.empty(n)
    t = np.array([0.1 * np.abs(design.rmatvec(y)).max()])
    every = np.arange(n, dtype=np.int64)
    design.cd_candidates(x, every, r, t, False, cand, cscores, store=corr)
    np.testing.assert_allclose(corr, design.rmatvec(r), rtol=1e-12,
                               atol=1e-12 * np.abs(corr).max())
    ws = np.sort(rng.choice(n, n // 3, replace=False)).astype(np.int64)
    delta = np.where(rng.random(ws.size) < 0.7, rng.standard_normal(ws.size), 0.0)
    design.cd_corr_update(corr, ws, delta)
    x2 = x.copy()
    x2[ws] += delta
    r2 = y - design.matvec(x2)
    ref = design.rmatvec(r2)
    np.testing.assert_allclose(corr, ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())
    cand2, cscores2 = np.empty(n, dtype=np.int64), np.empty(n)
    got = design.cd_candidates_from_corr(x2, every, r2, corr, t, False, cand, cscores)
    want = design.cd_candidates(x2, every, r2, t, False, cand2, cscores2)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * np.abs(ref).max())
    k = int(want[6] + want[7])
    np.testing.assert_array_equal(cand[:k], cand2[:k])
    np.testing.assert_allclose(cscores[:k], cscores2[:k], rtol=1e-9,
                               atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("P", [1, 2])
@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("epoch", ["banded_epoch_violation", "banded_epoch_violation_short"])
@pytest.mark.parametrize("L", [1, 3, 4, 9, 12, 40])
def test_epoch_with_violation_equals_plain_epoch(mode, P, positive, epoch, L, rng):
    """Both forms of the fused epoch (slices / direct indexing of the taps), for
    short and long kernels, vs single-coordinate reference epochs."""
    op, design, x, y = banded_problem(rng, mode, P, L=L)
    x = np.abs(x) if positive else x
    amax = np.abs(design.rmatvec(y)).max()
    ws = np.sort(rng.choice(x.size, x.size // 3, replace=False)).astype(np.int64)
    for t in (np.array([0.05 * amax]), rng.uniform(0.02, 0.1, x.size) * amax):
        x1, x2 = x.copy(), x.copy()
        r1 = y - design.matvec(x)
        r2 = r1.copy()
        # the KKT distances before each update, by the reference kernels
        expected = 0.0
        for c in ws:
            one = np.array([c], dtype=np.int64)
            expected = max(expected, design.cd_violation(x1, r1, one, t, positive))
            kern.banded_epochs_ws(x1, r1, one, design.kernels, design.cumsq, design.n_samples,
                                  design.shift, design.n_rows, t, positive, 1)
        # on the working set's coefficients, contiguous
        x2w = x2[ws]
        changes, viol = getattr(kern, epoch)(
            x2w, r2, ws, design.kernels, design.cumsq, design.n_samples, design.shift,
            design.n_rows, t, positive)
        x2[ws] = x2w
        np.testing.assert_allclose(x2, x1, rtol=1e-9, atol=1e-12 * np.abs(x1).max())
        np.testing.assert_allclose(r2, y - design.matvec(x2), atol=1e-9)
        np.testing.assert_allclose(viol, expected, rtol=1e-8)
        assert changes >= 0


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("L", [1, 3, 4, 5, 12, 13])
def test_short_epoch_inside_path_equals_general_path(mode, L, rng):
    """The short path of ``banded_epoch_violation_short`` (columns inside the rows,
    ``BandedDesign.cd_inside_range``) returns the same bits as its general path,
    for shared and per-coefficient thresholds, signed and non-negative, and the
    range holds only columns inside the rows (also for an unsorted working set)."""
    op, design, x, y = banded_problem(rng, mode, 1, N=1200, L=L)
    n = x.size
    amax = np.abs(design.rmatvec(y)).max()
    last = design.n_rows - L + design.shift
    for ws in (np.arange(n, dtype=np.int64),
               np.sort(rng.choice(n, n // 3, replace=False)).astype(np.int64)):
        lo, hi = design.cd_inside_range(ws)
        assert 0 <= lo < hi <= ws.size
        assert np.all((ws[lo:hi] >= design.shift) & (ws[lo:hi] <= last))
        # every column inside the rows is in the range
        inside = (ws >= design.shift) & (ws <= last)
        assert np.count_nonzero(inside) == hi - lo
        for positive in (False, True):
            x0 = np.abs(x) if positive else x
            for t in (np.array([0.05 * amax]), rng.uniform(0.02, 0.1, n) * amax):
                out = []
                for rng_ in ((0, 0), (lo, hi)):
                    xw = x0[ws].copy()
                    r = y - design.matvec(x0)
                    res = [kern.banded_epoch_violation_short(
                        xw, r, ws, design.kernels, design.cumsq, design.n_samples,
                        design.shift, design.n_rows, t, positive, 0, *rng_)
                        for _ in range(3)]
                    out.append((res, xw, r))
                assert out[0][0] == out[1][0]
                np.testing.assert_array_equal(out[0][1], out[1][1])
                np.testing.assert_array_equal(out[0][2], out[1][2])
    shuffled = rng.permutation(n).astype(np.int64)
    lo, hi = design.cd_inside_range(shuffled)
    assert np.all((shuffled[lo:hi] >= design.shift) & (shuffled[lo:hi] <= last))
    # unsorted, inside columns only: the bisection brackets all of them and the check
    # accepts the whole set; one outside column among them: never in the range
    inner = rng.permutation(np.arange(design.shift, last + 1)).astype(np.int64)
    if inner.size:
        assert design.cd_inside_range(inner) == (0, inner.size)
        outside = np.flatnonzero((np.arange(n) < design.shift) | (np.arange(n) > last))
        if outside.size:
            mixed = np.insert(inner, inner.size // 2, outside[0])
            lo, hi = design.cd_inside_range(mixed)
            assert np.all((mixed[lo:hi] >= design.shift) & (mixed[lo:hi] <= last))
            assert hi - lo < mixed.size


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("P", [1, 3])
@pytest.mark.parametrize("ratio", [0.1, 0.01])
@pytest.mark.parametrize("incremental", [False, True])
@pytest.mark.parametrize("L", [13, 40])
def test_cd_fast_path_equals_generic_path(mode, P, ratio, incremental, L, rng, monkeypatch):
    """Fused epochs (short and long kernels: ``banded_epoch_violation_short`` and
    ``banded_epoch_violation``), candidate lists and their working-set rules (with
    ``A^T r`` formed at every check, or kept and updated through the banded Gram
    between checks) vs the generic loop."""
    op, design, _, y = banded_problem(rng, mode, P, N=3000, L=L)
    df = Quadratic(op, y)
    pen = L1(ratio * np.abs(design.rmatvec(y)).max())
    monkeypatch.setattr(cd_module, "_INCREMENTAL_MIN_L", 1 if incremental else 10**9)
    # (one kernel: kept from the first check on, here whatever the problem's size)
    monkeypatch.setattr(cd_module, "_INCREMENTAL_FIRST_MIN_NL", 0)
    calls = {}

    def counting(name):
        f = getattr(kern, name)

        def counted(*a):
            calls[name] = calls.get(name, 0) + 1
            if name == "scores_cand_from_corr":
                # the kept correlation is A^T of the current residual
                ref = design.rmatvec(a[2])
                np.testing.assert_allclose(a[3], ref, rtol=1e-9,
                                           atol=1e-11 * np.abs(ref).max())
            return f(*a)
        return counted

    for name in ("banded_scores_cand", "banded_scores_cand_store", "scores_cand_from_corr"):
        monkeypatch.setattr(kern, name, counting(name))
    a = coordinate_descent(df, pen, tol=1e-9, max_iter=1000)
    assert sum(calls.values()) == a.n_outer
    if incremental and P == 1:
        # one kernel: formed and kept at the first check (updated when few
        # coefficients changed: always the case here), never formed again
        assert "banded_scores_cand" not in calls
        assert calls["banded_scores_cand_store"] == 1
        assert calls.get("scores_cand_from_corr", 0) == a.n_outer - 1
    elif incremental:
        # several kernels: formed at the first check, kept from the second on
        assert calls["banded_scores_cand"] == 1
    else:
        assert set(calls) == {"banded_scores_cand"}
    monkeypatch.setattr(cd_module, "BandedDesign", type("NotBanded", (), {}))
    b = coordinate_descent(df, pen, tol=1e-9, max_iter=1000)
    assert a.converged and b.converged
    np.testing.assert_allclose(a.coef, b.coef, atol=1e-6 * np.abs(b.coef).max())
    assert abs(a.objective[-1] - b.objective[-1]) <= 1e-8 * b.objective[-1]


@pytest.mark.parametrize("K, every", [(5, 5), (3, 5), (7, 5)])
def test_anderson_storing_only_the_iterates_it_reads(K, every, rng):
    """With the extrapolation schedule known (every ``every`` pushes), the ring
    buffer skips the iterates no try reads; each try equals the one of a buffer
    that stores every iterate."""
    lazy, full = cd_module._Anderson(K, every=every), cd_module._Anderson(K)
    v = rng.standard_normal(50)
    tried = 0
    for _ in range(2):  # a reset in between, as at a new working set
        lazy.reset()
        full.reset()
        for _ in range(4 * every + 2):
            v = 0.8 * v + 0.1 * rng.standard_normal(v.size)
            lazy.push(v)
            full.push(v)
            assert lazy.count == full.count
            if lazy.count % every == 0:
                a, b = lazy.extrapolate(), full.extrapolate()
                assert (a is None) == (b is None) == (lazy.count < K + 1)
                if a is not None:
                    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
                    tried += 1
    assert tried >= 4


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("P", [1, 2])
@pytest.mark.parametrize("epoch", ["banded_epoch_violation", "banded_epoch_violation_short"])
def test_prefetch_hints_leave_epochs_and_newton_steps_unchanged(mode, P, epoch, rng):
    """The prefetch hints (``ahead`` > 0) of the working-set epochs and of the
    Newton steps: bit-for-bit the result without them (shared and
    per-coefficient thresholds, signed and non-negative, columns overhanging
    both signal ends, working sets shorter than the prefetch distance)."""
    op, design, x, y = banded_problem(rng, mode, P, N=1500, L=13)
    amax = np.abs(design.rmatvec(y)).max()
    T = kern.kernel_cross_products(design.kernels)
    for positive in (False, True):
        x0 = np.abs(x) if positive else x
        for t in (np.array([0.05 * amax]), rng.uniform(0.02, 0.1, x.size) * amax):
            for ws in (np.arange(x.size, dtype=np.int64),
                       np.sort(rng.choice(x.size, 10, replace=False)).astype(np.int64)):
                out = []
                for ahead in (0, 1, kern._PREFETCH_AHEAD):
                    xw = x0[ws].copy()
                    r = y - design.matvec(x0)
                    res = getattr(kern, epoch)(xw, r, ws, design.kernels, design.cumsq,
                                               design.n_samples, design.shift,
                                               design.n_rows, t, positive, ahead)
                    xn = x0.copy()
                    xn[ws] = xw
                    rn = r.copy()
                    n_upd = kern.banded_newton(xn, rn, ws, design.kernels, T,
                                               design.n_samples, design.shift,
                                               design.n_rows, t, positive, ahead=ahead)
                    out.append((res, xw, r, n_upd, xn, rn))
                for got in out[1:]:
                    assert got[0] == out[0][0] and got[3] == out[0][3]
                    for k in (1, 2, 4, 5):
                        np.testing.assert_array_equal(got[k], out[0][k])


@pytest.mark.parametrize("positive", [False, True])
def test_cd_with_prefetch_hints_equals_without_and_sklearn(positive, monkeypatch):
    """Coordinate descent with the prefetch hints forced on small signals (they
    are used from ``_PREFETCH_MIN_ROWS`` rows on, on sparse enough working
    sets) returns the same bits as without them, and the scikit-learn solution
    (alpha = lam / N)."""
    import scipy.linalg as sla
    import scipy.sparse as sps
    from sklearn.linear_model import Lasso as SkLasso

    from sparse_events import deconvolve
    from sparse_events.operators import ConvolutionOperator as Conv

    rng = np.random.default_rng(5)
    N, L = 4000, 12
    h = rng.standard_normal(L)
    s = np.zeros(N)
    s[rng.choice(N, N // 100, replace=False)] = rng.standard_normal(N // 100)
    y = Conv(h, N, "causal").matvec(s) + 0.05 * rng.standard_normal(N)
    lam = 0.1 * np.abs(Conv(h, N, "causal").rmatvec(y)).max()
    calls = []
    epoch = BandedDesign.cd_epoch_violation

    def counted(self, *a):
        calls.append(self._prefetch_ahead(a[2]))
        return epoch(self, *a)

    monkeypatch.setattr(BandedDesign, "cd_epoch_violation", counted)
    off = deconvolve(y, h, lam, positive=positive, tol=1e-10)
    assert set(calls) == {0}
    calls.clear()
    monkeypatch.setattr(kern, "_PREFETCH_MIN_ROWS", 1)
    monkeypatch.setattr(kern, "_PREFETCH_MIN_GAP", 1)
    on = deconvolve(y, h, lam, positive=positive, tol=1e-10)
    assert set(calls) == {kern._PREFETCH_AHEAD}
    np.testing.assert_array_equal(on.coef, off.coef)
    np.testing.assert_array_equal(on.objective, off.objective)
    assert (on.n_iter, on.gap, on.converged) == (off.n_iter, off.gap, off.converged)
    # the causal operator as an explicit (sparse) matrix: y[n] = sum_l h[l] s[n - l]
    H = sps.csc_matrix(sla.convolution_matrix(h, N, "full")[:N])
    sk = SkLasso(alpha=lam / N, fit_intercept=False, positive=positive, tol=1e-12,
                 max_iter=100000).fit(H, y)
    np.testing.assert_allclose(on.coef, sk.coef_, atol=1e-6 * np.abs(sk.coef_).max())


def test_stable_order_equals_numpy_mergesort(rng):
    """``stable_order`` (merges of the sorted runs) is numpy's stable argsort: random
    keys with ties, a few sorted runs (the starts of several kernels), sorted,
    reversed, empty and single keys."""
    cases = [np.empty(0, dtype=np.int64), np.array([3], dtype=np.int64),
             np.arange(40, dtype=np.int64), np.arange(40, dtype=np.int64)[::-1].copy()]
    for _ in range(300):
        m = int(rng.integers(0, 80))
        cases.append(rng.integers(-5, 6, m))
        cases.append(np.concatenate([np.sort(rng.integers(-20, 40, int(rng.integers(0, 20))))
                                     for _ in range(int(rng.integers(1, 8)))]))
    for keys in cases:
        keys = keys.astype(np.int64)
        ref = np.argsort(keys, kind="mergesort")
        np.testing.assert_array_equal(kern.stable_order(keys), ref)
        # the count of descents (Newton's one scan of the starts) and the merges given it
        n_desc = kern._n_descents(keys)
        assert n_desc == np.count_nonzero(np.diff(keys) < 0)
        if n_desc:
            np.testing.assert_array_equal(kern._merge_runs(keys, n_desc), ref)


def test_newton_step_with_several_kernels_equals_presorted_working_set(rng):
    """With several kernels a working set sorted by flat index lists the starts
    in one run per kernel (merged by ``stable_order``): the step equals, bit for
    bit, the step on a working set already sorted by start (ties by kernel)."""
    op, design, x, y = banded_problem(rng, "same", P=4, N=600, L=11)
    x += 0.05 * rng.standard_normal(x.size) * (x != 0)
    r = y - design.matvec(x)
    T = kern.kernel_cross_products(design.kernels)
    ws = np.flatnonzero(x).astype(np.int64)
    p = ws // design.n_samples
    by_start = ws[np.lexsort((p, ws - p * design.n_samples))]
    t = np.array([0.05 * np.abs(design.rmatvec(y)).max()])
    out = []
    for w in (ws, by_start):
        xa, ra = x.copy(), r.copy()
        n = kern.banded_newton(xa, ra, w, design.kernels, T, design.n_samples, design.shift,
                               design.n_rows, t, False, ahead=0)
        out.append((n, xa, ra))
    assert out[0][0] == out[1][0] > 0
    np.testing.assert_array_equal(out[0][1], out[1][1])
    np.testing.assert_array_equal(out[0][2], out[1][2])


def test_scratch_buffers_are_distinct_and_sized(monkeypatch):
    """``_scratch``: one buffer per name (never shared), the requested size and
    dtype, reused between calls; above ``_SCRATCH_MAX``, inside a nested solve
    (depth > 1) or after ``_scratch_clear``, a fresh array."""
    a = cd_module._scratch("test_a", 100)
    b = cd_module._scratch("test_b", 100, np.int64)
    assert a.shape == (100,) and a.dtype == np.float64 and b.dtype == np.int64
    assert not np.shares_memory(a, b)
    assert np.shares_memory(cd_module._scratch("test_a", 50), a)
    big = cd_module._SCRATCH_MAX + 1
    assert not np.shares_memory(cd_module._scratch("test_c", big),
                                cd_module._scratch("test_c", big))
    with monkeypatch.context() as m:
        m.setattr(cd_module._scratch_pool, "depth", 2, raising=False)
        assert not np.shares_memory(cd_module._scratch("test_a", 100), a)
    cd_module._scratch_clear()
    assert not np.shares_memory(cd_module._scratch("test_a", 100), a)


def test_pooled_solve_equals_fresh_arrays_and_kkt(monkeypatch):
    """A solve of 2e5 coefficients (below the 2^18-entry pool limit): pooled buffers,
    reused by a second solve, give the same bits as fresh arrays, and the solution
    satisfies the LASSO optimality conditions (``check_optimality``, the reference)
    and equals ``solver="fista"`` on its support's scale."""
    from sparse_events.models import deconvolve

    local = np.random.default_rng(21)
    N, L = 200_000, 12
    h = local.standard_normal(L)
    s = np.zeros(N)
    idx = local.choice(N, N // 100, replace=False)
    s[idx] = local.standard_normal(idx.size)
    op = ConvolutionOperator(h, N, "causal")
    y = op.matvec(s) + 0.1 * local.standard_normal(N)
    lam = 0.1 * np.abs(op.rmatvec(y)).max()
    assert N <= cd_module._SCRATCH_MAX
    cd_module._scratch_clear()
    first = deconvolve(y, h, lam, tol=1e-10, max_iter=1000)
    second = deconvolve(y, h, lam, tol=1e-10, max_iter=1000)  # reuses the pool
    monkeypatch.setattr(cd_module, "_SCRATCH_MAX", -1)
    fresh = deconvolve(y, h, lam, tol=1e-10, max_iter=1000)
    for res in (first, second):
        np.testing.assert_array_equal(res.coef, fresh.coef)
        np.testing.assert_array_equal(res.objective, fresh.objective)
    chk = check_optimality(Quadratic(op, y), L1(lam), fresh.coef, y - op.matvec(fresh.coef))
    assert chk.kkt <= 1e-8 * lam
    fista = deconvolve(y, h, lam, tol=1e-9, max_iter=20000, solver="fista")
    np.testing.assert_allclose(fresh.coef, fista.coef, atol=1e-4 * np.abs(fresh.coef).max())
    cd_module._scratch_clear()


def _nested_problems():
    op, design, _, y = banded_problem(np.random.default_rng(3), "same", 3, N=1500, L=40)
    op2, design2, _, y2 = banded_problem(np.random.default_rng(4), "same", 2, N=900, L=9)
    inner = (Quadratic(op2, y2), L1(0.05 * np.abs(design2.rmatvec(y2)).max()))
    outer_pen = L1(0.02 * np.abs(design.rmatvec(y)).max())
    return op, design, y, outer_pen, inner


def test_nested_solve_leaves_the_outer_scratch_alone():
    """A solve started inside another one in the same thread (here from an
    overridden ``newton_step``, which keeps the banded fast path) gets its own
    arrays: both give the same bits as when run alone, and the nesting depth
    is back to zero afterwards, also after an exception."""
    op, design, y, pen, inner = _nested_problems()
    ref = coordinate_descent(Quadratic(design, y), pen, tol=1e-9)
    inner_ref = coordinate_descent(*inner, tol=1e-6)
    inner_runs = []

    class Nesting(BandedDesign):
        def newton_step(self, x, r, ws, thresh, positive):
            inner_runs.append(coordinate_descent(*inner, tol=1e-6))
            return super().newton_step(x, r, ws, thresh, positive)

    got = coordinate_descent(Quadratic(Nesting(op), y), pen, tol=1e-9)
    assert inner_runs  # the nested path ran
    np.testing.assert_array_equal(got.coef, ref.coef)
    np.testing.assert_array_equal(got.objective, ref.objective)
    assert got.n_iter == ref.n_iter
    for run in inner_runs:
        np.testing.assert_array_equal(run.coef, inner_ref.coef)
        np.testing.assert_array_equal(run.objective, inner_ref.objective)
    assert cd_module._scratch_pool.depth == 0

    class Failing(BandedDesign):
        def newton_step(self, x, r, ws, thresh, positive):
            raise RuntimeError("hook failed")

    with pytest.raises(RuntimeError, match="hook failed"):
        coordinate_descent(Quadratic(Failing(op), y), pen, tol=1e-9)
    assert cd_module._scratch_pool.depth == 0
    np.testing.assert_array_equal(coordinate_descent(Quadratic(design, y), pen, tol=1e-9).coef,
                                  ref.coef)


@pytest.mark.parametrize("P", [1, 3])
def test_cd_with_reused_scratch_equals_fresh_arrays(P, rng, monkeypatch):
    """Banded coordinate descent with its scratch arrays reused between calls
    (sizes changing, cold and warm starts, weighted and plain penalties) gives
    the same bits as with fresh arrays at every call, and as with pooled
    arrays poisoned at every request (NaN, ``-2**40``, ``0xA5``: a read of an
    entry not written in this solve would show)."""
    pooled = cd_module._scratch

    def poisoned(name, size, dtype=np.float64):
        a = pooled(name, size, dtype)
        # (flags, uint8: 0xA5)
        a[:] = {"f": np.nan, "u": 0xA5}.get(a.dtype.kind, -(1 << 40))
        return a

    runs = []
    for mode in ("pooled", "fresh", "poisoned"):
        monkeypatch.setattr(cd_module, "_SCRATCH_MAX",
                            -1 if mode == "fresh" else cd_module._SCRATCH_MAX)
        monkeypatch.setattr(cd_module, "_scratch", poisoned if mode == "poisoned" else pooled)
        local = np.random.default_rng(11)
        out = []
        for N, L in ((3000, 9), (2500, 40), (3100, 9)):
            op, design, _, y = banded_problem(local, "same", P, N=N, L=L)
            df = Quadratic(op, y)
            amax = np.abs(design.rmatvec(y)).max()
            for pen in (WeightedL1(0.05 * amax, local.uniform(0.5, 2.0, design.n_features),
                                   positive=True), L1(0.02 * amax)):
                cold = coordinate_descent(df, pen, tol=1e-8)
                x0 = cold.coef * local.uniform(0.5, 1.5, cold.coef.size)
                warm = coordinate_descent(df, pen, x0=x0, tol=1e-8)
                out += [cold.coef, cold.objective, warm.coef, warm.objective]
        runs.append(out)
    assert all(np.isfinite(a).all() for a in runs[0])
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            np.testing.assert_array_equal(a, b)


def test_select_forms_of_prox_and_distance_equal_the_branches(rng):
    """``_prox1_select`` / ``_dist1_select`` (the branch-free forms of the short
    epochs) give the values of ``_prox1`` / ``_dist1`` on ties (``z = +-t``, ``c =
    +-t``), next-to-ties, signed zeros, infinities and random values, signed and
    non-negative; the sign of a zero may differ only where both are zero."""
    t_vals = [0.0, 1e-300, 0.3, 1.0, 7.5]
    specials = [0.0, -0.0, np.inf, -np.inf, 1e-310, -1e-310]
    for t in t_vals:
        near = [t, -t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf),
                -np.nextafter(t, np.inf), -np.nextafter(t, -np.inf), 2 * t, -2 * t]
        zs = near + specials + list(rng.normal(scale=3 * t + 1, size=40))
        for positive in (False, True):
            for z in zs:
                a = kern._prox1_select(z, t, positive)
                b = kern._prox1(z, t, positive)
                assert a == b, (z, t, positive, a, b)
            for x in [0.0, -0.0, 1.5, -1.5, 1e-310, -1e-310]:
                if positive and x < 0:
                    continue
                for c in zs:
                    a = kern._dist1_select(x, c, t, positive)
                    b = kern._dist1(x, c, t, positive)
                    assert a == b or (np.isnan(a) and np.isnan(b)), (x, c, t, positive, a, b)


def _dirty_positions_reference(ws, xw, prev, tau, L):
    """The support blocks of ``xw`` within ``L - 1`` of a coefficient that moved by
    more than ``tau`` (numpy, by sorted searches)."""
    nzp = np.flatnonzero(xw)
    if nzp.size == 0:
        return nzp
    moved = ws[np.abs(xw - prev) > tau]
    s = ws[nzp]
    heads = np.flatnonzero(np.concatenate(([True], s[1:] - s[:-1] >= L)))
    ends = np.append(heads[1:], s.size)
    hit = (np.searchsorted(moved, s[ends - 1] + (L - 1), side="right")
           > np.searchsorted(moved, s[heads] - (L - 1), side="left"))
    return nzp[np.repeat(hit, ends - heads)]


@pytest.mark.parametrize("L", [1, 2, 5, 12])
def test_newton_dirty_positions_equal_sorted_searches(L, rng):
    """The compiled one-pass ``newton_dirty_positions`` returns the positions of a
    numpy reference by sorted searches: dense and sparse supports, few and many
    moves, moves below / at / above ``tau``, NaN moves, empty and full supports."""
    for n_ws, share, moved_share in ((1, 1.0, 1.0), (50, 0.3, 0.05), (400, 0.05, 0.01),
                                     (400, 0.6, 0.2), (300, 0.0, 0.5), (300, 1.0, 0.0),
                                     (2000, 0.2, 0.002)):
        ws = np.sort(rng.choice(10 * n_ws + L, n_ws, replace=False)).astype(np.int64)
        xw = np.where(rng.random(n_ws) < share, rng.standard_normal(n_ws), 0.0)
        prev = xw.copy()
        mv = rng.random(n_ws) < moved_share
        prev[mv] += rng.choice([-1.0, 1.0], mv.sum()) * rng.choice([1e-3, 1e-9, 2e-9], mv.sum())
        if n_ws > 2:
            prev[rng.integers(n_ws)] = np.nan
        for tau in (0.0, 1e-9, 1e-6):
            got = kern.newton_dirty_positions(ws, xw, prev, tau, L)
            ref = _dirty_positions_reference(ws, xw, prev, tau, L)
            assert got.dtype == np.int64
            np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("L", [5, 12])
def test_short_epoch_counts_every_sign_change(mode, L, rng):
    """The ``changes`` returned by one short-kernel epoch is the number of
    coordinates whose sign (negative / zero / positive) differs before and after
    it, on both of its paths (each coordinate is visited once per epoch), signed
    and non-negative, from a start with many wrong signs."""
    op, design, x, y = banded_problem(rng, mode, 1, N=900, L=L)
    n = x.size
    amax = np.abs(design.rmatvec(y)).max()
    ws = np.arange(n, dtype=np.int64)
    lo, hi = design.cd_inside_range(ws)
    seen = 0
    for positive in (False, True):
        start = rng.normal(scale=np.abs(x).max() + 1.0, size=n)
        start[rng.random(n) < 0.3] = 0.0
        if positive:
            start = np.abs(start)
        for rng_ in ((0, 0), (lo, hi)):
            xw = start.copy()
            r = y - design.matvec(start)
            changes, _ = kern.banded_epoch_violation_short(
                xw, r, ws, design.kernels, design.cumsq, design.n_samples, design.shift,
                design.n_rows, np.array([0.05 * amax]), positive, 0, *rng_)
            expected = np.count_nonzero(np.sign(xw) != np.sign(start))
            assert changes == expected
            seen += expected
    assert seen > 0


@pytest.mark.parametrize("positive", [False, True])
def test_column_energy_whose_inverse_overflows_is_skipped(positive, rng):
    """A kernel tap so small that an edge column's energy inverts to ``inf``
    (1e-160 ** 2 underflows to a subnormal whose inverse overflows): the column
    cannot move (as with the branching threshold, which returned 0 there) and the
    solve gives the solution of the same kernel with that tap set to 0, instead of
    NaN everywhere (the branch-free epoch computed ``inf - inf``)."""
    from sparse_events import deconvolve
    from sparse_events.models import alpha_max

    N = 30
    x = np.where(rng.random(N) < 0.6, rng.standard_normal(N), 0.0)
    if positive:
        x = np.abs(x)
    tiny = np.array([1e-160, 1.0, 0.6, 0.3, 0.1])
    zero = np.array([0.0, 1.0, 0.6, 0.3, 0.1])
    y = np.convolve(x, tiny)[:N] + 0.01 * rng.standard_normal(N)
    lam = 0.001 * alpha_max(y, tiny, mode="causal")
    a = deconvolve(y, tiny, lam, mode="causal", solver="cd", positive=positive, tol=1e-10)
    b = deconvolve(y, zero, lam, mode="causal", solver="cd", positive=positive, tol=1e-10)
    assert np.isfinite(a.coef).all() and a.converged
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-8, atol=1e-10)
