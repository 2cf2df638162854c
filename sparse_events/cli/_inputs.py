"""Input files of the command line: WFDB records, CSV and NumPy signals.

Inputs are checked up front (cheaply: file exists, header readable, channel in
range, sampling rate known) so that a bad input stops the command with one
line before any work starts; the signal itself is read later, in the worker
that processes the record.

CSV files: one column per channel (or kernel), an optional header row; blank lines
and ``#`` comment lines are allowed only before the header (or first data row) and
also at the end of the file.  A blank or comment line between rows is an
error naming its line, since skipping it would shift every later sample index.

Delimiter: tab if the first row (header or data) has one outside double quotes, else
semicolon if it has one, else comma, else whitespace (``"t;s",ecg`` is comma-separated).
With a semicolon, tab or whitespace delimiter a comma inside a numeric cell is a
decimal comma (``0,5;1,25`` is 0.5 and 1.25, as spreadsheets in such locales export).
This is decided per column: a column is numeric when every non-empty cell looks like a
number; a text column (``note`` holding ``N, V``) is left alone and never changes how
the other columns are read.  When a numeric column holds decimal commas, the file is a
decimal-comma file and these are errors naming the line: a numeric cell with a point
(``1.234,5``, ``0.5``: thousands or mixed separators), a cell with more than one comma
(``1,234,567``), and a file whose every comma cell reads as a thousands separator as
well (``1,000``, ``-12,500``: comma followed by exactly three digits, no leading zero,
and no cell such as ``0,5`` showing the comma is decimal).  A one-column file of decimal
commas needs a header line (``ecg`` then ``0,5``): without one, ``0,5`` is the two
comma-separated integers 0 and 5.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
NUMPY_SUFFIXES = (".npy",)
WFDB_SUFFIXES = (".hea", ".dat")


class UserError(Exception):
    """Bad input from the user: reported in one line, exit code 2."""


@dataclass(frozen=True)
class InputSpec:
    """A validated input: what to read and how.

    ``kind`` is ``"wfdb"`` (``path`` without extension), ``"csv"`` or
    ``"npy"``; ``channel`` is a column/signal index; ``sampling_rate`` in Hz;
    ``signal_files`` the signal file names a WFDB header lists (beside it).
    """

    path: str
    kind: str
    name: str
    channel: int
    sampling_rate: float
    channel_name: str = ""
    n_samples: int | None = None
    has_header: bool = False
    signal_files: tuple = ()


def check_number(value, option, *, low=None, low_inclusive=True, allow_none=False):
    """Validate a numeric command-line option (finite, above ``low``) or raise :class:`UserError`.

    Parameters
    ----------
    value : float or int or None
        The parsed option value.
    option : str
        The option as typed on the command line, e.g. ``"--snr-db"``.
    low : float, optional
        Lower bound.
    low_inclusive : bool
        Whether ``value == low`` is accepted.
    allow_none : bool
        Whether the option may be absent (``None``).

    Returns
    -------
    float or int or None
        ``value`` unchanged.
    """
    if value is None and allow_none:
        return None
    if value is None or not np.isfinite(value):
        raise UserError(f"{option} must be a finite number, got {value}")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        rel = ">=" if low_inclusive else ">"
        raise UserError(f"{option} must be {rel} {low:g}, got {value:g}")
    return value


def check_alpha_ratio(value):
    """``--alpha-ratio`` (alpha as a fraction of alpha_max) must lie in (0, 1)."""
    if not 0 < value < 1:  # NaN and inf fail too
        raise UserError(f"--alpha-ratio must be in (0, 1), got {value:g}")
    return value


def signal_channels(arr, label, *, has_header=False):
    """Number of channels of a signal array, after checking its shape (raises
    :class:`UserError`): non-empty, 1-D or ``(n_samples, n_channels)``; a headerless 2-D
    array with fewer rows than columns is taken as transposed."""
    if arr.ndim not in (1, 2) or arr.size == 0:
        raise UserError(f"{label}: expected a non-empty 1-D signal or a 2-D "
                        f"(n_samples, n_channels) array, got shape {arr.shape}")
    if arr.ndim == 2 and arr.shape[0] < arr.shape[1] and not has_header:
        raise UserError(f"{label}: shape {arr.shape} has fewer rows than columns; a "
                        "2-D signal must be (n_samples, n_channels) - is it "
                        "transposed? (save arr.T, or a 1-D array for one channel)")
    return 1 if arr.ndim == 1 else arr.shape[1]


def check_output_file(path, option):
    """Check up front that ``path`` can be created: its directory exists and is writable.

    Parameters
    ----------
    path : str or None
        The output file given on the command line (``None``: nothing to check).
    option : str
        The option as typed, e.g. ``"--plot"``.

    Returns
    -------
    str or None
        ``path`` unchanged.
    """
    if path is None:
        return None
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise UserError(f"{option} {path}: is a directory, expected a file name")
    if not parent.is_dir():
        raise UserError(f"{option} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: directory {parent} is not writable")
    return path


def _file_keys(path):
    """Keys under which ``path`` is the same file as another path: its resolved real
    path (symlinks, ``./x`` and ``x``) and, when it exists, its device and inode (hard
    links, case-insensitive file systems)."""
    keys = [os.path.realpath(path)]
    try:
        st = os.stat(path)
        keys.append((st.st_dev, st.st_ino))
    except OSError:  # does not exist (yet)
        pass
    return keys


def check_no_overwrite(outputs, inputs):
    """Refuse, before any work, an output file that would replace an input file.

    Parameters
    ----------
    outputs : iterable of (str, str or Path or None)
        ``(label, path)`` of each file the command writes, the label naming the option
        (``("--out", "e.csv")``, ``("--out DIR: output file", "DIR/rec.csv")``);
        ``None`` paths are skipped.
    inputs : iterable of (str, str or Path)
        ``(what, path)`` of each file the command reads or must keep, e.g.
        ``("signal", "y.csv")``.

    Raises
    ------
    UserError
        Naming both paths when an output resolves to the same file as an input.
    """
    taken = {}
    for what, path in inputs:
        for key in _file_keys(path):
            taken.setdefault(key, (what, path))
    for option, out in outputs:
        if out is None:
            continue
        for key in _file_keys(out):
            if key in taken:
                what, path = taken[key]
                raise UserError(f"{option} {out} would overwrite the {what} {path}; "
                                "choose another output path (nothing was written)")


def record_files(spec, annotation_ext=None):
    """The files of an input that an output must not replace, as ``(what, path)``.

    A CSV or NumPy input is its file.  A WFDB record is its header, the signal files
    its header names, and, with ``annotation_ext``, its annotation file
    ``<record>.<annotation_ext>`` when it exists (it may hold reference annotations).
    """
    if spec.kind != "wfdb":
        return [("input", spec.path)]
    record = Path(spec.path)
    files = [(f"header of record {spec.name}", record.with_name(record.name + ".hea"))]
    files += [(f"signal file of record {spec.name}", record.parent / name)
              for name in spec.signal_files]
    if annotation_ext:
        ann = record.with_name(f"{record.name}.{annotation_ext}")
        if ann.exists():
            files.append((f"annotation file of record {spec.name}", ann))
    return files


def make_output_directory(path, option):
    """Create the output directory ``path`` (with its parents) or raise :class:`UserError`
    naming ``option``: it exists and is not a directory, cannot be created, or is not
    writable.  Returns it as a :class:`pathlib.Path`."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UserError(f"{option} {path} exists and is not a directory")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot create the directory "
                        f"({exc.strerror or exc})") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: directory is not writable")
    return p


