"""QRS templates and dictionaries: the paper's ECGSYN template, generic and learned dictionaries."""

import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import find_peaks
from scipy.signal import resample as fft_resample

from sparse_events.ecg import (
    QRSDictionary, QRSTemplate, ecgsyn_qrs_template, learn_qrs_dictionary, qrs_dictionary)
from sparse_events.ecg._dictionary import beat_windows
from sparse_events.ecg._templates import QRS_SHAPES

neurokit2 = pytest.importorskip("neurokit2")
DATA = Path(__file__).resolve().parent / "data"
FS = 360


def _ecgsyn(duration=20, heart_rate=60, seed=3):
    x = np.asarray(neurokit2.ecg_simulate(duration=duration, sampling_rate=FS, noise=0,
                                          heart_rate=heart_rate, heart_rate_std=6,
                                          method="ecgsyn", random_state=seed))
    peaks, props = find_peaks(x, prominence=0.0, distance=int(0.2 * FS))
    return x, peaks[props["prominences"] >= 0.5 * props["prominences"].max()]


def test_paper_template_geometry():
    t = ecgsyn_qrs_template()
    assert t.sampling_rate == 360.0 and t.length == 70 and t.r_offset == 35
    assert np.linalg.norm(t.waveform) == pytest.approx(1.0, abs=1e-12)
    # the R apex is the template's maximum, Q and S dips on both sides of it
    assert int(np.argmax(t.waveform)) == t.r_offset and t.polarity == 1
    assert t.waveform[:t.r_offset].min() < 0 and t.waveform[t.r_offset:].min() < 0
    # detrended: starts and ends at zero
    assert t.waveform[0] == pytest.approx(0.0, abs=1e-12)
    assert t.waveform[-1] == pytest.approx(0.0, abs=1e-12)


def test_paper_template_matches_every_ecgsyn_qrs():
    """The template is the QRS of ECGSYN beats: it correlates with every beat of another run."""
    t = ecgsyn_qrs_template()
    x, r = _ecgsyn(seed=11)
    r = r[(r >= 40) & (r < x.size - 40)]
    seg = x[r[:, None] + np.arange(-t.r_offset, t.length - t.r_offset)[None, :]]
    seg = seg - np.linspace(seg[:, :1], seg[:, -1:], t.length, axis=1)[..., 0]
    corr = seg @ t.waveform / np.linalg.norm(seg, axis=1)
    assert corr.min() > 0.9 and np.median(corr) > 0.97
    # and its apex offset is where the R peak is: best lag 0 for every beat
    lags = [int(np.argmax(np.correlate(x[c - 60:c + 60], t.waveform, "valid"))) - (60 - t.r_offset)
            for c in r if c >= 60 and c + 60 <= x.size]
    assert max(abs(v) for v in lags) <= 1


@pytest.mark.parametrize("fs", [250.0, 500.0, 1000.0])
def test_template_resampling_agrees_with_fft_resampling(fs):
    """Resampled to any rate: same duration, apex on a sample, same shape as scipy's resample."""
    t360 = ecgsyn_qrs_template()
    t = ecgsyn_qrs_template(sampling_rate=fs)
    assert t.sampling_rate == fs
    assert np.linalg.norm(t.waveform) == pytest.approx(1.0)
    assert abs(t.r_offset - 35 * fs / 360) <= 2
    # same duration: round(duration_s * fs) samples
    assert t.length == round(t360.duration_s * fs)
    assert t.duration_s == pytest.approx(t360.duration_s, abs=0.5 / fs)
    assert int(np.argmax(t.waveform)) == t.r_offset
    # reference: FFT resampling of the zero-padded 360 Hz template, on the same time grid
    pad = 70
    padded = np.concatenate([np.zeros(pad), t360.waveform, np.zeros(pad)])
    n_new = int(round(padded.size * fs / 360))
    ref = fft_resample(padded, n_new)
    start = int(round((pad + t360.r_offset) * fs / 360)) - int(round(35 * fs / 360))
    ref = ref[start:start + t.length]
    ref /= np.linalg.norm(ref)
    assert float(ref @ t.waveform) > 0.999


