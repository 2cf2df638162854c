"""Input files of the command line: CSV blank/comment lines, kernel and signal layouts.

Every sample index must mean the same thing whatever the file format: a CSV with
leading comments gives the same peaks/events as the .npy of the same signal, and
what would shift indices (a blank or ``#`` line between rows) is refused with the
file and its line.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sparse_events import alpha_max, deconvolve
from sparse_events.cli import main

DATA = Path(__file__).parent / "data" / "mitdb_excerpt"
REC208 = str(DATA / "mitdb208_0_60s")


def _error_line(capsys):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


def _write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def _ecg_excerpt(seconds=20):
    import wfdb

    rec = wfdb.rdrecord(REC208, channels=[0], sampto=int(seconds * 360))
    return rec.p_signal[:, 0], rec.fs


@pytest.fixture
def spikes(rng):
    """A 1-D signal of 4 decaying events and its kernel (the library is the reference)."""
    h = np.exp(-np.arange(12) / 3.0)
    s = np.zeros(400)
    s[[20, 100, 250, 390]] = [1.0, 2.0, 1.5, 1.0]
    y = np.convolve(s, h)[:400] + 0.01 * rng.standard_normal(400)
    return y, h


def _events(path):
    return pd.read_csv(path)


def _deconvolve(tmp_path, signal, kernel, *extra, name="ev.csv"):
    out = tmp_path / name
    code = main(["deconvolve", str(signal), "--kernel", str(kernel), "--out", str(out),
                 "--tol", "1e-8", *extra])
    return code, out


def _library_events(y, h):
    res = deconvolve(y, h, 0.1 * alpha_max(y, h), tol=1e-10)
    return np.flatnonzero(res.coef), res.coef


# ------------------------------------------------- CSV: blank and comment lines
@pytest.mark.parametrize("bad_line, kind", [("", "blank"), ("# a note", "comment"),
                                            ("   ", "blank"), ("  # indented", "comment")])
def test_detect_csv_line_inside_data_is_an_error(tmp_path, capsys, bad_line, kind):
    x, fs = _ecg_excerpt()
    lines = ["MLII", *map(repr, x[:500].tolist()), bad_line, *map(repr, x[500:].tolist())]
    csv = _write_lines(tmp_path / "sig.csv", lines)
    code = main(["detect", str(csv), "--sampling-rate", str(fs), "--out",
                 str(tmp_path / "o"), "--method", "pantompkins", "--no-progress"])
    assert code != 0
    err = _error_line(capsys)
    # header on line 1, 500 samples on lines 2..501: the bad line is line 502
    assert "sig.csv" in err and "line 502" in err and kind in err, err
    assert not (tmp_path / "o" / "sig.csv").exists()


def test_detect_csv_leading_comments_same_peaks_as_npy(tmp_path):
    x, fs = _ecg_excerpt()
    csv = _write_lines(tmp_path / "withcomments.csv",
                       ["# exported from MIT-BIH 208", "", "# units: mV", "MLII",
                        *map(repr, x.tolist()), "", "# footer", ""])  # trailing: harmless
    _assert_detect_gives_library_peaks(tmp_path, csv, x, fs)


def _assert_detect_gives_library_peaks(tmp_path, csv, x, fs):
    """`detect` on ``csv`` and on ``x`` saved as .npy gives the library's R peaks of ``x``."""
    npy = tmp_path / "plain.npy"
    np.save(npy, x)
    out = tmp_path / "o"
    for path in (csv, npy):
        assert main(["detect", str(path), "--sampling-rate", str(fs), "--out", str(out),
                     "--method", "pantompkins", "--no-progress"]) == 0
    from sparse_events.ecg import ecg_peaks

    expected = ecg_peaks(x, sampling_rate=fs, method="pantompkins")[1]["ECG_R_Peaks"]
    assert len(expected) > 10
    np.testing.assert_array_equal(pd.read_csv(out / f"{csv.stem}.csv")["sample"], expected)
    np.testing.assert_array_equal(pd.read_csv(out / "plain.csv")["sample"], expected)


def test_detect_csv_missing_value_names_the_file_line(tmp_path, capsys):
    x, fs = _ecg_excerpt()
    cells = list(map(repr, x.tolist()))
    cells[9] = "nan"
    csv = _write_lines(tmp_path / "nan.csv", ["# note", "MLII", *cells])
    assert main(["detect", str(csv), "--sampling-rate", str(fs), "--out",
                 str(tmp_path / "o"), "--no-progress"]) != 0
    err = _error_line(capsys)
    assert "data row 10 (line 12)" in err, err


