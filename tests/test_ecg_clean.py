"""ecg_clean: zero-phase band-pass checked against its closed-form frequency response."""

import numpy as np
import pytest
from scipy import signal as sps

from _scipy_reference import sosfiltfilt_min_length

from sparse_events.ecg import ecg_clean, interpolate_gaps

FS = 360.0


def _gain(freq_hz, fs=FS, low=0.5, high=40.0, order=2):
    """|H(f)|^2 of the forward-backward Butterworth band-pass (closed form via sosfreqz)."""
    sos = sps.butter(order, [low, high], btype="bandpass", fs=fs, output="sos")
    _, h = sps.sosfreqz(sos, worN=[freq_hz], fs=fs)
    return float(np.abs(h[0]) ** 2)


@pytest.mark.parametrize("freq", [0.1, 0.3, 2.0, 10.0, 25.0, 60.0])
def test_sine_is_scaled_by_squared_magnitude_without_phase_shift(freq):
    t = np.arange(int(60 * FS)) / FS
    x = np.sin(2 * np.pi * freq * t)
    y = ecg_clean(x, sampling_rate=FS)
    mid = slice(int(20 * FS), int(40 * FS))  # away from the edge transients
    expected = _gain(freq) * x[mid]
    np.testing.assert_allclose(y[mid], expected, atol=2e-3 * max(1.0, _gain(freq)))


def test_baseline_wander_is_removed_and_qrs_does_not_move():
    neurokit2 = pytest.importorskip("neurokit2")
    ecg = neurokit2.ecg_simulate(duration=30, sampling_rate=360, heart_rate=70, random_state=3)
    t = np.arange(ecg.size) / FS
    wander = 1.0 * np.sin(2 * np.pi * 0.15 * t) + 0.5 * t / t[-1]
    cleaned = ecg_clean(ecg + wander, sampling_rate=FS)
    reference = ecg_clean(ecg, sampling_rate=FS)
    # linearity: the residual is the cleaned wander, whose 0.15 Hz part is scaled by |H|^2
    mid = slice(int(5 * FS), int(25 * FS))
    residual = cleaned[mid] - reference[mid]
    assert np.max(np.abs(residual)) < 1.5 * _gain(0.15) + 0.02
    assert np.max(np.abs(residual)) < 0.1 * np.max(np.abs(wander))
    # zero phase: R peaks of the clean ECG stay where they are
    r_true, _ = sps.find_peaks(ecg, distance=int(0.3 * FS), prominence=0.3 * np.ptp(ecg))
    r_clean, _ = sps.find_peaks(cleaned, distance=int(0.3 * FS), prominence=0.3 * np.ptp(cleaned))
    inner = r_true[(r_true > 2 * FS) & (r_true < ecg.size - 2 * FS)]
    nearest = r_clean[np.argmin(np.abs(r_clean[:, None] - inner[None, :]), axis=0)]
    assert np.max(np.abs(nearest - inner)) <= 1


def test_constant_signal_gives_zeros_and_integers_are_accepted():
    np.testing.assert_array_equal(ecg_clean(np.full(1000, 7.0), sampling_rate=FS), 0.0)
    adc = np.random.default_rng(0).integers(-1024, 1024, 2000).astype(np.int16)
    np.testing.assert_allclose(ecg_clean(adc, sampling_rate=FS),
                               ecg_clean(adc.astype(float), sampling_rate=FS))


def test_highcut_above_nyquist_is_dropped_and_powerline_notch():
    x = np.random.default_rng(1).normal(size=2000)
    y = ecg_clean(x, sampling_rate=50.0)  # 40 Hz >= 25 Hz Nyquist: high-pass only
    sos = sps.butter(2, 0.5, btype="highpass", fs=50.0, output="sos")
    np.testing.assert_array_equal(y, sps.sosfiltfilt(sos, x - x.mean()))
    t = np.arange(int(20 * FS)) / FS
    hum = np.sin(2 * np.pi * 50.0 * t)
    out = ecg_clean(hum, sampling_rate=FS, highcut_hz=None, powerline_hz=50)
    assert np.max(np.abs(out[int(5 * FS):int(15 * FS)])) < 0.01


@pytest.mark.parametrize("fs", [250.0, 360.0, 500.0])
def test_band_pass_same_bits_as_scipy(fs):
    """The default band-pass (compiled, the mean removed while padding) gives scipy's
    ``sosfiltfilt`` of ``x - mean(x)`` bit for bit."""
    x = np.cumsum(np.random.default_rng(int(fs)).normal(size=int(20 * fs))) + 7.0
    sos = sps.butter(2, [0.5, 40.0], btype="bandpass", fs=fs, output="sos")
    y = ecg_clean(x, sampling_rate=fs)
    np.testing.assert_array_equal(y.view(np.int64),
                                  sps.sosfiltfilt(sos, x - x.mean()).view(np.int64))


