"""EC57 scorer: closed-form cases, bxb rules, and wfdb's comparator on real annotations."""

from pathlib import Path

import numpy as np
import pytest

from sparse_events.ecg import (
    BEAT_SYMBOLS, ECGRecord, ec57_table, evaluate, gross_statistics, reference_beats)

DATA = Path(__file__).parent / "data"
FS = 360.0
WINDOW = 54  # round(0.15 * 360)


def regular_beats(n, rr=360, first=180):
    return first + rr * np.arange(n, dtype=np.int64)


def test_perfect_detections_count_only_beats_after_learning_period():
    beats = regular_beats(600)  # 600 s of 60 bpm
    symbols = np.array(["N"] * beats.size, dtype=object)
    symbols[::7] = "V"
    # non-beat annotations interleaved: rhythm, noise, artifact, blocked P wave
    extra = np.array([1000, 5000, 90000, 150000])
    extra_sym = ["+", "~", "|", "x"]
    samples = np.concatenate([beats, extra])
    syms = np.concatenate([symbols, extra_sym])
    order = np.argsort(samples, kind="stable")
    res = evaluate(beats, samples[order], reference_symbols=list(syms[order]), sampling_rate=FS)
    n_scored = int(np.sum(beats >= 300 * FS))
    assert (res.tp, res.fn, res.fp) == (n_scored, 0, 0)
    assert res.sensitivity == res.positive_predictivity == res.f1 == 1.0
    np.testing.assert_array_equal(res.timing_errors_s, 0.0)


@pytest.mark.parametrize("shift", [-WINDOW, -20, 1, 37, WINDOW])
def test_shift_within_window_is_matched_with_exact_timing_error(shift):
    beats = regular_beats(400)
    res = evaluate(beats + shift, beats, sampling_rate=FS)
    n = int(np.sum(beats >= 300 * FS))
    assert (res.tp, res.fn, res.fp) == (n, 0, 0)
    np.testing.assert_allclose(res.timing_errors_s, shift / FS)
    assert res.median_abs_timing_error_ms == pytest.approx(abs(shift) / FS * 1e3)
    assert res.mean_timing_error_ms == pytest.approx(shift / FS * 1e3)


@pytest.mark.parametrize("shift", [WINDOW + 1, 100, -(WINDOW + 1)])
def test_shift_beyond_window_misses_every_beat(shift):
    beats = regular_beats(400)
    res = evaluate(beats + shift, beats, sampling_rate=FS, learning_period_s=0)
    assert res.tp == 0
    assert res.fn == beats.size and res.fp == beats.size
    assert res.f1 == 0.0


def test_missing_and_extra_detections():
    rng = np.random.default_rng(0)
    beats = regular_beats(900)
    scored = beats[beats >= 300 * FS]
    missing = rng.choice(scored, size=17, replace=False)
    det = np.setdiff1d(beats, missing)
    # extra detections half-way between beats (farther than the window from any beat)
    extra = rng.choice(scored[:-1], size=11, replace=False) + 180
    det = np.concatenate([det, extra])
    res = evaluate(det, beats, sampling_rate=FS)
    assert res.fn == 17 and res.fp == 11 and res.tp == scored.size - 17
    np.testing.assert_array_equal(np.sort(res.missed_reference), np.sort(missing))
    np.testing.assert_array_equal(np.sort(res.false_detections), np.sort(extra))
    tp, fn, fp = res.tp, res.fn, res.fp
    assert res.sensitivity == pytest.approx(tp / (tp + fn))
    assert res.positive_predictivity == pytest.approx(tp / (tp + fp))
    assert res.f1 == pytest.approx(2 * tp / (2 * tp + fn + fp))
    # detection order does not matter
    res2 = evaluate(rng.permutation(det), beats, sampling_rate=FS)
    assert (res2.tp, res2.fn, res2.fp) == (tp, fn, fp)


