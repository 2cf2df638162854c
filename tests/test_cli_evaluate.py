"""``sparse-events evaluate``: the printed EC57 table equals the library scorer's."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sparse_events.cli import main

DATA = Path(__file__).parent / "data" / "mitdb_excerpt"
RECORDS = [str(DATA / "mitdb208_0_60s"), str(DATA / "mitdb119_0_60s")]


def _library_results(method, learning_period_s=0.0):
    from sparse_events.ecg import ecg_peaks, evaluate, read_wfdb_record

    results = []
    for path in RECORDS:
        rec = read_wfdb_record(path)
        _, info = ecg_peaks(rec.signal, sampling_rate=rec.sampling_rate, method=method)
        results.append(evaluate(info, rec, learning_period_s=learning_period_s,
                                record=rec.name))
    return results


def _table_rows(stdout):
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 10 and cells[1].isdigit():
            rows[cells[0].strip("*")] = cells
    return rows


def test_table_equals_library_scorer(tmp_path, capsys):
    from sparse_events.ecg import ec57_table, gross_statistics

    out_csv = tmp_path / "table.csv"
    assert main(["evaluate", *RECORDS, "--method", "pantompkins", "--learning-period-s", "0",
                 "--out", str(out_csv), "--plot-dir", str(tmp_path / "plots"),
                 "--no-progress"]) == 0
    rows = _table_rows(capsys.readouterr().out)
    expected = _library_results("pantompkins")
    for r in expected:
        cells = rows[r.record]
        assert [int(c) for c in cells[1:5]] == [r.n_reference, r.tp, r.fn, r.fp]
        assert float(cells[5]) == pytest.approx(100 * r.sensitivity, abs=0.006)
        assert float(cells[6]) == pytest.approx(100 * r.positive_predictivity, abs=0.006)
    g = gross_statistics(expected)
    assert [int(c) for c in rows["gross"][1:5]] == [g["n_reference"], g["tp"], g["fn"], g["fp"]]
    saved = pd.read_csv(out_csv)
    ref = ec57_table(expected)
    pd.testing.assert_frame_equal(saved.drop(columns="run_time_s"), ref, check_dtype=False)
    for name in ("mitdb208_0_60s", "mitdb119_0_60s"):
        assert (tmp_path / "plots" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_detections_from_detect_outputs(tmp_path, capsys):
    assert main(["detect", *RECORDS, "--out", str(tmp_path), "--method", "pantompkins",
                 "--annotations", "--no-progress"]) == 0
    capsys.readouterr()
    direct = _library_results("pantompkins", learning_period_s=10.0)
    for extra in (["--detections", str(tmp_path)],
                  ["--detections", str(tmp_path), "--test-annotator", "qrs"]):
        assert main(["evaluate", *RECORDS, *extra, "--learning-period-s", "10",
                     "--no-progress"]) == 0
        rows = _table_rows(capsys.readouterr().out)
        for r in direct:
            assert [int(c) for c in rows[r.record][1:5]] == [r.n_reference, r.tp, r.fn, r.fp]


def test_shifted_detections_are_scored_as_errors(tmp_path, capsys):
    # detections moved by 200 ms (> the 150 ms window): every beat is missed and
    # every detection is false, as the scorer's definition requires
    from sparse_events.ecg import read_wfdb_record

    rec = read_wfdb_record(RECORDS[1])
    beats = rec.scored_beat_samples
    shifted = beats + int(0.2 * rec.sampling_rate)
    shifted = shifted[shifted < rec.n_samples]
    pd.DataFrame({"sample": shifted}).to_csv(tmp_path / "mitdb119_0_60s.csv", index=False)
    assert main(["evaluate", RECORDS[1], "--detections", str(tmp_path),
                 "--learning-period-s", "0", "--no-progress"]) == 0
    cells = _table_rows(capsys.readouterr().out)["mitdb119_0_60s"]
    assert int(cells[2]) == 0 and int(cells[3]) == beats.size and int(cells[4]) == shifted.size


@pytest.mark.parametrize("args, fragment", [
    (["evaluate", "nowhere/100"], "WFDB header"),
    (["evaluate", RECORDS[0], "--annotator", "xyz"], "reference annotation file"),
    (["evaluate", RECORDS[0], "--detections", "{tmp}"], "detections file"),
    (["evaluate", RECORDS[0], "--test-annotator", "zzz"], "detection annotation file"),
    (["evaluate", RECORDS[0], "--channel", "7"], "out of range"),
    (["evaluate", "{csv}"], "WFDB records"),
    (["evaluate", RECORDS[0], "--match-window-s", "0"], "--match-window-s"),
])
def test_bad_input_one_line(tmp_path, capsys, args, fragment):
    csv = tmp_path / "x.csv"
    np.savetxt(csv, np.zeros(10))
    code = main([a.format(tmp=tmp_path, csv=csv) for a in args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and fragment in err[0], err


def test_missing_record_hint_does_not_suggest_csv(capsys):
    # evaluate refuses CSV files: its hint for a missing record must not offer one
    assert main(["evaluate", "nowhere/100", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "WFDB header" in err and "needs WFDB records" in err
    assert ".csv" not in err and "--sampling-rate" not in err
    # detect reads CSV files: its hint still says so
    assert main(["detect", "nowhere/100", "--out", "nowhere_out", "--no-progress"]) == 2
    assert ".csv/.npy file with --sampling-rate" in capsys.readouterr().err


def test_module_help():
    out = subprocess.run([sys.executable, "-m", "sparse_events", "evaluate", "--help"],
                         capture_output=True, text=True, check=True)
    assert "EC57" in out.stdout and "--detections" in out.stdout


def test_dask_scheduler_gives_the_serial_table(capsys):
    from dask.distributed import LocalCluster

    args = ["evaluate", *RECORDS, "--method", "pantompkins", "--learning-period-s", "0",
            "--no-progress"]
    assert main(args) == 0
    serial = _table_rows(capsys.readouterr().out)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        assert main(args + ["--dask-scheduler", cluster.scheduler_address]) == 0
    on_dask = _table_rows(capsys.readouterr().out)
    assert set(serial) == set(on_dask) == {"mitdb208_0_60s", "mitdb119_0_60s", "gross"}
    for name in serial:  # counts and scores identical (run times differ)
        assert serial[name][:8] == on_dask[name][:8]


def test_directory_means_all_its_records(tmp_path, capsys):
    assert main(["evaluate", str(DATA), "--method", "pantompkins", "--learning-period-s", "0",
                 "--no-progress"]) == 0
    rows = _table_rows(capsys.readouterr().out)
    for r in _library_results("pantompkins"):
        assert [int(c) for c in rows[r.record][1:5]] == [r.n_reference, r.tp, r.fn, r.fp]
    (tmp_path / "empty").mkdir()
    assert main(["evaluate", str(tmp_path / "empty")]) == 2
    assert "no .hea" in capsys.readouterr().err


@pytest.mark.parametrize("learning_period_s", ["0", "10"])
def test_reference_annotator_scored_against_itself_is_perfect(capsys, learning_period_s):
    # the test annotator holds rhythm '+' and noise '~' marks besides the beats: only its
    # beat annotations are detections, as only beats are reference beats
    import wfdb

    from sparse_events.ecg import BEAT_SYMBOLS, evaluate, read_wfdb_record

    assert main(["evaluate", *RECORDS, "--test-annotator", "atr", "--learning-period-s",
                 learning_period_s, "--no-progress"]) == 0
    rows = _table_rows(capsys.readouterr().out)
    for path in RECORDS:
        rec = read_wfdb_record(path)
        assert set(rec.annotation_symbols) - BEAT_SYMBOLS  # non-beat marks are present
        expected = evaluate(rec.scored_beat_samples, rec,
                            learning_period_s=float(learning_period_s))
        assert expected.fn == 0 and expected.fp == 0
        ann = wfdb.rdann(path, "atr")
        assert len(ann.sample) > rec.scored_beat_samples.size
        cells = rows[rec.name]
        assert [int(c) for c in cells[1:5]] == [expected.n_reference, expected.n_reference, 0, 0]
        assert float(cells[5]) == 100.0 and float(cells[6]) == 100.0
    assert [int(c) for c in rows["gross"][3:5]] == [0, 0]


@pytest.mark.parametrize("target", ["missing_dir/table.csv", "is_a_dir"])
def test_bad_out_is_refused_before_any_work(tmp_path, capsys, monkeypatch, target):
    from sparse_events.cli import _evaluate

    (tmp_path / "is_a_dir").mkdir()
    calls = []
    monkeypatch.setattr(_evaluate, "batch", lambda *a, **k: calls.append(a) or [])
    code = main(["evaluate", *RECORDS, "--method", "pantompkins", "--learning-period-s", "0",
                 "--no-progress", "--out", str(tmp_path / target)])
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--out" in err[0], err
    assert calls == [] and captured.out == ""


@pytest.mark.parametrize("target", ["a_file", "a_file/sub"])
def test_bad_plot_dir_is_refused_before_any_work(tmp_path, capsys, monkeypatch, target):
    # an existing file given as --plot-dir stopped with "[Errno 17] File exists", not
    # naming the option
    from sparse_events.cli import _evaluate

    (tmp_path / "a_file").write_text("x")
    calls = []
    monkeypatch.setattr(_evaluate, "batch", lambda *a, **k: calls.append(a) or [])
    code = main(["evaluate", *RECORDS, "--method", "pantompkins", "--no-progress",
                 "--plot-dir", str(tmp_path / target)])
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--plot-dir" in err[0], err
    assert calls == [] and captured.out == ""


def test_truncated_test_annotator_is_an_error(tmp_path, capsys):
    # --test-annotator read with wfdb.rdann alone: the first half of an annotation file
    # was scored silently (27 of 65 beats found); the library's reader refuses it
    record = Path(RECORDS[1])
    raw = record.with_name(record.name + ".atr").read_bytes()
    (tmp_path / f"{record.name}.atr").write_bytes(raw[: len(raw) // 4 * 2])
    code = main(["evaluate", str(record), "--test-annotator", "atr", "--detections",
                 str(tmp_path), "--learning-period-s", "0", "--no-progress"])
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert code == 1 and len(err) == 1, captured.err
    assert f"{record.name}.atr" in err[0] and "truncated" in err[0], err


def test_test_annotator_rdann_would_loop_on_is_an_error(tmp_path):
    # a '## ' definition note at sample 0 that wfdb.rdann does not know makes it loop
    # forever: the command hung; in a subprocess, so that a regression fails, not hangs
    import wfdb

    record = Path(RECORDS[1])
    wfdb.wrann(record.name, "tst", sample=np.array([0, 300, 600]), symbol=['"', "N", "N"],
               aux_note=["## not a definition", "", ""], write_dir=str(tmp_path))
    proc = subprocess.run(
        [sys.executable, "-m", "sparse_events", "evaluate", str(record), "--test-annotator",
         "tst", "--detections", str(tmp_path), "--learning-period-s", "0", "--no-progress"],
        capture_output=True, text=True, timeout=120)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(err) == 1, proc.stderr
    assert f"{record.name}.tst" in err[0] and "definition note" in err[0], err
