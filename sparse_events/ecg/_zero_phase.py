"""Zero-phase filtering with two second-order sections, compiled (numba).

:func:`sosfiltfilt` gives, bit for bit, what ``scipy.signal.sosfiltfilt``
gives for a filter of two second-order sections (a Butterworth band-pass of
order 2, the filters of :func:`~sparse_events.ecg.ecg_clean` and of the sparse
detector) with the default odd padding; other filters are passed to scipy.
:func:`sosfiltfilt_pair` filters one signal with two such filters at once.

Why it is faster: scipy's ``sosfilt`` keeps the filter state in memory and
runs one recursion at a time, so it waits on the latency of every
multiply-add chain.  Here the coefficients and the four state values live in
registers and, for a pair of filters, the two independent recursions are
interleaved sample by sample.  The arithmetic is scipy's direct form II
transposed, the same operations in the same order (no fused multiply-add:
numba does not contract them without ``fastmath``), hence the same bits
(checked against scipy in ``tests/test_ecg_zero_phase.py``).  The odd
padding is written in one compiled pass, which can also subtract a constant
(``subtract``: ``ecg_clean`` removes the mean there, without a temporary
array; the same bits as filtering ``x - subtract``).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numba import njit
from scipy import signal as sps

__all__ = ["sosfiltfilt", "sosfiltfilt_pair", "odd_extension_length"]


def odd_extension_length(sos):
    """``padlen`` of ``scipy.signal.sosfiltfilt(sos, x)`` for its default ``padlen=None``."""
    sos = np.asarray(sos)
    n_taps = 2 * sos.shape[0] + 1
    n_taps -= min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    return 3 * n_taps


@lru_cache(maxsize=32)
def _zi_of(key):
    """``scipy.signal.sosfilt_zi`` of the sections whose float64 bytes are ``key``."""
    sos = np.frombuffer(key, dtype=np.float64).reshape(-1, 6)
    zi = np.ascontiguousarray(sps.sosfilt_zi(sos), dtype=np.float64)
    zi.setflags(write=False)
    return zi


def _zi(sos):
    """``scipy.signal.sosfilt_zi(sos)``, computed once per filter (read-only)."""
    return _zi_of(np.ascontiguousarray(sos, dtype=np.float64).tobytes())


def _compiled(sos, x, padlen):
    """Whether the compiled path applies (else scipy is called)."""
    return (sos.shape == (2, 6) and bool(np.all(sos[:, 3] == 1.0)) and x.ndim == 1
            and x.dtype == np.float64 and 0 < padlen < x.size)


def _extend(x, edge, subtract=None):
    """Odd extension by ``edge`` samples at both ends (``scipy.signal._arraytools.odd_ext``)
    of ``x``, or of ``x - subtract`` (a float: the same bits as extending that array,
    without making it)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty(x.size + 2 * edge)
    # no subtract is a subtraction of 0.0: x - 0.0 is x bit for bit (-0.0 - 0.0 is -0.0, a
    # quiet NaN stays that NaN; a signalling NaN becomes quiet, as the filter's first
    # multiplication makes it anyway, so the filtered output keeps its bits)
    _odd_extension(x, edge, 0.0 if subtract is None else float(subtract), out)
    return out


@njit(cache=True, nogil=True)
def _odd_extension(x, edge, mu, out):
    """``out = concatenate((2 y[:1] - y[edge:0:-1], y, 2 y[-1:] - y[-2:-(edge + 2):-1]))``
    with ``y = x - mu`` (element by element, the same operations; ``mu = 0.0`` gives
    ``y = x``)."""
    n = x.size
    for i in range(n):
        out[edge + i] = x[i] - mu
    first = 2 * out[edge]
    last = 2 * out[edge + n - 1]
    for k in range(edge):
        out[k] = first - out[2 * edge - k]           # y[edge - k]
        out[edge + n + k] = last - out[edge + n - 2 - k]  # y[n - 2 - k]


def sosfiltfilt(sos, x, padlen=None, *, subtract=None):
    """``scipy.signal.sosfiltfilt(sos, x, padlen=padlen)`` (odd padding, last axis of 1-D ``x``).

    Parameters
    ----------
    sos : ndarray of shape (n_sections, 6)
    x : ndarray of shape (n,)
    padlen : int, optional
        As in scipy (default: its ``3 (2 n_sections + 1 - ...)``).
    subtract : float, optional
        Filter ``x - subtract`` instead (the same bits; on the compiled path
        the difference is taken while extending, without a temporary array).

    Returns
    -------
    ndarray of shape (n,)
        The same bits as scipy; compiled for two sections and float64 input,
        else computed by scipy.
    """
    sos = np.asarray(sos, dtype=np.float64)
    x = np.asarray(x)
    edge = odd_extension_length(sos) if padlen is None else padlen
    if not isinstance(edge, (int, np.integer)) or not _compiled(sos, x, edge):
        if subtract is not None:
            x = x - subtract
        # a writable copy: scipy's sosfilt refuses read-only sections (cached designs)
        return sps.sosfiltfilt(np.array(sos), x, padlen=padlen)
    ext = _extend(x, int(edge), subtract)
    _filtfilt2(sos, _zi(sos), ext)
    return ext[edge:-edge]


