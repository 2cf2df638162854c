"""Regression tests for the session-11 audit of ``sparse_events.gamma`` (findings 1-3, 6, 7, 9)."""

import re

import numpy as np
import pytest

from sparse_events.gamma import (
    biexponential_pulse,
    estimate_events,
)


def test_dead_time_error_reports_the_dead_time_in_samples():
    # 5 ns at 100 MHz is half a sample: the message gives dead_time_s * sampling_rate
    fs = 100e6
    p = biexponential_pulse(sampling_rate=fs, rise_time_s=10e-9, decay_time_s=100e-9)
    rng = np.random.default_rng(0)
    y = rng.normal(0.0, 1.0, 4000)
    with pytest.raises(ValueError, match="dead_time_s") as info:
        estimate_events(y, sampling_rate=fs, pulse=p, dead_time_s=5e-9, noise_std=1.0)
    m = re.search(r"\(([0-9.eE+-]+) samples", str(info.value))
    assert m is not None and float(m.group(1)) == pytest.approx(5e-9 * fs)


def test_pileup_correction_on_default_range_spectrum_says_how_to_build_it():
    from sparse_events.gamma import correct_unresolved_pileup, energy_spectrum

    rng = np.random.default_rng(1)
    amps = rng.uniform(10.0, 600.0, 2000)
    with pytest.raises(ValueError, match=r"bin_edges_kev=np\.arange\(0, ") as info:
        correct_unresolved_pileup(energy_spectrum(amps), rate_hz=1e4, resolving_time_s=1e-7)
    assert "calibration[0]" in str(info.value)
    # the remedy the message gives works
    spec = energy_spectrum(amps, bin_edges_kev=np.arange(0.0, 620.0, 4.0))
    correct_unresolved_pileup(spec, rate_hz=1e4, resolving_time_s=1e-7)
