"""Loops of the sparse detector rearranged for speed, against plain references, bit for bit.

* ``_leader_clusters`` (dictionary learning) accumulates the correlations of a
  beat with all cluster means at all shifts in a vectorizable loop order; the
  reference is the plain loop (shift by shift, one dot product per cluster).
* ``_seed_coef`` (matched filter) negates the correlation of an atom instead of
  computing that of its opposite-polarity twin; the reference correlates
  every atom.  Its correlation (``_correlate_valid``, compiled) sums every
  output over the taps in order: the reference is those in-order sums
  (``np.correlate`` agrees up to rounding).
* ``_r_aligned`` finds the activations with a compiled non-zero scan.
* ``_extra_beats_kernel`` (extra-beat test of the decision) keeps a sorted
  copy of its RR ring, updated by one removal and one insertion per
  interval, for the ring's median; the reference takes ``np.median`` of the
  ring at every beat.
* ``_activation_clusters`` (candidates of a chunk), ``_abs_slope`` (slope band) and
  ``_window_bounds`` (decision windows) replace numpy expressions, which are the
  references.
* ``_sparse_code_chunk`` (sparse coding of the chunks of a pass) calls Algorithm 1
  directly with products kept across the chunks; the reference is
  ``sparse_code`` (``cross_products_deconvolve``, fresh products per call).
* ``_rhythm_path`` (dynamic program of the rhythm pass) against the enumeration of
  every subset of the candidates; ``_local_rhythm`` against ``np.median`` over
  plainly merged intervals (its merging, ``_merged_rhythm``, is the extra-beat
  test's, checked above through ``_extra_beats_kernel`` too).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from sparse_events.ecg._dictionary import _FEW_CLUSTERS, _leader_clusters
from sparse_events.ecg._sparse_detector import (_RR_HIGH, _RR_LOW, _RR_REGULAR_MIN, _RR_RING,
                                                _correlate_valid, _extra_beats_kernel,
                                                _front_end, _Kernels, _local_rhythm,
                                                _named_dictionary, _PassProducts, _r_aligned,
                                                _rhythm_path, _seed_coef, _sparse_code_chunk,
                                                sparse_code)


def _reference_leader_clusters(w, lag, thr, max_clusters):
    """The leader pass written plainly (Python floats: the same IEEE operations)."""
    n_beats, width = w.shape
    core_len = width - 2 * lag
    sums = np.zeros((max_clusters, width))
    counts = np.zeros(max_clusters, dtype=np.int64)
    means = np.zeros((max_clusters, core_len))
    norms = np.ones(max_clusters)
    n_clusters = 0
    for b in range(n_beats):
        best, best_s, best_k = -np.inf, lag, -1
        for sh in range(2 * lag + 1):
            sl = 0.0
            for i in range(core_len):
                sl += w[b, sh + i] * w[b, sh + i]
            sl = np.sqrt(sl)
            for k in range(n_clusters):
                num = 0.0
                for i in range(core_len):
                    num += w[b, sh + i] * means[k, i]
                den = sl * norms[k]
                corr = num / (den if den > 1e-300 else 1e-300)
                if corr > best:
                    best, best_s, best_k = corr, sh, k
        if best_k >= 0 and best >= thr:
            k = best_k
            sums[k] += np.roll(w[b], lag - best_s)
            counts[k] += 1
        elif n_clusters < max_clusters:
            k = n_clusters
            n_clusters += 1
            sums[k] = w[b]
            counts[k] = 1
        else:
            continue
        acc = 0.0
        for i in range(core_len):
            means[k, i] = sums[k, lag + i] / counts[k]
            acc += means[k, i] * means[k, i]
        norms[k] = max(np.sqrt(acc), 1e-300)
    return sums, counts, n_clusters


@pytest.mark.parametrize("n_shapes,thr,max_clusters", [(2, 0.9, 64), (30, 0.97, 64),
                                                       (30, 0.97, 12)])
def test_leader_clusters_same_bits_as_plain_loops(n_shapes, thr, max_clusters):
    rng = np.random.default_rng(n_shapes)
    width, lag = 31, 3
    shapes = rng.standard_normal((n_shapes, width))
    w = shapes[rng.integers(n_shapes, size=150)] + 0.15 * rng.standard_normal((150, width))
    w = np.roll(w, 1, axis=1) if n_shapes == 2 else w
    got = _leader_clusters(np.ascontiguousarray(w), lag, thr, max_clusters)
    ref = _reference_leader_clusters(w, lag, thr, max_clusters)
    assert got[2] == ref[2]
    if n_shapes > 2:  # both loop orders (few and many clusters) are exercised
        assert ref[2] > _FEW_CLUSTERS
    np.testing.assert_array_equal(got[1], ref[1])
    np.testing.assert_array_equal(got[0], ref[0])


def _yn(rng, fs_red, n):
    sos = sps.butter(2, [5.0, 22.0], btype="bandpass", fs=fs_red, output="sos")
    y = sps.sosfiltfilt(sos, rng.standard_normal(n))
    for c in range(20, n - 40, 70):  # beats
        y[c:c + 9] += 3.0 * np.hanning(9)
    return y / np.abs(y).max() * 2.0


def _correlate_in_order(x, k):
    """``np.correlate(x, k, "valid")`` with every output summed over the taps in order,
    from 0.0 (the arithmetic of ``_correlate_valid``)."""
    n = x.size - k.size + 1
    acc = np.zeros(n)
    for q in range(k.size):
        acc += k[q] * x[q:q + n]
    return acc


@pytest.mark.parametrize("n,L", [(1, 1), (7, 3), (8, 5), (3001, 25), (100, 33)])
def test_correlate_valid_same_bits_as_in_order_sums(n, L):
    """The matched filter's compiled correlation (eight outputs at a time) sums every
    output over the taps in order: the same bits as the plain in-order sums, and
    ``np.correlate`` up to rounding."""
    rng = np.random.default_rng(n + L)
    x = rng.standard_normal(n + L - 1)
    k = rng.standard_normal(L)
    out = np.empty(n)
    _correlate_valid(x, k, out)
    np.testing.assert_array_equal(out, _correlate_in_order(x, k))
    np.testing.assert_allclose(out, np.correlate(x, k, mode="valid"), rtol=0, atol=1e-12)


def test_seed_coef_same_bits_as_every_correlation():
    rng = np.random.default_rng(6)
    fs = 360.0
    _, kern = _named_dictionary("personalized", fs)
    assert any(np.array_equal(kern.kernels[p], -kern.kernels[0])
               for p in range(1, kern.kernels.shape[0]))  # the polarity pairs are used
    yn = _yn(rng, _front_end(fs).fs_reduced, 3000)
    params = {"lasso_alpha": 0.1, "refractory_samples": 22}
    # with a dictionary without exact negatives (one atom perturbed) as well
    K2 = kern.kernels.copy()
    K2[1] *= 1.0 + 1e-12
    for kernels in (kern.kernels, K2):
        k = _Kernels(kernels, kern.r_offsets, kern.polarities)
        coef = _seed_coef(yn, k, params)
        L = kernels.shape[1]
        ypad = np.concatenate([yn, np.zeros(L - 1)])
        corr = np.stack([_correlate_in_order(ypad, h) for h in kernels])
        np.testing.assert_allclose(
            corr, np.stack([np.correlate(ypad, h, mode="valid") for h in kernels]),
            rtol=0, atol=1e-12)
        m = corr.max(axis=0)
        peaks, _ = sps.find_peaks(m, height=0.1, distance=22)
        ref = np.zeros_like(corr)
        ref[corr[:, peaks].argmax(axis=0), peaks] = m[peaks] - 0.1
        assert peaks.size > 10
        np.testing.assert_array_equal(coef, ref)
        times, mags = _r_aligned(coef, k)
        p, t = np.nonzero(ref)
        rt, inverse = np.unique(t + k.r_offsets[p], return_inverse=True)
        np.testing.assert_array_equal(times, rt)
        np.testing.assert_array_equal(mags, np.bincount(inverse, weights=ref[p, t]))


def test_sparse_code_chunk_same_bits_as_sparse_code():
    """Chunks of two lengths coded in turn with one ``_PassProducts`` (the products of
    the first chunk of a length serve the later ones): every result has the bits of
    :func:`sparse_code` of that chunk alone, for the starts of the detector's passes
    (cold, seeded or warm magnitudes; one, two or three solves; with and without the
    final step and the looser first solve)."""
    rng = np.random.default_rng(11)
    fs = 360.0
    _, kern = _named_dictionary("generic", fs)
    fsr = _front_end(fs).fs_reduced
    chunks = [_yn(rng, fsr, 1500), _yn(rng, fsr, 1500), _yn(rng, fsr, 1100),
              _yn(rng, fsr, 1500), _yn(rng, fsr, 1100)]
    configs = [dict(max_reweights=3, magnitudes0=None, inner_tol=None, final_step=True,
                    first_inner_tol=None),
               dict(max_reweights=1, magnitudes0="seed", inner_tol=1e-2, final_step=False,
                    first_inner_tol=None),
               dict(max_reweights=2, magnitudes0="seed", inner_tol=1e-2, final_step=True,
                    first_inner_tol=1e-1)]
    window = dict(refractory_samples=22, refractory_strength=2.0)
    products = _PassProducts(kern.kernels, **window)
    n_final = 0
    for k, y in enumerate(chunks):
        cfg = dict(configs[k % len(configs)], lasso_alpha=0.1, solver="cross_products")
        if cfg["magnitudes0"] == "seed":
            a0 = np.maximum(_seed_coef(y, kern, {"lasso_alpha": 0.1,
                                                 "refractory_samples": 22}).sum(axis=0), 0.0)
            cfg["magnitudes0"] = a0
        got, conv = _sparse_code_chunk(y, products, **cfg)
        ref, ref_conv = sparse_code(y, kern.kernels, **window, **cfg)
        assert got.shape == ref.shape == (kern.kernels.shape[0], y.size)
        assert np.count_nonzero(ref) > 10
        np.testing.assert_array_equal(got, ref)
        assert conv == ref_conv
        n_final += cfg["final_step"]
    assert n_final >= 2
    # one set of products per chunk length, whose lazy cache of the kernel cross-products
    # (Newton steps) was filled and then served the later chunks of that length
    assert sorted(products.by_length) == [1100, 1500]
    for ops in products.by_length.values():
        assert ops.design._cross is not None
    # solver="lasso" is sparse_code itself: it builds no products
    lasso = _PassProducts(kern.kernels, **window)
    _sparse_code_chunk(chunks[0], lasso, **dict(configs[0], lasso_alpha=0.1, solver="lasso"))
    assert not lasso.by_length


def test_pass_products_carry_their_kernels_and_window():
    """The kernels and window of a chunk's coding are those of its ``_PassProducts``:
    objects for other kernels (other values, or a copy of the same values) or another
    window give the bits of :func:`sparse_code` for those, which differ from the first
    object's where kernels or window differ; the first object is unaffected."""
    rng = np.random.default_rng(12)
    fs = 360.0
    _, kern = _named_dictionary("generic", fs)
    fsr = _front_end(fs).fs_reduced
    kernels_a = kern.kernels
    kernels_b = np.roll(kernels_a, 3, axis=1)[::-1].copy()  # same shape, other values
    assert kernels_b.shape == kernels_a.shape and not np.array_equal(kernels_b, kernels_a)
    y = _yn(rng, fsr, 1200)
    cfg = dict(lasso_alpha=0.1, solver="cross_products", max_reweights=2, magnitudes0=None,
               inner_tol=None, final_step=True, first_inner_tol=None)
    window = dict(refractory_samples=15, refractory_strength=1.0)
    products = _PassProducts(kernels_a, **window)
    ref_a, _ = sparse_code(y, kernels_a, **window, **cfg)
    got, _ = _sparse_code_chunk(y, products, **cfg)
    np.testing.assert_array_equal(got, ref_a)
    others = [(kernels_b, window), (kernels_a.copy(), window),
              (kernels_a, dict(refractory_samples=22, refractory_strength=1.0)),
              (kernels_a, dict(refractory_samples=15, refractory_strength=0.5))]
    for kernels, win in others:
        got, _ = _sparse_code_chunk(y, _PassProducts(kernels, **win), **cfg)
        ref, _ = sparse_code(y, kernels, **win, **cfg)
        assert np.count_nonzero(ref) > 10
        np.testing.assert_array_equal(got, ref)
        if not np.array_equal(kernels, kernels_a) or win != window:
            # products of kernels_a / window would have given other coefficients
            assert not np.array_equal(ref, ref_a)
    assert sorted(products.by_length) == [1200]
    got, _ = _sparse_code_chunk(y, products, **cfg)
    np.testing.assert_array_equal(got, ref_a)
    # magnitudes0: None or non-negative, one per sample
    for bad in (-np.ones(y.size), np.zeros(y.size - 1)):
        with pytest.raises(ValueError, match="magnitudes0"):
            _sparse_code_chunk(y, products, **{**cfg, "magnitudes0": bad})