def test_resample_round_trip():
    t = ecgsyn_qrs_template()
    back = t.resample(720.0).resample(360.0)
    assert abs(back.r_offset - t.r_offset) <= 1 and back.length == t.length
    # the length follows round(duration_s * sampling_rate) on every grid (the apex, placed
    # on each grid, used to shift the rounding: 70 -> 139 at 720 Hz -> 71 at 360 Hz)
    for fs in (720.0, 500.0, 250.0, 1000.0, 128.0):
        other = t.resample(fs)
        assert other.length == round(t.duration_s * fs)
        assert other.resample(720.0).length == round(other.duration_s * 720.0)
        if fs > 360.0:  # through a finer grid the length comes back (|rounding| / ratio < 1/2)
            assert other.resample(360.0).length == t.length
    # same shape on grids at most half a sample apart (the apex is re-located on each grid)
    shift = back.r_offset - t.r_offset
    a = back.waveform[max(shift, 0):]
    b = t.waveform[max(-shift, 0):]
    n = min(a.size, b.size)
    assert float(a[:n] @ b[:n]) > 0.99
    assert t.resample(360.0) is t


def test_generic_dictionary_structure():
    shapes, widths = tuple(QRS_SHAPES), (0.75, 1.0, 2.0)
    d = qrs_dictionary(sampling_rate=FS, shapes=shapes, widths=widths)
    assert d.n_atoms == len(shapes) * len(widths) * 2 and len(d) == d.n_atoms
    K = d.kernels
    assert K.shape == (d.n_atoms, d.atom_length)
    np.testing.assert_allclose(np.linalg.norm(K, axis=1), 1.0)
    half = d.n_atoms // 2
    # second half: the negation of the first, same apex
    np.testing.assert_allclose(K[half:], -K[:half])
    np.testing.assert_array_equal(d.r_offsets[half:], d.r_offsets[:half])
    assert set(d.polarities[:half]) == {1} and set(d.polarities[half:]) == {-1}
    for t in d:
        # the apex is the extremum of the atom, with the atom's polarity
        assert t.polarity * t.waveform[t.r_offset] == pytest.approx(np.abs(t.waveform).max())
    # widths stretch the time axis: duration proportional to the width factor
    by_label = {t.label: t for t in d}
    for s in shapes:
        d1, d2 = by_label[f"{s} x1 +"].duration_s, by_label[f"{s} x2 +"].duration_s
        assert d2 / d1 == pytest.approx(2.0, rel=0.05)
    # the "qRs" atom of width 1 is the paper's template
    np.testing.assert_allclose(by_label["qRs x1 +"].waveform, ecgsyn_qrs_template().waveform)


def test_dictionary_resample_and_concatenate():
    a = qrs_dictionary(sampling_rate=FS, shapes=("R",), widths=(1.0,))
    b = qrs_dictionary(sampling_rate=500.0, shapes=("Rs",), widths=(1.0,), polarities=(1,))
    c = a + b
    assert c.n_atoms == 3 and c.sampling_rate == FS
    d = c.resample(250.0)
    assert d.sampling_rate == 250.0
    np.testing.assert_allclose(np.linalg.norm(d.kernels, axis=1), 1.0)
    assert d.with_both_polarities().n_atoms == 6


def test_template_and_dictionary_bad_input():
    w = np.hanning(20)
    with pytest.raises(ValueError, match="unit L2 norm"):
        QRSTemplate(w, 10, 360.0)
    with pytest.raises(ValueError, match="r_offset"):
        QRSTemplate.from_waveform(w, 25, sampling_rate=360.0)
    with pytest.raises(ValueError, match="sampling_rate"):
        QRSTemplate.from_waveform(w, 10, sampling_rate=0.0)
    with pytest.raises(ValueError, match="sampling_rate is required"):
        QRSTemplate.from_waveform(w, 10, sampling_rate=None)
    with pytest.raises(ValueError, match="identically zero|non-zero"):
        QRSTemplate.from_waveform(np.zeros(5), 2, sampling_rate=360.0)
    with pytest.raises(ValueError, match="finite"):
        QRSTemplate.from_waveform([0.0, np.nan, 1.0], 1, sampling_rate=360.0)
    with pytest.raises(ValueError, match="shapes"):
        qrs_dictionary(sampling_rate=FS, shapes=("W",))
    with pytest.raises(ValueError, match="widths"):
        qrs_dictionary(sampling_rate=FS, widths=(1.0, -1.0))
    with pytest.raises(ValueError, match="polarities"):
        qrs_dictionary(sampling_rate=FS, polarities=(2,))
    with pytest.raises(TypeError):
        qrs_dictionary(FS)  # sampling_rate is keyword-only
    t1 = QRSTemplate.from_waveform(w, 10, sampling_rate=360.0)
    t2 = QRSTemplate.from_waveform(w, 10, sampling_rate=250.0)
    with pytest.raises(ValueError, match="one sampling rate"):
        QRSDictionary((t1, t2))
    with pytest.raises(ValueError, match="at least one"):
        QRSDictionary(())
    with pytest.raises(TypeError, match="QRSTemplate"):
        QRSDictionary((w,))


