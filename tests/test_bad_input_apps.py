"""Bad input over the public API of the applications: ecg, gamma, plotting, cli.

Same rules as ``test_bad_input.py`` (whose completeness test also covers the
names here): a ``ValueError``/``TypeError`` (``FileNotFoundError``/``OSError``
for files) whose message names the argument, or a documented policy checked on
the result; the command line exits with a non-zero code and one error line
naming the option, never a traceback.
"""

from __future__ import annotations

import atexit
import io
import re
import shutil
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from _bad_input_engine import MISSING, Case, all_finite, as_params, run_case, spec_cases

from sparse_events import ecg, gamma, plotting
from sparse_events.cli import main as cli_main

DATA = Path(__file__).parent / "data"
RECORD = DATA / "mitdb_excerpt" / "mitdb119_0_60s"
_TMP = Path(tempfile.mkdtemp(prefix="sparse_events_bad_input_"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)

_npz = np.load(DATA / "mitdb_119_0-3min.npz")
FS_ECG = float(_npz["sampling_rate"])
ECG = (_npz["adc"][: int(10 * FS_ECG)] - _npz["baseline"]) / _npz["adc_gain"]
ECG_CLEAN = ecg.ecg_clean(ECG, sampling_rate=FS_ECG)
REF_BEATS = _npz["ann_sample"][_npz["ann_sample"] < ECG.size]

_ludb = np.load(DATA / "ludb_1_limb_v2_v5.npz")
FS_LUDB = float(_ludb["sampling_rate"])
_leads = {str(n): (_ludb["adc"][k, :2500] - _ludb["baseline"][k]) / _ludb["gain"][k]
          for k, n in enumerate(_ludb["leads"])}
SOURCE = _leads["v2"] if "v2" in _leads else _leads[list(_leads)[-1]]
LEADS = {"I": _leads["i"], "II": _leads["ii"]}

FS_GAMMA = 250e6
PULSE = gamma.biexponential_pulse(sampling_rate=FS_GAMMA, rise_time_s=4e-9, decay_time_s=12e-9,
                                  tail_fraction=0.01)
TRAIN = gamma.simulate_pulse_train(rate_hz=2e6, duration_s=1e-5, sampling_rate=FS_GAMMA,
                                   pulse=PULSE, amplitudes=50.0, noise_std=1.0, random_state=0)
EVENTS = gamma.estimate_events(TRAIN.signal, sampling_rate=FS_GAMMA, pulse=PULSE, noise_std=1.0)
_amps = np.random.default_rng(0).normal(100.0, 3.0, 2000)
SPECTRUM = gamma.energy_spectrum(_amps, n_bins=64)
WAVEFORMS = np.vstack([np.r_[np.zeros(20), 100 * PULSE, np.zeros(10)]
                       + np.random.default_rng(k).normal(0, 1, 30 + PULSE.size)
                       for k in range(6)])


def _tmp_copy(record=RECORD, mutate=None, ext=None):
    """Copy the WFDB excerpt into a fresh directory and damage one of its files."""
    d = Path(tempfile.mkdtemp(dir=_TMP))
    for e in ("hea", "dat", "atr"):
        shutil.copy(f"{record}.{e}", d / f"{record.name}.{e}")
    if mutate is not None:
        f = d / f"{record.name}.{ext}"
        f.write_bytes(mutate(f.read_bytes()))
    return d / record.name


def _write(name, content):
    p = Path(tempfile.mkdtemp(dir=_TMP)) / name
    if isinstance(content, bytes):
        p.write_bytes(content)
    elif isinstance(content, np.ndarray):
        np.save(p, content)
    else:
        p.write_text(content)
    return p


def _read_truncated(ext, keep):
    return lambda: ecg.read_wfdb_record(_tmp_copy(mutate=lambda b: b[:keep(len(b))], ext=ext))


def _close(fig_or_ax):
    import matplotlib.pyplot as plt

    fig = getattr(fig_or_ax, "figure", fig_or_ax)
    plt.close(fig)


def _returns_figure(out):
    fig = out[0] if isinstance(out, tuple) else out
    assert hasattr(fig, "savefig") or hasattr(getattr(fig, "figure", None), "savefig")
    _close(fig)


# ----------------------------------------------------------------------------- ECG
def _sparse_kw(**kw):
    return dict(cleaned=ECG_CLEAN, sampling_rate=FS_ECG, method="sparse", **kw)


ECG_CASES = [
    *spec_cases(
        "ecg.ecg_clean", ecg.ecg_clean, dict(signal=ECG, sampling_rate=FS_ECG),
        arrays={"signal": dict(ndim_bad=(0, 2))}, rate="sampling_rate",
        positive=("lowcut_hz", "highcut_hz"), ints={"order": 1},
        options=("nan_policy",),
        extra=[("highcut-above-nyquist-policy", {"highcut_hz": 500.0}, None,  # documented:
                lambda y: np.array_equal(y, ecg.ecg_clean(  # the low-pass side is dropped
                    ECG, sampling_rate=FS_ECG, highcut_hz=None))),
               ("highcut-below-lowcut", {"lowcut_hz": 30.0, "highcut_hz": 10.0}, ValueError,
                "highcut_hz"),
               ("too-short", {"signal": ECG[:100]}, ValueError, "signal"),
               ("powerline-negative", {"powerline_hz": -50.0}, ValueError, "powerline_hz"),
               # at or above Nyquist no notch exists (it used to be skipped silently)
               ("powerline-above-nyquist", {"powerline_hz": 1e6}, ValueError,
                "powerline_hz.*Nyquist"),
               ("long-gap-interpolate", {"signal": np.where(np.arange(ECG.size) < 900, np.nan,
                                                            ECG), "nan_policy": "interpolate"},
                ValueError, "signal|gap"),
               ("short-gap-interpolate-policy",
                {"signal": np.where((np.arange(ECG.size) > 500) & (np.arange(ECG.size) < 520),
                                    np.nan, ECG), "nan_policy": "interpolate"},
                None, all_finite()),
               ("int16-adc-policy", {"signal": _npz["adc"][:3600]}, None, all_finite()),
               ("flat-policy", {"signal": np.zeros(3600)}, None, all_finite())]),
    *spec_cases(
        "ecg.interpolate_gaps", ecg.interpolate_gaps,
        dict(signal=np.r_[ECG[:100], np.nan, ECG[101:]], sampling_rate=FS_ECG),
        arrays={"signal": dict(ndim_bad=(0, 2), kinds=("empty", "complex", "str", "object"))},
        rate="sampling_rate", nonneg=("max_gap_s",),
        extra=[("all-nan", {"signal": np.full(100, np.nan)}, ValueError, "signal"),
               ("gap-too-long", {"max_gap_s": 0.0}, ValueError, "signal|gap"),
               ("valid-is-finite-policy", {}, None, all_finite())]),
    *spec_cases(
        "ecg.ecg_findpeaks", ecg.ecg_findpeaks, _sparse_kw(),
        arrays={"cleaned": dict(ndim_bad=(0, 2))}, rate="sampling_rate", options=("method",),
        extra=[
            ("too-short", {"cleaned": ECG_CLEAN[:300]}, ValueError, "cleaned"),
            ("rate-below-50-hz", {"sampling_rate": 20.0}, ValueError, "sampling_rate"),
            ("flat", {"cleaned": np.zeros(3600)}, ValueError, "cleaned|flat"),
            ("sparse-chunk_s-too-short", {"chunk_s": 1.0}, ValueError, "chunk_s"),
            ("sparse-refractory_s-zero", {"refractory_s": 0.0}, ValueError, "refractory_s"),
            ("sparse-lasso_alpha-negative", {"lasso_alpha": -1.0}, ValueError, "lasso_alpha"),
            ("sparse-threshold-above-1", {"threshold": 2.0}, ValueError, "threshold"),
            ("sparse-refractory_strength-nan", {"refractory_strength": np.nan}, ValueError,
             "refractory_strength"),
            ("sparse-max_reweights-zero", {"max_reweights": 0}, ValueError, "max_reweights"),
            ("sparse-dictionary-unknown", {"dictionary": "bogus"}, ValueError, "dictionary"),
            ("sparse-solver-unknown", {"solver": "bogus"}, ValueError, "solver"),
            ("sparse-unknown-keyword", {"bogus_option": 1}, TypeError, "bogus_option"),
            ("pantompkins-refractory-negative", {"method": "pantompkins", "refractory_s": -1.0},
             ValueError, "refractory_s")],
        timeout=120),
    *spec_cases(
        "ecg.ecg_peaks", ecg.ecg_peaks,
        dict(signal=ECG, sampling_rate=FS_ECG, method="pantompkins"),
        arrays={"signal": dict(ndim_bad=(0, 2))}, rate="sampling_rate",
        options=("method", "nan_policy"),
        extra=[("short-gap-interpolate-policy",
                {"signal": np.r_[ECG[:1000], np.full(10, np.nan), ECG[1010:]],
                 "nan_policy": "interpolate"}, None,
                lambda out: out[1]["ECG_R_Peaks"].size > 5),
               ("sparse-valid", {"method": "sparse"}, None,
                lambda out: out[1]["ECG_R_Peaks"].size > 5)],
        timeout=120),
    *spec_cases(
        "ecg.find_peaks_pantompkins", ecg.find_peaks_pantompkins,
        dict(cleaned=ECG_CLEAN, sampling_rate=FS_ECG),
        arrays={"cleaned": dict(ndim_bad=(0, 2))}, rate="sampling_rate",
        # refractory_s = twave_s = 0 and replace_ratio = 0 (rule disabled) are allowed
        positive=("relearn_s",), nonneg=("refractory_s", "twave_s", "replace_ratio"),
        extra=[("too-short", {"cleaned": ECG_CLEAN[:300]}, ValueError, "cleaned"),
               ("flat", {"cleaned": np.zeros(3600)}, ValueError, "cleaned|flat")]),
    *spec_cases(
        "ecg.pantompkins_transform", ecg.pantompkins_transform,
        dict(signal=ECG, sampling_rate=FS_ECG),
        arrays={"signal": dict(ndim_bad=(0, 2))}, rate="sampling_rate",
        positive=("integration_window_s",), ints={"order": 1},
        extra=[("band-reversed", {"band_hz": (15.0, 5.0)}, ValueError, "band_hz"),
               ("band-above-nyquist", {"band_hz": (5.0, 400.0)}, ValueError, "band_hz"),
               ("band-nan", {"band_hz": (np.nan, 15.0)}, ValueError, "band_hz"),
               ("band-not-a-pair", {"band_hz": 5.0}, (TypeError, ValueError), "band_hz")]),
    *spec_cases(
        "ecg.evaluate", ecg.evaluate,
        dict(detections=REF_BEATS + 3, reference=REF_BEATS, sampling_rate=FS_ECG,
             learning_period_s=0.0),
        arrays={"detections": dict(ndim_bad=(2,), kinds=("nan", "inf", "complex", "str",
                                                          "object")),
                "reference": dict(ndim_bad=(2,), kinds=("nan", "inf", "complex", "str",
                                                         "object"))},
        nonneg=("learning_period_s",), positive=("match_window_s",),
        extra=[("sampling_rate-missing-for-arrays", {"sampling_rate": MISSING}, ValueError,
                "sampling_rate"),
               ("sampling_rate-zero", {"sampling_rate": 0.0}, ValueError, "sampling_rate"),
               ("detections-negative", {"detections": np.r_[-5, REF_BEATS]}, ValueError,
                "detections"),
               ("detections-fractional", {"detections": REF_BEATS + 0.5}, (ValueError,
                                                                           TypeError),
                "detections"),
               ("symbols-length-mismatch", {"reference_symbols": ["N"]}, ValueError,
                "symbols|reference"),
               ("signal_length-before-learning",
                {"signal_length": 10, "learning_period_s": 1.0}, ValueError, "signal_length"),
               ("empty-detections-policy", {"detections": np.zeros(0, int)}, None,
                lambda r: r.tp == 0 and r.fn == REF_BEATS.size)]),
    *spec_cases(
        "ecg.reference_beats", ecg.reference_beats,
        dict(samples=_npz["ann_sample"], symbols=_npz["ann_symbol"]),
        arrays={"samples": dict(ndim_bad=(2,), kinds=("nan", "inf", "complex", "object"))},
        extra=[("length-mismatch", {"symbols": _npz["ann_symbol"][:-1]}, ValueError,
                "symbols|samples"),
               ("negative", {"samples": np.r_[-1, _npz["ann_sample"][1:]]}, ValueError,
                "samples")]),
    *spec_cases(
        "ecg.gross_statistics", ecg.gross_statistics,
        dict(results=[ecg.evaluate(REF_BEATS, REF_BEATS, sampling_rate=FS_ECG,
                                   learning_period_s=0.0)]),
        extra=[("empty", {"results": []}, ValueError, "results"),
               ("not-results", {"results": [1, 2]}, TypeError, "results|EC57Result")]),
    *spec_cases(
        "ecg.ec57_table", ecg.ec57_table,
        dict(results=[ecg.evaluate(REF_BEATS, REF_BEATS, sampling_rate=FS_ECG,
                                   learning_period_s=0.0)]),
        extra=[("empty", {"results": []}, ValueError, "results"),
               ("not-results", {"results": ["x"]}, TypeError, "results|EC57Result")]),
    *spec_cases(
        "ecg.read_wfdb_record", ecg.read_wfdb_record, dict(path=RECORD),
        ints={"sampfrom": 0},
        extra=[
            ("path-missing", {"path": DATA / "no_such_record"}, FileNotFoundError,
             "no_such_record"),
            ("path-int", {"path": 119}, TypeError, "path"),
            ("channel-out-of-range", {"channel": 2}, ValueError, "channel"),
            ("channel-below-0", {"channel": -1}, ValueError, "channel"),
            ("channel-fraction", {"channel": 0.5}, TypeError, "channel"),
            ("channel-bool", {"channel": True}, TypeError, "channel"),
            # a str is a signal name: an unknown one lists the record's names
            ("channel-unknown-name", {"channel": "1"}, ValueError, "channel '1'.*'MLII'"),
            ("sampto-before-sampfrom", {"sampfrom": 100, "sampto": 50}, ValueError,
             "sampfrom|sampto"),
            ("sampto-beyond-end", {"sampto": 10**9}, ValueError, "sampto"),
            ("annotator-missing", {"annotator": "qrs"}, FileNotFoundError, "qrs"),
            ("truncated-dat", _read_truncated("dat", lambda n: n // 2), ValueError,
             "mitdb119_0_60s.*truncated"),
            ("truncated-dat-one-byte", _read_truncated("dat", lambda n: n - 1), ValueError,
             "mitdb119_0_60s"),
            ("empty-dat", _read_truncated("dat", lambda n: 0), ValueError, "mitdb119_0_60s"),
            ("truncated-hea", _read_truncated("hea", lambda n: 60), ValueError,
             "mitdb119_0_60s.hea"),
            ("empty-hea", _read_truncated("hea", lambda n: 0), ValueError,
             "mitdb119_0_60s.hea"),
            ("truncated-atr", _read_truncated("atr", lambda n: n // 2), ValueError,
             "mitdb119_0_60s.atr"),
            ("truncated-atr-one-byte", _read_truncated("atr", lambda n: n - 1), ValueError,
             "mitdb119_0_60s.atr"),
            ("corrupted-dat-byte", lambda: ecg.read_wfdb_record(_tmp_copy(
                mutate=lambda b: b[:3000] + bytes([b[3000] ^ 0x08]) + b[3001:], ext="dat")),
             ValueError, "checksum"),
            ("corrupted-definition-note", lambda: ecg.read_wfdb_record(_tmp_copy(
                mutate=lambda b: b.replace(b"time resolution", b"time resoLution"),
                ext="atr")), ValueError, "mitdb119_0_60s.atr"),
            ("dat-missing", lambda: ecg.read_wfdb_record(
                _write("r.hea", (RECORD.with_suffix(".hea")).read_text()).with_suffix("")),
             FileNotFoundError, "mitdb119_0_60s.dat")]),
    *spec_cases(
        "ecg.wfdb_record_path", ecg.wfdb_record_path, dict(path=RECORD),
        extra=[("missing", {"path": DATA / "nope"}, FileNotFoundError, "nope"),
               ("int", {"path": 3}, TypeError, "path"),
               ("none", {"path": None}, TypeError, "path")]),
    *spec_cases(
        "ecg.register_peak_method", ecg.register_peak_method,
        dict(name="bad_input_probe", func=lambda x, *, sampling_rate: np.zeros(0, int),
             overwrite=True),
        extra=[("name-empty", {"name": ""}, TypeError, "name"),
               ("name-int", {"name": 3}, TypeError, "name"),
               ("func-not-callable", {"func": 3}, TypeError, "func"),
               ("func-bad-string", {"func": "no colon"}, TypeError, "func"),
               ("existing-without-overwrite", {"name": "sparse", "overwrite": False},
                ValueError, "sparse|overwrite")]),
    *spec_cases(
        "ecg.derive_limb_leads", ecg.derive_limb_leads,
        dict(lead_i=LEADS["I"], lead_ii=LEADS["II"]),
        arrays={"lead_i": dict(ndim_bad=(0, 2)), "lead_ii": dict(ndim_bad=(0, 2))},
        extra=[("length-mismatch", {"lead_ii": LEADS["II"][:-1]}, ValueError,
                "lead_i|lead_ii")]),
]


_TEMPLATE = ecg.ecgsyn_qrs_template(sampling_rate=FS_ECG)
_DET_KW = dict(cleaned=ECG_CLEAN, sampling_rate=FS_ECG, dictionary="generic")

ECG_CASES += [
    *spec_cases(
        "ecg.find_peaks_sparse", ecg.find_peaks_sparse, _DET_KW,
        arrays={"cleaned": dict(ndim_bad=(0, 2))}, rate="sampling_rate",
        positive=("lasso_alpha", "refractory_strength"), nonneg=("extra_beat_ratio", "threshold_noise_gain"),
        ints={"max_reweights": 1}, options=("dictionary", "solver"),
        extra=[("chunk_s-too-short", {"chunk_s": 1.0}, ValueError, "chunk_s"),
               ("extra_beat_ratio-above-1", {"extra_beat_ratio": 1.5}, ValueError,
                "extra_beat_ratio"),
               ("extra_beat_ratio-inf", {"extra_beat_ratio": np.inf}, ValueError,
                "extra_beat_ratio"),
               ("threshold-zero", {"threshold": 0.0}, ValueError, "threshold"),
               ("searchback-below-1", {"searchback": 0.5}, ValueError, "searchback"),
               ("twave-below-refractory", {"twave_s": 0.1}, ValueError, "twave_s"),
               ("flat", {"cleaned": np.zeros(3600)}, ValueError, "cleaned|flat")],
        timeout=120),
    *spec_cases(
        "ecg.detect_r_peaks_sparse", ecg.detect_r_peaks_sparse, _DET_KW,
        arrays={"cleaned": dict(ndim_bad=(2,), kinds=("nan", "empty", "complex"))},
        rate="sampling_rate",
        extra=[("refractory_s-above-1", {"refractory_s": 2.0}, ValueError, "refractory_s"),
               ("dictionary-array", {"dictionary": np.ones((2, 20))}, (TypeError, ValueError),
                "dictionary")],
        timeout=120),
    *spec_cases(
        "ecg.qrs_dictionary", ecg.qrs_dictionary, dict(sampling_rate=FS_ECG),
        rate="sampling_rate",
        extra=[("shape-unknown", {"shapes": ("zigzag",)}, ValueError, "shapes|zigzag"),
               ("shapes-empty", {"shapes": ()}, ValueError, "shapes"),
               ("width-zero", {"widths": (0.0,)}, ValueError, "widths"),
               ("width-nan", {"widths": (np.nan,)}, ValueError, "widths"),
               ("polarity-2", {"polarities": (2,)}, ValueError, "polarities")]),
    *spec_cases(
        "ecg.ecgsyn_qrs_template", ecg.ecgsyn_qrs_template, dict(sampling_rate=FS_ECG),
        positive=("sampling_rate", "heart_rate"),
        extra=[("random_state-str", {"random_state": "x"}, TypeError, "random_state")],
        timeout=60),
    *spec_cases(
        "ecg.learn_qrs_dictionary", ecg.learn_qrs_dictionary,
        dict(signal=ECG_CLEAN, r_peaks=REF_BEATS, sampling_rate=FS_ECG),
        arrays={"signal": dict(ndim_bad=(0, 2))}, rate="sampling_rate",
        ints={"max_atoms": 1, "min_beats": 1}, positive=("before_s", "after_s"),
        extra=[("r_peaks-nan", {"r_peaks": np.r_[np.nan, REF_BEATS[1:]]},
                (TypeError, ValueError), "r_peaks"),
               # documented: beats whose window leaves the signal are not used; an index
               # outside the signal is an error (it used to be left out as well)
               ("r_peaks-edge-policy", {"r_peaks": np.r_[1, REF_BEATS]}, None,
                lambda d: len(d.templates) >= 1),
               ("r_peaks-outside", {"r_peaks": np.r_[REF_BEATS, 10**7]}, ValueError,
                "r_peaks"),
               ("r_peaks-too-few", {"r_peaks": REF_BEATS[:1]}, ValueError, "beats|r_peaks"),
               ("correlation-above-1", {"correlation_threshold": 1.5}, ValueError,
                "correlation_threshold")]),
    *spec_cases(
        "ecg.QRSTemplate", ecg.QRSTemplate,
        dict(waveform=_TEMPLATE.waveform, r_offset=_TEMPLATE.r_offset, sampling_rate=FS_ECG),
        arrays={"waveform": dict(ndim_bad=(0, 2))}, rate="sampling_rate",
        extra=[("r_offset-outside", {"r_offset": 10**6}, ValueError, "r_offset"),
               ("r_offset-negative", {"r_offset": -1}, ValueError, "r_offset"),
               ("polarity-0", {"polarity": 0}, ValueError, "polarity"),
               ("waveform-zero", {"waveform": np.zeros(20)}, ValueError, "waveform")]),
    *spec_cases(
        "ecg.QRSDictionary", ecg.QRSDictionary, dict(templates=(_TEMPLATE,)),
        extra=[("empty", {"templates": ()}, ValueError, "templates"),
               ("not-templates", {"templates": (np.ones(5),)}, TypeError, "templates"),
               ("mixed-rates", {"templates": (_TEMPLATE, ecg.ecgsyn_qrs_template(
                   sampling_rate=250.0))}, ValueError, "sampling_rate|templates")]),
]


def _six_fit(source=SOURCE, leads=LEADS, **params):
    """SixLeadReconstructor(**params).fit(source, leads, sampling_rate=..., ...)."""
    fit_kw = {k: params.pop(k) for k in ("sampling_rate", "leads_sampling_rate")
              if k in params}
    params.setdefault("model", "ridge")
    return ecg.SixLeadReconstructor(**params).fit(source, leads, **fit_kw)


_FITTED_SIX = None


def _six_predict(source=SOURCE, sampling_rate=FS_LUDB):
    global _FITTED_SIX
    if _FITTED_SIX is None:
        _FITTED_SIX = _six_fit(sampling_rate=FS_LUDB)
    if sampling_rate is MISSING:
        return _FITTED_SIX.predict(source)
    return _FITTED_SIX.predict(source, sampling_rate=sampling_rate)


ECG_CASES += [
    *spec_cases(
        "ecg.SixLeadReconstructor", _six_fit,
        dict(source=SOURCE, leads=LEADS, sampling_rate=FS_LUDB),
        arrays={"source": dict(ndim_bad=(0, 2))}, rate="sampling_rate",
        positive=("window_s", "working_rate"), ints={"filter_order": 1, "train_step": 1,
                                                     "n_patterns": 1},
        options=("model", "window", "normalize"),
        extra=[("leads-nan", {"leads": {"I": np.where(np.arange(2500) == 7, np.nan,
                                                      LEADS["I"]), "II": LEADS["II"]}},
                ValueError, "leads|I"),
               ("leads-missing-II", {"leads": {"I": LEADS["I"]}}, (ValueError, KeyError),
                "II|leads"),
               ("leads-wrong-length", {"leads": {"I": LEADS["I"][:-5],
                                                 "II": LEADS["II"][:-5]}}, ValueError,
                "leads|source"),
               ("band-reversed", {"band": (40.0, 0.5)}, ValueError, "band"),
               ("band-above-nyquist", {"band": (0.5, 400.0)}, ValueError, "band"),
               ("alpha-negative", {"alpha": -1.0}, ValueError, "alpha"),
               ("fit_intercept-str", {"fit_intercept": "False"}, TypeError, "fit_intercept"),
               ("gated-fit_intercept-none", {"model": "gated", "fit_intercept": None},
                TypeError, "fit_intercept"),
               ("model-object", {"model": object()}, TypeError, "model"),
               ("gated-n_patterns-zero", {"model": "gated", "n_patterns": 0}, ValueError,
                "n_patterns"),
               ("window-longer-than-source", {"window_s": 60.0}, ValueError,
                "window_s|source"),
               ("flat-source", {"source": np.zeros(2500)}, ValueError, "source|flat"),
               ("leads_sampling_rate-differs", {"leads_sampling_rate": 250.0}, ValueError,
                "leads_sampling_rate"),
               ("predict-before-fit", lambda: ecg.SixLeadReconstructor().predict(
                   SOURCE, sampling_rate=FS_LUDB), ValueError, "fit|fitted"),
               ("predict-nan", lambda: _six_predict(source=np.where(np.arange(2500) == 9,
                                                                    np.nan, SOURCE)),
                ValueError, "source"),
               ("predict-rate-zero", lambda: _six_predict(sampling_rate=0.0), ValueError,
                "sampling_rate"),
               ("predict-rate-missing", lambda: _six_predict(sampling_rate=MISSING),
                TypeError,
                "sampling_rate")]),
]

# ----------------------------------------------------------------------------- gamma
_SPE_TEXT = (DATA / "digibase_5min_30_1.spe").read_text(encoding="latin-1")
_HPGE = (DATA / "hpge_dt5720_wave0_first3.dat").read_bytes()

GAMMA_CASES = [
    *spec_cases(
        "gamma.biexponential_pulse", gamma.biexponential_pulse,
        dict(sampling_rate=FS_GAMMA, rise_time_s=4e-9, decay_time_s=12e-9),
        rate="sampling_rate", nonneg=("rise_time_s",), positive=("decay_time_s",),
        options=("normalize",),
        extra=[("duration-zero", {"duration_s": 0.0}, ValueError, "duration_s"),
               ("tail_fraction-one", {"tail_fraction": 1.0}, ValueError, "tail_fraction"),
               ("tail_fraction-zero", {"tail_fraction": 0.0}, ValueError, "tail_fraction"),
               ("absurd-duration", {"duration_s": 1e6}, (ValueError, MemoryError),
                "duration_s|allocate")]),
    *spec_cases(
        "gamma.simulate_pulse_train", gamma.simulate_pulse_train,
        dict(rate_hz=2e6, duration_s=1e-5, sampling_rate=FS_GAMMA, pulse=PULSE,
             noise_std=1.0, random_state=0),
        rate="sampling_rate", arrays={"pulse": dict(ndim_bad=(0, 3))},
        nonneg=("rate_hz", "noise_std", "dead_time_s"), positive=("duration_s",),
        ints={"chunk_size": 1}, options=("dead_time_model",),
        extra=[("pulse-longer-than-record", {"duration_s": 1e-8}, ValueError,
                "pulse|duration_s"),
               ("amplitudes-nan", {"amplitudes": np.nan}, ValueError, "amplitudes"),
               ("amplitudes-pool-empty", {"amplitudes": np.zeros(0)}, ValueError,
                "amplitudes"),
               ("amplitudes-str", {"amplitudes": "big"}, TypeError, "amplitudes"),
               ("amplitudes-callable-returns-nan",
                {"amplitudes": lambda rng, n: np.full(n, np.nan)}, ValueError, "amplitudes"),
               ("dtype-int", {"dtype": np.int16}, (ValueError, TypeError), "dtype"),
               ("random_state-str", {"random_state": "x"}, TypeError, "random_state"),
               ("absurd-duration", {"duration_s": 1e9}, (ValueError, MemoryError),
                "duration_s|allocate"),
               ("absurd-rate", {"rate_hz": 1e18}, (ValueError, MemoryError),
                "rate_hz|allocate")]),
    *spec_cases(
        "gamma.estimate_events", gamma.estimate_events,
        dict(signal=TRAIN.signal, sampling_rate=FS_GAMMA, pulse=PULSE, noise_std=1.0),
        rate="sampling_rate", arrays={"signal": dict(ndim_bad=(0, 2)),
                                      "pulse": dict(ndim_bad=(0, 3))},
        nonneg=("dead_time_s", "tol"), positive=("threshold_factor",),
        ints={"max_iter": 1, "chunk_size": 1},
        extra=[("signal-bool", {"signal": TRAIN.signal > 0}, TypeError, "signal.*boolean"),
               ("alpha-negative", {"alpha": -1.0}, ValueError, "alpha"),
               ("noise_std-negative", {"noise_std": -1.0}, ValueError, "noise_std"),
               ("noise_std-nan", {"noise_std": np.nan}, ValueError, "noise_std"),
               ("pulse-longer-than-signal", {"pulse": np.ones(TRAIN.signal.size + 1)},
                ValueError, "pulse|signal"),
               ("pulse-zero", {"pulse": np.zeros(10)}, ValueError, "pulse"),
               ("int16-adc-policy", {"signal": np.round(TRAIN.signal).astype(np.int16)},
                None, all_finite(lambda e: e.amplitudes, lambda e: e.arrival_times_s)),
               ("zero-signal-policy", {"signal": np.zeros(5000)}, None,
                lambda e: e.amplitudes.size == 0)],
        timeout=60),
    *spec_cases(
        "gamma.estimate_activity", gamma.estimate_activity,
        dict(signal=TRAIN.signal, sampling_rate=FS_GAMMA, pulse=PULSE, noise_std=1.0),
        rate="sampling_rate", arrays={"signal": dict(ndim_bad=(0, 2))},
        extra=[("signal-bool", {"signal": TRAIN.signal > 0}, TypeError, "signal.*boolean"),
               ("resolving_time-zero", {"resolving_time_s": 0.0}, ValueError,
                "resolving_time_s"),
               ("dead_time-negative", {"dead_time_s": -1.0}, ValueError, "dead_time_s")],
        timeout=60),
    *spec_cases(
        "gamma.activity_from_events", gamma.activity_from_events,
        dict(events=EVENTS, resolving_time_s=1e-8), positive=("resolving_time_s",),
        extra=[("events-array", {"events": np.ones(3)}, TypeError, "events")]),
    *spec_cases(
        "gamma.cluster_events", gamma.cluster_events,
        dict(positions=np.array([1.0, 2.0, 10.0]), amplitudes=np.array([1.0, 1.0, 1.0]),
             max_gap=2),
        arrays={"positions": dict(ndim_bad=(2,)), "amplitudes": dict(ndim_bad=(2,))},
        nonneg=("max_gap",),
        extra=[("length-mismatch", {"amplitudes": np.ones(2)}, ValueError,
                "amplitudes|positions"),
               ("unsorted", {"positions": np.array([5.0, 1.0, 2.0])}, ValueError,
                "positions"),
               ("max_size-zero", {"max_size": 0}, ValueError, "max_size")]),
    *spec_cases(
        "gamma.dead_time_counter", gamma.dead_time_counter,
        dict(arrival_times_s=np.array([0.0, 1e-6, 3e-6]), dead_time_s=2e-6,
             model="nonparalyzable"),
        arrays={"arrival_times_s": dict(ndim_bad=(2,), kinds=("nan", "inf", "complex", "str",
                                                              "object"))},
        nonneg=("dead_time_s",), options=("model",),
        extra=[("decreasing", {"arrival_times_s": np.array([3e-6, 1e-6])}, ValueError,
                "arrival_times_s")]),
    *spec_cases(
        "gamma.default_resolving_samples", gamma.default_resolving_samples,
        dict(pulse=PULSE), arrays={"pulse": dict(ndim_bad=(0, 2))},
        extra=[("level-zero", {"level": 0.0}, ValueError, "level"),
               ("level-above-one", {"level": 1.5}, ValueError, "level"),
               ("pulse-zero", {"pulse": np.zeros(5)}, ValueError, "pulse")]),
    *spec_cases(
        "gamma.energy_spectrum", gamma.energy_spectrum, dict(amplitudes=_amps, n_bins=64),
        arrays={"amplitudes": dict(ndim_bad=(0, 2), kinds=("nan", "inf", "complex", "str",
                                                            "object"))},
        ints={"n_bins": 1},
        extra=[("calibration-constant", {"calibration": (5.0, 0.0)}, ValueError,
                "calibration"),
               ("calibration-nan", {"calibration": (0.0, np.nan)}, ValueError, "calibration"),
               ("edges-decreasing", {"bin_edges_kev": np.array([3.0, 2.0, 1.0])}, ValueError,
                "bin_edges_kev"),
               ("range-reversed", {"energy_range_kev": (10.0, 1.0)}, ValueError,
                "energy_range_kev"),
               ("empty-without-range", {"amplitudes": np.zeros(0)}, ValueError,
                "energy_range_kev"),
               ("empty-with-range-policy", {"amplitudes": np.zeros(0),
                                            "energy_range_kev": (0.0, 1.0)}, None,
                lambda s: s.counts.sum() == 0 and s.n_outside == 0),
               ("absurd-n_bins", {"n_bins": 10**13}, (ValueError, MemoryError),
                "n_bins|allocate")]),
    *spec_cases(
        "gamma.correct_unresolved_pileup", gamma.correct_unresolved_pileup,
        dict(spectrum=gamma.energy_spectrum(_amps, bin_edges_kev=np.arange(0.0, 301.0)),
             rate_hz=1e6, resolving_time_s=1e-8),
        nonneg=("rate_hz", "resolving_time_s", "rate_uncertainty_hz",
                "resolving_time_uncertainty_s"),
        extra=[("spectrum-array", {"spectrum": np.ones(64)}, TypeError, "spectrum"),
               ("zero-not-on-edge", {"spectrum": SPECTRUM}, ValueError, "spectrum"),
               ("pile-up-too-strong", {"resolving_time_s": 1e-6}, ValueError, "rate_hz"),
               ("too-strong-with-rate-sd", {"rate_uncertainty_hz": 1e8}, ValueError,
                "rate_uncertainty_hz"),
               ("zero-above-range", {"spectrum": gamma.energy_spectrum(
                   _amps, calibration=[400.0, 1.0], bin_edges_kev=np.arange(0.0, 301.0))},
                ValueError, "spectrum"),
               ("callable-not-symmetric", {"resolving_time_s": lambda e1, e2: 1e-9 * e1 + 0 * e2},
                ValueError, "resolving_time_s")]),
    *spec_cases(
        "gamma.measure_pair_resolution", gamma.measure_pair_resolution,
        dict(true_arrival_times_s=TRAIN.arrival_times_s, true_amplitudes=TRAIN.amplitudes,
             recovered_arrival_times_s=EVENTS.arrival_times_s,
             recovered_amplitudes=EVENTS.amplitudes, amplitude_tolerance=1.0,
             max_separation_s=20 / FS_GAMMA),
        positive=("amplitude_tolerance", "max_separation_s"), ints={"n_bins": 1},
        extra=[("times-unsorted", {"true_arrival_times_s": TRAIN.arrival_times_s[::-1]},
                ValueError, "true_arrival_times_s"),
               ("lengths-differ", {"true_amplitudes": TRAIN.amplitudes[:-1]}, ValueError,
                "amplitudes"),
               ("classes-decreasing", {"amplitude_class_edges": [2.0, 1.0]}, ValueError,
                "amplitude_class_edges")]),
    *spec_cases(
        "gamma.estimate_noise_std", gamma.estimate_noise_std, dict(signal=TRAIN.signal),
        arrays={"signal": dict(ndim_bad=(0, 3))},
        extra=[("signal-bool", {"signal": TRAIN.signal > 0}, TypeError, "signal.*boolean"),
               ("zero-policy", {"signal": np.zeros(100)}, None, lambda v: v == 0.0),
               ("no-baseline-samples", {"signal": np.ones(100)}, ValueError, "noise_std"),
               ("one-sample", {"signal": np.ones(1)}, ValueError, "signal")]),
    *spec_cases(
        "gamma.fit_photopeak", gamma.fit_photopeak, dict(spectrum=SPECTRUM, window_kev=(85, 115)),
        extra=[("window-reversed", {"window_kev": (115, 85)}, ValueError, "window_kev"),
               ("window-nan", {"window_kev": (np.nan, 115)}, ValueError, "window_kev"),
               ("window-too-narrow", {"window_kev": (100, 100.5)}, ValueError, "window_kev"),
               ("spectrum-array", {"spectrum": np.ones(64)}, TypeError, "spectrum"),
               ("empty-spectrum", {"spectrum": gamma.energy_spectrum(
                   np.zeros(0), n_bins=64, energy_range_kev=(85.0, 115.0))},
                (ValueError, RuntimeError), "spectrum|window_kev|counts|fit")]),
    *spec_cases(
        "gamma.learn_pulse_shape", gamma.learn_pulse_shape,
        dict(waveforms=WAVEFORMS, sampling_rate=FS_GAMMA, baseline_samples=15),
        arrays={"waveforms": dict(ndim_bad=(1, 3))}, rate="sampling_rate",
        ints={"baseline_samples": 2, "n_iter": 0}, positive=("max_residual",),
        options=("polarity",),
        extra=[("baseline-longer-than-waveform", {"baseline_samples": 10**6}, ValueError,
                "baseline_samples"),
               ("flat-waveforms", {"waveforms": np.zeros((4, 60))}, ValueError,
                "waveforms|pulse"),
               ("waveforms-bool", {"waveforms": WAVEFORMS > 50}, TypeError,
                "waveforms.*boolean")]),
    *spec_cases(
        "gamma.live_time_correction", gamma.live_time_correction,
        dict(counts=1000, live_time_s=9.0, real_time_s=10.0),
        nonneg=("counts",), positive=("live_time_s", "real_time_s"),
        extra=[("live-above-real", {"live_time_s": 11.0}, ValueError, "live_time_s")]),
    *spec_cases(
        "gamma.max_measured_rate", gamma.max_measured_rate,
        dict(dead_time_s=1e-6, model="paralyzable"), nonneg=("dead_time_s",),
        options=("model",),
        extra=[("zero-dead-time-policy", {"dead_time_s": 0.0}, None, lambda v: v == np.inf)]),
    *spec_cases(
        "gamma.measured_rate", gamma.measured_rate,
        dict(true_rate_hz=1e5, dead_time_s=1e-6, model="paralyzable"),
        nonneg=("true_rate_hz", "dead_time_s"), options=("model",),
        extra=[("array-nan", {"true_rate_hz": np.array([1.0, np.nan])}, ValueError,
                "true_rate_hz")]),
    *spec_cases(
        "gamma.true_rate", gamma.true_rate,
        dict(measured_rate_hz=9e4, dead_time_s=1e-6, model="nonparalyzable"),
        nonneg=("measured_rate_hz", "dead_time_s"), options=("model",),
        extra=[("above-maximum", {"measured_rate_hz": 2e6}, ValueError, "measured_rate_hz")]),
    *spec_cases(
        "gamma.recorded_count_variance", gamma.recorded_count_variance,
        dict(true_rate_hz=1e5, duration_s=1.0, dead_time_s=1e-6, model="paralyzable"),
        nonneg=("true_rate_hz", "dead_time_s"), positive=("duration_s",), options=("model",)),
    *spec_cases(
        "gamma.true_rate_uncertainty", gamma.true_rate_uncertainty,
        dict(recorded_counts=90000, duration_s=1.0, dead_time_s=1e-6, model="nonparalyzable"),
        nonneg=("recorded_counts", "dead_time_s"), positive=("duration_s",),
        options=("model",)),
    *spec_cases(
        "gamma.pole_zero_filter", gamma.pole_zero_filter,
        dict(signal=TRAIN.signal[:200], sampling_rate=FS_GAMMA, decay_time_s=1e-6),
        arrays={"signal": dict(ndim_bad=(0,))}, rate="sampling_rate",
        extra=[("signal-bool", {"signal": TRAIN.signal[:200] > 0}, TypeError,
                "signal.*boolean"),
               ("decay-nan", {"decay_time_s": np.nan}, ValueError, "decay_time_s"),
               ("decay-zero", {"decay_time_s": 0.0}, ValueError, "decay_time_s"),
               ("decay-negative", {"decay_time_s": -1e-6}, ValueError, "decay_time_s"),
               ("decay-inf-policy", {"decay_time_s": np.inf}, None,  # first difference
                lambda x: np.array_equal(x, np.diff(TRAIN.signal[:200], prepend=0.0))),
               ("axis-out-of-range", {"axis": 3}, (ValueError, np.exceptions.AxisError),
                "axis")]),
    *spec_cases(
        "gamma.pulse_duration_s", gamma.pulse_duration_s,
        dict(pulse=PULSE, sampling_rate=FS_GAMMA), arrays={"pulse": dict(ndim_bad=(0, 2))},
        rate="sampling_rate",
        extra=[("fraction-zero", {"fraction": 0.0}, ValueError, "fraction"),
               ("pulse-zero", {"pulse": np.zeros(5)}, ValueError, "pulse")]),
    *spec_cases(
        "gamma.rise_time_10_90_s", gamma.rise_time_10_90_s,
        dict(pulse=PULSE, sampling_rate=FS_GAMMA), arrays={"pulse": dict(ndim_bad=(0, 2))},
        rate="sampling_rate",
        extra=[("pulse-zero", {"pulse": np.zeros(5)}, ValueError, "pulse")]),
    *spec_cases(
        "gamma.trim_pulse", gamma.trim_pulse, dict(pulse=PULSE),
        arrays={"pulse": dict(ndim_bad=(0, 2))}, options=("normalize",),
        extra=[("fraction-one", {"fraction": 1.0}, ValueError, "fraction"),
               ("fraction-negative", {"fraction": -0.1}, ValueError, "fraction"),
               ("pulse-zero", {"pulse": np.zeros(5)}, ValueError, "pulse")]),
    *spec_cases(
        "gamma.SpectrumSampler", gamma.SpectrumSampler,
        dict(counts=np.array([1.0, 2.0, 3.0]), bin_edges=np.array([0.0, 1.0, 2.0, 3.0])),
        arrays={"counts": dict(ndim_bad=(0, 2)), "bin_edges": dict(ndim_bad=(0, 2))},
        positive=("gain",),
        extra=[("counts-negative", {"counts": np.array([1.0, -2.0, 3.0])}, ValueError,
                "counts"),
               ("counts-all-zero", {"counts": np.zeros(3)}, ValueError, "counts"),
               ("edges-wrong-length", {"bin_edges": np.arange(3.0)}, ValueError,
                "bin_edges"),
               ("edges-decreasing", {"bin_edges": np.arange(4.0)[::-1]}, ValueError,
                "bin_edges"),
               ("low-above-high", {"low": 2.5, "high": 0.5}, ValueError, "low|high"),
               ("window-excludes-all", {"low": 10.0}, ValueError, "low|high|bins")]),
    *spec_cases(
        "gamma.threshold_counter", gamma.threshold_counter,
        dict(signal=TRAIN.signal, sampling_rate=FS_GAMMA, threshold=20.0),
        arrays={"signal": dict(ndim_bad=(0, 2))}, rate="sampling_rate",
        positive=("threshold",), nonneg=("dead_time_s",), options=("dead_time_model",),
        extra=[("signal-bool", {"signal": TRAIN.signal > 0}, TypeError, "signal.*boolean"),
               ("integration-window-zero", {"integration_window_s": 0.0}, ValueError,
                "integration_window_s"),
               ("pulse_area-zero", {"integration_window_s": 1e-7, "pulse_area": 0.0},
                ValueError, "pulse_area")]),
    *spec_cases(
        "gamma.read_spe", gamma.read_spe, dict(path=DATA / "digibase_5min_30_1.spe"),
        extra=[("missing", {"path": DATA / "nope.spe"}, FileNotFoundError, "nope.spe"),
               ("empty", lambda: gamma.read_spe(_write("e.spe", "")), ValueError, "e.spe"),
               ("truncated-in-data", lambda: gamma.read_spe(
                   _write("t.spe", _SPE_TEXT[: _SPE_TEXT.index("$ROI") - 200])), ValueError,
                "t.spe"),
               ("not-spe", lambda: gamma.read_spe(_write("b.spe", _HPGE[:500])), ValueError,
                "b.spe"),
               ("path-int", {"path": 3.5}, TypeError, "path|int|float")]),
    *spec_cases(
        "gamma.read_spectrum", gamma.read_spectrum, dict(path=DATA / "digibase_5min_30_1.spe"),
        options=("reader",),
        extra=[("missing", {"path": DATA / "nope.spe"}, FileNotFoundError, "nope.spe"),
               ("truncated", lambda: gamma.read_spectrum(
                   _write("t.spe", _SPE_TEXT[:400])), ValueError, "t.spe")]),
    *spec_cases(
        "gamma.read_wavedump", gamma.read_wavedump,
        dict(path=DATA / "hpge_dt5720_wave0_first3.dat"),
        ints={"record_length": 1}, options=("sample_dtype", "on_truncated"),
        extra=[("missing", {"path": DATA / "nope.dat"}, FileNotFoundError, "nope.dat"),
               ("empty", lambda: gamma.read_wavedump(_write("e.dat", b"")), ValueError,
                "e.dat"),
               ("truncated", lambda: gamma.read_wavedump(_write("t.dat", _HPGE[:-7])),
                ValueError, "t.dat.*truncated"),
               ("record_length-mismatch", {"record_length": 9999}, ValueError,
                "record_length"),
               ("no-header-without-record_length", {"header": False}, ValueError,
                "record_length"),
               ("not-wavedump", lambda: gamma.read_wavedump(
                   _write("s.dat", _SPE_TEXT.encode())), ValueError, "s.dat")]),
    *spec_cases(
        "gamma.read_wavedump_config", gamma.read_wavedump_config,
        dict(path=DATA / "hpge_dt5720_WaveDumpConfig.txt"),
        extra=[("missing", {"path": DATA / "nope.txt"}, FileNotFoundError, "nope.txt"),
               ("binary-policy", {"path": DATA / "hpge_dt5720_wave0_first3.dat"},
                (ValueError, UnicodeDecodeError), "hpge_dt5720_wave0_first3")]),
]

# ----------------------------------------------------------------------------- plotting
_SIG = np.sin(np.arange(300) / 10.0)
_DET = np.array([10, 100, 200])
_SIX = ecg.derive_limb_leads(LEADS["I"][:500], LEADS["II"][:500])

PLOT_CASES = [
    *spec_cases(
        "plotting.match_events", plotting.match_events,
        dict(detections=_DET, reference=_DET + 2, tolerance=3),
        arrays={"detections": dict(ndim_bad=(2,), kinds=("nan", "inf", "complex", "str")),
                "reference": dict(ndim_bad=(2,), kinds=("nan", "inf", "complex", "str"))},
        nonneg=("tolerance",)),
    *spec_cases(
        "plotting.plot_deconvolution",
        lambda **kw: _returns_figure(plotting.plot_deconvolution(**kw)),
        dict(signal=_SIG, coef=np.where(_SIG > 0.99, 1.0, 0.0)),
        arrays={"signal": dict(ndim_bad=(0, 2)), "coef": dict(ndim_bad=(0, 3))},
        extra=[("reconstruction-wrong-length", {"reconstruction": _SIG[:-1]}, ValueError,
                "reconstruction"),
               ("sampling_rate-zero", {"sampling_rate": 0.0}, ValueError, "sampling_rate"),
               ("true_coef-nan", {"true_coef": np.full(300, np.nan)}, ValueError,
                "true_coef")]),
    *spec_cases(
        "plotting.plot_detections",
        lambda **kw: _returns_figure(plotting.plot_detections(**kw)),
        dict(signal=_SIG, detections=_DET),
        arrays={"signal": dict(ndim_bad=(0, 2))},
        extra=[("detections-out-of-range", {"detections": np.array([5, 400])}, ValueError,
                "detections"),
               ("detections-nan", {"detections": np.array([5.0, np.nan])}, ValueError,
                "detections"),
               ("detections-str", {"detections": np.array(["a"])}, TypeError, "detections"),
               ("reference-negative", {"reference": np.array([-1])}, ValueError,
                "reference"),
               ("sampling_rate-negative", {"sampling_rate": -1.0}, ValueError,
                "sampling_rate"),
               ("tolerance-negative", {"tolerance_s": -1.0}, ValueError, "tolerance_s")]),
    *spec_cases(
        "plotting.plot_six_leads",
        lambda **kw: _returns_figure(plotting.plot_six_leads(**kw)),
        dict(predicted=_SIX, sampling_rate=FS_LUDB),
        extra=[("predicted-nan",
                {"predicted": _SIX.mask(_SIX.index.to_series().eq(3), np.nan, axis=0)},
                ValueError, "predicted"),
               ("predicted-missing-leads", {"predicted": _SIX[["I", "II"]]}, (ValueError,
                                                                             KeyError),
                "predicted|III|aVR"),
               ("truth-length-mismatch", {"truth": _SIX.iloc[:-1]}, ValueError,
                "truth|predicted"),
               ("sampling_rate-zero", {"sampling_rate": 0.0}, ValueError, "sampling_rate"),
               ("predicted-array", {"predicted": np.ones(5)}, (ValueError, TypeError),
                "predicted")]),
    *spec_cases(
        "plotting.plot_spectrum",
        lambda **kw: _returns_figure(plotting.plot_spectrum(**kw)),
        dict(recovered=_amps, true=_amps + 1),
        arrays={"recovered": dict(ndim_bad=(0, 2), kinds=("nan", "inf", "complex", "str")),
                "true": dict(ndim_bad=(0, 2), kinds=("nan", "inf", "complex", "str"))},
        ints={"bins": 1},
        extra=[("range-reversed", {"range": (10.0, 1.0)}, ValueError, "range"),
               ("others-nan", {"others": {"x": np.array([np.nan])}}, ValueError, "others")]),
]

# ----------------------------------------------------------------------------- cli
_CSV = _write("y.csv", "signal\n" + "\n".join(f"{v:.6f}" for v in TRAIN.signal[:2000]))
_CSV_NAN = _write("ynan.csv", "signal\n1.0\nnan\n" + "\n".join(["0.5"] * 200))
_CSV_TEXT = _write("ytext.csv", "signal\n1.0\nabc\n2.0\n")
_KERNEL = _write("h.npy", PULSE)
_KERNEL_LONG = _write("hlong.npy", np.ones(5000))
_ECG_CSV = _write("ecg.csv", "MLII\n" + "\n".join(f"{v:.4f}" for v in ECG))
_OUT = _TMP / "out"


def _cli(*argv):
    err, out = io.StringIO(), io.StringIO()
    with redirect_stderr(err), redirect_stdout(out):
        code = cli_main([str(a) for a in argv])
    return code, err.getvalue()


def _cli_case(label, argv, match):
    def check(result):
        code, err = result
        assert code != 0, f"exit code 0 for {argv}"
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1, f"expected one error line, got {err!r}"
        assert "Traceback" not in err
        assert re.search(match, lines[0]), f"/{match}/ not in {lines[0]!r}"
    return Case("cli.main", label, lambda: _cli(*argv), None, check=check, timeout=60)


_DEC = ["deconvolve", _CSV, "--kernel", _KERNEL, "--out", _OUT / "ev.csv"]
CLI_CASES = [
    Case("cli.main", "valid-deconvolve", lambda: _cli(*_DEC), None,
         check=lambda r: r[0] == 0),
    _cli_case("no-arguments", [], "COMMAND|required|command"),
    _cli_case("unknown-command", ["frobnicate"], "frobnicate|invalid choice"),
    _cli_case("deconvolve-signal-missing", ["deconvolve", _TMP / "nope.csv", "--kernel",
                                            _KERNEL, "--out", _OUT / "a.csv"], "nope.csv"),
    _cli_case("deconvolve-kernel-missing", [*_DEC[:3], _TMP / "nope.npy", *_DEC[4:]],
              "nope.npy"),
    _cli_case("deconvolve-signal-nan", ["deconvolve", _CSV_NAN, *_DEC[2:]],
              "NaN|finite|non-numeric or missing"),
    _cli_case("deconvolve-signal-text", ["deconvolve", _CSV_TEXT, *_DEC[2:]],
              "abc|numeric|number|float"),
    _cli_case("deconvolve-kernel-longer", [*_DEC[:3], _KERNEL_LONG, *_DEC[4:]],
              "kernel|longer"),
    _cli_case("deconvolve-alpha-ratio-nan", [*_DEC, "--alpha-ratio", "nan"], "alpha"),
    _cli_case("deconvolve-alpha-ratio-negative", [*_DEC, "--alpha-ratio", "-1"], "alpha"),
    _cli_case("deconvolve-alpha-ratio-str", [*_DEC, "--alpha-ratio", "big"], "alpha"),
    _cli_case("deconvolve-sampling-rate-zero", [*_DEC, "--sampling-rate", "0"],
              "sampling.rate"),
    _cli_case("deconvolve-refractory-s-without-rate", [*_DEC, "--refractory-s", "0.1"],
              "sampling.rate"),
    _cli_case("deconvolve-refractory-samples-zero", [*_DEC, "--refractory-samples", "0"],
              "refractory"),
    _cli_case("deconvolve-strength-inf", [*_DEC, "--refractory-samples", "5", "--strength",
                                          "inf"], "strength"),
    _cli_case("deconvolve-tol-negative", [*_DEC, "--tol", "-1"], "tol"),
    _cli_case("deconvolve-max-reweights-zero", [*_DEC, "--max-reweights", "0"],
              "max.reweights"),
    _cli_case("deconvolve-channel-out-of-range", [*_DEC, "--channel", "7"], "channel"),
    _cli_case("deconvolve-mode-unknown", [*_DEC, "--mode", "weird"], "mode"),
    _cli_case("detect-record-missing", ["detect", _TMP / "no_record", "--out", _OUT],
              "no_record"),
    _cli_case("detect-truncated-record", ["detect", "{trunc}", "--out", _OUT], "mitdb119"),
    _cli_case("detect-csv-without-rate", ["detect", _ECG_CSV, "--out", _OUT],
              "sampling.rate"),
    _cli_case("detect-csv-rate-negative", ["detect", _ECG_CSV, "--sampling-rate", "-360",
                                           "--out", _OUT], "sampling.rate"),
    _cli_case("detect-jobs-zero", ["detect", RECORD, "--jobs", "0", "--out", _OUT], "jobs"),
    _cli_case("detect-method-unknown", ["detect", RECORD, "--method", "magic", "--out", _OUT],
              "method|magic"),
    _cli_case("detect-plot-seconds-negative", ["detect", RECORD, "--plot", "--plot-seconds",
                                               "-1", "--out", _OUT], "plot.seconds"),
    _cli_case("evaluate-record-missing", ["evaluate", _TMP / "no_record"], "no_record"),
    _cli_case("evaluate-match-window-zero", ["evaluate", RECORD, "--match-window-s", "0",
                                             "--method", "pantompkins"], "match.window"),
    _cli_case("evaluate-match-window-ms", ["evaluate", RECORD, "--match-window-s", "150",
                                           "--method", "pantompkins"], "in seconds"),
    _cli_case("evaluate-learning-negative", ["evaluate", RECORD, "--learning-period-s", "-1",
                                             "--method", "pantompkins"], "learning.period"),
    _cli_case("evaluate-annotator-missing", ["evaluate", RECORD, "--annotator", "zzz",
                                             "--method", "pantompkins"], "zzz"),
    _cli_case("demo-snr-nan", ["demo", "--snr-db", "nan"], "snr"),
    _cli_case("demo-duration-negative", ["demo", "--duration-s", "-5"], "duration"),
    _cli_case("demo-rate-zero", ["demo", "--sampling-rate", "0"], "sampling.rate"),
    _cli_case("demo-n-samples-zero", ["demo", "--case", "random-shapes", "--n-samples", "0"],
              "n.samples"),
    _cli_case("demo-heart-rate-zero", ["demo", "--heart-rate", "0"], "heart.rate"),
    _cli_case("demo-alpha-ratio-negative", ["demo", "--case", "random-shapes",
                                            "--alpha-ratio", "-0.5"], "alpha"),
]


for _c in CLI_CASES:  # needs a damaged copy of the excerpt, made when the case runs
    if _c.label == "detect-truncated-record":
        _c.call = lambda: _cli("detect", _tmp_copy(mutate=lambda b: b[: len(b) // 3],
                                                   ext="dat"), "--out", _OUT)

APP_CASES = ECG_CASES + GAMMA_CASES + PLOT_CASES + CLI_CASES


@pytest.mark.parametrize("case", as_params(APP_CASES))
def test_bad_input(case):
    run_case(case)
