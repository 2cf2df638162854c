"""numba inner loops of coordinate descent (compiled once, cached on disk).

Each design kind has three kernels working on a working set ``ws`` of flat
coefficient indices, with the residual ``r = y - A x`` kept up to date:

* ``epochs``: ``n_epochs`` cyclic passes of exact coordinate minimisation
  ``x_j <- prox(x_j + a_j^T r / ||a_j||^2, t_j / ||a_j||^2)``;
* ``violation``: the largest distance of ``a_j^T r`` to the subdifferential
  over ``ws`` (the inner stopping measure);
* ``apply_delta``: ``r -= A[:, ws] @ delta`` (used by Anderson extrapolation).

Banded designs (convolution dictionaries) touch only the ``L`` rows a
coordinate's kernel covers: an update costs ``O(L)`` whatever the signal length.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.cpython.unsafe.numbers import trailing_zeros
from numba.extending import intrinsic


@intrinsic
def _prefetch(typingctx, arr, idx):
    """Hint the CPU to bring ``arr[idx]`` into cache (``llvm.prefetch``, read).

    A hint only: no load, no effect on any result, and no fault whatever the
    address (the callers still keep ``idx`` within ``arr``).  The address is
    ``arr.data + idx`` elements, i.e. that of ``arr[idx]`` for contiguous
    arrays (all callers pass contiguous ones).
    """
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        i = context.cast(builder, args[1], signature.args[1], types.intp)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        # declared through llvmlite's mangling of the pointer type: "llvm.prefetch.p0i8"
        # (typed pointers of older LLVM; newer LLVM upgrades the name to its opaque "p0")
        fn = builder.module.declare_intrinsic("llvm.prefetch", [i8p], fnty)
        # (address, read, highest temporal locality, data cache)
        builder.call(fn, [builder.bitcast(builder.gep(ary.data, [i]), i8p), i32(0), i32(3),
                          i32(1)])
        return context.get_dummy_value()

    return types.void(arr, idx), codegen


@intrinsic
def _bits_as_float(typingctx, bits):
    """The float64 whose IEEE bit pattern is the int64 ``bits``."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return sig, codegen


_ABS_BITS = np.int64(0x7FFFFFFFFFFFFFFF)  # clears the sign bit
_INF_BITS = np.int64(0x7FF0000000000000)  # +inf


# the working-set epochs prefetch the residual rows (and the threshold, when
# there is one per coefficient) of the coordinate this many positions ahead
# (the Newton steps: its coefficient and its residual rows; the designs pass
# the distance as ``ahead``). On signals beyond the last-level cache the
# kernel-length stretches of a sparse, sorted working set are DRAM misses that
# the hardware prefetchers cannot predict (irregular gaps), and one update is
# long enough that the out-of-order window overlaps only about two of them. A
# hint only: the arithmetic, hence every result bit, is the same without it. N
# = 1e7, lam = 0.1 lam_max, 5 epochs from the start of the first working set
# (2.4e5 / 1.0e5 coordinates at Lh = 12 / 70): 39-45 -> 17-18 / 70-72 -> 30-31
# ns per update, the speed of N = 1e6 (16-17 / 28-30 ns) where the residual
# stays in L3. (On a copy of the short-kernel form, without -> ahead = 4, 8,
# 16, 32: 39 -> 22, 21, 17.5, 17.4 ns at Lh = 12, 99 -> 51, 46, 45, 45 ns at
# Lh = 70; one hint per column instead of one per 64-byte line: 101-106 ns at
# Lh = 70, no gain.)
_PREFETCH_AHEAD = 16
# ... on residuals of at least this many rows (16 MiB; below, the residual of
# one solve stays in the 32 MiB L3 of the machine measured, where the hints
# made the Lh = 70 epochs about 7 % slower at N = 1e6).  Both limits are read
# by the designs at each call (not compiled in): tests lower them to run the
# hinted path on small problems.
_PREFETCH_MIN_ROWS = 1 << 21
# ... and working sets of at most one coordinate per this many coefficients
# (denser ones are read almost sequentially: the hardware prefetchers follow
# them, and the hints cost 3-7 %.  N = 1e7, random sorted working sets, one
# per g coefficients, g = 2, 4, 8, 16, 32, 64: without -> with hints 24.5,
# 23.5, 24.1, 27.2, 51.4, 81.1 -> 25.7, 25.1, 25.3, 24.7, 25.9, 26.0 ns per
# update at Lh = 12; 31.9, 32.3, 31.5, 31.7, 38.7, 64.2 -> 33.3, 33.3, 32.9,
# 33.1, 33.2, 34.2 ns at Lh = 70: one limit for all lengths, although at
# Lh = 70 the hints pay only from g = 32 and cost ~4 % at g = 16)
_PREFETCH_MIN_GAP = 16


@njit(cache=True, nogil=True)
def _prefetch_rows(r, start, L, n_rows):
    """Prefetch the rows ``start .. start + L - 1`` of ``r`` (clipped to
    ``[0, n_rows)``): one hint per 64-byte line, and the last row."""
    hi = start + L - 1 if start + L - 1 < n_rows - 1 else n_rows - 1
    q = start if start > 0 else 0
    while q < hi:
        _prefetch(r, q)
        q += 8
    if hi >= 0:
        _prefetch(r, hi)


@njit(cache=True, nogil=True)
def _prox1(z, t, positive):
    if positive:
        return z - t if z > t else 0.0
    if z > t:
        return z - t
    if z < -t:
        return z + t
    return 0.0


@njit(cache=True, nogil=True)
def _dist1(x, c, t, positive):
    if x > 0:
        return abs(c - t)
    if x < 0:
        return abs(c + t)
    if positive:
        return c - t if c > t else 0.0
    a = abs(c)
    return a - t if a > t else 0.0


@njit(cache=True, nogil=True, inline="always")
def _inv_energy(nrm):
    """``1 / nrm`` for a column energy ``nrm``, or ``0.0`` (the column is skipped)
    when the energy is zero or so small that its inverse overflows.

    With ``inv = inf`` the select forms below would compute ``inf - inf`` and
    write NaN into the residual; the branching :func:`_prox1` returned 0 there,
    so such a column never moved either way."""
    inv = 1.0 / nrm if nrm > 0.0 else 0.0
    return inv if inv < np.inf else 0.0


@njit(cache=True, nogil=True, inline="always")
def _prox1_select(z, t, positive):
    """:func:`_prox1` without branches on ``z`` (the same values for finite ``t``
    and non-NaN ``z``: ``z - t``, ``z + t`` or ``0.0``, whose sign may differ; a NaN
    ``z`` or ``t = inf`` gives NaN where :func:`_prox1` gave 0), for the epochs'
    inner loop, where the sign of a coefficient is a coin flip for the branch
    predictor on dense supports.  The epochs never pass ``t = inf``
    (:func:`_inv_energy`)."""
    if positive:
        return max(z - t, 0.0)
    return z - max(-t, min(z, t))


@njit(cache=True, nogil=True, inline="always")
def _dist1_select(x, c, t, positive):
    """:func:`_dist1` without branches on ``x`` or ``c`` (the same values for
    finite ``t`` and non-NaN ``c``, up to the sign of a zero)."""
    s = (1.0 if x > 0.0 else 0.0) - (1.0 if x < 0.0 else 0.0)
    at_zero = max(c - t, 0.0) if positive else max(abs(c) - t, 0.0)
    return at_zero if s == 0.0 else abs(c - s * t)


# --------------------------------------------------------------------- banded
@njit(cache=True, nogil=True)
def banded_epochs(x, r, ws, kernels, n_samples, shift, n_rows, norms2, thresh,
                  positive, n_epochs):
    L = kernels.shape[1]
    for _ in range(n_epochs):
        for c in ws:
            nrm = norms2[c]
            if nrm == 0.0:
                continue
            p = c // n_samples
            start = c - p * n_samples - shift
            l0 = -start if start < 0 else 0
            l1 = n_rows - start if n_rows - start < L else L
            g = 0.0
            for q in range(l0, l1):
                g += kernels[p, q] * r[start + q]
            old = x[c]
            new = _prox1(old + g / nrm, thresh[c] / nrm, positive)
            if new != old:
                d = new - old
                for q in range(l0, l1):
                    r[start + q] -= d * kernels[p, q]
                x[c] = new


@njit(cache=True, nogil=True)
def banded_violation(x, r, ws, kernels, n_samples, shift, n_rows, thresh, positive):
    L = kernels.shape[1]
    worst = 0.0
    for c in ws:
        p = c // n_samples
        start = c - p * n_samples - shift
        l0 = -start if start < 0 else 0
        l1 = n_rows - start if n_rows - start < L else L
        g = 0.0
        for q in range(l0, l1):
            g += kernels[p, q] * r[start + q]
        d = _dist1(x[c], g, thresh[c], positive)
        if d > worst:
            worst = d
    return worst


@njit(cache=True, nogil=True)
def banded_apply_delta(r, ws, delta, kernels, n_samples, shift, n_rows):
    L = kernels.shape[1]
    for i in range(ws.size):
        d = delta[i]
        if d == 0.0:
            continue
        c = ws[i]
        p = c // n_samples
        start = c - p * n_samples - shift
        l0 = -start if start < 0 else 0
        l1 = n_rows - start if n_rows - start < L else L
        for q in range(l0, l1):
            r[start + q] -= d * kernels[p, q]


# ---------------------------------------------------------------------- dense
@njit(cache=True, nogil=True)
def dense_epochs(x, r, ws, X, norms2, thresh, positive, n_epochs):
    n = X.shape[0]
    for _ in range(n_epochs):
        for j in ws:
            nrm = norms2[j]
            if nrm == 0.0:
                continue
            g = 0.0
            for i in range(n):
                g += X[i, j] * r[i]
            old = x[j]
            new = _prox1(old + g / nrm, thresh[j] / nrm, positive)
            if new != old:
                d = new - old
                for i in range(n):
                    r[i] -= d * X[i, j]
                x[j] = new


@njit(cache=True, nogil=True)
def dense_violation(x, r, ws, X, thresh, positive):
    n = X.shape[0]
    worst = 0.0
    for j in ws:
        g = 0.0
        for i in range(n):
            g += X[i, j] * r[i]
        d = _dist1(x[j], g, thresh[j], positive)
        if d > worst:
            worst = d
    return worst


@njit(cache=True, nogil=True)
def dense_apply_delta(r, ws, delta, X):
    n = X.shape[0]
    for k in range(ws.size):
        d = delta[k]
        if d == 0.0:
            continue
        j = ws[k]
        for i in range(n):
            r[i] -= d * X[i, j]


