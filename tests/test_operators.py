"""Operators: dot tests and dense equivalence (scipy.linalg references)."""

import numpy as np
import pytest
import scipy.linalg as sla
import scipy.signal as ss

from sparse_events.operators import (
    ConvolutionOperator,
    DictionaryOperator,
    SymmetricToeplitzOperator,
    choose_method,
)

MODES = ["causal", "full", "same", "valid"]


def dense_reference(h, n, mode):
    """Explicit matrix from scipy: convolution_matrix / scipy.signal.convolve."""
    if mode == "causal":
        return sla.convolution_matrix(h, n, "full")[:n]
    if mode == "same":
        # scipy.signal.convolve(s, h, 'same') output has len(s) samples for any L
        return np.column_stack([ss.convolve(e, h, "same") for e in np.eye(n)])
    return sla.convolution_matrix(h, n, mode)


def dot_test(op, rng, rtol):
    x = rng.standard_normal(op.shape[1]).astype(op.dtype)
    y = rng.standard_normal(op.shape[0]).astype(op.dtype)
    lhs = float(np.dot(y.astype(np.float64), op.matvec(x).astype(np.float64)))
    rhs = float(np.dot(op.rmatvec(y).astype(np.float64), x.astype(np.float64)))
    assert abs(lhs - rhs) <= rtol * max(1.0, abs(lhs), abs(rhs))


