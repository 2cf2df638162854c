"""Reader for CAEN WaveDump binary waveform files (``wave<ch>.dat``)."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_int, check_option

__all__ = ["read_wavedump", "read_wavedump_config", "WaveDumpData"]

_HEADER_WORDS = 6
_HEADER_BYTES = 4 * _HEADER_WORDS
_SAMPLE_DTYPES = ("<u2", "<f4")
_MAX_EVENT_BYTES = 1 << 26  # 64 MiB: far above any digitizer record length


@dataclass
class WaveDumpData:
    """Events of one WaveDump channel file.

    Attributes
    ----------
    waveforms : ndarray of shape (n_events, n_samples)
        Raw samples (``uint16`` ADC counts, or ``float32`` for x742 boards).
    event_size_bytes, board_id, pattern, channel, event_counter, trigger_time_tag : ndarray
        The six header words of every event (``uint32``); all zeros-length
        arrays when the file has no headers.
    path : str
    has_header : bool
    """

    waveforms: np.ndarray
    event_size_bytes: np.ndarray
    board_id: np.ndarray
    pattern: np.ndarray
    channel: np.ndarray
    event_counter: np.ndarray
    trigger_time_tag: np.ndarray
    path: str
    has_header: bool = True
    n_dropped_bytes: int = field(default=0)

    @property
    def n_events(self) -> int:
        return self.waveforms.shape[0]

    @property
    def n_samples(self) -> int:
        return self.waveforms.shape[1]


def _truncated(path, on_truncated, message):
    if on_truncated == "raise":
        raise ValueError(
            f"{path}: truncated or corrupted WaveDump file: {message}. Pass "
            "on_truncated='drop' to read the complete events before the damage (with a "
            "warning)")
    warnings.warn(f"{path}: {message}; the incomplete event is dropped", UserWarning,
                  stacklevel=3)


def read_wavedump(path, *, header=True, record_length=None, sample_dtype="<u2",
                  on_truncated="raise"):
    """Read a CAEN WaveDump binary file (``OUTPUT_FILE_FORMAT BINARY``).

    With ``OUTPUT_FILE_HEADER YES`` every event is a header of six
    little-endian ``uint32`` words (event size in bytes including the
    24-byte header, board id, pattern, channel, event counter, trigger time
    tag) followed by the samples (little-endian ``uint16`` ADC counts; ``float32``
    for x742 boards).  Without a header the file is a plain sequence of
    ``record_length`` samples per event.

    Every event's declared size is checked against the first event's and
    against what remains in the file: a file that ends inside an event or whose
    headers disagree is refused with a ``ValueError`` (never fewer events
    silently).

    Parameters
    ----------
    path : str or path-like
    header : bool, default=True
        Whether events carry the 24-byte header.
    record_length : int, optional
        Samples per event; required when ``header=False``; when given with a
        header it is checked against the file.
    sample_dtype : {"<u2", "<f4"}
    on_truncated : {"raise", "drop"}, default="raise"
        ``"drop"`` keeps the complete events before an incomplete trailing
        event and warns (it still refuses inconsistent headers).

    Returns
    -------
    WaveDumpData
    """
    check_option(on_truncated, "on_truncated", ("raise", "drop"))
    check_option(sample_dtype, "sample_dtype", _SAMPLE_DTYPES)
    path = os.fspath(path)
    itemsize = np.dtype(sample_dtype).itemsize
    with open(path, "rb") as fh:
        raw = fh.read()
    n_bytes = len(raw)
    if n_bytes == 0:
        raise ValueError(f"{path}: empty file, no WaveDump events")
    if record_length is not None:
        record_length = check_int(record_length, "record_length", low=1)

    if not header:
        if record_length is None:
            raise ValueError("record_length is required when header=False")
        ev_bytes = record_length * itemsize
        n_full, rest = divmod(n_bytes, ev_bytes)
        dropped = 0
        if rest:
            _truncated(path, on_truncated,
                       f"{n_bytes} bytes is not a whole number of {record_length}-sample "
                       f"events ({ev_bytes} bytes each): {n_full} complete events and "
                       f"{rest} extra bytes")
            dropped = rest
        if n_full == 0:
            raise ValueError(f"{path}: no complete event of {ev_bytes} bytes")
        wf = np.frombuffer(raw, dtype=sample_dtype, count=n_full * record_length)
        empty = np.zeros(0, dtype=np.uint32)
        return WaveDumpData(wf.reshape(n_full, record_length).copy(), empty, empty, empty,
                            empty, empty, empty, path, has_header=False,
                            n_dropped_bytes=dropped)

    if n_bytes < _HEADER_BYTES:
        _truncated(path, "raise", f"{n_bytes} bytes, shorter than one 24-byte event header")
    size = int(np.frombuffer(raw, dtype="<u4", count=1)[0])
    if size <= _HEADER_BYTES or (size - _HEADER_BYTES) % itemsize or size > _MAX_EVENT_BYTES:
        raise ValueError(
            f"{path}: not a WaveDump binary file with headers: the first event declares "
            f"{size} bytes (expected 24 header bytes plus a whole number of "
            f"{itemsize}-byte samples, at most {_MAX_EVENT_BYTES} bytes)")
    n_samples = (size - _HEADER_BYTES) // itemsize
    if record_length is not None and record_length != n_samples:
        raise ValueError(
            f"{path}: events hold {n_samples} samples but record_length={record_length}")
    n_full, rest = divmod(n_bytes, size)
    dropped = 0
    if rest:
        where = n_full * size
        if rest >= 4:
            # the partial event must start with its own size word: a damaged size word
            # earlier on mis-frames the file, which is corruption, not truncation
            declared = int(np.frombuffer(raw, dtype="<u4", count=1, offset=where)[0])
            if declared != size:
                raise ValueError(
                    f"{path}: corrupted or mixed-length WaveDump file: the incomplete "
                    f"event at byte {where} declares {declared} bytes, the first event "
                    f"{size} bytes")
        _truncated(path, on_truncated,
                   f"event {n_full} starts at byte {where} and declares {size} bytes but "
                   f"only {rest} remain ({n_full} complete events before it)")
        dropped = rest
    if n_full == 0:
        raise ValueError(f"{path}: no complete event")
    words = np.frombuffer(raw, dtype="<u4", count=n_full * size // 4) if size % 4 == 0 \
        else None
    if words is not None:
        hdr = words.reshape(n_full, size // 4)[:, :_HEADER_WORDS]
    else:
        buf = np.frombuffer(raw, dtype=np.uint8, count=n_full * size).reshape(n_full, size)
        hdr = buf[:, :_HEADER_BYTES].copy().view("<u4")
    bad = np.flatnonzero(hdr[:, 0] != size)
    if bad.size:
        k = int(bad[0])
        raise ValueError(
            f"{path}: corrupted or mixed-length WaveDump file: event {k} (byte {k * size}) "
            f"declares {int(hdr[k, 0])} bytes, the first event {size} bytes")
    samples = np.frombuffer(raw, dtype=np.uint8, count=n_full * size).reshape(n_full, size)
    wf = samples[:, _HEADER_BYTES:].copy().view(sample_dtype).reshape(n_full, n_samples)
    hdr = np.array(hdr, dtype=np.uint32)
    return WaveDumpData(wf, hdr[:, 0], hdr[:, 1], hdr[:, 2], hdr[:, 3], hdr[:, 4],
                        hdr[:, 5], path, has_header=True, n_dropped_bytes=dropped)


def read_wavedump_config(path):
    """Parse a ``WaveDumpConfig.txt``: ``{section: {KEY: value string}}``.

    Lines starting with ``#`` are comments; ``[COMMON]`` and ``[<channel>]``
    open sections; keys before the first section go to ``"COMMON"``.  Values
    are kept as strings (``RECORD_LENGTH`` -> ``"10000"``).  As in WaveDump,
    the lines from an ``@OFF`` line to the next ``@ON`` line are skipped
    (disabled settings); other ``@`` lines are ignored.
    """
    out = {"COMMON": {}}
    section = "COMMON"
    path = os.fspath(path)
    with open(path, encoding="latin-1") as fh:
        text = fh.read()
    if "\x00" in text:
        raise ValueError(f"{path}: not a WaveDump configuration file (binary content)")
    off = False
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("@"):
            marker = line.split()[0]
            if marker == "@OFF":
                off = True
            elif marker == "@ON":
                off = False
            continue
        if not line or off:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            out.setdefault(section, {})
            continue
        parts = line.split(None, 1)
        out[section][parts[0]] = parts[1].strip() if len(parts) > 1 else ""
    return out
