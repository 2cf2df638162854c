"""Property-based tests (hypothesis) over the core public API.

Default run: the "ci" profile (few examples).  Long run (10,000 examples per
property): ``HYPOTHESIS_PROFILE=long pytest tests/test_properties.py``.
"""

import numpy as np
import scipy.linalg as sla
import scipy.signal as ss
from hypothesis import given
from hypothesis import strategies as st

from sparse_events import alpha_max, deconvolve
from sparse_events.operators import ConvolutionOperator, DictionaryOperator
from sparse_events.solvers import L1, Quadratic, WeightedL1, check_optimality

MODES = ["causal", "full", "same", "valid"]


@st.composite
def operator_case(draw):
    L = draw(st.integers(1, 40))
    mode = draw(st.sampled_from(MODES))
    N = draw(st.integers(L if mode == "valid" else 1, 90))
    P = draw(st.integers(1, 3))
    method = draw(st.sampled_from(["direct", "fft"]))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    seed = draw(st.integers(0, 2**32 - 1))
    return L, N, P, mode, method, dtype, seed


def reference_matrix(h, N, mode):
    if mode == "causal":
        return sla.convolution_matrix(h, N, "full")[:N]
    if mode == "same":
        return np.column_stack([ss.convolve(e, h, "same") for e in np.eye(N)])
    return sla.convolution_matrix(h, N, mode)


@given(operator_case())
def test_operator_adjoint_and_dense_equivalence(case):
    L, N, P, mode, method, dtype, seed = case
    rng = np.random.default_rng(seed)
    K = rng.standard_normal((P, L)).astype(dtype)
    K[:, 0] += np.where(K[:, 0] >= 0, 0.1, -0.1).astype(dtype)  # never all-zero
    op = (ConvolutionOperator(K[0], N, mode, method=method) if P == 1
          else DictionaryOperator(K, N, mode, method=method))
    ref = np.hstack([reference_matrix(k.astype(np.float64), N, mode) for k in K])
    tol = 1e-10 if dtype == np.float64 else 1e-4
    scale = max(1.0, np.abs(ref).max() * np.sqrt(L))
    assert np.abs(op.todense() - ref).max() <= tol * scale
    x = rng.standard_normal(op.shape[1])
    y = rng.standard_normal(op.shape[0])
    lhs = y @ op.matvec(x.astype(dtype)).astype(np.float64)
    rhs = op.rmatvec(y.astype(dtype)).astype(np.float64) @ x
    assert abs(lhs - rhs) <= tol * max(1.0, abs(lhs)) * scale


@st.composite
def lasso_case(draw):
    L = draw(st.integers(1, 15))
    mode = draw(st.sampled_from(MODES))
    M = draw(st.integers(max(L, 2), 150))
    ratio = draw(st.sampled_from([0.9, 0.5, 0.1, 0.01]))
    positive = draw(st.booleans())
    weighted = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    return L, M, mode, ratio, positive, weighted, seed


@given(lasso_case())
def test_lasso_kkt_at_returned_solution(case):
    L, M, mode, ratio, positive, weighted, seed = case
    rng = np.random.default_rng(seed)
    h = rng.standard_normal(L)
    h[0] += 0.1 if h[0] >= 0 else -0.1
    y = rng.standard_normal(M)
    op = ConvolutionOperator(h, {"full": M - L + 1, "valid": M + L - 1}.get(mode, M), mode)
    w = rng.uniform(0.5, 2.0, op.shape[1]) if weighted else None
    amax = alpha_max(y, h, mode, weights=w, positive=positive)
    if amax == 0:
        return
    alpha = ratio * amax
    res = deconvolve(y, h, alpha, mode=mode, weights=w, positive=positive, tol=1e-10,
                     max_iter=1000)
    pen = WeightedL1(alpha, w, positive=positive)
    df = Quadratic(op, y)
    chk = check_optimality(df, pen, res.coef, df.residual(res.coef))
    assert res.converged
    assert np.all(np.isfinite(res.coef))
    # relative gap 1e-10 bounds the KKT violation by sqrt(2 L gap) (strong smoothness)
    bound = np.sqrt(2 * op.lipschitz_constant() * chk.gap) + 1e-9 * amax
    assert chk.kkt <= max(bound, 1e-6 * amax)
    if positive:
        assert res.coef.min() >= 0


@given(st.integers(0, 2**32 - 1), st.floats(1e-6, 1e6), st.sampled_from([0.5, 0.05]))
def test_scale_equivariance(seed, scale, ratio):
    """deconvolve(c y, h, c alpha) = c deconvolve(y, h, alpha): ADC counts vs mV."""
    rng = np.random.default_rng(seed)
    h = rng.standard_normal(6)
    y = rng.standard_normal(120)
    alpha = ratio * alpha_max(y, h)
    a = deconvolve(y, h, alpha, tol=1e-12)
    b = deconvolve(scale * y, h, scale * alpha, tol=1e-12)
    np.testing.assert_allclose(b.coef, scale * a.coef, atol=1e-6 * scale * np.abs(a.coef).max()
                               + 1e-300)


@given(st.integers(0, 2**32 - 1))
def test_l1_first_outer_check_matches_alpha_max(seed):
    """alpha just above alpha_max stops at the zero solution, just below does not."""
    rng = np.random.default_rng(seed)
    h = rng.standard_normal(5)
    y = rng.standard_normal(60)
    amax = alpha_max(y, h)
    op = ConvolutionOperator(h, 60)
    from sparse_events.solvers import solve

    assert np.all(solve(Quadratic(op, y), L1(amax * (1 + 1e-12))).coef == 0)
    assert np.any(solve(Quadratic(op, y), L1(amax * (1 - 1e-6)), tol=1e-12).coef != 0)