def _two_morphology_signal(seed=0):
    """Beats of two known shapes at known times (N: narrow qRs, V: wide inverted), plus noise."""
    rng = np.random.default_rng(seed)
    normal = qrs_dictionary(sampling_rate=FS, shapes=("qRs",), widths=(1.0,), polarities=(1,))[0]
    ventricular = qrs_dictionary(sampling_rate=FS, shapes=("Rs",), widths=(2.5,),
                                 polarities=(-1,))[0]
    n = 120 * FS
    x = 0.01 * rng.standard_normal(n)
    times, kinds = [], []
    t = FS
    while t < n - FS:
        kind = 1 if rng.random() < 0.2 else 0
        tmpl = (normal, ventricular)[kind]
        amp = (1.0, 1.6)[kind] * (1 + 0.05 * rng.standard_normal())
        x[t - tmpl.r_offset: t - tmpl.r_offset + tmpl.length] += amp * tmpl.waveform * 8
        times.append(t)
        kinds.append(kind)
        t += int(FS * (0.8 + 0.2 * rng.random()))
    return x, np.array(times), np.array(kinds), (normal, ventricular)


def test_learned_dictionary_recovers_known_morphologies():
    x, times, kinds, truth = _two_morphology_signal()
    d = learn_qrs_dictionary(x, times, sampling_rate=FS)
    assert d.n_atoms == 2
    # largest cluster first: the normal beats, then the ventricular ones, exact counts
    assert [t.n_beats for t in d] == [int((kinds == 0).sum()), int((kinds == 1).sum())]
    for learned, true in zip(d, truth):
        assert learned.polarity == true.polarity
        # the learned atom contains the true shape (correlation on the aligned support)
        lo = learned.r_offset - true.r_offset
        seg = learned.waveform[max(lo, 0): lo + true.length]
        ref = true.waveform[max(-lo, 0): max(-lo, 0) + seg.size]
        assert float(seg @ ref) / np.linalg.norm(seg) / np.linalg.norm(ref) > 0.95
        assert np.linalg.norm(learned.waveform) == pytest.approx(1.0)


@pytest.mark.parametrize("extra", [[-5], [10 ** 6], [-1, 10 ** 7]])
def test_learned_dictionary_refuses_r_peaks_outside_the_signal(extra):
    """An R peak outside the signal is a wrong index, not a beat too close to an end: it
    raises (beats whose window leaves the signal stay silently out, as documented)."""
    x, times, _, _ = _two_morphology_signal()
    with pytest.raises(ValueError, match=r"r_peaks must be sample indices in \[0, "):
        learn_qrs_dictionary(x, np.r_[times, extra], sampling_rate=FS)
    # the last in-range sample and a beat 1 sample from the start are accepted (left out)
    d = learn_qrs_dictionary(x, np.r_[1, times, x.size - 1], sampling_rate=FS)
    ref = learn_qrs_dictionary(x, times, sampling_rate=FS)
    assert [t.n_beats for t in d] == [t.n_beats for t in ref]


def test_learned_dictionary_separates_ventricular_beats_on_mitdb():
    """MIT-BIH 203 excerpt: N and multiform V beats; annotations as ground truth."""
    d = np.load(DATA / "mitdb_203_11-14min.npz")
    x = (d["adc"].astype(float) - float(d["baseline"])) / float(d["adc_gain"])
    sym, ann = d["ann_symbol"], d["ann_sample"]
    beats = np.isin(sym, ["N", "V"])
    r, s = ann[beats], sym[beats]
    from sparse_events.ecg import ecg_clean
    dico = learn_qrs_dictionary(ecg_clean(x, sampling_rate=FS), r, sampling_rate=FS,
                                max_atoms=8)
    w, kept, r0 = beat_windows(ecg_clean(x, sampling_rate=FS), r, sampling_rate=FS)
    s = s[np.isin(r, kept)]
    # assign every beat to its best-correlated atom (aligned on the annotation)
    K = np.zeros((dico.n_atoms, w.shape[1]))
    for p, t in enumerate(dico):
        n = min(t.length, w.shape[1])
        K[p, :n] = t.waveform[:n]
    corr = (w / np.linalg.norm(w, axis=1, keepdims=True)) @ K.T
    atom = corr.argmax(axis=1)
    # the largest atom is a normal-beat atom: nearly all of its beats are N
    first = atom == 0
    assert (s[first] == "N").mean() > 0.97
    # ventricular beats mostly go to other atoms than the normal one
    assert (atom[s == "V"] != 0).mean() > 0.8


