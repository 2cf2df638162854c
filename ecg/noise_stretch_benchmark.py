"""Noise-only stretches: false beats where there is no beat (electrode off, asystole).

A minute of white noise without any beat replaces 10:00-11:00 of each MIT-BIH
record in ``shared/data/mitdb`` (channel 0): the record's median plus white
Gaussian noise whose standard deviation is a fraction (default 2, 4 and 6 %)
of the record's QRS amplitude (median peak-to-peak amplitude within +-50 ms
of the annotated beats, :func:`noise_dev_set.qrs_amplitude`).  Every detector
of ``mitdb_benchmark.py`` runs on the whole modified record; reported per
detector and noise level: the detections inside the stretch (all false, there
is no beat there; gross over records and the largest count of one record),
and the EC57 score of the rest of the record (annotations and detections
within 1 s of the stretch dropped; first 5 minutes excluded as usual).

Deterministic (noise from ``numpy.random.default_rng(seed)``, the same for
every detector).  One thread per process.

Usage::

    python ecg/noise_stretch_benchmark.py                  # all detectors, writes ecg/RESULTS.md
    python ecg/noise_stretch_benchmark.py --methods sparse,nk:pantompkins1985 --no-write
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from mitdb_benchmark import (RESULTS, default_methods, detect, label,  # noqa: E402
                             machine_info, write_section)
from noise_dev_set import qrs_amplitude  # noqa: E402

DEFAULT_DATA = HERE.parent.parent / "shared" / "data"
STRETCH_S = (600.0, 660.0)
FRACTIONS = (0.02, 0.04, 0.06)
MARGIN_S = 1.0


def with_noise_stretch(rec, fraction, seed):
    """``rec`` with ``STRETCH_S`` replaced by its median plus white noise.

    The noise's standard deviation is ``fraction`` times the record's QRS
    amplitude; the annotations inside the stretch are dropped (and those within
    ``MARGIN_S`` of it, with the detections there, by :func:`score_outside`).
    """
    fs = rec.sampling_rate
    a, b = (int(t * fs) for t in STRETCH_S)
    amp = qrs_amplitude(rec.signal, rec.beat_samples, fs)
    sig = rec.signal.copy()
    sig[a:b] = np.median(rec.signal) + fraction * amp * np.random.default_rng(seed).standard_normal(
        b - a)
    return dataclasses.replace(rec, signal=sig), (a, b)


def score_outside(peaks, rec, stretch):
    """EC57 score of ``peaks`` against ``rec``'s annotations away from the stretch."""
    from sparse_events.ecg import evaluate

    fs = rec.sampling_rate
    lo, hi = stretch[0] - int(MARGIN_S * fs), stretch[1] + int(MARGIN_S * fs)
    keep = (rec.annotation_samples < lo) | (rec.annotation_samples >= hi)
    ref = dataclasses.replace(rec, annotation_samples=rec.annotation_samples[keep],
                              annotation_symbols=rec.annotation_symbols[keep],
                              annotation_subtypes=rec.annotation_subtypes[keep])
    peaks = np.asarray(peaks, dtype=np.int64)
    return evaluate(peaks[(peaks < lo) | (peaks >= hi)], ref)


def run(names, methods, fractions, data_dir, seed=0):
    from sparse_events.ecg import read_wfdb_record

    rows = []
    for name in names:
        rec0 = read_wfdb_record(Path(data_dir) / "mitdb" / name, channel=0)
        for frac in fractions:
            rec, stretch = with_noise_stretch(rec0, frac, seed)
            for method in methods:
                try:
                    peaks = np.asarray(detect(method, rec.signal, rec.sampling_rate))
                    res = score_outside(peaks, rec, stretch)
                    inside = int(np.count_nonzero((peaks >= stretch[0]) & (peaks < stretch[1])))
                    rows.append({"record": name, "fraction": frac, "method": method,
                                 "inside": inside, "tp": res.tp, "fn": res.fn, "fp": res.fp,
                                 "error": ""})
                except Exception as exc:  # report, keep the others
                    rows.append({"record": name, "fraction": frac, "method": method,
                                 "error": f"{type(exc).__name__}: {exc}"[:200]})
    return rows


def render(rows, methods, fractions, n_records, command, elapsed):
    lines = ["## ecg/noise_stretch_benchmark.py", "",
             f"Command: `{command}`  ",
             f"Machine: {machine_info()}  ",
             f"Wall time {elapsed / 60:.1f} min.  A minute of white noise without beats "
             f"replaces {STRETCH_S[0] / 60:.0f}:00-{STRETCH_S[1] / 60:.0f}:00 of each of the "
             f"{n_records} MIT-BIH records (channel 0); its standard deviation is the given "
             "fraction of the record's QRS peak-to-peak amplitude.  \"in stretch\": detections "
             "inside it (all false), gross over records (largest of one record); \"outside\": "
             f"EC57 score of the rest (+-{MARGIN_S:g} s around the stretch dropped, first 5 min "
             "excluded), F1 % (FN / FP).", ""]
    head = "| detector | " + " | ".join(
        f"{100 * f:g} %: in stretch | {100 * f:g} %: outside" for f in fractions) + " |"
    lines += [head, "|---" * (1 + 2 * len(fractions)) + "|"]
    for m in methods:
        cells = []
        for f in fractions:
            sel = [r for r in rows if r["method"] == m and r["fraction"] == f]
            ok = [r for r in sel if not r["error"]]
            if len(ok) < len(sel) or not ok:
                cells += [f"{len(sel) - len(ok)} errors", "-"]
                continue
            inside = [r["inside"] for r in ok]
            tp, fn, fp = (sum(r[k] for r in ok) for k in ("tp", "fn", "fp"))
            f1 = 100.0 * 2 * tp / max(1, 2 * tp + fn + fp)
            cells += [f"{sum(inside)} ({max(inside)})", f"{f1:.2f} ({fn} / {fp})"]
        lines.append(f"| {label(m)} | " + " | ".join(cells) + " |")
    errors = [r for r in rows if r["error"]]
    if errors:
        lines += ["", "Errors: " + "; ".join(f"{r['record']} {r['method']} {100 * r['fraction']:g} %:"
                                           f" {r['error']}" for r in errors[:10])]
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=os.environ.get("SPARSE_EVENTS_DATA", str(DEFAULT_DATA)))
    p.add_argument("--records", default=None, help="comma-separated (default: all of mitdb)")
    p.add_argument("--methods", default=None,
                   help="comma-separated, as in mitdb_benchmark.py (default: all of its detectors)")
    p.add_argument("--fractions", default=",".join(map(str, FRACTIONS)),
                   help="noise standard deviations as fractions of the QRS amplitude")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-write", action="store_true", help="do not update ecg/RESULTS.md")
    a = p.parse_args(argv)
    names = (a.records.split(",") if a.records
             else (Path(a.data_dir) / "mitdb" / "RECORDS").read_text().split())
    methods = a.methods.split(",") if a.methods else default_methods()
    fractions = [float(f) for f in a.fractions.split(",")]
    t0 = time.perf_counter()
    rows = run(names, methods, fractions, a.data_dir, seed=a.seed)
    text = render(rows, methods, fractions, len(names),
                  "python ecg/noise_stretch_benchmark.py " + " ".join(argv or sys.argv[1:]),
                  time.perf_counter() - t0)
    print(text)
    if not a.no_write:
        write_section(text, path=RESULTS, begin="<!-- BEGIN noise_stretch -->",
                      end="<!-- END noise_stretch -->", before="<!-- BEGIN external -->")
        print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