def sosfiltfilt_pair(sos_a, sos_b, x, padlen=None):
    """``(sosfiltfilt(sos_a, x, padlen), sosfiltfilt(sos_b, x, padlen))``, computed together.

    Both filters must have two sections for the compiled path (with the same
    ``padlen``); else each is filtered by :func:`sosfiltfilt`.
    """
    sos_a = np.asarray(sos_a, dtype=np.float64)
    sos_b = np.asarray(sos_b, dtype=np.float64)
    x = np.asarray(x)
    ea = odd_extension_length(sos_a) if padlen is None else padlen
    eb = odd_extension_length(sos_b) if padlen is None else padlen
    if (not isinstance(ea, (int, np.integer)) or ea != eb
            or not (_compiled(sos_a, x, ea) and _compiled(sos_b, x, eb))):
        return sosfiltfilt(sos_a, x, padlen), sosfiltfilt(sos_b, x, padlen)
    ext = _extend(x, int(ea))
    out_b = np.empty_like(ext)
    _filtfilt2_pair(sos_a, _zi(sos_a), sos_b, _zi(sos_b), ext, out_b)
    return ext[ea:-ea], out_b[ea:-ea]


@njit(inline="always")
def _section(u, b0, b1, b2, a1, a2, s0, s1):
    """One sample ``u`` through one second-order section, direct form II
    transposed with state ``(s0, s1)``: ``(output, new s0, new s1)``."""
    y = b0 * u + s0
    return y, b1 * u - a1 * y + s1, b2 * u - a2 * y


@njit(cache=True, nogil=True)
def _filtfilt2(sos, zi, x):
    """Forward then backward pass of the two sections ``sos`` over ``x``, in place.

    Each pass starts at ``zi`` times its first input sample, as scipy's
    ``sosfiltfilt`` does; the backward pass runs from the end (scipy filters
    the reversed forward output and reverses the result: the same values).
    """
    n = x.size
    b00, b01, b02, a01, a02 = sos[0, 0], sos[0, 1], sos[0, 2], sos[0, 4], sos[0, 5]
    b10, b11, b12, a11, a12 = sos[1, 0], sos[1, 1], sos[1, 2], sos[1, 4], sos[1, 5]
    x0 = x[0]
    z0, z1, z2, z3 = zi[0, 0] * x0, zi[0, 1] * x0, zi[1, 0] * x0, zi[1, 1] * x0
    for i in range(n):
        u = x[i]
        v, z0, z1 = _section(u, b00, b01, b02, a01, a02, z0, z1)
        w, z2, z3 = _section(v, b10, b11, b12, a11, a12, z2, z3)
        x[i] = w
    x0 = x[n - 1]
    z0, z1, z2, z3 = zi[0, 0] * x0, zi[0, 1] * x0, zi[1, 0] * x0, zi[1, 1] * x0
    for i in range(n - 1, -1, -1):
        u = x[i]
        v, z0, z1 = _section(u, b00, b01, b02, a01, a02, z0, z1)
        w, z2, z3 = _section(v, b10, b11, b12, a11, a12, z2, z3)
        x[i] = w


@njit(cache=True, nogil=True)
def _filtfilt2_pair(sa, za, sb, zb, x, out_b):
    """:func:`_filtfilt2` of ``sa`` in place on ``x`` and of ``sb`` from ``x`` into ``out_b``,
    the two recursions interleaved."""
    n = x.size
    p00, p01, p02, q01, q02 = sa[0, 0], sa[0, 1], sa[0, 2], sa[0, 4], sa[0, 5]
    p10, p11, p12, q11, q12 = sa[1, 0], sa[1, 1], sa[1, 2], sa[1, 4], sa[1, 5]
    r00, r01, r02, s01, s02 = sb[0, 0], sb[0, 1], sb[0, 2], sb[0, 4], sb[0, 5]
    r10, r11, r12, s11, s12 = sb[1, 0], sb[1, 1], sb[1, 2], sb[1, 4], sb[1, 5]
    x0 = x[0]
    a0, a1, a2, a3 = za[0, 0] * x0, za[0, 1] * x0, za[1, 0] * x0, za[1, 1] * x0
    c0, c1, c2, c3 = zb[0, 0] * x0, zb[0, 1] * x0, zb[1, 0] * x0, zb[1, 1] * x0
    for i in range(n):
        u = x[i]
        v, a0, a1 = _section(u, p00, p01, p02, q01, q02, a0, a1)
        w, a2, a3 = _section(v, p10, p11, p12, q11, q12, a2, a3)
        f, c0, c1 = _section(u, r00, r01, r02, s01, s02, c0, c1)
        g, c2, c3 = _section(f, r10, r11, r12, s11, s12, c2, c3)
        x[i] = w
        out_b[i] = g
    xa, xb = x[n - 1], out_b[n - 1]
    a0, a1, a2, a3 = za[0, 0] * xa, za[0, 1] * xa, za[1, 0] * xa, za[1, 1] * xa
    c0, c1, c2, c3 = zb[0, 0] * xb, zb[0, 1] * xb, zb[1, 0] * xb, zb[1, 1] * xb
    for i in range(n - 1, -1, -1):
        u = x[i]
        v, a0, a1 = _section(u, p00, p01, p02, q01, q02, a0, a1)
        w, a2, a3 = _section(v, p10, p11, p12, q11, q12, a2, a3)
        x[i] = w
        e = out_b[i]
        f, c0, c1 = _section(e, r00, r01, r02, s01, s02, c0, c1)
        g, c2, c3 = _section(f, r10, r11, r12, s11, s12, c2, c3)
        out_b[i] = g
