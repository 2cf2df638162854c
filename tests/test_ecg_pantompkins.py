"""Our Pan-Tompkins detector vs closed forms, annotated MIT-BIH beats and neurokit2."""

from pathlib import Path

import numpy as np
import pytest
from scipy import signal as sps
from _scipy_reference import sosfiltfilt_min_length

from sparse_events.ecg import (
    ECGRecord, ecg_clean, evaluate, find_peaks_pantompkins, pantompkins_transform)
from sparse_events.ecg._pantompkins import five_point_derivative

DATA = Path(__file__).parent / "data"
neurokit2 = pytest.importorskip("neurokit2")


def _ecgsyn(fs, duration=60, heart_rate=70, seed=1, snr_db=20.0):
    """ECGSYN with white noise at ``snr_db`` and the R apexes of the clean signal."""
    clean = neurokit2.ecg_simulate(duration=duration, sampling_rate=fs, heart_rate=heart_rate,
                                   random_state=seed, method="ecgsyn")
    r_peaks, _ = sps.find_peaks(clean, distance=int(0.3 * fs), prominence=0.3 * np.ptp(clean))
    rng = np.random.default_rng(seed)
    noise_std = np.std(clean) * 10 ** (-snr_db / 20)
    return clean + rng.normal(0, noise_std, clean.size), clean, r_peaks


def test_five_point_derivative_closed_forms():
    fs = 200.0
    n = np.arange(100, dtype=float)
    # a ramp of slope c per sample has time derivative c * fs
    np.testing.assert_allclose(five_point_derivative(3.0 * n, fs)[2:-2], 3.0 * fs)
    # complex exponential: H(w) = fs/8 (2j sin 2w + 4j sin w)
    w = 0.3
    x = np.exp(1j * w * n)
    d = five_point_derivative(x.real, fs) + 1j * five_point_derivative(x.imag, fs)
    h = fs / 8 * (2j * np.sin(2 * w) + 4j * np.sin(w))
    np.testing.assert_allclose(d[2:-2], h * x[2:-2], atol=1e-9)


def test_transform_stages_match_their_definitions():
    x, _, _ = _ecgsyn(360, duration=20)
    st = pantompkins_transform(x, sampling_rate=360)
    assert st.window == 55  # round(0.150 * 360) = 54, made odd so it is centred
    np.testing.assert_allclose(st.squared, st.derivative ** 2)
    moving_average = np.convolve(st.squared, np.ones(st.window) / st.window, mode="same")
    np.testing.assert_allclose(st.integrated, moving_average, rtol=1e-9, atol=1e-12)
    # the band-pass keeps 10 Hz and removes 1 Hz and 40 Hz
    t = np.arange(int(20 * 360)) / 360
    for freq, lo, hi in ((10.0, 0.5, 1.0), (1.0, 0.0, 0.05), (40.0, 0.0, 0.05)):
        bp = pantompkins_transform(np.sin(2 * np.pi * freq * t), sampling_rate=360).bandpassed
        amp = np.max(np.abs(bp[1800:5400]))
        assert lo <= amp <= hi, (freq, amp)


@pytest.mark.parametrize("fs", [250, 360, 500, 1000])
def test_ecgsyn_all_beats_found_at_the_apex_like_neurokit2(fs):
    noisy, _, r_peaks = _ecgsyn(fs)
    ours = find_peaks_pantompkins(ecg_clean(noisy, sampling_rate=fs), sampling_rate=fs)
    cleaned_nk = neurokit2.ecg_clean(noisy, sampling_rate=fs, method="pantompkins1985")
    theirs = neurokit2.ecg_findpeaks(cleaned_nk, sampling_rate=fs, method="pantompkins1985")
    # beats of the first and last second are cut by the simulation window: not scored
    kw = dict(sampling_rate=fs, learning_period_s=1.0, signal_length=noisy.size - fs)
    res_ours = evaluate(ours[ours < noisy.size - fs], r_peaks, **kw)
    theirs = np.asarray(theirs["ECG_R_Peaks"])
    res_nk = evaluate(theirs[theirs < noisy.size - fs], r_peaks, **kw)
    assert res_ours.fn == 0 and res_ours.fp == 0
    assert res_ours.f1 >= res_nk.f1
    # our R peak is the apex of the clean signal (median within 1 sample); with noise the
    # largest |deflection| may occasionally be the S wave, 10-20 ms later
    err = np.abs(res_ours.matched_detections - res_ours.matched_reference)
    assert np.median(err) <= 1 and np.mean(err <= 1) >= 0.95
    assert np.max(err) <= 0.02 * fs


def _excerpt_119():
    d = np.load(DATA / "mitdb_119_0-3min.npz")
    signal = (d["adc"] - d["baseline"]) / d["adc_gain"]
    return ECGRecord(name="119", signal=signal, sampling_rate=float(d["sampling_rate"]),
                     annotation_samples=d["ann_sample"], annotation_symbols=d["ann_symbol"])


