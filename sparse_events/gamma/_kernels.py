"""Compiled helpers of the gamma estimators (correlation, support refit)."""

from __future__ import annotations

import numba
import numpy as np
from scipy.linalg import LinAlgError, solveh_banded
from scipy.optimize import lsq_linear

__all__ = ["correlate_pulse", "refit_support", "screen_runs", "group_starts", "group_sums",
           "first_nonfinite", "group_means",
           "group_means_into", "merge_small_groups_runs", "merge_correlated_events"]


@numba.njit(cache=True)
def _first_nonfinite_kernel(y):
    for i in range(y.size):
        if not np.isfinite(y[i]):
            return i
    return -1


def first_nonfinite(y, block=1 << 24):
    """Index of the first NaN or infinite sample of a 1-D array, or -1 (no temporaries)."""
    for a in range(0, y.shape[0], block):
        seg = y[a: a + block]
        if not seg.flags.c_contiguous:
            seg = np.ascontiguousarray(seg)
        k = _first_nonfinite_kernel(seg)
        if k >= 0:
            return a + k
    return -1


@numba.njit(cache=True)
def _correlate_kernel(y, p, out):
    n = out.size
    L = p.size
    m = y.size
    for i in range(n):
        acc = 0.0
        kmax = min(L, m - i)
        for k in range(kmax):
            acc += p[k] * y[i + k]
        out[i] = acc


def correlate_pulse(y, p):
    """``c[i] = sum_k p[k] y[i + k]`` for every ``i`` of ``y`` (``H^T y``, causal ``H``).

    Samples past the end of ``y`` count as zero (truncated pulses at the end).
    """
    y = np.ascontiguousarray(y, dtype=np.float64)
    out = np.empty(y.size)
    _correlate_kernel(y, np.ascontiguousarray(p, dtype=np.float64), out)
    return out


@numba.njit(cache=True, inline="always")
def _corr4(y, p, i, L, out):
    """``out[u] = sum_k p[k] y[i + u + k]`` for ``u < 4`` (``i + 3 + L <= y.size``): the
    sums of four neighbouring coefficients interleaved, each accumulated in the order of
    ``k`` (the same numbers as one at a time)."""
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    for k in range(L):
        pk = p[k]
        a0 += pk * y[i + k]
        a1 += pk * y[i + k + 1]
        a2 += pk * y[i + k + 2]
        a3 += pk * y[i + k + 3]
    out[0] = a0
    out[1] = a1
    out[2] = a2
    out[3] = a3


@numba.njit(cache=True, inline="always")
def _last_active(y, n, p, L, pre, thr, lo, hi, cbuf):
    """Largest ``t`` in ``[lo, hi]`` with ``c_t > thr`` (``-1`` if none), ``c_t`` as in the
    forward scan of :func:`_screen_kernel`: computed only where some ``y[t + k] > pre``
    (the same predicate, from the nearest such sample at or after ``t``), summed in the
    order of ``k``.  ``hi`` alone first (at high rates usually active), then four
    neighbours at once where the pulse fits in the record."""
    # nearest: the smallest j >= t with y[j] > pre (n if none before the window's end)
    nearest = n
    e = hi + L if hi + L < n else n
    for j in range(e - 1, hi, -1):
        if y[j] > pre:
            nearest = j
    t = hi
    first = True
    while t >= lo:
        if y[t] > pre:
            nearest = t
        if nearest >= t + L or nearest >= n:
            # no sample of the window above pre: c_t <= thr
            t -= 1
            continue
        if not first and t - 3 >= lo and t + L <= n:
            _corr4(y, p, t - 3, L, cbuf)
            for u in range(3, -1, -1):
                q = t - 3 + u
                if u < 3 and y[q] > pre:
                    nearest = q
                if cbuf[u] > thr and nearest < q + L and nearest < n:
                    return q
            t -= 4
            continue
        first = False
        acc = 0.0
        kmax = L if L < n - t else n - t
        for k in range(kmax):
            acc += p[k] * y[t + k]
        if acc > thr:
            return t
        t -= 1
    return -1


