"""Bad input over the public API of the core: operators, solvers, models, metrics,
datasets, batch.  The applications (ecg, gamma, plotting, cli) are in
``test_bad_input_apps.py``; machinery in ``_bad_input_engine.py``.

Every case calls one public entry point with one bad argument and requires a
``ValueError``/``TypeError`` whose message names the argument (or a documented
policy, checked on the result), within a time limit.  ``test_every_public_name
_has_bad_input_cases`` keeps the tables complete: a new name in any ``__all__``
fails it until it gets cases here or in the apps table, or a commented entry
in ``ALLOW_LIST``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from _bad_input_engine import all_finite, as_params, public_objects, run_case, spec_cases

import sparse_events
from sparse_events import models, operators, solvers
from sparse_events.batch import run_batch
from sparse_events.datasets import make_random_spike_train
from sparse_events.metrics import min_distance_violations, reconstruction_snr_db, sparsity

RNG = np.random.default_rng(2024)
H = np.array([1.0, 0.8, 0.5, 0.3, 0.1])
Y = np.convolve(np.r_[np.zeros(10), 2.0, np.zeros(30), 1.5, np.zeros(40)], H)[:82] \
    + 0.01 * RNG.standard_normal(82)
K2 = np.vstack([H, H[::-1]])
X = RNG.standard_normal((30, 6))
XY = X[:, 0] - 2 * X[:, 1] + 0.1 * RNG.standard_normal(30)
G = refractory = models.refractory_window(5, 2.0)


def _op(n=40):
    return operators.ConvolutionOperator(H, n)


def _quadratic():
    return solvers.Quadratic(_op(40), Y[:40])


def _masked():
    masks = X @ RNG.standard_normal((6, 4)) >= 0
    return solvers.MaskedBlockDesign(X, masks)


def _is_zero_coef(res):
    assert np.all(res.coef == 0) and np.all(np.isfinite(res.coef))


# ----------------------------------------------------------------------- operators
OPERATOR_CASES = [
    *spec_cases(
        "operators.ConvolutionOperator", operators.ConvolutionOperator,
        dict(kernel=H, n_samples=40, mode="causal", method="auto"),
        arrays={"kernel": dict(ndim_bad=(0, 2))}, ints={"n_samples": 1},
        options=("mode", "method"),
        extra=[
            ("kernel-all-zero", {"kernel": np.zeros(5)}, ValueError, "kernel"),
            ("valid-kernel-longer-than-signal", {"n_samples": 3, "mode": "valid"}, ValueError,
             "kernel|n_samples"),
            ("n_samples-bool", {"n_samples": True}, TypeError, "n_samples"),
            ("forward-wrong-length", lambda: _op(40).forward(np.ones(39)), ValueError, "coef"),
            ("adjoint-wrong-length", lambda: _op(40).adjoint(np.ones(41)), ValueError, "signal"),
            # scipy's LinearOperator interface checks the shape itself
            ("matvec-wrong-length", lambda: _op(40).matvec(np.ones(3)), ValueError,
             "dimension mismatch|shape"),
        ]),
    *spec_cases(
        "operators.DictionaryOperator", operators.DictionaryOperator,
        dict(kernels=K2, n_samples=40, mode="full"),
        arrays={"kernels": dict(ndim_bad=(0, 1, 3))}, ints={"n_samples": 1},
        options=("mode", "method"),
        extra=[("kernels-zero-row", {"kernels": np.vstack([H, 0 * H])}, ValueError, "kernels"),
               ("forward-wrong-shape",
                lambda: operators.DictionaryOperator(K2, 40).forward(np.ones(40)), ValueError,
                "coef")]),
    *spec_cases(
        "operators.SymmetricToeplitzOperator", operators.SymmetricToeplitzOperator,
        dict(window=G, n_samples=40),
        arrays={"window": dict(ndim_bad=(0, 2))}, ints={"n_samples": 1}, options=("method",),
        extra=[("window-longer-than-n", {"n_samples": 3}, ValueError, "window|n_samples"),
               ("forward-wrong-length",
                lambda: operators.SymmetricToeplitzOperator(G, 40).forward(np.ones(4)),
                ValueError, "x")]),
    *spec_cases(
        "operators.choose_method", operators.choose_method,
        dict(n_samples=1000, kernel_length=20, n_kernels=1),
        ints={"n_samples": 1, "kernel_length": 1, "n_kernels": 1},
        extra=[("absurd-n_samples", {"n_samples": 10**15}, None,
                lambda m: m in ("direct", "fft"))]),
    *spec_cases(
        "operators.coef_length", operators.coef_length,
        dict(mode="valid", signal_length=100, kernel_length=10),
        ints={"signal_length": 1, "kernel_length": 1}, options=("mode",),
        extra=[("valid-kernel-longer", {"signal_length": 5}, ValueError,
                "kernel_length|signal_length")]),
    *spec_cases(
        "operators.mode_geometry", operators.mode_geometry,
        dict(mode="same", n_samples=100, kernel_length=10),
        ints={"n_samples": 1, "kernel_length": 1}, options=("mode",)),
]

# ----------------------------------------------------------------------- solvers
SOLVER_CASES = [
    *spec_cases(
        "solvers.Quadratic", solvers.Quadratic, dict(A=X, y=XY),
        arrays={"y": dict(ndim_bad=(0, 2))},
        extra=[("A-nan", {"A": np.where(X > 1.5, np.nan, X)}, ValueError, r"\bA\b|design"),
               ("A-inf", {"A": np.where(X > 1.5, np.inf, X)}, ValueError, r"\bA\b|design"),
               ("A-complex", {"A": X + 1j}, TypeError, r"\bA\b|design"),
               ("A-str", {"A": "matrix"}, TypeError, r"\bA\b|design"),
               ("A-1d", {"A": X[:, 0]}, ValueError, r"\bA\b|design"),
               ("A-rows-differ-from-y", {"y": XY[:-1]}, ValueError, r"\by\b|\bA\b")]),
    *spec_cases("solvers.L1", solvers.L1, dict(alpha=0.1), nonneg=("alpha",)),
    *spec_cases("solvers.NonNegativeL1", solvers.NonNegativeL1, dict(alpha=0.1),
                nonneg=("alpha",)),
    *spec_cases(
        "solvers.WeightedL1", solvers.WeightedL1, dict(alpha=0.1, weights=np.ones(6)),
        nonneg=("alpha",), arrays={"weights": dict(kinds=("nan", "inf", "complex", "str"),
                                                    ndim_bad=())},
        extra=[("weights-negative", {"weights": -np.ones(6)}, ValueError, "weights")]),
    *spec_cases(
        "solvers.GroupL2", solvers.GroupL2, dict(alpha=0.1, group_size=2),
        nonneg=("alpha",), ints={"group_size": 1},
        extra=[("weights-nan", {"weights": np.r_[1.0, np.nan, 1.0]}, ValueError, "weights"),
               ("weights-negative", {"weights": -np.ones(3)}, ValueError, "weights")]),
    *spec_cases(
        "solvers.ConeGroupL2", lambda **kw: solvers.ConeGroupL2(**kw),
        dict(alpha=0.1, design=_masked()), nonneg=("alpha",),
        extra=[("design-not-masked", {"design": X}, TypeError, "MaskedBlockDesign|design")]),
    *spec_cases(
        "solvers.MaskedBlockDesign", solvers.MaskedBlockDesign,
        dict(X=X, masks=X[:, :3] >= 0, n_outputs=1, n_signs=1),
        arrays={"X": dict(ndim_bad=(1, 3))}, ints={"n_outputs": 1, "n_signs": 1},
        extra=[("masks-wrong-rows", {"masks": X[:5, :3] >= 0}, ValueError, "masks"),
               ("masks-not-boolean", {"masks": X[:, :3]}, ValueError, "masks"),
               ("n_signs-3", {"n_signs": 3}, ValueError, "n_signs")]),
    *spec_cases(
        "solvers.DenseDesign", solvers.DenseDesign, dict(X=X),
        arrays={"X": dict(ndim_bad=(1, 3))}),
    *spec_cases(
        "solvers.SparseDesign", solvers.SparseDesign, dict(X=sp.csr_matrix(X * (X > 0))),
        extra=[("X-nan", {"X": sp.csr_matrix(np.where(X > 1.5, np.nan, 0.0))}, ValueError, "X"),
               ("X-inf", {"X": sp.csr_matrix(np.where(X > 1.5, np.inf, 0.0))}, ValueError, "X"),
               ("offsets-nan", {"offsets": np.r_[np.nan, np.zeros(5)]}, ValueError, "offsets"),
               ("offsets-wrong-length", {"offsets": np.zeros(5)}, ValueError, "offsets")]),
    *spec_cases(
        "solvers.BandedDesign", solvers.BandedDesign, dict(op=_op()),
        extra=[("op-ndarray", {"op": X}, TypeError, r"\bop\b"),
               ("op-none", {"op": None}, TypeError, r"\bop\b")]),
    *spec_cases(
        "solvers.OperatorDesign", solvers.OperatorDesign, dict(op=_op()),
        extra=[("op-without-shape", {"op": object()}, TypeError, r"\bop\b"),
               ("lipschitz-nan", {"lipschitz": np.nan}, ValueError, "lipschitz"),
               ("lipschitz-negative", {"lipschitz": -1.0}, ValueError, "lipschitz")]),
    *spec_cases(
        "solvers.as_design", solvers.as_design, dict(A=X),
        extra=[("A-3d", {"A": X[None]}, ValueError, "design|A"),
               ("A-str", {"A": "X"}, TypeError, "design|A"),
               ("A-nan", {"A": np.where(X > 1.5, np.nan, X)}, ValueError, r"design|\bA\b")]),
    *spec_cases(
        "solvers.check_optimality", solvers.check_optimality,
        dict(datafit=solvers.Quadratic(X, XY), penalty=solvers.L1(0.1), x=np.zeros(6), r=XY),
        extra=[("x-wrong-length", {"x": np.zeros(5)}, ValueError, r"\bx\b"),
               ("r-wrong-length", {"r": XY[:-1]}, ValueError, r"\br\b")]),
]


def _solver_spec(name, func):
    return spec_cases(
        name, func,
        dict(datafit=solvers.Quadratic(X, XY), penalty=solvers.L1(0.5), x0=None, tol=1e-6,
             max_iter=50),
        nonneg=("tol",), ints={"max_iter": 1},
        extra=[("x0-wrong-length", {"x0": np.zeros(5)}, ValueError, "x0"),
               ("x0-nan", {"x0": np.r_[np.nan, np.zeros(5)]}, ValueError, "x0"),
               ("x0-complex", {"x0": np.zeros(6) + 1j}, TypeError, "x0"),
               ("datafit-not-a-datafit", {"datafit": X}, TypeError, "datafit"),
               ("penalty-not-a-penalty", {"penalty": 0.5}, TypeError, "penalty"),
               ("absurd-max_iter-zero-alpha-converges-or-warns",
                {"penalty": solvers.L1(0.0), "max_iter": 10**9, "tol": 1e-8}, None,
                all_finite(lambda r: r.coef))])


SOLVER_CASES += [
    *_solver_spec("solvers.coordinate_descent", solvers.coordinate_descent),
    *_solver_spec("solvers.fista", solvers.fista),
    *_solver_spec("solvers.solve", solvers.solve),
    *spec_cases("solvers.solve", solvers.solve,
                dict(datafit=solvers.Quadratic(X, XY), penalty=solvers.L1(0.5)),
                options=("solver",), baseline=False),
    *spec_cases(
        "solvers.group_coordinate_descent", solvers.group_coordinate_descent,
        dict(datafit=solvers.Quadratic(X, XY), penalty=solvers.GroupL2(0.5, 2), max_iter=50),
        nonneg=("tol",), ints={"max_iter": 1, "p0": 1, "check_every": 1},
        extra=[("x0-wrong-length", {"x0": np.zeros(5)}, ValueError, "x0"),
               ("x0-nan", {"x0": np.r_[np.nan, np.zeros(5)]}, ValueError, "x0"),
               ("penalty-l1", {"penalty": solvers.L1(0.5)}, TypeError, "GroupL2|penalty"),
               ("group-size-mismatch", {"penalty": solvers.GroupL2(0.5, 4)}, ValueError,
                "group")]),
]

# ----------------------------------------------------------------------- models
_Y2 = np.vstack([Y, Y[::-1]])
# Hang guards (not timing assertions) of the entries whose first calls compile many numba
# kernels; CI starts with an empty numba cache.  Valid calls on an empty cache, 2 shared
# cores: alone (load 1.7-2.5) the gated convex ReLU fit took 21 s, the exact one 23 s,
# deconvolve 16 s, cross_products_deconvolve 18 s; in this file's order the gated fit took
# 32 s and 60 s (load 1-3), hitting the default 30 s, while warm it takes 0.06 s.
_COMPILING = 120.0
_COMPILING_CONVEX_RELU = 300.0
MODEL_CASES = [
    *spec_cases(
        "models.deconvolve", models.deconvolve, dict(y=Y, kernel=H, alpha=0.1),
        timeout=_COMPILING,
        arrays={"y": dict(ndim_bad=(0, 3)), "kernel": dict(ndim_bad=(0, 3))},
        nonneg=("alpha", "tol"), ints={"max_iter": 1}, options=("mode", "solver", "method"),
        extra=[
            ("kernel-longer-than-signal-valid", {"y": Y[:3], "mode": "valid"}, ValueError,
             "kernel|y"),
            ("y-bool", {"y": Y > 0}, TypeError, r"\by\b.*boolean"),
            ("weights-nan", {"weights": np.r_[np.nan, np.ones(81)]}, ValueError, "weights"),
            ("weights-negative", {"weights": -np.ones(82)}, ValueError, "weights"),
            ("weights-wrong-length", {"weights": np.ones(81)}, ValueError, "weights"),
            ("coef_init-wrong-shape", {"coef_init": np.zeros(81)}, ValueError, "coef_init"),
            ("coef_init-nan", {"coef_init": np.r_[np.nan, np.zeros(81)]}, ValueError,
             "coef_init"),
            ("alpha-per-signal-wrong-length", {"y": _Y2, "alpha": [0.1, 0.2, 0.3]}, ValueError,
             "alpha"),
            ("alpha-per-signal-nan", {"y": _Y2, "alpha": [0.1, np.nan]}, ValueError, "alpha"),
            ("int16-adc-counts-policy", {"y": np.round(Y * 1000).astype(np.int16),
                                         "alpha": 100.0}, None, all_finite(lambda r: r.coef)),
            ("zero-signal-policy", {"y": np.zeros(82)}, None, _is_zero_coef),
            ("huge-alpha-policy", {"alpha": 1e300}, None, _is_zero_coef),
            ("huge-amplitudes-policy", {"y": Y * 1e150, "alpha": 1e149}, None,
             all_finite(lambda r: r.coef)),
        ]),
    *spec_cases(
        "models.alpha_max", models.alpha_max, dict(y=Y, kernel=H),
        arrays={"y": dict(ndim_bad=(0, 3)), "kernel": dict(ndim_bad=(0, 3))},
        options=("mode",),
        extra=[("weights-negative", {"weights": -np.ones(82)}, ValueError, "weights"),
               ("y-bool", {"y": Y > 0}, TypeError, r"\by\b.*boolean"),
               ("zero-signal-policy", {"y": np.zeros(82)}, None, lambda a: a == 0)]),
    *spec_cases(
        "models.make_operator", models.make_operator, dict(kernel=H, n_samples=40),
        arrays={"kernel": dict(ndim_bad=(0, 3))}, ints={"n_samples": 1},
        options=("mode", "method")),
    *spec_cases(
        "models.debias_coef", models.debias_coef,
        dict(design=solvers.as_design(X), y=XY, coef=np.r_[1.0, -1.0, 0, 0, 0, 0]),
        arrays={"y": dict(ndim_bad=(0, 2)), "coef": dict(ndim_bad=(0,), kinds=(
            "nan", "inf", "complex", "str"))},
        extra=[("coef-wrong-length", {"coef": np.zeros(5)}, ValueError, "coef"),
               ("y-wrong-length", {"y": XY[:-1]}, ValueError, r"\by\b"),
               ("design-ndarray-policy", {"design": X}, None, all_finite())]),
    *spec_cases(
        "models.refractory_window", models.refractory_window, dict(length_samples=5),
        ints={"length_samples": 1}, positive=("strength",), options=("shape",),
        extra=[("absurd-length", {"length_samples": 10**12}, (ValueError, MemoryError),
                "length_samples|memory|allocate")]),
    *spec_cases(
        "models.cross_products_deconvolve", models.cross_products_deconvolve,
        dict(y=Y, kernel=H, beta=5.0, g=G),
        timeout=_COMPILING,
        arrays={"y": dict(ndim_bad=(0, 3)), "kernel": dict(ndim_bad=(0, 3)),
                "g": dict(ndim_bad=(0, 3))},
        positive=("beta",), nonneg=("tol",), ints={"max_reweights": 1, "inner_max_iter": 1},
        options=("mode", "solver", "method"),
        extra=[("y-bool", {"y": Y > 0}, TypeError, r"\by\b.*boolean"),
               ("g-negative", {"g": -G}, ValueError, r"\bg\b"),
               ("g-longer-than-signal", {"g": np.ones(200)}, ValueError, r"\bg\b"),
               ("g-matrix-not-toeplitz", {"g": np.diag(np.arange(82.0))}, ValueError, r"\bg\b"),
               ("beta-per-signal-wrong-length", {"y": _Y2, "beta": [1.0, 2.0, 3.0]},
                ValueError, "beta"),
               ("min_step-above-1", {"min_step": 2.0}, ValueError, "min_step"),
               ("zero-signal-policy", {"y": np.zeros(82)}, None, _is_zero_coef),
               ("magnitudes0-wrong-length", {"magnitudes0": np.ones(81)}, ValueError,
                "magnitudes0"),
               ("magnitudes0-per-signal-unbatched", {"magnitudes0": np.ones((2, 82))},
                ValueError, "magnitudes0"),
               ("magnitudes0-3d", {"magnitudes0": np.ones((1, 1, 82))}, ValueError,
                "magnitudes0"),
               ("magnitudes0-negative", {"magnitudes0": -np.ones(82)}, ValueError,
                "magnitudes0"),
               ("magnitudes0-nan", {"magnitudes0": np.r_[np.ones(81), np.nan]}, ValueError,
                "magnitudes0"),
               ("magnitudes0-inf", {"magnitudes0": np.r_[np.ones(81), np.inf]}, ValueError,
                "magnitudes0"),
               ("magnitudes0-complex", {"magnitudes0": np.ones(82) + 1j}, TypeError,
                "magnitudes0"),
               ("magnitudes0-str", {"magnitudes0": "1, 2, 3"}, TypeError, "magnitudes0"),
               ("magnitudes0-zero-policy", {"magnitudes0": np.zeros(82)}, None,
                all_finite(lambda r: r.coef))]),
]


def _fit(cls):
    def fit(X=X, y=XY, **params):
        return cls(**params).fit(X, y)
    return fit


# scikit-learn estimators validate X and y with sklearn's validate_data (project
# convention): its messages are accepted as they are ("Expected 2D array", "Found
# array with dim 3", "Complex data not supported", "Input y contains NaN", ...)
_SKLEARN = (r"Expected 2D array|Found array with|Complex data|could not convert|"
            r"at least 1 dimension|float\(\) argument|contains (NaN|infinity)|"
            r"inconsistent numbers of samples|dtype")
_EST_MATCH = {"X": _SKLEARN, "y": _SKLEARN}
for _name, _cls, _params in [
        ("models.Lasso", models.Lasso, dict(alpha=0.1)),
        ("models.ConvexGatedReLURegressor", models.ConvexGatedReLURegressor,
         dict(n_patterns=5, alpha=0.01, random_state=0)),
        ("models.ConvexReLURegressor", models.ConvexReLURegressor,
         dict(n_patterns=5, alpha=0.01, random_state=0)),
        ("models.ConvexReLU1D", models.ConvexReLU1D, dict(alpha=0.01))]:
    _valid = dict(X=X[:, :1] if _cls is models.ConvexReLU1D else X, y=XY, **_params)
    MODEL_CASES += spec_cases(
        _name, _fit(_cls), _valid,
        # scikit-learn's validate_data: ValueError for complex and strings
        # (arrays of numeric strings are converted by validate_data: not tested)
        arrays={"X": dict(ndim_bad=(1, 3), kinds=("nan", "inf", "empty", "complex", "object"),
                          type_exc=(TypeError, ValueError)),
                "y": dict(ndim_bad=(0, 3), type_exc=(TypeError, ValueError),
                          value_exc=(TypeError, ValueError),
                          kinds=("nan", "inf", "complex"))},
        nonneg=("alpha", "tol"), ints={"max_iter": 1}, options=("solver",),
        match=_EST_MATCH, timeout=_COMPILING_CONVEX_RELU if "n_patterns" in _params else 30.0,
        extra=[("X-y-length-mismatch", {"y": XY[:-1]}, ValueError,
                r"inconsistent numbers of samples|\by\b")]
        # a flag is True/False, never read by truthiness ("False" is truthy)
        + [(f"fit_intercept-{v!r}", {"fit_intercept": v}, TypeError, "fit_intercept")
           for v in ("False", None, 0)]
        + ([(f"warm_start-{v!r}", {"warm_start": v}, TypeError, "warm_start")
            for v in ("False", None, 0)] if _cls is models.Lasso else [])
        + ([("n_patterns-zero", {"n_patterns": 0}, ValueError, "n_patterns"),
            ("gates-nan", {"gates": np.full((7, 3), np.nan)}, ValueError, "gates"),
            ("gates-wrong-rows", {"gates": np.ones((3, 3))}, ValueError, "gates"),
            ("random_state-negative", {"random_state": -1}, ValueError, "random_state"),
            ("random_state-str", {"random_state": "seed"}, TypeError, "random_state")]
           if "n_patterns" in _params else []))

# ----------------------------------------------------------------------- metrics, datasets
METRIC_CASES = [
    *spec_cases(
        "metrics.reconstruction_snr_db", reconstruction_snr_db,
        dict(reference=Y, estimate=Y + 0.1),
        arrays={"reference": dict(ndim_bad=()), "estimate": dict(ndim_bad=())},
        extra=[("shape-mismatch", {"estimate": Y[:-1]}, ValueError, "reference|estimate"),
               ("zero-reference-policy", {"reference": np.zeros(82)}, None,
                lambda v: v == -np.inf),
               ("exact-policy", {"estimate": Y}, None, lambda v: v == np.inf)]),
    *spec_cases(
        "metrics.sparsity", sparsity, dict(coef=np.r_[0.0, 1.0, 0.0, 2.0]),
        arrays={"coef": dict(ndim_bad=(), kinds=("nan", "complex", "str", "object"))},
        extra=[("empty-policy", {"coef": np.zeros(0)}, (ValueError,), "coef")]),
    *spec_cases(
        "metrics.min_distance_violations", min_distance_violations,
        dict(coef=np.r_[0.0, 1.0, 1.0, 0.0, 2.0], min_distance=2),
        arrays={"coef": dict(ndim_bad=(0,), kinds=("nan", "complex", "str", "object"))},
        ints={"min_distance": 1}),
    *spec_cases(
        "datasets.make_random_spike_train", make_random_spike_train,
        dict(n_samples=500, random_state=0),
        ints={"n_samples": 1, "kernel_length": 1, "spacing": 2, "jitter": 1},
        options=("snr_reference",),
        extra=[("snr_db-nan", {"snr_db": np.nan}, ValueError, "snr_db"),
               ("snr_db-str", {"snr_db": "20"}, TypeError, "snr_db"),
               ("jitter-not-below-spacing", {"jitter": 100}, ValueError, "jitter"),
               ("kernel-nan", {"kernel": np.r_[1.0, np.nan]}, ValueError, "kernel"),
               ("kernel-zero", {"kernel": np.zeros(4)}, ValueError, "kernel"),
               ("random_state-str", {"random_state": "0"}, TypeError, "random_state"),
               ("random_state-negative", {"random_state": -3}, ValueError, "random_state"),
               ("absurd-n_samples", {"n_samples": 10**15}, (ValueError, MemoryError),
                "n_samples|memory|allocate")]),
]


def _double(x):
    return 2 * x


BATCH_CASES = spec_cases(
    "batch.run_batch", run_batch, dict(func=_double, items=[1, 2, 3], progress=False),
    ints={"jobs": -1}, options=("backend",), baseline=True,
    extra=[("jobs-zero", {"jobs": 0, "items": [1, 2]}, ValueError, "jobs"),
           ("items-not-iterable", {"items": 5}, TypeError, "items|iterable"),
           ("func-not-callable", {"func": 3}, TypeError, "func must be a callable"),
           ("failing-item-policy", {"func": _double, "items": [1, None, 3]}, None,
            lambda out: [b.ok for b in out] == [True, False, True])])

CORE_CASES = OPERATOR_CASES + SOLVER_CASES + MODEL_CASES + METRIC_CASES + BATCH_CASES


@pytest.mark.parametrize("case", as_params(CORE_CASES))
def test_bad_input(case):
    run_case(case)


# ----------------------------------------------------------------------- completeness
PUBLIC_MODULES = [
    "sparse_events", "sparse_events.operators", "sparse_events.solvers", "sparse_events.models",
    "sparse_events.ecg", "sparse_events.gamma", "sparse_events.batch", "sparse_events.plotting",
    "sparse_events.metrics", "sparse_events.datasets", "sparse_events.cli",
]

# Public names where a bad-input case makes no sense.  Keep one comment per group.
ALLOW_LIST = {
    # subpackages and the version string re-exported by the top level: their
    # contents are enumerated through their own __all__
    "sparse_events.operators", "sparse_events.solvers", "sparse_events.models",
    "sparse_events.ecg", "sparse_events.gamma", "sparse_events.plotting",
    "sparse_events.batch", "sparse_events.cli", "sparse_events.__version__",
    "sparse_events.datasets", "sparse_events.metrics",
    # constants and registries (tuples, frozensets, dicts): not callable; the
    # registry PEAK_METHODS is written through register_peak_method (covered)
    "sparse_events.operators.MODES", "sparse_events.solvers.SOLVERS",
    "sparse_events.ecg.BEAT_SYMBOLS", "sparse_events.ecg.PEAK_METHODS",
    "sparse_events.gamma.DEAD_TIME_MODELS",
    # result containers (dataclasses returned by our functions, built from
    # validated values; users do not construct them)
    "sparse_events.solvers.SolverResult", "sparse_events.models.CrossProductsResult",
    "sparse_events.ecg.EC57Result", "sparse_events.ecg.ECGRecord",
    "sparse_events.ecg.PanTompkinsStages", "sparse_events.gamma.ActivityEstimate",
    "sparse_events.gamma.EnergySpectrum", "sparse_events.gamma.EstimatedEvents",
    "sparse_events.gamma.LearnedPulse", "sparse_events.gamma.LiveTimeCorrection",
    "sparse_events.gamma.MeasuredSpectrum", "sparse_events.gamma.PhotopeakFit",
    "sparse_events.gamma.PulseTrain", "sparse_events.gamma.ThresholdCounts",
    "sparse_events.gamma.WaveDumpData", "sparse_events.gamma.PairResolution",
    "sparse_events.gamma.PileupCorrectedSpectrum", "sparse_events.batch.BatchItem",
    "sparse_events.datasets.SpikeTrain", "sparse_events.ecg.SparseDetection",
    # exception / warning classes
    "sparse_events.solvers.ConvergenceWarning", "sparse_events.ConvergenceWarning",
    # abstract interface without constructor arguments
    "sparse_events.solvers.Design",
    # takes no argument; parsing is covered through cli.main
    "sparse_events.cli.build_parser",
}


def test_every_public_name_has_bad_input_cases():
    import test_bad_input_apps

    public = public_objects(PUBLIC_MODULES)
    covered_names = {c.name for c in CORE_CASES + test_bad_input_apps.APP_CASES}
    covered = []
    for short in covered_names:
        obj = sparse_events
        for part in short.split("."):
            obj = getattr(obj, part)
        covered.append(obj)
    allowed = [public[a] for a in ALLOW_LIST if a in public]
    missing = sorted(
        q for q, obj in public.items()
        if not any(obj is c for c in covered + allowed))
    assert not missing, (
        f"public names without bad-input cases: {missing}; add cases to "
        "tests/test_bad_input.py or tests/test_bad_input_apps.py (or a commented "
        "ALLOW_LIST entry)")
    stale = sorted(a for a in ALLOW_LIST if a not in public)
    assert not stale, f"ALLOW_LIST names that are no longer public: {stale}"
    # every covered case name must be a public name (no typo hiding a gap)
    public_short = {q.removeprefix("sparse_events.") for q in public}
    assert covered_names <= public_short, sorted(covered_names - public_short)


def test_missing_argument_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="kernel"):
        models.deconvolve(Y, alpha=0.1)
    with pytest.raises(TypeError, match="alpha"):
        models.deconvolve(Y, H)
