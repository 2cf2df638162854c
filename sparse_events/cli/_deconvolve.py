"""``sparse-events deconvolve``: cross-products LASSO of a signal file with a kernel file.

The ``sample`` column of the output is the onset of each event in the input signal,
whatever ``--mode``: the sample of SIGNAL where the event's kernel starts.  With the
operator's geometry (:func:`sparse_events.operators.mode_geometry`), coefficient ``j``
of the solution holds the kernel from signal sample ``j - shift``, with ``shift`` 0 for
``causal`` and ``full``, ``(L - 1) // 2`` for ``same`` and ``L - 1`` for ``valid``
(``L`` the kernel length); so ``sample = j - shift`` (and ``time_s = sample /
sampling_rate``).  In ``same`` and ``valid`` modes an event that starts before the
signal, only its tail being observed, has a negative ``sample``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ._inputs import (UserError, _select_channel, check_alpha_ratio, check_no_overwrite,
                      check_number, check_output_file, read_array_file, signal_channels)


def add_parser(sub):
    p = sub.add_parser(
        "deconvolve", help="sparse (cross-products LASSO) deconvolution of a signal with a kernel",
        description=(
            "Recover sparse events s from y = H s + noise, where H convolves with the event "
            "shape in KERNEL, by the cross-products LASSO of Luengo, Via and Trigano "
            "(sparse_events.cross_products_deconvolve): minimise "
            "0.5 ||y - H s||^2 + alpha (sum_i gamma_i |s_i|) with weights gamma = 1 + 2 G |s| "
            "penalising pairs of events closer than the refractory length. Without "
            "--refractory-samples/--refractory-s it is the plain LASSO. Writes one row per "
            "event (non-zero coefficient) to OUT as CSV: sample, time_s (with "
            "--sampling-rate), kernel (for several kernels), amplitude "
            "(and amplitude_debiased with --debias). 'sample' is the onset of the event "
            "in SIGNAL (the sample where its kernel starts) in every --mode: the "
            "coefficient index minus (L-1)//2 for --mode same and minus L-1 for --mode "
            "valid (L the kernel length), the index itself for causal and full; it is "
            "negative for an event starting before the signal (same, valid)."),
        epilog=(
            "File formats: SIGNAL is a .npy array (1-D, or 2-D (n_samples, n_channels)) or a "
            "CSV/TXT file with one column per channel (header row optional); pick a column "
            "with --channel. KERNEL is a .npy array (1-D, or 2-D (n_kernels, length) for a "
            "dictionary; a (1, L) or (L, 1) array is one kernel) or a CSV file with one "
            "kernel per column (a single row is one kernel too).  CSV files may start with "
            "'#' comment lines and blank lines, and end with either; a blank or comment "
            "line between rows is an error (it would shift the sample indices).  Columns "
            "are comma, semicolon, tab or whitespace delimited; with the latter three a "
            "comma in a numeric cell is a decimal comma (text columns are left alone; "
            "mixed separators (1.234,5) and files whose commas may all be thousands "
            "separators (1,000) are refused; a "
            "one-column file of decimal commas needs a header line).  Example: "
            "sparse-events deconvolve y.csv --kernel h.csv --refractory-samples 30 "
            "--out events.csv"))
    p.add_argument("signal", metavar="SIGNAL", help="signal file (.csv, .txt, .tsv or .npy)")
    p.add_argument("--kernel", required=True, metavar="KERNEL",
                   help="event shape(s) file (.csv: one kernel per column; .npy: (L,) or (P, L); "
                        "(L, 1) is one kernel)")
    p.add_argument("--out", required=True, metavar="OUT", help="output CSV of events")
    p.add_argument("--channel", default="0",
                   help="column of SIGNAL: index or header name (default 0)")
    p.add_argument("--sampling-rate", type=float, default=None,
                   help="sampling rate in Hz (adds a time_s column)")
    p.add_argument("--alpha-ratio", type=float, default=0.1,
                   help="LASSO strength alpha as a fraction of alpha_max, the smallest alpha "
                        "giving s = 0 (default 0.1)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--refractory-samples", type=int, default=None,
                       help="refractory length L_g in samples: pairs of events at most this far "
                            "apart are penalised")
    group.add_argument("--refractory-s", type=float, default=None,
                       help="refractory length in seconds (needs --sampling-rate)")
    p.add_argument("--strength", type=float, default=1.0,
                   help="cross-products strength, relative to the event scale: "
                        "g[k] = STRENGTH * ||h||^2 / alpha_max for lags 1..L_g (default 1; "
                        "the result does not change when the signal is rescaled)")
    p.add_argument("--window-shape", default="rectangular",
                   choices=("rectangular", "triangular", "hann"),
                   help="shape of the refractory window (default rectangular)")
    p.add_argument("--mode", default="causal", choices=("causal", "full", "same", "valid"),
                   help="convolution mode (default causal: y[n] = sum_k h[k] s[n-k]); "
                        "the output 'sample' is the event onset in SIGNAL in every mode")
    p.add_argument("--positive", action="store_true", help="non-negative events only")
    p.add_argument("--debias", action="store_true",
                   help="also write least-squares amplitudes refitted on the recovered support")
    p.add_argument("--tol", type=float, default=1e-5, help="outer tolerance (default 1e-5)")
    p.add_argument("--max-reweights", type=int, default=100,
                   help="maximum outer iterations (default 100)")
    p.add_argument("--plot", metavar="PNG", default=None,
                   help="save a plot of signal, reconstruction and events (drawn at their "
                        "onset samples; events starting before the signal are not drawn)")
    p.set_defaults(func=run)
    return p


def _load(args):
    """Signal (1-D, the ``--channel`` column) and kernel(s) (``(L,)`` or ``(P, L)``).

    The channel is checked for every signal, a 1-D one included (it has the single
    channel 0).  A 2-D kernel with one row or one column is one kernel: ``(1, L)`` and
    ``(L, 1)`` .npy arrays, one-column and one-row CSV files (a dictionary of several
    length-1 kernels would be degenerate: they are all proportional).
    """
    y, header = read_array_file(args.signal, "signal")
    n_channels = signal_channels(y, f"signal {args.signal}", has_header=header is not None)
    ch = _select_channel(args.channel, header or [], n_channels, f"signal {args.signal}")
    if y.ndim == 2:
        y = y[:, ch]
    kernel, _ = read_array_file(args.kernel, "kernel")
    if kernel.ndim not in (1, 2) or kernel.size == 0:
        raise UserError(f"kernel {args.kernel}: expected a non-empty 1-D or 2-D array, got "
                        f"shape {kernel.shape}")
    if kernel.ndim == 2 and 1 in kernel.shape:
        kernel = kernel.ravel()  # one row or one column: a single kernel
    elif Path(args.kernel).suffix.lower() != ".npy" and kernel.ndim == 2:
        kernel = kernel.T  # CSV: one kernel per column -> (n_kernels, length)
    if kernel.shape[-1] > y.shape[-1]:
        raise UserError(f"kernel {args.kernel} ({kernel.shape[-1]} samples) is longer than "
                        f"the signal ({y.shape[-1]} samples)")
    return y, kernel


def run(args) -> int:
    from ..models import alpha_max, cross_products_deconvolve, make_operator, refractory_window
    from ..operators import mode_geometry

    # before anything is read: an output must not replace an input (nor the CSV the plot)
    check_no_overwrite([("--out", args.out), ("--plot", args.plot)],
                       [("signal", args.signal), ("kernel", args.kernel)])
    check_no_overwrite([("--plot", args.plot)], [("--out file", args.out)])
    check_number(args.sampling_rate, "--sampling-rate", low=0, low_inclusive=False,
                 allow_none=True)
    check_number(args.refractory_s, "--refractory-s", low=0, low_inclusive=False,
                 allow_none=True)
    check_number(args.strength, "--strength", low=0, low_inclusive=False)
    check_number(args.tol, "--tol", low=0)
    check_number(args.max_reweights, "--max-reweights", low=1)
    check_alpha_ratio(args.alpha_ratio)
    if args.refractory_s is not None and args.sampling_rate is None:
        raise UserError("--refractory-s needs --sampling-rate (or use --refractory-samples)")
    if args.plot and args.mode in ("full", "valid"):
        raise UserError("--plot needs --mode causal or same (one event per signal sample)")
    y, kernel = _load(args)
    amax = alpha_max(y, kernel, args.mode, positive=args.positive)
    if not amax > 0:
        raise UserError(f"signal {args.signal}: alpha_max is 0 (the signal is uncorrelated "
                        "with the kernel, e.g. all zeros): no events to recover")
    alpha = args.alpha_ratio * amax
    length = args.refractory_samples
    if args.refractory_s is not None:
        length = int(round(args.refractory_s * args.sampling_rate))
    if length is None:
        g = np.zeros(1)
    else:
        if length < 1:
            raise UserError(f"the refractory length must be at least 1 sample, got {length}")
        if args.strength <= 0:
            raise UserError(f"--strength must be positive, got {args.strength}")
        scale = float(np.sum(np.asarray(kernel) ** 2)) / amax
        if kernel.ndim == 2:
            scale = float(np.max(np.sum(kernel ** 2, axis=1))) / amax
        g = refractory_window(length, args.strength * scale, args.window_shape)
    # the outputs are checked after the inputs (an input error is reported first) and
    # before the solve (no work lost to a bad output path)
    check_output_file(args.out, "--out")
    check_output_file(args.plot, "--plot")
    t0 = time.perf_counter()
    res = cross_products_deconvolve(y, kernel, beta=1.0 / (2.0 * alpha), g=g, mode=args.mode,
                                    positive=args.positive, tol=args.tol,
                                    max_reweights=args.max_reweights, debias=args.debias)
    elapsed = time.perf_counter() - t0
    coef = np.atleast_2d(res.coef)
    rows = np.argwhere(coef != 0)  # (kernel, sample), sorted by kernel then sample
    order = np.lexsort((rows[:, 0], rows[:, 1]))
    rows = rows[order]
    import pandas as pd

    # coefficient j holds the kernel from signal sample j - shift (the operator's geometry)
    _, shift = mode_geometry(args.mode, coef.shape[-1], kernel.shape[-1])
    onset = rows[:, 1] - shift
    table = {"sample": onset}
    if args.sampling_rate is not None:
        table["time_s"] = onset / args.sampling_rate
    if kernel.ndim == 2:
        table["kernel"] = rows[:, 0]
    table["amplitude"] = coef[rows[:, 0], rows[:, 1]]
    if args.debias:
        table["amplitude_debiased"] = np.atleast_2d(res.coef_debiased)[rows[:, 0], rows[:, 1]]
    out = Path(args.out)
    pd.DataFrame(table).to_csv(out, index=False, float_format="%.17g")
    print(f"{len(rows)} events from {y.size} samples ({kernel.shape[0] if kernel.ndim == 2 else 1} "
          f"kernel(s), alpha = {args.alpha_ratio:g} alpha_max, refractory "
          f"{'none' if length is None else f'{length} samples'}) in {elapsed:.2f} s; "
          f"converged={bool(res.converged)} ({res.stop_reason}); written to {out}")
    if args.plot:
        from ..plotting import plot_deconvolution

        H = make_operator(kernel, coef.shape[-1], args.mode)
        rec = H.matvec(np.ravel(res.coef))
        at_onset = np.zeros_like(coef)  # events drawn at their onset, as in the CSV
        at_onset[:, :coef.shape[-1] - shift] = coef[:, shift:]
        at_onset = at_onset if kernel.ndim == 2 else at_onset[0]
        fig = plot_deconvolution(y, at_onset, rec, sampling_rate=args.sampling_rate,
                                 title=f"deconvolution of {Path(args.signal).name}")
        fig.savefig(args.plot, dpi=100)
        print(f"plot saved to {args.plot}")
    return 0
