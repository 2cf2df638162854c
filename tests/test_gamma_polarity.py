"""Negative-going detector signals: ``polarity="negative"``, and a warning instead of a silent
zero.

``estimate_events(-signal, ...)`` used to return no event without a word for a train of
negative-going pulses.  With ``polarity="negative"`` it must give exactly the events of
``estimate_events(signal, ...)`` (the simulator's ground truth checks the latter); without
it, finding no event while the sign-flipped signal has clear pulses warns.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from sparse_events.gamma import (biexponential_pulse, estimate_activity, estimate_events,
                                 simulate_pulse_train)

FS = 100e6
PULSE = biexponential_pulse(sampling_rate=FS, rise_time_s=10e-9, decay_time_s=100e-9)


@pytest.fixture(scope="module")
def train():
    return simulate_pulse_train(rate_hz=1e5, duration_s=2e-4, sampling_rate=FS, pulse=PULSE,
                                amplitudes=1.0, noise_std=0.01, random_state=0)


def _truth_matched(ev, tr, tol_samples=2):
    """Every true arrival has a recovered event within ``tol_samples``, and vice versa."""
    true = np.asarray(tr.arrival_times_s) * FS
    got = ev.arrival_times_s * FS
    d = np.abs(true[:, None] - got[None, :])
    return bool(np.all(d.min(axis=1) <= tol_samples) and np.all(d.min(axis=0) <= tol_samples))


@pytest.mark.parametrize("dead_time_s", [None, 50e-9])
def test_negative_polarity_gives_the_events_of_the_positive_signal(train, dead_time_s):
    pos = estimate_events(train.signal, sampling_rate=FS, pulse=PULSE, dead_time_s=dead_time_s)
    if dead_time_s is None:
        assert pos.n_events == len(train.arrival_times_s) and _truth_matched(pos, train)
    neg = estimate_events(-train.signal, sampling_rate=FS, pulse=PULSE,
                          dead_time_s=dead_time_s, polarity="negative")
    np.testing.assert_array_equal(neg.arrival_times_s, pos.arrival_times_s)
    np.testing.assert_array_equal(neg.amplitudes, pos.amplitudes)
    assert neg.noise_std == pos.noise_std and neg.alpha == pos.alpha


def test_negative_polarity_memmap_and_int16(train, tmp_path):
    counts = np.round(-train.signal * 1000).astype(np.int16)
    ref = estimate_events(-counts.astype(np.float32), sampling_rate=FS, pulse=PULSE)
    mm = np.lib.format.open_memmap(tmp_path / "neg.npy", mode="w+", dtype=np.int16,
                                   shape=counts.shape)
    mm[:] = counts
    for sig in (counts, mm):
        ev = estimate_events(sig, sampling_rate=FS, pulse=PULSE, polarity="negative")
        np.testing.assert_array_equal(ev.arrival_times_s, ref.arrival_times_s)
        np.testing.assert_allclose(ev.amplitudes, ref.amplitudes, rtol=1e-12)
    assert ref.n_events >= len(train.arrival_times_s)


def test_estimate_activity_passes_polarity(train):
    pos = estimate_activity(train.signal, sampling_rate=FS, pulse=PULSE)
    neg = estimate_activity(-train.signal, sampling_rate=FS, pulse=PULSE, polarity="negative")
    assert neg.rate_hz == pos.rate_hz


def test_wrong_polarity_warns(train):
    with pytest.warns(UserWarning, match=r"no event found with polarity='positive'.*"
                                         r"polarity='negative'"):
        ev = estimate_events(-train.signal, sampling_rate=FS, pulse=PULSE)
    assert ev.n_events == 0
    with pytest.warns(UserWarning, match=r"polarity='positive'"):
        estimate_events(train.signal, sampling_rate=FS, pulse=PULSE, polarity="negative")


@pytest.mark.parametrize("polarity", ["positive", "negative"])
def test_wrong_polarity_on_a_baseline_offset_warns(polarity):
    """Pulses of the other sign riding on a baseline offset of 0.1 (10 noise standard
    deviations against the pulses' 1): the offset, read as noise, raised alpha and lowered
    the matched filter of the flipped signal, and no warning was given.  Reference: the
    baseline-subtracted signal with the other polarity gives the simulated events."""
    tr = simulate_pulse_train(rate_hz=1e5, duration_s=2e-4, sampling_rate=FS, pulse=PULSE,
                              amplitudes=1.0, noise_std=0.01, random_state=1)
    offset = 0.1
    # pulses of the sign opposite to ``polarity``, on a baseline of +offset (positive) or
    # -offset (negative): the baseline is on the side the pulses do not go
    sign = 1.0 if polarity == "positive" else -1.0
    signal = sign * (offset - tr.signal)
    other = "negative" if polarity == "positive" else "positive"
    with pytest.warns(UserWarning, match=rf"no event found with polarity='{polarity}'.*"
                                         rf"baseline offset of {'-' if sign < 0 else ''}"
                                         r"0\.(09|10).*"
                                         rf"polarity='{other}'"):
        ev = estimate_events(signal, sampling_rate=FS, pulse=PULSE, polarity=polarity)
    assert ev.n_events == 0
    fixed = estimate_events(signal - sign * offset, sampling_rate=FS, pulse=PULSE,
                            polarity=other)
    assert fixed.n_events == len(tr.arrival_times_s) and _truth_matched(fixed, tr)


@pytest.mark.parametrize("offset", [-0.1, -0.01])
def test_noise_on_a_baseline_offset_does_not_warn(offset):
    noise = offset + 0.01 * np.random.default_rng(5).standard_normal(20_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ev = estimate_events(noise, sampling_rate=FS, pulse=PULSE)
    assert ev.n_events == 0


def test_noise_only_does_not_warn():
    noise = 0.01 * np.random.default_rng(5).standard_normal(20_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ev = estimate_events(noise, sampling_rate=FS, pulse=PULSE)
    assert ev.n_events == 0


def test_bad_polarity(train):
    with pytest.raises(ValueError, match="polarity must be one of"):
        estimate_events(train.signal, sampling_rate=FS, pulse=PULSE, polarity="down")


@pytest.mark.parametrize("offset, noise_std", [(0.01, None), (0.003, None), (0.02, 0.01),
                                               (0.3, 0.01)])
def test_wrong_polarity_with_junk_events_warns(offset, noise_std):
    """Negative pulses of height 1 (noise 0.01) on a small positive baseline offset, analysed
    with polarity='positive': the offset and the noise gave junk events (up to hundreds,
    amplitudes of the order of the offset) and, as some event was found, no warning.  The
    largest of them is far smaller than the pulses of the sign-flipped signal.  Reference:
    the baseline-subtracted signal with polarity='negative' gives the simulated events."""
    tr = simulate_pulse_train(rate_hz=1e5, duration_s=2e-4, sampling_rate=FS, pulse=PULSE,
                              amplitudes=1.0, noise_std=0.01, random_state=1)
    signal = offset - tr.signal
    with pytest.warns(UserWarning, match=r"events found with polarity='positive'.*"
                                         r"baseline offset of 0\.0*[1-9].*"
                                         r"polarity='negative'") as rec:
        ev = estimate_events(signal, sampling_rate=FS, pulse=PULSE, noise_std=noise_std)
    assert ev.n_events > 0 and ev.amplitudes.max() < 0.5
    named = float(re.search(r"baseline offset of ([-+0-9.e]+) ", str(rec[0].message)).group(1))
    assert abs(named - offset) < 0.2 * 0.01  # the median: within a fifth of the noise
    fixed = estimate_events(np.median(signal) - signal, sampling_rate=FS, pulse=PULSE,
                            noise_std=noise_std)
    assert fixed.n_events == len(tr.arrival_times_s) and _truth_matched(fixed, tr)


@pytest.mark.parametrize("kind", ["float64", "float32", "int16"])
@pytest.mark.parametrize("offset, given", [(-0.3, False), (-0.01, False), (0.0, False),
                                           (0.01, False), (-0.3, True), (0.3, True)])
def test_right_polarity_on_an_offset_does_not_warn(kind, offset, given):
    """Pulses of the given sign (amplitudes 0.05 to 1, noise 0.01, rate x L about 1) on
    baseline offsets of either sign, as float64, float32 and ADC counts: the flipped signal
    holds no pulse, no other-polarity warning (events are found).  ``given``: ``noise_std``
    passed (a large positive offset leaves no sample below zero to estimate it from)."""
    tr = simulate_pulse_train(rate_hz=1e6, duration_s=2e-4, sampling_rate=FS, pulse=PULSE,
                              amplitudes=lambda rng, n: rng.uniform(0.05, 1.0, n),
                              noise_std=0.01, random_state=3)
    y = tr.signal + offset
    y = {"float64": y, "float32": y.astype(np.float32),
         "int16": np.round(y * 100).astype(np.int16)}[kind]
    noise_std = (1.0 if kind == "int16" else 0.01) if given else None
    for sig, polarity in ((y, "positive"), (-y, "negative")):
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)
            ev = estimate_events(sig, sampling_rate=FS, pulse=PULSE, polarity=polarity,
                                 noise_std=noise_std)
        assert ev.n_events > 0


def test_wrong_polarity_adc_counts_on_an_offset_warns():
    """Negative pulses of 20 counts on a baseline of 3 counts, noise of 0.4 LSB, in int16,
    analysed with polarity='positive': no event is found.  The noise of the signal without
    its offset (most samples equal to the median) was estimated as 0 and the offset test
    skipped, without a warning; estimate_noise_std recognises the counts.  Reference: the
    alpha named in the warning is the default alpha for the standard deviation of the
    simulated quantised noise, and the baseline-subtracted counts with polarity='negative'
    give the simulated events."""
    tr = simulate_pulse_train(rate_hz=1e5, duration_s=2e-4, sampling_rate=FS, pulse=PULSE,
                              amplitudes=20.0, noise_std=0.0, random_state=1)
    noise = np.round(3.0 + 0.4 * np.random.default_rng(2).standard_normal(tr.signal.size))
    counts = (noise - np.round(tr.signal)).astype(np.int16)
    with pytest.warns(UserWarning, match=r"no event found with polarity='positive'.*"
                                         r"baseline offset of 3 .*polarity='negative'") as rec:
        ev = estimate_events(counts, sampling_rate=FS, pulse=PULSE)
    assert ev.n_events == 0
    named = float(re.search(r"x alpha \(([0-9.e+-]+)\)", str(rec[0].message)).group(1))
    p = np.asarray(PULSE)
    expected = np.std(noise - 3.0) * np.linalg.norm(p) * np.sqrt(2 * np.log(counts.size))
    assert named == pytest.approx(expected, rel=0.1)
    fixed = estimate_events(counts - 3, sampling_rate=FS, pulse=PULSE, polarity="negative")
    assert fixed.n_events == len(tr.arrival_times_s) and _truth_matched(fixed, tr)