# -------------------------------------------- sparse CSC, implicitly centred
# The design is X - 1 m^T (m = column offsets, zero when not centring).  The
# residual is kept lazily as r = rs + shift (a scalar added to every entry) so
# that an update touches only the stored entries of its column.
@njit(cache=True, nogil=True)
def sparse_epochs(x, r, ws, data, indices, indptr, offsets, col_sums, norms2,
                  thresh, positive, n_epochs):
    n = r.size
    lazy = 0.0
    rsum = 0.0
    for i in range(n):
        rsum += r[i]
    for _ in range(n_epochs):
        for j in ws:
            nrm = norms2[j]
            if nrm == 0.0:
                continue
            g = 0.0
            for k in range(indptr[j], indptr[j + 1]):
                g += data[k] * r[indices[k]]
            # (X_j - m_j 1)^T (rs + lazy 1)
            g += lazy * col_sums[j] - offsets[j] * (rsum + n * lazy)
            old = x[j]
            new = _prox1(old + g / nrm, thresh[j] / nrm, positive)
            if new != old:
                d = new - old
                for k in range(indptr[j], indptr[j + 1]):
                    r[indices[k]] -= d * data[k]
                rsum -= d * col_sums[j]
                lazy += d * offsets[j]
                x[j] = new
    if lazy != 0.0:
        for i in range(n):
            r[i] += lazy


@njit(cache=True, nogil=True)
def sparse_violation(x, r, ws, data, indices, indptr, offsets, thresh, positive):
    rsum = 0.0
    for i in range(r.size):
        rsum += r[i]
    worst = 0.0
    for j in ws:
        g = 0.0
        for k in range(indptr[j], indptr[j + 1]):
            g += data[k] * r[indices[k]]
        g -= offsets[j] * rsum
        d = _dist1(x[j], g, thresh[j], positive)
        if d > worst:
            worst = d
    return worst


@njit(cache=True, nogil=True)
def sparse_apply_delta(r, ws, delta, data, indices, indptr, offsets):
    shift = 0.0
    for q in range(ws.size):
        d = delta[q]
        if d == 0.0:
            continue
        j = ws[q]
        for k in range(indptr[j], indptr[j + 1]):
            r[indices[k]] -= d * data[k]
        shift += d * offsets[j]
    if shift != 0.0:
        for i in range(r.size):
            r[i] += shift


# ------------------------------------------------ fast path of the banded CD
# The kernels below serve the working-set coordinate descent on convolution
# dictionaries without any full-length temporary: the correlation A^T r is
# formed block by block (vectorised multiply-adds over the taps) and reduced
# on the fly into the optimality measures; column norms come from a table of
# cumulative kernel energies; thresholds may be one shared value (size-1
# array) or one per coefficient.  Reductions may be reassociated (fastmath
# "reassoc"/"contract" only: infinities and NaN keep their IEEE meaning).
_FM = {"reassoc", "contract"}
_BLOCK = 2048  # (a multiple of 8: see _fold_scores_cand)


@njit(cache=True, nogil=True, fastmath=_FM)
def _corr_interior(r, kv, base, m, buf):
    """``buf[j] = sum_q kv[q] r[base + j + q]`` for ``j < m`` (rows in range).

    Eight outputs at a time, each summed over every tap in a register (no loads
    and stores of ``buf`` per tap): N = 1e6, 70 taps 3.8 -> 2.8 ms per
    correlation, 12 taps 1.6 -> 0.7 ms (microbenchmark).  (A function of its
    own, on a zero-based slice of ``r``: written inside the caller, or on ``r``
    with an offset index, the same loop compiled 1.5-8x slower.)"""
    L = kv.size
    rv = r[base: base + m + L - 1]
    j = 0
    while j + 8 <= m:
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        a3 = 0.0
        a4 = 0.0
        a5 = 0.0
        a6 = 0.0
        a7 = 0.0
        for q in range(L):
            kq = kv[q]
            i = j + q
            a0 += kq * rv[i]
            a1 += kq * rv[i + 1]
            a2 += kq * rv[i + 2]
            a3 += kq * rv[i + 3]
            a4 += kq * rv[i + 4]
            a5 += kq * rv[i + 5]
            a6 += kq * rv[i + 6]
            a7 += kq * rv[i + 7]
        buf[j] = a0
        buf[j + 1] = a1
        buf[j + 2] = a2
        buf[j + 3] = a3
        buf[j + 4] = a4
        buf[j + 5] = a5
        buf[j + 6] = a6
        buf[j + 7] = a7
        j += 8
    while j < m:
        a0 = 0.0
        for q in range(L):
            a0 += kv[q] * rv[j + q]
        buf[j] = a0
        j += 1


@njit(cache=True, nogil=True, fastmath=_FM)
def _banded_corr_block(r, kernels, p, j0, j1, shift, n_rows, buf):
    """buf[j - j0] = sum_q kernels[p, q] r[j - shift + q] over rows in [0, n_rows)."""
    # zero-based loops over slices (no negative-index wraparound) vectorise
    L = kernels.shape[1]
    m = j1 - j0
    if j0 - shift >= 0 and j1 - shift + L - 1 <= n_rows:
        _corr_interior(r, kernels[p], j0 - shift, m, buf)
        return
    for j in range(m):
        buf[j] = 0.0
    for q in range(L):
        kq = kernels[p, q]
        lo = shift - q
        if lo < j0:
            lo = j0
        hi = n_rows + shift - q
        if hi > j1:
            hi = j1
        if hi <= lo:
            continue
        bv = buf[lo - j0: hi - j0]
        rv = r[lo + q - shift: hi + q - shift]
        for i in range(hi - lo):
            bv[i] += kq * rv[i]


@njit(cache=True, nogil=True, fastmath=_FM)
def banded_correlate(r, kernels, n_samples, shift, n_rows, out):
    """``out = A^T r`` (flat, length ``P * n_samples``) by blocked direct sums."""
    P = kernels.shape[0]
    buf = np.empty(_BLOCK)
    for p in range(P):
        for j0 in range(0, n_samples, _BLOCK):
            j1 = min(j0 + _BLOCK, n_samples)
            _banded_corr_block(r, kernels, p, j0, j1, shift, n_rows, buf)
            base = p * n_samples
            for j in range(j1 - j0):
                out[base + j0 + j] = buf[j]


@njit(cache=True, nogil=True, fastmath=_FM)
def _score_one(xv, c, t, positive):
    """KKT distance of one coordinate, as ``WeightedL1.subdiff_distance``."""
    if positive:
        if xv > 0:
            return abs(c - t)
        return c - t if c > t else 0.0
    if xv > 0:
        return abs(c - t)
    if xv < 0:
        return abs(c + t)
    a = abs(c)
    return a - t if a > t else 0.0


@njit(cache=True, nogil=True, fastmath=_FM)
def _fold_scores(x, corr, thresh, ts, positive, i0, i1, c0, scores, acc):
    """Fold coordinates ``i0..i1`` (correlations ``corr[c0:]``) into the measures.

    acc = (pen, c^T x, kkt, dual scaling, max|c|, n_support, n_violators);
    scores[i] = inf on the support, the KKT distance elsewhere.
    """
    pen, cx, kkt, smax, cmax, nsup, nviol = acc
    for i in range(i1 - i0):
        idx = i0 + i
        c = corr[c0 + i]
        t = thresh[idx * ts]
        xv = x[idx]
        a = abs(c)
        cmax = max(cmax, a)
        if t > 0.0:
            cc = (c if c > 0.0 else 0.0) if positive else a
            smax = max(smax, cc / t)
        d = _score_one(xv, c, t, positive)
        kkt = max(kkt, d)
        if xv != 0.0:
            pen += t * abs(xv)
            cx += c * xv
            nsup += 1
            scores[idx] = np.inf
        else:
            scores[idx] = d
            if d > 0.0:
                nviol += 1
    return pen, cx, kkt, smax, cmax, nsup, nviol


def _pack(rr, acc):
    pen, cx, kkt, smax, cmax, nsup, nviol = acc
    return np.array([rr, pen, cx, kkt, smax, cmax, nsup, nviol], dtype=np.float64)


_pack = njit(cache=True, nogil=True)(_pack)


@njit(cache=True, nogil=True, fastmath=_FM)
def banded_scores(x, r, kernels, n_samples, shift, n_rows, thresh, positive, scores):
    """One fused pass: ``c = A^T r`` blockwise and the optimality measures.

    Returns ``[r^T r, pen, c^T x, kkt, dual_scaling, max|c|, n_support,
    n_violators]`` (``pen = sum_i t_i |x_i|``, ``dual_scaling = max_{t_i > 0}
    c_i / t_i`` with ``max(c_i, 0)`` when positive, ``|c_i|`` otherwise) and
    writes the working-set scores (inf on the support, KKT distance elsewhere).
    """
    P = kernels.shape[0]
    ts = 1 if thresh.size > 1 else 0
    rr = 0.0
    for i in range(n_rows):
        rr += r[i] * r[i]
    acc = (0.0, 0.0, 0.0, 0.0, 0.0, 0, 0)
    buf = np.empty(_BLOCK)
    for p in range(P):
        base = p * n_samples
        for j0 in range(0, n_samples, _BLOCK):
            j1 = min(j0 + _BLOCK, n_samples)
            _banded_corr_block(r, kernels, p, j0, j1, shift, n_rows, buf)
            acc = _fold_scores(x, buf, thresh, ts, positive, base + j0, base + j1, 0, scores,
                               acc)
    return _pack(rr, acc)


@njit(cache=True, nogil=True, fastmath=_FM)
def scores_from_corr(x, corr, r, thresh, positive, scores):
    """As :func:`banded_scores` for any design, given ``corr = A^T r``."""
    ts = 1 if thresh.size > 1 else 0
    rr = 0.0
    for i in range(r.size):
        rr += r[i] * r[i]
    acc = (0.0, 0.0, 0.0, 0.0, 0.0, 0, 0)
    acc = _fold_scores(x, corr, thresh, ts, positive, 0, x.size, 0, scores, acc)
    return _pack(rr, acc)


@njit(cache=True, nogil=True)
def _positive_finite_scores(scores, n_violators):
    """The positive finite scores (violators outside the support), in index order."""
    vals = np.empty(n_violators)
    i = 0
    for j in range(scores.size):
        s = scores[j]
        if s > 0.0 and s < np.inf:
            vals[i] = s
            i += 1
    return vals[:i]


@njit(cache=True, nogil=True)
def _scores_at_least(scores, tau, n_ties, size):
    """Sorted indices with score == inf or > tau, plus the first ``n_ties`` equal to tau."""
    ws = np.empty(size, dtype=np.int64)
    i = 0
    for j in range(scores.size):
        s = scores[j]
        if s == np.inf or s > tau:
            ws[i] = j
            i += 1
        elif s == tau and s > 0.0 and n_ties > 0:
            ws[i] = j
            i += 1
            n_ties -= 1
    return ws[:i]


def select_working_set(scores, n_support, n_violators, ws_size):
    """Sorted indices: every score == inf (support) plus the ``ws_size - n_support``
    largest positive scores (all positive scores when there are not more).

    The k-th largest score is found by ``np.partition`` outside numba (numba's
    partition costs seconds of first-call compilation); both scans are compiled.
    """
    k = max(ws_size - n_support, 0)
    if n_violators <= k:
        return _scores_at_least(scores, 0.0, 0, n_support + n_violators)
    if k == 0:
        return _scores_at_least(scores, np.inf, 0, n_support)
    vals = _positive_finite_scores(scores, n_violators)
    m = vals.size
    vals = np.partition(vals, m - k)
    tau = vals[m - k]
    n_ties = k - int(np.count_nonzero(vals[m - k:] > tau))
    return _scores_at_least(scores, tau, n_ties, n_support + k)