@numba.njit(cache=True)
def _screen_kernel(y, n_coef, p, pre, thr, margin, starts, stops):
    """Runs of coefficients ``i < n_coef`` with ``c_i = sum_k p[k] y[i + k] > thr``.

    ``c_i`` is computed only where some ``y[i + k] > pre`` (with ``p >= 0``
    and ``pre = thr / sum(p)``, ``c_i <= thr`` elsewhere).  A run is
    ``[first - margin, last + L + margin)``; active coefficients closer than
    ``L + 2 margin`` (``gap``) share a run.  The first active coefficient of
    a run is found by a forward scan; from an active coefficient ``i`` the
    run continues if any of ``i + 1 .. i + gap`` is active, and all of them
    belong to it, so those are searched from ``i + gap`` down and the search
    restarts from the last active one found, above the coefficients already
    searched (each ``c`` is computed at most twice: the forward scan's
    4-wide block may already have computed a few coefficients just after a
    run's first one, which the backward search computes again; at high rates
    the first coefficient tried is usually active: about one ``c`` per
    ``gap`` samples instead of one per sample).  The runs are those of the
    coefficient-by-coefficient scan.  Returns the number of runs written.
    """
    n = y.size
    L = p.size
    n_runs = 0
    j = 0
    nh = -1
    gap = L + 2 * margin
    cbuf = np.empty(4)
    cb = -8
    i = 0
    while i < n_coef:
        if nh < i:
            jj = j if j > i else i
            end = i + L if i + L < n else n
            found = -1
            while jj < end:
                if y[jj] > pre:
                    found = jj
                    break
                jj += 1
            if found < 0:
                j = end
                i += 1
                continue
            nh = found
            j = found + 1
        if i >= cb + 4:
            if i + 3 < n_coef and i + 3 + L <= n:
                # four coefficients at once (independent sums, each in the order of k)
                _corr4(y, p, i, L, cbuf)
                cb = i
            else:
                cb = -8
        if cb >= 0 and i >= cb:
            acc = cbuf[i - cb]
        else:
            acc = 0.0
            kmax = L if L < n - i else n - i
            for k in range(kmax):
                acc += p[k] * y[i + k]
        if not acc > thr:
            i += 1
            continue
        # a run starts at i: follow it through active coefficients at most gap apart
        run_first = i
        last = i
        # (last, done]: known inactive (searched by the previous step)
        done = i
        while True:
            top = last + gap if last + gap < n_coef - 1 else n_coef - 1
            nxt = _last_active(y, n, p, L, pre, thr, done + 1, top, cbuf)
            if nxt < 0:
                break
            done = top
            last = nxt
        starts[n_runs] = run_first - margin
        stops[n_runs] = last + L + margin
        n_runs += 1
        # no active coefficient in (last, last + gap]: the forward scan resumes after it
        i = last + gap + 1
        cb = -8
    return n_runs


def screen_runs(y, p, threshold, margin, block=1 << 20):
    """Runs ``[start, stop)`` of samples holding every coefficient with ``H^T y > threshold``.

    Each active coefficient ``i`` contributes ``[i - margin, i + L + margin)``;
    overlapping runs are merged (also across blocks); runs are clipped to the
    signal.  ``p`` must be non-negative.
    """
    n = y.shape[0]
    L = p.size
    p = np.ascontiguousarray(p, dtype=np.float64)
    pre = threshold / p.sum()
    starts, stops = [], []
    for a in range(0, n, block):
        b = min(n, a + block)
        seg = y[a: min(n, b + L - 1)]
        if seg.dtype not in (np.float32, np.float64) or not seg.flags.c_contiguous:
            seg = np.ascontiguousarray(seg, dtype=np.float64)
        cap = (b - a) // (L + 2 * margin) + 2
        s = np.empty(cap, dtype=np.int64)
        e = np.empty(cap, dtype=np.int64)
        k = _screen_kernel(seg, b - a, p, pre, threshold, margin, s, e)
        if k:
            starts.append(s[:k] + a)
            stops.append(e[:k] + a)
    if not starts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    s = np.maximum(np.concatenate(starts), 0)
    e = np.minimum(np.concatenate(stops), n)
    keep = np.ones(s.size, dtype=bool)
    keep[1:] = s[1:] > np.maximum.accumulate(e)[:-1]
    idx = np.flatnonzero(keep)
    return s[idx], np.maximum.reduceat(e, idx)