def test_learning_period_is_excluded_and_boundary_rules_follow_bxb():
    fs = 100.0
    start = 300 * 100
    beats = np.arange(50, 60000, 100)
    # garbage during the learning period: nothing there is scored
    rng = np.random.default_rng(1)
    det = np.concatenate([rng.integers(0, start - 200, 500), beats[beats >= start]])
    res = evaluate(det, beats, sampling_rate=fs)
    assert (res.tp, res.fn, res.fp) == (int(np.sum(beats >= start)), 0, 0)
    # the last detection before the start may match the first beat after it
    beats2 = np.array([start + 10, start + 110, start + 210])
    res = evaluate([start - 3, start + 110, start + 210], beats2, sampling_rate=fs)
    assert (res.tp, res.fn, res.fp) == (3, 0, 0)
    assert res.matched_detections[0] == start - 3
    # an unmatched detection within one window after the start is dropped when the
    # next detection is the better match for the first beat (bxb's start rule)
    beats3 = np.array([start + 40, start + 140])
    res = evaluate([start + 2, start + 40, start + 140], beats3, sampling_rate=fs)
    assert (res.tp, res.fn, res.fp) == (2, 0, 0)
    # ... but it counts when it lies beyond one window (15 samples at 100 Hz) after the start
    res = evaluate([start + 16, start + 40, start + 140], beats3, sampling_rate=fs)
    assert (res.tp, res.fn, res.fp) == (2, 0, 1)
    # learning_period_s=0 scores everything: every beat and every detection is counted once
    res = evaluate(det, beats, sampling_rate=fs, learning_period_s=0)
    assert res.tp + res.fn == beats.size and res.tp + res.fp == det.size
    assert res.fn > 0 and res.fp > 0


def test_ventricular_flutter_episode_is_excluded():
    beats = regular_beats(500)
    symbols = ["N"] * beats.size
    onset, offset = beats[350] + 100, beats[360] + 100
    inside = (beats > onset) & (beats < offset)
    samples = list(beats) + [onset, offset]
    syms = symbols + ["[", "]"]
    # flutter waves '!' and beats annotated inside the episode are not reference beats
    waves = np.arange(onset + 50, offset, 90)
    samples += list(waves)
    syms += ["!"] * waves.size
    order = np.argsort(samples, kind="stable")
    samples = np.asarray(samples)[order]
    syms = list(np.asarray(syms, dtype=object)[order])
    ref, episodes = reference_beats(samples, syms)
    np.testing.assert_array_equal(ref, beats[~inside])
    np.testing.assert_array_equal(episodes, [[onset, offset]])
    # detector fires on every flutter wave and on every beat: waves are ignored, not FP
    det = np.concatenate([beats, waves])
    res = evaluate(det, samples, reference_symbols=syms, sampling_rate=FS)
    n_scored = int(np.sum((beats >= 300 * FS) & ~inside))
    assert (res.tp, res.fn, res.fp) == (n_scored, 0, 0)
    assert res.ignored_detections.size == waves.size + inside.sum()
    # a detector silent during the episode loses nothing either
    res = evaluate(beats[~inside], samples, reference_symbols=syms, sampling_rate=FS)
    assert (res.tp, res.fn, res.fp) == (n_scored, 0, 0)
    # an episode that is never closed lasts to the end
    cut = [k for k, s in enumerate(syms) if s != "]"]
    res = evaluate(det, samples[cut], reference_symbols=[syms[k] for k in cut], sampling_rate=FS)
    assert res.fp == 0 and res.tp == int(np.sum((beats >= 300 * FS) & (beats < onset)))


def test_real_flutter_record_207():
    d = np.load(DATA / "mitdb_207_atr.npz")
    samples, symbols = d["ann_sample"], list(d["ann_symbol"])
    ref, episodes = reference_beats(samples, symbols)
    assert episodes.shape == (symbols.count("["), 2)
    beats_all = samples[np.isin(symbols, sorted(BEAT_SYMBOLS))]
    in_vf = np.zeros(beats_all.size, bool)
    for on, off in episodes:
        in_vf |= (beats_all >= on) & (beats_all <= off)
    np.testing.assert_array_equal(ref, beats_all[~in_vf])
    # every flutter wave '!' detected: none is a false positive
    waves = samples[np.asarray(symbols) == "!"]
    det = np.concatenate([ref, waves])
    res = evaluate(det, samples, reference_symbols=symbols, sampling_rate=float(d["sampling_rate"]),
                   signal_length=int(d["sig_len"]))
    assert (res.fn, res.fp) == (0, 0)
    assert res.tp == int(np.sum(ref >= 300 * 360))


def _excerpt():
    d = np.load(DATA / "mitdb_119_0-3min.npz")
    signal = (d["adc"] - d["baseline"]) / d["adc_gain"]
    return ECGRecord(name=str(d["record"]), signal=signal, sampling_rate=float(d["sampling_rate"]),
                     annotation_samples=d["ann_sample"], annotation_symbols=d["ann_symbol"],
                     annotation_subtypes=d["ann_subtype"])