def _reference_merge_split(vals, m0):
    """Split-pair merging in plain Python: a value below ``_RR_LOW m0`` whose sum with the
    next lies in ``[_RR_LOW m0, _RR_HIGH m0]`` is merged with it.  Returns the merged
    values and how many values each covers."""
    merged, cover, r = [], [], 0
    while r < len(vals):
        if (r + 1 < len(vals) and vals[r] < _RR_LOW * m0
                and _RR_LOW * m0 <= vals[r] + vals[r + 1] <= _RR_HIGH * m0):
            merged.append(vals[r] + vals[r + 1])
            cover.append(2)
            r += 2
        else:
            merged.append(vals[r])
            cover.append(1)
            r += 1
    return merged, cover


def _reference_merged_rhythm(vals, band):
    """Median of the split-pair-merged values (merging around their plain median) and how
    many of the original values the merged ones inside ``band`` times that median cover."""
    merged, cover = _reference_merge_split(vals, np.median(vals))
    med = np.median(merged)
    return med, sum(c for x, c in zip(merged, cover) if band[0] * med <= x <= band[1] * med)


def _reference_extra_beats(pos, score, noise_level, accepted, ratio):
    """``_extra_beats_kernel`` with the ring's median taken by ``np.median`` over the
    ring at every beat (plain Python)."""
    m = _RR_RING
    rr = np.zeros(m)
    kr = nrr = 0
    idx = np.flatnonzero(accepted)
    if idx.size < 3:
        return
    a = idx[0]
    for k in range(1, idx.size - 1):
        i, b = idx[k], idx[k + 1]
        if nrr >= _RR_REGULAR_MIN:
            start = kr if nrr == m else 0
            known = np.array([rr[(start + r) % m] for r in range(nrr)])
            med_rr, regular = _reference_merged_rhythm(known, (_RR_LOW, _RR_HIGH))
            nb = min(score[a], score[b])
            level = noise_level[i] + ratio * (nb - noise_level[i])
            if (regular >= _RR_REGULAR_MIN and pos[b] - pos[a] < _RR_HIGH * med_rr
                    and score[i] < level):
                accepted[i] = False
            else:
                a = i
        else:
            a = i
        rr[kr] = pos[i] - pos[idx[k - 1]]
        kr = (kr + 1) % m
        nrr = min(nrr + 1, m)


