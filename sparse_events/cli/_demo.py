"""``sparse-events demo``: the main job on built-in (simulated) data.

``--case ecg`` (default): R peaks of a noisy ECGSYN signal by sparse
deconvolution, validated with Pan-Tompkins as in Luengo, Via and Trigano's case
study 2.  ``--case random-shapes``: their case study 1 (LASSO deconvolution of
random event shapes).
"""

from __future__ import annotations

import time

from ._inputs import UserError, check_alpha_ratio, check_number, check_output_file

CASES = ("ecg", "random-shapes")
# lowest --snr-db: the noise is 10**(-snr_db/20) times the signal's amplitude, 1e150 here,
# so that the noisy signal and its squares stay finite in float64
MIN_SNR_DB = -3000.0


def add_parser(sub):
    p = sub.add_parser(
        "demo", help="run the main job on built-in simulated data (ECG R peaks by default)",
        description=(
            "--case ecg (default): simulate an ECG with ECGSYN (neurokit2; 360 Hz, 60 +- 6 bpm), "
            "add white noise at --snr-db, detect the R peaks by sparse deconvolution "
            "(sparse_events.ecg.ecg_peaks, method 'sparse'), validate with Pan-Tompkins, "
            "and print a table (beats, Se, +P, timing error, run time) against the R peaks "
            "of the clean signal; --plot PATH saves a PNG.  --case random-shapes: the "
            "random-shapes case study of Luengo, Via and Trigano (h ~ N(0,1), one spike per "
            "100 samples), deconvolved by the LASSO; prints the recovered sparsity and "
            "reconstruction SNR."),
        epilog="Examples: sparse-events demo --plot demo.png; "
               "sparse-events demo --case random-shapes --snr-db 30")
    p.add_argument("--case", default="ecg", choices=CASES, help="which demo (default ecg)")
    p.add_argument("--snr-db", type=float, default=20.0,
                   help=f"input SNR in dB, finite and >= {MIN_SNR_DB:g} (noise amplitudes stay "
                        "representable) (default 20)")
    p.add_argument("--seed", type=int, default=0, help="random seed, >= 0 (default 0)")
    p.add_argument("--plot", metavar="PATH", default=None,
                   help="save a PNG plot to PATH (its directory must exist)")
    ecg = p.add_argument_group("ECG case")
    ecg.add_argument("--duration-s", type=float, default=64.0,
                     help="length of the simulated ECG in seconds (default 64, as in the paper)")
    ecg.add_argument("--sampling-rate", type=float, default=360.0,
                     help="sampling rate in Hz (default 360)")
    ecg.add_argument("--heart-rate", type=float, default=60.0,
                     help="mean heart rate in bpm (default 60)")
    ecg.add_argument("--heart-rate-std", type=float, default=6.0,
                     help="heart rate standard deviation in bpm (default 6)")
    shapes = p.add_argument_group("random-shapes case")
    shapes.add_argument("--n-samples", type=int, default=10_000,
                        help="signal length (default 10000)")
    shapes.add_argument("--kernel-length", type=int, default=12,
                        help="event shape length (default 12)")
    shapes.add_argument("--alpha-ratio", type=float, default=0.1,
                        help="alpha as a fraction of alpha_max, in (0, 1) (default 0.1)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    check_number(args.snr_db, "--snr-db", low=MIN_SNR_DB)
    check_number(args.seed, "--seed", low=0)
    check_output_file(args.plot, "--plot")  # before the (long) demo runs
    if args.case == "random-shapes":
        _check_random_shapes_args(args)
        return run_random_shapes(args)
    return run_ecg(args)


# --------------------------------------------------------------------------- ECG
def simulate_noisy_ecg(*, duration_s, sampling_rate, heart_rate, heart_rate_std, snr_db, seed):
    """ECGSYN signal (neurokit2) and a noisy copy at ``snr_db`` (relative to its variance)."""
    import warnings

    import neurokit2 as nk
    import numpy as np

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clean = nk.ecg_simulate(duration=duration_s, sampling_rate=sampling_rate,
                                heart_rate=heart_rate, heart_rate_std=heart_rate_std,
                                method="ecgsyn", noise=0.0, random_state=seed)
    clean = np.asarray(clean, dtype=np.float64)
    rng = np.random.default_rng(seed)
    noise_std = np.sqrt(np.var(clean) / 10.0 ** (snr_db / 10.0))
    return clean, clean + noise_std * rng.standard_normal(clean.size)


EDGE_S = 0.25  # beats this close to either end (incomplete QRS complexes) are not scored


def score_against_reference(detections, reference, fs, n_samples):
    """EC57 matching (150 ms window) on ``[EDGE_S, duration - EDGE_S]``."""
    from ..ecg import evaluate

    return evaluate(detections, reference, sampling_rate=fs, learning_period_s=EDGE_S,
                    signal_length=n_samples - int(round(EDGE_S * fs)))


def _score(name, detections, reference, fs, seconds, n_samples):
    import numpy as np

    res = score_against_reference(detections, reference, fs, n_samples)
    err = np.abs(res.matched_detections - res.matched_reference)
    return {"name": name, "detected": res.tp + res.fp, "reference": res.n_reference,
            "tp": res.tp,
            "se": 100 * res.sensitivity, "ppv": 100 * res.positive_predictivity,
            "mean_err": float(err.mean()) if err.size else float("nan"),
            "max_err": int(err.max()) if err.size else -1, "seconds": seconds, "result": res}


def _check_ecg_args(args):
    if not args.duration_s >= 10:
        raise UserError(f"--duration-s must be at least 10 s, got {args.duration_s}")
    if not args.sampling_rate >= 100:
        raise UserError(f"--sampling-rate must be at least 100 Hz, got {args.sampling_rate}")
    if not 20 <= args.heart_rate <= 250:
        raise UserError(f"--heart-rate must be in [20, 250] bpm, got {args.heart_rate}")
    if not 0 <= args.heart_rate_std < args.heart_rate / 2:
        raise UserError(f"--heart-rate-std must be in [0, heart rate / 2), got "
                        f"{args.heart_rate_std}")


def paper_reconstruction(noisy, sampling_rate, *, alpha_ratio=0.3, refractory_s=0.2,
                         strength=10.0):
    """The paper's validation path: cross-products LASSO with the ECGSYN QRS template.

    The cleaned signal is deconvolved (non-negative activations) with the unit-norm QRS
    of the first ECGSYN beat (70 samples at 360 Hz), a rectangular refractory window
    of ``refractory_s`` and ``alpha = alpha_ratio * alpha_max``; returns the
    reconstruction ``H s`` (on which Pan-Tompkins is run) and the activations.
    """
    import warnings

    import numpy as np

    from .._exceptions import ConvergenceWarning
    from ..ecg import ecg_clean
    from ..models import alpha_max, cross_products_deconvolve, make_operator, refractory_window

    try:
        from ..ecg import ecgsyn_qrs_template
    except ImportError:  # not re-exported (yet) by sparse_events.ecg
        from ..ecg._templates import ecgsyn_qrs_template

    x = ecg_clean(noisy, sampling_rate=sampling_rate)
    # a writable copy: the template's waveform is read-only, and numba compiles a second
    # specialisation of every solver kernel for read-only arrays (doubling the cold start)
    h = np.array(ecgsyn_qrs_template(sampling_rate=sampling_rate).waveform, dtype=np.float64)
    amax = alpha_max(x, h, positive=True)
    alpha = alpha_ratio * amax
    g = refractory_window(max(1, int(round(refractory_s * sampling_rate))),
                          strength * float(np.sum(h ** 2)) / amax)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = cross_products_deconvolve(x, h, beta=1.0 / (2.0 * alpha), g=g, positive=True,
                                        max_reweights=30)
    return make_operator(h, x.size).matvec(res.coef), res.coef


def run_ecg(args) -> int:
    from ..ecg import ecg_peaks

    _check_ecg_args(args)
    fs = args.sampling_rate
    t0 = time.perf_counter()
    clean, noisy = simulate_noisy_ecg(duration_s=args.duration_s, sampling_rate=fs,
                                      heart_rate=args.heart_rate,
                                      heart_rate_std=args.heart_rate_std,
                                      snr_db=args.snr_db, seed=args.seed)
    t_sim = time.perf_counter() - t0
    # reference: Pan-Tompkins R peaks of the clean (noise-free) signal, as in the paper
    reference = ecg_peaks(clean, sampling_rate=fs, method="pantompkins")[1]["ECG_R_Peaks"]

    t0 = time.perf_counter()  # first calls: numba compilation (cached on disk afterwards)
    ecg_peaks(noisy[: int(10 * fs)], sampling_rate=fs, method="sparse")
    paper_reconstruction(noisy[: int(10 * fs)], fs)
    t_warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, info = ecg_peaks(noisy, sampling_rate=fs, method="sparse")
    t_sparse = time.perf_counter() - t0
    t0 = time.perf_counter()
    reconstruction, _ = paper_reconstruction(noisy, fs)
    pt_rec = ecg_peaks(reconstruction, sampling_rate=fs, method="pantompkins")[1]["ECG_R_Peaks"]
    t_paper = time.perf_counter() - t0
    t0 = time.perf_counter()
    pt_noisy = ecg_peaks(noisy, sampling_rate=fs, method="pantompkins")[1]["ECG_R_Peaks"]
    t_pt = time.perf_counter() - t0
    n = noisy.size
    rows = [
        _score("sparse deconvolution (ecg_peaks, method='sparse')", info["ECG_R_Peaks"],
               reference, fs, t_sparse, n),
        _score("paper: Pan-Tompkins on the reconstruction H s", pt_rec, reference, fs, t_paper,
               n),
        _score("Pan-Tompkins on the noisy signal", pt_noisy, reference, fs, t_pt, n),
    ]
    print(f"ECGSYN: {args.duration_s:g} s at {fs:g} Hz, {args.heart_rate:g} +- "
          f"{args.heart_rate_std:g} bpm, white noise at {args.snr_db:g} dB SNR (seed "
          f"{args.seed}); simulated in {t_sim:.1f} s; reference: the R peaks found by "
          f"Pan-Tompkins on the clean signal (beats within {EDGE_S:g} s of the ends not scored)")
    print(f"warm-up on 10 s (numba compilation on the first run, cached afterwards): "
          f"{t_warm:.1f} s")
    print()
    print("| detector | beats (detected / reference) | Se (%) | +P (%) | "
          "mean abs timing error (samples / ms) | max abs error (samples) | run time (s) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['detected']} / {r['reference']} | {r['se']:.2f} | "
              f"{r['ppv']:.2f} | {r['mean_err']:.2f} / {1e3 * r['mean_err'] / fs:.1f} | "
              f"{r['max_err']} | {r['seconds']:.2f} |")
    if args.plot:
        _plot_ecg(args.plot, noisy, clean, reconstruction, info["ECG_R_Peaks"], pt_rec,
                  reference, rows[0]["result"], fs)
        print(f"\nplot saved to {args.plot}")
    return 0


def _plot_ecg(path, noisy, clean, reconstruction, peaks, pt_rec, reference, result, fs):
    import numpy as np
    from matplotlib.figure import Figure

    from ..plotting import plot_detections

    stop = min(noisy.size, int(10 * fs))
    edge = int(round(EDGE_S * fs))
    reference = reference[(reference >= edge) & (reference <= noisy.size - edge)]  # scored ones
    fig = Figure(figsize=(11, 6), layout="constrained")  # no pyplot: no window, no global state
    ax0, ax1 = fig.subplots(2, 1, sharex=True)
    plot_detections(noisy, peaks, reference, sampling_rate=fs, stop=stop, ax=ax0,
                    missed=result.missed_reference, false_detections=result.false_detections,
                    title="sparse deconvolution: R peaks on the noisy ECG (first 10 s)")
    t = np.arange(stop) / fs
    ax1.plot(t, clean[:stop], color="k", lw=0.8, label="clean ECG")
    ax1.plot(t, reconstruction[:stop], color="C3", lw=0.9, label="reconstruction H s")
    sel = pt_rec[pt_rec < stop]
    ax1.plot(sel / fs, reconstruction[sel], "o", color="C0", ms=4,
             label="Pan-Tompkins on the reconstruction")
    ax1.set_xlabel("time (s)")
    ax1.set_ylabel("amplitude")
    ax1.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
               borderaxespad=0.0)
    ax1.set_title("reconstruction from the sparse activations")
    fig.savefig(path, dpi=100)


