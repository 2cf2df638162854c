"""``ecg/mitdb_benchmark.py`` run as a script with worker processes (``--jobs 2``).

Run as a script, the benchmark module is ``__main__``: joblib sends ``run_record``
and the globals it uses to the workers by value, so everything it calls must
survive that (a ``functools.cache`` wrapper did not: BrokenProcessPool).  Runs on
the two committed 60 s MIT-BIH excerpts (too short for the 5-minute learning
period, so both rows report that error: the point is that the workers run).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "ecg" / "mitdb_benchmark.py"
EXCERPTS = REPO / "tests" / "data" / "mitdb_excerpt"
RECORDS = ("mitdb119_0_60s", "mitdb208_0_60s")

pytest.importorskip("neurokit2")  # the script reports its version (bench extra)
pytest.importorskip("joblib")


def test_mitdb_benchmark_script_runs_with_two_jobs(tmp_path):
    mitdb = tmp_path / "data" / "mitdb"
    mitdb.mkdir(parents=True)
    for name in RECORDS:
        for suffix in (".hea", ".dat", ".atr"):
            shutil.copy(EXCERPTS / (name + suffix), mitdb)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--methods", "pantompkins", "--no-write", "--jobs", "2",
         "--data-dir", str(tmp_path / "data"), "--records", ",".join(RECORDS)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "BrokenProcessPool" not in proc.stderr
    for name in RECORDS:  # one row per record, i.e. each worker ran run_record
        assert f"| {name} |" in proc.stdout
        assert f"- {name} pantompkins: ValueError" in proc.stdout  # 60 s < learning period