@pytest.mark.parametrize("seed", range(5))
def test_matches_wfdb_compare_annotations_on_real_annotations(seed):
    wfdb_processing = pytest.importorskip("wfdb.processing")
    rec = _excerpt()
    ref = rec.scored_beat_samples
    rng = np.random.default_rng(seed)
    # a realistic detector: jitter, some misses, some false alarms, some late beats
    det = ref + rng.integers(-30, 31, ref.size)
    det = det[rng.random(ref.size) > 0.05]
    det[rng.random(det.size) < 0.03] += 80  # outside the window
    det = np.concatenate([det, rng.integers(0, rec.n_samples, 8)])
    det = np.unique(det)
    ours = evaluate(det, rec, learning_period_s=0)
    theirs = wfdb_processing.compare_annotations(ref, det, WINDOW)
    assert (ours.tp, ours.fn, ours.fp) == (theirs.tp, theirs.fn, theirs.fp)
    pairs_ours = set(zip(ours.matched_reference.tolist(), ours.matched_detections.tolist()))
    pairs_theirs = set(zip(ref[theirs.matched_ref_inds].tolist(),
                           det[theirs.matched_test_inds].tolist()))
    assert pairs_ours == pairs_theirs


def test_gross_statistics_sum_counts_and_table():
    beats = regular_beats(500)
    r1 = evaluate(beats, beats, sampling_rate=FS, record="a")
    r2 = evaluate(np.concatenate([beats[:-40], beats[-40:-20] + 180]), beats, sampling_rate=FS,
                  record="b")
    g = gross_statistics([r1, r2])
    tp, fn, fp = r1.tp + r2.tp, r1.fn + r2.fn, r1.fp + r2.fp
    assert (g["tp"], g["fn"], g["fp"]) == (tp, fn, fp)
    assert g["se_percent"] == pytest.approx(100 * tp / (tp + fn))
    assert g["ppv_percent"] == pytest.approx(100 * tp / (tp + fp))
    assert g["f1_percent"] == pytest.approx(100 * 2 * tp / (2 * tp + fn + fp))
    table = ec57_table([r1, r2])
    assert list(table["record"]) == ["a", "b", "gross"]
    assert table["tp"].iloc[-1] == tp


def test_accepts_record_wfdb_annotation_and_info_dict():
    wfdb = pytest.importorskip("wfdb")
    rec = _excerpt()
    info = {"ECG_R_Peaks": rec.scored_beat_samples, "sampling_rate": rec.sampling_rate}
    a = evaluate(info, rec, learning_period_s=60)
    ann = wfdb.Annotation(record_name="119", extension="atr", sample=rec.annotation_samples,
                          symbol=list(rec.annotation_symbols), fs=rec.sampling_rate)
    b = evaluate(rec.scored_beat_samples, ann, learning_period_s=60)
    c = evaluate(rec.scored_beat_samples, rec.annotation_samples,
                 reference_symbols=list(rec.annotation_symbols), sampling_rate=360,
                 learning_period_s=60)
    assert (a.tp, a.fn, a.fp) == (b.tp, b.fn, b.fp) == (c.tp, c.fn, c.fp)
    assert a.tp == int(np.sum(rec.scored_beat_samples >= 60 * 360)) and a.fp == 0
    assert a.record == "119"


def test_empty_detections_and_empty_reference():
    beats = regular_beats(400)
    res = evaluate([], beats, sampling_rate=FS)
    assert res.tp == 0 and res.fn == int(np.sum(beats >= 300 * FS)) and res.fp == 0
    assert res.sensitivity == 0.0 and np.isnan(res.positive_predictivity)
    assert np.isnan(res.median_abs_timing_error_ms)
    res = evaluate(beats, [], sampling_rate=FS)
    assert res.tp == 0 and res.fp == int(np.sum(beats >= 300 * FS))


@pytest.mark.parametrize("det, match", [
    ([1.5, 3], "integer sample indices"),
    ([-1, 3], "non-negative"),
    ([np.nan], "finite"),
    ([[1, 2]], "1-D"),
    ("abc", "numeric"),
])
def test_bad_detections(det, match):
    with pytest.raises((ValueError, TypeError), match=match):
        evaluate(det, regular_beats(10), sampling_rate=FS)