@pytest.mark.parametrize("which", ["signal", "kernel"])
@pytest.mark.parametrize("bad_line, kind", [("", "blank"), ("# a note", "comment")])
def test_deconvolve_csv_line_inside_data_is_an_error(tmp_path, capsys, spikes, which,
                                                     bad_line, kind):
    y, h = spikes
    values = y if which == "signal" else h
    at = 5
    csv = _write_lines(tmp_path / f"{which}.csv",
                       ["v", *map(repr, values[:at].tolist()), bad_line,
                        *map(repr, values[at:].tolist())])
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "h.npy", h)
    signal = csv if which == "signal" else tmp_path / "y.npy"
    kernel = csv if which == "kernel" else tmp_path / "h.npy"
    code, out = _deconvolve(tmp_path, signal, kernel)
    assert code == 2 and not out.exists()
    err = _error_line(capsys)
    assert f"{which} {csv}" in err and f"line {at + 2}" in err and kind in err, err


def test_deconvolve_csv_leading_comments_same_events_as_npy(tmp_path, spikes):
    y, h = spikes
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "h.npy", h)
    y_csv = _write_lines(tmp_path / "y.csv", ["# signal", "", "y", *map(repr, y.tolist()), ""])
    h_csv = _write_lines(tmp_path / "h.csv", ["# kernel", *map(repr, h.tolist()), "", ""])
    code, a = _deconvolve(tmp_path, y_csv, h_csv, name="a.csv")
    assert code == 0
    code, b = _deconvolve(tmp_path, tmp_path / "y.npy", tmp_path / "h.npy", name="b.csv")
    assert code == 0
    support, coef = _library_events(y, h)
    assert support.size == 4
    for path in (a, b):
        t = _events(path)
        np.testing.assert_array_equal(t["sample"], support)
        np.testing.assert_allclose(t["amplitude"], coef[support], rtol=1e-6)


# ----------------------------------------------------------- kernel layouts
@pytest.mark.parametrize("layout", ["column_npy", "row_npy", "row_csv", "column_csv"])
def test_single_kernel_any_orientation_is_one_kernel(tmp_path, spikes, layout):
    """(L, 1) and (1, L) arrays, one-row and one-column CSVs: one kernel, not L atoms."""
    y, h = spikes
    np.save(tmp_path / "y.npy", y)
    if layout == "column_npy":
        kernel = tmp_path / "h.npy"
        np.save(kernel, h[:, None])
    elif layout == "row_npy":
        kernel = tmp_path / "h.npy"
        np.save(kernel, h[None, :])
    elif layout == "row_csv":
        kernel = _write_lines(tmp_path / "h.csv", [",".join(map(repr, h.tolist()))])
    else:
        kernel = _write_lines(tmp_path / "h.csv", ["h", *map(repr, h.tolist())])
    code, out = _deconvolve(tmp_path, tmp_path / "y.npy", kernel)
    assert code == 0
    t = _events(out)
    support, coef = _library_events(y, h)
    assert "kernel" not in t.columns  # one kernel: no kernel column
    np.testing.assert_array_equal(t["sample"], support)
    np.testing.assert_allclose(t["amplitude"], coef[support], rtol=1e-6)


# ----------------------------------------------------------- channel, orientation
@pytest.mark.parametrize("channel, fragment", [("5", "channel 5 out of range"),
                                               ("1", "channel 1 out of range"),
                                               ("MLII", "no channel named 'MLII'")])
def test_deconvolve_channel_checked_for_1d_npy(tmp_path, capsys, spikes, channel, fragment):
    y, h = spikes
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "h.npy", h)
    code, out = _deconvolve(tmp_path, tmp_path / "y.npy", tmp_path / "h.npy",
                            "--channel", channel)
    assert code == 2 and not out.exists()
    assert fragment in _error_line(capsys)
    # same message as `detect` on the same file
    assert main(["detect", str(tmp_path / "y.npy"), "--sampling-rate", "360", "--out",
                 str(tmp_path / "o"), "--channel", channel]) == 2
    assert fragment in _error_line(capsys)
    # channel 0 of a 1-D signal is the signal
    code, out = _deconvolve(tmp_path, tmp_path / "y.npy", tmp_path / "h.npy",
                            "--channel", "0")
    assert code == 0
    np.testing.assert_array_equal(_events(out)["sample"], _library_events(y, h)[0])


@pytest.mark.parametrize("shape", [(1, 3600), (2, 3600)])
def test_transposed_npy_signal_hint(tmp_path, capsys, shape):
    x = np.zeros(shape)
    np.save(tmp_path / "t.npy", x)
    assert main(["detect", str(tmp_path / "t.npy"), "--sampling-rate", "360", "--out",
                 str(tmp_path / "o"), "--no-progress"]) == 2
    err = _error_line(capsys)
    assert f"shape {shape}" in err and "transposed" in err and "(n_samples, n_channels)" in err
    np.save(tmp_path / "h.npy", np.hanning(5))
    code, _ = _deconvolve(tmp_path, tmp_path / "t.npy", tmp_path / "h.npy")
    assert code == 2
    assert "transposed" in _error_line(capsys)