def _positions(pos):
    """Sorted positions for the group kernels: int64 (sample indices, used as they are: every
    operation on them gives the numbers of their float64 copy, exact below 2**53) or
    float64."""
    if isinstance(pos, np.ndarray) and pos.dtype == np.int64:
        return np.ascontiguousarray(pos)
    return np.ascontiguousarray(pos, dtype=np.float64)


@numba.njit(cache=True)
def _group_starts_kernel(pos, amp, max_gap, max_size, new):
    n = pos.size
    i = 0
    while i < n:
        j = i + 1
        while j < n and pos[j] - pos[j - 1] <= max_gap:
            j += 1
        # run [i, j): consecutive coefficients closer than max_gap
        if j - i <= max_size:
            new[i] = True
        else:
            label = np.full(j - i, -1, dtype=np.int64)
            g = 0
            while True:
                best = -1
                for k in range(i, j):
                    if label[k - i] < 0 and (best < 0 or amp[k] > amp[best]):
                        best = k
                if best < 0:
                    break
                label[best - i] = g
                size = 1
                while size < max_size:
                    left = best - 1
                    while left >= i and label[left - i] == g:
                        left -= 1
                    right = best + 1
                    while right < j and label[right - i] == g:
                        right += 1
                    cand = -1
                    if left >= i and label[left - i] < 0 and pos[left + 1] - pos[left] <= max_gap:
                        cand = left
                    if right < j and label[right - i] < 0 and pos[right] - pos[right - 1] <= max_gap:
                        if cand < 0 or amp[right] > amp[cand]:
                            cand = right
                    if cand < 0:
                        break
                    label[cand - i] = g
                    size += 1
                g += 1
            new[i] = True
            for k in range(i + 1, j):
                new[k] = label[k - i] != label[k - i - 1]
        i = j


def group_starts(pos, amp, max_gap, max_size):
    """Start flags of groups of sorted coefficients: one group per event.

    Consecutive coefficients at most ``max_gap`` apart form a run.  A run of at
    most ``max_size`` coefficients is one group; a longer run (events piled up
    within a few samples) is split greedily: the largest coefficient takes its
    larger free neighbour until its group holds ``max_size`` coefficients, then
    the next largest free coefficient starts a group, and so on.  Groups are
    contiguous.
    """
    pos = _positions(pos)
    amp = np.ascontiguousarray(amp, dtype=np.float64)
    new = np.zeros(pos.size, dtype=np.bool_)
    if pos.size:
        _group_starts_kernel(pos, amp, float(max_gap), int(max_size), new)
    return new


@numba.njit(cache=True)
def _group_sums_kernel(values, first, out):
    n_groups = first.size
    for g in range(n_groups):
        a = first[g]
        b = first[g + 1] if g + 1 < n_groups else values.size
        s = values[a]
        for i in range(a + 1, b):
            s += values[i]
        out[g] = s