def test_bad_reference_and_parameters():
    beats = regular_beats(10)
    with pytest.raises(ValueError, match="sampling_rate is required"):
        evaluate(beats, beats)
    with pytest.raises(ValueError, match="sampling_rate"):
        evaluate(beats, beats, sampling_rate=-1)
    with pytest.raises(ValueError, match="one entry per reference sample"):
        evaluate(beats, beats, reference_symbols=["N"], sampling_rate=FS)
    with pytest.raises(ValueError, match="match_window_s"):
        evaluate(beats, beats, sampling_rate=FS, match_window_s=0)
    with pytest.raises(ValueError, match="shorter than the learning period"):
        evaluate(beats, beats, sampling_rate=FS, signal_length=1000)
    rec = _excerpt()
    with pytest.raises(ValueError, match="differs"):
        evaluate(beats, rec, sampling_rate=250)
    with pytest.raises(ValueError, match="at least one"):
        gross_statistics([])


def test_read_wfdb_record_matches_wfdb_and_the_npz_excerpt(tmp_path):
    wfdb = pytest.importorskip("wfdb")
    from sparse_events.ecg import read_wfdb_record

    path = DATA / "mitdb_excerpt" / "mitdb119_0_60s"
    rec = read_wfdb_record(path)
    raw = wfdb.rdrecord(str(path), channels=[0])
    raw_header = wfdb.rdheader(str(path))
    np.testing.assert_array_equal(rec.signal, raw.p_signal[:, 0])
    assert rec.sampling_rate == raw.fs and rec.channel_name == raw.sig_name[0]
    ann = wfdb.rdann(str(path), "atr")
    np.testing.assert_array_equal(rec.annotation_samples, ann.sample)
    assert list(rec.annotation_symbols) == list(ann.symbol)
    # the same samples as the first minute of the npz excerpt of record 119
    excerpt = _excerpt()
    np.testing.assert_allclose(rec.signal, excerpt.signal[:rec.n_samples])
    # ".hea" suffix accepted; excerpts shift the annotations
    part = read_wfdb_record(str(path) + ".hea", channel=1, sampfrom=3600, sampto=7200)
    assert part.n_samples == 3600 and part.channel == 1 and part.sample_offset == 3600
    inside = ann.sample[(ann.sample >= 3600) & (ann.sample < 7200)]
    np.testing.assert_array_equal(part.annotation_samples, inside - 3600)
    assert evaluate(rec.scored_beat_samples, rec, learning_period_s=0).f1 == 1.0
    with pytest.raises(FileNotFoundError, match="header"):
        read_wfdb_record(tmp_path / "missing")
    with pytest.raises(ValueError, match="channel must be in"):
        read_wfdb_record(path, channel=2)
    # channels by name, as wfdb reads them (the CLI's --channel takes names too)
    for k, name in enumerate(raw_header.sig_name):
        by_name = read_wfdb_record(path, channel=name, annotator=None)
        own = wfdb.rdrecord(str(path), channel_names=[name])
        np.testing.assert_array_equal(by_name.signal, own.p_signal[:, 0])
        assert by_name.channel == k and by_name.channel_name == name
    with pytest.raises(ValueError, match=r"channel 'V5'.*'MLII', 'V1'"):
        read_wfdb_record(path, channel="V5")
    with pytest.raises(FileNotFoundError, match="annotation file"):
        read_wfdb_record(path, annotator="qrs")
    with pytest.raises(ValueError, match="sampfrom"):
        read_wfdb_record(path, sampfrom=100, sampto=50)
    assert read_wfdb_record(path, annotator=None).annotation_samples.size == 0


