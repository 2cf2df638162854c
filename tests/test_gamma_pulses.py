"""Pulse shapes: closed forms, pole-zero filter, shapes learned from waveforms."""

from pathlib import Path

import numpy as np
import pytest
from scipy.signal import lfilter

from sparse_events.gamma import (
    biexponential_pulse,
    learn_pulse_shape,
    pole_zero_filter,
    pulse_duration_s,
    read_wavedump,
    rise_time_10_90_s,
    trim_pulse,
)

DATA = Path(__file__).parent / "data"


def test_biexponential_closed_forms():
    fs, tr, td = 1e9, 10e-9, 100e-9
    p = biexponential_pulse(sampling_rate=fs, rise_time_s=tr, decay_time_s=td, normalize=None,
                            tail_fraction=1e-9)
    t = np.arange(p.size) / fs
    np.testing.assert_allclose(p, np.exp(-t / td) - np.exp(-t / tr))
    # area = td - tr (integral), peak at tr td / (td - tr) ln(td / tr)
    assert p.sum() / fs == pytest.approx(td - tr, rel=1e-3)
    t_peak = tr * td / (td - tr) * np.log(td / tr)
    assert abs(np.argmax(p) / fs - t_peak) <= 1 / fs
    assert biexponential_pulse(sampling_rate=fs, rise_time_s=tr, decay_time_s=td).max() == 1.0
    area = biexponential_pulse(sampling_rate=fs, rise_time_s=tr, decay_time_s=td,
                               normalize="area")
    assert area.sum() == pytest.approx(1.0)
    # default duration: cut where the tail is below 1e-4 of the peak
    assert p.size > 1 and abs(biexponential_pulse(sampling_rate=fs, rise_time_s=tr,
                                                  decay_time_s=td)[-1]) < 2e-4
    same = biexponential_pulse(sampling_rate=fs, rise_time_s=td, decay_time_s=td, normalize=None)
    ts = np.arange(same.size) / fs
    np.testing.assert_allclose(same, ts / td * np.exp(-ts / td))
    step = biexponential_pulse(sampling_rate=fs, rise_time_s=0.0, decay_time_s=td,
                               normalize=None, duration_s=50e-9)
    np.testing.assert_allclose(step, np.exp(-np.arange(50) / fs / td))


@pytest.mark.parametrize("kw, match", [
    (dict(rise_time_s=2e-8, decay_time_s=1e-8), "rise_time_s"),
    (dict(rise_time_s=-1e-9, decay_time_s=1e-8), "rise_time_s"),
    (dict(rise_time_s=1e-9, decay_time_s=0.0), "decay_time_s"),
    (dict(rise_time_s=1e-9, decay_time_s=1e-8, sampling_rate=None), "sampling_rate"),
    (dict(rise_time_s=1e-9, decay_time_s=1e-8, duration_s=1e-12), "samples"),
])
def test_biexponential_bad_input(kw, match):
    args = dict(sampling_rate=1e9)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        biexponential_pulse(**args)


def test_pole_zero_filter_closed_forms():
    fs, td, tr = 1e9, 200e-9, 5e-9
    n = np.arange(400)
    r = np.exp(-1 / (fs * td))
    # an exponential tail becomes one impulse
    out = pole_zero_filter(r ** n, sampling_rate=fs, decay_time_s=td)
    np.testing.assert_allclose(out, np.eye(1, 400)[0], atol=1e-12)
    # a bi-exponential becomes a pure exponential of the rise time constant
    p = np.exp(-n / (fs * td)) - np.exp(-n / (fs * tr))
    q = pole_zero_filter(p, sampling_rate=fs, decay_time_s=td)
    rr = np.exp(-1 / (fs * tr))
    np.testing.assert_allclose(q[1:], (r - rr) * rr ** (n[1:] - 1), atol=1e-12)
    # exactly invertible by the one-pole recursion; a step (decay inf) becomes its difference
    np.testing.assert_allclose(lfilter([1.0], [1.0, -r], q), p, atol=1e-12)
    y = np.random.default_rng(0).normal(size=(3, 50))
    d = pole_zero_filter(y, sampling_rate=fs)
    np.testing.assert_allclose(d[:, 1:], np.diff(y, axis=1))
    np.testing.assert_allclose(d[:, 0], y[:, 0])
    with pytest.raises(ValueError, match="decay_time_s"):
        pole_zero_filter(y, sampling_rate=fs, decay_time_s=-1.0)


