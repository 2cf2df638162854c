"""Measured gamma-ray spectra (MCA histograms): ORTEC SPE reader, becquerel for the rest."""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass

import numpy as np

from .._validation import check_option

__all__ = ["read_spectrum", "read_spe", "MeasuredSpectrum"]


@dataclass
class MeasuredSpectrum:
    """A measured pulse-height spectrum.

    Attributes
    ----------
    counts : ndarray of int64, shape (n_channels,)
    live_time_s, real_time_s : float or None
        Acquisition live and real (clock) times in seconds.
    calibration : ndarray or None
        Polynomial energy calibration ``E(x) = c[0] + c[1] x + c[2] x^2 + ...``
        in keV of the channel coordinate ``x``; ``None`` when the file has no
        valid calibration.  Channel ``k`` spans ``x in [k, k + 1]`` (the
        convention of becquerel), so ``energy_edges_kev = E(0..n_channels)``.
    path : str
    start_time : datetime or None
    reader : str
        ``"spe"`` (ours) or ``"becquerel"``.
    """

    counts: np.ndarray
    live_time_s: float | None
    real_time_s: float | None
    calibration: np.ndarray | None
    path: str
    start_time: _dt.datetime | None = None
    reader: str = "spe"

    @property
    def n_channels(self) -> int:
        return self.counts.size

    @property
    def channel_edges(self) -> np.ndarray:
        return np.arange(self.n_channels + 1, dtype=np.float64)

    @property
    def energy_edges_kev(self) -> np.ndarray | None:
        if self.calibration is None:
            return None
        return np.polynomial.polynomial.polyval(self.channel_edges, self.calibration)

    @property
    def dead_time_fraction(self) -> float:
        """``1 - live_time_s / real_time_s`` (the analyzer's own dead-time fraction)."""
        if not self.live_time_s or not self.real_time_s:
            raise ValueError(f"{self.path}: live and real times are not both known")
        return 1.0 - self.live_time_s / self.real_time_s


def _last_section(text):
    """Name of the last ``$SECTION:`` of an SPE text (None if there is none)."""
    name = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("$") and line.endswith(":"):
            name = line[1:-1]
    return name


# sections an ORTEC program writes after $DATA:, in this order; the first three are
# always followed by $MCA_CAL:, so a file ending with one of them lost its calibration
_SPE_BEFORE_MCA_CAL = ("ROI", "PRESETS", "ENER_FIT")


def _check_spe_ending(text, sec, path):
    """Refuse an SPE text that ends inside a section (a truncated file).

    The file ends inside a section when its last line has no line terminator
    (its last characters may be cut) or a CR-LF file ends with a lone CR,
    when its last section has no values, or
    when it ends with one of the ORTEC sections written before ``$MCA_CAL:``
    and has no ``$MCA_CAL:``.  A complete file without these trailing sections
    (e.g. ending with ``$DATA:``) is accepted.
    """
    last = _last_section(text)
    lines = text.splitlines()
    if not text.endswith(("\n", "\r")):
        raise ValueError(f"{path}: ${last}: the file ends inside the line {lines[-1]!r} "
                         "(no line terminator): truncated file")
    if text.endswith("\r") and "\r\n" in text:
        raise ValueError(f"{path}: the file ends between the CR and LF of its last line "
                         "terminator: truncated file")
    if not any(sec[last]):
        raise ValueError(f"{path}: the file ends with the section header ${last}: and "
                         "no values: truncated file")
    if last in _SPE_BEFORE_MCA_CAL and "MCA_CAL" not in sec:
        raise ValueError(f"{path}: the file ends with the section ${last}:, which ORTEC "
                         "files follow with $MCA_CAL: (energy calibration), and has no "
                         "$MCA_CAL: truncated file")


def _spe_sections(text, path):
    sections = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("$") and line.endswith(":"):
            current = line[1:-1]
            if current in sections:
                raise ValueError(f"{path}: section ${current}: appears twice")
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
        elif line:
            raise ValueError(f"{path}: not an ORTEC SPE file (text before the first "
                             f"$SECTION: line: {line[:40]!r})")
    return sections


