"""Penalties: value, proximal operator, optimality measure and dual scaling.

Every penalty acts on a flat coefficient vector ``x``.  With the least-squares
datafit ``f(x) = 0.5 ||y - A x||^2`` and ``c = A^T (y - A x) = -grad f(x)``,
``x`` is optimal iff ``c`` lies in the subdifferential of the penalty at ``x``;
``subdiff_distance(x, c)`` gives the per-coordinate (or per-group) distance.
``dual_scaling(c)`` returns the smallest ``s >= 0`` such that ``c / s`` is
dual-feasible; ``theta = r / max(1, s)`` is then a feasible dual point.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_bool, check_int, check_scalar, check_weights

__all__ = ["L1", "WeightedL1", "NonNegativeL1", "GroupL2"]

# block length of the elementwise measures of WeightedL1 (bounded temporaries)
_BLOCK = 1 << 16



def _all_thresholds_positive(alpha, weights) -> bool:
    """Whether every threshold ``alpha * w`` is positive: a zero threshold (alpha = 0, or
    a zero weight) leaves the dual point of the gap undefined (its coordinate of
    ``A^T theta`` must vanish), so the KKT rule applies instead."""
    return alpha > 0 and (weights is None or bool(np.all(weights > 0)))

class WeightedL1:
    r"""Weighted (optionally non-negative) L1 penalty.

    ``alpha * sum_i w_i |x_i|``, plus the constraint ``x >= 0`` when
    ``positive=True``.

    Parameters
    ----------
    alpha : float
        Regularization strength, ``>= 0``.
    weights : array_like of shape (n_features,) or None
        Non-negative weights ``w_i`` (``None``: all ones).  A zero weight leaves
        its coordinate unpenalized; the duality gap is then not available and
        solvers stop on the KKT rule.
    positive : bool
        Constrain the coefficients to be non-negative.
    """

    separable = True

    def __init__(self, alpha, weights=None, positive=False):
        self.alpha = check_scalar(alpha, "alpha", low=0)
        if weights is not None:
            weights = check_weights(weights, np.shape(weights), "weights")
            if weights.ndim != 1:
                raise ValueError(f"weights must be 1-D, one per coefficient (not flattened), "
                                 f"got shape {weights.shape}")
            weights = np.ascontiguousarray(weights, dtype=np.float64)
        self.weights = weights
        self.positive = check_bool(positive, "positive")

    # thresholds alpha * w_i, broadcast to n features
    def thresholds(self, n_features: int) -> np.ndarray:
        if self.weights is None:
            return np.full(n_features, self.alpha)
        self._check_n_weights(n_features)
        return self.alpha * self.weights.ravel()

    def _check_n_weights(self, n_features: int) -> None:
        """Raise ``ValueError`` unless there is one weight per coefficient."""
        if self.weights is not None and self.weights.size != n_features:
            raise ValueError(
                f"weights must have {n_features} entries (one per coefficient), "
                f"got {self.weights.size}")

    def has_dual(self) -> bool:
        return _all_thresholds_positive(self.alpha, self.weights)

    def value(self, x):
        ax = np.abs(x)
        if self.weights is None:
            return self.alpha * float(ax.sum())
        return self.alpha * float(self.weights.ravel() @ ax)

    def prox(self, x, step):
        t = step * self.thresholds(x.size)
        if self.positive:
            return np.maximum(x - t, 0.0)
        return np.sign(x) * np.maximum(np.abs(x) - t, 0.0)

    def _threshold_blocks(self, n_features: int):
        """``(lo, hi, t)``: the thresholds ``t = alpha * w[lo:hi]`` by blocks of ``_BLOCK``.

        Elementwise measures are computed block by block, so that only the
        output and a few block-sized temporaries are allocated (not several
        ``n_features``-long ones); every entry is computed as from the whole
        thresholds array, bit for bit.
        """
        self._check_n_weights(n_features)
        w = None if self.weights is None else self.weights.ravel()
        for lo in range(0, n_features, _BLOCK):
            hi = min(lo + _BLOCK, n_features)
            yield lo, hi, (np.full(hi - lo, self.alpha) if w is None
                           else self.alpha * w[lo:hi])

    def subdiff_distance(self, x, corr):
        dist = np.empty(x.size)
        for lo, hi, t in self._threshold_blocks(x.size):
            xb, cb = x[lo:hi], corr[lo:hi]
            d = np.where(xb > 0, np.abs(cb - t), np.abs(cb + t))
            if self.positive:
                zero = np.maximum(cb - t, 0.0)
                np.copyto(dist[lo:hi], np.where(xb > 0, d, zero))
            else:
                zero = np.maximum(np.abs(cb) - t, 0.0)
                np.copyto(dist[lo:hi], np.where(xb != 0, d, zero))
        return dist

    def dual_scaling(self, corr):
        best = None
        for lo, hi, t in self._threshold_blocks(corr.size):
            cb = corr[lo:hi]
            c = np.maximum(cb, 0.0) if self.positive else np.abs(cb)
            pos = t > 0
            if np.any(pos):
                m = np.max(c[pos] / t[pos])
                best = m if best is None else np.maximum(best, m)  # NaN propagates
        return 0.0 if best is None else float(best)

    def support(self, x):
        return x != 0

    def __repr__(self):
        w = "None" if self.weights is None else f"array({self.weights.shape})"
        return f"{type(self).__name__}(alpha={self.alpha}, weights={w}, positive={self.positive})"


class L1(WeightedL1):
    """L1 penalty ``alpha * ||x||_1`` (optionally with ``x >= 0``)."""

    def __init__(self, alpha, positive=False):
        super().__init__(alpha, None, positive)


class NonNegativeL1(WeightedL1):
    """Non-negative L1 penalty ``alpha * sum_i w_i x_i`` subject to ``x >= 0``."""

    def __init__(self, alpha, weights=None):
        super().__init__(alpha, weights, positive=True)


class GroupL2:
    r"""Group-L2 (group LASSO) penalty over contiguous groups of equal size.

    ``alpha * sum_g w_g ||x_g||_2`` where ``x_g = x[g * group_size:(g + 1) * group_size]``.

    Parameters
    ----------
    alpha : float
        Regularization strength, ``>= 0``.
    group_size : int
        Size of every group; ``n_features`` must be a multiple of it.
    weights : array_like of shape (n_groups,) or None
        Non-negative group weights (``None``: all ones).
    """

    separable = False
    positive = False

    def __init__(self, alpha, group_size, weights=None):
        self.alpha = check_scalar(alpha, "alpha", low=0)
        self.group_size = check_int(group_size, "group_size", low=1)
        self.weights = None if weights is None else np.ascontiguousarray(
            check_weights(weights, np.shape(weights), "weights"), dtype=np.float64)

    def _groups(self, x):
        if x.size % self.group_size:
            raise ValueError(
                f"number of coefficients ({x.size}) is not a multiple of group_size={self.group_size}")
        return x.reshape(-1, self.group_size)

    def thresholds(self, n_groups: int) -> np.ndarray:
        if self.weights is None:
            return np.full(n_groups, self.alpha)
        if self.weights.size != n_groups:
            raise ValueError(f"weights must have {n_groups} entries (one per group), "
                             f"got {self.weights.size}")
        return self.alpha * self.weights.ravel()

    def has_dual(self) -> bool:
        return _all_thresholds_positive(self.alpha, self.weights)

    def value(self, x):
        norms = np.linalg.norm(self._groups(x), axis=1)
        return float(self.thresholds(norms.size) @ norms)

    def prox(self, x, step):
        xg = self._groups(x)
        norms = np.linalg.norm(xg, axis=1)
        t = step * self.thresholds(norms.size)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(norms > t, 1.0 - t / np.where(norms > 0, norms, 1.0), 0.0)
        return (xg * scale[:, None]).reshape(x.shape)

    def subdiff_distance(self, x, corr):
        xg, cg = self._groups(x), self._groups(corr)
        norms = np.linalg.norm(xg, axis=1)
        t = self.thresholds(norms.size)
        with np.errstate(divide="ignore", invalid="ignore"):
            unit = xg / np.where(norms > 0, norms, 1.0)[:, None]
        active = np.linalg.norm(cg - t[:, None] * unit, axis=1)
        inactive = np.maximum(np.linalg.norm(cg, axis=1) - t, 0.0)
        return np.where(norms > 0, active, inactive)

    def dual_scaling(self, corr):
        cn = np.linalg.norm(self._groups(corr), axis=1)
        t = self.thresholds(cn.size)
        pos = t > 0
        if not np.any(pos):
            return 0.0
        return float(np.max(cn[pos] / t[pos]))

    def support(self, x):
        g = np.linalg.norm(self._groups(x), axis=1) > 0
        return np.repeat(g, self.group_size)

    def __repr__(self):
        return f"GroupL2(alpha={self.alpha}, group_size={self.group_size})"
