"""ECGSYN benchmark: the paper's case study 2 and an SNR x heart-rate sweep.

Part 1 - case study 2 of Luengo, Via and Trigano: an ECGSYN signal
(``neurokit2.ecg_simulate(method="ecgsyn")``, fs = 360 Hz, 60 +- 6 bpm, 64
beats) plus white Gaussian noise at 20 dB SNR (relative to the clean signal's
variance) is deconvolved with the paper's template ``H`` (QRS of the first
ECGSYN beat, ``Lh = 70`` samples, :func:`sparse_events.ecg.ecgsyn_qrs_template`)
by the cross-products LASSO (``sparse_events.cross_products_deconvolve``,
signed activations, causal convolution, rectangular refractory window of
``L_g = 70`` samples); the Pan-Tompkins detector
(:func:`sparse_events.ecg.find_peaks_pantompkins`) is run on the
reconstruction ``x^ = H s^`` and on the clean signal, and the detections on
``x^`` are compared with those on the clean signal as in the paper (count,
max and mean distance in samples), and with the true R peaks of the clean
simulation (its R apices).  One table for the paper's single realization
(seed 0), one for 20 seeds, one for the ``beta`` sweep.

Part 2 - sweep: SNR 0..30 dB x mean heart rate 40..180 bpm (standard
deviation 10 % of the mean) x 20 seeds, 64 beats each, detectors run on the
noisy signal: ours ``"sparse"`` and ``"pantompkins"`` (``sparse_events.ecg.ecg_peaks``,
cleaning included) and neurokit2's default (``nk.ecg_clean`` +
``nk.ecg_peaks``, method ``"neurokit"``), plus the paper's pipeline (Pan-Tompkins
on the sparse reconstruction).  Scored against the true R peaks with
:func:`sparse_events.ecg.evaluate` (one-to-one matching within 150 ms, no
learning period): gross Se, +P, F1 and the median absolute timing error.

Usage::

    python ecg/ecgsyn_benchmark.py                 # full run, writes its section of ecg/RESULTS.md
    python ecg/ecgsyn_benchmark.py --quick --no-write
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "NUMBA_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
BEGIN, END = "<!-- BEGIN ecgsyn -->", "<!-- END ecgsyn -->"
FS = 360
N_BEATS = 64
PAPER_BETA = 0.5
PAPER_WINDOW = (70, 1.0)  # L_g (samples), strength
DETECTORS = ("sparse", "pantompkins", "nk:neurokit", "paper: PT on x^")


# --------------------------------------------------------------------------- signals


def simulate(heart_rate, seed, n_beats=N_BEATS):
    """Noise-free ECGSYN (``n_beats`` at ``heart_rate`` bpm +- 10 %) and its true R peaks."""
    import neurokit2 as nk
    from scipy.signal import find_peaks

    duration = n_beats * 60.0 / heart_rate
    clean = np.asarray(nk.ecg_simulate(duration=duration, sampling_rate=FS, noise=0,
                                       heart_rate=heart_rate, heart_rate_std=heart_rate / 10,
                                       method="ecgsyn", random_state=seed), dtype=np.float64)
    # the R wave dominates every ECGSYN beat (amplitude 30 vs <= 7.5 for P, Q, S, T), but
    # its height varies from beat to beat (respiratory modulation: R prominences from 0.4
    # to 1.5 within one run), so a fraction of the largest prominence drops beats.  R apex
    # = the highest maximum within 60 % of the mean RR interval (RR varies by +-10 %: one
    # maximum per beat), then prominence at least half the median (drops the T wave of
    # a partial beat at either end)
    peaks, props = find_peaks(clean, prominence=0.0,
                              distance=int(0.6 * 60.0 / heart_rate * FS))
    prom = props["prominences"]
    truth = peaks[prom >= 0.5 * np.median(prom)]
    return clean, truth


def add_noise(clean, snr_db, seed):
    """White Gaussian noise at ``snr_db`` relative to the clean signal's variance."""
    rng = np.random.default_rng([seed, int(round(snr_db * 10)), 7])
    sigma = np.sqrt(np.var(clean) / 10 ** (snr_db / 10))
    return clean + sigma * rng.standard_normal(clean.size)


# --------------------------------------------------------------------------- the paper's pipeline


