"""``sparse-events evaluate``: EC57 beat-by-beat scoring of R-peak detections."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ._detect import (add_parallel_arguments, batch, check_jobs, check_method, detect_peaks,
                      report_failures)
from ._inputs import (CSV_SUFFIXES, NUMPY_SUFFIXES, UserError, check_no_overwrite,
                      check_output_file, make_output_directory, record_files, resolve_inputs)


def add_parser(sub):
    p = sub.add_parser(
        "evaluate", help="score R-peak detections against reference annotations (EC57)",
        description=(
            "Score R-peak detections of WFDB records against their reference beat "
            "annotations the ANSI/AAMI EC57 way (sparse_events.ecg.evaluate: beat "
            "annotations only, ventricular flutter excluded, one-to-one matching within "
            "150 ms, first 5 minutes excluded) and print the per-record table and the gross "
            "row (TP, FN, FP summed over records). Detections are computed with --method, "
            "or read from the CSV files written by 'sparse-events detect' (--detections DIR) "
            "or from WFDB annotation files (--test-annotator EXT)."),
        epilog="Example: sparse-events evaluate ../shared/data/mitdb/101 "
               "../shared/data/mitdb/106 --jobs 2")
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="WFDB record paths without extension, or directories (all their "
                        "records), with reference annotations")
    p.add_argument("--channel", default="0", help="channel index or name (default 0)")
    p.add_argument("--annotator", default="atr",
                   help="extension of the reference annotation files (default atr)")
    p.add_argument("--method", default="sparse",
                   help="detector used when no detections are given: sparse (default) or "
                        "pantompkins")
    p.add_argument("--detections", metavar="DIR", default=None,
                   help="read detections from DIR/<record>.csv ('sample' column), as written "
                        "by 'sparse-events detect', instead of detecting")
    p.add_argument("--test-annotator", metavar="EXT", default=None,
                   help="read detections from the WFDB annotation file <record>.EXT (in --detections "
                        "DIR if given, else next to the record); only its beat annotations "
                        "(the symbols scored in the reference) are detections, rhythm, noise "
                        "and other non-beat marks are ignored")
    p.add_argument("--learning-period-s", type=float, default=300.0,
                   help="initial period excluded from scoring in seconds (EC57: 300)")
    p.add_argument("--match-window-s", type=float, default=0.15,
                   help="matching window in seconds (EC57: 0.15)")
    p.add_argument("--out", metavar="CSV", default=None, help="also save the table as CSV")
    p.add_argument("--plot-dir", metavar="DIR", default=None,
                   help="save per record a PNG of the 10 s around its first error "
                        "(misses and false detections marked)")
    add_parallel_arguments(p)
    p.set_defaults(func=run)
    return p


def _detections_source(spec, detections_dir, test_annotator):
    """Where the detections of a record come from: ``(kind, path, extension)``.

    ``("detect", None, None)``, ``("csv", csv_path, None)`` or
    ``("wfdb", record_path, extension)``.
    """
    if test_annotator is not None:
        base = Path(detections_dir) / spec.name if detections_dir else Path(spec.path)
        f = base.with_name(f"{base.name}.{test_annotator}")
        if not f.is_file():
            raise UserError(f"{spec.path}: detection annotation file {f} not found")
        return "wfdb", str(base), test_annotator
    if detections_dir is not None:
        f = Path(detections_dir) / f"{spec.name}.csv"
        if not f.is_file():
            raise UserError(f"{spec.path}: detections file {f} not found")
        return "csv", str(f), None
    return "detect", None, None


def _read_detections_csv(path):
    import pandas as pd

    df = pd.read_csv(path)
    if "sample" not in df.columns:
        raise ValueError(f"{path}: no 'sample' column (columns: {', '.join(df.columns)})")
    s = pd.to_numeric(df["sample"], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(s)) or np.any(s != np.round(s)) or np.any(s < 0):
        raise ValueError(f"{path}: the 'sample' column must hold non-negative integers")
    return s.astype(np.int64)


def _read_detections_wfdb(record_path, extension, n_samples):
    """Beat annotations of the WFDB annotation file ``<record_path>.<extension>``.

    Read with the library's checked reader (that of
    :func:`sparse_events.ecg.read_wfdb_record`): a truncated or corrupted file (no
    end-of-file marker, a definition note on which ``wfdb.rdann`` would loop forever,
    decreasing times, annotations beyond the ``n_samples`` of the record) is a
    ValueError naming the file.  Only beat annotations
    (:data:`sparse_events.ecg.BEAT_SYMBOLS`, the set the scorer uses for the reference)
    are detections: rhythm (``+``), noise (``~``), comment (``"``), artifact (``|``) and
    other non-beat marks are dropped, so a reference annotator scored against itself
    gives no false positive and no miss.
    """
    from ..ecg import BEAT_SYMBOLS
    from ..ecg._io import _read_annotations

    base = Path(record_path)
    samples, symbols, _ = _read_annotations(base, extension,
                                            base.with_name(f"{base.name}.{extension}"),
                                            0, n_samples, n_samples)
    return samples[np.isin(symbols, sorted(BEAT_SYMBOLS))]


def evaluate_record(task, *, method, annotator, learning_period_s, match_window_s,
                    plot_dir=None):
    """Detect (or read) and score one record; returns ``(EC57Result, seconds)``."""
    from ..ecg import evaluate, read_wfdb_record

    spec, (source, where, extension) = task
    record = read_wfdb_record(spec.path, channel=spec.channel, annotator=annotator)
    t0 = time.perf_counter()
    if source == "detect":
        det = detect_peaks(record.signal, record.sampling_rate, method)
    elif source == "csv":
        det = _read_detections_csv(where)
    else:
        det = _read_detections_wfdb(where, extension, record.n_samples)
    elapsed = time.perf_counter() - t0
    res = evaluate(det, record, learning_period_s=learning_period_s,
                   match_window_s=match_window_s, record=spec.name)
    if plot_dir is not None:
        _plot_first_error(record, det, res, Path(plot_dir) / f"{spec.name}.png")
    return res, elapsed


def _plot_first_error(record, det, res, path):
    import matplotlib.pyplot as plt

    from ..plotting import plot_detections

    fs = record.sampling_rate
    errors = np.sort(np.concatenate([res.missed_reference, res.false_detections]))
    center = int(errors[0]) if errors.size else int(res.learning_period_s * fs)
    half = int(5 * fs)
    start = max(0, min(center - half, record.n_samples - 2 * half))
    stop = min(record.n_samples, start + 2 * half)
    fig = plot_detections(record.signal, det[(det >= 0) & (det < record.n_samples)],
                          record.scored_beat_samples, sampling_rate=fs,
                          missed=res.missed_reference, false_detections=res.false_detections,
                          start=start, stop=stop,
                          title=f"{record.name}: Se {100 * res.sensitivity:.2f} %, "
                                f"+P {100 * res.positive_predictivity:.2f} %")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def format_table(results, seconds):
    """Markdown table: one row per record and the gross row."""
    from ..ecg import gross_statistics

    lines = ["| record | beats | TP | FN | FP | Se (%) | +P (%) | F1 (%) | "
             "median abs timing error (ms) | run time (s) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r, sec in zip(results, seconds):
        d = r.as_dict()
        lines.append(f"| {d['record']} | {d['n_reference']} | {d['tp']} | {d['fn']} | {d['fp']} "
                     f"| {d['se_percent']:.2f} | {d['ppv_percent']:.2f} | {d['f1_percent']:.2f} "
                     f"| {d['median_abs_timing_error_ms']:.1f} | {sec:.2f} |")
    g = gross_statistics(results)
    lines.append(f"| **gross** | {g['n_reference']} | {g['tp']} | {g['fn']} | {g['fp']} "
                 f"| {g['se_percent']:.2f} | {g['ppv_percent']:.2f} | {g['f1_percent']:.2f} "
                 f"| {g['median_abs_timing_error_ms']:.1f} | {sum(seconds):.2f} |")
    return "\n".join(lines)


def run(args) -> int:
    check_jobs(args.jobs)
    if args.detections is None and args.test_annotator is None:
        check_method(args.method)
    if args.learning_period_s < 0:
        raise UserError(f"--learning-period-s must be >= 0, got {args.learning_period_s}")
    if args.match_window_s <= 0:
        raise UserError(f"--match-window-s must be positive, got {args.match_window_s}")
    from ..ecg._evaluate import check_match_window

    try:
        check_match_window(args.match_window_s)  # a window in ms (150) is refused there
    except ValueError as exc:
        raise UserError(f"--match-window-s: {exc}") from None
    for path in args.paths:
        if Path(path).suffix.lower() in CSV_SUFFIXES + NUMPY_SUFFIXES:
            raise UserError(f"{path}: evaluate needs WFDB records with reference "
                            "annotations (record path without extension)")
    specs = resolve_inputs(args.paths, channel=args.channel, wfdb_only=True)
    tasks = []
    for spec in specs:
        ref = Path(spec.path).with_name(f"{spec.name}.{args.annotator}")
        if not ref.is_file():
            raise UserError(f"{spec.path}: reference annotation file {ref} not found "
                            "(see --annotator)")
        tasks.append((spec, _detections_source(spec, args.detections, args.test_annotator)))
    # the output is checked after the inputs (an input error is reported first) and
    # before the work (no detection or scoring lost to a bad output path)
    check_output_file(args.out, "--out")
    inputs = [f for spec, _ in tasks for f in record_files(spec, args.annotator)]
    for spec, (kind, path, ext) in tasks:
        if kind == "csv":
            inputs.append((f"detections of record {spec.name}", path))
        elif kind == "wfdb":
            inputs.append((f"detections of record {spec.name}", f"{path}.{ext}"))
    check_no_overwrite([("--out", args.out)], inputs)
    if args.plot_dir is not None:
        make_output_directory(args.plot_dir, "--plot-dir")
    results = batch(evaluate_record, tasks, args, "evaluate", method=args.method,
                    annotator=args.annotator, learning_period_s=args.learning_period_s,
                    match_window_s=args.match_window_s, plot_dir=args.plot_dir)
    ok = [r.value for r in results if r.ok]
    failed = [r for r in results if not r.ok]
    for r in failed:
        r.item = r.item[0].name
    if ok:
        scored, seconds = [v[0] for v in ok], [v[1] for v in ok]
        print(format_table(scored, seconds))
        if args.out:
            from ..ecg import ec57_table

            table = ec57_table(scored)
            table["run_time_s"] = seconds + [sum(seconds)]
            table.to_csv(args.out, index=False)
            print(f"table saved to {args.out}")
    return report_failures("evaluate", failed)
