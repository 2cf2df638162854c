"""The masked-block design ``A x = sum_g sign_s D_g X x_{g,s}`` (convex ReLU programs)."""

from __future__ import annotations

import numpy as np

from .._validation import as_float_array, check_int
from . import _group_cd_kernels as kern
from . import _group_gram_kernels as gram_kern
from ._designs import Design


#: new Gram blocks of at least that many columns are computed from the masks (fewer
#: products); smaller ones from the explicit columns
_MASK_GRAM_MIN = 2000
#: ``matvec``/``rmatvec`` use BLAS products (2-3 times faster than the numba kernels on
#: ECG-sized problems) while their temporaries hold at most that many float64 values
#: (32 MiB); beyond, the numba kernels (no temporaries)
_BLAS_PRODUCTS_MAX = 1 << 22


class MaskedBlockDesign(Design):
    r"""Matrix-free ``A = [D_1 X, ..., D_P X]`` (optionally ``[D_g X, -D_g X]`` pairs), per output.

    The coefficient vector is laid out as ``x.reshape(n_outputs, n_signs,
    n_patterns, p)``: group ``k = (o * n_signs + s) * n_patterns + g`` holds the
    ``p`` weights ``x_{o,s,g}`` and the prediction of output ``o`` is

    .. math::

        (A x)_o = \sum_{g=1}^{P} D_g X (x_{o,0,g} - x_{o,1,g})

    (without the second term when ``n_signs == 1``).  The rows of ``A`` are the
    outputs stacked one after the other (``y`` flattened as ``Y.T.ravel()``).
    ``A`` is never formed: a product costs two ``(n, p) x (p, P)`` matrix
    products per output, and a group update of coordinate descent touches only
    the rows of its pattern.

    Parameters
    ----------
    X : array_like of shape (n_samples, p)
        Data matrix (with a constant column appended if a bias is wanted).
    masks : array_like of shape (n_samples, n_patterns), bool
        Activation patterns ``D_g = diag(masks[:, g])``.
    n_outputs : int, default=1
        Number of independent outputs (block-diagonal ``A``).
    n_signs : {1, 2}, default=1
        ``2`` adds the negated copy ``-D_g X`` of every block (the ``v_g`` of
        the convex ReLU program).

    Notes
    -----
    The cone constraints of the convex ReLU program, ``C_k x_k >= 0`` with
    ``C_k = (2 D_g - I) X`` for both signs, are handled by the penalty
    :class:`~sparse_events.solvers.ConeGroupL2` built on this design.
    """

    supports_cd = False
    supports_group_cd = True
    supports_cone_constraints = True

    def __init__(self, X, masks, n_outputs=1, n_signs=1):
        X = as_float_array(X, "X", dtype=np.float64, ndim=2)
        masks = np.asarray(masks)
        if masks.ndim != 2 or masks.shape[0] != X.shape[0]:
            raise ValueError(f"masks must have shape (n_samples={X.shape[0]}, n_patterns), "
                             f"got {masks.shape}")
        if masks.dtype != bool:
            if not np.all((masks == 0) | (masks == 1)):
                raise ValueError("masks must be boolean (or 0/1)")
            masks = masks.astype(bool)
        else:
            # a bool array reinterpreted from other bytes (np.frombuffer, .view(bool)) may
            # hold bytes other than 0/1; the byte view below must see exactly 0 or 1
            masks = masks != 0
        self.X = np.ascontiguousarray(X)
        self.masks = np.ascontiguousarray(masks)
        self.n_outputs = check_int(n_outputs, "n_outputs", low=1)
        self.n_signs = check_int(n_signs, "n_signs", low=1, high=2)
        self.n_samples, self.p = X.shape
        self.n_patterns = masks.shape[1]
        self.group_size = self.p
        self.n_groups = self.n_outputs * self.n_signs * self.n_patterns
        self.n_rows = self.n_outputs * self.n_samples
        self.n_features = self.n_groups * self.p
        self._Df = self.masks.astype(np.float64)
        self._ones = np.ones(self.n_patterns)
        self._M8 = self.masks.view(np.uint8)      # the masks as bytes, for the numba products
        self._mask_t = np.ascontiguousarray(self.masks.T)
        self._all_rows = np.arange(self.n_samples, dtype=np.int64)
        # CSR-like row lists of every pattern
        cols, rws = np.nonzero(self._mask_t)
        self._rows = np.ascontiguousarray(rws, dtype=np.int64)
        self._ptr = np.zeros(self.n_patterns + 1, dtype=np.int64)
        np.cumsum(np.bincount(cols, minlength=self.n_patterns), out=self._ptr[1:])
        self._lip = None
        self._group_lips = None
        self._eig = None
        self._gdiag = None
        self._norm2_X = None
        self._rep = None
        self._f32 = None
        # Gram cache over patterns (filled lazily, see ``working_set_gram``)
        self._gram_slot = np.full(self.n_patterns, -1, dtype=np.int64)
        self._gram_patterns = []
        self._gram = np.zeros((0, 0))
        # candidate cone constraints (cutting planes) of every pattern: never evicted, the
        # capacity grows (_group_gram.reserve_candidates)
        cap = max(16, 4 * self.p)
        self._cand = np.zeros((self.n_patterns, cap), dtype=np.int64)
        self._ncand = np.zeros(self.n_patterns, dtype=np.int64)

    # ------------------------------------------------------------ products
    def _weights(self, x):
        W = np.asarray(x, dtype=np.float64).reshape(
            self.n_outputs, self.n_signs, self.n_patterns, self.p)
        return W[:, 0] - W[:, 1] if self.n_signs == 2 else W[:, 0]

    def _blas_products(self):
        """Whether the products go through BLAS (temporaries of ``n_outputs * n_samples *
        n_patterns`` floats) rather than the numba kernels (no temporaries)."""
        return self.n_outputs * self.n_samples * self.n_patterns <= _BLAS_PRODUCTS_MAX

    def matvec(self, x):
        W = self._weights(x)                        # (c, P, p)
        if self._blas_products():
            # (X W_o^T) * D summed over the patterns: one BLAS product per output
            Z = np.matmul(self.X, W.transpose(0, 2, 1))     # (c, n, P)
            Z *= self._Df
            return (Z @ self._ones).ravel()
        out = np.empty((self.n_outputs, self.n_samples))
        for o in range(self.n_outputs):
            kern.mask_matvec(self._M8, np.ascontiguousarray(W[o].T), self.X, out[o])
        return out.ravel()

    def rmatvec(self, r):
        R = np.asarray(r, dtype=np.float64).reshape(self.n_outputs, self.n_samples)
        if self._blas_products():
            # (D * r_o)^T X for every output at once: one BLAS product
            DR = self._Df[:, None, :] * R.T[:, :, None]     # (n, c, P)
            G = (DR.reshape(self.n_samples, -1).T @ self.X).reshape(
                self.n_outputs, self.n_patterns, self.p)
        else:
            Gt = np.empty((self.n_outputs, self.p, self.n_patterns))
            for o in range(self.n_outputs):
                kern.mask_rmatvec(self._M8, np.ascontiguousarray(R[o]), self.X, Gt[o])
            G = Gt.transpose(0, 2, 1)                   # (c, P, p)
        if self.n_signs == 2:
            G = np.stack([G, -G], axis=1)
        return G.ravel()

    def float32_products(self):
        """The same matrix with its products computed in single precision (float32).

        Returns a :class:`Float32MaskedProducts` sharing this design's data
        (float32 copies of ``X`` and of the 0/1 masks are made once, here):
        its ``matvec``/``rmatvec`` round the argument to float32, run the
        matrix products in float32 and return float64 arrays, with relative
        errors of order ``1e-7 * sqrt(n_samples)`` instead of ``1e-16``.  Meant
        as the ``products`` argument of :func:`~sparse_events.solvers.fista`
        (about half the cost of an iteration), which evaluates the objective,
        the duality gap and the stopping rule with this (float64) design.
        """
        if self._f32 is None:
            self._f32 = Float32MaskedProducts(self)
        return self._f32

    def pattern_outputs(self, x):
        """``D_g X x_g`` for every group, shape (n_outputs, n_signs, n_samples, n_patterns)."""
        W = np.asarray(x, dtype=np.float64).reshape(
            self.n_outputs, self.n_signs, self.n_patterns, self.p)
        return np.matmul(self.X, W.transpose(0, 1, 3, 2)) * self._Df

    # ----------------------------------------------------------- constants
    def pattern_lipschitz(self):
        """``||D_g X||_2^2`` for every pattern, shape (n_patterns,)."""
        if self._group_lips is None:
            self._pattern_eigh()
        return self._group_lips

    def _pattern_eigh(self):
        """Eigen-decompositions of the pattern Gram matrices ``X^T D_g X``."""
        if self._eig is None:
            G = np.einsum("ng,ni,nj->gij", self._Df, self.X, self.X, optimize=True)
            self._gdiag = np.ascontiguousarray(0.5 * (G + G.transpose(0, 2, 1)))
            if self.n_patterns:
                val, vec = np.linalg.eigh(G)
            else:
                val, vec = np.zeros((0, self.p)), np.zeros((0, self.p, self.p))
            val = np.maximum(val, 0.0)
            self._eig = (np.ascontiguousarray(val), np.ascontiguousarray(vec))
            self._group_lips = (val[:, -1] if self.n_patterns else np.zeros(0)) * (1.0 + 1e-10)
        return self._eig

    def pattern_gram_diag(self):
        """``X^T D_g X`` for every pattern, shape (n_patterns, p, p)."""
        self._pattern_eigh()
        return self._gdiag

    def pattern_representatives(self):
        """For every pattern, the first pattern with the same mask (``-1`` for empty masks).

        Groups of identical patterns have identical columns: a group LASSO
        solution can hold all their weight in one of them.  Shape (n_patterns,).
        """
        if self._rep is None:
            rep = np.full(self.n_patterns, -1, dtype=np.int64)
            if self.n_patterns:
                packed = np.packbits(self._mask_t, axis=1)
                _, first, inv = np.unique(packed, axis=0, return_index=True,
                                          return_inverse=True)
                rep = first[np.ravel(inv)].astype(np.int64)
                rep[~self._mask_t.any(axis=1)] = -1
            self._rep = rep
        return self._rep

    def _pattern_block_columns(self, patterns):
        """Explicit columns ``[D_g X]`` for ``patterns``, shape (n_samples, len * p)."""
        cols = self._Df[:, patterns, None] * self.X[:, None, :]
        return cols.reshape(self.n_samples, -1)

    def _ensure_gram(self, patterns):
        """Compute the Gram blocks ``X^T D_g D_h X`` of new patterns against the cached ones."""
        new = [int(g) for g in np.unique(patterns) if self._gram_slot[g] < 0]
        if not new:
            return
        p = self.p
        old = len(self._gram_patterns)
        for q, g in enumerate(new):
            self._gram_slot[g] = old + q
        self._gram_patterns.extend(new)
        size = len(self._gram_patterns) * p
        if self._gram.shape[0] < size:
            cap = max(size, min(2 * self._gram.shape[0], self.n_patterns * p))
            grown = np.zeros((cap, cap))
            grown[:old * p, :old * p] = self._gram[:old * p, :old * p]
            self._gram = grown
        if p > 8 or len(new) * p < _MASK_GRAM_MIN:
            # products on the explicit columns [D_g X]
            B_new = self._pattern_block_columns(np.asarray(new))
            if old:
                B_old = self._pattern_block_columns(np.asarray(self._gram_patterns[:old]))
                cross = B_old.T @ B_new
                self._gram[:old * p, old * p:size] = cross
                self._gram[old * p:size, :old * p] = cross.T
            self._gram[old * p:size, old * p:size] = B_new.T @ B_new
            return
        # block (g, a), (h, b) is sum_i m_g[i] m_h[i] X[i, a] X[i, b]: for each of the
        # p (p + 1) / 2 feature pairs, a product of the 0/1 masks weighted by X_a * X_b
        # ((p + 1) / (2 p) of the products on the explicit columns, 5/8 for p = 4)
        n_new = len(new)
        M_new = self._Df[:, new]
        M_old = self._Df[:, self._gram_patterns[:old]] if old else None
        G = self._gram
        # views into the cache (splitting axes of a strided block never copies)
        new_new = G[old * p:size, old * p:size].reshape(n_new, p, n_new, p)
        cross = G[:old * p, old * p:size].reshape(old, p, n_new, p) if old else None
        assert np.may_share_memory(new_new, G)
        for a in range(p):
            for b in range(a, p):
                v = self.X[:, a] * self.X[:, b]
                blk = self._weighted_mask_gram(M_new, v)
                new_new[:, a, :, b] = blk
                new_new[:, b, :, a] = blk
                if old:
                    blk = (M_old * v[:, None]).T @ M_new
                    cross[:, a, :, b] = blk
                    cross[:, b, :, a] = blk
        if old:
            G[old * p:size, :old * p] = G[:old * p, old * p:size].T

    @staticmethod
    def _weighted_mask_gram(M, v):
        """``M^T diag(v) M`` in the precision of ``M`` (symmetric products on the rows of
        each sign of ``v``)."""
        pos = v > 0
        Mp = M[pos] * np.sqrt(v[pos]).astype(M.dtype)[:, None]
        out = Mp.T @ Mp
        neg = v < 0
        if np.any(neg):
            Mn = M[neg] * np.sqrt(-v[neg]).astype(M.dtype)[:, None]
            out -= Mn.T @ Mn
        return out

    def working_set_gram(self, groups):
        """Gram matrix ``A_W^T A_W`` of the groups ``groups``, shape (len * p, len * p).

        Built from a cache of the pattern blocks ``X^T D_g D_h X`` (computed
        once per pattern pair: by products of the 0/1 masks weighted by the
        products of two features for new blocks of at least 2000 columns and
        ``p <= 8``, by matrix products on the explicit columns otherwise);
        blocks of different outputs are zero and the ``-D_g X`` copies flip
        signs.
        """
        groups = np.asarray(groups, dtype=np.int64)
        p = self.p
        pats, signs, outs = _group_parts(groups, self.n_patterns, self.n_signs)
        self._ensure_gram(pats)
        idx = (self._gram_slot[pats][:, None] * p + np.arange(p)).ravel()
        H = np.empty((idx.size, idx.size))
        gram_kern.gather_submatrix(self._gram, idx, H, np.empty((0, 0), dtype=np.float32))
        if self.n_signs == 2 or self.n_outputs > 1:
            _apply_signs_outputs(H, signs, outs, p, self.n_outputs > 1)
        return H

    def working_set_operator(self, groups):
        """Matrix-free products with the columns of ``groups``.

        Returns a :class:`WorkingSetProducts`: ``A_W v`` and ``A_W^T r`` in
        float64 from the 0/1 masks (one ``(n, |W|) x (|W|, p)`` product each,
        per output), ``A_W^T A_W v`` (both of them), the Gram matrix
        ``A_W^T A_W`` in single precision (for the preconditioner of the
        interior-point method of :mod:`._group_ipm`), and the exact float64
        one only on request (``gram()``, that method's fallback).
        """
        return WorkingSetProducts(self, groups)

    def _compute_lipschitz(self):
        """``||A||_2^2`` (with the 1 % upper margin of the power iteration).

        ``A`` is block diagonal over the outputs with identical blocks, and the
        negated copies ``-D_g X`` double the squared norm, so ``||A||_2^2 =
        n_signs ||B||_2^2`` with ``B = [D_1 X, ..., D_P X]`` of one output and
        sign.  ``||B||_2^2`` is the largest eigenvalue of the smaller of ``B B^T``
        and ``B^T B``: dense ``eigvalsh`` when that side has at most 64 rows,
        Lanczos (ARPACK, relative accuracy 1e-3, a fixed start vector, products
        of ``B`` and ``B^T`` computed in float32) otherwise.  Both return at
        most the true value up to rounding (Ritz values bound the largest
        eigenvalue from below; float32 products move them by a relative
        ``1e-6`` or so), so the margin is ``(1 + 1e-3) * 1.01``.
        """
        n, P, p = self.n_samples, self.n_patterns, self.p
        m = P * p
        if n == 0 or m == 0:
            return 0.0
        dim = min(n, m)
        if dim <= 64:
            B = self._pattern_block_columns(np.arange(P))
            M = B @ B.T if n <= m else B.T @ B
            lam = float(np.linalg.eigvalsh(0.5 * (M + M.T))[-1])
            return self.n_signs * max(lam, 0.0) * 1.01
        from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigsh

        # products in float32 (the copies of :meth:`float32_products`): the
        # Ritz value moves by rounding of relative order 1e-6, far inside the
        # 1 % margin, at about half the cost of float64 products
        f32 = self.float32_products()

        def b_t(r):  # B^T r, shape (P, p)
            return f32.block_rmatvec(r.astype(np.float32)[None])[0].astype(np.float64)

        def b(w):  # B w
            return f32.block_matvec(w.reshape(1, P, p).astype(np.float32))[0].astype(np.float64)

        if n <= m:
            op = LinearOperator((n, n), matvec=lambda r: b(b_t(np.ravel(r))), dtype=np.float64)
        else:
            op = LinearOperator((m, m), matvec=lambda w: b_t(b(np.ravel(w))).ravel(),
                                dtype=np.float64)
        v0 = np.random.default_rng(0).standard_normal(dim)
        try:
            lam = float(eigsh(op, k=1, which="LA", tol=1e-3, v0=v0,
                              return_eigenvectors=False)[0])
            lam *= 1.0 + 1e-3
        except ArpackNoConvergence:
            return super()._compute_lipschitz()
        return self.n_signs * max(lam, 0.0) * 1.01

    def group_lipschitz(self):
        """``||A_k||_2^2`` for every group, shape (n_groups,)."""
        return np.tile(self.pattern_lipschitz(), self.n_outputs * self.n_signs)

    def norm2_X(self):
        """``||X||_2^2`` (the Lipschitz constant of every constraint block ``C_k``)."""
        if self._norm2_X is None:
            self._norm2_X = float(np.linalg.norm(self.X, 2) ** 2) * (1.0 + 1e-10)
        return self._norm2_X

    # ----------------------------------------------------- group coordinate descent
    def group_epochs(self, x, r, ws, lips, thresh, n_epochs, cone=False):
        """``n_epochs`` passes of group updates over ``ws`` (in place on ``x`` and ``r``).

        Without cones a group update is the exact minimisation over the group
        (eigen-decomposition of ``X^T D_g X`` and a scalar secular equation);
        with ``cone=True`` it is a proximal-gradient step projected onto the
        group's cone (the proximal operator of :class:`ConeGroupL2`).
        """
        val, vec = self._pattern_eigh()
        kern.masked_group_epochs(x, r, ws, self.X, self._ptr, self._rows, self._mask_t,
                                 self._all_rows, self.n_samples, self.n_patterns,
                                 self.n_signs, lips, thresh, bool(cone), val, vec,
                                 int(n_epochs))

    def group_violation(self, x, r, ws, lips, thresh, cone=False):
        """Largest gradient-mapping norm over the groups ``ws`` (zero iff they are optimal)."""
        return kern.masked_group_violation(x, r, ws, self.X, self._ptr, self._rows,
                                           self._mask_t, self._all_rows, self.n_samples,
                                           self.n_patterns, self.n_signs, lips, thresh,
                                           bool(cone))

    def apply_delta(self, r, ws, delta):
        """``r -= sum_q A_{ws[q]} delta[q]`` for ``delta`` of shape (len(ws), p)."""
        kern.masked_apply_delta(r, ws, np.ascontiguousarray(delta), self.X, self._ptr,
                                self._rows, self.n_samples, self.n_patterns, self.n_signs)

    def project_groups(self, xw, ws):
        """Project the rows of ``xw`` (len(ws), p) onto the cones of the groups ``ws``."""
        xw = np.ascontiguousarray(xw, dtype=np.float64)
        kern.masked_project_groups(xw, ws, self.X, self._mask_t, self._all_rows,
                                   self.n_patterns)
        return xw

    def group_columns(self, groups):
        """Dense columns of the groups ``groups``, shape (n_rows, len(groups) * p)."""
        n, p = self.n_samples, self.p
        out = np.zeros((self.n_rows, len(groups) * p))
        for q, k in enumerate(np.asarray(groups, dtype=np.int64)):
            o, s, g = k // (self.n_signs * self.n_patterns), (k // self.n_patterns) % \
                self.n_signs, k % self.n_patterns
            out[o * n:(o + 1) * n, q * p:(q + 1) * p] = \
                (1.0 if s == 0 else -1.0) * self._Df[:, g, None] * self.X
        return out

    def face_bases(self, x, groups, rel_tol=1e-9):
        """Orthonormal bases of the faces of the cones on which the groups ``x_k`` lie.

        For each group, the rows where ``|(2 D_g - I) X x_k| <= rel_tol ||X_i|| ||x_k||``
        are the active constraints; the face is their null space, returned as a
        (p, q) matrix (``q = p`` when no constraint is active).
        """
        W = np.asarray(x, dtype=np.float64).reshape(self.n_groups, self.p)
        row_norms = np.linalg.norm(self.X, axis=1)
        out = []
        for k in np.asarray(groups, dtype=np.int64):
            u = W[k]
            g = k % self.n_patterns
            sig = np.where(self._mask_t[g], 1.0, -1.0)
            c = sig * (self.X @ u)
            act = np.abs(c) <= rel_tol * row_norms * np.linalg.norm(u)
            if not np.any(act):
                out.append(np.eye(self.p))
                continue
            K = sig[act, None] * self.X[act]
            _, sv, Vt = np.linalg.svd(K, full_matrices=True)
            rank = int(np.sum(sv > 1e-9 * sv[0])) if sv.size else 0
            N = np.ascontiguousarray(Vt[rank:].T)
            if N.shape[1] == 0 or np.linalg.norm(u - N @ (N.T @ u)) > 1e-8 * np.linalg.norm(u):
                # x_k is not (numerically) on that face: keep the group free
                N = np.eye(self.p)
            out.append(N)
        return out

    # ------------------------------------------------------ cone constraints
    def constraint_values(self, x):
        """``C_k x_k = (2 D_g - I) X x_k`` for every group, shape (n_groups, n_samples)."""
        W = np.asarray(x, dtype=np.float64).reshape(self.n_groups, self.p)
        sig = np.where(self._mask_t, 1.0, -1.0)
        V = W @ self.X.T
        return V * np.tile(sig, (self.n_outputs * self.n_signs, 1))