# ------------------------------------------------------------------ random shapes
def _check_random_shapes_args(args):
    """Same rules as ``sparse-events deconvolve`` (``--alpha-ratio`` in (0, 1))."""
    check_number(args.kernel_length, "--kernel-length", low=1)
    check_number(args.n_samples, "--n-samples", low=1)
    check_alpha_ratio(args.alpha_ratio)


def run_random_shapes(args) -> int:
    import numpy as np

    from ..datasets import make_random_spike_train
    from ..metrics import reconstruction_snr_db, sparsity
    from ..models import alpha_max, deconvolve
    from ..operators import ConvolutionOperator

    data = make_random_spike_train(args.n_samples, kernel_length=args.kernel_length,
                                   snr_db=args.snr_db, random_state=args.seed)
    amax = alpha_max(data.signal, data.kernel)
    t0 = time.perf_counter()
    res = deconvolve(data.signal, data.kernel, args.alpha_ratio * amax, debias=True)
    elapsed = time.perf_counter() - t0
    H = ConvolutionOperator(data.kernel, args.n_samples)
    rows = [
        ("LASSO", res.coef),
        ("LASSO + debiasing", res.coef_debiased),
    ]
    print(f"random-shapes case study: N={args.n_samples}, L_h={args.kernel_length}, "
          f"input SNR {args.snr_db:g} dB, alpha = {args.alpha_ratio:g} alpha_max")
    print(f"true sparsity {sparsity(data.coef):.4f}; solved in {elapsed:.3f} s "
          f"({res.n_iter} epochs, converged={res.converged})")
    print()
    print("| estimate | sparsity | reconstruction SNR (dB) |")
    print("|---|---|---|")
    for name, coef in rows:
        snr = reconstruction_snr_db(data.clean, H.matvec(coef))
        print(f"| {name} | {sparsity(coef):.4f} | {snr:.2f} |")
    if args.plot:
        import matplotlib.pyplot as plt

        from ..plotting import plot_deconvolution

        n = min(args.n_samples, 1000)
        fig = plot_deconvolution(data.signal[:n], res.coef_debiased[:n],
                                 H.matvec(res.coef_debiased)[:n], true_coef=data.coef[:n],
                                 title="random shapes: LASSO + debiasing (first samples)")
        fig.savefig(args.plot, dpi=100)
        plt.close(fig)
        print(f"\nplot saved to {args.plot}")
    return 0 if np.all(np.isfinite(res.coef)) else 1
