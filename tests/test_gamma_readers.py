"""Readers of measured gamma data: CAEN WaveDump binaries and spectra (SPE, becquerel)."""

import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from _shared_data import shared_data_dir

from sparse_events.gamma import read_spe, read_spectrum, read_wavedump, read_wavedump_config

DATA = Path(__file__).parent / "data"
HPGE = DATA / "hpge_dt5720_wave0_first3.dat"
SIPM = DATA / "sipm_dt5751_wave0_first20.dat"
SPE = DATA / "digibase_5min_30_1.spe"


def _parse_with_struct(path):
    """Independent parser: walk the file event by event with struct."""
    raw = Path(path).read_bytes()
    events, headers = [], []
    off = 0
    while off < len(raw):
        size, board, pattern, channel, counter, ttt = struct.unpack_from("<6I", raw, off)
        n = (size - 24) // 2
        events.append(struct.unpack_from(f"<{n}H", raw, off + 24))
        headers.append((size, board, pattern, channel, counter, ttt))
        off += size
    return np.array(events), np.array(headers)


@pytest.mark.parametrize("path, n_events, n_samples", [(HPGE, 3, 10000), (SIPM, 20, 406)])
def test_wavedump_matches_independent_parser(path, n_events, n_samples):
    wd = read_wavedump(path)
    ref, hdr = _parse_with_struct(path)
    assert wd.waveforms.shape == (n_events, n_samples)
    assert wd.waveforms.dtype == np.uint16
    np.testing.assert_array_equal(wd.waveforms, ref)
    np.testing.assert_array_equal(wd.event_size_bytes, hdr[:, 0])
    np.testing.assert_array_equal(wd.board_id, hdr[:, 1])
    np.testing.assert_array_equal(wd.channel, hdr[:, 3])
    np.testing.assert_array_equal(wd.event_counter, hdr[:, 4])
    np.testing.assert_array_equal(wd.trigger_time_tag, hdr[:, 5])


def test_wavedump_hpge_content():
    wd = read_wavedump(HPGE)
    # SOURCES.md: HPGe preamplifier on channel 3, 12-bit ADC, consecutive event counters
    assert np.all(wd.channel == 3)
    assert np.array_equal(wd.event_counter, np.arange(3))
    assert wd.waveforms.max() < 4096
    cfg = read_wavedump_config(DATA / "hpge_dt5720_WaveDumpConfig.txt")
    assert int(cfg["COMMON"]["RECORD_LENGTH"]) == wd.n_samples
    assert cfg["COMMON"]["OUTPUT_FILE_FORMAT"] == "BINARY"
    assert cfg["0"]["ENABLE_INPUT"] == "YES"


def test_wavedump_config_skips_off_blocks(tmp_path):
    # WaveDump skips the lines between @OFF and @ON (they were kept, overriding settings)
    cfg = tmp_path / "WaveDumpConfig.txt"
    cfg.write_text(
        "# Lines between commands @OFF and @ON will be skipped.\n"
        "@OFF\nDigitizer 751\n@ON\n"
        "[COMMON]\nRECORD_LENGTH 1024\n"
        "@OFF\nRECORD_LENGTH 16384\n[7]\nENABLE_INPUT YES\n@ON\n"
        "POST_TRIGGER 50\n[0]\nENABLE_INPUT YES  # comment\n"
        "@OFF   # the rest of the file is disabled\nDC_OFFSET 10\n[1]\nENABLE_INPUT YES\n")
    assert read_wavedump_config(cfg) == {
        "COMMON": {"RECORD_LENGTH": "1024", "POST_TRIGGER": "50"},
        "0": {"ENABLE_INPUT": "YES"}}
    assert "Digitizer" not in read_wavedump_config(DATA / "hpge_dt5720_WaveDumpConfig.txt")["COMMON"]


@pytest.mark.parametrize("cut", [1, 10, 23, 24, 100, 20024 + 5, 2 * 20024 + 30000])
def test_truncated_wavedump_is_refused(tmp_path, cut):
    raw = HPGE.read_bytes()
    bad = tmp_path / "cut.dat"
    bad.write_bytes(raw[: len(raw) - cut])
    with pytest.raises(ValueError, match="truncated"):
        read_wavedump(bad)