def test_deconvolve_output_directories_checked_before_solving(tmp_path, capsys, spikes,
                                                              monkeypatch):
    import sparse_events.models as models

    y, h = spikes
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "h.npy", h)

    def never(*args, **kwargs):
        raise AssertionError("solved before the output paths were checked")

    monkeypatch.setattr(models, "cross_products_deconvolve", never)
    for option in ("--out", "--plot"):
        argv = ["deconvolve", str(tmp_path / "y.npy"), "--kernel", str(tmp_path / "h.npy"),
                "--out", str(tmp_path / "ev.csv")]
        if option == "--out":
            argv[-1] = str(tmp_path / "nodir" / "ev.csv")
        else:
            argv += ["--plot", str(tmp_path / "nodir" / "p.png")]
        assert main(argv) == 2
        err = _error_line(capsys)
        assert option in err and "does not exist" in err, err


# ------------------------------------- CSV: delimiters and decimal commas
def _comma(v):
    return repr(float(v)).replace(".", ",")


@pytest.mark.parametrize("sep", [";", "\t", " ", "  "])
@pytest.mark.parametrize("header", [True, False])
def test_decimal_commas_read_exactly(tmp_path, sep, header):
    # a spreadsheet export with decimal commas: every value read back exactly, each column
    # in its place (the reference is the array the file was written from)
    from sparse_events.cli._inputs import read_signal, resolve_input

    x, _ = _ecg_excerpt(2)
    arr = np.column_stack([x, -2.5 * x[::-1], np.arange(x.size) / 7.0])
    lines = ([sep.join(["MLII", "inv", "ramp"])] if header else []) + [
        sep.join(_comma(v) for v in row) for row in arr]
    path = _write_lines(tmp_path / "sig.csv", lines)
    for ch in range(3):
        spec = resolve_input(str(path), channel=ch, sampling_rate=360)
        np.testing.assert_array_equal(read_signal(spec), arr[:, ch])
    if header:
        spec = resolve_input(str(path), channel="inv", sampling_rate=360)
        np.testing.assert_array_equal(read_signal(spec), arr[:, 1])


def test_semicolon_decimal_comma_detect_same_peaks_as_npy(tmp_path):
    x, fs = _ecg_excerpt()
    csv = _write_lines(tmp_path / "semi.csv", ["# export", "MLII;other",
                                               *(f"{_comma(v)};{_comma(-v)}" for v in x)])
    _assert_detect_gives_library_peaks(tmp_path, csv, x, fs)


def test_semicolon_decimal_comma_deconvolve_same_events_as_npy(tmp_path, spikes):
    y, h = spikes
    y_csv = _write_lines(tmp_path / "y.csv", ["y;zero", *(f"{_comma(v)};0" for v in y)])
    # one column: the header line (no delimiter) makes the comma a decimal comma
    h_csv = _write_lines(tmp_path / "h.csv", ["h", *(_comma(v) for v in h)])
    code, a = _deconvolve(tmp_path, y_csv, h_csv, name="a.csv")
    assert code == 0
    support, coef = _library_events(y, h)
    t = _events(a)
    np.testing.assert_array_equal(t["sample"], support)
    np.testing.assert_allclose(t["amplitude"], coef[support], rtol=1e-6)


@pytest.mark.parametrize("sep", [";", "\t"])
def test_points_with_semicolon_or_tab_unchanged(tmp_path, sep):
    from sparse_events.cli._inputs import read_signal, resolve_input

    arr = np.column_stack([np.linspace(-1, 1, 9), np.arange(9.0)])
    path = _write_lines(tmp_path / "p.csv", [sep.join(map(repr, r.tolist())) for r in arr])
    for ch in range(2):
        np.testing.assert_array_equal(
            read_signal(resolve_input(str(path), channel=ch, sampling_rate=1)), arr[:, ch])