def _beat_sequence(rng, n_beats, rate_change):
    """Beat positions on a coarse RR grid (many tied intervals), with extra detections
    splitting some intervals, and optionally a change of rate; scores, noise levels and
    a pre-decision ``accepted`` mask with a few rejected candidates."""
    base = 300 if not rate_change else 160
    pos, score = [0], [1.0]
    for k in range(n_beats):
        rr = int(rng.choice([-20, -10, 0, 0, 0, 10, 20])) + base
        if rate_change and k == n_beats // 2:
            base = 300
        if rng.random() < 0.2:  # an extra detection splits the interval
            cut = int(rng.choice([0.3, 0.5, 0.5, 0.7]) * rr)
            pos.append(pos[-1] + cut)
            score.append(float(rng.choice([0.1, 0.3, 0.6, 0.9])))
            pos.append(pos[-2] + rr)
        else:
            pos.append(pos[-1] + rr)
        score.append(float(rng.choice([0.8, 0.9, 1.0])))
    pos = np.asarray(pos, dtype=np.int64)
    score = np.asarray(score)
    noise = rng.choice([0.05, 0.1, 0.2], size=pos.size)
    accepted = rng.random(pos.size) > 0.05
    return pos, score, noise, accepted


@pytest.mark.parametrize("seed", range(12))
def test_extra_beats_sorted_ring_same_as_median_of_the_ring(seed):
    """The sorted RR ring gives the decisions of ``np.median`` over the ring, on
    sequences with tied intervals, a ring that fills (odd and even counts from
    ``_RR_REGULAR_MIN`` to ``_RR_RING``) and wraps many times, and removals."""
    rng = np.random.default_rng(seed)
    n_beats = int(rng.integers(_RR_REGULAR_MIN + 2, 8 * _RR_RING))
    pos, score, noise, accepted = _beat_sequence(rng, n_beats, rate_change=seed % 3 == 0)
    assert np.unique(np.diff(pos)).size < np.diff(pos).size  # ties
    ratio = 0.85
    got = accepted.copy()
    _extra_beats_kernel(pos, score, noise, got, 360.0, ratio)
    ref = accepted.copy()
    _reference_extra_beats(pos, score, noise, ref, ratio)
    np.testing.assert_array_equal(got, ref)