@pytest.mark.parametrize("symbol", ["+", "N", "late"])
def test_read_wfdb_record_end_of_record_marks(tmp_path, symbol):
    """A non-beat mark at sample n (just after the last sample, as CPSC 2021's rhythm end
    marks) is read and kept in whole-record reads; a beat there, or any mark after it,
    is an error naming the annotation; excerpts ending earlier leave the mark out."""
    wfdb = pytest.importorskip("wfdb")
    import re
    import shutil

    from sparse_events.ecg import read_wfdb_record

    src = DATA / "mitdb_excerpt" / "mitdb119_0_60s"
    for ext in ("hea", "dat"):
        shutil.copy(f"{src}.{ext}", tmp_path / f"{src.name}.{ext}")
    n = read_wfdb_record(src, annotator=None).n_samples
    ann = wfdb.rdann(str(src), "atr")
    last = n + 1 if symbol == "late" else n
    sample = np.r_[ann.sample, last]
    symbols = list(ann.symbol) + ["+" if symbol == "late" else symbol]
    aux = list(ann.aux_note) + ["(N" if symbol != "N" else ""]
    wfdb.wrann(src.name, "atr", sample, symbol=symbols, aux_note=aux, fs=ann.fs,
               write_dir=str(tmp_path))
    if symbol != "+":
        with pytest.raises(ValueError, match=re.escape(f"annotation '{symbols[-1]}' at sample {last}")):
            read_wfdb_record(tmp_path / src.name)
        return
    rec = read_wfdb_record(tmp_path / src.name)
    np.testing.assert_array_equal(rec.annotation_samples, sample)
    assert list(rec.annotation_symbols) == symbols
    np.testing.assert_array_equal(rec.scored_beat_samples,
                                  read_wfdb_record(src).scored_beat_samples)
    assert evaluate(rec.scored_beat_samples, rec, learning_period_s=0).f1 == 1.0
    part = read_wfdb_record(tmp_path / src.name, sampto=n - 1)
    np.testing.assert_array_equal(part.annotation_samples, ann.sample[ann.sample < n - 1])


# --- inputs that used to be scored silently (adversarial audit) ---------------------------

def test_info_dict_sampling_rate_must_match_the_reference():
    """An info dict carries its rate: detections at 250 Hz are never scored against a
    360 Hz reference; the rate is used when nothing else gives one."""
    rec = _excerpt()
    ref = rec.scored_beat_samples
    fs = rec.sampling_rate
    peaks = ref[ref < rec.n_samples]
    info250 = {"ECG_R_Peaks": np.round(peaks * 250 / fs).astype(np.int64),
               "sampling_rate": 250.0}
    for kwargs in (dict(reference=rec), dict(reference=ref, sampling_rate=fs)):
        with pytest.raises(ValueError, match=r"250\.0 Hz.*360\.0 Hz"):
            evaluate(info250, learning_period_s=0, **kwargs)
    info = {"ECG_R_Peaks": peaks, "sampling_rate": fs}
    expected = evaluate(peaks, ref, sampling_rate=fs, learning_period_s=0)
    for kwargs in (dict(reference=rec), dict(reference=ref, sampling_rate=fs),
                   dict(reference=ref)):  # the info dict's rate is the only one
        res = evaluate(info, learning_period_s=0, **kwargs)
        assert (res.tp, res.fn, res.fp, res.sampling_rate) == (
            expected.tp, expected.fn, expected.fp, fs)
    with pytest.raises(ValueError, match="sampling_rate"):
        evaluate({"ECG_R_Peaks": peaks, "sampling_rate": -1.0}, ref, sampling_rate=fs)


@pytest.mark.parametrize("det", [
    pytest.param(lambda b, n: np.r_[b, 1e20], id="huge-float"),
    pytest.param(lambda b, n: np.array([2 ** 63 + 5], dtype=np.uint64), id="huge-uint64"),
    pytest.param(lambda b, n: np.r_[b, 100.25], id="fractional"),
])
def test_huge_or_fractional_detections_raise(det):
    beats = regular_beats(40)
    n = int(beats[-1]) + 200
    with pytest.raises(ValueError, match="detections"):
        evaluate(det(beats, n), beats, sampling_rate=FS, learning_period_s=0, signal_length=n)
    # the last valid sample is accepted, and counted as a false positive
    res = evaluate(np.r_[beats, n - 1], beats, sampling_rate=FS, learning_period_s=0,
                   signal_length=n)
    assert (res.tp, res.fn, res.fp) == (beats.size, 0, 1)


def test_detections_after_signal_length_are_outside_the_comparison():
    """signal_length ends the comparison (it may end before the record, e.g. LUDB's
    annotated span): later detections are not scored (the comparison window of bxb -t);
    beyond an ECGRecord's own length a detection is an error."""
    beats = regular_beats(40)
    n = int(beats[-1]) + 200
    base = evaluate(beats, beats, sampling_rate=FS, learning_period_s=0, signal_length=n)
    res = evaluate(np.r_[beats, n + 1, 10 ** 7], beats, sampling_rate=FS, learning_period_s=0,
                   signal_length=n)
    assert (res.tp, res.fn, res.fp) == (base.tp, base.fn, base.fp)
    rec = _excerpt()
    ok = evaluate(np.r_[rec.scored_beat_samples, rec.n_samples - 1], rec, learning_period_s=0)
    assert ok.fp == 1
    for outside in (rec.n_samples, 10 ** 7):
        with pytest.raises(ValueError, match="detections"):
            evaluate(np.r_[rec.scored_beat_samples, outside], rec, learning_period_s=0)