def test_mitdb_excerpt_against_annotations_and_neurokit2():
    """Record 119 (ventricular bigeminy), 3 min: every annotated beat, nothing else."""
    rec = _excerpt_119()
    fs = rec.sampling_rate
    ours = find_peaks_pantompkins(ecg_clean(rec.signal, sampling_rate=fs), sampling_rate=fs)
    res = evaluate(ours, rec, learning_period_s=5.0)
    cleaned_nk = neurokit2.ecg_clean(rec.signal, sampling_rate=fs, method="pantompkins1985")
    theirs = neurokit2.ecg_findpeaks(cleaned_nk, sampling_rate=fs, method="pantompkins1985")
    res_nk = evaluate(theirs["ECG_R_Peaks"], rec, learning_period_s=5.0)
    assert res.sensitivity >= 0.995 and res.positive_predictivity >= 0.995
    assert res.f1 >= res_nk.f1
    assert res.median_abs_timing_error_ms <= 8.0
    assert np.sum(rec.annotation_symbols == "V") > 30  # the excerpt does hold PVCs


@pytest.mark.parametrize("kind", ["gain_drop", "flat", "saturated"])
def test_detector_recovers_after_a_bad_segment(kind):
    """10 s of a lead at 1/20 amplitude, flat (lead off) or stuck at the rail: no
    detection inside a flat or saturated segment, all beats before and after it."""
    fs = 360
    noisy, _, r_peaks = _ecgsyn(fs, duration=60, snr_db=30)
    x = noisy.copy()
    seg = slice(20 * fs, 30 * fs)
    if kind == "gain_drop":
        x[seg] *= 0.05
    else:
        x[seg] = 0.0 if kind == "flat" else 5 * np.max(np.abs(noisy))
    peaks = find_peaks_pantompkins(ecg_clean(x, sampling_rate=fs), sampling_rate=fs)
    if kind != "gain_drop":
        assert not np.any((peaks > 20.5 * fs) & (peaks < 29.5 * fs))
    after = r_peaks[r_peaks > 38 * fs]
    res = evaluate(peaks[peaks > 38 * fs - 20], after, sampling_rate=fs, learning_period_s=0)
    assert res.fn == 0 and res.fp == 0
    before = r_peaks[(r_peaks > fs) & (r_peaks < 20 * fs - 20)]
    res = evaluate(peaks[(peaks > fs - 20) & (peaks < 20 * fs)], before, sampling_rate=fs,
                   learning_period_s=0)
    assert res.fn == 0 and res.fp == 0


@pytest.mark.parametrize("level", [0.0, 5.0, -1e-300])
def test_flat_signal_raises_like_the_sparse_method(level):
    """A constant lead has no beat: both methods raise ValueError ("flat")."""
    from sparse_events.ecg import ecg_findpeaks, ecg_peaks

    flat = np.full(3600, level)
    with pytest.raises(ValueError, match="flat"):
        find_peaks_pantompkins(flat, sampling_rate=360)
    for method in ("pantompkins", "sparse"):
        with pytest.raises(ValueError, match="flat"):
            ecg_findpeaks(flat, sampling_rate=360, method=method)
        with pytest.raises(ValueError, match="flat"):
            ecg_peaks(flat, sampling_rate=360, method=method)


@pytest.mark.parametrize("scale", [1e-200, 1e-150, 3.0e-7, 1e150, 1e155, 1e300])
def test_detections_do_not_depend_on_amplitude_scale(scale):
    """The same peaks at any amplitude scale: the squared derivative of x * 1e155
    would overflow and that of x * 1e-200 underflow without the internal
    (exact, power-of-two) normalisation; powers of two give bit-identical stages."""
    from sparse_events.ecg import ecg_peaks

    noisy, _, r_peaks = _ecgsyn(360.0, duration=20)
    ref = ecg_peaks(noisy, sampling_rate=360, method="pantompkins")[1]["ECG_R_Peaks"]
    assert ref.size >= r_peaks.size - 1 > 10
    with np.errstate(over="raise", under="ignore"):
        got = ecg_peaks(noisy * scale, sampling_rate=360, method="pantompkins")[1]
    np.testing.assert_array_equal(got["ECG_R_Peaks"], ref)
    cleaned = ecg_clean(noisy, sampling_rate=360)
    np.testing.assert_array_equal(
        find_peaks_pantompkins(cleaned * scale, sampling_rate=360), ref)
    np.testing.assert_array_equal(
        find_peaks_pantompkins(cleaned * 2.0 ** -600, sampling_rate=360), ref)


@pytest.mark.parametrize("signal, fs, match", [
    (np.zeros(3600), 25.0, "twice the band-pass"),
    (np.zeros(100), 360.0, "too short"),
    (np.zeros((3600, 2)), 360.0, "1-D"),
    (np.r_[np.zeros(2000), np.nan, np.zeros(2000)], 360.0, "index 2000"),
])
def test_bad_input(signal, fs, match):
    with pytest.raises(ValueError, match=match):
        find_peaks_pantompkins(signal, sampling_rate=fs)