def test_beat_windows_same_bits_as_numpy_expression():
    """The compiled windows equal the numpy expression they replaced, bit for bit:
    ``x[r - before : r + after + 1]`` minus the line through its end samples; windows
    that do not fit are skipped."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal(3000) * 1e3
    r = np.array([0, 35, 36, 500, 1207, 2949, 2950, 2999], dtype=np.int64)
    for before_s, after_s in ((0.1, 0.14), (0.003, 0.003), (0.05, 0.001)):
        w, kept, before = beat_windows(x, r, sampling_rate=FS, before_s=before_s,
                                       after_s=after_s)
        after = int(round(after_s * FS))
        ref_kept = r[(r - before >= 0) & (r + after < x.size)]
        idx = ref_kept[:, None] + np.arange(-before, after + 1)[None, :]
        ref = x[idx]
        ramp = np.linspace(0.0, 1.0, before + after + 1)[None, :]
        ref = ref - (ref[:, :1] + (ref[:, -1:] - ref[:, :1]) * ramp)
        np.testing.assert_array_equal(kept, ref_kept)
        np.testing.assert_array_equal(w, ref)
        assert 0 < kept.size < r.size


def test_learn_bad_input():
    x = np.random.default_rng(0).standard_normal(2000)
    with pytest.raises(ValueError, match="min_beats"):
        learn_qrs_dictionary(x, [500, 1000], sampling_rate=FS)
    with pytest.raises(ValueError, match="integer"):  # integral floats are accepted
        learn_qrs_dictionary(x, [500.5, 1000.2, 1500.1], sampling_rate=FS)
    with pytest.raises(TypeError, match="integer"):
        learn_qrs_dictionary(x, ["500", "1000", "1500"], sampling_rate=FS)
    with pytest.raises(ValueError, match="correlation_threshold"):
        learn_qrs_dictionary(x, [500, 1000, 1500], sampling_rate=FS, correlation_threshold=1.5)
    with pytest.raises(ValueError, match="sampling_rate"):
        learn_qrs_dictionary(x, [500, 1000, 1500], sampling_rate=-1)


def test_learned_dictionary_accepts_integral_float_peaks_and_refuses_a_mask():
    """R peaks read from a CSV are floats: integral ones give the dictionary of the
    integer peaks (as evaluate accepts them); a fractional peak and a per-sample 0/1
    column are refused with messages that say what is expected."""
    from sparse_events.ecg import ecg_clean

    d = np.load(DATA / "mitdb_203_11-14min.npz")
    x = ecg_clean((d["adc"].astype(float) - float(d["baseline"])) / float(d["adc_gain"]),
                  sampling_rate=FS)
    r = d["ann_sample"][np.isin(d["ann_symbol"], ["N", "V"])]
    ref = learn_qrs_dictionary(x, r, sampling_rate=FS)
    got = learn_qrs_dictionary(x, r.astype(np.float64), sampling_rate=FS)
    assert got.n_atoms == ref.n_atoms
    for a, b in zip(got, ref):
        np.testing.assert_array_equal(a.waveform, b.waveform)
        assert (a.r_offset, a.n_beats, a.label) == (b.r_offset, b.n_beats, b.label)
    fractional = r.astype(np.float64)
    fractional[4] += 0.5
    with pytest.raises(ValueError, match=r"r_peaks must be integer sample indices.* "
                                         r"position 4"):
        learn_qrs_dictionary(x, fractional, sampling_rate=FS)
    mask = np.zeros(x.size, dtype=np.int64)
    mask[r] = 1
    for column in (mask, mask.astype(bool)):
        with pytest.raises(ValueError, match=r"r_peaks looks like a per-sample 0/1 column"):
            learn_qrs_dictionary(x, column, sampling_rate=FS)
    # an integral float beyond int64 (1e20) is outside the signal, refused before the
    # integer cast (which warned "invalid value encountered in cast")
    huge = r.astype(np.float64)
    huge[2] = 1e20
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"r_peaks must be sample indices within the "
                                             r"signal.* position 2"):
            learn_qrs_dictionary(x, huge, sampling_rate=FS)


def test_negating_twice_gives_the_template_back():
    """``negated().negated()`` is the template itself: waveform, polarity, and the label
    of the generic dictionary's + atom (it used to read "qRs x1 - +")."""
    for t in qrs_dictionary(sampling_rate=FS, shapes=("qRs", "RSr"), widths=(1.0,)):
        back = t.negated().negated()
        np.testing.assert_array_equal(back.waveform, t.waveform)
        assert back.polarity == t.polarity and back.r_offset == t.r_offset
        assert back.label == t.label
        assert t.negated().label == t.label[:-2] + (" -" if t.polarity == 1 else " +")
