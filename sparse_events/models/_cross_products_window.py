"""The window ``g`` of the cross-products penalty: construction and validation."""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array, check_int, check_option, check_scalar

__all__ = ["refractory_window", "check_window", "WINDOW_SHAPES"]

WINDOW_SHAPES = ("rectangular", "triangular", "hann")


def refractory_window(length_samples, strength=1.0, shape="rectangular", *,
                      include_zero_lag=False):
    r"""One-sided window ``g[0..L_g]`` of the cross-products penalty for a refractory period.

    The cross-products penalty ``|s|^T G |s|`` with ``G[i, j] = g[|i - j|]``
    adds ``2 g[d] |s_i| |s_j|`` for every pair of events ``d = |i - j|``
    samples apart; this window penalizes every pair at most
    ``length_samples`` apart (lags ``1..L_g`` with ``L_g = length_samples``),
    so that a solution without penalized pairs has its events at least
    ``length_samples + 1`` samples apart.

    ``g[k] = strength * w(k / (L_g + 1))`` for ``k = 1..L_g`` with

    * ``"rectangular"``: ``w(x) = 1`` (the paper's case study),
    * ``"triangular"``: ``w(x) = 1 - x`` (weaker for distant pairs),
    * ``"hann"``: ``w(x) = (1 + cos(pi x)) / 2``,

    and ``g[0] = strength`` if ``include_zero_lag`` else ``0``.  The zero lag
    adds ``g[0] |s_i|^2`` (a ridge-like term on the magnitudes) and, for a
    dictionary of kernels, penalizes events of different shapes at the same
    time (``2 g[0] |s_{p,i}| |s_{q,i}|``).

    Parameters
    ----------
    length_samples : int
        Refractory length ``L_g >= 1`` in samples: pairs of events at most this
        far apart are penalized.
    strength : float, default=1.0
        ``g[1]``, the penalty on a pair of adjacent unit events (``> 0``), in
        the units of eq. 8 of Luengo, Via and Trigano (where ``||s||_1`` has
        weight 1).
    shape : {"rectangular", "triangular", "hann"}, default="rectangular"
    include_zero_lag : bool, default=False
        Whether ``g[0] = strength`` (else ``g[0] = 0``).

    Returns
    -------
    g : ndarray of shape (length_samples + 1,)
        Non-negative one-sided window, to pass as ``g`` to
        :func:`cross_products_deconvolve`.

    Examples
    --------
    >>> from sparse_events import refractory_window
    >>> refractory_window(3, 2.0)
    array([0., 2., 2., 2.])
    >>> refractory_window(3, 1.0, "triangular", include_zero_lag=True)
    array([1.  , 0.75, 0.5 , 0.25])
    """
    length = check_int(length_samples, "length_samples", low=1)
    strength = check_scalar(strength, "strength", low=0, low_inclusive=False)
    check_option(shape, "shape", WINDOW_SHAPES)
    x = np.arange(1, length + 1) / (length + 1.0)
    if shape == "rectangular":
        w = np.ones(length)
    elif shape == "triangular":
        w = 1.0 - x
    else:
        w = 0.5 * (1.0 + np.cos(np.pi * x))
    g = np.empty(length + 1)
    g[0] = strength if include_zero_lag else 0.0
    g[1:] = strength * w
    return g


def check_window(g, n_samples, name="g"):
    """Validate the cross-products window and return it as a 1-D float64 array.

    ``g`` is the one-sided window ``g[0..L_g]`` (1-D, finite, ``>= 0``,
    ``L_g < n_samples``).  A square 2-D array is accepted as the matrix ``G``
    itself: it must be ``(n_samples, n_samples)``, symmetric, Toeplitz and
    non-negative; its first row, without trailing zeros, is returned.
    """
    if np.asarray(g).dtype == np.bool_:
        raise TypeError(f"{name} must be a real-valued window (weights >= 0 of the lags "
                        f"0..L_g), got a boolean array of shape {np.shape(g)}; convert it "
                        f"explicitly ({name}.astype(float)) if 0/1 weights are meant")
    arr = as_float_array(g, name, dtype=np.float64, ndim=(1, 2))
    if arr.ndim == 2:
        arr = _window_from_matrix(arr, n_samples, name)
    if np.any(arr < 0):
        bad = int(np.flatnonzero(arr < 0)[0])
        raise ValueError(
            f"{name} must be non-negative (a penalty on pairs of events); "
            f"{name}[{bad}] = {arr[bad]}")
    if arr.size > n_samples:
        raise ValueError(
            f"{name} has {arr.size} lags (L_g = {arr.size - 1}), longer than the signal: "
            f"the refractory window must be shorter than the {n_samples} coefficients "
            f"(L_g <= {n_samples - 1})")
    return np.ascontiguousarray(arr)


def _window_from_matrix(G, n_samples, name):
    if G.shape != (n_samples, n_samples):
        raise ValueError(
            f"{name} given as a matrix must be square of size n_coefficients = {n_samples}, "
            f"got shape {G.shape}; pass the one-sided window g[0..L_g] instead")
    if not np.array_equal(G, G.T):
        i, j = np.argwhere(G != G.T)[0]
        raise ValueError(
            f"{name} must be symmetric: G[{i}, {j}] = {G[i, j]} but G[{j}, {i}] = {G[j, i]}")
    row = G[0]
    for k in range(n_samples):
        diag = np.diagonal(G, k)
        if np.any(diag != row[k]):
            raise ValueError(
                f"{name} must be Toeplitz (constant along each diagonal); "
                f"diagonal {k} is not constant")
    nz = np.flatnonzero(row)
    return row[: (nz[-1] + 1 if nz.size else 1)].copy()