@pytest.mark.parametrize("fs, order, band_hz", [(360.0, 200, (5.0, 15.0)), (4.0, 2, (0.2, 1.0))])
def test_transform_shorter_than_the_filter_padding_names_signal(fs, order, band_hz):
    """A signal shorter than sosfiltfilt's padding: a ValueError naming signal and the
    length scipy needs (found by trying scipy), not scipy's padlen message; one sample
    more and the band-pass stage is scipy's sosfiltfilt."""
    sos = sps.butter(order, list(band_hz), btype="bandpass", fs=fs, output="sos")
    need = sosfiltfilt_min_length(sos)
    x = np.random.default_rng(0).standard_normal(need)
    with pytest.raises(ValueError, match=rf"\bsignal is too short.* at least {need} samples"):
        pantompkins_transform(x[:-1], sampling_rate=fs, order=order, band_hz=band_hz)
    stages = pantompkins_transform(x, sampling_rate=fs, order=order, band_hz=band_hz)
    np.testing.assert_array_equal(stages.bandpassed, sps.sosfiltfilt(sos, x - x.mean()))


def _mitdb_excerpts():
    """The real MIT-BIH excerpts of tests/data: (name, lead in mV, fs)."""
    import wfdb

    out = []
    for name in ("mitdb_119_0-3min.npz", "mitdb_203_11-14min.npz"):
        d = np.load(DATA / name)
        out.append((name, (d["adc"] - d["baseline"]) / d["adc_gain"], 360.0))
    for name in ("mitdb208_0_60s", "mitdb119_0_60s"):
        rec = wfdb.rdrecord(str(DATA / "mitdb_excerpt" / name))
        for ch in range(rec.p_signal.shape[1]):
            out.append((f"{name}[{ch}]", rec.p_signal[:, ch], float(rec.fs)))
    return out


@pytest.mark.parametrize("refractory_s", [0.2, 0.25, 0.3])
def test_no_two_r_peaks_within_the_refractory_period_on_mitdb_excerpts(refractory_s):
    """Pan & Tompkins: no two QRS within the refractory period.  Before the merge of
    located peaks, record 208 lead V1 gave R peaks 52-80 samples apart (two integrated
    peaks of one wide complex) and record 203 two peaks exactly 200 ms apart."""
    for name, x, fs in _mitdb_excerpts():
        peaks = find_peaks_pantompkins(ecg_clean(x, sampling_rate=fs), sampling_rate=fs,
                                       refractory_s=refractory_s)
        assert peaks.size > 50, name
        assert np.min(np.diff(peaks)) > round(refractory_s * fs), name


def _reference_merge(peaks, strength, refractory):
    """Brute force: keep peaks from the strongest down (ties: earlier) unless a kept
    one is ``refractory`` samples away or closer."""
    kept = []
    for i in sorted(range(peaks.size), key=lambda i: (-strength[i], peaks[i])):
        if all(abs(int(peaks[i]) - int(peaks[j])) > refractory for j in kept):
            kept.append(i)
    return np.sort(peaks[kept])


def test_merge_removes_exactly_the_weaker_near_duplicates(monkeypatch):
    """The detector's output equals its unmerged output (the decision rules are not
    changed) minus the weaker peak of each close pair, by a brute-force reference."""
    from sparse_events.ecg import _pantompkins

    checked = 0
    for name, x, fs in _mitdb_excerpts():
        cleaned = ecg_clean(x, sampling_rate=fs)
        merged = find_peaks_pantompkins(cleaned, sampling_rate=fs)
        with monkeypatch.context() as m:
            m.setattr(_pantompkins, "_merge_within_refractory", lambda p, s, r: p)
            unmerged = find_peaks_pantompkins(cleaned, sampling_rate=fs)
        strength = np.abs(cleaned - np.median(cleaned))[unmerged]
        np.testing.assert_array_equal(merged, _reference_merge(unmerged, strength, round(0.2 * fs)), name)
        checked += unmerged.size - merged.size
    assert checked >= 3  # the excerpts do hold near-duplicates (208 lead V1)


@pytest.mark.parametrize("fs", [250, 360, 500])
def test_wide_complex_gives_one_r_peak_per_beat(fs):
    """A narrow R wave (amplitude 1) followed 190 ms later by a broad notch (0.8) and
    240 ms later by a 12 Hz burst: the integrated signal has two peaks more than 200 ms
    apart per beat, and the second one's largest deflection is the notch, 190 ms after
    the R wave.  One R peak per beat, at the R wave (the detector gave two)."""
    t = np.arange(30 * fs) / fs
    x = np.zeros_like(t)
    beats = np.arange(1, 29)
    for t0 in beats:
        x += np.exp(-0.5 * ((t - t0) / 0.008) ** 2)
        x += 0.8 * np.exp(-0.5 * ((t - t0 - 0.19) / 0.02) ** 2)
        burst = (t >= t0 + 0.24) & (t < t0 + 0.30)
        x[burst] += 0.6 * np.sin(2 * np.pi * 12 * (t[burst] - t0 - 0.24))
    np.testing.assert_array_equal(find_peaks_pantompkins(x, sampling_rate=fs), beats * fs)
