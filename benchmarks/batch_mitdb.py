"""Batch R-peak detection + EC57 scoring over MIT-BIH records: serial vs 2 workers.

Runs the per-record job "read record -> sparse_events.ecg.ecg_peaks -> EC57
evaluate" over every record in the MIT-BIH folder with
``sparse_events.batch.run_batch``: serially (jobs=1), with 2 joblib (loky)
processes, and on a Dask ``LocalCluster`` of 2 single-threaded worker processes;
checks that every run returns the serial results (same detections, same
scores, same order) and prints a markdown table of wall times and speed-ups.

Workers are started and warmed up (imports, numba compilation) before timing,
as a long-lived cluster would be; the one-off start-up cost is reported
separately.  Every process is limited to one BLAS/numba thread.  The sum of
the per-record job times (each measured inside its worker) shows contention:
on an idle machine with 2 free cores the 2-worker wall time is close to half
that sum, and the sum itself close to the serial one.  The per-record CPU time
(``time.thread_time`` of the worker thread) does not grow with contention: when
the job times of a parallel run grow but its CPU times do not, the cores were
busy with other work.

Usage::

    python benchmarks/batch_mitdb.py                       # all records, method sparse
    python benchmarks/batch_mitdb.py --method pantompkins --records 101 208
    python benchmarks/batch_mitdb.py --data-dir /path/to/mitdb --no-dask

While the package is being edited, run it on a frozen copy so that every process
imports the same code: ``cp -r sparse_events /tmp/snap/ && PYTHONPATH=/tmp/snap
python benchmarks/batch_mitdb.py`` (the imported path is printed on stderr).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from importlib.metadata import version  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mitdb"


def _default_mitdb():
    """``$SPARSE_EVENTS_DATA/mitdb`` when that data-folder variable is set, else
    ``../shared/data/mitdb`` beside the repository."""
    data = os.environ.get("SPARSE_EVENTS_DATA")
    return Path(data) / "mitdb" if data else DEFAULT_DATA


def detect_and_score(path, *, method, channel=0):
    """The per-record job: detections and EC57 result (module level: picklable)."""
    from sparse_events.ecg import ecg_peaks, evaluate, read_wfdb_record

    t0, c0 = time.perf_counter(), time.thread_time()
    rec = read_wfdb_record(path, channel=channel)
    _, info = ecg_peaks(rec.signal, sampling_rate=rec.sampling_rate, method=method)
    res = evaluate(info, rec, record=rec.name)
    return {"record": rec.name, "peaks": np.asarray(info["ECG_R_Peaks"]),
            "tp": res.tp, "fn": res.fn, "fp": res.fp, "job_s": time.perf_counter() - t0,
            "job_cpu_s": time.thread_time() - c0,
            "n_samples": rec.n_samples}


def _warm(path, *, method):
    """Short job that imports and compiles everything the real job needs."""
    from sparse_events.ecg import ecg_peaks, read_wfdb_record

    rec = read_wfdb_record(path, sampto=60 * 360, annotator=None)
    ecg_peaks(rec.signal, sampling_rate=rec.sampling_rate, method=method)
    import sparse_events

    return os.getpid(), sparse_events.__file__


def _same(a, b, label=""):
    """Whether two runs gave the same results in the same order (differences to stderr)."""
    same = len(a) == len(b)
    for x, y in zip(a, b):
        if not (x.ok and y.ok):
            print(f"{label}: {y.item}: failed ({x.error} / {y.error})", file=sys.stderr)
            same = False
        elif x.item != y.item or not np.array_equal(x.value["peaks"], y.value["peaks"]):
            print(f"{label}: {y.item}: {x.value['peaks'].size} vs {y.value['peaks'].size} "
                  "peaks", file=sys.stderr)
            same = False
    return same


def _job_sum(results, key="job_s"):
    return sum(r.value[key] for r in results if r.ok)


def _machine():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines()
                     if line.startswith("Model name"))
    except Exception:
        model = platform.processor() or "unknown"
    return f"{model}, {os.cpu_count()} logical CPUs"


def _uptime():
    """``uptime`` output (load averages over 1, 5, 15 minutes) and the 1-minute load."""
    try:
        text = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except Exception:
        text = ""
    load1 = os.getloadavg()[0]
    return text or f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}", load1


def main(argv=None):
    from sparse_events.batch import run_batch

    uptime_before, load_before = _uptime()
    print(f"uptime before: {uptime_before}", file=sys.stderr)

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", type=Path,
                    default=Path(os.environ.get("SPARSE_EVENTS_MITDB", _default_mitdb())))
    ap.add_argument("--records", nargs="*", default=None, help="record names (default: all)")
    ap.add_argument("--method", default="sparse")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-dask", action="store_true")
    ap.add_argument("--dask-malloc-trim", default="default",
                    help="MALLOC_TRIM_THRESHOLD_ the Dask nanny sets in its workers: "
                         "'default' keeps Dask's setting (65536), 'unset' removes it "
                         "(glibc's own adaptive threshold), or a number of bytes")
    args = ap.parse_args(argv)

    names = args.records or sorted(p.stem for p in args.data_dir.glob("*.hea"))
    paths = [str(args.data_dir / n) for n in names]
    if not paths:
        sys.exit(f"no WFDB records in {args.data_dir}")
    kw = dict(method=args.method)
    print(f"{len(paths)} records from {args.data_dir}, method {args.method!r}", file=sys.stderr)

    _, here = _warm(paths[0], **kw)  # this process: imports, numba compilation (cached)
    print(f"this process imports {here}", file=sys.stderr)
    t0 = time.perf_counter()
    serial = run_batch(detect_and_score, paths, jobs=1, progress=False, **kw)
    t_serial = time.perf_counter() - t0
    rows = [("serial (jobs=1)", t_serial, None, _same(serial, serial), _job_sum(serial),
             _job_sum(serial, "job_cpu_s"))]

    from joblib import Parallel, delayed

    t0 = time.perf_counter()
    # several short warm-up tasks per worker, so that every worker gets some
    pids = Parallel(n_jobs=args.jobs)(delayed(_warm)(paths[0], **kw) for _ in range(4 * args.jobs))
    print(f"joblib warm-up ran on {len({p for p, _ in pids})} worker process(es) importing "
          f"{sorted({f for _, f in pids})}", file=sys.stderr)
    start_joblib = time.perf_counter() - t0
    t0 = time.perf_counter()
    par = run_batch(detect_and_score, paths, jobs=args.jobs, progress=False, **kw)
    t_par = time.perf_counter() - t0
    rows.append((f"joblib loky, {args.jobs} processes", t_par, start_joblib,
                 _same(serial, par, "joblib"), _job_sum(par),
                 _job_sum(par, "job_cpu_s")))

    if not args.no_dask:
        from dask.distributed import Client, LocalCluster

        import dask

        environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
        if args.dask_malloc_trim == "unset":
            environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        elif args.dask_malloc_trim != "default":
            environ["MALLOC_TRIM_THRESHOLD_"] = int(args.dask_malloc_trim)
        dask.config.set({"distributed.nanny.pre-spawn-environ": environ})
        t0 = time.perf_counter()
        with LocalCluster(n_workers=args.jobs, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            files = client.run(_warm, paths[0], **kw)
            print(f"dask workers import {sorted({f for _, f in files.values()})}",
                  file=sys.stderr)
            start_dask = time.perf_counter() - t0
            t0 = time.perf_counter()
            dres = run_batch(detect_and_score, paths, client=client, progress=False, **kw)
            t_dask = time.perf_counter() - t0
        rows.append((f"Dask LocalCluster, {args.jobs} workers x 1 thread", t_dask, start_dask,
                     _same(serial, dres, "dask"), _job_sum(dres),
                     _job_sum(dres, "job_cpu_s")))

    uptime_after, load_after = _uptime()
    print(f"uptime after: {uptime_after}", file=sys.stderr)
    n_samples = sum(r.value["n_samples"] for r in serial if r.ok)
    tp = sum(r.value["tp"] for r in serial if r.ok)
    fn = sum(r.value["fn"] for r in serial if r.ok)
    fp = sum(r.value["fp"] for r in serial if r.ok)
    failed = [r.item for r in serial if not r.ok]
    cmd = "python benchmarks/batch_mitdb.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(f"Command: `{cmd.strip()}`  ")
    print(f"Machine: {_machine()} (shared with other jobs); Python {platform.python_version()}, "
          f"sparse-events {version('sparse-events')}, numpy {np.__version__}, "
          f"joblib {version('joblib')}, dask {version('dask')}, numba {version('numba')}  ")
    print(f"Job per record: read channel 0, `ecg_peaks(method={args.method!r})`, EC57 "
          f"`evaluate`; {len(paths)} records, {n_samples / 1e6:.1f} M samples; gross "
          f"Se {100 * tp / max(tp + fn, 1):.2f} %, +P {100 * tp / max(tp + fp, 1):.2f} % "
          f"(failed records: {failed or 'none'})  ")
    print(f"`uptime` before: `{uptime_before}`  ")
    print(f"`uptime` after: `{uptime_after}`  ")
    print("(the load after the runs includes this benchmark's own processes, up to about "
          f"{args.jobs})  ")
    if load_before > 2 or load_after > 2 + args.jobs:
        print(f"**1-minute load above 2 ({load_before:.2f} before, {load_after:.2f} after) on a "
              f"machine with {os.cpu_count()} logical CPUs: other jobs competed for the cores, "
              "so the speed-ups below are not a meaningful measure of the 2-worker "
              "scaling.**")
    print()
    print("| run | wall time (s) | speed-up vs serial | sum of per-record job times (s) | "
          "sum of per-record CPU times (s) | worker start + warm-up (s) | "
          "results identical to serial, same order |")
    print("|---|---|---|---|---|---|---|")
    for name, t, start, same, job_sum, cpu_sum in rows:
        start_txt = "-" if start is None else f"{start:.1f}"
        print(f"| {name} | {t:.1f} | {t_serial / t:.2f}x | {job_sum:.1f} | {cpu_sum:.1f} | "
              f"{start_txt} | {'yes' if same else 'NO'} |")
    return 0 if all(r[3] for r in rows) and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
