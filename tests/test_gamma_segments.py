"""Block-wise kernels of the gamma segment solver against dense references.

The component solver of ``sparse_events.gamma._segments`` factors only the
blocks of the free set that changed (the warm start and the refit from
their first changed row, the main loop from the block's start), keeps the
factor rows by variable and settles blocks independently; each piece is
checked here against ``numpy.linalg`` (Cholesky, solve) and
``scipy.optimize.nnls`` on small random problems with the Gram structure of
the solver (pulse autocorrelation, candidates with gaps).
"""

import numpy as np
import pytest
from scipy.optimize import nnls

from sparse_events.gamma import _segments, biexponential_pulse, simulate_pulse_train
from sparse_events.gamma._kernels import screen_runs
from sparse_events.gamma._segments import (
    _CHUNK,
    _chol_factor,
    _chol_subst,
    _nnqp,
    _refit,
    _settle,
    _warm_start,
    pulse_cross_sums,
)
from sparse_events.operators import ConvolutionOperator

PULSE = biexponential_pulse(sampling_rate=250e6, rise_time_s=4e-9, decay_time_s=12e-9,
                            tail_fraction=0.01)
L = PULSE.size


def _problem(rng, m, gap_prob=0.15):
    """Sample positions with gaps (several blocks), offset Gram ``B`` and dense ``Q``."""
    steps = np.where(rng.random(m - 1) < gap_prob, rng.integers(L, 2 * L, m - 1),
                     rng.integers(1, 4, m - 1))
    pos = np.concatenate([[0], np.cumsum(steps)]).astype(np.int64)
    cum = pulse_cross_sums(PULSE)
    acf = cum[np.arange(L), L - np.arange(L)]
    dist = np.abs(pos[:, None] - pos[None, :])
    Q = np.where(dist < L, acf[np.minimum(dist, L - 1)], 0.0)
    B = np.zeros((m, L))
    for a in range(m):
        for d in range(L):
            if a + d < m:
                B[a, d] = Q[a, a + d]
    return pos, B, Q


def _record(rl, seed, n=1500, fs=250e6):
    """Simulated record at rate x L = ``rl`` and its detection threshold ``alpha``."""
    tr = simulate_pulse_train(rate_hz=rl / (L / fs), duration_s=n / fs, sampling_rate=fs,
                              pulse=PULSE, amplitudes=lambda rng, k: rng.uniform(20, 200, k),
                              noise_std=1.0, random_state=seed)
    return tr.signal, np.linalg.norm(PULSE) * np.sqrt(2 * np.log(n))


def _dense_lasso(y, alpha):
    """Dense design ``H`` and non-negative LASSO solution of the record (scipy NNLS on the
    Cholesky factor of ``H^T H``)."""
    n = y.size
    H = ConvolutionOperator(PULSE, n, "causal").todense()
    R = np.linalg.cholesky(H.T @ H).T
    return H, nnls(R, np.linalg.solve(R.T, H.T @ y - alpha), maxiter=50 * n)[0]


