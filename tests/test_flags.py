"""Flags are True/False: strings and numbers are not read by truthiness.

``bool("no")`` is ``True``, so ``positive="no"`` used to fit a non-negative model
(found by an adversarial input audit, 2026-11-24).  Every flag below must raise a
``TypeError`` naming it; numpy's bools stay accepted and give the same result as
Python's.
"""

import numpy as np
import pytest

import sparse_events as se
from sparse_events import gamma
from sparse_events.solvers import L1, WeightedL1

BAD = ["no", "False", 0.5, 1, None]


def _signal():
    rng = np.random.default_rng(0)
    return rng.standard_normal(200), np.array([1.0, 0.8, 0.5, 0.3, 0.1])


@pytest.mark.parametrize("bad", BAD)
def test_model_flags_refuse_non_bools(bad):
    y, h = _signal()
    calls = {
        "positive": lambda: se.deconvolve(y, h, 0.1, positive=bad),
        "debias": lambda: se.deconvolve(y, h, 0.1, debias=bad),
    }
    cp = dict(beta=1.0, g=se.refractory_window(5, 1.0))
    calls |= {f"cp {k}": (lambda k=k: se.cross_products_deconvolve(y, h, **cp, **{k: bad}))
              for k in ("positive", "debias", "final_step")}
    for label, call in calls.items():
        name = label.split()[-1]
        with pytest.raises(TypeError, match=f"{name} must be True or False"):
            call()
    X, t = np.eye(5), np.ones(5)
    for name in ("positive", "fit_intercept"):
        with pytest.raises(TypeError, match=f"{name} must be True or False"):
            se.Lasso(alpha=0.01, **{name: bad}).fit(X, t)
    for cls in (L1, WeightedL1):
        with pytest.raises(TypeError, match="positive must be True or False"):
            cls(0.1, positive=bad)


def test_numpy_bools_equal_python_bools():
    y, h = _signal()
    a = se.deconvolve(y, h, 0.1, positive=np.bool_(True)).coef
    b = se.deconvolve(y, h, 0.1, positive=True).coef
    assert np.array_equal(a, b) and a.min() >= 0
    c = se.deconvolve(y, h, 0.1, positive=np.bool_(False)).coef
    assert np.array_equal(c, se.deconvolve(y, h, 0.1, positive=False).coef) and c.min() < 0


def _pulse_train(rate_hz=4e6):
    fs = 250e6
    pulse = gamma.biexponential_pulse(sampling_rate=fs, rise_time_s=4e-9, decay_time_s=12e-9,
                                      tail_fraction=0.01)
    y = gamma.simulate_pulse_train(rate_hz=rate_hz, duration_s=2e-5, sampling_rate=fs,
                                   pulse=pulse, amplitudes=50.0, noise_std=1.0,
                                   random_state=2).signal
    return y, fs, pulse


def test_estimate_events_debias_flag_and_default_overlap_message():
    y, fs, pulse = _pulse_train()
    with pytest.raises(TypeError, match="debias must be True or False"):
        gamma.estimate_events(y, sampling_rate=fs, pulse=pulse, noise_std=1.0, debias="no")
    L = pulse.size
    overlap = max(16 * L, 256)
    # chunk_size too small for the default overlap: the message says it is the default
    # and which chunk_size would do
    with pytest.raises(ValueError, match=rf"default overlap .* = {overlap} .* at least "
                                         rf"{2 * overlap + 1}"):
        gamma.estimate_events(y, sampling_rate=fs, pulse=pulse, noise_std=1.0,
                              chunk_size=2 * overlap)
    # that chunk_size works, and an explicit overlap is named as such
    gamma.estimate_events(y, sampling_rate=fs, pulse=pulse, noise_std=1.0,
                          chunk_size=2 * overlap + 1)
    with pytest.raises(ValueError, match=r"^overlap \(300\)"):
        gamma.estimate_events(y, sampling_rate=fs, pulse=pulse, noise_std=1.0,
                              chunk_size=600, overlap=300)


def test_estimate_events_warns_when_the_result_is_not_a_lasso_solution():
    """segment_solver='cd' with an overlap as short as the pulse: chunk-dependent amplitudes
    whose optimality violation exceeds alpha; a ConvergenceWarning says so (the default
    chunking gives a solution, ~1e-14, without warning)."""
    import warnings

    from sparse_events.solvers import ConvergenceWarning

    y, fs, pulse = _pulse_train(rate_hz=40e6)
    kw = dict(sampling_rate=fs, pulse=pulse, noise_std=1.0, segment_solver="cd", tol=1e-8,
              max_iter=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        good = gamma.estimate_events(y, **kw)
    assert good.kkt_violation < 1e-6
    with pytest.warns(ConvergenceWarning, match="kkt_violation"):
        bad = gamma.estimate_events(y, chunk_size=1000, overlap=pulse.size, **kw)
    assert bad.kkt_violation > 1.0


def test_alpha_max_positive_flag_and_gap_rule_message():
    y, h = _signal()
    with pytest.raises(TypeError, match="positive must be True or False"):
        se.alpha_max(y, h, positive="no")
    assert se.alpha_max(y, h, positive=np.bool_(True)) == se.alpha_max(y, h, positive=True)
    from sparse_events.solvers import Quadratic, solve

    with pytest.raises(ValueError, match=r"stopping='gap' needs a penalty with alpha > 0"):
        solve(Quadratic(np.eye(3), np.ones(3)), L1(0.0), stopping="gap")