class Float32MaskedProducts(Design):
    """Products of a :class:`MaskedBlockDesign` in single precision (float32).

    Built by :meth:`MaskedBlockDesign.float32_products`.  ``matvec`` and
    ``rmatvec`` take and return float64 arrays but round their argument to
    float32 and run every multiplication and accumulation in float32 (BLAS
    ``sgemm``/``sgemv``).  The results differ from the float64 design's by relative errors of order
    ``1e-7 * sqrt(n_samples)``; the Lipschitz constant is the float64 design's.

    Parameters
    ----------
    design : MaskedBlockDesign
        The float64 design whose matrix this applies.
    """

    def __init__(self, design):
        if not isinstance(design, MaskedBlockDesign):
            raise TypeError(f"design must be a MaskedBlockDesign, got {type(design).__name__}")
        self.design = design
        self.n_rows, self.n_features = design.n_rows, design.n_features
        self.n_outputs, self.n_signs = design.n_outputs, design.n_signs
        self.n_samples, self.n_patterns, self.p = design.n_samples, design.n_patterns, design.p
        self._X = np.ascontiguousarray(design.X, dtype=np.float32)              # (n, p)
        # (p, n) and (P, n) layouts: with them both products are one BLAS product for
        # all outputs, (c P, p) x (p, n) and (c P, n) x (n, p) (faster than one per
        # output on the (n, .) layouts)
        self._XT = np.ascontiguousarray(self._X.T)
        self._DT = np.ascontiguousarray(design._mask_t, dtype=np.float32)
        self._ones = np.ones(self.n_patterns, dtype=np.float32)

    def lipschitz(self):
        return self.design.lipschitz()

    def block_matvec(self, W):
        """``sum_g D_g X W[c, g]`` per output ``c``: float32 ``W`` of shape
        (c, n_patterns, p) to float32 of shape (c, n_samples)."""
        c = W.shape[0]
        ZT = (W.reshape(c * self.n_patterns, self.p) @ self._XT).reshape(
            c, self.n_patterns, self.n_samples)         # (X W[c, g])^T
        ZT *= self._DT
        return self._ones @ ZT   # sum over patterns

    def block_rmatvec(self, R):
        """``(D_g X)^T R[c]`` for every pattern: float32 ``R`` of shape
        (c, n_samples) to float32 of shape (c, n_patterns, p)."""
        c = R.shape[0]
        # (D^T diag(r_c)) X for every output: one (c P, n) x (n, p) product
        DR = self._DT[None] * R[:, None, :]
        return (DR.reshape(c * self.n_patterns, self.n_samples) @ self._X).reshape(
            c, self.n_patterns, self.p)

    def matvec(self, x):
        W = np.asarray(x, dtype=np.float64).reshape(
            self.n_outputs, self.n_signs, self.n_patterns, self.p)
        W = (W[:, 0] - W[:, 1] if self.n_signs == 2 else W[:, 0]).astype(np.float32)
        return self.block_matvec(W).astype(np.float64).ravel()

    def rmatvec(self, r):
        R = np.asarray(r, dtype=np.float32).reshape(self.n_outputs, self.n_samples)
        G = self.block_rmatvec(R).astype(np.float64)
        if self.n_signs == 2:
            G = np.stack([G, -G], axis=1)
        return G.ravel()