def _parse_channel(channel):
    """``--channel`` accepts an index (``0``) or a name (``MLII``, a CSV column)."""
    if channel is None:
        return 0
    text = str(channel).strip()
    try:
        return int(text)
    except ValueError:
        return text


def _select_channel(channel, names, n_channels, what):
    channel = _parse_channel(channel)
    if isinstance(channel, int):
        if not 0 <= channel < n_channels:
            raise UserError(f"{what}: channel {channel} out of range "
                            f"(it has {n_channels} channel(s): 0..{n_channels - 1})")
        return channel
    if channel not in names:
        raise UserError(f"{what}: no channel named {channel!r} (channels: "
                        f"{', '.join(map(str, names)) or 'unnamed'})")
    return list(names).index(channel)


def _check_rate(sampling_rate, what):
    if sampling_rate is None:
        raise UserError(f"{what}: a CSV or NumPy signal needs --sampling-rate (in Hz)")
    if not np.isfinite(sampling_rate) or sampling_rate <= 0:
        raise UserError(f"--sampling-rate must be a positive number of Hz, got {sampling_rate}")
    return float(sampling_rate)


def _is_number(text, decimal_comma=False):
    """Whether a cell is a number (with ``decimal_comma``, ``0,5`` is one too)."""
    if decimal_comma and "," in text:
        if "." in text:  # '1.234,5': a thousands separator, refused
            return False
        text = text.replace(",", ".")
    try:
        float(text)
    except ValueError:
        return False
    return True