@njit(cache=True, nogil=True, fastmath=_FM)
def _column_norm2(cumsq, p, start, L, n_rows):
    l0 = -start if start < 0 else 0
    l1 = n_rows - start if n_rows - start < L else L
    if l1 <= l0:
        return 0.0
    return cumsq[p, l1] - cumsq[p, l0]


@njit(cache=True, nogil=True, fastmath=_FM)
def banded_epochs_ws(x, r, ws, kernels, cumsq, n_samples, shift, n_rows, thresh,
                     positive, n_epochs):
    """As :func:`banded_epochs`, column norms from ``cumsq`` (P, L + 1), thresholds
    of size 1 (shared) or one per coefficient.

    Returns the number of updates that changed a coefficient's sign pattern
    (zero / positive / negative) during the last epoch.
    """
    P, L = kernels.shape
    ts = 1 if thresh.size > 1 else 0
    changes = 0
    for _ in range(n_epochs):
        changes = 0
        for c in ws:
            p = 0 if P == 1 else c // n_samples  # skip the integer division
            start = c - p * n_samples - shift
            l0 = -start if start < 0 else 0
            l1 = n_rows - start if n_rows - start < L else L
            if l1 <= l0:
                continue
            nrm = cumsq[p, l1] - cumsq[p, l0]
            if nrm == 0.0:
                continue
            m = l1 - l0
            kv = kernels[p, l0:l1]
            rv = r[start + l0: start + l1]
            g = 0.0
            for q in range(m):
                g += kv[q] * rv[q]
            old = x[c]
            new = _prox1(old + g / nrm, thresh[c * ts] / nrm, positive)
            if new != old:
                d = new - old
                for q in range(m):
                    rv[q] -= d * kv[q]
                x[c] = new
                if (new > 0.0) != (old > 0.0) or (new < 0.0) != (old < 0.0):
                    changes += 1
    return changes


@njit(cache=True, nogil=True, fastmath=_FM)
def banded_violation_ws(x, r, ws, kernels, n_samples, shift, n_rows, thresh, positive):
    """As :func:`banded_violation`, thresholds of size 1 or one per coefficient."""
    P, L = kernels.shape
    ts = 1 if thresh.size > 1 else 0
    worst = 0.0
    for c in ws:
        p = 0 if P == 1 else c // n_samples
        start = c - p * n_samples - shift
        l0 = -start if start < 0 else 0
        l1 = n_rows - start if n_rows - start < L else L
        g = 0.0
        if l1 > l0:
            kv = kernels[p, l0:l1]
            rv = r[start + l0: start + l1]
            for q in range(l1 - l0):
                g += kv[q] * rv[q]
        d = _dist1(x[c], g, thresh[c * ts], positive)
        if d > worst:
            worst = d
    return worst


@njit(cache=True, nogil=True)
def _n_descents(keys):
    """Number of keys smaller than the one before them (0: ``keys`` is
    non-decreasing).  Branch-free, so the loop vectorizes: counting all of 2000
    sorted starts took 0.14 us, a scan stopping at the first descent 1.06 us."""
    n = 0
    for i in range(1, keys.size):
        n += keys[i] < keys[i - 1]
    return n


@njit(cache=True, nogil=True)
def stable_order(keys):
    """The permutation that sorts ``keys`` stably (equal keys keep their order):
    ``np.argsort(keys, kind="mergesort")``, by merging the non-decreasing runs
    already in ``keys`` pairwise.

    A working set sorted by flat index lists the columns of each kernel in
    order of start, so the starts of ``P`` kernels form about ``P`` runs: the
    merges cost ``O(m log P)`` moves (a general merge sort of 2000 starts cost
    ~40 us, most of a Newton step on the ECG detector's working sets).  A
    stable sort is unique: the result is the same permutation as numpy's.
    Sorted ``keys`` cost one scan (:func:`_n_descents`) and the identity
    permutation; a caller that has counted the descents calls :func:`_merge_runs`.
    """
    n_desc = _n_descents(keys)
    if n_desc == 0:
        return np.arange(keys.size)
    return _merge_runs(keys, n_desc)


@njit(cache=True, nogil=True)
def _merge_runs(keys, n_desc):
    """:func:`stable_order` of ``keys`` with ``n_desc = _n_descents(keys) > 0``
    (``n_desc + 1`` runs: the run heads take ``n_desc + 2`` entries)."""
    m = keys.size
    order = np.arange(m)
    # run heads (heads[k] .. heads[k + 1] - 1 non-decreasing)
    heads = np.empty(n_desc + 2, dtype=np.int64)
    n_runs = 0
    heads[0] = 0
    for i in range(1, m):
        if keys[i] < keys[i - 1]:
            n_runs += 1
            heads[n_runs] = i
    n_runs += 1
    heads[n_runs] = m
    # the keys move with the indices (no indirection in the merges)
    tmp = np.empty(m, dtype=np.int64)
    ksrc = keys.copy()
    kdst = np.empty_like(ksrc)
    src = order
    dst = tmp
    while n_runs > 1:
        k = 0
        n_new = 0
        while k < n_runs:
            a0 = heads[k]
            if k + 1 < n_runs:
                # merge runs k and k + 1 (ties: the earlier run first), branch-free
                a1 = heads[k + 1]
                b1 = heads[k + 2]
                i = a0
                j = a1
                o = a0
                while i < a1 and j < b1:
                    ki = ksrc[i]
                    kj = ksrc[j]
                    tj = kj < ki
                    kdst[o] = kj if tj else ki
                    dst[o] = src[j] if tj else src[i]
                    j += tj
                    i += 1 - tj
                    o += 1
                while i < a1:
                    kdst[o] = ksrc[i]
                    dst[o] = src[i]
                    i += 1
                    o += 1
                while j < b1:
                    kdst[o] = ksrc[j]
                    dst[o] = src[j]
                    j += 1
                    o += 1
                k += 2
            else:
                for o in range(a0, heads[k + 1]):
                    kdst[o] = ksrc[o]
                    dst[o] = src[o]
                k += 1
            heads[n_new] = a0
            n_new += 1
        heads[n_new] = m
        n_runs = n_new
        src, dst = dst, src
        ksrc, kdst = kdst, ksrc
    return src


@njit(cache=True, nogil=True, fastmath=_FM)
def banded_delta_rr(r, ws, delta, kernels, n_samples, shift, n_rows):
    """``||r - A[:, ws] delta||^2 - ||r||^2`` computed on the touched rows only."""
    L = kernels.shape[1]
    m = 0
    for i in range(ws.size):
        if delta[i] != 0.0:
            m += 1
    if m == 0:
        return 0.0
    starts = np.empty(m, dtype=np.int64)
    pos = np.empty(m, dtype=np.int64)
    k = 0
    for i in range(ws.size):
        if delta[i] != 0.0:
            c = ws[i]
            p = c // n_samples
            starts[k] = c - p * n_samples - shift
            pos[k] = i
            k += 1
    order = stable_order(starts)
    buf = np.empty(m * L)
    change = 0.0
    k = 0
    while k < m:
        # a run of columns whose row spans overlap: rows [a, b)
        a = starts[order[k]]
        b = a + L
        e = k + 1
        while e < m and starts[order[e]] < b:
            b = max(b, starts[order[e]] + L)
            e += 1
        lo = a if a > 0 else 0
        hi = b if b < n_rows else n_rows
        if hi > lo:
            span = hi - lo
            for i in range(span):
                buf[i] = r[lo + i]
            for kk in range(k, e):
                i = pos[order[kk]]
                c = ws[i]
                p = c // n_samples
                st = c - p * n_samples - shift
                d = delta[i]
                q0 = lo - st if st < lo else 0
                q1 = hi - st if hi - st < L else L
                for q in range(q0, q1):
                    buf[st + q - lo] -= d * kernels[p, q]
            for i in range(span):
                v = r[lo + i]
                change += buf[i] * buf[i] - v * v
        k = e
    return change


@njit(cache=True, nogil=True)
def banded_residual(y, x, kernels, n_samples, shift, n_rows, r):
    """``r = y - A x`` in place by direct sums over the nonzero coefficients."""
    L = kernels.shape[1]
    for i in range(n_rows):
        r[i] = y[i]
    for c in range(x.size):
        d = x[c]
        if d == 0.0:
            continue
        p = c // n_samples
        start = c - p * n_samples - shift
        l0 = -start if start < 0 else 0
        l1 = n_rows - start if n_rows - start < L else L
        for q in range(l0, l1):
            r[start + q] -= d * kernels[p, q]


def kernel_cross_products(kernels):
    """``T[p, q, d] = sum_l kernels[p, l + d] kernels[q, l]`` for ``d = 0..L-1``."""
    P, L = kernels.shape
    T = np.zeros((P, P, L))
    for d in range(L):
        T[:, :, d] = kernels[:, d:] @ kernels[:, : L - d].T
    return T


@njit(cache=True, nogil=True, fastmath=_FM)
def _column_inner(kernels, T, pa, sa, pb, sb, n_rows):
    """Inner product of the columns (kernel pa at row sa) and (pb at sb), sa <= sb."""
    L = kernels.shape[1]
    d = sb - sa
    if d >= L:
        return 0.0
    if sa >= 0 and sb + L <= n_rows:
        return T[pa, pb, d]
    lo = sb if sb > 0 else 0
    hi = sa + L if sa + L < n_rows else n_rows
    acc = 0.0
    for row in range(lo, hi):
        acc += kernels[pa, row - sa] * kernels[pb, row - sb]
    return acc


@njit(cache=True, nogil=True, fastmath=_FM)
def _block_trial(x, r, S, starts, b0, nb, delta, theta, kernels, n_samples, lo, hi, thresh,
                 ts, z, buf):
    """Objective change of ``x_S + theta * delta`` (sign crossings set to zero) on one
    block of columns whose rows are ``[lo, hi)``; leaves the candidate coefficients
    in ``z`` and its residual rows in ``buf``."""
    P, L = kernels.shape
    for q in range(hi - lo):
        buf[q] = r[lo + q]
    d_pen = 0.0
    for a in range(nb):
        c = S[b0 + a]
        pa = 0 if P == 1 else c // n_samples
        sa = starts[b0 + a]
        xa = x[c]
        za = xa + theta * delta[a]
        if (xa > 0.0 and za <= 0.0) or (xa < 0.0 and za >= 0.0):
            za = 0.0  # leaves the support
        z[a] = za
        d = za - xa
        d_pen += thresh[c * ts] * (abs(za) - abs(xa))
        if d != 0.0:
            q0 = lo - sa if sa < lo else 0
            q1 = hi - sa if hi - sa < L else L
            for q in range(q0, q1):
                buf[sa + q - lo] -= d * kernels[pa, q]
    d_rr = 0.0
    for q in range(hi - lo):
        v = r[lo + q]
        d_rr += buf[q] * buf[q] - v * v
    return 0.5 * d_rr + d_pen


