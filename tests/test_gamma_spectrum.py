"""Energy spectra, photopeak fits and threshold counting against references."""

import numpy as np
import pytest

from sparse_events.gamma import (
    biexponential_pulse,
    dead_time_counter,
    energy_spectrum,
    fit_photopeak,
    simulate_pulse_train,
    threshold_counter,
)


def test_energy_spectrum_is_histogram_of_calibrated_amplitudes(rng):
    a = rng.uniform(0, 100, 5000)
    cal = (2.0, 3.0, 0.01)
    sp = energy_spectrum(a, calibration=cal, n_bins=50, energy_range_kev=(0, 300))
    e = 2.0 + 3.0 * a + 0.01 * a ** 2
    ref, edges = np.histogram(e, bins=50, range=(0, 300))
    np.testing.assert_array_equal(sp.counts, ref)
    np.testing.assert_allclose(sp.bin_edges_kev, edges)
    assert sp.n_outside == np.sum(e >= 300)
    assert sp.counts_between(0, 300) == ref.sum()
    with pytest.raises(ValueError, match="calibration"):
        energy_spectrum(a, calibration=(1.0, 0.0))
    with pytest.raises(ValueError, match="increasing"):
        energy_spectrum(a, calibration=(0.0, 1.0, -1.0))
    with pytest.raises(ValueError, match="amplitudes"):
        energy_spectrum([np.nan, 1.0])


def test_fit_photopeak_recovers_gaussian_on_linear_background(rng):
    n_peak, mu, sigma = 20000, 661.7, 12.0
    e = np.concatenate([rng.normal(mu, sigma, n_peak),
                        rng.uniform(500, 800, 30000)])  # flat background
    sp = energy_spectrum(e, n_bins=300, energy_range_kev=(500, 800))
    fit = fit_photopeak(sp, window_kev=(580, 740))
    assert abs(fit.position_kev - mu) < 5 * sigma / np.sqrt(n_peak)
    assert fit.fwhm_kev == pytest.approx(2.3548 * sigma, rel=0.03)
    # the realized number of peak events inside the window, with its fit uncertainty
    assert abs(fit.area - n_peak) < 4 * fit.area_uncertainty
    assert fit.area_uncertainty > np.sqrt(n_peak)  # the background adds variance


def test_threshold_counter_on_isolated_pulses():
    fs = 100e6
    p = biexponential_pulse(sampling_rate=fs, rise_time_s=20e-9, decay_time_s=60e-9)
    tr = simulate_pulse_train(rate_hz=1e3, duration_s=0.05, sampling_rate=fs, pulse=p,
                              amplitudes=lambda rng, n: rng.uniform(5, 50, n),
                              subsample=False, random_state=0)
    assert np.diff(tr.arrival_samples).min() > 2 * p.size  # isolated at this rate
    tc = threshold_counter(tr.signal, sampling_rate=fs, threshold=1.0)
    assert tc.n_events == tr.n_events == tc.n_crossings
    # heights: the pulse peaks exactly on a sample (unit-peak pulse, on-grid arrivals)
    np.testing.assert_allclose(tc.heights, tr.amplitudes, rtol=1e-12)
    # the crossing lies within the rising edge, before the peak sample
    lag = tc.arrival_times_s * fs - tr.arrival_samples
    assert np.all((lag >= 0) & (lag <= np.argmax(p)))
    assert tc.rate_hz == pytest.approx(tr.n_events / tr.duration_s)


def test_threshold_counter_pile_up_and_dead_time():
    fs = 1e6
    p = np.array([1.0, 1.0, 1.0, 0.5])
    # two pulses 2 samples apart pile up: one crossing with the summed height
    y = np.zeros(60)
    y[10:14] += 3 * p
    y[12:16] += 2 * p
    y[40:44] += 1 * p
    tc = threshold_counter(y, sampling_rate=fs, threshold=0.5, integration_window_s=8e-6,
                           integration_offset_s=0.5e-6, pulse_area=p.sum())
    assert tc.n_events == 2
    np.testing.assert_allclose(tc.heights, [5.0, 1.0])
    # charge integration over samples 8..15 sums both piled-up pulses
    np.testing.assert_allclose(tc.integrals, [5.0, 1.0])
    # dead time: the counter's recorded crossings are those of dead_time_counter
    rng = np.random.default_rng(1)
    spikes = np.zeros(20000)
    spikes[rng.choice(20000, 3000, replace=False)] = 1.0
    z = np.convolve(spikes, [1.0])[:20000]
    for model in ["nonparalyzable", "paralyzable"]:
        tc = threshold_counter(z, sampling_rate=fs, threshold=0.5, dead_time_s=6.5e-6,
                               dead_time_model=model)
        everything = threshold_counter(z, sampling_rate=fs, threshold=0.5)
        keep = dead_time_counter(everything.arrival_times_s, dead_time_s=6.5e-6, model=model)
        np.testing.assert_allclose(tc.arrival_times_s, everything.arrival_times_s[keep])
        assert tc.n_crossings == everything.n_events
    with pytest.raises(ValueError, match="threshold"):
        threshold_counter(z, sampling_rate=fs, threshold=0.0)


def test_threshold_counter_float32_long_record():
    """Charge integrals of a long float32 record equal those of its float64 copy."""
    fs = 100e6
    p = biexponential_pulse(sampling_rate=fs, rise_time_s=20e-9, decay_time_s=60e-9)
    tr = simulate_pulse_train(rate_hz=2e6, duration_s=0.02, sampling_rate=fs, pulse=p,
                              amplitudes=500.0, noise_std=1.0, random_state=3,
                              dtype=np.float32)
    kw = dict(sampling_rate=fs, threshold=10.0, dead_time_s=p.size / fs,
              integration_window_s=p.size / fs, integration_offset_s=2 / fs,
              pulse_area=p.sum())
    a = threshold_counter(tr.signal, **kw)
    b = threshold_counter(tr.signal.astype(np.float64), **kw)
    assert a.n_events > 10000
    np.testing.assert_allclose(a.integrals, b.integrals, rtol=0, atol=1e-6 * 500)