def test_truncated_wavedump_drop_warns_and_keeps_complete_events(tmp_path):
    raw = HPGE.read_bytes()
    bad = tmp_path / "cut.dat"
    bad.write_bytes(raw[: 2 * 20024 + 500])
    with pytest.warns(UserWarning, match="dropped"):
        wd = read_wavedump(bad, on_truncated="drop")
    assert wd.n_events == 2
    np.testing.assert_array_equal(wd.waveforms, read_wavedump(HPGE).waveforms[:2])


def test_corrupted_wavedump_is_refused(tmp_path):
    raw = bytearray(SIPM.read_bytes())
    # change the declared size of event 5 (a corrupted header in the middle of the file)
    struct.pack_into("<I", raw, 5 * 836, 900)
    bad = tmp_path / "corrupt.dat"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="event 5"):
        read_wavedump(bad)
    with pytest.raises(ValueError, match="event 5"):
        read_wavedump(bad, on_truncated="drop")
    not_wavedump = tmp_path / "text.dat"
    not_wavedump.write_bytes(b"hello world, not a digitizer file at all" * 3)
    with pytest.raises(ValueError, match="not a WaveDump"):
        read_wavedump(not_wavedump)
    empty = tmp_path / "empty.dat"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        read_wavedump(empty)


def test_wavedump_without_header(tmp_path):
    ref = read_wavedump(SIPM).waveforms
    plain = tmp_path / "noheader.dat"
    plain.write_bytes(ref.astype("<u2").tobytes())
    wd = read_wavedump(plain, header=False, record_length=406)
    np.testing.assert_array_equal(wd.waveforms, ref)
    plain.write_bytes(ref.astype("<u2").tobytes()[:-2])
    with pytest.raises(ValueError, match="truncated"):
        read_wavedump(plain, header=False, record_length=406)
    with pytest.raises(ValueError, match="record_length"):
        read_wavedump(plain, header=False)
    with pytest.raises(ValueError, match="record_length"):
        read_wavedump(SIPM, record_length=400)


def _spe_counts_independently(path):
    lines = Path(path).read_text(encoding="latin-1").splitlines()
    i = lines.index("$DATA:")
    first, last = map(int, lines[i + 1].split())
    return np.array([int(v) for v in lines[i + 2: i + 2 + last - first + 1]])


def test_spe_reader():
    sp = read_spe(SPE)
    ref = _spe_counts_independently(SPE)
    np.testing.assert_array_equal(sp.counts, ref)
    assert sp.n_channels == 1024
    # SOURCES.md table: digiBASE live / real = 296 / 300 s (1.3 % dead time)
    assert (sp.live_time_s, sp.real_time_s) == (296.0, 300.0)
    assert sp.dead_time_fraction == pytest.approx(4 / 300)
    # its calibration is all zeros on purpose: uncalibrated
    assert sp.calibration is None and sp.energy_edges_kev is None
    assert read_spectrum(SPE).counts.sum() == ref.sum()


@pytest.mark.parametrize("n_lines_cut", [1, 200, 1030])
def test_truncated_spe_is_refused(tmp_path, n_lines_cut):
    lines = SPE.read_text(encoding="latin-1").splitlines()
    i = lines.index("$DATA:")
    # drop data lines but keep the sections after $DATA (a file cut inside the data block
    # and then closed), or cut the file itself
    kept = lines[: i + 2 + 1024 - n_lines_cut] + lines[i + 2 + 1024:]
    bad = tmp_path / "cut.spe"
    bad.write_text("\n".join(kept), encoding="latin-1")
    with pytest.raises(ValueError, match="truncated"):
        read_spe(bad)
    bad.write_text("\n".join(lines[: i + 2 + 1024 - n_lines_cut]), encoding="latin-1")
    with pytest.raises(ValueError, match="truncated"):
        read_spe(bad)


def test_spe_bad_content(tmp_path):
    text = SPE.read_text(encoding="latin-1")
    bad = tmp_path / "bad.spe"
    bad.write_text(text.replace("$MEAS_TIM:\n296 300", "$MEAS_TIM:\n310 300"))
    with pytest.raises(ValueError, match="live"):
        read_spe(bad)
    bad.write_text(text.replace("$DATA:", "$NOTDATA:"))
    with pytest.raises(ValueError, match=r"\$DATA"):
        read_spe(bad)
    with pytest.raises(FileNotFoundError):
        read_spectrum(tmp_path / "missing.spe")