@njit(cache=True, nogil=True, fastmath=_FM)
def _envelope_solve(C, f, ptr, b0, b1, rhs, off):
    """Envelope Cholesky ``G = C C^T`` in place on the block ``b0..b1`` (row ``a``
    holds ``G[a, f[a]..a]`` at ``ptr[a]..``), then ``rhs <- G^{-1} rhs`` (entry
    ``a`` of the block at ``rhs[a - off]``).

    Returns False (``C`` partly overwritten) when ``G`` is numerically singular.
    """
    for a in range(b0, b1):
        fa = f[a]
        base_a = ptr[a] - fa
        for j2 in range(fa, a):
            fj = f[j2]
            base_j = ptr[j2] - fj
            acc = C[base_a + j2]
            for u in range(fa if fa > fj else fj, j2):
                acc -= C[base_a + u] * C[base_j + u]
            C[base_a + j2] = acc / C[base_j + j2]
        d0 = C[base_a + a]
        diag = d0
        for u in range(fa, a):
            diag -= C[base_a + u] * C[base_a + u]
        if not diag > 1e-10 * d0 or not diag > 0.0:
            return False
        C[base_a + a] = np.sqrt(diag)
    # forward, then column-oriented backward substitution
    for a in range(b0, b1):
        base_a = ptr[a] - f[a]
        acc = rhs[a - off]
        for u in range(f[a], a):
            acc -= C[base_a + u] * rhs[u - off]
        rhs[a - off] = acc / C[base_a + a]
    for a in range(b1 - 1, b0 - 1, -1):
        base_a = ptr[a] - f[a]
        rhs[a - off] = rhs[a - off] / C[base_a + a]
        ra = rhs[a - off]
        for u in range(f[a], a):
            rhs[u - off] -= C[base_a + u] * ra
    return True


@njit(cache=True, nogil=True, fastmath=_FM)
def _active_set_direction(x, S, b0, b1, f, ptr, G, g0, C, fixed, d, max_rounds):
    """Newton direction on a block with its crossing coefficients fixed at zero.

    ``G`` (the block's Gram envelope, ``G[k - ptr[b0]]`` for entry ``k`` of
    ``C``), ``g0``, ``fixed`` and ``d`` are local to the block (entry ``a`` at
    ``a - b0``); ``d`` holds the free Newton direction ``G^{-1} g0`` on entry.  Each
    round fixes (``d_a = -x_a``) every free coefficient that ``x + d`` moves
    across zero and re-solves ``G_FF d_F = g0_F + G_FD x_D`` for the others,
    until none crosses or ``max_rounds`` re-solves were made.  Returns False
    when a reduced system is numerically singular.
    """
    k0 = ptr[b0]
    for a in range(b1 - b0):
        fixed[a] = False
    for _ in range(max_rounds):
        n_new = 0
        for a in range(b0, b1):
            if not fixed[a - b0]:
                xa = x[S[a]]
                za = xa + d[a - b0]
                if (xa > 0.0 and za <= 0.0) or (xa < 0.0 and za >= 0.0):
                    fixed[a - b0] = True
                    n_new += 1
        if n_new == 0:
            return True
        for a in range(b0, b1):
            d[a - b0] = -x[S[a]] if fixed[a - b0] else g0[a - b0]
        for a in range(b0, b1):
            base = ptr[a] - f[a]
            fa_ = fixed[a - b0]
            for j in range(f[a], a):
                gaj = G[base + j - k0]
                if fa_:
                    if not fixed[j - b0]:
                        d[j - b0] += gaj * x[S[a]]
                    C[base + j] = 0.0
                elif fixed[j - b0]:
                    d[a - b0] += gaj * x[S[j]]
                    C[base + j] = 0.0
                else:
                    C[base + j] = gaj
            C[base + a] = 1.0 if fa_ else G[base + a - k0]
        if not _envelope_solve(C, f, ptr, b0, b1, d, b0):
            return False
        for a in range(b0, b1):
            if fixed[a - b0]:
                d[a - b0] = -x[S[a]]  # exactly (the unit rows solve to it up to rounding)
    return True


@njit(cache=True, nogil=True)
def _newton_buffer_sizes(starts, L, P):
    """Buffer sizes of :func:`banded_newton`'s blocks: ``(largest block,
    envelope bound, row-span bound)``.

    ``starts``: the sorted column starts of distinct columns (``P`` kernels of
    ``L`` taps); a block is a run whose consecutive starts are less than ``L``
    apart.  The largest block ``nb`` by a branch-free scan; then bounds
    instead of exact sizes: a row of a block's Gram envelope holds at most
    ``min(nb, P * L)`` columns (itself and the earlier columns starting less
    than ``L`` before it: at most one per kernel and start, the columns being
    distinct), and a block's rows span at most ``(nb - 1) * (L - 1) + L``.
    (The exact envelope size, by a scan with a variable inner loop, cost
    ~1.3 ms on 2.3e5 columns; untouched buffer pages cost nothing.)
    """
    m = starts.size
    max_nb = 0
    a0 = 0
    for a in range(1, m):
        brk = starts[a] - starts[a - 1] >= L
        nb_a = a - a0 if brk else 0
        max_nb = nb_a if nb_a > max_nb else max_nb
        a0 = a if brk else a0
    if m - a0 > max_nb:
        max_nb = m - a0
    max_env = max_nb * min(max_nb, P * L)
    max_span = (max_nb - 1) * (L - 1) + L
    return max_nb, max_env, max_span


@njit(cache=True, nogil=True, fastmath=_FM)
def banded_newton(x, r, ws, kernels, T, n_samples, shift, n_rows, thresh, positive,
                  skip_rel=1e-9, active_rounds=8, ahead=0):
    """Newton (active-set) step on the support of ``x`` within ``ws``.

    With ``S`` the support and ``s`` its signs, the objective restricted to the
    face ``{sign(x_S) = s, x = 0 off S}`` is the quadratic
    ``0.5 ||r||^2 + sum_S t_i s_i x_i``; its exact minimiser along
    ``Delta = G_SS^{-1} (A_S^T r - t_S s)`` (``G_SS`` banded: columns more than
    a kernel length apart do not overlap) is reached at step 1.  The step is
    cut where a coefficient first reaches zero (that coefficient leaves the
    support), so the objective never increases.  The support splits into
    blocks of columns with disjoint rows; each block is solved (banded
    Cholesky) and accepted independently, only when its objective decreases
    (checked on its rows).  A block already at the optimum of its face (every
    ``|g_i| <= skip_rel * t_i``) is left as it is (no Cholesky).  When the
    projected full step does not decrease the objective, up to
    ``active_rounds`` active-set re-solves fix every crossing coefficient at
    zero at once (instead of the cut step, which removes one coefficient per
    block).  ``ahead`` > 0: prefetch hints that many coefficients / columns
    ahead (see :func:`banded_epoch_violation`; no effect on the result).
    Returns the number of coordinates updated.

    The coordinates in ``ws`` must be distinct (a working set): the sizes of
    the block buffers (:func:`_newton_buffer_sizes`) bound a row of a block's
    Gram envelope by one column per kernel and start.
    """
    P, L = kernels.shape
    ts = 1 if thresh.size > 1 else 0
    n_ws = ws.size
    m = 0
    for i in range(n_ws):
        if ahead > 0 and i + ahead < n_ws:
            _prefetch(x, ws[i + ahead])
        if x[ws[i]] != 0.0:
            m += 1
    if m == 0:
        return 0
    S = np.empty(m, dtype=np.int64)
    starts = np.empty(m, dtype=np.int64)
    i = 0
    for j in range(n_ws):
        if ahead > 0 and j + ahead < n_ws:
            _prefetch(x, ws[j + ahead])
        c = ws[j]
        if x[c] != 0.0:
            S[i] = c
            p = 0 if P == 1 else c // n_samples
            starts[i] = c - p * n_samples - shift
            i += 1
    n_desc = _n_descents(starts)
    if n_desc > 0:
        order = _merge_runs(starts, n_desc)
        S = S[order]
        starts = starts[order]
    # blocks: runs of columns (sorted by start) whose consecutive starts are less
    # than a kernel length apart (rows disjoint from every other block).  Every
    # buffer below is local to one block (sized by the largest block), so that a
    # step allocates (and first touches) O(largest block) memory besides S and
    # starts, not O(support) per array.  Within a block, column a overlaps the
    # columns f[a]..a-1 (local indices): the envelope of its Gram matrix.
    # sizes from the largest block and bounds (see _newton_buffer_sizes).  (Growing
    # the envelope buffers from the single-kernel bound once a block's exact size
    # ptr[nb] is known, for several kernels, cost 1-2 % of a step with one kernel:
    # not done.)
    max_nb, max_env, max_span = _newton_buffer_sizes(starts, L, P)
    f = np.empty(max_nb, dtype=np.int64)
    ptr = np.empty(max_nb + 1, dtype=np.int64)
    Cf = np.empty(max_env)  # row a holds C[a, f[a]..a] at ptr[a]..ptr[a+1]-1
    g = np.empty(max_nb)
    buf = np.empty(max_span)
    buf2 = np.empty(max_span)
    za_buf = np.empty(max_nb)
    zb_buf = np.empty(max_nb)
    # the active-set re-solves
    G0 = np.empty(max_env)
    g0 = np.empty(max_nb)
    d_as = np.empty(max_nb)
    fixed = np.zeros(max_nb, dtype=np.bool_)
    n_updated = 0
    b0 = 0
    while b0 < m:
        b1 = b0 + 1
        while b1 < m and starts[b1] - starts[b1 - 1] < L:
            b1 += 1
        nb = b1 - b0
        Sb = S[b0:b1]
        st = starts[b0:b1]
        lo = st[0] if st[0] > 0 else 0
        hi = st[nb - 1] + L if st[nb - 1] + L < n_rows else n_rows
        # gradient of the face quadratic
        done = True
        for a in range(nb):
            if ahead > 0 and b0 + a + ahead < m:
                _prefetch_rows(r, starts[b0 + a + ahead], L, n_rows)
                _prefetch(x, S[b0 + a + ahead])
            c = Sb[a]
            pa = 0 if P == 1 else c // n_samples
            sa = st[a]
            l0 = -sa if sa < 0 else 0
            l1 = n_rows - sa if n_rows - sa < L else L
            l1 = max(l1, l0)  # (no rows: an empty sum)
            # (no branch around the sum: inside one, the loop ran ~5x slower,
            # N = 1e6, Lh = 12: 5.5 -> 1 ms per step on 2.3e5 columns)
            acc = 0.0
            kv = kernels[pa, l0:l1]
            rv = r[sa + l0: sa + l1]
            for q in range(l1 - l0):
                acc += kv[q] * rv[q]
            sgn = 1.0 if x[c] > 0.0 else -1.0
            g[a] = acc - thresh[c * ts] * sgn
            if abs(g[a]) > skip_rel * thresh[c * ts]:
                done = False
        if done:
            # already (nearly) at the optimum of its face: no Cholesky
            b0 = b1
            continue
        # the block's envelope and its Gram matrix
        ptr[0] = 0
        b = 0
        for a in range(nb):
            while st[a] - st[b] >= L:
                b += 1
            f[a] = b
            ptr[a + 1] = ptr[a] + a - b + 1
        for a in range(nb):
            c = Sb[a]
            pa = 0 if P == 1 else c // n_samples
            sa = st[a]
            base = ptr[a] - f[a]
            interior = sa + L <= n_rows and st[f[a]] >= 0
            for j2 in range(f[a], a + 1):
                cb = Sb[j2]
                pb = 0 if P == 1 else cb // n_samples
                if interior:
                    Cf[base + j2] = T[pb, pa, sa - st[j2]]
                else:
                    Cf[base + j2] = _column_inner(kernels, T, pb, st[j2], pa, sa, n_rows)
        # keep the Gram envelope and the face gradient (for the active-set re-solves)
        for k in range(ptr[nb]):
            G0[k] = Cf[k]
        for a in range(nb):
            g0[a] = g[a]
        # envelope Cholesky G = C C^T in place, Delta = G^{-1} g
        ok = _envelope_solve(Cf, f, ptr, 0, nb, g, 0)
        if ok:
            # step length: stop where a coefficient first reaches zero
            theta = 1.0
            for a in range(nb):
                xa = x[Sb[a]]
                za = xa + g[a]
                if (xa > 0.0 and za <= 0.0) or (xa < 0.0 and za >= 0.0):
                    frac = xa / (xa - za)
                    if frac < theta:
                        theta = frac
            if not (theta > 0.0 and np.isfinite(theta)):
                ok = False
        if ok:
            # candidates: the full step with the crossing coefficients set to zero
            # (projected; usually the better one), else the step cut at the first
            # zero crossing (never increases the objective)
            span = hi - lo
            gb = g[:nb]
            use_b = theta < 1.0
            best = 0.0
            if use_b:
                best = _block_trial(x, r, Sb, st, 0, nb, gb, 1.0, kernels, n_samples, lo,
                                    hi, thresh, ts, zb_buf, buf2)
                if not best < 0.0 and active_rounds > 0:
                    # active set: fix every crossing coefficient at zero at once and
                    # re-solve the face of the others (repeated while some cross)
                    for a in range(nb):
                        d_as[a] = g[a]
                    if _active_set_direction(x, Sb, 0, nb, f, ptr, G0, g0, Cf, fixed, d_as,
                                             active_rounds):
                        best = _block_trial(x, r, Sb, st, 0, nb, d_as, 1.0,
                                            kernels, n_samples, lo, hi, thresh, ts, zb_buf,
                                            buf2)
            if not best < 0.0:
                use_b = False
                best = _block_trial(x, r, Sb, st, 0, nb, gb, theta, kernels, n_samples, lo,
                                    hi, thresh, ts, za_buf, buf)
            if best < 0.0:
                zz = zb_buf if use_b else za_buf
                bb = buf2 if use_b else buf
                for q in range(span):
                    r[lo + q] = bb[q]
                for a in range(nb):
                    x[Sb[a]] = zz[a]
                n_updated += nb
        b0 = b1
    return n_updated