def _pantompkins_or_none(xhat):
    """Pan-Tompkins R peaks of a reconstruction; none if it is flat (the detector raises on
    a flat lead: an all-zero reconstruction counts as missing every beat)."""
    from sparse_events.ecg import find_peaks_pantompkins

    try:
        return find_peaks_pantompkins(xhat, sampling_rate=FS)
    except ValueError as exc:
        if "flat" not in str(exc):
            raise
        return np.zeros(0, dtype=np.int64)


def paper_reconstruction(noisy, beta=PAPER_BETA, window=PAPER_WINDOW):
    """Cross-products LASSO with the paper's template; returns (x^, s^, seconds)."""
    from sparse_events import cross_products_deconvolve, refractory_window
    from sparse_events.ecg import ecgsyn_qrs_template

    h = ecgsyn_qrs_template(sampling_rate=FS).waveform
    y = noisy - np.median(noisy)  # ECGSYN sits on an offset; the template starts and ends at 0
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = cross_products_deconvolve(y, h, beta=beta, g=refractory_window(*window),
                                        tol=1e-3, max_reweights=50)
    sec = time.perf_counter() - t0
    xhat = np.convolve(res.coef, h)[:y.size]
    return xhat, res.coef, sec


def nearest_distances(a, b):
    """For each element of ``a``, distance (samples) to the nearest element of sorted ``b``."""
    a, b = np.asarray(a), np.asarray(b)
    if a.size == 0 or b.size == 0:
        return np.zeros(0)
    idx = np.searchsorted(b, a)
    lo = b[np.clip(idx - 1, 0, b.size - 1)]
    hi = b[np.clip(idx, 0, b.size - 1)]
    return np.minimum(np.abs(a - lo), np.abs(a - hi))


def case_study(seed, snr_db=20.0, beta=PAPER_BETA):
    from sparse_events.ecg import find_peaks_pantompkins

    clean, truth = simulate(60.0, seed)
    noisy = add_noise(clean, snr_db, seed)
    xhat, s, sec = paper_reconstruction(noisy, beta=beta)
    on_hat = _pantompkins_or_none(xhat)
    on_clean = find_peaks_pantompkins(clean - np.median(clean), sampling_rate=FS)
    d_clean = nearest_distances(on_hat, on_clean)
    d_truth = nearest_distances(on_hat, truth)
    return {"seed": seed, "beta": beta, "n_truth": truth.size, "n_clean": on_clean.size,
            "n_hat": on_hat.size, "max_clean": d_clean.max(initial=0),
            "mean_clean": d_clean.mean() if d_clean.size else np.nan,
            "max_truth": d_truth.max(initial=0),
            "mean_truth": d_truth.mean() if d_truth.size else np.nan,
            "nnz": int(np.count_nonzero(s)), "seconds": sec}


# --------------------------------------------------------------------------- sweep


def run_detector(name, noisy):
    t0 = time.perf_counter()
    if name == "nk:neurokit":
        import neurokit2 as nk

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, info = nk.ecg_peaks(nk.ecg_clean(noisy, sampling_rate=FS), sampling_rate=FS)
        peaks = np.asarray(info["ECG_R_Peaks"], dtype=np.int64)
    elif name == "paper: PT on x^":
        xhat, _, _ = paper_reconstruction(noisy)
        peaks = _pantompkins_or_none(xhat)
    else:
        from sparse_events.ecg import ecg_peaks

        _, info = ecg_peaks(noisy, sampling_rate=FS, method=name)
        peaks = info["ECG_R_Peaks"]
    return peaks, time.perf_counter() - t0


def sweep_task(heart_rate, seed, snrs, detectors):
    """All SNRs and detectors for one simulated signal (one worker task)."""
    from sparse_events.ecg import evaluate

    clean, truth = simulate(heart_rate, seed)
    rows = []
    for snr in snrs:
        noisy = add_noise(clean, snr, seed)
        for det in detectors:
            try:
                peaks, sec = run_detector(det, noisy)
            except Exception as exc:  # a failure is a result, reported as such
                peaks, sec = np.zeros(0, dtype=np.int64), np.nan
                print(f"  {det} failed at {heart_rate} bpm, {snr} dB, seed {seed}: {exc}",
                      file=sys.stderr)
            r = evaluate(peaks, truth, sampling_rate=FS, signal_length=clean.size,
                         learning_period_s=0.0)
            rows.append({"hr": heart_rate, "seed": seed, "snr": snr, "det": det, "tp": r.tp,
                         "fn": r.fn, "fp": r.fp, "err": r.timing_errors_s * 1e3,
                         "n": clean.size, "sec": sec})
    return rows