@pytest.mark.parametrize("fs, order, kwargs", [
    (3.0, 2, {}), (3.0, 4, {}), (5.0, 4, {}), (1.5, 2, {}),
    (3.0, 2, dict(lowcut_hz=None, highcut_hz=None, powerline_hz=1.0))])
def test_signal_too_short_for_the_zero_phase_filter_names_signal(fs, order, kwargs):
    """At very low rates a 2 s signal can be shorter than sosfiltfilt's padding: a
    ValueError naming signal and the length needed (scipy's limit), not scipy's message."""
    if kwargs.get("powerline_hz"):
        b, a = sps.iirnotch(kwargs["powerline_hz"], 30.0, fs=fs)
        sos = sps.tf2sos(b, a)
    else:   # highcut 40 Hz is above the Nyquist frequency: high-pass only
        sos = sps.butter(order, 0.5, btype="highpass", fs=fs, output="sos")
    need = sosfiltfilt_min_length(sos)
    x = np.random.default_rng(3).normal(size=need)
    assert need - 1 >= int(np.ceil(2.0 * fs))   # long enough for the 2 s rule
    with pytest.raises(ValueError, match=rf"\bsignal is too short.* at least {need} samples"):
        ecg_clean(x[:-1], sampling_rate=fs, order=order, **kwargs)
    y = ecg_clean(x, sampling_rate=fs, order=order, **kwargs)
    np.testing.assert_allclose(y, sps.sosfiltfilt(sos, x - x.mean()), rtol=1e-12, atol=1e-12)


def test_nan_raises_with_location_by_default():
    x = np.zeros(2000)
    x[1234] = np.nan
    with pytest.raises(ValueError, match="index 1234"):
        ecg_clean(x, sampling_rate=FS)
    x[1234] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        ecg_clean(x, sampling_rate=FS)


def test_nan_policy_interpolate_fills_short_gaps_linearly():
    rng = np.random.default_rng(2)
    x = np.cumsum(rng.normal(size=3000))
    y = x.copy()
    y[100:130] = np.nan
    y[:3] = np.nan  # edge gap: nearest finite value
    filled = interpolate_gaps(y, sampling_rate=FS, max_gap_s=0.25)
    expected = x.copy()
    expected[100:130] = np.interp(np.arange(100, 130), [99, 130], [x[99], x[130]])
    expected[:3] = x[3]
    np.testing.assert_allclose(filled, expected)
    np.testing.assert_allclose(ecg_clean(y, sampling_rate=FS, nan_policy="interpolate"),
                               ecg_clean(expected, sampling_rate=FS))
    y[1000:1200] = np.nan  # 200 samples = 0.56 s > 0.25 s
    with pytest.raises(ValueError, match="starting at index 1000"):
        ecg_clean(y, sampling_rate=FS, nan_policy="interpolate")


@pytest.mark.parametrize("bad, kwargs, exc, match", [
    (np.zeros((2000, 2)), {}, ValueError, "1-D"),
    (np.zeros((2000, 1)), {}, ValueError, "1-D"),
    (np.zeros(100), {}, ValueError, "too short"),
    (np.zeros(0), {}, ValueError, "empty"),
    (["a"] * 2000, {}, TypeError, "numeric"),
    (np.zeros(2000, complex), {}, TypeError, "real"),
    (np.zeros(2000), {"lowcut_hz": -1}, ValueError, "lowcut_hz"),
    (np.zeros(2000), {"lowcut_hz": 30, "highcut_hz": 20}, ValueError, "highcut_hz"),
    (np.zeros(2000), {"order": 0}, ValueError, "order"),
    (np.zeros(2000), {"nan_policy": "drop"}, ValueError, "nan_policy"),
])
def test_bad_input(bad, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ecg_clean(bad, sampling_rate=FS, **kwargs)


def test_sampling_rate_is_required_and_positive():
    with pytest.raises(TypeError):
        ecg_clean(np.zeros(2000))  # keyword-only, no default
    with pytest.raises(ValueError, match="sampling_rate is required"):
        ecg_clean(np.zeros(2000), sampling_rate=None)
    with pytest.raises(ValueError, match="sampling_rate"):
        ecg_clean(np.zeros(2000), sampling_rate=0)


def test_one_sided_or_no_filter_still_removes_the_mean():
    """As documented: the mean is subtracted before filtering whatever the cut-offs,
    so lowcut_hz=None is scipy's low-pass of x - mean(x) (not of x), and with both
    sides None the output is x - mean(x)."""
    fs = 360.0
    x = 100.0 + np.cumsum(np.random.default_rng(3).standard_normal(7200))
    low = sps.butter(2, 40.0, btype="lowpass", fs=fs, output="sos")
    np.testing.assert_allclose(ecg_clean(x, sampling_rate=fs, lowcut_hz=None),
                               sps.sosfiltfilt(low, x - x.mean()), rtol=0, atol=1e-9)
    np.testing.assert_allclose(ecg_clean(x, sampling_rate=fs, lowcut_hz=None,
                                         highcut_hz=None), x - x.mean(), rtol=0, atol=1e-12)