def _delimiter(first):
    """Column delimiter of a CSV file from its first row (header or data).

    Tab if the row has one outside double quotes, else semicolon if it has one (a comma
    is then a decimal comma: ``0,5;1,25``), else comma, unless the row is
    whitespace-separated numbers with decimal commas (``0,5 1,25``: splitting it at the
    commas gives a cell that is not a number), else whitespace (``None``).
    """
    bare = re.sub(r'"[^"]*"', '""', first)  # quoted cells may hold any delimiter
    if "\t" in bare:
        return "\t"
    if ";" in bare:
        return ";"
    if "," in bare:
        words = first.split()
        if (len(words) > 1 and all(_is_number(w, decimal_comma=True) for w in words)
                and not all(_is_number(c.strip().strip('"')) for c in first.split(","))):
            return None
        return ","
    return None


def _split_row(row, delim):
    """Cells of one row as pandas splits it (double quotes respected)."""
    if delim is None:
        return next(csv.reader([row.strip()], delimiter=" ", skipinitialspace=True))
    return [c.strip() for c in next(csv.reader([row], delimiter=delim))]


def _csv_layout(path, what=None):
    """Layout of a CSV file, checked line by line (raises :class:`UserError`).

    Blank lines and ``#`` comment lines are allowed only before the header (or the
    first data row when there is no header), and also at the very end of
    the file: none of these moves a sample.  A blank or ``#`` line between two rows
    would silently shift every later sample index, so it is an error naming the
    file and its 1-based line number.

    Parameters
    ----------
    path : str or Path
        The CSV/TXT/TSV file.
    what : str, optional
        Prefix of error messages (``"signal"``, ``"kernel"``).

    Returns
    -------
    delim : str or None
        Column delimiter (tab, comma, semicolon), ``None`` for whitespace.
    header : list of str or None
        Column names when the first row is not numeric.
    n_columns : int
        Number of cells of the first row.
    skip : int
        Number of leading (blank or comment) lines before the header/first row.
    """
    label = f"{what} {path}" if what else str(path)
    first, skip, blank = "", 0, None
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            text = line.strip()
            if not first:
                if not text or text.startswith("#"):
                    skip += 1
                    continue
                first = text
            elif not text or text.startswith("#"):
                # fine if only blank or comment lines follow (e.g. np.savetxt's footer)
                if blank is None:
                    blank = (number, "a '#' comment" if text else "blank")
            elif blank is not None:
                raise UserError(f"{label}: line {blank[0]} is {blank[1]}, inside the data "
                                "(blank and '#' comment lines are allowed only before the "
                                "header / first row and at the end of the file; inside the "
                                "data they would shift the sample indices)")
    if not first:
        raise UserError(f"{label}: empty file, no samples")
    delim = _delimiter(first)
    cells = _split_row(first, delim)
    header = None if all(_is_number(c, decimal_comma=delim != ",") for c in cells) else cells
    return delim, header, len(cells), skip


