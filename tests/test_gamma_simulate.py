"""simulate_pulse_train against closed forms and a direct construction."""

import numpy as np
import pytest
from scipy import stats

from sparse_events.gamma import (
    SpectrumSampler,
    biexponential_pulse,
    dead_time_counter,
    simulate_pulse_train,
)

FS = 100e6


def _pulse():
    return biexponential_pulse(sampling_rate=FS, rise_time_s=20e-9, decay_time_s=60e-9)


def _direct(train, pulse, subsample=True):
    """Sum of shifted pulses built one event at a time (linear interpolation of the pulse)."""
    n = train.signal.size
    out = np.zeros(n)
    grid = np.arange(n)
    src = np.arange(-1, pulse.size + 1)
    ext = np.concatenate([[0.0], pulse, [0.0]])  # linear interpolation of the zero-padded pulse
    for t, a in zip(train.arrival_samples, train.amplitudes):
        out += a * np.interp(grid - t, src, ext, left=0.0, right=0.0)
    return out


@pytest.mark.parametrize("subsample", [True, False])
def test_signal_is_sum_of_shifted_pulses(subsample):
    p = _pulse()
    tr = simulate_pulse_train(rate_hz=2e6, duration_s=40e-6, sampling_rate=FS, pulse=p,
                              amplitudes=lambda rng, n: rng.uniform(1, 5, n),
                              subsample=subsample, random_state=0)
    assert tr.n_events > 40
    if not subsample:
        np.testing.assert_allclose(tr.arrival_samples, np.round(tr.arrival_samples), atol=1e-6)
    np.testing.assert_allclose(tr.signal, _direct(tr, p), atol=1e-12)


def test_chunking_does_not_change_the_signal():
    p = _pulse()
    kw = dict(rate_hz=5e6, duration_s=50e-6, sampling_rate=FS, pulse=p, noise_std=0.0,
              amplitudes=2.0, random_state=3)
    a = simulate_pulse_train(chunk_size=1 << 22, **kw)
    b = simulate_pulse_train(chunk_size=37, **kw)
    np.testing.assert_allclose(a.signal, b.signal, atol=1e-12)
    assert np.array_equal(a.arrival_times_s, b.arrival_times_s)


def test_poisson_statistics_of_counts():
    """Counts in replicas: mean = variance = rate * duration (Poisson)."""
    p = _pulse()
    rate, T = 3e5, 1e-4
    counts = np.array([
        simulate_pulse_train(rate_hz=rate, duration_s=T, sampling_rate=FS, pulse=p,
                             random_state=seed).n_events for seed in range(400)])
    mu = rate * T  # 30
    # mean: 5 standard errors; dispersion index: chi-square bounds
    assert abs(counts.mean() - mu) < 5 * np.sqrt(mu / counts.size)
    disp = counts.var(ddof=1) * (counts.size - 1) / mu
    lo, hi = stats.chi2.ppf([1e-4, 1 - 1e-4], counts.size - 1)
    assert lo < disp < hi


def test_arrival_times_are_uniform_and_sorted():
    tr = simulate_pulse_train(rate_hz=1e6, duration_s=2e-3, sampling_rate=FS, pulse=_pulse(),
                              random_state=5)
    t = tr.arrival_times_s
    assert np.all(np.diff(t) >= 0)
    assert stats.kstest(t / tr.duration_s, "uniform").pvalue > 1e-3
    # inter-arrival times are exponential with the rate
    assert stats.kstest(np.diff(t) * 1e6, "expon").pvalue > 1e-3


def test_noise_and_dead_time_ground_truth():
    p = _pulse()
    tr = simulate_pulse_train(rate_hz=0.0, duration_s=1e-3, sampling_rate=FS, pulse=p,
                              noise_std=0.7, random_state=2)
    assert tr.n_events == 0
    assert tr.signal.std() == pytest.approx(0.7, rel=0.01)
    tr = simulate_pulse_train(rate_hz=5e6, duration_s=1e-3, sampling_rate=FS, pulse=p,
                              dead_time_s=300e-9, dead_time_model="paralyzable",
                              random_state=2)
    assert np.array_equal(tr.recorded, dead_time_counter(
        tr.arrival_times_s, dead_time_s=300e-9, model="paralyzable"))
    frac = tr.recorded.mean()
    assert frac == pytest.approx(np.exp(-5e6 * 300e-9), abs=5 * np.sqrt(frac / tr.n_events))


def test_spectrum_sampler_follows_histogram():
    rng = np.random.default_rng(0)
    edges = np.linspace(0.0, 100.0, 11)
    counts = np.array([0, 5, 10, 50, 5, 5, 0, 20, 5, 0], dtype=float)
    s = SpectrumSampler(counts, edges, gain=2.0, low=10.0)
    x = s(rng, 20000) / 2.0
    h, _ = np.histogram(x, edges)
    assert h[0] == 0 and h[6] == 0
    expected = counts / counts.sum() * x.size
    ok = expected > 0
    chi2 = ((h[ok] - expected[ok]) ** 2 / expected[ok]).sum()
    assert chi2 < stats.chi2.ppf(1 - 1e-4, ok.sum() - 1)
    with pytest.raises(ValueError, match="no counts"):
        SpectrumSampler(counts, edges, low=95.0)
    with pytest.raises(ValueError, match="bin_edges"):
        SpectrumSampler(counts, edges[:-1])


def test_several_pulse_shapes():
    p1 = _pulse()
    p2 = np.roll(p1, 1)
    shapes = np.stack([p1, p2])
    tr = simulate_pulse_train(rate_hz=1e6, duration_s=100e-6, sampling_rate=FS, pulse=shapes,
                              random_state=4)
    assert set(np.unique(tr.shape_index)) == {0, 1}
    ref = np.zeros(tr.signal.size)
    grid = np.arange(tr.signal.size)
    for t, a, q in zip(tr.arrival_samples, tr.amplitudes, tr.shape_index):
        ref += a * np.interp(grid - t, np.arange(-1, p1.size + 1),
                             np.concatenate([[0.0], shapes[q], [0.0]]), left=0.0, right=0.0)
    np.testing.assert_allclose(tr.signal, ref, atol=1e-12)


@pytest.mark.parametrize("kw, match", [
    (dict(rate_hz=-1.0), "rate_hz"),
    (dict(duration_s=0.0), "duration_s"),
    (dict(sampling_rate=-5.0), "sampling_rate"),
    (dict(sampling_rate=None), "sampling_rate"),
    (dict(dead_time_s=-1e-9), "dead_time_s"),
    (dict(dead_time_model="extendable"), "dead_time_model"),
    (dict(noise_std=np.nan), "noise_std"),
    (dict(duration_s=5e-8), "longer than"),
    (dict(pulse=[np.nan, 1.0]), "pulse"),
])
def test_bad_input(kw, match):
    args = dict(rate_hz=1e6, duration_s=1e-5, sampling_rate=FS, pulse=_pulse())
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        simulate_pulse_train(**args)