def test_huge_detections_raise_without_signal_length():
    beats = regular_beats(40)
    for det in ([1e20], np.r_[beats, 2.0 ** 63], np.array([2 ** 63 + 5], dtype=np.uint64)):
        with pytest.raises(ValueError, match="detections"):
            evaluate(det, beats, sampling_rate=FS, learning_period_s=0)


@pytest.mark.parametrize("value, error", [
    (True, TypeError), (15000.7, TypeError), ("15000", TypeError), (float("nan"), TypeError),
    (0, ValueError), (-1, ValueError)])
def test_bad_signal_length_is_named(value, error):
    beats = regular_beats(10)
    with pytest.raises(error, match="signal_length"):
        evaluate(beats, beats, sampling_rate=FS, learning_period_s=0, signal_length=value)


def test_integral_signal_length_types_are_accepted():
    beats = regular_beats(10)
    n = int(beats[-1]) + 1
    expected = evaluate(beats, beats, sampling_rate=FS, learning_period_s=0, signal_length=n)
    for value in (np.int32(n), float(n), np.float64(n)):
        res = evaluate(beats, beats, sampling_rate=FS, learning_period_s=0, signal_length=value)
        assert (res.tp, res.fn, res.fp) == (expected.tp, expected.fn, expected.fp) == (10, 0, 0)


def test_array_reference_shorter_than_learning_period_raises_like_a_record():
    """A 3-min excerpt with the default 5-min learning period: the ECGRecord path knows
    the length and raises; the array path knows only the last annotation and raises too
    instead of returning all-zero counts."""
    rec = _excerpt()
    beats = rec.scored_beat_samples
    with pytest.raises(ValueError, match="shorter than the learning period"):
        evaluate(beats, rec)
    with pytest.raises(ValueError, match="shorter than the learning period"):
        evaluate(beats, rec.annotation_samples, reference_symbols=rec.annotation_symbols,
                 sampling_rate=rec.sampling_rate)
    with pytest.raises(ValueError, match="shorter than the learning period"):
        evaluate([], [], sampling_rate=FS)
    # a detection (or annotation) after the learning period tells the record is long enough
    late = int(300 * FS) + 1000  # beyond the start rule's window
    res = evaluate(np.r_[beats, late], beats, sampling_rate=rec.sampling_rate)
    assert (res.tp, res.fn, res.fp) == (0, 0, 1)
    # an explicit signal_length decides, as for a record
    res = evaluate(beats, beats, sampling_rate=FS, signal_length=int(300 * FS))
    assert (res.tp, res.fn, res.fp) == (0, 0, 0)
    assert evaluate([], [], sampling_rate=FS, learning_period_s=0).n_reference == 0


def test_zero_one_column_or_boolean_mask_is_refused():
    """signals["ECG_R_Peaks"] (one 0/1 value per sample) is not a list of sample indices."""
    import pandas as pd

    beats = regular_beats(20)
    n = int(beats[-1]) + 100
    column = np.zeros(n, dtype=np.int64)
    column[beats] = 1
    for mask in (column, pd.Series(column, name="ECG_R_Peaks"), column.astype(bool),
                 column.astype(float), list(column[:5]), np.array([True, False])):
        with pytest.raises(ValueError, match=r"info\['ECG_R_Peaks'\]\), not the 0/1 column"):
            evaluate(mask, beats, sampling_rate=FS, learning_period_s=0)
    with pytest.raises(ValueError, match="0/1 column"):
        evaluate(column, beats, sampling_rate=FS, learning_period_s=0, signal_length=n)
    # the indices of that column are what must be passed
    res = evaluate(np.flatnonzero(column), beats, sampling_rate=FS, learning_period_s=0)
    assert (res.tp, res.fn, res.fp) == (beats.size, 0, 0)
    # two distinct detections at samples 0 and 1 remain valid indices
    res = evaluate([0, 1], [0], sampling_rate=FS, learning_period_s=0)
    assert (res.tp, res.fn, res.fp) == (1, 0, 1)