# decimal-comma files: a cell that may be a number, a number with one decimal comma,
# and a comma cell that reads as a thousands separator as well (1,000 or 12,500)
_NUMBER_LIKE = r"\s*[+-]?[\d.,]*\d[\d.,]*(?:[eE][+-]?\d+)?\s*"
_DECIMAL_COMMA = r"\s*[+-]?(?:\d+,\d*|,\d+)(?:[eE][+-]?\d+)?\s*"
_INT_OR_DECIMAL_COMMA = r"\s*[+-]?(?:\d+,?\d*|,\d+)(?:[eE][+-]?\d+)?\s*"
_THOUSANDS = re.compile(r"\s*[+-]?[1-9]\d{0,2}(?:,\d{3})+\s*")


def _read_csv(path, delim, has_header, skip):
    """The table of a CSV file checked by :func:`_csv_layout` (cells as read by pandas).

    When the delimiter is not a comma (semicolon, tab, whitespace), a comma inside a
    numeric cell is a decimal comma (``0,5;1,25`` is 0.5 and 1.25), decided per column:
    a column is numeric when each of its non-empty cells is a number or digits with
    commas/points; text columns are left as read.  When a numeric column holds commas,
    the file is read as text and converted (correctly rounded), and an ambiguous cell
    is an error naming its line (the callers add the file): a point in a numeric cell
    (``1.234,5``, ``0.5``), more than one comma, or only thousands-like comma cells
    (``1,000``).  Non-numeric cells are left for the caller to report (NaN after
    conversion).
    """
    import pandas as pd

    kwargs = dict(sep=delim if delim else r"\s+", comment="#", skiprows=skip,
                  header=0 if has_header else None, engine="python" if delim is None else "c")
    df = pd.read_csv(path, **kwargs)
    if delim == ",":
        return df

    def commas(col):
        return col.astype(str).str.contains(",", regex=False) & col.notna()

    if not any(commas(df[c]).any() for c in df.columns if df[c].dtype == object):
        return df
    text = pd.read_csv(path, dtype=str, **kwargs)
    cols = [text[c] for c in text.columns]
    n_rows, n_cols = text.shape
    numeric = np.zeros(n_cols, dtype=bool)
    has_comma = np.zeros((n_rows, n_cols), dtype=bool)
    has_point = np.zeros((n_rows, n_cols), dtype=bool)  # in numeric columns
    bad_comma = np.zeros((n_rows, n_cols), dtype=bool)  # more than one comma, ...
    for k, cells in enumerate(cols):
        has_comma[:, k] = cells.str.contains(",", regex=False, na=False).to_numpy(bool)
        # the usual cells (integers, decimal commas) in one pass, the rest classified
        usual = cells.str.fullmatch(_INT_OR_DECIMAL_COMMA, na=True).to_numpy(bool)
        rest = cells[~usual]
        numeric[k] = bool((rest.str.fullmatch(_NUMBER_LIKE)
                           | pd.to_numeric(rest, errors="coerce").notna()).all())
        if numeric[k] and rest.size:
            has_point[~usual, k] = rest.str.contains(".", regex=False).to_numpy(bool)
            bad_comma[~usual, k] = has_comma[~usual, k] & ~has_point[~usual, k]
    dec_cols = np.flatnonzero(numeric & has_comma.any(axis=0))
    if not dec_cols.size:  # the commas are in text columns: nothing to convert
        return df

    def fail(mask, why):
        row, col = np.argwhere(mask)[0]
        raise ValueError(f"the cell {text.iloc[row, col]!r} at data row {row + 1} (line "
                         f"{skip + int(has_header) + row + 1}), column {col} {why}")

    row, col = np.argwhere(has_comma[:, dec_cols])[0]
    example = text.iloc[row, dec_cols[col]]
    if has_point.any():
        fail(has_point, f"holds a point but decimal commas are used (cell {example!r}): use "
             "one decimal separator and no thousands separator")
    if bad_comma.any():
        fail(bad_comma, "is not a number with one decimal comma (thousands separators are "
             "not read)")
    if all(_THOUSANDS.fullmatch(v) for k in dec_cols for v in cols[k][has_comma[:, k]]):
        fail(has_comma & numeric, "is ambiguous: a decimal comma or a thousands separator? "
             "(no comma cell such as 0,5 shows the commas are decimal); write points as "
             "decimal separators, or a .npy file")
    out = {}
    for k, (name, cells) in enumerate(zip(text.columns, cols)):
        # numeric columns: every comma is decimal; text columns: only cells that are
        # decimal-comma numbers (so that a missing value is reported at its own line)
        conv = cells.str.replace(",", ".", regex=False)
        if not numeric[k]:
            conv = cells.where(~cells.str.fullmatch(_DECIMAL_COMMA, na=False), conv)
        out[name] = _to_float(conv)
    return pd.DataFrame(out, index=text.index)