def gross(rows):
    tp = sum(r["tp"] for r in rows)
    fn = sum(r["fn"] for r in rows)
    fp = sum(r["fp"] for r in rows)
    err = np.concatenate([r["err"] for r in rows]) if rows else np.zeros(0)
    n = sum(r["n"] for r in rows)
    sec = sum(r["sec"] for r in rows)
    return {"se": 100 * tp / max(tp + fn, 1), "ppv": 100 * tp / max(tp + fp, 1),
            "f1": 100 * 2 * tp / max(2 * tp + fn + fp, 1), "tp": tp, "fn": fn, "fp": fp,
            "med": float(np.median(np.abs(err))) if err.size else float("nan"),
            "msps": n / sec / 1e6 if sec > 0 else float("nan")}


# --------------------------------------------------------------------------- report


def machine_info() -> str:
    try:
        model = next(line.split(":", 1)[1].strip() for line in
                     subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
                     if line.startswith("Model name"))
    except Exception:
        model = platform.processor() or "unknown"
    import neurokit2
    import scipy

    import sparse_events
    return (f"{model}, {os.cpu_count()} cores; python {platform.python_version()}, numpy "
            f"{np.__version__}, scipy {scipy.__version__}, neurokit2 {neurokit2.__version__}, "
            f"sparse_events {sparse_events.__version__}")


def render(cases, beta_rows, rows, snrs, rates, detectors, n_seeds, command, elapsed):
    out = ["## ecg/ecgsyn_benchmark.py", "",
           f"Command: `{command}`  ",
           f"Machine: {machine_info()}  ",
           f"Date: {datetime.date.today().isoformat()}; wall time {elapsed / 60:.1f} min; "
           "one thread per process (machine shared: timings are indicative).", "",
           "### Case study 2 (paper): ECGSYN 360 Hz, 60 +- 6 bpm, 64 beats, 20 dB; "
           f"cross-products LASSO with the ECGSYN template (Lh = 70), beta = {PAPER_BETA}, "
           f"rectangular g, L_g = {PAPER_WINDOW[0]}, strength {PAPER_WINDOW[1]}; "
           "Pan-Tompkins on x^ = H s^", "",
           "Paper: all 64 R peaks found, every detection within 1 sample, mean distance "
           "0.33 samples.", "",
           "| seeds | true beats | PT on clean | PT on x^ | max dist to PT-on-clean | mean dist "
           "to PT-on-clean | max dist to truth | mean dist to truth | non-zeros of s^ | solve s |",
           "|---|---|---|---|---|---|---|---|---|---|"]

    def case_row(label, cs):
        return (f"| {label} | {sum(c['n_truth'] for c in cs)} | {sum(c['n_clean'] for c in cs)} | "
                f"{sum(c['n_hat'] for c in cs)} | {max(c['max_clean'] for c in cs)} | "
                f"{np.mean([c['mean_clean'] for c in cs]):.2f} | "
                f"{max(c['max_truth'] for c in cs)} | {np.mean([c['mean_truth'] for c in cs]):.2f} | "
                f"{np.mean([c['nnz'] for c in cs]):.0f} | "
                f"{np.mean([c['seconds'] for c in cs]):.2f} |")

    out.append(case_row("seed 0", [cases[0]]))
    out.append(case_row(f"{len(cases)} seeds (sums / max / means)", cases))
    out += ["", "beta sweep (seed 0, same settings):", "",
            "| beta | PT on x^ / true | max dist to truth | mean dist to truth | non-zeros | solve s |",
            "|---|---|---|---|---|---|"]
    for c in beta_rows:
        out.append(f"| {c['beta']:g} | {c['n_hat']} / {c['n_truth']} | {c['max_truth']} | "
                   f"{c['mean_truth']:.2f} | {c['nnz']} | {c['seconds']:.2f} |")
    out += ["", f"### Sweep: SNR x heart rate, {n_seeds} seeds, 64 beats each "
            "(scored against the true R peaks, 150 ms matching)", "",
            "Gross over all heart rates and seeds, per SNR: F1 % (Se / +P)", "",
            "| SNR dB | " + " | ".join(detectors) + " |",
            "|---|" + "---|" * len(detectors)]
    for snr in snrs:
        cells = []
        stats = {d: gross([r for r in rows if r["snr"] == snr and r["det"] == d])
                 for d in detectors}
        best = max(s["f1"] for s in stats.values())
        for d in detectors:
            s = stats[d]
            txt = f"{s['f1']:.2f} ({s['se']:.1f} / {s['ppv']:.1f})"
            cells.append(f"**{txt}**" if s["f1"] == best else txt)
        out.append(f"| {snr:g} | " + " | ".join(cells) + " |")
    out += ["", "Gross over all SNRs and seeds, per heart rate: F1 %", "",
            "| bpm | " + " | ".join(detectors) + " |", "|---|" + "---|" * len(detectors)]
    for hr in rates:
        stats = {d: gross([r for r in rows if r["hr"] == hr and r["det"] == d]) for d in detectors}
        best = max(s["f1"] for s in stats.values())
        out.append(f"| {hr:g} | " + " | ".join(
            (f"**{stats[d]['f1']:.2f}**" if stats[d]["f1"] == best else f"{stats[d]['f1']:.2f}")
            for d in detectors) + " |")
    out += ["", "Everything pooled:", "",
            "| detector | Se % | +P % | F1 % | FN | FP | median abs err ms | M samples/s |",
            "|---|---|---|---|---|---|---|---|"]
    for d in detectors:
        s = gross([r for r in rows if r["det"] == d])
        out.append(f"| {d} | {s['se']:.2f} | {s['ppv']:.2f} | {s['f1']:.2f} | {s['fn']} | "
                   f"{s['fp']} | {s['med']:.1f} | {s['msps']:.3f} |")
    return "\n".join(out)