def test_extra_beats_reference_sequences_exercise_the_ring():
    """The sequences of the test above remove beats and let the ring wrap (so the
    comparison covers removals from the sorted copy), and keep some split beats."""
    removed = kept_split = wrapped = 0
    for seed in range(12):
        rng = np.random.default_rng(seed)
        n_beats = int(rng.integers(_RR_REGULAR_MIN + 2, 8 * _RR_RING))
        pos, score, noise, accepted = _beat_sequence(rng, n_beats, rate_change=seed % 3 == 0)
        ref = accepted.copy()
        _reference_extra_beats(pos, score, noise, ref, 0.85)
        removed += int(np.sum(accepted & ~ref))
        kept_split += int(np.sum(ref & (score < 0.7)))
        wrapped += int(accepted.sum() > _RR_RING + 2)
    assert removed > 20 and kept_split > 0 and wrapped > 5


def _reference_activation_clusters(coef, merge):
    """The numpy formulation that ``_activation_clusters`` replaced (candidates of a chunk)."""
    act = coef.sum(axis=0)
    t = np.flatnonzero(act > 0)
    if t.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
    breaks = np.flatnonzero(np.diff(t) > merge) + 1
    starts = np.concatenate([[0], breaks])
    stops = np.concatenate([breaks, [t.size]])
    strength = np.add.reduceat(act[t], starts)
    best_val = coef[:, t].max(axis=0)
    best_atom = coef[:, t].argmax(axis=0)
    cluster = np.repeat(np.arange(starts.size), stops - starts)
    at_max = np.flatnonzero(best_val == np.maximum.reduceat(best_val, starts)[cluster])
    main = at_max[np.unique(cluster[at_max], return_index=True)[1]]
    return t[main], best_atom[main], strength