def _to_float(cells):
    """Text cells as float64, correctly rounded (Python's float); NaN where not a number."""
    import pandas as pd

    values = cells.to_numpy(dtype=object)
    try:
        out = np.asarray(values, dtype=str).astype(np.float64)
        out[pd.isna(cells).to_numpy()] = np.nan
    except ValueError:
        out = np.full(values.size, np.nan)
        for k, v in enumerate(values):
            try:
                out[k] = float(v)
            except (TypeError, ValueError):
                pass
    return pd.Series(out, index=cells.index)


def resolve_input(path, *, channel=0, sampling_rate=None, wfdb_only=False) -> InputSpec:
    """Check one input path and return how to read it (raises :class:`UserError`).

    ``wfdb_only``: the command reads only WFDB records (``evaluate``), so a missing
    header is not answered with the suggestion of a CSV/NumPy file.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in CSV_SUFFIXES or suffix in NUMPY_SUFFIXES:
        if not p.is_file():
            raise UserError(f"{path}: file not found")
        fs = _check_rate(sampling_rate, str(path))
        if suffix in NUMPY_SUFFIXES:
            try:
                arr = np.load(p, mmap_mode="r", allow_pickle=False)
            except Exception as exc:
                raise UserError(f"{path}: not a readable .npy file ({exc})") from None
            n_ch = signal_channels(arr, str(path))
            ch = _select_channel(channel, [], n_ch, str(path))
            return InputSpec(str(p), "npy", p.stem, ch, fs, n_samples=int(arr.shape[0]))
        _, header, n_ch, _ = _csv_layout(p)
        ch = _select_channel(channel, header or [], n_ch, str(path))
        return InputSpec(str(p), "csv", p.stem, ch, fs,
                         channel_name=header[ch] if header else "", has_header=header is not None)
    # WFDB record: the path without extension, as wfdb names it
    record = p.with_suffix("") if suffix in WFDB_SUFFIXES else p
    header_file = record.with_name(record.name + ".hea")
    if not header_file.is_file():
        other = ("; this command needs WFDB records" if wfdb_only
                 else ", or a .csv/.npy file with --sampling-rate")
        raise UserError(f"{path}: no WFDB header {header_file} (give the record path without "
                        f"extension{other})")
    import wfdb

    try:
        hdr = wfdb.rdheader(str(record))
        n_sig = int(hdr.n_sig or 0)
        fs = float(hdr.fs)
        names = list(hdr.sig_name or [])
        length = None if hdr.sig_len is None else int(hdr.sig_len)
        files = tuple(dict.fromkeys(hdr.file_name or []))
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path}: unreadable WFDB header ({msg})") from None
    if n_sig == 0 or not np.isfinite(fs) or fs <= 0:
        raise UserError(f"{path}: WFDB header lists no signals or no sampling rate")
    if sampling_rate is not None and not np.isclose(float(sampling_rate), fs):
        raise UserError(f"{path}: the record is sampled at {fs:g} Hz but --sampling-rate "
                        f"{sampling_rate:g} was given (nothing is resampled)")
    ch = _select_channel(channel, names, n_sig, str(path))
    return InputSpec(str(record), "wfdb", record.name, ch, fs,
                     channel_name=names[ch] if ch < len(names) else "", n_samples=length,
                     signal_files=files)


def expand_directories(paths):
    """Replace a directory by the WFDB records (``*.hea``) it holds, sorted by name."""
    out = []
    for p in paths:
        if Path(p).is_dir():
            records = sorted(Path(p).glob("*.hea"))
            if not records:
                raise UserError(f"{p}: directory without WFDB records (no .hea file)")
            out.extend(str(r.with_suffix("")) for r in records)
        else:
            out.append(p)
    return out


def resolve_inputs(paths, *, channel=0, sampling_rate=None, wfdb_only=False):
    """Resolve every path (directories: all their WFDB records); output names must be
    unique.  ``wfdb_only``: see :func:`resolve_input`."""
    specs = [resolve_input(p, channel=channel, sampling_rate=sampling_rate,
                           wfdb_only=wfdb_only)
             for p in expand_directories(paths)]
    seen = {}
    for s in specs:
        if s.name in seen:
            raise UserError(f"{s.path} and {seen[s.name]} have the same name {s.name!r}: "
                            "their outputs would overwrite each other")
        seen[s.name] = s.path
    return specs


def read_signal(spec: InputSpec) -> np.ndarray:
    """Read the selected channel of an input as float64 (no resampling, nothing dropped)."""
    if spec.kind == "npy":
        arr = np.load(spec.path, allow_pickle=False)
        x = arr if arr.ndim == 1 else arr[:, spec.channel]
    elif spec.kind == "csv":
        import pandas as pd

        delim, _, _, skip = _csv_layout(spec.path)
        try:
            df = _read_csv(spec.path, delim, spec.has_header, skip)
        except Exception as exc:
            raise ValueError(f"{spec.path}: unreadable CSV ({exc})") from None
        col = df.iloc[:, spec.channel]
        x = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(x))
        if bad.size:
            line = skip + int(spec.has_header) + bad[0] + 1
            raise ValueError(f"{spec.path}: column {spec.channel} has {bad.size} non-numeric "
                             f"or missing value(s), the first at data row {bad[0] + 1} "
                             f"(line {line})")
    else:
        from ..ecg import read_wfdb_record

        return read_wfdb_record(spec.path, channel=spec.channel, annotator=None).signal
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        raise ValueError(f"{spec.path}: no samples")
    return x


def read_array_file(path, what):
    """A kernel or signal file given to ``deconvolve``: CSV (columns) or .npy.

    CSV files follow the rules of :func:`_csv_layout` (blank and ``#`` lines only
    before the header/first row, and at the end).  Returns the array
    (CSV: ``(n_rows, n_columns)``) and the CSV header (``None`` for .npy or no header).
    """
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{what} {path}: file not found")
    if p.suffix.lower() in NUMPY_SUFFIXES:
        try:
            return np.asarray(np.load(p, allow_pickle=False), dtype=np.float64), None
        except Exception as exc:
            raise UserError(f"{what} {path}: not a readable .npy file ({exc})") from None
    if p.suffix.lower() not in CSV_SUFFIXES:
        raise UserError(f"{what} {path}: expected a .csv, .txt, .tsv or .npy file")
    import pandas as pd

    delim, header, _, skip = _csv_layout(p, what)
    try:
        df = _read_csv(p, delim, header is not None, skip)
        arr = df.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    except Exception as exc:
        raise UserError(f"{what} {path}: unreadable CSV ({exc})") from None
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        line = skip + int(header is not None) + bad[0][0] + 1
        raise UserError(f"{what} {path}: {len(bad)} non-numeric or missing value(s), the "
                        f"first at data row {bad[0][0] + 1} (line {line}), column {bad[0][1]}")
    return arr, header
