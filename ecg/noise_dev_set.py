"""Development set for the noise stress test: em noise added to other MIT-BIH records.

NSTDB's record 118 series (``shared/data/nstdb/118e*``) is the *test* set of
the sparse detector's noise target; its decision rule is tuned on this
development set instead.

Construction (deterministic, no random numbers):

* Noise: the electrode-motion (``em``) noise is recovered exactly as
  ``118e_6 - 118`` (physical units; the constant difference of the ADC
  baselines, 1024 in 118 and 0 in 118e*, is removed: it is the median of the
  difference over the first 5 minutes, where the two records are identical
  otherwise).  In these files the noise is present from 5:00 to the end of the
  record (not only in alternating 2-minute segments).  To limit the leakage
  from the test set, the noise is taken from the *other* channel (V1, channel
  1: the second em electrode pair; the detector sees only channel 0 of the
  test records) and *time-reversed*, so its bursts fall elsewhere.  It is
  still the same em recording: the development set is not independent of the
  test set in the noise, only in the ECG.
* Level: NSTDB defines ``SNR = 10 log10(S / N)`` with ``S`` from the
  peak-to-peak QRS amplitude and ``N`` the noise power.  The noise is scaled
  by ``10 ** ((-6 - snr) / 20) * A_r / A_118``, with ``A`` the median over
  annotated beats of the peak-to-peak amplitude within +-50 ms of the beat
  (``A_118`` on the channel the noise comes from, ``A_r`` on channel 0 of the
  development record): the ratio of signal to noise power is then that of
  118e``snr`` for every definition of ``S`` that scales with the squared QRS
  amplitude.
* Records: every MIT-BIH record of ``shared/data/mitdb`` except 118 (the
  test record) and 119 (the other NSTDB record), channel 0, noise from 5:00
  on; scored with :func:`sparse_events.ecg.evaluate` (first 5 minutes
  excluded, as for NSTDB).  ``--split tune`` / ``validate``: records at even /
  odd positions of the sorted list (tune on one half, check on the other).

Usage::

    python ecg/noise_dev_set.py                       # sparse, all dev records, 24..0 dB
    python ecg/noise_dev_set.py --split tune --snrs 12,6,0 --methods sparse,nk:kalidas2017
    python ecg/noise_dev_set.py --methods sparse@0,sparse@0.85 --clean  # extra_beat_ratio 0 / 0.85
    python ecg/noise_dev_set.py --split tune --clean --fixed-threshold  # threshold fraction fixed
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
EXCLUDED = ("118", "119")
SNRS = (24, 18, 12, 6, 0)
NOISE_START_S = 300.0


def qrs_amplitude(signal, beats, fs, half_s=0.05):
    """Median peak-to-peak amplitude of ``signal`` within +-``half_s`` of the beats.

    Parameters
    ----------
    signal : ndarray of shape (n,)
    beats : ndarray of int
        Annotated beat samples.
    fs : float
        Sampling rate in Hz.
    half_s : float
        Half window in seconds.

    Returns
    -------
    float
    """
    h = int(round(half_s * fs))
    beats = beats[(beats >= h) & (beats < signal.size - h)]
    idx = beats[:, None] + np.arange(-h, h + 1)[None, :]
    win = signal[idx]
    return float(np.median(win.max(axis=1) - win.min(axis=1)))


def em_noise(data_dir, channel=1):
    """Electrode-motion noise of NSTDB 118e_6 (-6 dB) on one channel, and 118's QRS amplitude.

    Parameters
    ----------
    data_dir : path
        Folder holding ``mitdb/`` and ``nstdb/``.
    channel : int
        Channel of 118e_6 / 118 the noise is taken from (1 = V1 by default).

    Returns
    -------
    noise : ndarray
        ``118e_6 - 118`` in mV, baseline offset removed, zero before 5:00.
    amplitude : float
        :func:`qrs_amplitude` of the clean 118 on that channel.
    fs : float
    """
    from sparse_events.ecg import read_wfdb_record

    data_dir = Path(data_dir)
    clean = read_wfdb_record(data_dir / "mitdb" / "118", channel=channel)
    noisy = read_wfdb_record(data_dir / "nstdb" / "118e_6", channel=channel)
    fs = clean.sampling_rate
    diff = noisy.signal - clean.signal
    n0 = int(NOISE_START_S * fs)
    offset = float(np.median(diff[:n0]))
    if np.max(np.abs(diff[:n0] - offset)) > 1e-9:
        raise ValueError("118e_6 and 118 differ in the first 5 minutes: not the nst protocol")
    noise = diff - offset
    noise[:n0] = 0.0
    return noise, qrs_amplitude(clean.signal, clean.beat_samples, fs), fs


def dev_noise(noise):
    """The noise used on development records: its part from 5:00 on, time-reversed."""
    out = np.zeros_like(noise)
    nz = np.flatnonzero(noise)
    if nz.size:
        start = nz[0]
        out[start:] = noise[start:][::-1]
    return out


def noisy_record(rec, noise, amp_ref, snr):
    """``rec`` (an :class:`~sparse_events.ecg.ECGRecord`) with noise at NSTDB's ``snr`` dB.

    ``noise`` is at the -6 dB scale of a record whose QRS amplitude is
    ``amp_ref``; it is scaled by ``10 ** ((-6 - snr) / 20) * A_rec / amp_ref``.
    """
    a = qrs_amplitude(rec.signal, rec.beat_samples, rec.sampling_rate)
    g = 10.0 ** ((-6.0 - snr) / 20.0) * a / amp_ref
    n = min(rec.signal.size, noise.size)
    sig = rec.signal.copy()
    sig[:n] += g * noise[:n]
    return dataclasses.replace(rec, signal=sig, name=f"{rec.name}d{snr}")


def dev_records(data_dir, split="all"):
    """Names of the development records (sorted; ``split``: all, tune, validate)."""
    listing = (Path(data_dir) / "mitdb" / "RECORDS").read_text().split()
    names = sorted(r for r in listing if r not in EXCLUDED)
    if split == "tune":
        return names[0::2]
    if split == "validate":
        return names[1::2]
    return names


def run(names, snrs, methods, data_dir, detector_kwargs=None, clean=False):
    """Detections scored per record and SNR; returns a list of row dicts."""
    sys.path.insert(0, str(REPO / "ecg"))
    from mitdb_benchmark import detect  # noqa: E402

    from sparse_events.ecg import ecg_clean, evaluate, read_wfdb_record
    from sparse_events.ecg._sparse_detector import detect_r_peaks_sparse

    noise, amp_ref, _ = em_noise(data_dir)
    noise = dev_noise(noise)
    rows = []
    levels = list(snrs) + (["clean"] if clean else [])
    for name in names:
        rec0 = read_wfdb_record(Path(data_dir) / "mitdb" / name, channel=0)
        for snr in levels:
            rec = rec0 if snr == "clean" else noisy_record(rec0, noise, amp_ref, snr)
            for method in methods:
                kwargs = dict(detector_kwargs or {})
                if method.startswith("sparse@"):  # sparse@R: extra_beat_ratio=R
                    kwargs["extra_beat_ratio"] = float(method.split("@", 1)[1])
                if method.startswith("sparse") and kwargs:
                    x = ecg_clean(rec.signal, sampling_rate=rec.sampling_rate)
                    peaks = detect_r_peaks_sparse(x, sampling_rate=rec.sampling_rate,
                                                  **kwargs).r_peaks
                else:
                    peaks = detect(method, rec.signal, rec.sampling_rate)
                res = evaluate(peaks, rec)
                rows.append({"record": name, "snr": snr, "method": method,
                             "tp": res.tp, "fn": res.fn, "fp": res.fp})
    return rows


def summarize(rows):
    """F1 % (Se / +P) per SNR and method, gross over records; returns text lines."""
    out = []
    snrs = list(dict.fromkeys(r["snr"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    out.append("| SNR dB | " + " | ".join(methods) + " |")
    out.append("|---" * (len(methods) + 1) + "|")
    for snr in snrs:
        cells = []
        for m in methods:
            sel = [r for r in rows if r["snr"] == snr and r["method"] == m]
            tp = sum(r["tp"] for r in sel)
            fn = sum(r["fn"] for r in sel)
            fp = sum(r["fp"] for r in sel)
            f1 = 100.0 * 2 * tp / max(1, 2 * tp + fn + fp)
            se = 100.0 * tp / max(1, tp + fn)
            pp = 100.0 * tp / max(1, tp + fp)
            cells.append(f"{f1:.2f} ({se:.1f} / {pp:.1f}; FN {fn}, FP {fp})")
        out.append(f"| {snr} | " + " | ".join(cells) + " |")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=os.environ.get("SPARSE_EVENTS_DATA", str(DEFAULT_DATA)))
    p.add_argument("--split", default="all", choices=("all", "tune", "validate"))
    p.add_argument("--records", default=None, help="comma-separated (default: the split)")
    p.add_argument("--snrs", default=",".join(map(str, SNRS)))
    p.add_argument("--methods", default="sparse",
                   help="comma-separated, as in mitdb_benchmark.py (sparse, nk:kalidas2017, ...); "
                        "sparse@R: the sparse method with extra_beat_ratio=R")
    p.add_argument("--clean", action="store_true", help="also score the records without noise")
    p.add_argument("--fixed-threshold", action="store_true",
                   help="sparse: keep the decision's threshold fraction fixed (no noise-adaptive "
                        "raise: threshold_noise_gain=0), the rule before 2026-11-24")
    a = p.parse_args(argv)
    names = a.records.split(",") if a.records else dev_records(a.data_dir, a.split)
    snrs = [int(s) for s in a.snrs.split(",") if s]
    rows = run(names, snrs, a.methods.split(","), a.data_dir, clean=a.clean,
               detector_kwargs={"threshold_noise_gain": 0.0} if a.fixed_threshold else None)
    print(f"records: {' '.join(names)}")
    print("\n".join(summarize(rows)))


if __name__ == "__main__":
    main()
