"""Input parsing and preprocessing for the six-lead reconstruction.

One concept: turn recordings (a single input lead and, for training, the
reference limb leads I and II) into the windows and targets a regressor sees,
and turn the regressor's output back into signals at the input rate.

Steps, all documented in :class:`~sparse_events.ecg.SixLeadReconstructor`:

1. Butterworth band-pass at the input rate (zero phase for centred windows,
   causal for causal windows), identical for the source and the reference leads;
2. polyphase resampling (``scipy.signal.resample_poly``) to the working rate;
3. windows of the source, one per target sample: centred on it or ending at it.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np
import pandas as pd
import scipy.signal as sps

from .._validation import as_float_array
from ._zero_phase import odd_extension_length

__all__ = [
    "FrontEnd",
    "as_lead_pairs",
    "as_recordings",
    "lead_column",
    "window_offsets",
]

# largest numerator/denominator accepted for the resampling ratio
_MAX_RATIO_TERM = 1000
# window of scipy.signal.resample_poly's default low-pass FIR (reproduced exactly below)
_RESAMPLING_WINDOW = ("kaiser", 5.0)


@lru_cache(maxsize=32)
def _butterworth_design(order: int, edges, btype: str, sampling_rate: float) -> np.ndarray:
    sos = sps.butter(order, edges, btype=btype, fs=sampling_rate, output="sos")
    sos.setflags(write=False)
    return sos


def _butterworth_sos(order: int, edges, btype: str, sampling_rate: float) -> np.ndarray:
    """Butterworth second-order sections (a fresh copy of a cached design).

    Every fit and predict of a reconstructor builds a front end; designing the
    filter (``scipy.signal.butter``) costs more than filtering a 10 s, 500 Hz
    record, so designs are shared between calls with the same arguments.
    """
    return _butterworth_design(order, edges, btype, sampling_rate).copy()


@lru_cache(maxsize=32)
def _resampling_fir(up: int, down: int) -> np.ndarray:
    """The low-pass FIR ``scipy.signal.resample_poly`` designs for ``up / down``, cached.

    Same design as scipy's default (``firwin`` of ``20 max(up, down) + 1`` taps,
    cutoff ``1 / max(up, down)``, Kaiser window with beta 5) for a reduced
    fraction ``up / down``; passing it as ``window`` gives bit-identical output
    without redesigning the filter at every call.
    """
    max_rate = max(up, down)
    fir = sps.firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=_RESAMPLING_WINDOW)
    fir.setflags(write=False)
    return fir


def _is_sequence_of_arrays(x) -> bool:
    """Whether ``x`` is a list/tuple of array-likes (several recordings)."""
    if not isinstance(x, (list, tuple)) or len(x) == 0:
        return False
    return all(np.ndim(item) >= 1 or isinstance(item, (dict, pd.DataFrame)) for item in x)


def as_recordings(source, name: str = "source") -> tuple[list[np.ndarray], bool, list]:
    """Split ``source`` into a list of 1-D float64 recordings.

    Returns ``(recordings, several, indexes)``: ``several`` tells whether a list
    of recordings was given, ``indexes`` holds the pandas index of each
    recording given as a ``Series`` (else ``None``).
    """
    several = _is_sequence_of_arrays(source)
    items = list(source) if several else [source]
    if several and isinstance(source, (list, tuple)) and len(items) == 0:
        raise ValueError(f"{name} must not be an empty list of recordings")
    out, indexes = [], []
    for k, item in enumerate(items):
        label = f"{name}[{k}]" if several else name
        if isinstance(item, pd.DataFrame):
            raise TypeError(
                f"{label} must be one lead (a 1-D array or Series), got a DataFrame with "
                f"columns {list(item.columns)}; select the input lead first")
        indexes.append(item.index if isinstance(item, pd.Series) else None)
        arr = np.asarray(item) if isinstance(item, pd.Series) else item
        arr = as_float_array(arr, label, dtype=np.float64, allow_bool=False)
        if arr.ndim != 1:
            raise ValueError(
                f"{label} must be a 1-D array (one lead, samples along the axis), got shape "
                f"{arr.shape}; pass several recordings as a list of 1-D arrays")
        out.append(arr)
    return out, several, indexes


def lead_column(columns, lead: str, name: str):
    """Find the column holding ``lead``: exact name first, then case-insensitive.

    LUDB and PTB name their leads ``"i"``, ``"ii"``, ``"avr"``; CinC uses
    ``"I"``, ``"II"``, ``"aVR"``.  Returns the matching key, or ``None`` when the
    lead is absent; two case-insensitive matches raise.
    """
    columns = list(columns)
    if lead in columns:
        return lead
    matches = [c for c in columns if isinstance(c, str) and c.lower() == lead.lower()]
    if len(matches) > 1:
        raise ValueError(f"{name} has several columns matching lead {lead!r}: {matches}")
    return matches[0] if matches else None


def _pair_from_mapping(item, label: str) -> np.ndarray:
    keys = list(item.columns) if isinstance(item, pd.DataFrame) else list(item.keys())
    cols = []
    for lead in ("I", "II"):
        key = lead_column(keys, lead, label)
        if key is None:
            raise ValueError(
                f"{label} is missing lead {lead!r}: it needs the reference leads 'I' and 'II' "
                f"(case-insensitive), got {keys}")
        arr = as_float_array(np.asarray(item[key]), f"{label}[{key!r}]", dtype=np.float64)
        if arr.ndim != 1:
            raise ValueError(f"{label}[{key!r}] must be 1-D, got shape {arr.shape}")
        cols.append(arr)
    if cols[0].size != cols[1].size:
        raise ValueError(
            f"{label}: leads I and II have different lengths ({cols[0].size} and "
            f"{cols[1].size} samples)")
    return np.column_stack(cols)


def _pair_from_item(item, label: str) -> np.ndarray:
    if isinstance(item, (pd.DataFrame, dict)):
        return _pair_from_mapping(item, label)
    arr = as_float_array(item, label, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(
            f"{label} must be a DataFrame or dict with leads 'I' and 'II', or an array of shape "
            f"(n_samples, 2) holding I and II in its columns; got an array of shape {arr.shape}")
    return arr


def as_lead_pairs(leads, n_recordings: int, several: bool,
                  name: str = "leads") -> list[np.ndarray]:
    """Reference leads I and II of each recording as ``(n_samples, 2)`` arrays."""
    if several:
        if not isinstance(leads, (list, tuple)):
            raise TypeError(
                f"source is a list of {n_recordings} recordings, so {name} must be a list of "
                f"as many DataFrames/dicts/arrays; got {type(leads).__name__}")
        if len(leads) != n_recordings:
            raise ValueError(
                f"source has {n_recordings} recordings but {name} has {len(leads)}; give one "
                "set of reference leads per recording")
        return [_pair_from_item(item, f"{name}[{k}]") for k, item in enumerate(leads)]
    if isinstance(leads, (list, tuple)) and _is_sequence_of_arrays(leads) and any(
            isinstance(item, (dict, pd.DataFrame)) or np.ndim(item) == 2 for item in leads):
        raise ValueError(
            f"{name} is a list of {len(leads)} recordings but source is a single recording; "
            "pass source as a list too")
    return [_pair_from_item(leads, name)]


def window_offsets(window_samples: int, alignment: str) -> tuple[int, int]:
    """Samples before and after the target sample covered by its window."""
    if alignment == "causal":
        return window_samples - 1, 0
    before = (window_samples - 1) // 2
    return before, window_samples - 1 - before


def _resampling_ratio(sampling_rate: float, working_rate: float) -> tuple[int, int]:
    ratio = Fraction(working_rate / sampling_rate).limit_denominator(_MAX_RATIO_TERM)
    if ratio.numerator > _MAX_RATIO_TERM or ratio.numerator == 0 or abs(
            float(ratio) * sampling_rate - working_rate) > 1e-6 * working_rate:
        raise ValueError(
            f"cannot resample from sampling_rate={sampling_rate} Hz to working_rate="
            f"{working_rate} Hz with a rational factor up/down, up and down <= {_MAX_RATIO_TERM}; "
            "choose a working_rate that is a simple fraction of the sampling rate, or "
            "working_rate=None to work at the input rate")
    return ratio.numerator, ratio.denominator


class FrontEnd:
    """Band-pass, resampling and windowing for one input sampling rate.

    Parameters
    ----------
    sampling_rate : float
        Input rate (Hz).
    working_rate : float or None
        Rate the model works at (None: the input rate).
    band : tuple of (float or None, float or None) or None
        Pass band in Hz (None: no filtering; a None edge disables that side).
    filter_order : int
        Butterworth order (doubled by zero-phase filtering).
    alignment : {"centred", "causal"}
        Window alignment; causal windows use a causal (forward-only) filter.
    window_samples : int
        Window length in samples at the working rate.
    """

    def __init__(self, sampling_rate, working_rate, band, filter_order, alignment,
                 window_samples):
        self.sampling_rate = float(sampling_rate)
        self.working_rate = float(sampling_rate if working_rate is None else working_rate)
        if self.working_rate == self.sampling_rate:
            self.up, self.down = 1, 1
        else:
            self.up, self.down = _resampling_ratio(self.sampling_rate, self.working_rate)
        self.alignment = alignment
        self.window_samples = int(window_samples)
        self.filter_order = int(filter_order)
        self.sos = self._design(band, filter_order)

    def _design(self, band, order):
        if band is None:
            return None
        low, high = band
        nyquist = 0.5 * min(self.sampling_rate, self.working_rate)
        if high is not None and high >= nyquist:
            raise ValueError(
                f"band upper edge {high} Hz must be below the Nyquist frequency {nyquist} Hz "
                f"(sampling_rate={self.sampling_rate} Hz, working_rate={self.working_rate} Hz)")
        if low is not None and high is not None:
            return _butterworth_sos(order, (low, high), "bandpass", self.sampling_rate)
        if low is not None:
            return _butterworth_sos(order, low, "highpass", self.sampling_rate)
        if high is not None:
            return _butterworth_sos(order, high, "lowpass", self.sampling_rate)
        return None

    def min_window_samples(self) -> int:
        """Shortest input (samples at the input rate) that holds one full window."""
        return int(np.ceil(self.window_samples * self.sampling_rate / self.working_rate))

    def min_filter_samples(self) -> int:
        """Shortest input the band-pass accepts: zero-phase filtering pads each end with
        ``odd_extension_length(sos)`` reflected samples and needs more samples than
        that (``scipy.signal.sosfiltfilt``); the causal filter has no such limit."""
        if self.sos is None or self.alignment == "causal":
            return 1
        return odd_extension_length(self.sos) + 1

    def min_input_samples(self) -> int:
        """Shortest input (samples at the input rate): one full window, and long
        enough for the zero-phase band-pass."""
        return max(self.min_window_samples(), self.min_filter_samples())

    def check_length(self, n_samples: int, label: str) -> None:
        """``ValueError`` naming ``label`` if the input is shorter than :meth:`min_input_samples`."""
        have = (f"{n_samples} samples ({n_samples / self.sampling_rate:.4g} s at "
                f"{self.sampling_rate:g} Hz)")
        need = self.min_window_samples()
        if n_samples < need:
            raise ValueError(
                f"{label} is shorter than one window: {have}, but the window needs {need} "
                f"samples ({self.window_samples / self.working_rate:.4g} s)")
        self.check_filter_length(n_samples, label)

    def check_filter_length(self, n_samples: int, label: str) -> None:
        """``ValueError`` naming ``label`` when the input is too short for :meth:`filter`."""
        need = self.min_filter_samples()
        if n_samples < need:
            raise ValueError(
                f"{label} is too short for the zero-phase band-pass (filter_order="
                f"{self.filter_order}): {n_samples} samples ({n_samples / self.sampling_rate:.4g}"
                f" s at {self.sampling_rate:g} Hz), but filtering needs at least {need} samples "
                f"({need / self.sampling_rate:.4g} s; more than its padding of {need - 1}); "
                "pass a longer recording, a lower filter_order, band=None or window='causal'")

    def filter(self, x: np.ndarray) -> np.ndarray:
        """Band-pass along the first axis (zero phase, or causal for causal windows)."""
        if self.sos is None:
            return x
        if self.alignment == "causal":
            # start from the filter's steady state for the first sample (no step transient)
            zi = sps.sosfilt_zi(self.sos)
            zi = zi[:, :, None] * x[:1] if x.ndim == 2 else zi * x[0]
            return sps.sosfilt(self.sos, x, axis=0, zi=zi)[0]
        return sps.sosfiltfilt(self.sos, x, axis=0)

    def to_working(self, x: np.ndarray) -> np.ndarray:
        """Filter at the input rate, then resample to the working rate (first axis).

        Columns of a 2-D ``x`` are processed independently (the same output as
        one call per column).
        """
        y = self.filter(x)
        if self.up == self.down == 1:
            return np.ascontiguousarray(y)
        return sps.resample_poly(y, self.up, self.down, axis=0,
                                 window=_resampling_fir(self.up, self.down))

    def to_input_rate(self, y: np.ndarray, n_samples: int) -> np.ndarray:
        """Resample working-rate samples back to ``n_samples`` at the input rate.

        Polyphase resampling of ``m = ceil(n up / down)`` samples gives
        ``ceil(m down / up) >= n`` samples; the extra sample (at most a fraction
        of an input period beyond the end) is cut.
        """
        if self.up == self.down == 1:
            return y
        back = sps.resample_poly(y, self.down, self.up, axis=0,
                                 window=_resampling_fir(self.down, self.up))
        return back[:n_samples]

    def padded_windows(self, x: np.ndarray) -> np.ndarray:
        """One window per sample of ``x`` (zero-padded at the edges), a strided view."""
        before, after = window_offsets(self.window_samples, self.alignment)
        padded = np.pad(x, (before, after))
        return np.lib.stride_tricks.sliding_window_view(padded, self.window_samples)

    def valid_targets(self, n_samples: int, step: int) -> np.ndarray:
        """Indices of the samples whose window lies fully inside the recording."""
        before, after = window_offsets(self.window_samples, self.alignment)
        return np.arange(before, n_samples - after, step)
