"""Classical dead-time models: closed forms, inverses, counter simulation, live time."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sparse_events.gamma import (
    dead_time_counter,
    live_time_correction,
    max_measured_rate,
    measured_rate,
    recorded_count_variance,
    true_rate,
    true_rate_uncertainty,
)


@given(n_tau=st.floats(0.0, 50.0), tau=st.floats(1e-9, 1e-3))
def test_nonparalyzable_round_trip(n_tau, tau):
    n = n_tau / tau
    m = measured_rate(n, dead_time_s=tau, model="nonparalyzable")
    assert m == pytest.approx(n / (1 + n * tau))
    assert true_rate(m, dead_time_s=tau, model="nonparalyzable") == pytest.approx(n, rel=1e-9)


@given(n_tau=st.floats(0.0, 1.0), tau=st.floats(1e-9, 1e-3))
def test_paralyzable_round_trip_on_low_rate_branch(n_tau, tau):
    n = n_tau / tau
    m = measured_rate(n, dead_time_s=tau, model="paralyzable")
    assert m == pytest.approx(n * np.exp(-n * tau))
    back = true_rate(m, dead_time_s=tau, model="paralyzable")
    # near the maximum (n tau -> 1) the inverse is ill-conditioned: compare m, and n loosely
    assert measured_rate(back, dead_time_s=tau, model="paralyzable") == pytest.approx(m, rel=1e-9)
    assert back * tau <= 1.0 + 1e-9
    if n_tau < 0.9:
        assert back == pytest.approx(n, rel=1e-8, abs=1e-12)


def test_paralyzable_high_rate_branch_maps_to_low_rate_branch():
    tau = 1e-6
    n_high = 3.0 / tau
    m = measured_rate(n_high, dead_time_s=tau, model="paralyzable")
    n_low = true_rate(m, dead_time_s=tau, model="paralyzable")
    assert n_low * tau < 1
    assert measured_rate(n_low, dead_time_s=tau, model="paralyzable") == pytest.approx(m)


def test_maximum_measured_rates_and_errors_beyond():
    tau = 2e-6
    assert max_measured_rate(dead_time_s=tau, model="paralyzable") == pytest.approx(
        1 / (np.e * tau))
    assert max_measured_rate(dead_time_s=tau, model="nonparalyzable") == pytest.approx(1 / tau)
    # the paralyzable curve peaks at n = 1/tau with m = 1/(e tau)
    n = np.linspace(0, 5 / tau, 20001)
    m = measured_rate(n, dead_time_s=tau, model="paralyzable")
    assert n[np.argmax(m)] == pytest.approx(1 / tau, rel=1e-3)
    assert true_rate(1 / (np.e * tau), dead_time_s=tau, model="paralyzable") == pytest.approx(
        1 / tau, rel=1e-6)
    with pytest.raises(ValueError, match="paralyzable maximum"):
        true_rate(1.01 / (np.e * tau), dead_time_s=tau, model="paralyzable")
    with pytest.raises(ValueError, match="non-paralyzable maximum"):
        true_rate(1 / tau, dead_time_s=tau, model="nonparalyzable")


def test_array_inputs_and_no_dead_time():
    m = np.array([0.0, 1e3, 1e4])
    assert np.array_equal(true_rate(m, dead_time_s=1e-6, model="none"), m)
    assert np.array_equal(true_rate(m, dead_time_s=0.0, model="paralyzable"), m)
    out = true_rate(m, dead_time_s=1e-6, model="nonparalyzable")
    assert out.shape == (3,)
    np.testing.assert_allclose(out, m / (1 - m * 1e-6))


@pytest.mark.parametrize("bad, match", [
    (dict(measured_rate_hz=-1.0, dead_time_s=1e-6, model="paralyzable"), "measured_rate_hz"),
    (dict(measured_rate_hz=1.0, dead_time_s=-1e-6, model="paralyzable"), "dead_time_s"),
    (dict(measured_rate_hz=1.0, dead_time_s=1e-6, model="extended"), "model"),
    (dict(measured_rate_hz=np.nan, dead_time_s=1e-6, model="paralyzable"), "measured_rate_hz"),
])
def test_true_rate_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        true_rate(**bad)


@pytest.mark.parametrize("model", ["nonparalyzable", "paralyzable"])
@pytest.mark.parametrize("n_tau", [0.1, 0.5, 2.0])
def test_counter_recorded_fraction_matches_closed_form(model, n_tau):
    rng = np.random.default_rng(7)
    tau = 1e-6
    n = n_tau / tau
    T = 200_000 / n  # 200k true events
    t = np.sort(rng.random(rng.poisson(n * T)) * T)
    rec = dead_time_counter(t, dead_time_s=tau, model=model)
    expected = measured_rate(n, dead_time_s=tau, model=model) * T
    sd = np.sqrt(recorded_count_variance(n, duration_s=T, dead_time_s=tau, model=model)
                 + 0.0) + np.sqrt(n * T) * expected / (n * T)  # + Poisson spread of the total
    assert abs(rec.sum() - expected) < 5 * sd
    # the recorded events respect the dead time
    tr = t[rec]
    if model == "nonparalyzable":
        assert np.all(np.diff(tr) >= tau)
    else:
        gaps_before = np.diff(t)[rec[1:]]
        assert np.all(gaps_before >= tau)


def test_nonparalyzable_counter_against_loop():
    rng = np.random.default_rng(1)
    t = np.sort(rng.random(500))
    tau = 0.004
    rec = dead_time_counter(t, dead_time_s=tau, model="nonparalyzable")
    ref = []
    last = -np.inf
    for x in t:
        ok = x - last >= tau
        ref.append(ok)
        if ok:
            last = x
    assert np.array_equal(rec, ref)


@pytest.mark.parametrize("model", ["nonparalyzable", "paralyzable"])
def test_recorded_count_variance_matches_simulation(model):
    """Asymptotic variance of recorded counts (renewal theory / Mueller) vs replicas."""
    rng = np.random.default_rng(3)
    tau, n = 1.0, 0.8
    T = 400.0
    counts = []
    for _ in range(1500):
        t = np.sort(rng.random(rng.poisson(n * T)) * T)
        counts.append(dead_time_counter(t, dead_time_s=tau, model=model).sum())
    counts = np.asarray(counts)
    var = recorded_count_variance(n, duration_s=T, dead_time_s=tau, model=model)
    mean = measured_rate(n, dead_time_s=tau, model=model) * T
    assert counts.mean() == pytest.approx(mean, rel=0.01)
    # sample variance of 1500 replicas: relative sd sqrt(2/1499) ~ 3.7 %
    assert counts.var(ddof=1) == pytest.approx(var, rel=0.15)
    assert counts.var(ddof=1) < 0.9 * mean  # sub-Poisson, unlike the true counts


def test_true_rate_uncertainty_delta_method():
    tau, T = 1e-6, 1.0
    n = 3e5
    m = measured_rate(n, dead_time_s=tau, model="nonparalyzable") * T
    est, sd = true_rate_uncertainty(m, duration_s=T, dead_time_s=tau, model="nonparalyzable")
    assert est == pytest.approx(n)
    # closed form for the non-paralyzable counter: sd = sqrt(n (1 + n tau) / T)
    assert sd == pytest.approx(np.sqrt(n * (1 + n * tau) / T), rel=1e-9)
    est0, sd0 = true_rate_uncertainty(1e4, duration_s=2.0, dead_time_s=0.0, model="none")
    assert (est0, sd0) == (pytest.approx(5e3), pytest.approx(np.sqrt(1e4) / 2.0))


def test_dead_time_counter_validates():
    with pytest.raises(ValueError, match="sorted"):
        dead_time_counter([0.0, 2.0, 1.0], dead_time_s=0.1, model="paralyzable")
    assert dead_time_counter([], dead_time_s=0.1, model="paralyzable").size == 0
    assert dead_time_counter([0.0, 0.05], dead_time_s=0.1, model="none").all()


def test_live_time_correction():
    c = live_time_correction(892301, live_time_s=296.0, real_time_s=300.0)
    assert c.true_rate_hz == pytest.approx(892301 / 296.0)
    assert c.measured_rate_hz == pytest.approx(892301 / 300.0)
    assert c.dead_time_fraction == pytest.approx(4 / 300)
    # dividing by the live time is the non-paralyzable correction with tau = dead time per count
    n = true_rate(c.measured_rate_hz, dead_time_s=c.dead_time_per_count_s,
                  model="nonparalyzable")
    assert n == pytest.approx(c.true_rate_hz, rel=1e-12)
    with pytest.raises(ValueError, match="live_time_s"):
        live_time_correction(10, live_time_s=301.0, real_time_s=300.0)
    with pytest.raises(ValueError, match="live_time_s"):
        live_time_correction(10, live_time_s=0.0, real_time_s=300.0)