def test_repeated_detection_counts_once_then_as_false_positive():
    """bxb semantics: a duplicated index is a second detection that finds no beat left."""
    beats = regular_beats(30)
    res = evaluate(np.r_[beats, beats[7], beats[7]], beats, sampling_rate=FS,
                   learning_period_s=0)
    assert (res.tp, res.fn, res.fp) == (beats.size, 0, 2)
    np.testing.assert_array_equal(res.false_detections, [beats[7], beats[7]])


@pytest.mark.parametrize("window", [150.0, 54, 1.0, 0.5])
def test_match_window_in_milliseconds_is_refused(window):
    """A 150 (ms) window scored detections 250 ms late as true positives and random
    detections at Se 73 % (audit s12 #2): a window of 0.5 s or more is refused, with
    the unit in the message."""
    beats = regular_beats(40)
    with pytest.raises(ValueError, match=r"match_window_s is in seconds \(EC57: 0\.15"):
        evaluate(beats + 90, beats, sampling_rate=FS, learning_period_s=0,
                 match_window_s=window)


@pytest.mark.parametrize("window, says, never", [
    (0.5, "got 0.5 s", "ms pass"), (1.0, "got 1 s", "ms pass"),
    (54, "not samples or milliseconds", None),
    (150.0, "for 150 ms pass match_window_s=0.15", None)])
def test_match_window_message_reads_milliseconds_only_for_large_values(window, says, never):
    """0.5 or 1 are too wide in seconds, not milliseconds (0.5 ms is no EC57 window):
    no ms reinterpretation; 54 or 150 may be milliseconds or samples."""
    beats = regular_beats(40)
    with pytest.raises(ValueError) as info:
        evaluate(beats, beats, sampling_rate=FS, learning_period_s=0, match_window_s=window)
    assert says in str(info.value)
    assert never is None or never not in str(info.value)


def test_learning_period_minutes_warning_only_when_the_minutes_fit_in_the_record():
    """On a 20-min record, 19 may be minutes (warns); 25 cannot be (25 min is longer
    than the record), so no warning suggests learning_period_s=1500."""
    import warnings

    long_beats = regular_beats(1200)  # 20 min at 60 bpm
    with pytest.warns(UserWarning, match=r"learning_period_s=1140"):
        evaluate(long_beats, long_beats, sampling_rate=FS, learning_period_s=19)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = evaluate(long_beats, long_beats, sampling_rate=FS, learning_period_s=25)
    assert res.tp == np.sum(long_beats >= 25 * FS)


def test_match_window_below_half_a_second_still_scores():
    """Just below the limit the window is a window: a constant 250 ms delay is matched
    by a 0.3 s window and by no EC57 (0.15 s) window (closed form)."""
    beats = regular_beats(40)
    late = beats + round(0.25 * FS)
    wide = evaluate(late, beats, sampling_rate=FS, learning_period_s=0, match_window_s=0.3)
    ec57 = evaluate(late, beats, sampling_rate=FS, learning_period_s=0)
    assert (wide.tp, wide.fn, wide.fp) == (40, 0, 0)
    assert (ec57.tp, ec57.fn, ec57.fp) == (0, 40, 40)
    assert evaluate(late, beats, sampling_rate=FS, learning_period_s=0,
                    match_window_s=0.499).tp == 40


def test_learning_period_in_minutes_warns_on_a_long_record():
    """learning_period_s=5 on a 20-min record is most likely 5 minutes: a warning that
    says the unit and the value meant (the result is still that of 5 s); 0, 0.25, 60 and
    300 s, and short learning periods on excerpts of 10 min or less, do not warn."""
    import warnings

    long_beats = regular_beats(1200)  # 20 min at 60 bpm
    with pytest.warns(UserWarning, match=r"in seconds.*learning_period_s=300"):
        res = evaluate(long_beats, long_beats, sampling_rate=FS, learning_period_s=5)
    assert res.tp == np.sum(long_beats >= 5 * FS)
    short_beats = regular_beats(180)  # 3 min
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for lp in (0, 0.25, 60, 300):  # 0.25 s: an edge margin, not minutes
            evaluate(long_beats, long_beats, sampling_rate=FS, learning_period_s=lp)
        for lp in (0.25, 5.0):
            evaluate(short_beats, short_beats, sampling_rate=FS, learning_period_s=lp)
