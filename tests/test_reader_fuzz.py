"""Fuzzing the file readers with truncated and corrupted copies of the committed excerpts.

Each example copies one file of ``tests/data`` to a temporary directory,
truncates it at a random offset or flips one bit of a random byte (hypothesis:
reproducible, shrinking; 40 examples per reader in the default "ci" profile,
10,000 with ``HYPOTHESIS_PROFILE=long``), and reads it.  The reader must either
raise a clear error (``ValueError`` or ``OSError``, message naming the file) or
return a result consistent with what the file promises: never a silently
shorter record, never misaligned events, never values that differ from the
original where the format carries a check (WFDB checksums).
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
from _bad_input_engine import time_limit
from hypothesis import example, given
from hypothesis import strategies as st

from sparse_events.ecg import read_wfdb_record
from sparse_events.gamma import read_spe, read_spectrum, read_wavedump

DATA = Path(__file__).parent / "data"
WFDB = DATA / "mitdb_excerpt" / "mitdb119_0_60s"
WAVEDUMP = {"hpge": DATA / "hpge_dt5720_wave0_first3.dat",
            "sipm": DATA / "sipm_dt5751_wave0_first20.dat"}
SPE = DATA / "digibase_5min_30_1.spe"
READ_ERRORS = (ValueError, OSError)

mutation = st.tuples(st.sampled_from(["truncate", "flip"]), st.floats(0, 1, exclude_max=True),
                     st.integers(0, 7))


def _mutate(path: Path, op: str, where: float, bit: int) -> int:
    """Truncate ``path`` or flip one bit; return the byte offset touched."""
    raw = bytearray(path.read_bytes())
    offset = int(where * len(raw))
    if op == "truncate":
        raw = raw[:offset]
    else:
        raw[offset] ^= 1 << bit
    path.write_bytes(bytes(raw))
    return offset


def _names_file(exc, *names):
    msg = str(exc)
    assert any(n in msg for n in names), f"error does not name the file: {msg!r}"


# ------------------------------------------------------------------------------ WFDB
ORIGINAL_WFDB = {ch: read_wfdb_record(WFDB, channel=ch) for ch in (0, 1)}


@given(st.sampled_from(["hea", "dat", "atr"]), mutation, st.sampled_from([0, 1]))
def test_wfdb_record_fuzz(ext, mut, channel):
    import wfdb

    with tempfile.TemporaryDirectory() as tmp:
        for e in ("hea", "dat", "atr"):
            shutil.copy(f"{WFDB}.{e}", Path(tmp) / f"{WFDB.name}.{e}")
        target = Path(tmp) / f"{WFDB.name}.{ext}"
        _mutate(target, *mut)
        rec_path = Path(tmp) / WFDB.name
        try:
            with time_limit(20):
                rec = read_wfdb_record(rec_path, channel=channel)
        except READ_ERRORS as exc:
            _names_file(exc, WFDB.name)
            return
        orig = ORIGINAL_WFDB[channel]
        header = wfdb.rdheader(str(rec_path))
        # consistent with the (possibly modified) header: every promised sample is there
        assert rec.n_samples == header.sig_len
        assert rec.signal.dtype == np.float64
        assert rec.sampling_rate == float(header.fs) > 0
        if ext == "dat":
            # the checksum guards the samples: a damaged channel cannot come back unnoticed
            np.testing.assert_array_equal(rec.signal, orig.signal)
        if ext == "atr":
            a = rec.annotation_samples
            assert a.size == rec.annotation_symbols.size == rec.annotation_subtypes.size
            assert np.all(np.diff(a) >= 0) and (a.size == 0 or (a[0] >= 0 and
                                                                a[-1] < rec.n_samples))
            if mut[0] == "truncate":  # a truncated annotation file is always refused
                raise AssertionError("truncated annotation file accepted")
        else:
            np.testing.assert_array_equal(rec.annotation_samples, orig.annotation_samples)
        if ext == "dat" and mut[0] == "truncate":
            raise AssertionError("truncated signal file accepted")


# ------------------------------------------------------------------------------ WaveDump
ORIGINAL_WAVEDUMP = {k: read_wavedump(p) for k, p in WAVEDUMP.items()}
_FIELDS = ("event_size_bytes", "board_id", "pattern", "channel", "event_counter",
           "trigger_time_tag")


@given(st.sampled_from(sorted(WAVEDUMP)), mutation, st.sampled_from(["raise", "drop"]))
# a flipped bit in the first size word mis-frames the file (found by the long run)
@example(which="sipm", mut=("flip", 6.103515625e-05, 5), on_truncated="drop")
def test_wavedump_fuzz(which, mut, on_truncated):
    orig = ORIGINAL_WAVEDUMP[which]
    size = int(orig.event_size_bytes[0])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / WAVEDUMP[which].name
        shutil.copy(WAVEDUMP[which], path)
        offset = _mutate(path, *mut)
        n_bytes = path.stat().st_size
        try:
            with time_limit(20), warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                wd = read_wavedump(path, on_truncated=on_truncated)
        except READ_ERRORS as exc:
            _names_file(exc, path.name)
            return
    if mut[0] == "truncate":
        complete, rest = divmod(n_bytes, size)
        # only whole events, exactly those the file holds; a partial one is refused
        # (on_truncated="raise") or dropped with a warning ("drop")
        assert rest == 0 or on_truncated == "drop"
        assert wd.n_events == complete >= 1
        assert wd.n_dropped_bytes == rest
        assert (rest > 0) == any("dropped" in str(w.message) for w in caught)
        np.testing.assert_array_equal(wd.waveforms, orig.waveforms[:complete])
        for f in _FIELDS:
            np.testing.assert_array_equal(getattr(wd, f), getattr(orig, f)[:complete])
        return
    # a flipped bit is accepted only where the format has no redundancy: one header word
    # or one sample changes, nothing shifts
    assert wd.n_events == orig.n_events and wd.n_samples == orig.n_samples
    changed = int(np.sum(wd.waveforms != orig.waveforms))
    changed += sum(int(np.sum(getattr(wd, f) != getattr(orig, f))) for f in _FIELDS)
    assert changed == 1, (offset, changed)
    assert np.all(wd.event_size_bytes == size)


# ------------------------------------------------------------------------------ SPE
ORIGINAL_SPE = read_spe(SPE)


@given(mutation, st.sampled_from([read_spe, read_spectrum]))
def test_spe_fuzz(mut, reader):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / SPE.name
        shutil.copy(SPE, path)
        _mutate(path, *mut)
        try:
            with time_limit(20):
                spec = reader(path)
        except READ_ERRORS as exc:
            _names_file(exc, path.name)
            return
    counts = spec.counts
    assert counts.dtype == np.int64 and counts.ndim == 1 and np.all(counts >= 0)
    if spec.live_time_s is not None:
        assert 0 <= spec.live_time_s <= spec.real_time_s * (1 + 1e-9)
    if mut[0] == "truncate":
        # a truncated file is accepted only when every count came through intact
        np.testing.assert_array_equal(counts, ORIGINAL_SPE.counts)
    else:
        # one flipped bit: the channel range still holds, at most one count differs
        assert counts.size == ORIGINAL_SPE.counts.size
        assert int(np.sum(counts != ORIGINAL_SPE.counts)) <= 1
