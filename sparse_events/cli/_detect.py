"""``sparse-events detect``: R peaks of ECG records, one CSV per record."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import numpy as np

from ._inputs import (UserError, check_no_overwrite, check_number, make_output_directory,
                      read_signal, record_files, resolve_inputs)


def check_method(method):
    """The method must be registered in ``sparse_events.ecg`` (sparse, pantompkins, ...)."""
    from ..ecg._peaks import PEAK_METHODS

    if method not in PEAK_METHODS:
        raise UserError(f"--method must be one of {', '.join(sorted(PEAK_METHODS))}; "
                        f"got {method!r}")


def add_common_input_arguments(p):
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="WFDB record paths without extension (as wfdb names them, e.g. "
                        "data/mitdb/101), directories (all their records), or .csv/.txt/.npy "
                        "signal files (need --sampling-rate; .npy: (n_samples,) or "
                        "(n_samples, n_channels); CSV: '#' comment and blank lines only "
                        "before the header/first row, and at the end; comma, semicolon, "
                        "tab or whitespace delimited, decimal commas in numeric columns "
                        "with the latter three; 1.234,5 and files whose commas may all be "
                        "thousands separators, such as 1,000, are refused)")
    p.add_argument("--channel", default="0",
                   help="channel: index or name (WFDB signal name such as MLII, CSV header "
                        "name); default 0")
    p.add_argument("--sampling-rate", type=float, default=None,
                   help="sampling rate in Hz of CSV/NumPy inputs (WFDB headers carry theirs)")
    p.add_argument("--method", default="sparse",
                   help="R-peak detector of sparse_events.ecg.ecg_peaks: sparse (cross-products "
                        "LASSO, default) or pantompkins")
    add_parallel_arguments(p)


def add_parallel_arguments(p):
    p.add_argument("--jobs", type=int, default=1,
                   help="records processed in parallel (joblib processes; -1 = all cores)")
    p.add_argument("--dask-scheduler", metavar="ADDRESS", default=None,
                   help="run the records on this Dask cluster instead (e.g. "
                        "tcp://scheduler:8786; sparse-events must be installed on the workers, "
                        "and the input and output paths visible to them)")
    bar = p.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_const", const=True,
                     default=None, help="always show progress bars")
    bar.add_argument("--no-progress", dest="progress", action="store_const", const=False,
                     help="never show progress bars (default: only on a terminal)")


def add_parser(sub):
    p = sub.add_parser(
        "detect", help="detect R peaks in ECG records, one CSV of peaks per record",
        description=(
            "Detect the R peaks of each record (sparse_events.ecg.ecg_peaks) and write "
            "DIR/<record>.csv with a header row 'sample,time_s' and one peak per row "
            "(sample index from the start of the record). On request also: a WFDB "
            "annotation file DIR/<record>.<ext> readable by wfdb.rdann(DIR/<record>, ext), "
            "an HRV summary DIR/<record>_hrv.csv (neurokit2 hrv_time and hrv_frequency), "
            "and a plot DIR/<record>.png. A record that fails (e.g. --hrv with fewer than "
            "3 peaks) gets none of its files: they are written only once all succeeded."),
        epilog="Example: sparse-events detect ../shared/data/mitdb/101 "
               "../shared/data/mitdb/106 --out peaks --annotations --hrv --jobs 2")
    add_common_input_arguments(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created)")
    p.add_argument("--annotations", nargs="?", const="qrs", default=None, metavar="EXT",
                   help="also write a WFDB annotation file with this extension "
                        "(default extension 'qrs'; symbol N for every peak); the record "
                        "names (file names without extension) must then hold only letters, "
                        "digits, hyphens and underscores, as WFDB requires")
    p.add_argument("--hrv", action="store_true",
                   help="also write an HRV summary per record (neurokit2)")
    p.add_argument("--plot", action="store_true",
                   help="also save a PNG of the first --plot-seconds of each record")
    p.add_argument("--plot-seconds", type=float, default=10.0,
                   help="length of the plotted excerpt in seconds (default 10)")
    p.set_defaults(func=run)
    return p


def detect_peaks(signal, sampling_rate, method, chunk_progress=False):
    """R-peak sample indices by ``sparse_events.ecg.ecg_peaks``.

    ``chunk_progress=True`` shows the sparse detector's per-chunk bars (one per pass).
    """
    from ..ecg import ecg_peaks

    kwargs = {"progress": True} if chunk_progress and method == "sparse" else {}
    _, info = ecg_peaks(signal, sampling_rate=sampling_rate, method=method, **kwargs)
    return np.asarray(info["ECG_R_Peaks"], dtype=np.int64)


def detect_record(spec, *, method, out_dir, annotations=None, hrv=False, plot=False,
                  plot_seconds=10.0, chunk_progress=False):
    """Detect one record and write its outputs; returns a summary dict (batch worker).

    All or nothing: everything that can fail (reading, detection, the HRV summary, the
    annotation and plot files) is done first, into a private temporary directory
    ``.<record>.<random>.partial`` inside ``out_dir``; only then are the files moved to
    ``out_dir``, the files of an earlier run that they replace being moved aside first
    and put back if a move fails.  A record that fails leaves no output of this run
    behind, and the files of an earlier run as they were.  An output name that is a
    directory in ``out_dir`` is an error before anything is moved.  Temporary
    directories of the same record left by a run that died (killed worker) are removed
    first; two runs writing the same record into the same ``out_dir`` at the same time
    are not supported.

    ``chunk_progress=True`` adds the sparse detector's per-chunk progress bars (the CLI
    asks for them with ``--progress`` when records are processed serially).
    """
    import shutil
    import tempfile

    import pandas as pd

    t0 = time.perf_counter()
    signal = read_signal(spec)
    peaks = detect_peaks(signal, spec.sampling_rate, method, chunk_progress=chunk_progress)
    elapsed = time.perf_counter() - t0
    if annotations and peaks.size == 0:
        raise ValueError(f"{spec.name}: no R peak found, and a WFDB annotation file "
                         "(--annotations) needs at least one annotation; nothing written")
    hrv_table = _hrv_table(peaks, spec) if hrv else None
    out = Path(out_dir)
    _remove_stale_partials(out, spec.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{spec.name}.", suffix=".partial", dir=out))
    written = []
    try:
        csv = f"{spec.name}.csv"
        pd.DataFrame({"sample": peaks, "time_s": peaks / spec.sampling_rate}).to_csv(
            tmp / csv, index=False)
        written.append(csv)
        if annotations:
            import wfdb

            wfdb.wrann(spec.name, annotations, sample=peaks, symbol=["N"] * peaks.size,
                       fs=spec.sampling_rate, write_dir=str(tmp))
            written.append(f"{spec.name}.{annotations}")
        if hrv:
            written.append(f"{spec.name}_hrv.csv")
            hrv_table.to_csv(tmp / written[-1], index=False)
        if plot:
            import matplotlib.pyplot as plt

            from ..plotting import plot_detections

            stop = min(signal.size, max(1, int(round(plot_seconds * spec.sampling_rate))))
            fig = plot_detections(signal, peaks, sampling_rate=spec.sampling_rate, stop=stop,
                                  title=f"{spec.name}: R peaks ({method})")
            try:
                fig.savefig(tmp / f"{spec.name}.png", dpi=100)
            finally:
                plt.close(fig)
            written.append(f"{spec.name}.png")
        _move_all(tmp, out, written)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rr = np.diff(peaks) / spec.sampling_rate
    return {"record": spec.name, "samples": signal.size, "fs": spec.sampling_rate,
            "peaks": int(peaks.size),
            "mean_hr_bpm": float(60.0 / rr.mean()) if rr.size else float("nan"),
            "seconds": elapsed, "files": written}


def _remove_stale_partials(out, name):
    """Remove ``.<name>.<8 random characters>.partial`` directories (tempfile.mkdtemp's
    names for this record) left in ``out`` by a run whose worker died while writing."""
    import shutil

    pattern = re.compile(re.escape(f".{name}.") + r"[a-z0-9_]{8}\.partial")
    for entry in out.iterdir():
        if pattern.fullmatch(entry.name) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)


def _move_all(tmp, out, names):
    """Move ``tmp/<name>`` to ``out/<name>`` for every name, all or nothing.

    The files of ``out`` that are replaced are first moved aside into ``tmp/previous``
    (same file system: renames); if a move fails, the files moved in are removed and the
    earlier ones put back, then the error is raised.  The caller removes ``tmp``.
    """
    for name in names:
        target = out / name
        if target.is_dir() and not target.is_symlink():
            raise ValueError(f"{target} is a directory: cannot write the output file "
                             f"{name} there; nothing written")
    previous = tmp / "previous"
    previous.mkdir()
    aside, moved = [], []
    try:
        for name in names:
            if os.path.lexists(out / name):
                os.replace(out / name, previous / name)
                aside.append(name)
        for name in names:
            os.replace(tmp / name, out / name)
            moved.append(name)
    except BaseException:
        for name in moved:  # take back what this run wrote ...
            (out / name).unlink(missing_ok=True)
        for name in aside:  # ... and put the earlier files back
            os.replace(previous / name, out / name)
        raise


def _hrv_table(peaks, spec):
    """HRV summary of one record (neurokit2 hrv_time, and hrv_frequency from 60 s of beats)."""
    import warnings

    import neurokit2 as nk
    import pandas as pd

    if peaks.size < 3:
        raise ValueError(f"{spec.name}: {peaks.size} R peak(s) found, too few for HRV "
                         "(--hrv needs at least 3); nothing written")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parts = [nk.hrv_time(peaks, sampling_rate=spec.sampling_rate)]
        duration_s = (peaks[-1] - peaks[0]) / spec.sampling_rate
        if duration_s >= 60.0:  # frequency measures need at least a minute of beats
            parts.append(nk.hrv_frequency(peaks, sampling_rate=spec.sampling_rate))
    table = pd.concat(parts, axis=1)
    table.insert(0, "record", spec.name)
    return table


def check_annotation_names(specs):
    """With ``--annotations`` every record name must be a valid WFDB record name.

    ``wfdb.wrann`` accepts only letters, digits, hyphens and underscores in the record
    name (the output file is ``<name>.<ext>``); a name such as ``rec.v2`` or ``my rec``
    (from ``rec.v2.npy``, ``my rec.csv``) is refused up front, before any work.
    """
    for spec in specs:
        if not spec.name or re.search(r"[^-\w]", spec.name):
            raise UserError(f"{spec.path}: the record name {spec.name!r} cannot name a WFDB "
                            "annotation file (--annotations): WFDB record names may only "
                            "hold letters, digits, hyphens and underscores; rename the file")


def output_names(name, *, annotations=None, hrv=False, plot=False):
    """The files :func:`detect_record` writes for the record ``name``."""
    names = [f"{name}.csv"]
    if annotations:
        names.append(f"{name}.{annotations}")
    if hrv:
        names.append(f"{name}_hrv.csv")
    if plot:
        names.append(f"{name}.png")
    return names


#: the annotator of reference annotations in PhysioNet databases (MIT-BIH ``.atr``):
#: ``--annotations atr`` into a record's directory must not replace them
REFERENCE_ANNOTATOR = "atr"


def check_outputs_spare_inputs(specs, args):
    """Refuse up front an output file that is one of the inputs (``detect ecg.csv --out
    .`` would replace ecg.csv by its peaks), or a file of an input record: its header,
    its signal files, or its reference annotations (``--annotations atr`` beside the
    record).  Another annotator's file beside the record (``.qrs``, the default) may be
    our own earlier output and is replaced, so that detection can be re-run."""
    protected = args.annotations if args.annotations == REFERENCE_ANNOTATOR else None
    inputs = [f for spec in specs for f in record_files(spec, protected)]
    outputs = [(f"--out {args.out}: output file", Path(args.out) / name) for spec in specs
               for name in output_names(spec.name, annotations=args.annotations,
                                        hrv=args.hrv, plot=args.plot)]
    check_no_overwrite(outputs, inputs)


def check_jobs(jobs):
    if jobs == 0 or jobs < -1:
        raise UserError(f"--jobs must be a positive integer or -1, got {jobs}")


def batch(func, items, args, desc, **kwargs):
    """``run_batch`` locally (``--jobs``) or on the cluster of ``--dask-scheduler``."""
    from ..batch import run_batch

    if args.dask_scheduler is None:
        return run_batch(func, items, jobs=args.jobs, progress=args.progress, desc=desc,
                         **kwargs)
    try:
        from dask.distributed import Client
    except ImportError:
        raise UserError("--dask-scheduler needs dask.distributed: pip install "
                        "'sparse-events[dask]'") from None
    try:
        client = Client(args.dask_scheduler, timeout="10s")
    except Exception as exc:
        raise UserError(f"cannot connect to the Dask scheduler {args.dask_scheduler!r} "
                        f"({type(exc).__name__}: {exc})") from None
    with client:
        return run_batch(func, items, client=client, progress=args.progress, desc=desc,
                         **kwargs)


def report_failures(command, failed) -> int:
    for item in failed:
        name = getattr(item.item, "name", item.item)
        msg = " ".join(str(item.error).split())
        print(f"sparse-events {command}: error: {name}: {msg}", file=sys.stderr)
    return 1 if failed else 0


def run(args) -> int:
    check_jobs(args.jobs)
    check_method(args.method)
    check_number(args.plot_seconds, "--plot-seconds", low=0, low_inclusive=False)
    if args.annotations is not None and not args.annotations.isalnum():
        raise UserError(f"--annotations extension must be alphanumeric, got {args.annotations!r}")
    specs = resolve_inputs(args.paths, channel=args.channel, sampling_rate=args.sampling_rate)
    if args.annotations is not None:
        check_annotation_names(specs)
    check_outputs_spare_inputs(specs, args)
    out = make_output_directory(args.out, "--out")
    # per-chunk bars only when explicitly asked and records run one after the other in
    # this process (bars from worker processes would interleave)
    chunk_progress = (args.progress is True and args.jobs == 1
                      and args.dask_scheduler is None)
    results = batch(detect_record, specs, args, "detect", method=args.method, out_dir=str(out),
                    annotations=args.annotations, hrv=args.hrv, plot=args.plot,
                    plot_seconds=args.plot_seconds, chunk_progress=chunk_progress)
    ok = [r.value for r in results if r.ok]
    if ok:
        print("| record | samples | fs (Hz) | R peaks | mean HR (bpm) | run time (s) | files |")
        print("|---|---|---|---|---|---|---|")
        for v in ok:
            print(f"| {v['record']} | {v['samples']} | {v['fs']:g} | {v['peaks']} | "
                  f"{v['mean_hr_bpm']:.1f} | {v['seconds']:.2f} | {', '.join(v['files'])} |")
        print(f"outputs in {out}")
    return report_failures("detect", [r for r in results if not r.ok])