def write_section(text: str, path: Path = RESULTS) -> None:
    block = f"{BEGIN}\n{text}\n{END}"
    if path.is_file():
        old = path.read_text()
        if BEGIN in old and END in old:
            new = old[:old.index(BEGIN)] + block + old[old.index(END) + len(END):]
        else:
            new = old.rstrip() + "\n\n" + block + "\n"
    else:
        new = ("# ECG benchmark results\n\nEach section is produced by the script named in its "
               "heading.\n\n" + block + "\n")
    path.write_text(new)


def _floats(text):
    return [float(v) for v in text.split(",") if v.strip()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--sweep-seeds", type=int, default=None,
                        help="seeds of the SNR x heart-rate sweep (default: --seeds)")
    parser.add_argument("--snrs", default="0,5,10,15,20,25,30")
    parser.add_argument("--rates", default="40,60,80,100,120,140,160,180")
    parser.add_argument("--detectors", default=",".join(DETECTORS))
    parser.add_argument("--betas", default="0.25,0.5,1,2")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (joblib)")
    parser.add_argument("--quick", action="store_true",
                        help="3 seeds, SNR 0/10/20/30, rates 40/100/180")
    parser.add_argument("--no-write", action="store_true", help="do not update ecg/RESULTS.md")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.snrs, args.rates = 3, "0,10,20,30", "40,100,180"
    sweep_seeds = args.seeds if args.sweep_seeds is None else args.sweep_seeds
    snrs, rates = _floats(args.snrs), _floats(args.rates)
    detectors = [d for d in args.detectors.split(",") if d]
    command = "python ecg/ecgsyn_benchmark.py " + " ".join(argv if argv is not None
                                                           else sys.argv[1:])
    t_start = time.perf_counter()
    from joblib import Parallel, delayed

    print("case study 2 ...", flush=True)
    cases = Parallel(n_jobs=args.jobs)(delayed(case_study)(s) for s in range(args.seeds))
    beta_rows = [case_study(0, beta=b) for b in _floats(args.betas)]
    print("sweep ...", flush=True)
    tasks = [(hr, s) for hr in rates for s in range(sweep_seeds)]
    chunks = Parallel(n_jobs=args.jobs, verbose=5)(
        delayed(sweep_task)(hr, s, snrs, detectors) for hr, s in tasks)
    rows = [r for chunk in chunks for r in chunk]
    text = render(cases, beta_rows, rows, snrs, rates, detectors, sweep_seeds, command,
                  time.perf_counter() - t_start)
    print(text)
    if not args.no_write:
        write_section(text)
        print(f"\nwritten to {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