@pytest.mark.parametrize("method", ["direct", "fft"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("L,N", [(1, 9), (2, 9), (5, 20), (6, 20), (13, 20), (19, 20),
                                 (20, 20), (33, 40), (40, 64), (130, 200)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_convolution_operator_dense_and_dot(method, mode, L, N, dtype, rng):
    h = rng.standard_normal(L).astype(dtype)
    op = ConvolutionOperator(h, N, mode, method=method)
    assert op.dtype == dtype
    ref = dense_reference(h.astype(np.float64), N, mode)
    dense = op.todense()
    assert dense.shape == ref.shape == op.shape
    tol = 1e-12 if dtype == np.float64 else 2e-5
    scale = np.abs(ref).max()
    assert np.abs(dense - ref).max() <= tol * scale * max(1, L) ** 0.5
    # adjoint equals the transpose of the dense matrix
    adj = op.rmatmat(np.eye(op.shape[0], dtype=dtype))
    assert np.abs(adj - ref.T).max() <= tol * scale * max(1, L) ** 0.5
    dot_test(op, rng, 1e-10 if dtype == np.float64 else 1e-4)
    # column norms and Lipschitz bound against the dense matrix
    np.testing.assert_allclose(op.column_norms2(), (ref ** 2).sum(0), rtol=1e-4, atol=1e-6)
    assert op.lipschitz_constant() >= np.linalg.norm(ref, 2) ** 2 * (1 - 1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_several_signals_at_once(mode, rng):
    h = rng.standard_normal(7)
    op = ConvolutionOperator(h, 50, mode)
    S = rng.standard_normal((4, 50))
    Y = op.forward(S)
    for k in range(4):
        np.testing.assert_allclose(Y[k], op.matvec(S[k]), atol=1e-12)
    np.testing.assert_allclose(op.matmat(S.T), Y.T, atol=1e-12)
    R = rng.standard_normal((3, 2, op.n_outputs))  # arbitrary leading shape
    X = op.adjoint(R)
    assert X.shape == (3, 2, 50)
    np.testing.assert_allclose(X[1, 0], op.rmatvec(R[1, 0]), atol=1e-12)
    np.testing.assert_allclose(op.rmatmat(R.reshape(6, -1).T), X.reshape(6, -1).T, atol=1e-12)


def test_direct_and_fft_agree_on_long_signal(rng):
    h = rng.standard_normal(70)
    s = rng.standard_normal(300_000)
    a = ConvolutionOperator(h, s.size, method="direct")
    b = ConvolutionOperator(h, s.size, method="fft")
    np.testing.assert_allclose(a.matvec(s), b.matvec(s), atol=1e-9)
    np.testing.assert_allclose(a.rmatvec(s), b.rmatvec(s), atol=1e-9)


def test_auto_method_follows_cost_model():
    assert choose_method(10**6, 3) == "direct"
    assert choose_method(10**6, 1000) == "fft"
    assert ConvolutionOperator(np.ones(500), 10**5).method == "fft"
    assert ConvolutionOperator(np.ones(3), 10**5).method == "direct"


@pytest.mark.parametrize("method", ["direct", "fft"])
@pytest.mark.parametrize("mode", MODES)
def test_dictionary_operator_is_block_row(method, mode, rng):
    K = rng.standard_normal((3, 8))
    N = 30
    op = DictionaryOperator(K, N, mode, method=method)
    blocks = [dense_reference(k, N, mode) for k in K]
    ref = np.hstack(blocks)
    np.testing.assert_allclose(op.todense(), ref, atol=1e-12)
    dot_test(op, rng, 1e-10)
    coef = rng.standard_normal((2, 3, N))
    np.testing.assert_allclose(op.forward(coef)[1], ref @ coef[1].ravel(), atol=1e-12)
    np.testing.assert_allclose(op.adjoint(ref @ coef[0].ravel()),
                               (ref.T @ (ref @ coef[0].ravel())).reshape(3, N), atol=1e-10)
    np.testing.assert_allclose(op.column_norms2().ravel(), (ref ** 2).sum(0), atol=1e-12)
    assert op.lipschitz_constant() >= np.linalg.norm(ref, 2) ** 2 * (1 - 1e-12)


def test_lipschitz_bound_is_tight_for_long_signals(rng):
    h = rng.standard_normal(12)
    op = ConvolutionOperator(h, 800, "full")
    exact = np.linalg.norm(op.todense(), 2) ** 2
    assert exact <= op.lipschitz_constant() <= 1.06 * exact


@pytest.mark.parametrize("method", ["direct", "fft"])
@pytest.mark.parametrize("Lg,N", [(0, 5), (1, 5), (4, 5), (6, 40), (30, 100)])
def test_symmetric_toeplitz_matches_scipy(method, Lg, N, rng):
    g = rng.random(Lg + 1)
    G = SymmetricToeplitzOperator(g, N, method=method)
    col = np.zeros(N)
    col[: Lg + 1] = g
    ref = sla.toeplitz(col)
    np.testing.assert_allclose(G.todense(), ref, atol=1e-12)
    dot_test(G, rng, 1e-10)
    assert G.norm() >= np.linalg.norm(ref, 2) * (1 - 1e-12)
    X = rng.standard_normal((3, N))
    np.testing.assert_allclose(G.forward(X), X @ ref.T, atol=1e-12)


def _complex_checks(op, ref, rng, rtol):
    """Complex vectors against the dense real matrix ``ref``, and the complex dot test
    ``<A x, y> = <x, A^H y>`` (``A^H = A^T``: the operator is real)."""
    cdtype = np.result_type(op.dtype, np.complex64)
    x = (rng.standard_normal(op.shape[1]) + 1j * rng.standard_normal(op.shape[1])).astype(cdtype)
    y = (rng.standard_normal(op.shape[0]) + 1j * rng.standard_normal(op.shape[0])).astype(cdtype)
    Ax, Aty = op.matvec(x), op.rmatvec(y)
    assert Ax.dtype == Aty.dtype == cdtype
    scale = np.abs(ref).max() * np.sqrt(op.shape[1])
    np.testing.assert_allclose(Ax, ref @ x.astype(np.complex128), atol=rtol * scale)
    np.testing.assert_allclose(Aty, ref.T @ y.astype(np.complex128), atol=rtol * scale)
    lhs = np.vdot(y.astype(np.complex128), Ax.astype(np.complex128))
    rhs = np.vdot(Aty.astype(np.complex128), x.astype(np.complex128))
    assert abs(lhs - rhs) <= rtol * max(1.0, abs(lhs), abs(rhs))
    # several complex signals at once (matmat / rmatmat)
    X = np.stack([x, x.conj()], axis=1)
    Y = np.stack([y, 1j * y], axis=1)
    np.testing.assert_allclose(op.matmat(X), ref @ X.astype(np.complex128), atol=rtol * scale)
    np.testing.assert_allclose(op.rmatmat(Y), ref.T @ Y.astype(np.complex128), atol=rtol * scale)
    return Ax, Aty


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("L", [5, 33])
def test_complex_vectors_same_result_on_both_engines(mode, dtype, L, rng):
    """A real operator applied to a complex vector: the dense product on either engine (the
    FFT engine used to refuse complex input)."""
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    N = 60
    h = rng.standard_normal(L).astype(dtype)
    K = rng.standard_normal((3, L)).astype(dtype)
    results = {}
    for method in ("direct", "fft"):
        seed = np.random.default_rng(7)
        conv = ConvolutionOperator(h, N, mode, method=method)
        ref = dense_reference(h.astype(np.float64), N, mode)
        results[method, "conv"] = _complex_checks(conv, ref, seed, rtol)
        dic = DictionaryOperator(K, N, mode, method=method)
        ref = np.hstack([dense_reference(k.astype(np.float64), N, mode) for k in K])
        results[method, "dict"] = _complex_checks(dic, ref, seed, rtol)
    for kind in ("conv", "dict"):
        for a, b in zip(results["direct", kind], results["fft", kind]):
            np.testing.assert_allclose(a, b, atol=rtol * 10 * np.abs(a).max())


@pytest.mark.parametrize("method", ["direct", "fft"])
@pytest.mark.parametrize("Lg,N", [(4, 5), (30, 100)])
def test_symmetric_toeplitz_complex_vectors(method, Lg, N, rng):
    g = rng.random(Lg + 1)
    G = SymmetricToeplitzOperator(g, N, method=method)
    col = np.zeros(N)
    col[: Lg + 1] = g
    _complex_checks(G, sla.toeplitz(col), rng, 1e-12)
    Z = rng.standard_normal((3, N)) + 1j * rng.standard_normal((3, N))
    np.testing.assert_allclose(G.forward(Z), Z @ sla.toeplitz(col).T, atol=1e-12 * N)


@pytest.mark.parametrize("bad,exc,match", [
    (np.array([1.0, np.nan]), ValueError, "kernel.*finite"),
    (np.array([1.0, np.inf]), ValueError, "kernel.*finite"),
    (np.array([]), ValueError, "kernel.*empty"),
    (np.zeros(3), ValueError, "kernel.*zero"),
    (np.ones((2, 2)), ValueError, "kernel must be 1-D"),
    (np.array([1 + 1j, 2]), TypeError, "kernel.*complex"),
    ("abc", TypeError, "kernel"),
])
def test_bad_kernels(bad, exc, match):
    with pytest.raises(exc, match=match):
        ConvolutionOperator(bad, 10)


def test_bad_modes_and_sizes():
    with pytest.raises(ValueError, match="mode"):
        ConvolutionOperator(np.ones(3), 10, "circular")
    with pytest.raises(ValueError, match="longer than the signal"):
        ConvolutionOperator(np.ones(11), 10, "valid")
    with pytest.raises(ValueError, match="n_samples"):
        ConvolutionOperator(np.ones(3), 0)
    with pytest.raises(ValueError, match="window.*longer"):
        SymmetricToeplitzOperator(np.ones(12), 10)


def test_integer_kernel_is_converted_without_overflow():
    h = np.array([2**40, 1], dtype=np.int64)
    op = ConvolutionOperator(h, 4)
    assert op.dtype == np.float64
    np.testing.assert_allclose(op.matvec(np.array([1.0, 0, 0, 0]))[:2], [2.0**40, 1.0])


def _adjoint_cases(rng):
    """(name, operator, dense matrix) for the three operator classes."""
    h = rng.standard_normal(6)
    K = rng.standard_normal((3, 5))
    g = rng.random(4)
    col = np.zeros(20)
    col[:4] = g
    return [
        ("convolution", ConvolutionOperator(h, 20, "full"), dense_reference(h, 20, "full")),
        ("dictionary", DictionaryOperator(K, 20, "same"),
         np.hstack([dense_reference(k, 20, "same") for k in K])),
        ("toeplitz", SymmetricToeplitzOperator(g, 20), sla.toeplitz(col)),
    ]


@pytest.mark.parametrize("case", range(3))
def test_adjoint_without_argument_follows_scipy_contract(case, rng):
    """``op.adjoint()`` returns the adjoint ``LinearOperator`` (scipy's contract, same as
    ``op.H``), checked against the dense transpose and by a dot test; generic scipy code
    calling ``A.adjoint()`` works; ``op.adjoint(y)`` still applies ``A^T`` to arrays."""
    from scipy.sparse.linalg import LinearOperator, aslinearoperator, lsqr

    name, op, ref = _adjoint_cases(rng)[case]
    adj = op.adjoint()
    assert isinstance(adj, LinearOperator), name
    assert adj.shape == op.H.shape == ref.T.shape
    eye = np.eye(op.shape[0])
    np.testing.assert_allclose(adj.matmat(eye), ref.T, atol=1e-12)
    np.testing.assert_allclose(op.H.matmat(eye), ref.T, atol=1e-12)
    dot_test(adj, rng, 1e-10)
    np.testing.assert_allclose(adj.adjoint().matmat(np.eye(op.shape[1])), ref, atol=1e-12)
    # scipy's own wrappers and operator algebra on top of it
    wrapped = aslinearoperator(op)
    np.testing.assert_allclose(wrapped.adjoint().matmat(eye), ref.T, atol=1e-12)
    normal = op.adjoint() @ op  # a scipy product operator
    x = rng.standard_normal(op.shape[1])
    np.testing.assert_allclose(normal @ x, ref.T @ (ref @ x), atol=1e-10)
    np.testing.assert_allclose(normal.adjoint() @ x, ref.T @ (ref @ x), atol=1e-10)
    y = rng.standard_normal(op.shape[0])
    np.testing.assert_allclose((2.0 * op).adjoint() @ y, 2.0 * ref.T @ y, atol=1e-10)
    # a solver written against the generic contract (normal equations via A.adjoint())
    def solve_normal(A, b):
        return lsqr(A.adjoint() @ A, A.adjoint() @ b, atol=1e-14, btol=1e-14)[0]
    if name == "convolution":  # full column rank: the normal equations recover x
        np.testing.assert_allclose(solve_normal(op, ref @ x), x, atol=1e-7)
    # the array method is unchanged
    Y = rng.standard_normal((2, op.shape[0]))
    expected = Y @ ref
    got = op.adjoint(Y).reshape(2, -1)
    np.testing.assert_allclose(got, expected, atol=1e-12)
