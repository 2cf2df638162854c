"""Final step and bookkeeping of Algorithm 1 against independent references, bit for bit.

``segment_passes_cols`` and ``merge_pairs_cols`` take the column data of every
coefficient (kernel, rows, norm) formed once (the polish: once for all its rounds;
here through ``segment_passes_marked`` / ``merge_pairs_marked`` of the reference
module, which form it at every call) and sum the window over
the listed times; the references in ``_cross_products_reference`` compute
every term from scratch at every visit, over the whole window
(``coordinate_passes`` group by group for the passes, ``merge_move`` both ways
for the merges), and must give exactly the same moves, for the three modes,
one and several kernels and random marks.  Algorithm 1 reuses thread-local
buffers for its dense temporaries, passes the residual, magnitudes and cost
it already has to the polish, and evaluates the surrogate from the weights it
formed for the solve: none of this may change a bit.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from _cross_products_reference import (DenseCrossProductsProblem, coordinate_passes,
                                      merge_pairs_both_ways, merge_pairs_marked,
                                      segment_passes_marked)
from sparse_events import cross_products_deconvolve, refractory_window
from sparse_events.models import _cross_products_algorithm as alg
from sparse_events.models._cross_products_algorithm import (CrossProductsProblem, SparseCoef,
                                                             _compact)
from sparse_events.models._cross_products_kernels import (column_data, merge_pairs_cols,
                                                           segment_passes_cols)
from sparse_events.models._cross_products_ops import SparseProducts
from sparse_events.operators import DictionaryOperator
from sparse_events.solvers import _cd as cd_module
from sparse_events.solvers._designs import BandedDesign


def _thresholds_pool_buffer():
    """This thread's pooled thresholds buffer of Algorithm 1 (in the solver's pool)."""
    return cd_module._scratch_pool.bufs["cross_products_thresholds"]


def _problem(rng, P, mode, positive, N=150, n_events=45):
    """Clusters of close events (many interacting pairs), on all kernels, some at the edges."""
    K = rng.standard_normal((P, 9))
    g = np.array([0.3, 2.0, 2.0, 1.5, 1.0, 0.5])
    s = np.zeros(P * N)
    centres = np.concatenate([[1, N - 2], rng.choice(np.arange(4, N - 4), n_events // 3 - 2,
                                                     replace=False)])
    for c in centres:
        for _ in range(3):
            p, t = rng.integers(P), int(np.clip(c + rng.integers(-3, 4), 0, N - 1))
            s[p * N + t] = rng.uniform(0.05, 2.0)
    if not positive:
        s *= rng.choice([-1.0, 1.0], s.size)
    design = BandedDesign(DictionaryOperator(K, N, mode))
    ops = SparseProducts(design, g)
    y = ops.matvec(s) + 0.3 * rng.standard_normal(design.n_rows)
    prob = DenseCrossProductsProblem(ops, y, beta=2.0)
    return prob, s


def _kernel_args(prob, s):
    """``(x, r, a, order, times)`` and the shared arguments, as ``_polish_support`` forms them."""
    x = s.copy()
    r = prob.residual(x)
    a = np.ascontiguousarray(prob.ops.magnitudes(x), dtype=np.float64)
    support = np.flatnonzero(x)
    times = support % prob.N
    perm = np.argsort(times, kind="stable")
    order = np.ascontiguousarray(support[perm], dtype=np.int64)
    times = np.ascontiguousarray(times[perm], dtype=np.int64)
    ops, design = prob.ops, prob.ops.design
    args = (ops.kernels, design.cumsq, prob.N, design.shift, ops.window, float(prob.beta))
    return x, r, a, order, times, args


def _same(u, v):
    return np.asarray(u).tobytes() == np.asarray(v).tobytes()


def _groups(times, interaction):
    """Indices (into ``order``) of every group of interacting coefficients, by ``np.split``."""
    return np.split(np.arange(times.size), np.flatnonzero(np.diff(times) > interaction) + 1)


@pytest.mark.parametrize("mode", ["causal", "full", "same"])
@pytest.mark.parametrize("P", [1, 3])
@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("rtol,max_passes", [(1e-4, 5), (1e-12, 200), (0.0, 1)])
def test_segment_passes_equal_coordinate_passes_per_marked_group(rng, mode, P, positive, rtol,
                                                                  max_passes):
    """``segment_passes_marked`` == ``coordinate_passes`` (every term from scratch, the
    whole window) run on every group holding a marked coefficient, the other groups
    untouched: every array, the returned sums, counts and largest number of passes, and
    the marks (a group stays marked exactly when its last pass still moved)."""
    n_groups_run = 0
    for trial in range(3):
        prob, s = _problem(rng, P, mode, positive)
        x, r, a, order, times, args = _kernel_args(prob, s)
        interaction = int(prob.ops.interaction)
        marked = (rng.random(order.size) < 0.3) if trial else np.ones(order.size, dtype=bool)
        xr, rr, ar, want_marked = x.copy(), r.copy(), a.copy(), marked.copy()
        got = segment_passes_marked(x, r, a, order, times, interaction, *args, positive, rtol,
                                    max_passes, marked)
        total, n_zeroed, most = 0.0, 0, 0
        groups = _groups(times, interaction)
        assert len(groups) > 1
        for grp in groups:
            if not want_marked[grp].any():
                continue
            d, z, passes, moving = coordinate_passes(xr, rr, ar, order[grp], *args, positive,
                                                     rtol, max_passes)
            want_marked[grp] = moving
            total += d
            n_zeroed += z
            most = max(most, passes)
            n_groups_run += 1
        assert got[0] == total and got[1] == n_zeroed and got[2] == most
        for u, v in zip((x, r, a, marked), (xr, rr, ar, want_marked)):
            assert _same(u, v)
        assert not np.array_equal(x, s)  # the passes moved something
    assert n_groups_run > 0


@pytest.mark.parametrize("mode", ["causal", "full", "same"])
@pytest.mark.parametrize("P", [1, 3])
@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("min_decrease", [0.0, 1e-3])
def test_merge_pairs_equal_merge_move_both_ways(rng, mode, P, positive, min_decrease):
    """``merge_pairs_marked`` == the pair loop with ``merge_move`` (every term from scratch)
    evaluated both ways for every pair: every array, the returned sum and count, and the
    marks set on both coefficients of every merge (random marks before)."""
    n_merged = 0
    for _ in range(4):
        prob, s = _problem(rng, P, mode, positive)
        x, r, a, order, times, args = _kernel_args(prob, s)
        marked = rng.random(order.size) < 0.2
        ref = [x.copy(), r.copy(), a.copy(), marked.copy()]
        got = merge_pairs_marked(x, r, a, order, times, *args, positive, min_decrease, marked)
        want = merge_pairs_both_ways(ref[0], ref[1], ref[2], order, times,
                                     args + (bool(positive),), min_decrease, ref[3])
        assert got[0] == want[0] and got[1] == want[1]
        for u, v in zip((x, r, a, marked), ref):
            assert _same(u, v)
        n_merged += got[1]
    assert n_merged > 0  # merges were applied, not only evaluated


@pytest.mark.parametrize("mode", ["causal", "same"])
@pytest.mark.parametrize("P", [1, 3])
@pytest.mark.parametrize("positive", [False, True])
def test_column_data_formed_once_equals_formed_per_call(rng, mode, P, positive):
    """The rounds of the polish form the column data of ``order`` once
    (``column_data``, then ``segment_passes_cols`` / ``merge_pairs_cols``): after
    alternating rounds of passes and merges, every array, return value and mark is the
    same as with ``segment_passes_marked`` / ``merge_pairs_marked``, which form it at
    every call."""
    prob, s = _problem(rng, P, mode, positive)
    x, r, a, order, times, args = _kernel_args(prob, s)
    kernels, cumsq, n_samples, shift, window, beta = args
    interaction = int(prob.ops.interaction)
    xr, rr, ar = x.copy(), r.copy(), a.copy()
    marked = np.ones(order.size, dtype=bool)
    marked_r = marked.copy()
    cols = column_data(order, kernels, cumsq, n_samples, shift, r.size, window, beta)
    n_merged = 0
    for _ in range(4):
        # (merges first: from the unpolished s, many pairs merge)
        got = merge_pairs_cols(x, r, a, order, times, cols, kernels, n_samples, window, beta,
                               positive, 0.0, marked)
        want = merge_pairs_marked(xr, rr, ar, order, times, *args, positive, 0.0, marked_r)
        assert got == want
        n_merged += got[1]
        got = segment_passes_cols(x, r, a, order, times, interaction, cols, kernels, n_samples,
                                  window, beta, positive, 1e-4, 3, marked)
        want = segment_passes_marked(xr, rr, ar, order, times, interaction, *args, positive,
                                     1e-4, 3, marked_r)
        assert got == want
        for u, v in zip((x, r, a, marked), (xr, rr, ar, marked_r)):
            assert _same(u, v)
    assert n_merged > 0 and not np.array_equal(x, s)


@pytest.mark.parametrize("P", [1, 3])
@pytest.mark.parametrize("positive", [False, True])
def test_polish_support_with_known_residual_equals_polish_inplace(rng, P, positive):
    """``_polish_support`` given the residual, magnitudes and cost (as Algorithm 1 passes
    them) moves exactly as ``_polish_inplace`` computing them itself."""
    prob, s = _problem(rng, P, "causal", positive)
    c = _compact(s)
    r = prob.residual_sparse(c)
    a = prob._abs_dense(c)
    cost = prob.cost_of_magnitudes(a, r)
    x1, x2 = s.copy(), s.copy()
    d1 = prob._polish_inplace(x1, positive, max_passes=5, rtol=1e-4)
    d2 = prob._polish_support(x2, c, positive, max_passes=5, rtol=1e-4, r=r, a=a, cost=cost)
    assert d1 == d2 and _same(x1, x2)
    assert not np.array_equal(x1, s)


@pytest.mark.parametrize("P", [1, 3])
def test_surrogate_from_weights_equals_surrogate_sparse(rng, P):
    """``surrogate_gamma`` with ``_gamma(_abs_dense(w))`` equals ``surrogate_sparse`` at
    ``w`` (and with None, all ones), for sparse and for dense ``w`` (the FFT branch of
    ``G a``)."""
    for density in (0.05, 0.9):
        prob, _ = _problem(rng, P, "causal", False)
        n = prob.P * prob.N
        c = _compact(np.where(rng.random(n) < 0.1, rng.standard_normal(n), 0.0))
        w = _compact(np.where(rng.random(n) < density, rng.standard_normal(n), 0.0))
        r = prob.residual_sparse(c)
        gam = prob._gamma(prob._abs_dense(w))
        assert prob.surrogate_gamma(c, r, gam) == prob.surrogate_sparse(c, r, w)
        assert prob.surrogate_gamma(c, r, None) == prob.surrogate_sparse(c, r, None)


def _deconvolve(rng, N, P):
    K = np.abs(rng.standard_normal((P, 12)))
    s = np.zeros((P, N))
    for t in rng.choice(N - 20, N // 40, replace=False):
        s[rng.integers(P), t] = rng.uniform(1.0, 3.0)
    y = DictionaryOperator(K, N, "causal").matvec(s.ravel()) + 0.1 * rng.standard_normal(N)
    a0 = np.abs(s).sum(axis=0)
    return y, K, a0


def _run(y, K, a0):
    return cross_products_deconvolve(y, K, beta=5.0, g=refractory_window(8, 2.0),
                                     positive=True, tol=1e-3, max_reweights=4,
                                     magnitudes0=a0, check_kkt=False, polish_max_passes=5,
                                     polish_rtol=1e-4)


def test_reused_buffers_leave_no_trace(rng):
    """The thread-local buffers of Algorithm 1 are zero again after a call, results do
    not depend on what ran before (other sizes, other threads), and they equal those
    with fresh arrays for every temporary."""
    problems = [_deconvolve(rng, N, P) for N, P in ((3000, 3), (1200, 1), (2500, 2))]
    first = [_run(*p).coef for p in problems]
    assert not np.any(alg._scratch.zeros)
    again = [_run(*p).coef for p in problems[::-1]][::-1]
    assert all(_same(u, v) for u, v in zip(first, again))
    # another thread (its own buffers)
    out = {}
    th = threading.Thread(target=lambda: out.update(c=_run(*problems[0]).coef))
    th.start()
    th.join()
    assert _same(out["c"], first[0])
    # no reuse at all: every temporary a fresh array
    old = alg._SCRATCH_MAX
    alg._SCRATCH_MAX = 0
    try:
        fresh = [_run(*p).coef for p in problems]
    finally:
        alg._SCRATCH_MAX = old
    assert all(_same(u, v) for u, v in zip(first, fresh))
    assert any(np.any(c) for c in first)


def test_dense_scratch_is_zeroed_after_an_exception():
    """An exception inside the ``with`` leaves the buffer zero (the caller's writes at
    the support are undone too)."""
    c = SparseCoef(np.array([3, 7], dtype=np.int64), np.array([1.5, -2.0]))
    with pytest.raises(RuntimeError):
        with alg._dense_scratch(20, c) as x:
            np.testing.assert_array_equal(np.flatnonzero(x), [3, 7])
            x[7] = 5.0
            raise RuntimeError
    assert not np.any(alg._scratch.zeros)
    # a nested use gets its own array
    d = SparseCoef(np.array([3], dtype=np.int64), np.array([9.0]))
    with alg._dense_scratch(20, c) as x:
        with alg._dense_scratch(20, d) as z:
            assert z is not x and z.base is not x.base
            np.testing.assert_array_equal(np.flatnonzero(z), [3])
        np.testing.assert_array_equal(x[[3, 7]], [1.5, -2.0])
    assert not np.any(alg._scratch.zeros)


def _algorithm_cases(rng, n_cases):
    """Random deconvolutions with 1 to 3 kernels, step sizes below 1 (small ``min_step``,
    many reweights), with and without the final step, ``magnitudes0`` and ``positive``."""
    for k in range(n_cases):
        P = 1 + k % 3
        positive = bool(k % 2)
        N = int(rng.integers(150, 400))
        K = rng.standard_normal((P, int(rng.integers(5, 14))))
        if positive:
            K = np.abs(K)
        s = np.zeros((P, N))
        for t in rng.choice(N - 15, N // 20, replace=False):
            s[rng.integers(P), t] = rng.uniform(0.5, 3.0) * (1.0 if positive
                                                             else rng.choice([-1.0, 1.0]))
        y = DictionaryOperator(K, N, "causal").matvec(s.ravel()) + 0.2 * rng.standard_normal(N)
        g = refractory_window(int(rng.integers(3, 12)), float(rng.choice([0.5, 2.0])))
        a0 = np.abs(s).sum(axis=0) if k % 4 == 1 else None
        yield dict(y=y, kernel=K, beta=float(rng.choice([0.3, 2.0, 8.0])), g=g,
                   positive=positive, tol=1e-5, max_reweights=int(rng.integers(3, 12)),
                   magnitudes0=a0, final_step=(k % 5) != 4, check_kkt=False,
                   min_step=1e-4, polish_max_passes=int(rng.choice([5, 200])),
                   polish_rtol=float(rng.choice([1e-4, 1e-12])))


@pytest.mark.filterwarnings("ignore:cross_products_deconvolve did not converge")
def test_residual_magnitudes_cost_given_to_the_polish_are_exact(rng, monkeypatch):
    """Whenever Algorithm 1 hands the polish its residual, magnitudes and cost (instead of
    letting it compute them), they are bit for bit those computed from scratch from the
    polished iterate.  The cases take both branches: given (after a full step, final
    step not changing ``s``) and not given (an accepted step below 1, or a final step
    that changed ``s``), with several kernels."""
    seen = {"given": 0, "not_given": 0}
    orig = CrossProductsProblem._polish_support

    def checked(self, x, c, positive, max_rounds=50, max_passes=200, rtol=1e-12, r=None,
                a=None, cost=None):
        assert np.array_equal(np.flatnonzero(x), c.idx) and _same(x[c.idx], c.val)
        if r is None:
            assert a is None and cost is None
            seen["not_given"] += 1
        else:
            r_ref = self.residual_sparse(c)
            a_ref = np.ascontiguousarray(self._abs_dense(c), dtype=np.float64)
            assert _same(r, r_ref)
            assert _same(a, a_ref) and a.flags.writeable
            assert cost == self.cost_of_magnitudes(a_ref, r_ref)
            seen["given"] += 1
        return orig(self, x, c, positive, max_rounds, max_passes, rtol, r=r, a=a, cost=cost)

    monkeypatch.setattr(CrossProductsProblem, "_polish_support", checked)
    kinds = set()
    for kw in _algorithm_cases(rng, 36):
        before = dict(seen)
        res = cross_products_deconvolve(**kw)
        if seen == before:
            continue  # no polish (no final step, or nothing to polish)
        branch = "given" if seen["given"] > before["given"] else "not_given"
        n_bare = res.n_outer  # the iterations before the final step
        acc = res.accepted[:n_bare]
        below_1 = bool(acc.any() and res.step_size_history[:n_bare][acc][-1] < 1.0)
        # final step applied before the polish: a longer history, or the polish changed s
        kinds.add((branch, below_1, kw["kernel"].shape[0] > 1))
    assert seen["given"] > 0 and seen["not_given"] > 0
    # the last accepted step below 1 (residual blended, not exact: not given) and
    # several kernels in both branches
    assert ("not_given", True, True) in kinds or ("not_given", True, False) in kinds
    assert ("given", False, True) in kinds
    assert any(k[0] == "not_given" and k[2] for k in kinds)


@pytest.mark.filterwarnings("ignore:cross_products_deconvolve did not converge")
def test_warm_start_buffer_is_copied_never_written_nor_kept(rng, monkeypatch):
    """The zero buffer lent to ``coordinate_descent`` as warm start: the solver leaves it
    unchanged and returns a coefficient array that does not share memory with it; after
    a cross-products solve the buffer is all zero and no returned array shares memory
    with either thread-local buffer."""
    calls = []
    orig = alg.coordinate_descent

    def checked(datafit, penalty, x0, **kw):
        before = None if x0 is None else x0.copy()
        res = orig(datafit, penalty, x0, **kw)
        if x0 is not None:
            assert _same(x0, before)  # never written
            assert not np.shares_memory(res.coef, x0)  # copied, not kept
            calls.append(np.shares_memory(x0, alg._scratch.zeros))
        return res

    monkeypatch.setattr(alg, "coordinate_descent", checked)
    for kw in _algorithm_cases(rng, 6):
        res = cross_products_deconvolve(**kw)
        assert not np.any(alg._scratch.zeros)
        arrays = [v for v in vars(res).values() if isinstance(v, np.ndarray)]
        arrays += [v for v in res.extra.values() if isinstance(v, np.ndarray)]
        assert len(arrays) > 5
        for v in arrays:
            assert not np.shares_memory(v, alg._scratch.zeros)
            assert not np.shares_memory(v, _thresholds_pool_buffer())
    assert calls and all(calls)  # warm starts were lent from the buffer


def test_buffers_grow_beyond_their_first_size(rng):
    """A problem with ``P N`` above the initial 2^16 entries (and below ``_SCRATCH_MAX``)
    grows the thread's buffers; results equal those with fresh arrays, before and after
    the growth, and the buffer is zero again."""
    small = _deconvolve(rng, 1500, 2)
    big = _deconvolve(rng, 30000, 3)  # P N = 90 000 > 65 536
    assert 1 << 16 < 90000 <= alg._SCRATCH_MAX
    first_small = _run(*small).coef
    got_big = _run(*big).coef
    assert alg._scratch.zeros.size >= 90000 and _thresholds_pool_buffer().size >= 90000
    assert not np.any(alg._scratch.zeros)
    again_small = _run(*small).coef
    old, old_cd = alg._SCRATCH_MAX, cd_module._SCRATCH_MAX
    alg._SCRATCH_MAX = 0  # fresh zero vectors
    cd_module._SCRATCH_MAX = -1  # fresh thresholds (and solver scratch)
    try:
        fresh = [_run(*p).coef for p in (small, big)]
    finally:
        alg._SCRATCH_MAX, cd_module._SCRATCH_MAX = old, old_cd
    assert _same(first_small, fresh[0]) and _same(again_small, fresh[0])
    assert _same(got_big, fresh[1]) and np.any(got_big)
