"""Same input (and random_state) -> bit-identical output: repeated runs, 1 vs 2
threads, cached vs freshly compiled numba kernels.

Default run (cheap, in process):

* 1 vs 2 threads: the same cases under ``threadpool_limits(1)`` and
  ``threadpool_limits(2)`` (BLAS / OpenMP pools; the numba kernels are serial);
* numba cache: the CD inner-loop kernel of deconvolution recompiled without the cache
  (``cache=False`` dispatchers built from the same Python functions and
  options, swapped into the solver module) against the cached ones.

Slow run (``-m slow``): fresh subprocesses started with 1 and 2 threads through
the ``OMP/OPENBLAS/MKL/NUMBA_NUM_THREADS`` variables, one of them with an empty
``NUMBA_CACHE_DIR`` (every kernel on the path compiled from scratch).
"""

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from sparse_events import Lasso, alpha_max, deconvolve
from sparse_events.datasets import make_random_spike_train
from sparse_events.solvers import _cd_kernels

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMBA_NUM_THREADS")


def case_outputs(n_samples=4000, lasso=True):
    """SHA-256 digests of the solver paths' outputs on fixed inputs: CD and FISTA
    deconvolution, a multi-kernel dictionary and (``lasso=True``) dense and sparse
    Lasso (BLAS-backed)."""
    d = make_random_spike_train(n_samples, kernel_length=70, random_state=7)
    a = 0.05 * alpha_max(d.signal, d.kernel)
    out = {"deconvolve cd": deconvolve(d.signal, d.kernel, a).coef,
           "deconvolve fista": deconvolve(d.signal, d.kernel, a, solver="fista",
                                          max_iter=300).coef}
    K = np.random.default_rng(1).standard_normal((3, 20))
    out["deconvolve 3 kernels"] = deconvolve(d.signal[: n_samples // 4], K, 1.0).coef
    if lasso:
        rng = np.random.default_rng(3)
        X = rng.standard_normal((300, 200))
        y = X[:, :5].sum(1) + rng.standard_normal(300)
        out["Lasso dense"] = Lasso(alpha=0.01, tol=1e-10).fit(X, y).coef_
        out["Lasso sparse"] = Lasso(alpha=0.01, tol=1e-10).fit(sp.csr_matrix(X * (X > 1)),
                                                                y).coef_
    return {k: hashlib.sha256(np.ascontiguousarray(v, dtype=np.float64).tobytes()).hexdigest()
            for k, v in out.items()}


def _assert_same(runs):
    names = next(iter(runs.values())).keys()
    differing = {n: {label: r[n][:12] for label, r in runs.items()} for n in names
                 if len({r[n] for r in runs.values()}) > 1}
    assert not differing, f"outputs differ between runs: {differing}"


def test_bit_identical_across_1_and_2_threads():
    with threadpool_limits(limits=1):
        one = case_outputs()
    with threadpool_limits(limits=2):
        two = case_outputs()
    _assert_same({"1 thread": one, "2 threads": two})


def test_cached_and_freshly_compiled_kernels_agree(monkeypatch):
    # the banded CD path (single kernel and dictionary) uses these kernels (the short one
    # for kernels of fewer than 32 taps)
    cached = case_outputs(2000, lasso=False)
    for name in ("banded_epoch_violation", "banded_epoch_violation_short"):
        disp = getattr(_cd_kernels, name)
        options = {k: v for k, v in disp.targetoptions.items()
                   if k not in ("cache", "nopython")}
        fresh = numba.njit(cache=False, **options)(disp.py_func)
        monkeypatch.setattr(_cd_kernels, name, fresh)
    recompiled = case_outputs(2000, lasso=False)
    # the swapped-in dispatchers were really used, and compiled here, not loaded
    for name in ("banded_epoch_violation", "banded_epoch_violation_short"):
        stats = getattr(_cd_kernels, name).stats
        assert stats.cache_path is None and sum(stats.cache_misses.values()) >= 1
    _assert_same({"cached kernels": cached, "freshly compiled kernels": recompiled})


def test_repeated_runs_in_process_are_identical():
    d = make_random_spike_train(5000, random_state=11)
    a = alpha_max(d.signal, d.kernel) * 0.02
    first = deconvolve(d.signal, d.kernel, a)
    second = deconvolve(d.signal, d.kernel, a)
    assert hashlib.sha256(first.coef.tobytes()).digest() == \
        hashlib.sha256(second.coef.tobytes()).digest()
    assert first.n_iter == second.n_iter
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((50, 30)), rng.standard_normal(50)
    np.testing.assert_array_equal(Lasso(alpha=0.05).fit(X, y).coef_,
                                  Lasso(alpha=0.05).fit(X, y).coef_)


def test_simulation_depends_only_on_random_state():
    a = make_random_spike_train(3000, random_state=5)
    b = make_random_spike_train(3000, random_state=np.random.default_rng(5))
    np.testing.assert_array_equal(a.signal, b.signal)
    state = np.random.get_state()[1].copy()
    make_random_spike_train(3000, random_state=None)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # global RNG untouched


# ------------------------------------------------------------------ slow: subprocesses
def _run_subprocess(env_updates):
    env = dict(os.environ)
    env.update(env_updates)
    code = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_determinism import case_outputs
        print(json.dumps(case_outputs(20000)))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True, timeout=900)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_bit_identical_across_thread_variables_and_cold_numba_cache(tmp_path):
    one = {k: "1" for k in THREAD_VARS}
    two = {k: "2" for k in THREAD_VARS}
    cold = {"NUMBA_CACHE_DIR": str(tmp_path / "numba_cache")}
    _assert_same({
        "in process (default threads, warm cache)": case_outputs(20000),
        "1 thread, cold numba cache": _run_subprocess({**one, **cold}),
        "2 threads, cache filled by the previous run": _run_subprocess({**two, **cold}),
    })
