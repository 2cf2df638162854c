"""Loops of the sparse detector rearranged for speed, against plain references, bit for bit.

* ``_leader_clusters`` (dictionary learning) accumulates the correlations of a
  beat with all cluster means at all shifts in a vectorizable loop order; the
  reference is the plain loop (shift by shift, one dot product per cluster).
* ``_seed_coef`` (matched filter) negates the correlation of an atom instead of
  computing that of its opposite-polarity twin; the reference correlates
  every atom.
* ``_r_aligned`` finds the activations with a compiled non-zero scan.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from sparse_events.ecg._dictionary import _FEW_CLUSTERS, _leader_clusters
from sparse_events.ecg._sparse_detector import (_front_end, _Kernels, _named_dictionary,
                                                _r_aligned, _seed_coef)


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
        corr = np.stack([np.correlate(ypad, h, mode="valid") for h in kernels])
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
