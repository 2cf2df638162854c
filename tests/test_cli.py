"""Command line: demo output, help on every subcommand, exit codes."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _shared_data import shared_data_dir

from sparse_events.cli import build_parser, main
from sparse_events.cli._main import SUBCOMMANDS

SCRIPT = Path(sys.executable).parent / "sparse-events"


def _table(out):
    """Rows of the first markdown table in ``out`` as lists of cells."""
    return [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in out.splitlines() if line.startswith("| ") and "---" not in line][1:]


def test_demo_random_shapes_prints_sparsity_and_snr(capsys, tmp_path):
    from sparse_events import alpha_max, deconvolve
    from sparse_events.datasets import make_random_spike_train
    from sparse_events.metrics import sparsity

    png = tmp_path / "rs.png"
    assert main(["demo", "--case", "random-shapes", "--n-samples", "3000", "--seed", "2",
                 "--plot", str(png)]) == 0
    rows = _table(capsys.readouterr().out)
    assert [r[0] for r in rows] == ["LASSO", "LASSO + debiasing"]
    snrs = [float(r[2]) for r in rows]
    # debiasing can only reduce the residual on the recovered support
    assert snrs[1] >= snrs[0] > 0
    d = make_random_spike_train(3000, random_state=2)
    ref = deconvolve(d.signal, d.kernel, 0.1 * alpha_max(d.signal, d.kernel))
    assert float(rows[0][1]) == pytest.approx(sparsity(ref.coef), abs=5e-5)
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_demo_ecg_table_matches_library(capsys, tmp_path):
    from sparse_events.cli._demo import score_against_reference, simulate_noisy_ecg
    from sparse_events.ecg import ecg_peaks

    png = tmp_path / "demo.png"
    assert main(["demo", "--duration-s", "30", "--seed", "3", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    rows = {r[0]: r for r in _table(out)}
    clean, noisy = simulate_noisy_ecg(duration_s=30, sampling_rate=360, heart_rate=60,
                                      heart_rate_std=6, snr_db=20, seed=3)
    # the noise really is at 20 dB
    assert 10 * np.log10(np.var(clean) / np.var(noisy - clean)) == pytest.approx(20, abs=0.5)
    reference = ecg_peaks(clean, sampling_rate=360, method="pantompkins")[1]["ECG_R_Peaks"]
    peaks = ecg_peaks(noisy, sampling_rate=360, method="sparse")[1]["ECG_R_Peaks"]
    res = score_against_reference(peaks, reference, 360, noisy.size)
    row = rows["sparse deconvolution (ecg_peaks, method='sparse')"]
    assert row[1] == f"{res.tp + res.fp} / {res.tp + res.fn}"
    # only the beats within 0.25 s of the ends are left out of the scoring
    assert res.tp + res.fn == np.count_nonzero((reference >= 90) & (reference <= noisy.size - 90))
    assert float(row[2]) == pytest.approx(100 * res.sensitivity, abs=0.006)
    assert float(row[3]) == pytest.approx(100 * res.positive_predictivity, abs=0.006)
    assert "paper: Pan-Tompkins on the reconstruction H s" in rows
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args, fragment", [
    (["demo", "--case", "random-shapes", "--n-samples", "-3"],
     "--n-samples must be >= 1, got -3"),
    (["demo", "--duration-s", "2"], "--duration-s"),
    # same rule as `deconvolve --alpha-ratio`: alpha in (0, alpha_max)
    (["demo", "--case", "random-shapes", "--alpha-ratio", "1.5"],
     "--alpha-ratio must be in (0, 1), got 1.5"),
    (["demo", "--case", "random-shapes", "--alpha-ratio", "-1"],
     "--alpha-ratio must be in (0, 1), got -1"),
    (["demo", "--case", "random-shapes", "--alpha-ratio", "0"], "--alpha-ratio"),
    (["demo", "--case", "random-shapes", "--seed", "-1"], "--seed must be >= 0, got -1"),
    (["demo", "--seed", "-1"], "--seed must be >= 0, got -1"),
    (["demo", "--case", "nope"], "invalid choice"),
    (["demo", "--snr-db", "abc"], "invalid float"),
])
def test_user_error_exit_code_and_one_line(capsys, args, fragment):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err


def test_deconvolve_refuses_the_same_alpha_ratio(tmp_path, capsys):
    np.save(tmp_path / "y.npy", np.sin(np.arange(200) / 5.0))
    np.save(tmp_path / "h.npy", np.hanning(9))
    assert main(["deconvolve", str(tmp_path / "y.npy"), "--kernel", str(tmp_path / "h.npy"),
                 "--out", str(tmp_path / "o.csv"), "--alpha-ratio", "1.5"]) == 2
    assert "--alpha-ratio must be in (0, 1), got 1.5" in capsys.readouterr().err


@pytest.mark.parametrize("case", ["random-shapes", "ecg"])
def test_demo_plot_directory_checked_before_running(tmp_path, capsys, monkeypatch, case):
    from sparse_events.cli import _demo

    def never(*args, **kwargs):
        raise AssertionError("the demo ran before --plot was checked")

    monkeypatch.setattr(_demo, "run_random_shapes", never)
    monkeypatch.setattr(_demo, "run_ecg", never)
    bad = tmp_path / "missing" / "x.png"
    assert main(["demo", "--case", case, "--plot", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--plot" in err[0] and "does not exist" in err[0], err
    assert main(["demo", "--case", case, "--plot", str(tmp_path)]) == 2  # a directory
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--plot" in err[0] and "directory" in err[0], err


def test_help_on_every_subcommand(capsys):
    names = [m.add_parser.__module__.rsplit("_", 1)[-1] for m in SUBCOMMANDS]
    assert set(names) == {"demo", "detect", "evaluate", "deconvolve"}
    assert main(["--help"]) == 0
    top = capsys.readouterr().out
    for name in names:
        assert name in top
        assert main([name, "--help"]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: sparse-events {name}")
    assert isinstance(build_parser().format_help(), str)


def test_help_examples_name_existing_mitdb_records(capsys):
    """The MIT-BIH records named in the subcommands' help are in the shared MIT-BIH folder
    ($SPARSE_EVENTS_MITDB, else $SPARSE_EVENTS_DATA/mitdb or ../shared/data/mitdb, as in
    the MIT-BIH notebook; skipped when it is absent): the examples used record 100, which
    is not there."""
    mitdb = Path(os.environ.get("SPARSE_EVENTS_MITDB", shared_data_dir() / "mitdb"))
    if not mitdb.is_dir():
        pytest.skip(f"no MIT-BIH records at {mitdb}")
    named = []
    for m in SUBCOMMANDS:
        name = m.add_parser.__module__.rsplit("_", 1)[-1]
        assert main([name, "--help"]) == 0
        # argparse wraps the help text: join the lines before searching for record paths
        text = " ".join(capsys.readouterr().out.split())
        named += re.findall(r"mitdb/(\w+)", text)
    assert named, "no MIT-BIH record named in the help texts"
    missing = sorted({r for r in named if not (mitdb / f"{r}.hea").is_file()})
    assert not missing, f"help texts name MIT-BIH records not in {mitdb}: {missing}"


def test_module_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "sparse_events", "demo", "--help"],
                         capture_output=True, text=True, check=True)
    assert "random-shapes" in out.stdout and "--plot" in out.stdout


def test_console_script_version_and_usage_error():
    assert SCRIPT.is_file(), "the sparse-events console script is not installed"
    out = subprocess.run([str(SCRIPT), "--version"], capture_output=True, text=True)
    from sparse_events import __version__

    assert out.returncode == 0 and __version__ in out.stdout
    out = subprocess.run([str(SCRIPT), "frobnicate"], capture_output=True, text=True)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1


def test_core_does_not_import_applications():
    code = ("import sys, sparse_events as se; se.deconvolve; se.Lasso; se.solvers; "
            "se.operators; bad = [m for m in sys.modules if m.startswith(('sparse_events.ecg', "
            "'sparse_events.gamma'))]; print(bad); sys.exit(1 if bad else 0)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_deconvolution_does_not_import_scikit_learn():
    """Deconvolution users do not pay scikit-learn's import; the estimators still resolve."""
    code = ("import sys; from sparse_events import deconvolve, cross_products_deconvolve; "
            "from sparse_events.models import alpha_max; "
            "sys.exit(1 if 'sklearn' in sys.modules else 0)")
    subprocess.run([sys.executable, "-c", code], check=True)
    code = ("import sys, sklearn.base as b, sparse_events.models as m; "
            "ok = all(issubclass(getattr(m, n), b.BaseEstimator) for n in "
            "('Lasso', 'ConvexGatedReLURegressor', 'ConvexReLURegressor', 'ConvexReLU1D')); "
            "sys.exit(0 if ok and set(m.__all__) <= set(dir(m)) else 1)")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("case", ["ecg", "random-shapes"])