def test_spe_calibration(tmp_path):
    text = SPE.read_text(encoding="latin-1")
    cal = tmp_path / "cal.spe"
    cal.write_text(text.replace("$MCA_CAL:\n3\n0.000000E+000 0.000000E+000 0.000000E+000",
                                "$MCA_CAL:\n3\n1.5E+000 2.5E+000 1.0E-003 keV"))
    sp = read_spe(cal)
    x = np.arange(1025)
    np.testing.assert_allclose(sp.energy_edges_kev, 1.5 + 2.5 * x + 1e-3 * x ** 2)


def _spe_cut_after(marker, extra=0):
    raw = SPE.read_bytes()
    return raw[: raw.index(marker) + extra]


@pytest.mark.parametrize("cut", [
    _spe_cut_after(b"$MCA_CAL:"),                       # ends with $ENER_FIT: (cal lost)
    _spe_cut_after(b"$ENER_FIT:"),                      # ends with $PRESETS:
    _spe_cut_after(b"$PRESETS:"),                       # ends with $ROI:
    _spe_cut_after(b"$MCA_CAL:", 9),                    # "$MCA_CAL:" without its CR-LF
    _spe_cut_after(b"$MCA_CAL:", 11),                   # header without values
    _spe_cut_after(b"$MCA_CAL:", 14),                   # count, no coefficient line
    _spe_cut_after(b"$MCA_CAL:", 30),                   # inside the coefficient line
    _spe_cut_after(b"$SHAPE_CAL:", -1),                 # CR of the CR-LF, LF lost
    _spe_cut_after(b"$SHAPE_CAL:", 13),                 # $SHAPE_CAL: header without values
    _spe_cut_after(b"$SHAPE_CAL:", 25),                 # inside the last line
])
def test_spe_truncated_after_data_is_refused(tmp_path, cut):
    # the counts are complete, the trailing sections (calibration) are cut: these read
    # without error, with calibration None or a wrong one
    bad = tmp_path / "cut.spe"
    bad.write_bytes(cut)
    with pytest.raises(ValueError, match=r"cut\.spe.*(truncated|no values)"):
        read_spe(bad)


def test_spe_calibration_with_missing_coefficients(tmp_path):
    text = SPE.read_bytes()
    zeros = b"$MCA_CAL:\r\n3\r\n0.000000E+000 0.000000E+000 0.000000E+000\r\n"
    assert zeros in text
    bad = tmp_path / "bad.spe"
    # a gain cut to 2 of its 3 coefficients (then a complete file): wrong energies before
    bad.write_bytes(text.replace(zeros, b"$MCA_CAL:\r\n3\r\n1.5E+000 2.5E+000\r\n"))
    with pytest.raises(ValueError, match=r"MCA_CAL.*3 coefficients.*holds 2"):
        read_spe(bad)
    bad.write_bytes(text.replace(zeros, b"$MCA_CAL:\r\n3\r\n"))
    with pytest.raises(ValueError, match=r"MCA_CAL.*3 coefficients.*holds 0"):
        read_spe(bad)
    bad.write_bytes(text.replace(zeros, b"$MCA_CAL:\r\n"))
    with pytest.raises(ValueError, match=r"MCA_CAL.*no values"):
        read_spe(bad)
    bad.write_bytes(text.replace(b"$MEAS_TIM:\r\n296 300\r\n", b"$MEAS_TIM:\r\n"))
    with pytest.raises(ValueError, match=r"MEAS_TIM.*no values"):
        read_spe(bad)


def test_spe_complete_files_without_trailing_sections(tmp_path):
    """Files that end at a section boundary after which nothing is missing still read."""
    full = read_spe(SPE)
    ref = _spe_counts_independently(SPE)
    ok = tmp_path / "ok.spe"
    # no section after $DATA (the layout of many non-ORTEC writers): no calibration
    ok.write_bytes(_spe_cut_after(b"$ROI:"))
    sp = read_spe(ok)
    np.testing.assert_array_equal(sp.counts, ref)
    assert sp.calibration is None and (sp.live_time_s, sp.real_time_s) == (296.0, 300.0)
    # LF line ends, calibrated, ending with $MCA_CAL:
    text = _spe_cut_after(b"$SHAPE_CAL:").replace(b"\r\n", b"\n").replace(
        b"0.000000E+000 0.000000E+000 0.000000E+000", b"1.5E+000 2.5E+000 1.0E-003")
    ok.write_bytes(text)
    sp = read_spe(ok)
    np.testing.assert_array_equal(sp.counts, full.counts)
    np.testing.assert_array_equal(sp.calibration, [1.5, 2.5, 1e-3])


