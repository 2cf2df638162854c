"""``sparse-events detect``: outputs read back equal the library's results; bad input."""

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sparse_events.cli import main

DATA = Path(__file__).parent / "data" / "mitdb_excerpt"
REC208 = str(DATA / "mitdb208_0_60s")
REC119 = str(DATA / "mitdb119_0_60s")
SCRIPT = Path(sys.executable).parent / "sparse-events"


def _record_signal(path, channel=0):
    import wfdb

    rec = wfdb.rdrecord(path, channels=[channel])
    return rec.p_signal[:, 0], rec.fs


def _library_peaks(signal, fs, method):
    from sparse_events.ecg import ecg_peaks

    return ecg_peaks(signal, sampling_rate=fs, method=method)[1]["ECG_R_Peaks"]


def _one_error_line(capsys, *fragments):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def test_wfdb_outputs_read_back(tmp_path, capsys):
    import neurokit2 as nk
    import wfdb

    out = tmp_path / "peaks"
    assert main(["detect", REC208, "--out", str(out), "--method", "pantompkins",
                 "--annotations", "--hrv", "--plot", "--no-progress"]) == 0
    signal, fs = _record_signal(REC208)
    expected = _library_peaks(signal, fs, "pantompkins")
    table = pd.read_csv(out / "mitdb208_0_60s.csv")
    assert list(table.columns) == ["sample", "time_s"]
    np.testing.assert_array_equal(table["sample"], expected)
    np.testing.assert_allclose(table["time_s"], expected / fs)
    ann = wfdb.rdann(str(out / "mitdb208_0_60s"), "qrs")
    np.testing.assert_array_equal(ann.sample, expected)
    assert set(ann.symbol) == {"N"} and ann.fs == fs
    hrv = pd.read_csv(out / "mitdb208_0_60s_hrv.csv")
    ref = nk.hrv_time(expected, sampling_rate=fs)
    for col in ("HRV_MeanNN", "HRV_SDNN", "HRV_RMSSD", "HRV_pNN50"):
        np.testing.assert_allclose(hrv[col].iloc[0], ref[col].iloc[0])
    assert (out / "mitdb208_0_60s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stdout = capsys.readouterr().out
    assert f"| mitdb208_0_60s | 21600 | 360 | {expected.size} |" in stdout


def test_default_method_is_sparse(tmp_path):
    assert main(["detect", REC119, "--out", str(tmp_path), "--no-progress"]) == 0
    signal, fs = _record_signal(REC119)
    table = pd.read_csv(tmp_path / "mitdb119_0_60s.csv")
    np.testing.assert_array_equal(table["sample"], _library_peaks(signal, fs, "sparse"))


def test_csv_and_numpy_inputs_match_library(tmp_path):
    signal, fs = _record_signal(REC119, channel=0)
    v1, _ = _record_signal(REC119, channel=1)
    csv = tmp_path / "two.csv"
    pd.DataFrame({"V1": v1, "MLII": signal}).to_csv(csv, index=False)
    npy = tmp_path / "arr.npy"
    np.save(npy, np.column_stack([v1, signal]))
    out = tmp_path / "out"
    assert main(["detect", str(csv), "--sampling-rate", "360", "--channel", "MLII",
                 "--out", str(out), "--method", "pantompkins", "--no-progress"]) == 0
    assert main(["detect", str(npy), "--sampling-rate", "360", "--channel", "1",
                 "--out", str(out), "--method", "pantompkins", "--no-progress"]) == 0
    expected = _library_peaks(signal, fs, "pantompkins")
    np.testing.assert_array_equal(pd.read_csv(out / "two.csv")["sample"], expected)
    np.testing.assert_array_equal(pd.read_csv(out / "arr.csv")["sample"], expected)


def test_headerless_single_column_csv(tmp_path):
    signal, fs = _record_signal(REC208)
    csv = tmp_path / "plain.txt"
    np.savetxt(csv, signal)
    assert main(["detect", str(csv), "--sampling-rate", str(fs), "--out", str(tmp_path / "o"),
                 "--method", "pantompkins", "--no-progress"]) == 0
    expected = _library_peaks(np.loadtxt(csv), fs, "pantompkins")
    np.testing.assert_array_equal(pd.read_csv(tmp_path / "o" / "plain.csv")["sample"], expected)


def test_parallel_jobs_write_the_same_files(tmp_path):
    a, b = tmp_path / "serial", tmp_path / "parallel"
    for out, jobs in [(a, "1"), (b, "2")]:
        assert main(["detect", REC208, REC119, "--out", str(out), "--jobs", jobs,
                     "--method", "pantompkins", "--annotations", "--no-progress"]) == 0
    for name in ["mitdb208_0_60s.csv", "mitdb119_0_60s.csv", "mitdb208_0_60s.qrs"]:
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_one_bad_record_does_not_lose_the_others(tmp_path, capsys):
    # a record whose .dat is truncated: the header is fine, reading the signal fails
    for ext in ("hea", "atr"):
        shutil.copy(DATA / f"mitdb208_0_60s.{ext}", tmp_path / f"mitdb208_0_60s.{ext}")
    (tmp_path / "mitdb208_0_60s.dat").write_bytes(
        (DATA / "mitdb208_0_60s.dat").read_bytes()[:100])
    out = tmp_path / "out"
    code = main(["detect", str(tmp_path / "mitdb208_0_60s"), REC119, "--out", str(out),
                 "--method", "pantompkins", "--no-progress"])
    assert code == 1
    _one_error_line(capsys, "mitdb208_0_60s")
    assert (out / "mitdb119_0_60s.csv").is_file()
    assert not (out / "mitdb208_0_60s.csv").exists()


@pytest.mark.parametrize("args, fragments", [
    (["detect", "no/such/record", "--out", "{tmp}"], ["no/such/record", "WFDB header"]),
    (["detect", "{tmp}/missing.csv", "--out", "{tmp}", "--sampling-rate", "360"],
     ["missing.csv", "not found"]),
    (["detect", "{csv}", "--out", "{tmp}"], ["--sampling-rate"]),
    (["detect", REC208, "--out", "{tmp}", "--channel", "2"], ["channel 2 out of range"]),
    (["detect", REC208, "--out", "{tmp}", "--channel", "V5"], ["no channel named 'V5'"]),
    (["detect", "{badhea}", "--out", "{tmp}"], ["unreadable WFDB header"]),
    (["detect", REC208, "--out", "{tmp}", "--sampling-rate", "250"], ["360", "250"]),
    (["detect", REC208, "--out", "{tmp}", "--jobs", "0"], ["--jobs"]),
    (["detect", REC208, "--out", "{tmp}", "--method", "magic"], ["--method", "pantompkins"]),
    (["detect", REC208, REC208, "--out", "{tmp}"], ["same name"]),
    (["detect", REC208], ["--out"]),
    (["detect", "{nancsv}", "--out", "{tmp}/out", "--sampling-rate", "100"], ["non-numeric"]),
    (["detect", "{nancsv}", "--out", "{tmp}", "--sampling-rate", "100"],
     ["would overwrite the input", "nan.csv"]),
])
def test_bad_input_one_line_nonzero(tmp_path, capsys, args, fragments):
    csv = tmp_path / "x.csv"
    np.savetxt(csv, np.zeros(1000))
    nancsv = tmp_path / "nan.csv"
    nancsv.write_text("ecg\n" + "\n".join(["0.1"] * 500 + ["abc"] + ["0.2"] * 500) + "\n")
    bad = tmp_path / "bad"
    (tmp_path / "bad.hea").write_text("this is not a header\n")
    fmt = dict(tmp=str(tmp_path), csv=str(csv), badhea=str(bad), nancsv=str(nancsv))
    code = main([a.format(**fmt) for a in args])
    assert code != 0
    _one_error_line(capsys, *fragments)


def test_console_script_help_and_error():
    assert SCRIPT.is_file(), "the sparse-events console script is not installed"
    out = subprocess.run([str(SCRIPT), "detect", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--annotations" in out.stdout and "--jobs" in out.stdout
    out = subprocess.run([str(SCRIPT), "detect", "nowhere/100", "--out", "x"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_progress_flag(tmp_path, capsys):
    args = ["detect", REC208, REC119, "--out", str(tmp_path), "--method", "pantompkins"]
    assert main(args + ["--progress"]) == 0
    assert "detect" in capsys.readouterr().err
    assert main(args + ["--no-progress"]) == 0
    assert capsys.readouterr().err == ""
    assert main(args) == 0  # not a terminal: silent
    assert capsys.readouterr().err == ""


def test_progress_flag_forwards_to_sparse_chunk_bars(tmp_path, capsys):
    """``--progress`` with serial records also shows the sparse detector's per-chunk bars,
    and the peaks are the same as without any bar."""
    args = ["detect", REC119, "--method", "sparse"]
    assert main(args + ["--out", str(tmp_path / "a"), "--progress"]) == 0
    err = capsys.readouterr().err
    assert "sparse R peaks, pass 1/" in err and "detect" in err
    assert main(args + ["--out", str(tmp_path / "b"), "--no-progress"]) == 0
    assert capsys.readouterr().err == ""
    name = Path(REC119).name
    a = pd.read_csv(tmp_path / "a" / f"{name}.csv")
    b = pd.read_csv(tmp_path / "b" / f"{name}.csv")
    pd.testing.assert_frame_equal(a, b)


def _files(directory):
    """Every entry of ``directory`` (hidden temporary ones included), [] if it is absent."""
    return sorted(p.name for p in Path(directory).iterdir()) if Path(directory).exists() else []


def test_failed_hrv_record_leaves_no_outputs(tmp_path, capsys):
    # a 2.2 s excerpt with fewer than 3 R peaks: --hrv fails for it, and none of its files
    # (CSV, annotations) may be left in --out; the good record of the same run is complete
    signal, fs = _record_signal(REC119)
    short = signal[100:100 + int(2.2 * fs)]
    assert _library_peaks(short, fs, "pantompkins").size < 3
    np.save(tmp_path / "short.npy", short)
    out = tmp_path / "out"
    code = main(["detect", str(tmp_path / "short.npy"), REC119, "--sampling-rate", str(fs),
                 "--out", str(out), "--method", "pantompkins", "--annotations", "--hrv",
                 "--no-progress"])
    assert code == 1
    _one_error_line(capsys, "short", "HRV")
    name = Path(REC119).name
    assert _files(out) == sorted([f"{name}.csv", f"{name}.qrs", f"{name}_hrv.csv"])


def test_failure_in_the_last_output_leaves_no_outputs(tmp_path, capsys, monkeypatch):
    # the plot is made last: when it fails, the CSV, annotation and HRV files of the
    # record are not left behind either
    import sparse_events.plotting

    def broken(*args, **kwargs):
        raise ValueError("plot failed")

    monkeypatch.setattr(sparse_events.plotting, "plot_detections", broken)
    out = tmp_path / "out"
    code = main(["detect", REC119, "--out", str(out), "--method", "pantompkins",
                 "--annotations", "--hrv", "--plot", "--no-progress"])
    assert code == 1
    _one_error_line(capsys, "mitdb119_0_60s", "plot failed")
    assert _files(out) == []


def test_no_peak_with_annotations_leaves_no_outputs(tmp_path, capsys, monkeypatch):
    from sparse_events.cli import _detect

    monkeypatch.setattr(_detect, "detect_peaks", lambda *a, **k: np.zeros(0, np.int64))
    out = tmp_path / "out"
    assert main(["detect", REC119, "--out", str(out), "--annotations", "--no-progress"]) == 1
    _one_error_line(capsys, "mitdb119_0_60s", "no R peak")
    assert _files(out) == []
    # without --annotations an empty peak table is a valid result
    assert main(["detect", REC119, "--out", str(out), "--no-progress"]) == 0
    assert _files(out) == ["mitdb119_0_60s.csv"]
    assert pd.read_csv(out / "mitdb119_0_60s.csv").shape == (0, 2)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "0"])
def test_plot_seconds_checked_up_front(tmp_path, capsys, value):
    out = tmp_path / "out"
    code = main(["detect", REC119, "--out", str(out), "--method", "pantompkins", "--plot",
                 "--plot-seconds", value, "--no-progress"])
    assert code == 2
    _one_error_line(capsys, "--plot-seconds")
    assert _files(out) == []


@pytest.mark.parametrize("stem", ["rec.v2", "my rec", "caf\u00e9+1"])
def test_annotations_need_a_wfdb_record_name(tmp_path, capsys, stem):
    signal, fs = _record_signal(REC119)
    path = tmp_path / f"{stem}.npy"
    np.save(path, signal)
    out = tmp_path / "out"
    code = main(["detect", str(path), "--sampling-rate", str(fs), "--out", str(out),
                 "--method", "pantompkins", "--annotations", "--no-progress"])
    assert code == 2
    _one_error_line(capsys, repr(stem), "letters, digits, hyphens and underscores")
    assert _files(out) == []
    # without --annotations the name is fine, and the peaks are the library's
    assert main(["detect", str(path), "--sampling-rate", str(fs), "--out", str(out),
                 "--method", "pantompkins", "--no-progress"]) == 0
    np.testing.assert_array_equal(pd.read_csv(out / f"{stem}.csv")["sample"],
                                  _library_peaks(signal, fs, "pantompkins"))


def test_hyphenated_name_writes_annotations(tmp_path):
    import wfdb

    signal, fs = _record_signal(REC119)
    np.save(tmp_path / "rec-3_a.npy", signal)
    out = tmp_path / "out"
    assert main(["detect", str(tmp_path / "rec-3_a.npy"), "--sampling-rate", str(fs),
                 "--out", str(out), "--method", "pantompkins", "--annotations",
                 "--no-progress"]) == 0
    assert _files(out) == ["rec-3_a.csv", "rec-3_a.qrs"]
    np.testing.assert_array_equal(wfdb.rdann(str(out / "rec-3_a"), "qrs").sample,
                                  _library_peaks(signal, fs, "pantompkins"))


def _earlier_run(out):
    """Outputs of an earlier run of REC119 in ``out``, each marked with its own content."""
    assert main(["detect", REC119, "--out", str(out), "--method", "pantompkins",
                 "--annotations", "--hrv", "--no-progress"]) == 0
    name = Path(REC119).name
    earlier = {}
    for f in (f"{name}.csv", f"{name}.qrs", f"{name}_hrv.csv"):
        earlier[f] = f"earlier run: {f}\n".encode()
        (out / f).write_bytes(earlier[f])
    return earlier


def test_output_name_taken_by_a_directory_keeps_the_earlier_files(tmp_path, capsys):
    # out/<record>.png is a directory: the record fails, and the files of the earlier run
    # are still there, unchanged (the CSV was replaced, then removed)
    out = tmp_path / "out"
    earlier = _earlier_run(out)
    (out / "mitdb119_0_60s.png").mkdir()
    capsys.readouterr()
    code = main(["detect", REC119, "--out", str(out), "--method", "pantompkins",
                 "--annotations", "--hrv", "--plot", "--no-progress"])
    assert code == 1
    assert "is a directory" in _one_error_line(capsys, "mitdb119_0_60s").lower()
    assert _files(out) == sorted([*earlier, "mitdb119_0_60s.png"])
    assert {f: (out / f).read_bytes() for f in earlier} == earlier


def test_move_failing_half_way_restores_the_earlier_files(tmp_path, capsys, monkeypatch):
    # the last move (the plot) fails after the others replaced the earlier files: those
    # come back, and nothing of this run is left
    import os

    out = tmp_path / "out"
    earlier = _earlier_run(out)
    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith(".png") and Path(dst).parent == out:
            raise OSError(f"disk full (test) writing {dst}")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    capsys.readouterr()
    code = main(["detect", REC119, "--out", str(out), "--method", "pantompkins",
                 "--annotations", "--hrv", "--plot", "--no-progress"])
    assert code == 1
    _one_error_line(capsys, "mitdb119_0_60s", "disk full")
    assert _files(out) == sorted(earlier)
    assert {f: (out / f).read_bytes() for f in earlier} == earlier


def test_stale_partial_directories_of_the_record_removed(tmp_path):
    # a worker that died while writing leaves .<record>.<random>.partial behind: the next
    # run of that record removes it; other hidden entries are left alone
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".mitdb119_0_60s.ab_cd123.partial"
    stale.mkdir()
    (stale / "mitdb119_0_60s.csv").write_text("sample,time_s\n")
    keep = [".mitdb119_0_60s.keep.partial", ".other.abcd1234.partial",
            ".mitdb119_0_60s.abcd1234.partial.bak", "mitdb119_0_60s.abcd1234.partial"]
    for k in keep:
        (out / k).mkdir()
    assert main(["detect", REC119, "--out", str(out), "--method", "pantompkins",
                 "--no-progress"]) == 0
    assert _files(out) == sorted([*keep, "mitdb119_0_60s.csv"])


@pytest.mark.parametrize("target", ["a_file", "a_file/sub"])
def test_bad_out_directory_names_the_option(tmp_path, capsys, target):
    (tmp_path / "a_file").write_text("x")
    assert main(["detect", REC119, "--out", str(tmp_path / target), "--no-progress"]) == 2
    _one_error_line(capsys, "--out")