class WorkingSetProducts:
    """Products with the columns ``A_W`` of the groups ``W`` of a :class:`MaskedBlockDesign`.

    Built by :meth:`MaskedBlockDesign.working_set_operator`.  ``matvec``,
    ``rmatvec`` and ``gram_matvec`` (``A_W^T A_W v``) are float64 products
    with the 0/1 masks of the groups' patterns (``O(n |W| p)``, no
    ``|W| p x |W| p`` matrix is formed); :meth:`gram32` is the Gram matrix
    ``A_W^T A_W`` in single precision, computed from the masks as in
    :meth:`MaskedBlockDesign.working_set_gram` (products of the 0/1 masks
    weighted by ``X_a * X_b``, accumulated in float32: relative errors of order
    ``1e-7 * sqrt(n_samples)``), meant for preconditioners only;
    :meth:`gram` is the exact float64 Gram matrix
    (:meth:`MaskedBlockDesign.working_set_gram`).

    Parameters
    ----------
    design : MaskedBlockDesign
    groups : array_like of int
        Group indices (any order; the products follow it).
    """

    def __init__(self, design, groups):
        groups = np.asarray(groups, dtype=np.int64)
        p = design.p
        self.design = design
        self.groups = groups
        self.p = p
        self.pats, self.signs, self.outs = _group_parts(groups, design.n_patterns,
                                                        design.n_signs)
        self.shape = (groups.size * p, groups.size * p)
        self._by_output = [(o, np.flatnonzero(self.outs == o))
                           for o in np.unique(self.outs)]
        # the masks of the groups' patterns (n, |W|) as 0/1 bytes: the products of a
        # single output read them in numba (kern.mask_matvec), the others use M
        self._M8 = np.ascontiguousarray(design.masks[:, self.pats]).view(np.uint8)
        self._M = None

    @property
    def M(self):
        """The masks of the groups' patterns in float64, shape (n_samples, |W|)."""
        if self._M is None:
            self._M = self._M8.astype(np.float64)
        return self._M

    def restrict(self, local):
        """The operator of the groups ``groups[local]``."""
        return WorkingSetProducts(self.design, self.groups[np.asarray(local, dtype=np.int64)])

    def matvec(self, v):
        """``A_W v``, shape (n_rows,)."""
        d = self.design
        V = np.asarray(v, dtype=np.float64).reshape(-1, self.p) * self.signs[:, None]
        if d.n_outputs == 1:
            return kern.mask_matvec(self._M8, np.ascontiguousarray(V.T), d.X,
                                    np.empty(d.n_samples))
        out = np.zeros((d.n_outputs, d.n_samples))
        for o, sel in self._by_output:
            if sel.size == self.groups.size:
                MV = self.M @ V
            else:
                MV = self.M[:, sel] @ V[sel]
            out[o] = np.einsum("ij,ij->i", d.X, MV)
        return out.ravel()

    def rmatvec(self, r):
        """``A_W^T r``, shape (|W| p,)."""
        d = self.design
        R = np.asarray(r, dtype=np.float64).reshape(d.n_outputs, d.n_samples)
        if d.n_outputs == 1:
            Gt = kern.mask_rmatvec(self._M8, R[0], d.X, np.empty((self.p, self.groups.size)))
            return (Gt * self.signs).T.ravel()
        G = np.empty((self.groups.size, self.p))
        for o, sel in self._by_output:
            RX = R[o][:, None] * d.X
            if sel.size == self.groups.size:
                G[:] = self.M.T @ RX
            else:
                G[sel] = self.M[:, sel].T @ RX
        G *= self.signs[:, None]
        return G.ravel()

    def sample_gram(self):
        """``A_W A_W^T`` in double precision, shape (n_samples, n_samples); one output only.

        ``A_W A_W^T = sum_k D_k X X^T D_k = (X X^T) * (M_W M_W^T)`` (elementwise
        product; ``M_W`` the 0/1 masks of the groups' patterns, one column per
        group, so that a pattern appearing twice counts twice; the signs of
        ``-D_g X`` copies cancel).  ``M_W M_W^T`` holds counts of at most
        ``|W|``, exact in single precision (one float32 product) for
        ``|W| < 2**24``.  The sample-space matrix of the ADMM of
        :mod:`._group_admm`.
        """
        if len(self._by_output) > 1:
            raise ValueError("sample_gram needs the groups of one output, got groups of "
                             f"{len(self._by_output)} outputs")
        if self.groups.size >= 2 ** 24:
            raise ValueError(f"sample_gram counts in float32: at most 2**24 - 1 groups, "
                             f"got {self.groups.size}")
        X = self.design.X
        M32 = self._M8.astype(np.float32)
        K = X @ X.T
        K *= M32 @ M32.T
        return K

    def directional_columns(self, local, V):
        """The columns ``A_k v_k`` of the groups ``groups[local]``, shape (n_rows, len(local)).

        ``V`` (shape (len(local), p)) holds one vector ``v_k`` per listed group;
        column ``j`` is ``A_k V[j]`` for ``k = groups[local[j]]`` (zero outside
        the group's output).
        """
        local = np.asarray(local, dtype=np.int64)
        d = self.design
        V = np.asarray(V, dtype=np.float64).reshape(local.size, self.p)
        cols = np.take(self._M8, local, axis=1).astype(np.float64)
        cols *= d.X @ (V * self.signs[local, None]).T          # (n, len(local))
        if d.n_outputs == 1:
            return cols
        out = np.zeros((d.n_outputs, d.n_samples, local.size))
        out[self.outs[local], :, np.arange(local.size)] = cols.T
        return out.reshape(d.n_rows, local.size)

    def gram_matvec(self, v):
        """``A_W^T A_W v``."""
        return self.rmatvec(self.matvec(v))

    def diag(self):
        """Diagonal of ``A_W^T A_W`` (float64), shape (|W| p,)."""
        gd = self.design.pattern_gram_diag()
        return np.ascontiguousarray(np.diagonal(gd, axis1=1, axis2=2)[self.pats]).ravel()

    def gram(self):
        """``A_W^T A_W`` in double precision, shape (|W| p, |W| p).

        :meth:`MaskedBlockDesign.working_set_gram` of the groups (their order).
        """
        return self.design.working_set_gram(self.groups)

    def gram32(self):
        """``A_W^T A_W`` in single precision (C order), shape (|W| p, |W| p)."""
        d, p = self.design, self.p
        upat, inv = np.unique(self.pats, return_inverse=True)
        inv = np.ravel(inv)
        U = upat.size
        if p > 8:
            M = d.masks[:, upat].astype(np.float32)
            B = (M[:, :, None] * d.X[:, None, :].astype(np.float32)).reshape(d.n_samples, -1)
            G = B.T @ B
        else:
            Mf = d._Df[:, upat].astype(np.float32)
            blocks = np.empty((p * (p + 1) // 2, U, U), dtype=np.float32)
            k = 0
            for a in range(p):
                for b in range(a, p):
                    blocks[k] = d._weighted_mask_gram(Mf, d.X[:, a] * d.X[:, b])
                    k += 1
            G = np.empty((U * p, U * p), dtype=np.float32)
            gram_kern.interleave_pair_blocks(blocks, p, G)
            del blocks
        same = U == self.groups.size and np.array_equal(inv, np.arange(U))
        if same and np.all(self.signs > 0) and len(self._by_output) == 1:
            return G
        idx = (inv[:, None] * p + np.arange(p)).ravel()
        H = np.ascontiguousarray(G[np.ix_(idx, idx)])
        _apply_signs_outputs(H, self.signs, self.outs, p, len(self._by_output) > 1)
        return H


def _group_parts(groups, n_patterns, n_signs):
    """Pattern, sign (+1 for ``D_g X``, -1 for ``-D_g X``) and output of each group."""
    return (groups % n_patterns, np.where((groups // n_patterns) % n_signs == 0, 1.0, -1.0),
            groups // (n_signs * n_patterns))


def _apply_signs_outputs(H, signs, outs, p, multi_output):
    """In place on a Gram matrix of groups of ``p`` columns: the sign products, and zero
    between groups of different outputs (``multi_output``)."""
    f = np.repeat(signs, p).astype(H.dtype)
    H *= f[:, None] * f[None, :]
    if multi_output:
        o = np.repeat(outs, p)
        H *= o[:, None] == o[None, :]