def _work(m):
    return dict(x=np.zeros(m), passive=np.zeros(m, dtype=np.bool_),
                state=np.zeros(m, dtype=np.int8), pidx=np.zeros(m, dtype=np.int64),
                Lw=np.zeros((m, L)), z=np.zeros(m), w=np.zeros(m),
                cmax=np.zeros(m // _CHUNK + 1), carg=np.zeros(m // _CHUNK + 1, dtype=np.int64))


def _factor_dense(Lw, pidx, P, pos):
    """Dense lower factor from the by-variable rows ``Lw[pidx[i], i - t]``: only the envelope
    is stored (members ``t`` fewer than ``L`` samples before ``i``; the factor is zero before
    them, in particular across blocks)."""
    k = P.size
    F = np.zeros((k, k))
    for i in range(k):
        for t in range(i + 1):
            if pos[P[i]] - pos[P[t]] < L:
                F[i, t] = Lw[pidx[i], i - t]
    return F


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_block_cholesky_equals_dense_cholesky_and_solve(seed):
    """Factor of a free subset (several blocks) == np.linalg.cholesky; solve == np.linalg.solve;
    refactoring from a changed row with the earlier rows kept gives the same factor."""
    rng = np.random.default_rng(seed)
    m = 60
    pos, B, Q = _problem(rng, m)
    P = np.sort(rng.choice(m, 35, replace=False)).astype(np.int64)
    k = P.size
    pidx = np.zeros(m, dtype=np.int64)
    pidx[:k] = P
    Lw = np.zeros((m, L))
    b = rng.normal(size=m)
    z = np.zeros(m)
    assert _chol_factor(B, L, pos, pidx, 0, k, 0, Lw)
    QP = Q[np.ix_(P, P)]
    np.testing.assert_allclose(_factor_dense(Lw, pidx, P, pos), np.linalg.cholesky(QP), rtol=1e-12,
                               atol=1e-12)
    _chol_subst(L, pos, pidx, 0, k, b, Lw, z)
    np.testing.assert_allclose(z[:k], np.linalg.solve(QP, b[P]), rtol=1e-9, atol=1e-9)
    # drop a variable in the middle: rows before it stay valid, factor from there on
    drop = k // 2
    P2 = np.delete(P, drop)
    pidx[: k - 1] = P2
    assert _chol_factor(B, L, pos, pidx, 0, k - 1, drop, Lw)
    _chol_subst(L, pos, pidx, 0, k - 1, b, Lw, z)
    Q2 = Q[np.ix_(P2, P2)]
    np.testing.assert_allclose(_factor_dense(Lw, pidx, P2, pos), np.linalg.cholesky(Q2), rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(z[: k - 1], np.linalg.solve(Q2, b[P2]), rtol=1e-9, atol=1e-9)


def test_block_cholesky_refactored_after_random_changes():
    """Stress test of the row-wise refactoring: after every random insertion or removal, the
    block holding the first changed row is factored again from that row only (as
    :func:`_settle` does), earlier rows kept.  The rows to compute start as NaN (the whole
    storage at first), so any read of an entry not written shows; the factor of the whole free
    set and a solve equal ``np.linalg.cholesky`` and ``np.linalg.solve``."""
    def close(a, b, tol):  # assert_allclose without its overhead (NaN: not close)
        return np.all(np.abs(a - b) <= tol * (1.0 + np.abs(b)))

    rng = np.random.default_rng(7)
    for trial in range(300):
        m = int(rng.integers(20, 60))
        pos, B, Q = _problem(rng, m, gap_prob=rng.uniform(0.0, 0.3))
        free = rng.random(m) < 0.5
        free[rng.integers(m)] = True
        P = np.flatnonzero(free)
        pidx = np.zeros(m, dtype=np.int64)
        pidx[: P.size] = P
        Lw = np.full((m, L), np.nan)
        assert _chol_factor(B, L, pos, pidx, 0, P.size, 0, Lw)
        z = np.zeros(m)
        for change in range(40):
            v = int(rng.integers(m))
            if free[v] and P.size == 1:
                continue
            free[v] = not free[v]
            P = np.flatnonzero(free)
            k = P.size
            pidx[:k] = P
            f0 = int(np.searchsorted(P, v))  # first changed row (insertion or removal)
            if f0 < k:
                # the block holding row f0
                gap = np.flatnonzero(np.diff(pos[P]) >= L) + 1
                r0 = int(gap[gap <= f0].max(initial=0))
                r1 = int(gap[gap > f0].min(initial=k))
                Lw[P[f0:r1]] = np.nan
                assert _chol_factor(B, L, pos, pidx, r0, r1, f0, Lw)
            if not free[v]:
                Lw[v] = np.nan  # a removed variable's row is stale
            # dense lower factor from the envelope rows Lw[P[i], i - t]
            it, tt = np.tril_indices(k)
            env = pos[P[it]] - pos[P[tt]] < L
            F = np.zeros((k, k))
            F[it[env], tt[env]] = Lw[P[it[env]], (it - tt)[env]]
            QP = Q[np.ix_(P, P)]
            b = rng.normal(size=m)
            _chol_subst(L, pos, pidx, 0, k, b, Lw, z)
            assert close(F, np.linalg.cholesky(QP), 1e-12), (trial, change)
            assert close(z[:k], np.linalg.solve(QP, b[P]), 1e-9), (trial, change)


def test_settle_solves_changed_blocks_and_drops_negatives():
    """After settling, x is the solution on the remaining free set (dense solve), positive."""
    rng = np.random.default_rng(5)
    m = 80
    pos, B, Q = _problem(rng, m)
    wk = _work(m)
    b = rng.normal(size=m) + 0.3
    P = np.arange(m, dtype=np.int64)
    wk["pidx"][:m] = P
    wk["passive"][:] = True
    wk["state"][:] = 2
    k = m
    drops = 0
    while True:
        k, _solves, dropped = _settle(B, L, pos, b, wk["pidx"], k, wk["state"], wk["passive"],
                                      wk["x"], wk["Lw"], wk["z"], False)
        drops += dropped
        if not dropped:
            break
    assert drops > 0 and 0 < k < m
    _assert_positive_face_solution(wk, k, Q, b)


def _assert_positive_face_solution(wk, k, Q, b):
    """The free set ``pidx[:k]`` is sorted and marked passive, ``x`` on it solves the
    dense face system ``Q[F, F] x_F = b_F`` with ``x_F > 0``, and ``x`` is zero elsewhere."""
    F = wk["pidx"][:k]
    np.testing.assert_array_equal(F, np.flatnonzero(wk["passive"]))
    np.testing.assert_allclose(wk["x"][F], np.linalg.solve(Q[np.ix_(F, F)], b[F]), rtol=1e-9,
                               atol=1e-9)
    assert np.all(wk["x"][F] > 0)
    assert np.all(wk["x"][~wk["passive"]] == 0)


def _nnls_reference(Q, b):
    """``argmin_{x >= 0} 0.5 x^T Q x - b^T x`` by scipy NNLS on the Cholesky form."""
    R = np.linalg.cholesky(Q).T
    return nnls(R, np.linalg.solve(R.T, b), maxiter=50 * b.size)[0]


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("warm", [False, True])
def test_nnqp_equals_scipy_nnls(seed, warm):
    """Block-wise active set (cold or from a guess) == scipy NNLS on the Cholesky form."""
    rng = np.random.default_rng(seed)
    m = 150
    pos, B, Q = _problem(rng, m, gap_prob=0.05)
    # b = c - alpha of a few pulses among the candidates, so some but not all are active
    s_true = np.where(rng.random(m) < 0.15, rng.uniform(5, 50, m), 0.0)
    b = Q @ s_true + rng.normal(scale=3.0, size=m) - 4.0
    R = np.linalg.cholesky(Q).T
    ref = nnls(R, np.linalg.solve(R.T, b), maxiter=50 * m)[0]
    wk = _work(m)
    if warm:
        wk["passive"][:] = rng.random(m) < 0.3
    it = _nnqp(B, L, b, m, pos, 1e-12, 50 * m, warm, wk["x"], wk["passive"], wk["state"],
               wk["pidx"], wk["Lw"], wk["z"], wk["w"], wk["cmax"], wk["carg"])
    assert it > 0
    x = wk["x"]
    np.testing.assert_array_equal(np.flatnonzero(x > 0), np.flatnonzero(ref > 1e-9))
    np.testing.assert_allclose(x, ref, rtol=1e-8, atol=1e-8)
    grad = b - Q @ x
    assert np.all(grad <= 1e-8)
    # the factor rows left for the refit are those of the final free set
    F = np.flatnonzero(x > 0)
    np.testing.assert_allclose(_factor_dense(wk["Lw"], F, F, pos),
                               np.linalg.cholesky(Q[np.ix_(F, F)]), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("max_rounds, expect_optimal", [(3, False), (100, True)])
def test_warm_start_reaches_a_state_of_the_active_set_iteration(max_rounds, expect_optimal):
    """The warm start leaves x > 0 the exact minimizer on its free set (dense solve); when it
    reports optimal, w = b - Q x (dense) is at most tol on the zero variables and x is the
    scipy NNLS solution."""
    rng = np.random.default_rng(9)
    m = 120
    pos, B, Q = _problem(rng, m, gap_prob=0.05)
    b = Q @ np.where(rng.random(m) < 0.2, rng.uniform(5, 50, m), 0.0) - 3.0
    wk = _work(m)
    wk["passive"][:] = rng.random(m) < 0.5
    tol = 1e-12
    k, _solves, optimal = _warm_start(B, L, b, m, pos, tol, max_rounds, wk["x"],
                                      wk["passive"], wk["state"], wk["pidx"], wk["Lw"], wk["z"],
                                      wk["w"])
    assert optimal == expect_optimal
    _assert_positive_face_solution(wk, k, Q, b)
    if optimal:
        x = wk["x"]
        np.testing.assert_allclose(wk["w"], b - Q @ x, rtol=1e-9, atol=1e-9)
        assert np.all(wk["w"][~wk["passive"]] <= tol)
        np.testing.assert_allclose(x, _nnls_reference(Q, b), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("seed", [0, 1])
def test_nnqp_main_loop_after_a_non_optimal_warm_start(seed):
    """A problem whose warm start (8 rounds, as in _nnqp) is not optimal from an empty guess:
    the one-at-a-time loop that follows still gives scipy NNLS."""
    rng = np.random.default_rng(seed)
    m = 1500
    pos, B, Q = _problem(rng, m, gap_prob=0.02)
    # a rising b: few local maxima of w per round, so 8 rounds leave violators behind
    b = np.linspace(1.0, 2.0, m) + Q @ np.where(rng.random(m) < 0.02, rng.uniform(5, 50, m), 0.0)
    wk = _work(m)
    _k, _solves, optimal = _warm_start(B, L, b, m, pos, 1e-12, 8, wk["x"], wk["passive"],
                                       wk["state"], wk["pidx"], wk["Lw"], wk["z"], wk["w"])
    assert not optimal
    wk = _work(m)
    it = _nnqp(B, L, b, m, pos, 1e-12, 50 * m, True, wk["x"], wk["passive"], wk["state"],
               wk["pidx"], wk["Lw"], wk["z"], wk["w"], wk["cmax"], wk["carg"])
    assert it > 0
    ref = _nnls_reference(Q, b)
    x = wk["x"]
    np.testing.assert_array_equal(np.flatnonzero(x > 0), np.flatnonzero(ref > 1e-9))
    np.testing.assert_allclose(x, ref, rtol=1e-8, atol=1e-8)
    assert np.all(b - Q @ x <= 1e-8)


@pytest.mark.parametrize("max_rounds", [0, 1, 20])
@pytest.mark.parametrize("factored", [False, True])
def test_refit_equals_least_squares_with_negative_removal(factored, max_rounds):
    """Refit == dense least squares on the support, negatives removed round by round; when
    the rounds do not settle (0 or 1 round here), the exact NNLS on the support (scipy)."""
    rng = np.random.default_rng(11)
    m = 100
    pos, B, Q = _problem(rng, m, gap_prob=0.05)
    b = Q @ np.where(rng.random(m) < 0.2, rng.uniform(5, 50, m), 0.0) - 3.0
    wk = _work(m)
    _nnqp(B, L, b, m, pos, 1e-12, 50 * m, False, wk["x"], wk["passive"], wk["state"],
          wk["pidx"], wk["Lw"], wk["z"], wk["w"], wk["cmax"], wk["carg"])
    sup = np.flatnonzero(wk["x"] > 0).astype(np.int64)
    ns = sup.size
    c = b + rng.normal(scale=20.0, size=m)  # a right-hand side that makes some refits negative
    # dense reference: rounds of least squares, removing the negative coefficients
    keep = np.ones(ns, dtype=bool)
    for _ in range(20):
        S = sup[keep]
        u = np.linalg.solve(Q[np.ix_(S, S)], c[S])
        if np.all(u >= 0):
            break
        idx = np.flatnonzero(keep)
        keep[idx[u < 0]] = False
    assert not keep.all()  # the first round leaves negatives: 0 and 1 round fall back
    if max_rounds == 20:
        ref = np.zeros(ns)
        ref[keep] = u
    else:
        ref = _nnls_reference(Q[np.ix_(sup, sup)], c[sup])
    out = np.zeros(ns)
    ok = _refit(B, L, c, pos, sup, ns, max_rounds, 1e-12, 50 * m, factored, out, wk["state"],
                wk["pidx"], wk["Lw"], wk["z"], np.zeros(m), np.zeros(m, dtype=np.bool_),
                wk["w"], np.zeros(m, dtype=np.int64), wk["cmax"], wk["carg"])
    assert ok
    np.testing.assert_allclose(out, ref, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("rl, seed", [(1.0, 3), (2.0, 4)])
def test_solve_runs_paths_agree_with_the_dense_qp(rl, seed, monkeypatch):
    """Plain (small components) and block-wise active set, and runs solved again with larger
    work arrays, all give the dense non-negative QP of the record (scipy NNLS)."""
    y, alpha = _record(rl, seed)
    H, ref = _dense_lasso(y, alpha)
    margin = L + 2
    s, e = screen_runs(y, PULSE, alpha, margin)
    plain = _segments.solve_runs(y, PULSE, alpha, s, e, margin=margin, small_vars=10 ** 9)
    block = _segments.solve_runs(y, PULSE, alpha, s, e, margin=margin, small_vars=0)
    # small work arrays: the runs with larger components are solved again
    monkeypatch.setattr(_segments, "_WORK_ELEMENTS", 16 * L)
    start = min(65536, max(64, _segments._WORK_ELEMENTS // L))  # as solve_runs sizes them
    grown = _segments.solve_runs(y, PULSE, alpha, s, e, margin=margin)
    assert grown[4]["largest_component"] > start and grown[4]["calls"] > plain[4]["calls"]
    # refit: least squares on the support, negatives removed round by round (the components
    # do not interact, so rounds over the whole support give the same result)
    sup = np.flatnonzero(ref > 1e-9 * alpha)
    keep = np.ones(sup.size, dtype=bool)
    for _ in range(20):
        S = sup[keep]
        u = np.linalg.lstsq(H[:, S], y, rcond=None)[0]
        if np.all(u >= 0):
            break
        keep[np.flatnonzero(keep)[u < 0]] = False
    ref_deb = np.zeros(sup.size)
    ref_deb[keep] = u
    for idx, coef, deb, fallback, _stats in (plain, block, grown):
        assert not fallback.any()
        np.testing.assert_array_equal(idx, sup)
        np.testing.assert_allclose(coef, ref[idx], rtol=1e-7, atol=1e-7)
        np.testing.assert_allclose(deb, ref_deb, rtol=1e-7, atol=1e-7)
    for res in (block, grown):
        for a, b in zip(plain[:3], res[:3]):
            np.testing.assert_array_equal(a, b)
    assert plain[4]["components"] == block[4]["components"] == grown[4]["components"]


@pytest.mark.parametrize("limit", ["max_vars", "budget"])
def test_solve_runs_retry_stops_at_the_limit(limit, monkeypatch):
    """Retries with larger arrays stop at max_vars (or the element budget): exactly the runs
    holding a larger component are flagged, the others equal an unrestricted solve."""
    y, alpha = _record(1.0, 3)
    n = y.size
    margin = L + 2
    s, e = screen_runs(y, PULSE, alpha, margin)
    full = _segments.solve_runs(y, PULSE, alpha, s, e, margin=margin)
    assert not full[3].any()
    # components (candidates c_i > alpha chained when fewer than L samples apart) and their runs
    c = np.convolve(y, PULSE[::-1])[L - 1: L - 1 + n]
    cand = np.flatnonzero(c > alpha)
    cuts = np.flatnonzero(np.diff(cand) >= L) + 1
    first = cand[np.concatenate([[0], cuts])]
    sizes = np.diff(np.concatenate([[0], cuts, [cand.size]]))
    run_of = np.searchsorted(s, first, side="right") - 1
    monkeypatch.setattr(_segments, "_WORK_ELEMENTS", 16 * L)
    start = min(65536, max(64, _segments._WORK_ELEMENTS // L))
    big = np.unique(sizes[sizes > start])
    assert big.size >= 3  # retried and solved, and above the limit
    limit_vars = int(big[-3] + big[-2]) // 2
    if limit == "max_vars":
        res = _segments.solve_runs(y, PULSE, alpha, s, e, margin=margin, max_vars=limit_vars)
    else:
        monkeypatch.setattr(_segments, "_RETRY_ELEMENTS", limit_vars * L)
        res = _segments.solve_runs(y, PULSE, alpha, s, e, margin=margin)
    idx, coef, deb, fallback, stats = res
    flagged = np.zeros(s.size, dtype=bool)
    flagged[run_of[sizes > limit_vars]] = True
    np.testing.assert_array_equal(fallback, flagged)
    assert stats["calls"] > 1
    # unflagged runs: the unrestricted solution there
    in_ok = ~flagged[np.searchsorted(s, full[0], side="right") - 1]
    np.testing.assert_array_equal(idx, full[0][in_ok])
    np.testing.assert_array_equal(coef, full[1][in_ok])
    np.testing.assert_array_equal(deb, full[2][in_ok])


def test_guess_filter_values_equal_numpy_convolution(rng):
    """The starting guess's filtered ``c`` (interior and both ends, zeros outside) == numpy."""
    from sparse_events.gamma._segments import _filtered, _guess_filter

    taps, thr = _guess_filter(PULSE, 3.0)
    assert taps.size == 2 * (L + 2) + 1 and thr == pytest.approx(3.0 / float(PULSE @ PULSE))
    np.testing.assert_allclose(taps, taps[::-1], rtol=0, atol=1e-12)  # symmetric
    K = taps.size // 2
    v = rng.standard_normal(3 * K + 7)
    want = np.convolve(v, taps[::-1], mode="full")[K: K + v.size]
    got = np.array([_filtered(v, v.size, i, taps, K) for i in range(v.size)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rl, seed", [(0.5, 31), (2.0, 32)])
def test_solution_does_not_depend_on_the_guess_filter(monkeypatch, rl, seed):
    """Components started from the deconvolved guess, from a guess of the plain ``c`` (a single
    tap), or from zero: the same solution, equal to the dense non-negative QP (scipy NNLS)."""
    y, alpha = _record(rl, seed)
    _H, ref = _dense_lasso(y, alpha)
    margin = L + 2
    s, e = screen_runs(y, PULSE, alpha, margin)
    deconv = _segments.solve_runs(y, PULSE, alpha, s, e, margin=margin)
    cold = _segments.solve_runs(y, PULSE, alpha, s, e, margin=margin, warm_start=False)
    monkeypatch.setattr(_segments, "_guess_filter",
                        lambda p, a: (np.ones(1), 2.0 * float(a)))  # guess: c > 2 alpha
    plain_c = _segments.solve_runs(y, PULSE, alpha, s, e, margin=margin)
    sup = np.flatnonzero(ref > 1e-9 * alpha)
    # components above _PEAKS_GUESS_VARS start from the deconvolved c
    assert deconv[4]["largest_component"] > _segments._PEAKS_GUESS_VARS
    for idx, coef, _deb, fallback, _stats in (deconv, cold, plain_c):
        assert not fallback.any()
        np.testing.assert_array_equal(idx, sup)
        np.testing.assert_allclose(coef, ref[idx], rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(deconv[1], cold[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(deconv[2], plain_c[2], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rl, seed", [(1.0, 3), (2.0, 4)])
def test_solver_kkt_check_equals_the_residual_check(rl, seed, monkeypatch):
    """The KKT check done in the solver's pass (gradient ``H^T y - (H^T H) s`` through the
    pulse's Gram table) == ``kkt_runs`` (gradient from the residual of the samples) on the
    same solution, also with runs solved again with larger arrays, several blocks and a
    grown output array (which leave the solution unchanged)."""
    from sparse_events.gamma._segments import kkt_runs

    y, alpha = _record(rl, seed)
    margin = L + 2
    s, e = screen_runs(y, PULSE, alpha, margin)
    ref = _segments.solve_runs(y, PULSE, alpha, s, e, margin=margin)
    assert "kkt_violation" not in ref[4]
    res = [_segments.solve_runs(y, PULSE, alpha, s, e, margin=margin, kkt=True)]
    monkeypatch.setattr(_segments, "_WORK_ELEMENTS", 16 * L)
    monkeypatch.setattr(_segments, "_OUT_EXTRA", 0)
    res.append(_segments.solve_runs(y, PULSE, alpha, s, e, margin=margin, kkt=True,
                                    span=4 * L))
    assert res[1][4]["calls"] > res[0][4]["calls"]
    want = kkt_runs(y, PULSE, alpha, s, e, ref[0], ref[1], margin=margin)
    for r in res:
        for a, b in zip(ref[:4], r[:4]):
            np.testing.assert_array_equal(a, b)
        assert r[4]["kkt_violation"] == pytest.approx(want, rel=1e-6, abs=1e-12)
    assert want < 1e-9


def _run_kkt_problem():
    """A record, its runs and solution, and the tables ``_run_kkt`` reads: ``(y, alpha, n,
    margin, starts, ends, idx, coef, cum, acf, c)`` with ``c = H^T y``."""
    y, alpha = _record(1.0, 5)
    n = y.size
    margin = L + 2
    s, e = screen_runs(y, PULSE, alpha, margin)
    idx, coef = _segments.solve_runs(y, PULSE, alpha, s, e, margin=margin)[:2]
    cum = pulse_cross_sums(PULSE)
    acf = cum[np.arange(L), L - np.arange(L)].copy()
    c = np.convolve(np.concatenate([y, np.zeros(L)]), PULSE[::-1])[L - 1: L - 1 + n]
    return y, alpha, n, margin, s, e, idx, coef, cum, acf, c


def test_run_kkt_sees_perturbed_solutions():
    """``_run_kkt`` over the runs == ``kkt_runs`` for solutions that are not optimal (changed
    amplitudes, a coefficient removed or moved, one added at the record's end)."""
    from sparse_events.gamma._segments import _run_kkt, kkt_runs

    y, alpha, n, margin, s, e, idx, coef, cum, acf, c = _run_kkt_problem()

    def solver_check(i, v):
        worst = 0.0
        for s0, s1 in zip(s, e):
            lo = s0 + margin if s0 > 0 else 0
            hi = s1 - L - margin + 1 if s1 < n else s1
            nb = max(hi - lo, 0)
            q0, q1 = np.searchsorted(i, [lo, lo + nb])
            worst = max(worst, _run_kkt(c[lo:lo + nb].copy(), nb, lo, n, alpha, acf, cum, L,
                                        i, v, q0, q1, np.zeros(nb)))
        return worst / alpha

    rng = np.random.default_rng(0)
    moved = idx.copy()
    moved[5] += 1 if idx[6] > idx[5] + 1 else 0
    # a coefficient at the last samples: its pulse is cut by the record's end
    last = e[-1] == n
    end_i = np.append(idx, n - 2) if last else idx
    end_c = np.append(coef, 50.0) if last else coef
    cases = [(idx, coef), (idx, coef * (1 + 0.01 * rng.standard_normal(idx.size))),
             (np.delete(idx, 7), np.delete(coef, 7)), (idx, coef * 0.9), (moved, coef),
             (end_i, end_c)]
    for i, v in cases:
        got = solver_check(i, v)
        want = kkt_runs(y, PULSE, alpha, s, e, i, v, margin=margin)
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12)
    assert solver_check(idx, coef * 0.9) > 1e-3


@pytest.mark.parametrize("tol_rel", [1e-3, 1e-1])
def test_kkt_in_the_solver_pass_sees_inexact_solutions(tol_rel, monkeypatch):
    """With a loose QP tolerance the solutions are off the optimum; the violation found in the
    solver's pass then equals ``kkt_runs`` on the coefficients written (rel 1e-9) and is far
    above rounding, so a kernel reporting nothing, or checking other samples or coefficients,
    fails.  Per run through the compiled kernel on a block of the record (global indices,
    ``a0 > 0``), and over the record through ``solve_runs`` with several blocks, runs solved
    again with larger work arrays, runs left to the caller and a grown output array."""
    from sparse_events.gamma._segments import _solve_runs_kernel, kkt_runs

    y, alpha = _record(1.0, 3, n=20000)
    n = y.size
    margin = L + 2
    s, e = screen_runs(y, PULSE, alpha, margin)
    cum = pulse_cross_sums(PULSE)
    taps, guess_thr = _segments._guess_filter(PULSE, alpha)
    # the runs after the first, read from a block starting at the second one
    a0 = int(s[1])
    ss, ee = s[1:], e[1:]
    room = int((ee - ss).sum())
    oi, oc, od = np.empty(room, dtype=np.int64), np.empty(room), np.empty(room)
    fb = np.zeros(ss.size, dtype=np.bool_)
    need = np.zeros(ss.size, dtype=np.int64)
    kdev = np.zeros(ss.size)
    m = _solve_runs_kernel(y[a0:], a0, n, PULSE, cum, float(alpha), ss, ee, margin, 4096,
                           _segments.SMALL_VARS, True, tol_rel * alpha, _segments._ITER_BASE,
                           True, taps, guess_thr, oi, oc, od, fb, need,
                           np.zeros(3, dtype=np.int64), True, kdev)
    assert a0 > 0 and not fb.any()
    want = np.array([kkt_runs(y, PULSE, alpha, ss[r:r + 1], ee[r:r + 1], oi[:m], oc[:m],
                              margin=margin) for r in range(ss.size)])
    np.testing.assert_allclose(kdev / alpha, want, rtol=1e-9, atol=1e-12)
    assert np.count_nonzero(want > 1e-6) >= 1
    assert kdev.max() / alpha > 1e-4

    monkeypatch.setattr(_segments, "_TOL_REL", tol_rel)
    plain = _segments.solve_runs(y, PULSE, alpha, s, e, margin=margin, kkt=True)
    monkeypatch.setattr(_segments, "_WORK_ELEMENTS", 16 * L)
    monkeypatch.setattr(_segments, "_OUT_EXTRA", 0)
    split = _segments.solve_runs(y, PULSE, alpha, s, e, margin=margin, kkt=True, span=4 * L,
                                 max_vars=600)
    assert split[4]["calls"] > plain[4]["calls"]
    assert split[3].any() and not split[3].all()
    for idx, coef, _, fallback, info in (plain, split):
        want = kkt_runs(y, PULSE, alpha, s[~fallback], e[~fallback], idx, coef, margin=margin)
        assert info["kkt_violation"] == pytest.approx(want, rel=1e-9)
        assert info["kkt_violation"] > 1e-4


def test_run_kkt_refuses_coefficients_it_does_not_meet():
    """``_run_kkt`` returns inf unless the run's coefficients are strictly increasing and
    inside the checked samples (a coefficient in the margin, repeated, out of order)."""
    from sparse_events.gamma._segments import _run_kkt, kkt_runs

    y, alpha, n, margin, s, e, idx, coef, cum, acf, c = _run_kkt_problem()
    # the run inside the record holding the most coefficients
    count = np.searchsorted(idx, e) - np.searchsorted(idx, s)
    count[(s == 0) | (e == n)] = -1
    r = int(np.argmax(count))
    lo, hi = s[r] + margin, e[r] - L - margin + 1
    i = idx[(idx >= lo) & (idx < hi)]
    v = coef[(idx >= lo) & (idx < hi)]
    assert i.size >= 3

    def check(i, v):
        return _run_kkt(c[lo:hi].copy(), hi - lo, lo, n, alpha, acf, cum, L, i, v, 0, i.size,
                        np.zeros(hi - lo)) / alpha

    assert check(i, v) == pytest.approx(
        kkt_runs(y, PULSE, alpha, s[r:r + 1], e[r:r + 1], idx, coef, margin=margin),
        rel=1e-6, abs=1e-12)
    bad = [(np.r_[lo - 1, i], np.r_[1.0, v]), (np.r_[i, hi], np.r_[v, 1.0]),
           (np.r_[i[:1], i], np.r_[v[:1], v]), (i[[1, 0, *range(2, i.size)]], v)]
    for bi, bv in bad:
        assert check(bi, bv) == np.inf


def _plain_screen(y, p, thr, margin):
    """Reference of ``screen_runs``: ``c = H^T y`` everywhere (``correlate_pulse``, the
    same sums), active where ``c > thr`` and some sample of the window exceeds
    ``thr / sum(p)``, runs split at gaps above ``L + 2 margin``, clipped and merged."""
    from sparse_events.gamma._kernels import correlate_pulse

    n, Lp = y.size, p.size
    c = correlate_pulse(y, p)
    pre = thr / p.sum()
    above = np.concatenate([np.asarray(y, dtype=np.float64) > pre, np.zeros(Lp, dtype=bool)])
    hit = np.lib.stride_tricks.sliding_window_view(above, Lp)[:n].any(axis=1)
    act = np.flatnonzero((c > thr) & hit)
    if not act.size:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    cut = np.flatnonzero(np.diff(act) > Lp + 2 * margin)
    first = act[np.r_[0, cut + 1]]
    last = act[np.r_[cut, act.size - 1]]
    s = np.maximum(first - margin, 0)
    e = np.minimum(last + Lp + margin, n)
    keep = np.ones(s.size, dtype=bool)
    keep[1:] = s[1:] > np.maximum.accumulate(e)[:-1]
    idx = np.flatnonzero(keep)
    return s[idx], np.maximum.reduceat(e, idx)


@pytest.mark.parametrize("rl", [0.03, 0.3, 1.0, 2.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_screen_runs_equal_a_plain_scan(rl, dtype):
    """The screening's skip-ahead (a run followed from its last active coefficient, searched
    from the far end of the gap) == every coefficient computed, with blocks of the record
    (runs across block boundaries), thresholds at and around alpha and several margins."""
    y, alpha = _record(rl, 41, n=6000)
    y = y.astype(dtype)
    for thr in (0.5 * alpha, alpha, 2.0 * alpha):
        for margin in (0, 3, L + 2):
            want = _plain_screen(y, PULSE, thr, margin)
            for block in (257, 1000, 1 << 20):
                got = screen_runs(y, PULSE, thr, margin, block=block)
                np.testing.assert_array_equal(got[0], want[0])
                np.testing.assert_array_equal(got[1], want[1])
            assert want[0].size > 0


def _pulses_at(n, where, amp=100.0):
    """Noise-free record of ``n`` samples with pulses of amplitude ``amp`` starting at
    ``where`` (truncated at the record's end)."""
    y = np.zeros(n)
    for t in where:
        k = min(L, n - t)
        y[t:t + k] += amp * PULSE[:k]
    return y


def _check_screen(y, thr, margins=(0, 3, L + 2), blocks=(7, 257, 1 << 20)):
    """screen_runs == _plain_screen for several margins and blocks; returns the plain runs
    of the first margin."""
    out = None
    for margin in margins:
        want = _plain_screen(y, PULSE, thr, margin)
        for block in blocks:
            got = screen_runs(y, PULSE, thr, margin, block=block)
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
        if out is None:
            out = want
    return out


def test_screen_runs_edge_cases():
    """Deterministic records at the screening's edges == the plain scan: all-zero records
    (no run), records shorter than the gap ``L + 2 margin`` and than the pulse, and
    activity at both ends of the record (runs clipped to ``[0, n)``)."""
    thr = 0.5 * 100.0 * float(PULSE @ PULSE)
    for n in (1, L - 1, 3 * L, 1000):
        s, e = _check_screen(np.zeros(n), thr)
        assert s.size == 0 and e.size == 0
    # shorter than the gap (and than the pulse): one pulse in the middle, one at the start
    for n, where in [(L + 5, [2]), (L // 2, [0]), (2 * L + 4, [0, L])]:
        s, e = _check_screen(_pulses_at(n, where), thr)
        assert s.size == 1 and s[0] == 0 and e[0] == n
    # activity at both ends of a long record: a pulse at sample 0, one truncated at the end
    # (PULSE[0] is 0: the last two samples are the shortest active tail)
    n = 40 * L
    for tail in (n - 2, n - 3, n - L // 2, n - L):
        y = _pulses_at(n, [0, 17 * L]) + _pulses_at(n, [tail], amp=1e4)
        s, e = _check_screen(y, 0.2 * thr)
        assert s[0] == 0 and e[-1] == n
        s, e = _check_screen(y.astype(np.float32), 0.2 * thr)
        assert s[0] == 0 and e[-1] == n


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_screen_runs_with_nan_samples_equal_a_plain_scan(dtype):
    """NaN samples (in quiet stretches, inside pulses, at both ends): screen_runs == the
    plain scan, whose ``c`` is NaN (not active) over every window holding a NaN and whose
    ``y > pre`` test is false at a NaN."""
    y, alpha = _record(1.0, 43, n=4000)
    quiet = _pulses_at(4000, [500, 2500])
    for rec in (y, quiet):
        rec = rec.astype(dtype)
        for where in ([0], [rec.size - 1], [100, 101, 2501], np.arange(600, 4000, 97)):
            r = rec.copy()
            r[where] = np.nan
            for thr in (alpha, 0.2 * 100.0 * float(PULSE @ PULSE)):
                _check_screen(r, thr)