@pytest.mark.parametrize("n_atoms", [1, 2, 6])
def test_activation_clusters_same_bits_as_numpy(n_atoms):
    """Clusters of a chunk's activations (compiled scan) against the numpy expressions
    they replaced, bit for bit: clusters of 1 to 300 positive times (numpy's pairwise
    summation: in order below 8 terms, eight partial sums up to 128, halves beyond, the
    latter left to numpy), ties between atoms and times (the first maximum), a cluster
    at either end, gaps exactly at the merge distance."""
    from sparse_events.ecg._sparse_detector import _activation_clusters

    rng = np.random.default_rng(n_atoms)
    merge = 9
    n = 20000
    coef = np.zeros((n_atoms, n))
    t = 0
    while t < n:
        size = int(rng.choice([1, 2, 7, 8, 9, 15, 16, 17, 60, 128, 129, 130, 300]))
        times = t + np.cumsum(rng.integers(1, merge + 1, size)) - 1
        times = times[times < n]
        for tt in times:
            k = rng.integers(1, n_atoms + 1)
            coef[rng.choice(n_atoms, k, replace=False), tt] = np.round(rng.random(k), 2)
        t = (times[-1] if times.size else t) + merge + 1 + int(rng.integers(0, 30))
    # a cluster starting at the first sample whose maximum (2.0 > every drawn value) is
    # tied between its last two atoms: the first of them, not atom 0 nor the last one
    coef[:, 0] = 0.0
    coef[-2:, 0] = 2.0
    # and a one-time cluster at the last sample, all atoms tied: atom 0
    coef[:, -merge - 1:] = 0.0
    coef[:, -1] = 0.5
    got = _activation_clusters(coef, merge)
    ref = _reference_activation_clusters(coef, merge)
    assert ref[0].size > 20 and np.diff(ref[0]).min() > 0
    assert ref[0][0] == 0 and ref[1][0] == max(n_atoms - 2, 0)
    assert ref[0][-1] == n - 1 and ref[1][-1] == 0
    for g, r in zip(got, ref):
        assert g.dtype == r.dtype
        np.testing.assert_array_equal(g, r)
    # the generator reaches every summation path: below 8 terms, eight partial sums
    # (clusters of 9 to 129 positive times: the first term plus up to 128), and numpy's
    # own sum beyond 129 times
    pos = np.flatnonzero(coef.sum(axis=0) > 0)
    sizes = np.diff(np.concatenate([[0], np.flatnonzero(np.diff(pos) > merge) + 1,
                                    [pos.size]]))
    assert sizes.min() == 1 and np.any(sizes < 8)
    assert np.any((sizes >= 9) & (sizes <= 129)) and np.any(sizes > 129)
    empty = _activation_clusters(np.zeros((n_atoms, 50)), merge)
    assert all(e.size == 0 for e in empty)