# ------------------------------ outer checks listing the working-set candidates
# above one in this many coordinates listed in ``nz``, the check reads all of
# ``x`` to flag the support instead of following ``nz`` (see ``_fold_scores_cand``)
_DENSE_NZ = 16


@njit(cache=True, nogil=True, fastmath=_FM)
def _candidate_flags(corr, thresh, x, i0, m, ts, positive, dense, smax, fl):
    """Flags of the coordinates ``i0 .. i0 + m - 1`` (correlations ``corr[:m]``) for
    :func:`_fold_scores_cand`, one byte each in ``fl[:m]``: 1 = positive score
    ``c - t > 0`` (``|c| - t`` when not ``positive``; the visit decides whether
    the coordinate is in the support); 2 (one
    threshold per coefficient) = the dual scaling may grow there
    (``t > 0`` and ``cc > smax * t``, ``smax`` its value before these
    coordinates: it only grows, so a coordinate unflagged here fails the
    sequential test too); 4 (``dense``) = ``x != 0``.  Branch-free passes
    (vectorised)."""
    if ts == 1:
        if positive:
            for i in range(m):
                v = corr[i]
                t = thresh[i0 + i]
                cc = v if v > 0.0 else 0.0
                fl[i] = (v - t > 0.0) | (((t > 0.0) & (cc > smax * t)) << 1)
        else:
            for i in range(m):
                a = abs(corr[i])
                t = thresh[i0 + i]
                fl[i] = (a - t > 0.0) | (((t > 0.0) & (a > smax * t)) << 1)
    else:
        t = thresh[0]
        if positive:
            for i in range(m):
                fl[i] = corr[i] - t > 0.0
        else:
            for i in range(m):
                fl[i] = abs(corr[i]) - t > 0.0
    if dense:
        for i in range(m):
            fl[i] |= (x[i0 + i] != 0.0) << 2