def read_spe(path):
    """Read an ORTEC ASCII ``.spe`` spectrum (strict).

    Sections used: ``$DATA:`` (first line ``first last`` channel numbers, then
    one count per channel), ``$MEAS_TIM:`` (``live real`` in seconds),
    ``$DATE_MEA:`` (``mm/dd/yyyy hh:mm:ss``) and ``$MCA_CAL:`` (number of
    coefficients, then the coefficients ``c0 c1 c2 ...`` in keV; all zero means
    uncalibrated).  A ``$DATA`` block with fewer (or more) counts than its
    channel range announces, non-integer or negative counts, or a missing
    ``$DATA`` section raise ``ValueError`` naming the file.
    """
    path = os.fspath(path)
    with open(path, encoding="latin-1", newline="") as fh:  # keep CR-LF: see _check_spe_ending
        text = fh.read()
    if not text.strip():
        raise ValueError(f"{path}: empty file")
    sec = _spe_sections(text, path)
    if "DATA" not in sec:
        raise ValueError(f"{path}: no $DATA: section (not an SPE file, or truncated)")
    data = [x for x in sec["DATA"] if x]
    if not data:
        raise ValueError(f"{path}: $DATA: section is empty (truncated file)")
    _check_spe_ending(text, sec, path)
    try:
        first, last = (int(v) for v in data[0].split())
    except ValueError:
        raise ValueError(f"{path}: $DATA: first line must be 'first last' channel numbers, "
                         f"got {data[0]!r}") from None
    if not 0 <= first <= last:
        raise ValueError(f"{path}: $DATA: channel range {first}..{last} must satisfy "
                         "0 <= first <= last")
    n_expected = last - first + 1
    values = data[1:]
    if len(values) != n_expected:
        raise ValueError(
            f"{path}: $DATA: announces channels {first}..{last} ({n_expected} counts) but "
            f"holds {len(values)} (truncated or corrupted file)")
    counts = np.empty(len(values), dtype=np.int64)
    for k, v in enumerate(values):
        try:
            counts[k] = int(v)
        except (ValueError, OverflowError):
            raise ValueError(f"{path}: $DATA: non-integer count {v!r} at channel "
                             f"{first + k}") from None
    if np.any(counts < 0):
        raise ValueError(f"{path}: $DATA: negative count at channel "
                         f"{first + int(np.flatnonzero(counts < 0)[0])}")
    for name in ("MEAS_TIM", "DATE_MEA", "MCA_CAL"):
        if name in sec and not any(sec[name]):
            raise ValueError(f"{path}: section ${name}: has no values (truncated or "
                             "corrupted file)")
    live = real = None
    if "MEAS_TIM" in sec:
        try:
            live, real = (float(v) for v in sec["MEAS_TIM"][0].split()[:2])
        except ValueError:
            raise ValueError(f"{path}: $MEAS_TIM: must be 'live real' in seconds, got "
                             f"{sec['MEAS_TIM'][0]!r}") from None
        if live < 0 or real < 0 or live > real * (1 + 1e-9):
            raise ValueError(f"{path}: $MEAS_TIM: live time {live} s and real time {real} s "
                             "are not 0 <= live <= real")
    start = None
    if sec.get("DATE_MEA"):
        try:
            start = _dt.datetime.strptime(sec["DATE_MEA"][0], "%m/%d/%Y %H:%M:%S")
        except ValueError:
            start = None
    cal = None
    if "MCA_CAL" in sec:
        cal_lines = [x for x in sec["MCA_CAL"] if x]
        try:
            n_coef = int(cal_lines[0].split()[0])
        except (ValueError, IndexError):
            raise ValueError(f"{path}: $MCA_CAL: first line must be the number of "
                             f"coefficients, got {cal_lines[0]!r}") from None
        if n_coef < 1:
            raise ValueError(f"{path}: $MCA_CAL: the number of coefficients must be >= 1, "
                             f"got {n_coef}")
        coefs = []
        for tok in (cal_lines[1].split() if len(cal_lines) > 1 else []):
            try:
                coefs.append(float(tok))
            except ValueError:
                break  # unit label, e.g. "keV"
        if len(coefs) < n_coef:
            raise ValueError(f"{path}: $MCA_CAL: declares {n_coef} coefficients but holds "
                             f"{len(coefs)} (truncated or corrupted file)")
        coefs = np.array(coefs[:n_coef])
        if np.any(coefs[1:] != 0):
            cal = coefs
    if first != 0:
        counts = np.concatenate([np.zeros(first, dtype=np.int64), counts])
    return MeasuredSpectrum(counts=counts, live_time_s=live, real_time_s=real,
                            calibration=cal, path=path, start_time=start, reader="spe")