def test_activation_clusters_tied_atoms_and_times():
    """The first atom and the first time among ties (``np.argmax``), on tiny cases."""
    from sparse_events.ecg._sparse_detector import _activation_clusters

    times, atoms, strength = _activation_clusters(np.array([[0.0, 1.0, 0.0],
                                                            [0.0, 1.0, 0.0]]), 1)
    np.testing.assert_array_equal(times, [1])
    np.testing.assert_array_equal(atoms, [0])
    np.testing.assert_array_equal(strength, [2.0])
    # tied atoms 1 and 2 at tied times 0 and 2 of one cluster: time 0, atom 1
    coef = np.array([[0.5, 0.0, 0.5], [1.0, 0.0, 1.0], [1.0, 0.0, 1.0]])
    times, atoms, strength = _activation_clusters(coef, 2)
    np.testing.assert_array_equal(times, [0])
    np.testing.assert_array_equal(atoms, [1])
    np.testing.assert_array_equal(strength, [np.add.reduceat(coef.sum(axis=0)[[0, 2]],
                                                             [0])[0]])


def test_abs_slope_same_bits_as_numpy():
    """The slope band's absolute derivative (one compiled pass) against the numpy
    expression it replaced."""
    from sparse_events.ecg._sparse_detector import _abs_slope

    rng = np.random.default_rng(4)
    for y in (rng.standard_normal(1001), np.array([-0.0]), np.array([2.5, -1.0])):
        np.testing.assert_array_equal(_abs_slope(y, 360.0), np.abs(np.diff(y, prepend=0.0))
                                      * 360.0)


def test_window_bounds_same_as_searchsorted():
    """The decision's window bounds (one compiled sweep) against ``np.searchsorted`` of
    the shifted positions (float64 comparisons), with repeated positions and positions
    exactly one half-width apart."""
    from sparse_events.ecg._sparse_detector import _window_bounds

    rng = np.random.default_rng(5)
    pos = np.sort(np.concatenate([rng.integers(0, 5000, 300), [10, 10, 100, 190, 280]]))
    for w1, w2 in ((90.0, 129.6), (0.5, 1.0), (90.0, 90.0)):
        got = _window_bounds(pos.astype(np.int64), w1, w2)
        ref = (np.searchsorted(pos, pos - w1, side="right"),
               np.searchsorted(pos, pos + w1, side="left"),
               np.searchsorted(pos, pos - w2, side="right"),
               np.searchsorted(pos, pos + w2, side="left"))
        for g, r in zip(got, ref):
            np.testing.assert_array_equal(g, r)
    assert all(g.size == 0 for g in _window_bounds(np.zeros(0, dtype=np.int64), 1.0, 2.0))


