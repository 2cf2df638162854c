"""Simulated data sets: the noise level of make_random_spike_train."""

import numpy as np
import pytest

from sparse_events.datasets import make_random_spike_train


@pytest.mark.parametrize("reference", ["absolute", "relative"])
@pytest.mark.parametrize("snr_db", [20.0, -3.0, -3000.0])
def test_noise_std_follows_snr(reference, snr_db):
    d = make_random_spike_train(20_000, snr_db=snr_db, snr_reference=reference,
                                random_state=0)
    power = 1.0 if reference == "absolute" else np.mean(d.clean ** 2)
    # closed form: noise variance = reference power * 10^(-snr_db / 10)
    assert d.noise_std == pytest.approx(np.sqrt(power) * 10.0 ** (-snr_db / 20.0), rel=1e-12)
    # the noise added has that standard deviation (20000 samples: ~0.5 % sampling error)
    assert np.std(d.signal - d.clean) == pytest.approx(d.noise_std, rel=0.03)


def test_infinite_snr_is_noise_free():
    d = make_random_spike_train(1000, snr_db=np.inf, random_state=0)
    assert d.noise_std == 0.0
    np.testing.assert_array_equal(d.signal, d.clean)
    np.testing.assert_allclose(d.clean, np.convolve(d.coef, d.kernel)[:1000], rtol=1e-12)


@pytest.mark.parametrize("snr_db", [-np.inf, np.nan])
def test_non_finite_snr_is_refused(snr_db):
    # -inf gave a noise-free signal (the opposite of its meaning)
    with pytest.raises(ValueError, match="snr_db"):
        make_random_spike_train(1000, snr_db=snr_db, random_state=0)


@pytest.mark.parametrize("reference", ["absolute", "relative"])
@pytest.mark.parametrize("snr_db", [-1e6, -3100.0])
def test_overflowing_noise_is_a_value_error(reference, snr_db):
    # the noise variance 10^(-snr_db / 10) overflowed: OverflowError from Python
    with pytest.raises(ValueError, match=r"snr_db.*overflows"):
        make_random_spike_train(1000, snr_db=snr_db, snr_reference=reference,
                                random_state=0)