def group_sums(values, first):
    """Sums of ``values`` over the groups starting at ``first`` (strictly increasing).

    The groups of ``numpy.add.reduceat(values, first)`` (the group ``g`` is
    ``values[first[g]:first[g + 1]]``, the last one runs to the end), in one
    compiled pass; every group is summed sequentially from its first member
    on, so sums of groups longer than 8 can differ from numpy's (pairwise)
    in the last bits.
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    first = np.ascontiguousarray(first, dtype=np.int64)
    out = np.empty(first.size)
    if first.size:
        _group_sums_kernel(values, first, out)
    return out


@numba.njit(cache=True)
def _group_means_kernel(new, pos, amp, w, first, a, p):
    n_groups = 0
    for i in range(new.size):
        if new[i]:
            first[n_groups] = i
            n_groups += 1
    for g in range(n_groups):
        lo = first[g]
        hi = first[g + 1] if g + 1 < n_groups else pos.size
        s = amp[lo]
        ws = w[lo]
        wp = w[lo] * pos[lo]
        for i in range(lo + 1, hi):
            s += amp[i]
            ws += w[i]
            wp += w[i] * pos[i]
        a[g] = s
        # a group with zero total weight falls back to its first position
        p[g] = wp / ws if ws > 0 else pos[lo]
    return n_groups


def group_means(new, pos, amp, w):
    """Groups flagged by ``new`` (start flags, ``new[0]`` set): weighted mean positions.

    One compiled pass for ``first = flatnonzero(new)``, the summed
    amplitudes ``group_sums(amp, first)`` and the ``w``-weighted mean
    positions ``group_sums(w * pos, first) / group_sums(w, first)`` (the first
    position of a group whose weight sum is not positive), with the same
    sequential sums as :func:`group_sums`.

    Parameters
    ----------
    new : ndarray of bool
        Group start flags.
    pos, amp, w : ndarray of float64
        Positions (float64 or int64), amplitudes and weights, of the length of
        ``new``.

    Returns
    -------
    p, a, first : ndarray
        Mean positions, summed amplitudes and first members of the groups.
    """
    pos = _positions(pos)
    amp = np.ascontiguousarray(amp, dtype=np.float64)
    w = np.ascontiguousarray(w, dtype=np.float64)
    new = np.ascontiguousarray(new, dtype=np.bool_)
    # outputs of their exact size (no copies of over-sized arrays)
    size = int(np.count_nonzero(new))
    first = np.empty(size, dtype=np.int64)
    a = np.empty(size)
    p = np.empty(size)
    _group_means_kernel(new, pos, amp, w, first, a, p)
    return p, a, first


@numba.njit(cache=True)
def _group_means_into_kernel(new, pos, amp, w, extra, p_out, a_out, e_out):
    n = new.size
    g = 0
    lo = 0
    while lo < n:
        hi = lo + 1
        while hi < n and not new[hi]:
            hi += 1
        # every member of group g (at lo >= g and after) is read before index g is written
        s = amp[lo]
        ws = w[lo]
        wp = w[lo] * pos[lo]
        es = extra[lo]
        for i in range(lo + 1, hi):
            s += amp[i]
            ws += w[i]
            wp += w[i] * pos[i]
            es += extra[i]
        pg = wp / ws if ws > 0 else pos[lo]
        a_out[g] = s
        e_out[g] = es
        p_out[g] = pg
        g += 1
        lo = hi
    return g


def group_means_into(new, pos, amp, w, extra, p_out, a_out, e_out):
    """:func:`group_means` (and the group sums of ``extra``) written into given arrays.

    The groups start where ``new`` is set (``new[0]`` must be); group ``g``
    gets its ``w``-weighted mean position ``p_out[g]`` (the first position if
    its weight sum is not positive), amplitude sum ``a_out[g]`` and sum of
    ``extra`` ``e_out[g]``, the same sequential sums as :func:`group_means`
    and :func:`group_sums`.  The outputs may be the inputs' own memory (for
    example ``a_out`` the array ``amp``, ``p_out`` the memory of int64 ``pos``
    viewed as float64): group ``g`` starts at index ``g`` or later, and its
    members are read before index ``g`` is written.  ``pos``: int64 or
    float64; the others float64, all C-contiguous, the outputs at least as
    long as the number of groups.  Returns the number of groups.
    """
    return int(_group_means_into_kernel(new, pos, amp, w, extra, p_out, a_out, e_out))


@numba.njit(cache=True, inline="always")
def _find_merged(state, owner, g):
    while state[g] & 1:
        g = owner[g]
    return g


@numba.njit(cache=True, inline="always")
def _merge_one(g, new, first, gamp, n_groups, min_amplitude, state, owner, lo, hi):
    """One merge step of :func:`merge_small_groups_runs`, in place.

    Parameters
    ----------
    g : int
        Group visited (``0 <= g < n_groups``); the step acts on its current root
        ``r`` (following ``owner`` while bit 1 of ``state`` is set).
    new : ndarray of bool
        Group start flags of the coefficients; the flag at the boundary between
        ``r`` and the group it joins is cleared.
    first : ndarray of int64
        Index (in the coefficients) of each group's first coefficient.
    gamp : ndarray of float64
        Group amplitudes; the joined root's amplitude gets ``gamp[r]`` added.
    n_groups : int
        Number of groups, ``0 .. n_groups - 1``: the groups of one run (the
        caller passes one run at a time, so every neighbour is in the run).
    min_amplitude : float
        ``r`` merges only if ``gamp[r] < min_amplitude``.
    state : ndarray of int8
        Per group: bit 1 set once the group has joined another (``owner``
        valid), bit 2 set once others have joined it (``lo``, ``hi`` valid).
        ``r`` gets bit 1, the root it joins bit 2.
    owner : ndarray of int64
        ``owner[r]`` is set to the root it joins.
    lo, hi : ndarray of int64
        First and last group of a merged root's span; the joined root's span is
        extended over ``r``'s.

    Notes
    -----
    ``r`` joins the larger (``gamp`` of the neighbour's root) of the groups just
    left and right of its span, the left one on a tie; nothing changes if
    ``gamp[r] >= min_amplitude`` or it has no neighbour (a run of one group).
    """
    r = _find_merged(state, owner, g)
    if gamp[r] >= min_amplitude:
        return
    lr = lo[r] if state[r] & 2 else r
    hr = hi[r] if state[r] & 2 else r
    c = -1
    left = False
    for k in (lr - 1, hr + 1):
        if k < 0 or k >= n_groups:
            continue
        f = _find_merged(state, owner, k)
        if c < 0 or gamp[f] > gamp[c]:
            c = f
            left = k < lr
    if c < 0:
        return
    lc = lo[c] if state[c] & 2 else c
    hc = hi[c] if state[c] & 2 else c
    owner[r] = c
    state[r] |= 1
    gamp[c] += gamp[r]
    lo[c] = lc if lc < lr else lr
    hi[c] = hc if hc > hr else hr
    state[c] |= 2
    # the two groups become one: the boundary between them is no longer a group start
    new[first[lr] if left else first[hr + 1]] = False


@numba.njit(cache=True, inline="always")
def _run_end(new, pos, i0, max_gap):
    """End ``i1`` of the run of coefficients starting at ``i0`` (``pos[i] - pos[i - 1] <=
    max_gap`` inside ``[i0, i1)``) and its number of groups (``new[i0]`` counted as one)."""
    n = new.size
    i1 = i0 + 1
    ng = 1
    while i1 < n and not (pos[i1] - pos[i1 - 1] > max_gap):
        if new[i1]:
            ng += 1
        i1 += 1
    return i1, ng


@numba.njit(cache=True)
def _merge_small_runs_kernel(new, pos, amp, min_amplitude, max_gap):
    """Compiled body of :func:`merge_small_groups_runs` (same arguments, ``pos`` int64 or
    float64, ``amp`` float64, both C-contiguous; raises ``ValueError`` if a run does not
    start with a flag)."""
    n = new.size
    # work arrays of the longest run (a first pass finds it; arrays assigned once: no
    # reference counting in the loop), none of every group, whose fresh memory is slow to
    # touch
    cap = 1
    i0 = 0
    while i0 < n:
        if not new[i0]:
            raise ValueError("a run of coefficients does not start a group")
        i1, ng = _run_end(new, pos, i0, max_gap)
        if ng > cap:
            cap = ng
        i0 = i1
    first = np.empty(cap, dtype=np.int64)
    gamp = np.empty(cap)
    buf = np.empty(cap, dtype=np.int64)
    key = np.empty(cap)
    state = np.empty(cap, dtype=np.int8)
    owner = np.empty(cap, dtype=np.int64)
    lo = np.empty(cap, dtype=np.int64)
    hi = np.empty(cap, dtype=np.int64)
    i0 = 0
    while i0 < n:
        # the run of coefficients [i0, i1): no gap above max_gap inside it (its groups can
        # merge only with each other)
        i1, ng = _run_end(new, pos, i0, max_gap)
        if ng > 1:
            # the run's groups (new[i0] is set): first members and amplitudes, summed in
            # order from the first member (as group_sums)
            g = -1
            for i in range(i0, i1):
                if new[i]:
                    g += 1
                    first[g] = i
                    gamp[g] = amp[i]
                else:
                    gamp[g] += amp[i]
            ns = 0
            for g in range(ng):
                state[g] = 0
                if gamp[g] < min_amplitude:
                    buf[ns] = g
                    key[ns] = gamp[g]
                    ns += 1
            if ns > 32:
                # stable sort by amplitude (rare: more than 32 small groups in one run)
                srt = np.argsort(key[:ns], kind="mergesort")
                buf[:ns] = buf[:ns][srt]
            else:
                # stable insertion sort by amplitude (ties keep the order of position)
                for t in range(1, ns):
                    kv = key[t]
                    bv = buf[t]
                    u = t
                    while u > 0 and key[u - 1] > kv:
                        key[u] = key[u - 1]
                        buf[u] = buf[u - 1]
                        u -= 1
                    key[u] = kv
                    buf[u] = bv
            for t in range(ns):
                _merge_one(buf[t], new, first, gamp, ng, min_amplitude, state, owner, lo, hi)
        i0 = i1


def merge_small_groups_runs(new, pos, amp, min_amplitude, max_gap):
    """Merge the groups below ``min_amplitude`` into a neighbour, in the start flags.

    Groups are consecutive coefficients starting where ``new`` is set, inside
    runs of coefficients whose positions are at most ``max_gap`` apart (as
    :func:`group_starts` makes them).  In each run, the groups whose amplitude
    (the sum of their ``amp``, in order from the first member, as
    :func:`group_sums`) is below ``min_amplitude`` are visited in increasing
    order of amplitude (stable: ties in order of position).  A visited group,
    or the merged group it already belongs to, if still below
    ``min_amplitude``, joins the larger (by current merged amplitude) of its
    two neighbouring groups in the same run, the left one on a tie; the two
    become one group with the summed amplitude and the start flag between
    them is cleared.  A group with no neighbour in its run stays.  Runs do
    not interact, so visiting them one at a time in order of position gives
    the flags of the global order of amplitude.

    Parameters
    ----------
    new : ndarray of bool, shape (n,)
        Group start flags, updated in place (only cleared).
    pos : ndarray of int64 or float64, shape (n,)
        Sorted coefficient positions.
    amp : array_like of float, shape (n,)
        Coefficient amplitudes.
    min_amplitude : float
        Groups with a smaller amplitude merge into a neighbour.
    max_gap : float
        Coefficients more than ``max_gap`` apart are in different runs.

    Returns
    -------
    None
        ``new`` is modified in place.

    Raises
    ------
    ValueError
        If ``new``, ``pos`` and ``amp`` differ in length, or a run of
        coefficients does not start with a set flag.
    """
    pos = _positions(pos)
    amp = np.ascontiguousarray(amp, dtype=np.float64)
    if not (new.shape == pos.shape == amp.shape and new.ndim == 1):
        raise ValueError(f"new, pos and amp must be 1-D of one length, got shapes {new.shape}, "
                         f"{pos.shape} and {amp.shape}")
    _merge_small_runs_kernel(new, pos, amp, float(min_amplitude), float(max_gap))


@numba.njit(cache=True)
def _refit_noise_gain(cpos, rho, c0, c1, g0, g1, R, z):
    """``sqrt(e^T R^{-1} e)``: ``R`` the normalized Gram of the coefficients ``cpos[c0:c1]``
    (``rho`` of their lags; written into the work array ``R``), ``e`` the indicator of
    ``cpos[g0:g1]``; by an in-place Cholesky factorization (``z``: work vector), ``inf``
    if it breaks down."""
    m = c1 - c0
    nr = rho.size
    for a in range(m):
        for b in range(a + 1):
            lag = abs(cpos[c0 + a] - cpos[c0 + b])
            R[a, b] = rho[lag] if lag < nr else 0.0
        R[a, a] += 1e-12
    # R = C C^T in the lower triangle
    for a in range(m):
        for b in range(a + 1):
            v = R[a, b]
            for k in range(b):
                v -= R[a, k] * R[b, k]
            if a == b:
                if not v > 0:
                    return np.inf
                R[a, a] = np.sqrt(v)
            else:
                R[a, b] = v / R[b, b]
    # q = e^T R^{-1} e = ||C^{-1} e||^2 (forward substitution)
    q = 0.0
    for a in range(m):
        v = 1.0 if g0 - c0 <= a < g1 - c0 else 0.0
        for k in range(a):
            v -= R[a, k] * z[k]
        z[a] = v / R[a, a]
        q += z[a] * z[a]
    if not (q > 0 and np.isfinite(q)):
        return np.inf
    return np.sqrt(q)


@numba.njit(cache=True)
def _merge_correlated_kernel(cpos, first, pos, amp, rho, a_ref, order, new, max_cols):
    n = pos.size
    nr = rho.size
    left = np.arange(n) - 1
    right = np.arange(n) + 1
    parent = np.arange(n)
    lo = np.arange(n)  # event range of the group a representative heads
    hi = np.arange(n)
    gamp = amp.copy()
    gpw = amp * pos
    R = np.empty((max(max_cols, 1), max(max_cols, 1)))
    z = np.empty(max(max_cols, 1))
    for t in range(n):
        i = order[t]
        ai = gamp[i]
        pi = gpw[i] / ai if ai > 0 else pos[i]
        best = -1
        best_thr = 0.0
        for side in range(2):
            j = left[i] if side == 0 else right[i]
            if j < 0 or j >= n or not gamp[j] > ai:
                continue
            d = abs(gpw[j] / gamp[j] - pi)
            if not d < nr - 1:
                continue
            k = int(d)
            r = rho[k] + (d - k) * (rho[k + 1] - rho[k])
            if r < 0.5:
                continue
            c0 = first[min(lo[i], lo[j])]
            c1 = first[max(hi[i], hi[j]) + 1]
            if c1 - c0 <= max_cols:
                gain = _refit_noise_gain(cpos, rho, c0, c1, first[lo[i]], first[hi[i] + 1],
                                         R, z)
            else:
                gain = 1.0 / np.sqrt(max(1.0 - r * r, 1e-12))
            thr = a_ref * gain
            # of two neighbours, the larger bound; the left one on a tie (to rounding)
            if ai < thr and thr > best_thr * (1.0 + 1e-9):
                best = j
                best_thr = thr
        if best >= 0:
            gamp[best] += ai
            gpw[best] += gpw[i]
            lo[best] = min(lo[best], lo[i])
            hi[best] = max(hi[best], hi[i])
            parent[i] = best
            lft = left[i]
            rgt = right[i]
            if lft >= 0:
                right[lft] = rgt
            if rgt < n:
                left[rgt] = lft
    # groups are runs of consecutive events (merges join neighbouring groups): the roots
    for i in range(n):
        r = i
        while parent[r] != r:
            r = parent[r]
        parent[i] = r
    new[0] = True
    for i in range(1, n):
        new[i] = parent[i] != parent[i - 1]


def merge_correlated_events(pos, amp, rho, a_ref, cpos=None, first=None, max_cols=32):
    """Start flags of the groups left by merging events into a larger, correlated neighbour.

    Events (sorted positions ``pos`` in samples, amplitudes ``amp >= 0``) are
    visited in increasing order of amplitude (stable).  The visited event, or
    the group it heads, of current amplitude ``a`` joins a neighbouring group
    (the nearest on either side) of larger amplitude at a distance ``d``
    between their amplitude-weighted positions if ``rho(d) >= 1/2`` and ``a <
    a_ref * gain``; ``rho`` is the pulse's normalized autocorrelation ``rho[k]``
    (interpolated linearly, 0 from ``len(rho)`` on).  ``gain = sqrt(e^T R^{-1}
    e)`` is the noise gain of the group's summed amplitude in the
    least-squares fit of the coefficients of both groups: ``R[a, b] =
    rho(|c_a - c_b|)`` over their coefficient positions ``c`` (``cpos``; the
    events' coefficients are ``cpos[first[k]:first[k + 1]]``), ``e`` the
    indicator of the group's own coefficients; ``1 / sqrt(1 - rho(d)^2)``
    (one coefficient per event at the positions) without ``cpos`` or above
    ``max_cols`` coefficients.  Of two such neighbours, the one of the larger
    bound is joined (the left one if the bounds agree to a relative ``1e-9``).  Returns the start flags of the groups (``new[0]`` set).
    """
    pos = np.ascontiguousarray(pos, dtype=np.float64)
    amp = np.ascontiguousarray(amp, dtype=np.float64)
    rho = np.ascontiguousarray(rho, dtype=np.float64)
    if pos.shape != amp.shape or pos.ndim != 1:
        raise ValueError(f"pos and amp must be 1-D of one length, got shapes {pos.shape} and "
                         f"{amp.shape}")
    if cpos is None:
        cpos, first, max_cols = np.zeros(pos.size, dtype=np.int64), np.arange(pos.size + 1), 0
    cpos = np.ascontiguousarray(cpos, dtype=np.int64)
    first = np.ascontiguousarray(first, dtype=np.int64)
    if first.size != pos.size + 1:
        raise ValueError(f"first must have {pos.size + 1} entries, got {first.size}")
    new = np.ones(pos.size, dtype=np.bool_)
    if pos.size > 1:
        order = np.argsort(amp, kind="stable")
        _merge_correlated_kernel(cpos, first, pos, amp, np.append(rho, 0.0), float(a_ref),
                                 order, new, int(max_cols))
    return new


def _gram_banded(idx, p, n):
    """Upper banded form of ``A_S^T A_S`` for the support ``idx`` (sorted) of a causal ``H``."""
    L = p.size
    m = idx.size
    # number of later support points within L samples of each point
    reach = np.searchsorted(idx, idx + L, side="left") - np.arange(m) - 1
    u = int(reach.max()) if m else 0
    # cum[d, K] = sum_{k < K} p[k] p[k + d]
    cum = np.zeros((L, L + 1))
    for d in range(L):
        prod = p[: L - d] * p[d:]
        cum[d, 1: L - d + 1] = np.cumsum(prod)
        cum[d, L - d + 1:] = cum[d, L - d]
    ab = np.zeros((u + 1, m))
    for off in range(0, u + 1):
        j = np.arange(m - off)
        l_ = j + off
        d = idx[l_] - idx[j]
        ok = d < L
        K = np.minimum(L - d[ok], n - idx[l_[ok]])
        vals = np.zeros(j.size)
        vals[ok] = cum[d[ok], np.maximum(K, 0)]
        ab[u - off, off:] = vals
    return ab, u


def refit_support(y, p, idx, *, positive=True, max_rounds=20):
    """Least-squares amplitudes on a fixed support: ``min ||y - A_S c||^2`` (``c >= 0``).

    ``A_S`` holds the columns ``idx`` of the causal convolution with ``p``;
    its Gram matrix is banded, so the normal equations are solved by a banded
    Cholesky factorization in ``O(|S| L^2)``.  With ``positive``, coefficients
    that come out negative are removed and the rest refitted (an active-set
    iteration); if that does not settle in ``max_rounds`` rounds, the bounded
    least-squares problem is solved exactly by ``scipy.optimize.lsq_linear``.

    Returns
    -------
    ndarray of shape (len(idx),)
    """
    y = np.ascontiguousarray(y, dtype=np.float64)
    idx = np.asarray(idx, dtype=np.int64)
    n = y.size
    out = np.zeros(idx.size)
    if idx.size == 0:
        return out
    c = correlate_pulse(y, p)
    keep = np.ones(idx.size, dtype=bool)
    for _ in range(max_rounds):
        sub = idx[keep]
        if sub.size == 0:
            return out
        ab, _u = _gram_banded(sub, p, n)
        try:
            x = solveh_banded(ab, c[sub], check_finite=False)
        except LinAlgError:
            break
        if not positive or np.all(x >= 0):
            out[keep] = x
            return out
        where = np.flatnonzero(keep)
        keep[where[x < 0]] = False
    # exact bounded least squares on the support (rare fallback)
    from scipy.sparse import csc_matrix

    L = p.size
    rows, cols, vals = [], [], []
    for j, i in enumerate(idx):
        k = min(L, n - i)
        rows.append(np.arange(i, i + k))
        cols.append(np.full(k, j))
        vals.append(p[:k])
    A = csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                   shape=(n, idx.size))
    lb = 0.0 if positive else -np.inf
    res = lsq_linear(A, y, bounds=(lb, np.inf), method="trf", tol=1e-12, lsmr_tol="auto")
    return res.x