def _reference_window_scan(a, centres, half, pol=None):
    """Plain-Python scans of the clipped windows ``a[min(lo + k, n - 1)]``, ``k = 0 ..
    2 half``, ``lo`` clipped to ``a``, strictly greater values only (the first maximum; a
    NaN never wins): the index of the maximum of ``pol * a`` (``pol`` given) or the
    maximum of ``a`` starting from the window's first value."""
    n = a.size
    out = []
    for j, c in enumerate(centres):
        lo = min(max(int(c) - half, 0), n - 1)
        vals = [a[min(lo + k, n - 1)] * (1 if pol is None else pol[j])
                for k in range(2 * half + 1)]
        if pol is None:
            m = vals[0]
            for v in vals[1:]:
                if v > m:
                    m = v
            out.append(m)
        else:
            best, arg = -np.inf, 0
            for k, v in enumerate(vals):
                if v > best:
                    best, arg = v, k
            out.append(lo + arg)
    return np.array(out, dtype=np.float64 if pol is None else np.int64)


def test_refine_and_window_max_clipped_windows_nan_and_empty():
    """R refinement and window maxima (one loop stopping at the array's end) against the
    clipped-window scans they replaced: windows over either end or wholly past the end,
    the maximum or a tie at the last sample, NaNs and infinities; empty inputs."""
    from sparse_events.ecg._sparse_detector import _refine, _window_max

    rng = np.random.default_rng(11)
    for n in (1, 2, 7, 60):
        for case in range(6):
            a = np.round(rng.standard_normal(n), 1)
            if case == 1:
                a[-1] = np.max(a)  # the maximum (and a tie) at the last sample
            elif case == 2:
                a[rng.integers(0, n, max(1, n // 5))] = np.nan
            elif case == 3:
                a[-1] = np.nan
                a[0] = np.nan
            elif case == 4:
                a[rng.integers(0, n, 2)] = [np.inf, -np.inf]
            elif case == 5:
                a[:] = -np.inf
            for half in (0, 1, 4, 20):
                centres = np.concatenate([rng.integers(-25, n + 25, 40),
                                          [0, n - 1, n - 1 - half, n - half, n + 3]])
                pol = rng.choice([-1, 1], centres.size)
                np.testing.assert_array_equal(_refine(a, centres, pol, half),
                                              _reference_window_scan(a, centres, half, pol))
                got = _window_max(a, centres, half)
                ref = _reference_window_scan(a, centres, half)
                np.testing.assert_array_equal(got.view(np.int64), ref.view(np.int64))
    none = np.zeros(0, dtype=np.int64)
    assert _refine(np.ones(5), none, none, 3).size == 0
    assert _window_max(np.zeros(0), none, 3).size == 0
    with pytest.raises(ValueError):
        _refine(np.zeros(0), np.array([0]), np.array([1]), 3)
    with pytest.raises(ValueError):
        _window_max(np.zeros(0), np.array([0]), 3)


# --------------------------------------------------------------------------- rhythm pass


def _path_value(pos, evidence, rr_at, path, a, b, refr, penalty, slack, max_gap):
    """Objective of the rhythm pass for the beats ``path`` (candidate indices in time
    order) between the anchors ``a`` and ``b`` (``-1``: free end); ``-inf`` when an
    interval breaks the limits."""
    nodes = ([a] if a >= 0 else []) + list(path) + ([b] if b >= 0 else [])
    value = float(sum(evidence[j] for j in path))
    for s, t in zip(nodes[:-1], nodes[1:]):
        d = pos[t] - pos[s]
        if not refr <= d <= max_gap * rr_at[s]:
            return -np.inf
        value -= penalty * max(abs(np.log(d / rr_at[s])) - slack, 0.0)
    return value


def _zone_case(seed):
    """A small zone: up to 10 candidates between two anchors (indices 0 and n + 1, or
    free ends: -1), Gaussian evidence, local RR varying by candidate, penalty and
    longest interval drawn from a few values."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 11))
    rr = float(rng.uniform(200, 320))
    span = rr * (n + 2) * rng.uniform(0.3, 1.2)
    pos = np.sort(rng.choice(np.arange(1, int(span) + 2), size=n + 2,
                             replace=False)).astype(np.int64)
    evidence = rng.normal(0.0, 1.0, n + 2)
    rr_at = rr * rng.uniform(0.8, 1.25, n + 2)
    penalty = float(rng.choice([0.5, 3.0, 10.0]))
    max_gap = float(rng.choice([1.5, 3.0]))
    a = 0 if seed % 4 in (0, 1) else -1
    b = n + 1 if seed % 4 in (0, 2) else -1
    return pos, evidence, rr_at, penalty, max_gap, a, b


@pytest.mark.parametrize("seed", range(40))
def test_rhythm_path_is_the_best_of_all_subsets(seed):
    """The dynamic program's path has the largest objective among all subsets of the
    zone's candidates (enumerated), with fixed or free ends, local RR varying along the
    zone, and zones without any feasible path (then ``ok`` is False)."""
    from itertools import combinations

    pos, evidence, rr_at, penalty, max_gap, a, b = _zone_case(seed)
    n = pos.size - 2
    refr, slack = 90.0, 0.05
    lo, hi = 1, n + 1
    cand = range(lo, hi)
    best = -np.inf
    for k in range(n + 1):
        for sub in combinations(cand, k):
            best = max(best, _path_value(pos, evidence, rr_at, sub, a, b, refr, penalty,
                                         slack, max_gap))
    chosen, ok = _rhythm_path(pos, evidence, rr_at, lo, hi, a, b, refr, penalty, slack,
                              max_gap)
    assert ok == np.isfinite(best)
    if ok:
        path = list(lo + np.flatnonzero(chosen))
        np.testing.assert_allclose(
            _path_value(pos, evidence, rr_at, path, a, b, refr, penalty, slack, max_gap),
            best, rtol=1e-12, atol=1e-12)
    else:
        assert not chosen.any()


def test_rhythm_path_enumeration_covers_both_outcomes():
    """The cases above include zones without a feasible path and paths that skip
    positive-evidence candidates or take negative-evidence ones for the rhythm."""
    infeasible = skipped = taken = 0
    for seed in range(40):
        pos, evidence, rr_at, penalty, max_gap, a, b = _zone_case(seed)
        n = pos.size - 2
        chosen, ok = _rhythm_path(pos, evidence, rr_at, 1, n + 1, a, b, 90.0, penalty, 0.05,
                                  max_gap)
        infeasible += not ok
        if ok:
            e = evidence[1:n + 1]
            skipped += int((~chosen & (e > 0)).sum())
            taken += int((chosen & (e < 0)).sum())
    assert infeasible > 0 and skipped > 0 and taken > 0


def _reference_local_rhythm(pos, idx, need, half, band):
    """``_local_rhythm`` written plainly (lists, ``np.median``)."""
    nb = idx.size
    rr, reg = np.zeros(nb), np.zeros(nb)
    if nb < 3:
        return rr, reg
    iv = [float(pos[idx[k + 1]] - pos[idx[k]]) for k in range(nb - 1)]
    for k in range(nb):
        if not need[k]:
            continue
        w = iv[max(0, k - half):min(nb - 1, k + half)]
        rr[k], regular = _reference_merged_rhythm(w, band)
        reg[k] = regular / len(w)
    return rr, reg


@pytest.mark.parametrize("seed", range(8))
def test_local_rhythm_same_as_plain_reference(seed):
    """Local RR and regularity of the rhythm pass equal the plain computation, on beat
    sequences with split intervals and ties (``_beat_sequence``), windows clipped at
    both ends, and beats where they are not needed (zero)."""
    rng = np.random.default_rng(100 + seed)
    pos, _, _, accepted = _beat_sequence(rng, int(rng.integers(2, 150)), seed % 2 == 0)
    idx = np.flatnonzero(accepted)
    need = rng.random(idx.size) < 0.7
    half = int(rng.choice([2, 8, 32]))
    got = _local_rhythm(pos, idx, need, half, _RR_LOW, _RR_HIGH, 0.85, 1.15)
    ref = _reference_local_rhythm(pos, idx, need, half, (0.85, 1.15))
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
