"""The commands refuse, before any work, an output file that would replace an input.

``detect ecg.csv --out .`` used to replace ecg.csv by its table of peaks, and
``deconvolve s.csv --kernel k.csv --out s.csv`` the signal by its events.
"""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from sparse_events.cli import main
from sparse_events.datasets import make_random_spike_train

DATA = Path(__file__).parent / "data" / "mitdb_excerpt"
RECORD = "mitdb119_0_60s"


def _refused(capsys, *paths):
    """Exit code 2 was returned by the caller; check the one stderr line names the paths."""
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "would overwrite" in err[0], err[0]
    for p in paths:
        assert str(p) in err[0], err[0]
    return err[0]


@pytest.fixture
def ecg_csv(tmp_path):
    import wfdb

    signal = wfdb.rdrecord(str(DATA / RECORD), channels=[0]).p_signal[:3600, 0]
    path = tmp_path / "ecg.csv"
    np.savetxt(path, signal, fmt="%.6g", header="ecg", comments="")
    return path


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a record is processed or a problem solved."""
    from sparse_events.cli import _deconvolve, _detect

    def boom(*args, **kwargs):
        raise AssertionError("work started before the output paths were checked")

    monkeypatch.setattr(_detect, "detect_record", boom)
    monkeypatch.setattr(_deconvolve, "check_output_file", boom)


@pytest.mark.parametrize("out", [".", "./", "link"])
def test_detect_refuses_to_replace_its_csv_input(ecg_csv, monkeypatch, capsys, no_work, out):
    monkeypatch.chdir(ecg_csv.parent)
    os.symlink(ecg_csv.parent, "link")
    before = ecg_csv.read_bytes()
    assert main(["detect", "ecg.csv", "--out", out, "--sampling-rate", "360",
                 "--no-progress"]) == 2
    _refused(capsys, "ecg.csv")
    assert ecg_csv.read_bytes() == before


def test_detect_refuses_to_replace_the_reference_annotations(tmp_path, capsys, no_work):
    for f in DATA.glob(RECORD + ".*"):
        shutil.copy(f, tmp_path)
    atr = tmp_path / f"{RECORD}.atr"
    before = atr.read_bytes()
    assert main(["detect", str(tmp_path / RECORD), "--out", str(tmp_path),
                 "--annotations", "atr", "--no-progress"]) == 2
    _refused(capsys, atr)
    assert atr.read_bytes() == before


def test_detect_with_annotations_beside_the_record_can_be_rerun(tmp_path):
    # --annotations (annotator qrs) beside the record: a second run (another method)
    # replaces the first run's .qrs, which must not count as reference annotations
    for f in DATA.glob(RECORD + ".*"):
        shutil.copy(f, tmp_path)
    atr = tmp_path / f"{RECORD}.atr"
    before = atr.read_bytes()
    qrs = tmp_path / f"{RECORD}.qrs"
    for method in ("sparse", "pantompkins"):
        assert main(["detect", str(tmp_path / RECORD), "--out", str(tmp_path),
                     "--annotations", "--method", method, "--no-progress"]) == 0
        assert qrs.is_file()
    assert atr.read_bytes() == before


def test_detect_beside_a_wfdb_record_is_allowed(tmp_path):
    for f in DATA.glob(RECORD + ".*"):
        shutil.copy(f, tmp_path)
    assert main(["detect", str(tmp_path / RECORD), "--out", str(tmp_path),
                 "--no-progress"]) == 0
    assert (tmp_path / f"{RECORD}.csv").is_file()


@pytest.fixture
def deconv_files(tmp_path):
    st = make_random_spike_train(500, random_state=0)
    y, h = tmp_path / "s2.csv", tmp_path / "kernel.csv"
    np.savetxt(y, st.signal)
    np.savetxt(h, st.kernel)
    return y, h


@pytest.mark.parametrize("option,target", [("--out", "s2.csv"), ("--out", "./s2.csv"),
                                           ("--out", "kernel.csv"), ("--plot", "s2.csv"),
                                           ("--out", "alias.csv")])
def test_deconvolve_refuses_to_replace_an_input(deconv_files, monkeypatch, capsys, no_work,
                                                option, target):
    y, h = deconv_files
    monkeypatch.chdir(y.parent)
    os.symlink("s2.csv", "alias.csv")
    before = {p: p.read_bytes() for p in (y, h)}
    args = ["deconvolve", "s2.csv", "--kernel", "kernel.csv", "--out", "ev.csv", option,
            target]
    assert main(args) == 2
    _refused(capsys, target, "s2.csv" if "kernel" not in target else "kernel.csv")
    assert {p: p.read_bytes() for p in (y, h)} == before


def test_deconvolve_refuses_a_plot_over_its_csv(deconv_files, monkeypatch, capsys, no_work):
    monkeypatch.chdir(deconv_files[0].parent)
    assert main(["deconvolve", "s2.csv", "--kernel", "kernel.csv", "--out", "ev.csv",
                 "--plot", "ev.csv"]) == 2
    _refused(capsys, "ev.csv")


def test_evaluate_refuses_to_replace_the_detections(tmp_path, capsys):
    dets = tmp_path / "dets"
    dets.mkdir()
    assert main(["detect", str(DATA / RECORD), "--out", str(dets), "--no-progress"]) == 0
    det = dets / f"{RECORD}.csv"
    before = det.read_bytes()
    capsys.readouterr()
    assert main(["evaluate", str(DATA / RECORD), "--detections", str(dets), "--out",
                 str(det), "--no-progress"]) == 2
    _refused(capsys, det)
    assert det.read_bytes() == before