@pytest.mark.slow
def test_spe_reader_matches_becquerel(tmp_path):
    """Cross-check against becquerel (slow: becquerel compiles numba code on import)."""
    ours = read_spectrum(SPE, reader="spe")
    theirs = read_spectrum(SPE, reader="becquerel")
    np.testing.assert_array_equal(ours.counts, theirs.counts)
    assert (ours.live_time_s, ours.real_time_s) == (theirs.live_time_s, theirs.real_time_s)
    assert theirs.reader == "becquerel"
    shutil.copy(SPE, tmp_path / "x.spe")
    raw = (tmp_path / "x.spe").read_bytes()
    (tmp_path / "cut.spc").write_bytes(raw[:3000])
    with pytest.raises(ValueError, match="unreadable"):
        read_spectrum(tmp_path / "cut.spc")


# ORTEC binary .Spc (read by becquerel behind a length check of ours)
SPC_REAL = shared_data_dir() / "gamma" / "spectra" / "becquerel" / "Alcatraz14.Spc"


def _synthetic_spc(counts, live=900.0, real=905.0, cal=(0.5, 0.375, 3e-7)):
    """A 280-record ORTEC .Spc file laid out as becquerel's parser reads it: header
    record, 20 descriptive records, the spectrum from record 22 (256 records of 32
    uint32 counts), two records, then the calibration record."""
    rec = [bytearray(128) for _ in range(280)]
    header = [0] * 34
    header[0] = header[1] = 1           # INFTYP, FILTYP
    header[27] = header[28] = 280       # MAXRCS, LSTREC
    header[30], header[31], header[32] = 22, 256, 8192  # SPCTRP, SPCRCN, SPCCHN
    rec[0][:68] = struct.pack("<34H", *header)
    acq = (b"SYNTH.SPC".ljust(16) + b"17-SEP-121".ljust(12) + b"13:41:07".ljust(10)
           + f"{live:10.0f}".encode() + f"{real:10.0f}".encode() + bytes(34)
           + b"17-SEP-121" + b"13:41:07" + b"17-SEP-121" + b"13:41:07")
    rec[2][:] = acq
    spectrum = np.zeros(8192, dtype="<u4")
    spectrum[: len(counts)] = counts
    for k in range(256):
        rec[21 + k][:] = spectrum[32 * k: 32 * (k + 1)].tobytes()
    rec[279][:12] = struct.pack("<3f", *cal)
    return b"".join(bytes(r) for r in rec)


@pytest.mark.parametrize("cut", [1, 64, 127, 128, 129, 5000, 35840 - 100])
def test_truncated_spc_is_refused(tmp_path, cut):
    # becquerel drops a partial last 128-byte record and read a file cut by 1-128
    # bytes as the 279-record layout, shifted: garbage counts and no error
    raw = _synthetic_spc(np.arange(8192) % 50)
    assert len(raw) == 35840
    bad = tmp_path / "cut.Spc"
    bad.write_bytes(raw[:-cut])
    with pytest.raises(ValueError, match=r"cut\.Spc.*truncated"):
        read_spectrum(bad)


@pytest.mark.skipif(not SPC_REAL.is_file(), reason="../shared gamma data not available")
@pytest.mark.parametrize("cut", [1, 100, 128])
def test_truncated_real_spc_is_refused(tmp_path, cut):
    bad = tmp_path / "Alcatraz14_cut.Spc"
    bad.write_bytes(SPC_REAL.read_bytes()[:-cut])
    with pytest.raises(ValueError, match="truncated"):
        read_spectrum(bad)


@pytest.mark.slow
def test_spc_full_file_read_by_becquerel(tmp_path):
    """The length check lets complete files through (slow: imports becquerel)."""
    counts = (np.arange(8192) * 7919) % 1000
    good = tmp_path / "full.Spc"
    good.write_bytes(_synthetic_spc(counts))
    sp = read_spectrum(good)
    np.testing.assert_array_equal(sp.counts, counts)
    assert (sp.live_time_s, sp.real_time_s) == (900.0, 905.0)
    # extra bytes after the declared records are not a truncation
    good.write_bytes(_synthetic_spc(counts) + b"\0" * 5)
    np.testing.assert_array_equal(read_spectrum(good).counts, counts)
    if SPC_REAL.is_file():
        assert read_spectrum(SPC_REAL).counts.size == 8192
