"""Reading ECG records and their reference annotations (WFDB format)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._validation import check_int
from ._evaluate import BEAT_SYMBOLS, reference_beats

__all__ = ["ECGRecord", "read_wfdb_record", "wfdb_record_path"]

_WFDB_EXTENSIONS = (".hea", ".dat", ".atr", ".xws")


@dataclass(frozen=True)
class ECGRecord:
    """One ECG channel of a record with its reference annotations.

    Attributes
    ----------
    name : str
        Record name (e.g. ``"101"``).
    signal : ndarray of float64, shape (n_samples,)
        The channel in physical units (``units``, usually mV).
    sampling_rate : float
        Sampling rate in Hz.
    channel : int
        Index of the channel in the record.
    channel_name : str
        Signal description from the header (e.g. ``"MLII"``).
    units : str
        Physical units of ``signal``.
    annotation_samples : ndarray of int64
        Sample indices of all reference annotations (beats and non-beats),
        relative to the first sample of ``signal``.  Beats lie inside the
        signal; a non-beat mark may sit at ``n_samples``, just after its last
        sample (e.g. a rhythm end mark at the end of a record).
    annotation_symbols : ndarray of str
        Their symbols.
    annotation_subtypes : ndarray of int
        Their ``subtyp`` fields.
    sample_offset : int
        Index in the full record of ``signal[0]`` (non-zero for excerpts).
    """

    name: str
    signal: np.ndarray = field(repr=False)
    sampling_rate: float
    channel: int = 0
    channel_name: str = ""
    units: str = "mV"
    annotation_samples: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64),
                                           repr=False)
    annotation_symbols: np.ndarray = field(default_factory=lambda: np.zeros(0, "<U1"),
                                           repr=False)
    annotation_subtypes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64),
                                            repr=False)
    sample_offset: int = 0

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[0])

    @property
    def beat_samples(self) -> np.ndarray:
        """Sample indices of the beat annotations (all of them, VF included)."""
        mask = np.isin(self.annotation_symbols, sorted(BEAT_SYMBOLS))
        return self.annotation_samples[mask]

    @property
    def scored_beat_samples(self) -> np.ndarray:
        """Beat annotations outside ventricular flutter episodes (EC57 reference)."""
        return reference_beats(self.annotation_samples, self.annotation_symbols)[0]

    @property
    def flutter_episodes(self) -> np.ndarray:
        """``[onset, offset]`` sample pairs of ventricular flutter/fibrillation."""
        return reference_beats(self.annotation_samples, self.annotation_symbols)[1]


def wfdb_record_path(path) -> Path:
    """Normalise a WFDB record path: ``dir/101``, ``dir/101.hea`` or ``dir/101.dat``.

    Returns the path without extension and checks that the header exists.
    """
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or pathlib.Path, got {type(path).__name__}")
    p = Path(path)
    if p.suffix in _WFDB_EXTENSIONS:
        p = p.with_suffix("")
    header = p.with_name(p.name + ".hea")
    if not header.is_file():
        raise FileNotFoundError(
            f"WFDB record {str(p)!r}: header file {str(header)!r} not found "
            "(give the record path without extension, as wfdb names it)")
    return p


def read_wfdb_record(path, *, channel=0, annotator="atr", sampfrom=0, sampto=None) -> ECGRecord:
    """Read one channel of a WFDB record and its reference annotations.

    Parameters
    ----------
    path : str or pathlib.Path
        Record path without extension (``".../mitdb/101"``); a path ending in
        ``.hea``/``.dat``/``.atr`` is accepted too.
    channel : int or str
        Channel index (0 = first signal, MLII for most MIT-BIH records) or signal
        name from the header (``"MLII"``, ``"V5"``; the first channel of that name,
        as ``sparse-events detect --channel`` picks it).
    annotator : str or None
        Annotation file extension (``"atr"`` for the reference beats); None
        reads no annotations.
    sampfrom, sampto : int, optional
        Excerpt ``[sampfrom, sampto)``; annotation samples are shifted so they
        index the excerpt.

    Returns
    -------
    ECGRecord

    Raises
    ------
    FileNotFoundError
        Missing header, signal or annotation file.
    ValueError
        Channel out of range or not a signal name of the record (the message
        lists its names), empty excerpt, unreadable, truncated or corrupted
        files (the message names the file): a header that does not
        describe its signals, a signal file shorter than the header promises,
        a checksum or initial value that does not match the header (checked
        when the excerpt starts at sample 0 / covers the whole record), an
        annotation file without its end-of-file marker or with annotations
        beyond the end of the record.
    """
    import wfdb

    p = wfdb_record_path(path)
    hea = f"{p}.hea"
    try:
        header = wfdb.rdheader(str(p))
    except Exception as exc:  # wfdb raises many kinds on bad headers
        raise ValueError(f"WFDB record {str(p)!r}: cannot read header {hea!r} ({exc})") from exc
    n_sig = int(header.n_sig or 0)
    described = min(len(getattr(header, f, None) or ()) for f in ("file_name", "fmt", "sig_name"))
    if n_sig < 1 or described != n_sig:
        raise ValueError(f"WFDB record {str(p)!r}: header {hea!r} declares {n_sig} signal(s) "
                         f"but describes {described} (truncated or corrupted header)")
    if header.sig_len is None or header.fs is None or not np.isfinite(header.fs) \
            or header.fs <= 0:
        raise ValueError(f"WFDB record {str(p)!r}: header {hea!r} gives no signal length or "
                         f"sampling frequency (sig_len={header.sig_len}, fs={header.fs})")
    channel = _channel_index(channel, list(header.sig_name), p.name)
    if channel >= n_sig:
        raise ValueError(f"channel must be in [0, {n_sig - 1}] for record {p.name!r} "
                         f"({n_sig} signal(s)), got {channel}")
    sampfrom = check_int(sampfrom, "sampfrom", low=0)
    sig_len = int(header.sig_len)
    sampto = sig_len if sampto is None else check_int(sampto, "sampto", low=0)
    if not sampfrom < sampto <= sig_len:
        raise ValueError(f"need 0 <= sampfrom < sampto <= {sig_len} for record {p.name!r}, "
                         f"got sampfrom={sampfrom}, sampto={sampto}")
    dat = p.with_name(str(header.file_name[channel]))
    if not dat.is_file():
        raise FileNotFoundError(f"WFDB record {str(p)!r}: signal file {str(dat)!r} not found")
    try:
        rec = wfdb.rdrecord(str(p), channels=[channel], sampfrom=sampfrom, sampto=sampto,
                            physical=False)
        digital = np.asarray(rec.d_signal[:, 0])
        signal = np.asarray(rec.dac(expanded=False, return_res=64, inplace=False)[:, 0],
                            dtype=np.float64)
    except Exception as exc:
        raise ValueError(
            f"WFDB record {str(p)!r}: cannot read samples [{sampfrom}, {sampto}) of channel "
            f"{channel} from {str(dat)!r} ({type(exc).__name__}: {exc}); the file is "
            "truncated or corrupted, or does not match its header") from exc
    if signal.shape[0] != sampto - sampfrom:
        raise ValueError(
            f"WFDB record {str(p)!r}: {str(dat)!r} holds {signal.shape[0]} samples of "
            f"[{sampfrom}, {sampto}) but the header promises {sig_len} (truncated file)")
    _check_integrity(header, channel, digital, sampfrom, sampto, sig_len, str(dat))
    samples = np.zeros(0, np.int64)
    symbols = np.zeros(0, "<U1")
    subtypes = np.zeros(0, np.int64)
    if annotator is not None:
        ann_file = p.with_name(f"{p.name}.{annotator}")
        if not ann_file.is_file():
            raise FileNotFoundError(
                f"WFDB record {str(p)!r}: annotation file {str(ann_file)!r} not found")
        samples, symbols, subtypes = _read_annotations(p, annotator, ann_file, sampfrom, sampto,
                                                       sig_len)
    return ECGRecord(
        name=p.name, signal=signal, sampling_rate=float(rec.fs), channel=channel,
        channel_name=str(rec.sig_name[0]), units=str(rec.units[0]),
        annotation_samples=samples, annotation_symbols=symbols,
        annotation_subtypes=subtypes, sample_offset=sampfrom)


def _channel_index(channel, names, record):
    """Index of ``channel``: an int as is (checked), a str looked up in ``names``."""
    if isinstance(channel, str):
        if channel not in names:
            raise ValueError(f"channel {channel!r} is not a signal of record {record!r}; its "
                             f"signals are {', '.join(map(repr, names))} (a name, or an "
                             f"index 0..{len(names) - 1})")
        return names.index(channel)
    try:
        return check_int(channel, "channel", low=0)
    except TypeError:
        raise TypeError(f"channel must be an integer index or a signal name (str), got "
                        f"{type(channel).__name__} {channel!r}") from None


def _check_integrity(header, channel, digital, sampfrom, sampto, sig_len, dat):
    """Initial value and 16-bit checksum of the header against the samples read."""
    init = getattr(header, "init_value", None)
    if sampfrom == 0 and init is not None and init[channel] is not None \
            and int(init[channel]) != int(digital[0]):
        raise ValueError(
            f"{dat}: first sample of channel {channel} is {int(digital[0])} but the header "
            f"gives the initial value {int(init[channel])} (corrupted file, or a header of "
            "another file)")
    checksum = getattr(header, "checksum", None)
    one_per_frame = all(int(n or 1) == 1 for n in (getattr(header, "samps_per_frame", None)
                                                    or [1]))
    if sampfrom == 0 and sampto == sig_len and one_per_frame and checksum is not None \
            and checksum[channel] is not None:
        total = int(np.sum(digital, dtype=np.int64))
        if (total - int(checksum[channel])) % 65536:
            raise ValueError(
                f"{dat}: checksum of channel {channel} is {total % 65536} (mod 65536) but the "
                f"header gives {int(checksum[channel]) % 65536}: the samples are corrupted")


_RX_TIME_RESOLUTION = re.compile(r"## time resolution: (?P<fs>\d+\.?\d*)")


def _definition_note_problem(raw: bytes):
    """Why ``wfdb.rdann`` would not return on this annotation file, or None.

    wfdb (4.3) interprets the NOTE annotations at sample 0 whose text starts
    with ``"## "`` as definitions (time resolution, custom labels) in a loop
    that never advances on any other ``"## "`` text: a corrupted definition
    note makes ``rdann`` spin forever.  This walks the annotation words (WFDB
    ``annot`` format: 6-bit code and 10-bit time interval per 16-bit word;
    SKIP = 59 with a 32-bit interval, NUM/SUB/CHN = 60/61/62, AUX = 63 with
    its text) and replays that loop.
    """
    words = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<u2")
    times, codes, notes = [], [], []
    t, i, n = 0, 0, words.size
    while i < n:
        code, interval = int(words[i]) >> 10, int(words[i]) & 0x3FF
        if code == 0 and interval == 0:
            break
        if code == 59:  # SKIP: the interval follows, high 16 bits first
            if i + 2 >= n:
                return "truncated SKIP field"
            skip = (int(words[i + 1]) << 16) | int(words[i + 2])
            t += skip - (1 << 32) if skip >= 1 << 31 else skip
            i += 3
            continue
        if code in (60, 61, 62):
            i += 1
            continue
        if code == 63:  # AUX text of the previous annotation
            start = 2 * (i + 1)
            if notes:
                notes[-1] = raw[start:start + interval].decode("latin-1")
            i += 1 + (interval + 1) // 2
            continue
        t += interval
        times.append(t)
        codes.append(code)
        notes.append(None)
        i += 1
    n_definitions = sum(1 for tt, c in zip(times, codes) if tt == 0 and c == 22)
    k, has_rate = 0, False
    while k < n_definitions:
        note = notes[k] if k < len(notes) else None
        if note is None or not note.startswith("## "):
            k += 1
            continue
        if not has_rate and _RX_TIME_RESOLUTION.search(note):
            has_rate = True
            k += 1
            continue
        if note == "## annotation type definitions":
            while k < len(notes) and notes[k] != "## end of definitions":
                k += 1
            k += 1
            continue
        return f"unrecognized definition note {note!r} at sample 0"
    return None


def _read_annotations(p, annotator, ann_file, sampfrom, sampto, sig_len):
    import wfdb

    raw = ann_file.read_bytes()
    size = len(raw)
    if size == 0 or size % 2 or raw[-2:] != b"\x00\x00":
        raise ValueError(
            f"{str(ann_file)}: truncated or corrupted WFDB annotation file ({size} bytes; "
            "it must end with the two-byte end-of-file marker 0x0000)")
    problem = _definition_note_problem(raw)
    if problem:
        raise ValueError(f"{str(ann_file)}: corrupted WFDB annotation file: {problem}")
    try:
        ann = wfdb.rdann(str(p), annotator, sampfrom=sampfrom)
        sample = np.asarray(ann.sample, dtype=np.int64)
        symbols = np.asarray(ann.symbol, dtype=str)
        subtypes = np.asarray(ann.subtype, dtype=np.int64)
    except Exception as exc:
        raise ValueError(f"{str(ann_file)}: cannot read the annotations "
                         f"({type(exc).__name__}: {exc}); truncated or corrupted file") from exc
    if not (sample.size == symbols.size == subtypes.size):
        raise ValueError(f"{str(ann_file)}: inconsistent annotation fields (corrupted file)")
    if sample.size and (sample.min() < 0 or np.any(np.diff(sample) < 0)):
        raise ValueError(f"{str(ann_file)}: annotation times are negative or decreasing "
                         "(corrupted file)")
    # a non-beat mark may sit at sample sig_len, just after the last sample (e.g. the rhythm
    # end marks of CPSC 2021); a beat there, or anything later, cannot belong to this record
    at_end = sample == sig_len
    beyond = (sample > sig_len) | (at_end & np.isin(symbols, sorted(BEAT_SYMBOLS)))
    if beyond.any():
        k = int(np.flatnonzero(beyond)[0])
        raise ValueError(
            f"{str(ann_file)}: annotation {str(symbols[k])!r} at sample {int(sample[k])} lies beyond "
            f"the end of the record ({sig_len} samples): corrupted file, or annotations of "
            "another record")
    keep = (sample >= sampfrom) & ((sample < sampto) | (at_end & (sampto == sig_len)))
    return sample[keep] - sampfrom, symbols[keep], subtypes[keep]