@pytest.mark.parametrize("value", ["-4000", "-3000.5", "-inf", "nan"])
def test_demo_snr_db_checked_up_front(capsys, monkeypatch, case, value):
    # --snr-db=-4000 ran the ECG simulation, warned (divide by zero) and then stopped with
    # "signal must contain only finite values", not naming the option
    from sparse_events.cli import _demo

    def never(*args, **kwargs):
        raise AssertionError("the demo ran before --snr-db was checked")

    monkeypatch.setattr(_demo, "run_random_shapes", never)
    monkeypatch.setattr(_demo, "run_ecg", never)
    assert main(["demo", "--case", case, f"--snr-db={value}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--snr-db" in err[0], err


def test_demo_lowest_snr_db_gives_the_noise_level_asked(capsys, monkeypatch):
    # the lowest accepted --snr-db runs, and its noise has the standard deviation of the
    # definition SNR = 10 log10(var(clean) / var(noise))
    from sparse_events.cli import _demo

    calls = []
    monkeypatch.setattr(_demo, "run_ecg", lambda args: calls.append(args.snr_db) or 0)
    assert main(["demo", f"--snr-db={_demo.MIN_SNR_DB}"]) == 0
    assert calls == [_demo.MIN_SNR_DB]
    clean, noisy = _demo.simulate_noisy_ecg(duration_s=10, sampling_rate=360, heart_rate=60,
                                            heart_rate_std=6, snr_db=_demo.MIN_SNR_DB, seed=1)
    noise = noisy - clean
    assert np.all(np.isfinite(noisy)) and np.isfinite(np.sum(noisy ** 2))
    expected = np.sqrt(np.var(clean) * 10.0 ** (-_demo.MIN_SNR_DB / 10.0))
    np.testing.assert_allclose(np.std(noise), expected, rtol=0.05)
