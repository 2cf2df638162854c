"""Applications: same input and random_state -> bit-identical output, repeated in one
process and across 1 vs 2 threads.

Default run (in process): the module fixture computes every digest under
``threadpool_limits(2)``; a repeat under the same limit and a run under
``threadpool_limits(1)`` (BLAS / OpenMP pools; the numba kernels are serial) must
give the same digests.  Slow run (``-m slow``): fresh subprocesses started with the
OMP/OPENBLAS/MKL/NUMBA thread variables set to 1 and 2, and one with an empty
``NUMBA_CACHE_DIR`` (cold numba cache: every kernel compiled from scratch).

Each component is hashed separately (SHA-256 of the float64 bytes of its outputs) so
that a failure names what changed: ECG sparse and Pan-Tompkins detection, gamma
simulation, event estimation and activity, the convex ReLU fits, six-lead
reconstruction.  Inputs are kept small (40 s of ECG, 20,000 gamma samples, 100 x 4
regression) so that the three in-process runs stay cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

HERE = Path(__file__).resolve().parent
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "NUMBA_NUM_THREADS")


def _digest(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(np.asarray(a, dtype=np.float64)).tobytes())
    return h.hexdigest()


def digests() -> dict:
    """Hash of every application's output on fixed inputs and seeds."""
    from sparse_events import ConvexGatedReLURegressor, ConvexReLURegressor
    from sparse_events._exceptions import ConvergenceWarning
    from sparse_events.ecg import SixLeadReconstructor, ecg_clean, ecg_peaks
    from sparse_events.ecg._sparse_detector import detect_r_peaks_sparse
    from sparse_events.gamma import (biexponential_pulse, estimate_activity, estimate_events,
                                     simulate_pulse_train)

    warnings.simplefilter("ignore", ConvergenceWarning)
    out = {}
    d = np.load(HERE / "data" / "mitdb_119_0-3min.npz")
    fs = float(d["sampling_rate"])
    x = (d["adc"][: int(40 * fs)] - d["baseline"]) / d["adc_gain"]
    cleaned = ecg_clean(x, sampling_rate=fs)
    det = detect_r_peaks_sparse(cleaned, sampling_rate=fs, chunk_s=20.0)
    out["ecg_sparse"] = _digest(det.r_peaks, det.candidates["strength"],
                                det.candidates["slope"])
    out["ecg_pantompkins"] = _digest(
        ecg_peaks(x, sampling_rate=fs, method="pantompkins")[1]["ECG_R_Peaks"])

    fs_g = 250e6
    pulse = biexponential_pulse(sampling_rate=fs_g, rise_time_s=4e-9, decay_time_s=12e-9,
                                tail_fraction=0.01)
    train = simulate_pulse_train(
        rate_hz=5e6, duration_s=8e-5, sampling_rate=fs_g, pulse=pulse,
        amplitudes=lambda rng, n: rng.uniform(20, 200, n), noise_std=1.0, dead_time_s=2e-8,
        dead_time_model="nonparalyzable", random_state=3)
    out["gamma_simulation"] = _digest(train.signal, train.arrival_times_s, train.amplitudes,
                                      train.recorded)
    ev = estimate_events(train.signal, sampling_rate=fs_g, pulse=pulse, noise_std=1.0,
                         dead_time_s=2e-8)
    out["gamma_estimation"] = _digest(ev.arrival_times_s, ev.amplitudes, ev.lasso_amplitudes)
    act = estimate_activity(train.signal, sampling_rate=fs_g, pulse=pulse, noise_std=1.0)
    out["gamma_activity"] = _digest([act.rate_hz, act.rate_uncertainty_hz, act.n_clusters])

    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 4))
    y = np.abs(X[:, 0]) - X[:, 1]
    for cls in (ConvexGatedReLURegressor, ConvexReLURegressor):
        m = cls(n_patterns=10, alpha=1e-3, random_state=5).fit(X, y)
        out[cls.__name__] = _digest(m.gates_, m.first_layer_weights_,
                                    m.second_layer_weights_, m.predict(X))

    lu = np.load(HERE / "data" / "ludb_1_limb_v2_v5.npz")
    leads = {str(n): (lu["adc"][k] - lu["baseline"][k]) / lu["gain"][k]
             for k, n in enumerate(lu["leads"])}
    fs_l = float(lu["sampling_rate"])
    six = SixLeadReconstructor(model="gated", n_patterns=20, train_step=4, random_state=0)
    six.fit(leads["v2"][:3000], {"I": leads["i"][:3000], "II": leads["ii"][:3000]},
            sampling_rate=fs_l)
    out["six_lead"] = _digest(six.predict(leads["v2"], sampling_rate=fs_l).to_numpy())
    return out


def _run(env_updates):
    env = dict(os.environ)
    env.update(env_updates)
    code = ("import json, sys; sys.path.insert(0, %r); "
            "from test_determinism_apps import digests; print(json.dumps(digests()))"
            % str(HERE))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True, timeout=600)
    return json.loads(res.stdout.strip().splitlines()[-1])


def _compare(runs):
    names = next(iter(runs.values())).keys()
    differing = {n: {label: r[n][:12] for label, r in runs.items()} for n in names
                 if len({r[n] for r in runs.values()}) > 1}
    assert not differing, f"outputs differ between runs: {differing}"


@pytest.fixture(scope="module")
def in_process():
    with threadpool_limits(limits=2):
        return digests()


def test_repeated_runs_in_process_are_identical(in_process):
    with threadpool_limits(limits=2):
        again = digests()
    _compare({"first": in_process, "second": again})


def test_bit_identical_across_1_and_2_threads(in_process):
    with threadpool_limits(limits=1):
        one = digests()
    _compare({"2 threads": in_process, "1 thread": one})


@pytest.mark.slow
def test_bit_identical_across_thread_variables_and_cold_numba_cache(in_process, tmp_path):
    one = {k: "1" for k in THREAD_VARS}
    two = {k: "2" for k in THREAD_VARS}
    cold = {"NUMBA_CACHE_DIR": str(tmp_path / "numba_cache")}
    _compare({"in process": in_process, "1 thread (variables)": _run(one),
              "2 threads (variables)": _run(two), "cold numba cache": _run({**one, **cold})})