# The outer checks of the banded fast path also list the working-set
# candidates (support and violators, in index order) with their scores, so
# that the working set is selected without another pass over all coefficients,
# and read ``x`` only where the last working set says it may be nonzero.
@njit(cache=True, nogil=True, fastmath=_FM)
def _fold_scores_cand(x, nz, u, corr, thresh, ts, positive, i0, i1, cand, cscores, acc,
                      dense, fl):
    """As :func:`_fold_scores` (``corr[0:]`` for coordinates ``i0..i1``), but the
    scores are only kept for the candidates (positive score): ``cand[k]`` and
    ``cscores[k]`` for ``k = n_support + n_violators`` so far.

    ``x`` is only read at the indices listed in ``nz`` (sorted, distinct; every
    nonzero of ``x`` is listed), from entry ``u`` on; returns ``(acc, u)`` with
    ``u`` advanced past ``i1``.  (A pass that reads all of ``x`` costs a memory
    stream, and page faults when ``x`` is fresh.)

    acc = (pen, c^T x, kkt, dual scaling, max|c|, n_support, n_violators);
    ``kkt`` here covers the support only: the violators' part is the largest
    finite candidate score (see :func:`_violator_kkt`).  ``max|c|`` (and
    ``max(c, 0)``) are taken over every coordinate, as integer maxima of the
    bit patterns (exact, NaN left out); the other measures (except in the
    dense pass with one threshold, below) only at the coordinates that need
    more (a candidate, a listed coordinate, a possible growth of the dual
    scaling with one threshold per coefficient): :func:`_candidate_flags`
    flags them in ``fl`` (``uint8``, at least ``i1 - i0`` rounded up to 8
    long) and only those are visited, in index order, eight flags at a time:
    every other coordinate leaves the measures and the list unchanged.  The
    visited coordinates see the same arithmetic in the same order as a pass
    over all of them (the sums over the support, the
    sequential dual-scaling maximum), so the results are the same bits.
    Faster than a branch on every coordinate when few coordinates are flagged
    (checks near convergence: about half the time on the ECG detector's
    chunks); slower when many are (a cold start at small ``lam``, or a dense
    support: 1.1-1.5x the old per-coordinate loop on N = 3e5 random
    residuals with 1-30 % support in a microbenchmark).

    ``dense``: ``x`` is read at every coordinate instead (``nz`` and ``u`` are
    ignored): cheaper than listing ``nz`` when the support is dense, at the
    price of a stream over ``x``.  With one threshold (``ts == 0``), no flags
    are formed and nothing is visited selectively: one branch-free pass over
    every coordinate (a visit per flag is a coin flip at a dense support) adds
    each coordinate's terms, exact zeros off the support, in index order and
    writes every coordinate to ``cand`` (the count advancing only for the
    support and the violators), so the results are the same bits as the
    flagged visits.  With one threshold per coefficient, the support is
    flagged (flag 4) and visited as above.
    """
    pen, cx, kkt, smax, cmax, nsup, nviol = acc
    m = i1 - i0
    # max|c| (and max(c, 0)) as integer maxima of the bit patterns: the int64
    # patterns of non-negative doubles are ordered as their values, so these are
    # the exact maxima (a vectorised integer reduction instead of chains of
    # float compares, about 30 % of the fold); patterns above that of +inf
    # (NaN) are left out, as the float comparisons did
    cv = corr[:m].view(np.int64)
    ci = np.int64(0)
    si = np.int64(0)
    for i in range(m):
        b = cv[i]
        a = b & _ABS_BITS
        a = a if a <= _INF_BITS else 0
        ci = a if a > ci else ci
        b = b if b <= _INF_BITS else 0
        si = b if b > si else si
    cm = _bits_as_float(ci)
    cmax = max(cmax, cm)
    if ts == 0:
        t = thresh[0]
        if t > 0.0:
            smax = max(smax, (_bits_as_float(si) if positive else cm) / t)
        if dense:
            # dense support, one threshold: one pass over every coordinate, no
            # flags and no branch on the coordinate (a visit per flag was a coin
            # flip at this density); the sums over the support add the same terms
            # in the same order (plus exact zeros), so the results are the same
            k = nsup + nviol
            for i in range(m):
                idx = i0 + i
                c = corr[i]
                xv = x[idx]
                on = xv != 0.0
                sg = (1.0 if xv > 0.0 else 0.0) - (1.0 if xv < 0.0 else 0.0)
                e = abs(c - t * sg)
                e = e if on else 0.0
                kkt = e if e > kkt else kkt
                pen += t * abs(xv)
                cx += c * xv
                d = c - t if positive else abs(c) - t
                cand[k] = idx
                cscores[k] = np.inf if on else d
                k += on | (d > 0.0)
                nsup += on
            return (pen, cx, kkt, smax, cmax, nsup, k - nsup), u
    _candidate_flags(corr, thresh, x, i0, m, ts, positive, dense, smax, fl)
    m8 = (m + 7) // 8 * 8
    for i in range(m, m8):
        fl[i] = 0
    if not dense:
        n_nz = nz.size
        while u < n_nz and nz[u] < i0:
            u += 1
        while u < n_nz and nz[u] < i1:
            fl[nz[u] - i0] |= 4  # listed: x is read there
            u += 1
    k = nsup + nviol
    words = fl[:m8].view(np.uint64)
    for wi in range(m8 // 8):
        w = words[wi]
        while w != 0:
            b = trailing_zeros(w) >> 3
            w &= ~(np.uint64(0xFF) << np.uint64(8 * b))
            i = wi * 8 + b
            f = fl[i]
            idx = i0 + i
            c = corr[i]
            t = thresh[idx * ts]
            if f & 2:
                # the dual scaling with one threshold per coefficient, in index order
                cc = (c if c > 0.0 else 0.0) if positive else abs(c)
                if cc > smax * t:
                    smax = max(smax, cc / t)
            if f & 4:
                xv = x[idx]
                if xv != 0.0:
                    if dense:
                        sg = (1.0 if xv > 0.0 else 0.0) - (1.0 if xv < 0.0 else 0.0)
                        # |c - t sign(x)| (_score_one; x >= 0 when positive)
                        e = abs(c - t * sg)
                        kkt = e if e > kkt else kkt
                    else:
                        kkt = max(kkt, _score_one(xv, c, t, positive))
                    pen += t * abs(xv)
                    cx += c * xv
                    cand[k] = idx
                    cscores[k] = np.inf
                    k += 1
                    nsup += 1
                    continue
            if f & 5:
                d = c - t if positive else abs(c) - t
                cand[k] = idx
                cscores[k] = d
                k += d > 0.0
    return (pen, cx, kkt, smax, cmax, nsup, k - nsup), u


@njit(cache=True, nogil=True, fastmath=_FM)
def _violator_kkt(cscores, n_cand, kkt):
    """``max(kkt, largest finite score of the candidates)``."""
    k0 = k1 = k2 = k3 = kkt
    n4 = n_cand - n_cand % 4
    for u in range(0, n4, 4):
        s0 = cscores[u]
        s1 = cscores[u + 1]
        s2 = cscores[u + 2]
        s3 = cscores[u + 3]
        k0 = s0 if (s0 > k0 and s0 < np.inf) else k0
        k1 = s1 if (s1 > k1 and s1 < np.inf) else k1
        k2 = s2 if (s2 > k2 and s2 < np.inf) else k2
        k3 = s3 if (s3 > k3 and s3 < np.inf) else k3
    for u in range(n4, n_cand):
        s0 = cscores[u]
        k0 = s0 if (s0 > k0 and s0 < np.inf) else k0
    return max(max(k0, k1), max(k2, k3))


def _pack_cand(rr, acc, cscores):
    pen, cx, kkt, smax, cmax, nsup, nviol = acc
    kkt = _violator_kkt(cscores, nsup + nviol, kkt)
    return np.array([rr, pen, cx, kkt, smax, cmax, nsup, nviol], dtype=np.float64)


_pack_cand = njit(cache=True, nogil=True)(_pack_cand)


@njit(cache=True, nogil=True, fastmath=_FM)
def _banded_scores_cand_into(x, nz, r, kernels, n_samples, shift, n_rows, thresh, positive,
                             cand, cscores, corr, store):
    """Body of :func:`banded_scores_cand` (``store=False``: ``corr`` is one
    block of scratch) and :func:`banded_scores_cand_store` (``store=True``:
    ``corr`` receives ``A^T r``)."""
    P = kernels.shape[0]
    ts = 1 if thresh.size > 1 else 0
    rr = 0.0
    for i in range(n_rows):
        rr += r[i] * r[i]
    acc = (0.0, 0.0, 0.0, 0.0, 0.0, 0, 0)
    u = 0
    # (nz of at least x.size entries stands for every coordinate and is not
    # read, whatever _DENSE_NZ: the first test keeps that contract independent
    # of it)
    dense = nz.size >= x.size or nz.size * _DENSE_NZ > x.size
    fl = np.empty(_BLOCK, dtype=np.uint8)
    for p in range(P):
        base = p * n_samples
        for j0 in range(0, n_samples, _BLOCK):
            j1 = min(j0 + _BLOCK, n_samples)
            buf = corr[base + j0: base + j1] if store else corr[: j1 - j0]
            _banded_corr_block(r, kernels, p, j0, j1, shift, n_rows, buf)
            acc, u = _fold_scores_cand(x, nz, u, buf, thresh, ts, positive, base + j0,
                                       base + j1, cand, cscores, acc, dense, fl)
    return _pack_cand(rr, acc, cscores)


@njit(cache=True, nogil=True)
def banded_scores_cand(x, nz, r, kernels, n_samples, shift, n_rows, thresh, positive, cand,
                       cscores):
    """As :func:`banded_scores`, but listing the candidates instead of writing
    a score per coefficient: every coordinate with a positive score (the
    support, score inf, and the violators), in index order, in ``cand[:n_support
    + n_violators]``, their scores in ``cscores``.  ``nz``: sorted flat indices
    that include every nonzero of ``x`` (``x`` is read there only); any array
    of at least ``x.size`` entries stands for every coordinate and is not read
    (the dense pass: no ``arange`` to form, and fault in, per check).  ``cand`` and
    ``cscores`` must have ``P * n_samples`` entries: the dense pass writes one
    entry per coordinate before the count decides whether it stays."""
    return _banded_scores_cand_into(x, nz, r, kernels, n_samples, shift, n_rows, thresh,
                                    positive, cand, cscores, np.empty(_BLOCK), False)


@njit(cache=True, nogil=True)
def banded_scores_cand_store(x, nz, r, kernels, n_samples, shift, n_rows, thresh, positive,
                             cand, cscores, corr):
    """As :func:`banded_scores_cand`, also storing ``corr = A^T r`` (flat,
    length ``P * n_samples``) for :func:`scores_cand_from_corr` after
    :func:`banded_gram_update`."""
    return _banded_scores_cand_into(x, nz, r, kernels, n_samples, shift, n_rows, thresh,
                                    positive, cand, cscores, corr, True)


@njit(cache=True, nogil=True, fastmath=_FM)
def scores_cand_from_corr(x, nz, r, corr, thresh, positive, cand, cscores):
    """As :func:`banded_scores_cand`, given ``corr = A^T r`` (no correlation pass)."""
    n = corr.size
    ts = 1 if thresh.size > 1 else 0
    rr = 0.0
    for i in range(r.size):
        rr += r[i] * r[i]
    acc = (0.0, 0.0, 0.0, 0.0, 0.0, 0, 0)
    u = 0
    # (nz of at least x.size entries stands for every coordinate and is not
    # read, whatever _DENSE_NZ: the first test keeps that contract independent
    # of it)
    dense = nz.size >= x.size or nz.size * _DENSE_NZ > x.size
    fl = np.empty(_BLOCK, dtype=np.uint8)
    for i0 in range(0, n, _BLOCK):
        i1 = min(i0 + _BLOCK, n)
        acc, u = _fold_scores_cand(x, nz, u, corr[i0:i1], thresh, ts, positive, i0, i1, cand,
                                   cscores, acc, dense, fl)
    return _pack_cand(rr, acc, cscores)


def gram_stencils(T):
    """``W[p, q, L - 1 + k]``: inner product of the complete columns (kernel ``p``
    at row ``s``) and (kernel ``q`` at row ``s + k``), ``|k| < L``, from the
    kernel cross-products ``T`` (:func:`kernel_cross_products`)."""
    P, L = T.shape[0], T.shape[2]
    W = np.empty((P, P, 2 * L - 1))
    for k in range(L):
        W[:, :, L - 1 + k] = T[:, :, k]
        W[:, :, L - 1 - k] = T[:, :, k].T
    return W


@njit(cache=True, nogil=True, fastmath=_FM)
def banded_gram_update(corr, ws, delta, kernels, T, W, n_samples, shift, n_rows):
    """``corr -= A^T A[:, ws] delta``: ``corr = A^T r`` follows the residual
    ``r - A[:, ws] delta`` (a change ``delta`` of the coefficients ``ws``) at
    ``(2 L - 1) P`` multiply-adds per changed coefficient.  ``T``: kernel
    cross-products (:func:`kernel_cross_products`), ``W``: their stencils
    (:func:`gram_stencils`) for complete columns."""
    P, L = kernels.shape
    for i in range(ws.size):
        d = delta[i]
        if d == 0.0:
            continue
        c = ws[i]
        p = 0 if P == 1 else c // n_samples
        j = c - p * n_samples
        s = j - shift
        k0 = -(L - 1) if j >= L - 1 else -j
        k1 = L - 1 if j + L - 1 < n_samples else n_samples - 1 - j
        interior = s + k0 >= 0 and s + k1 + L <= n_rows
        for q in range(P):
            base = q * n_samples + j
            if interior:
                wv = W[p, q, L - 1 + k0: L + k1]
                cv = corr[base + k0: base + k1 + 1]
                for m in range(k1 - k0 + 1):
                    cv[m] -= d * wv[m]
            else:
                for k in range(k0, k1 + 1):
                    if k >= 0:
                        v = _column_inner(kernels, T, p, s, q, s + k, n_rows)
                    else:
                        v = _column_inner(kernels, T, q, s + k, p, s, n_rows)
                    corr[base + k] -= d * v


@njit(cache=True, nogil=True)
def _candidates_above(cand, cscores, n_cand, tau, n_ties, ws):
    """The candidates with score inf or > tau, plus the first ``n_ties`` equal to
    tau, written to the front of ``ws``, which must hold at least ``n_cand``
    entries (every candidate is written there before the count decides whether
    it stays; numba does not check bounds); returns that view.

    Branch-free (every candidate is written, the count advances by the test):
    the test is a coin flip for most candidates, and a branch on it cost
    ~1.5 ms per selection among 2.5e5-4e5 candidates (now ~0.15 ms)."""
    i = 0
    for u in range(n_cand):
        s = cscores[u]
        first = (s == np.inf) | (s > tau)
        tie = (s == tau) & (n_ties > 0) & ~first
        ws[i] = cand[u]
        i += first | tie
        n_ties -= tie
    return ws[:i]


@njit(cache=True, nogil=True)
def _finite(vals, n, m, stride):
    """Every ``stride``-th finite entry of ``vals[:n]`` (``m`` finite entries).

    Branch-free, as :func:`_candidates_above` (no modulo either)."""
    out = np.empty(m // stride + 2)
    last = out.size - 1
    i = 0
    j = 0  # finite entries seen
    nxt = 0  # index (among them) of the next one taken
    for u in range(n):
        v = vals[u]
        fin = v < np.inf
        take = fin & (j == nxt)
        out[min(i, last)] = v
        i += take
        nxt += stride * take
        j += fin
    return out[:min(i, last)]


# above this many violators the working set's score threshold is the quantile
# of a regular subsample of about this size (the working set size is then
# approximate: its exact value matters to nothing but the run time)
_SAMPLE = 32768


def select_from_candidates(cand, cscores, n_support, n_violators, ws_size, out=None):
    """As :func:`select_working_set`, given the candidates (``cand[:n_support +
    n_violators]``: every coordinate with a positive score, in index order) and
    their scores ``cscores`` (inf on the support).

    With more than ``4 * _SAMPLE`` violators to choose from, the threshold is
    estimated on a regular subsample: about (not exactly) ``ws_size``
    coordinates are returned.  ``out`` (optional, int64, at least ``n_support +
    n_violators`` long, not ``cand``): the working set is written to its front
    and returned as a view of it (a buffer reused by every outer iteration saves
    the first-touch page faults of a new array).
    """
    n_cand = n_support + n_violators
    k = max(ws_size - n_support, 0)
    if out is None:
        out = np.empty(n_cand, dtype=np.int64)
    if n_violators <= k:
        out[:n_cand] = cand[:n_cand]
        return out[:n_cand]
    if k == 0:
        return _candidates_above(cand, cscores, n_cand, np.inf, 0, out)
    if n_violators > 4 * _SAMPLE:
        vals = _finite(cscores, n_cand, n_violators, n_violators // _SAMPLE)
        m = vals.size
        j = min(max(m - int(round(k * m / n_violators)), 0), m - 1)
        tau = np.partition(vals, j)[j]
        return _candidates_above(cand, cscores, n_cand, tau, 0, out)
    vals = _finite(cscores, n_cand, n_violators, 1)
    m = vals.size
    vals = np.partition(vals, m - k)
    tau = vals[m - k]
    n_ties = k - int(np.count_nonzero(vals[m - k:] > tau))
    return _candidates_above(cand, cscores, n_cand, tau, n_ties, out)


@njit(cache=True, nogil=True, fastmath=_FM)
def banded_epoch_violation(xw, r, ws, kernels, cumsq, n_samples, shift, n_rows, thresh,
                           positive, ahead=0):
    """One epoch of :func:`banded_epochs_ws` on the working set's coefficients
    ``xw`` (``xw[i]`` is coefficient ``ws[i]``, kept contiguous during the
    working-set solve: a scattered ``x[ws[i]]`` costs a cache miss per
    coordinate on sparse working sets); returns ``(changes, violation)`` with
    ``violation`` the largest KKT distance of a coordinate just before its
    update (the inner stopping measure, measured on the way).

    (The body repeats :func:`banded_epochs_ws` on purpose: the shared update
    as a helper function, even inlined, made the epochs up to 1.8x slower.)

    The step divides by the squared column norm through its reciprocal (one
    per kernel for complete columns): a multiplication is shorter on the
    dependency chain that runs from one update to the next overlapping one.

    ``ahead`` > 0: while updating ``ws[i]``, prefetch the residual rows (and
    the threshold, when there is one per coefficient) of ``ws[i + ahead]``
    (see ``_PREFETCH_AHEAD``); a hint only, the result is bit-identical.
    """
    P, L = kernels.shape
    ts = 1 if thresh.size > 1 else 0
    changes = 0
    worst = 0.0
    inv_full = np.empty(P)
    for p in range(P):
        inv_full[p] = 1.0 / cumsq[p, L] if cumsq[p, L] > 0.0 else 0.0
    n_ws = ws.size
    for i in range(n_ws):
        if ahead > 0 and i + ahead < n_ws:
            # the rows of a coming column: one hint per 64-byte line, and its last row
            c = ws[i + ahead]
            p = 0 if P == 1 else c // n_samples
            _prefetch_rows(r, c - p * n_samples - shift, L, n_rows)
            if ts == 1:
                _prefetch(thresh, c)
        c = ws[i]
        p = 0 if P == 1 else c // n_samples
        start = c - p * n_samples - shift
        l0 = -start if start < 0 else 0
        l1 = n_rows - start if n_rows - start < L else L
        if l1 <= l0:
            continue
        if l0 == 0 and l1 == L:
            inv = inv_full[p]
            if inv == 0.0:
                continue
        else:
            nrm = cumsq[p, l1] - cumsq[p, l0]
            if nrm == 0.0:
                continue
            inv = 1.0 / nrm
        m = l1 - l0
        kv = kernels[p, l0:l1]
        rv = r[start + l0: start + l1]
        g = 0.0
        for q in range(m):
            g += kv[q] * rv[q]
        old = xw[i]
        t = thresh[c * ts]
        dv = _dist1(old, g, t, positive)
        if dv > worst:
            worst = dv
        new = _prox1(old + g * inv, t * inv, positive)
        if new != old:
            d = new - old
            # (the residual indexed directly, not through the slice ``rv``: the same
            # operations on the same elements, hence the same bits; on the ECG
            # detector's kernels of 32-38 taps, about 25-30 % less time per epoch)
            base = start + l0
            for q in range(m):
                r[base + q] -= d * kv[q]
            xw[i] = new
            if (new > 0.0) != (old > 0.0) or (new < 0.0) != (old < 0.0):
                changes += 1
    return changes, worst


# kernels shorter than this use banded_epoch_violation_short
_SHORT_TAPS = 32


@njit(cache=True, nogil=True, fastmath=_FM, inline="always")
def _dot4(kf, k0, r, base, m):
    """``sum_q kf[k0 + q] r[base + q]`` for ``q < m`` in four interleaved partial sums
    (taps ``q = 0, 4, 8, ...``, ``1, 5, ...``, ... then the remainder into the
    first), added as ``(g0 + g1) + (g2 + g3)``: the inner product of both paths of
    :func:`banded_epoch_violation_short`, inlined (November 2026, its epochs on 11
    captured working sets of N = 1e6, Lh = 12, 2.7e4-1.4e5 coordinates: the same
    bits and, within noise, the same time as the sum written out in each path)."""
    m4 = m - m % 4
    g0 = 0.0
    g1 = 0.0
    g2 = 0.0
    g3 = 0.0
    for q in range(0, m4, 4):
        g0 += kf[k0 + q] * r[base + q]
        g1 += kf[k0 + q + 1] * r[base + q + 1]
        g2 += kf[k0 + q + 2] * r[base + q + 2]
        g3 += kf[k0 + q + 3] * r[base + q + 3]
    for q in range(m4, m):
        g0 += kf[k0 + q] * r[base + q]
    return (g0 + g1) + (g2 + g3)


@njit(cache=True, nogil=True, fastmath=_FM, inline="always")
def _axpy4(r, base, d, kf, k0, m):
    """``r[base + q] -= d kf[k0 + q]`` for ``q < m``, four taps per step: the residual
    update of :func:`banded_epoch_violation_short` (inlined)."""
    m4 = m - m % 4
    for q in range(0, m4, 4):
        r[base + q] -= d * kf[k0 + q]
        r[base + q + 1] -= d * kf[k0 + q + 1]
        r[base + q + 2] -= d * kf[k0 + q + 2]
        r[base + q + 3] -= d * kf[k0 + q + 3]
    for q in range(m4, m):
        r[base + q] -= d * kf[k0 + q]


@njit(cache=True, nogil=True, fastmath=_FM)
def banded_epoch_violation_short(xw, r, ws, kernels, cumsq, n_samples, shift, n_rows,
                                 thresh, positive, ahead=0, i_lo=0, i_hi=0):
    """:func:`banded_epoch_violation` for short kernels (fewer than
    ``_SHORT_TAPS`` taps): the taps are indexed directly instead of through
    slices of the kernel and of the residual (N = 1e6, Lh = 12, working sets of
    1e5-2.3e5 coordinates: 8-20 % less time per epoch; Lh = 48 and 70 are
    slower this way, hence the two kernels, chosen by the design: a run-time
    switch inside one kernel slowed both forms); ``ahead`` as there.

    ``i_lo``, ``i_hi``: with one kernel and no prefetch hints, the positions
    ``ws[i_lo:i_hi]`` take a short path without the edge cases; every one of
    them must have its column inside the rows (start ``ws[i] - shift`` in
    ``0 .. n_rows - L``: see ``BandedDesign.cd_inside_range``).  Same arithmetic
    as the general path (N = 1e6, Lh = 12, working sets of 1e5-2.3e5
    coordinates: ~15 % less time per epoch).

    The column's inner product is summed in four interleaved partial sums
    (taps ``q = 0, 4, 8, ...``, ``1, 5, ...``, ... then the remainder into the
    first), and the residual updated four taps per step: Lh = 12, working sets of
    1e5-2.3e5 coordinates, 17-20 % less time per epoch than one running sum.
    The sum is rounded differently from :func:`banded_epoch_violation`'s (same
    updates up to rounding).

    No branch on the coefficient or its gradient: the soft threshold and the
    KKT distance are selects (:func:`_prox1_select`, :func:`_dist1_select`), and
    the residual update and the sign-change count run for every coordinate (an
    unchanged coefficient adds exact zeros).  On dense supports whether a
    coefficient is zero, or stays so, is a coin flip for the branch predictor:
    N = 1e6, Lh = 12, lam = 0.01 lam_max, epochs from the four captured
    working-set starts of its solve (1.0e5-2.3e5 coordinates), 24-32 % less time
    per epoch (signed; 14-21 % non-negative), with the same coefficients,
    residual and returned measures (``np.array_equal``; an exact zero of the
    residual may change sign).  Not used in :func:`banded_epoch_violation` (kernels
    of 32 taps or more): there the skipped residual update of an unchanged
    coefficient is worth more, and the select forms alone gained nothing at
    Lh = 70."""
    P, L = kernels.shape
    ts = 1 if thresh.size > 1 else 0
    changes = 0
    worst = 0.0
    inv_full = np.empty(P)
    for p in range(P):
        inv_full[p] = _inv_energy(cumsq[p, L])
    n_ws = ws.size
    kf = np.ascontiguousarray(kernels).ravel()  # the taps, flat (kernel p at p * L)
    # one kernel, no prefetch hints: the coordinates ws[i_lo:i_hi] (columns
    # inside the rows, the caller's guarantee) take a short path without the edge
    # cases
    inv1 = inv_full[0]
    if P != 1 or ahead != 0 or inv1 == 0.0:
        i_lo = i_hi = 0
    for i in range(n_ws):
        if i >= i_lo and i < i_hi:
            # the general path below for l0 = 0, l1 = L (k0 = 0), the same helpers
            # (tests/test_solvers_perf_paths.py::
            # test_short_epoch_inside_path_equals_general_path checks the bits)
            c = ws[i]
            base = c - shift
            g = _dot4(kf, 0, r, base, L)
            old = xw[i]
            t = thresh[c * ts]
            worst = max(worst, _dist1_select(old, g, t, positive))
            new = _prox1_select(old + g * inv1, t * inv1, positive)
            # (unconditional: adds exact zeros when new == old)
            _axpy4(r, base, new - old, kf, 0, L)
            xw[i] = new
            changes += ((new > 0.0) != (old > 0.0)) | ((new < 0.0) != (old < 0.0))
            continue
        if ahead > 0 and i + ahead < n_ws:
            # the rows of a coming column: one hint per 64-byte line, and its last row
            c = ws[i + ahead]
            p = 0 if P == 1 else c // n_samples
            _prefetch_rows(r, c - p * n_samples - shift, L, n_rows)
            if ts == 1:
                _prefetch(thresh, c)
        c = ws[i]
        p = 0 if P == 1 else c // n_samples
        start = c - p * n_samples - shift
        l0 = -start if start < 0 else 0
        l1 = n_rows - start if n_rows - start < L else L
        if l1 <= l0:
            continue
        if l0 == 0 and l1 == L:
            inv = inv_full[p]
            if inv == 0.0:
                continue
        else:
            inv = _inv_energy(cumsq[p, l1] - cumsq[p, l0])
            if inv == 0.0:
                continue
        m = l1 - l0
        base = start + l0
        k0 = p * L + l0
        # four partial sums: a single chain of m dependent multiply-adds (the
        # remainder loop of a vectorized sum, too short for its vector body) was
        # the latency of an update
        g = _dot4(kf, k0, r, base, m)
        old = xw[i]
        t = thresh[c * ts]
        worst = max(worst, _dist1_select(old, g, t, positive))
        new = _prox1_select(old + g * inv, t * inv, positive)
        _axpy4(r, base, new - old, kf, k0, m)
        xw[i] = new
        changes += ((new > 0.0) != (old > 0.0)) | ((new < 0.0) != (old < 0.0))
    return changes, worst


def warmup():
    """Compile (or load from cache) every kernel on tiny inputs."""
    x = np.zeros(2)
    r = np.ones(3)
    ws = np.arange(2, dtype=np.int64)
    t = np.ones(2)
    k = np.ones((1, 2))
    banded_epochs(x, r, ws, k, 2, 0, 3, np.ones(2), t, False, 1)
    banded_violation(x, r, ws, k, 2, 0, 3, t, False)
    banded_apply_delta(r, ws, x, k, 2, 0, 3)
    cs = np.zeros((1, 3))
    cs[0, 1:] = np.cumsum(k[0] ** 2)
    sc = np.zeros(2)
    banded_scores(x, r, k, 2, 0, 3, t, False, sc)
    st = banded_scores(x, r, k, 2, 0, 3, t, True, sc)
    select_working_set(sc, int(st[6]), int(st[7]), 1)
    banded_epochs_ws(x, r, ws, k, cs, 2, 0, 3, t, False, 1)
    banded_epochs_ws(x, r, ws, k, cs, 2, 0, 3, t, True, 1)
    banded_violation_ws(x, r, ws, k, 2, 0, 3, t, False)
    banded_delta_rr(r, ws, x, k, 2, 0, 3)
    banded_residual(r, x, k, 2, 0, 3, r.copy())
    banded_correlate(r, k, 2, 0, 3, sc)
    T = kernel_cross_products(k)
    banded_newton(x, r, ws, k, T, 2, 0, 3, t, False, ahead=0)
    banded_gram_update(sc, ws, x, k, T, gram_stencils(T), 2, 0, 3)
    cand = np.zeros(2, dtype=np.int64)
    for pos in (False, True):
        for th in (t, t[:1]):
            banded_scores_cand(x, ws, r, k, 2, 0, 3, th, pos, cand, sc)
            banded_scores_cand_store(x, ws, r, k, 2, 0, 3, th, pos, cand, sc, sc.copy())
            scores_cand_from_corr(x, ws, r, sc.copy(), th, pos, cand, sc)
            banded_epoch_violation(x, r, ws, k, cs, 2, 0, 3, th, pos, 1)
            banded_epoch_violation_short(x, r, ws, k, cs, 2, 0, 3, th, pos, 1, 0, 0)
    st = banded_scores_cand(x, ws, r, k, 2, 0, 3, t, False, cand, sc)
    select_from_candidates(cand, sc, int(st[6]), int(st[7]), 1)
    newton_dirty_positions(ws, x, x, 0.0, 2)
    fl = np.ones(2, dtype=np.uint8)
    for pos in (False, True):
        for th in (t, t[:1]):
            banded_epoch_violation_dirty(x, r, ws, k, cs, 2, 0, 3, th, pos, fl, sc, 0.0, 0, 0)
    flags_after_epoch(ws, x, x.copy(), 1.0, 2, 0.0, fl, sc)
    flag_overlapping(ws, ws, 2, fl)
    carry_values(ws, x, ws, 0.0, sc)


@njit(cache=True, nogil=True)
def newton_dirty_positions(ws, xw, prev, tau, L):
    """Positions (into ``ws``) of the support blocks that a Newton step may still move.

    One kernel, ``ws`` sorted (so sorted by start too): the support of ``xw``
    (``xw[i]`` is coefficient ``ws[i]``) splits into blocks of columns whose
    consecutive indices are less than ``L`` apart.  A block is returned (the
    positions of its nonzero coefficients, increasing) when some coefficient of
    ``ws`` within ``L - 1`` of it moved by more than ``tau`` since the snapshot
    ``prev``: the others kept their face gradient (to about ``tau`` times the
    column energy) since the last Newton step.  The snapshot is retaken after
    each step, so moves below ``tau`` can add up over several steps: the
    restricted step equals the full one up to that skip level (1e-9 of the
    threshold), which cannot change the optimum (the outer checks use ``x``).

    One pass over ``ws``, with a second pointer at the first moved coefficient
    not below the current block's reach (both only advance: the blocks come in
    increasing order).  (Compiled since November 2026: the numpy form made six
    passes and five length-support temporaries, ~2.4 ms a call on 2.3e5
    coordinates; its cache load now falls into :func:`warmup`.)

    Returns
    -------
    ndarray of int64
        A view of a length-``ws.size`` buffer.
    """
    n = ws.size
    out = np.empty(n, dtype=np.int64)
    m = 0
    j = 0  # first position that may hold a moved coefficient within reach
    i = 0
    while i < n:
        if xw[i] == 0.0:
            i += 1
            continue
        # the block starting at position i: nonzeros less than L apart
        first = ws[i]
        last = first
        end = i + 1
        p = i + 1
        while p < n:
            if xw[p] != 0.0:
                if ws[p] - last >= L:
                    break
                last = ws[p]
                end = p + 1
            p += 1
        lo = first - (L - 1)
        while j < n and (ws[j] < lo or not abs(xw[j] - prev[j]) > tau):
            j += 1
        if j < n and ws[j] <= last + (L - 1):
            for q in range(i, end):
                if xw[q] != 0.0:
                    out[m] = q
                    m += 1
        i = p
    return out[:m]


@njit(cache=True, nogil=True, fastmath=_FM)
def banded_epoch_violation_dirty(xw, r, ws, kernels, cumsq, n_samples, shift, n_rows,
                                 thresh, positive, dirty, pend, slack, i_lo=0, i_hi=0):
    """:func:`banded_epoch_violation_short` restricted to the coordinates flagged
    in ``dirty`` (one kernel, ``ws`` sorted; ``dirty[i]`` and ``pend[i]`` for
    ``ws[i]``).

    A visited coordinate is unflagged and its ``pend`` zeroed: an exact
    coordinate minimisation leaves its KKT distance at zero.  When a coefficient
    changes by ``d``, the correlation of every overlapping column (index less
    than ``L`` away) changes by at most ``|d| ||h||^2`` (Cauchy-Schwarz), which
    is added to its ``pend``: a bound on its KKT distance since its last visit.
    A coordinate is flagged once its bound exceeds ``slack``: those after the
    changed one are visited later in this epoch, those before it in the next
    one.  So every unflagged coordinate has a KKT distance of at most ``slack``
    (given that the caller keeps ``pend`` a valid bound for every unflagged
    coordinate: at the start of a working set's solve it flags every coordinate
    without one, i.e. all of them, or with a carried state the new ones and those
    whose carried bound exceeds ``slack``; after a step that moves coefficients
    outside the epochs, e.g. a Newton step, it flags the neighbours of the moved
    ones and treats them as unbounded until visited), and the returned violation
    is the largest distance of the visited coordinates: with ``slack`` below the
    inner tolerance, the epoch ends the working-set solve when every coordinate's
    distance is below that tolerance, as a full epoch
    (:func:`banded_epoch_violation_short`) would, up to the order in which the
    distances are measured (a full epoch measures each one before its own update,
    after the updates of the coordinates before it).  An epoch costs the coordinates
    near the ones that still move: in the last working sets of a solve (a few
    violators added to a settled support) a few blocks instead of the whole
    support.

    Returns ``(changes, violation, n_visited)``.
    """
    P, L = kernels.shape
    ts = 1 if thresh.size > 1 else 0
    changes = 0
    worst = 0.0
    visited = 0
    energy = cumsq[0, L]
    inv1 = _inv_energy(energy)
    kf = np.ascontiguousarray(kernels).ravel()
    if inv1 == 0.0:
        i_lo = i_hi = 0
    n_ws = ws.size
    for i in range(n_ws):
        if dirty[i] == 0:
            continue
        dirty[i] = 0
        pend[i] = 0.0
        visited += 1
        c = ws[i]
        start = c - shift
        if i >= i_lo and i < i_hi:
            base = start
            k0 = 0
            m = L
            inv = inv1
        else:
            l0 = -start if start < 0 else 0
            l1 = n_rows - start if n_rows - start < L else L
            if l1 <= l0:
                continue
            inv = inv1 if (l0 == 0 and l1 == L) else _inv_energy(cumsq[0, l1] - cumsq[0, l0])
            if inv == 0.0:
                continue
            m = l1 - l0
            base = start + l0
            k0 = l0
        g = _dot4(kf, k0, r, base, m)
        old = xw[i]
        t = thresh[c * ts]
        worst = max(worst, _dist1_select(old, g, t, positive))
        new = _prox1_select(old + g * inv, t * inv, positive)
        if new != old:
            d = new - old
            _axpy4(r, base, d, kf, k0, m)
            xw[i] = new
            changes += ((new > 0.0) != (old > 0.0)) | ((new < 0.0) != (old < 0.0))
            bound = abs(d) * energy
            k = i - 1
            while k >= 0 and ws[k] > c - L:
                pk = pend[k] + bound
                pend[k] = pk
                if pk > slack:
                    dirty[k] = 1
                k -= 1
            k = i + 1
            while k < n_ws and ws[k] < c + L:
                pk = pend[k] + bound
                pend[k] = pk
                if pk > slack:
                    dirty[k] = 1
                k += 1
    return changes, worst, visited


@njit(cache=True, nogil=True)
def flag_overlapping(ws, pos, L, dirty):
    """Flag in ``dirty`` the positions ``pos`` of the sorted ``ws`` and every
    position whose index is less than ``L`` from one of them."""
    n_ws = ws.size
    for u in range(pos.size):
        i = pos[u]
        c = ws[i]
        dirty[i] = 1
        k = i - 1
        while k >= 0 and ws[k] > c - L:
            dirty[k] = 1
            k -= 1
        k = i + 1
        while k < n_ws and ws[k] < c + L:
            dirty[k] = 1
            k += 1


@njit(cache=True, nogil=True)
def carry_values(old_ws, old_vals, ws, fill, out):
    """``out[i]`` = the value of coordinate ``ws[i]`` in ``old_vals`` (``old_vals[j]``
    is that of ``old_ws[j]``), or ``fill`` where ``ws[i]`` is not in ``old_ws``
    (both sorted, distinct); returns ``out[:ws.size]``."""
    j = 0
    n_old = old_ws.size
    for i in range(ws.size):
        c = ws[i]
        while j < n_old and old_ws[j] < c:
            j += 1
        out[i] = old_vals[j] if (j < n_old and old_ws[j] == c) else fill
    return out[:ws.size]


@njit(cache=True, nogil=True, fastmath=_FM)
def flags_after_epoch(ws, xw, prev, energy, L, slack, dirty, pend):
    """Bounds and flags of :func:`banded_epoch_violation_dirty` after a full epoch
    (every coordinate visited, in ``ws`` order) that took the coefficients from
    ``prev`` to ``xw``: the KKT distance of ``ws[i]`` is then at most ``energy``
    times the moves of the later coordinates whose columns overlap its own
    (``pend[i]``), flagged when above ``slack``; returns the number flagged."""
    n_ws = ws.size
    n_flag = 0
    for i in range(n_ws):
        c = ws[i]
        acc = 0.0
        k = i + 1
        while k < n_ws and ws[k] < c + L:
            acc += abs(xw[k] - prev[k])
            k += 1
        p = acc * energy
        pend[i] = p
        f = p > slack
        dirty[i] = f
        n_flag += f
    return n_flag