@pytest.mark.parametrize("cell", ["1.234,5", "0.5"])
def test_mixed_decimal_separators_are_an_error(tmp_path, capsys, cell):
    lines = ["a;b", "0,25;1,5", "0,5;2,75", f"{cell};3", "1,0;4,0"]
    path = _write_lines(tmp_path / "mixed.csv", lines)
    code = main(["detect", str(path), "--sampling-rate", "100", "--out", str(tmp_path / "o"),
                 "--no-progress"])
    assert code != 0
    err = _error_line(capsys)
    assert "mixed.csv" in err and "line 4" in err and "decimal" in err, err
    assert not (tmp_path / "o" / "mixed.csv").exists()
    np.save(tmp_path / "h.npy", np.ones(2))
    code, out = _deconvolve(tmp_path, path, tmp_path / "h.npy")
    assert code == 2 and not out.exists()
    err = _error_line(capsys)
    assert "mixed.csv" in err and "line 4" in err and "decimal" in err, err


@pytest.mark.parametrize("sep", ["\t", ";"])
@pytest.mark.parametrize("decimal", [".", ","])
def test_text_column_with_comma_does_not_change_the_numbers(tmp_path, sep, decimal):
    # a note column holding 'N, V' is text: it must not make the file a decimal-comma
    # file (point decimals then failed) nor stop decimal commas of the numeric columns
    from sparse_events.cli._inputs import read_signal, resolve_input

    arr = np.column_stack([np.arange(6) / 250.0, np.linspace(-1.5, 2.25, 6)])
    notes = ["ok", "N, V", "", "a.b", "1,5 mV", "x"]
    cell = repr if decimal == "." else _comma
    lines = [sep.join(["time", "ecg", "note"])] + [
        sep.join([cell(a), cell(b), n]) for (a, b), n in zip(arr.tolist(), notes)]
    path = _write_lines(tmp_path / "notes.tsv", lines)
    for ch in range(2):
        np.testing.assert_array_equal(
            read_signal(resolve_input(str(path), channel=ch, sampling_rate=250)), arr[:, ch])
    with pytest.raises(ValueError, match=r"column 2 .* data row 1 \(line 2\)"):
        read_signal(resolve_input(str(path), channel=2, sampling_rate=250))


@pytest.mark.parametrize("header, delim, names", [
    ('"t;s",ecg', ",", ["t;s", "ecg"]),
    ('"a\tb",ecg', ",", ["a\tb", "ecg"]),
    ('"t,s";"e;cg"', ";", ["t,s", "e;cg"]),
])
def test_delimiter_outside_quotes(tmp_path, header, delim, names):
    # a delimiter inside a quoted header cell does not choose the delimiter
    from sparse_events.cli._inputs import read_array_file

    arr = np.column_stack([np.arange(4) / 250.0, np.linspace(-1.0, 0.5, 4)])
    cell = repr if delim == "," else _comma
    path = _write_lines(tmp_path / "q.csv",
                        [header] + [delim.join(map(cell, r)) for r in arr.tolist()])
    got, hdr = read_array_file(path, "signal")
    assert hdr == names
    np.testing.assert_array_equal(got, arr)


@pytest.mark.parametrize("sep", ["\t", ";", " "])
@pytest.mark.parametrize("cells, line", [(["0", "1,000", "2,500", "-12,250"], 3),
                                         (["0", "1", "1,234,567", "0,5"], 4)])
def test_thousands_like_commas_are_refused(tmp_path, capsys, sep, cells, line):
    # '1,000' is 1.0 with a decimal comma and 1000 with a thousands separator: when no
    # cell shows which, the file is refused with its line (it read silently as 1.0);
    # a cell with two commas is never a decimal-comma number
    path = _write_lines(tmp_path / "k.csv", ["a" + sep + "b"] + [
        f"{k}{sep}{c}" for k, c in enumerate(cells)])
    code = main(["detect", str(path), "--sampling-rate", "100", "--channel", "1",
                 "--out", str(tmp_path / "o"), "--no-progress"])
    assert code != 0
    err = _error_line(capsys)
    assert "k.csv" in err and f"line {line}" in err and repr(cells[line - 2]) in err, err


def test_three_decimal_commas_read_when_a_cell_shows_they_are_decimal(tmp_path):
    from sparse_events.cli._inputs import read_array_file

    arr = np.array([[1.25, 1.0], [0.875, -2.5], [-1.125, 12.5]])
    path = _write_lines(tmp_path / "d.csv", ["a;b", "1,250;1,000", "0,875;-2,500",
                                             "-1,125;12,500"])
    got, _ = read_array_file(path, "signal")
    np.testing.assert_array_equal(got, arr)


def test_missing_decimal_comma_cell_names_its_line_without_warnings(tmp_path):
    # a missing cell in a decimal-comma file: no pandas FutureWarning, the line is named
    import warnings

    from sparse_events.cli._inputs import UserError, read_array_file

    path = _write_lines(tmp_path / "m.csv", ["a;b", "0,5;1,5", "1e-3;"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserError, match=r"m\.csv: 1 non-numeric .* \(line 3\), column 1"):
            read_array_file(path, "signal")