def test_rise_time_duration_and_trim():
    fs = 1e9
    ramp = np.concatenate([np.zeros(5), np.linspace(0, 1, 101), np.ones(20)])
    # 10 % -> 90 % of a linear ramp of 100 samples: 80 samples
    assert rise_time_10_90_s(ramp, sampling_rate=fs) == pytest.approx(80e-9)
    p = np.array([0.0, 0.001, 0.02, 0.5, 1.0, 0.4, 0.05, 0.004, 0.0, 0.03, 0.0])
    # first and last samples above 1 % of the peak: indices 2 and 9
    assert pulse_duration_s(p, sampling_rate=fs, fraction=0.01) == pytest.approx(8e-9)
    # main lobe only: the isolated 0.03 after the gap is noise
    np.testing.assert_allclose(trim_pulse(p, fraction=0.01), [0.02, 0.5, 1.0, 0.4, 0.05])
    np.testing.assert_allclose(trim_pulse(2 * p, fraction=0.3, normalize="area"),
                               [0.5 / 1.9, 1.0 / 1.9, 0.4 / 1.9])


def _synthetic_waveforms(rng, n=40, n_samples=600, piled=(3, 11, 25)):
    fs = 1e9
    t = np.arange(n_samples)

    def shape(x):
        x = np.maximum(x, 0)
        return np.exp(-x / 60.0) - np.exp(-x / 12.0)

    peak = shape(np.array([12 * 60 / 48 * np.log(5)]))[0]
    W = []
    for i in range(n):
        t0 = 200 + rng.uniform(-8, 8)
        a = rng.uniform(200, 900)
        w = 1000 + a * shape(t - t0) / peak + rng.normal(0, 2.0, n_samples)
        if i in piled:
            w += 0.6 * a * shape(t - t0 - 150) / peak
        W.append(w)
    return np.round(np.array(W)), shape, peak, fs


def test_learn_pulse_shape_recovers_synthetic_shape_and_rejects_pile_up():
    rng = np.random.default_rng(11)
    W, shape, peak, fs = _synthetic_waveforms(rng)
    lp = learn_pulse_shape(W, sampling_rate=fs, baseline_samples=150, pre_samples=40,
                           length=400)
    assert not lp.used[[3, 11, 25]].any()
    assert lp.used.sum() == 37
    # true shape aligned the same way: its 50 % leading-edge crossing at pre_samples
    x = np.linspace(0, 60, 600001)
    y = shape(x) / peak
    t50 = x[np.argmax(y >= 0.5)]
    ref = shape(np.arange(400) - 40 + t50) / peak
    ref /= ref.max()
    assert np.abs(lp.pulse - ref).max() < 0.02
    assert lp.pulse.max() == 1.0 and np.argmax(lp.pulse) > 40


def test_learn_pulse_shape_on_measured_hpge_steps():
    wd = read_wavedump(DATA / "hpge_dt5720_wave0_first3.dat")
    lp = learn_pulse_shape(wd.waveforms, sampling_rate=250e6, baseline_samples=2800,
                           pre_samples=50, length=2000)
    assert lp.used.all()
    X = wd.waveforms.astype(float)
    # independent amplitude: plateau mean minus baseline mean (the preamplifier step)
    step = X[:, 4000:6000].mean(axis=1) - X[:, :2800].mean(axis=1)
    np.testing.assert_allclose(lp.amplitudes * lp.pulse[500:1500].mean(), step, atol=0.5)
    np.testing.assert_allclose(lp.noise_std, X[:, :2800].std(axis=1, ddof=1))
    # a charge-sensitive preamplifier step: rises in tens of ns, no decay within 8 us
    assert 5e-9 < rise_time_10_90_s(lp.pulse, sampling_rate=250e6) < 100e-9
    assert abs(lp.pulse[1900:].mean() - lp.pulse[100:300].mean()) < 0.01


def test_learn_pulse_shape_bad_input():
    W = np.zeros((3, 100))
    with pytest.raises(ValueError, match="no pulse"):
        learn_pulse_shape(W, sampling_rate=1e9, baseline_samples=20)
    with pytest.raises(ValueError, match="baseline_samples"):
        learn_pulse_shape(np.ones((3, 100)), sampling_rate=1e9, baseline_samples=1)
    with pytest.raises(ValueError, match="2-D"):
        learn_pulse_shape(np.ones(100), sampling_rate=1e9, baseline_samples=20)