_SPC_RECORD = 128  # an ORTEC .Spc file is a sequence of 128-byte records


def _check_spc_length(path):
    """Refuse an ORTEC ``.Spc`` file shorter than its header declares.

    becquerel reads the file by 128-byte records and silently drops a partial
    last record; a file cut by a few bytes then has one record less, which it
    takes for the 279-record layout and reads shifted (garbage counts).  The
    first record holds, as little-endian 16-bit words, ``LSTREC`` (word 29:
    the number of the last record) and ``SPCTRP``/``SPCRCN`` (words 31 and 32:
    first record and number of records of the spectrum, 1-based), which give
    the length the file must have.  A first record whose word 1 (``INFTYP``)
    is not 1 is not an ORTEC header: left to becquerel to refuse.
    """
    size = os.path.getsize(path)
    if size < _SPC_RECORD:
        raise ValueError(f"{path}: {size} bytes, shorter than the {_SPC_RECORD}-byte header "
                         "record of an ORTEC .Spc file: truncated file")
    with open(path, "rb") as fh:
        head = fh.read(_SPC_RECORD)
    words = np.frombuffer(head, dtype="<u2")
    if words[0] != 1:
        return
    last_rec, spc_first, spc_n = int(words[28]), int(words[30]), int(words[31])
    n_records = max(last_rec, spc_first - 1 + spc_n)
    if size < n_records * _SPC_RECORD:
        raise ValueError(
            f"{path}: the ORTEC .Spc header declares {n_records} records of {_SPC_RECORD} "
            f"bytes ({n_records * _SPC_RECORD} bytes) but the file has {size} bytes: "
            "truncated file")


def _read_becquerel(path):
    if path.lower().endswith(".spc"):
        _check_spc_length(path)
    try:
        import becquerel as bq  # heavy import (numba compilation): only when needed
    except ImportError as exc:  # pragma: no cover - becquerel is in the gamma extra
        raise ImportError(
            "reading this spectrum format needs becquerel: pip install "
            "'sparse-events[gamma]'") from exc
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec = bq.Spectrum.from_file(path, verbose=False)
    except Exception as exc:
        raise ValueError(f"{path}: unreadable spectrum file ({type(exc).__name__}: "
                         f"{exc})") from exc
    counts = np.asarray(spec.counts_vals)
    if not np.allclose(counts, np.round(counts)) or np.any(counts < 0):
        raise ValueError(f"{path}: counts are not non-negative integers")
    cal = None
    if spec.is_calibrated:
        edges = np.asarray(spec.bin_edges_kev, dtype=np.float64)
        deg = min(3, edges.size - 1)
        cal = np.polynomial.polynomial.polyfit(np.arange(edges.size), edges, deg)
        cal[np.abs(cal) < 1e-12 * np.abs(cal).max()] = 0.0
        cal = np.trim_zeros(cal, "b")
    return MeasuredSpectrum(
        counts=np.round(counts).astype(np.int64),
        live_time_s=None if spec.livetime is None else float(spec.livetime),
        real_time_s=None if spec.realtime is None else float(spec.realtime),
        calibration=cal, path=path, start_time=spec.start_time, reader="becquerel")


def read_spectrum(path, *, reader="auto"):
    """Read a measured spectrum file into a :class:`MeasuredSpectrum`.

    Parameters
    ----------
    path : str or path-like
        ``.spe`` (ORTEC ASCII), ``.cnf`` (Canberra), ``.spc`` (ORTEC binary),
        ``.h5`` (becquerel) and whatever else becquerel reads.
    reader : {"auto", "spe", "becquerel"}
        ``"auto"``: our strict parser for ``.spe`` (no heavy import), becquerel
        for every other extension.

    Raises
    ------
    ValueError
        Unreadable, truncated or corrupted file (the message names the file).
    FileNotFoundError
    """
    check_option(reader, "reader", ("auto", "spe", "becquerel"))
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"spectrum file not found: {path}")
    if reader == "spe" or (reader == "auto" and path.lower().endswith(".spe")):
        return read_spe(path)
    return _read_becquerel(path)
